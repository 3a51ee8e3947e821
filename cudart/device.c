// SPDX-License-Identifier: MIT
/*
 * Device management of the guest CUDA runtime: one device (ordinal 0),
 * the VM's share of the GPU, whose properties come from Dom0 once
 * (rt_props()) and are cached; version queries, error names and texts,
 * cudaDeviceReset. Runs in the calling thread; touches rt under rt.lock.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runtime.h"

CUDART_API const char *cudaGetErrorName(cudaError_t err)
{
	switch (err) {
#define CUDA_ERROR_NAME(name, value, text) case name: return #name;
		CUDA_ERRORS(CUDA_ERROR_NAME)
#undef CUDA_ERROR_NAME
	default:
		return "unrecognized error code";
	}
}

CUDART_API const char *cudaGetErrorString(cudaError_t err)
{
	switch (err) {
#define CUDA_ERROR_TEXT(name, value, text) case name: return text;
		CUDA_ERRORS(CUDA_ERROR_TEXT)
#undef CUDA_ERROR_TEXT
	default:
		return "unrecognized error code";
	}
}

CUDART_API cudaError_t cudaRuntimeGetVersion(int *version)
{
	if (!version)
		return rt_set_last(cudaErrorInvalidValue);
	*version = CUDART_VERSION;
	return cudaSuccess;
}

/* The "driver" is the library itself: as new as the runtime. */
CUDART_API cudaError_t cudaDriverGetVersion(int *version)
{
	if (!version)
		return rt_set_last(cudaErrorInvalidValue);
	*version = CUDART_VERSION;
	return cudaSuccess;
}

CUDART_API cudaError_t cudaGetDeviceCount(int *count)
{
	cudaError_t err;

	if (!count)
		return rt_set_last(cudaErrorInvalidValue);
	pthread_mutex_lock(&rt.lock);
	err = rt.sticky ? rt.sticky : cudaSuccess;
	if (!err)
		err = rt_open();
	*count = rt.opened && !rt.open_err ? 1 : 0;
	return rt_leave(err);
}

CUDART_API cudaError_t cudaGetDevice(int *device)
{
	if (!device)
		return rt_set_last(cudaErrorInvalidValue);
	*device = 0;
	return cudaSuccess;
}

CUDART_API cudaError_t cudaSetDevice(int device)
{
	cudaError_t err = rt_enter();

	if (!err && device != 0)
		err = cudaErrorInvalidDevice;
	return rt_leave(err);
}

CUDART_API cudaError_t cudaInitDevice(int device, unsigned int device_flags, unsigned int flags)
{
	(void)device_flags;
	(void)flags;
	return cudaSetDevice(device);
}

CUDART_API cudaError_t cudaChooseDevice(int *device, const struct cudaDeviceProp *prop)
{
	if (!device || !prop)
		return rt_set_last(cudaErrorInvalidValue);
	*device = 0;
	return cudaSuccess;
}

static unsigned int device_flags;

CUDART_API cudaError_t cudaSetDeviceFlags(unsigned int flags)
{
	if (flags & ~(unsigned int)(cudaDeviceScheduleMask | cudaDeviceMapHost |
				    cudaDeviceLmemResizeToMax))
		return rt_set_last(cudaErrorInvalidValue);
	__atomic_store_n(&device_flags, flags, __ATOMIC_RELAXED);
	return cudaSuccess;
}

CUDART_API cudaError_t cudaGetDeviceFlags(unsigned int *flags)
{
	if (!flags)
		return rt_set_last(cudaErrorInvalidValue);
	*flags = __atomic_load_n(&device_flags, __ATOMIC_RELAXED) | cudaDeviceMapHost;
	return cudaSuccess;
}

