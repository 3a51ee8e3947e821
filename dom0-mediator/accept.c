// SPDX-License-Identifier: MIT
/*
 * Acceptance: the mediator's side of a VM directory on the main thread.
 * Accepting requests into m->accepted (sched.c queues them), rejecting
 * bad ones with an error response (respond.c), recovering acc/ after a
 * restart and expiring what nobody collects. Touches the VMs' directories,
 * their last-id state and main-thread counters, and m->accepted; the
 * queues only through sched.c.
 *
 * Everything in a VM directory is written by an untrusted guest. Files are
 * opened relative to directory fds opened without following links, with
 * O_NOFOLLOW | O_NONBLOCK (a planted FIFO cannot block us), checked to be
 * regular files, and every header field is validated before use.
 *
 * A request's life (Documentation/protocol.rst has the full story):
 *   req/ID  --accept (rename)-->  acc/ID  --run: append output and
 *   response trailer-->  acc/ID  --publish (rename)-->  rsp/ID
 * The publishing rename removes the request and publishes its answer in one
 * atomic step, so after a crash everything still in acc/ was never
 * answered: a complete trailer there is published as it is, anything else
 * is cut back to the request and run again. No request is lost and none is
 * answered twice, and a job costs no file creation or unlink.
 *
 * Opening a guest file runs the open() of whatever it is. On a filesystem
 * mounted nodev a planted device node cannot be opened at all; elsewhere
 * the name is opened with O_PATH first (which opens nothing), checked to be
 * a regular file, and only then reopened through /proc/self/fd.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "accept.h"
#include "log.h"
#include "mediator.h"
#include "respond.h"

/* ---- accepting ----------------------------------------------------------- */

static void count_rejected(struct mediator *m, struct vm *vm)
{
	(void)m;
	vm->st.rejected++;
}

/* Answer req/NAME with an error and remove it. */
static void reject(struct mediator *m, struct vm *vm, const char *name, uint64_t id,
		   uint32_t op, int status, const char *why)
{
	vm_warnx(vm, "request %s rejected: %s (%s)", name, why, strerror(-status));
	if (id > vm->last_id) {
		vm->last_id = id;
		vm_store_last_id(vm);	/* before the answer: see handle_duplicate */
	}
	if (!rsp_error(vm, id, op, status, why, m->conf.fsync) &&
	    unlinkat(vm->sp.req, name, 0) < 0 && errno == EISDIR)
		unlinkat(vm->sp.req, name, AT_REMOVEDIR);	/* if empty */
	count_rejected(m, vm);
}

static bool exists_in(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/*
 * An id that does not increase. If the original is still pending or its
 * answer uncollected, that answer stands for the id and the copy is dropped
 * (a client retrying a publish sends exactly such a copy); otherwise the
 * copy gets -EEXIST.
 */
static void handle_duplicate(struct mediator *m, struct vm *vm, const char *name, uint64_t id)
{
	if (exists_in(vm->sp.acc, name) || exists_in(vm->sp.rsp, name)) {
		vm_warnx(vm, "request %s: id already pending or answered; copy dropped", name);
		unlinkat(vm->sp.req, name, 0);
		count_rejected(m, vm);
		return;
	}
	char why[VGPU_MSG_LEN];

	snprintf(why, sizeof(why), "id %" PRIx64 " reused; ids must increase (last %" PRIx64 ")",
		 id, vm->last_id);
	reject(m, vm, name, id, 0, -EEXIST, why);
}

/*
 * Open the regular file @name in @dirfd for reading and writing without
 * ever opening anything else (see the top of this file), and stat it into
 * @st. -errno on error; -EBADMSG if it is not a regular file.
 */
static int open_guest_file(const struct vm *vm, int dirfd, const char *name,
			   struct stat *st)
{
	char path[32];
	int pfd, fd;

	if (vm->nodev) {
		fd = openat(dirfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0)
			return errno == ELOOP || errno == EISDIR || errno == ENXIO ||
			       errno == EACCES ? -EBADMSG : -errno;
		if (fstat(fd, st) == 0 && S_ISREG(st->st_mode))
			return fd;
		close(fd);
		return -EBADMSG;
	}
	pfd = openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(pfd);
		return -EBADMSG;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);	/* the same inode */
	close(pfd);
	return fd < 0 ? -errno : fd;
}

