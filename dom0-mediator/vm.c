// SPDX-License-Identifier: MIT
/*
 * VM lifecycle and the last-id state.
 *
 * Runs on the main thread: adding a configured VM (open its directory
 * without following links, its private record, watch req/, load its last
 * id), marking it broken when any of that fails or its last id cannot be
 * stored (and reopening it later), removing it on a reload (it waits on
 * m->leaving until its queued jobs have run), reviving it when a reload
 * brings its directory back, and storing the highest id it has used in
 * state_dir, outside the guest's reach. Touches m->vms, m->leaving,
 * m->ino_fd, m->state_dir_fd and m->priv_dir_fd, never the queues.
 *
 * Runs on any thread: vm_put() (a worker drops the reference of the job
 * it ran; the last one stops its session executor, exec.c, and frees the
 * VM) and vm_warnx(), whose rate limit is
 * lock-free atomics because a worker and the main thread both log.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "mediator.h"

#define WARN_EVERY_NS	1000000000ull	/* guest-caused warnings: 1/s ... */
#define WARN_BURST	10		/* ... after a burst of 10 */
#define VM_FDS		8		/* fds a VM holds open */
#define FD_RESERVE	32		/* fds kept for running jobs, the control
					 * socket and reloads: no VM may take them */

void vm_warnx(struct vm *vm, const char *fmt, ...)
{
	uint64_t now = vgpu_now_ns(), tat, next, suppressed;
	char msg[512];
	va_list ap;

	/* GCRA: a guest flooding bad requests cannot flood the log. */
	tat = atomic_load_explicit(&vm->warn_tat_ns, memory_order_relaxed);
	do {
		next = tat < now ? now : tat;
		if (next - now > WARN_BURST * WARN_EVERY_NS) {
			atomic_fetch_add_explicit(&vm->warn_suppressed, 1, memory_order_relaxed);
			return;
		}
		next += WARN_EVERY_NS;
	} while (!atomic_compare_exchange_weak_explicit(&vm->warn_tat_ns, &tat, next,
							memory_order_relaxed,
							memory_order_relaxed));
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	suppressed = atomic_exchange_explicit(&vm->warn_suppressed, 0, memory_order_relaxed);
	if (suppressed)
		log_warnx("vm %s: %s (%" PRIu64 " similar messages suppressed)", vm->conf.name,
			  msg, suppressed);
	else
		log_warnx("vm %s: %s", vm->conf.name, msg);
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void vm_close(struct vm *vm)
{
	vgpu_spool_close(&vm->sp);
	close_fd(&vm->priv);
	close_fd(&vm->taken_fd);
	close_fd(&vm->state_fd);
}

void vm_put(struct vm *vm)
{
	if (atomic_fetch_sub(&vm->refs, 1) != 1)
		return;
	exec_stop(&vm->exec);	/* no job of it is left to run */
	vm_close(vm);
	free(vm);
}

void vm_break(struct vm *vm, enum vm_broken kind, const char *fmt, ...)
{
	va_list ap;

	if (vm->broken == kind)	/* one log line per breakage */
		return;
	vm->broken = kind;
	vm->repair_s = 1;
	vm->repair_ns = vgpu_now_ns() + WARN_EVERY_NS;
	va_start(ap, fmt);
	vsnprintf(vm->why, sizeof(vm->why), fmt, ap);
	va_end(ap);
	vm_warnx(vm, "not served: %s (retried with backoff)", vm->why);	/* guest-caused */
}

/* ---- state: the highest id seen, kept outside the guest's reach -------- */

int vm_store_last_id(struct vm *vm)
{
	char buf[VGPU_ID_NAME_LEN + 2];
	int err;

	if (vm->state_fd < 0)
		return -EBADF;
	vgpu_id_name(vm->last_id, buf);
	buf[VGPU_ID_NAME_LEN] = '\n';
	err = vgpu_pwrite_full(vm->state_fd, buf, VGPU_ID_NAME_LEN + 1, 0);
	if (err)	/* without it "ids increase" cannot hold: stop */
		vm_break(vm, VM_BROKEN_STATE, "cannot store its last id: %s", strerror(-err));
	return err;
}

void vm_set_taken(struct vm *vm, uint64_t id)
{
	char buf[VGPU_ID_NAME_LEN + 2];

	if (vm->taken_fd < 0)
		return;
	vgpu_id_name(id, buf);
	buf[VGPU_ID_NAME_LEN] = '\n';
	vgpu_pwrite_full(vm->taken_fd, buf, VGPU_ID_NAME_LEN + 1, 0);
	vm->taken_hi = id;
}

static int load_last_id(struct mediator *m, struct vm *vm)
{
	char name[VM_NAME_MAX + 16], buf[VGPU_ID_NAME_LEN + 2] = "";
	int err;

	snprintf(name, sizeof(name), "%s.last-id", vm->conf.name);
	vm->state_fd = openat(m->state_dir_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			      0600);
	if (vm->state_fd < 0) {
		err = -errno;
		vm_break(vm, VM_BROKEN_OPEN, "cannot open its state file %s/%s: %s",
			 m->conf.state_dir, name, strerror(-err));
		return err;
	}
	if (pread(vm->state_fd, buf, VGPU_ID_NAME_LEN + 1, 0) == VGPU_ID_NAME_LEN + 1) {
		buf[VGPU_ID_NAME_LEN] = '\0';
		if (vgpu_id_parse(buf, &vm->last_id))
			log_warnx("vm %s: state file %s is corrupt; ignoring it", vm->conf.name,
				  name);
	}
	return 0;
}

/* ---- the set of VMs ------------------------------------------------------ */

struct vm *vm_find_by_name(struct mediator *m, const char *name)
{
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->vms, entry)
		if (!strcmp(vm->conf.name, name))
			return vm;
	return NULL;
}

