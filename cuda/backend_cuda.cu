// SPDX-License-Identifier: MIT
/*
 * CUDA backend: runs every op of the op table (include/vgpu/ops.h) on the first GPU.
 *
 * Pools. Each pool has its own stream, cuBLAS handle, pinned staging
 * buffers and device buffer, touched only by that pool's worker thread, so
 * run() takes no lock. A pool configured with sms > 0 gets a green context
 * holding that many SMs (rounded up by the driver to its granularity, 8 on
 * the H100); the two partitions are disjoint. A pool with sms == 0 runs in
 * the device's primary context and shares all SMs. run() makes the pool's
 * context current on the calling thread first (a thread-local store).
 *
 * Data path. Input is read with vgpu_job_read() into one of two pinned
 * staging buffers while the other one's cudaMemcpyAsync to the device is in
 * flight; output comes back the same way. The device buffer is sized from
 * the op's shape before any byte is read, checked against the pool's
 * mem_limit, and kept between jobs (it only grows: a pool holds the
 * largest job it has run so far, at most mem_limit).
 *
 * Errors. Every CUDA call goes through VGPU_CUDA_CHECK; a failure fails the
 * job with a message naming the call and nothing else. Invariant: run()
 * returns with the pool's stream idle, whatever happened, so staging
 * buffers are never reused under a DMA. The one exception is an error
 * raised inside a kernel (illegal address and the like): CUDA then loses
 * the whole context, and the pool refuses further jobs with -EIO.
 */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cublas_v2.h>
#include <cuda.h>
#include <cudaTypedefs.h>
#include <cuda_runtime.h>

extern "C" {
#include "job.h"
#include "vgpu/backend.h"
}

#include "cuda_check.h"
#include "kernels.h"
#include "vgpu_cuda.h"

#define STAGING_BYTES_DEFAULT	(2ull << 20)	/* per pool: 2 x 1 MiB, as the mediator's config */
#define STAGING_BYTES_MIN	(64ull << 10)
#define BLAS_WORKSPACE_BYTES	(32ull << 20)	/* per pool, what cuBLAS asks for on Hopper */
#define DEV_ALIGN		256		/* bytes; cudaMalloc's own alignment */
#define VGPU_NR_POOLS_MAX	2		/* struct vgpu_backend_conf.pools[] */

/* Driver API entry points, resolved through the runtime so that nothing
 * links libcuda: the program starts on a host without the GPU driver. */
struct drv {
	PFN_cuCtxSetCurrent_v4000 ctx_set_current;
	PFN_cuCtxGetCurrent_v4000 ctx_get_current;
	PFN_cuGetErrorName_v6000 get_error_name;
	PFN_cuDeviceGetDevResource_v12040 device_get_resource;
	PFN_cuDevSmResourceSplitByCount_v12040 sm_split;
	PFN_cuDevResourceGenerateDesc_v12040 generate_desc;
	PFN_cuGreenCtxCreate_v12040 green_create;
	PFN_cuGreenCtxDestroy_v12040 green_destroy;
	PFN_cuCtxFromGreenCtx_v12040 ctx_from_green;
	PFN_cuGreenCtxStreamCreate_v12050 green_stream_create;
};

struct pool {
	unsigned int index;
	bool open;
	CUgreenCtx green;		/* NULL: primary context, all SMs */
	CUcontext ctx;			/* made current by each run() */
	unsigned int sms;		/* SMs its kernels can use */
	cudaStream_t stream;
	cublasHandle_t blas;
	void *blas_ws;			/* BLAS_WORKSPACE_BYTES */
	uint8_t *stage[2];		/* pinned, stage_bytes each */
	cudaEvent_t staged[2];		/* the last copy from stage[i] is done */
	bool stage_busy[2];		/* staged[i] recorded and not waited for */
	uint64_t stage_bytes;
	uint8_t *dev;			/* device buffer held between jobs */
	uint64_t dev_bytes;
	uint64_t mem_limit;		/* 0: as much as cudaMalloc gives */
	bool broken;			/* context lost: refuse jobs */
};

