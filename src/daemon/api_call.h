/* SPDX-License-Identifier: MIT */
/*
 * api_call.h - what a control-API handler in its own file (api_power.c,
 * ...) sees of the request it handles: its parameters and caller, board
 * resolution with api.c's errors, and replies now or later. The method
 * table stays in api.c (one line per method); docs/control-api.md lists
 * the methods. For the daemon's handlers only: transports use api.h.
 */
#ifndef UL_API_CALL_H
#define UL_API_CALL_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "api.h"

/* One request, valid only during the handler's call. */
struct api_call;
/* A reply that will come later (api_call_defer). */
struct api_reply;

const struct api_env *api_call_env(const struct api_call *c);
/* The request's params, an object (borrowed). */
json_t *api_call_params(const struct api_call *c);
const struct api_caller *api_call_who(const struct api_call *c);

/* Resolves what a person typed into a board, as every method does; on
 * failure replies (unknown_board with candidates, ambiguous, bad_regex,
 * bad_request) and returns NULL. */
const struct board *api_call_resolve(const struct api_call *c, const char *query);

/* Replies now. result and extra are stolen (extra may be NULL: its fields
 * join {"code","message"}). */
void api_call_result(const struct api_call *c, json_t *result);
void api_call_error(const struct api_call *c, const char *code, const char *message, json_t *extra);

/*
 * Keeps the request open for a reply later. Returns the reply, or NULL
 * after replying "internal" when memory is short. The reply lives until
 * api_reply_result()/api_reply_error() (which free it) or the API is freed
 * at shutdown; when the client goes first, those send nothing.
 */
struct api_reply *api_call_defer(const struct api_call *c);
bool api_reply_client_gone(const struct api_reply *r);
void api_reply_result(struct api_reply *r, json_t *result);
void api_reply_error(struct api_reply *r, const char *code, const char *message, json_t *extra);

/* params[key] as a string: 0 with *out (NULL when absent and not
 * required), or -1 after replying bad_request. */
int api_call_string(const struct api_call *c, const char *key, bool required, const char **out);
/* The holder the caller's leases have, without a tag: user@host. */
void api_call_holder(const struct api_call *c, char *out, size_t cap);
/* api_call_error and api_reply_error with a printf message. */
void api_call_errorf(const struct api_call *c, const char *code, json_t *extra, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
void api_reply_errorf(struct api_reply *r, const char *code, json_t *extra, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* ---- the handlers in other files (one line each in api.c's table) ---- */

/* power {"name", "action": off|on|cycle, "timeout", "method"}: api_power.c */
void api_power(const struct api_call *c);
/* api_free: the power requests still in flight over tracker t are
 * abandoned with the api (the daemon stops): no longer in the way of a
 * request to a later api. */
void api_power_abandon(const struct tracker *t);
/* unplug, replug {"name"|"busid"} of a virtual device: api_sim.c */
void api_sim_unplug(const struct api_call *c);
void api_sim_replug(const struct api_call *c);
/* probe, bootloader, boot {"name"} of an ESP32: api_esp32.c */
void api_esp32_probe(const struct api_call *c);
void api_esp32_bootloader(const struct api_call *c);
void api_esp32_boot(const struct api_call *c);

#endif /* UL_API_CALL_H */