/*
 * Reads and checks the header of a request opened by open_guest_file(),
 * whose stat is @st; 0 or -errno + @why.
 */
static int check_request(struct vm *vm, int fd, uint64_t id, struct vgpu_req_hdr *h,
			 const struct stat *st, char *why)
{
	uint8_t buf[VGPU_REQ_HDR_SIZE];
	ssize_t n;
	int err;

	n = pread(fd, buf, sizeof(buf), 0);
	if (n != (ssize_t)sizeof(buf)) {
		snprintf(why, VGPU_MSG_LEN, "truncated: %zd-byte file, header is %d",
			 n < 0 ? (ssize_t)0 : n, VGPU_REQ_HDR_SIZE);
		return -EBADMSG;
	}
	vgpu_req_decode(buf, h);
	err = vgpu_req_check(h, vm->conf.max_payload, why);
	if (err)
		return err;
	if (h->id != id) {
		snprintf(why, VGPU_MSG_LEN, "header id %" PRIx64 " differs from the name", h->id);
		return -EINVAL;
	}
	if ((uint64_t)st->st_size != h->hdr_size + h->payload_len) {
		snprintf(why, VGPU_MSG_LEN, "%s: %jd-byte file, header says %" PRIu64,
			 (uint64_t)st->st_size < h->hdr_size + h->payload_len ? "truncated" :
			 "trailing bytes", (intmax_t)st->st_size, h->hdr_size + h->payload_len);
		return -EBADMSG;
	}
	return 0;
}

static struct job *new_job(struct mediator *m, struct vm *vm, int fd,
			   const struct vgpu_req_hdr *h)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->vm = vm;
	j->fd = fd;
	j->hdr = *h;
	j->queued_ns = vgpu_now_ns();
	(void)m;
	atomic_fetch_add(&vm->jobs, 1);
	atomic_fetch_add(&vm->refs, 1);
	vm->st.accepted++;
	vm->st.bytes_in += h->payload_len;
	return j;
}

void vm_accept(struct mediator *m, struct vm *vm, const char *name)
{
	char why[VGPU_MSG_LEN] = "";
	struct vgpu_req_hdr h;
	struct stat st;
	struct job *j;
	uint64_t id;
	int fd, err;
	bool full;

	if (name[0] == '.')	/* NFS silly-renames, editors' files */
		return;
	if (vgpu_id_parse(name, &id)) {
		char shown[65];

		snprintf(shown, sizeof(shown), "%s", name);
		rsp_scrub(shown);
		vm_warnx(vm, "req/%s is not named by a request id; removed", shown);
		unlinkat(vm->sp.req, name, 0);
		count_rejected(m, vm);
		return;
	}
	fd = open_guest_file(vm, vm->sp.req, name, &st);
	if (fd < 0) {
		if (fd == -ENOENT)	/* handled already (an event and a scan) */
			return;
		if (fd == -EBADMSG)
			snprintf(why, sizeof(why), "not a regular file");
		else
			snprintf(why, sizeof(why), "cannot open: %s", strerror(-fd));
		reject(m, vm, name, id, 0, fd == -EBADMSG ? -EBADMSG : -EIO, why);
		return;
	}
	if (id <= vm->last_id) {
		close(fd);
		handle_duplicate(m, vm, name, id);
		return;
	}
	err = check_request(vm, fd, id, &h, &st, why);
	full = atomic_load(&vm->jobs) >= vm->conf.max_queued;
	if (!err && full) {
		snprintf(why, sizeof(why), "queue full (%u requests)", vm->conf.max_queued);
		err = -EBUSY;
	}
	if (err) {
		close(fd);
		reject(m, vm, name, id, h.magic == VGPU_REQ_MAGIC ? h.op : 0, err, why);
		return;
	}
	if (renameat(vm->sp.req, name, vm->sp.acc, name) < 0) {
		log_warn("vm %s: cannot accept req/%s (retried at the next scan)",
			 vm->conf.name, name);
		close(fd);
		return;
	}
	vm->last_id = id;
	vm->last_id_dirty = true;
	j = new_job(m, vm, fd, &h);
	if (!j) {
		log_warnx("vm %s: out of memory; %s waits in acc/ for a restart",
			  vm->conf.name, name);
		close(fd);
		return;
	}
	j->seq = m->seq++;
	TAILQ_INSERT_TAIL(&m->accepted, j, entry);	/* queued by sched_flush() */
}

