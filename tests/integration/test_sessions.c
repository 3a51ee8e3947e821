// SPDX-License-Identifier: MIT
/*
 * Session jobs through the real mediator (backend cpu) and its per-VM
 * executors: a session end to end against the CPU reference (fresh
 * printed seed); handles that persist between jobs and are refused by
 * another VM; quotas exact at their boundary; an executor crash with a
 * bystander VM running 1000 version-1 jobs; a pool's list buffer kept
 * between jobs and let go when idle; the time limit killing a hung
 * executor while the other pool keeps running; malformed lists; the test
 * commands off by default; a mediator restart losing the state; executors
 * ending with a kill, their VM's removal or the mediator.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "client.h"
#include "sessclient.h"
#include "testlib.h"
#include "vgpu/ops.h"
#include "vgpu/session.h"

#define LIMIT_MS	500	/* vm s1's session_time_limit_ms */
#define QUOTA_BYTES	65536	/* vm s1's session_mem_bytes */
#define QUOTA_HANDLES	4	/* vm s1's session_handles */
#define MS		((uint64_t)1000000)	/* ns */

#define VMS \
	"[vm s1]\nid = 41\npool = A\npriority = medium\nsession_mem_bytes = 64K\n" \
	"session_handles = 4\nsession_time_limit_ms = 500\n" \
	"[vm s2]\nid = 42\npool = A\npriority = medium\n" \
	"[vm by]\nid = 43\npool = B\npriority = medium\n"

#define CMD(...) (&(struct vgpu_sess_cmd){ __VA_ARGS__ })

FIXTURE(sess) {
	struct test_mediator t;
	struct sess_client s1, s2;
	struct vgpu_sess_buf b;
	struct sess_reply r;
};

static int open_vm(struct test_mediator *t, const char *vm, struct sess_client *c)
{
	char dir[512];

	return sc_open(c, tm_vmdir(t, vm, dir, sizeof(dir)));
}

/*
 * VGPU_TEST_BACKEND=cuda runs the same tests with CUDA executors (on the
 * GPU machine); the default is the CPU backend, as in CI.
 */
static int use_backend(const struct test_mediator *t)
{
	const char *be = getenv("VGPU_TEST_BACKEND");
	char text[8192], *at;
	size_t n;
	FILE *f;

	if (!be || !*be)
		return 0;
	f = fopen(t->conf, "r");
	if (!f)
		return -1;
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	at = strstr(text, "backend = cpu\n");
	f = at ? fopen(t->conf, "w") : NULL;
	if (!f)
		return -1;
	fprintf(f, "%.*sbackend = %s\n%s", (int)(at - text), text, be,
		at + strlen("backend = cpu\n"));
	return fclose(f);
}

static void setup(struct __test_metadata *_metadata, struct test_mediator *t,
		  const char *keys)
{
	test_seed();
	ASSERT_EQ(0, tm_init(t, keys, VMS));
	ASSERT_EQ(0, use_backend(t));
	ASSERT_EQ(0, tm_start(t)) TH_LOG("see %s", t->log);
}

FIXTURE_SETUP(sess)
{
	setup(_metadata, &self->t, "session_test_commands = yes\n");
	ASSERT_EQ(0, open_vm(&self->t, "s1", &self->s1));
	ASSERT_EQ(0, open_vm(&self->t, "s2", &self->s2));
	vgpu_sess_begin(&self->b);
	memset(&self->r, 0, sizeof(self->r));
}

FIXTURE_TEARDOWN(sess)
{
	sc_close(&self->s1);
	sc_close(&self->s2);
	vgpu_sess_buf_free(&self->b);
	sc_reply_free(&self->r);
	if (self->t.pid > 0)
		EXPECT_EQ(0, tm_stop(&self->t, SIGTERM)) TH_LOG("see %s", self->t.log);
	tm_cleanup(&self->t);
}

/* Run @b on @c and expect @status from command @failed (VGPU_SESS_NONE:
 * none failed); the list is begun again for the next. */
