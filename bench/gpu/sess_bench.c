// SPDX-License-Identifier: MIT
/*
 * vgpu-sess-bench: issue 13's measurements of session jobs (protocol.rst,
 * "Sessions (version 2)") through a running mediator and its per-VM
 * executors, as guests send them: lists built with lib/session.c, sent and
 * collected with lib/client.c (inotify). bench/gpu/mediator-bench.sh (part
 * "sess") starts the mediator with the VMs that `vgpu-sess-bench vms`
 * prints and runs one mode per measurement; bench/gpu/run-on-device.sh
 * puts the RESULT_SESSIONS line together. The kernels are PTX written
 * here (kernels[] below), loaded into each VM's session as a guest would.
 *
 *   vgpu-sess-bench [-s SPOOL] [-T SECONDS] [-S SPIN_US] MODE
 *
 * SPOOL holds the VM directories (default /tmp/vgpu-bench-spool/sess);
 * SECONDS scales the timed modes (default 2); SPIN_US is how long the
 * clients poll for an answer before they sleep (default 0: at once).
 * Each mode prints one line (two for launch and direct) and exits 0, or
 * prints "sess_error MODE: why" and exits 1:
 *
 *   direct     one process, no mediator: the same PTX through the driver
 *              API (cuLaunchKernel + cuCtxSynchronize): an empty kernel's
 *              launch+sync p50, and 20 us spin_ns jobs per second
 *   launch     VM a1, one job at a time: a list of one empty-kernel launch
 *              (kind=kernel), and a list of one timestamp (kind=list);
 *              e2e = in (publish to queued) + med (queued to finished:
 *              wait + run) + back (finished to the answer collected)
 *   jobs       VMs a1 and a2 (pool A), 16 in flight each: 20 us spin_ns jobs
 *   jobs1      VM a1 alone, 32 in flight: the same jobs on one executor
 *              (what alternating two executors' contexts costs)
 *   fault      VM f1 (pool A) faults (an illegal address) again and again
 *              while VM b1 (pool B) runs 1000 jobs, each checked
 *   hang       VM h1 (pool A, 1000 ms limit) launches a kernel that never
 *              ends, VM a2's next job waits behind it: 3 rounds
 *   xvm        VM x2 (pool B) reads the raw device address of VM x1's buffer
 *   quota      VM q1's memory, handle and module quotas at their boundary
 *   timeslice  VM a1's 20 us jobs, one at a time, alone and while VM b1
 *              (pool B) runs 50 ms kernels
 *   copy       VM c1: 256 MiB host->device->host in one list, end to end
 *   vms        print the [vm] sections these modes expect
 *   ptx        print the kernels (the build checks them with ptxas)
 *
 * Without a GPU (the CPU backend: module_load is -EOPNOTSUPP) the modes
 * that need a kernel run the same path with a stand-in that needs none
 * (kind=plumbing: op spin for spin_ns, test_crash for the fault,
 * test_hang for the endless kernel; the mediator must then set
 * session_test_commands) or print their line with "na". Only kind=kernel
 * lines measure the GPU. Times are CLOCK_MONOTONIC, as the mediator's
 * queued_ns/started_ns/finished_ns in each response trailer.
 *
 * Threads: the main thread; jobs, fault and timeslice run one more per
 * extra VM. Each VM's client is used by one thread only.
 */
#include <dlfcn.h>
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef VGPU_SESS_BENCH_CUDA
#include <cuda.h>
#endif

#include "client.h"
#include "spool.h"
#include "vgpu/ops.h"
#include "vgpu/session.h"

#define WAIT_MS		60000		/* one answer; a first job starts a CUDA context */
#define MS		1000000ull	/* ns */
#define US		1000ull		/* ns */
#define SMALL_OUT	(1u << 20)	/* response bytes of every list but copy's */
#define PROBE_NS	20000ull	/* a small user job: 20 us */
#define LOAD_NS		(50 * MS)	/* timeslice: pool B's kernels */
#define HANG_LIMIT_MS	1000		/* h1's session_time_limit_ms */
#define BY_JOBS		1000		/* fault: the bystander's jobs */
#define BY_SPIN_NS	(1 * MS)	/* each spins first, so that faults overlap them */
#define BY_WORDS	512		/* and fills and returns 4 KiB */
#define XVM_WORDS	32768		/* xvm: x1's buffer, 256 KiB */
#define Q_MEM		(256ull << 20)	/* q1's session_mem_bytes */
#define Q_HANDLES	8		/* q1's session_handles */
#define Q_MODULE	(64ull << 10)	/* q1's session_module_bytes */
#define COPY_BYTES	(256ull << 20)
#define GOLDEN		0x9e3779b97f4a7c15ull	/* fill_u64's multiplier */

static const char vm_sections[] =
	"[vm a1]\nid = 201\npool = A\npriority = medium\n"
	"[vm a2]\nid = 202\npool = A\npriority = medium\n"
	"[vm b1]\nid = 203\npool = B\npriority = medium\n"
	"[vm f1]\nid = 204\npool = A\npriority = medium\n"
	"[vm h1]\nid = 205\npool = A\npriority = medium\nsession_time_limit_ms = 1000\n"
	"[vm x1]\nid = 206\npool = A\npriority = medium\n"
	"[vm x2]\nid = 207\npool = B\npriority = medium\n"
	"[vm q1]\nid = 208\npool = A\npriority = medium\nsession_mem_bytes = 256M\n"
	"session_handles = 8\nsession_module_bytes = 64K\n"
	"[vm c1]\nid = 209\npool = B\npriority = medium\nmax_payload_bytes = 512M\n";

/*
 * The kernels, in PTX written by hand: JIT-compiled by the driver for the
 * GPU it finds. Parameters are u64 each, in order: offsets 0, 8, 16.
 */
