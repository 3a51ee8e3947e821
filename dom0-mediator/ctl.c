// SPDX-License-Identifier: MIT
/*
 * The control socket behind `vgpuctl status`: a root-only (0600) unix
 * stream socket. A client sends one line ("status") and reads the report
 * until EOF.
 *
 * Main thread only, and it never blocks the event loop: one client at a
 * time is served through non-blocking reads and writes driven by the loop.
 * While one is served the listening socket is not watched, so the next
 * clients wait in its backlog; a client that has not sent its line and
 * taken its report within CTL_CLIENT_MS is dropped. The report's counters
 * are copied under m->lock, then formatted and written without it.
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
};

/* What the report shows, copied under m->lock. */
struct pool_snap {
	bool running;
	char vm[VM_NAME_MAX];
	uint64_t id, running_ns, done;
	uint32_t op;
	unsigned int prio;
	unsigned int depth[VGPU_NR_PRIOS];
};

struct vm_snap {
	struct vm_conf conf;
	unsigned int jobs;
	struct vm_stats st;
	char why[128];		/* why it is not served, or "" */
};

static void on_listen(struct loop *l, int fd, uint32_t events, void *ctx);

/* The report into a malloc'd @*out; 0 or -ENOMEM. */
static int report(struct mediator *m, char **out, size_t *len)
{
	struct pool_snap ps[VGPU_NR_POOLS] = { 0 };
	struct vm_snap *vs;
	uint64_t now = vgpu_now_ns();
	unsigned int nvms = 0, i = 0;
	struct vm *vm;
	FILE *f;

	/* m->vms changes only on this thread: its length holds until we are done. */
	TAILQ_FOREACH(vm, &m->vms, entry)
		nvms++;
	vs = calloc(nvms ? nvms : 1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	pthread_mutex_lock(&m->lock);
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++) {
		const struct pool *pool = &m->pools[p];
		const struct job *j = pool->running;

		if (j) {
			ps[p].running = true;
			memcpy(ps[p].vm, j->vm->conf.name, sizeof(ps[p].vm));
			ps[p].id = j->hdr.id;
			ps[p].op = j->hdr.op;
			ps[p].prio = j->prio;
			ps[p].running_ns = now - pool->running_since_ns;
		}
		memcpy(ps[p].depth, pool->q.depth, sizeof(ps[p].depth));
		ps[p].done = pool->done;
	}
	TAILQ_FOREACH(vm, &m->vms, entry) {
		vs[i].conf = vm->conf;
		vs[i].jobs = atomic_load(&vm->jobs);
		vs[i].st = vm->st;
		snprintf(vs[i].why, sizeof(vs[i].why), "%s", vm->broken != VM_OK ? vm->why : "");
		i++;
	}
	pthread_mutex_unlock(&m->lock);

	f = open_memstream(out, len);
	if (!f) {
		free(vs);
		return -ENOMEM;
	}
	fprintf(f, "backend %s\n", m->be_ops->name);
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++) {
		fprintf(f, "pool %s: ", vgpu_pool_name(p));
		if (ps[p].running) {
			char id[VGPU_ID_NAME_LEN + 1];

			vgpu_id_name(ps[p].id, id);
			fprintf(f, "running %s/%s (%s, %s) for %" PRIu64 " us", ps[p].vm, id,
				vgpu_op_name(ps[p].op), vgpu_prio_name(ps[p].prio),
				ps[p].running_ns / 1000);
		} else {
			fprintf(f, "idle");
		}
		fprintf(f, "; queued high=%u medium=%u low=%u; done %" PRIu64 "\n",
			ps[p].depth[VGPU_PRIO_HIGH], ps[p].depth[VGPU_PRIO_MEDIUM],
			ps[p].depth[VGPU_PRIO_LOW], ps[p].done);
	}
	for (i = 0; i < nvms; i++) {
		const struct vm_stats *s = &vs[i].st;

		fprintf(f, "vm %s: vm_id=%" PRIu32 " pool=%s priority=%s jobs=%u accepted=%" PRIu64
			" completed=%" PRIu64 " failed=%" PRIu64 " rejected=%" PRIu64
			" expired=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64 "\n",
			vs[i].conf.name, vs[i].conf.id, vgpu_pool_name(vs[i].conf.pool),
			vgpu_prio_name(vs[i].conf.prio), vs[i].jobs, s->accepted, s->completed,
			s->failed, s->rejected, s->expired, s->bytes_in, s->bytes_out);
		if (vs[i].why[0])
			fprintf(f, "vm %s: not served: %s\n", vs[i].conf.name, vs[i].why);
	}
	free(vs);
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
	if (loop_add(m->loop, c->listen_fd, EPOLLIN, on_listen, m))
		log_warnx("control socket: cannot watch it again; vgpuctl will hang");
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
	if (!strcmp(c->line, "status")) {
		err = report(m, &c->out, &c->out_len);
	} else {
		FILE *f = open_memstream(&c->out, &c->out_len);

		err = f ? 0 : -ENOMEM;
		if (f) {
			fprintf(f, "error: unknown command '%.32s' (try: status)\n", c->line);
			err = fclose(f) ? -ENOMEM : 0;
		}
	}
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
	if (cfd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control socket: accept");
		return;
	}
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
	if (!c)
		return -ENOMEM;
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
		free(c);
		return err;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 8) < 0) {
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
