// SPDX-License-Identifier: MIT
/*
 * Device pointers in data the program copies to the device. The program's
 * device pointers are fake addresses (runtime.h) that only launch
 * parameters have translated (pointer patches); a pointer the program
 * stores in device memory -- an array of buffer pointers filled by
 * cudaMemcpy, a __device__ pointer set by cudaMemcpyToSymbol -- would
 * reach the kernel as a fake address. So every copy from the host is
 * scanned as launch parameters are: each 8-byte aligned word (aligned as
 * its device address) whose value is a fake address of a live buffer is
 * written over, right after the copy and in the same batch, by a small
 * kernel of the runtime's own whose parameters carry the pointers as
 * patches. The kernel is PTX written here and loaded the first time it is
 * needed, on devices that run kernels (not the CPU reference backend,
 * where nothing dereferences device memory).
 *
 * Runs in the calling thread under rt.lock; touches rt's store module and
 * the batch.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime.h"

#define STORE_NAME	"vgpu_cudart_store"
#define STORE_SLOTS	RT_STORE_SLOTS	/* pointers one launch writes */
#define STORE_PARAMS	(16 + 16 * STORE_SLOTS)	/* base u64, n u32, then (off, value) u64 pairs */

/*
 * The kernel, one thread: for i < n, *(base + off_i) = value_i, as two
 * 32-bit stores (a false positive in a 4-byte aligned variable must not
 * fault). Unrolled over the slots: a kernel parameter is read with a
 * constant offset.
 */
static char *store_ptx(size_t *len)
{
	size_t cap = 256 + 400 * STORE_SLOTS, n = 0;
	char *p = malloc(cap);

	if (!p)
		return NULL;
#define OUT(...) (n += (size_t)snprintf(p + n, cap - n, __VA_ARGS__))
	OUT(".version 7.8\n.target sm_90\n.address_size 64\n\n"
	    ".visible .entry " STORE_NAME "(\n\t.param .u64 base,\n\t.param .u32 n");
	for (int i = 0; i < STORE_SLOTS; i++)
		OUT(",\n\t.param .u64 off%d,\n\t.param .u64 val%d", i, i);
	OUT("\n)\n{\n\t.reg .pred %%p;\n\t.reg .b32 %%n, %%lo, %%hi;\n"
	    "\t.reg .b64 %%base, %%off, %%val, %%a;\n\n"
	    "\tld.param.u64 %%base, [base];\n\tld.param.u32 %%n, [n];\n"
	    "\tcvta.to.global.u64 %%base, %%base;\n");
	for (int i = 0; i < STORE_SLOTS; i++)
		OUT("\tsetp.le.u32 %%p, %%n, %d;\n\t@%%p bra DONE;\n"
		    "\tld.param.u64 %%off, [off%d];\n\tld.param.u64 %%val, [val%d];\n"
		    "\tadd.s64 %%a, %%base, %%off;\n\tmov.b64 {%%lo, %%hi}, %%val;\n"
		    "\tst.global.u32 [%%a], %%lo;\n\tst.global.u32 [%%a+4], %%hi;\n", i, i, i);
	OUT("DONE:\n\tret;\n}\n");
#undef OUT
	*len = n + 1;	/* PTX text with its NUL */
	return n < cap ? p : (free(p), NULL);
}

/* The kernel loaded (sent with the batch now, once). */
static cudaError_t store_ready(void)
{
	struct vgpu_cmd_result res = { .argsz = sizeof(res) };
	cudaError_t err;
	uint64_t ref;
	size_t len;
	char *ptx;
	int ret;

	if (rt.store_state == RT_IMG_LOADED)
		return cudaSuccess;
	if (rt.store_state == RT_IMG_FAILED)
		return cudaErrorNotSupported;
	ptx = store_ptx(&len);
	if (!ptx)
		return cudaErrorMemoryAllocation;
	if ((err = rt_room(len + 64, 64))) {
		free(ptx);
		return err;
	}
	ret = vgpu_cmd_module_load(rt.list, ptx, len, &ref);
	free(ptx);
	if (ret)
		return rt_list_err(ret);
	rt_note("(load the runtime's pointer store, %zu bytes of PTX)", len);
	err = rt_flush();
	if (vgpu_reply_get(rt.reply, ref, &res) || res.status == -ECANCELED)
		return err ? err : cudaErrorUnknown;
	if (res.status) {
		rt.store_state = RT_IMG_FAILED;
		fprintf(stderr, "libcudart (vgpu): device pointers in copied data stay "
			"untranslated: %s\n", vgpu_reply_message(rt.reply));
		return err;
	}
	rt.store_ref = res.value;
	rt.store_state = RT_IMG_LOADED;
	return err;
}

