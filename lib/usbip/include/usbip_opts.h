/* SPDX-License-Identifier: MIT */
/*
 * usbip_opts.h - compile-time capacities of lib/usbip.
 *
 * Every capacity is a USBIP_CFG_* macro with a default here; a port
 * overrides it with -D or by including its own definitions first (the way
 * TinyUSB's tusb_option.h and lwIP's opt.h work).
 */
#ifndef USBIP_OPTS_H
#define USBIP_OPTS_H

/* Largest transfer_buffer_length accepted in a CMD_SUBMIT (protocol §4.8:
 * vhci forwards MiB-sized URBs; usbfs caps a client at 16 MiB). */
#ifndef USBIP_CFG_MAX_TRANSFER
#define USBIP_CFG_MAX_TRANSFER (16u * 1024u * 1024u)
#endif

/* Largest number_of_packets for an isochronous URB (the stub's limit). */
#ifndef USBIP_CFG_MAX_ISO_PACKETS
#define USBIP_CFG_MAX_ISO_PACKETS 1024
#endif

/* Largest ndev accepted in an OP_REP_DEVLIST. */
#ifndef USBIP_CFG_MAX_DEVLIST
#define USBIP_CFG_MAX_DEVLIST 256
#endif

/* Interfaces recorded per device (bNumInterfaces above it is refused). */
#ifndef USBIP_CFG_MAX_INTERFACES
#define USBIP_CFG_MAX_INTERFACES 32
#endif

/* An ISO set whose packets are not in buffer order is packed in place at a
 * cost of up to packets x buffer bytes moved (usbip_iso_pack). The kernel
 * always sends them in order; a set out of order whose packets x buffer
 * exceeds this is refused (the connection closes) so that no client can
 * stall the server with it. */
#ifndef USBIP_CFG_MAX_ISO_REORDER
#define USBIP_CFG_MAX_ISO_REORDER (1024u * 1024u)
#endif

/* URBs one connection may have in flight before the core stops reading. */
#ifndef USBIP_CFG_MAX_URBS_IN_FLIGHT
#define USBIP_CFG_MAX_URBS_IN_FLIGHT 256
#endif

/* Bytes of URB buffers one connection may hold before the core stops
 * reading (a single URB larger than this is still accepted when nothing
 * else is in flight). */
#ifndef USBIP_CFG_MAX_CONN_BYTES
#define USBIP_CFG_MAX_CONN_BYTES (64u * 1024u * 1024u)
#endif

_Static_assert(USBIP_CFG_MAX_TRANSFER >= 65536 && USBIP_CFG_MAX_TRANSFER <= 0x7fffffff,
               "USBIP_CFG_MAX_TRANSFER must hold a control transfer and fit an s32");
_Static_assert(USBIP_CFG_MAX_ISO_PACKETS >= 1 && USBIP_CFG_MAX_ISO_PACKETS <= 1024,
               "USBIP_CFG_MAX_ISO_PACKETS must be 1..1024");
_Static_assert(USBIP_CFG_MAX_DEVLIST >= 1, "USBIP_CFG_MAX_DEVLIST must be positive");
_Static_assert(USBIP_CFG_MAX_INTERFACES >= 1 && USBIP_CFG_MAX_INTERFACES <= 255,
               "USBIP_CFG_MAX_INTERFACES must be 1..255");
_Static_assert(USBIP_CFG_MAX_ISO_REORDER >= 4096, "USBIP_CFG_MAX_ISO_REORDER is too small");
_Static_assert(USBIP_CFG_MAX_URBS_IN_FLIGHT >= 1, "USBIP_CFG_MAX_URBS_IN_FLIGHT must be positive");

#endif /* USBIP_OPTS_H */
