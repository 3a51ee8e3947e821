// SPDX-License-Identifier: MIT
/*
 * The mediator as an admin meets it (Documentation/admin-guide.rst): one
 * mediator per config, start errors on stderr and in the exit status also
 * when it daemonizes, journal priorities, a reload that fails and says so,
 * the control socket's group, and what it shows: `vgpuctl status --json`,
 * /metrics (checked by promtool) and `vgpuctl trace` drawn as an SVG
 * (rendered by rsvg-convert). Jobs come from vgpu-submit, as an admin
 * would send them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "testlib.h"

#define VM_A	"[vm a]\nid = 1\npool = A\npriority = high\n"
#define VM_B	"[vm b]\nid = 2\npool = B\npriority = low\n"

/* Runs the shell command @cmd; its output (stdout and stderr) into @out. Its exit status, or -1. */
static int run(const char *cmd, char *out, size_t len)
{
	char full[16384];
	FILE *p;
	size_t n;
	int rc;

	snprintf(full, sizeof(full), "%s 2>&1", cmd);
	p = popen(full, "r");
	if (!p)
		return -1;
	n = fread(out, 1, len - 1, p);
	out[n] = '\0';
	while (fread(full, 1, sizeof(full), p) > 0)
		;
	rc = pclose(p);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/*
 * vgpu-mediator @flags -c CONF; as run(). One expected to fail but that
 * starts instead is killed after 20 s (status 124).
 */
static int mediator(const struct test_mediator *t, const char *flags, char *out, size_t len)
{
	char cmd[4096];

	snprintf(cmd, sizeof(cmd), "timeout -k 5 20 %s %s -c %s", test_bin("vgpu-mediator"), flags,
		 t->conf);
	return run(cmd, out, len);
}

/* @n requests "OP ARGS" from VM @vm through vgpu-submit; its exit status. */
static int submit(const struct test_mediator *t, const char *vm, unsigned int n, const char *op)
{
	char cmd[4096], dir[600], out[4096];

	snprintf(cmd, sizeof(cmd), "%s -d %s -n %u -q 4 -t 20 %s", test_bin("vgpu-submit"),
		 tm_vmdir(t, vm, dir, sizeof(dir)), n, op);
	return run(cmd, out, sizeof(out));
}

/* vgpuctl -s SOCK @args; as run(). */
static int vgpuctl(const struct test_mediator *t, const char *args, char *out, size_t len)
{
	char cmd[8192];

	snprintf(cmd, sizeof(cmd), "%s -s %s %s", test_bin("vgpuctl"), t->sock, args);
	return run(cmd, out, len);
}

static bool have(const char *prog)
{
	char cmd[256], out[256];

	snprintf(cmd, sizeof(cmd), "command -v %s", prog);
	return run(cmd, out, sizeof(out)) == 0;
}

/* Replaces @t's config with @text; 0 or -1. */
static int write_conf(const struct test_mediator *t, const char *text)
{
	FILE *f = fopen(t->conf, "w");

	if (!f)
		return -1;
	fputs(text, f);
	return fclose(f);
}

/* The pid in state_dir/mediator.pid, or 0. */
static pid_t pid_file(const struct test_mediator *t)
{
	char path[400];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "%s/state/mediator.pid", t->root);
	f = fopen(path, "r");
	if (f) {
		if (fscanf(f, "%d", &pid) != 1)
			pid = 0;
		fclose(f);
	}
	return pid;
}

/*
 * A second mediator on the config of a running one, or on its spool or its
 * control socket alone, says "already running" and exits 1, in the
 * foreground and as a daemon; the first keeps its socket and its jobs.
 */
