/* SPDX-License-Identifier: MIT */
/*
 * fake_core.h - lib/usbip's server core against a recording transport and
 * a scriptable backend, for cmocka tests (tests/server, tests/async): what
 * the core sends is recorded in a struct fake_rec, what it asks of a device
 * is counted in a struct fake_dev, and URBs the backend takes are held there
 * until the test completes them.
 *
 * Uses cmocka's asserts: include it from cmocka test programs only.
 */
#ifndef TEST_FAKE_CORE_H
#define TEST_FAKE_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "usbip_server.h"

/* What the core sent on a connection, and what it notified. The server's
 * ctx is one; a connection whose transport pointer is another records
 * there instead. */
struct fake_rec {
	uint8_t out[1 << 20];
	size_t outlen;
	int closed; /* times close() was called */
	int close_reason;
	size_t live;              /* bytes allocated and not freed (server's rec only) */
	int imported, unimported; /* notifications (server's rec only) */
};

/* One fake device: what the core asked of it, and what it answers. */
struct fake_dev {
	struct usbip_urb *held[64]; /* URBs taken by submit() and not completed */
	int nheld;
	int submits, cancels, opens, closes, releases;
	int set_config, set_config_value, set_intf, clear_halt, resets;
	uint8_t halt_ep;
	int open_rc;       /* what open() returns */
	int reset_rc;      /* what reset() returns */
	int special_rc;    /* what set_configuration() returns */
	int complete_now;  /* >= 0: submit() completes at once with this many IN bytes */
	int cancel_status; /* status a cancel completes a held URB with */
	int cancel_keeps;  /* cancel() only counts: the URB stays (a reset in progress) */
};

/* The recording transport: usbip_server_init(srv, &fake_core_transport_ops,
 * &rec). Its members are exported for tests that build their own table
 * with other hooks. send() copies into the rec and frees the URB. */
extern const struct usbip_server_ops fake_core_transport_ops;
void *fake_core_alloc(void *ctx, size_t size);
void fake_core_free(void *ctx, void *p, size_t size);
int fake_core_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb);
void fake_core_close(struct usbip_conn *conn, int reason);
void fake_core_imported(struct usbip_conn *conn, struct usbip_export *exp);
void fake_core_unimported(struct usbip_export *exp);

/* The fake backend. Endpoints: 0x81/0x01 bulk, 0x82 interrupt, 0x83/0x03
 * ISO, others unknown. */
extern const struct usbip_device_ops fake_core_dev_ops;

/* Fills e as a high-speed 1209:0010 device with a CDC pair of interfaces,
 * served by fake_core_dev_ops on f (zeroed: URBs held, cancels complete
 * them with -ECONNRESET). The caller adds it with usbip_server_add_export. */
void fake_core_export_init(struct usbip_export *e, struct fake_dev *f, const char *busid,
                           uint32_t busnum, uint32_t devnum);

/* Removes urb from f's held URBs (the test completes it). Fails the test
 * when f does not hold it. */
void fake_core_take(struct fake_dev *f, struct usbip_urb *urb);

/* Completes the URB f took last with status and no data. Fails the test
 * when f holds none. */
void fake_core_complete_last(struct fake_dev *f, int status);

#endif
