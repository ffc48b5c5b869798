/* SPDX-License-Identifier: MIT */
/*
 * test_tracker.c - the tracker's table and events: arrivals by registry
 * identity, departures and the location cache, re-enumeration, USB/IP
 * states, leases and their expiry, import permission, durability waits,
 * registry reloads and name resolution. A fake clock drives time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "names.h"
#include "registry.h"
#include "tracker.h"

#define MAX_SEEN 64

struct fixture {
	struct registry reg;
	struct tracker *t;
	int64_t now;
	struct ul_event seen[MAX_SEEN];
	unsigned nseen;
};

static int64_t fake_clock(void *ctx)
{
	return ((struct fixture *)ctx)->now;
}

static void record(void *arg, const struct ul_event *ev)
{
	struct fixture *f = arg;

	assert_true(f->nseen < MAX_SEEN);
	f->seen[f->nseen++] = *ev;
}

static const struct tracker_sub_ops recorder = {.event = record};

static const char bench_conf[] = "[esp-a]\n"
                                 "serial = AAAA1111\n"
                                 "type = esp32\n"
                                 "[esp-a:rom]\n"
                                 "vidpid = 303a:0002\n"
                                 "port = 1-4\n"
                                 "[esp-b]\n"
                                 "serial = BBBB2222\n"
                                 "type = esp32\n"
                                 "[pico]\n"
                                 "vidpid = 2e8a:000a\n"
                                 "export = no\n";

static int setup(void **state)
{
	static struct fixture f;
	char err[256];

	memset(&f, 0, sizeof(f));
	f.now = 1700000000000;
	assert_int_equal(registry_parse_string(bench_conf, "test.conf", &f.reg, err, sizeof(err)),
	                 0);
	f.t = tracker_new(&f.reg, fake_clock, &f);
	assert_non_null(f.t);
	assert_int_equal(tracker_subscribe(f.t, &recorder, &f, false), 0);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	tracker_free(f->t);
	registry_free(&f->reg);
	return 0;
}

static struct ul_devfacts device(const char *busid, uint16_t vid, uint16_t pid, const char *serial)
{
	struct ul_devfacts d;

	memset(&d, 0, sizeof(d));
	UL_COPY(d.busid, busid);
	UL_COPY(d.port, busid);
	d.vid = vid;
	d.pid = pid;
	d.speed_mbps = 12;
	UL_COPY(d.serial, serial);
	return d;
}

static const struct ul_event *last(struct fixture *f)
{
	assert_true(f->nseen > 0);
	return &f->seen[f->nseen - 1];
}

static void test_registry_boards_listed_absent(void **state)
{
	struct fixture *f = *state;
	const struct board *b = tracker_find(f->t, "esp-b");

	assert_non_null(b);
	assert_int_equal(b->state, BOARD_ABSENT);
	assert_int_equal(b->last_seen_ms, 0);
	assert_non_null(tracker_find(f->t, "pico"));
	assert_null(tracker_find(f->t, "nope"));
	assert_int_equal(f->nseen, 0);
}

static void test_arrival_named_by_serial(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts d = device("1-2", 0x303a, 0x1001, "AAAA1111");
	const struct board *b = tracker_device_arrived(f->t, &d, NULL);

	assert_non_null(b);
	assert_string_equal(b->name, "esp-a");
	assert_int_equal(b->state, BOARD_PRESENT);
	assert_int_equal(f->nseen, 1);
	assert_int_equal(last(f)->kind, UL_EV_ARRIVED);
	assert_string_equal(last(f)->board, "esp-a");
	assert_string_equal(last(f)->dev.busid, "1-2");
	assert_int_equal(last(f)->seq, 1);
	assert_int_equal(last(f)->time_ms, f->now);
	assert_ptr_equal(tracker_find_busid(f->t, "1-2"), b);
	/* The scan and udev may both report it: one event only. */
	tracker_device_arrived(f->t, &d, NULL);
	assert_int_equal(f->nseen, 1);
}

static void test_unnamed_device_keyed_by_busid_and_dropped(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts d = device("3-1", 0x1234, 0x5678, "XYZ");

	tracker_device_arrived(f->t, &d, NULL);
	assert_string_equal(last(f)->board, "3-1");
	assert_non_null(tracker_find(f->t, "3-1"));
	tracker_device_departed(f->t, "3-1");
	assert_int_equal(last(f)->kind, UL_EV_DEPARTED);
	assert_null(tracker_find(f->t, "3-1"));
}

