/* SPDX-License-Identifier: MIT */
/*
 * The loads of issue 15, for the fairness test and bench (fairload.c):
 * spin jobs from simulated VMs into a mediator under test (testlib.h).
 */
#ifndef VGPU_FAIRLOAD_H
#define VGPU_FAIRLOAD_H

#include <stdint.h>

#include "testlib.h"

/*
 * A high VM keeps @inflight spin jobs of @job_ns queued for @load_ns; a
 * low VM of the same pool sends one short job @lo_after_ns into it. @hook,
 * if set, is called once @hook_at_ns into the load (a SIGHUP, say).
 */
struct fair_starve {
	const char *hi, *lo;
	unsigned int inflight;
	uint64_t job_ns, load_ns, lo_after_ns;
	void (*hook)(struct test_mediator *t, void *arg);
	uint64_t hook_at_ns;
	void *hook_arg;
};

/* Runs @l; the low job's wait (started - queued, ns) into @wait_ns. 0 or -1. */
int fair_starve_low(struct test_mediator *t, const struct fair_starve *l, uint64_t *wait_ns);

/*
 * VMs @vm[0..1] of one pool and level each keep @inflight spin jobs of
 * @job_ns[i] queued; after @warm_ns, their run time as the mediator
 * measured it (vgpuctl run_ns) over @measure_ns gives @share[i] in 0..1.
 */
struct fair_share {
	const char *vm[2];
	uint64_t job_ns[2];
	unsigned int inflight;
	uint64_t warm_ns, measure_ns;
};

int fair_run_shares(struct test_mediator *t, const struct fair_share *s, double share[2]);

/* The value of @key ("run_ns=") on VM @vm's line of `vgpuctl status` @status. */
uint64_t fair_status_u64(const char *status, const char *vm, const char *key);

#endif /* VGPU_FAIRLOAD_H */
