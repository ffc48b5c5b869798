/* SPDX-License-Identifier: MIT */
/*
 * usbdev_sysfs.h - what the libusb backend reads from Linux sysfs: facts
 * the kernel caches, so reading them does no I/O on the device (serial and
 * product strings, raw descriptors, the active configuration and alternate
 * settings), whether a bus belongs to vhci_hcd, and the device scan used
 * when hotplug events cannot be had (no udevd).
 *
 * Every function takes the sysfs mount point (root, "/sys" in production)
 * so tests can run on a tree of their own.
 */
#ifndef USBDEV_SYSFS_H
#define USBDEV_SYSFS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usbdev_ident.h"

#define USBDEV_SYSFS_ROOT "/sys"

/* Reads attribute name of USB device busid (root/bus/usb/devices/busid/name)
 * into buf, without its trailing newline. Returns the length, or -1 when
 * the attribute is missing or unreadable (buf is then ""). */
int usbdev_sysfs_attr(const char *root, const char *busid, const char *name, char *buf, size_t len);

/*
 * Reads string attribute name ("serial", "manufacturer", "product") of the
 * device f describes, as usbdev_sysfs_attr() does, except for a device on
 * vhci_hcd: -1 and "" then. The kernel takes a device's lock to show its
 * strings, and vhci's hub thread holds the lock of an imported device while
 * it waits for the USB/IP server, which may be this very process: reading
 * the string then hangs until the client gives up (seen in the lab).
 * f->busid and f->on_vhci must be set.
 */
int usbdev_sysfs_string(const char *root, const struct usbdev_facts *f, const char *name, char *buf,
                        size_t len);

/* Reads the raw descriptors (device + all configurations) of busid into a
 * malloc'd buffer that the caller frees. Returns the length, or -1. */
long usbdev_sysfs_descriptors(const char *root, const char *busid, uint8_t **blob);

/* The active bConfigurationValue of busid: 0 when unconfigured, -1 when
 * unknown. */
int usbdev_sysfs_config(const char *root, const char *busid);

/* The current alternate setting of interface ifnum of configuration cfg,
 * or -1 when unknown. */
int usbdev_sysfs_alt(const char *root, const char *busid, uint8_t cfg, uint8_t ifnum);

/* Whether USB bus busnum hangs off a vhci_hcd controller
 * (root/bus/usb/devices/usbN resolves to .../platform/vhci_hcd.N/usbN). */
bool usbdev_sysfs_bus_is_vhci(const char *root, unsigned busnum);

/* enum libusb_speed for a sysfs `speed` string ("1.5", "12", "480", "5000",
 * "10000", "20000"); LIBUSB_SPEED_UNKNOWN for anything else. */
int usbdev_sysfs_speed(const char *text);

/* Resolves root/bus/usb/devices/busid to its real path (e.g.
 * /sys/devices/pci0000:00/.../usb2/2-1), as usbipd reports it; falls back
 * to the link's own path. */
void usbdev_sysfs_path(const char *root, const char *busid, char *buf, size_t len);

/* Calls fn for each USB device (not root hubs, not interfaces) under
 * root, with its facts filled from sysfs alone. Stops when fn returns
 * non-zero and returns that value; returns -1 when the directory cannot be
 * read, else 0. */
int usbdev_sysfs_scan(const char *root, int (*fn)(const struct usbdev_facts *f, void *arg),
                      void *arg);

#endif /* USBDEV_SYSFS_H */
