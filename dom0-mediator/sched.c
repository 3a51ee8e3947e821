// SPDX-License-Identifier: MIT
/*
 * Queues, workers and publishers. Each pool has one worker thread that
 * takes the next job by its pool's policy (queue.c: strict, aging or
 * weighted) and runs it to completion: non-preemptive, one job at a time
 * per pool. The two pools' workers run concurrently. The worker measures
 * each job's time in the backend and charges it to the job's VM (its
 * counters, and its flow under the weighted policy).
 *
 * Answering a job (trailer, fsync, rename into rsp/) is not on the
 * worker's path to its next job: while more jobs wait, the worker hands
 * each one it ran to its pool's publisher thread and starts the next;
 * when none waits and none is being answered, it answers the job itself
 * (the shortest path for a lone request). Either way a pool's answers are
 * published once each, in the order its jobs ran.
 *
 * A worker touches its pool ([L]: queue, running job, ran list; its own
 * list buffer, which it lets go after POOL_LIST_IDLE_MS idle), the job
 * it popped (its own until handed over or freed), that job's VM (sp,
 * conf.name, [L] counters and flow, vm_warnx, vm_put) and the backend's
 * pool slot; a session job (op session, protocol version 2) it runs
 * through exec.c on the VM's executor instead of the backend. A
 * publisher touches its pool's ran list and done count [L], the jobs
 * handed to it and their VMs likewise. The other functions here
 * run on the main thread: they queue what acceptance accepted, move a
 * VM's jobs and set the pools' policies on a reload, start and stop the
 * threads (workers first, then the publishers once they have answered
 * everything the workers ran).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "job.h"
#include "log.h"
#include "mediator.h"
#include "respond.h"
#include "vgpu/session.h"

struct worker_arg {
	struct mediator *m;
	unsigned int pool;
};

static struct worker_arg worker_args[VGPU_NR_POOLS];

/* Wakes @p's worker, sleeping or polling. Called with m->lock held. */
static void kick(struct pool *p)
{
	atomic_fetch_add_explicit(&p->kicks, 1, memory_order_release);
	pthread_cond_signal(&p->wake);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/*
 * After a job, poll for the next one for @spin_ns before sleeping: a client
 * that sends its next request as soon as it has an answer finds the worker
 * awake, and saves the wake-up of a sleeping thread (a cross-CPU interrupt,
 * a VM exit under a hypervisor: 5 to 10 us). The publisher polls the same
 * way for the next job run. Watches @kicks (the kick() or kick_publisher()
 * count); called and returns with m->lock held, which it drops meanwhile.
 */
static void poll_for_work(struct mediator *m, atomic_uint *kicks, uint64_t spin_ns)
{
	unsigned int seen = atomic_load_explicit(kicks, memory_order_acquire);
	uint64_t until;

	pthread_mutex_unlock(&m->lock);
	until = vgpu_now_ns() + spin_ns;
	while (atomic_load_explicit(kicks, memory_order_acquire) == seen &&
	       vgpu_now_ns() < until)
		cpu_relax();
	pthread_mutex_lock(&m->lock);
}

void sched_enqueue(struct mediator *m, struct job *j)
{
	struct pool *p;

	pthread_mutex_lock(&m->lock);
	p = &m->pools[j->vm->conf.pool];
	j->prio = j->vm->conf.prio;
	j->flow = &j->vm->flow;
	jobq_push(&p->q, j);
	kick(p);
	pthread_mutex_unlock(&m->lock);
}

void sched_flush(struct mediator *m)
{
	bool wake[VGPU_NR_POOLS] = { false };
	struct job *j;

	if (TAILQ_EMPTY(&m->accepted))
		return;
	/*
	 * A VM's last id reaches its state file before any job of this batch
	 * can run, so an id answered and collected is never forgotten. A VM
	 * whose id cannot be stored is broken: its jobs wait in its private
	 * record until it is repaired.
	 */
	TAILQ_FOREACH(j, &m->accepted, entry) {
		if (j->vm->last_id_dirty) {
			vm_store_last_id(j->vm);
			j->vm->last_id_dirty = false;
		}
	}
	pthread_mutex_lock(&m->lock);
	while ((j = TAILQ_FIRST(&m->accepted))) {
		unsigned int pool = j->vm->conf.pool;

		TAILQ_REMOVE(&m->accepted, j, entry);
		if (j->vm->broken != VM_OK) {
			struct vm *vm = j->vm;

			atomic_fetch_sub(&vm->jobs, 1);
			job_free(j);
			vm_put(vm);	/* the config holds another reference */
			continue;
		}
		j->prio = j->vm->conf.prio;
		j->flow = &j->vm->flow;
		jobq_push(&m->pools[pool].q, j);
		wake[pool] = true;
	}
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++)
		if (wake[i])
			kick(&m->pools[i]);
	pthread_mutex_unlock(&m->lock);
}

