// SPDX-License-Identifier: MIT
/*
 * Device memory of the guest CUDA runtime: cudaMalloc/cudaFree over the
 * session's buffers at fake device addresses (runtime.h), the copies of
 * every kind (1D and 2D, sync and async) and memsets as commands of the
 * batch, the host allocations emulated with plain memory, and the memory
 * queries. Runs in the calling thread under rt.lock; touches rt's buffer
 * table and batch, and the program's memory named by the calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define CHUNK_BYTES(cap)	((cap) / 2)	/* a copy larger than this is split */

static const char *const kind_name[] = { "H2H", "H2D", "D2H", "D2D", "default" };

/* The buffer holding [addr, addr + len]; len 0 also takes its end address. */
struct rt_buf *rt_buf_find(uint64_t addr, uint64_t len)
{
	size_t lo = 0, hi = rt.nbufs;

	if (!rt_is_dev(addr))
		return NULL;
	while (lo < hi) {	/* the last buffer starting at or below addr */
		size_t mid = lo + (hi - lo) / 2;

		if (rt.bufs[mid].va <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return NULL;
	{
		struct rt_buf *b = &rt.bufs[lo - 1];

		if (addr - b->va > b->size || len > b->size - (addr - b->va))
			return NULL;
		return b;
	}
}

/* The first address after @b where another buffer may start: a gap after
 * each buffer, so that an end pointer names one buffer only. */
static uint64_t va_after(uint64_t va, uint64_t size)
{
	return (va + size + 2 * RT_VA_ALIGN - 1) & ~(uint64_t)(RT_VA_ALIGN - 1);
}

/*
 * Where @size bytes go: above every buffer while the range has room (an
 * append), else the first gap between buffers that fits (addresses of
 * freed buffers are taken again only then). 0, or -1 if none fits.
 */
static int va_find(uint64_t size, uint64_t *va, size_t *at)
{
	uint64_t cand = RT_VA_BASE;

	if (size > RT_VA_END - RT_VA_BASE - RT_VA_ALIGN)
		return -1;
	if (rt.next_va < RT_VA_END && size + RT_VA_ALIGN <= RT_VA_END - rt.next_va) {
		*va = rt.next_va;
		*at = rt.nbufs;
		return 0;
	}
	for (size_t i = 0; i <= rt.nbufs; i++) {
		uint64_t limit = i < rt.nbufs ? rt.bufs[i].va : RT_VA_END;

		if (limit >= cand && limit - cand >= size + RT_VA_ALIGN) {
			*va = cand;
			*at = i;
			return 0;
		}
		if (i < rt.nbufs)
			cand = va_after(rt.bufs[i].va, rt.bufs[i].size);
	}
	return -1;
}

/* A new buffer record at a free fake address (NULL: out of either). */
struct rt_buf *rt_buf_add(uint64_t size, uint64_t ref, bool global)
{
	struct rt_buf *b;
	uint64_t va;
	size_t at;

	if (va_find(size, &va, &at))
		return NULL;
	if (rt.nbufs == rt.bufs_cap) {
		size_t cap = rt.bufs_cap ? 2 * rt.bufs_cap : 64;
		struct rt_buf *p = realloc(rt.bufs, cap * sizeof(*p));

		if (!p)
			return NULL;
		rt.bufs = p;
		rt.bufs_cap = cap;
	}
	if (at == rt.nbufs)
		rt.next_va = va_after(va, size);
	b = &rt.bufs[at];
	memmove(b + 1, b, (rt.nbufs - at) * sizeof(*b));
	rt.nbufs++;
	*b = (struct rt_buf){ .va = va, .size = size, .ref = ref, .global = global };
	if (!global)
		rt.used_bytes += size;
	return b;
}

void rt_buf_del(struct rt_buf *b)
{
	size_t i = (size_t)(b - rt.bufs);

	if (!b->global)
		rt.used_bytes -= b->size;
	memmove(b, b + 1, (rt.nbufs - i - 1) * sizeof(*b));
	rt.nbufs--;
}

static cudaError_t out_add(uint64_t ref, void *dst, uint64_t len)
{
	if (rt.nouts == rt.outs_cap) {
		size_t cap = rt.outs_cap ? 2 * rt.outs_cap : 64;
		struct rt_out *p = realloc(rt.outs, cap * sizeof(*p));

		if (!p)
			return cudaErrorMemoryAllocation;
		rt.outs = p;
		rt.outs_cap = cap;
	}
	rt.outs[rt.nouts++] = (struct rt_out){ .ref = ref, .dst = dst, .len = len };
	return cudaSuccess;
}

/*
 * cudaMalloc() is deferred: the buffer's address is given now and its
 * alloc command goes into the batch, so that allocating, filling and
 * launching cost one job. The quota the VM was last told of is checked
 * here; an allocation the device then refuses fails the call that sends
 * the batch (cudaErrorMemoryAllocation), and the buffer is gone.
 */
static cudaError_t mem_alloc(void **ptr, size_t size)
{
	struct rt_buf *b;
	cudaError_t err;
	uint64_t ref;
	int ret;

	if (!ptr)
		return cudaErrorInvalidValue;
	*ptr = NULL;
	if (!size)
		return cudaSuccess;
	if ((err = rt_props(false)))
		return err;
	if (size > rt.props.total_mem || rt.used_bytes > rt.props.total_mem - size)
		return cudaErrorMemoryAllocation;
	if ((err = rt_room(64, 32)))
		return err;
	b = rt_buf_add(size, 0, false);
	if (!b)
		return cudaErrorMemoryAllocation;
	ret = vgpu_cmd_alloc(rt.list, size, &ref);
	if (ret) {
		rt_buf_del(b);
		return ret == -EINVAL || ret == -E2BIG ? cudaErrorMemoryAllocation : rt_list_err(ret);
	}
	b->ref = ref;
	rt_note("cudaMalloc(%zu) = %#llx", size, (unsigned long long)b->va);
	*ptr = (void *)(uintptr_t)b->va;
	return cudaSuccess;
}

CUDART_API cudaError_t cudaMalloc(void **ptr, size_t size)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = mem_alloc(ptr, size);
	return rt_leave(err);
}

static cudaError_t mem_free(void *ptr)
{
	struct rt_buf *b;
	cudaError_t err;
	int ret;

	if (!ptr)
		return cudaSuccess;
	b = rt_buf_find((uintptr_t)ptr, 0);
	if (!b || b->va != (uintptr_t)ptr || b->global)
		return cudaErrorInvalidValue;
	if ((err = rt_room(64, 32)))
		return err;
	b = rt_buf_find((uintptr_t)ptr, 0);	/* the flush may have dropped it */
	if (!b)
		return cudaErrorInvalidValue;
	ret = vgpu_cmd_free(rt.list, b->ref, NULL);
	if (ret)
		return rt_list_err(ret);
	rt_note("cudaFree(%p)", ptr);
	rt_buf_del(b);
	return cudaSuccess;
}

CUDART_API cudaError_t cudaFree(void *ptr)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = mem_free(ptr);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMallocPitch(void **ptr, size_t *pitch, size_t width, size_t height)
{
	cudaError_t err = rt_enter();
	size_t p = (width + 511) & ~(size_t)511;

	if (!err && (!pitch || !ptr))
		err = cudaErrorInvalidValue;
	if (!err && height && p > SIZE_MAX / height)
		err = cudaErrorMemoryAllocation;
	if (!err) {
		*pitch = p;
		err = mem_alloc(ptr, p * height);
	}
	return rt_leave(err);
}

/* ---- copies -------------------------------------------------------------- */

static cudaError_t copy_kind(const void *dst, const void *src, enum cudaMemcpyKind *kind)
{
	bool ddev = rt_is_dev((uintptr_t)dst), sdev = rt_is_dev((uintptr_t)src);

	if (*kind == cudaMemcpyDefault) {
		*kind = sdev && ddev ? cudaMemcpyDeviceToDevice :
			sdev ? cudaMemcpyDeviceToHost : ddev ? cudaMemcpyHostToDevice :
			cudaMemcpyHostToHost;
		return cudaSuccess;
	}
	if ((unsigned int)*kind > cudaMemcpyDefault)
		return cudaErrorInvalidMemcpyDirection;
	/* a device side named where a host pointer is given, or back */
	if (((*kind == cudaMemcpyHostToDevice || *kind == cudaMemcpyDeviceToDevice) && !ddev) ||
	    ((*kind == cudaMemcpyDeviceToHost || *kind == cudaMemcpyDeviceToDevice) && !sdev) ||
	    ((*kind == cudaMemcpyHostToDevice || *kind == cudaMemcpyHostToHost) && sdev) ||
	    ((*kind == cudaMemcpyDeviceToHost || *kind == cudaMemcpyHostToHost) && ddev))
		return cudaErrorInvalidValue;
	return cudaSuccess;
}

/* One contiguous copy, split at the batch's size; @sync: a copy to the
 * host is waited for. */
cudaError_t rt_copy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
		    bool sync)
{
	uint64_t d = (uintptr_t)dst, s = (uintptr_t)src, chunk = CHUNK_BYTES(rt.cap_bytes);
	struct rt_buf *db = NULL, *sb = NULL;
	cudaError_t err;
	int ret = 0;

	if ((err = copy_kind(dst, src, &kind)))
		return err;
	if (!count)
		return cudaSuccess;
	if (kind == cudaMemcpyHostToHost) {
		/* after the device work that may write either side */
		if (rt.nouts && (err = rt_flush()))
			return err;
		memmove(dst, src, count);
		return cudaSuccess;
	}
	if ((kind != cudaMemcpyDeviceToHost && !rt_buf_find(d, count)) ||
	    (kind != cudaMemcpyHostToDevice && !rt_buf_find(s, count)))
		return cudaErrorInvalidValue;
	for (uint64_t done = 0; done < count;) {
		uint64_t n = count - done < chunk ? count - done : chunk, ref;

		if ((err = rt_room(kind == cudaMemcpyHostToDevice ? n + 64 : 64,
				   kind == cudaMemcpyDeviceToHost ? n + 32 : 32)))
			return err;
		/* looked up again: a flush resolves the handles of new buffers */
		db = kind == cudaMemcpyDeviceToHost ? NULL : rt_buf_find(d + done, n);
		sb = kind == cudaMemcpyHostToDevice ? NULL : rt_buf_find(s + done, n);
		if ((kind != cudaMemcpyDeviceToHost && !db) ||
		    (kind != cudaMemcpyHostToDevice && !sb))
			return cudaErrorInvalidValue;
		switch (kind) {
		case cudaMemcpyHostToDevice:
			ret = vgpu_cmd_copy_h2d(rt.list, db->ref, d + done - db->va,
						(const uint8_t *)src + done, n, NULL);
			if (!ret) {
				uint64_t dva = db->va, doff = d + done - db->va;

				if (!done)
					rt_note("cudaMemcpy%s(%s %zu)", sync ? "" : "Async",
						kind_name[kind], count);
				err = rt_store_pointers(dva, doff, (const uint8_t *)src + done, n);
				if (err)
					return err;
			}
			break;
		case cudaMemcpyDeviceToHost:
			ret = vgpu_cmd_copy_d2h(rt.list, sb->ref, s + done - sb->va, n, &ref);
			if (!ret && (err = out_add(ref, (uint8_t *)dst + done, n)))
				return err;
			break;
		default:
			ret = vgpu_cmd_copy_d2d(rt.list, db->ref, d + done - db->va, sb->ref,
						s + done - sb->va, n, NULL);
			break;
		}
		if (ret)
			return rt_list_err(ret);
		if (!done && kind != cudaMemcpyHostToDevice)	/* with its first piece */
			rt_note("cudaMemcpy%s(%s %zu)", sync ? "" : "Async", kind_name[kind], count);
		done += n;
	}
	if (sync && kind == cudaMemcpyDeviceToHost)
		return rt_flush();
	return cudaSuccess;
}

