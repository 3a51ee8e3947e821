// SPDX-License-Identifier: MIT
/*
 * The guest CUDA runtime's kernel path (cudart/module.c) without a GPU:
 * the runtime's objects linked against a fake libvgpu (below) that runs
 * each list against a tiny model and keeps what the runtime asked for.
 * The CPU backend runs no kernels, so this is where CI sees how launches
 * are built: parameters laid out at the offsets module_describe gives,
 * the pointer-patch rule (every 8-byte aligned word that is a live fake
 * device address, and nothing else), modules loaded once per content and
 * lazily, symbols as module_global buffers, cooperative launches, launch
 * configurations refused before anything is sent, kernel attributes and
 * the occupancy calculator. Fresh printed seed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include "cuda_abi.h"
#include "testlib.h"
#include "vgpu/vgpu.h"

/* ---- the fake libvgpu ------------------------------------------------------- */

#define MAXCMDS		4096
#define MAXLAUNCH	64

struct fcmd {
	uint32_t code;
	uint64_t a, b;		/* references */
	uint64_t len;
	char name[128];
	struct vgpu_launch la;
	uint8_t params[32768];
	struct vgpu_patch patches[512];
};

struct vgpu_list {
	struct fcmd *c;
	uint32_t n;
};

struct vgpu_reply {
	struct vgpu_cmd_result r[MAXCMDS];
	uint8_t *outs[MAXCMDS];
	uint32_t n;
};

/* What the runtime asked for, kept for the tests. */
static struct {
	struct fcmd launch[MAXLAUNCH];
	int nlaunch;
	int loads, describes, globals, runs, cmds[16];
	uint64_t next_handle;
	const uint8_t *describe;	/* the records module_describe gives */
	uint64_t describe_len;
	struct vgpu_device_props props;
	uint64_t room_set;		/* the largest reply room set for a run */
} fake = { .next_handle = 1 };

int vgpu_open(const char *target, struct vgpu_device **dev, char *why)
{
	(void)target;
	(void)why;
	*dev = (struct vgpu_device *)&fake;
	return 0;
}

int vgpu_device_info(struct vgpu_device *dev, struct vgpu_device_info *info, char *why)
{
	(void)dev;
	(void)why;
	memset(info, 0, sizeof(*info));
	return 0;
}

int vgpu_list_new(struct vgpu_list **l)
{
	*l = calloc(1, sizeof(**l));
	(*l)->c = calloc(MAXCMDS, sizeof(struct fcmd));
	return 0;
}

void vgpu_list_reset(struct vgpu_list *l)
{
	l->n = 0;
}

uint32_t vgpu_list_count(const struct vgpu_list *l)
{
	return l->n;
}

uint64_t vgpu_list_bytes(const struct vgpu_list *l)
{
	return 64ull * l->n;
}

uint64_t vgpu_list_out_bytes(const struct vgpu_list *l)
{
	return 32ull * l->n;
}

/* What the runtime last set the reply room to (0: computed). */
static uint64_t out_set;

void vgpu_list_set_out_bytes(struct vgpu_list *l, uint64_t bytes)
{
	(void)l;
	out_set = bytes;
	if (bytes)
		fake.room_set = bytes;
}

int vgpu_list_error(const struct vgpu_list *l, char *why)
{
	(void)l;
	if (why)
		snprintf(why, VGPU_WHY_LEN, "fake");
	return 0;
}

static int add(struct vgpu_list *l, uint32_t code, uint64_t a, uint64_t b, uint64_t len,
	       uint64_t *ref)
{
	struct fcmd *c;

	if (l->n == MAXCMDS)
		return -E2BIG;
	c = &l->c[l->n];
	c->code = code;
	c->a = a;
	c->b = b;
	c->len = len;
	if (ref)
		*ref = VGPU_REF_SLOT | l->n;
	l->n++;
	return 0;
}

int vgpu_cmd_alloc(struct vgpu_list *l, uint64_t size, uint64_t *ref)
{
	return add(l, VGPU_CMD_ALLOC, 0, 0, size, ref);
}

int vgpu_cmd_free(struct vgpu_list *l, uint64_t buf, uint64_t *ref)
{
	return add(l, VGPU_CMD_FREE, buf, 0, 0, ref);
}

int vgpu_cmd_memset(struct vgpu_list *l, uint64_t buf, uint64_t off, uint64_t len,
		    unsigned int value, uint64_t *ref)
{
	(void)value;
	return add(l, VGPU_CMD_MEMSET, buf, off, len, ref);
}

