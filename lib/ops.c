// SPDX-License-Identifier: MIT
/*
 * The op table (include/vgpu/ops.h): each op's arguments, input and output
 * arrays, CPU reference and tolerance, and what follows from them: the
 * shape check and sizes of vgpu_req_check(), the CPU reference that the
 * CPU backend runs and every check of a result compares with.
 *
 * The CPU reference is what the CUDA kernels must match. Float32
 * elementwise ops are computed exactly as the GPU does (one fused
 * multiply-add for SAXPY); GEMMs and the reduction accumulate in float64
 * and round once, so they are the most accurate answer, not a bitwise
 * model of the GPU's summation order.
 *
 * No state: any thread may call anything here.
 */
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "vgpu/ops.h"

/* ---- CPU reference ------------------------------------------------------ */

static float f32_arg(uint64_t a)
{
	uint32_t u = (uint32_t)a;
	float f;

	memcpy(&f, &u, 4);
	return f;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cpu_noop(const uint64_t args[VGPU_NR_ARGS], const void *in, void *out, char *msg)
{
	(void)args, (void)in, (void)out, (void)msg;
	return 0;
}

/* Busy for args[0] ns: sleeps the bulk, spins the last 100 us for accuracy. */
static int cpu_spin(const uint64_t args[VGPU_NR_ARGS], const void *in, void *out, char *msg)
{
	uint64_t ns = args[0], end = now_ns() + ns;

	(void)in, (void)out, (void)msg;
	if (ns > 200000) {
		uint64_t wake = end - 100000;
		struct timespec ts = { .tv_sec = (time_t)(wake / 1000000000ull),
				       .tv_nsec = (long)(wake % 1000000000ull) };

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	while (now_ns() < end)
		;
	return 0;
}

static int cpu_vector_add(const uint64_t args[VGPU_NR_ARGS], const void *in, void *out,
			  char *msg)
{
	const float *x = in;
	float *o = out;
	size_t n = (size_t)args[0];

	(void)msg;
	for (size_t i = 0; i < n; i++)
		o[i] = x[i] + x[n + i];
	return 0;
}

static int cpu_saxpy(const uint64_t args[VGPU_NR_ARGS], const void *in, void *out, char *msg)
{
	const float *x = in;
	float *o = out, alpha = f32_arg(args[1]);
	size_t n = (size_t)args[0];

	(void)msg;
	for (size_t i = 0; i < n; i++)
		o[i] = fmaf(alpha, x[i], x[n + i]);
	return 0;
}

static int cpu_reduce_sum(const uint64_t args[VGPU_NR_ARGS], const void *in, void *out,
			  char *msg)
{
	const float *x = in;
	size_t n = (size_t)args[0];
	double s = 0;

	(void)msg;
	for (size_t i = 0; i < n; i++)
		s += x[i];
	((float *)out)[0] = (float)s;
	return 0;
}

static int cpu_checksum(const uint64_t args[VGPU_NR_ARGS], const void *in, void *out,
			char *msg)
{
	uint32_t crc = htole32(vgpu_crc32c(0, in, (size_t)args[0]));

	(void)msg;
	memcpy(out, &crc, 4);
	return 0;
}

typedef float (*load_fn)(const void *base, size_t i);

static float load_f32(const void *base, size_t i)
{
	float f;

	memcpy(&f, (const char *)base + 4 * i, 4);
	return f;
}

static float load_bf16(const void *base, size_t i)
{
	uint16_t b;

	memcpy(&b, (const char *)base + 2 * i, 2);
	return vgpu_bf16_to_f32(le16toh(b));
}

/* C[m][n] = A[m][k] B[k][n], row-major, float64 accumulation. */
static int gemm(const uint64_t args[VGPU_NR_ARGS], const void *in, size_t elem,
		load_fn load, float *c, char *msg)
{
	size_t m = (size_t)args[0], n = (size_t)args[1], k = (size_t)args[2];
	const void *a = in, *b = (const char *)in + m * k * elem;
	double *acc = malloc(n * sizeof(*acc));

	if (!acc) {
		snprintf(msg, VGPU_MSG_LEN, "out of host memory");
		return -ENOMEM;
	}
	for (size_t i = 0; i < m; i++) {
		memset(acc, 0, n * sizeof(*acc));
		for (size_t p = 0; p < k; p++) {
			double av = load(a, i * k + p);
			const char *brow = (const char *)b + p * n * elem;

			for (size_t j = 0; j < n; j++)
				acc[j] += av * load(brow, j);
		}
		for (size_t j = 0; j < n; j++)
			c[i * n + j] = (float)acc[j];
	}
	free(acc);
	return 0;
}

static int cpu_sgemm(const uint64_t args[VGPU_NR_ARGS], const void *in, void *out, char *msg)
{
	return gemm(args, in, 4, load_f32, out, msg);
}

static int cpu_gemm_bf16(const uint64_t args[VGPU_NR_ARGS], const void *in, void *out,
			 char *msg)
{
	return gemm(args, in, 2, load_bf16, out, msg);
}

/* ---- the table ---------------------------------------------------------- */

#define COUNT(nm, lo, hi)	{ .name = (nm), .kind = VGPU_ARG_COUNT, .min = (lo), .max = (hi) }
#define F32(nm)			{ .name = (nm), .kind = VGPU_ARG_F32 }
#define ARRAY(e, d0, d1)	{ .elem = VGPU_ELEM_##e, .dim = { (d0), (d1) } }
#define SCALAR(e)		ARRAY(e, -1, -1)

/* C = A B with m, n, k; A is m x k of @e, B k x n of @e, C m x n of f32. */
#define GEMM(nm, e, fn, t) {							\
	.name = (nm),								\
	.nargs = 3, .args = { COUNT("m", 1, VGPU_DIM_MAX), COUNT("n", 1, VGPU_DIM_MAX), \
			      COUNT("k", 1, VGPU_DIM_MAX) },			\
	.nin = 2, .in = { ARRAY(e, 0, 2), ARRAY(e, 2, 1) },			\
	.out = ARRAY(F32, 0, 1),						\
	.cpu = (fn), .tol_kind = VGPU_TOL_NORM, .tol = (t),			\
}

static const struct vgpu_op_info op_table[VGPU_NR_OPS] = {
	[VGPU_OP_NOOP] = {
		.name = "noop", .cpu = cpu_noop, .tol_kind = VGPU_TOL_EXACT,
	},
	[VGPU_OP_VECTOR_ADD] = {
		.name = "vector_add",
		.nargs = 1, .args = { COUNT("n", 1, VGPU_VEC_MAX) },
		.nin = 2, .in = { ARRAY(F32, 0, -1), ARRAY(F32, 0, -1) },
		.out = ARRAY(F32, 0, -1),
		.cpu = cpu_vector_add, .tol_kind = VGPU_TOL_ELEMENT, .tol = 1e-6,
	},
	[VGPU_OP_SAXPY] = {
		.name = "saxpy",
		.nargs = 2, .args = { COUNT("n", 1, VGPU_VEC_MAX), F32("alpha") },
		.nin = 2, .in = { ARRAY(F32, 0, -1), ARRAY(F32, 0, -1) },
		.out = ARRAY(F32, 0, -1),
		.cpu = cpu_saxpy, .tol_kind = VGPU_TOL_ELEMENT, .tol = 1e-6,
	},
	/* fp32 (or tf32) accumulation order */
	[VGPU_OP_SGEMM] = GEMM("sgemm", F32, cpu_sgemm, 1e-3),
	[VGPU_OP_REDUCE_SUM] = {
		.name = "reduce_sum",
		.nargs = 1, .args = { COUNT("n", 1, VGPU_VEC_MAX) },
		.nin = 1, .in = { ARRAY(F32, 0, -1) },
		.out = SCALAR(F32),
		.cpu = cpu_reduce_sum, .tol_kind = VGPU_TOL_NORM, .tol = 1e-5,
	},
	[VGPU_OP_CHECKSUM] = {
		.name = "checksum",
		.nargs = 1, .args = { COUNT("n", 1, VGPU_PAYLOAD_MAX) },
		.nin = 1, .in = { ARRAY(U8, 0, -1) },
		.out = SCALAR(LE32),
		.cpu = cpu_checksum, .tol_kind = VGPU_TOL_EXACT,
	},
	/* bf16 operands, fp32 accumulation */
	[VGPU_OP_GEMM_BF16] = GEMM("gemm_bf16", BF16, cpu_gemm_bf16, 1e-2),
	[VGPU_OP_SPIN] = {
		.name = "spin",
		.nargs = 1, .args = { COUNT("ns", 0, VGPU_SPIN_NS_MAX) },
		.cpu = cpu_spin, .tol_kind = VGPU_TOL_EXACT,
	},
};

const struct vgpu_op_info *vgpu_op_get(uint32_t op)
{
	return op < VGPU_NR_OPS ? &op_table[op] : NULL;
}

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

unsigned int vgpu_elem_size(enum vgpu_elem e)
{
	switch (e) {
	case VGPU_ELEM_U8:
		return 1;
	case VGPU_ELEM_BF16:
		return 2;
	case VGPU_ELEM_F32:
	case VGPU_ELEM_LE32:
		return 4;
	case VGPU_ELEM_NONE:
		break;
	}
	return 0;
}

uint64_t vgpu_op_array_bytes(const struct vgpu_op_array *a, const uint64_t args[VGPU_NR_ARGS])
{
	uint64_t bytes = vgpu_elem_size(a->elem);

	for (int i = 0; i < 2; i++)
		if (a->dim[i] >= 0)
			bytes *= args[a->dim[i]];
	return bytes;
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
	const struct vgpu_op_info *o = vgpu_op_get(op);

	if (!o) {
		if (why)
			snprintf(why, VGPU_MSG_LEN, "unknown op %" PRIu32, op);
		return -EOPNOTSUPP;
	}
	for (int i = 0; i < VGPU_NR_ARGS; i++) {
		const struct vgpu_op_arg *a = &o->args[i];
		uint64_t v = args[i];

		switch (a->kind) {
		case VGPU_ARG_ZERO:
			if (v)
				return bad(why, "%s: args[%d] must be 0", o->name, i);
			break;
		case VGPU_ARG_COUNT:
			if (v < a->min || v > a->max)
				return bad(why, "%s: %s=%" PRIu64 " not in %" PRIu64 "..%" PRIu64,
					   o->name, a->name, v, a->min, a->max);
			break;
		case VGPU_ARG_F32:
			if (v >> 32)
				return bad(why, "%s: %s is a float32, high bits set",
					   o->name, a->name);
			break;
		}
	}
	/* No product overflows: dims <= 2^20, vectors <= 2^30, bytes <= 2^32. */
	*in_len = 0;
	for (unsigned int i = 0; i < o->nin; i++)
		*in_len += vgpu_op_array_bytes(&o->in[i], args);
	*out_len = vgpu_op_array_bytes(&o->out, args);
	return 0;
}

/* ---- running and checking the reference --------------------------------- */

int vgpu_cpu_compute(const struct vgpu_job_desc *d, const void *in, void *out, char *msg)
{
	const struct vgpu_op_info *o = vgpu_op_get(d->op);

	if (!o) {
		snprintf(msg, VGPU_MSG_LEN, "op %u not implemented", d->op);
		return -EOPNOTSUPP;
	}
	return o->cpu(d->args, in, out, msg);
}

int vgpu_cpu_verify(const struct vgpu_job_desc *d, const void *in, const void *out,
		    double *rel_err, char *msg)
{
	const struct vgpu_op_info *o = vgpu_op_get(d->op);
	void *ref = d->out_len ? malloc(d->out_len) : NULL;
	const float *of = out, *r;
	double num = 0, den = 0, worst = 0;
	size_t n = d->out_len / 4, bad_at = SIZE_MAX;
	int err;

	*rel_err = 0;
	if (d->out_len && !ref)
		return -ENOMEM;
	err = vgpu_cpu_compute(d, in, ref, msg);
	if (err)
		goto out;
	if (o->tol_kind == VGPU_TOL_EXACT) {
		if (d->out_len && memcmp(out, ref, d->out_len)) {
			snprintf(msg, VGPU_MSG_LEN, "%s differs from the reference", o->name);
			err = -EDOM;
			*rel_err = 1;
		}
		goto out;
	}
	/* Float32 output: elementwise or by norm. */
	r = ref;
	for (size_t i = 0; i < n; i++) {
		double diff = (double)of[i] - (double)r[i];

		if (isnan(of[i]) != isnan(r[i]) || isinf(of[i]) != isinf(r[i])) {
			bad_at = i;
			worst = INFINITY;
			break;
		}
		if (isnan(r[i]))
			continue;
		num += diff * diff;
		den += (double)r[i] * r[i];
		if (o->tol_kind == VGPU_TOL_ELEMENT) {
			double rel = fabs(diff) / fmax(fabs((double)r[i]), 1e-30);

			if (rel > worst && fabs(diff) > 1e-37) {
				worst = rel;
				bad_at = i;
			}
		}
	}
	if (o->tol_kind == VGPU_TOL_NORM && !isinf(worst))
		worst = den > 0 ? sqrt(num / den) : sqrt(num);
	*rel_err = worst;
	if (!(worst <= o->tol)) {
		snprintf(msg, VGPU_MSG_LEN, "relative error %.3g > %.0e (element %zu)", worst,
			 o->tol, bad_at == SIZE_MAX ? (size_t)0 : bad_at);
		err = -EDOM;
	}
out:
	free(ref);
	return err;
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
