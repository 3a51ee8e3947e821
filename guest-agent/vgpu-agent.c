// SPDX-License-Identifier: MIT
/*
 * vgpu-agent: carries the jobs of /dev/vgpuN to Dom0 and back.
 *
 * It attaches to the device as its agent, fetches each request the driver
 * queues, publishes it as a request file in the VM's spool directory (the
 * NFS mount /mnt/vgpu) with lib/client.c, polls for the responses and
 * completes the requests in the driver. Documentation/guest-agent.rst has
 * the design; in short:
 *
 *  - Many requests in flight (-j); one event loop; the device fd polls
 *    readable while a request is queued, a timer polls rsp/ with backoff.
 *  - Before publishing a request under spool id S the agent TAGs it with
 *    S in the driver. If the agent dies, the driver queues the request
 *    again with its tag, and the next agent adopts spool id S (waits for
 *    rsp/S) instead of publishing the request twice.
 *  - A publish that fails (NFS server away) is retried with backoff under
 *    the same id, and nothing after it is published meanwhile.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/queue.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <misc/vgpu.h>

#include "client.h"
#include "log.h"
#include "loop.h"
#include "spool.h"
#include "vgpu/ops.h"
#include "vgpu/session.h"

#define DEF_DEVICE		"/dev/vgpu0"
#define DEF_SPOOL		"/mnt/vgpu"
#define DEF_JOBS		32	/* in flight; below the mediator's max_queued */
#define POLL_MIN_MS		1	/* rsp/ listing backoff */
#define DEF_POLL_MAX_MS		20
#define RETRY_MIN_MS		100	/* publish retry backoff */
#define RETRY_MAX_MS		5000
#define OPEN_RETRY_MAX_MS	5000	/* spool directory not there yet */
#define BUSY_RETRY_MS		50	/* mediator answered -EBUSY */

enum job_state {
	JOB_WAITING,	/* on agent.publishq: not yet published */
	JOB_PUBLISHED,	/* with the client, which collects its response */
	JOB_ADOPTED,	/* published by a dead agent: on agent.adopted */
};

struct job {
	TAILQ_ENTRY(job) entry;
	enum job_state state;
	uint64_t drv_id;	/* the driver's request id */
	uint64_t spool_id;	/* its name in the spool, once tagged */
	uint32_t op;
	uint64_t args[VGPU_NR_ARGS];
	void *in;
	uint64_t in_len;
	void *out;
	uint64_t out_cap;
	char why[VGPU_MSG_LEN];	/* the agent's own reason, if it answers */
};
TAILQ_HEAD(jobq, job);

static struct agent {
	const char *device, *spool;
	unsigned int max_jobs, poll_max_ms;
	bool sync;

	int dev_fd;
	bool dev_watched;	/* dev_fd is in the loop */
	struct vgpu_attach att;
	struct vgpu_client *client;
	struct vgpu_spool sp;	/* our own view, for adopted requests */
	uint64_t first_id;	/* the client's first id: lower ones are old */
	unsigned int redeliver_left; /* redelivered requests not fetched yet */
	struct loop *loop;
	int poll_tfd, retry_tfd, sig_fd;
	unsigned int poll_ms, retry_ms;

	struct jobq publishq;	/* JOB_WAITING, in fetch order */
	struct jobq adopted;	/* JOB_ADOPTED */
	unsigned int njobs;	/* all jobs held */
	void *scratch;		/* fetch buffer */
	uint64_t scratch_len;
	int exit_code;
	uint64_t published, completed, adopted_n, resubmitted;
} ag = {
	.device = DEF_DEVICE,
	.spool = DEF_SPOOL,
	.max_jobs = DEF_JOBS,
	.poll_max_ms = DEF_POLL_MAX_MS,
	.sync = true,
};

static void arm(int tfd, unsigned int ms)
{
	struct itimerspec its = {
		.it_value = { ms / 1000, (long)(ms % 1000) * 1000000 + (ms ? 0 : 1) },
	};

	timerfd_settime(tfd, 0, &its, NULL);
}

static void disarm(int tfd)
{
	struct itimerspec its = { { 0, 0 }, { 0, 0 } };

	timerfd_settime(tfd, 0, &its, NULL);
}

static void job_free(struct job *j)
{
	free(j->in);
	free(j->out);
	free(j);
	ag.njobs--;
}

