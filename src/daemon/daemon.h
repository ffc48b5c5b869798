/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - usblabd's state, owned by main(): the event loop, the usbip
 * server core, the listeners and the backends' handles. No other mutable
 * state exists outside it (ul_log's threshold aside).
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "ul_log.h"
#include "usbip_server.h"

#define DAEMON_MAX_VIRTUAL   64
#define DAEMON_MAX_LISTENERS 8
/* File descriptors usblabd needs besides one per client and those open
 * once its devices are (counted at start): listeners, accept's spare. */
#define DAEMON_FD_RESERVE 16
#define USBLABD_VERSION   "0.1.0"

struct usbdev_ctx;
struct dconn;
struct bench;
struct api_sim;

struct usblabd {
	struct event_base *base;
	struct evconnlistener *listeners[DAEMON_MAX_LISTENERS];
	unsigned nlisteners;
	struct event *sigint, *sigterm;
	struct event *ev_accept_resume; /* re-enables accepting after EMFILE */
	struct event *ev_mem_retry;     /* resumes clients that waited for memory */
	struct event *ev_trim;          /* gives freed memory back to the system */
	struct event *ev_log_flush;     /* prints the limiters' pending counts */
	struct event *ev_paused_check;  /* notices paused clients that left */
	struct usbip_server srv;
	struct usbdev_ctx *usb;
	struct bench *bench; /* NULL until bench_start() */
	struct usbip_export *virt[DAEMON_MAX_VIRTUAL];
	unsigned nvirt;
	struct api_sim *sim;   /* their unplug, replug, re-enumeration (api_sim.c) */
	struct dconn *conns;   /* newest first */
	struct dconn *feeding; /* the connection whose bytes the core is parsing */

	/* Limits (usblabd --help documents them). */
	unsigned max_clients;    /* connections at once */
	unsigned max_op_clients; /* ... of them not yet importing (OP phase) */
	unsigned max_per_source; /* ... from one address */
	unsigned deadline_ms;    /* to finish an OP request, or a URB's OUT data */
	size_t max_bytes;        /* all memory held for clients */
	size_t max_conn_bytes;   /* one client's share of it */

	/* Accounting. */
	unsigned nclients, nop, nmem_wait;
	size_t held_bytes, peak_bytes, trim_mark;
	unsigned long long nconn_total, nevicted;
	bool accept_paused;

	/* Events a peer can repeat at will are logged through these. */
	struct ul_log_limit lim_refuse, lim_evict, lim_close, lim_deadline, lim_accept, lim_import,
	        lim_memory;
};

/* Sets up the daemon's events and limiters once d->base exists. Returns 0
 * or -1 (out of memory). */
int dconn_init(struct usblabd *d);

/* Starts listening on addr ("HOST:PORT", "[V6]:PORT" or "PORT"); may be
 * called for up to DAEMON_MAX_LISTENERS addresses (dlisten.c). Returns 0,
 * -1 with a reason in err when the address cannot be used, or -2 when it
 * does not parse (bad usage). */
int dlisten_open(struct usblabd *d, const char *addr, char *err, size_t errlen);

/* Whether addr parses as a listen address. */
bool dlisten_addr_valid(const char *addr);

/* Closes the listeners. */
void dlisten_close(struct usblabd *d);

/* The usbip_server_ops that connect the core to libevent. */
extern const struct usbip_server_ops dconn_server_ops;

/* Closes every connection (their URBs are cancelled) and frees the events
 * dconn_init made. */
void dconn_shutdown(struct usblabd *d);

#endif /* DAEMON_H */
