/* SPDX-License-Identifier: MIT */
/*
 * lwipopts.h - lwIP options for the Cortex-M0+ size check of the firmware
 * module (tests/run.sh): NO_SYS with the raw API only, as the rp2 port of
 * MicroPython builds lwIP for the Pico W. Only the module's files are
 * compiled against it; lwIP itself is not built here.
 */
#ifndef USBLAB_ARM_LWIPOPTS_H
#define USBLAB_ARM_LWIPOPTS_H

#define NO_SYS              1
#define LWIP_SOCKET         0
#define LWIP_NETCONN        0
#define LWIP_TCP            1
#define LWIP_IPV4           1
#define LWIP_IPV6           1
#define MEM_ALIGNMENT       4
#define TCP_MSS             1460
#define TCP_WND             (8 * TCP_MSS)
#define TCP_SND_BUF         (8 * TCP_MSS)
#define TCP_SND_QUEUELEN    ((4 * (TCP_SND_BUF) + (TCP_MSS - 1)) / (TCP_MSS))
#define SO_REUSE            1
#define LWIP_STATS          0
#define LWIP_NETIF_LOOPBACK 0

#endif /* USBLAB_ARM_LWIPOPTS_H */
