/* SPDX-License-Identifier: MIT */
/*
 * The CUDA runtime's ABI as programs built by nvcc 13 see it, declared
 * here from its documented behaviour (NVIDIA's headers are not copied into
 * this tree): the types, enum values, flag values and struct layouts that
 * libcudart.so.13 (cudart/) takes and returns. Only what the library uses
 * is declared. tests/tools/cudart-abi compiles a probe against this header
 * and against NVIDIA's (when /usr/local/cuda/include exists) and compares
 * every enum value, sizeof and offsetof declared here: keep every struct
 * field on a line of its own and every enum constant as "name = value,".
 *
 * Private to cudart/ and its test; C only, LP64 (x86-64 Linux).
 */
#ifndef VGPU_CUDA_ABI_H
#define VGPU_CUDA_ABI_H

#include <stddef.h>

#define CUDART_VERSION	13000	/* the runtime this library stands in for: 13.0 */

/*
 * cudaError_t: X(name, value, the text cudaGetErrorString() gives, which
 * programs print and which the runtime's output shows)
 */
#define CUDA_ERRORS(X) \
	X(cudaSuccess, 0, "no error") \
	X(cudaErrorInvalidValue, 1, "invalid argument") \
	X(cudaErrorMemoryAllocation, 2, "out of memory") \
	X(cudaErrorInitializationError, 3, "initialization error") \
	X(cudaErrorCudartUnloading, 4, "driver shutting down") \
	X(cudaErrorProfilerDisabled, 5, "profiler disabled while using external profiling tool") \
	X(cudaErrorProfilerNotInitialized, 6, "profiler not initialized: call cudaProfilerInitialize()") \
	X(cudaErrorProfilerAlreadyStarted, 7, "profiler already started") \
	X(cudaErrorProfilerAlreadyStopped, 8, "profiler already stopped") \
	X(cudaErrorInvalidConfiguration, 9, "invalid configuration argument") \
	X(cudaErrorInvalidPitchValue, 12, "invalid pitch argument") \
	X(cudaErrorInvalidSymbol, 13, "invalid device symbol") \
	X(cudaErrorInvalidHostPointer, 16, "invalid host pointer") \
	X(cudaErrorInvalidDevicePointer, 17, "invalid device pointer") \
	X(cudaErrorInvalidTexture, 18, "invalid texture reference") \
	X(cudaErrorInvalidTextureBinding, 19, "texture is not bound to a pointer") \
	X(cudaErrorInvalidChannelDescriptor, 20, "invalid channel descriptor") \
	X(cudaErrorInvalidMemcpyDirection, 21, "invalid copy direction for memcpy") \
	X(cudaErrorAddressOfConstant, 22, "invalid address of constant") \
	X(cudaErrorTextureFetchFailed, 23, "fetch from texture failed") \
	X(cudaErrorTextureNotBound, 24, "cannot fetch from a texture that is not bound") \
	X(cudaErrorSynchronizationError, 25, "incorrect use of __syncthreads()") \
	X(cudaErrorInvalidFilterSetting, 26, "linear filtering not supported for non-float type") \
	X(cudaErrorInvalidNormSetting, 27, "read as normalized float not supported for data type") \
	X(cudaErrorMixedDeviceExecution, 28, "device emulation mode and device execution mode cannot be mixed") \
	X(cudaErrorNotYetImplemented, 31, "feature not yet implemented") \
	X(cudaErrorMemoryValueTooLarge, 32, "memory size or pointer value too large to fit in 32 bit") \
	X(cudaErrorStubLibrary, 34, "CUDA driver is a stub library") \
	X(cudaErrorInsufficientDriver, 35, "CUDA driver version is insufficient for CUDA runtime version") \
	X(cudaErrorCallRequiresNewerDriver, 36, "API call is not supported in the installed CUDA driver") \
	X(cudaErrorInvalidSurface, 37, "invalid surface reference") \
	X(cudaErrorDuplicateVariableName, 43, "duplicate global variable looked up by string name") \
	X(cudaErrorDuplicateTextureName, 44, "duplicate texture looked up by string name") \
	X(cudaErrorDuplicateSurfaceName, 45, "duplicate surface looked up by string name") \
	X(cudaErrorDevicesUnavailable, 46, "CUDA-capable device(s) is/are busy or unavailable") \
	X(cudaErrorIncompatibleDriverContext, 49, "incompatible driver context") \
	X(cudaErrorMissingConfiguration, 52, "__global__ function call is not configured") \
	X(cudaErrorPriorLaunchFailure, 53, "unspecified launch failure in prior launch") \
	X(cudaErrorLaunchMaxDepthExceeded, 65, "launch would exceed maximum depth of nested launches") \
	X(cudaErrorLaunchFileScopedTex, 66, "launch failed because kernel uses unsupported, file-scoped textures (texture objects are supported)") \
	X(cudaErrorLaunchFileScopedSurf, 67, "launch failed because kernel uses unsupported, file-scoped surfaces (surface objects are supported)") \
	X(cudaErrorSyncDepthExceeded, 68, "cudaDeviceSynchronize failed because caller's grid depth exceeds cudaLimitDevRuntimeSyncDepth") \
	X(cudaErrorLaunchPendingCountExceeded, 69, "launch failed because launch would exceed cudaLimitDevRuntimePendingLaunchCount") \
	X(cudaErrorInvalidDeviceFunction, 98, "invalid device function") \
	X(cudaErrorNoDevice, 100, "no CUDA-capable device is detected") \
	X(cudaErrorInvalidDevice, 101, "invalid device ordinal") \
	X(cudaErrorDeviceNotLicensed, 102, "device doesn't have valid Grid license") \
	X(cudaErrorSoftwareValidityNotEstablished, 103, "integrity checks failed") \
	X(cudaErrorStartupFailure, 127, "startup failure in cuda runtime") \
	X(cudaErrorInvalidKernelImage, 200, "device kernel image is invalid") \
	X(cudaErrorDeviceUninitialized, 201, "invalid device context") \
	X(cudaErrorMapBufferObjectFailed, 205, "mapping of buffer object failed") \
	X(cudaErrorUnmapBufferObjectFailed, 206, "unmapping of buffer object failed") \
	X(cudaErrorArrayIsMapped, 207, "array is mapped") \
	X(cudaErrorAlreadyMapped, 208, "resource already mapped") \
	X(cudaErrorNoKernelImageForDevice, 209, "no kernel image is available for execution on the device") \
	X(cudaErrorAlreadyAcquired, 210, "resource already acquired") \
	X(cudaErrorNotMapped, 211, "resource not mapped") \
	X(cudaErrorNotMappedAsArray, 212, "resource not mapped as array") \
	X(cudaErrorNotMappedAsPointer, 213, "resource not mapped as pointer") \
	X(cudaErrorECCUncorrectable, 214, "uncorrectable ECC error encountered") \
	X(cudaErrorUnsupportedLimit, 215, "limit is not supported on this architecture") \
	X(cudaErrorDeviceAlreadyInUse, 216, "exclusive-thread device already in use by a different thread") \
	X(cudaErrorPeerAccessUnsupported, 217, "peer access is not supported between these two devices") \
	X(cudaErrorInvalidPtx, 218, "a PTX JIT compilation failed") \
	X(cudaErrorInvalidGraphicsContext, 219, "invalid OpenGL or DirectX context") \
	X(cudaErrorNvlinkUncorrectable, 220, "uncorrectable NVLink error detected during the execution") \
	X(cudaErrorJitCompilerNotFound, 221, "PTX JIT compiler library not found") \
	X(cudaErrorUnsupportedPtxVersion, 222, "the provided PTX was compiled with an unsupported toolchain.") \
	X(cudaErrorJitCompilationDisabled, 223, "PTX JIT compilation was disabled") \
	X(cudaErrorUnsupportedExecAffinity, 224, "the provided execution affinity is not supported") \
	X(cudaErrorUnsupportedDevSideSync, 225, "the provided PTX contains unsupported call to cudaDeviceSynchronize") \
	X(cudaErrorContained, 226, "Invalid access of peer GPU memory over nvlink or a hardware error") \
	X(cudaErrorInvalidSource, 300, "device kernel image is invalid") \
	X(cudaErrorFileNotFound, 301, "file not found") \
	X(cudaErrorSharedObjectSymbolNotFound, 302, "shared object symbol not found") \
	X(cudaErrorSharedObjectInitFailed, 303, "shared object initialization failed") \
	X(cudaErrorOperatingSystem, 304, "OS call failed or operation not supported on this OS") \
	X(cudaErrorInvalidResourceHandle, 400, "invalid resource handle") \
	X(cudaErrorIllegalState, 401, "the operation cannot be performed in the present state") \
	X(cudaErrorLossyQuery, 402, "attempted introspection would be semantically lossy") \
	X(cudaErrorSymbolNotFound, 500, "named symbol not found") \
	X(cudaErrorNotReady, 600, "device not ready") \
	X(cudaErrorIllegalAddress, 700, "an illegal memory access was encountered") \
	X(cudaErrorLaunchOutOfResources, 701, "too many resources requested for launch") \
	X(cudaErrorLaunchTimeout, 702, "the launch timed out and was terminated") \
	X(cudaErrorLaunchIncompatibleTexturing, 703, "launch uses incompatible texturing mode") \
	X(cudaErrorPeerAccessAlreadyEnabled, 704, "peer access is already enabled") \
	X(cudaErrorPeerAccessNotEnabled, 705, "peer access has not been enabled") \
	X(cudaErrorSetOnActiveProcess, 708, "cannot set while device is active in this process") \
	X(cudaErrorContextIsDestroyed, 709, "context is destroyed") \
	X(cudaErrorAssert, 710, "device-side assert triggered") \
	X(cudaErrorTooManyPeers, 711, "peer mapping resources exhausted") \
	X(cudaErrorHostMemoryAlreadyRegistered, 712, "part or all of the requested memory range is already mapped") \
	X(cudaErrorHostMemoryNotRegistered, 713, "pointer does not correspond to a registered memory region") \
	X(cudaErrorHardwareStackError, 714, "hardware stack error") \
	X(cudaErrorIllegalInstruction, 715, "an illegal instruction was encountered") \
	X(cudaErrorMisalignedAddress, 716, "misaligned address") \
	X(cudaErrorInvalidAddressSpace, 717, "operation not supported on global/shared address space") \
	X(cudaErrorInvalidPc, 718, "invalid program counter") \
	X(cudaErrorLaunchFailure, 719, "unspecified launch failure") \
	X(cudaErrorCooperativeLaunchTooLarge, 720, "too many blocks in cooperative launch") \
	X(cudaErrorTensorMemoryLeak, 721, "tensor memory not completely freed") \
	X(cudaErrorNotPermitted, 800, "operation not permitted") \
	X(cudaErrorNotSupported, 801, "operation not supported") \
	X(cudaErrorSystemNotReady, 802, "system not yet initialized") \
	X(cudaErrorSystemDriverMismatch, 803, "system has unsupported display driver / cuda driver combination") \
	X(cudaErrorCompatNotSupportedOnDevice, 804, "forward compatibility was attempted on non supported HW") \
	X(cudaErrorMpsConnectionFailed, 805, "MPS client failed to connect to the MPS control daemon or the MPS server") \
	X(cudaErrorMpsRpcFailure, 806, "the remote procedural call between the MPS server and the MPS client failed") \
	X(cudaErrorMpsServerNotReady, 807, "MPS server is not ready to accept new MPS client requests") \
	X(cudaErrorMpsMaxClientsReached, 808, "the hardware resources required to create MPS client have been exhausted") \
	X(cudaErrorMpsMaxConnectionsReached, 809, "the hardware resources required to support device connections have been exhausted") \
	X(cudaErrorMpsClientTerminated, 810, "the MPS client has been terminated by the server") \
	X(cudaErrorCdpNotSupported, 811, "is using CUDA Dynamic Parallelism, but the current configuration, like MPS, does not support it") \
	X(cudaErrorCdpVersionMismatch, 812, "unsupported interaction between different versions of CUDA Dynamic Parallelism") \
	X(cudaErrorStreamCaptureUnsupported, 900, "operation not permitted when stream is capturing") \
	X(cudaErrorStreamCaptureInvalidated, 901, "operation failed due to a previous error during capture") \
	X(cudaErrorStreamCaptureMerge, 902, "operation would result in a merge of separate capture sequences") \
	X(cudaErrorStreamCaptureUnmatched, 903, "capture was not ended in the same stream as it began") \
	X(cudaErrorStreamCaptureUnjoined, 904, "capturing stream has unjoined work") \
	X(cudaErrorStreamCaptureIsolation, 905, "dependency created on uncaptured work in another stream") \
	X(cudaErrorStreamCaptureImplicit, 906, "operation would make the legacy stream depend on a capturing blocking stream") \
	X(cudaErrorCapturedEvent, 907, "operation not permitted on an event last recorded in a capturing stream") \
	X(cudaErrorStreamCaptureWrongThread, 908, "attempt to terminate a thread-local capture sequence from another thread") \
	X(cudaErrorTimeout, 909, "wait operation timed out") \
	X(cudaErrorGraphExecUpdateFailure, 910, "the graph update was not performed because it included changes which violated constraints specific to instantiated graph update") \
	X(cudaErrorExternalDevice, 911, "an async error has occured in external entity outside of CUDA") \
	X(cudaErrorInvalidClusterSize, 912, "a kernel launch error has occurred due to cluster misconfiguration") \
	X(cudaErrorFunctionNotLoaded, 913, "the function handle is not loaded when calling an API that requires a loaded function") \
	X(cudaErrorInvalidResourceType, 914, "one or more resources passed in are not valid resource types for the operation") \
	X(cudaErrorInvalidResourceConfiguration, 915, "one or more resources are insufficient or non-applicable for the operation") \
	X(cudaErrorUnknown, 999, "unknown error") \
	X(cudaErrorApiFailureBase, 10000, "api failure base") \

