// SPDX-License-Identifier: MIT
/*
 * Guest tests of vgpu.ko without Dom0: the test plays the agent itself
 * (a thread that fetches, computes with the CPU reference and completes),
 * so every driver semantic can be forced: info, argument checks, the
 * in-flight byte budget, signals, timeouts, late completions, agent death
 * and redelivery, the grace period, concurrency, unbind with waiters.
 *
 * Runs in the test VM booted by tests/guest/vm-dev with three vgpu-stub
 * devices (the variants of FIXTURE info below).
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "guest_util.h"
#include "kselftest_harness.h"
#include "vgpu/session.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* ---- a fake agent ---------------------------------------------------- */

struct fake_agent {
	pthread_t thread;
	int fd;
	atomic_bool stop;
	atomic_uint served;
	bool hold;		/* fetch but never complete */
	uint64_t last_id;
};

static void *fake_agent_run(void *arg)
{
	struct fake_agent *a = arg;
	size_t cap = 1 << 20;
	void *in = malloc(cap);

	while (!a->stop) {
		struct vgpu_fetch f = { .argsz = sizeof(f), .in_ptr = (uintptr_t)in,
					.in_cap = cap, .timeout_ns = 50000000 };
		struct vgpu_complete c = { .argsz = sizeof(c) };
		struct vgpu_job_desc d = { 0 };
		char msg[VGPU_MSG_LEN];
		void *out;

		if (ioctl(a->fd, VGPU_IOC_AGENT_FETCH, &f))
			continue;
		a->last_id = f.id;
		if (a->hold)
			continue;
		d.op = f.op;
		memcpy(d.args, f.args, sizeof(d.args));
		d.in_len = f.in_len;
		d.out_len = f.out_len;
		out = calloc(1, f.out_len + 1);
		c.id = f.id;
		msg[0] = '\0';
		c.status = vgpu_cpu_compute(&d, in, out, msg);
		if (c.status)	/* the submitter gets it (API version 2) */
			snprintf(c.msg, sizeof(c.msg), "fake agent: %.50s", msg);
		c.out_ptr = (uintptr_t)out;
		c.out_len = c.status ? 0 : f.out_len;
		c.queued_ns = 1;
		c.started_ns = 2;
		c.finished_ns = 3;
		ioctl(a->fd, VGPU_IOC_AGENT_COMPLETE, &c);
		free(out);
		a->served++;
	}
	free(in);
	return NULL;
}

static int fake_agent_start(struct fake_agent *a, bool hold)
{
	struct vgpu_attach at = { .argsz = sizeof(at) };

	memset(a, 0, sizeof(*a));
	a->hold = hold;
	a->fd = open(DEV0, O_RDWR);
	if (a->fd < 0 || ioctl(a->fd, VGPU_IOC_AGENT_ATTACH, &at))
		return -errno;
	return pthread_create(&a->thread, NULL, fake_agent_run, a) ? -1 : 0;
}

static void fake_agent_stop(struct fake_agent *a)
{
	a->stop = true;
	pthread_join(a->thread, NULL);
	close(a->fd);
}

/* ---- info: several property sets --------------------------------------- */

FIXTURE(info) {
	int fd;
	char dev[300];
};

FIXTURE_VARIANT(info) {
	const char *bdf;	/* where tests/guest/vm-dev puts the device */
	uint32_t pool, priority, vm_id;
	const char *pool_name, *prio_name;
};

/* Keep in step with DEVICES in tests/guest/vm-dev. */
FIXTURE_VARIANT_ADD(info, slot4_A_medium_11) {
	.bdf = "0000:00:04.0", .pool = 0, .priority = 1, .vm_id = 11,
	.pool_name = "A", .prio_name = "medium",
};
FIXTURE_VARIANT_ADD(info, slot16_B_high_77) {
	.bdf = "0000:00:10.0", .pool = 1, .priority = 2, .vm_id = 77,
	.pool_name = "B", .prio_name = "high",
};
FIXTURE_VARIANT_ADD(info, slot17_A_low_max) {
	.bdf = "0000:00:11.0", .pool = 0, .priority = 0, .vm_id = 4294967295u,
	.pool_name = "A", .prio_name = "low",
};

FIXTURE_SETUP(info)
{
	ASSERT_NE(NULL, dev_by_bdf(variant->bdf, self->dev, sizeof(self->dev)))
		TH_LOG("no /dev/vgpuN for %s", variant->bdf);
	self->fd = open(self->dev, O_RDWR);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", self->dev, strerror(errno));
}

FIXTURE_TEARDOWN(info)
{
	close(self->fd);
}

