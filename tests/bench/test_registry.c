/* SPDX-License-Identifier: MIT */
/*
 * test_registry.c - devices.conf: every error with its exact "file:line:
 * message", the flat form, identity sections, comments and indentation,
 * normalisation of vidpid/mac/port, every length limit both ways, match
 * precedence, files (missing, a directory, a NUL byte), and a realistic
 * bench of ten boards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "registry.h"

/* Parses text as "t.conf" and expects success. */
static void parse_ok(const char *text, struct registry *r)
{
	char err[512] = "";
	int rc = registry_parse_string(text, "t.conf", r, err, sizeof(err));
	if (rc != 0)
		fail_msg("refused: %s\n--- text:\n%s", err, text);
	assert_string_equal(err, "");
}

/* Parses text as "t.conf" and expects exactly the error want. */
static void parse_err(const char *text, const char *want)
{
	struct registry r;
	char err[512] = "";
	int rc = registry_parse_string(text, "t.conf", &r, err, sizeof(err));
	if (rc != -1)
		fail_msg("accepted, want: %s\n--- text:\n%s", want, text);
	if (strcmp(err, want) != 0)
		fail_msg("message\n  got:  %s\n  want: %s\n--- text:\n%s", err, want, text);
	/* "leaving *out empty" */
	assert_int_equal(r.n, 0);
	assert_null(r.boards);
	registry_free(&r);
}

