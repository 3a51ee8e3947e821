// SPDX-License-Identifier: MIT
/*
 * Per-pool job queues and the scheduling policy that picks from them.
 * No lock and no clock here: callers hold m->lock (sched.c, main.c) or own
 * the queue (tests), and the worker passes the time. The count of fds
 * jobs keep (job_keep_fd()) is an atomic: any thread frees a job.
 *
 * Each level (high, medium, low) keeps its jobs in one list by arrival
 * (seq), and each flow (a VM) its own jobs by arrival; a job is on both.
 * A push is O(1) for arrivals in order and walks back from the tail only
 * for jobs re-queued after a priority change or a restart, so FIFO by
 * arrival holds whatever the push order. The policies (one per pool):
 *
 *  strict    the head of the highest non-empty level: high > medium > low,
 *            FIFO within a level. O(1).
 *  aging     a job's effective level is its own plus one per aging_ns it
 *            has waited, capped at high; the job with the highest effective
 *            level goes first, ties by arrival. The head of a level has
 *            waited longest in it, so only the three heads are compared:
 *            O(1). A job waits at most (high - its level) x aging_ns, plus
 *            the job running then, plus the jobs that were waiting when it
 *            came (they arrived first and have aged as much).
 *  weighted  strict between levels; inside a level, start-time fair
 *            queueing on measured run time: a flow's virtual time advances
 *            by run_ns / weight after each of its jobs (jobq_charge), the
 *            flow with the least goes next (ties by the arrival of its
 *            first job) and takes its oldest job. The level's virtual time
 *            is the virtual time of the flow picked last; a flow that gets
 *            jobs again after none starts at the larger of its own and the
 *            level's, so idle time earns no credit beyond one job. A flow
 *            that comes from another level or pool starts at the level's.
 *            O(flows with jobs waiting at the level): one step per VM of
 *            that level with a job queued.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "queue.h"

#define PRIO_TOP	(VGPU_NR_PRIOS - 1)

static const char *const policy_names[SCHED_NR_POLICIES] = {
	[SCHED_STRICT] = "strict", [SCHED_AGING] = "aging", [SCHED_WEIGHTED] = "weighted",
};

const char *sched_policy_name(enum sched_policy p)
{
	return (unsigned int)p < SCHED_NR_POLICIES ? policy_names[p] : "?";
}

int sched_policy_from_name(const char *s)
{
	for (int i = 0; i < SCHED_NR_POLICIES; i++)
		if (!strcmp(s, policy_names[i]))
			return i;
	return -1;
}

/*
 * Descriptors kept from acceptance for queued jobs. A bound, not one per
 * queued job: a VM queueing thousands of requests must not run the
 * mediator out of descriptors (the first ones it queues keep theirs; the
 * worker opens the others as it takes them).
 */
static atomic_uint fds_kept;
static unsigned int fds_bound;

void job_set_fd_bound(unsigned int max)
{
	fds_bound = max;
}

unsigned int job_fd_bound(void)
{
	return fds_bound;
}

unsigned int job_fds_kept(void)
{
	return atomic_load_explicit(&fds_kept, memory_order_relaxed);
}

void job_keep_fd(struct job *j, int fd)
{
	unsigned int n = atomic_load_explicit(&fds_kept, memory_order_relaxed);

	do {
		if (n >= fds_bound) {
			close(fd);
			return;
		}
	} while (!atomic_compare_exchange_weak_explicit(&fds_kept, &n, n + 1,
							memory_order_relaxed,
							memory_order_relaxed));
	j->fd = fd;
	j->fd_kept = true;
}

void job_free(struct job *j)
{
	if (j->fd >= 0)
		close(j->fd);
	if (j->fd_kept)
		atomic_fetch_sub_explicit(&fds_kept, 1, memory_order_relaxed);
	free(j);
}

void jobq_init(struct jobq *q)
{
	for (int p = 0; p < VGPU_NR_PRIOS; p++) {
		TAILQ_INIT(&q->q[p]);
		q->depth[p] = 0;
		TAILQ_INIT(&q->flows[p]);
		q->vnow[p] = 0;
	}
	q->policy = SCHED_STRICT;
	q->aging_ns = SCHED_DEF_AGING_MS * 1000000ull;
	flow_init(&q->anon, 1);
}

/*
 * Switching to weighted starts every flow with jobs waiting at its level's
 * virtual time: the first picks go by arrival, later ones by the run time
 * measured from then on. Other switches keep everything: aging reads the
 * jobs' own queued_ns, strict reads nothing.
 */
void jobq_set_policy(struct jobq *q, enum sched_policy policy, uint64_t aging_ns)
{
	struct flow *f;

	if (policy == SCHED_WEIGHTED && q->policy != SCHED_WEIGHTED) {
		for (int p = 0; p < VGPU_NR_PRIOS; p++) {
			TAILQ_FOREACH(f, &q->flows[p], entry) {
				f->vtime = q->vnow[p];
				f->vrem = 0;
			}
		}
	}
	q->policy = policy;
	q->aging_ns = aging_ns ? aging_ns : 1;
}

