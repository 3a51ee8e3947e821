// SPDX-License-Identifier: MIT
/*
 * vgpu-cuda-bench: the GPU measurements that need no mediator. Each mode
 * prints one "key=value ..." line that bench/gpu/run-on-device.sh collects.
 * Latencies are host wall-clock (CLOCK_MONOTONIC) around launch and
 * synchronisation, after a warm-up; percentiles over every job of the run.
 *
 *   launch N			raw empty kernel launch + cudaStreamSynchronize
 *   noop N			NOOP through the backend's run(), memory job
 *   spin NS SECONDS		one process, one SPIN kernel at a time (the limit)
 *   procs P NS SECONDS		P processes doing the same (naive sharing, or MPS
 *				when the MPS daemon runs)
 *   backend P NS SECONDS	P threads (<= 2, one per pool) through run()
 *   isolation SMS_A SMS_B SECONDS [spin|sgemm] [sgemm|saxpy] [STAGING_KIB]
 *				pool A's job latency (100 us SPIN or 256^3
 *				SGEMM) alone and while pool B runs 8192^3
 *				SGEMMs back to back, or (saxpy) SAXPYs that
 *				move the same bytes (512 MiB in, 256 MiB out)
 *				with almost no SM time: copy interference alone;
 *				STAGING_KIB: both pools' staging (default 2 MiB,
 *				the mediator's, copied in chunks of half of it)
 *   datapath MIB [STAGING_KIB [IO_THREADS]]
 *				SAXPY request of MIB payload through a file job
 *				on tmpfs vs cudaMemcpy pageable and pinned;
 *				IO_THREADS move the file bytes (default 2, the
 *				mediator's io_threads)
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cuda_runtime.h>

extern "C" {
#include "job.h"
#include "vgpu/backend.h"
#include "vgpu/ops.h"
#include "vgpu/proto.h"
}

#include "../../cuda/cuda_check.h"
#include "../../cuda/kernels.h"
#include "../../cuda/vgpu_cuda.h"

#define MAX_SAMPLES	(4u << 20)

static void die(const char *what)
{
	const struct vgpu_cuda_err *e = vgpu_cuda_last_err();

	fprintf(stderr, "vgpu-cuda-bench: %s failed%s%s\n", what, e->name ? ": " : "",
		e->name ? e->name : "");
	exit(1);
}

#define CK(call) do { if (VGPU_CUDA_CHECK(call)) die(#call); } while (0)

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

struct pct {
	double p50_us, p99_us;
};

static struct pct percentiles(uint64_t *v, size_t n)
{
	struct pct p = { 0, 0 };

	if (!n)
		return p;
	qsort(v, n, sizeof(*v), cmp_u64);
	p.p50_us = (double)v[n / 2] / 1e3;
	p.p99_us = (double)v[(n * 99) / 100] / 1e3;
	return p;
}

static uint64_t *samples(void)
{
	uint64_t *v = (uint64_t *)malloc(MAX_SAMPLES * sizeof(uint64_t));

	if (!v)
		die("malloc");
	return v;
}

/* ---- (a) raw launch ----------------------------------------------------- */

__global__ void empty_kernel(void)
{
}

static int mode_launch(int n)
{
	uint64_t *v = samples();
	cudaStream_t s;

	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	for (int i = -1000; i < n; i++) {
		uint64_t t0 = now_ns();

		empty_kernel<<<1, 1, 0, s>>>();
		CK(cudaGetLastError());
		CK(cudaStreamSynchronize(s));
		if (i >= 0)
			v[i] = now_ns() - t0;
	}
	struct pct p = percentiles(v, (size_t)n);
	printf("launch n=%d p50_us=%.2f p99_us=%.2f\n", n, p.p50_us, p.p99_us);
	return 0;
}

/* ---- backend helpers ------------------------------------------------------ */

