// SPDX-License-Identifier: MIT
/*
 * vgpu-executor with its CPU backend, driven through its socketpair as the
 * mediator will drive it (dom0-lib/emsg.h), with no mediator: random
 * command lists against a model of device memory (fresh printed seed);
 * handles of one executor refused by another; quotas exact at their
 * boundary; every run-time error of protocol.rst; the crash and hang test
 * commands; bad messages from the parent; the dropped privileges. The
 * fixture's tests run twice: lists through files and fds, and through the
 * mailbox (emsg.h) as the mediator sends them; the mailbox's wait and post
 * are tested on their own against lost wake-ups.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/prctl.h>
#include <time.h>
#include <linux/capability.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "emsg.h"
#include "spool.h"
#include "testlib.h"
#include "vgpu/ops.h"
#include "vgpu/session.h"

#define LIST_OFF	96	/* where the list starts in the request file */
#define RSP_OFF		200	/* where the response goes in the response file */

struct xproc {
	pid_t pid;
	int sock;
	uint32_t epoch;
	struct vgpu_mbox *mb;	/* its mailbox, or NULL: lists through files */
	uint32_t seq;		/* the last run_seq posted */
};

static int start_spin(struct xproc *x, uint32_t epoch, uint64_t mem, uint32_t handles,
		      bool test_cmds, uint32_t spin_us, bool mbox)
{
	struct vgpu_exec_conf c = {
		.path = test_bin("vgpu-executor"), .user = "nobody", .backend = VGPU_EXEC_CPU,
		.epoch = epoch, .vm_id = epoch, .mem_quota = mem, .handle_quota = handles,
		.module_quota = 1 << 20, .test_cmds = test_cmds, .spin_us = spin_us,
	};
	struct vgpu_emsg m;
	char why[VGPU_SESS_MSG_LEN];
	int err;

	x->epoch = epoch;
	x->mb = NULL;
	x->seq = 0;
	if (mbox) {
		err = vgpu_mbox_create(&c.mbox_fd, &x->mb);
		if (err)
			return err;
		c.mbox = true;
	}
	err = vgpu_exec_spawn(&c, &x->pid, &x->sock);
	if (mbox)
		close(c.mbox_fd);
	if (err)
		return err;
	err = vgpu_emsg_recv(x->sock, &m);
	if (!err)
		err = vgpu_emsg_expect(&m, VGPU_EMSG_READY, sizeof(struct vgpu_emsg_ready), 0, why);
	return err;
}

static int start(struct xproc *x, uint32_t epoch, uint64_t mem, uint32_t handles,
		 bool test_cmds)
{
	return start_spin(x, epoch, mem, handles, test_cmds, 0, false);
}

/* Close the socket (the executor exits) and reap it; its wait status. */
static int stop(struct xproc *x)
{
	int st = -1;

	if (x->sock >= 0)
		close(x->sock);
	x->sock = -1;
	if (x->pid > 0)
		waitpid(x->pid, &st, 0);
	x->pid = 0;
	vgpu_mbox_unmap(x->mb);
	x->mb = NULL;
	return st;
}

