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

# vgpu-executor's CUDA backend driven through its socket (executor_test.c),
# with kernels built here as a guest would send them: PTX and an sm_90 cubin.
ifeq ($(HAVE_CUDA),1)
EXEC_GPU_TEST := $(O)/tests/gpu/vgpu-executor-test
EXEC_GPU_KERNELS := $(O)/tests/gpu/session_kernels.ptx $(O)/tests/gpu/session_kernels.cubin

$(O)/tests/gpu/session_kernels.ptx: tests/gpu/session_kernels.cu
	@mkdir -p $(dir $@)
	$(NVCC) -ptx -arch=compute_90 -o $@ $<
$(O)/tests/gpu/session_kernels.cubin: tests/gpu/session_kernels.cu
	@mkdir -p $(dir $@)
	$(NVCC) -cubin -arch=sm_90 -o $@ $<

$(O)/tests/gpu/executor_test.o: CPPFLAGS_ALL += -DKERNELS_DIR='"$(abspath $(O))/tests/gpu"'
$(O)/tests/gpu/executor_test.o: TEST_CFLAGS += -DVGPU_EXECUTOR_DEFAULT='"$(abspath $(O))/vgpu-executor"'
$(EXEC_GPU_TEST): $(O)/tests/gpu/executor_test.o $(LIBVGPU_DOM0) $(LIBVGPU) | $(EXEC_GPU_KERNELS) \
		$(O)/vgpu-executor
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

BINS += $(EXEC_GPU_TEST)
check-gpu: $(EXEC_GPU_TEST)
check-gpu: GPU_TEST += $(EXEC_GPU_TEST)

# Session jobs through vgpu-mediator (backend = cuda) and its executors
# (sessions_test.c, issue 13), with the kernels of sessions_kernels.cu as
# PTX and an sm_90 cubin; it finds the mediator beside the tests and skips
# without it.
SESS_GPU_TEST := $(O)/tests/gpu/vgpu-sessions-test
SESS_GPU_KERNELS := $(O)/tests/gpu/sessions_kernels.ptx $(O)/tests/gpu/sessions_kernels.cubin

$(O)/tests/gpu/sessions_kernels.ptx: tests/gpu/sessions_kernels.cu
	@mkdir -p $(dir $@)
	$(NVCC) -ptx -arch=compute_90 -o $@ $<
$(O)/tests/gpu/sessions_kernels.cubin: tests/gpu/sessions_kernels.cu
	@mkdir -p $(dir $@)
	$(NVCC) -cubin -arch=sm_90 -o $@ $<

$(O)/tests/gpu/sessions_test.o: CPPFLAGS_ALL += -DKERNELS_DIR='"$(abspath $(O))/tests/gpu"'
$(SESS_GPU_TEST): $(O)/tests/gpu/sessions_test.o $(O)/tests/lib/sessclient.o \
		$(O)/tests/lib/testlib.o $(LIBVGPU) | $(SESS_GPU_KERNELS) $(O)/vgpu-executor
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

BINS += $(SESS_GPU_TEST)
check-gpu: $(SESS_GPU_TEST)
check-gpu: GPU_TEST += $(SESS_GPU_TEST)
endif