int vgpu_cmd_copy_h2d(struct vgpu_list *l, uint64_t buf, uint64_t off, const void *data,
		      uint64_t len, uint64_t *ref)
{
	(void)data;
	return add(l, VGPU_CMD_COPY_H2D, buf, off, len, ref);
}

int vgpu_cmd_copy_d2h(struct vgpu_list *l, uint64_t buf, uint64_t off, uint64_t len,
		      uint64_t *ref)
{
	return add(l, VGPU_CMD_COPY_D2H, buf, off, len, ref);
}

int vgpu_cmd_copy_d2d(struct vgpu_list *l, uint64_t dst, uint64_t dst_off, uint64_t src,
		      uint64_t src_off, uint64_t len, uint64_t *ref)
{
	(void)dst_off;
	(void)src_off;
	return add(l, VGPU_CMD_COPY_D2D, dst, src, len, ref);
}

int vgpu_cmd_module_load(struct vgpu_list *l, const void *image, uint64_t len, uint64_t *ref)
{
	(void)image;
	return add(l, VGPU_CMD_MODULE_LOAD, 0, 0, len, ref);
}

int vgpu_cmd_module_unload(struct vgpu_list *l, uint64_t module, uint64_t *ref)
{
	return add(l, VGPU_CMD_MODULE_UNLOAD, module, 0, 0, ref);
}

int vgpu_cmd_module_describe(struct vgpu_list *l, uint64_t module, uint64_t *ref)
{
	return add(l, VGPU_CMD_MODULE_DESCRIBE, module, 0, 0, ref);
}

int vgpu_cmd_module_global(struct vgpu_list *l, uint64_t module, const char *name, uint64_t *ref)
{
	int err = add(l, VGPU_CMD_MODULE_GLOBAL, module, 0, 0, ref);

	if (!err)
		snprintf(l->c[l->n - 1].name, sizeof(l->c[0].name), "%s", name);
	return err;
}

int vgpu_cmd_launch(struct vgpu_list *l, const struct vgpu_launch *la, uint64_t *ref)
{
	struct fcmd *c;
	int err = add(l, VGPU_CMD_LAUNCH, la->module, 0, 0, ref);

	if (err)
		return err;
	c = &l->c[l->n - 1];
	c->la = *la;
	snprintf(c->name, sizeof(c->name), "%s", la->name);
	memcpy(c->params, la->params, la->param_len);
	memcpy(c->patches, la->patches, la->npatches * sizeof(*la->patches));
	return 0;
}

int vgpu_cmd_timestamp(struct vgpu_list *l, uint64_t *ref)
{
	return add(l, VGPU_CMD_TIMESTAMP, 0, 0, 0, ref);
}

int vgpu_cmd_device_info(struct vgpu_list *l, uint64_t *ref)
{
	return add(l, VGPU_CMD_DEVICE_INFO, 0, 0, 0, ref);
}

int vgpu_device_props_decode(const void *out, uint64_t len, struct vgpu_device_props *props)
{
	if (len != sizeof(*props))
		return -EINVAL;
	memcpy(props, out, len);
	return 0;
}

int vgpu_reply_new(struct vgpu_reply **r)
{
	*r = calloc(1, sizeof(**r));
	return 0;
}

/* A slot reference becomes the handle its command made. */
static uint64_t resolve(const struct vgpu_reply *r, uint64_t ref)
{
	return VGPU_REF_IS_SLOT(ref) ? r->r[VGPU_REF_INDEX(ref)].value : ref;
}

