/* SPDX-License-Identifier: MIT */
/*
 * usbip_fw_pool.c - first-fit allocator over one static arena.
 *
 * The arena is a sequence of blocks, each an 8-byte header then its
 * payload; walking the sizes visits every block. With a handful of URBs in
 * flight a linear walk is cheaper than any index would be in RAM.
 */
#include "usbip_fw_pool.h"

#include <stdbool.h>
#include <stdint.h>

#include "usbip_fw_opts.h"

struct pool_hdr {
	uint32_t size;  /* whole block, header included, multiple of 8 */
	uint8_t used;   /* handed out and not freed */
	uint8_t held;   /* holds taken with usbip_fw_pool_hold */
	uint8_t freed;  /* freed while held: release at the last unhold */
	uint8_t unused; /* keeps the header 8 bytes */
};

#define HDR_SIZE  sizeof(struct pool_hdr)
#define MIN_SPLIT (HDR_SIZE + 32u)

_Static_assert(sizeof(struct pool_hdr) == 8, "pool header must be 8 bytes");

static union {
	uint64_t align;
	uint8_t bytes[USBIP_FW_CFG_POOL_BYTES];
} arena;

static struct pool_hdr *hdr_at(size_t off)
{
	return (struct pool_hdr *)(void *)(arena.bytes + off);
}

void usbip_fw_pool_init(void)
{
	struct pool_hdr *h = hdr_at(0);

	h->size = USBIP_FW_CFG_POOL_BYTES;
	h->used = 0;
	h->held = 0;
	h->freed = 0;
}

void *usbip_fw_pool_alloc(size_t size)
{
	size_t need, off;

	if (size == 0 || size > USBIP_FW_CFG_POOL_BYTES)
		return NULL;
	need = (size + HDR_SIZE + 7u) & ~(size_t)7u;
	for (off = 0; off < USBIP_FW_CFG_POOL_BYTES; off += hdr_at(off)->size) {
		struct pool_hdr *h = hdr_at(off);

		if (h->used || h->size < need)
			continue;
		if (h->size - need >= MIN_SPLIT) {
			struct pool_hdr *rest = hdr_at(off + need);

			rest->size = (uint32_t)(h->size - need);
			rest->used = 0;
			rest->held = 0;
			rest->freed = 0;
			h->size = (uint32_t)need;
		}
		h->used = 1;
		h->held = 0;
		h->freed = 0;
		return h + 1;
	}
	return NULL;
}

/* Merges every run of free blocks (one pass over the arena). */
static void pool_merge(void)
{
	size_t off = 0;

	while (off < USBIP_FW_CFG_POOL_BYTES) {
		struct pool_hdr *h = hdr_at(off);
		size_t next = off + h->size;

		if (!h->used && next < USBIP_FW_CFG_POOL_BYTES && !hdr_at(next)->used) {
			h->size += hdr_at(next)->size;
			continue;
		}
		off = next;
	}
}

static struct pool_hdr *pool_hdr_of(void *ptr)
{
	uint8_t *p = ptr;

	/* Our own invariant: only pointers from this pool come back. */
	if (p < arena.bytes + HDR_SIZE || p >= arena.bytes + USBIP_FW_CFG_POOL_BYTES)
		return NULL;
	return (struct pool_hdr *)(void *)(p - HDR_SIZE);
}

void usbip_fw_pool_free(void *ptr)
{
	struct pool_hdr *h = ptr ? pool_hdr_of(ptr) : NULL;

	if (!h || !h->used)
		return;
	if (h->held) {
		h->freed = 1;
		return;
	}
	h->used = 0;
	pool_merge();
}

void usbip_fw_pool_hold(void *ptr)
{
	struct pool_hdr *h = pool_hdr_of(ptr);

	if (h && h->used)
		h->held++;
}

void usbip_fw_pool_unhold(void *ptr)
{
	struct pool_hdr *h = pool_hdr_of(ptr);

	if (!h || !h->used || h->held == 0)
		return;
	if (--h->held == 0 && h->freed) {
		h->used = 0;
		h->freed = 0;
		pool_merge();
	}
}

size_t usbip_fw_pool_used(void)
{
	size_t used = 0;

	for (size_t off = 0; off < USBIP_FW_CFG_POOL_BYTES; off += hdr_at(off)->size)
		if (hdr_at(off)->used)
			used += hdr_at(off)->size;
	return used;
}

size_t usbip_fw_pool_largest_free(void)
{
	size_t best = 0;

	for (size_t off = 0; off < USBIP_FW_CFG_POOL_BYTES; off += hdr_at(off)->size) {
		struct pool_hdr *h = hdr_at(off);

		if (!h->used && h->size - HDR_SIZE > best)
			best = h->size - HDR_SIZE;
	}
	return best;
}
