// SPDX-License-Identifier: MIT
/*
 * vgpu-executor's CUDA backend: the driver API on the device's primary
 * context (the runtime's, so that the CUDA kernels of cuda/ can share it
 * once the built-in ops run there). libcuda.so.1 is loaded at init with
 * dlopen and every entry point found with cuGetProcAddress at the
 * CUDA_VERSION of the headers we were built with, so the executor starts
 * on a host without the driver (where only -b cpu works) and each pointer
 * has the type of the prototype it was compiled against. Every call is
 * checked by CU(), which names the call and the CUDA error in the job's
 * message and maps it to an errno (Documentation/executor.rst,
 * "Backends"); an error that leaves the context unusable (a kernel fault)
 * marks it lost, and the executor answers the list and exits.
 *
 * Every launch is followed by cuCtxSynchronize: a fault is charged to the
 * launch that made it. Main thread only. Not run in CI (no GPU there):
 * correct by reading until tests/gpu exercises it.
 */
#include <dlfcn.h>
#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda.h>

#include "executor.h"

/* The entry points used; each becomes p_NAME of NAME's prototype. */
#define CU_FNS(X)							\
	X(cuInit) X(cuDeviceGet) X(cuDeviceGetName) X(cuDevicePrimaryCtxRetain) \
	X(cuCtxSetCurrent) X(cuCtxSynchronize) X(cuMemAlloc) X(cuMemFree) \
	X(cuMemsetD8) X(cuMemcpyHtoD) X(cuMemcpyDtoH) X(cuMemcpyDtoD)	\
	X(cuModuleLoadDataEx) X(cuModuleUnload) X(cuModuleGetFunction)	\
	X(cuModuleGetFunctionCount) X(cuModuleEnumerateFunctions) X(cuFuncLoad) \
	X(cuFuncGetName) X(cuFuncGetParamInfo) X(cuFuncGetAttribute)	\
	X(cuFuncSetAttribute) X(cuLaunchKernelEx) X(cuEventCreate)	\
	X(cuEventRecord) X(cuEventSynchronize) X(cuEventElapsedTime)	\
	X(cuGetErrorName) X(cuDeviceGetAttribute) X(cuDeviceTotalMem)	\
	X(cuDeviceGetUuid) X(cuModuleGetGlobal)

#define CU_DECL(fn) static __typeof__(&fn) p_##fn;
CU_FNS(CU_DECL)

static bool lost;		/* the context is unusable: exit after this list */
static CUevent ev_start, ev_now;
static CUdevice cu_dev;		/* the device of the primary context */

/* Map @e of @call to -errno with the reason in @msg; 0 for success. */
static int cu_fail(CUresult e, const char *call, char *msg)
{
	const char *name = NULL;

	if (e == CUDA_SUCCESS)
		return 0;
	if (!p_cuGetErrorName || p_cuGetErrorName(e, &name) != CUDA_SUCCESS || !name)
		name = "unknown CUDA error";
	snprintf(msg, VGPU_SESS_MSG_LEN, "%s (%d) from %.60s", name, (int)e, call);
	switch (e) {
	case CUDA_ERROR_OUT_OF_MEMORY:
		return -ENOMEM;
	case CUDA_ERROR_NOT_FOUND:
		return -ENOENT;
	case CUDA_ERROR_INVALID_VALUE:
	case CUDA_ERROR_INVALID_IMAGE:
	case CUDA_ERROR_INVALID_PTX:
	case CUDA_ERROR_UNSUPPORTED_PTX_VERSION:
	case CUDA_ERROR_NO_BINARY_FOR_GPU:
	case CUDA_ERROR_INVALID_SOURCE:
		return -EINVAL;
	case CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES:
	case CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE:
		return -E2BIG;
	case CUDA_ERROR_ILLEGAL_ADDRESS:
	case CUDA_ERROR_LAUNCH_TIMEOUT:
	case CUDA_ERROR_ASSERT:
	case CUDA_ERROR_HARDWARE_STACK_ERROR:
	case CUDA_ERROR_ILLEGAL_INSTRUCTION:
	case CUDA_ERROR_MISALIGNED_ADDRESS:
	case CUDA_ERROR_INVALID_ADDRESS_SPACE:
	case CUDA_ERROR_INVALID_PC:
	case CUDA_ERROR_LAUNCH_FAILED:
		lost = true;	/* "the process must be terminated and relaunched" */
		return -EFAULT;
	case CUDA_ERROR_ECC_UNCORRECTABLE:
	case CUDA_ERROR_CONTEXT_IS_DESTROYED:
		lost = true;
		return -EIO;
	default:
		return -EIO;
	}
}

