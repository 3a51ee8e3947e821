/* SPDX-License-Identifier: MIT */
/*
 * The interface between the mediator and the code that runs jobs: the CPU
 * reference backend (cuda/backend_cpu.c) and the CUDA backend
 * (cuda/backend_cuda.cu). The mediator owns files, queues and the protocol;
 * a backend owns compute. A backend never sees a request it has to
 * validate: op, shape and lengths were checked by vgpu_req_check() before
 * the job reached it.
 *
 * Threading: open() and close() run on the mediator's main thread. Each pool
 * has one worker thread, and run() for a pool is only ever called from that
 * pool's worker, one job at a time; different pools' run() calls overlap.
 */
#ifndef VGPU_BACKEND_H
#define VGPU_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/ops.h"
#include "vgpu/proto.h"

/* A job's input and output: read and written with vgpu_job_read(),
 * vgpu_job_input_end() and vgpu_job_write() of dom0-lib/job.h. */
struct vgpu_job;

/* What a backend learns about a job: struct vgpu_job_desc of vgpu/ops.h. */

/* Per-pool settings from the mediator config. */
struct vgpu_pool_conf {
	unsigned int index;		/* VGPU_POOL_A or VGPU_POOL_B */
	unsigned int sms;		/* SMs reserved (0: share all) */
	uint64_t mem_limit;		/* device bytes a job may use (0: no cap) */
};

struct vgpu_backend_conf {
	struct vgpu_pool_conf pools[2];
	unsigned int nr_pools;
	uint64_t staging_bytes;		/* pinned staging buffer per pool */
};

struct vgpu_backend;			/* private to each backend */

struct vgpu_backend_ops {
	const char *name;
	/*
	 * Whether this backend can run here (a usable GPU for CUDA). Returns
	 * 0 or a negative errno with a reason in @why (VGPU_MSG_LEN).
	 */
	int (*probe)(char *why);
	int (*open)(const struct vgpu_backend_conf *conf,
		    struct vgpu_backend **out, char *why);
	/*
	 * Run one job of @pool to completion. Returns 0 or a negative errno;
	 * on failure @msg (VGPU_MSG_LEN) says why and goes to the guest. A
	 * failure is the job's alone: the backend must stay usable.
	 */
	int (*run)(struct vgpu_backend *be, unsigned int pool,
		   const struct vgpu_job_desc *desc, struct vgpu_job *job,
		   char *msg);
	void (*close)(struct vgpu_backend *be);
};

extern const struct vgpu_backend_ops vgpu_backend_cpu;
/* Defined only when built with nvcc (VGPU_HAVE_CUDA). */
extern const struct vgpu_backend_ops vgpu_backend_cuda;

#endif /* VGPU_BACKEND_H */
