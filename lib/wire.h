/* SPDX-License-Identifier: MIT */
/*
 * Little-endian field access at byte offsets of a wire header: the codecs
 * of lib/proto.c and lib/session.c read and write bytes, never struct
 * memory. Internal to lib/. No state.
 */
#ifndef VGPU_WIRE_H
#define VGPU_WIRE_H

#include <endian.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline void put16(uint8_t *b, size_t off, uint16_t v) { v = htole16(v); memcpy(b + off, &v, 2); }
static inline void put32(uint8_t *b, size_t off, uint32_t v) { v = htole32(v); memcpy(b + off, &v, 4); }
static inline void put64(uint8_t *b, size_t off, uint64_t v) { v = htole64(v); memcpy(b + off, &v, 8); }
static inline uint16_t get16(const uint8_t *b, size_t off) { uint16_t v; memcpy(&v, b + off, 2); return le16toh(v); }
static inline uint32_t get32(const uint8_t *b, size_t off) { uint32_t v; memcpy(&v, b + off, 4); return le32toh(v); }
static inline uint64_t get64(const uint8_t *b, size_t off) { uint64_t v; memcpy(&v, b + off, 8); return le64toh(v); }

#endif /* VGPU_WIRE_H */