TEST(a_second_mediator_exits_and_touches_nothing_of_the_first)
{
	struct test_mediator t, other;
	char out[4096], keys[1024], want[64];

	test_seed();
	ASSERT_EQ(0, tm_init(&t, NULL, VM_A VM_B));
	ASSERT_EQ(0, tm_start(&t)) TH_LOG("see %s", t.log);
	EXPECT_EQ(t.pid, pid_file(&t));
	snprintf(want, sizeof(want), "already running (pid %d)", (int)t.pid);
	EXPECT_EQ(1, mediator(&t, "-d", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("%s", out);
	EXPECT_EQ(1, mediator(&t, "", out, sizeof(out)));	/* as a daemon */
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("%s", out);

	/* Another state_dir, the same spool; then only the same socket. */
	ASSERT_EQ(0, tm_init(&other, NULL, VM_A));
	snprintf(keys, sizeof(keys), "[mediator]\nspool = %s/spool\nstate_dir = %s/state\n"
		 "control_socket = %s\nbackend = cpu\n" VM_A, t.root, other.root, other.sock);
	ASSERT_EQ(0, write_conf(&other, keys));
	EXPECT_EQ(1, mediator(&other, "-d", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "already running: spool")) TH_LOG("%s", out);
	snprintf(keys, sizeof(keys), "[mediator]\nspool = %s/spool\nstate_dir = %s/state\n"
		 "control_socket = %s\nbackend = cpu\n" VM_A, other.root, other.root, t.sock);
	ASSERT_EQ(0, write_conf(&other, keys));
	EXPECT_EQ(1, mediator(&other, "-d", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "already running: another vgpu-mediator answers on"))
		TH_LOG("%s", out);
	tm_cleanup(&other);

	EXPECT_EQ(0, access(t.sock, F_OK));
	EXPECT_EQ(0, submit(&t, "a", 3, "noop"));
	EXPECT_EQ(0, vgpuctl(&t, "status", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "vm a: vm_id=1 pool=A priority=high jobs=0 accepted=3"))
		TH_LOG("%s", out);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	EXPECT_EQ(0, pid_file(&t));	/* emptied on the way out */
	tm_cleanup(&t);
}

/*
 * Without -d the mediator daemonizes, yet what fails during the start (a
 * metrics address that is not this host's, backend = cuda without a GPU)
 * reaches stderr and the exit status; a good start exits 0 with the daemon
 * running.
 */
TEST(a_daemon_reports_start_errors_on_stderr_and_in_its_status)
{
	struct test_mediator t;
	char out[4096], keys[1024];
	pid_t pid;
	int rc;

	ASSERT_EQ(0, tm_init(&t, "metrics_listen = 192.0.2.1:9\n", VM_A));
	EXPECT_EQ(1, mediator(&t, "", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "metrics_listen = 192.0.2.1:9: cannot listen there"))
		TH_LOG("%s", out);
	EXPECT_EQ(-1, access(t.sock, F_OK));
	tm_cleanup(&t);

	/* The case: backend = cuda where no GPU (or no CUDA build) is. */
	ASSERT_EQ(0, tm_init(&t, NULL, VM_A));
	snprintf(keys, sizeof(keys), "[mediator]\nspool = %s/spool\nstate_dir = %s/state\n"
		 "control_socket = %s\nbackend = cuda\n" VM_A, t.root, t.root, t.sock);
	ASSERT_EQ(0, write_conf(&t, keys));
	rc = mediator(&t, "", out, sizeof(out));
	if (rc == 0) {		/* a GPU is there: then it must be running */
		EXPECT_EQ(0, vgpuctl(&t, "status", out, sizeof(out))) TH_LOG("exit 0, yet: %s", out);
		pid = pid_file(&t);
		TH_LOG("backend cuda started here (a GPU?); pid %d stopped", (int)pid);
		if (pid > 0)
			kill(pid, SIGTERM);
		for (int i = 0; i < 200 && pid > 0 && kill(pid, 0) == 0; i++)
			test_sleep_ms(25);
	} else {
		EXPECT_EQ(1, rc);
		EXPECT_NE(NULL, strstr(out, "backend cuda: ")) TH_LOG("%s", out);
	}
	tm_cleanup(&t);

	ASSERT_EQ(0, tm_init(&t, NULL, VM_A));
	EXPECT_EQ(0, mediator(&t, "", out, sizeof(out))) TH_LOG("%s", out);
	EXPECT_EQ(0, vgpuctl(&t, "status", out, sizeof(out))) TH_LOG("%s", out);
	pid = pid_file(&t);
	ASSERT_LT(0, pid);
	EXPECT_EQ(0, kill(pid, SIGTERM));
	for (int i = 0; i < 200 && kill(pid, 0) == 0; i++)
		test_sleep_ms(25);
	EXPECT_NE(0, kill(pid, 0)) TH_LOG("the daemon did not stop");
	tm_cleanup(&t);
}

/*
 * Under systemd (stderr is the journal: JOURNAL_STREAM names it) every
 * line carries its priority, "<3>" for errors, so that journalctl -p err
 * finds them.
 */
TEST(journal_lines_carry_their_priority)
{
	struct test_mediator t;
	char buf[8192];
	struct stat st;
	pid_t pid;
	int fd, status;
	ssize_t n;

	ASSERT_EQ(0, tm_init(&t, "metrics_listen = 192.0.2.1:9\n", VM_A));
	fd = open(t.log, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &st));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		char js[64];

		snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
			 (unsigned long long)st.st_ino);
		setenv("JOURNAL_STREAM", js, 1);
		dup2(fd, 2);
		execl(test_bin("vgpu-mediator"), "vgpu-mediator", "-d", "-c", t.conf, NULL);
		_exit(127);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(1, WEXITSTATUS(status));
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	ASSERT_LT(0, n);
	buf[n] = '\0';
	close(fd);
	EXPECT_NE(NULL, strstr(buf, "\n<3>metrics_listen = 192.0.2.1:9: cannot listen there"))
		TH_LOG("%s", buf);
	EXPECT_EQ(0, strncmp(buf, "<6>", 3)) TH_LOG("%s", buf);	/* info, no timestamp */
	EXPECT_EQ(NULL, strstr(buf, "[err]")) TH_LOG("%s", buf);
	tm_cleanup(&t);
}

