/* SPDX-License-Identifier: MIT */
/*
 * A VM: its config, its opened spool directory and private record, its
 * last-id state file, its counters, its log rate limit and whether it is
 * served (vm.c).
 *
 * Who touches what (m->lock is the mediator's lock, mediator.h):
 *  - the main thread creates, watches, revives, repairs and removes VMs
 *    and owns last_id, last_id_dirty, state_fd, taken_fd, taken_hi,
 *    batch_hi, wd, broken, the retry times and the main-thread counters;
 *  - conf.pool, conf.prio, conf.id and conf.weight change only on the main
 *    thread with m->lock held, so workers read them under m->lock and the
 *    main thread reads them freely; conf.name and conf.dir never change;
 *  - flow is the VM's place in its pool's queues (queue.h) [L];
 *  - each job holds a reference; the pool's worker that runs it and the
 *    publisher that answers it may read sp, priv and conf.name, update
 *    [L] counters and call vm_warnx() and vm_put();
 *  - [A] fields are atomics shared without the lock.
 */
#ifndef VGPU_MEDIATOR_VM_H
#define VGPU_MEDIATOR_VM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "conf.h"
#include "exec.h"
#include "queue.h"
#include "spool.h"
#include "stats.h"

struct mediator;

struct vm_stats {
	uint64_t accepted, rejected, expired, bytes_in;	/* main thread */
	uint64_t completed, failed, bytes_out;		/* [L] */
	uint64_t run_ns;	/* in the backend, measured by the worker [L] */
	uint64_t wait_ns;	/* queued before starting, summed at each start [L] */
	/* Sessions (exec.c) [L]: jobs run, executors started after the VM's
	 * first, executors that died (crash, fault, kill), jobs over the limit. */
	uint64_t sess_jobs, exec_restarts, exec_deaths, sess_timeouts;
	/* Sessions [L]: of run_ns, the time inside the executors (their own
	 * clocks: reading the list, running it, writing the response); the
	 * rest is the worker's check and the messages both ways. */
	uint64_t exec_ns;
	/* isolation = mps (mps.c) [L]: its client's faults (each restarted the
	 * daemon), its jobs or executors lost to another VM's fault, and its
	 * moves back to process isolation (0 or 1 until a restart). */
	uint64_t mps_faults, mps_lost, mps_demotions;
	struct stats_hist wait, run;	/* queued to started, started to done [L] */
};

/* Why a configured VM is not served; cleared when a retry succeeds. */
enum vm_broken {
	VM_OK,
	VM_BROKEN_OPEN,			/* its directories cannot be opened */
	VM_BROKEN_STATE,		/* its last id cannot be stored */
};

struct vm {
	TAILQ_ENTRY(vm) entry;		/* m->vms or m->leaving (main thread) */
	struct vm_conf conf;		/* see above */
	struct vgpu_spool sp;		/* fixed while a job runs */
	int priv;			/* private record, outside the export */
	int wd;				/* inotify watch on req/ */
	int state_fd;			/* state_dir/<name>.last-id */
	int taken_fd;			/* VM/taken: highest id out of req/, for
					 * the guest's eyes only */
	uint64_t taken_hi;		/* what taken_fd holds */
	uint64_t batch_hi;		/* the highest request id of the inotify
					 * batch being accepted (vm_note_batch_id) */
	enum vm_broken broken;
	char why[128];			/* why broken, for vgpuctl status */
	uint64_t repair_ns;		/* next repair attempt, CLOCK_MONOTONIC */
	uint64_t publish_ns;		/* next retry of unpublished answers */
	unsigned int repair_s, publish_s;	/* their backoff */
	uint64_t spool_bytes;		/* its files' bytes in the spool, counted
					 * every tick if bounded, plus what it
					 * accepted since (an upper bound) */
	atomic_bool unsettled;		/* answers or undecided requests wait
					 * in priv (respond.h) [A] */
	bool nodev;			/* dir on a nodev mount: plain opens are safe */
	uint64_t last_id;		/* highest id accepted or answered */
	bool last_id_dirty;		/* not yet in state_fd */
	atomic_uint jobs;		/* queued + running [A] */
	atomic_uint refs;		/* config + jobs [A]; 0 frees */
	struct vm_stats st;
	struct flow flow;		/* its jobs in its pool's queues [L] */
	struct vm_exec exec;		/* its session executor (exec.h) */
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
/* Main thread: write vm->last_id to its state file; a failure breaks the VM. */
int vm_store_last_id(struct vm *vm);
/* Main thread: tell the guest that ids up to @id left req/ (VM/taken). */
void vm_set_taken(struct vm *vm, uint64_t id);
/* Main thread: mark @vm unserved (logged once) or served again. */
void vm_break(struct vm *vm, enum vm_broken kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Main thread: reopen what vm_add() could not, or what the guest replaced. */
int vm_open(struct mediator *m, struct vm *vm);
/* Main thread: has the guest removed or replaced req/, tmp/ or rsp/? */
bool vm_dirs_replaced(const struct vm *vm);

/* Any thread. */
void vm_put(struct vm *vm);			/* drop a reference; 0 frees */
/* A warning the guest caused: at most 1/s after a burst of 10 per VM. */
void vm_warnx(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* VGPU_MEDIATOR_VM_H */
