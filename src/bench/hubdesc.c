/* SPDX-License-Identifier: MIT */
/*
 * hubdesc.c - hub descriptors, Container IDs, ports from locations,
 * pairing (hubdesc.h). Every length comes from the device and is checked
 * before it is used.
 */
#include "hubdesc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *hubdesc_strerror(int err)
{
	switch (err) {
	case HUBDESC_OK:
		return "ok";
	case HUBDESC_E_SHORT:
		return "descriptor too short";
	case HUBDESC_E_TYPE:
		return "not a hub descriptor";
	case HUBDESC_E_BAD:
		return "malformed";
	case HUBDESC_E_NOTFOUND:
		return "not present";
	}
	return "unknown error";
}

const char *hubdesc_power_name(enum hubdesc_power p)
{
	switch (p) {
	case HUBDESC_POWER_GANGED:
		return "ganged";
	case HUBDESC_POWER_PER_PORT:
		return "per-port";
	case HUBDESC_POWER_NONE:
		return "none";
	}
	return "?";
}

static uint16_t get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

/* Reads a little-endian bitmap of nbytes (at most 4) from p. */
static uint32_t get_bitmap(const uint8_t *p, size_t nbytes)
{
	uint32_t v = 0;

	for (size_t i = 0; i < nbytes && i < 4; i++)
		v |= (uint32_t)p[i] << (8 * i);
	return v;
}

int hubdesc_parse(const uint8_t *buf, size_t len, struct hubdesc *out)
{
	size_t blen, bitmap;

	memset(out, 0, sizeof(*out));
	if (len < 2)
		return HUBDESC_E_SHORT;
	if (buf[1] != HUBDESC_TYPE_USB2 && buf[1] != HUBDESC_TYPE_USB3)
		return HUBDESC_E_TYPE;
	blen = buf[0];
	/* bLength, type, nports, characteristics (2), pwron, current: 7 */
	if (blen < 7)
		return HUBDESC_E_BAD;
	if (len < blen)
		return HUBDESC_E_SHORT;
	out->superspeed = buf[1] == HUBDESC_TYPE_USB3;
	out->nports = buf[2];
	if (out->nports == 0 || out->nports > HUBDESC_MAX_PORTS)
		return HUBDESC_E_BAD;
	out->characteristics = get_le16(buf + 3);
	/* Bits 1:0; 10 and 11 both mean no switching (USB 2.0 Table 11-13). */
	switch (out->characteristics & 0x3) {
	case 0:
		out->power = HUBDESC_POWER_GANGED;
		break;
	case 1:
		out->power = HUBDESC_POWER_PER_PORT;
		break;
	default:
		out->power = HUBDESC_POWER_NONE;
		break;
	}
	out->pwron_ms = buf[5] * 2u;
	if (out->superspeed) {
		/* USB 3.2 Table 10-3: ... bHubHdrDecLat, wHubDelay, then a
		 * 16-bit DeviceRemovable at offset 10: 12 bytes. */
		if (blen < 12)
			return HUBDESC_E_BAD;
		out->removable = get_le16(buf + 10);
		return HUBDESC_OK;
	}
	/* USB2: DeviceRemovable and PortPwrCtrlMask, each one bit per port
	 * plus bit 0, rounded up to bytes (§11.23.2.1). Hubs that send a
	 * shorter descriptor exist; take what is there. */
	bitmap = (out->nports + 1u + 7u) / 8u;
	if (blen >= 7 + bitmap)
		out->removable = get_bitmap(buf + 7, bitmap);
	if (blen >= 7 + 2 * bitmap)
		out->pwrctrlmask = get_bitmap(buf + 7 + bitmap, bitmap);
	return HUBDESC_OK;
}

int hubdesc_bos_container_id(const uint8_t *buf, size_t len, uint8_t id[16], bool *superspeed)
{
	size_t total, off;
	int rc = HUBDESC_E_NOTFOUND;

	if (superspeed)
		*superspeed = false;
	if (len < 5)
		return HUBDESC_E_SHORT;
	if (buf[1] != HUBDESC_TYPE_BOS)
		return HUBDESC_E_TYPE;
	if (buf[0] < 5)
		return HUBDESC_E_BAD;
	total = get_le16(buf + 2);
	if (total < buf[0])
		return HUBDESC_E_BAD;
	if (total > len)
		return HUBDESC_E_SHORT;
	for (off = buf[0]; off < total;) {
		size_t clen = buf[off];

		/* A capability is bLength, type 0x10, capability type, ... */
		if (clen < 3 || off + clen > total)
			return HUBDESC_E_BAD;
		if (buf[off + 1] == HUBDESC_TYPE_CAP) {
			uint8_t cap = buf[off + 2];

			if (cap == HUBDESC_CAP_SUPERSPEED && superspeed)
				*superspeed = true;
			/* bLength 20: header 3, bReserved, the 16-byte UUID. */
			if (cap == HUBDESC_CAP_CONTAINER_ID && rc == HUBDESC_E_NOTFOUND) {
				if (clen < 20)
					return HUBDESC_E_BAD;
				memcpy(id, buf + off + 4, 16);
				rc = HUBDESC_OK;
			}
		}
		off += clen;
	}
	return rc;
}

