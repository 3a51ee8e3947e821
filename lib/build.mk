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