static void fill_prop(struct cudaDeviceProp *p, const struct vgpu_device_props *v)
{
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", v->name);
	memcpy(p->uuid.bytes, v->uuid, sizeof(p->uuid.bytes));
	p->totalGlobalMem = v->total_mem;
	p->sharedMemPerBlock = v->shared_per_block;
	p->regsPerBlock = (int)v->regs_per_block;
	p->warpSize = (int)v->warp_size;
	p->memPitch = 0x7fffffff;
	p->maxThreadsPerBlock = (int)v->max_threads_per_block;
	for (int i = 0; i < 3; i++) {
		p->maxThreadsDim[i] = (int)v->max_block[i];
		p->maxGridSize[i] = (int)v->max_grid[i];
	}
	p->totalConstMem = v->const_bytes;
	p->major = (int)v->cc_major;
	p->minor = (int)v->cc_minor;
	p->textureAlignment = 512;
	p->texturePitchAlignment = 32;
	p->multiProcessorCount = (int)v->multiprocessors;
	p->surfaceAlignment = 512;
	p->concurrentKernels = !!(v->flags & VGPU_PROPS_F_CONCURRENT_KERNELS);
	p->ECCEnabled = !!(v->flags & VGPU_PROPS_F_ECC);
	p->asyncEngineCount = 1;
	p->unifiedAddressing = 1;
	p->memoryBusWidth = (int)v->mem_bus_width;
	p->l2CacheSize = (int)v->l2_bytes;
	p->maxThreadsPerMultiProcessor = (int)v->max_threads_per_sm;
	p->streamPrioritiesSupported = 1;
	p->globalL1CacheSupported = 1;
	p->localL1CacheSupported = 1;
	p->sharedMemPerMultiprocessor = v->shared_per_sm;
	p->regsPerMultiprocessor = (int)v->regs_per_sm;
	p->computePreemptionSupported = 1;
	p->cooperativeLaunch = !!(v->flags & VGPU_PROPS_F_COOPERATIVE);
	p->sharedMemPerBlockOptin = v->shared_per_block_optin;
	p->maxBlocksPerMultiProcessor = (int)v->max_blocks_per_sm;
	p->reservedSharedMemPerBlock = 1024;
	p->hostRegisterSupported = 1;	/* accepted; host memory is plain memory */
	p->deviceNumaId = -1;
	p->hostNumaId = -1;
}

CUDART_API cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device)
{
	cudaError_t err = rt_enter();

	if (!err && !prop)
		err = cudaErrorInvalidValue;
	if (!err && device != 0)
		err = cudaErrorInvalidDevice;
	if (!err)
		err = rt_props(false);
	if (!err)
		fill_prop(prop, &rt.props);
	return rt_leave(err);
}

static int attr_value(enum cudaDeviceAttr attr, const struct vgpu_device_props *v, int *value)
{
	struct cudaDeviceProp p;

	fill_prop(&p, v);
	switch (attr) {
	case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
	case cudaDevAttrMaxBlockDimX: *value = p.maxThreadsDim[0]; break;
	case cudaDevAttrMaxBlockDimY: *value = p.maxThreadsDim[1]; break;
	case cudaDevAttrMaxBlockDimZ: *value = p.maxThreadsDim[2]; break;
	case cudaDevAttrMaxGridDimX: *value = p.maxGridSize[0]; break;
	case cudaDevAttrMaxGridDimY: *value = p.maxGridSize[1]; break;
	case cudaDevAttrMaxGridDimZ: *value = p.maxGridSize[2]; break;
	case cudaDevAttrMaxSharedMemoryPerBlock: *value = (int)p.sharedMemPerBlock; break;
	case cudaDevAttrTotalConstantMemory: *value = (int)p.totalConstMem; break;
	case cudaDevAttrWarpSize: *value = p.warpSize; break;
	case cudaDevAttrMaxPitch: *value = (int)p.memPitch; break;
	case cudaDevAttrMaxRegistersPerBlock: *value = p.regsPerBlock; break;
	case cudaDevAttrClockRate: *value = (int)v->clock_khz; break;
	case cudaDevAttrTextureAlignment: *value = (int)p.textureAlignment; break;
	case cudaDevAttrGpuOverlap: *value = 1; break;
	case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
	case cudaDevAttrKernelExecTimeout: *value = v->time_limit_ms != 0; break;
	case cudaDevAttrIntegrated: *value = 0; break;
	case cudaDevAttrCanMapHostMemory: *value = 0; break;
	case cudaDevAttrComputeMode: *value = 0; break;
	case cudaDevAttrSurfaceAlignment: *value = (int)p.surfaceAlignment; break;
	case cudaDevAttrConcurrentKernels: *value = p.concurrentKernels; break;
	case cudaDevAttrEccEnabled: *value = p.ECCEnabled; break;
	case cudaDevAttrPciBusId: case cudaDevAttrPciDeviceId: case cudaDevAttrPciDomainId:
		*value = 0;
		break;
	case cudaDevAttrTccDriver: *value = 0; break;
	case cudaDevAttrMemoryClockRate: *value = (int)v->mem_clock_khz; break;
	case cudaDevAttrGlobalMemoryBusWidth: *value = p.memoryBusWidth; break;
	case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
	case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
	case cudaDevAttrAsyncEngineCount: *value = p.asyncEngineCount; break;
	case cudaDevAttrUnifiedAddressing: *value = 1; break;
	case cudaDevAttrTexturePitchAlignment: *value = (int)p.texturePitchAlignment; break;
	case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
	case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
	case cudaDevAttrStreamPrioritiesSupported: *value = 1; break;
	case cudaDevAttrGlobalL1CacheSupported: *value = 1; break;
	case cudaDevAttrLocalL1CacheSupported: *value = 1; break;
	case cudaDevAttrMaxSharedMemoryPerMultiprocessor:
		*value = (int)p.sharedMemPerMultiprocessor;
		break;
	case cudaDevAttrMaxRegistersPerMultiprocessor: *value = p.regsPerMultiprocessor; break;
	case cudaDevAttrManagedMemory: *value = 0; break;
	case cudaDevAttrIsMultiGpuBoard: case cudaDevAttrMultiGpuBoardGroupID: *value = 0; break;
	case cudaDevAttrHostNativeAtomicSupported: *value = 0; break;
	case cudaDevAttrSingleToDoublePrecisionPerfRatio: *value = 2; break;
	case cudaDevAttrPageableMemoryAccess: case cudaDevAttrConcurrentManagedAccess:
		*value = 0;
		break;
	case cudaDevAttrComputePreemptionSupported: *value = 1; break;
	case cudaDevAttrCanUseHostPointerForRegisteredMem: *value = 0; break;
	case cudaDevAttrCooperativeLaunch: *value = p.cooperativeLaunch; break;
	case cudaDevAttrMaxSharedMemoryPerBlockOptin: *value = (int)p.sharedMemPerBlockOptin; break;
	case cudaDevAttrCanFlushRemoteWrites: *value = 0; break;
	case cudaDevAttrHostRegisterSupported: *value = 1; break;
	case cudaDevAttrPageableMemoryAccessUsesHostPageTables: *value = 0; break;
	case cudaDevAttrDirectManagedMemAccessFromHost: *value = 0; break;
	case cudaDevAttrMaxBlocksPerMultiprocessor: *value = p.maxBlocksPerMultiProcessor; break;
	case cudaDevAttrMaxPersistingL2CacheSize: case cudaDevAttrMaxAccessPolicyWindowSize:
		*value = 0;
		break;
	case cudaDevAttrReservedSharedMemoryPerBlock: *value = (int)p.reservedSharedMemPerBlock; break;
	case cudaDevAttrMemoryPoolsSupported: *value = 0; break;
	case cudaDevAttrClusterLaunch: *value = 0; break;
	default:
		return -1;
	}
	return 0;
}