/* An entry created in req/: only non-files are handled now; a regular file
 * is accepted when its writer closes it or it is renamed. */
void vm_accept_created(struct mediator *m, struct vm *vm, const char *name)
{
	struct stat st;

	if (fstatat(vm->sp.req, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode))
		vm_accept(m, vm, name);
}

/* ---- scanning and recovery ---------------------------------------------- */

struct entry {
	char name[VGPU_ID_NAME_LEN + 8];
	uint64_t id;
	struct timespec ctime;	/* rename into place = arrival */
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->ctime.tv_sec != y->ctime.tv_sec)
		return x->ctime.tv_sec < y->ctime.tv_sec ? -1 : 1;
	if (x->ctime.tv_nsec != y->ctime.tv_nsec)
		return x->ctime.tv_nsec < y->ctime.tv_nsec ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* The entries of @dirfd but dot-names, in arrival order (ctime, then id). */
static int list_dir(int dirfd, struct entry **out, size_t *n)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct entry *e = NULL;
	struct dirent *de;
	size_t cap = 0;

	*n = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(d))) {
		struct stat st;
		char head[VGPU_ID_NAME_LEN + 1];
		const char *idpart = de->d_name;

		if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(e->name))
			continue;
		if (*n == cap) {
			struct entry *ne = realloc(e, (cap = cap ? 2 * cap : 64) * sizeof(*e));

			if (!ne) {
				free(e);
				closedir(d);
				return -ENOMEM;
			}
			e = ne;
		}
		memcpy(e[*n].name, de->d_name, strlen(de->d_name) + 1);
		/* "ID" or "ID.suffix": the id is the first 16 characters */
		memcpy(head, idpart, VGPU_ID_NAME_LEN);
		head[VGPU_ID_NAME_LEN] = '\0';
		if (strlen(idpart) < VGPU_ID_NAME_LEN ||
		    (idpart[VGPU_ID_NAME_LEN] && idpart[VGPU_ID_NAME_LEN] != '.') ||
		    vgpu_id_parse(head, &e[*n].id))
			e[*n].id = UINT64_MAX;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		e[*n].ctime = st.st_ctim;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(e, *n, sizeof(*e), cmp_entry);
	*out = e;
	return 0;
}

void vm_scan_requests(struct mediator *m, struct vm *vm)
{
	struct entry *e;
	size_t n;

	if (list_dir(vm->sp.req, &e, &n)) {
		log_warn("vm %s: cannot list %s/req", vm->conf.name, vm->conf.dir);
		return;
	}
	for (size_t i = 0; i < n; i++)
		vm_accept(m, vm, e[i].name);
	free(e);
	sched_flush(m);
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a > b && !strcmp(s + a - b, suffix);
}

/*
 * After a restart: finish what a crash interrupted in acc/ and return the
 * accepted requests that still need running on @out, in arrival order.
 */
