// SPDX-License-Identifier: MIT
/*
 * The protocol library on fresh random inputs each run: CRC32C against
 * known vectors and the table implementation, header codecs, the checks of
 * untrusted headers, op shapes, id names, bf16 and streamed job I/O.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "job.h"
#include "spool.h"
#include "testlib.h"
#include "vgpu/ops.h"
#include "vgpu/proto.h"

uint32_t vgpu_crc32c_sw(uint32_t crc, const void *buf, size_t len);

TEST(crc32c_known_vectors)
{
	uint8_t zeros[32] = { 0 }, ones[32], inc[32];

	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	/* RFC 3720 B.4 and the classic check value */
	EXPECT_EQ(0xe3069283u, vgpu_crc32c(0, "123456789", 9));
	EXPECT_EQ(0x8a9136aau, vgpu_crc32c(0, zeros, 32));
	EXPECT_EQ(0x62a8ab43u, vgpu_crc32c(0, ones, 32));
	EXPECT_EQ(0x46dd794eu, vgpu_crc32c(0, inc, 32));
	EXPECT_EQ(0xe3069283u, vgpu_crc32c_sw(0, "123456789", 9));
	EXPECT_EQ(0u, vgpu_crc32c(0, NULL, 0));
}

TEST(crc32c_fast_path_matches_table_chains_and_combines)
{
	static uint8_t buf[65536 + 16];

	test_seed();
	for (int round = 0; round < 500; round++) {
		size_t off = (size_t)test_rand_range(0, 15);
		/* short buffers, and long ones through the 3-lane path (>= 12 KiB) */
		size_t len = (size_t)test_rand_range(0, round & 1 ? 65536 : 4096);
		size_t cut = len ? (size_t)test_rand_range(0, len) : 0;
		uint32_t whole, chained;

		test_rand_bytes(buf + off, len);
		whole = vgpu_crc32c(0, buf + off, len);
		chained = vgpu_crc32c(vgpu_crc32c(0, buf + off, cut), buf + off + cut, len - cut);
		EXPECT_EQ(vgpu_crc32c_sw(0, buf + off, len), whole)
			TH_LOG("len %zu off %zu", len, off);
		EXPECT_EQ(whole, chained) TH_LOG("len %zu cut %zu", len, cut);
		EXPECT_EQ(whole, vgpu_crc32c_combine(vgpu_crc32c(0, buf + off, cut),
						     vgpu_crc32c(0, buf + off + cut, len - cut),
						     len - cut))
			TH_LOG("combine: len %zu cut %zu", len, cut);
	}
}

static void random_req(struct vgpu_req_hdr *h)
{
	test_rand_bytes(h, sizeof(*h));
}

TEST(request_header_round_trips_little_endian)
{
	uint8_t buf[VGPU_REQ_HDR_SIZE];

	test_seed();
	for (int round = 0; round < 200; round++) {
		struct vgpu_req_hdr a, b;
		uint64_t id_le;

		random_req(&a);
		vgpu_req_encode(&a, buf);
		vgpu_req_decode(buf, &b);
		ASSERT_EQ(0, memcmp(&a, &b, sizeof(a)));
		memcpy(&id_le, buf + 16, 8);
		EXPECT_EQ(a.id, le64toh(id_le));
	}
	/* the magic reads "VGRQ" in file order */
	struct vgpu_req_hdr h = { .magic = VGPU_REQ_MAGIC };

	vgpu_req_encode(&h, buf);
	EXPECT_EQ(0, memcmp(buf, "VGRQ", 4));
}

TEST(response_header_round_trips)
{
	uint8_t buf[VGPU_RSP_HDR_SIZE];

	test_seed();
	for (int round = 0; round < 200; round++) {
		struct vgpu_rsp_hdr a, b;

		test_rand_bytes(&a, sizeof(a));
		a.msg[VGPU_MSG_LEN - 1] = '\0';	/* the decoder terminates it */
		vgpu_rsp_encode(&a, buf);
		vgpu_rsp_decode(buf, &b);
		ASSERT_EQ(0, memcmp(&a, &b, sizeof(a)));
	}
}

