/* SPDX-License-Identifier: MIT */
/*
 * cmd_plugin.h - type plugins: verbs the built-ins do not cover, run by an
 * executable named for the board's type (devices.conf `type =`).
 *
 *   usblab run NAME VERB [ARGS...]    the plugin of NAME's type does VERB
 *   usblab VERB NAME [ARGS...]        the same, for a VERB usblab does not have
 *
 * Where plugins are looked for, in order (the first that lists VERB wins):
 *   1. $XDG_CONFIG_HOME/usblab/types.d/TYPE   (~/.config/usblab/types.d; the user's)
 *   2. the project's types.d/TYPE: $USBLAB_TYPES_DIR when set; else, for a
 *      usblab run from its build tree, the source tree's types.d/; else the
 *      installed DATADIR/usblab/types.d/ (/usr/local/share/usblab/types.d)
 * A plugin is called as `TYPE --verbs` (it prints the verbs it has, one a
 * line, a description after a space allowed) and then `TYPE VERB [ARGS]`,
 * with the board in the environment (USBLAB_BOARD, USBLAB_TYPE,
 * USBLAB_BUSID, USBLAB_PORT, USBLAB_TTY, USBLAB_DISK, USBLAB_DEVNODES,
 * USBLAB_SERIAL, USBLAB_VID, USBLAB_PID, USBLAB_VIDPID, USBLAB_MAC,
 * USBLAB_STATE, USBLAB_SOCKET, USBLAB_BIN). usblab execs the plugin: its
 * exit status is usblab's.
 */
#ifndef UL_CMD_PLUGIN_H
#define UL_CMD_PLUGIN_H

#include <stdbool.h>

/* Exit status when no plugin has the verb (as an unknown command: usage). */
#define PLUGIN_EXIT_NO_VERB 2

/*
 * `usblab run ...` (argv[0] "run") when fallthrough is false; `usblab VERB
 * NAME ...` (argv[0] the verb) when true. socket_path: the control socket
 * (NULL when none is known). Does not return when the plugin runs (exec);
 * else returns usblab's exit status: 0 (verbs listed), 1 (usblabd refused,
 * exec failed), 2 (bad usage, no plugin has the verb), 3 (usblabd is not
 * running and no --type was given).
 */
int plugin_main(int argc, char **argv, const char *socket_path, bool json, bool fallthrough);

#endif /* UL_CMD_PLUGIN_H */
