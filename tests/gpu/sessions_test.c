// SPDX-License-Identifier: MIT
/*
 * Session jobs on the GPU through the real mediator (backend = cuda) and
 * its per-VM CUDA executors, sent as guests send them (tests/lib/
 * sessclient.c), with kernels written here (tests/gpu/sessions_kernels.cu,
 * loaded as PTX and as an sm_90 cubin): parameter layouts with pointers
 * inside structs, 4 KiB and 32,764-byte parameter blocks, a cooperative
 * launch; an illegal address in VM v1 while VM v2 runs 1000 jobs; an
 * endless kernel killed within its time limit + 1 s while the pool's next
 * job waits; VM v2 given the raw address of v1's buffer; the quotas. Inputs
 * are random (fresh printed seed).
 *
 * Every test is a SKIP without a GPU (the mediator refuses backend = cuda)
 * or without vgpu-mediator (built only with libinih: bench/gpu/device.mk
 * INIH=DIR). Issue 13; tests/gpu/executor_test.c covers the executor
 * alone. One thread per test; the mediator and its executors are children
 * of the test process.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "sessclient.h"
#include "testlib.h"
#include "vgpu/session.h"
#include "vgpu/vgpu.h"

#ifndef KERNELS_DIR
#define KERNELS_DIR "build/gpu/tests/gpu"
#endif

#define LIMIT_MS	1000			/* vm v1's session_time_limit_ms */
#define Q_MEM		(64ull << 20)		/* vm q's session_mem_bytes */
#define Q_HANDLES	4			/* vm q's session_handles */
#define Q_MODULE	(256ull << 10)		/* vm q's session_module_bytes */
#define MS		((uint64_t)1000000)	/* ns */
#define WAIT_MS		30000			/* a first job starts a CUDA context */

#define VMS \
	"[vm v1]\nid = 61\npool = A\npriority = medium\nsession_time_limit_ms = 1000\n" \
	"[vm v2]\nid = 62\npool = B\npriority = medium\n" \
	"[vm v3]\nid = 63\npool = A\npriority = medium\n" \
	"[vm q]\nid = 64\npool = A\npriority = medium\nsession_mem_bytes = 64M\n" \
	"session_handles = 4\nsession_module_bytes = 256K\n"

#define CMD(...) (&(struct vgpu_sess_cmd){ __VA_ARGS__ })
#define LAUNCH(mod, nm, g, bl, prm, plen, pt, npt, fl) CMD(.code = VGPU_SESS_LAUNCH, \
	.flags = (fl), .ref = { (mod) }, .grid = { (g), 1, 1 }, .block = { (bl), 1, 1 }, \
	.name = (nm), .name_len = (uint32_t)strlen(nm), .data = (prm), .data_len = (plen), \
	.patches = (pt), .npatches = (npt))

struct image {
	void *p;
	size_t len;
};

FIXTURE(gs) {
	struct test_mediator t;
	struct sess_client v1, v2, v3, q;
	struct vgpu_sess_buf b;
	struct sess_reply r;
	struct image ptx, cubin;
	bool up;
};

static int slurp(const char *name, struct image *img)
{
	char path[512];
	FILE *f;
	long n;

	snprintf(path, sizeof(path), "%s/%s", KERNELS_DIR, name);
	f = fopen(path, "rb");
	if (!f)
		return -1;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) <= 0 || fseek(f, 0, SEEK_SET) ||
	    !(img->p = malloc((size_t)n)) || fread(img->p, 1, (size_t)n, f) != (size_t)n) {
		fclose(f);
		return -1;
	}
	fclose(f);
	img->len = (size_t)n;
	return 0;
}

