/* SPDX-License-Identifier: MIT */
/*
 * test_fw_pool.c - the firmware's static URB pool: bounds, alignment,
 * first fit, merging on free, and holds that outlive a free.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "usbip_fw_opts.h"
#include "usbip_fw_pool.h"

#define HDR 8u

static int setup(void **state)
{
	(void)state;
	usbip_fw_pool_init();
	return 0;
}

static void test_bounds(void **state)
{
	(void)state;
	assert_null(usbip_fw_pool_alloc(0));
	assert_null(usbip_fw_pool_alloc(USBIP_FW_CFG_POOL_BYTES));
	assert_int_equal(usbip_fw_pool_largest_free(), USBIP_FW_CFG_POOL_BYTES - HDR);
	/* The largest block is exactly the arena minus one header. */
	void *p = usbip_fw_pool_alloc(USBIP_FW_CFG_POOL_BYTES - HDR);
	assert_non_null(p);
	assert_int_equal(usbip_fw_pool_used(), USBIP_FW_CFG_POOL_BYTES);
	assert_null(usbip_fw_pool_alloc(1));
	usbip_fw_pool_free(p);
	assert_int_equal(usbip_fw_pool_used(), 0);
	usbip_fw_pool_free(NULL);
	usbip_fw_pool_free(p); /* a second free is ignored */
	assert_int_equal(usbip_fw_pool_used(), 0);
}

static void test_alignment_and_no_overlap(void **state)
{
	uint8_t *p[16];

	(void)state;
	for (unsigned i = 0; i < 16; i++) {
		p[i] = usbip_fw_pool_alloc(1 + i * 13);
		assert_non_null(p[i]);
		assert_int_equal((uintptr_t)p[i] % 8, 0);
		memset(p[i], (int)i, 1 + i * 13);
	}
	for (unsigned i = 0; i < 16; i++)
		for (unsigned j = 0; j < 1 + i * 13; j++)
			assert_int_equal(p[i][j], i);
	for (unsigned i = 0; i < 16; i++)
		usbip_fw_pool_free(p[i]);
	assert_int_equal(usbip_fw_pool_used(), 0);
}

static void test_merge_in_any_order(void **state)
{
	void *a, *b, *c;

	(void)state;
	a = usbip_fw_pool_alloc(1000);
	b = usbip_fw_pool_alloc(1000);
	c = usbip_fw_pool_alloc(1000);
	assert_non_null(c);
	/* A hole between two used blocks is reused first fit. */
	usbip_fw_pool_free(b);
	assert_ptr_equal(usbip_fw_pool_alloc(1000), b);
	usbip_fw_pool_free(b);
	/* Freed neighbours merge: after freeing all, one block again. */
	usbip_fw_pool_free(a);
	usbip_fw_pool_free(c);
	assert_int_equal(usbip_fw_pool_largest_free(), USBIP_FW_CFG_POOL_BYTES - HDR);
	/* Exhaustion with small blocks, then everything back. */
	unsigned n = 0;
	void *p[USBIP_FW_CFG_POOL_BYTES / 64];

	while (n < sizeof(p) / sizeof(p[0]) && (p[n] = usbip_fw_pool_alloc(56)) != NULL)
		n++;
	assert_int_equal(n, USBIP_FW_CFG_POOL_BYTES / 64);
	assert_null(usbip_fw_pool_alloc(1));
	for (unsigned i = 0; i < n; i += 2)
		usbip_fw_pool_free(p[i]);
	/* Holes of 64 bytes: nothing larger fits until neighbours go. */
	assert_null(usbip_fw_pool_alloc(57));
	for (unsigned i = 1; i < n; i += 2)
		usbip_fw_pool_free(p[i]);
	assert_int_equal(usbip_fw_pool_used(), 0);
	assert_int_equal(usbip_fw_pool_largest_free(), USBIP_FW_CFG_POOL_BYTES - HDR);
}

static void test_hold_outlives_free(void **state)
{
	void *a;

	(void)state;
	a = usbip_fw_pool_alloc(200);
	usbip_fw_pool_hold(a);
	usbip_fw_pool_free(a);
	/* Still allocated: the controller may still write into it. */
	assert_true(usbip_fw_pool_used() >= 200);
	assert_ptr_not_equal(usbip_fw_pool_alloc(200), a);
	usbip_fw_pool_unhold(a);
	assert_true(usbip_fw_pool_used() < 300);
	/* A hold without a free keeps nothing after the unhold. */
	void *b = usbip_fw_pool_alloc(100);
	usbip_fw_pool_hold(b);
	usbip_fw_pool_unhold(b);
	usbip_fw_pool_unhold(b); /* unbalanced: ignored */
	usbip_fw_pool_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup(test_bounds, setup),
	        cmocka_unit_test_setup(test_alignment_and_no_overlap, setup),
	        cmocka_unit_test_setup(test_merge_in_any_order, setup),
	        cmocka_unit_test_setup(test_hold_outlives_free, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
