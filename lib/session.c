// SPDX-License-Identifier: MIT
/*
 * The session job's codec and the checks of an untrusted command list
 * (include/vgpu/session.h; Documentation/protocol.rst "Sessions (version 2)" is the
 * specification). The executor runs what vgpu_sess_parse() accepted; the
 * checks that need device state (handles, buffer bounds, quotas) are the
 * executor's. No state: any thread.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/ops.h"
#include "vgpu/session.h"
#include "vgpu/vgpu.h"
#include "wire.h"

/* The documented offsets of the structs that mirror the wire (the codec
 * writes bytes; these keep the comments of session.h honest). */
_Static_assert(offsetof(struct vgpu_sess_result, out_len) == 24 &&
	       sizeof(struct vgpu_sess_result) == VGPU_SESS_RESULT_SIZE, "result layout");
_Static_assert(offsetof(struct vgpu_sess_rsp_hdr, epoch) == 40 &&
	       offsetof(struct vgpu_sess_rsp_hdr, msg) == 48 &&
	       sizeof(struct vgpu_sess_rsp_hdr) == VGPU_SESS_RSP_HDR_SIZE, "response layout");
_Static_assert(VGPU_SESS_MAX_CMDS * (uint64_t)VGPU_SESS_RESULT_SIZE + VGPU_SESS_RSP_HDR_SIZE +
	       VGPU_SESS_LOG_MAX < (1u << 20), "a response's fixed part stays small");

static const char *const code_names[VGPU_SESS_NR_CODES] = {
	[VGPU_SESS_ALLOC] = "alloc",
	[VGPU_SESS_FREE] = "free",
	[VGPU_SESS_MEMSET] = "memset",
	[VGPU_SESS_COPY_H2D] = "copy_h2d",
	[VGPU_SESS_COPY_D2H] = "copy_d2h",
	[VGPU_SESS_COPY_D2D] = "copy_d2d",
	[VGPU_SESS_MODULE_LOAD] = "module_load",
	[VGPU_SESS_MODULE_UNLOAD] = "module_unload",
	[VGPU_SESS_MODULE_DESCRIBE] = "module_describe",
	[VGPU_SESS_LAUNCH] = "launch",
	[VGPU_SESS_OP] = "op",
	[VGPU_SESS_TIMESTAMP] = "timestamp",
	[VGPU_SESS_DEVICE_INFO] = "device_info",
	[VGPU_SESS_MODULE_GLOBAL] = "module_global",
};

const char *vgpu_sess_code_name(uint32_t code)
{
	if (code == VGPU_SESS_TEST_CRASH)
		return "test_crash";
	if (code == VGPU_SESS_TEST_HANG)
		return "test_hang";
	if (code == VGPU_SESS_TEST_KICK)
		return "test_kick";
	if (code < VGPU_SESS_NR_CODES && code_names[code])
		return code_names[code];
	return "unknown";
}

static uint64_t align8(uint64_t n)
{
	return (n + 7) & ~7ull;
}

/* ---- building ----------------------------------------------------------- */

void vgpu_sess_begin(struct vgpu_sess_buf *b)
{
	memset(b, 0, sizeof(*b));
	b->cap = 4096;
	b->p = calloc(1, b->cap);
	if (!b->p) {
		b->err = -ENOMEM;
		return;
	}
	b->len = VGPU_SESS_LIST_HDR_SIZE;
}

