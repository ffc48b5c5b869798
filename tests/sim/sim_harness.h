/* SPDX-License-Identifier: MIT */
/*
 * sim_harness.h - drives sim devices through their usbip_device_ops
 * directly, standing in for the server core: it builds URBs, submits them
 * and records usbip_urb_complete() calls (this harness defines that
 * function, so test programs using it must not link usbip_server.c's).
 */
#ifndef SIM_HARNESS_H
#define SIM_HARNESS_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "sim.h"
#include "usbip_server.h"

/* Creates a device for spec (failing the test otherwise) and opens it as
 * an import would. */
struct usbip_export *simh_create(const char *spec, unsigned index);
/* Closes (as the core does once no URB is in flight) and destroys. */
void simh_destroy(struct usbip_export *exp);

/* A URB for endpoint address ep_addr (bit 7 = IN) with length bytes of
 * zeroed data; ep_type is what exp says for it. */
struct usbip_urb *simh_urb(struct usbip_export *exp, uint8_t ep_addr, int32_t length);
void simh_urb_free(struct usbip_urb *urb);

/* Submits as the core does: a negative return is completed here with that
 * status. Returns the submit result. */
int simh_submit(struct usbip_export *exp, struct usbip_urb *urb);
/* How many times urb has been completed (0 while the device holds it;
 * more than 1 fails the test at once). */
unsigned simh_completions(const struct usbip_urb *urb);
/* Completions since the harness started. */
unsigned simh_total_completions(void);

/*
 * A control transfer on ep0. For IN, up to wLength bytes land in data
 * (which may be NULL when wLength is 0); for OUT, wLength bytes are sent
 * from data. Returns the URB's status (a stall is -USBIP_EPIPE) and sets
 * *actual when it is not NULL. Fails the test if the URB is held.
 */
int simh_control(struct usbip_export *exp, uint8_t bmRequestType, uint8_t bRequest, uint16_t wValue,
                 uint16_t wIndex, uint16_t wLength, void *data, int32_t *actual);

/* A bulk or interrupt OUT transfer that must complete at once; returns its
 * status. */
int simh_out(struct usbip_export *exp, uint8_t ep_addr, const void *data, size_t len);

/* An IN transfer of room bytes. Returns the URB (free it with
 * simh_urb_free), completed or held. */
struct usbip_urb *simh_in(struct usbip_export *exp, uint8_t ep_addr, int32_t room);

/* Writes len bytes to a new temporary file and returns its path (static
 * storage, valid until the next call). */
const char *simh_tmpfile(const void *content, size_t len);

#endif /* SIM_HARNESS_H */