/* A SIGHUP with a config that fails the preflight keeps the old one and says so. */
TEST(a_failed_reload_keeps_the_config_and_says_why)
{
	struct test_mediator t;
	char out[8192];
	FILE *f;

	ASSERT_EQ(0, tm_init(&t, NULL, VM_A));
	ASSERT_EQ(0, tm_start(&t));
	f = fopen(t.conf, "a");
	ASSERT_NE(NULL, f);
	fprintf(f, "[vm b]\nid = 2\npool = B\npriority = low\n[pool B]\ncpus = 1023\n");
	fclose(f);
	ASSERT_EQ(0, kill(t.pid, SIGHUP));
	for (int i = 0; i < 100; i++) {
		if (!vgpuctl(&t, "status", out, sizeof(out)) && strstr(out, "config:"))
			break;
		test_sleep_ms(20);
	}
	EXPECT_NE(NULL, strstr(out, "config: the last reload failed, running the previous one: "))
		TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "mediator.conf:17: key 'cpus': CPU 1023")) TH_LOG("%s", out);
	EXPECT_EQ(NULL, strstr(out, "vm b:")) TH_LOG("%s", out);
	EXPECT_EQ(0, vgpuctl(&t, "status --json", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, "\"reload_failed\":true")) TH_LOG("%s", out);
	EXPECT_EQ(0, submit(&t, "a", 1, "noop"));	/* still serving */
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

/*
 * A reload checks "cpus" against the CPUs the mediator started with, not
 * those its main thread was bound to since: pools on other CPUs than the
 * main thread's reload fine.
 */
