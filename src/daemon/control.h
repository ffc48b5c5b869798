/* SPDX-License-Identifier: MIT */
/*
 * control.h - the control API's Unix-socket transport: one JSON object per
 * line each way (docs/control-api.md), callers identified by SO_PEERCRED,
 * each request handed to api_request().
 */
#ifndef UL_CONTROL_H
#define UL_CONTROL_H

#include <stddef.h>

#include <event2/event.h>

#include "api.h"

/* Limits (docs/control-api.md, "Framing"). */
#define CONTROL_MAX_LINE    65536         /* bytes of one request, without its \n */
#define CONTROL_READ_PAUSE  (256 * 1024)  /* stop reading a client above this unread output */
#define CONTROL_MAX_OUT     (1024 * 1024) /* drop a client above this unread output */
#define CONTROL_MAX_CLIENTS 256

struct control;

/*
 * Listens on the Unix socket path: creates its directory (0700; the
 * runtime directory with ul_path_mkdir), refuses to start when another
 * daemon answers on it, removes a stale socket file otherwise, and gives
 * the socket mode 0660. Requests go to api (which the caller keeps alive
 * until control_close). Returns 0 and *out, or -1 with a reason in err.
 */
int control_listen(struct control **out, struct event_base *base, struct api *api, const char *path,
                   char *err, size_t errlen);

/* Closes every client (api_client_gone for each), the listener, and
 * removes the socket file. NULL is allowed. */
void control_close(struct control *c);

/* How many clients are connected. */
unsigned control_clients(const struct control *c);

#endif /* UL_CONTROL_H */
