// SPDX-License-Identifier: MIT
/*
 * libvgpu.so.1 (include/vgpu/vgpu.h) end to end over VM spool directories
 * served by a real mediator with the CPU backend and its executors, fresh
 * printed seed: every command kind, slot references, handles that persist
 * between runs of one reused list and reply, a failing command's index,
 * message and the results around it, lists checked before they are sent,
 * too small output room, the built-in ops, several threads sharing one
 * handle, a timeout that leaves its job behind, the builder's limits, the
 * errors of opening, and the Python example (python/examples/saxpy.py).
 * Linked against the shared library itself, as a program outside the
 * tree would be.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "testlib.h"
#include "vgpu/ops.h"
#include "vgpu/session.h"
#include "vgpu/vgpu.h"

#define TIMEOUT_MS	20000
#define NTHREADS	6	/* threads sharing one handle */
#define NRUNS		25	/* lists each runs */

#define VMS \
	"[vm c1]\nid = 51\npool = B\npriority = high\n" \
	"[vm c2]\nid = 52\npool = A\npriority = low\n" \
	"[vm py]\nid = 53\npool = A\npriority = medium\n" \
	"[vm c3]\nid = 54\npool = B\npriority = low\nsession_mem_bytes = " C3_MEM "\n" \
	"session_module_bytes = 1048576\nsession_handles = 77\nsession_time_limit_ms = 4321\n"
#define C3_MEM	"50331648"	/* 48 MiB */

FIXTURE(lib) {
	struct test_mediator t;
	struct vgpu_device *dev;	/* on vm c1 */
	struct vgpu_list *l;
	struct vgpu_reply *r;
	char dir[512];
	char why[VGPU_WHY_LEN];
};

FIXTURE_SETUP(lib)
{
	setvbuf(stdout, NULL, _IOLBF, 0);	/* the child's comments survive its _exit() */
	test_seed();
	ASSERT_EQ(0, tm_init(&self->t, NULL, VMS));
	ASSERT_EQ(0, tm_start(&self->t)) TH_LOG("see %s", self->t.log);
	tm_vmdir(&self->t, "c1", self->dir, sizeof(self->dir));
	ASSERT_EQ(0, vgpu_open(self->dir, &self->dev, self->why)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, vgpu_list_new(&self->l));
	ASSERT_EQ(0, vgpu_reply_new(&self->r));
}

FIXTURE_TEARDOWN(lib)
{
	vgpu_reply_free(self->r);
	vgpu_list_free(self->l);
	vgpu_close(self->dev);
	if (self->t.pid > 0)
		EXPECT_EQ(0, tm_stop(&self->t, SIGTERM)) TH_LOG("see %s", self->t.log);
	tm_cleanup(&self->t);
}

static uint32_t f32_bits(float f)
{
	uint32_t u;

	memcpy(&u, &f, sizeof(u));
	return u;
}

/* The result of @cmd, which must have run: its status. */
static struct vgpu_cmd_result result(const struct vgpu_reply *r, uint64_t cmd)
{
	struct vgpu_cmd_result res = { .argsz = sizeof(res) };

	if (vgpu_reply_get(r, cmd, &res))
		res.status = -ENOENT;
	return res;
}

