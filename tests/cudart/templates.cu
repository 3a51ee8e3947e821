// SPDX-License-Identifier: MIT
/*
 * templates: kernels that are templates, as C++ CUDA code is written:
 * a block reduction templated on the type and the block size (int,
 * unsigned long long, double; 128 and 512 threads), a transform templated
 * on a functor, a variadic kernel whose parameters are a pack of mixed
 * types and alignments (char, short, double, a struct, a pointer), and a
 * kernel in a namespace. Each instantiation is its own mangled symbol the
 * runtime must register and launch with the right parameter layout.
 * Integer results are exact; double sums are compared with the host's in
 * the same order (a deterministic tree), so they are exact too. Bench
 * mode: 2^24 elements, the reductions 16 times. tests/cudart/check.h says
 * what it prints.
 */
#include <type_traits>

#include "check.h"

template <typename T, int BLOCK>
__global__ void block_sum(const T *in, T *out, int n)
{
	__shared__ T part[BLOCK];
	int i = blockIdx.x * BLOCK + threadIdx.x;

	part[threadIdx.x] = i < n ? in[i] : T(0);
	__syncthreads();
	for (int s = BLOCK / 2; s > 0; s /= 2) {
		if ((int)threadIdx.x < s)
			part[threadIdx.x] += part[threadIdx.x + s];
		__syncthreads();
	}
	if (threadIdx.x == 0)
		out[blockIdx.x] = part[0];
}

template <typename T>
struct axpb {
	T a, b;
	__host__ __device__ T operator()(T x) const { return a * x + b; }
};

template <typename T>
struct square_mod {
	T m;
	__host__ __device__ T operator()(T x) const { return (x * x) % m; }
};

template <typename T, typename Op>
__global__ void transform(T *x, int n, Op op)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		x[i] = op(x[i]);
}

struct odd {
	char c;
	double d;
	short s;
};

__device__ double as_double(char v) { return v; }
__device__ double as_double(short v) { return v; }
__device__ double as_double(int v) { return v; }
__device__ double as_double(double v) { return v; }
__device__ double as_double(const odd &v) { return v.c + v.d + v.s; }
__device__ double as_double(const int *p) { return *p; }

/* out[0] = the number of parameters, out[1] = their sum as doubles */
template <typename... Ts>
__global__ void pack(double *out, Ts... args)
{
	out[0] = sizeof...(Ts);
	out[1] = (0.0 + ... + as_double(args));
}

namespace vgpu_test {
namespace inner {
template <int N>
__global__ void fill_const(int *x, int n)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < n)
		x[i] = N + i % N;
}
}	/* namespace inner */
}	/* namespace vgpu_test */

/* The host's block sums in the kernel's order: a tree within each block. */
template <typename T, int BLOCK>
static void host_sum(const T *in, int n, T *blocks)
{
	T part[BLOCK];
	int nb = (n + BLOCK - 1) / BLOCK;

	for (int b = 0; b < nb; b++) {
		for (int t = 0; t < BLOCK; t++)
			part[t] = b * BLOCK + t < n ? in[b * BLOCK + t] : T(0);
		for (int s = BLOCK / 2; s > 0; s /= 2)
			for (int t = 0; t < s; t++)
				part[t] += part[t + s];
		blocks[b] = part[0];
	}
}

template <typename T, int BLOCK>
static void test_sum(const char *tname, int n, int reps, struct rng *r, float *ms)
{
	int nb = (n + BLOCK - 1) / BLOCK;
	T *in = (T *)malloc(n * sizeof(T)), *blocks = (T *)malloc(nb * sizeof(T));
	T *want = (T *)malloc(nb * sizeof(T));
	T *din, *dout;
	cudaEvent_t a, b;

	if (!in || !blocks || !want) {
		fail("malloc");
		return;
	}
	for (int i = 0; i < n; i++) {
		if (std::is_floating_point<T>::value)
			in[i] = (T)rng_float(r);
		else
			in[i] = (T)(rng_next(r) % 1000003);
	}
	CHECK(cudaMalloc(&din, n * sizeof(T)));
	CHECK(cudaMalloc(&dout, nb * sizeof(T)));
	CHECK(cudaEventCreate(&a));
	CHECK(cudaEventCreate(&b));
	CHECK(cudaMemcpy(din, in, n * sizeof(T), cudaMemcpyHostToDevice));
	CHECK(cudaEventRecord(a));
	for (int k = 0; k < reps; k++) {
		block_sum<T, BLOCK><<<nb, BLOCK>>>(din, dout, n);
		CHECK_LAUNCH();
	}
	CHECK(cudaEventRecord(b));
	CHECK(cudaMemcpy(blocks, dout, nb * sizeof(T), cudaMemcpyDeviceToHost));
	*ms += elapsed_ms(a, b);

	double total = 0, expect_total = 0;

	host_sum<T, BLOCK>(in, n, want);
	for (int i = 0; i < nb; i++) {
		total += (double)blocks[i];
		expect_total += (double)want[i];
	}
	if (!memcmp(blocks, want, nb * sizeof(T)))
		pass("block_sum<%s, %d>: %d blocks exact, checksum %08x", tname, BLOCK, nb,
		     fnv1a(blocks, nb * sizeof(T)));
	else
		fail("block_sum<%s, %d>: block sums differ (total %.17g, expected %.17g)", tname,
		     BLOCK, total, expect_total);
	CHECK(cudaEventDestroy(a));
	CHECK(cudaEventDestroy(b));
	CHECK(cudaFree(din));
	CHECK(cudaFree(dout));
	free(in);
	free(blocks);
	free(want);
}

