/* SPDX-License-Identifier: MIT */
/*
 * api_client.c - attach.adopt, attach.drop, attach.list (api_client.h):
 * parameters in, attach_track.h calls, replies out.
 */
#include "api_client.h"

#include <stdio.h>
#include <string.h>

#include "attach_track.h"

/* The error code each attach_track error replies with. */
static const char *track_code(int rc)
{
	switch (rc) {
	case ATTACH_TRACK_E_ARG:
		return "bad_request";
	case ATTACH_TRACK_E_NOTHERE:
		return "not_attached";
	case ATTACH_TRACK_E_VHCI:
		return "no_vhci";
	case ATTACH_TRACK_E_DUP:
		return "exists";
	case ATTACH_TRACK_E_UNKNOWN:
		return "unknown_attachment";
	default:
		return "internal";
	}
}

/* The daemon's tracker of attachments, or NULL after replying. Only local
 * callers (the Unix socket) may use these methods: they make the daemon
 * import from a server and write vhci-hcd. */
static struct attach_track *track_of(const struct api_call *c)
{
	const struct api_env *env = api_call_env(c);

	if (api_call_who(c)->addr[0]) {
		api_call_error(c, "forbidden", "attach.* is for callers on this machine only",
		               NULL);
		return NULL;
	}
	if (!env->attach) {
		api_call_error(c, "no_client", "this usblabd does not follow attachments", NULL);
		return NULL;
	}
	return env->attach;
}

static const char *string_param(const struct api_call *c, const char *key)
{
	return json_string_value(json_object_get(api_call_params(c), key));
}

void api_attach_adopt(const struct api_call *c)
{
	struct attach_track *at = track_of(c);
	json_t *rj = json_object_get(api_call_params(c), "record");
	const char *what = string_param(c, "what"), *token = string_param(c, "token");
	struct attach_record rec;
	char err[512];
	int rc;

	if (!at)
		return;
	if (!json_is_object(rj) || attach_record_from_json(rj, &rec) < 0) {
		api_call_error(c, "bad_request",
		               "'record' is required: an attachment as `usblab attached --json` "
		               "prints it (port, host, tcp_port, name, lbusid, since, devnodes)",
		               NULL);
		return;
	}
	rc = attach_track_adopt(at, &rec, what ? what : rec.name, token, err, sizeof(err));
	if (rc < 0) {
		api_call_error(c, track_code(rc), err, NULL);
		return;
	}
	api_call_result(c, json_pack("{s:b, s:s}", "adopted", 1, "name", rec.name));
}

void api_attach_drop(const struct api_call *c)
{
	struct attach_track *at = track_of(c);
	const char *name = string_param(c, "name");
	struct attach_record rec;
	char why[128];

	if (!at)
		return;
	if (!name || !*name) {
		api_call_error(c, "bad_request", "'name' is required (a board name or a vhci port)",
		               NULL);
		return;
	}
	snprintf(why, sizeof(why), "no longer followed: %s",
	         api_call_who(c)->user[0] ? api_call_who(c)->user : "usblab detach");
	if (attach_track_drop(at, name, why, &rec) < 0) {
		char msg[160];

		snprintf(msg, sizeof(msg), "usblabd follows no attachment '%.64s'", name);
		api_call_error(c, "unknown_attachment", msg, NULL);
		return;
	}
	api_call_result(
	        c, json_pack("{s:b, s:o}", "dropped", 1, "attachment", attach_record_json(&rec)));
}

void api_attach_list(const struct api_call *c)
{
	struct attach_track *at = track_of(c);

	if (at)
		api_call_result(c, attach_track_json(at));
}
