// SPDX-License-Identifier: MIT
/*
 * Session jobs and the executors that run them: the mediator's side of
 * Documentation/executor.rst. Who runs what is in exec.h: a pool's worker
 * runs a VM's session job here with the VM's x->lock held; the last
 * vm_put() stops the VM's executor; the main thread sets up the epochs.
 * Touches the job it is given (its file and outcome), its VM's struct
 * vm_exec (and the executor's mailbox, read as untrusted) and
 * vm_warnx(), the pool's I/O team and list buffer, and m->epochs; never
 * m->lock.
 *
 * A session job, as the worker sees it:
 *  1. read the list through the pool's I/O team, check its CRC and check
 *     it with vgpu_sess_parse(): a malformed list is answered here with a
 *     session response that names the command (protocol.rst, "Checks of
 *     a list"), and costs no executor;
 *  2. if the VM has no live executor, start one (a new epoch) and wait for
 *     its READY;
 *  3. put the list in the executor's mailbox (emsg.h) and wait there
 *     for its DONE at most the VM's session_time_limit_ms, then write
 *     the response after the request; a list or response too big for
 *     the mailbox goes as a RUN message with the request file as both
 *     of its fds (the list, and the response written after the request);
 *  4. over the limit: SIGKILL, reap, answer -ETIMEDOUT. End of file (it
 *     crashed, or something killed it): reap, answer -EFAULT naming how it
 *     died. DONE that says the device context was lost: answer it, reap.
 *     Either way the next job starts a new executor with a new epoch, and
 *     lists naming the old handles get -ESTALE from it.
 * An executor that died between jobs is noticed (and reaped) when the
 * VM's next session job starts: that job runs on a new one.
 *
 * isolation = mps (mps.c): a VM in MPS mode, unless a fault moved it back,
 * gets an executor that is a client of the mediator's MPS daemon (its
 * pipe, its pool's sm_percent, its memory quota in the environment),
 * listed in struct mps so that another VM's fault can kill it. When one
 * dies, times out or loses its context, mps_fault() decides whose fault
 * it was: this VM's (the daemon and every other client restart; the job
 * keeps its own outcome), or another's (the job is answered -EIO naming
 * that VM). A reload that changes a VM's isolation replaces its executor
 * at its next job.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "emsg.h"
#include "job.h"
#include "log.h"
#include "mediator.h"
#include "respond.h"
#include "vgpu/session.h"

#define EXEC_READY_MS		10000	/* a CUDA context takes ~160 ms */
#define EXEC_EPOCH_MAX		0x7fffffffu	/* 31 bits: session.h */
#define EXEC_EPOCH_FILE		"executor-epoch"
#define EXEC_NAME		"vgpu-executor"
#define LIST_HUGE_BYTES		(2u << 20)	/* a list buffer this big asks for THP */

void exec_init(struct vm_exec *x)
{
	pthread_mutex_init(&x->lock, NULL);
	x->pid = 0;
	x->sock = -1;
	x->mbox = NULL;
	x->mbox_seq = 0;
	x->epoch = 0;
	x->starts = 0;
}

/* Where the executor is when the config does not say: installed (sbin/ ->
 * libexec/vgpu/), else beside the mediator (the build tree). */
static void default_path(char *path, size_t len)
{
	char self[PATH_MAX - 64];	/* room for what follows it */
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	snprintf(path, len, "/usr/libexec/vgpu/" EXEC_NAME);
	if (n <= 0)
		return;
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (!slash)
		return;
	*slash = '\0';
	snprintf(path, len, "%s/../libexec/vgpu/" EXEC_NAME, self);
	if (access(path, X_OK))
		snprintf(path, len, "%s/" EXEC_NAME, self);
}

