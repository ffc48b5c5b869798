/* SPDX-License-Identifier: MIT */
/*
 * api_client.h - the control API's client-side methods (docs/control-api.md,
 * "Attachments"): attach.adopt, attach.drop, attach.list, over the
 * attachments the local usblabd follows (attach_track.h). api.c's method
 * table points at them; they see the request through api_call.h.
 */
#ifndef UL_API_CLIENT_H
#define UL_API_CLIENT_H

#include "api_call.h"

/* ---- the methods ---- */

/* attach.adopt {"record": {...as attach_record_json}, "what": "...",
 * "token": "..."} -> {"adopted": true, "attachment": {...}} */
void api_attach_adopt(const struct api_call *c);
/* attach.drop {"name": NAME|PORT} -> {"dropped": true, "attachment": {...}} */
void api_attach_drop(const struct api_call *c);
/* attach.list -> {"attachments": [...]} */
void api_attach_list(const struct api_call *c);

#endif /* UL_API_CLIENT_H */
