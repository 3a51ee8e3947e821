// SPDX-License-Identifier: MIT
/*
 * The spool protocol's codec and the checks every reader of an untrusted
 * header must make. Documentation/protocol.rst is the specification.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "vgpu/proto.h"
#include <misc/vgpu_regs.h>

/* Little-endian field access at byte offsets of a wire header. */
static void put16(uint8_t *b, size_t off, uint16_t v) { v = htole16(v); memcpy(b + off, &v, 2); }
static void put32(uint8_t *b, size_t off, uint32_t v) { v = htole32(v); memcpy(b + off, &v, 4); }
static void put64(uint8_t *b, size_t off, uint64_t v) { v = htole64(v); memcpy(b + off, &v, 8); }
static uint16_t get16(const uint8_t *b, size_t off) { uint16_t v; memcpy(&v, b + off, 2); return le16toh(v); }
static uint32_t get32(const uint8_t *b, size_t off) { uint32_t v; memcpy(&v, b + off, 4); return le32toh(v); }
static uint64_t get64(const uint8_t *b, size_t off) { uint64_t v; memcpy(&v, b + off, 8); return le64toh(v); }

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

/* ---- ops ---------------------------------------------------------------- */

enum arg_kind { ARG_ZERO, ARG_VEC, ARG_DIM, ARG_F32, ARG_BYTES, ARG_NS };

/* What each op's args mean; sizes follow from them in vgpu_op_sizes(). */
static const struct {
	const char *name;
	enum arg_kind args[VGPU_NR_ARGS];
} op_table[VGPU_NR_OPS] = {
	[VGPU_OP_NOOP]		= { "noop",	  { ARG_ZERO, ARG_ZERO, ARG_ZERO, ARG_ZERO } },
	[VGPU_OP_VECTOR_ADD]	= { "vector_add", { ARG_VEC, ARG_ZERO, ARG_ZERO, ARG_ZERO } },
	[VGPU_OP_SAXPY]		= { "saxpy",	  { ARG_VEC, ARG_F32, ARG_ZERO, ARG_ZERO } },
	[VGPU_OP_SGEMM]		= { "sgemm",	  { ARG_DIM, ARG_DIM, ARG_DIM, ARG_ZERO } },
	[VGPU_OP_REDUCE_SUM]	= { "reduce_sum", { ARG_VEC, ARG_ZERO, ARG_ZERO, ARG_ZERO } },
	[VGPU_OP_CHECKSUM]	= { "checksum",	  { ARG_BYTES, ARG_ZERO, ARG_ZERO, ARG_ZERO } },
	[VGPU_OP_GEMM_BF16]	= { "gemm_bf16",  { ARG_DIM, ARG_DIM, ARG_DIM, ARG_ZERO } },
	[VGPU_OP_SPIN]		= { "spin",	  { ARG_NS, ARG_ZERO, ARG_ZERO, ARG_ZERO } },
};

#define SPIN_NS_MAX	10000000000ull	/* 10 s */

const char *vgpu_op_name(uint32_t op)
{
	return op < VGPU_NR_OPS ? op_table[op].name : "unknown";
}

int vgpu_op_from_name(const char *name)
{
	for (int op = 0; op < VGPU_NR_OPS; op++)
		if (!strcasecmp(name, op_table[op].name))
			return op;
	return -1;
}

static int bad(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int bad(char *why, const char *fmt, ...)
{
	va_list ap;

	if (why) {
		va_start(ap, fmt);
		vsnprintf(why, VGPU_MSG_LEN, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int vgpu_op_sizes(uint32_t op, const uint64_t args[VGPU_NR_ARGS],
		  uint64_t *in_len, uint64_t *out_len, char *why)
{
	if (op >= VGPU_NR_OPS) {
		if (why)
			snprintf(why, VGPU_MSG_LEN, "unknown op %" PRIu32, op);
		return -EOPNOTSUPP;
	}
	for (int i = 0; i < VGPU_NR_ARGS; i++) {
		uint64_t a = args[i];

		switch (op_table[op].args[i]) {
		case ARG_ZERO:
			if (a)
				return bad(why, "%s: args[%d] must be 0", op_table[op].name, i);
			break;
		case ARG_VEC:
			if (a == 0 || a > VGPU_VEC_MAX)
				return bad(why, "%s: n=%" PRIu64 " not in 1..%llu",
					   op_table[op].name, a, VGPU_VEC_MAX);
			break;
		case ARG_DIM:
			if (a == 0 || a > VGPU_DIM_MAX)
				return bad(why, "%s: args[%d]=%" PRIu64 " not in 1..%llu",
					   op_table[op].name, i, a, VGPU_DIM_MAX);
			break;
		case ARG_F32:
			if (a >> 32)
				return bad(why, "%s: args[%d] is a float32, high bits set",
					   op_table[op].name, i);
			break;
		case ARG_BYTES:
			if (a == 0 || a > VGPU_PAYLOAD_MAX)
				return bad(why, "%s: length %" PRIu64 " not in 1..%llu",
					   op_table[op].name, a, VGPU_PAYLOAD_MAX);
			break;
		case ARG_NS:
			if (a > SPIN_NS_MAX)
				return bad(why, "%s: %" PRIu64 " ns > %llu", op_table[op].name,
					   a, SPIN_NS_MAX);
			break;
		}
	}

	/* Products cannot overflow: dims <= 2^20, vectors <= 2^30. */
	uint64_t n = args[0], m = args[0], nn = args[1], k = args[2];

	switch ((enum vgpu_op)op) {
	case VGPU_OP_NOOP:
	case VGPU_OP_SPIN:
		*in_len = 0;
		*out_len = 0;
		break;
	case VGPU_OP_VECTOR_ADD:
	case VGPU_OP_SAXPY:
		*in_len = 2 * 4 * n;
		*out_len = 4 * n;
		break;
	case VGPU_OP_SGEMM:
		*in_len = 4 * (m * k + k * nn);
		*out_len = 4 * m * nn;
		break;
	case VGPU_OP_GEMM_BF16:
		*in_len = 2 * (m * k + k * nn);
		*out_len = 4 * m * nn;
		break;
	case VGPU_OP_REDUCE_SUM:
		*in_len = 4 * n;
		*out_len = 4;
		break;
	case VGPU_OP_CHECKSUM:
		*in_len = n;
		*out_len = 4;
		break;
	case VGPU_NR_OPS:
		break;
	}
	return 0;
}

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

/* ---- bf16 --------------------------------------------------------------- */

uint16_t vgpu_f32_to_bf16(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	if ((u & 0x7fffffffu) > 0x7f800000u)		/* NaN: keep it quiet */
		return (uint16_t)((u >> 16) | 0x40);
	u += 0x7fffu + ((u >> 16) & 1);			/* round to nearest even */
	return (uint16_t)(u >> 16);
}

float vgpu_bf16_to_f32(uint16_t b)
{
	uint32_t u = (uint32_t)b << 16;
	float f;

	memcpy(&f, &u, 4);
	return f;
}
