// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "spool.h"
#include "vgpu/session.h"

#define SEQ_FILE	"seq"
#define SEQ_BLOCK	4096	/* ids reserved per write of DIR/seq */

struct pending {
	uint64_t id;
	void *out;
	uint64_t out_cap;
	void *user;
};

struct vgpu_client {
	struct vgpu_spool sp;
	struct vgpu_client_opts opts;
	int seq_fd;		/* DIR/seq, flock'ed while we live */
	int ino_fd;		/* inotify on rsp/, -1 when polling */
	uint64_t next_id;
	uint64_t reserved;	/* ids below this may have been used */
	struct pending *pend;	/* in flight, in submission order */
	unsigned int npend, cap;
	uint64_t *ready;	/* ids whose responses were seen, not yet read */
	unsigned int nready, ready_cap;
	unsigned int backoff_ms;
};

static int seq_store(struct vgpu_client *c, uint64_t reserve)
{
	char buf[32];
	int len = snprintf(buf, sizeof(buf), "%" PRIu64 "\n", reserve);

	if (ftruncate(c->seq_fd, 0) < 0 ||
	    vgpu_pwrite_full(c->seq_fd, buf, (size_t)len, 0) < 0 ||
	    (c->opts.sync && fsync(c->seq_fd) < 0))
		return -errno;
	c->reserved = reserve;
	return 0;
}

/* Highest id named in @dirfd's entries (names may carry suffixes). */
static uint64_t max_id_in(int dirfd)
{
	uint64_t max = 0;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		char name[VGPU_ID_NAME_LEN + 1];
		uint64_t id;

		if (strlen(de->d_name) < VGPU_ID_NAME_LEN)
			continue;
		memcpy(name, de->d_name, VGPU_ID_NAME_LEN);
		name[VGPU_ID_NAME_LEN] = '\0';
		if (!vgpu_id_parse(name, &id) && id > max)
			max = id;
	}
	closedir(d);
	return max;
}

/*
 * Lock DIR/seq so that another client is refused whichever kind of lock
 * it takes. On a local filesystem flock and fcntl locks do not see each
 * other: we hold both. Over NFS and 9p the kernel carries flock as a POSIX
 * lock owned by the open file, so our own flock refuses our fcntl lock;
 * there a fcntl lock alone refuses both kinds. Which case this is shows
 * when the fcntl lock is refused: if it is granted once our flock is gone,
 * it was our own flock in the way, and the fcntl lock is kept alone (the
 * filesystem type cannot tell: 9p reports the server's). 0, or -1 with
 * errno (EWOULDBLOCK or EAGAIN: another client holds it).
 */
static int lock_seq(int fd)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return -1;
	if (fcntl(fd, F_SETLK, &fl) == 0)
		return 0;
	if (errno != EAGAIN && errno != EACCES)
		return -1;
	if (flock(fd, LOCK_UN) < 0)
		return -1;
	return fcntl(fd, F_SETLK, &fl);	/* refused again: another client */
}

static int seq_load(struct vgpu_client *c, char *why)
{
	char buf[32] = "";
	uint64_t from_file = 0, from_dirs = 0;
	int dirs[] = { c->sp.tmp, c->sp.req, c->sp.rsp };
	ssize_t n;

	c->seq_fd = openat(c->sp.dir, SEQ_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (c->seq_fd < 0) {
		snprintf(why, VGPU_MSG_LEN, "cannot open %s: %s", SEQ_FILE, strerror(errno));
		return -errno;
	}
	if (lock_seq(c->seq_fd)) {
		int err = -errno;

		snprintf(why, VGPU_MSG_LEN, "another client uses this directory");
		return err == -EWOULDBLOCK || err == -EACCES ? -EBUSY : err;
	}
	n = pread(c->seq_fd, buf, sizeof(buf) - 1, 0);
	if (n > 0) {
		buf[n] = '\0';
		from_file = strtoull(buf, NULL, 10);
	}
	/* A lost or stale seq file must not make us reuse a visible id. */
	from_dirs = vgpu_spool_taken(c->sp.dir);	/* ids in the mediator's hands */
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		uint64_t m = max_id_in(dirs[i]);

		if (m > from_dirs)
			from_dirs = m;
	}
	c->next_id = from_file > from_dirs + 1 ? from_file : from_dirs + 1;
	c->reserved = c->next_id;
	return 0;
}

int vgpu_client_open(const char *dir, const struct vgpu_client_opts *opts,
		     struct vgpu_client **out, char *why)
{
	struct vgpu_client *c = calloc(1, sizeof(*c));
	const char *failed;
	int err;

