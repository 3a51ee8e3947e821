/* SPDX-License-Identifier: MIT */
/*
 * vgpu-mediator internals.
 *
 * Threads: the main thread runs the event loop (inotify, signals, rescans,
 * the control socket) and accepts requests; one worker per pool runs that
 * pool's jobs one at a time. m->lock guards what the comment marks [L]:
 * the pools' queues and running jobs, every VM's queue placement (pool,
 * prio) and the counters workers update; [A] marks atomics shared without
 * it. Everything else is main-thread only. The lock is taken once per
 * batch of accepted requests by the main thread and once per job by a
 * worker: on a paravirtualised Dom0 every contended futex is expensive.
 */
#ifndef VGPU_MEDIATOR_H
#define VGPU_MEDIATOR_H

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "spool.h"
#include "vgpu/backend.h"
#include "vgpu/proto.h"
#include <misc/vgpu_regs.h>

/* glibc's sys/queue.h lacks the BSD _SAFE iterators. */
#ifndef TAILQ_FOREACH_SAFE
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	     (var) && ((tvar) = TAILQ_NEXT(var, field), 1);		\
	     (var) = (tvar))
#endif

#define VM_NAME_MAX	64

enum backend_choice { BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA };

struct vm_conf {
	char name[VM_NAME_MAX];
	uint32_t id;			/* vm_id, as given to QEMU */
	char dir[PATH_MAX];
	unsigned int pool;		/* VGPU_POOL_* */
	unsigned int prio;		/* VGPU_PRIO_* */
	uint64_t max_payload;		/* bytes per request */
	unsigned int max_queued;	/* requests queued or running */
	char where[PATH_MAX + 16];	/* "file:line" of its section */
};

/* A "cpus =" key: the CPUs a thread may run on. */
struct cpu_list {
	bool set;			/* false: wherever the kernel likes */
	cpu_set_t cpus;
	char text[64];			/* as written, for the logs */
};

struct conf {
	char spool[PATH_MAX];
	char state_dir[PATH_MAX];
	char ctl_path[108];		/* sun_path */
	char include_dir[PATH_MAX];
	enum backend_choice backend;
	unsigned int rescan_s;
	unsigned int response_ttl_s;
	atomic_bool fsync;		/* reloaded while workers read it */
	int log_level;
	uint64_t staging_bytes;
	unsigned int worker_spin_us;	/* a worker polls this long after a job */
	struct cpu_list main_cpus;	/* the main thread (accepts, control socket) */
	struct vgpu_pool_conf pools[VGPU_NR_POOLS];
	struct cpu_list pool_cpus[VGPU_NR_POOLS];	/* each pool's worker */
	unsigned int io_threads[VGPU_NR_POOLS];	/* threads moving a job's bytes */
	struct vm_conf *vms;
	unsigned int nvms;
};

/* Loads @path and every include_dir/NAME.conf. 0, or -1 with "file:line: ..." in @err. */
int conf_load(const char *path, struct conf *c, char *err, size_t errlen);
/* "0-3,8,10-11" into @l; 0, or -1 (bad syntax, or a CPU >= CPU_SETSIZE). */
int cpu_list_parse(const char *text, struct cpu_list *l);
/* Binds the calling thread to @l (if set); 0 or -errno. */
int cpu_list_apply(const struct cpu_list *l);
void conf_free(struct conf *c);

struct vm;

struct job {
	TAILQ_ENTRY(job) entry;
	unsigned int prio;		/* queue it sits in [L] */
	unsigned int pool;		/* snapshot taken at dispatch [L] */
	uint32_t vm_id;			/* snapshot taken at dispatch [L] */
	uint64_t seq;			/* global arrival order */
	struct vm *vm;
	int fd;				/* acc/<id> (read-write), pinned from accept
					 * to done; output and trailer go to its end */
	struct vgpu_req_hdr hdr;
	uint64_t queued_ns;
};

TAILQ_HEAD(job_list, job);

/* Per-pool queues: high > medium > low, FIFO (by seq) within a level. */
struct jobq {
	struct job_list q[VGPU_NR_PRIOS];
	unsigned int depth[VGPU_NR_PRIOS];
};