/* A valid request for a random op and shape, with its payload. */
static void *valid_req(struct vgpu_req_hdr *h, uint64_t id)
{
	uint64_t args[VGPU_NR_ARGS] = { 0 }, in_len, out_len;
	uint32_t op = (uint32_t)test_rand_range(0, VGPU_NR_OPS - 1);
	char why[VGPU_MSG_LEN];
	void *payload;

	switch (op) {
	case VGPU_OP_SGEMM:
	case VGPU_OP_GEMM_BF16:
		args[0] = test_rand_range(1, 40);
		args[1] = test_rand_range(1, 40);
		args[2] = test_rand_range(1, 40);
		break;
	case VGPU_OP_SPIN:
		args[0] = test_rand_range(0, 1000);
		break;
	case VGPU_OP_NOOP:
		break;
	default:
		args[0] = test_rand_range(1, 5000);
		break;
	}
	if (vgpu_op_sizes(op, args, &in_len, &out_len, why))
		return NULL;
	payload = malloc(in_len + 1);
	test_rand_bytes(payload, in_len);
	if (vgpu_req_build(h, id, op, args, payload, in_len, why)) {
		free(payload);
		return NULL;
	}
	return payload;
}

TEST(crc_covers_every_header_and_payload_bit)
{
	test_seed();
	for (int round = 0; round < 300; round++) {
		struct vgpu_req_hdr h, bad;
		uint8_t enc[VGPU_REQ_HDR_SIZE];
		void *p = valid_req(&h, test_rand());
		uint32_t payload_crc;

		ASSERT_NE(NULL, p);
		payload_crc = vgpu_crc32c(0, p, h.payload_len);
		ASSERT_EQ(h.crc32c, vgpu_req_crc(&h, payload_crc));
		if (h.payload_len && test_rand() & 1) {
			size_t bit = (size_t)test_rand_range(0, h.payload_len * 8 - 1);

			((uint8_t *)p)[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			EXPECT_NE(h.crc32c, vgpu_req_crc(&h, vgpu_crc32c(0, p, h.payload_len)));
		} else {
			size_t bit;

			vgpu_req_encode(&h, enc);
			do
				bit = (size_t)test_rand_range(0, VGPU_REQ_HDR_SIZE * 8 - 1);
			while (bit / 8 >= 72 && bit / 8 < 76);	/* not the crc field itself */
			enc[bit / 8] ^= (uint8_t)(1u << (bit % 8));
			vgpu_req_decode(enc, &bad);
			EXPECT_NE(h.crc32c, vgpu_req_crc(&bad, payload_crc)) TH_LOG("bit %zu", bit);
		}
		free(p);
	}
}

TEST(check_rejects_each_bad_field_with_its_errno)
{
	static const struct {
		const char *what;
		int err;
	} cases[] = {
		{ "magic", -EBADMSG }, { "version", -EPROTONOSUPPORT },
		{ "hdr_size small", -EBADMSG }, { "hdr_size huge", -EBADMSG },
		{ "flags", -EINVAL }, { "reserved0", -EINVAL }, { "reserved", -EINVAL },
		{ "op", -EOPNOTSUPP }, { "payload_len", -EINVAL }, { "out_len", -EINVAL },
		{ "oversized", -E2BIG }, { "zero dim", -EINVAL }, { "huge dim", -EINVAL },
		{ "unused arg", -EINVAL },
	};

	test_seed();
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct vgpu_req_hdr h;
		char why[VGPU_MSG_LEN] = "";
		uint64_t args[VGPU_NR_ARGS] = { 7, 5, 3, 0 };
		uint8_t payload[4 * (7 * 3 + 3 * 5)];
		const char *w = cases[c].what;

		test_rand_bytes(payload, sizeof(payload));
		ASSERT_EQ(0, vgpu_req_build(&h, 1, VGPU_OP_SGEMM, args, payload,
					    sizeof(payload), why));
		ASSERT_EQ(0, vgpu_req_check(&h, 1 << 20, why)) TH_LOG("%s", why);
		if (!strcmp(w, "magic"))
			h.magic ^= 1u << test_rand_range(0, 31);
		else if (!strcmp(w, "version"))
			h.version = (uint16_t)test_rand_range(2, 65535);
		else if (!strcmp(w, "hdr_size small"))
			h.hdr_size = (uint16_t)test_rand_range(0, VGPU_REQ_HDR_SIZE - 1);
		else if (!strcmp(w, "hdr_size huge"))
			h.hdr_size = (uint16_t)test_rand_range(VGPU_HDR_SIZE_MAX + 1, 65535);
		else if (!strcmp(w, "flags"))
			h.flags = 1u << test_rand_range(0, 31);
		else if (!strcmp(w, "reserved0"))
			h.reserved0 = (uint32_t)test_rand_range(1, UINT32_MAX);
		else if (!strcmp(w, "reserved"))
			h.reserved[test_rand() & 1] = test_rand_range(1, UINT64_MAX);
		else if (!strcmp(w, "op"))
			h.op = (uint32_t)test_rand_range(VGPU_NR_OPS, UINT32_MAX);
		else if (!strcmp(w, "payload_len"))
			h.payload_len += test_rand_range(1, 100);
		else if (!strcmp(w, "out_len"))
			h.out_len -= test_rand_range(1, h.out_len);
		else if (!strcmp(w, "oversized"))
			h.args[0] = h.args[1] = h.args[2] = 1000;
		else if (!strcmp(w, "zero dim"))
			h.args[test_rand_range(0, 2)] = 0;
		else if (!strcmp(w, "huge dim"))
			h.args[test_rand_range(0, 2)] = VGPU_DIM_MAX + test_rand_range(1, 1000);
		else if (!strcmp(w, "unused arg"))
			h.args[3] = test_rand_range(1, UINT64_MAX);
		EXPECT_EQ(cases[c].err, vgpu_req_check(&h, 1 << 20, why)) TH_LOG("%s: %s", w, why);
		EXPECT_NE('\0', why[0]) TH_LOG("%s: no reason given", w);
	}
}

