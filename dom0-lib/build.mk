# libvgpu-dom0.a: the Dom0-only part of the library, streamed job I/O and
# the I/O team that splits it between threads. Links before $(LIBVGPU).
# The guest build does not see its headers (GUEST_CPPFLAGS drops -Idom0-lib).
DOM0LIB_SRCS := $(wildcard dom0-lib/*.c)
LIBVGPU_DOM0 := $(O)/libvgpu-dom0.a

$(LIBVGPU_DOM0): $(DOM0LIB_SRCS:%.c=$(O)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^
