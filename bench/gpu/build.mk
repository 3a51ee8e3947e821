# bench/gpu: GPU measurements (bench/gpu/run-on-device.sh runs them all on a
# GPU machine). vgpu-cuda-bench needs the CUDA backend; vgpu-spool-probe, a
# one-at-a-time spool client for bench/gpu/mediator-bench.sh, does not.
SPOOL_PROBE := $(O)/bench/gpu/vgpu-spool-probe

$(SPOOL_PROBE): $(O)/bench/gpu/spool_probe.o $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

BINS += $(SPOOL_PROBE)

ifeq ($(HAVE_CUDA),1)
GPU_BENCH := $(O)/bench/gpu/vgpu-cuda-bench

$(O)/bench/gpu/cuda_bench.o: bench/gpu/cuda_bench.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(CPPFLAGS_ALL) $(NVCCFLAGS_ALL) -c -o $@ $<

$(GPU_BENCH): $(O)/bench/gpu/cuda_bench.o $(BACKEND_OBJS) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(BACKEND_LDLIBS) $(LDLIBS_ALL)

BINS += $(GPU_BENCH)
endif