static void run(struct __test_metadata *_metadata, struct sess_client *c,
		struct vgpu_sess_buf *b, struct sess_reply *r, int status, uint32_t failed)
{
	sc_reply_free(r);
	ASSERT_EQ(0, sc_run(c, b, 10000, r));
	vgpu_sess_buf_free(b);
	vgpu_sess_begin(b);
	EXPECT_EQ(VGPU_PROTO_VERSION_SESSION, r->rh.version);
	EXPECT_EQ(status, r->rh.status) TH_LOG("%s", r->rh.msg);
	ASSERT_EQ(0, r->parse_err) TH_LOG("%s (trailer: %s)", r->why, r->rh.msg);
	EXPECT_EQ(status, r->s.hdr.status) TH_LOG("%s", r->s.hdr.msg);
	EXPECT_EQ(failed, r->s.hdr.failed) TH_LOG("%s", r->s.hdr.msg);
	printf("# %s\n", r->s.hdr.msg);
}

/* The output bytes of result @i. */
static const uint8_t *out_of(const struct sess_reply *r, uint32_t i, uint64_t *len)
{
	struct vgpu_sess_result res = sc_result(r, i);

	*len = res.out_len;
	return r->s.out + res.out_off;
}

/* A line of `vgpuctl status` about VM @vm into @line; 0 or -1. */
static int vm_status(struct test_mediator *t, const char *vm, char *line, size_t len)
{
	char buf[16384], want[80];
	char *p, *e;

	if (tm_status(t, buf, sizeof(buf)))
		return -1;
	snprintf(want, sizeof(want), "vm %s:", vm);
	p = strstr(buf, want);
	if (!p)
		return -1;
	e = strchr(p, '\n');
	snprintf(line, len, "%.*s", e ? (int)(e - p) : (int)strlen(p), p);
	return 0;
}

TEST_F(sess, end_to_end_against_the_cpu_reference)
{
	uint64_t n = test_rand_range(1, 4096), bytes = n * 4, len, a, b, c;
	struct vgpu_job_desc d = {
		.op = VGPU_OP_VECTOR_ADD, .args = { n }, .in_len = 2 * bytes, .out_len = bytes,
	};
	char msg[VGPU_MSG_LEN];
	float *in = malloc(2 * bytes);
	const uint8_t *out;
	double err;

	ASSERT_NE(NULL, in);
	test_rand_floats(in, 2 * n);
	a = vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = bytes));
	b = vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = bytes));
	c = vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = bytes));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { a }, .data = in,
				    .data_len = bytes));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { b },
				    .data = in + n, .data_len = bytes));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_OP, .op = VGPU_OP_VECTOR_ADD,
				    .args = { n }, .ref = { a, b, c }));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { c }, .len = bytes));
	run(_metadata, &self->s2, &self->b, &self->r, 0, VGPU_SESS_NONE);
	ASSERT_EQ(7u, self->r.s.hdr.nrun);
	out = out_of(&self->r, 6, &len);
	ASSERT_EQ(bytes, len);
	EXPECT_EQ(0, vgpu_cpu_verify(&d, in, out, &err, msg)) TH_LOG("%s", msg);
	printf("# vector_add of %" PRIu64 " floats: relative error %g\n", n, err);
	free(in);
}

TEST_F(sess, handles_persist_between_jobs_and_stay_the_vms)
{
	uint8_t data[4096];
	uint64_t h, len;
	const uint8_t *out;
	char line[1024];

	test_rand_bytes(data, sizeof(data));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = sizeof(data)));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
				    .data = data, .data_len = sizeof(data)));
	run(_metadata, &self->s2, &self->b, &self->r, 0, VGPU_SESS_NONE);
	h = sc_result(&self->r, 0).value;
	ASSERT_NE(0, h);

	/* the next job of the VM finds its buffer */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { h }, .off = { 1 },
				    .len = sizeof(data) - 1));
	run(_metadata, &self->s2, &self->b, &self->r, 0, VGPU_SESS_NONE);
	out = out_of(&self->r, 0, &len);
	ASSERT_EQ(sizeof(data) - 1, len);
	EXPECT_EQ(0, memcmp(out, data + 1, len));

	/* another VM's executor refuses it: another epoch */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { h }, .len = 1));
	run(_metadata, &self->s1, &self->b, &self->r, -ESTALE, 0);

	ASSERT_EQ(0, vm_status(&self->t, "s2", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "session_jobs=2 executor_restarts=0 executor_deaths=0 "
			       "session_timeouts=0")) TH_LOG("%s", line);
	/* the executors' share of the jobs' run: some, and within it */
	{
		const char *r = strstr(line, " run_ns="), *x = strstr(line, " executor_ns=");
		unsigned long long run_ns = r ? strtoull(r + 8, NULL, 10) : 0;
		unsigned long long exec_ns = x ? strtoull(x + 13, NULL, 10) : 0;

		EXPECT_LT(0ull, exec_ns) TH_LOG("%s", line);
		EXPECT_LE(exec_ns, run_ns) TH_LOG("%s", line);
	}
}

