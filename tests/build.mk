# Host tests (KTAP, kselftest_harness.h). The harness header is extracted
# at build time from Debian's linux-source-6.1 tarball, never committed.
KSFT_TARBALL ?= /usr/src/linux-source-6.1.tar.xz
KSFT_DIR     := build/ksft
KSFT_HDR     := $(KSFT_DIR)/kselftest_harness.h
KSFT_MEMBERS := linux-source-6.1/tools/testing/selftests/kselftest_harness.h \
		linux-source-6.1/tools/testing/selftests/kselftest.h

$(KSFT_HDR): | $(DEPS_STAMP)
	@test -r $(KSFT_TARBALL) || { echo "$(KSFT_TARBALL) missing: apt-get install linux-source-6.1" >&2; exit 1; }
	@mkdir -p $(KSFT_DIR)
	tar -xJf $(KSFT_TARBALL) -C $(KSFT_DIR) --strip-components=4 $(KSFT_MEMBERS)

# The harness's FIXTURE macros define functions without prototypes.
TEST_CFLAGS := -isystem $(KSFT_DIR) -Itests/lib -Idom0-mediator -Wno-missing-prototypes

UNIT_TESTS := $(addprefix $(O)/tests/unit/,test_proto test_ops test_queue test_policy \
	      test_config test_vm test_session test_executor test_cudart_launch test_loop)
INTEGRATION_TESTS := $(O)/tests/integration/test_mediator $(O)/tests/integration/test_fairness \
		     $(O)/tests/integration/test_daemon \
		     $(O)/tests/integration/test_hostile $(O)/tests/integration/test_sessions \
		     $(O)/tests/integration/test_libvgpu $(O)/tests/integration/test_mps \
		     $(O)/tests/integration/test_cudart

$(O)/tests/%.o: tests/%.c $(KSFT_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) $(TEST_CFLAGS) -c -o $@ $<

TESTLIB := $(O)/tests/lib/testlib.o

