// SPDX-License-Identifier: MIT
/*
 * vgpu-submit: send jobs into a VM's spool directory and wait for them, as
 * a guest would. Inputs are random (seeded, so a failure can be replayed)
 * and every result can be checked against the CPU reference.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "spool.h"
#include "vgpu/ops.h"

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	/* xorshift64*: plenty for test inputs */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

static float rng_float(void)
{
	return (float)((double)(rng_next() >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

/* Random input for @op's arrays (args already checked), by element type. */
static void fill_input(const struct vgpu_op_info *o, const uint64_t args[VGPU_NR_ARGS],
		       uint8_t *in)
{
	for (unsigned int a = 0; a < o->nin; a++) {
		uint64_t len = vgpu_op_array_bytes(&o->in[a], args);

		for (uint64_t i = 0; i < len;) {
			if (o->in[a].elem == VGPU_ELEM_BF16) {
				uint16_t b = vgpu_f32_to_bf16(rng_float());

				memcpy(in + i, &b, 2);
				i += 2;
			} else if (o->in[a].elem == VGPU_ELEM_F32) {
				float f = rng_float();

				memcpy(in + i, &f, 4);
				i += 4;
			} else {
				in[i++] = (uint8_t)rng_next();
			}
		}
		in += len;
	}
}

/* OP ARG...: what each argument is comes from the op table. */
static int parse_args(int argc, char **argv, uint32_t *op, uint64_t args[VGPU_NR_ARGS])
{
	int o = vgpu_op_from_name(argv[0]);
	const struct vgpu_op_info *info;

	if (o < 0) {
		fprintf(stderr, "vgpu-submit: unknown op '%s'\n", argv[0]);
		return -1;
	}
	info = vgpu_op_get((uint32_t)o);
	if ((unsigned int)argc - 1 != info->nargs) {
		fprintf(stderr, "vgpu-submit: %s takes %u argument%s\n", argv[0], info->nargs,
			info->nargs == 1 ? "" : "s");
		return -1;
	}
	*op = (uint32_t)o;
	memset(args, 0, VGPU_NR_ARGS * sizeof(*args));
	for (int i = 1; i < argc; i++) {
		char *end;

		if (info->args[i - 1].kind == VGPU_ARG_F32) {
			float f = strtof(argv[i], &end);
			uint32_t bits;

			memcpy(&bits, &f, 4);
			args[i - 1] = bits;
		} else {
			args[i - 1] = strtoull(argv[i], &end, 0);
		}
		if (*end || !*argv[i]) {
			fprintf(stderr, "vgpu-submit: bad number '%s'\n", argv[i]);
			return -1;
		}
	}
	return 0;
}

/* "noop | spin NS | ..." from the op table, for usage(). */
static void print_ops(FILE *f)
{
	for (uint32_t op = 0; op < VGPU_NR_OPS; op++) {
		const struct vgpu_op_info *o = vgpu_op_get(op);

		fprintf(f, "%s  %s", op ? "\n" : "", o->name);
		for (unsigned int i = 0; i < o->nargs; i++) {
			fputc(' ', f);
			for (const char *c = o->args[i].name; *c; c++)
				fputc(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c, f);
		}
	}
	fputc('\n', f);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: vgpu-submit -d DIR [-cpv] [-n COUNT] [-q DEPTH] [-s SEED] [-t SEC]\n"
		"                   [-l LABEL] OP [ARG...]\n"
		"Writes COUNT requests into the VM directory DIR (DEPTH in flight at a time),\n"
		"waits for their responses and prints a summary.\n\n"
		"  -d DIR     the VM directory (the guest's /mnt/vgpu, or /var/vgpu/NAME)\n"
		"  -n COUNT   requests to send (default 1)\n"
		"  -q DEPTH   requests in flight (default 1)\n"
		"  -c         check every result against the CPU reference\n"
		"  -s SEED    random seed for the inputs (default: from the clock)\n"
		"  -t SEC     give up on a response after SEC seconds (default 60)\n"
		"  -p         poll rsp/ instead of inotify (a spool on NFS)\n"
		"  -v         print one line per response (timeline)\n"
		"  -l LABEL   name printed in those lines (default: DIR)\n"
		"  -h, --help this help\n"
		"  --version  print the version\n\n"
		"OP and ARGs (Documentation/protocol.rst, \"Operations\"):\n");
	print_ops(f);
	fprintf(f, "Exit status: 0 if every request succeeded (and matched, with -c).\n"
		"See vgpu-submit(1).\n");
}

/*
 * -n, -q, -t: a whole number from 1 to @max. Otherwise says why on stderr
 * (@zero: why 0 makes no sense) and returns -1.
 */
static int parse_positive(int opt, const char *s, unsigned long max, const char *zero,
			  unsigned long *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 0);
	if (!*s || *end || errno || strchr(s, '-')) {
		fprintf(stderr, "vgpu-submit: -%c %s: invalid number (a whole number from 1 to %lu)\n",
			opt, s, max);
		return -1;
	}
	if (!v) {
		fprintf(stderr, "vgpu-submit: -%c 0: %s\n", opt, zero);
		return -1;
	}
	if (v > max) {
		fprintf(stderr, "vgpu-submit: -%c %s: too large (at most %lu)\n", opt, s, max);
		return -1;
	}
	*out = v;
	return 0;
}

/* "E2BIG (Argument list too long)" for a negative errno @status. */
static void errno_str(int status, char *buf, size_t len)
{
	const char *name = strerrorname_np(-status);

	if (name)
		snprintf(buf, len, "%s (%s)", name, strerror(-status));
	else
		snprintf(buf, len, "error %d", status);
}

/*
 * Responses missing after the timeout: if the requests still lie in req/,
 * nothing picked them up, and no mediator serves @dir. Says which.
 */
static void explain_missing(const char *dir)
{
	char path[PATH_MAX], first[VGPU_ID_NAME_LEN + 1] = "";
	unsigned long left = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", dir, VGPU_DIR_REQ);
	d = opendir(path);
	if (!d)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strlen(e->d_name) != VGPU_ID_NAME_LEN)
			continue;
		if (!left++ || strcmp(e->d_name, first) < 0)
			snprintf(first, sizeof(first), "%s", e->d_name);
	}
	closedir(d);
	if (left)
		fprintf(stderr, "vgpu-submit: nothing picked up the request%s: the mediator does "
			"not seem to be running (or does not serve %s); left %lu request%s in %s/ "
			"(oldest %s)\n", left == 1 ? "" : "s", dir, left, left == 1 ? "" : "s",
			path, first);
	else
		fprintf(stderr, "vgpu-submit: the mediator took the requests from %s/ but did "
			"not answer in time (see vgpuctl status)\n", path);
}

