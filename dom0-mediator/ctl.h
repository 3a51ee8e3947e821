/* SPDX-License-Identifier: MIT */
/* The control socket behind vgpuctl (ctl.c). Main thread only. */
#ifndef VGPU_MEDIATOR_CTL_H
#define VGPU_MEDIATOR_CTL_H

struct mediator;

int ctl_open(struct mediator *m);
void ctl_close(struct mediator *m);
void ctl_tick(struct mediator *m);

#endif /* VGPU_MEDIATOR_CTL_H */
