// SPDX-License-Identifier: MIT
/*
 * spool_bench: NOOP round trips through the spool protocol on tmpfs.
 *
 *   1 client, 1 in flight      -> latency p50/p99
 *   4 clients x 16 in flight   -> requests/s, mediator CPU per request
 *   a pipe ping-pong           -> the floor for any two-process round trip
 *   1 VM x 32 in flight, 20 us SPINs in one pool, against one process
 *   running the same jobs back to back (the CPU reference)
 *                              -> pool_ratio_vs_direct, as bench (b) of
 *                                 bench/gpu/ measures it on the GPU
 *
 * The mediator's CPU time is the sum over its threads of
 * /proc/PID/task/TID/schedstat (ns on CPU), read before and after. Ends
 * with one line:
 * RESULT noop_p50_us=.. noop_p99_us=.. rps=.. cpu_us_per_req=.. pipe_p50_us=..
 *        pool_jobs_per_s=.. direct_jobs_per_s=.. pool_ratio_vs_direct=..
 *        worker_us_per_job=.. turnaround_us=.. main_us_per_req=.. main_us_per_job=..
 * (main_us_*: the main thread's CPU per NOOP of the throughput run and per
 * SPIN of the pool run: acceptance, the cost that issue 11 §4 is about)
 */
#include <dirent.h>
#include <stdbool.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client.h"
#include "spool.h"
#include "testlib.h"
#include "vgpu/ops.h"

#define CLIENTS		4
#define DEPTH		16
#define LAT_N		20000	/* round trips for the latency run */
#define TPUT_N		25000	/* per client in the throughput run */
#define PIPE_N		50000
#define SPIN_NS		20000	/* bench (b)'s small job */
#define SPIN_N		20000	/* jobs of the pool run */
#define SPIN_DEPTH	32
#define MAIN_COMM	"vgpu-mediator"	/* the main thread keeps the program's name */

/* ns on CPU of @pid's threads named @comm, or of all its threads if NULL. */
static uint64_t cpu_ns_of_threads(pid_t pid, const char *comm)
{
	char path[64];
	uint64_t total = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		char p[300];
		unsigned long long ns;
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		if (comm) {
			char name[32] = "";

			snprintf(p, sizeof(p), "/proc/%d/task/%s/comm", (int)pid, de->d_name);
			f = fopen(p, "r");
			if (f && !fgets(name, sizeof(name), f))
				name[0] = '\0';
			if (f)
				fclose(f);
			name[strcspn(name, "\n")] = '\0';
			if (strcmp(name, comm))
				continue;
		}
		snprintf(p, sizeof(p), "/proc/%d/task/%s/schedstat", (int)pid, de->d_name);
		f = fopen(p, "r");
		if (f && fscanf(f, "%llu", &ns) == 1)
			total += ns;
		if (f)
			fclose(f);
	}
	closedir(d);
	return total;
}

