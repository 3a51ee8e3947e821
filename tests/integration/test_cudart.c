// SPDX-License-Identifier: MIT
/*
 * The guest CUDA runtime (libcudart.so.13, cudart/) end to end: a real
 * mediator with the CPU backend and its executors over a spool directory
 * ($VGPU_DEVICE), the program linked against the library and its ABI
 * header as a CUDA program would be. Fresh printed seed. Memory and copies
 * of every kind against a host model, memset, 2D copies, streams, events
 * and callbacks in order, elapsed times, errors (invalid pointers and
 * handles, non-sticky; a lost session, sticky until cudaDeviceReset),
 * batching (N asynchronous calls are one job, as VGPU_CUDART_DEBUG shows),
 * the module calls' clear error on the CPU backend, device properties,
 * threads sharing the runtime, no device. Each test runs in its own
 * process (the harness forks), so each starts a fresh runtime.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "cuda_abi.h"
#include "testlib.h"

/* A stub of the library (NVIDIA's takes arguments, which the stub never reads). */
cudaError_t cudaMallocManaged(void);

#define VMS \
	"[vm cu]\nid = 61\npool = A\npriority = high\nsession_mem_bytes = 64M\n"

/* A call that must succeed; its error named if not. */
#define CHECK(call) do {						\
	cudaError_t _e = (call);						\
									\
	ASSERT_EQ(cudaSuccess, _e) TH_LOG("%s", cudaGetErrorName(_e));	\
} while (0)

FIXTURE(rt) {
	struct test_mediator t;
	char dir[512];
	char err_path[600];
	int saved_err;		/* stderr while it is captured */
};

FIXTURE_SETUP(rt)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	test_seed();
	self->saved_err = -1;
	ASSERT_EQ(0, tm_init(&self->t, NULL, VMS));
	ASSERT_EQ(0, tm_start(&self->t)) TH_LOG("see %s", self->t.log);
	tm_vmdir(&self->t, "cu", self->dir, sizeof(self->dir));
	ASSERT_EQ(0, setenv("VGPU_DEVICE", self->dir, 1));
	ASSERT_EQ(0, setenv("VGPU_CUDART_TIMEOUT_MS", "20000", 1));
	snprintf(self->err_path, sizeof(self->err_path), "%s/stderr", self->t.root);
}

FIXTURE_TEARDOWN(rt)
{
	if (self->saved_err >= 0)
		dup2(self->saved_err, 2);
	if (self->t.pid > 0) {
		EXPECT_EQ(0, tm_stop(&self->t, SIGTERM)) TH_LOG("see %s", self->t.log);
	}
	tm_cleanup(&self->t);
}

/* Send stderr to a file (the runtime's debug lines), and back. */
static void capture(struct __test_metadata *_metadata, FIXTURE_DATA(rt) *self)
{
	int fd = open(self->err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ASSERT_LE(0, fd);
	fflush(stderr);
	self->saved_err = dup(2);
	ASSERT_LE(0, self->saved_err);
	ASSERT_EQ(2, dup2(fd, 2));
	close(fd);
}

/* Stop capturing; the captured text (malloc'ed) is echoed as comments. */
static char *captured(FIXTURE_DATA(rt) *self)
{
	static char none[] = "";
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	fflush(stderr);
	dup2(self->saved_err, 2);
	close(self->saved_err);
	self->saved_err = -1;
	f = fopen(self->err_path, "r");
	if (!f)
		return none;
	if (getdelim(&text, &len, '\0', f) < 0) {
		free(text);
		text = NULL;
	}
	fclose(f);
	if (!text)
		return none;
	for (char *line = text, *nl; *line; line = nl + 1) {
		nl = strchrnul(line, '\n');
		printf("# | %.*s\n", (int)(nl - line), line);
		if (!*nl)
			break;
	}
	return text;
}

/* Jobs the debug text names ("libcudart (vgpu): job N: ..."). */
static int jobs_in(const char *text)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, "libcudart (vgpu): job ")); p++)
		n++;
	return n;
}

static int cmp_bytes(const uint8_t *a, const uint8_t *b, size_t n, size_t *at)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i]) {
			*at = i;
			return 1;
		}
	return 0;
}

/* Random buffers, random copies of every kind between them and the host,
 * each checked against a host model of device memory. */
