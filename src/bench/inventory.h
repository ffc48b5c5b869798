/* SPDX-License-Identifier: MIT */
/*
 * inventory.h - the machine's USB devices and their device files, from
 * udev: a monitor started before the initial scan (so nothing that happens
 * in between is missed), then one callback per arrival, departure and change
 * of device files. Root hubs are left out.
 */
#ifndef UL_INVENTORY_H
#define UL_INVENTORY_H

#include <stddef.h>

#include <event2/event.h>

#include "event.h"

struct inventory;
struct udev_device;

/* Called on the loop's thread. */
struct inventory_ops {
	void (*arrived)(void *arg, const struct ul_devfacts *dev);
	void (*departed)(void *arg, const char *busid);
	/* The device files under a present device changed. */
	void (*nodes)(void *arg, const char *busid, const char *devnodes);
};

/* Starts the monitor on base, then scans (arrived() once per device
 * present). Returns 0, or -1 with a reason in err (no udev). When udevd is
 * not running the scan still works but no later change is seen; *warning
 * (may be NULL) then points at a sentence saying so. */
int inventory_start(struct inventory **out, struct event_base *base,
                    const struct inventory_ops *ops, void *arg, const char **warning, char *err,
                    size_t errlen);

void inventory_stop(struct inventory *inv);

/* Fills dev from a udev usb_device (busid, port, vid, pid, serial, speed,
 * device files of its interfaces' children). Returns 0, or -1 when it is
 * not a usb_device or is a root hub. */
int inventory_facts(struct udev_device *usbdev, struct ul_devfacts *dev);

#endif /* UL_INVENTORY_H */