static const char kernels[] =
	"// vgpu-sess-bench's kernels (bench/gpu/sess_bench.c)\n"
	".version 7.0\n"
	".target sm_70\n"
	".address_size 64\n"
	"\n"
	"// empty(): nothing, for the cost of a launch\n"
	".visible .entry empty()\n"
	"{\n"
	"	ret;\n"
	"}\n"
	"\n"
	"// spin_ns(u64 ns): one thread reads %globaltimer until ns have passed;\n"
	"// ns = 2^64 - 1 never ends\n"
	".visible .entry spin_ns(\n"
	"	.param .u64 spin_ns_param_0\n"
	")\n"
	"{\n"
	"	.reg .pred %p<2>;\n"
	"	.reg .b64 %rd<5>;\n"
	"\n"
	"	ld.param.u64 %rd1, [spin_ns_param_0];\n"
	"	mov.u64 %rd2, %globaltimer;\n"
	"$L__spin:\n"
	"	mov.u64 %rd3, %globaltimer;\n"
	"	sub.s64 %rd4, %rd3, %rd2;\n"
	"	setp.lt.u64 %p1, %rd4, %rd1;\n"
	"	@%p1 bra $L__spin;\n"
	"	ret;\n"
	"}\n"
	"\n"
	"// fill_u64(u64 *out, u64 n, u64 tag): out[i] = tag * 0x9e3779b97f4a7c15 + i\n"
	".visible .entry fill_u64(\n"
	"	.param .u64 fill_u64_param_0,\n"
	"	.param .u64 fill_u64_param_1,\n"
	"	.param .u64 fill_u64_param_2\n"
	")\n"
	"{\n"
	"	.reg .pred %p<2>;\n"
	"	.reg .b32 %r<5>;\n"
	"	.reg .b64 %rd<10>;\n"
	"\n"
	"	ld.param.u64 %rd1, [fill_u64_param_0];\n"
	"	ld.param.u64 %rd2, [fill_u64_param_1];\n"
	"	ld.param.u64 %rd3, [fill_u64_param_2];\n"
	"	mov.u32 %r1, %ctaid.x;\n"
	"	mov.u32 %r2, %ntid.x;\n"
	"	mov.u32 %r3, %tid.x;\n"
	"	mad.lo.s32 %r4, %r1, %r2, %r3;\n"
	"	cvt.u64.u32 %rd4, %r4;\n"
	"	setp.ge.u64 %p1, %rd4, %rd2;\n"
	"	@%p1 bra $L__fill_done;\n"
	"	mul.lo.s64 %rd5, %rd3, -7046029254386353131;\n"	/* 0x9e3779b97f4a7c15 */
	"	add.s64 %rd6, %rd5, %rd4;\n"
	"	cvta.to.global.u64 %rd7, %rd1;\n"
	"	shl.b64 %rd8, %rd4, 3;\n"
	"	add.s64 %rd9, %rd7, %rd8;\n"
	"	st.global.u64 [%rd9], %rd6;\n"
	"$L__fill_done:\n"
	"	ret;\n"
	"}\n"
	"\n"
	"// whereami(const void *p, u64 *out): *out = p, as a number\n"
	".visible .entry whereami(\n"
	"	.param .u64 whereami_param_0,\n"
	"	.param .u64 whereami_param_1\n"
	")\n"
	"{\n"
	"	.reg .b64 %rd<4>;\n"
	"\n"
	"	ld.param.u64 %rd1, [whereami_param_0];\n"
	"	ld.param.u64 %rd2, [whereami_param_1];\n"
	"	cvta.to.global.u64 %rd3, %rd2;\n"
	"	st.global.u64 [%rd3], %rd1;\n"
	"	ret;\n"
	"}\n"
	"\n"
	"// read_raw(u64 addr, u64 n, u64 *out): out[i] = ((u64 *)addr)[i], addr a\n"
	"// plain number that no pointer patch made\n"
	".visible .entry read_raw(\n"
	"	.param .u64 read_raw_param_0,\n"
	"	.param .u64 read_raw_param_1,\n"
	"	.param .u64 read_raw_param_2\n"
	")\n"
	"{\n"
	"	.reg .pred %p<2>;\n"
	"	.reg .b32 %r<5>;\n"
	"	.reg .b64 %rd<10>;\n"
	"\n"
	"	ld.param.u64 %rd1, [read_raw_param_0];\n"
	"	ld.param.u64 %rd2, [read_raw_param_1];\n"
	"	ld.param.u64 %rd3, [read_raw_param_2];\n"
	"	mov.u32 %r1, %ctaid.x;\n"
	"	mov.u32 %r2, %ntid.x;\n"
	"	mov.u32 %r3, %tid.x;\n"
	"	mad.lo.s32 %r4, %r1, %r2, %r3;\n"
	"	cvt.u64.u32 %rd4, %r4;\n"
	"	setp.ge.u64 %p1, %rd4, %rd2;\n"
	"	@%p1 bra $L__read_done;\n"
	"	shl.b64 %rd5, %rd4, 3;\n"
	"	add.s64 %rd6, %rd1, %rd5;\n"
	"	ld.volatile.global.u64 %rd7, [%rd6];\n"
	"	cvta.to.global.u64 %rd8, %rd3;\n"
	"	add.s64 %rd9, %rd8, %rd5;\n"
	"	st.global.u64 [%rd9], %rd7;\n"
	"$L__read_done:\n"
	"	ret;\n"
	"}\n"
	"\n"
	"// bad_address(int *p): a store 1 TiB past p, far past any allocation\n"
	".visible .entry bad_address(\n"
	"	.param .u64 bad_address_param_0\n"
	")\n"
	"{\n"
	"	.reg .b32 %r<2>;\n"
	"	.reg .b64 %rd<4>;\n"
	"\n"
	"	ld.param.u64 %rd1, [bad_address_param_0];\n"
	"	cvta.to.global.u64 %rd2, %rd1;\n"
	"	add.s64 %rd3, %rd2, 1099511627776;\n"
	"	mov.u32 %r1, 1;\n"
	"	st.volatile.global.u32 [%rd3], %r1;\n"
	"	ret;\n"
	"}\n";

static const char *spool = "/tmp/vgpu-bench-spool/sess";
static double secs = 2;
static unsigned int client_spin_us;	/* -S: vgpu_client_opts.spin_us */
static const char *mode;
static bool have_kernels;	/* the VMs' executors run modules (not the CPU backend) */

/* ---- small helpers ------------------------------------------------------ */

/* Print "sess_error MODE: ..." and exit 1 (any thread). */
static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	printf("sess_error %s: ", mode);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p)
		die("out of memory for %zu bytes", n);
	return p;
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

static uint64_t splitmix64(uint64_t x)
{
	x += GOLDEN;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The @p-th percentile of @n samples (ns; sorted in place), in us. */
static double pct_us(uint64_t *v, size_t n, unsigned int p)
{
	size_t i;

	if (!n)
		return 0;
	qsort(v, n, sizeof(*v), cmp_u64);
	i = p >= 100 ? n - 1 : n * p / 100;
	return (double)v[i < n ? i : n - 1] / 1e3;
}

/* A growing array of samples (ns). */
struct samples {
	uint64_t *v;
	size_t n, cap;
};

static void sample(struct samples *s, uint64_t ns)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 4096;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			die("out of memory for samples");
	}
	s->v[s->n++] = ns;
}

#define CMD(...) (&(struct vgpu_sess_cmd){ __VA_ARGS__ })

/* A kernel parameter (u64): @v, or with @buf the device address of buffer
 * @buf + @v (a pointer patch). */
struct kp {
	uint64_t v;
	uint64_t buf;
};
#define KP(...)	((const struct kp[]){ __VA_ARGS__ })
#define PV(x)	{ .v = (x) }		/* a value */
#define PTR(b)	{ .buf = (b) }		/* the address of buffer b */

/* Append a launch of @name with the @n parameters @p. */
static void add_launch(struct vgpu_sess_buf *b, uint64_t mod, const char *name, uint32_t grid,
		       uint32_t block, const struct kp *p, uint32_t n)
{
	uint8_t params[24] = { 0 }, patches[3 * VGPU_SESS_PATCH_SIZE];
	uint32_t np = 0;

	for (uint32_t i = 0; i < n && i < 3; i++) {
		struct vgpu_sess_patch pt = { .param_off = 8 * i, .ref = p[i].buf, .off = p[i].v };

		if (!p[i].buf) {
			put64(params + 8 * i, p[i].v);
			continue;
		}
		vgpu_sess_patch_put(&pt, 1, patches + np++ * VGPU_SESS_PATCH_SIZE);
	}
	vgpu_sess_add(b, CMD(.code = VGPU_SESS_LAUNCH, .ref = { mod }, .grid = { grid, 1, 1 },
			     .block = { block, 1, 1 }, .name = name,
			     .name_len = (uint32_t)strlen(name), .data = params, .data_len = 8 * n,
			     .patches = patches, .npatches = np));
}