/* tm_init() writes "backend = cpu": make it @be. */
static int set_backend(const struct test_mediator *t, const char *be)
{
	char text[8192], *at;
	size_t n;
	FILE *f = fopen(t->conf, "r");

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

/* The line of the mediator's log that holds @what, into @line; 0 or -1. */
static int log_line(const struct test_mediator *t, const char *what, char *line, size_t len)
{
	char buf[1024];
	FILE *f = fopen(t->log, "r");
	int found = -1;

	if (!f)
		return -1;
	while (found && fgets(buf, sizeof(buf), f))
		if (strstr(buf, what)) {
			buf[strcspn(buf, "\n")] = '\0';
			snprintf(line, len, "%.*s", (int)len - 1, buf);
			found = 0;
		}
	fclose(f);
	return found;
}

/* The `vgpuctl status` line of VM @vm into @line; 0 or -1. */
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

FIXTURE_SETUP(gs)
{
	const char *med = test_bin("vgpu-mediator");
	char line[512];

	vgpu_sess_begin(&self->b);
	memset(&self->r, 0, sizeof(self->r));
	test_seed();
	if (access(med, X_OK))
		SKIP(return, "no %s: build it with INIH=DIR (bench/gpu/device.mk)", med);
	ASSERT_EQ(0, slurp("sessions_kernels.ptx", &self->ptx)) TH_LOG("in %s", KERNELS_DIR);
	ASSERT_EQ(0, slurp("sessions_kernels.cubin", &self->cubin)) TH_LOG("in %s", KERNELS_DIR);
	ASSERT_EQ(0, tm_init(&self->t, "log_level = info\n", VMS));
	ASSERT_EQ(0, set_backend(&self->t, getenv("VGPU_TEST_BACKEND") ?
				 getenv("VGPU_TEST_BACKEND") : "cuda"));
	if (tm_start(&self->t)) {
		if (!log_line(&self->t, "backend cuda:", line, sizeof(line)))
			SKIP(return, "no GPU: %s", line);
		ASSERT_TRUE(false) TH_LOG("the mediator did not start: see %s", self->t.log);
	}
	self->up = true;	/* from here on the teardown stops it */
	EXPECT_EQ(0, sc_open(&self->v1, tm_vmdir(&self->t, "v1", line, sizeof(line))));
	EXPECT_EQ(0, sc_open(&self->v2, tm_vmdir(&self->t, "v2", line, sizeof(line))));
	EXPECT_EQ(0, sc_open(&self->v3, tm_vmdir(&self->t, "v3", line, sizeof(line))));
	EXPECT_EQ(0, sc_open(&self->q, tm_vmdir(&self->t, "q", line, sizeof(line))));
}

FIXTURE_TEARDOWN(gs)
{
	if (self->up) {
		sc_close(&self->v1);
		sc_close(&self->v2);
		sc_close(&self->v3);
		sc_close(&self->q);
		EXPECT_EQ(0, tm_stop(&self->t, SIGTERM)) TH_LOG("see %s", self->t.log);
		if (!_metadata->passed)
			printf("# the mediator's log (VGPU_TEST_KEEP=1 keeps it): %s\n", self->t.log);
	}
	tm_cleanup(&self->t);
	vgpu_sess_buf_free(&self->b);
	sc_reply_free(&self->r);
	free(self->ptx.p);
	free(self->cubin.p);
}

/* Run @b on @c, expect @status from command @failed (VGPU_SESS_NONE: none
 * failed) and begin @b again. */
static void run(struct __test_metadata *_metadata, struct sess_client *c,
		struct vgpu_sess_buf *b, struct sess_reply *r, int status, uint32_t failed)
{
	int err;

	sc_reply_free(r);
	err = sc_run(c, b, WAIT_MS, r);
	vgpu_sess_buf_free(b);
	vgpu_sess_begin(b);
	ASSERT_EQ(0, err);
	EXPECT_EQ(VGPU_PROTO_VERSION_SESSION, r->rh.version);
	EXPECT_EQ(status, r->rh.status) TH_LOG("%s", r->rh.msg);
	ASSERT_EQ(0, r->parse_err) TH_LOG("%s (trailer: %s)", r->why, r->rh.msg);
	EXPECT_EQ(status, r->s.hdr.status) TH_LOG("%s", r->s.hdr.msg);
	EXPECT_EQ(failed, r->s.hdr.failed) TH_LOG("%s", r->s.hdr.msg);
	if (status)
		printf("# %s\n", r->s.hdr.msg);
}

/* Submit @b on @c without waiting; its id. @b is begun again. */
static uint64_t post(struct __test_metadata *_metadata, struct sess_client *c,
		     struct vgpu_sess_buf *b)
{
	uint64_t id = 0;

	EXPECT_EQ(0, vgpu_sess_finish(b));
	EXPECT_EQ(0, sc_submit(c, b->p, b->len, 1 << 20, &id));
	vgpu_sess_buf_free(b);
	vgpu_sess_begin(b);
	return id;
}

/* The output of result @i of @r, which must be @len bytes. */
static const uint8_t *out_of(const struct sess_reply *r, uint32_t i, uint64_t len)
{
	struct vgpu_sess_result res = sc_result(r, i);

	return res.out_len == len ? r->s.out + res.out_off : NULL;
}

/*
 * Load @img on @c; its handle. Prints how long the job took: the driver
 * compiles a PTX image, which for sessions_kernels.ptx took longer than
 * v1's LIMIT_MS on an H100, so v1 loads only the cubin.
 */
static uint64_t load(struct __test_metadata *_metadata, FIXTURE_DATA(gs) *self,
		     struct sess_client *c, const struct image *img)
{
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = img->p,
				    .data_len = img->len));
	run(_metadata, c, &self->b, &self->r, 0, VGPU_SESS_NONE);
	printf("# module load: %s, %zu bytes, %.1f ms\n", img == &self->ptx ? "ptx" : "cubin",
	       img->len, (double)(self->r.rh.finished_ns - self->r.rh.started_ns) / MS);
	return sc_result(&self->r, 0).value;
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return le64toh(v);
}

/* Patch bytes of one pointer patch. */
static const uint8_t *patch(uint8_t buf[VGPU_SESS_PATCH_SIZE], uint32_t param_off, uint64_t ref,
			    uint64_t off)
{
	struct vgpu_sess_patch pt = { .param_off = param_off, .ref = ref, .off = off };

	vgpu_sess_patch_put(&pt, 1, buf);
	return buf;
}

/*
 * Kernel @name's parameters in module_describe output @o (@len bytes):
 * their count (offset, size pairs into @ps, at most @max), or -1 when the
 * output holds no such kernel or is malformed.
 */
static int kernel_params(const uint8_t *o, uint64_t len, const char *name, uint32_t ps[][2],
			 int max)
{
	const uint8_t *end = o + len, *p = o + 8;
	uint32_t nk;

	if (len < 8)
		return -1;
	nk = get32(o);
	for (uint32_t k = 0; k < nk; k++) {
		uint32_t nl, np;
		uint64_t rec;

		if (end - p < VGPU_SESS_KERNEL_REC_SIZE)
			return -1;
		nl = get32(p);
		np = get32(p + 4);
		rec = VGPU_SESS_KERNEL_REC_SIZE + (nl + 7ull) / 8 * 8 + 8ull * np;
		if ((uint64_t)(end - p) < rec)
			return -1;
		if (nl == strlen(name) && !memcmp(p + VGPU_SESS_KERNEL_REC_SIZE, name, nl)) {
			const uint8_t *pp = p + VGPU_SESS_KERNEL_REC_SIZE + (nl + 7) / 8 * 8;

			for (uint32_t i = 0; i < np && (int)i < max; i++) {
				ps[i][0] = get32(pp + 8 * i);
				ps[i][1] = get32(pp + 8 * i + 4);
			}
			return (int)np;
		}
		p += rec;
	}
	return -1;
}

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