int vgpu_run(struct vgpu_device *dev, struct vgpu_list *l, struct vgpu_reply *r,
	     unsigned int timeout_ms, char *why)
{
	(void)dev;
	(void)timeout_ms;
	(void)why;
	fake.runs++;
	for (uint32_t i = 0; i < r->n; i++)
		free(r->outs[i]);
	memset(r->outs, 0, sizeof(r->outs));
	r->n = l->n;
	for (uint32_t i = 0; i < l->n; i++) {
		struct fcmd *c = &l->c[i];
		struct vgpu_cmd_result *res = &r->r[i];

		memset(res, 0, sizeof(*res));
		res->argsz = sizeof(*res);
		res->code = c->code;
		if (c->code < 16)
			fake.cmds[c->code]++;
		switch (c->code) {
		case VGPU_CMD_ALLOC:
		case VGPU_CMD_MODULE_LOAD:
			res->value = fake.next_handle++ | 7ull << 32;
			fake.loads += c->code == VGPU_CMD_MODULE_LOAD;
			break;
		case VGPU_CMD_MODULE_GLOBAL:
			res->value = fake.next_handle++ | 7ull << 32;
			fake.globals++;
			break;
		case VGPU_CMD_COPY_D2H:
			r->outs[i] = calloc(1, c->len + 1);
			res->out = r->outs[i];
			res->out_len = c->len;
			break;
		case VGPU_CMD_MODULE_DESCRIBE:
			fake.describes++;
			res->out = fake.describe;
			res->out_len = fake.describe_len;
			break;
		case VGPU_CMD_DEVICE_INFO:
			res->out = &fake.props;
			res->out_len = sizeof(fake.props);
			break;
		case VGPU_CMD_TIMESTAMP:
			res->value = 1000 * (i + 1);
			break;
		case VGPU_CMD_LAUNCH:
			if (fake.nlaunch < MAXLAUNCH) {
				struct fcmd *k = &fake.launch[fake.nlaunch++];

				*k = *c;
				k->la.module = resolve(r, c->la.module);
				for (uint32_t p = 0; p < c->la.npatches; p++)
					k->patches[p].buf = resolve(r, c->patches[p].buf);
			}
			break;
		default:
			break;
		}
	}
	return 0;
}

int vgpu_reply_info(const struct vgpu_reply *r, struct vgpu_reply_info *info)
{
	memset(info, 0, sizeof(*info));
	info->argsz = sizeof(*info);
	info->flags = VGPU_REPLY_F_ANSWERED;
	info->failed = -1;
	info->ncmds = info->nrun = r->n;
	info->epoch = 7;
	return 0;
}

const char *vgpu_reply_message(const struct vgpu_reply *r)
{
	(void)r;
	return "ok";
}

const char *vgpu_reply_log(const struct vgpu_reply *r, size_t *len)
{
	(void)r;
	*len = 0;
	return "";
}

int vgpu_reply_get(const struct vgpu_reply *r, uint64_t cmd, struct vgpu_cmd_result *res)
{
	uint32_t i = VGPU_REF_INDEX(cmd);

	if (i >= r->n)
		return -ENOENT;
	*res = r->r[i];
	return 0;
}

uint64_t vgpu_reply_value(const struct vgpu_reply *r, uint64_t cmd)
{
	uint32_t i = VGPU_REF_INDEX(cmd);

	return i < r->n ? r->r[i].value : 0;
}

const void *vgpu_reply_output(const struct vgpu_reply *r, uint64_t cmd, uint64_t *len)
{
	uint32_t i = VGPU_REF_INDEX(cmd);

	*len = i < r->n ? r->r[i].out_len : 0;
	return i < r->n ? r->r[i].out : NULL;
}

/* ---- a module ---------------------------------------------------------------------- */

/* Kernel records (protocol.rst): one kernel, its parameters at these offsets. */
static uint8_t *records(const char *name, const uint32_t (*params)[2], uint32_t np,
			int32_t regs, int32_t shared, uint64_t *len)
{
	size_t nl = strlen(name), pad = (nl + 7) / 8 * 8;
	uint8_t *p = calloc(1, 8 + 48 + pad + 8 * np);
	int32_t rec[10] = { (int32_t)nl, (int32_t)np, 1024, shared, 0, 16, regs, 90, 90, 49152 };

	p[0] = 1;
	memcpy(p + 8, rec, sizeof(rec));
	memcpy(p + 56, name, nl);
	memcpy(p + 56 + pad, params, 8 * np);
	*len = 8 + 48 + pad + 8 * np;
	return p;
}

static struct {
	struct vgpu_fatbin_header h;
	uint8_t body[64];
} image_a = { { FATBIN_MAGIC, 1, sizeof(struct vgpu_fatbin_header), 64 }, { 1 } },
  image_b = { { FATBIN_MAGIC, 1, sizeof(struct vgpu_fatbin_header), 64 }, { 1 } };
static __fatBinC_Wrapper_t wrap_a = { FATBINC_MAGIC, FATBINC_VERSION, NULL, NULL };
static __fatBinC_Wrapper_t wrap_b = { FATBINC_MAGIC, FATBINC_LINK_VERSION, NULL, NULL };

static void kernel_a(void)
{
}

static void kernel_b(void)
{
}

static int symbol[16];

/* a kernel (float *p, int n, struct { float *q; double x; } s, char c[5], void *end) */
static const uint32_t kparams[][2] = { { 0, 8 }, { 8, 4 }, { 16, 16 }, { 32, 5 }, { 40, 8 } };

