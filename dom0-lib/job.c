// SPDX-License-Identifier: MIT
/*
 * Streamed job I/O for backends (dom0-lib/job.h). Explicit pread and
 * pwrite only: request and response files may live on NFS, where mmap would
 * turn a server hiccup into SIGBUS.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "job.h"
#include "spool.h"

#define IO_PIECE_MIN	(256u << 10)	/* smaller is not worth a hand-off */
#define IO_PIECE_ALIGN	4096u

/* One thread's share of a read or write. */
struct io_piece {
	int fd;
	bool write;
	uint8_t *buf;
	size_t len;
	uint64_t off;
	uint32_t crc;		/* in: CRC to continue; out: with the piece */
	int err;
};

struct io_helper {
	struct vgpu_io_team *t;
	pthread_t thread;
	bool started;
};

/*
 * A batch is a few pieces that any thread of the team may claim: the caller
 * fills piece[] and publishes the batch in one word, claim = gen << 16 |
 * pieces << 8 | next. Helpers (and the caller) take pieces by bumping next
 * with a compare-and-swap that also checks gen, so a helper that wakes up
 * late takes nothing from a batch that is over, and the caller takes every
 * piece no helper has started: a sleeping helper never delays a job, at
 * worst the caller moves all the bytes itself. The caller then waits only
 * for pieces in progress; done counts them. Helpers poll claim for spin_ns
 * after a batch before they sleep on go.
 */
struct vgpu_io_team {
	unsigned int threads;		/* the caller included */
	uint64_t spin_ns;
	pthread_mutex_t lock;
	pthread_cond_t go, done_cv;
	_Atomic uint64_t claim;
	atomic_uint done;		/* pieces finished, this batch */
	atomic_bool stop;
	unsigned int sleeping;		/* helpers waiting on go [lock] */
	bool waiting;			/* the caller waits on done_cv [lock] */
	struct io_piece piece[VGPU_IO_TEAM_MAX];
	struct io_helper helper[VGPU_IO_TEAM_MAX];
};

#define CLAIM_GEN(c)	((c) >> 16)
#define CLAIM_PIECES(c)	((unsigned int)((c) >> 8) & 0xff)
#define CLAIM_NEXT(c)	((unsigned int)(c) & 0xff)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* Moves one piece and computes its CRC while the bytes are in cache. */
static void piece_run(struct io_piece *pc)
{
	uint8_t *p = pc->buf;
	uint64_t off = pc->off;
	size_t len = pc->len;

	pc->err = 0;
	if (pc->write)
		pc->crc = vgpu_crc32c(pc->crc, p, len);
	while (len) {
		ssize_t n = pc->write ? pwrite(pc->fd, p, len, (off_t)off)
				      : pread(pc->fd, p, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			pc->err = -errno;
			return;
		}
		if (n == 0) {		/* a read past EOF: the file shrank under us */
			pc->err = pc->write ? -EIO : -EBADMSG;
			return;
		}
		if (!pc->write)
			pc->crc = vgpu_crc32c(pc->crc, p, (size_t)n);
		off += (uint64_t)n;
		p += n;
		len -= (size_t)n;
	}
}

/* Runs pieces of batch @gen until none is left to claim. */
static void claim_pieces(struct vgpu_io_team *t, uint64_t gen)
{
	uint64_t c = atomic_load_explicit(&t->claim, memory_order_acquire);

	while (CLAIM_GEN(c) == gen && CLAIM_NEXT(c) < CLAIM_PIECES(c)) {
		if (!atomic_compare_exchange_weak_explicit(&t->claim, &c, c + 1,
							   memory_order_acq_rel,
							   memory_order_acquire))
			continue;
		piece_run(&t->piece[CLAIM_NEXT(c)]);
		if (atomic_fetch_add_explicit(&t->done, 1, memory_order_acq_rel) + 1 ==
		    CLAIM_PIECES(c)) {
			pthread_mutex_lock(&t->lock);
			if (t->waiting)
				pthread_cond_signal(&t->done_cv);
			pthread_mutex_unlock(&t->lock);
		}
		c = atomic_load_explicit(&t->claim, memory_order_acquire);
	}
}

