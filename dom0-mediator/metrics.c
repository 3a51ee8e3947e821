// SPDX-License-Identifier: MIT
/*
 * Prometheus' text format on HTTP GET /metrics (metrics_listen, off by
 * default), served by Debian's libmicrohttpd on a thread of its own. See
 * Documentation/mediator.rst for the metrics.
 *
 * Threads: the server's thread never touches struct mediator. For each
 * scrape it bumps @asked and writes the eventfd; the main thread's
 * on_ask() takes a copy (snap.c: m->vms and the main thread's counters
 * as they are, the [L] ones under m->lock) and hands it over under @mu;
 * the server's thread formats it without any lock of the mediator's. A
 * scrape waits at most SCRAPE_WAIT_MS for the main thread.
 *
 * GPU memory and utilisation come from NVML, opened with dlopen() so that
 * a host without the NVIDIA driver (libnvidia-ml.so.1) simply has none.
 *
 * Built with VGPU_HAVE_MHD (dom0-mediator/build.mk); the GPU machine's
 * standalone build (bench/gpu/device.mk) has no libmicrohttpd and refuses
 * metrics_listen at the start.
 */
#include <arpa/inet.h>
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "mediator.h"
#include "metrics.h"
#include "snap.h"

#ifdef VGPU_HAVE_MHD
#include <microhttpd.h>

#define SCRAPE_WAIT_MS	2000
#define NVML_GPUS_MAX	8

/* The few NVML calls we use (nvml.h's types, which Debian ships only with the driver). */
typedef int nvmlReturn_t;	/* 0: NVML_SUCCESS */
typedef struct nvmlDevice *nvmlDevice_t;
typedef struct { unsigned long long total, free, used; } nvmlMemory_t;
typedef struct { unsigned int gpu, memory; } nvmlUtilization_t;	/* percent */

struct nvml {
	void *lib;			/* NULL: no NVML */
	unsigned int ngpus;
	nvmlDevice_t dev[NVML_GPUS_MAX];
	nvmlReturn_t (*mem)(nvmlDevice_t, nvmlMemory_t *);
	nvmlReturn_t (*util)(nvmlDevice_t, nvmlUtilization_t *);
	nvmlReturn_t (*shutdown)(void);
};

struct metrics {
	struct MHD_Daemon *d;
	int efd;			/* eventfd: a scrape asks the main thread */
	struct nvml nvml;		/* opened before the server starts */
	pthread_mutex_t mu;		/* guards the fields below */
	pthread_cond_t cv;
	uint64_t asked, answered;	/* scrapes asked for, copies made */
	bool stopping;
	bool have;			/* @snap holds a copy not yet taken */
	struct snap snap;
};

static void nvml_open(struct nvml *n)
{
	nvmlReturn_t (*init)(void), (*count)(unsigned int *);
	nvmlReturn_t (*handle)(unsigned int, nvmlDevice_t *);
	unsigned int c = 0;

	memset(n, 0, sizeof(*n));
	n->lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!n->lib) {
		log_debug("metrics: no NVML (%s); no GPU metrics", dlerror());
		return;
	}
	*(void **)&init = dlsym(n->lib, "nvmlInit_v2");
	*(void **)&count = dlsym(n->lib, "nvmlDeviceGetCount_v2");
	*(void **)&handle = dlsym(n->lib, "nvmlDeviceGetHandleByIndex_v2");
	*(void **)&n->mem = dlsym(n->lib, "nvmlDeviceGetMemoryInfo");
	*(void **)&n->util = dlsym(n->lib, "nvmlDeviceGetUtilizationRates");
	*(void **)&n->shutdown = dlsym(n->lib, "nvmlShutdown");
	if (!init || !count || !handle || !n->mem || !n->util || !n->shutdown || init() ||
	    count(&c)) {
		log_warnx("metrics: NVML is there but does not answer; no GPU metrics");
		dlclose(n->lib);
		n->lib = NULL;
		return;
	}
	for (unsigned int i = 0; i < c && n->ngpus < NVML_GPUS_MAX; i++)
		if (!handle(i, &n->dev[n->ngpus]))
			n->ngpus++;
	log_info("metrics: NVML sees %u GPU%s", n->ngpus, n->ngpus == 1 ? "" : "s");
}

