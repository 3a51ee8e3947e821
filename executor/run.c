// SPDX-License-Identifier: MIT
/*
 * vgpu-executor: the session state of one VM and the list runner. A list
 * is checked whole by vgpu_sess_parse() (lib/session.c); then each command
 * resolves its references (result slots of this list, or handles of this
 * executor's epoch), checks its ranges against the buffers and its cost
 * against the VM's quotas, and calls the backend. The first failure stops
 * the list. Protocol.rst "Sessions (version 2)" is the specification of what a list
 * does; executor.rst says how the process runs. Main thread only.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "executor.h"
#include "vgpu/ops.h"

int xbuf_reserve(struct xbuf *b, size_t n)
{
	size_t cap = b->cap ? b->cap : 4096;
	uint8_t *p;

	if (n > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	while (cap - b->len < n)
		cap *= 2;
	if (cap != b->cap) {
		p = realloc(b->p, cap);
		if (!p)
			return -ENOMEM;
		b->p = p;
		b->cap = cap;
	}
	return 0;
}

/* @n more bytes at the end, not cleared: the caller writes all of them. */
static uint8_t *xbuf_grow_raw(struct xbuf *b, size_t n)
{
	uint8_t *p;

	if (xbuf_reserve(b, n))
		return NULL;
	p = b->p + b->len;
	b->len += n;
	return p;
}

uint8_t *xbuf_grow(struct xbuf *b, size_t n)
{
	uint8_t *p = xbuf_grow_raw(b, n);

	if (p)
		memset(p, 0, n);
	return p;
}

void xbuf_free(struct xbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}

static int fail(char *msg, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *msg, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, VGPU_SESS_MSG_LEN, fmt, ap);
	va_end(ap);
	return err;
}

/* ---- the handle table --------------------------------------------------- */

static struct xentry *find(struct xstate *s, uint32_t serial)
{
	uint32_t lo = 0, hi = s->nent;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (s->ent[mid].serial == serial)
			return &s->ent[mid];
		if (s->ent[mid].serial < serial)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* A new entry (serials only grow, so appending keeps the table sorted). */
static struct xentry *add(struct xstate *s, uint8_t kind, uint64_t size, char *msg)
{
	struct xentry *e;

