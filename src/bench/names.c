/* SPDX-License-Identifier: MIT */
/*
 * names.c - turns what a person typed into one board name, in four stages
 * (names.h), with a message that says what to type instead.
 */
#include "names.h"

#include <regex.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A message being built in err[0..cap): appends until full, then marks the
 * cut with "...". */
struct msg {
	char *p;
	size_t cap, len;
};

__attribute__((format(printf, 2, 3))) static void msg_add(struct msg *m, const char *fmt, ...)
{
	if (!m->p || m->cap == 0 || m->len >= m->cap - 1)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(m->p + m->len, m->cap - m->len, fmt, ap);
	va_end(ap);
	if (w < 0)
		return;
	if ((size_t)w >= m->cap - m->len) {
		m->len = m->cap - 1;
		if (m->cap >= 4)
			memcpy(m->p + m->cap - 4, "...", 4);
		return;
	}
	m->len += (size_t)w;
}

/* Does names[i] match query at stage how? re is the compiled query for
 * NAMES_REGEX. */
static bool stage_match(enum names_how how, const char *name, const char *query, const regex_t *re)
{
	switch (how) {
	case NAMES_EXACT:
		return strcmp(name, query) == 0;
	case NAMES_NOCASE:
		return strcasecmp(name, query) == 0;
	case NAMES_SUBSTRING:
		return strcasestr(name, query) != NULL;
	case NAMES_REGEX:
		return regexec(re, name, 0, NULL, 0) == 0;
	}
	return false;
}

/* " (boards: a, b, c)", so a person sees what there is to type. */
static void add_board_list(struct msg *m, const char *const *names, size_t n)
{
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		if (!names[i])
			continue;
		msg_add(m, "%s%s", first ? " (boards: " : ", ", names[i]);
		first = false;
	}
	msg_add(m, "%s", first ? " (the registry names no boards)" : ")");
}

/* glibc's regcomp copies the tree under every "+" and "{n,m}" (a+ is aa*,
 * a{3} is aaa), so stacked or nested repetitions grow it exponentially:
 * "a" followed by 30 "+" takes gigabytes. The query comes from whoever
 * talks to the daemon, so a pattern is tried only when the product of its
 * repetitions stays small; POSIX leaves a repetition of a repetition
 * ("a++", "a*{2}") undefined anyway. Returns why a pattern is refused, or
 * NULL. Bracket expressions and escapes are skipped: "+" means itself there.
 * Back-references are refused: glibc matches them by backtracking. */
#define NAMES_MAX_PATTERN 128
#define NAMES_MAX_COPIES  1024

static const char *pattern_too_costly(const char *q)
{
	if (strlen(q) > NAMES_MAX_PATTERN)
		return "longer than 128 characters";
	unsigned long copies = 1;
	bool after_rep = false; /* the previous token was a repetition */
	for (const char *p = q; *p;) {
		unsigned long times = 0;
		if (*p == '\\') {
			if (p[1] >= '1' && p[1] <= '9')
				return "back-references (\\1 ... \\9) are not tried";
			p += p[1] ? 2 : 1;
		} else if (*p == '[') {
			/* to the closing ']': a ']' first (after '^') is literal,
			 * and "[:alpha:]" and friends hold a ']' of their own */
			p++;
			if (*p == '^')
				p++;
			if (*p == ']')
				p++;
			while (*p && *p != ']') {
				if (*p == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
					const char *end = strchr(p + 2, ']');
					p = end ? end + 1 : p + strlen(p);
				} else {
					p++;
				}
			}
			if (*p)
				p++;
		} else if (*p == '*' || *p == '?') {
			times = 1;
			p++;
		} else if (*p == '+') {
			times = 2;
			p++;
		} else if (*p == '{' && p[1] >= '0' && p[1] <= '9') {
			/* {n}: n copies; {n,}: n + 1; {n,m}: m */
			char *end;
			unsigned long hi = strtoul(p + 1, &end, 10);
			if (*end == ',' && end[1] >= '0' && end[1] <= '9') {
				unsigned long m = strtoul(end + 1, &end, 10);
				hi = m > hi ? m : hi;
			} else if (*end == ',') {
				hi++;
				end++;
			}
			times = hi ? hi : 1;
			p = *end == '}' ? end + 1 : end;
		} else {
			p++;
		}
		if (times == 0) {
			after_rep = false;
			continue;
		}
		if (after_rep)
			return "a repetition of a repetition (like \"a++\" or \"a*{2}\")";
		after_rep = true;
		if (times > NAMES_MAX_COPIES || (copies *= times) > NAMES_MAX_COPIES)
			return "too many repetitions to try";
	}
	return NULL;
}