/*
 * One launch writing @n pointers @vals (fake addresses) at offsets @off of
 * the buffer at @dst_va. Buffers are looked up now: a send of the batch
 * before it has turned the references of new buffers into handles.
 */
static cudaError_t store_launch(uint64_t dst_va, const uint64_t *off, const uint64_t *vals,
				uint32_t n)
{
	uint8_t params[STORE_PARAMS];
	struct vgpu_patch patches[1 + STORE_SLOTS];
	struct vgpu_launch la = {
		.argsz = sizeof(la), .name = STORE_NAME,
		.grid = { 1, 1, 1 }, .block = { 1, 1, 1 }, .param_len = STORE_PARAMS,
		.params = params, .patches = patches, .npatches = 1 + n,
	};
	const struct rt_buf *dst, *b;
	cudaError_t err;
	int ret;

	if ((err = rt_room(STORE_PARAMS + 1024 + 24 * (1 + n), 32)))
		return err;
	la.module = rt.store_ref;
	if (!(dst = rt_buf_find(dst_va, 0)))
		return cudaErrorInvalidValue;
	memset(params, 0, sizeof(params));
	memcpy(params + 8, &n, 4);
	patches[0] = (struct vgpu_patch){ .param_off = 0, .buf = dst->ref, .off = 0 };
	for (uint32_t i = 0; i < n; i++) {
		if (!(b = rt_buf_find(vals[i], 0)))
			return cudaErrorInvalidValue;
		memcpy(params + 16 + 16 * i, &off[i], 8);
		patches[1 + i] = (struct vgpu_patch){ .param_off = 24 + 16 * i, .buf = b->ref,
						      .off = vals[i] - b->va };
	}
	ret = vgpu_cmd_launch(rt.list, &la, NULL);
	if (ret)
		return rt_list_err(ret);
	rt_note("(%u device pointers in copied data translated)", n);
	return cudaSuccess;
}

/*
 * @len bytes at @data were just copied to @dst_off bytes into the buffer
 * at @dst_va: the pointers among them are written over with the real ones,
 * in the batch after the copy.
 */
cudaError_t rt_store_pointers(uint64_t dst_va, uint64_t dst_off, const void *data, uint64_t len)
{
	uint64_t va = dst_va + dst_off, first = (8 - (va & 7)) & 7;
	uint64_t off[STORE_SLOTS], vals[STORE_SLOTS];
	uint32_t n = 0;
	cudaError_t err;

	if (!rt.props_ok || !(rt.props.flags & VGPU_PROPS_F_GPU) ||
	    rt.store_state == RT_IMG_FAILED)
		return cudaSuccess;
	for (uint64_t at = first; at + 8 <= len; at += 8) {
		uint64_t v;

		memcpy(&v, (const uint8_t *)data + at, 8);
		if (!rt_is_dev(v) || !rt_buf_find(v, 0))
			continue;
		if (rt.store_state != RT_IMG_LOADED) {
			/* sends the batch, the copy in it: the stores follow it */
			if ((err = store_ready()))
				return err;
			if (rt.store_state != RT_IMG_LOADED)
				return cudaSuccess;
		}
		off[n] = dst_off + at;
		vals[n] = v;
		if (++n == STORE_SLOTS) {
			if ((err = store_launch(dst_va, off, vals, n)))
				return err;
			n = 0;
		}
	}
	return n ? store_launch(dst_va, off, vals, n) : cudaSuccess;
}