struct vgpu_backend {
	int device;
	unsigned int sms_total;
	CUcontext primary;
	struct drv drv;
	struct vgpu_gf_x2n x2n;		/* CRC combination powers */
	unsigned int nr_pools;
	struct pool pools[VGPU_NR_POOLS_MAX];
};

/* Where a job's bytes live in the pool's device buffer. */
struct layout {
	unsigned int nseg;
	uint64_t seg_off[2], seg_len[2];	/* input, in payload order */
	uint64_t out_off;
	uint64_t scratch_off;
	uint64_t bytes;				/* device bytes the job needs */
};

static uint64_t align_up(uint64_t v)
{
	return (v + DEV_ALIGN - 1) & ~(uint64_t)(DEV_ALIGN - 1);
}

/* Fail the job with the recorded CUDA error; a lost context stays lost. */
static int cuda_fail(struct pool *p, char *msg)
{
	const struct vgpu_cuda_err *e = vgpu_cuda_last_err();

	if (msg)	/* NULL: keep the message of an earlier failure */
		vgpu_cuda_err_msg(msg, VGPU_MSG_LEN);
	if (e->sticky)
		p->broken = true;
	return -EIO;
}

static int load_driver(struct drv *d, char *why)
{
	static const struct {
		const char *name;
		size_t off;
	} syms[] = {
#define SYM(field, name) { name, offsetof(struct drv, field) }
		SYM(ctx_set_current, "cuCtxSetCurrent"),
		SYM(ctx_get_current, "cuCtxGetCurrent"),
		SYM(get_error_name, "cuGetErrorName"),
		SYM(device_get_resource, "cuDeviceGetDevResource"),
		SYM(sm_split, "cuDevSmResourceSplitByCount"),
		SYM(generate_desc, "cuDevResourceGenerateDesc"),
		SYM(green_create, "cuGreenCtxCreate"),
		SYM(green_destroy, "cuGreenCtxDestroy"),
		SYM(ctx_from_green, "cuCtxFromGreenCtx"),
		SYM(green_stream_create, "cuGreenCtxStreamCreate"),
#undef SYM
	};

	for (size_t i = 0; i < sizeof(syms) / sizeof(syms[0]); i++) {
		cudaDriverEntryPointQueryResult q;
		void *fn = NULL;

		if (VGPU_CUDA_CHECK(cudaGetDriverEntryPointByVersion(syms[i].name, &fn,
				CUDART_VERSION, cudaEnableDefault, &q)) ||
		    q != cudaDriverEntryPointSuccess || !fn) {
			snprintf(why, VGPU_MSG_LEN, "driver lacks %s (need CUDA %d)",
				 syms[i].name, CUDART_VERSION / 1000);
			return -ENODEV;
		}
		memcpy((char *)d + syms[i].off, &fn, sizeof(fn));
	}
	vgpu_cuda_set_driver_error_name(d->get_error_name);
	return 0;
}

static int cuda_probe(char *why)
{
	int n = 0, major = 0;
	cudaError_t e = cudaGetDeviceCount(&n);

	if (e != cudaSuccess || n == 0) {
		snprintf(why, VGPU_MSG_LEN, "no usable GPU: %s",
			 e ? cudaGetErrorString(e) : "no device");
		cudaGetLastError();
		return -ENODEV;
	}
	if (VGPU_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, 0))) {
		vgpu_cuda_err_msg(why, VGPU_MSG_LEN);
		return -ENODEV;
	}
	/* The fatbinary holds sm_90 code and compute_90 PTX: Hopper or later. */
	if (major < 9) {
		snprintf(why, VGPU_MSG_LEN, "GPU 0 is compute %d.x, need 9.0 or later", major);
		return -ENODEV;
	}
	return 0;
}

/*
 * SM partitions. A driver split cannot be split again (not without making a
 * green context of it first), and its groups are rounded up to the SM
 * granularity (8 on the H100) and laid out along the GPCs, so the pools
 * are carved in one split: the first pool that asks gets one group of at
 * least its sms, and a second pool that asks gets the whole remainder when
 * its sms fit in it. On the H100's 132 SMs, 72 + 60 gives exactly 72/60;
 * 72 + 56 gives 72/60 (the remainder is not split further).
 */