static struct vgpu_backend *open_backend(unsigned int sms_a, unsigned int sms_b,
					 uint64_t staging)
{
	struct vgpu_backend_conf conf;
	struct vgpu_backend *be;
	char why[VGPU_MSG_LEN] = "";

	memset(&conf, 0, sizeof(conf));
	conf.pools[0].index = 0;
	conf.pools[0].sms = sms_a;
	conf.pools[1].index = 1;
	conf.pools[1].sms = sms_b;
	conf.nr_pools = 2;
	conf.staging_bytes = staging;
	if (vgpu_backend_cuda.open(&conf, &be, why)) {
		fprintf(stderr, "vgpu-cuda-bench: open: %s\n", why);
		exit(1);
	}
	return be;
}

static void desc_for(struct vgpu_job_desc *d, uint32_t op, uint64_t a0, uint64_t a1,
		     uint64_t a2)
{
	char why[VGPU_MSG_LEN];

	memset(d, 0, sizeof(*d));
	d->op = op;
	d->args[0] = a0;
	d->args[1] = a1;
	d->args[2] = a2;
	if (vgpu_op_sizes(op, d->args, &d->in_len, &d->out_len, why)) {
		fprintf(stderr, "vgpu-cuda-bench: %s\n", why);
		exit(1);
	}
}

/* One memory job; returns its wall time in ns. */
static uint64_t run_job(struct vgpu_backend *be, unsigned int pool,
			const struct vgpu_job_desc *d, const void *in, void *out)
{
	struct vgpu_job job;
	char msg[VGPU_MSG_LEN] = "";
	uint64_t t0 = now_ns();

	vgpu_job_init_mem(&job, in, d->in_len, out, d->out_len);
	if (vgpu_backend_cuda.run(be, pool, d, &job, msg)) {
		fprintf(stderr, "vgpu-cuda-bench: %s job: %s\n", vgpu_op_name(d->op), msg);
		exit(1);
	}
	return now_ns() - t0;
}

static int mode_noop(int n)
{
	struct vgpu_backend *be = open_backend(0, 0, 0);
	struct vgpu_job_desc d;
	uint64_t *v = samples();

	desc_for(&d, VGPU_OP_NOOP, 0, 0, 0);
	for (int i = -1000; i < n; i++) {
		uint64_t t = run_job(be, 0, &d, NULL, NULL);

		if (i >= 0)
			v[i] = t;
	}
	struct pct p = percentiles(v, (size_t)n);
	printf("noop_backend n=%d p50_us=%.2f p99_us=%.2f\n", n, p.p50_us, p.p99_us);
	vgpu_backend_cuda.close(be);
	return 0;
}

/* ---- (b) small-job throughput -------------------------------------------- */

/* Jobs back to back for @seconds; latencies into @v. Returns the count. */
static size_t spin_loop(uint64_t ns, double seconds, uint64_t *v, size_t cap)
{
	cudaStream_t s;
	size_t n = 0;

	CK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
	for (int i = 0; i < 200; i++) {		/* warm-up */
		CK(vgpu_launch_spin(s, ns));
		CK(cudaStreamSynchronize(s));
	}
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);

	for (uint64_t t0 = now_ns(); t0 < end; t0 = now_ns()) {
		CK(vgpu_launch_spin(s, ns));
		CK(cudaStreamSynchronize(s));
		if (n < cap)
			v[n] = now_ns() - t0;
		n++;
	}
	CK(cudaStreamDestroy(s));
	return n;
}

static int mode_spin(uint64_t ns, double seconds)
{
	uint64_t *v = samples();
	size_t n = spin_loop(ns, seconds, v, MAX_SAMPLES);
	struct pct p = percentiles(v, n < MAX_SAMPLES ? n : MAX_SAMPLES);

	printf("spin_direct ns=%" PRIu64 " jobs_per_s=%.0f p50_us=%.2f p99_us=%.2f\n", ns,
	       (double)n / seconds, p.p50_us, p.p99_us);
	return 0;
}

/*
 * P processes, each its own CUDA context (MPS merges them when its daemon
 * runs). The parent touches no CUDA before fork. Children initialise, say
 * ready on a pipe, wait for the go byte, run, and leave their latencies in
 * shared memory.
 */
