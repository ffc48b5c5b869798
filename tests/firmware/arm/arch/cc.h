/* SPDX-License-Identifier: MIT */
/*
 * arch/cc.h - lwIP's compiler/platform glue for the Cortex-M0+ size check
 * (newlib, little endian, no OS).
 */
#ifndef USBLAB_ARM_ARCH_CC_H
#define USBLAB_ARM_ARCH_CC_H

#include <stdint.h>
#include <stdlib.h>

#define BYTE_ORDER LITTLE_ENDIAN

#define LWIP_PLATFORM_DIAG(x)                                                                      \
	do {                                                                                       \
	} while (0)
#define LWIP_PLATFORM_ASSERT(x) abort()

#endif /* USBLAB_ARM_ARCH_CC_H */
