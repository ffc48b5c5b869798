/* SPDX-License-Identifier: MIT */
/*
 * cmd_power.c - `usblab power off|on|cycle NAME` (cmd_power.h).
 */
#include "cmd_power.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ctl.h"

/* usblab.c's exit status, repeated here (its enum is private to it). */
enum {
	P_EXIT_OK = 0,
	P_EXIT_FAILED = 1,
	P_EXIT_USAGE = 2,
	P_EXIT_NOT_RUNNING = 3,
	P_EXIT_TIMEOUT = 4
};

#define POWER_DEFAULT_WAIT_S 10 /* the daemon's default, for our own reply timeout */

const char cmd_power_help[] =
        "Usage: usblab power off|on|cycle NAME [--timeout S] [--json]\n\n"
        "Switches the hub port the board hangs off: off, on, or off and on again.\n"
        "usblabd finds the port from the board's location (1-1.2 is port 2 of hub\n"
        "1-1), switches it through the port's sysfs `disable` file (Linux >= 6.0) or\n"
        "hub class requests (SET/CLEAR_FEATURE PORT_POWER), and switches the other\n"
        "half of a USB3 hub too (the hub with the same Container ID).\n\n"
        "The board's departure is the proof: after off it must depart within the\n"
        "timeout, or usblab says the hub does not cut its power (exit 7). on and\n"
        "cycle wait for it to come back, by name. A hub without power switching is\n"
        "refused with its wHubCharacteristics. A board leased by someone else is\n"
        "refused. Each switch is a `power` event (`usblab events --kind power`).\n\n"
        "Options:\n"
        "  --timeout S     seconds to wait for the departure, and again for the\n"
        "                  return (default 10, at most 600)\n"
        "  --json          print the reply as JSON\n"
        "  --socket PATH   the control socket\n\n"
        "Environment: USBLAB_POWER_METHOD=sysfs|hub-request forces a method (tests).\n\n"
        "Exit status: 0 done; 1 refused (unknown board, no hub port, no power\n"
        "switching, leased, permission); 2 bad usage; 3 usblabd is not running;\n"
        "4 switched on but the board did not come back in time; 7 switched off but\n"
        "the board did not depart: the hub does not cut VBUS.\n"
        "\nExamples:\n  usblab power cycle esp-a\n  usblab power off esp-a --timeout 5\n";

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static void print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);

	if (text) {
		puts(text);
		free(text);
	}
}

static void print_port(const json_t *p)
{
	printf("hub %s port %d", jstr(p, "hub"),
	       (int)json_integer_value(json_object_get(p, "port")));
}

static void print_result(const char *action, const json_t *r)
{
	const json_t *peer = json_object_get(r, "peer");
	const json_t *gone = json_object_get(r, "departed_ms");
	const json_t *back = json_object_get(r, "returned_ms");

	printf("%s: %s ", jstr(r, "name"), action);
	print_port(json_object_get(r, "port"));
	printf(" (%s switching, %s)", jstr(json_object_get(r, "port"), "switching"),
	       jstr(r, "method"));
	if (json_is_object(peer)) {
		printf(", and ");
		print_port(peer);
	}
	putchar('\n');
	if (json_is_integer(gone))
		printf("  departed after %lld ms\n", (long long)json_integer_value(gone));
	if (json_is_integer(back))
		printf("  back after %lld ms as %s\n", (long long)json_integer_value(back),
		       jstr(r, "busid"));
	if (*jstr(r, "note"))
		printf("  note: %s\n", jstr(r, "note"));
	fflush(stdout);
}

static int error_status(const char *code)
{
	if (strcmp(code, "no_departure") == 0)
		return POWER_EXIT_NO_CUT;
	if (strcmp(code, "no_return") == 0)
		return P_EXIT_TIMEOUT;
	if (strcmp(code, "bad_request") == 0 || strcmp(code, "bad_regex") == 0)
		return P_EXIT_USAGE;
	return P_EXIT_FAILED;
}

int cmd_power(const struct power_cli_opts *o, const char *action, const char *name)
{
	struct ctl c = {.fd = -1};
	json_t *p, *msg = NULL, *e;
	char err[600];
	long long wait_s = o->timeout_s > 0 ? o->timeout_s : POWER_DEFAULT_WAIT_S;
	int rc;

	if (strcmp(action, "off") && strcmp(action, "on") && strcmp(action, "cycle")) {
		fprintf(stderr, "usblab power: want off, on or cycle, not '%s'\n", action);
		return P_EXIT_USAGE;
	}
	rc = ctl_connect(&c, o->socket_path, err, sizeof(err));
	if (rc == CTL_E_NOT_RUNNING) {
		fprintf(stderr, "usblab: usblabd is not running (nothing answers on %s)\n",
		        o->socket_path);
		return P_EXIT_NOT_RUNNING;
	}
	if (rc != CTL_OK) {
		fprintf(stderr, "usblab: %s\n", err);
		return P_EXIT_FAILED;
	}
	p = json_pack("{s:s, s:s}", "name", name, "action", action);
	if (o->timeout_s > 0)
		json_object_set_new(p, "timeout", json_integer(o->timeout_s));
	if (o->method && *o->method)
		json_object_set_new(p, "method", json_string(o->method));
	/* The daemon may wait twice (cycle: departure, then return), plus the
	 * switching itself and the gap between. */
	if (ctl_send(&c, 1, "power", p, err, sizeof(err)) != CTL_OK ||
	    ctl_read(&c, (int)(2 * wait_s * 1000 + 30000), &msg, err, sizeof(err)) != CTL_OK) {
		fprintf(stderr, "usblab: %s\n", err);
		rc = P_EXIT_FAILED;
		goto out;
	}
	e = json_object_get(msg, "error");
	if (e) {
		if (o->json) {
			json_t *doc = json_pack("{s:O}", "error", e);

			print_json(doc);
			json_decref(doc);
		}
		fprintf(stderr, "usblab: %s\n", jstr(e, "message"));
		rc = error_status(jstr(e, "code"));
		goto out;
	}
	if (o->json)
		print_json(json_object_get(msg, "result"));
	else
		print_result(action, json_object_get(msg, "result"));
	rc = P_EXIT_OK;
out:
	json_decref(p);
	json_decref(msg);
	ctl_close(&c);
	return rc;
}
