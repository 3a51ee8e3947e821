// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "loop.h"
#include "spool.h"		/* vgpu_now_ns() */

struct watch {
	int fd;
	bool timer;		/* a timerfd: the loop reads its expirations */
	bool dead;		/* deleted: freed after the current round */
	loop_cb cb;
	void *ctx;
	struct watch *next;
};

struct loop {
	int epfd;
	bool stop;
	uint64_t spin_ns;	/* loop_spin() */
	struct watch *watches;	/* few: a dozen fds at most */
};

struct loop *loop_new(void)
{
	struct loop *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (l->epfd < 0) {
		free(l);
		return NULL;
	}
	return l;
}

static void reap(struct loop *l, bool all)
{
	for (struct watch **p = &l->watches; *p;) {
		struct watch *w = *p;

		if (w->dead || all) {
			*p = w->next;
			free(w);
		} else {
			p = &w->next;
		}
	}
}

void loop_free(struct loop *l)
{
	if (!l)
		return;
	reap(l, true);
	close(l->epfd);
	free(l);
}

static int add_watch(struct loop *l, int fd, uint32_t events, bool timer,
		     loop_cb cb, void *ctx)
{
	struct watch *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = events };

	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->timer = timer;
	w->cb = cb;
	w->ctx = ctx;
	ev.data.ptr = w;
	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int err = -errno;

		free(w);
		return err;
	}
	w->next = l->watches;
	l->watches = w;
	return 0;
}

int loop_add(struct loop *l, int fd, uint32_t events, loop_cb cb, void *ctx)
{
	return add_watch(l, fd, events, false, cb, ctx);
}

void loop_del(struct loop *l, int fd)
{
	for (struct watch *w = l->watches; w; w = w->next) {
		if (w->fd == fd && !w->dead) {
			epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
			w->dead = true;
			return;
		}
	}
}

int loop_timer_add(struct loop *l, uint64_t first_ms, uint64_t every_ms,
		   loop_cb cb, void *ctx)
{
	struct itimerspec its = {
		.it_value = { (time_t)(first_ms / 1000), (long)(first_ms % 1000) * 1000000 },
		.it_interval = { (time_t)(every_ms / 1000), (long)(every_ms % 1000) * 1000000 },
	};
	int tfd, err;

	if (!first_ms)
		its.it_value.tv_nsec = 1;	/* 0 would disarm it */
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (tfd < 0)
		return -errno;
	if (timerfd_settime(tfd, 0, &its, NULL) < 0) {
		err = -errno;
		close(tfd);
		return err;
	}
	err = add_watch(l, tfd, EPOLLIN, true, cb, ctx);
	if (err) {
		close(tfd);
		return err;
	}
	return tfd;
}

void loop_timer_del(struct loop *l, int tfd)
{
	loop_del(l, tfd);
	close(tfd);
}

void loop_spin(struct loop *l, uint64_t spin_ns)
{
	l->spin_ns = spin_ns;
}

int loop_run(struct loop *l)
{
	struct epoll_event evs[16];
	uint64_t spin_end = 0;

	l->stop = false;
	while (!l->stop) {
		bool spin = l->spin_ns && vgpu_now_ns() < spin_end, io = false;
		int n = epoll_wait(l->epfd, evs, 16, spin ? 0 : -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;
			uint64_t expirations;

			if (w->dead)	/* deleted by an earlier callback */
				continue;
			if (w->timer && read(w->fd, &expirations, sizeof(expirations)) < 0)
				continue;
			io |= !w->timer;
			w->cb(l, w->fd, evs[i].events, w->ctx);
		}
		reap(l, false);
		if (io && l->spin_ns)	/* from the end of the round */
			spin_end = vgpu_now_ns() + l->spin_ns;
	}
	return 0;
}

void loop_stop(struct loop *l)
{
	l->stop = true;
}
