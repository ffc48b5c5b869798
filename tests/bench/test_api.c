/* SPDX-License-Identifier: MIT */
/*
 * test_api.c - the control API's handlers in process: a tracker with a
 * registry and three virtual boards, an api over it, and fake clients that
 * record what is sent to them. Covers request validation, every method's
 * reply shape, name resolution errors with candidates, leases between
 * holders, waits (woken by events, timed out, abandoned), --any, live
 * streams, durability (no reply before the commit; store failure), reload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>

#include "api.h"
#include "registry.h"
#include "tracker.h"

#define MAX_MSGS 64

struct fake_client {
	json_t *msgs[MAX_MSGS];
	unsigned n;
};

struct fixture {
	struct event_base *base;
	struct registry reg;
	struct tracker *t;
	struct api *api;
	int64_t now;
	int reloads, leases_changed;
	const char *reload_err; /* NULL: reload succeeds */
	struct fake_client ann, bob, carol;
	struct api_caller who_ann, who_bob;
	/* a durable subscriber that commits only when told */
	bool durable;
	uint64_t last_seq;
};

static const char bench_conf[] = "[cdc]\n"
                                 "serial = USBLAB-CDC-1\n"
                                 "type = virtual\n"
                                 "[hid]\n"
                                 "serial = USBLAB-HID-1\n"
                                 "type = virtual\n"
                                 "[msc]\n"
                                 "serial = USBLAB-MSC-1\n"
                                 "type = virtual\n"
                                 "[esp-a]\n"
                                 "serial = AAAA1111\n"
                                 "type = esp32\n"
                                 "[esp-b]\n"
                                 "serial = BBBB2222\n"
                                 "type = esp32\n";

static int64_t fake_clock(void *ctx)
{
	return ((struct fixture *)ctx)->now;
}

static void fake_send(void *client, json_t *msg)
{
	struct fake_client *c = client;

	assert_true(c->n < MAX_MSGS);
	c->msgs[c->n++] = msg;
}

static const struct api_client_ops fake_ops = {.send = fake_send};

static int fake_reload(void *arg, char *err, size_t errlen)
{
	struct fixture *f = arg;

	f->reloads++;
	if (f->reload_err) {
		snprintf(err, errlen, "%s", f->reload_err);
		return -1;
	}
	return 0;
}

static void fake_leases_changed(void *arg)
{
	((struct fixture *)arg)->leases_changed++;
}

static json_t *fake_status(void *arg)
{
	(void)arg;
	return json_pack("{s:s, s:i}", "version", "test", "boards", 5);
}

static void on_durable(void *arg, const struct ul_event *ev)
{
	((struct fixture *)arg)->last_seq = ev->seq;
}

static const struct tracker_sub_ops durable_sub = {.event = on_durable};

static void plug(struct fixture *f, const char *busid, const char *serial, uint16_t pid)
{
	struct ul_devfacts d;

	memset(&d, 0, sizeof(d));
	d.vid = 0x1d6b;
	d.pid = pid;
	d.speed_mbps = 480;
	UL_COPY(d.serial, serial);
	UL_COPY(d.busid, busid);
	UL_COPY(d.devnodes, "/dev/ttyACM0 /dev/hidraw1");
	tracker_exported(f->t, &d);
}

static int setup_common(void **state, bool durable)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct api_env env;
	char err[256];

	assert_non_null(f);
	f->now = 1764767644000; /* 2025-12-03T13:14:04Z */
	f->durable = durable;
	f->base = event_base_new();
	assert_non_null(f->base);
	assert_int_equal(registry_parse_string(bench_conf, "test.conf", &f->reg, err, sizeof(err)),
	                 0);
	f->t = tracker_new(&f->reg, fake_clock, f);
	assert_non_null(f->t);
	if (durable)
		assert_int_equal(tracker_subscribe(f->t, &durable_sub, f, true), 0);
	memset(&env, 0, sizeof(env));
	env.base = f->base;
	env.tracker = f->t;
	env.arg = f;
	env.reload = fake_reload;
	env.leases_changed = fake_leases_changed;
	env.status = fake_status;
	f->api = api_new(&env);
	assert_non_null(f->api);
	assert_int_equal(tracker_subscribe(f->t, &api_stream_sub, f->api, false), 0);
	plug(f, "0-1", "USBLAB-CDC-1", 0x0104);
	plug(f, "0-2", "USBLAB-HID-1", 0x0105);
	plug(f, "0-3", "USBLAB-MSC-1", 0x0106);
	if (durable)
		tracker_committed(f->t, f->last_seq, 0);
	snprintf(f->who_ann.user, sizeof(f->who_ann.user), "ann");
	snprintf(f->who_ann.host, sizeof(f->who_ann.host), "bench");
	snprintf(f->who_bob.user, sizeof(f->who_bob.user), "bob");
	snprintf(f->who_bob.host, sizeof(f->who_bob.host), "bench");
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_common(state, false);
}