/* The error vgpu_client_open() gave: a directory that is not a VM's says so. */
static void explain_open(const char *dir, int err, const char *why)
{
	if (err == -ENOENT || err == -ENOTDIR || err == -ELOOP)
		fprintf(stderr, "vgpu-submit: %s is not a VM directory (%s): -d wants the "
			"guest's /mnt/vgpu or Dom0's /var/vgpu/NAME, with %s/, %s/ and %s/ in it\n",
			dir, why, VGPU_DIR_TMP, VGPU_DIR_REQ, VGPU_DIR_RSP);
	else
		fprintf(stderr, "vgpu-submit: %s: %s\n", dir, why);
}

struct slot {
	uint8_t *in, *out;
	uint64_t submitted_ns;
};

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

enum { OPT_VERSION = 256 };

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct vgpu_client_opts opts = { 0 };
	const char *dir = NULL, *label = NULL;
	unsigned long count = 1, depth = 1, timeout_s = 60;
	bool check = false, verbose = false;
	uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	struct vgpu_job_desc desc = { 0 };
	struct vgpu_client *c;
	struct slot *slots;
	uint64_t *lat, t0;
	unsigned long sent = 0, done = 0, ok = 0, failed = 0, mismatched = 0;
	char why[VGPU_MSG_LEN];
	int opt, err;

	while ((opt = getopt_long(argc, argv, "d:n:q:cs:t:pvl:h", long_opts, NULL)) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'n':
			if (parse_positive(opt, optarg, ULONG_MAX / sizeof(uint64_t),
					   "nothing to send: COUNT must be at least 1", &count))
				return 2;
			break;
		case 'q':
			if (parse_positive(opt, optarg, ULONG_MAX / sizeof(struct slot),
					   "no request could be in flight: DEPTH must be at least 1",
					   &depth))
				return 2;
			break;
		case 'c': check = true; break;
		case 's': seed = strtoull(optarg, NULL, 0); break;
		case 't':
			if (parse_positive(opt, optarg, INT_MAX / 1000,
					   "no response comes in no time: SEC must be at least 1",
					   &timeout_s))
				return 2;
			break;
		case 'p': opts.poll = true; break;
		case 'v': verbose = true; break;
		case 'l': label = optarg; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("vgpu-submit %s\n", VGPU_VERSION); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (!dir || optind >= argc) {
		fprintf(stderr, "vgpu-submit: %s (see vgpu-submit --help)\n",
			!dir ? "-d DIR is required: the VM directory" : "no OP given");
		return 2;
	}
	if (parse_args(argc - optind, argv + optind, &desc.op, desc.args))
		return 2;
	if (vgpu_op_sizes(desc.op, desc.args, &desc.in_len, &desc.out_len, why)) {
		fprintf(stderr, "vgpu-submit: %s\n", why);
		return 2;
	}
	if (!label)
		label = dir;
	rng_state = seed | 1;
	err = vgpu_client_open(dir, &opts, &c, why);
	if (err) {
		explain_open(dir, err, why);
		return 1;
	}
	if (depth > count)
		depth = count;
	slots = calloc(depth, sizeof(*slots));
	lat = calloc(count, sizeof(*lat));
	if (!slots || !lat) {
		fprintf(stderr, "vgpu-submit: out of memory for %lu requests\n", count);
		return 1;
	}
	for (unsigned long i = 0; i < depth; i++) {
		slots[i].in = malloc(desc.in_len ? desc.in_len : 1);
		slots[i].out = malloc(desc.out_len ? desc.out_len : 1);
		if (!slots[i].in || !slots[i].out) {
			fprintf(stderr, "vgpu-submit: out of memory for %lu buffers\n", depth);
			return 1;
		}
	}
	t0 = vgpu_now_ns();
	for (unsigned long free_slot = 0; done < count;) {
		struct vgpu_result res;
		struct slot *s;

		while (sent < count && free_slot < depth) {
			struct vgpu_call call = { .op = desc.op, .in_len = desc.in_len,
						  .out_cap = desc.out_len };
			uint64_t id;

			/* Slots are handed out by index; results free them back. */
			s = NULL;
			for (unsigned long k = 0; k < depth; k++)
				if (!slots[k].submitted_ns) {
					s = &slots[k];
					break;
				}
			memcpy(call.args, desc.args, sizeof(call.args));
			fill_input(vgpu_op_get(desc.op), desc.args, s->in);
			memset(s->out, 0xa5, desc.out_len ? desc.out_len : 1); /* poison */
			call.in = s->in;
			call.out = s->out;
			call.user = s;
			err = vgpu_client_submit(c, &call, &id, why);
			if (err) {
				fprintf(stderr, "vgpu-submit: %s\n", why);
				return 1;
			}
			s->submitted_ns = vgpu_now_ns();
			sent++;
			free_slot++;
		}
		err = vgpu_client_next(c, &res, (int)(timeout_s * 1000));
		if (err <= 0) {
			fprintf(stderr, "vgpu-submit: %s: %lu of %lu responses missing after %lus%s%s\n",
				label, count - done, count, timeout_s, err ? ": " : "",
				err ? strerror(-err) : "");
			if (!err)
				explain_missing(dir);
			return 1;
		}
		s = res.user;
		lat[done++] = vgpu_now_ns() - s->submitted_ns;
		const char *verdict = "ok";
		char status[96] = "";
		double rel = 0;

		if (res.rsp.status) {
			failed++;
			verdict = "ERROR";
			errno_str(res.rsp.status, status, sizeof(status));
		} else if (check && vgpu_cpu_verify(&desc, s->in, s->out, &rel, why)) {
			mismatched++;
			verdict = "MISMATCH";
		} else {
			ok++;
		}
		if (verbose || strcmp(verdict, "ok"))
			printf("vm=%s id=%016" PRIx64 " op=%s status=%d queued_ns=%" PRIu64
			       " started_ns=%" PRIu64 " finished_ns=%" PRIu64 " %s%s%s%s%s\n", label,
			       res.id, vgpu_op_name(desc.op), res.rsp.status, res.rsp.queued_ns,
			       res.rsp.started_ns, res.rsp.finished_ns, verdict,
			       *status ? " " : "", status, res.rsp.status ? ": " : "",
			       res.rsp.status ? res.rsp.msg : "");
		fflush(stdout);
		s->submitted_ns = 0;
		free_slot--;
	}
	double secs = (double)(vgpu_now_ns() - t0) / 1e9;

	qsort(lat, count, sizeof(*lat), cmp_u64);
	printf("%s: %lu %s requests, %lu ok, %lu failed, %lu mismatched%s; latency p50 %.0f us"
	       " p99 %.0f us; %.0f requests/s; seed %" PRIu64 "\n", label, count,
	       vgpu_op_name(desc.op), ok, failed, mismatched, check ? "" : " (unchecked)",
	       (double)lat[count / 2] / 1e3, (double)lat[(count * 99) / 100] / 1e3,
	       (double)count / secs, seed);
	for (unsigned long i = 0; i < depth; i++) {
		free(slots[i].in);
		free(slots[i].out);
	}
	free(slots);
	free(lat);
	vgpu_client_close(c);
	return failed || mismatched;
}
