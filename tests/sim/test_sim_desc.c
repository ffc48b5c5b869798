/* SPDX-License-Identifier: MIT */
/*
 * test_sim_desc.c - descriptors and standard requests of every sim device,
 * read over ep0 the way Linux enumerates (USB 2.0 chapter 9).
 */
#include "sim_harness.h"

#include <stdio.h>
#include <string.h>

#define GET_DESCRIPTOR 6

static const char *const kinds[] = {"cdc", "hid", "msc"};
static const uint16_t pids[] = {0x0001, 0x0002, 0x0003};
static const char *const tags[] = {"CDC", "HID", "MSC"};

static uint16_t le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static int get_desc(struct usbip_export *exp, uint8_t type, uint8_t index, uint16_t len,
                    uint8_t *buf, int32_t *actual)
{
	return simh_control(exp, 0x80, GET_DESCRIPTOR, (uint16_t)(type << 8 | index),
	                    type == 3 ? 0x0409 : 0, len, buf, actual);
}

/* The ASCII text of a string descriptor, checked for well-formedness. */
static void get_string(struct usbip_export *exp, uint8_t index, char *out, size_t cap)
{
	uint8_t buf[255];
	int32_t n;

	assert_int_equal(get_desc(exp, 3, index, 255, buf, &n), 0);
	assert_true(n >= 2);
	assert_int_equal(buf[0], n);
	assert_int_equal(buf[1], 3);
	assert_int_equal(n % 2, 0);
	size_t chars = (size_t)(n - 2) / 2;

	assert_true(chars < cap);
	for (size_t i = 0; i < chars; i++) {
		assert_int_equal(buf[3 + 2 * i], 0);
		out[i] = (char)buf[2 + 2 * i];
	}
	out[chars] = '\0';
}

static void test_device_descriptor(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		struct usbip_export *exp = simh_create(kinds[k], 1);
		uint8_t d[64];
		int32_t n;

		/* Linux first reads 64 bytes at address 0, then exactly 18. */
		assert_int_equal(get_desc(exp, 1, 0, 64, d, &n), 0);
		assert_int_equal(n, 18);
		memset(d, 0xee, sizeof(d));
		assert_int_equal(get_desc(exp, 1, 0, 8, d, &n), 0);
		assert_int_equal(n, 8);
		assert_int_equal(d[8], 0xee);
		assert_int_equal(get_desc(exp, 1, 0, 18, d, &n), 0);
		assert_int_equal(n, 18);
		assert_int_equal(d[0], 18);
		assert_int_equal(d[1], 1);
		assert_int_equal(le16(d + 2), 0x0200);
		assert_int_equal(d[4], exp->info.bDeviceClass);
		assert_int_equal(d[7], 64);
		assert_int_equal(le16(d + 8), 0x1209);
		assert_int_equal(le16(d + 10), pids[k]);
		assert_int_equal(le16(d + 12), exp->info.bcdDevice);
		assert_int_equal(d[14], 1);
		assert_int_equal(d[15], 2);
		assert_int_equal(d[16], 3);
		assert_int_equal(d[17], 1);

		/* Device qualifier (Linux asks for it of high-speed devices). */
		uint8_t q[10];

		assert_int_equal(get_desc(exp, 6, 0, 10, q, &n), 0);
		assert_int_equal(n, 10);
		assert_int_equal(q[0], 10);
		assert_int_equal(q[1], 6);
		assert_int_equal(le16(q + 2), 0x0200);
		assert_memory_equal(q + 4, d + 4, 4);
		assert_int_equal(q[8], 1);
		simh_destroy(exp);
	}
}

/* Walks a configuration descriptor: every length adds up, interfaces and
 * endpoints are counted as announced, and ep_type agrees with each
 * endpoint. Returns the number of endpoints. */
