/* SPDX-License-Identifier: MIT */
/*
 * Writing responses (respond.c). Callable from any thread: each call
 * touches one VM's spool directory and one request's files, and takes no
 * lock; the caller passes what it read under its own rules (fsync).
 */
#ifndef VGPU_MEDIATOR_RESPOND_H
#define VGPU_MEDIATOR_RESPOND_H

#include <stdbool.h>
#include <stdint.h>

#include "queue.h"
#include "vm.h"

/*
 * The private record (vm->priv, outside the guest's export) holds, by name:
 *   ID       an accepted request, queued or running; when it has run its
 *            output and trailer follow it and it is renamed to rsp/ID
 *   ID.ans   an answer written but not yet published (a rejection, or an
 *            answer whose publishing rename failed): renamed to rsp/ID
 *   ID.new   a request taken out of req/ and not yet decided on (or one
 *            whose answer could not be written: decided on again)
 *   ID.dup   a request taken out of req/ whose id was used before
 * accept.c has the whole story.
 */
#define RSP_ANS_SUFFIX	".ans"
#define RSP_NEW_SUFFIX	".new"
#define RSP_DUP_SUFFIX	".dup"

/* Make @s printable ASCII: guest-chosen text goes to logs and responses. */
void rsp_scrub(char *s);

/*
 * Write a fresh error answer with no output to request @id of @vm as
 * priv/ID.ans (made durable first with @do_fsync); rsp_publish() publishes
 * it. Reads vm->conf's id, pool and prio: main thread only. 0 or -errno.
 */
int rsp_error(struct vm *vm, uint64_t id, uint32_t op, int status, const char *msg,
	      bool do_fsync);

/*
 * Publish the complete answer priv/@from (ID or ID.ans) of request @id as
 * rsp/ID, made durable first with @do_fsync (through @fd, its open file,
 * or -1). If the rename fails (the guest's rsp/ is full, gone, or has a
 * directory at ID), the answer waits as priv/ID.ans, flagged in
 * vm->unsettled, for a retry with backoff. 0 or -errno (the caller logs,
 * rate-limited).
 */
int rsp_publish(struct vm *vm, uint64_t id, const char *from, int fd, bool do_fsync);

/*
 * Append the trailer for the outcome recorded in @j (status, msg, times,
 * out_len, out_crc) to its priv/ID, whose output is already there (cut
 * off if a version-1 job failed; a session job keeps its session
 * response), and publish it (rsp_publish). If the trailer cannot be
 * written the request is decided on again with backoff. 0 or -errno.
 */
int rsp_finish_job(struct job *j, bool do_fsync);

#endif /* VGPU_MEDIATOR_RESPOND_H */