enum cudaError {
#define CUDA_ERROR_ENUM(name, value, text) name = value,
	CUDA_ERRORS(CUDA_ERROR_ENUM)
#undef CUDA_ERROR_ENUM
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
	cudaMemcpyHostToHost = 0,
	cudaMemcpyHostToDevice = 1,
	cudaMemcpyDeviceToHost = 2,
	cudaMemcpyDeviceToDevice = 3,
	cudaMemcpyDefault = 4,
};

enum cudaMemoryType {
	cudaMemoryTypeUnregistered = 0,
	cudaMemoryTypeHost = 1,
	cudaMemoryTypeDevice = 2,
	cudaMemoryTypeManaged = 3,
};

enum cudaChannelFormatKind {
	cudaChannelFormatKindSigned = 0,
	cudaChannelFormatKindUnsigned = 1,
	cudaChannelFormatKindFloat = 2,
	cudaChannelFormatKindNone = 3,
};

enum cudaFuncCache {
	cudaFuncCachePreferNone = 0,
	cudaFuncCachePreferShared = 1,
	cudaFuncCachePreferL1 = 2,
	cudaFuncCachePreferEqual = 3,
};

enum cudaSharedMemConfig {
	cudaSharedMemBankSizeDefault = 0,
	cudaSharedMemBankSizeFourByte = 1,
	cudaSharedMemBankSizeEightByte = 2,
};