static int setup_durable(void **state)
{
	return setup_common(state, true);
}

static void clear(struct fake_client *c)
{
	for (unsigned i = 0; i < c->n; i++)
		json_decref(c->msgs[i]);
	c->n = 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	api_client_gone(f->api, &f->ann);
	api_client_gone(f->api, &f->bob);
	api_client_gone(f->api, &f->carol);
	api_free(f->api);
	tracker_free(f->t);
	registry_free(&f->reg);
	event_base_free(f->base);
	clear(&f->ann);
	clear(&f->bob);
	clear(&f->carol);
	free(f);
	return 0;
}

/* Sends a request (printf-style JSON text) as who, from client c. */
static void req(struct fixture *f, struct fake_client *c, const struct api_caller *who,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void req(struct fixture *f, struct fake_client *c, const struct api_caller *who,
                const char *fmt, ...)
{
	char text[2048];
	va_list ap;
	json_error_t jerr;
	json_t *r;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	r = json_loads(text, JSON_DECODE_ANY, &jerr);
	if (!r)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	api_request(f->api, r, who, &fake_ops, c);
}

/* The last message c got: its result (asserting it is one). */
static json_t *last_result(struct fake_client *c)
{
	json_t *m;

	assert_true(c->n > 0);
	m = c->msgs[c->n - 1];
	if (!json_object_get(m, "result")) {
		char *s = json_dumps(m, 0);

		fail_msg("expected a result, got %s", s);
	}
	return json_object_get(m, "result");
}

/* The last message's error code (asserting it is an error with a message). */
static const char *last_error(struct fake_client *c)
{
	json_t *e;

	assert_true(c->n > 0);
	e = json_object_get(c->msgs[c->n - 1], "error");
	if (!e) {
		char *s = json_dumps(c->msgs[c->n - 1], 0);

		fail_msg("expected an error, got %s", s);
	}
	assert_true(json_is_string(json_object_get(e, "message")));
	assert_true(strlen(json_string_value(json_object_get(e, "message"))) > 0);
	return json_string_value(json_object_get(e, "code"));
}

static json_t *last_error_obj(struct fake_client *c)
{
	return json_object_get(c->msgs[c->n - 1], "error");
}

static void run_loop(struct fixture *f)
{
	event_base_loop(f->base, EVLOOP_NONBLOCK);
}

/* ---- validation ---------------------------------------------------------------- */

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;

	req(f, &f->ann, &f->who_ann, "[1,2]");
	assert_string_equal(last_error(&f->ann), "bad_request");
	assert_true(json_is_null(json_object_get(f->ann.msgs[0], "id")));
	req(f, &f->ann, &f->who_ann, "{\"id\":7}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	assert_int_equal(json_integer_value(json_object_get(f->ann.msgs[1], "id")), 7);
	req(f, &f->ann, &f->who_ann, "{\"id\":\"x\",\"method\":\"list\",\"params\":[1]}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	assert_string_equal(json_string_value(json_object_get(f->ann.msgs[2], "id")), "x");
	req(f, &f->ann, &f->who_ann, "{\"id\":1,\"method\":\"frobnicate\"}");
	assert_string_equal(last_error(&f->ann), "unknown_method");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"duration\":\"1h\"}}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"duration\":0}}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"any\":\"c\"}}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	req(f, &f->ann, &f->who_ann, "{\"id\":1,\"method\":\"checkout\",\"params\":{}}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	req(f, &f->ann, &f->who_ann, "{\"id\":1,\"method\":\"info\"}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"wait\":1}}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"tag\":\"a b\"}}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"events\",\"params\":{\"kind\":\"nope\"}}");
	assert_string_equal(last_error(&f->ann), "bad_request");
	/* Nothing of that took a lease. */
	assert_int_equal(f->leases_changed, 0);
	assert_false(tracker_find(f->t, "cdc")->leased);
}

/* ---- queries -------------------------------------------------------------------- */

static void check_board_shape(json_t *b)
{
	static const char *const strings[] = {"name",  "type", "chip", "notes", "state",
	                                      "busid", "port", "vid",  "pid",   "serial"};

	assert_true(json_is_object(b));
	for (size_t i = 0; i < sizeof(strings) / sizeof(strings[0]); i++)
		if (!json_is_string(json_object_get(b, strings[i])))
			fail_msg("board field %s is not a string", strings[i]);
	assert_true(json_is_integer(json_object_get(b, "speed")));
	assert_true(json_is_array(json_object_get(b, "devnodes")));
	assert_true(json_is_null(json_object_get(b, "imported_by")) ||
	            json_is_string(json_object_get(b, "imported_by")));
	assert_true(json_is_null(json_object_get(b, "lease")) ||
	            json_is_object(json_object_get(b, "lease")));
	assert_true(json_is_null(json_object_get(b, "last_seen")) ||
	            json_is_string(json_object_get(b, "last_seen")));
	/* One identity across modes and the ESP32 probe (issue 15). */
	assert_true(json_is_string(json_object_get(b, "mode")));
	assert_true(json_is_null(json_object_get(b, "fw_state")) ||
	            json_is_string(json_object_get(b, "fw_state")));
	assert_true(json_is_null(json_object_get(b, "mac")) ||
	            json_is_string(json_object_get(b, "mac")));
	assert_int_equal(json_object_size(b), 18);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	json_t *boards, *cdc = NULL, *espa = NULL, *b;
	size_t i;

	req(f, &f->ann, &f->who_ann, "{\"id\":1,\"method\":\"list\"}");
	boards = json_object_get(last_result(&f->ann), "boards");
	assert_int_equal(json_array_size(boards), 5);
	json_array_foreach(boards, i, b)
	{
		check_board_shape(b);
		if (strcmp(json_string_value(json_object_get(b, "name")), "cdc") == 0)
			cdc = b;
		if (strcmp(json_string_value(json_object_get(b, "name")), "esp-a") == 0)
			espa = b;
	}
	assert_non_null(cdc);
	assert_non_null(espa);
	assert_string_equal(json_string_value(json_object_get(cdc, "state")), "exported");
	assert_string_equal(json_string_value(json_object_get(cdc, "busid")), "0-1");
	assert_string_equal(json_string_value(json_object_get(cdc, "vid")), "1d6b");
	assert_string_equal(json_string_value(json_object_get(cdc, "pid")), "0104");
	assert_string_equal(json_string_value(json_object_get(cdc, "type")), "virtual");
	assert_string_equal(json_string_value(json_object_get(cdc, "last_seen")),
	                    "2025-12-03T13:14:04.000Z");
	assert_int_equal(json_array_size(json_object_get(cdc, "devnodes")), 2);
	assert_string_equal(json_string_value(json_array_get(json_object_get(cdc, "devnodes"), 1)),
	                    "/dev/hidraw1");
	assert_string_equal(json_string_value(json_object_get(espa, "state")), "absent");
	assert_string_equal(json_string_value(json_object_get(espa, "vid")), "0000");
	assert_true(json_is_null(json_object_get(espa, "last_seen")));
	assert_true(json_is_null(json_object_get(espa, "lease")));
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	req(f, &f->ann, &f->who_ann, "{\"id\":1,\"method\":\"status\"}");
	r = last_result(&f->ann);
	assert_string_equal(json_string_value(json_object_get(r, "version")), "test");
	assert_int_equal(json_integer_value(json_object_get(r, "present")), 3);
	assert_int_equal(json_integer_value(json_object_get(r, "leased")), 0);
	assert_true(json_is_false(json_object_get(r, "store")));
	assert_string_equal(json_string_value(json_object_get(r, "time")),
	                    "2025-12-03T13:14:04.000Z");
}

static void test_info_and_names(void **state)
{
	struct fixture *f = *state;
	json_t *r, *e, *cand;

	/* A unique substring resolves. */
	req(f, &f->ann, &f->who_ann, "{\"id\":1,\"method\":\"info\",\"params\":{\"name\":\"CD\"}}");
	r = last_result(&f->ann);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "board"), "name")),
	                    "cdc");
	assert_true(json_is_false(json_object_get(r, "history")));
	assert_int_equal(json_array_size(json_object_get(r, "events")), 0);
	/* Ambiguous: both candidates listed. */
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":2,\"method\":\"info\",\"params\":{\"name\":\"esp\"}}");
	assert_string_equal(last_error(&f->ann), "ambiguous");
	e = last_error_obj(&f->ann);
	cand = json_object_get(e, "candidates");
	assert_int_equal(json_array_size(cand), 2);
	assert_int_equal(json_integer_value(json_object_get(e, "count")), 2);
	/* Unknown: every board is a candidate. */
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":3,\"method\":\"info\",\"params\":{\"name\":\"xyz\"}}");
	assert_string_equal(last_error(&f->ann), "unknown_board");
	assert_int_equal(json_array_size(json_object_get(last_error_obj(&f->ann), "candidates")),
	                 5);
	/* A regex that does not compile, when nothing matched before. */
	req(f, &f->ann, &f->who_ann, "{\"id\":4,\"method\":\"info\",\"params\":{\"name\":\"(\"}}");
	assert_string_equal(last_error(&f->ann), "bad_regex");
	/* A regex that resolves. */
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":5,\"method\":\"info\",\"params\":{\"name\":\"^esp-[b]$\"}}");
	r = last_result(&f->ann);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "board"), "name")),
	                    "esp-b");
	req(f, &f->ann, &f->who_ann, "{\"id\":6,\"method\":\"events\"}");
	assert_string_equal(last_error(&f->ann), "no_store");
}

