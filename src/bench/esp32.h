/* SPDX-License-Identifier: MIT */
/*
 * esp32.h - the ESP32 ROM bootloader's serial protocol, pure: SLIP
 * framing, commands and responses, the MAC in its eFuse words
 * (docs: bench-facts.md "ESP32 ROM bootloader"; esptool's loader.py).
 * No I/O, no allocation, no includes of ours. The virtual ESP32
 * (backend/sim/sim_esp32.c) answers with it and the probe (esp32_probe.c)
 * asks with it: one codec for both sides. That makes it the one src/bench
 * header a backend includes (docs/architecture.md: backends include
 * lib/usbip and src/log only); it is its own library, ul_esp32, so the sim
 * links nothing else of the bench.
 *
 * A packet (before SLIP): request 0x00, op, length LE16, checksum LE32,
 * data; response 0x01, op, length LE16, value LE32, data ending in the
 * status bytes (the ESP32 ROM sends 4: status, error, 0, 0).
 */
#ifndef UL_ESP32_H
#define UL_ESP32_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESP32_SLIP_END     0xc0
#define ESP32_SLIP_ESC     0xdb
#define ESP32_SLIP_ESC_END 0xdc
#define ESP32_SLIP_ESC_ESC 0xdd

#define ESP32_OP_SYNC     0x08
#define ESP32_OP_READ_REG 0x0a

#define ESP32_HEADER_LEN       8
#define ESP32_SYNC_DATA_LEN    36 /* 07 07 12 20, then 32 bytes of 0x55 */
#define ESP32_ROM_STATUS_LEN   4
#define ESP32_ROM_SYNC_VALUE   0x20120707u /* the ROM's; the flasher stub sends 0 */
#define ESP32_ROM_SYNC_REPLIES 8    /* the ROM answers one SYNC 8 times (esptool reads 7 more) */
#define ESP32_ERR_INVALID      0x05 /* error byte: "received message is invalid" */

/* ESP32 (classic) MAC: eFuse words 1 and 2 (esptool's read_mac). */
#define ESP32_REG_MAC0 0x3ff5a004u
#define ESP32_REG_MAC1 0x3ff5a008u

#define ESP32_PACKET_MAX 1024 /* largest packet this module decodes */

enum esp32_err {
	ESP32_OK = 0,
	ESP32_E_NOSPC = -1, /* the output buffer is too small */
	ESP32_E_PROTO = -2, /* not a well-formed packet of the expected direction */
	ESP32_E_SLIP = -3,  /* bad SLIP escape, or a frame larger than the buffer */
};

const char *esp32_strerror(int err);

/*
 * SLIP-encodes pkt[0..n) as one frame (0xC0 ... 0xC0) into out. Returns
 * the bytes written, or ESP32_E_NOSPC when cap is short; with out NULL,
 * returns the size needed.
 */
long esp32_slip_encode(const uint8_t *pkt, size_t n, uint8_t *out, size_t cap);

/* A SLIP receiver fed one byte at a time (frames span reads and URBs). */
struct esp32_slip_rx {
	uint8_t buf[ESP32_PACKET_MAX];
	size_t len;
	bool in_frame; /* a 0xC0 opened a frame */
	bool esc;      /* the last byte was 0xDB */
	bool bad;      /* this frame is broken: dropped at its end */
	bool done;     /* buf holds the packet returned last: cleared by the next byte */
};

void esp32_slip_rx_init(struct esp32_slip_rx *rx);

/*
 * Feeds c. Returns 1 when c closed a frame (its packet is rx->buf[0..len),
 * valid until the next call), 0 when more is needed, ESP32_E_SLIP when c
 * closed a broken frame (dropped). Bytes outside frames (a boot log) and
 * empty frames are ignored.
 */
int esp32_slip_rx_byte(struct esp32_slip_rx *rx, uint8_t c);

struct esp32_packet {
	uint8_t op;
	uint32_t word; /* a request's checksum, a response's value */
	const uint8_t *data;
	uint16_t len;
};

/*
 * Builds a SLIP frame of a packet: a request (dir 0, word = checksum) or
 * a response (dir 1, word = value). Same returns as esp32_slip_encode();
 * ESP32_E_PROTO if p->len exceeds ESP32_PACKET_MAX - 8.
 */
long esp32_frame(uint8_t dir, const struct esp32_packet *p, uint8_t *out, size_t cap);

/* The SLIP frames of SYNC and READ_REG(addr). Same returns. */
long esp32_frame_sync(uint8_t *out, size_t cap);
long esp32_frame_read_reg(uint32_t addr, uint8_t *out, size_t cap);

/*
 * Parses a packet of direction dir (0 request, 1 response) from
 * pkt[0..n); p->data points into pkt. Returns ESP32_OK, or ESP32_E_PROTO
 * when the direction is wrong, the header is short, or the length field
 * disagrees with n.
 */
int esp32_parse(uint8_t dir, const uint8_t *pkt, size_t n, struct esp32_packet *p);

/* True when a SYNC request carries the ROM's expected 36 bytes. */
bool esp32_sync_data_ok(const struct esp32_packet *p);

/*
 * The status of a ROM response: 0 success, else the error byte (or 0xff
 * when the data is shorter than the ROM's status bytes).
 */
uint8_t esp32_rom_status(const struct esp32_packet *p);

/* The MAC from eFuse words 1 (MAC0) and 2 (MAC1), as esptool reads it:
 * the low 16 bits of MAC1, then MAC0, both big-endian. */
void esp32_mac_from_efuse(uint32_t mac0, uint32_t mac1, uint8_t mac[6]);
/* The reverse (the CRC byte of MAC1 left 0). */
void esp32_efuse_from_mac(const uint8_t mac[6], uint32_t *mac0, uint32_t *mac1);

#endif /* UL_ESP32_H */
