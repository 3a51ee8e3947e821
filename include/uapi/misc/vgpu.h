/* SPDX-License-Identifier: (GPL-2.0-only WITH Linux-syscall-note) OR MIT */
/*
 * vgpu: ioctls of /dev/vgpuN, the guest driver (kmod/vgpu.ko) of the
 * vgpu-stub PCI device. Applications submit jobs; the guest agent
 * (vgpu-agent) fetches them, carries them to Dom0 as spool files and
 * completes them. See Documentation/guest-driver.rst.
 *
 * Every argument struct begins with argsz (the size the caller knows,
 * sizeof of its struct) and flags. The kernel accepts a larger argsz if
 * the bytes it does not know are zero, and copies back no more than argsz.
 * Reserved fields and flag bits not defined must be zero. Pointers into
 * user memory are __u64; times are nanoseconds.
 *
 * A uapi header: it needs nothing from the userspace tree. Op numbers, the
 * register map's pool and priority encodings (misc/vgpu_regs.h) and the
 * driver's default limit are here for the driver and guest programs; each
 * op's arguments and shapes are Documentation/protocol.rst's table.
 */
#ifndef _UAPI_MISC_VGPU_H
#define _UAPI_MISC_VGPU_H

#include <linux/ioctl.h>
#include <linux/types.h>

#include <misc/vgpu_regs.h>

#define VGPU_IOC_MAGIC		'V'
/*
 * 2: struct vgpu_submit and struct vgpu_complete end with @msg, the
 * reason for a failed job. Version 1 callers, whose argsz and ioctl
 * numbers end before it, keep working (VGPU_IOC_*_V1 below).
 */
#define VGPU_API_VERSION	2

/* A job's message, NUL included: the spool protocol's response message. */
#define VGPU_SUBMIT_MSG_LEN	64

/*
 * Ops: the numbers a request carries, in the spool protocol and in @op of
 * struct vgpu_submit. Their arguments, shapes and limits are the op table
 * (lib/ops.c, Documentation/protocol.rst "Operations").
 */
enum vgpu_op {
	VGPU_OP_NOOP		= 0,	/* no input, no output */
	VGPU_OP_VECTOR_ADD	= 1,	/* c[n] = a[n] + b[n], float32 */
	VGPU_OP_SAXPY		= 2,	/* y[n] = alpha * x[n] + y[n], float32 */
	VGPU_OP_SGEMM		= 3,	/* C[m][n] = A[m][k] B[k][n], fp32 */
	VGPU_OP_REDUCE_SUM	= 4,	/* s = sum x[n], float32 -> float32 */
	VGPU_OP_CHECKSUM	= 5,	/* crc32c of the payload bytes */
	VGPU_OP_GEMM_BF16	= 6,	/* C fp32 = A bf16 x B bf16, fp32 acc */
	VGPU_OP_SPIN		= 7,	/* busy for args[0] ns; bench/test op */
	VGPU_NR_OPS
};

/*
 * A session job (protocol version 2): its input is a command list and its
 * output a session response (Documentation/protocol.rst, "Sessions"). Not
 * a built-in op: @args are 0, @in_len is the list's length and @out_len
 * the room for the response, of which @out_written bytes come back.
 */
#define VGPU_OP_SESSION		256

#define VGPU_NR_ARGS		4	/* arguments of an op */

/*
 * The driver's limit on the input plus output bytes of the requests a
 * device holds (module parameter max_inflight_bytes); one SUBMIT larger
 * than the limit fails with -E2BIG. By default (the parameter 0) it is
 * derived from the guest's RAM whenever it is used: RAM >>
 * VGPU_INFLIGHT_RAM_SHIFT (a quarter), at least VGPU_INFLIGHT_BYTES_MIN and
 * at most VGPU_INFLIGHT_BYTES_MAX (one job of the protocol's largest
 * input and output); GET_INFO reports the limit in force.
 * Documentation/protocol.rst "Size limits" sets it beside the mediator's
 * and the protocol's, and says why.
 */
#define VGPU_INFLIGHT_RAM_SHIFT		2
#define VGPU_INFLIGHT_BYTES_MIN		(64ULL << 20)
#define VGPU_INFLIGHT_BYTES_MAX		(8ULL << 30)
/* API version 2 before the limit was derived: its fixed default, now the floor. */
#define VGPU_INFLIGHT_BYTES_DEFAULT	VGPU_INFLIGHT_BYTES_MIN

