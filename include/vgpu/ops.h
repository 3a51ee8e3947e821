/* SPDX-License-Identifier: MIT */
/*
 * The op table: for each op of enum vgpu_op (include/uapi/misc/vgpu.h) its
 * name, what each argument means and allows, the arrays its input and
 * output are made of, its CPU reference and the tolerance a result must
 * meet. It is the one description of an op's shape: validation
 * (vgpu_req_check), both backends, vgpu-submit and the tests read it, and
 * tests/unit/test_ops checks Documentation/protocol.rst's table against it.
 * Defined in lib/ops.c (libvgpu, which guest and Dom0 programs link).
 *
 * Any thread may read the table and call these functions; none keeps state.
 */
#ifndef VGPU_OPS_H
#define VGPU_OPS_H

#include <stdbool.h>
#include <stdint.h>

#include "vgpu/proto.h"

/* What an argument is; unused arguments (VGPU_ARG_ZERO) must be 0. */
enum vgpu_arg_kind {
	VGPU_ARG_ZERO,
	VGPU_ARG_COUNT,		/* an integer in [min, max] */
	VGPU_ARG_F32,		/* IEEE-754 binary32 bits in the low 32 bits */
};

struct vgpu_op_arg {
	const char *name;	/* as protocol.rst names it: "n", "alpha" */
	enum vgpu_arg_kind kind;
	uint64_t min, max;	/* VGPU_ARG_COUNT only */
};

/* Element types of the arrays, little-endian. */
enum vgpu_elem {
	VGPU_ELEM_NONE,		/* no array */
	VGPU_ELEM_U8,		/* bytes */
	VGPU_ELEM_F32,		/* binary32 */
	VGPU_ELEM_BF16,		/* bfloat16 */
	VGPU_ELEM_LE32,		/* an unsigned 32-bit value (the CRC) */
};

/* An array of elem: args[dim[0]] x args[dim[1]] elements (-1: a 1). */
struct vgpu_op_array {
	enum vgpu_elem elem;
	int8_t dim[2];
};

/* How a result is compared with the CPU reference (vgpu_cpu_verify). */
enum vgpu_tol_kind {
	VGPU_TOL_EXACT,		/* bytewise */
	VGPU_TOL_ELEMENT,	/* |out - ref| / |ref| <= tol for each element */
	VGPU_TOL_NORM,		/* ||out - ref|| / ||ref|| <= tol */
};

struct vgpu_op_info {
	const char *name;
	unsigned int nargs;			/* args[nargs..] are 0 */
	struct vgpu_op_arg args[VGPU_NR_ARGS];
	unsigned int nin;			/* input arrays, payload order */
	struct vgpu_op_array in[2];
	struct vgpu_op_array out;		/* VGPU_ELEM_NONE: no output */
	/* The CPU reference: @in holds the input, @out the output bytes the
	 * shape implies. Returns 0 or -errno with @msg (VGPU_MSG_LEN). */
	int (*cpu)(const uint64_t args[VGPU_NR_ARGS], const void *in, void *out,
		   char *msg);
	enum vgpu_tol_kind tol_kind;
	double tol;
};

/* The table's entry for @op; NULL if @op is not one. */
const struct vgpu_op_info *vgpu_op_get(uint32_t op);
const char *vgpu_op_name(uint32_t op);		/* "unknown" if not an op */
int vgpu_op_from_name(const char *name);	/* -1 if unknown */
unsigned int vgpu_elem_size(enum vgpu_elem e);	/* bytes; 0 for NONE */
/* Bytes of @a for @args, whose shape was checked by vgpu_op_sizes(). */
uint64_t vgpu_op_array_bytes(const struct vgpu_op_array *a,
			     const uint64_t args[VGPU_NR_ARGS]);

/* Bytes of input and output that @op with @args requires; -EOPNOTSUPP for
 * an unknown op, -EINVAL (with @why, VGPU_MSG_LEN, if not NULL) if an
 * argument is out of its range. The ranges keep every product < 2^64. */
int vgpu_op_sizes(uint32_t op, const uint64_t args[VGPU_NR_ARGS],
		  uint64_t *in_len, uint64_t *out_len, char *why);

/* Argument limits of the table. */
#define VGPU_DIM_MAX		(1ull << 20)	/* GEMM m, n, k */
#define VGPU_VEC_MAX		(1ull << 30)	/* vector elements */
#define VGPU_SPIN_NS_MAX	10000000000ull	/* 10 s */

/* What a backend, the CPU reference and its checks learn about a job. */
struct vgpu_job_desc {
	uint32_t op;			/* enum vgpu_op, already validated */
	uint64_t args[VGPU_NR_ARGS];
	uint64_t in_len;		/* input bytes */
	uint64_t out_len;		/* output bytes */
	uint32_t vm_id;
};

/*
 * The CPU reference of @desc's op on host buffers: @in holds desc->in_len
 * bytes, @out desc->out_len bytes. Returns 0 or -errno (@msg says why).
 */
int vgpu_cpu_compute(const struct vgpu_job_desc *desc, const void *in,
		     void *out, char *msg);

/*
 * Checks @out (desc->out_len bytes) against the CPU reference for @in with
 * the op's tolerance; NaN or Inf where the reference has none never
 * passes. Returns 0 if it matches, -EDOM if not (@msg says where),
 * -ENOMEM; *@rel_err gets the error measured.
 */
int vgpu_cpu_verify(const struct vgpu_job_desc *desc, const void *in, const void *out,
		    double *rel_err, char *msg);

/* fp32 <-> bf16 bit patterns (round to nearest even; NaN kept quiet). */
uint16_t vgpu_f32_to_bf16(float f);
float vgpu_bf16_to_f32(uint16_t b);

#endif /* VGPU_OPS_H */
