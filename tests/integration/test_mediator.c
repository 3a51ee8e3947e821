// SPDX-License-Identifier: MIT
/*
 * The mediator end to end, with simulated VMs writing into their spool
 * directories on tmpfs: results against the reference, priority order and
 * pool independence seen in the response timestamps, every malformed
 * request's documented error while good requests keep flowing, SIGKILL and
 * restart losing and duplicating nothing, SIGHUP, SIGTERM, idle CPU and
 * expiry of uncollected responses.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "client.h"
#include "spool.h"
#include "testlib.h"
#include "vgpu/ops.h"

#define VMS \
	"[vm hi]\nid = 11\npool = A\npriority = high\n" \
	"[vm med]\nid = 12\npool = A\npriority = medium\n" \
	"[vm lo]\nid = 13\npool = A\npriority = low\n" \
	"[vm b]\nid = 21\npool = B\npriority = medium\n" \
	"[vm evil]\nid = 66\npool = B\npriority = low\nmax_payload_bytes = 1M\n" \
	"[vm tiny]\nid = 67\npool = B\npriority = low\nmax_queued = 4\n"

#define MS 1000000ull	/* ns */

static struct vgpu_client *client(struct test_mediator *t, const char *vm)
{
	char dir[512], why[VGPU_MSG_LEN];
	struct vgpu_client *c = NULL;

	if (vgpu_client_open(tm_vmdir(t, vm, dir, sizeof(dir)), NULL, &c, why))
		printf("# client %s: %s\n", vm, why);
	return c;
}

static uint64_t submit_spin(struct vgpu_client *c, uint64_t ns)
{
	struct vgpu_call call = { .op = VGPU_OP_SPIN, .args = { ns } };
	char why[VGPU_MSG_LEN];
	uint64_t id = 0;

	if (vgpu_client_submit(c, &call, &id, why))
		printf("# submit: %s\n", why);
	return id;
}

/* Collect @n results from any of @cs into @res within @timeout_ms. */
static int collect(struct vgpu_client **cs, int ncs, struct vgpu_result *res, int n,
		   int timeout_ms)
{
	uint64_t deadline = vgpu_now_ns() + (uint64_t)timeout_ms * MS;
	int got = 0;

	while (got < n && vgpu_now_ns() < deadline) {
		for (int i = 0; i < ncs && got < n; i++) {
			int r = vgpu_client_next(cs[i], &res[got], ncs == 1 ? 50 : 2);

			if (r < 0)
				return r;
			got += r;
		}
	}
	return got;
}

/* Poll vgpuctl until pool @pool reports a running job. */
static int wait_running(struct test_mediator *t, char pool)
{
	char buf[8192], want[32];

	snprintf(want, sizeof(want), "pool %c: running", pool);
	for (int i = 0; i < 500; i++) {
		if (!tm_status(t, buf, sizeof(buf)) && strstr(buf, want))
			return 0;
		test_sleep_ms(5);
	}
	return -1;
}

FIXTURE(med) {
	struct test_mediator t;
};

FIXTURE_SETUP(med)
{
	test_seed();
	ASSERT_EQ(0, tm_init(&self->t, NULL, VMS));
	ASSERT_EQ(0, tm_start(&self->t)) TH_LOG("see %s", self->t.log);
}

FIXTURE_TEARDOWN(med)
{
	if (self->t.pid > 0)
		EXPECT_EQ(0, tm_stop(&self->t, SIGTERM)) TH_LOG("mediator exit status; see %s",
								 self->t.log);
	tm_cleanup(&self->t);
}

/* One random job of every kind, shapes that are not round numbers. */
struct rjob {
	struct vgpu_job_desc d;
	void *in, *out;
};

static void random_job(struct rjob *j, uint32_t op)
{
	char why[VGPU_MSG_LEN];

	memset(j, 0, sizeof(*j));
	j->d.op = op;
	switch (op) {
	case VGPU_OP_SGEMM:
	case VGPU_OP_GEMM_BF16:
		j->d.args[0] = test_rand_range(1, 70);
		j->d.args[1] = test_rand_range(1, 70);
		j->d.args[2] = test_rand_range(1, 70);
		break;
	case VGPU_OP_SAXPY: {
		float alpha;
		uint32_t bits;

		test_rand_floats(&alpha, 1);
		memcpy(&bits, &alpha, 4);
		j->d.args[0] = test_rand_range(1, 100000);
		j->d.args[1] = bits;
		break;
	}
	case VGPU_OP_SPIN:
		j->d.args[0] = test_rand_range(0, 200000);
		break;
	case VGPU_OP_NOOP:
		break;
	default:
		j->d.args[0] = test_rand_range(1, 100000);
	}
	vgpu_op_sizes(op, j->d.args, &j->d.in_len, &j->d.out_len, why);
	j->in = malloc(j->d.in_len + 4);
	j->out = malloc(j->d.out_len + 4);
	test_rand_op_input(&j->d, j->in);
	memset(j->out, 0xa5, j->d.out_len + 4);	/* poison */
}

static int submit_job(struct vgpu_client *c, struct rjob *j)
{
	struct vgpu_call call = { .op = j->d.op, .in = j->in, .in_len = j->d.in_len,
				  .out = j->out, .out_cap = j->d.out_len, .user = j };
	char why[VGPU_MSG_LEN];
	uint64_t id;

	memcpy(call.args, j->d.args, sizeof(call.args));
	return vgpu_client_submit(c, &call, &id, why);
}

TEST_F(med, every_op_matches_the_reference_and_carries_dom0_identity)
{
	struct vgpu_client *cs[2] = { client(&self->t, "hi"), client(&self->t, "b") };
	struct rjob jobs[2][3 * VGPU_NR_OPS];
	struct vgpu_result res[2 * 3 * VGPU_NR_OPS];
	int n = 3 * VGPU_NR_OPS;

	ASSERT_NE(NULL, cs[0]);
	ASSERT_NE(NULL, cs[1]);
	for (int v = 0; v < 2; v++) {
		for (int i = 0; i < n; i++) {
			random_job(&jobs[v][i], (uint32_t)(i % VGPU_NR_OPS));
			ASSERT_EQ(0, submit_job(cs[v], &jobs[v][i]));
		}
	}
	ASSERT_EQ(2 * n, collect(cs, 2, res, 2 * n, 30000));
	for (int i = 0; i < 2 * n; i++) {
		struct rjob *j = res[i].user;
		bool on_a = j >= jobs[0] && j < jobs[0] + n;
		char why[VGPU_MSG_LEN] = "";
		double rel;

		EXPECT_EQ(0, res[i].rsp.status) TH_LOG("%s: %s", vgpu_op_name(j->d.op), res[i].rsp.msg);
		EXPECT_EQ(j->d.out_len, res[i].rsp.payload_len);
		EXPECT_EQ(0, vgpu_cpu_verify(&j->d, j->in, j->out, &rel, why))
			TH_LOG("%s %" PRIu64 "x%" PRIu64 "x%" PRIu64 ": %s", vgpu_op_name(j->d.op),
			       j->d.args[0], j->d.args[1], j->d.args[2], why);
		EXPECT_EQ(on_a ? 11u : 21u, res[i].rsp.vm_id);
		EXPECT_EQ(on_a ? VGPU_POOL_A : VGPU_POOL_B, res[i].rsp.pool);
		EXPECT_EQ(on_a ? VGPU_PRIO_HIGH : VGPU_PRIO_MEDIUM, res[i].rsp.priority);
		EXPECT_LE(res[i].rsp.queued_ns, res[i].rsp.started_ns);
		EXPECT_LE(res[i].rsp.started_ns, res[i].rsp.finished_ns);
	}
	for (int v = 0; v < 2; v++) {
		for (int i = 0; i < n; i++) {
			free(jobs[v][i].in);
			free(jobs[v][i].out);
		}
		vgpu_client_close(cs[v]);
	}
}