TEST_F(gs, ptx_and_cubin_kernels_with_pointers_inside_a_struct)
{
	static const struct { const char *kernel; int np; uint32_t p[3][2]; } layouts[] = {
		{ "scale", 1, { { 0, 24 } } },
		{ "params_4k", 1, { { 0, 4096 } } },
		{ "params_32k", 1, { { 0, 32764 } } },
		{ "fill_u64", 3, { { 0, 8 }, { 8, 8 }, { 16, 8 } } },
		{ "read_raw", 3, { { 0, 8 }, { 8, 8 }, { 16, 8 } } },
	};

	if (!self->up)
		return;	/* skipped by the setup, which says why */
	for (int f = 0; f < 2; f++) {
		const struct image *img = f ? &self->cubin : &self->ptx;
		uint32_t n = (uint32_t)test_rand_range(1, 100000), ps[3][2];
		uint8_t prm[24], pt[2][VGPU_SESS_PATCH_SIZE], ptb[2 * VGPU_SESS_PATCH_SIZE];
		float *in = malloc(4ull * n), sc;
		const uint8_t *o;
		uint64_t mod, len;
		int bad = 0;

		ASSERT_NE(NULL, in);
		mod = load(_metadata, self, &self->v3, img);
		ASSERT_NE(0, mod) TH_LOG("%s", f ? "cubin" : "ptx");
		/* describe gives the layouts written in sessions_kernels.cu */
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_DESCRIBE, .ref = { mod }));
		run(_metadata, &self->v3, &self->b, &self->r, 0, VGPU_SESS_NONE);
		len = sc_result(&self->r, 0).out_len;
		o = self->r.s.out + sc_result(&self->r, 0).out_off;
		for (size_t k = 0; k < sizeof(layouts) / sizeof(layouts[0]); k++) {
			int np = kernel_params(o, len, layouts[k].kernel, ps, 3);

			EXPECT_EQ(layouts[k].np, np) TH_LOG("%s", layouts[k].kernel);
			for (int i = 0; i < np && i < layouts[k].np; i++) {
				EXPECT_EQ(layouts[k].p[i][0], ps[i][0]) TH_LOG("%s", layouts[k].kernel);
				EXPECT_EQ(layouts[k].p[i][1], ps[i][1]) TH_LOG("%s", layouts[k].kernel);
			}
		}

		/* scale({ in, out, n, scale }): two patches inside the struct */
		test_rand_floats(in, n);
		test_rand_floats(&sc, 1);
		memset(prm, 0, sizeof(prm));
		put32(prm + 16, n);
		memcpy(prm + 20, &sc, 4);
		memcpy(ptb, patch(pt[0], 0, VGPU_SESS_SLOT(0), 0), VGPU_SESS_PATCH_SIZE);
		memcpy(ptb + VGPU_SESS_PATCH_SIZE, patch(pt[1], 8, VGPU_SESS_SLOT(0), 4ull * n),
		       VGPU_SESS_PATCH_SIZE);
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8ull * n));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
					    .data = in, .data_len = 4ull * n));
		vgpu_sess_add(&self->b, LAUNCH(mod, "scale", (n + 255) / 256, 256, prm, 24, ptb, 2, 0));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
					    .off = { 4ull * n }, .len = 4ull * n));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(0) }));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_UNLOAD, .ref = { mod }));
		run(_metadata, &self->v3, &self->b, &self->r, 0, VGPU_SESS_NONE);
		o = out_of(&self->r, 3, 4ull * n);
		ASSERT_NE(NULL, o);
		for (uint32_t i = 0; i < n && bad < 5; i++) {
			float got, want = sc * in[i];

			memcpy(&got, o + 4ull * i, 4);
			if (got != want) {
				EXPECT_EQ(want, got) TH_LOG("%s: out[%u] of %u", f ? "cubin" : "ptx", i, n);
				bad++;
			}
		}
		printf("# %s: scale of %u floats through a struct of two pointers: %s\n",
		       f ? "cubin" : "ptx", n, bad ? "WRONG" : "exact");
		free(in);
	}
}

