# bench/gpu: GPU measurements (bench/gpu/run-on-device.sh runs them all on a
# GPU machine). vgpu-cuda-bench needs the CUDA backend; vgpu-spool-probe, a
# one-at-a-time spool client for bench/gpu/mediator-bench.sh, does not.
SPOOL_PROBE := $(O)/bench/gpu/vgpu-spool-probe

$(SPOOL_PROBE): $(O)/bench/gpu/spool_probe.o $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

BINS += $(SPOOL_PROBE)

# vgpu-sess-bench: issue 13's session measurements (sess_bench.c; part
# "sess" of mediator-bench.sh). Its "direct" mode needs the driver API's
# header (the driver itself is dlopen'ed); the PTX it carries is checked
# with ptxas at build time, so that a typo fails here, not on the GPU.
SESS_BENCH := $(O)/bench/gpu/vgpu-sess-bench
SESS_BENCH_LDLIBS :=
ifeq ($(HAVE_CUDA),1)
$(O)/bench/gpu/sess_bench.o: CPPFLAGS_ALL += -DVGPU_SESS_BENCH_CUDA -isystem $(CUDA_HOME)/include
SESS_BENCH_LDLIBS += -ldl
PTXAS ?= $(dir $(NVCC_PATH))ptxas
$(O)/bench/gpu/sess_kernels.ptx: $(SESS_BENCH)
	$< ptx >$@.tmp && $(PTXAS) -arch=sm_90 -o /dev/null $@.tmp && mv $@.tmp $@
BINS += $(O)/bench/gpu/sess_kernels.ptx
endif
$(SESS_BENCH): $(O)/bench/gpu/sess_bench.o $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS) $(SESS_BENCH_LDLIBS)

BINS += $(SESS_BENCH)

ifeq ($(HAVE_CUDA),1)
GPU_BENCH := $(O)/bench/gpu/vgpu-cuda-bench

$(O)/bench/gpu/cuda_bench.o: bench/gpu/cuda_bench.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(CPPFLAGS_ALL) $(NVCCFLAGS_ALL) -c -o $@ $<

$(GPU_BENCH): $(O)/bench/gpu/cuda_bench.o $(BACKEND_OBJS) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(CC) $(LDFLAGS_ALL) -o $@ $^ $(BACKEND_LDLIBS) $(LDLIBS_ALL)

BINS += $(GPU_BENCH)
endif
