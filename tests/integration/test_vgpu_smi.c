// SPDX-License-Identifier: MIT
/*
 * vgpu-smi (guest-agent/vgpu-smi.c) against a VM spool directory served by
 * a real mediator with the CPU backend and its executors: the VM's random
 * quotas, pool and priority, and the buffers this test left in its
 * session, as -q, --json and the table show them, each field against the
 * mediator's configuration, what this test allocated and what
 * vgpu_device_props() says right after; and its errors and exit statuses
 * (no device, not a vgpu device, not a VM directory, a directory another
 * client holds, permission denied, Dom0 not answering, bad options).
 * Fresh printed seed. The guest side (/dev/vgpu0, no agent) runs in
 * tests/guest/vm-cudart.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "testlib.h"
#include "vgpu/vgpu.h"

#define TIMEOUT_MS	20000

static const char *const pools[] = { "A", "B" };
static const char *const prios[] = { "low", "medium", "high" };

/* Run vgpu-smi @args (a shell word list) as uid @uid (-1: ours); its
 * stdout and stderr into @out and @err; its exit status, or -1. */
static int smi_as(int uid, const char *args, char *out, size_t olen, char *err, size_t elen)
{
	char dir[] = "/tmp/vgpu-smi-XXXXXX", cmd[4096], path[64];
	int status = -1;
	FILE *f;
	size_t n;
	pid_t pid;

	if (!mkdtemp(dir))
		return -1;
	chmod(dir, 0777);
	snprintf(cmd, sizeof(cmd), "exec %s %s >%s/out 2>%s/err", VGPU_SMI, args, dir, dir);
	pid = fork();
	if (pid == 0) {
		if (uid >= 0 && (setgid((gid_t)uid) || setuid((uid_t)uid)))
			_exit(126);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid > 0)
		waitpid(pid, &status, 0);
	snprintf(path, sizeof(path), "%s/out", dir);
	f = fopen(path, "r");
	n = f ? fread(out, 1, olen - 1, f) : 0;
	out[n] = '\0';
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "%s/err", dir);
	f = fopen(path, "r");
	n = f ? fread(err, 1, elen - 1, f) : 0;
	err[n] = '\0';
	if (f)
		fclose(f);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd))
		return -1;
	return pid > 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int smi(const char *args, char *out, size_t olen, char *err, size_t elen)
{
	return smi_as(-1, args, out, olen, err, elen);
}

FIXTURE(smi) {
	struct test_mediator t;
	char dir[512];
	char why[VGPU_WHY_LEN];
	uint64_t mem, modules, handles, time_limit, vm_id;
	unsigned int pool, prio;
	uint64_t used, nbufs;		/* what the setup left allocated */
	char out[16384], err[4096];
};

FIXTURE_SETUP(smi)
{
	struct vgpu_device *dev;
	struct vgpu_list *l;
	struct vgpu_reply *r;
	char vms[1024];

	setvbuf(stdout, NULL, _IOLBF, 0);
	test_seed();
	self->mem = test_rand_range(16 << 20, 256 << 20);
	self->modules = test_rand_range(1 << 20, 64 << 20);
	self->handles = test_rand_range(16, 4096);
	self->time_limit = test_rand_range(1000, 60000);
	self->vm_id = test_rand_range(1, 4000000);
	self->pool = (unsigned int)test_rand_range(0, 1);
	self->prio = (unsigned int)test_rand_range(0, 2);
	snprintf(vms, sizeof(vms),
		 "[vm g1]\nid = %" PRIu64 "\npool = %s\npriority = %s\n"
		 "session_mem_bytes = %" PRIu64 "\nsession_module_bytes = %" PRIu64 "\n"
		 "session_handles = %" PRIu64 "\nsession_time_limit_ms = %" PRIu64 "\n",
		 self->vm_id, pools[self->pool], prios[self->prio], self->mem, self->modules,
		 self->handles, self->time_limit);
	printf("# vm g1: id %" PRIu64 ", pool %s, %s, memory %" PRIu64 ", modules %" PRIu64
	       ", handles %" PRIu64 ", time limit %" PRIu64 " ms\n", self->vm_id, pools[self->pool],
	       prios[self->prio], self->mem, self->modules, self->handles, self->time_limit);
	ASSERT_EQ(0, tm_init(&self->t, NULL, vms));
	ASSERT_EQ(0, tm_start(&self->t)) TH_LOG("see %s", self->t.log);
	tm_vmdir(&self->t, "g1", self->dir, sizeof(self->dir));

	/* Buffers of random sizes, left in the session for vgpu-smi to count. */
	ASSERT_EQ(0, vgpu_open(self->dir, &dev, self->why)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, vgpu_list_new(&l));
	ASSERT_EQ(0, vgpu_reply_new(&r));
	self->nbufs = test_rand_range(1, 12);
	for (uint64_t i = 0; i < self->nbufs; i++) {
		uint64_t size = test_rand_range(1, self->mem / 16);

		ASSERT_EQ(0, vgpu_cmd_alloc(l, size, NULL));
		self->used += size;
	}
	ASSERT_EQ(0, vgpu_run(dev, l, r, TIMEOUT_MS, self->why)) TH_LOG("%s", self->why);
	vgpu_reply_free(r);
	vgpu_list_free(l);
	vgpu_close(dev);
}

