// SPDX-License-Identifier: MIT
/*
 * Queue ordering as a property: for random arrivals with random priorities
 * and random pops in between, every pop returns the most urgent waiting job
 * (high > medium > low) and, within a level, the earliest arrival.
 */
#include <stdlib.h>

#include "kselftest_harness.h"

#include "queue.h"
#include "testlib.h"

#define NJOBS 2000

/* The model: the expected pop is the minimum of (-prio, seq). */
static struct job *model_pop(struct job *jobs, bool *waiting, int n)
{
	struct job *best = NULL;

	for (int i = 0; i < n; i++) {
		if (!waiting[i])
			continue;
		if (!best || jobs[i].prio > best->prio ||
		    (jobs[i].prio == best->prio && jobs[i].seq < best->seq))
			best = &jobs[i];
	}
	return best;
}

TEST(pops_follow_priority_then_arrival)
{
	static struct job jobs[NJOBS];
	static bool waiting[NJOBS];
	struct jobq q;
	int pushed = 0, popped = 0;

	test_seed();
	for (int round = 0; round < 20; round++) {
		jobq_init(&q);
		pushed = popped = 0;
		memset(waiting, 0, sizeof(waiting));
		while (popped < NJOBS) {
			bool push = pushed < NJOBS && (pushed == popped || test_rand() % 3);

			if (push) {
				struct job *j = &jobs[pushed];

				j->prio = (unsigned int)test_rand_range(0, VGPU_NR_PRIOS - 1);
				j->seq = (uint64_t)pushed;
				jobq_push(&q, j);
				waiting[pushed++] = true;
			} else {
				struct job *want = model_pop(jobs, waiting, pushed);
				struct job *got = jobq_pop(&q);

				ASSERT_EQ(want, got) TH_LOG("round %d pop %d: want seq %lu prio %u",
							    round, popped, (unsigned long)want->seq,
							    want->prio);
				waiting[got - jobs] = false;
				popped++;
			}
			EXPECT_EQ((unsigned int)(pushed - popped), jobq_len(&q));
		}
		EXPECT_EQ(NULL, jobq_pop(&q));
	}
}

TEST(requeued_jobs_keep_their_arrival_order)
{
	static struct job jobs[500];
	int order[500];
	struct jobq q;

	test_seed();
	jobq_init(&q);
	for (int i = 0; i < 500; i++)
		order[i] = i;
	for (int i = 499; i > 0; i--) {	/* push in a random order */
		int k = (int)test_rand_range(0, (uint64_t)i), t = order[i];

		order[i] = order[k];
		order[k] = t;
	}
	for (int i = 0; i < 500; i++) {
		struct job *j = &jobs[order[i]];

		j->seq = (uint64_t)order[i] * 10;
		j->prio = (unsigned int)(order[i] % VGPU_NR_PRIOS);
		jobq_push(&q, j);
	}
	uint64_t last_seq[VGPU_NR_PRIOS] = { 0 };
	int last_prio = VGPU_NR_PRIOS;

	for (int i = 0; i < 500; i++) {
		struct job *j = jobq_pop(&q);

		ASSERT_NE(NULL, j);
		ASSERT_GE(last_prio, (int)j->prio);
		if (last_seq[j->prio])
			EXPECT_LT(last_seq[j->prio], j->seq);
		last_seq[j->prio] = j->seq;
		last_prio = (int)j->prio;
	}
}

TEST(remove_takes_a_job_out_of_the_middle)
{
	struct job jobs[9] = { 0 };
	struct jobq q;

	jobq_init(&q);
	for (int i = 0; i < 9; i++) {
		jobs[i].prio = (unsigned int)(i % 3);
		jobs[i].seq = (uint64_t)i;
		jobq_push(&q, &jobs[i]);
	}
	jobq_remove(&q, &jobs[5]);	/* high */
	EXPECT_EQ(2u, q.depth[VGPU_PRIO_HIGH]);
	EXPECT_EQ(&jobs[2], jobq_pop(&q));
	EXPECT_EQ(&jobs[8], jobq_pop(&q));
	EXPECT_EQ(&jobs[1], jobq_pop(&q));
	EXPECT_EQ(9u - 1u - 3u, jobq_len(&q));
}

TEST_HARNESS_MAIN