static unsigned walk_config(struct usbip_export *exp, const uint8_t *c, int32_t len, uint8_t type,
                            uint16_t bulk_mps)
{
	unsigned nif = 0, neps = 0, eps_left = 0;
	int32_t off = 0;

	assert_int_equal(c[0], 9);
	assert_int_equal(c[1], type);
	assert_int_equal(le16(c + 2), len);
	assert_int_equal(c[5], 1); /* bConfigurationValue */
	while (off < len) {
		const uint8_t *d = c + off;

		assert_true(d[0] >= 2);
		assert_true(off + d[0] <= len);
		if (d[1] == 4) {
			assert_int_equal(d[0], 9);
			assert_int_equal(eps_left, 0);
			assert_int_equal(d[2], nif); /* interfaces numbered 0.. */
			assert_int_equal(d[5], exp->ifs[nif].bInterfaceClass);
			assert_int_equal(d[6], exp->ifs[nif].bInterfaceSubClass);
			assert_int_equal(d[7], exp->ifs[nif].bInterfaceProtocol);
			eps_left = d[4];
			nif++;
		} else if (d[1] == 5) {
			assert_int_equal(d[0], 7);
			assert_true(eps_left > 0);
			eps_left--;
			neps++;
			assert_int_equal(exp->ops->ep_type(exp, d[2]), d[3] & 3);
			if ((d[3] & 3) == USBIP_EP_BULK)
				assert_int_equal(le16(d + 4), bulk_mps);
			if ((d[3] & 3) == USBIP_EP_INT)
				assert_true(d[6] >= 1);
		}
		off += d[0];
	}
	assert_int_equal(off, len);
	assert_int_equal(eps_left, 0);
	assert_int_equal(nif, c[4]);
	assert_int_equal(nif, exp->info.bNumInterfaces);
	return neps;
}

static void test_config_descriptor(void **state)
{
	static const unsigned want_eps[] = {3, 1, 2};

	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		struct usbip_export *exp = simh_create(kinds[k], 1);
		uint8_t c[512];
		int32_t n;

		assert_int_equal(get_desc(exp, 2, 0, 9, c, &n), 0);
		assert_int_equal(n, 9);
		uint16_t total = le16(c + 2);

		assert_true(total > 9 && total < 512);
		assert_int_equal(get_desc(exp, 2, 0, 512, c, &n), 0);
		assert_int_equal(n, total);
		assert_int_equal(walk_config(exp, c, n, 2, 512), want_eps[k]);

		/* The other-speed (full-speed) configuration: bulk at 64. */
		assert_int_equal(get_desc(exp, 7, 0, 512, c, &n), 0);
		assert_int_equal(n, total);
		assert_int_equal(walk_config(exp, c, n, 7, 64), want_eps[k]);

		/* Endpoints that are not there, and ep0. */
		assert_int_equal(exp->ops->ep_type(exp, 0x00), USBIP_EP_CONTROL);
		assert_int_equal(exp->ops->ep_type(exp, 0x80), USBIP_EP_CONTROL);
		assert_int_equal(exp->ops->ep_type(exp, 0x85), -1);
		assert_int_equal(exp->ops->ep_type(exp, 0x0f), -1);
		assert_int_equal(exp->ops->ep_type(exp, 0x03), -1);
		simh_destroy(exp);
	}
}

static void test_cdc_functional_descriptors(void **state)
{
	struct usbip_export *exp = simh_create("cdc", 1);
	uint8_t c[512];
	int32_t n, off = 0;
	unsigned seen = 0;

	(void)state;
	assert_int_equal(get_desc(exp, 2, 0, 512, c, &n), 0);
	while (off < n) {
		const uint8_t *d = c + off;

		if (d[1] == 0x24) {
			switch (d[2]) {
			case 0x00: /* header, CDC 1.10 */
				assert_int_equal(le16(d + 3), 0x0110);
				seen |= 1;
				break;
			case 0x01: /* call management: data interface 1 */
				assert_int_equal(d[4], 1);
				seen |= 2;
				break;
			case 0x02: /* ACM: line coding + state */
				assert_true(d[3] & 0x02);
				seen |= 4;
				break;
			case 0x06: /* union: 0 controls 1 */
				assert_int_equal(d[3], 0);
				assert_int_equal(d[4], 1);
				seen |= 8;
				break;
			default:
				fail_msg("unexpected functional descriptor 0x%02x", d[2]);
			}
		}
		off += d[0];
	}
	assert_int_equal(seen, 15);
	simh_destroy(exp);
}