TEST_F(gs, parameter_blocks_of_4k_and_32764_bytes_and_one_byte_more)
{
	static uint8_t p4[4096], p32[VGPU_SESS_PARAMS_MAX + 1];
	uint8_t pa[VGPU_SESS_PATCH_SIZE], pb[VGPU_SESS_PATCH_SIZE];
	double v[510];
	int32_t sum = 0;
	const uint8_t *o;
	uint64_t mod;

	if (!self->up)
		return;	/* skipped by the setup, which says why */
	mod = load(_metadata, self, &self->v1, &self->cubin);
	ASSERT_NE(0, mod);
	/* params_4k({ out, n, pad, v[510] }): 4096 bytes */
	memset(p4, 0, sizeof(p4));
	put32(p4 + 8, 510);
	for (int i = 0; i < 510; i++) {
		float f;

		test_rand_floats(&f, 1);
		v[i] = (double)f * 1000.0;
		memcpy(p4 + 16 + 8 * i, &v[i], 8);
	}
	/* params_32k({ out as two words, v[8189] }): 32,764 bytes */
	memset(p32, 0, sizeof(p32));
	for (int i = 0; i < 8189; i++) {
		int32_t x = (int32_t)test_rand_range(0, 20000) - 10000;

		sum += x;
		put32(p32 + 8 + 4 * i, (uint32_t)x);
	}
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 4096 + 8));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) },
				    .len = 4096 + 8, .value = 0xff));
	vgpu_sess_add(&self->b, LAUNCH(mod, "params_4k", 2, 256, p4, 4096,
				       patch(pa, 0, VGPU_SESS_SLOT(0), 0), 1, 0));
	vgpu_sess_add(&self->b, LAUNCH(mod, "params_32k", 1, 1, p32, VGPU_SESS_PARAMS_MAX,
				       patch(pb, 0, VGPU_SESS_SLOT(0), 4096), 1, 0));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
				    .len = 4096 + 8));
	run(_metadata, &self->v1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	o = out_of(&self->r, 4, 4096 + 8);
	ASSERT_NE(NULL, o);
	for (int i = 0; i < 510; i++) {
		float got;

		memcpy(&got, o + 4 * i, 4);
		if (got != (float)v[i]) {
			EXPECT_EQ((float)v[i], got) TH_LOG("params_4k out[%d]", i);
			break;
		}
	}
	EXPECT_EQ(sum, (int32_t)get32(o + 4096)) TH_LOG("params_32k: the sum of 8189 ints");
	printf("# 4096- and 32764-byte parameter blocks: sum %d\n", (int)(int32_t)get32(o + 4096));

	/* one byte over the most is refused by the mediator's check: nothing runs */
	vgpu_sess_add(&self->b, LAUNCH(mod, "params_32k", 1, 1, p32, VGPU_SESS_PARAMS_MAX + 1,
				       NULL, 0, 0));
	run(_metadata, &self->v1, &self->b, &self->r, -E2BIG, 0);
	EXPECT_EQ(0u, self->r.s.hdr.nrun);
}

TEST_F(gs, a_cooperative_launch_syncs_its_grid_and_a_too_big_one_is_refused)
{
	const uint32_t nb = (uint32_t)test_rand_range(2, 64);
	uint8_t pt[VGPU_SESS_PATCH_SIZE], prm[8] = { 0 };
	const uint8_t *o;
	uint64_t mod, buf;

	if (!self->up)
		return;	/* skipped by the setup, which says why */
	mod = load(_metadata, self, &self->v3, &self->cubin);
	ASSERT_NE(0, mod);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 4ull * (nb + 2)));
	run(_metadata, &self->v3, &self->b, &self->r, 0, VGPU_SESS_NONE);
	buf = sc_result(&self->r, 0).value;
	for (int coop = 0; coop < 2; coop++) {
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { buf },
					    .len = 4ull * (nb + 2)));
		vgpu_sess_add(&self->b, LAUNCH(mod, "grid_sum", nb, 128, prm, 8, patch(pt, 0, buf, 0),
					       1, coop ? VGPU_SESS_F_COOPERATIVE : 0));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { buf },
					    .len = 4ull * (nb + 2)));
		run(_metadata, &self->v3, &self->b, &self->r, 0, VGPU_SESS_NONE);
		o = out_of(&self->r, 2, 4ull * (nb + 2));
		ASSERT_NE(NULL, o);
		/* the grid barrier exists only in a cooperative launch */
		EXPECT_EQ((uint32_t)coop, get32(o + 4ull * (nb + 1))) TH_LOG("coop %d", coop);
		if (coop)
			EXPECT_EQ(nb * (nb + 1) / 2, get32(o + 4ull * nb)) TH_LOG("%u blocks", nb);
	}
	/* more blocks than can be resident at once: the driver refuses it */
	vgpu_sess_add(&self->b, LAUNCH(mod, "grid_sum", 1u << 20, 1024, prm, 8,
				       patch(pt, 0, buf, 0), 1, VGPU_SESS_F_COOPERATIVE));
	run(_metadata, &self->v3, &self->b, &self->r, -E2BIG, 0);
	/* and the session goes on */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { buf }, .len = 4));
	run(_metadata, &self->v3, &self->b, &self->r, 0, VGPU_SESS_NONE);
	EXPECT_EQ(1u, get32(self->r.s.out + sc_result(&self->r, 0).out_off));
}

#define BYSTANDER_JOBS	1000
#define BYSTANDER_WORDS	512	/* each job's fill_u64 and copy back: 4 KiB */
#define BYSTANDER_NS	500000	/* each job also spins 0.5 ms first */

/* Bystander job @i of v2: spin, fill its buffer with the job's words, copy them back. */
static void bystander_job(struct vgpu_sess_buf *b, uint64_t mod, uint64_t out, uint64_t tag)
{
	static uint8_t spin[8], fill[24], pt[VGPU_SESS_PATCH_SIZE];

	put64(spin, BYSTANDER_NS);
	put64(fill + 8, BYSTANDER_WORDS);
	put64(fill + 16, tag);
	vgpu_sess_add(b, LAUNCH(mod, "spin_ns", 1, 1, spin, 8, NULL, 0, 0));
	vgpu_sess_add(b, LAUNCH(mod, "fill_u64", 2, 256, fill, 24, patch(pt, 0, out, 0), 1, 0));
	vgpu_sess_add(b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { out }, .len = 8 * BYSTANDER_WORDS));
}

/* 0 if @r is bystander job @tag's right answer; else why into @why. */
static int bystander_check(const struct sess_reply *r, uint64_t tag, char *why, size_t len)
{
	const uint8_t *o;

	if (r->rh.status || r->parse_err) {
		snprintf(why, len, "status %d: %s", r->rh.status, r->rh.msg);
		return -1;
	}
	o = out_of(r, 2, 8 * BYSTANDER_WORDS);
	if (!o) {
		snprintf(why, len, "no output");
		return -1;
	}
	for (uint64_t i = 0; i < BYSTANDER_WORDS; i++)
		if (get64(o + 8 * i) != tag * 0x9e3779b97f4a7c15ull + i) {
			snprintf(why, len, "word %" PRIu64 " wrong", i);
			return -1;
		}
	return 0;
}

