# SPDX-License-Identifier: MIT
#
# The install and packaging suite (make check-pkg): a fresh machine's
# first build, make install-dom0/install-guest into a scratch DESTDIR, the
# Debian packages built with dpkg-buildpackage and checked by lintian.
# Shell tests printing KTAP; see Documentation/testing.rst.
PKG_DEPS_STAMP := build/.pkg-deps-ok
$(PKG_DEPS_STAMP): tools/install-deps
	@tools/install-deps pkg
	@mkdir -p $(dir $@) && touch $@

PKG_TESTS := tests/install/kmod-fresh-host tests/install/install-layout tests/install/deb

check-pkg: | $(PKG_DEPS_STAMP) $(GUEST_DEPS_STAMP)
	@$(KTAP_RUN) -s pkg -r $(RESULTS) -t 900 $(PKG_TESTS)

EXTRA_CHECK_SUITES += check-pkg

.PHONY: check-pkg
