// SPDX-License-Identifier: MIT
/*
 * vgpu-smi: what this VM has of the shared GPU, the way nvidia-smi shows a
 * GPU: its name, compute capability and the SMs of the VM's pool; the
 * VM's id, pool and priority; its session's device memory quota and use,
 * module bytes, handles, epoch, jobs run and job time limit. A program of
 * the guest (or of Dom0, given a VM's spool directory), run by hand or by
 * scripts (--json, -q); it uses libvgpu's public API only: the device's
 * registers through vgpu_device_info(), the rest from Dom0 through
 * vgpu_device_props(), one session job (which starts the VM's session if
 * it has none and counts among its jobs run). Reads only; single-threaded.
 *
 *   vgpu-smi [-d TARGET] [-t MS] [--json | -q FIELD[,FIELD...]]
 *
 * Exit status (vgpu-smi(1)): 0 shown; 1 Dom0 refused or did not answer;
 * 2 usage; 3 no vgpu device at TARGET; 4 permission denied; 5 no agent
 * attached to the device.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vgpu/vgpu.h"

enum {
	EXIT_DOM0 = 1,		/* Dom0 refused the query or did not answer */
	EXIT_USAGE = 2,
	EXIT_NODEV = 3,		/* no vgpu device (or VM directory) at the target */
	EXIT_PERM = 4,		/* the target may not be opened by this user */
	EXIT_NOAGENT = 5,	/* /dev/vgpuN with no agent to carry jobs to Dom0 */
};

#define DEFAULT_TIMEOUT_MS	10000u	/* a first query starts the VM's executor */

/* Everything shown, as plain values: the one source of all three outputs. */
struct view {
	char device[256];
	bool spool, agent, assigned;
	uint64_t api_version, max_job_bytes;
	uint64_t vm_id;
	char pool[8], priority[8];
	char name[256], uuid[48], backend[16], cc[16];
	uint64_t sms, warp, clock_khz, mem_clock_khz, bus_width, l2;
	bool cooperative, concurrent, ecc;
	uint64_t threads_per_block, shared_per_block, shared_optin, regs_per_block, const_bytes;
	uint64_t mem_total, mem_used, mem_free;
	uint64_t mod_quota, mod_used, handle_quota, handles_used;
	uint64_t epoch, jobs_run, time_limit_ms;
};

enum kind { K_STR, K_U64, K_BOOL };
#define F_VM		(1u << 0)	/* known only when Dom0 assigned the VM */
#define F_NONZERO	(1u << 1)	/* 0 means unknown here: null */

/* The fields of --json and -q, named by their JSON path, grouped by prefix. */
static const struct field {
	const char *name;
	enum kind kind;
	size_t off;
	unsigned int flags;
} fields[] = {
#define S(n, m, f)	{ n, K_STR, offsetof(struct view, m), f }
#define U(n, m, f)	{ n, K_U64, offsetof(struct view, m), f }
#define B(n, m, f)	{ n, K_BOOL, offsetof(struct view, m), f }
	S("device", device, 0),
	B("spool", spool, 0),
	B("agent", agent, 0),
	U("api_version", api_version, F_NONZERO),
	U("max_job_bytes", max_job_bytes, F_NONZERO),
	U("vm.vm_id", vm_id, F_VM),
	S("vm.pool", pool, F_VM),
	S("vm.priority", priority, F_VM),
	S("gpu.name", name, 0),
	S("gpu.uuid", uuid, 0),
	S("gpu.backend", backend, 0),
	S("gpu.compute_capability", cc, 0),
	U("gpu.multiprocessors", sms, 0),
	U("gpu.warp_size", warp, 0),
	U("gpu.clock_khz", clock_khz, F_NONZERO),
	U("gpu.mem_clock_khz", mem_clock_khz, F_NONZERO),
	U("gpu.mem_bus_width", bus_width, F_NONZERO),
	U("gpu.l2_bytes", l2, F_NONZERO),
	B("gpu.cooperative", cooperative, 0),
	B("gpu.concurrent_kernels", concurrent, 0),
	B("gpu.ecc", ecc, 0),
	U("limits.max_threads_per_block", threads_per_block, 0),
	U("limits.shared_per_block", shared_per_block, 0),
	U("limits.shared_per_block_optin", shared_optin, 0),
	U("limits.regs_per_block", regs_per_block, 0),
	U("limits.const_bytes", const_bytes, 0),
	U("memory.total", mem_total, 0),
	U("memory.used", mem_used, 0),
	U("memory.free", mem_free, 0),
	U("modules.quota", mod_quota, 0),
	U("modules.used", mod_used, 0),
	U("handles.quota", handle_quota, 0),
	U("handles.used", handles_used, 0),
	U("session.epoch", epoch, 0),
	U("session.jobs_run", jobs_run, 0),
	U("session.time_limit_ms", time_limit_ms, 0),
#undef S
#undef U
#undef B
};
#define NFIELDS	(sizeof(fields) / sizeof(fields[0]))