/* A list of one ALLOC of @len random bytes copied there, and @back of
 * them read back from a random offset: checked against what was sent. */
static void copy_there_and_back(struct __test_metadata *_metadata, struct sess_client *c,
				struct vgpu_sess_buf *b, struct sess_reply *r, uint64_t len,
				uint64_t back)
{
	uint8_t *data = malloc(len);
	uint64_t off = test_rand_range(0, len - back), got;
	const uint8_t *out;

	ASSERT_NE(NULL, data);
	test_rand_bytes(data, len);
	vgpu_sess_add(b, CMD(.code = VGPU_SESS_ALLOC, .len = len));
	vgpu_sess_add(b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
			     .data = data, .data_len = len));
	vgpu_sess_add(b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
			     .off = { off }, .len = back));
	vgpu_sess_add(b, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(0) }));
	run(_metadata, c, b, r, 0, VGPU_SESS_NONE);
	out = out_of(r, 2, &got);
	ASSERT_EQ(back, got);
	EXPECT_EQ(0, memcmp(out, data + off, back)) TH_LOG("%" PRIu64 " bytes from %" PRIu64,
							   back, off);
	free(data);
}

/*
 * A pool reads each list into a buffer it keeps (exec.c): lists bigger
 * and smaller than the last, past the executor's mailbox and within it,
 * each run as it was sent (a buffer's size taken for its list's would
 * fail the smaller); and the buffer is let go when the pool has been idle
 * for POOL_LIST_IDLE_MS (2 s): the mediator's anonymous memory falls by
 * the list's size.
 */
TEST_F(sess, a_pools_list_buffer_is_kept_and_let_go)
{
	const uint64_t big = (20 << 20) + test_rand_range(0, 4096);
	const long big_kib = (long)(big >> 10);
	long before, kept, after = -1;

	copy_there_and_back(_metadata, &self->s2, &self->b, &self->r, 4096, 4096);
	before = test_status_field(self->t.pid, "RssAnon");
	copy_there_and_back(_metadata, &self->s2, &self->b, &self->r, big, 4096);
	kept = test_status_field(self->t.pid, "RssAnon");
	copy_there_and_back(_metadata, &self->s2, &self->b, &self->r,
			    test_rand_range(1, 65536), 1);
	copy_there_and_back(_metadata, &self->s2, &self->b, &self->r, big - 1, 8);
	copy_there_and_back(_metadata, &self->s1, &self->b, &self->r, 8, 8);
	ASSERT_LT(0, before);
	printf("# RssAnon %ld KiB, %ld KiB with a %" PRIu64 "-byte list\n", before, kept, big);
	EXPECT_LE(before + big_kib - 1024, kept);	/* kept */
	for (int i = 0; i < 50 && (after < 0 || after > kept - big_kib + 1024); i++) {
		usleep(100000);
		after = test_status_field(self->t.pid, "RssAnon");
	}
	printf("# RssAnon %ld KiB after the pool idled\n", after);
	fflush(stdout);	/* the harness's test child ends with _exit() */
	EXPECT_GE(kept - big_kib + 1024, after);	/* let go */
}

