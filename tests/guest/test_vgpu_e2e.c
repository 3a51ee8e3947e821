// SPDX-License-Identifier: MIT
/*
 * Guest tests through the real path: application -> /dev/vgpu0 ->
 * vgpu-agent -> spool files on the 9p share -> the host's vgpu-mediator
 * (CPU backend) and back. Every result is checked against the CPU
 * reference. Runs in the VM booted by tests/guest/vm-e2e; the agent is
 * started (and killed) by the fixture.
 *
 *   VGPU_AGENT  the agent binary (default /bin/vgpu-agent)
 *   VGPU_SPOOL  the mounted VM directory (default /mnt/vgpu)
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#include "guest_util.h"
#include "kselftest_harness.h"

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static pid_t agent_start(void)
{
	const char *bin = getenv("VGPU_AGENT") ? getenv("VGPU_AGENT") : "/bin/vgpu-agent";
	const char *spool = getenv("VGPU_SPOOL") ? getenv("VGPU_SPOOL") : "/mnt/vgpu";
	uint64_t attaches = dev_counter("agent_attaches");
	pid_t pid = fork();

	if (pid == 0) {
		int fd = open("/tmp/vgpu-agent.log", O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execl(bin, "vgpu-agent", "-d", "-s", spool, "-p", "10", NULL);
		_exit(127);
	}
	/* Attached once the driver counts it. */
	for (int i = 0; i < 500 && dev_counter("agent_attaches") == attaches; i++)
		sleep_ms(10);
	return pid;
}

static int agent_stop(pid_t pid, int sig)
{
	int status = -1;

	if (pid <= 0)
		return -1;
	kill(pid, sig);
	waitpid(pid, &status, 0);
	return status;
}

/* Both fixtures: the device open and an agent attached. */
#define AGENT_FIXTURE(name)							\
FIXTURE(name) {								\
	int fd;								\
	pid_t agent;							\
};									\
FIXTURE_SETUP(name)							\
{									\
	self->fd = open(DEV0, O_RDWR);					\
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", DEV0, strerror(errno)); \
	test_seed();							\
	self->agent = agent_start();					\
	ASSERT_LT(0, self->agent);					\
	ASSERT_EQ(1, dev_counter("agent_attached"))			\
		TH_LOG("the agent did not attach");			\
}									\
FIXTURE_TEARDOWN(name)							\
{									\
	EXPECT_EQ(0, agent_stop(self->agent, SIGTERM));			\
	close(self->fd);						\
}

AGENT_FIXTURE(ops);
AGENT_FIXTURE(e2e);

/* ---- every op, random shapes and data ----------------------------------- */

FIXTURE_VARIANT(ops) {
	uint32_t op;
};

FIXTURE_VARIANT_ADD(ops, noop) { .op = VGPU_OP_NOOP };
FIXTURE_VARIANT_ADD(ops, vector_add) { .op = VGPU_OP_VECTOR_ADD };
FIXTURE_VARIANT_ADD(ops, saxpy) { .op = VGPU_OP_SAXPY };
FIXTURE_VARIANT_ADD(ops, sgemm) { .op = VGPU_OP_SGEMM };
FIXTURE_VARIANT_ADD(ops, reduce_sum) { .op = VGPU_OP_REDUCE_SUM };
FIXTURE_VARIANT_ADD(ops, checksum) { .op = VGPU_OP_CHECKSUM };
FIXTURE_VARIANT_ADD(ops, gemm_bf16) { .op = VGPU_OP_GEMM_BF16 };
FIXTURE_VARIANT_ADD(ops, spin) { .op = VGPU_OP_SPIN };

TEST_F_TIMEOUT(ops, results_equal_the_reference, 120)
{
	for (int i = 0; i < 4; i++) {
		char msg[VGPU_MSG_LEN] = "";
		struct vgpu_submit s;
		struct rjob j;

		rjob_make(&j, variant->op);
		rjob_submit_args(&j, &s);
		ASSERT_EQ(0, submit(self->fd, &s)) TH_LOG("%s: %s", vgpu_op_name(variant->op),
							  strerror(errno));
		EXPECT_EQ(0, s.status);
		EXPECT_EQ(j.d.out_len, s.out_written);
		EXPECT_EQ(0, rjob_verify(&j, msg)) TH_LOG("%s args %llu %llu %llu: %s",
			vgpu_op_name(variant->op), (unsigned long long)j.d.args[0],
			(unsigned long long)j.d.args[1], (unsigned long long)j.d.args[2], msg);
		/* Dom0's timestamps: queued <= started <= finished. */
		EXPECT_NE(0, s.queued_ns);
		EXPECT_LE(s.queued_ns, s.started_ns);
		EXPECT_LE(s.started_ns, s.finished_ns);
		if (variant->op == VGPU_OP_SPIN)
			EXPECT_LE(j.d.args[0], s.finished_ns - s.started_ns);
		rjob_free(&j);
	}
}

/* Answered by the agent, never published: vm-e2e counts on exactly 2. */
TEST_F_TIMEOUT(e2e, bad_jobs_come_back_as_status, 60)
{
	uint64_t in[2] = { 0 }, out[2];
	struct vgpu_submit s = { .op = VGPU_NR_OPS + 3 };

	/* Unknown op, bad shape: answered, with the error in status. */
	ASSERT_EQ(0, submit(self->fd, &s));
	EXPECT_EQ(-EOPNOTSUPP, s.status);
	EXPECT_NE(NULL, strstr(s.msg, "unknown op")) TH_LOG("msg '%s'", s.msg);
	s = (struct vgpu_submit){ .op = VGPU_OP_VECTOR_ADD, .args = { 2 },
		.in_ptr = (uintptr_t)in, .in_len = 12, .out_ptr = (uintptr_t)out,
		.out_len = 8 };
	ASSERT_EQ(0, submit(self->fd, &s));
	EXPECT_EQ(-EINVAL, s.status);
	EXPECT_EQ(0, s.out_written);
	EXPECT_NE(NULL, strstr(s.msg, "vector_add")) TH_LOG("msg '%s'", s.msg);
}

/* ---- concurrency and agent restarts -------------------------------------- */

struct worker {
	pthread_t thread;
	int fd, n, bad, done;
	unsigned int seed;
	atomic_bool *stop;
};

static void *worker_run(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->n && !(w->stop && *w->stop); i++) {
		/* Small jobs: the run is about the plumbing. */
		uint32_t ops[] = { VGPU_OP_CHECKSUM, VGPU_OP_VECTOR_ADD, VGPU_OP_SAXPY,
				   VGPU_OP_REDUCE_SUM, VGPU_OP_SGEMM };
		uint32_t op = ops[rand_r(&w->seed) % 5];
		char msg[VGPU_MSG_LEN] = "";
		struct vgpu_submit s;
		struct rjob j;
		int ret;

		rjob_make(&j, op);
		rjob_submit_args(&j, &s);
		s.timeout_ns = 60000000000ull;
		ret = submit(w->fd, &s);
		if (ret || s.status || rjob_verify(&j, msg)) {
			fprintf(stderr, "# %s: ret %d status %d %s\n", vgpu_op_name(op), ret,
				s.status, msg);
			w->bad++;
		} else {
			w->done++;
		}
		rjob_free(&j);
	}
	return NULL;
}

