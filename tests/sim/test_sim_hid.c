/* SPDX-License-Identifier: MIT */
/*
 * test_sim_hid.c - the boot keyboard: its report descriptor, the reports
 * it types, class requests, and the US layout table.
 */
#include "sim_harness.h"

#include <string.h>

#include "sim_hid.h"

#define EP_IN 0x81

/* A keyboard without a clock: it settles after exactly
 * SIM_HID_SETTLE_POLLS polls. */
static struct usbip_export *hid_create(const char *spec, unsigned index)
{
	struct usbip_export *exp = simh_create(spec, index);

	sim_set_clock(exp, NULL, NULL);
	return exp;
}

/* Reads one report, which must come at once. */
static void next_report(struct usbip_export *exp, uint8_t out[8])
{
	struct usbip_urb *urb = simh_in(exp, EP_IN, 8);

	assert_int_equal(simh_completions(urb), 1);
	assert_int_equal(urb->status, 0);
	assert_int_equal(urb->actual_length, 8);
	memcpy(out, urb->data, 8);
	simh_urb_free(urb);
}

static void expect_report(struct usbip_export *exp, uint8_t mod, uint8_t key)
{
	const uint8_t want[8] = {mod, 0, key, 0, 0, 0, 0, 0};
	uint8_t got[8];

	next_report(exp, got);
	assert_memory_equal(got, want, 8);
}

static void expect_key(struct usbip_export *exp, uint8_t mod, uint8_t key)
{
	expect_report(exp, mod, key); /* down */
	expect_report(exp, 0, 0);     /* up */
}

/* The idle reports a new import starts with: exactly
 * SIM_HID_SETTLE_POLLS of them, all zero. */
static void expect_settle(struct usbip_export *exp)
{
	for (unsigned i = 0; i < SIM_HID_SETTLE_POLLS; i++)
		expect_report(exp, 0, 0);
}

static void expect_pending_then_cancel(struct usbip_export *exp)
{
	struct usbip_urb *urb = simh_in(exp, EP_IN, 8);

	assert_int_equal(simh_completions(urb), 0);
	exp->ops->cancel(exp, urb);
	assert_int_equal(simh_completions(urb), 1);
	assert_int_equal(urb->status, -104);
	assert_int_equal(urb->actual_length, 0);
	simh_urb_free(urb);
}

static void test_types_text(void **state)
{
	/* The spec carries a backslash escape for the newline. */
	struct usbip_export *exp = hid_create("hid:Ab1\\n", 1);

	(void)state;
	expect_settle(exp);
	/* The first report that is not idle is the first key. */
	expect_key(exp, 0x02, 0x04); /* Shift+a */
	expect_key(exp, 0x00, 0x05); /* b */
	expect_key(exp, 0x00, 0x1e); /* 1 */
	expect_key(exp, 0x00, 0x28); /* Enter */
	expect_pending_then_cancel(exp);
	expect_pending_then_cancel(exp);

	/* A new import types it again. */
	exp->ops->close(exp);
	assert_int_equal(exp->ops->open(exp), 0);
	expect_settle(exp);
	expect_key(exp, 0x02, 0x04);
	simh_destroy(exp);
}

/* A URB held before typing starts gets the first report; several held
 * URBs are served in order. */
static void test_held_urbs_in_order(void **state)
{
	struct usbip_export *exp = hid_create("hid:x", 1);
	struct usbip_urb *a, *b, *c;

	(void)state;
	exp->ops->close(exp);
	/* The core holds no URB across close/open; typing restarts at open. */
	assert_int_equal(exp->ops->open(exp), 0);
	expect_settle(exp);
	a = simh_in(exp, EP_IN, 8);
	b = simh_in(exp, EP_IN, 8);
	c = simh_in(exp, EP_IN, 8);
	assert_int_equal(simh_completions(a), 1);
	assert_int_equal(simh_completions(b), 1);
	assert_int_equal(simh_completions(c), 0);
	assert_int_equal(a->data[2], 0x1b); /* x */
	assert_int_equal(b->data[2], 0);
	exp->ops->cancel(exp, c);
	assert_int_equal(c->status, -USBIP_ECONNRESET);
	simh_urb_free(a);
	simh_urb_free(b);
	simh_urb_free(c);
	simh_destroy(exp);
}

static uint64_t fake_clock(void *ctx)
{
	return *(const uint64_t *)ctx;
}

/* With a clock, typing waits for SIM_HID_SETTLE_MS after the first poll
 * as well as for SIM_HID_SETTLE_POLLS polls. */
