/* SPDX-License-Identifier: MIT */
/*
 * The spool client: writes requests into one VM directory and collects
 * their responses, many in flight. One client per VM directory at a time
 * (enforced with a lock on DIR/seq); a client is not thread-safe.
 *
 * Ids come from a counter reserved in blocks in DIR/seq, so they keep
 * increasing across client restarts and are never reused for the life of
 * the directory (the mediator rejects an id that does not increase).
 *
 * Waiting: on a local spool inotify tells the client when a response is
 * published; on NFS (opts.poll) inotify sees nothing the server does, so
 * the client lists rsp/ with a backoff between 1 ms and opts.poll_max_ms.
 * With opts.spin_us a local client reads inotify without sleeping for
 * that long first (as CUDA's spin-wait does for a synchronise), which
 * saves a sleeping thread's wake-up on each answer, at a core's cost.
 */
#ifndef VGPU_CLIENT_H
#define VGPU_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "vgpu/proto.h"

struct vgpu_client;

struct vgpu_client_opts {
	bool poll;		/* list rsp/ instead of inotify (NFS) */
	bool sync;		/* fsync each request before publishing it */
	unsigned int poll_max_ms; /* longest sleep between listings (poll) */
	bool keep_rsp;		/* leave rsp/ID for vgpu_client_release() */
	unsigned int spin_us;	/* poll inotify this long before sleeping (not with poll) */
};

struct vgpu_call {
	uint32_t op;
	uint64_t args[VGPU_NR_ARGS];
	const void *in;		/* payload, in_len bytes */
	uint64_t in_len;
	void *out;		/* where the output goes, out_cap bytes */
	uint64_t out_cap;
	void *user;		/* handed back in the result */
};

struct vgpu_result {
	uint64_t id;
	void *user;
	struct vgpu_rsp_hdr rsp;	/* status, msg, timestamps, payload_len */
};

/* Returns 0 or -errno; @why (VGPU_MSG_LEN) says what failed. */
int vgpu_client_open(const char *dir, const struct vgpu_client_opts *opts,
		     struct vgpu_client **out, char *why);
void vgpu_client_close(struct vgpu_client *c);

/* Publish a request. Returns 0 and its id, or -errno with @why filled. */
int vgpu_client_submit(struct vgpu_client *c, const struct vgpu_call *call,
		       uint64_t *id, char *why);
/*
 * Wait up to @timeout_ms (-1: forever) for any in-flight request's response,
 * collect it (read, verify, remove) and return 1 with @res filled; 0 on
 * timeout; -errno on error. A corrupt response yields status -EBADMSG.
 */
int vgpu_client_next(struct vgpu_client *c, struct vgpu_result *res, int timeout_ms);
/*
 * The fd that becomes readable (POLLIN) when a response may have arrived:
 * the client's inotify on rsp/, which only vgpu_client_next() reads, so a
 * thread may poll it while another calls vgpu_client_next(). -1 when the
 * client lists rsp/ instead (opts.poll). A second inotify instance would
 * not do: the kernel queues an event to one instance after the other, so
 * a waiter woken by its own copy can look at the client's queue before the
 * client's copy is there, and then wait for good.
 */
int vgpu_client_wait_fd(const struct vgpu_client *c);
unsigned int vgpu_client_inflight(const struct vgpu_client *c);
/*
 * With opts.keep_rsp: remove rsp/@id once its answer is safe elsewhere (the
 * guest agent: handed to the driver). Until then a restarted client finds
 * the response instead of sending the request again. 0 or -errno.
 */
int vgpu_client_release(struct vgpu_client *c, uint64_t id);
uint64_t vgpu_client_next_id(const struct vgpu_client *c);

/* submit + wait for that one response. */
int vgpu_client_call(struct vgpu_client *c, const struct vgpu_call *call,
		     struct vgpu_result *res, int timeout_ms, char *why);

#endif /* VGPU_CLIENT_H */
