/* SPDX-License-Identifier: MIT */
/*
 * test_event.c - event kind names both ways, the time format and its
 * parser (round trips, relative times, every malformed shape), and
 * ul_copy_field's truncation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "event.h"

#define MIN_MS  (60 * 1000LL)
#define HOUR_MS (60 * MIN_MS)
#define DAY_MS  (24 * HOUR_MS)

/* 2026-12-03T13:14:04.123Z, computed by `date -u -d 2026-12-03T13:14:04Z +%s`. */
#define T0_MS (1796303644LL * 1000 + 123)

static void test_kind_names(void **state)
{
	(void)state;
	static const char *const want[UL_EV__COUNT] = {
	        "arrived",       "departed",        "re-enumerated",
	        "exported",      "unexported",      "imported",
	        "released",      "client-gone",     "import-refused",
	        "lease-taken",   "lease-renewed",   "lease-released",
	        "lease-expired", "config-reloaded", "config-rejected",
	        "error",         "power",           "attached",
	        "devfiles",      "server-gone",     "board-reenumerated",
	        "re-attached",   "detached",        "probed",
	};
	for (int k = 0; k < UL_EV__COUNT; k++) {
		assert_string_equal(ul_event_kind_name((enum ul_event_kind)k), want[k]);
		assert_int_equal(ul_event_kind_parse(want[k]), k);
	}
	assert_int_equal(ul_event_kind_parse("lease-taken"), UL_EV_LEASE_TAKEN);
	assert_int_equal(ul_event_kind_parse("config-rejected"), UL_EV_CONFIG_REJECTED);
}

static void test_kind_bad(void **state)
{
	(void)state;
	assert_null(ul_event_kind_name(UL_EV__COUNT));
	assert_null(ul_event_kind_name((enum ul_event_kind) - 1));
	assert_int_equal(ul_event_kind_parse(NULL), -1);
	assert_int_equal(ul_event_kind_parse(""), -1);
	assert_int_equal(ul_event_kind_parse("Arrived"), -1);
	assert_int_equal(ul_event_kind_parse("arrived "), -1);
	assert_int_equal(ul_event_kind_parse("lease"), -1);
}

static void test_format_time(void **state)
{
	(void)state;
	char out[32];
	ul_event_format_time(T0_MS, out, sizeof(out));
	assert_string_equal(out, "2026-12-03T13:14:04.123Z");
	assert_int_equal(strlen(out), 24); /* the header's "at least 25 bytes" */
	ul_event_format_time(0, out, sizeof(out));
	assert_string_equal(out, "1970-01-01T00:00:00.000Z");
	ul_event_format_time(-1, out, sizeof(out));
	assert_string_equal(out, "1969-12-31T23:59:59.999Z");
	/* 2024 is a leap year, 2100 is not, 2000 is. */
	ul_event_format_time(1709164800000LL, out, sizeof(out));
	assert_string_equal(out, "2024-02-29T00:00:00.000Z");
	ul_event_format_time(4107542400000LL, out, sizeof(out));
	assert_string_equal(out, "2100-03-01T00:00:00.000Z");
	ul_event_format_time(951782400000LL, out, sizeof(out));
	assert_string_equal(out, "2000-02-29T00:00:00.000Z");
	ul_event_format_time(253402300799999LL, out, sizeof(out));
	assert_string_equal(out, "9999-12-31T23:59:59.999Z");
}

/* Years past 9999 need more than 25 bytes: cut to the buffer, never past
 * it, and no overflow on the way (UBSan watches). */
static void test_format_time_extremes(void **state)
{
	(void)state;
	char out[25];
	ul_event_format_time(INT64_MAX, out, sizeof(out));
	assert_string_equal(out, "292278994-08-17T07:12:55");
	ul_event_format_time(INT64_MIN, out, sizeof(out));
	assert_int_equal(strlen(out), sizeof(out) - 1);
	assert_int_equal(out[0], '-');
	char wide[64];
	ul_event_format_time(INT64_MAX, wide, sizeof(wide));
	assert_string_equal(wide, "292278994-08-17T07:12:55.807Z");
	int64_t t;
	assert_int_equal(ul_event_parse_time("0000-01-01", 0, &t), 0);
	assert_int_equal(t, -62167219200000LL); /* `date -u -d 0000-01-01 +%s` */
}