/* Spin @ns on the device: spin_ns, or op spin (the CPU backend's stand-in). */
static void add_spin(struct vgpu_sess_buf *b, uint64_t mod, uint64_t ns)
{
	if (have_kernels)
		add_launch(b, mod, "spin_ns", 1, 1, KP(PV(ns)), 1);
	else
		vgpu_sess_add(b, CMD(.code = VGPU_SESS_OP, .op = VGPU_OP_SPIN, .args = { ns }));
}

static const char *kind(void)
{
	return have_kernels ? "kernel" : "plumbing";
}

/* ---- one VM's client ---------------------------------------------------- */

struct vm {
	const char *name;
	struct vgpu_client *c;
	uint64_t mod;		/* the kernels' module in its session, 0 if none */
};

/* One job: its answer, and the times the client saw. */
struct job {
	uint64_t t0, t1;		/* submitted (before the request is written), collected */
	uint64_t tag;			/* the caller's */
	struct vgpu_rsp_hdr rh;		/* the trailer: status, msg, the mediator's stamps */
	uint8_t *out;			/* the session response, out_cap bytes */
	uint64_t out_cap;
	int perr;			/* vgpu_sess_rsp_parse(), -ENOENT if no payload */
	struct vgpu_sess_rsp s;
};

static void vm_open(struct vm *v, const char *name)
{
	char dir[1024], why[VGPU_MSG_LEN];
	int err;
	struct vgpu_client_opts o = { .spin_us = client_spin_us };

	memset(v, 0, sizeof(*v));
	v->name = name;
	snprintf(dir, sizeof(dir), "%s/%s", spool, name);
	err = vgpu_client_open(dir, &o, &v->c, why);
	if (err)
		die("vm %s: %s", name, why);
}

static void vm_close(struct vm *v)
{
	vgpu_client_close(v->c);
	v->c = NULL;
}

static void job_init(struct job *j, uint64_t out_cap)
{
	memset(j, 0, sizeof(*j));
	j->out_cap = out_cap;
	j->out = xmalloc(out_cap);
}

static void job_free(struct job *j)
{
	free(j->out);
	j->out = NULL;
}

/* Send finished list @b as job @j; 0 or -errno (why printed). */
static int vm_post(struct vm *v, const struct vgpu_sess_buf *b, struct job *j)
{
	struct vgpu_call call = {
		.op = VGPU_OP_SESSION, .in = b->p, .in_len = b->len, .out = j->out,
		.out_cap = j->out_cap, .user = j,
	};
	char why[VGPU_MSG_LEN];
	uint64_t id;
	int err;

	j->t0 = vgpu_now_ns();
	err = vgpu_client_submit(v->c, &call, &id, why);
	if (err)
		fprintf(stderr, "vgpu-sess-bench: vm %s: %s\n", v->name, why);
	return err;
}

/* Collect the next answer of @v into its job; that job, or NULL (why printed). */
static struct job *vm_next(struct vm *v)
{
	char why[VGPU_SESS_MSG_LEN];
	struct vgpu_result res;
	struct job *j;
	int err = vgpu_client_next(v->c, &res, WAIT_MS);

	if (err != 1) {
		fprintf(stderr, "vgpu-sess-bench: vm %s: no answer: %s\n", v->name,
			err ? strerror(-err) : "timed out");
		return NULL;
	}
	j = res.user;
	j->t1 = vgpu_now_ns();
	j->rh = res.rsp;
	j->perr = j->rh.payload_len ? vgpu_sess_rsp_parse(j->out, j->rh.payload_len, &j->s, why) :
		  -ENOENT;
	if (j->rh.payload_len && j->perr)
		fprintf(stderr, "vgpu-sess-bench: vm %s: bad session response: %s\n", v->name, why);
	return j;
}

/* Finish @b, run it on @v as @j and wait; begin @b again. Dies if no answer. */
static void vm_run(struct vm *v, struct vgpu_sess_buf *b, struct job *j)
{
	if (vgpu_sess_finish(b))
		die("building a list: %s", strerror(-b->err));
	if (vm_post(v, b, j) || vm_next(v) != j)
		die("vm %s: a job got no answer", v->name);
	vgpu_sess_buf_free(b);
	vgpu_sess_begin(b);
}

/* Run @b and require status @want; the job's answer stays in @j. */
static void vm_expect(struct vm *v, struct vgpu_sess_buf *b, struct job *j, int want,
		      const char *what)
{
	vm_run(v, b, j);
	if (j->rh.status != want)
		die("vm %s: %s: status %d, not %d: %s", v->name, what, j->rh.status, want,
		    j->rh.msg);
}

static struct vgpu_sess_result result(const struct job *j, uint32_t i)
{
	struct vgpu_sess_result r = { 0 };

	if (!j->perr && i < j->s.hdr.nrun)
		vgpu_sess_rsp_result(&j->s, i, &r);
	return r;
}

/* The output of result @i if it is @len bytes, else NULL. */
static const uint8_t *output(const struct job *j, uint32_t i, uint64_t len)
{
	struct vgpu_sess_result r = result(j, i);

	return !j->perr && r.out_len == len ? j->s.out + r.out_off : NULL;
}

/*
 * Load the kernels into @v's session: sets have_kernels from the first VM
 * that tries (-EOPNOTSUPP: the CPU backend runs no modules).
 */
static void vm_load(struct vm *v)
{
	struct vgpu_sess_buf b;
	struct job j;

	job_init(&j, SMALL_OUT);
	vgpu_sess_begin(&b);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = kernels,
			      .data_len = sizeof(kernels) - 1));
	vm_run(v, &b, &j);
	if (j.rh.status == -EOPNOTSUPP) {
		have_kernels = false;
	} else if (j.rh.status) {
		die("vm %s: module_load: %s", v->name, j.rh.msg);
	} else {
		have_kernels = true;
		v->mod = result(&j, 0).value;
	}
	vgpu_sess_buf_free(&b);
	job_free(&j);
}

/* ---- a VM kept busy: depth jobs in flight, by a thread of its own -------- */

struct stream {
	struct vm *v;
	unsigned int depth;
	uint64_t count;			/* answers to collect; 0: until *stop */
	atomic_bool *stop;
	/* job @i's list into @b (begun), its tag into *tag */
	void (*build)(struct stream *s, uint64_t i, struct vgpu_sess_buf *b, uint64_t *tag);
	/* 0 if @j is right (called only for status 0) */
	int (*check)(const struct job *j);
	uint64_t arg;			/* for build() */
	/* what came back */
	_Atomic uint64_t done;		/* read by other threads while it runs */
	uint64_t errors, t_first, t_last;
	struct samples e2e, run;
	int err;
};

