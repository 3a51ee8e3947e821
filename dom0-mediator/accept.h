/* SPDX-License-Identifier: MIT */
/*
 * Accepting requests, recovery after a restart, settling what could not
 * be finished at once, and expiry (accept.c).
 * Main thread only.
 */
#ifndef VGPU_MEDIATOR_ACCEPT_H
#define VGPU_MEDIATOR_ACCEPT_H

#include "queue.h"

struct mediator;
struct vm;

/* Take req/@name and accept it onto m->accepted, or answer it with an error. */
/*
 * Before the events of one inotify read are accepted: note each name in
 * req/, so that the VM's taken is raised once, to the batch's highest id
 * (reset vm->batch_hi to 0 after the batch).
 */
void vm_note_batch_id(struct vm *vm, const char *name);
void vm_accept(struct mediator *m, struct vm *vm, const char *name);
void vm_accept_created(struct mediator *m, struct vm *vm, const char *name);
/* Accept everything in req/ and queue it (sched_flush). */
void vm_scan_requests(struct mediator *m, struct vm *vm);
/*
 * Rebuild @vm's work from its private record after a restart or a repair
 * (none of its jobs queued); what must run again goes on @out. 0 or -errno.
 */
int vm_recover(struct mediator *m, struct vm *vm, struct job_list *out);
/* Retry (with the caller's backoff) what @vm's private record still holds. */
void vm_settle(struct mediator *m, struct vm *vm);
void vm_expire(struct mediator *m, struct vm *vm);
/* Count the bytes of @vm's files in the spool (for max_spool_bytes). */
void vm_count_spool(struct vm *vm);

#endif /* VGPU_MEDIATOR_ACCEPT_H */
