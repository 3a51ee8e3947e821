// SPDX-License-Identifier: MIT
/*
 * The control socket behind `vgpuctl`: a unix stream socket, root's and
 * control_socket_group's (mode control_socket_mode, 0600 without a
 * group). A client sends one line ("status", "status json" or "trace") and
 * reads the answer until EOF.
 *
 * Main thread only, and it never blocks the event loop: one client at a
 * time is served through non-blocking reads and writes driven by the loop.
 * While one is served the listening socket is not watched, so the next
 * clients wait in its backlog; a client that has not sent its line and
 * taken its report within CTL_CLIENT_MS is dropped. An accept that fails
 * for want of fds unwatches the socket too, and the tick (ctl_tick())
 * watches it again, so the loop never spins on it. The report's counters
 * are copied under m->lock (snap.c), then formatted and written without it.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "loop.h"
#include "mediator.h"
#include "snap.h"

#define CTL_CLIENT_MS	1000	/* a client's whole exchange */
#define CTL_LINE_MAX	64	/* bytes of a command line */

struct ctl {
	int listen_fd;
	int fd;				/* the client served, or -1 */
	int timer_fd;			/* its deadline */
	char line[CTL_LINE_MAX];
	size_t line_len;
	char *out;			/* the answer, being written */
	size_t out_len, out_off;
	bool paused;			/* unwatched for want of fds or memory */
	bool short_fds;			/* accept failed, and it was logged */
};

static void on_listen(struct loop *l, int fd, uint32_t events, void *ctx);

/* The answer to @cmd into a malloc'd @*out; 0 or -ENOMEM. */
static int report(struct mediator *m, const char *cmd, char **out, size_t *len)
{
	bool json = !strcmp(cmd, "status json"), trace = !strcmp(cmd, "trace");
	struct snap s;
	FILE *f;

	if ((json || trace || !strcmp(cmd, "status")) && snap_take(m, &s, trace))
		return -ENOMEM;
	f = open_memstream(out, len);
	if (!f) {
		snap_free(&s);
		return -ENOMEM;
	}
	if (json)
		snap_json(f, &s);
	else if (trace)
		snap_trace_json(f, &s);
	else if (!strcmp(cmd, "status"))
		snap_text(f, &s);
	else
		fprintf(f, "error: unknown command '%.32s' (try: status, status json, trace)\n",
			cmd);
	if (json || trace || !strcmp(cmd, "status"))
		snap_free(&s);
	return fclose(f) ? -ENOMEM : 0;
}

/* Done with the client (answered, gone or too slow): serve the next. */
static void drop_client(struct mediator *m, struct ctl *c)
{
	if (c->fd < 0)
		return;
	loop_del(m->loop, c->fd);
	close(c->fd);
	c->fd = -1;
	if (c->timer_fd >= 0)
		loop_timer_del(m->loop, c->timer_fd);
	c->timer_fd = -1;
	free(c->out);
	c->out = NULL;
	if (loop_add(m->loop, c->listen_fd, EPOLLIN, on_listen, m)) {
		log_warnx("control socket: cannot watch it again; retried every second");
		c->paused = true;	/* ctl_tick() */
	}
}

static void on_timeout(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct mediator *m = ctx;

	(void)l;
	(void)fd;
	(void)events;
	log_debug("control socket: client too slow; dropped");
	drop_client(m, m->ctl);
}