int exec_setup(struct mediator *m)
{
	struct exec_epochs *e = &m->epochs;
	char buf[16] = "";
	ssize_t n;
	int fd;

	pthread_mutex_init(&e->lock, NULL);
	if (m->conf.executor[0])
		snprintf(e->path, sizeof(e->path), "%s", m->conf.executor);
	else
		default_path(e->path, sizeof(e->path));
	if (access(e->path, X_OK))
		log_warn("sessions: executor %s (session jobs will fail until it is there)",
			 e->path);
	e->dir_fd = m->state_dir_fd;
	fd = openat(e->dir_fd, EXEC_EPOCH_FILE, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		log_warn("%s/" EXEC_EPOCH_FILE, m->conf.state_dir);
		return -errno;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		e->last = (uint32_t)strtoul(buf, NULL, 10);
		if (e->last > EXEC_EPOCH_MAX)
			e->last = 0;
	}
	return 0;
}

/* A new epoch, stored before any executor uses it. */
static uint32_t next_epoch(struct mediator *m)
{
	struct exec_epochs *e = &m->epochs;
	char buf[16];
	uint32_t epoch;
	int len, fd;

	pthread_mutex_lock(&e->lock);
	epoch = e->last = e->last >= EXEC_EPOCH_MAX ? 1 : e->last + 1;
	len = snprintf(buf, sizeof(buf), "%" PRIu32 "\n", epoch);
	fd = openat(e->dir_fd, EXEC_EPOCH_FILE, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || vgpu_pwrite_full(fd, buf, (size_t)len, 0) || ftruncate(fd, len) ||
	    fdatasync(fd))
		log_warn("%s: cannot store the executor epoch", EXEC_EPOCH_FILE);
	if (fd >= 0)
		close(fd);
	pthread_mutex_unlock(&e->lock);
	return epoch;
}

/* How a reaped executor ended, into @buf: "signal 11", "status 2". */
static void describe(int wstatus, char *buf, size_t len)
{
	if (WIFSIGNALED(wstatus))
		snprintf(buf, len, "signal %d", WTERMSIG(wstatus));
	else if (WIFEXITED(wstatus))
		snprintf(buf, len, "status %d", WEXITSTATUS(wstatus));
	else
		snprintf(buf, len, "ended");
}

/* Kill (if it still runs) and reap @x's executor; how it ended into @how. */
static void kill_reap(struct vm_exec *x, char *how, size_t len)
{
	int wstatus = 0;
	pid_t r;

	mps_unlist(x);		/* no longer another VM's to kill */
	if (x->sock >= 0)
		close(x->sock);
	x->sock = -1;
	vgpu_mbox_unmap(x->mbox);
	x->mbox = NULL;
	if (x->pid <= 0)
		return;
	kill(x->pid, SIGKILL);	/* nothing if it is already a zombie */
	do
		r = waitpid(x->pid, &wstatus, 0);
	while (r < 0 && errno == EINTR);
	if (how)
		describe(wstatus, how, len);
	x->pid = 0;
}

void exec_stop(struct vm_exec *x)
{
	kill_reap(x, NULL, 0);
	pthread_mutex_destroy(&x->lock);
}

/* Wait for a message on @sock at most until @deadline_ns, polling for
 * the first @spin_ns: 0, -ETIMEDOUT, or vgpu_emsg_recv()'s error (-EPIPE:
 * the executor is gone). Late KICKs (vgpu_mbox_take_kicks()) are passed
 * over. */
static int recv_until(int sock, uint64_t spin_ns, uint64_t deadline_ns, struct vgpu_emsg *msg)
{
	int err;

	do {
		err = vgpu_emsg_wait(sock, spin_ns, deadline_ns);
		if (!err)
			err = vgpu_emsg_recv(sock, msg);
	} while (!err && msg->type == VGPU_EMSG_KICK && !msg->len && !msg->nfds);
	return err;
}

/*
 * Start the executor of @j's VM with @lim; 0, or -EIO with @why
 * (VGPU_MSG_LEN) when it could not start or did not say READY.
 */