void jobq_init(struct jobq *q);
void jobq_push(struct jobq *q, struct job *j);	/* keeps seq order */
struct job *jobq_pop(struct jobq *q);
void jobq_remove(struct jobq *q, struct job *j);
unsigned int jobq_len(const struct jobq *q);

struct vm_stats {
	uint64_t accepted, rejected, expired, bytes_in;	/* main thread */
	uint64_t completed, failed, bytes_out;		/* [L] */
};

struct vm {
	TAILQ_ENTRY(vm) entry;
	struct vm_conf conf;		/* pool/prio [L] */
	struct vgpu_spool sp;
	int wd;				/* inotify watch on req/ */
	int state_fd;			/* state_dir/<name>.last-id */
	bool nodev;			/* dir on a nodev mount: plain opens are safe */
	uint64_t last_id;		/* highest id accepted or answered */
	bool last_id_dirty;		/* not yet in state_fd */
	atomic_uint jobs;		/* queued + running [A] */
	atomic_uint refs;		/* config + jobs [A]; 0 frees */
	struct vm_stats st;
	uint64_t warn_tokens_ns;	/* rate limit for guest-caused logs */
	uint64_t warn_suppressed;
};

TAILQ_HEAD(vm_list, vm);

struct pool {
	struct jobq q;			/* [L] */
	struct job *running;		/* [L] */
	uint64_t running_since_ns;	/* [L] */
	uint64_t done;			/* [L] */
	pthread_cond_t wake;
	atomic_uint kicks;		/* bumped with every signal of wake */
	pthread_t thread;
	bool started;
	struct vgpu_io_team *team;	/* the worker's I/O helpers, or NULL */
};

struct mediator {
	const char *conf_path;
	struct conf conf;
	bool foreground;
	bool verbose;			/* -v: debug logs whatever the config says */
	struct loop *loop;
	int ino_fd, sig_fd, ctl_fd, rescan_fd, state_dir_fd;
	pthread_mutex_t lock;
	struct pool pools[VGPU_NR_POOLS];
	struct vm_list vms;
	struct vm_list leaving;		/* removed by a reload, jobs still queued */
	uint64_t seq;			/* arrival counter (main thread) */
	struct job_list accepted;	/* accepted this batch, not yet queued */
	bool stopping;			/* [L] workers finish and exit */
	const struct vgpu_backend_ops *be_ops;
	struct vgpu_backend *be;
};

/* sched.c: pools and workers */
int sched_start(struct mediator *m);
void sched_stop(struct mediator *m);		/* finish running jobs, join */
void sched_enqueue(struct mediator *m, struct job *j);
/* Store dirty last ids, then queue every job of m->accepted in order. */
void sched_flush(struct mediator *m);
void sched_move_vm(struct mediator *m, struct vm *vm, unsigned int pool,
		   unsigned int prio);		/* requeue its waiting jobs */
void vm_put(struct vm *vm);			/* drop a reference */
void job_free(struct job *j);

/* requests.c: accepting requests, writing responses, recovery, expiry */
int vm_open(struct mediator *m, struct vm *vm);
int vm_watch(struct mediator *m, struct vm *vm);
void vm_accept(struct mediator *m, struct vm *vm, const char *name);
void vm_accept_created(struct mediator *m, struct vm *vm, const char *name);
void vm_scan_requests(struct mediator *m, struct vm *vm);
int vm_recover(struct mediator *m, struct vm *vm, struct job_list *out);
void vm_expire(struct mediator *m, struct vm *vm);
int vm_respond_error(struct mediator *m, struct vm *vm, uint64_t id, uint32_t op,
		     int status, const char *msg);
/* Append the trailer to acc/ID (output already there) and publish rsp/ID. */
int vm_finish_job(struct mediator *m, struct job *j, int status, const char *msg,
		  uint64_t started_ns, uint32_t out_crc, uint64_t out_len);
void vm_store_last_id(struct vm *vm);
void vm_warnx(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ctl.c: the control socket behind vgpuctl */
int ctl_open(struct mediator *m);
void ctl_close(struct mediator *m);

#endif /* VGPU_MEDIATOR_H */