FIXTURE(k) {
	uint8_t *rec;
};

FIXTURE_SETUP(k)
{
	void **ha, **hb;
	uint64_t len;

	setvbuf(stdout, NULL, _IOLBF, 0);	/* the child's comments survive its _exit() */
	test_seed();
	fake.props = (struct vgpu_device_props){
		.argsz = sizeof(fake.props), .flags = VGPU_PROPS_F_GPU | VGPU_PROPS_F_COOPERATIVE,
		.name = "fake H100", .cc_major = 9, .multiprocessors = 132, .warp_size = 32,
		.total_mem = 1ull << 30, .max_threads_per_block = 1024,
		.max_block = { 1024, 1024, 64 }, .max_grid = { 0x7fffffff, 65535, 65535 },
		.shared_per_block = 48 << 10, .shared_per_block_optin = 227 << 10,
		.shared_per_sm = 228 << 10, .regs_per_block = 65536, .regs_per_sm = 65536,
		.max_threads_per_sm = 2048, .max_blocks_per_sm = 32,
	};
	self->rec = records("_Z1kPfi1SPcPv", kparams, 5, 32, 0, &len);
	fake.describe = self->rec;
	fake.describe_len = len;
	wrap_a.data = (const unsigned long long *)&image_a;
	wrap_b.data = (const unsigned long long *)&image_b;
	/* two modules of the same content (one of them -rdc's wrapper) */
	ha = __cudaRegisterFatBinary(&wrap_a);
	hb = __cudaRegisterFatBinary(&wrap_b);
	__cudaRegisterFunction(ha, (const char *)kernel_a, (char *)"_Z1kPfi1SPcPv",
			       "_Z1kPfi1SPcPv", -1, NULL, NULL, NULL, NULL, NULL);
	__cudaRegisterFunction(hb, (const char *)kernel_b, (char *)"_Z1kPfi1SPcPv",
			       "_Z1kPfi1SPcPv", -1, NULL, NULL, NULL, NULL, NULL);
	__cudaRegisterVar(ha, (char *)symbol, (char *)"symbol", "symbol", 0, sizeof(symbol), 0, 0);
	__cudaRegisterFatBinaryEnd(ha);
	__cudaRegisterFatBinaryEnd(hb);
}

FIXTURE_TEARDOWN(k)
{
	free(self->rec);
}

