/* SPDX-License-Identifier: MIT */
/*
 * vgpu spool file protocol, version 1: the wire headers and their codec,
 * which the mediator, the host client, the guest agent, the tests and the
 * benches share. What each op takes is the op table, include/vgpu/ops.h.
 * The specification is Documentation/protocol.rst; keep the two in step.
 *
 * A request file is a 96-byte little-endian header followed by payload_len
 * input bytes. A response is the end of its file: payload_len output bytes
 * followed by a 160-byte header (a trailer; the request precedes them).
 * Headers carry hdr_size so that a later minor revision can add fields:
 * readers accept hdr_size >= the size they know and skip the rest. Both are protected by CRC32C (Castagnoli) computed over the payload
 * first and then the header with its crc32c field set to zero, so a writer
 * can stream the payload before the header's final fields are known.
 */
#ifndef VGPU_PROTO_H
#define VGPU_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include <misc/vgpu.h>		/* enum vgpu_op, VGPU_NR_ARGS: the guest ABI's */
#include <misc/vgpu_regs.h>	/* VGPU_POOL_*, VGPU_PRIO_*: one encoding everywhere */

#define VGPU_REQ_MAGIC		0x51524756u	/* "VGRQ" */
#define VGPU_RSP_MAGIC		0x53524756u	/* "VGRS" */
#define VGPU_PROTO_VERSION	1

#define VGPU_REQ_HDR_SIZE	96	/* bytes, version 1 */
#define VGPU_RSP_HDR_SIZE	160	/* bytes, version 1 */
#define VGPU_HDR_SIZE_MAX	4096	/* largest hdr_size a reader accepts */
#define VGPU_MSG_LEN		64	/* response message incl. NUL */

/* Spool layout inside one VM directory. */
#define VGPU_DIR_TMP		"tmp"	/* writers' temporaries, never watched */
#define VGPU_DIR_REQ		"req"	/* published requests */
#define VGPU_DIR_RSP		"rsp"	/* published responses */
#define VGPU_ID_NAME_LEN	16	/* request/response names: %016llx */

/*
 * Size limits, from the outside in (Documentation/protocol.rst, "Size
 * limits", sets them side by side): the protocol's ceiling on any one
 * payload, input or output; the mediator's default per-VM limit
 * (max_payload_bytes, at most the ceiling); and, in the guest, the
 * driver's limit on the bytes it holds (module parameter
 * max_inflight_bytes, by default derived from the guest's RAM within
 * VGPU_INFLIGHT_BYTES_MIN..MAX of misc/vgpu.h), which bounds what one
 * SUBMIT through /dev/vgpuN can carry.
 */
#define VGPU_PAYLOAD_MAX	(1ull << 32)	/* bytes */
#define VGPU_PAYLOAD_DEFAULT	(256ull << 20)	/* bytes */


/* Wire layout of a request header; offsets in bytes, all little-endian. */
struct vgpu_req_hdr {
	uint32_t magic;			/*  0 VGPU_REQ_MAGIC */
	uint16_t version;		/*  4 VGPU_PROTO_VERSION */
	uint16_t hdr_size;		/*  6 >= VGPU_REQ_HDR_SIZE */
	uint32_t op;			/*  8 enum vgpu_op */
	uint32_t flags;			/* 12 must be 0 in version 1 */
	uint64_t id;			/* 16 equals the file name */
	uint64_t payload_len;		/* 24 input bytes after the header */
	uint64_t out_len;		/* 32 output bytes the op will return */
	uint64_t args[VGPU_NR_ARGS];	/* 40 op arguments, see ops table */
	uint32_t crc32c;		/* 72 payload, then header w/ crc 0 */
	uint32_t reserved0;		/* 76 must be 0 */
	uint64_t reserved[2];		/* 80 must be 0 */
};					/* 96 */

struct vgpu_rsp_hdr {
	uint32_t magic;			/*   0 VGPU_RSP_MAGIC */
	uint16_t version;		/*   4 VGPU_PROTO_VERSION */
	uint16_t hdr_size;		/*   6 >= VGPU_RSP_HDR_SIZE */
	uint32_t op;			/*   8 echoed (0 if unreadable) */
	uint32_t flags;			/*  12 0 in version 1 */
	uint64_t id;			/*  16 request id */
	uint64_t payload_len;		/*  24 output bytes after the header */
	int32_t status;			/*  32 0 or a negative Linux errno */
	uint32_t crc32c;		/*  36 payload, then header w/ crc 0 */
	uint64_t queued_ns;		/*  40 Dom0 CLOCK_MONOTONIC */
	uint64_t started_ns;		/*  48 0 if the job never ran */
	uint64_t finished_ns;		/*  56 */
	uint32_t vm_id;			/*  64 from Dom0 config, never the guest */
	uint8_t pool;			/*  68 VGPU_POOL_* */
	uint8_t priority;		/*  69 VGPU_PRIO_* */
	uint16_t reserved0;		/*  70 0 */
	uint64_t reserved[3];		/*  72 0 */
	char msg[VGPU_MSG_LEN];		/*  96 NUL-terminated, printable ASCII */
};					/* 160 */

/* Encode/decode between the native structs and the wire bytes. */
void vgpu_req_encode(const struct vgpu_req_hdr *h, uint8_t buf[VGPU_REQ_HDR_SIZE]);
void vgpu_req_decode(const uint8_t buf[VGPU_REQ_HDR_SIZE], struct vgpu_req_hdr *h);
void vgpu_rsp_encode(const struct vgpu_rsp_hdr *h, uint8_t buf[VGPU_RSP_HDR_SIZE]);
void vgpu_rsp_decode(const uint8_t buf[VGPU_RSP_HDR_SIZE], struct vgpu_rsp_hdr *h);

/*
 * CRC of a header whose payload CRC is @payload_crc: continues @payload_crc
 * over the encoded header with its crc32c field zeroed. Fill h->crc32c with
 * the result before encoding for the wire.
 */
uint32_t vgpu_req_crc(const struct vgpu_req_hdr *h, uint32_t payload_crc);
uint32_t vgpu_rsp_crc(const struct vgpu_rsp_hdr *h, uint32_t payload_crc);

/*
 * Checks of an untrusted request header that need no payload: magic,
 * version, sizes, flags, reserved fields, op and shape. Returns 0 or a
 * negative errno and writes a one-line reason into @why (VGPU_MSG_LEN).
 * @max_payload is the VM's limit in bytes. Shapes are the op table's
 * (include/vgpu/ops.h).
 */
int vgpu_req_check(const struct vgpu_req_hdr *h, uint64_t max_payload, char *why);

/* Names of priorities and pools ("low", "A"); -1 from the parsers if bad. */
const char *vgpu_prio_name(unsigned int prio);
int vgpu_prio_from_name(const char *name);
const char *vgpu_pool_name(unsigned int pool);
int vgpu_pool_from_name(const char *name);

/* "%016llx" name of @id into buf[VGPU_ID_NAME_LEN + 1]; parse back: 0 or -1. */
void vgpu_id_name(uint64_t id, char *buf);
int vgpu_id_parse(const char *name, uint64_t *id);

/* CRC32C (Castagnoli), reflected, init/final xor 0xffffffff as in iSCSI. */
uint32_t vgpu_crc32c(uint32_t crc, const void *buf, size_t len);
/* The CRC of A || B from crc32c(A), crc32c(B) and B's length. */
uint32_t vgpu_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2);

#endif /* VGPU_PROTO_H */
