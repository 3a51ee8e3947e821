// SPDX-License-Identifier: MIT
/*
 * vgpu-cuda-test: every op of the CUDA backend against the CPU reference
 * (the op table's, lib/ops.c), through memory jobs and through file jobs
 * made of real request bytes, on fresh random inputs (each test prints its
 * seed; set VGPU_TEST_SEED to replay), at sizes that are not multiples of
 * any block size. Outputs are poisoned with NaN bytes first. A kselftest
 * harness program: each test runs in a child of its own, which opens the
 * backend (the parent never touches CUDA); without a usable GPU every test
 * is a SKIP, never a pass.
 *
 * Thresholds (NaN never passes: every comparison is written !(err <= thr)):
 *   vector_add, saxpy	bitwise equal (one fp32 add / one fma, like the CPU)
 *   checksum		equal
 *   reduce_sum		|out - sum| / sum|x| <= 1e-6, sum in float64
 *   sgemm		||out - ref|| / ||ref|| <= 1e-5 (fp32, no TF32: ~1e-7)
 *   gemm_bf16		||out - ref|| / ||ref|| <= 1e-3; the reference sees the
 *			same bf16 inputs, so only fp32 accumulation differs
 *   spin		took at least the asked time
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "job.h"
#include "vgpu/backend.h"
#include "vgpu/ops.h"
#include "vgpu/proto.h"
#include <misc/vgpu_regs.h>

#ifdef VGPU_HAVE_CUDA
#include "vgpu_cuda.h"

/* Logs of the helpers, which have no _metadata: unbuffered, as TH_LOG. */
#define LOG(fmt, ...)	fprintf(stderr, "# " fmt "\n", ##__VA_ARGS__)

enum { PASS, FAIL };

/* ---- random inputs -------------------------------------------------------- */

static __thread uint64_t rng_state;

static uint64_t rng(void)
{
	uint64_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return rng_state = x;
}

