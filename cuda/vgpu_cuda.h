/* SPDX-License-Identifier: MIT */
/*
 * What the CUDA backend tells its tests and benches beyond the backend
 * interface (include/vgpu/backend.h). C linkage; only with VGPU_HAVE_CUDA.
 */
#ifndef VGPU_CUDA_H
#define VGPU_CUDA_H

#include "vgpu/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

/* SMs the kernels of @pool can use: its green-context partition, or all
 * of the GPU's when the pool shares them. 0 if @pool is not open. */
unsigned int vgpu_cuda_pool_sms(const struct vgpu_backend *be, unsigned int pool);

/* Whether @pool runs in a green context of its own. */
int vgpu_cuda_pool_green(const struct vgpu_backend *be, unsigned int pool);

#ifdef __cplusplus
}
#endif

#endif /* VGPU_CUDA_H */