TEST_F(rt, memory_and_copies_of_every_kind_against_a_host_model)
{
	enum { NBUF = 4, ROUNDS = 40 };
	uint8_t *dev[NBUF], *model[NBUF], *host, *back;
	size_t size[NBUF], at;
	int kinds[5] = { 0 };

	for (int i = 0; i < NBUF; i++) {
		size[i] = (size_t)test_rand_range(1, 1 << 20);
		CHECK(cudaMalloc((void **)&dev[i], size[i]));
		model[i] = malloc(size[i]);
		ASSERT_NE(NULL, model[i]);
		test_rand_bytes(model[i], size[i]);
		CHECK(cudaMemcpy(dev[i], model[i], size[i], cudaMemcpyHostToDevice));
		EXPECT_EQ(0u, (uintptr_t)dev[i] % 256);
	}
	host = malloc(1 << 20);
	back = malloc(1 << 20);
	ASSERT_TRUE(host && back);
	for (int r = 0; r < ROUNDS; r++) {
		int a = (int)test_rand_range(0, NBUF - 1), b = (int)test_rand_range(0, NBUF - 1);
		size_t n = (size_t)test_rand_range(1, size[a] < size[b] ? size[a] : size[b]);
		size_t oa = (size_t)test_rand_range(0, size[a] - n);
		size_t ob = (size_t)test_rand_range(0, size[b] - n);
		int kind = (int)test_rand_range(0, 4);
		bool async = test_rand_range(0, 1);
		cudaStream_t s = async && test_rand_range(0, 1) ? cudaStreamPerThread : 0;

		kinds[kind]++;
		test_rand_bytes(host, n);
		switch (kind) {
		case cudaMemcpyHostToDevice:
			CHECK(async ? cudaMemcpyAsync(dev[a] + oa, host, n, kind, s) :
				      cudaMemcpy(dev[a] + oa, host, n, kind));
			memcpy(model[a] + oa, host, n);
			break;
		case cudaMemcpyDeviceToHost:
			CHECK(async ? cudaMemcpyAsync(back, dev[a] + oa, n, kind, s) :
				      cudaMemcpy(back, dev[a] + oa, n, kind));
			if (async) {
				CHECK(cudaStreamSynchronize(s));
			}
			EXPECT_EQ(0, cmp_bytes(back, model[a] + oa, n, &at))
				TH_LOG("round %d: D2H %zu bytes at %zu differ at %zu", r, n, oa, at);
			break;
		case cudaMemcpyDeviceToDevice:
			CHECK(async ? cudaMemcpyAsync(dev[b] + ob, dev[a] + oa, n, kind, s) :
				      cudaMemcpy(dev[b] + ob, dev[a] + oa, n, kind));
			memmove(model[b] + ob, model[a] + oa, n);
			break;
		case cudaMemcpyHostToHost:
			CHECK(cudaMemcpy(back, host, n, kind));
			EXPECT_EQ(0, memcmp(back, host, n));
			break;
		default: {
			/* cudaMemcpyDefault: the direction from the pointers, each way */
			int dir = (int)test_rand_range(0, 2);

			if (dir == 0) {
				CHECK(cudaMemcpy(dev[a] + oa, host, n, cudaMemcpyDefault));
				memcpy(model[a] + oa, host, n);
			} else if (dir == 1) {
				CHECK(cudaMemcpy(back, dev[a] + oa, n, cudaMemcpyDefault));
				EXPECT_EQ(0, cmp_bytes(back, model[a] + oa, n, &at))
					TH_LOG("round %d: default D2H differs at %zu", r, at);
			} else {
				CHECK(cudaMemcpy(dev[b] + ob, dev[a] + oa, n, cudaMemcpyDefault));
				memmove(model[b] + ob, model[a] + oa, n);
			}
			break;
		}
		}
		if (test_rand_range(0, 3) == 0) {
			int v = (int)test_rand_range(0, 511);	/* only the low byte counts */

			CHECK(async ? cudaMemsetAsync(dev[b] + ob, v, n, s) :
				      cudaMemset(dev[b] + ob, v, n));
			memset(model[b] + ob, v & 0xff, n);
		}
	}
	for (int i = 0; i < NBUF; i++) {
		uint8_t *whole = malloc(size[i]);

		ASSERT_NE(NULL, whole);
		CHECK(cudaMemcpy(whole, dev[i], size[i], cudaMemcpyDeviceToHost));
		EXPECT_EQ(0, cmp_bytes(whole, model[i], size[i], &at))
			TH_LOG("buffer %d of %zu bytes differs at %zu", i, size[i], at);
		free(whole);
		CHECK(cudaFree(dev[i]));
		free(model[i]);
	}
	printf("# %d rounds: %d H2H, %d H2D, %d D2H, %d D2D, %d default\n", ROUNDS, kinds[0],
	       kinds[1], kinds[2], kinds[3], kinds[4]);
	free(host);
	free(back);
}

