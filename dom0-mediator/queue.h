/* SPDX-License-Identifier: MIT */
/*
 * A job (one accepted request) and the per-pool priority queues it waits
 * in (queue.c). The queue functions take no lock: the pools' queues are
 * guarded by m->lock (mediator.h), which their callers hold. A job is
 * created by the main thread (accept.c) and queued under m->lock; once a
 * worker pops it, it belongs to that worker, then to the pool's publisher
 * it is handed to (sched.c), until job_free().
 */
#ifndef VGPU_MEDIATOR_QUEUE_H
#define VGPU_MEDIATOR_QUEUE_H

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

struct job {
	TAILQ_ENTRY(job) entry;
	unsigned int prio;		/* queue it sits in [L] */
	unsigned int pool;		/* snapshot taken at dispatch [L] */
	uint32_t vm_id;			/* snapshot taken at dispatch [L] */
	uint64_t seq;			/* global arrival order */
	struct vm *vm;			/* holds a reference (vm.h) */
	int fd;				/* priv/<id> (read-write) while it runs, else
					 * -1; output and trailer go to its end */
	struct vgpu_req_hdr hdr;
	uint64_t queued_ns;
	/* The run's outcome: the worker's, then its publisher's (sched.c). */
	int status;			/* 0 or -errno */
	uint32_t out_crc;		/* of the hdr.out_len bytes written */
	uint64_t started_ns, finished_ns;
	char msg[VGPU_MSG_LEN];		/* "ok", or why it failed */
};

TAILQ_HEAD(job_list, job);

/* Per-pool queues: high > medium > low, FIFO (by seq) within a level. */
struct jobq {
	struct job_list q[VGPU_NR_PRIOS];
	unsigned int depth[VGPU_NR_PRIOS];
};

void jobq_init(struct jobq *q);
void jobq_push(struct jobq *q, struct job *j);	/* keeps seq order */
struct job *jobq_pop(struct jobq *q);
void jobq_remove(struct jobq *q, struct job *j);
unsigned int jobq_len(const struct jobq *q);

/* Closes the job's file and frees it; its VM reference is the caller's. */
void job_free(struct job *j);

#endif /* VGPU_MEDIATOR_QUEUE_H */
