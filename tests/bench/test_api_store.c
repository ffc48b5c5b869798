/* SPDX-License-Identifier: MIT */
/*
 * test_api_store.c - the control API over a real store: SQLite in a
 * temporary file behind its worker thread (storeq), wired as the daemon
 * wires it (a durable tracker subscriber; commits reported on the loop).
 * A checkout is answered only after its event is committed, and is then
 * on disk; history (events with filters, info's last events) comes from
 * the store, oldest first.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "registry.h"
#include "store.h"
#include "storeq.h"
#include "tracker.h"

struct fixture {
	char dir[64], db[128];
	struct event_base *base;
	struct registry reg;
	struct tracker *t;
	struct storeq *q;
	struct api *api;
	json_t *last;
	unsigned nsent;
};

static const char conf[] = "[cdc]\nserial = USBLAB-CDC-1\n[hid]\nserial = USBLAB-HID-2\n";

static void on_store_event(void *arg, const struct ul_event *ev)
{
	struct fixture *f = arg;

	assert_int_equal(storeq_append(f->q, ev), 0);
}

static const struct tracker_sub_ops store_sub = {.event = on_store_event};

static void on_committed(void *arg, uint64_t seq, int rc)
{
	struct fixture *f = arg;

	tracker_committed(f->t, seq, rc);
}

static void fake_send(void *client, json_t *msg)
{
	struct fixture *f = client;

	json_decref(f->last);
	f->last = msg;
	f->nsent++;
}

static const struct api_client_ops ops = {.send = fake_send};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct api_env env;
	struct store *s;
	struct ul_devfacts d;
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ulapistore-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/usblab.db", f->dir);
	f->base = event_base_new();
	assert_int_equal(registry_parse_string(conf, "t.conf", &f->reg, err, sizeof(err)), 0);
	f->t = tracker_new(&f->reg, NULL, NULL);
	if (store_sqlite_ops.open(f->db, &s, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	if (storeq_start(&f->q, f->base, &store_sqlite_ops, s, on_committed, f, err, sizeof(err)) !=
	    0)
		fail_msg("storeq_start: %s", err);
	assert_int_equal(tracker_subscribe(f->t, &store_sub, f, true), 0);
	memset(&env, 0, sizeof(env));
	env.base = f->base;
	env.tracker = f->t;
	env.storeq = f->q;
	f->api = api_new(&env);
	assert_int_equal(tracker_subscribe(f->t, &api_stream_sub, f->api, false), 0);
	memset(&d, 0, sizeof(d));
	UL_COPY(d.serial, "USBLAB-CDC-1");
	UL_COPY(d.busid, "0-1");
	tracker_exported(f->t, &d);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	api_client_gone(f->api, f);
	storeq_stop(f->q);
	api_free(f->api);
	tracker_free(f->t);
	registry_free(&f->reg);
	event_base_free(f->base);
	json_decref(f->last);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void req(struct fixture *f, const char *text)
{
	json_error_t e;
	json_t *r = json_loads(text, 0, &e);
	struct api_caller who = {.user = "ann", .host = "bench"};

	assert_non_null(r);
	api_request(f->api, r, &who, &ops, f);
}

/* Runs the loop until something is sent (the worker answers on the loop). */
static json_t *wait_reply(struct fixture *f, unsigned before)
{
	for (int i = 0; i < 5000 && f->nsent == before; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(f->nsent, before + 1);
	return f->last;
}

static json_t *result(json_t *m)
{
	json_t *r = json_object_get(m, "result");

	if (!r) {
		char *s = json_dumps(m, 0);

		fail_msg("not a result: %s", s);
	}
	return r;
}

static void test_checkout_answered_after_commit(void **state)
{
	struct fixture *f = *state;
	struct store *s;
	struct ul_event *evs = NULL;
	size_t n = 0;
	char err[256];
	json_t *r;

	req(f,
	    "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"reason\":\"r1\"}}");
	/* The worker has not committed yet: no reply from inside the request. */
	assert_int_equal(f->nsent, 0);
	r = result(wait_reply(f, 0));
	assert_string_equal(json_string_value(json_object_get(r, "holder")), "ann@bench");
	/* Told, so on disk: a second connection to the file sees the lease. */
	assert_int_equal(store_sqlite_ops.open(f->db, &s, err, sizeof(err)), 0);
	assert_int_equal(store_sqlite_ops.load_leases(s, &evs, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(evs[0].board, "cdc");
	assert_string_equal(evs[0].lease.holder, "ann@bench");
	assert_string_equal(evs[0].lease.token, json_string_value(json_object_get(r, "token")));
	free(evs);
	store_sqlite_ops.close(s);
}

static void test_history(void **state)
{
	struct fixture *f = *state;
	json_t *r, *evs;

	req(f, "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\"}}");
	wait_reply(f, 0);
	req(f, "{\"id\":2,\"method\":\"checkin\",\"params\":{\"name\":\"cdc\"}}");
	wait_reply(f, 1);
	req(f, "{\"id\":3,\"method\":\"events\",\"params\":{\"device\":\"cdc\"}}");
	r = result(wait_reply(f, 2));
	evs = json_object_get(r, "events");
	/* arrived, exported, lease-taken, lease-released: oldest first. */
	assert_int_equal(json_array_size(evs), 4);
	assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 0), "kind")),
	                    "arrived");
	assert_string_equal(json_string_value(json_object_get(json_array_get(evs, 3), "kind")),
	                    "lease-released");
	req(f,
	    "{\"id\":4,\"method\":\"events\",\"params\":{\"kind\":\"lease-taken\",\"limit\":1}}");
	evs = json_object_get(result(wait_reply(f, 3)), "events");
	assert_int_equal(json_array_size(evs), 1);
	assert_string_equal(json_string_value(json_object_get(
	                            json_object_get(json_array_get(evs, 0), "lease"), "holder")),
	                    "ann@bench");
	/* until before everything: nothing. */
	req(f, "{\"id\":5,\"method\":\"events\",\"params\":{\"until\":\"2000-01-01\"}}");
	assert_int_equal(json_array_size(json_object_get(result(wait_reply(f, 4)), "events")), 0);
	/* info: the board and its last events, with history. */
	req(f, "{\"id\":6,\"method\":\"info\",\"params\":{\"name\":\"cd\"}}");
	r = result(wait_reply(f, 5));
	assert_true(json_is_true(json_object_get(r, "history")));
	assert_int_equal(json_array_size(json_object_get(r, "events")), 4);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "board"), "name")),
	                    "cdc");
}

static void test_client_gone_before_answer(void **state)
{
	struct fixture *f = *state;

	req(f, "{\"id\":1,\"method\":\"events\"}");
	req(f, "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"hid\"}}");
	api_client_gone(f->api, f);
	for (int i = 0; i < 200; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		usleep(1000);
	}
	/* Nothing sent to a client that left; the lease stands (it was taken). */
	assert_int_equal(f->nsent, 0);
	assert_true(tracker_find(f->t, "hid")->leased);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_checkout_answered_after_commit, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_history, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_client_gone_before_answer, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
