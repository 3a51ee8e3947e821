// SPDX-License-Identifier: MIT
/*
 * Kernels for the ops cuBLAS does not cover. All are memory-bound except
 * SPIN: grid-stride loops with 64-bit indices (n goes to 2^30 elements and
 * 2^32 bytes), grids of at most a few waves of the pool's SMs.
 */
#include "cuda_check.h"
#include "kernels.h"

#define BLOCK		256	/* threads per block of the elementwise ops */
#define WAVES		8	/* blocks per SM the grid-stride grids ask for */

static unsigned int grid_for(size_t n, unsigned int sms)
{
	size_t want = (n + BLOCK - 1) / BLOCK;
	size_t cap = (size_t)(sms ? sms : 1) * WAVES;

	return (unsigned int)(want < cap ? want : cap);
}

__global__ void noop_kernel(void)
{
}

static __device__ uint64_t globaltimer(void)
{
	uint64_t t;

	asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
	return t;
}

__global__ void spin_kernel(uint64_t ns)
{
	uint64_t t0 = globaltimer();

	while (globaltimer() - t0 < ns)
		;
}

__global__ void vector_add_kernel(const float *a, float *b, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		b[i] = __fadd_rn(a[i], b[i]);
}

__global__ void saxpy_kernel(float alpha, const float *x, float *y, size_t n)
{
	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		y[i] = __fmaf_rn(alpha, x[i], y[i]);
}

/* Sum over the block; the result is valid in thread 0. */
static __device__ double block_sum(double v)
{
	__shared__ double warp_sums[32];
	unsigned int lane = threadIdx.x % 32, warp = threadIdx.x / 32;

	for (int o = 16; o; o >>= 1)
		v += __shfl_down_sync(0xffffffffu, v, o);
	if (lane == 0)
		warp_sums[warp] = v;
	__syncthreads();
	if (warp == 0) {
		v = lane < blockDim.x / 32 ? warp_sums[lane] : 0.0;
		for (int o = 16; o; o >>= 1)
			v += __shfl_down_sync(0xffffffffu, v, o);
	}
	return v;
}

/* Float64 accumulation: the H100 has the FP64 rate to spare in a
 * memory-bound loop, and the result is then the correctly summed value to
 * within float rounding, like the CPU reference. */
__global__ void reduce_partial_kernel(const float *x, size_t n, double *partial)
{
	double s = 0;

	for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n;
	     i += (size_t)gridDim.x * blockDim.x)
		s += x[i];
	s = block_sum(s);
	if (threadIdx.x == 0)
		partial[blockIdx.x] = s;
}

__global__ void reduce_final_kernel(const double *partial, unsigned int nb, float *out)
{
	double s = 0;

	for (unsigned int i = threadIdx.x; i < nb; i += blockDim.x)
		s += partial[i];
	s = block_sum(s);
	if (threadIdx.x == 0)
		*out = (float)s;
}

/*
 * One thread per VGPU_CRC_CHUNK bytes: slicing-by-4 over 16-byte loads
 * with the tables in shared memory (4 KiB, built by each block: 1024
 * entries, cheaper than a copy), then the chunk's term of the GF(2)
 * combination (include/vgpu/crc32c_gf.h) and an XOR reduction with one atomic per warp.
 * @data is 256-byte aligned, so every chunk's 16-byte loads are aligned.
 */
__global__ void crc32c_kernel(const uint8_t *data, uint64_t n, const struct vgpu_gf_x2n x2n,
			      uint32_t *acc)
{
	__shared__ uint32_t t[4][256];
	uint64_t nchunks = (n + VGPU_CRC_CHUNK - 1) / VGPU_CRC_CHUNK;
	uint32_t term = 0;

	for (unsigned int i = threadIdx.x; i < 256; i += blockDim.x) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (VGPU_CRC32C_POLY & (0u - (c & 1)));
		t[0][i] = c;
	}
	__syncthreads();
	for (unsigned int i = threadIdx.x; i < 256; i += blockDim.x) {
		uint32_t c = t[0][i];

		for (int k = 1; k < 4; k++) {
			c = (c >> 8) ^ t[0][c & 0xff];
			t[k][i] = c;
		}
	}
	__syncthreads();

	for (uint64_t ch = blockIdx.x * (uint64_t)blockDim.x + threadIdx.x; ch < nchunks;
	     ch += (uint64_t)gridDim.x * blockDim.x) {
		uint64_t start = ch * VGPU_CRC_CHUNK;
		uint64_t end = start + VGPU_CRC_CHUNK < n ? start + VGPU_CRC_CHUNK : n;
		const uint8_t *q = data + start;
		uint64_t len = end - start;
		uint32_t c = 0;

		for (; len >= 16; len -= 16, q += 16) {
			uint4 w = *(const uint4 *)q;
			uint32_t v[4] = { w.x, w.y, w.z, w.w };

#pragma unroll
			for (int j = 0; j < 4; j++) {
				c ^= v[j];
				c = t[3][c & 0xff] ^ t[2][(c >> 8) & 0xff] ^
				    t[1][(c >> 16) & 0xff] ^ t[0][c >> 24];
			}
		}
		for (; len; len--)
			c = (c >> 8) ^ t[0][(c ^ *q++) & 0xff];
		term ^= vgpu_gf_mul(c, vgpu_gf_x8n(n - end, &x2n));
	}
	for (int o = 16; o; o >>= 1)
		term ^= __shfl_xor_sync(0xffffffffu, term, o);
	if (threadIdx.x % 32 == 0 && term)
		atomicXor(acc, term);
}