static int complete_ioctl(struct vgpu_complete *c)
{
	int ret = ioctl(ag.dev_fd, VGPU_IOC_AGENT_COMPLETE, c);

	if (ret < 0 && errno == ENOTTY) {
		c->argsz = VGPU_COMPLETE_SIZE_V1;
		ret = ioctl(ag.dev_fd, VGPU_IOC_AGENT_COMPLETE_V1, c);
	}
	return ret;
}

/*
 * Answer @j: Dom0's response @rsp, or the agent's own @status (and j->why);
 * -ENOENT from the driver means the submitter left. The output goes with
 * it when the job succeeded, and a session's response whatever its status
 * (it says which command failed). The submitter gets the message too (API
 * version 2); a driver of version 1 does not know the ioctl number that
 * carries it and gets the rest.
 */
static void job_complete(struct job *j, const struct vgpu_rsp_hdr *rsp, int32_t status)
{
	struct vgpu_complete c = {
		.argsz = sizeof(c),
		.status = status,
		.id = j->drv_id,
	};
	int ret;

	_Static_assert(VGPU_MSG_LEN <= VGPU_SUBMIT_MSG_LEN, "the mediator's message fits");
	if (rsp)
		snprintf(c.msg, sizeof(c.msg), "%s", rsp->msg);
	else if (j->why[0])
		snprintf(c.msg, sizeof(c.msg), "%s", j->why);
	else if (status)
		snprintf(c.msg, sizeof(c.msg), "vgpu-agent: %s", strerror(-status));

	if (rsp && (!status || j->op == VGPU_OP_SESSION)) {
		c.out_ptr = (uintptr_t)j->out;
		c.out_len = rsp->payload_len;
	}
	if (rsp) {
		c.queued_ns = rsp->queued_ns;
		c.started_ns = rsp->started_ns;
		c.finished_ns = rsp->finished_ns;
	}
	ret = complete_ioctl(&c);
	if (ret < 0 && errno != ENOENT && c.out_len) {
		/*
		 * The driver did not take the output (-ENOMEM; -EINVAL from a
		 * driver that takes none with an error): the submitter gets
		 * the answer without it rather than wait for its timeout.
		 */
		int err = errno;

		log_warnx("request %" PRIu64 ": handing over %" PRIu64 " bytes: %s",
			  j->drv_id, (uint64_t)c.out_len, strerror(err));
		c.out_ptr = 0;
		c.out_len = 0;
		if (!c.status) {
			c.status = -err;
			snprintf(c.msg, sizeof(c.msg), "vgpu-agent: %" PRIu64 " output bytes: %s",
				 rsp->payload_len, strerror(err));
		}
		ret = complete_ioctl(&c);
	}
	if (ret < 0) {
		if (errno == ENOENT)
			log_debug("request %" PRIu64 ": submitter gone", j->drv_id);
		else
			log_warn("request %" PRIu64 ": complete", j->drv_id);
	}
	/* Only now may the response go: until here a restarted agent adopts it. */
	if (j->spool_id)
		vgpu_client_release(ag.client, j->spool_id);
	ag.completed++;
	job_free(j);
}

static void watch_device(bool on);

/* Publish the queue's head jobs in order; stop at the first failure. */
static void publish(void)
{
	struct job *j;
	char why[VGPU_MSG_LEN];

	while ((j = TAILQ_FIRST(&ag.publishq))) {
		struct vgpu_tag t = { .argsz = sizeof(t), .id = j->drv_id };
		struct vgpu_call call = {
			.op = j->op, .in = j->in, .in_len = j->in_len,
			.out = j->out, .out_cap = j->out_cap, .user = j,
		};
		uint64_t id;
		int err;

		memcpy(call.args, j->args, sizeof(call.args));
		/* The tag must be in the driver before the file can exist. */
		j->spool_id = t.tag = vgpu_client_next_id(ag.client);
		if (ioctl(ag.dev_fd, VGPU_IOC_AGENT_TAG, &t) < 0) {
			if (errno != ENOENT)
				log_warn("request %" PRIu64 ": tag", j->drv_id);
			TAILQ_REMOVE(&ag.publishq, j, entry);
			job_free(j);	/* the submitter gave up on it */
			continue;
		}
		err = vgpu_client_submit(ag.client, &call, &id, why);
		if (err) {
			log_warnx("request %" PRIu64 " as %016" PRIx64 ": %s; retrying in %u ms",
				  j->drv_id, j->spool_id, why, ag.retry_ms);
			arm(ag.retry_tfd, ag.retry_ms);
			ag.retry_ms = ag.retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : ag.retry_ms * 2;
			return;
		}
		if (id != j->spool_id)
			log_warnx("request %" PRIu64 ": published as %016" PRIx64 ", tagged %016"
				  PRIx64, j->drv_id, id, j->spool_id);
		ag.retry_ms = RETRY_MIN_MS;
		TAILQ_REMOVE(&ag.publishq, j, entry);
		j->state = JOB_PUBLISHED;
		ag.published++;
		log_debug("request %" PRIu64 ": published as %016" PRIx64, j->drv_id, id);
		ag.poll_ms = POLL_MIN_MS;
		arm(ag.poll_tfd, POLL_MIN_MS);
	}
}