static int cmp_started(const void *a, const void *b)
{
	const struct vgpu_result *x = a, *y = b;

	return x->rsp.started_ns < y->rsp.started_ns ? -1 : x->rsp.started_ns > y->rsp.started_ns;
}

TEST_F(med, shared_pool_runs_high_then_medium_then_low_fifo_within)
{
	struct vgpu_client *cs[3] = { client(&self->t, "lo"), client(&self->t, "med"),
				      client(&self->t, "hi") };
	struct vgpu_result res[1 + 3 * 5];
	int order[15];

	for (int v = 0; v < 3; v++)
		ASSERT_NE(NULL, cs[v]);
	submit_spin(cs[0], 1000 * MS);	/* occupies pool A */
	ASSERT_EQ(0, wait_running(&self->t, 'A'));
	/* Arrivals interleaved in a random order across the three levels. */
	for (int i = 0; i < 15; i++)
		order[i] = i % 3;
	for (int i = 14; i > 0; i--) {
		int k = (int)test_rand_range(0, (uint64_t)i), tmp = order[i];

		order[i] = order[k];
		order[k] = tmp;
	}
	for (int i = 0; i < 15; i++)
		submit_spin(cs[order[i]], 2 * MS);
	ASSERT_EQ(16, collect(cs, 3, res, 16, 20000));
	qsort(res, 16, sizeof(res[0]), cmp_started);
	/* res[0] is the blocker; then 5 high, 5 medium, 5 low, ids rising. */
	for (int i = 1; i < 16; i++) {
		unsigned int want = i <= 5 ? VGPU_PRIO_HIGH : i <= 10 ? VGPU_PRIO_MEDIUM : VGPU_PRIO_LOW;

		EXPECT_EQ(want, res[i].rsp.priority) TH_LOG("job %d of the backlog", i);
		if (i > 1 && res[i].rsp.priority == res[i - 1].rsp.priority)
			EXPECT_LT(res[i - 1].id, res[i].id) TH_LOG("FIFO within a level");
		/* non-preemptive, one at a time: no overlap in the pool */
		EXPECT_LE(res[i - 1].rsp.finished_ns, res[i].rsp.started_ns);
	}
	for (int v = 0; v < 3; v++)
		vgpu_client_close(cs[v]);
}

TEST_F(med, pools_run_concurrently_and_b_ignores_a_backlog)
{
	struct vgpu_client *a = client(&self->t, "lo"), *b = client(&self->t, "b");
	struct vgpu_client *both[2] = { a, b };
	struct vgpu_result ra[21], rb;
	uint64_t a_done_last = 0;

	ASSERT_NE(NULL, a);
	ASSERT_NE(NULL, b);
	for (int i = 0; i < 20; i++)	/* ~1 s of backlog in pool A */
		submit_spin(a, 50 * MS);
	ASSERT_EQ(0, wait_running(&self->t, 'A'));
	for (int i = 0; i < 5; i++) {
		submit_spin(b, 1 * MS);
		ASSERT_EQ(1, collect(&b, 1, &rb, 1, 5000));
		EXPECT_EQ(0, rb.rsp.status);
		/* B waits for nothing A does: generous bound for sanitizer builds */
		EXPECT_LT(rb.rsp.started_ns - rb.rsp.queued_ns, 100 * MS)
			TH_LOG("pool B job waited %" PRIu64 " us", (rb.rsp.started_ns - rb.rsp.queued_ns) / 1000);
	}
	ASSERT_EQ(20, collect(&a, 1, ra, 20, 10000));
	for (int i = 0; i < 20; i++)
		if (ra[i].rsp.finished_ns > a_done_last)
			a_done_last = ra[i].rsp.finished_ns;
	EXPECT_LT(rb.rsp.finished_ns, a_done_last) TH_LOG("B finished while A was still busy");

	/* Two long jobs, one per pool, overlap in time. */
	submit_spin(a, 300 * MS);
	submit_spin(b, 300 * MS);
	ASSERT_EQ(2, collect(both, 2, ra, 2, 5000));
	EXPECT_LT(ra[0].rsp.started_ns, ra[1].rsp.finished_ns);
	EXPECT_LT(ra[1].rsp.started_ns, ra[0].rsp.finished_ns);
	vgpu_client_close(a);
	vgpu_client_close(b);
}

/* ---- malformed requests ---------------------------------------------- */

struct good_traffic {
	struct test_mediator *t;
	atomic_bool stop;
	int done, bad;
};

static void *good_traffic(void *arg)
{
	struct good_traffic *g = arg;
	struct vgpu_client *c = client(g->t, "hi");	/* the other pool */
	struct rjob j;
	struct vgpu_result r;

	if (!c) {
		g->bad++;
		return NULL;
	}
	while (!g->stop) {
		char why[VGPU_MSG_LEN];
		double rel;

		random_job(&j, VGPU_OP_SAXPY);
		if (submit_job(c, &j) || collect(&c, 1, &r, 1, 5000) != 1 || r.rsp.status ||
		    vgpu_cpu_verify(&j.d, j.in, j.out, &rel, why))
			g->bad++;
		else
			g->done++;
		free(j.in);
		free(j.out);
	}
	vgpu_client_close(c);
	return NULL;
}

/* A well-formed VECTOR_ADD request with @n elements, as file bytes. */
static size_t good_request(uint8_t *buf, uint64_t id, uint64_t n)
{
	uint64_t args[VGPU_NR_ARGS] = { n };
	struct vgpu_req_hdr h;
	char why[VGPU_MSG_LEN];

	test_rand_floats((float *)(buf + VGPU_REQ_HDR_SIZE), 2 * n);
	vgpu_req_build(&h, id, VGPU_OP_VECTOR_ADD, args, buf + VGPU_REQ_HDR_SIZE, 8 * n, why);
	vgpu_req_encode(&h, buf);
	return VGPU_REQ_HDR_SIZE + 8 * n;
}

enum mutation {
	M_MAGIC, M_VERSION, M_CRC, M_TRUNC_HDR, M_TRUNC_PAYLOAD, M_TRAILING, M_OVERSIZED,
	M_UNKNOWN_OP, M_SHAPE, M_ID_MISMATCH, M_RESERVED, M_NR
};

static const struct {
	const char *name;
	int status;
} mutations[M_NR] = {
	[M_MAGIC] = { "bad magic", -EBADMSG },
	[M_VERSION] = { "bad version", -EPROTONOSUPPORT },
	[M_CRC] = { "bad crc", -EBADMSG },
	[M_TRUNC_HDR] = { "truncated header", -EBADMSG },
	[M_TRUNC_PAYLOAD] = { "truncated payload", -EBADMSG },
	[M_TRAILING] = { "trailing bytes", -EBADMSG },
	[M_OVERSIZED] = { "oversized", -E2BIG },
	[M_UNKNOWN_OP] = { "unknown op", -EOPNOTSUPP },
	[M_SHAPE] = { "wrong shape", -EINVAL },
	[M_ID_MISMATCH] = { "id differs from name", -EINVAL },
	[M_RESERVED] = { "reserved field", -EINVAL },
};

/* Patch one header field of an encoded request and fix the CRC up. */
static void patch(uint8_t *buf, size_t len, size_t off, uint64_t v, int width, bool fix_crc)
{
	struct vgpu_req_hdr h;

	for (int i = 0; i < width; i++)
		buf[off + (size_t)i] = (uint8_t)(v >> (8 * i));
	if (!fix_crc)
		return;
	vgpu_req_decode(buf, &h);
	h.crc32c = vgpu_req_crc(&h, vgpu_crc32c(0, buf + VGPU_REQ_HDR_SIZE,
						len - VGPU_REQ_HDR_SIZE));
	vgpu_req_encode(&h, buf);
}

