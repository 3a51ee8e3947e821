// SPDX-License-Identifier: MIT
/*
 * The loads of issue 15 (fairload.h): one process, the clients of both VMs
 * driven from one loop, so that the high VM refills its queue as soon as
 * a job of it is answered, as a guest that keeps jobs in flight does.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "fairload.h"
#include "spool.h"

#define DRAIN_MS	20000	/* whatever is in flight after a load */

static struct vgpu_client *open_vm(struct test_mediator *t, const char *vm)
{
	char dir[512], why[VGPU_MSG_LEN];
	struct vgpu_client *c = NULL;

	if (vgpu_client_open(tm_vmdir(t, vm, dir, sizeof(dir)), NULL, &c, why))
		printf("# client %s: %s\n", vm, why);
	return c;
}

static int spin(struct vgpu_client *c, uint64_t ns)
{
	struct vgpu_call call = { .op = VGPU_OP_SPIN, .args = { ns } };
	char why[VGPU_MSG_LEN];
	uint64_t id;

	if (vgpu_client_submit(c, &call, &id, why)) {
		printf("# submit: %s\n", why);
		return -1;
	}
	return 0;
}

/* Collect what @c still has in flight. */
static int drain(struct vgpu_client *c)
{
	uint64_t deadline = vgpu_now_ns() + DRAIN_MS * 1000000ull;
	struct vgpu_result r;

	while (vgpu_client_inflight(c) && vgpu_now_ns() < deadline)
		if (vgpu_client_next(c, &r, 50) < 0)
			return -1;
	return vgpu_client_inflight(c) ? -1 : 0;
}

int fair_starve_low(struct test_mediator *t, const struct fair_starve *l, uint64_t *wait_ns)
{
	struct vgpu_client *hi = open_vm(t, l->hi), *lo = open_vm(t, l->lo);
	uint64_t t0 = vgpu_now_ns(), deadline = t0 + l->load_ns + DRAIN_MS * 1000000ull;
	bool lo_sent = false, hooked = !l->hook, done = false;
	struct vgpu_result r;
	int rc = -1;

	if (!hi || !lo)
		goto out;
	for (unsigned int i = 0; i < l->inflight; i++)
		if (spin(hi, l->job_ns))
			goto out;
	while (!done && vgpu_now_ns() < deadline) {
		uint64_t at = vgpu_now_ns() - t0;
		int n;

		if (!lo_sent && at >= l->lo_after_ns) {
			if (spin(lo, 1000))
				goto out;
			lo_sent = true;
		}
		if (!hooked && at >= l->hook_at_ns) {
			l->hook(t, l->hook_arg);
			hooked = true;
		}
		n = vgpu_client_next(hi, &r, 1);
		if (n < 0)
			goto out;
		if (n && at < l->load_ns && spin(hi, l->job_ns))
			goto out;
		if (lo_sent && (n = vgpu_client_next(lo, &r, 0)) != 0) {
			if (n < 0 || r.rsp.status)
				goto out;
			*wait_ns = r.rsp.started_ns - r.rsp.queued_ns;
			done = true;
		}
	}
	rc = done && !drain(hi) ? 0 : -1;
out:
	vgpu_client_close(hi);
	vgpu_client_close(lo);
	return rc;
}

uint64_t fair_status_u64(const char *status, const char *vm, const char *key)
{
	char head[128];
	const char *line, *eol, *v;

	snprintf(head, sizeof(head), "\nvm %s: ", vm);
	line = strstr(status, head);
	if (!line)
		return 0;
	eol = strchr(line + 1, '\n');
	v = strstr(line, key);
	if (!v || (eol && v > eol))
		return 0;
	return strtoull(v + strlen(key), NULL, 10);
}

int fair_run_shares(struct test_mediator *t, const struct fair_share *s, double share[2])
{
	struct vgpu_client *c[2] = { open_vm(t, s->vm[0]), open_vm(t, s->vm[1]) };
	uint64_t t0 = vgpu_now_ns(), run[2][2] = { { 0 } };
	static char status[2][16384];
	int snaps = 0, rc = -1;

	if (!c[0] || !c[1])
		goto out;
	for (int v = 0; v < 2; v++)
		for (unsigned int i = 0; i < s->inflight; i++)
			if (spin(c[v], s->job_ns[v]))
				goto out;
	while (snaps < 2) {
		uint64_t at = vgpu_now_ns() - t0;
		struct vgpu_result r;

		if (at >= s->warm_ns + (snaps ? s->measure_ns : 0)) {
			if (tm_status(t, status[snaps], sizeof(status[snaps])))
				goto out;
			for (int v = 0; v < 2; v++)
				run[snaps][v] = fair_status_u64(status[snaps], s->vm[v], "run_ns=");
			snaps++;
		}
		for (int v = 0; v < 2; v++) {
			int n = vgpu_client_next(c[v], &r, 1);

			if (n < 0 || (n && spin(c[v], s->job_ns[v])))
				goto out;
		}
	}
	{
		double d0 = (double)(run[1][0] - run[0][0]), d1 = (double)(run[1][1] - run[0][1]);

		if (d0 + d1 <= 0)
			goto out;
		share[0] = d0 / (d0 + d1);
		share[1] = d1 / (d0 + d1);
	}
	rc = drain(c[0]) || drain(c[1]) ? -1 : 0;
out:
	vgpu_client_close(c[0]);
	vgpu_client_close(c[1]);
	return rc;
}
