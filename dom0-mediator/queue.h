/* SPDX-License-Identifier: MIT */
/*
 * A job (one accepted request), the per-pool priority queues it waits in
 * and the scheduling policy that picks from them (queue.c). Nothing here
 * takes a lock or reads a clock: the pools' queues, the flows and the
 * policy are guarded by m->lock (mediator.h), which callers hold, and the
 * worker passes the time. Unit tests drive it with a simulated clock.
 *
 * A job is created by the main thread (accept.c) and queued under
 * m->lock; once a worker pops it, it belongs to that worker, then to the
 * pool's publisher it is handed to (sched.c), until job_free().
 */
#ifndef VGPU_MEDIATOR_QUEUE_H
#define VGPU_MEDIATOR_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "vgpu/proto.h"

/* glibc's sys/queue.h lacks the BSD _SAFE iterators. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	     (var) && ((tvar) = TAILQ_NEXT(var, field), 1);		\
	     (var) = (tvar))
#endif

struct vm;
struct flow;
struct jobq;

struct job {
	TAILQ_ENTRY(job) entry;		/* its level's queue [L] */
	TAILQ_ENTRY(job) fentry;	/* its flow's queue [L] */
	struct flow *flow;		/* its VM's (NULL: the queue's own) [L] */
	unsigned int prio;		/* queue it sits in [L] */
	unsigned int pool;		/* snapshot taken at dispatch [L] */
	uint32_t vm_id;			/* snapshot taken at dispatch [L] */
	uint64_t seq;			/* global arrival order */
	struct vm *vm;			/* holds a reference (vm.h) */
	int fd;				/* priv/<id> (read-write): kept from
					 * acceptance within job_keep_fd()'s bound,
					 * else opened by the worker; -1 while not
					 * open. Output and trailer go to its end */
	bool fd_kept;			/* counted against job_keep_fd()'s bound */
	struct vgpu_req_hdr hdr;
	uint64_t queued_ns;		/* CLOCK_MONOTONIC at acceptance */
	/* The run's outcome: the worker's, then its publisher's (sched.c). */
	int status;			/* 0 or -errno */
	uint64_t out_len;		/* output bytes written: v1 hdr.out_len, a
					 * session job its session response's */
	uint32_t out_crc;		/* of the out_len bytes written */
	uint64_t started_ns, finished_ns;
	uint64_t exec_ns;		/* a session job: its run inside the executor,
					 * by the executor's clock (DONE's run_ns) */
	char msg[VGPU_MSG_LEN];		/* "ok", or why it failed */
};

TAILQ_HEAD(job_list, job);

/*
 * A flow: one VM's jobs in a pool, FIFO, and its share of the pool's run
 * time under the weighted policy. All the waiting jobs of a flow sit in
 * one pool and one level (a VM's pool and priority apply to all its
 * jobs); the flow is on its level's list while it has jobs waiting.
 */
struct flow {
	struct job_list jobs;		/* waiting, by seq [L] */
	TAILQ_ENTRY(flow) entry;	/* q->flows[prio] while jobs is not empty [L] */
	struct jobq *q;			/* where its jobs wait or last waited [L] */
	unsigned int prio;		/* [L] */
	unsigned int weight;		/* its share inside its level, >= 1 [L] */
	uint64_t vtime;			/* virtual time: run ns / weight [L] */
	uint64_t vrem;			/* the remainder of that division [L] */
};

TAILQ_HEAD(flow_list, flow);

enum sched_policy { SCHED_STRICT, SCHED_AGING, SCHED_WEIGHTED };
#define SCHED_NR_POLICIES	3
#define SCHED_DEF_AGING_MS	500	/* a low job is high after 1 s */

/*
 * Per-pool queues: one list per level, FIFO by seq (all policies pick
 * from their heads or from a flow's head), and the flows with jobs
 * waiting per level. See queue.c for the policies.
 */
struct jobq {
	struct job_list q[VGPU_NR_PRIOS];
	unsigned int depth[VGPU_NR_PRIOS];
	struct flow_list flows[VGPU_NR_PRIOS];	/* flows with jobs waiting */
	uint64_t vnow[VGPU_NR_PRIOS];	/* each level's virtual time (weighted) */
	enum sched_policy policy;
	uint64_t aging_ns;		/* aging: one level up per this much wait */
	struct flow anon;		/* jobs queued without a flow (tests) */
};

static inline void flow_init(struct flow *f, unsigned int weight)
{
	TAILQ_INIT(&f->jobs);
	f->q = NULL;
	f->prio = 0;
	f->weight = weight ? weight : 1;
	f->vtime = f->vrem = 0;
}

void jobq_init(struct jobq *q);			/* strict */
/* Changes the policy of @q; queued jobs stay where they are (queue.c). */
void jobq_set_policy(struct jobq *q, enum sched_policy policy, uint64_t aging_ns);
void jobq_push(struct jobq *q, struct job *j);	/* keeps seq order */
/* The next job by @q's policy at time @now_ns, taken out; NULL if none. */
struct job *jobq_next(struct jobq *q, uint64_t now_ns);
/* The most urgent job by strict priority, taken out (any policy). */
struct job *jobq_pop(struct jobq *q);
void jobq_remove(struct jobq *q, struct job *j);
/* @j, taken from @q by jobq_next(), ran for @run_ns: charge its flow. */
void jobq_charge(struct jobq *q, const struct job *j, uint64_t run_ns);
unsigned int jobq_len(const struct jobq *q);
/* The level @j would be picked at under aging at @now_ns (capped at high). */
unsigned int jobq_aged_prio(const struct jobq *q, const struct job *j, uint64_t now_ns);

const char *sched_policy_name(enum sched_policy p);
int sched_policy_from_name(const char *s);	/* -1 if unknown */

/*
 * Acceptance opened the request @fd: keep it in @j, so that its worker
 * need not open the file again, while fewer than the bound set by
 * job_set_fd_bound() are kept; else close it. Any thread (atomic count).
 */
void job_keep_fd(struct job *j, int fd);
#define JOB_FDS_KEPT	256	/* the bound where RLIMIT_NOFILE allows */
void job_set_fd_bound(unsigned int max);	/* at start, before any job */
unsigned int job_fd_bound(void);
unsigned int job_fds_kept(void);

/* Closes the job's file and frees it; its VM reference is the caller's. */
void job_free(struct job *j);

#endif /* VGPU_MEDIATOR_QUEUE_H */
