/* SPDX-License-Identifier: MIT */
/*
 * paths.h - where usblab keeps things, for the daemon and the CLI alike,
 * after the XDG base directories:
 *   config   $XDG_CONFIG_HOME/usblab   (default ~/.config/usblab)   devices.conf, types.d/
 *   state    $XDG_STATE_HOME/usblab    (default ~/.local/state/usblab) usblab.db
 *   runtime  $XDG_RUNTIME_DIR/usblab   (root without it: /run/usblab;
 *                                       others: /tmp/usblab-UID)      usblabd.sock
 * The system service sets XDG_* so that these become /etc/usblab,
 * /var/lib/usblab and /run/usblab. An XDG variable that is empty or not an
 * absolute path is ignored (the spec says so); without HOME, the passwd
 * entry's home is used.
 */
#ifndef UL_PATHS_H
#define UL_PATHS_H

#include <stddef.h>

enum ul_path_kind {
	UL_PATH_CONFIG = 0,
	UL_PATH_STATE,
	UL_PATH_RUNTIME,
};

/* Writes the directory of kind into out. Returns 0, or -1 when it does not
 * fit or no home directory is known. */
int ul_path_dir(enum ul_path_kind kind, char *out, size_t cap);

/* Writes dir/leaf. Returns 0 or -1. */
int ul_path_file(enum ul_path_kind kind, const char *leaf, char *out, size_t cap);

/* Creates the directory of kind (and its parents) with mode 0700 (0755 for
 * /run/usblab), whatever the umask; directories already there are kept as
 * they are. Returns 0, or -1 with errno set: ENOTDIR when a file is in the
 * way, EPERM when /tmp/usblab-UID belongs to someone else or is open to
 * others (it would hand them the socket). */
int ul_path_mkdir(enum ul_path_kind kind);

#endif /* UL_PATHS_H */
