# Backends: the CPU reference (always) and, when nvcc is found and this is
# not the sanitizer build, the CUDA backend. BACKEND_OBJS and BACKEND_LDLIBS
# are what a program that runs jobs links, with $(LIBVGPU_DOM0) (job I/O)
# and $(LIBVGPU) after them.
#
#   VGPU_CUDA=0          never build the CUDA backend
#   NVCC=/path/to/nvcc   default: /usr/local/cuda/bin/nvcc, else nvcc on PATH
#
# The CUDA objects link the static CUDA runtime, which loads the GPU driver
# (libcuda) at run time: a binary built here starts on a host without the
# driver and uses the CPU backend (vgpu_backend_cuda.probe() fails). cuBLAS
# is a shared library found through an rpath into the toolkit.
BACKEND_OBJS   := $(O)/cuda/backend_cpu.o
BACKEND_LDLIBS := -lm
# The linker driver for programs with BACKEND_OBJS (g++ once CUDA objects are in).
BACKEND_LINK   = $(CC) $(CFLAGS_ALL)

VGPU_CUDA ?= 1
NVCC ?= $(firstword $(wildcard /usr/local/cuda/bin/nvcc) nvcc)
HAVE_CUDA := 0
ifeq ($(SAN),0)
ifneq ($(VGPU_CUDA),0)
NVCC_PATH := $(shell command -v $(NVCC) 2>/dev/null)
ifneq ($(NVCC_PATH),)
HAVE_CUDA := 1
endif
endif
endif

ifeq ($(HAVE_CUDA),1)
CUDA_HOME   ?= $(abspath $(dir $(realpath $(NVCC_PATH)))..)
CUDA_LIBDIR ?= $(CUDA_HOME)/lib64
CUDA_OBJS   := $(O)/cuda/backend_cuda.o $(O)/cuda/kernels.o $(O)/cuda/cuda_check.o
BACKEND_OBJS += $(CUDA_OBJS)
BACKEND_LDLIBS += -L$(CUDA_LIBDIR) -Wl,-rpath,$(CUDA_LIBDIR) -lcublas -lcudart_static \
		  -lstdc++ -ldl -lrt
CPPFLAGS_ALL += -DVGPU_HAVE_CUDA

# sm_90 machine code for the H100 plus compute_90 PTX for later GPUs.
NVCC_GENCODE ?= -gencode arch=compute_90,code=[sm_90,compute_90]
NVCCFLAGS    ?= -O2 -g
NVCCFLAGS_ALL := -std=c++20 $(NVCC_GENCODE) -Werror all-warnings \
		 -Xcompiler -Wall,-Wextra,-Werror,-Wshadow,-pthread $(NVCCFLAGS) -MMD -MP

$(O)/cuda/%.o: cuda/%.cu
	@mkdir -p $(dir $@)
	$(NVCC) $(CPPFLAGS_ALL) $(NVCCFLAGS_ALL) -c -o $@ $<
endif
