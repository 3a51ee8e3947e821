// SPDX-License-Identifier: MIT
/*
 * The executor's message layer (emsg.h; Documentation/executor.rst): one
 * datagram per message on a SOCK_SEQPACKET socketpair, fds by SCM_RIGHTS,
 * every length checked by the receiver, and the spawn of an executor.
 * Linked by the mediator (libvgpu-dom0) and by vgpu-executor. No state.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "emsg.h"
#include "spool.h"

_Static_assert(sizeof(struct vgpu_emsg_ready) == 80, "READY body");
_Static_assert(sizeof(struct vgpu_emsg_run) == 40, "RUN body");
_Static_assert(sizeof(struct vgpu_emsg_done) == 40 + VGPU_SESS_MSG_LEN, "DONE body");
_Static_assert(sizeof(struct vgpu_emsg_done) <= VGPU_EMSG_BODY_MAX, "DONE fits");

int vgpu_emsg_socketpair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	return 0;
}

int vgpu_emsg_send(int sock, uint32_t type, const void *body, uint32_t len,
		   const int *fds, unsigned int nfds)
{
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(int) * VGPU_EMSG_FDS_MAX)];
	} cm;
	uint32_t hdr[2] = { type, len };
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = (void *)body, .iov_len = len },
	};
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	if (len > VGPU_EMSG_BODY_MAX || nfds > VGPU_EMSG_FDS_MAX)
		return -EMSGSIZE;
	if (nfds) {
		memset(&cm, 0, sizeof(cm));
		mh.msg_control = cm.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		cm.h.cmsg_level = SOL_SOCKET;
		cm.h.cmsg_type = SCM_RIGHTS;
		cm.h.cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(&cm.h), fds, sizeof(int) * nfds);
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return (size_t)n == sizeof(hdr) + len ? 0 : -EMSGSIZE;
}

void vgpu_emsg_close_fds(struct vgpu_emsg *m)
{
	for (unsigned int i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

int vgpu_emsg_recv(int sock, struct vgpu_emsg *m)
{
	union {
		struct cmsghdr h;
		/* room for more than we take, so that extra fds are seen and closed */
		char buf[CMSG_SPACE(sizeof(int) * 16)];
	} cm;
	uint32_t hdr[2];
	struct iovec iov[2] = {
		{ .iov_base = hdr, .iov_len = sizeof(hdr) },
		{ .iov_base = m->body, .iov_len = sizeof(m->body) },
	};
	struct msghdr mh = {
		.msg_iov = iov, .msg_iovlen = 2, .msg_control = cm.buf,
		.msg_controllen = sizeof(cm.buf),
	};
	struct cmsghdr *c;
	int err = 0;
	ssize_t n;

	m->nfds = 0;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (m->nfds < VGPU_EMSG_FDS_MAX)
				m->fds[m->nfds++] = fd;
			else {
				close(fd);
				err = -EBADMSG;
			}
		}
	}
	if (n == 0 && !m->nfds)
		return -EPIPE;	/* SOCK_SEQPACKET: 0 bytes is end of file */
	if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC) || (size_t)n < sizeof(hdr) ||
	    hdr[1] > VGPU_EMSG_BODY_MAX || (size_t)n != sizeof(hdr) + hdr[1])
		err = -EBADMSG;
	if (err) {
		vgpu_emsg_close_fds(m);
		return err;
	}
	m->type = hdr[0];
	m->len = hdr[1];
	return 0;
}

int vgpu_emsg_expect(struct vgpu_emsg *m, uint32_t type, uint32_t len, unsigned int nfds,
		     char *why)
{
	if (m->type == type && m->len == len && m->nfds == nfds)
		return 0;
	snprintf(why, VGPU_SESS_MSG_LEN, "message type %" PRIu32 " with %" PRIu32
		 " bytes and %u fds, want type %" PRIu32 " with %" PRIu32 " and %u",
		 m->type, m->len, m->nfds, type, len, nfds);
	vgpu_emsg_close_fds(m);
	return -EBADMSG;
}

int vgpu_emsg_wait(int sock, uint64_t spin_ns, uint64_t deadline_ns)
{
	uint64_t now = vgpu_now_ns(), spin_end = spin_ns < deadline_ns - now ? now + spin_ns :
			deadline_ns;

	for (;;) {
		struct pollfd pfd = { .fd = sock, .events = POLLIN };
		int r, ms = 0;

		if (now >= deadline_ns)
			return -ETIMEDOUT;
		if (now >= spin_end)	/* sleep, to the next millisecond past the deadline */
			ms = deadline_ns == UINT64_MAX || deadline_ns - now > (uint64_t)INT32_MAX *
			     1000000 ? -1 : (int)((deadline_ns - now + 999999) / 1000000);
		r = poll(&pfd, 1, ms);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			return 0;
		now = vgpu_now_ns();
	}
}