TEST(op_sizes_follow_the_shapes)
{
	test_seed();
	for (int round = 0; round < 200; round++) {
		uint64_t m = test_rand_range(1, VGPU_DIM_MAX), n = test_rand_range(1, VGPU_DIM_MAX);
		uint64_t k = test_rand_range(1, VGPU_DIM_MAX), v = test_rand_range(1, VGPU_VEC_MAX);
		uint64_t in, out;
		uint64_t a3[VGPU_NR_ARGS] = { m, n, k, 0 }, a1[VGPU_NR_ARGS] = { v, 0, 0, 0 };

		ASSERT_EQ(0, vgpu_op_sizes(VGPU_OP_SGEMM, a3, &in, &out, NULL));
		EXPECT_EQ(4 * (m * k + k * n), in);
		EXPECT_EQ(4 * m * n, out);
		ASSERT_EQ(0, vgpu_op_sizes(VGPU_OP_GEMM_BF16, a3, &in, &out, NULL));
		EXPECT_EQ(2 * (m * k + k * n), in);
		ASSERT_EQ(0, vgpu_op_sizes(VGPU_OP_VECTOR_ADD, a1, &in, &out, NULL));
		EXPECT_EQ(8 * v, in);
		EXPECT_EQ(4 * v, out);
		ASSERT_EQ(0, vgpu_op_sizes(VGPU_OP_REDUCE_SUM, a1, &in, &out, NULL));
		EXPECT_EQ(4 * v, in);
		EXPECT_EQ(4u, out);
		ASSERT_EQ(0, vgpu_op_sizes(VGPU_OP_CHECKSUM, a1, &in, &out, NULL));
		EXPECT_EQ(v, in);
	}
}

