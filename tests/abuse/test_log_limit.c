/* SPDX-License-Identifier: MIT */
/*
 * test_log_limit.c - the log rate limiter of src/log (ul_log_limit) with
 * an injected clock: burst lines per window, the rest counted and printed
 * as one "N more like this" line when the window ends. Output is read back
 * from stderr, redirected to a temporary file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ul_log.h"

struct fake_clock {
	uint64_t now_ms;
};

static uint64_t fake_now(void *arg)
{
	return ((struct fake_clock *)arg)->now_ms;
}

/* stderr goes to a temporary file during a test; read_log() returns what
 * was written since the last call. */
struct capture {
	FILE *file;
	int saved_fd;
	long read_pos;
	char text[16384];
};

static int capture_setup(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));

	if (!cap)
		return -1;
	cap->file = tmpfile();
	if (!cap->file)
		return -1;
	fflush(stderr);
	cap->saved_fd = dup(2);
	dup2(fileno(cap->file), 2);
	*state = cap;
	return 0;
}

static int capture_teardown(void **state)
{
	struct capture *cap = *state;

	fflush(stderr);
	dup2(cap->saved_fd, 2);
	close(cap->saved_fd);
	fclose(cap->file);
	free(cap);
	return 0;
}

static const char *read_log(struct capture *cap)
{
	size_t n;

	fflush(stderr);
	fseek(cap->file, cap->read_pos, SEEK_SET);
	n = fread(cap->text, 1, sizeof(cap->text) - 1, cap->file);
	cap->text[n] = 0;
	cap->read_pos += (long)n;
	return cap->text;
}

static unsigned count_lines(const char *s, const char *needle)
{
	unsigned n = 0;

	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The first `burst` lines of a window print; the rest do not. */
static void test_burst_then_quiet(void **state)
{
	struct capture *cap = *state;
	struct fake_clock clk = {.now_ms = 1000};
	struct ul_log_limit lim;
	const char *out;

	ul_log_limit_init(&lim, 10000, 3, fake_now, &clk);
	for (unsigned i = 0; i < 1000; i++) {
		bool printed = ul_warn_limited(&lim, "net", "client 127.0.0.1:%u: bad version", i);

		assert_int_equal(printed, i < 3);
		clk.now_ms += 5; /* 5 s in all: one window */
	}
	out = read_log(cap);
	assert_int_equal(count_lines(out, "bad version"), 3);
	assert_non_null(strstr(out, "127.0.0.1:2: bad version"));
	assert_null(strstr(out, "more like this"));
}

/* The first line after the window prints the count, with thousands
 * separators and the last held-back message, then the new line. */
static void test_summary_after_window(void **state)
{
	struct capture *cap = *state;
	struct fake_clock clk = {.now_ms = 50};
	struct ul_log_limit lim;
	const char *out;

	ul_log_limit_init(&lim, 10000, 2, fake_now, &clk);
	for (unsigned i = 0; i < 1236; i++)
		ul_warn_limited(&lim, "net", "length %u above limit", i);
	clk.now_ms += 10000;
	assert_true(ul_warn_limited(&lim, "net", "length %u above limit", 99999u));
	out = read_log(cap);
	assert_non_null(strstr(out, "usblabd[net] warn: ... 1,234 more like this in the last 10 s "
	                            "(last: length 1235 above limit)"));
	assert_non_null(strstr(out, "length 99999 above limit"));
	/* The summary comes before the line of the new window. */
	assert_true(strstr(out, "more like this") < strstr(out, "99999"));
}

/* flush prints nothing before the window ends, the count after it, and
 * nothing when nothing was held back. */
static void test_flush(void **state)
{
	struct capture *cap = *state;
	struct fake_clock clk = {.now_ms = 0};
	struct ul_log_limit lim;

	ul_log_limit_init(&lim, 1000, 1, fake_now, &clk);
	assert_int_equal(ul_log_limit_flush(&lim, false), 0); /* never used */
	ul_warn_limited(&lim, "net", "refused");
	ul_warn_limited(&lim, "net", "refused");
	ul_warn_limited(&lim, "net", "refused");
	clk.now_ms = 999;
	assert_int_equal(ul_log_limit_flush(&lim, false), 0);
	clk.now_ms = 1000;
	assert_int_equal(ul_log_limit_flush(&lim, false), 2);
	assert_non_null(strstr(read_log(cap), "... 2 more like this in the last 1 s"));
	clk.now_ms = 5000;
	assert_int_equal(ul_log_limit_flush(&lim, false), 0);
	assert_string_equal(read_log(cap), "");
	/* force ends the window at once. */
	ul_warn_limited(&lim, "net", "refused");
	ul_warn_limited(&lim, "net", "refused");
	assert_int_equal(ul_log_limit_flush(&lim, true), 1);
}

/* Below the threshold nothing prints and nothing is counted. */
static void test_threshold(void **state)
{
	struct capture *cap = *state;
	struct fake_clock clk = {.now_ms = 0};
	struct ul_log_limit lim;

	ul_log_limit_init(&lim, 1000, 1, fake_now, &clk);
	ul_log_set_level(UL_LOG_WARN);
	assert_false(ul_info_limited(&lim, "net", "quiet"));
	assert_true(ul_warn_limited(&lim, "net", "loud"));
	ul_log_set_level(UL_LOG_INFO);
	assert_null(strstr(read_log(cap), "quiet"));
	clk.now_ms = 2000;
	assert_int_equal(ul_log_limit_flush(&lim, false), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_burst_then_quiet, capture_setup,
	                                        capture_teardown),
	        cmocka_unit_test_setup_teardown(test_summary_after_window, capture_setup,
	                                        capture_teardown),
	        cmocka_unit_test_setup_teardown(test_flush, capture_setup, capture_teardown),
	        cmocka_unit_test_setup_teardown(test_threshold, capture_setup, capture_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
