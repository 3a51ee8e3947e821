// SPDX-License-Identifier: MIT
/*
 * CPU backend: reads the whole input, verifies it, computes the reference
 * and writes the output. Host memory per job is in_len + out_len, bounded
 * by the VM's max_payload_bytes; nothing is held between jobs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "job.h"
#include "vgpu/backend.h"

struct vgpu_backend {
	int unused;
};

static int cpu_probe(char *why)
{
	(void)why;
	return 0;
}

static int cpu_open(const struct vgpu_backend_conf *conf, struct vgpu_backend **out,
		    char *why)
{
	(void)conf;
	*out = calloc(1, sizeof(**out));
	if (!*out) {
		snprintf(why, VGPU_MSG_LEN, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

static int cpu_run(struct vgpu_backend *be, unsigned int pool,
		   const struct vgpu_job_desc *d, struct vgpu_job *job, char *msg)
{
	void *in = NULL, *out = NULL;
	int err = -ENOMEM;

	(void)be;
	(void)pool;
	if ((d->in_len && !(in = malloc(d->in_len))) ||
	    (d->out_len && !(out = malloc(d->out_len)))) {
		snprintf(msg, VGPU_MSG_LEN, "out of host memory (%llu bytes)",
			 (unsigned long long)(d->in_len + d->out_len));
		goto out;
	}
	err = vgpu_job_read(job, in, d->in_len);
	if (err) {
		snprintf(msg, VGPU_MSG_LEN, "reading the payload failed");
		goto out;
	}
	err = vgpu_job_input_end(job);
	if (err) {
		snprintf(msg, VGPU_MSG_LEN, "payload CRC32C mismatch");
		goto out;
	}
	err = vgpu_cpu_compute(d, in, out, msg);
	if (err)
		goto out;
	err = vgpu_job_write(job, out, d->out_len);
	if (err)
		snprintf(msg, VGPU_MSG_LEN, "writing the output failed");
out:
	free(in);
	free(out);
	return err;
}

static void cpu_close(struct vgpu_backend *be)
{
	free(be);
}

const struct vgpu_backend_ops vgpu_backend_cpu = {
	.name = "cpu",
	.probe = cpu_probe,
	.open = cpu_open,
	.run = cpu_run,
	.close = cpu_close,
};
