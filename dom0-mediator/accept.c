// SPDX-License-Identifier: MIT
/*
 * Acceptance: the mediator's side of a VM directory on the main thread.
 * Taking requests out of req/, accepting them into m->accepted (sched.c
 * queues them) or answering them with an error (respond.c), recovering
 * the private record after a restart, settling what could not be finished
 * at once, and expiring what nobody collects. Touches the VMs' directories
 * and private records, their last-id state and main-thread counters, and
 * m->accepted; the queues only through sched.c.
 *
 * Everything in a VM directory is written by an untrusted guest, and
 * nothing there is trusted. The mediator's record of what it accepted and
 * of answers not yet published lives in the VM's private record
 * (<private_dir>/<vm>, respond.h lists its names), on the same filesystem
 * but outside the guest's export, so that every step is a rename:
 *
 *   req/ID --take--> priv/ID.new --accept--> priv/ID --run: output and
 *   trailer appended--> priv/ID --publish--> rsp/ID
 *   req/ID --take--> priv/ID.new --reject: write priv/ID.ans, remove
 *   priv/ID.new--> priv/ID.ans --publish--> rsp/ID
 *
 * Taking a request out of req/ is the commit point: from then on it is
 * answered exactly once, whatever it held, from the private record alone.
 * The publishing rename removes the request and shows its answer in one
 * atomic step, so after a crash priv/ID was never answered (a complete
 * trailer is published as it is, anything else is cut back and run
 * again), priv/ID.ans is published, and priv/ID.new is decided again (the
 * accepting rename tells a run a crash cut short from a request with
 * trailing bytes never decided on). A restart rebuilds the queues from the
 * private record with every per-VM limit applied, and never looks at what
 * the guest may have written elsewhere.
 * A job keeps the fd acceptance opened priv/ID with while fewer than a
 * bound are kept (job_keep_fd(): the worker's path to the GPU then has no
 * open in it); past the bound it holds none while it waits and its worker
 * opens priv/ID, so a VM's queue costs no descriptors. A version-2
 * request (a session job) is checked by its header here; its command list
 * by the worker that runs it, before the VM's executor gets it (exec.c),
 * so that reading a large list never stalls this thread.
 *
 * An obstacle (a full or read-only spool, a directory at rsp/ID, a missing
 * req/) costs its VM only: what could not be finished waits in the private
 * record and is retried with backoff (vm_settle), warnings are rate-limited
 * per VM, and no file in req/ is ever opened for writing (closing one would
 * queue another inotify event about it).
 *
 * Opening a guest file runs the open() of whatever it is: on a filesystem
 * mounted nodev a planted device node cannot be opened at all; elsewhere a
 * taken file is opened with O_PATH first (which opens nothing), checked to
 * be a regular file with one link, and only then reopened for reading.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
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
#include "vgpu/session.h"

#define RM_TREE_DEPTH	8	/* a planted directory tree removed that deep */
#define PRIV_NAME_LEN	(VGPU_ID_NAME_LEN + 8)

/* ---- the private record -------------------------------------------------- */

static void priv_name(uint64_t id, const char *suffix, char buf[PRIV_NAME_LEN])
{
	vgpu_id_name(id, buf);
	strcat(buf, suffix);
}