static void on_writable(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct mediator *m = ctx;
	struct ctl *c = m->ctl;

	(void)l;
	(void)events;
	while (c->out_off < c->out_len) {
		ssize_t n = send(fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;		/* the loop calls again */
		if (n <= 0)
			break;		/* gone */
		c->out_off += (size_t)n;
	}
	drop_client(m, c);
}

static void answer(struct mediator *m, struct ctl *c)
{
	int err;

	c->line[strcspn(c->line, "\r\n")] = '\0';
	err = report(m, c->line, &c->out, &c->out_len);
	if (err) {
		log_warnx("control socket: out of memory");
		drop_client(m, c);
		return;
	}
	c->out_off = 0;
	loop_del(m->loop, c->fd);
	if (loop_add(m->loop, c->fd, EPOLLOUT, on_writable, m))
		drop_client(m, c);
}

static void on_readable(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct mediator *m = ctx;
	struct ctl *c = m->ctl;

	(void)l;
	(void)events;
	for (;;) {
		ssize_t n = recv(fd, c->line + c->line_len, sizeof(c->line) - 1 - c->line_len, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;		/* the rest of the line comes later */
		if (n < 0 || (n == 0 && !c->line_len)) {
			drop_client(m, c);
			return;
		}
		c->line_len += (size_t)n;
		c->line[c->line_len] = '\0';
		if (n == 0 || memchr(c->line, '\n', c->line_len) ||
		    c->line_len == sizeof(c->line) - 1)
			break;		/* a line, the end, or all we take */
	}
	answer(m, c);
}

static void on_listen(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct mediator *m = ctx;
	struct ctl *c = m->ctl;
	int cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	(void)events;
	if (cfd < 0 && (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			errno == ENOMEM)) {
		/*
		 * The client stays in the backlog and the socket readable: unwatch
		 * it, or the loop would spin; ctl_tick() watches it again.
		 */
		if (!c->short_fds)
			log_warn("control socket: accept; retried every second");
		c->paused = c->short_fds = true;
		loop_del(l, fd);
		return;
	}
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control socket: accept");
		return;
	}
	if (c->short_fds)
		log_info("control socket: accepting clients again");
	c->short_fds = false;
	c->fd = cfd;
	c->line_len = 0;
	c->timer_fd = loop_timer_add(l, CTL_CLIENT_MS, 0, on_timeout, m);
	if (c->timer_fd < 0 || loop_add(l, cfd, EPOLLIN, on_readable, m)) {
		log_warnx("control socket: cannot serve a client");
		if (c->timer_fd >= 0)
			loop_timer_del(l, c->timer_fd);
		c->timer_fd = -1;
		close(cfd);
		c->fd = -1;
		return;
	}
	loop_del(l, fd);	/* one client at a time; drop_client() resumes */
}

/* Every tick: after a failed accept or watch, watch the socket again. */
void ctl_tick(struct mediator *m)
{
	struct ctl *c = m->ctl;

	if (!c || !c->paused || c->fd >= 0)
		return;
	if (loop_add(m->loop, c->listen_fd, EPOLLIN, on_listen, m))
		log_warnx("control socket: cannot watch it again; retried every second");
	else
		c->paused = false;
}

int ctl_open(struct mediator *m)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = m->conf.ctl_path;
	struct stat st;
	char dir[sizeof(sa.sun_path)];
	struct ctl *c;
	char *slash;
	int fd, err;

	c = calloc(1, sizeof(*c));
	if (!c) {
		log_errx("control socket %s: out of memory", path);
		return -ENOMEM;
	}
	c->fd = c->timer_fd = -1;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		mkdir(dir, 0755);
	}
	/* A socket left by a crash; never remove anything else. */
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		err = -errno;
		log_err("control socket %s", path);
		free(c);
		return err;
	}
	/* The group's members may ask too (control_socket_group and _mode). */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (m->conf.ctl_gid != (gid_t)-1 && chown(path, (uid_t)-1, m->conf.ctl_gid) < 0) ||
	    chmod(path, m->conf.ctl_mode) < 0 || listen(fd, 8) < 0) {
		err = -errno;
		log_err("control socket %s", path);
		close(fd);
		free(c);
		return err;
	}
	c->listen_fd = fd;
	m->ctl = c;
	err = loop_add(m->loop, fd, EPOLLIN, on_listen, m);
	if (err) {
		log_errx("control socket %s: cannot watch it: %s", path, strerror(-err));
		close(fd);
		free(c);
		m->ctl = NULL;
		return err;
	}
	return 0;
}

void ctl_close(struct mediator *m)
{
	struct ctl *c = m->ctl;

	if (!c)
		return;
	drop_client(m, c);	/* if any */
	loop_del(m->loop, c->listen_fd);
	close(c->listen_fd);
	unlink(m->conf.ctl_path);
	free(c);
	m->ctl = NULL;
}