static void nvml_close(struct nvml *n)
{
	if (!n->lib)
		return;
	n->shutdown();
	dlclose(n->lib);
	n->lib = NULL;
}

static void help(FILE *f, const char *name, const char *type, const char *text)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, type);
}

static void hist(FILE *f, const char *name, const char *vm, const struct stats_hist *h)
{
	uint64_t cum = 0;

	for (unsigned int i = 0; i < STATS_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		fprintf(f, "%s_bucket{vm=\"%s\",le=\"%g\"} %" PRIu64 "\n", name, vm,
			(double)stats_hist_le_ns[i] / 1e9, cum);
	}
	fprintf(f, "%s_bucket{vm=\"%s\",le=\"+Inf\"} %" PRIu64 "\n", name, vm, h->count);
	fprintf(f, "%s_sum{vm=\"%s\"} %.9f\n", name, vm, (double)h->sum_ns / 1e9);
	fprintf(f, "%s_count{vm=\"%s\"} %" PRIu64 "\n", name, vm, h->count);
}

/* One counter or gauge per VM: @off is the field's offset in struct vm_stats. */
static void per_vm(FILE *f, const struct snap *s, const char *name, const char *type,
		   const char *text, size_t off)
{
	help(f, name, type, text);
	for (unsigned int i = 0; i < s->nvms; i++)
		fprintf(f, "%s{vm=\"%s\"} %" PRIu64 "\n", name, s->vms[i].conf.name,
			*(const uint64_t *)((const char *)&s->vms[i].st + off));
}

#define VM_STAT(f, s, name, text, field) \
	per_vm(f, s, "vgpu_vm_" name, "counter", text, offsetof(struct vm_stats, field))

