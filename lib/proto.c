// SPDX-License-Identifier: MIT
/*
 * The spool protocol's codec and the checks every reader of an untrusted
 * header must make; the names of pools and priorities, and of ids.
 * Documentation/protocol.rst is the specification. Any thread; no state.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vgpu/ops.h"
#include "vgpu/proto.h"
#include "wire.h"

/* The size limits nest (protocol.rst, "Limits"): the mediator's default
 * fits the protocol's ceiling, and the most the guest driver derives for
 * itself is one job of the ceiling's input and output. */
_Static_assert(VGPU_PAYLOAD_DEFAULT <= VGPU_PAYLOAD_MAX &&
	       VGPU_INFLIGHT_BYTES_MAX == 2 * VGPU_PAYLOAD_MAX, "size limits do not nest");

void vgpu_req_encode(const struct vgpu_req_hdr *h, uint8_t buf[VGPU_REQ_HDR_SIZE])
{
	put32(buf, 0, h->magic);
	put16(buf, 4, h->version);
	put16(buf, 6, h->hdr_size);
	put32(buf, 8, h->op);
	put32(buf, 12, h->flags);
	put64(buf, 16, h->id);
	put64(buf, 24, h->payload_len);
	put64(buf, 32, h->out_len);
	for (int i = 0; i < VGPU_NR_ARGS; i++)
		put64(buf, 40 + 8 * i, h->args[i]);
	put32(buf, 72, h->crc32c);
	put32(buf, 76, h->reserved0);
	put64(buf, 80, h->reserved[0]);
	put64(buf, 88, h->reserved[1]);
}

void vgpu_req_decode(const uint8_t buf[VGPU_REQ_HDR_SIZE], struct vgpu_req_hdr *h)
{
	h->magic = get32(buf, 0);
	h->version = get16(buf, 4);
	h->hdr_size = get16(buf, 6);
	h->op = get32(buf, 8);
	h->flags = get32(buf, 12);
	h->id = get64(buf, 16);
	h->payload_len = get64(buf, 24);
	h->out_len = get64(buf, 32);
	for (int i = 0; i < VGPU_NR_ARGS; i++)
		h->args[i] = get64(buf, 40 + 8 * i);
	h->crc32c = get32(buf, 72);
	h->reserved0 = get32(buf, 76);
	h->reserved[0] = get64(buf, 80);
	h->reserved[1] = get64(buf, 88);
}

void vgpu_rsp_encode(const struct vgpu_rsp_hdr *h, uint8_t buf[VGPU_RSP_HDR_SIZE])
{
	put32(buf, 0, h->magic);
	put16(buf, 4, h->version);
	put16(buf, 6, h->hdr_size);
	put32(buf, 8, h->op);
	put32(buf, 12, h->flags);
	put64(buf, 16, h->id);
	put64(buf, 24, h->payload_len);
	put32(buf, 32, (uint32_t)h->status);
	put32(buf, 36, h->crc32c);
	put64(buf, 40, h->queued_ns);
	put64(buf, 48, h->started_ns);
	put64(buf, 56, h->finished_ns);
	put32(buf, 64, h->vm_id);
	buf[68] = h->pool;
	buf[69] = h->priority;
	put16(buf, 70, h->reserved0);
	for (int i = 0; i < 3; i++)
		put64(buf, 72 + 8 * i, h->reserved[i]);
	memcpy(buf + 96, h->msg, VGPU_MSG_LEN);
}

void vgpu_rsp_decode(const uint8_t buf[VGPU_RSP_HDR_SIZE], struct vgpu_rsp_hdr *h)
{
	h->magic = get32(buf, 0);
	h->version = get16(buf, 4);
	h->hdr_size = get16(buf, 6);
	h->op = get32(buf, 8);
	h->flags = get32(buf, 12);
	h->id = get64(buf, 16);
	h->payload_len = get64(buf, 24);
	h->status = (int32_t)get32(buf, 32);
	h->crc32c = get32(buf, 36);
	h->queued_ns = get64(buf, 40);
	h->started_ns = get64(buf, 48);
	h->finished_ns = get64(buf, 56);
	h->vm_id = get32(buf, 64);
	h->pool = buf[68];
	h->priority = buf[69];
	h->reserved0 = get16(buf, 70);
	for (int i = 0; i < 3; i++)
		h->reserved[i] = get64(buf, 72 + 8 * i);
	memcpy(h->msg, buf + 96, VGPU_MSG_LEN);
	h->msg[VGPU_MSG_LEN - 1] = '\0';
}

