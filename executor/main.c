// SPDX-License-Identifier: MIT
/*
 * vgpu-executor: the per-VM process that owns one VM's device context and
 * runs its session command lists (Documentation/executor.rst,
 * vgpu-executor(8)). Its parent (the mediator) starts it with the VM's
 * quotas on the command line and its end of a SOCK_SEQPACKET socketpair as
 * fd 3. Before it reads anything untrusted it closes every other fd,
 * becomes the configured user, and sets no_new_privs; it then creates the
 * device context, says READY, and runs one RUN at a time: the list comes
 * from, and the response goes to, the mailbox the parent shares with it
 * (-x: fd 4, emsg.h) or, for lists too big for it and without -x, files
 * it gets only as fds.
 *
 * Device printf and assert text (the CUDA driver writes the one to stdout,
 * the other to stderr) is caught by one pipe on fds 1 and 2 (fd 1 alone
 * with the CPU backend) and returned with the list that made it; the
 * pipe's write end never blocks, so a flood of text is cut, not a hang.
 * The executor's own log lines go to where stderr went (a copy of the fd
 * taken first).
 *
 * One thread. It exits when the parent closes the socket, after a FATAL
 * (no device context), or after a DONE that says the context was lost.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "emsg.h"
#include "executor.h"
#include "log.h"
#include "vgpu/proto.h"

static int text_fd = -1;	/* the read end of the stdout/stderr pipe */

static void usage(FILE *f)
{
	fprintf(f, "usage: vgpu-executor [-dT] [-b cpu|cuda] [-g device] -e epoch [-i vm_id]\n"
		   "                     [-m mem_bytes] [-n handles] [-M module_bytes]\n"
		   "                     [-s spin_us] [-t time_limit_ms] [-u user [-U uid]] [-x]\n"
		   "       vgpu-executor --version\n"
		   "Started by vgpu-mediator with its socket as fd 3; see vgpu-executor(8).\n");
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return errno || end == s || *end || *s == '-' || *v > max ? -1 : 0;
}

/* Everything but 0, 1, 2 and the socket goes before any untrusted input. */
static int close_other_fds(void)
{
	if (syscall(SYS_close_range, VGPU_EXEC_SOCK_FD + 1, ~0u, 0) == 0)
		return 0;
	for (int fd = VGPU_EXEC_SOCK_FD + 1; fd < 65536; fd++)
		close(fd);
	return 0;
}

/*
 * Become @user (its groups: one may open /dev/nvidia*, video), with its
 * uid or, if @uid is not 0, that one: the mediator gives each VM's
 * executor a uid of its own (executor_uid_base), so that one executor
 * cannot signal or inspect another VM's. Then no new privileges, and not
 * dumpable: no process of the same uid may ptrace it or read its memory
 * through /proc (its GPU buffers' host copies, its guest's data).
 */
static int drop_privileges(const char *user, uid_t uid)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		if (user)
			log_debug("not root: staying uid %u (no switch to %s)", getuid(), user);
	} else {
		if (!user) {
			log_warnx("started as root without -u USER");
			return -1;
		}
		pw = getpwnam(user);
		if (!pw || !pw->pw_uid) {
			log_warnx("user %s: %s", user, pw ? "is root" : "unknown");
			return -1;
		}
		if (!uid)
			uid = pw->pw_uid;
		/* the user's own groups: one may open /dev/nvidia* (video) */
		if (initgroups(pw->pw_name, pw->pw_gid) ||
		    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) ||
		    setresuid(uid, uid, uid)) {
			log_warn("cannot become %s (uid %u)", user, (unsigned int)uid);
			return -1;
		}
		if (setuid(0) == 0) {
			log_warnx("could become root again after dropping to %s", user);
			return -1;
		}
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)) {
		log_warn("PR_SET_NO_NEW_PRIVS, PR_SET_DUMPABLE");
		return -1;
	}
	return 0;
}

/*
 * fd 1 becomes a pipe's non-blocking write end, text_fd its read end: the
 * driver writes device printf text to stdout. With @err_too fd 2 as well,
 * where the driver writes a failed device assert's message, and the log
 * goes on to where stderr went (the CUDA backend; the CPU backend leaves
 * stderr alone, so that a sanitizer's report reaches the mediator's log).
 */
static int capture_output(bool err_too)
{
	FILE *log_file = NULL;
	int p[2], lfd;

	if (err_too) {
		lfd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 4);
		log_file = lfd >= 0 ? fdopen(lfd, "w") : NULL;
		if (!log_file)
			return -1;
		setvbuf(log_file, NULL, _IOLBF, 0);
	}
	if (pipe2(p, O_CLOEXEC | O_NONBLOCK))
		return -1;
	(void)fcntl(p[1], F_SETPIPE_SZ, 1 << 20);	/* best effort: the driver's FIFO size */
	if (dup2(p[1], STDOUT_FILENO) < 0)
		return -1;
	if (err_too) {
		log_to(log_file);
		if (dup2(p[1], STDERR_FILENO) < 0)
			return -1;
	}
	close(p[1]);
	text_fd = p[0];
	return 0;
}

