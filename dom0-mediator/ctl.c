// SPDX-License-Identifier: MIT
/*
 * The control socket behind `vgpuctl status`: a root-only (0600) unix
 * stream socket. A client sends one line ("status") and reads the report
 * until EOF. Requests are served inline on the main thread with short
 * socket timeouts, so a stuck client delays the loop by at most ~1 s.
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

static void report(struct mediator *m, FILE *f)
{
	uint64_t now = vgpu_now_ns();
	struct vm *vm;

	pthread_mutex_lock(&m->lock);
	fprintf(f, "backend %s\n", m->be_ops->name);
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++) {
		struct pool *p = &m->pools[i];

		fprintf(f, "pool %s: ", vgpu_pool_name(i));
		if (p->running) {
			char id[VGPU_ID_NAME_LEN + 1];

			vgpu_id_name(p->running->hdr.id, id);
			fprintf(f, "running %s/%s (%s, %s) for %" PRIu64 " us",
				p->running->vm->conf.name, id, vgpu_op_name(p->running->hdr.op),
				vgpu_prio_name(p->running->prio),
				(now - p->running_since_ns) / 1000);
		} else {
			fprintf(f, "idle");
		}
		fprintf(f, "; queued high=%u medium=%u low=%u; done %" PRIu64 "\n",
			p->q.depth[VGPU_PRIO_HIGH], p->q.depth[VGPU_PRIO_MEDIUM],
			p->q.depth[VGPU_PRIO_LOW], p->done);
	}
	TAILQ_FOREACH(vm, &m->vms, entry) {
		const struct vm_stats *s = &vm->st;

		fprintf(f, "vm %s: vm_id=%" PRIu32 " pool=%s priority=%s jobs=%u accepted=%" PRIu64
			" completed=%" PRIu64 " failed=%" PRIu64 " rejected=%" PRIu64
			" expired=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64 "\n",
			vm->conf.name, vm->conf.id, vgpu_pool_name(vm->conf.pool),
			vgpu_prio_name(vm->conf.prio), atomic_load(&vm->jobs), s->accepted, s->completed,
			s->failed, s->rejected, s->expired, s->bytes_in, s->bytes_out);
	}
	pthread_mutex_unlock(&m->lock);
}

static void serve(struct mediator *m, int fd)
{
	struct timeval tv = { 1, 0 };
	char line[64];
	ssize_t n;
	FILE *f;

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	n = recv(fd, line, sizeof(line) - 1, 0);
	if (n <= 0) {
		close(fd);
		return;
	}
	line[n] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		return;
	}
	if (!strcmp(line, "status"))
		report(m, f);
	else
		fprintf(f, "error: unknown command '%.32s' (try: status)\n", line);
	fclose(f);
}

static void on_ctl(struct loop *l, int fd, uint32_t events, void *ctx)
{
	int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);

	(void)l;
	(void)events;
	if (c < 0) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("control socket: accept");
		return;
	}
	serve(ctx, c);
}

int ctl_open(struct mediator *m)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = m->conf.ctl_path;
	struct stat st;
	char dir[sizeof(sa.sun_path)];
	char *slash;
	int fd, err;

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
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 8) < 0) {
		err = -errno;
		log_err("control socket %s", path);
		close(fd);
		return err;
	}
	err = loop_add(m->loop, fd, EPOLLIN, on_ctl, m);
	if (err) {
		close(fd);
		return err;
	}
	m->ctl_fd = fd;
	return 0;
}

void ctl_close(struct mediator *m)
{
	if (m->ctl_fd < 0)
		return;
	loop_del(m->loop, m->ctl_fd);
	close(m->ctl_fd);
	unlink(m->conf.ctl_path);
	m->ctl_fd = -1;
}
