// SPDX-License-Identifier: MIT
/*
 * isolation = mps through the real mediator (backend cpu) with a fake
 * nvidia-cuda-mps-control (tests/integration/fake-nvidia-cuda-mps-control,
 * which records its invocations, environment and commands in its log
 * directory) and CPU executors, the test-only crash command standing in
 * for a kernel's fault: the daemon starts on private directories; MPS-mode
 * executors get the pipe, their pool's SM share and their memory limit,
 * process-mode ones nothing; a crash in one MPS-mode VM restarts the
 * daemon and the other MPS-mode executors, answers their in-flight job
 * -EIO naming the faulting VM and leaves process-mode VMs alone; a VM
 * that keeps faulting moves to process isolation; a reload without MPS
 * and the mediator's exit stop the daemon, and a daemon left by a killed
 * mediator is stopped before the next one starts its own; bad keys are
 * refused at the start and on a reload.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "sessclient.h"
#include "testlib.h"
#include "vgpu/session.h"

#define FAKE	VGPU_SRCDIR "/tests/integration/fake-nvidia-cuda-mps-control"
#define MS	((uint64_t)1000000)	/* ns */
#define LIMIT_MS 5000			/* the MPS VMs' session_time_limit_ms */

/* m1, m2: MPS, one per pool; p1, p2: process, one per pool. */
#define UID_BASE	3000000		/* executor_uid_base */
#define UID_BASE_TEXT	"3000000"
#define KEYS \
	"session_test_commands = yes\nmps_control = " FAKE "\nmps_fault_limit = 2\n" \
	"mps_fault_window_s = 600\nexecutor_uid_base = " UID_BASE_TEXT "\n"
/* The pools' sm_percent and m1's and m2's quotas are random: see setup. */
#define POOLS_MPS \
	"[pool A]\nsm_percent = %u\n[pool B]\nsm_percent = %u\n" \
	"[vm m1]\nid = 51\npool = A\npriority = medium\nisolation = mps\n" \
	"session_mem_bytes = %" PRIu64 "K\nsession_time_limit_ms = 5000\n" \
	"[vm m2]\nid = 52\npool = B\npriority = medium\nisolation = mps\n" \
	"session_mem_bytes = %" PRIu64 "K\nsession_time_limit_ms = 5000\n"
#define HEADROOM_MB 512		/* mps.c: MPS_MEM_HEADROOM_MB */
#define VMS_PROC \
	"[vm p1]\nid = 53\npool = A\npriority = medium\n" \
	"[vm p2]\nid = 54\npool = B\npriority = medium\nisolation = process\n"

#define CMD(...) (&(struct vgpu_sess_cmd){ __VA_ARGS__ })

enum { M1, M2, P1, P2, NVMS };
static const char *const names[NVMS] = { "m1", "m2", "p1", "p2" };
static const unsigned int ids[NVMS] = { 51, 52, 53, 54 };

FIXTURE(mps) {
	struct test_mediator t;
	struct sess_client c[NVMS];
	struct vgpu_sess_buf b;
	struct sess_reply r;
	char logd[512], pipe[512];
	char mps_conf[1024];		/* POOLS_MPS, filled in */
	char pct[2][8], mem[2][32];	/* m1's and m2's expected environment */
};

/* How often @needle occurs in file @path (0 if there is no file). */
static int count_in(const char *path, const char *needle)
{
	static char buf[1 << 18];
	int n = 0;

	if (test_slurp(path, buf, sizeof(buf)) < 0)
		return 0;
	for (const char *p = buf; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static int count_log(const char *dir, const char *file, const char *needle)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return count_in(path, needle);
}

/* Executor @pid's environment, one "K=V\n" a line after a leading "\n". */
static int environ_of(pid_t pid, char *buf, size_t len)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	buf[0] = '\n';
	n = test_slurp(path, buf + 1, len - 1);
	if (n < 0)
		return -1;
	for (ssize_t i = 1; i <= n; i++)
		if (!buf[i])
			buf[i] = '\n';
	return 0;
}

