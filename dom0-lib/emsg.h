/* SPDX-License-Identifier: MIT */
/*
 * The executor's messages: the typed messages that the mediator (parent)
 * and a per-VM executor (child, executor/) exchange over a SOCK_SEQPACKET
 * socketpair, after OpenBSD's imsg. Each message is one datagram: an
 * 8-byte header (type, body length) and the body; file descriptors ride
 * along with SCM_RIGHTS. Documentation/executor.rst specifies them.
 *
 * Both ends check every message: its datagram length against the header,
 * the length and the number of fds against what the type takes; a
 * message that fails is refused with its fds closed. Bodies are fixed
 * structs in host byte order (both ends run on one host, built from one
 * tree); their sizes are asserted at build time.
 *
 * Also here: vgpu_exec_spawn(), which starts an executor the way the
 * mediator must (argv from struct vgpu_exec_conf, the socket as fd 3).
 *
 * No state; each socket is used by one thread at a time.
 */
#ifndef VGPU_EMSG_H
#define VGPU_EMSG_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "vgpu/session.h"

#define VGPU_EMSG_HDR_SIZE	8	/* type u32, body length u32 */
#define VGPU_EMSG_BODY_MAX	1024	/* bytes */
#define VGPU_EMSG_FDS_MAX	2
#define VGPU_EXEC_SOCK_FD	3	/* the executor's end of the socketpair */

enum vgpu_emsg_type {
	VGPU_EMSG_READY	= 1,	/* executor -> parent, once: struct vgpu_emsg_ready */
	VGPU_EMSG_FATAL	= 2,	/* executor -> parent: text; the executor exits */
	VGPU_EMSG_RUN	= 3,	/* parent -> executor: struct vgpu_emsg_run; fds: list, response */
	VGPU_EMSG_DONE	= 4,	/* executor -> parent: struct vgpu_emsg_done */
	VGPU_EMSG_KICK	= 5,	/* either way, no body: the mailbox's counter moved */
};

enum vgpu_exec_backend {
	VGPU_EXEC_CPU	= 0,
	VGPU_EXEC_CUDA	= 1,
};

/* READY: privileges are dropped and the device context exists. */
struct vgpu_emsg_ready {
	uint32_t epoch;			/* the handle epoch it was given */
	uint32_t backend;		/* enum vgpu_exec_backend */
	uint32_t pid;
	uint32_t reserved;		/* 0 */
	char device[64];		/* "cpu", or the GPU's name; NUL-terminated */
};

/*
 * RUN: run the list of @list_len bytes at @list_off of fd 0 (readable),
 * write the session response (at most @rsp_max bytes) at @rsp_off of fd 1
 * (writable). One RUN at a time: the next waits for its DONE.
 */
struct vgpu_emsg_run {
	uint64_t id;			/* the request id, echoed in DONE */
	uint64_t list_off;
	uint64_t list_len;		/* <= VGPU_PAYLOAD_MAX */
	uint64_t rsp_off;
	uint64_t rsp_max;		/* the request's out_len, >= VGPU_SESS_RSP_HDR_SIZE */
};

/*
 * DONE: the session response is written: @rsp_len bytes at rsp_off, whose
 * CRC32C is @rsp_crc. @status, @failed and @msg repeat its header.
 * @status is not 0 with @rsp_len 0 when no response could be written
 * (the fds were bad, an I/O error): the parent answers the job itself.
 */
struct vgpu_emsg_done {
	uint64_t id;
	uint64_t rsp_len;
	uint64_t run_ns;		/* from reading the list to DONE */
	int32_t status;
	uint32_t failed;		/* VGPU_SESS_NONE or the command */
	uint32_t rsp_crc;
	uint32_t flags;			/* VGPU_EMSG_DONE_F_* */
	char msg[VGPU_SESS_MSG_LEN];
};
/* The device context is lost (a kernel fault): the executor exits after
 * this DONE and the VM's state with it; the next list needs a new one. */