struct sm_grant {
	CUdevResource res;
	unsigned int sms;
};

static int split_sms(struct vgpu_backend *be, const struct vgpu_backend_conf *conf,
		     struct sm_grant grant[], char *why)
{
	CUdevResource dev, rest;
	bool first = true;

	memset(&rest, 0, sizeof(rest));
	for (unsigned int i = 0; i < conf->nr_pools; i++) {
		unsigned int want = conf->pools[i].sms, nb = 1;

		if (!want)
			continue;
		if (first) {
			if (VGPU_CUDA_CHECK(be->drv.device_get_resource(be->device, &dev,
									CU_DEV_RESOURCE_TYPE_SM)))
				goto fail;
			if (want > dev.sm.smCount) {
				snprintf(why, VGPU_MSG_LEN, "pool %c: sms %u > %u on this GPU",
					 'A' + i, want, dev.sm.smCount);
				return -EINVAL;
			}
			if (VGPU_CUDA_CHECK(be->drv.sm_split(&grant[i].res, &nb, &dev, &rest, 0,
							     want)))
				goto fail;
			if (nb != 1) {
				snprintf(why, VGPU_MSG_LEN, "pool %c: no group of %u SMs",
					 'A' + i, want);
				return -EINVAL;
			}
			first = false;
		} else {
			if (rest.type != CU_DEV_RESOURCE_TYPE_SM || want > rest.sm.smCount) {
				snprintf(why, VGPU_MSG_LEN, "pool %c: sms %u > %u SMs left",
					 'A' + i, want, rest.type == CU_DEV_RESOURCE_TYPE_SM ?
					 rest.sm.smCount : 0);
				return -EINVAL;
			}
			grant[i].res = rest;
			rest.type = (CUdevResourceType)0;	/* given away */
		}
		grant[i].sms = grant[i].res.sm.smCount;
	}
	return 0;
fail:
	vgpu_cuda_err_msg(why, VGPU_MSG_LEN);
	return -ENODEV;
}

/* Stream, handles and buffers of one pool, created in its own context. */
static int pool_open(struct vgpu_backend *be, struct pool *p, const struct vgpu_pool_conf *pc,
		     struct sm_grant *sm, uint64_t staging_bytes, char *why)
{
	p->index = pc->index;
	p->mem_limit = pc->mem_limit;
	p->stage_bytes = staging_bytes / 2;
	p->ctx = be->primary;
	p->sms = be->sms_total;

	if (pc->sms) {
		CUdevResourceDesc desc;

		if (VGPU_CUDA_CHECK(be->drv.generate_desc(&desc, &sm->res, 1)) ||
		    VGPU_CUDA_CHECK(be->drv.green_create(&p->green, desc, be->device,
							 CU_GREEN_CTX_DEFAULT_STREAM)) ||
		    VGPU_CUDA_CHECK(be->drv.ctx_from_green(&p->ctx, p->green)))
			goto fail;
		p->sms = sm->sms;
	}
	if (VGPU_CUDA_CHECK(be->drv.ctx_set_current(p->ctx)))
		goto fail;
	if (p->green) {
		CUstream s;

		if (VGPU_CUDA_CHECK(be->drv.green_stream_create(&s, p->green,
								CU_STREAM_NON_BLOCKING, 0)))
			goto fail;
		p->stream = (cudaStream_t)s;
	} else if (VGPU_CUDA_CHECK(cudaStreamCreateWithFlags(&p->stream, cudaStreamNonBlocking))) {
		goto fail;
	}
	for (int i = 0; i < 2; i++)
		if (VGPU_CUDA_CHECK(cudaHostAlloc((void **)&p->stage[i], p->stage_bytes,
						  cudaHostAllocPortable)) ||
		    VGPU_CUDA_CHECK(cudaEventCreateWithFlags(&p->staged[i],
							     cudaEventDisableTiming)))
			goto fail;
	/* cuBLAS math mode stays CUBLAS_DEFAULT_MATH: SGEMM is true fp32, no TF32. */
	if (VGPU_CUDA_CHECK(cudaMalloc(&p->blas_ws, BLAS_WORKSPACE_BYTES)) ||
	    VGPU_CUDA_CHECK(cublasCreate(&p->blas)) ||
	    VGPU_CUDA_CHECK(cublasSetStream(p->blas, p->stream)) ||
	    VGPU_CUDA_CHECK(cublasSetWorkspace(p->blas, p->blas_ws, BLAS_WORKSPACE_BYTES)) ||
	    VGPU_CUDA_CHECK(cublasSetMathMode(p->blas, CUBLAS_DEFAULT_MATH)))
		goto fail;
	p->open = true;
	return 0;
fail:
	vgpu_cuda_err_msg(why, VGPU_MSG_LEN);
	return -ENODEV;
}