TEST_F(sess, quotas_are_exact_at_the_boundary)
{
	uint64_t h;

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = QUOTA_BYTES));
	run(_metadata, &self->s1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	h = sc_result(&self->r, 0).value;
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	run(_metadata, &self->s1, &self->b, &self->r, -ENOMEM, 0);
	EXPECT_NE(NULL, strstr(self->r.s.hdr.msg, "quota")) TH_LOG("%s", self->r.s.hdr.msg);

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { h }));
	for (int i = 0; i < QUOTA_HANDLES; i++)
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	run(_metadata, &self->s1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	run(_metadata, &self->s1, &self->b, &self->r, -ENOMEM, 0);
	EXPECT_NE(NULL, strstr(self->r.s.hdr.msg, "quota")) TH_LOG("%s", self->r.s.hdr.msg);
}

/* Submit @n 1-element vector adds on @c, @window in flight; errors seen. */
static int bystander(struct vgpu_client *c, int n, int window)
{
	float in[2] = { 1, 2 }, out;
	struct vgpu_call call = {
		.op = VGPU_OP_VECTOR_ADD, .args = { 1 }, .in = in, .in_len = sizeof(in),
		.out = &out, .out_cap = sizeof(out),
	};
	struct vgpu_result res;
	char why[VGPU_MSG_LEN];
	int sent = 0, got = 0, errors = 0;
	uint64_t id;

	while (got < n) {
		while (sent < n && sent - got < window) {
			if (vgpu_client_submit(c, &call, &id, why))
				return -1;
			sent++;
		}
		if (vgpu_client_next(c, &res, 10000) != 1)
			return -1;
		got++;
		if (res.rsp.status) {
			printf("# bystander job failed: %s\n", res.rsp.msg);
			errors++;
		}
	}
	return errors;
}

TEST_F(sess, crash_is_contained_and_the_next_session_is_fresh)
{
	struct vgpu_client *by = NULL;
	char dir[512], why[VGPU_MSG_LEN], line[1024];
	uint64_t h, id;
	struct sess_reply crash;

	ASSERT_EQ(0, vgpu_client_open(tm_vmdir(&self->t, "by", dir, sizeof(dir)), NULL, &by,
				      why)) TH_LOG("%s", why);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	run(_metadata, &self->s1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	h = sc_result(&self->r, 0).value;

	EXPECT_EQ(0, bystander(by, 100, 16));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TEST_CRASH));
	ASSERT_EQ(0, vgpu_sess_finish(&self->b));
	ASSERT_EQ(0, sc_submit(&self->s1, self->b.p, self->b.len, 1 << 20, &id));
	vgpu_sess_buf_free(&self->b);
	vgpu_sess_begin(&self->b);
	EXPECT_EQ(0, bystander(by, 1000, 16));
	ASSERT_EQ(0, sc_wait(&self->s1, id, 1 << 20, 10000, &crash));
	EXPECT_EQ(-EFAULT, crash.rh.status) TH_LOG("%s", crash.rh.msg);
	EXPECT_NE(NULL, strstr(crash.rh.msg, "executor died")) TH_LOG("%s", crash.rh.msg);
	EXPECT_EQ(0u, crash.rh.payload_len);	/* the header alone */
	printf("# %s\n", crash.rh.msg);
	sc_reply_free(&crash);

	/* the old handle is stale; a fresh session works */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { h }, .len = 8));
	run(_metadata, &self->s1, &self->b, &self->r, -ESTALE, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) },
				    .len = 64, .value = 0x5a));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
				    .off = { 63 }, .len = 1));
	run(_metadata, &self->s1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	EXPECT_EQ(0x5a, self->r.s.out[sc_result(&self->r, 2).out_off]);
	ASSERT_EQ(0, vm_status(&self->t, "s1", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "session_jobs=4 executor_restarts=1 executor_deaths=1 "
			       "session_timeouts=0")) TH_LOG("%s", line);
	vgpu_client_close(by);
}

