// SPDX-License-Identifier: MIT
/*
 * libvgpu's public API (include/vgpu/vgpu.h): devices, command lists and
 * replies over the protocol library of lib/ (session.c builds and checks
 * lists and parses their replies; client.c is the spool client). Built
 * into libvgpu.so.1, where only the functions marked VGPU_EXPORT are seen
 * (lib/libvgpu.map), and into the internal libvgpu.a like the rest of lib/.
 *
 * Runs in the caller's threads. A device handle is shared by them: on
 * /dev/vgpuN each thread's SUBMIT blocks in the driver on its own; on a
 * spool directory dev->lock guards the client, and one waiting thread at a
 * time (the collector) reads every response that comes, handing each to
 * the thread whose job it is. A list and a reply are their caller's alone.
 * Touches only the target it opened and the memory it was given.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "vgpu/vgpu.h"
#include "client.h"
#include "spool.h"
#include "vgpu/ops.h"
#include "vgpu/session.h"

#define VGPU_EXPORT	__attribute__((visibility("default")))

#define DEFAULT_TARGET	"/dev/vgpu0"
#define DESCRIBE_ROOM	(64u << 10)	/* reply bytes set aside per module_describe */
#define POLL_MAX_MS	20		/* longest sleep between listings of rsp/ (NFS) */
#define NFS_MAGIC	0x6969		/* statfs f_type of NFS (linux/magic.h) */
#define V9FS_MAGIC	0x01021997	/* and of 9p */

_Static_assert(VGPU_WHY_LEN == VGPU_SESS_MSG_LEN, "a message is the session message");
_Static_assert(VGPU_REF_SLOT == VGPU_SESS_SLOT_BIT, "references are the wire's");
_Static_assert((int)VGPU_CMD_ALLOC == (int)VGPU_SESS_ALLOC && (int)VGPU_CMD_FREE == (int)VGPU_SESS_FREE &&
	       (int)VGPU_CMD_MEMSET == (int)VGPU_SESS_MEMSET && (int)VGPU_CMD_COPY_H2D == (int)VGPU_SESS_COPY_H2D &&
	       (int)VGPU_CMD_COPY_D2H == (int)VGPU_SESS_COPY_D2H && (int)VGPU_CMD_COPY_D2D == (int)VGPU_SESS_COPY_D2D &&
	       (int)VGPU_CMD_MODULE_LOAD == (int)VGPU_SESS_MODULE_LOAD &&
	       (int)VGPU_CMD_MODULE_UNLOAD == (int)VGPU_SESS_MODULE_UNLOAD &&
	       (int)VGPU_CMD_MODULE_DESCRIBE == (int)VGPU_SESS_MODULE_DESCRIBE &&
	       (int)VGPU_CMD_LAUNCH == (int)VGPU_SESS_LAUNCH && (int)VGPU_CMD_OP == (int)VGPU_SESS_OP &&
	       (int)VGPU_CMD_TIMESTAMP == (int)VGPU_SESS_TIMESTAMP, "command codes are the wire's");

static void say(char *why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(char *why, const char *fmt, ...)
{
	va_list ap;

	if (!why)
		return;
	va_start(ap, fmt);
	vsnprintf(why, VGPU_WHY_LEN, fmt, ap);
	va_end(ap);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static uint64_t align8(uint64_t n)
{
	return n > UINT64_MAX - 7 ? UINT64_MAX : (n + 7) & ~7ull;
}

VGPU_EXPORT const char *vgpu_version(void)
{
	return VGPU_VERSION;
}

/* ---- devices ------------------------------------------------------------ */

/* One spool job in flight, owned by its waiter until it gives up on it
 * (then an orphan, freed by whoever collects its response or by close). */
struct job {
	struct job *next;		/* dev->orphans */
	bool done, orphan;
	struct vgpu_result res;		/* the response's header, once done */
	uint8_t *buf;			/* its output: cap bytes, and one for a NUL */
	uint64_t cap;
};

struct vgpu_device {
	bool spool;
	/* /dev/vgpuN: fixed after open */
	int fd;
	struct vgpu_info info;		/* GET_INFO at open */
	/* a spool directory: */
	pthread_mutex_t lock;		/* guards what follows */
	pthread_cond_t cond;		/* a job is done, or the collector left */
	struct vgpu_client *client;	/* not thread-safe: under lock only */
	int wait_fd;			/* the client's: wakes the collector; -1: sleep */
	bool collecting;		/* a thread waits for responses for everyone */
	struct job *orphans;
	bool assigned;			/* the last answer's vm_id, pool, priority */
	uint32_t vm_id, pool, priority;
};

static int open_device(struct vgpu_device *d, const char *path, char *why)
{
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		int err = -errno;

		say(why, "cannot open %s: %s%s", path, strerror(errno),
		    err == -EACCES ? " (users of the device are in group vgpu)" : "");
		return err;
	}
	d->info = (struct vgpu_info){ .argsz = sizeof(d->info) };
	if (ioctl(d->fd, VGPU_IOC_GET_INFO, &d->info) < 0) {
		int err = errno == ENOTTY ? -ENOTTY : -errno;

		say(why, "%s: %s", path, err == -ENOTTY ? "not a vgpu device" : strerror(errno));
		return err;
	}
	return 0;
}

static int open_spool(struct vgpu_device *d, const char *path, char *why)
{
	struct vgpu_client_opts opts = { .poll_max_ms = POLL_MAX_MS };
	char msg[VGPU_MSG_LEN] = "";
	pthread_condattr_t ca;
	struct statfs fs;
	int err;

	/* inotify sees nothing an NFS or 9p server does: list rsp/ instead */
	opts.poll = statfs(path, &fs) == 0 &&
		    (fs.f_type == NFS_MAGIC || fs.f_type == V9FS_MAGIC);
	err = vgpu_client_open(path, &opts, &d->client, msg);
	if (err) {
		say(why, "%s: %s", path, msg);
		return err;
	}
	d->wait_fd = vgpu_client_wait_fd(d->client);
	if (pthread_condattr_init(&ca) || pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) ||
	    pthread_cond_init(&d->cond, &ca)) {
		say(why, "cannot make a condition variable");
		return -ENOMEM;
	}
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&d->lock, NULL);
	d->spool = true;
	return 0;
}

