/* SPDX-License-Identifier: MIT */
/*
 * test_usbdev_ident.c - identities of the libusb backend: parsing of
 * serial=, VID:PID and port paths (accepted and refused forms), canonical
 * text, matching against a device's facts, busid formatting, which devices
 * may be exported, and the --list order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "usbdev_ident.h"

/* The qemu usb-storage of the lab: SuperSpeed bus 2, port 1. */
static struct usbdev_facts lab_stick(void)
{
	struct usbdev_facts f;

	memset(&f, 0, sizeof(f));
	f.busnum = 2;
	f.devnum = 2;
	f.ports[0] = 1;
	f.nports = 1;
	strcpy(f.busid, "2-1");
	f.vid = 0x46f4;
	f.pid = 0x0001;
	strcpy(f.serial, "LABSER1");
	return f;
}

static void test_parse_accepts(void **state)
{
	static const struct {
		const char *text;
		enum usbdev_ident_kind kind;
		const char *canonical;
	} ok[] = {
	        {"serial=LABSER1", USBDEV_IDENT_SERIAL, "serial=LABSER1"},
	        {"serial=a b:c-d", USBDEV_IDENT_SERIAL, "serial=a b:c-d"}, /* any bytes */
	        {"46f4:0001", USBDEV_IDENT_VIDPID, "46f4:0001"},
	        {"46F4:1", USBDEV_IDENT_VIDPID, "46f4:0001"},
	        {"0:0", USBDEV_IDENT_VIDPID, "0000:0000"},
	        {"ffff:FFFF", USBDEV_IDENT_VIDPID, "ffff:ffff"},
	        {"2-1", USBDEV_IDENT_PORT, "2-1"},
	        {"1-4.2", USBDEV_IDENT_PORT, "1-4.2"},
	        {"01-004.02", USBDEV_IDENT_PORT, "1-4.2"},
	        {"255-1.2.3.4.5.6.7", USBDEV_IDENT_PORT, "255-1.2.3.4.5.6.7"},
	        {"3-255", USBDEV_IDENT_PORT, "3-255"},
	};
	char text[USBDEV_IDENT_TEXT_SIZE];
	struct usbdev_ident id;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(usbdev_ident_parse(ok[i].text, &id, &why), 0);
		assert_null(why);
		assert_int_equal(id.kind, ok[i].kind);
		usbdev_ident_format(&id, text, sizeof(text));
		assert_string_equal(text, ok[i].canonical);
	}
	assert_int_equal(usbdev_ident_parse("1d6b:0a02", &id, &why), 0);
	assert_int_equal(id.vid, 0x1d6b);
	assert_int_equal(id.pid, 0x0a02);
}

static void test_parse_refuses(void **state)
{
	static const char *const bad[] = {
	        "",
	        "serial=",
	        "LABSER1",
	        "46f4",
	        "46f4:",
	        ":0001",
	        "46f4:00011",
	        "146f4:0001",
	        "46g4:0001",
	        "46f4:0001:",
	        "46f4:0001x",
	        "0x46f4:1",
	        "2-",
	        "-1",
	        "2-1.",
	        "2-1..2",
	        "0-1",
	        "256-1",
	        "2-0",
	        "2-256",
	        "2-1:1.0",
	        "usb2",
	        "a-1",
	        "2-1a",
	        "1-1.2.3.4.5.6.7.8", /* 8 levels: USB has 7 tiers below the root */
	        "1000-1",
	        "1-1000",
	};
	struct usbdev_ident id;
	const char *why;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (usbdev_ident_parse(bad[i], &id, &why) != -1)
			fail_msg("'%s' was accepted", bad[i]);
		assert_non_null(why);
	}
}

static void test_parse_serial_length(void **state)
{
	char text[sizeof("serial=") + USBDEV_SERIAL_SIZE + 1];
	struct usbdev_ident id;
	const char *why;

	(void)state;
	strcpy(text, "serial=");
	/* The longest serial that fits, then one byte more. */
	memset(text + 7, 'x', USBDEV_SERIAL_SIZE - 1);
	text[7 + USBDEV_SERIAL_SIZE - 1] = '\0';
	assert_int_equal(usbdev_ident_parse(text, &id, &why), 0);
	assert_int_equal(strlen(id.serial), USBDEV_SERIAL_SIZE - 1);
	text[7 + USBDEV_SERIAL_SIZE - 1] = 'x';
	text[7 + USBDEV_SERIAL_SIZE] = '\0';
	assert_int_equal(usbdev_ident_parse(text, &id, &why), -1);
}