#define INSERT_BY_SEQ(head, j, field) do {					\
	struct job *after_ = TAILQ_LAST(head, job_list);			\
										\
	while (after_ && after_->seq > (j)->seq)				\
		after_ = TAILQ_PREV(after_, job_list, field);			\
	if (after_)								\
		TAILQ_INSERT_AFTER(head, after_, j, field);			\
	else									\
		TAILQ_INSERT_HEAD(head, j, field);				\
} while (0)

void jobq_push(struct jobq *q, struct job *j)
{
	struct flow *f = j->flow ? j->flow : &q->anon;
	unsigned int p = j->prio;

	j->flow = f;
	INSERT_BY_SEQ(&q->q[p], j, entry);
	q->depth[p]++;
	if (TAILQ_EMPTY(&f->jobs)) {
		/* backlogged again: no credit for the time without jobs */
		if (f->q != q || f->prio != p) {
			f->vtime = q->vnow[p];
			f->vrem = 0;
		} else if (f->vtime < q->vnow[p]) {
			f->vtime = q->vnow[p];
		}
		f->q = q;
		f->prio = p;
		TAILQ_INSERT_TAIL(&q->flows[p], f, entry);
	}
	INSERT_BY_SEQ(&f->jobs, j, fentry);
}

void jobq_remove(struct jobq *q, struct job *j)
{
	struct flow *f = j->flow;

	TAILQ_REMOVE(&q->q[j->prio], j, entry);
	q->depth[j->prio]--;
	TAILQ_REMOVE(&f->jobs, j, fentry);
	if (TAILQ_EMPTY(&f->jobs))
		TAILQ_REMOVE(&q->flows[f->prio], f, entry);
}

static struct job *pick_strict(struct jobq *q)
{
	for (int p = PRIO_TOP; p >= 0; p--) {
		struct job *j = TAILQ_FIRST(&q->q[p]);

		if (j)
			return j;
	}
	return NULL;
}

unsigned int jobq_aged_prio(const struct jobq *q, const struct job *j, uint64_t now_ns)
{
	uint64_t waited = now_ns > j->queued_ns ? now_ns - j->queued_ns : 0;
	uint64_t steps = waited / q->aging_ns;

	return steps >= PRIO_TOP - j->prio ? PRIO_TOP : j->prio + (unsigned int)steps;
}

static struct job *pick_aging(struct jobq *q, uint64_t now_ns)
{
	struct job *best = NULL;
	unsigned int best_prio = 0;

	for (int p = PRIO_TOP; p >= 0; p--) {
		struct job *j = TAILQ_FIRST(&q->q[p]);
		unsigned int eff;

		if (!j)
			continue;
		eff = jobq_aged_prio(q, j, now_ns);
		if (!best || eff > best_prio || (eff == best_prio && j->seq < best->seq)) {
			best = j;
			best_prio = eff;
		}
	}
	return best;
}

static struct job *pick_weighted(struct jobq *q)
{
	for (int p = PRIO_TOP; p >= 0; p--) {
		struct flow *f, *best = NULL;

		TAILQ_FOREACH(f, &q->flows[p], entry) {
			if (!best || f->vtime < best->vtime ||
			    (f->vtime == best->vtime &&
			     TAILQ_FIRST(&f->jobs)->seq < TAILQ_FIRST(&best->jobs)->seq))
				best = f;
		}
		if (best) {
			if (q->vnow[p] < best->vtime)
				q->vnow[p] = best->vtime;
			return TAILQ_FIRST(&best->jobs);
		}
	}
	return NULL;
}

struct job *jobq_next(struct jobq *q, uint64_t now_ns)
{
	struct job *j;

	switch (q->policy) {
	case SCHED_AGING:
		j = pick_aging(q, now_ns);
		break;
	case SCHED_WEIGHTED:
		j = pick_weighted(q);
		break;
	default:
		j = pick_strict(q);
		break;
	}
	if (j)
		jobq_remove(q, j);
	return j;
}

struct job *jobq_pop(struct jobq *q)
{
	struct job *j = pick_strict(q);

	if (j)
		jobq_remove(q, j);
	return j;
}

/* Charged only to a flow still where the job waited (a reload may move it). */
void jobq_charge(struct jobq *q, const struct job *j, uint64_t run_ns)
{
	struct flow *f = j->flow;
	uint64_t sum;

	if (q->policy != SCHED_WEIGHTED || f->q != q || f->prio != j->prio)
		return;
	sum = run_ns + f->vrem;
	f->vtime += sum / f->weight;
	f->vrem = sum % f->weight;
}

unsigned int jobq_len(const struct jobq *q)
{
	unsigned int n = 0;

	for (int p = 0; p < VGPU_NR_PRIOS; p++)
		n += q->depth[p];
	return n;
}