TEST_F(k, parameters_laid_out_and_pointers_patched)
{
	size_t na = (size_t)test_rand_range(64, 4096), nb = (size_t)test_rand_range(64, 4096);
	size_t oa = (size_t)test_rand_range(0, na / 4) * 4, ob = (size_t)test_rand_range(0, nb);
	struct { float *q; double x; } s;
	uint8_t *a, *b, *want;
	int n = (int)test_rand_range(1, 1 << 30);
	char c[5] = { 'v', 'g', 'p', 'u', '!' };
	void *end, *args[5];
	float *p;
	dim3 grid = { 3, 2, 1 }, block = { 128, 2, 1 };
	struct fcmd *l;

	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&a, na));
	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&b, nb));
	p = (float *)(a + oa);
	s.q = (float *)(b + ob);
	s.x = (double)test_rand_range(1, 1000) / 8;
	end = b + nb;
	args[0] = &p;
	args[1] = &n;
	args[2] = &s;
	args[3] = c;
	args[4] = &end;
	ASSERT_EQ(cudaSuccess, cudaLaunchKernel((const void *)kernel_a, grid, block, args, 100, 0));
	/* the module was loaded and described for the launch, once, with
	 * reply room for records as large as the image */
	EXPECT_EQ(1, fake.loads);
	EXPECT_EQ(1, fake.describes);
	EXPECT_LE(sizeof(image_a), fake.room_set);
	EXPECT_EQ(0u, out_set);		/* and computed again after */
	ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
	ASSERT_EQ(1, fake.nlaunch);
	l = &fake.launch[0];
	EXPECT_STREQ("_Z1kPfi1SPcPv", l->name);
	EXPECT_EQ(3u, l->la.grid[0]);
	EXPECT_EQ(2u, l->la.grid[1]);
	EXPECT_EQ(2u, l->la.block[1]);
	EXPECT_EQ(100u, l->la.shared_bytes);
	EXPECT_EQ(0u, l->la.flags);
	EXPECT_EQ(48u, l->la.param_len);
	/* the bytes: each parameter at its offset, as the program gave it */
	want = calloc(1, 48);
	memcpy(want + 0, &p, 8);
	memcpy(want + 8, &n, 4);
	memcpy(want + 16, &s, 16);
	memcpy(want + 32, c, 5);
	memcpy(want + 40, &end, 8);
	EXPECT_EQ(0, memcmp(want, l->params, 48));
	free(want);
	/* three pointers, at 0, 16 and 40; not the int, the double or the chars */
	ASSERT_EQ(3u, l->la.npatches);
	EXPECT_EQ(0u, l->patches[0].param_off);
	EXPECT_EQ(oa, l->patches[0].off);
	EXPECT_EQ(16u, l->patches[1].param_off);
	EXPECT_EQ(ob, l->patches[1].off);
	EXPECT_EQ(40u, l->patches[2].param_off);
	EXPECT_EQ(nb, l->patches[2].off);	/* an end pointer */
	EXPECT_EQ(l->patches[1].buf, l->patches[2].buf);
	EXPECT_NE(l->patches[0].buf, l->patches[1].buf);
	for (uint32_t i = 0; i < 3; i++)
		EXPECT_FALSE(VGPU_REF_IS_SLOT(l->patches[i].buf));
	EXPECT_FALSE(VGPU_REF_IS_SLOT(l->la.module));
	printf("# %zu and %zu bytes, pointers at +%zu and +%zu, n %d\n", na, nb, oa, ob, n);

	/* the same content under another module (-rdc's wrapper): not loaded again */
	ASSERT_EQ(cudaSuccess, cudaLaunchKernel((const void *)kernel_b, grid, block, args, 0, 0));
	EXPECT_EQ(1, fake.loads);
	ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
	ASSERT_EQ(2, fake.nlaunch);
	EXPECT_EQ(fake.launch[0].la.module, fake.launch[1].la.module);

	/* a freed buffer's address is not a pointer any more */
	ASSERT_EQ(cudaSuccess, cudaFree(a));
	ASSERT_EQ(cudaSuccess, cudaLaunchKernel((const void *)kernel_a, grid, block, args, 0, 0));
	ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
	ASSERT_EQ(3, fake.nlaunch);
	EXPECT_EQ(2u, fake.launch[2].la.npatches);
	EXPECT_EQ(16u, fake.launch[2].patches[0].param_off);
}

TEST_F(k, the_stub_path_and_cooperative_launches)
{
	dim3 grid = { 4, 1, 1 }, block = { 256, 1, 1 }, g, bl;
	float *d;
	int n = 5;
	char c[5] = { 0 };
	void *end = NULL, *args[5];
	struct { float *q; double x; } s = { NULL, 1.0 };
	cudaKernel_t k;
	size_t shared;
	cudaStream_t st, mine;

	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&d, 1024));
	ASSERT_EQ(cudaSuccess, cudaStreamCreate(&mine));
	args[0] = &d;
	args[1] = &n;
	args[2] = &s;
	args[3] = c;
	args[4] = &end;
	/* what k<<<grid, block, 0, mine>>>(...) compiles to */
	ASSERT_EQ(0u, __cudaPushCallConfiguration(grid, block, 0, mine));
	ASSERT_EQ(cudaSuccess, __cudaGetKernel(&k, (const void *)kernel_a));
	ASSERT_EQ(cudaSuccess, __cudaPopCallConfiguration(&g, &bl, &shared, &st));
	EXPECT_EQ(mine, st);
	ASSERT_EQ(cudaSuccess, __cudaLaunchKernel(k, g, bl, args, shared, st));
	ASSERT_EQ(cudaSuccess, cudaLaunchCooperativeKernel((const void *)kernel_a, grid, block,
							   args, 0, 0));
	/* refused before anything is sent */
	block.x = 1025;
	EXPECT_EQ(cudaErrorInvalidConfiguration,
		  cudaLaunchKernel((const void *)kernel_a, grid, block, args, 0, 0));
	block.x = 32;
	grid.y = 65536;
	EXPECT_EQ(cudaErrorInvalidConfiguration,
		  cudaLaunchKernel((const void *)kernel_a, grid, block, args, 0, 0));
	grid.y = 1;
	EXPECT_EQ(cudaErrorInvalidResourceHandle,
		  cudaLaunchKernel((const void *)kernel_a, grid, block, args, 0,
				   (cudaStream_t)&n));
	EXPECT_EQ(cudaErrorInvalidDeviceFunction, __cudaLaunchKernel(NULL, grid, block, args, 0, 0));
	ASSERT_EQ(cudaSuccess, cudaStreamSynchronize(mine));
	ASSERT_EQ(2, fake.nlaunch);
	EXPECT_EQ(0u, fake.launch[0].la.flags);
	EXPECT_EQ((uint32_t)VGPU_LAUNCH_F_COOPERATIVE, fake.launch[1].la.flags);
	EXPECT_EQ(1u, fake.launch[0].la.npatches);
	/* launches, copies and all went as one job after the module's */
	printf("# %d jobs\n", fake.runs);
	EXPECT_EQ(3, fake.runs);	/* device properties, the module, the batch */
}

