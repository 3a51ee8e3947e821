// SPDX-License-Identifier: MIT
/*
 * The mediator's config: INI parsed by Debian's libinih. See
 * Documentation/mediator.rst for every key. Errors name the file, the line
 * and the key. A VM's pool and priority come only from here.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "conf.h"
#include "job.h"
#include "log.h"

#define DEF_MAX_PAYLOAD	VGPU_PAYLOAD_DEFAULT	/* bytes: proto.h, "Size limits" */
#define DEF_MAX_QUEUED	64
#define MAX_QUEUED_MAX	4096		/* queued jobs may keep fds (queue.c's bound) */
#define MAX_VMS		1024
#define DEF_SOCKET_GROUP "vgpu"		/* if it exists (tools/vgpu.sysusers) */
#define DEF_METRICS_PORT 9445
#define TRACE_JOBS_MAX	(1u << 20)
#define AGING_MS_MAX	3600000		/* an hour */
#define DEF_WEIGHT	100
#define WEIGHT_MAX	10000
/* Sessions: a VM's executor quotas and a session job's time limit. */
#define DEF_SESS_MEM		(1ull << 30)	/* bytes */
#define SESS_MEM_MAX		(1ull << 40)	/* bytes: an H200 has 141 GB */
#define DEF_SESS_HANDLES	1024
#define SESS_HANDLES_MAX	(1u << 20)
#define DEF_SESS_MODULE		(64ull << 20)	/* bytes */
#define DEF_SESS_TIME_MS	5000
#define SESS_TIME_MS_MAX	3600000		/* an hour */
#define DEF_EXEC_USER		"nobody"
#define UID_BASE_MIN		65536		/* past Debian's account ranges and nobody */
#define UID_MAX_EXEC		0x7ffffffeu	/* the last uid an executor may take */
/* Isolation: the MPS daemon's program, and when a VM counts as faulting
 * again and again (Documentation/executor.rst, "Isolation modes"). */
#define DEF_MPS_CONTROL		"/usr/bin/nvidia-cuda-mps-control"
#define DEF_MPS_FAULT_LIMIT	3
#define DEF_MPS_FAULT_WINDOW_S	600
#define DEF_SM_PERCENT		100

enum section { SEC_NONE, SEC_MEDIATOR, SEC_POOL, SEC_VM, SEC_BAD };

/* Keys a VM must set, as bits of vm_seen. */
#define SEEN_ID		1u
#define SEEN_POOL	2u
#define SEEN_PRIO	4u

struct parse {
	struct conf *c;
	const char *file;
	FILE *fp;
	char *buf;		/* the reader's whole line */
	size_t cap;
	int line;		/* line the reader returned last */
	enum section sec;
	unsigned int pool;	/* SEC_POOL */
	struct vm_conf *vm;	/* SEC_VM */
	unsigned int *vm_seen;	/* per VM, indexed like c->vms */
	char sec_name[VM_NAME_MAX + 16];	/* the section, as written */
	struct seen_key *keys;	/* every key given so far, to refuse a repeat */
	size_t nkeys;
	bool any_section;	/* the main file had one: not an empty config */
	bool group_set;		/* control_socket_group given */
	bool mode_set;		/* control_socket_mode given */
	char *err;
	size_t errlen;
	bool failed;
};

/* A key seen in a section: a second one would silently win. */
struct seen_key {
	char sec[VM_NAME_MAX + 16];
	char key[32];
	char where[PATH_MAX + 16];
};

static void perr(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void perr(struct parse *p, const char *fmt, ...)
{
	int n;
	va_list ap;

	if (p->failed)
		return;		/* keep the first error */
	p->failed = true;
	n = snprintf(p->err, p->errlen, "%s:%d: ", p->file, p->line);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < p->errlen)
		vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

static int parse_u64(const char *v, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long x;
	unsigned int shift = 0;

	if (!isdigit((unsigned char)*v))
		return -1;
	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno)
		return -1;
	switch (toupper((unsigned char)*end)) {
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: break;
	}
	if (*end || (shift && x > (UINT64_MAX >> shift)))
		return -1;
	x <<= shift;
	if (x > max)
		return -1;
	*out = x;
	return 0;
}

static bool set_num(struct parse *p, const char *key, const char *v, uint64_t min,
		    uint64_t max, uint64_t *out)
{
	if (parse_u64(v, max, out) || *out < min) {
		perr(p, "key '%s': expected a number in %" PRIu64 "..%" PRIu64 "%s, got '%s'",
		     key, min, max, strstr(key, "bytes") ?
		     " (a suffix K, M, G or T, in either case, multiplies by 1024^1..4)" : "", v);
		return false;
	}
	return true;
}