VGPU_EXPORT int vgpu_open(const char *target, struct vgpu_device **dev, char *why)
{
	struct vgpu_device *d;
	struct stat st;
	int err;

	if (!dev) {
		say(why, "no place for the device handle");
		return -EINVAL;
	}
	*dev = NULL;
	if (!target)
		target = getenv("VGPU_DEVICE");
	if (!target || !*target)
		target = DEFAULT_TARGET;
	if (stat(target, &st) < 0) {
		err = -errno;
		say(why, "%s: %s%s", target, strerror(errno),
		    err == -ENOENT && !strcmp(target, DEFAULT_TARGET) ?
		    " (no vgpu device: is vgpu.ko loaded?)" : "");
		return err;
	}
	if (!S_ISCHR(st.st_mode) && !S_ISDIR(st.st_mode)) {
		say(why, "%s: neither a vgpu device nor a VM directory", target);
		return -ENODEV;
	}
	d = calloc(1, sizeof(*d));
	if (!d) {
		say(why, "out of memory");
		return -ENOMEM;
	}
	d->fd = d->wait_fd = -1;
	err = S_ISCHR(st.st_mode) ? open_device(d, target, why) : open_spool(d, target, why);
	if (err) {
		if (d->fd >= 0)
			close(d->fd);
		vgpu_client_close(d->client);
		free(d);
		return err;
	}
	*dev = d;
	return 0;
}

static void job_free(struct job *j)
{
	if (j) {
		free(j->buf);
		free(j);
	}
}

VGPU_EXPORT void vgpu_close(struct vgpu_device *dev)
{
	if (!dev)
		return;
	if (dev->spool) {
		vgpu_client_close(dev->client);
		while (dev->orphans) {
			struct job *j = dev->orphans;

			dev->orphans = j->next;
			job_free(j);
		}
		pthread_cond_destroy(&dev->cond);
		pthread_mutex_destroy(&dev->lock);
	} else {
		close(dev->fd);
	}
	free(dev);
}

/* The caller's struct of @argsz bytes for ours of @size: 0 or -EINVAL. */
static int argsz_ok(uint32_t argsz, size_t size)
{
	return argsz >= size ? 0 : -EINVAL;
}

VGPU_EXPORT int vgpu_device_info(struct vgpu_device *dev, struct vgpu_device_info *info,
				 char *why)
{
	uint32_t argsz;

	if (!dev || !info || argsz_ok(info->argsz, sizeof(*info))) {
		say(why, "bad device or info (argsz %u < %zu?)", info ? info->argsz : 0,
		    sizeof(*info));
		return -EINVAL;
	}
	argsz = info->argsz;
	memset(info, 0, argsz);
	info->argsz = argsz;
	if (dev->spool) {
		info->flags = VGPU_DEVICE_F_SPOOL;
		pthread_mutex_lock(&dev->lock);
		if (dev->assigned) {
			info->flags |= VGPU_DEVICE_F_ASSIGNED;
			info->vm_id = dev->vm_id;
			info->pool = dev->pool;
			info->priority = dev->priority;
		}
		pthread_mutex_unlock(&dev->lock);
		return 0;
	}
	info->flags = VGPU_DEVICE_F_ASSIGNED;
	if (dev->info.flags & VGPU_INFO_F_AGENT)
		info->flags |= VGPU_DEVICE_F_AGENT;
	info->vm_id = dev->info.vm_id;
	info->pool = dev->info.pool;
	info->priority = dev->info.priority;
	info->api_version = dev->info.api_version;
	info->max_job_bytes = dev->info.max_inflight_bytes;
	return 0;
}

/* ---- the spool: submit, and wait while one thread collects for all ------- */

static void job_free(struct job *j);

static uint64_t now_ms(void)
{
	return vgpu_now_ns() / 1000000;
}

/* Take every response that is there; lock held. 0 or -errno. */
static int collect(struct vgpu_device *d)
{
	struct vgpu_result res;
	int n;

	while ((n = vgpu_client_next(d->client, &res, 0)) == 1) {
		struct job *j = res.user;

		if (j->orphan) {
			for (struct job **pp = &d->orphans; *pp; pp = &(*pp)->next)
				if (*pp == j) {
					*pp = j->next;
					break;
				}
			job_free(j);
			continue;
		}
		j->res = res;
		j->done = true;
		if (res.rsp.magic == VGPU_RSP_MAGIC) {
			d->assigned = true;
			d->vm_id = res.rsp.vm_id;
			d->pool = res.rsp.pool;
			d->priority = res.rsp.priority;
		}
	}
	pthread_cond_broadcast(&d->cond);
	return n;
}

/*
 * Sleep until rsp/ may have changed or @ms pass (-1: no bound); lock not
 * held. Polls the client's own inotify fd without reading it: the next
 * collect() reads what woke us, so no event can be taken here and missed
 * there.
 */
