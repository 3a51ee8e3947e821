# SPDX-License-Identifier: MIT
#
# make install-dom0, make install-guest, make install (both), make
# install-lib (the client library alone; install-guest includes it). Each installs
# what its side runs, built here first; neither builds a kernel module nor
# touches the installing host's kernel: the guest side installs vgpu.ko's
# source for DKMS, which builds it in the guest for each of its kernels.
# Every path honours DESTDIR; those that systemd, udev, sysusers and DKMS
# only look for in fixed places default to them. debian/rules uses these;
# `make deb` builds the packages.
#
#   Dom0:  sbin/vgpu-mediator, sbin/vgpu-assign, bin/vgpuctl, bin/vgpu-submit,
#          bin/vgpu-trace-svg, libexec/vgpu/vgpu-executor (run by the mediator, never by hand),
#          the unit, sysusers.d (group vgpu), tmpfiles.d (/var/vgpu),
#          /etc/vgpu/mediator.conf (only if absent) and mediator.d/, man
#          pages, documentation
#   guest: sbin/vgpu-agent, bin/vgpu-lspci, bin/vgpu-smi, the unit, the udev rule,
#          sysusers.d (group vgpu), man pages, the DKMS tree (install-dkms),
#          the client library (install-lib) and the guest CUDA runtime
#          (install-cudart)
#   lib:   libvgpu.so.1 and its link libvgpu.so, <vgpu/vgpu.h> with the
#          uapi headers it includes, libvgpu.pc, vgpu.pc, libvgpu(3),
#          python3's vgpu.py. A guest's programs and the guest CUDA runtime
#          use it; Dom0's programs link lib/ statically and need none, so
#          install-dom0 leaves it out (a Dom0 tool that drives a spool
#          directory through it installs it with install-lib).
#   cudart: libcudart.so.13, the guest CUDA runtime (cudart/), alone in
#          CUDARTDIR: never on the dynamic linker's default path, so that a
#          program uses it only when asked (LD_LIBRARY_PATH, or the
#          ld.so.conf.d snippet installed beside it as an example, which
#          makes every program of the VM use it); no development link, since
#          programs are built against NVIDIA's libcudart where nvcc runs.
#
#   UNITDIR       systemd units        ($(PREFIX)/lib/systemd/system)
#   UDEVRULESDIR  the udev rule        (/etc/udev/rules.d; /usr/lib/udev/rules.d for PREFIX=/usr)
#   SYSUSERSDIR   sysusers.d           ($(PREFIX)/lib/sysusers.d)
#   DKMSDIR       vgpu.ko for DKMS     (/usr/src/vgpu-$(VGPU_VERSION))
#   SYSCONFDIR    mediator.conf        (/etc)
#   TMPFILESDIR   tmpfiles.d: /var/vgpu ($(PREFIX)/lib/tmpfiles.d)
#   INCLUDEDIR, PKGCONFIGDIR, MANDIR, VGPU_DOCDIR, LIBEXECDIR under PREFIX
#   LIBDIR        libvgpu.so.1 and libvgpu.pc ($(PREFIX)/lib; Debian: multiarch)
#   PYTHONDIR     vgpu.py              ($(PREFIX)/lib/python3/dist-packages)
#   CUDARTDIR     libcudart.so.13      ($(LIBDIR)/vgpu/cudart: LIBDIR's, so multiarch
#                 on Debian, in a directory of its own that ld.so never searches)
#   CUDART_EXAMPLEDIR  the ld.so.conf.d example vgpu-cudart.conf ($(VGPU_DOCDIR)/examples)
#   VGPU_CUDART   1: install-guest installs the runtime; 0: it leaves it out
#                 (default: 1 where the tree has it, cudart/build.mk; the
#                 guest tests follow it too)
SYSCONFDIR	?= /etc
TMPFILESDIR	?= $(PREFIX)/lib/tmpfiles.d
UNITDIR		?= $(PREFIX)/lib/systemd/system
UDEVRULESDIR	?= $(if $(filter /usr,$(PREFIX)),/usr/lib/udev/rules.d,/etc/udev/rules.d)
SYSUSERSDIR	?= $(PREFIX)/lib/sysusers.d
DKMSDIR		?= /usr/src/vgpu-$(VGPU_VERSION)
INCLUDEDIR	?= $(PREFIX)/include
PKGCONFIGDIR	?= $(PREFIX)/share/pkgconfig
MANDIR		?= $(PREFIX)/share/man
VGPU_DOCDIR	?= $(PREFIX)/share/doc/vgpu
LIBEXECDIR	?= $(PREFIX)/libexec/vgpu
LIBDIR		?= $(PREFIX)/lib
PYTHONDIR	?= $(PREFIX)/lib/python3/dist-packages
CUDARTDIR	?= $(LIBDIR)/vgpu/cudart
CUDART_EXAMPLEDIR ?= $(VGPU_DOCDIR)/examples
# (VGPU_CUDART and CUDART_SO: guest-agent/build.mk)