static bool set_str(struct parse *p, const char *key, const char *v, char *dst, size_t size)
{
	if (!*v || strlen(v) >= size) {
		perr(p, "key '%s': expected a non-empty value of at most %zu bytes", key,
		     size - 1);
		return false;
	}
	memcpy(dst, v, strlen(v) + 1);
	return true;
}

static bool set_bool(struct parse *p, const char *key, const char *v, bool *out)
{
	if (strcmp(v, "yes") && strcmp(v, "no")) {
		perr(p, "key '%s': expected yes or no, got '%s'", key, v);
		return false;
	}
	*out = !strcmp(v, "yes");
	return true;
}

/* A path the daemon uses whatever its working directory: absolute. */
static bool set_path(struct parse *p, const char *key, const char *v, char *dst, size_t size)
{
	if (*v && *v != '/') {
		perr(p, "key '%s': expected an absolute path, got '%s'", key, v);
		return false;
	}
	return set_str(p, key, v, dst, size);
}

static void set_group(struct parse *p, const char *v)
{
	struct group *g = getgrnam(v);

	if (!g) {
		perr(p, "key 'control_socket_group': no group '%s' on this host "
		     "(getent group %s)", v, v);
		return;
	}
	p->c->ctl_gid = g->gr_gid;
	snprintf(p->c->ctl_group, sizeof(p->c->ctl_group), "%s", v);
	p->group_set = true;
}

static void set_mode(struct parse *p, const char *v)
{
	char *end;
	unsigned long mode;

	errno = 0;
	mode = strtoul(v, &end, 8);
	if (!*v || *end || errno || mode & ~0777ul || mode & 0007 || (mode & 0600) != 0600) {
		perr(p, "key 'control_socket_mode': expected an octal mode such as 0660, with "
		     "read and write for the owner and none for others, got '%s'", v);
		return;
	}
	p->c->ctl_mode = (unsigned int)mode;
	p->mode_set = true;
}

/* "ADDR:PORT" ("[ADDR6]:PORT") or "off". */
static void set_listen(struct parse *p, const char *v)
{
	struct conf *c = p->c;
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(v, ':');
	unsigned long port;
	char *end;
	size_t hl;

	if (!strcmp(v, "off")) {
		c->metrics_family = 0;
		return;
	}
	if (!colon || colon == v || (hl = (size_t)(colon - v)) >= sizeof(host))
		goto bad;
	memcpy(host, v, hl);
	host[hl] = '\0';
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || !port || port > 65535)
		goto bad;
	if (host[0] == '[' && host[hl - 1] == ']') {
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, c->metrics_addr) != 1)
			goto bad;
		c->metrics_family = AF_INET6;
	} else if (inet_pton(AF_INET, host, c->metrics_addr) == 1) {
		c->metrics_family = AF_INET;
	} else {
		goto bad;
	}
	c->metrics_port = (uint16_t)port;
	snprintf(c->metrics_text, sizeof(c->metrics_text), "%s", v);
	return;
bad:
	perr(p, "key 'metrics_listen': expected off, ADDRESS:PORT or [ADDRESS6]:PORT "
	     "such as 127.0.0.1:%d, got '%s'", DEF_METRICS_PORT, v);
}

/* Refuses a key given twice in one section: the last would silently win. */
static bool key_again(struct parse *p, const char *k)
{
	struct seen_key *nk;

	for (size_t i = 0; i < p->nkeys; i++) {
		if (!strcmp(p->keys[i].key, k) && !strcmp(p->keys[i].sec, p->sec_name)) {
			perr(p, "key '%s' given again in [%s] (first at %s)", k, p->sec_name,
			     p->keys[i].where);
			return true;
		}
	}
	if (strlen(k) >= sizeof(nk->key))
		return false;	/* no such key: the section says so */
	nk = realloc(p->keys, (p->nkeys + 1) * sizeof(*nk));
	if (!nk) {
		perr(p, "out of memory");
		return true;
	}
	p->keys = nk;
	nk = &p->keys[p->nkeys++];
	snprintf(nk->sec, sizeof(nk->sec), "%s", p->sec_name);
	snprintf(nk->key, sizeof(nk->key), "%s", k);
	snprintf(nk->where, sizeof(nk->where), "%s:%d", p->file, p->line);
	return false;
}

