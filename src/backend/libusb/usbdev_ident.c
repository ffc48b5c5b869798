/* SPDX-License-Identifier: MIT */
#include "usbdev_ident.h"

#include <stdio.h>
#include <string.h>

#define SERIAL_PREFIX "serial="
#define USB_CLASS_HUB 0x09

/* Reads 1..max_digits digits of base (10 or 16) from *p into *out and
 * advances *p. Returns 0, or -1 when there is no digit or too many. */
static int parse_number(const char **p, unsigned base, unsigned max_digits, unsigned long *out)
{
	unsigned long v = 0;
	unsigned n = 0;
	const char *s = *p;

	for (;; s++, n++) {
		unsigned d;

		if (*s >= '0' && *s <= '9')
			d = (unsigned)(*s - '0');
		else if (base == 16 && *s >= 'a' && *s <= 'f')
			d = (unsigned)(*s - 'a' + 10);
		else if (base == 16 && *s >= 'A' && *s <= 'F')
			d = (unsigned)(*s - 'A' + 10);
		else
			break;
		if (n == max_digits)
			return -1;
		v = v * base + d;
	}
	if (n == 0)
		return -1;
	*p = s;
	*out = v;
	return 0;
}

int usbdev_busid_parse(const char *text, uint8_t *bus, uint8_t ports[USBDEV_MAX_PORTS],
                       uint8_t *nports, const char **why)
{
	unsigned long b, port;
	const char *p = text;

	*nports = 0;
	if (parse_number(&p, 10, 3, &b) < 0 || b < 1 || b > 255 || *p != '-') {
		*why = "a port path is BUS-PORT[.PORT]..., e.g. 1-4.2";
		return -1;
	}
	do {
		p++; /* the '-' or '.' */
		if (*nports == USBDEV_MAX_PORTS) {
			*why = "a port path has at most 7 levels";
			return -1;
		}
		if (parse_number(&p, 10, 3, &port) < 0 || port < 1 || port > 255) {
			*why = "ports in a port path are numbers 1-255";
			return -1;
		}
		ports[(*nports)++] = (uint8_t)port;
	} while (*p == '.');
	if (*p != '\0') {
		*why = "a port path is BUS-PORT[.PORT]..., e.g. 1-4.2";
		return -1;
	}
	*bus = (uint8_t)b;
	return 0;
}

static int parse_port_path(const char *text, struct usbdev_ident *id, const char **why)
{
	uint8_t ports[USBDEV_MAX_PORTS];
	uint8_t bus, nports;

	if (usbdev_busid_parse(text, &bus, ports, &nports, why) < 0)
		return -1;
	id->kind = USBDEV_IDENT_PORT;
	return usbdev_busid_format(id->busid, sizeof(id->busid), bus, ports, nports);
}

static int parse_vidpid(const char *text, struct usbdev_ident *id, const char **why)
{
	unsigned long vid, pid;
	const char *p = text;

	if (parse_number(&p, 16, 4, &vid) < 0 || *p++ != ':' || parse_number(&p, 16, 4, &pid) < 0 ||
	    *p != '\0') {
		*why = "VID:PID is two hex numbers of up to 4 digits, e.g. 046d:c52b";
		return -1;
	}
	id->kind = USBDEV_IDENT_VIDPID;
	id->vid = (uint16_t)vid;
	id->pid = (uint16_t)pid;
	return 0;
}

int usbdev_ident_parse(const char *text, struct usbdev_ident *id, const char **why)
{
	memset(id, 0, sizeof(*id));
	*why = NULL;
	if (strncmp(text, SERIAL_PREFIX, strlen(SERIAL_PREFIX)) == 0) {
		const char *serial = text + strlen(SERIAL_PREFIX);

		if (serial[0] == '\0' || strlen(serial) >= sizeof(id->serial)) {
			*why = "serial= needs the device's iSerialNumber string";
			return -1;
		}
		id->kind = USBDEV_IDENT_SERIAL;
		strcpy(id->serial, serial);
		return 0;
	}
	if (strchr(text, ':'))
		return parse_vidpid(text, id, why);
	if (strchr(text, '-'))
		return parse_port_path(text, id, why);
	*why = "an identity is serial=ABC, VID:PID (hex) or a port path such as 1-4.2";
	return -1;
}

int usbdev_ident_format(const struct usbdev_ident *id, char *buf, size_t len)
{
	switch (id->kind) {
	case USBDEV_IDENT_SERIAL:
		return snprintf(buf, len, SERIAL_PREFIX "%s", id->serial);
	case USBDEV_IDENT_VIDPID:
		return snprintf(buf, len, "%04x:%04x", id->vid, id->pid);
	case USBDEV_IDENT_PORT:
		return snprintf(buf, len, "%s", id->busid);
	}
	return snprintf(buf, len, "?");
}

bool usbdev_ident_match(const struct usbdev_ident *id, const struct usbdev_facts *f)
{
	switch (id->kind) {
	case USBDEV_IDENT_SERIAL:
		return f->serial[0] != '\0' && strcmp(id->serial, f->serial) == 0;
	case USBDEV_IDENT_VIDPID:
		return id->vid == f->vid && id->pid == f->pid;
	case USBDEV_IDENT_PORT:
		return f->nports > 0 && strcmp(id->busid, f->busid) == 0;
	}
	return false;
}

int usbdev_busid_format(char *buf, size_t len, uint8_t bus, const uint8_t *ports, unsigned nports)
{
	size_t used;
	int n;

	if (nports == 0)
		n = snprintf(buf, len, "usb%u", bus);
	else
		n = snprintf(buf, len, "%u-%u", bus, ports[0]);
	if (n < 0 || (size_t)n >= len)
		return -1;
	used = (size_t)n;
	for (unsigned i = 1; i < nports; i++) {
		n = snprintf(buf + used, len - used, ".%u", ports[i]);
		if (n < 0 || (size_t)n >= len - used)
			return -1;
		used += (size_t)n;
	}
	return 0;
}

bool usbdev_facts_exportable(const struct usbdev_facts *f, const char **why)
{
	if (f->nports == 0) {
		*why = "root hub";
		return false;
	}
	if (f->dev_class == USB_CLASS_HUB) {
		*why = "hub";
		return false;
	}
	if (f->on_vhci) {
		/* A device on vhci_hcd is an import (ours or another server's):
		 * exporting it again would loop (lab README). */
		*why = "on vhci_hcd (an imported device)";
		return false;
	}
	*why = NULL;
	return true;
}

int usbdev_facts_compare(const struct usbdev_facts *a, const struct usbdev_facts *b)
{
	unsigned n = a->nports < b->nports ? a->nports : b->nports;

	if (a->busnum != b->busnum)
		return a->busnum < b->busnum ? -1 : 1;
	for (unsigned i = 0; i < n; i++) {
		if (a->ports[i] != b->ports[i])
			return a->ports[i] < b->ports[i] ? -1 : 1;
	}
	if (a->nports != b->nports)
		return a->nports < b->nports ? -1 : 1;
	return 0;
}