static void *stream_main(void *arg)
{
	struct stream *s = arg;
	struct job *jobs = calloc(s->depth, sizeof(*jobs));
	struct vgpu_sess_buf b;
	uint64_t sent = 0;
	unsigned int inflight = 0;

	if (!jobs) {
		s->err = -ENOMEM;
		return NULL;
	}
	for (unsigned int i = 0; i < s->depth; i++)
		job_init(&jobs[i], SMALL_OUT);
	s->t_first = vgpu_now_ns();
	for (;;) {
		bool stopping = s->count ? sent >= s->count : atomic_load(s->stop);
		struct job *j;

		/* fill the window from the free jobs (the ones with t0 == 0) */
		for (unsigned int i = 0; !stopping && i < s->depth && inflight < s->depth; i++) {
			if (jobs[i].t0)
				continue;
			vgpu_sess_begin(&b);
			s->build(s, sent, &b, &jobs[i].tag);
			if (vgpu_sess_finish(&b) || vm_post(s->v, &b, &jobs[i])) {
				s->err = -EIO;
				vgpu_sess_buf_free(&b);
				goto out;
			}
			vgpu_sess_buf_free(&b);
			sent++;
			inflight++;
			if (s->count && sent >= s->count)
				break;
		}
		if (!inflight)
			break;
		j = vm_next(s->v);
		if (!j) {
			s->err = -ETIMEDOUT;
			break;
		}
		inflight--;
		s->done++;
		s->t_last = j->t1;
		if (j->rh.status || (s->check && s->check(j))) {
			if (s->errors++ < 5)
				fprintf(stderr, "vgpu-sess-bench: vm %s: job %" PRIu64 ": %s\n",
					s->v->name, j->tag, j->rh.status ? j->rh.msg : "wrong output");
		} else {
			sample(&s->e2e, j->t1 - j->t0);
			sample(&s->run, j->rh.finished_ns - j->rh.started_ns);
		}
		j->t0 = 0;
	}
out:
	for (unsigned int i = 0; i < s->depth; i++)
		job_free(&jobs[i]);
	free(jobs);
	return NULL;
}

static void stream_start(struct stream *s, pthread_t *t)
{
	if (pthread_create(t, NULL, stream_main, s))
		die("pthread_create");
}

static void stream_join(struct stream *s, pthread_t t)
{
	pthread_join(t, NULL);
	if (s->err)
		die("vm %s: its stream failed: %s", s->v->name, strerror(-s->err));
}

/* A list of one spin of s->arg ns. */
static void build_spin(struct stream *s, uint64_t i, struct vgpu_sess_buf *b, uint64_t *tag)
{
	add_spin(b, s->v->mod, s->arg);
	*tag = i;
}

/* ---- direct: one process, no mediator ----------------------------------- */

#ifdef VGPU_SESS_BENCH_CUDA
#define CU_FNS(X)							\
	X(cuInit) X(cuDeviceGet) X(cuDevicePrimaryCtxRetain) X(cuCtxSetCurrent) \
	X(cuModuleLoadData) X(cuModuleGetFunction) X(cuLaunchKernel)	\
	X(cuCtxSynchronize) X(cuGetErrorName)
#define CU_DECL(fn) static __typeof__(&fn) p_##fn;
CU_FNS(CU_DECL)

/* Check a driver call: die naming the call and the error. */
#define CU(call) do {							\
	CUresult e_ = (call);						\
	const char *n_ = NULL;						\
									\
	if (e_ != CUDA_SUCCESS) {					\
		if (!p_cuGetErrorName || p_cuGetErrorName(e_, &n_) || !n_) \
			n_ = "unknown CUDA error";			\
		die("%s (%d) from %s", n_, (int)e_, #call);		\
	}								\
} while (0)

/* 0, or -1 with why: the driver API, as executor/backend_cuda.c finds it. */
static int cu_open(char *why, size_t len)
{
	CUresult (*gpa)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
	CUdriverProcAddressQueryResult q;
	void *h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		snprintf(why, len, "no CUDA driver: %s", dlerror());
		return -1;
	}
	gpa = (__typeof__(gpa))dlsym(h, "cuGetProcAddress_v2");
	if (!gpa) {
		snprintf(why, len, "CUDA driver without cuGetProcAddress_v2");
		return -1;
	}
	/* each at the version whose prototype cuda.h declares (executor.rst) */