static int start(struct mediator *m, const struct job *j, const struct exec_limits *lim,
		 char *why)
{
	struct vm *vm = j->vm;
	struct vm_exec *x = &vm->exec;
	struct vgpu_exec_conf c = {
		.path = m->epochs.path,
		.user = m->conf.executor_user,
		.uid = m->conf.executor_uid_base ? m->conf.executor_uid_base + j->vm_id : 0,
		.backend = strcmp(m->be_ops->name, "cuda") ? VGPU_EXEC_CPU : VGPU_EXEC_CUDA,
		.vm_id = j->vm_id,	/* taken under m->lock at dispatch */
		.mem_quota = lim->mem_bytes,
		.handle_quota = lim->handles,
		.module_quota = lim->module_bytes,
		.time_ms = lim->time_ms,
		.spin_us = m->conf.worker_spin_us,
		.test_cmds = m->conf.session_test_cmds,
		.debug = m->verbose,
	};
	bool mps = lim->isolation == ISO_MPS && !atomic_load(&x->demoted);
	struct vgpu_emsg msg;
	struct mps_env env;
	char how[32], text[VGPU_MSG_LEN];
	int err;

	/* An MPS client connects to a daemon that no fault restarts meanwhile. */
	if (mps) {
		err = mps_client_begin(&m->mps, why);
		if (err == -EAGAIN)
			mps = false;	/* MPS off since the job's limits were taken */
		else if (err)
			return -EIO;
	}
	if (mps) {
		mps_client_env(&m->mps, lim, &env);
		c.env = env.envp;
		/* one MPS server serves one uid: other uids' clients would wait
		 * for it to end (executor.rst, Isolation modes) */
		c.uid = 0;
	}
	x->mps = mps;
	c.epoch = next_epoch(m);
	/* a new mailbox for each executor: nothing an old one wrote is read */
	err = vgpu_mbox_create(&c.mbox_fd, &x->mbox);
	if (err) {
		x->mbox = NULL;
		vm_warnx(vm, "no mailbox for the executor (%s): its lists go through the socket "
			 "and files", strerror(-err));
	}
	c.mbox = x->mbox != NULL;
	x->mbox_seq = 0;
	err = vgpu_exec_spawn(&c, &x->pid, &x->sock);
	if (c.mbox)
		close(c.mbox_fd);	/* the executor has its own; the mapping stays */
	if (err) {
		vgpu_mbox_unmap(x->mbox);
		x->mbox = NULL;
		if (mps)
			mps_client_end(&m->mps, x, false);
		x->pid = 0;
		x->sock = -1;
		snprintf(why, VGPU_MSG_LEN, "cannot start the executor: %s", strerror(-err));
		log_warnx("vm %s: cannot start %s: %s", vm->conf.name, c.path, strerror(-err));
		return -EIO;
	}
	x->epoch = c.epoch;
	x->starts++;
	err = recv_until(x->sock, 0, vgpu_now_ns() + EXEC_READY_MS * 1000000ull, &msg);
	if (!err && !vgpu_emsg_expect(&msg, VGPU_EMSG_READY, sizeof(struct vgpu_emsg_ready), 0,
				      text)) {
		if (mps)
			mps_client_end(&m->mps, x, true);
		log_debug("vm %s: executor pid %d, epoch %" PRIu32 " ready%s", vm->conf.name,
			  (int)x->pid, x->epoch, mps ? " (MPS client)" : "");
		return 0;
	}
	if (mps)
		mps_client_end(&m->mps, x, false);
	if (!err && msg.type == VGPU_EMSG_FATAL) {
		size_t n = msg.len < sizeof(text) - 1 ? msg.len : sizeof(text) - 1;

		memcpy(text, msg.body, n);
		text[n] = '\0';
		rsp_scrub(text);
	} else if (err) {
		snprintf(text, sizeof(text), "%s", err == -ETIMEDOUT ? "no READY in time" :
			 strerror(-err));
	}
	kill_reap(x, how, sizeof(how));
	snprintf(why, VGPU_MSG_LEN, "executor did not start: %.38s", text);
	vm_warnx(vm, "executor epoch %" PRIu32 " did not start (%s): %s", c.epoch, how, text);
	return -EIO;
}

/*
 * @vm's MPS-mode executor died, timed out or lost its context, and is
 * reaped: recovery (mps.c). Its VM's fault: the daemon and the other MPS
 * clients restart, @j (if any) keeps its outcome. Another VM's: @j is
 * answered -EIO naming that VM.
 */