static char *repeat(char c, size_t n)
{
	char *s = malloc(n + 1);
	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/* ---- the accepted forms ----------------------------------------------------------- */

static void test_flat_form(void **state)
{
	(void)state;
	struct registry r;
	parse_ok("# the bench in the lab\n"
	         "; another comment\n"
	         "esp-a = 3C:61:05:AA:BB:CC\n"
	         "esp-b=XYZ-1 # a trailing comment\n"
	         "\n"
	         "pico.w_2+ = E6614104 ; and the other kind\n",
	         &r);
	assert_int_equal(r.n, 3);
	assert_string_equal(r.path, "t.conf");
	const struct reg_board *b = registry_find(&r, "esp-a");
	assert_non_null(b);
	assert_int_equal(b->nids, 1);
	assert_int_equal(b->ids[0].mode, REG_MODE_APP);
	/* a serial is kept as written, colons and capitals */
	assert_string_equal(b->ids[0].serial, "3C:61:05:AA:BB:CC");
	assert_false(b->ids[0].has_vidpid);
	assert_string_equal(b->ids[0].port, "");
	assert_true(b->export_);
	assert_int_equal(b->line, 3);
	assert_string_equal(registry_find(&r, "esp-b")->ids[0].serial, "XYZ-1");
	assert_string_equal(registry_find(&r, "pico.w_2+")->ids[0].serial, "E6614104");
	assert_int_equal(registry_find(&r, "pico.w_2+")->line, 6);
	assert_null(registry_find(&r, "ESP-A")); /* registry_find is exact */
	registry_free(&r);
}

static void test_sections(void **state)
{
	(void)state;
	struct registry r;
	parse_ok("esp-a = 3C6105AABBCC\n"
	         "\n"
	         "[mpcb-1.9]\n"
	         "serial = 3C6105AABBCC\n"
	         "vidpid = 303a:1001\n"
	         "port   = 1-4.2\n"
	         "mac    = 3c:61:05:aa:bb:cd\n"
	         "type   = esp32\n"
	         "chip   = ESP32-S3\n"
	         "notes  = left shelf, rev B\n"
	         "export = no\n"
	         "hub_name = MPCB 1.9\n"
	         "\n"
	         "[mpcb-1.9:rom]\n"
	         "vidpid = 303a:0002\n"
	         "[mpcb-1.9:dfu]\n"
	         "vidpid = 303a:0003\n"
	         "port = 1-4.2\n"
	         "[esp-a:rom]\n"
	         "vidpid = 303a:0002\n"
	         "port = 1-3\n",
	         &r);
	assert_int_equal(r.n, 2);
	const struct reg_board *b = registry_find(&r, "mpcb-1.9");
	assert_non_null(b);
	assert_int_equal(b->line, 3);
	assert_string_equal(b->type, "esp32");
	assert_string_equal(b->chip, "ESP32-S3");
	assert_string_equal(b->notes, "left shelf, rev B");
	assert_string_equal(b->hub_name, "MPCB 1.9");
	assert_false(b->export_);
	assert_int_equal(b->nids, 3);
	assert_int_equal(b->ids[0].mode, REG_MODE_APP);
	assert_string_equal(b->ids[0].serial, "3C6105AABBCC");
	assert_true(b->ids[0].has_vidpid);
	assert_int_equal(b->ids[0].vid, 0x303a);
	assert_int_equal(b->ids[0].pid, 0x1001);
	assert_string_equal(b->ids[0].port, "1-4.2");
	assert_string_equal(b->ids[0].mac, "3c:61:05:aa:bb:cd");
	assert_int_equal(b->ids[1].mode, REG_MODE_ROM);
	assert_int_equal(b->ids[1].pid, 0x0002);
	assert_string_equal(b->ids[1].serial, "");
	assert_string_equal(b->ids[1].port, "");
	assert_int_equal(b->ids[2].mode, REG_MODE_DFU);
	assert_int_equal(b->ids[2].pid, 0x0003);
	assert_string_equal(b->ids[2].port, "1-4.2");
	/* an identity section for a board of the flat form */
	const struct reg_board *a = registry_find(&r, "esp-a");
	assert_int_equal(a->nids, 2);
	assert_int_equal(a->ids[1].mode, REG_MODE_ROM);
	assert_string_equal(a->ids[1].port, "1-3");
	assert_true(a->export_);
	assert_string_equal(a->type, "");
	registry_free(&r);
	registry_free(&r); /* twice is harmless */
	assert_int_equal(r.n, 0);
}

static void test_comments_and_layout(void **state)
{
	(void)state;
	struct registry r;
	/* indented keys are keys (inih would take them for a continuation of
	 * the previous value), CRLF, a BOM, tabs, comments everywhere */
	parse_ok("\xEF\xBB\xBF# bench\r\n"
	         "  [a]   # the first\r\n"
	         "\tserial = S#1\r\n"
	         "    vidpid = 1:2 ; inline\r\n"
	         "  notes = shelf 2;top\t# the '#' and ';' without a blank before stay\r\n"
	         "\t# indented comment\r\n"
	         "   ; another\r\n"
	         "type=esp32\r\n"
	         "[b] ;c\n"
	         "port=3-1",
	         &r);
	assert_int_equal(r.n, 2);
	const struct reg_board *a = registry_find(&r, "a");
	assert_string_equal(a->ids[0].serial, "S#1");
	assert_int_equal(a->ids[0].vid, 1);
	assert_int_equal(a->ids[0].pid, 2);
	assert_string_equal(a->notes, "shelf 2;top");
	assert_string_equal(a->type, "esp32");
	assert_string_equal(registry_find(&r, "b")->ids[0].port, "3-1");
	registry_free(&r);

	/* nothing but comments and blanks: an empty registry */
	parse_ok("# nothing\n\n   \n; yet\n", &r);
	assert_int_equal(r.n, 0);
	registry_free(&r);
	parse_ok("", &r);
	assert_int_equal(r.n, 0);
	registry_free(&r);
}

static void test_normalise(void **state)
{
	(void)state;
	struct registry r;
	parse_ok("[a]\nvidpid = 303A:BEEF\nmac = 3C-61-05-AA-BB-CC\nport = 01-04.002\n"
	         "[b]\nvidpid = 1:0\nmac = 3C6105aabbcc\nport = 255-255.255\n"
	         "[c]\nvidpid = ffff:FFFF\nmac = 3C:61:05:AA:BB:CC\n"
	         "[d]\nexport = YES\nserial = x\n"
	         "[e]\nexport = No\nserial = y\n",
	         &r);
	const struct reg_board *a = registry_find(&r, "a"), *b = registry_find(&r, "b");
	const struct reg_board *c = registry_find(&r, "c");
	assert_int_equal(a->ids[0].vid, 0x303a);
	assert_int_equal(a->ids[0].pid, 0xbeef);
	assert_string_equal(a->ids[0].mac, "3c:61:05:aa:bb:cc");
	assert_string_equal(a->ids[0].port, "1-4.2");
	assert_int_equal(b->ids[0].vid, 1);
	assert_int_equal(b->ids[0].pid, 0);
	assert_true(b->ids[0].has_vidpid);
	assert_string_equal(b->ids[0].mac, "3c:61:05:aa:bb:cc");
	assert_string_equal(b->ids[0].port, "255-255.255");
	assert_int_equal(c->ids[0].vid, 0xffff);
	assert_int_equal(c->ids[0].pid, 0xffff);
	assert_string_equal(c->ids[0].mac, "3c:61:05:aa:bb:cc");
	assert_true(registry_find(&r, "d")->export_);
	assert_false(registry_find(&r, "e")->export_);
	registry_free(&r);
}

static void test_mode_names(void **state)
{
	(void)state;
	assert_string_equal(reg_mode_name(REG_MODE_APP), "app");
	assert_string_equal(reg_mode_name(REG_MODE_ROM), "rom");
	assert_string_equal(reg_mode_name(REG_MODE_DFU), "dfu");
	assert_string_equal(reg_mode_name((enum reg_mode)9), "?");
}

/* ---- every error, with its message ------------------------------------------------- */

static void test_err_unknown_key(void **state)
{
	(void)state;
	parse_err("[a]\nserial = X\ncolour = red\n",
	          "t.conf:3: unknown key 'colour' in [a]: want serial, vidpid, port, mac, type, "
	          "chip, notes, export or hub_name");
	parse_err("[a]\nserial = X\nSerial = Y\n",
	          "t.conf:3: unknown key 'Serial' in [a]: want serial, vidpid, port, mac, type, "
	          "chip, notes, export or hub_name");
	parse_err("[a]\nserial = X\n[a:rom]\nfoo = 1\n",
	          "t.conf:4: unknown key 'foo' in [a:rom]: want serial, vidpid, port or mac");
	parse_err("[a]\nserial = X\n[a:rom]\ntype = esp32\n",
	          "t.conf:4: 'type' belongs in [a]: [a:rom] takes only identity keys: serial, "
	          "vidpid, port or mac");
	parse_err("[a]\nserial = X\n[a:dfu]\nvidpid=1:2\nexport = no\n",
	          "t.conf:5: 'export' belongs in [a]: [a:dfu] takes only identity keys: serial, "
	          "vidpid, port or mac");
	/* a flat line after a section is a key of that section */
	parse_err("[a]\nserial = X\nesp-b = Y\n",
	          "t.conf:3: unknown key 'esp-b' in [a]: want serial, vidpid, port, mac, type, "
	          "chip, notes, export or hub_name");
	/* and a key before any section is no board name */
	parse_err("serial = X\n[a]\n",
	          "t.conf:1: 'serial' comes before any [NAME] section: put it under the board's "
	          "[NAME] (only NAME = SERIAL lines may come first)");
}

/* Each of bad[] as "KEY = VALUE" on line 2 is refused with "bad KEY
 * 'VALUE': why". */
static void refuse_values(const char *key, const char *const *bad, size_t n, const char *why)
{
	for (size_t i = 0; i < n; i++) {
		char text[128], want[512];
		snprintf(text, sizeof(text), "[a]\n%s = %s\n", key, bad[i]);
		snprintf(want, sizeof(want), "t.conf:2: bad %s '%s': %s", key, bad[i], why);
		parse_err(text, want);
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void test_err_vidpid(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "303a",       "303a:",     ":1001",       "303a:1001:1", "303a-1001", "3030a:1001",
	        "303a:10010", "g03a:1001", "0x303a:1001", "303a :1001",  "",
	};
	refuse_values("vidpid", bad, N(bad), "want VID:PID in hex, e.g. 303a:1001");
}

static void test_err_names(void **state)
{
	(void)state;
	parse_err("[esp a]\nserial = 1\n",
	          "t.conf:1: bad board name 'esp a': want 1 to 63 characters of A-Z a-z 0-9 . _ "
	          "+ -");
	parse_err("[]\n", "t.conf:1: bad board name '': want 1 to 63 characters of A-Z a-z 0-9 . "
	                  "_ + -");
	parse_err("esp/a = 1\n", "t.conf:1: bad board name 'esp/a': want 1 to 63 characters of "
	                         "A-Z a-z 0-9 . _ + -");
	parse_err("# x\n[a]\nserial=1\n[caf\xc3\xa9]\nserial=2\n",
	          "t.conf:4: bad board name 'caf\xc3\xa9': want 1 to 63 characters of A-Z a-z "
	          "0-9 . _ + -");

	/* 63 characters are a name, 64 are not: in a section and in the flat form */
	char *n63 = repeat('n', 63), *n64 = repeat('n', 64);
	char text[512], want[512];
	struct registry r;
	snprintf(text, sizeof(text), "[%s]\nserial = 1\n[%s:rom]\nport=1-1\n", n63, n63);
	parse_ok(text, &r);
	assert_non_null(registry_find(&r, n63));
	assert_int_equal(registry_find(&r, n63)->nids, 2);
	registry_free(&r);
	snprintf(text, sizeof(text), "%s = 1\n", n63);
	parse_ok(text, &r);
	assert_int_equal(r.n, 1);
	registry_free(&r);
	snprintf(text, sizeof(text), "[%s]\nserial = 1\n", n64);
	snprintf(want, sizeof(want),
	         "t.conf:1: bad board name '%s': want 1 to 63 characters of A-Z a-z 0-9 . _ + -",
	         n64);
	parse_err(text, want);
	snprintf(text, sizeof(text), "%s = 1\n", n64);
	parse_err(text, want);
	/* a header too long to be read as a name at all: 127 inside is still
	 * a (bad) name, 128 is a bad section */
	char *n127 = repeat('n', 127), *n128 = repeat('n', 128);
	snprintf(text, sizeof(text), "[%s]\n", n127);
	snprintf(want, sizeof(want),
	         "t.conf:1: bad board name '%s': want 1 to 63 characters of A-Z a-z 0-9 . _ + -",
	         n127);
	parse_err(text, want);
	snprintf(text, sizeof(text), "[%s]\n", n128);
	snprintf(want, sizeof(want), "t.conf:1: bad section [%s]: want [NAME] or [NAME:MODE]",
	         n128);
	parse_err(text, want);
	free(n127);
	free(n128);
	free(n63);
	free(n64);
}

static void test_err_duplicate_board(void **state)
{
	(void)state;
	parse_err("[a]\nserial = 1\n\n[a]\nserial = 2\n",
	          "t.conf:4: duplicate board 'a' (first defined on line 1)");
	parse_err("x = 1\ny = 2\nx = 3\n",
	          "t.conf:3: duplicate board 'x' (first defined on line 1)");
	parse_err("x = 1\n[x]\nport = 1-1\n",
	          "t.conf:2: duplicate board 'x' (first defined on line 1)");
	parse_err("[Esp-A]\nserial = 1\n[esp-a]\nserial = 2\n",
	          "t.conf:3: board 'esp-a' differs from 'Esp-A' (line 1) only in case: names are "
	          "matched without case, give it another name");
}

static void test_err_identity_sections(void **state)
{
	(void)state;
	parse_err("[b:rom]\nvidpid = 1:2\n",
	          "t.conf:1: [b:rom] is an identity of an unknown board: define [b] above it");
	parse_err("[a]\nserial=1\n[b:rom]\nvidpid = 1:2\n[b]\nserial=2\n",
	          "t.conf:3: [b:rom] is an identity of an unknown board: define [b] above it");
	parse_err("[a]\nserial=1\n[a:boot]\nvidpid = 1:2\n",
	          "t.conf:3: unknown mode 'boot' in [a:boot]: want app, rom or dfu");
	parse_err("[a]\nserial=1\n[a:ROM]\nvidpid = 1:2\n",
	          "t.conf:3: unknown mode 'ROM' in [a:ROM]: want app, rom or dfu");
	parse_err("[a]\nserial=1\n[a:]\nvidpid = 1:2\n",
	          "t.conf:3: unknown mode '' in [a:]: want app, rom or dfu");
	parse_err("[a]\nserial=1\n[a:rom:x]\nvidpid = 1:2\n",
	          "t.conf:3: unknown mode 'rom:x' in [a:rom:x]: want app, rom or dfu");
}

static void test_err_no_identity(void **state)
{
	(void)state;
	parse_err(
	        "[a]\ntype = esp32\nnotes = x\n",
	        "t.conf:1: [a] has no identity: give at least one of serial, vidpid, port or mac");
	parse_err("[a]\n", "t.conf:1: [a] has no identity: give at least one of serial, vidpid, "
	                   "port or mac");
	parse_err("[a]\nserial = 1\n# x\n[a:rom]\n\n[b]\nserial = 2\n",
	          "t.conf:4: [a:rom] has no identity: give at least one of serial, vidpid, port or "
	          "mac");
	parse_err("[a]\nserial = 1\n[a:rom]\n",
	          "t.conf:3: [a:rom] has no identity: give at least one of serial, vidpid, port or "
	          "mac");
	parse_err("[a]\nserial =\n", "t.conf:2: serial is empty: want the device's serial number");
	parse_err("a =\n", "t.conf:1: serial is empty: want the device's serial number");
	parse_err("a = # only a comment\n",
	          "t.conf:1: serial is empty: want the device's serial number");
}

static void test_err_too_many_identities(void **state)
{
	(void)state;
	struct registry r;
	/* REG_MAX_IDENTS (4) counting [a]: three more sections are fine */
	parse_ok("[a]\nserial=1\n[a:rom]\nport=1-1\n[a:dfu]\nport=1-2\n[a:app]\nport=1-3\n", &r);
	assert_int_equal(registry_find(&r, "a")->nids, REG_MAX_IDENTS);
	assert_int_equal(registry_find(&r, "a")->ids[3].mode, REG_MODE_APP);
	registry_free(&r);
	parse_err("[a]\nserial=1\n[a:rom]\nport=1-1\n[a:dfu]\nport=1-2\n[a:app]\nport=1-3\n"
	          "[a:rom]\nport=1-4\n",
	          "t.conf:9: board 'a' has too many identities: at most 4, counting [a] itself");
}

static void test_err_export(void **state)
{
	(void)state;
	parse_err("[a]\nserial = 1\nexport = maybe\n",
	          "t.conf:3: export must be yes or no, not 'maybe'");
	parse_err("[a]\nserial = 1\nexport = 1\n", "t.conf:3: export must be yes or no, not '1'");
	parse_err("[a]\nserial = 1\nexport =\n", "t.conf:3: export must be yes or no, not ''");
}

static void test_err_port(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "1",       "1-",
	        "-1",      "1.4",
	        "1-4.",    "1-4..2",
	        "1-4.2-3", "a-1",
	        "1-0",     "0-1",
	        "1-256",   "256-1",
	        "1 -4",    "1-4.2x",
	        "",        "1-1.1.1.1.1.1.1.1.1.1.1.1.1.1.1.1", /* 33 characters */
	};
	refuse_values("port", bad, N(bad),
	              "want a USB port path BUS-PORT[.PORT...] (numbers 1 to 255, at most 31 "
	              "characters), e.g. 1-4.2");
	/* 31 characters fit */
	struct registry r;
	parse_ok("[a]\nport = 1-1.1.1.1.1.1.1.1.1.1.1.1.1.1.1\n", &r);
	assert_int_equal(strlen(registry_find(&r, "a")->ids[0].port), 31);
	registry_free(&r);
}

static void test_err_mac(void **state)
{
	(void)state;
	static const char *const bad[] = {
	        "3c:61:05:aa:bb",     "3c:61:05:aa:bb:cc:dd",
	        "3c:61-05:aa:bb:cc",  "3c.61.05.aa.bb.cc",
	        "3c6105aabbc",        "3c6105aabbccd",
	        "3g:61:05:aa:bb:cc",  "3c:61:05:aa:bb:c",
	        "3c:61:05:aa:bb:ccc", "",
	};
	refuse_values("mac", bad, N(bad),
	              "want six hex bytes, e.g. 3c:61:05:aa:bb:cc (':' or '-' between them, or "
	              "nothing)");
}

static void test_err_duplicate_key(void **state)
{
	(void)state;
	parse_err("[a]\nserial = 1\nport = 1-1\nserial = 2\n",
	          "t.conf:4: serial is set twice in [a] (first on line 2)");
	parse_err("[a]\nserial = 1\n[a:rom]\nvidpid=1:2\nvidpid=1:3\n",
	          "t.conf:5: vidpid is set twice in [a:rom] (first on line 4)");
	/* the same key in another section is no repeat */
	struct registry r;
	parse_ok("[a]\nvidpid = 1:2\n[a:rom]\nvidpid=1:3\n[b]\nvidpid=1:4\n", &r);
	registry_free(&r);
}

static void test_err_syntax(void **state)
{
	(void)state;
	parse_err("[a]\nserial\n", "t.conf:2: want KEY = VALUE, [NAME] or a comment");
	parse_err("[a]\n= 1\n", "t.conf:2: want KEY = VALUE, [NAME] or a comment");
	parse_err("[a]\nmac: 3c:61:05:aa:bb:cc\n",
	          "t.conf:2: want KEY = VALUE, [NAME] or a comment");
	parse_err("[a]\nserial = 1\n[b\n",
	          "t.conf:3: want [NAME] or [NAME:MODE] alone on the line");
	parse_err("[a] serial = 1\n", "t.conf:1: want [NAME] or [NAME:MODE] alone on the line");
	parse_err("[\n", "t.conf:1: want [NAME] or [NAME:MODE] alone on the line");
	/* the first error wins: line 2's, not line 4's */
	parse_err("[a]\ncolour = red\n[b]\nnope\n",
	          "t.conf:2: unknown key 'colour' in [a]: want serial, vidpid, port, mac, type, "
	          "chip, notes, export or hub_name");
}

static void test_err_lengths(void **state)
{
	(void)state;
	struct {
		const char *key;
		size_t max;
	} fields[] = {{"serial", 63}, {"chip", 31}, {"hub_name", 31}};
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		char text[256], want[128];
		char *ok = repeat('x', fields[i].max), *over = repeat('x', fields[i].max + 1);
		struct registry r;
		snprintf(text, sizeof(text), "[a]\nport = 1-1\n%s = %s\n", fields[i].key, ok);
		parse_ok(text, &r);
		registry_free(&r);
		snprintf(text, sizeof(text), "[a]\nport = 1-1\n%s = %s\n", fields[i].key, over);
		snprintf(want, sizeof(want), "t.conf:3: %s is longer than %zu characters",
		         fields[i].key, fields[i].max);
		parse_err(text, want);
		free(ok);
		free(over);
	}
	/* type: one word of up to 31 (it may name a file under types.d/) */
	struct registry r;
	parse_ok("[a]\nserial=1\ntype = rp2040+pio_v1.2\n", &r);
	assert_string_equal(registry_find(&r, "a")->type, "rp2040+pio_v1.2");
	registry_free(&r);
	char *t31 = repeat('t', 31), *t32 = repeat('t', 32), text[128];
	snprintf(text, sizeof(text), "[a]\nserial=1\ntype = %s\n", t31);
	parse_ok(text, &r);
	registry_free(&r);
	const char *const bad[] = {"esp 32", "../x", "esp32/s3", t32};
	refuse_values("type", bad, N(bad),
	              "want one word of at most 31 characters of A-Z a-z 0-9 . _ + -, e.g. esp32");
	free(t31);
	free(t32);
}

