# The objects of vgpu-mediator and vgpuctl, for dom0-mediator/build.mk and
# bench/gpu/device.mk (the GPU machine's standalone build).
MEDIATOR_OBJS := $(addprefix $(O)/dom0-mediator/,main.o config.o vm.o accept.o respond.o \
		 queue.o sched.o exec.o mps.o ctl.o snap.o stats.o metrics.o)
VGPUCTL_OBJS  := $(O)/dom0-mediator/vgpuctl.o
