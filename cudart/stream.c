// SPDX-License-Identifier: MIT
/*
 * Streams, events and host callbacks of the guest CUDA runtime. All work
 * of the process runs in one session in the order it was issued, so a
 * stream is only an ordering the guest keeps: every stream's work is in
 * the one batch, and waiting for any of it sends the batch. An event
 * record is a timestamp command in the batch; a callback sends the batch
 * and then runs, in the calling thread, with rt.lock dropped. Touches
 * rt's stream and event lists and the batch, under rt.lock.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

/* The stream @s names (0, legacy and per-thread: the default one). */
struct rt_stream *rt_stream_get(cudaStream_t s)
{
	if (!s || s == cudaStreamLegacy || s == cudaStreamPerThread)
		return &rt.default_stream;
	for (struct rt_stream *p = rt.streams; p; p = p->next)
		if ((cudaStream_t)p == s)
			return p;
	return NULL;
}

cudaError_t rt_stream_issue(cudaStream_t stream)
{
	struct rt_stream *s = rt_stream_get(stream);

	if (!s)
		return cudaErrorInvalidResourceHandle;
	s->seq = rt.seq;
	return cudaSuccess;
}

static struct rt_event *event_get(cudaEvent_t e)
{
	for (struct rt_event *p = rt.events; p; p = p->next)
		if ((cudaEvent_t)p == e)
			return p;
	return NULL;
}

static cudaError_t stream_create(cudaStream_t *out, unsigned int flags, int priority)
{
	struct rt_stream *s;

	if (!out || (flags & ~(unsigned int)cudaStreamNonBlocking))
		return cudaErrorInvalidValue;
	s = calloc(1, sizeof(*s));
	if (!s)
		return cudaErrorMemoryAllocation;
	s->flags = flags;
	s->priority = priority > 0 ? 0 : priority < -5 ? -5 : priority;
	s->next = rt.streams;
	rt.streams = s;
	*out = (cudaStream_t)s;
	return cudaSuccess;
}

CUDART_API cudaError_t cudaStreamCreate(cudaStream_t *s)
{
	cudaError_t err = rt_enter_nodev();

	if (!err)
		err = stream_create(s, cudaStreamDefault, 0);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags)
{
	cudaError_t err = rt_enter_nodev();

	if (!err)
		err = stream_create(s, flags, 0);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaStreamCreateWithPriority(cudaStream_t *s, unsigned int flags,
						    int priority)
{
	cudaError_t err = rt_enter_nodev();

	if (!err)
		err = stream_create(s, flags, priority);
	return rt_leave(err);
}

/* Work already issued to it still runs, in order: nothing is sent now. */
CUDART_API cudaError_t cudaStreamDestroy(cudaStream_t stream)
{
	cudaError_t err = rt_enter_nodev();
	struct rt_stream **pp;

	if (err)
		return rt_leave(err);
	for (pp = &rt.streams; *pp && (cudaStream_t)*pp != stream; pp = &(*pp)->next)
		;
	if (!*pp)
		return rt_leave(cudaErrorInvalidResourceHandle);
	{
		struct rt_stream *s = *pp;

		*pp = s->next;
		free(s);
	}
	return rt_leave(cudaSuccess);
}

CUDART_API cudaError_t cudaStreamGetFlags(cudaStream_t stream, unsigned int *flags)
{
	cudaError_t err = rt_enter_nodev();
	struct rt_stream *s = err ? NULL : rt_stream_get(stream);

	if (!err && (!s || !flags))
		err = s ? cudaErrorInvalidValue : cudaErrorInvalidResourceHandle;
	if (!err)
		*flags = s->flags;
	return rt_leave(err);
}

CUDART_API cudaError_t cudaStreamGetPriority(cudaStream_t stream, int *priority)
{
	cudaError_t err = rt_enter_nodev();
	struct rt_stream *s = err ? NULL : rt_stream_get(stream);

	if (!err && (!s || !priority))
		err = s ? cudaErrorInvalidValue : cudaErrorInvalidResourceHandle;
	if (!err)
		*priority = s->priority;
	return rt_leave(err);
}

CUDART_API cudaError_t cudaDeviceGetStreamPriorityRange(int *least, int *greatest)
{
	if (least)
		*least = 0;
	if (greatest)
		*greatest = -5;
	return cudaSuccess;
}

/* Any synchronize: the batch is sent and waited for. */
CUDART_API cudaError_t cudaStreamSynchronize(cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err)
		err = rt_flush();
	return rt_leave(err);
}

CUDART_API cudaError_t cudaDeviceSynchronize(void)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = rt_flush();
	return rt_leave(err);
}

/* A stream with work in the open batch is unfinished: the batch is sent
 * (runs to its end) and the stream has finished. */
