// SPDX-License-Identifier: MIT
/*
 * vgpu-executor's CUDA backend on the GPU, driven through its socket as
 * the mediator drives it (no mediator): modules as PTX and as a cubin,
 * module_describe's parameter layout, launches with pointer patches, a
 * struct parameter, a 32,000-byte parameter block, a cooperative launch,
 * device printf returned with the list, timestamps, and an illegal address
 * that fails its launch with -EFAULT and ends the executor, whose
 * successor works. Every test is a SKIP without a GPU.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "emsg.h"
#include "vgpu/session.h"

#ifndef KERNELS_DIR
#define KERNELS_DIR "build/gpu/tests/gpu"
#endif

struct gx {
	pid_t pid;
	int sock;
	uint32_t epoch;
};

static const char *exe(void)
{
	const char *e = getenv("VGPU_EXECUTOR");

#ifdef VGPU_EXECUTOR_DEFAULT
	return e ? e : VGPU_EXECUTOR_DEFAULT;
#else
	return e ? e : "build/gpu/vgpu-executor";
#endif
}

/* 0, or 1 with the FATAL text in @why (no GPU), or -errno. */
static int gstart(struct gx *x, uint32_t epoch, char *why)
{
	struct vgpu_exec_conf c = {
		.path = exe(), .user = "nobody", .backend = VGPU_EXEC_CUDA, .epoch = epoch,
		.vm_id = epoch, .mem_quota = 1ull << 30, .handle_quota = 64,
		.module_quota = 16 << 20,
	};
	struct vgpu_emsg m;
	int err;

	x->epoch = epoch;
	err = vgpu_exec_spawn(&c, &x->pid, &x->sock);
	if (!err)
		err = vgpu_emsg_recv(x->sock, &m);
	if (err)
		return err;
	if (m.type == VGPU_EMSG_FATAL) {
		snprintf(why, VGPU_SESS_MSG_LEN, "%.*s", (int)m.len, (const char *)m.body);
		return 1;
	}
	return m.type == VGPU_EMSG_READY ? 0 : -EBADMSG;
}

static int gstop(struct gx *x)
{
	int st = -1;

	close(x->sock);
	waitpid(x->pid, &st, 0);
	return st;
}