TEST_F(info, get_info_equals_qemu_properties)
{
	struct vgpu_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(0, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(variant->vm_id, info.vm_id);
	EXPECT_EQ(variant->pool, info.pool);
	EXPECT_EQ(variant->priority, info.priority);
	EXPECT_EQ(0x00010000u, info.version);
	EXPECT_EQ(VGPU_FEAT_STATUS, info.features);
	EXPECT_EQ(VGPU_API_VERSION, info.api_version);
	EXPECT_NE(0, info.max_inflight_bytes);
	EXPECT_NE(0, info.instance);
	EXPECT_EQ(0, info.flags);
}

TEST_F(info, sysfs_equals_qemu_properties)
{
	char path[256], buf[64], num[16];

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/pool", variant->bdf);
	EXPECT_STREQ(variant->pool_name, sysfs_read(path, buf, sizeof(buf)));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/priority", variant->bdf);
	EXPECT_STREQ(variant->prio_name, sysfs_read(path, buf, sizeof(buf)));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/vm_id", variant->bdf);
	snprintf(num, sizeof(num), "%u", variant->vm_id);
	EXPECT_STREQ(num, sysfs_read(path, buf, sizeof(buf)));
	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/version", variant->bdf);
	EXPECT_STREQ("1.0", sysfs_read(path, buf, sizeof(buf)));
}

/* ---- argument checks ----------------------------------------------------- */

FIXTURE(dev) {
	int fd;
};

FIXTURE_SETUP(dev)
{
	self->fd = open(DEV0, O_RDWR);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", DEV0, strerror(errno));
	test_seed();
}

FIXTURE_TEARDOWN(dev)
{
	close(self->fd);
}

TEST_F(dev, unknown_ioctl_is_enotty)
{
	char buf[256] = { 0 };

	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(VGPU_IOC_MAGIC, 42, struct vgpu_info), buf));
	EXPECT_EQ(ENOTTY, errno);
	/* The right number with another size is another command. */
	EXPECT_EQ(-1, ioctl(self->fd, _IOWR(VGPU_IOC_MAGIC, 0, uint64_t), buf));
	EXPECT_EQ(ENOTTY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, _IO('X', 1)));
	EXPECT_EQ(ENOTTY, errno);
}

TEST_F(dev, bad_argsz_is_einval)
{
	struct {
		struct vgpu_info info;
		uint64_t tail[2];
	} big = { 0 };
	struct vgpu_info info = { .argsz = sizeof(info) - 8 };
	struct vgpu_submit s = { .argsz = 8 };

	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	info.argsz = 0;
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_SUBMIT, &s));
	EXPECT_EQ(EINVAL, errno);
	/* Larger is fine while the bytes the kernel does not know are 0. */
	big.info.argsz = sizeof(big);
	EXPECT_EQ(0, ioctl(self->fd, VGPU_IOC_GET_INFO, &big));
	EXPECT_NE(0, big.info.vm_id);
	big.tail[1] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_GET_INFO, &big));
	EXPECT_EQ(EINVAL, errno);
	big.info.argsz = 1 << 20;
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_GET_INFO, &big));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(dev, flags_and_reserved_must_be_zero)
{
	struct vgpu_info info = { .argsz = sizeof(info), .flags = 1 };
	struct vgpu_submit s = { 0 };
	struct vgpu_attach at = { .argsz = sizeof(at) };

	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	info = (struct vgpu_info){ .argsz = sizeof(info), .reserved[1] = 5 };
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(EINVAL, errno);
	s.flags = 0x80000000u;
	EXPECT_EQ(-EINVAL, submit(self->fd, &s));
	s = (struct vgpu_submit){ .reserved[0] = 1 };
	EXPECT_EQ(-EINVAL, submit(self->fd, &s));
	at.reserved[1] = 1;
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_AGENT_ATTACH, &at));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(dev, bad_pointers_are_efault)
{
	struct vgpu_submit s = { .op = VGPU_OP_CHECKSUM, .args = { 16 }, .in_len = 16 };
	uint32_t out;

	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_GET_INFO, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_SUBMIT, (void *)-4096L));
	EXPECT_EQ(EFAULT, errno);
	s.in_ptr = 0;		/* NULL with a length */
	s.out_ptr = (uintptr_t)&out;
	s.out_len = 4;
	EXPECT_EQ(-EFAULT, submit(self->fd, &s));
	s.in_ptr = 16;		/* unmapped */
	EXPECT_EQ(-EFAULT, submit(self->fd, &s));
	s.in_ptr = 0xffffffffffff0000ull;	/* kernel address */
	EXPECT_EQ(-EFAULT, submit(self->fd, &s));
	EXPECT_EQ(0, dev_counter("inflight_bytes"));
	EXPECT_EQ(0, dev_counter("queued"));
}

