/* SPDX-License-Identifier: MIT */
/*
 * sim_dev.h - what every sim device shares: its descriptors and identity,
 * the standard requests on ep0, endpoint halt state, the URBs it holds
 * per endpoint, and the usbip_device_ops that dispatch to its class
 * (sim_cdc, sim_hid, sim_msc).
 *
 * A sim device is a state machine driven by URBs: no timers. A class
 * either completes a URB inside submit or holds it on its endpoint's queue
 * until data arrives or the core cancels it. Given a loop (sim_set_loop),
 * what would block the loop (msc's file I/O, the test aid's delay) runs on
 * the device's offload worker, and completes back on the loop's thread;
 * device state is only ever touched there.
 */
#ifndef SIM_DEV_H
#define SIM_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "offload.h"
#include "sim.h"
#include "sim_desc.h"
#include "usbip_server.h"

/* Endpoint addresses 0x00..0x0f and 0x80..0x8f map to slots 0..31. */
#define SIM_EP_SLOTS    32
#define SIM_EP_SLOT(a)  ((unsigned)(((a)&0x0fu) | (((a)&0x80u) ? 16u : 0u)))
#define SIM_URB_ADDR(u) ((uint8_t)((u)->ep | ((u)->dir_in ? 0x80 : 0)))

#define SIM_CTRL_MAX   512 /* largest IN data stage a sim device produces */
#define SIM_STRINGS    4   /* string indexes 0 (LANGID) .. 3 (serial) */
#define SIM_SERIAL_MAX 32

/* URBs held on one endpoint, oldest first, linked through backend_priv. */
struct sim_urbq {
	struct usbip_urb *head, *tail;
};

/* One control request (USB 2.0 §9.3), setup decoded. For an IN request,
 * buf has SIM_CTRL_MAX bytes of room; for OUT it holds the len bytes of
 * the data stage. */
struct sim_ctrl {
	uint8_t bmRequestType;
	uint8_t bRequest;
	uint16_t wValue;
	uint16_t wIndex;
	uint16_t wLength;
	uint8_t *buf;
	uint32_t len;
};

struct sim_dev;

/* The slow part of an open or special request (the delay: test aid). */
struct sim_slow {
	struct offload_job job; /* first: the job's address is the struct's */
	struct sim_dev *dev;
	uint8_t what; /* enum in sim_dev.c */
	uint8_t value;
};

/*
 * A device class. Each member runs on the core's thread, from one of the
 * usbip_device_ops, and must not block.
 */
struct sim_class {
	const char *name;

	/* Back to the power-on state: called at import and at a port reset. It must not take or
	 * complete held URBs: the common code ends those (a reset completes them after restart
	 * returns). */
	void (*restart)(struct sim_dev *dev);

	/* A class request on ep0, or a standard one addressed to an interface
	 * that the common code does not serve (HID's GET_DESCRIPTOR). For IN,
	 * writes the reply to c->buf and returns its full length (the caller
	 * cuts it to wLength); for OUT returns 0. -USBIP_EPIPE stalls. */
	int (*control)(struct sim_dev *dev, const struct sim_ctrl *c);

	/* A URB on one of the class's endpoints (the caller has checked that
	 * it exists and is not halted; status and actual_length are 0).
	 * Returns 0 having completed or held it, or a negative usbip_errno. */
	int (*submit)(struct sim_dev *dev, struct usbip_urb *urb);

	/* After a CLEAR_FEATURE(ENDPOINT_HALT) on one of its endpoints.
	 * Optional. */
	void (*halt_cleared)(struct sim_dev *dev, uint8_t ep_addr);

	/* Frees the class state. */
	void (*destroy)(struct sim_dev *dev);

	/* The device is plugged in again (sim_replug): power_on after a
	 * cable pull, false when it re-enumerates on its own (a chip reset).
	 * The class may change its identity (sim_dev_set_identity) and must
	 * leave the state of a fresh import, as restart does. Optional: NULL
	 * calls restart. */
	void (*plug)(struct sim_dev *dev, bool power_on);
};

