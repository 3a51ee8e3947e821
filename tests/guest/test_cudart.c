// SPDX-License-Identifier: MIT
/*
 * A CUDA program that never launches a kernel, run in the test VM through
 * vgpu's libcudart.so.13 (cudart/), /dev/vgpu0, the agent and the host's
 * mediator with CPU executors: device count and properties (the name and
 * the memory Dom0 gives the VM), cudaMemGetInfo against the VM's quota
 * and the bytes it allocates, copies host to device, device to device and
 * back (cudaMemcpyDefault too) of random data at random offsets, memset,
 * an event pair around device work. Fresh printed seed (VGPU_TEST_SEED
 * replays it); every check can fail.
 *
 * Written in C against the runtime's ABI header (cudart/cuda_abi.h) so
 * that it builds without nvcc; linked against $(O)/cudart/libcudart.so.13
 * as nvcc -cudart shared links a program, and run in the guest with
 * LD_LIBRARY_PATH at the runtime's installed directory (tests/guest/
 * guest-init, mode cudart). No testlib.o: this program loads libvgpu.so.1
 * through the runtime and must not carry a second copy of lib/.
 *
 *   VGPU_EXPECT_MEM   the VM's session_mem_bytes (tests/guest/vm-cudart)
 *   VGPU_EXPECT_NAME  the GPU's name as Dom0 reports it
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "cuda_abi.h"

/* ---- random data, replayable ---- */

static uint64_t rng;

static void seed(void)
{
	const char *env = getenv("VGPU_TEST_SEED");
	struct timespec ts;
	uint64_t s;

	/* line-buffered: a test's child _exit()s, and its comments must survive a pipe */
	setvbuf(stdout, NULL, _IOLBF, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	s = env ? strtoull(env, NULL, 0) :
	    (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
	rng = s ? s : 1;
	printf("# random seed %" PRIu64 " (replay with VGPU_TEST_SEED=%" PRIu64 ")\n", s, s);
	fflush(stdout);
}

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static uint64_t rnd_range(uint64_t lo, uint64_t hi)	/* inclusive */
{
	return lo + rnd() % (hi - lo + 1);
}

static void rnd_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)rnd();
}

static uint64_t expect_mem(void)
{
	const char *s = getenv("VGPU_EXPECT_MEM");

	return s ? strtoull(s, NULL, 0) : 0;
}

/* A CUDA call that must succeed, with its error's name and text. */
#define CU_OK(call) do {								\
	cudaError_t e_ = (call);							\
	ASSERT_EQ(cudaSuccess, e_) TH_LOG("%s: %s (%s)", #call, cudaGetErrorName(e_),	\
					  cudaGetErrorString(e_));			\
} while (0)

/* One device: the VM's, named as Dom0 names it, with the VM's quota. */
TEST(device_is_the_vms)
{
	struct cudaDeviceProp p;
	int n = -1, dev = -1, version = 0;
	const char *name = getenv("VGPU_EXPECT_NAME");

	seed();
	CU_OK(cudaRuntimeGetVersion(&version));
	printf("# runtime version %d\n", version);
	EXPECT_EQ(CUDART_VERSION, version);
	CU_OK(cudaGetDeviceCount(&n));
	EXPECT_EQ(1, n);
	CU_OK(cudaGetDevice(&dev));
	EXPECT_EQ(0, dev);
	memset(&p, 0xa5, sizeof(p));
	CU_OK(cudaGetDeviceProperties(&p, 0));
	ASSERT_NE(NULL, memchr(p.name, '\0', sizeof(p.name)));
	printf("# device 0: %s, compute capability %d.%d, %d SMs, %zu bytes\n", p.name, p.major,
	       p.minor, p.multiProcessorCount, p.totalGlobalMem);
	EXPECT_NE('\0', p.name[0]);
	if (name)
		EXPECT_STREQ(name, p.name);
	if (expect_mem())
		EXPECT_EQ(expect_mem(), p.totalGlobalMem);
	EXPECT_LE(1, p.multiProcessorCount);
	EXPECT_EQ(32, p.warpSize);
	EXPECT_EQ(cudaErrorInvalidDevice, cudaGetDeviceProperties(&p, 1));
	EXPECT_EQ(cudaErrorInvalidDevice, cudaGetLastError());	/* and it is not sticky */
	EXPECT_EQ(cudaSuccess, cudaGetLastError());
}

/* cudaMemGetInfo: total is the quota; an allocation shows in free. */
TEST(mem_get_info_is_the_quota)
{
	size_t free0 = 0, total0 = 0, free1 = 0, total1 = 0, free2 = 0, total2 = 0;
	size_t size;
	void *d = NULL;

	seed();
	CU_OK(cudaMemGetInfo(&free0, &total0));
	printf("# cudaMemGetInfo: free %zu of %zu\n", free0, total0);
	if (expect_mem())
		EXPECT_EQ(expect_mem(), total0);
	ASSERT_LE(free0, total0);
	ASSERT_LT((size_t)4096, free0);
	size = (size_t)rnd_range(1, free0 / 4);
	CU_OK(cudaMalloc(&d, size));
	ASSERT_NE(NULL, d);
	CU_OK(cudaMemGetInfo(&free1, &total1));
	EXPECT_EQ(total0, total1);
	EXPECT_LE(free1 + size, free0) TH_LOG("%zu bytes allocated: free %zu -> %zu", size,
					       free0, free1);
	CU_OK(cudaFree(d));
	CU_OK(cudaMemGetInfo(&free2, &total2));
	EXPECT_EQ(free0, free2);
	EXPECT_EQ(total0, total2);
}