static void format(FILE *f, const struct snap *s, const struct nvml *n)
{
	help(f, "vgpu_info", "gauge", "The mediator's backend (always 1).");
	fprintf(f, "vgpu_info{backend=\"%s\"} 1\n", s->backend);
	help(f, "vgpu_config_last_reload_successful", "gauge",
	     "0 if the last SIGHUP found an error and kept the previous config.");
	fprintf(f, "vgpu_config_last_reload_successful %d\n", !s->reload_failed);

	help(f, "vgpu_pool_queued_jobs", "gauge", "Jobs waiting in a pool's queue, per priority.");
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++)
		for (unsigned int l = 0; l < VGPU_NR_PRIOS; l++)
			fprintf(f, "vgpu_pool_queued_jobs{pool=\"%s\",priority=\"%s\"} %u\n",
				vgpu_pool_name(p), vgpu_prio_name(l), s->pools[p].depth[l]);
	help(f, "vgpu_pool_running_jobs", "gauge", "1 while a pool's worker runs a job.");
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++)
		fprintf(f, "vgpu_pool_running_jobs{pool=\"%s\"} %d\n", vgpu_pool_name(p),
			s->pools[p].running);
	help(f, "vgpu_pool_jobs_done_total", "counter", "Jobs a pool's worker has finished.");
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++)
		fprintf(f, "vgpu_pool_jobs_done_total{pool=\"%s\"} %" PRIu64 "\n",
			vgpu_pool_name(p), s->pools[p].done);

	help(f, "vgpu_vm_info", "gauge", "A configured VM: its vm_id, pool and priority (always 1).");
	for (unsigned int i = 0; i < s->nvms; i++) {
		const struct vm_conf *c = &s->vms[i].conf;

		fprintf(f, "vgpu_vm_info{vm=\"%s\",vm_id=\"%" PRIu32 "\",pool=\"%s\","
			"priority=\"%s\"} 1\n", c->name, c->id, vgpu_pool_name(c->pool),
			vgpu_prio_name(c->prio));
	}
	help(f, "vgpu_vm_jobs", "gauge", "A VM's jobs queued or running.");
	for (unsigned int i = 0; i < s->nvms; i++)
		fprintf(f, "vgpu_vm_jobs{vm=\"%s\"} %u\n", s->vms[i].conf.name, s->vms[i].jobs);
	VM_STAT(f, s, "jobs_accepted_total", "Requests accepted into a queue.", accepted);
	VM_STAT(f, s, "jobs_completed_total", "Jobs answered with success.", completed);
	VM_STAT(f, s, "jobs_failed_total", "Jobs answered with an error by the backend.", failed);
	VM_STAT(f, s, "jobs_rejected_total", "Requests refused before queueing (malformed, "
		"too large, queue full).", rejected);
	VM_STAT(f, s, "responses_expired_total", "Responses deleted uncollected after "
		"response_ttl_s.", expired);
	VM_STAT(f, s, "received_bytes_total", "Request bytes accepted.", bytes_in);
	VM_STAT(f, s, "sent_bytes_total", "Output bytes of completed jobs.", bytes_out);
	VM_STAT(f, s, "session_jobs_total", "Session jobs run (protocol version 2).", sess_jobs);
	VM_STAT(f, s, "executor_restarts_total", "Session executors started after the VM's "
		"first (each one's state was lost).", exec_restarts);
	VM_STAT(f, s, "executor_deaths_total", "Session executors that died: crashed, lost "
		"the device, killed at the time limit or from outside.", exec_deaths);
	VM_STAT(f, s, "session_timeouts_total", "Session jobs killed at "
		"session_time_limit_ms.", sess_timeouts);
	VM_STAT(f, s, "mps_faults_total", "MPS-mode executors of the VM that faulted, died or "
		"timed out: each restarted the MPS daemon and its other clients.", mps_faults);
	VM_STAT(f, s, "mps_lost_total", "The VM's MPS-mode executors killed by another VM's "
		"fault (in-flight jobs answered -EIO).", mps_lost);
	VM_STAT(f, s, "mps_demotions_total", "Times the VM was moved from MPS back to process "
		"isolation for faulting mps_fault_limit times in mps_fault_window_s.",
		mps_demotions);
	help(f, "vgpu_vm_isolation_mps", "gauge", "1 while the VM's executor is an MPS client "
	     "(isolation = mps, not demoted).");
	for (unsigned int i = 0; i < s->nvms; i++)
		fprintf(f, "vgpu_vm_isolation_mps{vm=\"%s\"} %d\n", s->vms[i].conf.name,
			s->vms[i].mps);
	help(f, "vgpu_mps_daemon_up", "gauge", "1 while the mediator's MPS daemon runs.");
	fprintf(f, "vgpu_mps_daemon_up %d\n", s->mps_up);
	help(f, "vgpu_mps_daemon_restarts_total", "counter", "MPS daemon restarts after a "
	     "client's fault.");
	fprintf(f, "vgpu_mps_daemon_restarts_total %" PRIu64 "\n", s->mps_restarts);
	help(f, "vgpu_vm_gpu_seconds_total", "counter", "Time the VM's jobs ran on the backend.");
	for (unsigned int i = 0; i < s->nvms; i++)
		fprintf(f, "vgpu_vm_gpu_seconds_total{vm=\"%s\"} %.9f\n", s->vms[i].conf.name,
			(double)s->vms[i].st.run.sum_ns / 1e9);
	help(f, "vgpu_vm_executor_seconds_total", "counter", "Of the VM's session jobs' time, "
	     "the time inside its executors, by their clocks.");
	for (unsigned int i = 0; i < s->nvms; i++)
		fprintf(f, "vgpu_vm_executor_seconds_total{vm=\"%s\"} %.9f\n", s->vms[i].conf.name,
			(double)s->vms[i].st.exec_ns / 1e9);
	help(f, "vgpu_vm_job_wait_seconds", "histogram", "Time from accepted to started, per job.");
	for (unsigned int i = 0; i < s->nvms; i++)
		hist(f, "vgpu_vm_job_wait_seconds", s->vms[i].conf.name, &s->vms[i].st.wait);
	help(f, "vgpu_vm_job_run_seconds", "histogram", "Time the backend ran each job.");
	for (unsigned int i = 0; i < s->nvms; i++)
		hist(f, "vgpu_vm_job_run_seconds", s->vms[i].conf.name, &s->vms[i].st.run);

	if (!n->lib || !n->ngpus)
		return;
	help(f, "vgpu_gpu_memory_used_bytes", "gauge", "GPU memory in use (NVML).");
	for (unsigned int g = 0; g < n->ngpus; g++) {
		nvmlMemory_t mem;

		if (!n->mem(n->dev[g], &mem))
			fprintf(f, "vgpu_gpu_memory_used_bytes{gpu=\"%u\"} %llu\n", g, mem.used);
	}
	help(f, "vgpu_gpu_memory_total_bytes", "gauge", "GPU memory (NVML).");
	for (unsigned int g = 0; g < n->ngpus; g++) {
		nvmlMemory_t mem;

		if (!n->mem(n->dev[g], &mem))
			fprintf(f, "vgpu_gpu_memory_total_bytes{gpu=\"%u\"} %llu\n", g, mem.total);
	}
	help(f, "vgpu_gpu_utilization_ratio", "gauge",
	     "Share of the last sample period a kernel ran (NVML).");
	for (unsigned int g = 0; g < n->ngpus; g++) {
		nvmlUtilization_t u;

		if (!n->util(n->dev[g], &u))
			fprintf(f, "vgpu_gpu_utilization_ratio{gpu=\"%u\"} %.2f\n", g, u.gpu / 100.0);
	}
}

