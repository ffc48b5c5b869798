/* SPDX-License-Identifier: MIT */
/*
 * test_api_power.c - the control API's `power` method in process: a
 * tracker with a registry and a board on port 2 of hub 3-1, an api over
 * it, a fake sysfs tree (USBLAB_POWER_SYSFS) whose port `disable` file the
 * method writes from its worker thread, and a watcher on the loop that
 * plays the kernel: when the file says 1 the board departs, when it says
 * 0 it comes back. Covers off, on, cycle (replies after the departure and
 * the return, with POWER events), a hub that does not cut VBUS (the board
 * never departs: no_departure), a board that does not come back, request
 * errors, leases, a client that goes away mid-way, and a second request
 * while one runs (power_busy).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "api.h"
#include "registry.h"
#include "tracker.h"

#define MAX_MSGS 16
#define MAX_EVS  64

struct fake_client {
	json_t *msgs[MAX_MSGS];
	unsigned n;
};

struct fixture {
	struct event_base *base;
	struct registry reg;
	struct tracker *t;
	struct api *api;
	struct fake_client ann, bob;
	struct api_caller who_ann, who_bob;
	char root[64];
	struct event *watch;
	bool kernel_plays;  /* the watcher makes the board depart and return */
	bool never_returns; /* ... but it does not come back */
	char last_disable;  /* what the watcher last saw */
	struct ul_event evs[MAX_EVS];
	unsigned nevs;
};

static const char conf[] = "[board]\n"
                           "serial = PWR-1\n"
                           "type = esp32\n"
                           "[virt]\n"
                           "serial = VIRT-1\n"
                           "type = virtual\n";

static void fake_send(void *client, json_t *msg)
{
	struct fake_client *c = client;

	assert_true(c->n < MAX_MSGS);
	c->msgs[c->n++] = msg;
}

static const struct api_client_ops fake_ops = {.send = fake_send};

static void on_event(void *arg, const struct ul_event *ev)
{
	struct fixture *f = arg;

	if (f->nevs < MAX_EVS)
		f->evs[f->nevs++] = *ev;
}

static const struct tracker_sub_ops recorder = {.event = on_event};