TEST(id_names_round_trip_and_reject_junk)
{
	static const char *const junk[] = {
		"", "0", "000000000000000g", "000000000000000A", "00000000000000001",
		"000000000000000", "00000000000000.1", "0000000000000001.rsp",
	};
	char name[VGPU_ID_NAME_LEN + 1];
	uint64_t id, back;

	test_seed();
	for (int i = 0; i < 1000; i++) {
		id = test_rand();
		vgpu_id_name(id, name);
		ASSERT_EQ(0, vgpu_id_parse(name, &back));
		EXPECT_EQ(id, back);
	}
	for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		EXPECT_EQ(-1, vgpu_id_parse(junk[i], &back)) {
			TH_LOG("'%s'", junk[i]);
		}
	}
}

TEST(bf16_rounds_to_nearest_even)
{
	EXPECT_EQ(0x3f80, vgpu_f32_to_bf16(1.0f));
	EXPECT_EQ(0x3f80, vgpu_f32_to_bf16(1.00390625f));	/* tie: to even */
	EXPECT_EQ(0x3f82, vgpu_f32_to_bf16(1.01171875f));	/* tie: to even (up) */
	EXPECT_EQ(0x3f81, vgpu_f32_to_bf16(1.005f));
	test_seed();
	for (int i = 0; i < 1000; i++) {
		uint16_t b = (uint16_t)test_rand();

		if ((b & 0x7f80) == 0x7f80)	/* inf/NaN: skip */
			continue;
		EXPECT_EQ(b, vgpu_f32_to_bf16(vgpu_bf16_to_f32(b)));
	}
}

TEST(file_job_streams_and_verifies_the_payload)
{
	test_seed();
	for (int round = 0; round < 50; round++) {
		struct vgpu_req_hdr h;
		uint8_t hdr[VGPU_REQ_HDR_SIZE];
		void *p = valid_req(&h, test_rand());
		char path[] = "/dev/shm/vgpu-job-XXXXXX";
		int fd = mkstemp(path);
		bool corrupt = test_rand() % 3 == 0 && h.payload_len;
		uint8_t *back = malloc(h.payload_len + 1);
		struct vgpu_job job;
		uint64_t done = 0;

		ASSERT_NE(NULL, p);
		ASSERT_LE(0, fd);
		unlink(path);
		vgpu_req_encode(&h, hdr);
		ASSERT_EQ(0, vgpu_pwrite_full(fd, hdr, sizeof(hdr), 0));
		if (corrupt)
			((uint8_t *)p)[test_rand_range(0, h.payload_len - 1)] ^= 0x10;
		ASSERT_EQ(0, vgpu_pwrite_full(fd, p, h.payload_len, sizeof(hdr)));
		vgpu_job_init_file(&job, &h, fd, sizeof(hdr), -1, 0);
		EXPECT_EQ(-EPROTO, vgpu_job_write(&job, back, 0));	/* not verified yet */
		while (done < h.payload_len) {
			uint64_t chunk = test_rand_range(1, h.payload_len - done);

			ASSERT_EQ(0, vgpu_job_read(&job, back + done, chunk));
			done += chunk;
		}
		EXPECT_EQ(-EINVAL, vgpu_job_read(&job, back, 1));	/* past the end */
		EXPECT_EQ(0, memcmp(back, p, h.payload_len));
		EXPECT_EQ(corrupt ? -EBADMSG : 0, vgpu_job_input_end(&job));
		close(fd);
		free(back);
		free(p);
	}
}