/* A line of `vgpuctl status` starting with @prefix into @line; 0 or -1. */
static int status_line(struct test_mediator *t, const char *prefix, char *line, size_t len)
{
	char buf[16384];
	char *p, *e;

	if (tm_status(t, buf, sizeof(buf)))
		return -1;
	p = strstr(buf, prefix);
	if (!p)
		return -1;
	e = strchr(p, '\n');
	snprintf(line, len, "%.*s", e ? (int)(e - p) : (int)strlen(p), p);
	return 0;
}

/* `vgpuctl status --json` into @buf; 0 or -1. */
static int status_json(const struct test_mediator *t, char *buf, size_t len)
{
	char cmd[1024];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -s %s status --json", test_bin("vgpuctl"), t->sock);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(buf, 1, len - 1, p);
	buf[n] = '\0';
	while (fgetc(p) != EOF)
		;
	return pclose(p) == 0 ? 0 : -1;
}

static int write_conf(struct test_mediator *t, const char *keys, const char *rest)
{
	FILE *f = fopen(t->conf, "w");

	if (!f)
		return -1;
	fprintf(f, "[mediator]\nspool = %s/spool\nstate_dir = %s/state\ncontrol_socket = %s\n"
		"backend = cpu\nlog_level = debug\n%s\n%s", t->root, t->root, t->sock, keys, rest);
	return fclose(f);
}

static int reloads(const struct test_mediator *t)
{
	return count_in(t->log, "reloaded ") + count_in(t->log, "keeping the running config");
}

/* SIGHUP, and wait until the mediator's log says it reloaded (or failed). */
static int reload(struct test_mediator *t)
{
	int before = reloads(t);

	if (kill(t->pid, SIGHUP))
		return -1;
	for (int i = 0; i < 500; i++) {
		if (reloads(t) > before)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* Does @pid run (not a zombie waiting for its reaper)? */
static bool alive(pid_t pid)
{
	char path[64], stat[512], *paren;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if (test_slurp(path, stat, sizeof(stat)) <= 0)
		return false;
	paren = strrchr(stat, ')');
	return paren && paren[1] == ' ' && paren[2] != 'Z' && paren[2] != 'X';
}

/*
 * Does the fake daemon run? Its pipe stays when it stops, as NVIDIA's
 * control socket does, so the pid file it keeps while it runs tells.
 */
static bool daemon_up(const char *logd)
{
	char path[600], text[32];

	snprintf(path, sizeof(path), "%s/daemon.pid", logd);
	if (test_slurp(path, text, sizeof(text)) <= 0)
		return false;
	return alive((pid_t)atoi(text));
}

FIXTURE_SETUP(mps)
{
	char dir[512];

	unsigned int pct[2];
	uint64_t kib[2];
	char vms[2048];

	test_seed();
	ASSERT_EQ(0, access(FAKE, X_OK)) TH_LOG("%s", FAKE);
	for (int i = 0; i < 2; i++) {
		pct[i] = (unsigned int)test_rand_range(1, 100);
		kib[i] = test_rand_range(1, 4 << 20);	/* up to 4 GiB */
		snprintf(self->pct[i], sizeof(self->pct[i]), "%u", pct[i]);
		/* MiB rounded up, plus the context's headroom */
		snprintf(self->mem[i], sizeof(self->mem[i]), "0=%" PRIu64 "M",
			 (kib[i] + 1023) / 1024 + HEADROOM_MB);
	}
	printf("# sm_percent A=%u B=%u; m1 %" PRIu64 " KiB, m2 %" PRIu64 " KiB\n", pct[0],
	       pct[1], kib[0], kib[1]);
	snprintf(self->mps_conf, sizeof(self->mps_conf), POOLS_MPS, pct[0], pct[1], kib[0],
		 kib[1]);
	snprintf(vms, sizeof(vms), "%s%s", self->mps_conf, VMS_PROC);
	ASSERT_EQ(0, tm_init(&self->t, KEYS, vms));
	ASSERT_EQ(0, tm_start(&self->t)) TH_LOG("see %s", self->t.log);
	snprintf(self->logd, sizeof(self->logd), "%s/mps/log", self->t.root);
	snprintf(self->pipe, sizeof(self->pipe), "%s/mps/pipe", self->t.root);
	for (int i = 0; i < NVMS; i++)
		ASSERT_EQ(0, sc_open(&self->c[i], tm_vmdir(&self->t, names[i], dir, sizeof(dir))));
	vgpu_sess_begin(&self->b);
	memset(&self->r, 0, sizeof(self->r));
}

FIXTURE_TEARDOWN(mps)
{
	for (int i = 0; i < NVMS; i++)
		sc_close(&self->c[i]);
	vgpu_sess_buf_free(&self->b);
	sc_reply_free(&self->r);
	if (self->t.pid > 0)
		EXPECT_EQ(0, tm_stop(&self->t, SIGTERM)) TH_LOG("see %s", self->t.log);
	tm_cleanup(&self->t);
}

/* Run @b on @c and expect @status; the list is begun again for the next. */
static void run(struct __test_metadata *_metadata, struct sess_client *c,
		struct vgpu_sess_buf *b, struct sess_reply *r, int status)
{
	sc_reply_free(r);
	ASSERT_EQ(0, sc_run(c, b, 10000, r));
	vgpu_sess_buf_free(b);
	vgpu_sess_begin(b);
	EXPECT_EQ(status, r->rh.status) TH_LOG("%s", r->rh.msg);
	printf("# %s\n", r->rh.msg);
	fflush(stdout);
}

/* A one-buffer session on VM @i; its handle. */
static uint64_t alloc_on(struct __test_metadata *_metadata, FIXTURE_DATA(mps) *self, int i)
{
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	run(_metadata, &self->c[i], &self->b, &self->r, 0);
	return sc_result(&self->r, 0).value;
}

/* Submit a list of the one command @code on VM @i; its id. */
static uint64_t submit_one(struct __test_metadata *_metadata, FIXTURE_DATA(mps) *self, int i,
			   uint32_t code)
{
	uint64_t id = 0;

	vgpu_sess_add(&self->b, CMD(.code = code));
	EXPECT_EQ(0, vgpu_sess_finish(&self->b));
	EXPECT_EQ(0, sc_submit(&self->c[i], self->b.p, self->b.len, 1 << 20, &id));
	vgpu_sess_buf_free(&self->b);
	vgpu_sess_begin(&self->b);
	return id;
}

/* Crash VM @i's executor; its answer is the executor's death. */
static void crash(struct __test_metadata *_metadata, FIXTURE_DATA(mps) *self, int i)
{
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TEST_CRASH));
	run(_metadata, &self->c[i], &self->b, &self->r, -EFAULT);
	EXPECT_NE(NULL, strstr(self->r.rh.msg, "executor died")) TH_LOG("%s", self->r.rh.msg);
}

