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

#define RSP_ERR_SUFFIX	".err"	/* rejection being written, in acc/ */

/* Make @s printable ASCII: guest-chosen text goes to logs and responses. */
void rsp_scrub(char *s);

/*
 * Answer request @id of @vm with an error and no output, through
 * acc/ID.err (the request itself is the caller's to remove). Reads
 * vm->conf's id, pool and prio: main thread only. 0 or -errno (logged).
 */
int rsp_error(struct vm *vm, uint64_t id, uint32_t op, int status, const char *msg,
	      bool do_fsync);

/*
 * Append the trailer for the outcome recorded in @j (status, msg, times,
 * out_crc) to its acc/ID, whose output is already there (cut off if the
 * job failed), and publish it as rsp/ID in one rename. On error acc/ID
 * stays for recovery. 0 or -errno (logged).
 */
int rsp_finish_job(struct job *j, bool do_fsync);

#endif /* VGPU_MEDIATOR_RESPOND_H */
