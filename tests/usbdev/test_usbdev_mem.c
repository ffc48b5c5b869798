/* SPDX-License-Identifier: MIT */
/*
 * test_usbdev_mem.c - the cache of usbfs-mapped URB memory (usbdev_mem.c)
 * against the traffic that defeated it in the lab: one 1 MiB O_DIRECT read
 * of a usb-storage disk through vhci arrives as four READ(10)s of 476 KiB,
 * 28 KiB, 256 KiB and 264 KiB (the block layer cuts requests where the
 * scatter list runs out of segments), each framed by a 31-byte CBW and a
 * 13-byte CSW, after enumeration and a partition scan left buffers of other
 * sizes behind. Every miss is an mmap() of usbfs that allocates and zeroes
 * contiguous DMA memory (about a quarter of the guest's CPU time when it
 * happened for every READ).
 *
 * libusb_dev_mem_alloc and libusb_dev_mem_free are replaced here by ones
 * that count mappings and check that every buffer comes back once, with
 * the size it was mapped with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "usbdev_int.h"

#define MAX_MAPS 4096

static struct {
	unsigned char *buf;
	size_t size;
} maps[MAX_MAPS];
static unsigned nmaps, nlive, nunmaps;

unsigned char *LIBUSB_CALL libusb_dev_mem_alloc(libusb_device_handle *h, size_t length)
{
	assert_non_null(h);
	assert_true(nmaps < MAX_MAPS);
	assert_int_equal(length % 4096, 0);
	maps[nmaps].buf = malloc(length);
	maps[nmaps].size = length;
	nlive++;
	return maps[nmaps++].buf;
}

int LIBUSB_CALL libusb_dev_mem_free(libusb_device_handle *h, unsigned char *buf, size_t length)
{
	assert_non_null(h);
	for (unsigned i = 0; i < nmaps; i++) {
		if (maps[i].buf == buf) {
			assert_int_equal(maps[i].size, length);
			free(buf);
			maps[i].buf = NULL;
			nlive--;
			nunmaps++;
			return 0;
		}
	}
	fail_msg("unmapping %p, which was never mapped (or twice)", (void *)buf);
	return LIBUSB_ERROR_INVALID_PARAM;
}

/* usbdev.c's: reached only for a device closed with buffers out. */
void usbdev_dev_schedule_reap(struct usbdev_dev *dev)
{
	(void)dev;
	fail_msg("a reap was scheduled for a device that is not closed");
}

static struct usbdev_dev dev;
static struct usbip_export exp;

static int setup(void **state)
{
	(void)state;
	memset(&dev, 0, sizeof(dev));
	memset(&exp, 0, sizeof(exp));
	dev.handle = (libusb_device_handle *)&dev; /* never dereferenced */
	exp.priv = &dev;
	nmaps = nlive = nunmaps = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	usbdev_mem_drop(&dev);
	assert_int_equal(dev.nmem, 0);
	assert_int_equal(dev.mem_cached, 0);
	assert_int_equal(nlive, 0);
	return 0;
}

/* One URB's life: mapped (or taken from the cache), filled, given back. */
static void urb(uint8_t type, size_t length)
{
	uint8_t *p = usbdev_mem_alloc(&exp, type, length);

	assert_non_null(p);
	p[0] = 0xa5;
	p[length - 1] = 0x5a;
	usbdev_mem_free(&exp, p, type, length);
}

static const size_t read10[] = {487424, 28672, 262144, 270336};

/* What a device's first minute leaves behind: descriptors, the partition
 * scan's reads of assorted sizes, more than the cache holds. */
static void warm_up(void)
{
	static const size_t ctrl[] = {18, 9, 32, 255, 4, 2};
	static const size_t scan[] = {4096,   8192,   12288,  32768,  61440,  131072,
	                              196608, 393216, 520192, 708608, 1048576};

	for (size_t i = 0; i < sizeof(ctrl) / sizeof(ctrl[0]); i++)
		urb(USBIP_EP_CONTROL, ctrl[i]);
	for (size_t i = 0; i < sizeof(scan) / sizeof(scan[0]); i++)
		urb(USBIP_EP_BULK, scan[i]);
}

static void test_sequential_read_maps_once(void **state)
{
	unsigned before;

	(void)state;
	warm_up();
	before = nmaps;
	for (int r = 0; r < 250; r++) {
		for (size_t i = 0; i < sizeof(read10) / sizeof(read10[0]); i++) {
			urb(USBIP_EP_BULK, 31);
			urb(USBIP_EP_BULK, read10[i]);
			urb(USBIP_EP_BULK, 13);
		}
	}
	/* 3000 URBs; at most one mapping per size class they need. */
	assert_in_range(nmaps - before, 0, 4);
	assert_true(dev.mem_cached <= USBDEV_MEM_CACHE_BYTES);
	assert_true(dev.nmem <= USBDEV_MEM_CACHE);
}

/* The cache never holds more than its bound, whatever the sizes. */
static void test_bounded(void **state)
{
	(void)state;
	for (size_t len = 1; len <= USBDEV_MEM_MAX; len = len * 3 + 7) {
		urb(USBIP_EP_BULK, len);
		assert_true(dev.mem_cached <= USBDEV_MEM_CACHE_BYTES);
	}
	for (int i = 0; i < 200; i++) {
		urb(USBIP_EP_INT, 8);
		urb(USBIP_EP_CONTROL, 64);
	}
	assert_true(dev.mem_cached <= USBDEV_MEM_CACHE_BYTES);
	assert_true(dev.nmem <= USBDEV_MEM_CACHE);
}

/* Many buffers out at once (depth 32), then all back: the cache keeps at
 * most USBDEV_MEM_CACHE of them and unmaps the rest; nothing leaks. */
static void test_many_outstanding(void **state)
{
	enum { N = USBDEV_MEM_CACHE + 16 };
	uint8_t *p[N];

	(void)state;
	for (int i = 0; i < N; i++)
		p[i] = usbdev_mem_alloc(&exp, USBIP_EP_CONTROL, 18);
	assert_int_equal(dev.mem_out, N);
	for (int i = 0; i < N; i++) {
		assert_non_null(p[i]);
		usbdev_mem_free(&exp, p[i], USBIP_EP_CONTROL, 18);
	}
	assert_int_equal(dev.mem_out, 0);
	assert_int_equal(dev.nmem, USBDEV_MEM_CACHE);
	assert_int_equal(nlive, USBDEV_MEM_CACHE);
}

/* Above USBDEV_MEM_MAX the core's own memory is used: no mapping. */
static void test_too_large(void **state)
{
	(void)state;
	assert_null(usbdev_mem_alloc(&exp, USBIP_EP_BULK, USBDEV_MEM_MAX + 1));
	assert_int_equal(nmaps, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_sequential_read_maps_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_many_outstanding, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_too_large, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