TEST_F(lib, every_command_kind)
{
	uint64_t n = test_rand_range(1, 8192), bytes = n * 4, off = test_rand_range(0, 64) * 4;
	uint64_t a, b, c, z, ts0, ts1, ms, h2d, d2d, op, d2h, d2h_z, fr, len;
	float *x = malloc(bytes), *y = malloc(bytes), alpha = (float)test_rand_range(1, 7) / 4;
	struct vgpu_job_desc d = {
		.op = VGPU_OP_SAXPY, .args = { n, f32_bits(alpha) },
		.in_len = 2 * bytes, .out_len = bytes,
	};
	uint8_t *in = malloc(2 * bytes), zeros[64], seven[64];
	struct vgpu_reply_info info = { .argsz = sizeof(info) };
	char msg[VGPU_MSG_LEN];
	const uint8_t *out;
	double err;

	ASSERT_TRUE(x && y && in);
	test_rand_floats(x, n);
	test_rand_floats(y, n);
	memcpy(in, x, bytes);
	memcpy(in + bytes, y, bytes);
	memset(zeros, 0, sizeof(zeros));
	memset(seven, 7, sizeof(seven));

	/* a, b: x and y at @off; c: y copied device to device; saxpy into c */
	ASSERT_EQ(0, vgpu_cmd_alloc(self->l, off + bytes, &a));
	ASSERT_EQ(0, vgpu_cmd_alloc(self->l, off + bytes, &b));
	ASSERT_EQ(0, vgpu_cmd_alloc(self->l, bytes, &c));
	ASSERT_EQ(0, vgpu_cmd_alloc(self->l, 64, &z));
	ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, &ts0));
	ASSERT_EQ(0, vgpu_cmd_memset(self->l, z, 0, 64, 7, &ms));
	ASSERT_EQ(0, vgpu_cmd_copy_h2d(self->l, a, off, x, bytes, &h2d));
	ASSERT_EQ(0, vgpu_cmd_copy_h2d(self->l, b, off, y, bytes, NULL));
	ASSERT_EQ(0, vgpu_cmd_copy_d2d(self->l, c, 0, b, off, bytes, &d2d));
	ASSERT_EQ(0, vgpu_cmd_op(self->l, VGPU_OP_SAXPY, d.args, (uint64_t[3]){ a, c, c },
				 (uint64_t[3]){ off, 0, 0 }, &op));
	ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, &ts1));
	ASSERT_EQ(0, vgpu_cmd_copy_d2h(self->l, c, 0, bytes, &d2h));
	ASSERT_EQ(0, vgpu_cmd_copy_d2h(self->l, z, 0, 64, &d2h_z));
	ASSERT_EQ(0, vgpu_cmd_free(self->l, a, &fr));
	ASSERT_EQ(14u, vgpu_list_count(self->l));
	EXPECT_TRUE(VGPU_REF_IS_SLOT(a) && VGPU_REF_INDEX(a) == 0 && VGPU_REF_INDEX(fr) == 13);

	ASSERT_EQ(0, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why))
		TH_LOG("%s", self->why);
	ASSERT_EQ(0, vgpu_reply_info(self->r, &info));
	EXPECT_EQ(VGPU_REPLY_F_ANSWERED, info.flags);
	EXPECT_EQ(0, info.status);
	EXPECT_EQ(-1, info.failed);
	EXPECT_EQ(14u, info.ncmds);
	EXPECT_EQ(14u, info.nrun);
	EXPECT_NE(0u, info.epoch);
	EXPECT_STREQ("ok", vgpu_reply_message(self->r));
	EXPECT_LE(info.queued_ns, info.started_ns);
	EXPECT_LE(info.started_ns, info.finished_ns);

	/* handles for alloc, a time for timestamp, nothing for the rest */
	for (uint64_t ref = a; ref <= z; ref++) {
		struct vgpu_cmd_result res = result(self->r, ref);

		EXPECT_EQ(VGPU_CMD_ALLOC, res.code);
		EXPECT_EQ(0, res.status);
		EXPECT_FALSE(VGPU_REF_IS_SLOT(res.value) || !res.value);
		EXPECT_EQ(res.value, vgpu_reply_value(self->r, VGPU_REF_INDEX(ref)));
	}
	EXPECT_NE(vgpu_reply_value(self->r, a), vgpu_reply_value(self->r, b));
	EXPECT_EQ(VGPU_CMD_TIMESTAMP, result(self->r, ts0).code);
	EXPECT_LE(vgpu_reply_value(self->r, ts0), vgpu_reply_value(self->r, ts1));
	EXPECT_EQ(VGPU_CMD_MEMSET, result(self->r, ms).code);
	EXPECT_EQ(VGPU_CMD_COPY_H2D, result(self->r, h2d).code);
	EXPECT_EQ(VGPU_CMD_COPY_D2D, result(self->r, d2d).code);
	EXPECT_EQ(VGPU_CMD_OP, result(self->r, op).code);
	EXPECT_EQ(VGPU_CMD_FREE, result(self->r, fr).code);
	EXPECT_EQ(0u, vgpu_reply_value(self->r, op));
	EXPECT_EQ(NULL, vgpu_reply_output(self->r, op, &len));
	EXPECT_EQ(0u, len);

	out = vgpu_reply_output(self->r, d2h, &len);
	ASSERT_EQ(bytes, len);
	EXPECT_EQ(0, vgpu_cpu_verify(&d, in, out, &err, msg)) TH_LOG("%s", msg);
	out = vgpu_reply_output(self->r, d2h_z, &len);
	ASSERT_EQ(64u, len);
	EXPECT_EQ(0, memcmp(out, seven, 64));
	printf("# saxpy of %" PRIu64 " floats at offset %" PRIu64 ": relative error %g\n", n, off,
	       err);

	/* The module commands reach the executor, which on the CPU backend runs
	 * no modules: module_load is -EOPNOTSUPP; the others, given a buffer
	 * where a module belongs, -EBADF. Each fails as its command. */
	{
		static const uint8_t ptx[] = ".version 8.0\n.target sm_90\n";
		uint8_t params[16];
		struct vgpu_patch patch = { .param_off = 8, .buf = vgpu_reply_value(self->r, z),
					    .off = 64 };
		struct vgpu_launch la = {
			.argsz = sizeof(la), .flags = VGPU_LAUNCH_F_COOPERATIVE,
			.module = vgpu_reply_value(self->r, b), .name = "_Z4fillPf",
			.grid = { 2, 1, 1 }, .block = { 128, 1, 1 }, .shared_bytes = 256,
			.param_len = sizeof(params), .params = params, .patches = &patch,
			.npatches = 1,
		};
		struct {
			int code, status;
		} want[] = {
			{ VGPU_CMD_MODULE_LOAD, -EOPNOTSUPP }, { VGPU_CMD_MODULE_UNLOAD, -EBADF },
			{ VGPU_CMD_MODULE_DESCRIBE, -EBADF }, { VGPU_CMD_LAUNCH, -EBADF },
		};

		memset(params, 0, sizeof(params));
		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
			uint64_t ts, cmd;

			vgpu_list_reset(self->l);
			ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, &ts));
			switch (want[i].code) {
			case VGPU_CMD_MODULE_LOAD:
				ASSERT_EQ(0, vgpu_cmd_module_load(self->l, ptx, sizeof(ptx), &cmd));
				break;
			case VGPU_CMD_MODULE_UNLOAD:
				ASSERT_EQ(0, vgpu_cmd_module_unload(self->l, la.module, &cmd));
				break;
			case VGPU_CMD_MODULE_DESCRIBE:
				ASSERT_EQ(0, vgpu_cmd_module_describe(self->l, la.module, &cmd));
				break;
			default:
				ASSERT_EQ(0, vgpu_cmd_launch(self->l, &la, &cmd));
				break;
			}
			EXPECT_EQ(want[i].status, vgpu_run(self->dev, self->l, self->r,
							   TIMEOUT_MS, self->why));
			printf("# %s\n", self->why);
			EXPECT_EQ(0, strncmp(self->why, "command 1 (", 11)) TH_LOG("%s", self->why);
			EXPECT_EQ(want[i].code, (int)result(self->r, cmd).code);
			EXPECT_EQ(want[i].status, result(self->r, cmd).status);
			EXPECT_EQ(0, result(self->r, ts).status);
		}
	}
	free(x);
	free(y);
	free(in);
}

