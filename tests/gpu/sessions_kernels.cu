// SPDX-License-Identifier: MIT
/*
 * Kernels that tests/gpu/sessions_test sends through the mediator as a
 * guest would: built to PTX and to an sm_90 cubin (tests/gpu/build.mk) and
 * read by the test at run time. Each parameter layout is one the test lays
 * out by hand (and checks against module_describe). extern "C": unmangled
 * names.
 */
#include <cooperative_groups.h>

namespace cg = cooperative_groups;

struct scale_args {		/* pointers inside a struct: two patches */
	const float *in;	/*  0 */
	float *out;		/*  8 */
	int n;			/* 16 */
	float scale;		/* 20 */
};				/* 24 */

struct args_4k {		/* a 4 KiB parameter block */
	float *out;		/*    0 */
	int n;			/*    8 */
	int pad;		/*   12 */
	double v[510];		/*   16 */
};				/* 4096 */

struct args_32k {		/* 32,764 bytes: the most a launch takes */
	unsigned int out_lo;	/* 0: a pointer in two words (4-byte alignment) */
	unsigned int out_hi;	/* 4 */
	int v[8189];		/* 8 */
};				/* 32764 */

static_assert(sizeof(scale_args) == 24, "scale_args layout");
static_assert(sizeof(args_4k) == 4096, "args_4k layout");
static_assert(sizeof(args_32k) == 32764, "args_32k layout");

static __device__ unsigned long long globaltimer(void)
{
	unsigned long long t;

	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	return t;
}

extern "C" __global__ void scale(scale_args a)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < a.n)
		a.out[i] = a.scale * a.in[i];
}

extern "C" __global__ void params_4k(args_4k a)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < a.n && i < 510)
		a.out[i] = (float)a.v[i];
}

extern "C" __global__ void params_32k(args_32k a)
{
	int *out = (int *)((unsigned long long)a.out_hi << 32 | a.out_lo);
	int s = 0;

	for (int i = 0; i < 8189; i++)
		s += a.v[i];
	*out = s;
}

/* out[0..gridDim.x): block b writes b + 1; after the grid barrier, block 0
 * writes their sum to out[gridDim.x] and whether the grid was a
 * cooperative one to out[gridDim.x + 1]. */
extern "C" __global__ void grid_sum(int *out)
{
	cg::grid_group g = cg::this_grid();

	if (threadIdx.x == 0)
		out[blockIdx.x] = blockIdx.x + 1;
	if (!g.is_valid())
		return;
	g.sync();
	if (blockIdx.x == 0 && threadIdx.x == 0) {
		int s = 0;

		for (unsigned int b = 0; b < gridDim.x; b++)
			s += ((volatile int *)out)[b];
		out[gridDim.x] = s;
		out[gridDim.x + 1] = 1;
	}
}

/* out[i] = tag * 0x9e3779b97f4a7c15 + i: each job's own words. */
extern "C" __global__ void fill_u64(unsigned long long *out, unsigned long long n,
				    unsigned long long tag)
{
	unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;

	if (i < n)
		out[i] = tag * 0x9e3779b97f4a7c15ull + i;
}

extern "C" __global__ void spin_ns(unsigned long long ns)
{
	unsigned long long t0 = globaltimer();

	while (globaltimer() - t0 < ns)
		;
}

/* Never ends: the bound cannot be reached (the reads are volatile asm). */
extern "C" __global__ void forever(void)
{
	unsigned long long t0 = globaltimer();

	while (globaltimer() - t0 < ~0ull)
		;
}

/* Its own pointer argument, as a number, into *out. */
extern "C" __global__ void whereami(const void *p, unsigned long long *out)
{
	*out = (unsigned long long)p;
}

/* n words from the raw address @addr (a number, not a patched pointer) into out. */
extern "C" __global__ void read_raw(unsigned long long addr, unsigned long long n,
				    unsigned long long *out)
{
	unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;

	if (i < n)
		out[i] = ((const volatile unsigned long long *)addr)[i];
}

extern "C" __global__ void bad_address(int *p)
{
	*(volatile int *)((char *)p + (1ull << 40)) = 1;	/* far past any allocation */
}

/* Module globals (module_global): x[i] += g_bias[i % 64] for i < g_count. */
__device__ float g_bias[64];
__constant__ int g_count;

extern "C" __global__ void add_bias(float *x)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < g_count)
		x[i] += g_bias[i % 64];
}