static void *slurp(const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	void *p;
	long n;

	snprintf(path, sizeof(path), "%s/%s", KERNELS_DIR, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	p = malloc((size_t)n);
	if (p && fread(p, 1, (size_t)n, f) != (size_t)n) {
		free(p);
		p = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return p;
}

struct gres {
	struct vgpu_emsg_done done;
	uint8_t *bytes;
	struct vgpu_sess_rsp rsp;
};

static int grun(struct gx *x, struct vgpu_sess_buf *b, struct gres *r)
{
	struct vgpu_emsg_run run = { .id = 1, .list_len = b->len, .rsp_max = 64 << 20 };
	char why[VGPU_SESS_MSG_LEN];
	struct vgpu_emsg m;
	int fds[2], err;

	free(r->bytes);
	memset(r, 0, sizeof(*r));
	if (vgpu_sess_finish(b))
		return -ENOMEM;
	fds[0] = memfd_create("l", MFD_CLOEXEC);
	fds[1] = memfd_create("r", MFD_CLOEXEC);
	if (write(fds[0], b->p, b->len) != (ssize_t)b->len)
		return -EIO;
	err = vgpu_emsg_send(x->sock, VGPU_EMSG_RUN, &run, sizeof(run), fds, 2);
	if (!err)
		err = vgpu_emsg_recv(x->sock, &m);
	if (!err)
		err = vgpu_emsg_expect(&m, VGPU_EMSG_DONE, sizeof(r->done), 0, why);
	if (!err) {
		memcpy(&r->done, m.body, sizeof(r->done));
		r->bytes = malloc(r->done.rsp_len + 1);
		if (pread(fds[1], r->bytes, r->done.rsp_len, 0) != (ssize_t)r->done.rsp_len)
			err = -EIO;
		else
			err = vgpu_sess_rsp_parse(r->bytes, r->done.rsp_len, &r->rsp, why);
	}
	close(fds[0]);
	close(fds[1]);
	vgpu_sess_buf_free(b);
	vgpu_sess_begin(b);
	return err;
}

static struct vgpu_sess_result res(const struct gres *r, uint32_t i)
{
	struct vgpu_sess_result x;

	vgpu_sess_rsp_result(&r->rsp, i, &x);
	return x;
}

#define CMD(...) (&(struct vgpu_sess_cmd){ __VA_ARGS__ })
#define LAUNCH(mod, nm, g, bl, prm, plen, pt, npt, fl) CMD(.code = VGPU_SESS_LAUNCH, \
	.flags = (fl), .ref = { (mod) }, .grid = { (g), 1, 1 }, .block = { (bl), 1, 1 }, \
	.name = (nm), .name_len = (uint32_t)strlen(nm), .data = (prm), .data_len = (plen), \
	.patches = (pt), .npatches = (npt))

FIXTURE(gpu)
{
	struct gx x;
	struct vgpu_sess_buf b;
	struct gres r;
	bool up;
};

FIXTURE_SETUP(gpu)
{
	char why[VGPU_SESS_MSG_LEN] = "";
	int err = gstart(&self->x, 100 + (uint32_t)getpid() % 1000, why);

	memset(&self->r, 0, sizeof(self->r));
	vgpu_sess_begin(&self->b);
	if (err == 1)
		SKIP(return, "no GPU: %s", why);
	ASSERT_EQ(0, err);
	self->up = true;
}

FIXTURE_TEARDOWN(gpu)
{
	if (self->up)
		gstop(&self->x);
	free(self->r.bytes);
	vgpu_sess_buf_free(&self->b);
}

/* Load @file; the module's handle. */
static uint64_t load(struct __test_metadata *_metadata, FIXTURE_DATA(gpu) *self, const char *file)
{
	size_t len;
	void *img = slurp(file, &len);

	if (!img)
		return 0;
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = img, .data_len = len));
	EXPECT_EQ(0, grun(&self->x, &self->b, &self->r));
	free(img);
	EXPECT_EQ(0, self->r.rsp.hdr.status) TH_LOG("%s: %s", file, self->r.rsp.hdr.msg);
	return self->r.rsp.hdr.status ? 0 : res(&self->r, 0).value;
}