TEST_F(lib, handles_persist_between_runs_of_one_list_and_reply)
{
	size_t len = (size_t)test_rand_range(1, 65536);
	uint8_t *data = malloc(len);
	uint64_t a, back, h, n;
	const uint8_t *out;

	ASSERT_NE(NULL, data);
	test_rand_bytes(data, len);
	/* slot references: the buffer command 0 makes, within the list */
	ASSERT_EQ(0, vgpu_cmd_alloc(self->l, len, &a));
	ASSERT_EQ(0, vgpu_cmd_copy_h2d(self->l, a, 0, data, len, NULL));
	ASSERT_EQ(0, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why))
		TH_LOG("%s", self->why);
	h = vgpu_reply_value(self->r, a);
	ASSERT_NE(0u, h);
	ASSERT_FALSE(VGPU_REF_IS_SLOT(h));

	/* the handle in the next runs: same list and reply, reset */
	for (int run = 0; run < 3; run++) {
		uint64_t off = test_rand_range(0, len - 1);

		vgpu_list_reset(self->l);
		EXPECT_EQ(0u, vgpu_list_count(self->l));
		ASSERT_EQ(0, vgpu_cmd_copy_d2h(self->l, h, off, len - off, &back));
		ASSERT_EQ(0, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why))
			TH_LOG("%s", self->why);
		out = vgpu_reply_output(self->r, back, &n);
		ASSERT_EQ(len - off, n);
		EXPECT_EQ(0, memcmp(out, data + off, n));
	}
	/* running the same list again gives the same */
	ASSERT_EQ(0, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	out = vgpu_reply_output(self->r, back, &n);
	ASSERT_NE(NULL, out);

	/* freed, the handle is refused by the next list */
	vgpu_list_reset(self->l);
	ASSERT_EQ(0, vgpu_cmd_free(self->l, h, NULL));
	ASSERT_EQ(0, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	vgpu_list_reset(self->l);
	ASSERT_EQ(0, vgpu_cmd_copy_d2h(self->l, h, 0, 1, NULL));
	EXPECT_EQ(-EBADF, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	EXPECT_EQ(0, strncmp(self->why, "command 0 (copy_d2h): ", 22)) TH_LOG("%s", self->why);
	free(data);
}

TEST_F(lib, a_failing_command_names_itself)
{
	uint32_t k = (uint32_t)test_rand_range(1, 40), after = (uint32_t)test_rand_range(1, 10);
	struct vgpu_reply_info info = { .argsz = sizeof(info) };
	uint64_t buf, bad, ref;
	char want[64];

	ASSERT_EQ(0, vgpu_cmd_alloc(self->l, 4096, &buf));
	for (uint32_t i = 1; i < k; i++)
		ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, NULL));
	/* past the end of the buffer: -ERANGE while it runs */
	ASSERT_EQ(0, vgpu_cmd_copy_d2h(self->l, buf, 4000, 97, &bad));
	for (uint32_t i = 0; i < after; i++)
		ASSERT_EQ(0, vgpu_cmd_memset(self->l, buf, 0, 8, 1, &ref));
	EXPECT_EQ(-ERANGE, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	snprintf(want, sizeof(want), "command %u (copy_d2h): ", k);
	EXPECT_EQ(0, strncmp(self->why, want, strlen(want))) TH_LOG("%s", self->why);
	EXPECT_STREQ(self->why, vgpu_reply_message(self->r));
	printf("# %s\n", self->why);
	ASSERT_EQ(0, vgpu_reply_info(self->r, &info));
	EXPECT_EQ(VGPU_REPLY_F_ANSWERED, info.flags);
	EXPECT_EQ(-ERANGE, info.status);
	EXPECT_EQ((int32_t)k, info.failed);
	EXPECT_EQ(k + 1, info.nrun);
	EXPECT_EQ(k + 1 + after, info.ncmds);
	/* before it: results; it: its error; after it: did not run */
	EXPECT_EQ(0, result(self->r, buf).status);
	EXPECT_NE(0u, vgpu_reply_value(self->r, buf));
	EXPECT_EQ(-ERANGE, result(self->r, bad).status);
	EXPECT_EQ(-ECANCELED, result(self->r, ref).status);
	EXPECT_EQ(VGPU_CMD_MEMSET, result(self->r, ref).code);
	{
		struct vgpu_cmd_result res = { .argsz = sizeof(res) };

		EXPECT_EQ(-ENOENT, vgpu_reply_get(self->r, k + 1 + after, &res));
		res.argsz = 8;
		EXPECT_EQ(-EINVAL, vgpu_reply_get(self->r, 0, &res));
	}

	/* the outputs of the commands before a failed one come back whole */
	{
		uint8_t bytes[100];
		uint64_t out, len, d2h;
		const void *o;

		test_rand_bytes(bytes, sizeof(bytes));
		vgpu_list_reset(self->l);
		ASSERT_EQ(0, vgpu_cmd_alloc(self->l, 4096, &buf));
		ASSERT_EQ(0, vgpu_cmd_copy_h2d(self->l, buf, 8, bytes, sizeof(bytes), NULL));
		ASSERT_EQ(0, vgpu_cmd_copy_d2h(self->l, buf, 8, sizeof(bytes), &d2h));
		ASSERT_EQ(0, vgpu_cmd_device_info(self->l, &out));
		ASSERT_EQ(0, vgpu_cmd_copy_d2h(self->l, buf, 4000, 97, &bad));
		for (uint32_t i = 0; i < after; i++)
			ASSERT_EQ(0, vgpu_cmd_copy_d2h(self->l, buf, 0, 4096, NULL));
		EXPECT_EQ(-ERANGE, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
		o = vgpu_reply_output(self->r, d2h, &len);
		ASSERT_NE(NULL, o);
		EXPECT_EQ(sizeof(bytes), len);
		EXPECT_EQ(0, memcmp(o, bytes, sizeof(bytes)));
		o = vgpu_reply_output(self->r, out, &len);
		EXPECT_EQ(VGPU_SESS_DEVINFO_SIZE, len);
		EXPECT_EQ(NULL, vgpu_reply_output(self->r, bad, &len));
	}

	/* A list Dom0 would refuse is refused here, as Dom0 would, unsent. */
	vgpu_list_reset(self->l);
	ASSERT_EQ(0, vgpu_cmd_alloc(self->l, 64, &buf));
	ASSERT_EQ(0, vgpu_cmd_memset(self->l, buf, 0, 64, 256, NULL));
	EXPECT_EQ(-EINVAL, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	EXPECT_EQ(0, strncmp(self->why, "command 1: memset", 17)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, vgpu_reply_info(self->r, &info));
	EXPECT_EQ(0u, info.flags);	/* not answered: not sent */
	EXPECT_EQ(1, info.failed);
	EXPECT_EQ(-EINVAL, result(self->r, 1).status);
	printf("# %s\n", self->why);
	vgpu_list_reset(self->l);
	ASSERT_EQ(0, vgpu_cmd_free(self->l, VGPU_REF_SLOT | 0, NULL));	/* forward */
	EXPECT_EQ(-EINVAL, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	printf("# %s\n", self->why);
}

TEST_F(lib, too_small_output_room)
{
	uint64_t n = test_rand_range(2, 4096), buf, d2h, need, got;
	uint8_t in[64], out[64];
	struct vgpu_reply_info info = { .argsz = sizeof(info) };

	ASSERT_EQ(0, vgpu_cmd_alloc(self->l, n, &buf));
	ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, NULL));
	ASSERT_EQ(0, vgpu_cmd_copy_d2h(self->l, buf, 0, n, &d2h));
	need = vgpu_list_out_bytes(self->l);
	EXPECT_EQ(176u + 3 * 32 + ((n + 7) & ~7ull), need);

	/* one byte short of the computed room: the copy does not fit */
	vgpu_list_set_out_bytes(self->l, need - 8);
	EXPECT_EQ(need - 8, vgpu_list_out_bytes(self->l));
	EXPECT_EQ(-ENOBUFS, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	printf("# %s\n", self->why);
	ASSERT_EQ(0, vgpu_reply_info(self->r, &info));
	EXPECT_EQ(2, info.failed);
	EXPECT_EQ(0, result(self->r, 1).status);
	/* not even room for the results: the list fails as a whole */
	vgpu_list_set_out_bytes(self->l, 176 + 32);
	EXPECT_EQ(-ENOBUFS, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	ASSERT_EQ(0, vgpu_reply_info(self->r, &info));
	EXPECT_EQ(-1, info.failed);
	EXPECT_EQ(0u, info.nrun);
	printf("# %s\n", self->why);
	/* the computed room again */
	vgpu_list_set_out_bytes(self->l, 0);
	EXPECT_EQ(0, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why))
		TH_LOG("%s", self->why);

	/* a built-in op whose output does not fit the caller's buffer */
	test_rand_bytes(in, sizeof(in));
	EXPECT_EQ(-EINVAL, vgpu_call_op(self->dev, VGPU_OP_VECTOR_ADD, (uint64_t[4]){ 8 }, in,
					64, out, 31, &got, TIMEOUT_MS, self->why));
	printf("# %s\n", self->why);
	EXPECT_EQ(0, vgpu_call_op(self->dev, VGPU_OP_VECTOR_ADD, (uint64_t[4]){ 8 }, in, 64,
				  out, 32, &got, TIMEOUT_MS, self->why)) TH_LOG("%s", self->why);
	EXPECT_EQ(32u, got);
}

TEST_F(lib, builtin_ops_and_device_info)
{
	struct vgpu_device_info di = { .argsz = sizeof(di) };
	uint64_t n = test_rand_range(1, 1 << 16), in_len, out_len, got = 0;
	struct vgpu_job_desc d = { .op = VGPU_OP_CHECKSUM, .args = { n } };
	uint8_t *in = malloc(n);
	uint32_t crc = 0;
	char msg[VGPU_MSG_LEN];
	double err;

	ASSERT_NE(NULL, in);
	ASSERT_EQ(0, vgpu_device_info(self->dev, &di, self->why));
	EXPECT_EQ(VGPU_DEVICE_F_SPOOL, di.flags);	/* nothing answered yet */
	ASSERT_EQ(0, vgpu_op_bytes(VGPU_OP_CHECKSUM, d.args, &in_len, &out_len, self->why));
	EXPECT_EQ(n, in_len);
	EXPECT_EQ(4u, out_len);
	d.in_len = in_len;
	d.out_len = out_len;
	EXPECT_EQ(-EOPNOTSUPP, vgpu_op_bytes(99, d.args, &in_len, &out_len, self->why));
	EXPECT_EQ(-EINVAL, vgpu_op_bytes(VGPU_OP_VECTOR_ADD, (uint64_t[4]){ 0 }, &in_len,
					 &out_len, self->why));
	test_rand_bytes(in, n);
	ASSERT_EQ(0, vgpu_call_op(self->dev, VGPU_OP_CHECKSUM, d.args, in, n, &crc, sizeof(crc),
				  &got, TIMEOUT_MS, self->why)) TH_LOG("%s", self->why);
	EXPECT_EQ(4u, got);
	EXPECT_EQ(0, vgpu_cpu_verify(&d, in, &crc, &err, msg)) TH_LOG("%s", msg);
	/* Dom0's answers: an unknown op, a bad shape */
	EXPECT_EQ(-EOPNOTSUPP, vgpu_call_op(self->dev, 99, (uint64_t[4]){ 0 }, NULL, 0, NULL, 0,
					    NULL, TIMEOUT_MS, self->why));
	printf("# %s\n", self->why);
	EXPECT_EQ(-EINVAL, vgpu_call_op(self->dev, VGPU_OP_CHECKSUM, d.args, in, n - 1, &crc,
					sizeof(crc), NULL, TIMEOUT_MS, self->why));
	printf("# %s\n", self->why);
	EXPECT_EQ(-EINVAL, vgpu_call_op(self->dev, VGPU_OP_SESSION, (uint64_t[4]){ 0 }, NULL, 0,
					NULL, 0, NULL, TIMEOUT_MS, self->why));

	/* after an answer the spool knows its VM: id 51, pool B, high */
	ASSERT_EQ(0, vgpu_device_info(self->dev, &di, self->why));
	EXPECT_EQ(VGPU_DEVICE_F_SPOOL | VGPU_DEVICE_F_ASSIGNED, di.flags);
	EXPECT_EQ(51u, di.vm_id);
	EXPECT_EQ(1u, di.pool);
	EXPECT_EQ(2u, di.priority);
	EXPECT_EQ(0u, di.max_job_bytes);
	di.argsz = 4;
	EXPECT_EQ(-EINVAL, vgpu_device_info(self->dev, &di, self->why));
	free(in);
}

struct worker {
	struct vgpu_device *dev;
	uint64_t seed;
	int failures;
	char why[VGPU_WHY_LEN];
};

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* NRUNS lists of its own on the shared handle, each checked. */
static void *worker(void *arg)
{
	struct worker *w = arg;
	struct vgpu_list *l = NULL;
	struct vgpu_reply *r = NULL;
	uint8_t data[2048];

	if (vgpu_list_new(&l) || vgpu_reply_new(&r)) {
		w->failures++;
		goto out;
	}
	for (int i = 0; i < NRUNS; i++) {
		size_t len = 1 + xorshift(&w->seed) % sizeof(data);
		uint64_t a, back, n = 0, crc = 0, got = 0;
		const void *out;

		for (size_t k = 0; k < len; k++)
			data[k] = (uint8_t)xorshift(&w->seed);
		vgpu_list_reset(l);
		if (vgpu_cmd_alloc(l, len, &a) || vgpu_cmd_copy_h2d(l, a, 0, data, len, NULL) ||
		    vgpu_cmd_copy_d2h(l, a, 0, len, &back) || vgpu_cmd_free(l, a, NULL) ||
		    vgpu_run(w->dev, l, r, TIMEOUT_MS, w->why)) {
			w->failures++;
			continue;
		}
		out = vgpu_reply_output(r, back, &n);
		if (n != len || memcmp(out, data, len)) {
			snprintf(w->why, sizeof(w->why), "run %d: output differs", i);
			w->failures++;
		}
		/* and a built-in op between the lists */
		if (vgpu_call_op(w->dev, VGPU_OP_CHECKSUM, (uint64_t[4]){ len }, data, len, &crc,
				 4, &got, TIMEOUT_MS, w->why) ||
		    (uint32_t)crc != vgpu_crc32c(0, data, len)) {
			w->failures++;
		}
	}
out:
	vgpu_reply_free(r);
	vgpu_list_free(l);
	return NULL;
}

/* vm c3's quotas and use as the device record tells them, its session clock */
TEST_F(lib, device_props_are_the_vms_quotas_and_use)
{
	struct vgpu_device_props p = { .argsz = sizeof(p) }, q = { .argsz = sizeof(p) };
	struct vgpu_device *dev;
	uint64_t used = 0, ref, ts[2], len, n = test_rand_range(1, 20);
	const void *out;
	char dir[512];

	tm_vmdir(&self->t, "c3", dir, sizeof(dir));
	ASSERT_EQ(0, vgpu_open(dir, &dev, self->why)) TH_LOG("%s", self->why);
	ASSERT_EQ(0, vgpu_device_props(dev, &p, TIMEOUT_MS, self->why)) TH_LOG("%s", self->why);
	EXPECT_STREQ("vgpu CPU reference", p.name);
	EXPECT_EQ(0u, p.flags & VGPU_PROPS_F_GPU);
	EXPECT_EQ(9u, p.cc_major);
	EXPECT_EQ(0u, p.cc_minor);
	EXPECT_EQ(32u, p.warp_size);
	EXPECT_LE(1u, p.multiprocessors);
	EXPECT_EQ(strtoull(C3_MEM, NULL, 10), p.total_mem);
	EXPECT_EQ(0u, p.mem_used);
	EXPECT_EQ(1048576u, p.module_quota);
	EXPECT_EQ(77u, p.handle_quota);
	EXPECT_EQ(0u, p.handles_used);
	EXPECT_EQ(4321u, p.time_limit_ms);
	EXPECT_EQ(1u, p.lists_run);
	EXPECT_NE(0u, p.epoch);

	/* n buffers of random sizes, then the record and a timestamp in one list */
	for (uint64_t i = 0; i < n; i++) {
		uint64_t size = test_rand_range(1, 1 << 20);

		ASSERT_EQ(0, vgpu_cmd_alloc(self->l, size, NULL));
		used += size;
	}
	ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, &ts[0]));
	ASSERT_EQ(0, vgpu_cmd_device_info(self->l, &ref));
	ASSERT_EQ(0, vgpu_run(dev, self->l, self->r, TIMEOUT_MS, self->why))
		TH_LOG("%s", self->why);
	out = vgpu_reply_output(self->r, ref, &len);
	ASSERT_EQ(0, vgpu_device_props_decode(out, len, &q));
	EXPECT_EQ(used, q.mem_used);
	EXPECT_EQ(n, q.handles_used);
	EXPECT_EQ(2u, q.lists_run);
	EXPECT_EQ(p.epoch, q.epoch);
	ts[0] = vgpu_reply_value(self->r, ts[0]);

	/* the session clock runs across lists: a later list's time is later */
	usleep(20000);
	vgpu_list_reset(self->l);
	ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, &ts[1]));
	ASSERT_EQ(0, vgpu_run(dev, self->l, self->r, TIMEOUT_MS, self->why))
		TH_LOG("%s", self->why);
	ts[1] = vgpu_reply_value(self->r, ts[1]);
	printf("# timestamps %" PRIu64 " then %" PRIu64 " ns\n", ts[0], ts[1]);
	EXPECT_LE(ts[0] + 20000000, ts[1]);

	/* what a caller gets wrong */
	q.argsz = sizeof(q) - 1;
	EXPECT_EQ(-EINVAL, vgpu_device_props(dev, &q, TIMEOUT_MS, self->why));
	EXPECT_EQ(-EINVAL, vgpu_device_props_decode(NULL, 0, &p));
	EXPECT_EQ(-EBADMSG, vgpu_device_props_decode("short", 5, &p));
	EXPECT_EQ(-EINVAL, vgpu_cmd_module_global(self->l, ref, "", NULL));
	vgpu_close(dev);
}