_Static_assert(sizeof(struct vgpu_mbox) <= VGPU_MBOX_DATA, "the mailbox's header");
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "atomics shared between processes");

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

#define MBOX_SEALS	(F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)

int vgpu_mbox_create(int *fd, struct vgpu_mbox **mb)
{
	void *p;
	int f, err;

	f = memfd_create("vgpu-mbox", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f < 0)
		return -errno;
	if (ftruncate(f, VGPU_MBOX_SIZE) || fcntl(f, F_ADD_SEALS, MBOX_SEALS)) {
		err = -errno;
		close(f);
		return err;
	}
	p = mmap(NULL, VGPU_MBOX_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		close(f);
		return err;
	}
	*fd = f;
	*mb = p;
	return 0;
}

int vgpu_mbox_map(int fd, struct vgpu_mbox **mb)
{
	struct stat st;
	void *p;

	/* sealed, so that the size checked is the size for good */
	if (fstat(fd, &st) || fcntl(fd, F_GET_SEALS) != MBOX_SEALS)
		return -EBADF;
	if (st.st_size != VGPU_MBOX_SIZE)
		return -EINVAL;
	p = mmap(NULL, VGPU_MBOX_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*mb = p;
	return 0;
}

void vgpu_mbox_unmap(struct vgpu_mbox *mb)
{
	if (mb)
		munmap(mb, VGPU_MBOX_SIZE);
}

int vgpu_mbox_post(atomic_uint *seq, uint32_t v, atomic_uint *peer_sleeps, int sock)
{
	int err;

	/* seq_cst both: either the sleeper sees @v, or we see it sleeping */
	atomic_store(seq, v);
	if (!atomic_load(peer_sleeps))
		return 0;
	err = vgpu_emsg_send(sock, VGPU_EMSG_KICK, NULL, 0, NULL, 0);
	return err == -ECONNRESET ? -EPIPE : err;
}

/* Take a KICK waiting on @sock: 0; 1 if another message waits; -EAGAIN; -EPIPE; -errno. */
static int take_kick(int sock)
{
	uint32_t hdr[2];
	ssize_t n;

	do
		n = recv(sock, hdr, sizeof(hdr), MSG_PEEK | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		return -EPIPE;
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : errno == ECONNRESET ? -EPIPE : -errno;
	if ((size_t)n != sizeof(hdr) || hdr[0] != VGPU_EMSG_KICK || hdr[1])
		return 1;	/* the caller's vgpu_emsg_recv() checks it */
	do
		n = recv(sock, hdr, sizeof(hdr), MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : 0;
}

int vgpu_mbox_take_kicks(int sock)
{
	int err = 0;

	/* one late KICK per post at most: a flood is a broken peer, and must
	 * not keep the caller here */
	for (int i = 0; i <= VGPU_MBOX_LATE_KICKS_MAX && !err; i++)
		err = take_kick(sock);
	return err == -EAGAIN ? 0 : err ? err : -EPROTO;
}

int vgpu_mbox_wait(atomic_uint *seq, uint32_t old, atomic_uint *my_sleeps, int sock,
		   uint64_t spin_ns, uint64_t deadline_ns)
{
	uint64_t now = vgpu_now_ns(), spin_end = spin_ns < deadline_ns - now ? now + spin_ns :
			deadline_ns;
	int err;

	while (atomic_load_explicit(seq, memory_order_acquire) == old) {
		if (now >= spin_end)
			goto sleep;
		for (int i = 0; i < 64; i++)	/* the clock less often than the word */
			cpu_relax();
		now = vgpu_now_ns();
	}
	return 0;
sleep:
	for (;;) {
		atomic_store(my_sleeps, 1);
		if (atomic_load(seq) != old) {
			atomic_store(my_sleeps, 0);
			return 0;
		}
		err = vgpu_emsg_wait(sock, 0, deadline_ns);
		atomic_store(my_sleeps, 0);
		if (err)
			return err;
		err = take_kick(sock);
		if (err && err != -EAGAIN)
			return err;	/* 1: a message; -EPIPE: gone */
		if (atomic_load(seq) != old)
			return 0;
	}
}

int vgpu_exec_spawn(const struct vgpu_exec_conf *c, pid_t *pid, int *sock)
{
	char epoch[16], vm[16], dev[16], mem[24], handles[16], mods[24], ms[16], uid[16];
	char spin[16];
	char *argv[28], *no_env[] = { NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, all;
	int sv[2], argc = 0, mbox_fd = -1, err;

	snprintf(epoch, sizeof(epoch), "%" PRIu32, c->epoch);
	snprintf(vm, sizeof(vm), "%" PRIu32, c->vm_id);
	snprintf(dev, sizeof(dev), "%d", c->device);
	snprintf(mem, sizeof(mem), "%" PRIu64, c->mem_quota);
	snprintf(handles, sizeof(handles), "%" PRIu32, c->handle_quota);
	snprintf(mods, sizeof(mods), "%" PRIu64, c->module_quota);
	snprintf(ms, sizeof(ms), "%" PRIu32, c->time_ms);
	snprintf(uid, sizeof(uid), "%" PRIu32, c->uid);
	argv[argc++] = (char *)"vgpu-executor";
	argv[argc++] = (char *)"-b";
	argv[argc++] = (char *)(c->backend == VGPU_EXEC_CUDA ? "cuda" : "cpu");
	argv[argc++] = (char *)"-g";
	argv[argc++] = dev;
	argv[argc++] = (char *)"-e";
	argv[argc++] = epoch;
	argv[argc++] = (char *)"-i";
	argv[argc++] = vm;
	argv[argc++] = (char *)"-m";
	argv[argc++] = mem;
	argv[argc++] = (char *)"-n";
	argv[argc++] = handles;
	argv[argc++] = (char *)"-M";
	argv[argc++] = mods;
	argv[argc++] = (char *)"-t";
	argv[argc++] = ms;
	if (c->user) {
		argv[argc++] = (char *)"-u";
		argv[argc++] = (char *)c->user;
		if (c->uid) {
			argv[argc++] = (char *)"-U";
			argv[argc++] = uid;
		}
	}
	if (c->spin_us) {
		snprintf(spin, sizeof(spin), "%" PRIu32, c->spin_us);
		argv[argc++] = (char *)"-s";
		argv[argc++] = spin;
	}
	if (c->test_cmds)
		argv[argc++] = (char *)"-T";
	if (c->mbox)
		argv[argc++] = (char *)"-x";
	if (c->debug)
		argv[argc++] = (char *)"-d";
	argv[argc] = NULL;

	/* off fds 3 and 4, which the dup2s below fill, and close-on-exec here */
	if (c->mbox) {
		mbox_fd = fcntl(c->mbox_fd, F_DUPFD_CLOEXEC, 10);
		if (mbox_fd < 0)
			return -errno;
	}
	err = vgpu_emsg_socketpair(sv);
	if (err) {
		if (mbox_fd >= 0)
			close(mbox_fd);
		return err;
	}
	/* dup2 onto itself would keep close-on-exec: keep the child's end off fd 3 */
	if (sv[1] == VGPU_EXEC_SOCK_FD) {
		int fd = fcntl(sv[1], F_DUPFD_CLOEXEC, 10);

		if (fd < 0) {
			err = -errno;
			close(sv[0]);
			close(sv[1]);
			if (mbox_fd >= 0)
				close(mbox_fd);
			return err;
		}
		close(sv[1]);
		sv[1] = fd;
	}
	/* the parent's blocked and ignored signals (signalfd, SIGPIPE) are not the child's */
	sigemptyset(&none);
	sigfillset(&all);
	err = posix_spawnattr_init(&sa);
	if (!err)
		err = posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (!err)
		err = posix_spawnattr_setsigmask(&sa, &none);
	if (!err)
		err = posix_spawnattr_setsigdefault(&sa, &all);
	if (!err)
		err = posix_spawn_file_actions_init(&fa);
	if (!err) {
		err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
		if (!err)
			err = posix_spawn_file_actions_adddup2(&fa, sv[1], VGPU_EXEC_SOCK_FD);
		if (!err && c->mbox)
			err = posix_spawn_file_actions_adddup2(&fa, mbox_fd, VGPU_EXEC_MBOX_FD);
		if (!err)
			err = posix_spawn(pid, c->path, &fa, &sa, argv,
					  c->env ? c->env : no_env);
		posix_spawn_file_actions_destroy(&fa);
	}
	posix_spawnattr_destroy(&sa);
	close(sv[1]);
	if (mbox_fd >= 0)
		close(mbox_fd);
	if (err) {
		close(sv[0]);
		return -err;
	}
	*sock = sv[0];
	return 0;
}
