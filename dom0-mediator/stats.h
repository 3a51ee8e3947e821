/* SPDX-License-Identifier: MIT */
/*
 * What the mediator remembers of the jobs it ran (stats.c): per VM the
 * wait and run time histograms (in struct vm_stats, vm.h), and a ring of
 * the last jobs for `vgpuctl trace`. A worker adds to both with m->lock
 * held when it finishes a job; the main thread copies them under it.
 */
#ifndef VGPU_MEDIATOR_STATS_H
#define VGPU_MEDIATOR_STATS_H

#include <stdint.h>

#include "conf.h"

/* Upper bounds of the histograms' buckets (stats.c), then +Inf. */
#define STATS_HIST_BUCKETS	12
extern const uint64_t stats_hist_le_ns[STATS_HIST_BUCKETS];

struct stats_hist {
	uint64_t bucket[STATS_HIST_BUCKETS];	/* jobs in (le[i-1], le[i]] */
	uint64_t count;				/* all jobs, +Inf included */
	uint64_t sum_ns;
};

void stats_hist_add(struct stats_hist *h, uint64_t ns);

/* One finished job, for the trace. Times: CLOCK_MONOTONIC ns. */
struct trace_rec {
	char vm[VM_NAME_MAX];
	uint64_t id;
	uint64_t queued_ns, started_ns, finished_ns;
	uint32_t op;
	uint32_t vm_id;
	int32_t status;			/* 0 or -errno */
	uint8_t pool, prio;
};

/* The last @size jobs; the oldest is overwritten. [L] in struct mediator. */
struct trace_ring {
	struct trace_rec *rec;		/* NULL: trace_jobs = 0 */
	unsigned int size;
	uint64_t total;			/* added since the start */
};

int trace_ring_init(struct trace_ring *r, unsigned int size);	/* 0 or -ENOMEM */
void trace_ring_add(struct trace_ring *r, const struct trace_rec *t);
/* The ring's jobs, oldest first, into @out (r->size of them, allocated by
 * the caller before it takes the lock); returns their number. */
unsigned int trace_ring_copy(const struct trace_ring *r, struct trace_rec *out);
void trace_ring_free(struct trace_ring *r);

#endif /* VGPU_MEDIATOR_STATS_H */
