/* SPDX-License-Identifier: MIT */
/*
 * test_sim_unplug.c - unplug and replug of virtual devices (sim.h), and the
 * ESP32-S3 on USB-OTG (esp32:reenum) that re-enumerates with another
 * identity at each chip reset: held URBs end with ENODEV, a gone device
 * refuses everything, a replug waits for the core's release, a power-on
 * replug brings an ESP32 back to its app, and a re-enumeration keeps the
 * chip's mode and shows the mode's descriptors.
 */
#include "sim_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp32.h"

#define EP_IN  0x82
#define EP_OUT 0x02
#define DTR    0x0001
#define RTS    0x0002

struct owner_log {
	unsigned reenumerations;
	unsigned releases;
	struct usbip_export *last;
};

static void on_reenumerate(void *ctx, struct usbip_export *exp)
{
	struct owner_log *o = ctx;

	o->reenumerations++;
	o->last = exp;
}

static void on_released(void *ctx, struct usbip_export *exp)
{
	struct owner_log *o = ctx;

	o->releases++;
	o->last = exp;
}

static const struct sim_owner_ops owner_ops = {
        .reenumerate = on_reenumerate,
        .released = on_released,
};

static void set_lines(struct usbip_export *exp, uint16_t lines)
{
	assert_int_equal(simh_control(exp, 0x21, 0x22, lines, 0, 0, NULL, NULL), 0);
}

/* Reads what the device has queued on bulk IN. */
static size_t read_all(struct usbip_export *exp, uint8_t *out, size_t cap)
{
	size_t got = 0;

	for (;;) {
		struct usbip_urb *urb = simh_in(exp, EP_IN, 512);

		if (simh_completions(urb) == 0) {
			exp->ops->cancel(exp, urb);
			simh_urb_free(urb);
			return got;
		}
		assert_int_equal(urb->status, 0);
		assert_true(got + (size_t)urb->actual_length <= cap);
		memcpy(out + got, urb->data, (size_t)urb->actual_length);
		got += (size_t)urb->actual_length;
		simh_urb_free(urb);
	}
}

/* Sends SYNC; true when the ROM answered (a response frame, 0x01). */
static bool rom_answers(struct usbip_export *exp)
{
	uint8_t frame[128], back[2048];
	long n = esp32_frame_sync(frame, sizeof(frame));

	assert_true(n > 0);
	read_all(exp, back, sizeof(back)); /* whatever was queued before */
	assert_int_equal(simh_out(exp, EP_OUT, frame, (size_t)n), 0);
	size_t got = read_all(exp, back, sizeof(back));

	return got > 2 && back[0] == 0xc0 && back[1] == 0x01;
}

/* The core's side of an unplug: it lets go of the device (release). */
static void core_releases(struct usbip_export *exp)
{
	exp->ops->close(exp);
	exp->ops->release(exp);
}

/* The device descriptor's idProduct and the serial string, as a host
 * reads them. */
static uint16_t read_pid(struct usbip_export *exp)
{
	uint8_t d[18];
	int32_t n = 0;

	assert_int_equal(simh_control(exp, 0x80, 6, 0x0100, 0, sizeof(d), d, &n), 0);
	assert_int_equal(n, 18);
	return (uint16_t)(d[10] | d[11] << 8);
}

static void read_serial(struct usbip_export *exp, char *out, size_t cap)
{
	uint8_t s[128];
	int32_t n = 0;
	size_t k = 0;

	assert_int_equal(simh_control(exp, 0x80, 6, 0x0303, 0x0409, sizeof(s), s, &n), 0);
	assert_true(n >= 2);
	for (int32_t i = 2; i + 1 < n && k + 1 < cap; i += 2)
		out[k++] = (char)s[i];
	out[k] = 0;
}

static void test_unplug_ends_held_urbs_with_enodev(void **state)
{
	struct usbip_export *exp = simh_create("cdc", 3);
	struct usbip_urb *held = simh_in(exp, EP_IN, 64);

	(void)state;
	assert_int_equal(simh_completions(held), 0); /* nothing to read: held */
	assert_false(sim_is_unplugged(exp));
	assert_int_equal(sim_unplug(exp), 0);
	assert_true(sim_is_unplugged(exp));
	assert_int_equal(simh_completions(held), 1);
	assert_int_equal(held->status, -USBIP_ENODEV);
	simh_urb_free(held);
	/* Gone: every later request fails as for a vanished device. */
	assert_int_equal(simh_out(exp, EP_OUT, "x", 1), -USBIP_ENODEV);
	assert_int_equal(simh_control(exp, 0x80, 6, 0x0100, 0, 18, (uint8_t[18]){0}, NULL),
	                 -USBIP_ENODEV);
	assert_int_equal(exp->ops->reset(exp), -USBIP_ENODEV);
	assert_int_equal(exp->ops->open(exp), -USBIP_ENODEV);
	/* Twice is refused. */
	assert_int_equal(sim_unplug(exp), -1);
	simh_destroy(exp);
}

static void test_replug_waits_for_release(void **state)
{
	struct usbip_export *exp = simh_create("cdc", 2);
	struct owner_log o = {0};
	uint8_t back[16];

	(void)state;
	sim_set_owner(exp, &owner_ops, &o);
	assert_int_equal(sim_replug(exp, true), -1); /* not unplugged */
	assert_int_equal(sim_unplug(exp), 0);
	assert_false(sim_is_released(exp));
	assert_int_equal(sim_replug(exp, true), -1); /* the core still holds it */
	core_releases(exp);
	assert_int_equal(o.releases, 1);
	assert_ptr_equal(o.last, exp);
	assert_true(sim_is_released(exp));
	assert_int_equal(sim_replug(exp, true), 0);
	assert_false(sim_is_unplugged(exp));
	assert_int_equal(exp->info.idProduct, 0x0001);
	/* Back as new: it is opened by the next import and echoes again. */
	assert_int_equal(exp->ops->open(exp), USBIP_ST_OK);
	assert_int_equal(simh_out(exp, EP_OUT, "hi", 2), 0);
	assert_int_equal(read_all(exp, back, sizeof(back)), 2);
	assert_memory_equal(back, "hi", 2);
	assert_int_equal(o.reenumerations, 0);
	simh_destroy(exp);
}

