/* SPDX-License-Identifier: MIT */
/*
 * esp32_port.c - other holders of a serial port (/proc) and a USB device's
 * tty (sysfs) (esp32_port.h).
 */
#include "esp32_port.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool all_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* Whether one of PROC/PID's fds is the device dev. */
static bool holds(const char *proc, const char *pid, dev_t dev)
{
	char dir[300], path[600];
	DIR *d;
	struct dirent *e;
	bool found = false;

	snprintf(dir, sizeof(dir), "%s/%s/fd", proc, pid);
	if (!(d = opendir(dir)))
		return false;
	while (!found && (e = readdir(d))) {
		struct stat st;

		if (!all_digits(e->d_name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		/* stat() follows the magic link to the open file itself. */
		if (stat(path, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == dev)
			found = true;
	}
	closedir(d);
	return found;
}

int esp32_port_holders(const char *proc, const char *tty, pid_t except, pid_t *pid, char *comm,
                       size_t commcap)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int n = 0;

	if (stat(tty, &st) < 0 || !S_ISCHR(st.st_mode))
		return -1;
	if (!(d = opendir(proc)))
		return -1;
	while ((e = readdir(d))) {
		if (!all_digits(e->d_name) || (except > 0 && atol(e->d_name) == (long)except))
			continue;
		if (!holds(proc, e->d_name, st.st_rdev))
			continue;
		if (n++ == 0) {
			char path[300];
			FILE *f;

			if (pid)
				*pid = (pid_t)atol(e->d_name);
			if (comm && commcap) {
				comm[0] = 0;
				snprintf(path, sizeof(path), "%s/%s/comm", proc, e->d_name);
				if ((f = fopen(path, "r"))) {
					if (fgets(comm, (int)commcap, f))
						comm[strcspn(comm, "\n")] = 0;
					fclose(f);
				}
			}
		}
	}
	closedir(d);
	return n;
}

int esp32_port_find_tty(const char *sysroot, const char *busid, char *out, size_t cap)
{
	char dir[400], sub[700];
	size_t blen = strlen(busid);
	DIR *d, *i;
	struct dirent *e, *t;
	int rc = -1;

	snprintf(dir, sizeof(dir), "%s/bus/usb/devices", sysroot);
	if (blen == 0 || !(d = opendir(dir)))
		return -1;
	/* Interfaces are BUSID:C.I; the first one with a tty wins. */
	while (rc < 0 && (e = readdir(d))) {
		if (strncmp(e->d_name, busid, blen) != 0 || e->d_name[blen] != ':')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s/tty", dir, e->d_name);
		if ((i = opendir(sub))) {
			while (rc < 0 && (t = readdir(i)))
				if (strncmp(t->d_name, "tty", 3) == 0) {
					snprintf(out, cap, "/dev/%s", t->d_name);
					rc = 0;
				}
			closedir(i);
			continue;
		}
		snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
		if ((i = opendir(sub))) {
			while (rc < 0 && (t = readdir(i)))
				if (strncmp(t->d_name, "ttyUSB", 6) == 0) {
					snprintf(out, cap, "/dev/%s", t->d_name);
					rc = 0;
				}
			closedir(i);
		}
	}
	closedir(d);
	return rc;
}