TEST_F(sess, time_limit_kills_while_the_other_pool_runs)
{
	struct vgpu_client *by = NULL;
	char dir[512], why[VGPU_MSG_LEN], line[1024];
	struct sess_reply hang;
	uint64_t id, next, hang_ns, moved_ns;
	int during = 0;

	ASSERT_EQ(0, vgpu_client_open(tm_vmdir(&self->t, "by", dir, sizeof(dir)), NULL, &by,
				      why)) TH_LOG("%s", why);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TEST_HANG));
	ASSERT_EQ(0, vgpu_sess_finish(&self->b));
	ASSERT_EQ(0, sc_submit(&self->s1, self->b.p, self->b.len, 1 << 20, &id));
	vgpu_sess_buf_free(&self->b);
	vgpu_sess_begin(&self->b);
	/* pool A's next job, queued behind the hang */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	ASSERT_EQ(0, vgpu_sess_finish(&self->b));
	ASSERT_EQ(0, sc_submit(&self->s2, self->b.p, self->b.len, 1 << 20, &next));

	/* pool B keeps answering meanwhile */
	for (uint64_t until = vgpu_now_ns() + LIMIT_MS * MS / 2; vgpu_now_ns() < until; during++)
		ASSERT_EQ(0, bystander(by, 1, 1));
	ASSERT_EQ(0, sc_wait(&self->s1, id, 1 << 20, 10000, &hang));
	EXPECT_EQ(-ETIMEDOUT, hang.rh.status) TH_LOG("%s", hang.rh.msg);
	printf("# %s; pool B answered %d jobs meanwhile\n", hang.rh.msg, during);
	EXPECT_LE(10, during);
	hang_ns = hang.rh.finished_ns - hang.rh.started_ns;
	EXPECT_GE(hang_ns, LIMIT_MS * MS);
	EXPECT_LE(hang_ns, (LIMIT_MS + 1000) * MS);
	ASSERT_EQ(0, sc_wait(&self->s2, next, 1 << 20, 10000, &self->r));
	EXPECT_EQ(0, self->r.rh.status) TH_LOG("%s", self->r.rh.msg);
	moved_ns = self->r.rh.started_ns - hang.rh.started_ns;
	printf("# hung job killed after %" PRIu64 " ms; pool A's next job started %" PRIu64
	       " ms after the hung one\n", hang_ns / MS, moved_ns / MS);
	EXPECT_LE(moved_ns, (LIMIT_MS + 1000) * MS);
	sc_reply_free(&hang);
	ASSERT_EQ(0, vm_status(&self->t, "s1", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "session_jobs=1 executor_restarts=0 executor_deaths=1 "
			       "session_timeouts=1")) TH_LOG("%s", line);
	vgpu_client_close(by);
}

TEST_F(sess, malformed_lists_get_their_documented_errors)
{
	uint64_t id;

	/* a reference to a later command */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(1) }));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	run(_metadata, &self->s2, &self->b, &self->r, -EINVAL, 0);
	EXPECT_EQ(0u, self->r.s.hdr.nrun);
	EXPECT_EQ(2u, self->r.s.hdr.ncmds);

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	vgpu_sess_add(&self->b, CMD(.code = 99));
	run(_metadata, &self->s2, &self->b, &self->r, -EBADRQC, 1);

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) }));
	run(_metadata, &self->s2, &self->b, &self->r, -EINVAL, 0);	/* a slot of no alloc */

	/* a truncated list: its header says more than the payload has */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	ASSERT_EQ(0, vgpu_sess_finish(&self->b));
	ASSERT_EQ(0, sc_submit(&self->s2, self->b.p, self->b.len - 8, 1 << 20, &id));
	sc_reply_free(&self->r);
	ASSERT_EQ(0, sc_wait(&self->s2, id, 1 << 20, 10000, &self->r));
	EXPECT_EQ(-EBADMSG, self->r.rh.status) TH_LOG("%s", self->r.rh.msg);
	ASSERT_EQ(0, self->r.parse_err);
	EXPECT_EQ(VGPU_SESS_NONE, self->r.s.hdr.failed);
	printf("# %s\n", self->r.s.hdr.msg);
}

/* Without session_test_commands the test commands are refused, and the
 * executor lives on. */