CUDART_API cudaError_t cudaMemcpy(void *dst, const void *src, size_t count,
				  enum cudaMemcpyKind kind)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = rt_copy(dst, src, count, kind, true);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count,
				       enum cudaMemcpyKind kind, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = rt_stream_issue(stream);
	if (!err)
		err = rt_copy(dst, src, count, kind, false);
	return rt_leave(err);
}

/*
 * A 2D copy: one contiguous copy where the rows are dense, else a copy
 * per row (a copy to the host reads the whole span of its rows once when
 * that is at most twice the bytes wanted).
 */
static cudaError_t copy_2d(void *dst, size_t dpitch, const void *src, size_t spitch,
			   size_t width, size_t height, enum cudaMemcpyKind kind, bool sync)
{
	cudaError_t err;

	if ((width > dpitch && height > 1) || (width > spitch && height > 1))
		return cudaErrorInvalidPitchValue;
	if (!width || !height)
		return cudaSuccess;
	if ((err = copy_kind(dst, src, &kind)))
		return err;
	if (dpitch == width && spitch == width && width <= SIZE_MAX / height)
		return rt_copy(dst, src, width * height, kind, sync);
	if (kind == cudaMemcpyDeviceToHost && spitch <= 2 * width) {
		size_t span = (height - 1) * spitch + width;
		uint8_t *tmp = malloc(span);

		if (!tmp)
			return cudaErrorMemoryAllocation;
		/* a bounce buffer is read at the flush: this copy waits */
		err = rt_copy(tmp, src, span, kind, true);
		for (size_t r = 0; !err && r < height; r++)
			memcpy((uint8_t *)dst + r * dpitch, tmp + r * spitch, width);
		free(tmp);
		return err;
	}
	for (size_t r = 0; r < height; r++) {
		err = rt_copy((uint8_t *)dst + r * dpitch, (const uint8_t *)src + r * spitch, width,
			      kind, false);
		if (err)
			return err;
	}
	if (sync && kind == cudaMemcpyDeviceToHost)
		return rt_flush();
	return cudaSuccess;
}