static void test_strings(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		struct usbip_export *a = simh_create(kinds[k], 3);
		struct usbip_export *b = simh_create(kinds[k], 4);
		char s[128], t[128], want[64];
		uint8_t buf[8];
		int32_t n;

		assert_int_equal(get_desc(a, 3, 0, 255, buf, &n), 0);
		assert_int_equal(n, 4);
		assert_int_equal(buf[1], 3);
		assert_int_equal(le16(buf + 2), 0x0409);

		get_string(a, 1, s, sizeof(s));
		assert_string_equal(s, "usblab");
		get_string(a, 2, s, sizeof(s));
		assert_non_null(strstr(s, "usblab"));
		get_string(a, 3, s, sizeof(s));
		snprintf(want, sizeof(want), "USBLAB-%s-3", tags[k]);
		assert_string_equal(s, want);
		get_string(b, 3, t, sizeof(t));
		assert_string_not_equal(s, t);

		/* Linux reads the first two bytes of a string, then all of it. */
		assert_int_equal(get_desc(a, 3, 2, 2, buf, &n), 0);
		assert_int_equal(n, 2);
		assert_int_equal(buf[1], 3);

		assert_int_equal(get_desc(a, 3, 4, 255, buf, &n), -USBIP_EPIPE);
		assert_int_equal(get_desc(a, 0x0f, 0, 5, buf, &n), -USBIP_EPIPE); /* BOS */
		assert_int_equal(get_desc(a, 2, 1, 9, buf, &n), -USBIP_EPIPE);
		simh_destroy(a);
		simh_destroy(b);
	}
}

static void test_standard_requests(void **state)
{
	(void)state;
	for (unsigned k = 0; k < 3; k++) {
		struct usbip_export *exp = simh_create(kinds[k], 1);
		uint8_t buf[4] = {0xff, 0xff, 0xff, 0xff};
		int32_t n;

		assert_int_equal(simh_control(exp, 0x80, 0, 0, 0, 2, buf, &n), 0); /* GET_STATUS */
		assert_int_equal(n, 2);
		assert_int_equal(buf[0], 0);
		assert_int_equal(buf[1], 0);
		assert_int_equal(simh_control(exp, 0x80, 8, 0, 0, 1, buf, &n), 0);
		assert_int_equal(buf[0], 1);
		assert_int_equal(simh_control(exp, 0x81, 10, 0, 0, 1, buf, &n),
		                 0); /* GET_INTERFACE */
		assert_int_equal(buf[0], 0);
		assert_int_equal(simh_control(exp, 0x81, 10, 0, 5, 1, buf, &n), -USBIP_EPIPE);
		assert_int_equal(simh_control(exp, 0x00, 5, 7, 0, 0, NULL, &n),
		                 0); /* SET_ADDRESS */
		/* Vendor requests and unknown ones stall. */
		assert_int_equal(simh_control(exp, 0xc0, 1, 0, 0, 4, buf, &n), -USBIP_EPIPE);
		assert_int_equal(simh_control(exp, 0x80, 99, 0, 0, 4, buf, &n), -USBIP_EPIPE);

		/* SET_CONFIGURATION through the control path. */
		assert_int_equal(simh_control(exp, 0x00, 9, 2, 0, 0, NULL, &n), -USBIP_EPIPE);
		assert_int_equal(simh_control(exp, 0x00, 9, 0, 0, 0, NULL, &n), 0);
		assert_int_equal(simh_control(exp, 0x80, 8, 0, 0, 1, buf, &n), 0);
		assert_int_equal(buf[0], 0);
		assert_int_equal(exp->info.bConfigurationValue, 0);
		assert_int_equal(exp->info.bNumInterfaces, 0);
		assert_int_equal(exp->ops->ep_type(exp, 0x81), -1);
		assert_int_equal(exp->ops->ep_type(exp, 0x00), USBIP_EP_CONTROL);
		assert_int_equal(simh_control(exp, 0x81, 10, 0, 0, 1, buf, &n), -USBIP_EPIPE);

		/* ... and through the special-request ops (§4.5). */
		assert_true(exp->ops->set_configuration(exp, 3) < 0);
		assert_int_equal(exp->ops->set_configuration(exp, 1), 0);
		assert_int_equal(exp->info.bConfigurationValue, 1);
		assert_int_equal(exp->ops->ep_type(exp, 0x81) >= 0, 1);
		assert_int_equal(exp->ops->set_interface(exp, 0, 0), 0);
		assert_true(exp->ops->set_interface(exp, 0, 1) < 0);
		assert_true(exp->ops->set_interface(exp, 9, 0) < 0);
		assert_int_equal(simh_control(exp, 0x01, 11, 0, 0, 0, NULL, &n), 0);
		assert_int_equal(simh_control(exp, 0x01, 11, 1, 0, 0, NULL, &n), -USBIP_EPIPE);
		assert_int_equal(exp->ops->reset(exp), 0);
		assert_int_equal(exp->info.bConfigurationValue, 1);
		assert_true(exp->ops->clear_halt(exp, 0x8e) < 0);
		simh_destroy(exp);
	}
}

