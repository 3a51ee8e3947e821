# vgpu-mediator (the Dom0 daemon) and vgpuctl (its status tool).
include dom0-mediator/objs.mk

# sd_notify() for Type=notify: Debian's libsystemd-dev (install-deps build).
$(O)/dom0-mediator/main.o: CPPFLAGS_ALL += -DVGPU_HAVE_LIBSYSTEMD
# /metrics: Debian's libmicrohttpd-dev (tools/install-deps build).
$(O)/dom0-mediator/metrics.o: CPPFLAGS_ALL += -DVGPU_HAVE_MHD

$(O)/vgpu-mediator: $(MEDIATOR_OBJS) $(BACKEND_OBJS) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(BACKEND_LINK) $(LDFLAGS_ALL) -o $@ $^ -linih -lsystemd -lmicrohttpd -ldl $(BACKEND_LDLIBS)

$(O)/vgpuctl: $(VGPUCTL_OBJS)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^

BINS += $(O)/vgpu-mediator $(O)/vgpuctl