TEST_F(lib, threads_share_one_handle)
{
	struct worker w[NTHREADS];
	pthread_t tid[NTHREADS];

	for (int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .dev = self->dev, .seed = test_rand() | 1 };
		ASSERT_EQ(0, pthread_create(&tid[i], NULL, worker, &w[i]));
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(tid[i], NULL);
		EXPECT_EQ(0, w[i].failures) TH_LOG("thread %d: %s", i, w[i].why);
	}
	printf("# %d threads x %d lists and ops on one handle\n", NTHREADS, NRUNS);
}

TEST_F(lib, a_timeout_leaves_the_job_to_the_handle)
{
	uint64_t got = 1;

	/* 400 ms of spinning, given 50 ms: -ETIMEDOUT; its answer comes later
	 * and is dropped by whichever call collects next */
	EXPECT_EQ(-ETIMEDOUT, vgpu_call_op(self->dev, VGPU_OP_SPIN, (uint64_t[4]){ 400000000 },
					   NULL, 0, NULL, 0, &got, 50, self->why));
	printf("# %s\n", self->why);
	EXPECT_EQ(0u, got);
	ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, NULL));
	EXPECT_EQ(-ETIMEDOUT, vgpu_run(self->dev, self->l, self->r, 50, self->why));
	EXPECT_EQ(-ENOENT, result(self->r, 0).status);	/* no reply */
	/* the next run waits behind them and gets its own answer */
	EXPECT_EQ(0, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why))
		TH_LOG("%s", self->why);
	EXPECT_EQ(0, vgpu_call_op(self->dev, VGPU_OP_NOOP, (uint64_t[4]){ 0 }, NULL, 0, NULL, 0,
				  NULL, TIMEOUT_MS, self->why)) TH_LOG("%s", self->why);
	/* and one left behind at close is freed with the handle (ASan) */
	EXPECT_EQ(-ETIMEDOUT, vgpu_call_op(self->dev, VGPU_OP_SPIN, (uint64_t[4]){ 100000000 },
					   NULL, 0, NULL, 0, NULL, 1, self->why));
}