static void test_departure_keeps_location(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts d = device("1-7", 0, 0, "BBBB2222");
	const struct board *b;

	UL_COPY(d.devnodes, "/dev/ttyACM3");
	tracker_device_arrived(f->t, &d, NULL);
	f->now += 1000;
	tracker_device_departed(f->t, "1-7");
	b = tracker_find(f->t, "esp-b");
	assert_non_null(b);
	assert_int_equal(b->state, BOARD_ABSENT);
	assert_string_equal(b->dev.busid, "1-7");
	assert_string_equal(b->dev.devnodes, "/dev/ttyACM3");
	assert_int_equal(b->last_seen_ms, f->now);
	assert_null(tracker_find_busid(f->t, "1-7"));
	/* Departure of a busid nobody has: nothing. */
	tracker_device_departed(f->t, "9-9");
	assert_int_equal(last(f)->kind, UL_EV_DEPARTED);
	assert_int_equal(f->nseen, 2);
}

static void test_reenumeration_window(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts app = device("1-4", 0x303a, 0x1001, "AAAA1111");
	struct ul_devfacts rom = device("1-4", 0x303a, 0x0002, "");

	tracker_device_arrived(f->t, &app, NULL);
	tracker_device_departed(f->t, "1-4");
	f->now += 800;
	tracker_device_arrived(f->t, &rom, NULL);
	assert_int_equal(last(f)->kind, UL_EV_REENUMERATED);
	assert_string_equal(last(f)->board, "esp-a");
	assert_non_null(strstr(last(f)->detail, "303a:1001 -> 303a:0002"));
	assert_non_null(strstr(last(f)->detail, "app \u2192 rom"));
	/* Gone for longer than the window: a plain arrival. */
	tracker_device_departed(f->t, "1-4");
	f->now += 60000;
	tracker_device_arrived(f->t, &app, NULL);
	assert_int_equal(last(f)->kind, UL_EV_ARRIVED);
}

static void test_usbip_states(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts d = device("0-1", 0x1209, 0x0001, "BBBB2222");
	const struct board *b;

	/* A virtual device is exported without a udev arrival. */
	tracker_exported(f->t, &d);
	assert_int_equal(f->seen[0].kind, UL_EV_ARRIVED);
	assert_int_equal(last(f)->kind, UL_EV_EXPORTED);
	b = tracker_find(f->t, "esp-b");
	assert_int_equal(b->state, BOARD_EXPORTED);
	tracker_imported(f->t, "0-1", "10.0.0.9:4000");
	assert_int_equal(b->state, BOARD_IMPORTED);
	assert_string_equal(b->imported_by, "10.0.0.9:4000");
	assert_string_equal(last(f)->peer, "10.0.0.9:4000");
	tracker_released(f->t, "0-1", "10.0.0.9:4000", false, NULL);
	assert_int_equal(last(f)->kind, UL_EV_RELEASED);
	assert_int_equal(b->state, BOARD_EXPORTED);
	assert_string_equal(b->imported_by, "");
	tracker_imported(f->t, "0-1", "10.0.0.9:4001");
	tracker_released(f->t, "0-1", "10.0.0.9:4001", true, "keepalive timeout");
	assert_int_equal(last(f)->kind, UL_EV_CLIENT_GONE);
	assert_string_equal(last(f)->detail, "keepalive timeout");
	tracker_unexported(f->t, "0-1");
	assert_int_equal(last(f)->kind, UL_EV_UNEXPORTED);
	assert_int_equal(b->state, BOARD_PRESENT);
}

