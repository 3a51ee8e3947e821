// SPDX-License-Identifier: MIT
/*
 * Copies of the mediator's state and their formats (snap.h): the text of
 * `vgpuctl status`, its JSON (Documentation/status-json.rst) and the
 * Chrome/Perfetto trace of the last jobs (`vgpuctl trace`).
 *
 * snap_take() runs on the main thread, which alone changes m->vms and the
 * main-thread counters; it holds m->lock only to copy the [L] fields and
 * allocates before taking it. The formatters touch only the copy.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "mediator.h"
#include "snap.h"

int snap_take(struct mediator *m, struct snap *s, bool with_trace)
{
	unsigned int nvms = 0, i = 0;
	struct vm *vm;

	memset(s, 0, sizeof(*s));
	s->backend = m->be_ops ? m->be_ops->name : "none";
	snprintf(s->conf_path, sizeof(s->conf_path), "%s", m->conf_path);
	s->reload_failed = m->reload_failed;
	memcpy(s->reload_err, m->reload_err, sizeof(s->reload_err));
	TAILQ_FOREACH(vm, &m->vms, entry)
		nvms++;
	s->vms = calloc(nvms ? nvms : 1, sizeof(*s->vms));
	if (with_trace && m->trace.size)	/* size is fixed after the start */
		s->trace = malloc(m->trace.size * sizeof(*s->trace));
	if (!s->vms || (with_trace && m->trace.size && !s->trace)) {
		snap_free(s);
		return -ENOMEM;
	}
	pthread_mutex_lock(&m->lock);
	s->now_ns = vgpu_now_ns();
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++) {
		const struct pool *pool = &m->pools[p];
		const struct job *j = pool->running;
		struct pool_snap *ps = &s->pools[p];

		if (j) {
			ps->running = true;
			memcpy(ps->vm, j->vm->conf.name, sizeof(ps->vm));
			ps->id = j->hdr.id;
			ps->op = j->hdr.op;
			ps->prio = j->prio;
			ps->running_ns = s->now_ns - pool->running_since_ns;
		}
		memcpy(ps->depth, pool->q.depth, sizeof(ps->depth));
		ps->done = pool->done;
		ps->policy = pool->q.policy;
		ps->aging_ns = pool->q.aging_ns;
	}
	TAILQ_FOREACH(vm, &m->vms, entry) {
		s->vms[i].conf = vm->conf;
		s->vms[i].jobs = atomic_load(&vm->jobs);
		s->vms[i].st = vm->st;
		s->vms[i].mps = vm->conf.isolation == ISO_MPS && !atomic_load(&vm->exec.demoted);
		snprintf(s->vms[i].why, sizeof(s->vms[i].why), "%s",
			 vm->broken != VM_OK ? vm->why : "");
		i++;
	}
	s->nvms = i;
	if (s->trace)
		s->ntrace = trace_ring_copy(&m->trace, s->trace);
	s->trace_total = m->trace.total;
	pthread_mutex_unlock(&m->lock);
	s->mps_up = atomic_load(&m->mps.up);
	s->mps_starts = atomic_load(&m->mps.starts);
	s->mps_restarts = atomic_load(&m->mps.restarts);
	return 0;
}

void snap_free(struct snap *s)
{
	free(s->vms);
	free(s->trace);
	s->vms = NULL;
	s->trace = NULL;
}

void snap_text(FILE *f, const struct snap *s)
{
	fprintf(f, "backend %s\n", s->backend);
	if (s->reload_failed)
		fprintf(f, "config: the last reload failed, running the previous one: %s\n",
			s->reload_err);
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++) {
		const struct pool_snap *ps = &s->pools[p];

		fprintf(f, "pool %s: ", vgpu_pool_name(p));
		if (ps->running) {
			char id[VGPU_ID_NAME_LEN + 1];

			vgpu_id_name(ps->id, id);
			fprintf(f, "running %s/%s (%s, %s) for %" PRIu64 " us", ps->vm, id,
				vgpu_op_name(ps->op), vgpu_prio_name(ps->prio),
				ps->running_ns / 1000);
		} else {
			fprintf(f, "idle");
		}
		fprintf(f, "; queued high=%u medium=%u low=%u; done %" PRIu64 "\n",
			ps->depth[VGPU_PRIO_HIGH], ps->depth[VGPU_PRIO_MEDIUM],
			ps->depth[VGPU_PRIO_LOW], ps->done);
	}
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++) {
		fprintf(f, "pool %s policy=%s", vgpu_pool_name(p),
			sched_policy_name(s->pools[p].policy));
		if (s->pools[p].policy == SCHED_AGING)
			fprintf(f, " aging_ms=%" PRIu64, s->pools[p].aging_ns / 1000000);
		fprintf(f, "\n");
	}
	fprintf(f, "mps daemon %s; started %" PRIu64 ", restarted after a fault %" PRIu64 "\n",
		s->mps_up ? "running" : "not running", s->mps_starts, s->mps_restarts);
	for (unsigned int i = 0; i < s->nvms; i++) {
		const struct vm_stats *st = &s->vms[i].st;
		const struct vm_conf *c = &s->vms[i].conf;

		fprintf(f, "vm %s: vm_id=%" PRIu32 " pool=%s priority=%s jobs=%u accepted=%" PRIu64
			" completed=%" PRIu64 " failed=%" PRIu64 " rejected=%" PRIu64
			" expired=%" PRIu64 " bytes_in=%" PRIu64 " bytes_out=%" PRIu64
			" weight=%u run_ns=%" PRIu64 " wait_ns=%" PRIu64 " session_jobs=%" PRIu64
			" executor_restarts=%" PRIu64 " executor_deaths=%" PRIu64
			" session_timeouts=%" PRIu64 " isolation=%s mps_faults=%" PRIu64
			" mps_lost=%" PRIu64 " mps_demotions=%" PRIu64 " executor_ns=%" PRIu64 "\n",
			c->name, c->id, vgpu_pool_name(c->pool), vgpu_prio_name(c->prio),
			s->vms[i].jobs, st->accepted, st->completed, st->failed, st->rejected,
			st->expired, st->bytes_in, st->bytes_out, c->weight, st->run_ns,
			st->wait_ns, st->sess_jobs, st->exec_restarts, st->exec_deaths,
			st->sess_timeouts, s->vms[i].mps ? "mps" : "process", st->mps_faults,
			st->mps_lost, st->mps_demotions, st->exec_ns);
		if (s->vms[i].why[0])
			fprintf(f, "vm %s: not served: %s\n", c->name, s->vms[i].why);
	}
}

