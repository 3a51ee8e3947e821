/* SPDX-License-Identifier: MIT */
/*
 * The file dance of the spool protocol, shared by the mediator and every
 * client: opening a VM directory's subdirectories without following links
 * the guest may have planted, publishing a file atomically (temporary,
 * optional fsync, rename), and reading and verifying a response.
 * Explicit read/write only; never mmap (the files may live on NFS).
 */
#ifndef VGPU_SPOOL_H
#define VGPU_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vgpu/proto.h"

struct vgpu_spool {
	int dir;	/* the VM directory */
	int tmp;	/* writers' temporaries */
	int req;	/* published requests */
	int rsp;	/* published responses */
};

/*
 * VM/taken: the highest id the mediator has taken out of req/, written by
 * the mediator before it takes one ("%016llx\n"). A request that is in
 * none of req/ and rsp/ but at or below it is in the mediator's hands.
 */
#define VGPU_FILE_TAKEN		"taken"

/* The id in @dir's VGPU_FILE_TAKEN, or 0 if there is none. */
uint64_t vgpu_spool_taken(int dir);

/*
 * Open (with @create, also create) the VM directory @path and its
 * subdirectories, refusing symlinks. Returns 0 or -errno; on failure every
 * fd is closed and *@failed names the component that failed.
 */
int vgpu_spool_open(const char *path, bool create, struct vgpu_spool *sp,
		    const char **failed);
void vgpu_spool_close(struct vgpu_spool *sp);

/*
 * Write @iov to a fresh temporary @tmpname in @tmp_dir (replacing a stale
 * one), fsync it if @sync, then rename it to @name in @dst_dir. Returns 0
 * or -errno; the temporary is removed on failure.
 */
int vgpu_publish(int tmp_dir, const char *tmpname, int dst_dir, const char *name,
		 const struct iovec *iov, int iovcnt, bool sync);

/* pread/pwrite all of @len bytes at @off; 0 or -errno (-EBADMSG: EOF). */
int vgpu_pread_full(int fd, void *buf, size_t len, uint64_t off);
int vgpu_pwrite_full(int fd, const void *buf, size_t len, uint64_t off);

/*
 * Read response @id from @rsp_dir: header into @h, payload into @out (at
 * most @cap bytes), all checked (magic, version 1 or 2, sizes, id, CRC). Returns 0,
 * -ENOENT if it is not there yet, or another -errno (-EBADMSG: corrupt).
 * Does not remove the file.
 *
 * A response is the *end* of its file: payload, then the header (a trailer;
 * see Documentation/protocol.rst); what precedes them is the request.
 */
int vgpu_rsp_read(int rsp_dir, uint64_t id, struct vgpu_rsp_hdr *h, void *out,
		  size_t cap);
/*
 * The same from an open file. With @out NULL the payload is only checked.
 * If @prefix is not UINT64_MAX, the response must begin exactly there.
 */
int vgpu_rsp_read_fd(int fd, uint64_t id, struct vgpu_rsp_hdr *h, void *out, size_t cap,
		     uint64_t prefix);

/* Build a complete request header for @op/@args/@payload_len and CRC. */
int vgpu_req_build(struct vgpu_req_hdr *h, uint64_t id, uint32_t op,
		   const uint64_t args[VGPU_NR_ARGS], const void *payload,
		   uint64_t payload_len, char *why);

uint64_t vgpu_now_ns(void);	/* CLOCK_MONOTONIC */

#endif /* VGPU_SPOOL_H */