/* Waits for a batch after @seen; returns its gen, or @seen when stopping. */
static uint64_t helper_wait(struct vgpu_io_team *t, uint64_t seen)
{
	uint64_t until = vgpu_now_ns() + t->spin_ns, gen;

	while ((gen = CLAIM_GEN(atomic_load_explicit(&t->claim, memory_order_acquire))) == seen &&
	       !atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		if (vgpu_now_ns() < until) {
			cpu_relax();
			continue;
		}
		pthread_mutex_lock(&t->lock);
		while (!atomic_load(&t->stop) &&
		       CLAIM_GEN(atomic_load_explicit(&t->claim, memory_order_acquire)) == seen) {
			t->sleeping++;
			pthread_cond_wait(&t->go, &t->lock);
			t->sleeping--;
		}
		pthread_mutex_unlock(&t->lock);
		until = vgpu_now_ns() + t->spin_ns;
	}
	return gen;
}

static void *helper_main(void *arg)
{
	struct io_helper *h = arg;
	struct vgpu_io_team *t = h->t;
	uint64_t gen = 0;

	for (;;) {
		gen = helper_wait(t, gen);
		if (atomic_load(&t->stop))
			break;
		claim_pieces(t, gen);
	}
	return NULL;
}

/* Runs piece[0 .. @pieces) on the team; returns when all are done. */
static void team_run(struct vgpu_io_team *t, unsigned int pieces)
{
	uint64_t gen = CLAIM_GEN(atomic_load_explicit(&t->claim, memory_order_relaxed)) + 1;
	uint64_t until;

	atomic_store_explicit(&t->done, 0, memory_order_relaxed);
	pthread_mutex_lock(&t->lock);
	atomic_store_explicit(&t->claim, gen << 16 | (uint64_t)pieces << 8,
			      memory_order_release);
	if (t->sleeping)
		pthread_cond_broadcast(&t->go);
	pthread_mutex_unlock(&t->lock);

	claim_pieces(t, gen);

	/* What is left is in progress on helpers. */
	until = vgpu_now_ns() + t->spin_ns;
	while (atomic_load_explicit(&t->done, memory_order_acquire) < pieces) {
		if (vgpu_now_ns() < until) {
			cpu_relax();
			continue;
		}
		pthread_mutex_lock(&t->lock);
		t->waiting = true;
		while (atomic_load_explicit(&t->done, memory_order_acquire) < pieces)
			pthread_cond_wait(&t->done_cv, &t->lock);
		t->waiting = false;
		pthread_mutex_unlock(&t->lock);
	}
}