void sched_move_vm(struct mediator *m, struct vm *vm, unsigned int pool, unsigned int prio)
{
	struct job_list moved = TAILQ_HEAD_INITIALIZER(moved);
	struct job *j, *tmp;

	pthread_mutex_lock(&m->lock);
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++) {
		for (unsigned int l = 0; l < VGPU_NR_PRIOS; l++) {
			TAILQ_FOREACH_SAFE(j, &m->pools[p].q.q[l], entry, tmp) {
				if (j->vm != vm)
					continue;
				jobq_remove(&m->pools[p].q, j);
				TAILQ_INSERT_TAIL(&moved, j, entry);
			}
		}
	}
	vm->conf.pool = pool;
	vm->conf.prio = prio;
	while ((j = TAILQ_FIRST(&moved))) {
		TAILQ_REMOVE(&moved, j, entry);
		j->prio = prio;
		jobq_push(&m->pools[pool].q, j);	/* keeps arrival order */
	}
	kick(&m->pools[pool]);
	pthread_mutex_unlock(&m->lock);
}

void sched_set_policies(struct mediator *m, const struct pool_sched *ps)
{
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++) {
		struct jobq *q = &m->pools[i].q;
		uint64_t aging_ns = (uint64_t)ps[i].aging_ms * 1000000;

		if (q->policy != ps[i].policy ||
		    (ps[i].policy == SCHED_AGING && q->aging_ns != aging_ns))
			log_info("pool %s: policy %s, aging_ms %u", vgpu_pool_name(i),
				 sched_policy_name(ps[i].policy), ps[i].aging_ms);
		jobq_set_policy(q, ps[i].policy, aging_ns);
		kick(&m->pools[i]);
	}
	pthread_mutex_unlock(&m->lock);
}

/*
 * Open @j's accepted request in its VM's private record, unless it kept
 * the fd acceptance opened it with (job_keep_fd(): a bounded number do, so
 * a VM's queue costs no more descriptors than that). A kept fd is the
 * inode acceptance checked (a regular file with one link, of the
 * request's size), so the worker's path to the GPU has no system call in
 * it. What a guest holding an NFS handle to the file may do to it since
 * (write, resize or link it, before the run or during it) costs nobody
 * else: its input is checked for length and CRC as it is read, the file
 * is cut to its answer's exact length before it is published
 * (rsp_finish_job()), and the inode is still that guest's own request.
 */
