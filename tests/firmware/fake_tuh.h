/* SPDX-License-Identifier: MIT */
/*
 * fake_tuh.h - a fake of TinyUSB's host stack for the backend tests.
 *
 * It implements the functions of tusb_min/tusb.h the way TinyUSB's usbh.c
 * does: enumeration calls the application driver's open() per interface
 * with the rest of the configuration, then set_config() per claimed
 * interface, then tuh_mount_cb(); one transfer per endpoint (a second is
 * a violation) and one control transfer at a time for all devices (a
 * second is refused, as TinyUSB 0.18 does); completions are events delivered by fake_tuh_task()
 * with a tuh_xfer_t rebuilt as usbh does (no buffer, no buflen for endpoints); unplug calls
 * tuh_umount_cb() then the driver's close() and forgets what was in flight.
 *
 * The device side is the test's: fake_tuh_pending() shows what was
 * started, fake_tuh_complete() finishes it. An optional model hook runs
 * whenever a transfer starts and may complete it (fake_tuh_complete),
 * which is how descriptor reads are answered from the recorded tables.
 */
#ifndef FAKE_TUH_H
#define FAKE_TUH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tusb.h"

struct fake_xfer {
	bool busy;
	tuh_xfer_t x;               /* as given to tuh_*_xfer */
	tusb_control_request_t req; /* control: copy of the setup packet */
	uint32_t len;               /* bytes the buffer holds */
};

/* Hook run after a transfer starts on daddr/ep_addr (0 for control). */
typedef void (*fake_tuh_model_fn)(uint8_t daddr, uint8_t ep_addr, struct fake_xfer *xf);

/* Resets the fake and calls the application driver's init(). */
void fake_tuh_init(fake_tuh_model_fn model);

/* Plugs a device in and enumerates it as usbh does (0.21's parser, or
 * 0.19's when tusb_min says 0.19). The tables must stay valid until
 * unplug. Returns the number of interfaces bound to the driver. */
unsigned fake_tuh_attach(uint8_t daddr, const uint8_t *dev_desc, const uint8_t *cfg,
                         uint16_t cfg_len, tusb_speed_t speed);

/* Unplugs it: umount callback, driver close, transfers forgotten. */
void fake_tuh_detach(uint8_t daddr);

/* The started transfer on an endpoint, or NULL. */
struct fake_xfer *fake_tuh_pending(uint8_t daddr, uint8_t ep_addr);

/* Finishes the started transfer: IN data (up to the buffer) is written
 * now, the completion is delivered by the next fake_tuh_task(). Returns
 * false when nothing was started there. */
bool fake_tuh_complete(uint8_t daddr, uint8_t ep_addr, xfer_result_t result, const void *data,
                       uint32_t len);

/* Delivers queued completions, in order; returns how many. */
unsigned fake_tuh_task(void);

/* Rule breaks seen: a transfer on a busy endpoint or busy control pipe,
 * on a closed endpoint, or a tuh_edpt_abort_xfer call (the backend must
 * not rely on it: the RP2040 cannot abort). */
unsigned fake_tuh_violations(void);

/* Control transfers refused because the single control pipe was busy. */
unsigned fake_tuh_refusals(void);

/* Endpoints the driver opened on daddr, as a bit per slot (epnum*2+IN). */
uint32_t fake_tuh_opened(uint8_t daddr);

#endif /* FAKE_TUH_H */
