// SPDX-License-Identifier: MIT
/*
 * Job histograms and the trace ring (stats.h). No locking of its own: a
 * worker calls the adders, the main thread the copier, both with m->lock
 * held (mediator.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

#define US	1000ull		/* ns */
#define MS	1000000ull
#define S	1000000000ull

/* From a NOOP's round trip to a long kernel: 50 us .. 10 min. */
const uint64_t stats_hist_le_ns[STATS_HIST_BUCKETS] = {
	50 * US, 100 * US, 250 * US, 500 * US, 1 * MS, 5 * MS, 25 * MS, 100 * MS,
	1 * S, 10 * S, 60 * S, 600 * S,
};

void stats_hist_add(struct stats_hist *h, uint64_t ns)
{
	for (unsigned int i = 0; i < STATS_HIST_BUCKETS; i++) {
		if (ns <= stats_hist_le_ns[i]) {
			h->bucket[i]++;
			break;
		}
	}
	h->count++;
	h->sum_ns += ns;
}

int trace_ring_init(struct trace_ring *r, unsigned int size)
{
	memset(r, 0, sizeof(*r));
	if (!size)
		return 0;
	r->rec = calloc(size, sizeof(*r->rec));
	if (!r->rec)
		return -ENOMEM;
	r->size = size;
	return 0;
}

void trace_ring_add(struct trace_ring *r, const struct trace_rec *t)
{
	if (!r->size)
		return;
	r->rec[r->total % r->size] = *t;
	r->total++;
}

unsigned int trace_ring_copy(const struct trace_ring *r, struct trace_rec *out)
{
	uint64_t n = r->total < r->size ? r->total : r->size;

	for (uint64_t i = 0; i < n; i++)
		out[i] = r->rec[(r->total - n + i) % r->size];
	return (unsigned int)n;
}

void trace_ring_free(struct trace_ring *r)
{
	free(r->rec);
	memset(r, 0, sizeof(*r));
}
