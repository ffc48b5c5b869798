/* SPDX-License-Identifier: MIT */
/*
 * test_codec_iso.c - ISO packet descriptors and IN packing (§3.4).
 *
 * Descriptors: byte-exact, truncation, the bounds decode_iso checks.
 * Packing: data moves with gaps and with overlapping moves, unpacking puts
 * it back, and every bad descriptor is refused before a byte moves. The
 * buffers end right before a PROT_NONE page, so any access past buflen
 * crashes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "usbip.h"

/* ---- descriptors ------------------------------------------------------------ */

/* Two descriptors as a RET_SUBMIT carries them (§3.4, all fields BE). */
static const uint8_t v_iso2[] = {
        0x00, 0x00, 0x00, 0x00, /* offset 0 */
        0x00, 0x00, 0x03, 0x00, /* length 768 */
        0x00, 0x00, 0x02, 0x9a, /* actual_length 666 */
        0x00, 0x00, 0x00, 0x00, /* status 0 */
        0x00, 0x00, 0x03, 0x00, /* offset 768 */
        0x00, 0x00, 0x03, 0x00, /* length 768 */
        0x00, 0x00, 0x00, 0x00, /* actual_length 0 */
        0xff, 0xff, 0xff, 0xb9, /* status -71 (-EPROTO) */
};

static void test_iso_desc_vector(void **state)
{
	(void)state;
	struct usbip_iso_packet iso[2];
	assert_int_equal(usbip_decode_iso(v_iso2, sizeof(v_iso2), iso, 2, 1536), 32);
	assert_int_equal(iso[0].offset, 0);
	assert_int_equal(iso[0].length, 768);
	assert_int_equal(iso[0].actual_length, 666);
	assert_int_equal(iso[0].status, 0);
	assert_int_equal(iso[1].offset, 768);
	assert_int_equal(iso[1].length, 768);
	assert_int_equal(iso[1].actual_length, 0);
	assert_int_equal(iso[1].status, -USBIP_EPROTO);

	uint8_t out[32];
	assert_int_equal(usbip_encode_iso(NULL, 0, iso, 2), 32);
	assert_int_equal(usbip_encode_iso(out, sizeof(out), iso, 2), 32);
	assert_memory_equal(out, v_iso2, 32);
	assert_int_equal(usbip_encode_iso(out, 31, iso, 2), USBIP_E_SHORT);

	/* Only the first descriptor asked for: 16 bytes. */
	assert_int_equal(usbip_decode_iso(v_iso2, sizeof(v_iso2), iso, 1, 1536), 16);
	/* np == 0: nothing to read, even from an empty buffer. */
	struct guard g;
	assert_int_equal(guard_init(&g, 1), 0);
	assert_int_equal(usbip_decode_iso(guard_tail(&g, 0), 0, iso, 0, 0), 0);
	/* Every strict prefix needs more, at the guard page. */
	for (size_t n = 0; n < sizeof(v_iso2); n++) {
		uint8_t *p = guard_place(&g, v_iso2, n);
		assert_int_equal(usbip_decode_iso(p, n, iso, 2, 1536), USBIP_E_NEED_MORE);
	}
	guard_free(&g);
}

/* One descriptor with the given fields, decoded against buflen. */
static int decode_one(uint32_t offset, uint32_t length, uint32_t actual, uint32_t buflen)
{
	uint8_t b[16];
	struct usbip_iso_packet in = {offset, length, actual, 0}, out;
	assert_int_equal(usbip_encode_iso(b, sizeof(b), &in, 1), 16);
	return usbip_decode_iso(b, sizeof(b), &out, 1, buflen);
}

