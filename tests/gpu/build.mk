# tests/gpu: the CUDA backend against the CPU reference (needs a GPU; every
# test is a SKIP without one, or when built without nvcc).
GPU_TEST := $(O)/tests/gpu/vgpu-cuda-test

# vgpu_cuda.h: what the CUDA backend tells its tests beyond backend.h
$(O)/tests/gpu/cuda_test.o: TEST_CFLAGS += -Icuda

$(GPU_TEST): $(O)/tests/gpu/cuda_test.o $(BACKEND_OBJS) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(BACKEND_LDLIBS) $(LDLIBS_ALL)

BINS += $(GPU_TEST)
EXTRA_CHECK_SUITES += check-gpu

check-gpu: $(GPU_TEST)
	@$(KTAP_RUN) -s gpu -r $(RESULTS) $(GPU_TEST)

.PHONY: check-gpu