/* A guest's view of its requests, as the agent checks one (spool_has()). */
struct viewer {
	int dir, req, rsp;
	uint64_t ids[64];
	atomic_uint nids;		/* ids[0..nids) are published */
	atomic_bool stop;
	unsigned long checks, lost;
	uint64_t lost_id;
};

static void *view(void *arg)
{
	struct viewer *v = arg;

	while (!atomic_load(&v->stop)) {
		unsigned int n = atomic_load(&v->nids);

		for (unsigned int i = 0; i < n; i++) {
			char name[VGPU_ID_NAME_LEN + 1];
			struct stat st;

			vgpu_id_name(v->ids[i], name);
			/* req/, then the mediator's hands, then rsp/: the order a request moves */
			if (fstatat(v->req, name, &st, 0) && v->ids[i] > vgpu_spool_taken(v->dir) &&
			    fstatat(v->rsp, name, &st, 0)) {
				v->lost++;
				v->lost_id = v->ids[i];
			}
			v->checks++;
		}
	}
	return NULL;
}

/*
 * Every published request stays in the guest's view while the mediator
 * takes bursts of them: in req/, at or below taken, or in rsp/ (taken is
 * raised once per inotify batch, before the batch leaves req/).
 */
TEST_F(med, a_burst_of_requests_never_leaves_the_guests_view)
{
	struct vgpu_client *c = client(&self->t, "b");
	struct vgpu_result res;
	struct viewer v = { 0 };
	char dir[512];
	pthread_t th;

	ASSERT_NE(NULL, c);
	tm_vmdir(&self->t, "b", dir, sizeof(dir));
	v.dir = open(dir, O_RDONLY | O_DIRECTORY);
	v.req = openat(v.dir, "req", O_RDONLY | O_DIRECTORY);
	v.rsp = openat(v.dir, "rsp", O_RDONLY | O_DIRECTORY);
	ASSERT_TRUE(v.dir >= 0 && v.req >= 0 && v.rsp >= 0);
	for (int round = 0; round < 20; round++) {
		unsigned int k = (unsigned int)test_rand_range(8, 64);

		atomic_store(&v.nids, 0);
		atomic_store(&v.stop, false);
		ASSERT_EQ(0, pthread_create(&th, NULL, view, &v));
		for (unsigned int i = 0; i < k; i++) {
			v.ids[i] = submit_spin(c, test_rand_range(0, 20000));
			ASSERT_NE(0u, v.ids[i]);
			atomic_store(&v.nids, i + 1);
		}
		/* answered, not collected: the viewer sees them in rsp/ */
		for (unsigned int i = 0; i < k; i++) {
			char name[VGPU_ID_NAME_LEN + 1];
			struct stat st;
			int ms = 0;

			vgpu_id_name(v.ids[i], name);
			while (fstatat(v.rsp, name, &st, 0) && ms++ < 10000)
				test_sleep_ms(1);
		}
		atomic_store(&v.stop, true);
		pthread_join(th, NULL);
		for (unsigned int i = 0; i < k; i++)
			ASSERT_EQ(1, collect(&c, 1, &res, 1, 10000));
	}
	printf("# %lu checks of a published id, %lu found in none of req/, taken, rsp/\n",
	       v.checks, v.lost);
	fflush(stdout);
	EXPECT_EQ(0ul, v.lost) TH_LOG("lost from view: %016" PRIx64, v.lost_id);
	EXPECT_LT(1000ul, v.checks);
	vgpu_client_close(c);
	close(v.req);
	close(v.rsp);
	close(v.dir);
}

TEST_F(med, malformed_requests_get_their_errors_while_good_ones_flow)
{
	static uint8_t buf[VGPU_REQ_HDR_SIZE + 8 * 4096 + 64];
	struct good_traffic g = { .t = &self->t };
	char vmdir[512], path[600], status[8192];
	struct vgpu_rsp_hdr h;
	pthread_t thr;
	uint64_t id = 1;
	int rejected = 0;

	tm_vmdir(&self->t, "evil", vmdir, sizeof(vmdir));
	ASSERT_EQ(0, pthread_create(&thr, NULL, good_traffic, &g));
	for (int m = 0; m < M_NR; m++, id++) {
		uint64_t n = test_rand_range(1, 4096);
		size_t len = good_request(buf, id, n);
		char name[VGPU_ID_NAME_LEN + 1];

		switch ((enum mutation)m) {
		case M_MAGIC: patch(buf, len, 0, test_rand() | 1, 4, true); break;
		case M_VERSION: patch(buf, len, 4, test_rand_range(2, 65535), 2, true); break;
		case M_CRC: buf[VGPU_REQ_HDR_SIZE + test_rand_range(0, 8 * n - 1)] ^= 0x40; break;
		case M_TRUNC_HDR: len = test_rand_range(0, VGPU_REQ_HDR_SIZE - 1); break;
		case M_TRUNC_PAYLOAD: len -= test_rand_range(1, 8 * n); break;
		case M_TRAILING: len += test_rand_range(1, 60); break;
		case M_OVERSIZED: patch(buf, len, 40, 1u << 30, 8, true);	/* n */
				  patch(buf, len, 24, 8ull << 30, 8, true); break;
		case M_UNKNOWN_OP: patch(buf, len, 8, test_rand_range(VGPU_NR_OPS, 1000), 4, true); break;
		case M_SHAPE: patch(buf, len, 40, n + test_rand_range(1, 10), 8, true); break;
		case M_ID_MISMATCH: patch(buf, len, 16, id + 1000, 8, true); break;
		case M_RESERVED: patch(buf, len, 80 + 8 * (test_rand() & 1), test_rand() | 1, 8, true); break;
		case M_NR: break;
		}
		vgpu_id_name(id, name);
		ASSERT_EQ(0, test_put_req(vmdir, name, buf, len));
		EXPECT_EQ(mutations[m].status, test_wait_rsp(vmdir, id, &h, 5000))
			TH_LOG("%s", mutations[m].name);
		EXPECT_NE('\0', h.msg[0]) TH_LOG("%s: no message", mutations[m].name);
		EXPECT_EQ(66u, h.vm_id);
		TH_LOG("%s -> %d %s", mutations[m].name, h.status, h.msg);
		rejected += m != M_CRC;	/* a bad CRC is found when the job runs */
	}

	/* An id that was used and collected already: -EEXIST. */
	{
		size_t len = good_request(buf, 3, 10);

		ASSERT_EQ(0, test_put_req(vmdir, "0000000000000003", buf, len));
		EXPECT_EQ(-EEXIST, test_wait_rsp(vmdir, 3, &h, 5000));
		rejected++;
	}
	/* A symlink planted in req/: refused, its target untouched. */
	{
		char victim[600], link[600];
		FILE *f;

		snprintf(victim, sizeof(victim), "%s/victim", self->t.root);
		f = fopen(victim, "w");
		ASSERT_NE(NULL, f);
		fputs("precious", f);
		fclose(f);
		snprintf(link, sizeof(link), "%s/req/%016" PRIx64, vmdir, id);
		ASSERT_EQ(0, symlink(victim, link));
		EXPECT_EQ(-EBADMSG, test_wait_rsp(vmdir, id, &h, 5000));
		EXPECT_EQ(0, access(victim, F_OK));
		f = fopen(victim, "r");
		ASSERT_NE(NULL, f);
		ASSERT_NE(NULL, fgets(path, sizeof(path), f));
		fclose(f);
		EXPECT_STREQ("precious", path);
		id++;
		rejected++;
	}
	/* A FIFO cannot block the mediator; a directory is no request either. */
	{
		char tmpdir[600];

		snprintf(path, sizeof(path), "%s/tmp/fifo", vmdir);
		ASSERT_EQ(0, mkfifo(path, 0644));
		snprintf(tmpdir, sizeof(tmpdir), "%s/req/%016" PRIx64, vmdir, id);
		ASSERT_EQ(0, rename(path, tmpdir));
		EXPECT_EQ(-EBADMSG, test_wait_rsp(vmdir, id++, &h, 5000));
		snprintf(path, sizeof(path), "%s/tmp/adir", vmdir);
		ASSERT_EQ(0, mkdir(path, 0755));
		snprintf(tmpdir, sizeof(tmpdir), "%s/req/%016" PRIx64, vmdir, id);
		ASSERT_EQ(0, rename(path, tmpdir));
		EXPECT_EQ(-EBADMSG, test_wait_rsp(vmdir, id++, &h, 5000));
		rejected += 2;
	}
	/*
	 * A device node is refused (/dev/null's numbers: harmless if opened).
	 * That it is never opened for real cannot be seen from here: on 6.1 an
	 * O_PATH open raises IN_OPEN too.
	 */
	{
		char node[600], dst[600];

		snprintf(node, sizeof(node), "%s/tmp/node", vmdir);
		ASSERT_EQ(0, mknod(node, S_IFCHR | 0644, makedev(1, 3)));
		snprintf(dst, sizeof(dst), "%s/req/%016" PRIx64, vmdir, id);
		ASSERT_EQ(0, rename(node, dst));
		EXPECT_EQ(-EBADMSG, test_wait_rsp(vmdir, id++, &h, 5000));
		EXPECT_STREQ("not a regular file", h.msg);
		rejected++;
	}
	/* A name that is no id: removed, counted, no answer. */
	ASSERT_EQ(0, test_put_req(vmdir, "hello.txt", "hi", 2));
	snprintf(path, sizeof(path), "%s/req/hello.txt", vmdir);
	for (int i = 0; i < 2000 && access(path, F_OK) == 0; i++)	/* 10 s */
		test_sleep_ms(5);
	EXPECT_NE(0, access(path, F_OK));
	rejected++;

	/* Past max_queued (4): -EBUSY, never silence. */
	{
		struct vgpu_client *c = client(&self->t, "tiny");
		struct vgpu_result r[6];
		int busy = 0;

		ASSERT_NE(NULL, c);
		for (int i = 0; i < 6; i++)
			submit_spin(c, 150 * MS);
		ASSERT_EQ(6, collect(&c, 1, r, 6, 10000));
		for (int i = 0; i < 6; i++)
			busy += r[i].rsp.status == -EBUSY;
		EXPECT_EQ(2, busy) TH_LOG("a full queue must answer -EBUSY");
		vgpu_client_close(c);
		ASSERT_EQ(0, tm_status(&self->t, status, sizeof(status)));
		snprintf(path, sizeof(path), "rejected=%d ", busy);
		EXPECT_NE(NULL, strstr(strstr(status, "vm tiny:"), path)) TH_LOG("%s", status);
	}

	g.stop = true;
	pthread_join(thr, NULL);
	EXPECT_EQ(0, g.bad);
	EXPECT_LT(5, g.done) TH_LOG("good requests kept flowing: %d", g.done);
	ASSERT_EQ(0, tm_status(&self->t, status, sizeof(status)));
	snprintf(path, sizeof(path), "rejected=%d ", rejected);
	EXPECT_NE(NULL, strstr(strstr(status, "vm evil:"), path)) TH_LOG("%s", status);
	EXPECT_EQ(0, test_count_entries(strcat(vmdir, "/req")));
}

