// SPDX-License-Identifier: MIT
/*
 * Streamed job I/O for backends (include/vgpu/backend.h). Explicit pread and
 * pwrite only: request and response files may live on NFS, where mmap would
 * turn a server hiccup into SIGBUS.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "spool.h"

void vgpu_job_init_file(struct vgpu_job *job, const struct vgpu_req_hdr *req,
			int in_fd, uint64_t in_off, int out_fd, uint64_t out_off)
{
	memset(job, 0, sizeof(*job));
	job->in_fd = in_fd;
	job->in_off = in_off;
	job->in_left = req->payload_len;
	job->check_crc = true;
	job->req = *req;
	job->out_fd = out_fd;
	job->out_off = out_off;
	job->out_left = req->out_len;
}

void vgpu_job_init_mem(struct vgpu_job *job, const void *in, uint64_t in_len,
		       void *out, uint64_t out_len)
{
	memset(job, 0, sizeof(*job));
	job->in_fd = -1;
	job->in_mem = in;
	job->in_left = in_len;
	job->out_fd = -1;
	job->out_mem = out;
	job->out_left = out_len;
}

int vgpu_job_read(struct vgpu_job *job, void *buf, size_t len)
{
	uint8_t *p = buf;

	if (len > job->in_left)
		return -EINVAL;
	if (job->in_fd < 0) {
		memcpy(p, job->in_mem + job->in_off, len);
		job->in_off += len;
		job->in_left -= len;
		return 0;
	}
	while (len) {
		ssize_t n = pread(job->in_fd, p, len, (off_t)job->in_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)		/* file shrank under us */
			return -EBADMSG;
		job->in_crc = vgpu_crc32c(job->in_crc, p, (size_t)n);
		job->in_off += (uint64_t)n;
		job->in_left -= (uint64_t)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* A later minor revision may append header fields: the CRC covers them. */
static int crc_header_extension(int fd, uint32_t hdr_size, uint32_t known, uint32_t *crc)
{
	uint8_t ext[VGPU_HDR_SIZE_MAX];

	if (hdr_size <= known)
		return 0;
	if (vgpu_pread_full(fd, ext, hdr_size - known, known))
		return -EBADMSG;
	*crc = vgpu_crc32c(*crc, ext, hdr_size - known);
	return 0;
}

int vgpu_job_input_end(struct vgpu_job *job)
{
	uint32_t crc;

	if (job->in_left)
		return -EINVAL;
	if (job->check_crc) {
		crc = vgpu_req_crc(&job->req, job->in_crc);
		if (crc_header_extension(job->in_fd, job->req.hdr_size, VGPU_REQ_HDR_SIZE, &crc) ||
		    crc != job->req.crc32c)
			return -EBADMSG;
	}
	job->input_ok = true;
	return 0;
}

int vgpu_job_write(struct vgpu_job *job, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (!job->input_ok)	/* no output before the input was verified */
		return -EPROTO;
	if (len > job->out_left)
		return -EINVAL;
	if (job->out_fd < 0) {
		memcpy(job->out_mem + job->out_off, p, len);
		job->out_off += len;
		job->out_left -= len;
		return 0;
	}
	job->out_crc = vgpu_crc32c(job->out_crc, p, len);
	while (len) {
		ssize_t n = pwrite(job->out_fd, p, len, (off_t)job->out_off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		job->out_off += (uint64_t)n;
		job->out_left -= (uint64_t)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