CUDART_API cudaError_t cudaStreamQuery(cudaStream_t stream)
{
	cudaError_t err = rt_enter();
	struct rt_stream *s = NULL;

	if (!err && !(s = rt_stream_get(stream)))
		err = cudaErrorInvalidResourceHandle;
	/* the default stream also holds what the synchronous calls left */
	if (!err && (s->seq == rt.seq || s == &rt.default_stream) && vgpu_list_count(rt.list))
		err = rt_flush();
	return rt_leave(err);
}

/* Everything runs in issue order already. */
CUDART_API cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event,
					   unsigned int flags)
{
	cudaError_t err = rt_enter_nodev();

	if (!err && (!rt_stream_get(stream) || !event_get(event)))
		err = cudaErrorInvalidResourceHandle;
	if (!err && flags & ~(unsigned int)cudaEventWaitExternal)
		err = cudaErrorInvalidValue;
	return rt_leave(err);
}

/*
 * A host callback: the work issued before it is sent and waited for, then
 * it runs here, before the call returns (so the work issued after it
 * follows it), without the runtime's lock.
 */
CUDART_API cudaError_t cudaStreamAddCallback(cudaStream_t stream, cudaStreamCallback_t cb,
					     void *data, unsigned int flags)
{
	cudaError_t err = rt_enter(), status;

	if (!err && (!cb || flags))
		err = cudaErrorInvalidValue;
	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (err == cudaErrorInvalidValue || err == cudaErrorInvalidResourceHandle)
		return rt_leave(err);
	if (!err)
		rt_note("cudaStreamAddCallback(%p)", (void *)cb);
	status = err ? err : rt_flush();
	pthread_mutex_unlock(&rt.lock);
	cb(stream, status, data);	/* called with the error too, as CUDA does */
	return rt_set_last(err);
}

/* The same, but not called after an error (as CUDA). */
CUDART_API cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *data)
{
	cudaError_t err = rt_enter();

	if (!err && !fn)
		err = cudaErrorInvalidValue;
	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err) {
		rt_note("cudaLaunchHostFunc(%p)", (void *)fn);
		err = rt_flush();
	}
	pthread_mutex_unlock(&rt.lock);
	if (!err)
		fn(data);
	return rt_set_last(err);
}

/* ---- events ---------------------------------------------------------------- */

static cudaError_t event_create(cudaEvent_t *out, unsigned int flags)
{
	struct rt_event *e;

	if (!out || (flags & ~(unsigned int)(cudaEventBlockingSync | cudaEventDisableTiming |
					     cudaEventInterprocess)))
		return cudaErrorInvalidValue;
	if ((flags & cudaEventInterprocess) && !(flags & cudaEventDisableTiming))
		return cudaErrorInvalidValue;
	e = calloc(1, sizeof(*e));
	if (!e)
		return cudaErrorMemoryAllocation;
	e->flags = flags;
	e->next = rt.events;
	rt.events = e;
	*out = (cudaEvent_t)e;
	return cudaSuccess;
}

CUDART_API cudaError_t cudaEventCreate(cudaEvent_t *e)
{
	cudaError_t err = rt_enter_nodev();

	if (!err)
		err = event_create(e, cudaEventDefault);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags)
{
	cudaError_t err = rt_enter_nodev();

	if (!err)
		err = event_create(e, flags);
	return rt_leave(err);
}

/* Drop @e from the events of the open batch. */
void rt_event_drop(struct rt_event *e)
{
	for (size_t i = 0; i < rt.npev; i++)
		if (rt.pev[i] == e) {
			rt.pev[i] = rt.pev[--rt.npev];
			break;
		}
	e->pending_listed = false;
}

CUDART_API cudaError_t cudaEventDestroy(cudaEvent_t event)
{
	cudaError_t err = rt_enter_nodev();
	struct rt_event **pp;

	if (err)
		return rt_leave(err);
	for (pp = &rt.events; *pp && (cudaEvent_t)*pp != event; pp = &(*pp)->next)
		;
	if (!*pp)
		return rt_leave(cudaErrorInvalidResourceHandle);
	{
		struct rt_event *e = *pp;

		*pp = e->next;
		rt_event_drop(e);
		free(e);
	}
	return rt_leave(cudaSuccess);
}

static cudaError_t event_record(cudaEvent_t event, cudaStream_t stream)
{
	struct rt_event *e = event_get(event);
	struct rt_stream *s = rt_stream_get(stream);
	cudaError_t err;
	uint64_t ref = 0;
	int ret;

	if (!e || !s)
		return cudaErrorInvalidResourceHandle;
	if ((err = rt_room(32, 32)))
		return err;
	if (!(e->flags & cudaEventDisableTiming)) {
		ret = vgpu_cmd_timestamp(rt.list, &ref);
		if (ret)
			return rt_list_err(ret);
	}
	if (!e->pending_listed) {
		if (rt.npev == rt.pev_cap) {
			size_t cap = rt.pev_cap ? 2 * rt.pev_cap : 16;
			struct rt_event **p = realloc(rt.pev, cap * sizeof(*p));

			if (!p)
				return cudaErrorMemoryAllocation;
			rt.pev = p;
			rt.pev_cap = cap;
		}
		rt.pev[rt.npev++] = e;
		e->pending_listed = true;
	}
	rt_note("cudaEventRecord(%p)", (void *)e);
	e->recorded = true;
	e->done = false;
	e->seq = rt.seq;
	e->ref = ref;
	s->seq = rt.seq;
	return cudaSuccess;
}