/**
 * struct vgpu_info - what GET_INFO returns
 * @argsz: in: sizeof(struct vgpu_info)
 * @flags: in: 0; out: VGPU_INFO_F_* bits
 * @vm_id: the VM_ID register: Dom0's id of this VM
 * @pool: the POOL_ID register (VGPU_POOL_*: 0 pool A, 1 pool B)
 * @priority: the PRIORITY register (VGPU_PRIO_*: 0 low .. 2 high)
 * @version: the VERSION register (major << 16 | minor)
 * @features: the FEATURES register
 * @api_version: VGPU_API_VERSION of the driver
 * @max_inflight_bytes: the driver's limit on input plus output bytes of
 *	the requests it holds, as in force now (module parameter
 *	max_inflight_bytes, or the limit derived from RAM when it is 0)
 * @instance: random, fixed while the driver is bound to the device: tells
 *	an agent whether the requests it sees belong to the same binding
 * @reserved: must be 0
 */
struct vgpu_info {
	__u32 argsz;
	__u32 flags;
#define VGPU_INFO_F_AGENT	(1 << 0)	/* an agent is attached */
	__u32 vm_id;
	__u32 pool;
	__u32 priority;
	__u32 version;
	__u32 features;
	__u32 api_version;
	__aligned_u64 max_inflight_bytes;
	__aligned_u64 instance;
	__aligned_u64 reserved[2];
};

/**
 * VGPU_IOC_GET_INFO - _IOWR(VGPU_IOC_MAGIC, 0, struct vgpu_info)
 *
 * Reports the device's assignment (vm_id, pool, priority) as read from its
 * registers at probe, and the driver's limits. Any opener may call it.
 *
 * Return: 0 on success; -EFAULT bad pointer; -EINVAL bad argsz, flags or
 * reserved fields; -ENODEV the device was removed.
 */
#define VGPU_IOC_GET_INFO	_IOWR(VGPU_IOC_MAGIC, 0, struct vgpu_info)

/**
 * struct vgpu_submit - one job for Dom0
 * @argsz: in: sizeof(struct vgpu_submit)
 * @flags: in: 0
 * @op: in: enum vgpu_op (Documentation/protocol.rst, "Operations")
 * @status: out: the mediator's answer: 0 or a negative errno (-EINVAL bad
 *	shape, -EOPNOTSUPP unknown op, ...), or the agent's when it could not
 *	carry the job
 * @args: in: the op's arguments
 * @in_ptr: in: user address of @in_len input bytes
 * @in_len: in: input bytes, as the op and @args require
 * @out_ptr: in: user address of @out_len bytes for the output
 * @out_len: in: capacity of @out_ptr in bytes, at least what the op returns
 *	(VGPU_OP_SESSION: the room for the session response)
 * @out_written: out: output bytes written to @out_ptr: 0 unless @status is
 *	0, but for VGPU_OP_SESSION the session response, also when @status is
 *	not 0 (it says which command failed; 0 bytes when none came)
 * @timeout_ns: in: give up after this long (0: module parameter
 *	submit_timeout_ms)
 * @queued_ns: out: when Dom0 queued the job (Dom0 CLOCK_MONOTONIC)
 * @started_ns: out: when it started running (0: it never ran)
 * @finished_ns: out: when the response was written
 * @id: out: the driver's id of the request (in the kernel log and sysfs)
 * @reserved: must be 0
 * @msg: out: why, when @status is not 0: the mediator's message (or the
 *	agent's), NUL-terminated, empty when it gave none. Since API version
 *	2; a caller whose @argsz ends before it gets the rest all the same.
 */
struct vgpu_submit {
	__u32 argsz;
	__u32 flags;
	__u32 op;
	__s32 status;
	__aligned_u64 args[VGPU_NR_ARGS];
	__aligned_u64 in_ptr;
	__aligned_u64 in_len;
	__aligned_u64 out_ptr;
	__aligned_u64 out_len;
	__aligned_u64 out_written;
	__aligned_u64 timeout_ns;
	__aligned_u64 queued_ns;
	__aligned_u64 started_ns;
	__aligned_u64 finished_ns;
	__aligned_u64 id;
	__aligned_u64 reserved[2];
	char msg[VGPU_SUBMIT_MSG_LEN];
};

/* API version 1's struct vgpu_submit, without @msg, and its ioctl number. */
#define VGPU_SUBMIT_SIZE_V1	144

