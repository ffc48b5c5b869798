/* SPDX-License-Identifier: MIT */
/*
 * sim_text.c - C escapes in spec text (see sim_text.h).
 */
#include "sim_text.h"

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long sim_text_unescape(const char *in, size_t n, uint8_t *out, size_t *bad)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		if (in[i] != '\\') {
			out[o++] = (uint8_t)in[i];
			continue;
		}
		size_t at = i;

		if (++i == n) {
			*bad = at;
			return -1;
		}
		switch (in[i]) {
		case 'n':
			out[o++] = '\n';
			break;
		case 'r':
			out[o++] = '\r';
			break;
		case 't':
			out[o++] = '\t';
			break;
		case 'b':
			out[o++] = '\b';
			break;
		case 'e':
			out[o++] = 0x1b;
			break;
		case '\\':
			out[o++] = '\\';
			break;
		case 'x': {
			int v = 0, digits = 0;

			while (digits < 2 && i + 1 < n && hex_value(in[i + 1]) >= 0) {
				v = v * 16 + hex_value(in[++i]);
				digits++;
			}
			if (digits == 0) {
				*bad = at;
				return -1;
			}
			out[o++] = (uint8_t)v;
			break;
		}
		default:
			*bad = at;
			return -1;
		}
	}
	return (long)o;
}
