// SPDX-License-Identifier: MIT
/*
 * vgpu-mediator: the Dom0 daemon that runs the VMs' GPU jobs.
 *
 * Watches every configured VM directory with inotify (plus a slow rescan
 * as a safety net), accepts requests into per-pool priority queues and lets
 * one worker per pool run them. A tick repairs VMs and retries what an
 * obstacle left in their private records, each VM with its own backoff. SIGTERM/SIGINT: finish the running jobs and
 * exit. SIGHUP: reload the config without dropping queued requests.
 *
 * This file is the main thread: start-up, the event loop and its
 * callbacks, reload. It touches everything of struct mediator that is not
 * [L], and takes m->lock for what is (mediator.h lists the threads).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "accept.h"
#include "ctl.h"
#include "log.h"
#include "loop.h"
#include "mediator.h"
#include "metrics.h"

#ifdef VGPU_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#else	/* the GPU machine's standalone build (bench/gpu/device.mk) */
static int sd_notify(int unset_environment, const char *state)
{
	(void)unset_environment;
	(void)state;
	return 0;
}
#endif

#define DEFAULT_CONF	"/etc/vgpu/mediator.conf"
#define INOTIFY_BUF	(64 * 1024)	/* bytes: ~2000 events per read */
#define PID_FILE	"mediator.pid"	/* in state_dir, flock()ed while we run */
#define TICK_MS		1000		/* repairs and retries are looked at this often */
#define BACKOFF_MAX_S	8		/* s: a VM's retries slow down to this */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vgpu-mediator [-dnv] [-c FILE]\n"
		"Runs the GPU jobs that VMs write into their spool directories.\n\n"
		"  -c FILE   config file (default " DEFAULT_CONF ")\n"
		"  -d        stay in the foreground and log to stderr\n"
		"  -n        check the config, print a summary and exit\n"
		"  -v        log debug messages\n"
		"  -h, --help  this help\n"
		"  --version   print the version\n\n"
		"Signals: TERM/INT finish running jobs and exit; HUP reloads the config.\n"
		"See vgpu-mediator(8), mediator.conf(5) and vgpuctl(1).\n");
}

static int cmp_job_seq(const void *a, const void *b)
{
	const struct job *x = *(struct job *const *)a, *y = *(struct job *const *)b;

	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Queue recovered jobs of all VMs in @l in their arrival order. */
static void enqueue_recovered(struct mediator *m, struct job_list *l)
{
	struct job **v = NULL, *j;
	size_t n = 0, cap = 0;

	while ((j = TAILQ_FIRST(l))) {
		TAILQ_REMOVE(l, j, entry);
		if (n == cap) {
			struct job **nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*v));

			if (!nv) {	/* keep order approximately: queue as is */
				j->seq = m->seq++;
				sched_enqueue(m, j);
				continue;
			}
			v = nv;
		}
		v[n++] = j;
	}
	if (n)
		qsort(v, n, sizeof(*v), cmp_job_seq);
	for (size_t i = 0; i < n; i++) {
		v[i]->seq = m->seq++;
		sched_enqueue(m, v[i]);
	}
	if (n)
		log_info("re-queued %zu accepted request%s from before the restart", n,
			 n == 1 ? "" : "s");
	free(v);
}

/*
 * A VM of the new config whose directory is still served by a leaving one:
 * back, with its queued jobs moved if the config puts it elsewhere.
 */
static struct vm *revive(struct mediator *m, const struct vm_conf *c)
{
	struct vm *vm = vm_revive(m, c);

	if (!vm)
		return NULL;
	if (c->pool != vm->conf.pool || c->prio != vm->conf.prio)
		sched_move_vm(m, vm, c->pool, c->prio);
	pthread_mutex_lock(&m->lock);
	vm->conf = *c;
	vm->flow.weight = c->weight;
	pthread_mutex_unlock(&m->lock);
	log_info("vm %s: back, with its %u queued job%s", c->name, atomic_load(&vm->jobs),
		 atomic_load(&vm->jobs) == 1 ? "" : "s");
	return vm;
}

