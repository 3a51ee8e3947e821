// SPDX-License-Identifier: MIT
/*
 * Response publishing: the last step of a request's life (accept.c has
 * the whole story). An answer is written next to the request in the VM's
 * private record and published into rsp/ by one rename, which removes the
 * request and shows the answer atomically: a crash leaves either the
 * request (run again) or the answer (collected), never both and never
 * neither. An answer whose rename fails waits as ID.ans for a retry.
 *
 * Any thread runs this: the main thread rejects requests, a pool's
 * publisher (or its worker, when idle) answers the jobs the worker ran. A
 * call takes one VM's spool and one request and never the mediator or its
 * lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "respond.h"
#include "vgpu/session.h"

void rsp_scrub(char *s)
{
	for (; *s; s++)
		if (*s < 0x20 || *s > 0x7e)
			*s = '?';
}

static void fill_rsp(struct vgpu_rsp_hdr *h, uint32_t vm_id, unsigned int pool,
		     unsigned int prio, uint64_t id, uint32_t op, int status, const char *msg)
{
	memset(h, 0, sizeof(*h));
	h->magic = VGPU_RSP_MAGIC;
	h->version = op == VGPU_OP_SESSION ? VGPU_PROTO_VERSION_SESSION : VGPU_PROTO_VERSION;
	h->hdr_size = VGPU_RSP_HDR_SIZE;
	h->op = op;
	h->id = id;
	h->status = status;
	h->vm_id = vm_id;
	h->pool = (uint8_t)pool;
	h->priority = (uint8_t)prio;
	snprintf(h->msg, sizeof(h->msg), "%s", msg ? msg : "");
	rsp_scrub(h->msg);
}

int rsp_error(struct vm *vm, uint64_t id, uint32_t op, int status, const char *msg,
	      bool do_fsync)
{
	char name[VGPU_ID_NAME_LEN + sizeof(RSP_ANS_SUFFIX)];
	uint8_t buf[VGPU_RSP_HDR_SIZE];
	struct vgpu_rsp_hdr h;
	int fd, err;

	/* A fresh header: nothing of an earlier request can leak into it. */
	fill_rsp(&h, vm->conf.id, vm->conf.pool, vm->conf.prio, id, op, status, msg);
	h.queued_ns = h.finished_ns = vgpu_now_ns();
	h.crc32c = vgpu_rsp_crc(&h, 0);
	vgpu_rsp_encode(&h, buf);
	vgpu_id_name(id, name);
	strcat(name, RSP_ANS_SUFFIX);
	unlinkat(vm->priv, name, 0);	/* a stale one of ours */
	fd = openat(vm->priv, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	err = vgpu_pwrite_full(fd, buf, sizeof(buf), 0);
	if (!err && do_fsync && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (err)
		unlinkat(vm->priv, name, 0);
	return err;
}

int rsp_publish(struct vm *vm, uint64_t id, const char *from, int fd, bool do_fsync)
{
	char name[VGPU_ID_NAME_LEN + 1], ans[VGPU_ID_NAME_LEN + sizeof(RSP_ANS_SUFFIX)];
	int err = 0;

	vgpu_id_name(id, name);
	snprintf(ans, sizeof(ans), "%s%s", name, RSP_ANS_SUFFIX);
	if (do_fsync) {		/* what the rename publishes must be on disk first */
		int ofd = fd >= 0 ? fd : openat(vm->priv, from, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

		if (ofd < 0 || fsync(ofd) < 0)
			err = -errno;
		if (ofd >= 0 && ofd != fd)
			close(ofd);
	}
	if (!err && renameat(vm->priv, from, vm->sp.rsp, name) < 0)
		err = -errno;
	if (err) {
		if (strcmp(from, ans) && renameat(vm->priv, from, vm->priv, ans) < 0)
			return err;	/* stays as ID: recovery publishes it */
		atomic_store(&vm->unsettled, true);
		return err;
	}
	if (do_fsync) {
		fsync(vm->sp.rsp);
		fsync(vm->priv);
	}
	return 0;
}

int rsp_finish_job(struct job *j, bool do_fsync)
{
	uint64_t out_len = j->out_len;
	uint32_t out_crc = j->out_crc;
	struct vm *vm = j->vm;
	uint64_t req_size = j->hdr.hdr_size + j->hdr.payload_len;
	char name[VGPU_ID_NAME_LEN + 1];
	uint8_t buf[VGPU_RSP_HDR_SIZE];
	struct vgpu_rsp_hdr h;
	int err = 0;

	if (j->fd < 0)		/* never opened (open_job() said why) */
		return -EBADF;
	fill_rsp(&h, j->vm_id, j->pool, j->prio, j->hdr.id, j->hdr.op, j->status, j->msg);
	if (j->status && j->hdr.op != VGPU_OP_SESSION) {	/* no output */
		out_len = 0;
		out_crc = 0;
	}
	/*
	 * The request and its output (a session job's response, whatever
	 * its status), exactly: nothing an executor wrote past its response
	 * (protocol.rst, "Sessions") nor a guest holding an NFS handle
	 * appended stays, and a file it cut short is the length its trailer
	 * says (open_job() in sched.c).
	 */
	if (ftruncate(j->fd, (off_t)(req_size + out_len)) < 0)
		err = -errno;
	h.payload_len = out_len;
	h.queued_ns = j->queued_ns;
	h.started_ns = j->started_ns;
	h.finished_ns = j->finished_ns;
	h.crc32c = vgpu_rsp_crc(&h, out_crc);
	vgpu_rsp_encode(&h, buf);
	if (!err)
		err = vgpu_pwrite_full(j->fd, buf, sizeof(buf), req_size + out_len);
	vgpu_id_name(j->hdr.id, name);
	if (err) {
		/*
		 * A full spool: cut it back to the request and decide on it
		 * again, with backoff (vm_settle), so that it runs once there
		 * is room; if even that fails, recovery reruns it.
		 */
		char again[VGPU_ID_NAME_LEN + 8];

		vm_warnx(vm, "cannot write response %s (run again with backoff): %s", name,
			 strerror(-err));
		snprintf(again, sizeof(again), "%s%s", name, RSP_NEW_SUFFIX);
		if (ftruncate(j->fd, (off_t)req_size) == 0 &&
		    renameat(vm->priv, name, vm->priv, again) == 0)
			atomic_store(&vm->unsettled, true);
		return err;
	}
	err = rsp_publish(vm, j->hdr.id, name, j->fd, do_fsync);
	if (err)
		vm_warnx(vm, "cannot publish response %s (retried with backoff): %s", name,
			 strerror(-err));
	return err;
}
