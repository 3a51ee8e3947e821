// SPDX-License-Identifier: MIT
/*
 * nokernel: the runtime without a single kernel: versions, the device and
 * its properties, errors (non-sticky ones, their names and strings),
 * memory (cudaMalloc of odd sizes, host memory pinned three ways,
 * cudaMemGetInfo), copies of every kind including cudaMemcpyDefault and
 * host to host, cudaMemset, pitched memory with 2D copies and cudaMemset2D,
 * the Async variants on three streams ordered by events, host callbacks
 * that check what the copies before them left, events (query, synchronize,
 * elapsed time, one without timing), and cudaDeviceReset followed by
 * fresh work. Every byte copied is checked. This is the program that also
 * runs without a GPU, against the CPU executor (issue 14's guest test).
 * tests/cudart/check.h says what it prints.
 */
#include <atomic>

#include "check.h"

#define BIG	((64u << 20) + 3)	/* bytes: more than one job of the runtime carries */

static bool all_bytes(const unsigned char *p, size_t n, unsigned char v)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != v)
			return false;
	return true;
}

/* Random bytes, eight per draw (this program may run in an emulated guest). */
static void fill(struct rng *r, unsigned char *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t v = rng_next(r);

		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = (unsigned char)(rng_next(r) >> 56);
}

struct cb_check {
	const unsigned char *got, *want;
	size_t len;
	std::atomic<int> ran, ok, order;	/* order: 1 = callback ran after the host function */
};

static void CUDART_CB host_fn(void *p)
{
	struct cb_check *c = (struct cb_check *)p;

	if (!memcmp(c->got, c->want, c->len))
		c->ok++;
	c->ran++;
}

static void CUDART_CB stream_cb(cudaStream_t, cudaError_t status, void *p)
{
	struct cb_check *c = (struct cb_check *)p;

	if (status == cudaSuccess && c->ran.load() == 1)
		c->order = 1;
}

static void versions_and_device(void)
{
	int rt = 0, drv = 0, count = 0, dev = -1;
	cudaDeviceProp prop;

	CHECK(cudaRuntimeGetVersion(&rt));
	if (rt == CUDART_VERSION)
		pass("cudaRuntimeGetVersion %d", rt);
	else
		fail("cudaRuntimeGetVersion %d, built with %d", rt, CUDART_VERSION);
	CHECK(cudaDriverGetVersion(&drv));
	expect(drv >= CUDART_VERSION, "cudaDriverGetVersion >= the runtime's");
	CHECK(cudaGetDeviceCount(&count));
	expect(count >= 1, "cudaGetDeviceCount >= 1");
	CHECK(cudaSetDevice(0));
	CHECK(cudaGetDevice(&dev));
	expect(dev == 0, "cudaSetDevice(0), cudaGetDevice is 0");
	EXPECT_ERR(cudaSetDevice(count), cudaErrorInvalidDevice);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidDevice);
	EXPECT_ERR(cudaGetLastError(), cudaSuccess);
	CHECK(cudaGetDeviceProperties(&prop, 0));
	pass("device 0: \"%s\", compute capability %d.%d, warp %d, %d threads per block, "
	     "%zu bytes of shared memory per block", prop.name, prop.major, prop.minor,
	     prop.warpSize, prop.maxThreadsPerBlock, prop.sharedMemPerBlock);
	expect(prop.totalGlobalMem > 0 && prop.multiProcessorCount > 0,
	       "totalGlobalMem and multiProcessorCount are not 0");

	size_t free_b = 0, total_b = 0;

	CHECK(cudaMemGetInfo(&free_b, &total_b));
	expect(total_b > 0 && free_b <= total_b, "cudaMemGetInfo: 0 < free <= total");
}

