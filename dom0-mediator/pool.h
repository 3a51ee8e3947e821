/* SPDX-License-Identifier: MIT */
/*
 * Pools, their workers and their publishers (sched.c). [L] fields are
 * guarded by m->lock (mediator.h); [A] are atomics. The sched_* calls are
 * made by the main thread.
 */
#ifndef VGPU_MEDIATOR_POOL_H
#define VGPU_MEDIATOR_POOL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "queue.h"

struct mediator;
struct pool_sched;
struct vgpu_io_team;
struct vm;

struct pool {
	struct jobq q;			/* [L] */
	struct job *running;		/* [L] */
	uint64_t running_since_ns;	/* [L] */
	uint64_t done;			/* [L] */
	pthread_cond_t wake;		/* with m->lock: work for the worker */
	atomic_uint kicks;		/* bumped with every signal of wake [A] */
	pthread_t thread;		/* main thread: start and join */
	bool started;			/* main thread */
	struct vgpu_io_team *team;	/* the worker's I/O helpers, or NULL */

	/* Jobs run and not yet answered, oldest first [L]. */
	struct job_list ran;
	bool publishing;		/* the publisher holds a batch [L] */
	bool publish_stop;		/* [L] drain ran, then exit */
	pthread_cond_t publish_wake;	/* with m->lock: work for the publisher */
	atomic_uint publish_kicks;	/* bumped with every signal of it [A] */
	pthread_t publisher;		/* main thread: start and join */
	bool publisher_started;		/* main thread */

	/*
	 * The worker's: the buffer session lists are read into (exec.c),
	 * kept from one job to the next so that a large list costs no fresh
	 * pages, and let go after POOL_LIST_IDLE_MS without a job.
	 */
	uint8_t *list_buf;
	size_t list_cap;
};

#define POOL_LIST_IDLE_MS	2000	/* then exec_drop_list_buf() */

/* Main thread, before sched_start(): empty queues, no threads. */
void pool_init(struct pool *p);

int sched_start(struct mediator *m);
void sched_stop(struct mediator *m);		/* finish running jobs, join */
void sched_enqueue(struct mediator *m, struct job *j);
/* Store dirty last ids, then queue every job of m->accepted in order. */
void sched_flush(struct mediator *m);
void sched_move_vm(struct mediator *m, struct vm *vm, unsigned int pool,
		   unsigned int prio);		/* requeue its waiting jobs */
/* Each pool's policy from @ps[VGPU_NR_POOLS]; its queued jobs stay (queue.c). */
void sched_set_policies(struct mediator *m, const struct pool_sched *ps);

#endif /* VGPU_MEDIATOR_POOL_H */
