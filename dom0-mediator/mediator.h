/* SPDX-License-Identifier: MIT */
/*
 * The mediator as a whole, and its threads.
 *
 *  main thread	  main.c: event loop (inotify, signals, rescans, reload,
 *		  the 1 s tick that repairs VMs and retries what waits);
 *		  accept.c: accepting, recovery, settling, expiry; vm.c:
 *		  the VMs; ctl.c: the control socket; snap.c: copies of the
 *		  counters for ctl.c and metrics.c.
 *  pool workers  sched.c: one per pool, runs that pool's jobs one at a time
 *		  and adds each to its VM's histograms and the trace
 *		  (stats.c); exec.c: a session job, on its VM's executor
 *		  process (started, killed at the time limit and reaped by
 *		  the worker, with the VM's exec lock held: exec.h); mps.c:
 *		  after an MPS client's fault, the other clients killed and
 *		  the MPS daemon restarted under the mps lock (mps.h).
 *  publishers	  sched.c: one per pool, answers the jobs its worker ran
 *		  through respond.c while the worker runs the next.
 *  metrics	  metrics.c: libmicrohttpd's thread serving /metrics; it asks
 *		  the main thread for a copy (snap.c) through an eventfd and
 *		  formats it on its own, touching nothing of struct mediator.
 *  I/O helpers	  dom0-lib/job.c: a worker's team moving one job's bytes.
 *  executors	  not threads: one vgpu-executor process per VM that uses
 *		  sessions (Documentation/executor.rst), spoken to only by
 *		  the worker running that VM's session job. With isolation
 *		  = mps they are clients of the MPS control daemon that
 *		  mps.c starts (nvidia-cuda-mps-control -d, no child of
 *		  ours once it daemonized).
 *
 * m->lock guards what the headers mark [L]: the pools' queues, policies,
 * running and ran jobs (pool.h, queue.h), every VM's queue placement and
 * share (conf.pool, conf.prio, conf.id, conf.weight, flow) and the
 * counters workers and publishers update (vm.h), @trace and @stopping.
 * [A] marks atomics shared without it. The fields of struct mediator not
 * marked are the main thread's. The lock is taken once per batch of
 * accepted requests by the main thread, once per job by a worker and once
 * per batch by a publisher: on a paravirtualised Dom0 every contended
 * futex is expensive.
 *
 * Calls go one way, from the top down; nothing calls back up:
 *   main.c   -> ctl.c, metrics.c, accept.c, sched.c, vm.c, exec.c (exec_setup),
 *		mps.c (setup, reload, shutdown)
 *   ctl.c, metrics.c -> snap.c -> stats.c
 *   accept.c -> sched.c, respond.c, vm.c
 *   sched.c  -> exec.c, respond.c, vm.c, queue.c (the policy: pure, no lock,
 *		no clock), stats.c
 *   exec.c   -> respond.c (rsp_scrub), vm.c (vm_warnx), mps.c, dom0-lib/emsg.c
 *   mps.c    -> nothing of ours (reads the VMs' names and exec fields)
 *   respond.c -> vm.c (vm_warnx)
 *   snap.c   -> queue.c (policy names)
 *   vm.c     -> queue.h (flow_init, inline), exec.c (exec_init, and
 *		exec_stop from the last vm_put: leaves, calling nothing)
 *   queue.c, stats.c -> lib/ only
 */
#ifndef VGPU_MEDIATOR_H
#define VGPU_MEDIATOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "exec.h"
#include "mps.h"
#include "pool.h"
#include "queue.h"
#include "stats.h"
#include "vm.h"

struct mediator {
	const char *conf_path;
	struct conf conf;		/* fsync is read by workers [A] */
	bool foreground;
	bool verbose;			/* -v: debug logs whatever the config says */
	struct loop *loop;
	int ino_fd, sig_fd, rescan_fd, tick_fd, state_dir_fd;
	int priv_dir_fd;		/* conf.private_dir: the VMs' private records */
	struct ctl *ctl;		/* the control socket (ctl.c) */
	pthread_mutex_t lock;
	struct pool pools[VGPU_NR_POOLS];
	struct vm_list vms;
	struct vm_list leaving;		/* removed by a reload, jobs still queued */
	uint64_t seq;			/* arrival counter */
	struct job_list accepted;	/* accepted this batch, not yet queued */
	bool stopping;			/* [L] workers finish and exit */
	struct trace_ring trace;	/* the last jobs run [L] (stats.h) */
	struct metrics *metrics;	/* the /metrics server, or NULL (metrics.c) */
	int lock_fd, spool_lock_fd;	/* one mediator per state_dir and spool */
	int ready_fd;			/* daemonizing: tell the parent, or -1 */
	cpu_set_t start_cpus;		/* where it may run, before "cpus" bound it */
	bool reload_failed;		/* the last SIGHUP kept the old config */
	char reload_err[1024];		/* why */
	const struct vgpu_backend_ops *be_ops;	/* fixed while workers run */
	struct vgpu_backend *be;
	struct exec_epochs epochs;	/* executors' epochs and program (exec.h) */
	struct mps mps;			/* isolation = mps: the daemon (mps.h) */
};

#endif /* VGPU_MEDIATOR_H */