int vm_recover(struct mediator *m, struct vm *vm, struct job_list *out)
{
	struct entry *e;
	size_t n;
	uint64_t id;

	if (list_dir(vm->sp.acc, &e, &n)) {
		log_warn("vm %s: cannot list %s/acc", vm->conf.name, vm->conf.dir);
		return -EIO;
	}
	for (size_t i = 0; i < n; i++) {
		char why[VGPU_MSG_LEN];
		struct vgpu_req_hdr h = { 0 };
		struct stat st = { 0 };
		struct job *j;
		int fd, err;

		id = e[i].id;
		if (id == UINT64_MAX || strlen(e[i].name) != VGPU_ID_NAME_LEN) {
			if (has_suffix(e[i].name, RSP_ERR_SUFFIX))	/* its req/ is still there */
				unlinkat(vm->sp.acc, e[i].name, 0);
			else
				vm_warnx(vm, "acc/%s is not ours; left alone", e[i].name);
			continue;
		}
		if (id > vm->last_id)
			vm->last_id = id;
		fd = open_guest_file(vm, vm->sp.acc, e[i].name, &st);
		if (fd < 0)
			continue;
		err = check_request(vm, fd, id, &h, &st, why);
		if (err == -EBADMSG && st.st_size > 0 &&
		    (uint64_t)st.st_size > (uint64_t)h.hdr_size + h.payload_len &&
		    !(err = vgpu_req_check(&h, vm->conf.max_payload, why))) {
			/* A trailer was appended before the crash. */
			uint64_t req_size = h.hdr_size + h.payload_len;
			struct vgpu_rsp_hdr rh;

			if (!vgpu_rsp_read_fd(fd, id, &rh, NULL, 0, req_size)) {
				close(fd);
				if (!renameat(vm->sp.acc, e[i].name, vm->sp.rsp, e[i].name))
					log_info("vm %s: published response %s finished before a restart",
						 vm->conf.name, e[i].name);
				continue;
			}
			if (ftruncate(fd, (off_t)req_size) < 0) {	/* unfinished: rerun */
				close(fd);
				continue;
			}
		}
		if (err) {	/* it was fine when accepted: tampered with since */
			close(fd);
			vm_warnx(vm, "accepted request %s is no longer valid: %s", e[i].name, why);
			if (!rsp_error(vm, id, 0, err, why, m->conf.fsync))
				unlinkat(vm->sp.acc, e[i].name, 0);
			continue;
		}
		j = new_job(m, vm, fd, &h);
		if (!j) {
			close(fd);
			break;
		}
		j->seq = (uint64_t)e[i].ctime.tv_sec * 1000000000ull + (uint64_t)e[i].ctime.tv_nsec;
		TAILQ_INSERT_TAIL(out, j, entry);
	}
	free(e);
	/* Ids answered and collected before a lost state file still count. */
	if (!list_dir(vm->sp.rsp, &e, &n)) {
		for (size_t i = 0; i < n; i++)
			if (e[i].id != UINT64_MAX && e[i].id > vm->last_id)
				vm->last_id = e[i].id;
		free(e);
	}
	vm_store_last_id(vm);
	return 0;
}

/* Remove responses nobody collected, and abandoned temporaries, after the TTL. */
void vm_expire(struct mediator *m, struct vm *vm)
{
	time_t cutoff = time(NULL) - (time_t)m->conf.response_ttl_s;
	int dirs[] = { vm->sp.rsp, vm->sp.tmp };

	for (size_t d = 0; d < 2; d++) {
		struct entry *e;
		size_t n;

		if (list_dir(dirs[d], &e, &n))
			continue;
		for (size_t i = 0; i < n; i++) {
			struct stat st;

			if (fstatat(dirs[d], e[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    st.st_mtime >= cutoff)
				continue;
			if (unlinkat(dirs[d], e[i].name, 0) == 0 && d == 0) {
				log_info("vm %s: response %s expired uncollected", vm->conf.name,
					 e[i].name);
				vm->st.expired++;
			}
		}
		free(e);
	}
}