static void test_lease_exclusive_and_renew(void **state)
{
	struct fixture *f = *state;
	struct ul_lease l1, l2;
	uint64_t s1 = 0, s2 = 0;

	assert_int_equal(tracker_lease_take(f->t, "esp-a", "ann@h", "flash", "", 60000, &l1, &s1),
	                 TRACKER_OK);
	assert_int_equal(strlen(l1.token), UL_TOKEN_LEN);
	assert_int_equal(l1.expires_ms, f->now + 60000);
	assert_int_equal(last(f)->kind, UL_EV_LEASE_TAKEN);
	assert_string_equal(last(f)->lease.token, l1.token);
	assert_int_equal(last(f)->seq, s1);
	assert_int_equal(tracker_lease_take(f->t, "esp-a", "bob@h", NULL, "", 60000, &l2, &s2),
	                 TRACKER_E_LEASED);
	assert_string_equal(l2.holder, "ann@h");
	/* The holder checking out again renews, same token. */
	f->now += 1000;
	assert_int_equal(tracker_lease_take(f->t, "esp-a", "ann@h", NULL, "", 60000, &l2, &s2),
	                 TRACKER_OK);
	assert_string_equal(l2.token, l1.token);
	assert_int_equal(l2.expires_ms, f->now + 60000);
	assert_int_equal(last(f)->kind, UL_EV_LEASE_RENEWED);
	assert_int_equal(tracker_lease_renew(f->t, "esp-a", "bob@h", 1000, &l2, &s2),
	                 TRACKER_E_NOT_HOLDER);
	assert_int_equal(tracker_lease_take(f->t, "zzz", "ann@h", NULL, "", 1, &l2, &s2),
	                 TRACKER_E_UNKNOWN);
}

static void test_lease_release_rules(void **state)
{
	struct fixture *f = *state;
	struct ul_lease l;
	uint64_t seq;

	assert_int_equal(tracker_lease_release(f->t, "esp-b", "ann@h", false, &seq),
	                 TRACKER_E_NOT_LEASED);
	tracker_lease_take(f->t, "esp-b", "ann@h", NULL, "", 60000, &l, &seq);
	assert_int_equal(tracker_lease_release(f->t, "esp-b", "bob@h", false, &seq),
	                 TRACKER_E_NOT_HOLDER);
	assert_true(tracker_find(f->t, "esp-b")->leased);
	assert_int_equal(tracker_lease_release(f->t, "esp-b", "bob@h", true, &seq), TRACKER_OK);
	assert_int_equal(last(f)->kind, UL_EV_LEASE_RELEASED);
	assert_string_equal(last(f)->detail, "forced by bob@h");
	assert_false(tracker_find(f->t, "esp-b")->leased);
}

static void test_lease_expiry(void **state)
{
	struct fixture *f = *state;
	struct ul_lease l;
	uint64_t seq;

	assert_int_equal(tracker_lease_expire(f->t), -1);
	tracker_lease_take(f->t, "esp-a", "ann@h", NULL, "", 5000, &l, &seq);
	tracker_lease_take(f->t, "esp-b", "ann@h", NULL, "", 9000, &l, &seq);
	assert_int_equal(tracker_lease_expire(f->t), 5000);
	f->now += 5000;
	assert_int_equal(tracker_lease_expire(f->t), 4000);
	assert_int_equal(last(f)->kind, UL_EV_LEASE_EXPIRED);
	assert_string_equal(last(f)->board, "esp-a");
	assert_false(tracker_find(f->t, "esp-a")->leased);
	/* An expired lease is anyone's again. */
	assert_int_equal(tracker_lease_take(f->t, "esp-a", "bob@h", NULL, "", 1000, &l, &seq),
	                 TRACKER_OK);
}

static void test_import_allowed(void **state)
{
	struct fixture *f = *state;
	struct ul_lease l;
	uint64_t seq;
	const struct board *b = tracker_find(f->t, "esp-a");

	assert_true(tracker_import_allowed(b, "10.1.1.1:5", NULL));
	tracker_lease_take(f->t, "esp-a", "ann@h", NULL, "10.0.0.5", 60000, &l, &seq);
	assert_false(tracker_import_allowed(b, "10.1.1.1:5", NULL));
	assert_false(tracker_import_allowed(b, "10.1.1.1:5", ""));
	assert_false(tracker_import_allowed(b, "10.1.1.1:5", "aaaaaaaaaaaa"));
	assert_true(tracker_import_allowed(b, "10.1.1.1:5", l.token));
	assert_true(tracker_import_allowed(b, "10.0.0.5:41234", NULL));
	assert_false(tracker_import_allowed(b, "10.0.0.50:41234", NULL));
}

/* The HTTP server's event counter leaves before the tracker: after
 * tracker_unsubscribe it sees nothing, and the others still see everything. */
