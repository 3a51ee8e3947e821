// SPDX-License-Identifier: MIT
/*
 * vgpu-executor's CPU backend: device memory is host memory the executor
 * owns, timestamps are CLOCK_MONOTONIC, and there are no GPU modules
 * (module commands fail with -EOPNOTSUPP in run.c). It lets CI run
 * sessions, handles, quotas, copies and the built-in ops (staged by run.c
 * through the op table's CPU reference). Main thread only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "executor.h"

static uint64_t list_t0;	/* ns, CLOCK_MONOTONIC, at list_begin */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cpu_init(int device, char name[64], char *msg)
{
	(void)device, (void)msg;
	snprintf(name, 64, "cpu");
	return 0;
}

static int cpu_alloc(uint64_t size, uint64_t *addr, char *msg)
{
	void *p = size <= SIZE_MAX ? calloc(1, (size_t)size) : NULL;

	if (!p) {
		snprintf(msg, VGPU_SESS_MSG_LEN, "alloc: out of host memory for %llu bytes",
			 (unsigned long long)size);
		return -ENOMEM;
	}
	*addr = (uint64_t)(uintptr_t)p;
	return 0;
}

static void cpu_free(uint64_t addr)
{
	free((void *)(uintptr_t)addr);
}

static int cpu_memset(uint64_t addr, uint8_t value, uint64_t len, char *msg)
{
	(void)msg;
	memset((void *)(uintptr_t)addr, value, (size_t)len);
	return 0;
}

static int cpu_h2d(uint64_t dst, const void *src, uint64_t len, char *msg)
{
	(void)msg;
	memcpy((void *)(uintptr_t)dst, src, (size_t)len);
	return 0;
}

static int cpu_d2h(void *dst, uint64_t src, uint64_t len, char *msg)
{
	(void)msg;
	memcpy(dst, (const void *)(uintptr_t)src, (size_t)len);
	return 0;
}

static int cpu_d2d(uint64_t dst, uint64_t src, uint64_t len, char *msg)
{
	(void)msg;
	memcpy((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, (size_t)len);
	return 0;
}

static int cpu_list_begin(char *msg)
{
	(void)msg;
	list_t0 = now_ns();
	return 0;
}

static int cpu_timestamp(uint64_t *ns, char *msg)
{
	(void)msg;
	*ns = now_ns() - list_t0;
	return 0;
}

static int cpu_list_end(char *msg)
{
	(void)msg;
	return 0;
}

/*
 * The CPU reference as a device: a Hopper's shape (compute capability 9.0,
 * its limits of blocks, grids, shared memory and registers) so that what a
 * CUDA runtime computes from them (occupancy, launch checks) is what it
 * would compute on the GPU; an SM per online CPU, the host's memory.
 */
static int cpu_props(struct vgpu_device_props *p, char *msg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);

	(void)msg;
	snprintf(p->name, sizeof(p->name), "vgpu CPU reference");
	p->cc_major = 9;
	p->cc_minor = 0;
	p->multiprocessors = cpus > 0 ? (uint32_t)cpus : 1;
	p->warp_size = 32;
	p->total_mem = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page : 0;
	p->max_threads_per_block = 1024;
	p->max_block[0] = 1024, p->max_block[1] = 1024, p->max_block[2] = 64;
	p->max_grid[0] = 0x7fffffff, p->max_grid[1] = 65535, p->max_grid[2] = 65535;
	p->shared_per_block = 48 << 10;
	p->shared_per_block_optin = 227 << 10;
	p->shared_per_sm = 228 << 10;
	p->regs_per_block = p->regs_per_sm = 65536;
	p->max_threads_per_sm = 2048;
	p->max_blocks_per_sm = 32;
	p->const_bytes = 64 << 10;
	return 0;
}

static bool cpu_lost;	/* never: the CPU backend has no context to lose */

const struct xbackend xbackend_cpu = {
	.name = "cpu",
	.init = cpu_init,
	.alloc = cpu_alloc,
	.free = cpu_free,
	.memset = cpu_memset,
	.h2d = cpu_h2d,
	.d2h = cpu_d2h,
	.d2d = cpu_d2d,
	.list_begin = cpu_list_begin,
	.timestamp = cpu_timestamp,
	.props = cpu_props,
	.list_end = cpu_list_end,
	.lost = &cpu_lost,
};
