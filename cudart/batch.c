// SPDX-License-Identifier: MIT
/*
 * The runtime's core: entering and leaving an API call (the lock, the
 * thread's last error, the process's sticky error), the device (opened
 * at the first call that needs it), and the batch: one libvgpu command
 * list that asynchronous work is appended to and that rt_flush() sends
 * as one job when the program can observe the device. Runs in whatever
 * thread calls the API, under rt.lock (runtime.h); touches rt and the
 * program's memory that copies to the host name.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

struct rt rt = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.seq = 1,
	.next_va = RT_VA_BASE,
};

static __thread cudaError_t last_error;	/* CUDA's last error is per thread */

/* cudaDeviceReset(): the calling thread's last error goes with the state. */
void rt_clear_last(void)
{
	last_error = cudaSuccess;
}

cudaError_t rt_set_last(cudaError_t err)
{
	if (err)
		last_error = err;
	return err;
}

/* cudaGetLastError(): the thread's last error, reset; a sticky one stays. */
CUDART_API cudaError_t cudaGetLastError(void)
{
	cudaError_t err = last_error, sticky;

	last_error = cudaSuccess;
	pthread_mutex_lock(&rt.lock);
	sticky = rt.sticky;
	pthread_mutex_unlock(&rt.lock);
	return sticky ? sticky : err;
}

CUDART_API cudaError_t cudaPeekAtLastError(void)
{
	cudaError_t err = last_error, sticky;

	pthread_mutex_lock(&rt.lock);
	sticky = rt.sticky;
	pthread_mutex_unlock(&rt.lock);
	return sticky ? sticky : err;
}

static unsigned long env_ul(const char *name, unsigned long dflt)
{
	const char *s = getenv(name);
	char *end;
	unsigned long v;

	if (!s || !*s)
		return dflt;
	errno = 0;
	v = strtoul(s, &end, 0);
	return errno || *end ? dflt : v;
}

/* Open the device once; later calls see the first attempt's result. */
cudaError_t rt_open(void)
{
	struct vgpu_device_info info = { .argsz = sizeof(info) };

	if (rt.opened) {
		if (rt.open_err)
			return cudaErrorNoDevice;
		/* a child of fork(): the device is its parent's, as in CUDA */
		return getpid() == rt.pid ? cudaSuccess : cudaErrorInitializationError;
	}
	rt.opened = true;
	rt.pid = getpid();
	rt.debug = (int)env_ul("VGPU_CUDART_DEBUG", 0);
	rt.timeout_ms = (unsigned int)env_ul("VGPU_CUDART_TIMEOUT_MS", 0);
	rt.cap_bytes = env_ul("VGPU_CUDART_BATCH_BYTES", RT_BATCH_BYTES);
	if (rt.cap_bytes < (1u << 20))
		rt.cap_bytes = 1u << 20;
	rt.open_err = vgpu_open(NULL, &rt.dev, rt.open_why);
	if (!rt.open_err && (vgpu_list_new(&rt.list) || vgpu_reply_new(&rt.reply))) {
		rt.open_err = -ENOMEM;
		snprintf(rt.open_why, sizeof(rt.open_why), "out of memory");
	}
	rt.params = malloc(32768);
	rt.patches = calloc(512, sizeof(*rt.patches));
	if (!rt.open_err && (!rt.params || !rt.patches)) {
		rt.open_err = -ENOMEM;
		snprintf(rt.open_why, sizeof(rt.open_why), "out of memory");
	}
	if (rt.open_err) {
		fprintf(stderr, "libcudart (vgpu): no device: %s\n", rt.open_why);
		return cudaErrorNoDevice;
	}
	/* a job's input plus output within the driver's bound, with room to spare */
	if (!vgpu_device_info(rt.dev, &info, NULL) && info.max_job_bytes &&
	    info.max_job_bytes / 2 < rt.cap_bytes)
		rt.cap_bytes = info.max_job_bytes / 2;
	/* the device's shape, once, before any work: later calls never wait for it */
	return rt_props(false);
}

cudaError_t rt_enter_nodev(void)
{
	pthread_mutex_lock(&rt.lock);
	return rt.sticky;
}

cudaError_t rt_enter(void)
{
	pthread_mutex_lock(&rt.lock);
	if (rt.sticky)
		return rt.sticky;
	return rt_open();
}

cudaError_t rt_leave(cudaError_t err)
{
	pthread_mutex_unlock(&rt.lock);
	return rt_set_last(err);
}