/* ---- leases ------------------------------------------------------------------------ */

static void test_checkout_between_holders(void **state)
{
	struct fixture *f = *state;
	json_t *r, *e;
	char token[40];

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"duration\":1800,"
	    "\"reason\":\"flaky test\"}}");
	r = last_result(&f->ann);
	assert_string_equal(json_string_value(json_object_get(r, "name")), "cdc");
	assert_string_equal(json_string_value(json_object_get(r, "holder")), "ann@bench");
	assert_string_equal(json_string_value(json_object_get(r, "reason")), "flaky test");
	assert_string_equal(json_string_value(json_object_get(r, "expires")),
	                    "2025-12-03T13:44:04.000Z");
	assert_int_equal(json_integer_value(json_object_get(r, "seconds_left")), 1800);
	assert_int_equal(strlen(json_string_value(json_object_get(r, "token"))), UL_TOKEN_LEN);
	snprintf(token, sizeof(token), "%s", json_string_value(json_object_get(r, "token")));
	assert_int_equal(f->leases_changed, 1);

	/* Someone else: leased, with holder and expiry. */
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\"}}");
	assert_string_equal(last_error(&f->bob), "leased");
	e = last_error_obj(&f->bob);
	assert_string_equal(json_string_value(json_object_get(e, "holder")), "ann@bench");
	assert_string_equal(json_string_value(json_object_get(e, "expires")),
	                    "2025-12-03T13:44:04.000Z");
	assert_string_equal(json_string_value(json_object_get(e, "board")), "cdc");
	assert_non_null(strstr(json_string_value(json_object_get(e, "message")), "flaky test"));

	/* The holder again: renewed, same token. */
	f->now += 60000;
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":3,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\"}}");
	r = last_result(&f->ann);
	assert_string_equal(json_string_value(json_object_get(r, "token")), token);
	assert_string_equal(json_string_value(json_object_get(r, "expires")),
	                    "2025-12-03T14:15:04.000Z");

	/* The board's JSON shows the lease without its token. */
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":4,\"method\":\"info\",\"params\":{\"name\":\"cdc\"}}");
	r = json_object_get(json_object_get(last_result(&f->bob), "board"), "lease");
	assert_string_equal(json_string_value(json_object_get(r, "holder")), "ann@bench");
	assert_null(json_object_get(r, "token"));
	assert_int_equal(json_integer_value(json_object_get(r, "seconds_left")), 3600);

	/* Renew and checkin by someone else: not_holder; force works. */
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":5,\"method\":\"renew\",\"params\":{\"name\":\"cdc\"}}");
	assert_string_equal(last_error(&f->bob), "not_holder");
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":6,\"method\":\"checkin\",\"params\":{\"name\":\"cdc\"}}");
	assert_string_equal(last_error(&f->bob), "not_holder");
	assert_string_equal(json_string_value(json_object_get(last_error_obj(&f->bob), "holder")),
	                    "ann@bench");
	req(f, &f->bob, &f->who_bob, "{\"id\":7,\"method\":\"locks\"}");
	r = json_object_get(last_result(&f->bob), "locks");
	assert_int_equal(json_array_size(r), 1);
	assert_string_equal(json_string_value(json_object_get(json_array_get(r, 0), "name")),
	                    "cdc");
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":8,\"method\":\"checkin\",\"params\":{\"name\":\"cdc\",\"force\":true}}");
	r = last_result(&f->bob);
	assert_true(json_is_true(json_object_get(r, "released")));
	assert_true(json_is_true(json_object_get(r, "forced")));
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":9,\"method\":\"checkin\",\"params\":{\"name\":\"cdc\"}}");
	assert_string_equal(last_error(&f->ann), "not_leased");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":10,\"method\":\"renew\",\"params\":{\"name\":\"cdc\"}}");
	assert_string_equal(last_error(&f->ann), "not_leased");
	req(f, &f->bob, &f->who_bob, "{\"id\":11,\"method\":\"locks\"}");
	assert_int_equal(json_array_size(json_object_get(last_result(&f->bob), "locks")), 0);
}

