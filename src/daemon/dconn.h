/* SPDX-License-Identifier: MIT */
/*
 * dconn.h - usblabd's connection state, shared by dconn.c (the transport
 * under the usbip core, memory accounting) and dlisten.c (listeners and
 * admission). Internal to src/daemon.
 */
#ifndef DCONN_H
#define DCONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/util.h>

#include "daemon.h"

struct dconn {
	struct usbip_conn core;
	struct usblabd *d;
	evutil_socket_t fd;
	struct event *ev_read, *ev_write, *ev_destroy, *ev_deadline;
	struct event *ev_closed; /* armed while reading is paused */
	struct event *ev_flush;  /* active while replies wait for this loop pass's sendmsg */
	struct evbuffer *out;    /* what the socket did not take at once */
	struct dconn *next, *prev;
	uint8_t *in; /* DCONN_INBUF bytes once used; [in_off, in_have) not yet fed */
	size_t in_off, in_have;
	struct usbip_export *exp; /* imported device, or NULL */
	struct sockaddr_storage addr;
	char peer[64];
	uint64_t accepted_ms;

	/* Framing: bytes of the current message not yet given to the core
	 * (0 at a message boundary), and the last header seen, for logs. */
	size_t frame_left, frame_size;
	uint8_t last[USBIP_HEADER_SIZE];
	size_t last_len;

	/* Memory charged to this connection; charges counts the blocks that
	 * point here, so a closed dconn lives until its last URB is freed. */
	size_t held;
	unsigned charges;
	bool dead;

	bool imported;
	bool closing;      /* the core ended the connection */
	bool failed;       /* ... for an error (not a refused import) */
	bool gone;         /* ended by an error or a vanished peer, not a normal close */
	char why[64];      /* why it ended, for the bench's event */
	bool flush_first;  /* ... normally: destroy once output is sent */
	bool reading;      /* ev_read is armed */
	bool writing;      /* ev_write is armed */
	bool flushing;     /* ev_flush is active */
	bool mem_wait;     /* paused until memory is freed */
	bool pause_logged; /* ... and the pause was logged */
	bool deadline_armed;
};

/*
 * Starts serving an accepted socket: fd and the struct dconn become the
 * daemon's (on success fd is closed with the connection). Returns 0, or -1
 * when out of memory (the caller still owns fd).
 */
int dconn_accept(struct usblabd *d, evutil_socket_t fd, const struct sockaddr *sa, int salen,
                 const char *peer);

/* Closes c at once and frees it (or, while the backend still holds URBs
 * charged to it, when the last one comes back). Not from inside a core
 * callback: conn_drop() defers for those. */
void dconn_free(struct dconn *c);

/* Milliseconds since c was accepted. */
uint64_t dconn_age_ms(const struct dconn *c);

#endif /* DCONN_H */
