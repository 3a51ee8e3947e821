// SPDX-License-Identifier: MIT
/*
 * The session codec (lib/session.c) on fresh random command lists each
 * run: lists round-trip through the builder and the parser, every
 * malformed list gets the error protocol.rst "Checks of a list" documents,
 * responses round-trip and their lengths are checked.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include "testlib.h"
#include "vgpu/ops.h"
#include "vgpu/session.h"
#include "vgpu/vgpu.h"

static uint8_t blob[1024];	/* random data that commands point into */
static uint8_t patch_bytes[64][8 * VGPU_SESS_PATCH_SIZE];	/* per command of a list */

/* A reference to an earlier command of @code, else a plain handle. */
static uint64_t ref_to(const struct vgpu_sess_cmd *cmds, uint32_t i, uint16_t code)
{
	uint64_t r = test_rand_range(1, 0x7fffffffffffffffull);

	for (uint32_t k = 0; k < i; k++)
		if ((cmds[k].code == code ||	/* a module's global is a buffer too */
		     (code == VGPU_SESS_ALLOC && cmds[k].code == VGPU_SESS_MODULE_GLOBAL)) &&
		    test_rand() % 2)
			return VGPU_SESS_SLOT(k);
	return r;
}

/* A random valid command for position @i of a list whose earlier commands are @cmds. */
static void random_cmd(const struct vgpu_sess_cmd *cmds, uint32_t i, struct vgpu_sess_cmd *c)
{
	static const uint16_t codes[] = {
		VGPU_SESS_ALLOC, VGPU_SESS_FREE, VGPU_SESS_MEMSET, VGPU_SESS_COPY_H2D,
		VGPU_SESS_COPY_D2H, VGPU_SESS_COPY_D2D, VGPU_SESS_MODULE_LOAD,
		VGPU_SESS_MODULE_UNLOAD, VGPU_SESS_MODULE_DESCRIBE, VGPU_SESS_LAUNCH,
		VGPU_SESS_OP, VGPU_SESS_TIMESTAMP, VGPU_SESS_DEVICE_INFO,
		VGPU_SESS_MODULE_GLOBAL,
	};
	memset(c, 0, sizeof(*c));
	c->index = i;
	c->code = codes[test_rand() % (sizeof(codes) / sizeof(codes[0]))];
	switch (c->code) {
	case VGPU_SESS_ALLOC:
		c->len = test_rand_range(1, VGPU_SESS_ALLOC_MAX);
		break;
	case VGPU_SESS_FREE:
		c->ref[0] = ref_to(cmds, i, VGPU_SESS_ALLOC);
		break;
	case VGPU_SESS_MODULE_UNLOAD:
	case VGPU_SESS_MODULE_DESCRIBE:
		c->ref[0] = ref_to(cmds, i, VGPU_SESS_MODULE_LOAD);
		break;
	case VGPU_SESS_MEMSET:
		c->ref[0] = ref_to(cmds, i, VGPU_SESS_ALLOC);
		c->off[0] = test_rand() >> 1;
		c->len = test_rand() >> 1;
		c->value = test_rand_range(0, 255);
		break;
	case VGPU_SESS_COPY_H2D:
		c->ref[0] = ref_to(cmds, i, VGPU_SESS_ALLOC);
		c->off[0] = test_rand() >> 1;
		c->data = blob;
		c->data_len = c->len = test_rand_range(0, sizeof(blob));
		break;
	case VGPU_SESS_COPY_D2H:
		c->ref[0] = ref_to(cmds, i, VGPU_SESS_ALLOC);
		c->off[0] = test_rand() >> 1;
		c->len = test_rand() >> 1;
		break;
	case VGPU_SESS_COPY_D2D:
		c->ref[0] = ref_to(cmds, i, VGPU_SESS_ALLOC);
		c->ref[1] = ref_to(cmds, i, VGPU_SESS_ALLOC);
		c->off[0] = test_rand() >> 2;
		c->off[1] = test_rand() >> 2;
		c->len = test_rand() >> 2;
		break;
	case VGPU_SESS_MODULE_LOAD:
		c->data = blob;
		c->data_len = test_rand_range(1, sizeof(blob));
		break;
	case VGPU_SESS_LAUNCH:
		c->ref[0] = ref_to(cmds, i, VGPU_SESS_MODULE_LOAD);
		c->flags = test_rand() % 2 ? VGPU_SESS_F_COOPERATIVE : 0;
		c->grid[0] = (uint32_t)test_rand_range(1, 0x7fffffff);
		c->grid[1] = (uint32_t)test_rand_range(1, 65535);
		c->grid[2] = (uint32_t)test_rand_range(1, 65535);
		c->block[0] = (uint32_t)test_rand_range(1, 16);
		c->block[1] = (uint32_t)test_rand_range(1, 8);
		c->block[2] = (uint32_t)test_rand_range(1, 8);
		c->shared_bytes = (uint32_t)test_rand();
		c->name = "_Z6kernelPfS_i";
		c->name_len = (uint32_t)test_rand_range(1, strlen(c->name));
		c->data = blob;
		c->data_len = test_rand_range(0, sizeof(blob));
		if (c->data_len >= 8) {
			struct vgpu_sess_patch pt[8];

			c->npatches = (uint32_t)test_rand_range(0, 8);
			for (uint32_t k = 0; k < c->npatches; k++) {
				pt[k].param_off = (uint32_t)test_rand_range(0, c->data_len / 8 - 1) * 8;
				pt[k].ref = ref_to(cmds, i, VGPU_SESS_ALLOC);
				pt[k].off = test_rand();
			}
			vgpu_sess_patch_put(pt, c->npatches, patch_bytes[i]);
			c->patches = patch_bytes[i];
		}
		break;
	case VGPU_SESS_MODULE_GLOBAL:
		c->ref[0] = ref_to(cmds, i, VGPU_SESS_MODULE_LOAD);
		c->name = "gTable_with_a_longer_name";
		c->name_len = (uint32_t)test_rand_range(1, strlen(c->name));
		break;
	case VGPU_SESS_OP: {
		const struct vgpu_op_info *info;

		c->op = (uint32_t)test_rand_range(0, VGPU_NR_OPS - 1);
		info = vgpu_op_get(c->op);
		for (unsigned int a = 0; a < info->nargs; a++)
			c->args[a] = info->args[a].kind == VGPU_ARG_F32 ? test_rand() & 0xffffffff :
				     test_rand_range(info->args[a].min,
						     info->args[a].max < 4096 ? info->args[a].max : 4096);
		for (unsigned int k = 0; k < info->nin; k++) {
			c->ref[k] = ref_to(cmds, i, VGPU_SESS_ALLOC);
			c->off[k] = test_rand() >> 2;
		}
		if (info->out.elem != VGPU_ELEM_NONE) {
			c->ref[2] = ref_to(cmds, i, VGPU_SESS_ALLOC);
			c->off[2] = test_rand() >> 2;
		}
		break;
	}
	default:
		break;
	}
}

