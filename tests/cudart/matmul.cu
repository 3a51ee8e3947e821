// SPDX-License-Identifier: MIT
/*
 * matmul: C = A B in single precision with 16x16 shared-memory tiles, sizes
 * that are not multiples of the tile (300x257 times 257x200), timed with
 * events. Checks every element against a double-precision product on the
 * host (relative to the sum of |a||b| along k) and prints a checksum of C:
 * the kernel is deterministic, so a run through the guest runtime must give
 * the same bits. The elapsed time is printed only with -t (a TIME line);
 * that it is positive, and that the stop event is complete after
 * cudaEventSynchronize, are checks. Bench mode: 1024^3, 8 launches, 4096
 * sampled elements checked. tests/cudart/check.h says what it prints.
 */
#include <cmath>

#include "check.h"

#define TILE 16

__global__ void sgemm_tiled(const float *a, const float *b, float *c, int m, int n, int k)
{
	__shared__ float ta[TILE][TILE], tb[TILE][TILE];
	int row = blockIdx.y * TILE + threadIdx.y;
	int col = blockIdx.x * TILE + threadIdx.x;
	float acc = 0.0f;

	for (int t = 0; t < k; t += TILE) {
		int ka = t + threadIdx.x, kb = t + threadIdx.y;

		ta[threadIdx.y][threadIdx.x] = row < m && ka < k ? a[(size_t)row * k + ka] : 0.0f;
		tb[threadIdx.y][threadIdx.x] = col < n && kb < k ? b[(size_t)kb * n + col] : 0.0f;
		__syncthreads();
		for (int i = 0; i < TILE; i++)
			acc = fmaf(ta[threadIdx.y][i], tb[i][threadIdx.x], acc);
		__syncthreads();
	}
	if (row < m && col < n)
		c[(size_t)row * n + col] = acc;
}

/* |C - AB| / sum |a||b| at (i, j). */
static double rel_err(const float *a, const float *b, const float *c, int n, int k, int i, int j)
{
	double ref = 0, mag = 0;

	for (int p = 0; p < k; p++) {
		ref += (double)a[(size_t)i * k + p] * b[(size_t)p * n + j];
		mag += fabs((double)a[(size_t)i * k + p] * b[(size_t)p * n + j]);
	}
	return fabs(c[(size_t)i * n + j] - ref) / (mag > 0 ? mag : 1);
}

int main(int argc, char **argv)
{
	struct test_opts o;
	struct rng r;
	int m, n, k, reps;
	float *a, *b, *c, *da, *db, *dc;
	cudaEvent_t start, stop;

	test_init(argc, argv, "matmul", &o);
	r.s = o.seed;
	if (o.bench) {
		m = n = k = 1024;
		reps = 8;
	} else {
		m = 300;
		n = 200;
		k = 257;
		reps = 1;
	}
	size_t sa = (size_t)m * k, sb = (size_t)k * n, sc = (size_t)m * n;

	a = (float *)malloc(sa * sizeof(float));
	b = (float *)malloc(sb * sizeof(float));
	c = (float *)malloc(sc * sizeof(float));
	if (!a || !b || !c) {
		fail("malloc");
		return finish();
	}
	for (size_t i = 0; i < sa; i++)
		a[i] = rng_float(&r);
	for (size_t i = 0; i < sb; i++)
		b[i] = rng_float(&r);

	CHECK(cudaMalloc(&da, sa * sizeof(float)));
	CHECK(cudaMalloc(&db, sb * sizeof(float)));
	CHECK(cudaMalloc(&dc, sc * sizeof(float)));
	CHECK(cudaEventCreate(&start));
	CHECK(cudaEventCreate(&stop));
	CHECK(cudaMemcpy(da, a, sa * sizeof(float), cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(db, b, sb * sizeof(float), cudaMemcpyHostToDevice));

	dim3 block(TILE, TILE), grid((n + TILE - 1) / TILE, (m + TILE - 1) / TILE);

	CHECK(cudaEventRecord(start, 0));
	for (int i = 0; i < reps; i++) {
		sgemm_tiled<<<grid, block>>>(da, db, dc, m, n, k);
		CHECK_LAUNCH();
	}
	CHECK(cudaEventRecord(stop, 0));
	CHECK(cudaEventSynchronize(stop));
	EXPECT_ERR(cudaEventQuery(stop), cudaSuccess);
	float ms = elapsed_ms(start, stop);

	expect(ms > 0, "cudaEventElapsedTime > 0 ms");
	CHECK(cudaMemcpy(c, dc, sc * sizeof(float), cudaMemcpyDeviceToHost));

	double worst = 0;
	int checked = 0;

	if (o.bench) {
		for (; checked < 4096; checked++) {
			double e = rel_err(a, b, c, n, k, (int)rng_below(&r, m), (int)rng_below(&r, n));

			worst = e > worst ? e : worst;
		}
	} else {
		for (int i = 0; i < m; i++)
			for (int j = 0; j < n; j++, checked++) {
				double e = rel_err(a, b, c, n, k, i, j);

				worst = e > worst ? e : worst;
			}
	}
	/* fp32 accumulation over k terms: well under 1e-5 of the magnitude */
	if (worst < 1e-5)
		pass("%dx%dx%d: %d elements within 1e-5, checksum %08x", m, n, k, checked,
		     fnv1a(c, sc * sizeof(float)));
	else
		fail("%dx%dx%d: relative error %.3g", m, n, k, worst);

	CHECK(cudaEventDestroy(start));
	CHECK(cudaEventDestroy(stop));
	CHECK(cudaFree(da));
	CHECK(cudaFree(db));
	CHECK(cudaFree(dc));
	free(a);
	free(b);
	free(c);
	time_line(&o, ms);
	return finish();
}
