# libcudart.so.13: the guest CUDA runtime (cudart/README). Built from C
# alone, linked against libvgpu.so.1 and nothing of NVIDIA's; every
# symbol hidden but the CUDA API, which libcudart.map exports at the
# version node NVIDIA's runtime uses. libcudart.so is the development
# link programs built here use (-lcudart).
CUDART_SONAME := libcudart.so.13
CUDART_SO     := $(O)/cudart/$(CUDART_SONAME)
CUDART_SRCS   := $(wildcard cudart/*.c)
CUDART_OBJS   := $(CUDART_SRCS:%.c=$(O)/pic/%.o)

$(CUDART_SO): $(CUDART_OBJS) $(LIBVGPU_SO) cudart/libcudart.map
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -shared -Wl,-soname,$(CUDART_SONAME) \
		-Wl,--version-script=cudart/libcudart.map -Wl,--no-undefined -o $@ \
		$(CUDART_OBJS) -L$(O) -l:$(LIBVGPU_SONAME) -Wl,-rpath,'$$ORIGIN/..'
	ln -sf $(CUDART_SONAME) $(dir $@)libcudart.so

BINS += $(CUDART_SO)

# Its ABI against NVIDIA's runtime and headers where they are installed
# (a shell test of $(VGPU_O)).
HOST_TESTS += tests/tools/cudart-abi