static void expect_same(struct __test_metadata *_metadata, const struct vgpu_sess_cmd *a,
			const struct vgpu_sess_cmd *b)
{
	EXPECT_EQ(a->code, b->code);
	EXPECT_EQ(a->flags, b->flags);
	EXPECT_EQ(a->index, b->index);
	for (int k = 0; k < 3; k++) {
		EXPECT_EQ(a->ref[k], b->ref[k]) TH_LOG("%s ref %d", vgpu_sess_code_name(a->code), k);
		EXPECT_EQ(a->off[k], b->off[k]);
		EXPECT_EQ(a->grid[k], b->grid[k]);
		EXPECT_EQ(a->block[k], b->block[k]);
	}
	EXPECT_EQ(a->len, b->len);
	EXPECT_EQ(a->value, b->value);
	EXPECT_EQ(a->op, b->op);
	for (int k = 0; k < VGPU_NR_ARGS; k++)
		EXPECT_EQ(a->args[k], b->args[k]);
	EXPECT_EQ(a->shared_bytes, b->shared_bytes);
	EXPECT_EQ(a->data_len, b->data_len);
	if (a->data_len == b->data_len && a->data_len)
		EXPECT_EQ(0, memcmp(a->data, b->data, a->data_len));
	EXPECT_EQ(a->npatches, b->npatches);
	if (a->npatches == b->npatches && a->npatches)
		EXPECT_EQ(0, memcmp(a->patches, b->patches, a->npatches * VGPU_SESS_PATCH_SIZE));
	EXPECT_EQ(a->name_len, b->name_len);
	if (a->name_len == b->name_len && a->name_len)
		EXPECT_EQ(0, memcmp(a->name, b->name, a->name_len));
}

