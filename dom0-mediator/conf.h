/* SPDX-License-Identifier: MIT */
/*
 * The mediator's config as config.c loads it. Loaded by the main thread
 * (at start and on SIGHUP); the VMs' entries are copied into their struct
 * vm, and workers read only conf.fsync (atomic) and what they were handed
 * at start.
 */
#ifndef VGPU_MEDIATOR_CONF_H
#define VGPU_MEDIATOR_CONF_H

#include <limits.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vgpu/backend.h"
#include "vgpu/proto.h"

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
	uint64_t max_spool_bytes;	/* its files' bytes in the spool; 0: no bound */
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
	char private_dir[PATH_MAX];	/* default spool/.mediator */
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

#endif /* VGPU_MEDIATOR_CONF_H */