/*
 * v1's steps while v2 runs: 0 a fault on its live handles, 1 its old
 * handle (-ESTALE, on a new executor), 2 a fault in a fresh session, 3 a
 * fresh session that works. Check the answer @r1 to step @stage, build step
 * @stage + 1 into @b (nothing after the last); 1 if @r1 was a fault.
 */
static int v1_step(struct __test_metadata *_metadata, FIXTURE_DATA(gs) *self, int stage,
		   const struct sess_reply *r1, uint64_t m1)
{
	static uint8_t prm[8], pt[VGPU_SESS_PATCH_SIZE];
	const uint8_t *o;

	switch (stage) {
	case 0:
	case 2:
		EXPECT_EQ(-EFAULT, r1->rh.status) TH_LOG("step %d: %s", stage, r1->rh.msg);
		break;
	case 1:
		EXPECT_EQ(-ESTALE, r1->rh.status) TH_LOG("step %d: %s", stage, r1->rh.msg);
		break;
	default:
		EXPECT_EQ(0, r1->rh.status) TH_LOG("step %d: %s", stage, r1->rh.msg);
		o = r1->rh.status ? NULL : out_of(r1, 2, 64);
		EXPECT_EQ(0x5a, o ? o[63] : -1);
		break;
	}
	if (stage == 0) {
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_UNLOAD, .ref = { m1 }));
	} else if (stage == 1) {
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = self->cubin.p,
					    .data_len = self->cubin.len));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
		vgpu_sess_add(&self->b, LAUNCH(VGPU_SESS_SLOT(0), "bad_address", 1, 1, prm, 8,
					       patch(pt, 0, VGPU_SESS_SLOT(1), 0), 1, 0));
	} else if (stage == 2) {
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) },
					    .len = 64, .value = 0x5a));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
					    .len = 64));
	}
	return r1->rh.status == -EFAULT;
}

TEST_F_TIMEOUT(gs, an_illegal_address_in_v1_while_v2_runs_1000_jobs, 180)
{
	uint64_t m1, b1, m2, o2, tag0 = test_rand(), id1 = 0, ids[4];
	uint8_t prm[8] = { 0 }, pt[VGPU_SESS_PATCH_SIZE];
	int errors = 0, faults = 0, faults_during = 0, stage = 0, sent = 0, got = 0;
	char why[160], line[1024];
	struct sess_reply r1 = { 0 };

	if (!self->up)
		return;	/* skipped by the setup, which says why */
	m1 = load(_metadata, self, &self->v1, &self->cubin);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	run(_metadata, &self->v1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	b1 = sc_result(&self->r, 0).value;
	m2 = load(_metadata, self, &self->v2, &self->ptx);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8 * BYSTANDER_WORDS));
	run(_metadata, &self->v2, &self->b, &self->r, 0, VGPU_SESS_NONE);
	o2 = sc_result(&self->r, 0).value;
	ASSERT_TRUE(m1 && b1 && m2 && o2);

	/* v2 (pool B) keeps 4 jobs in flight; v1 (pool A) starts its steps at
	 * v2's 50th answer and posts each when the one before is answered */
	while (got < BYSTANDER_JOBS) {
		while (sent < BYSTANDER_JOBS && sent - got < 4) {
			bystander_job(&self->b, m2, o2, tag0 + (uint64_t)sent);
			ids[sent % 4] = post(_metadata, &self->v2, &self->b);
			sent++;
		}
		sc_reply_free(&self->r);
		ASSERT_EQ(0, sc_wait(&self->v2, ids[got % 4], 1 << 20, WAIT_MS, &self->r));
		if (bystander_check(&self->r, tag0 + (uint64_t)got, why, sizeof(why))) {
			printf("# v2 job %d: %s\n", got, why);
			errors++;
		}
		got++;
		if (got == 50) {
			vgpu_sess_add(&self->b, LAUNCH(m1, "bad_address", 1, 1, prm, 8,
						       patch(pt, 0, b1, 0), 1, 0));
			id1 = post(_metadata, &self->v1, &self->b);
		}
		sc_reply_free(&r1);
		if (!id1 || sc_wait(&self->v1, id1, 1 << 20, 0, &r1))
			continue;	/* not yet */
		printf("# v1 step %d answered after %d jobs of v2: %s\n", stage, got, r1.rh.msg);
		faults_during += v1_step(_metadata, self, stage, &r1, m1);
		id1 = ++stage < 4 ? post(_metadata, &self->v1, &self->b) : 0;
	}
	faults = faults_during;
	while (stage < 4) {	/* v1's steps left after v2 finished */
		ASSERT_NE(0, id1);
		sc_reply_free(&r1);
		ASSERT_EQ(0, sc_wait(&self->v1, id1, 1 << 20, WAIT_MS, &r1));
		printf("# v1 step %d answered after v2 finished: %s\n", stage, r1.rh.msg);
		faults += v1_step(_metadata, self, stage, &r1, m1);
		id1 = ++stage < 4 ? post(_metadata, &self->v1, &self->b) : 0;
	}
	sc_reply_free(&r1);
	printf("# v2: %d jobs, %d errors; v1: %d faults, %d of them while v2 ran\n", got, errors,
	       faults, faults_during);
	EXPECT_EQ(0, errors);
	EXPECT_EQ(2, faults);
	EXPECT_LE(1, faults_during);
	ASSERT_EQ(0, vm_status(&self->t, "v2", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " executor_restarts=0 executor_deaths=0 ")) TH_LOG("%s", line);
	ASSERT_EQ(0, vm_status(&self->t, "v1", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " executor_restarts=2 executor_deaths=2 ")) TH_LOG("%s", line);
}

