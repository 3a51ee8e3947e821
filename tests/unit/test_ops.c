// SPDX-License-Identifier: MIT
/*
 * The op table (lib/ops.c) against Documentation/protocol.rst's table of
 * operations, which must say the same row by row, and against itself:
 * every argument range is enforced, every op's CPU reference passes its
 * own check and a perturbed result fails it. Random inputs, fresh seed.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kselftest_harness.h"

#include "testlib.h"
#include "vgpu/ops.h"

#ifndef VGPU_SRCDIR
#define VGPU_SRCDIR "."
#endif
#define PROTOCOL_RST	VGPU_SRCDIR "/Documentation/protocol.rst"

#define NCOLS		6	/* Op, #, args, input, output, tolerance */
#define CELL_MAX	96

/* ---- the table as protocol.rst writes it ------------------------------ */

/* 2^k and 10^k as the document writes large limits. */
static void fmt_num(char *b, size_t len, uint64_t v)
{
	int k;

	if (v >= 1024 && !(v & (v - 1))) {
		for (k = 0; (1ull << k) != v; k++)
			;
		snprintf(b, len, "2^%d", k);
		return;
	}
	for (k = 0; v >= 10 && v % 10 == 0; k++)
		v /= 10;
	if (k >= 3 && v == 1)
		snprintf(b, len, "10^%d", k);
	else
		snprintf(b, len, "%llu", (unsigned long long)v * (uint64_t)pow(10, k));
}

static void cat(char *b, size_t len, const char *s)
{
	strncat(b, s, len - strlen(b) - 1);
}

static const char *elem_name(enum vgpu_elem e)
{
	static const char *const names[] = {
		[VGPU_ELEM_NONE] = "-", [VGPU_ELEM_U8] = "u8", [VGPU_ELEM_F32] = "f32",
		[VGPU_ELEM_BF16] = "bf16", [VGPU_ELEM_LE32] = "le32",
	};

	return names[e];
}

static void fmt_array(char *b, size_t len, const struct vgpu_op_info *o,
		      const struct vgpu_op_array *a)
{
	cat(b, len, elem_name(a->elem));
	if (a->elem == VGPU_ELEM_NONE)
		return;
	for (int i = 0; i < 2; i++)
		if (a->dim[i] >= 0) {
			cat(b, len, "[");
			cat(b, len, o->args[a->dim[i]].name);
			cat(b, len, "]");
		}
}

/* The document's row for @op: cells[NCOLS][CELL_MAX]. */
static void expected_row(uint32_t op, char cells[NCOLS][CELL_MAX])
{
	const struct vgpu_op_info *o = vgpu_op_get(op);
	char t[32];

	memset(cells, 0, NCOLS * CELL_MAX);
	snprintf(cells[0], CELL_MAX, "%s", o->name);
	snprintf(cells[1], CELL_MAX, "%u", op);
	for (unsigned int i = 0; i < o->nargs; i++) {
		const struct vgpu_op_arg *a = &o->args[i];

		if (i)
			cat(cells[2], CELL_MAX, ", ");
		cat(cells[2], CELL_MAX, a->name);
		if (a->kind == VGPU_ARG_F32) {
			cat(cells[2], CELL_MAX, " f32");
			continue;
		}
		cat(cells[2], CELL_MAX, " ");
		fmt_num(t, sizeof(t), a->min);
		cat(cells[2], CELL_MAX, t);
		cat(cells[2], CELL_MAX, "..");
		fmt_num(t, sizeof(t), a->max);
		cat(cells[2], CELL_MAX, t);
	}
	for (unsigned int i = 0; i < o->nin; i++) {
		if (i)
			cat(cells[3], CELL_MAX, ", ");
		fmt_array(cells[3], CELL_MAX, o, &o->in[i]);
	}
	fmt_array(cells[4], CELL_MAX, o, &o->out);
	if (o->tol_kind == VGPU_TOL_EXACT) {
		snprintf(cells[5], CELL_MAX, "exact");
	} else {
		int e = (int)lround(log10(o->tol));

		snprintf(cells[5], CELL_MAX, "%.0fe%d %s", o->tol / pow(10, e), e,
			 o->tol_kind == VGPU_TOL_ELEMENT ? "each" : "norm");
	}
	for (int c = 0; c < NCOLS; c++)
		if (!cells[c][0])
			snprintf(cells[c], CELL_MAX, "-");
}

/* ---- reading the document --------------------------------------------- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
		free(buf);
		buf = NULL;
	}
	if (buf)
		buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The next line of *@p into @line; false at the end. */
static bool next_line(const char **p, char *line, size_t len)
{
	const char *e;
	size_t n;

	if (!**p)
		return false;
	e = strchr(*p, '\n');
	n = e ? (size_t)(e - *p) : strlen(*p);
	snprintf(line, len, "%.*s", (int)n, *p);
	*p += n + (e ? 1 : 0);
	return true;
}

