/* SPDX-License-Identifier: MIT */
/*
 * Until libvgpu has vgpu_device_props() and vgpu_cmd_module_global()
 * (include/vgpu/vgpu.h, "libvgpu: device properties"), the runtime builds
 * against these stand-ins, which say -EOPNOTSUPP: the runtime then answers
 * from defaults (RT_DEFAULT_*) and symbols fail with cudaErrorNotSupported.
 * With the real header this file declares nothing.
 */
#ifndef VGPU_CUDART_COMPAT_H
#define VGPU_CUDART_COMPAT_H

#include <errno.h>
#include <stdint.h>

#include <vgpu/vgpu.h>

#ifndef VGPU_CMD_DEVICE_INFO
struct vgpu_device_props {
	uint32_t argsz;
	uint32_t flags;
	char name[256];
	uint8_t uuid[16];
	uint32_t cc_major, cc_minor;
	uint32_t multiprocessors;
	uint32_t warp_size;
	uint64_t total_mem;
	uint64_t mem_used;
	uint64_t module_quota, module_used;
	uint32_t handle_quota, handles_used;
	uint32_t clock_khz, mem_clock_khz, mem_bus_width, l2_bytes;
	uint32_t max_threads_per_block, max_block[3], max_grid[3];
	uint32_t shared_per_block, shared_per_block_optin, shared_per_sm;
	uint32_t regs_per_block, regs_per_sm, max_threads_per_sm, max_blocks_per_sm;
	uint32_t const_bytes;
	uint32_t time_limit_ms;
	uint32_t epoch;
	uint64_t lists_run;
};
#define VGPU_PROPS_F_GPU		(1u << 0)
#define VGPU_PROPS_F_COOPERATIVE	(1u << 1)
#define VGPU_PROPS_F_CONCURRENT_KERNELS	(1u << 2)
#define VGPU_PROPS_F_ECC		(1u << 3)

static inline int vgpu_cmd_device_info(struct vgpu_list *list, uint64_t *ref)
{
	(void)list;
	(void)ref;
	return -EOPNOTSUPP;
}

static inline int vgpu_device_props_decode(const void *out, uint64_t len,
					   struct vgpu_device_props *props)
{
	(void)out;
	(void)len;
	(void)props;
	return -EOPNOTSUPP;
}

static inline int vgpu_cmd_module_global(struct vgpu_list *list, uint64_t module,
					 const char *name, uint64_t *ref)
{
	(void)list;
	(void)module;
	(void)name;
	(void)ref;
	return -EOPNOTSUPP;
}
#endif /* VGPU_CMD_DEVICE_INFO */

#endif /* VGPU_CUDART_COMPAT_H */