static int memfd_with(const void *buf, size_t len, off_t off)
{
	int fd = memfd_create("t", MFD_CLOEXEC);

	if (fd >= 0 && len && pwrite(fd, buf, len, off) != (ssize_t)len) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A finished run: the DONE and the response bytes. */
struct xres {
	struct vgpu_emsg_done done;
	uint8_t *bytes;
	struct vgpu_sess_rsp rsp;
	int parse_err;
};

/* The bytes of a DONE's response at @p, checked and parsed into @r. */
static int take_rsp(struct xres *r, const uint8_t *p)
{
	char why[VGPU_SESS_MSG_LEN];

	r->bytes = malloc(r->done.rsp_len + 1);
	if (!r->bytes)
		return -ENOMEM;
	memcpy(r->bytes, p, r->done.rsp_len);
	if (vgpu_crc32c(0, r->bytes, r->done.rsp_len) != r->done.rsp_crc)
		return -EBADMSG;
	r->parse_err = vgpu_sess_rsp_parse(r->bytes, r->done.rsp_len, &r->rsp, why);
	return 0;
}

/* run_list() through the mailbox, as the mediator's mbox_run() does. */
static int run_mbox(struct xproc *x, const struct vgpu_sess_buf *b, uint64_t rsp_max,
		    int timeout_ms, struct xres *r)
{
	struct vgpu_emsg_run run = {
		.id = 7, .list_off = VGPU_MBOX_DATA, .list_len = b->len, .rsp_off = VGPU_MBOX_RSP,
		.rsp_max = rsp_max,
	};
	int err;

	memcpy(vgpu_mbox_at(x->mb, VGPU_MBOX_DATA), b->p, b->len);
	memcpy(&x->mb->run, &run, sizeof(run));
	err = vgpu_mbox_post(&x->mb->run_seq, ++x->seq, &x->mb->exec_sleeps, x->sock);
	if (!err)
		err = vgpu_mbox_wait(&x->mb->done_seq, x->seq - 1, &x->mb->parent_sleeps,
				     x->sock, 20000, vgpu_now_ns() + timeout_ms * 1000000ull);
	if (err)
		return err == 1 ? -EBADMSG : err;
	memcpy(&r->done, &x->mb->done, sizeof(r->done));
	if (atomic_load(&x->mb->done_seq) != x->seq || r->done.rsp_len > rsp_max)
		return -EBADMSG;
	return take_rsp(r, vgpu_mbox_at(x->mb, VGPU_MBOX_RSP));
}

/*
 * Send the list and wait up to @timeout_ms for DONE: 0, -ETIMEDOUT, -EPIPE
 * (the executor died) or another -errno. Through the mailbox if @x has one
 * and the list and response fit, as the mediator does.
 */
static int run_list(struct xproc *x, const struct vgpu_sess_buf *b, uint64_t rsp_max,
		    int timeout_ms, struct xres *r)
{
	struct vgpu_emsg_run run = {
		.id = 7, .list_off = LIST_OFF, .list_len = b->len, .rsp_off = RSP_OFF,
		.rsp_max = rsp_max,
	};
	struct pollfd pfd = { .fd = x->sock, .events = POLLIN };
	char why[VGPU_SESS_MSG_LEN];
	struct vgpu_emsg m;
	int fds[2], err;

	memset(r, 0, sizeof(*r));
	if (x->mb && b->len <= VGPU_MBOX_AREA && rsp_max <= VGPU_MBOX_AREA)
		return run_mbox(x, b, rsp_max, timeout_ms, r);
	fds[0] = memfd_with(b->p, b->len, LIST_OFF);
	fds[1] = memfd_with(NULL, 0, 0);
	if (fds[0] < 0 || fds[1] < 0)
		return -EIO;
	err = vgpu_emsg_send(x->sock, VGPU_EMSG_RUN, &run, sizeof(run), fds, 2);
	if (!err && poll(&pfd, 1, timeout_ms) == 0)
		err = -ETIMEDOUT;
	if (!err)
		err = vgpu_emsg_recv(x->sock, &m);
	if (!err)
		err = vgpu_emsg_expect(&m, VGPU_EMSG_DONE, sizeof(r->done), 0, why);
	if (!err) {
		uint8_t *p;

		memcpy(&r->done, m.body, sizeof(r->done));
		p = malloc(r->done.rsp_len + 1);
		if (!p || pread(fds[1], p, r->done.rsp_len, RSP_OFF) != (ssize_t)r->done.rsp_len)
			err = -EIO;
		else
			err = take_rsp(r, p);
		free(p);
	}
	close(fds[0]);
	close(fds[1]);
	return err;
}

static void xres_free(struct xres *r)
{
	free(r->bytes);
	r->bytes = NULL;
}

static struct vgpu_sess_result result(const struct xres *r, uint32_t i)
{
	struct vgpu_sess_result res;

	vgpu_sess_rsp_result(&r->rsp, i, &res);
	return res;
}

/* One command of a list under construction. */
#define CMD(...) (&(struct vgpu_sess_cmd){ __VA_ARGS__ })

FIXTURE(exec)
{
	struct xproc x;
	struct vgpu_sess_buf b;
	struct xres r;
};

FIXTURE_VARIANT(exec)
{
	bool mbox;
};

FIXTURE_VARIANT_ADD(exec, files)
{
	.mbox = false,
};

FIXTURE_VARIANT_ADD(exec, mailbox)
{
	.mbox = true,
};

FIXTURE_SETUP(exec)
{
	test_seed();
	memset(&self->r, 0, sizeof(self->r));
	/* polling for the next RUN between lists, as the mediator starts them */
	ASSERT_EQ(0, start_spin(&self->x, 5, 1 << 20, 64, false, 50, variant->mbox));
	vgpu_sess_begin(&self->b);
}

FIXTURE_TEARDOWN(exec)
{
	int st = stop(&self->x);

	vgpu_sess_buf_free(&self->b);
	xres_free(&self->r);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("executor status 0x%x", st);
}

/* Run self->b (finished here) and expect @status from command @failed. */
static int run_expect(struct __test_metadata *_metadata, struct xproc *x, struct vgpu_sess_buf *b,
		      struct xres *r, int status, uint32_t failed)
{
	xres_free(r);
	EXPECT_EQ(0, vgpu_sess_finish(b));
	EXPECT_EQ(0, run_list(x, b, 1 << 20, 5000, r));
	EXPECT_EQ(0, r->parse_err);
	if (r->parse_err || !r->bytes)
		return -1;
	EXPECT_EQ(status, r->rsp.hdr.status) TH_LOG("%s", r->rsp.hdr.msg);
	EXPECT_EQ(failed, r->rsp.hdr.failed) TH_LOG("%s", r->rsp.hdr.msg);
	EXPECT_EQ(status, r->done.status);
	EXPECT_EQ(x->epoch, r->rsp.hdr.epoch);
	printf("# %s\n", r->rsp.hdr.msg);
	fflush(stdout);
	vgpu_sess_buf_free(b);
	vgpu_sess_begin(b);
	return 0;
}

TEST_F(exec, copies_round_trip_and_handles_persist)
{
	static const char hello[] = "hello, device";
	uint64_t h;

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 64));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) },
				    .len = 64, .value = 0xab));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
				    .off = { 8 }, .data = hello, .data_len = sizeof(hello)));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
				    .off = { 6 }, .len = 2 + sizeof(hello) + 1));
	ASSERT_EQ(0, run_expect(_metadata, &self->x, &self->b, &self->r, 0, VGPU_SESS_NONE));
	ASSERT_EQ(5u, self->r.rsp.hdr.nrun);
	h = result(&self->r, 0).value;
	EXPECT_EQ(self->x.epoch, VGPU_SESS_HANDLE_EPOCH(h));
	{
		struct vgpu_sess_result d = result(&self->r, 4);
		const uint8_t *o = self->r.rsp.out + d.out_off;

		ASSERT_EQ(2 + sizeof(hello) + 1, d.out_len);
		EXPECT_EQ(0xab, o[0]);
		EXPECT_EQ(0, memcmp(o + 2, hello, sizeof(hello)));
		EXPECT_EQ(0xab, o[2 + sizeof(hello)]);
	}
	/* the next list names the handle */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { h }, .off = { 8 },
				    .len = sizeof(hello)));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { h }));
	ASSERT_EQ(0, run_expect(_metadata, &self->x, &self->b, &self->r, 0, VGPU_SESS_NONE));
	EXPECT_EQ(0, memcmp(self->r.rsp.out + result(&self->r, 0).out_off, hello, sizeof(hello)));
	/* freed: gone */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { h }));
	run_expect(_metadata, &self->x, &self->b, &self->r, -EBADF, 0);
}

/* The model: each live buffer's handle and bytes. */
struct mbuf {
	uint64_t handle;
	uint64_t size;
	uint8_t *bytes;
};