/**
 * VGPU_IOC_SUBMIT - _IOWR(VGPU_IOC_MAGIC, 1, struct vgpu_submit)
 *
 * Copies the input into the kernel, queues the job for the agent and waits
 * (interruptibly, at most @timeout_ns) for Dom0's answer, which it copies
 * to @out_ptr. The driver holds @in_len bytes of kernel memory from the
 * call on and the answer's bytes (at most @out_len) once the agent
 * completes it, but counts @in_len plus @out_len against the limit
 * (max_inflight_bytes, see VGPU_INFLIGHT_RAM_SHIFT) for the whole call:
 * while the bytes counted for all held requests would exceed it, the call
 * first waits for room (or fails with -EAGAIN on an O_NONBLOCK file). The
 * driver does not look into @op and @args: the agent and Dom0 check them
 * and answer through @status. A request nobody has fetched within
 * agent_grace_ms of being queued while no agent was attached fails with
 * -ENOTCONN; requests an agent fetched but did not complete before it
 * detached go back to the queue for the next agent. A signal or a timeout
 * cancels the request: the agent's completion of it is discarded.
 *
 * @argsz may end before @msg (API version 1: VGPU_SUBMIT_SIZE_V1, with
 * VGPU_IOC_SUBMIT_V1): the answer then stops there too.
 *
 * Return: 0 when Dom0 (or the agent) answered: the job's own result is in
 * @status and why in @msg; -EFAULT bad pointer; -EINVAL bad argsz, flags or reserved
 * fields; -E2BIG @in_len plus @out_len exceed the limit; -EAGAIN
 * no room and O_NONBLOCK; -EINTR a signal arrived (the request is
 * cancelled; it is never restarted); -ETIMEDOUT the timeout passed;
 * -ENOTCONN no agent attached within the grace period; -ENODEV the device
 * was removed; -ENOMEM.
 */
#define VGPU_IOC_SUBMIT		_IOWR(VGPU_IOC_MAGIC, 1, struct vgpu_submit)
#define VGPU_IOC_SUBMIT_V1	_IOC(_IOC_READ | _IOC_WRITE, VGPU_IOC_MAGIC, 1, \
				     VGPU_SUBMIT_SIZE_V1)

/**
 * struct vgpu_attach - the agent's handshake
 * @argsz: in: sizeof(struct vgpu_attach)
 * @flags: in: 0
 * @vm_id: out: as in struct vgpu_info
 * @redelivered: out: requests that a previous agent fetched and did not
 *	complete, now queued again (they come first)
 * @instance: out: as in struct vgpu_info
 * @reserved: must be 0
 */
struct vgpu_attach {
	__u32 argsz;
	__u32 flags;
	__u32 vm_id;
	__u32 redelivered;
	__aligned_u64 instance;
	__aligned_u64 reserved[2];
};

/**
 * VGPU_IOC_AGENT_ATTACH - _IOWR(VGPU_IOC_MAGIC, 2, struct vgpu_attach)
 *
 * Makes this open file the device's agent, until it is closed (which is
 * how an agent detaches, also when it dies). Sets AGENT_ATTACHED in the
 * device's STATUS register. The file then polls readable while a request
 * is queued.
 *
 * Return: 0 on success; -EPERM without CAP_SYS_ADMIN; -EBUSY another file
 * is the agent (this one included); -EFAULT; -EINVAL; -ENODEV.
 */
#define VGPU_IOC_AGENT_ATTACH	_IOWR(VGPU_IOC_MAGIC, 2, struct vgpu_attach)

/**
 * struct vgpu_fetch - the next request, for the agent
 * @argsz: in: sizeof(struct vgpu_fetch)
 * @flags: in: 0; out: VGPU_FETCH_F_* bits
 * @op: out: the submitter's op
 * @reserved0: must be 0
 * @id: out: the driver's id of the request: name it in TAG and COMPLETE
 * @tag: out: the tag a previous agent gave the request (0: none)
 * @args: out: the op's arguments
 * @in_ptr: in: user address where the input goes
 * @in_cap: in: capacity of @in_ptr in bytes
 * @in_len: out: input bytes copied to @in_ptr (or needed, on -ENOSPC)
 * @out_len: out: output capacity of the submitter in bytes
 * @timeout_ns: in: how long to wait for a request (0: do not wait)
 * @reserved: must be 0
 */
struct vgpu_fetch {
	__u32 argsz;
	__u32 flags;
#define VGPU_FETCH_F_REDELIVERED (1 << 0)	/* an earlier agent fetched it */
	__u32 op;
	__u32 reserved0;
	__aligned_u64 id;
	__aligned_u64 tag;
	__aligned_u64 args[VGPU_NR_ARGS];
	__aligned_u64 in_ptr;
	__aligned_u64 in_cap;
	__aligned_u64 in_len;
	__aligned_u64 out_len;
	__aligned_u64 timeout_ns;
	__aligned_u64 reserved[2];
};

