// SPDX-License-Identifier: MIT
/*
 * isolation = mps: the mediator's private MPS control daemon, its
 * clients (the MPS-mode executors) and the recovery after a fault. Who
 * calls what, and the lock, are in mps.h. Touches struct mps, the MPS
 * fields of the VMs' struct vm_exec (exec.h), mps_dir, and the processes
 * it starts: nvidia-cuda-mps-control -d, and the same program as a client
 * that sends "quit". Never m->lock.
 *
 * The daemon is found by its control pipe: nvidia-cuda-mps-control -d
 * forks the daemon and exits, so the mediator knows no pid of it; the
 * daemon is up while something listens on pipe/control, and gone once
 * nothing does (NVIDIA's leaves the socket behind: control_there()).
 * Starting waits for the first, stopping for the second, each for at most
 * MPS_WAIT_MS, and each runs the program with the daemon's environment:
 * ours, with CUDA_MPS_PIPE_DIRECTORY and CUDA_MPS_LOG_DIRECTORY replaced.
 *
 * Under MPS a fault of one client fails every client of the server (issue
 * 13: 773,911 operations of another client failed). So the first worker
 * to report an MPS-mode executor's death is taken as the fault's VM: it
 * kills every other listed client, restarts the daemon and counts the
 * fault; the other workers find their executor killed (lost_to names the
 * VM) and answer their job -EIO with that name.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mediator.h"
#include "mps.h"

#define MPS_WAIT_MS		5000	/* the program's exit, the pipe's coming or going */
#define MPS_POLL_MS		5	/* how often we look meanwhile */
#define MPS_WHY_LEN		(2 * PATH_MAX + 128)
/* CUDA_MPS_PINNED_DEVICE_MEM_LIMIT on top of the quota, which the executor
 * enforces exactly itself: the context's own allocations (local memory,
 * printf buffer) are in MPS's count. An estimate, not yet measured. */
#define MPS_MEM_HEADROOM_MB	512

extern char **environ;

