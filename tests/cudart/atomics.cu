// SPDX-License-Identifier: MIT
/*
 * atomics: many threads updating the same words. A 256-bin histogram in
 * shared memory merged into global memory with atomicAdd; 64-bit, float
 * and double sums whose terms are exact (small integers, multiples of
 * 1/8; the sums stay below 2^24 and 2^53), so that any order gives the
 * same bits; atomicMax/Min and atomicAnd/Or/Xor over every element (these
 * per block in shared memory, then merged into global memory); atomicCAS
 * building a lock-free maximum of (value, index) pairs; atomicInc
 * wrapping; atomicExch; and tickets from atomicAdd that must be a
 * permutation of 0..n-1. Every result is compared with the host's. Bench
 * mode: 2^25 elements, the histogram and sums 4 times.
 * tests/cudart/check.h says what it prints.
 */
#include <climits>

#include "check.h"

#define BINS	256

struct sums {
	unsigned long long u64;
	float f32;
	double f64;
	int imax, imin;
	unsigned int and_, or_, xor_;
	unsigned long long best;	/* (value << 32) | index of the largest value */
	unsigned int inc;		/* atomicInc with wrap at WRAP, every 8th thread */
	int exch;
};

#define WRAP		1000u
#define FLOAT_TERMS	(1 << 20)	/* float sum: 3 * 2^20 * 4 reps < 2^24 */

__global__ void histogram(const unsigned char *in, int n, unsigned int *bins)
{
	__shared__ unsigned int local[BINS];

	for (int b = threadIdx.x; b < BINS; b += blockDim.x)
		local[b] = 0;
	__syncthreads();
	for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
		atomicAdd(&local[in[i]], 1u);
	__syncthreads();
	for (int b = threadIdx.x; b < BINS; b += blockDim.x)
		if (local[b])
			atomicAdd(&bins[b], local[b]);
}

/*
 * Every thread updates its block's copy in shared memory; thread 0 then
 * merges it into @s with global atomics. The largest (value, index) goes
 * straight to global memory through atomicCAS, as do atomicInc (every
 * eighth thread) and atomicExch.
 */
__global__ void reduce_all(const int *v, int n, struct sums *s)
{
	__shared__ struct sums blk;
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (threadIdx.x == 0) {
		blk.u64 = 0;
		blk.f32 = 0;
		blk.f64 = 0;
		blk.imax = INT_MIN;
		blk.imin = INT_MAX;
		blk.and_ = ~0u;
		blk.or_ = 0;
		blk.xor_ = 0;
	}
	__syncthreads();
	if (i < n) {
		int x = v[i];
		unsigned long long key = ((unsigned long long)(unsigned int)x << 32) | (unsigned int)i;
		unsigned long long old = s->best, seen;

		atomicAdd(&blk.u64, (unsigned long long)(unsigned int)x);
		if (i < FLOAT_TERMS)
			atomicAdd(&blk.f32, (float)(x & 3));	/* < 2^24 in all: exact */
		atomicAdd(&blk.f64, (x & 255) * 0.125);		/* multiples of 1/8: exact */
		atomicMax(&blk.imax, x);
		atomicMin(&blk.imin, x);
		atomicAnd(&blk.and_, (unsigned int)x | 0x80000000u);
		atomicOr(&blk.or_, (unsigned int)x & 0x00ff00ffu);
		atomicXor(&blk.xor_, (unsigned int)x);
		if (!(i & 7))
			atomicInc(&s->inc, WRAP - 1);
		while (key > old) {
			seen = atomicCAS(&s->best, old, key);
			if (seen == old)
				break;
			old = seen;
		}
		if (x == 12345)
			atomicExch(&s->exch, i + 1);
	}
	__syncthreads();
	if (threadIdx.x == 0) {
		atomicAdd(&s->u64, blk.u64);
		atomicAdd(&s->f32, blk.f32);
		atomicAdd(&s->f64, blk.f64);
		atomicMax(&s->imax, blk.imax);
		atomicMin(&s->imin, blk.imin);
		atomicAnd(&s->and_, blk.and_);
		atomicOr(&s->or_, blk.or_);
		atomicXor(&s->xor_, blk.xor_);
	}
}