static int open_job(struct job *j)
{
	char name[VGPU_ID_NAME_LEN + 1];
	struct stat st;

	if (j->fd >= 0)
		return 0;
	vgpu_id_name(j->hdr.id, name);
	j->fd = openat(j->vm->priv, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (j->fd < 0) {
		vm_warnx(j->vm, "cannot open accepted request %s (run again at the next "
			 "start): %s", name, strerror(errno));
		return -EIO;
	}
	if (fstat(j->fd, &st) < 0 || !S_ISREG(st.st_mode)) {	/* only we name files there */
		vm_warnx(j->vm, "accepted request %s is no regular file; dropped", name);
		close(j->fd);
		j->fd = -1;
		unlinkat(j->vm->priv, name, 0);
		return -EBADMSG;
	}
	return 0;
}

/*
 * Run @j on @pool's backend and record the outcome in it for publishing;
 * started_ns (stamped by the worker as it took @j, the end of its wait)
 * and finished_ns bracket the backend's run (its run time).
 * Called without the lock.
 */
static void run_job(struct mediator *m, unsigned int pool, struct job *j)
{
	struct vm *vm = j->vm;
	uint64_t req_size = j->hdr.hdr_size + j->hdr.payload_len;
	struct vgpu_job_desc desc = {
		.op = j->hdr.op, .in_len = j->hdr.payload_len, .out_len = j->hdr.out_len,
		.vm_id = j->vm_id,
	};
	struct vgpu_job io;
	int err;

	j->msg[0] = '\0';
	memcpy(desc.args, j->hdr.args, sizeof(desc.args));
	err = open_job(j);
	if (err) {
		j->finished_ns = vgpu_now_ns();	/* ran for no time: run_ns stays sane */
		j->status = err;	/* rsp_finish_job() leaves it to recovery */
		return;
	}
	/* The output follows the request in the same file (see accept.c). */
	vgpu_job_init_file(&io, &j->hdr, j->fd, j->hdr.hdr_size, j->fd, req_size);
	io.team = m->pools[pool].team;
	err = m->be_ops->run(m->be, pool, &desc, &io, j->msg);
	j->finished_ns = vgpu_now_ns();
	if (!err && !vgpu_job_output_complete(&io)) {
		snprintf(j->msg, sizeof(j->msg), "backend wrote %" PRIu64 " of %" PRIu64 " bytes",
			 j->hdr.out_len - io.out_left, j->hdr.out_len);
		err = -EIO;
	}
	if (err && !j->msg[0])
		snprintf(j->msg, sizeof(j->msg), "%s failed: %s", vgpu_op_name(j->hdr.op),
			 strerror(-err));
	if (err)
		vm_warnx(vm, "job %016" PRIx64 " (%s) failed: %s", j->hdr.id,
			 vgpu_op_name(j->hdr.op), j->msg);
	else
		snprintf(j->msg, sizeof(j->msg), "ok");
	j->status = err;
	j->out_len = j->hdr.out_len;
	j->out_crc = io.out_crc;
}

/* Run session job @j on its VM's executor (exec.c), its file opened first. */
static void run_session(struct mediator *m, unsigned int pool, struct job *j,
			const struct exec_limits *lim, unsigned int *events)
{
	int err = open_job(j);

	if (err) {
		j->status = err;	/* rsp_finish_job() leaves it to recovery */
		j->finished_ns = j->started_ns;
		return;
	}
	exec_run(m, pool, j, lim, events);
}

/* A session job's counters, with m->lock held. */
static void count_session(struct vm *vm, const struct job *j, unsigned int events)
{
	vm->st.sess_jobs++;
	vm->st.exec_ns += j->exec_ns;
	if (events & EXEC_EV_RESTARTED)
		vm->st.exec_restarts++;
	if (events & (EXEC_EV_DIED | EXEC_EV_TIMEOUT))
		vm->st.exec_deaths++;
	if (events & EXEC_EV_TIMEOUT)
		vm->st.sess_timeouts++;
	if (events & EXEC_EV_MPS_FAULT)
		vm->st.mps_faults++;
	if (events & EXEC_EV_MPS_LOST)
		vm->st.mps_lost++;
	if (events & EXEC_EV_DEMOTED)
		vm->st.mps_demotions++;
}

/*
 * Answer the jobs of @batch in order, then count them and let them go.
 * Called without the lock, which it takes once for the whole batch.
 */
static void publish(struct mediator *m, struct pool *p, struct job_list *batch)
{
	bool do_fsync = atomic_load(&m->conf.fsync);
	struct job *j;

	TAILQ_FOREACH(j, batch, entry)
		if (rsp_finish_job(j, do_fsync))
			j->status = -EIO;	/* retried with backoff, or at a restart */
	pthread_mutex_lock(&m->lock);
	TAILQ_FOREACH(j, batch, entry) {
		struct vm *vm = j->vm;

		p->done++;
		if (j->status) {
			vm->st.failed++;
		} else {
			vm->st.completed++;
			vm->st.bytes_out += j->out_len;
		}
		atomic_fetch_sub(&vm->jobs, 1);
	}
	p->publishing = false;
	pthread_mutex_unlock(&m->lock);
	while ((j = TAILQ_FIRST(batch))) {
		struct vm *vm = j->vm;

		TAILQ_REMOVE(batch, j, entry);
		job_free(j);
		vm_put(vm);
	}
}

/* Wakes @p's publisher, sleeping or polling. Called with m->lock held. */
static void kick_publisher(struct pool *p)
{
	atomic_fetch_add_explicit(&p->publish_kicks, 1, memory_order_release);
	pthread_cond_signal(&p->publish_wake);
}

/*
 * The publisher of a pool: appends the trailers of the jobs its worker
 * ran, fsyncs if configured and renames them into rsp/, in the order they
 * ran, while the worker runs the next ones. Touches the jobs handed to it
 * (p->ran), their VMs' spools and [L] counters, and nothing else.
 */
static void *publisher(void *arg)
{
	struct worker_arg *wa = arg;
	struct mediator *m = wa->m;
	struct pool *p = &m->pools[wa->pool];
	uint64_t spin_ns = (uint64_t)m->conf.worker_spin_us * 1000;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		struct job_list batch = TAILQ_HEAD_INITIALIZER(batch);

		if (spin_ns && !p->publish_stop && TAILQ_EMPTY(&p->ran))
			poll_for_work(m, &p->publish_kicks, spin_ns);
		while (TAILQ_EMPTY(&p->ran) && !p->publish_stop)
			pthread_cond_wait(&p->publish_wake, &m->lock);
		if (TAILQ_EMPTY(&p->ran))	/* stopping, and all answered */
			break;
		TAILQ_CONCAT(&batch, &p->ran, entry);
		p->publishing = true;
		pthread_mutex_unlock(&m->lock);
		publish(m, p, &batch);
		pthread_mutex_lock(&m->lock);
	}
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

/*
 * A job the backend has run into its VM's histograms (queued to started,
 * and the backend's run) and the trace. With m->lock held.
 */
static void account(struct mediator *m, const struct job *j)
{
	struct vm *vm = j->vm;
	struct trace_rec t = {
		.id = j->hdr.id, .queued_ns = j->queued_ns, .started_ns = j->started_ns,
		.finished_ns = j->finished_ns, .op = j->hdr.op, .vm_id = j->vm_id,
		.status = j->status, .pool = (uint8_t)j->pool, .prio = (uint8_t)j->prio,
	};

	memcpy(t.vm, vm->conf.name, sizeof(t.vm));
	if (!t.queued_ns || t.queued_ns > t.started_ns)
		t.queued_ns = t.started_ns;	/* not measured */
	stats_hist_add(&vm->st.wait, t.started_ns - t.queued_ns);
	stats_hist_add(&vm->st.run, t.finished_ns - t.started_ns);
	trace_ring_add(&m->trace, &t);
}

/*
 * Wait on @cv for at most @ms (it runs on CLOCK_MONOTONIC: pool_init()).
 * True if the time ran out.
 */
static bool wait_ms(pthread_cond_t *cv, pthread_mutex_t *lock, unsigned int ms)
{
	uint64_t until = vgpu_now_ns() + (uint64_t)ms * 1000000;
	struct timespec ts = { .tv_sec = (time_t)(until / 1000000000),
			       .tv_nsec = (long)(until % 1000000000) };

	return pthread_cond_timedwait(cv, lock, &ts) == ETIMEDOUT;
}

static void *worker(void *arg)
{
	struct worker_arg *wa = arg;
	struct mediator *m = wa->m;
	struct pool *p = &m->pools[wa->pool];
	uint64_t spin_ns = (uint64_t)m->conf.worker_spin_us * 1000;

	pthread_mutex_lock(&m->lock);
	for (;;) {
		uint64_t now, run_ns;
		struct exec_limits lim;
		unsigned int events = 0;
		struct job *j;

		if (spin_ns && !m->stopping && !jobq_len(&p->q))
			poll_for_work(m, &p->kicks, spin_ns);
		while (!m->stopping && !jobq_len(&p->q)) {
			if (!p->list_buf) {
				pthread_cond_wait(&p->wake, &m->lock);
			} else if (wait_ms(&p->wake, &m->lock, POOL_LIST_IDLE_MS)) {
				/* idle: let it go, unmapped without the lock */
				pthread_mutex_unlock(&m->lock);
				exec_drop_list_buf(p);
				pthread_mutex_lock(&m->lock);
			}
		}
		if (m->stopping)	/* queued jobs stay on disk for next time */
			break;
		now = vgpu_now_ns();
		j = jobq_next(&p->q, now);
		j->pool = wa->pool;
		j->vm_id = j->vm->conf.id;
		p->running = j;
		p->running_since_ns = now;
		/* one stamp for the answer, the histograms and wait_ns */
		j->started_ns = now;
		if (j->queued_ns && j->queued_ns < now)	/* else not measured */
			j->vm->st.wait_ns += now - j->queued_ns;
		lim = (struct exec_limits){
			.mem_bytes = j->vm->conf.sess_mem, .module_bytes = j->vm->conf.sess_module,
			.handles = j->vm->conf.sess_handles, .time_ms = j->vm->conf.sess_time_ms,
			.isolation = j->vm->conf.isolation,
			.sm_percent = m->conf.sm_percent[wa->pool],
		};
		pthread_mutex_unlock(&m->lock);

		if (j->hdr.op == VGPU_OP_SESSION)
			run_session(m, wa->pool, j, &lim, &events);
		else
			run_job(m, wa->pool, j);

		pthread_mutex_lock(&m->lock);
		if (j->hdr.op == VGPU_OP_SESSION)
			count_session(j->vm, j, events);
		account(m, j);
		run_ns = j->finished_ns - j->started_ns;
		jobq_charge(&p->q, j, run_ns);
		j->vm->st.run_ns += run_ns;
		p->running = NULL;
		if (!jobq_len(&p->q) && TAILQ_EMPTY(&p->ran) && !p->publishing) {
			/*
			 * Nothing waits to run and nothing is being answered:
			 * answering it here is the shortest path, and keeps the
			 * order of answers the order of runs.
			 */
			struct job_list one = TAILQ_HEAD_INITIALIZER(one);

			TAILQ_INSERT_TAIL(&one, j, entry);
			p->publishing = true;
			pthread_mutex_unlock(&m->lock);
			publish(m, p, &one);
			pthread_mutex_lock(&m->lock);
		} else {
			/* The next job starts now; the publisher answers this one. */
			TAILQ_INSERT_TAIL(&p->ran, j, entry);
			kick_publisher(p);
		}
	}
	pthread_mutex_unlock(&m->lock);
	exec_drop_list_buf(p);
	return NULL;
}

void pool_init(struct pool *p)
{
	pthread_condattr_t ca;

	jobq_init(&p->q);
	TAILQ_INIT(&p->ran);
	/* CLOCK_MONOTONIC for wait_ms(); the realtime clock's default is
	 * the only other choice, and setting it cannot fail. */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_cond_init(&p->publish_wake, NULL);
}

static void start_failed(const char *what, unsigned int pool, const struct cpu_list *cpus,
			 int err)
{
	log_errx("cannot start the %s of pool %s%s%s: %s", what, vgpu_pool_name(pool),
		 cpus->set ? " on cpus " : "", cpus->set ? cpus->text : "",
		 err == EINVAL && cpus->set ? "none of those CPUs is online and allowed" :
		 strerror(err));
}

/* Start @fn as @p's thread @name, on the pool's CPUs if set; 0 or -errno. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg, const char *name,
			const struct cpu_list *cpus)
{
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	if (cpus->set)
		pthread_attr_setaffinity_np(&attr, sizeof(cpus->cpus), &cpus->cpus);
	err = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	if (!err)
		pthread_setname_np(*t, name);
	return -err;
}

int sched_start(struct mediator *m)
{
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++) {
		struct pool *p = &m->pools[i];
		const struct cpu_list *cpus = &m->conf.pool_cpus[i];
		char name[16];
		int err;

		/* "vgpu-pool-A" in top -H, ps -L and the like; helpers "vgpu-pool-A/1" */
		snprintf(name, sizeof(name), "vgpu-pool-%s", vgpu_pool_name(i));
		err = -vgpu_io_team_create(m->conf.io_threads[i],
					   (uint64_t)m->conf.worker_spin_us * 1000,
					   cpus->set ? &cpus->cpus : NULL, name, &p->team);
		if (err) {
			start_failed("I/O helpers", i, cpus, err);
			return -err;
		}
		worker_args[i] = (struct worker_arg){ m, i };
		err = -start_thread(&p->thread, worker, &worker_args[i], name, cpus);
		if (err) {
			start_failed("worker", i, cpus, err);
			return -err;
		}
		p->started = true;
		snprintf(name, sizeof(name), "vgpu-pool-%s/pub", vgpu_pool_name(i));
		err = -start_thread(&p->publisher, publisher, &worker_args[i], name, cpus);
		if (err) {
			start_failed("publisher", i, cpus, err);
			return -err;
		}
		p->publisher_started = true;
		if (cpus->set)
			log_info("pool %s: worker on cpus %s", vgpu_pool_name(i), cpus->text);
	}
	return 0;
}

void sched_stop(struct mediator *m)
{
	pthread_mutex_lock(&m->lock);
	m->stopping = true;
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++)
		kick(&m->pools[i]);
	pthread_mutex_unlock(&m->lock);
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++) {
		if (m->pools[i].started)
			pthread_join(m->pools[i].thread, NULL);
		m->pools[i].started = false;
		vgpu_io_team_destroy(m->pools[i].team);
		m->pools[i].team = NULL;
	}
	/* The workers are gone: the publishers answer what they ran, and exit. */
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++) {
		m->pools[i].publish_stop = true;
		kick_publisher(&m->pools[i]);
	}
	pthread_mutex_unlock(&m->lock);
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++) {
		if (m->pools[i].publisher_started)
			pthread_join(m->pools[i].publisher, NULL);
		m->pools[i].publisher_started = false;
	}
	/* Forget what never ran: it is still in the private record for next time. */
	pthread_mutex_lock(&m->lock);
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++) {
		struct job *j;

		while ((j = jobq_pop(&m->pools[i].q))) {
			struct vm *vm = j->vm;

			atomic_fetch_sub(&vm->jobs, 1);
			job_free(j);
			vm_put(vm);
		}
	}
	pthread_mutex_unlock(&m->lock);
}