TEST(a_reload_checks_cpus_against_the_start_not_the_main_thread)
{
	struct test_mediator t;
	char keys[256], out[8192];
	int first, last;
	FILE *f;

	ASSERT_EQ(0, test_cpu_range(&first, &last));
	if (first == last)
		SKIP(return, "one CPU only");
	snprintf(keys, sizeof(keys), "cpus = %d\n[pool A]\ncpus = %d\n", first, last);
	ASSERT_EQ(0, tm_init(&t, keys, VM_A));
	ASSERT_EQ(0, tm_start(&t)) TH_LOG("see %s", t.log);
	f = fopen(t.conf, "a");
	ASSERT_NE(NULL, f);
	fprintf(f, VM_B);
	fclose(f);
	ASSERT_EQ(0, kill(t.pid, SIGHUP));
	for (int i = 0; i < 100; i++) {
		if (!vgpuctl(&t, "status", out, sizeof(out)) &&
		    (strstr(out, "vm b:") || strstr(out, "config:")))
			break;
		test_sleep_ms(20);
	}
	EXPECT_EQ(NULL, strstr(out, "config: the last reload failed")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "vm b: vm_id=2")) TH_LOG("%s", out);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

/*
 * control_socket_group and _mode give the socket to a group; vgpuctl
 * run by someone outside it says whose socket it is, not "is the
 * mediator running?".
 */
TEST(the_control_socket_belongs_to_its_group)
{
	struct test_mediator t;
	struct group *g = getgrnam("daemon");
	struct passwd *nobody = getpwnam("nobody");
	char keys[128], out[4096];
	struct stat st;
	pid_t pid;
	int pfd[2], status;
	ssize_t n;

	if (geteuid() != 0 || !g || !nobody)
		SKIP(return, "needs root, group daemon and user nobody");
	snprintf(keys, sizeof(keys), "control_socket_group = daemon\n");
	ASSERT_EQ(0, tm_init(&t, keys, VM_A));
	EXPECT_EQ(0, mediator(&t, "-n", out, sizeof(out)));
	EXPECT_NE(NULL, strstr(out, ", mode 0660, group daemon;")) TH_LOG("%s", out);
	ASSERT_EQ(0, chmod(t.root, 0755));
	ASSERT_EQ(0, tm_start(&t));
	ASSERT_EQ(0, stat(t.sock, &st));
	EXPECT_EQ(g->gr_gid, st.st_gid);
	EXPECT_EQ(0660, st.st_mode & 0777);	/* the default mode with a group */

	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		dup2(pfd[1], 1);
		dup2(pfd[1], 2);
		if (setgroups(0, NULL) || setgid(nobody->pw_gid) || setuid(nobody->pw_uid))
			_exit(126);
		execl(test_bin("vgpuctl"), "vgpuctl", "-s", t.sock, "status", NULL);
		_exit(127);
	}
	close(pfd[1]);
	n = read(pfd[0], out, sizeof(out) - 1);
	out[n > 0 ? n : 0] = '\0';
	close(pfd[0]);
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(1, WEXITSTATUS(status)) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "permission denied")) TH_LOG("%s", out);
	EXPECT_NE(NULL, strstr(out, "group daemon")) TH_LOG("%s", out);
	EXPECT_EQ(NULL, strstr(out, "Is vgpu-mediator running")) TH_LOG("%s", out);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

/* `vgpuctl status --json` is JSON, with the fields of Documentation/status-json.rst. */
TEST(status_json_has_the_documented_fields)
{
	static const char *const fields[] = {
		"{\"version\":1,\"backend\":\"cpu\",\"config\":{\"path\":",
		"\"pools\":[{\"name\":\"A\",\"running\":null,\"queued\":{\"high\":0,\"medium\":0,"
		"\"low\":0},\"done\":",
		"\"vms\":[{\"name\":\"a\",\"vm_id\":1,\"pool\":\"A\",\"priority\":\"high\",\"jobs\":0,",
		"\"completed\":", "\"failed\":0,\"rejected\":0,\"expired\":0,\"bytes_in\":",
		"\"wait\":{\"count\":", "\"run\":{\"count\":", "\"buckets\":[{\"le_ns\":50000,",
	};
	struct test_mediator t;
	unsigned int n = (unsigned int)test_rand_range(1, 20);
	char out[16384], path[400], cmd[600], want[64];
	FILE *f;

	ASSERT_EQ(0, tm_init(&t, NULL, VM_A VM_B));
	ASSERT_EQ(0, tm_start(&t));
	ASSERT_EQ(0, submit(&t, "a", n, "noop"));
	ASSERT_EQ(0, vgpuctl(&t, "status --json", out, sizeof(out)));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		EXPECT_NE(NULL, strstr(out, fields[i])) TH_LOG("%s not in %s", fields[i], out);
	}
	snprintf(want, sizeof(want), "\"accepted\":%u,\"completed\":%u,", n, n);
	EXPECT_NE(NULL, strstr(out, want)) TH_LOG("%s", out);
	if (have("python3")) {
		snprintf(path, sizeof(path), "%s/status.json", t.root);
		f = fopen(path, "w");
		ASSERT_NE(NULL, f);
		fputs(out, f);
		fclose(f);
		snprintf(cmd, sizeof(cmd), "python3 -m json.tool %s", path);
		EXPECT_EQ(0, run(cmd, out, sizeof(out))) TH_LOG("not JSON: %s", out);
	}
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

