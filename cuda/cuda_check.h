/* SPDX-License-Identifier: MIT */
/*
 * VGPU_CUDA_CHECK(call): cuda-samples' checkCudaErrors() minus its exit().
 * It evaluates @call (a CUDA runtime, driver or cuBLAS call), and on failure
 * logs the call text, file and line to stderr, records them in the calling
 * thread's struct vgpu_cuda_err, and returns the error unchanged, so that
 *
 *	if (VGPU_CUDA_CHECK(cudaMemcpyAsync(...)))
 *		return cuda_fail(msg);
 *
 * fails the job at hand and nothing else. The record is thread-local: each
 * pool's jobs run on that pool's own worker thread, so pools never see each
 * other's errors. Success costs one compare.
 *
 * VGPU_CUDA_CHECK_LAUNCH(name) checks a kernel launch (<<<>>> returns
 * nothing; its configuration errors surface through cudaGetLastError()).
 * Errors inside a running kernel surface at the next synchronisation, which
 * is checked like any call.
 */
#ifndef VGPU_CUDA_CHECK_H
#define VGPU_CUDA_CHECK_H

#include <cublas_v2.h>
#include <cuda.h>
#include <cuda_runtime.h>

struct vgpu_cuda_err {
	const char *call;	/* source text of the failed call */
	const char *file;
	int line;
	const char *name;	/* error name, e.g. "cudaErrorMemoryAllocation" */
	int code;		/* numeric value in its own enum */
	bool sticky;		/* the context is unusable from now on */
};

/* The last failure recorded on this thread. */
const struct vgpu_cuda_err *vgpu_cuda_last_err(void);
void vgpu_cuda_clear_err(void);

/*
 * Format "<function>: <error name> (<file>:<line>)" into @msg
 * (VGPU_MSG_LEN bytes) from this thread's record.
 */
void vgpu_cuda_err_msg(char *msg, unsigned int len);

/* Driver entry point for error names; set once the driver is loaded. */
void vgpu_cuda_set_driver_error_name(CUresult (*fn)(CUresult, const char **));

void vgpu_cuda_record(const char *name, int code, bool sticky, const char *call,
		      const char *file, int line);

static inline cudaError_t vgpu_cuda_check(cudaError_t e, const char *call,
					  const char *file, int line)
{
	if (e != cudaSuccess) {
		/* Errors from inside a kernel poison the whole context. */
		bool sticky = e == cudaErrorIllegalAddress || e == cudaErrorLaunchFailure ||
			      e == cudaErrorHardwareStackError ||
			      e == cudaErrorIllegalInstruction ||
			      e == cudaErrorMisalignedAddress ||
			      e == cudaErrorInvalidAddressSpace || e == cudaErrorInvalidPc ||
			      e == cudaErrorAssert || e == cudaErrorLaunchTimeout ||
			      e == cudaErrorECCUncorrectable ||
			      e == cudaErrorContextIsDestroyed || e == cudaErrorUnknown;

		vgpu_cuda_record(cudaGetErrorName(e), (int)e, sticky, call, file, line);
	}
	return e;
}

CUresult vgpu_cuda_check(CUresult e, const char *call, const char *file, int line);

static inline cublasStatus_t vgpu_cuda_check(cublasStatus_t e, const char *call,
					     const char *file, int line)
{
	if (e != CUBLAS_STATUS_SUCCESS)
		vgpu_cuda_record(cublasGetStatusName(e), (int)e,
				 e == CUBLAS_STATUS_EXECUTION_FAILED, call, file, line);
	return e;
}

#define VGPU_CUDA_CHECK(call) vgpu_cuda_check((call), #call, __FILE__, __LINE__)
#define VGPU_CUDA_CHECK_LAUNCH(kernel) \
	vgpu_cuda_check(cudaGetLastError(), kernel "<<<>>>", __FILE__, __LINE__)

#endif /* VGPU_CUDA_CHECK_H */
