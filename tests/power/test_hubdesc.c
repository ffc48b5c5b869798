/* SPDX-License-Identifier: MIT */
/*
 * test_hubdesc.c - hubdesc.h on descriptors of real hubs: a USB2 hub that
 * switches each port, one that switches them together (ganged), qemu's
 * usb-hub without and with port-power (no switching / per port), the two
 * halves of a VIA VL817 USB3 hub with their BOS and Container ID; every
 * strict prefix read before a guard page; malformed BOS descriptors; port
 * from location; sysfs port directories; pairing among several hubs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "hubdesc.h"

static struct guard g;

/* VIA VL817's USB2 half (2109:2817), as lsusb -v lists it in uhubctl issues
 * #255 and #417: 4 ports, wHubCharacteristic 0x00e9 (per-port power
 * switching, per-port overcurrent, TT think time 32 FS bits, port
 * indicators), bPwrOn2PwrGood 175 * 2 ms, bHubContrCurrent 100 mA,
 * DeviceRemovable 0x00, PortPwrCtrlMask 0xff. */
static const uint8_t vl817_usb2[] = {0x09, 0x29, 0x04, 0xe9, 0x00, 0xaf, 0x64, 0x00, 0xff};

/* A Terminus FE1.1s (1a40:0101), the 4-port chip of many cheap hubs:
 * wHubCharacteristic 0x00e0 (ganged power switching, ganged overcurrent),
 * bPwrOn2PwrGood 50 * 2 ms, 100 mA. */
static const uint8_t fe11s_ganged[] = {0x09, 0x29, 0x04, 0xe0, 0x00, 0x32, 0x64, 0x00, 0xff};

/* qemu 7.2's usb-hub (hw/usb/dev-hub.c), 8 ports: wHubCharacteristics 0x000a
 * (bits 1:0 = 10: no power switching; per-port overcurrent), 2 ms, and two
 * bytes each of DeviceRemovable (0) and PortPwrCtrlMask (0xff). */
static const uint8_t qemu_hub[] = {0x0b, 0x29, 0x08, 0x0a, 0x00, 0x01,
                                   0x00, 0x00, 0x00, 0xff, 0xff};
/* The same with -device usb-hub,port-power=on: bits 1:0 = 01. */
static const uint8_t qemu_hub_pp[] = {0x0b, 0x29, 0x08, 0x09, 0x00, 0x01,
                                      0x00, 0x00, 0x00, 0xff, 0xff};

/* A SuperSpeed hub descriptor (type 0x2A, USB 3.2 Table 10-3) with the
 * VL817 USB3 half's 4 ports and per-port switching (0x0009): bPwrOn2PwrGood
 * 50 (100 ms), bHubContrCurrent 0, bHubHdrDecLat 4, wHubDelay 0,
 * DeviceRemovable 0x0000. */
static const uint8_t vl817_usb3[] = {0x0c, 0x2a, 0x04, 0x09, 0x00, 0x32,
                                     0x00, 0x04, 0x00, 0x00, 0x00, 0x00};

/* The VL817's Container ID as lsusb prints it (uhubctl issue #248, an
 * Amazon Basics HU9002V1ESL): {5cf3ee30-d507-4925-b001-802d79434c30}; on the
 * wire the first three fields are little-endian. */
#define VL817_CID                                                                                  \
	0x30, 0xee, 0xf3, 0x5c, 0x07, 0xd5, 0x25, 0x49, 0xb0, 0x01, 0x80, 0x2d, 0x79, 0x43, 0x4c,  \
	        0x30
static const uint8_t vl817_cid[16] = {VL817_CID};

/* Its BOS (wTotalLength 0x002a, 3 capabilities): USB 2.0 Extension (LPM,
 * BESL: 0x06), SuperSpeed USB (speeds 0x000e, lowest full speed, U1 4 us,
 * U2 231 us), Container ID. Both halves send this BOS. */
static const uint8_t vl817_bos[] = {
        0x05, 0x0f, 0x2a, 0x00, 0x03,                                    /* BOS header */
        0x07, 0x10, 0x02, 0x06, 0x00,      0x00, 0x00,                   /* USB 2.0 ext */
        0x0a, 0x10, 0x03, 0x00, 0x0e,      0x00, 0x01, 0x04, 0xe7, 0x00, /* SuperSpeed */
        0x14, 0x10, 0x04, 0x00, VL817_CID,                               /* Container ID */
};

/* A BOS with no Container ID: the USB 2.0 extension only (a USB 2.01 hub). */
static const uint8_t bos_no_cid[] = {0x05, 0x0f, 0x0c, 0x00, 0x01, 0x07,
                                     0x10, 0x02, 0x02, 0x00, 0x00, 0x00};

