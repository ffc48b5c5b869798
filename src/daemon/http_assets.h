/* SPDX-License-Identifier: MIT */
/*
 * http_assets.h - the dashboard's files (web/), compiled into usblabd by
 * web/embed.py at build time: nothing is read from disk at run time.
 */
#ifndef UL_HTTP_ASSETS_H
#define UL_HTTP_ASSETS_H

#include <stddef.h>

struct http_asset {
	const char *path; /* "/index.html", "/app.js", … */
	const char *type; /* Content-Type */
	const unsigned char *data;
	size_t len;
};

extern const struct http_asset http_assets[];
extern const size_t http_nassets;

#endif /* UL_HTTP_ASSETS_H */