static const struct field *field_by_name(const char *name, size_t len)
{
	for (size_t i = 0; i < NFIELDS; i++)
		if (strlen(fields[i].name) == len && !strncmp(fields[i].name, name, len))
			return &fields[i];
	return NULL;
}

static bool field_known(const struct view *v, const struct field *f)
{
	if ((f->flags & F_VM) && !v->assigned)
		return false;
	if ((f->flags & F_NONZERO) && !*(const uint64_t *)((const char *)v + f->off))
		return false;
	return true;
}

/* @s as a JSON string, quotes included. */
static void json_str(FILE *out, const char *s)
{
	putc('"', out);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '"' || *p == '\\')
			fprintf(out, "\\%c", *p);
		else if (*p < 0x20 || *p == 0x7f)
			fprintf(out, "\\u%04x", *p);
		else
			putc(*p, out);
	}
	putc('"', out);
}

/* One field's value; JSON (strings quoted, null) or plain (-q: empty if unknown). */
static void put_value(FILE *out, const struct view *v, const struct field *f, bool json)
{
	const char *p = (const char *)v + f->off;

	if (!field_known(v, f)) {
		fputs(json ? "null" : "", out);
		return;
	}
	switch (f->kind) {
	case K_STR:
		if (json)
			json_str(out, p);
		else
			fputs(p, out);
		break;
	case K_U64:
		fprintf(out, "%" PRIu64, *(const uint64_t *)p);
		break;
	case K_BOOL:
		fputs(*(const bool *)p ? "true" : "false", out);
		break;
	}
}

/* --json: one object, a member object per group ("vm", "gpu", ...). */
static void show_json(FILE *out, const struct view *v)
{
	const char *group = NULL;
	size_t glen = 0;

	fprintf(out, "{\"version\":1");
	for (size_t i = 0; i < NFIELDS; i++) {
		const char *name = fields[i].name, *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : 0;
		bool first = false;

		if (group && (!dot || len != glen || strncmp(name, group, len))) {
			putc('}', out);
			group = NULL;
		}
		if (dot && !group) {
			fprintf(out, ",\"%.*s\":{", (int)len, name);
			group = name, glen = len, first = true;
		}
		fprintf(out, "%s\"%s\":", first ? "" : ",", dot ? dot + 1 : name);
		put_value(out, v, &fields[i], true);
	}
	fputs(group ? "}}\n" : "}\n", out);
}

/* -q's fields, checked before the device is asked. */
static const struct field *query[NFIELDS * 4];
static size_t nquery;

/* Parse @list (comma-separated names) into query[]; 0, or -1 said why. */
static int parse_query(const char *list)
{
	for (const char *p = list; ; ) {
		size_t len = strcspn(p, ",");
		const struct field *f = field_by_name(p, len);

		if (!f || nquery == sizeof(query) / sizeof(query[0])) {
			fprintf(stderr, "vgpu-smi: -q: %s '%.*s' (vgpu-smi -q help lists them)\n",
				f ? "too many fields at" : "no field", (int)len, p);
			return -1;
		}
		query[nquery++] = f;
		if (!p[len])
			return 0;
		p += len + 1;
	}
}