static int mode_procs(int procs, uint64_t ns, double seconds)
{
	size_t cap = MAX_SAMPLES / (size_t)procs;
	uint64_t *lat = (uint64_t *)mmap(NULL, MAX_SAMPLES * sizeof(uint64_t) + 64 * 8,
					 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
					 -1, 0);
	uint64_t *counts = lat + MAX_SAMPLES;
	int ready[2], go[2];

	if (lat == MAP_FAILED || pipe(ready) || pipe(go))
		die("setup");
	for (int c = 0; c < procs; c++) {
		pid_t pid = fork();

		if (pid < 0)
			die("fork");
		if (pid == 0) {
			char b = 1;

			CK(cudaFree(NULL));		/* create the context */
			if (write(ready[1], &b, 1) != 1 || read(go[0], &b, 1) != 1)
				_exit(1);
			counts[c] = spin_loop(ns, seconds, lat + (size_t)c * cap, cap);
			_exit(0);
		}
	}
	close(ready[1]);	/* a child that dies makes read() see EOF */
	close(go[0]);
	for (int c = 0; c < procs; c++) {
		char b;

		if (read(ready[0], &b, 1) != 1)
			die("child start");
	}
	if (write(go[1], "gggggggggggggggg", (size_t)procs) != procs)
		die("go");
	int failed = 0;

	for (int c = 0; c < procs; c++) {
		int st;

		wait(&st);
		failed |= !WIFEXITED(st) || WEXITSTATUS(st);
	}
	if (failed)
		die("a child");

	size_t total = 0, kept = 0;
	uint64_t *v = samples();

	for (int c = 0; c < procs; c++) {
		size_t n = counts[c] < cap ? counts[c] : cap;

		memcpy(v + kept, lat + (size_t)c * cap, n * sizeof(*v));
		kept += n;
		total += counts[c];
	}
	struct pct p = percentiles(v, kept);
	printf("spin_procs procs=%d ns=%" PRIu64 " jobs_per_s=%.0f p50_us=%.2f p99_us=%.2f\n",
	       procs, ns, (double)total / seconds, p.p50_us, p.p99_us);
	return 0;
}

/* ---- backend from threads ------------------------------------------------- */

struct spin_worker {
	struct vgpu_backend *be;
	unsigned int pool;
	struct vgpu_job_desc d;
	const void *in;
	void *out;
	volatile int *stop;
	uint64_t *v;
	size_t cap, n;
	uint64_t deadline;		/* 0: until *stop */
};

static void *spin_worker_fn(void *arg)
{
	struct spin_worker *w = (struct spin_worker *)arg;

	while (w->deadline ? now_ns() < w->deadline : !*w->stop) {
		uint64_t t = run_job(w->be, w->pool, &w->d, w->in, w->out);

		if (w->v && w->n < w->cap)
			w->v[w->n] = t;
		w->n++;
	}
	return NULL;
}

static int mode_backend(int threads, uint64_t ns, double seconds)
{
	struct vgpu_backend *be = open_backend(0, 0, 0);
	struct spin_worker w[2];
	pthread_t t[2];
	uint64_t *v = samples();
	size_t total = 0, kept = 0;

	if (threads < 1 || threads > 2)
		die("1 or 2 threads");
	memset(w, 0, sizeof(w));
	for (int i = 0; i < threads; i++) {
		w[i].be = be;
		w[i].pool = (unsigned int)i;
		desc_for(&w[i].d, VGPU_OP_SPIN, ns, 0, 0);
		for (int k = 0; k < 200; k++)
			run_job(be, w[i].pool, &w[i].d, NULL, NULL);
		w[i].v = v + (size_t)i * (MAX_SAMPLES / 2);
		w[i].cap = MAX_SAMPLES / 2;
	}
	uint64_t deadline = now_ns() + (uint64_t)(seconds * 1e9);

	for (int i = 0; i < threads; i++) {
		w[i].deadline = deadline;
		if (pthread_create(&t[i], NULL, spin_worker_fn, &w[i]))
			die("pthread_create");
	}
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < threads; i++) {
		size_t n = w[i].n < w[i].cap ? w[i].n : w[i].cap;

		memmove(v + kept, w[i].v, n * sizeof(*v));
		kept += n;
		total += w[i].n;
	}
	struct pct p = percentiles(v, kept);
	printf("spin_backend threads=%d ns=%" PRIu64 " jobs_per_s=%.0f p50_us=%.2f p99_us=%.2f\n",
	       threads, ns, (double)total / seconds, p.p50_us, p.p99_us);
	vgpu_backend_cuda.close(be);
	return 0;
}