/* Debug: note a call of the open batch (VGPU_CUDART_DEBUG=1). */
void rt_note(const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!rt.debug)
		return;
	for (;;) {
		size_t room = rt.calls_cap - rt.calls_len;

		va_start(ap, fmt);
		n = room ? vsnprintf(rt.calls + rt.calls_len, room, fmt, ap) : -1;
		va_end(ap);
		if (n >= 0 && (size_t)n + 2 < room) {
			rt.calls_len += (size_t)n;
			rt.calls[rt.calls_len++] = '\n';
			rt.calls[rt.calls_len] = '\0';
			return;
		}
		{
			size_t cap = rt.calls_cap ? 2 * rt.calls_cap : 4096;
			char *p = realloc(rt.calls, cap);

			if (!p || cap > (64u << 20))
				return;	/* the note is lost; the call is not */
			rt.calls = p;
			rt.calls_cap = cap;
		}
	}
}

/* An API function this runtime does not carry: named once on stderr. */
void rt_unsupported(const char *name)
{
	static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
	static const char *seen[64];
	static unsigned int nseen;
	bool found = false;

	pthread_mutex_lock(&seen_lock);
	for (unsigned int i = 0; i < nseen; i++)
		found |= seen[i] == name || !strcmp(seen[i], name);
	if (!found && nseen < 64)
		seen[nseen++] = name;
	pthread_mutex_unlock(&seen_lock);
	if (!found)
		fprintf(stderr, "libcudart (vgpu): %s is not supported: cudaErrorNotSupported\n",
			name);
}

/*
 * The error a job's -errno and message make. The CUDA driver's codes of
 * the executor's messages ("CUDA_ERROR_ILLEGAL_ADDRESS (700) from ...")
 * are the runtime's own where both name the same condition (1, 2, 200..,
 * 400, 500, 700..): such a code is taken as it is.
 */
cudaError_t rt_errno(int status, const char *msg)
{
	const char *at = msg ? strstr(msg, "CUDA_ERROR_") : NULL;

	if (at) {
		const char *p = strchr(at, '(');
		long code = p ? strtol(p + 1, NULL, 10) : 0;

		switch (code) {
#define CUDA_ERROR_CASE(name, value, text) case value:
			CUDA_ERRORS(CUDA_ERROR_CASE)
#undef CUDA_ERROR_CASE
			if (code > 0 && code < 10000)
				return (cudaError_t)code;
			break;
		default:
			break;
		}
	}
	switch (status) {
	case 0:
		return cudaSuccess;
	case -ENOMEM:
		return cudaErrorMemoryAllocation;
	case -EFAULT:
		return cudaErrorLaunchFailure;	/* an executor that died: no CUDA error named */
	case -ESTALE:
		return cudaErrorContextIsDestroyed;
	case -ETIMEDOUT:
		return cudaErrorLaunchTimeout;
	case -EOPNOTSUPP:
		return cudaErrorNotSupported;
	case -ENOENT:
		return cudaErrorInvalidDeviceFunction;
	case -E2BIG:
		return msg && strstr(msg, "(launch)") ? cudaErrorLaunchOutOfResources :
							 cudaErrorInvalidValue;
	case -EINVAL:
	case -ERANGE:
	case -EBADF:
	case -EOVERFLOW:
		return cudaErrorInvalidValue;
	case -EBUSY:
	case -ENOSPC:
		return cudaErrorDevicesUnavailable;
	default:
		return cudaErrorUnknown;
	}
}

/* A builder error of the open batch (out of memory, a bad argument). */
cudaError_t rt_list_err(int err)
{
	char why[VGPU_WHY_LEN];

	vgpu_list_error(rt.list, why);
	if (rt.debug)
		fprintf(stderr, "libcudart (vgpu): building the batch: %s\n", why);
	return err == -ENOMEM ? cudaErrorMemoryAllocation : rt_errno(err, why);
}

/* Make room for a command of @in_bytes input and @out_bytes output. */
cudaError_t rt_room(uint64_t in_bytes, uint64_t out_bytes)
{
	uint64_t used = vgpu_list_bytes(rt.list) + vgpu_list_out_bytes(rt.list);

	if (vgpu_list_count(rt.list) + 1 > RT_BATCH_CMDS ||
	    (vgpu_list_count(rt.list) && used + in_bytes + out_bytes + 256 > rt.cap_bytes))
		return rt_flush();
	return cudaSuccess;
}

/*
 * Device text where the CUDA driver writes it: printf output to the
 * program's stdout, the message of a failed assert ("...: block: [...],
 * thread: [...] Assertion `...` failed.") to its stderr. The executor
 * caught both in one stream, in the order they were written.
 */
static void put_log(void)
{
	size_t len = 0;
	const char *log = vgpu_reply_log(rt.reply, &len), *end;

	if (!log || !len)
		return;
	for (end = log + len; log < end;) {
		const char *nl = memchr(log, '\n', (size_t)(end - log));
		size_t n = nl ? (size_t)(nl - log) + 1 : (size_t)(end - log);
		bool assert_msg = memmem(log, n, "] Assertion `", 13) != NULL;

		if (assert_msg)
			fflush(stdout);
		fwrite(log, 1, n, assert_msg ? stderr : stdout);
		log += n;
	}
	fflush(stdout);
}