static bool exists_in(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* Remove @name in @dirfd, even a directory tree a guest planted. 0 or -errno. */
static int rm_tree(int dirfd, const char *name, int depth)
{
	struct dirent *de;
	DIR *d;
	int fd;

	if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR || depth >= RM_TREE_DEPTH)
		return -errno;
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_tree(fd, de->d_name, depth + 1);
	closedir(d);
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

/* Done with the taken file priv/@name: it goes. */
static void drop_taken(struct vm *vm, const char *name)
{
	int err = rm_tree(vm->priv, name, 0);

	if (err)
		vm_warnx(vm, "cannot remove %s from its private record: %s", name,
			 strerror(-err));
}

/* ---- answering ----------------------------------------------------------- */

static void count_rejected(struct mediator *m, struct vm *vm)
{
	(void)m;
	vm->st.rejected++;
}

/*
 * Answer the request taken as priv/@taken (ID.new or ID.dup) with an
 * error, and remove it. If the id cannot be stored first, or the answer
 * cannot be written, the request stays taken and is decided again when
 * its VM is settled.
 */
static void reject(struct mediator *m, struct vm *vm, uint64_t id, const char *taken,
		   uint32_t op, int status, const char *why)
{
	char ans[PRIV_NAME_LEN];
	int err;

	vm_warnx(vm, "request %016" PRIx64 " rejected: %s (%s)", id, why, strerror(-status));
	if (id > vm->last_id) {
		vm->last_id = id;
		if (vm_store_last_id(vm))	/* before the answer: ids increase */
			return;
	}
	err = rsp_error(vm, id, op, status, why, m->conf.fsync);
	if (err) {
		vm_warnx(vm, "cannot write error response %016" PRIx64 " (retried with "
			 "backoff): %s", id, strerror(-err));
		atomic_store(&vm->unsettled, true);
		return;
	}
	drop_taken(vm, taken);		/* before publishing: answered once */
	priv_name(id, RSP_ANS_SUFFIX, ans);
	err = rsp_publish(vm, id, ans, -1, m->conf.fsync);
	if (err)
		vm_warnx(vm, "cannot publish response %016" PRIx64 " (retried with backoff): %s",
			 id, strerror(-err));
	count_rejected(m, vm);
}

static void reject_reused(struct mediator *m, struct vm *vm, uint64_t id, const char *taken)
{
	char why[VGPU_MSG_LEN];

	/* At most 58 characters: both ids whole, marked as hex. */
	snprintf(why, sizeof(why), "id 0x%" PRIx64 " reused: not above 0x%" PRIx64, id,
		 vm->last_id);
	reject(m, vm, id, taken, 0, -EEXIST, why);
}

/*
 * Open the taken file priv/@name read-write (the output is appended to
 * it; priv/ is no guest's, so no inotify event comes of it) without ever
 * opening anything but a regular file with one link (see the top of this
 * file), and stat it into @st. -errno, or -EBADMSG with @why.
 */
static int open_taken(const struct vm *vm, const char *name, struct stat *st, char *why)
{
	char path[32];
	int pfd, fd;

	if (vm->nodev) {	/* no device node can be opened: open it at once */
		fd = openat(vm->priv, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT)
			return -ENOENT;
		if (fd >= 0 && fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_nlink == 1)
			return fd;
		if (fd >= 0 && S_ISREG(st->st_mode))
			snprintf(why, VGPU_MSG_LEN, "a file with %ju links",
				 (uintmax_t)st->st_nlink);
		else
			snprintf(why, VGPU_MSG_LEN, "not a regular file");
		if (fd >= 0)
			close(fd);
		return -EBADMSG;
	}
	pfd = openat(vm->priv, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (pfd < 0)
		return -errno;
	if (fstat(pfd, st) < 0 || !S_ISREG(st->st_mode) || st->st_nlink != 1) {
		if (S_ISREG(st->st_mode))
			snprintf(why, VGPU_MSG_LEN, "a file with %ju links",
				 (uintmax_t)st->st_nlink);
		else
			snprintf(why, VGPU_MSG_LEN, "not a regular file");
		close(pfd);
		return -EBADMSG;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", pfd);
	fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);	/* the same inode */
	close(pfd);
	if (fd < 0)
		snprintf(why, VGPU_MSG_LEN, "cannot open: %s", strerror(errno));
	return fd < 0 ? -EIO : fd;
}

/* A version-2 request is a session job (exec.c runs it); 1 is the ops'. */
static int req_check(const struct vm *vm, const struct vgpu_req_hdr *h, char *why)
{
	if (h->magic == VGPU_REQ_MAGIC && h->version == VGPU_PROTO_VERSION_SESSION)
		return vgpu_session_req_check(h, vm->conf.max_payload, why);
	return vgpu_req_check(h, vm->conf.max_payload, why);
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
	err = req_check(vm, h, why);
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

static struct job *new_job(struct vm *vm, const struct vgpu_req_hdr *h)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->vm = vm;
	j->fd = -1;		/* job_keep_fd(), or opened by its worker */
	j->hdr = *h;
	j->queued_ns = vgpu_now_ns();
	atomic_fetch_add(&vm->jobs, 1);
	atomic_fetch_add(&vm->refs, 1);
	vm->st.accepted++;
	vm->st.bytes_in += h->payload_len;
	return j;
}

/*
 * Decide on priv/@taken (ID.new), a request taken out of req/: accept it
 * onto @out (renamed priv/ID) or answer it.
 */
static void decide(struct mediator *m, struct vm *vm, uint64_t id, const char *taken,
		   struct job_list *out)
{
	char why[VGPU_MSG_LEN] = "", name[PRIV_NAME_LEN];
	struct vgpu_req_hdr h = { 0 };	/* fresh: an unreadable header is op 0 */
	struct stat st = { 0 };
	struct job *j;
	uint64_t need;
	int fd, err;

	fd = open_taken(vm, taken, &st, why);
	if (fd == -ENOENT)
		return;
	err = fd < 0 ? fd : check_request(vm, fd, id, &h, &st, why);
	if (!err && atomic_load(&vm->jobs) >= vm->conf.max_queued) {
		snprintf(why, sizeof(why), "queue full (%u requests)", vm->conf.max_queued);
		err = -EBUSY;
	}
	/* Its answer too must fit in the VM's share of the spool. */
	need = (uint64_t)st.st_size + h.out_len + VGPU_RSP_HDR_SIZE;
	if (!err && vm->conf.max_spool_bytes &&
	    vm->spool_bytes + need > vm->conf.max_spool_bytes) {
		snprintf(why, sizeof(why), "spool full (%" PRIu64 " of %" PRIu64 " bytes)",
			 vm->spool_bytes, vm->conf.max_spool_bytes);
		err = -ENOSPC;
	}
	if (err) {
		if (fd >= 0)
			close(fd);
		reject(m, vm, id, taken, h.magic == VGPU_REQ_MAGIC ? h.op : 0, err, why);
		return;
	}
	vm->spool_bytes += need;
	priv_name(id, "", name);
	if (renameat(vm->priv, taken, vm->priv, name) < 0) {
		vm_warnx(vm, "cannot accept %s (retried with backoff): %s", name, strerror(errno));
		atomic_store(&vm->unsettled, true);
		close(fd);
		return;
	}
	if (id > vm->last_id) {
		vm->last_id = id;
		vm->last_id_dirty = true;	/* stored by sched_flush() before it runs */
	}
	j = new_job(vm, &h);
	if (!j) {
		log_warnx("vm %s: out of memory; %s waits for a restart", vm->conf.name, name);
		close(fd);
		return;
	}
	job_keep_fd(j, fd);
	j->seq = m->seq++;
	TAILQ_INSERT_TAIL(out, j, entry);
}

/* Is an answer to @id pending or uncollected? */
static bool pending(const struct vm *vm, uint64_t id)
{
	static const char *const suffixes[] = { "", RSP_ANS_SUFFIX, RSP_NEW_SUFFIX };
	char name[PRIV_NAME_LEN];

	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		priv_name(id, suffixes[i], name);
		if (exists_in(vm->priv, name))
			return true;
	}
	priv_name(id, "", name);
	return exists_in(vm->sp.rsp, name);
}

/*
 * Remove req/@name, which is no request; a directory only if empty. False
 * if there was nothing to remove: an inotify event about a name a scan
 * already handled (or the other way round) is no second copy.
 */
static bool drop_req(struct vm *vm, const char *name)
{
	if (unlinkat(vm->sp.req, name, 0) == 0)
		return true;
	return errno == EISDIR && unlinkat(vm->sp.req, name, AT_REMOVEDIR) == 0;
}

void vm_note_batch_id(struct vm *vm, const char *name)
{
	uint64_t id;

	if (name[0] != '.' && !vgpu_id_parse(name, &id) && id > vm->last_id && id > vm->batch_hi)
		vm->batch_hi = id;
}

void vm_accept(struct mediator *m, struct vm *vm, const char *name)
{
	char taken[PRIV_NAME_LEN];
	uint64_t id;

	if (vm->broken != VM_OK || name[0] == '.')	/* NFS silly-renames, editors' files */
		return;
	if (vgpu_id_parse(name, &id)) {
		char shown[65];

		snprintf(shown, sizeof(shown), "%s", name);
		rsp_scrub(shown);
		if (drop_req(vm, name)) {
			vm_warnx(vm, "req/%s is not named by a request id; removed", shown);
			count_rejected(m, vm);
		}
		return;
	}
	if (id <= vm->last_id) {
		/*
		 * An id that does not increase. If the original is still pending
		 * or its answer uncollected, that answer stands for the id and the
		 * copy is dropped (a client retrying a publish sends exactly such a
		 * copy); otherwise the copy gets -EEXIST.
		 */
		if (pending(vm, id)) {
			if (drop_req(vm, name)) {
				vm_warnx(vm, "request %s: id already pending or answered; "
					 "copy dropped", name);
				count_rejected(m, vm);
			}
			return;
		}
		priv_name(id, RSP_DUP_SUFFIX, taken);
	} else {
		/*
		 * First: the guest must never miss it. Once per inotify batch:
		 * the batch's highest id covers the rest of it, which are still
		 * in req/, where a client looks before it looks at taken.
		 */
		if (id > vm->taken_hi)
			vm_set_taken(vm, id > vm->batch_hi ? id : vm->batch_hi);
		priv_name(id, RSP_NEW_SUFFIX, taken);	/* undecided: see decide() */
	}
	if (renameat(vm->sp.req, name, vm->priv, taken) < 0) {	/* the commit point */
		if (errno != ENOENT)	/* ENOENT: handled already (an event and a scan) */
			vm_warnx(vm, "cannot take req/%s (retried at the next scan): %s", name,
				 strerror(errno));
		return;
	}
	if (id <= vm->last_id)
		reject_reused(m, vm, id, taken);
	else
		decide(m, vm, id, taken, &m->accepted);
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
	uint64_t size;		/* bytes */
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
		e[*n].size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(e, *n, sizeof(*e), cmp_entry);
	*out = e;
	return 0;
}

/* Cut priv/@name back to @size bytes; 0 or -errno. */
static int truncate_taken(struct vm *vm, const char *name, uint64_t size)
{
	int fd = openat(vm->priv, name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		err = -errno;
	close(fd);
	return err;
}

/*
 * After a restart: priv/@name, an accepted request. A run that finished
 * its trailer is published (made durable first if fsync is on); anything
 * else is cut back to the request and goes on @out to run again, unless
 * the VM's queue is full already.
 */
static void recover_run(struct mediator *m, struct vm *vm, uint64_t id, const char *name,
			struct job_list *out)
{
	char why[VGPU_MSG_LEN] = "", taken[PRIV_NAME_LEN];
	struct vgpu_req_hdr h = { 0 };
	struct stat st;
	struct job *j;
	int fd, err;

	fd = open_taken(vm, name, &st, why);
	if (fd == -ENOENT)
		return;
	err = fd < 0 ? fd : check_request(vm, fd, id, &h, &st, why);
	if (err == -EBADMSG && fd >= 0 && (uint64_t)st.st_size > (uint64_t)h.hdr_size +
	    h.payload_len && h.magic == VGPU_REQ_MAGIC &&
	    !(err = req_check(vm, &h, why))) {
		uint64_t req_size = h.hdr_size + h.payload_len;
		struct vgpu_rsp_hdr rh;

		if (!vgpu_rsp_read_fd(fd, id, &rh, NULL, 0, req_size)) {	/* answered */
			close(fd);
			err = rsp_publish(vm, id, name, -1, m->conf.fsync);
			if (err)
				vm_warnx(vm, "cannot publish response %s (retried with backoff): "
					 "%s", name, strerror(-err));
			else
				log_info("vm %s: published response %s finished before a restart",
					 vm->conf.name, name);
			return;
		}
		if (truncate_taken(vm, name, req_size))
			err = -EIO;
	}
	if (fd >= 0)
		close(fd);
	if (!err && atomic_load(&vm->jobs) >= vm->conf.max_queued) {
		snprintf(why, sizeof(why), "queue full (%u requests) after a restart",
			 vm->conf.max_queued);
		err = -EBUSY;
	}
	if (err) {	/* it was fine when accepted: changed since, or too many */
		priv_name(id, RSP_NEW_SUFFIX, taken);
		if (!renameat(vm->priv, name, vm->priv, taken))
			reject(m, vm, id, taken, h.magic == VGPU_REQ_MAGIC ? h.op : 0, err, why);
		return;
	}
	j = new_job(vm, &h);
	if (!j)
		return;
	vm->st.accepted--;	/* counted when it was first accepted */
	vm->st.bytes_in -= h.payload_len;
	j->seq = (uint64_t)st.st_ctim.tv_sec * 1000000000ull + (uint64_t)st.st_ctim.tv_nsec;
	TAILQ_INSERT_TAIL(out, j, entry);
	return;
}

void vm_scan_requests(struct mediator *m, struct vm *vm)
{
	struct entry *e;
	size_t n;

	if (vm->broken != VM_OK)
		return;
	if (list_dir(vm->sp.req, &e, &n)) {
		vm_warnx(vm, "cannot list %s/req: %s", vm->conf.dir, strerror(errno));
		return;
	}
	for (size_t i = 0; i < n; i++)
		vm_accept(m, vm, e[i].name);
	free(e);
	sched_flush(m);
}

/*
 * Finish what is in @vm's private record: publish the answers, decide on
 * the requests taken and not decided; with @recovering (after a restart,
 * or a repair with no job queued) also publish the runs a crash
 * interrupted after their trailer and put the requests that must run
 * again on @out, in arrival order, at most max_queued of them (the rest
 * are answered -EBUSY).
 */
static void settle(struct mediator *m, struct vm *vm, bool recovering, struct job_list *out)
{
	bool fsync_on = m->conf.fsync;
	struct entry *e;
	size_t n;

	if (list_dir(vm->priv, &e, &n)) {
		vm_warnx(vm, "cannot list its private record: %s", strerror(errno));
		atomic_store(&vm->unsettled, true);
		return;
	}
	/* Answers last: until then they tell what was answered already. */
	for (size_t k = 0; k < 2 * n; k++) {
		size_t i = k % n;
		const char *name = e[i].name;
		const char *suffix = strlen(name) >= VGPU_ID_NAME_LEN ? name + VGPU_ID_NAME_LEN : "";
		char ans[PRIV_NAME_LEN];
		uint64_t id = e[i].id;

		if ((k < n) == !strcmp(suffix, RSP_ANS_SUFFIX))
			continue;
		if (id == UINT64_MAX) {		/* not ours: a crash's leftover */
			drop_taken(vm, name);
			continue;
		}
		if (recovering && id > vm->last_id)
			vm->last_id = id;
		priv_name(id, RSP_ANS_SUFFIX, ans);
		if (!strcmp(suffix, RSP_ANS_SUFFIX)) {
			int err = rsp_publish(vm, id, name, -1, fsync_on);

			if (err)
				vm_warnx(vm, "cannot publish response %016" PRIx64 " (retried with "
					 "backoff): %s", id, strerror(-err));
		} else if (exists_in(vm->priv, ans)) {	/* answered: a crash's leftover */
			if (!strcmp(suffix, RSP_NEW_SUFFIX) || !strcmp(suffix, RSP_DUP_SUFFIX) ||
			    recovering)
				drop_taken(vm, name);
		} else if (!strcmp(suffix, RSP_NEW_SUFFIX)) {
			decide(m, vm, id, name, out);
		} else if (!strcmp(suffix, RSP_DUP_SUFFIX)) {
			reject_reused(m, vm, id, name);
		} else if (!*suffix && recovering) {
			recover_run(m, vm, id, name, out);
		} else if (*suffix) {
			drop_taken(vm, name);
		}
	}
	free(e);
}

/*
 * After a restart, or a repair with none of @vm's jobs queued: rebuild its
 * work from its private record alone (settle); what must run again goes on
 * @out in arrival order.
 */
int vm_recover(struct mediator *m, struct vm *vm, struct job_list *out)
{
	struct entry *e;
	size_t n;

	if (vm->broken != VM_OK)
		return -EIO;
	atomic_store(&vm->unsettled, false);
	settle(m, vm, true, out);
	/* Ids answered and collected before a lost state file still count. */
	if (!list_dir(vm->sp.rsp, &e, &n)) {
		for (size_t i = 0; i < n; i++)
			if (e[i].id != UINT64_MAX && e[i].id > vm->last_id)
				vm->last_id = e[i].id;
		free(e);
	}
	vm->last_id_dirty = false;
	vm_set_taken(vm, vm->last_id);
	if (vm->conf.max_spool_bytes)
		vm_count_spool(vm);
	return vm_store_last_id(vm);
}

/* While running: retry what could not be finished in @vm's private record. */
void vm_settle(struct mediator *m, struct vm *vm)
{
	if (vm->broken != VM_OK || !atomic_exchange(&vm->unsettled, false))
		return;
	settle(m, vm, false, &m->accepted);
	sched_flush(m);
}

static uint64_t dir_bytes(int dirfd)
{
	struct entry *e;
	uint64_t sum = 0;
	size_t n;

	if (list_dir(dirfd, &e, &n))
		return 0;
	for (size_t i = 0; i < n; i++)
		sum += e[i].size;
	free(e);
	return sum;
}

void vm_count_spool(struct vm *vm)
{
	vm->spool_bytes = dir_bytes(vm->sp.req) + dir_bytes(vm->sp.tmp) +
			  dir_bytes(vm->sp.rsp) + dir_bytes(vm->priv);
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