/* ---- (d) pool isolation --------------------------------------------------- */

/* Pool A's probe job: a 100 us SPIN (one thread: it fits beside any
 * kernel), or a 256^3 SGEMM, which needs whole SMs' worth of shared memory
 * and so must wait for SMs that pool B's GEMM holds. */
static uint32_t probe = VGPU_OP_SPIN;
static uint32_t load = VGPU_OP_SGEMM;	/* pool B's jobs: sgemm or saxpy */
static float probe_in[2 * 256 * 256], probe_out[256 * 256];

static void probe_desc(struct vgpu_job_desc *d)
{
	if (probe == VGPU_OP_SGEMM)
		desc_for(d, VGPU_OP_SGEMM, 256, 256, 256);
	else
		desc_for(d, VGPU_OP_SPIN, 100000, 0, 0);
}

static struct pct measure_a(struct vgpu_backend *be, double seconds, size_t *jobs)
{
	struct spin_worker a;
	uint64_t *v = samples();

	memset(&a, 0, sizeof(a));
	a.be = be;
	a.pool = 0;
	probe_desc(&a.d);
	a.in = probe_in;
	a.out = probe_out;
	a.v = v;
	a.cap = MAX_SAMPLES;
	a.deadline = now_ns() + (uint64_t)(seconds * 1e9);
	spin_worker_fn(&a);
	*jobs = a.n;
	struct pct p = percentiles(v, a.n < a.cap ? a.n : a.cap);

	free(v);
	return p;
}

static int mode_isolation(unsigned int sms_a, unsigned int sms_b, double seconds,
			  uint64_t staging)
{
	struct vgpu_backend *be = open_backend(sms_a, sms_b, staging);
	const uint64_t dim = 8192;
	struct spin_worker b;
	volatile int stop = 0;
	pthread_t tb;
	size_t na, nl;
	float *in, *out;

	/* Random operands once: 512 MiB in, 256 MiB out. */
	memset(&b, 0, sizeof(b));
	if (load == VGPU_OP_SAXPY)
		desc_for(&b.d, VGPU_OP_SAXPY, dim * dim, 0x3fc00000u /* 1.5f */, 0);
	else
		desc_for(&b.d, VGPU_OP_SGEMM, dim, dim, dim);
	in = (float *)malloc(b.d.in_len);
	out = (float *)malloc(b.d.out_len);
	if (!in || !out)
		die("malloc");
	srand(1);
	for (uint64_t i = 0; i < b.d.in_len / 4; i++)
		in[i] = (float)rand() / (float)RAND_MAX - 0.5f;
	b.be = be;
	b.pool = 1;
	b.in = in;
	b.out = out;
	b.stop = &stop;

	for (size_t i = 0; i < sizeof(probe_in) / sizeof(probe_in[0]); i++)
		probe_in[i] = (float)rand() / (float)RAND_MAX - 0.5f;
	for (int i = 0; i < 100; i++) {		/* warm-up pool A */
		struct vgpu_job_desc d;

		probe_desc(&d);
		run_job(be, 0, &d, probe_in, probe_out);
	}
	uint64_t tgemm = run_job(be, 1, &b.d, in, out);	/* warm-up B, sizes its buffer */
	struct pct alone = measure_a(be, seconds, &na);

	if (pthread_create(&tb, NULL, spin_worker_fn, &b))
		die("pthread_create");
	struct pct loaded = measure_a(be, seconds, &nl);

	stop = 1;
	pthread_join(tb, NULL);
	printf("isolation probe=%s load=%s staging_kib=%" PRIu64 " sms_a=%u sms_b=%u green=%d/%d a_alone_p50_us=%.1f a_alone_p99_us=%.1f "
	       "a_loaded_p50_us=%.1f a_loaded_p99_us=%.1f p99_ratio=%.3f b_jobs=%zu "
	       "b_job_ms=%.1f a_jobs=%zu/%zu\n",
	       vgpu_op_name(probe), vgpu_op_name(load), (staging ? staging : (uint64_t)2 << 20) >> 10, vgpu_cuda_pool_sms(be, 0), vgpu_cuda_pool_sms(be, 1),
	       vgpu_cuda_pool_green(be, 0), vgpu_cuda_pool_green(be, 1), alone.p50_us,
	       alone.p99_us, loaded.p50_us, loaded.p99_us, loaded.p99_us / alone.p99_us, b.n,
	       (double)tgemm / 1e6, na, nl);
	vgpu_backend_cuda.close(be);
	free(in);
	free(out);
	return 0;
}