/* Does spool id @id exist at any stage of its life in the spool? */
static bool spool_has(uint64_t id)
{
	char name[VGPU_ID_NAME_LEN + 1];
	struct stat st;

	vgpu_id_name(id, name);
	/*
	 * In the order a request moves, so a move between looks cannot hide
	 * it: req/, then the mediator's hands (it raises VM/taken before it
	 * takes an id out of req/), then rsp/.
	 */
	return !fstatat(ag.sp.req, name, &st, AT_SYMLINK_NOFOLLOW) ||
	       id <= vgpu_spool_taken(ag.sp.dir) ||
	       !fstatat(ag.sp.rsp, name, &st, AT_SYMLINK_NOFOLLOW);
}

/*
 * Once every redelivered request is fetched: an earlier agent's response
 * that nothing adopted belongs to a request the driver already completed
 * (that agent died between completing it and removing the file). Remove
 * it, so the spool holds only what is still wanted.
 */
static void sweep_orphans(void)
{
	int fd = openat(ag.sp.rsp, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	unsigned int n = 0;

	if (!d) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d))) {
		uint64_t id;
		struct job *j;
		bool wanted = false;

		if (vgpu_id_parse(de->d_name, &id) || id >= ag.first_id)
			continue;
		TAILQ_FOREACH(j, &ag.adopted, entry)
			wanted |= j->spool_id == id;
		if (!wanted && unlinkat(ag.sp.rsp, de->d_name, 0) == 0)
			n++;
	}
	closedir(d);
	if (n)
		log_info("removed %u response%s of requests completed before a restart", n,
			 n == 1 ? "" : "s");
}

/* A request an earlier agent fetched: adopt its spool id, or publish it. */
static void redelivered(struct job *j, uint64_t tag)
{
	/*
	 * Ids below first_id are the earlier agents' (the client starts
	 * above every id reserved or visible); an id at or above it was never
	 * published, since publishing reserves it first.
	 */
	if (tag && tag < ag.first_id && spool_has(tag)) {
		j->spool_id = tag;
		j->state = JOB_ADOPTED;
		TAILQ_INSERT_TAIL(&ag.adopted, j, entry);
		ag.adopted_n++;
		log_info("request %" PRIu64 ": adopted as %016" PRIx64, j->drv_id, tag);
		arm(ag.poll_tfd, POLL_MIN_MS);
		return;
	}
	if (tag)
		ag.resubmitted++;
	if (tag)
		log_info("request %" PRIu64 ": %016" PRIx64 " was never published: "
			 "publishing it", j->drv_id, tag);
	TAILQ_INSERT_TAIL(&ag.publishq, j, entry);
}

/*
 * A session job: the version-2 request header lib/client.c will write for
 * it, checked as the mediator checks it (protocol.rst, "The request"):
 * args 0, a list of at least a list header, room for at least a session
 * response header, both within the protocol's ceiling. The list itself is
 * the mediator's and the executor's to check: they answer a bad one with a
 * session response that says which command is wrong.
 */
static int32_t precheck_session(struct job *j)
{
	struct vgpu_req_hdr h = {
		.magic = VGPU_REQ_MAGIC,
		.version = VGPU_PROTO_VERSION_SESSION,
		.hdr_size = VGPU_REQ_HDR_SIZE,
		.op = VGPU_OP_SESSION,
		.payload_len = j->in_len,
		.out_len = j->out_cap,
	};

	memcpy(h.args, j->args, sizeof(h.args));
	return vgpu_session_req_check(&h, VGPU_PAYLOAD_MAX, j->why);
}