void vgpu_sess_buf_free(struct vgpu_sess_buf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Body bytes of @c: its fixed part, then data, name, params. */
static uint64_t body_len(const struct vgpu_sess_cmd *c)
{
	switch (c->code) {
	case VGPU_SESS_ALLOC:		return VGPU_SESS_ALLOC_BODY;
	case VGPU_SESS_FREE:
	case VGPU_SESS_MODULE_UNLOAD:
	case VGPU_SESS_MODULE_DESCRIBE:	return VGPU_SESS_REF_BODY;
	case VGPU_SESS_MEMSET:		return VGPU_SESS_MEMSET_BODY;
	case VGPU_SESS_COPY_H2D:	return VGPU_SESS_H2D_BODY + c->data_len;
	case VGPU_SESS_COPY_D2H:	return VGPU_SESS_D2H_BODY;
	case VGPU_SESS_COPY_D2D:	return VGPU_SESS_D2D_BODY;
	case VGPU_SESS_LAUNCH:
		return VGPU_SESS_LAUNCH_BODY + align8(c->name_len) +
		       (uint64_t)c->npatches * VGPU_SESS_PATCH_SIZE + c->data_len;
	case VGPU_SESS_OP:		return VGPU_SESS_OP_BODY;
	case VGPU_SESS_MODULE_GLOBAL:	return VGPU_SESS_GLOBAL_BODY + align8(c->name_len);
	default:			return c->data_len;	/* MODULE_LOAD, others: raw */
	}
}

uint64_t vgpu_sess_cmd_size(const struct vgpu_sess_cmd *c)
{
	if (c->data_len > UINT64_MAX / 2)
		return 0;
	return VGPU_SESS_CMD_HDR_SIZE + align8(body_len(c));
}

static int grow(struct vgpu_sess_buf *b, uint64_t more)
{
	size_t cap = b->cap;
	uint8_t *p;

	if (more > SIZE_MAX / 2 - b->len)
		return -E2BIG;
	while (cap - b->len < more)
		cap *= 2;
	if (cap == b->cap)
		return 0;
	p = realloc(b->p, cap);
	if (!p)
		return -ENOMEM;
	memset(p + b->cap, 0, cap - b->cap);
	b->p = p;
	b->cap = cap;
	return 0;
}

uint64_t vgpu_sess_add(struct vgpu_sess_buf *b, const struct vgpu_sess_cmd *c)
{
	uint64_t size = vgpu_sess_cmd_size(c), blen = body_len(c);
	uint8_t *h, *d;

	if (b->err)
		return 0;
	if (!size || b->ncmds >= UINT32_MAX / 2) {
		b->err = -E2BIG;
		return 0;
	}
	b->err = grow(b, size);
	if (b->err)
		return 0;
	h = b->p + b->len;
	d = h + VGPU_SESS_CMD_HDR_SIZE;
	memset(h, 0, size);
	put16(h, 0, c->code);
	put16(h, 2, c->flags);
	put64(h, 8, blen);
	switch (c->code) {
	case VGPU_SESS_ALLOC:
		put64(d, 0, c->len);
		break;
	case VGPU_SESS_FREE:
	case VGPU_SESS_MODULE_UNLOAD:
	case VGPU_SESS_MODULE_DESCRIBE:
		put64(d, 0, c->ref[0]);
		break;
	case VGPU_SESS_MEMSET:
		put64(d, 0, c->ref[0]);
		put64(d, 8, c->off[0]);
		put64(d, 16, c->len);
		put64(d, 24, c->value);
		break;
	case VGPU_SESS_COPY_H2D:
		put64(d, 0, c->ref[0]);
		put64(d, 8, c->off[0]);
		if (c->data_len)
			memcpy(d + VGPU_SESS_H2D_BODY, c->data, c->data_len);
		break;
	case VGPU_SESS_COPY_D2H:
		put64(d, 0, c->ref[0]);
		put64(d, 8, c->off[0]);
		put64(d, 16, c->len);
		break;
	case VGPU_SESS_COPY_D2D:
		put64(d, 0, c->ref[0]);
		put64(d, 8, c->off[0]);
		put64(d, 16, c->ref[1]);
		put64(d, 24, c->off[1]);
		put64(d, 32, c->len);
		break;
	case VGPU_SESS_LAUNCH:
		put64(d, 0, c->ref[0]);
		for (int i = 0; i < 3; i++) {
			put32(d, 8 + 4 * i, c->grid[i]);
			put32(d, 20 + 4 * i, c->block[i]);
		}
		put32(d, 32, c->shared_bytes);
		put32(d, 36, c->name_len);
		put32(d, 40, (uint32_t)c->data_len);
		put32(d, 44, c->npatches);
		d += VGPU_SESS_LAUNCH_BODY;
		if (c->name_len)
			memcpy(d, c->name, c->name_len);
		d += align8(c->name_len);
		if (c->npatches)
			memcpy(d, c->patches, (size_t)c->npatches * VGPU_SESS_PATCH_SIZE);
		d += (size_t)c->npatches * VGPU_SESS_PATCH_SIZE;
		if (c->data_len)
			memcpy(d, c->data, c->data_len);
		break;
	case VGPU_SESS_OP:
		put32(d, 0, c->op);
		for (int i = 0; i < VGPU_NR_ARGS; i++)
			put64(d, 8 + 8 * i, c->args[i]);
		for (int i = 0; i < 3; i++) {
			put64(d, 40 + 16 * i, c->ref[i]);
			put64(d, 48 + 16 * i, c->off[i]);
		}
		break;
	case VGPU_SESS_MODULE_GLOBAL:
		put64(d, 0, c->ref[0]);
		put32(d, 8, c->name_len);
		if (c->name_len)
			memcpy(d + VGPU_SESS_GLOBAL_BODY, c->name, c->name_len);
		break;
	default:
		if (c->data_len)
			memcpy(d, c->data, c->data_len);
		break;
	}
	b->len += size;
	return VGPU_SESS_SLOT(b->ncmds++);
}

int vgpu_sess_finish(struct vgpu_sess_buf *b)
{
	if (b->err)
		return b->err;
	put32(b->p, 0, VGPU_SESS_LIST_MAGIC);
	put16(b->p, 4, VGPU_SESS_LIST_HDR_SIZE);
	put16(b->p, 6, 0);
	put32(b->p, 8, b->ncmds);
	put32(b->p, 12, 0);
	put64(b->p, 16, b->len);
	put64(b->p, 24, 0);
	return 0;
}

/* ---- checking ----------------------------------------------------------- */

static int fail(char *why, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *why, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, VGPU_SESS_MSG_LEN, fmt, ap);
	va_end(ap);
	return err;
}