TEST_F(k, symbols_are_module_globals)
{
	int in[16], out[16];
	void *addr, *args[5];
	size_t size;
	dim3 one = { 1, 1, 1 };
	int n = 1;
	char c[5] = { 0 };
	struct { float *q; double x; } s = { NULL, 0 };
	void *end = NULL;

	test_rand_bytes(in, sizeof(in));
	ASSERT_EQ(cudaSuccess, cudaGetSymbolSize(&size, symbol));
	EXPECT_EQ(sizeof(symbol), size);
	EXPECT_EQ(0, fake.loads);	/* no device work for the size */
	ASSERT_EQ(cudaSuccess, cudaMemcpyToSymbol(symbol, in, sizeof(in), 0,
						  cudaMemcpyHostToDevice));
	ASSERT_EQ(cudaSuccess, cudaMemcpyFromSymbol(out, symbol, 8, 8, cudaMemcpyDeviceToHost));
	ASSERT_EQ(cudaSuccess, cudaGetSymbolAddress(&addr, symbol));
	EXPECT_EQ(1, fake.globals);	/* asked once */
	EXPECT_EQ(cudaErrorInvalidValue, cudaMemcpyToSymbol(symbol, in, 8, 60, cudaMemcpyHostToDevice));
	EXPECT_EQ(cudaErrorInvalidSymbol, cudaMemcpyToSymbol(in, in, 8, 0, cudaMemcpyHostToDevice));
	EXPECT_EQ(cudaErrorInvalidValue, cudaFree(addr));	/* not the program's to free */
	/* its address as a kernel argument is patched to the global's buffer */
	args[0] = &addr;
	args[1] = &n;
	args[2] = &s;
	args[3] = c;
	args[4] = &end;
	ASSERT_EQ(cudaSuccess, cudaLaunchKernel((const void *)kernel_a, one, one, args, 0, 0));
	ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
	ASSERT_EQ(1, fake.nlaunch);
	ASSERT_EQ(1u, fake.launch[0].la.npatches);
	EXPECT_EQ(0u, fake.launch[0].patches[0].off);
	EXPECT_EQ(1, fake.cmds[VGPU_CMD_MODULE_GLOBAL]);
}