static void test_format_time_short_buffer(void **state)
{
	(void)state;
	char out[25];
	memset(out, 'x', sizeof(out));
	ul_event_format_time(T0_MS, out, sizeof(out));
	assert_string_equal(out, "2026-12-03T13:14:04.123Z");
	char small[8];
	ul_event_format_time(T0_MS, small, sizeof(small));
	assert_string_equal(small, "2026-12"); /* truncated, NUL-terminated */
	ul_event_format_time(T0_MS, small, 0); /* must not write */
	assert_string_equal(small, "2026-12");
}

static void test_parse_absolute(void **state)
{
	(void)state;
	int64_t t = 0;
	assert_int_equal(ul_event_parse_time("2026-12-03T13:14:04.123Z", 0, &t), 0);
	assert_int_equal(t, T0_MS);
	assert_int_equal(ul_event_parse_time("2026-12-03T13:14:04Z", 0, &t), 0);
	assert_int_equal(t, T0_MS - 123);
	assert_int_equal(ul_event_parse_time("2026-12-03", 0, &t), 0);
	assert_int_equal(t, T0_MS - 123 - (13 * HOUR_MS + 14 * MIN_MS + 4000));
	assert_int_equal(ul_event_parse_time("1970-01-01T00:00:00Z", 5, &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(ul_event_parse_time("1969-12-31T23:59:59.999Z", 0, &t), 0);
	assert_int_equal(t, -1);
	assert_int_equal(ul_event_parse_time("2024-02-29", 0, &t), 0);
	assert_int_equal(t, 1709164800000LL);
	/* fractions of 1 to 9 digits; below a millisecond is dropped */
	assert_int_equal(ul_event_parse_time("2026-12-03T13:14:04.1Z", 0, &t), 0);
	assert_int_equal(t, T0_MS - 23);
	assert_int_equal(ul_event_parse_time("2026-12-03T13:14:04.123456789Z", 0, &t), 0);
	assert_int_equal(t, T0_MS);
}

static void test_parse_round_trip(void **state)
{
	(void)state;
	static const int64_t times[] = {
	        0, 1, 999, 1000, T0_MS, -1, -86400001LL, 951782399999LL, 253402300799999LL,
	};
	for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
		char out[32];
		int64_t back = 42;
		ul_event_format_time(times[i], out, sizeof(out));
		assert_int_equal(ul_event_parse_time(out, 0, &back), 0);
		assert_int_equal(back, times[i]);
	}
	/* every day of a leap year and of a common one, through text and back */
	for (int64_t d = 0; d < 2 * 366; d++) {
		int64_t ms = 1704067200000LL + d * DAY_MS + d * 1001; /* from 2024-01-01 */
		char out[32];
		int64_t back;
		ul_event_format_time(ms, out, sizeof(out));
		assert_int_equal(ul_event_parse_time(out, 0, &back), 0);
		assert_int_equal(back, ms);
	}
}

static void test_parse_relative(void **state)
{
	(void)state;
	int64_t t = 0;
	assert_int_equal(ul_event_parse_time("-10m", T0_MS, &t), 0);
	assert_int_equal(t, T0_MS - 10 * MIN_MS);
	assert_int_equal(ul_event_parse_time("-2h", T0_MS, &t), 0);
	assert_int_equal(t, T0_MS - 2 * HOUR_MS);
	assert_int_equal(ul_event_parse_time("-1d", T0_MS, &t), 0);
	assert_int_equal(t, T0_MS - DAY_MS);
	assert_int_equal(ul_event_parse_time("-30s", T0_MS, &t), 0);
	assert_int_equal(t, T0_MS - 30000);
	assert_int_equal(ul_event_parse_time("-0s", T0_MS, &t), 0);
	assert_int_equal(t, T0_MS);
	assert_int_equal(ul_event_parse_time("-365d", T0_MS, &t), 0);
	assert_int_equal(t, T0_MS - 365 * DAY_MS);
}

static void test_parse_bad(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "",
	        "now",
	        "2026-12-3",
	        "2026-12-03T",
	        "2026-12-03T13:14Z",
	        "2026-12-03T13:14:04",             /* no zone: local or UTC? refused */
	        "2026-12-03T13:14:04+01:00",       /* only Z */
	        "2026-12-03 13:14:04Z",            /* T, not a space */
	        "2026-12-03T13:14:04.Z",           /* a dot needs digits */
	        "2026-12-03T13:14:04.1234567890Z", /* 10 digits */
	        "2026-12-03T13:14:04ZZ",
	        "2026-12-03x",
	        "2026-13-01",
	        "2026-00-01",
	        "2026-02-29", /* not a leap year */
	        "2100-02-29", /* nor is 2100 */
	        "2026-04-31",
	        "2026-12-00",
	        "2026-12-03T24:00:00Z",
	        "2026-12-03T23:60:00Z",
	        "2026-12-03T23:59:60Z", /* no leap seconds in ms since the epoch */
	        "-",
	        "-m",
	        "-10",
	        "-10x",
	        "-10M",
	        "-10mm",
	        "10m",
	        "+10m",
	        "--10m",
	        "- 10m",
	        "-99999999999999999999d",
	        "-9223372036854775807d", /* overflows in milliseconds */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 77;
		if (ul_event_parse_time(bad[i], T0_MS, &t) != -1)
			fail_msg("'%s' parsed as %lld", bad[i], (long long)t);
		assert_int_equal(t, 77); /* untouched on error */
	}
	int64_t t;
	assert_int_equal(ul_event_parse_time(NULL, 0, &t), -1);
	assert_int_equal(ul_event_parse_time("2026-12-03", 0, NULL), -1);
	/* the boundary both ways: 29 Feb exists in 2024, leap second refused above */
	assert_int_equal(ul_event_parse_time("2024-02-29T23:59:59.999Z", 0, &t), 0);
	assert_int_equal(ul_event_parse_time("2024-02-30", 0, &t), -1);
	/* relative going below INT64_MIN */
	assert_int_equal(ul_event_parse_time("-1s", INT64_MIN + 999, &t), -1);
	assert_int_equal(ul_event_parse_time("-1s", INT64_MIN + 1000, &t), 0);
	assert_int_equal(t, INT64_MIN);
}