static void errors(void)
{
	void *p = NULL;

	EXPECT_ERR(cudaMalloc(&p, (size_t)1 << 50), cudaErrorMemoryAllocation);
	EXPECT_ERR(cudaGetLastError(), cudaErrorMemoryAllocation);
	EXPECT_ERR(cudaPeekAtLastError(), cudaSuccess);
	CHECK(cudaMalloc(&p, 16));
	EXPECT_ERR(cudaMemcpy(p, p, 16, (cudaMemcpyKind)99), cudaErrorInvalidMemcpyDirection);
	EXPECT_ERR(cudaGetLastError(), cudaErrorInvalidMemcpyDirection);
	CHECK(cudaFree(p));
	CHECK(cudaFree(NULL));
	printf("nokernel: cudaGetErrorName(cudaErrorInvalidValue) = %s, string \"%s\"\n",
	       cudaGetErrorName(cudaErrorInvalidValue), cudaGetErrorString(cudaErrorInvalidValue));
	printf("nokernel: cudaGetErrorName(cudaErrorNotSupported) = %s, string \"%s\"\n",
	       cudaGetErrorName(cudaErrorNotSupported), cudaGetErrorString(cudaErrorNotSupported));
	printf("nokernel: cudaGetErrorString(cudaSuccess) = \"%s\"\n", cudaGetErrorString(cudaSuccess));
}

/* Sync copies of every kind between pageable memory and three allocations. */
static void sync_copies(struct rng *r)
{
	static const size_t sizes[] = { 1, 4097, BIG };
	unsigned char *src = (unsigned char *)malloc(BIG), *dst = (unsigned char *)malloc(BIG);
	unsigned char *d1, *d2;

	if (!src || !dst) {
		fail("malloc");
		return;
	}
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t n = sizes[k];
		bool ok;

		fill(r, src, n);
		CHECK(cudaMalloc(&d1, n));
		CHECK(cudaMalloc(&d2, n));
		CHECK(cudaMemset(d1, 0xa5, n));
		CHECK(cudaMemcpy(dst, d1, n, cudaMemcpyDeviceToHost));
		ok = all_bytes(dst, n, 0xa5);
		CHECK(cudaMemcpy(d1, src, n, cudaMemcpyHostToDevice));
		CHECK(cudaMemcpy(d2, d1, n, cudaMemcpyDeviceToDevice));
		memset(dst, 0, n);
		CHECK(cudaMemcpy(dst, d2, n, cudaMemcpyDeviceToHost));
		ok = ok && !memcmp(dst, src, n);
		if (ok)
			pass("%zu bytes: cudaMemset, host to device, device to device, device to host",
			     n);
		else
			fail("%zu bytes: explicit kinds", n);

		/* cudaMemcpyDefault: the runtime tells where each pointer is */
		fill(r, src, n);
		CHECK(cudaMemcpy(d2, src, n, cudaMemcpyDefault));
		CHECK(cudaMemcpy(d1, d2, n, cudaMemcpyDefault));
		memset(dst, 0, n);
		CHECK(cudaMemcpy(dst, d1, n, cudaMemcpyDefault));
		ok = !memcmp(dst, src, n);
		memset(dst, 0, n);
		CHECK(cudaMemcpy(dst, src, n, cudaMemcpyDefault));
		ok = ok && !memcmp(dst, src, n);
		memset(dst, 0, n);
		CHECK(cudaMemcpy(dst, src, n, cudaMemcpyHostToHost));
		ok = ok && !memcmp(dst, src, n);
		if (ok)
			pass("%zu bytes: cudaMemcpyDefault each way and host to host, checksum %08x",
			     n, fnv1a(dst, n));
		else
			fail("%zu bytes: cudaMemcpyDefault or host to host", n);
		CHECK(cudaFree(d1));
		CHECK(cudaFree(d2));
	}
	free(src);
	free(dst);
}

