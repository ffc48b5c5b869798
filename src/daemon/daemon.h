/* SPDX-License-Identifier: MIT */
/*
 * daemon.h - usblabd's state, owned by main(): the event loop, the usbip
 * server core, the listener and the backends' handles. No other mutable
 * state exists outside it (ul_log's threshold aside).
 */
#ifndef DAEMON_H
#define DAEMON_H

#include <stddef.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "usbip_server.h"

#define DAEMON_MAX_VIRTUAL 16
#define USBLABD_VERSION    "0.1.0"

struct usbdev_ctx;
struct dconn;
struct bench;

struct usblabd {
	struct event_base *base;
	struct evconnlistener *listener;
	struct event *sigint, *sigterm;
	struct usbip_server srv;
	struct usbdev_ctx *usb;
	struct bench *bench; /* NULL until bench_start() */
	struct usbip_export *virt[DAEMON_MAX_VIRTUAL];
	unsigned nvirt;
	struct dconn *conns;

	/* Limits (usblabd --help documents them). */
	unsigned max_clients;
	size_t max_urb_bytes; /* all URB memory of the process */
	size_t max_out_queue; /* per connection: stop reading above it */

	/* Accounting. */
	unsigned nclients;
	size_t urb_bytes;
	unsigned long long nconn_total;
};

/* Starts listening on addr ("HOST:PORT", "[V6]:PORT" or "PORT"). Returns 0,
 * or -1 with a reason in err. */
int dconn_listen(struct usblabd *d, const char *addr, char *err, size_t errlen);

/* The usbip_server_ops that connect the core to libevent. */
extern const struct usbip_server_ops dconn_server_ops;

/* Closes the listener and every connection (their URBs are cancelled). */
void dconn_shutdown(struct usblabd *d);

#endif /* DAEMON_H */
