/* SPDX-License-Identifier: MIT */
/*
 * sim_desc.c - USB 2.0 descriptors for the sim devices (see sim_desc.h).
 */
#include "sim_desc.h"

#include <assert.h>
#include <string.h>

#include "usbip.h"

void sim_desc_device(uint8_t out[SIM_DEVICE_DESC_SIZE], const struct sim_desc_ids *ids)
{
	out[0] = SIM_DEVICE_DESC_SIZE;
	out[1] = SIM_DT_DEVICE;
	usbip_put_le16(out + 2, 0x0200); /* bcdUSB 2.00: no BOS descriptor asked */
	out[4] = ids->bDeviceClass;
	out[5] = ids->bDeviceSubClass;
	out[6] = ids->bDeviceProtocol;
	out[7] = SIM_EP0_MAX_PACKET;
	usbip_put_le16(out + 8, ids->idVendor != 0 ? ids->idVendor : SIM_VENDOR_ID);
	usbip_put_le16(out + 10, ids->idProduct);
	usbip_put_le16(out + 12, ids->bcdDevice);
	out[14] = 1; /* iManufacturer */
	out[15] = 2; /* iProduct */
	out[16] = 3; /* iSerialNumber */
	out[17] = 1; /* bNumConfigurations */
}

void sim_desc_qualifier(uint8_t out[SIM_QUALIFIER_DESC_SIZE],
                        const uint8_t device[SIM_DEVICE_DESC_SIZE])
{
	out[0] = SIM_QUALIFIER_DESC_SIZE;
	out[1] = SIM_DT_QUALIFIER;
	memcpy(out + 2, device + 2, 6); /* bcdUSB, class triple, bMaxPacketSize0 */
	out[8] = device[17];            /* bNumConfigurations */
	out[9] = 0;
}

static uint8_t *builder_room(struct sim_desc_builder *b, size_t n)
{
	assert(b->len + n <= b->cap);
	uint8_t *p = b->buf + b->len;
	b->len += n;
	return p;
}

void sim_desc_begin(struct sim_desc_builder *b, uint8_t *buf, size_t cap)
{
	b->buf = buf;
	b->cap = cap;
	b->len = 0;
	uint8_t *p = builder_room(b, SIM_CONFIG_DESC_SIZE);
	p[0] = SIM_CONFIG_DESC_SIZE;
	p[1] = SIM_DT_CONFIG;
	usbip_put_le16(p + 2, 0); /* wTotalLength: sim_desc_end */
	p[4] = 0;                 /* bNumInterfaces: sim_desc_end */
	p[5] = 1;                 /* bConfigurationValue */
	p[6] = 0;                 /* iConfiguration */
	p[7] = 0x80;              /* bus powered, no remote wakeup */
	p[8] = 50;                /* 100 mA */
}

void sim_desc_interface(struct sim_desc_builder *b, uint8_t number, uint8_t num_endpoints,
                        uint8_t cls, uint8_t subclass, uint8_t protocol)
{
	uint8_t *p = builder_room(b, 9);
	p[0] = 9;
	p[1] = SIM_DT_INTERFACE;
	p[2] = number;
	p[3] = 0; /* bAlternateSetting */
	p[4] = num_endpoints;
	p[5] = cls;
	p[6] = subclass;
	p[7] = protocol;
	p[8] = 0;
}

void sim_desc_endpoint(struct sim_desc_builder *b, uint8_t address, uint8_t attributes,
                       uint16_t max_packet, uint8_t interval)
{
	uint8_t *p = builder_room(b, 7);
	p[0] = 7;
	p[1] = SIM_DT_ENDPOINT;
	p[2] = address;
	p[3] = attributes;
	usbip_put_le16(p + 4, max_packet);
	p[6] = interval;
}

void sim_desc_raw(struct sim_desc_builder *b, const uint8_t *desc, size_t len)
{
	assert(len >= 2 && desc[0] == len);
	memcpy(builder_room(b, len), desc, len);
}

size_t sim_desc_end(struct sim_desc_builder *b)
{
	size_t off = 0;
	const uint8_t *d;
	uint8_t nif = 0;

	while ((d = sim_desc_next(b->buf, b->len, &off)) != NULL) {
		if (d[1] == SIM_DT_INTERFACE && d[3] == 0)
			nif++;
	}
	assert(off == b->len && b->len <= 0xffff);
	usbip_put_le16(b->buf + 2, (uint16_t)b->len);
	b->buf[4] = nif;
	return b->len;
}

size_t sim_desc_string(uint8_t *out, size_t cap, const char *ascii)
{
	size_t n = strlen(ascii);

	if (n > SIM_STRING_MAX_CHARS)
		n = SIM_STRING_MAX_CHARS;
	assert(cap >= 2 + 2 * n);
	out[0] = (uint8_t)(2 + 2 * n);
	out[1] = SIM_DT_STRING;
	for (size_t i = 0; i < n; i++)
		usbip_put_le16(out + 2 + 2 * i, (uint8_t)ascii[i]);
	return 2 + 2 * n;
}

size_t sim_desc_langid(uint8_t out[4])
{
	out[0] = 4;
	out[1] = SIM_DT_STRING;
	usbip_put_le16(out + 2, 0x0409);
	return 4;
}

/* A high-speed interrupt bInterval n means 2^(n-1) microframes of 125 µs;
 * at full speed bInterval counts 1 ms frames (USB 2.0 table 9-13). */
static uint8_t interval_hs_to_fs(uint8_t n)
{
	if (n < 1)
		n = 1;
	if (n > 16)
		n = 16;
	uint32_t frames = (1u << (n - 1)) / 8;

	if (frames < 1)
		return 1;
	return frames > 255 ? 255 : (uint8_t)frames;
}

size_t sim_desc_other_speed(const uint8_t *config, size_t len, uint8_t *out)
{
	size_t off = 0;
	uint8_t *d;

	memcpy(out, config, len);
	out[1] = SIM_DT_OTHER_SPEED;
	while ((d = (uint8_t *)sim_desc_next(out, len, &off)) != NULL) {
		if (d[1] != SIM_DT_ENDPOINT || d[0] < 7)
			continue;
		switch (d[3] & 0x03) {
		case 0x02: /* bulk: full speed allows at most 64 */
			usbip_put_le16(d + 4, 64);
			break;
		case 0x03: /* interrupt */
			if (usbip_get_le16(d + 4) > 64)
				usbip_put_le16(d + 4, 64);
			d[6] = interval_hs_to_fs(d[6]);
			break;
		default:
			break;
		}
	}
	return len;
}

const uint8_t *sim_desc_next(const uint8_t *config, size_t len, size_t *off)
{
	if (*off + 2 > len)
		return NULL;
	const uint8_t *d = config + *off;

	if (d[0] < 2 || *off + d[0] > len)
		return NULL;
	*off += d[0];
	return d;
}
