// SPDX-License-Identifier: MIT
/*
 * streams: four streams (two blocking, two cudaStreamNonBlocking) each
 * running, twice: copy in from pinned memory, a kernel, a
 * cudaStreamAddCallback, copy out, a cudaLaunchHostFunc that checks the
 * copied-out data (a host function runs after everything before it in its
 * stream), an event. Each stream's callbacks log their steps: the log must
 * be in stream order. One stream waits on the others' events
 * (cudaStreamWaitEvent) and sums their results. Then the default streams:
 * a slow kernel in a blocking stream, then one in the legacy default
 * stream that reads what it wrote (the legacy stream waits for blocking
 * streams); a kernel in cudaStreamPerThread. The kernels use fmaf(), so
 * the host's reference is exact. Bench mode: 2^22 elements, 2048
 * iterations per element, 1024 sampled elements checked per stream.
 * Callbacks run on a thread of the runtime and touch only their stream's
 * struct stream_ctx. tests/cudart/check.h says what it prints.
 */
#include <atomic>
#include <cmath>

#include "check.h"

#define NSTREAMS	4
#define ROUNDS		2
#define STEPS		3		/* logged per round */
#define SAMPLES		1024		/* bench mode: elements checked per stream */

__global__ void iterate(float *x, int n, float mul, float add, int iters)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n) {
		float v = x[i];

		for (int k = 0; k < iters; k++)
			v = fmaf(v, mul, add);
		x[i] = v;
	}
}

__global__ void sum_streams(float *out, float *const *in, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n) {
		float s = 0;

		for (int k = 0; k < NSTREAMS; k++)
			s += in[k][i];
		out[i] = s;
	}
}

__global__ void fill_slow(int *y, int n, int iters)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n) {
		unsigned int v = (unsigned int)i;

		for (int k = 0; k < iters; k++)
			v = v * 1664525u + 1013904223u;
		y[i] = (int)(v & 0xffff) + 1;	/* never 0 */
	}
}

__global__ void check_filled(const int *y, int *z, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		z[i] = y[i] > 0 ? 1 : 0;	/* 0: read before fill_slow wrote it */
}

struct stream_ctx {
	int id;
	int n, iters, round;
	float mul, add;
	const float *in;		/* the stream's input (host) */
	const float *out;		/* its pinned output buffer */
	const uint32_t *sample;		/* bench mode: the indices to check; else NULL */
	std::atomic<int> nlog;
	int log[ROUNDS * STEPS];	/* step numbers, in the order the callbacks ran */
	std::atomic<int> bad;		/* elements the host functions found wrong */
	std::atomic<int> bad_status;	/* callbacks given an error */
};

static float expected(const struct stream_ctx *c, size_t i)
{
	float v = c->in[i];

	for (int r = 0; r <= c->round; r++)
		for (int k = 0; k < c->iters; k++)
			v = fmaf(v, c->mul, c->add);
	return v;
}

static void log_step(struct stream_ctx *c, int step)
{
	int at = c->nlog.fetch_add(1);

	if (at < ROUNDS * STEPS)
		c->log[at] = c->round * STEPS + step;
}

/* cudaStreamAddCallback: after the kernel, and after the round's event. */
static void CUDART_CB after_kernel(cudaStream_t, cudaError_t status, void *p)
{
	struct stream_ctx *c = (struct stream_ctx *)p;

	if (status != cudaSuccess)
		c->bad_status++;
	log_step(c, 0);
}

static void CUDART_CB after_event(cudaStream_t, cudaError_t status, void *p)
{
	struct stream_ctx *c = (struct stream_ctx *)p;

	if (status != cudaSuccess)
		c->bad_status++;
	log_step(c, 2);
	c->round++;
}

/* cudaLaunchHostFunc: the copy out before it has landed. */
static void CUDART_CB after_copy(void *p)
{
	struct stream_ctx *c = (struct stream_ctx *)p;
	int bad = 0;

	if (c->sample) {
		for (int s = 0; s < SAMPLES; s++)
			bad += c->out[c->sample[s]] != expected(c, c->sample[s]);
	} else {
		for (int i = 0; i < c->n; i++)
			bad += c->out[i] != expected(c, i);
	}
	c->bad += bad;
	log_step(c, 1);
}