struct vm *vm_find_by_wd(struct mediator *m, int wd)
{
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->vms, entry)
		if (vm->wd == wd)
			return vm;
	return NULL;
}

/* Watch the directory we opened (vm->sp.req), not whatever the path names now. */
int vm_watch(struct mediator *m, struct vm *vm)
{
	char path[64];
	struct vm *o;
	int err;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", vm->sp.req);
	/*
	 * IN_MOVED_TO is the protocol's publish; IN_CLOSE_WRITE catches files
	 * written in place; IN_CREATE catches what is never written (symlinks,
	 * FIFOs, directories), answered at once by vm_accept_created().
	 */
	vm->wd = inotify_add_watch(m->ino_fd, path, IN_MOVED_TO | IN_CLOSE_WRITE | IN_CREATE);
	if (vm->wd < 0) {
		err = -errno;
		vm_break(vm, VM_BROKEN_OPEN, "inotify on %s/req: %s", vm->conf.dir,
			 strerror(-err));
		return err;
	}
	/* The same directory gives the same watch: it is that other VM's. */
	TAILQ_FOREACH(o, &m->vms, entry) {
		if (o != vm && o->wd == vm->wd) {
			vm->wd = -1;
			vm_break(vm, VM_BROKEN_OPEN, "%s is the same directory as vm %s's",
				 vm->conf.dir, o->conf.name);
			return -EEXIST;
		}
	}
	return 0;
}

