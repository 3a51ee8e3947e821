/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the host tests: seeded random inputs (the seed is
 * printed so that a failure can be replayed with VGPU_TEST_SEED=N) and a
 * mediator under test in a scratch spool on tmpfs.
 */
#ifndef VGPU_TESTLIB_H
#define VGPU_TESTLIB_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vgpu/ops.h"

/* Seed from VGPU_TEST_SEED or the clock; printed as a KTAP comment. */
uint64_t test_seed(void);
uint64_t test_rand(void);
uint64_t test_rand_range(uint64_t lo, uint64_t hi);	/* inclusive */
void test_rand_bytes(void *buf, size_t len);
void test_rand_floats(float *f, size_t n);		/* in [-1, 1] */
/* Random input for @d's op and shape, array by array as the op table says:
 * floats in [-1, 1] (as f32 or bf16), bytes anything. @in: d->in_len. */
void test_rand_op_input(const struct vgpu_job_desc *d, void *in);

/* A mediator running in its own scratch directory. */
struct test_mediator {
	char root[256];		/* scratch dir: spool/, state/, conf, log */
	char conf[300];
	char sock[300];
	char log[300];
	pid_t pid;
	unsigned int nofile;	/* RLIMIT_NOFILE for the mediator, or 0 */
};

/* Create the scratch dir with @vm_sections appended to a [mediator] section
 * (@extra_mediator_keys may add keys to it). */
int tm_init(struct test_mediator *t, const char *extra_mediator_keys,
	    const char *vm_sections);
/* Start the mediator and wait until its control socket answers. */
int tm_start(struct test_mediator *t);
/* SIGTERM (or @sig), then wait; returns the exit status or -1. */
int tm_stop(struct test_mediator *t, int sig);
void tm_cleanup(struct test_mediator *t);	/* rm -rf the scratch dir */
/* Path of VM @name's directory into @buf. */
const char *tm_vmdir(const struct test_mediator *t, const char *name, char *buf, size_t len);
/* Path of VM @name's private record (the default private_dir) into @buf. */
const char *tm_privdir(const struct test_mediator *t, const char *name, char *buf, size_t len);
/* Output of `vgpuctl status` into @buf; 0 or -1. */
int tm_status(const struct test_mediator *t, char *buf, size_t len);
/* CPU time (user+sys, clock ticks) used by the mediator so far. */
long tm_cpu_ticks(const struct test_mediator *t);
/*
 * Time the mediator's threads have been running or waiting for a CPU so far
 * (ns, /proc/PID/task/TID/schedstat): a thread that polls adds the time it
 * polls whatever else the host runs; -1 where the kernel does not say.
 */
int64_t tm_runnable_ns(const struct test_mediator *t);
/* The pid of the executor the mediator @t runs for VM id @vm_id, or 0. */
pid_t tm_executor_of(const struct test_mediator *t, unsigned int vm_id);
/* Path of a program built next to the tests (vgpu-mediator, vgpuctl). */
const char *test_bin(const char *name);
/* Up to @len - 1 bytes of file @path into @buf, NUL-terminated; bytes or -1. */
ssize_t test_slurp(const char *path, char *buf, size_t len);
/* The real uid of process @pid, or -1. */
long test_uid_of(pid_t pid);
/* The number after "@key:" in /proc/@pid/status (its first, for a list:
 * the real uid of "Uid", the KiB of "RssAnon"), or -1. */
long test_status_field(pid_t pid, const char *key);
/* The lowest and highest CPU this thread may run on; 0, or -1 on error. */
int test_cpu_range(int *first, int *last);
void test_sleep_ms(unsigned int ms);
/* Publish @len bytes of @buf as req/@name of @vmdir (through tmp/); 0 or -1. */
int test_put_req(const char *vmdir, const char *name, const void *buf, size_t len);
/*
 * Wait up to @timeout_ms for rsp/ID of @vmdir, read it into @h (the output
 * only checked) and remove it: its status, another -errno, or 1 if none.
 */
struct vgpu_rsp_hdr;
int test_wait_rsp(const char *vmdir, uint64_t id, struct vgpu_rsp_hdr *h, unsigned int timeout_ms);
/* Count the entries of @dir (not . or ..); -1 on error. */
int test_count_entries(const char *dir);

#endif /* VGPU_TESTLIB_H */