# ---- man pages, from Documentation/man/NAME.SECTION.rst at build time ----
MAN_O	 := build/man
MAN_SRCS := $(wildcard Documentation/man/*.rst)
MANPAGES := $(MAN_SRCS:Documentation/man/%.rst=$(MAN_O)/%)

$(MAN_O)/%: Documentation/man/%.rst VERSION | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	sed 's/@VERSION@/$(VGPU_VERSION)/' $< | rst2man --halt=warning >$@.tmp && \
		mv $@.tmp $@ || { rm -f $@.tmp; exit 1; }

man: $(MANPAGES)
BINS += $(MANPAGES)

DOM0_SBIN  := $(O)/vgpu-mediator
DOM0_BIN   := $(O)/vgpuctl $(O)/vgpu-submit
DOM0_LIBEXEC := $(O)/vgpu-executor
DOM0_MAN   := $(addprefix $(MAN_O)/,vgpu-mediator.8 vgpu-assign.8 mediator.conf.5 vgpuctl.1 \
		vgpu-submit.1 vgpu-executor.8 vgpu-trace-svg.1)
GUEST_SBIN := $(GUEST_O)/vgpu-agent
GUEST_BIN  := $(GUEST_O)/vgpu-lspci $(GUEST_O)/vgpu-smi
GUEST_MAN  := $(addprefix $(MAN_O)/,vgpu-agent.8 vgpu-lspci.1 vgpu-smi.1)
LIB_MAN    := $(MAN_O)/libvgpu.3
GUEST_CUDART := $(if $(filter 1,$(VGPU_CUDART)),$(CUDART_SO))

# install-man SECTION-FILES: each page into man/manN by its suffix.
define install-man
	for m in $(1); do \
		s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s && \
		install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; \
	done
endef

# What each side installs, built (debian/rules builds these, then installs).
dom0: $(DOM0_SBIN) $(DOM0_BIN) $(DOM0_LIBEXEC) $(DOM0_MAN)
guest: $(GUEST_SBIN) $(GUEST_BIN) $(GUEST_MAN) lib $(GUEST_CUDART)
lib: $(LIBVGPU_SO) $(LIB_MAN)

install: install-dom0 install-guest

# tmpfiles.d creates /var/vgpu: the unit's ReadWritePaths= needs the spool
# to exist before the mediator starts (/var is read-only to it otherwise).
install-dom0: dom0
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) $(DESTDIR)$(VGPU_DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/vgpu/mediator.d $(DESTDIR)$(LIBEXECDIR)
	install -m 0755 $(DOM0_SBIN) $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 $(DOM0_LIBEXEC) $(DESTDIR)$(LIBEXECDIR)/
	sed 's|^version=@VERSION@|version=$(VGPU_VERSION)|' qemu-patches/xcp-ng/vgpu-assign \
		>$(DESTDIR)$(PREFIX)/sbin/vgpu-assign
	chmod 0755 $(DESTDIR)$(PREFIX)/sbin/vgpu-assign
	install -m 0755 $(DOM0_BIN) $(DESTDIR)$(PREFIX)/bin/
	sed 's|^VERSION = "@VERSION@"|VERSION = "$(VGPU_VERSION)"|' tools/vgpu-trace-svg \
		>$(DESTDIR)$(PREFIX)/bin/vgpu-trace-svg
	chmod 0755 $(DESTDIR)$(PREFIX)/bin/vgpu-trace-svg
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g; s|/usr/local/share/doc/vgpu|$(VGPU_DOCDIR)|g' \
		dom0-mediator/vgpu-mediator.service >$(DESTDIR)$(UNITDIR)/vgpu-mediator.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vgpu-mediator.service
	install -m 0644 tools/vgpu.sysusers $(DESTDIR)$(SYSUSERSDIR)/vgpu-dom0.conf
	install -m 0644 tools/vgpu.tmpfiles $(DESTDIR)$(TMPFILESDIR)/vgpu.conf
	test -e $(DESTDIR)$(SYSCONFDIR)/vgpu/mediator.conf || \
		install -m 0644 dom0-mediator/mediator.conf.example \
		$(DESTDIR)$(SYSCONFDIR)/vgpu/mediator.conf
	install -m 0644 dom0-mediator/mediator.conf.example Documentation/*.rst \
		$(DESTDIR)$(VGPU_DOCDIR)/
	@$(call install-man,$(DOM0_MAN))

install-guest: guest install-dkms install-lib $(if $(GUEST_CUDART),install-cudart)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(UNITDIR) \
		$(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(SYSUSERSDIR)
	install -m 0755 $(GUEST_SBIN) $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 $(GUEST_BIN) $(DESTDIR)$(PREFIX)/bin/
	sed 's|/usr/local/sbin|$(PREFIX)/sbin|g' \
		guest-agent/vgpu-agent.service >$(DESTDIR)$(UNITDIR)/vgpu-agent.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vgpu-agent.service
	install -m 0644 kmod/99-vgpu.rules $(DESTDIR)$(UDEVRULESDIR)/99-vgpu.rules
	install -m 0644 tools/vgpu.sysusers $(DESTDIR)$(SYSUSERSDIR)/vgpu-guest.conf
	@$(call install-man,$(GUEST_MAN))

# The library (a shared object is not executable: 0644), its development
# files (the uapi headers too: <vgpu/vgpu.h> includes them) and vgpu.py.
PC_SED := s|@PREFIX@|$(PREFIX)|; s|@INCLUDEDIR@|$(INCLUDEDIR)|; s|@LIBDIR@|$(LIBDIR)|; \
	  s|@VERSION@|$(VGPU_VERSION)|
install-lib: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/vgpu/misc \
		$(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(PYTHONDIR)
	install -m 0644 $(LIBVGPU_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf $(LIBVGPU_SONAME) $(DESTDIR)$(LIBDIR)/libvgpu.so
	install -m 0644 include/vgpu/vgpu.h $(DESTDIR)$(INCLUDEDIR)/vgpu/
	install -m 0644 include/uapi/misc/vgpu.h include/uapi/misc/vgpu_regs.h \
		$(DESTDIR)$(INCLUDEDIR)/vgpu/misc/
	sed '$(PC_SED)' tools/libvgpu.pc.in >$(DESTDIR)$(LIBDIR)/pkgconfig/libvgpu.pc
	sed '$(PC_SED)' tools/vgpu.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/vgpu.pc
	chmod 0644 $(DESTDIR)$(LIBDIR)/pkgconfig/libvgpu.pc $(DESTDIR)$(PKGCONFIGDIR)/vgpu.pc
	install -m 0644 python/vgpu.py $(DESTDIR)$(PYTHONDIR)/
	@$(call install-man,$(LIB_MAN))

# The guest CUDA runtime in its own directory (see the head of this file),
# and vgpu-cudart.conf, the ld.so.conf.d entry that would make it every
# program's libcudart.so.13, as an example to copy to /etc/ld.so.conf.d/
# (Documentation/cuda-runtime-install.rst). In a tree without the runtime,
# or with VGPU_CUDART=0, there is nothing to install: asked for, that fails.
install-cudart: $(GUEST_CUDART)
	@$(if $(GUEST_CUDART),:,echo "install-cudart: no guest CUDA runtime to install" \
		"($(if $(wildcard cudart/build.mk),VGPU_CUDART=$(VGPU_CUDART),no cudart/ in this tree))" >&2; exit 1)
	install -d $(DESTDIR)$(CUDARTDIR) $(DESTDIR)$(CUDART_EXAMPLEDIR)
	install -m 0644 $(CUDART_SO) $(DESTDIR)$(CUDARTDIR)/
	sed 's|@CUDARTDIR@|$(CUDARTDIR)|' tools/vgpu-cudart.conf.in \
		>$(DESTDIR)$(CUDART_EXAMPLEDIR)/vgpu-cudart.conf
	chmod 0644 $(DESTDIR)$(CUDART_EXAMPLEDIR)/vgpu-cudart.conf

# vgpu.ko's source, as DKMS builds it (kmod/dkms.conf): no build here.
install-dkms:
	install -d $(DESTDIR)$(DKMSDIR)/include/uapi/misc
	install -m 0644 kmod/vgpu.c kmod/Kbuild kmod/Makefile $(DESTDIR)$(DKMSDIR)/
	sed 's|@VERSION@|$(VGPU_VERSION)|' kmod/dkms.conf >$(DESTDIR)$(DKMSDIR)/dkms.conf
	chmod 0644 $(DESTDIR)$(DKMSDIR)/dkms.conf
	install -m 0644 include/uapi/misc/vgpu.h include/uapi/misc/vgpu_regs.h \
		$(DESTDIR)$(DKMSDIR)/include/uapi/misc/

# The Debian packages (debian/), into the parent directory; vgpu-cudart
# only with the runtime (the build profile pkg.vgpu.nocudart leaves it out).
deb: | $(PKG_DEPS_STAMP)
	dpkg-buildpackage -us -uc -b $(if $(filter 1,$(VGPU_CUDART)),,-Ppkg.vgpu.nocudart)

.PHONY: deb man dom0 guest lib install install-dom0 install-guest install-lib install-dkms \
	install-cudart