static void test_tags_make_holders_differ(void **state)
{
	struct fixture *f = *state;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"hid\",\"tag\":\"job-1\"}}");
	assert_string_equal(json_string_value(json_object_get(last_result(&f->ann), "holder")),
	                    "ann@bench/job-1");
	req(f, &f->bob, &f->who_ann,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"hid\",\"tag\":\"job-2\"}}");
	assert_string_equal(last_error(&f->bob), "leased");
	/* Without the tag, ann is not the holder either. */
	req(f, &f->bob, &f->who_ann,
	    "{\"id\":3,\"method\":\"checkin\",\"params\":{\"name\":\"hid\"}}");
	assert_string_equal(last_error(&f->bob), "not_holder");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":4,\"method\":\"checkin\",\"params\":{\"name\":\"hid\",\"tag\":\"job-1\"}}");
	assert_true(json_is_false(json_object_get(last_result(&f->ann), "forced")));
}

static void test_any(void **state)
{
	struct fixture *f = *state;
	json_t *e;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"any\":\"^(cdc|hid)$\"}}");
	assert_string_equal(json_string_value(json_object_get(last_result(&f->ann), "name")),
	                    "cdc");
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"any\":\"^(CDC|hid)$\"}}");
	assert_string_equal(json_string_value(json_object_get(last_result(&f->bob), "name")),
	                    "hid");
	req(f, &f->carol, &f->who_bob,
	    "{\"id\":3,\"method\":\"checkout\",\"params\":{\"any\":\"^(cdc|hid)$\",\"tag\":\"c\"}"
	    "}");
	assert_string_equal(last_error(&f->carol), "leased");
	e = last_error_obj(&f->carol);
	assert_string_equal(json_string_value(json_object_get(e, "holder")), "ann@bench");
	/* Only absent boards match: none present. */
	req(f, &f->carol, &f->who_bob,
	    "{\"id\":4,\"method\":\"checkout\",\"params\":{\"any\":\"esp\"}}");
	assert_string_equal(last_error(&f->carol), "unknown_board");
	req(f, &f->carol, &f->who_bob,
	    "{\"id\":5,\"method\":\"checkout\",\"params\":{\"any\":\"zz\"}}");
	assert_string_equal(last_error(&f->carol), "unknown_board");
	req(f, &f->carol, &f->who_bob,
	    "{\"id\":6,\"method\":\"checkout\",\"params\":{\"any\":\"(\"}}");
	assert_string_equal(last_error(&f->carol), "bad_regex");
	/* Patterns names.h finds too costly are refused the same way. */
	req(f, &f->carol, &f->who_bob,
	    "{\"id\":7,\"method\":\"checkout\",\"params\":{\"any\":\"(c)\\\\1\"}}");
	assert_string_equal(last_error(&f->carol), "bad_regex");
	req(f, &f->carol, &f->who_bob,
	    "{\"id\":8,\"method\":\"checkout\",\"params\":{\"any\":\"(m{1000}){1000}\"}}");
	assert_string_equal(last_error(&f->carol), "bad_regex");
	assert_false(tracker_find(f->t, "msc")->leased);
}