/* Is the VM's executor's environment what its isolation says? */
static void expect_env(struct __test_metadata *_metadata, FIXTURE_DATA(mps) *self, int i,
		       const char *percent, const char *mem)
{
	char env[16384], want[700];
	pid_t pid = tm_executor_of(&self->t, ids[i]);

	ASSERT_NE(0, pid) TH_LOG("no executor for %s", names[i]);
	ASSERT_EQ(0, environ_of(pid, env, sizeof(env)));
	if (!percent) {
		EXPECT_EQ(NULL, strstr(env, "CUDA_MPS_")) TH_LOG("%s: %s", names[i], env);
		return;
	}
	snprintf(want, sizeof(want), "\nCUDA_MPS_PIPE_DIRECTORY=%s\n", self->pipe);
	EXPECT_NE(NULL, strstr(env, want)) TH_LOG("%s: %s", names[i], env);
	snprintf(want, sizeof(want), "\nCUDA_MPS_ACTIVE_THREAD_PERCENTAGE=%s\n", percent);
	EXPECT_NE(NULL, strstr(env, want)) TH_LOG("%s: %s", names[i], env);
	snprintf(want, sizeof(want), "\nCUDA_MPS_PINNED_DEVICE_MEM_LIMIT=%s\n", mem);
	EXPECT_NE(NULL, strstr(env, want)) TH_LOG("%s: %s", names[i], env);
}