FIXTURE_TEARDOWN(smi)
{
	if (self->t.pid > 0)
		EXPECT_EQ(0, tm_stop(&self->t, SIGTERM)) TH_LOG("see %s", self->t.log);
	tm_cleanup(&self->t);
}

/* vgpu_device_props() of the fixture's VM, now. */
static int props_now(const char *dir, struct vgpu_device_props *p, char *why)
{
	struct vgpu_device *dev;
	int err;

	*p = (struct vgpu_device_props){ .argsz = sizeof(*p) };
	err = vgpu_open(dir, &dev, why);
	if (!err)
		err = vgpu_device_props(dev, p, TIMEOUT_MS, why);
	vgpu_close(dev);
	return err;
}

/* -q: every field against the configuration, the setup's buffers and the
 * record vgpu_device_props() gives right after. */
TEST_F(smi, query_fields_are_the_vms_quotas_use_and_device)
{
	static const char fields[] =
		"memory.total,memory.used,memory.free,modules.quota,modules.used,"
		"handles.quota,handles.used,session.time_limit_ms,vm.vm_id,vm.pool,"
		"vm.priority,spool,agent,api_version,gpu.name,gpu.compute_capability,"
		"gpu.multiprocessors,gpu.warp_size,gpu.backend,session.epoch,session.jobs_run,"
		"device,limits.max_threads_per_block";
	struct vgpu_device_props p;
	char args[1024], want[2048];

	snprintf(args, sizeof(args), "-d %s -q %s", self->dir, fields);
	ASSERT_EQ(0, smi(args, self->out, sizeof(self->out), self->err, sizeof(self->err)))
		TH_LOG("%s", self->err);
	printf("# vgpu-smi -q: %s", self->out);
	ASSERT_EQ(0, props_now(self->dir, &p, self->why)) TH_LOG("%s", self->why);

	/* jobs: the setup's list, vgpu-smi's query, then props_now()'s */
	EXPECT_EQ(3u, p.lists_run);
	snprintf(want, sizeof(want),
		 "%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",0,%" PRIu64 ",%" PRIu64
		 ",%" PRIu64 ",%" PRIu64 ",%s,%s,true,false,,%s,%u.%u,%u,%u,cpu-reference,%u,%" PRIu64
		 ",%s,%u\n",
		 self->mem, self->used, self->mem - self->used, self->modules, self->handles,
		 self->nbufs, self->time_limit, self->vm_id, pools[self->pool], prios[self->prio],
		 p.name, p.cc_major, p.cc_minor, p.multiprocessors, p.warp_size, p.epoch,
		 p.lists_run - 1, self->dir, p.max_threads_per_block);
	EXPECT_STREQ(want, self->out);
	EXPECT_EQ(self->mem, p.total_mem);
	EXPECT_EQ(self->used, p.mem_used);
	EXPECT_STREQ("vgpu CPU reference", p.name);

	/* one field alone; an unknown one is a usage error, asked nothing */
	snprintf(args, sizeof(args), "-d %s -q memory.total", self->dir);
	ASSERT_EQ(0, smi(args, self->out, sizeof(self->out), self->err, sizeof(self->err)));
	snprintf(want, sizeof(want), "%" PRIu64 "\n", self->mem);
	EXPECT_STREQ(want, self->out);
	snprintf(args, sizeof(args), "-d %s -q memory.total,memory.nope", self->dir);
	EXPECT_EQ(2, smi(args, self->out, sizeof(self->out), self->err, sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "no field 'memory.nope'")) TH_LOG("%s", self->err);
	EXPECT_STREQ("", self->out);
	ASSERT_EQ(0, props_now(self->dir, &p, self->why));
	EXPECT_EQ(5u, p.lists_run) TH_LOG("the bad -q sent a job");
}