TEST_F(dev, huge_sizes_are_e2big)
{
	static char buf[64];
	struct vgpu_submit s = { .in_ptr = (uintptr_t)buf, .out_ptr = (uintptr_t)buf };

	s.in_len = 1ull << 40;
	EXPECT_EQ(-E2BIG, submit(self->fd, &s));
	s.in_len = UINT64_MAX;
	EXPECT_EQ(-E2BIG, submit(self->fd, &s));
	s.in_len = 16;
	s.out_len = UINT64_MAX - 8;	/* the sum would wrap */
	EXPECT_EQ(-E2BIG, submit(self->fd, &s));
}

TEST_F(dev, agent_ioctls_need_an_attached_agent)
{
	struct vgpu_fetch f = { .argsz = sizeof(f) };
	struct vgpu_complete c = { .argsz = sizeof(c), .id = 1 };
	struct vgpu_attach at = { .argsz = sizeof(at) };
	int fd2 = open(DEV0, O_RDWR);

	ASSERT_LE(0, fd2);
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_AGENT_FETCH, &f));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_AGENT_COMPLETE, &c));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, ioctl(self->fd, VGPU_IOC_AGENT_ATTACH, &at));
	EXPECT_NE(0, at.vm_id);
	EXPECT_EQ(0, at.redelivered);
	EXPECT_EQ(1, dev_counter("agent_attached"));
	at = (struct vgpu_attach){ .argsz = sizeof(at) };
	EXPECT_EQ(-1, ioctl(fd2, VGPU_IOC_AGENT_ATTACH, &at));
	EXPECT_EQ(EBUSY, errno);
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_AGENT_ATTACH, &at));
	EXPECT_EQ(EBUSY, errno);
	/* Nothing queued, no waiting. */
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_AGENT_FETCH, &f));
	EXPECT_EQ(EAGAIN, errno);
	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_AGENT_COMPLETE, &c));
	EXPECT_EQ(ENOENT, errno);
	close(fd2);
	close(self->fd);
	self->fd = open(DEV0, O_RDWR);
	EXPECT_EQ(0, dev_counter("agent_attached"));
}

/* ---- round trips through a fake agent ---------------------------------- */

TEST_F(dev, every_op_through_a_fake_agent)
{
	struct fake_agent a;

	ASSERT_EQ(0, fake_agent_start(&a, false));
	for (uint32_t op = 0; op < VGPU_NR_OPS; op++) {
		struct vgpu_submit s;
		char msg[VGPU_MSG_LEN] = "";
		struct rjob j;

		rjob_make(&j, op);
		rjob_submit_args(&j, &s);
		ASSERT_EQ(0, submit(self->fd, &s)) TH_LOG("op %s", vgpu_op_name(op));
		EXPECT_EQ(0, s.status);
		EXPECT_EQ(j.d.out_len, s.out_written);
		EXPECT_EQ(3, s.finished_ns);
		EXPECT_EQ(0, rjob_verify(&j, msg)) TH_LOG("op %s: %s", vgpu_op_name(op), msg);
		rjob_free(&j);
	}
	fake_agent_stop(&a);
	EXPECT_EQ(0, dev_counter("inflight_bytes"));
}

/*
 * A failed job's message reaches the submitter; a caller of API version 1
 * (its argsz and ioctl number end before msg) gets the rest of the answer,
 * and nothing is written past its struct.
 */
TEST_F(dev, messages_reach_new_callers_and_old_ones_are_not_overrun)
{
	struct fake_agent a;
	struct {
		struct vgpu_submit s;
		uint8_t guard[64];
	} old;
	struct vgpu_submit s = { .op = VGPU_NR_OPS + 3 };

	ASSERT_EQ(0, fake_agent_start(&a, false));
	/* An op the driver passes on and the (fake) Dom0 refuses. */
	ASSERT_EQ(0, submit(self->fd, &s));
	EXPECT_EQ(-EOPNOTSUPP, s.status);
	EXPECT_EQ(0, strncmp(s.msg, "fake agent: ", 12)) TH_LOG("msg '%s'", s.msg);
	EXPECT_NE(NULL, memchr(s.msg, '\0', sizeof(s.msg)));

	/* A version 1 program: its struct is the first 144 bytes, then others. */
	memset(&old, 0x5a, sizeof(old));
	memcpy(&old.s, &s, VGPU_SUBMIT_SIZE_V1);
	old.s.argsz = VGPU_SUBMIT_SIZE_V1;
	old.s.status = 0;
	EXPECT_EQ(0, ioctl(self->fd, VGPU_IOC_SUBMIT_V1, &old.s));
	EXPECT_EQ(-EOPNOTSUPP, old.s.status);
	for (size_t i = VGPU_SUBMIT_SIZE_V1; i < sizeof(old); i++) {
		EXPECT_EQ(0x5a, ((uint8_t *)&old)[i]) TH_LOG("byte %zu past the v1 struct", i);
	}
	fake_agent_stop(&a);
}