static void test_wait_woken_by_checkin(void **state)
{
	struct fixture *f = *state;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"msc\"}}");
	last_result(&f->ann);
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"msc\",\"wait\":true,"
	    "\"timeout\":60}}");
	assert_int_equal(f->bob.n, 0);
	/* An event of another board does not hand msc over. */
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":3,\"method\":\"checkout\",\"params\":{\"name\":\"hid\"}}");
	run_loop(f);
	assert_int_equal(f->bob.n, 0);
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":4,\"method\":\"checkin\",\"params\":{\"name\":\"msc\"}}");
	last_result(&f->ann);
	/* Not from inside the event: on the next turn of the loop. */
	assert_int_equal(f->bob.n, 0);
	run_loop(f);
	assert_int_equal(f->bob.n, 1);
	assert_int_equal(json_integer_value(json_object_get(f->bob.msgs[0], "id")), 2);
	assert_string_equal(json_string_value(json_object_get(last_result(&f->bob), "holder")),
	                    "bob@bench");
	assert_string_equal(tracker_find(f->t, "msc")->lease.holder, "bob@bench");
}

static void test_wait_for_absent_board(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts d;

	req(f, &f->bob, &f->who_bob,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"esp-a\",\"wait\":true}}");
	run_loop(f);
	assert_int_equal(f->bob.n, 0);
	memset(&d, 0, sizeof(d));
	UL_COPY(d.serial, "AAAA1111");
	UL_COPY(d.busid, "1-4");
	tracker_device_arrived(f->t, &d, NULL);
	run_loop(f);
	assert_int_equal(f->bob.n, 1);
	assert_string_equal(json_string_value(json_object_get(last_result(&f->bob), "name")),
	                    "esp-a");
}