template <typename T, typename Op>
static void test_transform(const char *what, Op op, int n, struct rng *r)
{
	T *x = (T *)malloc(n * sizeof(T)), *y = (T *)malloc(n * sizeof(T)), *dx;
	int bad = 0;

	if (!x || !y) {
		fail("malloc");
		return;
	}
	for (int i = 0; i < n; i++)
		x[i] = (T)(rng_next(r) % 65536);
	CHECK(cudaMalloc(&dx, n * sizeof(T)));
	CHECK(cudaMemcpy(dx, x, n * sizeof(T), cudaMemcpyHostToDevice));
	transform<T, Op><<<(n + 255) / 256, 256>>>(dx, n, op);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(y, dx, n * sizeof(T), cudaMemcpyDeviceToHost));
	for (int i = 0; i < n; i++)
		bad += y[i] != op(x[i]);
	if (bad)
		fail("transform<%s>: %d elements differ", what, bad);
	else
		pass("transform<%s>: %d elements exact, checksum %08x", what, n,
		     fnv1a(y, n * sizeof(T)));
	CHECK(cudaFree(dx));
	free(x);
	free(y);
}

int main(int argc, char **argv)
{
	struct test_opts o;
	struct rng r;
	float ms = 0;

	test_init(argc, argv, "templates", &o);
	r.s = o.seed;
	int n = o.bench ? 1 << 24 : 1000003, reps = o.bench ? 16 : 1;

	test_sum<int, 128>("int", n, reps, &r, &ms);
	test_sum<unsigned long long, 512>("unsigned long long", n, reps, &r, &ms);
	test_sum<double, 128>("double", n, reps, &r, &ms);
	test_sum<double, 512>("double", n, reps, &r, &ms);

	test_transform<int>("int, axpb", axpb<int>{ 3, -7 }, 100003, &r);
	test_transform<long long>("long long, axpb", axpb<long long>{ -5, 1LL << 40 }, 100003, &r);
	test_transform<unsigned int>("unsigned int, square_mod", square_mod<unsigned int>{ 65521 },
				     100003, &r);

	/* A variadic kernel: mixed sizes and alignments in one parameter block. */
	double *dout, out[2];
	int *dv, v = (int)rng_below(&r, 1000);
	char c = (char)rng_below(&r, 100);
	short s = (short)-(int)rng_below(&r, 30000);
	double d = rng_float(&r);
	struct odd od = { (char)rng_below(&r, 100), (double)rng_float(&r), (short)rng_below(&r, 999) };

	CHECK(cudaMalloc(&dout, sizeof(out)));
	CHECK(cudaMalloc(&dv, sizeof(v)));
	CHECK(cudaMemcpy(dv, &v, sizeof(v), cudaMemcpyHostToDevice));
	pack<<<1, 1>>>(dout, c, d, s, od, (const int *)dv, c, v);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(out, dout, sizeof(out), cudaMemcpyDeviceToHost));
	double want = 0.0 + c + d + s + (od.c + od.d + od.s) + v + c + v;
	if (out[0] == 7 && out[1] == want)
		pass("pack<char, double, short, odd, const int *, char, int>: sum %.17g", out[1]);
	else
		fail("pack<7 types>: %g parameters, sum %.17g, expected 7, %.17g", out[0], out[1],
		     want);
	pack<<<1, 1>>>(dout);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(out, dout, sizeof(out), cudaMemcpyDeviceToHost));
	expect(out[0] == 0 && out[1] == 0, "pack<>: no parameters but the output");

	/* A kernel in a namespace, two instantiations. */
	int *dx, hx[1000], bad = 0;

	CHECK(cudaMalloc(&dx, sizeof(hx)));
	vgpu_test::inner::fill_const<7><<<4, 256>>>(dx, 1000);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(hx, dx, sizeof(hx), cudaMemcpyDeviceToHost));
	for (int i = 0; i < 1000; i++)
		bad += hx[i] != 7 + i % 7;
	vgpu_test::inner::fill_const<1000><<<4, 256>>>(dx, 1000);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(hx, dx, sizeof(hx), cudaMemcpyDeviceToHost));
	for (int i = 0; i < 1000; i++)
		bad += hx[i] != 1000 + i;
	expect(!bad, "vgpu_test::inner::fill_const<7> and <1000>");

	CHECK(cudaFree(dout));
	CHECK(cudaFree(dv));
	CHECK(cudaFree(dx));
	time_line(&o, ms);
	return finish();
}
