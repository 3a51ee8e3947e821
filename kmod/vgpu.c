// SPDX-License-Identifier: GPL-2.0-only
/*
 * vgpu: guest driver for the vgpu-stub PCI device.
 *
 * The device only tells the guest its GPU assignment (pool, priority,
 * vm_id) and takes a STATUS word; the work itself travels as spool files
 * written by the guest agent. This driver is the meeting point: an
 * application's SUBMIT becomes a request in the driver's queue, the agent
 * FETCHes it, carries it to Dom0 and COMPLETEs it, and the submitter wakes
 * with the answer. See Documentation/guest-driver.rst.
 */

#include <linux/cred.h>
#include <linux/capability.h>
#include <linux/completion.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/io.h>
#include <linux/jiffies.h>
#include <linux/kref.h>
#include <linux/list.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include <misc/vgpu.h>
#include <misc/vgpu_regs.h>

#define DRV_NAME		"vgpu"

/*
 * Read with READ_ONCE, once per decision: root may change it at any time.
 * 0 derives the limit from RAM each time: see vgpu_inflight_limit().
 */
static unsigned long max_inflight_bytes;
module_param(max_inflight_bytes, ulong, 0644);
MODULE_PARM_DESC(max_inflight_bytes,
		 "input plus output bytes of the requests a device holds (default 0: a quarter of RAM, 64 MiB to 8 GiB)");

static unsigned int agent_grace_ms = 10000;
module_param(agent_grace_ms, uint, 0644);
MODULE_PARM_DESC(agent_grace_ms,
		 "requests queued this long without an agent fail with -ENOTCONN (default 10000)");

static unsigned int submit_timeout_ms = 60000;
module_param(submit_timeout_ms, uint, 0644);
MODULE_PARM_DESC(submit_timeout_ms,
		 "timeout of a SUBMIT that gives none (default 60000)");

static DEFINE_IDA(vgpu_ida);

/* The uapi structs have no implicit padding: their sizes are the ABI. */
static_assert(sizeof(struct vgpu_info) == 64);
static_assert(sizeof(struct vgpu_submit) == 208);
static_assert(offsetof(struct vgpu_submit, msg) == VGPU_SUBMIT_SIZE_V1);
static_assert(sizeof(struct vgpu_attach) == 40);
static_assert(sizeof(struct vgpu_fetch) == 120);
static_assert(sizeof(struct vgpu_tag) == 40);
static_assert(sizeof(struct vgpu_complete) == 144);
static_assert(offsetof(struct vgpu_complete, msg) == VGPU_COMPLETE_SIZE_V1);

enum vgpu_req_state {
	VGPU_REQ_QUEUED,	/* on vdev->queue */
	VGPU_REQ_FETCHED,	/* on vdev->fetched, owned by an agent */
	VGPU_REQ_COMPLETING,	/* an agent copies the output in: on no list */
	VGPU_REQ_DONE,		/* answered: status, times and output valid */
	VGPU_REQ_FAILED,	/* the driver gave up: status is the errno */
	VGPU_REQ_CANCELLED,	/* the submitter left; the request is dropped */
};

struct vgpu_req {
	struct kref ref;		/* submitter, plus a fetcher/completer */
	struct list_head node;		/* queue or fetched, by state */
	struct completion done;		/* DONE or FAILED */
	enum vgpu_req_state state;	/* vdev->lock */
	u64 id;
	u64 tag;			/* the agent's, vdev->lock */
	bool redelivered;		/* vdev->lock */
	struct file *agent;		/* the fetcher while FETCHED */
	unsigned long noagent_since;	/* jiffies it was queued agent-less */
	u32 op;
	u64 args[4];
	void *in;
	u64 in_len;
	u64 out_cap;			/* the submitter's room */
	u64 charge;			/* bytes counted in vdev->inflight */
	/* The answer, valid in DONE (FAILED: only status). */
	s32 status;
	void *out;			/* out_len bytes, allocated by COMPLETE */
	u64 out_len;
	u64 queued_ns, started_ns, finished_ns;
	char msg[VGPU_SUBMIT_MSG_LEN];	/* the agent's, NUL-terminated */
};

struct vgpu_dev {
	struct kref ref;		/* the binding, plus one per open file */
	struct pci_dev *pdev;		/* for dev_*() logs, only while !dead */
	void __iomem *base;		/* BAR 0, valid while !dead */
	struct miscdevice misc;
	char name[16];
	int index;

	/* Read from the registers at probe; constant after. */
	u32 version, features, pool, priority, vm_id;
	u64 instance;

	/*
	 * lock guards: dead, agent, queue, fetched, the requests' state,
	 * tag, redelivered and agent fields, next_id, inflight and the
	 * counters. Sleeps nowhere but in copies of the small ioctl structs.
	 */
	struct mutex lock;
	bool dead;			/* removed: every call -ENODEV */
	struct file *agent;		/* the attached agent, or NULL */
	struct list_head queue;		/* QUEUED, redelivered first */
	struct list_head fetched;	/* FETCHED */
	u64 next_id;
	u64 inflight;			/* bytes charged by held requests */
	unsigned int nqueued, nfetched;
	u64 submitted, completed, failed, cancelled, redeliveries, attaches;