/* run.c's drain: the device text written since the last list. */
static size_t drain_text(char *buf, size_t max, bool *trunc)
{
	char scratch[4096];
	size_t got = 0;
	ssize_t n;

	fflush(stdout);
	fflush(stderr);
	clearerr(stdout);	/* a full pipe made the driver's stdio fail: go on */
	clearerr(stderr);
	while (text_fd >= 0) {
		if (got < max)
			n = read(text_fd, buf + got, max - got);
		else
			n = read(text_fd, scratch, sizeof(scratch));
		if (n <= 0)
			break;
		if (got < max)
			got += (size_t)n;
		else
			*trunc = true;
	}
	for (size_t i = 0; i < got; i++)	/* text, as the protocol promises */
		if ((buf[i] < ' ' && buf[i] != '\n' && buf[i] != '\t') || buf[i] > '~')
			buf[i] = '?';
	return got;
}

static int read_all(int fd, void *buf, uint64_t len, uint64_t off)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len > (1 << 30) ? 1 << 30 : (size_t)len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EBADMSG;
		p += n, off += (uint64_t)n, len -= (uint64_t)n;
	}
	return 0;
}

static int write_all(int fd, const void *buf, uint64_t len, uint64_t off)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len > (1 << 30) ? 1 << 30 : (size_t)len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n, off += (uint64_t)n, len -= (uint64_t)n;
	}
	return 0;
}

/*
 * The list read and the response built are kept from one RUN to the next
 * (up to the largest seen, which max_payload_bytes bounds): a 256 MiB copy
 * then costs no page faults of fresh memory, which on a paravirtualised
 * host took longer than the copy itself.
 */
static struct xbuf list_buf, rsp_buf;

/*
 * Run @list of @run: the response stays in rsp_buf for the caller to put
 * in its place, @done says what it is. The list's status, or -ENOMEM.
 */
static int run_list(struct xstate *s, const struct vgpu_emsg_run *run, const uint8_t *list,
		    struct vgpu_emsg_done *done)
{
	struct vgpu_sess_rsp_hdr h;
	int err;

	err = x_run(s, list, run->list_len, run->rsp_max, drain_text, &rsp_buf, &h);
	if (err) {
		snprintf(done->msg, sizeof(done->msg), "out of host memory for the response");
		return err;
	}
	done->rsp_len = rsp_buf.len;
	done->rsp_crc = vgpu_crc32c(0, rsp_buf.p, rsp_buf.len);
	done->failed = h.failed;
	memcpy(done->msg, h.msg, sizeof(done->msg));
	return h.status;
}

/* What every DONE ends with: @err, a lost context, the time since @t0. */
static void end_done(const struct xstate *s, struct vgpu_emsg_done *done, int err, uint64_t t0)
{
	done->status = err;
	if (*s->be->lost)
		done->flags |= VGPU_EMSG_DONE_F_LOST;
	done->run_ns = now_ns() - t0;
}

/* One RUN message: read the list, run it, write the response, say DONE. */
static void run_one(struct xstate *s, int sock, struct vgpu_emsg *m)
{
	struct vgpu_emsg_done done = { .failed = VGPU_SESS_NONE };
	struct vgpu_emsg_run run;
	uint64_t t0 = now_ns();
	uint8_t *list = NULL;
	int err, werr;

	memcpy(&run, m->body, sizeof(run));
	done.id = run.id;
	if (run.list_len > VGPU_PAYLOAD_MAX || run.rsp_max > VGPU_PAYLOAD_MAX ||
	    run.rsp_max < VGPU_SESS_RSP_HDR_SIZE) {
		err = -EINVAL;
		snprintf(done.msg, sizeof(done.msg), "RUN: list %" PRIu64 " or rsp_max %" PRIu64
			 " out of range", run.list_len, run.rsp_max);
		goto done;
	}
	list_buf.len = 0;
	if (!xbuf_reserve(&list_buf, (size_t)run.list_len + 1))
		list = list_buf.p;
	if (!list) {
		err = -ENOMEM;
		snprintf(done.msg, sizeof(done.msg), "out of host memory for a %" PRIu64
			 "-byte list", run.list_len);
		goto done;
	}
	err = read_all(m->fds[0], list, run.list_len, run.list_off);
	if (err) {
		snprintf(done.msg, sizeof(done.msg), "reading the list: %s", strerror(-err));
		goto done;
	}
	err = run_list(s, &run, list, &done);
	werr = done.rsp_len ? write_all(m->fds[1], rsp_buf.p, rsp_buf.len, run.rsp_off) : 0;
	if (werr) {
		err = werr;
		done.rsp_len = 0;
		snprintf(done.msg, sizeof(done.msg), "writing the response: %s", strerror(-err));
	}
done:
	end_done(s, &done, err, t0);
	vgpu_emsg_close_fds(m);
	if (s->kick_after)	/* test_kick: one before the DONE too */
		vgpu_emsg_send(sock, VGPU_EMSG_KICK, NULL, 0, NULL, 0);
	if (vgpu_emsg_send(sock, VGPU_EMSG_DONE, &done, sizeof(done), NULL, 0))
		log_warnx("sending DONE failed: the parent is gone");
}

