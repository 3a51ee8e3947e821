/* SPDX-License-Identifier: (GPL-2.0-only OR MIT) */
/*
 * vgpu-stub PCI device: identifiers and BAR 0 register map.
 *
 * The single source of truth shared by the QEMU device model
 * (qemu-patches/, which carries a generated copy as
 * standard-headers/misc/vgpu_regs.h, the way QEMU carries Linux's
 * misc/pvpanic.h), the guest driver (kmod/), the guest programs and the
 * mediator (pool and priority encodings). A uapi header: it needs no
 * other header. Do not edit the copy in the QEMU patch: regenerate it
 * (make -C qemu-patches regen).
 *
 * BAR 0 is 4 KiB of memory space; every register is 32 bits wide,
 * little-endian, naturally aligned, and accessed with 32-bit loads and
 * stores. Reads of offsets that name no register return
 * VGPU_REG_UNDEFINED_VALUE; writes to them and to read-only registers are
 * ignored (and logged by QEMU as a guest error).
 */
#ifndef _UAPI_MISC_VGPU_REGS_H
#define _UAPI_MISC_VGPU_REGS_H

/* PCI identity. 0x1234 is the id QEMU's own example devices (edu) use. */
#define VGPU_PCI_VENDOR_ID		0x1234
#define VGPU_PCI_DEVICE_ID		0x7670
#define VGPU_PCI_SUBSYSTEM_VENDOR_ID	0x1234
#define VGPU_PCI_SUBSYSTEM_ID		0x0001
#define VGPU_PCI_REVISION		0x01
#define VGPU_PCI_CLASS			0x1200	/* processing accelerator */

#define VGPU_BAR0_SIZE			0x1000	/* bytes */

/* Register offsets in BAR 0. */
#define VGPU_REG_MAGIC			0x000	/* RO: VGPU_MAGIC */
#define VGPU_REG_VERSION		0x004	/* RO: register map version */
#define VGPU_REG_FEATURES		0x008	/* RO: VGPU_FEAT_* */
#define VGPU_REG_POOL_ID		0x00c	/* RO: VGPU_POOL_* */
#define VGPU_REG_PRIORITY		0x010	/* RO: VGPU_PRIO_* */
#define VGPU_REG_VM_ID			0x014	/* RO: non-zero VM id */
#define VGPU_REG_STATUS			0x018	/* RW: VGPU_STATUS_* */
#define VGPU_REG_END			0x01c	/* first offset past the map */

#define VGPU_MAGIC			0x55504756u	/* "VGPU" in LE bytes */

/* VERSION: major in bits 31:16, minor in 15:0. A new major breaks drivers. */
#define VGPU_VERSION_MAJOR_SHIFT	16
#define VGPU_VERSION_MINOR_MASK		0xffffu
#define VGPU_VERSION_MAJOR		1
#define VGPU_VERSION_MINOR		0
#define VGPU_VERSION_VALUE \
	((VGPU_VERSION_MAJOR << VGPU_VERSION_MAJOR_SHIFT) | VGPU_VERSION_MINOR)

/* FEATURES */
#define VGPU_FEAT_STATUS		(1u << 0)	/* STATUS is implemented */
#define VGPU_FEATURES_VALUE		VGPU_FEAT_STATUS

/* POOL_ID */
#define VGPU_POOL_A			0
#define VGPU_POOL_B			1
#define VGPU_NR_POOLS			2

/* PRIORITY: larger is more urgent. */
#define VGPU_PRIO_LOW			0
#define VGPU_PRIO_MEDIUM		1
#define VGPU_PRIO_HIGH			2
#define VGPU_NR_PRIOS			3

/* STATUS: written by the guest, read by Dom0 through QMP qom-get. */
#define VGPU_STATUS_DRIVER_BOUND	(1u << 0)
#define VGPU_STATUS_AGENT_ATTACHED	(1u << 1)
#define VGPU_STATUS_MASK \
	(VGPU_STATUS_DRIVER_BOUND | VGPU_STATUS_AGENT_ATTACHED)

/* Value read from offsets in BAR 0 that name no register. */
#define VGPU_REG_UNDEFINED_VALUE	0x00000000u

#endif /* _UAPI_MISC_VGPU_REGS_H */
