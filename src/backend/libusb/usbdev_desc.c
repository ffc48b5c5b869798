/* SPDX-License-Identifier: MIT */
#include "usbdev_desc.h"

#include <string.h>

#include "usbip_server.h"

/* USB 2.0 §9.4 descriptor types and sizes. */
#define DT_DEVICE        1
#define DT_CONFIG        2
#define DT_INTERFACE     4
#define DT_ENDPOINT      5
#define DT_DEVICE_SIZE   18
#define DT_CONFIG_SIZE   9
#define DT_INTERFACE_LEN 9
#define DT_ENDPOINT_LEN  7

static unsigned ep_index(uint8_t ep_addr)
{
	return (ep_addr & 0x0fu) + ((ep_addr & 0x80u) ? 16u : 0u);
}

int usbdev_desc_find_config(const uint8_t *blob, size_t len, uint8_t value, const uint8_t **cfg,
                            size_t *cfglen)
{
	size_t off;

	if (len < DT_DEVICE_SIZE || blob[1] != DT_DEVICE)
		return -1;
	off = blob[0] >= DT_DEVICE_SIZE ? blob[0] : DT_DEVICE_SIZE;
	while (off + DT_CONFIG_SIZE <= len) {
		const uint8_t *c = blob + off;
		size_t total = usbip_get_le16(c + 2);

		if (c[1] != DT_CONFIG || c[0] < DT_CONFIG_SIZE || total < DT_CONFIG_SIZE)
			return -1;
		if (total > len - off)
			total = len - off;
		if (c[5] == value) {
			*cfg = c;
			*cfglen = total;
			return 0;
		}
		off += total;
	}
	return -1;
}

/* Steps through the sub-descriptors of a configuration: returns the one
 * at *off and moves *off past it, or NULL at the end. A descriptor whose
 * bLength is below 2 or runs past len ends the walk with *bad set. */
static const uint8_t *desc_next(const uint8_t *cfg, size_t len, size_t *off, bool *bad)
{
	const uint8_t *d = cfg + *off;

	if (*off + 2 > len)
		return NULL;
	if (d[0] < 2 || d[0] > len - *off) {
		*bad = true;
		return NULL;
	}
	*off += d[0];
	return d;
}

/* Position of interface number n in lay->ifnum[], adding it when new.
 * Returns -1 when the table is full. */
static int layout_slot(struct usbdev_layout *lay, uint8_t n)
{
	for (unsigned i = 0; i < lay->nif; i++) {
		if (lay->ifnum[i] == n)
			return (int)i;
	}
	if (lay->nif == USBIP_MAX_INTERFACES)
		return -1;
	lay->ifnum[lay->nif] = n;
	return lay->nif++;
}

int usbdev_desc_layout(const uint8_t *cfg, size_t len, struct usbdev_layout *lay)
{
	/* Whether the interface descriptor being walked is the current
	 * alternate setting: its endpoints count only then. */
	int current = 0;
	bool bad = false;
	const uint8_t *d;
	size_t off;

	lay->config_value = 0;
	lay->nif = 0;
	memset(lay->ifs, 0, sizeof(lay->ifs));
	memset(lay->ep_type, USBDEV_EP_NONE, sizeof(lay->ep_type));
	lay->ep_type[ep_index(0x00)] = USBIP_EP_CONTROL;
	lay->ep_type[ep_index(0x80)] = USBIP_EP_CONTROL;
	if (cfg == NULL)
		return 0;
	if (len < DT_CONFIG_SIZE || cfg[1] != DT_CONFIG || cfg[0] < DT_CONFIG_SIZE)
		return -1;
	lay->config_value = cfg[5];
	off = cfg[0];
	while ((d = desc_next(cfg, len, &off, &bad)) != NULL) {
		if (d[1] == DT_INTERFACE && d[0] >= DT_INTERFACE_LEN) {
			int slot = layout_slot(lay, d[2]);

			if (slot < 0)
				return -1;
			current = d[3] == lay->alt[d[2]];
			/* Alternate 0 is listed first; the current one wins. */
			if (current || d[3] == 0) {
				lay->ifs[slot].bInterfaceClass = d[5];
				lay->ifs[slot].bInterfaceSubClass = d[6];
				lay->ifs[slot].bInterfaceProtocol = d[7];
			}
		} else if (d[1] == DT_ENDPOINT && d[0] >= DT_ENDPOINT_LEN && current) {
			lay->ep_type[ep_index(d[2])] = d[3] & 0x03u;
		}
	}
	return bad ? -1 : 0;
}

bool usbdev_desc_has_alt(const uint8_t *cfg, size_t len, uint8_t ifnum, uint8_t alt)
{
	bool bad = false;
	const uint8_t *d;
	size_t off;

	if (cfg == NULL || len < DT_CONFIG_SIZE || cfg[0] < 2)
		return false;
	off = cfg[0];
	while ((d = desc_next(cfg, len, &off, &bad)) != NULL) {
		if (d[1] == DT_INTERFACE && d[0] >= DT_INTERFACE_LEN && d[2] == ifnum &&
		    d[3] == alt)
			return true;
	}
	return false;
}

int usbdev_layout_ep_type(const struct usbdev_layout *lay, uint8_t ep_addr)
{
	uint8_t t = lay->ep_type[ep_index(ep_addr)];

	return t == USBDEV_EP_NONE ? -1 : t;
}
