/* SPDX-License-Identifier: MIT */
/*
 * test_esp32.c - the ESP32 ROM protocol (src/bench/esp32.c): SLIP both
 * ways with 0xC0 and 0xDB escaped, byte-at-a-time receive, noise and
 * broken frames, the SYNC and READ_REG frames byte for byte, response
 * parsing and the MAC's eFuse words.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "esp32.h"

/* The SYNC request as esptool sends it (loader.py sync()): header 00 08,
 * length 36, checksum 0, then 07 07 12 20 and 32 x 0x55. */
static const uint8_t sync_frame[] = {
        0xc0, 0x00, 0x08, 0x24, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x07, 0x12, 0x20,
        /* 32 x 0x55 */
        0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
        0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55, 0x55,
        0x55, 0x55, 0xc0};
_Static_assert(sizeof(sync_frame) == 2 + 8 + 36, "SYNC frame: 8 header + 36 data + 2 ends");

/* Feeds bytes; returns how many frames completed (the last one in rx). */
static int feed(struct esp32_slip_rx *rx, const uint8_t *p, size_t n, int *bad)
{
	int frames = 0;

	for (size_t i = 0; i < n; i++) {
		int rc = esp32_slip_rx_byte(rx, p[i]);

		if (rc == 1)
			frames++;
		else if (rc < 0 && bad != NULL)
			(*bad)++;
	}
	return frames;
}

static void test_slip_escapes_both_ways(void **state)
{
	const uint8_t pkt[] = {0x01, 0xc0, 0x02, 0xdb, 0xc0, 0xdb, 0x03};
	const uint8_t want[] = {0xc0, 0x01, 0xdb, 0xdc, 0x02, 0xdb, 0xdd,
	                        0xdb, 0xdc, 0xdb, 0xdd, 0x03, 0xc0};
	uint8_t out[32];
	struct esp32_slip_rx rx;

	(void)state;
	assert_int_equal(esp32_slip_encode(pkt, sizeof(pkt), NULL, 0), sizeof(want));
	assert_int_equal(esp32_slip_encode(pkt, sizeof(pkt), out, sizeof(want) - 1), ESP32_E_NOSPC);
	assert_int_equal(esp32_slip_encode(pkt, sizeof(pkt), out, sizeof(out)), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));

	/* Decode: whole, and byte by byte, is the packet again. */
	esp32_slip_rx_init(&rx);
	assert_int_equal(feed(&rx, want, sizeof(want), NULL), 1);
	assert_int_equal(rx.len, sizeof(pkt));
	assert_memory_equal(rx.buf, pkt, sizeof(pkt));
	esp32_slip_rx_init(&rx);
	for (size_t i = 0; i + 1 < sizeof(want); i++)
		assert_int_equal(esp32_slip_rx_byte(&rx, want[i]), 0);
	assert_int_equal(esp32_slip_rx_byte(&rx, want[sizeof(want) - 1]), 1);
	assert_memory_equal(rx.buf, pkt, sizeof(pkt));
}

static void test_slip_noise_and_broken_frames(void **state)
{
	/* A boot log before the frame, an empty frame, a bad escape (DB 41)
	 * that drops its frame, then a good frame sharing the C0. */
	const uint8_t in[] = {'w',  'a',  'i',  't',  '\n', 0xc0, 0xc0, 0x11,
	                      0xdb, 0x41, 0x12, 0xc0, 0x21, 0x22, 0xc0};
	struct esp32_slip_rx rx;
	int bad = 0;

	(void)state;
	esp32_slip_rx_init(&rx);
	assert_int_equal(feed(&rx, in, sizeof(in), &bad), 1);
	assert_int_equal(bad, 1);
	assert_int_equal(rx.len, 2);
	assert_int_equal(rx.buf[0], 0x21);
	assert_int_equal(rx.buf[1], 0x22);

	/* A frame longer than the buffer is dropped, not truncated. */
	esp32_slip_rx_init(&rx);
	bad = 0;
	assert_int_equal(esp32_slip_rx_byte(&rx, 0xc0), 0);
	for (size_t i = 0; i < ESP32_PACKET_MAX + 1; i++)
		assert_int_equal(esp32_slip_rx_byte(&rx, 0x5a), 0);
	assert_int_equal(esp32_slip_rx_byte(&rx, 0xc0), ESP32_E_SLIP);
	/* ... and exactly ESP32_PACKET_MAX bytes still fit. */
	for (size_t i = 0; i < ESP32_PACKET_MAX; i++)
		assert_int_equal(esp32_slip_rx_byte(&rx, 0x5a), 0);
	assert_int_equal(esp32_slip_rx_byte(&rx, 0xc0), 1);
	assert_int_equal(rx.len, ESP32_PACKET_MAX);
}

static void test_sync_frame_bytes(void **state)
{
	uint8_t out[128];
	struct esp32_slip_rx rx;
	struct esp32_packet p;

	(void)state;
	assert_int_equal(esp32_frame_sync(out, sizeof(out)), sizeof(sync_frame));
	assert_memory_equal(out, sync_frame, sizeof(sync_frame));
	assert_int_equal(esp32_frame_sync(NULL, 0), sizeof(sync_frame));

	esp32_slip_rx_init(&rx);
	assert_int_equal(feed(&rx, sync_frame, sizeof(sync_frame), NULL), 1);
	assert_int_equal(esp32_parse(0, rx.buf, rx.len, &p), ESP32_OK);
	assert_int_equal(p.op, ESP32_OP_SYNC);
	assert_true(esp32_sync_data_ok(&p));
	/* Not a response; one byte of the 0x55s changed is not a SYNC. */
	assert_int_equal(esp32_parse(1, rx.buf, rx.len, &p), ESP32_E_PROTO);
	rx.buf[20] = 0x54;
	assert_int_equal(esp32_parse(0, rx.buf, rx.len, &p), ESP32_OK);
	assert_false(esp32_sync_data_ok(&p));
}