/* The server's thread: a copy from the main thread, or -ETIMEDOUT. */
static int ask_copy(struct metrics *mt, struct snap *s)
{
	struct timespec until;
	uint64_t one = 1, mine;
	int err = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SCRAPE_WAIT_MS / 1000;
	pthread_mutex_lock(&mt->mu);
	mine = ++mt->asked;
	if (write(mt->efd, &one, sizeof(one)) != sizeof(one))
		err = -errno;
	while (!err && !mt->stopping && mt->answered < mine)
		err = -pthread_cond_timedwait(&mt->cv, &mt->mu, &until);
	if (!err && (mt->stopping || !mt->have))
		err = -ESHUTDOWN;
	if (!err) {
		*s = mt->snap;		/* ours now */
		mt->have = false;
	}
	pthread_mutex_unlock(&mt->mu);
	return err;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **req_cls)
{
	static const char not_found[] = "only /metrics here\n";
	struct metrics *mt = cls;
	struct MHD_Response *r;
	unsigned int code = MHD_HTTP_OK;
	enum MHD_Result ret;
	char *text = NULL;
	size_t len = 0;
	struct snap s;
	FILE *f;

	(void)version;
	(void)upload;
	(void)upload_size;
	(void)req_cls;
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return MHD_NO;
	if (strcmp(url, "/metrics")) {
		r = MHD_create_response_from_buffer(sizeof(not_found) - 1, (void *)not_found,
						    MHD_RESPMEM_PERSISTENT);
		code = MHD_HTTP_NOT_FOUND;
	} else if (ask_copy(mt, &s)) {
		return MHD_NO;		/* the main thread is busy or leaving */
	} else {
		f = open_memstream(&text, &len);
		if (f) {
			format(f, &s, &mt->nvml);
			if (fclose(f))
				len = 0;
		}
		snap_free(&s);
		if (!f || !len) {
			free(text);
			return MHD_NO;
		}
		r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
	}
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				"text/plain; version=0.0.4; charset=utf-8");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* Main thread: a scrape asks for a copy. */
static void on_ask(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct mediator *m = ctx;
	struct metrics *mt = m->metrics;
	uint64_t n, asked;
	struct snap s;

	(void)l;
	(void)events;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&mt->mu);
	asked = mt->asked;
	pthread_mutex_unlock(&mt->mu);
	if (snap_take(m, &s, false)) {
		log_warnx("metrics: out of memory");
		return;		/* that scrape times out */
	}
	pthread_mutex_lock(&mt->mu);
	if (mt->have)
		snap_free(&mt->snap);	/* not taken: its scrape gave up */
	mt->snap = s;
	mt->have = true;
	mt->answered = asked;
	pthread_cond_broadcast(&mt->cv);
	pthread_mutex_unlock(&mt->mu);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warnx("metrics: %s", msg);
}

