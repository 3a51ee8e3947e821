# libvgpu.a: the protocol library (codec, CRC32C, op table, job I/O, client,
# logging) that every userspace part links.
LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/%.o)
LIBVGPU  := $(O)/libvgpu.a

$(LIBVGPU): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^