#define CU_VERSION_OF(fn) (strcmp(#fn, "cuCtxSynchronize") ? CUDA_VERSION : 2000)
#define CU_LOAD(fn)							\
	if (gpa(#fn, (void **)&p_##fn, CU_VERSION_OF(fn), CU_GET_PROC_ADDRESS_DEFAULT, &q) || \
	    !p_##fn) {							\
		snprintf(why, len, "CUDA driver older than %d: no %s", CUDA_VERSION, #fn); \
		return -1;						\
	}
	CU_FNS(CU_LOAD)
#undef CU_LOAD
#undef CU_VERSION_OF
	if (p_cuInit(0) != CUDA_SUCCESS) {
		snprintf(why, len, "cuInit failed: no GPU");
		return -1;
	}
	return 0;
}

static int mode_direct(void)
{
	struct samples lat = { 0 };
	CUdevice dev;
	CUcontext ctx;
	CUmodule m;
	CUfunction f_empty, f_spin;
	char why[256];
	uint64_t ns = PROBE_NS, t0, end, n = 0;
	void *spin_args[] = { &ns };
	double l50, l99;

	if (cu_open(why, sizeof(why))) {
		printf("sess_direct kind=launch na (%s)\n", why);
		printf("sess_direct kind=spin na (%s)\n", why);
		return 0;
	}
	CU(p_cuDeviceGet(&dev, 0));
	CU(p_cuDevicePrimaryCtxRetain(&ctx, dev));
	CU(p_cuCtxSetCurrent(ctx));
	CU(p_cuModuleLoadData(&m, kernels));
	CU(p_cuModuleGetFunction(&f_empty, m, "empty"));
	CU(p_cuModuleGetFunction(&f_spin, m, "spin_ns"));
	for (int i = 0; i < 21000; i++) {	/* the first 1000 warm up */
		t0 = vgpu_now_ns();
		CU(p_cuLaunchKernel(f_empty, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL));
		CU(p_cuCtxSynchronize());
		if (i >= 1000)
			sample(&lat, vgpu_now_ns() - t0);
	}
	l99 = pct_us(lat.v, lat.n, 99);
	l50 = pct_us(lat.v, lat.n, 50);
	printf("sess_direct kind=launch n=%zu p50_us=%.2f p99_us=%.2f\n", lat.n, l50, l99);
	lat.n = 0;
	for (int i = 0; i < 1000; i++) {	/* warm-up */
		CU(p_cuLaunchKernel(f_spin, 1, 1, 1, 1, 1, 1, 0, NULL, spin_args, NULL));
		CU(p_cuCtxSynchronize());
	}
	t0 = vgpu_now_ns();
	end = t0 + (uint64_t)(secs * 1e9);
	for (uint64_t t = t0; t < end; n++) {
		uint64_t s = t;

		CU(p_cuLaunchKernel(f_spin, 1, 1, 1, 1, 1, 1, 0, NULL, spin_args, NULL));
		CU(p_cuCtxSynchronize());
		t = vgpu_now_ns();
		sample(&lat, t - s);
	}
	printf("sess_direct kind=spin ns=%" PRIu64 " jobs_per_s=%.0f n=%" PRIu64
	       " p50_us=%.2f p99_us=%.2f\n", ns, (double)n / ((double)(vgpu_now_ns() - t0) / 1e9),
	       n, pct_us(lat.v, lat.n, 50), pct_us(lat.v, lat.n, 99));
	free(lat.v);
	return 0;
}
#else
static int mode_direct(void)
{
	printf("sess_direct kind=launch na (built without CUDA)\n");
	printf("sess_direct kind=spin na (built without CUDA)\n");
	return 0;
}
#endif

/* ---- launch: one job at a time ------------------------------------------ */

/* @n timed runs of the finished list @b on @v after @warm untimed ones. */
static void one_at_a_time(struct vm *v, const struct vgpu_sess_buf *b, unsigned int warm,
			  unsigned int n, const char *label)
{
	struct samples e2e = { 0 }, med = { 0 }, run = { 0 }, wait = { 0 }, in = { 0 }, back = { 0 };
	struct job j;
	double p50, p99;

	job_init(&j, SMALL_OUT);
	for (unsigned int i = 0; i < warm + n; i++) {
		if (vm_post(v, b, &j) || vm_next(v) != &j)
			die("vm %s: a job got no answer", v->name);
		if (j.rh.status)
			die("vm %s: %s", v->name, j.rh.msg);
		if (i < warm)
			continue;
		sample(&e2e, j.t1 - j.t0);
		sample(&med, j.rh.finished_ns - j.rh.queued_ns);
		sample(&run, j.rh.finished_ns - j.rh.started_ns);
		sample(&wait, j.rh.started_ns - j.rh.queued_ns);
		/* one clock (CLOCK_MONOTONIC) on both sides of the spool */
		sample(&in, j.rh.queued_ns - j.t0);
		sample(&back, j.t1 - j.rh.finished_ns);
	}
	p99 = pct_us(e2e.v, e2e.n, 99);
	p50 = pct_us(e2e.v, e2e.n, 50);
	printf("sess_launch %s n=%u e2e_p50_us=%.2f e2e_p99_us=%.2f med_p50_us=%.2f "
	       "run_p50_us=%.2f wait_p50_us=%.2f in_p50_us=%.2f back_p50_us=%.2f\n", label, n,
	       p50, p99, pct_us(med.v, med.n, 50), pct_us(run.v, run.n, 50),
	       pct_us(wait.v, wait.n, 50), pct_us(in.v, in.n, 50), pct_us(back.v, back.n, 50));
	free(in.v);
	free(back.v);
	free(e2e.v);
	free(med.v);
	free(run.v);
	free(wait.v);
	job_free(&j);
}

static int mode_launch(void)
{
	unsigned int n = (unsigned int)(1500 * secs);
	struct vgpu_sess_buf b;
	struct vm v;

	vm_open(&v, "a1");
	vm_load(&v);
	/* a list of one timestamp: the mediator and the executor, no kernel */
	vgpu_sess_begin(&b);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TIMESTAMP));
	if (vgpu_sess_finish(&b))
		die("building a list");
	one_at_a_time(&v, &b, 200, n, "kind=list");
	vgpu_sess_buf_free(&b);
	if (have_kernels) {
		vgpu_sess_begin(&b);
		add_launch(&b, v.mod, "empty", 1, 1, NULL, 0);
		if (vgpu_sess_finish(&b))
			die("building a list");
		one_at_a_time(&v, &b, 200, n, "kind=kernel");
		vgpu_sess_buf_free(&b);
	} else {
		printf("sess_launch kind=kernel na (the CPU backend runs no kernels)\n");
	}
	vm_close(&v);
	return 0;
}

/* ---- jobs: 20 us user jobs from two VMs of one pool (or one VM) -------- */

static int run_jobs(int nvms)
{
	const unsigned int depth = 32 / (unsigned int)nvms;
	atomic_bool stop = false;
	struct vm v[2];
	struct stream s[2];
	pthread_t t[2];
	uint64_t t0, t1, done = 0, errors = 0;
	struct samples e2e = { 0 }, run = { 0 };

	vm_open(&v[0], "a1");
	if (nvms > 1)
		vm_open(&v[1], "a2");
	for (int i = 0; i < nvms; i++) {
		vm_load(&v[i]);
		s[i] = (struct stream){ .v = &v[i], .depth = depth, .stop = &stop,
					.build = build_spin, .arg = PROBE_NS };
	}
	/* a warm-up of 1000 jobs each, then the timed run */
	for (int i = 0; i < nvms; i++) {
		struct stream w = { .v = &v[i], .depth = depth, .count = 1000, .stop = &stop,
				    .build = build_spin, .arg = PROBE_NS };

		stream_start(&w, &t[i]);
		stream_join(&w, t[i]);
		free(w.e2e.v);
		free(w.run.v);
	}
	t0 = vgpu_now_ns();
	for (int i = 0; i < nvms; i++)
		stream_start(&s[i], &t[i]);
	usleep((useconds_t)(secs * 1e6));
	atomic_store(&stop, true);
	for (int i = 0; i < nvms; i++)
		stream_join(&s[i], t[i]);
	t1 = vgpu_now_ns();
	for (int i = 0; i < nvms; i++) {
		done += atomic_load(&s[i].done);
		errors += s[i].errors;
		for (size_t k = 0; k < s[i].e2e.n; k++) {
			sample(&e2e, s[i].e2e.v[k]);
			sample(&run, s[i].run.v[k]);
		}
		free(s[i].e2e.v);
		free(s[i].run.v);
		vm_close(&v[i]);
	}
	printf("sess_jobs kind=%s vms=%d pool=A ns=%llu depth=%u jobs_per_s=%.0f jobs=%" PRIu64
	       " errors=%" PRIu64 " vm_p50_us=%.1f run_p50_us=%.2f\n", kind(), nvms, PROBE_NS, depth,
	       (double)done / ((double)(t1 - t0) / 1e9), done, errors,
	       pct_us(e2e.v, e2e.n, 50), pct_us(run.v, run.n, 50));
	free(e2e.v);
	free(run.v);
	return 0;
}

static int mode_jobs(void)
{
	return run_jobs(2);
}

/* jobs1: a1 alone, 32 in flight: jobs' rate without switching executors */
static int mode_jobs1(void)
{
	return run_jobs(1);
}

/* ---- fault: f1 faults while b1 runs 1000 checked jobs -------------------- */

/* b1's job @i: spin, then fill its buffer with the job's words and copy them
 * back (s->arg: the buffer's handle). */
static void build_by(struct stream *s, uint64_t i, struct vgpu_sess_buf *b, uint64_t *tag)
{
	add_spin(b, s->v->mod, BY_SPIN_NS);
	if (have_kernels)
		add_launch(b, s->v->mod, "fill_u64", 2, 256,
			   KP(PTR(s->arg), PV(BY_WORDS), PV(i + 1)), 3);
	else
		vgpu_sess_add(b, CMD(.code = VGPU_SESS_MEMSET, .ref = { s->arg },
				     .len = 8 * BY_WORDS, .value = (i + 1) & 0xff));
	vgpu_sess_add(b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { s->arg }, .len = 8 * BY_WORDS));
	*tag = i + 1;
}

