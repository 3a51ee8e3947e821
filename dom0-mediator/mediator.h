/* SPDX-License-Identifier: MIT */
/*
 * The mediator as a whole, and its threads.
 *
 *  main thread	  main.c: event loop (inotify, signals, rescans, reload);
 *		  accept.c: accepting, recovery, expiry; vm.c: the VMs;
 *		  ctl.c: the control socket; snap.c: copies of the counters
 *		  for ctl.c and metrics.c.
 *  pool workers  sched.c: one per pool, runs that pool's jobs one at a time
 *		  and adds each to its VM's histograms and the trace
 *		  (stats.c).
 *  publishers	  sched.c: one per pool, answers the jobs its worker ran
 *		  through respond.c while the worker runs the next.
 *  metrics	  metrics.c: libmicrohttpd's thread serving /metrics; it asks
 *		  the main thread for a copy (snap.c) through an eventfd and
 *		  formats it on its own, touching nothing of struct mediator.
 *  I/O helpers	  dom0-lib/job.c: a worker's team moving one job's bytes.
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
 *   main.c   -> ctl.c, metrics.c, accept.c, sched.c, vm.c
 *   ctl.c, metrics.c -> snap.c -> stats.c
 *   accept.c -> sched.c, respond.c, vm.c
 *   sched.c  -> respond.c, vm.c, queue.c (the policy: pure, no lock, no clock),
 *		stats.c
 *   snap.c   -> queue.c (policy names)
 *   vm.c     -> queue.h (flow_init, inline)
 *   respond.c, queue.c, stats.c -> lib/ only
 */
#ifndef VGPU_MEDIATOR_H
#define VGPU_MEDIATOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
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
	int ino_fd, sig_fd, rescan_fd, state_dir_fd;
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
};

#endif /* VGPU_MEDIATOR_H */