static void trim_into(char *dst, const char *src, size_t n)
{
	while (n && *src == ' ')
		src++, n--;
	while (n && (src[n - 1] == ' ' || src[n - 1] == '\r'))
		n--;
	snprintf(dst, CELL_MAX, "%.*s", (int)n, src);
}

/*
 * The rows of the simple table under the "Operations" title of @doc, cut
 * at the columns its border line sets: rows[i][NCOLS][CELL_MAX], at most
 * @max. Returns the number of rows, or -1 if there is no such table.
 */
static int doc_rows(const char *doc, char (*rows)[NCOLS][CELL_MAX], int max)
{
	const char *p = strstr(doc, "\nOperations\n===");
	size_t start[NCOLS + 1];
	char line[512];
	int borders = 0, nrows = 0, ncols = 0;

	if (!p)
		return -1;
	p++;
	next_line(&p, line, sizeof(line));
	next_line(&p, line, sizeof(line));	/* the title and its underline */
	while (next_line(&p, line, sizeof(line))) {
		if (line[0] == '=') {
			if (++borders == 1) {
				for (size_t i = 0; line[i] && ncols < NCOLS + 1; i++)
					if (line[i] == '=' && (i == 0 || line[i - 1] == ' '))
						start[ncols++] = i;
				if (ncols != NCOLS)
					return -1;
			}
			if (borders == 3)
				return nrows;
			continue;
		}
		if (borders != 2 || !line[0] || nrows == max)
			continue;
		for (int c = 0; c < NCOLS; c++) {
			size_t len = strlen(line);
			size_t a = start[c] < len ? start[c] : len;
			size_t b = c + 1 < NCOLS && start[c + 1] < len ? start[c + 1] : len;

			trim_into(rows[nrows][c], line + a, b - a);
		}
		nrows++;
	}
	return -1;
}

/* Rows of @doc that differ from the op table, each logged; -1: no table. */
static int count_mismatches(struct __test_metadata *_metadata, const char *doc)
{
	char (*rows)[NCOLS][CELL_MAX] = calloc(VGPU_NR_OPS + 4, sizeof(*rows));
	int n = doc_rows(doc, rows, VGPU_NR_OPS + 4), bad = 0;

	if (n < 0) {
		free(rows);
		return -1;
	}
	if (n != VGPU_NR_OPS) {
		TH_LOG("protocol.rst lists %d ops, the table %d", n, VGPU_NR_OPS);
		bad++;
	}
	for (int r = 0; r < n && r < VGPU_NR_OPS; r++) {
		char want[NCOLS][CELL_MAX];
		int op = vgpu_op_from_name(rows[r][0]);

		if (op < 0) {
			TH_LOG("protocol.rst row %d: no op '%s'", r, rows[r][0]);
			bad++;
			continue;
		}
		expected_row((uint32_t)op, want);
		for (int c = 0; c < NCOLS; c++)
			if (strcmp(want[c], rows[r][c])) {
				TH_LOG("%s, column %d: protocol.rst says '%s', the table '%s'",
				       want[0], c + 1, rows[r][c], want[c]);
				bad++;
			}
	}
	free(rows);
	return bad;
}

TEST(protocol_rst_says_what_the_op_table_says)
{
	char *doc = slurp(PROTOCOL_RST);

	ASSERT_NE(NULL, doc) TH_LOG("cannot read %s", PROTOCOL_RST);
	EXPECT_EQ(0, count_mismatches(_metadata, doc));
	free(doc);
}

/* The comparison notices a changed limit, tolerance or op number. */
TEST(a_changed_row_in_protocol_rst_is_noticed)
{
	static const struct {
		const char *from, *to;
	} edits[] = {
		{ "n 1..2^30, alpha f32", "n 1..2^31, alpha f32" },
		{ "1e-3 norm", "1e-4 norm" },
		{ "spin         7", "spin         8" },
		{ "f32[m][k], f32[k][n]", "f32[m][k], f32[n][k]" },
	};
	char *doc = slurp(PROTOCOL_RST);

	ASSERT_NE(NULL, doc);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		char *copy = strdup(doc), *at = strstr(copy, edits[i].from);

		ASSERT_NE(NULL, at) TH_LOG("'%s' not in protocol.rst", edits[i].from);
		ASSERT_EQ(strlen(edits[i].from), strlen(edits[i].to));
		memcpy(at, edits[i].to, strlen(edits[i].to));
		EXPECT_LT(0, count_mismatches(_metadata, copy)) TH_LOG("%s", edits[i].to);
		free(copy);
	}
	free(doc);
}

/* ---- the table against itself ------------------------------------------ */