/* A free TCP port on 127.0.0.1, or 0. */
static unsigned int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	unsigned int port = 0;

	if (fd >= 0 && !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) &&
	    !getsockname(fd, (struct sockaddr *)&sa, &len))
		port = ntohs(sa.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* GET @path from 127.0.0.1:@port; the whole answer (headers too) into @buf. */
static int http_get(unsigned int port, const char *path, char *buf, size_t len)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	char req[256];
	size_t got = 0;
	ssize_t n;

	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		close(fd);
		return -1;
	}
	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fd);
	return 0;
}

/*
 * /metrics on metrics_listen: per-VM counters, histograms and queue depths
 * that promtool accepts, and the counts of the jobs just run.
 */
TEST(metrics_pass_promtool_and_count_the_jobs)
{
	struct test_mediator t;
	unsigned int port = free_port(), na = (unsigned int)test_rand_range(1, 15),
		     nb = (unsigned int)test_rand_range(1, 5);
	static char resp[1 << 18];
	char keys[128], want[128], path[400], cmd[600], out[4096], *body;
	FILE *f;

	ASSERT_NE(0u, port);
	snprintf(keys, sizeof(keys), "metrics_listen = 127.0.0.1:%u\n", port);
	ASSERT_EQ(0, tm_init(&t, keys, VM_A VM_B));
	ASSERT_EQ(0, tm_start(&t)) TH_LOG("see %s", t.log);
	ASSERT_EQ(0, submit(&t, "a", na, "noop"));
	ASSERT_EQ(0, submit(&t, "b", nb, "spin 2000000"));
	ASSERT_EQ(0, http_get(port, "/metrics", resp, sizeof(resp)));
	EXPECT_EQ(0, strncmp(resp + 8, " 200 ", 5)) TH_LOG("%.200s", resp);
	body = strstr(resp, "\r\n\r\n");
	ASSERT_NE(NULL, body);
	body += 4;
	snprintf(want, sizeof(want), "\nvgpu_vm_jobs_completed_total{vm=\"a\"} %u\n", na);
	EXPECT_NE(NULL, strstr(body, want)) TH_LOG("%s", body);
	snprintf(want, sizeof(want), "\nvgpu_vm_job_run_seconds_count{vm=\"b\"} %u\n", nb);
	EXPECT_NE(NULL, strstr(body, want)) TH_LOG("%s", body);
	snprintf(want, sizeof(want), "\nvgpu_vm_job_run_seconds_bucket{vm=\"b\",le=\"+Inf\"} %u\n",
		 nb);
	EXPECT_NE(NULL, strstr(body, want)) TH_LOG("%s", body);
	/* 2 ms spins: none in the buckets up to 1 ms */
	EXPECT_NE(NULL, strstr(body, "\nvgpu_vm_job_run_seconds_bucket{vm=\"b\",le=\"0.001\"} 0\n"))
		TH_LOG("%s", body);
	EXPECT_NE(NULL, strstr(body, "\nvgpu_pool_queued_jobs{pool=\"A\",priority=\"high\"} 0\n"));
	EXPECT_NE(NULL, strstr(body, "\nvgpu_config_last_reload_successful 1\n"));
	EXPECT_EQ(NULL, strstr(body, "vgpu_gpu_")) TH_LOG("GPU metrics without NVML?");
	snprintf(path, sizeof(path), "%s/metrics.txt", t.root);
	f = fopen(path, "w");
	ASSERT_NE(NULL, f);
	fputs(body, f);
	fclose(f);
	ASSERT_EQ(0, http_get(port, "/", resp, sizeof(resp)));
	EXPECT_EQ(0, strncmp(resp + 8, " 404 ", 5)) TH_LOG("%.200s", resp);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));

	if (!have("promtool")) {
		tm_cleanup(&t);
		SKIP(return, "promtool missing: tools/install-deps check");
	}
	snprintf(cmd, sizeof(cmd), "promtool check metrics < %s", path);
	EXPECT_EQ(0, run(cmd, out, sizeof(out))) TH_LOG("promtool: %s", out);
	tm_cleanup(&t);
}