/* Undoes whatever part of pool_open() succeeded; errors are logged only. */
static void pool_close(struct vgpu_backend *be, struct pool *p)
{
	if (!p->ctx || VGPU_CUDA_CHECK(be->drv.ctx_set_current(p->ctx)))
		goto out;
	if (p->stream)
		VGPU_CUDA_CHECK(cudaStreamSynchronize(p->stream));
	if (p->blas)
		VGPU_CUDA_CHECK(cublasDestroy(p->blas));
	VGPU_CUDA_CHECK(cudaFree(p->blas_ws));
	VGPU_CUDA_CHECK(cudaFree(p->dev));
	for (int i = 0; i < 2; i++) {
		VGPU_CUDA_CHECK(cudaFreeHost(p->stage[i]));
		if (p->staged[i])
			VGPU_CUDA_CHECK(cudaEventDestroy(p->staged[i]));
	}
	if (p->stream)
		VGPU_CUDA_CHECK(cudaStreamDestroy(p->stream));
out:
	if (p->green)
		VGPU_CUDA_CHECK(be->drv.green_destroy(p->green));
	memset(p, 0, sizeof(*p));
}

static void cuda_close(struct vgpu_backend *be)
{
	if (!be)
		return;
	for (unsigned int i = 0; i < VGPU_NR_POOLS_MAX; i++)
		pool_close(be, &be->pools[i]);
	if (be->primary)
		be->drv.ctx_set_current(be->primary);
	free(be);
}

static int cuda_open(const struct vgpu_backend_conf *conf, struct vgpu_backend **out,
		     char *why)
{
	struct sm_grant *sm = NULL;
	struct vgpu_backend *be;
	uint64_t staging = conf->staging_bytes ? conf->staging_bytes : STAGING_BYTES_DEFAULT;
	int err, sms = 0;

	if (conf->nr_pools < 1 || conf->nr_pools > VGPU_NR_POOLS_MAX) {
		snprintf(why, VGPU_MSG_LEN, "%u pools, need 1..%d", conf->nr_pools,
			 VGPU_NR_POOLS_MAX);
		return -EINVAL;
	}
	if (staging < STAGING_BYTES_MIN) {
		snprintf(why, VGPU_MSG_LEN, "staging_bytes %" PRIu64 " < %llu", staging,
			 STAGING_BYTES_MIN);
		return -EINVAL;
	}
	err = cuda_probe(why);
	if (err)
		return err;
	be = (struct vgpu_backend *)calloc(1, sizeof(*be));
	if (!be) {
		snprintf(why, VGPU_MSG_LEN, "out of memory");
		return -ENOMEM;
	}
	vgpu_gf_x2n_init(&be->x2n);
	be->nr_pools = conf->nr_pools;
	err = -ENODEV;
	if (load_driver(&be->drv, why))
		goto fail;
	/* Creates the primary context, which the green contexts come from. */
	if (VGPU_CUDA_CHECK(cudaSetDevice(be->device)) || VGPU_CUDA_CHECK(cudaFree(NULL)) ||
	    VGPU_CUDA_CHECK(be->drv.ctx_get_current(&be->primary)) ||
	    VGPU_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount,
						   be->device))) {
		vgpu_cuda_err_msg(why, VGPU_MSG_LEN);
		goto fail;
	}
	be->sms_total = (unsigned int)sms;
	sm = (struct sm_grant *)calloc(VGPU_NR_POOLS_MAX, sizeof(*sm));
	err = -ENOMEM;
	if (!sm) {
		snprintf(why, VGPU_MSG_LEN, "out of memory");
		goto fail;
	}
	err = split_sms(be, conf, sm, why);
	if (err)
		goto fail;
	for (unsigned int i = 0; i < conf->nr_pools; i++) {
		err = pool_open(be, &be->pools[i], &conf->pools[i], &sm[i], staging, why);
		if (err)
			goto fail;
		fprintf(stderr, "vgpu cuda: pool %c: %u of %u SMs%s, staging 2 x %" PRIu64
			" KiB, mem_limit %" PRIu64 " MiB\n", 'A' + i, be->pools[i].sms,
			be->sms_total, be->pools[i].green ? " (green context)" : " (shared)",
			be->pools[i].stage_bytes >> 10, conf->pools[i].mem_limit >> 20);
	}
	free(sm);
	*out = be;
	return 0;