uint32_t vgpu_req_crc(const struct vgpu_req_hdr *h, uint32_t payload_crc)
{
	struct vgpu_req_hdr z = *h;
	uint8_t buf[VGPU_REQ_HDR_SIZE];

	z.crc32c = 0;
	vgpu_req_encode(&z, buf);
	return vgpu_crc32c(payload_crc, buf, sizeof(buf));
}

uint32_t vgpu_rsp_crc(const struct vgpu_rsp_hdr *h, uint32_t payload_crc)
{
	struct vgpu_rsp_hdr z = *h;
	uint8_t buf[VGPU_RSP_HDR_SIZE];

	z.crc32c = 0;
	vgpu_rsp_encode(&z, buf);
	return vgpu_crc32c(payload_crc, buf, sizeof(buf));
}

static int bad(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(char *why, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, VGPU_MSG_LEN, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The shape rules are the op table's (lib/ops.c); the rest is here. */
int vgpu_req_check(const struct vgpu_req_hdr *h, uint64_t max_payload, char *why)
{
	uint64_t in_len, out_len;
	int err;

	if (h->magic != VGPU_REQ_MAGIC) {
		snprintf(why, VGPU_MSG_LEN, "bad magic 0x%08" PRIx32, h->magic);
		return -EBADMSG;
	}
	if (h->version != VGPU_PROTO_VERSION) {
		snprintf(why, VGPU_MSG_LEN, "unsupported version %u (want %u)",
			 h->version, VGPU_PROTO_VERSION);
		return -EPROTONOSUPPORT;
	}
	if (h->hdr_size < VGPU_REQ_HDR_SIZE || h->hdr_size > VGPU_HDR_SIZE_MAX) {
		snprintf(why, VGPU_MSG_LEN, "bad hdr_size %u", h->hdr_size);
		return -EBADMSG;
	}
	if (h->flags || h->reserved0 || h->reserved[0] || h->reserved[1])
		return bad(why, "non-zero flags or reserved field");
	if (h->payload_len > max_payload) {
		snprintf(why, VGPU_MSG_LEN, "payload %" PRIu64 " > limit %" PRIu64 " bytes",
			 h->payload_len, max_payload);
		return -E2BIG;
	}
	err = vgpu_op_sizes(h->op, h->args, &in_len, &out_len, why);
	if (err)
		return err;
	if (in_len > max_payload || out_len > max_payload) {
		snprintf(why, VGPU_MSG_LEN, "%s needs %" PRIu64 " bytes > limit %" PRIu64,
			 vgpu_op_name(h->op), in_len > out_len ? in_len : out_len, max_payload);
		return -E2BIG;
	}
	if (h->payload_len != in_len || h->out_len != out_len)
		return bad(why, "%s: lengths %" PRIu64 "/%" PRIu64 ", shape needs %" PRIu64
			   "/%" PRIu64, vgpu_op_name(h->op), h->payload_len, h->out_len,
			   in_len, out_len);
	return 0;
}

/* ---- names -------------------------------------------------------------- */

static const char *const prio_names[VGPU_NR_PRIOS] = { "low", "medium", "high" };
static const char *const pool_names[VGPU_NR_POOLS] = { "A", "B" };

static int index_of(const char *const *names, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(name, names[i]))
			return i;
	return -1;
}

const char *vgpu_prio_name(unsigned int prio)
{
	return prio < VGPU_NR_PRIOS ? prio_names[prio] : "?";
}

int vgpu_prio_from_name(const char *name)
{
	return index_of(prio_names, VGPU_NR_PRIOS, name);
}

const char *vgpu_pool_name(unsigned int pool)
{
	return pool < VGPU_NR_POOLS ? pool_names[pool] : "?";
}

int vgpu_pool_from_name(const char *name)
{
	return index_of(pool_names, VGPU_NR_POOLS, name);
}

void vgpu_id_name(uint64_t id, char *buf)
{
	snprintf(buf, VGPU_ID_NAME_LEN + 1, "%016" PRIx64, id);
}

int vgpu_id_parse(const char *name, uint64_t *id)
{
	uint64_t v = 0;

	for (int i = 0; i < VGPU_ID_NAME_LEN; i++) {
		char c = name[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return -1;
	}
	if (name[VGPU_ID_NAME_LEN] != '\0')
		return -1;
	*id = v;
	return 0;
}
