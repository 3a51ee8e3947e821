// SPDX-License-Identifier: MIT
/*
 * param32k: kernels whose parameters are a 32 KiB block, which CUDA 12.1+
 * allows on Volta and later (4 KiB before). A 32,000-byte struct passed
 * by value, changed between launches (each launch must carry its own
 * copy: a runtime that batches launches and keeps a pointer to the
 * caller's struct fails here); the same struct followed by scalars beyond
 * offset 32,000; and a block of exactly 32,764 bytes, the most a launch
 * takes. fmaf() in the kernel and on the host: the results are exact.
 * Bench mode: 1000 launches of 32,000 bytes of parameters.
 * tests/cudart/check.h says what it prints.
 */
#include "check.h"

#define NV	7996

struct big {
	float *out;
	int n;
	int tag;
	float v[NV];
};
static_assert(sizeof(struct big) == 32000, "struct big is 32,000 bytes");

struct at_limit {		/* 32,764 bytes: the largest parameter block */
	unsigned int out_lo;	/* a pointer in two words: 4-byte alignment, */
	unsigned int out_hi;	/* so no padding at the end */
	int w[8189];
};
static_assert(sizeof(struct at_limit) == 32764, "struct at_limit is 32,764 bytes");

__global__ void accumulate(struct big b)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < b.n)
		b.out[i] = fmaf(b.v[i], (float)b.tag, b.out[i]);
}

/* Parameters after the struct: tail at 32000, scale at 32008, last at 32016. */
__global__ void with_tail(struct big b, int tail, double scale, char last)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < b.n)
		b.out[i] = (float)(((double)b.v[i] + tail) * scale) + last;
}

__global__ void sum_limit(struct at_limit a)
{
	__shared__ long long part[256];
	long long s = 0;

	for (int i = threadIdx.x; i < 8189; i += blockDim.x)
		s += a.w[i] * (long long)(i + 1);
	part[threadIdx.x] = s;
	__syncthreads();
	for (int k = blockDim.x / 2; k > 0; k /= 2) {
		if ((int)threadIdx.x < k)
			part[threadIdx.x] += part[threadIdx.x + k];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		*(long long *)(((unsigned long long)a.out_hi << 32) | a.out_lo) = part[0];
}

int main(int argc, char **argv)
{
	static struct big b;
	static struct at_limit lim;
	static float base[NV], want[NV], got[NV];
	struct test_opts o;
	struct rng r;
	cudaEvent_t t0, t1;
	float *dout;
	int launches, bad = 0;

	test_init(argc, argv, "param32k", &o);
	r.s = o.seed;
	launches = o.bench ? 1000 : 5;
	for (int i = 0; i < NV; i++) {
		base[i] = rng_float(&r);
		want[i] = 0;
	}
	CHECK(cudaMalloc(&dout, NV * sizeof(float)));
	CHECK(cudaMemset(dout, 0, NV * sizeof(float)));
	CHECK(cudaEventCreate(&t0));
	CHECK(cudaEventCreate(&t1));

	b.out = dout;
	b.n = NV;
	CHECK(cudaEventRecord(t0));
	for (int k = 0; k < launches; k++) {
		b.tag = k % 7 - 3;
		for (int i = 0; i < NV; i++) {
			b.v[i] = base[i] + (float)(k % 13);
			want[i] = fmaf(b.v[i], (float)b.tag, want[i]);
		}
		accumulate<<<(NV + 255) / 256, 256>>>(b);
		CHECK_LAUNCH();
	}
	CHECK(cudaEventRecord(t1));
	/* the struct is overwritten after the last launch: it must not matter */
	memset(&b.v, 0xff, sizeof(b.v));
	CHECK(cudaMemcpy(got, dout, sizeof(got), cudaMemcpyDeviceToHost));
	for (int i = 0; i < NV; i++)
		bad += got[i] != want[i];
	if (bad)
		fail("%d launches of a 32,000-byte struct: %d elements differ", launches, bad);
	else
		pass("%d launches of a 32,000-byte struct, each its own copy: checksum %08x",
		     launches, fnv1a(got, sizeof(got)));
	float ms = elapsed_ms(t0, t1);

	/* scalars after the struct */
	int tail = (int)rng_below(&r, 1000) - 500;
	double scale = 1.0 + rng_float(&r);
	char last = (char)rng_below(&r, 100);

	for (int i = 0; i < NV; i++)
		b.v[i] = base[i];
	with_tail<<<(NV + 255) / 256, 256>>>(b, tail, scale, last);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(got, dout, sizeof(got), cudaMemcpyDeviceToHost));
	bad = 0;
	for (int i = 0; i < NV; i++)
		bad += got[i] != (float)(((double)b.v[i] + tail) * scale) + last;
	if (bad)
		fail("struct + int + double + char (32,017 bytes): %d elements differ", bad);
	else
		pass("struct + int + double + char (32,017 bytes): tail %d, checksum %08x", tail,
		     fnv1a(got, sizeof(got)));

	/* exactly 32,764 bytes */
	long long *dsum, sum = 0, expect_sum = 0;

	CHECK(cudaMalloc(&dsum, sizeof(*dsum)));
	lim.out_lo = (unsigned int)(uintptr_t)dsum;
	lim.out_hi = (unsigned int)((uintptr_t)dsum >> 32);
	for (int i = 0; i < 8189; i++) {
		lim.w[i] = (int)rng_below(&r, 1u << 20) - (1 << 19);
		expect_sum += lim.w[i] * (long long)(i + 1);
	}
	sum_limit<<<1, 256>>>(lim);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(&sum, dsum, sizeof(sum), cudaMemcpyDeviceToHost));
	if (sum == expect_sum)
		pass("a 32,764-byte parameter block: sum %lld", sum);
	else
		fail("a 32,764-byte parameter block: sum %lld, expected %lld", sum, expect_sum);

	CHECK(cudaEventDestroy(t0));
	CHECK(cudaEventDestroy(t1));
	CHECK(cudaFree(dout));
	CHECK(cudaFree(dsum));
	time_line(&o, ms);
	return finish();
}