TEST_F(lib, the_builder_limits_and_sticky_errors)
{
	uint64_t bytes = 32, ref, want_out = 176;
	char why[VGPU_WHY_LEN];
	struct vgpu_launch la = { .argsz = 8, .name = "k" };

	EXPECT_EQ(0u, vgpu_list_count(self->l));
	EXPECT_EQ(32u, vgpu_list_bytes(self->l));
	for (uint32_t i = 0; i < 4096; i++) {
		ASSERT_EQ(0, vgpu_cmd_alloc(self->l, 8, &ref));
		ASSERT_EQ(i, VGPU_REF_INDEX(ref));
		bytes += 32;
		want_out += 32;
	}
	EXPECT_EQ(4096u, vgpu_list_count(self->l));
	EXPECT_EQ(bytes, vgpu_list_bytes(self->l));
	EXPECT_EQ(want_out, vgpu_list_out_bytes(self->l));
	EXPECT_EQ(0, vgpu_list_error(self->l, why));
	EXPECT_EQ(-E2BIG, vgpu_cmd_timestamp(self->l, &ref));
	EXPECT_EQ(-E2BIG, vgpu_list_error(self->l, why));
	printf("# %s\n", why);
	EXPECT_EQ(-E2BIG, vgpu_cmd_alloc(self->l, 8, &ref));	/* sticky */
	EXPECT_EQ(4096u, vgpu_list_count(self->l));
	EXPECT_EQ(-E2BIG, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	EXPECT_STREQ(why, self->why);

	/* reset clears it; a full list runs */
	vgpu_list_reset(self->l);
	EXPECT_EQ(0, vgpu_list_error(self->l, why));
	EXPECT_EQ(32u, vgpu_list_bytes(self->l));
	for (uint32_t i = 0; i < 4096; i++)
		ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, NULL));
	EXPECT_EQ(0, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why))
		TH_LOG("%s", self->why);
	EXPECT_LE(vgpu_reply_value(self->r, 0), vgpu_reply_value(self->r, 4095));

	/* bad arguments the builder sees itself */
	vgpu_list_reset(self->l);
	EXPECT_EQ(-EINVAL, vgpu_cmd_launch(self->l, &la, NULL));	/* argsz */
	vgpu_list_reset(self->l);
	EXPECT_EQ(-EINVAL, vgpu_cmd_copy_h2d(self->l, 1, 0, NULL, 8, NULL));
	vgpu_list_reset(self->l);
	la = (struct vgpu_launch){ .argsz = sizeof(la), .flags = 2, .name = "k" };
	EXPECT_EQ(-EINVAL, vgpu_cmd_launch(self->l, &la, NULL));
	vgpu_list_error(self->l, why);
	printf("# %s\n", why);
	/* room for a reply over the protocol's 4 GiB ceiling: refused here */
	vgpu_list_reset(self->l);
	ASSERT_EQ(0, vgpu_cmd_timestamp(self->l, NULL));
	vgpu_list_set_out_bytes(self->l, (4ull << 30) + 1);
	EXPECT_EQ(-E2BIG, vgpu_run(self->dev, self->l, self->r, TIMEOUT_MS, self->why));
	printf("# %s\n", self->why);
	vgpu_list_set_out_bytes(self->l, 0);
	/* a launch: room for its device text */
	vgpu_list_reset(self->l);
	la.flags = 0;
	ASSERT_EQ(0, vgpu_cmd_launch(self->l, &la, NULL));
	EXPECT_EQ(176u + 32 + 65536, vgpu_list_out_bytes(self->l));
}