/* Larger than a job may carry: split over several jobs, still right. */
TEST_F(rt, a_copy_larger_than_the_batch_cap_is_split)
{
	size_t n = (size_t)test_rand_range(3 << 20, 5 << 20), at;
	uint8_t *d, *in = malloc(n), *out = malloc(n);
	char *text;

	ASSERT_TRUE(in && out);
	ASSERT_EQ(0, setenv("VGPU_CUDART_BATCH_BYTES", "1048576", 1));
	ASSERT_EQ(0, setenv("VGPU_CUDART_DEBUG", "1", 1));
	test_rand_bytes(in, n);
	capture(_metadata, self);
	CHECK(cudaMalloc((void **)&d, n));
	CHECK(cudaMemcpy(d, in, n, cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(out, d, n, cudaMemcpyDeviceToHost));
	text = captured(self);
	EXPECT_EQ(0, cmp_bytes(in, out, n, &at)) TH_LOG("differs at %zu", at);
	/* 512 KiB per chunk each way */
	EXPECT_LE((int)(2 * (n / (512 << 10))), jobs_in(text));
	printf("# %zu bytes there and back: %d jobs\n", n, jobs_in(text));
	free(in);
	free(out);
}

TEST_F(rt, copies_2d_and_memset_2d)
{
	size_t w = (size_t)test_rand_range(1, 300), h = (size_t)test_rand_range(1, 50);
	size_t hp = w + (size_t)test_rand_range(0, 40), dp, at;
	size_t span = hp * h;
	uint8_t *src = malloc(span), *dst = malloc(span), *want = malloc(span);
	uint8_t *d1, *d2;
	size_t dp2;

	ASSERT_TRUE(src && dst && want);
	test_rand_bytes(src, span);
	CHECK(cudaMallocPitch((void **)&d1, &dp, w, h));
	EXPECT_LE(w, dp);
	CHECK(cudaMallocPitch((void **)&d2, &dp2, w, h));
	CHECK(cudaMemcpy2D(d1, dp, src, hp, w, h, cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy2DAsync(d2, dp2, d1, dp, w, h, cudaMemcpyDeviceToDevice, 0));
	/* a memset of a sub-rectangle of d2, modelled */
	{
		size_t mw = (size_t)test_rand_range(0, w), mh = (size_t)test_rand_range(0, h);
		int v = (int)test_rand_range(0, 255);

		CHECK(cudaMemset2D(d2, dp2, v, mw, mh));
		memcpy(want, src, span);
		for (size_t r = 0; r < mh; r++)
			memset(want + r * hp, v, mw);
		printf("# %zu x %zu, host pitch %zu, device pitch %zu, memset %zu x %zu\n", w, h,
		       hp, dp, mw, mh);
	}
	memset(dst, 0xee, span);
	CHECK(cudaMemcpy2D(dst, hp, d2, dp2, w, h, cudaMemcpyDeviceToHost));
	for (size_t r = 0; r < h; r++) {
		EXPECT_EQ(0, cmp_bytes(dst + r * hp, want + r * hp, w, &at))
			TH_LOG("row %zu differs at %zu", r, at);
	}
	/* the bytes between rows are the program's, untouched */
	for (size_t r = 0; r < h; r++)
		for (size_t c = w; c < hp; c++) {
			EXPECT_EQ(0xee, dst[r * hp + c]);
		}
	/* a pitch smaller than the width is refused */
	EXPECT_EQ(cudaErrorInvalidPitchValue,
		  cudaMemcpy2D(dst, w + 1, d2, w, w + 1, 2, cudaMemcpyDeviceToHost));
	CHECK(cudaFree(d1));
	CHECK(cudaFree(d2));
	free(src);
	free(dst);
	free(want);
}

struct order {
	pthread_mutex_t lock;
	int seen[64];
	int n;
	uint8_t *host;		/* what the callback sees of an async copy */
	uint8_t first;
};

static void note(struct order *o, int id)
{
	pthread_mutex_lock(&o->lock);
	if (o->n < 64)
		o->seen[o->n++] = id;
	if (o->host)
		o->first = o->host[0];
	pthread_mutex_unlock(&o->lock);
}

static struct order *cb_order;

static void host_fn(void *data)
{
	note(cb_order, (int)(intptr_t)data);
}

static void stream_cb(cudaStream_t s, cudaError_t status, void *data)
{
	(void)s;
	note(cb_order, status ? -1 : (int)(intptr_t)data);
}

/* Streams, events and callbacks: callbacks run in stream order after the
 * work before them, which is done when they run; elapsed times add up. */
TEST_F(rt, streams_events_and_callbacks_in_order)
{
	struct order o = { .lock = PTHREAD_MUTEX_INITIALIZER };
	cudaStream_t s[3];
	cudaEvent_t ev[4], notime;
	uint8_t *d, *h = malloc(4096);
	float ab, bc, ac, aa;
	int ncb = 0;

	ASSERT_NE(NULL, h);
	cb_order = &o;
	CHECK(cudaStreamCreate(&s[0]));
	CHECK(cudaStreamCreateWithFlags(&s[1], cudaStreamNonBlocking));
	CHECK(cudaStreamCreateWithPriority(&s[2], cudaStreamDefault, -1));
	for (int i = 0; i < 4; i++) {
		CHECK(cudaEventCreate(&ev[i]));
	}
	CHECK(cudaEventCreateWithFlags(&notime, cudaEventDisableTiming));
	CHECK(cudaMalloc((void **)&d, 4096));

	/* an event never recorded is complete; elapsed time on it is refused */
	EXPECT_EQ(cudaSuccess, cudaEventQuery(ev[3]));
	EXPECT_EQ(cudaErrorInvalidResourceHandle, cudaEventElapsedTime(&aa, ev[3], ev[3]));

	for (int round = 0; round < 6; round++) {
		int k = (int)test_rand_range(0, 2);

		CHECK(cudaMemsetAsync(d, round + 1, 4096, s[k]));
		CHECK(cudaMemcpyAsync(h, d, 4096, cudaMemcpyDeviceToHost, s[k]));
		o.host = h;
		if (round % 2) {
			CHECK(cudaLaunchHostFunc(s[k], host_fn, (void *)(intptr_t)(round + 1)));
		} else {
			CHECK(cudaStreamAddCallback(s[k], stream_cb, (void *)(intptr_t)(round + 1),
						    0));
		}
		ncb++;
		/* the callback saw the copy before it finished */
		EXPECT_EQ(round + 1, o.first);
	}
	ASSERT_EQ(ncb, o.n);
	for (int i = 0; i < o.n; i++) {
		EXPECT_EQ(i + 1, o.seen[i]);
	}

	/* events: a, b, c around work, in one batch; elapsed adds up */
	CHECK(cudaEventRecord(ev[0], s[0]));
	CHECK(cudaMemsetAsync(d, 1, 4096, s[0]));
	CHECK(cudaEventRecord(ev[1], s[1]));
	CHECK(cudaMemcpyAsync(d, h, 4096, cudaMemcpyHostToDevice, s[2]));
	CHECK(cudaEventRecordWithFlags(ev[2], s[2], cudaEventRecordDefault));
	CHECK(cudaEventRecord(notime, 0));
	/* not yet sent: the time is not ready, the query sends the batch */
	EXPECT_EQ(cudaErrorNotReady, cudaEventElapsedTime(&ab, ev[0], ev[1]));
	EXPECT_EQ(cudaSuccess, cudaStreamQuery(s[1]));
	EXPECT_EQ(cudaSuccess, cudaEventQuery(ev[2]));
	CHECK(cudaEventSynchronize(ev[2]));
	CHECK(cudaEventElapsedTime(&ab, ev[0], ev[1]));
	CHECK(cudaEventElapsedTime(&bc, ev[1], ev[2]));
	CHECK(cudaEventElapsedTime(&ac, ev[0], ev[2]));
	CHECK(cudaEventElapsedTime(&aa, ev[0], ev[0]));
	printf("# elapsed a-b %g ms, b-c %g ms, a-c %g ms\n", ab, bc, ac);
	EXPECT_EQ(0.0f, aa);
	EXPECT_LE(0.0f, ab);
	EXPECT_LE(0.0f, bc);
	EXPECT_GE(1e-3, fabs(ac - (ab + bc))) TH_LOG("%g + %g != %g", ab, bc, ac);
	EXPECT_GT(1000.0f, ac);
	EXPECT_EQ(cudaErrorInvalidResourceHandle, cudaEventElapsedTime(&aa, ev[0], notime));
	EXPECT_EQ(cudaSuccess, cudaEventQuery(notime));

	/* events of two jobs: one session clock, which ran on between them */
	CHECK(cudaEventRecord(ev[0], s[1]));
	CHECK(cudaEventSynchronize(ev[0]));
	test_sleep_ms(20);
	CHECK(cudaEventRecord(ev[1], s[0]));
	CHECK(cudaDeviceSynchronize());
	CHECK(cudaEventElapsedTime(&ab, ev[0], ev[1]));
	CHECK(cudaEventElapsedTime(&bc, ev[1], ev[0]));
	printf("# two jobs 20 ms apart: %g ms\n", ab);
	EXPECT_LE(19.9f, ab);
	EXPECT_GT(10000.0f, ab);
	EXPECT_EQ(-ab, bc);

	CHECK(cudaStreamWaitEvent(s[0], ev[1], 0));
	{
		unsigned int flags;
		int prio, lo, hi;

		CHECK(cudaStreamGetFlags(s[1], &flags));
		EXPECT_EQ((unsigned int)cudaStreamNonBlocking, flags);
		CHECK(cudaStreamGetPriority(s[2], &prio));
		CHECK(cudaDeviceGetStreamPriorityRange(&lo, &hi));
		EXPECT_TRUE(prio <= lo && prio >= hi);
	}
	for (int i = 0; i < 3; i++) {
		CHECK(cudaStreamDestroy(s[i]));
	}
	EXPECT_EQ(cudaErrorInvalidResourceHandle, cudaStreamSynchronize(s[1]));
	EXPECT_EQ(cudaErrorInvalidResourceHandle, cudaGetLastError());
	for (int i = 0; i < 4; i++) {
		CHECK(cudaEventDestroy(ev[i]));
	}
	CHECK(cudaEventDestroy(notime));
	EXPECT_EQ(cudaErrorInvalidResourceHandle, cudaEventQuery(ev[0]));
	CHECK(cudaFree(d));
	cudaGetLastError();
	free(h);
}

/* N asynchronous calls, from allocation to the last launch-free step, are
 * one job; the synchronous copy back ends it. */
TEST_F(rt, batching_many_async_calls_make_one_job)
{
	int n = (int)test_rand_range(20, 200), bufs = (int)test_rand_range(1, 4);
	uint8_t *d[4], in[256], out[256], want[256];
	cudaEvent_t e;
	char *text;

	ASSERT_EQ(0, setenv("VGPU_CUDART_DEBUG", "1", 1));
	test_rand_bytes(in, sizeof(in));
	CHECK(cudaEventCreate(&e));
	CHECK(cudaFree(NULL));	/* the idiom that initialises the runtime */
	capture(_metadata, self);
	for (int i = 0; i < bufs; i++) {
		CHECK(cudaMalloc((void **)&d[i], sizeof(in)));
	}
	for (int i = 0; i < n; i++) {
		int b = i % bufs;

		switch (i % 4) {
		case 0:
			CHECK(cudaMemcpyAsync(d[b], in, sizeof(in), cudaMemcpyHostToDevice, 0));
			break;
		case 1:
			CHECK(cudaMemsetAsync(d[b] + 8, i & 0xff, 8, cudaStreamPerThread));
			break;
		case 2:
			CHECK(cudaEventRecord(e, 0));
			break;
		default:
			CHECK(cudaMemcpy(d[(b + 1) % bufs], d[b], sizeof(in),
					 cudaMemcpyDeviceToDevice));
			break;
		}
	}
	CHECK(cudaMemcpy(out, d[(n - 1) % bufs], sizeof(out), cudaMemcpyDeviceToHost));
	text = captured(self);
	EXPECT_EQ(1, jobs_in(text)) TH_LOG("%d calls", n);
	printf("# %d buffers, %d asynchronous calls and a copy back: %d job(s)\n", bufs, n,
	       jobs_in(text));
	/* the debug text names the calls of the job */
	EXPECT_NE(NULL, strstr(text, "cudaMalloc("));
	EXPECT_NE(NULL, strstr(text, "cudaMemsetAsync("));
	EXPECT_NE(NULL, strstr(text, "cudaEventRecord("));
	/* and the result is what the calls make, done in order */
	memcpy(want, in, sizeof(in));
	{
		int last_set = -1;

		for (int i = 0; i < n; i++)
			if (i % 4 == 1)
				last_set = i;
		/* with one buffer every step lands in it; check that case exactly */
		if (bufs == 1 && last_set >= 0) {
			int last_h2d = n - 1 - ((n - 1) % 4);

			if (last_set > last_h2d)
				memset(want + 8, last_set & 0xff, 8);
			EXPECT_EQ(0, memcmp(out, want, sizeof(out)));
		}
	}
	/* nothing pending: a synchronize sends nothing */
	capture(_metadata, self);
	CHECK(cudaDeviceSynchronize());
	CHECK(cudaStreamQuery(0));
	text = captured(self);
	EXPECT_EQ(0, jobs_in(text));
	CHECK(cudaEventDestroy(e));
}

static pid_t executor_of(pid_t mediator)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = -1;

	while (d && (de = readdir(d))) {
		char path[300], buf[512], *p;
		int ppid;
		FILE *f;

		snprintf(path, sizeof(path), "/proc/%s/stat", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')) &&
		    sscanf(p + 2, "%*c %d", &ppid) == 1 && ppid == mediator &&
		    strstr(buf, "(vgpu-executor)"))
			found = atoi(de->d_name);
		fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

TEST_F(rt, errors_sticky_and_not)
{
	uint8_t *d, h[64];
	int on_stack;
	cudaStream_t bogus = (cudaStream_t)&on_stack;
	cudaError_t lost;
	pid_t ex;

	CHECK(cudaMalloc((void **)&d, 64));
	/* not sticky: a bad pointer, a range past the end, a bad handle */
	EXPECT_EQ(cudaErrorInvalidValue, cudaMemcpy(d + 1, h, 64, cudaMemcpyHostToDevice));
	EXPECT_EQ(cudaErrorInvalidValue, cudaGetLastError());
	EXPECT_EQ(cudaSuccess, cudaGetLastError());
	EXPECT_EQ(cudaErrorInvalidValue, cudaMemcpy(h, h + 1, 8, cudaMemcpyDeviceToHost));
	EXPECT_EQ(cudaErrorInvalidValue, cudaMemcpy(d, h, 8, cudaMemcpyDeviceToHost));
	EXPECT_EQ(cudaErrorInvalidValue, cudaFree(d + 8));
	EXPECT_EQ(cudaErrorInvalidValue, cudaFree(h));
	EXPECT_EQ(cudaErrorInvalidValue, cudaMemset(d + 60, 0, 8));
	EXPECT_EQ(cudaErrorInvalidMemcpyDirection, cudaMemcpy(d, h, 8, (enum cudaMemcpyKind)7));
	EXPECT_EQ(cudaErrorInvalidResourceHandle,
		  cudaMemcpyAsync(d, h, 8, cudaMemcpyHostToDevice, bogus));
	EXPECT_EQ(cudaErrorInvalidDevice, cudaSetDevice(1));
	EXPECT_EQ(cudaErrorInvalidDevice, cudaPeekAtLastError());
	EXPECT_EQ(cudaErrorInvalidDevice, cudaGetLastError());
	EXPECT_EQ(cudaSuccess, cudaPeekAtLastError());
	EXPECT_STREQ("cudaErrorIllegalAddress", cudaGetErrorName(cudaErrorIllegalAddress));
	EXPECT_STREQ("an illegal memory access was encountered",
		     cudaGetErrorString(cudaErrorIllegalAddress));
	EXPECT_STREQ("unrecognized error code", cudaGetErrorString((cudaError_t)12345));
	/* an unsupported call says so and is not sticky */
	EXPECT_EQ(cudaErrorNotSupported, cudaMallocManaged());
	EXPECT_EQ(cudaErrorNotSupported, cudaGetLastError());
	memset(h, 3, sizeof(h));
	CHECK(cudaMemcpy(d, h, 64, cudaMemcpyHostToDevice));
	memset(h, 0, sizeof(h));
	CHECK(cudaMemcpy(h, d, 64, cudaMemcpyDeviceToHost));
	EXPECT_EQ(3, h[63]);

	/* the session is lost (its executor killed): sticky until reset */
	ex = executor_of(self->t.pid);
	ASSERT_LT(0, ex);
	ASSERT_EQ(0, kill(ex, SIGKILL));
	test_sleep_ms(300);
	/* -ESTALE for our handles; or -EFAULT if the job met the dying executor */
	lost = cudaMemcpy(h, d, 64, cudaMemcpyDeviceToHost);
	EXPECT_TRUE(lost == cudaErrorContextIsDestroyed || lost == cudaErrorLaunchFailure)
		TH_LOG("%s", cudaGetErrorName(lost));
	EXPECT_EQ(lost, cudaGetLastError());
	EXPECT_EQ(lost, cudaGetLastError());
	EXPECT_EQ(lost, cudaMalloc((void **)&d, 64));
	EXPECT_EQ(lost, cudaDeviceSynchronize());
	EXPECT_EQ(lost, cudaStreamQuery(0));
	printf("# after the loss: %s\n", cudaGetErrorString(cudaPeekAtLastError()));
	CHECK(cudaDeviceReset());
	EXPECT_EQ(cudaSuccess, cudaGetLastError());
	CHECK(cudaMalloc((void **)&d, 64));
	CHECK(cudaMemcpy(d, h, 64, cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(h, d, 64, cudaMemcpyDeviceToHost));
	CHECK(cudaFree(d));
}

/* A job that gets no answer in time may or may not have run: sticky too. */
TEST_F(rt, no_answer_in_time_is_sticky_until_reset)
{
	uint8_t *d, h[128], back[128];
	cudaError_t err;

	ASSERT_EQ(0, setenv("VGPU_CUDART_TIMEOUT_MS", "3000", 1));
	test_rand_bytes(h, sizeof(h));
	CHECK(cudaMalloc((void **)&d, sizeof(h)));
	CHECK(cudaMemcpy(d, h, sizeof(h), cudaMemcpyHostToDevice));
	CHECK(cudaDeviceSynchronize());
	ASSERT_EQ(0, kill(self->t.pid, SIGSTOP));
	err = cudaMemcpy(back, d, sizeof(back), cudaMemcpyDeviceToHost);
	ASSERT_EQ(0, kill(self->t.pid, SIGCONT));
	EXPECT_EQ(cudaErrorLaunchTimeout, err) TH_LOG("%s", cudaGetErrorName(err));
	EXPECT_EQ(cudaErrorLaunchTimeout, cudaGetLastError());
	EXPECT_EQ(cudaErrorLaunchTimeout, cudaMemset(d, 0, 8));
	CHECK(cudaDeviceReset());
	CHECK(cudaMalloc((void **)&d, sizeof(h)));
	CHECK(cudaMemcpy(d, h, sizeof(h), cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(back, d, sizeof(back), cudaMemcpyDeviceToHost));
	EXPECT_EQ(0, memcmp(h, back, sizeof(h)));
	CHECK(cudaFree(d));
}

/* A fatbin as nvcc wraps it, with one kernel and one variable: the CPU
 * backend runs no kernels, which every module call says, once loaded. */
static const struct {
	struct vgpu_fatbin_header h;
	uint8_t body[64];
} fake_fatbin = { { FATBIN_MAGIC, 1, sizeof(struct vgpu_fatbin_header), 64 }, { 1, 2, 3 } };
static const __fatBinC_Wrapper_t fake_wrapper = {
	FATBINC_MAGIC, FATBINC_VERSION, (const unsigned long long *)&fake_fatbin, NULL
};
static void fake_kernel(void)
{
}
static int fake_var[8];

TEST_F(rt, module_calls_fail_clearly_on_the_cpu_backend)
{
	void **handle = __cudaRegisterFatBinary((void *)&fake_wrapper);
	__fatBinC_Wrapper_t bad = fake_wrapper, rdc = fake_wrapper;
	struct cudaFuncAttributes fa;
	cudaKernel_t k;
	dim3 grid = { 2, 1, 1 }, block = { 32, 1, 1 }, g, b;
	size_t shared, sz;
	cudaStream_t st;
	void *args[1], *p;
	int nb, x[8] = { 0 };
	uint8_t *d;
	char *text;

	ASSERT_NE(NULL, handle);
	__cudaRegisterFunction(handle, (const char *)fake_kernel, (char *)"_Z4fakev", "_Z4fakev",
			       -1, NULL, NULL, NULL, NULL, NULL);
	__cudaRegisterVar(handle, (char *)fake_var, (char *)"fake_var", "fake_var", 0,
			  sizeof(fake_var), 0, 0);
	__cudaRegisterFatBinaryEnd(handle);
	ASSERT_EQ(0, setenv("VGPU_CUDART_DEBUG", "1", 1));

	/* registration alone: no device work */
	CHECK(cudaGetSymbolSize(&sz, fake_var));
	EXPECT_EQ(sizeof(fake_var), sz);
	EXPECT_EQ(cudaErrorInvalidSymbol, cudaGetSymbolSize(&sz, x));
	CHECK(__cudaGetKernel(&k, (const void *)fake_kernel));
	EXPECT_EQ(cudaErrorInvalidDeviceFunction, __cudaGetKernel(&k, (const void *)x));
	CHECK(__cudaGetKernel(&k, (const void *)fake_kernel));
	EXPECT_EQ(0u, __cudaPushCallConfiguration(grid, block, 16, 0));
	CHECK(__cudaPopCallConfiguration(&g, &b, &shared, &st));
	EXPECT_EQ(2u, g.x);
	EXPECT_EQ(32u, b.x);
	EXPECT_EQ(16u, shared);
	EXPECT_EQ(cudaErrorMissingConfiguration, __cudaPopCallConfiguration(&g, &b, &shared, &st));

	capture(_metadata, self);
	CHECK(cudaMalloc((void **)&d, 64));
	args[0] = &d;
	/* the first use loads the module: the CPU backend refuses it */
	EXPECT_EQ(cudaErrorNotSupported, __cudaLaunchKernel(k, grid, block, args, 0, 0));
	EXPECT_EQ(cudaErrorNotSupported, cudaGetLastError());
	/* and the failure is kept: no second module_load */
	EXPECT_EQ(cudaErrorNotSupported, cudaLaunchKernel((const void *)fake_kernel, grid, block,
							  args, 0, 0));
	EXPECT_EQ(cudaErrorNotSupported, cudaFuncGetAttributes(&fa, (const void *)fake_kernel));
	EXPECT_EQ(cudaErrorNotSupported,
		  cudaOccupancyMaxActiveBlocksPerMultiprocessor(&nb, (const void *)fake_kernel,
								128, 0));
	EXPECT_EQ(cudaErrorNotSupported, cudaMemcpyToSymbol(fake_var, x, sizeof(x), 0,
							    cudaMemcpyHostToDevice));
	EXPECT_EQ(cudaErrorNotSupported, cudaGetSymbolAddress(&p, fake_var));
	/* a bad configuration is refused before anything is sent */
	block.x = 2048;
	EXPECT_EQ(cudaErrorInvalidConfiguration, cudaLaunchKernel((const void *)fake_kernel, grid,
								  block, args, 0, 0));
	EXPECT_EQ(cudaErrorInvalidDeviceFunction, cudaLaunchKernel((const void *)x, grid, grid,
								   args, 0, 0));
	/* not sticky: memory still works */
	CHECK(cudaMemcpy(d, x, sizeof(x), cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(x, d, sizeof(x), cudaMemcpyDeviceToHost));
	text = captured(self);
	{
		int loads = 0;

		for (const char *q = text; (q = strstr(q, "(load module ")); q++)
			loads++;
		EXPECT_EQ(1, loads);
	}
	EXPECT_NE(NULL, strstr(text, "module_load")) TH_LOG("the reason is named");
	EXPECT_NE(NULL, strstr(text, "runs no kernels"));

	/* wrappers nvcc would not make */
	bad.magic = 0x12345678;
	rdc.version = 3;	/* unknown: neither a whole fatbin (1) nor a linked one (2) */
	{
		void **hb = __cudaRegisterFatBinary(&bad), **hr = __cudaRegisterFatBinary(&rdc);
		static char kb, kr;

		__cudaRegisterFunction(hb, &kb, (char *)"kb", "kb", -1, NULL, NULL, NULL, NULL,
				       NULL);
		__cudaRegisterFunction(hr, &kr, (char *)"kr", "kr", -1, NULL, NULL, NULL, NULL,
				       NULL);
		EXPECT_EQ(cudaErrorInvalidKernelImage,
			  cudaLaunchKernel(&kb, grid, grid, args, 0, 0));
		EXPECT_EQ(cudaErrorNotSupported, cudaLaunchKernel(&kr, grid, grid, args, 0, 0));
		__cudaUnregisterFatBinary(hb);
		__cudaUnregisterFatBinary(hr);
	}
	__cudaUnregisterFatBinary(handle);
	CHECK(cudaFree(d));
	CHECK(cudaDeviceSynchronize());
}

TEST_F(rt, device_properties_and_memory_info)
{
	struct cudaDeviceProp p;
	size_t free0, total, free1;
	int n = 0, v, dev = -1;
	uint8_t *d;
	size_t big = (size_t)test_rand_range(1 << 20, 8 << 20);

	CHECK(cudaGetDeviceCount(&n));
	EXPECT_EQ(1, n);
	CHECK(cudaGetDevice(&dev));
	EXPECT_EQ(0, dev);
	CHECK(cudaSetDevice(0));
	CHECK(cudaRuntimeGetVersion(&v));
	EXPECT_EQ(13000, v);
	CHECK(cudaDriverGetVersion(&v));
	EXPECT_LE(13000, v);
	CHECK(cudaGetDeviceProperties(&p, 0));
	printf("# %s: %d.%d, %d SMs, %zu bytes\n", p.name, p.major, p.minor,
	       p.multiProcessorCount, p.totalGlobalMem);
	EXPECT_NE('\0', p.name[0]);
	EXPECT_EQ(9, p.major);
	EXPECT_EQ(32, p.warpSize);
	EXPECT_LT(0, p.multiProcessorCount);
	EXPECT_LT(0u, p.totalGlobalMem);
	EXPECT_EQ(1, p.unifiedAddressing);
	CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, 0));
	EXPECT_EQ(p.multiProcessorCount, v);
	CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrComputeCapabilityMajor, 0));
	EXPECT_EQ(p.major, v);
	CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxThreadsPerBlock, 0));
	EXPECT_EQ(p.maxThreadsPerBlock, v);
	CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrGlobalMemoryBusWidth, 0));
	EXPECT_EQ(p.memoryBusWidth, v);
	CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
	EXPECT_EQ((int)p.sharedMemPerBlockOptin, v);
	CHECK(cudaDeviceGetAttribute(&v, cudaDevAttrClockRate, 0));
	EXPECT_LE(0, v);
	EXPECT_EQ(cudaErrorInvalidValue, cudaDeviceGetAttribute(&v, (enum cudaDeviceAttr)9999, 0));
	EXPECT_EQ(cudaErrorInvalidDevice, cudaGetDeviceProperties(&p, 1));
	cudaGetLastError();
	{
		char bus[32];
		int found = -1;

		CHECK(cudaDeviceGetPCIBusId(bus, sizeof(bus), 0));
		EXPECT_STREQ("0000:00:00.0", bus);
		CHECK(cudaDeviceGetByPCIBusId(&found, bus));
		EXPECT_EQ(0, found);
		EXPECT_EQ(cudaErrorInvalidValue, cudaDeviceGetByPCIBusId(&found, "bus"));
	}

	CHECK(cudaMemGetInfo(&free0, &total));
	EXPECT_EQ(p.totalGlobalMem, total);
	EXPECT_LE(free0, total);
	CHECK(cudaMalloc((void **)&d, big));
	CHECK(cudaMemGetInfo(&free1, &total));
	printf("# free %zu then %zu of %zu after %zu bytes\n", free0, free1, total, big);
	EXPECT_LE(free1 + big, free0);
	/* more than the quota: refused at once */
	EXPECT_EQ(cudaErrorMemoryAllocation, cudaMalloc((void **)&d, total + 1));
	cudaGetLastError();
}