static void wait_rsp(struct vgpu_device *d, int64_t ms, unsigned int *backoff_ms)
{
	if (d->wait_fd >= 0) {
		struct pollfd pfd = { d->wait_fd, POLLIN, 0 };

		poll(&pfd, 1, ms < 0 || ms > INT32_MAX ? -1 : (int)ms);
		return;
	}
	if (ms < 0 || ms > (int64_t)*backoff_ms)
		ms = *backoff_ms;
	nanosleep(&(struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000 }, NULL);
	if (*backoff_ms * 2 <= POLL_MAX_MS)
		*backoff_ms *= 2;
}

/*
 * Publish @call as job @j and wait up to @timeout_ms (0: forever) for its
 * response. 0 with j->res filled, or -errno (@why) and @j is no longer the
 * caller's: freed, or (sent and not answered) the device's orphan.
 */
static int spool_call(struct vgpu_device *d, struct vgpu_call *call, struct job *j,
		      unsigned int timeout_ms, char *why)
{
	uint64_t deadline = timeout_ms ? now_ms() + timeout_ms : UINT64_MAX, id;
	char msg[VGPU_MSG_LEN] = "";
	unsigned int backoff_ms = 1;
	int err = 0;

	call->out = j->buf;
	call->out_cap = j->cap;
	call->user = j;
	pthread_mutex_lock(&d->lock);
	err = vgpu_client_submit(d->client, call, &id, msg);
	if (err) {
		pthread_mutex_unlock(&d->lock);
		say(why, "%s", msg);
		job_free(j);
		return err;
	}
	while (!j->done) {
		uint64_t now = now_ms();

		if (now >= deadline) {
			j->orphan = true;
			j->next = d->orphans;
			d->orphans = j;
			err = -ETIMEDOUT;
			say(why, "no answer within %u ms (is the mediator serving this "
			    "directory?)", timeout_ms);
			break;
		}
		if (d->collecting) {
			struct timespec ts;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			if (deadline != UINT64_MAX) {
				uint64_t ns = (uint64_t)ts.tv_nsec + (deadline - now) * 1000000;

				ts.tv_sec += (time_t)(ns / 1000000000);
				ts.tv_nsec = (long)(ns % 1000000000);
			} else {
				ts.tv_sec += 3600;
			}
			pthread_cond_timedwait(&d->cond, &d->lock, &ts);
			continue;
		}
		d->collecting = true;
		err = collect(d);
		if (!err && !j->done) {
			pthread_mutex_unlock(&d->lock);
			wait_rsp(d, deadline == UINT64_MAX ? -1 : (int64_t)(deadline - now),
				 &backoff_ms);
			pthread_mutex_lock(&d->lock);
			err = collect(d);
		}
		d->collecting = false;
		pthread_cond_broadcast(&d->cond);	/* another waiter may collect now */
		if (err) {
			say(why, "collecting responses: %s", strerror(-err));
			break;	/* the job stays in the client; it is ours no more */
		}
	}
	if (err && !j->orphan) {
		j->orphan = true;
		j->next = d->orphans;
		d->orphans = j;
	}
	pthread_mutex_unlock(&d->lock);
	return err;
}

static struct job *job_new(uint64_t cap, uint8_t *buf)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->cap = cap;
	j->buf = buf ? buf : malloc(cap < SIZE_MAX ? (size_t)cap + 1 : 1);
	if (!j->buf || cap >= SIZE_MAX) {
		if (!buf)
			free(j->buf);
		free(j);
		return NULL;
	}
	return j;
}

/* ---- the built-in ops ---------------------------------------------------- */

VGPU_EXPORT int vgpu_op_bytes(uint32_t op, const uint64_t args[VGPU_NR_ARGS], uint64_t *in_len,
			      uint64_t *out_len, char *why)
{
	char msg[VGPU_MSG_LEN] = "";
	uint64_t in, out;
	int err;

	if (!args) {
		say(why, "no arguments");
		return -EINVAL;
	}
	err = vgpu_op_sizes(op, args, &in, &out, msg);
	if (err) {
		say(why, "%s", err == -EOPNOTSUPP ? "unknown op" : msg);
		return err;
	}
	if (in_len)
		*in_len = in;
	if (out_len)
		*out_len = out;
	return 0;
}

static int device_call_op(struct vgpu_device *d, uint32_t op, const uint64_t args[VGPU_NR_ARGS],
			  const void *in, uint64_t in_len, void *out, uint64_t out_cap,
			  uint64_t *out_len, unsigned int timeout_ms, char *why)
{
	struct vgpu_submit s = {
		.argsz = sizeof(s), .op = op,
		.in_ptr = (uintptr_t)in, .in_len = in_len,
		.out_ptr = (uintptr_t)out, .out_len = out_cap,
		.timeout_ns = (uint64_t)timeout_ms * 1000000,
	};

	memcpy(s.args, args, sizeof(s.args));
	if (ioctl(d->fd, VGPU_IOC_SUBMIT, &s) < 0) {
		int err = -errno;

		say(why, "SUBMIT: %s%s", strerror(errno),
		    err == -ENOTCONN ? " (no vgpu-agent attached)" :
		    err == -E2BIG ? " (over the driver's max_inflight_bytes)" : "");
		return err;
	}
	if (s.status) {
		say(why, "%s", s.msg[0] ? s.msg : strerror(-s.status));
		return s.status;
	}
	if (out_len)
		*out_len = s.out_written;
	say(why, "ok");
	return 0;
}