/* Checks the client would only fail later: answer them right away, saying why. */
static int32_t precheck(struct job *j)
{
	uint64_t in_len, out_len;

	if (j->op == VGPU_OP_SESSION)
		return precheck_session(j);
	if (j->op >= VGPU_NR_OPS) {
		snprintf(j->why, sizeof(j->why), "unknown op %" PRIu32, j->op);
		return -EOPNOTSUPP;
	}
	if (vgpu_op_sizes(j->op, j->args, &in_len, &out_len, j->why))
		return -EINVAL;
	if (in_len != j->in_len || out_len > j->out_cap) {
		snprintf(j->why, sizeof(j->why), "%s: in %" PRIu64 " B (needs %" PRIu64
			 "), out room %" PRIu64 " B (needs %" PRIu64 ")", vgpu_op_name(j->op),
			 j->in_len, in_len, j->out_cap, out_len);
		return -EINVAL;
	}
	return 0;
}

/* Fetch one request; 1 if one came, 0 if none, -errno if the device failed. */
static int fetch_one(void)
{
	struct vgpu_fetch f = { .argsz = sizeof(f) };
	struct job *j;
	int32_t status;

	for (;;) {
		f = (struct vgpu_fetch){ .argsz = sizeof(f),
			.in_ptr = (uintptr_t)ag.scratch, .in_cap = ag.scratch_len };
		if (!ioctl(ag.dev_fd, VGPU_IOC_AGENT_FETCH, &f))
			break;
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		if (errno != ENOSPC)
			return -errno;
		free(ag.scratch);
		ag.scratch_len = f.in_len;
		ag.scratch = malloc(f.in_len);
		if (!ag.scratch) {
			ag.scratch_len = 0;
			return -ENOMEM;
		}
	}
	j = calloc(1, sizeof(*j));
	if (!j)
		return -ENOMEM;
	ag.njobs++;
	j->drv_id = f.id;
	j->op = f.op;
	memcpy(j->args, f.args, sizeof(j->args));
	j->in_len = f.in_len;
	j->out_cap = f.out_len;
	/* The scratch buffer becomes the job's; the next fetch gets another. */
	j->in = ag.scratch;
	ag.scratch = NULL;
	ag.scratch_len = 0;
	j->out = j->out_cap ? malloc(j->out_cap) : NULL;
	status = j->out_cap && !j->out ? -ENOMEM : precheck(j);
	if (status) {
		job_complete(j, NULL, status);
	} else if (f.flags & VGPU_FETCH_F_REDELIVERED) {
		j->state = JOB_WAITING;
		redelivered(j, f.tag);
	} else {
		j->state = JOB_WAITING;
		TAILQ_INSERT_TAIL(&ag.publishq, j, entry);
	}
	/* After the last redelivered one is adopted (or not): see sweep_orphans(). */
	if (f.flags & VGPU_FETCH_F_REDELIVERED && ag.redeliver_left && !--ag.redeliver_left)
		sweep_orphans();
	return 1;
}

static void on_device(struct loop *l, int fd, uint32_t events, void *ctx)
{
	int ret = 0;

	(void)fd, (void)ctx;
	if (events & (EPOLLERR | EPOLLHUP)) {
		log_warnx("%s went away", ag.device);
		ag.exit_code = 1;
		loop_stop(l);
		return;
	}
	while (ag.njobs < ag.max_jobs && (ret = fetch_one()) > 0)
		;
	if (ret < 0) {
		log_warnx("fetch from %s: %s", ag.device, strerror(-ret));
		ag.exit_code = 1;
		loop_stop(l);
		return;
	}
	publish();
	watch_device(ag.njobs < ag.max_jobs);
}

static void watch_device(bool on)
{
	if (on == ag.dev_watched)
		return;
	if (on) {
		if (loop_add(ag.loop, ag.dev_fd, EPOLLIN, on_device, NULL) == 0)
			ag.dev_watched = true;
	} else {
		loop_del(ag.loop, ag.dev_fd);
		ag.dev_watched = false;
	}
}