static void test_read_reg_frame_escapes_address(void **state)
{
	/* An address with 0xC0 and 0xDB bytes: both escaped on the wire. */
	const uint8_t want[] = {0xc0, 0x00, 0x0a, 0x04, 0x00, 0x00, 0x00, 0x00,
	                        0x00, 0xdb, 0xdd, 0x01, 0xdb, 0xdc, 0x3f, 0xc0};
	uint8_t out[64];
	struct esp32_slip_rx rx;
	struct esp32_packet p;

	(void)state;
	assert_int_equal(esp32_frame_read_reg(0x3fc001dbu, out, sizeof(out)), sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	esp32_slip_rx_init(&rx);
	assert_int_equal(feed(&rx, out, sizeof(want), NULL), 1);
	assert_int_equal(esp32_parse(0, rx.buf, rx.len, &p), ESP32_OK);
	assert_int_equal(p.op, ESP32_OP_READ_REG);
	assert_int_equal(p.len, 4);
	assert_memory_equal(p.data, "\xdb\x01\xc0\x3f", 4);
}

static void test_response_parse_and_status(void **state)
{
	/* A ROM READ_REG reply: value 0xaabbccdd, status 0 0 0 0. */
	const uint8_t ok[] = {0x01, 0x0a, 0x04, 0x00, 0xdd, 0xcc, 0xbb, 0xaa, 0, 0, 0, 0};
	/* A failed command: status 1, error 0x05. */
	const uint8_t fail[] = {0x01, 0x0a, 0x04, 0x00, 0, 0, 0, 0, 1, 5, 0, 0};
	/* Length field says 5, 4 bytes follow. */
	const uint8_t lying[] = {0x01, 0x0a, 0x05, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
	struct esp32_packet p;

	(void)state;
	assert_int_equal(esp32_parse(1, ok, sizeof(ok), &p), ESP32_OK);
	assert_int_equal(p.word, 0xaabbccddu);
	assert_int_equal(esp32_rom_status(&p), 0);
	assert_int_equal(esp32_parse(1, fail, sizeof(fail), &p), ESP32_OK);
	assert_int_equal(esp32_rom_status(&p), 5);
	assert_int_equal(esp32_parse(1, lying, sizeof(lying), &p), ESP32_E_PROTO);
	/* Every strict prefix is malformed. */
	for (size_t n = 0; n < sizeof(ok); n++)
		assert_int_equal(esp32_parse(1, ok, n, &p), ESP32_E_PROTO);
	/* A response shorter than the status bytes. */
	assert_int_equal(esp32_parse(1, ok, 8, &p), ESP32_E_PROTO);
	const uint8_t shortst[] = {0x01, 0x0a, 0x02, 0x00, 0, 0, 0, 0, 0, 0};

	assert_int_equal(esp32_parse(1, shortst, sizeof(shortst), &p), ESP32_OK);
	assert_int_equal(esp32_rom_status(&p), 0xff);
}

static void test_frame_response_round_trip(void **state)
{
	const uint8_t st[4] = {0, 0, 0, 0};
	const struct esp32_packet in = {.op = 0x08, .word = 0x20120707u, .data = st, .len = 4};
	uint8_t out[64];
	struct esp32_slip_rx rx;
	struct esp32_packet p;
	long n = esp32_frame(1, &in, out, sizeof(out));

	(void)state;
	/* The ROM's SYNC reply on the wire. */
	const uint8_t want[] = {0xc0, 0x01, 0x08, 0x04, 0x00, 0x07, 0x07,
	                        0x12, 0x20, 0x00, 0x00, 0x00, 0x00, 0xc0};

	assert_int_equal(n, sizeof(want));
	assert_memory_equal(out, want, sizeof(want));
	esp32_slip_rx_init(&rx);
	assert_int_equal(feed(&rx, out, (size_t)n, NULL), 1);
	assert_int_equal(esp32_parse(1, rx.buf, rx.len, &p), ESP32_OK);
	assert_int_equal(p.op, in.op);
	assert_int_equal(p.word, in.word);
	assert_int_equal(p.len, in.len);
}

static void test_mac_efuse_words(void **state)
{
	const uint8_t mac[6] = {0x3c, 0x61, 0x05, 0xaa, 0xbb, 0xcc};
	uint32_t mac0, mac1;
	uint8_t back[6];

	(void)state;
	esp32_efuse_from_mac(mac, &mac0, &mac1);
	assert_int_equal(mac0, 0x05aabbccu);
	assert_int_equal(mac1, 0x00003c61u);
	/* esptool ignores MAC1's upper half (the CRC byte). */
	esp32_mac_from_efuse(mac0, mac1 | 0x00a50000u, back);
	assert_memory_equal(back, mac, sizeof(mac));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_slip_escapes_both_ways),
	        cmocka_unit_test(test_slip_noise_and_broken_frames),
	        cmocka_unit_test(test_sync_frame_bytes),
	        cmocka_unit_test(test_read_reg_frame_escapes_address),
	        cmocka_unit_test(test_response_parse_and_status),
	        cmocka_unit_test(test_frame_response_round_trip),
	        cmocka_unit_test(test_mac_efuse_words),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
