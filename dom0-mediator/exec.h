/* SPDX-License-Identifier: MIT */
/*
 * Session executors (exec.c): each VM that uses sessions has one
 * vgpu-executor process (Documentation/executor.rst), started by the pool
 * worker that runs the VM's first session job, kept while it lives, and
 * replaced, with a new handle epoch, after it died or was killed.
 *
 * Who touches what:
 *  - a pool's worker, in exec_run(), holds the VM's x->lock for the whole
 *    job: a VM's jobs run in its one pool, but a reload that moves the VM
 *    can start its next job in the other pool while the last one runs;
 *  - the thread that drops the VM's last reference (vm_put(), any thread)
 *    stops its executor with exec_stop(): no job of the VM remains;
 *  - the main thread calls exec_setup() once, before the workers start;
 *  - in MPS mode another VM's worker may SIGKILL the executor listed in
 *    struct mps (mps.h), under the mps lock, never reaping it.
 * The epoch counter (struct exec_epochs in struct mediator) has its own
 * lock, taken once per executor started.
 */
#ifndef VGPU_MEDIATOR_EXEC_H
#define VGPU_MEDIATOR_EXEC_H

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "conf.h"

struct job;
struct mediator;
struct mps;
struct pool;
struct vm;

/* One VM's executor. */
struct vm_exec {
	pthread_mutex_t lock;		/* held across a session job */
	pid_t pid;			/* 0: none running */
	int sock;			/* our end of its socketpair, or -1 */
	struct vgpu_mbox *mbox;		/* its mailbox (emsg.h), mapped; NULL: none */
	uint32_t mbox_seq;		/* the run_seq of the last RUN put in it */
	uint32_t epoch;			/* its handle epoch */
	unsigned int starts;		/* executors started for the VM */
	/* isolation = mps (mps.h): [lock] unless marked */
	bool mps;			/* the running one is an MPS client */
	atomic_bool demoted;		/* moved back to process isolation [A] */
	uint64_t fault_ns[MPS_FAULTS_MAX];	/* its last MPS faults, a ring */
	unsigned int nfaults;		/* faults ever, the ring's next slot */
	struct mps *mps_home;		/* set at its first MPS client, kept */
	/* [the mps lock] */
	TAILQ_ENTRY(vm_exec) mps_entry;
	bool mps_listed;		/* in mps_home's clients */
	pid_t mps_pid;			/* the pid listed */
	char lost_to[VM_NAME_MAX];	/* killed for this VM's fault, or "" */
};

/*
 * The handle epochs of every executor this mediator starts: unique across
 * VMs (so a handle of one VM is refused by another's executor) and across
 * restarts (kept in state_dir/executor-epoch, written before the executor
 * that uses it starts; opened only then, so that it holds no fd).
 */
struct exec_epochs {
	pthread_mutex_t lock;
	uint32_t last;			/* [lock] */
	int dir_fd;			/* m->state_dir_fd (not ours), fixed */
	char path[PATH_MAX];		/* the executor program (fixed) */
};

/* What a session job of the VM may use: its config when the job started. */
struct exec_limits {
	uint64_t mem_bytes, module_bytes;
	uint32_t handles;
	unsigned int time_ms;
	enum isolation isolation;	/* its config's (exec.c applies demotion) */
	unsigned int sm_percent;	/* its pool's, for MPS mode */
};

/* What exec_run() did besides running the job, for the VM's counters. */
#define EXEC_EV_RESTARTED (1u << 0)	/* started one, not the VM's first */
#define EXEC_EV_DIED	(1u << 1)	/* one died: crashed, faulted, killed */
#define EXEC_EV_TIMEOUT	(1u << 2)	/* the job overran its time limit */
#define EXEC_EV_MPS_FAULT (1u << 3)	/* its MPS client faulted: daemon restarted */
#define EXEC_EV_MPS_LOST (1u << 4)	/* its MPS client was lost to another's fault */
#define EXEC_EV_DEMOTED	(1u << 5)	/* moved to process isolation */

/* Main thread, before the workers: the epochs and the program path. 0 or -errno. */
int exec_setup(struct mediator *m);
void exec_init(struct vm_exec *x);

/*
 * A pool's worker: run session job @j (op VGPU_OP_SESSION, its header
 * checked at acceptance) of pool @pool: check the list (CRC, then
 * vgpu_sess_parse()), then hand it to its VM's executor and wait at most
 * @lim->time_ms. Records the outcome in @j (status, msg, out_len, out_crc,
 * finished_ns; started_ns is the worker's) and ORs EXEC_EV_* into
 * *@events. Called without m->lock.
 */
void exec_run(struct mediator *m, unsigned int pool, struct job *j,
	      const struct exec_limits *lim, unsigned int *events);

/* The VM's last reference is going: kill and reap its executor. */
void exec_stop(struct vm_exec *x);

/* Pool @p's list buffer (pool.h) goes, unmapped: by its worker, idle. */
void exec_drop_list_buf(struct pool *p);

#endif /* VGPU_MEDIATOR_EXEC_H */