int cpu_list_parse(const char *text, struct cpu_list *l)
{
	const char *s = text;

	memset(l, 0, sizeof(*l));
	CPU_ZERO(&l->cpus);
	if (strlen(text) >= sizeof(l->text))
		return -1;
	do {
		unsigned long lo, hi;
		char *end;

		if (!isdigit((unsigned char)*s))
			return -1;
		lo = hi = strtoul(s, &end, 10);
		if (*end == '-') {
			s = end + 1;
			if (!isdigit((unsigned char)*s))
				return -1;
			hi = strtoul(s, &end, 10);
		}
		if (lo > hi || hi >= CPU_SETSIZE)
			return -1;
		for (unsigned long cpu = lo; cpu <= hi; cpu++)
			CPU_SET(cpu, &l->cpus);
		s = end;
	} while (*s++ == ',');
	if (s[-1])
		return -1;
	memcpy(l->text, text, strlen(text) + 1);
	l->set = true;
	return 0;
}

int cpu_list_apply(const struct cpu_list *l)
{
	if (!l->set)
		return 0;
	return -pthread_setaffinity_np(pthread_self(), sizeof(l->cpus), &l->cpus);
}

static void set_cpus(struct parse *p, const char *key, const char *v, struct cpu_list *l)
{
	if (cpu_list_parse(v, l))
		perr(p, "key '%s': expected a CPU list such as 2-3 or 0,4-7 (CPUs below %d), "
		     "got '%s'", key, CPU_SETSIZE, v);
	else
		snprintf(l->where, sizeof(l->where), "%s:%d", p->file, p->line);
}

const char *isolation_name(enum isolation i)
{
	return i == ISO_MPS ? "mps" : "process";
}

static void set_isolation(struct parse *p, const char *v, enum isolation *iso, char *where)
{
	if (!strcmp(v, "process"))
		*iso = ISO_PROCESS;
	else if (!strcmp(v, "mps"))
		*iso = ISO_MPS;
	else
		perr(p, "key 'isolation': expected process or mps, got '%s'", v);
	snprintf(where, WHERE_MAX, "%s:%d", p->file, p->line);
}

static void mediator_key(struct parse *p, const char *k, const char *v)
{
	struct conf *c = p->c;
	uint64_t n;

	if (!strcmp(k, "spool")) {
		set_path(p, k, v, c->spool, sizeof(c->spool));
	} else if (!strcmp(k, "state_dir")) {
		set_path(p, k, v, c->state_dir, sizeof(c->state_dir));
	} else if (!strcmp(k, "private_dir")) {
		set_path(p, k, v, c->private_dir, sizeof(c->private_dir));
	} else if (!strcmp(k, "control_socket")) {
		set_path(p, k, v, c->ctl_path, sizeof(c->ctl_path));
	} else if (!strcmp(k, "control_socket_group")) {
		set_group(p, v);
	} else if (!strcmp(k, "control_socket_mode")) {
		set_mode(p, v);
	} else if (!strcmp(k, "metrics_listen")) {
		set_listen(p, v);
	} else if (!strcmp(k, "trace_jobs")) {
		if (set_num(p, k, v, 0, TRACE_JOBS_MAX, &n))
			c->trace_jobs = (unsigned int)n;
	} else if (!strcmp(k, "include")) {
		if (set_path(p, k, v, c->include_dir, sizeof(c->include_dir)))
			snprintf(c->include_where, sizeof(c->include_where), "%s:%d", p->file,
				 p->line);
	} else if (!strcmp(k, "backend")) {
		if (!strcmp(v, "auto"))
			c->backend = BACKEND_AUTO;
		else if (!strcmp(v, "cpu"))
			c->backend = BACKEND_CPU;
		else if (!strcmp(v, "cuda"))
			c->backend = BACKEND_CUDA;
		else
			perr(p, "key 'backend': expected auto, cpu or cuda, got '%s'", v);
	} else if (!strcmp(k, "rescan_interval_s")) {
		if (set_num(p, k, v, 1, 86400, &n))
			c->rescan_s = (unsigned int)n;
	} else if (!strcmp(k, "response_ttl_s")) {
		if (set_num(p, k, v, 1, 365 * 86400, &n))
			c->response_ttl_s = (unsigned int)n;
	} else if (!strcmp(k, "fsync")) {
		bool b;

		if (set_bool(p, k, v, &b))
			c->fsync = b;
	} else if (!strcmp(k, "log_level")) {
		int l = log_level_from_name(v);

		if (l < 0)
			perr(p, "key 'log_level': expected err, warning, notice, info or debug, got '%s'", v);
		else
			c->log_level = l;
	} else if (!strcmp(k, "staging_bytes")) {
		set_num(p, k, v, 1 << 20, 1ull << 34, &c->staging_bytes);
	} else if (!strcmp(k, "worker_spin_us")) {
		if (set_num(p, k, v, 0, 1000000, &n))
			c->worker_spin_us = (unsigned int)n;
	} else if (!strcmp(k, "cpus")) {
		set_cpus(p, k, v, &c->main_cpus);
	} else if (!strcmp(k, "executor")) {
		set_path(p, k, v, c->executor, sizeof(c->executor));
	} else if (!strcmp(k, "executor_user")) {
		if (!getpwnam(v))
			perr(p, "key 'executor_user': no user '%s' on this host (getent passwd %s)",
			     v, v);
		else if (!getpwnam(v)->pw_uid)
			perr(p, "key 'executor_user': '%s' is root; executors run unprivileged", v);
		else
			set_str(p, k, v, c->executor_user, sizeof(c->executor_user));
	} else if (!strcmp(k, "executor_uid_base")) {
		/* 0, or past the ranges Debian gives accounts (and nobody) */
		if (strcmp(v, "0") && set_num(p, k, v, UID_BASE_MIN, UID_MAX_EXEC, &n))
			c->executor_uid_base = (uint32_t)n;
		else if (!strcmp(v, "0"))
			c->executor_uid_base = 0;
	} else if (!strcmp(k, "session_test_commands")) {
		set_bool(p, k, v, &c->session_test_cmds);
	} else if (!strcmp(k, "isolation")) {
		set_isolation(p, v, &c->isolation, c->iso_where);
	} else if (!strcmp(k, "mps_control")) {
		if (!*v)
			perr(p, "key 'mps_control': expected the path of nvidia-cuda-mps-control");
		else
			set_path(p, k, v, c->mps_control, sizeof(c->mps_control));
	} else if (!strcmp(k, "mps_dir")) {
		set_path(p, k, v, c->mps_dir, sizeof(c->mps_dir));
	} else if (!strcmp(k, "mps_fault_limit")) {
		if (set_num(p, k, v, 1, MPS_FAULTS_MAX, &n))
			c->mps_fault_limit = (unsigned int)n;
	} else if (!strcmp(k, "mps_fault_window_s")) {
		if (set_num(p, k, v, 1, 7 * 86400, &n))
			c->mps_fault_window_s = (unsigned int)n;
	} else {
		perr(p, "unknown key '%s' in [mediator]", k);
	}
}