static void put_file(const char *root, const char *rel, const char *text)
{
	char path[512], dir[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + strlen(root) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void plug(struct fixture *f)
{
	struct ul_devfacts d;

	memset(&d, 0, sizeof(d));
	d.vid = 0x303a;
	d.pid = 0x1001;
	d.speed_mbps = 12;
	UL_COPY(d.serial, "PWR-1");
	UL_COPY(d.busid, "3-1.2");
	UL_COPY(d.port, "3-1.2");
	tracker_device_arrived(f->t, &d, NULL);
}

/* The kernel's part: reads the port's disable file on every tick. */
static void on_watch(evutil_socket_t fd, short what, void *arg)
{
	struct fixture *f = arg;
	char path[512], c = 0;
	FILE *fp;

	(void)fd;
	(void)what;
	snprintf(path, sizeof(path), "%s/3-1:1.0/3-1-port2/disable", f->root);
	fp = fopen(path, "r");
	if (fp) {
		if (fread(&c, 1, 1, fp) != 1)
			c = 0;
		fclose(fp);
	}
	if (f->kernel_plays && c && c != f->last_disable) {
		if (c == '1')
			tracker_device_departed(f->t, "3-1.2");
		else if (c == '0' && f->last_disable == '1' && !f->never_returns)
			plug(f);
	}
	if (c)
		f->last_disable = c;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct api_env env;
	struct timeval tick = {0, 20000};
	struct ul_devfacts v;
	char err[256];

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/usblab-apipower-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	/* A hub 3-1 whose bus number no libusb device has (busnum 300), so
	 * its descriptor cannot be read: the method goes on without it. */
	put_file(f->root, "3-1/bDeviceClass", "09\n");
	put_file(f->root, "3-1/speed", "480\n");
	put_file(f->root, "3-1/busnum", "300\n");
	put_file(f->root, "3-1/devnum", "2\n");
	put_file(f->root, "3-1:1.0/3-1-port2/disable", "0\n");
	assert_int_equal(setenv("USBLAB_POWER_SYSFS", f->root, 1), 0);
	f->last_disable = '0';
	f->kernel_plays = true;

	f->base = event_base_new();
	assert_non_null(f->base);
	assert_int_equal(registry_parse_string(conf, "test.conf", &f->reg, err, sizeof(err)), 0);
	f->t = tracker_new(&f->reg, NULL, NULL); /* the real clock: the waits use it */
	assert_non_null(f->t);
	memset(&env, 0, sizeof(env));
	env.base = f->base;
	env.tracker = f->t;
	f->api = api_new(&env);
	assert_non_null(f->api);
	assert_int_equal(tracker_subscribe(f->t, &api_stream_sub, f->api, false), 0);
	assert_int_equal(tracker_subscribe(f->t, &recorder, f, false), 0);
	plug(f);
	memset(&v, 0, sizeof(v));
	UL_COPY(v.serial, "VIRT-1");
	UL_COPY(v.busid, "0-1");
	tracker_exported(f->t, &v);
	f->watch = event_new(f->base, -1, EV_PERSIST, on_watch, f);
	assert_non_null(f->watch);
	event_add(f->watch, &tick);
	snprintf(f->who_ann.user, sizeof(f->who_ann.user), "ann");
	snprintf(f->who_ann.host, sizeof(f->who_ann.host), "bench");
	snprintf(f->who_bob.user, sizeof(f->who_bob.user), "bob");
	snprintf(f->who_bob.host, sizeof(f->who_bob.host), "bench");
	*state = f;
	return 0;
}

static void clear(struct fake_client *c)
{
	for (unsigned i = 0; i < c->n; i++)
		json_decref(c->msgs[i]);
	c->n = 0;
}

/* Runs the loop a little longer so finished requests free themselves. */
static void settle(struct fixture *f)
{
	struct timeval tv = {0, 100000};

	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	settle(f);
	api_client_gone(f->api, &f->ann);
	api_client_gone(f->api, &f->bob);
	event_free(f->watch);
	api_free(f->api);
	tracker_free(f->t);
	registry_free(&f->reg);
	event_base_free(f->base);
	clear(&f->ann);
	clear(&f->bob);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	unsetenv("USBLAB_POWER_SYSFS");
	free(f);
	return 0;
}

static void req(struct fixture *f, struct fake_client *c, const struct api_caller *who,
                const char *text)
{
	json_error_t jerr;
	json_t *r = json_loads(text, 0, &jerr);

	if (!r)
		fail_msg("bad test JSON %s: %s", text, jerr.text);
	api_request(f->api, r, who, &fake_ops, c);
}

/* Runs the loop until c has n messages; fails after 30 s of wall clock
 * (a guard against a hang, not a measurement). */
static void run_until(struct fixture *f, struct fake_client *c, unsigned n)
{
	time_t end = time(NULL) + 30;

	while (c->n < n) {
		if (time(NULL) > end)
			fail_msg("no reply within 30 s");
		event_base_loop(f->base, EVLOOP_ONCE);
	}
}

static json_t *last_result(struct fake_client *c)
{
	json_t *m = c->msgs[c->n - 1];

	if (!json_object_get(m, "result")) {
		char *s = json_dumps(m, 0);

		fail_msg("expected a result, got %s", s);
	}
	return json_object_get(m, "result");
}

static const char *last_error(struct fake_client *c, const char **message)
{
	json_t *e = json_object_get(c->msgs[c->n - 1], "error");

	if (!e) {
		char *s = json_dumps(c->msgs[c->n - 1], 0);

		fail_msg("expected an error, got %s", s);
	}
	if (message)
		*message = json_string_value(json_object_get(e, "message"));
	return json_string_value(json_object_get(e, "code"));
}

static const struct ul_event *find_event(struct fixture *f, enum ul_event_kind k, unsigned nth)
{
	for (unsigned i = 0; i < f->nevs; i++)
		if (f->evs[i].kind == k && nth-- == 0)
			return &f->evs[i];
	return NULL;
}

static void test_off_then_on(void **state)
{
	struct fixture *f = *state;
	const struct board *b;
	const struct ul_event *ev;
	json_t *r;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\","
	    "\"method\":\"sysfs\"}}");
	assert_int_equal(f->ann.n, 0); /* no reply before the departure */
	run_until(f, &f->ann, 1);
	r = last_result(&f->ann);
	assert_string_equal(json_string_value(json_object_get(r, "name")), "board");
	assert_string_equal(json_string_value(json_object_get(r, "action")), "off");
	assert_string_equal(json_string_value(json_object_get(r, "method")), "sysfs");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "port"), "hub")),
	                    "3-1");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "port"), "port")),
	                 2);
	assert_true(json_is_integer(json_object_get(r, "departed_ms")));
	assert_true(json_is_null(json_object_get(r, "returned_ms")));
	assert_string_equal(json_string_value(json_object_get(r, "state")), "absent");
	b = tracker_find(f->t, "board");
	assert_int_equal(b->state, BOARD_ABSENT);
	ev = find_event(f, UL_EV_POWER, 0);
	assert_non_null(ev);
	assert_string_equal(ev->board, "board");
	assert_string_equal(ev->peer, "ann@bench");
	assert_non_null(strstr(ev->detail, "off: hub 3-1 port 2"));
	assert_non_null(strstr(ev->detail, "sysfs"));
	assert_non_null(find_event(f, UL_EV_DEPARTED, 0));

	/* on: the absent board is switched where it was last seen. */
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":2,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"on\","
	    "\"method\":\"sysfs\"}}");
	run_until(f, &f->ann, 2);
	r = last_result(&f->ann);
	assert_true(json_is_integer(json_object_get(r, "returned_ms")));
	assert_string_equal(json_string_value(json_object_get(r, "busid")), "3-1.2");
	assert_int_equal(tracker_find(f->t, "board")->state, BOARD_PRESENT);
	ev = find_event(f, UL_EV_POWER, 1);
	assert_non_null(ev);
	assert_non_null(strstr(ev->detail, "on: hub 3-1 port 2"));
	assert_int_equal(f->last_disable, '0');
}