/* Responses of requests adopted from a dead agent. */
static bool poll_adopted(void)
{
	struct job *j, *tmp;
	bool any = false;

	for (j = TAILQ_FIRST(&ag.adopted); j; j = tmp) {
		struct vgpu_rsp_hdr rsp;
		int err = vgpu_rsp_read(ag.sp.rsp, j->spool_id, &rsp, j->out, j->out_cap);

		tmp = TAILQ_NEXT(j, entry);
		if (err == -ENOENT)
			continue;
		TAILQ_REMOVE(&ag.adopted, j, entry);
		job_complete(j, err ? NULL : &rsp, err ? err : rsp.status);
		any = true;
	}
	return any;
}

static void on_poll(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct vgpu_result res;
	bool any = poll_adopted();
	int ret;

	(void)l, (void)fd, (void)events, (void)ctx;
	while ((ret = vgpu_client_next(ag.client, &res, 0)) > 0) {
		struct job *j = res.user;

		any = true;
		if (res.rsp.status == -EBUSY) {
			/* Over the VM's max_queued: send it again, new id. */
			vgpu_client_release(ag.client, res.id);
			log_debug("request %" PRIu64 ": mediator busy", j->drv_id);
			j->state = JOB_WAITING;
			TAILQ_INSERT_HEAD(&ag.publishq, j, entry);
			arm(ag.retry_tfd, BUSY_RETRY_MS);
			continue;
		}
		job_complete(j, &res.rsp, res.rsp.status);
	}
	if (ret < 0)
		log_warnx("collecting responses: %s", strerror(-ret));
	if (any)
		ag.poll_ms = POLL_MIN_MS;
	else if (ag.poll_ms * 2 <= ag.poll_max_ms)
		ag.poll_ms *= 2;
	if (vgpu_client_inflight(ag.client) || !TAILQ_EMPTY(&ag.adopted))
		arm(ag.poll_tfd, ag.poll_ms);
	watch_device(ag.njobs < ag.max_jobs);
	if (any && ag.dev_watched)
		on_device(ag.loop, ag.dev_fd, 0, NULL);
}

static void on_retry(struct loop *l, int fd, uint32_t events, void *ctx)
{
	(void)l, (void)fd, (void)events, (void)ctx;
	publish();
}