/*
 * One RUN through the mailbox (emsg.h): the list is in its list area (the
 * parent's, which it leaves alone until DONE), the response goes to its
 * response area, DONE to its done, and done_seq to @seq, the run_seq of
 * this RUN.
 */
static void run_mbox(struct xstate *s, int sock, struct vgpu_mbox *mb, uint32_t seq)
{
	struct vgpu_emsg_done done = { .failed = VGPU_SESS_NONE };
	struct vgpu_emsg_run run;
	uint64_t t0 = now_ns();
	int err;

	memcpy(&run, &mb->run, sizeof(run));
	done.id = run.id;
	if (run.list_off != VGPU_MBOX_DATA || run.list_len > VGPU_MBOX_AREA ||
	    run.rsp_off != VGPU_MBOX_RSP || run.rsp_max > VGPU_MBOX_AREA ||
	    run.rsp_max < VGPU_SESS_RSP_HDR_SIZE) {
		err = -EINVAL;
		snprintf(done.msg, sizeof(done.msg), "RUN in the mailbox: list %" PRIu64
			 " or rsp_max %" PRIu64 " out of range", run.list_len, run.rsp_max);
	} else {
		err = run_list(s, &run, vgpu_mbox_at(mb, VGPU_MBOX_DATA), &done);
		if (done.rsp_len)	/* <= rsp_max */
			memcpy(vgpu_mbox_at(mb, VGPU_MBOX_RSP), rsp_buf.p, done.rsp_len);
	}
	end_done(s, &done, err, t0);
	memcpy(&mb->done, &done, sizeof(done));
	if (vgpu_mbox_post(&mb->done_seq, seq, &mb->parent_sleeps, sock))
		log_warnx("posting DONE failed: the parent is gone");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct xstate s = {
		.be = &xbackend_cpu,
		.mem_quota = 1ull << 30,
		.handle_quota = 1024,
		.module_quota = 64ull << 20,
	};
	struct vgpu_emsg_ready ready = { 0 };
	const char *user = NULL, *env;
	uid_t uid = 0;
	char why[VGPU_SESS_MSG_LEN] = "";
	uint64_t v, vm_id = 0, epoch = 0, device = 0, spin_ns = 0;
	struct rlimit no_core = { 0, 0 };
	struct stat st;
	struct vgpu_mbox *mb = NULL;
	bool debug = false, use_mbox = false;
	uint32_t seen = 0;
	int c, err, sock = VGPU_EXEC_SOCK_FD;
	pid_t parent = getppid();

	while ((c = getopt_long(argc, argv, "b:de:g:hi:m:M:n:s:t:Tu:U:Vx", longopts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (!strcmp(optarg, "cpu"))
				s.be = &xbackend_cpu;
#ifdef VGPU_EXECUTOR_CUDA
			else if (!strcmp(optarg, "cuda"))
				s.be = &xbackend_cuda;
#endif
			else {
				fprintf(stderr, "vgpu-executor: -b %s: not built in (cpu%s)\n", optarg,
#ifdef VGPU_EXECUTOR_CUDA
					", cuda"
#else
					""
#endif
					);
				return 1;
			}
			break;
		case 'd': debug = true; break;
		case 'T': s.test_cmds = true; break;
		case 'x': use_mbox = true; break;
		case 'u': user = optarg; break;
		case 'e': case 'g': case 'i': case 'm': case 'M': case 'n': case 's': case 't':
		case 'U':
			if (parse_u64(optarg, c == 'e' || c == 'U' ? 0x7fffffff :
				      c == 's' ? 1000000 :
				      c == 'g' || c == 'i' || c == 'n' || c == 't' ?
				      UINT32_MAX : UINT64_MAX, &v)) {
				fprintf(stderr, "vgpu-executor: -%c %s: not a number in range\n", c,
					optarg);
				return 1;
			}
			if (c == 'e') epoch = v;
			if (c == 'g') device = v;
			if (c == 'i') vm_id = v;
			if (c == 'm') s.mem_quota = v;
			if (c == 'M') s.module_quota = v;
			if (c == 'n') s.handle_quota = (uint32_t)v;
			if (c == 's') spin_ns = v * 1000;
			if (c == 't') s.time_limit_ms = (uint32_t)v;
			if (c == 'U') uid = (uid_t)v;
			break;
		case 'V':
			printf("vgpu-executor %s\n", VGPU_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc || !epoch) {
		usage(stderr);
		return 1;
	}
	s.epoch = (uint32_t)epoch;
	/* under MPS, the share of the SMs the mediator gave this VM's pool */
	env = getenv("CUDA_MPS_ACTIVE_THREAD_PERCENTAGE");
	if (env && !parse_u64(env, 100, &v) && v)
		s.sm_percent = (uint32_t)v;
	x_init(&s);
	log_init("vgpu-executor", true, debug ? LOG_DEBUG : LOG_INFO);
	if (fstat(sock, &st) || !S_ISSOCK(st.st_mode)) {
		log_warnx("fd %d is not a socket: start me from vgpu-mediator", sock);
		return 1;
	}
	/* mapped before fd 4 closes with the others */
	if (use_mbox) {
		err = vgpu_mbox_map(VGPU_EXEC_MBOX_FD, &mb);
		if (err) {
			log_warnx("fd %d is not a mailbox: %s", VGPU_EXEC_MBOX_FD, strerror(-err));
			return 1;
		}
		seen = atomic_load(&mb->run_seq);
	}
	/* no core files of guest data; nothing else open; no privileges */
	setrlimit(RLIMIT_CORE, &no_core);
	if (close_other_fds() || drop_privileges(user, uid) ||
	    capture_output(s.be != &xbackend_cpu)) {
		vgpu_emsg_send(sock, VGPU_EMSG_FATAL, "cannot drop privileges", 22, NULL, 0);
		return 1;
	}
	/* the parent's death is ours (set after the uid change, which clears it) */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) || getppid() != parent)
		return 1;
	err = s.be->init((int)device, ready.device, why);
	if (err) {
		log_warnx("vm %" PRIu64 ": %s backend: %s", vm_id, s.be->name, why);
		vgpu_emsg_send(sock, VGPU_EMSG_FATAL, why, (uint32_t)strlen(why), NULL, 0);
		return 1;
	}
	ready.epoch = s.epoch;
	ready.backend = s.be == &xbackend_cpu ? VGPU_EXEC_CPU : VGPU_EXEC_CUDA;
	ready.pid = (uint32_t)getpid();
	if (vgpu_emsg_send(sock, VGPU_EMSG_READY, &ready, sizeof(ready), NULL, 0))
		return 1;
	log_debug("vm %" PRIu64 ": epoch %" PRIu32 " on %s ready", vm_id, s.epoch, ready.device);

	for (;;) {
		struct vgpu_emsg m;

		/* the next RUN often follows at once: poll for it a while first */
		if (mb) {	/* in the mailbox, or on the socket if too big for it */
			err = vgpu_mbox_wait(&mb->run_seq, seen, &mb->exec_sleeps, sock, spin_ns,
					     UINT64_MAX);
			if (!err) {
				seen = atomic_load(&mb->run_seq);
				run_mbox(&s, sock, mb, seen);
				goto ran;
			}
			if (err == 1)
				err = 0;
		} else {
			err = vgpu_emsg_wait(sock, spin_ns, UINT64_MAX);
		}
		if (!err)
			err = vgpu_emsg_recv(sock, &m);
		if (err && err != -EBADMSG) {	/* -EPIPE: the parent is done with us */
			if (err != -EPIPE)
				log_warnx("vm %" PRIu64 ": socket: %s", vm_id, strerror(-err));
			break;
		}
		if (err) {
			log_warnx("vm %" PRIu64 ": bad message from the parent: %s", vm_id,
				  strerror(-err));
			continue;
		}
		if (vgpu_emsg_expect(&m, VGPU_EMSG_RUN, sizeof(struct vgpu_emsg_run), 2, why)) {
			log_warnx("vm %" PRIu64 ": %s", vm_id, why);
			continue;
		}
		run_one(&s, sock, &m);
ran:
		if (s.kick_after) {	/* test_kick: as a post that crossed the parent's look does */
			s.kick_after = false;
			vgpu_emsg_send(sock, VGPU_EMSG_KICK, NULL, 0, NULL, 0);
		}
		if (*s.be->lost) {
			log_warnx("vm %" PRIu64 ": device context lost: exiting", vm_id);
			return 2;
		}
	}
	x_reset(&s);
	xbuf_free(&list_buf);
	xbuf_free(&rsp_buf);
	vgpu_mbox_unmap(mb);
	return 0;
}