/* ---- (e) data path -------------------------------------------------------- */

static double gbps(uint64_t bytes, uint64_t ns)
{
	return (double)bytes / (double)ns;
}

static int mode_datapath(uint64_t mib, uint64_t staging, unsigned int io_threads)
{
	struct vgpu_backend *be = open_backend(0, 0, staging);
	struct vgpu_io_team *team;
	const uint64_t payload = mib << 20;
	struct vgpu_job_desc d;
	struct vgpu_req_hdr h;
	uint8_t hdr[VGPU_REQ_HDR_SIZE];
	uint64_t best_e2e = UINT64_MAX, t;
	float *x = (float *)malloc(payload), *pinned;
	void *dev;
	char msg[VGPU_MSG_LEN];
	char in_path[] = "/dev/shm/vgpu-bench-req-XXXXXX";
	char out_path[] = "/dev/shm/vgpu-bench-rsp-XXXXXX";
	int in_fd = mkstemp(in_path), out_fd = mkstemp(out_path);

	if (!x || in_fd < 0 || out_fd < 0)
		die("setup (is /dev/shm a tmpfs?)");
	/* As a pool's worker and helpers do it, polling as long as by default. */
	if (vgpu_io_team_create(io_threads, 50000, NULL, "vgpu-bench-io", &team))
		die("vgpu_io_team_create");
	unlink(in_path);
	unlink(out_path);
	desc_for(&d, VGPU_OP_SAXPY, payload / 8, 0x3fc00000u /* 1.5f */, 0);
	for (uint64_t i = 0; i < payload / 4; i++)
		x[i] = (float)(i % 1000) * 0.001f;
	memset(&h, 0, sizeof(h));
	h.magic = VGPU_REQ_MAGIC;
	h.version = VGPU_PROTO_VERSION;
	h.hdr_size = VGPU_REQ_HDR_SIZE;
	h.op = d.op;
	h.id = 1;
	h.payload_len = d.in_len;
	h.out_len = d.out_len;
	memcpy(h.args, d.args, sizeof(h.args));
	h.crc32c = vgpu_req_crc(&h, vgpu_crc32c(0, x, payload));
	vgpu_req_encode(&h, hdr);
	if (pwrite(in_fd, hdr, sizeof(hdr), 0) != (ssize_t)sizeof(hdr) ||
	    pwrite(in_fd, x, payload, sizeof(hdr)) != (ssize_t)payload)
		die("writing the request");

	/* End to end: file read + CRC, H2D, SAXPY, D2H, file write + CRC. */
	for (int i = 0; i < 6; i++) {
		struct vgpu_job job;

		vgpu_job_init_file(&job, &h, in_fd, VGPU_REQ_HDR_SIZE, out_fd, VGPU_RSP_HDR_SIZE);
		job.team = team;
		t = now_ns();
		if (vgpu_backend_cuda.run(be, 0, &d, &job, msg)) {
			fprintf(stderr, "vgpu-cuda-bench: saxpy file job: %s\n", msg);
			exit(1);
		}
		t = now_ns() - t;
		if (i && t < best_e2e)		/* the first one sizes the buffer */
			best_e2e = t;
	}
	vgpu_backend_cuda.close(be);
	vgpu_io_team_destroy(team);

	/* The same bytes with plain cudaMemcpy, host to device. */
	uint64_t best_pageable = UINT64_MAX, best_pinned = UINT64_MAX;

	CK(cudaMalloc(&dev, payload));
	CK(cudaMallocHost((void **)&pinned, payload));
	memcpy(pinned, x, payload);
	for (int i = 0; i < 6; i++) {
		t = now_ns();
		CK(cudaMemcpy(dev, x, payload, cudaMemcpyHostToDevice));
		t = now_ns() - t;
		if (i && t < best_pageable)
			best_pageable = t;
		t = now_ns();
		CK(cudaMemcpy(dev, pinned, payload, cudaMemcpyHostToDevice));
		t = now_ns() - t;
		if (i && t < best_pinned)
			best_pinned = t;
	}
	printf("datapath payload_mib=%" PRIu64 " staging_kib=%" PRIu64 " io_threads=%u e2e_ms=%.2f "
	       "e2e_gbps=%.2f e2e_payload_gbps=%.2f pageable_h2d_gbps=%.2f pinned_h2d_gbps=%.2f\n",
	       mib, (staging ? staging : (uint64_t)2 << 20) >> 10, io_threads,
	       (double)best_e2e / 1e6, gbps(d.in_len + d.out_len, best_e2e),
	       gbps(d.in_len, best_e2e), gbps(payload, best_pageable),
	       gbps(payload, best_pinned));
	CK(cudaFree(dev));
	CK(cudaFreeHost(pinned));
	close(in_fd);
	close(out_fd);
	free(x);
	return 0;
}