/* A reference of command @i to a handle made by a command of code @want. */
static int check_ref(const struct vgpu_sess_cmd *cmds, uint32_t i, uint64_t ref,
		     uint16_t want, const char *what, char *why)
{
	uint64_t j;

	if (!ref)
		return fail(why, -EBADF, "%s: handle 0", what);
	if (!VGPU_SESS_IS_SLOT(ref))
		return 0;	/* a handle: the executor knows if it is one */
	if (ref & ~(VGPU_SESS_SLOT_BIT | 0xffffffffull))
		return fail(why, -EINVAL, "%s: slot reference 0x%" PRIx64 " has bits 62..32 set",
			    what, ref);
	j = (uint32_t)ref;
	if (j >= i)
		return fail(why, -EINVAL, "%s: forward reference to command %" PRIu64, what, j);
	/* a module's global is a buffer too (protocol.rst, module_global) */
	if (cmds[j].code != want &&
	    !(want == VGPU_SESS_ALLOC && cmds[j].code == VGPU_SESS_MODULE_GLOBAL))
		return fail(why, -EINVAL, "%s: command %" PRIu64 " is %s, not %s", what, j,
			    vgpu_sess_code_name(cmds[j].code), vgpu_sess_code_name(want));
	return 0;
}

static int check_range(uint64_t off, uint64_t len, const char *what, char *why)
{
	if (off > UINT64_MAX - len)
		return fail(why, -EOVERFLOW, "%s: offset %" PRIu64 " + length %" PRIu64
			    " overflows", what, off, len);
	return 0;
}

static int need_len(uint64_t blen, uint64_t want, const char *name, char *why)
{
	if (blen != want)
		return fail(why, -EBADMSG, "%s: body %" PRIu64 " bytes, want %" PRIu64,
			    name, blen, want);
	return 0;
}

void vgpu_sess_patch_get(const struct vgpu_sess_cmd *c, uint32_t k, struct vgpu_sess_patch *pt)
{
	const uint8_t *b = (const uint8_t *)c->patches + (size_t)k * VGPU_SESS_PATCH_SIZE;

	pt->param_off = get32(b, 0);
	pt->ref = get64(b, 8);
	pt->off = get64(b, 16);
}

void vgpu_sess_patch_put(const struct vgpu_sess_patch *pt, uint32_t n, uint8_t *buf)
{
	for (uint32_t k = 0; k < n; k++, buf += VGPU_SESS_PATCH_SIZE) {
		put32(buf, 0, pt[k].param_off);
		put32(buf, 4, 0);
		put64(buf, 8, pt[k].ref);
		put64(buf, 16, pt[k].off);
	}
}

static int check_launch(const struct vgpu_sess_cmd *cmds, struct vgpu_sess_cmd *c,
			const uint8_t *d, uint64_t blen, char *why)
{
	uint64_t threads = 1, at;
	uint32_t param_len;
	int err;

	if (blen < VGPU_SESS_LAUNCH_BODY)
		return need_len(blen, VGPU_SESS_LAUNCH_BODY, "launch", why);
	c->ref[0] = get64(d, 0);
	for (int i = 0; i < 3; i++) {
		c->grid[i] = get32(d, 8 + 4 * i);
		c->block[i] = get32(d, 20 + 4 * i);
		threads *= c->block[i];
	}
	c->shared_bytes = get32(d, 32);
	c->name_len = get32(d, 36);
	param_len = get32(d, 40);
	c->npatches = get32(d, 44);
	if (!c->grid[0] || !c->grid[1] || !c->grid[2] || c->grid[0] > 0x7fffffffu ||
	    c->grid[1] > 65535 || c->grid[2] > 65535)
		return fail(why, -EINVAL, "launch: grid %ux%ux%u out of range",
			    c->grid[0], c->grid[1], c->grid[2]);
	if (!threads || threads > 1024 || c->block[2] > 64)
		return fail(why, -EINVAL, "launch: block %ux%ux%u out of range",
			    c->block[0], c->block[1], c->block[2]);
	if (!c->name_len || c->name_len > VGPU_SESS_NAME_MAX)
		return fail(why, -EINVAL, "launch: name length %u not in 1..%u",
			    c->name_len, VGPU_SESS_NAME_MAX);
	if (param_len > VGPU_SESS_PARAMS_MAX)
		return fail(why, -E2BIG, "launch: %u parameter bytes > %u",
			    param_len, VGPU_SESS_PARAMS_MAX);
	if (c->npatches > VGPU_SESS_PATCHES_MAX)
		return fail(why, -E2BIG, "launch: %u pointer patches > %u",
			    c->npatches, VGPU_SESS_PATCHES_MAX);
	at = VGPU_SESS_LAUNCH_BODY + align8(c->name_len);
	if (blen != at + (uint64_t)c->npatches * VGPU_SESS_PATCH_SIZE + param_len)
		return fail(why, -EBADMSG, "launch: body %" PRIu64 " bytes, name, patches and "
			    "params need %" PRIu64, blen,
			    at + (uint64_t)c->npatches * VGPU_SESS_PATCH_SIZE + param_len);
	c->name = (const char *)d + VGPU_SESS_LAUNCH_BODY;
	for (uint32_t i = 0; i < c->name_len; i++)
		if (c->name[i] <= ' ' || c->name[i] > '~')
			return fail(why, -EINVAL, "launch: name byte %u not printable", i);
	for (uint64_t i = VGPU_SESS_LAUNCH_BODY + c->name_len; i < at; i++)
		if (d[i])
			return fail(why, -EINVAL, "launch: name padding not 0");
	c->patches = d + at;
	c->data = d + at + (uint64_t)c->npatches * VGPU_SESS_PATCH_SIZE;
	c->data_len = param_len;
	for (uint32_t k = 0; k < c->npatches; k++) {
		struct vgpu_sess_patch pt;

		vgpu_sess_patch_get(c, k, &pt);
		if (get32((const uint8_t *)c->patches + (size_t)k * VGPU_SESS_PATCH_SIZE, 4))
			return fail(why, -EINVAL, "launch: patch %u: reserved field not 0", k);
		if (pt.param_off % 8 || pt.param_off > param_len || param_len - pt.param_off < 8)
			return fail(why, -EINVAL, "launch: patch %u: parameter offset %u not an "
				    "aligned u64 in %u bytes", k, pt.param_off, param_len);
		err = check_ref(cmds, c->index, pt.ref, VGPU_SESS_ALLOC, "launch patch", why);
		if (err)
			return err;
	}
	return 0;
}