	if (s->nent >= s->handle_quota) {
		fail(msg, -ENOMEM, "over the VM's handle quota (%" PRIu32 " handles)",
		     s->handle_quota);
		return NULL;
	}
	if (s->next_serial == UINT32_MAX) {
		fail(msg, -ENOMEM, "handle serials of this session used up");
		return NULL;
	}
	if (s->nent == s->cap) {
		uint32_t cap = s->cap ? s->cap * 2 : 64;

		e = realloc(s->ent, cap * sizeof(*e));
		if (!e) {
			fail(msg, -ENOMEM, "out of host memory for the handle table");
			return NULL;
		}
		s->ent = e;
		s->cap = cap;
	}
	e = &s->ent[s->nent++];
	memset(e, 0, sizeof(*e));
	e->serial = ++s->next_serial;
	e->kind = kind;
	e->size = size;
	return e;
}

static uint64_t handle_of(const struct xstate *s, const struct xentry *e)
{
	return (uint64_t)(s->epoch & 0x7fffffffu) << 32 | e->serial;
}

static void drop(struct xstate *s, struct xentry *e)
{
	uint32_t serial = e->serial;

	if (e->kind == VGPU_SESS_MODULE_LOAD) {
		s->mem_used -= e->size;
		s->module_used -= e->size;
		s->be->module_unload(e->mod);
	} else if (e->kind == VGPU_SESS_ALLOC) {
		s->mem_used -= e->size;
		s->be->free(e->addr);
	}
	memmove(e, e + 1, (size_t)(s->ent + s->nent - (e + 1)) * sizeof(*e));
	s->nent--;
	/* a module's globals go with it (they come after it: serials grow) */
	for (uint32_t i = 0; i < s->nent; ) {
		if (s->ent[i].kind == VGPU_SESS_MODULE_GLOBAL && s->ent[i].parent == serial)
			drop(s, &s->ent[i]);
		else
			i++;
	}
}

void x_reset(struct xstate *s)
{
	while (s->nent)
		drop(s, &s->ent[s->nent - 1]);
	free(s->ent);
	s->ent = NULL;
	s->cap = 0;
}

static int charge(struct xstate *s, uint64_t bytes, bool module, const char *what, char *msg)
{
	if (bytes > s->mem_quota - s->mem_used)
		return fail(msg, -ENOMEM, "%s: over the VM's device memory quota (%" PRIu64
			    " used + %" PRIu64 " > %" PRIu64 " bytes)", what, s->mem_used, bytes,
			    s->mem_quota);
	if (module && bytes > s->module_quota - s->module_used)
		return fail(msg, -ENOMEM, "%s: over the VM's module quota (%" PRIu64 " used + %"
			    PRIu64 " > %" PRIu64 " bytes)", what, s->module_used, bytes,
			    s->module_quota);
	return 0;
}

/* Resolve reference @ref of a command to a live entry of @kind. */
static int lookup(struct xstate *s, const uint64_t *slots, uint64_t ref, uint8_t kind,
		  const char *what, struct xentry **ep, char *msg)
{
	uint64_t h = VGPU_SESS_IS_SLOT(ref) ? slots[(uint32_t)ref] : ref;
	struct xentry *e;

	if (VGPU_SESS_HANDLE_EPOCH(h) != (s->epoch & 0x7fffffffu))
		return fail(msg, -ESTALE, "%s: handle 0x%" PRIx64 " is of another session "
			    "(epoch %" PRIu32 "; this is %" PRIu32 ")", what, h,
			    VGPU_SESS_HANDLE_EPOCH(h), s->epoch);
	e = find(s, (uint32_t)h);
	if (!e)
		return fail(msg, -EBADF, "%s: no handle 0x%" PRIx64 " (never made or freed)",
			    what, h);
	if (e->kind != kind && !(kind == VGPU_SESS_ALLOC && e->kind == VGPU_SESS_MODULE_GLOBAL))
		return fail(msg, -EBADF, "%s: handle 0x%" PRIx64 " is a %s, not a %s", what, h,
			    e->kind == VGPU_SESS_MODULE_LOAD ? "module" : "buffer",
			    kind == VGPU_SESS_ALLOC ? "buffer" : "module");
	*ep = e;
	return 0;
}

/* A buffer reference and a range in it. */
static int buffer_range(struct xstate *s, const uint64_t *slots, uint64_t ref, uint64_t off,
			uint64_t len, const char *what, uint64_t *addr, char *msg)
{
	struct xentry *e;
	int err = lookup(s, slots, ref, VGPU_SESS_ALLOC, what, &e, msg);

	if (err)
		return err;
	if (!vgpu_sess_range_ok(off, len, e->size))
		return fail(msg, -ERANGE, "%s: [%" PRIu64 ", +%" PRIu64 ") past the end of a %"
			    PRIu64 "-byte buffer", what, off, len, e->size);
	*addr = e->addr + off;
	return 0;
}

/* ---- commands ----------------------------------------------------------- */

/*
 * The response is built in one buffer, @out: room for the header and a
 * result per command of the list first (@base bytes), then the output
 * section, which commands' outputs are written straight into. If fewer
 * commands ran than the list holds, the section moves down to follow the
 * results that did (a failed list); the log goes last. A 256 MiB copy
 * back is so written once, not grown, cleared and copied again.
 */
struct xrun {
	struct xstate *s;
	uint64_t *slots;		/* handle made by each command, 0 if none */
	struct xbuf out;		/* the response being built */
	uint64_t base;			/* where the output section starts in it */
	uint64_t out_max;		/* bytes the output section may grow to */
	uint64_t t_list;		/* session clock ns at list_begin */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void x_init(struct xstate *s)
{
	s->clock0 = now_ns();
}

/*
 * Room for @len output bytes at an 8-byte boundary of the output section,
 * not cleared: the command writes all of them, or fails and the runner
 * cuts the section back. NULL with -ENOBUFS or -ENOMEM.
 */
static uint8_t *out_room(struct xrun *r, uint64_t len, struct vgpu_sess_result *res, char *msg)
{
	uint64_t used = r->out.len - r->base, at = (used + 7) & ~7ull;
	uint8_t *p;

	if (at > r->out_max || len > r->out_max - at) {
		fail(msg, -ENOBUFS, "output of %" PRIu64 " bytes does not fit out_len", len);
		return NULL;
	}
	if (!xbuf_grow(&r->out, (size_t)(at - used)) || !(p = xbuf_grow_raw(&r->out, len))) {
		fail(msg, -ENOMEM, "out of host memory for %" PRIu64 " output bytes", len);
		return NULL;
	}
	res->out_off = at;
	res->out_len = len;
	return p;
}

static int cmd_op(struct xrun *r, const struct vgpu_sess_cmd *c, char *msg)
{
	struct xstate *s = r->s;
	const struct vgpu_op_info *info = vgpu_op_get(c->op);
	struct vgpu_job_desc d = { .op = c->op };
	uint64_t addr[3] = { 0, 0, 0 }, bytes[3], at = 0;
	uint8_t *in = NULL, *out = NULL;
	int err;

	memcpy(d.args, c->args, sizeof(d.args));
	err = vgpu_op_sizes(c->op, c->args, &d.in_len, &d.out_len, msg);
	for (unsigned int k = 0; !err && k < 3; k++) {
		const struct vgpu_op_array *a = k < 2 ? &info->in[k] : &info->out;

		if (k < 2 ? k >= info->nin : a->elem == VGPU_ELEM_NONE)
			continue;
		bytes[k] = vgpu_op_array_bytes(a, c->args);
		err = buffer_range(s, r->slots, c->ref[k], c->off[k], bytes[k],
				   k == 2 ? "op output" : "op input", &addr[k], msg);
	}
	if (err)
		return err;
	in = malloc(d.in_len ? d.in_len : 1);
	out = malloc(d.out_len ? d.out_len : 1);
	if (!in || !out) {
		err = fail(msg, -ENOMEM, "op %s: out of host memory", info->name);
		goto out;
	}
	/* staged through host memory: the CPU reference computes */
	for (unsigned int k = 0; k < info->nin; k++) {
		err = s->be->d2h(in + at, addr[k], bytes[k], msg);
		if (err)
			goto out;
		at += bytes[k];
	}
	err = vgpu_cpu_compute(&d, in, out, msg);
	if (!err && d.out_len)
		err = s->be->h2d(addr[2], out, d.out_len, msg);
out:
	free(in);
	free(out);
	return err;
}

static int cmd_launch(struct xrun *r, const struct vgpu_sess_cmd *c, char *msg)
{
	struct xstate *s = r->s;
	uint8_t params[VGPU_SESS_PARAMS_MAX + 8];
	struct xentry *m, *b;
	int err;

	err = lookup(s, r->slots, c->ref[0], VGPU_SESS_MODULE_LOAD, "launch", &m, msg);
	if (err)
		return err;
	if (c->data_len)
		memcpy(params, c->data, c->data_len);
	for (uint32_t k = 0; k < c->npatches; k++) {
		struct vgpu_sess_patch pt;
		uint64_t a;

		vgpu_sess_patch_get(c, k, &pt);
		err = lookup(s, r->slots, pt.ref, VGPU_SESS_ALLOC, "launch patch", &b, msg);
		if (err)
			return err;
		if (pt.off > b->size)
			return fail(msg, -ERANGE, "launch patch %" PRIu32 ": offset %" PRIu64
				    " past a %" PRIu64 "-byte buffer", k, pt.off, b->size);
		a = htole64(b->addr + pt.off);
		memcpy(params + pt.param_off, &a, 8);
	}
	return s->be->launch(m->mod, c, params, msg);
}

static int cmd_device_info(struct xstate *s, uint8_t *out, char *msg)
{
	struct vgpu_device_props p = { .argsz = sizeof(p) };
	int err = s->be->props(&p, msg);

	if (err)
		return err;
	if (s->sm_percent && s->sm_percent < 100 && p.multiprocessors)
		p.multiprocessors = (p.multiprocessors * s->sm_percent + 99) / 100;
	if (p.total_mem > s->mem_quota || !p.total_mem)
		p.total_mem = s->mem_quota;
	p.mem_used = s->mem_used;
	p.module_quota = s->module_quota;
	p.module_used = s->module_used;
	p.handle_quota = s->handle_quota;
	p.handles_used = s->nent;
	p.time_limit_ms = s->time_limit_ms;
	p.epoch = s->epoch;
	p.lists_run = s->lists_run;
	vgpu_sess_devinfo_encode(&p, out);
	return 0;
}

static int cmd_module_global(struct xrun *r, const struct vgpu_sess_cmd *c,
			     struct vgpu_sess_result *res, char *msg)
{
	struct xstate *s = r->s;
	char name[VGPU_SESS_NAME_MAX + 1];
	uint64_t addr, size, h;
	struct xentry *m, *e = NULL;
	uint8_t *p;
	int err;