void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_hist(FILE *f, const char *name, const struct stats_hist *h)
{
	uint64_t cum = 0;

	fprintf(f, "\"%s\":{\"count\":%" PRIu64 ",\"sum_ns\":%" PRIu64 ",\"buckets\":[", name,
		h->count, h->sum_ns);
	for (unsigned int i = 0; i < STATS_HIST_BUCKETS; i++) {
		cum += h->bucket[i];
		fprintf(f, "%s{\"le_ns\":%" PRIu64 ",\"count\":%" PRIu64 "}", i ? "," : "",
			stats_hist_le_ns[i], cum);
	}
	fprintf(f, "]}");
}

/* Documentation/status-json.rst describes every field; bump "version" on a change. */
void snap_json(FILE *f, const struct snap *s)
{
	fprintf(f, "{\"version\":1,\"backend\":");
	json_str(f, s->backend);
	fprintf(f, ",\"config\":{\"path\":");
	json_str(f, s->conf_path);
	fprintf(f, ",\"reload_failed\":%s,\"reload_error\":", s->reload_failed ? "true" : "false");
	if (s->reload_failed)
		json_str(f, s->reload_err);
	else
		fprintf(f, "null");
	fprintf(f, "},\"mps\":{\"running\":%s,\"starts\":%" PRIu64 ",\"restarts\":%" PRIu64
		"},\"pools\":[", s->mps_up ? "true" : "false", s->mps_starts, s->mps_restarts);
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++) {
		const struct pool_snap *ps = &s->pools[p];

		fprintf(f, "%s{\"name\":\"%s\",\"running\":", p ? "," : "", vgpu_pool_name(p));
		if (ps->running) {
			char id[VGPU_ID_NAME_LEN + 1];

			vgpu_id_name(ps->id, id);
			fprintf(f, "{\"vm\":\"%s\",\"id\":\"%s\",\"op\":\"%s\",\"priority\":\"%s\","
				"\"running_ns\":%" PRIu64 "}", ps->vm, id, vgpu_op_name(ps->op),
				vgpu_prio_name(ps->prio), ps->running_ns);
		} else {
			fprintf(f, "null");
		}
		fprintf(f, ",\"queued\":{\"high\":%u,\"medium\":%u,\"low\":%u},\"done\":%" PRIu64
			",\"policy\":\"%s\",\"aging_ms\":%" PRIu64 "}", ps->depth[VGPU_PRIO_HIGH],
			ps->depth[VGPU_PRIO_MEDIUM], ps->depth[VGPU_PRIO_LOW], ps->done,
			sched_policy_name(ps->policy), ps->aging_ns / 1000000);
	}
	fprintf(f, "],\"vms\":[");
	for (unsigned int i = 0; i < s->nvms; i++) {
		const struct vm_stats *st = &s->vms[i].st;
		const struct vm_conf *c = &s->vms[i].conf;

		fprintf(f, "%s{\"name\":\"%s\",\"vm_id\":%" PRIu32 ",\"pool\":\"%s\","
			"\"priority\":\"%s\",\"jobs\":%u,\"accepted\":%" PRIu64 ",\"completed\":%"
			PRIu64 ",\"failed\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"expired\":%"
			PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64 ",\"weight\":%u,"
			"\"run_ns\":%" PRIu64 ",\"wait_ns\":%" PRIu64 ",\"session_jobs\":%" PRIu64
			",\"executor_restarts\":%" PRIu64 ",\"executor_deaths\":%" PRIu64
			",\"session_timeouts\":%" PRIu64 ",\"isolation\":\"%s\",\"mps_faults\":%"
			PRIu64 ",\"mps_lost\":%" PRIu64 ",\"mps_demotions\":%" PRIu64
			",\"executor_ns\":%" PRIu64 ",",
			i ? "," : "", c->name, c->id, vgpu_pool_name(c->pool),
			vgpu_prio_name(c->prio), s->vms[i].jobs, st->accepted, st->completed,
			st->failed, st->rejected, st->expired, st->bytes_in, st->bytes_out,
			c->weight, st->run_ns, st->wait_ns, st->sess_jobs, st->exec_restarts,
			st->exec_deaths, st->sess_timeouts, s->vms[i].mps ? "mps" : "process",
			st->mps_faults, st->mps_lost, st->mps_demotions, st->exec_ns);
		fprintf(f, "\"served\":%s,\"why\":", s->vms[i].why[0] ? "false" : "true");
		json_str(f, s->vms[i].why);
		fputc(',', f);
		json_hist(f, "wait", &st->wait);
		fputc(',', f);
		json_hist(f, "run", &st->run);
		fputc('}', f);
	}
	fprintf(f, "]}\n");
}

