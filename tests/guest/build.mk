# Guest tests (make check-vm): vgpu.ko, vgpu-agent, vgpu-smi and the
# kselftest programs in a busybox initramfs, booted in the patched QEMU by
# tests/vm/boot-guest; see Documentation/guest-driver.rst, "Tests". Where
# the tree has the guest CUDA runtime (VGPU_CUDART, guest-agent/build.mk)
# the image carries it and test_cudart for tests/guest/vm-cudart.
#
#   make check-vm     both guest suites (needs `make qemu` done or doable)
#   make guest-initrd build/guest/initrd.gz only
GUEST_TEST_CFLAGS := -isystem $(KSFT_DIR) -Itests/lib -Itests/guest -Wno-missing-prototypes
GUEST_TESTS := $(GUEST_O)/tests/guest/test_vgpu_dev $(GUEST_O)/tests/guest/test_vgpu_e2e
GUEST_INITRD := $(GUEST_O)/initrd.gz

$(GUEST_O)/tests/%.o: tests/%.c $(KSFT_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CPPFLAGS) $(GUEST_CFLAGS) $(GUEST_TEST_CFLAGS) -c -o $@ $<

$(GUEST_O)/tests/guest/test_%: $(GUEST_O)/tests/guest/test_%.o $(GUEST_O)/tests/lib/testlib.o \
		$(GUEST_LIBVGPU)
	$(CC) $(GUEST_CFLAGS) -static -pthread -o $@ $^ -lm

# test_cudart: C against the runtime's ABI header, linked as nvcc -cudart
# shared links a program (no nvcc needed); no libvgpu.a of its own, since
# the runtime brings libvgpu.so.1.
ifeq ($(VGPU_CUDART),1)
GUEST_CUDART_TEST := $(GUEST_O)/tests/guest/test_cudart
$(GUEST_CUDART_TEST).o: GUEST_TEST_CFLAGS += -Icudart
$(GUEST_CUDART_TEST): $(GUEST_CUDART_TEST).o $(CUDART_SO) $(LIBVGPU_SO)
	$(CC) $(GUEST_CFLAGS) -o $@ $< -L$(dir $(CUDART_SO)) -l:$(notdir $(CUDART_SO)) \
		-Wl,-rpath-link,$(abspath $(O))
endif

$(GUEST_INITRD): $(GUEST_TESTS) $(GUEST_BINS) $(KMOD_KO) $(GUEST_CUDART_TEST) \
		tests/guest/mkinitrd tests/guest/guest-init tests/vm/mkinitramfs
	tests/guest/mkinitrd $@ $(KMOD_KO) $(GUEST_O) \
		$(if $(GUEST_CUDART_TEST),$(CUDART_SO) $(LIBVGPU_SO))

guest-initrd: $(GUEST_INITRD)

check-vm: $(GUEST_INITRD) binaries qemu
	@$(KTAP_RUN) -s vm -r $(RESULTS) -t 900 tests/guest/vm-dev tests/guest/vm-e2e \
		tests/guest/vm-cudart

EXTRA_CHECK_SUITES += check-vm

.PHONY: guest-initrd check-vm
.SECONDARY: $(GUEST_O)/tests/lib/testlib.o $(GUEST_TESTS:%=%.o) $(GUEST_CUDART_TEST:%=%.o)
