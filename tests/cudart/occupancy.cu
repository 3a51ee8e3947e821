// SPDX-License-Identifier: MIT
/*
 * occupancy: what a program asks about its kernels before it launches
 * them. cudaFuncGetAttributes of kernels with few and many registers,
 * static shared memory, local memory and __launch_bounds__ (the values
 * come from the compiled binary, so the guest runtime must report the same
 * ones); the occupancy calculator (cudaOccupancyMaxActiveBlocksPerMultiprocessor
 * for several block sizes and dynamic shared memory,
 * cudaOccupancyMaxPotentialBlockSize, cudaOccupancyAvailableDynamicSMemPerBlock);
 * the device limits they depend on (cudaDeviceGetAttribute); and
 * cudaFuncSetAttribute for more than 48 KiB of dynamic shared memory,
 * then a launch that uses it. Nothing printed depends on the number of
 * SMs (a VM may have part of them): cudaOccupancyMaxPotentialBlockSize's
 * grid is checked as a multiple of it. tests/cudart/check.h says what it
 * prints.
 */
#include "check.h"

__global__ void k_small(int *x)
{
	x[blockIdx.x * blockDim.x + threadIdx.x] += 1;
}

/* many live values: many registers */
__global__ void k_heavy(const float *in, float *out, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;
	float v[32];

	if (i >= n)
		return;
	for (int k = 0; k < 32; k++)
		v[k] = in[(i + k * 977) % n];
	for (int r = 0; r < 8; r++)
		for (int k = 0; k < 32; k++)
			v[k] = fmaf(v[k], v[(k + r + 1) % 32], 0.5f);
	float s = 0;

	for (int k = 0; k < 32; k++)
		s += v[k];
	out[i] = s;
}

__global__ void k_static_shared(float *out)
{
	__shared__ float buf[8192];	/* 32 KiB */

	buf[threadIdx.x] = (float)threadIdx.x;
	__syncthreads();
	out[threadIdx.x] = buf[(threadIdx.x + 1) % blockDim.x];
}

__global__ void __launch_bounds__(128, 8) k_bounded(int *x)
{
	x[blockIdx.x * blockDim.x + threadIdx.x] *= 2;
}

/* dynamic shared memory: the block's words, reversed */
__global__ void k_dynamic(const int *in, int *out, int words)
{
	extern __shared__ int dyn[];

	for (int i = threadIdx.x; i < words; i += blockDim.x)
		dyn[i] = in[i];
	__syncthreads();
	for (int i = threadIdx.x; i < words; i += blockDim.x)
		out[i] = dyn[words - 1 - i];
}

static void attributes(const char *name, const void *fn)
{
	cudaFuncAttributes a;

	CHECK(cudaFuncGetAttributes(&a, fn));
	pass("%s: maxThreadsPerBlock %d numRegs %d sharedSizeBytes %zu localSizeBytes %zu "
	     "constSizeBytes %zu maxDynamicSharedSizeBytes %d binaryVersion %d ptxVersion %d",
	     name, a.maxThreadsPerBlock, a.numRegs, a.sharedSizeBytes, a.localSizeBytes,
	     a.constSizeBytes, a.maxDynamicSharedSizeBytes, a.binaryVersion, a.ptxVersion);
}

static void blocks_per_sm(const char *name, const void *fn, int block, size_t dyn)
{
	int n = -1;

	CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, fn, block, dyn));
	pass("%s: %d blocks of %d threads (%zu bytes dynamic shared) per SM", name, n, block, dyn);
}