TEST_F(gpu, ptx_and_cubin_load_describe_and_run_axpy)
{
	static const char *files[] = { "session_kernels.ptx", "session_kernels.cubin" };
	float x[1000], y[1000], a = 2.5f;

	if (!self->up)
		SKIP(return, "no GPU");

	for (int f = 0; f < 2; f++) {
		uint64_t mod = load(_metadata, self, files[f]);
		uint8_t params[32] = { 0 };
		struct vgpu_sess_patch pt[2] = {
			{ .param_off = 8, .ref = VGPU_SESS_SLOT(0) },
			{ .param_off = 16, .ref = VGPU_SESS_SLOT(0), .off = sizeof(x) },
		};
		uint8_t ptb[2 * VGPU_SESS_PATCH_SIZE];
		const uint8_t *o;
		int n = 1000, found = 0;
		uint32_t nk;

		ASSERT_NE(0, mod) TH_LOG("%s", files[f]);
		/* describe: axpy(float a @0, const float *x @8, float *y @16, int n @24) */
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_DESCRIBE, .ref = { mod }));
		ASSERT_EQ(0, grun(&self->x, &self->b, &self->r));
		ASSERT_EQ(0, self->r.rsp.hdr.status) TH_LOG("%s", self->r.rsp.hdr.msg);
		o = self->r.rsp.out + res(&self->r, 0).out_off;
		memcpy(&nk, o, 4);
		EXPECT_EQ(6u, nk);
		o += 8;
		for (uint32_t k = 0; k < nk; k++) {
			uint32_t nl, np;

			memcpy(&nl, o, 4);
			memcpy(&np, o + 4, 4);
			if (nl == 4 && !memcmp(o + VGPU_SESS_KERNEL_REC_SIZE, "axpy", 4)) {
				const uint8_t *pp = o + VGPU_SESS_KERNEL_REC_SIZE + 8;
				uint32_t want[4][2] = { { 0, 4 }, { 8, 8 }, { 16, 8 }, { 24, 4 } };

				found = 1;
				ASSERT_EQ(4u, np);
				for (int i = 0; i < 4; i++) {
					uint32_t off, size;

					memcpy(&off, pp + 8 * i, 4);
					memcpy(&size, pp + 8 * i + 4, 4);
					EXPECT_EQ(want[i][0], off);
					EXPECT_EQ(want[i][1], size);
				}
			}
			o += VGPU_SESS_KERNEL_REC_SIZE + (nl + 7) / 8 * 8 + 8 * np;
		}
		EXPECT_TRUE(found);
		/* run it, by slot references in one list */
		for (int i = 0; i < 1000; i++)
			x[i] = (float)i, y[i] = 1.0f;
		memcpy(params, &a, 4);
		memcpy(params + 24, &n, 4);
		vgpu_sess_patch_put(pt, 2, ptb);
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 2 * sizeof(x)));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
					    .data = x, .data_len = sizeof(x)));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
					    .off = { sizeof(x) }, .data = y, .data_len = sizeof(y)));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
		vgpu_sess_add(&self->b, LAUNCH(mod, "axpy", 4, 256, params, 28, ptb, 2, 0));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
					    .off = { sizeof(x) }, .len = sizeof(y)));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(0) }));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_UNLOAD, .ref = { mod }));
		ASSERT_EQ(0, grun(&self->x, &self->b, &self->r));
		ASSERT_EQ(0, self->r.rsp.hdr.status) TH_LOG("%s", self->r.rsp.hdr.msg);
		EXPECT_LE(res(&self->r, 3).value, res(&self->r, 5).value);
		printf("# %s: launch+sync %llu ns by events\n", files[f],
		       (unsigned long long)(res(&self->r, 5).value - res(&self->r, 3).value));
		o = self->r.rsp.out + res(&self->r, 6).out_off;
		for (int i = 0; i < 1000; i++) {
			float got;

			memcpy(&got, o + 4 * i, 4);
			if (got != a * (float)i + 1.0f) {
				EXPECT_EQ(a * (float)i + 1.0f, got) TH_LOG("y[%d]", i);
				break;
			}
		}
	}
}