enum cudaLimit {
	cudaLimitStackSize = 0,
	cudaLimitPrintfFifoSize = 1,
	cudaLimitMallocHeapSize = 2,
	cudaLimitDevRuntimeSyncDepth = 3,
	cudaLimitDevRuntimePendingLaunchCount = 4,
	cudaLimitMaxL2FetchGranularity = 5,
	cudaLimitPersistingL2CacheSize = 6,
};

enum cudaFuncAttribute {
	cudaFuncAttributeMaxDynamicSharedMemorySize = 8,
	cudaFuncAttributePreferredSharedMemoryCarveout = 9,
};

/* cudaDeviceGetAttribute(): the attributes answered (others: cudaErrorInvalidValue) */
enum cudaDeviceAttr {
	cudaDevAttrMaxThreadsPerBlock = 1,
	cudaDevAttrMaxBlockDimX = 2,
	cudaDevAttrMaxBlockDimY = 3,
	cudaDevAttrMaxBlockDimZ = 4,
	cudaDevAttrMaxGridDimX = 5,
	cudaDevAttrMaxGridDimY = 6,
	cudaDevAttrMaxGridDimZ = 7,
	cudaDevAttrMaxSharedMemoryPerBlock = 8,
	cudaDevAttrTotalConstantMemory = 9,
	cudaDevAttrWarpSize = 10,
	cudaDevAttrMaxPitch = 11,
	cudaDevAttrMaxRegistersPerBlock = 12,
	cudaDevAttrClockRate = 13,
	cudaDevAttrTextureAlignment = 14,
	cudaDevAttrGpuOverlap = 15,
	cudaDevAttrMultiProcessorCount = 16,
	cudaDevAttrKernelExecTimeout = 17,
	cudaDevAttrIntegrated = 18,
	cudaDevAttrCanMapHostMemory = 19,
	cudaDevAttrComputeMode = 20,
	cudaDevAttrSurfaceAlignment = 30,
	cudaDevAttrConcurrentKernels = 31,
	cudaDevAttrEccEnabled = 32,
	cudaDevAttrPciBusId = 33,
	cudaDevAttrPciDeviceId = 34,
	cudaDevAttrTccDriver = 35,
	cudaDevAttrMemoryClockRate = 36,
	cudaDevAttrGlobalMemoryBusWidth = 37,
	cudaDevAttrL2CacheSize = 38,
	cudaDevAttrMaxThreadsPerMultiProcessor = 39,
	cudaDevAttrAsyncEngineCount = 40,
	cudaDevAttrUnifiedAddressing = 41,
	cudaDevAttrPciDomainId = 50,
	cudaDevAttrTexturePitchAlignment = 51,
	cudaDevAttrComputeCapabilityMajor = 75,
	cudaDevAttrComputeCapabilityMinor = 76,
	cudaDevAttrStreamPrioritiesSupported = 78,
	cudaDevAttrGlobalL1CacheSupported = 79,
	cudaDevAttrLocalL1CacheSupported = 80,
	cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
	cudaDevAttrMaxRegistersPerMultiprocessor = 82,
	cudaDevAttrManagedMemory = 83,
	cudaDevAttrIsMultiGpuBoard = 84,
	cudaDevAttrMultiGpuBoardGroupID = 85,
	cudaDevAttrHostNativeAtomicSupported = 86,
	cudaDevAttrSingleToDoublePrecisionPerfRatio = 87,
	cudaDevAttrPageableMemoryAccess = 88,
	cudaDevAttrConcurrentManagedAccess = 89,
	cudaDevAttrComputePreemptionSupported = 90,
	cudaDevAttrCanUseHostPointerForRegisteredMem = 91,
	cudaDevAttrCooperativeLaunch = 95,
	cudaDevAttrMaxSharedMemoryPerBlockOptin = 97,
	cudaDevAttrCanFlushRemoteWrites = 98,
	cudaDevAttrHostRegisterSupported = 99,
	cudaDevAttrPageableMemoryAccessUsesHostPageTables = 100,
	cudaDevAttrDirectManagedMemAccessFromHost = 101,
	cudaDevAttrMaxBlocksPerMultiprocessor = 106,
	cudaDevAttrMaxPersistingL2CacheSize = 108,
	cudaDevAttrMaxAccessPolicyWindowSize = 109,
	cudaDevAttrReservedSharedMemoryPerBlock = 111,
	cudaDevAttrMemoryPoolsSupported = 115,
	cudaDevAttrClusterLaunch = 120,
};

