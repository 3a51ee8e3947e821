# Guest programs: vgpu-agent (static: the test initramfs has only busybox)
# and vgpu-lspci (libpci; Debian ships no libpci.a, so it is linked
# dynamically and tests/vm/mkinitramfs -b copies its libraries). Their
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

$(GUEST_O)/vgpu-agent: $(GUEST_O)/guest-agent/vgpu-agent.o $(GUEST_LIBVGPU)
	$(CC) $(GUEST_CFLAGS) -static -pthread -o $@ $^ $(LIBVGPU_LDLIBS)

$(GUEST_O)/vgpu-lspci: $(GUEST_O)/guest-agent/vgpu-lspci.o $(GUEST_LIBVGPU)
	$(CC) $(GUEST_CFLAGS) -o $@ $^ -lpci $(LIBVGPU_LDLIBS)

GUEST_BINS := $(GUEST_O)/vgpu-agent $(GUEST_O)/vgpu-lspci
BINS += $(GUEST_BINS)
INSTALL_BINS += $(GUEST_BINS)

-include $(shell find $(GUEST_O) -name '*.d' 2>/dev/null)
