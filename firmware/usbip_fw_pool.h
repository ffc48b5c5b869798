/* SPDX-License-Identifier: MIT */
/*
 * usbip_fw_pool.h - the static URB buffer pool of the firmware module.
 *
 * It replaces the core's per-URB allocation (usbip_server_ops.alloc/free)
 * and holds the transport's queued replies: one static arena of
 * USBIP_FW_CFG_POOL_BYTES, first fit, neighbours merged on free. A block
 * can be held: a held block that is freed stays allocated until its last
 * hold is dropped, which is how the TinyUSB backend keeps the buffer of a
 * transfer the controller cannot abort alive after the core let it go.
 * Single-threaded, like everything in the module.
 */
#ifndef USBIP_FW_POOL_H
#define USBIP_FW_POOL_H

#include <stddef.h>

/* Empties the pool. Every block handed out before is forgotten. */
void usbip_fw_pool_init(void);

/* Returns an 8-byte aligned block of size bytes, or NULL when no free run
 * is large enough. The caller owns it until usbip_fw_pool_free(). */
void *usbip_fw_pool_alloc(size_t size);

/* Gives back a block from usbip_fw_pool_alloc (NULL is ignored). A held
 * block stays allocated until usbip_fw_pool_unhold(). */
void usbip_fw_pool_free(void *ptr);

/* Keeps ptr's block allocated past a free; one unhold per hold. */
void usbip_fw_pool_hold(void *ptr);
void usbip_fw_pool_unhold(void *ptr);

/* Bytes in allocated blocks, headers included (0 when all is free). */
size_t usbip_fw_pool_used(void);

/* The largest block usbip_fw_pool_alloc() could return right now. */
size_t usbip_fw_pool_largest_free(void);

#endif /* USBIP_FW_POOL_H */