/* --json: one object with the documented groups, valid JSON, the same values. */
TEST_F(smi, json_has_the_groups_and_values)
{
	char args[1024], want[512];
	const char *groups[] = { "\"vm\":{", "\"gpu\":{", "\"limits\":{", "\"memory\":{",
				 "\"modules\":{", "\"handles\":{", "\"session\":{" };
	FILE *f;

	snprintf(args, sizeof(args), "-d %s --json", self->dir);
	ASSERT_EQ(0, smi(args, self->out, sizeof(self->out), self->err, sizeof(self->err)))
		TH_LOG("%s", self->err);
	printf("# %s", self->out);
	EXPECT_EQ(0, strncmp(self->out, "{\"version\":1,\"device\":\"", 23)) TH_LOG("%s", self->out);
	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		EXPECT_NE(NULL, strstr(self->out, groups[i])) TH_LOG("no %s", groups[i]);
	}
	snprintf(want, sizeof(want), "\"memory\":{\"total\":%" PRIu64 ",\"used\":%" PRIu64
		 ",\"free\":%" PRIu64 "}", self->mem, self->used, self->mem - self->used);
	EXPECT_NE(NULL, strstr(self->out, want)) TH_LOG("no %s", want);
	snprintf(want, sizeof(want), "\"vm\":{\"vm_id\":%" PRIu64 ",\"pool\":\"%s\","
		 "\"priority\":\"%s\"}", self->vm_id, pools[self->pool], prios[self->prio]);
	EXPECT_NE(NULL, strstr(self->out, want)) TH_LOG("no %s", want);
	snprintf(want, sizeof(want), "\"handles\":{\"quota\":%" PRIu64 ",\"used\":%" PRIu64 "}",
		 self->handles, self->nbufs);
	EXPECT_NE(NULL, strstr(self->out, want)) TH_LOG("no %s", want);
	EXPECT_NE(NULL, strstr(self->out, "\"spool\":true,\"agent\":false,\"api_version\":null,"
			       "\"max_job_bytes\":null,"));
	EXPECT_NE(NULL, strstr(self->out, "\"name\":\"vgpu CPU reference\",\"uuid\":\"\","));
	EXPECT_EQ('\n', self->out[strlen(self->out) - 1]);
	if (!system("command -v python3 >/dev/null 2>&1")) {
		char path[600], cmd[700];

		snprintf(path, sizeof(path), "%s/smi.json", self->t.root);
		f = fopen(path, "w");
		ASSERT_NE(NULL, f);
		fputs(self->out, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "python3 -m json.tool %s >/dev/null", path);
		EXPECT_EQ(0, system(cmd)) TH_LOG("not JSON: %s", self->out);
	}
}

/* The table a person reads: the name, the VM, the quota and use. */
TEST_F(smi, table_shows_the_gpu_vm_and_memory)
{
	char args[1024], want[256];

	snprintf(args, sizeof(args), "-d %s", self->dir);
	ASSERT_EQ(0, smi(args, self->out, sizeof(self->out), self->err, sizeof(self->err)))
		TH_LOG("%s", self->err);
	for (char *line = self->out, *nl; *line; line = nl + 1) {	/* as KTAP comments */
		nl = strchrnul(line, '\n');
		printf("# %.*s\n", (int)(nl - line), line);
		if (!*nl)
			break;
	}
	EXPECT_NE(NULL, strstr(self->out, "    Name                      : vgpu CPU reference\n"));
	EXPECT_NE(NULL, strstr(self->out, "    Compute capability        : 9.0\n"));
	snprintf(want, sizeof(want), "    vm_id                     : %" PRIu64 "\n"
		 "    Pool                      : %s\n    Priority                  : %s\n",
		 self->vm_id, pools[self->pool], prios[self->prio]);
	EXPECT_NE(NULL, strstr(self->out, want)) TH_LOG("no %s", want);
	snprintf(want, sizeof(want), "    Quota                     : %" PRIu64 " bytes", self->mem);
	EXPECT_NE(NULL, strstr(self->out, want)) TH_LOG("no %s", want);
	snprintf(want, sizeof(want), "    Handles                   : %" PRIu64 " of %" PRIu64 "\n",
		 self->nbufs, self->handles);
	EXPECT_NE(NULL, strstr(self->out, want)) TH_LOG("no %s", want);
	snprintf(want, sizeof(want), "    Job time limit            : %" PRIu64 " ms\n",
		 self->time_limit);
	EXPECT_NE(NULL, strstr(self->out, want)) TH_LOG("no %s", want);
	/* VGPU_DEVICE names the target when -d does not */
	snprintf(args, sizeof(args), "env VGPU_DEVICE=%s %s -q vm.vm_id", self->dir, VGPU_SMI);
	{
		char cmd[1200];
		FILE *p;

		snprintf(cmd, sizeof(cmd), "%s", args);
		p = popen(cmd, "r");
		ASSERT_NE(NULL, p);
		ASSERT_NE(NULL, fgets(want, sizeof(want), p));
		EXPECT_EQ(0, pclose(p));
		EXPECT_EQ(self->vm_id, strtoull(want, NULL, 10));
	}
}

/* A directory another client holds, one no mediator serves, one this user
 * may not open: each says so, with its exit status. */
