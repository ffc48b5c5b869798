/* SPDX-License-Identifier: MIT */
/*
 * usbip_lwip.h - the lwIP raw-API TCP transport of the firmware module.
 *
 * Callbacks only, no RTOS, no socket API: one listening pcb and
 * USBIP_FW_CFG_MAX_CONNS static connection slots (lwIP's
 * contrib/apps/tcpecho_raw is the model). Received pbufs stay ours until
 * the core consumed their bytes, and only then does tcp_recved() open the
 * window again, so a core at its URB limit, or a client that does not read
 * its replies (output above USBIP_FW_CFG_TX_LIMIT), stops the peer. Output
 * is sent without copying: a reply's memory (its URB, or a pool block for
 * the small OP and RET_UNLINK replies) is freed when the peer acks it.
 *
 * Every function runs in lwIP's context (NO_SYS: the main loop or a timer;
 * with an OS: inside the tcpip thread or with LOCK_TCPIP_CORE held), the
 * same context as TinyUSB's callbacks.
 */
#ifndef USBIP_LWIP_H
#define USBIP_LWIP_H

#include <stdint.h>

#include "usbip_server.h"

/* The server ops of the module: alloc/free from the URB pool (usbip_fw_pool),
 * send/close by this transport. Pass to usbip_server_init(). */
extern const struct usbip_server_ops usbip_lwip_server_ops;

/*
 * Listens on port for srv (usbip_server_init'ed with usbip_lwip_server_ops)
 * and sets srv's per-connection limits to USBIP_FW_CFG_MAX_URBS and half
 * the pool. Returns 0, USBIP_E_NOMEM when lwIP has no pcb, USBIP_E_INVALID
 * when the port cannot be bound, USBIP_E_STATE when already started.
 */
int usbip_lwip_start(struct usbip_server *srv, uint16_t port);

/* Aborts every connection (their URBs come back through cancel) and closes
 * the listener. */
void usbip_lwip_stop(void);

/*
 * Work that cannot run inside the core's callbacks: feeds connections that
 * were paused at a limit once the limit is gone, and ends connections the
 * core closed. Call it after tuh_task() in the same context; lwIP's poll
 * timer also calls it for each connection every second.
 */
void usbip_lwip_service(void);

/* Connections open now. */
unsigned usbip_lwip_conn_count(void);

#endif /* USBIP_LWIP_H */
