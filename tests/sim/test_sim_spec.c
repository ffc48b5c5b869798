/* SPDX-License-Identifier: MIT */
/*
 * test_sim_spec.c - sim_create(): the spec syntax, its errors and the
 * export record it fills.
 */
#include "sim_harness.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* sim_create must fail, leave *out NULL and explain with `want` in err. */
static void expect_error(const char *spec, unsigned index, const char *want)
{
	struct usbip_export *exp = (struct usbip_export *)1;
	char err[512] = "";

	assert_int_equal(sim_create(spec, index, &exp, err, sizeof(err)), -1);
	assert_null(exp);
	if (strstr(err, want) == NULL)
		fail_msg("spec '%s': error '%s' lacks '%s'", spec, err, want);
	assert_null(strchr(err, '\n'));
}

static void test_bad_kind(void **state)
{
	(void)state;
	expect_error("floppy", 1, "unknown device kind 'floppy'");
	expect_error("floppy:x", 1, "unknown device kind 'floppy'");
	expect_error("", 1, "unknown device kind ''");
	expect_error("cdcx", 1, "unknown device kind 'cdcx'");
}

static void test_bad_index(void **state)
{
	(void)state;
	expect_error("cdc", 0, "index 0");
	expect_error("cdc", 256, "index 256");
}

static void test_msc_missing_file(void **state)
{
	(void)state;
	expect_error("msc:/nonexistent/usblab.img", 1,
	             "cannot open /nonexistent/usblab.img: No such file or directory");
	expect_error("msc:", 1, "missing FILE");
}

static void test_msc_odd_size(void **state)
{
	static uint8_t junk[1000];

	(void)state;
	char spec[128];
	const char *path = simh_tmpfile(junk, sizeof(junk));

	snprintf(spec, sizeof(spec), "msc:%s", path);
	expect_error(spec, 1, "is 1000 bytes: the size must be a non-zero multiple of 512");
	unlink(path);

	path = simh_tmpfile(junk, 0);
	snprintf(spec, sizeof(spec), "msc:%s", path);
	expect_error(spec, 1, "is 0 bytes");
	unlink(path);
}

static void test_msc_ram_sizes(void **state)
{
	(void)state;
	expect_error("msc:ram:1000", 1, "RAM disk size 1000 must be");
	expect_error("msc:ram:0", 1, "RAM disk size 0 must be");
	expect_error("msc:ram:12Q", 1, "bad RAM disk size '12Q'");
	expect_error("msc:ram:", 1, "bad RAM disk size ''");
	expect_error("msc:ram:2G", 1, "at most 1G");

	struct usbip_export *exp = simh_create("msc:ram:64K", 1);

	simh_destroy(exp);
	exp = simh_create("msc:ram", 2);
	simh_destroy(exp);
}

static void test_cdc_script_errors(void **state)
{
	static const char bad_line[] = "# a comment\n\nAT => OK\\r\\n\nno arrow here\n";
	static const char bad_escape[] = "AT => OK\r\nATI => \\q\n";
	char spec[128], want[128];

	(void)state;
	expect_error("cdc:/nonexistent/script.txt", 1,
	             "cannot open script /nonexistent/script.txt");
	expect_error("cdc:", 1, "missing script FILE");

	const char *path = simh_tmpfile(bad_line, strlen(bad_line));

	snprintf(spec, sizeof(spec), "cdc:%s", path);
	snprintf(want, sizeof(want), "%s:4: expected 'WHEN => SAY'", path);
	expect_error(spec, 1, want);
	unlink(path);

	path = simh_tmpfile(bad_escape, strlen(bad_escape));
	snprintf(spec, sizeof(spec), "cdc:%s", path);
	snprintf(want, sizeof(want), "%s:2: bad escape '\\q'", path);
	expect_error(spec, 1, want);
	unlink(path);
}

static void test_hid_text_errors(void **state)
{
	(void)state;
	expect_error("hid:caf\xc3\xa9", 1, "character 0xc3 at offset 3 has no key");
	expect_error("hid:a\\qb", 1, "bad escape '\\q' in text");
	expect_error("hid:ab\\", 1, "bad escape");
}

/* The record DEVLIST and IMPORT report (§2.3). */
static void test_export_record(void **state)
{
	static const struct {
		const char *spec;
		uint16_t pid;
		uint8_t dev_class;
		uint8_t nif;
		uint8_t ifs[2][3];
	} cases[] = {
	        {"cdc", 0x0001, 0x02, 2, {{0x02, 0x02, 0x01}, {0x0a, 0x00, 0x00}}},
	        {"hid", 0x0002, 0x00, 1, {{0x03, 0x01, 0x01}}},
	        {"msc", 0x0003, 0x00, 1, {{0x08, 0x06, 0x50}}},
	};

	(void)state;
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct usbip_export *exp = simh_create(cases[i].spec, 7 + i);
		const struct usbip_usb_device *d = &exp->info;
		char busid[16], path[64];

		snprintf(busid, sizeof(busid), "0-%u", 7 + i);
		snprintf(path, sizeof(path), "/sys/devices/usblab/sim/0-%u", 7 + i);
		assert_string_equal(d->busid, busid);
		assert_string_equal(d->path, path);
		assert_int_equal(d->busnum, 0);
		assert_int_equal(d->devnum, 7 + i);
		assert_int_equal(d->speed, USBIP_SPEED_HIGH);
		assert_int_equal(d->idVendor, 0x1209);
		assert_int_equal(d->idProduct, cases[i].pid);
		assert_int_equal(d->bcdDevice, 0x0100);
		assert_int_equal(d->bDeviceClass, cases[i].dev_class);
		assert_int_equal(d->bConfigurationValue, 1);
		assert_int_equal(d->bNumConfigurations, 1);
		assert_int_equal(d->bNumInterfaces, cases[i].nif);
		for (unsigned k = 0; k < cases[i].nif; k++) {
			assert_int_equal(exp->ifs[k].bInterfaceClass, cases[i].ifs[k][0]);
			assert_int_equal(exp->ifs[k].bInterfaceSubClass, cases[i].ifs[k][1]);
			assert_int_equal(exp->ifs[k].bInterfaceProtocol, cases[i].ifs[k][2]);
		}
		assert_string_equal(exp->ops->name, "sim");
		assert_non_null(exp->ops->submit);
		assert_non_null(exp->ops->ep_type);
		assert_non_null(exp->ops->cancel);
		simh_destroy(exp);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_bad_kind),         cmocka_unit_test(test_bad_index),
	        cmocka_unit_test(test_msc_missing_file), cmocka_unit_test(test_msc_odd_size),
	        cmocka_unit_test(test_msc_ram_sizes),    cmocka_unit_test(test_cdc_script_errors),
	        cmocka_unit_test(test_hid_text_errors),  cmocka_unit_test(test_export_record),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