static void test_iso_desc_bounds(void **state)
{
	(void)state;
	/* offset + length <= buflen, both ways. */
	assert_int_equal(decode_one(0, 100, 0, 100), 16);
	assert_int_equal(decode_one(0, 101, 0, 100), USBIP_E_INVALID);
	assert_int_equal(decode_one(40, 60, 0, 100), 16);
	assert_int_equal(decode_one(41, 60, 0, 100), USBIP_E_INVALID);
	assert_int_equal(decode_one(100, 0, 0, 100), 16);
	assert_int_equal(decode_one(101, 0, 0, 100), USBIP_E_INVALID);
	assert_int_equal(decode_one(0, 0, 0, 0), 16);
	/* actual_length <= length, both ways. */
	assert_int_equal(decode_one(0, 64, 64, 100), 16);
	assert_int_equal(decode_one(0, 64, 65, 100), USBIP_E_INVALID);
	/* Sums that wrap in 32 bits must not pass. */
	assert_int_equal(decode_one(0xfffffff0, 0x20, 0, 100), USBIP_E_INVALID);
	assert_int_equal(decode_one(1, 0xffffffff, 0, 100), USBIP_E_INVALID);
	assert_int_equal(decode_one(0xffffffff, 1, 0, 0xffffffff), USBIP_E_INVALID);
	assert_int_equal(decode_one(0x80000000, 0x80000000, 0, 0xffffffff), USBIP_E_INVALID);

	/* A bad second descriptor fails the whole set. */
	struct usbip_iso_packet in[3] = {{0, 8, 8, 0}, {8, 8, 9, 0}, {16, 8, 0, 0}}, out[3];
	uint8_t b[48];
	assert_int_equal(usbip_encode_iso(b, sizeof(b), in, 3), 48);
	assert_int_equal(usbip_decode_iso(b, sizeof(b), out, 3, 24), USBIP_E_INVALID);
	in[1].actual_length = 8;
	assert_int_equal(usbip_encode_iso(b, sizeof(b), in, 3), 48);
	assert_int_equal(usbip_decode_iso(b, sizeof(b), out, 3, 24), 48);
	assert_int_equal(usbip_decode_iso(b, sizeof(b), out, 3, 23), USBIP_E_INVALID);
}

/* ---- packing -------------------------------------------------------------- */

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

/* Packs iso[] in a buffer of buflen at the guard page and checks the data,
 * then unpacks it and checks every packet is back at its offset. */
static void pack_unpack(const struct usbip_iso_packet *iso, unsigned np, uint32_t buflen)
{
	struct guard g;
	assert_int_equal(guard_init(&g, 4), 0);
	uint8_t *orig = malloc(buflen + 1);
	uint8_t *want = malloc(buflen + 1);
	assert_non_null(orig);
	assert_non_null(want);
	fill_pattern(orig, buflen, 0x31);

	size_t sum = 0;
	for (unsigned i = 0; i < np; i++) {
		memcpy(want + sum, orig + iso[i].offset, iso[i].actual_length);
		sum += iso[i].actual_length;
	}

	uint8_t *buf = guard_place(&g, orig, buflen);
	assert_int_equal(usbip_iso_pack(buf, buflen, iso, np), (long)sum);
	if (sum > 0)
		assert_memory_equal(buf, want, sum);

	/* Scribble over everything after the packed data: unpack must not
	 * need it. */
	memset(buf + sum, 0xee, buflen - sum);
	assert_true(usbip_iso_unpack(buf, buflen, (uint32_t)sum, iso, np) >= 0);
	for (unsigned i = 0; i < np; i++)
		if (iso[i].actual_length > 0)
			assert_memory_equal(buf + iso[i].offset, orig + iso[i].offset,
			                    iso[i].actual_length);
	free(orig);
	free(want);
	guard_free(&g);
}

static void test_pack_gaps(void **state)
{
	(void)state;
	/* Three 16-byte slots; packet 0 short, packet 1 empty, packet 2 full:
	 * the packed data is 4 + 16 bytes with the gaps left out. */
	const struct usbip_iso_packet iso[3] = {
	        {0, 16, 4, 0}, {16, 16, 0, -USBIP_EXDEV}, {32, 16, 16, 0}};
	uint8_t buf[48], orig[48];
	fill_pattern(orig, sizeof(orig), 0);
	memcpy(buf, orig, sizeof(buf));
	assert_int_equal(usbip_iso_pack(buf, sizeof(buf), iso, 3), 20);
	assert_memory_equal(buf, orig, 4);
	assert_memory_equal(buf + 4, orig + 32, 16);
	pack_unpack(iso, 3, 48);
}

static void test_pack_overlapping_moves(void **state)
{
	(void)state;
	/* Contiguous slots: packet 2 moves from 16 to 11, onto bytes it still
	 * has to read (a memmove, not a memcpy); unpacking moves it back up
	 * from 11 to 16, last packet first. */
	const struct usbip_iso_packet iso[3] = {{0, 8, 8, 0}, {8, 8, 3, 0}, {16, 8, 8, 0}};
	uint8_t buf[24], orig[24];
	fill_pattern(orig, sizeof(orig), 9);
	memcpy(buf, orig, sizeof(buf));
	assert_int_equal(usbip_iso_pack(buf, sizeof(buf), iso, 3), 19);
	assert_memory_equal(buf, orig, 11);
	assert_memory_equal(buf + 11, orig + 16, 8);
	pack_unpack(iso, 3, 24);

	/* Many small packets, each one byte short: every move overlaps. */
	struct usbip_iso_packet many[64];
	for (unsigned i = 0; i < 64; i++)
		many[i] = (struct usbip_iso_packet){i * 5, 5, 4, 0};
	pack_unpack(many, 64, 320);
}