/* -q: the values of query[], comma-separated, on one line. */
static void show_query(FILE *out, const struct view *v)
{
	for (size_t i = 0; i < nquery; i++) {
		if (i)
			putc(',', out);
		put_value(out, v, query[i], false);
	}
	putc('\n', out);
}

/* "1073741824 bytes (1024.0 MiB)" */
static const char *bytes(char *buf, size_t len, uint64_t b)
{
	snprintf(buf, len, "%" PRIu64 " bytes (%.1f MiB)", b, (double)b / (1 << 20));
	return buf;
}

#define LINE(label, ...)	printf("    %-26s: " label "\n", __VA_ARGS__)

static void show_text(const struct view *v)
{
	char b1[64];

	printf("vgpu-smi %s, libvgpu %s\n\n", VGPU_VERSION, vgpu_version());
	if (v->spool)
		printf("Target %s: a VM's spool directory\n", v->device);
	else
		printf("Target %s: driver API %" PRIu64 ", %s, jobs up to %s\n", v->device,
		       v->api_version, v->agent ? "agent attached" : "no agent",
		       v->max_job_bytes ? bytes(b1, sizeof(b1), v->max_job_bytes) : "N/A");
	printf("GPU\n");
	LINE("%s", "Name", v->name);
	LINE("%s", "Backend", v->backend);
	LINE("%s", "UUID", *v->uuid ? v->uuid : "N/A");
	LINE("%s", "Compute capability", v->cc);
	LINE("%" PRIu64 " (what this VM's pool may use)", "Multiprocessors", v->sms);
	LINE("%" PRIu64, "Warp size", v->warp);
	if (v->clock_khz)
		LINE("%" PRIu64 " MHz, memory %" PRIu64 " MHz, %" PRIu64 "-bit bus", "Clocks",
		     v->clock_khz / 1000, v->mem_clock_khz / 1000, v->bus_width);
	else
		LINE("%s", "Clocks", "N/A");
	LINE("%s%s%s%s", "Features", v->cooperative ? "cooperative " : "",
	     v->concurrent ? "concurrent-kernels " : "", v->ecc ? "ecc" : "",
	     v->cooperative || v->concurrent || v->ecc ? "" : "-");
	printf("VM\n");
	if (v->assigned) {
		LINE("%" PRIu64, "vm_id", v->vm_id);
		LINE("%s", "Pool", v->pool);
		LINE("%s", "Priority", v->priority);
	} else {
		LINE("%s", "vm_id, pool, priority", "N/A (not known here)");
	}
	printf("Memory (the VM's session)\n");
	LINE("%s", "Quota", bytes(b1, sizeof(b1), v->mem_total));
	LINE("%s", "Used", bytes(b1, sizeof(b1), v->mem_used));
	LINE("%s", "Free", bytes(b1, sizeof(b1), v->mem_free));
	LINE("%s", "Module images quota", bytes(b1, sizeof(b1), v->mod_quota));
	LINE("%s", "Module images used", bytes(b1, sizeof(b1), v->mod_used));
	LINE("%" PRIu64 " of %" PRIu64, "Handles", v->handles_used, v->handle_quota);
	printf("Session\n");
	LINE("%" PRIu64, "Epoch", v->epoch);
	LINE("%" PRIu64 " (this query included)", "Jobs run", v->jobs_run);
	LINE("%" PRIu64 " ms", "Job time limit", v->time_limit_ms);
}