	wait_queue_head_t agent_wq;	/* agent: a request was queued */
	wait_queue_head_t room_wq;	/* submitters: inflight went down */
	struct delayed_work grace_work;	/* fails requests nobody fetches */
};

static u32 vgpu_readl(struct vgpu_dev *vdev, unsigned int reg)
{
	return readl(vdev->base + reg);
}

static void vgpu_writel(struct vgpu_dev *vdev, unsigned int reg, u32 val)
{
	writel(val, vdev->base + reg);
}

/* Tell Dom0 (STATUS) whether the driver and an agent are there. */
static void vgpu_set_status(struct vgpu_dev *vdev)
{
	u32 val = VGPU_STATUS_DRIVER_BOUND;

	lockdep_assert_held(&vdev->lock);
	if (vdev->dead || !(vdev->features & VGPU_FEAT_STATUS))
		return;
	if (vdev->agent)
		val |= VGPU_STATUS_AGENT_ATTACHED;
	vgpu_writel(vdev, VGPU_REG_STATUS, val);
}

static void vgpu_dev_release(struct kref *ref)
{
	struct vgpu_dev *vdev = container_of(ref, struct vgpu_dev, ref);

	kfree(vdev);
}

static void vgpu_dev_put(struct vgpu_dev *vdev)
{
	kref_put(&vdev->ref, vgpu_dev_release);
}

/* ---- requests ---------------------------------------------------------- */

/*
 * The byte limit in force: the parameter, or when it is 0 a quarter of
 * the RAM the guest has now (a balloon may change it), within
 * VGPU_INFLIGHT_BYTES_MIN..MAX: kernel memory held for requests stays a
 * fraction of RAM, and a guest of a few GiB carries a 256 MiB round trip
 * in one job (Documentation/protocol.rst, "Size limits", says why).
 */
static u64 vgpu_inflight_limit(void)
{
	u64 limit = READ_ONCE(max_inflight_bytes);

	if (limit)
		return limit;
	limit = (u64)totalram_pages() << PAGE_SHIFT >> VGPU_INFLIGHT_RAM_SHIFT;
	return clamp_t(u64, limit, VGPU_INFLIGHT_BYTES_MIN, VGPU_INFLIGHT_BYTES_MAX);
}

/*
 * A request's input or output: charged to the caller's memory cgroup,
 * -ENOMEM without a warning (the size is the caller's). kvmalloc() takes
 * at most INT_MAX bytes, and WARNs above; vmalloc() takes more.
 */
static void *vgpu_buf_alloc(u64 len)
{
	gfp_t gfp = GFP_KERNEL_ACCOUNT | __GFP_NOWARN;

	return len <= INT_MAX ? kvmalloc(len, gfp) : __vmalloc(len, gfp);
}

static void vgpu_req_release(struct kref *ref)
{
	struct vgpu_req *req = container_of(ref, struct vgpu_req, ref);

	kvfree(req->in);
	kvfree(req->out);
	kfree(req);
}

static void vgpu_req_put(struct vgpu_req *req)
{
	kref_put(&req->ref, vgpu_req_release);
}

/* Answer @req with the driver's own @err and wake its submitter. */
static void vgpu_req_fail(struct vgpu_dev *vdev, struct vgpu_req *req, int err)
{
	lockdep_assert_held(&vdev->lock);
	if (req->state == VGPU_REQ_QUEUED)
		vdev->nqueued--;
	else if (req->state == VGPU_REQ_FETCHED)
		vdev->nfetched--;
	list_del_init(&req->node);
	req->state = VGPU_REQ_FAILED;
	req->status = err;
	vdev->failed++;
	complete_all(&req->done);
}

static void vgpu_grace_arm(struct vgpu_dev *vdev)
{
	unsigned long delay = msecs_to_jiffies(agent_grace_ms);

	lockdep_assert_held(&vdev->lock);
	if (vdev->dead || vdev->agent)
		return;
	/* Never later than a pending run (grace may have been lowered). */
	if (!delayed_work_pending(&vdev->grace_work) ||
	    time_before(jiffies + delay, vdev->grace_work.timer.expires))
		mod_delayed_work(system_wq, &vdev->grace_work, delay);
}

/* Fail what waited agent_grace_ms without an agent; look again later. */
static void vgpu_grace_work(struct work_struct *work)
{
	struct vgpu_dev *vdev = container_of(to_delayed_work(work), struct vgpu_dev,
					     grace_work);
	unsigned long grace = msecs_to_jiffies(agent_grace_ms);
	struct vgpu_req *req, *tmp;
	bool more = false;

	mutex_lock(&vdev->lock);
	if (vdev->dead || vdev->agent)
		goto out_unlock;
	list_for_each_entry_safe(req, tmp, &vdev->queue, node) {
		if (time_after_eq(jiffies, req->noagent_since + grace)) {
			dev_warn_ratelimited(&vdev->pdev->dev,
					     "request %llu: no agent for %u ms\n",
					     req->id, agent_grace_ms);
			vgpu_req_fail(vdev, req, -ENOTCONN);
		} else {
			more = true;
		}
	}
	if (more)
		schedule_delayed_work(&vdev->grace_work, max(grace / 4, 1UL));
out_unlock:
	mutex_unlock(&vdev->lock);
}