static void test_pack_full_and_empty(void **state)
{
	(void)state;
	/* All packets complete: packing moves nothing. */
	struct usbip_iso_packet full[4];
	for (unsigned i = 0; i < 4; i++)
		full[i] = (struct usbip_iso_packet){i * 32, 32, 32, 0};
	uint8_t buf[128], orig[128];
	fill_pattern(orig, sizeof(orig), 3);
	memcpy(buf, orig, sizeof(buf));
	assert_int_equal(usbip_iso_pack(buf, sizeof(buf), full, 4), 128);
	assert_memory_equal(buf, orig, 128);
	assert_true(usbip_iso_unpack(buf, sizeof(buf), 128, full, 4) >= 0);
	assert_memory_equal(buf, orig, 128);

	/* No data at all. */
	struct usbip_iso_packet none[4];
	for (unsigned i = 0; i < 4; i++)
		none[i] = (struct usbip_iso_packet){i * 32, 32, 0, 0};
	assert_int_equal(usbip_iso_pack(buf, sizeof(buf), none, 4), 0);
	assert_true(usbip_iso_unpack(buf, sizeof(buf), 0, none, 4) >= 0);

	/* The IN vector of the protocol's largest request. */
	static struct usbip_iso_packet max[USBIP_MAX_ISO_PACKETS];
	for (unsigned i = 0; i < USBIP_MAX_ISO_PACKETS; i++)
		max[i] = (struct usbip_iso_packet){i * 12, 12, i % 13, 0};
	pack_unpack(max, USBIP_MAX_ISO_PACKETS, 12 * USBIP_MAX_ISO_PACKETS);
}

static void test_pack_np_zero(void **state)
{
	(void)state;
	struct guard g;
	assert_int_equal(guard_init(&g, 1), 0);
	struct usbip_iso_packet unused[1] = {{0, 0, 0, 0}};
	uint8_t *end = guard_tail(&g, 0);
	assert_int_equal(usbip_iso_pack(end, 0, unused, 0), 0);
	assert_true(usbip_iso_unpack(end, 0, 0, unused, 0) >= 0);
	uint8_t *buf = guard_tail(&g, 16);
	assert_int_equal(usbip_iso_pack(buf, 16, unused, 0), 0);
	/* np == 0 and data present: the sum (0) does not match. */
	assert_int_equal(usbip_iso_unpack(buf, 16, 1, unused, 0), USBIP_E_INVALID);
	guard_free(&g);
}

static void test_unpack_sum_mismatch(void **state)
{
	(void)state;
	const struct usbip_iso_packet iso[3] = {{0, 16, 4, 0}, {16, 16, 0, 0}, {32, 16, 16, 0}};
	uint8_t buf[48], orig[48];
	fill_pattern(orig, sizeof(orig), 5);
	memcpy(buf, orig, sizeof(buf));
	assert_int_equal(usbip_iso_unpack(buf, 48, 19, iso, 3), USBIP_E_INVALID);
	assert_int_equal(usbip_iso_unpack(buf, 48, 21, iso, 3), USBIP_E_INVALID);
	assert_int_equal(usbip_iso_unpack(buf, 48, 0, iso, 3), USBIP_E_INVALID);
	assert_int_equal(usbip_iso_unpack(buf, 48, 0xffffffff, iso, 3), USBIP_E_INVALID);
	memcpy(buf, orig, sizeof(buf));
	assert_int_equal(usbip_iso_pack(buf, 48, iso, 3), 20);
	assert_true(usbip_iso_unpack(buf, 48, 20, iso, 3) >= 0);
	assert_memory_equal(buf, orig, 4);
	assert_memory_equal(buf + 32, orig + 32, 16);
}

/* A packet past the end of the buffer is refused by both; the guard page
 * catches an access past buflen. */