/* The private record of @vm: <private_dir>/<name>, on the VM directory's filesystem. */
static int open_private(struct mediator *m, struct vm *vm)
{
	struct stat a, b;
	int err;

	if (mkdirat(m->priv_dir_fd, vm->conf.name, 0700) < 0 && errno != EEXIST)
		goto fail;
	vm->priv = openat(m->priv_dir_fd, vm->conf.name,
			  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (vm->priv < 0 || fstat(vm->priv, &a) < 0 || fstat(vm->sp.dir, &b) < 0)
		goto fail;
	if (a.st_dev != b.st_dev) {
		vm_break(vm, VM_BROKEN_OPEN, "%s/%s is on another filesystem than %s (%s: set "
			 "private_dir to a directory on the spool's filesystem)",
			 m->conf.private_dir, vm->conf.name, vm->conf.dir, vm->conf.where);
		return -EXDEV;
	}
	return 0;
fail:
	err = -errno;
	vm_break(vm, VM_BROKEN_OPEN, "cannot open its private record %s/%s: %s",
		 m->conf.private_dir, vm->conf.name, strerror(-err));
	return err;
}

/* VM/taken, created afresh by us: whatever the guest put there goes. */
static void open_taken(struct vm *vm)
{
	vm->taken_fd = -1;
	if (unlinkat(vm->sp.dir, VGPU_FILE_TAKEN, 0) < 0 && errno != ENOENT) {
		vm_warnx(vm, "cannot replace %s/%s: %s", vm->conf.dir, VGPU_FILE_TAKEN,
			 strerror(errno));
		return;
	}
	vm->taken_fd = openat(vm->sp.dir, VGPU_FILE_TAKEN,
			      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	vm_set_taken(vm, vm->last_id);
}

/* Would opening one more VM eat into FD_RESERVE? */
static bool fds_short(struct rlimit *rl)
{
	unsigned int open_fds = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;

	if (!d || getrlimit(RLIMIT_NOFILE, rl) < 0) {
		if (d)
			closedir(d);
		return false;
	}
	/* Not ".", "..", nor the fd reading them. */
	while ((de = readdir(d)))
		open_fds += de->d_name[0] != '.' && atoi(de->d_name) != dirfd(d);
	closedir(d);
	/* The fds queued jobs may keep (job_keep_fd()) are part of the reserve. */
	open_fds -= job_fds_kept();
	return rl->rlim_cur != RLIM_INFINITY &&
	       open_fds + VM_FDS + FD_RESERVE + job_fd_bound() > rl->rlim_cur;
}

/*
 * Open (or reopen) everything of @vm: its directory and subdirectories,
 * the watch, its private record and state file. On failure the VM is
 * broken (logged once) and everything is closed again.
 */
int vm_open(struct mediator *m, struct vm *vm)
{
	const char *failed;
	struct statvfs sv;
	int err;

	struct rlimit rl;

	if (vm->wd >= 0)
		inotify_rm_watch(m->ino_fd, vm->wd);
	vm->wd = -1;
	vm_close(vm);
	if (fds_short(&rl)) {
		vm_break(vm, VM_BROKEN_OPEN, "too few file descriptors (RLIMIT_NOFILE %ju; each "
			 "VM needs %d, and %d are kept in reserve)", (uintmax_t)rl.rlim_cur,
			 VM_FDS, FD_RESERVE);
		return -EMFILE;
	}
	err = vgpu_spool_open(vm->conf.dir, true, &vm->sp, &failed);
	if (err) {
		vm_break(vm, VM_BROKEN_OPEN, "cannot open %s%s%s: %s", vm->conf.dir,
			 failed == vm->conf.dir ? "" : "/",
			 failed == vm->conf.dir ? "" : failed, strerror(-err));
		return err;
	}
	err = open_private(m, vm);
	if (!err)
		err = load_last_id(m, vm);
	if (!err)
		err = vm_watch(m, vm);
	if (err) {
		vm_close(vm);
		return err;
	}
	open_taken(vm);
	vm->nodev = fstatvfs(vm->sp.dir, &sv) == 0 && (sv.f_flag & ST_NODEV);
	if (!vm->nodev)
		log_debug("vm %s: %s is not mounted nodev; guest files are opened "
			  "through O_PATH first", vm->conf.name, vm->conf.dir);
	if (vm->broken != VM_OK)
		log_info("vm %s: served again", vm->conf.name);
	vm->broken = VM_OK;
	return 0;
}

static bool same_dir(int parent, const char *name, int fd)
{
	struct stat a, b;

	return fstatat(parent, name, &a, AT_SYMLINK_NOFOLLOW) == 0 && fstat(fd, &b) == 0 &&
	       a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

bool vm_dirs_replaced(const struct vm *vm)
{
	return !same_dir(vm->sp.dir, VGPU_DIR_REQ, vm->sp.req) ||
	       !same_dir(vm->sp.dir, VGPU_DIR_RSP, vm->sp.rsp) ||
	       !same_dir(vm->sp.dir, VGPU_DIR_TMP, vm->sp.tmp);
}

/* A configured VM, served if it can be opened, else broken and repaired later. */
struct vm *vm_add(struct mediator *m, const struct vm_conf *c)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		log_errx("vm %s: out of memory", c->name);
		return NULL;
	}
	vm->conf = *c;
	flow_init(&vm->flow, c->weight);
	exec_init(&vm->exec);
	vm->state_fd = vm->taken_fd = vm->priv = vm->wd = -1;
	vm->sp = (struct vgpu_spool){ .dir = -1, .tmp = -1, .req = -1, .rsp = -1 };
	atomic_init(&vm->refs, 1);
	atomic_init(&vm->jobs, 0);
	atomic_init(&vm->unsettled, false);
	TAILQ_INSERT_TAIL(&m->vms, vm, entry);
	if (vm_open(m, vm))
		return vm;
	log_info("vm %s: vm_id %" PRIu32 ", pool %s, priority %s, %s", c->name, c->id,
		 vgpu_pool_name(c->pool), vgpu_prio_name(c->prio), c->dir);
	return vm;
}

/*
 * Stop watching @vm. Its queued jobs still run; until they have, it waits
 * on m->leaving, so that a reload that brings its directory back revives it
 * instead of recovering (and running again) the requests it still holds.
 */
void vm_remove(struct mediator *m, struct vm *vm)
{
	unsigned int jobs = atomic_load(&vm->jobs);

	if (vm->wd >= 0)
		inotify_rm_watch(m->ino_fd, vm->wd);
	TAILQ_REMOVE(&m->vms, vm, entry);
	vm->wd = -1;
	if (jobs) {
		log_info("vm %s: removed; its %u queued job%s will still run", vm->conf.name,
			 jobs, jobs == 1 ? "" : "s");
		TAILQ_INSERT_TAIL(&m->leaving, vm, entry);	/* keeps the config ref */
	} else {
		log_info("vm %s: removed", vm->conf.name);
		vm_put(vm);
	}
}

/* Free removed VMs whose last job has run. */
void vm_reap_leaving(struct mediator *m)
{
	struct vm *vm, *tmp;

	TAILQ_FOREACH_SAFE(vm, &m->leaving, entry, tmp) {
		if (atomic_load(&vm->jobs))
			continue;
		TAILQ_REMOVE(&m->leaving, vm, entry);
		vm_put(vm);
	}
}

/*
 * The leaving VM whose directory is @c's, back in m->vms and watched again;
 * its queued jobs stay where they are (the caller moves them if @c puts
 * the VM elsewhere). NULL if there is none.
 */
struct vm *vm_revive(struct mediator *m, const struct vm_conf *c)
{
	struct vm *vm;

	TAILQ_FOREACH(vm, &m->leaving, entry)
		if (!strcmp(vm->conf.dir, c->dir))
			break;
	if (!vm)
		return NULL;
	TAILQ_REMOVE(&m->leaving, vm, entry);
	TAILQ_INSERT_TAIL(&m->vms, vm, entry);
	if (vm_watch(m, vm)) {
		TAILQ_REMOVE(&m->vms, vm, entry);
		TAILQ_INSERT_TAIL(&m->leaving, vm, entry);
		return NULL;
	}
	return vm;
}