/* Charge @bytes to the device if they fit; true if they did. */
static bool vgpu_try_charge(struct vgpu_dev *vdev, u64 bytes, int *err)
{
	bool ok;

	mutex_lock(&vdev->lock);
	if (vdev->dead) {
		*err = -ENODEV;
		ok = true;
	} else {
		ok = vdev->inflight + bytes <= vgpu_inflight_limit();
		if (ok)
			vdev->inflight += bytes;
	}
	mutex_unlock(&vdev->lock);
	return ok;
}

static void vgpu_uncharge(struct vgpu_dev *vdev, u64 bytes)
{
	mutex_lock(&vdev->lock);
	vdev->inflight -= bytes;
	mutex_unlock(&vdev->lock);
	wake_up_all(&vdev->room_wq);
}

/* ---- ioctls -------------------------------------------------------------- */

/*
 * Copy a struct whose first member is argsz from user space: argsz must
 * cover @minsz (the struct of the oldest API version), fields past argsz
 * are zeroed, and bytes past @ksize must be zero. The caller's argsz goes
 * to @argsz, if given, to copy back no more than it.
 */
static int vgpu_copy_in_min(void *dst, size_t ksize, size_t minsz, void __user *arg,
			    u32 *argsz)
{
	u32 usize;
	int ret;

	if (get_user(usize, (u32 __user *)arg))
		return -EFAULT;
	if (usize < minsz || usize > PAGE_SIZE)
		return -EINVAL;
	ret = copy_struct_from_user(dst, ksize, arg, usize);
	if (argsz)
		*argsz = usize;
	return ret == -E2BIG ? -EINVAL : ret;
}

static int vgpu_copy_in(void *dst, size_t ksize, void __user *arg)
{
	return vgpu_copy_in_min(dst, ksize, ksize, arg, NULL);
}

static bool vgpu_zero(const u64 *reserved, unsigned int n)
{
	while (n--)
		if (reserved[n])
			return false;
	return true;
}

static int vgpu_ioctl_get_info(struct vgpu_dev *vdev, void __user *arg)
{
	struct vgpu_info info;
	int ret;

	ret = vgpu_copy_in(&info, sizeof(info), arg);
	if (ret)
		return ret;
	if (info.flags || !vgpu_zero(info.reserved, ARRAY_SIZE(info.reserved)))
		return -EINVAL;
	mutex_lock(&vdev->lock);
	ret = vdev->dead ? -ENODEV : 0;
	info.flags = vdev->agent ? VGPU_INFO_F_AGENT : 0;
	mutex_unlock(&vdev->lock);
	if (ret)
		return ret;
	info.vm_id = vdev->vm_id;
	info.pool = vdev->pool;
	info.priority = vdev->priority;
	info.version = vdev->version;
	info.features = vdev->features;
	info.api_version = VGPU_API_VERSION;
	info.max_inflight_bytes = vgpu_inflight_limit();
	info.instance = vdev->instance;
	return copy_to_user(arg, &info, sizeof(info)) ? -EFAULT : 0;
}

static int vgpu_submit_check(const struct vgpu_submit *s)
{
	u64 limit = vgpu_inflight_limit();

	if (s->flags || !vgpu_zero(s->reserved, ARRAY_SIZE(s->reserved)))
		return -EINVAL;
	if (s->in_len && !s->in_ptr)
		return -EFAULT;
	if (s->out_len && !s->out_ptr)
		return -EFAULT;
	if (s->in_len > limit || s->out_len > limit || s->in_len + s->out_len > limit)
		return -E2BIG;
	if (!access_ok(u64_to_user_ptr(s->in_ptr), s->in_len) ||
	    !access_ok(u64_to_user_ptr(s->out_ptr), s->out_len))
		return -EFAULT;
	return 0;
}

static struct vgpu_req *vgpu_req_alloc(const struct vgpu_submit *s)
{
	struct vgpu_req *req = kzalloc(sizeof(*req), GFP_KERNEL);

	if (!req)
		return NULL;
	kref_init(&req->ref);
	INIT_LIST_HEAD(&req->node);
	init_completion(&req->done);
	req->op = s->op;
	memcpy(req->args, s->args, sizeof(req->args));
	req->in_len = s->in_len;
	/* The output is allocated when it comes, as long as it is. */
	req->out_cap = s->out_len;
	if (req->in_len) {
		req->in = vgpu_buf_alloc(req->in_len);
		if (!req->in) {
			vgpu_req_put(req);
			return NULL;
		}
	}
	return req;
}

/* Wait for room for @bytes; 0 once charged, or -errno. */
static int vgpu_charge(struct vgpu_dev *vdev, struct file *file, u64 bytes, long *left)
{
	int err = 0;
	long ret;

	if (vgpu_try_charge(vdev, bytes, &err))
		return err;
	if (file->f_flags & O_NONBLOCK)
		return -EAGAIN;
	ret = wait_event_interruptible_timeout(vdev->room_wq,
					       vgpu_try_charge(vdev, bytes, &err), *left);
	if (ret < 0)
		return -EINTR;
	if (ret == 0)
		return -ETIMEDOUT;
	*left = ret;
	return err;
}

