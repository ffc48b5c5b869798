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

#include <event2/event.h>

#include "api.h"

#define HTTP_DEFAULT_LISTEN "127.0.0.1:3241"
#define HTTP_MAX_BODY       65536         /* bytes of a POST body (413 above) */
#define HTTP_MAX_CALLS      256           /* requests in flight and streams at once */
#define HTTP_STREAM_MAX_OUT (1024 * 1024) /* drop a stream above this unsent output */
#define HTTP_HEARTBEAT_S    15            /* a comment line on every stream this often */
#define HTTP_MAX_TOKENS     32            /* lines of a token file */

struct http;

struct http_opts {
	const char *listen;      /* HOST:PORT, [IPV6]:PORT; NULL: HTTP_DEFAULT_LISTEN */
	const char *token_file;  /* "TOKEN [LABEL]" lines; NULL: no token */
	struct tracker *tracker; /* events counted for /metrics; NULL: none */
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

/* The port it listens on (useful with port 0). */
unsigned http_port(const struct http *h);

#endif /* UL_HTTP_H */