VGPU_EXPORT int vgpu_call_op(struct vgpu_device *dev, uint32_t op,
			     const uint64_t args[VGPU_NR_ARGS], const void *in, uint64_t in_len,
			     void *out, uint64_t out_cap, uint64_t *out_len,
			     unsigned int timeout_ms, char *why)
{
	struct vgpu_call call = { .op = op, .in = in, .in_len = in_len };
	uint64_t need_in, need_out;
	struct job *j;
	int err;

	if (out_len)
		*out_len = 0;
	if (!dev || !args || (in_len && !in) || (out_cap && !out)) {
		say(why, "bad device, arguments or buffers");
		return -EINVAL;
	}
	if (op == VGPU_OP_SESSION) {
		say(why, "a session is run with vgpu_run()");
		return -EINVAL;
	}
	/* Unknown ops and bad arguments are Dom0's to answer; a short buffer ours. */
	if (!vgpu_op_sizes(op, args, &need_in, &need_out, NULL)) {
		if (need_out > out_cap) {
			say(why, "output buffer of %" PRIu64 " bytes < the %" PRIu64 " %s returns",
			    out_cap, need_out, vgpu_op_name(op));
			return -EINVAL;
		}
		out_cap = need_out;
	}
	if (!dev->spool)
		return device_call_op(dev, op, args, in, in_len, out, out_cap, out_len,
				      timeout_ms, why);
	memcpy(call.args, args, sizeof(call.args));
	j = job_new(out_cap, NULL);
	if (!j) {
		say(why, "out of memory for %" PRIu64 " output bytes", out_cap);
		return -ENOMEM;
	}
	err = spool_call(dev, &call, j, timeout_ms, why);
	if (err)
		return err;	/* j is not ours any more */
	err = j->res.rsp.status;
	if (err) {
		say(why, "%s", j->res.rsp.msg[0] ? j->res.rsp.msg : strerror(-err));
	} else {
		if (j->res.rsp.payload_len)
			memcpy(out, j->buf, (size_t)j->res.rsp.payload_len);
		if (out_len)
			*out_len = j->res.rsp.payload_len;
		say(why, "ok");
	}
	job_free(j);
	return err;
}

/* ---- command lists ------------------------------------------------------ */

struct vgpu_list {
	struct vgpu_sess_buf b;		/* the wire bytes (lib/session.c) */
	uint16_t *codes;		/* each command's code, for the reply */
	uint32_t codes_cap;
	uint64_t out_var;		/* reply bytes for outputs: d2h, describe */
	bool launch;			/* a launch: room for device text */
	uint64_t out_set;		/* vgpu_list_set_out_bytes(); 0: computed */
	int err;			/* sticky */
	char why[VGPU_WHY_LEN];
};

VGPU_EXPORT int vgpu_list_new(struct vgpu_list **list)
{
	struct vgpu_list *l = calloc(1, sizeof(*l));

	if (list)
		*list = NULL;
	if (!list || !l) {
		free(l);
		return list ? -ENOMEM : -EINVAL;
	}
	vgpu_sess_begin(&l->b);
	if (l->b.err) {
		free(l);
		return -ENOMEM;
	}
	*list = l;
	return 0;
}

VGPU_EXPORT void vgpu_list_free(struct vgpu_list *list)
{
	if (!list)
		return;
	vgpu_sess_buf_free(&list->b);
	free(list->codes);
	free(list);
}

VGPU_EXPORT void vgpu_list_reset(struct vgpu_list *l)
{
	if (!l)
		return;
	l->b.len = VGPU_SESS_LIST_HDR_SIZE;	/* vgpu_sess_add() clears what it reuses */
	l->b.ncmds = 0;
	l->b.err = 0;
	l->out_var = 0;
	l->launch = false;
	l->err = 0;
	l->why[0] = '\0';
}

VGPU_EXPORT uint32_t vgpu_list_count(const struct vgpu_list *l)
{
	return l ? l->b.ncmds : 0;
}

VGPU_EXPORT uint64_t vgpu_list_bytes(const struct vgpu_list *l)
{
	return l ? l->b.len : 0;
}

VGPU_EXPORT uint64_t vgpu_list_out_bytes(const struct vgpu_list *l)
{
	uint64_t n;

	if (!l)
		return 0;
	if (l->out_set)
		return l->out_set;
	n = VGPU_SESS_RSP_HDR_SIZE + (uint64_t)l->b.ncmds * VGPU_SESS_RESULT_SIZE;
	n = sat_add(n, l->out_var);
	return l->launch ? sat_add(n, VGPU_SESS_LOG_MAX) : n;
}

VGPU_EXPORT void vgpu_list_set_out_bytes(struct vgpu_list *l, uint64_t bytes)
{
	if (l)
		l->out_set = bytes;
}

VGPU_EXPORT int vgpu_list_error(const struct vgpu_list *l, char *why)
{
	if (!l) {
		say(why, "no list");
		return -EINVAL;
	}
	say(why, "%s", l->err ? l->why : "ok");
	return l->err;
}

