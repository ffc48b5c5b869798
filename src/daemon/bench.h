/* SPDX-License-Identifier: MIT */
/*
 * bench.h - the daemon's bench manager glue: it loads the registry, owns
 * the tracker, the store's worker, the inventory, the control API and its
 * socket, and connects them to the USB/IP server (docs/architecture.md).
 */
#ifndef UL_BENCH_H
#define UL_BENCH_H

#include <stdbool.h>
#include <stddef.h>

#include "usbip_server.h"

struct usblabd;
struct bench;

struct bench_opts {
	const char *registry; /* devices.conf path; NULL: the XDG default */
	const char *db;       /* database path; NULL: the XDG default; "none": no store */
	const char *control;  /* socket path; NULL: the XDG default; "none": no socket */
	bool inventory;       /* follow the machine's USB devices through udev */
	const char *http;     /* HTTP API HOST:PORT; NULL: the default (busy: a warning); "none" */
	const char *http_token_file; /* bearer tokens for the HTTP API; NULL: none */
	const char *http_cert;       /* TLS certificate chain (PEM); NULL: plain HTTP */
	const char *http_key;        /* its private key (PEM) */
	const char *insight_hub;     /* USB Insight Hub TTY[@LOCATION], auto or none; NULL: auto
	                              * with the inventory, else none */
};

/* Starts everything; before the loop runs (it reads the registry and the
 * store synchronously). Returns 0, or -1 with a reason in err. */
int bench_start(struct bench **out, struct usblabd *d, const struct bench_opts *o, char *err,
                size_t errlen);
void bench_stop(struct bench *b);

/* usbip_server_ops.import_lookup: resolves NAME, BUSID, NAME#TOKEN or
 * BUSID#TOKEN and applies the lease. peer is the client's address. */
int bench_import_lookup(struct bench *b, const char *peer, const char *requested,
                        struct usbip_export **exp);
void bench_import_refused(struct bench *b, const char *peer, const char *requested, int status);
void bench_imported(struct bench *b, const char *peer, struct usbip_export *exp);
/* gone: the client vanished or erred, rather than closing normally. */
void bench_released(struct bench *b, const char *peer, struct usbip_export *exp, bool gone,
                    const char *why);
void bench_exported(struct bench *b, struct usbip_export *exp);
void bench_unexported(struct bench *b, struct usbip_export *exp);

/* usbip_server_ops.devlist_entry: a named board's path starts with its
 * name (and its lease holder), the only free text a stock client prints. */
void bench_devlist_entry(struct bench *b, const struct usbip_export *exp,
                         struct usbip_usb_device *shown);

/* Re-reads the registry (SIGHUP, inotify, the reload verb). */
int bench_reload(struct bench *b, char *err, size_t errlen);

#endif /* UL_BENCH_H */