static int vgpu_ioctl_submit(struct vgpu_dev *vdev, struct file *file, void __user *arg)
{
	struct vgpu_submit s;
	struct vgpu_req *req;
	long left, ret;
	u32 argsz;
	u64 charge;
	int err;

	err = vgpu_copy_in_min(&s, sizeof(s), VGPU_SUBMIT_SIZE_V1, arg, &argsz);
	if (err)
		return err;
	err = vgpu_submit_check(&s);
	if (err)
		return err;
	left = s.timeout_ns ? nsecs_to_jiffies(s.timeout_ns) :
			      msecs_to_jiffies(submit_timeout_ms);
	left = clamp(left, 1L, (long)MAX_SCHEDULE_TIMEOUT - 1);

	charge = s.in_len + s.out_len;
	err = vgpu_charge(vdev, file, charge, &left);
	if (err)
		return err;
	req = vgpu_req_alloc(&s);
	if (!req) {
		err = -ENOMEM;
		goto err_uncharge;
	}
	req->charge = charge;
	if (copy_from_user(req->in, u64_to_user_ptr(s.in_ptr), s.in_len)) {
		err = -EFAULT;
		goto err_put;
	}

	mutex_lock(&vdev->lock);
	if (vdev->dead) {
		mutex_unlock(&vdev->lock);
		err = -ENODEV;
		goto err_put;
	}
	req->id = ++vdev->next_id;
	req->state = VGPU_REQ_QUEUED;
	req->noagent_since = jiffies;
	list_add_tail(&req->node, &vdev->queue);
	vdev->nqueued++;
	vdev->submitted++;
	vgpu_grace_arm(vdev);
	mutex_unlock(&vdev->lock);
	wake_up_interruptible(&vdev->agent_wq);

	ret = wait_for_completion_interruptible_timeout(&req->done, left);

	mutex_lock(&vdev->lock);
	switch (req->state) {
	case VGPU_REQ_DONE:
		err = 0;
		break;
	case VGPU_REQ_FAILED:
		err = req->status;
		break;
	case VGPU_REQ_QUEUED:
	case VGPU_REQ_FETCHED:
		if (req->state == VGPU_REQ_QUEUED)
			vdev->nqueued--;
		else
			vdev->nfetched--;
		list_del_init(&req->node);
		fallthrough;
	default:
		/* COMPLETING: the completer sees CANCELLED and drops it. */
		req->state = VGPU_REQ_CANCELLED;
		vdev->cancelled++;
		err = ret < 0 ? -EINTR : -ETIMEDOUT;
		break;
	}
	mutex_unlock(&vdev->lock);
	if (err)
		goto err_put;

	s.status = req->status;
	s.out_written = req->out_len;
	s.queued_ns = req->queued_ns;
	s.started_ns = req->started_ns;
	s.finished_ns = req->finished_ns;
	s.id = req->id;
	memcpy(s.msg, req->msg, sizeof(s.msg));
	/* A version 1 caller's struct ends before msg. */
	if (copy_to_user(u64_to_user_ptr(s.out_ptr), req->out, req->out_len) ||
	    copy_to_user(arg, &s, min_t(size_t, argsz, sizeof(s))))
		err = -EFAULT;

err_put:
	vgpu_req_put(req);
err_uncharge:
	vgpu_uncharge(vdev, charge);
	return err;
}

static bool vgpu_is_agent(struct vgpu_dev *vdev, struct file *file, int *err)
{
	lockdep_assert_held(&vdev->lock);
	if (vdev->dead)
		*err = -ENODEV;
	else if (vdev->agent != file)
		*err = -EPERM;
	else
		*err = 0;
	return !*err;
}

static int vgpu_ioctl_attach(struct vgpu_dev *vdev, struct file *file, void __user *arg)
{
	struct vgpu_attach a;
	struct vgpu_req *req;
	int err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	err = vgpu_copy_in(&a, sizeof(a), arg);
	if (err)
		return err;
	if (a.flags || a.vm_id || a.redelivered || a.instance ||
	    !vgpu_zero(a.reserved, ARRAY_SIZE(a.reserved)))
		return -EINVAL;
	mutex_lock(&vdev->lock);
	if (vdev->dead) {
		err = -ENODEV;
	} else if (vdev->agent) {
		err = -EBUSY;
	} else {
		vdev->agent = file;
		vdev->attaches++;
		vgpu_set_status(vdev);
		list_for_each_entry(req, &vdev->queue, node)
			a.redelivered += req->redelivered;
		dev_info(&vdev->pdev->dev, "agent attached (pid %d), %u requests redelivered\n",
			 task_tgid_nr(current), a.redelivered);
	}
	mutex_unlock(&vdev->lock);
	if (err)
		return err;
	a.vm_id = vdev->vm_id;
	a.instance = vdev->instance;
	return copy_to_user(arg, &a, sizeof(a)) ? -EFAULT : 0;
}