/* A kernel's or variable's name: 1..VGPU_SESS_NAME_MAX printable bytes, zero padding. */
static int check_name(const char *what, const uint8_t *d, uint32_t name_len, uint64_t room,
		      char *why)
{
	if (!name_len || name_len > VGPU_SESS_NAME_MAX)
		return fail(why, -EINVAL, "%s: name length %u not in 1..%u", what, name_len,
			    VGPU_SESS_NAME_MAX);
	if (room < align8(name_len))
		return fail(why, -EBADMSG, "%s: a %u-byte name does not fit its body", what,
			    name_len);
	for (uint32_t i = 0; i < name_len; i++)
		if (d[i] <= ' ' || d[i] > '~')
			return fail(why, -EINVAL, "%s: name byte %u not printable", what, i);
	for (uint64_t i = name_len; i < align8(name_len); i++)
		if (d[i])
			return fail(why, -EINVAL, "%s: name padding not 0", what);
	return 0;
}

static int check_op(const struct vgpu_sess_cmd *cmds, struct vgpu_sess_cmd *c,
		    const uint8_t *d, char *why)
{
	const struct vgpu_op_info *info;
	uint64_t in_len, out_len;
	char opwhy[VGPU_MSG_LEN] = "";
	int err;

	c->op = get32(d, 0);
	if (get32(d, 4))
		return fail(why, -EINVAL, "op: reserved field not 0");
	for (int i = 0; i < VGPU_NR_ARGS; i++)
		c->args[i] = get64(d, 8 + 8 * i);
	for (int i = 0; i < 3; i++) {
		c->ref[i] = get64(d, 40 + 16 * i);
		c->off[i] = get64(d, 48 + 16 * i);
	}
	err = vgpu_op_sizes(c->op, c->args, &in_len, &out_len, opwhy);
	if (err == -EOPNOTSUPP)
		return fail(why, err, "op: unknown op %" PRIu32, c->op);
	if (err)
		return fail(why, err, "op: %s", opwhy);
	info = vgpu_op_get(c->op);
	for (int i = 0; i < 3; i++) {
		const struct vgpu_op_array *a = i < 2 ? &info->in[i] : &info->out;
		int used = i < 2 ? i < (int)info->nin : info->out.elem != VGPU_ELEM_NONE;
		const char *what = i == 0 ? "op input 0" : i == 1 ? "op input 1" : "op output";

		if (!used) {
			if (c->ref[i] || c->off[i])
				return fail(why, -EINVAL, "%s: %s has none, must be 0", what,
					    vgpu_op_name(c->op));
			continue;
		}
		err = check_ref(cmds, c->index, c->ref[i], VGPU_SESS_ALLOC, what, why);
		if (!err)
			err = check_range(c->off[i], vgpu_op_array_bytes(a, c->args), what, why);
		if (err)
			return err;
	}
	return 0;
}

