/* SPDX-License-Identifier: MIT */
/*
 * sim.h - the `sim` backend: virtual USB devices served through the
 * usbip_device_ops contract (lib/usbip/include/usbip_server.h).
 *
 * A spec names one device:
 *   cdc            CDC-ACM serial port that echoes what the host writes
 *   cdc:SCRIPT     ... that answers lines as the script file says
 *                  (lines "WHEN => SAY"; syntax in sim_cdc.h)
 *   hid            HID boot keyboard that types "usblab\n" once per import
 *   hid:TEXT       ... that types TEXT (escapes \n \r \t \b \e \\ \xHH)
 *   msc            USB mass storage on a 16 MiB RAM disk
 *   msc:ram:SIZE   ... on a RAM disk of SIZE bytes (suffix K, M or G;
 *                  a non-zero multiple of 512, at most 1G)
 *   msc:FILE       ... on FILE (read and written in place; its size must be
 *                  a non-zero multiple of 512; "./ram:x" for a file named
 *                  ram:x)
 *   esp32          ESP32 on its USB-Serial/JTAG port (303a:1001, serial
 *                  "USBLAB-ESP32-N"): a running app that echoes, or the
 *                  ROM bootloader after esptool's reset (sim_esp32.h)
 *   esp32:reenum   ESP32-S3 on its USB-OTG port, which re-enumerates at
 *                  each chip reset: the app as 303a:4001 (serial
 *                  "USBLAB-ESP32-N"), the ROM as 303a:0002 (serial
 *                  "USBLAB-ESP32ROM-N"); needs an owner (sim_set_owner)
 *   delay:MS:SPEC  a test aid: the device SPEC, whose open (import),
 *                  SET_CONFIGURATION, port reset and (msc:FILE) each
 *                  medium read or write take MS milliseconds (1..60000)
 *                  more on its worker thread, as a slow real device does
 *                  under libusb; needs sim_set_loop() (without a loop the
 *                  delay is ignored)
 * The device's busid is "0-N" for index N (1..255), busnum 0, devnum N.
 * Vendor 0x1209 (pid.codes), products 0x0001 cdc, 0x0002 hid, 0x0003 msc,
 * serial numbers "USBLAB-CDC-N" and so on; high speed.
 */
#ifndef SIM_H
#define SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "usbip_server.h"

/* Creates the device for one spec. On success *out is a filled export,
 * ready for usbip_server_add_export(), and 0 is returned. On failure
 * returns -1 and writes a one-line reason to err. */
int sim_create(const char *spec, unsigned index, struct usbip_export **out, char *err,
               size_t errlen);

/* A monotonic clock in microseconds; ctx is sim_set_clock()'s. */
typedef uint64_t (*sim_clock_fn)(void *ctx);

/* Sets the clock a device reads. Devices never wait on it (there are no
 * timers: URBs drive everything); the keyboard only checks it between
 * polls before it starts typing (sim_hid.h). sim_create() installs
 * CLOCK_MONOTONIC; NULL means no clock, and waits are then counted in
 * host polls alone (deterministic, for tests and ports without a clock). */
void sim_set_clock(struct usbip_export *exp, sim_clock_fn clock, void *ctx);

/* The serial number of a virtual device ("USBLAB-CDC-1"), or NULL when exp
 * is not one of sim's. */
const char *sim_serial(const struct usbip_export *exp);

/* Gives the device a worker thread whose jobs complete through base: msc's
 * file I/O and the delay test aid then run off the loop. Without it every
 * operation runs inline (tests, ports without threads). Returns 0, or -1
 * when out of memory or fds. */
int sim_set_loop(struct usbip_export *exp, struct event_base *base);

/* Frees a device made by sim_create(), once the core has released it
 * (sim's usbip_device_ops.release only marks it released: the owner
 * calls this). */
void sim_destroy(struct usbip_export *exp);

/* ---- unplug, replug, re-enumeration ------------------------------------ */

/*
 * What the owner of a virtual device (usblabd) hears from it. Both run on
 * the core's thread from inside a device op or the core: the owner defers
 * what it does about them to its loop. ctx is sim_set_owner()'s.
 */
struct sim_owner_ops {
	/* The device leaves the bus and comes back as what it has become, as
	 * an ESP32-S3 does on USB-OTG when its chip resets (esp32:reenum).
	 * The owner then does as for an unplug and a replug: sim_unplug(),
	 * usbip_server_remove_export(), and once released (a real device
	 * takes some 100 ms to come back) sim_replug(exp, false) and
	 * usbip_server_add_export(). */
	void (*reenumerate)(void *ctx, struct usbip_export *exp);
	/* The core let go of an unplugged device (usbip_device_ops.release):
	 * it may be replugged now. Optional. */
	void (*released)(void *ctx, struct usbip_export *exp);
};

/* Sets (or with ops NULL clears) the device's owner. */
void sim_set_owner(struct usbip_export *exp, const struct sim_owner_ops *ops, void *ctx);

/* Pulls the cable: every URB the device holds completes with
 * -USBIP_ENODEV, and every later submit, open or special request fails
 * so, as for a device that is gone. The owner then takes the export out
 * of the server (usbip_server_remove_export), which ends the importing
 * connection. Returns 0, or -1 when it is unplugged already. */
int sim_unplug(struct usbip_export *exp);

/* Whether the device is unplugged; and whether the core has released it
 * since (only then may it be replugged). */
bool sim_is_unplugged(const struct usbip_export *exp);
bool sim_is_released(const struct usbip_export *exp);

/* Plugs it back in: power_on after sim_unplug (the device starts as it
 * was created: an ESP32 runs its app), false for its own re-enumeration
 * (it keeps its state and shows its new identity). exp->info is updated;
 * the owner then adds it to the server again. Returns 0, or -1 when it is
 * not unplugged or the core still holds it. */
int sim_replug(struct usbip_export *exp, bool power_on);

#endif /* SIM_H */