/* Several threads share the runtime, each with its own stream and data. */
struct worker {
	int id;
	uint64_t seed;
	int bad;
	cudaError_t err;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	uint8_t in[4096], out[4096];
	cudaStream_t s;
	uint8_t *d;

	if ((w->err = cudaStreamCreate(&s)))
		return NULL;
	for (int round = 0; round < 20; round++) {
		size_t n = 1 + (w->seed = w->seed * 6364136223846793005ull + 1) % sizeof(in);

		for (size_t i = 0; i < n; i++)
			in[i] = (uint8_t)(w->seed >> (i % 56)) ^ (uint8_t)i;
		if ((w->err = cudaMalloc((void **)&d, n)) ||
		    (w->err = cudaMemcpyAsync(d, in, n, cudaMemcpyHostToDevice, s)) ||
		    (w->err = cudaMemcpyAsync(out, d, n, cudaMemcpyDeviceToHost, s)) ||
		    (w->err = cudaStreamSynchronize(s)) || (w->err = cudaFree(d)))
			return NULL;
		w->bad += memcmp(in, out, n) != 0;
	}
	w->err = cudaStreamDestroy(s);
	return NULL;
}

TEST_F(rt, threads_share_the_runtime)
{
	enum { N = 4 };
	struct worker w[N];
	pthread_t t[N];

	for (int i = 0; i < N; i++) {
		w[i] = (struct worker){ .id = i, .seed = test_rand() };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, work, &w[i]));
	}
	for (int i = 0; i < N; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(cudaSuccess, w[i].err) TH_LOG("thread %d: %s", i,
							 cudaGetErrorName(w[i].err));
		EXPECT_EQ(0, w[i].bad) TH_LOG("thread %d", i);
	}
}

