# vgpu.ko, the guest driver, built out of tree in build/kmod (sources linked
# there) against KDIR: by default the headers of Debian's guest kernel
# (linux-headers-amd64, never the running kernel's), which kmod/kdir finds
# when the recipe runs, after tools/install-deps has installed them: on a
# fresh machine they are not there yet when make reads this file.
#
#   make kmod            build build/kmod/vgpu.ko (also part of `make`)
#   make kmod-checkpatch checkpatch.pl --strict (from linux-source-6.1)
#   KDIR=DIR             build against another kernel's build tree
#   KMOD_W=1             pass W=1 to kbuild (the default)
KDIR	 ?=
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
	@kdir=$(or $(KDIR),$$(kmod/kdir)) || exit 1; \
	$(MAKE) --no-print-directory -s -C "$$kdir" M=$(abspath $(KMOD_DIR)) O= \
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

BINS += $(KMOD_KO)

FORCE:
.PHONY: kmod kmod-checkpatch FORCE
