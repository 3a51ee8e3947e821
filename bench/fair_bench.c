// SPDX-License-Identifier: MIT
/*
 * fair_bench: the loads of issue 15 through a mediator on the CPU backend
 * with spin jobs (tests/lib/fairload.c), one policy at a time.
 *
 *   strict, aging  a high VM keeps 32 jobs of 10 ms queued for 2 s; a low
 *                  VM of the same pool sends one 1 us job 0.5 s into it:
 *                  how long it waits, and the bound aging promises:
 *                  2 x aging_ms + one running job + the 32 queued ahead
 *   weighted       two VMs of one level, weights 100 and 300, jobs of
 *                  20 ms and 5 ms, 8 queued each: their shares of the run
 *                  time over 3 s, as the mediator measured it
 *
 * Ends with one line:
 * RESULT_FAIRNESS strict_low_wait_ms=.. aging_low_wait_ms=.. aging_bound_ms=..
 *                 weighted_share_err=..  (the larger relative error, in %)
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>

#include "fairload.h"
#include "testlib.h"

#define MS		((uint64_t)1000000)	/* ns */
#define INFLIGHT	32
#define JOB_NS		(10 * MS)
#define AGING_MS	250

static int low_wait(const char *policy, uint64_t *wait_ns)
{
	struct fair_starve l = {
		.hi = "hi", .lo = "lo", .inflight = INFLIGHT, .job_ns = JOB_NS,
		.load_ns = 2000 * MS, .lo_after_ns = 500 * MS,
	};
	struct test_mediator t;
	char vms[512];
	int rc;

	snprintf(vms, sizeof(vms), "[pool A]\npolicy = %s\naging_ms = %d\n"
		 "[vm hi]\nid = 1\npool = A\npriority = high\n"
		 "[vm lo]\nid = 2\npool = A\npriority = low\n", policy, AGING_MS);
	if (tm_init(&t, "log_level = warning\n", vms) || tm_start(&t)) {
		fprintf(stderr, "fair_bench: cannot start the mediator (see %s)\n", t.log);
		return -1;
	}
	rc = fair_starve_low(&t, &l, wait_ns);
	if (rc)
		fprintf(stderr, "fair_bench: %s load failed (see %s)\n", policy, t.log);
	printf("%-8s a low job waited %7.1f ms behind %d queued high jobs of %" PRIu64 " ms\n",
	       policy, (double)*wait_ns / MS, INFLIGHT, JOB_NS / MS);
	tm_stop(&t, SIGTERM);
	tm_cleanup(&t);
	return rc;
}

static int weighted(double *err_pct)
{
	struct fair_share s = {
		.vm = { "big", "small" }, .job_ns = { 20 * MS, 5 * MS }, .inflight = 8,
		.warm_ns = 300 * MS, .measure_ns = 3000 * MS,
	};
	static const double want[2] = { 0.25, 0.75 };
	struct test_mediator t;
	double share[2];
	int rc;

	if (tm_init(&t, "log_level = warning\n", "[pool B]\npolicy = weighted\n"
		    "[vm big]\nid = 1\npool = B\npriority = medium\nweight = 100\n"
		    "[vm small]\nid = 2\npool = B\npriority = medium\nweight = 300\n") ||
	    tm_start(&t)) {
		fprintf(stderr, "fair_bench: cannot start the mediator (see %s)\n", t.log);
		return -1;
	}
	rc = fair_run_shares(&t, &s, share);
	if (rc)
		fprintf(stderr, "fair_bench: weighted load failed (see %s)\n", t.log);
	*err_pct = 0;
	for (int v = 0; v < 2; v++) {
		double e = 100 * (share[v] > want[v] ? share[v] - want[v] : want[v] - share[v]) /
			   want[v];

		printf("weighted %-5s weight %3d, jobs of %2" PRIu64 " ms: %5.1f%% of the run time"
		       " (weight share %2.0f%%)\n", s.vm[v], v ? 300 : 100, s.job_ns[v] / MS,
		       100 * share[v], 100 * want[v]);
		if (e > *err_pct)
			*err_pct = e;
	}
	tm_stop(&t, SIGTERM);
	tm_cleanup(&t);
	return rc;
}

int main(void)
{
	uint64_t strict = 0, aging = 0;
	uint64_t bound = 2 * AGING_MS * MS + (INFLIGHT + 1) * JOB_NS;
	double err = 0;

	if (low_wait("strict", &strict) || low_wait("aging", &aging) || weighted(&err))
		return 1;
	printf("RESULT_FAIRNESS strict_low_wait_ms=%" PRIu64 " aging_low_wait_ms=%" PRIu64
	       " aging_bound_ms=%" PRIu64 " weighted_share_err=%.1f\n", strict / MS, aging / MS,
	       bound / MS, err);
	return 0;
}