TEST_F(mps, the_daemon_is_private_and_executors_get_their_share)
{
	char want[1200], line[1024], path[600];

	/* one daemon, on directories of its own, with only them changed */
	EXPECT_EQ(1, count_log(self->logd, "invocations", "args=[-d]"));
	snprintf(want, sizeof(want), "args=[-d] pipe=%s log=%s\n", self->pipe, self->logd);
	EXPECT_EQ(1, count_log(self->logd, "invocations", want));
	snprintf(want, sizeof(want), "\nCUDA_MPS_PIPE_DIRECTORY=%s\n", self->pipe);
	EXPECT_EQ(1, count_log(self->logd, "daemon.env", want));
	EXPECT_EQ(0, count_log(self->logd, "daemon.env", "/tmp/nvidia-mps"));
	snprintf(path, sizeof(path), "%s/control", self->pipe);
	EXPECT_TRUE(daemon_up(self->logd));
	ASSERT_EQ(0, status_line(&self->t, "mps daemon", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "mps daemon running; started 1,")) TH_LOG("%s", line);

	for (int i = 0; i < NVMS; i++)
		alloc_on(_metadata, self, i);
	/* each its pool's share, its quota in MiB rounded up plus the headroom */
	expect_env(_metadata, self, M1, self->pct[0], self->mem[0]);
	expect_env(_metadata, self, M2, self->pct[1], self->mem[1]);
	expect_env(_metadata, self, P1, NULL, NULL);
	expect_env(_metadata, self, P2, NULL, NULL);

	/*
	 * One MPS server serves one uid: MPS clients share executor_user's,
	 * process executors keep a uid of their VM's own (executor_uid_base).
	 */
	if (geteuid() == 0) {
		struct passwd *nobody = getpwnam("nobody");

		ASSERT_NE(NULL, nobody);
		EXPECT_EQ((long)nobody->pw_uid, test_uid_of(tm_executor_of(&self->t, ids[M1])));
		EXPECT_EQ((long)nobody->pw_uid, test_uid_of(tm_executor_of(&self->t, ids[M2])));
		EXPECT_EQ(UID_BASE + (long)ids[P1], test_uid_of(tm_executor_of(&self->t, ids[P1])));
		EXPECT_EQ(UID_BASE + (long)ids[P2], test_uid_of(tm_executor_of(&self->t, ids[P2])));
	} else {
		printf("# not root: executors keep our uid, not checked\n");
	}
	ASSERT_EQ(0, status_line(&self->t, "vm m1:", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " isolation=mps mps_faults=0")) TH_LOG("%s", line);
	ASSERT_EQ(0, status_line(&self->t, "vm p1:", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " isolation=process mps_faults=0")) TH_LOG("%s", line);
	{
		static char json[65536];

		ASSERT_EQ(0, status_json(&self->t, json, sizeof(json)));
		EXPECT_NE(NULL, strstr(json, "\"mps\":{\"running\":true,\"starts\":1,"
				       "\"restarts\":0}")) TH_LOG("%.300s", json);
		EXPECT_NE(NULL, strstr(json, "\"name\":\"m1\",")) TH_LOG("%.300s", json);
		EXPECT_NE(NULL, strstr(json, "\"isolation\":\"mps\",\"mps_faults\":0,"
				       "\"mps_lost\":0,\"mps_demotions\":0,"));
	}
}