static void test_wait_any_fifo(void **state)
{
	struct fixture *f = *state;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"any\":\"^cdc$\"}}");
	last_result(&f->ann);
	/* bob first, then carol: bob gets it, carol keeps waiting. */
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"any\":\"^cdc$\",\"wait\":true}}");
	req(f, &f->carol, &f->who_bob,
	    "{\"id\":3,\"method\":\"checkout\",\"params\":{\"any\":\"^cdc$\",\"wait\":true,\"tag\":"
	    "\"c\"}}");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":4,\"method\":\"checkin\",\"params\":{\"name\":\"cdc\"}}");
	run_loop(f);
	run_loop(f);
	assert_int_equal(f->bob.n, 1);
	last_result(&f->bob);
	assert_int_equal(f->carol.n, 0);
	/* The holder's expiry frees it for carol. */
	f->now += 3600 * 1000;
	assert_int_equal(tracker_lease_expire(f->t), -1);
	run_loop(f);
	assert_int_equal(f->carol.n, 1);
	assert_string_equal(json_string_value(json_object_get(last_result(&f->carol), "holder")),
	                    "bob@bench/c");
}

static void test_wait_timeout(void **state)
{
	struct fixture *f = *state;
	json_t *e;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\"}}");
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"wait\":true,"
	    "\"timeout\":0}}");
	assert_int_equal(f->bob.n, 0);
	event_base_loop(f->base, EVLOOP_ONCE);
	assert_int_equal(f->bob.n, 1);
	assert_string_equal(last_error(&f->bob), "timeout");
	e = last_error_obj(&f->bob);
	assert_string_equal(json_string_value(json_object_get(e, "holder")), "ann@bench");
	/* Nothing fires later. */
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":3,\"method\":\"checkin\",\"params\":{\"name\":\"cdc\"}}");
	run_loop(f);
	assert_int_equal(f->bob.n, 1);
}

static void test_wait_abandoned(void **state)
{
	struct fixture *f = *state;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\"}}");
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"wait\":true,"
	    "\"timeout\":30}}");
	api_client_gone(f->api, &f->bob);
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":3,\"method\":\"checkin\",\"params\":{\"name\":\"cdc\"}}");
	run_loop(f);
	assert_int_equal(f->bob.n, 0);
	/* Nobody took it for the vanished client. */
	assert_false(tracker_find(f->t, "cdc")->leased);
}

/* ---- streams ----------------------------------------------------------------------- */