static int group_setup(void **state)
{
	(void)state;
	return guard_init(&g, 1);
}

static int group_teardown(void **state)
{
	(void)state;
	guard_free(&g);
	return 0;
}

static void parse_placed(const uint8_t *v, size_t n, struct hubdesc *d, int want)
{
	assert_int_equal(hubdesc_parse(guard_place(&g, v, n), n, d), want);
}

static void test_usb2_per_port(void **state)
{
	struct hubdesc d;

	(void)state;
	parse_placed(vl817_usb2, sizeof(vl817_usb2), &d, HUBDESC_OK);
	assert_false(d.superspeed);
	assert_int_equal(d.nports, 4);
	assert_int_equal(d.characteristics, 0x00e9);
	assert_int_equal(d.power, HUBDESC_POWER_PER_PORT);
	assert_int_equal(d.pwron_ms, 350);
	assert_int_equal(d.removable, 0);
	assert_int_equal(d.pwrctrlmask, 0xff);
	assert_string_equal(hubdesc_power_name(d.power), "per-port");
}

static void test_usb2_ganged(void **state)
{
	struct hubdesc d;

	(void)state;
	parse_placed(fe11s_ganged, sizeof(fe11s_ganged), &d, HUBDESC_OK);
	assert_int_equal(d.power, HUBDESC_POWER_GANGED);
	assert_int_equal(d.pwron_ms, 100);
	assert_string_equal(hubdesc_power_name(d.power), "ganged");
}

static void test_qemu_no_switching(void **state)
{
	struct hubdesc d;

	(void)state;
	parse_placed(qemu_hub, sizeof(qemu_hub), &d, HUBDESC_OK);
	assert_int_equal(d.nports, 8);
	assert_int_equal(d.characteristics, 0x000a);
	assert_int_equal(d.power, HUBDESC_POWER_NONE);
	assert_int_equal(d.pwrctrlmask, 0xffff);
	/* 11 (bits 1:0) means no switching as well. */
	{
		uint8_t v[sizeof(qemu_hub)];

		memcpy(v, qemu_hub, sizeof(v));
		v[3] = 0x0b;
		parse_placed(v, sizeof(v), &d, HUBDESC_OK);
		assert_int_equal(d.power, HUBDESC_POWER_NONE);
	}
	parse_placed(qemu_hub_pp, sizeof(qemu_hub_pp), &d, HUBDESC_OK);
	assert_int_equal(d.power, HUBDESC_POWER_PER_PORT);
}

static void test_usb3(void **state)
{
	struct hubdesc d;

	(void)state;
	parse_placed(vl817_usb3, sizeof(vl817_usb3), &d, HUBDESC_OK);
	assert_true(d.superspeed);
	assert_int_equal(d.nports, 4);
	assert_int_equal(d.power, HUBDESC_POWER_PER_PORT);
	assert_int_equal(d.pwron_ms, 100);
	assert_int_equal(d.pwrctrlmask, 0);
}

/* Every strict prefix is "too short", read before the guard page. */
static void test_prefixes(void **state)
{
	static const struct {
		const uint8_t *v;
		size_t n;
	} all[] = {{vl817_usb2, sizeof(vl817_usb2)},
	           {fe11s_ganged, sizeof(fe11s_ganged)},
	           {qemu_hub, sizeof(qemu_hub)},
	           {vl817_usb3, sizeof(vl817_usb3)}};
	struct hubdesc d;
	uint8_t id[16];

	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		for (size_t n = 0; n < all[i].n; n++)
			parse_placed(all[i].v, n, &d, HUBDESC_E_SHORT);
	for (size_t n = 0; n < sizeof(vl817_bos); n++)
		assert_int_equal(
		        hubdesc_bos_container_id(guard_place(&g, vl817_bos, n), n, id, NULL),
		        HUBDESC_E_SHORT);
}

static void test_bad_hub(void **state)
{
	uint8_t v[sizeof(vl817_usb2)];
	struct hubdesc d;

	(void)state;
	memcpy(v, vl817_usb2, sizeof(v));
	v[1] = 0x02; /* a configuration descriptor */
	parse_placed(v, sizeof(v), &d, HUBDESC_E_TYPE);
	memcpy(v, vl817_usb2, sizeof(v));
	v[2] = 0; /* no ports */
	parse_placed(v, sizeof(v), &d, HUBDESC_E_BAD);
	v[2] = 32; /* more than a USB2 hub can have */
	parse_placed(v, sizeof(v), &d, HUBDESC_E_BAD);
	memcpy(v, vl817_usb2, sizeof(v));
	v[0] = 6; /* bLength shorter than the fixed part */
	parse_placed(v, sizeof(v), &d, HUBDESC_E_BAD);
	{
		uint8_t s[sizeof(vl817_usb3)];

		memcpy(s, vl817_usb3, sizeof(s));
		s[0] = 9; /* a USB3 hub descriptor is 12 bytes */
		parse_placed(s, sizeof(s), &d, HUBDESC_E_BAD);
	}
	/* A USB2 descriptor without its bitmaps (some hubs send 7 bytes):
	 * parsed, the masks read as 0. */
	memcpy(v, vl817_usb2, sizeof(v));
	v[0] = 7;
	parse_placed(v, 7, &d, HUBDESC_OK);
	assert_int_equal(d.pwrctrlmask, 0);
	assert_int_equal(d.power, HUBDESC_POWER_PER_PORT);
}