/* stream, event, host memory, device and occupancy flags */
#define cudaStreamDefault			0x00
#define cudaStreamNonBlocking			0x01
#define cudaStreamLegacy			((cudaStream_t)0x1)
#define cudaStreamPerThread			((cudaStream_t)0x2)
#define cudaEventDefault			0x00
#define cudaEventBlockingSync			0x01
#define cudaEventDisableTiming			0x02
#define cudaEventInterprocess			0x04
#define cudaEventRecordDefault			0x00
#define cudaEventRecordExternal			0x01
#define cudaEventWaitDefault			0x00
#define cudaEventWaitExternal			0x01
#define cudaHostAllocDefault			0x00
#define cudaHostAllocPortable			0x01
#define cudaHostAllocMapped			0x02
#define cudaHostAllocWriteCombined		0x04
#define cudaHostRegisterDefault			0x00
#define cudaHostRegisterPortable		0x01
#define cudaHostRegisterMapped			0x02
#define cudaHostRegisterIoMemory		0x04
#define cudaHostRegisterReadOnly		0x08
#define cudaDeviceScheduleAuto			0x00
#define cudaDeviceScheduleSpin			0x01
#define cudaDeviceScheduleYield			0x02
#define cudaDeviceScheduleBlockingSync		0x04
#define cudaDeviceScheduleMask			0x07
#define cudaDeviceMapHost			0x08
#define cudaDeviceLmemResizeToMax		0x10
#define cudaOccupancyDefault			0x00
#define cudaOccupancyDisableCachingOverride	0x01

