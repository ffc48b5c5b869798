/* SPDX-License-Identifier: MIT */
/*
 * test_usbdev_desc.c - descriptor parsing of the libusb backend: finding
 * the active configuration in what sysfs `descriptors` holds, the
 * interfaces reported in DEVLIST, and ops->ep_type under the current
 * alternate settings.
 *
 * Vectors: the sysfs `descriptors` of the lab's qemu usb-storage (recorded
 * in the guest, Debian 6.1 kernel, QEMU 7.2), and a two-configuration
 * audio+HID device written byte for byte from USB 2.0 §9.6 and the audio
 * and HID class specifications. Inputs end right before a PROT_NONE page,
 * so a read past the length given crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "usbdev_desc.h"
#include "usbip_server.h"

/* /sys/bus/usb/devices/2-1/descriptors of `-device usb-storage,serial=LABSER1`
 * on qemu-xhci (SuperSpeed). */
static const uint8_t qemu_storage[] = {
        /* device: USB 3.0, class 0, mps 2^9, 46f4:0001, 1 configuration */
        0x12,
        0x01,
        0x00,
        0x03,
        0x00,
        0x00,
        0x00,
        0x09,
        0xf4,
        0x46,
        0x01,
        0x00,
        0x00,
        0x00,
        0x01,
        0x02,
        0x03,
        0x01,
        /* configuration 1: wTotalLength 44, 1 interface, self-powered */
        0x09,
        0x02,
        0x2c,
        0x00,
        0x01,
        0x01,
        0x06,
        0xc0,
        0x00,
        /* interface 0 alt 0: 2 endpoints, mass storage / SCSI / bulk-only */
        0x09,
        0x04,
        0x00,
        0x00,
        0x02,
        0x08,
        0x06,
        0x50,
        0x00,
        /* endpoint 0x81 bulk, 1024 bytes; SuperSpeed companion */
        0x07,
        0x05,
        0x81,
        0x02,
        0x00,
        0x04,
        0x00,
        0x06,
        0x30,
        0x0f,
        0x00,
        0x00,
        0x00,
        /* endpoint 0x02 bulk, 1024 bytes; SuperSpeed companion */
        0x07,
        0x05,
        0x02,
        0x02,
        0x00,
        0x04,
        0x00,
        0x06,
        0x30,
        0x0f,
        0x00,
        0x00,
        0x00,
};

/* A full-speed headset-like device with two configurations. */
static const uint8_t audio_hid[] = {
        /* device: USB 2.0, 1234:5678, 2 configurations */
        0x12,
        0x01,
        0x00,
        0x02,
        0x00,
        0x00,
        0x00,
        0x40,
        0x34,
        0x12,
        0x78,
        0x56,
        0x00,
        0x01,
        0x01,
        0x02,
        0x03,
        0x02,
        /* configuration 1: wTotalLength 93, 3 interfaces */
        0x09,
        0x02,
        0x5d,
        0x00,
        0x03,
        0x01,
        0x00,
        0x80,
        0x32,
        /* interface 0 alt 0: audio control, no endpoints */
        0x09,
        0x04,
        0x00,
        0x00,
        0x00,
        0x01,
        0x01,
        0x00,
        0x00,
        /* class-specific AC header (CS_INTERFACE) */
        0x09,
        0x24,
        0x01,
        0x00,
        0x01,
        0x09,
        0x00,
        0x01,
        0x01,
        /* interface 1 alt 0: audio streaming, zero bandwidth */
        0x09,
        0x04,
        0x01,
        0x00,
        0x00,
        0x01,
        0x02,
        0x00,
        0x00,
        /* interface 1 alt 1: one endpoint, protocol 0x20 (differs from alt 0) */
        0x09,
        0x04,
        0x01,
        0x01,
        0x01,
        0x01,
        0x02,
        0x20,
        0x00,
        /* class-specific AS general */
        0x07,
        0x24,
        0x01,
        0x01,
        0x01,
        0x01,
        0x00,
        /* endpoint 0x01 isochronous adaptive, 192 bytes, audio 9-byte form */
        0x09,
        0x05,
        0x01,
        0x09,
        0xc0,
        0x00,
        0x01,
        0x00,
        0x00,
        /* class-specific endpoint (CS_ENDPOINT) */
        0x07,
        0x25,
        0x01,
        0x00,
        0x00,
        0x00,
        0x00,
        /* interface 2 alt 0: HID boot keyboard, 1 endpoint */
        0x09,
        0x04,
        0x02,
        0x00,
        0x01,
        0x03,
        0x01,
        0x01,
        0x00,
        /* HID descriptor */
        0x09,
        0x21,
        0x11,
        0x01,
        0x00,
        0x01,
        0x22,
        0x3f,
        0x00,
        /* endpoint 0x81 interrupt, 8 bytes, every 10 ms */
        0x07,
        0x05,
        0x81,
        0x03,
        0x08,
        0x00,
        0x0a,
        /* configuration 2: wTotalLength 32, 1 interface */
        0x09,
        0x02,
        0x20,
        0x00,
        0x01,
        0x02,
        0x00,
        0x80,
        0x32,
        /* interface 0 alt 0: vendor, 2 bulk endpoints */
        0x09,
        0x04,
        0x00,
        0x00,
        0x02,
        0xff,
        0x00,
        0x00,
        0x00,
        0x07,
        0x05,
        0x02,
        0x02,
        0x40,
        0x00,
        0x00,
        0x07,
        0x05,
        0x82,
        0x02,
        0x40,
        0x00,
        0x00,
};

