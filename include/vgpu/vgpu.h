/* SPDX-License-Identifier: MIT */
/*
 * libvgpu: the public client library of vgpu (libvgpu.so.1). A program
 * opens a target (the guest's /dev/vgpuN, or a VM's spool directory on
 * Dom0 or over NFS), builds a command list (allocate device memory, copy,
 * load a module, launch a kernel, run a built-in op, take a timestamp),
 * runs it and reads its reply: the list's status, the failing command,
 * each command's handle, time or output bytes and the device's printf
 * text. The built-in version-1 ops are there too (vgpu_call_op).
 *
 *   #include <vgpu/vgpu.h>        cc app.c $(pkg-config --cflags --libs libvgpu)
 *
 * The wire format, the commands' rules and their errors are
 * Documentation/protocol.rst ("Sessions (version 2)"); the library's guide
 * is Documentation/client-library.rst, and libvgpu(3) its page.
 *
 * Conventions. Every function that can fail returns 0 or a negative errno;
 * those that talk to the target also fill @why (VGPU_WHY_LEN bytes, may be
 * NULL) with a line saying why. The objects are opaque and the few
 * structs begin with argsz (sizeof the struct the caller was built with),
 * so that later versions can grow them: the ABI is versioned by symbol
 * (version node VGPU_1) and the SONAME stays libvgpu.so.1.
 *
 * Threads. A device handle may be used from several threads at once: runs
 * and calls from different threads proceed together (on a spool directory
 * a mutex inside the handle serialises the file work; on /dev/vgpuN the
 * driver takes concurrent submissions). A list and a reply belong to one
 * thread at a time; a list may be run while no thread changes it.
 */
#ifndef VGPU_VGPU_H
#define VGPU_VGPU_H

#include <stddef.h>
#include <stdint.h>

#include <misc/vgpu.h>	/* enum vgpu_op (VGPU_OP_*), VGPU_NR_ARGS: the guest ABI's */