static uint64_t cpu_ns_of(pid_t pid)
{
	return cpu_ns_of_threads(pid, NULL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * @n calls like @proto with @depth in flight; latencies (ns) into @lat and
 * the responses' headers into @rsp, in the order received, if non-NULL.
 */
static int run_calls(struct test_mediator *t, const char *vm, const struct vgpu_call *proto,
		     int n, int depth, uint64_t *lat, struct vgpu_rsp_hdr *rsp)
{
	struct vgpu_call call = *proto;
	uint64_t *sent = calloc((size_t)n, sizeof(*sent));
	char dir[512], why[VGPU_MSG_LEN];
	struct vgpu_client *c;
	int submitted = 0, done = 0;

	if (!sent || vgpu_client_open(tm_vmdir(t, vm, dir, sizeof(dir)), NULL, &c, why)) {
		fprintf(stderr, "spool_bench: %s: %s\n", vm, why);
		return -1;
	}
	while (done < n) {
		struct vgpu_result r;
		uint64_t id;

		while (submitted < n && submitted - done < depth) {
			call.user = (void *)(uintptr_t)submitted;
			sent[submitted++] = vgpu_now_ns();
			if (vgpu_client_submit(c, &call, &id, why)) {
				fprintf(stderr, "spool_bench: %s\n", why);
				return -1;
			}
		}
		if (vgpu_client_next(c, &r, 10000) != 1 || r.rsp.status) {
			fprintf(stderr, "spool_bench: %s: lost a response\n", vm);
			return -1;
		}
		if (lat)
			lat[done] = vgpu_now_ns() - sent[(uintptr_t)r.user];
		if (rsp)
			rsp[done] = r.rsp;
		done++;
	}
	vgpu_client_close(c);
	free(sent);
	return 0;
}

static int run_client(struct test_mediator *t, const char *vm, int n, int depth, uint64_t *lat)
{
	struct vgpu_call noop = { .op = VGPU_OP_NOOP };

	return run_calls(t, vm, &noop, n, depth, lat, NULL);
}

/* SPIN_NS jobs/s of one process running them back to back. */
static double direct_spin_rate(void)
{
	struct vgpu_job_desc d = { .op = VGPU_OP_SPIN, .args = { SPIN_NS } };
	char msg[VGPU_MSG_LEN];
	uint64_t t0 = vgpu_now_ns();

	for (int i = 0; i < SPIN_N; i++)
		if (vgpu_cpu_compute(&d, NULL, NULL, msg))
			return 0;
	return SPIN_N / ((double)(vgpu_now_ns() - t0) / 1e9);
}

static int cmp_rsp_started(const void *a, const void *b)
{
	const struct vgpu_rsp_hdr *x = a, *y = b;

	return x->started_ns < y->started_ns ? -1 : x->started_ns > y->started_ns;
}

/*
 * The worker's turnaround: the median, over jobs that were waiting when
 * the one before them finished running, of the time from that finish to
 * their start. It is what a pool adds to each job on its critical path
 * (answering, bookkeeping, taking the next), whatever else the machine
 * runs; ns, or 0 if no job waited.
 */
static uint64_t turnaround_ns(struct vgpu_rsp_hdr *rsp, int n)
{
	uint64_t *gap = calloc((size_t)n, sizeof(*gap)), med;
	int k = 0;

	if (!gap)
		return 0;
	qsort(rsp, (size_t)n, sizeof(*rsp), cmp_rsp_started);
	for (int i = 1; i < n; i++)
		if (rsp[i].queued_ns < rsp[i - 1].finished_ns)
			gap[k++] = rsp[i].started_ns - rsp[i - 1].finished_ns;
	qsort(gap, (size_t)k, sizeof(*gap), cmp_u64);
	med = k ? gap[k / 2] : 0;
	free(gap);
	return med;
}

/*
 * SPIN_NS jobs/s of pool @pool, fed by its VM @vm with SPIN_DEPTH in
 * flight; the CPU its worker spent per job into @worker_us, its
 * turnaround (see above) into @gap_us.
 */
static double pool_spin_rate(struct test_mediator *t, const char *vm, const char *pool,
			     double *worker_us, double *main_us, double *gap_us)
{
	struct vgpu_call spin = { .op = VGPU_OP_SPIN, .args = { SPIN_NS } };
	struct vgpu_rsp_hdr *rsp = calloc(SPIN_N, sizeof(*rsp));
	char comm[16];
	uint64_t t0, t1, c0, m0;

	snprintf(comm, sizeof(comm), "vgpu-pool-%s", pool);
	if (!rsp || run_calls(t, vm, &spin, SPIN_N / 10, SPIN_DEPTH, NULL, NULL))	/* warm-up */
		return 0;
	c0 = cpu_ns_of_threads(t->pid, comm);
	m0 = cpu_ns_of_threads(t->pid, MAIN_COMM);
	t0 = vgpu_now_ns();
	if (run_calls(t, vm, &spin, SPIN_N, SPIN_DEPTH, NULL, rsp))
		return 0;
	t1 = vgpu_now_ns();
	*worker_us = (double)(cpu_ns_of_threads(t->pid, comm) - c0) / 1e3 / SPIN_N;
	*main_us = (double)(cpu_ns_of_threads(t->pid, MAIN_COMM) - m0) / 1e3 / SPIN_N;
	*gap_us = (double)turnaround_ns(rsp, SPIN_N) / 1e3;
	free(rsp);
	return SPIN_N / ((double)(t1 - t0) / 1e9);
}

static uint64_t pipe_p50_ns(void)
{
	int ab[2], ba[2];
	uint64_t *lat = calloc(PIPE_N, sizeof(*lat));
	char b = 0;
	pid_t pid;

	if (!lat || pipe(ab) || pipe(ba))
		return 0;
	pid = fork();
	if (pid == 0) {
		for (int i = 0; i < PIPE_N; i++)
			if (read(ab[0], &b, 1) != 1 || write(ba[1], &b, 1) != 1)
				_exit(1);
		_exit(0);
	}
	for (int i = 0; i < PIPE_N; i++) {
		uint64_t t0 = vgpu_now_ns();

		if (write(ab[1], &b, 1) != 1 || read(ba[0], &b, 1) != 1)
			return 0;
		lat[i] = vgpu_now_ns() - t0;
	}
	waitpid(pid, NULL, 0);
	qsort(lat, PIPE_N, sizeof(*lat), cmp_u64);
	uint64_t p50 = lat[PIPE_N / 2];

	free(lat);
	return p50;
}

int main(void)
{
	struct test_mediator t;
	uint64_t *lat = calloc(LAT_N, sizeof(*lat));
	uint64_t cpu0, cpu1, t0, t1, p50, p99, pipe50;
	double rps, cpu_per_req, main_per_req, pool_rate, direct_rate, worker_us = 0, gap_us = 0;
	double main_us = 0;
	uint64_t m0, m1;
	pid_t kids[CLIENTS];

	char spool[300];
	bool mounted;

	if (!lat || tm_init(&t, "log_level = info\n",
			    "[vm c0]\nid = 1\npool = A\npriority = high\n"
			    "[vm c1]\nid = 2\npool = A\npriority = low\n"
			    "[vm c2]\nid = 3\npool = B\npriority = medium\n"
			    "[vm c3]\nid = 4\npool = B\npriority = low\n")) {
		fprintf(stderr, "spool_bench: cannot set up a scratch directory\n");
		return 1;
	}
	/* The spool as recommended for production: its own nodev filesystem. */
	snprintf(spool, sizeof(spool), "%s/spool", t.root);
	mounted = mkdir(spool, 0755) == 0 &&
		  mount("vgpu-bench", spool, "tmpfs", MS_NODEV | MS_NOSUID, "size=1g") == 0;
	if (tm_start(&t)) {
		fprintf(stderr, "spool_bench: cannot start the mediator\n");
		return 1;
	}
	printf("spool_bench: mediator %s, spool %s on %s\n", test_bin("vgpu-mediator"), spool,
	       mounted ? "a private nodev tmpfs" : "/dev/shm (not root: could not mount "
	       "a nodev tmpfs, so guest files are opened through O_PATH)");

	/* warm up, then the latency run */
	if (run_client(&t, "c0", 2000, 1, NULL) || run_client(&t, "c0", LAT_N, 1, lat))
		goto fail;
	qsort(lat, LAT_N, sizeof(*lat), cmp_u64);
	p50 = lat[LAT_N / 2];
	p99 = lat[LAT_N * 99 / 100];
	printf("1 client x 1 in flight: %d NOOPs, p50 %.1f us, p99 %.1f us\n", LAT_N,
	       p50 / 1e3, p99 / 1e3);

	cpu0 = cpu_ns_of(t.pid);
	m0 = cpu_ns_of_threads(t.pid, MAIN_COMM);
	t0 = vgpu_now_ns();
	for (int i = 0; i < CLIENTS; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			char vm[8];

			snprintf(vm, sizeof(vm), "c%d", i);
			_exit(run_client(&t, vm, TPUT_N, DEPTH, NULL) ? 1 : 0);
		}
	}
	for (int i = 0; i < CLIENTS; i++) {
		int st;

		if (waitpid(kids[i], &st, 0) != kids[i] || !WIFEXITED(st) || WEXITSTATUS(st))
			goto fail;
	}
	t1 = vgpu_now_ns();
	cpu1 = cpu_ns_of(t.pid);
	m1 = cpu_ns_of_threads(t.pid, MAIN_COMM);
	rps = (double)CLIENTS * TPUT_N / ((double)(t1 - t0) / 1e9);
	cpu_per_req = (double)(cpu1 - cpu0) / 1e3 / (CLIENTS * TPUT_N);
	main_per_req = (double)(m1 - m0) / 1e3 / (CLIENTS * TPUT_N);
	printf("%d clients x %d in flight: %d NOOPs in %.2f s, %.0f requests/s, "
	       "mediator CPU %.1f us/request (main thread %.1f)\n", CLIENTS, DEPTH,
	       CLIENTS * TPUT_N, (double)(t1 - t0) / 1e9, rps, cpu_per_req, main_per_req);

	pool_rate = pool_spin_rate(&t, "c2", "B", &worker_us, &main_us, &gap_us);
	if (!pool_rate)
		goto fail;
	direct_rate = direct_spin_rate();
	printf("%d us SPINs: one pool %.0f jobs/s (1 VM x %d in flight), its worker on CPU "
	       "%.1f us/job, the main thread %.1f, turnaround p50 %.1f us; one process alone "
	       "%.0f jobs/s: %.3f\n", SPIN_NS / 1000, pool_rate, SPIN_DEPTH, worker_us, main_us,
	       gap_us, direct_rate, pool_rate / direct_rate);

	pipe50 = pipe_p50_ns();
	printf("pipe ping-pong: p50 %.1f us\n", pipe50 / 1e3);
	tm_stop(&t, SIGTERM);
	if (mounted)
		umount(spool);
	tm_cleanup(&t);
	printf("RESULT noop_p50_us=%.0f noop_p99_us=%.0f rps=%.0f cpu_us_per_req=%.1f "
	       "pipe_p50_us=%.0f pool_jobs_per_s=%.0f direct_jobs_per_s=%.0f "
	       "pool_ratio_vs_direct=%.3f worker_us_per_job=%.1f turnaround_us=%.1f "
	       "main_us_per_req=%.1f main_us_per_job=%.1f\n",
	       p50 / 1e3, p99 / 1e3, rps, cpu_per_req, pipe50 / 1e3, pool_rate, direct_rate,
	       pool_rate / direct_rate, worker_us, gap_us, main_per_req, main_us);
	free(lat);
	return 0;
fail:
	fprintf(stderr, "spool_bench: failed; mediator log in %s\n", t.log);
	tm_stop(&t, SIGKILL);
	if (mounted)
		umount(spool);
	return 1;
}