/* opaque handles: the library's own objects behind these pointers */
typedef struct CUstream_st *cudaStream_t;
typedef struct CUevent_st *cudaEvent_t;
typedef struct CUkern_st *cudaKernel_t;

typedef void (*cudaStreamCallback_t)(cudaStream_t stream, cudaError_t status, void *user_data);
typedef void (*cudaHostFn_t)(void *user_data);

/* 12 bytes, passed by value (in two registers on x86-64) */
struct dim3 {
	unsigned int x;
	unsigned int y;
	unsigned int z;
};
typedef struct dim3 dim3;
typedef struct dim3 uint3;	/* the same layout; only pointers to it are taken */

struct CUuuid_st {
	char bytes[16];
};
typedef struct CUuuid_st cudaUUID_t;

struct cudaChannelFormatDesc {
	int x;
	int y;
	int z;
	int w;
	enum cudaChannelFormatKind f;
};

struct cudaPointerAttributes {
	enum cudaMemoryType type;
	int device;
	void *devicePointer;
	void *hostPointer;
	long reserved[8];
};

struct cudaFuncAttributes {
	size_t sharedSizeBytes;
	size_t constSizeBytes;
	size_t localSizeBytes;
	int maxThreadsPerBlock;
	int numRegs;
	int ptxVersion;
	int binaryVersion;
	int cacheModeCA;
	int maxDynamicSharedSizeBytes;
	int preferredShmemCarveout;
	int clusterDimMustBeSet;
	int requiredClusterWidth;
	int requiredClusterHeight;
	int requiredClusterDepth;
	int clusterSchedulingPolicyPreference;
	int nonPortableClusterSizeAllowed;
	int reserved[16];
};

