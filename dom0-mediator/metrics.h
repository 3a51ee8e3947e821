/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus endpoint, HTTP GET /metrics on metrics_listen (metrics.c).
 * metrics_start() and metrics_stop() run on the main thread; without
 * metrics_listen they do nothing.
 */
#ifndef VGPU_MEDIATOR_METRICS_H
#define VGPU_MEDIATOR_METRICS_H

struct mediator;

int metrics_start(struct mediator *m);	/* 0 or -errno (logged) */
void metrics_stop(struct mediator *m);

#endif /* VGPU_MEDIATOR_METRICS_H */