/* The checks of one command that need no device state; @d is its body. */
static int check_cmd(struct vgpu_sess_cmd *cmds, struct vgpu_sess_cmd *c, const uint8_t *d,
		     uint64_t blen, char *why)
{
	const char *name = vgpu_sess_code_name(c->code);
	uint16_t want_code = VGPU_SESS_ALLOC;
	int err;

	if (c->code != VGPU_SESS_LAUNCH ? c->flags != 0 :
	    (c->flags & ~VGPU_SESS_F_COOPERATIVE) != 0)
		return fail(why, -EINVAL, "%s: flags 0x%x not allowed", name, c->flags);
	switch (c->code) {
	case VGPU_SESS_ALLOC:
		if ((err = need_len(blen, VGPU_SESS_ALLOC_BODY, name, why)))
			return err;
		c->len = get64(d, 0);
		if (get64(d, 8))
			return fail(why, -EINVAL, "alloc: reserved field not 0");
		if (!c->len)
			return fail(why, -EINVAL, "alloc: size 0");
		if (c->len > VGPU_SESS_ALLOC_MAX)
			return fail(why, -E2BIG, "alloc: %" PRIu64 " bytes > %llu", c->len,
				    VGPU_SESS_ALLOC_MAX);
		return 0;
	case VGPU_SESS_MODULE_UNLOAD:
	case VGPU_SESS_MODULE_DESCRIBE:
		want_code = VGPU_SESS_MODULE_LOAD;
		/* fall through */
	case VGPU_SESS_FREE:
		if ((err = need_len(blen, VGPU_SESS_REF_BODY, name, why)))
			return err;
		c->ref[0] = get64(d, 0);
		return check_ref(cmds, c->index, c->ref[0], want_code, name, why);
	case VGPU_SESS_MEMSET:
		if ((err = need_len(blen, VGPU_SESS_MEMSET_BODY, name, why)))
			return err;
		c->ref[0] = get64(d, 0);
		c->off[0] = get64(d, 8);
		c->len = get64(d, 16);
		c->value = get64(d, 24);
		if (c->value > 255)
			return fail(why, -EINVAL, "memset: value %" PRIu64 " is not a byte",
				    c->value);
		if ((err = check_ref(cmds, c->index, c->ref[0], VGPU_SESS_ALLOC, name, why)))
			return err;
		return check_range(c->off[0], c->len, name, why);
	case VGPU_SESS_COPY_H2D:
		if (blen < VGPU_SESS_H2D_BODY)
			return need_len(blen, VGPU_SESS_H2D_BODY, name, why);
		c->ref[0] = get64(d, 0);
		c->off[0] = get64(d, 8);
		c->data = d + VGPU_SESS_H2D_BODY;
		c->data_len = c->len = blen - VGPU_SESS_H2D_BODY;
		if ((err = check_ref(cmds, c->index, c->ref[0], VGPU_SESS_ALLOC, name, why)))
			return err;
		return check_range(c->off[0], c->len, name, why);
	case VGPU_SESS_COPY_D2H:
		if ((err = need_len(blen, VGPU_SESS_D2H_BODY, name, why)))
			return err;
		c->ref[0] = get64(d, 0);
		c->off[0] = get64(d, 8);
		c->len = get64(d, 16);
		if ((err = check_ref(cmds, c->index, c->ref[0], VGPU_SESS_ALLOC, name, why)))
			return err;
		return check_range(c->off[0], c->len, name, why);
	case VGPU_SESS_COPY_D2D:
		if ((err = need_len(blen, VGPU_SESS_D2D_BODY, name, why)))
			return err;
		c->ref[0] = get64(d, 0);
		c->off[0] = get64(d, 8);
		c->ref[1] = get64(d, 16);
		c->off[1] = get64(d, 24);
		c->len = get64(d, 32);
		if ((err = check_ref(cmds, c->index, c->ref[0], VGPU_SESS_ALLOC, "copy_d2d dst", why)) ||
		    (err = check_ref(cmds, c->index, c->ref[1], VGPU_SESS_ALLOC, "copy_d2d src", why)) ||
		    (err = check_range(c->off[0], c->len, "copy_d2d dst", why)))
			return err;
		return check_range(c->off[1], c->len, "copy_d2d src", why);
	case VGPU_SESS_MODULE_LOAD:
		if (!blen)
			return fail(why, -EINVAL, "module_load: empty image");
		c->data = d;
		c->data_len = blen;
		return 0;
	case VGPU_SESS_LAUNCH:
		if ((err = check_launch(cmds, c, d, blen, why)))
			return err;
		return check_ref(cmds, c->index, c->ref[0], VGPU_SESS_MODULE_LOAD, name, why);
	case VGPU_SESS_OP:
		if ((err = need_len(blen, VGPU_SESS_OP_BODY, name, why)))
			return err;
		return check_op(cmds, c, d, why);
	case VGPU_SESS_MODULE_GLOBAL:
		if (blen < VGPU_SESS_GLOBAL_BODY)
			return need_len(blen, VGPU_SESS_GLOBAL_BODY, name, why);
		c->ref[0] = get64(d, 0);
		c->name_len = get32(d, 8);
		if (get32(d, 12))
			return fail(why, -EINVAL, "module_global: reserved field not 0");
		if ((err = check_name(name, d + VGPU_SESS_GLOBAL_BODY, c->name_len,
				      blen - VGPU_SESS_GLOBAL_BODY, why)))
			return err;
		if ((err = need_len(blen, VGPU_SESS_GLOBAL_BODY + align8(c->name_len), name, why)))
			return err;
		c->name = (const char *)d + VGPU_SESS_GLOBAL_BODY;
		return check_ref(cmds, c->index, c->ref[0], VGPU_SESS_MODULE_LOAD, name, why);
	case VGPU_SESS_TIMESTAMP:
	case VGPU_SESS_DEVICE_INFO:
	case VGPU_SESS_TEST_CRASH:
	case VGPU_SESS_TEST_HANG:
	case VGPU_SESS_TEST_KICK:
		return need_len(blen, 0, name, why);
	default:
		return fail(why, -EBADRQC, "unknown command code %u", c->code);
	}
}

