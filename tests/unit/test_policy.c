// SPDX-License-Identifier: MIT
/*
 * The scheduling policies of queue.c as properties, driven by a simulated
 * clock and one simulated worker (no threads): random VMs, arrivals, run
 * times and weights, a fresh seed each run (VGPU_TEST_SEED replays it).
 *
 *  strict    every pick is the reference model's: highest level, then
 *            earliest arrival.
 *  aging     every pick is the reference model's (highest aged level, then
 *            earliest arrival), and no job waits longer than its bound,
 *            while strict lets the same load starve the low VM.
 *  weighted  over 10,000 jobs each backlogged VM's share of run time is
 *            within 5% of its weight's share; a VM back from idle gets no
 *            credit beyond one job; policy changes lose and reorder nothing
 *            within a VM.
 */
#include <inttypes.h>
#include <stdlib.h>

#include "kselftest_harness.h"

#include "queue.h"
#include "testlib.h"

#define MS	1000000ull	/* ns */
#define MAXJOBS	40000
#define MAXVMS	8

/* The simulated pool: jobs come from a static array; vm_id is the VM's index. */
struct sim {
	struct jobq q;
	struct flow flows[MAXVMS];
	uint64_t run_ns[MAXJOBS];	/* each job's run time, drawn at arrival */
	bool waiting[MAXJOBS];
	int njobs;
	uint64_t now, seq;
	uint64_t waiting_run_ns;	/* run time of the jobs waiting now */
};

static struct job jobs[MAXJOBS];
static struct sim S;

static void sim_init(enum sched_policy policy, uint64_t aging_ns)
{
	memset(&S, 0, sizeof(S));
	memset(jobs, 0, sizeof(jobs));
	jobq_init(&S.q);
	jobq_set_policy(&S.q, policy, aging_ns);
	for (int i = 0; i < MAXVMS; i++)
		flow_init(&S.flows[i], 1);
}

/* VM @vm queues a job of @run_ns at level @prio, now. */
static struct job *sim_arrive(int vm, unsigned int prio, uint64_t run_ns)
{
	struct job *j;

	if (S.njobs == MAXJOBS)
		return NULL;
	j = &jobs[S.njobs];
	j->vm_id = (uint32_t)vm;
	j->flow = &S.flows[vm];
	j->prio = prio;
	j->seq = S.seq++;
	j->queued_ns = S.now;
	S.run_ns[S.njobs] = run_ns;
	S.waiting[S.njobs++] = true;
	S.waiting_run_ns += run_ns;
	jobq_push(&S.q, j);
	return j;
}

/* The worker: take the next job, run it (the clock moves), charge it. */
static struct job *sim_run_next(void)
{
	struct job *j = jobq_next(&S.q, S.now);

	if (!j)
		return NULL;
	S.waiting[j - jobs] = false;
	S.waiting_run_ns -= S.run_ns[j - jobs];
	S.now += S.run_ns[j - jobs];
	jobq_charge(&S.q, j, S.run_ns[j - jobs]);
	return j;
}

/* The reference: highest (aged) level, then earliest arrival, over every waiting job. */
static struct job *model_pick(bool aged)
{
	struct job *best = NULL;
	unsigned int best_prio = 0;

	for (int i = 0; i < S.njobs; i++) {
		unsigned int p;

		if (!S.waiting[i])
			continue;
		p = aged ? jobq_aged_prio(&S.q, &jobs[i], S.now) : jobs[i].prio;
		if (!best || p > best_prio || (p == best_prio && jobs[i].seq < best->seq)) {
			best = &jobs[i];
			best_prio = p;
		}
	}
	return best;
}

TEST(strict_picks_like_the_reference_model)
{
	unsigned int prio[MAXVMS];
	int nvms, picks = 0;

	test_seed();
	nvms = (int)test_rand_range(2, MAXVMS);
	sim_init(SCHED_STRICT, 0);
	for (int v = 0; v < nvms; v++) {
		prio[v] = (unsigned int)test_rand_range(0, VGPU_NR_PRIOS - 1);
		S.flows[v].weight = (unsigned int)test_rand_range(1, 1000);	/* ignored */
	}
	while (S.njobs < 10000) {
		/* random arrivals between picks: bursts and lulls */
		int n = (int)test_rand_range(0, test_rand() % 4 ? 2 : 12);

		for (int k = 0; k < n; k++) {
			int v = (int)test_rand_range(0, (uint64_t)nvms - 1);

			sim_arrive(v, prio[v], test_rand_range(1000, 10 * MS));
		}
		S.now += test_rand_range(0, 2 * MS);
		if (test_rand() % 3) {
			struct job *want = model_pick(false), *got = sim_run_next();

			ASSERT_EQ(want, got) TH_LOG("pick %d: want seq %" PRIu64, picks,
						    want ? want->seq : 0);
			picks++;
		}
	}
	while (jobq_len(&S.q)) {
		struct job *want = model_pick(false);

		ASSERT_EQ(want, sim_run_next());
	}
	EXPECT_EQ(NULL, jobq_next(&S.q, S.now));
}

#define RUN_MAX	(10 * MS)	/* the longest job of issue_load() */