	if ((err = lookup(s, r->slots, c->ref[0], VGPU_SESS_MODULE_LOAD, "module_global", &m,
			  msg)))
		return err;
	if (!s->be->module_global)
		return fail(msg, -EOPNOTSUPP, "module_global: the %s backend runs no GPU "
			    "modules", s->be->name);
	memcpy(name, c->name, c->name_len);
	name[c->name_len] = '\0';
	if ((err = s->be->module_global(m->mod, name, &addr, &size, msg)))
		return err;
	/* the same variable again: its handle (a loop asking must not leak) */
	for (uint32_t i = 0; i < s->nent && !e; i++)
		if (s->ent[i].kind == VGPU_SESS_MODULE_GLOBAL && s->ent[i].parent == m->serial &&
		    s->ent[i].addr == addr)
			e = &s->ent[i];
	if (!e) {
		uint32_t parent = m->serial;	/* add() may move the table */

		if (!(e = add(s, VGPU_SESS_MODULE_GLOBAL, size, msg)))
			return -ENOMEM;
		e->parent = parent;
		e->addr = addr;
	}
	h = handle_of(s, e);
	if (!(p = out_room(r, 8, res, msg)))
		return -ENOBUFS;
	size = htole64(e->size);
	memcpy(p, &size, 8);
	res->value = r->slots[c->index] = h;
	return 0;
}

static int run_cmd(struct xrun *r, const struct vgpu_sess_cmd *c, struct vgpu_sess_result *res,
		   char *msg)
{
	struct xstate *s = r->s;
	const char *name = vgpu_sess_code_name(c->code);
	uint64_t dst, src;
	struct xentry *e;
	uint8_t *p;
	int err;

	switch (c->code) {
	case VGPU_SESS_ALLOC:
		if ((err = charge(s, c->len, false, name, msg)))
			return err;
		if (!(e = add(s, VGPU_SESS_ALLOC, c->len, msg)))
			return -ENOMEM;
		err = s->be->alloc(c->len, &e->addr, msg);
		if (err) {
			s->nent--;
			return err;
		}
		s->mem_used += c->len;
		res->value = r->slots[c->index] = handle_of(s, e);
		return 0;
	case VGPU_SESS_FREE:
		if ((err = lookup(s, r->slots, c->ref[0], VGPU_SESS_ALLOC, name, &e, msg)))
			return err;
		if (e->kind == VGPU_SESS_MODULE_GLOBAL)
			return fail(msg, -EINVAL, "free: handle 0x%" PRIx64 " is a module's "
				    "global; it lives as long as its module", handle_of(s, e));
		drop(s, e);
		return 0;
	case VGPU_SESS_MEMSET:
		if ((err = buffer_range(s, r->slots, c->ref[0], c->off[0], c->len, name, &dst, msg)))
			return err;
		return c->len ? s->be->memset(dst, (uint8_t)c->value, c->len, msg) : 0;
	case VGPU_SESS_COPY_H2D:
		if ((err = buffer_range(s, r->slots, c->ref[0], c->off[0], c->len, name, &dst, msg)))
			return err;
		return c->len ? s->be->h2d(dst, c->data, c->len, msg) : 0;
	case VGPU_SESS_COPY_D2H:
		if ((err = buffer_range(s, r->slots, c->ref[0], c->off[0], c->len, name, &src, msg)))
			return err;
		if (!(p = out_room(r, c->len, res, msg)))
			return -ENOBUFS;
		return c->len ? s->be->d2h(p, src, c->len, msg) : 0;
	case VGPU_SESS_COPY_D2D:
		if ((err = buffer_range(s, r->slots, c->ref[0], c->off[0], c->len, "copy_d2d dst",
					&dst, msg)) ||
		    (err = buffer_range(s, r->slots, c->ref[1], c->off[1], c->len, "copy_d2d src",
					&src, msg)))
			return err;
		if (!c->len || dst == src)
			return 0;
		if (dst < src + c->len && src < dst + c->len) {
			/* overlapping: memmove through host memory */
			uint8_t *tmp = malloc(c->len);

			if (!tmp)
				return fail(msg, -ENOMEM, "copy_d2d: out of host memory");
			err = s->be->d2h(tmp, src, c->len, msg);
			if (!err)
				err = s->be->h2d(dst, tmp, c->len, msg);
			free(tmp);
			return err;
		}
		return s->be->d2d(dst, src, c->len, msg);
	case VGPU_SESS_MODULE_LOAD:
		if (!s->be->module_load)
			return fail(msg, -EOPNOTSUPP, "module_load: the %s backend runs no GPU "
				    "modules", s->be->name);
		if ((err = charge(s, c->data_len, true, name, msg)))
			return err;
		if (!(e = add(s, VGPU_SESS_MODULE_LOAD, c->data_len, msg)))
			return -ENOMEM;
		err = s->be->module_load(c->data, c->data_len, &e->mod, msg);
		if (err) {
			s->nent--;
			return err;
		}
		s->mem_used += c->data_len;
		s->module_used += c->data_len;
		res->value = r->slots[c->index] = handle_of(s, e);
		return 0;
	case VGPU_SESS_MODULE_UNLOAD:
		if ((err = lookup(s, r->slots, c->ref[0], VGPU_SESS_MODULE_LOAD, name, &e, msg)))
			return err;
		drop(s, e);
		return 0;
	case VGPU_SESS_MODULE_DESCRIBE: {
		struct xbuf tmp = { 0 };

		if ((err = lookup(s, r->slots, c->ref[0], VGPU_SESS_MODULE_LOAD, name, &e, msg)))
			return err;
		err = s->be->module_describe(e->mod, &tmp, msg);
		if (!err && !(p = out_room(r, tmp.len, res, msg)))
			err = -ENOBUFS;
		if (!err && tmp.len)
			memcpy(p, tmp.p, tmp.len);
		xbuf_free(&tmp);
		return err;
	}
	case VGPU_SESS_LAUNCH:
		return cmd_launch(r, c, msg);
	case VGPU_SESS_OP:
		return cmd_op(r, c, msg);
	case VGPU_SESS_TIMESTAMP:
		if ((err = s->be->timestamp(&res->value, msg)))
			return err;
		res->value += r->t_list;	/* on the session's clock */
		return 0;
	case VGPU_SESS_DEVICE_INFO:
		if (!(p = out_room(r, VGPU_SESS_DEVINFO_SIZE, res, msg)))
			return -ENOBUFS;
		return cmd_device_info(s, p, msg);
	case VGPU_SESS_MODULE_GLOBAL:
		return cmd_module_global(r, c, res, msg);
	case VGPU_SESS_TEST_CRASH:
		if (!s->test_cmds)
			return fail(msg, -EPERM, "test_crash: test commands are off");
		signal(SIGSEGV, SIG_DFL);
		raise(SIGSEGV);
		raise(SIGKILL);		/* if a sanitizer kept SIGSEGV */
		return -EIO;
	case VGPU_SESS_TEST_HANG:
		if (!s->test_cmds)
			return fail(msg, -EPERM, "test_hang: test commands are off");
		for (;;)
			pause();
	case VGPU_SESS_TEST_KICK:
		if (!s->test_cmds)
			return fail(msg, -EPERM, "test_kick: test commands are off");
		s->kick_after = true;
		return 0;
	default:
		return fail(msg, -EBADRQC, "unknown command code %u", c->code);
	}
}

static void set_msg(struct vgpu_sess_rsp_hdr *h, uint32_t i, const char *name, const char *why)
{
	char *m = h->msg;

	if (i == VGPU_SESS_NONE)
		snprintf(m, VGPU_SESS_MSG_LEN, "list: %s", why);
	else if (!name)		/* the checker's reason names the command already */
		snprintf(m, VGPU_SESS_MSG_LEN, "command %" PRIu32 ": %s", i, why);
	else
		snprintf(m, VGPU_SESS_MSG_LEN, "command %" PRIu32 " (%s): %s", i, name, why);
	for (; *m; m++)		/* printable ASCII, as the protocol promises */
		if (*m < ' ' || *m > '~')
			*m = '?';
}

int x_run(struct xstate *s, const uint8_t *list, uint64_t len, uint64_t rsp_max,
	  size_t (*drain)(char *buf, size_t max, bool *trunc), struct xbuf *rsp,
	  struct vgpu_sess_rsp_hdr *h)
{
	struct vgpu_sess_result *res = NULL;
	struct vgpu_sess_cmd *cmds = NULL;
	struct xrun r = { .s = s };
	char why[VGPU_SESS_MSG_LEN] = "";
	uint32_t ncmds = 0, failed;
	uint64_t fixed, known = 0, out_len;
	size_t log_len = 0, log_max;
	bool trunc = false;
	uint8_t *p;
	int err;