static int list_fail(struct vgpu_list *l, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int list_fail(struct vgpu_list *l, int err, const char *fmt, ...)
{
	int n = snprintf(l->why, sizeof(l->why), "command %" PRIu32 ": ", l->b.ncmds);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(l->why + n, sizeof(l->why) - (size_t)n, fmt, ap);
	va_end(ap);
	l->err = err;
	return err;
}

/* Append @c, which puts @out bytes in the reply; 0 or the list's error. */
static int add(struct vgpu_list *l, const struct vgpu_sess_cmd *c, uint64_t out, uint64_t *ref)
{
	uint64_t slot;

	if (!l)
		return -EINVAL;
	if (l->err)
		return l->err;
	if (l->b.ncmds >= VGPU_SESS_MAX_CMDS)
		return list_fail(l, -E2BIG, "a list holds at most %u commands",
				 VGPU_SESS_MAX_CMDS);
	if (l->b.ncmds == l->codes_cap) {
		uint32_t cap = l->codes_cap ? l->codes_cap * 2 : 64;
		uint16_t *p = realloc(l->codes, cap * sizeof(*p));

		if (!p)
			return list_fail(l, -ENOMEM, "out of memory");
		l->codes = p;
		l->codes_cap = cap;
	}
	slot = vgpu_sess_add(&l->b, c);
	if (!slot) {
		int err = l->b.err;

		l->b.err = 0;	/* the list itself is unchanged */
		return list_fail(l, err, "%s: %s", vgpu_sess_code_name(c->code),
				 err == -ENOMEM ? "out of memory" : "too large");
	}
	l->codes[l->b.ncmds - 1] = c->code;
	l->out_var = sat_add(l->out_var, align8(out));
	if (c->code == VGPU_SESS_LAUNCH)
		l->launch = true;
	if (ref)
		*ref = slot;
	return 0;
}

#define CMD(...)	(&(struct vgpu_sess_cmd){ __VA_ARGS__ })

VGPU_EXPORT int vgpu_cmd_alloc(struct vgpu_list *l, uint64_t size, uint64_t *ref)
{
	return add(l, CMD(.code = VGPU_SESS_ALLOC, .len = size), 0, ref);
}

VGPU_EXPORT int vgpu_cmd_free(struct vgpu_list *l, uint64_t buf, uint64_t *ref)
{
	return add(l, CMD(.code = VGPU_SESS_FREE, .ref = { buf }), 0, ref);
}

VGPU_EXPORT int vgpu_cmd_memset(struct vgpu_list *l, uint64_t buf, uint64_t off, uint64_t len,
				unsigned int value, uint64_t *ref)
{
	return add(l, CMD(.code = VGPU_SESS_MEMSET, .ref = { buf }, .off = { off }, .len = len,
			  .value = value), 0, ref);
}

VGPU_EXPORT int vgpu_cmd_copy_h2d(struct vgpu_list *l, uint64_t buf, uint64_t off,
				  const void *data, uint64_t len, uint64_t *ref)
{
	if (l && !l->err && len && !data)
		return list_fail(l, -EINVAL, "copy_h2d: no data");
	return add(l, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { buf }, .off = { off },
			  .data = data, .data_len = len), 0, ref);
}

VGPU_EXPORT int vgpu_cmd_copy_d2h(struct vgpu_list *l, uint64_t buf, uint64_t off, uint64_t len,
				  uint64_t *ref)
{
	return add(l, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { buf }, .off = { off }, .len = len),
		   len, ref);
}

VGPU_EXPORT int vgpu_cmd_copy_d2d(struct vgpu_list *l, uint64_t dst, uint64_t dst_off,
				  uint64_t src, uint64_t src_off, uint64_t len, uint64_t *ref)
{
	return add(l, CMD(.code = VGPU_SESS_COPY_D2D, .ref = { dst, src },
			  .off = { dst_off, src_off }, .len = len), 0, ref);
}

VGPU_EXPORT int vgpu_cmd_module_load(struct vgpu_list *l, const void *image, uint64_t len,
				     uint64_t *ref)
{
	if (l && !l->err && len && !image)
		return list_fail(l, -EINVAL, "module_load: no image");
	return add(l, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = image, .data_len = len), 0, ref);
}

VGPU_EXPORT int vgpu_cmd_module_unload(struct vgpu_list *l, uint64_t module, uint64_t *ref)
{
	return add(l, CMD(.code = VGPU_SESS_MODULE_UNLOAD, .ref = { module }), 0, ref);
}

VGPU_EXPORT int vgpu_cmd_module_describe(struct vgpu_list *l, uint64_t module, uint64_t *ref)
{
	return add(l, CMD(.code = VGPU_SESS_MODULE_DESCRIBE, .ref = { module }), DESCRIBE_ROOM,
		   ref);
}

