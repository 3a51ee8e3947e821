# vgpu-executor: the per-VM process that runs session command lists
# (Documentation/executor.rst). The CPU backend always; the CUDA backend
# when cuda/build.mk found nvcc and this is not a sanitizer build. The CUDA
# backend loads libcuda.so.1 at run time (dlopen): the binary starts on a
# host without the driver, where only -b cpu works.
EXEC_OBJS := $(addprefix $(O)/executor/,main.o run.o backend_cpu.o)
EXEC_LDLIBS := $(LIBVGPU_LDLIBS)
ifeq ($(HAVE_CUDA)$(wildcard executor/backend_cuda.c),1executor/backend_cuda.c)
EXEC_OBJS += $(O)/executor/backend_cuda.o
EXEC_LDLIBS += -ldl
$(O)/executor/main.o: CPPFLAGS_ALL += -DVGPU_EXECUTOR_CUDA
$(O)/executor/backend_cuda.o: CPPFLAGS_ALL += -DVGPU_EXECUTOR_CUDA -isystem $(CUDA_HOME)/include
endif

$(O)/vgpu-executor: $(EXEC_OBJS) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(EXEC_LDLIBS)

BINS += $(O)/vgpu-executor
# main.o names the backends this file builds in.
$(O)/executor/main.o: executor/build.mk