static void test_unsubscribe(void **state)
{
	struct fixture *f = *state;
	struct fixture other;
	struct ul_devfacts d = device("1-2", 0x303a, 0x1001, "AAAA1111");

	memset(&other, 0, sizeof(other));
	assert_int_equal(tracker_subscribe(f->t, &recorder, &other, false), 0);
	tracker_device_arrived(f->t, &d, NULL);
	assert_int_equal(other.nseen, 1);
	tracker_unsubscribe(f->t, &recorder, &other);
	tracker_unsubscribe(f->t, &recorder, &other); /* absent: nothing */
	tracker_device_departed(f->t, "1-2");
	assert_int_equal(other.nseen, 1);
	assert_int_equal(f->nseen, 2);
	assert_int_equal(last(f)->kind, UL_EV_DEPARTED);
}

static void committed_cb(void *arg, int rc)
{
	int *out = arg;

	*out = rc == 0 ? 1 : -1;
}

static void test_durable_waits(void **state)
{
	struct fixture *f = *state;
	int done1 = 0, done2 = 0, done3 = 0;
	struct ul_lease l;
	uint64_t s1, s2;
	static const struct tracker_sub_ops nothing = {.event = record};
	struct fixture other;

	memset(&other, 0, sizeof(other));
	assert_int_equal(tracker_subscribe(f->t, &nothing, &other, true), 0);
	tracker_lease_take(f->t, "esp-a", "ann@h", NULL, "", 60000, &l, &s1);
	tracker_lease_take(f->t, "esp-b", "ann@h", NULL, "", 60000, &l, &s2);
	assert_int_equal(tracker_when_committed(f->t, s1, committed_cb, &done1), 0);
	assert_int_equal(tracker_when_committed(f->t, s2, committed_cb, &done2), 0);
	assert_int_equal(done1 + done2, 0);
	tracker_committed(f->t, s1, 0);
	assert_int_equal(done1, 1);
	assert_int_equal(done2, 0);
	tracker_committed(f->t, s2, -1);
	assert_int_equal(done2, -1);
	/* Already committed: at once. */
	tracker_when_committed(f->t, s1, committed_cb, &done3);
	assert_int_equal(done3, 1);
}

static void test_registry_reload(void **state)
{
	struct fixture *f = *state;
	struct registry next;
	char err[256];
	struct ul_devfacts d = device("2-2", 0x1234, 0x0001, "NEW1");

	tracker_device_arrived(f->t, &d, NULL);
	assert_non_null(tracker_find(f->t, "2-2"));
	assert_int_equal(registry_parse_string("[newboard]\nserial = NEW1\n", "next.conf", &next,
	                                       err, sizeof(err)),
	                 0);
	tracker_set_registry(f->t, &next, "next.conf: 1 board(s)");
	assert_int_equal(last(f)->kind, UL_EV_CONFIG_RELOADED);
	assert_null(tracker_find(f->t, "2-2"));
	assert_non_null(tracker_find(f->t, "newboard"));
	assert_int_equal(tracker_find(f->t, "newboard")->state, BOARD_PRESENT);
	/* Absent boards the new file drops leave the table. */
	assert_null(tracker_find(f->t, "esp-b"));
	tracker_registry_rejected(f->t, "x.conf:3: bad line");
	assert_int_equal(last(f)->kind, UL_EV_CONFIG_REJECTED);
	assert_string_equal(last(f)->detail, "x.conf:3: bad line");
	tracker_set_registry(f->t, &f->reg, NULL);
	registry_free(&next);
	assert_non_null(tracker_find(f->t, "esp-b"));
}

static void test_resolve(void **state)
{
	struct fixture *f = *state;
	const struct board *b = NULL;
	char err[256];

	assert_int_equal(tracker_resolve(f->t, "pic", &b, err, sizeof(err)), NAMES_OK);
	assert_string_equal(b->name, "pico");
	assert_int_equal(tracker_resolve(f->t, "esp", &b, err, sizeof(err)), NAMES_E_AMBIGUOUS);
	assert_non_null(strstr(err, "esp-a"));
	assert_non_null(strstr(err, "esp-b"));
	assert_int_equal(tracker_resolve(f->t, "nothing", &b, err, sizeof(err)), NAMES_E_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_registry_boards_listed_absent, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_arrival_named_by_serial, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unnamed_device_keyed_by_busid_and_dropped,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_departure_keeps_location, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reenumeration_window, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_usbip_states, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lease_exclusive_and_renew, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lease_release_rules, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lease_expiry, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_import_allowed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unsubscribe, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_durable_waits, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_registry_reload, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_resolve, setup, teardown),
	};

	return cmocka_run_group_tests_name("tracker", tests, NULL, NULL);
}