TEST_F(exec, random_lists_against_a_model_of_device_memory)
{
	struct mbuf bufs[16];
	unsigned int nbufs = 0;
	static uint8_t data[4096], expect_out[1 << 16];

	for (int list = 0; list < 60; list++) {
		/* per command: which model buffer it made (-1) and what output it expects */
		int made[24];
		uint64_t out_len[24];
		size_t out_at[24], eo = 0;
		unsigned int n = (unsigned int)test_rand_range(1, 24);
		unsigned int fresh = 0;

		for (unsigned int i = 0; i < n; i++) {
			unsigned int kind = (unsigned int)test_rand_range(0, 7);
			struct vgpu_sess_cmd c = { 0 };
			struct mbuf *a, *bb;
			uint64_t off, off2, len;

			made[i] = -1;
			out_len[i] = 0;
			if (!nbufs || (kind == 0 && nbufs < 16)) {
				/* alloc; later commands of this list name it by its slot */
				a = &bufs[nbufs];
				a->size = test_rand_range(1, 4096);
				a->bytes = calloc(1, a->size);
				a->handle = VGPU_SESS_SLOT(i);
				made[i] = (int)nbufs++;
				fresh++;
				c.code = VGPU_SESS_ALLOC;
				c.len = a->size;
				vgpu_sess_add(&self->b, &c);
				continue;
			}
			a = &bufs[test_rand() % nbufs];
			bb = &bufs[test_rand() % nbufs];
			off = test_rand_range(0, a->size);
			len = test_rand_range(0, a->size - off);
			c.ref[0] = a->handle;
			c.off[0] = off;
			c.len = len;
			switch (kind) {
			case 1:
				c.code = VGPU_SESS_MEMSET;
				c.value = test_rand() & 0xff;
				memset(a->bytes + off, (int)c.value, len);
				break;
			case 2: case 0:
				c.code = VGPU_SESS_COPY_H2D;
				test_rand_bytes(data, len);
				c.data = data;
				c.data_len = len;
				memcpy(a->bytes + off, data, len);
				break;
			case 3: case 4:
				c.code = VGPU_SESS_COPY_D2H;
				out_len[i] = len;
				out_at[i] = eo;
				memcpy(expect_out + eo, a->bytes + off, len);
				eo += len;
				break;
			case 5: case 6:
				c.code = VGPU_SESS_COPY_D2D;
				len = test_rand_range(0, a->size - off < bb->size ? a->size - off : bb->size);
				off2 = test_rand_range(0, bb->size - len);
				c.len = len;
				c.ref[1] = bb->handle;
				c.off[1] = off2;
				memmove(a->bytes + off, bb->bytes + off2, len);
				break;
			default: {
				/* checksum of a's range into bb */
				uint32_t crc;

				if (!len || bb->size < 4) {
					c.code = VGPU_SESS_TIMESTAMP;
					memset(c.ref, 0, sizeof(c.ref));
					memset(c.off, 0, sizeof(c.off));
					c.len = 0;
					break;
				}
				c.code = VGPU_SESS_OP;
				c.op = VGPU_OP_CHECKSUM;
				c.args[0] = len;
				c.len = 0;
				c.ref[2] = bb->handle;
				c.off[2] = test_rand_range(0, bb->size - 4);
				crc = htole32(vgpu_crc32c(0, a->bytes + off, len));
				memcpy(bb->bytes + c.off[2], &crc, 4);
				break;
			}
			}
			vgpu_sess_add(&self->b, &c);
		}
		ASSERT_EQ(0, run_expect(_metadata, &self->x, &self->b, &self->r, 0, VGPU_SESS_NONE));
		ASSERT_EQ(n, self->r.rsp.hdr.nrun);
		for (unsigned int i = 0; i < n; i++) {
			struct vgpu_sess_result res = result(&self->r, i);

			EXPECT_EQ(0, res.status);
			if (made[i] >= 0)
				bufs[made[i]].handle = res.value;	/* from now on by handle */
			if (!out_len[i])
				continue;
			ASSERT_EQ(out_len[i], res.out_len);
			EXPECT_EQ(0, memcmp(self->r.rsp.out + res.out_off, expect_out + out_at[i],
					    out_len[i])) TH_LOG("list %d command %u", list, i);
		}
		/* now and then free the oldest buffer */
		if (nbufs > 8) {
			vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { bufs[0].handle }));
			ASSERT_EQ(0, run_expect(_metadata, &self->x, &self->b, &self->r, 0,
						VGPU_SESS_NONE));
			free(bufs[0].bytes);
			memmove(bufs, bufs + 1, --nbufs * sizeof(bufs[0]));
		}
		(void)fresh;
	}
	/* the whole of device memory, read back, is the model */
	for (unsigned int k = 0; k < nbufs; k++) {
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { bufs[k].handle },
					    .len = bufs[k].size));
	}
	ASSERT_EQ(0, run_expect(_metadata, &self->x, &self->b, &self->r, 0, VGPU_SESS_NONE));
	for (unsigned int k = 0; k < nbufs; k++) {
		struct vgpu_sess_result res = result(&self->r, k);

		EXPECT_EQ(0, memcmp(self->r.rsp.out + res.out_off, bufs[k].bytes, bufs[k].size))
			TH_LOG("buffer %u", k);
		free(bufs[k].bytes);
	}
}

TEST_F(exec, an_op_on_buffers_matches_the_cpu_reference)
{
	float a[256], bv[256], c[256];
	uint64_t args[VGPU_NR_ARGS] = { 256 };

	test_rand_floats(a, 256);
	test_rand_floats(bv, 256);
	for (int i = 0; i < 256; i++)
		c[i] = a[i] + bv[i];
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 3 * sizeof(a)));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
				    .data = a, .data_len = sizeof(a)));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
				    .off = { sizeof(a) }, .data = bv, .data_len = sizeof(bv)));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_OP, .op = VGPU_OP_VECTOR_ADD,
				    .args = { args[0] },
				    .ref = { VGPU_SESS_SLOT(0), VGPU_SESS_SLOT(0), VGPU_SESS_SLOT(0) },
				    .off = { 0, sizeof(a), 2 * sizeof(a) }));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
				    .off = { 2 * sizeof(a) }, .len = sizeof(c)));
	ASSERT_EQ(0, run_expect(_metadata, &self->x, &self->b, &self->r, 0, VGPU_SESS_NONE));
	EXPECT_EQ(0, memcmp(self->r.rsp.out + result(&self->r, 4).out_off, c, sizeof(c)));
}