static void pool_key(struct parse *p, const char *k, const char *v)
{
	struct vgpu_pool_conf *pc = &p->c->pools[p->pool];
	uint64_t n;

	if (!strcmp(k, "sms")) {
		if (set_num(p, k, v, 0, VGPU_SMS_MAX, &n)) {
			pc->sms = (unsigned int)n;
			snprintf(p->c->sms_where[p->pool], sizeof(p->c->sms_where[0]), "%s:%d",
				 p->file, p->line);
		}
	} else if (!strcmp(k, "mem_limit_bytes")) {
		set_num(p, k, v, 0, UINT64_MAX, &pc->mem_limit);
	} else if (!strcmp(k, "cpus")) {
		set_cpus(p, k, v, &p->c->pool_cpus[p->pool]);
	} else if (!strcmp(k, "io_threads")) {
		if (set_num(p, k, v, 1, VGPU_IO_TEAM_MAX, &n))
			p->c->io_threads[p->pool] = (unsigned int)n;
	} else if (!strcmp(k, "policy")) {
		int x = sched_policy_from_name(v);

		if (x < 0)
			perr(p, "key 'policy': expected strict, aging or weighted, got '%s'", v);
		else
			p->c->sched[p->pool].policy = (enum sched_policy)x;
	} else if (!strcmp(k, "aging_ms")) {
		if (set_num(p, k, v, 1, AGING_MS_MAX, &n))
			p->c->sched[p->pool].aging_ms = (unsigned int)n;
	} else if (!strcmp(k, "sm_percent")) {
		if (set_num(p, k, v, 1, 100, &n))
			p->c->sm_percent[p->pool] = (unsigned int)n;
	} else {
		perr(p, "unknown key '%s' in [pool %s]", k, vgpu_pool_name(p->pool));
	}
}

