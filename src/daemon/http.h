/* SPDX-License-Identifier: MIT */
/*
 * http.h - the control API over HTTP (libevent's evhttp), its live event
 * stream as Server-Sent Events, Prometheus metrics and the embedded web
 * dashboard. Every /api request becomes one api_request() call: the same
 * handlers as the Unix socket (docs/control-api.md); the paths and their
 * JSON are docs/openapi.yaml, the security model the README's "Dashboard
 * and HTTP API".
 */
#ifndef UL_HTTP_H
#define UL_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "api.h"
#include "usbip_server.h"

#define HTTP_DEFAULT_LISTEN "127.0.0.1:3241"
#define HTTP_MAX_BODY       65536         /* bytes of a POST body (413 above) */
#define HTTP_MAX_CALLS      256           /* requests in flight and streams at once */
#define HTTP_STREAM_MAX_OUT (1024 * 1024) /* drop a stream above this unsent output */
#define HTTP_HEARTBEAT_S    15            /* a comment line on every stream this often */
#define HTTP_MAX_TOKENS     32            /* lines of a token file */
#define HTTP_LAG_MAX        65536         /* uncommitted events whose time /metrics keeps */

struct http;

struct http_opts {
	const char *listen;      /* HOST:PORT, [IPV6]:PORT; NULL: HTTP_DEFAULT_LISTEN */
	const char *token_file;  /* "TOKEN [LABEL]" lines; NULL: no token */
	struct tracker *tracker; /* events counted for /metrics; NULL: none */
	/* For /metrics: the exports' URB counters (NULL: none shown), and
	 * whether a store commits events (then http_store_committed() reports
	 * its progress and /metrics shows the events not yet committed). */
	struct usbip_server *srv;
	bool store;
	/* TLS (README, "Dashboard and HTTP API"): PEM certificate chain and
	 * private key; both or neither. NULL: plain HTTP. */
	const char *cert_file;
	const char *key_file;
};

/*
 * Listens on o->listen and answers with api's handlers (the caller keeps
 * api alive until http_stop). A non-loopback address needs a token file
 * (then every /api and /metrics request must carry `Authorization: Bearer
 * TOKEN`); on a loopback address a token file makes POSTs need the token.
 * Returns 0 and *out, or -1 with a reason in err.
 */
int http_start(struct http **out, struct event_base *base, struct api *api,
               const struct http_opts *o, char *err, size_t errlen);

/* Ends every stream and request in flight, closes the listener. NULL is
 * allowed. */
void http_stop(struct http *h);

/* Checks usblabd's --http-cert and --http-key before anything starts: both
 * or neither, and readable. 0, or -1 with a reason in err (a usage error). */
int http_tls_files_check(const char *cert, const char *key, char *err, size_t errlen);

/* The store committed (rc 0) or failed to write (rc < 0) every event up to
 * seq: the event-store lag of /metrics. h may be NULL. */
void http_store_committed(struct http *h, uint64_t seq, int rc);

/* The port it listens on (useful with port 0). */
unsigned http_port(const struct http *h);

#endif /* UL_HTTP_H */
