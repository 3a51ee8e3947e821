// SPDX-License-Identifier: MIT
/*
 * Fair sharing in a running mediator (CPU backend, spin jobs): the load of
 * issue 15, a high VM keeping jobs of 10 ms queued while a low VM of the
 * same pool sends one short job. Under strict the low job waits until the
 * high VM stops; under aging (and after a SIGHUP that switches to aging)
 * it waits about 2 x aging_ms; under weighted two VMs of one level share
 * the run time by weight whatever their job sizes, and by the new weights
 * after a SIGHUP. vgpuctl shows the policy and each VM's run and wait
 * time.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
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

/* Pool A under a policy (%s, aging_ms %d), with a high and a low VM. */
#define STARVE_VMS \
	"[pool A]\npolicy = %s\naging_ms = %d\n" \
	"[vm hi]\nid = 1\npool = A\npriority = high\n" \
	"[vm lo]\nid = 2\npool = A\npriority = low\n"

/* Pool B weighted, two VMs of one level with their weights (%u, %u). */
#define WEIGHTED_VMS \
	"[pool B]\npolicy = weighted\n" \
	"[vm big]\nid = 1\npool = B\npriority = medium\nweight = %u\n" \
	"[vm small]\nid = 2\npool = B\npriority = medium\nweight = %u\n"

/* Rewrite the config: tm_init()'s [mediator] section, then @fmt; SIGHUP. */
static void __attribute__((format(printf, 2, 3)))
reload(struct test_mediator *t, const char *fmt, ...)
{
	FILE *f = fopen(t->conf, "w");
	va_list ap;

	if (!f)
		return;
	fprintf(f, "[mediator]\nspool = %s/spool\nstate_dir = %s/state\ncontrol_socket = %s\n"
		"backend = cpu\nlog_level = debug\n", t->root, t->root, t->sock);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fclose(f);
	kill(t->pid, SIGHUP);
}

static void reload_policy(struct test_mediator *t, void *policy)
{
	reload(t, STARVE_VMS, (const char *)policy, AGING_MS);
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
	snprintf(vms, sizeof(vms), STARVE_VMS, variant->policy, AGING_MS);
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

/*
 * Weights 1:3, jobs 4:1 in size: run time goes by weight, not by job
 * count (which would give 80/20); then a SIGHUP turns the weights round.
 */
TEST(weighted_shares_run_time_by_weight_not_job_count)
{
	struct test_mediator t;
	struct fair_share s = {
		.vm = { "big", "small" }, .job_ns = { 20 * MS, 5 * MS }, .inflight = 4,
		.warm_ns = 200 * MS, .measure_ns = 1200 * MS,
	};
	double share[2] = { 0 };
	char status[8192], vms[512];

	test_seed();
	snprintf(vms, sizeof(vms), WEIGHTED_VMS, 100, 300);
	ASSERT_EQ(0, tm_init(&t, NULL, vms));
	ASSERT_EQ(0, tm_start(&t)) TH_LOG("see %s", t.log);
	ASSERT_EQ(0, fair_run_shares(&t, &s, share));
	TH_LOG("weights 100/300: big %.1f%%, small %.1f%% of the run time", 100 * share[0],
	       100 * share[1]);
	EXPECT_GE(0.05, share[0] > 0.25 ? share[0] - 0.25 : 0.25 - share[0]);

	reload(&t, WEIGHTED_VMS, 300, 100);
	ASSERT_EQ(0, fair_run_shares(&t, &s, share));
	TH_LOG("weights 300/100: big %.1f%%, small %.1f%% of the run time", 100 * share[0],
	       100 * share[1]);
	EXPECT_GE(0.05, share[0] > 0.75 ? share[0] - 0.75 : 0.75 - share[0]);
	ASSERT_EQ(0, tm_status(&t, status, sizeof(status)));
	EXPECT_NE(NULL, strstr(status, "pool B policy=weighted")) TH_LOG("%s", status);
	EXPECT_EQ(300u, fair_status_u64(status, "big", "weight=")) TH_LOG("%s", status);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

TEST_HARNESS_MAIN