enum cudaStreamCaptureStatus {
	cudaStreamCaptureStatusNone = 0,
	cudaStreamCaptureStatusActive = 1,
	cudaStreamCaptureStatusInvalidated = 2,
};

enum cudaStreamCaptureMode {
	cudaStreamCaptureModeGlobal = 0,
	cudaStreamCaptureModeThreadLocal = 1,
	cudaStreamCaptureModeRelaxed = 2,
};

enum cudaLaunchAttributeID {
	cudaLaunchAttributeCooperative = 2,
};

/* val is a 64-byte union in CUDA's declaration; cooperative is its int at 0 */
struct cudaLaunchAttribute_st {
	enum cudaLaunchAttributeID id;
	char pad[4];
	char val[64];
};
typedef struct cudaLaunchAttribute_st cudaLaunchAttribute;

struct cudaLaunchConfig_st {
	dim3 gridDim;
	dim3 blockDim;
	size_t dynamicSmemBytes;
	cudaStream_t stream;
	cudaLaunchAttribute *attrs;
	unsigned int numAttrs;
};
typedef struct cudaLaunchConfig_st cudaLaunchConfig_t;

/* CUDA 13's layout (the clock rates and a few others left it in 13.0) */
struct cudaDeviceProp {
	char name[256];
	cudaUUID_t uuid;
	char luid[8];
	unsigned int luidDeviceNodeMask;
	size_t totalGlobalMem;
	size_t sharedMemPerBlock;
	int regsPerBlock;
	int warpSize;
	size_t memPitch;
	int maxThreadsPerBlock;
	int maxThreadsDim[3];
	int maxGridSize[3];
	size_t totalConstMem;
	int major;
	int minor;
	size_t textureAlignment;
	size_t texturePitchAlignment;
	int multiProcessorCount;
	int integrated;
	int canMapHostMemory;
	int maxTexture1D;
	int maxTexture1DMipmap;
	int maxTexture2D[2];
	int maxTexture2DMipmap[2];
	int maxTexture2DLinear[3];
	int maxTexture2DGather[2];
	int maxTexture3D[3];
	int maxTexture3DAlt[3];
	int maxTextureCubemap;
	int maxTexture1DLayered[2];
	int maxTexture2DLayered[3];
	int maxTextureCubemapLayered[2];
	int maxSurface1D;
	int maxSurface2D[2];
	int maxSurface3D[3];
	int maxSurface1DLayered[2];
	int maxSurface2DLayered[3];
	int maxSurfaceCubemap;
	int maxSurfaceCubemapLayered[2];
	size_t surfaceAlignment;
	int concurrentKernels;
	int ECCEnabled;
	int pciBusID;
	int pciDeviceID;
	int pciDomainID;
	int tccDriver;
	int asyncEngineCount;
	int unifiedAddressing;
	int memoryBusWidth;
	int l2CacheSize;
	int persistingL2CacheMaxSize;
	int maxThreadsPerMultiProcessor;
	int streamPrioritiesSupported;
	int globalL1CacheSupported;
	int localL1CacheSupported;
	size_t sharedMemPerMultiprocessor;
	int regsPerMultiprocessor;
	int managedMemory;
	int isMultiGpuBoard;
	int multiGpuBoardGroupID;
	int hostNativeAtomicSupported;
	int pageableMemoryAccess;
	int concurrentManagedAccess;
	int computePreemptionSupported;
	int canUseHostPointerForRegisteredMem;
	int cooperativeLaunch;
	size_t sharedMemPerBlockOptin;
	int pageableMemoryAccessUsesHostPageTables;
	int directManagedMemAccessFromHost;
	int maxBlocksPerMultiProcessor;
	int accessPolicyMaxWindowSize;
	size_t reservedSharedMemPerBlock;
	int hostRegisterSupported;
	int sparseCudaArraySupported;
	int hostRegisterReadOnlySupported;
	int timelineSemaphoreInteropSupported;
	int memoryPoolsSupported;
	int gpuDirectRDMASupported;
	unsigned int gpuDirectRDMAFlushWritesOptions;
	int gpuDirectRDMAWritesOrdering;
	unsigned int memoryPoolSupportedHandleTypes;
	int deferredMappingCudaArraySupported;
	int ipcEventSupported;
	int clusterLaunch;
	int unifiedFunctionPointers;
	int deviceNumaConfig;
	int deviceNumaId;
	int mpsEnabled;
	int hostNumaId;
	unsigned int gpuPciDeviceID;
	unsigned int gpuPciSubsystemID;
	int hostNumaMultinodeIpcSupported;
	int reserved[56];
};