/* Threads of this process whose name starts with @prefix. */
static int threads_named(const char *prefix)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (f && fgets(comm, sizeof(comm), f) && !strncmp(comm, prefix, strlen(prefix)))
			n++;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/*
 * Threads named @prefix once those a destroy joined have left the listing:
 * pthread_join() returns when the kernel clears the thread's TID (as it
 * drops its memory, early in exit), but /proc lists it until it is reaped,
 * which a loaded host may put off a while. A thread that was never told to
 * stop stays listed, and is counted when @timeout_ms is over.
 */
static int threads_named_after_join(const char *prefix, unsigned int timeout_ms)
{
	uint64_t deadline = vgpu_now_ns() + (uint64_t)timeout_ms * 1000000;
	int n;

	while ((n = threads_named(prefix)) && vgpu_now_ns() < deadline)
		usleep(1000);
	return n;
}

/* The next chunk of a transfer with @left bytes to go: all of it half the time. */
static size_t random_chunk(size_t left)
{
	return test_rand() & 1 ? left : (size_t)test_rand_range(1, left);
}

/*
 * Reads and writes split over a team give the bytes and CRCs the calling
 * thread alone gives, whatever the chunk sizes (pieces of 64 KiB and more,
 * cut at 4 KiB, and odd tails), and a piece's error is the job's.
 */
TEST(io_team_splits_reads_and_writes_without_changing_bytes_or_crcs)
{
	static const unsigned int sizes[] = { 2, 3, 4, VGPU_IO_TEAM_MAX };
	const size_t max = (6u << 20) + 4099;
	uint8_t *data = malloc(max), *back = malloc(max), *file = malloc(max);
	char in_path[] = "/dev/shm/vgpu-team-in-XXXXXX";
	char out_path[] = "/dev/shm/vgpu-team-out-XXXXXX";
	int in_fd = mkstemp(in_path), out_fd = mkstemp(out_path);
	int ro_fd = open(out_path, O_RDONLY | O_CLOEXEC);
	struct vgpu_io_team *t;

	ASSERT_NE(NULL, data);
	ASSERT_NE(NULL, back);
	ASSERT_NE(NULL, file);
	ASSERT_LE(0, in_fd);
	ASSERT_LE(0, out_fd);
	ASSERT_LE(0, ro_fd);
	unlink(in_path);
	unlink(out_path);
	test_seed();
	EXPECT_EQ(0, vgpu_io_team_create(1, 0, NULL, "vgpu-t1", &t));
	EXPECT_EQ(NULL, t);			/* one thread needs no team */
	EXPECT_EQ(-EINVAL, vgpu_io_team_create(VGPU_IO_TEAM_MAX + 1, 0, NULL, "x", &t));
	for (unsigned int s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
		/* Helpers that sleep after every piece, and helpers that poll. */
		uint64_t spin_ns = s & 1 ? 50000 : 0;

		ASSERT_EQ(0, vgpu_io_team_create(sizes[s], spin_ns, NULL, "vgpu-team", &t));
		EXPECT_EQ((int)sizes[s] - 1, threads_named("vgpu-team/"));
		for (int round = 0; round < 6; round++) {
			size_t len = (size_t)test_rand_range(1, max);
			struct vgpu_req_hdr h = { .payload_len = len, .out_len = len };
			struct vgpu_job job;
			size_t done;

			test_rand_bytes(data, len);
			ASSERT_EQ(0, vgpu_pwrite_full(in_fd, data, len, 0));
			ASSERT_EQ(0, ftruncate(out_fd, 0));
			vgpu_job_init_file(&job, &h, in_fd, 0, out_fd, 4096);
			job.team = t;
			for (done = 0; done < len;) {
				size_t c = random_chunk(len - done);

				ASSERT_EQ(0, vgpu_job_read(&job, back + done, c));
				done += c;
			}
			EXPECT_EQ(0, memcmp(back, data, len)) TH_LOG("team %u, %zu bytes", sizes[s], len);
			EXPECT_EQ(vgpu_crc32c(0, data, len), job.in_crc)
				TH_LOG("team %u, %zu bytes", sizes[s], len);
			job.input_ok = true;
			for (done = 0; done < len;) {
				size_t c = random_chunk(len - done);

				ASSERT_EQ(0, vgpu_job_write(&job, data + done, c));
				done += c;
			}
			EXPECT_TRUE(vgpu_job_output_complete(&job));
			EXPECT_EQ(vgpu_crc32c(0, data, len), job.out_crc);
			ASSERT_EQ(0, vgpu_pread_full(out_fd, file, len, 4096));
			EXPECT_EQ(0, memcmp(file, data, len)) TH_LOG("team %u, %zu bytes written",
								     sizes[s], len);
		}
		/*
		 * The input lost its last page: the last piece fails. The output
		 * cannot be written: every piece fails, and the job with them.
		 */
		{
			struct vgpu_req_hdr h = { .payload_len = 1u << 20, .out_len = 1u << 20 };
			struct vgpu_job job;

			ASSERT_EQ(0, ftruncate(in_fd, (1u << 20) - 4096));
			vgpu_job_init_file(&job, &h, in_fd, 0, ro_fd, 0);
			job.team = t;
			EXPECT_EQ(-EBADMSG, vgpu_job_read(&job, back, 1u << 20));
			job.input_ok = true;
			EXPECT_EQ(-EBADF, vgpu_job_write(&job, data, 1u << 20));
		}
		vgpu_io_team_destroy(t);
		EXPECT_EQ(0, threads_named_after_join("vgpu-team/", 10000));
	}
	close(in_fd);
	close(out_fd);
	close(ro_fd);
	free(data);
	free(back);
	free(file);
}

