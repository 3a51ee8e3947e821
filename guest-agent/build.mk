# Guest programs: vgpu-agent (static: the test initramfs has only busybox),
# vgpu-lspci (libpci; Debian ships no libpci.a, so it is linked
# dynamically and tests/vm/mkinitramfs -b copies its libraries) and
# vgpu-smi (dynamic as well). Their
# objects live in their own tree, $(GUEST_O), built without sanitizers.
GUEST_O	     := build/guest
GUEST_CFLAGS := $(filter-out -fsanitize% -fno-sanitize% -fno-omit-frame-pointer,$(CFLAGS_ALL))
GUEST_CPPFLAGS := $(filter-out -Idom0-lib,$(CPPFLAGS_ALL))
GUEST_LIBVGPU := $(GUEST_O)/libvgpu.a

$(GUEST_O)/%.o: %.c | $(DEPS_STAMP) $(GUEST_DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(GUEST_CPPFLAGS) $(GUEST_CFLAGS) -c -o $@ $<

$(GUEST_LIBVGPU): $(LIB_SRCS:%.c=$(GUEST_O)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

# AGENT_STATIC= links it dynamically (debian/rules: a package has libc).
AGENT_STATIC ?= -static
$(GUEST_O)/vgpu-agent: $(GUEST_O)/guest-agent/vgpu-agent.o $(GUEST_LIBVGPU)
	$(CC) $(GUEST_CFLAGS) $(AGENT_STATIC) -pthread $(LDFLAGS) -o $@ $^ $(LIBVGPU_LDLIBS)

$(GUEST_O)/vgpu-lspci: $(GUEST_O)/guest-agent/vgpu-lspci.o $(GUEST_LIBVGPU)
	$(CC) $(GUEST_CFLAGS) $(LDFLAGS) -o $@ $^ -lpci $(LIBVGPU_LDLIBS)

# The guest CUDA runtime, libcudart.so.13 (cudart/build.mk builds it at
# this path): installed with the guest's programs (tools/install.mk) and
# run in the guest tests (tests/guest/build.mk) where the tree has it;
# VGPU_CUDART=0 leaves it out of both.
VGPU_CUDART	?= $(if $(wildcard cudart/build.mk),1,0)
CUDART_SO	?= $(O)/cudart/libcudart.so.13

# vgpu-smi: libvgpu's public API, from the archive like the others.
$(GUEST_O)/vgpu-smi: $(GUEST_O)/guest-agent/vgpu-smi.o $(GUEST_LIBVGPU)
	$(CC) $(GUEST_CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBVGPU_LDLIBS)

GUEST_BINS := $(GUEST_O)/vgpu-agent $(GUEST_O)/vgpu-lspci $(GUEST_O)/vgpu-smi
BINS += $(GUEST_BINS)
HOST_TESTS += tests/tools/agent-cli

# vgpu-smi against a mediator and its executors over a spool (host suite;
# the program itself is the guest's, unsanitized, in $(GUEST_O)).
$(O)/tests/integration/test_vgpu_smi.o: TEST_CFLAGS += \
	-DVGPU_SMI='"$(abspath $(GUEST_O))/vgpu-smi"'
$(O)/tests/integration/test_vgpu_smi: $(O)/tests/integration/test_vgpu_smi.o \
		$(O)/tests/lib/testlib.o $(LIBVGPU) | $(O)/vgpu-executor $(GUEST_O)/vgpu-smi
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
HOST_TESTS += $(O)/tests/integration/test_vgpu_smi

-include $(shell find $(GUEST_O) -name '*.d' 2>/dev/null)