static void test_packet_beyond_buflen(void **state)
{
	(void)state;
	struct guard g;
	assert_int_equal(guard_init(&g, 1), 0);
	uint8_t orig[48];
	fill_pattern(orig, sizeof(orig), 11);
	static const struct {
		struct usbip_iso_packet iso[2];
		uint32_t packed;
	} bad[] = {
	        /* second slot ends one byte past 48 */
	        {{{0, 16, 4, 0}, {33, 16, 16, 0}}, 20},
	        /* actual data itself past the end */
	        {{{0, 16, 4, 0}, {40, 8, 9, 0}}, 13},
	        /* offset past the end */
	        {{{0, 16, 4, 0}, {64, 0, 0, 0}}, 4},
	        /* offset + length wraps in 32 bits */
	        {{{0, 16, 4, 0}, {0xfffffff8, 0x10, 4, 0}}, 8},
	        {{{0, 16, 4, 0}, {8, 0xfffffffc, 4, 0}}, 8},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *buf = guard_place(&g, orig, 48);
		assert_int_equal(usbip_iso_pack(buf, 48, bad[i].iso, 2), USBIP_E_INVALID);
		memcpy(buf, orig, 48);
		assert_int_equal(usbip_iso_unpack(buf, 48, bad[i].packed, bad[i].iso, 2),
		                 USBIP_E_INVALID);
	}
	/* Exactly at the end is fine. */
	const struct usbip_iso_packet edge[2] = {{0, 16, 4, 0}, {32, 16, 16, 0}};
	uint8_t *buf = guard_place(&g, orig, 48);
	assert_int_equal(usbip_iso_pack(buf, 48, edge, 2), 20);
	assert_true(usbip_iso_unpack(buf, 48, 20, edge, 2) >= 0);
	guard_free(&g);
}

/* Packets that each fit but overlap, so their data adds up to more than
 * the buffer: packing them in place would write past buflen. */
static void test_pack_sum_exceeds_buflen(void **state)
{
	(void)state;
	struct guard g;
	assert_int_equal(guard_init(&g, 1), 0);
	const struct usbip_iso_packet iso[3] = {{0, 32, 32, 0}, {0, 32, 32, 0}, {0, 32, 32, 0}};
	uint8_t *buf = guard_tail(&g, 32);
	fill_pattern(buf, 32, 1);
	assert_int_equal(usbip_iso_pack(buf, 32, iso, 3), USBIP_E_INVALID);
	/* The receiving side: 96 bytes claimed in a 32-byte buffer. */
	assert_int_equal(usbip_iso_unpack(buf, 32, 96, iso, 3), USBIP_E_INVALID);
	guard_free(&g);
}

/* Issue 12, finding 7: packets that each fit the buffer but overlap pass
 * no longer, so one CMD_SUBMIT cannot make a backend stage 1024 x 16 MiB.
 * Sets the kernel sends still pass (§3.4). */
static void test_iso_overlap_refused(void **state)
{
	(void)state;
	static struct usbip_iso_packet in[USBIP_MAX_ISO_PACKETS], out[USBIP_MAX_ISO_PACKETS];
	static uint8_t b[USBIP_MAX_ISO_PACKETS * USBIP_ISO_DESC_SIZE];
	static const struct {
		struct usbip_iso_packet iso[3];
		uint32_t buflen;
		int ok;
	} sets[] = {
	        /* vhci IN: offsets i * maxpacket, contiguous */
	        {{{0, 192, 0, 0}, {192, 192, 0, 0}, {384, 192, 0, 0}}, 576, 1},
	        /* IN with gaps: lengths sum below the buffer */
	        {{{0, 192, 0, 0}, {1024, 192, 0, 0}, {2048, 192, 0, 0}}, 3072, 1},
	        /* empty packets share offsets with anything */
	        {{{0, 64, 0, 0}, {0, 0, 0, 0}, {64, 0, 0, 0}}, 64, 1},
	        /* disjoint, descending: odd but well defined */
	        {{{128, 64, 0, 0}, {64, 64, 0, 0}, {0, 64, 0, 0}}, 192, 1},
	        /* one byte shared with the previous packet */
	        {{{0, 64, 0, 0}, {63, 64, 0, 0}, {128, 64, 0, 0}}, 192, 0},
	        /* one byte shared, out of order */
	        {{{128, 64, 0, 0}, {0, 64, 0, 0}, {191, 1, 0, 0}}, 256, 0},
	        /* a packet inside another */
	        {{{0, 128, 0, 0}, {130, 10, 0, 0}, {32, 8, 0, 0}}, 192, 0},
	        /* the same slot three times: lengths sum past the buffer */
	        {{{0, 32, 0, 0}, {0, 32, 0, 0}, {0, 32, 0, 0}}, 32, 0},
	};
	for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]); i++) {
		assert_int_equal(usbip_encode_iso(b, sizeof(b), sets[i].iso, 3), 48);
		assert_int_equal(usbip_decode_iso(b, 48, out, 3, sets[i].buflen),
		                 sets[i].ok ? 48 : USBIP_E_INVALID);
		/* pack refuses the same sets before a byte moves */
		uint8_t *buf = calloc(1, sets[i].buflen);
		assert_non_null(buf);
		assert_int_equal(usbip_iso_pack(buf, sets[i].buflen, sets[i].iso, 3) >= 0,
		                 sets[i].ok);
		free(buf);
	}

	/* The finding: 1024 packets all {0, 16 MiB} in a 16 MiB buffer. */
	for (unsigned i = 0; i < USBIP_MAX_ISO_PACKETS; i++)
		in[i] = (struct usbip_iso_packet){0, USBIP_MAX_TRANSFER, 0, 0};
	assert_int_equal(usbip_encode_iso(b, sizeof(b), in, USBIP_MAX_ISO_PACKETS), (int)sizeof(b));
	assert_int_equal(
	        usbip_decode_iso(b, sizeof(b), out, USBIP_MAX_ISO_PACKETS, USBIP_MAX_TRANSFER),
	        USBIP_E_INVALID);
	/* The largest legal set, descending: 1024 disjoint 16 KiB slots. */
	for (unsigned i = 0; i < USBIP_MAX_ISO_PACKETS; i++)
		in[i] = (struct usbip_iso_packet){(USBIP_MAX_ISO_PACKETS - 1 - i) * 16384u, 16384,
		                                  0, 0};
	assert_int_equal(usbip_encode_iso(b, sizeof(b), in, USBIP_MAX_ISO_PACKETS), (int)sizeof(b));
	assert_int_equal(
	        usbip_decode_iso(b, sizeof(b), out, USBIP_MAX_ISO_PACKETS, USBIP_MAX_TRANSFER),
	        (int)sizeof(b));
	/* ... and one byte too many in its lowest slot. */
	in[USBIP_MAX_ISO_PACKETS - 1].length = 16385;
	assert_int_equal(usbip_encode_iso(b, sizeof(b), in, USBIP_MAX_ISO_PACKETS), (int)sizeof(b));
	assert_int_equal(
	        usbip_decode_iso(b, sizeof(b), out, USBIP_MAX_ISO_PACKETS, USBIP_MAX_TRANSFER),
	        USBIP_E_INVALID);
}

