// SPDX-License-Identifier: MIT
/*
 * The CPU reference of every op: what the CUDA kernels must match. Float32
 * elementwise ops are computed exactly as the GPU does (one fused
 * multiply-add for SAXPY); GEMMs and the reduction accumulate in float64
 * and round once, so they are the most accurate answer, not a bitwise
 * model of the GPU's summation order.
 */
#include <endian.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vgpu/backend.h"

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

/* Busy for @ns: sleeps the bulk, spins the last 100 us for accuracy. */
static void spin_ns(uint64_t ns)
{
	uint64_t end = now_ns() + ns;

	if (ns > 200000) {
		uint64_t wake = end - 100000;
		struct timespec ts = { .tv_sec = (time_t)(wake / 1000000000ull),
				       .tv_nsec = (long)(wake % 1000000000ull) };

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
	}
	while (now_ns() < end)
		;
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
static int gemm(size_t m, size_t n, size_t k, const void *a, const void *b,
		size_t elem, load_fn load, float *c)
{
	double *acc = malloc(n * sizeof(*acc));

	if (!acc)
		return -ENOMEM;
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

int vgpu_cpu_compute(const struct vgpu_job_desc *d, const void *in, void *out, char *msg)
{
	const float *x = in;
	float *o = out;
	size_t n = (size_t)d->args[0];

	switch ((enum vgpu_op)d->op) {
	case VGPU_OP_NOOP:
		return 0;
	case VGPU_OP_SPIN:
		spin_ns(d->args[0]);
		return 0;
	case VGPU_OP_VECTOR_ADD:
		for (size_t i = 0; i < n; i++)
			o[i] = x[i] + x[n + i];
		return 0;
	case VGPU_OP_SAXPY: {
		float alpha = f32_arg(d->args[1]);

		for (size_t i = 0; i < n; i++)
			o[i] = fmaf(alpha, x[i], x[n + i]);
		return 0;
	}
	case VGPU_OP_REDUCE_SUM: {
		double s = 0;

		for (size_t i = 0; i < n; i++)
			s += x[i];
		o[0] = (float)s;
		return 0;
	}
	case VGPU_OP_CHECKSUM: {
		uint32_t crc = htole32(vgpu_crc32c(0, in, n));

		memcpy(out, &crc, 4);
		return 0;
	}
	case VGPU_OP_SGEMM:
	case VGPU_OP_GEMM_BF16: {
		size_t m = (size_t)d->args[0], nn = (size_t)d->args[1], k = (size_t)d->args[2];
		size_t elem = d->op == VGPU_OP_SGEMM ? 4 : 2;
		int err = gemm(m, nn, k, in, (const char *)in + m * k * elem, elem,
			       d->op == VGPU_OP_SGEMM ? load_f32 : load_bf16, o);

		if (err)
			snprintf(msg, VGPU_MSG_LEN, "out of host memory");
		return err;
	}
	case VGPU_NR_OPS:
		break;
	}
	snprintf(msg, VGPU_MSG_LEN, "op %u not implemented", d->op);
	return -EOPNOTSUPP;
}

static double tolerance(uint32_t op)
{
	switch (op) {
	case VGPU_OP_SGEMM:
		return 1e-3;	/* fp32 (or tf32) accumulation order */
	case VGPU_OP_GEMM_BF16:
		return 1e-2;	/* bf16 operands, fp32 accumulation */
	case VGPU_OP_REDUCE_SUM:
		return 1e-5;
	default:
		return 1e-6;	/* elementwise fp32 */
	}
}

int vgpu_cpu_verify(const struct vgpu_job_desc *d, const void *in, const void *out,
		    double *rel_err, char *msg)
{
	void *ref = d->out_len ? malloc(d->out_len) : NULL;
	const float *o = out, *r;
	double num = 0, den = 0, worst = 0;
	size_t n = d->out_len / 4, bad_at = SIZE_MAX;
	int err;

	*rel_err = 0;
	if (d->out_len && !ref)
		return -ENOMEM;
	err = vgpu_cpu_compute(d, in, ref, msg);
	if (err)
		goto out;
	r = ref;
	if (d->op == VGPU_OP_CHECKSUM) {
		if (memcmp(out, ref, 4)) {
			snprintf(msg, VGPU_MSG_LEN, "checksum differs from the reference");
			err = -EDOM;
			*rel_err = 1;
		}
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		double diff = (double)o[i] - (double)r[i];

		if (isnan(o[i]) != isnan(r[i]) || isinf(o[i]) != isinf(r[i])) {
			bad_at = i;
			worst = INFINITY;
			break;
		}
		if (isnan(r[i]))
			continue;
		num += diff * diff;
		den += (double)r[i] * r[i];
		if (d->op == VGPU_OP_VECTOR_ADD || d->op == VGPU_OP_SAXPY) {
			double rel = fabs(diff) / fmax(fabs((double)r[i]), 1e-30);

			if (rel > worst && fabs(diff) > 1e-37) {
				worst = rel;
				bad_at = i;
			}
		}
	}
	if (d->op != VGPU_OP_VECTOR_ADD && d->op != VGPU_OP_SAXPY && !isinf(worst))
		worst = den > 0 ? sqrt(num / den) : sqrt(num);
	*rel_err = worst;
	if (!(worst <= tolerance(d->op))) {
		snprintf(msg, VGPU_MSG_LEN, "relative error %.3g > %.0e (element %zu)", worst,
			 tolerance(d->op), bad_at == SIZE_MAX ? (size_t)0 : bad_at);
		err = -EDOM;
	}
out:
	free(ref);
	return err;
}