static void test_bos_container_id(void **state)
{
	uint8_t id[16];
	char text[40];
	bool ss;

	(void)state;
	memset(id, 0, sizeof(id));
	assert_int_equal(hubdesc_bos_container_id(guard_place(&g, vl817_bos, sizeof(vl817_bos)),
	                                          sizeof(vl817_bos), id, &ss),
	                 HUBDESC_OK);
	assert_memory_equal(id, vl817_cid, 16);
	assert_true(ss);
	hubdesc_uuid_format(id, text, sizeof(text));
	assert_string_equal(text, "5cf3ee30-d507-4925-b001-802d79434c30");
	assert_int_equal(hubdesc_bos_container_id(guard_place(&g, bos_no_cid, sizeof(bos_no_cid)),
	                                          sizeof(bos_no_cid), id, &ss),
	                 HUBDESC_E_NOTFOUND);
	assert_false(ss);
}

static void test_bos_malformed(void **state)
{
	uint8_t v[sizeof(vl817_bos)], id[16];

	(void)state;
	memcpy(v, vl817_bos, sizeof(v));
	v[1] = 0x29;
	assert_int_equal(hubdesc_bos_container_id(v, sizeof(v), id, NULL), HUBDESC_E_TYPE);
	memcpy(v, vl817_bos, sizeof(v));
	v[5] = 0; /* a zero-length capability would loop forever */
	assert_int_equal(hubdesc_bos_container_id(v, sizeof(v), id, NULL), HUBDESC_E_BAD);
	memcpy(v, vl817_bos, sizeof(v));
	v[22] = 0x15; /* the Container ID runs one byte past wTotalLength */
	assert_int_equal(hubdesc_bos_container_id(v, sizeof(v), id, NULL), HUBDESC_E_BAD);
	memcpy(v, vl817_bos, sizeof(v));
	v[22] = 0x13; /* 19 bytes: too short for a Container ID ... */
	v[2] = 0x29;  /* ... and wTotalLength follows it */
	assert_int_equal(hubdesc_bos_container_id(v, sizeof(v) - 1, id, NULL), HUBDESC_E_BAD);
	memcpy(v, vl817_bos, sizeof(v));
	v[2] = 0x04; /* wTotalLength below the header's own length */
	assert_int_equal(hubdesc_bos_container_id(v, sizeof(v), id, NULL), HUBDESC_E_BAD);
	/* wTotalLength may say less than was read: the rest is ignored, and
	 * here it ends before the Container ID. */
	memcpy(v, vl817_bos, sizeof(v));
	v[2] = 22;
	assert_int_equal(hubdesc_bos_container_id(v, sizeof(v), id, NULL), HUBDESC_E_NOTFOUND);
}

static void test_port_of(void **state)
{
	static const struct {
		const char *loc, *hub;
		unsigned port;
		bool root;
	} ok[] = {
	        {"1-1.2", "1-1", 2, false},     {"3-4", "usb3", 4, true},
	        {"1-1.4.3", "1-1.4", 3, false}, {"2-10.1", "2-10", 1, false},
	        {"12-3.31", "12-3", 31, false}, {"1-1.2.3.4.5", "1-1.2.3.4", 5, false},
	};
	static const char *const bad[] = {
	        "",      "1",   "1-",      "-1",   "0-1",  "1-0",    "1-1.",
	        "1-1.0", "1-a", "1-1:1.0", "01-1", "1-01", "1-1..2", "1-1.2.3.4.5.6.7.8",
	        "1-256", "usb1"};
	char hub[32];
	unsigned port;
	bool root;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(hubdesc_port_of(ok[i].loc, hub, sizeof(hub), &port, &root),
		                 HUBDESC_OK);
		assert_string_equal(hub, ok[i].hub);
		assert_int_equal(port, ok[i].port);
		assert_int_equal(root, ok[i].root);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(hubdesc_port_of(bad[i], hub, sizeof(hub), &port, &root),
		                 HUBDESC_E_BAD);
	assert_int_equal(hubdesc_port_of(NULL, hub, sizeof(hub), &port, &root), HUBDESC_E_BAD);
	assert_int_equal(hubdesc_port_of("1-1.2", hub, 3, &port, &root), HUBDESC_E_SHORT);
	assert_int_equal(hubdesc_port_of("1-1.2", hub, 4, &port, &root), HUBDESC_OK);
}

