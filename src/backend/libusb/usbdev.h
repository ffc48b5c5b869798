/* SPDX-License-Identifier: MIT */
/*
 * usbdev.h - the `libusb` backend: real USB devices exported from
 * userspace, followed across unplug and re-enumeration.
 */
#ifndef USBDEV_H
#define USBDEV_H

#include <event2/event.h>

#include "usbip_server.h"

struct usbdev_ctx;

/* Starts libusb on base's loop (all libusb fds and timeouts go through it)
 * and hotplug. Returns 0, or -1 with a reason in err. */
int usbdev_init(struct usbdev_ctx **out, struct event_base *base, struct usbip_server *srv,
                char *err, size_t errlen);

/* Exports, now and whenever it (re)appears, the device with this identity:
 * "serial=ABC", "VID:PID" (hex), or a port path such as "1-4.2". Returns 0,
 * or -1 with a reason in err for a malformed identity. */
int usbdev_watch(struct usbdev_ctx *ctx, const char *identity, char *err, size_t errlen);

/* Prints the host's USB devices, one per line, to stdout (usblabd --list).
 * Returns how many it printed (0: it said on stderr that it found none), or
 * -1 when they cannot be listed. */
int usbdev_print_list(struct usbdev_ctx *ctx);

/* Unexports everything (kernel drivers re-attached) and stops libusb. */
void usbdev_exit(struct usbdev_ctx *ctx);

#endif /* USBDEV_H */
