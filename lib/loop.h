/* SPDX-License-Identifier: MIT */
/*
 * A small epoll event loop after redis' ae.c: file descriptors with a
 * callback and a context pointer, and one-shot or periodic timers on
 * CLOCK_MONOTONIC (timerfd). Single-threaded: call everything from the
 * thread that runs loop_run(). Idle costs nothing: the loop sleeps in
 * epoll_wait until a descriptor is ready (after loop_spin()'s time of
 * polling, where one is set).
 */
#ifndef VGPU_LOOP_H
#define VGPU_LOOP_H

#include <stdint.h>

struct loop;
typedef void (*loop_cb)(struct loop *l, int fd, uint32_t events, void *ctx);

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Watch @fd for @events (EPOLLIN, ...). Returns 0 or -errno. */
int loop_add(struct loop *l, int fd, uint32_t events, loop_cb cb, void *ctx);
void loop_del(struct loop *l, int fd);
/*
 * A timer firing after @first_ms and then every @every_ms (0: once). Returns
 * its fd (pass it to loop_timer_del), or -errno. The callback's @fd is it.
 */
int loop_timer_add(struct loop *l, uint64_t first_ms, uint64_t every_ms,
		   loop_cb cb, void *ctx);
void loop_timer_del(struct loop *l, int tfd);
/*
 * After each round of callbacks with a descriptor's (not only timers'),
 * poll for @spin_ns before sleeping, so that an event coming soon after
 * the last finds the thread awake (a sleeping thread's wake-up costs tens
 * of microseconds in a VM). 0, the default: sleep at once.
 */
void loop_spin(struct loop *l, uint64_t spin_ns);
/* Runs until loop_stop(); returns 0, or -errno if epoll fails. */
int loop_run(struct loop *l);
void loop_stop(struct loop *l);

#endif /* VGPU_LOOP_H */
