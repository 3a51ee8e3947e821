# vgpu.ko, the guest driver, built out of tree in build/kmod (sources linked
# there) against KDIR when its headers are installed (linux-headers-amd64).
#
#   make kmod            build build/kmod/vgpu.ko (also part of `make`)
#   make kmod-checkpatch checkpatch.pl --strict (from linux-source-6.1)
#   KMOD_W=1             pass W=1 to kbuild (the default)
KDIR	 ?= $(firstword $(wildcard /usr/src/linux-headers-6.1.*-amd64) \
		/lib/modules/$(shell uname -r)/build)
KMOD_DIR := build/kmod
KMOD_KO	 := $(KMOD_DIR)/vgpu.ko
KMOD_W	 ?= 1
KMOD_SRCS := kmod/vgpu.c kmod/Kbuild

# Debian packages of the guest side (headers, busybox, libpci, ...).
GUEST_DEPS_STAMP := build/.guest-deps-ok
$(GUEST_DEPS_STAMP): tools/install-deps
	@tools/install-deps guest
	@mkdir -p $(dir $@) && touch $@


$(KMOD_KO): $(KMOD_SRCS) include/uapi/misc/vgpu_regs.h include/uapi/misc/vgpu.h FORCE | $(GUEST_DEPS_STAMP)
	@mkdir -p $(KMOD_DIR)
	@for f in $(KMOD_SRCS); do ln -sfn $(abspath $$f) $(KMOD_DIR)/; done
	@# O= : kbuild reads O as its output tree; ours (build/asan...) is not one
	@$(MAKE) --no-print-directory -s -C $(KDIR) M=$(abspath $(KMOD_DIR)) O= \
		VGPU_TOP=$(abspath .) W=$(KMOD_W) modules 2>&1 | \
		grep -v 'Skipping BTF generation' >&2; test -f $@

kmod: $(KMOD_KO)

CHECKPATCH := build/ksrc/checkpatch.pl
$(CHECKPATCH): | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	tar -xJf $(KSFT_TARBALL) -C $(dir $@) --strip-components=2 \
		linux-source-6.1/scripts/checkpatch.pl linux-source-6.1/scripts/spelling.txt \
		linux-source-6.1/scripts/const_structs.checkpatch

kmod-checkpatch: $(CHECKPATCH)
	@perl $(CHECKPATCH) --no-tree --strict --quiet -f kmod/vgpu.c include/uapi/misc/vgpu.h \
		include/uapi/misc/vgpu_regs.h

ifneq ($(wildcard $(KDIR)/Makefile),)
BINS += $(KMOD_KO)
endif

FORCE:
.PHONY: kmod kmod-checkpatch FORCE
