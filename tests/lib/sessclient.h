/* SPDX-License-Identifier: MIT */
/*
 * A small session client for the host tests: builds nothing itself (tests
 * build their lists with lib/session.c's vgpu_sess_* calls), publishes a
 * finished list as a version-2 session request into a VM directory, waits
 * for its response and parses it. Its ids are its own, so a VM directory
 * is used either by it or by lib/client.c, not both. One thread.
 */
#ifndef VGPU_SESSCLIENT_H
#define VGPU_SESSCLIENT_H

#include <stdint.h>

#include "spool.h"
#include "vgpu/session.h"

struct sess_client {
	struct vgpu_spool sp;
	uint64_t next_id;
};

/* What came back for one session request. */
struct sess_reply {
	struct vgpu_rsp_hdr rh;		/* the trailer: status, msg, version */
	uint8_t *payload;		/* rh.payload_len bytes (malloc'ed) */
	int parse_err;			/* vgpu_sess_rsp_parse(): -EBADMSG, or 0 */
	struct vgpu_sess_rsp s;		/* when rh.payload_len and !parse_err */
	char why[VGPU_SESS_MSG_LEN];	/* why it did not parse */
};

/* Open VM directory @dir; 0 or -errno. */
int sc_open(struct sess_client *c, const char *dir);
void sc_close(struct sess_client *c);
/* Publish the @len-byte list @list as a session request taking at most
 * @out_len response bytes; its id into *@id. 0 or -errno. */
int sc_submit(struct sess_client *c, const void *list, uint64_t len, uint64_t out_len,
	      uint64_t *id);
/* Wait up to @timeout_ms for response @id, read, check and remove it:
 * 0, -ETIMEDOUT or another -errno. */
int sc_wait(struct sess_client *c, uint64_t id, uint64_t out_len, int timeout_ms,
	    struct sess_reply *r);
/* Finish @b, submit it (out_len 1 MiB) and wait up to @timeout_ms. */
int sc_run(struct sess_client *c, struct vgpu_sess_buf *b, int timeout_ms,
	   struct sess_reply *r);
/* Result @i of a parsed reply (zeroes if there is none). */
struct vgpu_sess_result sc_result(const struct sess_reply *r, uint32_t i);
void sc_reply_free(struct sess_reply *r);

#endif /* VGPU_SESSCLIENT_H */