/* Agent gone: what it held goes back to the head of the queue. */
static void vgpu_agent_detach(struct vgpu_dev *vdev)
{
	struct vgpu_req *req, *tmp;
	unsigned int n = 0;

	lockdep_assert_held(&vdev->lock);
	vdev->agent = NULL;
	list_for_each_entry_safe_reverse(req, tmp, &vdev->fetched, node) {
		list_move(&req->node, &vdev->queue);
		req->state = VGPU_REQ_QUEUED;
		req->agent = NULL;
		req->redelivered = true;
		vdev->nfetched--;
		vdev->nqueued++;
		vdev->redeliveries++;
		n++;
	}
	list_for_each_entry(req, &vdev->queue, node)
		req->noagent_since = jiffies;
	vgpu_set_status(vdev);
	vgpu_grace_arm(vdev);
	if (!vdev->dead)
		dev_info(&vdev->pdev->dev, "agent detached, %u requests queued again\n", n);
}

/* Take the head of the queue for @file if it fits @in_cap. */
static struct vgpu_req *vgpu_fetch_one(struct vgpu_dev *vdev, struct file *file,
				       struct vgpu_fetch *f, int *err)
{
	struct vgpu_req *req;

	mutex_lock(&vdev->lock);
	if (!vgpu_is_agent(vdev, file, err)) {
		req = NULL;
		goto out_unlock;
	}
	req = list_first_entry_or_null(&vdev->queue, struct vgpu_req, node);
	if (!req) {
		*err = -EAGAIN;
		goto out_unlock;
	}
	f->in_len = req->in_len;
	if (req->in_len > f->in_cap) {
		*err = -ENOSPC;
		req = NULL;
		goto out_unlock;
	}
	list_move_tail(&req->node, &vdev->fetched);
	req->state = VGPU_REQ_FETCHED;
	req->agent = file;
	vdev->nqueued--;
	vdev->nfetched++;
	kref_get(&req->ref);
	f->flags = req->redelivered ? VGPU_FETCH_F_REDELIVERED : 0;
	f->op = req->op;
	f->id = req->id;
	f->tag = req->tag;
	memcpy(f->args, req->args, sizeof(f->args));
	f->out_len = req->out_cap;
out_unlock:
	mutex_unlock(&vdev->lock);
	return req;
}

static bool vgpu_fetch_ready(struct vgpu_dev *vdev, struct file *file)
{
	return !list_empty_careful(&vdev->queue) || READ_ONCE(vdev->dead) ||
	       READ_ONCE(vdev->agent) != file;
}

static int vgpu_ioctl_fetch(struct vgpu_dev *vdev, struct file *file, void __user *arg)
{
	struct vgpu_fetch f;
	struct vgpu_req *req;
	long left;
	int err;

	err = vgpu_copy_in(&f, sizeof(f), arg);
	if (err)
		return err;
	if (f.flags || f.op || f.reserved0 || f.id || f.tag || f.in_len || f.out_len ||
	    !vgpu_zero(f.args, ARRAY_SIZE(f.args)) ||
	    !vgpu_zero(f.reserved, ARRAY_SIZE(f.reserved)))
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(f.in_ptr), f.in_cap))
		return -EFAULT;
	left = clamp(nsecs_to_jiffies(f.timeout_ns), 0UL, (unsigned long)MAX_SCHEDULE_TIMEOUT - 1);
	for (;;) {
		long ret;

		req = vgpu_fetch_one(vdev, file, &f, &err);
		if (req || err != -EAGAIN || !left)
			break;
		ret = wait_event_interruptible_timeout(vdev->agent_wq,
						       vgpu_fetch_ready(vdev, file), left);
		if (ret < 0)
			return -EINTR;
		left = ret;
	}
	if (!req)
		return err == -ENOSPC && copy_to_user(arg, &f, sizeof(f)) ? -EFAULT : err;

	if (copy_to_user(u64_to_user_ptr(f.in_ptr), req->in, req->in_len) ||
	    copy_to_user(arg, &f, sizeof(f))) {
		/* Give it back, unless the submitter or remove took it. */
		mutex_lock(&vdev->lock);
		if (req->state == VGPU_REQ_FETCHED) {
			list_move(&req->node, &vdev->queue);
			req->state = VGPU_REQ_QUEUED;
			req->agent = NULL;
			vdev->nfetched--;
			vdev->nqueued++;
		}
		mutex_unlock(&vdev->lock);
		err = -EFAULT;
	}
	vgpu_req_put(req);
	return err;
}

static struct vgpu_req *vgpu_find_fetched(struct vgpu_dev *vdev, struct file *file, u64 id)
{
	struct vgpu_req *req;

	lockdep_assert_held(&vdev->lock);
	list_for_each_entry(req, &vdev->fetched, node)
		if (req->id == id && req->agent == file)
			return req;
	return NULL;
}