	if (!c) {
		snprintf(why, VGPU_MSG_LEN, "out of memory");
		return -ENOMEM;
	}
	c->seq_fd = c->ino_fd = -1;
	if (opts)
		c->opts = *opts;
	if (!c->opts.poll_max_ms)
		c->opts.poll_max_ms = 20;
	c->backoff_ms = 1;
	err = vgpu_spool_open(dir, false, &c->sp, &failed);
	if (err) {
		snprintf(why, VGPU_MSG_LEN, "cannot open %s: %s", failed, strerror(-err));
		free(c);
		return err;
	}
	err = seq_load(c, why);
	if (err)
		goto fail;
	if (!c->opts.poll) {
		char path[64];

		c->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", c->sp.rsp);
		if (c->ino_fd < 0 || inotify_add_watch(c->ino_fd, path, IN_MOVED_TO) < 0) {
			err = -errno;
			snprintf(why, VGPU_MSG_LEN, "inotify: %s", strerror(errno));
			goto fail;
		}
	}
	*out = c;
	return 0;
fail:
	vgpu_client_close(c);
	return err;
}

void vgpu_client_close(struct vgpu_client *c)
{
	if (!c)
		return;
	if (c->ino_fd >= 0)
		close(c->ino_fd);
	if (c->seq_fd >= 0)
		close(c->seq_fd);	/* drops the flock */
	vgpu_spool_close(&c->sp);
	free(c->pend);
	free(c->ready);
	free(c);
}

int vgpu_client_wait_fd(const struct vgpu_client *c)
{
	return c->ino_fd;
}

unsigned int vgpu_client_inflight(const struct vgpu_client *c)
{
	return c->npend;
}

uint64_t vgpu_client_next_id(const struct vgpu_client *c)
{
	return c->next_id;
}

static int grow(void **arr, unsigned int *cap, size_t elem)
{
	unsigned int ncap = *cap ? *cap * 2 : 16;
	void *p = realloc(*arr, ncap * elem);

	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

int vgpu_client_submit(struct vgpu_client *c, const struct vgpu_call *call,
		       uint64_t *id, char *why)
{
	struct vgpu_req_hdr h;
	uint8_t hdr[VGPU_REQ_HDR_SIZE];
	char name[VGPU_ID_NAME_LEN + 1];
	struct iovec iov[2];
	int err;

	if (c->npend == c->cap && grow((void **)&c->pend, &c->cap, sizeof(*c->pend))) {
		snprintf(why, VGPU_MSG_LEN, "out of memory");
		return -ENOMEM;
	}
	if (c->next_id >= c->reserved) {
		err = seq_store(c, c->next_id + SEQ_BLOCK);
		if (err) {
			snprintf(why, VGPU_MSG_LEN, "cannot store %s: %s", SEQ_FILE, strerror(-err));
			return err;
		}
	}
	/* A session job's output is a session response of at most out_cap bytes. */
	if (call->op == VGPU_OP_SESSION)
		err = vgpu_session_req_build(&h, c->next_id, call->in, call->in_len, call->out_cap,
					     why);
	else
		err = vgpu_req_build(&h, c->next_id, call->op, call->args, call->in,
				     call->in_len, why);
	if (err)
		return err;
	if (h.out_len > call->out_cap) {
		snprintf(why, VGPU_MSG_LEN, "output buffer %" PRIu64 " < %" PRIu64 " bytes",
			 call->out_cap, h.out_len);
		return -EINVAL;
	}
	vgpu_req_encode(&h, hdr);
	iov[0] = (struct iovec){ hdr, sizeof(hdr) };
	iov[1] = (struct iovec){ (void *)call->in, call->in_len };
	vgpu_id_name(h.id, name);
	err = vgpu_publish(c->sp.tmp, name, c->sp.req, name, iov, 2, c->opts.sync);
	if (err) {
		snprintf(why, VGPU_MSG_LEN, "publishing request: %s", strerror(-err));
		return err;
	}
	c->pend[c->npend++] = (struct pending){ h.id, call->out, call->out_cap, call->user };
	*id = c->next_id++;
	return 0;
}

static int find_pending(const struct vgpu_client *c, uint64_t id)
{
	for (unsigned int i = 0; i < c->npend; i++)
		if (c->pend[i].id == id)
			return (int)i;
	return -1;
}

static int push_ready(struct vgpu_client *c, uint64_t id)
{
	if (find_pending(c, id) < 0)
		return 0;	/* not ours (an earlier client's): leave it */
	for (unsigned int i = 0; i < c->nready; i++)
		if (c->ready[i] == id)
			return 0;
	if (c->nready == c->ready_cap &&
	    grow((void **)&c->ready, &c->ready_cap, sizeof(*c->ready)))
		return -ENOMEM;
	c->ready[c->nready++] = id;
	return 0;
}

/* Every pending id might be done: after an inotify overflow. */
static int all_pending_ready(struct vgpu_client *c)
{
	for (unsigned int i = 0; i < c->npend; i++)
		if (push_ready(c, c->pend[i].id))
			return -ENOMEM;
	return 0;
}

static int drain_inotify(struct vgpu_client *c)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		ssize_t len = read(c->ino_fd, buf, sizeof(buf));

		if (len < 0)
			return errno == EAGAIN ? 0 : -errno;
		for (char *p = buf; p < buf + len;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			uint64_t id;

			if (ev->mask & IN_Q_OVERFLOW) {
				if (all_pending_ready(c))
					return -ENOMEM;
			} else if (ev->len && !vgpu_id_parse(ev->name, &id) &&
				   push_ready(c, id)) {
				return -ENOMEM;
			}
			p += sizeof(*ev) + ev->len;
		}
	}
}