static void vm_key(struct parse *p, const char *k, const char *v)
{
	struct vm_conf *vm = p->vm;
	unsigned int *seen = &p->vm_seen[vm - p->c->vms];
	uint64_t n;
	int x;

	if (!strcmp(k, "id")) {
		if (set_num(p, k, v, 1, UINT32_MAX, &n)) {
			vm->id = (uint32_t)n;
			*seen |= SEEN_ID;
		}
	} else if (!strcmp(k, "pool")) {
		x = vgpu_pool_from_name(v);
		if (x < 0) {
			perr(p, "key 'pool': expected A or B, got '%s'", v);
			return;
		}
		vm->pool = (unsigned int)x;
		*seen |= SEEN_POOL;
	} else if (!strcmp(k, "priority")) {
		x = vgpu_prio_from_name(v);
		if (x < 0) {
			perr(p, "key 'priority': expected low, medium or high, got '%s'", v);
			return;
		}
		vm->prio = (unsigned int)x;
		*seen |= SEEN_PRIO;
	} else if (!strcmp(k, "dir")) {
		set_path(p, k, v, vm->dir, sizeof(vm->dir));
	} else if (!strcmp(k, "max_payload_bytes")) {
		set_num(p, k, v, 0, VGPU_PAYLOAD_MAX, &vm->max_payload);
	} else if (!strcmp(k, "max_queued")) {
		if (set_num(p, k, v, 1, MAX_QUEUED_MAX, &n))
			vm->max_queued = (unsigned int)n;
	} else if (!strcmp(k, "weight")) {
		if (set_num(p, k, v, 1, WEIGHT_MAX, &n))
			vm->weight = (unsigned int)n;
	} else if (!strcmp(k, "max_spool_bytes")) {
		set_num(p, k, v, 0, UINT64_MAX, &vm->max_spool_bytes);
	} else if (!strcmp(k, "session_mem_bytes")) {
		set_num(p, k, v, 0, SESS_MEM_MAX, &vm->sess_mem);
	} else if (!strcmp(k, "session_module_bytes")) {
		set_num(p, k, v, 0, SESS_MEM_MAX, &vm->sess_module);
	} else if (!strcmp(k, "session_handles")) {
		if (set_num(p, k, v, 0, SESS_HANDLES_MAX, &n))
			vm->sess_handles = (uint32_t)n;
	} else if (!strcmp(k, "session_time_limit_ms")) {
		if (set_num(p, k, v, 1, SESS_TIME_MS_MAX, &n))
			vm->sess_time_ms = (unsigned int)n;
	} else if (!strcmp(k, "isolation")) {
		set_isolation(p, v, &vm->isolation, vm->iso_where);
	} else {
		perr(p, "unknown key '%s' in [vm %s]", k, vm->name);
	}
}

/* The vgpu group, where it exists, may use the control socket. */
static void default_group(struct conf *c)
{
	struct group *g = getgrnam(DEF_SOCKET_GROUP);

	if (!g)
		return;
	c->ctl_gid = g->gr_gid;
	snprintf(c->ctl_group, sizeof(c->ctl_group), "%s", DEF_SOCKET_GROUP);
}

static bool valid_vm_name(const char *s)
{
	if (!*s || strlen(s) >= VM_NAME_MAX || *s == '.')
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("-_.", *s))
			return false;
	return true;
}

static void section_begin(struct parse *p, const char *sec)
{
	struct conf *c = p->c;

	snprintf(p->sec_name, sizeof(p->sec_name), "%s", sec);
	p->any_section = true;
	if (!strcmp(sec, "mediator")) {
		p->sec = SEC_MEDIATOR;
	} else if (!strncmp(sec, "pool ", 5)) {
		int x = vgpu_pool_from_name(sec + 5);

		if (x < 0) {
			perr(p, "section [%s]: pool must be A or B", sec);
			return;
		}
		p->sec = SEC_POOL;
		p->pool = (unsigned int)x;
	} else if (!strncmp(sec, "vm ", 3)) {
		const char *name = sec + 3;
		struct vm_conf *vms;
		unsigned int *seen;

		if (!valid_vm_name(name)) {
			perr(p, "section [%s]: a VM name is 1-%d letters, digits, '-', '_' or '.', not starting with '.'",
			     sec, VM_NAME_MAX - 1);
			return;
		}
		for (unsigned int i = 0; i < c->nvms; i++) {
			if (!strcmp(c->vms[i].name, name)) {
				perr(p, "section [%s]: VM defined again (first at %s)", sec,
				     c->vms[i].where);
				return;
			}
		}
		if (c->nvms == MAX_VMS) {
			perr(p, "section [%s]: more than %d VMs", sec, MAX_VMS);
			return;
		}
		vms = realloc(c->vms, (c->nvms + 1) * sizeof(*vms));
		seen = vms ? realloc(p->vm_seen, (c->nvms + 1) * sizeof(*seen)) : NULL;
		if (!vms || !seen) {
			if (vms)
				c->vms = vms;
			perr(p, "out of memory");
			return;
		}
		c->vms = vms;
		p->vm_seen = seen;
		p->vm = &c->vms[c->nvms];
		p->vm_seen[c->nvms++] = 0;
		memset(p->vm, 0, sizeof(*p->vm));
		snprintf(p->vm->name, sizeof(p->vm->name), "%s", name);
		snprintf(p->vm->where, sizeof(p->vm->where), "%s:%d", p->file, p->line);
		p->vm->max_payload = DEF_MAX_PAYLOAD;
		p->vm->max_queued = DEF_MAX_QUEUED;
		p->vm->weight = DEF_WEIGHT;
		p->vm->sess_mem = DEF_SESS_MEM;
		p->vm->sess_handles = DEF_SESS_HANDLES;
		p->vm->sess_module = DEF_SESS_MODULE;
		p->vm->sess_time_ms = DEF_SESS_TIME_MS;
		p->sec = SEC_VM;
	} else {
		perr(p, "unknown section [%s] (expected [mediator], [pool A|B] or [vm NAME])", sec);
		p->sec = SEC_BAD;
	}
}