static int vgpu_ioctl_tag(struct vgpu_dev *vdev, struct file *file, void __user *arg)
{
	struct vgpu_req *req;
	struct vgpu_tag t;
	int err;

	err = vgpu_copy_in(&t, sizeof(t), arg);
	if (err)
		return err;
	if (t.flags || !t.tag || !vgpu_zero(t.reserved, ARRAY_SIZE(t.reserved)))
		return -EINVAL;
	mutex_lock(&vdev->lock);
	if (vgpu_is_agent(vdev, file, &err)) {
		req = vgpu_find_fetched(vdev, file, t.id);
		if (req)
			req->tag = t.tag;
		else
			err = -ENOENT;
	}
	mutex_unlock(&vdev->lock);
	return err;
}

static int vgpu_ioctl_complete(struct vgpu_dev *vdev, struct file *file, void __user *arg)
{
	struct vgpu_complete c;
	struct vgpu_req *req;
	void *out = NULL;
	int err;

	/* A version 1 agent's struct ends before msg: it reads as empty. */
	err = vgpu_copy_in_min(&c, sizeof(c), VGPU_COMPLETE_SIZE_V1, arg, NULL);
	if (err)
		return err;
	if (c.flags || c.reserved0 || !vgpu_zero(c.reserved, ARRAY_SIZE(c.reserved)) ||
	    c.status > 0 || c.status < -MAX_ERRNO)
		return -EINVAL;
	if (!access_ok(u64_to_user_ptr(c.out_ptr), c.out_len))
		return -EFAULT;

	mutex_lock(&vdev->lock);
	if (!vgpu_is_agent(vdev, file, &err))
		goto out_unlock;
	req = vgpu_find_fetched(vdev, file, c.id);
	if (!req) {
		err = -ENOENT;
		goto out_unlock;
	}
	/* Output with an error only for a session: it says what failed. */
	if (c.out_len > req->out_cap ||
	    (c.status && c.out_len && req->op != VGPU_OP_SESSION)) {
		err = -EINVAL;
		goto out_unlock;
	}
	list_del_init(&req->node);
	req->state = VGPU_REQ_COMPLETING;
	vdev->nfetched--;
	kref_get(&req->ref);
	mutex_unlock(&vdev->lock);

	/* No lock held: the copy may fault; the submitter may leave. */
	if (c.out_len) {
		out = vgpu_buf_alloc(c.out_len);
		if (!out)
			err = -ENOMEM;
		else if (copy_from_user(out, u64_to_user_ptr(c.out_ptr), c.out_len))
			err = -EFAULT;
	}

	mutex_lock(&vdev->lock);
	if (req->state == VGPU_REQ_CANCELLED) {
		err = 0;	/* nobody to tell; the agent did its part */
	} else if (err && !vdev->dead) {
		list_add(&req->node, &vdev->fetched);
		req->state = VGPU_REQ_FETCHED;
		vdev->nfetched++;
	} else if (err) {
		vgpu_req_fail(vdev, req, -ENODEV);
	} else {
		req->status = c.status;
		req->out = out;
		out = NULL;
		req->out_len = c.out_len;
		req->queued_ns = c.queued_ns;
		req->started_ns = c.started_ns;
		req->finished_ns = c.finished_ns;
		memcpy(req->msg, c.msg, sizeof(req->msg));
		req->msg[sizeof(req->msg) - 1] = '\0';
		req->state = VGPU_REQ_DONE;
		vdev->completed++;
		complete_all(&req->done);
	}
	mutex_unlock(&vdev->lock);
	kvfree(out);
	vgpu_req_put(req);
	return err;

out_unlock:
	mutex_unlock(&vdev->lock);
	return err;
}

static long vgpu_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct vgpu_dev *vdev = file->private_data;
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VGPU_IOC_GET_INFO:
		return vgpu_ioctl_get_info(vdev, uarg);
	case VGPU_IOC_SUBMIT:
	case VGPU_IOC_SUBMIT_V1:
		return vgpu_ioctl_submit(vdev, file, uarg);
	case VGPU_IOC_AGENT_ATTACH:
		return vgpu_ioctl_attach(vdev, file, uarg);
	case VGPU_IOC_AGENT_FETCH:
		return vgpu_ioctl_fetch(vdev, file, uarg);
	case VGPU_IOC_AGENT_TAG:
		return vgpu_ioctl_tag(vdev, file, uarg);
	case VGPU_IOC_AGENT_COMPLETE:
	case VGPU_IOC_AGENT_COMPLETE_V1:
		return vgpu_ioctl_complete(vdev, file, uarg);
	default:
		return -ENOTTY;
	}
}

/* ---- file operations ----------------------------------------------------- */

static int vgpu_open(struct inode *inode, struct file *file)
{
	/* misc_open() holds misc_mtx: remove() cannot run past deregister. */
	struct vgpu_dev *vdev = container_of(file->private_data, struct vgpu_dev, misc);

	kref_get(&vdev->ref);
	file->private_data = vdev;
	return 0;
}

static int vgpu_release(struct inode *inode, struct file *file)
{
	struct vgpu_dev *vdev = file->private_data;

	mutex_lock(&vdev->lock);
	if (vdev->agent == file)
		vgpu_agent_detach(vdev);
	mutex_unlock(&vdev->lock);
	wake_up_interruptible(&vdev->agent_wq);
	vgpu_dev_put(vdev);
	return 0;
}

