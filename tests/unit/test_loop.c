// SPDX-License-Identifier: MIT
/*
 * The event loop (lib/loop.c): loop_spin() keeps the thread polling for
 * the next event a while after each round with a descriptor's event
 * (timers alone do not start it), and still sleeps when idle.
 * One thread runs the loop; a helper thread writes to a pipe it watches.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "loop.h"
#include "spool.h"		/* vgpu_now_ns() */
#include "testlib.h"

#define EVENTS 20

struct pipe_test {
	int fds[2];
	unsigned int seen, gap_us;
};

static void on_byte(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct pipe_test *p = ctx;
	char c;

	(void)events;
	if (read(fd, &c, 1) == 1 && ++p->seen == EVENTS)
		loop_stop(l);
}

/* EVENTS bytes, each @gap_us after the last. */
static void *writer(void *arg)
{
	struct pipe_test *p = arg;

	for (int i = 0; i < EVENTS; i++) {
		nanosleep(&(struct timespec){ 0, (long)p->gap_us * 1000 }, NULL);
		if (write(p->fds[1], "x", 1) != 1)
			break;
	}
	return NULL;
}

/* Voluntary context switches of this thread while the loop takes EVENTS
 * bytes @gap_us apart, polling @spin_us after each. */
static long sleeps_while(struct __test_metadata *_metadata, unsigned int spin_us,
			 unsigned int gap_us)
{
	struct pipe_test p = { .gap_us = gap_us };
	struct rusage r0, r1;
	struct loop *l = loop_new();
	pthread_t t;

	ASSERT_NE(NULL, l);
	ASSERT_EQ(0, pipe(p.fds));
	ASSERT_EQ(0, loop_add(l, p.fds[0], EPOLLIN, on_byte, &p));
	loop_spin(l, (uint64_t)spin_us * 1000);
	ASSERT_EQ(0, getrusage(RUSAGE_THREAD, &r0));
	ASSERT_EQ(0, pthread_create(&t, NULL, writer, &p));
	EXPECT_EQ(0, loop_run(l));
	ASSERT_EQ(0, getrusage(RUSAGE_THREAD, &r1));
	pthread_join(t, NULL);
	EXPECT_EQ(EVENTS, p.seen);
	loop_free(l);
	close(p.fds[0]);
	close(p.fds[1]);
	return r1.ru_nvcsw - r0.ru_nvcsw;
}

/* This thread's CPU time, ns. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

TEST(without_spin_the_loop_sleeps_for_each_event)
{
	long n = sleeps_while(_metadata, 0, 1000);

	EXPECT_GE(n, EVENTS / 2);
	printf("# %ld sleeps for %d events\n", n, EVENTS);
	fflush(stdout);
}

TEST(a_spinning_loop_takes_a_prompt_event_awake)
{
	/* the bytes come 300 us apart, well inside a 20 ms spin */
	long n = sleeps_while(_metadata, 20000, 300);

	EXPECT_LT(n, EVENTS / 2);
	printf("# %ld sleeps for %d events\n", n, EVENTS);
	fflush(stdout);
}

TEST(a_spinning_loop_still_sleeps_when_idle)
{
	uint64_t t0, cpu0, cpu_ns, wall_ns;
	long n;

	/* 20 ms between bytes, 1 ms of spin after each: mostly asleep */
	cpu0 = thread_cpu_ns();
	t0 = vgpu_now_ns();
	n = sleeps_while(_metadata, 1000, 20000);
	wall_ns = vgpu_now_ns() - t0;
	cpu_ns = thread_cpu_ns() - cpu0;
	EXPECT_GE(n, EVENTS / 2);
	EXPECT_LT(cpu_ns, wall_ns / 4);
	printf("# cpu %.1f ms of %.1f ms, %ld sleeps\n", (double)cpu_ns / 1e6,
	       (double)wall_ns / 1e6, n);
	fflush(stdout);
}

static void on_tick(struct loop *l, int fd, uint32_t events, void *ctx)
{
	unsigned int *ticks = ctx;

	(void)fd, (void)events;
	if (++*ticks == EVENTS)
		loop_stop(l);
}

TEST(timers_alone_do_not_make_it_spin)
{
	struct loop *l = loop_new();
	unsigned int ticks = 0;
	uint64_t cpu_ns;

	ASSERT_NE(NULL, l);
	loop_spin(l, 50000000);		/* 50 ms, longer than the period */
	ASSERT_LT(0, loop_timer_add(l, 10, 10, on_tick, &ticks));
	cpu_ns = thread_cpu_ns();
	EXPECT_EQ(0, loop_run(l));
	cpu_ns = thread_cpu_ns() - cpu_ns;
	EXPECT_EQ(EVENTS, ticks);
	EXPECT_LT(cpu_ns, 50000000u);	/* of 200 ms: it slept between ticks */
	loop_free(l);
}

TEST_HARNESS_MAIN