TEST(random_lists_round_trip)
{
	static struct vgpu_sess_cmd in[64];

	test_seed();
	test_rand_bytes(blob, sizeof(blob));
	for (int round = 0; round < 300; round++) {
		uint32_t n = (uint32_t)test_rand_range(0, 64), got, failed;
		struct vgpu_sess_cmd *out;
		struct vgpu_sess_buf b;
		char why[VGPU_SESS_MSG_LEN] = "";

		vgpu_sess_begin(&b);
		for (uint32_t i = 0; i < n; i++) {
			random_cmd(in, i, &in[i]);
			EXPECT_EQ(VGPU_SESS_SLOT(i), vgpu_sess_add(&b, &in[i]));
		}
		ASSERT_EQ(0, vgpu_sess_finish(&b));
		ASSERT_EQ(0, vgpu_sess_parse(b.p, b.len, &out, &got, &failed, why))
			TH_LOG("round %d: command %u: %s", round, failed, why);
		ASSERT_EQ(n, got);
		EXPECT_EQ(VGPU_SESS_NONE, failed);
		for (uint32_t i = 0; i < n; i++)
			expect_same(_metadata, &in[i], &out[i]);
		free(out);
		vgpu_sess_buf_free(&b);
	}
}

/* One malformed list: built from @cmds, then @patch applied at @at. */
struct bad_case {
	const char *name;
	int err;
	uint32_t failed;
	struct vgpu_sess_cmd cmds[3];
	uint32_t ncmds;
	int64_t at;		/* byte offset into the list to patch; <0: none */
	uint64_t patch;		/* a u64 written there (little-endian host assumed by put) */
	unsigned int patch_len;
	int64_t cut;		/* bytes cut off the end (list_len fixed up) */
};

#define ALLOC(n) { .code = VGPU_SESS_ALLOC, .len = (n) }
#define CMD0 32ll	/* offset of the first command header */
#define BODY0 48ll	/* offset of the first body */