/* Add the VMs in @vms[@n], recover and queue their work in arrival order. */
static void add_vms(struct mediator *m, const struct vm_conf *vms, unsigned int n)
{
	struct job_list recovered = TAILQ_HEAD_INITIALIZER(recovered);
	struct vm **added = calloc(n ? n : 1, sizeof(*added));

	if (!added) {
		log_errx("out of memory adding VMs");
		return;
	}
	vm_reap_leaving(m);
	for (unsigned int i = 0; i < n; i++) {
		added[i] = revive(m, &vms[i]);
		if (added[i])
			continue;	/* its accepted requests are queued already */
		added[i] = vm_add(m, &vms[i]);
		if (added[i])
			vm_recover(m, added[i], &recovered);
	}
	enqueue_recovered(m, &recovered);
	for (unsigned int i = 0; i < n; i++)
		if (added[i])
			vm_scan_requests(m, added[i]);
	free(added);
}

static void reload(struct mediator *m)
{
	struct conf nc;
	char err[1024];
	struct vm *vm, *tmp;
	struct vm_conf *fresh;
	unsigned int nfresh = 0;

	if (conf_load(m->conf_path, &nc, err, sizeof(err)) ||
	    (conf_check_host(&nc, &m->start_cpus, err, sizeof(err)) && (conf_free(&nc), 1))) {
		log_errx("reload: %s; keeping the running config", err);
		m->reload_failed = true;
		snprintf(m->reload_err, sizeof(m->reload_err), "%s", err);
		return;
	}
	m->reload_failed = false;
	m->reload_err[0] = '\0';
	if (strcmp(nc.spool, m->conf.spool) || strcmp(nc.state_dir, m->conf.state_dir) ||
	    strcmp(nc.private_dir, m->conf.private_dir) ||
	    strcmp(nc.ctl_path, m->conf.ctl_path) || nc.backend != m->conf.backend ||
	    memcmp(nc.pools, m->conf.pools, sizeof(nc.pools)) ||
	    nc.staging_bytes != m->conf.staging_bytes ||
	    nc.worker_spin_us != m->conf.worker_spin_us ||
	    !cpu_list_same(&nc.main_cpus, &m->conf.main_cpus) ||
	    !cpu_list_same(&nc.pool_cpus[0], &m->conf.pool_cpus[0]) ||
	    !cpu_list_same(&nc.pool_cpus[1], &m->conf.pool_cpus[1]) ||
	    memcmp(nc.io_threads, m->conf.io_threads, sizeof(nc.io_threads)) ||
	    strcmp(nc.metrics_text, m->conf.metrics_text) || nc.trace_jobs != m->conf.trace_jobs ||
	    nc.ctl_gid != m->conf.ctl_gid || nc.ctl_mode != m->conf.ctl_mode ||
	    strcmp(nc.executor, m->conf.executor) ||
	    strcmp(nc.executor_user, m->conf.executor_user) ||
	    nc.session_test_cmds != m->conf.session_test_cmds ||
	    strcmp(nc.mps_control, m->conf.mps_control) || strcmp(nc.mps_dir, m->conf.mps_dir))
		log_warnx("reload: spool, state_dir, private_dir, control_socket*, backend, "
			  "staging_bytes, worker_spin_us, cpus, metrics_listen, trace_jobs, "
			  "executor*, session_test_commands, mps_control, mps_dir and pool "
			  "settings but policy, aging_ms and sm_percent take effect at the next "
			  "restart");
	if (nc.rescan_s != m->conf.rescan_s) {
		loop_timer_del(m->loop, m->rescan_fd);
		m->rescan_fd = -1;
	}
	m->conf.rescan_s = nc.rescan_s;
	m->conf.response_ttl_s = nc.response_ttl_s;
	m->conf.fsync = nc.fsync;
	m->conf.log_level = nc.log_level;
	if (!m->verbose)
		log_setlevel(m->conf.log_level);
	memcpy(m->conf.sched, nc.sched, sizeof(nc.sched));
	sched_set_policies(m, m->conf.sched);
	pthread_mutex_lock(&m->lock);	/* workers copy it into a job's limits */
	memcpy(m->conf.sm_percent, nc.sm_percent, sizeof(nc.sm_percent));
	pthread_mutex_unlock(&m->lock);
	m->conf.isolation = nc.isolation;
	m->conf.mps_fault_limit = nc.mps_fault_limit;
	m->conf.mps_fault_window_s = nc.mps_fault_window_s;

	fresh = calloc(nc.nvms ? nc.nvms : 1, sizeof(*fresh));
	if (!fresh) {
		log_errx("reload: out of memory");
		conf_free(&nc);
		return;
	}
	TAILQ_FOREACH_SAFE(vm, &m->vms, entry, tmp) {
		const struct vm_conf *c = NULL;

		for (unsigned int i = 0; i < nc.nvms; i++)
			if (!strcmp(nc.vms[i].name, vm->conf.name))
				c = &nc.vms[i];
		if (!c || strcmp(c->dir, vm->conf.dir)) {
			vm_remove(m, vm);	/* gone, or moved: re-added below */
			continue;
		}
		if (c->pool != vm->conf.pool || c->prio != vm->conf.prio) {
			log_info("vm %s: now pool %s, priority %s", vm->conf.name,
				 vgpu_pool_name(c->pool), vgpu_prio_name(c->prio));
			sched_move_vm(m, vm, c->pool, c->prio);
		}
		if (c->weight != vm->conf.weight)
			log_info("vm %s: now weight %u", vm->conf.name, c->weight);
		pthread_mutex_lock(&m->lock);
		vm->conf.id = c->id;
		vm->conf.max_payload = c->max_payload;
		vm->conf.max_queued = c->max_queued;
		vm->conf.weight = c->weight;
		vm->flow.weight = c->weight;
		vm->conf.max_spool_bytes = c->max_spool_bytes;
		vm->conf.sess_mem = c->sess_mem;	/* quotas: its next executor */
		vm->conf.sess_module = c->sess_module;
		vm->conf.sess_handles = c->sess_handles;
		vm->conf.sess_time_ms = c->sess_time_ms;	/* its next job */
		if (c->isolation != vm->conf.isolation)
			log_info("vm %s: now isolation = %s (its next session job)", vm->conf.name,
				 isolation_name(c->isolation));
		vm->conf.isolation = c->isolation;
		memcpy(vm->conf.iso_where, c->iso_where, sizeof(vm->conf.iso_where));
		snprintf(vm->conf.where, sizeof(vm->conf.where), "%s", c->where);
		pthread_mutex_unlock(&m->lock);
	}
	for (unsigned int i = 0; i < nc.nvms; i++)
		if (!vm_find_by_name(m, nc.vms[i].name))
			fresh[nfresh++] = nc.vms[i];
	add_vms(m, fresh, nfresh);
	free(fresh);
	mps_reload(m);		/* after the VMs' isolation: the daemon if needed */
	conf_free(&m->conf);	/* the VM list lives in m->vms from now on */
	conf_free(&nc);
	log_info("reloaded %s", m->conf_path);
}