/* Pitched memory: 1000-byte rows, 37 of them. */
static void copies_2d(struct rng *r)
{
	const size_t w = 1000, h = 37, hpitch = 1024;
	unsigned char *host = (unsigned char *)malloc(hpitch * h), *back = (unsigned char *)malloc(w * h);
	unsigned char *want = (unsigned char *)malloc(w * h), *d1, *d2;
	size_t p1 = 0, p2 = 0;
	cudaStream_t st;

	if (!host || !back || !want) {
		fail("malloc");
		return;
	}
	fill(r, host, hpitch * h);
	CHECK(cudaMallocPitch((void **)&d1, &p1, w, h));
	CHECK(cudaMallocPitch((void **)&d2, &p2, w - 1, h + 1));
	expect(p1 >= w && p2 >= w - 1, "cudaMallocPitch: pitch >= width");
	CHECK(cudaMemcpy2D(d1, p1, host, hpitch, w, h, cudaMemcpyHostToDevice));
	/* rows 5..14, bytes 100..299: 0x3c */
	CHECK(cudaMemset2D(d1 + 5 * p1 + 100, p1, 0x3c, 200, 10));
	/* d2 = d1 shifted by one byte, one row down */
	CHECK(cudaMemset(d2, 0, p2 * (h + 1)));
	CHECK(cudaMemcpy2D(d2 + p2, p2, d1 + 1, p1, w - 1, h, cudaMemcpyDeviceToDevice));
	CHECK(cudaMemcpy2D(back, w - 1, d2 + p2, p2, w - 1, h, cudaMemcpyDeviceToHost));
	for (size_t y = 0; y < h; y++)
		for (size_t x = 0; x + 1 < w; x++) {
			unsigned char v = host[y * hpitch + x + 1];

			if (y >= 5 && y < 15 && x + 1 >= 100 && x + 1 < 300)
				v = 0x3c;
			want[y * (w - 1) + x] = v;
		}
	if (!memcmp(back, want, (w - 1) * h))
		pass("cudaMemcpy2D host to device, device to device at offsets, device to host; "
		     "cudaMemset2D: checksum %08x", fnv1a(back, (w - 1) * h));
	else
		fail("2D copies and cudaMemset2D");

	/* the Async forms, on a stream, into pinned memory */
	unsigned char *pinned;

	CHECK(cudaStreamCreateWithFlags(&st, cudaStreamNonBlocking));
	CHECK(cudaMallocHost(&pinned, w * h));
	CHECK(cudaMemset2DAsync(d1, p1, 0x77, w, 3, st));
	CHECK(cudaMemcpy2DAsync(pinned, w, d1, p1, w, h, cudaMemcpyDeviceToHost, st));
	CHECK(cudaStreamSynchronize(st));
	bool ok = all_bytes(pinned, 3 * w, 0x77) && pinned[3 * w] == host[3 * hpitch];

	expect(ok, "cudaMemset2DAsync then cudaMemcpy2DAsync into pinned memory");
	CHECK(cudaFreeHost(pinned));
	CHECK(cudaStreamDestroy(st));
	CHECK(cudaFree(d1));
	CHECK(cudaFree(d2));
	free(host);
	free(back);
	free(want);
}

/*
 * Three streams: s0 fills a buffer, s1 waits for s0's event and copies it
 * on, s2 waits for s1's and copies it out; host functions and callbacks
 * check each stage's bytes. Host memory pinned by cudaMallocHost,
 * cudaHostAlloc and cudaHostRegister.
 */