TEST_F_TIMEOUT(gs, an_endless_kernel_is_killed_within_its_limit_plus_1s, 120)
{
	uint8_t ns[8];
	struct sess_reply hang = { 0 };
	uint64_t m1, m2, idh, idn, killed_ns, moved_ns, t0;
	char line[1024];
	int during = 0;

	if (!self->up)
		return;	/* skipped by the setup, which says why */
	m1 = load(_metadata, self, &self->v1, &self->cubin);
	m2 = load(_metadata, self, &self->v2, &self->ptx);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));	/* v3's executor up */
	run(_metadata, &self->v3, &self->b, &self->r, 0, VGPU_SESS_NONE);
	ASSERT_TRUE(m1 && m2);

	vgpu_sess_add(&self->b, LAUNCH(m1, "forever", 1, 1, NULL, 0, NULL, 0, 0));
	idh = post(_metadata, &self->v1, &self->b);
	test_sleep_ms(100);	/* the endless one runs first */
	/* pool A's next job, queued behind it */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	idn = post(_metadata, &self->v3, &self->b);
	/* pool B runs 20 us kernels meanwhile */
	put64(ns, 20000);
	for (t0 = vgpu_now_ns(); vgpu_now_ns() - t0 < LIMIT_MS * MS / 2; during++) {
		vgpu_sess_add(&self->b, LAUNCH(m2, "spin_ns", 1, 1, ns, 8, NULL, 0, 0));
		run(_metadata, &self->v2, &self->b, &self->r, 0, VGPU_SESS_NONE);
		if (self->r.rh.status)
			break;
	}
	ASSERT_EQ(0, sc_wait(&self->v1, idh, 1 << 20, WAIT_MS, &hang));
	EXPECT_EQ(-ETIMEDOUT, hang.rh.status) TH_LOG("%s", hang.rh.msg);
	EXPECT_EQ(0u, hang.rh.payload_len);	/* the header alone */
	killed_ns = hang.rh.finished_ns - hang.rh.started_ns;
	EXPECT_GE(killed_ns, LIMIT_MS * MS);
	EXPECT_LE(killed_ns, (LIMIT_MS + 1000) * MS);
	sc_reply_free(&self->r);
	ASSERT_EQ(0, sc_wait(&self->v3, idn, 1 << 20, WAIT_MS, &self->r));
	EXPECT_EQ(0, self->r.rh.status) TH_LOG("%s", self->r.rh.msg);
	ASSERT_LT(hang.rh.started_ns, self->r.rh.started_ns);
	moved_ns = self->r.rh.started_ns - hang.rh.started_ns;
	EXPECT_LE(moved_ns, (LIMIT_MS + 1000) * MS);
	printf("# %s: killed after %" PRIu64 " ms; pool A's next job started %" PRIu64
	       " ms after the hung one; pool B answered %d jobs meanwhile\n", hang.rh.msg,
	       killed_ns / MS, moved_ns / MS, during);
	EXPECT_LE(10, during);
	sc_reply_free(&hang);

	/* v1's old handles are gone, a fresh session works */
	vgpu_sess_add(&self->b, LAUNCH(m1, "spin_ns", 1, 1, ns, 8, NULL, 0, 0));
	run(_metadata, &self->v1, &self->b, &self->r, -ESTALE, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = self->cubin.p,
				    .data_len = self->cubin.len));
	vgpu_sess_add(&self->b, LAUNCH(VGPU_SESS_SLOT(0), "spin_ns", 1, 1, ns, 8, NULL, 0, 0));
	run(_metadata, &self->v1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	ASSERT_EQ(0, vm_status(&self->t, "v1", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " executor_deaths=1 session_timeouts=1")) TH_LOG("%s", line);
}

#define XVM_WORDS	32768	/* v1's buffer: 256 KiB */

