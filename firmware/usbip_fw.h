/* SPDX-License-Identifier: MIT */
/*
 * usbip_fw.h - the firmware module as one unit: the server core, the URB
 * pool, the lwIP transport and the TinyUSB backend wired together. The
 * MicroPython binding (micropython/modusbip.c) calls only this.
 */
#ifndef USBIP_FW_H
#define USBIP_FW_H

#include <stdbool.h>
#include <stdint.h>

#include "usbip_tuh.h"

/* Starts serving on port, exporting the devices that match vid:pid (0 for
 * any). fn (may be NULL) hears attach and detach events. Returns 0, or a
 * negative usbip_err (USBIP_E_STATE when running, see usbip_lwip_start). */
int usbip_fw_start(uint16_t port, uint16_t vid, uint16_t pid, usbip_tuh_event_fn fn, void *ctx);

/* Closes every connection and the listener and unexports every device.
 * A no-op when stopped. */
void usbip_fw_stop(void);

/* Whether the server runs. */
bool usbip_fw_running(void);

/* Deferred work (see usbip_lwip_service). Call after every tuh_task(),
 * in the context lwIP's callbacks run in. */
void usbip_fw_task(void);

#endif /* USBIP_FW_H */
