/* SPDX-License-Identifier: MIT */
/*
 * guard.c - buffers that end at a PROT_NONE page (see guard.h).
 */
#include "guard.h"

#include <setjmp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

int guard_init(struct guard *g, size_t pages)
{
	g->page = (size_t)sysconf(_SC_PAGESIZE);
	g->size = pages * g->page;
	void *p = mmap(NULL, g->size + g->page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
	               -1, 0);
	if (p == MAP_FAILED)
		return -1;
	g->base = p;
	if (mprotect(g->base + g->size, g->page, PROT_NONE) != 0) {
		munmap(p, g->size + g->page);
		return -1;
	}
	return 0;
}

void guard_free(struct guard *g)
{
	munmap(g->base, g->size + g->page);
}

uint8_t *guard_tail(struct guard *g, size_t n)
{
	assert_true(n <= g->size);
	return g->base + g->size - n;
}

uint8_t *guard_place(struct guard *g, const void *src, size_t n)
{
	uint8_t *p = guard_tail(g, n);

	/* src may be NULL when n is 0: memcpy must not see it. */
	if (n > 0)
		memcpy(p, src, n);
	return p;
}