TEST_F(gs, v2_cannot_read_v1s_buffer_by_its_address)
{
	uint64_t *pat = malloc(8 * XVM_WORDS), seed = test_rand(), addr, m1, b1, b2;
	uint8_t prm[24] = { 0 }, pt[2][VGPU_SESS_PATCH_SIZE], ptb[2 * VGPU_SESS_PATCH_SIZE];
	const uint8_t *o;
	char line[1024];
	int seen = 0;

	if (!self->up)
		return;	/* skipped by the setup, which says why */
	ASSERT_NE(NULL, pat);
	for (int i = 0; i < XVM_WORDS; i++)
		pat[i] = htole64(splitmix64(seed + (uint64_t)i) | 1);
	/* v1: its buffer with the pattern, and where it is (whereami(p, out)) */
	memcpy(ptb, patch(pt[0], 0, VGPU_SESS_SLOT(1), 0), VGPU_SESS_PATCH_SIZE);
	memcpy(ptb + VGPU_SESS_PATCH_SIZE, patch(pt[1], 8, VGPU_SESS_SLOT(3), 0),
	       VGPU_SESS_PATCH_SIZE);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = self->cubin.p,
				    .data_len = self->cubin.len));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8 * XVM_WORDS));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(1) },
				    .data = pat, .data_len = 8 * XVM_WORDS));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	vgpu_sess_add(&self->b, LAUNCH(VGPU_SESS_SLOT(0), "whereami", 1, 1, prm, 16, ptb, 2, 0));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(3) },
				    .len = 8));
	run(_metadata, &self->v1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	o = out_of(&self->r, 5, 8);
	ASSERT_NE(NULL, o);
	addr = get64(o);
	m1 = sc_result(&self->r, 0).value;
	b1 = sc_result(&self->r, 1).value;
	ASSERT_NE(0, addr);

	/* v2: read_raw(addr as plain bytes, n, out) */
	put64(prm, addr);
	put64(prm + 8, XVM_WORDS);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = self->cubin.p,
				    .data_len = self->cubin.len));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8 * XVM_WORDS));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(1) },
				    .len = 8 * XVM_WORDS));
	vgpu_sess_add(&self->b, LAUNCH(VGPU_SESS_SLOT(0), "read_raw", XVM_WORDS / 256, 256, prm, 24,
				       patch(pt[0], 16, VGPU_SESS_SLOT(1), 0), 1, 0));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(1) },
				    .len = 8 * XVM_WORDS));
	sc_reply_free(&self->r);
	ASSERT_EQ(0, sc_run(&self->v2, &self->b, WAIT_MS, &self->r));
	vgpu_sess_buf_free(&self->b);
	vgpu_sess_begin(&self->b);
	b2 = sc_result(&self->r, 1).value;
	printf("# v2 read 0x%" PRIx64 " (v1's buffer): %s\n", addr, self->r.rh.msg);
	if (self->r.rh.status) {
		/* a fault: v2's session is reset */
		EXPECT_EQ(-EFAULT, self->r.rh.status);
		EXPECT_EQ(3u, self->r.s.hdr.failed);
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { b2 }));
		run(_metadata, &self->v2, &self->b, &self->r, -ESTALE, 0);
	} else {
		/* it ran: on memory of its own (the same address in its own space) */
		o = out_of(&self->r, 4, 8 * XVM_WORDS);
		ASSERT_NE(NULL, o);
		for (int i = 0; i < XVM_WORDS; i++)
			seen += !memcmp(o + 8 * i, &pat[i], 8);
		EXPECT_EQ(0, seen) TH_LOG("%d of %d words of v1's pattern", seen, XVM_WORDS);
	}

	/* v1's data and session are intact: the same buffer at the same place */
	memset(prm, 0, sizeof(prm));
	memcpy(ptb, patch(pt[0], 0, b1, 0), VGPU_SESS_PATCH_SIZE);
	memcpy(ptb + VGPU_SESS_PATCH_SIZE, patch(pt[1], 8, VGPU_SESS_SLOT(1), 0),
	       VGPU_SESS_PATCH_SIZE);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { b1 },
				    .len = 8 * XVM_WORDS));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	vgpu_sess_add(&self->b, LAUNCH(m1, "whereami", 1, 1, prm, 16, ptb, 2, 0));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(1) },
				    .len = 8));
	run(_metadata, &self->v1, &self->b, &self->r, 0, VGPU_SESS_NONE);
	o = out_of(&self->r, 0, 8 * XVM_WORDS);
	ASSERT_NE(NULL, o);
	EXPECT_EQ(0, memcmp(o, pat, 8 * XVM_WORDS));
	o = out_of(&self->r, 3, 8);
	ASSERT_NE(NULL, o);
	EXPECT_EQ(addr, get64(o));
	ASSERT_EQ(0, vm_status(&self->t, "v1", line, sizeof(line)));
	EXPECT_NE(NULL, strstr(line, " executor_restarts=0 executor_deaths=0 ")) TH_LOG("%s", line);
	free(pat);
}

TEST_F(gs, quotas_hold_on_the_gpu)
{
	size_t big_len = Q_MODULE + 1;
	char *big = malloc(big_len);
	uint64_t h, mod, a;
	uint8_t fill[24] = { 0 }, pt[VGPU_SESS_PATCH_SIZE];
	const uint8_t *o;

	if (!self->up)
		return;	/* skipped by the setup, which says why */
	ASSERT_NE(NULL, big);
	ASSERT_LT(self->cubin.len, Q_MODULE);
	/* device memory: exact at the boundary */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = Q_MEM));
	run(_metadata, &self->q, &self->b, &self->r, 0, VGPU_SESS_NONE);
	h = sc_result(&self->r, 0).value;
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	run(_metadata, &self->q, &self->b, &self->r, -ENOMEM, 0);
	EXPECT_NE(NULL, strstr(self->r.s.hdr.msg, "device memory quota")) TH_LOG("%s", self->r.s.hdr.msg);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { h }));
	run(_metadata, &self->q, &self->b, &self->r, 0, VGPU_SESS_NONE);

	/* module bytes: valid PTX padded with a comment to one byte over */
	memset(big, ' ', big_len);
	memcpy(big, self->ptx.p, self->ptx.len);
	memcpy(big + self->ptx.len, "\n//", 3);
	big[big_len - 1] = '\n';
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = big, .data_len = big_len));
	run(_metadata, &self->q, &self->b, &self->r, -ENOMEM, 0);
	EXPECT_NE(NULL, strstr(self->r.s.hdr.msg, "module quota")) TH_LOG("%s", self->r.s.hdr.msg);

	/* a module's image counts in device memory too */
	mod = load(_metadata, self, &self->q, &self->cubin);
	ASSERT_NE(0, mod);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = Q_MEM - self->cubin.len));
	run(_metadata, &self->q, &self->b, &self->r, 0, VGPU_SESS_NONE);
	a = sc_result(&self->r, 0).value;
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	run(_metadata, &self->q, &self->b, &self->r, -ENOMEM, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { a }));
	run(_metadata, &self->q, &self->b, &self->r, 0, VGPU_SESS_NONE);

	/* handles: the module and three buffers, then no more */
	for (int i = 1; i < Q_HANDLES; i++)
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	run(_metadata, &self->q, &self->b, &self->r, 0, VGPU_SESS_NONE);
	a = sc_result(&self->r, 0).value;
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	run(_metadata, &self->q, &self->b, &self->r, -ENOMEM, 0);
	EXPECT_NE(NULL, strstr(self->r.s.hdr.msg, "handle quota")) TH_LOG("%s", self->r.s.hdr.msg);

	/* and the session still runs kernels */
	put64(fill + 8, 8);
	put64(fill + 16, 3);
	vgpu_sess_add(&self->b, LAUNCH(mod, "fill_u64", 1, 32, fill, 24, patch(pt, 0, a, 0), 1, 0));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { a }, .len = 64));
	run(_metadata, &self->q, &self->b, &self->r, 0, VGPU_SESS_NONE);
	o = out_of(&self->r, 1, 64);
	ASSERT_NE(NULL, o);
	EXPECT_EQ(3 * 0x9e3779b97f4a7c15ull + 7, get64(o + 56));
	free(big);
}

