/* SPDX-License-Identifier: MIT */
/*
 * event.c - event kind names, the one time format usblab prints and parses,
 * and the fixed-size field copy every event producer uses.
 */
#include "event.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Stored in the database and printed: never rename one. */
static const char *const kind_names[UL_EV__COUNT] = {
        [UL_EV_ARRIVED] = "arrived",
        [UL_EV_DEPARTED] = "departed",
        [UL_EV_REENUMERATED] = "re-enumerated",
        [UL_EV_EXPORTED] = "exported",
        [UL_EV_UNEXPORTED] = "unexported",
        [UL_EV_IMPORTED] = "imported",
        [UL_EV_RELEASED] = "released",
        [UL_EV_CLIENT_GONE] = "client-gone",
        [UL_EV_IMPORT_REFUSED] = "import-refused",
        [UL_EV_LEASE_TAKEN] = "lease-taken",
        [UL_EV_LEASE_RENEWED] = "lease-renewed",
        [UL_EV_LEASE_RELEASED] = "lease-released",
        [UL_EV_LEASE_EXPIRED] = "lease-expired",
        [UL_EV_CONFIG_RELOADED] = "config-reloaded",
        [UL_EV_CONFIG_REJECTED] = "config-rejected",
        [UL_EV_ERROR] = "error",
        [UL_EV_POWER] = "power",
        [UL_EV_ATTACHED] = "attached",
        [UL_EV_DEVFILES] = "devfiles",
        [UL_EV_SERVER_GONE] = "server-gone",
        [UL_EV_BOARD_REENUMERATED] = "board-reenumerated",
        [UL_EV_REATTACHED] = "re-attached",
        [UL_EV_DETACHED] = "detached",
        [UL_EV_PROBED] = "probed",
};

const char *ul_event_kind_name(enum ul_event_kind kind)
{
	if ((int)kind < 0 || kind >= UL_EV__COUNT)
		return NULL;
	return kind_names[kind];
}

int ul_event_kind_parse(const char *name)
{
	if (!name)
		return -1;
	for (int k = 0; k < UL_EV__COUNT; k++)
		if (strcmp(kind_names[k], name) == 0)
			return k;
	return -1;
}

#define MS_PER_DAY 86400000LL

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil): exact for every year, and independent of TZ, which
 * timegm/mktime would consult or need. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

/* The inverse: y, m, d of a day number. */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void ul_event_format_time(int64_t time_ms, char *out, size_t cap)
{
	if (!out || cap == 0)
		return;
	/* Floor division, so times before 1970 print as the calendar does. */
	int64_t days = time_ms / MS_PER_DAY;
	int64_t rem = time_ms % MS_PER_DAY;
	if (rem < 0) {
		rem += MS_PER_DAY;
		days--;
	}
	int64_t y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	unsigned ms = (unsigned)(rem % 1000), s = (unsigned)(rem / 1000);
	snprintf(out, cap, "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)y, m, d, s / 3600,
	         s / 60 % 60, s % 60, ms);
}

/* Reads exactly n decimal digits at *p into *v and advances *p. */
static bool read_digits(const char **p, int n, unsigned *v)
{
	unsigned x = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		x = x * 10 + (unsigned)(c - '0');
	}
	*p += n;
	*v = x;
	return true;
}

static bool is_leap(unsigned y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned char dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* "-10m" and friends: a count of seconds, minutes, hours or days before now. */
static int parse_relative(const char *p, int64_t now_ms, int64_t *out)
{
	int64_t n = 0;
	const char *start = ++p;
	while (*p >= '0' && *p <= '9') {
		if (n > (INT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*p++ - '0');
	}
	if (p == start || *p == '\0' || p[1] != '\0')
		return -1;
	int64_t unit;
	switch (*p) {
	case 's':
		unit = 1000;
		break;
	case 'm':
		unit = 60 * 1000;
		break;
	case 'h':
		unit = 3600 * 1000;
		break;
	case 'd':
		unit = MS_PER_DAY;
		break;
	default:
		return -1;
	}
	if (n > INT64_MAX / unit)
		return -1;
	int64_t back = n * unit;
	if (now_ms < INT64_MIN + back)
		return -1;
	*out = now_ms - back;
	return 0;
}

int ul_event_parse_time(const char *text, int64_t now_ms, int64_t *out)
{
	if (!text || !out)
		return -1;
	if (text[0] == '-')
		return parse_relative(text, now_ms, out);

	const char *p = text;
	unsigned y, mo, d, h = 0, mi = 0, s = 0, ms = 0;
	if (!read_digits(&p, 4, &y) || *p++ != '-' || !read_digits(&p, 2, &mo) || *p++ != '-' ||
	    !read_digits(&p, 2, &d))
		return -1;
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return -1;
	if (*p != '\0') {
		if (*p++ != 'T' || !read_digits(&p, 2, &h) || *p++ != ':' ||
		    !read_digits(&p, 2, &mi) || *p++ != ':' || !read_digits(&p, 2, &s))
			return -1;
		if (h > 23 || mi > 59 || s > 59)
			return -1;
		if (*p == '.') {
			/* 1 to 9 digits; what is below a millisecond is dropped. */
			int nd = 0;
			unsigned scale = 100;
			for (p++; *p >= '0' && *p <= '9'; p++, nd++) {
				ms += (unsigned)(*p - '0') * scale;
				scale /= 10;
			}
			if (nd < 1 || nd > 9)
				return -1;
		}
		if (*p++ != 'Z' || *p != '\0')
			return -1;
	}
	int64_t days = days_from_civil(y, mo, d);
	*out = days * MS_PER_DAY + (int64_t)(h * 3600 + mi * 60 + s) * 1000 + ms;
	return 0;
}

void ul_copy_field(char *dst, size_t cap, const char *src)
{
	if (!dst || cap == 0)
		return;
	if (!src)
		src = "";
	size_t n = strnlen(src, cap);
	if (n == cap) {
		/* Truncated: never cut a UTF-8 sequence, so a field stays valid
		 * UTF-8 for the JSON the API writes. Back off continuation
		 * bytes (10xxxxxx) to the lead byte of the sequence cut. */
		n = cap - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}