/*
 * inih reads through this so that we know the line and see every section.
 * inih splits a line longer than its buffer (@num, INI_MAX_LINE) into
 * several, which shifts every line number after it and turns a long value
 * into a syntax error on a line past the end of the file: we read whole
 * lines, pass a long comment on as an empty line and refuse any other long
 * line with its own number.
 */
static char *reader(char *str, int num, void *stream)
{
	struct parse *p = stream;
	ssize_t len = getline(&p->buf, &p->cap, p->fp);
	char *b, *e;

	if (len < 0)
		return NULL;
	p->line++;
	for (b = p->buf; isspace((unsigned char)*b); b++)
		;
	if (len >= num) {
		if (*b != ';' && *b != '#')
			perr(p, "line longer than %d bytes", num - 2);
		snprintf(str, (size_t)num, "\n");
		return str;
	}
	memcpy(str, p->buf, (size_t)len + 1);
	if (*b == '[' && (e = strchr(b, ']'))) {
		char sec[VM_NAME_MAX + 16];
		size_t n = (size_t)(e - b - 1);

		if (n >= sizeof(sec)) {
			perr(p, "section name too long");
			return str;
		}
		memcpy(sec, b + 1, n);
		sec[n] = '\0';
		section_begin(p, sec);
	}
	return str;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;

	(void)section;	/* tracked by reader() */
	if (p->failed)
		return 0;
	if (p->sec != SEC_NONE && p->sec != SEC_BAD && key_again(p, name))
		return 0;
	switch (p->sec) {
	case SEC_MEDIATOR:
		mediator_key(p, name, value);
		break;
	case SEC_POOL:
		pool_key(p, name, value);
		break;
	case SEC_VM:
		vm_key(p, name, value);
		break;
	case SEC_NONE:
		perr(p, "key '%s' outside any section", name);
		break;
	case SEC_BAD:
		break;
	}
	return !p->failed;
}

