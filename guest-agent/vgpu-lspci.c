// SPDX-License-Identifier: MIT
/*
 * vgpu-lspci: list the vgpu-stub devices of this VM and their registers,
 * without the driver: libpci finds the devices, sysfs resource0 (mapped
 * read-only, the one way sysfs gives at a memory BAR) shows the registers.
 * An admin checks with it that Dom0 gave the VM the pool, priority and
 * vm_id it should have. Reads only; a device whose memory decoding is off
 * (no driver bound) has it switched on for the read and off again.
 *
 *   vgpu-lspci [-s DOMAIN:BUS:DEV.FN]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pci/pci.h>

#include "vgpu/proto.h"
#include <misc/vgpu_regs.h>

#define SYSFS_PCI	"/sys/bus/pci/devices"

static const struct {
	const char *name;
	unsigned int off;
} regs[] = {
	{ "MAGIC", VGPU_REG_MAGIC },
	{ "VERSION", VGPU_REG_VERSION },
	{ "FEATURES", VGPU_REG_FEATURES },
	{ "POOL_ID", VGPU_REG_POOL_ID },
	{ "PRIORITY", VGPU_REG_PRIORITY },
	{ "VM_ID", VGPU_REG_VM_ID },
	{ "STATUS", VGPU_REG_STATUS },
};

static void explain(unsigned int off, uint32_t v)
{
	switch (off) {
	case VGPU_REG_MAGIC:
		printf("%s", v == VGPU_MAGIC ? "ok" : "BAD (expected 0x55504756)");
		break;
	case VGPU_REG_VERSION:
		printf("%u.%u%s", v >> VGPU_VERSION_MAJOR_SHIFT, v & VGPU_VERSION_MINOR_MASK,
		       v >> VGPU_VERSION_MAJOR_SHIFT == VGPU_VERSION_MAJOR ? "" : " (unsupported)");
		break;
	case VGPU_REG_FEATURES:
		printf("%s", v & VGPU_FEAT_STATUS ? "status" : "-");
		break;
	case VGPU_REG_POOL_ID:
		printf("pool=%s", v < VGPU_NR_POOLS ? vgpu_pool_name(v) : "BAD");
		break;
	case VGPU_REG_PRIORITY:
		printf("priority=%s", v < VGPU_NR_PRIOS ? vgpu_prio_name(v) : "BAD");
		break;
	case VGPU_REG_VM_ID:
		printf("vm_id=%u", v);
		break;
	case VGPU_REG_STATUS:
		printf("%s%s%s", v & VGPU_STATUS_DRIVER_BOUND ? "driver-bound " : "",
		       v & VGPU_STATUS_AGENT_ATTACHED ? "agent-attached" : "",
		       v & VGPU_STATUS_MASK ? "" : "-");
		break;
	}
}

static int show(struct pci_dev *d, const char *slot)
{
	char path[256], drv[256] = "", link[256];
	volatile const uint32_t *bar;
	bool enabled = false;
	ssize_t n;
	u16 cmd;
	int fd;

	snprintf(path, sizeof(path), SYSFS_PCI "/%s/driver", slot);
	n = readlink(path, link, sizeof(link) - 1);
	if (n > 0) {
		link[n] = '\0';
		snprintf(drv, sizeof(drv), ", driver %s", strrchr(link, '/') + 1);
	}
	printf("%s vgpu-stub [%04x:%04x] rev %02x%s\n", slot, d->vendor_id, d->device_id,
	       pci_read_byte(d, PCI_REVISION_ID), *drv ? drv : ", no driver");

	snprintf(path, sizeof(path), SYSFS_PCI "/%s/resource0", slot);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "vgpu-lspci: %s: %s\n", path, strerror(errno));
		return -1;
	}
	bar = mmap(NULL, VGPU_BAR0_SIZE, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (bar == MAP_FAILED) {
		if (errno == EINVAL && *drv)
			fprintf(stderr, "vgpu-lspci: %s: BAR 0 is claimed by the driver; "
				"unbind it to read the registers, or read the driver's "
				"sysfs files (pool, priority, vm_id)\n", slot);
		else
			fprintf(stderr, "vgpu-lspci: mmap %s: %s\n", path, strerror(errno));
		return -1;
	}
	cmd = pci_read_word(d, PCI_COMMAND);
	if (!(cmd & PCI_COMMAND_MEMORY)) {
		pci_write_word(d, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY);
		enabled = true;
	}
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		uint32_t v = bar[regs[i].off / 4];

		printf("\t%-8s 0x%08x  ", regs[i].name, v);
		explain(regs[i].off, v);
		putchar('\n');
	}
	if (enabled)
		pci_write_word(d, PCI_COMMAND, cmd);
	munmap((void *)bar, VGPU_BAR0_SIZE);
	return 0;
}

int main(int argc, char **argv)
{
	const char *only = NULL;
	struct pci_access *pacc;
	struct pci_dev *d;
	int c, found = 0, bad = 0;

	while ((c = getopt(argc, argv, "s:")) != -1) {
		if (c != 's') {
			fprintf(stderr, "usage: vgpu-lspci [-s DOMAIN:BUS:DEV.FN]\n");
			return 2;
		}
		only = optarg;
	}
	pacc = pci_alloc();
	pci_init(pacc);
	pci_scan_bus(pacc);
	for (d = pacc->devices; d; d = d->next) {
		char slot[32];

		pci_fill_info(d, PCI_FILL_IDENT);
		if (d->vendor_id != VGPU_PCI_VENDOR_ID || d->device_id != VGPU_PCI_DEVICE_ID)
			continue;
		snprintf(slot, sizeof(slot), "%04x:%02x:%02x.%d", d->domain, d->bus, d->dev,
			 d->func);
		if (only && strcmp(only, slot))
			continue;
		found++;
		bad += show(d, slot) < 0;
	}
	pci_cleanup(pacc);
	if (!found) {
		fprintf(stderr, "vgpu-lspci: no vgpu-stub device (%04x:%04x)\n",
			VGPU_PCI_VENDOR_ID, VGPU_PCI_DEVICE_ID);
		return 1;
	}
	return bad ? 1 : 0;
}