/*
 * Two events about one request (a guest publishing it and then opening it
 * for writing; the same comes of a scan and an event): the first takes
 * it, the second finds nothing in req/ and is no copy to drop or count.
 */
TEST_F(med, a_second_event_about_a_taken_request_is_no_copy)
{
	uint64_t n = test_rand_range(1, 16), id = test_rand_range(1, 1 << 20);	/* 64 output bytes at most */
	uint8_t *buf = malloc(VGPU_REQ_HDR_SIZE + 8 * n);
	char vmdir[512], path[600], tmp[600], name[VGPU_ID_NAME_LEN + 1], status[8192];
	struct vgpu_rsp_hdr h;
	size_t len;
	int fd;

	ASSERT_NE(NULL, buf);
	len = good_request(buf, id, n);
	tm_vmdir(&self->t, "b", vmdir, sizeof(vmdir));
	vgpu_id_name(id, name);
	snprintf(path, sizeof(path), "%s/req/%s", vmdir, name);
	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", vmdir, name);
	/*
	 * Published (IN_MOVED_TO), then opened and closed for writing in place
	 * (IN_CLOSE_WRITE: two events that inotify does not merge), both
	 * queued while the mediator cannot read them.
	 */
	ASSERT_EQ(0, kill(self->t.pid, SIGSTOP));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)len, write(fd, buf, len));
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, rename(tmp, path));
	fd = open(path, O_WRONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, close(fd));
	ASSERT_EQ(0, kill(self->t.pid, SIGCONT));
	ASSERT_EQ(0, test_wait_rsp(vmdir, id, &h, 10000));
	EXPECT_EQ(0, h.status) TH_LOG("%s", h.msg);
	test_sleep_ms(100);	/* the second event has been read too */
	ASSERT_EQ(0, tm_status(&self->t, status, sizeof(status)));
	EXPECT_NE(NULL, strstr(strstr(status, "vm b:"), "completed=1 failed=0 rejected=0 "))
		TH_LOG("%s", status);
	free(buf);
}

/* ---- crash, restart, reload, stop ------------------------------------ */