TEST_F(smi, busy_unserved_and_forbidden_directories)
{
	struct vgpu_device *dev;
	char args[1024], other[600];

	ASSERT_EQ(0, vgpu_open(self->dir, &dev, self->why)) TH_LOG("%s", self->why);
	snprintf(args, sizeof(args), "-d %s", self->dir);
	EXPECT_EQ(1, smi(args, self->out, sizeof(self->out), self->err, sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "vgpu-smi: ")) TH_LOG("%s", self->err);
	EXPECT_NE(NULL, strstr(self->err, "another client uses this directory"))
		TH_LOG("%s", self->err);
	vgpu_close(dev);

	/* a VM directory of the same shape that no mediator serves */
	snprintf(other, sizeof(other), "%s/unserved", self->t.root);
	ASSERT_EQ(0, mkdir(other, 0755));
	for (const char *const *d = (const char *const[]){ "tmp", "req", "rsp", NULL }; *d; d++) {
		char sub[700];

		snprintf(sub, sizeof(sub), "%s/%s", other, *d);
		ASSERT_EQ(0, mkdir(sub, 0755));
	}
	snprintf(args, sizeof(args), "-t 300 -d %s", other);
	EXPECT_EQ(1, smi(args, self->out, sizeof(self->out), self->err, sizeof(self->err)));
	EXPECT_NE(NULL, strstr(self->err, "is the mediator running")) TH_LOG("%s", self->err);
	EXPECT_STREQ("", self->out);

	/* permission: the VM's directory, closed to others, as nobody */
	if (getuid() == 0) {
		ASSERT_EQ(0, chmod(other, 0700));
		EXPECT_EQ(4, smi_as(65534, args, self->out, sizeof(self->out), self->err,
				    sizeof(self->err)));
		EXPECT_NE(NULL, strstr(self->err, strerror(EACCES))) TH_LOG("%s", self->err);
	} else {
		printf("# not root: the permission case runs as root only\n");
	}
}

/* No device, something else, bad options: no job is sent. */
TEST(errors_and_usage)
{
	char out[4096], err[4096], args[600], want[64];

	EXPECT_EQ(3, smi("-d /nonexistent/vgpu0", out, sizeof(out), err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "/nonexistent/vgpu0: No such file")) TH_LOG("%s", err);
	EXPECT_EQ(3, smi("-d /dev/null", out, sizeof(out), err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "not a vgpu device")) TH_LOG("%s", err);
	snprintf(args, sizeof(args), "--device %s", VGPU_SMI);
	EXPECT_EQ(3, smi(args, out, sizeof(out), err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "neither a vgpu device nor a VM directory")) TH_LOG("%s", err);
	{	/* a directory, but no VM's: no tmp/, req/, rsp/ */
		char dir[] = "/tmp/vgpu-smi-notvm-XXXXXX";

		ASSERT_NE(NULL, mkdtemp(dir));
		snprintf(args, sizeof(args), "-d %s", dir);
		EXPECT_EQ(3, smi(args, out, sizeof(out), err, sizeof(err)));
		EXPECT_NE(NULL, strstr(err, "cannot open tmp")) TH_LOG("%s", err);
		EXPECT_STREQ("", out);
		rmdir(dir);
	}

	EXPECT_EQ(2, smi("-t 0", out, sizeof(out), err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "-t 0: milliseconds")) TH_LOG("%s", err);
	EXPECT_EQ(2, smi("--json -q memory.total", out, sizeof(out), err, sizeof(err)));
	EXPECT_EQ(2, smi("-q ''", out, sizeof(out), err, sizeof(err)));
	EXPECT_EQ(2, smi("-q memory.total, -d /nonexistent", out, sizeof(out), err, sizeof(err)));
	EXPECT_EQ(2, smi("extra", out, sizeof(out), err, sizeof(err)));
	EXPECT_EQ(2, smi("--bogus", out, sizeof(out), err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "usage: vgpu-smi")) TH_LOG("%s", err);

	EXPECT_EQ(0, smi("-q help", out, sizeof(out), err, sizeof(err)));
	EXPECT_NE(NULL, strstr(out, "\nmemory.total\nmemory.used\nmemory.free\n")) TH_LOG("%s", out);
	EXPECT_EQ(0, smi("--help", out, sizeof(out), err, sizeof(err)));
	EXPECT_NE(NULL, strstr(out, "vgpu-smi(1)"));
	EXPECT_NE(NULL, strstr(out, "5 no agent attached"));
	EXPECT_EQ(0, smi("--version", out, sizeof(out), err, sizeof(err)));
	snprintf(want, sizeof(want), "vgpu-smi %s\n", VGPU_VERSION);
	EXPECT_STREQ(want, out);
}

TEST_HARNESS_MAIN