/*
 * `vgpuctl trace` writes the jobs as Chrome trace JSON, one track per pool
 * and per VM; tools/vgpu-trace-svg draws it, and rsvg-convert renders it.
 */
TEST(the_trace_has_every_job_and_draws_as_svg)
{
	struct test_mediator t;
	unsigned int na = (unsigned int)test_rand_range(1, 10),
		     nb = (unsigned int)test_rand_range(1, 10);
	char trace[400], svg[400], png[400], cmd[6000], out[4096];
	struct stat st;

	ASSERT_EQ(0, tm_init(&t, NULL, VM_A VM_B));
	ASSERT_EQ(0, tm_start(&t));
	ASSERT_EQ(0, submit(&t, "a", na, "spin 100000"));
	ASSERT_EQ(0, submit(&t, "b", nb, "vector_add 1000"));
	snprintf(trace, sizeof(trace), "%s/trace.json", t.root);
	snprintf(svg, sizeof(svg), "%s/trace.svg", t.root);
	snprintf(png, sizeof(png), "%s/trace.png", t.root);
	snprintf(cmd, sizeof(cmd), "trace -o %s", trace);
	ASSERT_EQ(0, vgpuctl(&t, cmd, out, sizeof(out))) TH_LOG("%s", out);
	if (!have("python3") || !have("rsvg-convert")) {
		EXPECT_EQ(0, tm_stop(&t, SIGTERM));
		tm_cleanup(&t);
		SKIP(return, "python3 or rsvg-convert missing: tools/install-deps check");
	}
	/* Per job an event on its pool's track, and a wait and a run on its VM's. */
	snprintf(cmd, sizeof(cmd), "python3 -c 'import json, sys; e = json.load(open(sys.argv[1]))"
		 "[\"traceEvents\"]; x = [v for v in e if v[\"ph\"] == \"X\"]; "
		 "print(len([v for v in x if v[\"pid\"] == 1 and v[\"tid\"] == 1]), "
		 "len([v for v in x if v[\"pid\"] == 1 and v[\"tid\"] == 2]), "
		 "len([v for v in x if v[\"pid\"] == 2]), "
		 "sorted(v[\"args\"][\"name\"] for v in e if v[\"name\"] == \"thread_name\"))' %s",
		 trace);
	ASSERT_EQ(0, run(cmd, out, sizeof(out))) TH_LOG("%s", out);
	snprintf(cmd, sizeof(cmd), "%u %u %u ['pool A', 'pool B', 'vm a', 'vm b']\n", na, nb,
		 2 * (na + nb));
	EXPECT_STREQ(cmd, out);
	snprintf(cmd, sizeof(cmd), "%s %s -o %s && rsvg-convert %s -o %s",
		 test_bin("tools/vgpu-trace-svg"), trace, svg, svg, png);
	EXPECT_EQ(0, run(cmd, out, sizeof(out))) TH_LOG("%s: %s", cmd, out);
	EXPECT_EQ(0, stat(png, &st));
	EXPECT_LT(1000, st.st_size);
	EXPECT_EQ(0, tm_stop(&t, SIGTERM));
	tm_cleanup(&t);
}

TEST_HARNESS_MAIN
