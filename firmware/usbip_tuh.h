/* SPDX-License-Identifier: MIT */
/*
 * usbip_tuh.h - the TinyUSB host backend of the firmware module.
 *
 * A TinyUSB application host driver (usbh_app_driver_get_cb) claims every
 * interface of each device that passes the VID:PID filter, reads its
 * device and configuration descriptors once it is mounted, and exports it
 * through lib/usbip's usbip_device_ops (usbip_tuh_ops), the same contract
 * usblabd's sim and libusb backends implement. CMD_SUBMITs become
 * tuh_control_xfer / tuh_edpt_xfer calls, their completions RET_SUBMITs.
 *
 * What TinyUSB cannot do, and what the module answers then:
 *   - ISO: TinyUSB's host stack has no isochronous transfers. ISO endpoints
 *     are reported as ISO (so the framing is parsed right) and every ISO
 *     URB completes at once with -EINVAL (-USBIP_EINVAL).
 *   - Abort of a started transfer: TinyUSB runs one transfer per endpoint
 *     and the RP2040's hcd_edpt_abort_xfer is "not implemented". Queued
 *     URBs (ours, behind the started one) are unlinked exactly; a started
 *     one is answered at once with -ECONNRESET while the controller is left
 *     to finish it into a buffer the pool holds, whose data is dropped.
 *   - SET_CONFIGURATION to another value than the one TinyUSB chose STALLs;
 *     port reset answers success without resetting (TinyUSB can only reset
 *     the bus, which re-enumerates every device); alternate settings are
 *     forwarded but their endpoints are not reopened.
 *   - Transfers above 65535 bytes (usbh takes a uint16_t length): -EINVAL.
 * Single context: every function here and every TinyUSB callback runs
 * where tuh_task() runs, the same context as lwIP's callbacks.
 */
#ifndef USBIP_TUH_H
#define USBIP_TUH_H

#include <stdbool.h>
#include <stdint.h>

#include "usbip_server.h"

enum usbip_tuh_event {
	USBIP_TUH_ATTACHED = 1, /* a device is exported (after its descriptors are read) */
	USBIP_TUH_DETACHED = 2, /* it was unplugged or the server stopped; exp goes away */
};

/* Event hook: called on the core's thread; exp is valid during the call. */
typedef void (*usbip_tuh_event_fn)(void *ctx, int event, const struct usbip_export *exp);

extern const struct usbip_device_ops usbip_tuh_ops;

/*
 * Starts exporting to srv: devices already read are added at once, later
 * ones when mounted. Only devices matching vid:pid are claimed at
 * enumeration and exported (vid == 0 && pid == 0: every device; pid == 0:
 * every product of vid). fn may be NULL.
 */
void usbip_tuh_start(struct usbip_server *srv, uint16_t vid, uint16_t pid, usbip_tuh_event_fn fn,
                     void *ctx);

/* Takes every device out of srv (their clients' connections close) and
 * stops exporting. Devices stay claimed and are exported again by the next
 * usbip_tuh_start(). */
void usbip_tuh_stop(void);

/* Retries what TinyUSB refused because its single control pipe was busy
 * (control URBs, descriptor reads). Call after every tuh_task(). */
void usbip_tuh_poll(void);

/* What devices() reports for one device. */
struct usbip_tuh_info {
	char busid[USBIP_BUSID_SIZE];
	uint16_t vid, pid;
	bool exported; /* in the server's table now */
	bool imported; /* a client holds it */
};

/* Fills up to max entries for the claimed devices; returns how many. */
unsigned usbip_tuh_devices(struct usbip_tuh_info *out, unsigned max);

#endif /* USBIP_TUH_H */
