/* SPDX-License-Identifier: MIT */
/*
 * isolation = mps (mps.c): the mediator's own MPS control daemon and the
 * executors that are its clients (Documentation/executor.rst, "Isolation
 * modes").
 *
 * The daemon is private: nvidia-cuda-mps-control -d with
 * CUDA_MPS_PIPE_DIRECTORY and CUDA_MPS_LOG_DIRECTORY under mps_dir, never
 * the system's /tmp/nvidia-mps. It runs while a VM is in MPS mode.
 *
 * Who touches what: every field of struct mps is under its @lock except
 * those marked [A] (atomics, read by snap.c without it) and the paths
 * (fixed by mps_setup()). Lock order: a VM's x->lock (exec.h), then
 * s->lock; never m->lock inside s->lock.
 *  - the main thread: mps_setup() before the workers start, mps_reload()
 *    after a reload, mps_shutdown() after the workers stopped;
 *  - a pool's worker, with its VM's x->lock held: mps_client_begin() and
 *    mps_client_end() around starting an MPS-mode executor, mps_fault()
 *    when one died, mps_unlist() before it reaps one;
 *  - the last vm_put() (any thread): mps_unlist() through exec_stop().
 * A fault kills the other clients (SIGKILL, by the pid listed here, which
 * is never reaped while listed: a worker unlists before it reaps) and
 * restarts the daemon while holding @lock, so no executor connects to a
 * daemon that is going away.
 */
#ifndef VGPU_MEDIATOR_MPS_H
#define VGPU_MEDIATOR_MPS_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "conf.h"

struct exec_limits;
struct mediator;
struct vm;
struct vm_exec;

/* The environment an MPS-mode executor gets (mps_client_env()). */
#define MPS_ENV_MAX	4
#define MPS_ENV_LEN	(PATH_MAX + 32)
struct mps_env {
	char buf[MPS_ENV_MAX][MPS_ENV_LEN];
	char *envp[MPS_ENV_MAX + 1];	/* NULL-terminated, into buf */
};

struct mps {
	pthread_mutex_t lock;
	bool wanted;			/* a VM is in MPS mode */
	bool running;			/* started, its control pipe there */
	unsigned int fault_limit;	/* conf.mps_fault_limit */
	uint64_t fault_window_ns;	/* conf.mps_fault_window_s */
	TAILQ_HEAD(, vm_exec) clients;	/* live MPS-mode executors */
	char **env;			/* the daemon's: ours, CUDA_MPS_* replaced */
	size_t env_ours;		/* env's two strings we allocated, from here */
	atomic_bool up;			/* [A] running, for the status */
	atomic_uint_fast64_t starts;	/* [A] daemons started */
	atomic_uint_fast64_t restarts;	/* [A] of them, after a fault */
	char control[PATH_MAX];		/* nvidia-cuda-mps-control (fixed) */
	char pipe_dir[PATH_MAX];	/* mps_dir/pipe (fixed) */
	char log_dir[PATH_MAX];		/* mps_dir/log (fixed) */
};

/* Main thread, before the workers: paths, directories, and the daemon if
 * a VM wants it. 0, or -1 (logged): the mediator does not start. */
int mps_setup(struct mediator *m);
/* Main thread, after a reload applied the VMs' isolation: start or stop
 * the daemon, take the new fault limits. */
void mps_reload(struct mediator *m);
/* Main thread, after the workers stopped: kill the clients, stop it. */
void mps_shutdown(struct mediator *m);

/*
 * A worker, before starting an MPS-mode executor: start the daemon if it
 * is not running. 0 with s->lock held (until mps_client_end()); -EAGAIN
 * when a reload left no VM in MPS mode since the job took its limits (it
 * runs in process mode); or -EIO with @why (VGPU_MSG_LEN). The lock is
 * not held after an error.
 */
int mps_client_begin(struct mps *s, char *why);
/* @x's environment from @lim (pool SM share, memory quota) into @e. */
void mps_client_env(const struct mps *s, const struct exec_limits *lim, struct mps_env *e);
/* Started (@ok: @x->pid said READY, now listed) or not; drops s->lock. */
void mps_client_end(struct mps *s, struct vm_exec *x, bool ok);
/* @x's executor is about to be reaped: no longer ours to kill. */
void mps_unlist(struct vm_exec *x);

/*
 * A worker: the MPS-mode executor of @vm died, timed out or lost its
 * context (already unlisted and reaped). If another VM's fault killed it,
 * that VM's name goes into @faulter and it returns false. Otherwise it is
 * the faulting VM: every other client is killed, the daemon restarted,
 * the fault counted in @vm's window, @vm moved to process isolation if
 * the window holds mps_fault_limit faults (*@demoted), @faulter gets
 * @vm's name and it returns true.
 */
bool mps_fault(struct mps *s, struct vm *vm, char faulter[VM_NAME_MAX], bool *demoted);

#endif /* VGPU_MEDIATOR_MPS_H */
