// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "spool.h"
#include "vgpu/ops.h"
#include "vgpu/session.h"

#define DIR_MODE	0755
#define FILE_MODE	0644

static int open_sub(int parent, const char *name, bool create)
{
	int fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT && create) {
		if (mkdirat(parent, name, DIR_MODE) < 0 && errno != EEXIST)
			return -errno;
		fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	}
	return fd < 0 ? -errno : fd;
}

int vgpu_spool_open(const char *path, bool create, struct vgpu_spool *sp,
		    const char **failed)
{
	static const char *const names[] = { VGPU_DIR_TMP, VGPU_DIR_REQ, VGPU_DIR_RSP };
	int *fds[] = { &sp->tmp, &sp->req, &sp->rsp };
	int fd;

	sp->dir = sp->tmp = sp->req = sp->rsp = -1;
	*failed = path;
	fd = open_sub(AT_FDCWD, path, create);
	if (fd < 0)
		return fd;
	sp->dir = fd;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fd = open_sub(sp->dir, names[i], create);
		if (fd < 0) {
			*failed = names[i];
			vgpu_spool_close(sp);
			return fd;
		}
		*fds[i] = fd;
	}
	return 0;
}

void vgpu_spool_close(struct vgpu_spool *sp)
{
	int *fds[] = { &sp->dir, &sp->tmp, &sp->req, &sp->rsp };

	for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++) {
		if (*fds[i] >= 0)
			close(*fds[i]);
		*fds[i] = -1;
	}
}

uint64_t vgpu_spool_taken(int dir)
{
	char buf[VGPU_ID_NAME_LEN + 1];
	uint64_t id = 0;
	int fd = openat(dir, VGPU_FILE_TAKEN, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (pread(fd, buf, VGPU_ID_NAME_LEN, 0) == VGPU_ID_NAME_LEN) {
		buf[VGPU_ID_NAME_LEN] = '\0';
		if (vgpu_id_parse(buf, &id))
			id = 0;
	}
	close(fd);
	return id;
}

int vgpu_pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	char *p = buf;

	while (len) {
		ssize_t n = pread(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EBADMSG;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int vgpu_pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const char *p = buf;

	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

static int writev_full(int fd, const struct iovec *iov, int iovcnt)
{
	uint64_t off = 0;

	for (int i = 0; i < iovcnt; i++) {
		int err = vgpu_pwrite_full(fd, iov[i].iov_base, iov[i].iov_len, off);

		if (err)
			return err;
		off += iov[i].iov_len;
	}
	return 0;
}

int vgpu_publish(int tmp_dir, const char *tmpname, int dst_dir, const char *name,
		 const struct iovec *iov, int iovcnt, bool sync)
{
	int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
	int fd, err;

	fd = openat(tmp_dir, tmpname, flags, FILE_MODE);
	if (fd < 0 && errno == EEXIST) {	/* stale, or planted: replace */
		unlinkat(tmp_dir, tmpname, 0);
		fd = openat(tmp_dir, tmpname, flags, FILE_MODE);
	}
	if (fd < 0)
		return -errno;
	err = writev_full(fd, iov, iovcnt);
	if (!err && sync && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && renameat(tmp_dir, tmpname, dst_dir, name) < 0)
		err = -errno;
	if (err)
		unlinkat(tmp_dir, tmpname, 0);
	return err;
}

int vgpu_rsp_read_fd(int fd, uint64_t id, struct vgpu_rsp_hdr *h, void *out, size_t cap,
		     uint64_t prefix)
{
	uint8_t buf[VGPU_RSP_HDR_SIZE], chunk[4096];
	uint64_t size, hdr_at, pay_at;
	struct stat st;
	uint32_t crc = 0;
	int err;

	if (fstat(fd, &st) < 0)
		return -errno;
	size = (uint64_t)st.st_size;
	if (!S_ISREG(st.st_mode) || size < VGPU_RSP_HDR_SIZE)
		return -EBADMSG;
	/* The version-1 fields are the last 160 bytes; later fields precede them. */
	err = vgpu_pread_full(fd, buf, sizeof(buf), size - VGPU_RSP_HDR_SIZE);
	if (err)
		return err;
	vgpu_rsp_decode(buf, h);
	if (h->magic != VGPU_RSP_MAGIC ||
	    (h->version != VGPU_PROTO_VERSION && h->version != VGPU_PROTO_VERSION_SESSION) ||
	    h->hdr_size < VGPU_RSP_HDR_SIZE || h->hdr_size > VGPU_HDR_SIZE_MAX ||
	    h->hdr_size > size || h->id != id || h->payload_len > size - h->hdr_size ||
	    (out && h->payload_len > cap))
		return -EBADMSG;
	hdr_at = size - h->hdr_size;
	pay_at = hdr_at - h->payload_len;
	if (prefix != UINT64_MAX && pay_at != prefix)
		return -EBADMSG;
	if (out) {
		err = vgpu_pread_full(fd, out, h->payload_len, pay_at);
		if (err)
			return err;
		crc = vgpu_crc32c(0, out, h->payload_len);
	} else {
		for (uint64_t off = 0; off < h->payload_len; off += sizeof(chunk)) {
			size_t n = h->payload_len - off < sizeof(chunk) ?
				   (size_t)(h->payload_len - off) : sizeof(chunk);

			err = vgpu_pread_full(fd, chunk, n, pay_at + off);
			if (err)
				return err;
			crc = vgpu_crc32c(crc, chunk, n);
		}
	}
	if (h->hdr_size > VGPU_RSP_HDR_SIZE) {	/* fields of a later revision */
		uint8_t ext[VGPU_HDR_SIZE_MAX];

		err = vgpu_pread_full(fd, ext, h->hdr_size - VGPU_RSP_HDR_SIZE, hdr_at);
		if (err)
			return err;
		crc = vgpu_crc32c(crc, ext, h->hdr_size - VGPU_RSP_HDR_SIZE);
	}
	return vgpu_rsp_crc(h, crc) == h->crc32c ? 0 : -EBADMSG;
}

int vgpu_rsp_read(int rsp_dir, uint64_t id, struct vgpu_rsp_hdr *h, void *out,
		  size_t cap)
{
	char name[VGPU_ID_NAME_LEN + 1];
	int fd, err;

	vgpu_id_name(id, name);
	fd = openat(rsp_dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = vgpu_rsp_read_fd(fd, id, h, out ? out : (void *)"", out ? cap : 0, UINT64_MAX);
	close(fd);
	return err;
}

int vgpu_req_build(struct vgpu_req_hdr *h, uint64_t id, uint32_t op,
		   const uint64_t args[VGPU_NR_ARGS], const void *payload,
		   uint64_t payload_len, char *why)
{
	uint64_t in_len, out_len;
	int err;

	memset(h, 0, sizeof(*h));
	err = vgpu_op_sizes(op, args, &in_len, &out_len, why);
	if (err)
		return err;
	if (in_len != payload_len) {
		strncpy(why, "payload length does not match the shape", VGPU_MSG_LEN);
		return -EINVAL;
	}
	h->magic = VGPU_REQ_MAGIC;
	h->version = VGPU_PROTO_VERSION;
	h->hdr_size = VGPU_REQ_HDR_SIZE;
	h->op = op;
	h->id = id;
	h->payload_len = payload_len;
	h->out_len = out_len;
	memcpy(h->args, args, sizeof(h->args));
	h->crc32c = vgpu_req_crc(h, vgpu_crc32c(0, payload, payload_len));
	return 0;
}

uint64_t vgpu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