	/* built in @rsp's buffer, which the caller may keep from list to list */
	r.out = *rsp;
	r.out.len = 0;
	memset(rsp, 0, sizeof(*rsp));
	memset(h, 0, sizeof(*h));
	h->magic = VGPU_SESS_RSP_MAGIC;
	h->hdr_size = VGPU_SESS_RSP_HDR_SIZE;
	h->epoch = s->epoch;
	h->failed = VGPU_SESS_NONE;

	err = vgpu_sess_parse(list, len, &cmds, &ncmds, &failed, why);
	if (err) {
		/* nothing ran; failed < the header's ncmds when it names a command */
		if (failed != VGPU_SESS_NONE) {
			memcpy(&h->ncmds, list + 8, 4);
			h->ncmds = le32toh(h->ncmds);
		}
		h->failed = failed;
		h->status = err;
		set_msg(h, failed, NULL, why);
		goto respond;
	}
	h->ncmds = ncmds;
	fixed = VGPU_SESS_RSP_HDR_SIZE + (uint64_t)ncmds * VGPU_SESS_RESULT_SIZE;
	if (rsp_max < fixed) {
		h->status = fail(why, -ENOBUFS, "out_len %" PRIu64 " < %" PRIu64 " bytes for the "
				 "results of %" PRIu32 " commands", rsp_max, fixed, ncmds);
		set_msg(h, VGPU_SESS_NONE, "", why);
		goto respond;
	}
	r.out_max = rsp_max - fixed;
	res = calloc(ncmds ? ncmds : 1, sizeof(*res));
	r.slots = calloc(ncmds ? ncmds : 1, sizeof(*r.slots));
	if (!res || !r.slots || !xbuf_grow(&r.out, (size_t)fixed)) {
		err = -ENOMEM;
		goto out;
	}
	r.base = fixed;
	/* the outputs the list announces, in one allocation (best effort);
	 * the lengths are the guest's: summed no further than out_max */
	for (uint32_t i = 0; i < ncmds && known < r.out_max; i++) {
		uint64_t n = cmds[i].code == VGPU_SESS_COPY_D2H ? cmds[i].len :
			     cmds[i].code == VGPU_SESS_DEVICE_INFO ? VGPU_SESS_DEVINFO_SIZE :
			     cmds[i].code == VGPU_SESS_MODULE_GLOBAL ? 8 : 0;

		known = n > r.out_max - known ? r.out_max : known + ((n + 7) & ~7ull);
	}
	(void)xbuf_reserve(&r.out, (size_t)(known < r.out_max ? known : r.out_max) +
			   VGPU_SESS_LOG_MAX);
	s->lists_run++;
	r.t_list = now_ns() - s->clock0;
	err = s->be->list_begin(why);
	if (err) {
		h->status = err;
		set_msg(h, VGPU_SESS_NONE, "", why);
		goto respond;
	}
	for (uint32_t i = 0; i < ncmds; i++) {
		size_t mark = r.out.len;

		res[i].code = cmds[i].code;
		err = run_cmd(&r, &cmds[i], &res[i], why);
		h->nrun = i + 1;
		if (err) {
			r.out.len = mark;	/* what a failed command wrote, or not */
			res[i].status = err;
			res[i].out_off = res[i].out_len = 0;
			h->failed = i;
			h->status = err;
			set_msg(h, i, vgpu_sess_code_name(cmds[i].code), why);
			break;
		}
	}
	if (!h->status && (err = s->be->list_end(why))) {
		/* an asynchronous failure: the last command that ran gets it */
		h->status = err;
		if (h->nrun) {
			h->failed = h->nrun - 1;
			res[h->failed].status = err;
			set_msg(h, h->failed, vgpu_sess_code_name(cmds[h->failed].code), why);
		} else {
			set_msg(h, VGPU_SESS_NONE, "", why);
		}
	}
	if (!h->status)
		snprintf(h->msg, VGPU_SESS_MSG_LEN, "ok");

respond:
	if (!r.base) {		/* refused before anything was reserved: the header alone */
		r.out.len = 0;
		if (!xbuf_grow(&r.out, VGPU_SESS_RSP_HDR_SIZE)) {
			err = -ENOMEM;
			goto out;
		}
		r.base = VGPU_SESS_RSP_HDR_SIZE;
	}
	out_len = r.out.len - r.base;
	h->out_len = out_len;
	fixed = VGPU_SESS_RSP_HDR_SIZE + (uint64_t)h->nrun * VGPU_SESS_RESULT_SIZE;
	if (fixed != r.base)	/* fewer ran than the list holds: the outputs follow theirs */
		memmove(r.out.p + fixed, r.out.p + r.base, (size_t)out_len);
	fixed += out_len;
	r.out.len = (size_t)fixed;
	log_max = rsp_max > fixed ? (size_t)(rsp_max - fixed < VGPU_SESS_LOG_MAX ?
					     rsp_max - fixed : VGPU_SESS_LOG_MAX) : 0;
	if (!xbuf_grow(&r.out, VGPU_SESS_LOG_MAX)) {
		err = -ENOMEM;
		goto out;
	}
	p = r.out.p;
	log_len = drain((char *)p + fixed, log_max, &trunc);
	r.out.len = (size_t)fixed + log_len;
	h->log_len = (uint32_t)log_len;
	h->flags = trunc ? VGPU_SESS_RSP_F_LOG_TRUNCATED : 0;
	vgpu_sess_rsp_encode(h, p);
	err = 0;
	for (uint32_t i = 0; i < h->nrun; i++)
		vgpu_sess_result_encode(&res[i], p + VGPU_SESS_RSP_HDR_SIZE +
					(size_t)i * VGPU_SESS_RESULT_SIZE);
	*rsp = r.out;		/* the response is the buffer it was built in */
	memset(&r.out, 0, sizeof(r.out));
out:
	free(cmds);
	free(res);
	free(r.slots);
	xbuf_free(&r.out);
	return err;
}