VGPU_EXPORT int vgpu_cmd_launch(struct vgpu_list *l, const struct vgpu_launch *la, uint64_t *ref)
{
	struct vgpu_sess_cmd c = { .code = VGPU_SESS_LAUNCH };
	uint8_t *wire = NULL;
	int err;

	if (!l)
		return -EINVAL;
	if (l->err)
		return l->err;
	if (!la || argsz_ok(la->argsz, sizeof(*la)))
		return list_fail(l, -EINVAL, "launch: argsz %u < %zu", la ? la->argsz : 0,
				 sizeof(*la));
	for (size_t k = sizeof(*la); k < la->argsz; k++)
		if (((const uint8_t *)la)[k])
			return list_fail(l, -EINVAL, "launch: fields of a later libvgpu set");
	if (la->flags & ~VGPU_LAUNCH_F_COOPERATIVE || la->reserved)
		return list_fail(l, -EINVAL, "launch: unknown flags 0x%x or reserved field",
				 la->flags);
	if (!la->name || (la->param_len && !la->params) || (la->npatches && !la->patches))
		return list_fail(l, -EINVAL, "launch: no name, parameters or patches");
	if (la->npatches > VGPU_SESS_PATCHES_MAX)
		return list_fail(l, -E2BIG, "launch: %u pointer patches > %u", la->npatches,
				 VGPU_SESS_PATCHES_MAX);
	if (la->npatches) {
		wire = calloc(la->npatches, VGPU_SESS_PATCH_SIZE);
		if (!wire)
			return list_fail(l, -ENOMEM, "out of memory");
		for (uint32_t k = 0; k < la->npatches; k++) {
			const struct vgpu_patch *p = &la->patches[k];
			struct vgpu_sess_patch pt = { p->param_off, p->buf, p->off };

			if (p->reserved) {
				free(wire);
				return list_fail(l, -EINVAL, "launch: patch %u: reserved field "
						 "not 0", k);
			}
			vgpu_sess_patch_put(&pt, 1, wire + (size_t)k * VGPU_SESS_PATCH_SIZE);
		}
	}
	c.flags = la->flags & VGPU_LAUNCH_F_COOPERATIVE ? VGPU_SESS_F_COOPERATIVE : 0;
	c.ref[0] = la->module;
	memcpy(c.grid, la->grid, sizeof(c.grid));
	memcpy(c.block, la->block, sizeof(c.block));
	c.shared_bytes = la->shared_bytes;
	c.name = la->name;
	c.name_len = (uint32_t)strnlen(la->name, VGPU_SESS_NAME_MAX + 1);
	c.data = la->params;
	c.data_len = la->param_len;
	c.patches = wire;
	c.npatches = la->npatches;
	err = add(l, &c, 0, ref);
	free(wire);
	return err;
}

VGPU_EXPORT int vgpu_cmd_op(struct vgpu_list *l, uint32_t op, const uint64_t args[VGPU_NR_ARGS],
			    const uint64_t bufs[3], const uint64_t offs[3], uint64_t *ref)
{
	struct vgpu_sess_cmd c = { .code = VGPU_SESS_OP, .op = op };

	if (l && !l->err && !args)
		return list_fail(l, -EINVAL, "op: no arguments");
	if (args)
		memcpy(c.args, args, sizeof(c.args));
	for (int i = 0; i < 3; i++) {
		c.ref[i] = bufs ? bufs[i] : 0;
		c.off[i] = offs ? offs[i] : 0;
	}
	return add(l, &c, 0, ref);
}

VGPU_EXPORT int vgpu_cmd_timestamp(struct vgpu_list *l, uint64_t *ref)
{
	return add(l, CMD(.code = VGPU_SESS_TIMESTAMP), 0, ref);
}

VGPU_EXPORT int vgpu_cmd_device_info(struct vgpu_list *l, uint64_t *ref)
{
	return add(l, CMD(.code = VGPU_SESS_DEVICE_INFO), VGPU_SESS_DEVINFO_SIZE, ref);
}

VGPU_EXPORT int vgpu_cmd_module_global(struct vgpu_list *l, uint64_t module, const char *name,
				       uint64_t *ref)
{
	size_t n;

	if (!l)
		return -EINVAL;
	if (l->err)
		return l->err;
	if (!name || !(n = strlen(name)) || n > VGPU_SESS_NAME_MAX)
		return list_fail(l, -EINVAL, "module_global: name empty or over %u bytes",
				 VGPU_SESS_NAME_MAX);
	return add(l, CMD(.code = VGPU_SESS_MODULE_GLOBAL, .ref = { module }, .name = name,
			  .name_len = (uint32_t)n), 8, ref);
}

/* ---- replies ------------------------------------------------------------ */

struct vgpu_reply {
	uint8_t *buf;			/* the session response: cap bytes and a NUL */
	uint64_t cap, len;
	bool known;			/* info and msg say how the last run ended */
	bool parsed;			/* s is valid */
	struct vgpu_sess_rsp s;		/* pointers into buf */
	uint16_t *codes;		/* the list's codes */
	uint32_t codes_cap;
	struct vgpu_reply_info info;
	char msg[VGPU_WHY_LEN];
};

VGPU_EXPORT int vgpu_reply_new(struct vgpu_reply **reply)
{
	if (!reply)
		return -EINVAL;
	*reply = calloc(1, sizeof(**reply));
	if (!*reply)
		return -ENOMEM;
	(*reply)->info.failed = -1;
	say((*reply)->msg, "not run");
	return 0;
}

VGPU_EXPORT void vgpu_reply_free(struct vgpu_reply *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->codes);
	free(r);
}

static void reply_clear(struct vgpu_reply *r)
{
	r->len = 0;
	r->known = r->parsed = false;
	memset(&r->info, 0, sizeof(r->info));
	r->info.failed = -1;
	say(r->msg, "not run");
}

/* Room for @cap reply bytes (and a NUL); 0 or -ENOMEM. */
static int reply_room(struct vgpu_reply *r, uint64_t cap)
{
	uint8_t *p;

	if (r->buf && r->cap >= cap)
		return 0;
	if (cap >= SIZE_MAX)
		return -ENOMEM;
	p = malloc((size_t)cap + 1);
	if (!p)
		return -ENOMEM;
	free(r->buf);
	r->buf = p;
	r->cap = cap;
	return 0;
}

/* "command N (...": the index a message names, or -1. */
static int32_t failed_in(const char *msg)
{
	unsigned int i;

	if (sscanf(msg, "command %u", &i) == 1 && i < VGPU_SESS_MAX_CMDS)
		return (int32_t)i;
	return -1;
}

/*
 * Fill @r from an answer: Dom0's status and message @rsp (and times), the
 * session response of @len bytes in r->buf. Returns the list's status.
 */
