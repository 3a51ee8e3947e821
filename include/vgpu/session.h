/* SPDX-License-Identifier: MIT */
/*
 * vgpu spool protocol, version 2: the session job. A request with op
 * VGPU_OP_SESSION carries a command list (allocate, copy, load a module,
 * launch, ...) that a per-VM executor runs on that VM's device state; its
 * response carries one result per command that ran, the bytes copied back,
 * and the device's printf/assert text. This header holds the wire layout,
 * the native form of a decoded command, and the codec and validator of
 * lib/session.c, which every party (executor, mediator, clients, tests)
 * uses. The specification is Documentation/protocol.rst, "Sessions (version 2)";
 * keep the two in step.
 *
 * Every wire field is little-endian at a fixed offset (given in the
 * comments); the codec reads and writes bytes, never these structs'
 * memory, so host layout does not matter. No state: any thread.
 */
#ifndef VGPU_SESSION_H
#define VGPU_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "vgpu/proto.h"

#define VGPU_PROTO_VERSION_SESSION	2	/* request/response version of op session */
/* VGPU_OP_SESSION, the op number of a session job, is the guest ABI's (misc/vgpu.h). */

#define VGPU_SESS_LIST_MAGIC	0x4c534756u	/* "VGSL" */
#define VGPU_SESS_RSP_MAGIC	0x52534756u	/* "VGSR" */
#define VGPU_SESS_LIST_HDR_SIZE	32	/* bytes */
#define VGPU_SESS_CMD_HDR_SIZE	16	/* bytes */
#define VGPU_SESS_RSP_HDR_SIZE	176	/* bytes */
#define VGPU_SESS_RESULT_SIZE	32	/* bytes per command that ran */
#define VGPU_SESS_MSG_LEN	128	/* session message incl. NUL */

/* Limits of one list (protocol.rst, "Sessions (version 2)"). */
#define VGPU_SESS_MAX_CMDS	4096		/* commands per list */
#define VGPU_SESS_ALLOC_MAX	(1ull << 40)	/* bytes of one allocation */
#define VGPU_SESS_PARAMS_MAX	32764		/* launch parameter bytes (CUDA 12.1+) */
#define VGPU_SESS_NAME_MAX	4096		/* kernel name bytes */
#define VGPU_SESS_PATCHES_MAX	512		/* pointer patches of one launch */
#define VGPU_SESS_LOG_MAX	(64u << 10)	/* captured device text per response */

#define VGPU_SESS_NONE		0xffffffffu	/* "failed": no command failed */

/* References: a handle, or the result of an earlier command of the list. */
#define VGPU_SESS_SLOT_BIT	(1ull << 63)
#define VGPU_SESS_SLOT(i)	(VGPU_SESS_SLOT_BIT | (uint64_t)(uint32_t)(i))
#define VGPU_SESS_IS_SLOT(r)	(((r) & VGPU_SESS_SLOT_BIT) != 0)
/* A handle: epoch in bits 62..32 (the executor's, see executor.rst), index + 1 below. */
#define VGPU_SESS_HANDLE(epoch, idx) \
	(((uint64_t)((epoch) & 0x7fffffffu) << 32) | ((uint64_t)(idx) + 1))
#define VGPU_SESS_HANDLE_EPOCH(h)	((uint32_t)((h) >> 32) & 0x7fffffffu)
#define VGPU_SESS_HANDLE_INDEX(h)	((uint32_t)(h) - 1)