int vgpu_sess_parse(const void *buf, uint64_t len, struct vgpu_sess_cmd **cmdsp,
		    uint32_t *ncmdsp, uint32_t *failed, char *why)
{
	const uint8_t *p = buf;
	struct vgpu_sess_cmd *cmds;
	uint32_t ncmds, i;
	uint64_t pos, list_len;
	uint16_t hdr_size;
	int err = 0;

	*cmdsp = NULL;
	*ncmdsp = 0;
	*failed = VGPU_SESS_NONE;
	if (len < VGPU_SESS_LIST_HDR_SIZE)
		return fail(why, -EBADMSG, "list of %" PRIu64 " bytes is shorter than its header",
			    len);
	if (get32(p, 0) != VGPU_SESS_LIST_MAGIC)
		return fail(why, -EBADMSG, "bad list magic 0x%08" PRIx32, get32(p, 0));
	hdr_size = get16(p, 4);
	if (hdr_size < VGPU_SESS_LIST_HDR_SIZE || hdr_size > VGPU_HDR_SIZE_MAX || hdr_size > len)
		return fail(why, -EBADMSG, "bad list hdr_size %u", hdr_size);
	ncmds = get32(p, 8);
	list_len = get64(p, 16);
	if (get16(p, 6) || get32(p, 12) || get64(p, 24))
		return fail(why, -EINVAL, "list header: non-zero flags or reserved field");
	if (list_len != len)
		return fail(why, -EBADMSG, "list_len %" PRIu64 " != payload %" PRIu64 " bytes",
			    list_len, len);
	if (ncmds > VGPU_SESS_MAX_CMDS)
		return fail(why, -E2BIG, "%u commands > %u", ncmds, VGPU_SESS_MAX_CMDS);
	cmds = calloc(ncmds ? ncmds : 1, sizeof(*cmds));
	if (!cmds)
		return fail(why, -ENOMEM, "out of memory for %u commands", ncmds);

	pos = hdr_size;
	for (i = 0; i < ncmds; i++) {
		struct vgpu_sess_cmd *c = &cmds[i];
		uint64_t blen, padded;

		if (len - pos < VGPU_SESS_CMD_HDR_SIZE) {
			err = fail(why, -EBADMSG, "truncated list: command %u of %u missing", i,
				   ncmds);
			break;
		}
		c->index = i;
		c->code = get16(p, pos);
		c->flags = get16(p, pos + 2);
		blen = get64(p, pos + 8);
		if (blen > len - pos - VGPU_SESS_CMD_HDR_SIZE ||
		    (padded = align8(blen)) > len - pos - VGPU_SESS_CMD_HDR_SIZE) {
			err = fail(why, -EBADMSG, "truncated list: %s body of %" PRIu64
				   " bytes past the end", vgpu_sess_code_name(c->code), blen);
			break;
		}
		if (get32(p, pos + 4)) {
			err = fail(why, -EINVAL, "%s: reserved field not 0",
				   vgpu_sess_code_name(c->code));
			break;
		}
		for (uint64_t k = blen; k < padded; k++)
			if (p[pos + VGPU_SESS_CMD_HDR_SIZE + k]) {
				err = fail(why, -EINVAL, "%s: padding not 0",
					   vgpu_sess_code_name(c->code));
				break;
			}
		if (err)
			break;
		err = check_cmd(cmds, c, p + pos + VGPU_SESS_CMD_HDR_SIZE, blen, why);
		if (err)
			break;
		pos += VGPU_SESS_CMD_HDR_SIZE + padded;
	}
	if (!err && pos != len) {
		err = fail(why, -EBADMSG, "%" PRIu64 " trailing bytes after the last command",
			   len - pos);
		i = VGPU_SESS_NONE;
	}
	if (err) {
		*failed = i;
		free(cmds);
		return err;
	}
	*cmdsp = cmds;
	*ncmdsp = ncmds;
	return 0;
}

int vgpu_session_req_check(const struct vgpu_req_hdr *h, uint64_t max_payload, char *why)
{
	if (h->magic != VGPU_REQ_MAGIC) {
		snprintf(why, VGPU_MSG_LEN, "bad magic 0x%08" PRIx32, h->magic);
		return -EBADMSG;
	}
	if (h->version != VGPU_PROTO_VERSION_SESSION) {
		snprintf(why, VGPU_MSG_LEN, "unsupported version %u (want %u)", h->version,
			 VGPU_PROTO_VERSION_SESSION);
		return -EPROTONOSUPPORT;
	}
	if (h->hdr_size < VGPU_REQ_HDR_SIZE || h->hdr_size > VGPU_HDR_SIZE_MAX) {
		snprintf(why, VGPU_MSG_LEN, "bad hdr_size %u", h->hdr_size);
		return -EBADMSG;
	}
	if (h->op != VGPU_OP_SESSION) {
		snprintf(why, VGPU_MSG_LEN, "op %" PRIu32 " is not session in version 2", h->op);
		return -EOPNOTSUPP;
	}
	if (h->flags || h->reserved0 || h->reserved[0] || h->reserved[1] || h->args[0] ||
	    h->args[1] || h->args[2] || h->args[3]) {
		snprintf(why, VGPU_MSG_LEN, "non-zero flags, args or reserved field");
		return -EINVAL;
	}
	if (h->payload_len > max_payload || h->out_len > max_payload) {
		snprintf(why, VGPU_MSG_LEN, "list %" PRIu64 " or out_len %" PRIu64
			 " > limit %" PRIu64, h->payload_len, h->out_len, max_payload);
		return -E2BIG;
	}
	if (h->payload_len < VGPU_SESS_LIST_HDR_SIZE || h->out_len < VGPU_SESS_RSP_HDR_SIZE) {
		snprintf(why, VGPU_MSG_LEN, "list %" PRIu64 " < %u or out_len %" PRIu64 " < %u",
			 h->payload_len, VGPU_SESS_LIST_HDR_SIZE, h->out_len,
			 VGPU_SESS_RSP_HDR_SIZE);
		return -EINVAL;
	}
	return 0;
}

