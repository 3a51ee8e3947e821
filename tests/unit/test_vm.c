// SPDX-License-Identifier: MIT
/*
 * A VM's log rate limit (dom0-mediator/vm.c), driven the way the mediator
 * drives it: a pool worker warns about a job that failed while the main
 * thread warns about a request it rejected, for the same VM at once. Under
 * `make check-tsan` any unsynchronised access to the limiter's state fails
 * the test; everywhere, no warning may be lost from the count: every call
 * is either logged or counted in a "N similar messages suppressed".
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kselftest_harness.h"

#include "log.h"
#include "testlib.h"
#include "vm.h"

#define BURST		10	/* vm.c: WARN_BURST */

struct hammer {
	struct vm *vm;
	unsigned int calls;
	pthread_barrier_t *go;
};

static void *hammer(void *arg)
{
	struct hammer *h = arg;

	pthread_barrier_wait(h->go);
	for (unsigned int i = 0; i < h->calls; i++)
		vm_warnx(h->vm, "job %u failed", i);
	return NULL;
}

TEST(warnings_from_a_worker_and_the_main_thread_are_limited_and_counted)
{
	char path[] = "/tmp/vgpu-test-vm-XXXXXX", line[1024];
	unsigned long logged = 0, reported = 0;
	struct vm *vm = calloc(1, sizeof(*vm));
	pthread_barrier_t go;
	struct hammer worker, mainh;
	uint64_t t0, elapsed_s;
	pthread_t th;
	int fd, saved;
	FILE *f;

	ASSERT_NE(NULL, vm);
	test_seed();
	snprintf(vm->conf.name, sizeof(vm->conf.name), "t");
	worker = (struct hammer){ vm, (unsigned int)test_rand_range(2000, 20000), &go };
	mainh = (struct hammer){ vm, (unsigned int)test_rand_range(2000, 20000), &go };
	TH_LOG("worker %u calls, main thread %u", worker.calls, mainh.calls);

	log_init("test_vm", true, LOG_WARNING);
	fd = mkstemp(path);
	ASSERT_LE(0, fd);
	unlink(path);
	fflush(stderr);
	saved = dup(2);
	ASSERT_LE(0, saved);
	ASSERT_LE(0, dup2(fd, 2));

	t0 = vgpu_now_ns();
	pthread_barrier_init(&go, NULL, 2);
	ASSERT_EQ(0, pthread_create(&th, NULL, hammer, &worker));
	hammer(&mainh);
	pthread_join(th, NULL);
	pthread_barrier_destroy(&go);
	elapsed_s = (vgpu_now_ns() - t0) / 1000000000u;

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	f = fdopen(fd, "r");
	ASSERT_NE(NULL, f);
	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		const char *s = strstr(line, "(");

		if (!strstr(line, "vm t: job ")) {
			fputs(line, stderr);	/* a sanitizer's report, say */
			continue;
		}
		logged++;
		if (s && strstr(s, "similar messages suppressed"))
			reported += strtoul(s + 1, NULL, 10);
	}
	fclose(f);
	TH_LOG("%lu logged, %lu reported suppressed, %lu still counted, %lu s",
	       logged, reported, (unsigned long)atomic_load(&vm->warn_suppressed),
	       (unsigned long)elapsed_s);
	/* A burst, then one a second. */
	EXPECT_LE(logged, BURST + 2 + elapsed_s);
	EXPECT_LE(BURST, logged);
	EXPECT_EQ(worker.calls + mainh.calls,
		  logged + reported + atomic_load(&vm->warn_suppressed));
	free(vm);
}

TEST_HARNESS_MAIN