fail:
	free(sm);
	cuda_close(be);
	return err;
}

/*
 * Device layout of a job: the op table's input arrays (include/vgpu/ops.h)
 * at aligned offsets in payload order, then the output. What is the
 * kernels' own: vector_add and saxpy write their result over their second
 * input in place, and the reduction keeps its partial sums in scratch
 * between input and output. The shape was validated by vgpu_req_check().
 */
static void plan_job(const struct vgpu_job_desc *d, struct layout *l)
{
	const struct vgpu_op_info *o = vgpu_op_get(d->op);
	uint64_t end = 0;

	memset(l, 0, sizeof(*l));
	l->nseg = o->nin;
	for (unsigned int i = 0; i < o->nin; i++) {
		l->seg_off[i] = align_up(end);
		l->seg_len[i] = vgpu_op_array_bytes(&o->in[i], d->args);
		end = l->seg_off[i] + l->seg_len[i];
	}
	if (d->op == VGPU_OP_VECTOR_ADD || d->op == VGPU_OP_SAXPY) {
		l->out_off = l->seg_off[1];
	} else {
		if (d->op == VGPU_OP_REDUCE_SUM) {
			l->scratch_off = align_up(end);
			end = l->scratch_off + 8ull * vgpu_reduce_blocks(d->args[0]);
		}
		l->out_off = align_up(end);
		end = l->out_off + d->out_len;
	}
	l->bytes = end;
}

/* Makes the pool's device buffer at least @bytes. Runs with the stream idle. */
static int reserve(struct pool *p, uint64_t bytes, char *msg)
{
	cudaError_t e;

	if (p->mem_limit && bytes > p->mem_limit) {
		snprintf(msg, VGPU_MSG_LEN, "job needs %" PRIu64 " MiB > pool limit %" PRIu64
			 " MiB", (bytes + (1 << 20) - 1) >> 20, p->mem_limit >> 20);
		return -E2BIG;
	}
	if (bytes <= p->dev_bytes)
		return 0;
	/* cudaFree waits for the device: only when a larger job arrives. */
	if (p->dev && VGPU_CUDA_CHECK(cudaFree(p->dev)))
		return cuda_fail(p, msg);
	p->dev = NULL;
	p->dev_bytes = 0;
	e = cudaMalloc((void **)&p->dev, bytes);
	if (e == cudaErrorMemoryAllocation) {
		cudaGetLastError();	/* not sticky: clear it */
		p->dev = NULL;
		snprintf(msg, VGPU_MSG_LEN, "job needs %" PRIu64 " MiB of device memory, "
			 "not available", (bytes + (1 << 20) - 1) >> 20);
		return -ENOMEM;
	}
	if (VGPU_CUDA_CHECK(e))
		return cuda_fail(p, msg);
	p->dev_bytes = bytes;
	return 0;
}

/*
 * Input: read a chunk into a staging buffer, start its copy, read the next
 * chunk into the other buffer while the first one's DMA runs. Before a
 * buffer is refilled, the copy that last read it must have finished.
 */
