// SPDX-License-Identifier: MIT
/*
 * vgpu-spool-probe: one request at a time into a VM directory, as a guest
 * would send them, timing each one. bench/gpu/mediator-bench.sh uses it for
 * the latencies that vgpu-submit's summary does not give precisely enough:
 *
 *   e2e   from before the request file is written until its response has
 *         been read, verified and removed (client CLOCK_MONOTONIC): all a
 *         guest sees of one job on an idle path
 *   wait  started_ns - queued_ns: time in the mediator's queue
 *   run   finished_ns - started_ns: the backend's run() plus the response
 *   med   finished_ns - queued_ns: everything inside the mediator
 *
 * (the mediator's stamps are Dom0 CLOCK_MONOTONIC too, so e2e - med is the
 * spool's transport: publish, inotify, accept, collect).
 *
 *   vgpu-spool-probe -d DIR [-l LABEL] [-n COUNT] [-T SECONDS] [-w WARMUP]
 *                    [-g MAX_GAP_US] [-s SEED] [-o FILE] OP [ARG...]
 *
 * Stops after COUNT timed requests (default 1000) or SECONDS, whichever
 * comes first. -o appends every timed sample to FILE as a line
 * "e2e_ns wait_ns run_ns med_ns", so that several runs can be pooled. -g sleeps a uniformly random 0..MAX_GAP_US between
 * requests, so that arrivals fall at random phases of other VMs' jobs.
 * Inputs are random floats, drawn once. Prints one line:
 *
 *   probe label=.. op=.. n=.. e2e_p50_us=.. e2e_p99_us=.. e2e_max_us=..
 *   wait_p50_us=.. wait_p99_us=.. wait_max_us=.. run_p50_us=.. run_p99_us=..
 *   med_p50_us=.. med_p99_us=.. failed=..
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "spool.h"
#include "vgpu/ops.h"

#define MAX_N	(1u << 22)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static double pct(uint64_t *v, size_t n, unsigned int p)
{
	if (!n)
		return 0;
	return (double)v[p == 100 ? n - 1 : (n * p) / 100] / 1e3;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vgpu-spool-probe -d DIR [-l LABEL] [-n COUNT] [-T SECONDS] [-w WARMUP]\n"
		   "                        [-g MAX_GAP_US] [-s SEED] [-o FILE] OP [ARG...]\n");
}

int main(int argc, char **argv)
{
	struct vgpu_client_opts opts = { 0 };
	const char *dir = NULL, *label = NULL, *raw_path = NULL;
	unsigned long count = 1000, warmup = 20, gap_us = 0;
	double seconds = 0;
	uint64_t args[VGPU_NR_ARGS] = { 0 }, in_len, out_len, *e2e, *wait, *run, *med;
	unsigned long n = 0, failed = 0;
	struct vgpu_client *c;
	char why[VGPU_MSG_LEN];
	uint8_t *in, *out;
	int opt, op;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((opt = getopt(argc, argv, "d:l:n:T:w:g:s:o:h")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'l': label = optarg; break;
		case 'n': count = strtoul(optarg, NULL, 0); break;
		case 'T': seconds = atof(optarg); break;
		case 'w': warmup = strtoul(optarg, NULL, 0); break;
		case 'g': gap_us = strtoul(optarg, NULL, 0); break;
		case 's': rng = strtoull(optarg, NULL, 0) | 1; break;
		case 'o': raw_path = optarg; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dir || optind >= argc || !count || count > MAX_N) {
		usage(stderr);
		return 2;
	}
	op = vgpu_op_from_name(argv[optind]);
	if (op < 0) {
		fprintf(stderr, "vgpu-spool-probe: unknown op '%s'\n", argv[optind]);
		return 2;
	}
	for (int i = optind + 1, k = 0; i < argc && k < VGPU_NR_ARGS; i++, k++)
		args[k] = strtoull(argv[i], NULL, 0);
	if (vgpu_op_sizes((uint32_t)op, args, &in_len, &out_len, why)) {
		fprintf(stderr, "vgpu-spool-probe: %s\n", why);
		return 2;
	}
	if (!label)
		label = dir;
	in = malloc(in_len ? in_len : 1);
	out = malloc(out_len ? out_len : 1);
	e2e = calloc(count, sizeof(*e2e));
	wait = calloc(count, sizeof(*wait));
	run = calloc(count, sizeof(*run));
	med = calloc(count, sizeof(*med));
	if (!in || !out || !e2e || !wait || !run || !med) {
		fprintf(stderr, "vgpu-spool-probe: out of memory\n");
		return 1;
	}
	for (uint64_t i = 0; i + 4 <= in_len; i += 4) {	/* floats in [-1, 1) */
		float f = (float)((double)(rng_next() >> 11) / (double)(1ull << 53) * 2.0 - 1.0);

		memcpy(in + i, &f, 4);
	}
	if (vgpu_client_open(dir, &opts, &c, why)) {
		fprintf(stderr, "vgpu-spool-probe: %s: %s\n", dir, why);
		return 1;
	}
	uint64_t end = 0;

	for (unsigned long i = 0; n < count; i++) {
		struct vgpu_call call = { .op = (uint32_t)op, .in = in, .in_len = in_len,
					  .out = out, .out_cap = out_len };
		struct vgpu_result res;
		uint64_t id, t0;
		int err;

		if (i == warmup && seconds > 0)
			end = vgpu_now_ns() + (uint64_t)(seconds * 1e9);
		if (end && vgpu_now_ns() >= end)
			break;
		if (gap_us) {
			uint64_t ns = rng_next() % (gap_us * 1000 + 1);
			struct timespec ts = { (time_t)(ns / 1000000000u), (long)(ns % 1000000000u) };

			nanosleep(&ts, NULL);
		}
		memcpy(call.args, args, sizeof(call.args));
		t0 = vgpu_now_ns();
		if (vgpu_client_submit(c, &call, &id, why)) {
			fprintf(stderr, "vgpu-spool-probe: %s\n", why);
			return 1;
		}
		err = vgpu_client_next(c, &res, 120000);
		if (err != 1) {
			fprintf(stderr, "vgpu-spool-probe: %s: no response: %s\n", label,
				err ? strerror(-err) : "timeout");
			return 1;
		}
		uint64_t t = vgpu_now_ns() - t0;

		if (res.rsp.status) {
			failed++;
			fprintf(stderr, "vgpu-spool-probe: %s: %016" PRIx64 ": status %d: %s\n",
				label, res.id, res.rsp.status, res.rsp.msg);
			continue;
		}
		if (i < warmup)
			continue;
		e2e[n] = t;
		wait[n] = res.rsp.started_ns - res.rsp.queued_ns;
		run[n] = res.rsp.finished_ns - res.rsp.started_ns;
		med[n] = res.rsp.finished_ns - res.rsp.queued_ns;
		n++;
	}
	vgpu_client_close(c);
	if (raw_path) {
		FILE *f = fopen(raw_path, "a");

		for (unsigned long i = 0; f && i < n; i++)
			fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", e2e[i],
				wait[i], run[i], med[i]);
		if (!f || fclose(f)) {
			fprintf(stderr, "vgpu-spool-probe: %s: %s\n", raw_path, strerror(errno));
			return 1;
		}
	}
	qsort(e2e, n, sizeof(*e2e), cmp_u64);
	qsort(wait, n, sizeof(*wait), cmp_u64);
	qsort(run, n, sizeof(*run), cmp_u64);
	qsort(med, n, sizeof(*med), cmp_u64);
	printf("probe label=%s op=%s n=%lu e2e_p50_us=%.2f e2e_p99_us=%.2f e2e_max_us=%.2f "
	       "wait_p50_us=%.2f wait_p99_us=%.2f wait_max_us=%.2f run_p50_us=%.2f "
	       "run_p99_us=%.2f med_p50_us=%.2f med_p99_us=%.2f failed=%lu\n", label,
	       vgpu_op_name((uint32_t)op), n, pct(e2e, n, 50), pct(e2e, n, 99), pct(e2e, n, 100),
	       pct(wait, n, 50), pct(wait, n, 99), pct(wait, n, 100), pct(run, n, 50),
	       pct(run, n, 99), pct(med, n, 50), pct(med, n, 99), failed);
	free(in);
	free(out);
	free(e2e);
	free(wait);
	free(run);
	free(med);
	return failed || !n;
}