static __poll_t vgpu_poll(struct file *file, poll_table *wait)
{
	struct vgpu_dev *vdev = file->private_data;
	__poll_t mask = 0;

	poll_wait(file, &vdev->agent_wq, wait);
	mutex_lock(&vdev->lock);
	if (vdev->dead)
		mask = EPOLLHUP | EPOLLERR;
	else if (vdev->agent == file && !list_empty(&vdev->queue))
		mask = EPOLLIN | EPOLLRDNORM;
	mutex_unlock(&vdev->lock);
	return mask;
}

static const struct file_operations vgpu_fops = {
	.owner = THIS_MODULE,
	.open = vgpu_open,
	.release = vgpu_release,
	.poll = vgpu_poll,
	.unlocked_ioctl = vgpu_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

/* ---- sysfs --------------------------------------------------------------- */

#define VGPU_ATTR_U64(_name, _expr)						\
static ssize_t _name##_show(struct device *dev, struct device_attribute *attr,	\
			    char *buf)						\
{										\
	struct vgpu_dev *vdev = dev_get_drvdata(dev);				\
	u64 val;								\
										\
	mutex_lock(&vdev->lock);						\
	val = (_expr);								\
	mutex_unlock(&vdev->lock);						\
	return sysfs_emit(buf, "%llu\n", val);					\
}										\
static DEVICE_ATTR_RO(_name)

VGPU_ATTR_U64(vm_id, vdev->vm_id);
VGPU_ATTR_U64(agent_attached, vdev->agent ? 1 : 0);
VGPU_ATTR_U64(queued, vdev->nqueued);
VGPU_ATTR_U64(fetched, vdev->nfetched);
VGPU_ATTR_U64(inflight_bytes, vdev->inflight);
VGPU_ATTR_U64(submitted, vdev->submitted);
VGPU_ATTR_U64(completed, vdev->completed);
VGPU_ATTR_U64(failed, vdev->failed);
VGPU_ATTR_U64(cancelled, vdev->cancelled);
VGPU_ATTR_U64(redelivered, vdev->redeliveries);
VGPU_ATTR_U64(agent_attaches, vdev->attaches);

static ssize_t pool_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vgpu_dev *vdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%s\n", vdev->pool == VGPU_POOL_A ? "A" : "B");
}
static DEVICE_ATTR_RO(pool);

static ssize_t priority_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	static const char * const names[VGPU_NR_PRIOS] = { "low", "medium", "high" };
	struct vgpu_dev *vdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%s\n", names[vdev->priority]);
}
static DEVICE_ATTR_RO(priority);

static ssize_t version_show(struct device *dev, struct device_attribute *attr, char *buf)
{
	struct vgpu_dev *vdev = dev_get_drvdata(dev);

	return sysfs_emit(buf, "%u.%u\n", vdev->version >> VGPU_VERSION_MAJOR_SHIFT,
			  vdev->version & VGPU_VERSION_MINOR_MASK);
}
static DEVICE_ATTR_RO(version);

static struct attribute *vgpu_attrs[] = {
	&dev_attr_pool.attr,
	&dev_attr_priority.attr,
	&dev_attr_vm_id.attr,
	&dev_attr_version.attr,
	&dev_attr_agent_attached.attr,
	&dev_attr_agent_attaches.attr,
	&dev_attr_queued.attr,
	&dev_attr_fetched.attr,
	&dev_attr_inflight_bytes.attr,
	&dev_attr_submitted.attr,
	&dev_attr_completed.attr,
	&dev_attr_failed.attr,
	&dev_attr_cancelled.attr,
	&dev_attr_redelivered.attr,
	NULL,
};
ATTRIBUTE_GROUPS(vgpu);

/* ---- probe and remove ---------------------------------------------------- */

static int vgpu_check_regs(struct vgpu_dev *vdev)
{
	struct device *dev = &vdev->pdev->dev;
	u32 magic = vgpu_readl(vdev, VGPU_REG_MAGIC);

	if (magic != VGPU_MAGIC) {
		dev_err(dev, "bad magic %#010x (expected %#010x)\n", magic, VGPU_MAGIC);
		return -ENODEV;
	}
	vdev->version = vgpu_readl(vdev, VGPU_REG_VERSION);
	if (vdev->version >> VGPU_VERSION_MAJOR_SHIFT != VGPU_VERSION_MAJOR) {
		dev_err(dev, "register map version %u.%u is not supported (this driver: %u.x)\n",
			vdev->version >> VGPU_VERSION_MAJOR_SHIFT,
			vdev->version & VGPU_VERSION_MINOR_MASK, VGPU_VERSION_MAJOR);
		return -ENODEV;
	}
	vdev->features = vgpu_readl(vdev, VGPU_REG_FEATURES);
	vdev->pool = vgpu_readl(vdev, VGPU_REG_POOL_ID);
	vdev->priority = vgpu_readl(vdev, VGPU_REG_PRIORITY);
	vdev->vm_id = vgpu_readl(vdev, VGPU_REG_VM_ID);
	if (vdev->pool >= VGPU_NR_POOLS || vdev->priority >= VGPU_NR_PRIOS || !vdev->vm_id) {
		dev_err(dev, "bad assignment: pool %u, priority %u, vm_id %u\n",
			vdev->pool, vdev->priority, vdev->vm_id);
		return -ENODEV;
	}
	return 0;
}