/* Check a driver call: 0, or -errno with the call named in msg. */
#define CU(call) cu_fail((call), #call, msg)

static int cuda_init(int device, char name[64], char *msg)
{
	CUresult (*gpa)(const char *, void **, int, cuuint64_t, CUdriverProcAddressQueryResult *);
	CUdriverProcAddressQueryResult q;
	CUcontext ctx;
	CUdevice dev;
	void *h;
	int err;

	h = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(msg, VGPU_SESS_MSG_LEN, "no CUDA driver: %.90s", dlerror());
		return -ENODEV;
	}
	/* cuGetProcAddress is cuGetProcAddress_v2 (with the query result) */
	gpa = (__typeof__(gpa))dlsym(h, "cuGetProcAddress_v2");
	if (!gpa) {
		snprintf(msg, VGPU_SESS_MSG_LEN, "CUDA driver without cuGetProcAddress_v2");
		return -ENODEV;
	}
	/*
	 * Each entry point as cuda.h declares it (p_NAME has that prototype).
	 * cuGetProcAddress returns the newest ABI of a name up to the version
	 * asked for, and CUDA 13.0 gave cuCtxSynchronize a context argument
	 * (PFN_cuCtxSynchronize_v13000) while cuda.h keeps the (void) one of
	 * 2.0: asked for at 13000 it returned the new one, called without its
	 * argument, and every list failed with CONTEXT_IS_DESTROYED (709).
	 */