TEST_F(med, sigkill_mid_load_loses_and_duplicates_nothing)
{
	static const char *const names[3] = { "hi", "lo", "b" };
	enum { PER_VM = 120, DEPTH = 16 };
	struct vgpu_client *cs[3];
	static struct rjob jobs[3][PER_VM + 1];
	int total = 3 * PER_VM;
	int sent[3] = { 0 }, got = 0, killed_at = -1, in_acc = 0;
	bool seen[3][PER_VM + 1] = { { false } };

	for (int v = 0; v < 3; v++) {
		cs[v] = client(&self->t, names[v]);
		ASSERT_NE(NULL, cs[v]);
	}
	uint64_t deadline = vgpu_now_ns() + 60000 * MS;

	while (got < total && vgpu_now_ns() < deadline) {
		for (int v = 0; v < 3; v++) {
			while (sent[v] < PER_VM && vgpu_client_inflight(cs[v]) < DEPTH) {
				struct rjob *j = &jobs[v][sent[v]];

				random_job(j, (uint32_t[]){ VGPU_OP_SAXPY, VGPU_OP_SPIN,
							    VGPU_OP_SGEMM }[test_rand() % 3]);
				if (j->d.op == VGPU_OP_SPIN)	/* let queues build up */
					j->d.args[0] = test_rand_range(2 * MS, 5 * MS);
				ASSERT_EQ(0, submit_job(cs[v], j));
				sent[v]++;
			}
			struct vgpu_result r;

			if (vgpu_client_next(cs[v], &r, 1) == 1) {
				struct rjob *j = r.user;
				int idx = (int)(j - jobs[v]);
				char why[VGPU_MSG_LEN];
				double rel;

				ASSERT_FALSE(seen[v][idx]) TH_LOG("answered twice");
				seen[v][idx] = true;
				EXPECT_EQ(0, r.rsp.status) TH_LOG("%s", r.rsp.msg);
				EXPECT_EQ(0, vgpu_cpu_verify(&j->d, j->in, j->out, &rel, why))
					TH_LOG("%s: %s", vgpu_op_name(j->d.op), why);
				got++;
			}
		}
		if (killed_at < 0 && got >= PER_VM) {
			struct rjob *blocker = &jobs[0][PER_VM];
			char d[600];

			/* A long job, so that the kill finds work accepted, unanswered. */
			random_job(blocker, VGPU_OP_SPIN);
			blocker->d.args[0] = 150 * MS;
			ASSERT_EQ(0, submit_job(cs[0], blocker));
			total++;
			test_sleep_ms(30);
			ASSERT_EQ(137, tm_stop(&self->t, SIGKILL));
			killed_at = got;
			for (int v = 0; v < 3; v++) {
				char sub[640];

				in_acc += test_count_entries(tm_privdir(&self->t, names[v], sub,
									sizeof(sub)));
				tm_vmdir(&self->t, names[v], d, sizeof(d));
				snprintf(sub, sizeof(sub), "%s/req", d);
				in_acc += test_count_entries(sub);
			}
			TH_LOG("killed after %d answers, %d requests unanswered", got, in_acc);
			test_sleep_ms(50);
			ASSERT_EQ(0, tm_start(&self->t));
		}
	}
	ASSERT_EQ(total, got);
	EXPECT_LT(0, in_acc) TH_LOG("the kill must hit unanswered requests");
	test_sleep_ms(200);	/* a second answer would show up in rsp/ by now */
	for (int v = 0; v < 3; v++) {
		char d[600], sub[640];
		static const char *const subs[] = { "req", "rsp" };

		tm_vmdir(&self->t, names[v], d, sizeof(d));
		for (int s = 0; s < 2; s++) {
			snprintf(sub, sizeof(sub), "%s/%s", d, subs[s]);
			EXPECT_EQ(0, test_count_entries(sub)) TH_LOG("%s not empty", sub);
		}
		tm_privdir(&self->t, names[v], sub, sizeof(sub));
		EXPECT_EQ(0, test_count_entries(sub)) TH_LOG("%s not empty", sub);
		for (int i = 0; i < PER_VM + (v == 0); i++) {
			free(jobs[v][i].in);
			free(jobs[v][i].out);
		}
		vgpu_client_close(cs[v]);
	}
}

/*
 * SIGTERM while a pool streams jobs: every job the worker ran is answered
 * before the mediator exits (none is left in the private record with its
 * output but no trailer, to be run again), the rest waits there untouched,
 * and after a restart every request has exactly one correct answer.
 */
TEST_F(med, sigterm_under_load_answers_every_job_that_ran)
{
	enum { N = 30 };
	static struct rjob jobs[N + 1];
	struct vgpu_client *c = client(&self->t, "b");
	bool seen[N + 1] = { false };
	int got = 0, waiting = 0;
	char acc[600], why[VGPU_MSG_LEN];
	struct dirent *de;
	struct vgpu_result r;
	DIR *d;

	ASSERT_NE(NULL, c);
	/* A 100 ms job first, so that the others queue up behind it. */
	random_job(&jobs[0], VGPU_OP_SPIN);
	jobs[0].d.args[0] = 100 * MS;
	ASSERT_EQ(0, submit_job(c, &jobs[0]));
	for (int i = 1; i <= N; i++) {
		if (i % 2) {	/* 1 to 4 ms: the stream lasts long enough */
			random_job(&jobs[i], VGPU_OP_SPIN);
			jobs[i].d.args[0] = test_rand_range(1 * MS, 4 * MS);
			ASSERT_EQ(0, submit_job(c, &jobs[i]));
			continue;
		}
		/* 0.8 to 3.2 MB in, half that out */
		random_job(&jobs[i], VGPU_OP_VECTOR_ADD);
		free(jobs[i].in);
		free(jobs[i].out);
		jobs[i].d.args[0] = test_rand_range(100000, 400000);
		ASSERT_EQ(0, vgpu_op_sizes(VGPU_OP_VECTOR_ADD, jobs[i].d.args, &jobs[i].d.in_len,
					   &jobs[i].d.out_len, why));
		jobs[i].in = malloc(jobs[i].d.in_len);
		jobs[i].out = malloc(jobs[i].d.out_len);
		ASSERT_NE(NULL, jobs[i].in);
		ASSERT_NE(NULL, jobs[i].out);
		test_rand_floats(jobs[i].in, jobs[i].d.in_len / 4);
		ASSERT_EQ(0, submit_job(c, &jobs[i]));
	}
	ASSERT_EQ(1, vgpu_client_next(c, &r, 5000));
	ASSERT_TRUE((struct rjob *)r.user == &jobs[0]);
	seen[0] = true;
	got = 1;
	test_sleep_ms((unsigned int)test_rand_range(1, 20));	/* into the stream */
	ASSERT_EQ(0, tm_stop(&self->t, SIGTERM));
	while (vgpu_client_next(c, &r, 100) == 1) {	/* answered before the exit */
		seen[(struct rjob *)r.user - jobs] = true;
		got++;
	}

	tm_privdir(&self->t, "b", acc, sizeof(acc));
	d = opendir(acc);
	ASSERT_NE(NULL, d);
	while ((de = readdir(d))) {
		uint8_t buf[VGPU_REQ_HDR_SIZE];
		struct vgpu_req_hdr h;
		struct stat st;
		char path[900];
		int fd;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", acc, de->d_name);
		fd = open(path, O_RDONLY);
		ASSERT_LE(0, fd);
		ASSERT_EQ((ssize_t)sizeof(buf), pread(fd, buf, sizeof(buf), 0));
		ASSERT_EQ(0, fstat(fd, &st));
		close(fd);
		vgpu_req_decode(buf, &h);
		EXPECT_EQ(h.hdr_size + h.payload_len, (uint64_t)st.st_size)
			TH_LOG("%s ran but was not answered", de->d_name);
		waiting++;
	}
	closedir(d);
	TH_LOG("%d answered by the exit, %d waiting in the private record", got, waiting);
	EXPECT_EQ(N + 1, got + waiting);

	ASSERT_EQ(0, tm_start(&self->t));
	while (got < N + 1) {
		struct rjob *j;
		double rel;

		ASSERT_EQ(1, vgpu_client_next(c, &r, 5000)) TH_LOG("%d of %d answered", got, N + 1);
		j = r.user;
		ASSERT_FALSE(seen[j - jobs]) TH_LOG("answered twice");
		seen[j - jobs] = true;
		EXPECT_EQ(0, r.rsp.status) TH_LOG("%s", r.rsp.msg);
		EXPECT_EQ(0, vgpu_cpu_verify(&j->d, j->in, j->out, &rel, why)) TH_LOG("%s", why);
		got++;
	}
	for (int i = 0; i <= N; i++) {
		free(jobs[i].in);
		free(jobs[i].out);
	}
	vgpu_client_close(c);
}

static void write_conf(struct test_mediator *t, const char *vms)
{
	struct test_mediator copy;

	/* Rewrite the config in place, keeping the paths. */
	tm_init(&copy, NULL, vms);
	tm_cleanup(&copy);
	FILE *f = fopen(t->conf, "w");

	if (!f)
		return;
	fprintf(f, "[mediator]\nspool = %s/spool\nstate_dir = %s/state\ncontrol_socket = %s\n"
		"backend = cpu\nlog_level = debug\n\n%s", t->root, t->root, t->sock, vms);
	fclose(f);
}