static void test_settle_clock(void **state)
{
	struct usbip_export *exp = simh_create("hid:q", 1);
	uint64_t now = 5000000;
	const uint64_t settle_us = (uint64_t)SIM_HID_SETTLE_MS * 1000;

	(void)state;
	sim_set_clock(exp, fake_clock, &now);
	expect_settle(exp); /* the first poll starts the wait at 5 s */
	expect_report(exp, 0, 0);
	now += settle_us - 1;
	expect_report(exp, 0, 0);
	now += 1;
	expect_key(exp, 0, 0x14); /* q */
	expect_pending_then_cancel(exp);

	/* Time alone is not enough: the polls count too. */
	exp->ops->close(exp);
	assert_int_equal(exp->ops->open(exp), 0);
	expect_report(exp, 0, 0);
	now += 10 * settle_us;
	for (unsigned i = 1; i < SIM_HID_SETTLE_POLLS; i++)
		expect_report(exp, 0, 0);
	expect_key(exp, 0, 0x14);
	simh_destroy(exp);
}

static void test_default_text(void **state)
{
	static const uint8_t keys[] = {0x18, 0x16, 0x05, 0x0f, 0x04, 0x05, 0x28}; /* usblab\n */
	struct usbip_export *exp = hid_create("hid", 1);

	(void)state;
	expect_settle(exp);
	for (unsigned i = 0; i < sizeof(keys); i++)
		expect_key(exp, 0, keys[i]);
	expect_pending_then_cancel(exp);
	simh_destroy(exp);
}

static void test_report_descriptor(void **state)
{
	struct usbip_export *exp = hid_create("hid", 1);
	uint8_t cfg[256], rd[256];
	int32_t n, rn;

	(void)state;
	/* The HID descriptor in the configuration gives the report length. */
	assert_int_equal(simh_control(exp, 0x80, 6, 0x0200, 0, sizeof(cfg), cfg, &n), 0);
	const uint8_t *hid = NULL;

	for (int32_t off = 0; off < n; off += cfg[off]) {
		if (cfg[off + 1] == 0x21)
			hid = cfg + off;
	}
	assert_non_null(hid);
	assert_int_equal(hid[0], 9);
	assert_int_equal(hid[2] | hid[3] << 8, 0x0111);
	assert_int_equal(hid[5], 1);
	assert_int_equal(hid[6], 0x22);
	uint16_t rlen = (uint16_t)(hid[7] | hid[8] << 8);

	/* usbhid asks the interface for exactly that many bytes. */
	assert_int_equal(simh_control(exp, 0x81, 6, 0x2200, 0, rlen, rd, &rn), 0);
	assert_int_equal(rn, rlen);
	assert_int_equal(rlen, 63);
	static const uint8_t head[] = {0x05, 0x01, 0x09, 0x06, 0xa1, 0x01};

	assert_memory_equal(rd, head, sizeof(head));
	assert_int_equal(rd[rn - 1], 0xc0);
	/* Input items: modifiers (8x1), reserved (1x8), keys (6x8) = 8 bytes;
	 * output: LEDs 5x1 + 3 padding = 1 byte. */
	unsigned size = 0, count = 0, in_bits = 0, out_bits = 0;

	for (int32_t i = 0; i < rn;) {
		uint8_t prefix = rd[i], len = prefix & 3;

		if (prefix == 0x75)
			size = rd[i + 1];
		if (prefix == 0x95)
			count = rd[i + 1];
		if (prefix == 0x81)
			in_bits += size * count;
		if (prefix == 0x91)
			out_bits += size * count;
		i += 1 + (len == 3 ? 4 : len);
	}
	assert_int_equal(in_bits, 64);
	assert_int_equal(out_bits, 8);

	/* The HID descriptor alone, and a descriptor the interface lacks. */
	assert_int_equal(simh_control(exp, 0x81, 6, 0x2100, 0, 9, rd, &rn), 0);
	assert_memory_equal(rd, hid, 9);
	assert_int_equal(simh_control(exp, 0x81, 6, 0x2300, 0, 9, rd, &rn), -USBIP_EPIPE);
	assert_int_equal(simh_control(exp, 0x81, 6, 0x2200, 1, 63, rd, &rn), -USBIP_EPIPE);
	simh_destroy(exp);
}