/* Command codes; the body layouts are protocol.rst's "Commands" table. */
enum vgpu_sess_code {
	VGPU_SESS_ALLOC		= 1,	/* size, 0                    -> buffer handle */
	VGPU_SESS_FREE		= 2,	/* buffer                                      */
	VGPU_SESS_MEMSET	= 3,	/* buffer, offset, length, value               */
	VGPU_SESS_COPY_H2D	= 4,	/* buffer, offset, data...                     */
	VGPU_SESS_COPY_D2H	= 5,	/* buffer, offset, length     -> output bytes  */
	VGPU_SESS_COPY_D2D	= 6,	/* dst, dst offset, src, src offset, length    */
	VGPU_SESS_MODULE_LOAD	= 7,	/* image...                   -> module handle */
	VGPU_SESS_MODULE_UNLOAD	= 8,	/* module                                      */
	VGPU_SESS_MODULE_DESCRIBE = 9,	/* module                     -> output bytes  */
	VGPU_SESS_LAUNCH	= 10,	/* module, dims, name, params                  */
	VGPU_SESS_OP		= 11,	/* built-in op on buffers                      */
	VGPU_SESS_TIMESTAMP	= 12,	/* -                          -> ns on the session clock */
	VGPU_SESS_DEVICE_INFO	= 13,	/* -                          -> device record */
	VGPU_SESS_MODULE_GLOBAL	= 14,	/* module, name               -> buffer handle, size */
	VGPU_SESS_NR_CODES,
	VGPU_SESS_TEST_CRASH	= 0x7f00,	/* test-only: the executor dies (SIGSEGV) */
	VGPU_SESS_TEST_HANG	= 0x7f01,	/* test-only: the executor never answers */
	VGPU_SESS_TEST_KICK	= 0x7f02,	/* test-only: a late mailbox KICK after the answer */
};

/* Command flags. */
#define VGPU_SESS_F_COOPERATIVE	(1u << 0)	/* LAUNCH only: cuLaunchCooperativeKernel */

/* Fixed body bytes of each code (data, names and params follow some). */
#define VGPU_SESS_ALLOC_BODY	16
#define VGPU_SESS_REF_BODY	8	/* FREE, MODULE_UNLOAD, MODULE_DESCRIBE */
#define VGPU_SESS_MEMSET_BODY	32
#define VGPU_SESS_H2D_BODY	16	/* then the data */
#define VGPU_SESS_D2H_BODY	24
#define VGPU_SESS_D2D_BODY	40
#define VGPU_SESS_LAUNCH_BODY	48	/* then name, zero pad to 8, patches, params */
#define VGPU_SESS_PATCH_SIZE	24	/* param offset u32, 0 u32, buffer ref, offset */
#define VGPU_SESS_OP_BODY	88
#define VGPU_SESS_GLOBAL_BODY	16	/* module ref, name_len u32, 0 u32; then name, pad to 8 */

/* DEVICE_INFO output: one record of this size (protocol.rst, "Device record"). */
#define VGPU_SESS_DEVINFO_SIZE	512
#define VGPU_SESS_DEVINFO_MIN	432	/* the fields this version knows */

/* MODULE_DESCRIBE output: per kernel a record of this size, name, params. */
#define VGPU_SESS_KERNEL_REC_SIZE	48

/*
 * One decoded command. Which fields a code uses (others are 0):
 *   ALLOC            len (bytes)
 *   FREE, MODULE_UNLOAD, MODULE_DESCRIBE  ref[0]
 *   MEMSET           ref[0], off[0], len, value (a byte)
 *   COPY_H2D         ref[0], off[0], data/len (len == data_len)
 *   COPY_D2H         ref[0], off[0], len
 *   COPY_D2D         ref[0] dst, off[0], ref[1] src, off[1], len
 *   MODULE_LOAD      data (the image)
 *   LAUNCH           ref[0] module, grid, block, shared_bytes, name, data (params),
 *                    patches (read them with vgpu_sess_patch())
 *   OP               op, args, ref/off [0] input 0, [1] input 1, [2] output
 *   MODULE_GLOBAL    ref[0] module, name
 * ref[] are handles or VGPU_SESS_SLOT(i); @data and @name point into the
 * decoded list (they live as long as it does).
 */