CUDART_API cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
	cudaError_t err = rt_enter();

	if (!err && !value)
		err = cudaErrorInvalidValue;
	if (!err && device != 0)
		err = cudaErrorInvalidDevice;
	if (!err)
		err = rt_props(false);
	if (!err && attr_value(attr, &rt.props, value))
		err = cudaErrorInvalidValue;
	return rt_leave(err);
}

/*
 * Send the work issued, then the frees of this process's buffers and the
 * unloads of its modules (the session is the VM's and outlives us).
 */
static void give_back(const char *why)
{
	size_t nbufs = 0, nmods = 0;

	rt_flush();
	for (size_t i = 0; !rt.sticky && i < rt.nbufs; i++) {
		if (rt.bufs[i].global || rt_room(64, 32))
			continue;
		if (!vgpu_cmd_free(rt.list, rt.bufs[i].ref, NULL))
			nbufs++;
	}
	for (struct rt_image *img = rt.images; !rt.sticky && img; img = img->next)
		if (img->state == RT_IMG_LOADED && !rt_room(64, 32) &&
		    !vgpu_cmd_module_unload(rt.list, img->ref, NULL))
			nmods++;
	if (!rt.sticky && rt.store_state == RT_IMG_LOADED && !rt_room(64, 32) &&
	    !vgpu_cmd_module_unload(rt.list, rt.store_ref, NULL))
		nmods++;
	rt_note("(%s: %zu buffers freed, %zu modules unloaded)", why, nbufs, nmods);
	if (!rt.sticky)
		rt_flush();	/* best effort: what is not freed dies with the session */
}

/*
 * Wait for the work issued and give the session back what this process
 * holds, in one job, and forget it; the sticky error and the thread's
 * last error are cleared, and the next call starts afresh. After a lost
 * session this is how a program carries on (its pointers are void).
 */
CUDART_API cudaError_t cudaDeviceReset(void)
{
	cudaError_t err;

	pthread_mutex_lock(&rt.lock);
	err = rt_open();
	if (!err) {
		give_back("cudaDeviceReset");
		vgpu_list_reset(rt.list);
		rt_forget_device_state();
		rt.sticky = cudaSuccess;
		rt_clear_last();
	}
	pthread_mutex_unlock(&rt.lock);
	return rt_set_last(err);
}

#define RT_EXIT_WAIT_S	5	/* at exit, for another thread's job to come back */

/* The same at the end of the process (not of a forked child): work still
 * in the batch runs, its device text shows. */
