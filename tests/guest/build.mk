# Guest tests (make check-vm): vgpu.ko, vgpu-agent and the kselftest
# programs in a busybox initramfs, booted in the patched QEMU by
# tests/vm/boot-guest; see Documentation/guest-driver.rst, "Tests".
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

$(GUEST_INITRD): $(GUEST_TESTS) $(GUEST_BINS) $(KMOD_KO) tests/guest/mkinitrd \
		tests/guest/guest-init tests/vm/mkinitramfs
	tests/guest/mkinitrd $@ $(KMOD_KO) $(GUEST_O)

guest-initrd: $(GUEST_INITRD)

check-vm: $(GUEST_INITRD) binaries qemu
	@$(KTAP_RUN) -s vm -r $(RESULTS) -t 900 tests/guest/vm-dev tests/guest/vm-e2e

EXTRA_CHECK_SUITES += check-vm

.PHONY: guest-initrd check-vm
.SECONDARY: $(GUEST_O)/tests/lib/testlib.o $(GUEST_TESTS:%=%.o)