static const struct bad_case bad_cases[] = {
	{ "unknown command", -EBADRQC, 0, { { .code = 99 } }, 1, -1, 0, 0, 0 },
	{ "unknown test-range command", -EBADRQC, 0, { { .code = 0x7f03 } }, 1, -1, 0, 0, 0 },
	{ "forward reference", -EINVAL, 0,
	  { { .code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(1) } }, ALLOC(8) }, 2, -1, 0, 0, 0 },
	{ "self reference", -EINVAL, 0,
	  { { .code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(0) } } }, 1, -1, 0, 0, 0 },
	{ "reference to the wrong kind", -EINVAL, 1,
	  { ALLOC(8), { .code = VGPU_SESS_MODULE_UNLOAD, .ref = { VGPU_SESS_SLOT(0) } } },
	  2, -1, 0, 0, 0 },
	{ "slot with high bits", -EINVAL, 1,
	  { ALLOC(8), { .code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(0) | 1ull << 40 } } },
	  2, -1, 0, 0, 0 },
	{ "handle 0", -EBADF, 0, { { .code = VGPU_SESS_FREE } }, 1, -1, 0, 0, 0 },
	{ "alloc of 0 bytes", -EINVAL, 0, { ALLOC(0) }, 1, -1, 0, 0, 0 },
	{ "alloc over the limit", -E2BIG, 0, { ALLOC(VGPU_SESS_ALLOC_MAX + 1) }, 1, -1, 0, 0, 0 },
	{ "memset offset + length overflows", -EOVERFLOW, 1,
	  { ALLOC(8), { .code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) },
			.off = { UINT64_MAX - 3 }, .len = 4 } }, 2, -1, 0, 0, 0 },
	{ "d2d source overflows", -EOVERFLOW, 1,
	  { ALLOC(8), { .code = VGPU_SESS_COPY_D2D, .ref = { 5, VGPU_SESS_SLOT(0) },
			.off = { 0, 2 }, .len = UINT64_MAX - 1 } }, 2, -1, 0, 0, 0 },
	{ "d2h overflows", -EOVERFLOW, 0,
	  { { .code = VGPU_SESS_COPY_D2H, .ref = { 5 }, .off = { 1 }, .len = UINT64_MAX } },
	  1, -1, 0, 0, 0 },
	{ "memset value not a byte", -EINVAL, 0,
	  { { .code = VGPU_SESS_MEMSET, .ref = { 5 }, .value = 256 } }, 1, -1, 0, 0, 0 },
	{ "flags on a non-launch", -EINVAL, 0, { { .code = VGPU_SESS_ALLOC, .len = 1, .flags = 1 } },
	  1, -1, 0, 0, 0 },
	{ "reserved field of a command", -EINVAL, 0, { ALLOC(8) }, 1, CMD0 + 4, 1, 4, 0 },
	{ "alloc body too long", -EBADMSG, 0, { ALLOC(8) }, 1, CMD0 + 8, 24, 8, 0 },
	{ "body past the end", -EBADMSG, 0, { ALLOC(8) }, 1, CMD0 + 8, 1000, 8, 0 },
	{ "body length near 2^64", -EBADMSG, 0, { ALLOC(8) }, 1, CMD0 + 8, UINT64_MAX - 3, 8, 0 },
	{ "truncated list: a command missing", -EBADMSG, 1, { ALLOC(8), ALLOC(8) }, 2, -1, 0, 0,
	  32 },
	{ "truncated list: half a header", -EBADMSG, 1, { ALLOC(8), ALLOC(8) }, 2, -1, 0, 0, 24 },
	{ "trailing bytes: one command fewer", -EBADMSG, VGPU_SESS_NONE, { ALLOC(8), ALLOC(8) }, 2,
	  8, 1, 4, 0 },
	{ "too many commands", -E2BIG, VGPU_SESS_NONE, { ALLOC(8) }, 1, 8,
	  VGPU_SESS_MAX_CMDS + 1, 4, 0 },
	{ "bad list magic", -EBADMSG, VGPU_SESS_NONE, { ALLOC(8) }, 1, 0, 0x12345678, 4, 0 },
	{ "list hdr_size too small", -EBADMSG, VGPU_SESS_NONE, { ALLOC(8) }, 1, 4, 16, 2, 0 },
	{ "list flags", -EINVAL, VGPU_SESS_NONE, { ALLOC(8) }, 1, 12, 1, 4, 0 },
	{ "list_len differs", -EBADMSG, VGPU_SESS_NONE, { ALLOC(8) }, 1, 16, 8, 8, 0 },
	{ "padding not zero", -EINVAL, 0,
	  { { .code = VGPU_SESS_MODULE_LOAD, .data = "abc", .data_len = 3 } }, 1, BODY0 + 4, 1, 1,
	  0 },
	{ "empty module image", -EINVAL, 0, { { .code = VGPU_SESS_MODULE_LOAD } }, 1, -1, 0, 0, 0 },
	{ "launch: params over 32764", -E2BIG, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 },
	      .name = "k", .name_len = 1, .data = blob, .data_len = 8 } }, 1, BODY0 + 40, 32768, 4,
	  0 },
	{ "launch: zero grid", -EINVAL, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 0, 1, 1 }, .block = { 1, 1, 1 },
	      .name = "k", .name_len = 1 } }, 1, -1, 0, 0, 0 },
	{ "launch: block over 1024 threads", -EINVAL, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 1, 1, 1 }, .block = { 1024, 2, 1 },
	      .name = "k", .name_len = 1 } }, 1, -1, 0, 0, 0 },
	{ "launch: no name", -EINVAL, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 } } },
	  1, -1, 0, 0, 0 },
	{ "launch: name not printable", -EINVAL, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 },
	      .name = "a b", .name_len = 3 } }, 1, -1, 0, 0, 0 },
	{ "launch: unknown flag", -EINVAL, 0,
	  { { .code = VGPU_SESS_LAUNCH, .flags = 2, .ref = { 7 }, .grid = { 1, 1, 1 },
	      .block = { 1, 1, 1 }, .name = "k", .name_len = 1 } }, 1, -1, 0, 0, 0 },
	{ "launch: patch not 8-aligned", -EINVAL, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 },
	      .name = "k", .name_len = 1, .data = blob, .data_len = 16, .npatches = 1,
	      .patches = "\x04\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\0\0\0\0\0\0\0" } },
	  1, -1, 0, 0, 0 },
	{ "launch: patch past the params", -EINVAL, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 },
	      .name = "k", .name_len = 1, .data = blob, .data_len = 16, .npatches = 1,
	      .patches = "\x10\0\0\0\0\0\0\0\x05\0\0\0\0\0\0\0\0\0\0\0\0\0\0" } },
	  1, -1, 0, 0, 0 },
	{ "launch: patch forward reference", -EINVAL, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 },
	      .name = "k", .name_len = 1, .data = blob, .data_len = 16, .npatches = 1,
	      .patches = "\x08\0\0\0\0\0\0\0\x01\0\0\0\0\0\0\x80\0\0\0\0\0\0\0" },
	    ALLOC(8) }, 2, -1, 0, 0, 0 },
	{ "launch: too many patches", -E2BIG, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 },
	      .name = "k", .name_len = 1 } }, 1, BODY0 + 44, VGPU_SESS_PATCHES_MAX + 1, 4, 0 },
	{ "launch: body shorter than its patches", -EBADMSG, 0,
	  { { .code = VGPU_SESS_LAUNCH, .ref = { 7 }, .grid = { 1, 1, 1 }, .block = { 1, 1, 1 },
	      .name = "k", .name_len = 1 } }, 1, BODY0 + 44, 1, 4, 0 },
	{ "device_info with a body", -EBADMSG, 0,
	  { { .code = VGPU_SESS_DEVICE_INFO, .data = "abcdefgh", .data_len = 8 } }, 1, -1, 0, 0,
	  0 },
	{ "module_global: no name", -EINVAL, 0,
	  { { .code = VGPU_SESS_MODULE_GLOBAL, .ref = { 7 } } }, 1, -1, 0, 0, 0 },
	{ "module_global: name not printable", -EINVAL, 0,
	  { { .code = VGPU_SESS_MODULE_GLOBAL, .ref = { 7 }, .name = "g\tx", .name_len = 3 } },
	  1, -1, 0, 0, 0 },
	{ "module_global: name padding not 0", -EINVAL, 0,
	  { { .code = VGPU_SESS_MODULE_GLOBAL, .ref = { 7 }, .name = "g", .name_len = 1 } },
	  1, BODY0 + 17, 1, 1, 0 },
	{ "module_global: name past its body", -EBADMSG, 0,
	  { { .code = VGPU_SESS_MODULE_GLOBAL, .ref = { 7 }, .name = "g", .name_len = 1 } },
	  1, BODY0 + 8, 9, 4, 0 },
	{ "module_global: reserved field", -EINVAL, 0,
	  { { .code = VGPU_SESS_MODULE_GLOBAL, .ref = { 7 }, .name = "g", .name_len = 1 } },
	  1, BODY0 + 12, 1, 4, 0 },
	{ "module_global of a buffer", -EINVAL, 1,
	  { ALLOC(8), { .code = VGPU_SESS_MODULE_GLOBAL, .ref = { VGPU_SESS_SLOT(0) },
			.name = "g", .name_len = 1 } }, 2, -1, 0, 0, 0 },
	{ "module_global: forward reference", -EINVAL, 0,
	  { { .code = VGPU_SESS_MODULE_GLOBAL, .ref = { VGPU_SESS_SLOT(1) }, .name = "g",
	      .name_len = 1 } }, 1, -1, 0, 0, 0 },
	{ "op: unknown op", -EOPNOTSUPP, 0, { { .code = VGPU_SESS_OP, .op = 99 } }, 1, -1, 0, 0, 0 },
	{ "op: argument out of range", -EINVAL, 0,
	  { { .code = VGPU_SESS_OP, .op = VGPU_OP_VECTOR_ADD, .ref = { 1, 1, 1 } } }, 1, -1, 0, 0,
	  0 },
	{ "op: buffer the op has not", -EINVAL, 0,
	  { { .code = VGPU_SESS_OP, .op = VGPU_OP_REDUCE_SUM, .args = { 4 }, .ref = { 1, 1, 1 } } },
	  1, -1, 0, 0, 0 },
	{ "op: input range overflows", -EOVERFLOW, 0,
	  { { .code = VGPU_SESS_OP, .op = VGPU_OP_CHECKSUM, .args = { 16 }, .ref = { 1, 0, 2 },
	      .off = { UINT64_MAX - 8 } } }, 1, -1, 0, 0, 0 },
};

