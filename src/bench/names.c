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

static const char *const ambiguous_hint[] = {
        [NAMES_EXACT] = "the registry names them twice",
        [NAMES_NOCASE] = "type the name with its exact case",
        [NAMES_SUBSTRING] = "give more of the name",
        [NAMES_REGEX] = "make the pattern more specific",
};

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
			int e = regcomp(&re, query, REG_EXTENDED | REG_ICASE | REG_NOSUB);
			if (e != 0) {
				char why[128];
				regerror(e, &re, why, sizeof(why));
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
		msg_add(&m, "'%s' is ambiguous: ", query);
		size_t shown = hits < NAMES_MAX_CANDIDATES ? hits : NAMES_MAX_CANDIDATES;
		for (size_t k = 0; k < shown; k++)
			msg_add(&m, "%s%s", k ? ", " : "", names[res->cand[k]]);
		if (hits > shown)
			msg_add(&m, " and %zu more", hits - shown);
		msg_add(&m, " (%s)", ambiguous_hint[how]);
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