static void make_view(struct view *v, const char *target, const struct vgpu_device_info *info,
		      const struct vgpu_device_props *p)
{
	static const char *const pools[] = { "A", "B" };
	static const char *const prios[] = { "low", "medium", "high" };
	bool uuid = false;

	memset(v, 0, sizeof(*v));
	snprintf(v->device, sizeof(v->device), "%s", target);
	v->spool = info->flags & VGPU_DEVICE_F_SPOOL;
	v->agent = info->flags & VGPU_DEVICE_F_AGENT;
	v->api_version = info->api_version;
	v->max_job_bytes = info->max_job_bytes;
	v->assigned = (info->flags & VGPU_DEVICE_F_ASSIGNED) && info->pool < 2 &&
		      info->priority < 3;
	v->vm_id = info->vm_id;
	snprintf(v->pool, sizeof(v->pool), "%s", v->assigned ? pools[info->pool] : "");
	snprintf(v->priority, sizeof(v->priority), "%s", v->assigned ? prios[info->priority] : "");

	/* Dom0's text, shown on a terminal: printable ASCII only */
	for (size_t i = 0; i < sizeof(v->name) - 1 && p->name[i]; i++)
		v->name[i] = p->name[i] >= 0x20 && p->name[i] < 0x7f ? p->name[i] : '?';
	for (size_t i = 0; i < sizeof(p->uuid); i++)
		uuid |= p->uuid[i] != 0;
	if (uuid) {
		const uint8_t *u = p->uuid;

		snprintf(v->uuid, sizeof(v->uuid),
			 "GPU-%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11],
			 u[12], u[13], u[14], u[15]);
	}
	snprintf(v->backend, sizeof(v->backend), "%s",
		 p->flags & VGPU_PROPS_F_GPU ? "gpu" : "cpu-reference");
	snprintf(v->cc, sizeof(v->cc), "%u.%u", p->cc_major, p->cc_minor);
	v->sms = p->multiprocessors;
	v->warp = p->warp_size;
	v->clock_khz = p->clock_khz;
	v->mem_clock_khz = p->mem_clock_khz;
	v->bus_width = p->mem_bus_width;
	v->l2 = p->l2_bytes;
	v->cooperative = p->flags & VGPU_PROPS_F_COOPERATIVE;
	v->concurrent = p->flags & VGPU_PROPS_F_CONCURRENT_KERNELS;
	v->ecc = p->flags & VGPU_PROPS_F_ECC;
	v->threads_per_block = p->max_threads_per_block;
	v->shared_per_block = p->shared_per_block;
	v->shared_optin = p->shared_per_block_optin;
	v->regs_per_block = p->regs_per_block;
	v->const_bytes = p->const_bytes;
	v->mem_total = p->total_mem;
	v->mem_used = p->mem_used;
	v->mem_free = p->total_mem > p->mem_used ? p->total_mem - p->mem_used : 0;
	v->mod_quota = p->module_quota;
	v->mod_used = p->module_used;
	v->handle_quota = p->handle_quota;
	v->handles_used = p->handles_used;
	v->epoch = p->epoch;
	v->jobs_run = p->lists_run;
	v->time_limit_ms = p->time_limit_ms;
}

/* The exit status for an errno of opening the target. */
static int open_status(int err)
{
	switch (err) {
	case -ENOENT: case -ENODEV: case -ENOTTY: case -ENXIO: case -ENOTDIR:
		return EXIT_NODEV;
	case -EACCES: case -EPERM:
		return EXIT_PERM;
	default:
		return EXIT_DOM0;
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: vgpu-smi [-d TARGET] [-t MS] [--json | -q FIELD[,FIELD...]]\n"
		"Shows what this VM has of the shared GPU: the GPU, the VM's pool and\n"
		"priority, its device memory quota and use, handles, its session.\n\n"
		"  -d, --device TARGET  /dev/vgpuN or a VM's spool directory\n"
		"                       (default: $VGPU_DEVICE, else /dev/vgpu0)\n"
		"  -t, --timeout MS     wait this long for Dom0's answer (%u)\n"
		"  -j, --json           everything as one JSON object\n"
		"  -q, --query FIELDS   only these values, comma-separated, one line\n"
		"                       (-q help lists the fields)\n"
		"  -h, --help           this help\n"
		"  --version            print the version\n"
		"Exit status: 0 shown, 1 Dom0 refused or did not answer, 2 usage,\n"
		"3 no vgpu device, 4 permission denied, 5 no agent attached.\n"
		"See vgpu-smi(1).\n", DEFAULT_TIMEOUT_MS);
}

