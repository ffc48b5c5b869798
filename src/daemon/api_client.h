/* SPDX-License-Identifier: MIT */
/*
 * api_client.h - the control API's client-side methods (docs/control-api.md,
 * "Attachments"): attach.adopt, attach.drop, attach.list, over the
 * attachments the local usblabd follows (attach_track.h). api.c's method
 * table points at them; the accessors below are api.c's, for handlers that
 * live in other files.
 */
#ifndef UL_API_CLIENT_H
#define UL_API_CLIENT_H

#include <jansson.h>

#include "api.h"

struct api_call;

/* ---- api.c's accessors ---- */

/* The request's params (an object; borrowed). */
json_t *api_call_params(const struct api_call *c);
/* Who asks. */
const struct api_caller *api_call_who(const struct api_call *c);
/* What the daemon lends the handlers. */
const struct api_env *api_call_env(const struct api_call *c);
/* Replies {"result": result} (steals it). */
void api_call_reply(const struct api_call *c, json_t *result);
/* Replies {"error": {"code": code, "message": message}}. */
void api_call_fail(const struct api_call *c, const char *code, const char *message);

/* ---- the methods ---- */

/* attach.adopt {"record": {...as attach_record_json}, "what": "...",
 * "token": "..."} -> {"adopted": true, "attachment": {...}} */
void api_attach_adopt(const struct api_call *c);
/* attach.drop {"name": NAME|PORT} -> {"dropped": true, "attachment": {...}} */
void api_attach_drop(const struct api_call *c);
/* attach.list -> {"attachments": [...]} */
void api_attach_list(const struct api_call *c);

#endif /* UL_API_CLIENT_H */
