/* SPDX-License-Identifier: MIT */
/*
 * usbip_fw_opts.h - compile-time limits of the Pico W firmware module.
 *
 * Everything the module uses is allocated statically from these numbers
 * (TinyUSB's tusb_option.h and lwIP's opt.h work the same way): override
 * one with -D or in the board's mpconfigboard.h. The limits are enforced:
 * a device beyond USBIP_FW_CFG_MAX_DEVICES is not claimed, a connection
 * beyond USBIP_FW_CFG_MAX_CONNS is refused, a URB the pool cannot hold
 * ends its connection, and reading stops while a connection holds
 * USBIP_FW_CFG_MAX_URBS URBs or its output is above USBIP_FW_CFG_TX_LIMIT.
 */
#ifndef USBIP_FW_OPTS_H
#define USBIP_FW_OPTS_H

/* USB devices exported at once (each one client at most: the core answers
 * a second import with USBIP_ST_DEV_BUSY). */
#ifndef USBIP_FW_CFG_MAX_DEVICES
#define USBIP_FW_CFG_MAX_DEVICES 2
#endif

/* TCP connections at once: one per exported device plus one for a
 * DEVLIST or an import being answered. */
#ifndef USBIP_FW_CFG_MAX_CONNS
#define USBIP_FW_CFG_MAX_CONNS (USBIP_FW_CFG_MAX_DEVICES + 1)
#endif

/* URBs one connection may have in flight (the core stops reading above). */
#ifndef USBIP_FW_CFG_MAX_URBS
#define USBIP_FW_CFG_MAX_URBS 8
#endif

/* Bytes of the URB buffer pool shared by all connections: every URB (its
 * bookkeeping, 48-byte header room and data) and every queued reply comes
 * from here. These are the "transfer buffers" of the size report. */
#ifndef USBIP_FW_CFG_POOL_BYTES
#define USBIP_FW_CFG_POOL_BYTES (16u * 1024u)
#endif

/* Output bytes one connection may have queued or unacknowledged before the
 * transport stops feeding the core its input (back-pressure). */
#ifndef USBIP_FW_CFG_TX_LIMIT
#define USBIP_FW_CFG_TX_LIMIT (8u * 1024u)
#endif

/* Output pieces queued per connection (each URB reply is one piece, a
 * DEVLIST one per device plus one). */
#ifndef USBIP_FW_CFG_TX_ENTRIES
#define USBIP_FW_CFG_TX_ENTRIES (2 * USBIP_FW_CFG_MAX_URBS + USBIP_FW_CFG_MAX_DEVICES + 4)
#endif

/* Configuration descriptor bytes kept per device (wTotalLength above it is
 * cut: endpoints past the cut are unknown and STALL). */
#ifndef USBIP_FW_CFG_CONFIG_DESC_BYTES
#define USBIP_FW_CFG_CONFIG_DESC_BYTES 256
#endif

/* TCP port when usbip.start() is given none (IANA's usbip port). */
#ifndef USBIP_FW_CFG_PORT
#define USBIP_FW_CFG_PORT 3240
#endif

_Static_assert(USBIP_FW_CFG_MAX_DEVICES >= 1 && USBIP_FW_CFG_MAX_DEVICES <= 8,
               "USBIP_FW_CFG_MAX_DEVICES must be 1..8");
_Static_assert(USBIP_FW_CFG_MAX_CONNS >= 1 && USBIP_FW_CFG_MAX_CONNS <= 16,
               "USBIP_FW_CFG_MAX_CONNS must be 1..16");
_Static_assert(USBIP_FW_CFG_MAX_URBS >= 1 && USBIP_FW_CFG_MAX_URBS <= 64,
               "USBIP_FW_CFG_MAX_URBS must be 1..64");
_Static_assert(USBIP_FW_CFG_POOL_BYTES >= 2048 && USBIP_FW_CFG_POOL_BYTES % 8 == 0,
               "USBIP_FW_CFG_POOL_BYTES must be a multiple of 8, at least 2 KiB");
_Static_assert(USBIP_FW_CFG_TX_LIMIT >= 1024 && USBIP_FW_CFG_TX_LIMIT <= USBIP_FW_CFG_POOL_BYTES,
               "USBIP_FW_CFG_TX_LIMIT must be 1 KiB..the pool");
_Static_assert(USBIP_FW_CFG_TX_ENTRIES >= USBIP_FW_CFG_MAX_URBS + USBIP_FW_CFG_MAX_DEVICES + 2,
               "USBIP_FW_CFG_TX_ENTRIES must hold a reply per URB plus a DEVLIST");
_Static_assert(USBIP_FW_CFG_CONFIG_DESC_BYTES >= 64 && USBIP_FW_CFG_CONFIG_DESC_BYTES <= 4096,
               "USBIP_FW_CFG_CONFIG_DESC_BYTES must be 64..4096");

#endif /* USBIP_FW_OPTS_H */
