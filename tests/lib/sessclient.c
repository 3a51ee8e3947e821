// SPDX-License-Identifier: MIT
/*
 * The host tests' session client (sessclient.h): version-2 requests
 * published the way every client publishes (tmp/, then rename into req/),
 * responses read with lib/spool.c and parsed with lib/session.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sessclient.h"

#define SC_OUT_LEN	(1u << 20)	/* bytes a test's response may take */

int sc_open(struct sess_client *c, const char *dir)
{
	const char *failed;

	memset(c, 0, sizeof(*c));
	c->next_id = 1;
	return vgpu_spool_open(dir, false, &c->sp, &failed);
}

void sc_close(struct sess_client *c)
{
	vgpu_spool_close(&c->sp);
}

int sc_submit(struct sess_client *c, const void *list, uint64_t len, uint64_t out_len,
	      uint64_t *id)
{
	struct vgpu_req_hdr h;
	uint8_t buf[VGPU_REQ_HDR_SIZE];
	char name[VGPU_ID_NAME_LEN + 1], why[VGPU_MSG_LEN];
	struct iovec iov[2] = { { buf, sizeof(buf) }, { (void *)list, (size_t)len } };
	int err;

	*id = c->next_id++;
	err = vgpu_session_req_build(&h, *id, list, len, out_len, why);
	if (err)
		return err;
	vgpu_req_encode(&h, buf);
	vgpu_id_name(h.id, name);
	return vgpu_publish(c->sp.tmp, name, c->sp.req, name, iov, 2, false);
}

int sc_wait(struct sess_client *c, uint64_t id, uint64_t out_len, int timeout_ms,
	    struct sess_reply *r)
{
	uint64_t deadline = vgpu_now_ns() + (uint64_t)timeout_ms * 1000000;
	char name[VGPU_ID_NAME_LEN + 1];
	int err;

	memset(r, 0, sizeof(*r));
	r->payload = malloc(out_len ? out_len : 1);
	if (!r->payload)
		return -ENOMEM;
	for (;;) {
		err = vgpu_rsp_read(c->sp.rsp, id, &r->rh, r->payload, out_len);
		if (err != -ENOENT)
			break;
		if (vgpu_now_ns() > deadline)
			return -ETIMEDOUT;
		nanosleep(&(struct timespec){ 0, 200000 }, NULL);
	}
	if (err)
		return err;
	vgpu_id_name(id, name);
	unlinkat(c->sp.rsp, name, 0);
	r->parse_err = -ENOENT;
	if (r->rh.payload_len)
		r->parse_err = vgpu_sess_rsp_parse(r->payload, r->rh.payload_len, &r->s, r->why);
	return 0;
}

int sc_run(struct sess_client *c, struct vgpu_sess_buf *b, int timeout_ms,
	   struct sess_reply *r)
{
	uint64_t id;
	int err;

	memset(r, 0, sizeof(*r));
	err = vgpu_sess_finish(b);
	if (!err)
		err = sc_submit(c, b->p, b->len, SC_OUT_LEN, &id);
	if (!err)
		err = sc_wait(c, id, SC_OUT_LEN, timeout_ms, r);
	return err;
}

struct vgpu_sess_result sc_result(const struct sess_reply *r, uint32_t i)
{
	struct vgpu_sess_result res = { 0 };

	if (!r->parse_err && i < r->s.hdr.nrun)
		vgpu_sess_rsp_result(&r->s, i, &res);
	return res;
}

void sc_reply_free(struct sess_reply *r)
{
	free(r->payload);
	r->payload = NULL;
}