int metrics_start(struct mediator *m)
{
	const struct conf *c = &m->conf;
	struct sockaddr_in6 sa6 = { .sin6_family = AF_INET6, .sin6_port = htons(c->metrics_port) };
	struct sockaddr_in sa4 = { .sin_family = AF_INET, .sin_port = htons(c->metrics_port) };
	struct sockaddr *sa = (struct sockaddr *)&sa4;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	struct metrics *mt;
	int err;

	if (!c->metrics_family)
		return 0;
	if (c->metrics_family == AF_INET6) {
		memcpy(&sa6.sin6_addr, c->metrics_addr, sizeof(sa6.sin6_addr));
		sa = (struct sockaddr *)&sa6;
		flags |= MHD_USE_IPv6;
	} else {
		memcpy(&sa4.sin_addr, c->metrics_addr, sizeof(sa4.sin_addr));
	}
	mt = calloc(1, sizeof(*mt));
	if (!mt) {
		log_errx("metrics: out of memory");
		return -ENOMEM;
	}
	pthread_mutex_init(&mt->mu, NULL);
	pthread_cond_init(&mt->cv, NULL);
	mt->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	err = mt->efd < 0 ? -errno : loop_add(m->loop, mt->efd, EPOLLIN, on_ask, m);
	if (err) {
		log_errx("metrics: %s", strerror(-err));
		goto fail;
	}
	m->metrics = mt;
	nvml_open(&mt->nvml);
	mt->d = MHD_start_daemon(flags, c->metrics_port, NULL, NULL, on_request, mt,
				 MHD_OPTION_SOCK_ADDR, sa,
				 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
				 MHD_OPTION_CONNECTION_LIMIT, 16u,
				 MHD_OPTION_CONNECTION_TIMEOUT, 10u,
				 MHD_OPTION_END);
	if (!mt->d) {
		err = -EADDRNOTAVAIL;
		log_errx("metrics_listen = %s: cannot listen there (in use, or not an address "
			 "of this host?)", c->metrics_text);
		metrics_stop(m);
		return err;
	}
	log_info("metrics on http://%s/metrics", c->metrics_text);
	return 0;
fail:
	if (mt->efd >= 0)
		close(mt->efd);
	free(mt);
	return err;
}

void metrics_stop(struct mediator *m)
{
	struct metrics *mt = m->metrics;

	if (!mt)
		return;
	pthread_mutex_lock(&mt->mu);
	mt->stopping = true;		/* a scrape waiting for us gives up */
	pthread_cond_broadcast(&mt->cv);
	pthread_mutex_unlock(&mt->mu);
	if (mt->d)
		MHD_stop_daemon(mt->d);
	nvml_close(&mt->nvml);
	loop_del(m->loop, mt->efd);
	close(mt->efd);
	if (mt->have)
		snap_free(&mt->snap);
	pthread_cond_destroy(&mt->cv);
	pthread_mutex_destroy(&mt->mu);
	free(mt);
	m->metrics = NULL;
}
#else	/* !VGPU_HAVE_MHD */
int metrics_start(struct mediator *m)
{
	if (!m->conf.metrics_family)
		return 0;
	log_errx("metrics_listen = %s: this build has no libmicrohttpd", m->conf.metrics_text);
	return -ENOTSUP;
}

void metrics_stop(struct mediator *m)
{
	(void)m;
}
#endif