/**
 * VGPU_IOC_AGENT_FETCH - _IOWR(VGPU_IOC_MAGIC, 3, struct vgpu_fetch)
 *
 * Takes the oldest queued request (redelivered ones first), copies its
 * input to @in_ptr and hands it to this agent until COMPLETE. A request
 * fetched by an agent that detaches without completing it is queued again
 * with VGPU_FETCH_F_REDELIVERED and its @tag.
 *
 * Return: 0 and a request; -EAGAIN none queued within @timeout_ns; -ENOSPC
 * its input is larger than @in_cap (@in_len says how large; the request
 * stays queued); -EPERM this file is not the agent; -EINTR; -EFAULT (the
 * request stays queued); -EINVAL; -ENODEV.
 */
#define VGPU_IOC_AGENT_FETCH	_IOWR(VGPU_IOC_MAGIC, 3, struct vgpu_fetch)

/**
 * struct vgpu_tag - the agent's note on a fetched request
 * @argsz: in: sizeof(struct vgpu_tag)
 * @flags: in: 0
 * @id: in: the request, as FETCH returned it
 * @tag: in: any non-zero value; vgpu-agent stores the spool id under which
 *	it publishes the request, before publishing it
 * @reserved: must be 0
 */
struct vgpu_tag {
	__u32 argsz;
	__u32 flags;
	__aligned_u64 id;
	__aligned_u64 tag;
	__aligned_u64 reserved[2];
};

/**
 * VGPU_IOC_AGENT_TAG - _IOW(VGPU_IOC_MAGIC, 4, struct vgpu_tag)
 *
 * Stores @tag in a request this agent fetched; FETCH hands it to the next
 * agent if this one detaches before completing the request.
 *
 * Return: 0 on success; -ENOENT this agent holds no request @id (the
 * submitter gave up on it); -EPERM not the agent; -EFAULT; -EINVAL;
 * -ENODEV.
 */
#define VGPU_IOC_AGENT_TAG	_IOW(VGPU_IOC_MAGIC, 4, struct vgpu_tag)

/**
 * struct vgpu_complete - the answer to a fetched request
 * @argsz: in: sizeof(struct vgpu_complete)
 * @flags: in: 0
 * @status: in: 0 or a negative errno (at least -4095)
 * @reserved0: must be 0
 * @id: in: the request, as FETCH returned it
 * @out_ptr: in: user address of the output
 * @out_len: in: output bytes; at most the request's out_len, 0 unless
 *	@status is 0 or the request's op is VGPU_OP_SESSION (whose session
 *	response comes back with any status)
 * @queued_ns: in: Dom0's timestamps, passed to the submitter
 * @started_ns: in: see @queued_ns
 * @finished_ns: in: see @queued_ns
 * @reserved: must be 0
 * @msg: in: the message for the submitter's @msg, NUL-terminated (the
 *	driver terminates it if it is not). Since API version 2; an older
 *	agent's @argsz ends before it, and its submitters get none.
 */
struct vgpu_complete {
	__u32 argsz;
	__u32 flags;
	__s32 status;
	__u32 reserved0;
	__aligned_u64 id;
	__aligned_u64 out_ptr;
	__aligned_u64 out_len;
	__aligned_u64 queued_ns;
	__aligned_u64 started_ns;
	__aligned_u64 finished_ns;
	__aligned_u64 reserved[2];
	char msg[VGPU_SUBMIT_MSG_LEN];
};

/* API version 1's struct vgpu_complete, without @msg. */
#define VGPU_COMPLETE_SIZE_V1	80

/**
 * VGPU_IOC_AGENT_COMPLETE - _IOW(VGPU_IOC_MAGIC, 5, struct vgpu_complete)
 *
 * Copies the output into the request (kernel memory for @out_len bytes is
 * allocated now) and wakes its submitter.
 *
 * Return: 0 on success; -ENOENT this agent holds no request @id (the
 * submitter gave up on it, or it was completed already); -EINVAL bad
 * argsz, flags, reserved fields, @status or @out_len (the request stays
 * with the agent); -EFAULT, -ENOMEM (likewise); -EPERM not the agent;
 * -ENODEV.
 */
#define VGPU_IOC_AGENT_COMPLETE	_IOW(VGPU_IOC_MAGIC, 5, struct vgpu_complete)
#define VGPU_IOC_AGENT_COMPLETE_V1 _IOC(_IOC_WRITE, VGPU_IOC_MAGIC, 5, VGPU_COMPLETE_SIZE_V1)

#endif /* _UAPI_MISC_VGPU_H */
