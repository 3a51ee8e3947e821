/* SPDX-License-Identifier: MIT */
/*
 * A VM: its config, its opened spool directory, its last-id state file,
 * its counters and its log rate limit (vm.c).
 *
 * Who touches what (m->lock is the mediator's lock, mediator.h):
 *  - the main thread creates, watches, revives and removes VMs and owns
 *    last_id, last_id_dirty, state_fd, wd and the main-thread counters;
 *  - conf.pool, conf.prio, conf.id and conf.weight change only on the main
 *    thread with m->lock held, so workers read them under m->lock and the
 *    main thread reads them freely; conf.name and conf.dir never change;
 *  - flow is the VM's place in its pool's queues (queue.h) [L];
 *  - each job holds a reference; the pool's worker that runs it and the
 *    publisher that answers it may read sp and conf.name, update [L]
 *    counters and call vm_warnx() and vm_put();
 *  - [A] fields are atomics shared without the lock.
 */
#ifndef VGPU_MEDIATOR_VM_H
#define VGPU_MEDIATOR_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "conf.h"
#include "queue.h"
#include "spool.h"
#include "stats.h"

struct mediator;

struct vm_stats {
	uint64_t accepted, rejected, expired, bytes_in;	/* main thread */
	uint64_t completed, failed, bytes_out;		/* [L] */
	uint64_t run_ns;	/* in the backend, measured by the worker [L] */
	uint64_t wait_ns;	/* queued before starting, summed at each start [L] */
	struct stats_hist wait, run;	/* queued to started, started to done [L] */
};

struct vm {
	TAILQ_ENTRY(vm) entry;		/* m->vms or m->leaving (main thread) */
	struct vm_conf conf;		/* see above */
	struct vgpu_spool sp;		/* fixed while referenced */
	int wd;				/* inotify watch on req/ */
	int state_fd;			/* state_dir/<name>.last-id */
	bool nodev;			/* dir on a nodev mount: plain opens are safe */
	uint64_t last_id;		/* highest id accepted or answered */
	bool last_id_dirty;		/* not yet in state_fd */
	atomic_uint jobs;		/* queued + running [A] */
	atomic_uint refs;		/* config + jobs [A]; 0 frees */
	struct vm_stats st;
	struct flow flow;		/* its jobs in its pool's queues [L] */
	_Atomic uint64_t warn_tat_ns;	/* rate limit for guest-caused logs [A] */
	_Atomic uint64_t warn_suppressed;	/* [A] */
};

TAILQ_HEAD(vm_list, vm);

/* Main thread: the set of VMs in m->vms and m->leaving. */
struct vm *vm_add(struct mediator *m, const struct vm_conf *c);
void vm_remove(struct mediator *m, struct vm *vm);
struct vm *vm_revive(struct mediator *m, const struct vm_conf *c);
void vm_reap_leaving(struct mediator *m);
struct vm *vm_find_by_name(struct mediator *m, const char *name);
struct vm *vm_find_by_wd(struct mediator *m, int wd);
int vm_watch(struct mediator *m, struct vm *vm);
/* Main thread: write vm->last_id to its state file. */
void vm_store_last_id(struct vm *vm);

/* Any thread. */
void vm_put(struct vm *vm);			/* drop a reference; 0 frees */
/* A warning the guest caused: at most 1/s after a burst of 10 per VM. */
void vm_warnx(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* VGPU_MEDIATOR_VM_H */