/* inih reads a line into a fixed 200-byte buffer: 197 characters, without
 * indentation and comments, fit; 198 are refused with a message rather
 * than cut in two. */
static void test_err_line_length(void **state)
{
	(void)state;
	char text[600];
	struct registry r;
	char *v189 = repeat('v', 189), *v190 = repeat('v', 190);
	/* "notes = " is 8 characters */
	snprintf(text, sizeof(text), "[a]\nserial=1\n   notes = %s   # comment\n", v189);
	parse_ok(text, &r);
	assert_int_equal(strlen(registry_find(&r, "a")->notes), 189);
	registry_free(&r);
	snprintf(text, sizeof(text), "[a]\nserial=1\nnotes = %s\n", v190);
	parse_err(text, "t.conf:3: line too long: at most 197 characters, without comments");
	free(v189);
	free(v190);
}

/* ---- matching ------------------------------------------------------------------ */

static const char *const match_conf = "[a]\n"
                                      "vidpid = 303a:1001\n"
                                      "[b]\n"
                                      "vidpid = 303a:1001\n"
                                      "port = 1-4.2\n"
                                      "[c]\n"
                                      "serial = S1\n"
                                      "[c:rom]\n"
                                      "vidpid = 303a:0002\n"
                                      "port = 1-4.3\n"
                                      "[d]\n"
                                      "vidpid = 303a:1001\n"
                                      "[e]\n"
                                      "mac = 3c:61:05:aa:bb:cc\n"
                                      "[e:dfu]\n"
                                      "mac = 3c:61:05:aa:bb:cc\n"
                                      "vidpid = 303a:0003\n";