static void test_match(void **state)
{
	struct usbdev_facts f = lab_stick();
	struct usbdev_ident id;
	const char *why;

	(void)state;
	assert_int_equal(usbdev_ident_parse("serial=LABSER1", &id, &why), 0);
	assert_true(usbdev_ident_match(&id, &f));
	/* Serials compare exactly: no case folding, no prefix match. */
	assert_int_equal(usbdev_ident_parse("serial=labser1", &id, &why), 0);
	assert_false(usbdev_ident_match(&id, &f));
	assert_int_equal(usbdev_ident_parse("serial=LABSER", &id, &why), 0);
	assert_false(usbdev_ident_match(&id, &f));

	assert_int_equal(usbdev_ident_parse("46F4:0001", &id, &why), 0);
	assert_true(usbdev_ident_match(&id, &f));
	assert_int_equal(usbdev_ident_parse("46f4:0002", &id, &why), 0);
	assert_false(usbdev_ident_match(&id, &f));

	assert_int_equal(usbdev_ident_parse("2-1", &id, &why), 0);
	assert_true(usbdev_ident_match(&id, &f));
	assert_int_equal(usbdev_ident_parse("02-01", &id, &why), 0);
	assert_true(usbdev_ident_match(&id, &f));
	assert_int_equal(usbdev_ident_parse("2-1.1", &id, &why), 0);
	assert_false(usbdev_ident_match(&id, &f));
	assert_int_equal(usbdev_ident_parse("1-1", &id, &why), 0);
	assert_false(usbdev_ident_match(&id, &f));

	/* The devnum is never part of an identity: re-enumeration keeps it. */
	f.devnum = 7;
	assert_int_equal(usbdev_ident_parse("serial=LABSER1", &id, &why), 0);
	assert_true(usbdev_ident_match(&id, &f));
}

static void test_match_device_without_serial(void **state)
{
	struct usbdev_facts f = lab_stick();
	struct usbdev_ident id;
	const char *why;

	(void)state;
	f.serial[0] = '\0';
	assert_int_equal(usbdev_ident_parse("serial=LABSER1", &id, &why), 0);
	assert_false(usbdev_ident_match(&id, &f));
	/* An identity can never name "no serial". */
	memset(&id, 0, sizeof(id));
	id.kind = USBDEV_IDENT_SERIAL;
	assert_false(usbdev_ident_match(&id, &f));
}

static void test_busid_format(void **state)
{
	static const uint8_t ports[] = {4, 2, 10, 255, 1, 1, 1};
	char buf[USBIP_BUSID_SIZE], tiny[4];

	(void)state;
	assert_int_equal(usbdev_busid_format(buf, sizeof(buf), 2, ports, 1), 0);
	assert_string_equal(buf, "2-4");
	assert_int_equal(usbdev_busid_format(buf, sizeof(buf), 1, ports, 3), 0);
	assert_string_equal(buf, "1-4.2.10");
	assert_int_equal(usbdev_busid_format(buf, sizeof(buf), 255, ports, 7), 0);
	assert_string_equal(buf, "255-4.2.10.255.1.1.1");
	assert_int_equal(usbdev_busid_format(buf, sizeof(buf), 3, ports, 0), 0);
	assert_string_equal(buf, "usb3");
	/* "1-4.2" needs 6 bytes. */
	assert_int_equal(usbdev_busid_format(tiny, sizeof(tiny), 1, ports, 2), -1);
}

static void test_busid_parse(void **state)
{
	uint8_t ports[USBDEV_MAX_PORTS], bus = 0, n = 0;
	const char *why;

	(void)state;
	assert_int_equal(usbdev_busid_parse("3-1.4.2", &bus, ports, &n, &why), 0);
	assert_int_equal(bus, 3);
	assert_int_equal(n, 3);
	assert_int_equal(ports[0], 1);
	assert_int_equal(ports[1], 4);
	assert_int_equal(ports[2], 2);
	/* sysfs also holds interfaces and root hubs: neither is a device. */
	assert_int_equal(usbdev_busid_parse("3-1:1.0", &bus, ports, &n, &why), -1);
	assert_int_equal(usbdev_busid_parse("usb3", &bus, ports, &n, &why), -1);
}

static void test_exportable(void **state)
{
	struct usbdev_facts f = lab_stick();
	const char *why = "unset";

	(void)state;
	assert_true(usbdev_facts_exportable(&f, &why));
	assert_null(why);

	f.dev_class = 0x09;
	assert_false(usbdev_facts_exportable(&f, &why));
	assert_string_equal(why, "hub");

	f = lab_stick();
	f.on_vhci = true;
	assert_false(usbdev_facts_exportable(&f, &why));
	assert_non_null(strstr(why, "vhci"));

	f = lab_stick();
	f.nports = 0;
	assert_false(usbdev_facts_exportable(&f, &why));
	assert_string_equal(why, "root hub");
}

static void test_compare(void **state)
{
	struct usbdev_facts a = lab_stick(), b = lab_stick();

	(void)state;
	assert_int_equal(usbdev_facts_compare(&a, &b), 0);
	/* 1-2 < 1-10: numeric, not text order. */
	a.busnum = b.busnum = 1;
	a.ports[0] = 2;
	b.ports[0] = 10;
	assert_true(usbdev_facts_compare(&a, &b) < 0);
	assert_true(usbdev_facts_compare(&b, &a) > 0);
	/* 1-4 < 1-4.1: a hub before what hangs off it. */
	a.ports[0] = b.ports[0] = 4;
	b.ports[1] = 1;
	b.nports = 2;
	assert_true(usbdev_facts_compare(&a, &b) < 0);
	/* Bus first. */
	a.busnum = 2;
	assert_true(usbdev_facts_compare(&a, &b) > 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_parse_accepts),
	        cmocka_unit_test(test_parse_refuses),
	        cmocka_unit_test(test_parse_serial_length),
	        cmocka_unit_test(test_match),
	        cmocka_unit_test(test_match_device_without_serial),
	        cmocka_unit_test(test_busid_format),
	        cmocka_unit_test(test_busid_parse),
	        cmocka_unit_test(test_exportable),
	        cmocka_unit_test(test_compare),
	};

	return cmocka_run_group_tests_name("usbdev-ident", tests, NULL, NULL);
}
