/* SPDX-License-Identifier: MIT */
/*
 * api_esp32.h - the daemon's ESP32 verbs: the ROM probe run once when a
 * board of type esp32 appears with a serial port on this machine, and the
 * control-API methods `probe`, `bootloader` and `boot`. The port's work
 * (a 150 ms SYNC, esptool's DTR/RTS resets, waiting for a port that
 * re-enumerates) runs on a worker thread; the results go to the tracker
 * (the board's fw_state, a PROBED event) on the loop.
 *
 * usblabd never fights another program for a port: no probe while the
 * board is leased (the automatic one) or while another process has the
 * tty open (every probe and reset; found by reading /proc/PID/fd,
 * esp32_port.h).
 */
#ifndef UL_API_ESP32_H
#define UL_API_ESP32_H

#include <event2/event.h>

#include "tracker.h"

struct api_esp32;

/* Where the port helpers look: "/proc" and "/sys" on a machine. */
struct api_esp32_roots {
	const char *proc;
	const char *sys;
};

/* Starts the worker and subscribes to t for arrivals. roots NULL: the
 * machine's. Returns NULL when out of memory or threads. */
struct api_esp32 *api_esp32_new(struct event_base *base, struct tracker *t,
                                const struct api_esp32_roots *roots);
/* Waits for the jobs running (their replies are sent), unsubscribes and
 * frees. Before api_free() and tracker_free(). NULL is accepted. */
void api_esp32_free(struct api_esp32 *m);

/* The automatic probes started and skipped so far (for tests and logs). */
unsigned api_esp32_auto_probes(const struct api_esp32 *m);
unsigned api_esp32_auto_skipped(const struct api_esp32 *m);

/* The methods probe, bootloader and boot are declared in api_call.h. */

#endif /* UL_API_ESP32_H */
