/* SPDX-License-Identifier: MIT */
/*
 * The guest CUDA runtime's private state (libcudart.so.13, cudart/): one
 * process-wide runtime behind one mutex. Every API function that touches
 * the device, the batch or the tables below enters with rt_enter() (which
 * takes rt.lock) and leaves with rt_leave() (which drops it and records
 * the thread's last error); a job is sent with the lock held, so calls of
 * other threads wait for it. Host callbacks run with the lock dropped.
 *
 * Device memory is named in the program by *fake device addresses*
 * [RT_VA_BASE, RT_VA_END): an address range no host pointer of an x86-64
 * Linux process can have (not canonical: neither user nor kernel half),
 * whose upper 32 bits are an unlikely integer or float, so that data the
 * runtime scans for pointers (launch parameters, copies to the device)
 * seldom holds one by chance. Each buffer of the VM's session (a libvgpu
 * handle) owns one range; a pointer into it is buffer + offset.
 */
#ifndef VGPU_CUDART_RUNTIME_H
#define VGPU_CUDART_RUNTIME_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <vgpu/vgpu.h>

#include "cuda_abi.h"

#define CUDART_API __attribute__((visibility("default")))

#define RT_VA_BASE	0x5d1c000000000000ull	/* the first fake device address */
#define RT_VA_END	(RT_VA_BASE + (1ull << 44))	/* 16 TiB of them */
#define RT_VA_ALIGN	256u			/* as cudaMalloc's alignment */

#define RT_BATCH_BYTES	(32ull << 20)	/* default cap: a job's input plus output */
#define RT_BATCH_CMDS	4000u		/* and its commands (libvgpu takes 4096) */
#define RT_STORE_SLOTS	64		/* pointers one store launch writes (ptrstore.c) */

static inline bool rt_is_dev(uint64_t addr)
{
	return addr >= RT_VA_BASE && addr < RT_VA_END;
}

/* A device buffer: an allocation, or a module's global variable. */
struct rt_buf {
	uint64_t va, size;
	uint64_t ref;		/* its handle; a slot reference while the open batch makes it */
	bool global;		/* a module variable's alias: not the program's to free */
};

/* A kernel as module_describe told it. */
struct rt_kernel {
	char *name;
	uint32_t nparams, param_len;
	uint32_t *param_off, *param_size;
	int32_t max_threads, shared_bytes, const_bytes, local_bytes, num_regs;
	int32_t ptx_version, binary_version, max_dynamic_shared;
	int32_t set_max_dynamic;	/* cudaFuncSetAttribute's bound (0: as described) */
	int32_t carveout;		/* its shared memory carveout preference, -1 none */
};

/* A fatbin image, loaded once per content (hash) however often registered. */
struct rt_image {
	struct rt_image *next;
	uint64_t hash, len;
	const void *data;
	uint64_t ref;			/* module handle (or slot while loading) */
	int state;			/* RT_IMG_* */
	cudaError_t err;		/* RT_IMG_FAILED: what loading it gave */
	unsigned int users;		/* registered modules that use it */
	struct rt_kernel *kernels;
	uint32_t nkernels;
};
enum { RT_IMG_NEW, RT_IMG_LOADED, RT_IMG_FAILED };

/* A __cudaRegisterFatBinary() of the program (its handle is a pointer to it). */
struct rt_module {
	void *handle_word;		/* what the void ** handle points at */
	struct rt_module *next;
	const void *data;		/* the fatbin image, NULL if none usable */
	uint64_t len;
	cudaError_t unusable;		/* why not (relocatable device code, a bad wrapper) */
	struct rt_image *img;		/* bound at first use */
};

/* A __cudaRegisterFunction(): cudaKernel_t points at one. */
struct rt_func {
	struct rt_func *next;
	const void *host_fun;
	struct rt_module *mod;
	char *name;
};

/* A __cudaRegisterVar(). */
struct rt_var {
	struct rt_var *next;
	const void *host_var;
	struct rt_module *mod;
	char *name;
	uint64_t size;
	uint64_t va;			/* its fake address once asked for (0: not yet) */
};

