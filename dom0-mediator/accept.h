/* SPDX-License-Identifier: MIT */
/*
 * Accepting requests, recovery after a restart and expiry (accept.c).
 * Main thread only.
 */
#ifndef VGPU_MEDIATOR_ACCEPT_H
#define VGPU_MEDIATOR_ACCEPT_H

#include "queue.h"

struct mediator;
struct vm;

/* Accept req/@name onto m->accepted, or answer it with an error. */
void vm_accept(struct mediator *m, struct vm *vm, const char *name);
void vm_accept_created(struct mediator *m, struct vm *vm, const char *name);
/* Accept everything in req/ and queue it (sched_flush). */
void vm_scan_requests(struct mediator *m, struct vm *vm);
/* Finish what a crash left in acc/; what must run again goes on @out. */
int vm_recover(struct mediator *m, struct vm *vm, struct job_list *out);
void vm_expire(struct mediator *m, struct vm *vm);

#endif /* VGPU_MEDIATOR_ACCEPT_H */
