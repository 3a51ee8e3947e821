# bench/gpu: GPU measurements that need no mediator (bench/gpu/run-on-device.sh
# runs them all on a GPU machine). Built only with the CUDA backend.
ifeq ($(HAVE_CUDA),1)
GPU_BENCH := $(O)/bench/gpu/vgpu-cuda-bench

$(O)/bench/gpu/cuda_bench.o: bench/gpu/cuda_bench.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(CPPFLAGS_ALL) $(NVCCFLAGS_ALL) -c -o $@ $<

$(GPU_BENCH): $(O)/bench/gpu/cuda_bench.o $(BACKEND_OBJS) $(LIBVGPU)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(BACKEND_LDLIBS) $(LDLIBS_ALL)

BINS += $(GPU_BENCH)
endif
