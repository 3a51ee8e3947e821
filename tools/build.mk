# Command-line programs built on lib/: vgpu-submit (the host client).
$(O)/vgpu-submit: $(O)/tools/vgpu-submit.o $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

BINS += $(O)/vgpu-submit
INSTALL_BINS += $(O)/vgpu-submit
