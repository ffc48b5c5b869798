/* SPDX-License-Identifier: MIT */
/*
 * cmd_power.h - `usblab power off|on|cycle NAME`: one control-API call
 * (`power`, docs/control-api.md); usblabd switches the board's hub port and
 * waits for the board to depart (off) and come back (on). This prints the
 * reply and returns usblab's exit status.
 */
#ifndef UL_CMD_POWER_H
#define UL_CMD_POWER_H

#include <stdbool.h>

/* Exit status beyond usblab.c's 0..4 and cmd_client.h's 5..6. */
enum {
	POWER_EXIT_NO_CUT = 7, /* switched off, but the board stayed: the hub does not cut VBUS */
};

struct power_cli_opts {
	const char *socket_path;
	bool json;
	long long timeout_s; /* for each wait (departure, return); -1: the daemon's default */
	const char *method;  /* "auto" (NULL), "sysfs", "hub-request" ($USBLAB_POWER_METHOD) */
};

/* usblab power ACTION NAME. Returns the exit status; messages on stderr. */
int cmd_power(const struct power_cli_opts *o, const char *action, const char *name);

/* `usblab power --help`. */
extern const char cmd_power_help[];

#endif /* UL_CMD_POWER_H */