static void test_port_dir(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(hubdesc_port_dir("1-1", 2, out, sizeof(out)), HUBDESC_OK);
	assert_string_equal(out, "1-1:1.0/1-1-port2");
	assert_int_equal(hubdesc_port_dir("usb3", 4, out, sizeof(out)), HUBDESC_OK);
	assert_string_equal(out, "3-0:1.0/usb3-port4");
	assert_int_equal(hubdesc_port_dir("1-1.4", 12, out, sizeof(out)), HUBDESC_OK);
	assert_string_equal(out, "1-1.4:1.0/1-1.4-port12");
	assert_int_equal(hubdesc_port_dir("1-1", 2, out, 17), HUBDESC_E_SHORT);
	assert_int_equal(hubdesc_port_dir("1-1", 2, out, 18), HUBDESC_OK);
}

static void test_pick_peer(void **state)
{
	static const uint8_t other[16] = {1, 2, 3};
	struct hubdesc_hub h[6];

	(void)state;
	memset(h, 0, sizeof(h));
	/* One VL817: its halves on buses 3 and 4, plus an unrelated hub. */
	h[0] = (struct hubdesc_hub){.name = "3-1", .superspeed = false, .has_cid = true};
	h[1] = (struct hubdesc_hub){.name = "4-1", .superspeed = true, .has_cid = true};
	h[2] = (struct hubdesc_hub){.name = "3-2", .superspeed = false, .has_cid = true};
	memcpy(h[0].cid, vl817_cid, 16);
	memcpy(h[1].cid, vl817_cid, 16);
	memcpy(h[2].cid, other, 16);
	assert_int_equal(hubdesc_pick_peer(h, 3, 0), 1);
	assert_int_equal(hubdesc_pick_peer(h, 3, 1), 0);
	assert_int_equal(hubdesc_pick_peer(h, 3, 2), -1); /* nobody shares its ID */
	/* The same speed never pairs, even with the same ID. */
	h[2].superspeed = false;
	memcpy(h[2].cid, vl817_cid, 16);
	assert_int_equal(hubdesc_pick_peer(h, 3, 0), 1);
	/* A second VL817 (same firmware, same ID) on 3-2/4-2: each half
	 * pairs with the one at the same place, not the first found. */
	h[3] = (struct hubdesc_hub){.name = "4-2", .superspeed = true, .has_cid = true};
	memcpy(h[3].cid, vl817_cid, 16);
	assert_int_equal(hubdesc_pick_peer(h, 4, 0), 1);
	assert_int_equal(hubdesc_pick_peer(h, 4, 2), 3);
	assert_int_equal(hubdesc_pick_peer(h, 4, 3), 2);
	/* Two candidates and neither at the same place: refuse to guess. */
	h[3].name = "4-5.1";
	h[1].name = "4-6";
	assert_int_equal(hubdesc_pick_peer(h, 4, 0), -2);
	/* Without an ID there is no pairing. */
	h[0].has_cid = false;
	assert_int_equal(hubdesc_pick_peer(h, 4, 0), -1);
	/* Root hubs pair with root hubs (the part after the bus is empty). */
	h[4] = (struct hubdesc_hub){.name = "usb1", .superspeed = false, .has_cid = true};
	h[5] = (struct hubdesc_hub){.name = "usb2", .superspeed = true, .has_cid = true};
	memcpy(h[4].cid, other, 16);
	memcpy(h[5].cid, other, 16);
	assert_int_equal(hubdesc_pick_peer(h, 6, 4), 5);
}

static void test_strerror(void **state)
{
	(void)state;
	assert_string_equal(hubdesc_strerror(HUBDESC_OK), "ok");
	assert_string_equal(hubdesc_strerror(HUBDESC_E_NOTFOUND), "not present");
	assert_string_equal(hubdesc_strerror(-99), "unknown error");
	assert_string_equal(hubdesc_power_name(HUBDESC_POWER_NONE), "none");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_usb2_per_port),     cmocka_unit_test(test_usb2_ganged),
	        cmocka_unit_test(test_qemu_no_switching), cmocka_unit_test(test_usb3),
	        cmocka_unit_test(test_prefixes),          cmocka_unit_test(test_bad_hub),
	        cmocka_unit_test(test_bos_container_id),  cmocka_unit_test(test_bos_malformed),
	        cmocka_unit_test(test_port_of),           cmocka_unit_test(test_port_dir),
	        cmocka_unit_test(test_pick_peer),         cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