static int list_rsp(struct vgpu_client *c)
{
	int fd = openat(c->sp.rsp, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	uint64_t id;
	int err = 0;

	if (!d) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		return err;
	}
	while (!err && (de = readdir(d)))
		if (!vgpu_id_parse(de->d_name, &id))
			err = push_ready(c, id);
	closedir(d);
	return err;
}

/* Read one ready response; 1 if @res was filled, 0 if none was ready. */
static int collect(struct vgpu_client *c, struct vgpu_result *res)
{
	while (c->nready) {
		uint64_t id = c->ready[0];
		int i = find_pending(c, id), err;
		char name[VGPU_ID_NAME_LEN + 1];

		memmove(c->ready, c->ready + 1, --c->nready * sizeof(*c->ready));
		if (i < 0)
			continue;
		memset(res, 0, sizeof(*res));
		err = vgpu_rsp_read(c->sp.rsp, id, &res->rsp, c->pend[i].out, c->pend[i].out_cap);
		if (err == -ENOENT)
			continue;	/* an overflow guess; not there yet */
		if (err) {
			res->rsp.status = err;
			snprintf(res->rsp.msg, VGPU_MSG_LEN, "unreadable response: %s",
				 strerror(-err));
		}
		if (!c->opts.keep_rsp) {
			vgpu_id_name(id, name);
			unlinkat(c->sp.rsp, name, 0);
		}
		res->id = id;
		res->user = c->pend[i].user;
		memmove(c->pend + i, c->pend + i + 1, (--c->npend - (unsigned int)i) * sizeof(*c->pend));
		return 1;
	}
	return 0;
}

static int64_t ms_left(uint64_t deadline_ns)
{
	uint64_t now = vgpu_now_ns();

	return now >= deadline_ns ? 0 : (int64_t)((deadline_ns - now + 999999) / 1000000);
}

int vgpu_client_next(struct vgpu_client *c, struct vgpu_result *res, int timeout_ms)
{
	uint64_t now = vgpu_now_ns();
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : now + (uint64_t)timeout_ms * 1000000ull;
	uint64_t spin_end = now + (uint64_t)c->opts.spin_us * 1000;

	for (;;) {
		int err = c->opts.poll ? list_rsp(c) : drain_inotify(c);
		int64_t left;

		if (err)
			return err;
		if (collect(c, res)) {
			c->backoff_ms = 1;
			return 1;
		}
		if (!c->npend)
			return 0;
		left = timeout_ms < 0 ? INT32_MAX : ms_left(deadline);
		if (left == 0)
			return 0;
		if (c->opts.poll) {
			unsigned int ms = c->backoff_ms;
			struct timespec ts;

			if (ms > left)
				ms = (unsigned int)left;
			ts = (struct timespec){ ms / 1000, (long)(ms % 1000) * 1000000 };
			nanosleep(&ts, NULL);
			if (c->backoff_ms * 2 <= c->opts.poll_max_ms)
				c->backoff_ms *= 2;
		} else if (c->opts.spin_us && vgpu_now_ns() < spin_end) {
			continue;	/* drain_inotify() reads without blocking */
		} else {
			struct pollfd pfd = { c->ino_fd, POLLIN, 0 };

			if (poll(&pfd, 1, left > INT32_MAX ? INT32_MAX : (int)left) < 0 &&
			    errno != EINTR)
				return -errno;
		}
	}
}

int vgpu_client_release(struct vgpu_client *c, uint64_t id)
{
	char name[VGPU_ID_NAME_LEN + 1];

	vgpu_id_name(id, name);
	return unlinkat(c->sp.rsp, name, 0) < 0 && errno != ENOENT ? -errno : 0;
}

int vgpu_client_call(struct vgpu_client *c, const struct vgpu_call *call,
		     struct vgpu_result *res, int timeout_ms, char *why)
{
	uint64_t id;
	int err = vgpu_client_submit(c, call, &id, why);

	if (err)
		return err;
	for (;;) {
		err = vgpu_client_next(c, res, timeout_ms);
		if (err <= 0) {
			snprintf(why, VGPU_MSG_LEN, "%s", err ? strerror(-err) : "timed out");
			return err ? err : -ETIMEDOUT;
		}
		if (res->id == id)
			return 0;
	}
}