/* The fatbin wrapper nvcc emits in .nvFatBinSegment and passes to
 * __cudaRegisterFatBinary(). */
#define FATBINC_MAGIC		0x466243b1u
#define FATBINC_VERSION		1
#define FATBINC_LINK_VERSION	2	/* -rdc=true: data is the device-linked fatbin */
typedef struct {
	int magic;
	int version;
	const unsigned long long *data;
	void *filename_or_fatbins;
} __fatBinC_Wrapper_t;

/* The fatbin image that data points to begins with this header; the
 * image is header_size + fat_size bytes. Not in NVIDIA's headers. */
#define FATBIN_MAGIC		0xba55ed50u
struct vgpu_fatbin_header {
	unsigned int magic;
	unsigned short version;
	unsigned short header_size;
	unsigned long long fat_size;
};

/* ---- the functions libcudart.so.13 carries (cudart/) ---- */

cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorName(cudaError_t err);
const char *cudaGetErrorString(cudaError_t err);
cudaError_t cudaRuntimeGetVersion(int *version);
cudaError_t cudaDriverGetVersion(int *version);
cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaInitDevice(int device, unsigned int device_flags, unsigned int flags);
cudaError_t cudaChooseDevice(int *device, const struct cudaDeviceProp *prop);
cudaError_t cudaSetDeviceFlags(unsigned int flags);
cudaError_t cudaGetDeviceFlags(unsigned int *flags);
cudaError_t cudaGetDeviceProperties(struct cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device);
cudaError_t cudaDeviceReset(void);
cudaError_t cudaDeviceSetLimit(enum cudaLimit limit, size_t value);
cudaError_t cudaDeviceGetLimit(size_t *value, enum cudaLimit limit);
cudaError_t cudaDeviceSetCacheConfig(enum cudaFuncCache config);
cudaError_t cudaDeviceGetCacheConfig(enum cudaFuncCache *config);
cudaError_t cudaDeviceSetSharedMemConfig(enum cudaSharedMemConfig config);
cudaError_t cudaDeviceGetSharedMemConfig(enum cudaSharedMemConfig *config);
cudaError_t cudaDeviceCanAccessPeer(int *can, int device, int peer);
cudaError_t cudaProfilerStart(void);
cudaError_t cudaProfilerStop(void);
struct cudaChannelFormatDesc cudaCreateChannelDesc(int x, int y, int z, int w,
		enum cudaChannelFormatKind f);
cudaError_t cudaMalloc(void **ptr, size_t size);
cudaError_t cudaFree(void *ptr);
cudaError_t cudaMallocPitch(void **ptr, size_t *pitch, size_t width, size_t height);
cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind,
		cudaStream_t stream);
cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width,
		size_t height, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch,
		size_t width, size_t height, enum cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaMemcpyPeer(void *dst, int dst_dev, const void *src, int src_dev, size_t count);
cudaError_t cudaMemset(void *ptr, int value, size_t count);
cudaError_t cudaMemsetAsync(void *ptr, int value, size_t count, cudaStream_t stream);
cudaError_t cudaMemset2D(void *ptr, size_t pitch, int value, size_t width, size_t height);
cudaError_t cudaMemset2DAsync(void *ptr, size_t pitch, int value, size_t width, size_t height,
		cudaStream_t stream);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaPointerGetAttributes(struct cudaPointerAttributes *attr, const void *ptr);
cudaError_t cudaMallocHost(void **ptr, size_t size);
cudaError_t cudaHostAlloc(void **ptr, size_t size, unsigned int flags);
cudaError_t cudaFreeHost(void *ptr);
cudaError_t cudaHostRegister(void *ptr, size_t size, unsigned int flags);
cudaError_t cudaHostUnregister(void *ptr);
cudaError_t cudaHostGetFlags(unsigned int *flags, void *ptr);
cudaError_t cudaMallocAsync(void **ptr, size_t size, cudaStream_t stream);
cudaError_t cudaFreeAsync(void *ptr, cudaStream_t stream);
cudaError_t cudaMemcpyPeerAsync(void *dst, int dst_dev, const void *src, int src_dev,
		size_t count, cudaStream_t stream);
cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned int flags);
cudaError_t cudaStreamCreateWithPriority(cudaStream_t *s, unsigned int flags, int priority);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamGetFlags(cudaStream_t stream, unsigned int *flags);
cudaError_t cudaStreamGetPriority(cudaStream_t stream, int *priority);
cudaError_t cudaDeviceGetStreamPriorityRange(int *least, int *greatest);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags);
cudaError_t cudaStreamAddCallback(cudaStream_t stream, cudaStreamCallback_t cb, void *data,
		unsigned int flags);
