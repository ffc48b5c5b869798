/* SPDX-License-Identifier: MIT */
#include "ul_log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

/* The log threshold is process state by nature (stderr is one per process);
 * it is the only file-scope variable of the daemon. */
static enum ul_log_level log_threshold = UL_LOG_INFO;

void ul_log_set_level(enum ul_log_level level)
{
	log_threshold = level;
}

static void ul_log_line(enum ul_log_level level, const char *tag, const char *msg)
{
	static const char *const names[] = {"error", "warn", "info", "debug"};
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	fprintf(stderr, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ usblabd[%s] %s: %s\n",
	        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
	        (long)(tv.tv_usec / 1000), tag, names[level], msg);
}

void ul_log(enum ul_log_level level, const char *tag, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > log_threshold)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ul_log_line(level, tag, msg);
}

/* ---- rate limiting ------------------------------------------------------ */

static uint64_t ul_log_monotonic_ms(void *arg)
{
	struct timespec ts;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ul_log_limit_init(struct ul_log_limit *lim, unsigned interval_ms, unsigned burst,
                       ul_log_clock_fn clock, void *clock_arg)
{
	memset(lim, 0, sizeof(*lim));
	lim->interval_ms = interval_ms;
	lim->burst = burst;
	lim->clock = clock ? clock : ul_log_monotonic_ms;
	lim->clock_arg = clock_arg;
}

/* 1234567 -> "1,234,567": the counts are read by people. */
static void ul_log_thousands(unsigned long v, char *out, size_t cap)
{
	char digits[32];
	int n = snprintf(digits, sizeof(digits), "%lu", v), o = 0;

	for (int i = 0; i < n && (size_t)o + 2 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			out[o++] = ',';
		out[o++] = digits[i];
	}
	out[o] = 0;
}

unsigned long ul_log_limit_flush(struct ul_log_limit *lim, bool force)
{
	uint64_t now = lim->clock(lim->clock_arg);
	unsigned long n = lim->suppressed;
	char count[40], msg[UL_LOG_LIMIT_LAST + 100];

	if (!lim->started || (!force && now - lim->window_start < lim->interval_ms))
		return 0;
	if (n > 0 && lim->level <= log_threshold) {
		ul_log_thousands(n, count, sizeof(count));
		snprintf(msg, sizeof(msg), "... %s more like this in the last %u s (last: %s)",
		         count, (unsigned)((now - lim->window_start + 999) / 1000), lim->last);
		ul_log_line(lim->level, lim->tag, msg);
	}
	lim->window_start = now;
	lim->printed = 0;
	lim->suppressed = 0;
	return n;
}

bool ul_log_limited(struct ul_log_limit *lim, enum ul_log_level level, const char *tag,
                    const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (level > log_threshold)
		return false;
	if (!lim->started) {
		lim->started = true;
		lim->window_start = lim->clock(lim->clock_arg);
	}
	ul_log_limit_flush(lim, false);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (lim->printed < lim->burst) {
		lim->printed++;
		ul_log_line(level, tag, msg);
		return true;
	}
	lim->suppressed++;
	lim->level = level;
	lim->tag = tag;
	/* Truncated on purpose: the summary line quotes its start. */
	memcpy(lim->last, msg, sizeof(lim->last) - 1);
	lim->last[sizeof(lim->last) - 1] = 0;
	return false;
}