static int reply_fill(struct vgpu_reply *r, const struct vgpu_rsp_hdr *rsp, uint64_t len)
{
	char why[VGPU_SESS_MSG_LEN];
	int err;

	r->known = true;
	r->info.flags = VGPU_REPLY_F_ANSWERED;
	r->info.queued_ns = rsp->queued_ns;
	r->info.started_ns = rsp->started_ns;
	r->info.finished_ns = rsp->finished_ns;
	r->buf[len] = '\0';
	r->len = len;
	if (!len) {
		/* the header alone: refused before it ran, or its executor died */
		r->info.status = rsp->status ? rsp->status : -EBADMSG;
		say(r->msg, "%s", rsp->status ? rsp->msg :
			 "an answer without its session response");
		r->info.failed = failed_in(r->msg);
		return r->info.status;
	}
	err = vgpu_sess_rsp_parse(r->buf, len, &r->s, why);
	if (err) {
		r->info.status = err;
		say(r->msg, "bad session response: %s", why);
		return err;
	}
	r->parsed = true;
	r->info.status = r->s.hdr.status;
	r->info.failed = r->s.hdr.failed == VGPU_SESS_NONE ? -1 : (int32_t)r->s.hdr.failed;
	r->info.nrun = r->s.hdr.nrun;
	r->info.epoch = r->s.hdr.epoch;
	r->info.log_len = r->s.hdr.log_len;
	if (r->s.hdr.flags & VGPU_SESS_RSP_F_LOG_TRUNCATED)
		r->info.flags |= VGPU_REPLY_F_LOG_TRUNCATED;
	/* the log ends the response: terminate it where it ends */
	((char *)r->s.log)[r->s.hdr.log_len] = '\0';
	say(r->msg, "%s", r->s.hdr.msg);
	if (!r->s.hdr.status && rsp->status) {	/* the trailer overrules */
		r->info.status = rsp->status;
		say(r->msg, "%s", rsp->msg);
	}
	return r->info.status;
}

static int device_run(struct vgpu_device *d, struct vgpu_list *l, struct vgpu_reply *r,
		      uint64_t room, unsigned int timeout_ms, char *why)
{
	struct vgpu_submit s = {
		.argsz = sizeof(s), .op = VGPU_OP_SESSION,
		.in_ptr = (uintptr_t)l->b.p, .in_len = l->b.len,
		.out_ptr = (uintptr_t)r->buf, .out_len = room,
		.timeout_ns = (uint64_t)timeout_ms * 1000000,
	};
	struct vgpu_rsp_hdr rsp = { 0 };

	if (ioctl(d->fd, VGPU_IOC_SUBMIT, &s) < 0) {
		int err = -errno;

		say(why, "SUBMIT: %s%s", strerror(errno),
		    err == -ENOTCONN ? " (no vgpu-agent attached)" :
		    err == -E2BIG ? " (over the driver's max_inflight_bytes)" : "");
		return err;
	}
	rsp.status = s.status;
	snprintf(rsp.msg, sizeof(rsp.msg), "%s", s.msg);
	rsp.queued_ns = s.queued_ns;
	rsp.started_ns = s.started_ns;
	rsp.finished_ns = s.finished_ns;
	return reply_fill(r, &rsp, s.out_written <= room ? s.out_written : 0);
}

static int spool_run(struct vgpu_device *d, struct vgpu_list *l, struct vgpu_reply *r,
		     uint64_t room, unsigned int timeout_ms, char *why)
{
	struct vgpu_call call = { .op = VGPU_OP_SESSION, .in = l->b.p, .in_len = l->b.len };
	struct job *j = job_new(room, r->buf);
	int err;

	if (!j) {
		say(why, "out of memory");
		return -ENOMEM;
	}
	r->buf = NULL;		/* lent to the job, which may outlive this call */
	r->cap = 0;
	err = spool_call(d, &call, j, timeout_ms, why);
	if (err)
		return err;
	r->buf = j->buf;
	r->cap = j->cap;
	j->buf = NULL;
	err = j->res.rsp.payload_len <= room ? 0 : -EBADMSG;
	err = reply_fill(r, &j->res.rsp, err ? 0 : j->res.rsp.payload_len);
	job_free(j);
	return err;
}