CUDART_API cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch,
				    size_t width, size_t height, enum cudaMemcpyKind kind)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = copy_2d(dst, dpitch, src, spitch, width, height, kind, true);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src,
					 size_t spitch, size_t width, size_t height,
					 enum cudaMemcpyKind kind, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = rt_stream_issue(stream);
	if (!err)
		err = copy_2d(dst, dpitch, src, spitch, width, height, kind, false);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMemcpyPeer(void *dst, int dst_dev, const void *src, int src_dev,
				      size_t count)
{
	cudaError_t err = rt_enter();

	if (!err && (dst_dev || src_dev))
		err = cudaErrorInvalidDevice;
	if (!err)
		err = rt_copy(dst, src, count, cudaMemcpyDeviceToDevice, true);
	return rt_leave(err);
}

/* ---- memset -------------------------------------------------------------- */

static cudaError_t mem_set(const char *call, void *ptr, int value, size_t count)
{
	uint64_t p = (uintptr_t)ptr;
	struct rt_buf *b;
	cudaError_t err;
	int ret;

	if (!count)
		return cudaSuccess;
	if (!rt_buf_find(p, count))
		return cudaErrorInvalidValue;
	if ((err = rt_room(64, 32)))
		return err;
	b = rt_buf_find(p, count);
	if (!b)
		return cudaErrorInvalidValue;
	ret = vgpu_cmd_memset(rt.list, b->ref, p - b->va, count, (unsigned int)value & 0xff, NULL);
	if (ret)
		return rt_list_err(ret);
	rt_note("%s(%p, %d, %zu)", call, ptr, value, count);
	return cudaSuccess;
}

