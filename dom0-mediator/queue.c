// SPDX-License-Identifier: MIT
/*
 * Per-pool job queues. Pops are O(1); a push is O(1) for arrivals in order
 * and walks back from the tail only for jobs re-queued after a priority
 * change or a restart, so FIFO-by-arrival holds whatever the push order.
 * No lock here: callers hold m->lock (sched.c), or own the queue (tests).
 */
#include <stdlib.h>
#include <unistd.h>

#include "queue.h"

void job_free(struct job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	free(j);
}

void jobq_init(struct jobq *q)
{
	for (int p = 0; p < VGPU_NR_PRIOS; p++) {
		TAILQ_INIT(&q->q[p]);
		q->depth[p] = 0;
	}
}

void jobq_push(struct jobq *q, struct job *j)
{
	struct job_list *l = &q->q[j->prio];
	struct job *after = TAILQ_LAST(l, job_list);

	while (after && after->seq > j->seq)
		after = TAILQ_PREV(after, job_list, entry);
	if (after)
		TAILQ_INSERT_AFTER(l, after, j, entry);
	else
		TAILQ_INSERT_HEAD(l, j, entry);
	q->depth[j->prio]++;
}

struct job *jobq_pop(struct jobq *q)
{
	for (int p = VGPU_NR_PRIOS - 1; p >= 0; p--) {
		struct job *j = TAILQ_FIRST(&q->q[p]);

		if (j) {
			TAILQ_REMOVE(&q->q[p], j, entry);
			q->depth[p]--;
			return j;
		}
	}
	return NULL;
}

void jobq_remove(struct jobq *q, struct job *j)
{
	TAILQ_REMOVE(&q->q[j->prio], j, entry);
	q->depth[j->prio]--;
}

unsigned int jobq_len(const struct jobq *q)
{
	unsigned int n = 0;

	for (int p = 0; p < VGPU_NR_PRIOS; p++)
		n += q->depth[p];
	return n;
}