TEST_F(lib, opening)
{
	struct vgpu_device *d = NULL;
	char path[600];

	EXPECT_EQ(-EBUSY, vgpu_open(self->dir, &d, self->why));	/* one client per dir */
	printf("# %s\n", self->why);
	EXPECT_EQ(NULL, d);
	snprintf(path, sizeof(path), "%s/nowhere", self->t.root);
	EXPECT_EQ(-ENOENT, vgpu_open(path, &d, self->why));
	EXPECT_NE(NULL, strstr(self->why, path));
	EXPECT_EQ(-ENODEV, vgpu_open(self->t.conf, &d, self->why));	/* a file */
	printf("# %s\n", self->why);
	/* NULL: $VGPU_DEVICE */
	ASSERT_EQ(0, setenv("VGPU_DEVICE", tm_vmdir(&self->t, "c2", path, sizeof(path)), 1));
	ASSERT_EQ(0, vgpu_open(NULL, &d, self->why)) TH_LOG("%s", self->why);
	EXPECT_EQ(0, vgpu_call_op(d, VGPU_OP_NOOP, (uint64_t[4]){ 0 }, NULL, 0, NULL, 0, NULL,
				  TIMEOUT_MS, self->why)) TH_LOG("%s", self->why);
	vgpu_close(d);
	unsetenv("VGPU_DEVICE");
	EXPECT_STRNE("", vgpu_version());
}

