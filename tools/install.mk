# `make install` beyond the programs (the top-level Makefile installs
# INSTALL_BINS into $(PREFIX)/sbin): systemd units, the udev rule, the
# default config, the DKMS source of vgpu.ko and the documentation. Every
# path honours DESTDIR; those that systemd, udev and DKMS only look for in
# fixed places default to them.
#
#   UNITDIR       systemd units        ($(PREFIX)/lib/systemd/system)
#   UDEVRULESDIR  the udev rule        (/etc/udev/rules.d; /usr/lib/udev/rules.d for PREFIX=/usr)
#   DKMSDIR       vgpu.ko for DKMS     (/usr/src/vgpu-$(VGPU_VERSION))
#   SYSCONFDIR    mediator.conf        (/etc; installed only if absent)
VGPU_VERSION	?= 0.1
SYSCONFDIR	?= /etc
UNITDIR		?= $(PREFIX)/lib/systemd/system
UDEVRULESDIR	?= $(if $(filter /usr,$(PREFIX)),/usr/lib/udev/rules.d,/etc/udev/rules.d)
DKMSDIR		?= /usr/src/vgpu-$(VGPU_VERSION)
VGPU_DOCDIR	?= $(PREFIX)/share/doc/vgpu

install: install-files

install-files:
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(UDEVRULESDIR) $(DESTDIR)$(VGPU_DOCDIR) \
		$(DESTDIR)$(SYSCONFDIR)/vgpu/mediator.d \
		$(DESTDIR)$(DKMSDIR)/include/uapi/misc
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g; s|/usr/local/share/doc/vgpu|$(VGPU_DOCDIR)|g' \
		dom0-mediator/vgpu-mediator.service >$(DESTDIR)$(UNITDIR)/vgpu-mediator.service
	sed 's|/usr/local/sbin|$(PREFIX)/sbin|g; s|/usr/share/doc/vgpu|$(VGPU_DOCDIR)|g' \
		guest-agent/vgpu-agent.service >$(DESTDIR)$(UNITDIR)/vgpu-agent.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vgpu-mediator.service $(DESTDIR)$(UNITDIR)/vgpu-agent.service
	install -m 0644 kmod/99-vgpu.rules $(DESTDIR)$(UDEVRULESDIR)/99-vgpu.rules
	test -e $(DESTDIR)$(SYSCONFDIR)/vgpu/mediator.conf || \
		install -m 0644 dom0-mediator/mediator.conf.example $(DESTDIR)$(SYSCONFDIR)/vgpu/mediator.conf
	install -m 0644 dom0-mediator/mediator.conf.example $(DESTDIR)$(VGPU_DOCDIR)/
	install -m 0644 kmod/vgpu.c kmod/Kbuild kmod/Makefile $(DESTDIR)$(DKMSDIR)/
	sed 's|@VERSION@|$(VGPU_VERSION)|' kmod/dkms.conf >$(DESTDIR)$(DKMSDIR)/dkms.conf
	install -m 0644 include/uapi/misc/vgpu.h include/uapi/misc/vgpu_regs.h \
		$(DESTDIR)$(DKMSDIR)/include/uapi/misc/
	install -m 0644 Documentation/*.rst $(DESTDIR)$(VGPU_DOCDIR)/

.PHONY: install-files