/* Random valid arguments of @op, sizes small enough to compute here. */
static void small_args(const struct vgpu_op_info *o, uint64_t args[VGPU_NR_ARGS])
{
	memset(args, 0, VGPU_NR_ARGS * sizeof(*args));
	for (unsigned int i = 0; i < o->nargs; i++) {
		const struct vgpu_op_arg *a = &o->args[i];
		float f = (float)test_rand_range(0, 2000) / 1000.0f - 1.0f;
		uint32_t bits;

		if (a->kind == VGPU_ARG_F32) {
			memcpy(&bits, &f, 4);
			args[i] = bits;
		} else {
			args[i] = test_rand_range(a->min, a->min + (o->nargs > 1 ? 40 : 3000));
		}
	}
	if (!strcmp(o->name, "spin"))
		args[0] = test_rand_range(0, 20000);
}

TEST(every_argument_range_is_enforced)
{
	test_seed();
	for (uint32_t op = 0; op < VGPU_NR_OPS; op++) {
		const struct vgpu_op_info *o = vgpu_op_get(op);
		uint64_t args[VGPU_NR_ARGS], in, out;

		small_args(o, args);
		ASSERT_EQ(0, vgpu_op_sizes(op, args, &in, &out, NULL)) TH_LOG("%s", o->name);
		for (unsigned int i = 0; i < VGPU_NR_ARGS; i++) {
			const struct vgpu_op_arg *a = &o->args[i];
			uint64_t keep = args[i];

			switch (a->kind) {
			case VGPU_ARG_ZERO:
				args[i] = test_rand_range(1, UINT64_MAX);
				EXPECT_EQ(-EINVAL, vgpu_op_sizes(op, args, &in, &out, NULL));
				break;
			case VGPU_ARG_F32:
				args[i] |= test_rand_range(1, UINT32_MAX) << 32;
				EXPECT_EQ(-EINVAL, vgpu_op_sizes(op, args, &in, &out, NULL));
				break;
			case VGPU_ARG_COUNT:
				args[i] = a->max;
				EXPECT_EQ(0, vgpu_op_sizes(op, args, &in, &out, NULL));
				args[i] = test_rand_range(a->max + 1, UINT64_MAX);
				EXPECT_EQ(-EINVAL, vgpu_op_sizes(op, args, &in, &out, NULL))
					TH_LOG("%s %s=%llu", o->name, a->name,
					       (unsigned long long)args[i]);
				if (a->min) {
					args[i] = a->min - 1;
					EXPECT_EQ(-EINVAL, vgpu_op_sizes(op, args, &in, &out, NULL));
				}
				break;
			}
			args[i] = keep;
		}
	}
	EXPECT_EQ(NULL, vgpu_op_get(VGPU_NR_OPS));
	EXPECT_EQ(-EOPNOTSUPP, vgpu_op_sizes(VGPU_NR_OPS, (uint64_t[VGPU_NR_ARGS]){ 0 },
					      &(uint64_t){ 0 }, &(uint64_t){ 0 }, NULL));
}

TEST(each_reference_passes_its_check_and_a_perturbed_result_fails)
{
	test_seed();
	for (int round = 0; round < 5; round++)
		for (uint32_t op = 0; op < VGPU_NR_OPS; op++) {
			const struct vgpu_op_info *o = vgpu_op_get(op);
			struct vgpu_job_desc d = { .op = op };
			char msg[VGPU_MSG_LEN] = "";
			uint8_t *in, *out;
			double rel;

			small_args(o, d.args);
			if (op == VGPU_OP_SPIN)
				d.args[0] = 0;
			ASSERT_EQ(0, vgpu_op_sizes(op, d.args, &d.in_len, &d.out_len, NULL));
			in = malloc(d.in_len + 1);
			out = malloc(d.out_len + 1);
			ASSERT_NE(NULL, in);
			ASSERT_NE(NULL, out);
			test_rand_op_input(&d, in);
			ASSERT_EQ(0, vgpu_cpu_compute(&d, in, out, msg)) TH_LOG("%s", msg);
			EXPECT_EQ(0, vgpu_cpu_verify(&d, in, out, &rel, msg))
				TH_LOG("%s: %s", o->name, msg);
			if (d.out_len) {
				/* One element far off: a NaN for floats, a flipped bit else. */
				uint64_t at = test_rand_range(0, d.out_len / 4 - 1) * 4;

				if (o->out.elem == VGPU_ELEM_F32)
					memcpy(out + at, &(float){ NAN }, 4);
				else
					out[at] ^= 1;
				EXPECT_EQ(-EDOM, vgpu_cpu_verify(&d, in, out, &rel, msg))
					TH_LOG("%s: a perturbed result passed", o->name);
			}
			free(in);
			free(out);
		}
}

TEST_HARNESS_MAIN