VGPU_EXPORT int vgpu_run(struct vgpu_device *dev, struct vgpu_list *l, struct vgpu_reply *r,
			 unsigned int timeout_ms, char *why)
{
	struct vgpu_sess_cmd *cmds = NULL;
	char msg[VGPU_SESS_MSG_LEN] = "";
	uint32_t n, failed = VGPU_SESS_NONE;
	uint64_t room;
	int err;

	if (!dev || !l || !r) {
		say(why, "no device, list or reply");
		return -EINVAL;
	}
	reply_clear(r);
	if (r->codes_cap < l->b.ncmds) {
		uint16_t *p = realloc(r->codes, l->b.ncmds * sizeof(*p));

		if (!p) {
			say(why, "out of memory");
			return -ENOMEM;
		}
		r->codes = p;
		r->codes_cap = l->b.ncmds;
	}
	if (l->b.ncmds)
		memcpy(r->codes, l->codes, l->b.ncmds * sizeof(*r->codes));
	r->info.ncmds = l->b.ncmds;
	if (l->err) {
		r->known = true;
		r->info.status = l->err;
		r->info.failed = (int32_t)l->b.ncmds;
		say(r->msg, "%s", l->why);
		say(why, "%s", l->why);
		return l->err;
	}
	err = vgpu_sess_finish(&l->b);
	/* Checked whole here as Dom0 checks it: a bad list is not sent. */
	if (!err)
		err = vgpu_sess_parse(l->b.p, l->b.len, &cmds, &n, &failed, msg);
	free(cmds);
	if (err) {
		r->known = true;
		r->info.status = err;
		if (failed == VGPU_SESS_NONE) {
			say(r->msg, "list: %s", msg);
		} else {
			r->info.failed = (int32_t)failed;
			say(r->msg, "command %" PRIu32 ": %s", failed, msg);
		}
		say(why, "%s", r->msg);
		return err;
	}
	room = vgpu_list_out_bytes(l);
	if (room < VGPU_SESS_RSP_HDR_SIZE)
		room = VGPU_SESS_RSP_HDR_SIZE;	/* as the protocol's least out_len */
	if (room > VGPU_PAYLOAD_MAX) {
		say(why, "a reply of %" PRIu64 " bytes is over the protocol's %llu", room,
		    VGPU_PAYLOAD_MAX);
		return -E2BIG;
	}
	if (reply_room(r, room)) {
		say(why, "no memory for a reply of %" PRIu64 " bytes", room);
		return -ENOMEM;
	}
	err = dev->spool ? spool_run(dev, l, r, room, timeout_ms, why) :
			   device_run(dev, l, r, room, timeout_ms, why);
	if (r->info.flags & VGPU_REPLY_F_ANSWERED)
		say(why, "%s", r->msg);
	return err;
}

VGPU_EXPORT int vgpu_reply_info(const struct vgpu_reply *r, struct vgpu_reply_info *info)
{
	uint32_t argsz;

	if (!r || !info || argsz_ok(info->argsz, sizeof(*info)))
		return -EINVAL;
	argsz = info->argsz;
	memset(info, 0, argsz);
	memcpy(info, &r->info, sizeof(*info));
	info->argsz = argsz;
	return 0;
}

VGPU_EXPORT const char *vgpu_reply_message(const struct vgpu_reply *r)
{
	return r ? r->msg : "no reply";
}

VGPU_EXPORT const char *vgpu_reply_log(const struct vgpu_reply *r, size_t *len)
{
	if (!r || !r->parsed) {
		if (len)
			*len = 0;
		return "";
	}
	if (len)
		*len = r->s.hdr.log_len;
	return r->s.log;
}

VGPU_EXPORT int vgpu_reply_get(const struct vgpu_reply *r, uint64_t cmd,
			       struct vgpu_cmd_result *res)
{
	uint32_t argsz, i = VGPU_REF_INDEX(cmd);

	if (!r || !res || argsz_ok(res->argsz, sizeof(*res)))
		return -EINVAL;
	argsz = res->argsz;
	memset(res, 0, argsz);
	res->argsz = argsz;
	if ((cmd >> 32 & 0x7fffffffu) || i >= r->info.ncmds || !r->known)
		return -ENOENT;
	res->code = r->codes[i];
	if (r->parsed && i < r->s.hdr.nrun) {
		struct vgpu_sess_result sr;

		vgpu_sess_rsp_result(&r->s, i, &sr);
		res->status = sr.status;
		res->value = sr.value;
		res->out = sr.out_len ? r->s.out + sr.out_off : NULL;
		res->out_len = sr.out_len;
	} else {
		res->status = (int32_t)i == r->info.failed ? r->info.status : -ECANCELED;
	}
	return 0;
}

VGPU_EXPORT uint64_t vgpu_reply_value(const struct vgpu_reply *r, uint64_t cmd)
{
	struct vgpu_cmd_result res = { .argsz = sizeof(res) };

	return vgpu_reply_get(r, cmd, &res) || res.status ? 0 : res.value;
}

VGPU_EXPORT const void *vgpu_reply_output(const struct vgpu_reply *r, uint64_t cmd,
					  uint64_t *len)
{
	struct vgpu_cmd_result res = { .argsz = sizeof(res) };

	if (vgpu_reply_get(r, cmd, &res))
		res.out_len = 0;
	if (len)
		*len = res.out_len;
	return res.out_len ? res.out : NULL;
}

/* ---- the device's properties -------------------------------------------- */

VGPU_EXPORT int vgpu_device_props_decode(const void *out, uint64_t len,
					 struct vgpu_device_props *props)
{
	if (!out || !props || argsz_ok(props->argsz, sizeof(*props)))
		return -EINVAL;
	return vgpu_sess_devinfo_decode(out, len, props);
}

VGPU_EXPORT int vgpu_device_props(struct vgpu_device *dev, struct vgpu_device_props *props,
				  unsigned int timeout_ms, char *why)
{
	struct vgpu_list *l = NULL;
	struct vgpu_reply *r = NULL;
	uint64_t ref, len;
	const void *out;
	int err;

	if (!dev || !props || argsz_ok(props->argsz, sizeof(*props))) {
		say(why, "bad device or props (argsz %u?)", props ? props->argsz : 0);
		return -EINVAL;
	}
	if ((err = vgpu_list_new(&l)) || (err = vgpu_reply_new(&r)) ||
	    (err = vgpu_cmd_device_info(l, &ref))) {
		say(why, "out of memory");
		goto out;
	}
	err = vgpu_run(dev, l, r, timeout_ms, why);
	if (!err) {
		out = vgpu_reply_output(r, ref, &len);
		err = out ? vgpu_device_props_decode(out, len, props) : -EBADMSG;
		if (err)
			say(why, "Dom0's device record is malformed");
	}
out:
	vgpu_reply_free(r);
	vgpu_list_free(l);
	return err;
}
