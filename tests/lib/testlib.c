// SPDX-License-Identifier: MIT
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "testlib.h"

/*
 * Each thread has its own generator: the seed's for the thread that called
 * test_seed(), and for the others the seed mixed with the order in which
 * they first drew (tests whose traffic threads draw while the main thread
 * does must not share one state).
 */
static __thread uint64_t rng;
static uint64_t seed_base;
static atomic_uint threads_seeded;

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

uint64_t test_seed(void)
{
	const char *env = getenv("VGPU_TEST_SEED");
	struct timespec ts;
	uint64_t seed;

	clock_gettime(CLOCK_REALTIME, &ts);
	seed = env ? strtoull(env, NULL, 0) :
	       (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)getpid();
	rng = seed ? seed : 1;
	seed_base = rng;
	printf("# random seed %" PRIu64 " (replay with VGPU_TEST_SEED=%" PRIu64 ")\n", seed, seed);
	fflush(stdout);	/* the harness's test child ends with _exit() */
	return seed;
}

uint64_t test_rand(void)
{
	if (!rng && !seed_base)
		test_seed();
	if (!rng)
		rng = splitmix64(seed_base + atomic_fetch_add(&threads_seeded, 1) + 1) | 1;
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545f4914f6cdd1dull;
}

uint64_t test_rand_range(uint64_t lo, uint64_t hi)
{
	return lo + test_rand() % (hi - lo + 1);
}

void test_rand_bytes(void *buf, size_t len)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)test_rand();
}

void test_rand_floats(float *f, size_t n)
{
	for (size_t i = 0; i < n; i++)
		f[i] = (float)((double)(test_rand() >> 11) / (double)(1ull << 53) * 2.0 - 1.0);
}

void test_rand_op_input(const struct vgpu_job_desc *d, void *in)
{
	const struct vgpu_op_info *o = vgpu_op_get(d->op);
	uint8_t *p = in;

	for (unsigned int a = 0; o && a < o->nin; a++) {
		uint64_t len = vgpu_op_array_bytes(&o->in[a], d->args);

		if (o->in[a].elem == VGPU_ELEM_F32) {
			test_rand_floats((float *)p, len / 4);
		} else if (o->in[a].elem == VGPU_ELEM_BF16) {
			for (uint64_t i = 0; i < len / 2; i++) {
				float f;
				uint16_t b;

				test_rand_floats(&f, 1);
				b = htole16(vgpu_f32_to_bf16(f));
				memcpy(p + 2 * i, &b, 2);
			}
		} else {
			test_rand_bytes(p, len);
		}
		p += len;
	}
}

const char *test_bin(const char *name)
{
	static char path[PATH_MAX + 64];
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n < 0)
		return name;
	self[n] = '\0';
	/* $(O)/tests/<kind>/test_x or $(O)/bench/x -> $(O)/<name> */
	while ((slash = strrchr(self, '/'))) {
		*slash = '\0';
		snprintf(path, sizeof(path), "%s/%s", self, name);
		if (access(path, X_OK) == 0)
			return path;
	}
	return name;
}

int tm_init(struct test_mediator *t, const char *extra_mediator_keys, const char *vm_sections)
{
	FILE *f;

	memset(t, 0, sizeof(*t));
	snprintf(t->root, sizeof(t->root), "/dev/shm/vgpu-test-XXXXXX");
	if (!mkdtemp(t->root))
		return -1;
	snprintf(t->conf, sizeof(t->conf), "%s/mediator.conf", t->root);
	snprintf(t->sock, sizeof(t->sock), "%s/ctl.sock", t->root);
	snprintf(t->log, sizeof(t->log), "%s/mediator.log", t->root);
	f = fopen(t->conf, "w");
	if (!f)
		return -1;
	/* debug, unless the caller sets its own (a key may be given only once) */
	fprintf(f, "[mediator]\nspool = %s/spool\nstate_dir = %s/state\ncontrol_socket = %s\n"
		"backend = cpu\n%s%s\n%s", t->root, t->root, t->sock,
		extra_mediator_keys && strstr(extra_mediator_keys, "log_level") ? "" :
		"log_level = debug\n", extra_mediator_keys ? extra_mediator_keys : "", vm_sections);
	return fclose(f);
}

int tm_status(const struct test_mediator *t, char *buf, size_t len)
{
	char cmd[1024];
	FILE *p;
	size_t n;

	snprintf(cmd, sizeof(cmd), "%s -s %s status 2>&1", test_bin("vgpuctl"), t->sock);
	p = popen(cmd, "r");
	if (!p)
		return -1;
	n = fread(buf, 1, len - 1, p);
	buf[n] = '\0';
	/*
	 * Drain what does not fit: closing the pipe early would kill vgpuctl
	 * with SIGPIPE, a failed status only when it lost the race.
	 */
	while (fgetc(p) != EOF)
		;
	return pclose(p) == 0 ? 0 : -1;
}

