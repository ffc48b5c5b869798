/* SPDX-License-Identifier: MIT */
/*
 * testfs.h - the attach tests' fake sysfs and run directories: write a
 * small file, read one back. Included by each test program (cmocka must be
 * included first).
 */
#ifndef UL_TESTFS_H
#define UL_TESTFS_H

#include <limits.h>
#include <stdio.h>

/* The fake trees live under short /tmp names: the PATH_MAX buffers never
 * truncate, whatever GCC's range analysis fears. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

/* Writes text to DIR/NAME (NAME may hold slashes; its directories exist). */
static inline void testfs_put(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

/* Reads DIR/NAME into out (cap bytes, NUL-terminated). */
static inline void testfs_get(const char *dir, const char *name, char *out, size_t cap)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	assert_non_null(f);
	n = fread(out, 1, cap - 1, f);
	out[n] = 0;
	fclose(f);
}

#endif /* UL_TESTFS_H */