struct vgpu_sess_cmd {
	uint16_t code;
	uint16_t flags;
	uint32_t index;			/* position in the list */
	uint64_t ref[3];
	uint64_t off[3];
	uint64_t len;
	uint64_t value;
	uint32_t op;
	uint64_t args[VGPU_NR_ARGS];
	uint32_t grid[3], block[3], shared_bytes;
	const void *data;
	uint64_t data_len;
	const char *name;		/* not NUL-terminated */
	uint32_t name_len;
	const void *patches;		/* npatches x VGPU_SESS_PATCH_SIZE wire bytes */
	uint32_t npatches;
};

/* A launch's pointer patch: the device address of buffer @ref + @off is
 * written (u64, little-endian) at byte @param_off of the parameters. */
struct vgpu_sess_patch {
	uint32_t param_off;
	uint64_t ref;
	uint64_t off;
};
void vgpu_sess_patch_get(const struct vgpu_sess_cmd *c, uint32_t k, struct vgpu_sess_patch *pt);
/* The wire bytes of @n patches into @buf (n x VGPU_SESS_PATCH_SIZE), for building. */
void vgpu_sess_patch_put(const struct vgpu_sess_patch *pt, uint32_t n, uint8_t *buf);

/* One command's result in the response (VGPU_SESS_RESULT_SIZE bytes). */
struct vgpu_sess_result {
	uint16_t code;			/*  0 the command's code */
	uint16_t flags;			/*  2 0 */
	int32_t status;			/*  4 0 or a negative errno */
	uint64_t value;			/*  8 handle (ALLOC, MODULE_LOAD), ns (TIMESTAMP), else 0 */
	uint64_t out_off;		/* 16 its bytes in the output section */
	uint64_t out_len;		/* 24 */
};					/* 32 */

/* The session response header, the first bytes of a session response payload. */
struct vgpu_sess_rsp_hdr {
	uint32_t magic;			/*   0 VGPU_SESS_RSP_MAGIC */
	uint16_t hdr_size;		/*   4 >= VGPU_SESS_RSP_HDR_SIZE */
	uint16_t reserved0;		/*   6 0 */
	uint32_t ncmds;			/*   8 commands in the list */
	uint32_t nrun;			/*  12 results that follow (succeeded + the failed one) */
	uint32_t failed;		/*  16 index of the failing command, or VGPU_SESS_NONE */
	int32_t status;			/*  20 0, or the failing command's status */
	uint64_t out_len;		/*  24 output section bytes */
	uint32_t log_len;		/*  32 device text bytes, after the output */
	uint32_t flags;			/*  36 VGPU_SESS_RSP_F_* */
	uint32_t epoch;			/*  40 the executor's handle epoch */
	uint32_t reserved1;		/*  44 0 */
	char msg[VGPU_SESS_MSG_LEN];	/*  48 NUL-terminated printable ASCII */
};					/* 176 */
#define VGPU_SESS_RSP_F_LOG_TRUNCATED	(1u << 0)	/* device text was cut at VGPU_SESS_LOG_MAX */

/* ---- building a list (clients, tests) ----------------------------------- */

struct vgpu_sess_buf {
	uint8_t *p;
	size_t len, cap;
	uint32_t ncmds;
	int err;			/* sticky: -ENOMEM, -E2BIG */
};

/* Start an empty list (header space reserved). */
void vgpu_sess_begin(struct vgpu_sess_buf *b);
/* Append @c (its index is ignored); returns VGPU_SESS_SLOT of it, or 0 and
 * b->err set. Nothing is validated: tests build malformed lists with it. */
uint64_t vgpu_sess_add(struct vgpu_sess_buf *b, const struct vgpu_sess_cmd *c);
/* Fill the list header; returns 0 or b->err. b->p, b->len are the list. */
int vgpu_sess_finish(struct vgpu_sess_buf *b);
void vgpu_sess_buf_free(struct vgpu_sess_buf *b);
/* Bytes @c takes in a list (header, body, padding); 0 if it does not fit a u64. */
uint64_t vgpu_sess_cmd_size(const struct vgpu_sess_cmd *c);

