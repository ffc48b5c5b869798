/* SPDX-License-Identifier: MIT */
/*
 * usbdev_desc.h - what the libusb backend reads from raw USB descriptors:
 * the interfaces of the active configuration (for DEVLIST and for claiming)
 * and the transfer type of each endpoint under the current alternate
 * settings (for ops->ep_type). Pure functions over bytes; they never read
 * past the length given.
 *
 * The input is what Linux caches for a device and shows in sysfs
 * `descriptors`: the 18-byte device descriptor, then every configuration
 * descriptor with its interface, endpoint and class descriptors.
 */
#ifndef USBDEV_DESC_H
#define USBDEV_DESC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usbip.h"

#define USBDEV_EP_NONE 0xff

/* The active configuration, as far as the backend needs it. */
struct usbdev_layout {
	uint8_t config_value; /* bConfigurationValue; 0 = unconfigured */
	uint8_t nif;          /* interface numbers in ifnum[] */
	uint8_t ifnum[USBIP_MAX_INTERFACES];
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES]; /* per ifnum[], current alt */
	/* Current alternate setting, by bInterfaceNumber. The caller sets it;
	 * usbdev_desc_layout() reads it. */
	uint8_t alt[256];
	/* Transfer type (enum usbip_ep_type) by endpoint: index (addr & 0x0f)
	 * for OUT, 16 + (addr & 0x0f) for IN; USBDEV_EP_NONE when absent. */
	uint8_t ep_type[32];
};

/*
 * Finds the configuration whose bConfigurationValue is value in blob
 * (device descriptor + configurations). On success sets *cfg and *cfglen
 * (wTotalLength, clipped to what blob holds) and returns 0; returns -1
 * when there is none or blob is malformed.
 */
int usbdev_desc_find_config(const uint8_t *blob, size_t len, uint8_t value, const uint8_t **cfg,
                            size_t *cfglen);

/*
 * Fills lay->config_value, nif, ifnum, ifs and ep_type from one
 * configuration descriptor and its sub-descriptors, taking for each
 * interface the alternate setting lay->alt[bInterfaceNumber] (alternate 0
 * supplies the class triple when the current one is missing). With cfg ==
 * NULL the layout becomes unconfigured (no interfaces, no endpoints but
 * ep0). Returns 0, or -1 when cfg is malformed or has more than
 * USBIP_MAX_INTERFACES interface numbers (the layout then holds what was
 * read before the fault).
 */
int usbdev_desc_layout(const uint8_t *cfg, size_t len, struct usbdev_layout *lay);

/* Whether cfg has alternate setting alt of interface ifnum. */
bool usbdev_desc_has_alt(const uint8_t *cfg, size_t len, uint8_t ifnum, uint8_t alt);

/* The enum usbip_ep_type of endpoint address ep_addr (bit 7 = IN), or -1
 * when the current settings have no such endpoint. ep0 is always control. */
int usbdev_layout_ep_type(const struct usbdev_layout *lay, uint8_t ep_addr);

#endif /* USBDEV_DESC_H */