TEST_F(k, attributes_and_occupancy)
{
	struct cudaFuncAttributes fa;
	int nb;
	size_t dyn;

	ASSERT_EQ(cudaSuccess, cudaFuncGetAttributes(&fa, (const void *)kernel_a));
	EXPECT_EQ(32, fa.numRegs);
	EXPECT_EQ(1024, fa.maxThreadsPerBlock);
	EXPECT_EQ(16u, fa.localSizeBytes);
	EXPECT_EQ(90, fa.ptxVersion);
	EXPECT_EQ(49152, fa.maxDynamicSharedSizeBytes);
	{
		size_t po, ps;

		ASSERT_EQ(cudaSuccess, cudaFuncGetParamInfo((const void *)kernel_a, 2, &po, &ps));
		EXPECT_EQ(16u, po);
		EXPECT_EQ(16u, ps);
		ASSERT_EQ(cudaSuccess, cudaFuncGetParamInfo((const void *)kernel_a, 3, &po, &ps));
		EXPECT_EQ(32u, po);
		EXPECT_EQ(5u, ps);
		EXPECT_EQ(cudaErrorInvalidValue,
			  cudaFuncGetParamInfo((const void *)kernel_a, 5, &po, &ps));
	}
	/* 256 threads, 32 registers: 8 warps of 1024 registers, 8 blocks by
	 * threads (2048) and by registers (65536) */
	ASSERT_EQ(cudaSuccess, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb,
			(const void *)kernel_a, 256, 0));
	EXPECT_EQ(8, nb);
	/* 64 threads: 32 blocks (the SM's limit), registers allow 32 */
	ASSERT_EQ(cudaSuccess, cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(&nb,
			(const void *)kernel_a, 64, 0, cudaOccupancyDefault));
	EXPECT_EQ(32, nb);
	/* 48 KiB of dynamic shared memory: 228 KiB / 49 KiB = 4 */
	ASSERT_EQ(cudaSuccess, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb,
			(const void *)kernel_a, 64, 48 << 10));
	EXPECT_EQ(4, nb);
	/* more than a block may have: none */
	ASSERT_EQ(cudaSuccess, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb,
			(const void *)kernel_a, 2048, 0));
	EXPECT_EQ(0, nb);
	/* four blocks could have 57 KiB each, but the kernel's bound is 48 KiB */
	ASSERT_EQ(cudaSuccess, cudaOccupancyAvailableDynamicSMemPerBlock(&dyn,
			(const void *)kernel_a, 4, 64));
	EXPECT_EQ((size_t)49152, dyn);
	EXPECT_EQ(cudaErrorInvalidValue, cudaOccupancyAvailableDynamicSMemPerBlock(&dyn,
			(const void *)kernel_a, 33, 64));	/* 33 blocks never fit */
	/* more than 48 KiB: the attribute, then the calculator counts with it */
	EXPECT_EQ(cudaErrorInvalidValue, cudaFuncSetAttribute((const void *)kernel_a,
			cudaFuncAttributeMaxDynamicSharedMemorySize, 228 << 10));
	ASSERT_EQ(cudaSuccess, cudaFuncSetAttribute((const void *)kernel_a,
			cudaFuncAttributeMaxDynamicSharedMemorySize, 100 << 10));
	ASSERT_EQ(cudaSuccess, cudaFuncSetAttribute((const void *)kernel_a,
			cudaFuncAttributePreferredSharedMemoryCarveout, 50));
	ASSERT_EQ(cudaSuccess, cudaFuncGetAttributes(&fa, (const void *)kernel_a));
	EXPECT_EQ(100 << 10, fa.maxDynamicSharedSizeBytes);
	EXPECT_EQ(50, fa.preferredShmemCarveout);
	ASSERT_EQ(cudaSuccess, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb,
			(const void *)kernel_a, 256, 100 << 10));
	EXPECT_EQ(2, nb);	/* 228 KiB / (100 KiB + 1 KiB) */
	ASSERT_EQ(cudaSuccess, cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb,
			(const void *)kernel_a, 256, (100 << 10) + 1));
	EXPECT_EQ(0, nb);	/* over the kernel's bound */
	ASSERT_EQ(cudaSuccess, cudaOccupancyAvailableDynamicSMemPerBlock(&dyn,
			(const void *)kernel_a, 2, 256));
	EXPECT_EQ((size_t)100 << 10, dyn);
	EXPECT_EQ(1, fake.describes);
}

/* Device pointers in data copied to the device (an array of buffer
 * pointers, a struct holding one) are written over with the real ones by
 * the runtime's store kernel, right after the copy; other words are not. */
