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

#include "vgpu/proto.h"

struct vgpu_job;

/*
 * Streamed job I/O, provided by the mediator. Input is read in order, in
 * chunks of any size; the CRC is checked by vgpu_job_input_end(), which
 * the backend must call after reading the last input byte and before it
 * starts computing (it returns -EBADMSG on a mismatch: fail the job). Output
 * is written in order and must total exactly out_len bytes.
 * Each returns 0 or a negative errno.
 */
int vgpu_job_read(struct vgpu_job *job, void *buf, size_t len);
int vgpu_job_input_end(struct vgpu_job *job);
int vgpu_job_write(struct vgpu_job *job, const void *buf, size_t len);

/* What a backend learns about a job. */
struct vgpu_job_desc {
	uint32_t op;			/* enum vgpu_op, already validated */
	uint64_t args[VGPU_NR_ARGS];
	uint64_t in_len;		/* bytes to read with vgpu_job_read */
	uint64_t out_len;		/* bytes to write with vgpu_job_write */
	uint32_t vm_id;
};

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

/*
 * The CPU reference implementation of every op on host buffers, used by the
 * CPU backend and by tests and benches as the reference. @in holds
 * desc->in_len bytes, @out desc->out_len bytes. Returns 0 or -errno.
 */
int vgpu_cpu_compute(const struct vgpu_job_desc *desc, const void *in,
		     void *out, char *msg);

/*
 * Checks @out (desc->out_len bytes) against the CPU reference for @in with
 * the per-op tolerance of Documentation/protocol.rst: float32 elementwise
 * ops within 1e-6 relative per element, GEMMs and the reduction by
 * ||out - ref|| / ||ref|| (fp32 <= 1e-3, bf16 <= 1e-2), checksums exact; NaN
 * never passes. Returns 0 if it matches, -EDOM if not (@msg says where),
 * -ENOMEM; *@rel_err gets the error measured.
 */
int vgpu_cpu_verify(const struct vgpu_job_desc *desc, const void *in, const void *out,
		    double *rel_err, char *msg);

#endif /* VGPU_BACKEND_H */