static bool sticky_status(int status, const struct vgpu_reply_info *info)
{
	if (status == -EFAULT || status == -ESTALE || status == -ETIMEDOUT)
		return true;
	/* no answer: whether and how far it ran is unknown */
	return !(info->flags & VGPU_REPLY_F_ANSWERED) && info->failed < 0 &&
	       status != -EINVAL && status != -E2BIG && status != -ENOMEM;
}

/*
 * Send the open batch as one job and take its results: copies into host
 * memory, the handles of buffers it made, event timestamps, device text.
 * The error of its failing command (a kernel fault becomes the process's
 * sticky error); commands after it did not run.
 */
cudaError_t rt_flush(void)
{
	struct vgpu_reply_info info = { .argsz = sizeof(info) };
	struct timespec t0, t1;
	char why[VGPU_WHY_LEN];
	cudaError_t err = cudaSuccess;
	uint32_t ncmds = vgpu_list_count(rt.list);
	size_t i, j;
	int ret;

	if (!ncmds) {
		rt_events_done(NULL, rt.epoch, cudaSuccess);
		rt.seq++;
		return cudaSuccess;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = vgpu_run(rt.dev, rt.list, rt.reply, rt.timeout_ms, why);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	rt.jobs++;
	vgpu_reply_info(rt.reply, &info);
	if (rt.debug)
		fprintf(stderr, "libcudart (vgpu): job %llu: %u commands, %llu bytes in, "
			"%llu out, %.3f ms: %s\n%s", (unsigned long long)rt.jobs, ncmds,
			(unsigned long long)vgpu_list_bytes(rt.list),
			(unsigned long long)vgpu_list_out_bytes(rt.list),
			(double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
			ret ? why : "ok", rt.calls ? rt.calls : "");
	put_log();
	if (ret) {
		err = rt_errno(ret, why);
		if (sticky_status(ret, &info)) {
			rt.sticky = err;
			fprintf(stderr, "libcudart (vgpu): %s: %s\n", why, "the device state is lost");
		}
	}
	if (info.epoch)
		rt.epoch = info.epoch;

	for (i = 0; i < rt.nouts; i++) {
		struct vgpu_cmd_result res = { .argsz = sizeof(res) };

		if (!vgpu_reply_get(rt.reply, rt.outs[i].ref, &res) && !res.status && res.out)
			memcpy(rt.outs[i].dst, res.out,
			       res.out_len < rt.outs[i].len ? res.out_len : rt.outs[i].len);
	}
	/* buffers made by this batch: their handles, or gone if they were not made */
	for (i = j = 0; i < rt.nbufs; i++) {
		struct rt_buf *b = &rt.bufs[i];

		if (VGPU_REF_IS_SLOT(b->ref)) {
			b->ref = vgpu_reply_value(rt.reply, b->ref);
			if (!b->ref) {
				if (!b->global)
					rt.used_bytes -= b->size;
				continue;
			}
		}
		rt.bufs[j++] = *b;
	}
	rt.nbufs = j;
	rt_events_done(rt.reply, info.epoch, err);

	vgpu_list_reset(rt.list);
	rt.nouts = 0;
	rt.calls_len = 0;
	if (rt.calls)
		rt.calls[0] = '\0';
	rt.seq++;
	return err;
}

/*
 * The device as the VM sees it (protocol.rst, "Device record"), cached;
 * @fresh: asked again. A device_info command at the end of the batch,
 * which is sent.
 */
cudaError_t rt_props(bool fresh)
{
	struct vgpu_device_props p = { .argsz = sizeof(p) };
	const void *out;
	cudaError_t err;
	uint64_t ref, len;
	int ret;

	if (rt.props_ok && !fresh)
		return cudaSuccess;
	if ((err = rt_room(64, 4096)))
		return err;
	ret = vgpu_cmd_device_info(rt.list, &ref);
	if (ret)
		return rt_list_err(ret);
	rt_note("(device properties)");
	if ((err = rt_flush()))
		return err;
	out = vgpu_reply_output(rt.reply, ref, &len);
	if (vgpu_device_props_decode(out, len, &p))
		return cudaErrorUnknown;
	rt.props = p;
	rt.props_ok = true;
	return cudaSuccess;
}

/* The session's state is gone or given up (cudaDeviceReset()): forget it. */
void rt_forget_device_state(void)
{
	rt.nbufs = 0;
	rt.used_bytes = 0;
	rt.nouts = 0;
	rt_modules_forget();
	rt.store_state = RT_IMG_NEW;
	rt.props_ok = false;
}
