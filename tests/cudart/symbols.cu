// SPDX-License-Identifier: MIT
/*
 * symbols: a module's variables (__device__ and __constant__), reached
 * from the host by their shadows, as the runtime registers them
 * (__cudaRegisterVar). A statically initialised __device__ array read back
 * with cudaMemcpyFromSymbol; cudaMemcpyToSymbol of a __constant__ table
 * and of part of a __device__ array (an offset); cudaGetSymbolAddress and
 * cudaGetSymbolSize, then plain cudaMemcpy and cudaMemset on that address;
 * a __device__ pointer set from the host to a cudaMalloc'ed buffer that a
 * kernel writes through; the Async variants on a stream; a struct
 * variable. Every value is checked. tests/cudart/check.h says what it
 * prints.
 */
#include "check.h"

#define TABLE	1024
#define COEF	64

struct pair {
	int a;
	double b;
};

__device__ int dev_init[4] = { 11, 22, 33, 44 };
__device__ float dev_table[TABLE];
__constant__ float const_coef[COEF];
__device__ unsigned int dev_counter;
__device__ int *dev_ptr;
__device__ struct pair dev_pair;

/* out[i] = table[i] * coef[i % COEF] + init[i % 4]; counts the threads */
__global__ void use_symbols(float *out)
{
	int i = blockIdx.x * blockDim.x + threadIdx.x;

	if (i < TABLE) {
		out[i] = dev_table[i] * const_coef[i % COEF] + dev_init[i % 4];
		atomicAdd(&dev_counter, 1u);
		dev_ptr[i] = i * 3 + dev_pair.a;
	}
	if (i == 0)
		dev_pair.b = dev_pair.b * 2 + 1;
}

