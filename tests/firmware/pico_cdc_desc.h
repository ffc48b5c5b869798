/* SPDX-License-Identifier: MIT */
/*
 * pico_cdc_desc.h - descriptors of a Raspberry Pi Pico (RP2040) running
 * MicroPython, as it enumerates on a host: one CDC ACM function (REPL)
 * behind an interface association. Written out byte by byte from
 * MicroPython's shared/tinyusb/mp_usbd_descriptor.c (TUD_CDC_DESCRIPTOR
 * with endpoints 0x81/0x02/0x82) and `lsusb -v -d 2e8a:0005` output of
 * such a board; not captured on this machine.
 */
#ifndef PICO_CDC_DESC_H
#define PICO_CDC_DESC_H

#include <stdint.h>

/* clang-format off */
static const uint8_t pico_cdc_dev_desc[18] = {
        0x12, 0x01,       /* bLength, DEVICE */
        0x00, 0x02,       /* bcdUSB 2.00 */
        0xef, 0x02, 0x01, /* class misc / common / IAD */
        0x40,             /* bMaxPacketSize0 64 */
        0x8a, 0x2e,       /* idVendor 0x2e8a Raspberry Pi */
        0x05, 0x00,       /* idProduct 0x0005 MicroPython board */
        0x00, 0x01,       /* bcdDevice 1.00 */
        0x01, 0x02, 0x03, /* iManufacturer, iProduct, iSerialNumber */
        0x01,             /* bNumConfigurations */
};

static const uint8_t pico_cdc_cfg_desc[75] = {
        /* configuration: wTotalLength 75, 2 interfaces, value 1, bus
         * powered, 250 mA */
        0x09, 0x02, 0x4b, 0x00, 0x02, 0x01, 0x00, 0x80, 0x7d,
        /* interface association: interfaces 0-1, CDC ACM */
        0x08, 0x0b, 0x00, 0x02, 0x02, 0x02, 0x00, 0x00,
        /* interface 0 alt 0: 1 endpoint, CDC / ACM / none, iInterface 4 */
        0x09, 0x04, 0x00, 0x00, 0x01, 0x02, 0x02, 0x00, 0x04,
        /* CDC header 1.20, call management, ACM, union 0 -> 1 */
        0x05, 0x24, 0x00, 0x20, 0x01,
        0x05, 0x24, 0x01, 0x00, 0x01,
        0x04, 0x24, 0x02, 0x02,
        0x05, 0x24, 0x06, 0x00, 0x01,
        /* endpoint 0x81 interrupt IN, 8 bytes, interval 16 */
        0x07, 0x05, 0x81, 0x03, 0x08, 0x00, 0x10,
        /* interface 1 alt 0: 2 endpoints, CDC data */
        0x09, 0x04, 0x01, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x00,
        /* endpoint 0x02 bulk OUT 64, endpoint 0x82 bulk IN 64 */
        0x07, 0x05, 0x02, 0x02, 0x40, 0x00, 0x00,
        0x07, 0x05, 0x82, 0x02, 0x40, 0x00, 0x00,
};
/* clang-format on */

#endif /* PICO_CDC_DESC_H */
