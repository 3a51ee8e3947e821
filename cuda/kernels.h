/* SPDX-License-Identifier: MIT */
/*
 * The CUDA backend's own kernels, one launcher each. A launcher enqueues
 * on @s and returns the launch's error (cudaGetLastError() through
 * VGPU_CUDA_CHECK_LAUNCH); errors while the kernel runs surface at the
 * stream's synchronisation. @sms is the number of SMs the calling pool may
 * use: grids are sized from it so that a green-context pool does not queue
 * waves it cannot run at once.
 */
#ifndef VGPU_CUDA_KERNELS_H
#define VGPU_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include <cuda_runtime.h>

#include "vgpu/crc32c_gf.h"

#define VGPU_REDUCE_BLOCKS_MAX	1024	/* partial sums, 8 bytes each */
#define VGPU_CRC_CHUNK		2048	/* bytes per thread; multiple of 16 */

cudaError_t vgpu_launch_noop(cudaStream_t s);
/* One thread busy for @ns nanoseconds by %globaltimer. */
cudaError_t vgpu_launch_spin(cudaStream_t s, uint64_t ns);
/* b[i] = a[i] + b[i] */
cudaError_t vgpu_launch_vector_add(cudaStream_t s, unsigned int sms, const float *a,
				   float *b, size_t n);
/* y[i] = fmaf(alpha, x[i], y[i]), one rounding as the CPU reference */
cudaError_t vgpu_launch_saxpy(cudaStream_t s, unsigned int sms, float alpha,
			      const float *x, float *y, size_t n);
/* Blocks the reduction of n elements uses: partial sums in scratch. */
unsigned int vgpu_reduce_blocks(size_t n);
/* *out = (float) sum x[i], summed in float64; @partial holds
 * vgpu_reduce_blocks(n) doubles. */
cudaError_t vgpu_launch_reduce_sum(cudaStream_t s, const float *x, size_t n,
				   double *partial, float *out);
/* *out = crc32c(data[0..n)) in iSCSI convention (not byte-swapped). */
cudaError_t vgpu_launch_crc32c(cudaStream_t s, unsigned int sms, const uint8_t *data,
			       uint64_t n, const struct vgpu_gf_x2n *x2n, uint32_t *out);

#endif /* VGPU_CUDA_KERNELS_H */