TEST(every_malformed_list_gets_its_error)
{
	for (size_t t = 0; t < sizeof(bad_cases) / sizeof(bad_cases[0]); t++) {
		const struct bad_case *bc = &bad_cases[t];
		struct vgpu_sess_cmd *out = NULL;
		struct vgpu_sess_buf b;
		uint32_t got, failed;
		char why[VGPU_SESS_MSG_LEN] = "";
		int err;

		vgpu_sess_begin(&b);
		for (uint32_t i = 0; i < bc->ncmds; i++)
			vgpu_sess_add(&b, &bc->cmds[i]);
		ASSERT_EQ(0, vgpu_sess_finish(&b));
		if (bc->cut) {
			uint64_t l;

			b.len -= (size_t)bc->cut;
			l = b.len;
			memcpy(b.p + 16, &l, 8);
		}
		if (bc->at >= 0)
			memcpy(b.p + bc->at, &bc->patch, bc->patch_len);
		err = vgpu_sess_parse(b.p, b.len, &out, &got, &failed, why);
		EXPECT_EQ(bc->err, err) TH_LOG("%s: %s", bc->name, why);
		EXPECT_EQ(bc->failed, failed) TH_LOG("%s", bc->name);
		EXPECT_NE(0, why[0]) TH_LOG("%s: no message", bc->name);
		EXPECT_EQ(NULL, out);
		printf("# %-36s -> %d %s\n", bc->name, err, why);
		vgpu_sess_buf_free(&b);
	}
	fflush(stdout);
}