static void on_signal(struct loop *l, int fd, uint32_t events, void *ctx)
{
	struct signalfd_siginfo si;

	(void)events, (void)ctx;
	if (read(fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
		log_info("signal %u: detaching; %u requests go back to the driver",
			 si.ssi_signo, ag.njobs);
	loop_stop(l);
}

/* The spool may be mounted after we start: wait for it, with backoff. */
static int open_spool(void)
{
	struct vgpu_client_opts opts = {
		.poll = true, .sync = ag.sync, .poll_max_ms = ag.poll_max_ms,
		.keep_rsp = true,	/* released once the driver has the answer */
	};
	unsigned int ms = RETRY_MIN_MS;
	char why[VGPU_MSG_LEN];
	const char *failed;
	sigset_t pending;
	int err;

	for (;;) {
		err = vgpu_client_open(ag.spool, &opts, &ag.client, why);
		if (!err) {
			err = vgpu_spool_open(ag.spool, false, &ag.sp, &failed);
			if (!err)
				break;
			snprintf(why, sizeof(why), "%s: %s", failed, strerror(-err));
			vgpu_client_close(ag.client);
			ag.client = NULL;
		}
		sigpending(&pending);
		if (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT))
			exit(0);
		log_warnx("spool %s: %s; retrying in %u ms", ag.spool, why, ms);
		usleep(ms * 1000);
		ms = ms * 2 > OPEN_RETRY_MAX_MS ? OPEN_RETRY_MAX_MS : ms * 2;
	}
	ag.first_id = vgpu_client_next_id(ag.client);
	return 0;
}

static __attribute__((noreturn)) void usage(FILE *f, int status)
{
	fprintf(f,
		"usage: vgpu-agent [-dFv] [-D device] [-s spool] [-j jobs] [-p poll_max_ms]\n"
		"  -d  foreground, log to stderr   -F  no fsync before publishing\n"
		"  -D  device (%s)   -s  spool directory, the NFS mount (%s)\n"
		"  -j  requests in flight (%u)    -p  longest rsp/ poll interval (%u ms)\n"
		"  -h, --help  this help          --version  print the version\n"
		"See vgpu-agent(8).\n",
		DEF_DEVICE, DEF_SPOOL, DEF_JOBS, DEF_POLL_MAX_MS);
	exit(status);
}

enum { OPT_VERSION = 256 };

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, OPT_VERSION },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	bool foreground = false;
	int level = LOG_INFO, c;
	sigset_t mask;
	struct job *j;

	while ((c = getopt_long(argc, argv, "dFvD:s:j:p:h", long_opts, NULL)) != -1) {
		switch (c) {
		case 'd': foreground = true; break;
		case 'F': ag.sync = false; break;
		case 'v': level = LOG_DEBUG; break;
		case 'D': ag.device = optarg; break;
		case 's': ag.spool = optarg; break;
		case 'j': ag.max_jobs = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'p': ag.poll_max_ms = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'h': usage(stdout, 0);
		case OPT_VERSION: printf("vgpu-agent %s\n", VGPU_VERSION); return 0;
		default: usage(stderr, 2);
		}
	}
	if (optind != argc || !ag.max_jobs || !ag.poll_max_ms)
		usage(stderr, 2);
	/* Blocked from the start: a SIGTERM before the loop runs is not lost. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	/*
	 * What can fail at once fails here, on stderr, with a non-zero exit,
	 * before daemonizing: the device (absent without vgpu.ko or a
	 * vgpu-stub device) and attaching to it (another agent, no root). The
	 * attached file survives daemon()'s fork. The spool may come later.
	 */
	log_init("vgpu-agent", true, level);
	ag.dev_fd = open(ag.device, O_RDWR | O_CLOEXEC);
	if (ag.dev_fd < 0) {
		log_err("%s%s", ag.device, errno == ENOENT ?
			" (is vgpu.ko loaded and a vgpu-stub device present?)" : "");
		return 1;
	}
	ag.att.argsz = sizeof(ag.att);
	if (ioctl(ag.dev_fd, VGPU_IOC_AGENT_ATTACH, &ag.att) < 0) {
		log_err("%s: attach", ag.device);
		return 1;
	}
	log_init("vgpu-agent", foreground, level);
	if (!foreground && daemon(0, 0) < 0) {
		log_err("daemon");
		return 1;
	}
	open_spool();
	log_info("attached to %s: vm_id %u, %u requests redelivered; spool %s, ids from %016"
		 PRIx64, ag.device, ag.att.vm_id, ag.att.redelivered, ag.spool, ag.first_id);

	TAILQ_INIT(&ag.publishq);
	TAILQ_INIT(&ag.adopted);
	ag.redeliver_left = ag.att.redelivered;
	if (!ag.redeliver_left)
		sweep_orphans();
	ag.poll_ms = POLL_MIN_MS;
	ag.retry_ms = RETRY_MIN_MS;
	signal(SIGPIPE, SIG_IGN);
	ag.loop = loop_new();
	ag.sig_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ag.poll_tfd = ag.loop ? loop_timer_add(ag.loop, 3600000, 0, on_poll, NULL) : -1;
	ag.retry_tfd = ag.loop ? loop_timer_add(ag.loop, 3600000, 0, on_retry, NULL) : -1;
	if (!ag.loop || ag.sig_fd < 0 || ag.poll_tfd < 0 || ag.retry_tfd < 0 ||
	    loop_add(ag.loop, ag.sig_fd, EPOLLIN, on_signal, NULL)) {
		log_errx("cannot set up the event loop");
		return 1;
	}
	disarm(ag.poll_tfd);	/* armed while requests are out */
	disarm(ag.retry_tfd);
	watch_device(true);
	if (loop_run(ag.loop) < 0)
		log_err("event loop");

	log_info("published %" PRIu64 ", completed %" PRIu64 ", adopted %" PRIu64
		 ", published again %" PRIu64, ag.published, ag.completed, ag.adopted_n,
		 ag.resubmitted);
	/* Closing the device gives what we hold back to the driver. */
	while ((j = TAILQ_FIRST(&ag.publishq))) {
		TAILQ_REMOVE(&ag.publishq, j, entry);
		job_free(j);
	}
	close(ag.dev_fd);
	vgpu_client_close(ag.client);
	vgpu_spool_close(&ag.sp);
	loop_free(ag.loop);
	return ag.exit_code;
}
