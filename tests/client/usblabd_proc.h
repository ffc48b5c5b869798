/* SPDX-License-Identifier: MIT */
/*
 * usblabd_proc.h - runs a usblabd process for end-to-end tests and the
 * benchmark: picks a free loopback port, starts the daemon with the given
 * --virtual list, and waits until it accepts connections.
 */
#ifndef USBLABD_PROC_H
#define USBLABD_PROC_H

#include <stdbool.h>
#include <sys/types.h>

struct usblabd_proc {
	pid_t pid;
	char host[16]; /* "127.0.0.1" */
	char port[8];  /* decimal */
	bool reaped;   /* the process has exited and been waited for */
	int status;    /* its wait status, once reaped */
};

/*
 * Starts `exe --listen 127.0.0.1:<port> --virtual <virt>` and waits (up to
 * 10 s) until the port accepts a TCP connection. The daemon's stdout and
 * stderr are the caller's, unless quiet (then /dev/null). Returns 0, or -1
 * with a reason in err when it cannot start or exits early.
 */
int usblabd_proc_start(struct usblabd_proc *p, const char *exe, const char *virt, bool quiet,
                       char *err, size_t errlen);

/* Whether the daemon is still running (it has not exited or crashed). */
bool usblabd_proc_alive(struct usblabd_proc *p);

/*
 * Sends SIGTERM, waits up to 5 s (then SIGKILL) and reaps the process.
 * Returns its wait status as waitpid() gives it (also when it had exited
 * before).
 */
int usblabd_proc_stop(struct usblabd_proc *p);

#endif /* USBLABD_PROC_H */