TEST_F(exec, every_run_time_error_is_the_documented_one)
{
	uint64_t h, stale;

	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 100));
	ASSERT_EQ(0, run_expect(_metadata, &self->x, &self->b, &self->r, 0, VGPU_SESS_NONE));
	h = result(&self->r, 0).value;

	/* offsets past the end: each command that addresses a range */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { h }, .off = { 90 }, .len = 11));
	run_expect(_metadata, &self->x, &self->b, &self->r, -ERANGE, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { h }, .off = { 101 }));
	run_expect(_metadata, &self->x, &self->b, &self->r, -ERANGE, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { h }, .len = 101));
	run_expect(_metadata, &self->x, &self->b, &self->r, -ERANGE, 1);
	EXPECT_EQ(2u, self->r.rsp.hdr.nrun);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2D, .ref = { h, h }, .off = { 0, 60 },
				    .len = 41));
	run_expect(_metadata, &self->x, &self->b, &self->r, -ERANGE, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_OP, .op = VGPU_OP_REDUCE_SUM, .args = { 25 },
				    .ref = { h, 0, h }, .off = { 4, 0, 0 }));
	run_expect(_metadata, &self->x, &self->b, &self->r, -ERANGE, 0);

	/* bad handles: never made, another epoch, freed, a slot freed in the list */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE,
				    .ref = { VGPU_SESS_HANDLE(self->x.epoch, 4000) }));
	run_expect(_metadata, &self->x, &self->b, &self->r, -EBADF, 0);
	stale = VGPU_SESS_HANDLE(self->x.epoch - 1, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { stale }));
	run_expect(_metadata, &self->x, &self->b, &self->r, -ESTALE, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(0) }));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) }, .len = 1));
	run_expect(_metadata, &self->x, &self->b, &self->r, -EBADF, 2);

	/* output that does not fit out_len */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { h }, .len = 100));
	ASSERT_EQ(0, vgpu_sess_finish(&self->b));
	xres_free(&self->r);
	ASSERT_EQ(0, run_list(&self->x, &self->b, VGPU_SESS_RSP_HDR_SIZE + VGPU_SESS_RESULT_SIZE + 99,
			      5000, &self->r));
	EXPECT_EQ(-ENOBUFS, self->r.rsp.hdr.status) TH_LOG("%s", self->r.rsp.hdr.msg);
	vgpu_sess_buf_free(&self->b);
	vgpu_sess_begin(&self->b);

	/* out_len too small for the results themselves: nothing runs */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	ASSERT_EQ(0, vgpu_sess_finish(&self->b));
	xres_free(&self->r);
	ASSERT_EQ(0, run_list(&self->x, &self->b, VGPU_SESS_RSP_HDR_SIZE + VGPU_SESS_RESULT_SIZE,
			      5000, &self->r));
	EXPECT_EQ(-ENOBUFS, self->r.rsp.hdr.status) TH_LOG("%s", self->r.rsp.hdr.msg);
	EXPECT_EQ(VGPU_SESS_NONE, self->r.rsp.hdr.failed);
	EXPECT_EQ(0u, self->r.rsp.hdr.nrun);
	vgpu_sess_buf_free(&self->b);
	vgpu_sess_begin(&self->b);

	/* an empty list is fine */
	run_expect(_metadata, &self->x, &self->b, &self->r, 0, VGPU_SESS_NONE);
	EXPECT_EQ(0u, self->r.rsp.hdr.ncmds);

	/* no modules on the CPU backend; test commands off */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MODULE_LOAD, .data = "x", .data_len = 1));
	run_expect(_metadata, &self->x, &self->b, &self->r, -EOPNOTSUPP, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TEST_CRASH));
	run_expect(_metadata, &self->x, &self->b, &self->r, -EPERM, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TEST_HANG));
	run_expect(_metadata, &self->x, &self->b, &self->r, -EPERM, 0);

	/* a malformed list runs nothing and names the command */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { h }, .len = 1));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(2) }));
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	run_expect(_metadata, &self->x, &self->b, &self->r, -EINVAL, 1);
	EXPECT_EQ(0u, self->r.rsp.hdr.nrun);
	vgpu_sess_add(&self->b, CMD(.code = 77));
	run_expect(_metadata, &self->x, &self->b, &self->r, -EBADRQC, 0);
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	ASSERT_EQ(0, vgpu_sess_finish(&self->b));
	self->b.len -= 8;	/* truncated */
	xres_free(&self->r);
	ASSERT_EQ(0, run_list(&self->x, &self->b, 1 << 20, 5000, &self->r));
	EXPECT_EQ(-EBADMSG, self->r.rsp.hdr.status);
	EXPECT_EQ(VGPU_SESS_NONE, self->r.rsp.hdr.failed);
}

TEST(handles_of_one_executor_are_refused_by_another)
{
	struct xproc a, b;
	struct vgpu_sess_buf l;
	struct xres r = { 0 };
	uint64_t ha;

	test_seed();
	ASSERT_EQ(0, start(&a, 11, 1 << 20, 16, false));
	ASSERT_EQ(0, start(&b, 12, 1 << 20, 16, false));
	vgpu_sess_begin(&l);
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 16));
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
			      .data = "secret of VM A!", .data_len = 16));
	ASSERT_EQ(0, run_expect(_metadata, &a, &l, &r, 0, VGPU_SESS_NONE));
	ha = result(&r, 0).value;
	/* B allocates the same way: same index, other epoch */
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 16));
	ASSERT_EQ(0, run_expect(_metadata, &b, &l, &r, 0, VGPU_SESS_NONE));
	EXPECT_NE(ha, result(&r, 0).value);
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { ha }, .len = 16));
	run_expect(_metadata, &b, &l, &r, -ESTALE, 0);
	EXPECT_EQ(0u, r.rsp.hdr.out_len);
	xres_free(&r);
	vgpu_sess_buf_free(&l);
	stop(&a);
	stop(&b);
}

TEST(quotas_are_exact_at_their_boundary)
{
	struct xproc x;
	struct vgpu_sess_buf l;
	struct xres r = { 0 };
	uint64_t h, big;

	test_seed();
	ASSERT_EQ(0, start(&x, 21, 4096, 3, false));
	vgpu_sess_begin(&l);
	/* memory: 4096 bytes exactly fit, one more does not */
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 4000));
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 96));
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	ASSERT_EQ(0, run_expect(_metadata, &x, &l, &r, -ENOMEM, 2));
	EXPECT_NE(NULL, strstr(r.rsp.hdr.msg, "quota")) TH_LOG("%s", r.rsp.hdr.msg);
	big = result(&r, 0).value;
	h = result(&r, 1).value;
	/* freeing gives it back */
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_FREE, .ref = { h }));
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 96));
	ASSERT_EQ(0, run_expect(_metadata, &x, &l, &r, 0, VGPU_SESS_NONE));
	/* handles: 1 live, two more fit, a fourth does not */
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_FREE, .ref = { big }));
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 48));
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 48));
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 1));
	ASSERT_EQ(0, run_expect(_metadata, &x, &l, &r, -ENOMEM, 3));
	EXPECT_NE(NULL, strstr(r.rsp.hdr.msg, "handle quota")) TH_LOG("%s", r.rsp.hdr.msg);
	xres_free(&r);
	vgpu_sess_buf_free(&l);
	EXPECT_EQ(0, stop(&x));
}

/* A bystander keeps working while @victim is crashed or hung. */
static void bystander_ok(struct __test_metadata *_metadata, struct xproc *by)
{
	struct vgpu_sess_buf l;
	struct xres r = { 0 };

	vgpu_sess_begin(&l);
	for (int i = 0; i < 20; i++) {
		vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
		vgpu_sess_add(&l, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
				      .data = "bystand", .data_len = 8));
		vgpu_sess_add(&l, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
				      .len = 8));
		vgpu_sess_add(&l, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(0) }));
		if (run_expect(_metadata, by, &l, &r, 0, VGPU_SESS_NONE))
			break;
		EXPECT_EQ(0, memcmp(r.rsp.out + result(&r, 2).out_off, "bystand", 8));
	}
	xres_free(&r);
	vgpu_sess_buf_free(&l);
}

TEST(the_crash_command_kills_that_executor_only)
{
	struct xproc x, by;
	struct vgpu_sess_buf l;
	struct xres r = { 0 };
	int st;

	test_seed();
	ASSERT_EQ(0, start(&x, 31, 1 << 20, 16, true));
	ASSERT_EQ(0, start(&by, 32, 1 << 20, 16, false));
	vgpu_sess_begin(&l);
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_ALLOC, .len = 8));
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_TEST_CRASH));
	ASSERT_EQ(0, vgpu_sess_finish(&l));
	EXPECT_EQ(-EPIPE, run_list(&x, &l, 1 << 20, 5000, &r));	/* EOF, no DONE */
	st = stop(&x);
	EXPECT_TRUE(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st))) TH_LOG("0x%x", st);
	bystander_ok(_metadata, &by);
	vgpu_sess_buf_free(&l);
	EXPECT_EQ(0, stop(&by));
}

