/* SPDX-License-Identifier: MIT */
/*
 * CRC32C arithmetic in GF(2)[x] mod P, for combining CRCs of chunks that
 * were computed independently (zlib's crc32_combine, generalised). Shared by
 * the GPU's checksum kernel, libvgpu's vgpu_crc32c_combine() and the tests
 * (plain C).
 *
 * Polynomials are 32-bit words in the reflected order the CRC uses: bit 31
 * is x^0, bit 0 is x^31. With raw(r, M) the CRC register after feeding
 * message M into register r (no pre/post inversion),
 *
 *	raw(r, M) = r * x^(8|M|) ^ raw(0, M)
 *	crc32c(M) = ~raw(~0, M)
 *		  = ~(~0 * x^(8n) ^ XOR_i raw(0, M_i) * x^(8 * bytes after M_i))
 *
 * so every chunk M_i contributes one independent term: no ordering between
 * chunks, just an XOR reduction.
 */
#ifndef VGPU_CRC32C_GF_H
#define VGPU_CRC32C_GF_H

#include <stdint.h>

#ifdef __CUDACC__
#define VGPU_HD __host__ __device__
#else
#define VGPU_HD
#endif

#define VGPU_CRC32C_POLY	0x82f63b78u	/* reflected Castagnoli */
#define VGPU_GF_ONE		0x80000000u	/* x^0 */
#define VGPU_GF_X2N		64		/* x^(2^k), k < 64 */

/* x^(2^k) mod P for k < VGPU_GF_X2N: a kernel parameter (256 bytes). */
struct vgpu_gf_x2n {
	uint32_t p[VGPU_GF_X2N];
};

/* a * b mod P: 32 shift-and-add steps. */
static inline VGPU_HD uint32_t vgpu_gf_mul(uint32_t a, uint32_t b)
{
	uint32_t p = 0;

	for (int i = 0; i < 32; i++) {
		if (a & (VGPU_GF_ONE >> i))
			p ^= b;
		b = (b >> 1) ^ (VGPU_CRC32C_POLY & (0u - (b & 1)));
	}
	return p;
}

static inline void vgpu_gf_x2n_init(struct vgpu_gf_x2n *t)
{
	t->p[0] = VGPU_GF_ONE >> 1;			/* x^1 */
	for (int k = 1; k < VGPU_GF_X2N; k++)
		t->p[k] = vgpu_gf_mul(t->p[k - 1], t->p[k - 1]);
}

/* x^(8 n) mod P: one multiply per set bit of n (at most 35 for 4 GiB). */
static inline VGPU_HD uint32_t vgpu_gf_x8n(uint64_t n, const struct vgpu_gf_x2n *t)
{
	uint32_t p = VGPU_GF_ONE;

	for (int k = 3; n; n >>= 1, k++)
		if (n & 1)
			p = vgpu_gf_mul(t->p[k], p);
	return p;
}

#endif /* VGPU_CRC32C_GF_H */
