/* SPDX-License-Identifier: MIT */
/*
 * names.h - name resolution, the one function every command uses to turn
 * what a person typed into a board: exact, then case-insensitive exact,
 * then substring (case-insensitive), then POSIX extended regex
 * (case-insensitive, unanchored). The first stage with matches decides:
 * one match resolves, several are ambiguous. Pure.
 */
#ifndef UL_NAMES_H
#define UL_NAMES_H

#include <stddef.h>

#define NAMES_MAX_CANDIDATES 16

enum names_how {
	NAMES_EXACT = 0,
	NAMES_NOCASE,
	NAMES_SUBSTRING,
	NAMES_REGEX,
};

enum names_err {
	NAMES_OK = 0,
	NAMES_E_UNKNOWN = -1,   /* no stage matched */
	NAMES_E_AMBIGUOUS = -2, /* the deciding stage matched several */
	NAMES_E_BADREGEX = -3,  /* nothing matched before the regex stage and it does not compile
	                         * (or would cost too much to: over 128 characters, more than
	                         * 1024 copies through "+" and "{n,m}", "a++", back-references) */
	NAMES_E_EMPTY = -4,     /* empty query */
};

struct names_result {
	size_t index; /* on NAMES_OK: the match's index in names[] */
	enum names_how how;
	size_t ncand; /* on NAMES_E_AMBIGUOUS: how many matched (may exceed the array) */
	size_t cand[NAMES_MAX_CANDIDATES];
};

/* Resolves query over names[0..n). Returns a names_err. On an error, err
 * gets a sentence a person can act on, e.g. "'esp' is ambiguous: esp-a,
 * esp-b (give more of the name)" or "no board matches 'xyz' (boards:
 * a, b, c)"; a message longer than errlen ends in "...". On success err is
 * "". res and err may be NULL; NULL entries of names[] never match. */
int names_resolve(const char *const *names, size_t n, const char *query, struct names_result *res,
                  char *err, size_t errlen);

#endif /* UL_NAMES_H */
