# vgpu-mediator (the Dom0 daemon) and vgpuctl (its status tool).
MEDIATOR_OBJS := $(addprefix $(O)/dom0-mediator/,main.o config.o queue.o sched.o requests.o ctl.o)
VGPUCTL_OBJS  := $(O)/dom0-mediator/vgpuctl.o $(O)/dom0-mediator/config.o

$(O)/vgpu-mediator: $(MEDIATOR_OBJS) $(BACKEND_OBJS) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(BACKEND_LINK) $(LDFLAGS_ALL) -o $@ $^ -linih $(BACKEND_LDLIBS)

$(O)/vgpuctl: $(VGPUCTL_OBJS) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ -linih $(LIBVGPU_LDLIBS)

BINS += $(O)/vgpu-mediator $(O)/vgpuctl
INSTALL_BINS += $(O)/vgpu-mediator $(O)/vgpuctl