/* A child of fork() cannot use its parent's device (as in CUDA), and its
 * exit() does not give the parent's buffers back. */
TEST_F(rt, a_forked_child_leaves_the_parents_state_alone)
{
	uint8_t *d, h[32], back[32];
	int status;
	pid_t pid;

	test_rand_bytes(h, sizeof(h));
	CHECK(cudaMalloc((void **)&d, sizeof(h)));
	CHECK(cudaMemcpy(d, h, sizeof(h), cudaMemcpyHostToDevice));
	CHECK(cudaDeviceSynchronize());
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		void *p;

		exit(cudaMalloc(&p, 16) == cudaErrorInitializationError &&
		     cudaMemcpy(back, d, 8, cudaMemcpyDeviceToHost) ==
		     cudaErrorInitializationError ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(cudaMemcpy(back, d, sizeof(back), cudaMemcpyDeviceToHost));
	EXPECT_EQ(0, memcmp(h, back, sizeof(h)));
	CHECK(cudaFree(d));
}

TEST_F(rt, no_device)
{
	int n = -1;
	void *p;

	ASSERT_EQ(0, setenv("VGPU_DEVICE", "/nonexistent/vgpu0", 1));
	capture(_metadata, self);
	EXPECT_EQ(cudaErrorNoDevice, cudaGetDeviceCount(&n));
	EXPECT_EQ(0, n);
	EXPECT_EQ(cudaErrorNoDevice, cudaMalloc(&p, 16));
	EXPECT_EQ(cudaErrorNoDevice, cudaDeviceSynchronize());
	/* host memory needs no device */
	CHECK(cudaMallocHost(&p, 100));
	CHECK(cudaFreeHost(p));
	{
		char *text = captured(self);
		const char *first = strstr(text, "no device");

		EXPECT_NE(NULL, first) TH_LOG("the first call says why");
		if (first) {
			EXPECT_EQ(NULL, strstr(first + 1, "no device")) TH_LOG("once");
		}
	}
}

TEST_HARNESS_MAIN
