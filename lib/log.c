// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "log.h"

static bool log_foreground = true;
static atomic_int log_max = LOG_INFO;	/* set on reload, read by every thread */
static const char *log_ident = "vgpu";
static bool log_journal;		/* stderr is the journal: "<N>" prefixes */
static atomic_bool log_stderr_too;	/* a daemon not yet ready: stderr as well */
static FILE *log_out;			/* NULL: stderr; set before any thread */

/* systemd sets JOURNAL_STREAM=DEV:INO to stderr's when it is the journal. */
static bool stderr_is_journal(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	return js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	       (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static const char *const level_names[] = {
	[LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_init(const char *ident, bool foreground, int level)
{
	log_ident = ident;
	log_foreground = foreground;
	log_max = level;
	log_journal = foreground && stderr_is_journal();
	if (!foreground)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_to(FILE *f)
{
	log_out = f;
}

void log_stderr(bool on)
{
	log_stderr_too = on;
}

void log_setlevel(int level)
{
	log_max = level;
}

int log_level_from_name(const char *name)
{
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (level_names[i] && !strcmp(name, level_names[i]))
			return (int)i;
	return -1;
}

const char *log_level_name(int level)
{
	if (level >= 0 && level <= LOG_DEBUG && level_names[level])
		return level_names[level];
	return "?";
}

void log_msg(int prio, bool with_errno, const char *fmt, ...)
{
	FILE *out = log_out ? log_out : stderr;
	int saved = errno;
	char msg[1024];
	va_list ap;

	if (prio > log_max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_journal) {
		/* sd-daemon(3)'s prefix: journalctl -p err finds the errors */
		fprintf(out, "<%d>%s%s%s\n", prio, msg, with_errno ? ": " : "",
			with_errno ? strerror(saved) : "");
	} else if (log_foreground) {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(out, "%s.%03ld %s[%s]: %s%s%s\n", when, ts.tv_nsec / 1000000,
			log_ident, log_level_name(prio), msg, with_errno ? ": " : "",
			with_errno ? strerror(saved) : "");
	} else {
		if (with_errno)
			syslog(prio, "%s: %s", msg, strerror(saved));
		else
			syslog(prio, "%s", msg);
		if (log_stderr_too && prio <= LOG_WARNING)
			fprintf(out, "%s: %s%s%s\n", log_ident, msg, with_errno ? ": " : "",
				with_errno ? strerror(saved) : "");
	}
	errno = saved;
}
