/* SPDX-License-Identifier: MIT */
/*
 * guard.h - buffers that end right before a PROT_NONE page, so that a
 * decoder reading, or an encoder writing, one byte past its length crashes
 * the test (picohttpparser's test.c does this).
 *
 * Uses cmocka's asserts: include it from cmocka test programs only.
 */
#ifndef TEST_GUARD_H
#define TEST_GUARD_H

#include <stddef.h>
#include <stdint.h>

/* pages read-write pages at base, then one PROT_NONE page. */
struct guard {
	uint8_t *base;
	size_t size; /* usable bytes before the guard page */
	size_t page;
};

/* Maps pages usable pages followed by the guard page. Returns 0, or -1 if
 * mmap or mprotect failed (then g holds nothing to free). Callable from a
 * cmocka group setup. */
int guard_init(struct guard *g, size_t pages);

/* Unmaps what guard_init mapped. */
void guard_free(struct guard *g);

/* The n usable bytes that end at the guard page, for an output buffer or
 * for the caller to fill. n == 0 gives the first unreadable byte. Fails
 * the test if n is larger than the usable size. The guard keeps ownership. */
uint8_t *guard_tail(struct guard *g, size_t n);

/* Copies n bytes of src to guard_tail(g, n), so src's last byte is the
 * last readable one, and returns that copy. */
uint8_t *guard_place(struct guard *g, const void *src, size_t n);

#endif