static int vgpu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct device *dev = &pdev->dev;
	struct vgpu_dev *vdev;
	int err;

	vdev = kzalloc(sizeof(*vdev), GFP_KERNEL);
	if (!vdev)
		return -ENOMEM;
	kref_init(&vdev->ref);
	vdev->pdev = pdev;
	mutex_init(&vdev->lock);
	INIT_LIST_HEAD(&vdev->queue);
	INIT_LIST_HEAD(&vdev->fetched);
	init_waitqueue_head(&vdev->agent_wq);
	init_waitqueue_head(&vdev->room_wq);
	INIT_DELAYED_WORK(&vdev->grace_work, vgpu_grace_work);
	vdev->instance = get_random_u64();

	err = pcim_enable_device(pdev);
	if (err) {
		dev_err(dev, "cannot enable the device: %d\n", err);
		goto err_put;
	}
	err = pcim_iomap_regions(pdev, BIT(0), DRV_NAME);
	if (err) {
		dev_err(dev, "cannot map BAR 0: %d\n", err);
		goto err_put;
	}
	vdev->base = pcim_iomap_table(pdev)[0];
	if (pci_resource_len(pdev, 0) < VGPU_REG_END) {
		dev_err(dev, "BAR 0 is too small\n");
		err = -ENODEV;
		goto err_put;
	}
	err = vgpu_check_regs(vdev);
	if (err)
		goto err_put;

	vdev->index = ida_alloc(&vgpu_ida, GFP_KERNEL);
	if (vdev->index < 0) {
		err = vdev->index;
		goto err_put;
	}
	snprintf(vdev->name, sizeof(vdev->name), DRV_NAME "%d", vdev->index);
	pci_set_drvdata(pdev, vdev);

	mutex_lock(&vdev->lock);
	vgpu_set_status(vdev);
	mutex_unlock(&vdev->lock);

	vdev->misc.minor = MISC_DYNAMIC_MINOR;
	vdev->misc.name = vdev->name;
	vdev->misc.fops = &vgpu_fops;
	vdev->misc.parent = dev;
	err = misc_register(&vdev->misc);
	if (err) {
		dev_err(dev, "cannot register %s: %d\n", vdev->name, err);
		goto err_clear_status;
	}
	dev_info(dev, "%s: vm_id %u, pool %c, priority %u, register map %u.%u\n",
		 vdev->name, vdev->vm_id, 'A' + vdev->pool, vdev->priority,
		 vdev->version >> VGPU_VERSION_MAJOR_SHIFT,
		 vdev->version & VGPU_VERSION_MINOR_MASK);
	return 0;

err_clear_status:
	if (vdev->features & VGPU_FEAT_STATUS)
		vgpu_writel(vdev, VGPU_REG_STATUS, 0);
	ida_free(&vgpu_ida, vdev->index);
err_put:
	vgpu_dev_put(vdev);
	return err;
}

static void vgpu_remove(struct pci_dev *pdev)
{
	struct vgpu_dev *vdev = pci_get_drvdata(pdev);
	struct vgpu_req *req, *tmp;

	misc_deregister(&vdev->misc);

	mutex_lock(&vdev->lock);
	if (vdev->features & VGPU_FEAT_STATUS)
		vgpu_writel(vdev, VGPU_REG_STATUS, 0);
	vdev->dead = true;
	list_for_each_entry_safe(req, tmp, &vdev->queue, node)
		vgpu_req_fail(vdev, req, -ENODEV);
	list_for_each_entry_safe(req, tmp, &vdev->fetched, node)
		vgpu_req_fail(vdev, req, -ENODEV);
	mutex_unlock(&vdev->lock);
	wake_up_all(&vdev->agent_wq);
	wake_up_all(&vdev->room_wq);
	cancel_delayed_work_sync(&vdev->grace_work);

	ida_free(&vgpu_ida, vdev->index);
	vdev->base = NULL;	/* unmapped by pcim once we return */
	vgpu_dev_put(vdev);
}

static const struct pci_device_id vgpu_ids[] = {
	{ PCI_DEVICE_SUB(VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID,
			 VGPU_PCI_SUBSYSTEM_VENDOR_ID, VGPU_PCI_SUBSYSTEM_ID) },
	{ }
};
MODULE_DEVICE_TABLE(pci, vgpu_ids);

static struct pci_driver vgpu_driver = {
	.name = DRV_NAME,
	.id_table = vgpu_ids,
	.probe = vgpu_probe,
	.remove = vgpu_remove,
	.dev_groups = vgpu_groups,
};

module_pci_driver(vgpu_driver);

MODULE_DESCRIPTION("vgpu-stub guest driver: /dev/vgpuN jobs for the vgpu agent");
MODULE_AUTHOR("The vgpu project");
MODULE_LICENSE("GPL");