int main(int argc, char **argv)
{
	static struct stream_ctx ctx[NSTREAMS];
	struct test_opts o;
	struct rng r;
	cudaStream_t st[NSTREAMS];
	cudaEvent_t done[NSTREAMS], t0, t1;
	float *in[NSTREAMS], *pinned_in[NSTREAMS], *pinned_out[NSTREAMS], *dev[NSTREAMS];
	float **dev_list, *dsum;
	uint32_t *sample = NULL;
	int n, iters, block = 256;

	test_init(argc, argv, "streams", &o);
	r.s = o.seed;
	n = o.bench ? 1 << 22 : (1 << 16) + 3;
	iters = o.bench ? 2048 : 16;
	size_t bytes = (size_t)n * sizeof(float);
	int grid = (n + block - 1) / block;

	if (o.bench) {
		sample = (uint32_t *)malloc(SAMPLES * sizeof(*sample));
		if (!sample)
			return finish();
		for (int s = 0; s < SAMPLES; s++)
			sample[s] = rng_below(&r, n);
	}
	CHECK(cudaEventCreate(&t0));
	CHECK(cudaEventCreate(&t1));
	CHECK(cudaMalloc(&dev_list, NSTREAMS * sizeof(float *)));
	CHECK(cudaMalloc(&dsum, bytes));
	for (int s = 0; s < NSTREAMS; s++) {
		unsigned int flags = s % 2 ? cudaStreamNonBlocking : cudaStreamDefault, got;

		CHECK(cudaStreamCreateWithFlags(&st[s], flags));
		CHECK(cudaStreamGetFlags(st[s], &got));
		if (got != flags)
			fail("stream %d: cudaStreamGetFlags %u, created with %u", s, got, flags);
		CHECK(cudaEventCreateWithFlags(&done[s], cudaEventDisableTiming));
		in[s] = (float *)malloc(bytes);
		if (!in[s])
			return finish();
		CHECK(cudaMallocHost(&pinned_in[s], bytes));
		CHECK(cudaHostAlloc(&pinned_out[s], bytes, cudaHostAllocDefault));
		CHECK(cudaMalloc(&dev[s], bytes));
		for (int i = 0; i < n; i++)
			in[s][i] = pinned_in[s][i] = rng_float(&r);
		ctx[s].id = s;
		ctx[s].n = n;
		ctx[s].iters = iters;
		ctx[s].mul = 0.999f - 0.001f * s;
		ctx[s].add = 0.001f * (s + 1);
		ctx[s].in = in[s];
		ctx[s].out = pinned_out[s];
		ctx[s].sample = sample;
	}
	CHECK(cudaMemcpy(dev_list, dev, sizeof(dev), cudaMemcpyHostToDevice));

	CHECK(cudaEventRecord(t0, st[0]));
	for (int s = 0; s < NSTREAMS; s++)
		CHECK(cudaMemcpyAsync(dev[s], pinned_in[s], bytes, cudaMemcpyHostToDevice, st[s]));
	for (int round = 0; round < ROUNDS; round++)
		for (int s = 0; s < NSTREAMS; s++) {
			iterate<<<grid, block, 0, st[s]>>>(dev[s], n, ctx[s].mul, ctx[s].add, iters);
			CHECK_LAUNCH();
			CHECK(cudaStreamAddCallback(st[s], after_kernel, &ctx[s], 0));
			CHECK(cudaMemcpyAsync(pinned_out[s], dev[s], bytes, cudaMemcpyDeviceToHost,
					      st[s]));
			CHECK(cudaLaunchHostFunc(st[s], after_copy, &ctx[s]));
			CHECK(cudaEventRecord(done[s], st[s]));
			CHECK(cudaStreamAddCallback(st[s], after_event, &ctx[s], 0));
		}
	/* The last stream sums everyone's final values once they are there. */
	for (int s = 0; s < NSTREAMS - 1; s++)
		CHECK(cudaStreamWaitEvent(st[NSTREAMS - 1], done[s], 0));
	sum_streams<<<grid, block, 0, st[NSTREAMS - 1]>>>(dsum, dev_list, n);
	CHECK_LAUNCH();
	CHECK(cudaEventRecord(t1, st[NSTREAMS - 1]));
	for (int s = 0; s < NSTREAMS; s++)
		CHECK(cudaStreamSynchronize(st[s]));
	for (int s = 0; s < NSTREAMS; s++)
		EXPECT_ERR(cudaStreamQuery(st[s]), cudaSuccess);
	double ms = elapsed_ms(t0, t1);

	for (int s = 0; s < NSTREAMS; s++) {
		struct stream_ctx *c = &ctx[s];
		bool ordered = c->nlog.load() == ROUNDS * STEPS;

		for (int i = 0; ordered && i < ROUNDS * STEPS; i++)
			ordered = c->log[i] == i;
		if (ordered && !c->bad_status.load())
			pass("stream %d: %d callbacks and host functions ran in stream order", s,
			     ROUNDS * STEPS);
		else
			fail("stream %d: callbacks ran %d times, out of order or given an error", s,
			     c->nlog.load());
		if (c->bad.load())
			fail("stream %d: the host functions found %d wrong elements", s,
			     c->bad.load());
		else
			pass("stream %d: each host function saw the copy before it, %d elements", s,
			     c->sample ? SAMPLES : n);
	}

	/* sum_streams: after every stream's last kernel, read in stream order */
	float *sum = (float *)malloc(bytes);
	int bad = 0;

	if (!sum)
		return finish();
	CHECK(cudaMemcpy(sum, dsum, bytes, cudaMemcpyDeviceToHost));
	for (int j = 0; j < (o.bench ? SAMPLES : n); j++) {
		size_t i = o.bench ? sample[j] : (size_t)j;
		float e = 0;

		for (int s = 0; s < NSTREAMS; s++)
			e += pinned_out[s][i];
		bad += sum[i] != e;
	}
	if (bad)
		fail("cudaStreamWaitEvent: the sum of the streams is wrong in %d elements", bad);
	else
		pass("cudaStreamWaitEvent: the sum of the streams, checksum %08x", fnv1a(sum, bytes));

	/* The legacy default stream waits for the blocking stream st[0]. */
	int *y, *z, *hz = (int *)malloc(n * sizeof(int));

	if (!hz)
		return finish();
	CHECK(cudaMalloc(&y, n * sizeof(int)));
	CHECK(cudaMalloc(&z, n * sizeof(int)));
	CHECK(cudaMemset(y, 0, n * sizeof(int)));
	CHECK(cudaDeviceSynchronize());
	fill_slow<<<grid, block, 0, st[0]>>>(y, n, o.bench ? 20000 : 4000);
	CHECK_LAUNCH();
	check_filled<<<grid, block>>>(y, z, n);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(hz, z, n * sizeof(int), cudaMemcpyDeviceToHost));
	bad = 0;
	for (int i = 0; i < n; i++)
		bad += hz[i] != 1;
	if (bad)
		fail("legacy default stream: %d elements read before the blocking stream wrote them",
		     bad);
	else
		pass("legacy default stream: ran after the blocking stream's kernel");

	/* cudaStreamPerThread: a stream of its own, synchronised alone. */
	CHECK(cudaMemset(z, 0, n * sizeof(int)));
	check_filled<<<grid, block, 0, cudaStreamPerThread>>>(y, z, n);
	CHECK_LAUNCH();
	CHECK(cudaStreamSynchronize(cudaStreamPerThread));
	CHECK(cudaMemcpy(hz, z, n * sizeof(int), cudaMemcpyDeviceToHost));
	bad = 0;
	for (int i = 0; i < n; i++)
		bad += hz[i] != 1;
	expect(!bad, "cudaStreamPerThread: a kernel and cudaStreamSynchronize");

	for (int s = 0; s < NSTREAMS; s++) {
		CHECK(cudaStreamDestroy(st[s]));
		CHECK(cudaEventDestroy(done[s]));
		CHECK(cudaFreeHost(pinned_in[s]));
		CHECK(cudaFreeHost(pinned_out[s]));
		CHECK(cudaFree(dev[s]));
		free(in[s]);
	}
	CHECK(cudaFree(dev_list));
	CHECK(cudaFree(dsum));
	CHECK(cudaFree(y));
	CHECK(cudaFree(z));
	CHECK(cudaEventDestroy(t0));
	CHECK(cudaEventDestroy(t1));
	free(sum);
	free(hz);
	free(sample);
	time_line(&o, ms);
	return finish();
}
