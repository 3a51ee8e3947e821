# libvgpu.a: what guest and Dom0 programs share: the protocol codec and
# checks, the op table with its CPU reference (which needs -lm), CRC32C,
# the spool, the client, logging and the event loop. Dom0-only code is
# libvgpu-dom0.a (dom0-lib/).
LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)
LIBVGPU  := $(O)/libvgpu.a
LIBVGPU_LDLIBS := -lm

$(LIBVGPU): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

# libvgpu.so.1: the public client library (include/vgpu/vgpu.h, lib/api.c)
# with the parts of lib/ it runs on, built position-independent with
# every symbol hidden but the API that lib/libvgpu.map exports. Programs
# outside the tree link it (pkg-config libvgpu); the tree's own programs
# keep linking libvgpu.a. The development link libvgpu.so is made only
# where it is installed.
LIBVGPU_SONAME  := libvgpu.so.1
LIBVGPU_SO      := $(O)/$(LIBVGPU_SONAME)
LIBVGPU_SO_SRCS := lib/api.c lib/client.c lib/spool.c lib/session.c lib/proto.c lib/ops.c \
		   lib/crc32c.c
LIBVGPU_SO_OBJS := $(LIBVGPU_SO_SRCS:%.c=$(O)/pic/%.o)

$(O)/pic/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -fPIC -fvisibility=hidden -c -o $@ $<

$(LIBVGPU_SO): $(LIBVGPU_SO_OBJS) lib/libvgpu.map
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -shared -Wl,-soname,$(LIBVGPU_SONAME) \
		-Wl,--version-script=lib/libvgpu.map -Wl,--no-undefined -o $@ \
		$(LIBVGPU_SO_OBJS) $(LIBVGPU_LDLIBS)

BINS += $(LIBVGPU_SO)

# Its ABI against the header, the map and python/vgpu.py (a shell test of
# $(VGPU_O), told how the library was built).
export VGPU_SAN := $(SAN)
HOST_TESTS += tests/tools/libvgpu-abi