#define VGPU_EMSG_DONE_F_LOST	(1u << 0)

/* A received message; its fds are the receiver's to close. */
struct vgpu_emsg {
	uint32_t type;
	uint32_t len;
	unsigned int nfds;
	int fds[VGPU_EMSG_FDS_MAX];
	uint8_t body[VGPU_EMSG_BODY_MAX];
};

/*
 * The mailbox: a memfd that the parent creates for each executor (sealed
 * so that neither side can shrink it under the other), passed as the
 * executor's fd 4 (-x) and mapped by both. A RUN whose list and response
 * both fit an area goes through it rather than the socket and the
 * request file: the parent copies the list into the list area, fills run
 * and bumps run_seq; the executor runs it, copies the response into the
 * response area, fills done and sets done_seq to run_seq. Each waits for
 * the other's counter polling it for its spin time, then sleeps on the
 * socket with its *_sleeps word set; the side that moves a counter sends
 * a KICK when it sees the other's word set. So a job that comes and goes
 * within the spin costs no system call either way. The socket still
 * carries READY, FATAL, the RUNs too big for the mailbox and their DONEs,
 * and its end of file still says that the other side is gone.
 *
 * The parent trusts nothing in it: it copies done out once and checks it
 * as it checks a DONE message, and reads only the response bytes that
 * the check allows; the list it parsed is its own copy.
 */
#define VGPU_EXEC_MBOX_FD	4
#define VGPU_MBOX_SIZE		(32u << 20)	/* the memfd; untouched pages cost nothing */
#define VGPU_MBOX_DATA		4096u		/* the list area's offset */
#define VGPU_MBOX_AREA		((VGPU_MBOX_SIZE - VGPU_MBOX_DATA) / 2)	/* each area's size */
#define VGPU_MBOX_RSP		(VGPU_MBOX_DATA + VGPU_MBOX_AREA)	/* the response area's */

struct vgpu_mbox {
	atomic_uint run_seq;		/* parent: bumped once run and the list are in place */
	atomic_uint done_seq;		/* executor: = run_seq once done and the response are */
	atomic_uint exec_sleeps;	/* executor: 1 while it sleeps on the socket */
	atomic_uint parent_sleeps;	/* parent: the same */
	struct vgpu_emsg_run run;	/* list_off VGPU_MBOX_DATA, rsp_off VGPU_MBOX_RSP */
	struct vgpu_emsg_done done;
};

/* Parent: a new mailbox, *@fd (close-on-exec) and *@mb mapped; 0 or -errno. */
int vgpu_mbox_create(int *fd, struct vgpu_mbox **mb);
/* Executor: map the mailbox @fd, which must be one vgpu_mbox_create() made. */
int vgpu_mbox_map(int fd, struct vgpu_mbox **mb);
void vgpu_mbox_unmap(struct vgpu_mbox *mb);
static inline uint8_t *vgpu_mbox_at(struct vgpu_mbox *mb, uint32_t off)
{
	return (uint8_t *)mb + off;
}

/* Set *@seq to @v, then KICK the other side through @sock if *@peer_sleeps:
 * 0 or -errno (-EPIPE: it is gone). */
int vgpu_mbox_post(atomic_uint *seq, uint32_t v, atomic_uint *peer_sleeps, int sock);

/*
 * Wait until *@seq is no longer @old: 0; 1 when a message other than KICK
 * waits on @sock (the caller receives it); -ETIMEDOUT at @deadline_ns
 * (CLOCK_MONOTONIC, UINT64_MAX: never); -EPIPE when the other side is gone;
 * or -errno. Polls *@seq for @spin_ns first, then sleeps on @sock with
 * *@my_sleeps set, taking the KICKs it finds.
 */
int vgpu_mbox_wait(atomic_uint *seq, uint32_t old, atomic_uint *my_sleeps, int sock,
		   uint64_t spin_ns, uint64_t deadline_ns);