static void test_copy_field(void **state)
{
	(void)state;
	char f[8];
	memset(f, 'x', sizeof(f));
	UL_COPY(f, "abc");
	assert_string_equal(f, "abc");
	UL_COPY(f, "1234567"); /* 7 characters fit exactly */
	assert_string_equal(f, "1234567");
	UL_COPY(f, "12345678"); /* 8 do not: truncated, terminated */
	assert_string_equal(f, "1234567");
	UL_COPY(f, NULL);
	assert_string_equal(f, "");
	ul_copy_field(f, 1, "abc");
	assert_string_equal(f, "");
	f[0] = 'q';
	ul_copy_field(f, 0, "abc"); /* no room: nothing written */
	assert_int_equal(f[0], 'q');
}

static void test_copy_field_utf8(void **state)
{
	(void)state;
	char f[6];
	/* "abcd" + "é" (2 bytes) is 6 bytes: the é would be cut, so it goes */
	UL_COPY(f, "abcd\xc3\xa9");
	assert_string_equal(f, "abcd");
	/* "abc" + "é" is 5 bytes: fits */
	UL_COPY(f, "abc\xc3\xa9");
	assert_string_equal(f, "abc\xc3\xa9");
	/* a 3-byte "€" cut after its first or second byte */
	UL_COPY(f, "abcd\xe2\x82\xac");
	assert_string_equal(f, "abcd");
	UL_COPY(f, "abc\xe2\x82\xac!");
	assert_string_equal(f, "abc");
	UL_COPY(f, "ab\xe2\x82\xac!!");
	assert_string_equal(f, "ab\xe2\x82\xac");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_kind_names),
	        cmocka_unit_test(test_kind_bad),
	        cmocka_unit_test(test_format_time),
	        cmocka_unit_test(test_format_time_extremes),
	        cmocka_unit_test(test_format_time_short_buffer),
	        cmocka_unit_test(test_parse_absolute),
	        cmocka_unit_test(test_parse_round_trip),
	        cmocka_unit_test(test_parse_relative),
	        cmocka_unit_test(test_parse_bad),
	        cmocka_unit_test(test_copy_field),
	        cmocka_unit_test(test_copy_field_utf8),
	};
	return cmocka_run_group_tests_name("bench-event", tests, NULL, NULL);
}