CUDART_API cudaError_t cudaMemset(void *ptr, int value, size_t count)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = mem_set("cudaMemset", ptr, value, count);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = rt_stream_issue(stream);
	if (!err)
		err = mem_set("cudaMemsetAsync", ptr, value, count);
	return rt_leave(err);
}

static cudaError_t mem_set_2d(const char *call, void *ptr, size_t pitch, int value,
			      size_t width, size_t height)
{
	cudaError_t err = cudaSuccess;

	if (width > pitch && height > 1)
		return cudaErrorInvalidPitchValue;
	if (pitch == width && height && width <= SIZE_MAX / height)
		return mem_set(call, ptr, value, width * height);
	for (size_t r = 0; !err && r < height; r++)
		err = mem_set(call, (uint8_t *)ptr + r * pitch, value, width);
	return err;
}

CUDART_API cudaError_t cudaMemset2D(void *ptr, size_t pitch, int value, size_t width,
				    size_t height)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = mem_set_2d("cudaMemset2D", ptr, pitch, value, width, height);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMemset2DAsync(void *ptr, size_t pitch, int value, size_t width,
					 size_t height, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err)
		err = mem_set_2d("cudaMemset2DAsync", ptr, pitch, value, width, height);
	return rt_leave(err);
}

/* ---- queries --------------------------------------------------------------- */