/*
 * Take the KICKs waiting on @sock: 0 when nothing else waits; 1 when
 * another message does (the caller receives it); -EPIPE when the other
 * side is gone; -EPROTO when more than VGPU_MBOX_LATE_KICKS_MAX wait (a
 * broken or hostile peer); or -errno. A KICK can come after its waiter
 * stopped waiting: the poster read the sleep word set just before the
 * waiter saw the sequence move on. Such a late KICK says nothing; whoever
 * looks at the socket between runs takes it with this.
 */
#define VGPU_MBOX_LATE_KICKS_MAX	8
int vgpu_mbox_take_kicks(int sock);

/* socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC): 0 or -errno. */
int vgpu_emsg_socketpair(int sv[2]);

/* Send one message; 0 or -errno (-EPIPE: the peer is gone). Never SIGPIPE. */
int vgpu_emsg_send(int sock, uint32_t type, const void *body, uint32_t len,
		   const int *fds, unsigned int nfds);

/*
 * Receive one message into @m: 0; -EAGAIN (a non-blocking socket with
 * nothing to read); -EPIPE (the peer closed its end: for the parent, the
 * executor died); -EBADMSG (a datagram shorter than its header, a length
 * that disagrees with the header, a truncated body or fd list, more fds
 * than VGPU_EMSG_FDS_MAX: any fds that came are closed); or -errno.
 */
int vgpu_emsg_recv(int sock, struct vgpu_emsg *m);

/* Is @m of @type with exactly @len body bytes and @nfds fds? 0, or
 * -EBADMSG with @why (VGPU_SESS_MSG_LEN) and @m's fds closed. */
int vgpu_emsg_expect(struct vgpu_emsg *m, uint32_t type, uint32_t len, unsigned int nfds,
		     char *why);
void vgpu_emsg_close_fds(struct vgpu_emsg *m);

/*
 * Wait until @sock is readable: 0; -ETIMEDOUT at @deadline_ns
 * (CLOCK_MONOTONIC, UINT64_MAX: never); or -errno. The first @spin_ns it
 * polls without sleeping, so that an answer that comes soon is taken
 * without the scheduler's wake-up (tens of microseconds on a virtual
 * machine), at the price of that much CPU time when it does not.
 */
int vgpu_emsg_wait(int sock, uint64_t spin_ns, uint64_t deadline_ns);

/* How to start an executor (the command line of vgpu-executor(8)). */
struct vgpu_exec_conf {
	const char *path;		/* the vgpu-executor binary */
	const char *user;		/* to run as when started as root */
	uint32_t uid;			/* with @user's groups, this uid (0: @user's) */
	enum vgpu_exec_backend backend;
	int device;			/* CUDA device ordinal */
	uint32_t epoch;			/* 1..2^31-1, new for every executor started */
	uint32_t vm_id;			/* for its log lines */
	uint64_t mem_quota;		/* bytes: allocations + module images */
	uint32_t handle_quota;		/* live handles */
	uint64_t module_quota;		/* bytes of module images */
	uint32_t time_ms;		/* a job's limit, as the executor reports it */
	uint32_t spin_us;		/* after a job, poll this long for the next */
	bool mbox;			/* @mbox_fd is its mailbox (else: all through the socket) */
	int mbox_fd;
	bool test_cmds;			/* accept test_crash / test_hang / test_kick */
	bool debug;			/* log debug lines (to stderr) */
	char *const *env;		/* its environment (NULL: an empty one) */
};

/*
 * Fork and exec an executor for @c: its end of a new socketpair becomes its
 * fd 3, @c->mbox_fd (if @c->mbox) its fd 4; stdin is /dev/null, stdout
 * and stderr are inherited. Returns 0 with *@pid and *@sock (the parent's
 * end, close-on-exec), or -errno. The caller then waits for READY (or
 * FATAL, or EOF) on *@sock.
 */
int vgpu_exec_spawn(const struct vgpu_exec_conf *c, pid_t *pid, int *sock);

#endif /* VGPU_EMSG_H */
