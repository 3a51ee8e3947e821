// SPDX-License-Identifier: MIT
/*
 * Kernels that tests/gpu/executor_test loads into vgpu-executor as a guest
 * would: built to PTX and to a cubin (tests/gpu/build.mk), read by the
 * test at run time. extern "C": unmangled names.
 */
#include <cstdio>

struct fill_args {		/* a struct parameter with a pointer inside */
	float *out;
	int n;
	double scale;
};

struct big_args {		/* a parameter block near CUDA 12.1's 32,764-byte limit */
	int v[8000];
};

extern "C" __global__ void axpy(float a, const float *x, float *y, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		y[i] = a * x[i] + y[i];
}

extern "C" __global__ void fill(fill_args p)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < p.n)
		p.out[i] = (float)(p.scale * i);
}

extern "C" __global__ void sum_big(big_args b, int *out)
{
	int s = 0;

	for (int i = 0; i < 8000; i++)
		s += b.v[i];
	*out = s;
}

extern "C" __global__ void hello(int v)
{
	printf("hello from the device %d\n", v);
}

extern "C" __global__ void coop_blocks(int *out)
{
	if (threadIdx.x == 0)
		atomicAdd(out, 1);
}

extern "C" __global__ void bad_address(int *p)
{
	*(volatile int *)((char *)p + (1ull << 40)) = 1;	/* far past any allocation */
}