#define CFG1_OFF 18
#define CFG1_LEN 93
#define CFG2_OFF (CFG1_OFF + CFG1_LEN)
#define CFG2_LEN 32

_Static_assert(sizeof(audio_hid) == CFG2_OFF + CFG2_LEN, "audio_hid vector length");
_Static_assert(sizeof(qemu_storage) == 18 + 44, "qemu_storage vector length");

/* The inputs are copied to the end of one page followed by a PROT_NONE
 * page (guard.h); the group setup maps it once. */
static int guard_setup(void **state)
{
	static struct guard g;

	if (guard_init(&g, 1) != 0)
		return -1;
	*state = &g;
	return 0;
}

static int guard_teardown(void **state)
{
	guard_free(*state);
	return 0;
}

static const uint8_t *guarded(void **state, const uint8_t *src, size_t len)
{
	return guard_place(*state, src, len);
}

/* The layout of cfg with every interface at alternate setting 0. */
static struct usbdev_layout layout_of(const uint8_t *cfg, size_t len, int expect)
{
	struct usbdev_layout lay;

	memset(&lay, 0, sizeof(lay));
	assert_int_equal(usbdev_desc_layout(cfg, len, &lay), expect);
	return lay;
}

static void test_qemu_storage(void **state)
{
	const uint8_t *blob = guarded(state, qemu_storage, sizeof(qemu_storage));
	const uint8_t *cfg = NULL;
	struct usbdev_layout lay;
	size_t len = 0;

	assert_int_equal(usbdev_desc_find_config(blob, sizeof(qemu_storage), 1, &cfg, &len), 0);
	assert_ptr_equal(cfg, blob + 18);
	assert_int_equal(len, 44);
	lay = layout_of(cfg, len, 0);
	assert_int_equal(lay.config_value, 1);
	assert_int_equal(lay.nif, 1);
	assert_int_equal(lay.ifnum[0], 0);
	assert_int_equal(lay.ifs[0].bInterfaceClass, 0x08);
	assert_int_equal(lay.ifs[0].bInterfaceSubClass, 0x06);
	assert_int_equal(lay.ifs[0].bInterfaceProtocol, 0x50);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x81), USBIP_EP_BULK);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x02), USBIP_EP_BULK);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x00), USBIP_EP_CONTROL);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x80), USBIP_EP_CONTROL);
	/* Direction matters: 0x01 and 0x82 do not exist. */
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x01), -1);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x82), -1);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x8f), -1);
	/* No configuration 2. */
	assert_int_equal(usbdev_desc_find_config(blob, sizeof(qemu_storage), 2, &cfg, &len), -1);
}

static void test_find_config_second(void **state)
{
	const uint8_t *blob = guarded(state, audio_hid, sizeof(audio_hid));
	const uint8_t *cfg;
	size_t len;

	assert_int_equal(usbdev_desc_find_config(blob, sizeof(audio_hid), 1, &cfg, &len), 0);
	assert_ptr_equal(cfg, blob + CFG1_OFF);
	assert_int_equal(len, CFG1_LEN);
	assert_int_equal(usbdev_desc_find_config(blob, sizeof(audio_hid), 2, &cfg, &len), 0);
	assert_ptr_equal(cfg, blob + CFG2_OFF);
	assert_int_equal(len, CFG2_LEN);
	assert_int_equal(usbdev_desc_find_config(blob, sizeof(audio_hid), 3, &cfg, &len), -1);
	assert_int_equal(usbdev_desc_find_config(blob, sizeof(audio_hid), 0, &cfg, &len), -1);
}

