// SPDX-License-Identifier: MIT
/*
 * coop: a cooperative launch (cudaLaunchCooperativeKernel) whose blocks
 * wait for each other with cooperative_groups' grid.sync(). Each step
 * every thread reads the neighbours that other blocks wrote in the step
 * before (a 1-D stencil over integers, with wrap-around): without a real
 * grid-wide barrier the result differs. The grid is as large as the
 * occupancy calculator says can be resident (results do not depend on
 * it: grid-stride loops); one block more per SM than that must be refused
 * with cudaErrorCooperativeLaunchTooLarge, which is not sticky. Bench
 * mode: 2^18 elements, 4000 steps. tests/cudart/check.h says what it
 * prints.
 */
#include <cooperative_groups.h>

#include "check.h"

namespace cg = cooperative_groups;

/* Each step: b[i] = a[i-1] + 2 a[i] + a[i+1] (mod 2^32), then swap. */
__global__ void stencil(unsigned int *a, unsigned int *b, int n, int steps)
{
	cg::grid_group grid = cg::this_grid();

	for (int s = 0; s < steps; s++) {
		for (int i = grid.thread_rank(); i < n; i += grid.size()) {
			unsigned int l = a[i == 0 ? n - 1 : i - 1], r = a[i == n - 1 ? 0 : i + 1];

			b[i] = l + 2 * a[i] + r + (unsigned int)s;
		}
		grid.sync();
		unsigned int *t = a;

		a = b;
		b = t;
	}
}

int main(int argc, char **argv)
{
	struct test_opts o;
	struct rng r;
	cudaDeviceProp prop;
	cudaEvent_t t0, t1;
	int n, steps, attr = 0, per_sm = 0, block = 256, dev;

	test_init(argc, argv, "coop", &o);
	r.s = o.seed;
	n = o.bench ? 1 << 18 : 100003;
	steps = o.bench ? 4000 : 50;
	CHECK(cudaGetDevice(&dev));
	CHECK(cudaDeviceGetAttribute(&attr, cudaDevAttrCooperativeLaunch, dev));
	expect(attr == 1, "cudaDevAttrCooperativeLaunch is 1");
	CHECK(cudaGetDeviceProperties(&prop, dev));
	CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, stencil, block, 0));
	expect(per_sm >= 1, "stencil: at least one block per SM may be resident");

	unsigned int *a = (unsigned int *)malloc(n * sizeof(unsigned int));
	unsigned int *b = (unsigned int *)malloc(n * sizeof(unsigned int));
	unsigned int *da, *db;

	if (!a || !b)
		return finish();
	for (int i = 0; i < n; i++)
		a[i] = (unsigned int)rng_next(&r);
	CHECK(cudaMalloc(&da, n * sizeof(unsigned int)));
	CHECK(cudaMalloc(&db, n * sizeof(unsigned int)));
	CHECK(cudaMemcpy(da, a, n * sizeof(unsigned int), cudaMemcpyHostToDevice));
	CHECK(cudaEventCreate(&t0));
	CHECK(cudaEventCreate(&t1));

	/* too large first: refused, and the next launch is not affected */
	dim3 too_many(prop.multiProcessorCount * (per_sm + 1)), grid(prop.multiProcessorCount * per_sm);
	void *args[] = { &da, &db, &n, &steps };

	EXPECT_ERR(cudaLaunchCooperativeKernel((const void *)stencil, too_many, dim3(block), args, 0,
					       nullptr), cudaErrorCooperativeLaunchTooLarge);
	EXPECT_ERR(cudaGetLastError(), cudaErrorCooperativeLaunchTooLarge);
	EXPECT_ERR(cudaGetLastError(), cudaSuccess);

	CHECK(cudaEventRecord(t0));
	CHECK(cudaLaunchCooperativeKernel((const void *)stencil, grid, dim3(block), args, 0, nullptr));
	CHECK(cudaEventRecord(t1));
	CHECK(cudaDeviceSynchronize());
	float ms = elapsed_ms(t0, t1);

	/* the host's steps */
	for (int s = 0; s < steps; s++) {
		for (int i = 0; i < n; i++) {
			unsigned int l = a[i == 0 ? n - 1 : i - 1], rr = a[i == n - 1 ? 0 : i + 1];

			b[i] = l + 2 * a[i] + rr + (unsigned int)s;
		}
		unsigned int *t = a;

		a = b;
		b = t;
	}
	unsigned int *got = (unsigned int *)malloc(n * sizeof(unsigned int));

	if (!got)
		return finish();
	CHECK(cudaMemcpy(got, steps % 2 ? db : da, n * sizeof(unsigned int), cudaMemcpyDeviceToHost));
	if (!memcmp(got, a, n * sizeof(unsigned int)))
		pass("%d steps over %d elements with grid.sync(): checksum %08x", steps, n,
		     fnv1a(got, n * sizeof(unsigned int)));
	else
		fail("%d steps over %d elements with grid.sync(): results differ", steps, n);

	CHECK(cudaEventDestroy(t0));
	CHECK(cudaEventDestroy(t1));
	CHECK(cudaFree(da));
	CHECK(cudaFree(db));
	free(a);
	free(b);
	free(got);
	time_line(&o, ms);
	return finish();
}
