/* SPDX-License-Identifier: MIT */
/*
 * Helpers of the guest tests (they run inside the test VM, statically
 * linked): the device, its sysfs files, module parameters, random jobs
 * checked against the CPU reference.
 */
#ifndef VGPU_GUEST_UTIL_H
#define VGPU_GUEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <misc/vgpu.h>

#include "testlib.h"
#include "vgpu/ops.h"
#include "vgpu/proto.h"

#define DEV0		"/dev/vgpu0"
#define PARAMS		"/sys/module/vgpu/parameters/"

/* The misc device whose PCI device is @bdf ("0000:00:10.0"), or NULL. */
static inline const char *dev_by_bdf(const char *bdf, char *buf, size_t len)
{
	DIR *d = opendir("/sys/class/misc");
	struct dirent *de;
	const char *ret = NULL;

	while (d && (de = readdir(d))) {
		char link[PATH_MAX], path[PATH_MAX];
		ssize_t n;

		if (strncmp(de->d_name, "vgpu", 4))
			continue;
		snprintf(path, sizeof(path), "/sys/class/misc/%s/device", de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n < 0)
			continue;
		link[n] = '\0';
		if (!strcmp(strrchr(link, '/') + 1, bdf)) {
			snprintf(buf, len, "/dev/%s", de->d_name);
			ret = buf;
			break;
		}
	}
	if (d)
		closedir(d);
	return ret;
}

/* Contents of a small sysfs file without the newline, or "" on error. */
static inline const char *sysfs_read(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");

	buf[0] = '\0';
	if (f) {
		if (!fgets(buf, (int)len, f))
			buf[0] = '\0';
		fclose(f);
	}
	buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

static inline int sysfs_write(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, val, strlen(val));
	close(fd);
	return n < 0 ? -errno : 0;
}

/* A counter of /dev/vgpu0's PCI device. */
static inline uint64_t dev_counter(const char *name)
{
	char path[256], buf[64];

	snprintf(path, sizeof(path), "/sys/class/misc/vgpu0/device/%s", name);
	return strtoull(sysfs_read(path, buf, sizeof(buf)), NULL, 0);
}

/* SUBMIT; returns 0 or -errno of the ioctl. */
static inline int submit(int fd, struct vgpu_submit *s)
{
	s->argsz = sizeof(*s);
	return ioctl(fd, VGPU_IOC_SUBMIT, s) ? -errno : 0;
}

/* A random job of @op of modest size: input and output allocated. */
struct rjob {
	struct vgpu_job_desc d;
	void *in, *out;
};

static inline void rjob_make(struct rjob *j, uint32_t op)
{
	uint64_t in_len, out_len, n;
	char why[VGPU_MSG_LEN];
	float alpha;

	memset(j, 0, sizeof(*j));
	j->d.op = op;
	switch (op) {
	case VGPU_OP_VECTOR_ADD:
	case VGPU_OP_REDUCE_SUM:
		j->d.args[0] = test_rand_range(1, 4096);
		break;
	case VGPU_OP_SAXPY:
		j->d.args[0] = test_rand_range(1, 4096);
		alpha = (float)test_rand_range(0, 2000) / 1000.0f - 1.0f;
		memcpy(&n, &alpha, 4);
		j->d.args[1] = n & 0xffffffffu;
		break;
	case VGPU_OP_SGEMM:
	case VGPU_OP_GEMM_BF16:
		j->d.args[0] = test_rand_range(1, 48);
		j->d.args[1] = test_rand_range(1, 48);
		j->d.args[2] = test_rand_range(1, 48);
		break;
	case VGPU_OP_CHECKSUM:
		j->d.args[0] = test_rand_range(1, 65536);
		break;
	case VGPU_OP_SPIN:
		j->d.args[0] = test_rand_range(0, 2000000);	/* ns */
		break;
	}
	if (vgpu_op_sizes(op, j->d.args, &in_len, &out_len, why)) {
		fprintf(stderr, "bad shape: %s\n", why);
		abort();
	}
	j->d.in_len = in_len;
	j->d.out_len = out_len;
	j->in = malloc(in_len + 1);
	j->out = calloc(1, out_len + 1);
	test_rand_op_input(&j->d, j->in);
}

static inline void rjob_submit_args(const struct rjob *j, struct vgpu_submit *s)
{
	memset(s, 0, sizeof(*s));
	s->op = j->d.op;
	memcpy(s->args, j->d.args, sizeof(s->args));
	s->in_ptr = (uintptr_t)j->in;
	s->in_len = j->d.in_len;
	s->out_ptr = (uintptr_t)j->out;
	s->out_len = j->d.out_len;
}

/* 0 if @j's output matches the CPU reference; @msg says otherwise. */
static inline int rjob_verify(const struct rjob *j, char *msg)
{
	double rel;

	return vgpu_cpu_verify(&j->d, j->in, j->out, &rel, msg);
}

static inline void rjob_free(struct rjob *j)
{
	free(j->in);
	free(j->out);
}

#endif /* VGPU_GUEST_UTIL_H */