/* Random bytes to the device at a random offset, across to a second
 * buffer, and back: the same bytes; cudaMemcpyDefault tells the ways apart. */
TEST(memcpy_both_ways)
{
	uint8_t *x, *y, *z, *a = NULL, *b = NULL;
	size_t len, off;

	seed();
	len = (size_t)rnd_range(1, 1 << 20);
	off = (size_t)rnd_range(0, 4096);
	x = malloc(len), y = malloc(len), z = malloc(len);
	ASSERT_TRUE(x && y && z);
	rnd_bytes(x, len);
	memset(y, 0, len);
	memset(z, 0, len);
	printf("# %zu bytes at offset %zu\n", len, off);
	CU_OK(cudaMalloc((void **)&a, off + len));
	CU_OK(cudaMalloc((void **)&b, len));
	CU_OK(cudaMemcpy(a + off, x, len, cudaMemcpyHostToDevice));
	CU_OK(cudaMemcpy(b, a + off, len, cudaMemcpyDeviceToDevice));
	CU_OK(cudaMemcpy(y, b, len, cudaMemcpyDeviceToHost));
	EXPECT_EQ(0, memcmp(x, y, len));
	CU_OK(cudaMemcpy(z, a + off, len, cudaMemcpyDefault));
	EXPECT_EQ(0, memcmp(x, z, len));
	/* the last byte alone, from the middle of the buffer */
	CU_OK(cudaMemcpy(z, b + len - 1, 1, cudaMemcpyDeviceToHost));
	EXPECT_EQ(x[len - 1], z[0]);
	CU_OK(cudaFree(a));
	CU_OK(cudaFree(b));
	EXPECT_EQ(cudaSuccess, cudaGetLastError());
	free(x), free(y), free(z);
}

/* memset of a random range inside random data: that range, and only it. */
TEST(memset_a_range)
{
	size_t len, off, n;
	uint8_t *x, *y, *d = NULL;
	int value;

	seed();
	len = (size_t)rnd_range(2, 1 << 18);
	off = (size_t)rnd_range(0, len - 1);
	n = (size_t)rnd_range(1, len - off);
	value = (int)rnd_range(0, 255);
	x = malloc(len), y = malloc(len);
	ASSERT_TRUE(x && y);
	rnd_bytes(x, len);
	printf("# memset %zu bytes at %zu of %zu to 0x%02x\n", n, off, len, value);
	CU_OK(cudaMalloc((void **)&d, len));
	CU_OK(cudaMemcpy(d, x, len, cudaMemcpyHostToDevice));
	CU_OK(cudaMemset(d + off, value, n));
	CU_OK(cudaMemcpy(y, d, len, cudaMemcpyDeviceToHost));
	memset(x + off, value, n);
	EXPECT_EQ(0, memcmp(x, y, len));
	CU_OK(cudaFree(d));
	free(x), free(y);
}

/* Two events around device work: both complete, the time between them
 * is not negative, a stop recorded later is not earlier. */
TEST(event_pair)
{
	cudaEvent_t start, stop, later;
	size_t len;
	uint8_t *d = NULL, *h;
	float ms = -1, ms2 = -1;

	seed();
	len = (size_t)rnd_range(1 << 16, 1 << 20);
	h = malloc(len);
	ASSERT_NE(NULL, h);
	rnd_bytes(h, len);
	CU_OK(cudaEventCreate(&start));
	CU_OK(cudaEventCreate(&stop));
	CU_OK(cudaEventCreate(&later));
	CU_OK(cudaMalloc((void **)&d, len));
	CU_OK(cudaEventRecord(start, 0));
	CU_OK(cudaMemcpy(d, h, len, cudaMemcpyHostToDevice));
	CU_OK(cudaMemset(d, 0, len / 2));
	CU_OK(cudaEventRecord(stop, 0));
	CU_OK(cudaEventSynchronize(stop));
	EXPECT_EQ(cudaSuccess, cudaEventQuery(start));
	EXPECT_EQ(cudaSuccess, cudaEventQuery(stop));
	CU_OK(cudaEventElapsedTime(&ms, start, stop));
	printf("# %zu bytes copied and half set in %.3f ms\n", len, ms);
	EXPECT_LE(0.0f, ms);
	usleep(2000);
	CU_OK(cudaEventRecord(later, 0));
	CU_OK(cudaDeviceSynchronize());
	CU_OK(cudaEventElapsedTime(&ms2, start, later));
	EXPECT_LE(ms, ms2);
	CU_OK(cudaEventDestroy(start));
	CU_OK(cudaEventDestroy(stop));
	CU_OK(cudaEventDestroy(later));
	CU_OK(cudaFree(d));
	free(h);
}

TEST_HARNESS_MAIN
