/* SPDX-License-Identifier: MIT */
/*
 * paths.c - usblab's directories after the XDG base directory spec
 * (paths.h), and creating them with the modes the spec asks for.
 */
#include "paths.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* An XDG variable counts only when set to an absolute path: the spec says
 * a relative one is invalid and must be ignored. */
static const char *xdg_var(const char *name)
{
	const char *v = getenv(name);
	return v && v[0] == '/' ? v : NULL;
}

/* $HOME, else the passwd entry's directory (a service may run without
 * HOME); NULL when neither is known. buf holds getpwuid_r's strings. */
static const char *home_dir(char *buf, size_t cap)
{
	const char *h = getenv("HOME");
	if (h && h[0] == '/')
		return h;
	struct passwd pw, *res = NULL;
	if (getpwuid_r(geteuid(), &pw, buf, cap, &res) != 0 || !res || !res->pw_dir ||
	    res->pw_dir[0] != '/')
		return NULL;
	return res->pw_dir;
}

static int put(char *out, size_t cap, const char *a, const char *b)
{
	if (!out || cap == 0)
		return -1;
	int w = snprintf(out, cap, "%s%s", a, b);
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}

int ul_path_dir(enum ul_path_kind kind, char *out, size_t cap)
{
	const char *var, *fallback;
	switch (kind) {
	case UL_PATH_CONFIG:
		var = "XDG_CONFIG_HOME";
		fallback = "/.config/usblab";
		break;
	case UL_PATH_STATE:
		var = "XDG_STATE_HOME";
		fallback = "/.local/state/usblab";
		break;
	case UL_PATH_RUNTIME: {
		const char *rt = xdg_var("XDG_RUNTIME_DIR");
		if (rt)
			return put(out, cap, rt, "/usblab");
		if (geteuid() == 0)
			return put(out, cap, "/run/usblab", "");
		char tmp[64];
		snprintf(tmp, sizeof(tmp), "/tmp/usblab-%u", (unsigned)geteuid());
		return put(out, cap, tmp, "");
	}
	default:
		return -1;
	}
	const char *base = xdg_var(var);
	if (base)
		return put(out, cap, base, "/usblab");
	char pwbuf[1024];
	const char *home = home_dir(pwbuf, sizeof(pwbuf));
	if (!home)
		return -1;
	return put(out, cap, home, fallback);
}

int ul_path_file(enum ul_path_kind kind, const char *leaf, char *out, size_t cap)
{
	char dir[4096];
	if (!leaf || !*leaf || ul_path_dir(kind, dir, sizeof(dir)) != 0)
		return -1;
	if (!out || cap == 0)
		return -1;
	int w = snprintf(out, cap, "%s/%s", dir, leaf);
	return w < 0 || (size_t)w >= cap ? -1 : 0;
}

/* mkdir that accepts a directory already there; fails with ENOTDIR when
 * something else is. Sets *made when it created the directory. */
static int mkdir_one(const char *path, mode_t mode, bool *made)
{
	*made = false;
	if (mkdir(path, mode) == 0) {
		*made = true;
		return 0;
	}
	if (errno != EEXIST)
		return -1;
	struct stat st;
	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

int ul_path_mkdir(enum ul_path_kind kind)
{
	char path[4096];
	if (ul_path_dir(kind, path, sizeof(path)) != 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	bool system_run = strcmp(path, "/run/usblab") == 0;
	mode_t mode = system_run ? 0755 : 0700;
	bool made = false;

	/* Parents first, each 0700 as the XDG spec asks of base directories
	 * it creates; existing ones are left as they are. */
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		int rc = mkdir_one(path, 0700, &made);
		*p = '/';
		if (rc != 0)
			return -1;
	}
	if (mkdir_one(path, mode, &made) != 0)
		return -1;
	/* The umask may have narrowed the mode: a system socket directory
	 * must be searchable by the users allowed to connect. */
	if (made && chmod(path, mode) != 0)
		return -1;

	/* /tmp is shared: a directory someone else made there in advance
	 * could hand them our socket. */
	if (!system_run && !xdg_var("XDG_RUNTIME_DIR") && kind == UL_PATH_RUNTIME) {
		struct stat st;
		if (lstat(path, &st) != 0)
			return -1;
		if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
			errno = EPERM;
			return -1;
		}
	}
	return 0;
}
