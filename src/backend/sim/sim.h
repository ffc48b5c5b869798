/* SPDX-License-Identifier: MIT */
/*
 * sim.h - the `sim` backend: virtual USB devices served through the
 * usbip_device_ops contract (lib/usbip/include/usbip_server.h).
 *
 * A spec names one device:
 *   cdc            CDC-ACM serial port that echoes what the host writes
 *   cdc:SCRIPT     ... that answers lines as the script file says
 *   hid            HID boot keyboard that types "usblab\n" once per import
 *   hid:TEXT       ... that types TEXT
 *   msc            USB mass storage on a 16 MiB RAM disk
 *   msc:FILE       ... on FILE (read and written in place)
 * The device's busid is "0-N" for index N (1-based), busnum 0, devnum N.
 */
#ifndef SIM_H
#define SIM_H

#include <stddef.h>

#include "usbip_server.h"

/* Creates the device for one spec. On success *out is a filled export,
 * ready for usbip_server_add_export(), and 0 is returned. On failure
 * returns -1 and writes a one-line reason to err. */
int sim_create(const char *spec, unsigned index, struct usbip_export **out, char *err,
               size_t errlen);

/* Frees a device made by sim_create(), once the core has released it. */
void sim_destroy(struct usbip_export *exp);

#endif /* SIM_H */