TEST_F(mps, a_fault_restarts_mps_clients_and_spares_process_mode)
{
	uint64_t h[NVMS], hang, t0, took;
	pid_t p1, p2, m2;
	struct sess_reply lost = { 0 };
	char line[1024];

	for (int i = 0; i < NVMS; i++)
		h[i] = alloc_on(_metadata, self, i);
	p1 = tm_executor_of(&self->t, ids[P1]);
	p2 = tm_executor_of(&self->t, ids[P2]);
	m2 = tm_executor_of(&self->t, ids[M2]);
	ASSERT_NE(0, p1);
	ASSERT_NE(0, p2);
	ASSERT_NE(0, m2);

	/* m2 (pool B) is in the middle of a job when m1 (pool A) faults */
	t0 = vgpu_now_ns();
	hang = submit_one(_metadata, self, M2, VGPU_SESS_TEST_HANG);
	for (int i = 0; i < 200; i++) {
		if (!status_line(&self->t, "pool B: running m2/", line, sizeof(line)))
			break;
		usleep(10000);
	}
	ASSERT_EQ(0, status_line(&self->t, "pool B: running m2/", line, sizeof(line)));
	crash(_metadata, self, M1);

	ASSERT_EQ(0, sc_wait(&self->c[M2], hang, 1 << 20, 10000, &lost));
	took = vgpu_now_ns() - t0;
	EXPECT_EQ(-EIO, lost.rh.status) TH_LOG("%s", lost.rh.msg);
	EXPECT_NE(NULL, strstr(lost.rh.msg, "vm m1 faulted")) TH_LOG("%s", lost.rh.msg);
	EXPECT_NE(NULL, strstr(lost.rh.msg, "MPS")) TH_LOG("%s", lost.rh.msg);
	printf("# m2's job: %s, after %" PRIu64 " ms\n", lost.rh.msg, took / MS);
	fflush(stdout);
	EXPECT_LT(took, LIMIT_MS * MS);	/* answered by the recovery, not the limit */
	sc_reply_free(&lost);
	EXPECT_FALSE(alive(m2));	/* killed */

	/* the daemon restarted: quit once, started twice */
	EXPECT_EQ(2, count_log(self->logd, "invocations", "args=[-d]"));
	EXPECT_EQ(1, count_log(self->logd, "control.log", "quit"));
	EXPECT_EQ(2, count_log(self->logd, "daemon.env", "--- start"));

	/* the MPS sessions are gone, the process ones untouched */
	for (int i = 0; i < NVMS; i++) {
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { h[i] }, .len = 64));
		run(_metadata, &self->c[i], &self->b, &self->r, i == M1 || i == M2 ? -ESTALE : 0);
	}
	EXPECT_EQ(p1, tm_executor_of(&self->t, ids[P1]));
	EXPECT_EQ(p2, tm_executor_of(&self->t, ids[P2]));
	/* m2's new executor is an MPS client again */
	EXPECT_NE(m2, tm_executor_of(&self->t, ids[M2]));
	expect_env(_metadata, self, M2, self->pct[1], self->mem[1]);

	ASSERT_EQ(0, status_line(&self->t, "vm m1:", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " isolation=mps mps_faults=1 mps_lost=0 mps_demotions=0"))
		TH_LOG("%s", line);
	ASSERT_EQ(0, status_line(&self->t, "vm m2:", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " isolation=mps mps_faults=0 mps_lost=1 mps_demotions=0"))
		TH_LOG("%s", line);
	ASSERT_EQ(0, status_line(&self->t, "vm p2:", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " executor_deaths=0 session_timeouts=0 isolation=process "
			       "mps_faults=0 mps_lost=0")) TH_LOG("%s", line);
	ASSERT_EQ(0, status_line(&self->t, "mps daemon", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "running; started 2, restarted after a fault 1"))
		TH_LOG("%s", line);
}

TEST_F(mps, a_repeat_offender_moves_to_process_isolation)
{
	char line[1024];

	alloc_on(_metadata, self, M1);
	crash(_metadata, self, M1);
	ASSERT_EQ(0, status_line(&self->t, "vm m1:", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " isolation=mps mps_faults=1 ")) TH_LOG("%s", line);
	EXPECT_EQ(0, count_in(self->t.log, "moved to process isolation"));

	/* the second fault within mps_fault_window_s (mps_fault_limit = 2) */
	alloc_on(_metadata, self, M1);
	crash(_metadata, self, M1);
	ASSERT_EQ(0, status_line(&self->t, "vm m1:", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " isolation=process mps_faults=2 mps_lost=0 "
			       "mps_demotions=1")) TH_LOG("%s", line);
	EXPECT_EQ(1, count_in(self->t.log, "vm m1: 2 MPS faults within 600 s: moved to process "
			      "isolation"));
	EXPECT_EQ(3, count_log(self->logd, "invocations", "args=[-d]"));

	/* from now on its executor is no MPS client, and its faults are its own */
	alloc_on(_metadata, self, M1);
	expect_env(_metadata, self, M1, NULL, NULL);
	crash(_metadata, self, M1);
	EXPECT_EQ(3, count_log(self->logd, "invocations", "args=[-d]"));
	ASSERT_EQ(0, status_line(&self->t, "vm m1:", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " isolation=process mps_faults=2 ")) TH_LOG("%s", line);
	/* m2 stays an MPS client */
	alloc_on(_metadata, self, M2);
	expect_env(_metadata, self, M2, self->pct[1], self->mem[1]);
}