enum { OPT_VERSION = 256 };

static const struct option long_opts[] = {
	{ "device", required_argument, NULL, 'd' },
	{ "timeout", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, 'j' },
	{ "query", required_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct vgpu_device_info info = { .argsz = sizeof(info) };
	struct vgpu_device_props props = { .argsz = sizeof(props) };
	const char *target = NULL, *qlist = NULL;
	unsigned int timeout_ms = DEFAULT_TIMEOUT_MS;
	char why[VGPU_WHY_LEN], *end;
	struct vgpu_device *dev;
	struct view v;
	bool json = false;
	int c, err;

	while ((c = getopt_long(argc, argv, "d:t:jq:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'd': target = optarg; break;
		case 't': {
			unsigned long t;

			errno = 0;
			t = strtoul(optarg, &end, 10);
			if (errno || *end || end == optarg || t < 1 || t > 3600000) {
				fprintf(stderr, "vgpu-smi: -t %s: milliseconds, 1..3600000\n",
					optarg);
				return EXIT_USAGE;
			}
			timeout_ms = (unsigned int)t;
			break;
		}
		case 'j': json = true; break;
		case 'q': qlist = optarg; break;
		case 'h': usage(stdout); return 0;
		case OPT_VERSION: printf("vgpu-smi %s\n", VGPU_VERSION); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind < argc || (json && qlist)) {
		fprintf(stderr, "vgpu-smi: %s\n", optind < argc ? "unexpected argument" :
			"--json and -q exclude each other");
		usage(stderr);
		return EXIT_USAGE;
	}
	if (qlist && !strcmp(qlist, "help")) {
		for (size_t i = 0; i < NFIELDS; i++)
			puts(fields[i].name);
		return 0;
	}
	if (qlist && parse_query(qlist))
		return EXIT_USAGE;
	if (!target)
		target = getenv("VGPU_DEVICE");
	if (!target || !*target)
		target = "/dev/vgpu0";

	err = vgpu_open(target, &dev, why);
	if (err) {
		fprintf(stderr, "vgpu-smi: %s\n", why);
		return open_status(err);
	}
	/* The device's registers first: without an agent, nothing would answer. */
	err = vgpu_device_info(dev, &info, why);
	if (!err && !(info.flags & VGPU_DEVICE_F_SPOOL) && !(info.flags & VGPU_DEVICE_F_AGENT)) {
		fprintf(stderr, "vgpu-smi: %s: no agent attached: nothing carries jobs to Dom0 "
			"(is vgpu-agent running? systemctl status vgpu-agent)\n", target);
		vgpu_close(dev);
		return EXIT_NOAGENT;
	}
	if (!err)
		err = vgpu_device_props(dev, &props, timeout_ms, why);
	if (err) {
		fprintf(stderr, "vgpu-smi: %s: %s%s\n", target, why,
			err == -ETIMEDOUT ? (info.flags & VGPU_DEVICE_F_SPOOL ?
			" (is the mediator running, and serving this directory?)" :
			" (is Dom0's mediator running?)") : "");
		vgpu_close(dev);
		return err == -ENOTCONN ? EXIT_NOAGENT :
		       err == -EACCES || err == -EPERM ? EXIT_PERM : EXIT_DOM0;
	}
	/* On a spool, the VM's id, pool and priority are known from an answer. */
	err = vgpu_device_info(dev, &info, why);
	vgpu_close(dev);
	if (err) {
		fprintf(stderr, "vgpu-smi: %s: %s\n", target, why);
		return EXIT_DOM0;
	}
	make_view(&v, target, &info, &props);
	if (json)
		show_json(stdout, &v);
	else if (qlist)
		show_query(stdout, &v);
	else
		show_text(&v);
	return 0;
}
