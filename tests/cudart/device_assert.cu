// SPDX-License-Identifier: MIT
/*
 * device_assert: a kernel's assert() that fails, and what CUDA then
 * promises. First every element passes the assert (no error); then
 * exactly one thread's fails: its message is printed by the runtime
 * (block and thread fixed by the input, so the text is deterministic), the
 * next synchronisation returns cudaErrorAssert, and the error is sticky:
 * cudaGetLastError, a later cudaMalloc and cudaMemcpy all return it, with
 * CUDA's name and string. The program succeeds when the assert was
 * reported so; every PASS line names the call and the error it got.
 * tests/cudart/check.h says what it prints.
 */
#include <cassert>

#include "check.h"

__global__ void forbid(const int *v, int n, int forbidden)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		assert(v[i] != forbidden);
}

int main(int argc, char **argv)
{
	struct test_opts o;
	struct rng r;
	int n = 100000, *v, *dv, *dummy = NULL;

	test_init(argc, argv, "device_assert", &o);
	r.s = o.seed;
	v = (int *)malloc(n * sizeof(int));
	if (!v)
		return finish();
	for (int i = 0; i < n; i++)
		v[i] = (int)rng_below(&r, 1000000);
	v[n / 2 + 17] = -1;	/* the one forbidden value */
	CHECK(cudaMalloc(&dv, n * sizeof(int)));
	CHECK(cudaMemcpy(dv, v, n * sizeof(int), cudaMemcpyHostToDevice));

	forbid<<<(n + 255) / 256, 256>>>(dv, n, -2);
	CHECK_LAUNCH();
	CHECK(cudaDeviceSynchronize());
	pass("assert(v[i] != -2) held in %d threads", n);

	printf("device_assert: now one thread's assert fails (block %d, thread %d)\n",
	       (n / 2 + 17) / 256, (n / 2 + 17) % 256);
	forbid<<<(n + 255) / 256, 256>>>(dv, n, -1);
	/* the launch itself is fine; the kernel may or may not have failed yet */
	cudaError_t err = cudaGetLastError();

	if (err != cudaSuccess && err != cudaErrorAssert)
		fail("launch: %s", cudaGetErrorName(err));
	EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorAssert);
	EXPECT_ERR(cudaGetLastError(), cudaErrorAssert);
	printf("device_assert: cudaGetErrorString(cudaErrorAssert) = \"%s\"\n",
	       cudaGetErrorString(cudaErrorAssert));
	/* sticky: the context is unusable for the rest of the process */
	EXPECT_ERR(cudaMalloc(&dummy, 64), cudaErrorAssert);
	EXPECT_ERR(cudaMemcpy(v, dv, sizeof(int), cudaMemcpyDeviceToHost), cudaErrorAssert);
	EXPECT_ERR(cudaPeekAtLastError(), cudaErrorAssert);
	EXPECT_ERR(cudaGetLastError(), cudaErrorAssert);
	EXPECT_ERR(cudaDeviceSynchronize(), cudaErrorAssert);
	free(v);
	return finish();
}