static void rescan_all(struct mediator *m)
{
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->vms, entry)
		vm_scan_requests(m, vm);
}

static void backoff(unsigned int *s, uint64_t *at_ns, uint64_t now)
{
	*s = *s ? (*s * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S : *s * 2) : 1;
	*at_ns = now + *s * 1000000000ull;
}

/* Serve @vm again if what broke it is fixed; its leftovers go on @out. */
static int repair(struct mediator *m, struct vm *vm, struct job_list *out)
{
	if (vm->broken == VM_BROKEN_STATE && vm->sp.dir >= 0) {
		if (vm_store_last_id(vm))
			return -EIO;
		vm->broken = VM_OK;
		log_info("vm %s: served again", vm->conf.name);
	} else if (vm_open(m, vm)) {
		return -EIO;
	}
	return vm_recover(m, vm, out);
}

/*
 * Every TICK_MS: a VM whose req/, tmp/ or rsp/ the guest removed or
 * replaced is broken; a broken VM whose jobs have all run is repaired;
 * what waits in a private record is settled. Each VM backs off on its own,
 * so an obstacle a guest keeps in place costs a few system calls a minute.
 */
static void on_tick(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct job_list recovered = TAILQ_HEAD_INITIALIZER(recovered);
	struct mediator *m = ctx;
	uint64_t now = vgpu_now_ns();
	struct vm *vm, *repaired[64];
	unsigned int nrepaired = 0;

	(void)l;
	(void)fd;
	(void)events;
	TAILQ_FOREACH(vm, &m->vms, entry) {
		if (vm->broken == VM_OK && vm_dirs_replaced(vm))
			vm_break(vm, VM_BROKEN_OPEN, "%s/req, tmp or rsp was removed or replaced",
				 vm->conf.dir);
		if (vm->broken != VM_OK) {
			if (now < vm->repair_ns || atomic_load(&vm->jobs))
				continue;
			if (repair(m, vm, &recovered))
				backoff(&vm->repair_s, &vm->repair_ns, now);
			else if (nrepaired < sizeof(repaired) / sizeof(repaired[0]))
				repaired[nrepaired++] = vm;
			continue;
		}
		if (vm->conf.max_spool_bytes)
			vm_count_spool(vm);
		if (!atomic_load(&vm->unsettled) || now < vm->publish_ns)
			continue;
		vm_settle(m, vm);
		if (atomic_load(&vm->unsettled))
			backoff(&vm->publish_s, &vm->publish_ns, now);
		else
			vm->publish_s = 0;
	}
	enqueue_recovered(m, &recovered);
	for (unsigned int i = 0; i < nrepaired; i++)
		vm_scan_requests(m, repaired[i]);
	ctl_tick(m);
}

