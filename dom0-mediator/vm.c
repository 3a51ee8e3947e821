// SPDX-License-Identifier: MIT
/*
 * VM lifecycle and the last-id state.
 *
 * Runs on the main thread: adding a configured VM (open its directory
 * without following links, watch req/, load its last id), removing it on
 * a reload (it waits on m->leaving until its queued jobs have run),
 * reviving it when a reload brings its directory back, and storing the
 * highest id it has used in state_dir, outside the guest's reach. Touches
 * m->vms, m->leaving, m->ino_fd and m->state_dir_fd, never the queues.
 *
 * Runs on any thread: vm_put() (a worker drops the reference of the job
 * it ran; the last one frees the VM) and vm_warnx(), whose rate limit is
 * lock-free atomics because a worker and the main thread both log.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "log.h"
#include "mediator.h"

#define WARN_EVERY_NS	1000000000ull	/* guest-caused warnings: 1/s ... */
#define WARN_BURST	10		/* ... after a burst of 10 */

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

void vm_put(struct vm *vm)
{
	if (atomic_fetch_sub(&vm->refs, 1) != 1)
		return;
	vgpu_spool_close(&vm->sp);
	if (vm->state_fd >= 0)
		close(vm->state_fd);
	free(vm);
}

/* ---- state: the highest id seen, kept outside the guest's reach -------- */

void vm_store_last_id(struct vm *vm)
{
	char buf[VGPU_ID_NAME_LEN + 2];

	if (vm->state_fd < 0)
		return;
	vgpu_id_name(vm->last_id, buf);
	buf[VGPU_ID_NAME_LEN] = '\n';
	if (vgpu_pwrite_full(vm->state_fd, buf, VGPU_ID_NAME_LEN + 1, 0))
		log_warn("vm %s: cannot store its last id", vm->conf.name);
}

static void load_last_id(struct mediator *m, struct vm *vm)
{
	char name[VM_NAME_MAX + 16], buf[VGPU_ID_NAME_LEN + 2] = "";

	snprintf(name, sizeof(name), "%s.last-id", vm->conf.name);
	vm->state_fd = openat(m->state_dir_fd, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
			      0600);
	if (vm->state_fd < 0) {
		log_warn("vm %s: cannot open state file %s/%s", vm->conf.name,
			 m->conf.state_dir, name);
		return;
	}
	if (pread(vm->state_fd, buf, VGPU_ID_NAME_LEN + 1, 0) == VGPU_ID_NAME_LEN + 1) {
		buf[VGPU_ID_NAME_LEN] = '\0';
		if (vgpu_id_parse(buf, &vm->last_id))
			log_warnx("vm %s: state file %s is corrupt; ignoring it", vm->conf.name,
				  name);
	}
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
		log_err("vm %s: inotify on %s/req", vm->conf.name, vm->conf.dir);
		return err;
	}
	/* The same directory gives the same watch: it is that other VM's. */
	TAILQ_FOREACH(o, &m->vms, entry) {
		if (o != vm && o->wd == vm->wd) {
			log_errx("vm %s: %s is the same directory as vm %s's", vm->conf.name,
				 vm->conf.dir, o->conf.name);
			vm->wd = -1;
			return -EEXIST;
		}
	}
	return 0;
}

static int vm_open(struct mediator *m, struct vm *vm)
{
	const char *failed;
	struct statvfs sv;
	int err;

	err = vgpu_spool_open(vm->conf.dir, true, &vm->sp, &failed);
	if (err) {
		log_errx("vm %s: cannot open %s%s%s: %s", vm->conf.name, vm->conf.dir,
			 failed == vm->conf.dir ? "" : "/",
			 failed == vm->conf.dir ? "" : failed, strerror(-err));
		return err;
	}
	err = vm_watch(m, vm);
	if (err) {
		vgpu_spool_close(&vm->sp);
		return err;
	}
	vm->nodev = fstatvfs(vm->sp.dir, &sv) == 0 && (sv.f_flag & ST_NODEV);
	if (!vm->nodev)
		log_debug("vm %s: %s is not mounted nodev; guest files are opened "
			  "through O_PATH first", vm->conf.name, vm->conf.dir);
	load_last_id(m, vm);
	return 0;
}

struct vm *vm_add(struct mediator *m, const struct vm_conf *c)
{
	struct vm *vm = calloc(1, sizeof(*vm));

	if (!vm) {
		log_errx("vm %s: out of memory", c->name);
		return NULL;
	}
	vm->conf = *c;
	flow_init(&vm->flow, c->weight);
	vm->state_fd = -1;
	vm->wd = -1;
	atomic_init(&vm->refs, 1);
	atomic_init(&vm->jobs, 0);
	TAILQ_INSERT_TAIL(&m->vms, vm, entry);
	if (vm_open(m, vm)) {
		TAILQ_REMOVE(&m->vms, vm, entry);
		free(vm);
		return NULL;
	}
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
