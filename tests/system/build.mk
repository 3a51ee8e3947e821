# System tests and the demo: VMs as in production, each mounting its own
# NFSv4 export from a private nfs-ganesha on the host, sharing the host's
# vgpu-mediator (see Documentation/testing.rst, "System tests").
#
#   make check-system   the system suite (needs `make qemu` done or doable)
#   make system-initrd  build/guest/system-initrd.gz only
#   make demo           the real three-VM demo (tools/vgpu-demo)
#   make demo-sim       the simulated one (tools/vgpu-demo-sim)
SYSTEM_INITRD := $(GUEST_O)/system-initrd.gz
SYSTEM_LOAD   := $(GUEST_O)/tests/system/vgpu-load
SYSTEM_DEPS_STAMP := build/.system-deps-ok

$(SYSTEM_DEPS_STAMP): tools/install-deps
	@tools/install-deps system
	@mkdir -p $(dir $@) && touch $@

$(SYSTEM_LOAD): $(GUEST_O)/tests/system/vgpu_load.o $(GUEST_O)/tests/lib/testlib.o \
		$(GUEST_LIBVGPU)
	$(CC) $(GUEST_CFLAGS) -static -pthread -o $@ $^ -lm

$(SYSTEM_INITRD): $(SYSTEM_LOAD) $(GUEST_BINS) $(KMOD_KO) $(GUEST_CUDART_TEST) \
		tests/system/mkinitrd tests/system/guest-init tests/vm/mkinitramfs
	tests/system/mkinitrd $@ $(KMOD_KO) $(GUEST_O) \
		$(if $(GUEST_CUDART_TEST),$(CUDART_SO) $(LIBVGPU_SO))

system-initrd: $(SYSTEM_INITRD)

SYSTEM_TESTS := tests/system/sys-nfs-one tests/system/sys-three-vms \
		tests/system/sys-restarts tests/system/sys-garbage

check-system: $(SYSTEM_INITRD) binaries qemu | $(SYSTEM_DEPS_STAMP)
	@$(KTAP_RUN) -s system -r $(RESULTS) -t 600 $(SYSTEM_TESTS)

demo-real: $(SYSTEM_INITRD) binaries qemu | $(SYSTEM_DEPS_STAMP)
	@tools/vgpu-demo $(O)

demo-sim: binaries
	@tools/vgpu-demo-sim $(O)

EXTRA_CHECK_SUITES += check-system

.PHONY: system-initrd check-system demo-real demo-sim
.SECONDARY: $(GUEST_O)/tests/system/vgpu_load.o
