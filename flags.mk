# SPDX-License-Identifier: MIT
#
# Compiler flags of every userspace build: the top-level Makefile and the
# standalone GPU-machine build (bench/gpu/device.mk) both include this, so
# that the code built on the H100 is held to the same warnings.
O	?= build
SAN	?= 0

CC	?= cc
CFLAGS	?= -O2 -g
WFLAGS	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wformat=2 -Wno-format-nonliteral -Wvla
CPPFLAGS_ALL := -Iinclude -Iinclude/uapi -Ilib -Idom0-lib -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 $(CPPFLAGS)
CFLAGS_ALL := -std=gnu11 $(WFLAGS) $(CFLAGS) -pthread -MMD -MP
LDFLAGS_ALL := -pthread $(LDFLAGS)
LDLIBS_ALL :=

ifeq ($(SAN),1)
CFLAGS_ALL += -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS_ALL += -fsanitize=address,undefined
endif
# SAN=thread: ThreadSanitizer, for the threads of the mediator and the I/O teams
ifeq ($(SAN),thread)
CFLAGS_ALL += -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS_ALL += -fsanitize=thread
endif
