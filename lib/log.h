/* SPDX-License-Identifier: MIT */
/*
 * Levelled logging after OpenBSD's log.c: stderr with a timestamp in the
 * foreground, syslog(LOG_DAEMON) otherwise. In the foreground under
 * systemd (stderr is the journal: JOURNAL_STREAM) each line carries its
 * priority as sd-daemon(3)'s "<N>" prefix instead of a timestamp, so that
 * `journalctl -p err` finds the errors. log_warn() appends strerror
 * (errno); log_warnx() does not. Thread-safe.
 */
#ifndef VGPU_LOG_H
#define VGPU_LOG_H

#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>

void log_init(const char *ident, bool foreground, int level);
void log_setlevel(int level);
/* Foreground lines to @f instead of stderr; before any thread starts. */
void log_to(FILE *f);
/* A daemon until it is ready: warnings and errors also go to stderr. */
void log_stderr(bool on);
int log_level_from_name(const char *name);	/* "debug".. "err"; -1 if bad */
const char *log_level_name(int level);

void log_msg(int prio, bool with_errno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define log_warn(...)	log_msg(LOG_WARNING, true, __VA_ARGS__)
#define log_warnx(...)	log_msg(LOG_WARNING, false, __VA_ARGS__)
#define log_err(...)	log_msg(LOG_ERR, true, __VA_ARGS__)
#define log_errx(...)	log_msg(LOG_ERR, false, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_INFO, false, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_DEBUG, false, __VA_ARGS__)

#endif /* VGPU_LOG_H */