static void test_alternate_settings(void **state)
{
	const uint8_t *cfg = guarded(state, audio_hid + CFG1_OFF, CFG1_LEN);
	struct usbdev_layout lay = layout_of(cfg, CFG1_LEN, 0);

	assert_int_equal(lay.config_value, 1);
	assert_int_equal(lay.nif, 3);
	assert_int_equal(lay.ifnum[0], 0);
	assert_int_equal(lay.ifnum[1], 1);
	assert_int_equal(lay.ifnum[2], 2);
	assert_int_equal(lay.ifs[0].bInterfaceSubClass, 0x01);
	assert_int_equal(lay.ifs[1].bInterfaceSubClass, 0x02);
	assert_int_equal(lay.ifs[1].bInterfaceProtocol, 0x00);
	assert_int_equal(lay.ifs[2].bInterfaceClass, 0x03);
	assert_int_equal(lay.ifs[2].bInterfaceProtocol, 0x01);
	/* Alternate 0 of interface 1 has no endpoint: 0x01 does not exist. */
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x01), -1);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x81), USBIP_EP_INT);

	/* SET_INTERFACE(1, 1): the ISO endpoint appears, the class triple
	 * follows the current setting, the other interfaces are untouched. */
	lay.alt[1] = 1;
	assert_int_equal(usbdev_desc_layout(cfg, CFG1_LEN, &lay), 0);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x01), USBIP_EP_ISO);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x81), USBIP_EP_INT);
	assert_int_equal(lay.ifs[1].bInterfaceProtocol, 0x20);
	assert_int_equal(lay.nif, 3);

	/* Back to 0: gone again. */
	lay.alt[1] = 0;
	assert_int_equal(usbdev_desc_layout(cfg, CFG1_LEN, &lay), 0);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x01), -1);

	/* An alternate the interface lacks: no endpoints, alt 0's classes. */
	lay.alt[1] = 5;
	assert_int_equal(usbdev_desc_layout(cfg, CFG1_LEN, &lay), 0);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x01), -1);
	assert_int_equal(lay.ifs[1].bInterfaceProtocol, 0x00);

	assert_true(usbdev_desc_has_alt(cfg, CFG1_LEN, 1, 1));
	assert_true(usbdev_desc_has_alt(cfg, CFG1_LEN, 2, 0));
	assert_false(usbdev_desc_has_alt(cfg, CFG1_LEN, 1, 2));
	assert_false(usbdev_desc_has_alt(cfg, CFG1_LEN, 3, 0));
}

static void test_second_configuration(void **state)
{
	const uint8_t *cfg = guarded(state, audio_hid + CFG2_OFF, CFG2_LEN);
	struct usbdev_layout lay = layout_of(cfg, CFG2_LEN, 0);

	assert_int_equal(lay.config_value, 2);
	assert_int_equal(lay.nif, 1);
	assert_int_equal(lay.ifs[0].bInterfaceClass, 0xff);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x02), USBIP_EP_BULK);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x82), USBIP_EP_BULK);
	/* Configuration 1's endpoints are not there. */
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x81), -1);
}

static void test_unconfigured(void **state)
{
	struct usbdev_layout lay;

	(void)state;
	memset(&lay, 0xaa, sizeof(lay));
	memset(lay.alt, 0, sizeof(lay.alt));
	assert_int_equal(usbdev_desc_layout(NULL, 0, &lay), 0);
	assert_int_equal(lay.config_value, 0);
	assert_int_equal(lay.nif, 0);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x00), USBIP_EP_CONTROL);
	for (unsigned ep = 1; ep < 16; ep++) {
		assert_int_equal(usbdev_layout_ep_type(&lay, (uint8_t)ep), -1);
		assert_int_equal(usbdev_layout_ep_type(&lay, (uint8_t)(ep | 0x80)), -1);
	}
}

