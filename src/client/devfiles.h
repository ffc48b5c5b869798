/* SPDX-License-Identifier: MIT */
/*
 * devfiles.h - the device files (/dev/ttyACM0, /dev/sdb, /dev/hidraw2,
 * /dev/input/event5) that belong to one USB device, found by walking its
 * sysfs directory, and the stable per-board symlinks made from them
 * (/run/usblab/NAME/tty, disk, hidraw, input; tty1 ... when several).
 *
 * The walk takes the sysfs root as a parameter ("/sys" on a machine), so
 * that tests run it over a fake tree. It follows what src/bench/inventory.c
 * takes through libudev: tty, block disks (not partitions), hidraw and
 * input event nodes, each a class device with DEVNAME= in its uevent file.
 */
#ifndef UL_DEVFILES_H
#define UL_DEVFILES_H

#include <stdbool.h>
#include <stddef.h>

#define DEVFILES_MAX 16

/* What a device file is, and the symlink stem it gets. */
enum devfile_kind {
	DEVFILE_TTY,
	DEVFILE_DISK,
	DEVFILE_HIDRAW,
	DEVFILE_INPUT,
};

struct devfile {
	enum devfile_kind kind;
	char path[64]; /* "/dev/" + the uevent's DEVNAME */
};

/* The symlink stem of a kind: "tty", "disk", "hidraw", "input". */
const char *devfile_kind_name(enum devfile_kind kind);

/*
 * Finds the device files under the USB device `busid` (e.g. "4-1"), i.e.
 * below SYSROOT/bus/usb/devices/BUSID, in sysfs order (directory entries
 * sorted by name). Stores up to max in out[]. Returns the number found
 * (which may exceed max), or -1 when the device does not exist.
 */
int devfiles_find(const char *sysroot, const char *busid, struct devfile *out, unsigned max);

/* How far the kernel got with binding drivers to a device's interfaces. */
struct devfiles_binding {
	bool present;    /* the device directory exists */
	bool configured; /* it has interfaces (a configuration is set) */
	unsigned nintf;  /* interfaces (BUSID:C.I directories) */
	unsigned nbound; /* ... with a driver */
	bool storage;    /* one of them is bound to usb-storage or uas */
};

/* Fills b for the device busid. Returns 0 (also for an absent device:
 * b->present is then false). */
int devfiles_binding(const char *sysroot, const char *busid, struct devfiles_binding *b);

/*
 * Names the stable symlinks for files[0..n): per kind, the first gets the
 * bare stem ("tty"), the next ones the stem and their rank ("tty1",
 * "tty2", ...). names[i] (cap bytes each) receives the name of files[i].
 */
void devfiles_link_names(const struct devfile *files, unsigned n, char (*names)[16]);

/*
 * Checks that a board name can be a directory under the run directory: not
 * empty, at most 63 bytes, no '/', not "." or "..", not "attached" (the
 * record directory) and not ending in ".sock". Returns true when it can.
 */
bool devfiles_link_dir_ok(const char *name);

/*
 * Makes RUNDIR/NAME/ hold exactly one symlink per file (names from
 * devfiles_link_names), replacing what a previous attach left there.
 * Returns 0, or -errno of the first failure.
 */
int devfiles_links_update(const char *rundir, const char *name, const struct devfile *files,
                          unsigned n);

/* Removes RUNDIR/NAME/'s symlinks and the directory. Returns 0 or -errno
 * (-ENOENT when there was nothing). */
int devfiles_links_remove(const char *rundir, const char *name);

#endif /* UL_DEVFILES_H */