static uint64_t bound[MAXJOBS];	/* issue_load(): each job's longest wait */

/* A job of VM @vm at @prio arrives; its bound is
 *   (high - @prio) x aging + one job + the jobs waiting when it came. */
static void arrive_bounded(int vm, unsigned int prio, uint64_t aging_ns)
{
	struct job *j = sim_arrive(vm, prio, test_rand_range(1000, RUN_MAX));

	bound[j - jobs] = (VGPU_PRIO_HIGH - prio) * aging_ns + RUN_MAX +
			  S.waiting_run_ns - S.run_ns[j - jobs];
}

/*
 * The issue's load: a high VM keeps up to 32 jobs queued (a new one as
 * soon as one finishes), a medium VM and a low VM send now and then.
 * Checks every pick against the model and counts in @over_bound the jobs
 * that waited longer than their bound (arrive_bounded()), those still
 * waiting at the end included. Returns the low VM's longest wait.
 */
static uint64_t issue_load(struct __test_metadata *_metadata, enum sched_policy policy,
			   uint64_t aging_ns, int *over_bound)
{
	int inflight = (int)test_rand_range(4, 32), done = 0;
	uint64_t low_max = 0;

	sim_init(policy, aging_ns);
	*over_bound = 0;
	for (int i = 0; i < inflight; i++)
		arrive_bounded(0, VGPU_PRIO_HIGH, aging_ns);
	while (done < 5000) {
		uint64_t start = S.now;
		struct job *j, *want;

		/* what arrived while the last job ran, pushed before the next pick */
		if (!(test_rand() % 4))
			arrive_bounded(1, VGPU_PRIO_MEDIUM, aging_ns);
		if (!(test_rand() % 8))
			arrive_bounded(2, VGPU_PRIO_LOW, aging_ns);
		want = model_pick(policy == SCHED_AGING);
		j = sim_run_next();
		ASSERT_EQ(want, j) TH_LOG("pick %d", done);
		if (start - j->queued_ns > bound[j - jobs])
			(*over_bound)++;
		if (j->prio == VGPU_PRIO_LOW && start - j->queued_ns > low_max)
			low_max = start - j->queued_ns;
		if (j->vm_id == 0)
			arrive_bounded(0, VGPU_PRIO_HIGH, aging_ns);
		done++;
	}
	for (int i = 0; i < S.njobs; i++) {
		if (!S.waiting[i])
			continue;
		if (S.now - jobs[i].queued_ns > bound[i])
			(*over_bound)++;
		if (jobs[i].prio == VGPU_PRIO_LOW && S.now - jobs[i].queued_ns > low_max)
			low_max = S.now - jobs[i].queued_ns;
	}
	return low_max;
}

TEST(aging_bounds_every_wait_where_strict_starves)
{
	uint64_t aging_ns, worst;
	int over;

	test_seed();
	aging_ns = test_rand_range(5 * MS, 50 * MS);
	worst = issue_load(_metadata, SCHED_AGING, aging_ns, &over);
	EXPECT_EQ(0, over) TH_LOG("%d jobs waited longer than their bound", over);
	TH_LOG("aging_ms=%.1f: the low VM waited at most %.1f ms", (double)aging_ns / MS,
	       (double)worst / MS);
	EXPECT_GE(2 * aging_ns + RUN_MAX + 32 * RUN_MAX, worst);

	/* The same load under strict: the low VM waits until the high one stops. */
	worst = issue_load(_metadata, SCHED_STRICT, aging_ns, &over);
	EXPECT_LT(0, over);
	EXPECT_LT(10 * (2 * aging_ns + RUN_MAX + 32 * RUN_MAX), worst)
		TH_LOG("strict: the low VM waited at most %.1f ms", (double)worst / MS);
}

/* VMs 0..@nvms-1 at @prio with random weights and job sizes, each keeping
 * @depth[v] jobs queued; runs @njobs jobs; run time per VM into @got. */
static void backlogged(int nvms, unsigned int prio, const uint64_t *mean, const int *depth,
		       int njobs, uint64_t *got)
{
	for (int v = 0; v < nvms; v++)
		for (int k = 0; k < depth[v]; k++)
			sim_arrive(v, prio, test_rand_range(mean[v] / 2, mean[v] * 3 / 2));
	for (int i = 0; i < njobs; i++) {
		struct job *j = sim_run_next();
		int v = (int)j->vm_id;

		got[v] += S.run_ns[j - jobs];
		sim_arrive(v, prio, test_rand_range(mean[v] / 2, mean[v] * 3 / 2));
	}
}

