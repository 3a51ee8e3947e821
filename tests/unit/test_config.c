// SPDX-License-Identifier: MIT
/*
 * Config loading: good files give the values (and defaults) they say; every
 * bad file gives one error naming the file, the line and the key.
 */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "conf.h"
#include "testlib.h"

/* A scratch directory with a config path in it. */
struct scratch {
	char dir[64];
	char path[128];
	char err[1024];
	struct conf c;
};

static int scratch_init(struct scratch *s)
{
	snprintf(s->dir, sizeof(s->dir), "/dev/shm/vgpu-conf-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	snprintf(s->path, sizeof(s->path), "%s/mediator.conf", s->dir);
	return 0;
}

static void scratch_fini(struct scratch *s)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", s->dir);
	if (system(cmd))
		printf("# could not remove %s\n", s->dir);
}

FIXTURE(conf) {
	struct scratch s;
};

FIXTURE_SETUP(conf)
{
	ASSERT_EQ(0, scratch_init(&self->s));
}

FIXTURE_TEARDOWN(conf)
{
	scratch_fini(&self->s);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

TEST_F(conf, good_file_gives_values_and_defaults)
{
	write_file(self->s.path,
		   "# Dom0 mediator\n"
		   "[mediator]\n"
		   "spool = /srv/vgpu\n"
		   "fsync = yes\n"
		   "[pool B]\n"
		   "sms = 64\n"
		   "[vm web-1]\n"
		   "id = 4294967295\n"
		   "pool = B\n"
		   "priority = medium\n"
		   "max_payload_bytes = 64M\n"
		   "[vm db]\n"
		   "id = 7\n"
		   "pool = A\n"
		   "priority = high\n"
		   "dir = /elsewhere/db\n"
		   "max_queued = 8\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	ASSERT_EQ(2u, self->s.c.nvms);
	EXPECT_STREQ("/srv/vgpu", self->s.c.spool);
	EXPECT_STREQ("/var/lib/vgpu", self->s.c.state_dir);
	EXPECT_TRUE(self->s.c.fsync);
	EXPECT_EQ(50u, self->s.c.worker_spin_us);	/* default */
	EXPECT_FALSE(self->s.c.main_cpus.set);
	EXPECT_EQ(64u, self->s.c.pools[VGPU_POOL_B].sms);
	EXPECT_EQ(0u, self->s.c.pools[VGPU_POOL_A].sms);
	EXPECT_STREQ("web-1", self->s.c.vms[0].name);
	EXPECT_EQ(4294967295u, self->s.c.vms[0].id);
	EXPECT_EQ(VGPU_POOL_B, (int)self->s.c.vms[0].pool);
	EXPECT_EQ(VGPU_PRIO_MEDIUM, (int)self->s.c.vms[0].prio);
	EXPECT_EQ(64ull << 20, self->s.c.vms[0].max_payload);
	EXPECT_STREQ("/srv/vgpu/web-1", self->s.c.vms[0].dir);
	EXPECT_EQ(64u, self->s.c.vms[0].max_queued);
	EXPECT_STREQ("/elsewhere/db", self->s.c.vms[1].dir);
	EXPECT_EQ(VGPU_PRIO_HIGH, (int)self->s.c.vms[1].prio);
	EXPECT_EQ(8u, self->s.c.vms[1].max_queued);
	conf_free(&self->s.c);
}

TEST_F(conf, drop_in_files_add_vms)
{
	char dropdir[160], drop[200];

	snprintf(dropdir, sizeof(dropdir), "%s/mediator.d", self->s.dir);
	ASSERT_EQ(0, mkdir(dropdir, 0755));
	snprintf(drop, sizeof(drop), "%s/20-vm2.conf", dropdir);
	write_file(drop, "[vm vm2]\nid = 2\npool = B\npriority = low\n");
	snprintf(drop, sizeof(drop), "%s/10-vm1.conf", dropdir);
	write_file(drop, "[vm vm1]\nid = 1\npool = A\npriority = high\n");
	snprintf(drop, sizeof(drop), "%s/ignored.conf.bak", dropdir);
	write_file(drop, "garbage\n");
	snprintf(drop, sizeof(drop), "[mediator]\ninclude = %s\n", dropdir);
	write_file(self->s.path, drop);
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	ASSERT_EQ(2u, self->s.c.nvms);
	EXPECT_STREQ("vm1", self->s.c.vms[0].name);	/* in file-name order */
	EXPECT_STREQ("vm2", self->s.c.vms[1].name);
	conf_free(&self->s.c);

	/* An error in a drop-in names the drop-in. */
	snprintf(drop, sizeof(drop), "%s/30-bad.conf", dropdir);
	write_file(drop, "[vm vm3]\nid = 3\npool = C\n");
	ASSERT_EQ(-1, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)));
	EXPECT_NE(NULL, strstr(self->s.err, "30-bad.conf:3:")) TH_LOG("%s", self->s.err);
}