TEST(a_hung_executor_is_killed_by_its_parent)
{
	struct xproc x, by;
	struct vgpu_sess_buf l;
	struct xres r = { 0 };
	int st;

	test_seed();
	ASSERT_EQ(0, start(&x, 41, 1 << 20, 16, true));
	ASSERT_EQ(0, start(&by, 42, 1 << 20, 16, false));
	vgpu_sess_begin(&l);
	vgpu_sess_add(&l, CMD(.code = VGPU_SESS_TEST_HANG));
	ASSERT_EQ(0, vgpu_sess_finish(&l));
	EXPECT_EQ(-ETIMEDOUT, run_list(&x, &l, 1 << 20, 200, &r));	/* the time limit */
	bystander_ok(_metadata, &by);
	EXPECT_EQ(0, kill(x.pid, SIGKILL));
	st = stop(&x);
	EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) TH_LOG("0x%x", st);
	vgpu_sess_buf_free(&l);
	EXPECT_EQ(0, stop(&by));
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Both ends of a session wait with vgpu_emsg_wait(): it polls for its
 * spin time (CPU spent), then sleeps (none) until the message or the
 * deadline, and takes a message that is already there at once. */
TEST(emsg_wait_spins_then_sleeps_until_the_deadline_or_a_message)
{
	uint64_t t0, c0, wall, cpu;
	int sv[2];

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv));
	/* sleeping only: 30 ms of wall time, little CPU */
	t0 = vgpu_now_ns(), c0 = cpu_ns();
	EXPECT_EQ(-ETIMEDOUT, vgpu_emsg_wait(sv[0], 0, t0 + 30000000));
	wall = vgpu_now_ns() - t0, cpu = cpu_ns() - c0;
	EXPECT_GE(wall, 30000000u);
	EXPECT_LT(cpu, 10000000u) TH_LOG("%llu ns of CPU asleep", (unsigned long long)cpu);
	/* 20 ms of polling within 30: most of the 20 ms is CPU */
	t0 = vgpu_now_ns(), c0 = cpu_ns();
	EXPECT_EQ(-ETIMEDOUT, vgpu_emsg_wait(sv[0], 20000000, t0 + 30000000));
	wall = vgpu_now_ns() - t0, cpu = cpu_ns() - c0;
	EXPECT_GE(wall, 30000000u);
	EXPECT_GE(cpu, 2000000u) TH_LOG("%llu ns of CPU polling", (unsigned long long)cpu);
	/* a spin longer than the time left ends at the deadline */
	t0 = vgpu_now_ns();
	EXPECT_EQ(-ETIMEDOUT, vgpu_emsg_wait(sv[0], UINT64_MAX, t0 + 5000000));
	EXPECT_GE(vgpu_now_ns() - t0, 5000000u);
	/* a message: at once, spinning or not, with no deadline */
	ASSERT_EQ(0, vgpu_emsg_send(sv[1], VGPU_EMSG_DONE, NULL, 0, NULL, 0));
	EXPECT_EQ(0, vgpu_emsg_wait(sv[0], 0, UINT64_MAX));
	EXPECT_EQ(0, vgpu_emsg_wait(sv[0], 1000000000, UINT64_MAX));
	/* the peer gone: readable (end of file), for the caller's recv to say */
	close(sv[1]);
	EXPECT_EQ(0, vgpu_emsg_wait(sv[0], 0, vgpu_now_ns() + 1000000000));
	close(sv[0]);
}

/* One side of a ping-pong through a mailbox: the parent's or the executor's. */
struct pingpong {
	struct vgpu_mbox *mb;
	int sock;
	bool parent;
	unsigned int rounds, seed;
	int err;		/* the first failure, or 0 */
};

static void *pingpong_side(void *arg)
{
	struct pingpong *pp = arg;
	struct vgpu_mbox *mb = pp->mb;
	unsigned int seed = pp->seed;

	for (uint32_t i = 1; i <= pp->rounds && !pp->err; i++) {
		/* spin: none (every wait sleeps) to longer than the other's delay */
		uint64_t spin = rand_r(&seed) % 3 ? 0 : rand_r(&seed) % 40000;
		uint64_t deadline = vgpu_now_ns() + 10000000000ull;	/* lost: 10 s */

		if (rand_r(&seed) % 4 == 0)
			usleep(rand_r(&seed) % 50);
		if (pp->parent) {
			pp->err = vgpu_mbox_post(&mb->run_seq, i, &mb->exec_sleeps, pp->sock);
			if (!pp->err)
				pp->err = vgpu_mbox_wait(&mb->done_seq, i - 1, &mb->parent_sleeps,
							 pp->sock, spin, deadline);
			if (!pp->err && atomic_load(&mb->done_seq) != i)
				pp->err = -EBADMSG;
		} else {
			pp->err = vgpu_mbox_wait(&mb->run_seq, i - 1, &mb->exec_sleeps, pp->sock,
						 spin, deadline);
			if (!pp->err)
				pp->err = vgpu_mbox_post(&mb->done_seq, i, &mb->parent_sleeps,
							 pp->sock);
		}
	}
	return NULL;
}

TEST(mbox_post_and_wait_never_lose_a_wake_up)
{
	struct pingpong side[2];
	struct vgpu_mbox *mb;
	pthread_t t[2];
	int sv[2], fd;

	test_seed();
	ASSERT_EQ(0, vgpu_emsg_socketpair(sv));
	ASSERT_EQ(0, vgpu_mbox_create(&fd, &mb));
	for (int i = 0; i < 2; i++) {
		side[i] = (struct pingpong){ .mb = mb, .sock = sv[i], .parent = i == 0,
					     .rounds = 5000, .seed = (unsigned int)test_rand() };
		ASSERT_EQ(0, pthread_create(&t[i], NULL, pingpong_side, &side[i]));
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		EXPECT_EQ(0, side[i].err) TH_LOG("%s side: %s", i ? "executor" : "parent",
						 strerror(-side[i].err));
	}
	EXPECT_EQ(5000u, atomic_load(&mb->done_seq));
	vgpu_mbox_unmap(mb);
	close(fd);
	close(sv[0]);
	close(sv[1]);
}