TEST_F(med, sighup_reprioritises_queued_jobs_adds_and_removes_vms)
{
	struct vgpu_client *cs[3] = { client(&self->t, "med"), client(&self->t, "lo"),
				      client(&self->t, "hi") };
	struct vgpu_client *fresh;
	struct vgpu_result res[7];
	char status[8192];

	for (int v = 0; v < 3; v++)
		ASSERT_NE(NULL, cs[v]);
	submit_spin(cs[0], 1000 * MS);	/* blocker */
	ASSERT_EQ(0, wait_running(&self->t, 'A'));
	for (int i = 0; i < 3; i++)
		submit_spin(cs[1], 1 * MS);	/* lo: arrives first */
	for (int i = 0; i < 3; i++)
		submit_spin(cs[2], 1 * MS);	/* hi */
	/* lo becomes high: its earlier arrivals now go first; evil goes; new comes. */
	write_conf(&self->t,
		   "[vm hi]\nid = 11\npool = A\npriority = high\n"
		   "[vm med]\nid = 12\npool = A\npriority = medium\n"
		   "[vm lo]\nid = 13\npool = A\npriority = high\n"
		   "[vm b]\nid = 21\npool = B\npriority = medium\n"
		   "[vm new]\nid = 31\npool = B\npriority = high\n");
	ASSERT_EQ(0, kill(self->t.pid, SIGHUP));
	ASSERT_EQ(7, collect(cs, 3, res, 7, 10000));
	qsort(res, 7, sizeof(res[0]), cmp_started);
	for (int i = 1; i < 7; i++) {
		EXPECT_EQ(i <= 3 ? 13u : 11u, res[i].rsp.vm_id) TH_LOG("position %d", i);
		EXPECT_EQ(VGPU_PRIO_HIGH, res[i].rsp.priority);
	}
	fresh = client(&self->t, "new");
	ASSERT_NE(NULL, fresh);
	submit_spin(fresh, 0);
	ASSERT_EQ(1, collect(&fresh, 1, res, 1, 5000));
	EXPECT_EQ(31u, res[0].rsp.vm_id);
	EXPECT_EQ(VGPU_POOL_B, res[0].rsp.pool);
	ASSERT_EQ(0, tm_status(&self->t, status, sizeof(status)));
	EXPECT_EQ(NULL, strstr(status, "vm evil:")) TH_LOG("%s", status);
	EXPECT_NE(NULL, strstr(status, "vm lo: vm_id=13 pool=A priority=high")) TH_LOG("%s", status);

	/* A bad config is refused and the running one kept. */
	write_conf(&self->t, "[vm hi]\nid = 11\npool = Z\n");
	ASSERT_EQ(0, kill(self->t.pid, SIGHUP));
	submit_spin(cs[2], 0);
	ASSERT_EQ(1, collect(&cs[2], 1, res, 1, 5000));
	EXPECT_EQ(0, res[0].rsp.status);
	vgpu_client_close(fresh);
	for (int v = 0; v < 3; v++)
		vgpu_client_close(cs[v]);
}

TEST_F(med, vm_removed_and_back_runs_its_queued_jobs_once)
{
	struct vgpu_client *cs[2] = { client(&self->t, "med"), client(&self->t, "lo") };
	struct vgpu_result res[6];
	char rspdir[600];

	ASSERT_NE(NULL, cs[0]);
	ASSERT_NE(NULL, cs[1]);
	submit_spin(cs[0], 1000 * MS);	/* blocker */
	ASSERT_EQ(0, wait_running(&self->t, 'A'));
	for (int i = 0; i < 5; i++)
		submit_spin(cs[1], 1 * MS);	/* queued behind it */
	test_sleep_ms(50);
	write_conf(&self->t, "[vm med]\nid = 12\npool = A\npriority = medium\n");
	ASSERT_EQ(0, kill(self->t.pid, SIGHUP));
	test_sleep_ms(50);
	/* Back under another name and priority, with the same directory. */
	{
		char conf[4096], dir[600];
		FILE *f;

		tm_vmdir(&self->t, "lo", dir, sizeof(dir));
		snprintf(conf, sizeof(conf), "[mediator]\nspool = %s/spool\nstate_dir = %s/state\n"
			 "control_socket = %s\nbackend = cpu\n[vm med]\nid = 12\npool = A\n"
			 "priority = medium\n[vm lo2]\nid = 14\npool = A\npriority = high\n"
			 "dir = %s\n", self->t.root, self->t.root, self->t.sock, dir);
		f = fopen(self->t.conf, "w");
		ASSERT_NE(NULL, f);
		fputs(conf, f);
		fclose(f);
	}
	ASSERT_EQ(0, kill(self->t.pid, SIGHUP));
	ASSERT_EQ(6, collect(cs, 2, res, 6, 10000));
	for (int i = 0; i < 6; i++)
		EXPECT_EQ(0, res[i].rsp.status);
	test_sleep_ms(300);	/* a second run would be done by now */
	tm_vmdir(&self->t, "lo", rspdir, sizeof(rspdir));
	strcat(rspdir, "/rsp");
	EXPECT_EQ(0, test_count_entries(rspdir));
	{
		char status[8192];

		ASSERT_EQ(0, tm_status(&self->t, status, sizeof(status)));
		EXPECT_NE(NULL, strstr(status, "low=0; done 6\n")) TH_LOG("ran twice? %s", status);
	}
	for (int v = 0; v < 2; v++)
		vgpu_client_close(cs[v]);
}

TEST_F(med, sigterm_finishes_the_running_job_and_keeps_the_queue)
{
	struct vgpu_client *c = client(&self->t, "hi");
	struct vgpu_result res[3];
	char acc[600];

	ASSERT_NE(NULL, c);
	submit_spin(c, 400 * MS);
	submit_spin(c, 1 * MS);
	submit_spin(c, 1 * MS);
	ASSERT_EQ(0, wait_running(&self->t, 'A'));
	EXPECT_EQ(0, tm_stop(&self->t, SIGTERM));
	/* The running job was answered; the two queued wait in the private record. */
	ASSERT_EQ(1, collect(&c, 1, res, 1, 100));
	EXPECT_EQ(0, res[0].rsp.status);
	EXPECT_LE(400 * MS, res[0].rsp.finished_ns - res[0].rsp.started_ns);
	EXPECT_EQ(2, test_count_entries(tm_privdir(&self->t, "hi", acc, sizeof(acc))));
	ASSERT_EQ(0, tm_start(&self->t));
	ASSERT_EQ(2, collect(&c, 1, res + 1, 2, 5000));
	EXPECT_EQ(0, res[1].rsp.status);
	EXPECT_EQ(0, res[2].rsp.status);
	vgpu_client_close(c);
}

TEST_F(med, idle_mediator_uses_no_cpu)
{
	struct vgpu_client *c = client(&self->t, "b");
	struct vgpu_result r;
	long before;

	ASSERT_NE(NULL, c);
	submit_spin(c, 0);
	ASSERT_EQ(1, collect(&c, 1, &r, 1, 5000));
	test_sleep_ms(100);
	before = tm_cpu_ticks(&self->t);
	test_sleep_ms(1500);
	EXPECT_GE(1, tm_cpu_ticks(&self->t) - before) TH_LOG("ticks used while idle");
	vgpu_client_close(c);
}