static void on_alarm(int sig)
{
	(void)sig;
}

TEST_F(dev, signal_cancels_submit)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */
	struct vgpu_submit s = { .op = VGPU_OP_NOOP };
	uint64_t t0, cancelled = dev_counter("cancelled");
	struct fake_agent a;

	sigaction(SIGALRM, &sa, NULL);
	/* No agent: the request waits in the queue. */
	ualarm(200000, 0);
	t0 = now_ms();
	EXPECT_EQ(-EINTR, submit(self->fd, &s));
	EXPECT_GT(2000, now_ms() - t0);
	EXPECT_EQ(cancelled + 1, dev_counter("cancelled"));
	EXPECT_EQ(0, dev_counter("queued"));
	/* Fetched by an agent that holds it: the signal still cancels it. */
	ASSERT_EQ(0, fake_agent_start(&a, true));
	ualarm(300000, 0);
	EXPECT_EQ(-EINTR, submit(self->fd, &s));
	EXPECT_EQ(0, dev_counter("fetched"));
	fake_agent_stop(&a);
	/* The device still works. */
	ASSERT_EQ(0, fake_agent_start(&a, false));
	EXPECT_EQ(0, submit(self->fd, &s));
	EXPECT_EQ(0, s.status);
	fake_agent_stop(&a);
}

TEST_F(dev, timeout_cancels_and_late_completion_is_enoent)
{
	struct vgpu_submit s = { .op = VGPU_OP_CHECKSUM, .args = { 4 } };
	struct vgpu_attach at = { .argsz = sizeof(at) };
	uint32_t in = 0x12345678, out = 0;
	char buf[16];
	struct vgpu_fetch f = { .argsz = sizeof(f), .in_ptr = (uintptr_t)buf,
				.in_cap = sizeof(buf), .timeout_ns = 1000000000 };
	struct vgpu_complete c = { .argsz = sizeof(c), .out_ptr = (uintptr_t)&out,
				   .out_len = 4 };
	int afd = open(DEV0, O_RDWR);
	pid_t pid;
	int status;

	ASSERT_LE(0, afd);
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_ATTACH, &at));
	pid = fork();
	if (pid == 0) {
		s.in_ptr = (uintptr_t)&in;
		s.in_len = 4;
		s.out_ptr = (uintptr_t)&out;
		s.out_len = 4;
		s.timeout_ns = 300000000;
		_exit(submit(self->fd, &s) == -ETIMEDOUT ? 0 : 1);
	}
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_FETCH, &f));
	EXPECT_EQ(4, f.in_len);
	EXPECT_EQ(0, memcmp(buf, &in, 4));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status) TH_LOG("the submit did not time out");
	/* The submitter is gone: its buffer must not be written. */
	c.id = f.id;
	EXPECT_EQ(-1, ioctl(afd, VGPU_IOC_AGENT_COMPLETE, &c));
	EXPECT_EQ(ENOENT, errno);
	EXPECT_EQ(0, dev_counter("inflight_bytes"));
	close(afd);
}

TEST_F(dev, complete_checks_its_arguments)
{
	struct fake_agent a;
	struct vgpu_submit s = { .op = VGPU_OP_CHECKSUM, .args = { 4 } };
	uint32_t in = 7, out = 0, big[4] = { 0 };
	struct vgpu_complete c = { .argsz = sizeof(c), .out_ptr = (uintptr_t)big };
	pid_t pid;
	int status;

	ASSERT_EQ(0, fake_agent_start(&a, true));
	pid = fork();
	if (pid == 0) {
		s.in_ptr = (uintptr_t)&in;
		s.in_len = 4;
		s.out_ptr = (uintptr_t)&out;
		s.out_len = 4;
		s.timeout_ns = 5000000000ull;
		_exit(submit(self->fd, &s) == 0 && s.status == -EIO ? 0 : 1);
	}
	for (int i = 0; i < 100 && !a.last_id; i++)
		sleep_ms(20);
	ASSERT_NE(0, a.last_id);
	c.id = a.last_id;
	c.out_len = 16;		/* over the submitter's capacity */
	EXPECT_EQ(-1, ioctl(a.fd, VGPU_IOC_AGENT_COMPLETE, &c));
	EXPECT_EQ(EINVAL, errno);
	c.out_len = 0;
	c.status = 5;		/* positive */
	EXPECT_EQ(-1, ioctl(a.fd, VGPU_IOC_AGENT_COMPLETE, &c));
	EXPECT_EQ(EINVAL, errno);
	c.status = -EIO;
	c.out_ptr = 8;
	c.out_len = 4;		/* error with output */
	EXPECT_EQ(-1, ioctl(a.fd, VGPU_IOC_AGENT_COMPLETE, &c));
	EXPECT_EQ(EINVAL, errno);
	c.out_len = 0;
	EXPECT_EQ(0, ioctl(a.fd, VGPU_IOC_AGENT_COMPLETE, &c));
	EXPECT_EQ(-1, ioctl(a.fd, VGPU_IOC_AGENT_COMPLETE, &c));	/* twice */
	EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(0, status);
	fake_agent_stop(&a);
}

