/* SPDX-License-Identifier: MIT */
/*
 * ul_log.h - usblab's logging: one line per event on stderr, with a
 * wall-clock timestamp, a level and a subsystem tag.
 * The level threshold lives in the process's log state set by main
 * (ul_log_set_level); ul_debug compiles out with -DUL_NO_DEBUG.
 *
 * Events a peer can repeat at will (bad requests, refused connections)
 * go through a rate limiter, struct ul_log_limit, owned by the caller's
 * state: at most `burst` lines per `interval_ms`, and the rest coalesced
 * into one line "... 1,234 more like this in the last 10 s (last: ...)".
 */
#ifndef UL_LOG_H
#define UL_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum ul_log_level {
	UL_LOG_ERROR = 0,
	UL_LOG_WARN = 1,
	UL_LOG_INFO = 2,
	UL_LOG_DEBUG = 3,
};

/* Sets the most verbose level printed (default UL_LOG_INFO). */
void ul_log_set_level(enum ul_log_level level);

/* Prints "2026-11-23T07:30:01.123Z usblabd[tag] level: message\n". */
void ul_log(enum ul_log_level level, const char *tag, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

#define ul_error(tag, ...) ul_log(UL_LOG_ERROR, tag, __VA_ARGS__)
#define ul_warn(tag, ...)  ul_log(UL_LOG_WARN, tag, __VA_ARGS__)
#define ul_info(tag, ...)  ul_log(UL_LOG_INFO, tag, __VA_ARGS__)
#ifdef UL_NO_DEBUG
#define ul_debug(tag, ...) ((void)0)
#else
#define ul_debug(tag, ...) ul_log(UL_LOG_DEBUG, tag, __VA_ARGS__)
#endif

/* Milliseconds on a monotonic clock; tests inject their own. */
typedef uint64_t (*ul_log_clock_fn)(void *arg);

#define UL_LOG_LIMIT_LAST 200 /* bytes kept of the last suppressed message */

/* One kind of repeatable event. Fill it with ul_log_limit_init(); the
 * fields below it are the limiter's. */
struct ul_log_limit {
	unsigned interval_ms;  /* the window */
	unsigned burst;        /* lines printed per window */
	ul_log_clock_fn clock; /* NULL: CLOCK_MONOTONIC */
	void *clock_arg;

	uint64_t window_start;
	bool started;
	unsigned printed;         /* lines printed in this window */
	unsigned long suppressed; /* lines held back in this window */
	enum ul_log_level level;  /* of the last held-back line */
	const char *tag;          /* of the last held-back line */
	char last[UL_LOG_LIMIT_LAST];
};

/* Sets up lim: burst lines per interval_ms; clock NULL for the real one. */
void ul_log_limit_init(struct ul_log_limit *lim, unsigned interval_ms, unsigned burst,
                       ul_log_clock_fn clock, void *clock_arg);

/*
 * Logs like ul_log() unless lim's window already printed `burst` lines;
 * then the line is counted, and the count is printed by the first call
 * after the window ends (or by ul_log_limit_flush). Returns true when the
 * line was printed.
 */
bool ul_log_limited(struct ul_log_limit *lim, enum ul_log_level level, const char *tag,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Prints the pending "N more like this" line when lim's window has ended
 * (or at once when force), and starts a new window. A timer calls it so
 * that the count is not held back until the next event. Returns the
 * number of lines the printed summary covered (0 when none). */
unsigned long ul_log_limit_flush(struct ul_log_limit *lim, bool force);

#define ul_warn_limited(lim, tag, ...) ul_log_limited(lim, UL_LOG_WARN, tag, __VA_ARGS__)
#define ul_info_limited(lim, tag, ...) ul_log_limited(lim, UL_LOG_INFO, tag, __VA_ARGS__)

#endif /* UL_LOG_H */
