# vgpu-mediator (the Dom0 daemon) and vgpuctl (its status tool).
include dom0-mediator/objs.mk

$(O)/vgpu-mediator: $(MEDIATOR_OBJS) $(BACKEND_OBJS) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(BACKEND_LINK) $(LDFLAGS_ALL) -o $@ $^ -linih $(BACKEND_LDLIBS)

$(O)/vgpuctl: $(VGPUCTL_OBJS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^

BINS += $(O)/vgpu-mediator $(O)/vgpuctl
INSTALL_BINS += $(O)/vgpu-mediator $(O)/vgpuctl
