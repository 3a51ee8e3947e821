// SPDX-License-Identifier: MIT
/*
 * Response publishing: the last step of a request's life (accept.c has
 * the whole story). An answer is written next to the request in acc/ and
 * published into rsp/ by one rename, which removes the request and shows
 * the answer atomically: a crash leaves either the request (run again) or
 * the answer (collected), never both and never neither.
 *
 * Any thread runs this: the main thread rejects requests, a pool's
 * publisher (or its worker, when idle) answers the jobs the worker ran. A
 * call takes one VM's spool and one request and never the mediator or its
 * lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "respond.h"

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
	h->version = VGPU_PROTO_VERSION;
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
	char name[VGPU_ID_NAME_LEN + 1], tmp[VGPU_ID_NAME_LEN + sizeof(RSP_ERR_SUFFIX)];
	uint8_t buf[VGPU_RSP_HDR_SIZE];
	struct vgpu_rsp_hdr h;
	struct iovec iov = { buf, sizeof(buf) };
	int err;

	fill_rsp(&h, vm->conf.id, vm->conf.pool, vm->conf.prio, id, op, status, msg);
	h.queued_ns = h.finished_ns = vgpu_now_ns();
	h.crc32c = vgpu_rsp_crc(&h, 0);
	vgpu_rsp_encode(&h, buf);
	vgpu_id_name(id, name);
	snprintf(tmp, sizeof(tmp), "%s%s", name, RSP_ERR_SUFFIX);
	err = vgpu_publish(vm->sp.acc, tmp, vm->sp.rsp, name, &iov, 1, do_fsync);
	if (err)
		log_warnx("vm %s: cannot write error response %s: %s", vm->conf.name, name,
			  strerror(-err));
	return err;
}

int rsp_finish_job(struct job *j, bool do_fsync)
{
	uint64_t out_len = j->hdr.out_len;
	uint32_t out_crc = j->out_crc;
	struct vm *vm = j->vm;
	uint64_t req_size = j->hdr.hdr_size + j->hdr.payload_len;
	char name[VGPU_ID_NAME_LEN + 1];
	uint8_t buf[VGPU_RSP_HDR_SIZE];
	struct vgpu_rsp_hdr h;
	int err = 0;

	fill_rsp(&h, j->vm_id, j->pool, j->prio, j->hdr.id, j->hdr.op, j->status, j->msg);
	if (j->status) {		/* a failed job returns no output */
		out_len = 0;
		out_crc = 0;
		if (ftruncate(j->fd, (off_t)req_size) < 0)
			err = -errno;
	}
	h.payload_len = out_len;
	h.queued_ns = j->queued_ns;
	h.started_ns = j->started_ns;
	h.finished_ns = j->finished_ns;
	h.crc32c = vgpu_rsp_crc(&h, out_crc);
	vgpu_rsp_encode(&h, buf);
	if (!err)
		err = vgpu_pwrite_full(j->fd, buf, sizeof(buf), req_size + out_len);
	if (!err && do_fsync && fsync(j->fd) < 0)
		err = -errno;
	vgpu_id_name(j->hdr.id, name);
	if (!err && renameat(vm->sp.acc, name, vm->sp.rsp, name) < 0)
		err = -errno;
	if (err) {
		/* acc/ID stays: recovery publishes or reruns it after a restart. */
		log_warnx("vm %s: cannot publish response %s: %s", vm->conf.name, name,
			  strerror(-err));
		return err;
	}
	if (do_fsync) {
		fsync(vm->sp.rsp);
		fsync(vm->sp.acc);
	}
	return 0;
}
