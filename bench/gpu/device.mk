# Standalone build of the CUDA backend, its test and its bench, for a GPU
# machine that may lack the -dev packages the rest of the tree needs
# (bench/gpu/run-on-device.sh uses it). Flags as in the top-level Makefile.
O	?= build
SAN	?= 0
CC	?= cc
CFLAGS	?= -O2 -g
WFLAGS	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wformat=2 -Wno-format-nonliteral -Wvla
CPPFLAGS_ALL := -Iinclude -Ilib -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(CPPFLAGS)
CFLAGS_ALL := -std=gnu11 $(WFLAGS) $(CFLAGS) -pthread -MMD -MP
LDFLAGS_ALL := -pthread $(LDFLAGS)
LDLIBS_ALL :=
BINS :=
all: binaries
LIB_OBJS := $(patsubst %.c,$(O)/%.o,lib/proto.c lib/crc32c.c lib/job.c lib/spool.c lib/log.c)	# what the backend needs
LIBVGPU  := $(O)/libvgpu.a
$(LIBVGPU): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^
include cuda/build.mk
include tests/gpu/build.mk
include bench/gpu/build.mk
binaries: $(BINS) $(BACKEND_OBJS)
$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c -o $@ $<
RESULTS	?= $(abspath build/results)
KTAP_RUN := tests/ktap-run
.PHONY: all binaries
-include $(shell find $(O) -name '*.d' 2>/dev/null)
