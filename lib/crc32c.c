// SPDX-License-Identifier: MIT
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82f63b78), as iSCSI and ext4
 * use it. The SSE4.2 crc32 instruction takes 8 bytes per cycle but has a
 * latency of 3: one dependent chain runs at a third of that, so buffers of
 * 12 KiB and more are cut into three 4 KiB lanes computed at once and
 * combined by "appending zeros" through precomputed tables, as Linux's
 * crc32c-intel does. The slicing-by-8 table is the portable fallback and
 * the reference the tests compare against.
 */
#include <endian.h>
#include <stdint.h>
#include <string.h>

#include "vgpu/crc32c_gf.h"
#include "vgpu/proto.h"

#define CRC32C_POLY 0x82f63b78u

#define LANE	4096	/* bytes per lane of the 3-way hardware CRC */

static uint32_t crc_table[8][256];
static int have_hw;	/* CPU has the SSE4.2 crc32 instruction */
/* shift_tab[s][k][v]: the raw CRC register v << 8k after (s + 1) * LANE zero bytes */
static uint32_t shift_tab[2][4][256];
static struct vgpu_gf_x2n x2n;	/* x^(2^k) mod P, for combining */

static uint32_t zeros_slow(uint32_t c, size_t n)
{
	while (n--)
		c = (c >> 8) ^ crc_table[0][c & 0xff];
	return c;
}

/* The register @c followed by (s + 1) * LANE zero bytes: CRC is linear. */
static uint32_t shift(uint32_t c, int s)
{
	return shift_tab[s][0][c & 0xff] ^ shift_tab[s][1][(c >> 8) & 0xff] ^
	       shift_tab[s][2][(c >> 16) & 0xff] ^ shift_tab[s][3][c >> 24];
}

static void __attribute__((constructor)) crc32c_init_table(void)
{
	for (unsigned int i = 0; i < 256; i++) {
		uint32_t c = i;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY & -(c & 1));
		crc_table[0][i] = c;
	}
#if defined(__x86_64__)
	have_hw = __builtin_cpu_supports("sse4.2");
#endif
	vgpu_gf_x2n_init(&x2n);
	for (unsigned int i = 0; i < 256; i++)
		for (int t = 1; t < 8; t++)
			crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^
					  crc_table[0][crc_table[t - 1][i] & 0xff];
	/* 32 basis images per shift (~0.3 ms once), then byte tables from them. */
	uint32_t basis[2][32];

	for (int b = 0; b < 32; b++) {
		basis[0][b] = zeros_slow(1u << b, LANE);
		basis[1][b] = zeros_slow(basis[0][b], LANE);
	}
	for (int sh = 0; sh < 2; sh++)
		for (int k = 0; k < 4; k++)
			for (unsigned int v = 0; v < 256; v++) {
				uint32_t x = 0;

				for (int j = 0; j < 8; j++)
					if (v & (1u << j))
						x ^= basis[sh][8 * k + j];
				shift_tab[sh][k][v] = x;
			}
}

static uint32_t crc32c_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len && ((uintptr_t)p & 7)) {
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		w = le64toh(w) ^ crc;
		crc = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
		      crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
		      crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
		      crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p, size_t len)
{
	uint64_t c = crc;

	while (len && ((uintptr_t)p & 7)) {
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t w;

		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, le64toh(w));
		p += 8;
		len -= 8;
	}
	while (len--)
		c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
	return (uint32_t)c;
}

/* Three independent chains over consecutive lanes, then combined. */
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw3(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len >= 3 * LANE) {
		uint64_t a = crc, b = 0, c = 0;

		for (size_t i = 0; i < LANE; i += 8) {
			uint64_t wa, wb, wc;

			memcpy(&wa, p + i, 8);
			memcpy(&wb, p + LANE + i, 8);
			memcpy(&wc, p + 2 * LANE + i, 8);
			a = __builtin_ia32_crc32di(a, le64toh(wa));
			b = __builtin_ia32_crc32di(b, le64toh(wb));
			c = __builtin_ia32_crc32di(c, le64toh(wc));
		}
		crc = shift((uint32_t)a, 1) ^ shift((uint32_t)b, 0) ^ (uint32_t)c;
		p += 3 * LANE;
		len -= 3 * LANE;
	}
	return crc32c_hw(crc, p, len);
}
#endif

/* Exposed for the tests: the table implementation, whatever the CPU has. */
uint32_t vgpu_crc32c_sw(uint32_t crc, const void *buf, size_t len);

uint32_t vgpu_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
	return ~crc32c_sw(~crc, buf, len);
}

uint32_t vgpu_crc32c(uint32_t crc, const void *buf, size_t len)
{
#if defined(__x86_64__)
	if (have_hw)
		return ~crc32c_hw3(~crc, buf, len);
#endif
	return ~crc32c_sw(~crc, buf, len);
}

/*
 * crc32c(A || B) from crc1 = crc32c(A) and crc2 = crc32c(B): the inversions
 * cancel (include/vgpu/crc32c_gf.h), leaving crc1 * x^(8|B|) ^ crc2.
 */
uint32_t vgpu_crc32c_combine(uint32_t crc1, uint32_t crc2, uint64_t len2)
{
	return vgpu_gf_mul(crc1, vgpu_gf_x8n(len2, &x2n)) ^ crc2;
}
