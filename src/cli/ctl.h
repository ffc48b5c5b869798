/* SPDX-License-Identifier: MIT */
/*
 * ctl.h - the CLI's side of the control socket (docs/control-api.md):
 * connect, send one request, read the replies line by line. Blocking; the
 * CLI does one thing at a time.
 */
#ifndef UL_CTL_H
#define UL_CTL_H

#include <stddef.h>

#include <jansson.h>

/* The longest line accepted from the daemon (a `list` of many boards). */
#define CTL_MAX_LINE (16 * 1024 * 1024)

struct ctl {
	int fd;
	char *buf; /* bytes read and not yet returned as lines */
	size_t len, cap;
};

enum ctl_err {
	CTL_OK = 0,
	CTL_E_NOT_RUNNING = -1, /* nothing listens on the socket (ENOENT, ECONNREFUSED) */
	CTL_E_IO = -2,          /* another error; err says which */
	CTL_E_CLOSED = -3,      /* the daemon closed the connection */
	CTL_E_TIMEOUT = -4,     /* no line within the time given */
	CTL_E_PROTO = -5,       /* a line that is not JSON, or too long */
};

/* Connects to the socket at path. Returns CTL_OK, or an error with a
 * reason in err. */
int ctl_connect(struct ctl *c, const char *path, char *err, size_t errlen);

/* Sends {"id":id, "method":method, "params":params} as one line (params
 * may be NULL; it is not stolen). Returns CTL_OK or CTL_E_IO. */
int ctl_send(struct ctl *c, int id, const char *method, json_t *params, char *err, size_t errlen);

/* Reads the next message. timeout_ms < 0 waits forever. Returns CTL_OK
 * and *msg (a new reference), or an error with a reason in err. */
int ctl_read(struct ctl *c, int timeout_ms, json_t **msg, char *err, size_t errlen);

void ctl_close(struct ctl *c);

/* Framing, pure: the length of the first complete line in buf[0..len)
 * without its "\n" (and a "\r" before it), with *used set to the bytes it
 * takes including the "\n"; -1 when no line is complete yet. */
long ctl_line_split(const char *buf, size_t len, size_t *used);

#endif /* UL_CTL_H */