TEST(device_records_round_trip_and_short_ones_are_refused)
{
	test_seed();
	for (int round = 0; round < 200; round++) {
		struct vgpu_device_props in, out, older;
		uint8_t buf[VGPU_SESS_DEVINFO_SIZE];
		size_t namelen = test_rand_range(0, sizeof(in.name) - 1);

		test_rand_bytes(&in, sizeof(in));
		in.argsz = sizeof(in);
		in.reserved = 0;
		for (size_t i = 0; i < sizeof(in.name); i++)	/* printable, or '?' after */
			in.name[i] = (char)test_rand_range(0, 127);
		in.name[namelen] = '\0';
		vgpu_sess_devinfo_encode(&in, buf);
		memset(&out, 0xa5, sizeof(out));
		out.argsz = sizeof(out);
		ASSERT_EQ(0, vgpu_sess_devinfo_decode(buf, sizeof(buf), &out));
		for (size_t i = 0; i < strlen(in.name); i++)
			if (in.name[i] < ' ' || in.name[i] > '~')
				in.name[i] = '?';
		ASSERT_EQ(strnlen(in.name, sizeof(in.name)), strnlen(out.name, sizeof(out.name)));
		memset(in.name + strlen(in.name), 0, sizeof(in.name) - strlen(in.name));
		EXPECT_EQ(0, memcmp(&in, &out, sizeof(in))) TH_LOG("round %d", round);
		/* the fixed record, whatever the bytes of the reserved tail */
		EXPECT_EQ(VGPU_SESS_DEVINFO_SIZE, le32toh(*(uint32_t *)buf));
		/* a caller with an older, shorter struct gets its part only */
		memset(&older, 0x5a, sizeof(older));
		older.argsz = offsetof(struct vgpu_device_props, multiprocessors);
		ASSERT_EQ(0, vgpu_sess_devinfo_decode(buf, sizeof(buf), &older));
		EXPECT_EQ(in.cc_minor, older.cc_minor);
		EXPECT_EQ(0x5a5a5a5au, older.multiprocessors);
		/* too short: as a length, or as the record's own size */
		EXPECT_EQ(-EBADMSG, vgpu_sess_devinfo_decode(buf, VGPU_SESS_DEVINFO_MIN - 1, &out));
		*(uint32_t *)buf = htole32(VGPU_SESS_DEVINFO_MIN - 8);
		EXPECT_EQ(-EBADMSG, vgpu_sess_devinfo_decode(buf, sizeof(buf), &out));
		*(uint32_t *)buf = htole32(VGPU_SESS_DEVINFO_SIZE + 8);
		EXPECT_EQ(-EBADMSG, vgpu_sess_devinfo_decode(buf, sizeof(buf), &out));
	}
}