static void test_malformed(void **state)
{
	uint8_t bad[CFG1_LEN];
	const uint8_t *cfg;
	struct usbdev_layout lay;
	size_t len;

	/* bLength 0 in the middle (the HID descriptor). */
	memcpy(bad, audio_hid + CFG1_OFF, CFG1_LEN);
	bad[9 + 9 + 9 + 9 + 9 + 7 + 9 + 7 + 9] = 0;
	cfg = guarded(state, bad, CFG1_LEN);
	lay = layout_of(cfg, CFG1_LEN, -1);
	/* What came before the fault is kept. */
	assert_int_equal(lay.nif, 3);
	assert_int_equal(usbdev_layout_ep_type(&lay, 0x81), -1);

	/* The last endpoint claims more bytes than there are. */
	memcpy(bad, audio_hid + CFG1_OFF, CFG1_LEN);
	bad[CFG1_LEN - 7] = 8;
	cfg = guarded(state, bad, CFG1_LEN);
	layout_of(cfg, CFG1_LEN, -1);

	/* Not a configuration descriptor at all. */
	cfg = guarded(state, audio_hid, 18);
	layout_of(cfg, 18, -1);

	/* A device descriptor of the wrong type, or too short. */
	memcpy(bad, audio_hid, 18);
	bad[1] = 2;
	cfg = guarded(state, bad, 18);
	assert_int_equal(usbdev_desc_find_config(cfg, 18, 1, &cfg, &len), -1);
	cfg = guarded(state, audio_hid, 17);
	assert_int_equal(usbdev_desc_find_config(cfg, 17, 1, &cfg, &len), -1);
}

/* Every strict prefix of the blob: find_config never reads past it, and
 * a configuration cut short is reported with the bytes that are there. */
static void test_prefixes(void **state)
{
	for (size_t n = 0; n < sizeof(audio_hid); n++) {
		const uint8_t *blob = guarded(state, audio_hid, n);
		const uint8_t *cfg = NULL;
		size_t len = 0;
		struct usbdev_layout lay;
		int r1 = usbdev_desc_find_config(blob, n, 1, &cfg, &len);

		if (n < CFG1_OFF + 9) {
			assert_int_equal(r1, -1);
		} else {
			assert_int_equal(r1, 0);
			assert_int_equal(len, n - CFG1_OFF < CFG1_LEN ? n - CFG1_OFF : CFG1_LEN);
			memset(&lay, 0, sizeof(lay));
			usbdev_desc_layout(cfg, len, &lay);
			usbdev_desc_has_alt(cfg, len, 1, 1);
		}
		/* Configuration 2 is found only once its header is whole. */
		assert_int_equal(usbdev_desc_find_config(blob, n, 2, &cfg, &len),
		                 n >= CFG2_OFF + 9 ? 0 : -1);
	}
}

static void test_too_many_interfaces(void **state)
{
	uint8_t cfg[9 + 9 * (USBIP_MAX_INTERFACES + 1)];
	struct usbdev_layout lay;
	size_t off = 9;

	(void)state;
	memcpy(cfg,
	       (const uint8_t[]){0x09, 0x02, sizeof(cfg) & 0xff, sizeof(cfg) >> 8,
	                         USBIP_MAX_INTERFACES + 1, 0x01, 0x00, 0x80, 0x32},
	       9);
	for (unsigned i = 0; i <= USBIP_MAX_INTERFACES; i++, off += 9)
		memcpy(cfg + off,
		       (const uint8_t[]){0x09, 0x04, (uint8_t)i, 0x00, 0x00, 0xff, 0x00, 0x00,
		                         0x00},
		       9);
	lay = layout_of(cfg, sizeof(cfg), -1);
	assert_int_equal(lay.nif, USBIP_MAX_INTERFACES);
	/* Exactly the maximum is fine. */
	cfg[2] = (uint8_t)(sizeof(cfg) - 9);
	lay = layout_of(cfg, sizeof(cfg) - 9, 0);
	assert_int_equal(lay.nif, USBIP_MAX_INTERFACES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_qemu_storage),
	        cmocka_unit_test(test_find_config_second),
	        cmocka_unit_test(test_alternate_settings),
	        cmocka_unit_test(test_second_configuration),
	        cmocka_unit_test(test_unconfigured),
	        cmocka_unit_test(test_malformed),
	        cmocka_unit_test(test_prefixes),
	        cmocka_unit_test(test_too_many_interfaces),
	};

	return cmocka_run_group_tests_name("usbdev-desc", tests, guard_setup, guard_teardown);
}
