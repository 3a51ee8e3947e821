/* SPDX-License-Identifier: MIT */
/*
 * A copy of what the mediator shows (snap.c): taken by the main thread,
 * the [L] parts under m->lock, then formatted without any lock by whoever
 * asked, as vgpuctl's text and JSON (ctl.c), the Chrome trace (ctl.c) and
 * Prometheus' text format (metrics.c, on its own thread).
 */
#ifndef VGPU_MEDIATOR_SNAP_H
#define VGPU_MEDIATOR_SNAP_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "conf.h"
#include "queue.h"
#include "stats.h"
#include "vm.h"

struct mediator;

struct pool_snap {
	bool running;
	char vm[VM_NAME_MAX];
	uint64_t id, running_ns, done;
	uint32_t op;
	unsigned int prio;
	unsigned int depth[VGPU_NR_PRIOS];
	enum sched_policy policy;
	uint64_t aging_ns;
};

struct vm_snap {
	struct vm_conf conf;
	unsigned int jobs;
	struct vm_stats st;
	bool mps;			/* isolation = mps now (not demoted) */
	char why[128];			/* why it is not served, or "" */
};

struct snap {
	const char *backend;		/* static string */
	char conf_path[PATH_MAX];
	bool reload_failed;
	char reload_err[1024];
	uint64_t now_ns;		/* CLOCK_MONOTONIC */
	struct pool_snap pools[VGPU_NR_POOLS];
	struct vm_snap *vms;
	unsigned int nvms;
	struct trace_rec *trace;	/* with_trace only */
	unsigned int ntrace;
	uint64_t trace_total;		/* jobs traced since the start */
	bool mps_up;			/* the MPS daemon runs (mps.h) */
	uint64_t mps_starts, mps_restarts;
};

/* Main thread: fill @s (the trace too if @with_trace); 0 or -ENOMEM. */
int snap_take(struct mediator *m, struct snap *s, bool with_trace);
void snap_free(struct snap *s);

/* Any thread, no lock: what `vgpuctl status`, `status --json` and `trace` print. */
void snap_text(FILE *f, const struct snap *s);
void snap_json(FILE *f, const struct snap *s);
void snap_trace_json(FILE *f, const struct snap *s);
/* @s as a JSON string (quotes included). */
void json_str(FILE *f, const char *s);

#endif /* VGPU_MEDIATOR_SNAP_H */