static void on_rescan(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct mediator *m = ctx;
	struct vm *vm;

	(void)l;
	(void)fd;
	(void)events;
	TAILQ_FOREACH(vm, &m->vms, entry) {
		vm_scan_requests(m, vm);
		vm_expire(m, vm);
	}
	vm_reap_leaving(m);
}

static void arm_rescan(struct mediator *m)
{
	uint64_t ms = (uint64_t)m->conf.rescan_s * 1000;

	if (m->rescan_fd >= 0)
		return;
	m->rescan_fd = loop_timer_add(m->loop, ms, ms, on_rescan, m);
	if (m->rescan_fd < 0)
		log_warnx("cannot arm the rescan timer: %s", strerror(-m->rescan_fd));
	if (m->tick_fd < 0)
		m->tick_fd = loop_timer_add(m->loop, TICK_MS, TICK_MS, on_tick, m);
	if (m->tick_fd < 0)
		log_warnx("cannot arm the repair timer: %s", strerror(-m->tick_fd));
}

static void on_inotify(struct loop *l, int fd, uint32_t events, void *ctx)
{
	static char buf[INOTIFY_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
	static struct vm *evm[INOTIFY_BUF / sizeof(struct inotify_event)];
	struct mediator *m = ctx;
	size_t n;

	(void)l;
	(void)events;
	for (;;) {
		ssize_t len = read(fd, buf, sizeof(buf));

		if (len <= 0) {
			if (len < 0 && errno != EAGAIN && errno != EINTR)
				log_warn("inotify read");
			break;
		}
		/* each event's VM, and the batch's highest id per VM (taken) */
		n = 0;
		for (char *p = buf; p < buf + len; n++) {
			struct inotify_event *ev = (struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			evm[n] = ev->mask & (IN_Q_OVERFLOW | IN_IGNORED) || !ev->len ? NULL :
				 vm_find_by_wd(m, ev->wd);
			if (evm[n] && !(ev->mask & IN_CREATE))
				vm_note_batch_id(evm[n], ev->name);
		}
		n = 0;
		for (char *p = buf; p < buf + len; n++) {
			struct inotify_event *ev = (struct inotify_event *)p;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warnx("inotify queue overflowed; rescanning every VM");
				rescan_all(m);
				continue;
			}
			if (!evm[n])
				continue;
			if (ev->mask & IN_CREATE)
				vm_accept_created(m, evm[n], ev->name);
			else
				vm_accept(m, evm[n], ev->name);
		}
		while (n--)
			if (evm[n])
				evm[n]->batch_hi = 0;
		/* A short read drained the queue: skip the read that says EAGAIN. */
		if ((size_t)len < sizeof(buf) - sizeof(struct inotify_event) - NAME_MAX - 1)
			break;
	}
	sched_flush(m);
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct mediator *m = ctx;
	struct signalfd_siginfo si;

	(void)events;
	while (read(fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGHUP:
			log_info("SIGHUP: reloading %s", m->conf_path);
			reload(m);
			arm_rescan(m);
			break;
		case SIGTERM:
		case SIGINT:
			log_info("%s: finishing the running jobs, then exiting",
				 strsignal((int)si.ssi_signo));
			loop_stop(l);
			break;
		}
	}
}

static int select_backend(struct mediator *m)
{
	struct vgpu_backend_conf bc = { .nr_pools = VGPU_NR_POOLS,
					.staging_bytes = m->conf.staging_bytes };
	char why[VGPU_MSG_LEN] = "";
	int err;

	memcpy(bc.pools, m->conf.pools, sizeof(bc.pools));
	m->be_ops = &vgpu_backend_cpu;
#ifdef VGPU_HAVE_CUDA
	if (m->conf.backend != BACKEND_CPU) {
		err = vgpu_backend_cuda.probe(why);
		if (!err)
			m->be_ops = &vgpu_backend_cuda;
		else if (m->conf.backend == BACKEND_CUDA) {
			log_errx("backend cuda: %s", why);
			return err;
		} else {
			log_info("no usable GPU (%s); using the CPU backend", why);
		}
	}
#else
	if (m->conf.backend == BACKEND_CUDA) {
		log_errx("backend cuda: this build has no CUDA support");
		return -ENOTSUP;
	}
#endif
	err = m->be_ops->open(&bc, &m->be, why);
	if (err) {
		log_errx("backend %s: %s", m->be_ops->name, why);
		return err;
	}
	log_info("backend %s", m->be_ops->name);
	return 0;
}

static int setup_signals(struct mediator *m)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	/* Blocked before the workers start, so they inherit the mask. */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL))
		return -EINVAL;
	m->sig_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m->sig_fd < 0)
		return -errno;
	return loop_add(m->loop, m->sig_fd, EPOLLIN, on_signal, m);
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