int vgpu_session_req_build(struct vgpu_req_hdr *h, uint64_t id, const void *list,
			   uint64_t len, uint64_t out_cap, char *why)
{
	memset(h, 0, sizeof(*h));
	h->magic = VGPU_REQ_MAGIC;
	h->version = VGPU_PROTO_VERSION_SESSION;
	h->hdr_size = VGPU_REQ_HDR_SIZE;
	h->op = VGPU_OP_SESSION;
	h->id = id;
	h->payload_len = len;
	h->out_len = out_cap;
	h->crc32c = vgpu_req_crc(h, vgpu_crc32c(0, list, (size_t)len));
	return vgpu_session_req_check(h, VGPU_PAYLOAD_MAX, why);
}

/* ---- the response ------------------------------------------------------- */

void vgpu_sess_rsp_encode(const struct vgpu_sess_rsp_hdr *h, uint8_t buf[VGPU_SESS_RSP_HDR_SIZE])
{
	put32(buf, 0, h->magic);
	put16(buf, 4, h->hdr_size);
	put16(buf, 6, h->reserved0);
	put32(buf, 8, h->ncmds);
	put32(buf, 12, h->nrun);
	put32(buf, 16, h->failed);
	put32(buf, 20, (uint32_t)h->status);
	put64(buf, 24, h->out_len);
	put32(buf, 32, h->log_len);
	put32(buf, 36, h->flags);
	put32(buf, 40, h->epoch);
	put32(buf, 44, h->reserved1);
	memcpy(buf + 48, h->msg, VGPU_SESS_MSG_LEN);
}

void vgpu_sess_rsp_decode(const uint8_t buf[VGPU_SESS_RSP_HDR_SIZE], struct vgpu_sess_rsp_hdr *h)
{
	h->magic = get32(buf, 0);
	h->hdr_size = get16(buf, 4);
	h->reserved0 = get16(buf, 6);
	h->ncmds = get32(buf, 8);
	h->nrun = get32(buf, 12);
	h->failed = get32(buf, 16);
	h->status = (int32_t)get32(buf, 20);
	h->out_len = get64(buf, 24);
	h->log_len = get32(buf, 32);
	h->flags = get32(buf, 36);
	h->epoch = get32(buf, 40);
	h->reserved1 = get32(buf, 44);
	memcpy(h->msg, buf + 48, VGPU_SESS_MSG_LEN);
	h->msg[VGPU_SESS_MSG_LEN - 1] = '\0';
}

void vgpu_sess_result_encode(const struct vgpu_sess_result *r, uint8_t buf[VGPU_SESS_RESULT_SIZE])
{
	put16(buf, 0, r->code);
	put16(buf, 2, r->flags);
	put32(buf, 4, (uint32_t)r->status);
	put64(buf, 8, r->value);
	put64(buf, 16, r->out_off);
	put64(buf, 24, r->out_len);
}

void vgpu_sess_result_decode(const uint8_t buf[VGPU_SESS_RESULT_SIZE], struct vgpu_sess_result *r)
{
	r->code = get16(buf, 0);
	r->flags = get16(buf, 2);
	r->status = (int32_t)get32(buf, 4);
	r->value = get64(buf, 8);
	r->out_off = get64(buf, 16);
	r->out_len = get64(buf, 24);
}

void vgpu_sess_rsp_result(const struct vgpu_sess_rsp *r, uint32_t i, struct vgpu_sess_result *res)
{
	vgpu_sess_result_decode(r->results + (size_t)i * VGPU_SESS_RESULT_SIZE, res);
}

int vgpu_sess_rsp_parse(const void *buf, uint64_t len, struct vgpu_sess_rsp *r, char *why)
{
	const uint8_t *p = buf;
	struct vgpu_sess_rsp_hdr *h = &r->hdr;
	uint64_t rest;

	if (len < VGPU_SESS_RSP_HDR_SIZE)
		return fail(why, -EBADMSG, "session response of %" PRIu64 " bytes", len);
	vgpu_sess_rsp_decode(p, h);
	if (h->magic != VGPU_SESS_RSP_MAGIC)
		return fail(why, -EBADMSG, "bad session response magic 0x%08" PRIx32, h->magic);
	if (h->hdr_size < VGPU_SESS_RSP_HDR_SIZE || h->hdr_size > VGPU_HDR_SIZE_MAX ||
	    h->hdr_size > len)
		return fail(why, -EBADMSG, "bad session response hdr_size %u", h->hdr_size);
	if (h->nrun > h->ncmds || h->ncmds > VGPU_SESS_MAX_CMDS ||
	    (h->failed != VGPU_SESS_NONE && h->failed >= h->ncmds) || h->log_len > VGPU_SESS_LOG_MAX)
		return fail(why, -EBADMSG, "session response counts %u/%u/%u/%u out of range",
			    h->ncmds, h->nrun, h->failed, h->log_len);
	rest = len - h->hdr_size;
	if (rest < (uint64_t)h->nrun * VGPU_SESS_RESULT_SIZE + h->log_len ||
	    rest - (uint64_t)h->nrun * VGPU_SESS_RESULT_SIZE - h->log_len != h->out_len)
		return fail(why, -EBADMSG, "session response lengths do not add up to %" PRIu64,
			    len);
	r->results = p + h->hdr_size;
	r->out = r->results + (size_t)h->nrun * VGPU_SESS_RESULT_SIZE;
	r->log = (const char *)r->out + h->out_len;
	for (uint32_t i = 0; i < h->nrun; i++) {
		struct vgpu_sess_result res;

		vgpu_sess_rsp_result(r, i, &res);
		if (!vgpu_sess_range_ok(res.out_off, res.out_len, h->out_len))
			return fail(why, -EBADMSG, "result %u: output past the output section", i);
	}
	return 0;
}