#define CU_VERSION_OF(fn) (strcmp(#fn, "cuCtxSynchronize") ? CUDA_VERSION : 2000)
#define CU_LOAD(fn)							\
	if (gpa(#fn, (void **)&p_##fn, CU_VERSION_OF(fn), CU_GET_PROC_ADDRESS_DEFAULT, &q) || \
	    !p_##fn) {							\
		snprintf(msg, VGPU_SESS_MSG_LEN, "CUDA driver older than %d: no %s", \
			 CUDA_VERSION, #fn);				\
		return -ENODEV;						\
	}
	CU_FNS(CU_LOAD)
#undef CU_LOAD
#undef CU_VERSION_OF
	if ((err = CU(p_cuInit(0))) || (err = CU(p_cuDeviceGet(&dev, device))) ||
	    (err = CU(p_cuDeviceGetName(name, 64, dev))) ||
	    (err = CU(p_cuDevicePrimaryCtxRetain(&ctx, dev))) ||
	    (err = CU(p_cuCtxSetCurrent(ctx))) ||
	    (err = CU(p_cuEventCreate(&ev_start, CU_EVENT_DEFAULT))) ||
	    (err = CU(p_cuEventCreate(&ev_now, CU_EVENT_DEFAULT))))
		return err;
	name[63] = '\0';
	cu_dev = dev;
	return 0;
}

static int cuda_alloc(uint64_t size, uint64_t *addr, char *msg)
{
	CUdeviceptr p;
	int err = CU(p_cuMemAlloc(&p, (size_t)size));

	if (!err)
		*addr = (uint64_t)p;
	return err;
}

static void cuda_free(uint64_t addr)
{
	char msg[VGPU_SESS_MSG_LEN];

	(void)CU(p_cuMemFree((CUdeviceptr)addr));	/* nothing to tell anyone */
}

static int cuda_memset(uint64_t addr, uint8_t value, uint64_t len, char *msg)
{
	return CU(p_cuMemsetD8((CUdeviceptr)addr, value, (size_t)len));
}

static int cuda_h2d(uint64_t dst, const void *src, uint64_t len, char *msg)
{
	return CU(p_cuMemcpyHtoD((CUdeviceptr)dst, src, (size_t)len));
}

static int cuda_d2h(void *dst, uint64_t src, uint64_t len, char *msg)
{
	return CU(p_cuMemcpyDtoH(dst, (CUdeviceptr)src, (size_t)len));
}

static int cuda_d2d(uint64_t dst, uint64_t src, uint64_t len, char *msg)
{
	return CU(p_cuMemcpyDtoD((CUdeviceptr)dst, (CUdeviceptr)src, (size_t)len));
}

static int cuda_module_load(const void *image, uint64_t len, void **mod, char *msg)
{
	char log[256] = "";
	CUjit_option opt[2] = { CU_JIT_ERROR_LOG_BUFFER, CU_JIT_ERROR_LOG_BUFFER_SIZE_BYTES };
	void *val[2] = { log, (void *)(uintptr_t)sizeof(log) };
	uint64_t *copy;
	CUmodule m;
	int err;

	/* an 8-aligned copy, NUL-terminated for PTX text */
	if (len > SIZE_MAX - 16 || !(copy = calloc(1, (size_t)len / 8 * 8 + 16)))
		return snprintf(msg, VGPU_SESS_MSG_LEN, "module_load: out of host memory"),
		       -ENOMEM;
	memcpy(copy, image, (size_t)len);
	err = CU(p_cuModuleLoadDataEx(&m, copy, 2, opt, val));
	free(copy);
	if (err) {
		log[sizeof(log) - 1] = '\0';
		if (log[0]) {	/* the JIT's reason says more than the error's name */
			size_t l = strlen(msg);

			snprintf(msg + l, VGPU_SESS_MSG_LEN - l, ": %s", log);
		}
		return err;
	}
	*mod = m;
	return 0;
}

static void cuda_module_unload(void *mod)
{
	char msg[VGPU_SESS_MSG_LEN];

	(void)CU(p_cuModuleUnload((CUmodule)mod));
}

static void put32le(uint8_t *b, uint32_t v)
{
	v = htole32(v);
	memcpy(b, &v, 4);
}

/* The kernel records of protocol.rst "Kernel records". */
static int cuda_module_describe(void *mod, struct xbuf *out, char *msg)
{
	static const CUfunction_attribute attrs[8] = {
		CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK, CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES,
		CU_FUNC_ATTRIBUTE_CONST_SIZE_BYTES, CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES,
		CU_FUNC_ATTRIBUTE_NUM_REGS, CU_FUNC_ATTRIBUTE_PTX_VERSION,
		CU_FUNC_ATTRIBUTE_BINARY_VERSION,
		CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
	};
	CUfunction *fns = NULL;
	unsigned int n = 0;
	uint8_t *p;
	int err;

	if ((err = CU(p_cuModuleGetFunctionCount(&n, (CUmodule)mod))))
		return err;
	if (!(p = xbuf_grow(out, 8)))
		goto nomem;
	put32le(p, n);
	if (!n)
		return 0;
	fns = calloc(n, sizeof(*fns));
	if (!fns)
		goto nomem;
	if ((err = CU(p_cuModuleEnumerateFunctions(fns, n, (CUmodule)mod))))
		goto out;
	for (unsigned int k = 0; k < n; k++) {
		const char *name = NULL;
		size_t name_len, rec_at, off, size;
		uint32_t np = 0;

		/* enumerated functions of a lazily loaded module are not loaded yet */
		if ((err = CU(p_cuFuncLoad(fns[k]))) ||
		    (err = CU(p_cuFuncGetName(&name, fns[k]))))
			goto out;
		name_len = strnlen(name, VGPU_SESS_NAME_MAX);
		rec_at = out->len;
		if (!(p = xbuf_grow(out, VGPU_SESS_KERNEL_REC_SIZE + (name_len + 7) / 8 * 8)))
			goto nomem;
		put32le(p, (uint32_t)name_len);
		for (int a = 0; a < 8; a++) {
			int v = 0;

			if ((err = CU(p_cuFuncGetAttribute(&v, attrs[a], fns[k]))))
				goto out;
			put32le(p + 8 + 4 * a, (uint32_t)v);
		}
		memcpy(p + VGPU_SESS_KERNEL_REC_SIZE, name, name_len);
		/* parameters until the index is out of range */
		while (np <= VGPU_SESS_PARAMS_MAX &&
		       p_cuFuncGetParamInfo(fns[k], np, &off, &size) == CUDA_SUCCESS) {
			uint8_t *q = xbuf_grow(out, 8);

			if (!q)
				goto nomem;
			put32le(q, (uint32_t)off);
			put32le(q + 4, (uint32_t)size);
			np++;
		}
		put32le(out->p + rec_at + 4, np);	/* out->p may have moved */
	}
	goto out;
nomem:
	err = -ENOMEM;
	snprintf(msg, VGPU_SESS_MSG_LEN, "module_describe: out of host memory");
out:
	free(fns);
	return err;
}

static int cuda_launch(void *mod, const struct vgpu_sess_cmd *c, void *params, char *msg)
{
	char name[VGPU_SESS_NAME_MAX + 1];
	size_t psize = (size_t)c->data_len;
	void *extra[] = {
		CU_LAUNCH_PARAM_BUFFER_POINTER, params,
		CU_LAUNCH_PARAM_BUFFER_SIZE, &psize,
		CU_LAUNCH_PARAM_END,
	};
	CUlaunchAttribute coop = { .id = CU_LAUNCH_ATTRIBUTE_COOPERATIVE };
	CUlaunchConfig cfg = {
		.gridDimX = c->grid[0], .gridDimY = c->grid[1], .gridDimZ = c->grid[2],
		.blockDimX = c->block[0], .blockDimY = c->block[1], .blockDimZ = c->block[2],
		.sharedMemBytes = c->shared_bytes,
	};
	CUfunction f;
	int err;

	memcpy(name, c->name, c->name_len);
	name[c->name_len] = '\0';
	err = CU(p_cuModuleGetFunction(&f, (CUmodule)mod, name));
	if (err)
		return err;
	if (c->shared_bytes > 48 * 1024 &&	/* above the default: opt in */
	    (err = CU(p_cuFuncSetAttribute(f, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
					   (int)c->shared_bytes))))
		return err;
	if (c->flags & VGPU_SESS_F_COOPERATIVE) {
		coop.value.cooperative = 1;
		cfg.attrs = &coop;
		cfg.numAttrs = 1;
	}
	err = CU(p_cuLaunchKernelEx(&cfg, f, NULL, psize ? extra : NULL));
	if (!err)
		err = CU(p_cuCtxSynchronize());
	return err;
}

static int cuda_module_global(void *mod, const char *name, uint64_t *addr, uint64_t *size,
			      char *msg)
{
	CUdeviceptr p;
	size_t n;
	int err = CU(p_cuModuleGetGlobal(&p, &n, (CUmodule)mod, name));

	if (!err) {
		*addr = (uint64_t)p;
		*size = n;
	}
	return err;
}

static int cuda_props(struct vgpu_device_props *p, char *msg)
{
	static const struct {
		CUdevice_attribute a;
		size_t off;
	} attrs[] = {
#define A(attr, field) { CU_DEVICE_ATTRIBUTE_##attr, offsetof(struct vgpu_device_props, field) }
		A(COMPUTE_CAPABILITY_MAJOR, cc_major),
		A(COMPUTE_CAPABILITY_MINOR, cc_minor),
		A(MULTIPROCESSOR_COUNT, multiprocessors),
		A(WARP_SIZE, warp_size),
		A(CLOCK_RATE, clock_khz),
		A(MEMORY_CLOCK_RATE, mem_clock_khz),
		A(GLOBAL_MEMORY_BUS_WIDTH, mem_bus_width),
		A(L2_CACHE_SIZE, l2_bytes),
		A(MAX_THREADS_PER_BLOCK, max_threads_per_block),
		A(MAX_BLOCK_DIM_X, max_block[0]),
		A(MAX_BLOCK_DIM_Y, max_block[1]),
		A(MAX_BLOCK_DIM_Z, max_block[2]),
		A(MAX_GRID_DIM_X, max_grid[0]),
		A(MAX_GRID_DIM_Y, max_grid[1]),
		A(MAX_GRID_DIM_Z, max_grid[2]),
		A(MAX_SHARED_MEMORY_PER_BLOCK, shared_per_block),
		A(MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, shared_per_block_optin),
		A(MAX_SHARED_MEMORY_PER_MULTIPROCESSOR, shared_per_sm),
		A(MAX_REGISTERS_PER_BLOCK, regs_per_block),
		A(MAX_REGISTERS_PER_MULTIPROCESSOR, regs_per_sm),
		A(MAX_THREADS_PER_MULTIPROCESSOR, max_threads_per_sm),
		A(MAX_BLOCKS_PER_MULTIPROCESSOR, max_blocks_per_sm),
		A(TOTAL_CONSTANT_MEMORY, const_bytes),
#undef A
	};
	static const struct {
		CUdevice_attribute a;
		uint32_t flag;
	} flags[] = {
		{ CU_DEVICE_ATTRIBUTE_COOPERATIVE_LAUNCH, VGPU_PROPS_F_COOPERATIVE },
		{ CU_DEVICE_ATTRIBUTE_CONCURRENT_KERNELS, VGPU_PROPS_F_CONCURRENT_KERNELS },
		{ CU_DEVICE_ATTRIBUTE_ECC_ENABLED, VGPU_PROPS_F_ECC },
	};
	CUuuid uuid;
	size_t total;
	int v, err;

	if ((err = CU(p_cuDeviceGetName(p->name, (int)sizeof(p->name), cu_dev))) ||
	    (err = CU(p_cuDeviceGetUuid(&uuid, cu_dev))) ||
	    (err = CU(p_cuDeviceTotalMem(&total, cu_dev))))
		return err;
	p->name[sizeof(p->name) - 1] = '\0';
	memcpy(p->uuid, uuid.bytes, sizeof(p->uuid));
	p->total_mem = total;
	p->flags = VGPU_PROPS_F_GPU;
	for (size_t i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		if ((err = CU(p_cuDeviceGetAttribute(&v, attrs[i].a, cu_dev))))
			return err;
		*(uint32_t *)((char *)p + attrs[i].off) = v > 0 ? (uint32_t)v : 0;
	}
	for (size_t i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		if ((err = CU(p_cuDeviceGetAttribute(&v, flags[i].a, cu_dev))))
			return err;
		if (v)
			p->flags |= flags[i].flag;
	}
	return 0;
}

static int cuda_list_begin(char *msg)
{
	return CU(p_cuEventRecord(ev_start, NULL));
}

static int cuda_timestamp(uint64_t *ns, char *msg)
{
	float ms = 0;
	int err;

	if ((err = CU(p_cuEventRecord(ev_now, NULL))) ||
	    (err = CU(p_cuEventSynchronize(ev_now))) ||
	    (err = CU(p_cuEventElapsedTime(&ms, ev_start, ev_now))))
		return err;
	*ns = (uint64_t)((double)ms * 1e6);
	return 0;
}

static int cuda_list_end(char *msg)
{
	return CU(p_cuCtxSynchronize());
}

const struct xbackend xbackend_cuda = {
	.name = "cuda",
	.init = cuda_init,
	.alloc = cuda_alloc,
	.free = cuda_free,
	.memset = cuda_memset,
	.h2d = cuda_h2d,
	.d2h = cuda_d2h,
	.d2d = cuda_d2d,
	.module_load = cuda_module_load,
	.module_unload = cuda_module_unload,
	.module_describe = cuda_module_describe,
	.module_global = cuda_module_global,
	.props = cuda_props,
	.launch = cuda_launch,
	.list_begin = cuda_list_begin,
	.timestamp = cuda_timestamp,
	.list_end = cuda_list_end,
	.lost = &lost,
};