cudaError_t cudaLaunchHostFunc(cudaStream_t stream, cudaHostFn_t fn, void *data);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream);
cudaError_t cudaEventRecordWithFlags(cudaEvent_t event, cudaStream_t stream,
		unsigned int flags);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);
cudaError_t cudaStreamGetId(cudaStream_t stream, unsigned long long *id);
cudaError_t cudaStreamGetDevice(cudaStream_t stream, int *device);
cudaError_t cudaStreamIsCapturing(cudaStream_t stream, enum cudaStreamCaptureStatus *status);
cudaError_t cudaThreadExchangeStreamCaptureMode(enum cudaStreamCaptureMode *mode);
void **__cudaRegisterFatBinary(void *fat_cubin);
void __cudaRegisterFatBinaryEnd(void **handle);
void __cudaUnregisterFatBinary(void **handle);
char __cudaInitModule(void **handle);
void __cudaRegisterFunction(void **handle, const char *host_fun, char *device_fun,
		const char *device_name, int thread_limit, uint3 *tid, uint3 *bid, dim3 *bdim, dim3 *gdim,
		int *wsize);
void __cudaRegisterVar(void **handle, char *host_var, char *device_address,
		const char *device_name, int ext, size_t size, int constant, int global);
void __cudaRegisterManagedVar(void **handle, void **host_var_ptr, char *device_address,
		const char *device_name, int ext, size_t size, int constant, int global);
unsigned int __cudaPushCallConfiguration(dim3 grid, dim3 block, size_t shared,
		struct CUstream_st *stream);
cudaError_t __cudaPopCallConfiguration(dim3 *grid, dim3 *block, size_t *shared, void *stream);
cudaError_t __cudaGetKernel(cudaKernel_t *kernel, const void *host_fun);
cudaError_t cudaGetKernel(cudaKernel_t *kernel, const void *entry);
cudaError_t __cudaLaunchKernel(cudaKernel_t kernel, dim3 grid, dim3 block, void **args,
		size_t shared, cudaStream_t stream);
cudaError_t __cudaLaunchKernel_ptsz(cudaKernel_t kernel, dim3 grid, dim3 block, void **args,
		size_t shared, cudaStream_t stream);
cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args,
		size_t shared, cudaStream_t stream);
cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 grid, dim3 block, void **args,
		size_t shared, cudaStream_t stream);
cudaError_t cudaLaunchCooperativeKernel(const void *func, dim3 grid, dim3 block, void **args,
		size_t shared, cudaStream_t stream);
cudaError_t cudaLaunchCooperativeKernel_ptsz(const void *func, dim3 grid, dim3 block,
		void **args, size_t shared, cudaStream_t stream);
cudaError_t cudaFuncGetAttributes(struct cudaFuncAttributes *attr, const void *func);
cudaError_t cudaFuncSetAttribute(const void *func, enum cudaFuncAttribute attr, int value);
cudaError_t cudaFuncSetCacheConfig(const void *func, enum cudaFuncCache config);
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int *num, const void *func, int block,
		size_t dyn_shared);
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessorWithFlags(int *num, const void *func,
		int block, size_t dyn_shared, unsigned int flags);
cudaError_t cudaOccupancyAvailableDynamicSMemPerBlock(size_t *bytes, const void *func,
		int num_blocks, int block);
cudaError_t cudaMemcpyToSymbol(const void *sym, const void *src, size_t count, size_t offset,
		enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyToSymbolAsync(const void *sym, const void *src, size_t count,
		size_t offset, enum cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaMemcpyFromSymbol(void *dst, const void *sym, size_t count, size_t offset,
		enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyFromSymbolAsync(void *dst, const void *sym, size_t count, size_t offset,
		enum cudaMemcpyKind kind, cudaStream_t stream);
cudaError_t cudaGetSymbolAddress(void **ptr, const void *sym);
cudaError_t cudaGetSymbolSize(size_t *size, const void *sym);
cudaError_t cudaFuncGetName(const char **name, const void *func);
cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *config, const void *func,
		void **args);
cudaError_t cudaFuncGetParamInfo(const void *func, size_t index, size_t *offset, size_t *size);
cudaError_t cudaDeviceGetPCIBusId(char *id, int len, int device);
cudaError_t cudaDeviceGetByPCIBusId(int *device, const char *id);

#endif /* VGPU_CUDA_ABI_H */