/* ---- the in-flight byte budget ------------------------------------------ */

struct bg_submit {
	pthread_t thread;
	int fd;
	struct rjob job;
	struct vgpu_submit s;
	int ret;
};

static void *bg_submit_run(void *arg)
{
	struct bg_submit *b = arg;

	b->ret = submit(b->fd, &b->s);
	return NULL;
}

static void bg_start(struct bg_submit *b, int fd, uint32_t op, uint64_t n)
{
	memset(b, 0, sizeof(*b));
	b->fd = fd;
	b->job.d.op = op;
	b->job.d.args[0] = n;
	b->job.d.in_len = n;
	b->job.d.out_len = 4;
	b->job.in = calloc(1, n);
	b->job.out = calloc(1, 4);
	rjob_submit_args(&b->job, &b->s);
	b->s.timeout_ns = 20000000000ull;
	pthread_create(&b->thread, NULL, bg_submit_run, b);
}

TEST_F(dev, budget_blocks_or_eagain)
{
	char old[32];
	struct bg_submit b1;
	struct vgpu_submit s;
	struct fake_agent a;
	struct rjob j = { 0 };
	int nb;

	sysfs_read(PARAMS "max_inflight_bytes", old, sizeof(old));
	ASSERT_EQ(0, sysfs_write(PARAMS "max_inflight_bytes", "1048576"));
	/* 600 KiB waits in the queue (no agent yet) ... */
	bg_start(&b1, self->fd, VGPU_OP_CHECKSUM, 600 << 10);
	for (int i = 0; i < 100 && dev_counter("queued") < 1; i++)
		sleep_ms(10);
	EXPECT_EQ((600 << 10) + 4, dev_counter("inflight_bytes"));
	/* ... so another 600 KiB does not fit: EAGAIN, or wait. */
	j.d.op = VGPU_OP_CHECKSUM;
	j.d.args[0] = j.d.in_len = 600 << 10;
	j.d.out_len = 4;
	j.in = calloc(1, j.d.in_len);
	j.out = calloc(1, 4);
	rjob_submit_args(&j, &s);
	nb = open(DEV0, O_RDWR | O_NONBLOCK);
	ASSERT_LE(0, nb);
	EXPECT_EQ(-EAGAIN, submit(nb, &s));
	s.timeout_ns = 200000000;
	EXPECT_EQ(-ETIMEDOUT, submit(self->fd, &s));
	/* Over the whole budget: never fits. */
	s.in_len = 2 << 20;
	EXPECT_EQ(-E2BIG, submit(self->fd, &s));
	s.in_len = 600 << 10;
	/* An agent drains the first; the second then fits. */
	ASSERT_EQ(0, fake_agent_start(&a, false));
	s.timeout_ns = 10000000000ull;
	EXPECT_EQ(0, submit(self->fd, &s));
	EXPECT_EQ(0, s.status);
	pthread_join(b1.thread, NULL);
	EXPECT_EQ(0, b1.ret);
	EXPECT_EQ(0, b1.s.status);
	fake_agent_stop(&a);
	EXPECT_EQ(0, dev_counter("inflight_bytes"));
	sysfs_write(PARAMS "max_inflight_bytes", old);
	close(nb);
	rjob_free(&j);
	rjob_free(&b1.job);
}

/* RAM as the kernel counts it (MemTotal is totalram_pages()), in bytes. */
static uint64_t mem_total(void)
{
	unsigned long long kib = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemTotal: %llu kB", &kib) == 1)
			break;
	if (f)
		fclose(f);
	return (uint64_t)kib << 10;
}