TEST(every_truncation_of_a_list_is_refused)
{
	struct vgpu_sess_cmd c[3] = {
		ALLOC(64),
		{ .code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) }, .data = "hello",
		  .data_len = 5, .len = 5 },
		{ .code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) }, .len = 5 },
	};
	struct vgpu_sess_cmd *out;
	struct vgpu_sess_buf b;
	uint32_t got, failed;
	char why[VGPU_SESS_MSG_LEN];

	vgpu_sess_begin(&b);
	for (int i = 0; i < 3; i++)
		vgpu_sess_add(&b, &c[i]);
	ASSERT_EQ(0, vgpu_sess_finish(&b));
	for (uint64_t len = 0; len < b.len; len++) {
		uint64_t l = len;

		if (len >= 24)
			memcpy(b.p + 16, &l, 8);	/* even with list_len agreeing */
		EXPECT_EQ(-EBADMSG, vgpu_sess_parse(b.p, len, &out, &got, &failed, why))
			TH_LOG("cut at %llu", (unsigned long long)len);
	}
	vgpu_sess_buf_free(&b);
}

TEST(responses_round_trip_and_lengths_are_checked)
{
	uint8_t buf[VGPU_SESS_RSP_HDR_SIZE + 3 * VGPU_SESS_RESULT_SIZE + 16 + 5];
	struct vgpu_sess_rsp_hdr h = {
		.magic = VGPU_SESS_RSP_MAGIC, .hdr_size = VGPU_SESS_RSP_HDR_SIZE, .ncmds = 4,
		.nrun = 3, .failed = 2, .status = -ERANGE, .out_len = 16, .log_len = 5, .epoch = 9,
	};
	struct vgpu_sess_rsp r;
	struct vgpu_sess_result res, got;
	char why[VGPU_SESS_MSG_LEN];

	test_seed();
	snprintf(h.msg, sizeof(h.msg), "command 2 (copy_d2h): offset past the end");
	vgpu_sess_rsp_encode(&h, buf);
	for (uint32_t i = 0; i < 3; i++) {
		res = (struct vgpu_sess_result){ .code = VGPU_SESS_COPY_D2H, .status = i == 2 ? -ERANGE : 0,
						 .value = test_rand(), .out_off = i * 8,
						 .out_len = i < 2 ? 8 : 0 };
		vgpu_sess_result_encode(&res, buf + VGPU_SESS_RSP_HDR_SIZE + i * VGPU_SESS_RESULT_SIZE);
	}
	memcpy(buf + sizeof(buf) - 5, "hello", 5);
	ASSERT_EQ(0, vgpu_sess_rsp_parse(buf, sizeof(buf), &r, why)) TH_LOG("%s", why);
	EXPECT_EQ(0, memcmp(&h, &r.hdr, sizeof(h)));
	EXPECT_EQ(0, memcmp(r.log, "hello", 5));
	vgpu_sess_rsp_result(&r, 2, &got);
	EXPECT_EQ(-ERANGE, got.status);
	EXPECT_EQ(res.value, got.value);

	for (size_t len = 0; len < sizeof(buf); len++) {
		EXPECT_EQ(-EBADMSG, vgpu_sess_rsp_parse(buf, len, &r, why)) TH_LOG("len %zu", len);
	}
	/* a result whose output lies past the output section */
	res.out_off = 12;
	res.out_len = 8;
	vgpu_sess_result_encode(&res, buf + VGPU_SESS_RSP_HDR_SIZE + 2 * VGPU_SESS_RESULT_SIZE);
	EXPECT_EQ(-EBADMSG, vgpu_sess_rsp_parse(buf, sizeof(buf), &r, why));
}