static void mps_ended(struct mediator *m, struct vm *vm, struct job *j, unsigned int *events)
{
	char faulter[VM_NAME_MAX];
	bool demoted;

	if (mps_fault(&m->mps, vm, faulter, &demoted)) {
		*events |= EXEC_EV_MPS_FAULT | (demoted ? EXEC_EV_DEMOTED : 0);
		return;
	}
	*events |= EXEC_EV_MPS_LOST;
	if (!faulter[0]) {	/* a reload or the exit stopped MPS */
		if (j) {
			j->status = -EIO;
			snprintf(j->msg, sizeof(j->msg), "MPS stopped by a reload: session lost");
		}
		return;
	}
	vm_warnx(vm, "executor epoch %" PRIu32 " lost to vm %s's fault under MPS; session "
		 "state lost", vm->exec.epoch, faulter);
	if (j) {
		j->status = -EIO;
		j->out_len = 0;
		j->out_crc = 0;
		snprintf(j->msg, sizeof(j->msg), "MPS: vm %.32s faulted; session lost", faulter);
	}
}

/* An executor that died since the VM's last job: reap it (the job runs on
 * a new one). */
static bool died_idle(struct mediator *m, struct vm *vm, unsigned int *events)
{
	struct vm_exec *x = &vm->exec;
	struct pollfd pfd = { .fd = x->sock, .events = POLLIN };
	char how[32];

	if (!x->pid)
		return false;
	/* Between jobs it says nothing but a late KICK (vgpu_mbox_take_kicks()):
	 * anything else readable is end of file or garbage. */
	if (poll(&pfd, 1, 0) == 0 || vgpu_mbox_take_kicks(x->sock) == 0)
		return false;
	kill_reap(x, how, sizeof(how));
	vm_warnx(vm, "executor epoch %" PRIu32 " died while idle (%s); session state lost", x->epoch,
		 how);
	*events |= EXEC_EV_DIED;
	if (x->mps)
		mps_ended(m, vm, NULL, events);
	return true;
}

/* The first VGPU_MSG_LEN - 1 bytes of session message @s, for the trailer. */
static void copy_msg(char dst[VGPU_MSG_LEN], const char *s)
{
	size_t n = strnlen(s, VGPU_MSG_LEN - 1);

	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* Answer @j with a session response header alone, as the executor would
 * for a list that fails its checks (nrun 0). */
static void answer_refused(struct job *j, const uint8_t *list, int err, uint32_t failed,
			   const char *why)
{
	struct vgpu_sess_rsp_hdr h = {
		.magic = VGPU_SESS_RSP_MAGIC, .hdr_size = VGPU_SESS_RSP_HDR_SIZE,
		.failed = failed, .status = err,
	};
	uint8_t buf[VGPU_SESS_RSP_HDR_SIZE];

	if (failed != VGPU_SESS_NONE)
		h.ncmds = (uint32_t)list[8] | (uint32_t)list[9] << 8 | (uint32_t)list[10] << 16 |
			  (uint32_t)list[11] << 24;
	if (failed == VGPU_SESS_NONE)
		snprintf(h.msg, sizeof(h.msg), "list: %.100s", why);
	else
		snprintf(h.msg, sizeof(h.msg), "command %" PRIu32 ": %.100s", failed, why);
	rsp_scrub(h.msg);
	vgpu_sess_rsp_encode(&h, buf);
	j->status = err;
	copy_msg(j->msg, h.msg);
	if (vgpu_pwrite_full(j->fd, buf, sizeof(buf), j->hdr.hdr_size + j->hdr.payload_len)) {
		j->out_len = 0;		/* the header alone then */
		return;
	}
	j->out_len = sizeof(buf);
	j->out_crc = vgpu_crc32c(0, buf, sizeof(buf));
}

void exec_drop_list_buf(struct pool *p)
{
	if (p->list_buf)
		munmap(p->list_buf, p->list_cap);
	p->list_buf = NULL;
	p->list_cap = 0;
}

/*
 * @p's list buffer, at least @len bytes, or NULL. It only grows (a fresh
 * mapping, nothing copied) until the worker lets it go when idle
 * (exec_drop_list_buf()): on a paravirtualised host the page faults of
 * 256 MiB of fresh memory took longer than reading the list into it. It
 * is mapped rather than malloc()ed so that letting it go gives it back
 * to the system (malloc keeps a freed block of up to 32 MiB for later),
 * in huge pages where the kernel has them for the asking.
 */
static uint8_t *list_buf(struct pool *p, uint64_t len)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE), cap;
	void *buf;

	if (len < p->list_cap)
		return p->list_buf;
	if (len > SIZE_MAX - 2 * page)
		return NULL;
	exec_drop_list_buf(p);
	cap = ((size_t)len + page) & ~(page - 1);	/* > len: never empty */
	buf = mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		return NULL;
	if (cap >= LIST_HUGE_BYTES)
		madvise(buf, cap, MADV_HUGEPAGE);	/* a hint: EINVAL without THP */
	p->list_buf = buf;
	p->list_cap = cap;
	return buf;
}

