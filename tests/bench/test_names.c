/* SPDX-License-Identifier: MIT */
/*
 * test_names.c - name resolution: each of the four stages deciding, a
 * later stage never overriding an earlier one, ambiguity with its
 * candidates, bad regexes, the empty query, and the exact messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"

static const char *const bench[] = {
        "esp-a", "esp-b", "mpcb-1.9", "MPCB-2.0", "pico-w", "icebreaker", "Pico",
};
#define NBENCH (sizeof(bench) / sizeof(bench[0]))

static int resolve(const char *q, struct names_result *r, char *err, size_t errlen)
{
	return names_resolve(bench, NBENCH, q, r, err, errlen);
}

static void test_exact(void **state)
{
	(void)state;
	struct names_result r;
	char err[256] = "untouched";
	assert_int_equal(resolve("esp-a", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 0);
	assert_int_equal(r.how, NAMES_EXACT);
	assert_string_equal(err, "");
	/* "Pico" is a substring of "pico-w" too, but exact decides first */
	assert_int_equal(resolve("Pico", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 6);
	assert_int_equal(r.how, NAMES_EXACT);
}

static void test_nocase(void **state)
{
	(void)state;
	struct names_result r;
	char err[256];
	assert_int_equal(resolve("mpcb-2.0", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 3);
	assert_int_equal(r.how, NAMES_NOCASE);
	/* "pico" equals "Pico" without case: that beats the substring "pico-w" */
	assert_int_equal(resolve("pico", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 6);
	assert_int_equal(r.how, NAMES_NOCASE);
	assert_int_equal(resolve("ICEBREAKER", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 5);
}

static void test_substring(void **state)
{
	(void)state;
	struct names_result r;
	char err[256];
	assert_int_equal(resolve("ice", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 5);
	assert_int_equal(r.how, NAMES_SUBSTRING);
	assert_int_equal(resolve("1.9", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 2);
	assert_int_equal(r.how, NAMES_SUBSTRING);
	assert_int_equal(resolve("CO-W", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 4);
	assert_int_equal(r.how, NAMES_SUBSTRING);
}

static void test_regex_one(void **state)
{
	(void)state;
	struct names_result r;
	char err[256];
	/* no name contains "^ice.*r$" literally; as a pattern it is one board */
	assert_int_equal(resolve("^ice.*r$", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 5);
	assert_int_equal(r.how, NAMES_REGEX);
	/* case-insensitive and unanchored */
	assert_int_equal(resolve("B-2\\.", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 3);
	assert_int_equal(r.how, NAMES_REGEX);
	/* extended syntax: alternation and {n} */
	assert_int_equal(resolve("esp-(a|x)", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 0);
	assert_int_equal(resolve("^[a-z]{3}-b$", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 1);
	assert_int_equal(r.how, NAMES_REGEX);
}

static void test_regex_is_the_last_stage(void **state)
{
	(void)state;
	const char *names[] = {"a.c", "abc"};
	struct names_result r;
	char err[256];
	/* "a.c" is exact for the first: the pattern (which matches both) is never tried */
	assert_int_equal(names_resolve(names, 2, "a.c", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 0);
	assert_int_equal(r.how, NAMES_EXACT);
	/* "a.C" is case-insensitively exact for the first only */
	assert_int_equal(names_resolve(names, 2, "A.C", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 0);
	assert_int_equal(r.how, NAMES_NOCASE);
	/* "^a" is no substring: as a pattern it matches both */
	assert_int_equal(names_resolve(names, 2, "^a", &r, err, sizeof(err)), NAMES_E_AMBIGUOUS);
	assert_int_equal(r.how, NAMES_REGEX);
	assert_string_equal(err, "'^a' is ambiguous: a.c, abc (make the pattern more specific)");
}

static void test_ambiguous_substring(void **state)
{
	(void)state;
	struct names_result r;
	char err[256];
	assert_int_equal(resolve("esp", &r, err, sizeof(err)), NAMES_E_AMBIGUOUS);
	assert_int_equal(r.how, NAMES_SUBSTRING);
	assert_int_equal(r.ncand, 2);
	assert_int_equal(r.cand[0], 0);
	assert_int_equal(r.cand[1], 1);
	assert_string_equal(err, "'esp' is ambiguous: esp-a, esp-b (give more of the name)");
	assert_int_equal(resolve("mpcb", &r, err, sizeof(err)), NAMES_E_AMBIGUOUS);
	assert_int_equal(r.ncand, 2);
	assert_string_equal(err, "'mpcb' is ambiguous: mpcb-1.9, MPCB-2.0 (give more of the name)");
}

static void test_ambiguous_nocase(void **state)
{
	(void)state;
	const char *names[] = {"Esp", "ESP", "esp-c"};
	struct names_result r;
	char err[256];
	assert_int_equal(names_resolve(names, 3, "esp", &r, err, sizeof(err)), NAMES_E_AMBIGUOUS);
	assert_int_equal(r.how, NAMES_NOCASE);
	assert_int_equal(r.ncand, 2);
	assert_string_equal(err,
	                    "'esp' is ambiguous: Esp, ESP (type the name with its exact case)");
	/* exact still wins over both */
	assert_int_equal(names_resolve(names, 3, "ESP", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 1);
}

static void test_ambiguous_many(void **state)
{
	(void)state;
	/* 20 boards "b00".."b19": candidates stop at NAMES_MAX_CANDIDATES, the count does not */
	char store[20][4];
	const char *names[20];
	for (int i = 0; i < 20; i++) {
		snprintf(store[i], sizeof(store[i]), "b%02d", i);
		names[i] = store[i];
	}
	struct names_result r;
	char err[512];
	assert_int_equal(names_resolve(names, 20, "b", &r, err, sizeof(err)), NAMES_E_AMBIGUOUS);
	assert_int_equal(r.ncand, 20);
	for (size_t i = 0; i < NAMES_MAX_CANDIDATES; i++)
		assert_int_equal(r.cand[i], i);
	assert_string_equal(err, "'b' is ambiguous: b00, b01, b02, b03, b04, b05, b06, b07, b08, "
	                         "b09, b10, b11, b12, b13, b14, b15 and 4 more (give more of the "
	                         "name)");
	/* exactly NAMES_MAX_CANDIDATES: no "more" */
	assert_int_equal(names_resolve(names, 16, "b", &r, err, sizeof(err)), NAMES_E_AMBIGUOUS);
	assert_int_equal(r.ncand, 16);
	assert_null(strstr(err, "more ("));
	/* "b1" is in b10..b19 only (not in b01) */
	assert_int_equal(names_resolve(names, 20, "b1", &r, err, sizeof(err)), NAMES_E_AMBIGUOUS);
	assert_int_equal(r.ncand, 10);
}

static void test_unknown(void **state)
{
	(void)state;
	struct names_result r;
	char err[256];
	assert_int_equal(resolve("xyz", &r, err, sizeof(err)), NAMES_E_UNKNOWN);
	assert_string_equal(err, "no board matches 'xyz' (boards: esp-a, esp-b, mpcb-1.9, "
	                         "MPCB-2.0, pico-w, icebreaker, Pico)");
	assert_int_equal(names_resolve(NULL, 0, "xyz", &r, err, sizeof(err)), NAMES_E_UNKNOWN);
	assert_string_equal(err, "no board matches 'xyz' (the registry names no boards)");
	/* a pattern that compiles but matches nothing */
	assert_int_equal(resolve("^esp-c$", &r, err, sizeof(err)), NAMES_E_UNKNOWN);
	/* NULL entries (a board without a name) are skipped, not crashed on */
	const char *holes[] = {NULL, "solo", NULL};
	assert_int_equal(names_resolve(holes, 3, "sol", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 1);
	assert_int_equal(names_resolve(holes, 3, "q", &r, err, sizeof(err)), NAMES_E_UNKNOWN);
	assert_string_equal(err, "no board matches 'q' (boards: solo)");
}

static void test_bad_regex(void **state)
{
	(void)state;
	struct names_result r;
	char err[256];
	assert_int_equal(resolve("esp-(", &r, err, sizeof(err)), NAMES_E_BADREGEX);
	assert_non_null(strstr(err, "no board matches 'esp-(', and it is not a valid pattern: "));
	assert_int_equal(resolve("[a-", &r, err, sizeof(err)), NAMES_E_BADREGEX);
	/* a bad pattern that is still a substring resolves before the regex stage */
	const char *names[] = {"weird(", "other"};
	assert_int_equal(names_resolve(names, 2, "d(", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 0);
	assert_int_equal(r.how, NAMES_SUBSTRING);
}

/* "((x+)+)+" for k = 3: k nested "+", for which glibc builds 2^k copies. */
static void nested_plus(char *out, size_t cap, int k)
{
	size_t len = 0;
	assert_true((size_t)k * 3 < cap);
	for (int i = 1; i < k; i++)
		out[len++] = '(';
	out[len++] = 'x';
	out[len++] = '+';
	for (int i = 1; i < k; i++) {
		out[len++] = ')';
		out[len++] = '+';
	}
	out[len] = '\0';
}

/* A query is a pattern only when glibc can compile it in little memory:
 * "a" and 30 "+" would take gigabytes. Limits both ways. */
static void test_costly_regex(void **state)
{
	(void)state;
	struct names_result r;
	char err[512], q[256];
	snprintf(q, sizeof(q), "a++++++++++++++++++++++++++++++");
	assert_int_equal(resolve(q, &r, err, sizeof(err)), NAMES_E_BADREGEX);
	snprintf(q, sizeof(q),
	         "no board matches 'a++++++++++++++++++++++++++++++', and it is "
	         "not a valid pattern: a repetition of a repetition (like \"a++\" or "
	         "\"a*{2}\")");
	assert_string_equal(err, q);
	assert_int_equal(resolve("esp-a*{2}", &r, err, sizeof(err)), NAMES_E_BADREGEX);
	assert_int_equal(resolve("x?*", &r, err, sizeof(err)), NAMES_E_BADREGEX);
	/* separated repetitions are fine, and "+" in brackets or escaped is a character */
	assert_int_equal(resolve("^e+s+p+-a$", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 0);
	assert_int_equal(resolve("^[[:alpha:]+]+-w$", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 4);
	assert_int_equal(resolve("[+]+|\\++|^ice", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 5);

	/* 2^10 = 1024 copies are tried, 2^11 are not */
	nested_plus(q, sizeof(q), 10);
	assert_int_equal(resolve(q, &r, err, sizeof(err)), NAMES_E_UNKNOWN);
	nested_plus(q, sizeof(q), 11);
	assert_int_equal(resolve(q, &r, err, sizeof(err)), NAMES_E_BADREGEX);
	assert_non_null(strstr(err, "not a valid pattern: too many repetitions to try"));
	/* intervals count their copies */
	assert_int_equal(resolve("^x{1024}$", &r, err, sizeof(err)), NAMES_E_UNKNOWN);
	assert_int_equal(resolve("^x{1025}$", &r, err, sizeof(err)), NAMES_E_BADREGEX);
	assert_int_equal(resolve("^x{2,1024}$", &r, err, sizeof(err)), NAMES_E_UNKNOWN);
	assert_int_equal(resolve("^x{2,1025}$", &r, err, sizeof(err)), NAMES_E_BADREGEX);
	assert_int_equal(resolve("^(x{32}){32}$", &r, err, sizeof(err)), NAMES_E_UNKNOWN);
	assert_int_equal(resolve("^(x{32}){33}$", &r, err, sizeof(err)), NAMES_E_BADREGEX);
	assert_int_equal(resolve("x{99999999999999999999999}", &r, err, sizeof(err)),
	                 NAMES_E_BADREGEX);
	/* back-references are not tried; an escaped character is */
	assert_int_equal(resolve("(e)s\\1", &r, err, sizeof(err)), NAMES_E_BADREGEX);
	assert_non_null(strstr(err, "not a valid pattern: back-references (\\1 ... \\9) are not "
	                            "tried"));
	assert_int_equal(resolve("^esp\\-b", &r, err, sizeof(err)), NAMES_OK);
	assert_int_equal(r.index, 1);
	/* 128 characters are a pattern, 129 are not */
	memset(q, 'z', 128);
	q[128] = '\0';
	assert_int_equal(resolve(q, &r, err, sizeof(err)), NAMES_E_UNKNOWN);
	memset(q, 'z', 129);
	q[129] = '\0';
	assert_int_equal(resolve(q, &r, err, sizeof(err)), NAMES_E_BADREGEX);
	assert_non_null(strstr(err, "not a valid pattern: longer than 128 characters"));
}

static void test_empty(void **state)
{
	(void)state;
	struct names_result r;
	char err[256];
	assert_int_equal(resolve("", &r, err, sizeof(err)), NAMES_E_EMPTY);
	assert_non_null(strstr(err, "no board name given (boards: esp-a, "));
	assert_int_equal(resolve(NULL, &r, err, sizeof(err)), NAMES_E_EMPTY);
}

static void test_small_err_and_null_args(void **state)
{
	(void)state;
	char err[16];
	assert_int_equal(resolve("xyz", NULL, err, sizeof(err)), NAMES_E_UNKNOWN);
	assert_int_equal(strlen(err), sizeof(err) - 1);
	assert_string_equal(err, "no board mat...");
	assert_int_equal(resolve("esp-b", NULL, NULL, 0), NAMES_OK);
	assert_int_equal(resolve("esp", NULL, NULL, 0), NAMES_E_AMBIGUOUS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_exact),
	        cmocka_unit_test(test_nocase),
	        cmocka_unit_test(test_substring),
	        cmocka_unit_test(test_regex_one),
	        cmocka_unit_test(test_regex_is_the_last_stage),
	        cmocka_unit_test(test_ambiguous_substring),
	        cmocka_unit_test(test_ambiguous_nocase),
	        cmocka_unit_test(test_ambiguous_many),
	        cmocka_unit_test(test_unknown),
	        cmocka_unit_test(test_bad_regex),
	        cmocka_unit_test(test_costly_regex),
	        cmocka_unit_test(test_empty),
	        cmocka_unit_test(test_small_err_and_null_args),
	};
	return cmocka_run_group_tests_name("bench-names", tests, NULL, NULL);
}
