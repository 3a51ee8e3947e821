// SPDX-License-Identifier: MIT
/*
 * What every program of tests/cudart shares: its command line, the checks
 * of CUDA calls, the PASS/FAIL lines and the random inputs.
 *
 * The programs are ordinary CUDA programs, built with
 * `nvcc -arch=sm_90 -cudart shared` (tests/cudart/build.mk), that run
 * unchanged on NVIDIA's libcudart.so.13 and on ours (issue 14). What they
 * print on stdout depends only on the seed and the mode, never on timing
 * or on the GPU's size, so that a native run and a run through the guest
 * runtime can be compared byte for byte (bench/gpu/cudart-run.sh):
 *
 *   seed=N mode=test|bench              the first line
 *   PASS what [exact results]           one line per check
 *   FAIL what ...                       (exit status 1)
 *   TIME kernel_ms=X                    only with -t or -b: the device time
 *                                       of the kernels, from events; the
 *                                       comparison drops these lines
 *   NAME: N passed, N failed            the last line
 *
 * Options: -s SEED (default: a fresh one, printed), -b (bench mode: a
 * workload whose kernels run >= 1 ms in total; it prints its TIME line),
 * -t (print the TIME line in test mode too).
 *
 * Every CUDA call is checked: CHECK() fails the program at the first call
 * that does not return cudaSuccess, naming the call, its line and the
 * error; EXPECT_ERR() checks a call that must fail with a given error.
 * Single-threaded, but for host callbacks, which only touch what their
 * program hands them.
 */
#ifndef VGPU_TESTS_CUDART_CHECK_H
#define VGPU_TESTS_CUDART_CHECK_H

#include <cinttypes>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <unistd.h>

#include <cuda_runtime.h>

struct test_opts {
	uint64_t seed;
	bool bench;		/* -b: the benchmark's workload */
	bool times;		/* -t: print TIME lines */
};

static const char *test_name = "?";
static unsigned int test_passed, test_failed;

static inline void __attribute__((format(printf, 1, 2))) pass(const char *fmt, ...)
{
	va_list ap;

	fputs("PASS ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	test_passed++;
}

static inline void __attribute__((format(printf, 1, 2))) fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	test_failed++;
}

/* PASS or FAIL "@what": for a condition that has no more to tell. */
static inline void expect(bool ok, const char *what)
{
	if (ok)
		pass("%s", what);
	else
		fail("%s", what);
}

/* The last line; the exit status. */
static inline int finish(void)
{
	printf("%s: %u passed, %u failed\n", test_name, test_passed, test_failed);
	fflush(stdout);
	return test_failed ? 1 : 0;
}

static inline const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');

	return s ? s + 1 : path;
}

/* A call that must succeed: else FAIL and exit. */
static inline void check_call(cudaError_t err, const char *call, const char *file, int line)
{
	if (err == cudaSuccess)
		return;
	fail("%s at %s:%d: %s (%s)", call, base_name(file), line, cudaGetErrorName(err),
	     cudaGetErrorString(err));
	exit(finish());
}

#define CHECK(call) check_call((call), #call, __FILE__, __LINE__)
/* After a launch: its configuration, then (test mode) its execution. */
#define CHECK_LAUNCH() CHECK(cudaGetLastError())

/* A call that must fail with @want: a PASS or FAIL line naming both. */
static inline void expect_err(cudaError_t err, cudaError_t want, const char *call)
{
	if (err == want)
		pass("%s -> %s", call, cudaGetErrorName(err));
	else
		fail("%s -> %s, expected %s", call, cudaGetErrorName(err), cudaGetErrorName(want));
}

#define EXPECT_ERR(call, want) expect_err((call), (want), #call)

static inline void usage(void)
{
	fprintf(stderr, "usage: %s [-s SEED] [-b] [-t]\n", test_name);
	exit(2);
}

/*
 * Parses the options, line-buffers stdout (so that the order of the host's
 * lines and the device's printf and assert output, written at
 * synchronisation, is the same in a file as on a terminal) and prints the
 * first line.
 */
static inline void test_init(int argc, char **argv, const char *name, struct test_opts *o)
{
	int c;

	test_name = name;
	memset(o, 0, sizeof(*o));
	o->seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
	while ((c = getopt(argc, argv, "s:bt")) != -1) {
		switch (c) {
		case 's': {
			char *end;

			o->seed = strtoull(optarg, &end, 0);
			if (*end)
				usage();
			break;
		}
		case 'b': o->bench = o->times = true; break;
		case 't': o->times = true; break;
		default: usage();
		}
	}
	if (optind != argc)
		usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("seed=%" PRIu64 " mode=%s\n", o->seed, o->bench ? "bench" : "test");
}

static inline void time_line(const struct test_opts *o, double kernel_ms)
{
	if (o->times)
		printf("TIME kernel_ms=%.3f\n", kernel_ms);
}

/* splitmix64: the inputs, from the seed alone. */
struct rng {
	uint64_t s;
};

static inline uint64_t rng_next(struct rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* In [0, n). */
static inline uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

/* In [-1, 1), a multiple of 2^-20: exact in float. */
static inline float rng_float(struct rng *r)
{
	return (float)((int32_t)rng_below(r, 1u << 21) - (1 << 20)) / (float)(1 << 20);
}

/* FNV-1a over @len bytes: a checksum to print of results that must be exact. */
static inline uint32_t fnv1a(const void *p, size_t len)
{
	const unsigned char *b = (const unsigned char *)p;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++)
		h = (h ^ b[i]) * 16777619u;
	return h;
}

/* Device time between two recorded events, checked. */
static inline float elapsed_ms(cudaEvent_t a, cudaEvent_t b)
{
	float ms = 0;

	CHECK(cudaEventElapsedTime(&ms, a, b));
	return ms;
}

#endif /* VGPU_TESTS_CUDART_CHECK_H */
