/* SPDX-License-Identifier: MIT */
/*
 * devfiles.c - device files of a USB device from sysfs, and the per-board
 * symlinks (devfiles.h).
 */
#include "devfiles.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The deepest a class device sits below its USB device: 4-1/4-1:1.0/host5/
 * target5:0:0/5:0:0:0/block/sdb is 6 levels; input adds inputN/eventM. */
#define DEVFILES_MAX_DEPTH 10

const char *devfile_kind_name(enum devfile_kind kind)
{
	switch (kind) {
	case DEVFILE_TTY:
		return "tty";
	case DEVFILE_DISK:
		return "disk";
	case DEVFILE_HIDRAW:
		return "hidraw";
	case DEVFILE_INPUT:
		return "input";
	}
	return "?";
}

/* out = a "/" b; false when it does not fit (snprintf would truncate). */
static bool join_path(char *out, size_t cap, const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);

	if (la + 1 + lb + 1 > cap)
		return false;
	memcpy(out, a, la);
	out[la] = '/';
	memcpy(out + la + 1, b, lb + 1);
	return true;
}

/* Copies s into out[cap], cut to fit. */
static void copy_cut(char *out, size_t cap, const char *s)
{
	size_t len = strlen(s);

	if (len >= cap)
		len = cap - 1;
	memcpy(out, s, len);
	out[len] = 0;
}

struct walk {
	struct devfile *out;
	unsigned max;
	int n;
};

/* Reads "KEY=" from a uevent file into out; false when absent. */
static bool uevent_get(const char *uevent, const char *key, char *out, size_t cap)
{
	size_t klen = strlen(key);
	const char *p = uevent;

	while (p && *p) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			const char *v = p + klen + 1, *end = strchr(v, '\n');
			size_t len = end ? (size_t)(end - v) : strlen(v);

			if (len >= cap)
				return false;
			memcpy(out, v, len);
			out[len] = 0;
			return true;
		}
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return false;
}

/* The class of a class device: the name its "subsystem" link points to,
 * else the name of the directory holding it (tty/ttyACM0, block/sdb). */
static void class_of(const char *dir, const char *parent_name, char *out, size_t cap)
{
	char path[1024], target[512];
	ssize_t len;

	snprintf(path, sizeof(path), "%s/subsystem", dir);
	len = readlink(path, target, sizeof(target) - 1);
	if (len > 0) {
		const char *slash;

		target[len] = 0;
		slash = strrchr(target, '/');
		copy_cut(out, cap, slash ? slash + 1 : target);
		return;
	}
	copy_cut(out, cap, parent_name);
}