void hubdesc_uuid_format(const uint8_t id[16], char *out, size_t cap)
{
	/* Fields 1-3 are little-endian on the wire (as lsusb prints them:
	 * a UUID in Microsoft's GUID byte order, USB 3.2 §9.6.2.3). */
	snprintf(out, cap, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
	         id[3], id[2], id[1], id[0], id[5], id[4], id[7], id[6], id[8], id[9], id[10],
	         id[11], id[12], id[13], id[14], id[15]);
}

/* Parses a decimal number from 1 to max at *p, advancing *p. */
static int parse_num(const char **p, unsigned max, unsigned *out)
{
	const char *s = *p;
	unsigned v = 0;

	if (*s < '0' || *s > '9' || (*s == '0' && s[1] >= '0' && s[1] <= '9'))
		return -1;
	while (*s >= '0' && *s <= '9') {
		v = v * 10 + (unsigned)(*s - '0');
		if (v > max)
			return -1;
		s++;
	}
	*p = s;
	*out = v;
	return 0;
}

int hubdesc_port_of(const char *location, char *hub, size_t hub_cap, unsigned *port, bool *root)
{
	const char *p = location, *last_sep = NULL;
	unsigned bus, v, depth = 0;
	int n;

	if (!location || parse_num(&p, 255, &bus) < 0 || bus == 0 || *p != '-')
		return HUBDESC_E_BAD;
	for (;;) {
		last_sep = p;
		p++;
		/* Port numbers are 1..255 on the wire; a hub has at most 31 on
		 * Linux, a root hub up to 255 (xHCI). */
		if (parse_num(&p, 255, &v) < 0 || v == 0)
			return HUBDESC_E_BAD;
		depth++;
		if (*p == '\0')
			break;
		if (*p != '.' || depth >= 7) /* USB allows 5 hubs deep; 7 is generous */
			return HUBDESC_E_BAD;
	}
	*port = v;
	*root = depth == 1;
	if (*root)
		n = snprintf(hub, hub_cap, "usb%u", bus);
	else
		n = snprintf(hub, hub_cap, "%.*s", (int)(last_sep - location), location);
	if (n < 0 || (size_t)n >= hub_cap)
		return HUBDESC_E_SHORT;
	return HUBDESC_OK;
}

int hubdesc_port_dir(const char *hub, unsigned port, char *out, size_t cap)
{
	int n;

	/* A root hub "usbN" has its interface at "N-0:1.0". */
	if (strncmp(hub, "usb", 3) == 0)
		n = snprintf(out, cap, "%s-0:1.0/%s-port%u", hub + 3, hub, port);
	else
		n = snprintf(out, cap, "%s:1.0/%s-port%u", hub, hub, port);
	if (n < 0 || (size_t)n >= cap)
		return HUBDESC_E_SHORT;
	return HUBDESC_OK;
}

/* The part of a hub's location after its bus: "1-4.1" -> "4.1"; a root
 * hub "usb2" -> "" (root hubs pair with root hubs). */
static const char *after_bus(const char *name)
{
	const char *dash = strchr(name, '-');

	if (strncmp(name, "usb", 3) == 0)
		return "";
	return dash ? dash + 1 : name;
}

int hubdesc_pick_peer(const struct hubdesc_hub *hubs, size_t n, size_t self)
{
	const struct hubdesc_hub *me = &hubs[self];
	int found = -1, matches = 0, by_place = -1, places = 0;

	if (!me->has_cid)
		return -1;
	for (size_t i = 0; i < n; i++) {
		const struct hubdesc_hub *h = &hubs[i];

		if (i == self || !h->has_cid || h->superspeed == me->superspeed ||
		    memcmp(h->cid, me->cid, 16) != 0)
			continue;
		found = (int)i;
		matches++;
		if (strcmp(after_bus(h->name), after_bus(me->name)) == 0) {
			by_place = (int)i;
			places++;
		}
	}
	if (matches <= 1)
		return found;
	return places == 1 ? by_place : -2;
}