/*
 * Chrome's trace event format (Perfetto and chrome://tracing read it):
 * process 1 "pools" has a thread per pool, process 2 "VMs" a thread per VM
 * of the trace; each job is an "X" (complete) event on its pool's track
 * and on its VM's, where a second one shows its wait in the queue. Times
 * in microseconds of CLOCK_MONOTONIC.
 */
void snap_trace_json(FILE *f, const struct snap *s)
{
	char (*vms)[VM_NAME_MAX] = calloc(s->ntrace ? s->ntrace : 1, VM_NAME_MAX);
	unsigned int nvms = 0;

	fprintf(f, "{\"displayTimeUnit\":\"ms\",\"otherData\":{\"backend\":");
	json_str(f, s->backend);
	fprintf(f, ",\"jobs_traced\":%u,\"jobs_since_start\":%" PRIu64 "},\"traceEvents\":[\n",
		s->ntrace, s->trace_total);
	fprintf(f, "{\"ph\":\"M\",\"pid\":1,\"name\":\"process_name\",\"args\":{\"name\":\"pools\"}},\n"
		"{\"ph\":\"M\",\"pid\":2,\"name\":\"process_name\",\"args\":{\"name\":\"VMs\"}}");
	for (unsigned int p = 0; p < VGPU_NR_POOLS; p++)
		fprintf(f, ",\n{\"ph\":\"M\",\"pid\":1,\"tid\":%u,\"name\":\"thread_name\","
			"\"args\":{\"name\":\"pool %s\"}}", p + 1, vgpu_pool_name(p));
	for (unsigned int i = 0; i < s->ntrace; i++) {
		const struct trace_rec *t = &s->trace[i];
		char id[VGPU_ID_NAME_LEN + 1];
		unsigned int v;

		for (v = 0; vms && v < nvms; v++)
			if (!strcmp(vms[v], t->vm))
				break;
		if (vms && v == nvms) {
			memcpy(vms[nvms++], t->vm, VM_NAME_MAX);
			fprintf(f, ",\n{\"ph\":\"M\",\"pid\":2,\"tid\":%u,\"name\":\"thread_name\","
				"\"args\":{\"name\":\"vm %s\"}}", v + 1, t->vm);
		}
		vgpu_id_name(t->id, id);
		fprintf(f, ",\n{\"ph\":\"X\",\"pid\":1,\"tid\":%u,\"name\":\"%s\",\"cat\":\"%s\","
			"\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"vm\":\"%s\",\"vm_id\":%" PRIu32
			",\"id\":\"%s\",\"priority\":\"%s\",\"status\":%d,\"wait_us\":%.3f}}",
			t->pool + 1u, vgpu_op_name(t->op), vgpu_prio_name(t->prio),
			(double)t->started_ns / 1e3, (double)(t->finished_ns - t->started_ns) / 1e3,
			t->vm, t->vm_id, id, vgpu_prio_name(t->prio), t->status,
			(double)(t->started_ns - t->queued_ns) / 1e3);
		fprintf(f, ",\n{\"ph\":\"X\",\"pid\":2,\"tid\":%u,\"name\":\"wait\",\"cat\":\"%s\","
			"\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"id\":\"%s\"}}", v + 1,
			vgpu_prio_name(t->prio), (double)t->queued_ns / 1e3,
			(double)(t->started_ns - t->queued_ns) / 1e3, id);
		fprintf(f, ",\n{\"ph\":\"X\",\"pid\":2,\"tid\":%u,\"name\":\"%s\",\"cat\":\"%s\","
			"\"ts\":%.3f,\"dur\":%.3f,\"args\":{\"id\":\"%s\",\"pool\":\"%s\","
			"\"status\":%d}}", v + 1, vgpu_op_name(t->op), vgpu_prio_name(t->prio),
			(double)t->started_ns / 1e3, (double)(t->finished_ns - t->started_ns) / 1e3,
			id, vgpu_pool_name(t->pool), t->status);
	}
	fprintf(f, "\n]}\n");
	free(vms);
}