TEST_F(mps, reload_and_exit_stop_the_daemon)
{
	char line[1024], path[600], pidtext[32], vms[2048];
	pid_t m1, daemon;

	alloc_on(_metadata, self, M1);
	m1 = tm_executor_of(&self->t, ids[M1]);
	ASSERT_NE(0, m1);
	snprintf(path, sizeof(path), "%s/control", self->pipe);

	/* no VM in MPS mode any more: its clients and the daemon go */
	ASSERT_EQ(0, write_conf(&self->t, KEYS, VMS_PROC
				"[vm m1]\nid = 51\npool = A\npriority = medium\n"));
	ASSERT_EQ(0, reload(&self->t));
	EXPECT_EQ(1, count_log(self->logd, "control.log", "quit"));
	EXPECT_FALSE(daemon_up(self->logd));
	EXPECT_EQ(0, access(path, F_OK));	/* left behind, as NVIDIA's socket is */
	ASSERT_EQ(0, status_line(&self->t, "mps daemon", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "mps daemon not running")) TH_LOG("%s", line);
	EXPECT_FALSE(alive(m1));	/* killed, reaped at m1's next job */
	alloc_on(_metadata, self, M1);
	expect_env(_metadata, self, M1, NULL, NULL);

	/* back: started again */
	snprintf(vms, sizeof(vms), "%s%s", self->mps_conf, VMS_PROC);
	ASSERT_EQ(0, write_conf(&self->t, KEYS, vms));
	ASSERT_EQ(0, reload(&self->t));
	EXPECT_EQ(2, count_log(self->logd, "invocations", "args=[-d]"));
	EXPECT_TRUE(daemon_up(self->logd));
	alloc_on(_metadata, self, M1);
	expect_env(_metadata, self, M1, self->pct[0], self->mem[0]);

	/* the exit stops it */
	ASSERT_LT(0, test_slurp(strcat(strcpy(line, self->logd), "/daemon.pid"), pidtext,
			   sizeof(pidtext)));
	daemon = (pid_t)atoi(pidtext);
	ASSERT_LT(0, daemon);
	EXPECT_TRUE(alive(daemon));
	ASSERT_EQ(0, tm_stop(&self->t, SIGTERM));
	EXPECT_EQ(2, count_log(self->logd, "control.log", "quit"));
	EXPECT_FALSE(daemon_up(self->logd));
	EXPECT_EQ(0, count_in(self->t.log, "did not go")) TH_LOG("see %s", self->t.log);
	for (int i = 0; i < 300 && alive(daemon); i++)
		usleep(10000);
	EXPECT_FALSE(alive(daemon)) TH_LOG("fake daemon %d still runs", (int)daemon);
}

/* A mediator killed outright leaves its daemon: the next one stops it first. */
TEST_F(mps, a_daemon_left_behind_is_stopped_before_the_start)
{
	char path[600];

	ASSERT_EQ(128 + SIGKILL, tm_stop(&self->t, SIGKILL));
	snprintf(path, sizeof(path), "%s/control", self->pipe);
	ASSERT_TRUE(daemon_up(self->logd));	/* the old daemon still runs */
	ASSERT_EQ(0, tm_start(&self->t)) TH_LOG("see %s", self->t.log);
	EXPECT_EQ(1, count_in(self->t.log, "a daemon already runs on"));
	EXPECT_EQ(1, count_log(self->logd, "control.log", "quit"));
	EXPECT_EQ(2, count_log(self->logd, "invocations", "args=[-d]"));
	EXPECT_TRUE(daemon_up(self->logd));
	alloc_on(_metadata, self, M2);
	expect_env(_metadata, self, M2, self->pct[1], self->mem[1]);

	/* and one that starts with no VM in MPS mode stops it too */
	ASSERT_EQ(128 + SIGKILL, tm_stop(&self->t, SIGKILL));
	ASSERT_TRUE(daemon_up(self->logd));
	ASSERT_EQ(0, write_conf(&self->t, KEYS, VMS_PROC));
	ASSERT_EQ(0, tm_start(&self->t)) TH_LOG("see %s", self->t.log);
	EXPECT_EQ(1, count_in(self->t.log, "no VM in MPS mode, but a daemon runs on"));
	EXPECT_EQ(2, count_log(self->logd, "control.log", "quit"));
	EXPECT_FALSE(daemon_up(self->logd));
	EXPECT_EQ(0, access(path, F_OK));	/* its pipe stays */
	EXPECT_EQ(0, count_in(self->t.log, "did not go")) TH_LOG("see %s", self->t.log);
	EXPECT_EQ(2, count_log(self->logd, "invocations", "args=[-d]"));
}