static void consider(struct walk *w, const char *dir, const char *parent_name)
{
	char path[1024], uevent[2048], devname[48], devtype[32], cls[32];
	struct devfile f;
	ssize_t len;
	int fd;

	snprintf(path, sizeof(path), "%s/uevent", dir);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	len = read(fd, uevent, sizeof(uevent) - 1);
	close(fd);
	if (len <= 0)
		return;
	uevent[len] = 0;
	if (!uevent_get(uevent, "DEVNAME", devname, sizeof(devname)))
		return;
	if (!uevent_get(uevent, "DEVTYPE", devtype, sizeof(devtype)))
		devtype[0] = 0;
	class_of(dir, parent_name, cls, sizeof(cls));
	if (strcmp(cls, "tty") == 0)
		f.kind = DEVFILE_TTY;
	else if (strcmp(cls, "block") == 0 && strcmp(devtype, "disk") == 0)
		f.kind = DEVFILE_DISK; /* /dev/sdb, not sdb1 */
	else if (strcmp(cls, "hidraw") == 0)
		f.kind = DEVFILE_HIDRAW;
	else if (strcmp(cls, "input") == 0 && strncmp(devname, "input/event", 11) == 0)
		f.kind = DEVFILE_INPUT;
	else
		return;
	snprintf(f.path, sizeof(f.path), "/dev/%s", devname);
	if ((unsigned)w->n < w->max)
		w->out[w->n] = f;
	w->n++;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Whether a directory named `parent` holds class devices we want: tty/,
 * block/, hidraw/, or an input device (input5/event5). Only their uevent
 * files are read: reading a USB device's or an interface's uevent waits for
 * its device lock (Linux 6.1.y since "driver core: Fix uevent_show() vs
 * driver detach race"), which a probe stuck on a slow server holds. */
static bool class_container(const char *parent)
{
	return strcmp(parent, "tty") == 0 || strcmp(parent, "block") == 0 ||
	       strcmp(parent, "hidraw") == 0 || strncmp(parent, "input", 5) == 0;
}

/* Visits dir (named in its parent directory `parent`) and its
 * subdirectories (not the symlinks: sysfs links back up to parents, drivers
 * and subsystems) in name order. */
static void walk_dir(struct walk *w, const char *dir, const char *parent, int depth)
{
	char *names[256];
	unsigned nn = 0;
	struct dirent *e;
	DIR *d;

	if (depth > 0 && class_container(parent))
		consider(w, dir, parent);
	if (depth >= DEVFILES_MAX_DEPTH || !(d = opendir(dir)))
		return;
	while ((e = readdir(d)) && nn < sizeof(names) / sizeof(names[0])) {
		if (e->d_name[0] == '.')
			continue;
		if (e->d_type != DT_DIR && e->d_type != DT_UNKNOWN)
			continue;
		if (e->d_type == DT_UNKNOWN) {
			char path[1024];
			struct stat st;

			if (!join_path(path, sizeof(path), dir, e->d_name) ||
			    lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
				continue;
		}
		if (!(names[nn] = strdup(e->d_name)))
			break;
		nn++;
	}
	closedir(d);
	qsort(names, nn, sizeof(names[0]), cmp_names);
	for (unsigned i = 0; i < nn; i++) {
		char path[1024];

		if (join_path(path, sizeof(path), dir, names[i]))
			walk_dir(w, path, strrchr(dir, '/') + 1, depth + 1);
		free(names[i]);
	}
}

static void device_dir(const char *sysroot, const char *busid, char *out, size_t cap)
{
	snprintf(out, cap, "%s/bus/usb/devices/%s", sysroot, busid);
}

int devfiles_find(const char *sysroot, const char *busid, struct devfile *out, unsigned max)
{
	char dir[512];
	struct walk w = {.out = out, .max = max};
	struct stat st;

	device_dir(sysroot, busid, dir, sizeof(dir));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return -1;
	walk_dir(&w, dir, busid, 0);
	return w.n;
}

int devfiles_binding(const char *sysroot, const char *busid, struct devfiles_binding *b)
{
	char dir[512], path[1024], target[256];
	size_t blen = strlen(busid);
	struct dirent *e;
	DIR *d;

	memset(b, 0, sizeof(*b));
	device_dir(sysroot, busid, dir, sizeof(dir));
	if (!(d = opendir(dir)))
		return 0;
	b->present = true;
	while ((e = readdir(d))) {
		ssize_t len;
		const char *drv;

		/* Interfaces are named BUSID:CONFIG.INTERFACE. */
		if (strncmp(e->d_name, busid, blen) != 0 || e->d_name[blen] != ':')
			continue;
		b->nintf++;
		snprintf(path, sizeof(path), "%s/%s/driver", dir, e->d_name);
		len = readlink(path, target, sizeof(target) - 1);
		if (len <= 0)
			continue;
		target[len] = 0;
		b->nbound++;
		drv = strrchr(target, '/');
		drv = drv ? drv + 1 : target;
		if (strcmp(drv, "usb-storage") == 0 || strcmp(drv, "uas") == 0)
			b->storage = true;
	}
	closedir(d);
	b->configured = b->nintf > 0;
	return 0;
}

void devfiles_link_names(const struct devfile *files, unsigned n, char (*names)[16])
{
	unsigned rank[4] = {0, 0, 0, 0};

	for (unsigned i = 0; i < n; i++) {
		unsigned k = (unsigned)files[i].kind;
		const char *stem = devfile_kind_name(files[i].kind);

		if (k >= 4 || rank[k] == 0)
			snprintf(names[i], 16, "%s", stem);
		else
			snprintf(names[i], 16, "%s%u", stem, rank[k]);
		if (k < 4)
			rank[k]++;
	}
}

bool devfiles_link_dir_ok(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 63 || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strcmp(name, "attached") == 0)
		return false;
	return !(len >= 5 && strcmp(name + len - 5, ".sock") == 0);
}

/* Removes every symlink in dir (only symlinks: the directory is ours, but
 * a person may have put something else there). */
static int clear_links(const char *dir)
{
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char path[1024];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			unlink(path);
	}
	closedir(d);
	return 0;
}

int devfiles_links_update(const char *rundir, const char *name, const struct devfile *files,
                          unsigned n)
{
	char dir[512], path[1024], tmp[1100];
	char names[DEVFILES_MAX][16];
	int rc;

	if (!devfiles_link_dir_ok(name))
		return -EINVAL;
	if (n > DEVFILES_MAX)
		n = DEVFILES_MAX;
	snprintf(dir, sizeof(dir), "%s/%s", rundir, name);
	if (mkdir(rundir, 0755) != 0 && errno != EEXIST)
		return -errno;
	if (mkdir(dir, 0755) != 0 && errno != EEXIST)
		return -errno;
	if ((rc = clear_links(dir)) < 0)
		return rc;
	devfiles_link_names(files, n, names);
	for (unsigned i = 0; i < n; i++) {
		/* A temporary name and rename(2): a reader never sees the link
		 * missing or half-made. */
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		snprintf(tmp, sizeof(tmp), "%s.new", path);
		unlink(tmp);
		if (symlink(files[i].path, tmp) != 0 || rename(tmp, path) != 0)
			return -errno;
	}
	return 0;
}

int devfiles_links_remove(const char *rundir, const char *name)
{
	char dir[512];
	int rc;

	if (!devfiles_link_dir_ok(name))
		return -EINVAL;
	snprintf(dir, sizeof(dir), "%s/%s", rundir, name);
	if ((rc = clear_links(dir)) < 0)
		return rc;
	return rmdir(dir) == 0 ? 0 : -errno;
}