/* ---- the device record -------------------------------------------------- */

/* The record's u32 fields from offset 4 on, in wire order (protocol.rst). */
#define DEVINFO_U32S(p) \
	&(p)->flags, &(p)->cc_major, &(p)->cc_minor, &(p)->multiprocessors, &(p)->warp_size

void vgpu_sess_devinfo_encode(const struct vgpu_device_props *p,
			      uint8_t buf[VGPU_SESS_DEVINFO_SIZE])
{
	const uint32_t *head[] = { DEVINFO_U32S(p) };
	const uint32_t *mid[] = {
		&p->handle_quota, &p->handles_used, &p->clock_khz, &p->mem_clock_khz,
		&p->mem_bus_width, &p->l2_bytes, &p->max_threads_per_block,
		&p->max_block[0], &p->max_block[1], &p->max_block[2],
		&p->max_grid[0], &p->max_grid[1], &p->max_grid[2],
		&p->shared_per_block, &p->shared_per_block_optin, &p->shared_per_sm,
		&p->regs_per_block, &p->regs_per_sm, &p->max_threads_per_sm,
		&p->max_blocks_per_sm, &p->const_bytes, &p->time_limit_ms, &p->epoch,
	};
	size_t n;

	memset(buf, 0, VGPU_SESS_DEVINFO_SIZE);
	put32(buf, 0, VGPU_SESS_DEVINFO_SIZE);
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		put32(buf, 4 + 4 * i, *head[i]);
	put64(buf, 24, p->total_mem);
	put64(buf, 32, p->mem_used);
	put64(buf, 40, p->module_quota);
	put64(buf, 48, p->module_used);
	for (size_t i = 0; i < sizeof(mid) / sizeof(mid[0]); i++)
		put32(buf, 56 + 4 * i, *mid[i]);
	put64(buf, 152, p->lists_run);
	memcpy(buf + 160, p->uuid, 16);
	n = strnlen(p->name, sizeof(p->name) - 1);
	for (size_t i = 0; i < n; i++)	/* printable ASCII, NUL-terminated */
		buf[176 + i] = p->name[i] >= ' ' && p->name[i] <= '~' ? (uint8_t)p->name[i] : '?';
}

int vgpu_sess_devinfo_decode(const void *data, uint64_t len, struct vgpu_device_props *p)
{
	const uint8_t *buf = data;
	struct vgpu_device_props d = { .argsz = sizeof(d) };
	uint32_t *head[] = { DEVINFO_U32S(&d) };
	uint32_t *mid[] = {
		&d.handle_quota, &d.handles_used, &d.clock_khz, &d.mem_clock_khz,
		&d.mem_bus_width, &d.l2_bytes, &d.max_threads_per_block,
		&d.max_block[0], &d.max_block[1], &d.max_block[2],
		&d.max_grid[0], &d.max_grid[1], &d.max_grid[2],
		&d.shared_per_block, &d.shared_per_block_optin, &d.shared_per_sm,
		&d.regs_per_block, &d.regs_per_sm, &d.max_threads_per_sm,
		&d.max_blocks_per_sm, &d.const_bytes, &d.time_limit_ms, &d.epoch,
	};
	uint32_t argsz = p->argsz;

	if (len < VGPU_SESS_DEVINFO_MIN || get32(buf, 0) < VGPU_SESS_DEVINFO_MIN ||
	    get32(buf, 0) > len)
		return -EBADMSG;
	for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
		*head[i] = get32(buf, 4 + 4 * i);
	d.total_mem = get64(buf, 24);
	d.mem_used = get64(buf, 32);
	d.module_quota = get64(buf, 40);
	d.module_used = get64(buf, 48);
	for (size_t i = 0; i < sizeof(mid) / sizeof(mid[0]); i++)
		*mid[i] = get32(buf, 56 + 4 * i);
	d.lists_run = get64(buf, 152);
	memcpy(d.uuid, buf + 160, 16);
	for (size_t i = 0; i < sizeof(d.name) - 1 && buf[176 + i]; i++)
		d.name[i] = buf[176 + i] >= ' ' && buf[176 + i] <= '~' ? (char)buf[176 + i] : '?';
	/* the caller's struct may be an older, shorter one */
	if (argsz > sizeof(d))
		argsz = sizeof(d);
	d.argsz = p->argsz;
	memcpy(p, &d, argsz);
	return 0;
}