void vgpu_io_team_destroy(struct vgpu_io_team *t)
{
	if (!t)
		return;
	pthread_mutex_lock(&t->lock);
	atomic_store(&t->stop, true);
	pthread_cond_broadcast(&t->go);
	pthread_mutex_unlock(&t->lock);
	for (unsigned int i = 1; i < t->threads; i++)
		if (t->helper[i].started)
			pthread_join(t->helper[i].thread, NULL);
	pthread_cond_destroy(&t->go);
	pthread_cond_destroy(&t->done_cv);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int vgpu_io_team_create(unsigned int threads, uint64_t spin_ns, const cpu_set_t *cpus,
			const char *name, struct vgpu_io_team **out)
{
	struct vgpu_io_team *t;
	pthread_attr_t attr;
	int err = 0;

	*out = NULL;
	if (!threads || threads > VGPU_IO_TEAM_MAX)
		return -EINVAL;
	if (threads == 1)
		return 0;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->threads = threads;
	t->spin_ns = spin_ns;
	pthread_mutex_init(&t->lock, NULL);
	pthread_cond_init(&t->go, NULL);
	pthread_cond_init(&t->done_cv, NULL);
	pthread_attr_init(&attr);
	if (cpus)
		pthread_attr_setaffinity_np(&attr, sizeof(*cpus), cpus);
	for (unsigned int i = 1; i < threads && !err; i++) {
		struct io_helper *h = &t->helper[i];
		char tname[16];

		h->t = t;
		err = -pthread_create(&h->thread, &attr, helper_main, h);
		if (err)
			break;
		h->started = true;
		snprintf(tname, sizeof(tname), "%.12s/%u", name, i);
		pthread_setname_np(h->thread, tname);
	}
	pthread_attr_destroy(&attr);
	if (err) {
		vgpu_io_team_destroy(t);
		return err;
	}
	*out = t;
	return 0;
}

/*
 * Moves @len bytes between @buf and @fd at @off, in pieces over the team when
 * there is one and @len is worth it. *@crc continues over the bytes in order.
 */
static int job_io(struct vgpu_io_team *t, int fd, bool write, uint8_t *buf, size_t len,
		  uint64_t off, uint32_t *crc)
{
	unsigned int pieces = t ? t->threads : 1;
	struct io_piece one, *pc = t ? t->piece : &one;
	size_t step;

	if (len / IO_PIECE_MIN < pieces)
		pieces = (unsigned int)(len / IO_PIECE_MIN);
	if (pieces < 2) {
		one = (struct io_piece){ fd, write, buf, len, off, *crc, 0 };
		piece_run(&one);
		*crc = one.crc;
		return one.err;
	}
	step = (len / pieces + IO_PIECE_ALIGN - 1) & ~(size_t)(IO_PIECE_ALIGN - 1);
	for (unsigned int i = 0; i < pieces; i++) {
		size_t at = i * step, n = i + 1 < pieces ? step : len - at;

		pc[i] = (struct io_piece){ fd, write, buf + at, n, off + at, i ? 0 : *crc, 0 };
	}
	team_run(t, pieces);
	*crc = pc[0].crc;
	for (unsigned int i = 0; i < pieces; i++) {
		if (pc[i].err)
			return pc[i].err;
		if (i)
			*crc = vgpu_crc32c_combine(*crc, pc[i].crc, pc[i].len);
	}
	return 0;
}

void vgpu_job_init_file(struct vgpu_job *job, const struct vgpu_req_hdr *req,
			int in_fd, uint64_t in_off, int out_fd, uint64_t out_off)
{
	memset(job, 0, sizeof(*job));
	job->in_fd = in_fd;
	job->in_off = in_off;
	job->in_left = req->payload_len;
	job->check_crc = true;
	job->req = *req;
	job->out_fd = out_fd;
	job->out_off = out_off;
	job->out_left = req->out_len;
}

void vgpu_job_init_mem(struct vgpu_job *job, const void *in, uint64_t in_len,
		       void *out, uint64_t out_len)
{
	memset(job, 0, sizeof(*job));
	job->in_fd = -1;
	job->in_mem = in;
	job->in_left = in_len;
	job->out_fd = -1;
	job->out_mem = out;
	job->out_left = out_len;
}

int vgpu_job_read(struct vgpu_job *job, void *buf, size_t len)
{
	uint8_t *p = buf;
	int err;

	if (len > job->in_left)
		return -EINVAL;
	if (job->in_fd < 0) {
		memcpy(p, job->in_mem + job->in_off, len);
		job->in_off += len;
		job->in_left -= len;
		return 0;
	}
	err = job_io(job->team, job->in_fd, false, p, len, job->in_off, &job->in_crc);
	if (err)
		return err;
	job->in_off += len;
	job->in_left -= len;
	return 0;
}

/* A later minor revision may append header fields: the CRC covers them. */
static int crc_header_extension(int fd, uint32_t hdr_size, uint32_t known, uint32_t *crc)
{
	uint8_t ext[VGPU_HDR_SIZE_MAX];

	if (hdr_size <= known)
		return 0;
	if (vgpu_pread_full(fd, ext, hdr_size - known, known))
		return -EBADMSG;
	*crc = vgpu_crc32c(*crc, ext, hdr_size - known);
	return 0;
}

int vgpu_job_input_end(struct vgpu_job *job)
{
	uint32_t crc;

	if (job->in_left)
		return -EINVAL;
	if (job->check_crc) {
		crc = vgpu_req_crc(&job->req, job->in_crc);
		if (crc_header_extension(job->in_fd, job->req.hdr_size, VGPU_REQ_HDR_SIZE, &crc) ||
		    crc != job->req.crc32c)
			return -EBADMSG;
	}
	job->input_ok = true;
	return 0;
}

int vgpu_job_write(struct vgpu_job *job, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	int err;

	if (!job->input_ok)	/* no output before the input was verified */
		return -EPROTO;
	if (len > job->out_left)
		return -EINVAL;
	if (job->out_fd < 0) {
		memcpy(job->out_mem + job->out_off, p, len);
		job->out_off += len;
		job->out_left -= len;
		return 0;
	}
	err = job_io(job->team, job->out_fd, true, (uint8_t *)p, len, job->out_off,
		     &job->out_crc);
	if (err)
		return err;
	job->out_off += len;
	job->out_left -= len;
	return 0;
}