/* `vgpu-mediator -n` on @t's config: its exit status, its output in @out. */
static int check_conf(const struct test_mediator *t, char *out, size_t len)
{
	char cmd[1024];
	size_t n;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "%s -n -c %s 2>&1", test_bin("vgpu-mediator"), t->conf);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	return pclose(p);
}

TEST(bad_isolation_keys_are_refused)
{
	static const struct {
		const char *keys, *rest, *want;
	} bad[] = {
		{ "isolation = containers\n", "", "key 'isolation': expected process or mps, got "
		  "'containers'" },
		{ "", "[vm v]\nid = 1\npool = A\npriority = low\nisolation = MPS\n",
		  "key 'isolation': expected process or mps, got 'MPS'" },
		{ "", "[pool B]\nsm_percent = 0\n", "key 'sm_percent'" },
		{ "", "[pool A]\nsm_percent = 101\n", "key 'sm_percent'" },
		{ "mps_fault_limit = 17\n", "", "key 'mps_fault_limit'" },
		{ "mps_control = relative/path\n", "", "key 'mps_control': expected an absolute path" },
		/* mps asked for, and no MPS program: refused at the start */
		{ "mps_control = /nonexistent/nvidia-cuda-mps-control\n",
		  "[vm v]\nid = 1\npool = A\npriority = low\nisolation = mps\n",
		  "mps needs the MPS control program /nonexistent/nvidia-cuda-mps-control, which "
		  "is not there" },
	};
	struct test_mediator t;
	char out[4096];

	ASSERT_EQ(0, tm_init(&t, NULL, ""));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(0, write_conf(&t, bad[i].keys, bad[i].rest));
		EXPECT_NE(0, check_conf(&t, out, sizeof(out))) TH_LOG("%s", out);
		EXPECT_NE(NULL, strstr(out, bad[i].want)) TH_LOG("%zu: %s", i, out);
		printf("# %s", out);
		fflush(stdout);
	}
	/* and the same without the program, but process isolation: fine */
	ASSERT_EQ(0, write_conf(&t, "mps_control = /nonexistent/nvidia-cuda-mps-control\n",
				"[vm v]\nid = 1\npool = A\npriority = low\nisolation = process\n"));
	EXPECT_EQ(0, check_conf(&t, out, sizeof(out))) TH_LOG("%s", out);
	tm_cleanup(&t);
}

TEST_F(mps, a_bad_reload_keeps_the_daemon)
{
	char line[1024], path[600];

	ASSERT_EQ(0, write_conf(&self->t, KEYS, VMS_PROC
				"[vm m1]\nid = 51\npool = A\npriority = medium\nisolation = mpss\n"));
	ASSERT_EQ(0, reload(&self->t));
	ASSERT_EQ(0, status_line(&self->t, "config:", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "key 'isolation': expected process or mps, got 'mpss'"))
		TH_LOG("%s", line);
	snprintf(path, sizeof(path), "%s/control", self->pipe);
	EXPECT_TRUE(daemon_up(self->logd));
	EXPECT_EQ(0, count_log(self->logd, "control.log", "quit"));
	alloc_on(_metadata, self, M1);
	expect_env(_metadata, self, M1, self->pct[0], self->mem[0]);
}

TEST_HARNESS_MAIN