static void test_follow(void **state)
{
	struct fixture *f = *state;
	json_t *ev;

	req(f, &f->carol, &f->who_bob,
	    "{\"id\":1,\"method\":\"events.follow\",\"params\":{\"device\":\"cdc\"}}");
	assert_true(json_is_true(json_object_get(last_result(&f->carol), "following")));
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"hid\"}}");
	assert_int_equal(f->carol.n, 1);
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":3,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"reason\":\"r\"}}");
	assert_int_equal(f->carol.n, 2);
	ev = json_object_get(f->carol.msgs[1], "event");
	assert_non_null(ev);
	assert_null(json_object_get(f->carol.msgs[1], "id"));
	assert_string_equal(json_string_value(json_object_get(ev, "kind")), "lease-taken");
	assert_string_equal(json_string_value(json_object_get(ev, "board")), "cdc");
	assert_string_equal(json_string_value(json_object_get(ev, "peer")), "ann@bench");
	assert_string_equal(json_string_value(json_object_get(ev, "time")),
	                    "2025-12-03T13:14:04.000Z");
	assert_true(json_is_integer(json_object_get(ev, "seq")));
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(ev, "lease"), "holder")),
	        "ann@bench");
	assert_null(json_object_get(json_object_get(ev, "lease"), "token"));
	assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "dev"), "busid")),
	                    "0-1");
	/* Status counts the follower; after it leaves, nothing more arrives. */
	req(f, &f->bob, &f->who_bob, "{\"id\":4,\"method\":\"status\"}");
	assert_int_equal(json_integer_value(json_object_get(last_result(&f->bob), "followers")), 1);
	api_client_gone(f->api, &f->carol);
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":5,\"method\":\"checkin\",\"params\":{\"name\":\"cdc\"}}");
	assert_int_equal(f->carol.n, 2);
	/* A kind filter. */
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":6,\"method\":\"events.follow\",\"params\":{\"kind\":\"lease-released\"}}");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":7,\"method\":\"checkout\",\"params\":{\"name\":\"msc\"}}");
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":8,\"method\":\"checkin\",\"params\":{\"name\":\"msc\"}}");
	assert_int_equal(f->bob.n, 3);
	ev = json_object_get(f->bob.msgs[2], "event");
	assert_string_equal(json_string_value(json_object_get(ev, "kind")), "lease-released");
}

/* ---- durability ------------------------------------------------------------------------- */

static void test_reply_after_commit(void **state)
{
	struct fixture *f = *state;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\"}}");
	assert_int_equal(f->ann.n, 0);
	/* The lease decided in memory: bob is refused before the commit. */
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\"}}");
	assert_string_equal(last_error(&f->bob), "leased");
	tracker_committed(f->t, f->last_seq - 1, 0);
	assert_int_equal(f->ann.n, 0);
	tracker_committed(f->t, f->last_seq, 0);
	assert_int_equal(f->ann.n, 1);
	last_result(&f->ann);
	/* A failed write: store_failed. */
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":3,\"method\":\"renew\",\"params\":{\"name\":\"cdc\"}}");
	assert_int_equal(f->ann.n, 1);
	tracker_committed(f->t, f->last_seq, -1);
	assert_int_equal(f->ann.n, 2);
	assert_string_equal(last_error(&f->ann), "store_failed");
	/* A client gone before the commit gets nothing, and nothing leaks. */
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":4,\"method\":\"checkout\",\"params\":{\"name\":\"hid\"}}");
	api_client_gone(f->api, &f->bob);
	tracker_committed(f->t, f->last_seq, 0);
	assert_int_equal(f->bob.n, 1);
}

/* ---- reload ------------------------------------------------------------------------------- */

static void test_reload(void **state)
{
	struct fixture *f = *state;
	json_t *e;

	req(f, &f->ann, &f->who_ann, "{\"id\":1,\"method\":\"reload\"}");
	assert_true(json_is_true(json_object_get(last_result(&f->ann), "reloaded")));
	assert_int_equal(json_integer_value(json_object_get(last_result(&f->ann), "boards")), 5);
	f->reload_err = "/etc/usblab/devices.conf:7: expected KEY = VALUE";
	req(f, &f->ann, &f->who_ann, "{\"id\":2,\"method\":\"reload\"}");
	assert_string_equal(last_error(&f->ann), "config");
	e = last_error_obj(&f->ann);
	assert_string_equal(json_string_value(json_object_get(e, "file")),
	                    "/etc/usblab/devices.conf");
	assert_int_equal(json_integer_value(json_object_get(e, "line")), 7);
	assert_int_equal(f->reloads, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_list, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_status, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_info_and_names, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_checkout_between_holders, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_tags_make_holders_differ, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_any, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wait_woken_by_checkin, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wait_for_absent_board, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wait_any_fifo, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wait_timeout, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_wait_abandoned, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_follow, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reply_after_commit, setup_durable, teardown),
	        cmocka_unit_test_setup_teardown(test_reload, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