TEST_F_TIMEOUT(e2e, eight_threads_submit_concurrently, 240)
{
	struct worker w[8];
	int done = 0;

	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .fd = self->fd, .n = 12,
					.seed = (unsigned int)test_rand() };
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, worker_run, &w[i]));
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(w[i].thread, NULL);
		EXPECT_EQ(0, w[i].bad) TH_LOG("thread %d", i);
		done += w[i].done;
	}
	EXPECT_EQ(8 * 12, done);
}

TEST_F_TIMEOUT(e2e, agent_killed_and_restarted_under_load, 300)
{
	uint64_t completed0 = dev_counter("completed");
	uint64_t redelivered0 = dev_counter("redelivered");
	struct worker w[6];
	int done = 0, bad = 0;

	for (int i = 0; i < 6; i++) {
		w[i] = (struct worker){ .fd = self->fd, .n = 25,
					.seed = (unsigned int)test_rand() };
		ASSERT_EQ(0, pthread_create(&w[i].thread, NULL, worker_run, &w[i]));
	}
	/* Kill it mid-flight four times; a new agent takes over each time. */
	for (int k = 0; k < 4; k++) {
		sleep_ms(300 + (unsigned int)test_rand_range(0, 500));
		agent_stop(self->agent, SIGKILL);
		sleep_ms((unsigned int)test_rand_range(0, 300));
		self->agent = agent_start();
		ASSERT_EQ(1, dev_counter("agent_attached"));
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(w[i].thread, NULL);
		bad += w[i].bad;
		done += w[i].done;
	}
	EXPECT_EQ(0, bad);
	EXPECT_EQ(150, done);
	/* Each request answered exactly once (tests/guest/vm-e2e checks
	 * that each reached the mediator once). */
	EXPECT_EQ(completed0 + 150, dev_counter("completed"));
	EXPECT_EQ(0, dev_counter("queued"));
	EXPECT_EQ(0, dev_counter("fetched"));
	TH_LOG("redelivered %llu requests",
	       (unsigned long long)(dev_counter("redelivered") - redelivered0));
}

TEST_HARNESS_MAIN
