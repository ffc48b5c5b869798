/* SPDX-License-Identifier: MIT */
/*
 * ul_log.h - usblab's logging: one line per event on stderr, with a
 * monotonic-free wall-clock timestamp, a level and a subsystem tag.
 * The level threshold lives in the process's log state set by main
 * (ul_log_set_level); ul_debug compiles out with -DUL_NO_DEBUG.
 */
#ifndef UL_LOG_H
#define UL_LOG_H

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

#endif /* UL_LOG_H */