/* Compiles query for the regex stage, or writes why not into why. */
static bool compile_pattern(const char *query, regex_t *re, char *why, size_t cap)
{
	const char *cost = pattern_too_costly(query);
	if (cost) {
		snprintf(why, cap, "%s", cost);
		return false;
	}
	int e = regcomp(re, query, REG_EXTENDED | REG_ICASE | REG_NOSUB);
	if (e != 0) {
		regerror(e, re, why, cap);
		return false;
	}
	return true;
}

/* "'esp' is ambiguous: esp-a, esp-b (give more of the name)", with a hint
 * that fits the stage that found them. */
static void add_ambiguous(struct msg *m, const char *query, const char *const *names,
                          const struct names_result *res)
{
	static const char *const hint[] = {
	        [NAMES_EXACT] = "the registry names them twice",
	        [NAMES_NOCASE] = "type the name with its exact case",
	        [NAMES_SUBSTRING] = "give more of the name",
	        [NAMES_REGEX] = "make the pattern more specific",
	};
	size_t shown = res->ncand < NAMES_MAX_CANDIDATES ? res->ncand : NAMES_MAX_CANDIDATES;
	msg_add(m, "'%s' is ambiguous: ", query);
	for (size_t k = 0; k < shown; k++)
		msg_add(m, "%s%s", k ? ", " : "", names[res->cand[k]]);
	if (res->ncand > shown)
		msg_add(m, " and %zu more", res->ncand - shown);
	msg_add(m, " (%s)", hint[res->how]);
}

int names_resolve(const char *const *names, size_t n, const char *query, struct names_result *res,
                  char *err, size_t errlen)
{
	struct names_result local;
	struct msg m = {err, errlen, 0};
	if (!res)
		res = &local;
	memset(res, 0, sizeof(*res));
	if (err && errlen)
		err[0] = '\0';

	if (!query || !*query) {
		msg_add(&m, "no board name given");
		add_board_list(&m, names, n);
		return NAMES_E_EMPTY;
	}

	regex_t re;
	bool have_re = false;
	int rc = NAMES_E_UNKNOWN;
	for (int how = NAMES_EXACT; how <= NAMES_REGEX; how++) {
		if (how == NAMES_REGEX) {
			char why[128];
			if (!compile_pattern(query, &re, why, sizeof(why))) {
				msg_add(&m,
				        "no board matches '%s', and it is not a valid pattern: %s",
				        query, why);
				return NAMES_E_BADREGEX;
			}
			have_re = true;
		}
		size_t hits = 0;
		for (size_t i = 0; i < n; i++) {
			if (!names[i] || !stage_match(how, names[i], query, &re))
				continue;
			if (hits < NAMES_MAX_CANDIDATES)
				res->cand[hits] = i;
			hits++;
		}
		if (hits == 0)
			continue;
		res->how = how;
		if (hits == 1) {
			res->index = res->cand[0];
			res->cand[0] = 0;
			rc = NAMES_OK;
			break;
		}
		res->ncand = hits;
		add_ambiguous(&m, query, names, res);
		rc = NAMES_E_AMBIGUOUS;
		break;
	}
	if (have_re)
		regfree(&re);
	if (rc == NAMES_E_UNKNOWN) {
		msg_add(&m, "no board matches '%s'", query);
		add_board_list(&m, names, n);
	}
	return rc;
}