TEST_F(med, status_shows_the_running_job_and_queue_depths)
{
	struct vgpu_client *cs[3] = { client(&self->t, "lo"), client(&self->t, "med"),
				      client(&self->t, "hi") };
	struct vgpu_result res[6];
	char status[8192];

	submit_spin(cs[0], 1000 * MS);	/* long enough for a loaded sanitizer run */
	ASSERT_EQ(0, wait_running(&self->t, 'A'));
	submit_spin(cs[1], 0);
	submit_spin(cs[1], 0);
	for (int i = 0; i < 3; i++)
		submit_spin(cs[2], 0);
	/* accepted as the mediator gets to them: a loaded host may take a while */
	for (uint64_t end = vgpu_now_ns() + 10000 * MS; vgpu_now_ns() < end; test_sleep_ms(5)) {
		ASSERT_EQ(0, tm_status(&self->t, status, sizeof(status)));
		if (strstr(status, "accepted=3") && strstr(status, "accepted=2"))
			break;
	}
	EXPECT_NE(NULL, strstr(status, "pool A: running lo/")) TH_LOG("%s", status);
	EXPECT_NE(NULL, strstr(status, "(spin, low)")) TH_LOG("%s", status);
	EXPECT_NE(NULL, strstr(status, "queued high=3 medium=2 low=0")) TH_LOG("%s", status);
	EXPECT_NE(NULL, strstr(status, "pool B: idle; queued high=0 medium=0 low=0")) TH_LOG("%s", status);
	EXPECT_NE(NULL, strstr(status, "vm hi: vm_id=11 pool=A priority=high jobs=3 accepted=3"))
		TH_LOG("%s", status);
	ASSERT_EQ(6, collect(cs, 3, res, 6, 5000));
	for (int v = 0; v < 3; v++)
		vgpu_client_close(cs[v]);
}

/* A control-socket client that connects, sends @line (may be "") and then does nothing. */
static int ctl_connect(const struct test_mediator *t, const char *line)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.107s", t->sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    write(fd, line, strlen(line)) != (ssize_t)strlen(line)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/*
 * Clients of the control socket that never finish their line, or never
 * read their report, cost the event loop nothing: requests are accepted
 * and answered at full speed meanwhile, the stuck clients are dropped
 * after their deadline (1 s each) and vgpuctl is answered after them.
 */
TEST_F(med, stuck_control_clients_do_not_stall_requests)
{
	struct vgpu_client *c = client(&self->t, "b");
	int nstuck = (int)test_rand_range(3, 5), stuck[5], reader;
	struct vgpu_result res[20];
	char status[8192], buf[256];
	uint64_t t0, took_ms;
	ssize_t n;

	ASSERT_NE(NULL, c);
	for (int i = 0; i < nstuck; i++) {
		stuck[i] = ctl_connect(&self->t, i % 2 ? "sta" : "");
		ASSERT_LE(0, stuck[i]);
	}
	test_sleep_ms(50);		/* the mediator has taken the first one */
	t0 = vgpu_now_ns();
	for (int i = 0; i < 20; i++)
		submit_spin(c, 0);
	ASSERT_EQ(20, collect(&c, 1, res, 20, 10000));
	took_ms = (vgpu_now_ns() - t0) / MS;
	TH_LOG("%d stuck clients; 20 requests answered in %" PRIu64 " ms", nstuck, took_ms);
	EXPECT_GT(700, took_ms);
	for (int i = 0; i < 20; i++)
		EXPECT_EQ(0, res[i].rsp.status);

	/* One that asks and reads only later gets its whole report. */
	reader = ctl_connect(&self->t, "status\n");
	ASSERT_LE(0, reader);
	ASSERT_EQ(0, tm_status(&self->t, status, sizeof(status)));
	EXPECT_NE(NULL, strstr(status, "vm b: vm_id=21")) TH_LOG("%s", status);
	n = read(reader, buf, sizeof(buf) - 1);
	ASSERT_LT(0, n);
	buf[n] = '\0';
	EXPECT_EQ(0, strncmp(buf, "backend cpu\n", 12)) TH_LOG("%s", buf);
	close(reader);
	for (int i = 0; i < nstuck; i++)
		close(stuck[i]);
	vgpu_client_close(c);
}

/* Run @cmd with its output in @out; its status (-1 if it could not run). */
static int run_cmd(const char *cmd, char *out, size_t len)
{
	FILE *p = popen(cmd, "r");
	size_t n;

	out[0] = '\0';
	if (!p)
		return -1;
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	return pclose(p);
}

/* vgpuctl finds the socket in the config even while the rest of it is broken. */
TEST_F(med, vgpuctl_reads_the_socket_from_a_broken_config)
{
	char conf[400], cmd[1200], out[8192];
	FILE *f;

	snprintf(conf, sizeof(conf), "%s/broken.conf", self->t.root);
	f = fopen(conf, "w");
	ASSERT_NE(NULL, f);
	fprintf(f, "# broken on purpose\n[mediator]\nspoll = /nowhere\n"
		"control_socket = %s ; inline comment\nthis line has no equals sign\n"
		"[vm x]\nid = banana\n[mediator]\n", self->t.sock);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "%s -n -c %s 2>&1", test_bin("vgpu-mediator"), conf);
	EXPECT_NE(0, run_cmd(cmd, out, sizeof(out))) TH_LOG("the config should be refused: %s", out);
	snprintf(cmd, sizeof(cmd), "%s -c %s status 2>&1", test_bin("vgpuctl"), conf);
	EXPECT_EQ(0, run_cmd(cmd, out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "pool A: idle")) TH_LOG("%s", out);
}