static int check_by(const struct job *j)
{
	const uint8_t *o = output(j, 2, 8 * BY_WORDS);

	if (!o)
		return -1;
	for (uint64_t i = 0; i < BY_WORDS; i++) {
		if (have_kernels ? get64(o + 8 * i) != j->tag * GOLDEN + i :
		    o[8 * i] != (j->tag & 0xff))
			return -1;
	}
	return 0;
}

static int mode_fault(void)
{
	atomic_bool stop = false;
	struct vgpu_sess_buf b;
	struct vm f, by;
	struct stream s;
	struct job j;
	pthread_t t;
	uint64_t fbuf, t0;
	unsigned int faults = 0, right = 0, recovered = 0;

	job_init(&j, SMALL_OUT);
	vgpu_sess_begin(&b);
	vm_open(&f, "f1");
	vm_open(&by, "b1");
	vm_load(&by);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 8 * BY_WORDS));
	vm_expect(&by, &b, &j, 0, "alloc");
	s = (struct stream){ .v = &by, .depth = 4, .count = BY_JOBS, .stop = &stop,
			     .build = build_by, .check = check_by, .arg = result(&j, 0).value };
	vm_load(&f);	/* f1's executor up before the clock starts */
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	vm_expect(&f, &b, &j, 0, "alloc");
	fbuf = result(&j, 0).value;

	t0 = vgpu_now_ns();
	stream_start(&s, &t);
	/* fault, then a fresh session, until b1 is done; at least once */
	while (!faults || atomic_load(&s.done) < BY_JOBS) {
		if (have_kernels) {
			if (!fbuf) {	/* a fresh session's module and buffer */
				vgpu_sess_add(&b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = kernels,
						      .data_len = sizeof(kernels) - 1));
				vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
				add_launch(&b, VGPU_SESS_SLOT(0), "bad_address", 1, 1,
					   KP(PTR(VGPU_SESS_SLOT(1))), 1);
			} else {
				add_launch(&b, f.mod, "bad_address", 1, 1, KP(PTR(fbuf)), 1);
			}
		} else {
			vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TEST_CRASH));
		}
		vm_run(&f, &b, &j);
		faults++;
		right += j.rh.status == -EFAULT;
		if (j.rh.status != -EFAULT)
			fprintf(stderr, "vgpu-sess-bench: f1's fault: status %d: %s\n", j.rh.status,
				j.rh.msg);
		fbuf = 0;
		/* its next session works */
		vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
		vgpu_sess_add(&b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) },
				      .len = 64, .value = 0x5a));
		vgpu_sess_add(&b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
				      .len = 64));
		vm_run(&f, &b, &j);
		recovered += !j.rh.status && output(&j, 2, 64) && output(&j, 2, 64)[63] == 0x5a;
	}
	stream_join(&s, t);
	printf("sess_fault kind=%s bystander_jobs=%" PRIu64 " bystander_errors=%" PRIu64
	       " faults=%u faults_as_efault=%u recovered=%u ms=%.0f\n", kind(), atomic_load(&s.done),
	       s.errors,
	       faults, right, recovered, (double)(s.t_last - t0) / 1e6);
	free(s.e2e.v);
	free(s.run.v);
	vm_close(&f);
	vm_close(&by);
	vgpu_sess_buf_free(&b);
	job_free(&j);
	return 0;
}

/* ---- hang: an endless kernel, and the pool's next job -------------------- */

static int mode_hang(void)
{
	const unsigned int rounds = 3;
	struct samples rec = { 0 }, killed = { 0 }, next_run = { 0 };
	struct vgpu_sess_buf b;
	struct job jh, jn;
	struct vm h, n;
	bool ok = true;
	double r50, rmax, kmax, nmax;

	job_init(&jh, SMALL_OUT);
	job_init(&jn, SMALL_OUT);
	vgpu_sess_begin(&b);
	vm_open(&h, "h1");
	vm_open(&n, "a2");
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TIMESTAMP));	/* a2's executor up */
	vm_expect(&n, &b, &jn, 0, "timestamp");
	for (unsigned int r = 0; r < rounds; r++) {
		vm_load(&h);	/* a fresh session each round, its executor up */
		if (have_kernels)
			add_launch(&b, h.mod, "spin_ns", 1, 1, KP(PV(~0ull)), 1);	/* forever */
		else
			vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TEST_HANG));
		if (vgpu_sess_finish(&b) || vm_post(&h, &b, &jh))
			die("vm h1: cannot post");
		vgpu_sess_buf_free(&b);
		vgpu_sess_begin(&b);
		usleep(100000);	/* so that it runs first; it runs for 1 s */
		/* pool A's next job, queued behind it */
		vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TIMESTAMP));
		if (vgpu_sess_finish(&b) || vm_post(&n, &b, &jn))
			die("vm a2: cannot post");
		vgpu_sess_buf_free(&b);
		vgpu_sess_begin(&b);
		if (vm_next(&h) != &jh || vm_next(&n) != &jn)
			die("no answer");
		if (jh.rh.status != -ETIMEDOUT || jn.rh.status ||
		    jn.rh.started_ns < jh.rh.started_ns + HANG_LIMIT_MS * MS) {
			fprintf(stderr, "vgpu-sess-bench: round %u: h1 %d (%s), a2 %d (%s)\n", r,
				jh.rh.status, jh.rh.msg, jn.rh.status, jn.rh.msg);
			ok = false;
		}
		sample(&killed, jh.rh.finished_ns - jh.rh.started_ns);
		/* from the time limit to the pool's next job starting */
		sample(&rec, jn.rh.started_ns > jh.rh.started_ns + HANG_LIMIT_MS * MS ?
		       jn.rh.started_ns - (jh.rh.started_ns + HANG_LIMIT_MS * MS) : 0);
		sample(&next_run, jn.rh.finished_ns - jn.rh.started_ns);
		if (killed.v[killed.n - 1] > (HANG_LIMIT_MS + 1000) * MS)
			ok = false;
	}
	/* h1's next session works after the last kill too */
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	vm_run(&h, &b, &jh);
	ok = ok && !jh.rh.status;
	kmax = pct_us(killed.v, killed.n, 100) / 1e3;
	rmax = pct_us(rec.v, rec.n, 100) / 1e3;
	r50 = pct_us(rec.v, rec.n, 50) / 1e3;
	nmax = pct_us(next_run.v, next_run.n, 100);
	printf("sess_hang kind=%s limit_ms=%d rounds=%u recovery_ms_max=%.1f recovery_ms_p50=%.1f "
	       "killed_after_ms_max=%.1f next_run_us_max=%.1f ok=%d\n", kind(), HANG_LIMIT_MS,
	       rounds, rmax, r50, kmax, nmax, ok);
	free(rec.v);
	free(killed.v);
	free(next_run.v);
	vm_close(&h);
	vm_close(&n);
	vgpu_sess_buf_free(&b);
	job_free(&jh);
	job_free(&jn);
	return 0;
}

/* ---- xvm: x2 reads x1's buffer by its raw address ------------------------ */