/* Step 1: read and check the list. 0 if the executor may have it, with
 * the list read in *@listp (the pool's list buffer, valid until the
 * pool's next job). */
static int check_list(struct mediator *m, unsigned int pool, struct job *j, uint8_t **listp)
{
	uint64_t len = j->hdr.payload_len;
	char why[VGPU_SESS_MSG_LEN];
	struct vgpu_sess_cmd *cmds;
	struct vgpu_job io;
	uint32_t ncmds, failed;
	uint8_t *list;
	int err;

	list = list_buf(&m->pools[pool], len);
	if (!list) {
		snprintf(j->msg, sizeof(j->msg), "out of memory for a %" PRIu64 "-byte list", len);
		return j->status = -ENOMEM;
	}
	vgpu_job_init_file(&io, &j->hdr, j->fd, j->hdr.hdr_size, -1, 0);
	io.team = m->pools[pool].team;
	err = vgpu_job_read(&io, list, (size_t)len);
	if (!err)
		err = vgpu_job_input_end(&io);
	if (err) {
		snprintf(j->msg, sizeof(j->msg), "%s", err == -EBADMSG ?
			 "request CRC mismatch" : "cannot read the list");
		return j->status = err == -EBADMSG ? err : -EIO;
	}
	err = vgpu_sess_parse(list, len, &cmds, &ncmds, &failed, why);
	free(cmds);
	if (err) {
		answer_refused(j, list, err, failed, why);
		vm_warnx(j->vm, "session job %016" PRIx64 " refused: %s", j->hdr.id, j->msg);
		return err;
	}
	*listp = list;
	return 0;
}

/*
 * Step 3 through the mailbox: put @run and @list in it, wait for the
 * executor's DONE there and copy it to @done, the response to @j's file.
 * 0 (also when the response could not be written: @done then says -EIO
 * with no bytes); -EPIPE, with *@taken false if the executor was gone
 * before the RUN, true if it died during it; -ETIMEDOUT; -EBADMSG with
 * @text when it broke the protocol; -EIO when the KICK could not be sent.
 */
static int mbox_run(struct mediator *m, struct vm_exec *x, struct job *j,
		    const struct vgpu_emsg_run *run, const uint8_t *list, uint64_t deadline_ns,
		    struct vgpu_emsg_done *done, char *text, bool *taken)
{
	struct vgpu_mbox *mb = x->mbox;
	struct vgpu_emsg_run r = *run;
	uint32_t seq = x->mbox_seq + 1;
	int err;