__attribute__((destructor)) static void rt_exit(void)
{
	struct timespec deadline;

	/* a thread still waiting for a job must not hold the exit up for good */
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += RT_EXIT_WAIT_S;
	if (pthread_mutex_timedlock(&rt.lock, &deadline))
		return;
	if (rt.opened && !rt.open_err && rt.pid == getpid() && !rt.sticky)
		give_back("exit");
	pthread_mutex_unlock(&rt.lock);
}

/* Limits: the device's own are Dom0's business; the values asked for are
 * remembered and given back. */
static size_t limits[cudaLimitPersistingL2CacheSize + 1] = {
	[cudaLimitStackSize] = 1024,
	[cudaLimitPrintfFifoSize] = 1 << 20,
	[cudaLimitMallocHeapSize] = 8 << 20,
	[cudaLimitDevRuntimeSyncDepth] = 2,
	[cudaLimitDevRuntimePendingLaunchCount] = 2048,
	[cudaLimitMaxL2FetchGranularity] = 64,
};

CUDART_API cudaError_t cudaDeviceSetLimit(enum cudaLimit limit, size_t value)
{
	cudaError_t err = rt_enter_nodev();

	if (!err && (unsigned int)limit > cudaLimitPersistingL2CacheSize)
		err = cudaErrorUnsupportedLimit;
	if (!err)
		limits[limit] = value;
	return rt_leave(err);
}

CUDART_API cudaError_t cudaDeviceGetLimit(size_t *value, enum cudaLimit limit)
{
	cudaError_t err = rt_enter_nodev();

	if (!err && !value)
		err = cudaErrorInvalidValue;
	if (!err && (unsigned int)limit > cudaLimitPersistingL2CacheSize)
		err = cudaErrorUnsupportedLimit;
	if (!err)
		*value = limits[limit];
	return rt_leave(err);
}

CUDART_API cudaError_t cudaDeviceSetCacheConfig(enum cudaFuncCache config)
{
	return (unsigned int)config > cudaFuncCachePreferEqual ?
		rt_set_last(cudaErrorInvalidValue) : cudaSuccess;
}

CUDART_API cudaError_t cudaDeviceGetCacheConfig(enum cudaFuncCache *config)
{
	if (!config)
		return rt_set_last(cudaErrorInvalidValue);
	*config = cudaFuncCachePreferNone;
	return cudaSuccess;
}

CUDART_API cudaError_t cudaDeviceSetSharedMemConfig(enum cudaSharedMemConfig config)
{
	return (unsigned int)config > cudaSharedMemBankSizeEightByte ?
		rt_set_last(cudaErrorInvalidValue) : cudaSuccess;
}

CUDART_API cudaError_t cudaDeviceGetSharedMemConfig(enum cudaSharedMemConfig *config)
{
	if (!config)
		return rt_set_last(cudaErrorInvalidValue);
	*config = cudaSharedMemBankSizeFourByte;
	return cudaSuccess;
}

CUDART_API cudaError_t cudaDeviceCanAccessPeer(int *can, int device, int peer)
{
	if (!can)
		return rt_set_last(cudaErrorInvalidValue);
	*can = 0;
	return device || peer ? rt_set_last(cudaErrorInvalidDevice) : cudaSuccess;
}

/* The device's place on the bus is Dom0's: the VM's one device says 0000:00:00.0,
 * as cudaDevAttrPciDomainId, BusId and DeviceId say 0. */
CUDART_API cudaError_t cudaDeviceGetPCIBusId(char *id, int len, int device)
{
	if (!id || len <= 0)
		return rt_set_last(cudaErrorInvalidValue);
	if (device != 0)
		return rt_set_last(cudaErrorInvalidDevice);
	snprintf(id, (size_t)len, "0000:00:00.0");
	return cudaSuccess;
}

CUDART_API cudaError_t cudaDeviceGetByPCIBusId(int *device, const char *id)
{
	unsigned int domain, bus, dev, fn = 0;

	if (!device || !id)
		return rt_set_last(cudaErrorInvalidValue);
	if (sscanf(id, "%x:%x:%x.%x", &domain, &bus, &dev, &fn) < 3 &&
	    sscanf(id, "%x:%x.%x", &bus, &dev, &fn) < 2)
		return rt_set_last(cudaErrorInvalidValue);
	*device = 0;
	return cudaSuccess;
}

/* No profiler behind this device: nothing to start. */
CUDART_API cudaError_t cudaProfilerStart(void)
{
	return cudaSuccess;
}

CUDART_API cudaError_t cudaProfilerStop(void)
{
	return cudaSuccess;
}

CUDART_API struct cudaChannelFormatDesc cudaCreateChannelDesc(int x, int y, int z, int w,
							      enum cudaChannelFormatKind f)
{
	return (struct cudaChannelFormatDesc){ x, y, z, w, f };
}