TEST(test_commands_are_off_by_default)
{
	struct test_mediator t;
	struct sess_client c;
	struct vgpu_sess_buf b;
	struct sess_reply r = { 0 };

	setup(_metadata, &t, NULL);
	ASSERT_EQ(0, open_vm(&t, "s2", &c));
	vgpu_sess_begin(&b);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TEST_CRASH));
	run(_metadata, &c, &b, &r, -EPERM, 0);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TEST_HANG));
	run(_metadata, &c, &b, &r, -EPERM, 0);
	EXPECT_EQ(sc_result(&r, 0).status, -EPERM);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TEST_KICK));
	run(_metadata, &c, &b, &r, -EPERM, 0);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	run(_metadata, &c, &b, &r, 0, VGPU_SESS_NONE);
	EXPECT_NE(0u, sc_result(&r, 0).value);
	sc_reply_free(&r);
	vgpu_sess_buf_free(&b);
	sc_close(&c);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

/*
 * A mailbox post can KICK a mediator that has already seen the job done
 * (it read the sleep word just before the mediator saw done_seq move):
 * the KICK then waits on the socket, and must count for nothing, not for
 * an executor that died between jobs (the first GPU run of the mailbox
 * lost a session so) nor for a bad answer to the next list that goes
 * through the socket. test_kick sends such a KICK after its answer.
 */
TEST_F(sess, a_late_kick_is_no_death)
{
	const uint64_t big = 17 << 20;	/* over the 16 MiB mailbox area */
	char line[1024];
	uint64_t h, id;
	struct sess_reply r;

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TEST_KICK));
	run(_metadata, &self->s2, &self->b, &self->r, 0, VGPU_SESS_NONE);
	h = sc_result(&self->r, 0).value;
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { h }, .len = 64,
				    .value = 0x5a));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TEST_KICK));
	run(_metadata, &self->s2, &self->b, &self->r, 0, VGPU_SESS_NONE);

	/* a response room too big for the mailbox: RUN and DONE messages */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { h }, .len = 8));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TEST_KICK));
	ASSERT_EQ(0, vgpu_sess_finish(&self->b));
	ASSERT_EQ(0, sc_submit(&self->s2, self->b.p, self->b.len, big, &id));
	vgpu_sess_buf_free(&self->b);
	vgpu_sess_begin(&self->b);
	ASSERT_EQ(0, sc_wait(&self->s2, id, big, 10000, &r));
	EXPECT_EQ(0, r.rh.status) TH_LOG("%s", r.rh.msg);
	ASSERT_EQ(0, r.parse_err) TH_LOG("%s", r.why);
	EXPECT_EQ(0x5a, r.s.out[sc_result(&r, 0).out_off + 7]);
	sc_reply_free(&r);

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { h }, .off = { 63 },
				    .len = 1));
	run(_metadata, &self->s2, &self->b, &self->r, 0, VGPU_SESS_NONE);
	EXPECT_EQ(0x5a, self->r.s.out[sc_result(&self->r, 0).out_off]);
	ASSERT_EQ(0, vm_status(&self->t, "s2", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "session_jobs=4 executor_restarts=0 executor_deaths=0 "))
		TH_LOG("%s", line);
}

/* A restart loses every executor: the old handles are stale after it. */
TEST_F(sess, a_restart_loses_the_state)
{
	uint64_t h, id;

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	run(_metadata, &self->s2, &self->b, &self->r, 0, VGPU_SESS_NONE);
	h = sc_result(&self->r, 0).value;
	ASSERT_EQ(0, tm_stop(&self->t, SIGTERM));
	/* queued while it is down: answered once after the start */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { h }));
	ASSERT_EQ(0, vgpu_sess_finish(&self->b));
	ASSERT_EQ(0, sc_submit(&self->s2, self->b.p, self->b.len, 1 << 20, &id));
	ASSERT_EQ(0, tm_start(&self->t)) TH_LOG("see %s", self->t.log);
	sc_reply_free(&self->r);
	ASSERT_EQ(0, sc_wait(&self->s2, id, 1 << 20, 10000, &self->r));
	EXPECT_EQ(-ESTALE, self->r.rh.status) TH_LOG("%s", self->r.rh.msg);
	printf("# %s\n", self->r.rh.msg);
	usleep(100000);
	{
		struct sess_reply again;

		/* not answered twice */
		EXPECT_EQ(-ETIMEDOUT, sc_wait(&self->s2, id, 1 << 20, 0, &again));
		sc_reply_free(&again);
	}
}