TEST_F(k, pointers_in_copied_data_are_translated)
{
	uint8_t *a, *b, *c, *host = malloc(64);
	uint64_t words[8], n, off;
	struct fcmd *st;
	int loads;

	ASSERT_NE(NULL, host);
	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&a, 256));
	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&b, 64));
	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&c, 128));
	/* no pointer: nothing but the copy */
	test_rand_bytes(words, sizeof(words));
	words[0] &= 0xffffffffull;
	ASSERT_EQ(cudaSuccess, cudaMemcpy(c, words, sizeof(words), cudaMemcpyHostToDevice));
	ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
	EXPECT_EQ(0, fake.nlaunch);
	loads = fake.loads;

	/* a + 16, a number, b's end, a host pointer, a freed-looking address */
	words[0] = (uint64_t)(uintptr_t)(a + 16);
	words[1] = 12345;
	words[2] = (uint64_t)(uintptr_t)(b + 64);
	words[3] = (uint64_t)(uintptr_t)host;
	words[4] = (uint64_t)(uintptr_t)(c + 4096);	/* in the range, no buffer */
	off = 8 * test_rand_range(0, 4);
	ASSERT_EQ(cudaSuccess, cudaMemcpy(c + off, words, 5 * 8, cudaMemcpyHostToDevice));
	ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
	EXPECT_EQ(loads + 1, fake.loads);	/* the store kernel, once */
	ASSERT_EQ(1, fake.nlaunch);
	st = &fake.launch[0];
	EXPECT_STREQ("vgpu_cudart_store", st->name);
	EXPECT_EQ(1u, st->la.grid[0]);
	memcpy(&n, st->params + 8, 4);
	n &= 0xffffffff;
	EXPECT_EQ(2u, n);
	ASSERT_EQ(3u, st->la.npatches);
	EXPECT_EQ(0u, st->patches[0].param_off);	/* the base: c */
	EXPECT_EQ(0u, st->patches[0].off);
	EXPECT_EQ(24u, st->patches[1].param_off);
	EXPECT_EQ(16u, st->patches[1].off);		/* a + 16 */
	EXPECT_EQ(40u, st->patches[2].param_off);
	EXPECT_EQ(64u, st->patches[2].off);		/* b's end */
	EXPECT_NE(st->patches[1].buf, st->patches[2].buf);
	memcpy(&n, st->params + 16, 8);
	EXPECT_EQ(off, n);				/* where in c: the words' offsets */
	memcpy(&n, st->params + 32, 8);
	EXPECT_EQ(off + 16, n);

	/* alignment is the device address's: 3 bytes in, the word at +5 is aligned */
	memset(host, 0, 64);
	memcpy(host + 5, &(uint64_t){ (uint64_t)(uintptr_t)b }, 8);
	memcpy(host + 16, &(uint64_t){ (uint64_t)(uintptr_t)b }, 8);	/* not aligned there */
	ASSERT_EQ(cudaSuccess, cudaMemcpy(c + 3, host, 32, cudaMemcpyHostToDevice));
	ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
	ASSERT_EQ(2, fake.nlaunch);
	memcpy(&n, fake.launch[1].params + 8, 4);
	EXPECT_EQ(1u, n & 0xffffffff);
	memcpy(&n, fake.launch[1].params + 16, 8);
	EXPECT_EQ(8u, n);
	EXPECT_EQ(loads + 1, fake.loads);

	/* more pointers than one launch carries: several launches, all of them */
	{
		enum { N = 150 };
		uint64_t *many = malloc(N * 8);
		uint8_t *d;
		uint32_t total = 0;

		ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&d, N * 8));
		for (int i = 0; i < N; i++)
			many[i] = (uint64_t)(uintptr_t)(a + i);
		ASSERT_EQ(cudaSuccess, cudaMemcpy(d, many, N * 8, cudaMemcpyHostToDevice));
		ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
		for (int i = 2; i < fake.nlaunch; i++)
			total += fake.launch[i].la.npatches - 1;
		EXPECT_EQ((uint32_t)N, total);
		EXPECT_EQ(2 + (N + 63) / 64, fake.nlaunch);
		free(many);
	}
	free(host);
}

/* The fake address range is 16 TiB: once it is used up, the addresses of
 * freed buffers are taken again, first fit; none overlap. */
TEST_F(k, addresses_of_freed_buffers_are_reused_when_the_range_is_full)
{
	const uint64_t tib = 1ull << 40;
	uint8_t *a, *b, *c, *d, *e, *x;

	fake.props.total_mem = 1ull << 50;
	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&a, 6 * tib));
	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&b, 6 * tib));
	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&c, 3 * tib));
	EXPECT_EQ(cudaErrorMemoryAllocation, cudaMalloc((void **)&x, 3 * tib));
	EXPECT_EQ(cudaErrorMemoryAllocation, cudaGetLastError());
	ASSERT_EQ(cudaSuccess, cudaFree(b));
	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&d, 3 * tib));
	ASSERT_EQ(cudaSuccess, cudaMalloc((void **)&e, 2 * tib));
	printf("# a %p b %p c %p, then d %p e %p\n", (void *)a, (void *)b, (void *)c, (void *)d,
	       (void *)e);
	EXPECT_EQ(b, d);
	EXPECT_LT(d + 3 * tib, e);
	EXPECT_LT(e + 2 * tib, c);
	EXPECT_EQ(cudaErrorMemoryAllocation, cudaMalloc((void **)&x, 2 * tib));
	/* each address names its own buffer: a copy to the end of d and e */
	EXPECT_EQ(cudaSuccess, cudaMemset(d + 3 * tib - 1, 0, 1));
	EXPECT_EQ(cudaSuccess, cudaMemset(e, 0, 2 * tib));
	EXPECT_EQ(cudaErrorInvalidValue, cudaMemset(e - 1, 0, 2));
	ASSERT_EQ(cudaSuccess, cudaDeviceSynchronize());
	/* five allocations sent; none for the two refused */
	EXPECT_EQ(5, fake.cmds[VGPU_CMD_ALLOC]);
}

TEST_HARNESS_MAIN