	r.list_off = VGPU_MBOX_DATA;
	r.rsp_off = VGPU_MBOX_RSP;
	memcpy(vgpu_mbox_at(mb, VGPU_MBOX_DATA), list, run->list_len);
	memcpy(&mb->run, &r, sizeof(r));
	err = vgpu_mbox_post(&mb->run_seq, seq, &mb->exec_sleeps, x->sock);
	if (err)
		return err == -EPIPE ? -EPIPE : -EIO;
	x->mbox_seq = seq;
	*taken = true;
	err = vgpu_mbox_wait(&mb->done_seq, seq - 1, &mb->parent_sleeps, x->sock,
			     (uint64_t)m->conf.worker_spin_us * 1000, deadline_ns);
	if (err == 1) {
		snprintf(text, VGPU_SESS_MSG_LEN, "a message on the socket during a mailbox RUN");
		return -EBADMSG;
	}
	if (err)
		return err;
	memcpy(done, &mb->done, sizeof(*done));	/* once: it may change under us */
	if (atomic_load(&mb->done_seq) != seq) {
		snprintf(text, VGPU_SESS_MSG_LEN, "done_seq %u for RUN %u",
			 atomic_load(&mb->done_seq), seq);
		return -EBADMSG;
	}
	if (done->rsp_len > run->rsp_max)
		return 0;	/* the caller's check refuses it */
	err = done->rsp_len ? vgpu_pwrite_full(j->fd, vgpu_mbox_at(mb, VGPU_MBOX_RSP),
					       (size_t)done->rsp_len, run->rsp_off) : 0;
	if (err) {	/* the list ran; its answer has no session response */
		done->status = -EIO;
		done->rsp_len = 0;
		snprintf(done->msg, sizeof(done->msg), "cannot write the response: %s",
			 strerror(-err));
	}
	return 0;
}

/* Steps 3 and 4 on a live executor: 0 when @j's outcome is recorded,
 * -EAGAIN when the executor was dead before it took the job. */
static int run_on(struct mediator *m, struct vm *vm, struct job *j, const uint8_t *list,
		  const struct exec_limits *lim, unsigned int *events)
{
	struct vm_exec *x = &vm->exec;
	uint64_t req_size = j->hdr.hdr_size + j->hdr.payload_len;
	uint64_t deadline_ns = vgpu_now_ns() + lim->time_ms * 1000000ull;
	struct vgpu_emsg_run run = {
		.id = j->hdr.id, .list_off = j->hdr.hdr_size, .list_len = j->hdr.payload_len,
		.rsp_off = req_size, .rsp_max = j->hdr.out_len,
	};
	struct vgpu_emsg_done done;
	struct vgpu_emsg msg;
	char how[32], text[VGPU_SESS_MSG_LEN];
	int fds[2] = { j->fd, j->fd }, err;
	bool taken = false;

	if (x->mbox && run.list_len <= VGPU_MBOX_AREA && run.rsp_max <= VGPU_MBOX_AREA) {
		err = mbox_run(m, x, j, &run, list, deadline_ns, &done, text, &taken);
	} else {
		/*
		 * Too big for the mailbox: the list and the response are the
		 * one accepted file, the response after the request. One
		 * descriptor serves as both (a read-only one beside it would
		 * guard nothing, and reopening one through /proc cost a path
		 * walk on every job).
		 */
		err = vgpu_emsg_send(x->sock, VGPU_EMSG_RUN, &run, sizeof(run), fds, 2);
		if (err == -ECONNRESET)
			err = -EPIPE;
		if (!err) {
			taken = true;
			err = recv_until(x->sock, (uint64_t)m->conf.worker_spin_us * 1000,
					 deadline_ns, &msg);
		}
		if (!err)
			err = vgpu_emsg_expect(&msg, VGPU_EMSG_DONE, sizeof(done), 0, text);
		if (!err)
			memcpy(&done, msg.body, sizeof(done));
	}
	if (err == -EPIPE && !taken) {
		kill_reap(x, how, sizeof(how));
		vm_warnx(vm, "executor epoch %" PRIu32 " died before a job (%s); session state lost",
			 x->epoch, how);
		*events |= EXEC_EV_DIED;
		if (x->mps)
			mps_ended(m, vm, NULL, events);
		return -EAGAIN;
	}
	if (err == -ETIMEDOUT) {
		kill_reap(x, how, sizeof(how));
		j->status = -ETIMEDOUT;
		snprintf(j->msg, sizeof(j->msg), "over its %u ms time limit: session lost",
			 lim->time_ms);
		vm_warnx(vm, "session job %016" PRIx64 " over its %u ms time limit: executor "
			 "epoch %" PRIu32 " killed, session state lost", j->hdr.id, lim->time_ms,
			 x->epoch);
		*events |= EXEC_EV_TIMEOUT;
		if (x->mps)	/* a client killed mid-kernel: the server is suspect */
			mps_ended(m, vm, j, events);
		return 0;
	}
	if (err == -EPIPE) {
		kill_reap(x, how, sizeof(how));
		j->status = -EFAULT;
		snprintf(j->msg, sizeof(j->msg), "executor died (%s): session lost", how);
		vm_warnx(vm, "session job %016" PRIx64 ": executor epoch %" PRIu32 " died (%s); session "
			 "state lost", j->hdr.id, x->epoch, how);
		*events |= EXEC_EV_DIED;
		if (x->mps)
			mps_ended(m, vm, j, events);
		return 0;
	}
	if (!err) {
		done.msg[sizeof(done.msg) - 1] = '\0';
		if (done.id != run.id || done.rsp_len > run.rsp_max ||
		    (!done.status && !done.rsp_len)) {
			snprintf(text, sizeof(text), "DONE for %016" PRIx64 " with %" PRIu64
				 " bytes, status %d", done.id, done.rsp_len, done.status);
			err = -EBADMSG;
		}
	}
	if (err) {	/* it broke the protocol: it is no longer ours to trust */
		kill_reap(x, how, sizeof(how));
		j->status = -EIO;
		snprintf(j->msg, sizeof(j->msg), "executor failed: session lost");
		vm_warnx(vm, "executor epoch %" PRIu32 " killed: %s", x->epoch,
			 err == -EBADMSG ? text : strerror(-err));
		*events |= EXEC_EV_DIED;
		if (x->mps)
			mps_ended(m, vm, j, events);
		return 0;
	}
	j->status = done.status;
	/* the executor's clock, which it could misreport: at most the run so far */
	j->exec_ns = vgpu_now_ns() - j->started_ns;
	if (done.run_ns < j->exec_ns)
		j->exec_ns = done.run_ns;
	copy_msg(j->msg, done.msg);
	j->out_len = done.rsp_len;
	j->out_crc = done.rsp_crc;
	if (done.flags & VGPU_EMSG_DONE_F_LOST) {
		kill_reap(x, how, sizeof(how));
		vm_warnx(vm, "session job %016" PRIx64 " lost the device context (%s): executor "
			 "epoch %" PRIu32 " replaced", j->hdr.id, done.msg, x->epoch);
		*events |= EXEC_EV_DIED;
		if (x->mps)
			mps_ended(m, vm, j, events);
	}
	return 0;
}