int main(int argc, char **argv)
{
	char why[VGPU_MSG_LEN] = "";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: see the head of bench/gpu/cuda_bench.cu\n");
		return 2;
	}
	/* procs mode must not touch CUDA before fork. */
	if (strcmp(argv[1], "procs") && vgpu_backend_cuda.probe(why)) {
		printf("SKIP %s: %s\n", argv[1], why);
		return 0;
	}
	if (!strcmp(argv[1], "launch") && argc == 3)
		return mode_launch(atoi(argv[2]));
	if (!strcmp(argv[1], "noop") && argc == 3)
		return mode_noop(atoi(argv[2]));
	if (!strcmp(argv[1], "spin") && argc == 4)
		return mode_spin(strtoull(argv[2], NULL, 0), atof(argv[3]));
	if (!strcmp(argv[1], "procs") && argc == 5)
		return mode_procs(atoi(argv[2]), strtoull(argv[3], NULL, 0), atof(argv[4]));
	if (!strcmp(argv[1], "backend") && argc == 5)
		return mode_backend(atoi(argv[2]), strtoull(argv[3], NULL, 0), atof(argv[4]));
	if (!strcmp(argv[1], "isolation") && argc >= 5) {
		int p = argc > 5 ? vgpu_op_from_name(argv[5]) : VGPU_OP_SPIN;
		int l = argc > 6 ? vgpu_op_from_name(argv[6]) : VGPU_OP_SGEMM;

		if ((p != VGPU_OP_SPIN && p != VGPU_OP_SGEMM) ||
		    (l != VGPU_OP_SGEMM && l != VGPU_OP_SAXPY)) {
			fprintf(stderr, "vgpu-cuda-bench: isolation: probe spin|sgemm, "
				"load sgemm|saxpy\n");
			return 2;
		}
		probe = (uint32_t)p;
		load = (uint32_t)l;
		return mode_isolation((unsigned int)atoi(argv[2]), (unsigned int)atoi(argv[3]),
				      atof(argv[4]),
				      argc > 7 ? strtoull(argv[7], NULL, 0) << 10 : 0);
	}
	if (!strcmp(argv[1], "datapath") && argc >= 3)
		return mode_datapath(strtoull(argv[2], NULL, 0),
				     argc > 3 ? strtoull(argv[3], NULL, 0) << 10 : 0,
				     argc > 4 ? (unsigned int)atoi(argv[4]) : 2);
	fprintf(stderr, "vgpu-cuda-bench: bad arguments\n");
	return 2;
}