static void test_cycle(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"boa\",\"action\":\"cycle\","
	    "\"method\":\"sysfs\"}}");
	run_until(f, &f->ann, 1);
	r = last_result(&f->ann);
	assert_string_equal(json_string_value(json_object_get(r, "name")), "board");
	assert_string_equal(json_string_value(json_object_get(r, "action")), "cycle");
	assert_true(json_is_integer(json_object_get(r, "departed_ms")));
	assert_true(json_is_integer(json_object_get(r, "returned_ms")));
	assert_int_equal(tracker_find(f->t, "board")->state, BOARD_PRESENT);
	assert_non_null(find_event(f, UL_EV_DEPARTED, 0));
	assert_non_null(find_event(f, UL_EV_POWER, 1));
	assert_non_null(find_event(f, UL_EV_ARRIVED, 1) ? find_event(f, UL_EV_ARRIVED, 1)
	                                                : find_event(f, UL_EV_REENUMERATED, 0));
}

/* The hub leaves VBUS on: the board never departs. */
static void test_no_departure(void **state)
{
	struct fixture *f = *state;
	const char *msg;

	f->kernel_plays = false;
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\","
	    "\"method\":\"sysfs\",\"timeout\":1}}");
	run_until(f, &f->ann, 1);
	assert_string_equal(last_error(&f->ann, &msg), "no_departure");
	assert_non_null(strstr(msg, "does not cut VBUS"));
	assert_non_null(strstr(msg, "hub 3-1 port 2"));
	assert_int_equal(tracker_find(f->t, "board")->state, BOARD_PRESENT);
	assert_non_null(find_event(f, UL_EV_POWER, 0)); /* the switch happened */
}

static void test_no_return(void **state)
{
	struct fixture *f = *state;
	const char *msg;

	f->never_returns = true;
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"cycle\","
	    "\"method\":\"sysfs\",\"timeout\":1}}");
	run_until(f, &f->ann, 1);
	assert_string_equal(last_error(&f->ann, &msg), "no_return");
	assert_non_null(strstr(msg, "did not come back"));
}