static int stage_in(struct pool *p, struct vgpu_job *job, uint8_t *dst, uint64_t len,
		    unsigned int *slot, char *msg)
{
	uint64_t off = 0;

	while (off < len) {
		uint64_t c = len - off < p->stage_bytes ? len - off : p->stage_bytes;
		unsigned int i = *slot;
		int err;

		*slot ^= 1;
		if (p->stage_busy[i] && VGPU_CUDA_CHECK(cudaEventSynchronize(p->staged[i])))
			return cuda_fail(p, msg);
		p->stage_busy[i] = false;
		err = vgpu_job_read(job, p->stage[i], c);
		if (err) {
			snprintf(msg, VGPU_MSG_LEN, "reading the payload failed: %s",
				 strerror(-err));
			return err;
		}
		if (VGPU_CUDA_CHECK(cudaMemcpyAsync(dst + off, p->stage[i], c,
						    cudaMemcpyHostToDevice, p->stream)) ||
		    VGPU_CUDA_CHECK(cudaEventRecord(p->staged[i], p->stream)))
			return cuda_fail(p, msg);
		p->stage_busy[i] = true;
		off += c;
	}
	return 0;
}

/*
 * Output: copy chunk k into buffer k % 2, then write chunk k - 1 from the
 * other buffer while that copy runs. Buffer k % 2 held chunk k - 2, which
 * the previous iteration wrote out, so it is free. The copies are queued
 * behind the compute on the same stream.
 */
static int stage_out(struct pool *p, struct vgpu_job *job, const uint8_t *src, uint64_t len,
		     char *msg)
{
	uint64_t off = 0, prev_len = 0;
	unsigned int k = 0, prev = 0;

	for (;;) {
		uint64_t c = len - off < p->stage_bytes ? len - off : p->stage_bytes;
		unsigned int i = k & 1;

		if (c && (VGPU_CUDA_CHECK(cudaMemcpyAsync(p->stage[i], src + off, c,
							  cudaMemcpyDeviceToHost, p->stream)) ||
			  VGPU_CUDA_CHECK(cudaEventRecord(p->staged[i], p->stream))))
			return cuda_fail(p, msg);
		if (prev_len) {
			int err;

			if (VGPU_CUDA_CHECK(cudaEventSynchronize(p->staged[prev])))
				return cuda_fail(p, msg);
			err = vgpu_job_write(job, p->stage[prev], prev_len);
			if (err) {
				snprintf(msg, VGPU_MSG_LEN, "writing the output failed: %s",
					 strerror(-err));
				return err;
			}
		}
		if (!c)
			return 0;
		prev = i;
		prev_len = c;
		off += c;
		k++;
	}
}

