# vgpu-mediator (the Dom0 daemon) and vgpuctl (its status tool).
MEDIATOR_OBJS := $(addprefix $(O)/dom0-mediator/,main.o config.o queue.o sched.o requests.o ctl.o)
VGPUCTL_OBJS  := $(O)/dom0-mediator/vgpuctl.o $(O)/dom0-mediator/config.o

# sd_notify() for Type=notify: Debian's libsystemd-dev (install-deps build).
$(O)/dom0-mediator/main.o: CPPFLAGS_ALL += -DVGPU_HAVE_LIBSYSTEMD

$(O)/vgpu-mediator: $(MEDIATOR_OBJS) $(BACKEND_OBJS) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(BACKEND_LINK) $(LDFLAGS_ALL) -o $@ $^ -linih -lsystemd $(BACKEND_LDLIBS)

$(O)/vgpuctl: $(VGPUCTL_OBJS) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ -linih $(LIBVGPU_LDLIBS)

BINS += $(O)/vgpu-mediator $(O)/vgpuctl