CUDART_API cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = event_record(event, stream);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaEventRecordWithFlags(cudaEvent_t event, cudaStream_t stream,
						unsigned int flags)
{
	cudaError_t err = rt_enter();

	if (!err && flags & ~(unsigned int)cudaEventRecordExternal)
		err = cudaErrorInvalidValue;
	if (!err)
		err = event_record(event, stream);
	return rt_leave(err);
}

/* The open batch was sent (@reply NULL: it was empty): its events are done. */
void rt_events_done(const struct vgpu_reply *reply, uint32_t epoch, cudaError_t err)
{
	for (size_t i = 0; i < rt.npev; i++) {
		struct rt_event *e = rt.pev[i];
		struct vgpu_cmd_result res = { .argsz = sizeof(res) };

		e->done = true;
		e->pending_listed = false;
		e->err = err;
		if (e->ref && reply && !vgpu_reply_get(reply, e->ref, &res) && !res.status) {
			e->ns = res.value;
			e->epoch = epoch;
		} else if (e->ref) {
			e->ref = 0;	/* no time: elapsed time refuses it */
			if (!e->err)
				e->err = cudaErrorUnknown;
		}
	}
	rt.npev = 0;
}

CUDART_API cudaError_t cudaEventQuery(cudaEvent_t event)
{
	cudaError_t err = rt_enter();
	struct rt_event *e = NULL;

	if (!err && !(e = event_get(event)))
		err = cudaErrorInvalidResourceHandle;
	if (!err && e->recorded && !e->done)
		err = rt_flush();
	return rt_leave(err);
}

CUDART_API cudaError_t cudaEventSynchronize(cudaEvent_t event)
{
	cudaError_t err = rt_enter();
	struct rt_event *e = NULL;

	if (!err && !(e = event_get(event)))
		err = cudaErrorInvalidResourceHandle;
	if (!err && e->recorded && !e->done)
		err = rt_flush();
	return rt_leave(err);
}

/*
 * Milliseconds between two events' timestamps: both recorded with timing,
 * done, and taken by one session (epoch); cudaErrorNotReady while either
 * is still in the open batch.
 */
CUDART_API cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end)
{
	cudaError_t err = rt_enter_nodev();
	struct rt_event *a = NULL, *b = NULL;

	if (!err && !ms)
		err = cudaErrorInvalidValue;
	if (!err && (!(a = event_get(start)) || !(b = event_get(end))))
		err = cudaErrorInvalidResourceHandle;
	if (!err && ((a->flags | b->flags) & cudaEventDisableTiming))
		err = cudaErrorInvalidResourceHandle;
	if (!err && (!a->recorded || !b->recorded))
		err = cudaErrorInvalidResourceHandle;
	if (!err && (!a->done || !b->done))
		err = cudaErrorNotReady;
	if (!err && (!a->ref || !b->ref || a->epoch != b->epoch))
		err = a->err ? a->err : b->err ? b->err : cudaErrorInvalidResourceHandle;
	if (!err)
		*ms = (float)(((double)b->ns - (double)a->ns) / 1e6);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaStreamGetId(cudaStream_t stream, unsigned long long *id)
{
	cudaError_t err = rt_enter_nodev();
	struct rt_stream *s = err ? NULL : rt_stream_get(stream);

	if (!err && (!s || !id))
		err = s ? cudaErrorInvalidValue : cudaErrorInvalidResourceHandle;
	if (!err)
		*id = s == &rt.default_stream ? 0 : (unsigned long long)(uintptr_t)s;
	return rt_leave(err);
}

CUDART_API cudaError_t cudaStreamGetDevice(cudaStream_t stream, int *device)
{
	cudaError_t err = rt_enter_nodev();

	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err && !device)
		err = cudaErrorInvalidValue;
	if (!err)
		*device = 0;
	return rt_leave(err);
}

/* No stream capture here: never capturing (cudaStreamBeginCapture is not supported). */
CUDART_API cudaError_t cudaStreamIsCapturing(cudaStream_t stream,
					     enum cudaStreamCaptureStatus *status)
{
	cudaError_t err = rt_enter_nodev();

	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err && !status)
		err = cudaErrorInvalidValue;
	if (!err)
		*status = cudaStreamCaptureStatusNone;
	return rt_leave(err);
}

CUDART_API cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode *mode)
{
	static __thread enum cudaStreamCaptureMode current;
	enum cudaStreamCaptureMode old = current;

	if (!mode)
		return rt_set_last(cudaErrorInvalidValue);
	current = *mode;
	*mode = old;
	return cudaSuccess;
}