$(O)/tests/unit/test_proto: $(O)/tests/unit/test_proto.o $(TESTLIB) $(LIBVGPU_DOM0) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
# test_ops reads Documentation/protocol.rst from this tree.
$(O)/tests/unit/test_ops.o: TEST_CFLAGS += -DVGPU_SRCDIR='"$(CURDIR)"'
$(O)/tests/unit/test_ops: $(O)/tests/unit/test_ops.o $(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
$(O)/tests/unit/test_queue: $(O)/tests/unit/test_queue.o $(O)/dom0-mediator/queue.o $(TESTLIB) \
		$(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
$(O)/tests/unit/test_policy: $(O)/tests/unit/test_policy.o $(O)/dom0-mediator/queue.o \
		$(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
$(O)/tests/unit/test_vm: $(O)/tests/unit/test_vm.o $(O)/dom0-mediator/vm.o \
		$(O)/dom0-mediator/exec.o $(O)/dom0-mediator/mps.o $(O)/dom0-mediator/respond.o \
		$(O)/dom0-mediator/queue.o $(TESTLIB) \
		$(LIBVGPU_DOM0) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
$(O)/tests/unit/test_config: $(O)/tests/unit/test_config.o $(O)/dom0-mediator/config.o \
		$(O)/dom0-mediator/queue.o \
		$(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ -linih $(LIBVGPU_LDLIBS)
$(O)/tests/integration/test_mediator: $(O)/tests/integration/test_mediator.o \
		$(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

$(O)/tests/integration/test_fairness: $(O)/tests/integration/test_fairness.o \
		$(O)/tests/lib/fairload.o $(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
$(O)/tests/integration/test_daemon: $(O)/tests/integration/test_daemon.o $(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
$(O)/tests/integration/test_hostile: $(O)/tests/integration/test_hostile.o $(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
# test_sessions runs the mediator, which runs vgpu-executor: both built beside it.
$(O)/tests/integration/test_sessions: $(O)/tests/integration/test_sessions.o \
		$(O)/tests/lib/sessclient.o $(TESTLIB) $(LIBVGPU) | $(O)/vgpu-executor
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

# test_mps runs the mediator, its executors and tests/integration's fake
# nvidia-cuda-mps-control, found in this tree.
$(O)/tests/integration/test_mps.o: TEST_CFLAGS += -DVGPU_SRCDIR='"$(CURDIR)"'
$(O)/tests/integration/test_mps: $(O)/tests/integration/test_mps.o \
		$(O)/tests/lib/sessclient.o $(TESTLIB) $(LIBVGPU) | $(O)/vgpu-executor
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

# test_libvgpu links libvgpu.so.1 as an application would (before libvgpu.a,
# so that the archive's copy of the API is never pulled in), runs the
# mediator and vgpu-executor, and python/examples/ against that library.
# Under ASan python3 loads the sanitizer's runtime first; TSan's cannot be
# loaded into a program built without it, so under TSan that test skips.
$(O)/tests/integration/test_libvgpu.o: TEST_CFLAGS += -DVGPU_SRCDIR='"$(CURDIR)"' \
	-DVGPU_LIBDIR='"$(abspath $(O))"' \
	$(if $(filter 1,$(SAN)),-DVGPU_PY_PRELOAD='"$(shell $(CC) -print-file-name=libasan.so)"') \
	$(if $(filter thread,$(SAN)),-DVGPU_PY_TSAN)
$(O)/tests/integration/test_libvgpu: $(O)/tests/integration/test_libvgpu.o $(TESTLIB) \
		$(LIBVGPU_SO) $(LIBVGPU) | $(O)/vgpu-executor
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -Wl,-rpath,$(abspath $(O)) -o $@ $^ $(LIBVGPU_LDLIBS)

# test_cudart links libcudart.so.13 (cudart/) and its ABI header as a CUDA
# program would, and runs the mediator and vgpu-executor beside it.
$(O)/tests/integration/test_cudart.o: TEST_CFLAGS += -Icudart
$(O)/tests/integration/test_cudart: $(O)/tests/integration/test_cudart.o $(TESTLIB) \
		$(CUDART_SO) $(LIBVGPU) | $(O)/vgpu-executor
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -Wl,-rpath,$(abspath $(O))/cudart \
		-Wl,-rpath,$(abspath $(O)) -o $@ $^ $(LIBVGPU_LDLIBS)

# test_cudart_launch links the runtime's objects (cudart/) with a fake
# libvgpu of its own, to see the launches it builds without a GPU.
$(O)/tests/unit/test_cudart_launch.o: TEST_CFLAGS += -Icudart
$(O)/tests/unit/test_cudart_launch: $(O)/tests/unit/test_cudart_launch.o $(CUDART_OBJS) \
		$(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

$(O)/tests/unit/test_session: $(O)/tests/unit/test_session.o $(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
$(O)/tests/unit/test_loop: $(O)/tests/unit/test_loop.o $(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)
# test_executor runs vgpu-executor (built next to it) through its socket,
# and reads the mediator's unit from this tree.
$(O)/tests/unit/test_executor.o: TEST_CFLAGS += -DVGPU_SRCDIR='"$(CURDIR)"'
$(O)/tests/unit/test_executor: $(O)/tests/unit/test_executor.o $(TESTLIB) $(LIBVGPU_DOM0) \
		$(LIBVGPU) | $(O)/vgpu-executor
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

HOST_TESTS += $(UNIT_TESTS) $(INTEGRATION_TESTS)
# Documentation/ parses without a docutils warning (python3-docutils: make's deps).
HOST_TESTS += tests/tools/docs-rst

# What the host tests run besides our programs (promtool, rsvg-convert).
CHECK_DEPS_STAMP := build/.check-deps-ok
$(CHECK_DEPS_STAMP): tools/install-deps
	@tools/install-deps check
	@mkdir -p $(dir $@) && touch $@
check-host: | $(CHECK_DEPS_STAMP)