static int mode_xvm(void)
{
	uint64_t *pat = xmalloc(8 * XVM_WORDS), seed = vgpu_now_ns(), addr, xbuf, x2buf;
	struct vgpu_sess_buf b;
	struct vm x1, x2;
	struct job j;
	const uint8_t *o;
	int status, stale = 1, seen = 0, intact, same;

	vm_open(&x1, "x1");
	vm_load(&x1);
	if (!have_kernels) {
		printf("sess_xvm kind=plumbing na (the CPU backend runs no kernels)\n");
		vm_close(&x1);
		free(pat);
		return 0;
	}
	job_init(&j, SMALL_OUT);
	vgpu_sess_begin(&b);
	vm_open(&x2, "x2");
	vm_load(&x2);
	for (uint64_t i = 0; i < XVM_WORDS; i++)
		pat[i] = htole64(splitmix64(seed + i) | 1);

	/* x1: its buffer with the pattern, and where the buffer lies */
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 8 * XVM_WORDS));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) }, .data = pat,
			      .data_len = 8 * XVM_WORDS));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	add_launch(&b, x1.mod, "whereami", 1, 1,
		   KP(PTR(VGPU_SESS_SLOT(0)), PTR(VGPU_SESS_SLOT(2))), 2);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(2) }, .len = 8));
	vm_expect(&x1, &b, &j, 0, "x1's buffer");
	xbuf = result(&j, 0).value;
	o = output(&j, 4, 8);
	if (!o || !(addr = get64(o)))
		die("vm x1: whereami gave no address");

	/* x2: read_raw(addr, n, its own buffer) */
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 8 * XVM_WORDS));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) },
			      .len = 8 * XVM_WORDS));
	add_launch(&b, x2.mod, "read_raw", XVM_WORDS / 256, 256,
		   KP(PV(addr), PV(XVM_WORDS), PTR(VGPU_SESS_SLOT(0))), 3);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
			      .len = 8 * XVM_WORDS));
	vm_run(&x2, &b, &j);
	status = j.rh.status;
	x2buf = result(&j, 0).value;
	fprintf(stderr, "vgpu-sess-bench: x2 read 0x%" PRIx64 ": %s\n", addr, j.rh.msg);
	if (status == 0) {	/* it ran: on memory of its own, or x1's */
		o = output(&j, 3, 8 * XVM_WORDS);
		if (!o)
			die("vm x2: no output");
		for (uint64_t i = 0; i < XVM_WORDS; i++)
			seen += !memcmp(o + 8 * i, &pat[i], 8);
	} else {		/* a fault: its session was reset */
		vgpu_sess_add(&b, CMD(.code = VGPU_SESS_FREE, .ref = { x2buf }));
		vm_run(&x2, &b, &j);
		stale = j.rh.status == -ESTALE;
	}

	/* x1's data and session are intact: the same buffer in the same place */
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { xbuf }, .len = 8 * XVM_WORDS));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	add_launch(&b, x1.mod, "whereami", 1, 1, KP(PTR(xbuf), PTR(VGPU_SESS_SLOT(1))), 2);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(1) }, .len = 8));
	vm_run(&x1, &b, &j);
	o = output(&j, 0, 8 * XVM_WORDS);
	intact = !j.rh.status && o && !memcmp(o, pat, 8 * XVM_WORDS);
	o = output(&j, 3, 8);
	same = !j.rh.status && o && get64(o) == addr;
	printf("sess_xvm kind=kernel x2_status=%d x2_reset=%d pattern_words_seen=%d x1_intact=%d "
	       "x1_same_session=%d blocked=%d\n", status, status ? stale : 0, seen, intact, same,
	       (status == -EFAULT ? stale : status == 0) && !seen && intact && same);
	vm_close(&x1);
	vm_close(&x2);
	vgpu_sess_buf_free(&b);
	job_free(&j);
	free(pat);
	return 0;
}

/* ---- quota: q1's quotas at their boundaries ------------------------------ */

/* Run @b on q1 and say whether it got -ENOMEM naming @quota. */
static bool refused(struct vm *v, struct vgpu_sess_buf *b, struct job *j, const char *quota)
{
	vm_run(v, b, j);
	if (j->rh.status == -ENOMEM && !j->perr && strstr(j->s.hdr.msg, quota))
		return true;
	fprintf(stderr, "vgpu-sess-bench: q1: %s not enforced: status %d: %s\n", quota,
		j->rh.status, j->rh.msg);
	return false;
}

static int mode_quota(void)
{
	uint64_t h[Q_HANDLES];
	struct vgpu_sess_buf b;
	struct vm q;
	struct job j;
	bool mem, handles, module = false;
	char *big;

	job_init(&j, SMALL_OUT);
	vgpu_sess_begin(&b);
	vm_open(&q, "q1");
	/* memory: all of it, then one byte more */
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = Q_MEM));
	vm_run(&q, &b, &j);
	mem = !j.rh.status;
	h[0] = result(&j, 0).value;
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	mem = refused(&q, &b, &j, "device memory quota") && mem;
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_FREE, .ref = { h[0] }));
	vm_expect(&q, &b, &j, 0, "free");
	/* handles: all of them, then one more */
	for (int i = 0; i < Q_HANDLES; i++)
		vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	vm_run(&q, &b, &j);
	handles = !j.rh.status;
	for (int i = 0; i < Q_HANDLES; i++)
		h[i] = result(&j, (uint32_t)i).value;
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	handles = refused(&q, &b, &j, "handle quota") && handles;
	for (int i = 0; i < Q_HANDLES; i++)
		vgpu_sess_add(&b, CMD(.code = VGPU_SESS_FREE, .ref = { h[i] }));
	vm_expect(&q, &b, &j, 0, "free");
	/* module bytes: the kernels padded with a comment to one byte over */
	vm_load(&q);
	if (have_kernels) {
		big = xmalloc(Q_MODULE + 1);
		memset(big, ' ', Q_MODULE + 1);
		memcpy(big, kernels, sizeof(kernels) - 1);
		memcpy(big + sizeof(kernels) - 1, "\n//", 3);
		big[Q_MODULE] = '\n';
		vgpu_sess_add(&b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = big,
				      .data_len = Q_MODULE + 1));
		module = refused(&q, &b, &j, "module quota");
		free(big);
	}
	printf("sess_quota kind=%s mem=%d handles=%d module=%s enforced=%d\n", kind(), mem,
	       handles, have_kernels ? (module ? "1" : "0") : "na",
	       mem && handles && (module || !have_kernels));
	vm_close(&q);
	vgpu_sess_buf_free(&b);
	job_free(&j);
	return 0;
}

/* ---- timeslice: a1's 20 us jobs while b1 runs 50 ms kernels --------------- */

/* a1's 20 us job, one at a time, for @sec seconds: e2e and run samples. */
static void probe(struct vm *v, double sec, struct samples *e2e, struct samples *run)
{
	struct vgpu_sess_buf b;
	struct job j;
	uint64_t end;

	job_init(&j, SMALL_OUT);
	vgpu_sess_begin(&b);
	add_spin(&b, v->mod, PROBE_NS);
	if (vgpu_sess_finish(&b))
		die("building a list");
	end = vgpu_now_ns() + (uint64_t)(sec * 1e9);
	while (vgpu_now_ns() < end) {
		if (vm_post(v, &b, &j) || vm_next(v) != &j)
			die("vm %s: no answer", v->name);
		if (j.rh.status)
			die("vm %s: %s", v->name, j.rh.msg);
		sample(e2e, j.t1 - j.t0);
		sample(run, j.rh.finished_ns - j.rh.started_ns);
	}
	vgpu_sess_buf_free(&b);
	job_free(&j);
}