/* Free and total device memory: the VM's quota and what its session holds
 * now (all of the VM's processes), asked for in a job. */
CUDART_API cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes)
{
	cudaError_t err = rt_enter();

	if (!err)
		err = rt_props(true);
	if (!err) {
		uint64_t used = rt.props.mem_used;

		if (free_bytes)
			*free_bytes = used < rt.props.total_mem ? rt.props.total_mem - used : 0;
		if (total_bytes)
			*total_bytes = rt.props.total_mem;
	}
	return rt_leave(err);
}

CUDART_API cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attr,
						const void *ptr)
{
	cudaError_t err = rt_enter();

	if (!err && !attr)
		err = cudaErrorInvalidValue;
	if (!err) {
		memset(attr, 0, sizeof(*attr));
		if (rt_buf_find((uintptr_t)ptr, 0)) {
			attr->type = cudaMemoryTypeDevice;
			attr->devicePointer = (void *)ptr;
		} else {
			attr->type = cudaMemoryTypeUnregistered;
			attr->device = -2;
		}
	}
	return rt_leave(err);
}

/* ---- host memory: plain memory here ---------------------------------------- */

static cudaError_t host_alloc(void **ptr, size_t size)
{
	if (!ptr)
		return rt_set_last(cudaErrorInvalidValue);
	*ptr = NULL;
	if (posix_memalign(ptr, 4096, size ? size : 1))
		return rt_set_last(cudaErrorMemoryAllocation);
	return cudaSuccess;
}

CUDART_API cudaError_t cudaMallocHost(void **ptr, size_t size)
{
	return host_alloc(ptr, size);
}

CUDART_API cudaError_t cudaHostAlloc(void **ptr, size_t size, unsigned int flags)
{
	if (flags & ~(unsigned int)(cudaHostAllocPortable | cudaHostAllocMapped |
				    cudaHostAllocWriteCombined))
		return rt_set_last(cudaErrorInvalidValue);
	return host_alloc(ptr, size);
}

CUDART_API cudaError_t cudaFreeHost(void *ptr)
{
	free(ptr);
	return cudaSuccess;
}

CUDART_API cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags)
{
	(void)flags;
	if (!ptr || !size)
		return rt_set_last(cudaErrorInvalidValue);
	return cudaSuccess;
}

CUDART_API cudaError_t cudaHostUnregister(void *ptr)
{
	return ptr ? cudaSuccess : rt_set_last(cudaErrorInvalidValue);
}

CUDART_API cudaError_t cudaHostGetFlags(unsigned int *flags, void *ptr)
{
	if (!flags || !ptr)
		return rt_set_last(cudaErrorInvalidValue);
	*flags = cudaHostAllocDefault;
	return cudaSuccess;
}

/* ---- stream-ordered allocation: the same, all work being in one order ---- */

CUDART_API cudaError_t cudaMallocAsync(void **ptr, size_t size, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err)
		err = mem_alloc(ptr, size);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaFreeAsync(void *ptr, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err)
		err = mem_free(ptr);
	return rt_leave(err);
}

CUDART_API cudaError_t cudaMemcpyPeerAsync(void *dst, int dst_dev, const void *src, int src_dev,
					   size_t count, cudaStream_t stream)
{
	cudaError_t err = rt_enter();

	if (!err && (dst_dev || src_dev))
		err = cudaErrorInvalidDevice;
	if (!err && !rt_stream_get(stream))
		err = cudaErrorInvalidResourceHandle;
	if (!err)
		err = rt_copy(dst, src, count, cudaMemcpyDeviceToDevice, false);
	return rt_leave(err);
}
