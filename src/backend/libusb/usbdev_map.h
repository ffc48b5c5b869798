/* SPDX-License-Identifier: MIT */
/*
 * usbdev_map.h - translations between USB/IP URB fields and libusb's
 * transfer fields, in one place: libusb transfer status and error codes to
 * the negative Linux errno that goes on the wire (usbip-protocol.md §4.4),
 * and USB/IP transfer_flags to libusb transfer flags (§3.6). Pure.
 */
#ifndef USBDEV_MAP_H
#define USBDEV_MAP_H

#include <stdbool.h>
#include <stdint.h>

#include <libusb.h>

/*
 * Wire status (0 or a negative usbip_errno) for a finished transfer.
 * gone: the device is known to have left; libusb then reports NO_DEVICE,
 * ERROR or CANCELLED, all of which become -ENODEV.
 * short_not_ok_short: the URB asked for SHORT_NOT_OK, is a non-ISO IN and
 * came back short. libusb turns such a transfer into ERROR; it goes out as
 * -EREMOTEIO, as the Linux stub sends it.
 */
int32_t usbdev_map_status(enum libusb_transfer_status st, bool gone, bool short_not_ok_short);

/* Negative usbip_errno for a libusb_error returned by a libusb call (e.g.
 * libusb_submit_transfer); 0 for LIBUSB_SUCCESS. */
int32_t usbdev_map_error(int libusb_error);

/* libusb transfer flags for a URB's transfer_flags on an endpoint of type
 * ep_type (enum usbip_ep_type) and direction dir_in: ZERO_PACKET on bulk
 * OUT, SHORT_NOT_OK on non-ISO IN; every other bit is dropped. */
uint8_t usbdev_map_flags(uint32_t transfer_flags, uint8_t ep_type, bool dir_in);

/* libusb transfer type for an enum usbip_ep_type. */
uint8_t usbdev_map_type(uint8_t ep_type);

#endif /* USBDEV_MAP_H */