TEST(session_request_header_checks)
{
	struct vgpu_req_hdr h = {
		.magic = VGPU_REQ_MAGIC, .version = VGPU_PROTO_VERSION_SESSION,
		.hdr_size = VGPU_REQ_HDR_SIZE, .op = VGPU_OP_SESSION, .id = 1,
		.payload_len = 64, .out_len = 4096,
	}, t;
	char why[VGPU_MSG_LEN];

	EXPECT_EQ(0, vgpu_session_req_check(&h, 1 << 20, why));
	/* version 1 readers refuse it; the session check refuses version 1 */
	EXPECT_EQ(-EPROTONOSUPPORT, vgpu_req_check(&h, 1 << 20, why));
	t = h, t.version = 1;
	EXPECT_EQ(-EPROTONOSUPPORT, vgpu_session_req_check(&t, 1 << 20, why));
	t = h, t.op = VGPU_OP_NOOP;
	EXPECT_EQ(-EOPNOTSUPP, vgpu_session_req_check(&t, 1 << 20, why));
	t = h, t.args[2] = 1;
	EXPECT_EQ(-EINVAL, vgpu_session_req_check(&t, 1 << 20, why));
	t = h, t.payload_len = 2 << 20;
	EXPECT_EQ(-E2BIG, vgpu_session_req_check(&t, 1 << 20, why));
	t = h, t.out_len = 100;
	EXPECT_EQ(-EINVAL, vgpu_session_req_check(&t, 1 << 20, why));
	t = h, t.magic = 0;
	EXPECT_EQ(-EBADMSG, vgpu_session_req_check(&t, 1 << 20, why));
}

/* Mutated valid lists: the parser answers each with 0 or a documented errno. */
TEST(mutated_lists_get_documented_errors_and_never_crash)
{
	static const int documented[] = { 0, -EBADMSG, -EINVAL, -EBADF, -EOVERFLOW, -E2BIG,
					   -EBADRQC, -EOPNOTSUPP };
	static struct vgpu_sess_cmd in[32];

	test_seed();
	test_rand_bytes(blob, sizeof(blob));
	for (int round = 0; round < 2000; round++) {
		uint32_t n = (uint32_t)test_rand_range(1, 32), got, failed;
		struct vgpu_sess_cmd *out = NULL;
		struct vgpu_sess_buf b;
		char why[VGPU_SESS_MSG_LEN] = "";
		uint32_t hdr_n;
		int err, ok = 0;

		vgpu_sess_begin(&b);
		for (uint32_t i = 0; i < n; i++) {
			random_cmd(in, i, &in[i]);
			vgpu_sess_add(&b, &in[i]);
		}
		ASSERT_EQ(0, vgpu_sess_finish(&b));
		for (int k = (int)test_rand_range(1, 8); k > 0; k--) {
			size_t at = (size_t)test_rand_range(0, b.len - 1);

			b.p[at] = test_rand() % 4 ? (uint8_t)test_rand() : (uint8_t)(b.p[at] ^ 0x80);
		}
		err = vgpu_sess_parse(b.p, b.len - (test_rand() % 8 ? 0 : test_rand() % b.len),
				      &out, &got, &failed, why);
		for (size_t d = 0; d < sizeof(documented) / sizeof(documented[0]); d++)
			ok |= err == documented[d];
		EXPECT_TRUE(ok) TH_LOG("round %d: %d %s", round, err, why);
		EXPECT_TRUE(err || failed == VGPU_SESS_NONE);
		memcpy(&hdr_n, b.p + 8, 4);	/* a failing command is one the header counts */
		EXPECT_TRUE(!err || failed == VGPU_SESS_NONE || failed < le32toh(hdr_n));
		free(out);
		vgpu_sess_buf_free(&b);
	}
}

TEST_HARNESS_MAIN
