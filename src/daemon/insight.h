/* SPDX-License-Identifier: MIT */
/*
 * insight.h - the USB Insight Hub's displays (docs/bench-facts.md): a
 * tracker subscriber that shows, on the TFT of each of the hub's ports, the
 * board plugged into it (name, state, holder), through the hub's ESP32
 * controller and its JSON-lines serial API.
 *
 * It pushes every channel at once on any tracker event and every 2 s
 * regardless (the firmware blanks text after 4.5 s of silence). Writes
 * never block the loop: a bounded queue, frames dropped (and counted) when
 * it is full. A tty that errs or goes away is closed and reopened every 2 s
 * (or, auto-detected, found again), what was shown forgotten.
 */
#ifndef UL_INSIGHT_H
#define UL_INSIGHT_H

#include <stddef.h>

/* The USB product string of the hub's controller (its CDC-ACM serial port
 * on the hub's port 4; the usb-device design's hub agent matches on it). */
#define INSIGHT_PRODUCT "InsightHUB Controller"
/* insight_start()'s tty that asks for auto-detection. */
#define INSIGHT_AUTO "auto"

struct event_base;
struct tracker;
struct insight;

/* Starts driving the hub's controller at tty (its CDC-ACM device, e.g.
 * /dev/ttyACM0; a missing tty is retried, not an error). location is the
 * hub's port path ("20-3"): a board whose port (or busid, for a virtual
 * device) is LOCATION.N... or LOCATION-N... is on channel N (1..3); NULL
 * or "" means "0", where virtual devices 0-1, 0-2, 0-3 are.
 * tty INSIGHT_AUTO (location NULL): the hub is found with insight_find()
 * under $USBLAB_SYSFS (default /sys) and $USBLAB_DEVDIR (default /dev), at
 * start, on each device arrival and every 2 s while none is open; after a
 * loss it is found afresh (another tty, another port). Subscribes to
 * tracker. Returns 0, or -1 with a reason in err. */
int insight_start(struct insight **out, struct event_base *base, struct tracker *tracker,
                  const char *tty, const char *location, char *err, size_t errlen);
/* Unsubscribes and closes the tty; NULL is a no-op. */
void insight_stop(struct insight *in);

/* Looks for the hub's controller among sysfs's USB devices
 * (SYSFS/bus/usb/devices/BUSID/product == INSIGHT_PRODUCT) and its tty
 * (BUSID:C.I/tty/NAME -> DEVDIR/NAME). Returns 0 with tty and location (the
 * hub's port path: BUSID without its last segment) set; 1 when the
 * controller is there but has no tty yet; -1 when there is none. */
int insight_find(const char *sysfs, const char *devdir, char *tty, size_t ttylen, char *location,
                 size_t loclen);

/* The channel (1..3) of port path path behind a hub at location, or 0. */
int insight_channel(const char *location, const char *path);

#endif /* UL_INSIGHT_H */