TEST(uncollected_responses_expire)
{
	struct test_mediator t;
	struct vgpu_client *c;
	struct vgpu_call call = { .op = VGPU_OP_NOOP };
	char dir[600], why[VGPU_MSG_LEN], status[8192];
	uint64_t id;

	ASSERT_EQ(0, tm_init(&t, "rescan_interval_s = 1\nresponse_ttl_s = 1\n",
			     "[vm x]\nid = 1\npool = A\npriority = low\n"));
	ASSERT_EQ(0, tm_start(&t));
	c = client(&t, "x");
	ASSERT_NE(NULL, c);
	ASSERT_EQ(0, vgpu_client_submit(c, &call, &id, why));	/* never collected */
	tm_vmdir(&t, "x", dir, sizeof(dir));
	strcat(dir, "/rsp");
	for (int i = 0; i < 2000 && test_count_entries(dir) < 1; i++)	/* 10 s */
		test_sleep_ms(5);
	EXPECT_EQ(1, test_count_entries(dir));
	for (int i = 0; i < 80 && test_count_entries(dir) > 0; i++)
		test_sleep_ms(50);
	EXPECT_EQ(0, test_count_entries(dir));
	ASSERT_EQ(0, tm_status(&t, status, sizeof(status)));
	EXPECT_NE(NULL, strstr(status, "expired=1")) TH_LOG("%s", status);
	vgpu_client_close(c);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

/* Voluntary context switches of this thread in vgpu_client_next() over
 * 20 jobs of vm b, one at a time, with a client of @spin_us. */
static long client_sleeps(struct __test_metadata *_metadata, struct test_mediator *t,
			  unsigned int spin_us)
{
	struct vgpu_client_opts o = { .spin_us = spin_us };
	char dir[512], why[VGPU_MSG_LEN];
	struct vgpu_client *c = NULL;
	struct vgpu_result r;
	struct rusage r0, r1;
	long n = 0;

	EXPECT_EQ(0, vgpu_client_open(tm_vmdir(t, "b", dir, sizeof(dir)), &o, &c, why))
		TH_LOG("%s", why);
	if (!c)
		return -1;
	for (int i = 0; i < 20; i++) {
		EXPECT_NE(0u, submit_spin(c, 0));
		getrusage(RUSAGE_THREAD, &r0);
		EXPECT_EQ(1, vgpu_client_next(c, &r, 5000));
		getrusage(RUSAGE_THREAD, &r1);
		EXPECT_EQ(0, r.rsp.status);
		n += r1.ru_nvcsw - r0.ru_nvcsw;
	}
	vgpu_client_close(c);
	return n;
}

/* opts.spin_us: a client that polls for its answer takes it awake. */
TEST_F(med, a_spinning_client_takes_its_answers_awake)
{
	long slept = client_sleeps(_metadata, &self->t, 0);
	long spun = client_sleeps(_metadata, &self->t, 500000);

	TH_LOG("slept %ld times in 20 jobs without spin, %ld with", slept, spun);
	EXPECT_GE(slept, 10);
	EXPECT_LT(spun, 10);
	EXPECT_LE(0, spun);
}

/*
 * A thread that polls is running or waiting for a CPU the whole time it
 * polls, however busy the host: what its schedstat adds up is the length of
 * the poll, where its CPU time is only the share the host left it.
 */
TEST(worker_polls_for_worker_spin_us_after_a_job_then_sleeps)
{
	struct test_mediator t;
	struct vgpu_client *c;
	struct vgpu_result r;
	int64_t before, polled;
	long ticks;

	ASSERT_EQ(0, tm_init(&t, "worker_spin_us = 400000\n",
			     "[vm x]\nid = 1\npool = A\npriority = low\n"));
	ASSERT_EQ(0, tm_start(&t));
	c = client(&t, "x");
	ASSERT_NE(NULL, c);
	test_sleep_ms(600);		/* the start's own poll is over */
	before = tm_runnable_ns(&t);
	if (before <= 0) {
		vgpu_client_close(c);
		EXPECT_EQ(0, tm_stop(&t, SIGTERM));
		tm_cleanup(&t);
		SKIP(return, "no per-thread schedstat in /proc");
	}
	submit_spin(c, 0);
	ASSERT_EQ(1, collect(&c, 1, &r, 1, 5000));
	test_sleep_ms(1000);		/* the poll, and room for a late start of it */
	polled = tm_runnable_ns(&t) - before;
	ticks = tm_cpu_ticks(&t);
	test_sleep_ms(600);
	ticks = tm_cpu_ticks(&t) - ticks;
	TH_LOG("runnable %" PRId64 " ms in the 1 s after a job", polled / (int64_t)MS);
	/* 0.4 s of polling, less what a hypervisor or interrupts took (not counted) */
	EXPECT_LE(300 * MS, (uint64_t)polled);
	EXPECT_GE(1, ticks) TH_LOG("ticks once the poll is over");
	vgpu_client_close(c);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

/* Cpus_allowed_list of /proc/PID/task/TID into @buf; "" if not found. */
static void task_cpus(pid_t pid, const char *tid, char *buf, size_t len)
{
	char path[128], line[256], cpus[256];
	FILE *f;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/task/%s/status", (int)pid, tid);
	f = fopen(path, "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Cpus_allowed_list: %255s", cpus) == 1) {
			snprintf(buf, len, "%s", cpus);
			break;
		}
	fclose(f);
}

/* TID of @pid's thread named @comm into @tid; 0 or -1. */
static int find_thread(pid_t pid, const char *comm, char *tid, size_t len)
{
	char path[300], name[64];
	struct dirent *d;
	DIR *dir;
	int found = -1;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while (found && (d = readdir(dir))) {
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/comm", (int)pid, d->d_name);
		f = fopen(path, "r");
		if (f && fgets(name, sizeof(name), f)) {
			name[strcspn(name, "\n")] = '\0';
			if (!strcmp(name, comm) && strlen(d->d_name) < len) {
				memcpy(tid, d->d_name, strlen(d->d_name) + 1);
				found = 0;
			}
		}
		if (f)
			fclose(f);
	}
	closedir(dir);
	return found;
}

TEST(workers_are_named_and_bound_to_their_cpus)
{
	struct test_mediator t;
	struct vgpu_client *c;
	struct vgpu_result r;
	char keys[256], tid[32], got[256], mine[256], self_tid[32];
	int first, last;

	ASSERT_EQ(0, test_cpu_range(&first, &last));
	/*
	 * Main thread on the first CPU we may use, pool A's worker and its two
	 * I/O helpers on the last, B's worker and helper unbound.
	 */
	snprintf(keys, sizeof(keys), "cpus = %d\n[pool A]\ncpus = %d\nio_threads = 3\n",
		 first, last);
	ASSERT_EQ(0, tm_init(&t, keys, "[vm x]\nid = 1\npool = A\npriority = low\n"));
	ASSERT_EQ(0, tm_start(&t));
	c = client(&t, "x");
	ASSERT_NE(NULL, c);
	submit_spin(c, 0);
	ASSERT_EQ(1, collect(&c, 1, &r, 1, 5000));
	EXPECT_EQ(0, r.rsp.status);

	snprintf(mine, sizeof(mine), "%d", last);
	for (int i = 0; i < 3; i++) {
		const char *names[] = { "vgpu-pool-A", "vgpu-pool-A/1", "vgpu-pool-A/2" };

		ASSERT_EQ(0, find_thread(t.pid, names[i], tid, sizeof(tid))) TH_LOG("%s", names[i]);
		task_cpus(t.pid, tid, got, sizeof(got));
		EXPECT_STREQ(mine, got) TH_LOG("%s", names[i]);
	}
	EXPECT_EQ(-1, find_thread(t.pid, "vgpu-pool-A/3", tid, sizeof(tid)));
	snprintf(tid, sizeof(tid), "%d", (int)t.pid);
	task_cpus(t.pid, tid, got, sizeof(got));
	snprintf(mine, sizeof(mine), "%d", first);
	EXPECT_STREQ(mine, got);
	snprintf(self_tid, sizeof(self_tid), "%d", (int)getpid());
	task_cpus(getpid(), self_tid, mine, sizeof(mine));
	ASSERT_EQ(0, find_thread(t.pid, "vgpu-pool-B", tid, sizeof(tid)));
	task_cpus(t.pid, tid, got, sizeof(got));
	EXPECT_STREQ(mine, got);	/* unbound: what the mediator was started with */
	ASSERT_EQ(0, find_thread(t.pid, "vgpu-pool-B/1", tid, sizeof(tid)));	/* default: 2 */
	task_cpus(t.pid, tid, got, sizeof(got));
	EXPECT_STREQ(mine, got);
	vgpu_client_close(c);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

/*
 * Runs the mediator on @t's config with @flag (-d: start, -n: check) until
 * it exits; its output into @out. Returns its exit status, or -1.
 */
static int run_mediator(const struct test_mediator *t, const char *flag, char *out, size_t len)
{
	char cmd[1024];
	FILE *p;
	size_t n;
	int rc;

	snprintf(cmd, sizeof(cmd), "%s %s -c %s 2>&1", test_bin("vgpu-mediator"), flag, t->conf);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/*
 * A CPU the mediator may not use stops the start, and -n, at the key's
 * line: before any thread starts (the workers' own check, "none of those
 * CPUs is online and allowed", is now a second line of defence).
 */
TEST(cpus_that_cannot_be_used_stop_the_start)
{
	static const char *const keys[] = { "[pool B]\ncpus = 1023\n",
					    "[pool B]\ncpus = 1023\nio_threads = 1\n" };
	static const char *const flags[] = { "-d", "-n" };

	for (int i = 0; i < 2; i++) {
		for (int f = 0; f < 2; f++) {
			struct test_mediator t;
			char out[4096];

			ASSERT_EQ(0, tm_init(&t, keys[i],
					     "[vm x]\nid = 1\npool = A\npriority = low\n"));
			EXPECT_EQ(1, run_mediator(&t, flags[f], out, sizeof(out)));
			EXPECT_NE(NULL, strstr(out, "mediator.conf:8: key 'cpus': CPU 1023 is not "
					       "online or not allowed here")) TH_LOG("%s", out);
			tm_cleanup(&t);
		}
	}
}

TEST(check_mode_reports_config_errors)
{
	struct test_mediator t;
	char out[1024];

	ASSERT_EQ(0, tm_init(&t, NULL, "[vm x]\nid = 1\npool = A\npriority = soon\n"));
	EXPECT_EQ(1, run_mediator(&t, "-n", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "mediator.conf:11: key 'priority'")) TH_LOG("%s", out);
	tm_cleanup(&t);
}

TEST_HARNESS_MAIN