static void async_streams(struct rng *r)
{
	const size_t n = (8u << 20) + 17;
	unsigned char *a, *b, *reg = (unsigned char *)malloc(n), *want = (unsigned char *)malloc(n);
	unsigned char *d0, *d1;
	cudaStream_t s[3];
	cudaEvent_t e0, e1, start, stop, untimed, never;
	static struct cb_check c0, c2;

	if (!reg || !want) {
		fail("malloc");
		return;
	}
	CHECK(cudaMallocHost(&a, n));
	CHECK(cudaHostAlloc(&b, n, cudaHostAllocPortable));
	CHECK(cudaHostRegister(reg, n, cudaHostRegisterDefault));
	CHECK(cudaMalloc(&d0, n));
	CHECK(cudaMalloc(&d1, n));
	for (int i = 0; i < 3; i++)
		CHECK(cudaStreamCreate(&s[i]));
	CHECK(cudaEventCreate(&e0));
	CHECK(cudaEventCreate(&e1));
	CHECK(cudaEventCreate(&start));
	CHECK(cudaEventCreate(&stop));
	CHECK(cudaEventCreateWithFlags(&untimed, cudaEventDisableTiming));
	CHECK(cudaEventCreate(&never));
	EXPECT_ERR(cudaEventQuery(never), cudaSuccess);

	fill(r, a, n);
	memcpy(want, a, n);
	memset(want + 4096, 0x11, 1000);
	memset(b, 0, n);
	memset(reg, 0, n);
	c0.got = b;		/* s0's host function: b holds d0 after the memset */
	c0.want = want;
	c0.len = n;
	c2.got = reg;
	c2.want = want;
	c2.len = n;

	CHECK(cudaEventRecord(start, s[0]));
	CHECK(cudaMemcpyAsync(d0, a, n, cudaMemcpyHostToDevice, s[0]));
	CHECK(cudaMemsetAsync(d0 + 4096, 0x11, 1000, s[0]));
	CHECK(cudaMemcpyAsync(b, d0, n, cudaMemcpyDeviceToHost, s[0]));
	CHECK(cudaLaunchHostFunc(s[0], host_fn, &c0));
	CHECK(cudaStreamAddCallback(s[0], stream_cb, &c0, 0));
	CHECK(cudaEventRecord(e0, s[0]));
	CHECK(cudaStreamWaitEvent(s[1], e0, 0));
	CHECK(cudaMemcpyAsync(d1, d0, n, cudaMemcpyDeviceToDevice, s[1]));
	CHECK(cudaEventRecord(e1, s[1]));
	CHECK(cudaEventRecord(untimed, s[1]));
	CHECK(cudaStreamWaitEvent(s[2], e1, 0));
	CHECK(cudaMemcpyAsync(reg, d1, n, cudaMemcpyDeviceToHost, s[2]));
	CHECK(cudaLaunchHostFunc(s[2], host_fn, &c2));
	CHECK(cudaStreamAddCallback(s[2], stream_cb, &c2, 0));
	CHECK(cudaEventRecord(stop, s[2]));
	CHECK(cudaEventSynchronize(stop));
	EXPECT_ERR(cudaEventQuery(stop), cudaSuccess);
	for (int i = 0; i < 3; i++)
		CHECK(cudaStreamSynchronize(s[i]));
	for (int i = 0; i < 3; i++)
		EXPECT_ERR(cudaStreamQuery(s[i]), cudaSuccess);

	expect(c0.ran.load() == 1 && c0.ok.load() == 1 && c0.order.load() == 1,
	       "stream 0: host function saw its copy, then the callback ran");
	expect(c2.ran.load() == 1 && c2.ok.load() == 1 && c2.order.load() == 1,
	       "stream 2 (after events of 0 and 1): host function saw the copy into "
	       "cudaHostRegister'ed memory, then the callback ran");
	expect(!memcmp(reg, want, n), "cudaMemcpyAsync, cudaMemsetAsync, cudaStreamWaitEvent");

	float ms = -1;

	CHECK(cudaEventElapsedTime(&ms, start, stop));
	expect(ms >= 0, "cudaEventElapsedTime(start, stop) >= 0");
	EXPECT_ERR(cudaEventElapsedTime(&ms, start, untimed), cudaErrorInvalidResourceHandle);

	CHECK(cudaHostUnregister(reg));
	CHECK(cudaFreeHost(a));
	CHECK(cudaFreeHost(b));
	CHECK(cudaFree(d0));
	CHECK(cudaFree(d1));
	for (int i = 0; i < 3; i++)
		CHECK(cudaStreamDestroy(s[i]));
	CHECK(cudaEventDestroy(e0));
	CHECK(cudaEventDestroy(e1));
	CHECK(cudaEventDestroy(start));
	CHECK(cudaEventDestroy(stop));
	CHECK(cudaEventDestroy(untimed));
	CHECK(cudaEventDestroy(never));
	free(reg);
	free(want);
}

static void reset(void)
{
	unsigned char *d, h[256];

	CHECK(cudaDeviceSynchronize());
	CHECK(cudaDeviceReset());
	CHECK(cudaMalloc(&d, sizeof(h)));
	CHECK(cudaMemset(d, 0x5a, sizeof(h)));
	CHECK(cudaMemcpy(h, d, sizeof(h), cudaMemcpyDeviceToHost));
	expect(all_bytes(h, sizeof(h), 0x5a), "after cudaDeviceReset: cudaMalloc, cudaMemset, copy");
	CHECK(cudaFree(d));
}

int main(int argc, char **argv)
{
	struct test_opts o;
	struct rng r;

	test_init(argc, argv, "nokernel", &o);
	r.s = o.seed;
	versions_and_device();
	errors();
	sync_copies(&r);
	copies_2d(&r);
	async_streams(&r);
	reset();
	return finish();
}