int main(int argc, char **argv)
{
	struct test_opts o;
	struct rng r;
	static float table[TABLE], coef[COEF], out[TABLE], back[TABLE];
	int init[4], *buf, hbuf[TABLE], bad = 0;
	unsigned int counter = 0;
	struct pair p = { 0, 0 };
	float *dout, *table_addr;
	size_t size = 0;
	cudaStream_t st;

	test_init(argc, argv, "symbols", &o);
	r.s = o.seed;
	for (int i = 0; i < TABLE; i++)
		table[i] = rng_float(&r);
	for (int i = 0; i < COEF; i++)
		coef[i] = rng_float(&r);

	CHECK(cudaMemcpyFromSymbol(init, dev_init, sizeof(init)));
	if (init[0] == 11 && init[1] == 22 && init[2] == 33 && init[3] == 44)
		pass("cudaMemcpyFromSymbol: dev_init is { 11, 22, 33, 44 } as initialised");
	else
		fail("dev_init is { %d, %d, %d, %d }", init[0], init[1], init[2], init[3]);

	CHECK(cudaGetSymbolSize(&size, dev_table));
	expect(size == sizeof(table), "cudaGetSymbolSize(dev_table) is 4096");
	CHECK(cudaGetSymbolSize(&size, const_coef));
	expect(size == sizeof(coef), "cudaGetSymbolSize(const_coef) is 256");
	CHECK(cudaGetSymbolAddress((void **)&table_addr, dev_table));

	/* dev_table: the first half by symbol, the rest at an offset, a word by address */
	CHECK(cudaMemcpyToSymbol(dev_table, table, TABLE / 2 * sizeof(float)));
	CHECK(cudaMemcpyToSymbol(dev_table, table + TABLE / 2, TABLE / 2 * sizeof(float),
				 TABLE / 2 * sizeof(float)));
	CHECK(cudaMemcpyToSymbol(const_coef, coef, sizeof(coef), 0, cudaMemcpyHostToDevice));
	CHECK(cudaMemcpy(back, table_addr, sizeof(back), cudaMemcpyDeviceToHost));
	expect(!memcmp(back, table, sizeof(table)),
	       "cudaMemcpyToSymbol with an offset; read back through cudaGetSymbolAddress");

	/* a __device__ pointer to a buffer of ours, and a struct */
	CHECK(cudaMalloc(&buf, sizeof(hbuf)));
	CHECK(cudaMemset(buf, 0, sizeof(hbuf)));
	CHECK(cudaMemcpyToSymbol(dev_ptr, &buf, sizeof(buf)));
	p.a = (int)rng_below(&r, 1000);
	p.b = rng_float(&r);
	CHECK(cudaMemcpyToSymbol(dev_pair, &p, sizeof(p)));
	CHECK(cudaMemcpyToSymbol(dev_counter, &counter, sizeof(counter)));

	CHECK(cudaMalloc(&dout, sizeof(out)));
	use_symbols<<<TABLE / 256, 256>>>(dout);
	CHECK_LAUNCH();
	CHECK(cudaMemcpy(out, dout, sizeof(out), cudaMemcpyDeviceToHost));
	for (int i = 0; i < TABLE; i++)
		bad += out[i] != fmaf(table[i], coef[i % COEF], (float)init[i % 4]) &&
		       out[i] != table[i] * coef[i % COEF] + (float)init[i % 4];
	if (bad)
		fail("a kernel reading dev_table, const_coef and dev_init: %d elements differ", bad);
	else
		pass("a kernel reading dev_table, const_coef and dev_init: checksum %08x",
		     fnv1a(out, sizeof(out)));

	CHECK(cudaMemcpyFromSymbol(&counter, dev_counter, sizeof(counter)));
	if (counter == TABLE)
		pass("dev_counter counted %u threads", counter);
	else
		fail("dev_counter is %u, expected %u", counter, TABLE);
	CHECK(cudaMemcpy(hbuf, buf, sizeof(hbuf), cudaMemcpyDeviceToHost));
	bad = 0;
	for (int i = 0; i < TABLE; i++)
		bad += hbuf[i] != i * 3 + p.a;
	expect(!bad, "the kernel wrote through dev_ptr into a cudaMalloc'ed buffer");
	struct pair q;

	CHECK(cudaMemcpyFromSymbol(&q, dev_pair, sizeof(q)));
	if (q.a == p.a && q.b == p.b * 2 + 1)
		pass("dev_pair: a %d, b %.17g", q.a, q.b);
	else
		fail("dev_pair: a %d, b %.17g, expected %d, %.17g", q.a, q.b, p.a, p.b * 2 + 1);

	/* the Async variants, in order on a stream, into pinned memory */
	float *pinned;

	CHECK(cudaStreamCreate(&st));
	CHECK(cudaMallocHost(&pinned, sizeof(table)));
	for (int i = 0; i < TABLE; i++)
		pinned[i] = (float)i;
	CHECK(cudaMemcpyToSymbolAsync(dev_table, pinned, sizeof(table), 0, cudaMemcpyHostToDevice,
				      st));
	CHECK(cudaMemsetAsync(table_addr + 10, 0, 5 * sizeof(float), st));
	CHECK(cudaMemcpyFromSymbolAsync(pinned, dev_table, 20 * sizeof(float), 8 * sizeof(float),
					cudaMemcpyDeviceToHost, st));
	CHECK(cudaStreamSynchronize(st));
	bad = 0;
	for (int i = 0; i < 20; i++) {
		int j = i + 8;	/* an offset of 8 floats: element 8 */

		bad += pinned[i] != (j >= 10 && j < 15 ? 0.0f : (float)j);
	}
	for (int i = 20; i < TABLE; i++)
		bad += pinned[i] != (float)i;
	expect(!bad, "cudaMemcpyToSymbolAsync, cudaMemsetAsync by address, "
	       "cudaMemcpyFromSymbolAsync at an offset, in stream order");

	CHECK(cudaStreamDestroy(st));
	CHECK(cudaFreeHost(pinned));
	CHECK(cudaFree(buf));
	CHECK(cudaFree(dout));
	return finish();
}
