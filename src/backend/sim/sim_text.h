/* SPDX-License-Identifier: MIT */
/*
 * sim_text.h - the C escapes that sim specs and scripts accept in text:
 * \n \r \t \b \e (ESC) \\ and \xH or \xHH.
 */
#ifndef SIM_TEXT_H
#define SIM_TEXT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Decodes the escapes in the n bytes at in into out, which has room for n
 * bytes (the result is never longer). Returns the decoded length, or -1
 * for an unknown or unfinished escape, with *bad set to its offset in in.
 */
long sim_text_unescape(const char *in, size_t n, uint8_t *out, size_t *bad);

#endif /* SIM_TEXT_H */
