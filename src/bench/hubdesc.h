/* SPDX-License-Identifier: MIT */
/*
 * hubdesc.h - what a USB hub says about itself, pure: the hub class
 * descriptor (USB 2.0 §11.23.2.1, type 0x29; USB 3.2 §10.15.2.1, type
 * 0x2A) and its power switching mode, the BOS descriptor's Container ID
 * capability (USB 3.2 §9.6.2.3) that ties the two halves of a USB3 hub
 * together, the hub and port a board hangs off from its location ("1-1.2"
 * -> hub "1-1", port 2), and the choice of a hub's other half among the
 * hubs present. No I/O, no allocation (bench-facts.md "Hub port power").
 */
#ifndef UL_HUBDESC_H
#define UL_HUBDESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HUBDESC_TYPE_USB2        0x29
#define HUBDESC_TYPE_USB3        0x2a
#define HUBDESC_TYPE_BOS         0x0f
#define HUBDESC_TYPE_CAP         0x10 /* a device capability inside the BOS */
#define HUBDESC_CAP_CONTAINER_ID 0x04
#define HUBDESC_CAP_SUPERSPEED   0x03

/* The hub class's port feature selectors and request type (USB 2.0 §11.24.2). */
#define HUBDESC_REQTYPE_PORT      0x23 /* host-to-device, class, other (a port) */
#define HUBDESC_REQ_CLEAR_FEATURE 0x01
#define HUBDESC_REQ_SET_FEATURE   0x03
#define HUBDESC_FEAT_PORT_POWER   8

#define HUBDESC_MAX_PORTS 31 /* what a USB2 hub's bitmaps (and Linux) allow */

enum hubdesc_err {
	HUBDESC_OK = 0,
	HUBDESC_E_SHORT = -1,    /* fewer bytes than the descriptor says or needs */
	HUBDESC_E_TYPE = -2,     /* not the descriptor type expected */
	HUBDESC_E_BAD = -3,      /* a length or count that cannot be right */
	HUBDESC_E_NOTFOUND = -4, /* well formed, but without what was asked */
};

const char *hubdesc_strerror(int err);

/* wHubCharacteristics bits 1:0 (USB 2.0 Table 11-13). */
enum hubdesc_power {
	HUBDESC_POWER_GANGED = 0,   /* 00: all ports at once */
	HUBDESC_POWER_PER_PORT = 1, /* 01: each port on its own */
	HUBDESC_POWER_NONE = 2,     /* 1x: no power switching (USB 1.0 hubs, some others) */
};

const char *hubdesc_power_name(enum hubdesc_power p);

struct hubdesc {
	bool superspeed; /* a USB3 (type 0x2A) descriptor */
	uint8_t nports;
	uint16_t characteristics;
	enum hubdesc_power power;
	unsigned pwron_ms;    /* bPwrOn2PwrGood x 2 ms: how long power takes to be good */
	uint32_t removable;   /* bit n: port n's device is not removable (n = 1..31) */
	uint32_t pwrctrlmask; /* USB2 only: PortPwrCtrlMask as sent (bit n: port n), 0 for USB3 */
};

/*
 * Parses a hub descriptor of either type from buf[0..len). Reads only
 * bytes below both len and bLength. Returns HUBDESC_OK with *out,
 * HUBDESC_E_SHORT, HUBDESC_E_TYPE (neither 0x29 nor 0x2A), or
 * HUBDESC_E_BAD (no ports, more than HUBDESC_MAX_PORTS, a bLength shorter
 * than the fixed part).
 */
int hubdesc_parse(const uint8_t *buf, size_t len, struct hubdesc *out);

/*
 * Finds the Container ID capability in a BOS descriptor (the header and
 * its capabilities, wTotalLength bytes). Returns HUBDESC_OK with the 16
 * bytes in id, HUBDESC_E_NOTFOUND when the BOS has none, or an error for a
 * malformed BOS (a capability running past wTotalLength or len, a zero
 * bLength). *superspeed (may be NULL) tells whether a SuperSpeed USB
 * capability was seen.
 */
int hubdesc_bos_container_id(const uint8_t *buf, size_t len, uint8_t id[16], bool *superspeed);

/* Formats a Container ID as "5cf3ee30-d507-4925-b001-802d79434c30" (lsusb
 * prints it so); out needs 37 bytes. */
void hubdesc_uuid_format(const uint8_t id[16], char *out, size_t cap);

/*
 * The hub and port a device hangs off, from its location (its sysfs name,
 * "BUS-PORT[.PORT]..."): "1-1.2" -> hub "1-1", port 2; "3-4" -> the root
 * hub "usb3", port 4 (*root true). Returns HUBDESC_OK, or HUBDESC_E_BAD for
 * anything else ("", "1-", "1-1.0", "0-1" style virtual busids are fine as
 * text but bus 0 is refused: vhci and virtual devices have no hub to
 * switch), or HUBDESC_E_SHORT when hub_cap is too small.
 */
int hubdesc_port_of(const char *location, char *hub, size_t hub_cap, unsigned *port, bool *root);

/*
 * The sysfs directory name of a hub's port: hub "1-1" port 2 ->
 * "1-1:1.0/1-1-port2"; the root hub "usb3" port 4 -> "3-0:1.0/usb3-port4".
 * Returns HUBDESC_OK or HUBDESC_E_SHORT.
 */
int hubdesc_port_dir(const char *hub, unsigned port, char *out, size_t cap);

/* One hub present, for hubdesc_pick_peer(). */
struct hubdesc_hub {
	const char *name; /* its location: "1-1", "usb2" */
	bool superspeed;  /* the USB3 half (a SuperSpeed hub descriptor, bcdUSB >= 3) */
	bool has_cid;
	uint8_t cid[16];
};

/*
 * The other half of hubs[self] among hubs[0..n): the hub of the other
 * speed with the same Container ID. Several identical dual hubs carry the
 * same Container ID (it is in their firmware; uhubctl issue #248), so
 * when more than one matches, the one whose location after "BUS-" is the
 * same ("1-4.1" pairs with "2-4.1": both halves hang off the same ports
 * of the same parent pair) wins. Returns the index, -1 when none matches
 * (or self has no Container ID), -2 when several match and none by
 * location (the caller then switches only hubs[self] and says why).
 */
int hubdesc_pick_peer(const struct hubdesc_hub *hubs, size_t n, size_t self);

#endif /* UL_HUBDESC_H */