/* Each VM holds about eight fds, each running job two: take what we may. */
static void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			log_warn("cannot raise the open files limit to %ju",
				 (uintmax_t)rl.rlim_max);
	}
	/*
	 * Up to JOB_FDS_KEPT queued jobs keep the fd they were accepted with
	 * (a sixteenth of the limit where it is low): their workers skip an
	 * open, the rest open their file as they run.
	 */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		job_set_fd_bound(rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur / 16 > JOB_FDS_KEPT ?
				 JOB_FDS_KEPT : (unsigned int)(rl.rlim_cur / 16));
}

/* Is a mediator answering on @path? Then it is not a socket a crash left. */
static bool socket_answers(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool yes;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	yes = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return yes;
}

/*
 * One mediator per config: state_dir/mediator.pid flock()ed with our pid
 * in it, the spool directory flock()ed, and a control socket nobody
 * answers on. Checked before anything of a running mediator is touched
 * (its socket, its spool, its last ids). The locks go with the process.
 */
static int lock_instance(struct mediator *m)
{
	char path[PATH_MAX + 16], pid[32] = "";
	ssize_t n;

	if (mkdir_p(m->conf.state_dir, 0700) || mkdir_p(m->conf.spool, 0755)) {
		log_err("cannot create %s or %s", m->conf.state_dir, m->conf.spool);
		return -1;
	}
	snprintf(path, sizeof(path), "%s/" PID_FILE, m->conf.state_dir);
	m->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (m->lock_fd < 0) {
		log_err("%s", path);
		return -1;
	}
	if (flock(m->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(m->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		log_errx("already running (pid %s): %s is locked; stop that one first "
			 "(systemctl stop vgpu-mediator)", pid[0] ? pid : "?", path);
		return -1;
	}
	m->spool_lock_fd = open(m->conf.spool, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->spool_lock_fd < 0 || flock(m->spool_lock_fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK)
			log_errx("already running: spool %s is used by another vgpu-mediator "
				 "(with another state_dir)", m->conf.spool);
		else
			log_err("%s", m->conf.spool);
		return -1;
	}
	if (socket_answers(m->conf.ctl_path)) {
		log_errx("already running: another vgpu-mediator answers on %s",
			 m->conf.ctl_path);
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (ftruncate(m->lock_fd, 0) < 0 || pwrite(m->lock_fd, pid, (size_t)n, 0) != n)
		log_warn("%s", path);
	return 0;
}

/*
 * Without -d: fork, and let the parent wait until the child is ready or
 * has failed, so that every error of the start reaches stderr and the exit
 * status (not only syslog). The child returns the pipe's write end for
 * daemon_ready(); the parent exits 0 on its byte, 1 on EOF.
 */
static int daemon_start(void)
{
	int p[2];
	pid_t pid;
	char ok;

	if (pipe2(p, O_CLOEXEC) < 0 || (pid = fork()) < 0) {
		fprintf(stderr, "vgpu-mediator: cannot daemonize: %s\n", strerror(errno));
		exit(1);
	}
	if (pid > 0) {
		ssize_t n;

		close(p[1]);
		while ((n = read(p[0], &ok, 1)) < 0 && errno == EINTR)
			;
		_exit(n == 1 ? 0 : 1);
	}
	close(p[0]);
	if (setsid() < 0 || chdir("/") < 0)
		log_warn("daemonizing");
	return p[1];
}

/* The start went well: the parent may exit 0, and stdio goes to /dev/null. */
static void daemon_ready(struct mediator *m)
{
	int fd;

	if (m->ready_fd < 0)
		return;
	log_stderr(false);
	fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		close(fd);
	}
	if (write(m->ready_fd, "", 1) != 1)
		log_warn("telling the parent we are ready");
	close(m->ready_fd);
	m->ready_fd = -1;
}

/* Say exactly which VMs are served. */
static void log_ready(struct mediator *m)
{
	unsigned int n = 0, served = 0;
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->vms, entry) {
		n++;
		served += vm->broken == VM_OK;
	}
	if (served == n) {
		log_info("ready: %u VM%s, control socket %s", n, n == 1 ? "" : "s",
			 m->conf.ctl_path);
		return;
	}
	log_warnx("ready: %u of %u VMs served, control socket %s", served, n, m->conf.ctl_path);
	TAILQ_FOREACH(vm, &m->vms, entry)
		if (vm->broken != VM_OK)
			log_warnx("vm %s: not served: %s", vm->conf.name, vm->why);
}

static void print_summary(const struct conf *c)
{
	printf("configuration OK: %u VM%s, spool %s, state %s, backend %s\n", c->nvms,
	       c->nvms == 1 ? "" : "s", c->spool, c->state_dir,
	       c->backend == BACKEND_AUTO ? "auto" : c->backend == BACKEND_CPU ? "cpu" : "cuda");
	printf("  control socket %s, mode %04o, group %s; metrics %s; trace %u jobs\n",
	       c->ctl_path, c->ctl_mode, c->ctl_group[0] ? c->ctl_group : "(none: root only)",
	       c->metrics_family ? c->metrics_text : "off", c->trace_jobs);
	printf("  sessions: executor %s, user %s, test commands %s\n",
	       c->executor[0] ? c->executor : "(default: ../libexec/vgpu/ or beside vgpu-mediator)", c->executor_user,
	       c->session_test_cmds ? "yes" : "no");
	printf("  isolation %s by default; mps_control %s, mps_dir %s, a VM faulting %u times "
	       "in %u s leaves MPS; sm_percent A=%u B=%u\n", isolation_name(c->isolation),
	       c->mps_control, c->mps_dir, c->mps_fault_limit, c->mps_fault_window_s,
	       c->sm_percent[0], c->sm_percent[1]);
	for (unsigned int i = 0; i < c->nvms; i++) {
		const struct vm_conf *v = &c->vms[i];

		printf("  vm %s: vm_id=%" PRIu32 " pool=%s priority=%s dir=%s max_payload_bytes=%"
		       PRIu64 " max_queued=%u\n", v->name, v->id, vgpu_pool_name(v->pool),
		       vgpu_prio_name(v->prio), v->dir, v->max_payload, v->max_queued);
		printf("    session_mem_bytes=%" PRIu64 " session_module_bytes=%" PRIu64
		       " session_handles=%" PRIu32 " session_time_limit_ms=%u isolation=%s\n",
		       v->sess_mem, v->sess_module, v->sess_handles, v->sess_time_ms,
		       isolation_name(v->isolation));
	}
}

enum { OPT_VERSION = 256 };

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct mediator m = {
		.conf_path = DEFAULT_CONF, .ino_fd = -1, .sig_fd = -1,
		.rescan_fd = -1, .tick_fd = -1, .state_dir_fd = -1, .priv_dir_fd = -1,
		.lock_fd = -1, .spool_lock_fd = -1, .ready_fd = -1,
		.vms = TAILQ_HEAD_INITIALIZER(m.vms),
		.accepted = TAILQ_HEAD_INITIALIZER(m.accepted),
		.leaving = TAILQ_HEAD_INITIALIZER(m.leaving),
	};
	bool check_only = false, verbose = false;
	char err[1024], conf_abs[PATH_MAX];
	int c, rc = 1;

	while ((c = getopt_long(argc, argv, "c:dnvh", long_opts, NULL)) != -1) {
		switch (c) {
		case 'c': m.conf_path = optarg; break;
		case 'd': m.foreground = true; break;
		case 'n': check_only = true; break;
		case 'v': verbose = true; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("vgpu-mediator %s\n", VGPU_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (conf_load(m.conf_path, &m.conf, err, sizeof(err)) ||
	    (conf_check_host(&m.conf, NULL, err, sizeof(err)) && (conf_free(&m.conf), 1))) {
		fprintf(stderr, "vgpu-mediator: %s\n", err);
		return 1;
	}
	if (check_only) {
		print_summary(&m.conf);
		conf_free(&m.conf);
		return 0;
	}
	m.verbose = verbose;
	if (verbose)
		m.conf.log_level = LOG_DEBUG;
	if (!m.foreground) {
		/* A reload reads it again after the chdir("/"). */
		if (realpath(m.conf_path, conf_abs))
			m.conf_path = conf_abs;
		m.ready_fd = daemon_start();
	}
	log_init("vgpu-mediator", m.foreground, m.conf.log_level);
	log_stderr(!m.foreground);
	if (lock_instance(&m))
		goto out;
	raise_fd_limit();
	pthread_mutex_init(&m.lock, NULL);
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++) {
		pool_init(&m.pools[i]);
	}
	sched_set_policies(&m, m.conf.sched);
	m.loop = loop_new();
	if (!m.loop) {
		log_errx("cannot create the event loop: out of memory or fds");
		goto out;
	}
	/* awake for the next request as the workers are for the next job */
	loop_spin(m.loop, (uint64_t)m.conf.worker_spin_us * 1000);
	if (trace_ring_init(&m.trace, m.conf.trace_jobs)) {
		log_errx("out of memory for trace_jobs = %u", m.conf.trace_jobs);
		goto out;
	}
	if (mkdir_p(m.conf.private_dir, 0700)) {
		log_err("cannot create %s", m.conf.private_dir);
		goto out;
	}
	m.state_dir_fd = open(m.conf.state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	m.priv_dir_fd = open(m.conf.private_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	m.ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (m.state_dir_fd < 0 || m.priv_dir_fd < 0 || m.ino_fd < 0) {
		log_err("cannot open %s, %s or inotify", m.conf.state_dir, m.conf.private_dir);
		goto out;
	}
	c = setup_signals(&m);
	if (c) {
		log_errx("cannot set up the signals: %s", strerror(-c));
		goto out_stop;
	}
	c = loop_add(m.loop, m.ino_fd, EPOLLIN, on_inotify, &m);
	if (c) {
		log_errx("cannot watch inotify: %s", strerror(-c));
		goto out_stop;
	}
	/* Each logs why it failed. */
	if (select_backend(&m) || ctl_open(&m) || metrics_start(&m))
		goto out_stop;
	add_vms(&m, m.conf.vms, m.conf.nvms);
	arm_rescan(&m);
	if (exec_setup(&m) || mps_setup(&m) || sched_start(&m))
		goto out_stop;
	/* After the workers started: they must not inherit this binding. */
	/* A reload checks "cpus" against these, not the main thread's own. */
	if (sched_getaffinity(0, sizeof(m.start_cpus), &m.start_cpus))
		CPU_ZERO(&m.start_cpus);
	c = cpu_list_apply(&m.conf.main_cpus);
	if (c) {
		log_errx("cpus %s: cannot bind the main thread: %s", m.conf.main_cpus.text,
			 c == -EINVAL ? "none of those CPUs is online and allowed" :
			 strerror(-c));
		goto out_stop;
	}
	if (m.conf.main_cpus.set)
		log_info("main thread on cpus %s", m.conf.main_cpus.text);
	/* Type=notify: the VMs' spool directories exist; the NFS server may start. */
	sd_notify(0, "READY=1");
	log_ready(&m);
	daemon_ready(&m);
	if (loop_run(m.loop) == 0)
		rc = 0;
	else
		log_err("event loop");
out_stop:
	metrics_stop(&m);	/* before the workers: it may be waiting for a copy */
	sched_stop(&m);		/* queued requests stay in the private records */
	mps_shutdown(&m);	/* its clients killed, the daemon told to quit */
	ctl_close(&m);
	if (m.be)
		m.be_ops->close(m.be);
	{
		struct vm *vm;

		while ((vm = TAILQ_FIRST(&m.vms))) {
			TAILQ_REMOVE(&m.vms, vm, entry);
			vm_put(vm);
		}
		while ((vm = TAILQ_FIRST(&m.leaving))) {
			TAILQ_REMOVE(&m.leaving, vm, entry);
			vm_put(vm);
		}
	}
	log_info("stopped");
out:
	loop_free(m.loop);
	if (m.ino_fd >= 0)
		close(m.ino_fd);
	if (m.state_dir_fd >= 0)
		close(m.state_dir_fd);
	if (m.lock_fd >= 0 && m.spool_lock_fd >= 0 && ftruncate(m.lock_fd, 0) < 0)
		log_warn("%s/" PID_FILE, m.conf.state_dir);	/* not running any more */
	if (m.lock_fd >= 0)
		close(m.lock_fd);
	if (m.spool_lock_fd >= 0)
		close(m.spool_lock_fd);
	trace_ring_free(&m.trace);
	if (m.priv_dir_fd >= 0)
		close(m.priv_dir_fd);
	conf_free(&m.conf);
	return rc;
}