TEST_F(gs, module_globals_are_buffers_that_die_with_their_module)
{
	struct vgpu_device_props p = { .argsz = sizeof(p) };
	uint32_t n = (uint32_t)test_rand_range(1, 4096);
	float bias[64], *x = malloc(4ull * n), got;
	uint8_t pt[VGPU_SESS_PATCH_SIZE], prm[8] = { 0 }, count[4];
	uint64_t mod, gb, gc, len;
	const uint8_t *o;
	int bad = 0;

	if (!self->up)
		return;	/* skipped by the setup, which says why */
	ASSERT_NE(NULL, x);
	test_rand_floats(bias, 64);
	test_rand_floats(x, n);
	mod = load(_metadata, self, &self->v3, &self->ptx);
	ASSERT_NE(0, mod);
	/* the two variables, one asked for twice: one handle */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_GLOBAL, .ref = { mod },
				    .name = "g_bias", .name_len = 6));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_GLOBAL, .ref = { mod },
				    .name = "g_count", .name_len = 7));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_GLOBAL, .ref = { mod },
				    .name = "g_bias", .name_len = 6));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_DEVICE_INFO));
	run(_metadata, &self->v3, &self->b, &self->r, 0, VGPU_SESS_NONE);
	gb = sc_result(&self->r, 0).value;
	gc = sc_result(&self->r, 1).value;
	EXPECT_EQ(gb, sc_result(&self->r, 2).value);
	o = out_of(&self->r, 0, 8);
	ASSERT_NE(NULL, o);
	EXPECT_EQ(256u, get64(o));
	o = out_of(&self->r, 1, 8);
	ASSERT_NE(NULL, o);
	EXPECT_EQ(4u, get64(o));
	o = out_of(&self->r, 3, VGPU_SESS_DEVINFO_SIZE);
	ASSERT_NE(NULL, o);
	ASSERT_EQ(0, vgpu_sess_devinfo_decode(o, VGPU_SESS_DEVINFO_SIZE, &p));
	printf("# device_info: %s, cc %u.%u, %u SMs, %" PRIu64 " of %" PRIu64 " bytes used, "
	       "%u handles\n", p.name, p.cc_major, p.cc_minor, p.multiprocessors, p.mem_used,
	       p.total_mem, p.handles_used);
	EXPECT_TRUE(p.flags & VGPU_PROPS_F_GPU);
	EXPECT_EQ(9u, p.cc_major);
	EXPECT_LT(0u, p.multiprocessors);
	EXPECT_EQ(self->ptx.len, p.mem_used);	/* globals are not charged */
	EXPECT_EQ(3u, p.handles_used);		/* the module and two globals */

	/* written by copies, read by a kernel through a patch-free launch */
	put32(count, n);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { gb }, .data = bias,
				    .data_len = sizeof(bias)));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { gc }, .data = count,
				    .data_len = 4));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 4ull * n));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(2) },
				    .data = x, .data_len = 4ull * n));
	vgpu_sess_add(&self->b, LAUNCH(mod, "add_bias", (n + 127) / 128, 128, prm, 8,
				       patch(pt, 0, VGPU_SESS_SLOT(2), 0), 1, 0));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(2) },
				    .len = 4ull * n));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(2) }));
	run(_metadata, &self->v3, &self->b, &self->r, 0, VGPU_SESS_NONE);
	o = out_of(&self->r, 5, 4ull * n);
	ASSERT_NE(NULL, o);
	for (uint32_t i = 0; i < n && bad < 5; i++) {
		float want = x[i] + bias[i % 64];

		memcpy(&got, o + 4ull * i, 4);
		if (got != want) {
			EXPECT_EQ(want, got) TH_LOG("x[%u] of %u", i, n);
			bad++;
		}
	}

	/* not freed, not found, and gone with the module */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { gb }));
	run(_metadata, &self->v3, &self->b, &self->r, -EINVAL, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_GLOBAL, .ref = { mod },
				    .name = "no_such", .name_len = 7));
	run(_metadata, &self->v3, &self->b, &self->r, -ENOENT, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_UNLOAD, .ref = { mod }));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_DEVICE_INFO));
	run(_metadata, &self->v3, &self->b, &self->r, 0, VGPU_SESS_NONE);
	len = VGPU_SESS_DEVINFO_SIZE;
	ASSERT_EQ(0, vgpu_sess_devinfo_decode(out_of(&self->r, 1, len), len, &p));
	EXPECT_EQ(0u, p.handles_used);
	EXPECT_EQ(0u, p.mem_used);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { gb }, .len = 4));
	run(_metadata, &self->v3, &self->b, &self->r, -EBADF, 0);
	free(x);
}

TEST_HARNESS_MAIN