void exec_run(struct mediator *m, unsigned int pool, struct job *j,
	      const struct exec_limits *lim, unsigned int *events)
{
	struct vm *vm = j->vm;
	struct vm_exec *x = &vm->exec;
	uint8_t *list = NULL;
	int err;

	j->msg[0] = '\0';
	j->out_len = 0;
	j->out_crc = 0;
	j->exec_ns = 0;
	j->status = 0;	/* started_ns: the worker's stamp as it took @j */
	if (check_list(m, pool, j, &list))
		goto out;
	pthread_mutex_lock(&x->lock);
	for (int tries = 0; tries < 2; tries++) {
		bool mps = lim->isolation == ISO_MPS && !atomic_load(&x->demoted);

		died_idle(m, vm, events);
		if (x->pid && x->mps != mps) {	/* a reload or a demotion changed it */
			char how[32];

			kill_reap(x, how, sizeof(how));
			vm_warnx(vm, "now isolation = %s: executor epoch %" PRIu32 " replaced, "
				 "session state lost", mps ? "mps" : "process", x->epoch);
		}
		if (!x->pid) {
			if (start(m, j, lim, j->msg)) {
				j->status = -EIO;
				break;
			}
			if (x->starts > 1)
				*events |= EXEC_EV_RESTARTED;
		}
		err = run_on(m, vm, j, list, lim, events);
		if (err != -EAGAIN)
			break;
		j->status = -EIO;
		snprintf(j->msg, sizeof(j->msg), "executor died before the job");
	}
	pthread_mutex_unlock(&x->lock);
out:
	j->finished_ns = vgpu_now_ns();
	if (!j->status)
		snprintf(j->msg, sizeof(j->msg), "ok");
}
