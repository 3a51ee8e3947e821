/* SPDX-License-Identifier: MIT */
/*
 * The mediator as a whole, and its threads.
 *
 *  main thread	  main.c: event loop (inotify, signals, rescans, reload,
 *		  the 1 s tick that repairs VMs and retries what waits);
 *		  accept.c: accepting, recovery, settling, expiry; vm.c:
 *		  the VMs; ctl.c: the control socket.
 *  pool workers  sched.c: one per pool, runs that pool's jobs one at a time.
 *  publishers	  sched.c: one per pool, answers the jobs its worker ran
 *		  through respond.c while the worker runs the next.
 *  I/O helpers	  dom0-lib/job.c: a worker's team moving one job's bytes.
 *
 * m->lock guards what the headers mark [L]: the pools' queues, running and
 * ran jobs (pool.h), every VM's queue placement (conf.pool, conf.prio,
 * conf.id) and the counters workers and publishers update (vm.h), and
 * @stopping. [A] marks atomics shared without it. The fields of struct
 * mediator not marked are the main thread's. The lock is taken once per
 * batch of accepted requests by the main thread, once per job by a worker
 * and once per batch by a publisher: on a paravirtualised Dom0 every
 * contended futex is expensive.
 *
 * Calls go one way, from the top down; nothing calls back up:
 *   main.c   -> ctl.c, accept.c, sched.c, vm.c
 *   accept.c -> sched.c, respond.c, vm.c
 *   sched.c  -> respond.c, vm.c, queue.c
 *   respond.c -> vm.c (vm_warnx)
 *   ctl.c, vm.c, queue.c -> lib/ only
 */
#ifndef VGPU_MEDIATOR_H
#define VGPU_MEDIATOR_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf.h"
#include "pool.h"
#include "queue.h"
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
	const struct vgpu_backend_ops *be_ops;	/* fixed while workers run */
	struct vgpu_backend *be;
};

#endif /* VGPU_MEDIATOR_H */
