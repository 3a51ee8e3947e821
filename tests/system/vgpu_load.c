// SPDX-License-Identifier: MIT
/*
 * vgpu-load: the guest workload of `make demo` and the system tests. Runs
 * in a VM, submits jobs through /dev/vgpu0 from several threads and checks
 * every result against the CPU reference. Each job alternates between a
 * SPIN of a fixed length (so that the pools' queues visibly fill) and a
 * random real op (vector_add, saxpy, sgemm, reduce_sum, checksum) with
 * random shapes and data.
 *
 *   vgpu-load -l LABEL [-n JOBS] [-t THREADS] [-s SPIN_NS] [-D DEVICE]
 *
 * Prints one line per job, with Dom0's CLOCK_MONOTONIC timestamps:
 *   job vm=LABEL thread=T n=N op=OP id=ID queued_ns=Q started_ns=S finished_ns=F ok
 * ("BAD <why>" instead of "ok" for a wrong answer), then
 *   done vm=LABEL jobs=N ok=N bad=N
 * Exit status 0 when every job was answered correctly. The seed is printed
 * (VGPU_TEST_SEED replays it).
 */
#include <getopt.h>
#include <pthread.h>

#include "guest_util.h"

struct load {
	const char *label;
	const char *dev;
	unsigned int jobs;	/* per thread */
	uint64_t spin_ns;
	pthread_mutex_t lock;	/* guards the counters, stdout and the rng */
	unsigned int ok, bad;
};

struct thread_arg {
	struct load *l;
	unsigned int idx;
	pthread_t thread;
};

static const uint32_t real_ops[] = {
	VGPU_OP_VECTOR_ADD, VGPU_OP_SAXPY, VGPU_OP_SGEMM, VGPU_OP_REDUCE_SUM, VGPU_OP_CHECKSUM,
};

static void job_make(struct load *l, unsigned int n, struct rjob *j)
{
	pthread_mutex_lock(&l->lock);
	if (n % 2 == 0) {
		rjob_make(j, VGPU_OP_SPIN);
		j->d.args[0] = l->spin_ns;
	} else {
		rjob_make(j, real_ops[test_rand_range(0, 4)]);
	}
	pthread_mutex_unlock(&l->lock);
}

static void *thread_run(void *arg)
{
	struct thread_arg *ta = arg;
	struct load *l = ta->l;
	int fd = open(l->dev, O_RDWR);

	if (fd < 0) {
		fprintf(stderr, "vgpu-load: open %s: %s\n", l->dev, strerror(errno));
		pthread_mutex_lock(&l->lock);
		l->bad += l->jobs;
		pthread_mutex_unlock(&l->lock);
		return NULL;
	}
	for (unsigned int n = 0; n < l->jobs; n++) {
		char msg[VGPU_MSG_LEN] = "";
		struct vgpu_submit s;
		struct rjob j;
		int ret, bad;

		job_make(l, n, &j);
		rjob_submit_args(&j, &s);
		s.timeout_ns = 300ull * 1000000000ull;
		ret = submit(fd, &s);
		if (ret)
			snprintf(msg, sizeof(msg), "SUBMIT: %s", strerror(-ret));
		else if (s.status)	/* and Dom0's (or the agent's) reason */
			snprintf(msg, sizeof(msg), "status %d: %.40s", s.status, s.msg);
		else if (s.out_written != j.d.out_len)
			snprintf(msg, sizeof(msg), "out_written %llu, expected %llu",
				 (unsigned long long)s.out_written,
				 (unsigned long long)j.d.out_len);
		else
			rjob_verify(&j, msg);
		bad = msg[0] != '\0';
		pthread_mutex_lock(&l->lock);
		printf("job vm=%s thread=%u n=%u op=%s id=%llu queued_ns=%llu started_ns=%llu "
		       "finished_ns=%llu %s%s\n", l->label, ta->idx, n, vgpu_op_name(j.d.op),
		       (unsigned long long)s.id, (unsigned long long)s.queued_ns,
		       (unsigned long long)s.started_ns, (unsigned long long)s.finished_ns,
		       bad ? "BAD " : "ok", msg);
		fflush(stdout);
		if (bad)
			l->bad++;
		else
			l->ok++;
		pthread_mutex_unlock(&l->lock);
		rjob_free(&j);
	}
	close(fd);
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: vgpu-load -l LABEL [-n JOBS] [-t THREADS] [-s SPIN_NS] "
		"[-D DEVICE]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct load l = { .dev = DEV0, .jobs = 8, .spin_ns = 200000000ull,
			  .lock = PTHREAD_MUTEX_INITIALIZER };
	struct thread_arg ta[64];
	unsigned int threads = 2;
	int opt;

	while ((opt = getopt(argc, argv, "l:n:t:s:D:")) != -1) {
		switch (opt) {
		case 'l': l.label = optarg; break;
		case 'n': l.jobs = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 't': threads = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 's': l.spin_ns = strtoull(optarg, NULL, 0); break;
		case 'D': l.dev = optarg; break;
		default: usage();
		}
	}
	if (!l.label || !threads || threads > 64 || !l.jobs)
		usage();
	test_seed();
	for (unsigned int i = 0; i < threads; i++) {
		ta[i] = (struct thread_arg){ .l = &l, .idx = i };
		if (pthread_create(&ta[i].thread, NULL, thread_run, &ta[i])) {
			fprintf(stderr, "vgpu-load: pthread_create failed\n");
			return 1;
		}
	}
	for (unsigned int i = 0; i < threads; i++)
		pthread_join(ta[i].thread, NULL);
	printf("done vm=%s jobs=%u ok=%u bad=%u\n", l.label, threads * l.jobs, l.ok, l.bad);
	return l.bad ? 1 : 0;
}