static void test_esp32_power_cycle_returns_to_app(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 1);

	(void)state;
	/* esptool's ClassicReset puts it in the ROM... */
	set_lines(exp, RTS);
	set_lines(exp, DTR | RTS);
	set_lines(exp, DTR);
	set_lines(exp, 0);
	assert_true(rom_answers(exp));
	/* ...a cable pull powers it off: it comes back running the app, with
	 * the same identity (USB-Serial/JTAG does not re-enumerate). */
	assert_int_equal(sim_unplug(exp), 0);
	core_releases(exp);
	assert_int_equal(sim_replug(exp, true), 0);
	assert_int_equal(exp->ops->open(exp), USBIP_ST_OK);
	assert_int_equal(exp->info.idProduct, 0x1001);
	assert_false(rom_answers(exp));
	simh_destroy(exp);
}

static void test_esp32_usb_serial_jtag_never_reenumerates(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 1);
	struct owner_log o = {0};

	(void)state;
	sim_set_owner(exp, &owner_ops, &o);
	set_lines(exp, RTS);
	set_lines(exp, DTR);
	set_lines(exp, 0);
	assert_true(rom_answers(exp));
	assert_int_equal(o.reenumerations, 0);
	simh_destroy(exp);
}

/* The owner's part of a re-enumeration, as usblabd does it. */
static void reenumerate(struct usbip_export *exp)
{
	assert_int_equal(sim_unplug(exp), 0);
	core_releases(exp);
	assert_int_equal(sim_replug(exp, false), 0);
	assert_int_equal(exp->ops->open(exp), USBIP_ST_OK);
}

static void test_esp32_reenum_identities(void **state)
{
	struct usbip_export *exp = simh_create("esp32:reenum", 4);
	struct owner_log o = {0};
	char serial[64];

	(void)state;
	sim_set_owner(exp, &owner_ops, &o);
	/* The app on USB-OTG: TinyUSB's CDC. */
	assert_int_equal(exp->info.idVendor, 0x303a);
	assert_int_equal(exp->info.idProduct, 0x4001);
	assert_int_equal(read_pid(exp), 0x4001);
	read_serial(exp, serial, sizeof(serial));
	assert_string_equal(serial, "USBLAB-ESP32-4");
	assert_string_equal(sim_serial(exp), "USBLAB-ESP32-4");
	assert_false(rom_answers(exp));

	/* esptool's ClassicReset: entering reset asks for nothing yet; coming
	 * out of it into the ROM re-enumerates, once. */
	set_lines(exp, RTS);
	set_lines(exp, DTR | RTS);
	assert_int_equal(o.reenumerations, 0);
	set_lines(exp, DTR);
	assert_int_equal(o.reenumerations, 1);
	assert_ptr_equal(o.last, exp);
	/* Until the owner takes it off the bus, the old descriptors stay. */
	assert_int_equal(exp->info.idProduct, 0x4001);
	reenumerate(exp);
	assert_int_equal(exp->info.idProduct, 0x0002);
	assert_int_equal(read_pid(exp), 0x0002);
	read_serial(exp, serial, sizeof(serial));
	assert_string_equal(serial, "USBLAB-ESP32ROM-4");
	assert_string_equal(sim_serial(exp), "USBLAB-ESP32ROM-4");
	assert_true(rom_answers(exp));
	assert_int_equal(o.reenumerations, 1);

	/* An RTS pulse with DTR=0 (esptool's HardReset): back to the app,
	 * through another re-enumeration. */
	set_lines(exp, RTS);
	set_lines(exp, 0);
	assert_int_equal(o.reenumerations, 2);
	reenumerate(exp);
	assert_int_equal(exp->info.idProduct, 0x4001);
	assert_false(rom_answers(exp));

	/* A power cycle from the ROM comes back as the app. */
	set_lines(exp, RTS);
	set_lines(exp, DTR);
	assert_int_equal(o.reenumerations, 3);
	reenumerate(exp);
	assert_int_equal(exp->info.idProduct, 0x0002);
	assert_int_equal(sim_unplug(exp), 0);
	core_releases(exp);
	assert_int_equal(sim_replug(exp, true), 0);
	assert_int_equal(exp->info.idProduct, 0x4001);
	assert_int_equal(o.reenumerations, 3);
	simh_destroy(exp);
}

static void test_esp32_reenum_spec(void **state)
{
	struct usbip_export *exp = NULL;
	char err[256];

	(void)state;
	assert_int_equal(sim_create("esp32:reenumerate", 1, &exp, err, sizeof(err)), -1);
	assert_null(exp);
	assert_non_null(strstr(err, "reenum"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_unplug_ends_held_urbs_with_enodev),
	        cmocka_unit_test(test_replug_waits_for_release),
	        cmocka_unit_test(test_esp32_power_cycle_returns_to_app),
	        cmocka_unit_test(test_esp32_usb_serial_jtag_never_reenumerates),
	        cmocka_unit_test(test_esp32_reenum_identities),
	        cmocka_unit_test(test_esp32_reenum_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