static struct ul_devfacts dev(uint16_t vid, uint16_t pid, const char *serial, const char *port,
                              const char *mac)
{
	struct ul_devfacts d;
	memset(&d, 0, sizeof(d));
	d.vid = vid;
	d.pid = pid;
	UL_COPY(d.serial, serial);
	UL_COPY(d.port, port);
	UL_COPY(d.mac, mac);
	return d;
}

static const char *match_name(const struct registry *r, struct ul_devfacts d, enum reg_mode *mode)
{
	const struct reg_board *b = registry_match(r, &d, mode);
	return b ? b->name : "(none)";
}

static void test_match(void **state)
{
	(void)state;
	struct registry r;
	parse_ok(match_conf, &r);
	enum reg_mode mode = REG_MODE_DFU;
	/* two fields beat one */
	assert_string_equal(match_name(&r, dev(0x303a, 0x1001, "", "1-4.2", ""), &mode), "b");
	assert_int_equal(mode, REG_MODE_APP);
	/* a and d tie on one field: the earlier, a */
	assert_string_equal(match_name(&r, dev(0x303a, 0x1001, "", "1-9", ""), &mode), "a");
	/* an identity section, and its mode */
	mode = REG_MODE_APP;
	assert_string_equal(match_name(&r, dev(0x303a, 0x0002, "", "1-4.3", ""), &mode), "c");
	assert_int_equal(mode, REG_MODE_ROM);
	/* every set field must match: right vidpid, wrong port */
	assert_string_equal(match_name(&r, dev(0x303a, 0x0002, "", "1-4.4", ""), NULL), "(none)");
	/* serial exactly, case included */
	assert_string_equal(match_name(&r, dev(1, 1, "S1", "", ""), &mode), "c");
	assert_int_equal(mode, REG_MODE_APP);
	assert_string_equal(match_name(&r, dev(1, 1, "s1", "", ""), NULL), "(none)");
	assert_string_equal(match_name(&r, dev(1, 1, "S1x", "", ""), NULL), "(none)");
	/* S1 (1 field in c) loses to b's two fields */
	assert_string_equal(match_name(&r, dev(0x303a, 0x1001, "S1", "1-4.2", ""), NULL), "b");
	/* the mac compares without case; e:dfu's two fields beat e's one */
	assert_string_equal(match_name(&r, dev(9, 9, "", "", "3C:61:05:AA:BB:CC"), &mode), "e");
	assert_int_equal(mode, REG_MODE_APP);
	assert_string_equal(match_name(&r, dev(0x303a, 3, "", "", "3c:61:05:aa:bb:cc"), &mode),
	                    "e");
	assert_int_equal(mode, REG_MODE_DFU);
	/* nothing, and mode is left alone */
	mode = REG_MODE_ROM;
	assert_string_equal(match_name(&r, dev(0, 0, "", "", ""), &mode), "(none)");
	assert_int_equal(mode, REG_MODE_ROM);
	assert_null(registry_match(&r, NULL, NULL));
	assert_null(registry_match(NULL, NULL, NULL));
	registry_free(&r);
}

