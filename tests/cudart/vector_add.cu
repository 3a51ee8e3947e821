// SPDX-License-Identifier: MIT
/*
 * vector_add: the first program anyone runs. c = a + b over n floats (not a
 * multiple of the block), launched with <<<>>> and again with
 * cudaLaunchKernel, copies with cudaMemcpy; one thread printf()s from the
 * device (its line must appear on stdout before the host's next line).
 * Checks every element exactly (a float add rounds the same on both sides)
 * and prints a checksum of the result. Bench mode: 2^24 elements, 40
 * launches. tests/cudart/check.h says what it prints.
 */
#include "check.h"

__global__ void vadd(const float *a, const float *b, float *c, int n, int say)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		c[i] = a[i] + b[i];
	if (say && i == 0)
		printf("vector_add: device printf, n=%d, c[0]=%.6f\n", n, c[0]);
}

int main(int argc, char **argv)
{
	struct test_opts o;
	struct rng r;
	int n, reps, block = 256, bad = 0;
	float *a, *b, *c, *da, *db, *dc;
	cudaEvent_t t0, t1;

	test_init(argc, argv, "vector_add", &o);
	r.s = o.seed;
	n = o.bench ? 1 << 24 : 1000003;
	reps = o.bench ? 40 : 1;
	size_t bytes = (size_t)n * sizeof(float);

	a = (float *)malloc(bytes);
	b = (float *)malloc(bytes);
	c = (float *)malloc(bytes);
	if (!a || !b || !c) {
		fail("malloc of %zu bytes", bytes);
		return finish();
	}
	for (int i = 0; i < n; i++) {
		a[i] = rng_float(&r);
		b[i] = rng_float(&r);
	}
	CHECK(cudaMalloc(&da, bytes));
	CHECK(cudaMalloc(&db, bytes));
	CHECK(cudaMalloc(&dc, bytes));
	CHECK(cudaEventCreate(&t0));
	CHECK(cudaEventCreate(&t1));
	CHECK(cudaMemcpy(da, a, bytes, cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(db, b, bytes, cudaMemcpyHostToDevice));
	CHECK(cudaMemset(dc, 0xff, bytes));

	int grid = (n + block - 1) / block;

	CHECK(cudaEventRecord(t0));
	for (int k = 0; k < reps; k++) {
		vadd<<<grid, block>>>(da, db, dc, n, k == 0);
		CHECK_LAUNCH();
	}
	CHECK(cudaEventRecord(t1));
	CHECK(cudaDeviceSynchronize());
	printf("vector_add: host after the first launch\n");
	CHECK(cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost));
	for (int i = 0; i < n; i++)
		bad += c[i] != a[i] + b[i];
	if (bad)
		fail("<<<%d, %d>>> n=%d: %d elements differ", grid, block, n, bad);
	else
		pass("<<<>>> n=%d: every element exact, checksum %08x", n, fnv1a(c, bytes));
	double ms = elapsed_ms(t0, t1);

	/* The same through the API call, into a cleared buffer, block 128. */
	CHECK(cudaMemset(dc, 0, bytes));
	int quiet = 0;
	void *args[] = { &da, &db, &dc, &n, &quiet };

	bad = 0;
	CHECK(cudaLaunchKernel((const void *)vadd, dim3((n + 127) / 128), dim3(128), args, 0,
			       nullptr));
	CHECK(cudaMemcpy(c, dc, bytes, cudaMemcpyDeviceToHost));
	for (int i = 0; i < n; i++)
		bad += c[i] != a[i] + b[i];
	if (bad)
		fail("cudaLaunchKernel n=%d: %d elements differ", n, bad);
	else
		pass("cudaLaunchKernel n=%d: every element exact, checksum %08x", n,
		     fnv1a(c, bytes));

	CHECK(cudaEventDestroy(t0));
	CHECK(cudaEventDestroy(t1));
	CHECK(cudaFree(da));
	CHECK(cudaFree(db));
	CHECK(cudaFree(dc));
	free(a);
	free(b);
	free(c);
	time_line(&o, ms);
	return finish();
}
