# tests/cudart: CUDA programs as users write them, built the way issue 14
# promises to run them (nvcc -arch=sm_90 -cudart shared: they import
# libcudart.so.13's versioned symbols), into $(O)/tests/cudart/. Built only
# where nvcc is found (cuda/build.mk's HAVE_CUDA: never in the sanitizer
# builds). bench/gpu/cudart-run.sh runs each natively and through the
# guest runtime and compares what they print (tests/cudart/check.h);
# tests/tools/cudart-exports checks that the guest runtime exports every
# symbol they import (check-host, with or without them: it skips).
CUDART_PROG_NAMES := vector_add matmul streams templates atomics device_assert \
		     param32k coop symbols occupancy nokernel

ifeq ($(HAVE_CUDA),1)
CUDART_PROGS := $(addprefix $(O)/tests/cudart/,$(CUDART_PROG_NAMES))
# What a user would type, plus warnings as errors; no -DNDEBUG (device_assert).
CUDART_NVCCFLAGS ?= -O2 -g
CUDART_NVCCFLAGS_ALL := -arch=sm_90 -cudart shared -std=c++17 -Werror all-warnings \
			-Xcompiler -Wall,-Wextra,-Werror,-Wshadow $(CUDART_NVCCFLAGS)

$(O)/tests/cudart/%: tests/cudart/%.cu tests/cudart/check.h
	@mkdir -p $(dir $@)
	$(NVCC) $(CUDART_NVCCFLAGS_ALL) -o $@ $<

BINS += $(CUDART_PROGS)
cudart-progs: $(CUDART_PROGS)
else
cudart-progs:
	@echo "tests/cudart: nvcc not found (or a sanitizer build): nothing to build"
endif

HOST_TESTS += tests/tools/cudart-exports

.PHONY: cudart-progs