int main(int argc, char **argv)
{
	struct test_opts o;
	struct rng r;
	int dev, sms, v;

	test_init(argc, argv, "occupancy", &o);
	r.s = o.seed;
	CHECK(cudaGetDevice(&dev));
	CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
	expect(sms > 0, "cudaDevAttrMultiProcessorCount > 0");

	static const struct {
		const char *name;
		cudaDeviceAttr attr;
	} limits[] = {
		{ "MaxThreadsPerBlock", cudaDevAttrMaxThreadsPerBlock },
		{ "WarpSize", cudaDevAttrWarpSize },
		{ "MaxSharedMemoryPerBlock", cudaDevAttrMaxSharedMemoryPerBlock },
		{ "MaxSharedMemoryPerBlockOptin", cudaDevAttrMaxSharedMemoryPerBlockOptin },
		{ "MaxSharedMemoryPerMultiprocessor", cudaDevAttrMaxSharedMemoryPerMultiprocessor },
		{ "MaxRegistersPerBlock", cudaDevAttrMaxRegistersPerBlock },
		{ "MaxRegistersPerMultiprocessor", cudaDevAttrMaxRegistersPerMultiprocessor },
		{ "MaxThreadsPerMultiProcessor", cudaDevAttrMaxThreadsPerMultiProcessor },
		{ "MaxBlocksPerMultiprocessor", cudaDevAttrMaxBlocksPerMultiprocessor },
		{ "ComputeCapabilityMajor", cudaDevAttrComputeCapabilityMajor },
		{ "ComputeCapabilityMinor", cudaDevAttrComputeCapabilityMinor },
	};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		CHECK(cudaDeviceGetAttribute(&v, limits[i].attr, dev));
		pass("cudaDevAttr%s %d", limits[i].name, v);
	}

	attributes("k_small", (const void *)k_small);
	attributes("k_heavy", (const void *)k_heavy);
	attributes("k_static_shared", (const void *)k_static_shared);
	attributes("k_bounded", (const void *)k_bounded);
	attributes("k_dynamic", (const void *)k_dynamic);

	for (int block = 32; block <= 1024; block *= 2) {
		blocks_per_sm("k_small", (const void *)k_small, block, 0);
		blocks_per_sm("k_heavy", (const void *)k_heavy, block, 0);
	}
	blocks_per_sm("k_static_shared", (const void *)k_static_shared, 256, 0);
	blocks_per_sm("k_bounded", (const void *)k_bounded, 128, 0);
	for (size_t dyn = 0; dyn <= 48 * 1024; dyn += 12 * 1024)
		blocks_per_sm("k_dynamic", (const void *)k_dynamic, 256, dyn);

	int min_grid = 0, best = 0;

	CHECK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &best, k_heavy, 0, 0));
	CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&v, k_heavy, best, 0));
	if (min_grid == v * sms)
		pass("cudaOccupancyMaxPotentialBlockSize(k_heavy): block %d, grid %d blocks per SM",
		     best, v);
	else
		fail("cudaOccupancyMaxPotentialBlockSize(k_heavy): block %d, grid %d, not %d x %d SMs",
		     best, min_grid, v, sms);

	size_t avail = 0;

	CHECK(cudaOccupancyAvailableDynamicSMemPerBlock(&avail, k_dynamic, 2, 256));
	pass("cudaOccupancyAvailableDynamicSMemPerBlock(k_dynamic, 2 blocks of 256): %zu bytes",
	     avail);

	/* more than 48 KiB of dynamic shared memory needs the attribute */
	int words = 100 * 1024 / 4, *in, *din, *dout, bad = 0;
	cudaFuncAttributes fa;

	in = (int *)malloc(words * sizeof(int));
	if (!in)
		return finish();
	for (int i = 0; i < words; i++)
		in[i] = (int)rng_next(&r);
	CHECK(cudaFuncSetAttribute(k_dynamic, cudaFuncAttributeMaxDynamicSharedMemorySize,
				   words * (int)sizeof(int)));
	CHECK(cudaFuncGetAttributes(&fa, k_dynamic));
	expect(fa.maxDynamicSharedSizeBytes == words * (int)sizeof(int),
	       "cudaFuncSetAttribute: maxDynamicSharedSizeBytes is now 102400");
	blocks_per_sm("k_dynamic", (const void *)k_dynamic, 256, words * sizeof(int));
	CHECK(cudaMalloc(&din, words * sizeof(int)));
	CHECK(cudaMalloc(&dout, words * sizeof(int)));
	CHECK(cudaMemcpy(din, in, words * sizeof(int), cudaMemcpyHostToDevice));
	k_dynamic<<<1, 256, words * sizeof(int)>>>(din, dout, words);
	CHECK_LAUNCH();
	int *got = (int *)malloc(words * sizeof(int));

	if (!got)
		return finish();
	CHECK(cudaMemcpy(got, dout, words * sizeof(int), cudaMemcpyDeviceToHost));
	for (int i = 0; i < words; i++)
		bad += got[i] != in[words - 1 - i];
	expect(!bad, "k_dynamic with 100 KiB of dynamic shared memory reversed its words");

	/* k_small with the block size the calculator chose for it */
	int *dx, hx[4096];

	CHECK(cudaOccupancyMaxPotentialBlockSize(&min_grid, &best, k_small, 0, 0));
	expect(best >= 32 && best <= 1024 && 4096 % best == 0,
	       "cudaOccupancyMaxPotentialBlockSize(k_small): a block size that divides 4096");
	CHECK(cudaMalloc(&dx, sizeof(hx)));
	CHECK(cudaMemset(dx, 0, sizeof(hx)));
	k_small<<<4096 / best, best>>>(dx);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(hx, dx, sizeof(hx), cudaMemcpyDeviceToHost));
	bad = 0;
	for (int i = 0; i < 4096; i++)
		bad += hx[i] != 1;
	expect(!bad, "k_small launched with it");

	CHECK(cudaFree(din));
	CHECK(cudaFree(dout));
	CHECK(cudaFree(dx));
	free(in);
	free(got);
	return finish();
}
