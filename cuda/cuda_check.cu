// SPDX-License-Identifier: MIT
/*
 * The error record behind VGPU_CUDA_CHECK (cuda_check.h).
 */
#include <stdio.h>
#include <string.h>

#include "cuda_check.h"

static thread_local struct vgpu_cuda_err last_err;
static CUresult (*drv_error_name)(CUresult, const char **);

const struct vgpu_cuda_err *vgpu_cuda_last_err(void)
{
	return &last_err;
}

void vgpu_cuda_clear_err(void)
{
	memset(&last_err, 0, sizeof(last_err));
}

void vgpu_cuda_set_driver_error_name(CUresult (*fn)(CUresult, const char **))
{
	drv_error_name = fn;
}

void vgpu_cuda_record(const char *name, int code, bool sticky, const char *call,
		      const char *file, int line)
{
	last_err.call = call;
	last_err.file = file;
	last_err.line = line;
	last_err.name = name ? name : "unknown error";
	last_err.code = code;
	last_err.sticky = sticky;
	fprintf(stderr, "vgpu cuda: %s:%d: %s: %s (%d)%s\n", file, line, call,
		last_err.name, code, sticky ? ", context lost" : "");
}

CUresult vgpu_cuda_check(CUresult e, const char *call, const char *file, int line)
{
	const char *name = NULL;

	if (e == CUDA_SUCCESS)
		return e;
	if (drv_error_name)
		drv_error_name(e, &name);
	vgpu_cuda_record(name ? name : "CUresult", (int)e,
			 e == CUDA_ERROR_ILLEGAL_ADDRESS || e == CUDA_ERROR_LAUNCH_FAILED,
			 call, file, line);
	return e;
}

void vgpu_cuda_err_msg(char *msg, unsigned int len)
{
	const char *call = last_err.call ? last_err.call : "?";
	const char *file = last_err.file ? strrchr(last_err.file, '/') : NULL;
	int fn_len = (int)strcspn(call, "(<");

	file = file ? file + 1 : (last_err.file ? last_err.file : "?");
	snprintf(msg, len, "%.*s: %s (%s:%d)", fn_len, call,
		 last_err.name ? last_err.name : "error", file, last_err.line);
}