#ifdef __cplusplus
extern "C" {
#endif

#define VGPU_WHY_LEN	128	/* bytes of a @why buffer and of a message, NUL included */

/* The library's version, "MAJOR.MINOR" of the vgpu release it came with. */
const char *vgpu_version(void);

/* ---- references -------------------------------------------------------- */

/*
 * A buffer or a module is named by a u64 reference: a *handle* that an
 * earlier reply gave (vgpu_reply_value()), which stays valid across runs
 * until it is freed or the VM's device state is lost (-ESTALE); or the
 * *reference* a vgpu_cmd_*() call returned, which names that command's
 * result within the same list (the wire's result slot). Treat both as
 * opaque; 0 is never one.
 */
#define VGPU_REF_SLOT		(1ull << 63)
#define VGPU_REF_IS_SLOT(r)	(((r) & VGPU_REF_SLOT) != 0)
#define VGPU_REF_INDEX(r)	((uint32_t)(r))	/* a slot reference's command index */

/* The commands' codes (protocol.rst, "Commands"), as a result names them. */
enum vgpu_cmd_code {
	VGPU_CMD_ALLOC		= 1,
	VGPU_CMD_FREE		= 2,
	VGPU_CMD_MEMSET		= 3,
	VGPU_CMD_COPY_H2D	= 4,
	VGPU_CMD_COPY_D2H	= 5,
	VGPU_CMD_COPY_D2D	= 6,
	VGPU_CMD_MODULE_LOAD	= 7,
	VGPU_CMD_MODULE_UNLOAD	= 8,
	VGPU_CMD_MODULE_DESCRIBE = 9,
	VGPU_CMD_LAUNCH		= 10,
	VGPU_CMD_OP		= 11,
	VGPU_CMD_TIMESTAMP	= 12,
	VGPU_CMD_DEVICE_INFO	= 13,
	VGPU_CMD_MODULE_GLOBAL	= 14,
};

/* ---- the device --------------------------------------------------------- */

struct vgpu_device;

/*
 * Open @target: a character device (/dev/vgpuN: jobs go through the guest
 * driver) or a VM's spool directory (DIR with tmp/, req/, rsp/: jobs are
 * files; one client per directory, -EBUSY if another holds it; on NFS
 * and 9p responses are polled for). NULL means $VGPU_DEVICE if set, else
 * /dev/vgpu0. 0 and *@dev, or -errno with @why.
 */
int vgpu_open(const char *target, struct vgpu_device **dev, char *why);
/* Close @dev (NULL: nothing). No run of it may be in progress. */
void vgpu_close(struct vgpu_device *dev);

/* What vgpu_device_info() tells. */
struct vgpu_device_info {
	uint32_t argsz;		/* in: sizeof(struct vgpu_device_info) */
	uint32_t flags;		/* out: VGPU_DEVICE_F_* */
	uint32_t vm_id;		/* Dom0's id of this VM      } valid with */
	uint32_t pool;		/* 0 pool A, 1 pool B        } VGPU_DEVICE_F_ASSIGNED */
	uint32_t priority;	/* 0 low, 1 medium, 2 high   } */
	uint32_t api_version;	/* the driver's VGPU_API_VERSION; 0 on a spool */
	uint64_t max_job_bytes;	/* input plus output bytes one job may carry
				 * (the driver's max_inflight_bytes); 0: unknown
				 * here (a spool: the mediator's max_payload_bytes
				 * bounds input and output each) */
};
#define VGPU_DEVICE_F_SPOOL	(1u << 0)	/* a spool directory, not /dev/vgpuN */
#define VGPU_DEVICE_F_ASSIGNED	(1u << 1)	/* vm_id, pool, priority are known: the
						 * device's registers, or a spool's last answer */
#define VGPU_DEVICE_F_AGENT	(1u << 2)	/* /dev/vgpuN: an agent is attached */

/* Fill @info (argsz set by the caller). 0, or -errno with @why. */
int vgpu_device_info(struct vgpu_device *dev, struct vgpu_device_info *info, char *why);

/*
 * The GPU as this VM sees it, from Dom0 (protocol.rst, "Device record"):
 * what a CUDA runtime reports as the device's properties, with memory the
 * VM's quota and multiprocessors its pool's share, and the session's use.
 */
struct vgpu_device_props {
	uint32_t argsz;			/* in: sizeof(struct vgpu_device_props) */
	uint32_t flags;			/* VGPU_PROPS_F_* */
	char name[256];			/* the GPU's name, NUL-terminated */
	uint8_t uuid[16];		/* the GPU's (CPU backend: 0) */
	uint32_t cc_major, cc_minor;	/* compute capability */
	uint32_t multiprocessors;	/* SMs this VM's pool may use */
	uint32_t warp_size;
	uint64_t total_mem;		/* bytes of device memory this VM may hold: its quota */
	uint64_t mem_used;		/* bytes its buffers and module images hold now */
	uint64_t module_quota, module_used;	/* bytes of module images */
	uint32_t handle_quota, handles_used;
	uint32_t clock_khz, mem_clock_khz, mem_bus_width, l2_bytes;
	uint32_t max_threads_per_block, max_block[3], max_grid[3];
	uint32_t shared_per_block, shared_per_block_optin, shared_per_sm;
	uint32_t regs_per_block, regs_per_sm, max_threads_per_sm, max_blocks_per_sm;
	uint32_t const_bytes;
	uint32_t time_limit_ms;		/* a job of this VM may run this long */
	uint32_t epoch;			/* the session's handle epoch (new after a reset) */
	uint32_t reserved;		/* 0 */
	uint64_t lists_run;		/* session jobs this epoch has run, this one included */
};
#define VGPU_PROPS_F_GPU		(1u << 0)	/* a GPU (else the CPU reference backend) */
#define VGPU_PROPS_F_COOPERATIVE	(1u << 1)	/* cooperative launches work */
#define VGPU_PROPS_F_CONCURRENT_KERNELS	(1u << 2)
#define VGPU_PROPS_F_ECC		(1u << 3)

/*
 * Fill @props (argsz set by the caller) by a one-command job (it starts the
 * VM's session if it has none), waiting up to @timeout_ms (0: no bound of
 * the library's). 0, or -errno with @why.
 */
int vgpu_device_props(struct vgpu_device *dev, struct vgpu_device_props *props,
		      unsigned int timeout_ms, char *why);
/* Decode a device_info command's output (vgpu_reply_output()) into @props. */
int vgpu_device_props_decode(const void *out, uint64_t len, struct vgpu_device_props *props);

/*
 * Run built-in op @op (VGPU_OP_NOOP .. ; protocol.rst "Operations") with
 * @args on @in_len input bytes, its output into @out (@out_cap bytes at
 * least what the op returns; vgpu_op_bytes() says how many) and its
 * length into *@out_len (may be NULL). Waits up to @timeout_ms (0: no
 * bound of the library's; /dev/vgpuN still applies the driver's
 * submit_timeout_ms). Returns 0, the job's -errno from Dom0 (-EINVAL bad
 * shape, -E2BIG over a limit, ...) or a -errno of its own (-ETIMEDOUT, a
 * too small @out_cap: -EINVAL); @why says which.
 */
int vgpu_call_op(struct vgpu_device *dev, uint32_t op, const uint64_t args[VGPU_NR_ARGS],
		 const void *in, uint64_t in_len, void *out, uint64_t out_cap,
		 uint64_t *out_len, unsigned int timeout_ms, char *why);
/* Input and output bytes op @op takes with @args; -EOPNOTSUPP unknown op,
 * -EINVAL an argument out of range (with @why). */
int vgpu_op_bytes(uint32_t op, const uint64_t args[VGPU_NR_ARGS], uint64_t *in_len,
		  uint64_t *out_len, char *why);

/* ---- command lists ------------------------------------------------------ */

struct vgpu_list;

/* A new empty list; 0 or -ENOMEM. */
int vgpu_list_new(struct vgpu_list **list);
void vgpu_list_free(struct vgpu_list *list);
/* Empty @list for the next batch, keeping its memory and out-bytes setting. */
void vgpu_list_reset(struct vgpu_list *list);
/* Commands in @list (at most 4096 fit), its wire bytes so far (the job's
 * input) and the reply bytes a run will ask room for (the job's output):
 * a batching client caps input plus output with max_job_bytes. */
uint32_t vgpu_list_count(const struct vgpu_list *list);
uint64_t vgpu_list_bytes(const struct vgpu_list *list);
uint64_t vgpu_list_out_bytes(const struct vgpu_list *list);
/*
 * Room for the reply, in bytes, instead of the computed one (0: computed
 * again). The computed room fits every command's result and output,
 * 64 KiB for each module_describe and, with a launch, 64 KiB of device
 * text; a command whose output does not fit fails with -ENOBUFS.
 */
void vgpu_list_set_out_bytes(struct vgpu_list *list, uint64_t bytes);
/*
 * A vgpu_cmd_*() call that fails leaves @list unchanged and its error
 * sticky: later calls fail the same way and vgpu_run() reports it.
 * Returns that error (0: none), with its message in @why.
 */
int vgpu_list_error(const struct vgpu_list *list, char *why);

/*
 * Append one command each (protocol.rst, "Commands"); *@ref (may be NULL)
 * gets its reference: for alloc and module_load the buffer or module it
 * creates, usable by later commands of this list; for every command the
 * key of its result in the reply. 0, or -errno (-ENOMEM, -E2BIG over 4096
 * commands, -EINVAL a bad argument) and the list's error is set. The
 * arguments are checked as a whole when the list runs.
 */
int vgpu_cmd_alloc(struct vgpu_list *list, uint64_t size, uint64_t *ref);
int vgpu_cmd_free(struct vgpu_list *list, uint64_t buf, uint64_t *ref);
int vgpu_cmd_memset(struct vgpu_list *list, uint64_t buf, uint64_t off, uint64_t len,
		    unsigned int value, uint64_t *ref);
/* The @len bytes at @data are copied into the list now. */
int vgpu_cmd_copy_h2d(struct vgpu_list *list, uint64_t buf, uint64_t off, const void *data,
		      uint64_t len, uint64_t *ref);
/* Output: @len bytes of @buf at @off (vgpu_reply_output()). */
int vgpu_cmd_copy_d2h(struct vgpu_list *list, uint64_t buf, uint64_t off, uint64_t len,
		      uint64_t *ref);
int vgpu_cmd_copy_d2d(struct vgpu_list *list, uint64_t dst, uint64_t dst_off, uint64_t src,
		      uint64_t src_off, uint64_t len, uint64_t *ref);
/* @image (cubin, fatbin or PTX text as nvcc emits them) is copied now. */
int vgpu_cmd_module_load(struct vgpu_list *list, const void *image, uint64_t len,
			 uint64_t *ref);
int vgpu_cmd_module_unload(struct vgpu_list *list, uint64_t module, uint64_t *ref);
/* Output: the module's kernel records (protocol.rst, "Kernel records"). */
int vgpu_cmd_module_describe(struct vgpu_list *list, uint64_t module, uint64_t *ref);

/* A pointer parameter: the device address of @buf + @off is written, as a
 * little-endian u64, at byte @param_off of the launch's parameters. */
struct vgpu_patch {
	uint32_t param_off;	/* a multiple of 8, param_off + 8 <= param_len */
	uint32_t reserved;	/* 0 */
	uint64_t buf;		/* a buffer reference */
	uint64_t off;		/* bytes into it, up to its size (an end pointer) */
};

struct vgpu_launch {
	uint32_t argsz;		/* sizeof(struct vgpu_launch) */
	uint32_t flags;		/* VGPU_LAUNCH_F_* */
	uint64_t module;	/* a module reference */
	const char *name;	/* the kernel's (mangled) name, NUL-terminated */
	uint32_t grid[3];	/* blocks, each >= 1 */
	uint32_t block[3];	/* threads per block, each >= 1 */
	uint32_t shared_bytes;	/* dynamic shared memory */
	uint32_t param_len;	/* bytes at @params, laid out as in device memory */
	const void *params;
	const struct vgpu_patch *patches;
	uint32_t npatches;
	uint32_t reserved;	/* 0 */
};
#define VGPU_LAUNCH_F_COOPERATIVE	(1u << 0)	/* cuLaunchCooperativeKernel */

/* @la's name, parameters and patches are copied now. */
int vgpu_cmd_launch(struct vgpu_list *list, const struct vgpu_launch *la, uint64_t *ref);
/*
 * Built-in op @op with @args on device buffers: input arrays from @bufs[0]
 * and @bufs[1], the output array to @bufs[2], at @offs[i] bytes into each
 * (@offs NULL: all 0). Arrays the op has none of take reference 0.
 */
int vgpu_cmd_op(struct vgpu_list *list, uint32_t op, const uint64_t args[VGPU_NR_ARGS],
		const uint64_t bufs[3], const uint64_t offs[3], uint64_t *ref);
/*
 * Value: when the device reached it, in ns on the session's clock (since
 * its executor started): two timestamps of one epoch subtract to elapsed
 * time, exactly (device time) within one list.
 */
int vgpu_cmd_timestamp(struct vgpu_list *list, uint64_t *ref);
/* Output: the device record; decode it with vgpu_device_props_decode(). */
int vgpu_cmd_device_info(struct vgpu_list *list, uint64_t *ref);
/*
 * The global variable @name of @module (cuModuleGetGlobal) as a buffer:
 * the result's value is a buffer handle aliasing it, usable wherever a
 * buffer is (copies, memset, op, launch patches) and counted as a handle,
 * not as memory; the output is its size (u64, little-endian). It lives as
 * long as its module; freeing it is -EINVAL. Asking twice gives the same
 * handle. Backends without modules (CPU): -EOPNOTSUPP.
 */
int vgpu_cmd_module_global(struct vgpu_list *list, uint64_t module, const char *name,
			   uint64_t *ref);

/* ---- running a list ----------------------------------------------------- */

struct vgpu_reply;

/* A reply to run lists into, reused from run to run; 0 or -ENOMEM. */
int vgpu_reply_new(struct vgpu_reply **reply);
void vgpu_reply_free(struct vgpu_reply *reply);

/*
 * Run @list on @dev and wait up to @timeout_ms (0: no bound of the
 * library's; see vgpu_call_op()) for its reply, into @reply (what it held
 * before is gone). Returns 0 when every command succeeded; the failing
 * command's -errno, with @why "command N (name): reason" and @reply
 * saying which and what the commands before it gave; the -errno with
 * which Dom0 refused the job (-E2BIG, -EBUSY, ...: no command ran); or a
 * -errno of its own with no reply (-ETIMEDOUT, -EINTR, -ENOTCONN, ...;
 * VGPU_REPLY_F_ANSWERED is then clear). A list is checked whole before
 * it is sent, as Dom0 would check it: one that fails (or a builder error
 * of the list) is not sent, and @reply says which command, its errno and
 * why, with VGPU_REPLY_F_ANSWERED clear. A run cut short by -EINTR or
 * -ETIMEDOUT may still run in Dom0. @list is left as it was: run it
 * again, or reset it for the next batch.
 */
int vgpu_run(struct vgpu_device *dev, struct vgpu_list *list, struct vgpu_reply *reply,
	     unsigned int timeout_ms, char *why);

struct vgpu_reply_info {
	uint32_t argsz;		/* in: sizeof(struct vgpu_reply_info) */
	uint32_t flags;		/* VGPU_REPLY_F_* */
	int32_t status;		/* 0, or the list's -errno */
	int32_t failed;		/* the failing command's index; -1: none named */
	uint32_t ncmds;		/* commands in the list */
	uint32_t nrun;		/* commands that ran: those that succeeded, then the failing one */
	uint32_t epoch;		/* the executor's handle epoch (0: none ran the list) */
	uint32_t log_len;	/* bytes of device text */
	uint64_t queued_ns;	/* Dom0 CLOCK_MONOTONIC: when the job was queued, */
	uint64_t started_ns;	/* started (0: never ran) */
	uint64_t finished_ns;	/* and answered */
};
#define VGPU_REPLY_F_ANSWERED		(1u << 0)	/* Dom0 answered the run */
#define VGPU_REPLY_F_LOG_TRUNCATED	(1u << 1)	/* device text was cut at 64 KiB */

/* Fill @info (argsz set by the caller); 0 or -EINVAL. */
int vgpu_reply_info(const struct vgpu_reply *reply, struct vgpu_reply_info *info);
/* "ok", or why the list failed; never NULL. */
const char *vgpu_reply_message(const struct vgpu_reply *reply);
/* The device's printf/assert text, NUL-terminated, *@len (may be NULL) bytes. */
const char *vgpu_reply_log(const struct vgpu_reply *reply, size_t *len);

/* One command's result. */
struct vgpu_cmd_result {
	uint32_t argsz;		/* in: sizeof(struct vgpu_cmd_result) */
	uint32_t code;		/* enum vgpu_cmd_code */
	int32_t status;		/* 0, its -errno, or -ECANCELED: it did not run */
	uint32_t reserved;
	uint64_t value;		/* handle (alloc, module_load), ns (timestamp), else 0 */
	const void *out;	/* output bytes (copy_d2h, module_describe) in the reply: */
	uint64_t out_len;	/* valid until the reply is run into again or freed */
};

/*
 * The result of command @cmd of the list that ran: its index, or the
 * reference its vgpu_cmd_*() call gave. 0, or -ENOENT if the list had no
 * such command (or no reply came), -EINVAL bad argsz.
 */
int vgpu_reply_get(const struct vgpu_reply *reply, uint64_t cmd, struct vgpu_cmd_result *res);
/* Shortcuts: its value (a handle: 0 if it did not run), its output (NULL
 * and *@len 0 if none; no copy is made). */
uint64_t vgpu_reply_value(const struct vgpu_reply *reply, uint64_t cmd);
const void *vgpu_reply_output(const struct vgpu_reply *reply, uint64_t cmd, uint64_t *len);

#ifdef __cplusplus
}
#endif

#endif /* VGPU_VGPU_H */