static void test_bad_requests(void **state)
{
	struct fixture *f = *state;
	static const char *const bad[] = {
	        "{\"id\":1,\"method\":\"power\",\"params\":{\"action\":\"off\"}}",
	        "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\"}}",
	        "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"of\"}}",
	        "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\","
	        "\"timeout\":0}}",
	        "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\","
	        "\"timeout\":\"5\"}}",
	        "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\","
	        "\"method\":\"usb\"}}",
	};
	const char *msg;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		req(f, &f->ann, &f->who_ann, bad[i]);
		assert_int_equal(f->ann.n, i + 1);
		assert_string_equal(last_error(&f->ann, NULL), "bad_request");
	}
	clear(&f->ann);
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"nope\",\"action\":\"off\"}}");
	assert_string_equal(last_error(&f->ann, NULL), "unknown_board");
	/* A virtual board has no hub port. */
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"virt\",\"action\":\"off\"}}");
	assert_string_equal(last_error(&f->ann, &msg), "no_hub_port");
	assert_non_null(strstr(msg, "virt has no hub port"));
	/* Nothing was switched. */
	assert_null(find_event(f, UL_EV_POWER, 0));
	assert_int_equal(f->last_disable, '0');
}

static void test_leased(void **state)
{
	struct fixture *f = *state;
	struct ul_lease l;
	uint64_t seq;
	const char *msg;

	assert_int_equal(tracker_lease_take(f->t, "board", "bob@bench", "", "", 60000, &l, &seq),
	                 0);
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\"}}");
	assert_string_equal(last_error(&f->ann, &msg), "leased");
	assert_non_null(strstr(msg, "bob@bench"));
	assert_null(find_event(f, UL_EV_POWER, 0));
	/* The holder may (a tagged holder of the same user too). */
	assert_int_equal(tracker_lease_release(f->t, "board", "bob@bench", false, &seq), 0);
	assert_int_equal(tracker_lease_take(f->t, "board", "bob@bench/ci", "", "", 60000, &l, &seq),
	                 0);
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\","
	    "\"method\":\"sysfs\"}}");
	run_until(f, &f->bob, 1);
	(void)last_result(&f->bob);
}

/* The client goes while the method waits: nothing is sent to it, the
 * request still ends (ASan would see a use after free or a leak). */
static void test_client_gone(void **state)
{
	struct fixture *f = *state;
	struct timeval tv = {2, 0};

	f->kernel_plays = false;
	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\","
	    "\"method\":\"sysfs\",\"timeout\":1}}");
	api_client_gone(f->api, &f->ann);
	event_base_loopexit(f->base, &tv);
	event_base_dispatch(f->base);
	assert_int_equal(f->ann.n, 0);
	assert_non_null(find_event(f, UL_EV_POWER, 0));
}

/* One request at a time per port: a second one while a cycle runs is
 * refused (power_busy, naming the first), and accepted once it is done. */
static void test_one_at_a_time(void **state)
{
	struct fixture *f = *state;
	const char *msg;

	req(f, &f->ann, &f->who_ann,
	    "{\"id\":1,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"cycle\","
	    "\"method\":\"sysfs\"}}");
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":2,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\","
	    "\"method\":\"sysfs\"}}");
	assert_int_equal(f->bob.n, 1);
	assert_string_equal(last_error(&f->bob, &msg), "power_busy");
	assert_non_null(strstr(msg, "power cycle of board (port 3-1.2) by ann@bench"));
	run_until(f, &f->ann, 1);
	assert_non_null(json_object_get(last_result(&f->ann), "returned_ms"));
	req(f, &f->bob, &f->who_bob,
	    "{\"id\":3,\"method\":\"power\",\"params\":{\"name\":\"board\",\"action\":\"off\","
	    "\"method\":\"sysfs\"}}");
	run_until(f, &f->bob, 2);
	assert_string_equal(json_string_value(json_object_get(last_result(&f->bob), "action")),
	                    "off");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_off_then_on, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cycle, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_no_departure, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_no_return, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_leased, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_client_gone, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_one_at_a_time, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