TEST(mbox_wait_tells_a_timeout_a_message_and_the_peer_gone)
{
	struct vgpu_mbox *mb;
	struct vgpu_emsg m;
	uint64_t t0;
	int sv[2], fd;

	ASSERT_EQ(0, vgpu_emsg_socketpair(sv));
	ASSERT_EQ(0, vgpu_mbox_create(&fd, &mb));
	/* nothing moves: the deadline, spinning or asleep */
	t0 = vgpu_now_ns();
	EXPECT_EQ(-ETIMEDOUT, vgpu_mbox_wait(&mb->done_seq, 0, &mb->parent_sleeps, sv[0], 0,
					     t0 + 20000000));
	EXPECT_GE(vgpu_now_ns() - t0, 20000000u);
	EXPECT_EQ(-ETIMEDOUT, vgpu_mbox_wait(&mb->done_seq, 0, &mb->parent_sleeps, sv[0],
					     UINT64_MAX, vgpu_now_ns() + 5000000));
	EXPECT_EQ(0u, atomic_load(&mb->parent_sleeps));
	/* a stray KICK is taken and is no wake-up */
	ASSERT_EQ(0, vgpu_emsg_send(sv[1], VGPU_EMSG_KICK, NULL, 0, NULL, 0));
	EXPECT_EQ(-ETIMEDOUT, vgpu_mbox_wait(&mb->done_seq, 0, &mb->parent_sleeps, sv[0], 0,
					     vgpu_now_ns() + 20000000));
	EXPECT_EQ(-ETIMEDOUT, vgpu_emsg_wait(sv[0], 0, vgpu_now_ns() + 1000000));	/* taken */
	/* a moved counter, seen spinning or asleep, with no KICK needed */
	atomic_store(&mb->done_seq, 1);
	EXPECT_EQ(0, vgpu_mbox_wait(&mb->done_seq, 0, &mb->parent_sleeps, sv[0], 0, UINT64_MAX));
	EXPECT_EQ(0, vgpu_mbox_wait(&mb->done_seq, 0, &mb->parent_sleeps, sv[0], 1000000,
				    UINT64_MAX));
	/* no sleeper: a post sends nothing */
	EXPECT_EQ(0, vgpu_mbox_post(&mb->run_seq, 1, &mb->exec_sleeps, sv[0]));
	EXPECT_EQ(-ETIMEDOUT, vgpu_emsg_wait(sv[1], 0, vgpu_now_ns() + 10000000));
	/* another message: for the caller, left on the socket */
	ASSERT_EQ(0, vgpu_emsg_send(sv[1], VGPU_EMSG_DONE, NULL, 0, NULL, 0));
	EXPECT_EQ(1, vgpu_mbox_wait(&mb->done_seq, 1, &mb->parent_sleeps, sv[0], 0, UINT64_MAX));
	ASSERT_EQ(0, vgpu_emsg_recv(sv[0], &m));
	EXPECT_EQ((uint32_t)VGPU_EMSG_DONE, m.type);
	/* the peer gone, asleep or posting to a sleeper */
	atomic_store(&mb->exec_sleeps, 1);
	close(sv[1]);
	EXPECT_EQ(-EPIPE, vgpu_mbox_wait(&mb->done_seq, 1, &mb->parent_sleeps, sv[0], 0,
					 vgpu_now_ns() + 1000000000));
	EXPECT_EQ(-EPIPE, vgpu_mbox_post(&mb->run_seq, 2, &mb->exec_sleeps, sv[0]));
	vgpu_mbox_unmap(mb);
	close(fd);
	close(sv[0]);
}

TEST(late_kicks_are_taken_and_nothing_else)
{
	struct vgpu_emsg m;
	int sv[2], n;

	test_seed();
	n = (int)test_rand_range(1, VGPU_MBOX_LATE_KICKS_MAX);
	ASSERT_EQ(0, vgpu_emsg_socketpair(sv));
	EXPECT_EQ(0, vgpu_mbox_take_kicks(sv[0]));	/* none: nothing waits */
	for (int i = 0; i < n; i++)
		ASSERT_EQ(0, vgpu_emsg_send(sv[1], VGPU_EMSG_KICK, NULL, 0, NULL, 0));
	EXPECT_EQ(0, vgpu_mbox_take_kicks(sv[0]));
	EXPECT_EQ(-ETIMEDOUT, vgpu_emsg_wait(sv[0], 0, vgpu_now_ns() + 1000000));
	/* KICKs then a DONE: the DONE stays for the caller */
	for (int i = 0; i < n; i++)
		ASSERT_EQ(0, vgpu_emsg_send(sv[1], VGPU_EMSG_KICK, NULL, 0, NULL, 0));
	ASSERT_EQ(0, vgpu_emsg_send(sv[1], VGPU_EMSG_DONE, NULL, 0, NULL, 0));
	EXPECT_EQ(1, vgpu_mbox_take_kicks(sv[0]));
	ASSERT_EQ(0, vgpu_emsg_recv(sv[0], &m));
	EXPECT_EQ((uint32_t)VGPU_EMSG_DONE, m.type);
	/* a flood is no late KICK: refused, and the call returns */
	for (int i = 0; i < VGPU_MBOX_LATE_KICKS_MAX + 1 + n; i++)
		ASSERT_EQ(0, vgpu_emsg_send(sv[1], VGPU_EMSG_KICK, NULL, 0, NULL, 0));
	EXPECT_EQ(-EPROTO, vgpu_mbox_take_kicks(sv[0]));
	while (vgpu_mbox_take_kicks(sv[0]) == -EPROTO)
		;
	/* KICKs then end of file: gone */
	ASSERT_EQ(0, vgpu_emsg_send(sv[1], VGPU_EMSG_KICK, NULL, 0, NULL, 0));
	close(sv[1]);
	EXPECT_EQ(-EPIPE, vgpu_mbox_take_kicks(sv[0]));
	close(sv[0]);
}

TEST(a_mailbox_is_a_sealed_memfd_of_its_size)
{
	struct vgpu_mbox *mb, *other;
	int fd, bad;

	ASSERT_EQ(0, vgpu_mbox_create(&fd, &mb));
	/* neither side can shrink it under the other (a SIGBUS in the mediator) */
	EXPECT_NE(0, ftruncate(fd, 4096));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, vgpu_mbox_map(fd, &other));
	vgpu_mbox_unmap(other);
	/* unsealed, or of another size: refused */
	bad = memfd_create("t", MFD_CLOEXEC);
	ASSERT_LE(0, bad);
	ASSERT_EQ(0, ftruncate(bad, VGPU_MBOX_SIZE));
	EXPECT_EQ(-EBADF, vgpu_mbox_map(bad, &other));
	close(bad);
	bad = memfd_create("t", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ASSERT_LE(0, bad);
	ASSERT_EQ(0, ftruncate(bad, VGPU_MBOX_SIZE / 2));
	ASSERT_EQ(0, fcntl(bad, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL));
	EXPECT_EQ(-EINVAL, vgpu_mbox_map(bad, &other));
	close(bad);
	vgpu_mbox_unmap(mb);
	close(fd);
}