/* ---- reading and checking a list (executor, tests) ---------------------- */

/*
 * Decode and check the untrusted list @buf of @len bytes as protocol.rst
 * "Checks of a list" says: everything that needs no device state. On
 * success *@cmds (malloc'ed, free it) holds *@ncmds commands pointing into
 * @buf. On error returns the documented -errno, *@failed is the offending
 * command's index (VGPU_SESS_NONE for the list header) and @why
 * (VGPU_SESS_MSG_LEN) says what is wrong.
 */
int vgpu_sess_parse(const void *buf, uint64_t len, struct vgpu_sess_cmd **cmds,
		    uint32_t *ncmds, uint32_t *failed, char *why);

/*
 * Checks of the version-2 request header of a session job (@max_payload:
 * the VM's limit in bytes). Returns 0 or a negative errno with @why
 * (VGPU_MSG_LEN). Version-1 headers are vgpu_req_check()'s.
 */
int vgpu_session_req_check(const struct vgpu_req_hdr *h, uint64_t max_payload, char *why);

/*
 * Fill @h as the version-2 request @id carrying the @len-byte list @list,
 * with room for @out_cap response bytes (crc32c included). 0, or -errno
 * with @why (VGPU_MSG_LEN) when the sizes are out of the protocol's range.
 */
int vgpu_session_req_build(struct vgpu_req_hdr *h, uint64_t id, const void *list,
			   uint64_t len, uint64_t out_cap, char *why);

/* Does [@off, @off + @len) fit in @size bytes? (no overflow) */
static inline int vgpu_sess_range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* ---- the response ------------------------------------------------------- */

void vgpu_sess_rsp_encode(const struct vgpu_sess_rsp_hdr *h, uint8_t buf[VGPU_SESS_RSP_HDR_SIZE]);
void vgpu_sess_rsp_decode(const uint8_t buf[VGPU_SESS_RSP_HDR_SIZE], struct vgpu_sess_rsp_hdr *h);
void vgpu_sess_result_encode(const struct vgpu_sess_result *r, uint8_t buf[VGPU_SESS_RESULT_SIZE]);
void vgpu_sess_result_decode(const uint8_t buf[VGPU_SESS_RESULT_SIZE], struct vgpu_sess_result *r);

/* A decoded response: pointers into the buffer it was parsed from. */
struct vgpu_sess_rsp {
	struct vgpu_sess_rsp_hdr hdr;
	const uint8_t *results;		/* hdr.nrun x VGPU_SESS_RESULT_SIZE */
	const uint8_t *out;		/* hdr.out_len bytes */
	const char *log;		/* hdr.log_len bytes, not NUL-terminated */
};

/*
 * Parse a session response payload of @len bytes, checking every length
 * and that each result's output lies in the output section. Returns 0,
 * or -EBADMSG with @why (VGPU_SESS_MSG_LEN).
 */
int vgpu_sess_rsp_parse(const void *buf, uint64_t len, struct vgpu_sess_rsp *r, char *why);
/* Result @i (< hdr.nrun) of a parsed response. */
void vgpu_sess_rsp_result(const struct vgpu_sess_rsp *r, uint32_t i, struct vgpu_sess_result *res);

const char *vgpu_sess_code_name(uint32_t code);	/* "alloc", ...; "unknown" */

/* ---- the device record (DEVICE_INFO's output) ------------------------- */

struct vgpu_device_props;	/* vgpu/vgpu.h: the record's native form */
void vgpu_sess_devinfo_encode(const struct vgpu_device_props *p,
			      uint8_t buf[VGPU_SESS_DEVINFO_SIZE]);
/* Decode the untrusted record of @len bytes into @p (whose argsz says how
 * much of it the caller has); 0, or -EBADMSG when it is too short. */
int vgpu_sess_devinfo_decode(const void *buf, uint64_t len, struct vgpu_device_props *p);

#endif /* VGPU_SESSION_H */
