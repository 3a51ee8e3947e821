# Host benchmarks: programs that print numbers and end with a RESULT line.
$(O)/bench/spool_bench: $(O)/bench/spool_bench.o $(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

$(O)/bench/%.o: bench/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS_ALL) $(CFLAGS_ALL) -Itests/lib -c -o $@ $<

$(O)/bench/fair_bench: $(O)/bench/fair_bench.o $(O)/tests/lib/fairload.o $(TESTLIB) $(LIBVGPU)
	$(CC) $(CFLAGS_ALL) $(LDFLAGS_ALL) -o $@ $^ $(LIBVGPU_LDLIBS)

BENCHES += $(O)/bench/spool_bench $(O)/bench/fair_bench