TEST_F(exec, a_mailbox_run_out_of_range_is_refused)
{
	struct vgpu_emsg_run run = {
		.id = 9, .list_off = VGPU_MBOX_DATA, .list_len = VGPU_MBOX_AREA + 1,
		.rsp_off = VGPU_MBOX_RSP, .rsp_max = 4096,
	};
	struct vgpu_mbox *mb = self->x.mb;

	if (!variant->mbox)
		SKIP(return, "lists through files here");
	/* a list past its area, then a response area elsewhere */
	for (int i = 0; i < 2; i++) {
		if (i) {
			run.list_len = 64;
			run.rsp_off = VGPU_MBOX_DATA;
		}
		memcpy(&mb->run, &run, sizeof(run));
		ASSERT_EQ(0, vgpu_mbox_post(&mb->run_seq, ++self->x.seq, &mb->exec_sleeps,
					    self->x.sock));
		ASSERT_EQ(0, vgpu_mbox_wait(&mb->done_seq, self->x.seq - 1, &mb->parent_sleeps,
					    self->x.sock, 0, vgpu_now_ns() + 5000000000ull));
		EXPECT_EQ(-EINVAL, mb->done.status);
		EXPECT_EQ(0u, mb->done.rsp_len);
		EXPECT_EQ(9u, mb->done.id);
		printf("# %s\n", mb->done.msg);
	}
	/* and it still runs a good list */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	run_expect(_metadata, &self->x, &self->b, &self->r, 0, VGPU_SESS_NONE);
}

/* Mailbox or not, one executor takes a list too big for it as a message. */
TEST_F(exec, a_response_too_big_for_the_mailbox_goes_through_files)
{
	for (int i = 0; i < 3; i++) {
		uint64_t rsp_max = i == 1 ? VGPU_MBOX_AREA + 4096ull : 1 << 20;

		xres_free(&self->r);
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
		ASSERT_EQ(0, vgpu_sess_finish(&self->b));
		ASSERT_EQ(0, run_list(&self->x, &self->b, rsp_max, 5000, &self->r));
		EXPECT_EQ(0, self->r.parse_err);
		EXPECT_EQ(0, self->r.done.status) TH_LOG("%s", self->r.done.msg);
		EXPECT_EQ(1u, self->r.rsp.hdr.nrun);
		vgpu_sess_buf_free(&self->b);
		vgpu_sess_begin(&self->b);
	}
	if (self->x.mb)	/* the first and the last through the mailbox */
		EXPECT_EQ(2u, atomic_load(&self->x.mb->done_seq));
}

TEST_F(exec, bad_messages_from_the_parent_are_refused)
{
	struct vgpu_emsg_run run = { .list_len = 32, .rsp_max = 4096 };
	int fd = memfd_with(NULL, 0, 0), fds[2] = { fd, fd };

	/* wrong fd count, wrong length, a bare header, garbage type */
	EXPECT_EQ(0, vgpu_emsg_send(self->x.sock, VGPU_EMSG_RUN, &run, sizeof(run), fds, 1));
	EXPECT_EQ(0, vgpu_emsg_send(self->x.sock, VGPU_EMSG_RUN, &run, 8, fds, 2));
	EXPECT_EQ(4, send(self->x.sock, "abcd", 4, 0));
	EXPECT_EQ(0, vgpu_emsg_send(self->x.sock, 99, NULL, 0, NULL, 0));
	close(fd);
	/* and it still runs a good list */
	vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
	run_expect(_metadata, &self->x, &self->b, &self->r, 0, VGPU_SESS_NONE);
}

TEST_F(exec, it_runs_unprivileged_with_only_its_socket)
{
	char path[64], line[256];
	int uid = -1, nnp = -1, nfds = 0;
	struct dirent *d;
	FILE *f;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/status", self->x.pid);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "Uid: %d", &uid);
		sscanf(line, "NoNewPrivs: %d", &nnp);
	}
	fclose(f);
	EXPECT_EQ(1, nnp);
	if (getuid() == 0)
		EXPECT_EQ(65534, uid);	/* nobody */
	snprintf(path, sizeof(path), "/proc/%d/fd", self->x.pid);
	dir = opendir(path);
	ASSERT_NE(NULL, dir);
	while ((d = readdir(dir)))
		if (d->d_name[0] != '.')
			nfds += atoi(d->d_name) > VGPU_EXEC_SOCK_FD ? 100 : 1;
	closedir(dir);
	/* 0, 1 (the text pipe), 2, 3 and the pipe's read end */
	EXPECT_LE(nfds, 105) TH_LOG("fds: %d", nfds);
}

/* -U: a uid of the VM's own, with the user's groups; and not dumpable */
TEST(an_executor_runs_as_its_vms_own_uid_and_is_not_dumpable)
{
	struct vgpu_exec_conf c = {
		.path = test_bin("vgpu-executor"), .user = "nobody", .backend = VGPU_EXEC_CPU,
		.epoch = 7, .vm_id = 7, .mem_quota = 1 << 20, .handle_quota = 8,
		.module_quota = 1 << 20,
	};
	struct xproc x = { .epoch = 7 };
	struct vgpu_emsg m;
	char path[64], line[256], why[VGPU_SESS_MSG_LEN];
	int uid = -1;
	struct stat st;
	FILE *f;

	if (getuid() != 0)
		SKIP(return, "not root: the executor keeps the caller's uid");
	test_seed();
	c.uid = (uint32_t)test_rand_range(100000, 1u << 30);
	ASSERT_EQ(0, vgpu_exec_spawn(&c, &x.pid, &x.sock));
	ASSERT_EQ(0, vgpu_emsg_recv(x.sock, &m));
	ASSERT_EQ(0, vgpu_emsg_expect(&m, VGPU_EMSG_READY, sizeof(struct vgpu_emsg_ready), 0, why))
		TH_LOG("%s", why);
	snprintf(path, sizeof(path), "/proc/%d/status", x.pid);
	f = fopen(path, "r");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f))
		sscanf(line, "Uid: %d", &uid);
	fclose(f);
	EXPECT_EQ((int)c.uid, uid);
	/* a process that is not dumpable has its /proc entries owned by root */
	snprintf(path, sizeof(path), "/proc/%d/fd", x.pid);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(0u, st.st_uid);
	EXPECT_EQ(0, WEXITSTATUS(stop(&x)));
}

/*
 * The capabilities vgpu-mediator.service leaves the mediator are enough to
 * start an executor as another user: in a child whose bounding set is the
 * unit's CapabilityBoundingSet (and no_new_privs, as the unit sets), an
 * executor comes up READY as nobody.
 */