/* The default limit (the parameter 0) is a quarter of RAM, within bounds. */
TEST_F(dev, budget_defaults_to_a_quarter_of_ram)
{
	struct vgpu_info info = { .argsz = sizeof(info) };
	uint64_t want = mem_total() >> VGPU_INFLIGHT_RAM_SHIFT;
	static char buf[64];
	struct vgpu_submit s = { .op = VGPU_OP_SESSION, .in_ptr = (uintptr_t)buf,
				 .out_ptr = (uintptr_t)buf, .out_len = 4096 };
	char val[32];

	ASSERT_NE(0, want);
	if (want < VGPU_INFLIGHT_BYTES_MIN)
		want = VGPU_INFLIGHT_BYTES_MIN;
	if (want > VGPU_INFLIGHT_BYTES_MAX)
		want = VGPU_INFLIGHT_BYTES_MAX;
	EXPECT_STREQ("0", sysfs_read(PARAMS "max_inflight_bytes", val, sizeof(val)));
	ASSERT_EQ(0, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(want, info.max_inflight_bytes) TH_LOG("RAM %llu B",
							(unsigned long long)mem_total());
	/* One byte over it never fits (nothing is copied: the check is first). */
	s.in_len = info.max_inflight_bytes - s.out_len + 1;
	EXPECT_EQ(-E2BIG, submit(self->fd, &s));
	/* Set, it is what root says; 0 derives it again. */
	ASSERT_EQ(0, sysfs_write(PARAMS "max_inflight_bytes", "1048576"));
	ASSERT_EQ(0, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(1048576, info.max_inflight_bytes);
	ASSERT_EQ(0, sysfs_write(PARAMS "max_inflight_bytes", "0"));
	ASSERT_EQ(0, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(want, info.max_inflight_bytes);
	EXPECT_EQ(0, dev_counter("inflight_bytes"));
}

/* ---- session jobs ---------------------------------------------------------- */

/*
 * The driver carries op session like any op, but for one thing: the
 * answer's bytes (a session response) come back also with an error
 * status, since they say which command failed. Only the answer's length
 * is copied, whatever room the submitter gave.
 */
TEST_F(dev, session_response_comes_back_with_its_error)
{
	struct vgpu_sess_rsp_hdr rh = {
		.magic = VGPU_SESS_RSP_MAGIC, .hdr_size = VGPU_SESS_RSP_HDR_SIZE, .ncmds = 2,
		.nrun = 1, .failed = 0, .status = -EBADF,
		.msg = "command 0 (copy_d2h): copy_d2h: no handle 0x7 (never made or freed)",
	};
	struct vgpu_sess_result res = { .code = VGPU_SESS_COPY_D2H, .status = -EBADF };
	uint8_t rsp[VGPU_SESS_RSP_HDR_SIZE + VGPU_SESS_RESULT_SIZE], in[1024];
	struct vgpu_attach at = { .argsz = sizeof(at) };
	struct vgpu_fetch f = { .argsz = sizeof(f), .in_ptr = (uintptr_t)in,
				.in_cap = sizeof(in), .timeout_ns = 2000000000 };
	struct vgpu_complete c = { .argsz = sizeof(c), .status = -EBADF,
				   .out_ptr = (uintptr_t)rsp, .out_len = sizeof(rsp),
				   .msg = "command 0 (copy_d2h): copy_d2h: no handle" };
	struct vgpu_sess_rsp parsed;
	char why[VGPU_SESS_MSG_LEN];
	struct vgpu_sess_buf b;
	struct bg_submit bg;
	uint64_t room = test_rand_range(sizeof(rsp), 1 << 20);
	int afd = open(DEV0, O_RDWR);

	ASSERT_LE(0, afd);
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_ATTACH, &at));
	vgpu_sess_begin(&b);
	vgpu_sess_add(&b, &(struct vgpu_sess_cmd){ .code = VGPU_SESS_COPY_D2H, .ref = { 7 },
						   .len = 8 });
	vgpu_sess_add(&b, &(struct vgpu_sess_cmd){ .code = VGPU_SESS_TIMESTAMP });
	ASSERT_EQ(0, vgpu_sess_finish(&b));
	vgpu_sess_rsp_encode(&rh, rsp);
	vgpu_sess_result_encode(&res, rsp + VGPU_SESS_RSP_HDR_SIZE);

	memset(&bg, 0, sizeof(bg));
	bg.fd = self->fd;
	bg.job.out = malloc(room);
	ASSERT_NE(NULL, bg.job.out);
	bg.s = (struct vgpu_submit){ .op = VGPU_OP_SESSION, .in_ptr = (uintptr_t)b.p,
				     .in_len = b.len, .out_ptr = (uintptr_t)bg.job.out,
				     .out_len = room, .timeout_ns = 20000000000ull };
	ASSERT_EQ(0, pthread_create(&bg.thread, NULL, bg_submit_run, &bg));

	/* The agent sees it as it was given; the room is counted, not held. */
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_FETCH, &f));
	EXPECT_EQ(VGPU_OP_SESSION, f.op);
	EXPECT_EQ(b.len, f.in_len);
	EXPECT_EQ(0, memcmp(in, b.p, b.len));
	EXPECT_EQ(room, f.out_len);
	for (int i = 0; i < VGPU_NR_ARGS; i++)
		EXPECT_EQ(0, f.args[i]);
	EXPECT_EQ(b.len + room, dev_counter("inflight_bytes"));
	c.id = f.id;
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_COMPLETE, &c));

	pthread_join(bg.thread, NULL);
	EXPECT_EQ(0, bg.ret);
	EXPECT_EQ(-EBADF, bg.s.status);
	EXPECT_STREQ(c.msg, bg.s.msg);
	ASSERT_EQ(sizeof(rsp), bg.s.out_written);
	EXPECT_EQ(0, memcmp(bg.job.out, rsp, sizeof(rsp)));
	ASSERT_EQ(0, vgpu_sess_rsp_parse(bg.job.out, bg.s.out_written, &parsed, why))
		TH_LOG("%s", why);
	EXPECT_EQ(-EBADF, parsed.hdr.status);
	EXPECT_EQ(0, parsed.hdr.failed);
	EXPECT_EQ(0, dev_counter("inflight_bytes"));
	close(afd);
	free(bg.job.out);
	vgpu_sess_buf_free(&b);
}

