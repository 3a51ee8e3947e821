# Backends: the CPU reference. BACKEND_OBJS and BACKEND_LDLIBS are what a
# program that runs jobs links; BACKEND_LINK is its linker driver.
BACKEND_OBJS   := $(O)/cuda/backend_cpu.o $(O)/cuda/cpu_ops.o
BACKEND_LDLIBS := -lm
BACKEND_LINK   = $(CC) $(CFLAGS_ALL)