__global__ void tickets(unsigned int *counter, unsigned int *ticket, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		ticket[i] = atomicAdd(counter, 1u);
}

int main(int argc, char **argv)
{
	struct test_opts o;
	struct rng r;
	cudaEvent_t a, b;
	int n, reps, bad;

	test_init(argc, argv, "atomics", &o);
	r.s = o.seed;
	n = o.bench ? 1 << 25 : 3000017;
	reps = o.bench ? 4 : 1;

	unsigned char *bytes = (unsigned char *)malloc(n), *dbytes;
	int *v = (int *)malloc(n * sizeof(int)), *dv;
	unsigned int *tick = (unsigned int *)malloc(n * sizeof(unsigned int));
	unsigned char *seen = (unsigned char *)calloc(n, 1);
	unsigned int hist[BINS] = { 0 }, want_hist[BINS] = { 0 }, *dbins, *dtick, *dcounter;
	struct sums want, got, *ds;

	if (!bytes || !v || !tick || !seen) {
		fail("malloc");
		return finish();
	}
	for (int i = 0; i < n; i++) {
		bytes[i] = (unsigned char)rng_below(&r, 200) + (i % 7 == 0 ? 50 : 0);
		want_hist[bytes[i]] += reps;
		v[i] = (int)rng_below(&r, 1u << 30) - (1 << 29);
		if (v[i] == 12345)
			v[i]++;
	}
	v[n / 3] = 12345;	/* the one atomicExch */
	memset(&want, 0, sizeof(want));
	want.imax = INT32_MIN;
	want.imin = INT32_MAX;
	want.and_ = ~0u;
	for (int i = 0; i < n; i++) {
		int x = v[i];
		unsigned long long key = ((unsigned long long)(unsigned int)x << 32) | (unsigned int)i;

		want.u64 += (unsigned int)x;
		if (i < FLOAT_TERMS)
			want.f32 += (float)(x & 3);
		want.f64 += (x & 255) * 0.125;
		want.imax = x > want.imax ? x : want.imax;
		want.imin = x < want.imin ? x : want.imin;
		want.and_ &= (unsigned int)x | 0x80000000u;
		want.or_ |= (unsigned int)x & 0x00ff00ffu;
		want.xor_ ^= (unsigned int)x;
		want.best = key > want.best ? key : want.best;
		if (x == 12345)
			want.exch = i + 1;
	}
	want.u64 *= reps;
	want.f32 *= reps;
	want.f64 *= reps;
	if (!(reps & 1))
		want.xor_ = 0;	/* each element XORed in an even number of times */
	want.inc = (unsigned int)(((unsigned long long)(n + 7) / 8 * reps) % WRAP);

	CHECK(cudaMalloc(&dbytes, n));
	CHECK(cudaMalloc(&dv, n * sizeof(int)));
	CHECK(cudaMalloc(&dbins, sizeof(hist)));
	CHECK(cudaMalloc(&ds, sizeof(*ds)));
	CHECK(cudaMalloc(&dtick, n * sizeof(unsigned int)));
	CHECK(cudaMalloc(&dcounter, sizeof(unsigned int)));
	CHECK(cudaEventCreate(&a));
	CHECK(cudaEventCreate(&b));
	CHECK(cudaMemcpy(dbytes, bytes, n, cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(dv, v, n * sizeof(int), cudaMemcpyHostToDevice));
	CHECK(cudaMemset(dbins, 0, sizeof(hist)));
	memset(&got, 0, sizeof(got));
	got.imax = INT32_MIN;
	got.imin = INT32_MAX;
	got.and_ = ~0u;
	CHECK(cudaMemcpy(ds, &got, sizeof(got), cudaMemcpyHostToDevice));
	CHECK(cudaMemset(dcounter, 0, sizeof(unsigned int)));

	CHECK(cudaEventRecord(a));
	for (int k = 0; k < reps; k++) {
		histogram<<<264, 256>>>(dbytes, n, dbins);
		CHECK_LAUNCH();
		reduce_all<<<(n + 255) / 256, 256>>>(dv, n, ds);
		CHECK_LAUNCH();
	}
	tickets<<<(n + 511) / 512, 512>>>(dcounter, dtick, n);
	CHECK_LAUNCH();
	CHECK(cudaEventRecord(b));
	CHECK(cudaMemcpy(hist, dbins, sizeof(hist), cudaMemcpyDeviceToHost));
	CHECK(cudaMemcpy(&got, ds, sizeof(got), cudaMemcpyDeviceToHost));
	CHECK(cudaMemcpy(tick, dtick, n * sizeof(unsigned int), cudaMemcpyDeviceToHost));
	float ms = elapsed_ms(a, b);

	if (!memcmp(hist, want_hist, sizeof(hist)))
		pass("histogram of %d bytes, %d bins: checksum %08x", n, BINS, fnv1a(hist, sizeof(hist)));
	else
		fail("histogram of %d bytes differs", n);
	if (got.u64 == want.u64)
		pass("atomicAdd u64: %llu", got.u64);
	else
		fail("atomicAdd u64: %llu, expected %llu", got.u64, want.u64);
	if (got.f32 == want.f32 && got.f64 == want.f64)
		pass("atomicAdd float %.1f, double %.3f", got.f32, got.f64);
	else
		fail("atomicAdd float %.1f, double %.3f, expected %.1f, %.3f", got.f32, got.f64,
		     want.f32, want.f64);
	if (got.imax == want.imax && got.imin == want.imin)
		pass("atomicMax %d, atomicMin %d", got.imax, got.imin);
	else
		fail("atomicMax %d, atomicMin %d, expected %d, %d", got.imax, got.imin, want.imax,
		     want.imin);
	if (got.and_ == want.and_ && got.or_ == want.or_ && got.xor_ == want.xor_)
		pass("atomicAnd %08x, atomicOr %08x, atomicXor %08x", got.and_, got.or_, got.xor_);
	else
		fail("atomicAnd/Or/Xor %08x %08x %08x, expected %08x %08x %08x", got.and_, got.or_,
		     got.xor_, want.and_, want.or_, want.xor_);
	if (got.best == want.best)
		pass("atomicCAS maximum: %d at %u", (int)(got.best >> 32), (unsigned int)got.best);
	else
		fail("atomicCAS maximum %016llx, expected %016llx", got.best, want.best);
	if (got.inc == want.inc && got.exch == want.exch)
		pass("atomicInc wraps to %u, atomicExch %d", got.inc, got.exch);
	else
		fail("atomicInc %u, atomicExch %d, expected %u, %d", got.inc, got.exch, want.inc,
		     want.exch);

	bad = 0;
	for (int i = 0; i < n; i++) {
		if (tick[i] >= (unsigned int)n || seen[tick[i]])
			bad++;
		else
			seen[tick[i]] = 1;
	}
	if (bad)
		fail("tickets: %d of %d out of range or given twice", bad, n);
	else
		pass("tickets: atomicAdd gave %d threads a permutation of 0..%d", n, n - 1);

	CHECK(cudaEventDestroy(a));
	CHECK(cudaEventDestroy(b));
	CHECK(cudaFree(dbytes));
	CHECK(cudaFree(dv));
	CHECK(cudaFree(dbins));
	CHECK(cudaFree(ds));
	CHECK(cudaFree(dtick));
	CHECK(cudaFree(dcounter));
	free(bytes);
	free(v);
	free(tick);
	free(seen);
	time_line(&o, ms);
	return finish();
}
