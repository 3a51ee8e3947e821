/* SPDX-License-Identifier: MIT */
/*
 * struct vgpu_job: a job's streamed input and output, which a backend
 * (include/vgpu/backend.h) reads and writes with vgpu_job_read/input_end/
 * write, and the I/O team that splits the copies. Dom0 only: libvgpu-dom0.
 *
 * Threads: a job, and the team serving it, are used by one thread at a
 * time (the pool's worker that runs it, or the caller of a memory job);
 * the team's helpers touch only the pieces they are handed.
 *
 * A file job reads the request payload from a request fd (explicit pread,
 * never mmap: the files may live on NFS) while computing its CRC32C, and
 * writes the output to a response fd while computing the response CRC.
 * A memory job (tests, benches) reads from and writes to caller buffers
 * and has no CRC to check.
 *
 * An I/O team splits each large read or write of a file job between the
 * calling thread and helper threads: one thread copies from or to the page
 * cache at a few GB/s, well under what the memory can do (a 256 MiB SAXPY
 * file job moves 1.4 times as fast with two threads on the H100 machine).
 * Each piece's CRC is computed by the thread that moved it, and the
 * pieces' CRCs are combined in order. The calling thread takes any piece
 * no helper has started, so a helper slow to wake never delays a job.
 */
#ifndef VGPU_JOB_H
#define VGPU_JOB_H

#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vgpu/proto.h"

struct vgpu_io_team;

/*
 * Streamed job I/O, for backends. Input is read in order, in chunks of any
 * size; the CRC is checked by vgpu_job_input_end(), which the backend must
 * call after reading the last input byte and before it starts computing
 * (it returns -EBADMSG on a mismatch: fail the job). Output is written in
 * order and must total exactly out_len bytes. Each returns 0 or a
 * negative errno.
 */
struct vgpu_job;
int vgpu_job_read(struct vgpu_job *job, void *buf, size_t len);
int vgpu_job_input_end(struct vgpu_job *job);
int vgpu_job_write(struct vgpu_job *job, const void *buf, size_t len);

struct vgpu_job {
	struct vgpu_io_team *team;	/* NULL: the calling thread alone */
	/* input */
	int in_fd;			/* -1 for a memory job */
	const uint8_t *in_mem;
	uint64_t in_off;		/* file offset or buffer offset of next byte */
	uint64_t in_left;		/* bytes not yet read */
	uint32_t in_crc;		/* running CRC32C of the payload read */
	bool check_crc;
	struct vgpu_req_hdr req;	/* header the CRC is completed over */
	bool input_ok;			/* vgpu_job_input_end() succeeded */
	/* output */
	int out_fd;
	uint8_t *out_mem;
	uint64_t out_off;
	uint64_t out_left;
	uint32_t out_crc;		/* running CRC32C of the output written */
};

/* Input from @in_fd at @in_off (payload of @req), output to @out_fd at
 * @out_off; out_len from @req. */
void vgpu_job_init_file(struct vgpu_job *job, const struct vgpu_req_hdr *req,
			int in_fd, uint64_t in_off, int out_fd, uint64_t out_off);
void vgpu_job_init_mem(struct vgpu_job *job, const void *in, uint64_t in_len,
		       void *out, uint64_t out_len);

/*
 * A team of @threads threads (the caller and @threads - 1 helpers, at most
 * VGPU_IO_TEAM_MAX), helpers named "@name/1", "@name/2", ... and bound to
 * @cpus (NULL: not bound). After a piece a helper polls for the next for
 * @spin_ns before it sleeps. *@out is NULL for one thread: no team needed.
 * Returns 0 or -errno. A team serves one thread's jobs at a time (a pool's
 * worker); set job->team after vgpu_job_init_file().
 */
#define VGPU_IO_TEAM_MAX	16
int vgpu_io_team_create(unsigned int threads, uint64_t spin_ns, const cpu_set_t *cpus,
			const char *name, struct vgpu_io_team **out);
void vgpu_io_team_destroy(struct vgpu_io_team *t);

/* True once all output was written. */
static inline bool vgpu_job_output_complete(const struct vgpu_job *job)
{
	return job->out_left == 0;
}

#endif /* VGPU_JOB_H */
