# SPDX-License-Identifier: MIT
#
# vgpu: top-level build. Non-recursive for userspace: each part adds its
# programs in its own build.mk. Objects go to $(O) (build/ by default;
# build/asan/ and build/tsan/ for the sanitizer builds that `make check`
# also runs).
#
#   make              build everything that can be built here
#   make check        every test suite; ends with "N passed, N failed, N skipped"
#   make check-host   host-only tests (< 3 minutes)
#   make bench        host benchmarks
#   make demo         the main job: three VMs sharing the GPU over NFS
#   make install      install-dom0 and install-guest (tools/install.mk);
#                     DESTDIR/PREFIX honoured

PREFIX	?= /usr/local
DESTDIR	?=

include flags.mk

# Parts append to these.
BINS		:=	# what `make` builds (tools/install.mk installs it)
HOST_TESTS	:=	# KTAP test programs run by check-host
BENCHES		:=

all: binaries

# Missing Debian packages are installed once (tools/install-deps).
DEPS_STAMP := build/.deps-ok
$(DEPS_STAMP): tools/install-deps
	@tools/install-deps
	@mkdir -p $(dir $@) && touch $@

include lib/build.mk
include cudart/build.mk
include dom0-lib/build.mk
include kmod/build.mk
include guest-agent/build.mk
include cuda/build.mk
include executor/build.mk
include dom0-mediator/build.mk
include tools/build.mk
include tests/build.mk
include tests/guest/build.mk
include bench/build.mk
include tests/gpu/build.mk
include tests/cudart/build.mk
include bench/gpu/build.mk
include qemu-patches/build.mk
include tests/system/build.mk
include tests/install/build.mk
include tools/install.mk

binaries: $(BINS)

$(O)/%.o: %.c | $(DEPS_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -c -o $@ $<

# ---- tests ---------------------------------------------------------------
# Each check-* suite prints KTAP and records its counts in $(RESULTS); `make
# check` runs them all (carrying on past failures) and sums them up.
RESULTS	?= $(abspath build/results)
KTAP_RUN := tests/ktap-run

check-host: $(HOST_TESTS) binaries
	@$(KTAP_RUN) -s host$(if $(filter 1,$(SAN)),-asan)$(if $(filter thread,$(SAN)),-tsan) \
		-r $(RESULTS) $(HOST_TESTS)

check-asan:
	@$(MAKE) --no-print-directory O=build/asan SAN=1 RESULTS=$(RESULTS) check-host

# ThreadSanitizer: a race in a test or in the mediator it runs fails the test
check-tsan:
	@TSAN_OPTIONS="halt_on_error=0 exitcode=66 $${TSAN_OPTIONS:-}" \
		$(MAKE) --no-print-directory O=build/tsan SAN=thread RESULTS=$(RESULTS) check-host

CHECK_SUITES := check-host check-asan check-tsan $(EXTRA_CHECK_SUITES)

check:
	@rm -f $(RESULTS); mkdir -p $(dir $(RESULTS))
	@touch $(RESULTS); for s in $(CHECK_SUITES); do \
		n=$$(wc -l <$(RESULTS)); \
		$(MAKE) --no-print-directory RESULTS=$(RESULTS) $$s || \
		[ $$(wc -l <$(RESULTS)) -gt $$n ] || echo "suite-error $$s" >>$(RESULTS); \
	done
	@tests/ktap-summary $(RESULTS)

bench: $(BENCHES) binaries
	@for b in $(BENCHES); do $$b || exit 1; done

# The main job: three VMs over NFS (tools/vgpu-demo); demo-sim is the
# mediator alone with simulated VMs.
demo: demo-real

clean:
	rm -rf build

.PHONY: all binaries check check-host check-asan check-tsan bench demo clean
.DELETE_ON_ERROR:

-include $(shell find $(O) -name '*.d' 2>/dev/null)
