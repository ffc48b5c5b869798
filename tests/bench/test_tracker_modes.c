/* SPDX-License-Identifier: MIT */
/*
 * test_tracker_modes.c - one identity across modes (issue 15): a board the
 * registry lists as [esp-a] and [esp-a:rom] that re-enumerates from its
 * app into its ROM and back keeps its name, its lease and its export, and
 * the event says "app → rom"; a probe's result lands on the board and in
 * a PROBED event, and is forgotten when the mode changes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

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

/* What usblabd --virtual esp32:reenum shows, both identities named. */
static const char conf[] = "[esp-a]\n"
                           "serial = USBLAB-ESP32-1\n"
                           "type = esp32\n"
                           "[esp-a:rom]\n"
                           "vidpid = 303a:0002\n"
                           "serial = USBLAB-ESP32ROM-1\n"
                           "[other]\n"
                           "serial = USBLAB-CDC-2\n";

static int setup(void **state)
{
	static struct fixture f;
	char err[256];

	memset(&f, 0, sizeof(f));
	f.now = 1700000000000;
	assert_int_equal(registry_parse_string(conf, "modes.conf", &f.reg, err, sizeof(err)), 0);
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

static struct ul_devfacts virt(uint16_t pid, const char *serial)
{
	struct ul_devfacts d;

	memset(&d, 0, sizeof(d));
	UL_COPY(d.busid, "0-1");
	d.vid = 0x303a;
	d.pid = pid;
	d.speed_mbps = 480;
	UL_COPY(d.serial, serial);
	return d;
}

static const struct ul_event *find_kind(struct fixture *f, unsigned from, enum ul_event_kind k)
{
	for (unsigned i = from; i < f->nseen; i++)
		if (f->seen[i].kind == k)
			return &f->seen[i];
	return NULL;
}

/* The daemon's order for a virtual device: its export is the arrival; its
 * removal the departure (the client's connection ends after it). */
static void reenumerate(struct fixture *f, const struct ul_devfacts *to)
{
	tracker_device_departed(f->t, "0-1");
	tracker_released(f->t, "0-1", "10.0.0.9:4000", true, "device removed");
	f->now += 300;
	tracker_exported(f->t, to);
}

static void test_app_to_rom_keeps_name_lease_export(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts app = virt(0x4001, "USBLAB-ESP32-1");
	struct ul_devfacts rom = virt(0x0002, "USBLAB-ESP32ROM-1");
	struct ul_lease lease;
	uint64_t seq;
	const struct board *b;
	const struct ul_event *ev;
	unsigned mark;

	tracker_exported(f->t, &app);
	b = tracker_find(f->t, "esp-a");
	assert_non_null(b);
	assert_int_equal(b->state, BOARD_EXPORTED);
	assert_int_equal(b->mode, REG_MODE_APP);
	assert_int_equal(
	        tracker_lease_take(f->t, "esp-a", "ci@host", "flash", NULL, 600000, &lease, &seq),
	        TRACKER_OK);
	tracker_imported(f->t, "0-1", "10.0.0.9:4000");
	assert_int_equal(b->state, BOARD_IMPORTED);

	mark = f->nseen;
	reenumerate(f, &rom);
	/* Departed, then re-enumerated under the same name in its ROM mode. */
	assert_non_null(find_kind(f, mark, UL_EV_DEPARTED));
	ev = find_kind(f, mark, UL_EV_REENUMERATED);
	assert_non_null(ev);
	assert_null(find_kind(f, mark, UL_EV_ARRIVED));
	assert_string_equal(ev->board, "esp-a");
	assert_non_null(strstr(ev->detail, "app \u2192 rom"));
	assert_non_null(strstr(ev->detail, "303a:4001 -> 303a:0002"));
	assert_int_equal(ev->dev.pid, 0x0002);
	/* The lease went along, visible in the event too. */
	assert_string_equal(ev->lease.holder, "ci@host");
	assert_ptr_equal(tracker_find(f->t, "esp-a"), b);
	assert_ptr_equal(tracker_find_busid(f->t, "0-1"), b);
	assert_null(tracker_find(f->t, "0-1")); /* no stray board under the busid */
	assert_int_equal(b->mode, REG_MODE_ROM);
	assert_true(b->leased);
	assert_string_equal(b->lease.token, lease.token);
	/* Exported again, so a client importing by name gets its new mode. */
	assert_int_equal(b->state, BOARD_EXPORTED);
	assert_non_null(find_kind(f, mark, UL_EV_EXPORTED));
	assert_int_equal(b->dev.pid, 0x0002);
	assert_true(tracker_import_allowed(b, "10.1.1.1", lease.token));
	assert_false(tracker_import_allowed(b, "10.1.1.1", NULL));

	/* And back: rom → app. */
	mark = f->nseen;
	reenumerate(f, &app);
	ev = find_kind(f, mark, UL_EV_REENUMERATED);
	assert_non_null(ev);
	assert_non_null(strstr(ev->detail, "rom \u2192 app"));
	assert_int_equal(b->mode, REG_MODE_APP);
	assert_true(b->leased);
}

static void test_same_mode_return_says_no_mode_change(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts app = virt(0x4001, "USBLAB-ESP32-1");

	tracker_exported(f->t, &app);
	reenumerate(f, &app);
	assert_int_equal(f->seen[f->nseen - 2].kind, UL_EV_REENUMERATED);
	assert_null(strstr(f->seen[f->nseen - 2].detail, "\u2192"));
}

static void test_mode_change_after_the_window_is_an_arrival(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts app = virt(0x4001, "USBLAB-ESP32-1");
	struct ul_devfacts rom = virt(0x0002, "USBLAB-ESP32ROM-1");
	const struct board *b;
	unsigned mark;

	tracker_exported(f->t, &app);
	tracker_device_departed(f->t, "0-1");
	f->now += 3600 * 1000;
	mark = f->nseen;
	tracker_exported(f->t, &rom);
	assert_non_null(find_kind(f, mark, UL_EV_ARRIVED));
	assert_null(find_kind(f, mark, UL_EV_REENUMERATED));
	b = tracker_find(f->t, "esp-a");
	assert_int_equal(b->mode, REG_MODE_ROM);
	assert_int_equal(b->state, BOARD_EXPORTED);
}

static void test_probe_state_and_mode_change(void **state)
{
	struct fixture *f = *state;
	struct ul_devfacts app = virt(0x4001, "USBLAB-ESP32-1");
	struct ul_devfacts rom = virt(0x0002, "USBLAB-ESP32ROM-1");
	const struct board *b;

	assert_int_equal(tracker_board_probed(f->t, "nope", true, NULL, NULL), TRACKER_E_UNKNOWN);
	tracker_exported(f->t, &app);
	b = tracker_find(f->t, "esp-a");
	assert_string_equal(b->fw_state, "");
	assert_int_equal(tracker_board_probed(f->t, "esp-a", false, NULL, NULL), TRACKER_OK);
	assert_string_equal(b->fw_state, "running");
	assert_int_equal(f->seen[f->nseen - 1].kind, UL_EV_PROBED);
	assert_string_equal(f->seen[f->nseen - 1].detail, "running");
	assert_string_equal(f->seen[f->nseen - 1].board, "esp-a");

	reenumerate(f, &rom);
	assert_string_equal(b->fw_state, ""); /* another mode: not probed yet */
	assert_int_equal(tracker_board_probed(f->t, "esp-a", true, "3c:61:05:aa:bb:01", "me@h"),
	                 TRACKER_OK);
	assert_string_equal(b->fw_state, "bootloader");
	assert_string_equal(b->dev.mac, "3c:61:05:aa:bb:01");
	assert_string_equal(f->seen[f->nseen - 1].detail, "bootloader, MAC 3c:61:05:aa:bb:01");
	assert_string_equal(f->seen[f->nseen - 1].peer, "me@h");
	assert_string_equal(ul_event_kind_name(UL_EV_PROBED), "probed");
	assert_int_equal(ul_event_kind_parse("probed"), UL_EV_PROBED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_app_to_rom_keeps_name_lease_export, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_same_mode_return_says_no_mode_change, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_mode_change_after_the_window_is_an_arrival,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_probe_state_and_mode_change, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
