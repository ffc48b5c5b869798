/* SPDX-License-Identifier: MIT */
/*
 * power.h - switching a board's hub port off and on (bench-facts.md "Hub
 * port power"). Blocking: every call here reads sysfs or talks to a hub,
 * so the daemon runs them on a worker thread (offload.h), never on its
 * loop. Whether the board really lost power is decided elsewhere, by its
 * departure (api_power.c): many hubs claim switching and leave VBUS on.
 *
 * Two methods:
 *  - sysfs (Linux >= 6.0): write 1/0 to the port's `disable` file
 *    (/sys/bus/usb/devices/1-1:1.0/1-1-port2/disable); the kernel drops
 *    the device, then clears (or sets) PORT_POWER itself;
 *  - hub-request: hub class SET/CLEAR_FEATURE(PORT_POWER) on the hub's
 *    control endpoint (USB 2.0 §11.24.2.7, §11.24.2.13), as uhubctl does.
 * A USB3 hub is two hubs, a USB2 half and a USB3 half with the same BOS
 * Container ID; both halves' ports are switched.
 */
#ifndef UL_POWER_H
#define UL_POWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hubdesc.h"

enum power_err {
	POWER_OK = 0,
	POWER_E_LOCATION = -1,     /* the board's location names no hub port (virtual, vhci) */
	POWER_E_NO_HUB = -2,       /* no such hub or port in sysfs */
	POWER_E_NO_SWITCHING = -3, /* the hub says it has no power switching */
	POWER_E_ACCESS = -4,       /* permission denied (sysfs file or usbfs node) */
	POWER_E_IO = -5,           /* the write or the request failed */
	POWER_E_METHOD = -6,       /* the method asked for is not available here */
};

/* The stable code of an error, for the control API ("no_switching", ...). */
const char *power_err_code(int err);

enum power_method {
	POWER_METHOD_AUTO = 0, /* sysfs when the kernel has it, else hub-request */
	POWER_METHOD_SYSFS,
	POWER_METHOD_HUBREQ,
};

const char *power_method_name(enum power_method m);
/* "auto", "sysfs", "hub-request" -> the method, or -1. */
int power_method_parse(const char *name);

/*
 * How power.c reaches a hub's control endpoint. Every member may block;
 * hub is the hub's sysfs name ("1-1", "usb2"). Each returns the bytes
 * read (descriptors) or 0 (port_power), or a negative errno.
 */
struct power_io {
	/* GET_DESCRIPTOR(hub class, type 0x29 or 0x2A) into buf. */
	int (*hub_descriptor)(void *ctx, const char *hub, uint8_t type, uint8_t *buf, size_t cap);
	/* GET_DESCRIPTOR(BOS) into buf. -EPIPE (a stall) for hubs without one. */
	int (*bos)(void *ctx, const char *hub, uint8_t *buf, size_t cap);
	/* SET_FEATURE (on) or CLEAR_FEATURE (off) PORT_POWER on port. */
	int (*port_power)(void *ctx, const char *hub, unsigned port, bool on);
};

/* The real thing: libusb, the device found by its sysfs busnum/devnum.
 * ctx is a struct power_libusb (power_libusb_new). */
extern const struct power_io power_io_libusb;
struct power_libusb;
struct power_libusb *power_libusb_new(const char *sysfs_root);
void power_libusb_free(struct power_libusb *p);

struct power_env {
	const char *sysfs_root; /* "/sys/bus/usb/devices" */
	const struct power_io *io;
	void *io_ctx;
	const char *kernel_release; /* uname -r; NULL: ask uname() */
};

/* One half of a hub: the port to switch. */
struct power_port {
	char hub[32];
	unsigned port;
	bool superspeed;
	bool have_desc; /* the hub descriptor was read */
	struct hubdesc desc;
	bool have_cid;
	uint8_t cid[16];
};

/* What power_plan() found: the port (and its USB3/USB2 peer), the method. */
struct power_plan {
	struct power_port main;
	bool have_peer;
	struct power_port peer;
	enum power_method method;
	char note[256]; /* why there is no peer, a ganged hub, ...; "" when nothing to say */
};

/*
 * Finds the hub port of the device at location ("1-1.2"), reads its hub's
 * descriptor and Container ID, finds the hub's other half among the hubs
 * in sysfs, and picks the method (want, or AUTO). Returns POWER_OK with
 * *plan, or an error with a sentence in err (a hub without power switching
 * is POWER_E_NO_SWITCHING: "hub 1-1 has no power switching
 * (wHubCharacteristics 0x000a) ...").
 */
int power_plan(const struct power_env *env, const char *location, enum power_method want,
               struct power_plan *plan, char *err, size_t errlen);

/*
 * Switches the plan's port(s) off or on. Returns POWER_OK, or an error
 * with a sentence in err; a peer that fails after the main port switched
 * is reported in err with POWER_OK (the board's own port did switch).
 */
int power_switch(const struct power_env *env, const struct power_plan *plan, bool on, char *err,
                 size_t errlen);

/* "hub 1-1 port 2 (per-port), USB3 half 2-1 port 2" into out. */
void power_plan_describe(const struct power_plan *plan, char *out, size_t cap);

/* Linux >= 6.0 (the port's `disable` file), from a release "6.1.0-56-amd64". */
bool power_kernel_has_disable(const char *release);

#endif /* UL_POWER_H */
