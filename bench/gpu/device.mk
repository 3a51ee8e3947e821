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
include dom0-lib/build.mk
include cuda/build.mk
include executor/build.mk
include tests/gpu/build.mk
include bench/gpu/build.mk

# The host client, as tools/build.mk builds it.
$(O)/vgpu-submit: $(O)/tools/vgpu-submit.o $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
BINS += $(O)/vgpu-submit

# The mediator and vgpuctl, as dom0-mediator/build.mk builds them.
include dom0-mediator/objs.mk
$(O)/vgpuctl: $(VGPUCTL_OBJS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^
BINS += $(O)/vgpuctl
ifneq ($(INIH),)
$(O)/dom0-mediator/%.o: CPPFLAGS_ALL += -I$(INIH)
$(O)/vgpu-mediator: $(MEDIATOR_OBJS) $(BACKEND_OBJS) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(BACKEND_LINK) $(LDFLAGS_ALL) -o $@ $^ $(INIH)/libinih.a -ldl $(BACKEND_LDLIBS)
BINS += $(O)/vgpu-mediator
endif

# tests/gpu is a kselftest harness program. Its header comes from Debian's
# linux-source-6.1 (tests/build.mk extracts it into build/ksft); a GPU
# machine without that package needs build/ksft carried over.
KSFT_DIR ?= build/ksft
$(O)/tests/gpu/cuda_test.o: CPPFLAGS_ALL += -isystem $(KSFT_DIR) -Icuda
$(O)/tests/gpu/cuda_test.o: CFLAGS_ALL += -Wno-missing-prototypes
$(O)/tests/gpu/cuda_test.o: $(KSFT_DIR)/kselftest_harness.h
$(O)/tests/gpu/executor_test.o: CPPFLAGS_ALL += -isystem $(KSFT_DIR)
$(O)/tests/gpu/executor_test.o: CFLAGS_ALL += -Wno-missing-prototypes
$(O)/tests/gpu/executor_test.o: $(KSFT_DIR)/kselftest_harness.h
$(O)/tests/gpu/sessions_test.o: CPPFLAGS_ALL += -isystem $(KSFT_DIR) -Itests/lib
$(O)/tests/gpu/sessions_test.o: CFLAGS_ALL += -Wno-missing-prototypes
$(O)/tests/gpu/sessions_test.o: $(KSFT_DIR)/kselftest_harness.h
$(KSFT_DIR)/kselftest_harness.h:
	@echo "$@ missing: run 'make $@' where linux-source-6.1 is installed and carry it" >&2
	@exit 1

binaries: $(BINS) $(BACKEND_OBJS)
$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c -o $@ $<
RESULTS	?= $(abspath build/results)
KTAP_RUN := tests/ktap-run
.PHONY: all binaries
-include $(shell find $(O) -name '*.d' 2>/dev/null)