int tm_start(struct test_mediator *t)
{
	char buf[4096];

	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (t->pid == 0) {
		int fd = open(t->log, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd >= 0) {
			dup2(fd, 2);
			dup2(fd, 1);
		}
		if (t->nofile)
			setrlimit(RLIMIT_NOFILE, &(struct rlimit){ t->nofile, t->nofile });
		execl(test_bin("vgpu-mediator"), "vgpu-mediator", "-d", "-c", t->conf, NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {	/* 10 s, for slow sanitizer builds */
		struct timespec ts = { 0, 20 * 1000000 };
		int status;

		if (waitpid(t->pid, &status, WNOHANG) == t->pid) {
			t->pid = 0;
			return -1;
		}
		if (access(t->sock, F_OK) == 0 && tm_status(t, buf, sizeof(buf)) == 0)
			return 0;
		nanosleep(&ts, NULL);
	}
	return -1;
}

int tm_stop(struct test_mediator *t, int sig)
{
	int status;

	if (t->pid <= 0)
		return -1;
	kill(t->pid, sig);
	if (waitpid(t->pid, &status, 0) != t->pid)
		return -1;
	t->pid = 0;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

void tm_cleanup(struct test_mediator *t)
{
	char cmd[512];

	if (t->pid > 0)
		tm_stop(t, SIGKILL);
	if (getenv("VGPU_TEST_KEEP")) {
		printf("# kept %s\n", t->root);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	if (t->root[0] && system(cmd) != 0)
		printf("# could not remove %s\n", t->root);
}

const char *tm_vmdir(const struct test_mediator *t, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/spool/%s", t->root, name);
	return buf;
}

const char *tm_privdir(const struct test_mediator *t, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/spool/.mediator/%s", t->root, name);
	return buf;
}

long tm_cpu_ticks(const struct test_mediator *t)
{
	char path[64], buf[1024], *p;
	unsigned long ut, st;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)t->pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (!fgets(buf, sizeof(buf), f)) {
		fclose(f);
		return -1;
	}
	fclose(f);
	p = strrchr(buf, ')');	/* comm may hold spaces */
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
			 &ut, &st) != 2)
		return -1;
	return (long)(ut + st);
}

int64_t tm_runnable_ns(const struct test_mediator *t)
{
	char path[300];
	struct dirent *d;
	int64_t sum = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	dir = opendir(path);
	if (!dir)
		return -1;
	while (sum >= 0 && (d = readdir(dir))) {
		unsigned long long ran, waited;
		FILE *f;

		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/schedstat", (int)t->pid, d->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;	/* it has just exited */
		if (fscanf(f, "%llu %llu", &ran, &waited) == 2)
			sum += (int64_t)(ran + waited);
		else
			sum = -1;
		fclose(f);
	}
	closedir(dir);
	return sum;
}

int test_count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int test_cpu_range(int *first, int *last)
{
	cpu_set_t allowed;

	*first = *last = -1;
	if (sched_getaffinity(0, sizeof(allowed), &allowed))
		return -1;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &allowed))
			continue;
		if (*first < 0)
			*first = cpu;
		*last = cpu;
	}
	return *first < 0 ? -1 : 0;
}

void test_sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

int test_put_req(const char *vmdir, const char *name, const void *buf, size_t len)
{
	char tmp[600], dst[600];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s/tmp/%s", vmdir, name);
	snprintf(dst, sizeof(dst), "%s/req/%s", vmdir, name);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, buf, len) != (ssize_t)len || close(fd))
		return -1;
	return rename(tmp, dst);
}

int test_wait_rsp(const char *vmdir, uint64_t id, struct vgpu_rsp_hdr *h, unsigned int timeout_ms)
{
	char rspdir[600], name[VGPU_ID_NAME_LEN + 1];
	uint8_t out[64];
	int dfd, err = 1;

	snprintf(rspdir, sizeof(rspdir), "%s/rsp", vmdir);
	dfd = open(rspdir, O_RDONLY | O_DIRECTORY);
	for (unsigned int i = 0; i < timeout_ms / 5; i++) {
		if (dfd < 0)	/* not made yet */
			dfd = open(rspdir, O_RDONLY | O_DIRECTORY);
		err = dfd < 0 ? -ENOENT : vgpu_rsp_read(dfd, id, h, out, sizeof(out));
		if (err != -ENOENT)
			break;
		err = 1;
		test_sleep_ms(5);
	}
	if (err <= 0) {
		vgpu_id_name(id, name);
		unlinkat(dfd, name, 0);
		err = err ? err : h->status;
	}
	if (dfd >= 0)
		close(dfd);
	return err;
}

ssize_t test_slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = '\0';
	return (ssize_t)n;
}

long test_status_field(pid_t pid, const char *key)
{
	char path[64], buf[4096], want[64], *p;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	snprintf(want, sizeof(want), "\n%s:", key);
	if (test_slurp(path, buf, sizeof(buf)) < 0)
		return -1;
	p = strstr(buf, want);
	return p ? strtol(p + strlen(want), NULL, 10) : -1;
}

long test_uid_of(pid_t pid)
{
	return test_status_field(pid, "Uid");
}

/* Its children are some thread's: a worker starts a VM's executor. */
pid_t tm_executor_of(const struct test_mediator *t, unsigned int vm_id)
{
	char path[320], buf[4096], want[16];
	struct dirent *de;
	pid_t found = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)t->pid);
	snprintf(want, sizeof(want), "%u", vm_id);
	d = opendir(path);
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		char *tok, *save = NULL;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children", (int)t->pid, de->d_name);
		if (test_slurp(path, buf, sizeof(buf)) < 0)
			continue;
		for (tok = strtok_r(buf, " \n", &save); tok && !found;
		     tok = strtok_r(NULL, " \n", &save)) {
			char cmd[1024];
			ssize_t len;

			snprintf(path, sizeof(path), "/proc/%s/cmdline", tok);
			len = test_slurp(path, cmd, sizeof(cmd));
			if (len < 0 || !strstr(cmd, "vgpu-executor"))
				continue;
			/* NUL-separated arguments: "-i" then the VM's id */
			for (size_t i = 0; i + 3 < (size_t)len; i += strlen(cmd + i) + 1)
				if (!strcmp(cmd + i, "-i") && !strcmp(cmd + i + 3, want))
					found = (pid_t)atoi(tok);
		}
	}
	closedir(d);
	return found;
}