/* Wait up to @ms for VM @vm_id's executor to be @gone (or there). */
static pid_t wait_executor(const struct test_mediator *t, unsigned int vm_id, bool gone, int ms)
{
	pid_t pid = 0;

	for (int i = 0; i < ms / 10; i++) {
		pid = tm_executor_of(t, vm_id);
		if (gone ? !pid : pid != 0)
			break;
		usleep(10000);
	}
	return pid;
}

/* An executor ends with its VM (SIGHUP), a kill from outside, or the mediator. */
TEST_F(sess, executors_end_with_a_kill_their_vm_or_the_mediator)
{
	char line[1024];
	pid_t p1, p2, again;
	uint64_t h;
	FILE *f;

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	run(_metadata, &self->s1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	run(_metadata, &self->s2, &self->b, &self->r, 0, VGPU_SESS_NONE);
	h = sc_result(&self->r, 0).value;
	p1 = tm_executor_of(&self->t, 41);
	p2 = tm_executor_of(&self->t, 42);
	ASSERT_NE(0, p1);
	ASSERT_NE(0, p2);
	EXPECT_EQ(0, tm_executor_of(&self->t, 43));	/* no session job, no executor */

	/* killed between jobs: noticed by the next job, which gets a new one */
	ASSERT_EQ(0, kill(p2, SIGKILL));
	usleep(50000);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { h }, .len = 8));
	run(_metadata, &self->s2, &self->b, &self->r, -ESTALE, 0);
	again = tm_executor_of(&self->t, 42);
	EXPECT_NE(0, again);
	EXPECT_NE(p2, again);
	ASSERT_EQ(0, vm_status(&self->t, "s2", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, "executor_restarts=1 executor_deaths=1 "))
		TH_LOG("%s", line);

	/* s2 removed by a reload: its executor goes, s1's stays */
	f = fopen(self->t.conf, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "[mediator]\nspool = %s/spool\nstate_dir = %s/state\ncontrol_socket = %s\n"
		"backend = cpu\nlog_level = debug\nsession_test_commands = yes\n\n"
		"[vm s1]\nid = 41\npool = A\npriority = medium\n"
		"[vm by]\nid = 43\npool = B\npriority = medium\n", self->t.root, self->t.root,
		self->t.sock);
	fclose(f);
	ASSERT_EQ(0, kill(self->t.pid, SIGHUP));
	EXPECT_EQ(0, wait_executor(&self->t, 42, true, 3000));
	EXPECT_EQ(p1, tm_executor_of(&self->t, 41));

	/* and the mediator's exit takes the rest */
	ASSERT_EQ(0, tm_stop(&self->t, SIGTERM));
	EXPECT_NE(0, kill(p1, 0));
	EXPECT_EQ(ESRCH, errno);
}

/* executor_uid_base: each VM's executor runs as base + its id */
TEST(each_vms_executor_runs_as_a_uid_of_its_own)
{
	struct test_mediator t;
	struct sess_client c[2];
	struct vgpu_sess_buf b;
	struct sess_reply r = { 0 };
	char keys[128];
	unsigned int base;

	if (getuid() != 0)
		SKIP(return, "not root: executors keep the mediator's uid");
	test_seed();
	base = (unsigned int)test_rand_range(65536, 1u << 30);
	snprintf(keys, sizeof(keys), "executor_uid_base = %u\n", base);
	setup(_metadata, &t, keys);
	ASSERT_EQ(0, open_vm(&t, "s1", &c[0]));
	ASSERT_EQ(0, open_vm(&t, "s2", &c[1]));
	vgpu_sess_begin(&b);
	for (int i = 0; i < 2; i++) {
		vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
		run(_metadata, &c[i], &b, &r, 0, VGPU_SESS_NONE);
	}
	EXPECT_EQ((long)(base + 41), test_uid_of(tm_executor_of(&t, 41)));
	EXPECT_EQ((long)(base + 42), test_uid_of(tm_executor_of(&t, 42)));
	sc_close(&c[0]);
	sc_close(&c[1]);
	vgpu_sess_buf_free(&b);
	sc_reply_free(&r);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM)) TH_LOG("see %s", t.log);
	tm_cleanup(&t);
}

TEST_HARNESS_MAIN