/* ---- agent death ---------------------------------------------------------- */

TEST_F(dev, dead_agents_requests_go_to_the_next_agent)
{
	struct bg_submit b;
	struct vgpu_attach at = { .argsz = sizeof(at) };
	char in[128];
	struct vgpu_fetch f = { .argsz = sizeof(f), .in_ptr = (uintptr_t)in,
				.in_cap = sizeof(in), .timeout_ns = 2000000000 };
	struct vgpu_tag t = { .argsz = sizeof(t), .tag = 0xabcdef };
	uint32_t crc;
	struct vgpu_complete c = { .argsz = sizeof(c), .out_ptr = (uintptr_t)&crc,
				   .out_len = 4 };
	uint64_t redelivered = dev_counter("redelivered");
	int afd = open(DEV0, O_RDWR);

	ASSERT_LE(0, afd);
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_ATTACH, &at));
	bg_start(&b, self->fd, VGPU_OP_CHECKSUM, 100);
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_FETCH, &f));
	EXPECT_EQ(0, f.flags);
	EXPECT_EQ(0, f.tag);
	t.id = f.id;
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_TAG, &t));
	close(afd);		/* the agent dies holding it */
	EXPECT_EQ(redelivered + 1, dev_counter("redelivered"));
	EXPECT_EQ(1, dev_counter("queued"));

	afd = open(DEV0, O_RDWR);
	at = (struct vgpu_attach){ .argsz = sizeof(at) };
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_ATTACH, &at));
	EXPECT_EQ(1, at.redelivered);
	f = (struct vgpu_fetch){ .argsz = sizeof(f), .in_ptr = (uintptr_t)in,
				 .in_cap = 10, .timeout_ns = 2000000000 };
	EXPECT_EQ(-1, ioctl(afd, VGPU_IOC_AGENT_FETCH, &f));	/* too small */
	EXPECT_EQ(ENOSPC, errno);
	EXPECT_EQ(100, f.in_len);
	f = (struct vgpu_fetch){ .argsz = sizeof(f), .in_ptr = (uintptr_t)in,
				 .in_cap = sizeof(in), .timeout_ns = 2000000000 };
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_FETCH, &f));
	EXPECT_EQ(VGPU_FETCH_F_REDELIVERED, f.flags);
	EXPECT_EQ(0xabcdef, f.tag);
	crc = vgpu_crc32c(0, in, 100);
	c.id = f.id;
	ASSERT_EQ(0, ioctl(afd, VGPU_IOC_AGENT_COMPLETE, &c));
	pthread_join(b.thread, NULL);
	EXPECT_EQ(0, b.ret);
	EXPECT_EQ(0, b.s.status);
	EXPECT_EQ(vgpu_crc32c(0, b.job.in, 100), *(uint32_t *)b.job.out);
	close(afd);
	rjob_free(&b.job);
}

TEST_F(dev, no_agent_fails_after_the_grace_period)
{
	struct vgpu_submit s = { .op = VGPU_OP_NOOP, .timeout_ns = 20000000000ull };
	char old[32];
	uint64_t t0;

	sysfs_read(PARAMS "agent_grace_ms", old, sizeof(old));
	ASSERT_EQ(0, sysfs_write(PARAMS "agent_grace_ms", "300"));
	t0 = now_ms();
	EXPECT_EQ(-ENOTCONN, submit(self->fd, &s));
	EXPECT_LE(250, now_ms() - t0);
	EXPECT_GT(5000, now_ms() - t0);
	sysfs_write(PARAMS "agent_grace_ms", old);
}