/* SET_FEATURE(ENDPOINT_HALT) stalls an endpoint until it is cleared,
 * through the control path or the clear_halt op. */
static void test_endpoint_halt(void **state)
{
	struct usbip_export *exp = simh_create("msc", 1);
	uint8_t st[2];
	int32_t n;

	(void)state;
	assert_int_equal(simh_control(exp, 0x82, 0, 0, 0x81, 2, st, &n), 0);
	assert_int_equal(st[0], 0);
	/* A URB held on the endpoint ends with EPIPE when it halts. */
	struct usbip_urb *held = simh_in(exp, 0x81, 13);

	assert_int_equal(simh_completions(held), 0);
	assert_int_equal(simh_control(exp, 0x02, 3, 0, 0x81, 0, NULL, &n), 0);
	assert_int_equal(simh_completions(held), 1);
	assert_int_equal(held->status, -USBIP_EPIPE);
	simh_urb_free(held);

	assert_int_equal(simh_control(exp, 0x82, 0, 0, 0x81, 2, st, &n), 0);
	assert_int_equal(st[0], 1);
	struct usbip_urb *urb = simh_in(exp, 0x81, 13);

	assert_int_equal(simh_completions(urb), 1);
	assert_int_equal(urb->status, -USBIP_EPIPE);
	simh_urb_free(urb);

	assert_int_equal(simh_control(exp, 0x02, 1, 0, 0x81, 0, NULL, &n), 0);
	assert_int_equal(simh_control(exp, 0x82, 0, 0, 0x81, 2, st, &n), 0);
	assert_int_equal(st[0], 0);

	assert_int_equal(simh_control(exp, 0x02, 3, 0, 0x02, 0, NULL, &n), 0);
	assert_int_equal(simh_control(exp, 0x82, 0, 0, 0x02, 2, st, &n), 0);
	assert_int_equal(st[0], 1);
	assert_int_equal(exp->ops->clear_halt(exp, 0x02), 0);
	assert_int_equal(simh_control(exp, 0x82, 0, 0, 0x02, 2, st, &n), 0);
	assert_int_equal(st[0], 0);
	/* No such endpoint. */
	assert_int_equal(simh_control(exp, 0x82, 0, 0, 0x83, 2, st, &n), -USBIP_EPIPE);
	simh_destroy(exp);
}

/* A URB on an endpoint the configuration lacks never reaches a class. */
static void test_submit_unknown_endpoint(void **state)
{
	struct usbip_export *exp = simh_create("hid", 1);
	struct usbip_urb *urb = simh_urb(exp, 0x82, 8);

	(void)state;
	urb->ep_type = USBIP_EP_INT;
	assert_true(simh_submit(exp, urb) < 0);
	assert_int_equal(simh_completions(urb), 1);
	simh_urb_free(urb);
	simh_destroy(exp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_device_descriptor),
	        cmocka_unit_test(test_config_descriptor),
	        cmocka_unit_test(test_cdc_functional_descriptors),
	        cmocka_unit_test(test_strings),
	        cmocka_unit_test(test_standard_requests),
	        cmocka_unit_test(test_endpoint_halt),
	        cmocka_unit_test(test_submit_unknown_endpoint),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
