# Command-line programs built on lib/: vgpu-submit (the host client).
$(O)/vgpu-submit: $(O)/tools/vgpu-submit.o $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

BINS += $(O)/vgpu-submit

# Shell tests of the programs' command lines find them in $(VGPU_O).
export VGPU_O := $(abspath $(O))
HOST_TESTS += tests/tools/submit-cli tests/tools/mediator-notify