static int compute(struct pool *p, const struct vgpu_backend *be,
		   const struct vgpu_job_desc *d, const struct layout *l, char *msg)
{
	uint8_t *in0 = p->dev + l->seg_off[0], *in1 = p->dev + l->seg_off[1];
	uint8_t *out = p->dev + l->out_off;
	uint64_t n = d->args[0];
	cudaError_t e = cudaSuccess;

	switch (d->op) {
	case VGPU_OP_NOOP:
		e = vgpu_launch_noop(p->stream);
		break;
	case VGPU_OP_SPIN:
		e = vgpu_launch_spin(p->stream, d->args[0]);
		break;
	case VGPU_OP_VECTOR_ADD:
		e = vgpu_launch_vector_add(p->stream, p->sms, (const float *)in0,
					   (float *)in1, n);
		break;
	case VGPU_OP_SAXPY: {
		uint32_t bits = (uint32_t)d->args[1];
		float alpha;

		memcpy(&alpha, &bits, 4);
		e = vgpu_launch_saxpy(p->stream, p->sms, alpha, (const float *)in0,
				      (float *)in1, n);
		break;
	}
	case VGPU_OP_REDUCE_SUM:
		e = vgpu_launch_reduce_sum(p->stream, (const float *)in0, n,
					   (double *)(p->dev + l->scratch_off), (float *)out);
		break;
	case VGPU_OP_CHECKSUM:
		e = vgpu_launch_crc32c(p->stream, p->sms, in0, n, &be->x2n, (uint32_t *)out);
		break;
	case VGPU_OP_SGEMM:
	case VGPU_OP_GEMM_BF16: {
		/*
		 * Row-major C = A B is column-major C^T = B^T A^T: cuBLAS
		 * computes an n x m result from B (n x k, ld n) and A (k x m,
		 * ld k). Dimensions are <= 2^20, so they fit an int.
		 */
		int m = (int)d->args[0], nn = (int)d->args[1], k = (int)d->args[2];
		const float one = 1.0f, zero = 0.0f;
		cublasStatus_t s;

		if (d->op == VGPU_OP_SGEMM)
			s = VGPU_CUDA_CHECK(cublasSgemm(p->blas, CUBLAS_OP_N, CUBLAS_OP_N, nn, m, k,
							&one, (const float *)in1, nn,
							(const float *)in0, k, &zero,
							(float *)out, nn));
		else
			s = VGPU_CUDA_CHECK(cublasGemmEx(p->blas, CUBLAS_OP_N, CUBLAS_OP_N, nn, m, k,
							 &one, in1, CUDA_R_16BF, nn,
							 in0, CUDA_R_16BF, k, &zero,
							 out, CUDA_R_32F, nn,
							 CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
		if (s)
			return cuda_fail(p, msg);
		break;
	}
	default:
		snprintf(msg, VGPU_MSG_LEN, "op %u not implemented", d->op);
		return -EOPNOTSUPP;
	}
	return e ? cuda_fail(p, msg) : 0;
}

static int cuda_run(struct vgpu_backend *be, unsigned int pool,
		    const struct vgpu_job_desc *d, struct vgpu_job *job, char *msg)
{
	struct pool *p;
	struct layout l;
	unsigned int slot = 0;
	int err;

	if (pool >= be->nr_pools || !be->pools[pool].open) {
		snprintf(msg, VGPU_MSG_LEN, "pool %u not configured", pool);
		return -EINVAL;
	}
	p = &be->pools[pool];
	if (p->broken) {
		snprintf(msg, VGPU_MSG_LEN, "GPU context lost, mediator restart needed");
		return -EIO;
	}
	if (VGPU_CUDA_CHECK(be->drv.ctx_set_current(p->ctx)))
		return cuda_fail(p, msg);
	cudaGetLastError();	/* a stale error must not fail this job's launch checks */
	vgpu_cuda_clear_err();

	plan_job(d, &l);
	err = reserve(p, l.bytes, msg);
	if (err)
		return err;
	for (unsigned int s = 0; s < l.nseg && !err; s++)
		err = stage_in(p, job, p->dev + l.seg_off[s], l.seg_len[s], &slot, msg);
	if (!err) {
		err = vgpu_job_input_end(job);
		if (err)
			snprintf(msg, VGPU_MSG_LEN, err == -EBADMSG ?
				 "payload CRC32C mismatch" : "payload incomplete");
	}
	if (!err)
		err = compute(p, be, d, &l, msg);
	if (!err)
		err = stage_out(p, job, p->dev + l.out_off, d->out_len, msg);

	/* Invariant: the stream is idle when run() returns. */
	if (VGPU_CUDA_CHECK(cudaStreamSynchronize(p->stream))) {
		int e = cuda_fail(p, err ? NULL : msg);

		err = err ? err : e;
	}
	p->stage_busy[0] = p->stage_busy[1] = false;
	return err;
}

unsigned int vgpu_cuda_pool_sms(const struct vgpu_backend *be, unsigned int pool)
{
	return pool < be->nr_pools && be->pools[pool].open ? be->pools[pool].sms : 0;
}

int vgpu_cuda_pool_green(const struct vgpu_backend *be, unsigned int pool)
{
	return pool < be->nr_pools && be->pools[pool].green;
}

extern "C" const struct vgpu_backend_ops vgpu_backend_cuda = {
	.name = "cuda",
	.probe = cuda_probe,
	.open = cuda_open,
	.run = cuda_run,
	.close = cuda_close,
};