static float uniform(float lo, float hi)
{
	return lo + (hi - lo) * (float)(rng() >> 40) / (float)(1 << 24);
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- jobs ------------------------------------------------------------------ */

struct job_case {
	struct vgpu_job_desc d;
	uint8_t *in, *out;
};

static int make_case(struct job_case *c, uint32_t op, uint64_t a0, uint64_t a1, uint64_t a2)
{
	char why[VGPU_MSG_LEN];

	memset(c, 0, sizeof(*c));
	c->d.op = op;
	c->d.args[0] = a0;
	c->d.args[1] = a1;
	c->d.args[2] = a2;
	if (op == VGPU_OP_SAXPY) {
		float alpha = uniform(-2, 2);
		uint32_t bits;

		memcpy(&bits, &alpha, 4);
		c->d.args[1] = bits;
	}
	if (vgpu_op_sizes(op, c->d.args, &c->d.in_len, &c->d.out_len, why)) {
		LOG("bad shape: %s", why);
		return -EINVAL;
	}
	c->in = malloc(c->d.in_len + 1);
	c->out = malloc(c->d.out_len + 1);
	if (!c->in || !c->out)
		return -ENOMEM;
	if (op == VGPU_OP_CHECKSUM) {
		for (uint64_t i = 0; i < c->d.in_len; i++)
			c->in[i] = (uint8_t)(rng() >> 32);
	} else if (op == VGPU_OP_GEMM_BF16) {
		for (uint64_t i = 0; i < c->d.in_len / 2; i++) {
			uint16_t b = vgpu_f32_to_bf16(uniform(-1, 1));

			c->in[2 * i] = (uint8_t)b;		/* little-endian */
			c->in[2 * i + 1] = (uint8_t)(b >> 8);
		}
	} else {
		for (uint64_t i = 0; i < c->d.in_len / 4; i++) {
			float f = uniform(-1, 1);

			memcpy(c->in + 4 * i, &f, 4);
		}
	}
	memset(c->out, 0xff, c->d.out_len);	/* NaN poison */
	return 0;
}

static void free_case(struct job_case *c)
{
	free(c->in);
	free(c->out);
}

static double rel_err_f32(const float *out, const float *ref, size_t n)
{
	double num = 0, den = 0;

	for (size_t i = 0; i < n; i++) {
		double d = (double)out[i] - (double)ref[i];

		num += d * d;
		den += (double)ref[i] * (double)ref[i];
	}
	return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Compares c->out with the CPU reference; logs the error it measured. */
static int check_case(const struct job_case *c)
{
	const struct vgpu_job_desc *d = &c->d;
	char msg[VGPU_MSG_LEN];
	float *ref = malloc(d->out_len + 4);
	int ret = PASS;

	if (!ref || vgpu_cpu_compute(d, c->in, ref, msg)) {
		LOG("reference failed");
		free(ref);
		return FAIL;
	}
	switch (d->op) {
	case VGPU_OP_VECTOR_ADD:
	case VGPU_OP_SAXPY:
	case VGPU_OP_CHECKSUM:
		if (memcmp(c->out, ref, d->out_len)) {
			for (uint64_t i = 0; i < d->out_len; i += 4)
				if (memcmp(c->out + i, (uint8_t *)ref + i, 4)) {
					LOG("%s: first difference at byte %" PRIu64,
					       vgpu_op_name(d->op), i);
					break;
				}
			ret = FAIL;
		}
		break;
	case VGPU_OP_REDUCE_SUM: {
		const float *x = (const float *)c->in;
		double s = 0, abs_sum = 0, err;
		float got;

		for (uint64_t i = 0; i < d->args[0]; i++) {
			s += x[i];
			abs_sum += fabs(x[i]);
		}
		memcpy(&got, c->out, 4);
		err = fabs((double)got - s) / (abs_sum > 0 ? abs_sum : 1);
		if (!(err <= 1e-6)) {
			LOG("reduce_sum n=%" PRIu64 ": got %.9g want %.9g, err %.3g > 1e-6",
			       d->args[0], got, s, err);
			ret = FAIL;
		}
		break;
	}
	case VGPU_OP_SGEMM:
	case VGPU_OP_GEMM_BF16: {
		double thr = d->op == VGPU_OP_SGEMM ? 1e-5 : 1e-3;
		double err = rel_err_f32((const float *)c->out, ref, d->out_len / 4);

		LOG("%s %" PRIu64 "x%" PRIu64 "x%" PRIu64 ": rel err %.3g (threshold %g)",
		       vgpu_op_name(d->op), d->args[0], d->args[1], d->args[2], err, thr);
		if (!(err <= thr))
			ret = FAIL;
		break;
	}
	default:
		break;
	}
	free(ref);
	return ret;
}

/* ---- file jobs ------------------------------------------------------------- */

static const char *tmpdir(void)
{
	const char *t = getenv("TMPDIR");

	return t ? t : (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
}

/*
 * Writes a real request file for @c (header then payload, CRC over both),
 * optionally flipping one payload bit after the CRC was computed, and
 * returns open fds for the request and a response file.
 */
static int make_files(const struct job_case *c, bool corrupt, struct vgpu_req_hdr *h,
		      int *in_fd, int *out_fd)
{
	uint8_t hdr[VGPU_REQ_HDR_SIZE];
	char path[256];
	int fd;

	memset(h, 0, sizeof(*h));
	h->magic = VGPU_REQ_MAGIC;
	h->version = VGPU_PROTO_VERSION;
	h->hdr_size = VGPU_REQ_HDR_SIZE;
	h->op = c->d.op;
	h->id = rng();
	h->payload_len = c->d.in_len;
	h->out_len = c->d.out_len;
	memcpy(h->args, c->d.args, sizeof(h->args));
	h->crc32c = vgpu_req_crc(h, vgpu_crc32c(0, c->in, c->d.in_len));
	vgpu_req_encode(h, hdr);

	snprintf(path, sizeof(path), "%s/vgpu-cuda-test-XXXXXX", tmpdir());
	fd = mkstemp(path);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (pwrite(fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    pwrite(fd, c->in, c->d.in_len, sizeof(hdr)) != (ssize_t)c->d.in_len)
		goto fail;
	if (corrupt) {
		uint8_t b = c->in[c->d.in_len / 2] ^ 0x10;

		if (pwrite(fd, &b, 1, sizeof(hdr) + c->d.in_len / 2) != 1)
			goto fail;
	}
	*in_fd = fd;
	snprintf(path, sizeof(path), "%s/vgpu-cuda-test-XXXXXX", tmpdir());
	*out_fd = mkstemp(path);
	if (*out_fd < 0)
		goto fail;
	unlink(path);
	return 0;
fail:
	close(fd);
	return -EIO;
}

/* Runs @c as a file job; fills c->out from the response file. */
static int run_file(const struct vgpu_backend_ops *ops, struct vgpu_backend *be,
		    unsigned int pool, struct job_case *c, bool corrupt, char *msg)
{
	struct vgpu_req_hdr h;
	struct vgpu_job job;
	int in_fd = -1, out_fd = -1, err;

	err = make_files(c, corrupt, &h, &in_fd, &out_fd);
	if (err) {
		snprintf(msg, VGPU_MSG_LEN, "test files: %s", strerror(-err));
		return err;
	}
	vgpu_job_init_file(&job, &h, in_fd, VGPU_REQ_HDR_SIZE, out_fd, VGPU_RSP_HDR_SIZE);
	err = ops->run(be, pool, &c->d, &job, msg);
	if (!err) {
		if (!vgpu_job_output_complete(&job) ||
		    pread(out_fd, c->out, c->d.out_len, VGPU_RSP_HDR_SIZE) !=
		    (ssize_t)c->d.out_len) {
			snprintf(msg, VGPU_MSG_LEN, "response file short");
			err = -EIO;
		} else if (job.out_crc != vgpu_crc32c(0, c->out, c->d.out_len)) {
			snprintf(msg, VGPU_MSG_LEN, "response CRC does not match its bytes");
			err = -EIO;
		}
	}
	close(in_fd);
	close(out_fd);
	return err;
}

static int run_mem(const struct vgpu_backend_ops *ops, struct vgpu_backend *be,
		   unsigned int pool, struct job_case *c, char *msg)
{
	struct vgpu_job job;
	int err;

	vgpu_job_init_mem(&job, c->in, c->d.in_len, c->out, c->d.out_len);
	err = ops->run(be, pool, &c->d, &job, msg);
	if (!err && !vgpu_job_output_complete(&job)) {
		snprintf(msg, VGPU_MSG_LEN, "output incomplete");
		err = -EIO;
	}
	return err;
}

/* ---- fixtures -------------------------------------------------------------- */

static const struct vgpu_backend_ops *ops = &vgpu_backend_cuda;

static int open_be(struct vgpu_backend **out, unsigned int sms_a, unsigned int sms_b,
		   uint64_t mem_limit, uint64_t staging)
{
	struct vgpu_backend_conf conf = {
		.pools = { { VGPU_POOL_A, sms_a, mem_limit }, { VGPU_POOL_B, sms_b, mem_limit } },
		.nr_pools = 2,
		.staging_bytes = staging,
	};
	char why[VGPU_MSG_LEN] = "";
	int err = ops->open(&conf, out, why);

	if (err)
		LOG("open(sms %u/%u, mem_limit %" PRIu64 "): %s: %s", sms_a, sms_b,
		    mem_limit, strerror(-err), why);
	return err;
}

/* Seeds this test's inputs; SKIPs it without a usable GPU. */
#define GPU_SETUP(self)								\
	do {									\
		const char *env = getenv("VGPU_TEST_SEED");			\
		uint64_t seed = env ? strtoull(env, NULL, 0) :			\
			now_ns() ^ ((uint64_t)getpid() << 32);			\
		char why[VGPU_MSG_LEN] = "";					\
									\
		TH_LOG("seed %" PRIu64 " (VGPU_TEST_SEED to replay)", seed);	\
		rng_state = seed | 1;						\
		if (ops->probe(why))						\
			SKIP(return, "%s", why);				\
		ASSERT_EQ(0, open_be(&(self)->be, 0, 0, 0, 0));			\
	} while (0)

/* This harness runs the test even when its setup SKIPped: it returns. */
#define SKIPPED_IN_SETUP()	(_metadata->skip)

/* One backend with default staging and shared SMs. */
FIXTURE(gpu) {
	struct vgpu_backend *be;
};

FIXTURE_SETUP(gpu)
{
	GPU_SETUP(self);
}

FIXTURE_TEARDOWN(gpu)
{
	if (self->be)
		ops->close(self->be);
}

/* ---- every op, in memory and in files -------------------------------------- */

/* Memory jobs run on pool A of the default backend; file jobs on pool B of
 * one with 128 KiB staging, so that their bytes take many chunks. */
FIXTURE(op) {
	struct vgpu_backend *be;
};

FIXTURE_VARIANT(op) {
	uint32_t op;
	uint64_t a0, a1, a2;
	bool file;
};

#define MEM(o, a, b, c)								\
	FIXTURE_VARIANT_ADD(op, mem_##o##_##a##_##b##_##c) {			\
		.op = VGPU_OP_##o, .a0 = a, .a1 = b, .a2 = c };
#define FILE_(o, a, b, c)							\
	FIXTURE_VARIANT_ADD(op, file_##o##_##a##_##b##_##c) {			\
		.op = VGPU_OP_##o, .a0 = a, .a1 = b, .a2 = c, .file = true };

MEM(NOOP, 0, 0, 0)
MEM(VECTOR_ADD, 1, 0, 0) MEM(VECTOR_ADD, 255, 0, 0) MEM(VECTOR_ADD, 65537, 0, 0)
MEM(VECTOR_ADD, 4194307, 0, 0)
MEM(SAXPY, 1, 0, 0) MEM(SAXPY, 1000, 0, 0) MEM(SAXPY, 65537, 0, 0)
MEM(SAXPY, 4194307, 0, 0)
MEM(REDUCE_SUM, 1, 0, 0) MEM(REDUCE_SUM, 255, 0, 0) MEM(REDUCE_SUM, 262143, 0, 0)
MEM(REDUCE_SUM, 16777259, 0, 0)
MEM(CHECKSUM, 1, 0, 0) MEM(CHECKSUM, 3, 0, 0) MEM(CHECKSUM, 2047, 0, 0)
MEM(CHECKSUM, 2049, 0, 0) MEM(CHECKSUM, 1000003, 0, 0) MEM(CHECKSUM, 67108871, 0, 0)
MEM(SGEMM, 1, 1, 1) MEM(SGEMM, 17, 33, 9) MEM(SGEMM, 128, 128, 128)
MEM(SGEMM, 257, 129, 511) MEM(SGEMM, 500, 301, 700)
MEM(GEMM_BF16, 1, 1, 1) MEM(GEMM_BF16, 17, 33, 9) MEM(GEMM_BF16, 128, 128, 128)
MEM(GEMM_BF16, 257, 129, 511) MEM(GEMM_BF16, 500, 301, 700)
FILE_(NOOP, 0, 0, 0) FILE_(VECTOR_ADD, 300007, 0, 0) FILE_(SAXPY, 1000001, 0, 0)
FILE_(REDUCE_SUM, 999999, 0, 0) FILE_(CHECKSUM, 5000011, 0, 0)
FILE_(SGEMM, 200, 301, 150) FILE_(GEMM_BF16, 333, 97, 211)

FIXTURE_SETUP(op)
{
	GPU_SETUP(self);
	if (SKIPPED_IN_SETUP())
		return;
	if (variant->file) {
		ops->close(self->be);
		self->be = NULL;
		ASSERT_EQ(0, open_be(&self->be, 0, 0, 0, 128 << 10));
	}
}

FIXTURE_TEARDOWN(op)
{
	if (self->be)
		ops->close(self->be);
}

TEST_F(op, matches_the_reference)
{
	struct job_case c;
	char msg[VGPU_MSG_LEN] = "";
	int err;

	if (SKIPPED_IN_SETUP())
		return;
	ASSERT_EQ(0, make_case(&c, variant->op, variant->a0, variant->a1, variant->a2));
	if (variant->file)
		err = run_file(ops, self->be, VGPU_POOL_B, &c, false, msg);
	else
		err = run_mem(ops, self->be, VGPU_POOL_A, &c, msg);
	EXPECT_EQ(0, err) TH_LOG("run: %s: %s", strerror(-err), msg);
	if (!err)
		EXPECT_EQ(PASS, check_case(&c));
	free_case(&c);
}

/* ---- spin, errors, both pools -------------------------------------------- */

static void spin_for(struct __test_metadata *_metadata, struct vgpu_backend *be, uint64_t ns)
{
	struct job_case c;
	char msg[VGPU_MSG_LEN] = "";
	uint64_t t0, dt;
	int err;

	ASSERT_EQ(0, make_case(&c, VGPU_OP_SPIN, ns, 0, 0));
	t0 = now_ns();
	err = run_mem(ops, be, VGPU_POOL_A, &c, msg);
	dt = now_ns() - t0;
	free_case(&c);
	TH_LOG("spin %" PRIu64 " ns took %" PRIu64 " ns", ns, dt);
	ASSERT_EQ(0, err) TH_LOG("run: %s: %s", strerror(-err), msg);
	EXPECT_LE(ns, dt);
	EXPECT_GT(ns + 100000000ull, dt);
}

TEST_F(gpu, spin_20us)
{
	if (SKIPPED_IN_SETUP())
		return;
	spin_for(_metadata, self->be, 20000);
}

TEST_F(gpu, spin_1ms)
{
	if (SKIPPED_IN_SETUP())
		return;
	spin_for(_metadata, self->be, 1000000);
}

/* A payload that fails its CRC is refused before any output; the next
 * job on the same pool succeeds. */
TEST_F(gpu, file_corrupt_payload)
{
	struct vgpu_backend *small;
	struct job_case c;
	char msg[VGPU_MSG_LEN] = "";
	int err;

	if (SKIPPED_IN_SETUP())
		return;

	ASSERT_EQ(0, open_be(&small, 0, 0, 0, 128 << 10));
	ASSERT_EQ(0, make_case(&c, VGPU_OP_SAXPY, 300007, 0, 0));
	err = run_file(ops, small, VGPU_POOL_A, &c, true, msg);
	TH_LOG("corrupted payload: %s: %s", strerror(-err), msg);
	EXPECT_EQ(-EBADMSG, err);
	err = run_file(ops, small, VGPU_POOL_A, &c, false, msg);
	EXPECT_EQ(0, err) TH_LOG("next job: %s: %s", strerror(-err), msg);
	if (!err)
		EXPECT_EQ(PASS, check_case(&c));
	free_case(&c);
	ops->close(small);
}

/* Over the pool's mem_limit: -E2BIG; beyond the GPU: -ENOMEM; the pool
 * runs the next job either way. */
TEST_F(gpu, mem_limit)
{
	struct vgpu_backend *lim;
	struct job_case c, big;
	struct vgpu_job job;
	char msg[VGPU_MSG_LEN] = "";
	int err;

	if (SKIPPED_IN_SETUP())
		return;

	ASSERT_EQ(0, open_be(&lim, 0, 0, 1 << 20, 0));
	ASSERT_EQ(0, make_case(&big, VGPU_OP_VECTOR_ADD, 1 << 20, 0, 0));
	ASSERT_EQ(0, make_case(&c, VGPU_OP_REDUCE_SUM, 1000, 0, 0));
	err = run_mem(ops, lim, VGPU_POOL_A, &big, msg);
	TH_LOG("8 MiB job, 1 MiB limit: %s: %s", strerror(-err), msg);
	EXPECT_EQ(-E2BIG, err);
	err = run_mem(ops, lim, VGPU_POOL_A, &c, msg);
	EXPECT_EQ(0, err) TH_LOG("next job: %s: %s", strerror(-err), msg);
	EXPECT_EQ(PASS, check_case(&c));
	ops->close(lim);

	/* 2^20 cubed SGEMM: 12 TiB of operands; the input is never read. */
	memset(&big.d, 0, sizeof(big.d));
	big.d.op = VGPU_OP_SGEMM;
	big.d.args[0] = big.d.args[1] = big.d.args[2] = 1 << 20;
	ASSERT_EQ(0, vgpu_op_sizes(big.d.op, big.d.args, &big.d.in_len, &big.d.out_len, msg));
	vgpu_job_init_mem(&job, NULL, big.d.in_len, NULL, big.d.out_len);
	err = ops->run(self->be, VGPU_POOL_B, &big.d, &job, msg);
	TH_LOG("12 TiB job, no limit: %s: %s", strerror(-err), msg);
	EXPECT_EQ(-ENOMEM, err);
	memset(c.out, 0xff, c.d.out_len);
	err = run_mem(ops, self->be, VGPU_POOL_B, &c, msg);
	EXPECT_EQ(0, err) TH_LOG("next job: %s: %s", strerror(-err), msg);
	EXPECT_EQ(PASS, check_case(&c));
	free_case(&c);
	free_case(&big);
}

struct shape {
	uint32_t op;
	uint64_t a0, a1, a2;
};

struct worker {
	struct vgpu_backend *be;
	unsigned int pool;
	uint64_t seed;
	int jobs, failed;
};

static void *worker_fn(void *arg)
{
	static const struct shape mix[] = {
		{ VGPU_OP_SAXPY, 100003, 0, 0 },
		{ VGPU_OP_SGEMM, 96, 80, 67 },
		{ VGPU_OP_CHECKSUM, 300001, 0, 0 },
		{ VGPU_OP_REDUCE_SUM, 200001, 0, 0 },
		{ VGPU_OP_GEMM_BF16, 130, 70, 90 },
		{ VGPU_OP_VECTOR_ADD, 77777, 0, 0 },
		{ VGPU_OP_SPIN, 50000, 0, 0 },
	};
	struct worker *w = arg;

	rng_state = w->seed;
	for (int i = 0; i < w->jobs; i++) {
		const struct shape *s = &mix[i % (sizeof(mix) / sizeof(mix[0]))];
		char msg[VGPU_MSG_LEN] = "";
		struct job_case c;
		int err;

		if (make_case(&c, s->op, s->a0, s->a1, s->a2)) {
			w->failed++;
			continue;
		}
		err = run_mem(ops, w->be, w->pool, &c, msg);
		if (err || check_case(&c) != PASS) {
			LOG("pool %u job %d (%s): %s", w->pool, i, vgpu_op_name(s->op), msg);
			w->failed++;
		}
		free_case(&c);
	}
	return NULL;
}

/* 42 jobs of a mix on each pool at once, from two threads. */
static void run_pools(struct __test_metadata *_metadata, struct vgpu_backend *b)
{
	struct worker w[2] = {
		{ b, VGPU_POOL_A, rng() | 1, 42, 0 },
		{ b, VGPU_POOL_B, rng() | 1, 42, 0 },
	};
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, worker_fn, &w[i]));
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	TH_LOG("pool A: %d/%d failed, pool B: %d/%d failed", w[0].failed, w[0].jobs,
	       w[1].failed, w[1].jobs);
	EXPECT_EQ(0, w[0].failed);
	EXPECT_EQ(0, w[1].failed);
}

TEST_F_TIMEOUT(gpu, pools_concurrent_shared, 300)
{
	if (SKIPPED_IN_SETUP())
		return;
	run_pools(_metadata, self->be);
}

/* Green-context partitions: 72/56 SMs on a 132-SM H100 (multiples of 8). */
TEST_F_TIMEOUT(gpu, pools_concurrent_green, 300)
{
	struct vgpu_backend *g;

	if (SKIPPED_IN_SETUP())
		return;

	ASSERT_EQ(0, open_be(&g, 72, 56, 0, 0));
	TH_LOG("pool A %u SMs (green %d), pool B %u SMs (green %d)",
	       vgpu_cuda_pool_sms(g, 0), vgpu_cuda_pool_green(g, 0),
	       vgpu_cuda_pool_sms(g, 1), vgpu_cuda_pool_green(g, 1));
	run_pools(_metadata, g);
	EXPECT_LE(72u, vgpu_cuda_pool_sms(g, 0));
	EXPECT_LE(56u, vgpu_cuda_pool_sms(g, 1));
	EXPECT_TRUE(vgpu_cuda_pool_green(g, 0));
	EXPECT_TRUE(vgpu_cuda_pool_green(g, 1));
	ops->close(g);
}

#else /* !VGPU_HAVE_CUDA */

TEST(cuda)
{
	SKIP(return, "built without CUDA (no nvcc)");
}

#endif

TEST_HARNESS_MAIN
