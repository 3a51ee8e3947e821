# Standalone build of the CUDA backend, its test and its bench, for a GPU
# machine that may lack the -dev packages the rest of the tree needs
# (bench/gpu/run-on-device.sh uses it), with the flags of flags.mk.
#
#   INIH=DIR   a folder with libinih's ini.h and libinih.a (Debian's
#              libinih-dev, copied): also builds vgpu-mediator, linked
#              with libinih statically. vgpu-submit, vgpuctl and
#              vgpu-spool-probe need no libinih and are always built.
#              This vgpu-mediator has no /metrics (no libmicrohttpd).
include flags.mk
BINS :=
all: binaries
include lib/build.mk
include cuda/build.mk
include tests/gpu/build.mk
include bench/gpu/build.mk

# The host client, as tools/build.mk builds it.
$(O)/vgpu-submit: $(O)/tools/vgpu-submit.o $(O)/cuda/cpu_ops.o $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ -lm
BINS += $(O)/vgpu-submit

# The mediator and vgpuctl, as dom0-mediator/build.mk builds them.
include dom0-mediator/objs.mk
$(O)/vgpuctl: $(VGPUCTL_OBJS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^
BINS += $(O)/vgpuctl
ifneq ($(INIH),)
$(O)/dom0-mediator/%.o: CPPFLAGS_ALL += -I$(INIH)
$(O)/vgpu-mediator: $(MEDIATOR_OBJS) $(BACKEND_OBJS) $(LIBVGPU)
	$(BACKEND_LINK) $(LDFLAGS_ALL) -o $@ $^ $(INIH)/libinih.a -ldl $(BACKEND_LDLIBS)
BINS += $(O)/vgpu-mediator
endif

binaries: $(BINS) $(BACKEND_OBJS)
$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c -o $@ $<
RESULTS	?= $(abspath build/results)
KTAP_RUN := tests/ktap-run
.PHONY: all binaries
-include $(shell find $(O) -name '*.d' 2>/dev/null)