/* A virtual device has no port: an identity with a port never matches it. */
static void test_match_port_needs_port(void **state)
{
	(void)state;
	struct registry r;
	parse_ok("[p]\nvidpid = 1:2\nport = 1-1\n", &r);
	assert_string_equal(match_name(&r, dev(1, 2, "", "", ""), NULL), "(none)");
	assert_string_equal(match_name(&r, dev(1, 2, "", "1-1", ""), NULL), "p");
	assert_string_equal(match_name(&r, dev(1, 2, "", "1-1.1", ""), NULL), "(none)");
	registry_free(&r);
}

/* ---- files ------------------------------------------------------------------- */

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void test_file_missing_and_bad(void **state)
{
	(void)state;
	char dir[] = "/tmp/ul-reg-XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128], err[256];
	struct registry r;

	snprintf(path, sizeof(path), "%s/devices.conf", dir);
	assert_int_equal(registry_load_file(path, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 0);
	assert_string_equal(r.path, path);
	registry_free(&r);

	/* a directory */
	char want[256];
	assert_int_equal(registry_load_file(dir, &r, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: cannot read it: Is a directory", dir);
	assert_string_equal(err, want);

	/* a NUL byte in the middle of line 2 */
	write_file(path, "[a]\nseri\0al = 1\n", 16);
	assert_int_equal(registry_load_file(path, &r, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:2: a NUL byte: devices.conf is text", path);
	assert_string_equal(err, want);

	/* errors name the file's path */
	write_file(path, "[a]\nserial = 1\nexport = nope\n", 29);
	assert_int_equal(registry_load_file(path, &r, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s:3: export must be yes or no, not 'nope'", path);
	assert_string_equal(err, want);
	assert_int_equal(r.n, 0);

	/* no newline at the end */
	write_file(path, "[a]\nserial = 1", 14);
	assert_int_equal(registry_load_file(path, &r, err, sizeof(err)), 0);
	assert_string_equal(registry_find(&r, "a")->ids[0].serial, "1");
	registry_free(&r);

	/* bigger than 1 MiB: refused before parsing */
	char *big = repeat('#', 1024 * 1024 + 1);
	write_file(path, big, 1024 * 1024 + 1);
	free(big);
	assert_int_equal(registry_load_file(path, &r, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: larger than 1048576 bytes: not a devices.conf", path);
	assert_string_equal(err, want);

	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* A real bench: ten boards, flat and sectioned, with ROM and DFU modes,
 * loaded from a file and matched. */
static const char bench_conf[] =
        "# devices.conf for the lab bench (two Insight hubs, a plain hub)\n"
        "\n"
        "# quick ones: NAME = SERIAL\n"
        "xiao-c3 = 34:85:18:01:02:03\n"
        "qtpy-s2 = 7CDFA1000001\n"
        "\n"
        "[mpcb-1.9]\n"
        "serial   = 3C6105AABBCC\n"
        "vidpid   = 303a:1001\n"
        "port     = 1-4.2\n"
        "mac      = 3c:61:05:aa:bb:cc\n"
        "type     = esp32\n"
        "chip     = ESP32-S3\n"
        "notes    = left shelf, rev B\n"
        "hub_name = MPCB 1.9\n"
        "\n"
        "[mpcb-1.9:rom]\n"
        "vidpid = 303a:0002\n"
        "port   = 1-4.2\n"
        "\n"
        "[mpcb-2.0]\n"
        "serial = 3C6105AABBDD\n"
        "vidpid = 303a:1001\n"
        "type = esp32\n"
        "\n"
        "[mpcb-2.0:rom]\n"
        "vidpid = 303a:0002\n"
        "port = 1-4.3\n"
        "\n"
        "[pico-w-1]\n"
        "serial = E6614104035B4B2C\n"
        "type = rp2040\n"
        "[pico-w-1:rom]             # BOOTSEL: RP2 Boot, no serial worth having\n"
        "vidpid = 2e8a:0003\n"
        "port = 1-2.1\n"
        "\n"
        "[pico-w-2]\n"
        "serial = E6614104035B4B2D\n"
        "type = rp2040\n"
        "[pico-w-2:rom]\n"
        "vidpid = 2e8a:0003\n"
        "port = 1-2.2\n"
        "\n"
        "[icebreaker]\n"
        "vidpid = 0403:6010\n"
        "port = 3-1\n"
        "type = ice40\n"
        "chip = iCE40UP5K\n"
        "export = no                ; the FTDI stays local\n"
        "\n"
        "[nucleo-f4]\n"
        "serial = 0671FF495056805087173025\n"
        "vidpid = 0483:374b\n"
        "type = stm32\n"
        "[nucleo-f4:dfu]\n"
        "vidpid = 0483:df11\n"
        "port = 3-2\n"
        "\n"
        "[keyboard]\n"
        "vidpid = 16c0:27db\n"
        "type = hid\n"
        "notes = the test keyboard (sim)\n"
        "\n"
        "[insight-1]                # the hub's own controller\n"
        "vidpid = 303a:8170\n"
        "port = 1-4\n"
        "type = hub\n"
        "export = no\n"
        "\n"
        "[xiao-c3:rom]\n"
        "vidpid = 303a:1001\n"
        "mac = 34-85-18-01-02-03\n";

static void test_bench_of_ten(void **state)
{
	(void)state;
	char path[] = "/tmp/ul-bench-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	write_file(path, bench_conf, sizeof(bench_conf) - 1);
	struct registry r;
	char err[256] = "";
	int rc = registry_load_file(path, &r, err, sizeof(err));
	if (rc != 0)
		fail_msg("%s", err);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(r.n, 10);
	static const char *const order[] = {
	        "xiao-c3",  "qtpy-s2",    "mpcb-1.9",  "mpcb-2.0", "pico-w-1",
	        "pico-w-2", "icebreaker", "nucleo-f4", "keyboard", "insight-1",
	};
	for (size_t i = 0; i < 10; i++)
		assert_string_equal(r.boards[i].name, order[i]);
	assert_int_equal(registry_find(&r, "mpcb-1.9")->line, 7);
	assert_int_equal(registry_find(&r, "keyboard")->line, 59);
	assert_false(registry_find(&r, "icebreaker")->export_);
	assert_true(registry_find(&r, "keyboard")->export_);
	assert_string_equal(registry_find(&r, "keyboard")->notes, "the test keyboard (sim)");
	assert_int_equal(registry_find(&r, "xiao-c3")->nids, 2);
	assert_string_equal(registry_find(&r, "xiao-c3")->ids[1].mac, "34:85:18:01:02:03");

	enum reg_mode mode;
	/* the two ESP32-S3 in ROM mode share a vidpid: the port tells them apart */
	assert_string_equal(match_name(&r, dev(0x303a, 0x0002, "", "1-4.2", ""), &mode),
	                    "mpcb-1.9");
	assert_int_equal(mode, REG_MODE_ROM);
	assert_string_equal(match_name(&r, dev(0x303a, 0x0002, "", "1-4.3", ""), &mode),
	                    "mpcb-2.0");
	/* in app mode by serial (and mpcb-1.9's four fields when all are known) */
	assert_string_equal(match_name(&r, dev(0x303a, 0x1001, "3C6105AABBDD", "1-4.3", ""), &mode),
	                    "mpcb-2.0");
	assert_int_equal(mode, REG_MODE_APP);
	assert_string_equal(
	        match_name(&r, dev(0x303a, 0x1001, "3C6105AABBCC", "1-4.2", "3c:61:05:aa:bb:cc"),
	                   &mode),
	        "mpcb-1.9");
	/* the BOOTSEL drives */
	assert_string_equal(match_name(&r, dev(0x2e8a, 3, "", "1-2.2", ""), &mode), "pico-w-2");
	assert_int_equal(mode, REG_MODE_ROM);
	assert_string_equal(match_name(&r, dev(0x2e8a, 3, "", "1-2.9", ""), &mode), "(none)");
	/* the flat form's serial, and its ROM identity by mac */
	assert_string_equal(
	        match_name(&r, dev(0x303a, 0x1001, "34:85:18:01:02:03", "1-1", ""), &mode),
	        "xiao-c3");
	assert_int_equal(mode, REG_MODE_APP);
	assert_string_equal(
	        match_name(&r, dev(0x303a, 0x1001, "", "1-1", "34:85:18:01:02:03"), &mode),
	        "xiao-c3");
	assert_int_equal(mode, REG_MODE_ROM);
	assert_string_equal(match_name(&r, dev(0x0483, 0xdf11, "", "3-2", ""), &mode), "nucleo-f4");
	assert_int_equal(mode, REG_MODE_DFU);
	assert_string_equal(match_name(&r, dev(0x16c0, 0x27db, "", "", ""), &mode), "keyboard");
	registry_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_flat_form),
	        cmocka_unit_test(test_sections),
	        cmocka_unit_test(test_comments_and_layout),
	        cmocka_unit_test(test_normalise),
	        cmocka_unit_test(test_mode_names),
	        cmocka_unit_test(test_err_unknown_key),
	        cmocka_unit_test(test_err_vidpid),
	        cmocka_unit_test(test_err_names),
	        cmocka_unit_test(test_err_duplicate_board),
	        cmocka_unit_test(test_err_identity_sections),
	        cmocka_unit_test(test_err_no_identity),
	        cmocka_unit_test(test_err_too_many_identities),
	        cmocka_unit_test(test_err_export),
	        cmocka_unit_test(test_err_port),
	        cmocka_unit_test(test_err_mac),
	        cmocka_unit_test(test_err_duplicate_key),
	        cmocka_unit_test(test_err_syntax),
	        cmocka_unit_test(test_err_lengths),
	        cmocka_unit_test(test_err_line_length),
	        cmocka_unit_test(test_match),
	        cmocka_unit_test(test_match_port_needs_port),
	        cmocka_unit_test(test_file_missing_and_bad),
	        cmocka_unit_test(test_bench_of_ten),
	};
	return cmocka_run_group_tests_name("bench-registry", tests, NULL, NULL);
}
