# SPDX-License-Identifier: MIT
#
# The patched QEMU (qemu-patches/build-qemu; built in $(VGPU_CACHE), by
# default /var/cache/vgpu, never in the tree) and its tests.
#
#   make qemu          build qemu-system-x86_64, or reuse the cached one
#   make -s qemu-path  print the path of that binary
#   make check-qemu    header check, qtest, command line, guest boots, XCP-ng glue
#   make qemu-regen    regenerate the patch carrying include/uapi/misc/vgpu_regs.h

QEMU_BUILD := qemu-patches/build-qemu
QEMU_TESTS := tests/qemu/check-regs-header tests/qemu/qtest-vgpu-stub \
	      tests/qemu/cmdline tests/qemu/vm-harness tests/qemu/guest-lspci \
	      tests/qemu/xcp-ng-glue

qemu:
	@$(QEMU_BUILD)

qemu-path:
	@$(QEMU_BUILD) --path

check-qemu: qemu
	@$(KTAP_RUN) -s qemu -r $(RESULTS) $(QEMU_TESTS)

qemu-regen:
	@$(MAKE) --no-print-directory -C qemu-patches regen

EXTRA_CHECK_SUITES += check-qemu

.PHONY: qemu qemu-path check-qemu qemu-regen
