/* SPDX-License-Identifier: MIT */
/*
 * cmd_monitor.h - usblab monitor: a serial monitor that follows a board by
 * name across re-enumerations (a flash, a reset, a client-side re-attach).
 *
 * The monitor parses its own arguments: usblab.c hands it the command line
 * from the verb on, with the control socket's path resolved. What it
 * prints: the port's bytes on stdout as they come; a marker line for each
 * connect and disconnect (on stdout when it is a terminal, else on stderr,
 * so that stdout holds the board's output only).
 */
#ifndef UL_CMD_MONITOR_H
#define UL_CMD_MONITOR_H

/* Exit status of usblab monitor (beyond usblab's 0 done, 2 bad usage). */
enum {
	MONITOR_EXIT_FAILED = 1,      /* cannot open or set up the port, the log, unknown board */
	MONITOR_EXIT_NOT_RUNNING = 3, /* no local link for NAME and no usblabd answers */
};

/*
 * Runs `usblab monitor ...`: argv[0] is "monitor"; socket_path is the
 * control socket (--socket, $USBLAB_SOCKET or the default; a --socket after
 * the verb wins). Returns when --timeout runs out, on SIGINT/SIGTERM/SIGHUP
 * or Ctrl-T q (status 0), or on an error (the status above, or 2 for bad
 * usage), with stdin's terminal mode restored.
 */
int monitor_main(int argc, char **argv, const char *socket_path);

#endif /* UL_CMD_MONITOR_H */