/* Issue 12, finding 7: packing descending offsets moved packet 0's data
 * over packet 1's before packet 1 was read. Any order of disjoint packets
 * packs to their data in packet order and unpacks back. */
static void test_pack_any_order(void **state)
{
	(void)state;
	const struct usbip_iso_packet desc[3] = {{32, 16, 16, 0}, {16, 16, 16, 0}, {0, 16, 16, 0}};
	uint8_t buf[48], orig[48];
	fill_pattern(orig, sizeof(orig), 21);
	memcpy(buf, orig, sizeof(buf));
	assert_int_equal(usbip_iso_pack(buf, sizeof(buf), desc, 3), 48);
	assert_memory_equal(buf, orig + 32, 16);
	assert_memory_equal(buf + 16, orig + 16, 16);
	assert_memory_equal(buf + 32, orig, 16);
	pack_unpack(desc, 3, 48);

	/* Short packets, gaps, empty ones, shuffled. */
	const struct usbip_iso_packet mixed[5] = {
	        {40, 10, 7, 0}, {0, 10, 10, 0}, {70, 20, 0, 0}, {20, 10, 3, 0}, {55, 15, 15, 0}};
	pack_unpack(mixed, 5, 100);

	/* 64 packets of different sizes in a scrambled order. */
	struct usbip_iso_packet many[64];
	uint32_t off = 0;
	for (unsigned i = 0; i < 64; i++) {
		unsigned k = (i * 37) % 64; /* 37 is prime to 64: a permutation */
		many[k] = (struct usbip_iso_packet){off, 3 + i % 5, (i * 7) % (4 + i % 5), 0};
		if (many[k].actual_length > many[k].length)
			many[k].actual_length = many[k].length;
		off += many[k].length + (i % 3);
	}
	pack_unpack(many, 64, off);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_iso_desc_vector),
	        cmocka_unit_test(test_iso_desc_bounds),
	        cmocka_unit_test(test_pack_gaps),
	        cmocka_unit_test(test_pack_overlapping_moves),
	        cmocka_unit_test(test_pack_full_and_empty),
	        cmocka_unit_test(test_pack_np_zero),
	        cmocka_unit_test(test_unpack_sum_mismatch),
	        cmocka_unit_test(test_packet_beyond_buflen),
	        cmocka_unit_test(test_pack_sum_exceeds_buflen),
	        cmocka_unit_test(test_iso_overlap_refused),
	        cmocka_unit_test(test_pack_any_order),
	};
	return cmocka_run_group_tests_name("codec-iso", tests, NULL, NULL);
}
