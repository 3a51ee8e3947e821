/* SPDX-License-Identifier: MIT */
/*
 * The mediator's config as config.c loads it. Loaded by the main thread
 * (at start and on SIGHUP); the VMs' entries are copied into their struct
 * vm, the pools' sched into their queues (under m->lock), and workers read
 * only conf.fsync (atomic), conf.sm_percent (under m->lock, into a job's
 * exec_limits) and what they were handed at start; the MPS keys are
 * copied into struct mps (mps.h) under its lock.
 */
#ifndef VGPU_MEDIATOR_CONF_H
#define VGPU_MEDIATOR_CONF_H

#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <stdint.h>
#include <sys/types.h>

#include "queue.h"
#include "vgpu/backend.h"
#include "vgpu/proto.h"

#define VM_NAME_MAX	64
/* SMs of the largest GPU we serve (H100/H200 SXM: 132); the backend checks
 * the GPU's own count when it opens. */
#define VGPU_SMS_MAX	132
#define WHERE_MAX	(PATH_MAX + 16)	/* "file:line" */
/* The most faults mps_fault_limit may count (a VM keeps their times). */
#define MPS_FAULTS_MAX	16

enum backend_choice { BACKEND_AUTO, BACKEND_CPU, BACKEND_CUDA };

/*
 * How a VM's session executor is isolated from the other VMs' (exec.c,
 * mps.c; Documentation/executor.rst, "Isolation modes").
 */
enum isolation {
	ISO_UNSET,			/* a VM without the key: [mediator]'s */
	ISO_PROCESS,			/* its own process and CUDA context */
	ISO_MPS,			/* a client of the mediator's MPS daemon */
};

const char *isolation_name(enum isolation i);

struct vm_conf {
	char name[VM_NAME_MAX];
	uint32_t id;			/* vm_id, as given to QEMU */
	char dir[PATH_MAX];
	unsigned int pool;		/* VGPU_POOL_* */
	unsigned int prio;		/* VGPU_PRIO_* */
	uint64_t max_payload;		/* bytes per request */
	unsigned int max_queued;	/* requests queued or running */
	unsigned int weight;		/* share of its level's run time (weighted) */
	/* Sessions (exec.c): quotas of its executor, and each job's time. */
	uint64_t sess_mem;		/* session_mem_bytes: buffers + module images */
	uint32_t sess_handles;		/* session_handles: live handles */
	uint64_t sess_module;		/* session_module_bytes: module images */
	unsigned int sess_time_ms;	/* session_time_limit_ms: one job's run */
	uint64_t max_spool_bytes;	/* its files' bytes in the spool; 0: no bound */
	enum isolation isolation;	/* ISO_PROCESS or ISO_MPS once loaded */
	char iso_where[WHERE_MAX];	/* "file:line" of the key deciding it */
	char where[PATH_MAX + 16];	/* "file:line" of its section */
};

/* How a pool picks its next job (queue.c); reloadable. */
struct pool_sched {
	enum sched_policy policy;
	unsigned int aging_ms;		/* aging: one level up per this much wait */
};

/* A "cpus =" key: the CPUs a thread may run on. */
struct cpu_list {
	bool set;			/* false: wherever the kernel likes */
	cpu_set_t cpus;
	char text[64];			/* as written, for the logs */
	char where[WHERE_MAX];		/* "file:line" of the key */
};

static inline bool cpu_list_same(const struct cpu_list *a, const struct cpu_list *b)
{
	return a->set == b->set && !strcmp(a->text, b->text);
}

struct conf {
	char spool[PATH_MAX];
	char state_dir[PATH_MAX];
	char private_dir[PATH_MAX];	/* default spool/.mediator */
	char ctl_path[108];		/* sun_path */
	char ctl_group[64];		/* "" : none */
	gid_t ctl_gid;			/* (gid_t)-1: none */
	unsigned int ctl_mode;		/* 0600, or 0660 with a group */
	int metrics_family;		/* AF_INET, AF_INET6, or 0: off */
	uint8_t metrics_addr[16];	/* in_addr or in6_addr */
	uint16_t metrics_port;
	char metrics_text[64];		/* as written */
	unsigned int trace_jobs;	/* jobs vgpuctl trace remembers; 0: none */
	char include_dir[PATH_MAX];
	char include_where[WHERE_MAX];
	enum backend_choice backend;
	unsigned int rescan_s;
	unsigned int response_ttl_s;
	atomic_bool fsync;		/* reloaded while workers read it */
	int log_level;
	uint64_t staging_bytes;
	unsigned int worker_spin_us;	/* a worker polls this long after a job */
	char executor[PATH_MAX];	/* vgpu-executor; "": exec.c finds it */
	char executor_user[64];		/* what executors run as when we are root */
	uint32_t executor_uid_base;	/* each VM's executor runs as this + its id
					 * (the user's groups); 0: the user's uid */
	bool session_test_cmds;		/* executors accept the test_* commands */
	/* Isolation (mps.c): the VMs' default, and the MPS daemon's keys. */
	enum isolation isolation;	/* ISO_PROCESS unless "isolation = mps" */
	char iso_where[WHERE_MAX];	/* "file:line" of the key, or "" */
	char mps_control[PATH_MAX];	/* nvidia-cuda-mps-control */
	char mps_dir[PATH_MAX];		/* its pipe/ and log/; default beside
					 * the control socket */
	unsigned int mps_fault_limit;	/* faults in the window that demote a VM */
	unsigned int mps_fault_window_s;
	unsigned int sm_percent[VGPU_NR_POOLS];	/* MPS active threads, 1..100 */
	struct cpu_list main_cpus;	/* the main thread (accepts, control socket) */
	struct vgpu_pool_conf pools[VGPU_NR_POOLS];
	char sms_where[VGPU_NR_POOLS][WHERE_MAX];
	struct cpu_list pool_cpus[VGPU_NR_POOLS];	/* each pool's worker */
	unsigned int io_threads[VGPU_NR_POOLS];	/* threads moving a job's bytes */
	struct pool_sched sched[VGPU_NR_POOLS];	/* reloadable */
	struct vm_conf *vms;
	unsigned int nvms;
};

/* Loads @path and every include_dir/NAME.conf. 0, or -1 with "file:line: ..." in @err. */
int conf_load(const char *path, struct conf *c, char *err, size_t errlen);
/*
 * What the config asks of this host that conf_load() cannot know: every CPU
 * of a "cpus" key in @cpus (the CPUs the process may use, as it started:
 * NULL asks the kernel for the calling thread's). 0, or -1 with
 * "file:line: ..." in @err.
 */
int conf_check_host(const struct conf *c, const cpu_set_t *cpus, char *err, size_t errlen);
/* Does a VM of @c ask for isolation = mps? (The first such VM into *@vm.) */
bool conf_wants_mps(const struct conf *c, const struct vm_conf **vm);
/* "0-3,8,10-11" into @l; 0, or -1 (bad syntax, or a CPU >= CPU_SETSIZE). */
int cpu_list_parse(const char *text, struct cpu_list *l);
/* Binds the calling thread to @l (if set); 0 or -errno. */
int cpu_list_apply(const struct cpu_list *l);
void conf_free(struct conf *c);

#endif /* VGPU_MEDIATOR_CONF_H */