static void test_class_requests(void **state)
{
	struct usbip_export *exp = hid_create("hid", 1);
	uint8_t b[8];
	int32_t n;

	(void)state;
	/* SET_IDLE(0) as usbhid sends it, then GET_IDLE. */
	assert_int_equal(simh_control(exp, 0x21, 0x0a, 0x0000, 0, 0, NULL, &n), 0);
	assert_int_equal(simh_control(exp, 0x21, 0x0a, 0x7d00, 0, 0, NULL, &n), 0);
	assert_int_equal(simh_control(exp, 0xa1, 0x02, 0, 0, 1, b, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(b[0], 0x7d);
	/* Protocol: report after reset, boot when set. */
	assert_int_equal(simh_control(exp, 0xa1, 0x03, 0, 0, 1, b, &n), 0);
	assert_int_equal(b[0], 1);
	assert_int_equal(simh_control(exp, 0x21, 0x0b, 0, 0, 0, NULL, &n), 0);
	assert_int_equal(simh_control(exp, 0xa1, 0x03, 0, 0, 1, b, &n), 0);
	assert_int_equal(b[0], 0);
	assert_int_equal(simh_control(exp, 0x21, 0x0b, 2, 0, 0, NULL, &n), -USBIP_EPIPE);
	/* LEDs through SET_REPORT(Output), read back with GET_REPORT. */
	uint8_t leds = 0x03; /* Num Lock + Caps Lock */

	assert_int_equal(simh_control(exp, 0x21, 0x09, 0x0200, 0, 1, &leds, &n), 0);
	assert_int_equal(simh_control(exp, 0xa1, 0x01, 0x0200, 0, 1, b, &n), 0);
	assert_int_equal(b[0], 0x03);
	assert_int_equal(simh_control(exp, 0x21, 0x09, 0x0100, 0, 1, &leds, &n), -USBIP_EPIPE);
	/* GET_REPORT(Input) gives the last report: the key-down of 'u'. */
	uint8_t r[8];

	expect_settle(exp);
	next_report(exp, r);
	assert_int_equal(r[2], 0x18);
	memset(b, 0xee, sizeof(b));
	assert_int_equal(simh_control(exp, 0xa1, 0x01, 0x0100, 0, 8, b, &n), 0);
	assert_int_equal(n, 8);
	assert_memory_equal(b, r, 8);
	assert_int_equal(simh_control(exp, 0xa1, 0x01, 0x0300, 0, 8, b, &n), -USBIP_EPIPE);
	assert_int_equal(simh_control(exp, 0x21, 0x55, 0, 0, 0, NULL, &n), -USBIP_EPIPE);
	simh_destroy(exp);
}

static void test_us_layout(void **state)
{
	static const struct {
		char c;
		uint8_t mod, key;
	} table[] = {
	        {'a', 0, 0x04},    {'z', 0, 0x1d},  {'Z', 2, 0x1d},  {'0', 0, 0x27},
	        {'9', 0, 0x26},    {'!', 2, 0x1e},  {'@', 2, 0x1f},  {'#', 2, 0x20},
	        {')', 2, 0x27},    {' ', 0, 0x2c},  {'\t', 0, 0x2b}, {'\n', 0, 0x28},
	        {'-', 0, 0x2d},    {'_', 2, 0x2d},  {'=', 0, 0x2e},  {'+', 2, 0x2e},
	        {'[', 0, 0x2f},    {'{', 2, 0x2f},  {'\\', 0, 0x31}, {'|', 2, 0x31},
	        {';', 0, 0x33},    {':', 2, 0x33},  {'\'', 0, 0x34}, {'"', 2, 0x34},
	        {'`', 0, 0x35},    {'~', 2, 0x35},  {',', 0, 0x36},  {'<', 2, 0x36},
	        {'.', 0, 0x37},    {'>', 2, 0x37},  {'/', 0, 0x38},  {'?', 2, 0x38},
	        {'\x1b', 0, 0x29}, {'\b', 0, 0x2a},
	};
	uint8_t mod, key;

	(void)state;
	for (unsigned i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
		assert_int_equal(sim_hid_key((uint8_t)table[i].c, &mod, &key), 0);
		assert_int_equal(mod, table[i].mod);
		assert_int_equal(key, table[i].key);
	}
	assert_int_equal(sim_hid_key(0x00, &mod, &key), -1);
	assert_int_equal(sim_hid_key(0x7f, &mod, &key), -1);
	assert_int_equal(sim_hid_key(0xe9, &mod, &key), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_types_text),        cmocka_unit_test(test_held_urbs_in_order),
	        cmocka_unit_test(test_settle_clock),      cmocka_unit_test(test_default_text),
	        cmocka_unit_test(test_report_descriptor), cmocka_unit_test(test_class_requests),
	        cmocka_unit_test(test_us_layout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