/* ---- concurrency ------------------------------------------------------- */

struct worker {
	pthread_t thread;
	int fd, bad, done;
	unsigned int seed;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < 40; i++) {
		uint32_t op = 1 + (uint32_t)(rand_r(&w->seed) % (VGPU_NR_OPS - 2));
		char msg[VGPU_MSG_LEN];
		struct vgpu_submit s;
		struct rjob j;

		rjob_make(&j, op);
		rjob_submit_args(&j, &s);
		if (submit(w->fd, &s) || s.status || rjob_verify(&j, msg))
			w->bad++;
		else
			w->done++;
		rjob_free(&j);
	}
	return NULL;
}

TEST_F_TIMEOUT(dev, eight_threads_submit_concurrently, 120)
{
	struct worker w[8];
	struct fake_agent a;
	int done = 0;

	ASSERT_EQ(0, fake_agent_start(&a, false));
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .fd = self->fd, .seed = (unsigned int)test_rand() };
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, worker_run, &w[i]));
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].thread, NULL);
		EXPECT_EQ(0, w[i].bad) TH_LOG("thread %d", i);
		done += w[i].done;
	}
	fake_agent_stop(&a);
	EXPECT_EQ(8 * 40, done);
	EXPECT_EQ(0, dev_counter("inflight_bytes"));
}

/* ---- unbind and rmmod with waiters (last: it unloads the driver) ---------- */

TEST_F_TIMEOUT(dev, zz_unbind_and_rmmod_with_waiters, 60)
{
	const char *ko = getenv("VGPU_KO") ? getenv("VGPU_KO") : "/vgpu.ko";
	struct bg_submit b[4];
	struct fake_agent a;
	char cmd[256];

	/* Two waiting in the queue, one fetched by a holding agent ... */
	ASSERT_EQ(0, fake_agent_start(&a, true));
	bg_start(&b[0], self->fd, VGPU_OP_CHECKSUM, 64);
	for (int i = 0; i < 100 && !a.last_id; i++)
		sleep_ms(10);
	a.stop = true;		/* the agent fetches no more */
	pthread_join(a.thread, NULL);
	bg_start(&b[1], self->fd, VGPU_OP_CHECKSUM, 64);
	bg_start(&b[2], self->fd, VGPU_OP_CHECKSUM, 64);
	for (int i = 0; i < 200 && dev_counter("queued") < 2; i++)
		sleep_ms(10);
	/* ... and one waiting for room in the budget. */
	ASSERT_EQ(0, sysfs_write(PARAMS "max_inflight_bytes", "300"));
	bg_start(&b[3], self->fd, VGPU_OP_CHECKSUM, 200);
	sleep_ms(300);
	EXPECT_EQ(1, dev_counter("fetched"));
	EXPECT_EQ(2, dev_counter("queued"));

	ASSERT_EQ(0, sysfs_write("/sys/bus/pci/drivers/vgpu/unbind", "0000:00:04.0"));
	for (int i = 0; i < 4; i++) {
		pthread_join(b[i].thread, NULL);
		EXPECT_EQ(-ENODEV, b[i].ret) TH_LOG("waiter %d", i);
		rjob_free(&b[i].job);
	}
	/* Every call on the old files now fails cleanly. */
	struct vgpu_info info = { .argsz = sizeof(info) };

	EXPECT_EQ(-1, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(ENODEV, errno);
	EXPECT_EQ(-1, ioctl(a.fd, VGPU_IOC_AGENT_FETCH, &(struct vgpu_fetch){
		.argsz = sizeof(struct vgpu_fetch) }));
	EXPECT_EQ(ENODEV, errno);
	/* Open files keep the module ... */
	EXPECT_NE(0, system("rmmod vgpu 2>/dev/null"));
	close(a.fd);
	close(self->fd);
	self->fd = -1;
	/* ... and once closed it unloads (a leaked request WARNs) and loads again. */
	EXPECT_EQ(0, system("rmmod vgpu"));
	snprintf(cmd, sizeof(cmd), "insmod %s", ko);
	ASSERT_EQ(0, system(cmd));
	for (int i = 0; i < 100 && access(DEV0, F_OK); i++)
		sleep_ms(20);
	self->fd = open(DEV0, O_RDWR);
	ASSERT_LE(0, self->fd);
	EXPECT_EQ(0, ioctl(self->fd, VGPU_IOC_GET_INFO, &info));
	EXPECT_EQ(11, info.vm_id);
}

TEST_HARNESS_MAIN
