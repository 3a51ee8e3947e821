// SPDX-License-Identifier: MIT
/*
 * Fair sharing in a running mediator (CPU backend, spin jobs): the load of
 * issue 15, a high VM keeping jobs of 10 ms queued while a low VM of the
 * same pool sends one short job. Under strict the low job waits until the
 * high VM stops; under aging (and after a SIGHUP that switches to aging)
 * it waits about 2 x aging_ms; under weighted two VMs of one level share
 * the run time by weight whatever their job sizes. vgpuctl shows the
 * policy and each VM's run and wait time.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"

#include "fairload.h"
#include "testlib.h"

#define MS		((uint64_t)1000000)	/* ns */
#define JOB_NS		(10 * MS)
#define INFLIGHT	16
#define AGING_MS	100
#define LOAD_NS		(1200 * MS)
#define LO_AFTER_NS	(100 * MS)
#define SLACK_NS	(150 * MS)	/* a loaded two-core host, sanitizers */

#define VMS(policy) \
	"[pool A]\npolicy = " policy "\naging_ms = 100\n" \
	"[vm hi]\nid = 1\npool = A\npriority = high\n" \
	"[vm lo]\nid = 2\npool = A\npriority = low\n"

/* The config with pool A under @policy, then SIGHUP. */
static void reload_policy(struct test_mediator *t, void *policy)
{
	FILE *f = fopen(t->conf, "w");

	if (!f)
		return;
	fprintf(f, "[mediator]\nspool = %s/spool\nstate_dir = %s/state\ncontrol_socket = %s\n"
		"backend = cpu\nlog_level = debug\n[pool A]\npolicy = %s\naging_ms = %d\n"
		"[vm hi]\nid = 1\npool = A\npriority = high\n"
		"[vm lo]\nid = 2\npool = A\npriority = low\n", t->root, t->root, t->sock,
		(const char *)policy, AGING_MS);
	fclose(f);
	kill(t->pid, SIGHUP);
}

FIXTURE(starve) {
	struct test_mediator t;
};

FIXTURE_VARIANT(starve) {
	const char *policy;
	const char *reload_to;	/* switched to 300 ms into the load, or NULL */
};

FIXTURE_VARIANT_ADD(starve, strict) { .policy = "strict" };
FIXTURE_VARIANT_ADD(starve, aging) { .policy = "aging" };
FIXTURE_VARIANT_ADD(starve, strict_then_sighup_to_aging) {
	.policy = "strict", .reload_to = "aging",
};

FIXTURE_SETUP(starve)
{
	char vms[512];

	test_seed();
	snprintf(vms, sizeof(vms), VMS("%s"), variant->policy);
	ASSERT_EQ(0, tm_init(&self->t, NULL, vms));
	ASSERT_EQ(0, tm_start(&self->t)) TH_LOG("see %s", self->t.log);
}

FIXTURE_TEARDOWN(starve)
{
	if (self->t.pid > 0)
		EXPECT_EQ(0, tm_stop(&self->t, SIGTERM)) TH_LOG("see %s", self->t.log);
	tm_cleanup(&self->t);
}

TEST_F(starve, low_job_behind_a_high_vm_that_keeps_jobs_queued)
{
	struct fair_starve l = {
		.hi = "hi", .lo = "lo", .inflight = INFLIGHT, .job_ns = JOB_NS,
		.load_ns = LOAD_NS, .lo_after_ns = LO_AFTER_NS,
	};
	/* queued ahead of it when it came, one running, and the aging itself */
	uint64_t bound = 2 * AGING_MS * MS + (INFLIGHT + 1) * JOB_NS, wait = 0;
	char status[8192], want[64];

	if (variant->reload_to) {
		l.hook = reload_policy;
		l.hook_arg = (void *)variant->reload_to;
		l.hook_at_ns = 300 * MS;
	}
	ASSERT_EQ(0, fair_starve_low(&self->t, &l, &wait)) TH_LOG("see %s", self->t.log);
	TH_LOG("%s%s%s: the low job waited %" PRIu64 " ms (aging bound %" PRIu64 " ms)",
	       variant->policy, variant->reload_to ? " then " : "",
	       variant->reload_to ? variant->reload_to : "", wait / MS, bound / MS);
	if (!strcmp(variant->policy, "aging")) {
		EXPECT_GE(bound + SLACK_NS, wait);
	} else if (variant->reload_to) {
		/* starved until the reload, then next: it has waited 2 x aging_ms */
		EXPECT_LE(l.hook_at_ns - LO_AFTER_NS, wait);
		EXPECT_GE(l.hook_at_ns - LO_AFTER_NS + JOB_NS + SLACK_NS, wait);
	} else {
		/* strict: as long as the high VM kept sending */
		EXPECT_LE(LOAD_NS - LO_AFTER_NS, wait);
	}
	ASSERT_EQ(0, tm_status(&self->t, status, sizeof(status)));
	snprintf(want, sizeof(want), "pool A policy=%s",
		 variant->reload_to ? variant->reload_to : variant->policy);
	EXPECT_NE(NULL, strstr(status, want)) TH_LOG("%s", status);
	/* the mediator's own account: the low VM's wait, the high VM's run time */
	EXPECT_LE(wait, fair_status_u64(status, "lo", "wait_ns=") + MS) TH_LOG("%s", status);
	EXPECT_LE(INFLIGHT * JOB_NS, fair_status_u64(status, "hi", "run_ns=")) TH_LOG("%s", status);
	EXPECT_GT(JOB_NS, fair_status_u64(status, "lo", "run_ns=")) TH_LOG("%s", status);
}

/* Weights 1:3, jobs 4:1 in size: run time goes by weight, not by job count. */
TEST(weighted_shares_run_time_by_weight_not_job_count)
{
	struct test_mediator t;
	struct fair_share s = {
		.vm = { "big", "small" }, .job_ns = { 20 * MS, 5 * MS }, .inflight = 4,
		.warm_ns = 200 * MS, .measure_ns = 1500 * MS,
	};
	double share[2] = { 0 };

	test_seed();
	ASSERT_EQ(0, tm_init(&t, NULL, "[pool B]\npolicy = weighted\n"
			     "[vm big]\nid = 1\npool = B\npriority = medium\nweight = 100\n"
			     "[vm small]\nid = 2\npool = B\npriority = medium\nweight = 300\n"));
	ASSERT_EQ(0, tm_start(&t)) TH_LOG("see %s", t.log);
	ASSERT_EQ(0, fair_run_shares(&t, &s, share));
	TH_LOG("run time: big %.1f%% (weight 25%%), small %.1f%% (weight 75%%)", 100 * share[0],
	       100 * share[1]);
	/* by job count it would be 80% / 20% */
	EXPECT_GE(0.05, share[0] > 0.25 ? share[0] - 0.25 : 0.25 - share[0]);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

TEST_HARNESS_MAIN