static int mode_timeslice(void)
{
	struct samples ae = { 0 }, ar = { 0 }, le = { 0 }, lr = { 0 };
	atomic_bool stop = false;
	struct vm a, by;
	struct stream s;
	pthread_t t;
	double a50, a99, l50, l99, lmax, r50;

	vm_open(&a, "a1");
	vm_open(&by, "b1");
	vm_load(&a);
	vm_load(&by);
	probe(&a, 0.2, &ae, &ar);	/* warm-up */
	ae.n = ar.n = 0;
	probe(&a, secs / 2, &ae, &ar);
	s = (struct stream){ .v = &by, .depth = 2, .stop = &stop, .build = build_spin,
			     .arg = LOAD_NS };
	stream_start(&s, &t);
	usleep(200000);		/* b1's first kernels run */
	probe(&a, secs, &le, &lr);
	atomic_store(&stop, true);
	stream_join(&s, t);
	a99 = pct_us(ae.v, ae.n, 99);
	a50 = pct_us(ae.v, ae.n, 50);
	lmax = pct_us(le.v, le.n, 100);
	l99 = pct_us(le.v, le.n, 99);
	l50 = pct_us(le.v, le.n, 50);
	r50 = pct_us(lr.v, lr.n, 50);
	printf("sess_timeslice kind=%s probe_ns=%llu load_ns=%llu alone_p50_us=%.1f "
	       "alone_p99_us=%.1f loaded_p50_us=%.1f loaded_p99_us=%.1f loaded_max_us=%.1f "
	       "loaded_run_p50_us=%.1f n=%zu/%zu load_jobs=%" PRIu64 " load_errors=%" PRIu64 "\n",
	       kind(), PROBE_NS, LOAD_NS, a50, a99, l50, l99, lmax, r50, ae.n, le.n,
	       atomic_load(&s.done), s.errors);
	free(ae.v);
	free(ar.v);
	free(le.v);
	free(lr.v);
	free(s.e2e.v);
	free(s.run.v);
	vm_close(&a);
	vm_close(&by);
	return 0;
}

/* ---- copy: 256 MiB there and back in one list ---------------------------- */

static int mode_copy(void)
{
	const unsigned int reps = 3;
	struct samples e2e = { 0 }, pub = { 0 }, med = { 0 }, run = { 0 }, h2d = { 0 }, d2h = { 0 };
	uint8_t *data = xmalloc(COPY_BYTES);
	struct vgpu_sess_buf b;
	struct vm c;
	struct job j;
	uint64_t seed = vgpu_now_ns();
	bool ok = true;
	double e50;

	for (uint64_t i = 0; i < COPY_BYTES / 8; i++)
		put64(data + 8 * i, splitmix64(seed + i));
	job_init(&j, COPY_BYTES + 4096);
	vgpu_sess_begin(&b);
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_ALLOC, .len = COPY_BYTES));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TIMESTAMP));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
			      .data = data, .data_len = COPY_BYTES));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TIMESTAMP));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
			      .len = COPY_BYTES));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_TIMESTAMP));
	vgpu_sess_add(&b, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(0) }));
	if (vgpu_sess_finish(&b))
		die("building a 256 MiB list: %s", strerror(-b.err));
	vm_open(&c, "c1");
	for (unsigned int r = 0; r < reps + 1; r++) {	/* the first warms up */
		uint64_t t_pub;
		const uint8_t *o;

		if (vm_post(&c, &b, &j))
			die("vm c1: cannot send the list");
		t_pub = vgpu_now_ns();
		if (vm_next(&c) != &j)
			die("vm c1: no answer");
		if (j.rh.status)
			die("vm c1: %s", j.rh.msg);
		o = output(&j, 4, COPY_BYTES);
		if (!o || memcmp(o, data, COPY_BYTES)) {
			fprintf(stderr, "vgpu-sess-bench: c1: the bytes came back wrong\n");
			ok = false;
		}
		if (!r)
			continue;
		sample(&e2e, j.t1 - j.t0);
		sample(&pub, t_pub - j.t0);
		sample(&med, j.rh.finished_ns - j.rh.queued_ns);
		sample(&run, j.rh.finished_ns - j.rh.started_ns);
		sample(&h2d, result(&j, 3).value - result(&j, 1).value);
		sample(&d2h, result(&j, 5).value - result(&j, 3).value);
	}
	e50 = pct_us(e2e.v, e2e.n, 50);
	printf("sess_copy mib=%llu n=%u e2e_ms=%.1f gbps=%.2f publish_ms=%.1f med_ms=%.1f "
	       "run_ms=%.1f h2d_ms=%.1f d2h_ms=%.1f ok=%d\n", COPY_BYTES >> 20, reps, e50 / 1e3,
	       2.0 * (double)COPY_BYTES / (e50 * 1e3), pct_us(pub.v, pub.n, 50) / 1e3,
	       pct_us(med.v, med.n, 50) / 1e3, pct_us(run.v, run.n, 50) / 1e3,
	       pct_us(h2d.v, h2d.n, 50) / 1e3, pct_us(d2h.v, d2h.n, 50) / 1e3, ok);
	free(e2e.v);
	free(pub.v);
	free(med.v);
	free(run.v);
	free(h2d.v);
	free(d2h.v);
	vm_close(&c);
	vgpu_sess_buf_free(&b);
	job_free(&j);
	free(data);
	return 0;
}

/* ---- main --------------------------------------------------------------- */

static const struct {
	const char *name;
	int (*fn)(void);
} modes[] = {
	{ "direct", mode_direct }, { "launch", mode_launch }, { "jobs", mode_jobs },
	{ "jobs1", mode_jobs1 },
	{ "fault", mode_fault }, { "hang", mode_hang }, { "xvm", mode_xvm },
	{ "quota", mode_quota }, { "timeslice", mode_timeslice }, { "copy", mode_copy },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: vgpu-sess-bench [-s SPOOL] [-T SECONDS] [-S SPIN_US] MODE\n"
		   "modes: direct launch jobs jobs1 fault hang xvm quota timeslice copy vms ptx\n");
}

int main(int argc, char **argv)
{
	int opt;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "s:S:T:h")) != -1) {
		switch (opt) {
		case 's': spool = optarg; break;
		case 'S': {
			char *end;
			unsigned long v = strtoul(optarg, &end, 10);

			if (end == optarg || *end || v > 1000000) {
				fprintf(stderr, "vgpu-sess-bench: -S %s: want 0..1000000 us\n",
					optarg);
				return 2;
			}
			client_spin_us = (unsigned int)v;
			break;
		}
		case 'T': secs = atof(optarg); break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || secs <= 0 || secs > 3600) {
		usage(stderr);
		return 2;
	}
	mode = argv[optind];
	if (!strcmp(mode, "vms"))
		return fputs(vm_sections, stdout) == EOF;
	if (!strcmp(mode, "ptx"))
		return fputs(kernels, stdout) == EOF;
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		if (!strcmp(mode, modes[i].name))
			return modes[i].fn();
	usage(stderr);
	return 2;
}