TEST_F(lib, the_python_example)
{
#ifdef VGPU_PY_PRELOAD
	const char *env = "LD_PRELOAD=" VGPU_PY_PRELOAD " ASAN_OPTIONS=detect_leaks=0";
#else
	const char *env = "";
#endif
	char cmd[3072], dir[512], rcfile[300];
	FILE *f;
	int rc = -1;

	if (system("command -v python3 >/dev/null 2>&1"))
		SKIP(return, "python3 is not installed");
#ifdef VGPU_PY_TSAN
	SKIP(return, "python3 cannot load a ThreadSanitizer-built library (run without SAN)");
#endif
	tm_vmdir(&self->t, "py", dir, sizeof(dir));
	snprintf(rcfile, sizeof(rcfile), "%s/python.rc", self->t.root);
	/* its lines as KTAP comments; its exit status through @rcfile */
	snprintf(cmd, sizeof(cmd), "{ env %s VGPU_LIBRARY=%s/libvgpu.so.1 python3 "
		 "%s/python/examples/saxpy.py %s --seed %" PRIu64 " 2>&1; echo $? >%s; } | "
		 "sed 's/^/# /'", env, VGPU_LIBDIR, VGPU_SRCDIR, dir, test_rand() >> 1, rcfile);
	fflush(stdout);
	ASSERT_EQ(0, system(cmd));
	f = fopen(rcfile, "r");
	ASSERT_NE(NULL, f);
	EXPECT_EQ(1, fscanf(f, "%d", &rc));
	fclose(f);
	EXPECT_EQ(0, rc) TH_LOG("%s", cmd);
}

TEST_HARNESS_MAIN
