/* SPDX-License-Identifier: MIT */
/*
 * fuzz_iso.c - libFuzzer target for ISO descriptors and IN packing (§3.4).
 *
 * Input layout:
 *   0..1  np, little-endian, low 11 bits (0..2047: past the 1024 limit too)
 *   2..5  buflen, big-endian
 *   6     mode: bit 0 set = feed pack/unpack the raw descriptors, bypassing
 *         usbip_decode_iso's checks
 *   7..   np x 16 descriptor bytes, then the buffer's contents
 * Properties:
 *   - usbip_decode_iso never reads past size nor writes past np entries;
 *     decoded packets lie inside buflen and re-encode to the same bytes;
 *   - usbip_iso_pack/unpack never touch a byte outside buflen (the buffer
 *     is malloc'd to exactly buflen, so ASan sees any stray access);
 *   - pack returns the sum of actual_length; unpack refuses any other sum;
 *   - decode and pack refuse overlapping packets; for packets in
 *     non-overlapping slots, in any order, pack concatenates their data in
 *     packet order and unpack(pack(buf)) restores every packet's data.
 */
#include <string.h>

#include "fuzz.h"
#include "usbip.h"

#define MAX_FUZZ_BUFLEN (1u << 16)

static struct usbip_iso_packet iso[USBIP_MAX_ISO_PACKETS];

static uint32_t be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* True when every packet is inside buflen with actual_length <= length and
 * no two (offset, length) ranges share a byte, in whatever order: what
 * decode accepts and pack/unpack must handle. */
static bool iso_well_formed(unsigned np, uint32_t buflen)
{
	for (unsigned i = 0; i < np; i++) {
		if (iso[i].actual_length > iso[i].length ||
		    (uint64_t)iso[i].offset + iso[i].length > buflen)
			return false;
		for (unsigned j = 0; j < i; j++)
			if (iso[i].length && iso[j].length &&
			    (uint64_t)iso[i].offset < (uint64_t)iso[j].offset + iso[j].length &&
			    (uint64_t)iso[j].offset < (uint64_t)iso[i].offset + iso[i].length)
				return false;
	}
	return true;
}

static void pack_unpack(unsigned np, uint32_t buflen, const uint8_t *fill, size_t fill_len)
{
	uint8_t *buf = malloc(buflen ? buflen : 1);
	uint8_t *orig = malloc(buflen ? buflen : 1);
	FUZZ_CHECK(buf && orig);
	for (uint32_t i = 0; i < buflen; i++)
		orig[i] = i < fill_len ? fill[i] : (uint8_t)(i * 13);
	memcpy(buf, orig, buflen);

	uint64_t sum = 0;
	for (unsigned i = 0; i < np; i++)
		sum += iso[i].actual_length;

	long packed = usbip_iso_pack(buf, buflen, iso, np);
	FUZZ_CHECK(packed == USBIP_E_INVALID || packed >= 0);
	FUZZ_CHECK((packed >= 0) == iso_well_formed(np, buflen));
	if (packed >= 0) {
		FUZZ_CHECK((uint64_t)packed == sum && sum <= buflen);
		bool good = iso_well_formed(np, buflen);
		if (good) {
			uint32_t pos = 0;
			for (unsigned i = 0; i < np; i++) {
				FUZZ_CHECK(memcmp(buf + pos, orig + iso[i].offset,
				                  iso[i].actual_length) == 0);
				pos += iso[i].actual_length;
			}
		}
		/* The wrong sum is refused on the receiving side. */
		FUZZ_CHECK(usbip_iso_unpack(buf, buflen, (uint32_t)packed + 1, iso, np) ==
		           USBIP_E_INVALID);
		if (packed > 0)
			FUZZ_CHECK(usbip_iso_unpack(buf, buflen, (uint32_t)packed - 1, iso, np) ==
			           USBIP_E_INVALID);
		FUZZ_CHECK(usbip_iso_unpack(buf, buflen, (uint32_t)packed, iso, np) >= 0);
		if (good)
			for (unsigned i = 0; i < np; i++)
				FUZZ_CHECK(memcmp(buf + iso[i].offset, orig + iso[i].offset,
				                  iso[i].actual_length) == 0);
	} else {
		/* Whatever pack refused, unpack must refuse too. */
		FUZZ_CHECK(usbip_iso_unpack(buf, buflen, (uint32_t)sum, iso, np) ==
		           USBIP_E_INVALID);
	}
	free(buf);
	free(orig);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 7)
		return 0;
	unsigned np = (unsigned)(data[0] | (data[1] << 8)) & 0x7ff;
	uint32_t buflen = be32(data + 2);
	bool raw = data[6] & 1;
	const uint8_t *d = data + 7;
	size_t len = size - 7;

	int r = usbip_decode_iso(d, len, iso, np, buflen);
	if (np > USBIP_MAX_ISO_PACKETS) {
		FUZZ_CHECK(r == USBIP_E_LIMIT);
		return 0;
	}
	if (len < (size_t)np * USBIP_ISO_DESC_SIZE) {
		FUZZ_CHECK(r == USBIP_E_NEED_MORE);
		return 0;
	}
	FUZZ_CHECK(r == (int)(np * USBIP_ISO_DESC_SIZE) || r == USBIP_E_INVALID);
	FUZZ_CHECK((r >= 0) == iso_well_formed(np, buflen));
	if (r >= 0) {
		for (unsigned i = 0; i < np; i++) {
			FUZZ_CHECK(iso[i].offset <= buflen &&
			           iso[i].length <= buflen - iso[i].offset);
			FUZZ_CHECK(iso[i].actual_length <= iso[i].length);
		}
		uint8_t *out = malloc(r > 0 ? (size_t)r : 1);
		FUZZ_CHECK(out);
		FUZZ_CHECK(usbip_encode_iso(out, (size_t)r, iso, np) == r);
		FUZZ_CHECK(memcmp(out, d, (size_t)r) == 0);
		free(out);
	}
	if (raw) {
		/* Descriptors as the peer sent them, unchecked: pack and unpack
		 * must do their own bounds checks. */
		for (unsigned i = 0; i < np; i++) {
			const uint8_t *p = d + i * USBIP_ISO_DESC_SIZE;
			iso[i] = (struct usbip_iso_packet){be32(p), be32(p + 4), be32(p + 8),
			                                   (int32_t)be32(p + 12)};
		}
	} else if (r < 0) {
		return 0;
	}
	if (buflen > MAX_FUZZ_BUFLEN)
		return 0;
	size_t descs = (size_t)np * USBIP_ISO_DESC_SIZE;
	pack_unpack(np, buflen, d + descs, len - descs);
	return 0;
}
