/* SPDX-License-Identifier: MIT */
/*
 * esp32.c - the ESP32 ROM bootloader's serial protocol (see esp32.h).
 */
#include "esp32.h"

#include <string.h>

static void put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (unsigned i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

const char *esp32_strerror(int err)
{
	switch (err) {
	case ESP32_OK:
		return "ok";
	case ESP32_E_NOSPC:
		return "buffer too small";
	case ESP32_E_PROTO:
		return "malformed packet";
	case ESP32_E_SLIP:
		return "bad SLIP frame";
	default:
		return "unknown error";
	}
}

long esp32_slip_encode(const uint8_t *pkt, size_t n, uint8_t *out, size_t cap)
{
	size_t need = 2;

	for (size_t i = 0; i < n; i++)
		need += (pkt[i] == ESP32_SLIP_END || pkt[i] == ESP32_SLIP_ESC) ? 2 : 1;
	if (out == NULL)
		return (long)need;
	if (cap < need)
		return ESP32_E_NOSPC;

	size_t o = 0;

	out[o++] = ESP32_SLIP_END;
	for (size_t i = 0; i < n; i++) {
		if (pkt[i] == ESP32_SLIP_END) {
			out[o++] = ESP32_SLIP_ESC;
			out[o++] = ESP32_SLIP_ESC_END;
		} else if (pkt[i] == ESP32_SLIP_ESC) {
			out[o++] = ESP32_SLIP_ESC;
			out[o++] = ESP32_SLIP_ESC_ESC;
		} else {
			out[o++] = pkt[i];
		}
	}
	out[o++] = ESP32_SLIP_END;
	return (long)o;
}

void esp32_slip_rx_init(struct esp32_slip_rx *rx)
{
	memset(rx, 0, sizeof(*rx));
}

int esp32_slip_rx_byte(struct esp32_slip_rx *rx, uint8_t c)
{
	if (rx->done) {
		rx->done = false;
		rx->len = 0;
	}
	if (c == ESP32_SLIP_END) {
		bool had = rx->in_frame && (rx->len > 0 || rx->bad || rx->esc);
		bool bad = rx->bad || rx->esc;

		/* One 0xC0 both closes a frame and opens the next: a lost byte
		 * costs one frame, and "C0 C0" between frames is harmless. */
		rx->in_frame = true;
		rx->esc = false;
		rx->bad = false;
		if (!had)
			return 0;
		if (bad) {
			rx->len = 0;
			return ESP32_E_SLIP;
		}
		rx->done = true;
		return 1;
	}
	if (!rx->in_frame || rx->bad)
		return 0; /* noise between frames (a boot log), or a frame being dropped */
	if (rx->esc) {
		rx->esc = false;
		if (c == ESP32_SLIP_ESC_END) {
			c = ESP32_SLIP_END;
		} else if (c == ESP32_SLIP_ESC_ESC) {
			c = ESP32_SLIP_ESC;
		} else {
			rx->bad = true;
			return 0;
		}
	} else if (c == ESP32_SLIP_ESC) {
		rx->esc = true;
		return 0;
	}
	if (rx->len == sizeof(rx->buf)) {
		rx->bad = true;
		return 0;
	}
	rx->buf[rx->len++] = c;
	return 0;
}

long esp32_frame(uint8_t dir, const struct esp32_packet *p, uint8_t *out, size_t cap)
{
	uint8_t pkt[ESP32_PACKET_MAX];

	if (dir > 1 || p->len > ESP32_PACKET_MAX - ESP32_HEADER_LEN)
		return ESP32_E_PROTO;
	pkt[0] = dir;
	pkt[1] = p->op;
	put_le16(pkt + 2, p->len);
	put_le32(pkt + 4, p->word);
	if (p->len > 0)
		memcpy(pkt + ESP32_HEADER_LEN, p->data, p->len);
	return esp32_slip_encode(pkt, ESP32_HEADER_LEN + (size_t)p->len, out, cap);
}

long esp32_frame_sync(uint8_t *out, size_t cap)
{
	uint8_t data[ESP32_SYNC_DATA_LEN] = {0x07, 0x07, 0x12, 0x20};
	const struct esp32_packet p = {.op = ESP32_OP_SYNC, .data = data, .len = sizeof(data)};

	memset(data + 4, 0x55, sizeof(data) - 4);
	return esp32_frame(0, &p, out, cap);
}

long esp32_frame_read_reg(uint32_t addr, uint8_t *out, size_t cap)
{
	uint8_t data[4];
	const struct esp32_packet p = {.op = ESP32_OP_READ_REG, .data = data, .len = 4};

	put_le32(data, addr);
	return esp32_frame(0, &p, out, cap);
}

int esp32_parse(uint8_t dir, const uint8_t *pkt, size_t n, struct esp32_packet *p)
{
	if (n < ESP32_HEADER_LEN || pkt[0] != dir)
		return ESP32_E_PROTO;
	uint16_t len = get_le16(pkt + 2);

	if ((size_t)len != n - ESP32_HEADER_LEN)
		return ESP32_E_PROTO;
	p->op = pkt[1];
	p->len = len;
	p->word = get_le32(pkt + 4);
	p->data = pkt + ESP32_HEADER_LEN;
	return ESP32_OK;
}

bool esp32_sync_data_ok(const struct esp32_packet *p)
{
	static const uint8_t head[4] = {0x07, 0x07, 0x12, 0x20};

	if (p->op != ESP32_OP_SYNC || p->len != ESP32_SYNC_DATA_LEN ||
	    memcmp(p->data, head, sizeof(head)) != 0)
		return false;
	for (size_t i = sizeof(head); i < ESP32_SYNC_DATA_LEN; i++) {
		if (p->data[i] != 0x55)
			return false;
	}
	return true;
}

uint8_t esp32_rom_status(const struct esp32_packet *p)
{
	if (p->len < ESP32_ROM_STATUS_LEN)
		return 0xff;
	const uint8_t *st = p->data + p->len - ESP32_ROM_STATUS_LEN;

	return st[0] == 0 ? 0 : (st[1] != 0 ? st[1] : 0xff);
}

void esp32_mac_from_efuse(uint32_t mac0, uint32_t mac1, uint8_t mac[6])
{
	mac[0] = (uint8_t)(mac1 >> 8);
	mac[1] = (uint8_t)mac1;
	mac[2] = (uint8_t)(mac0 >> 24);
	mac[3] = (uint8_t)(mac0 >> 16);
	mac[4] = (uint8_t)(mac0 >> 8);
	mac[5] = (uint8_t)mac0;
}

void esp32_efuse_from_mac(const uint8_t mac[6], uint32_t *mac0, uint32_t *mac1)
{
	*mac1 = ((uint32_t)mac[0] << 8) | mac[1];
	*mac0 = ((uint32_t)mac[2] << 24) | ((uint32_t)mac[3] << 16) | ((uint32_t)mac[4] << 8) |
	        mac[5];
}