static void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static int mkdir_mode(const char *path, mode_t mode)
{
	if (mkdir(path, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Ours, less any CUDA_MPS_*, plus the daemon's two directories. */
static char **daemon_env(struct mps *s)
{
	size_t n = 0, k = 0;
	char **env;

	for (char **e = environ; e && *e; e++)
		n++;
	env = calloc(n + 3, sizeof(*env));
	if (!env)
		return NULL;
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, "CUDA_MPS_", 9))
			env[k++] = *e;	/* environ outlives us */
	s->env_ours = k;
	if (asprintf(&env[k++], "CUDA_MPS_PIPE_DIRECTORY=%s", s->pipe_dir) < 0 ||
	    asprintf(&env[k++], "CUDA_MPS_LOG_DIRECTORY=%s", s->log_dir) < 0) {
		free(env);	/* a leak of one string at start, then exit */
		return NULL;
	}
	env[k] = NULL;
	return env;
}

/* Wait at most MPS_WAIT_MS for @pid; its wait status, or -1 after SIGKILL. */
static int wait_bounded(pid_t pid)
{
	int wstatus = 0;

	for (unsigned int t = 0; t < MPS_WAIT_MS; t += MPS_POLL_MS) {
		pid_t r = waitpid(pid, &wstatus, WNOHANG);

		if (r == pid)
			return wstatus;
		if (r < 0 && errno != EINTR)
			return -1;
		sleep_ms(MPS_POLL_MS);
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
		;
	return -1;
}

/*
 * Run the control program with @arg ("-d", or NULL: a client) and, for a
 * client, @input on its stdin. Its wait status, -1 if it did not end in
 * time, or -errno if it could not run.
 */
static int run_control(const struct mps *s, const char *arg, const char *input)
{
	char *argv[] = { (char *)"nvidia-cuda-mps-control", (char *)arg, NULL };
	posix_spawn_file_actions_t fa;
	int in[2] = { -1, -1 }, err;
	pid_t pid;

	if (input) {
		if (pipe2(in, O_CLOEXEC))
			return -errno;
		/* a few bytes: the pipe holds them before the program runs */
		if (write(in[1], input, strlen(input)) != (ssize_t)strlen(input)) {
			err = -errno;
			close(in[0]);
			close(in[1]);
			return err ? err : -EIO;
		}
		close(in[1]);
	}
	err = posix_spawn_file_actions_init(&fa);
	if (!err)
		err = input ? posix_spawn_file_actions_adddup2(&fa, in[0], 0) :
		      posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	if (!err)
		err = posix_spawn(&pid, s->control, &fa, NULL, argv, s->env);
	posix_spawn_file_actions_destroy(&fa);
	if (in[0] >= 0)
		close(in[0]);
	if (err)
		return -err;
	return wait_bounded(pid);
}

/*
 * Does a daemon serve the control pipe? Its name alone does not say:
 * NVIDIA's daemon (driver 580) leaves its control socket behind when it
 * exits, so a socket counts while something listens on it, and a FIFO
 * (the tests' stand-in) while something reads it. Anything else there,
 * or a socket we cannot ask, counts as a daemon: better a quit sent to
 * no one than a second daemon on one directory.
 */
static bool control_there(const struct mps *s)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	bool there;
	int fd;

	if ((size_t)snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/control", s->pipe_dir) >=
	    sizeof(sa.sun_path))
		return true;	/* mps_setup() refuses such an mps_dir */
	if (stat(sa.sun_path, &st))
		return false;
	if (S_ISFIFO(st.st_mode)) {
		fd = open(sa.sun_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return errno != ENXIO;	/* ENXIO: nobody reads it */
		close(fd);
		return true;
	}
	if (!S_ISSOCK(st.st_mode))
		return true;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return true;
	/* EPROTOTYPE: a listener of another socket type, still a listener */
	there = !connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		(errno != ECONNREFUSED && errno != ENOENT);
	close(fd);
	return there;
}

/* Wait at most MPS_WAIT_MS for the control pipe to be @there. */
static bool wait_control(const struct mps *s, bool there)
{
	for (unsigned int t = 0; t < MPS_WAIT_MS; t += MPS_POLL_MS) {
		if (control_there(s) == there)
			return true;
		sleep_ms(MPS_POLL_MS);
	}
	return control_there(s) == there;
}

/* Stop the daemon (s->lock held, or before the workers). */
static void daemon_stop(struct mps *s)
{
	int r;

	atomic_store(&s->up, false);
	s->running = false;
	if (!control_there(s))
		return;
	r = run_control(s, NULL, "quit\n");
	if (r < 0 || !WIFEXITED(r) || WEXITSTATUS(r))
		log_warnx("mps: %s quit: %s", s->control, r == -1 ? "no exit in time" :
			  r < 0 ? strerror(-r) : "failed");
	if (!wait_control(s, false))
		log_warnx("mps: the daemon of %s did not go within %d ms", s->pipe_dir,
			  MPS_WAIT_MS);
	else
		log_info("mps: daemon of %s stopped", s->pipe_dir);
}

/* Start the daemon (s->lock held, or before the workers); 0 or -1 with @why. */
static int daemon_start(struct mps *s, char *why, size_t len)
{
	int r;

	if (control_there(s)) {	/* a daemon left by an earlier mediator */
		log_warnx("mps: a daemon already runs on %s: stopping it", s->pipe_dir);
		daemon_stop(s);
	}
	r = run_control(s, "-d", NULL);
	if (r < 0 || !WIFEXITED(r) || WEXITSTATUS(r)) {
		snprintf(why, len, "%s -d %s", s->control, r == -1 ? "did not return" :
			 r < -1 ? strerror(-r) : "failed");
		return -1;
	}
	if (!wait_control(s, true)) {
		snprintf(why, len, "no %s/control %d ms after %s -d", s->pipe_dir, MPS_WAIT_MS,
			 s->control);
		return -1;
	}
	s->running = true;
	atomic_store(&s->up, true);
	atomic_fetch_add(&s->starts, 1);
	log_info("mps: daemon started on %s (logs in %s)", s->pipe_dir, s->log_dir);
	return 0;
}

/* Kill every listed client for @why ("" : a reload or the exit); s->lock held. */
static void kill_clients(struct mps *s, const char *why)
{
	struct vm_exec *x;

	while ((x = TAILQ_FIRST(&s->clients))) {
		TAILQ_REMOVE(&s->clients, x, mps_entry);
		x->mps_listed = false;
		snprintf(x->lost_to, sizeof(x->lost_to), "%s", why);
		kill(x->mps_pid, SIGKILL);	/* not reaped while listed */
	}
}

static bool any_vm_wants(struct mediator *m)
{
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->vms, entry)
		if (vm->conf.isolation == ISO_MPS && !atomic_load(&vm->exec.demoted))
			return true;
	return false;
}

int mps_setup(struct mediator *m)
{
	struct mps *s = &m->mps;
	char why[MPS_WHY_LEN];

	pthread_mutex_init(&s->lock, NULL);
	TAILQ_INIT(&s->clients);
	snprintf(s->control, sizeof(s->control), "%s", m->conf.mps_control);
	if (snprintf(s->pipe_dir, sizeof(s->pipe_dir), "%s/pipe", m->conf.mps_dir) >=
	    (int)sizeof(s->pipe_dir) ||
	    snprintf(s->log_dir, sizeof(s->log_dir), "%s/log", m->conf.mps_dir) >=
	    (int)sizeof(s->log_dir)) {
		log_errx("mps_dir %s: too long", m->conf.mps_dir);
		return -1;
	}
	/* the daemon binds pipe/control, a socket: its path has 107 bytes at most */
	if (strlen(s->pipe_dir) + sizeof("/control") > sizeof(((struct sockaddr_un *)0)->sun_path)) {
		log_errx("mps_dir %s: too long for the MPS daemon's socket (pipe/control must fit "
			 "%zu bytes)", m->conf.mps_dir,
			 sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
		return -1;
	}
	s->fault_limit = m->conf.mps_fault_limit;
	s->fault_window_ns = m->conf.mps_fault_window_s * 1000000000ull;
	s->env = daemon_env(s);
	if (!s->env) {
		log_errx("mps: out of memory");
		return -1;
	}
	s->wanted = any_vm_wants(m);
	if (!s->wanted) {
		if (control_there(s)) {	/* left by a mediator that was killed */
			log_warnx("mps: no VM in MPS mode, but a daemon runs on %s: stopping it",
				  s->pipe_dir);
			daemon_stop(s);
		}
		return 0;
	}
	/* Its clients, unprivileged, must reach the pipes; the logs are ours. */
	if (mkdir_mode(m->conf.mps_dir, 0755) || mkdir_mode(s->pipe_dir, 0755) ||
	    mkdir_mode(s->log_dir, 0700)) {
		log_err("mps: cannot create %s/pipe and log", m->conf.mps_dir);
		return -1;
	}
	if (daemon_start(s, why, sizeof(why))) {
		log_errx("mps: isolation = mps, but the daemon does not start: %s", why);
		return -1;
	}
	return 0;
}

void mps_reload(struct mediator *m)
{
	struct mps *s = &m->mps;
	char why[MPS_WHY_LEN];
	bool wanted = any_vm_wants(m);

	pthread_mutex_lock(&s->lock);
	s->fault_limit = m->conf.mps_fault_limit;
	s->fault_window_ns = m->conf.mps_fault_window_s * 1000000000ull;
	s->wanted = wanted;
	if (wanted && !s->running) {
		if (mkdir_mode(m->conf.mps_dir, 0755) || mkdir_mode(s->pipe_dir, 0755) ||
		    mkdir_mode(s->log_dir, 0700))
			log_warn("mps: cannot create %s/pipe and log", m->conf.mps_dir);
		if (daemon_start(s, why, sizeof(why)))
			log_errx("mps: reload: the daemon does not start: %s (MPS-mode jobs "
				 "fail until it does)", why);
	} else if (!wanted && s->running) {
		log_info("mps: reload: no VM in MPS mode any more");
		kill_clients(s, "");
		daemon_stop(s);
	}
	pthread_mutex_unlock(&s->lock);
}

void mps_shutdown(struct mediator *m)
{
	struct mps *s = &m->mps;

	if (!s->env)
		return;		/* never set up */
	pthread_mutex_lock(&s->lock);
	kill_clients(s, "");
	if (s->running)
		daemon_stop(s);
	pthread_mutex_unlock(&s->lock);
	free(s->env[s->env_ours]);
	free(s->env[s->env_ours + 1]);
	free(s->env);
	s->env = NULL;
}

int mps_client_begin(struct mps *s, char *why)
{
	char text[MPS_WHY_LEN];

	pthread_mutex_lock(&s->lock);
	if (!s->wanted) {	/* a reload since the job took its limits */
		pthread_mutex_unlock(&s->lock);
		return -EAGAIN;
	}
	if (s->running && control_there(s))
		return 0;
	if (s->running)
		log_warnx("mps: the daemon of %s is gone: starting it again", s->pipe_dir);
	if (!daemon_start(s, text, sizeof(text)))
		return 0;
	atomic_store(&s->up, false);
	s->running = false;
	pthread_mutex_unlock(&s->lock);
	log_errx("mps: the daemon does not start: %s", text);
	snprintf(why, VGPU_MSG_LEN, "MPS daemon does not start: see the log");
	return -EIO;
}

void mps_client_env(const struct mps *s, const struct exec_limits *lim, struct mps_env *e)
{
	unsigned int n = 0;

	snprintf(e->buf[n++], MPS_ENV_LEN, "CUDA_MPS_PIPE_DIRECTORY=%s", s->pipe_dir);
	snprintf(e->buf[n++], MPS_ENV_LEN, "CUDA_MPS_ACTIVE_THREAD_PERCENTAGE=%u",
		 lim->sm_percent);
	/* device 0 (the executor's -g), in MiB rounded up: the executor holds
	 * the exact quota, MPS a backstop with the context's headroom */
	snprintf(e->buf[n++], MPS_ENV_LEN, "CUDA_MPS_PINNED_DEVICE_MEM_LIMIT=0=%" PRIu64 "M",
		 (uint64_t)((lim->mem_bytes + (1u << 20) - 1) / (1u << 20) + MPS_MEM_HEADROOM_MB));
	for (unsigned int i = 0; i < n; i++)
		e->envp[i] = e->buf[i];
	e->envp[n] = NULL;
}

void mps_client_end(struct mps *s, struct vm_exec *x, bool ok)
{
	x->lost_to[0] = '\0';
	if (ok) {
		x->mps_home = s;
		x->mps_listed = true;
		x->mps_pid = x->pid;
		TAILQ_INSERT_TAIL(&s->clients, x, mps_entry);
	}
	pthread_mutex_unlock(&s->lock);
}

void mps_unlist(struct vm_exec *x)
{
	/* set once, by this VM's worker, before any unlisting can be asked */
	struct mps *s = x->mps_home;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	if (x->mps_listed) {
		TAILQ_REMOVE(&s->clients, x, mps_entry);
		x->mps_listed = false;
	}
	pthread_mutex_unlock(&s->lock);
}

bool mps_fault(struct mps *s, struct vm *vm, char faulter[VM_NAME_MAX], bool *demoted)
{
	struct vm_exec *x = &vm->exec;
	uint64_t now = vgpu_now_ns(), oldest;
	char why[MPS_WHY_LEN];
	unsigned int limit;

	*demoted = false;
	pthread_mutex_lock(&s->lock);
	if (x->lost_to[0]) {	/* another VM's fault killed it */
		snprintf(faulter, VM_NAME_MAX, "%s", x->lost_to);
		pthread_mutex_unlock(&s->lock);
		return false;
	}
	snprintf(faulter, VM_NAME_MAX, "%s", vm->conf.name);
	kill_clients(s, vm->conf.name);
	daemon_stop(s);
	atomic_fetch_add(&s->restarts, 1);
	if (!s->wanted)		/* a reload turned MPS off meanwhile */
		log_warnx("mps: vm %s faulted: every MPS client killed, daemon stopped",
			  vm->conf.name);
	else if (daemon_start(s, why, sizeof(why)))
		log_errx("mps: after vm %s's fault the daemon does not start again: %s",
			 vm->conf.name, why);
	else
		log_warnx("mps: vm %s faulted: every MPS client killed, daemon restarted",
			  vm->conf.name);
	limit = s->fault_limit < MPS_FAULTS_MAX ? s->fault_limit : MPS_FAULTS_MAX;
	x->fault_ns[x->nfaults++ % MPS_FAULTS_MAX] = now;
	/* the limit-th last fault, within the window? */
	oldest = x->nfaults >= limit ? x->fault_ns[(x->nfaults - limit) % MPS_FAULTS_MAX] : 0;
	if (x->nfaults >= limit && now - oldest <= s->fault_window_ns) {
		atomic_store(&x->demoted, true);
		*demoted = true;
		log_warnx("vm %s: %u MPS faults within %" PRIu64 " s: moved to process "
			  "isolation until the mediator restarts", vm->conf.name, limit,
			  (uint64_t)(s->fault_window_ns / 1000000000u));
	}
	pthread_mutex_unlock(&s->lock);
	return true;
}
