/* SPDX-License-Identifier: MIT */
/*
 * vgpu-executor's inside: the session state of one VM (handle table,
 * quotas), the list runner (run.c) and the backend interface that the CPU
 * (backend_cpu.c) and CUDA (backend_cuda.c) backends implement. One
 * thread: the executor's main loop (main.c) calls everything here.
 * Documentation/executor.rst describes the process.
 */
#ifndef VGPU_EXECUTOR_H
#define VGPU_EXECUTOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/session.h"
#include "vgpu/vgpu.h"

/* A growable byte buffer (output section, response). */
struct xbuf {
	uint8_t *p;
	size_t len, cap;
};
/* Make room for @n more bytes at the end (zeroed); NULL if out of memory. */
uint8_t *xbuf_grow(struct xbuf *b, size_t n);
/* Capacity for @n more bytes, the length unchanged; 0 or -ENOMEM. */
int xbuf_reserve(struct xbuf *b, size_t n);
void xbuf_free(struct xbuf *b);

/*
 * A backend: device memory as u64 addresses, modules as opaque pointers.
 * Every call returns 0 or -errno with a reason in @msg
 * (VGPU_SESS_MSG_LEN). A backend that loses its context (a kernel fault)
 * sets *lost: the executor answers the list and exits. NULL module calls:
 * the backend runs no modules (-EOPNOTSUPP).
 */
struct xbackend {
	const char *name;
	int (*init)(int device, char name[64], char *msg);
	int (*alloc)(uint64_t size, uint64_t *addr, char *msg);
	void (*free)(uint64_t addr);
	int (*memset)(uint64_t addr, uint8_t value, uint64_t len, char *msg);
	int (*h2d)(uint64_t dst, const void *src, uint64_t len, char *msg);
	int (*d2h)(void *dst, uint64_t src, uint64_t len, char *msg);
	int (*d2d)(uint64_t dst, uint64_t src, uint64_t len, char *msg);	/* no overlap */
	int (*module_load)(const void *image, uint64_t len, void **mod, char *msg);
	void (*module_unload)(void *mod);
	/* Append the kernel records of protocol.rst to @out. */
	int (*module_describe)(void *mod, struct xbuf *out, char *msg);
	/* The address and size of global @name (NUL-terminated) of @mod. */
	int (*module_global)(void *mod, const char *name, uint64_t *addr, uint64_t *size,
			     char *msg);
	/* The device's fields of @p (name .. const_bytes; flags); the
	 * session's are the executor's to fill. */
	int (*props)(struct vgpu_device_props *p, char *msg);
	/* Launch and wait for it; @params are c->data_len bytes, patched. */
	int (*launch)(void *mod, const struct vgpu_sess_cmd *c, void *params, char *msg);
	int (*list_begin)(char *msg);
	/* When the device reaches it, in ns since list_begin (the runner
	 * adds where list_begin was on the session clock) */
	int (*timestamp)(uint64_t *ns, char *msg);
	int (*list_end)(char *msg);			/* wait for the device */
	bool *lost;
};

extern const struct xbackend xbackend_cpu;
#ifdef VGPU_EXECUTOR_CUDA
extern const struct xbackend xbackend_cuda;
#endif

/*
 * A live handle: a buffer (ALLOC), a module (MODULE_LOAD), or a module's
 * global variable (MODULE_GLOBAL), which is a buffer that its module's
 * image already paid for and that dies with it.
 */
struct xentry {
	uint32_t serial;		/* the handle's low 32 bits; never reused */
	uint32_t parent;		/* MODULE_GLOBAL: its module's serial */
	uint8_t kind;			/* VGPU_SESS_ALLOC, _MODULE_LOAD, _MODULE_GLOBAL */
	uint64_t size;			/* bytes: charged (ALLOC, MODULE_LOAD) or seen */
	uint64_t addr;			/* buffer, global */
	void *mod;			/* module */
};

/* One VM's session: what its lists build on. */
struct xstate {
	const struct xbackend *be;
	uint32_t epoch;
	bool test_cmds;
	bool kick_after;			/* test_kick ran: KICK once answered */
	uint64_t mem_quota, mem_used;		/* bytes: buffers + module images */
	uint64_t module_quota, module_used;	/* bytes of module images */
	uint32_t handle_quota;
	uint32_t time_limit_ms;			/* the mediator's limit of one list */
	uint32_t sm_percent;			/* of the device's SMs (MPS), 1..100 */
	uint64_t lists_run;			/* lists this session has run */
	uint64_t clock0;			/* CLOCK_MONOTONIC ns when it started */
	struct xentry *ent;			/* sorted by serial */
	uint32_t nent, cap;
	uint32_t next_serial;
};

/*
 * Run the list of @len bytes and build its session response (at most
 * @rsp_max bytes) into @rsp; @drain, called after the list, copies device
 * text into its buffer (at most @max bytes) and returns how many, setting
 * *@trunc if there was more. Returns 0 when @rsp holds the response (its
 * status, 0 or the failing command's, is h->status), or -ENOMEM when no
 * response could be built (host memory). @rsp's buffer, if it has one, is
 * reused (what it held is gone): a caller keeps it from list to list.
 */
int x_run(struct xstate *s, const uint8_t *list, uint64_t len, uint64_t rsp_max,
	  size_t (*drain)(char *buf, size_t max, bool *trunc), struct xbuf *rsp,
	  struct vgpu_sess_rsp_hdr *h);

/* Start @s's session clock (before its first list). */
void x_init(struct xstate *s);

/* Free every handle (the backend's resources with them). */
void x_reset(struct xstate *s);

#endif /* VGPU_EXECUTOR_H */