TEST(an_executor_starts_under_the_units_capabilities)
{
	static const struct { const char *name; int cap; } caps[] = {
		{ "CAP_CHOWN", CAP_CHOWN }, { "CAP_DAC_OVERRIDE", CAP_DAC_OVERRIDE },
		{ "CAP_DAC_READ_SEARCH", CAP_DAC_READ_SEARCH }, { "CAP_FOWNER", CAP_FOWNER },
		{ "CAP_KILL", CAP_KILL }, { "CAP_SETGID", CAP_SETGID },
		{ "CAP_SETUID", CAP_SETUID }, { "CAP_SYS_NICE", CAP_SYS_NICE },
	};
	char line[512] = "", *tok, *save = NULL;
	bool keep[CAP_LAST_CAP + 1] = { false };
	FILE *f = fopen(VGPU_SRCDIR "/dom0-mediator/vgpu-mediator.service", "r");
	int st;
	pid_t pid;

	if (getuid() != 0)
		SKIP(return, "not root: no capabilities to drop");
	ASSERT_NE(NULL, f);
	while (fgets(line, sizeof(line), f) && strncmp(line, "CapabilityBoundingSet=", 22))
		;
	fclose(f);
	ASSERT_EQ(0, strncmp(line, "CapabilityBoundingSet=", 22));
	printf("# %s", line);
	for (tok = strtok_r(line + 22, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		size_t i;

		for (i = 0; i < sizeof(caps) / sizeof(caps[0]) && strcmp(caps[i].name, tok); i++)
			;
		ASSERT_LT(i, sizeof(caps) / sizeof(caps[0])) TH_LOG("unknown to this test: %s", tok);
		keep[caps[i].cap] = true;
	}
	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct vgpu_exec_conf c = {
			.path = test_bin("vgpu-executor"), .user = "nobody",
			.backend = VGPU_EXEC_CPU, .epoch = 9, .vm_id = 9, .mem_quota = 1 << 20,
			.handle_quota = 8, .module_quota = 1 << 20,
		};
		struct xproc x = { .epoch = 9 };
		struct vgpu_emsg m;
		char why[VGPU_SESS_MSG_LEN];

		st = 0;
		for (int cap = 0; cap <= CAP_LAST_CAP; cap++)
			if (!keep[cap] && prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
				_exit(2);
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
		    vgpu_exec_spawn(&c, &x.pid, &x.sock) || vgpu_emsg_recv(x.sock, &m))
			_exit(3);
		if (vgpu_emsg_expect(&m, VGPU_EMSG_READY, sizeof(struct vgpu_emsg_ready), 0, why)) {
			printf("# the executor did not start: %.*s\n", (int)m.len, (char *)m.body);
			fflush(stdout);
			_exit(4);
		}
		/* and the mediator can kill it (a job over its time limit) */
		if (kill(x.pid, SIGKILL) || waitpid(x.pid, &st, 0) != x.pid || !WIFSIGNALED(st))
			_exit(5);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("status 0x%x: 2 bounding set, 3 spawn, 4 not READY, 5 cannot kill it", st);
}

TEST(a_cuda_executor_without_a_device_says_why)
{
	struct vgpu_exec_conf c = {
		.path = test_bin("vgpu-executor"), .user = "nobody", .backend = VGPU_EXEC_CUDA,
		.epoch = 51, .mem_quota = 1 << 20, .handle_quota = 4, .module_quota = 1 << 20,
	};
	struct xproc x = { .epoch = 51 };
	struct vgpu_emsg m;
	int err, st;

	ASSERT_EQ(0, vgpu_exec_spawn(&c, &x.pid, &x.sock));
	err = vgpu_emsg_recv(x.sock, &m);
	st = stop(&x);
	if (err == -EPIPE && WIFEXITED(st) && WEXITSTATUS(st) == 1)
		SKIP(return, "vgpu-executor built without the CUDA backend");
	ASSERT_EQ(0, err);
	if (m.type == VGPU_EMSG_READY)
		SKIP(return, "a CUDA device is here");
	ASSERT_EQ(VGPU_EMSG_FATAL, m.type);
	EXPECT_LT(0u, m.len);
	printf("# FATAL: %.*s\n", (int)m.len, (const char *)m.body);
	fflush(stdout);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 1) TH_LOG("0x%x", st);
}

/* Mutated lists: each gets a DONE with a well-formed response, and the
 * executor lives on (it is what parses hostile input). */
TEST_F(exec, mutated_lists_never_take_the_executor_down)
{
	static const int documented[] = {
		0, -EBADMSG, -EINVAL, -EBADF, -EOVERFLOW, -E2BIG, -EBADRQC, -EOPNOTSUPP,
		-ESTALE, -ERANGE, -ENOMEM, -ENOBUFS, -EPERM,
	};
	uint8_t data[64];

	test_rand_bytes(data, sizeof(data));
	for (int round = 0; round < 300; round++) {
		int ok = 0, err;

		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_ALLOC, .len = 4096));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_H2D, .ref = { VGPU_SESS_SLOT(0) },
					    .off = { 8 }, .data = data, .data_len = sizeof(data)));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_MEMSET, .ref = { VGPU_SESS_SLOT(0) },
					    .off = { 100 }, .len = 50, .value = 3));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2D,
					    .ref = { VGPU_SESS_SLOT(0), VGPU_SESS_SLOT(0) },
					    .off = { 1000, 0 }, .len = 200));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_OP, .op = VGPU_OP_CHECKSUM,
					    .args = { 256 }, .ref = { VGPU_SESS_SLOT(0), 0,
					    VGPU_SESS_SLOT(0) }, .off = { 0, 0, 2048 }));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_TIMESTAMP));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_COPY_D2H, .ref = { VGPU_SESS_SLOT(0) },
					    .len = 300));
		vgpu_sess_add(&self->b, CMD(.code = VGPU_SESS_FREE, .ref = { VGPU_SESS_SLOT(0) }));
		ASSERT_EQ(0, vgpu_sess_finish(&self->b));
		for (int k = (int)test_rand_range(0, 6); k > 0; k--)
			self->b.p[test_rand_range(0, self->b.len - 1)] = (uint8_t)test_rand();
		xres_free(&self->r);
		ASSERT_EQ(0, run_list(&self->x, &self->b, test_rand() % 4 ? 1 << 20 : 400, 5000,
				      &self->r)) TH_LOG("round %d", round);
		ASSERT_EQ(0, self->r.parse_err) TH_LOG("round %d", round);
		err = self->r.rsp.hdr.status;
		for (size_t d = 0; d < sizeof(documented) / sizeof(documented[0]); d++)
			ok |= err == documented[d];
		EXPECT_TRUE(ok) TH_LOG("round %d: %d %s", round, err, self->r.rsp.hdr.msg);
		vgpu_sess_buf_free(&self->b);
		vgpu_sess_begin(&self->b);
	}
}

TEST_HARNESS_MAIN