/* Adds the ~0 initial register's term and inverts: the iSCSI CRC. */
__global__ void crc32c_final_kernel(uint32_t *acc, uint32_t init_term)
{
	*acc = ~(*acc ^ init_term);
}

cudaError_t vgpu_launch_noop(cudaStream_t s)
{
	noop_kernel<<<1, 1, 0, s>>>();
	return VGPU_CUDA_CHECK_LAUNCH("noop_kernel");
}

cudaError_t vgpu_launch_spin(cudaStream_t s, uint64_t ns)
{
	spin_kernel<<<1, 1, 0, s>>>(ns);
	return VGPU_CUDA_CHECK_LAUNCH("spin_kernel");
}

cudaError_t vgpu_launch_vector_add(cudaStream_t s, unsigned int sms, const float *a,
				   float *b, size_t n)
{
	vector_add_kernel<<<grid_for(n, sms), BLOCK, 0, s>>>(a, b, n);
	return VGPU_CUDA_CHECK_LAUNCH("vector_add_kernel");
}

cudaError_t vgpu_launch_saxpy(cudaStream_t s, unsigned int sms, float alpha,
			      const float *x, float *y, size_t n)
{
	saxpy_kernel<<<grid_for(n, sms), BLOCK, 0, s>>>(alpha, x, y, n);
	return VGPU_CUDA_CHECK_LAUNCH("saxpy_kernel");
}

/* Depends on n alone, so a sum is the same whichever pool computes it. */
unsigned int vgpu_reduce_blocks(size_t n)
{
	size_t nb = (n + 4 * BLOCK - 1) / (4 * BLOCK);

	return (unsigned int)(nb < VGPU_REDUCE_BLOCKS_MAX ? nb : VGPU_REDUCE_BLOCKS_MAX);
}

cudaError_t vgpu_launch_reduce_sum(cudaStream_t s, const float *x, size_t n,
				   double *partial, float *out)
{
	unsigned int nb = vgpu_reduce_blocks(n);
	cudaError_t e;

	reduce_partial_kernel<<<nb, BLOCK, 0, s>>>(x, n, partial);
	e = VGPU_CUDA_CHECK_LAUNCH("reduce_partial_kernel");
	if (e)
		return e;
	reduce_final_kernel<<<1, BLOCK, 0, s>>>(partial, nb, out);
	return VGPU_CUDA_CHECK_LAUNCH("reduce_final_kernel");
}

cudaError_t vgpu_launch_crc32c(cudaStream_t s, unsigned int sms, const uint8_t *data,
			       uint64_t n, const struct vgpu_gf_x2n *x2n, uint32_t *out)
{
	const unsigned int threads = 128;
	uint64_t nchunks = (n + VGPU_CRC_CHUNK - 1) / VGPU_CRC_CHUNK;
	uint64_t blocks = (nchunks + threads - 1) / threads;
	uint64_t cap = (uint64_t)(sms ? sms : 1) * 16;
	uint32_t init_term = vgpu_gf_mul(~0u, vgpu_gf_x8n(n, x2n));
	cudaError_t e;

	e = VGPU_CUDA_CHECK(cudaMemsetAsync(out, 0, sizeof(*out), s));
	if (e)
		return e;
	crc32c_kernel<<<(unsigned int)(blocks < cap ? blocks : cap), threads, 0, s>>>(
		data, n, *x2n, out);
	e = VGPU_CUDA_CHECK_LAUNCH("crc32c_kernel");
	if (e)
		return e;
	crc32c_final_kernel<<<1, 1, 0, s>>>(out, init_term);
	return VGPU_CUDA_CHECK_LAUNCH("crc32c_final_kernel");
}