static int parse_file(struct parse *p, const char *file)
{
	struct stat st;
	int rc;

	p->file = file;
	p->line = 0;
	p->sec = SEC_NONE;
	p->fp = fopen(file, "re");
	if (!p->fp || fstat(fileno(p->fp), &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(p->err, p->errlen, "%s: %s", file, !p->fp || !S_ISDIR(st.st_mode) ?
			 strerror(p->fp ? EINVAL : errno) : "a directory, not a config file");
		if (p->fp)
			fclose(p->fp);
		p->failed = true;
		return -1;
	}
	rc = ini_parse_stream(reader, p, handler, p);
	fclose(p->fp);
	free(p->buf);
	p->buf = NULL;
	p->cap = 0;
	if (rc && !p->failed) {
		/* inih's own syntax error; @rc is its line */
		p->line = rc > 0 ? rc : p->line;
		perr(p, "syntax error (expected 'key = value' or '[section]')");
	}
	return p->failed ? -1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every DIR/NAME.conf in name order, so that drop-ins from vgpu-assign load. */
static int parse_include(struct parse *p, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (!d) {
		/* An empty directory is a config without drop-ins; none is a typo. */
		snprintf(p->err, p->errlen, "%s: key 'include': %s: %s", p->c->include_where, dir,
			 strerror(errno));
		p->failed = true;
		return -1;
	}
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char **nn;

		if (de->d_name[0] == '.' || len < 6 || strcmp(de->d_name + len - 5, ".conf"))
			continue;
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn || !(nn[n] = strdup(de->d_name))) {
			names = nn ? nn : names;
			rc = -1;
			break;
		}
		names = nn;
		n++;
	}
	closedir(d);
	if (rc) {
		snprintf(p->err, p->errlen, "%s: out of memory", dir);
		p->failed = true;
	}
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n && !rc; i++) {
		char path[PATH_MAX * 2];

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		rc = parse_file(p, path);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int finish(struct parse *p)
{
	struct conf *c = p->c;
	static const struct { unsigned int bit; const char *key; } req[] = {
		{ SEEN_ID, "id" }, { SEEN_POOL, "pool" }, { SEEN_PRIO, "priority" },
	};

	if (c->pools[0].sms + c->pools[1].sms > VGPU_SMS_MAX) {
		snprintf(p->err, p->errlen, "%s: key 'sms': pools A and B reserve %u + %u SMs, "
			 "more than a GPU has (at most %d)", c->sms_where[1][0] ? c->sms_where[1] :
			 c->sms_where[0], c->pools[0].sms, c->pools[1].sms, VGPU_SMS_MAX);
		return -1;
	}
	if (!c->private_dir[0] &&
	    snprintf(c->private_dir, sizeof(c->private_dir), "%s/.mediator", c->spool) >=
	    (int)sizeof(c->private_dir)) {
		snprintf(p->err, p->errlen, "%s: spool path too long", p->file);
		return -1;
	}
	if (!c->mps_dir[0]) {
		const char *slash = strrchr(c->ctl_path, '/');

		snprintf(c->mps_dir, sizeof(c->mps_dir), "%.*s/mps",
			 slash ? (int)(slash - c->ctl_path) : 0, c->ctl_path);
	}
	for (unsigned int i = 0; i < c->nvms; i++) {
		struct vm_conf *vm = &c->vms[i];

		if (vm->isolation == ISO_UNSET) {
			vm->isolation = c->isolation;
			memcpy(vm->iso_where, c->iso_where, sizeof(vm->iso_where));
		}
		for (size_t r = 0; r < sizeof(req) / sizeof(req[0]); r++) {
			if (!(p->vm_seen[i] & req[r].bit)) {
				snprintf(p->err, p->errlen, "%s: [vm %s] is missing key '%s'",
					 vm->where, vm->name, req[r].key);
				return -1;
			}
		}
		for (unsigned int j = 0; j < i; j++) {
			if (c->vms[j].id == vm->id) {
				snprintf(p->err, p->errlen, "%s: [vm %s] key 'id': %" PRIu32
					 " is already used by [vm %s] at %s", vm->where, vm->name,
					 vm->id, c->vms[j].name, c->vms[j].where);
				return -1;
			}
		}
		if (c->executor_uid_base && vm->id > UID_MAX_EXEC - c->executor_uid_base) {
			snprintf(p->err, p->errlen, "%s: [vm %s] key 'id': executor_uid_base %" PRIu32
				 " + %" PRIu32 " is past the last uid executors may take (%u)",
				 vm->where, vm->name, c->executor_uid_base, vm->id, UID_MAX_EXEC);
			return -1;
		}
		if (!vm->dir[0] &&
		    snprintf(vm->dir, sizeof(vm->dir), "%s/%s", c->spool, vm->name) >=
		    (int)sizeof(vm->dir)) {
			snprintf(p->err, p->errlen, "%s: [vm %s]: spool path too long", vm->where,
				 vm->name);
			return -1;
		}
		for (unsigned int j = 0; j < i; j++) {
			if (!strcmp(c->vms[j].dir, vm->dir)) {
				snprintf(p->err, p->errlen, "%s: [vm %s] key 'dir': %s is already used by [vm %s] at %s",
					 vm->where, vm->name, vm->dir, c->vms[j].name, c->vms[j].where);
				return -1;
			}
		}
	}
	return 0;
}

int conf_load(const char *path, struct conf *c, char *err, size_t errlen)
{
	struct parse p = { .c = c, .err = err, .errlen = errlen };
	int rc;

	memset(c, 0, sizeof(*c));
	snprintf(c->spool, sizeof(c->spool), "/var/vgpu");
	snprintf(c->state_dir, sizeof(c->state_dir), "/var/lib/vgpu");
	snprintf(c->ctl_path, sizeof(c->ctl_path), "/run/vgpu/mediator.sock");
	c->backend = BACKEND_AUTO;
	c->rescan_s = 30;
	c->response_ttl_s = 86400;
	c->log_level = LOG_INFO;
	/* 1 MiB chunks: 4.9 GB/s on the H100, and a small job of the other
	 * pool waits behind one chunk at most (Documentation/cuda-backend.rst). */
	c->staging_bytes = 2ull << 20;
	/* Covers the round trip of a client that sends its next request as
	 * soon as it has the answer (Documentation/mediator.rst). */
	c->worker_spin_us = 50;
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++) {
		c->pools[i].index = i;
		/* The worker and one helper: a large payload moves about twice
		 * as fast as with the worker alone (Documentation/mediator.rst). */
		c->io_threads[i] = 2;
		c->sched[i].policy = SCHED_STRICT;
		c->sched[i].aging_ms = SCHED_DEF_AGING_MS;
	}

	c->ctl_mode = 0600;
	c->ctl_gid = (gid_t)-1;
	c->trace_jobs = 4096;
	snprintf(c->executor_user, sizeof(c->executor_user), "%s", DEF_EXEC_USER);
	c->isolation = ISO_PROCESS;
	snprintf(c->mps_control, sizeof(c->mps_control), "%s", DEF_MPS_CONTROL);
	c->mps_fault_limit = DEF_MPS_FAULT_LIMIT;
	c->mps_fault_window_s = DEF_MPS_FAULT_WINDOW_S;
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++)
		c->sm_percent[i] = DEF_SM_PERCENT;

	rc = parse_file(&p, path);
	if (!rc && !p.any_section) {
		snprintf(err, errlen, "%s: no [mediator] or [vm NAME] section: an empty config?",
			 path);
		rc = -1;
	}
	if (!rc && !p.group_set)
		default_group(c);
	if (!rc && c->ctl_gid != (gid_t)-1 && !p.mode_set)
		c->ctl_mode = 0660;	/* the group may ask */
	if (!rc && c->include_dir[0])
		rc = parse_include(&p, c->include_dir);
	if (!rc)
		rc = finish(&p);
	free(p.vm_seen);
	free(p.keys);
	if (rc)
		conf_free(c);
	return rc;
}

