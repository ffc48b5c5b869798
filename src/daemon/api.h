/* SPDX-License-Identifier: MIT */
/*
 * api.h - the control API's handler set: one JSON request in, one JSON
 * reply out (now or later), plus live event streams. Transport-free: the
 * Unix-socket control server (control.c) and the HTTP server call the same
 * handlers, so there is one source of truth. The protocol (methods, fields,
 * error codes) is docs/control-api.md.
 */
#ifndef UL_API_H
#define UL_API_H

#include <stdbool.h>
#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "storeq.h"
#include "tracker.h"

struct api;
struct attach_track;
struct api_esp32;
struct usblabd;

/* What the daemon lends the handlers. */
struct api_env {
	struct event_base *base;
	struct tracker *tracker;
	struct storeq *storeq; /* NULL without a store: history queries fail with "no_store" */
	void *arg;             /* passed to the callbacks below */
	/* Re-reads the registry; 0, or -1 with the reason (the last good one stays). */
	int (*reload)(void *arg, char *err, size_t errlen);
	/* A lease was taken, renewed or released: re-arm the expiry timer. */
	void (*leases_changed)(void *arg);
	/* Daemon-wide facts for "status" (version, pid, listen addresses, paths); new ref. */
	json_t *(*status)(void *arg);
	/* The attachments this daemon follows (attach_track.h), or NULL. */
	struct attach_track *attach;
	/* The daemon, for methods that act on its devices (api_sim.c); may be NULL. */
	struct usblabd *daemon;
	/* The ESP32 verbs' worker and probes (api_esp32.c); may be NULL. */
	struct api_esp32 *esp32;
};

/* Who is asking, as the transport established it (SO_PEERCRED for the Unix
 * socket). user@host is a lease's holder. */
struct api_caller {
	char user[64];
	char host[64];
	char addr[64]; /* network address for remote callers, "" for local ones */
};

/* The transport's side: send one message to the client (steals msg). */
struct api_client_ops {
	void (*send)(void *client, json_t *msg);
};

struct api *api_new(const struct api_env *env);
void api_free(struct api *api);

/* The tracker subscriber that feeds live streams; arg is the api. */
extern const struct tracker_sub_ops api_stream_sub;

/* Handles req ({"id":…, "method":…, "params":{…}}; steals it). Exactly one
 * reply, {"id":…, "result":…} or {"id":…, "error":{"code":…,"message":…}},
 * goes to ops->send(client, …), now or later; a follow request then keeps
 * sending {"event":{…}} until api_client_gone(). */
void api_request(struct api *api, json_t *req, const struct api_caller *who,
                 const struct api_client_ops *ops, void *client);

/* The client is gone: nothing more is sent to it; its waits and streams end. */
void api_client_gone(struct api *api, void *client);

/* JSON of a board and of an event, as every reply and stream shows them. */
json_t *api_board_json(const struct tracker *t, const struct board *b);
json_t *api_event_json(const struct ul_event *ev);

#endif /* UL_API_H */