TEST_F(gpu, struct_params_big_params_cooperative_and_printf)
{
	uint64_t mod = 0;
	static uint8_t big[32000 + 8];
	uint8_t fillp[24] = { 0 }, coopp[8] = { 0 }, hellop[4];
	struct vgpu_sess_patch pf = { .param_off = 0, .ref = VGPU_SESS_SLOT(0) };
	struct vgpu_sess_patch pb = { .param_off = 32000, .ref = VGPU_SESS_SLOT(0), .off = 4096 };
	struct vgpu_sess_patch pc = { .param_off = 0, .ref = VGPU_SESS_SLOT(0), .off = 4104 };
	uint8_t pfb[VGPU_SESS_PATCH_SIZE], pbb[VGPU_SESS_PATCH_SIZE], pcb[VGPU_SESS_PATCH_SIZE];
	int n = 1000, v = 1234, sum = 0, got;
	double scale = 0.5;
	const uint8_t *o;

	if (!self->up)
		SKIP(return, "no GPU");

	mod = load(_metadata, self, "session_kernels.cubin");
	ASSERT_NE(0, mod);
	memcpy(fillp + 8, &n, 4);
	memcpy(fillp + 16, &scale, 8);
	for (int i = 0; i < 8000; i++) {
		memcpy(big + 4 * i, &i, 4);
		sum += i;
	}
	memcpy(hellop, &v, 4);
	vgpu_sess_patch_put(&pf, 1, pfb);
	vgpu_sess_patch_put(&pb, 1, pbb);
	vgpu_sess_patch_put(&pc, 1, pcb);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8192));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) },
				    .len = 8192));
	vgpu_sess_add(&self->b, LAUNCH(mod, "fill", 4, 256, fillp, 24, pfb, 1, 0));
	vgpu_sess_add(&self->b, LAUNCH(mod, "sum_big", 1, 1, big, 32008, pbb, 1, 0));
	vgpu_sess_add(&self->b, LAUNCH(mod, "coop_blocks", 8, 32, coopp, 8, pcb, 1,
				       VGPU_SESS_F_COOPERATIVE));
	vgpu_sess_add(&self->b, LAUNCH(mod, "hello", 1, 2, hellop, 4, NULL, 0, 0));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
				    .len = 4112));
	ASSERT_EQ(0, grun(&self->x, &self->b, &self->r));
	ASSERT_EQ(0, self->r.rsp.hdr.status) TH_LOG("%s", self->r.rsp.hdr.msg);
	o = self->r.rsp.out + res(&self->r, 6).out_off;
	for (int i = 0; i < 1000; i++) {
		float f;

		memcpy(&f, o + 4 * i, 4);
		if (f != (float)(0.5 * i)) {
			EXPECT_EQ((float)(0.5 * i), f) TH_LOG("fill[%d]", i);
			break;
		}
	}
	memcpy(&got, o + 4096, 4);
	EXPECT_EQ(sum, got);
	memcpy(&got, o + 4104, 4);
	EXPECT_EQ(8, got);
	printf("# device text (%u bytes): %.*s", self->r.rsp.hdr.log_len,
	       (int)self->r.rsp.hdr.log_len, self->r.rsp.log);
	EXPECT_NE(NULL, memmem(self->r.rsp.log, self->r.rsp.hdr.log_len,
			       "hello from the device 1234\n", 27));
	/* an unknown kernel name */
	vgpu_sess_add(&self->b, LAUNCH(mod, "nope", 1, 1, NULL, 0, NULL, 0, 0));
	ASSERT_EQ(0, grun(&self->x, &self->b, &self->r));
	EXPECT_EQ(-ENOENT, self->r.rsp.hdr.status) TH_LOG("%s", self->r.rsp.hdr.msg);
	printf("# %s\n", self->r.rsp.hdr.msg);
}

TEST_F(gpu, an_illegal_address_fails_its_launch_and_ends_the_executor)
{
	struct vgpu_sess_patch p = { .param_off = 0, .ref = VGPU_SESS_SLOT(0) };
	uint64_t mod = 0;
	uint8_t pb[VGPU_SESS_PATCH_SIZE], params[8] = { 0 };
	char why[VGPU_SESS_MSG_LEN] = "";
	int st;

	if (!self->up)
		SKIP(return, "no GPU");

	mod = load(_metadata, self, "session_kernels.cubin");
	ASSERT_NE(0, mod);
	vgpu_sess_patch_put(&p, 1, pb);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	vgpu_sess_add(&self->b, LAUNCH(mod, "bad_address", 1, 1, params, 8, pb, 1, 0));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	ASSERT_EQ(0, grun(&self->x, &self->b, &self->r));
	EXPECT_EQ(-EFAULT, self->r.rsp.hdr.status) TH_LOG("%s", self->r.rsp.hdr.msg);
	EXPECT_EQ(1u, self->r.rsp.hdr.failed);
	EXPECT_TRUE(self->r.done.flags & VGPU_EMSG_DONE_F_LOST);
	printf("# %s\n", self->r.rsp.hdr.msg);
	st = gstop(&self->x);
	self->up = false;
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 2) TH_LOG("0x%x", st);
	/* its successor works, and the old handle is stale there */
	ASSERT_EQ(0, gstart(&self->x, self->x.epoch + 1, why));
	self->up = true;
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_UNLOAD, .ref = { mod }));
	ASSERT_EQ(0, grun(&self->x, &self->b, &self->r));
	EXPECT_EQ(-ESTALE, self->r.rsp.hdr.status) TH_LOG("%s", self->r.rsp.hdr.msg);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) }, .len = 64,
				    .value = 7));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) }, .len = 64));
	ASSERT_EQ(0, grun(&self->x, &self->b, &self->r));
	EXPECT_EQ(0, self->r.rsp.hdr.status) TH_LOG("%s", self->r.rsp.hdr.msg);
	EXPECT_EQ(7, self->r.rsp.out[res(&self->r, 2).out_off + 63]);
}

TEST_HARNESS_MAIN