/* The CPUs of @l this process may not run on, into @bad ("" if none). */
static void cpus_unusable(const struct cpu_list *l, const cpu_set_t *allowed, char *bad,
			  size_t len)
{
	size_t n = 0;

	bad[0] = '\0';
	for (int cpu = 0; cpu < CPU_SETSIZE && n + 8 < len; cpu++)
		if (CPU_ISSET(cpu, &l->cpus) && !CPU_ISSET(cpu, allowed))
			n += (size_t)snprintf(bad + n, len - n, "%s%d", n ? "," : "", cpu);
}

int conf_check_host(const struct conf *c, const cpu_set_t *cpus, char *err, size_t errlen)
{
	const struct cpu_list *lists[1 + VGPU_NR_POOLS] = { &c->main_cpus };
	const struct vm_conf *mps_vm;
	cpu_set_t allowed;
	char bad[64], have[64];

	/* Refused rather than run as process isolation: see executor.rst. */
	if (conf_wants_mps(c, &mps_vm) && access(c->mps_control, X_OK)) {
		snprintf(err, errlen, "%s: [vm %s] key 'isolation': mps needs the MPS control "
			 "program %s, which is %s (install the NVIDIA driver's "
			 "nvidia-cuda-mps-control, set mps_control, or use isolation = process)",
			 mps_vm->iso_where, mps_vm->name, c->mps_control,
			 errno == ENOENT ? "not there" : "not executable");
		return -1;
	}
	for (unsigned int i = 0; i < VGPU_NR_POOLS; i++)
		lists[1 + i] = &c->pool_cpus[i];
	if (cpus && !CPU_COUNT(cpus))
		return 0;	/* unknown */
	if (cpus)
		allowed = *cpus;
	else if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return 0;	/* cannot tell: the start will */
	for (unsigned int i = 0; i < 1 + VGPU_NR_POOLS; i++) {
		struct cpu_list all = { .set = true };

		if (!lists[i]->set)
			continue;
		cpus_unusable(lists[i], &allowed, bad, sizeof(bad));
		if (!bad[0])
			continue;
		all.cpus = allowed;
		cpus_unusable(&all, &(cpu_set_t){ 0 }, have, sizeof(have));
		snprintf(err, errlen, "%s: key 'cpus': CPU %s %s not online or not allowed here "
			 "(this process may use %s)", lists[i]->where, bad,
			 strchr(bad, ',') ? "are" : "is", have);
		return -1;
	}
	return 0;
}

bool conf_wants_mps(const struct conf *c, const struct vm_conf **vm)
{
	for (unsigned int i = 0; i < c->nvms; i++) {
		if (c->vms[i].isolation == ISO_MPS) {
			if (vm)
				*vm = &c->vms[i];
			return true;
		}
	}
	return false;
}

void conf_free(struct conf *c)
{
	free(c->vms);
	c->vms = NULL;
	c->nvms = 0;
}