/* Identity a class gives its device. */
struct sim_identity {
	struct sim_desc_ids ids;
	const char *product;    /* string 2 */
	const char *serial_tag; /* string 3 is "USBLAB-<tag>-<index>" */
};

struct sim_dev {
	struct usbip_export exp; /* exp.priv points back here */
	const struct sim_class *cls;
	void *cls_state;
	unsigned index;

	uint8_t device_desc[SIM_DEVICE_DESC_SIZE];
	uint8_t config_desc[SIM_CONFIG_MAX];
	size_t config_len;
	const char *strings[SIM_STRINGS];
	char serial[SIM_SERIAL_MAX];

	/* From the configuration descriptor: type and interface per slot. */
	int8_t ep_type[SIM_EP_SLOTS];
	uint8_t ep_intf[SIM_EP_SLOTS];
	uint8_t num_interfaces;

	sim_clock_fn clock; /* NULL: no clock */
	void *clock_ctx;

	/* Work off the loop (sim_set_loop); NULL: everything runs inline. */
	struct offload *work;
	unsigned delay_ms; /* "delay:MS:" (sim.h): a test aid, needs work */
	struct sim_slow slow;

	/* Unplug and re-enumeration (sim.h). */
	const struct sim_owner_ops *owner;
	void *owner_ctx;
	bool unplugged; /* off the bus: every op fails with -USBIP_ENODEV */
	bool released;  /* ... and the core has let go of it (release()) */

	/* State. */
	uint8_t config;  /* bConfigurationValue now: 0 or 1 */
	uint32_t halted; /* bit per slot */
	struct sim_urbq held[SIM_EP_SLOTS];
};

/* Sets the device descriptor and strings from id. */
void sim_dev_set_identity(struct sim_dev *dev, const struct sim_identity *id);

/* Called once the class has built config_desc: indexes the endpoints and
 * fills exp (info, ifs, ops, priv). */
void sim_dev_finish(struct sim_dev *dev);

/* Reads the device's clock into *us; false when it has none. */
bool sim_dev_now(const struct sim_dev *dev, uint64_t *us);

/* CLOCK_MONOTONIC in microseconds (the default clock). */
uint64_t sim_dev_monotonic_us(void *ctx);

/* Sleeps the device's delay_ms (the test aid; 0: returns at once). For
 * the worker thread only: delay_ms does not change after sim_create(). */
void sim_dev_delay(const struct sim_dev *dev);

/* The device asks its owner to take it off the bus and bring it back as
 * what it has become (sim_owner_ops.reenumerate); without an owner it
 * stays as it is. For classes, from inside a device op. */
void sim_dev_reenumerate(struct sim_dev *dev);

/* sim_unplug() and sim_replug() (sim.h) on the device. */
int sim_dev_unplug(struct sim_dev *dev);
int sim_dev_replug(struct sim_dev *dev, bool power_on);

/* The ops of every sim device. */
extern const struct usbip_device_ops sim_dev_ops;

/* Completes urb with status and actual_length. A short IN transfer with
 * USBIP_URB_SHORT_NOT_OK becomes -USBIP_EREMOTEIO, as a host controller
 * reports it. The URB goes back to the core: do not touch it afterwards,
 * and call this last, after the device state is updated (the core may
 * call back into the device from inside). */
void sim_dev_complete(struct usbip_urb *urb, int32_t status, int32_t actual);

/* Holds urb on its endpoint's queue. */
void sim_dev_hold(struct sim_dev *dev, struct usbip_urb *urb);
/* The oldest URB held on ep_addr, or NULL. */
struct usbip_urb *sim_dev_peek(struct sim_dev *dev, uint8_t ep_addr);
/* Takes the oldest URB held on ep_addr off its queue, or returns NULL. */
struct usbip_urb *sim_dev_take(struct sim_dev *dev, uint8_t ep_addr);

/* Halts ep_addr (the device STALLs it) and completes every URB held on
 * it with -USBIP_EPIPE. The halt stays until CLEAR_FEATURE(ENDPOINT_HALT),
 * SET_INTERFACE, SET_CONFIGURATION or a reset. */
void sim_dev_stall(struct sim_dev *dev, uint8_t ep_addr);

#endif /* SIM_DEV_H */