TEST(weighted_shares_run_time_by_weight)
{
	uint64_t mean[MAXVMS], got[MAXVMS] = { 0 }, total = 0, wsum = 0;
	int nvms, depth[MAXVMS];
	unsigned int prio;

	test_seed();
	nvms = (int)test_rand_range(2, 5);
	prio = (unsigned int)test_rand_range(0, VGPU_NR_PRIOS - 1);
	sim_init(SCHED_WEIGHTED, 0);
	for (int v = 0; v < nvms; v++) {
		S.flows[v].weight = (unsigned int)test_rand_range(1, 8) * 25;
		mean[v] = test_rand_range(1 * MS, 10 * MS);
		depth[v] = (int)test_rand_range(1, 4);
		wsum += S.flows[v].weight;
	}
	backlogged(nvms, prio, mean, depth, 10000, got);
	for (int v = 0; v < nvms; v++)
		total += got[v];
	for (int v = 0; v < nvms; v++) {
		double share = (double)got[v] / (double)total;
		double want = (double)S.flows[v].weight / (double)wsum;

		TH_LOG("vm %d: weight %u, jobs of %.1f ms: %.2f%% of the run time, weight share %.2f%%",
		       v, S.flows[v].weight, (double)mean[v] / MS, 100 * share, 100 * want);
		EXPECT_GE(0.05 * want, share > want ? share - want : want - share);
	}
}

TEST(weighted_gives_an_idle_vm_no_burst_credit)
{
	uint64_t mean[MAXVMS], got[MAXVMS] = { 0 }, since[MAXVMS] = { 0 }, lmax[MAXVMS] = { 0 };
	int depth[MAXVMS] = { 1, 2, 1 }, none[MAXVMS] = { 0 }, burst, left;
	unsigned int prio = VGPU_PRIO_MEDIUM;

	test_seed();
	burst = (int)test_rand_range(50, 200);
	sim_init(SCHED_WEIGHTED, 0);
	for (int v = 0; v < 3; v++) {
		S.flows[v].weight = (unsigned int)test_rand_range(1, 8) * 25;
		mean[v] = test_rand_range(1 * MS, 10 * MS);
		lmax[v] = mean[v] * 3 / 2;
	}
	/* All three busy, then VM 2 stops sending ... */
	backlogged(3, prio, mean, depth, (int)test_rand_range(100, 1000), got);
	while (!TAILQ_EMPTY(&S.flows[2].jobs)) {
		struct job *j = sim_run_next();

		if (j->vm_id != 2)
			sim_arrive((int)j->vm_id, prio, test_rand_range(mean[j->vm_id] / 2,
								     lmax[j->vm_id]));
	}
	/* ... while VMs 0 and 1 keep the pool busy ... */
	backlogged(2, prio, mean, none, (int)test_rand_range(1000, 5000), got);
	/* ... then it comes back with a deep queue: it earned nothing meanwhile. */
	for (int k = 0; k < burst; k++)
		sim_arrive(2, prio, test_rand_range(mean[2] / 2, lmax[2]));
	for (left = burst; left;) {
		struct job *j = sim_run_next();
		int v = (int)j->vm_id;

		since[v] += S.run_ns[j - jobs];
		if (v == 2)
			left--;
		else
			sim_arrive(v, prio, test_rand_range(mean[v] / 2, lmax[v]));
		/* start-time fair queueing's bound: one job of each, weighted */
		for (int x = 0; x < 2; x++) {
			double ahead = (double)since[2] / S.flows[2].weight -
				       (double)since[x] / S.flows[x].weight;
			double one_job = (double)lmax[2] / S.flows[2].weight +
					 (double)lmax[x] / S.flows[x].weight;

			ASSERT_GE(one_job, ahead) TH_LOG("VM 2 ahead of VM %d after %d of its %d jobs",
							  x, burst - left, burst);
		}
	}
}

/* Random policy switches between picks: every job comes out once, each VM's in order. */
TEST(policy_changes_lose_nothing_and_keep_each_vm_fifo)
{
	uint64_t last_seq[MAXVMS];
	unsigned int prio[MAXVMS];
	int out = 0;

	test_seed();
	sim_init(SCHED_STRICT, 0);
	for (int v = 0; v < MAXVMS; v++) {
		prio[v] = (unsigned int)test_rand_range(0, VGPU_NR_PRIOS - 1);
		S.flows[v].weight = (unsigned int)test_rand_range(1, 10000);
		last_seq[v] = UINT64_MAX;
	}
	while (out < 5000) {
		if (S.njobs < 5000) {
			int v = (int)test_rand_range(0, MAXVMS - 1);

			sim_arrive(v, prio[v], test_rand_range(1000, 10 * MS));
		}
		if (!(test_rand() % 50))
			jobq_set_policy(&S.q, (enum sched_policy)test_rand_range(0, 2),
					test_rand_range(1, 20) * MS);
		if (!(test_rand() % 200)) {	/* a reload reweighs a VM */
			S.flows[test_rand_range(0, MAXVMS - 1)].weight =
				(unsigned int)test_rand_range(1, 10000);
		}
		if (test_rand() % 2 || S.njobs == 5000) {
			struct job *j = sim_run_next();
			int v;

			if (!j)
				continue;
			v = (int)j->vm_id;
			ASSERT_TRUE(last_seq[v] == UINT64_MAX || last_seq[v] < j->seq);
			last_seq[v] = j->seq;
			out++;
		}
	}
	EXPECT_EQ(0u, jobq_len(&S.q));
	for (int i = 0; i < S.njobs; i++)
		EXPECT_FALSE(S.waiting[i]);
}

TEST_HARNESS_MAIN
