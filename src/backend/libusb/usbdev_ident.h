/* SPDX-License-Identifier: MIT */
/*
 * usbdev_ident.h - stable device identities of the libusb backend.
 *
 * A user names the device to export by something that survives unplug and
 * re-enumeration: "serial=ABC" (iSerialNumber), "VID:PID" (hex) or a
 * physical port path "1-4.2" (bus-port.port..., the Linux busid format).
 * The bus address (devnum) is never part of an identity: it changes at each
 * enumeration. Pure functions, no I/O.
 */
#ifndef USBDEV_IDENT_H
#define USBDEV_IDENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usbip.h"

/* USB allows 7 tiers below the root hub. */
#define USBDEV_MAX_PORTS 7
/* A USB string descriptor holds at most 126 UTF-16 units; sysfs gives UTF-8. */
#define USBDEV_SERIAL_SIZE 384

/* What the backend knows about one device without doing I/O on it. */
struct usbdev_facts {
	uint8_t busnum;
	uint8_t devnum;
	uint8_t ports[USBDEV_MAX_PORTS];
	uint8_t nports;               /* 0 for a root hub */
	char busid[USBIP_BUSID_SIZE]; /* "2-1", "1-4.2"; "usbN" for a root hub */
	uint16_t vid, pid;
	uint8_t dev_class;               /* bDeviceClass */
	int speed;                       /* enum libusb_speed */
	char serial[USBDEV_SERIAL_SIZE]; /* "" when the device has none */
	bool on_vhci;                    /* its bus is a vhci_hcd root hub: an import */
};

enum usbdev_ident_kind {
	USBDEV_IDENT_SERIAL = 1,
	USBDEV_IDENT_VIDPID = 2,
	USBDEV_IDENT_PORT = 3,
};

struct usbdev_ident {
	enum usbdev_ident_kind kind;
	uint16_t vid, pid;               /* USBDEV_IDENT_VIDPID */
	char serial[USBDEV_SERIAL_SIZE]; /* USBDEV_IDENT_SERIAL */
	char busid[USBIP_BUSID_SIZE];    /* USBDEV_IDENT_PORT, canonical */
};

/* Longest text usbdev_ident_format() writes, NUL included. */
#define USBDEV_IDENT_TEXT_SIZE (sizeof("serial=") + USBDEV_SERIAL_SIZE)

/*
 * Parses "serial=ABC", "VID:PID" (1-4 hex digits each) or a port path
 * "B-P[.P]..." (decimal, bus 1-255, ports 1-255, at most 7 levels).
 * Returns 0, or -1 with a one-line reason in why (static text).
 */
int usbdev_ident_parse(const char *text, struct usbdev_ident *id, const char **why);

/* Writes the canonical text of id ("serial=ABC", "46f4:0001", "1-4.2").
 * Returns what snprintf returns. */
int usbdev_ident_format(const struct usbdev_ident *id, char *buf, size_t len);

/* Whether the device described by f has identity id. */
bool usbdev_ident_match(const struct usbdev_ident *id, const struct usbdev_facts *f);

/* Parses a Linux busid "B-P[.P]..." into bus and ports. Returns 0, or -1
 * with a reason in why ("usbN" root hubs and interfaces "B-P:C.I" are
 * refused). */
int usbdev_busid_parse(const char *text, uint8_t *bus, uint8_t ports[USBDEV_MAX_PORTS],
                       uint8_t *nports, const char **why);

/* Formats the Linux busid "B-P.P..." of bus and ports into buf, or "usbB"
 * when nports is 0. Returns 0, or -1 when it does not fit. */
int usbdev_busid_format(char *buf, size_t len, uint8_t bus, const uint8_t *ports, unsigned nports);

/* Whether a device may be exported: not a hub, not on a vhci_hcd root hub
 * (an import of ours or of another server's). When not, *why says why. */
bool usbdev_facts_exportable(const struct usbdev_facts *f, const char **why);

/* Orders devices by bus, then port path, numerically ("1-2" < "1-10"). */
int usbdev_facts_compare(const struct usbdev_facts *a, const struct usbdev_facts *b);

#endif /* USBDEV_IDENT_H */