TEST(crc_covers_header_fields_of_a_later_revision)
{
	uint8_t ext[VGPU_REQ_HDR_SIZE + 40], payload[64];
	char why[VGPU_MSG_LEN] = "", path[] = "/dev/shm/vgpu-ext-XXXXXX";
	struct vgpu_req_hdr h;
	struct vgpu_job job;
	uint8_t back[64];
	int fd = mkstemp(path);

	test_seed();
	ASSERT_LE(0, fd);
	unlink(path);
	test_rand_bytes(payload, sizeof(payload));
	test_rand_bytes(ext, sizeof(ext));
	uint64_t args[VGPU_NR_ARGS] = { 64 };

	ASSERT_EQ(0, vgpu_req_build(&h, 9, VGPU_OP_CHECKSUM, args, payload, 64, why));
	h.hdr_size = sizeof(ext);	/* 40 bytes this reader does not know */
	h.crc32c = 0;
	h.crc32c = vgpu_crc32c(vgpu_req_crc(&h, vgpu_crc32c(0, payload, 64)),
			       ext + VGPU_REQ_HDR_SIZE, sizeof(ext) - VGPU_REQ_HDR_SIZE);
	EXPECT_EQ(0, vgpu_req_check(&h, 1 << 20, why)) TH_LOG("%s", why);
	vgpu_req_encode(&h, ext);
	ASSERT_EQ(0, vgpu_pwrite_full(fd, ext, sizeof(ext), 0));
	ASSERT_EQ(0, vgpu_pwrite_full(fd, payload, sizeof(payload), sizeof(ext)));
	for (int flip = 0; flip < 2; flip++) {
		if (flip) {	/* change one unknown header byte */
			uint8_t b = ext[VGPU_REQ_HDR_SIZE + 7] ^ 1;

			ASSERT_EQ(0, vgpu_pwrite_full(fd, &b, 1, VGPU_REQ_HDR_SIZE + 7));
		}
		vgpu_job_init_file(&job, &h, fd, sizeof(ext), -1, 0);
		ASSERT_EQ(0, vgpu_job_read(&job, back, sizeof(back)));
		EXPECT_EQ(flip ? -EBADMSG : 0, vgpu_job_input_end(&job));
	}
	close(fd);
}

TEST_HARNESS_MAIN
