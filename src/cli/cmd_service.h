/* SPDX-License-Identifier: MIT */
/*
 * cmd_service.h - `usblab service install|uninstall`: puts usblabd's systemd
 * unit (system or user) and, for the system service, a udev rule giving a
 * group the boards in place, then enables and starts the service.
 */
#ifndef UL_CMD_SERVICE_H
#define UL_CMD_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

struct service_opts {
	bool user;         /* a user service (~/.config/systemd/user), no udev rule */
	const char *group; /* the group udev gives the boards (default plugdev) */
	const char *root;  /* write under this directory, run nothing (packaging, tests) */
	const char *exec;  /* the usblabd to run; default: beside this usblab */
	bool no_start;     /* write the files, do not enable or start */
};

/* The paths install writes: the unit file and (system only) the udev rule.
 * Returns 0, or -1 when a path does not fit or no home directory is known. */
int service_paths(const struct service_opts *o, char *unit, size_t unit_cap, char *rules,
                  size_t rules_cap);

/* usblab service install / uninstall; they print and return the exit status
 * (0, or 1 with a message on stderr). */
int service_install(const struct service_opts *o);
int service_uninstall(const struct service_opts *o);

#endif /* UL_CMD_SERVICE_H */