TEST_F(conf, cpus_take_lists_and_ranges)
{
	const struct conf *c = &self->s.c;

	write_file(self->s.path,
		   "[mediator]\ncpus = 0\n[pool A]\ncpus = 2-3,7\nio_threads = 4\n"
		   "[pool B]\nsms = 8\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	EXPECT_TRUE(c->main_cpus.set);
	EXPECT_EQ(1, CPU_COUNT(&c->main_cpus.cpus));
	EXPECT_TRUE(CPU_ISSET(0, &c->main_cpus.cpus));
	EXPECT_TRUE(c->pool_cpus[VGPU_POOL_A].set);
	EXPECT_EQ(3, CPU_COUNT(&c->pool_cpus[VGPU_POOL_A].cpus));
	for (int cpu = 2; cpu <= 7; cpu++)
		EXPECT_EQ(cpu <= 3 || cpu == 7, !!CPU_ISSET(cpu, &c->pool_cpus[VGPU_POOL_A].cpus));
	EXPECT_STREQ("2-3,7", c->pool_cpus[VGPU_POOL_A].text);
	EXPECT_FALSE(c->pool_cpus[VGPU_POOL_B].set);	/* unset: not bound */
	EXPECT_EQ(4u, c->io_threads[VGPU_POOL_A]);
	EXPECT_EQ(2u, c->io_threads[VGPU_POOL_B]);	/* default */
	conf_free(&self->s.c);
}

TEST_F(conf, pool_policies_and_vm_weights)
{
	const struct conf *c = &self->s.c;

	write_file(self->s.path,
		   "[pool A]\npolicy = aging\naging_ms = 250\n"
		   "[pool B]\npolicy = weighted\n"
		   "[vm a]\nid = 1\npool = B\npriority = low\nweight = 300\n"
		   "[vm b]\nid = 2\npool = B\npriority = low\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	EXPECT_EQ(SCHED_AGING, c->sched[VGPU_POOL_A].policy);
	EXPECT_EQ(250u, c->sched[VGPU_POOL_A].aging_ms);
	EXPECT_EQ(SCHED_WEIGHTED, c->sched[VGPU_POOL_B].policy);
	EXPECT_EQ(500u, c->sched[VGPU_POOL_B].aging_ms);	/* default */
	EXPECT_EQ(300u, c->vms[0].weight);
	EXPECT_EQ(100u, c->vms[1].weight);			/* default */
	conf_free(&self->s.c);

	write_file(self->s.path, "[vm a]\nid = 1\npool = B\npriority = low\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)));
	for (int p = 0; p < VGPU_NR_POOLS; p++)
		EXPECT_EQ(SCHED_STRICT, c->sched[p].policy);	/* default: today's order */
	conf_free(&self->s.c);
}

struct bad_case {
	const char *text;
	const char *want;	/* the error must contain this */
};

FIXTURE(badconf) {
	struct scratch s;
};

FIXTURE_SETUP(badconf)
{
	ASSERT_EQ(0, scratch_init(&self->s));
}

FIXTURE_TEARDOWN(badconf)
{
	scratch_fini(&self->s);
}

FIXTURE_VARIANT(badconf) {
	struct bad_case bad;
};

#define BAD(name_, text_, want_) \
	FIXTURE_VARIANT_ADD(badconf, name_) { .bad = { text_, want_ } }

#define VMHEAD "[mediator]\nspool = /tmp/x\n\n[vm a]\n"

BAD(bad_pool, VMHEAD "id = 1\npool = C\npriority = low\n",
    ":6: key 'pool': expected A or B, got 'C'");
BAD(bad_priority, VMHEAD "id = 1\npool = A\npriority = urgent\n",
    ":7: key 'priority': expected low, medium or high, got 'urgent'");
BAD(zero_id, VMHEAD "id = 0\n", ":5: key 'id': expected a number in 1..4294967295, got '0'");
BAD(id_too_big, VMHEAD "id = 4294967296\n", ":5: key 'id'");
BAD(id_not_a_number, VMHEAD "id = 12abc\n", ":5: key 'id'");
BAD(unknown_key, VMHEAD "id = 1\ncolour = blue\n", ":6: unknown key 'colour' in [vm a]");
BAD(unknown_mediator_key, "[mediator]\nspoll = /x\n", ":2: unknown key 'spoll' in [mediator]");
BAD(missing_priority, VMHEAD "id = 1\npool = A\n", ":4: [vm a] is missing key 'priority'");
BAD(missing_id, "\n[vm b]\npool = A\npriority = low\n", ":2: [vm b] is missing key 'id'");
BAD(empty_vm_section, "[vm lonely]\n", ":1: [vm lonely] is missing key 'id'");
BAD(duplicate_id, "[vm a]\nid = 5\npool = A\npriority = low\n[vm b]\nid = 5\npool = B\npriority = low\n",
    ":5: [vm b] key 'id': 5 is already used by [vm a] at ");
BAD(duplicate_vm, "[vm a]\nid = 1\npool = A\npriority = low\n[vm a]\nid = 2\n",
    ":5: section [vm a]: VM defined again");
BAD(duplicate_dir, "[vm a]\nid = 1\npool = A\npriority = low\ndir = /d\n"
    "[vm b]\nid = 2\npool = A\npriority = low\ndir = /d\n", ":6: [vm b] key 'dir'");
BAD(bad_vm_name, "[vm ../etc]\nid = 1\n", ":1: section [vm ../etc]: a VM name");
BAD(unknown_section, "[gpu]\nx = 1\n", ":1: unknown section [gpu]");
BAD(bad_pool_section, "[pool C]\nsms = 8\n", ":1: section [pool C]: pool must be A or B");
BAD(key_outside_section, "spool = /x\n", ":1: key 'spool' outside any section");
BAD(syntax_error, "[mediator]\nthis line has no equals sign\n", ":2: syntax error");
BAD(bad_backend, "[mediator]\nbackend = gpu\n", ":2: key 'backend': expected auto, cpu or cuda");
BAD(bad_fsync, "[mediator]\nfsync = maybe\n", ":2: key 'fsync': expected yes or no");
BAD(bad_size_suffix, VMHEAD "id = 1\nmax_payload_bytes = 12Q\n", ":6: key 'max_payload_bytes'");
BAD(queue_too_deep, VMHEAD "id = 1\nmax_queued = 100000\n", ":6: key 'max_queued'");
BAD(cpus_backwards, "[pool A]\ncpus = 3-1\n", ":2: key 'cpus': expected a CPU list");
BAD(cpus_empty_item, "[pool B]\ncpus = 1,,2\n", ":2: key 'cpus'");
BAD(cpus_trailing_comma, "[mediator]\ncpus = 1,\n", ":2: key 'cpus'");
BAD(cpus_not_numbers, "[mediator]\ncpus = all\n", ":2: key 'cpus'");
BAD(cpus_beyond_cpu_setsize, "[pool A]\ncpus = 0-4096\n", ":2: key 'cpus'");
BAD(io_threads_zero, "[pool A]\nio_threads = 0\n",
    ":2: key 'io_threads': expected a number in 1..16, got '0'");
BAD(io_threads_too_many, "[pool B]\nio_threads = 17\n", ":2: key 'io_threads'");
BAD(spin_too_long, "[mediator]\nworker_spin_us = 2000000\n", ":2: key 'worker_spin_us'");
BAD(bad_policy, "[pool A]\npolicy = fair\n",
    ":2: key 'policy': expected strict, aging or weighted, got 'fair'");
BAD(aging_zero, "[pool B]\naging_ms = 0\n",
    ":2: key 'aging_ms': expected a number in 1..3600000, got '0'");
BAD(aging_too_long, "[pool A]\npolicy = aging\naging_ms = 3600001\n", ":3: key 'aging_ms'");
BAD(weight_zero, VMHEAD "id = 1\nweight = 0\n",
    ":6: key 'weight': expected a number in 1..10000, got '0'");
BAD(weight_too_big, VMHEAD "id = 1\nweight = 10001\n", ":6: key 'weight'");
BAD(policy_in_vm, VMHEAD "id = 1\npolicy = aging\n", ":6: unknown key 'policy' in [vm a]");
#define LONG250 "/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
		"/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" \
		"/ccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
/* inih's 200-byte lines: a long line is refused with its own number ... */
BAD(long_line, "[mediator]\nspool = /x\nstate_dir = " LONG250 "\n",
    ":3: line longer than 198 bytes");
/* ... and a long comment shifts no line number after it. */
BAD(after_long_comment, "[mediator]\n# " LONG250 "\nspoll = /x\n",
    ":3: unknown key 'spoll' in [mediator]");
BAD(missing_file, NULL, "No such file or directory");
BAD(empty_file, "", ": no [mediator] or [vm NAME] section: an empty config?");
BAD(only_comments, "# nothing here\n; nor here\n", ": no [mediator] or [vm NAME] section");
BAD(relative_spool, "[mediator]\nspool = var/vgpu\n",
    ":2: key 'spool': expected an absolute path, got 'var/vgpu'");
BAD(relative_state_dir, "[mediator]\nstate_dir = state\n", ":2: key 'state_dir': expected an absolute");
BAD(relative_socket, "[mediator]\ncontrol_socket = m.sock\n", ":2: key 'control_socket'");
BAD(relative_vm_dir, VMHEAD "id = 1\npool = A\npriority = low\ndir = db\n",
    ":8: key 'dir': expected an absolute path");
BAD(missing_include, "[mediator]\ninclude = /nonexistent/vgpu.d\n",
    ":2: key 'include': /nonexistent/vgpu.d: No such file or directory");
BAD(too_many_sms, "[pool A]\nsms = 200\n", ":2: key 'sms': expected a number in 0..132");
BAD(sms_of_both_pools, "[pool A]\nsms = 100\n[pool B]\nsms = 40\n",
    ":4: key 'sms': pools A and B reserve 100 + 40 SMs");
BAD(id_given_twice, VMHEAD "id = 1\npool = A\npriority = low\nid = 2\n",
    ":8: key 'id' given again in [vm a] (first at ");
BAD(key_given_twice, "[mediator]\nfsync = yes\n[pool A]\nsms = 8\n[mediator]\nfsync = no\n",
    ":6: key 'fsync' given again in [mediator]");
BAD(size_suffix_named, VMHEAD "id = 1\nmax_payload_bytes = 1P\n",
    "(a suffix K, M, G or T, in either case, multiplies by 1024^1..4), got '1P'");
BAD(no_such_group, "[mediator]\ncontrol_socket_group = no-such-group-vgpu\n",
    ":2: key 'control_socket_group': no group 'no-such-group-vgpu'");
BAD(socket_for_others, "[mediator]\ncontrol_socket_mode = 0666\n", ":2: key 'control_socket_mode'");
BAD(socket_mode_not_octal, "[mediator]\ncontrol_socket_mode = rw\n", ":2: key 'control_socket_mode'");
BAD(socket_mode_owner_cannot_write, "[mediator]\ncontrol_socket_mode = 0460\n",
    ":2: key 'control_socket_mode': expected an octal mode");
BAD(metrics_no_port, "[mediator]\nmetrics_listen = 127.0.0.1\n", ":2: key 'metrics_listen'");
BAD(metrics_bad_port, "[mediator]\nmetrics_listen = 127.0.0.1:70000\n", ":2: key 'metrics_listen'");
BAD(metrics_a_name, "[mediator]\nmetrics_listen = localhost:9445\n", ":2: key 'metrics_listen'");

BAD(session_time_zero, VMHEAD "id = 1\nsession_time_limit_ms = 0\n",
    ":6: key 'session_time_limit_ms': expected a number in 1..3600000, got '0'");
BAD(session_mem_too_big, VMHEAD "id = 1\nsession_mem_bytes = 2T\n",
    ":6: key 'session_mem_bytes': expected a number in 0..1099511627776");
BAD(session_handles_not_a_number, VMHEAD "id = 1\nsession_handles = many\n",
    ":6: key 'session_handles'");
BAD(session_module_bad_suffix, VMHEAD "id = 1\nsession_module_bytes = 1P\n",
    ":6: key 'session_module_bytes'");
BAD(relative_executor, "[mediator]\nexecutor = vgpu-executor\n",
    ":2: key 'executor': expected an absolute path, got 'vgpu-executor'");
BAD(no_such_executor_user, "[mediator]\nexecutor_user = no-such-user-vgpu\n",
    ":2: key 'executor_user': no user 'no-such-user-vgpu'");
BAD(executor_user_root, "[mediator]\nexecutor_user = root\n",
    ":2: key 'executor_user': 'root' is root");
BAD(uid_base_among_accounts, "[mediator]\nexecutor_uid_base = 1000\n",
    ":2: key 'executor_uid_base': expected a number in 65536..2147483646, got '1000'");
BAD(uid_base_plus_id_too_big, VMHEAD "id = 647\npool = A\npriority = low\n"
    "[mediator]\nexecutor_uid_base = 2147483000\n",
    "[vm a] key 'id': executor_uid_base 2147483000 + 647 is past the last uid");
BAD(test_commands_maybe, "[mediator]\nsession_test_commands = on\n",
    ":2: key 'session_test_commands': expected yes or no, got 'on'");
BAD(session_key_in_mediator, "[mediator]\nsession_handles = 4\n",
    ":2: unknown key 'session_handles' in [mediator]");

/* -c /etc/vgpu (a directory) says so instead of reading nothing. */
TEST_F(conf, a_directory_is_not_a_config)
{
	ASSERT_EQ(-1, conf_load(self->s.dir, &self->s.c, self->s.err, sizeof(self->s.err)));
	EXPECT_NE(NULL, strstr(self->s.err, ": a directory, not a config file"))
		TH_LOG("%s", self->s.err);
}

TEST_F(conf, sizes_take_either_case_and_new_keys_their_defaults)
{
	const struct conf *c = &self->s.c;

	write_file(self->s.path, "[mediator]\nstaging_bytes = 4m\nmetrics_listen = [::1]:9445\n"
		   "control_socket_group = root\ntrace_jobs = 0\n" VMHEAD
		   "id = 1\npool = A\npriority = low\nmax_payload_bytes = 3k\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	EXPECT_EQ(4ull << 20, c->staging_bytes);
	EXPECT_EQ(3ull << 10, c->vms[0].max_payload);
	EXPECT_EQ(AF_INET6, c->metrics_family);
	EXPECT_EQ(9445, c->metrics_port);
	EXPECT_EQ(0u, c->ctl_gid);
	EXPECT_EQ(0660u, c->ctl_mode);	/* a group: it may use the socket */
	EXPECT_EQ(0u, c->trace_jobs);
	conf_free(&self->s.c);

	write_file(self->s.path, "[mediator]\nspool = /srv/vgpu\ncontrol_socket_mode = 0640\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	EXPECT_EQ(0, c->metrics_family);	/* off unless asked */
	EXPECT_EQ(4096u, c->trace_jobs);
	EXPECT_EQ(0640u, c->ctl_mode);
	conf_free(&self->s.c);
}

TEST_F(conf, session_keys_and_their_defaults)
{
	const struct conf *c = &self->s.c;

	write_file(self->s.path, "[mediator]\nexecutor = /opt/vgpu/vgpu-executor\n"
		   "session_test_commands = yes\n" VMHEAD
		   "id = 1\npool = A\npriority = low\nsession_mem_bytes = 2G\n"
		   "session_module_bytes = 0\nsession_handles = 7\nsession_time_limit_ms = 250\n"
		   "[vm b]\nid = 2\npool = B\npriority = low\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	EXPECT_STREQ("/opt/vgpu/vgpu-executor", c->executor);
	EXPECT_TRUE(c->session_test_cmds);
	EXPECT_STREQ("nobody", c->executor_user);		/* default */
	EXPECT_EQ(0u, c->executor_uid_base);			/* default: the user's uid */
	EXPECT_EQ(2ull << 30, c->vms[0].sess_mem);
	EXPECT_EQ(0u, c->vms[0].sess_module);
	EXPECT_EQ(7u, c->vms[0].sess_handles);
	EXPECT_EQ(250u, c->vms[0].sess_time_ms);
	EXPECT_EQ(1ull << 30, c->vms[1].sess_mem);		/* defaults */
	EXPECT_EQ(64ull << 20, c->vms[1].sess_module);
	EXPECT_EQ(1024u, c->vms[1].sess_handles);
	EXPECT_EQ(5000u, c->vms[1].sess_time_ms);
	conf_free(&self->s.c);

	write_file(self->s.path, "[mediator]\nspool = /srv/vgpu\nexecutor_uid_base = 2147483000\n"
		   "[vm a]\nid = 646\npool = A\npriority = low\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	EXPECT_EQ(2147483000u, c->executor_uid_base);	/* + 646: the last uid */
	EXPECT_FALSE(c->session_test_cmds);	/* off unless asked */
	EXPECT_STREQ("", c->executor);		/* next to the mediator */
	conf_free(&self->s.c);
}

/* isolation: [mediator]'s is every VM's default, wherever it stands; a VM's own wins. */
TEST_F(conf, isolation_defaults_and_inheritance)
{
	const struct conf *c = &self->s.c;
	const struct vm_conf *first = NULL;

	write_file(self->s.path, "[vm a]\nid = 1\npool = A\npriority = low\n"
		   "[vm b]\nid = 2\npool = B\npriority = low\nisolation = process\n"
		   "[pool B]\nsm_percent = 25\n"
		   "[mediator]\nisolation = mps\ncontrol_socket = /run/x/ctl.sock\n"
		   "mps_fault_limit = 16\nmps_fault_window_s = 30\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	EXPECT_EQ(ISO_MPS, c->vms[0].isolation);	/* [mediator]'s, given after it */
	EXPECT_EQ(ISO_PROCESS, c->vms[1].isolation);
	EXPECT_NE(NULL, strstr(c->vms[0].iso_where, "mediator.conf:13"))
		TH_LOG("%s", c->vms[0].iso_where);
	EXPECT_TRUE(conf_wants_mps(c, &first));
	EXPECT_EQ(&c->vms[0], first);
	EXPECT_EQ(100u, c->sm_percent[0]);		/* default */
	EXPECT_EQ(25u, c->sm_percent[1]);
	EXPECT_STREQ("/run/x/mps", c->mps_dir);	/* beside the control socket */
	EXPECT_STREQ("/usr/bin/nvidia-cuda-mps-control", c->mps_control);
	EXPECT_EQ(16u, c->mps_fault_limit);
	EXPECT_EQ(30u, c->mps_fault_window_s);
	conf_free(&self->s.c);

	write_file(self->s.path, "[vm a]\nid = 1\npool = A\npriority = low\n");
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)));
	EXPECT_EQ(ISO_PROCESS, c->vms[0].isolation);	/* opt-in only */
	EXPECT_FALSE(conf_wants_mps(c, NULL));
	EXPECT_EQ(3u, c->mps_fault_limit);
	EXPECT_EQ(600u, c->mps_fault_window_s);
	conf_free(&self->s.c);
}

/* What only this host can tell: the CPUs a "cpus" key names must be ours. */
TEST_F(conf, cpus_this_host_lacks_are_named_at_their_line)
{
	cpu_set_t allowed;
	char text[128];
	int first, last;

	ASSERT_EQ(0, test_cpu_range(&first, &last));
	ASSERT_EQ(0, sched_getaffinity(0, sizeof(allowed), &allowed));
	snprintf(text, sizeof(text), "[mediator]\ncpus = %d\n[pool B]\ncpus = %d-%d\n", last,
		 last, last + 1 < CPU_SETSIZE ? last + 1 : last);
	write_file(self->s.path, text);
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)));
	if (last + 1 >= CPU_SETSIZE || CPU_ISSET(last + 1, &allowed)) {
		conf_free(&self->s.c);
		SKIP(return, "every CPU is ours");
	}
	ASSERT_EQ(-1, conf_check_host(&self->s.c, NULL, self->s.err, sizeof(self->s.err)));
	snprintf(text, sizeof(text), "mediator.conf:4: key 'cpus': CPU %d is not online or not "
		 "allowed here", last + 1);
	EXPECT_NE(NULL, strstr(self->s.err, text)) TH_LOG("%s", self->s.err);
	conf_free(&self->s.c);

	snprintf(text, sizeof(text), "[mediator]\ncpus = %d\n", last);
	write_file(self->s.path, text);
	ASSERT_EQ(0, conf_load(self->s.path, &self->s.c, self->s.err, sizeof(self->s.err)));
	EXPECT_EQ(0, conf_check_host(&self->s.c, NULL, self->s.err, sizeof(self->s.err)))
		TH_LOG("%s", self->s.err);
	conf_free(&self->s.c);
}

TEST_F(badconf, names_file_line_and_key)
{
	const struct bad_case *b = &variant->bad;
	struct scratch *s = &self->s;

	if (!b->text)	/* the "no such file" variant */
		snprintf(s->path, sizeof(s->path), "%s/absent.conf", s->dir);
	else
		write_file(s->path, b->text);
	ASSERT_EQ(-1, conf_load(s->path, &s->c, s->err, sizeof(s->err)));
	EXPECT_EQ(0, strncmp(s->err, s->path, strlen(s->path))) TH_LOG("%s", s->err);
	EXPECT_NE(NULL, strstr(s->err, b->want)) TH_LOG("got: %s", s->err);
}

TEST_HARNESS_MAIN
