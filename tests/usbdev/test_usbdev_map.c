/* SPDX-License-Identifier: MIT */
/*
 * test_usbdev_map.c - the libusb backend's translations: libusb transfer
 * status to the wire status (usbip-protocol.md §4.4, and -ENODEV for
 * everything once the device is known gone), libusb errors to wire errno,
 * USB/IP transfer_flags to libusb flags (§3.6), endpoint types to libusb
 * transfer types. The expected values are Linux's errno numbers, written
 * out, not taken from the header under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "usbdev_map.h"
#include "usbip_server.h"

static void test_status_present(void **state)
{
	static const struct {
		enum libusb_transfer_status st;
		int32_t wire;
	} map[] = {
	        {LIBUSB_TRANSFER_COMPLETED, 0},    {LIBUSB_TRANSFER_STALL, -32},
	        {LIBUSB_TRANSFER_TIMED_OUT, -110}, {LIBUSB_TRANSFER_CANCELLED, -104},
	        {LIBUSB_TRANSFER_NO_DEVICE, -19},  {LIBUSB_TRANSFER_OVERFLOW, -75},
	        {LIBUSB_TRANSFER_ERROR, -71},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		assert_int_equal(usbdev_map_status(map[i].st, false, false), map[i].wire);
	/* A status libusb may add later is an error, never 0 or positive. */
	assert_int_equal(usbdev_map_status((enum libusb_transfer_status)99, false, false), -71);
}

static void test_status_gone(void **state)
{
	(void)state;
	/* Once the device is known gone, whatever libusb says about the
	 * failure, the client sees -ENODEV. */
	assert_int_equal(usbdev_map_status(LIBUSB_TRANSFER_NO_DEVICE, true, false), -19);
	assert_int_equal(usbdev_map_status(LIBUSB_TRANSFER_ERROR, true, false), -19);
	assert_int_equal(usbdev_map_status(LIBUSB_TRANSFER_CANCELLED, true, false), -19);
	assert_int_equal(usbdev_map_status(LIBUSB_TRANSFER_ERROR, true, true), -19);
	/* A transfer that made it before the unplug keeps its result. */
	assert_int_equal(usbdev_map_status(LIBUSB_TRANSFER_COMPLETED, true, false), 0);
	assert_int_equal(usbdev_map_status(LIBUSB_TRANSFER_STALL, true, false), -32);
}

static void test_status_short_not_ok(void **state)
{
	(void)state;
	/* libusb reports a short IN with SHORT_NOT_OK as ERROR. */
	assert_int_equal(usbdev_map_status(LIBUSB_TRANSFER_ERROR, false, true), -121);
	/* Only ERROR is reinterpreted. */
	assert_int_equal(usbdev_map_status(LIBUSB_TRANSFER_COMPLETED, false, true), 0);
	assert_int_equal(usbdev_map_status(LIBUSB_TRANSFER_STALL, false, true), -32);
}

static void test_errors(void **state)
{
	static const struct {
		int err;
		int32_t wire;
	} map[] = {
	        {LIBUSB_SUCCESS, 0},
	        {LIBUSB_ERROR_NO_DEVICE, -19},
	        {LIBUSB_ERROR_PIPE, -32},
	        {LIBUSB_ERROR_TIMEOUT, -110},
	        {LIBUSB_ERROR_OVERFLOW, -75},
	        {LIBUSB_ERROR_NO_MEM, -12},
	        {LIBUSB_ERROR_INVALID_PARAM, -22},
	        {LIBUSB_ERROR_NOT_FOUND, -22},
	        {LIBUSB_ERROR_NOT_SUPPORTED, -22},
	        {LIBUSB_ERROR_IO, -71},
	        {LIBUSB_ERROR_BUSY, -71},
	        {LIBUSB_ERROR_ACCESS, -71},
	        {LIBUSB_ERROR_OTHER, -71},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		assert_int_equal(usbdev_map_error(map[i].err), map[i].wire);
}

static void test_flags(void **state)
{
	const uint32_t all = 0xffffffffu;
	const uint32_t linux_in = 0x0200u | 0x40000u; /* DIR_IN | DMA_MAP_SG */

	(void)state;
	/* ZERO_PACKET: bulk OUT only. */
	assert_int_equal(usbdev_map_flags(0x0040, USBIP_EP_BULK, false),
	                 LIBUSB_TRANSFER_ADD_ZERO_PACKET);
	assert_int_equal(usbdev_map_flags(0x0040, USBIP_EP_BULK, true), 0);
	assert_int_equal(usbdev_map_flags(0x0040, USBIP_EP_INT, false), 0);
	assert_int_equal(usbdev_map_flags(0x0040, USBIP_EP_CONTROL, false), 0);
	/* SHORT_NOT_OK: non-ISO IN only. */
	assert_int_equal(usbdev_map_flags(0x0001, USBIP_EP_BULK, true),
	                 LIBUSB_TRANSFER_SHORT_NOT_OK);
	assert_int_equal(usbdev_map_flags(0x0001, USBIP_EP_INT, true),
	                 LIBUSB_TRANSFER_SHORT_NOT_OK);
	assert_int_equal(usbdev_map_flags(0x0001, USBIP_EP_CONTROL, true),
	                 LIBUSB_TRANSFER_SHORT_NOT_OK);
	assert_int_equal(usbdev_map_flags(0x0001, USBIP_EP_ISO, true), 0);
	assert_int_equal(usbdev_map_flags(0x0001, USBIP_EP_BULK, false), 0);
	/* Every other bit is dropped, never refused (§3.6). */
	assert_int_equal(usbdev_map_flags(linux_in, USBIP_EP_BULK, true), 0);
	assert_int_equal(usbdev_map_flags(all, USBIP_EP_BULK, false),
	                 LIBUSB_TRANSFER_ADD_ZERO_PACKET);
	assert_int_equal(usbdev_map_flags(all, USBIP_EP_BULK, true), LIBUSB_TRANSFER_SHORT_NOT_OK);
	assert_int_equal(usbdev_map_flags(all, USBIP_EP_ISO, true), 0);
	assert_int_equal(usbdev_map_flags(all & ~0x41u, USBIP_EP_BULK, false), 0);
}

static void test_types(void **state)
{
	(void)state;
	assert_int_equal(usbdev_map_type(USBIP_EP_CONTROL), LIBUSB_TRANSFER_TYPE_CONTROL);
	assert_int_equal(usbdev_map_type(USBIP_EP_ISO), LIBUSB_TRANSFER_TYPE_ISOCHRONOUS);
	assert_int_equal(usbdev_map_type(USBIP_EP_BULK), LIBUSB_TRANSFER_TYPE_BULK);
	assert_int_equal(usbdev_map_type(USBIP_EP_INT), LIBUSB_TRANSFER_TYPE_INTERRUPT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_status_present),
	        cmocka_unit_test(test_status_gone),
	        cmocka_unit_test(test_status_short_not_ok),
	        cmocka_unit_test(test_errors),
	        cmocka_unit_test(test_flags),
	        cmocka_unit_test(test_types),
	};

	return cmocka_run_group_tests_name("usbdev-map", tests, NULL, NULL);
}