struct rt_stream {
	struct rt_stream *next;
	unsigned int flags;
	int priority;
	uint64_t seq;			/* the batch its last work went into */
};

struct rt_event {
	struct rt_event *next;
	unsigned int flags;
	bool recorded, done, pending_listed;
	cudaError_t err;		/* of its batch, once done */
	uint64_t seq;			/* the batch it was recorded in */
	uint64_t ref;			/* its timestamp command in that batch (0: none) */
	uint64_t ns;			/* the timestamp, once done */
	uint32_t epoch;			/* of the session that took it */
};

/* A copy_d2h of the open batch: where its bytes go. */
struct rt_out {
	uint64_t ref;
	void *dst;
	uint64_t len;			/* bytes asked for: no more are written */
};

struct rt {
	pthread_mutex_t lock;
	bool opened;
	pid_t pid;			/* the process that opened the device */
	int open_err;			/* -errno of vgpu_open(), once tried */
	char open_why[VGPU_WHY_LEN];
	struct vgpu_device *dev;
	struct vgpu_list *list;		/* the open batch */
	struct vgpu_reply *reply;
	uint64_t seq;			/* number of the open batch (from 1) */
	uint64_t jobs;			/* jobs sent */
	uint64_t cap_bytes;
	unsigned int timeout_ms;
	int debug;			/* VGPU_CUDART_DEBUG */
	char *calls;			/* debug: the calls of the open batch */
	size_t calls_len, calls_cap;
	cudaError_t sticky;		/* the process's sticky error, 0 if none */
	uint32_t epoch;			/* the session epoch our handles carry (0: none yet) */

	struct vgpu_device_props props;
	bool props_ok;

	struct rt_buf *bufs;		/* sorted by va */
	size_t nbufs, bufs_cap;
	uint64_t next_va, used_bytes;

	struct rt_out *outs;
	size_t nouts, outs_cap;
	struct rt_event **pev;		/* events recorded in the open batch */
	size_t npev, pev_cap;

	struct rt_module *modules;
	struct rt_image *images;
	struct rt_func *funcs;
	struct rt_var *vars;
	struct rt_stream *streams;
	struct rt_event *events;
	struct rt_stream default_stream;	/* 0, legacy and per-thread */

	uint64_t store_ref;		/* the pointer store kernel's module (ptrstore.c) */
	int store_state;		/* RT_IMG_* */

	uint8_t *params;		/* a launch's parameter bytes (32,764) */
	struct vgpu_patch *patches;	/* and its patches (512) */
};

extern struct rt rt;

/* batch.c: entering and leaving, the device, the batch */
cudaError_t rt_enter(void);
cudaError_t rt_enter_nodev(void);
cudaError_t rt_open(void);
cudaError_t rt_leave(cudaError_t err);
cudaError_t rt_set_last(cudaError_t err);
void rt_clear_last(void);
void rt_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void rt_unsupported(const char *name);
cudaError_t rt_room(uint64_t in_bytes, uint64_t out_bytes);
cudaError_t rt_flush(void);
cudaError_t rt_list_err(int err);
cudaError_t rt_errno(int status, const char *msg);
cudaError_t rt_props(bool fresh);
void rt_forget_device_state(void);

/* memory.c */
struct rt_buf *rt_buf_find(uint64_t addr, uint64_t len);
struct rt_buf *rt_buf_add(uint64_t size, uint64_t ref, bool global);
void rt_buf_del(struct rt_buf *b);
cudaError_t rt_copy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
		    bool sync);

/* ptrstore.c */
cudaError_t rt_store_pointers(uint64_t dst_va, uint64_t dst_off, const void *data, uint64_t len);

/* stream.c */
struct rt_stream *rt_stream_get(cudaStream_t s);
/* Work is about to go on @stream: it has work in the open batch from now.
 * cudaErrorInvalidResourceHandle if @stream is none of the process's. */
cudaError_t rt_stream_issue(cudaStream_t stream);
void rt_events_done(const struct vgpu_reply *reply, uint32_t epoch, cudaError_t err);
void rt_event_drop(struct rt_event *e);

/* module.c */
void rt_modules_forget(void);

#endif /* VGPU_CUDART_RUNTIME_H */
