/* SPDX-License-Identifier: MIT */
/*
 * test_codec_vectors.c - byte-exact vectors for every USB/IP message.
 *
 * Every vector below is written by hand from shared/docs/usbip-protocol.md
 * (section numbers in the comments), not produced by the codec. For each
 * one the tests check:
 *   - the decoded fields against values written out independently;
 *   - every strict prefix decodes as USBIP_E_NEED_MORE, with the input
 *     placed right before a PROT_NONE page so a read past len crashes;
 *   - usbip_frame_size on every prefix: USBIP_E_NEED_MORE or the exact size;
 *   - fed one byte at a time (and in odd-sized chunks) as one stream, the
 *     frame size finds every message boundary;
 *   - decode -> encode -> decode is identity and the encoders give back the
 *     vector byte for byte.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "usbip.h"

/* ---- vectors ------------------------------------------------------------ */

/* A 312-byte usbip_usb_device record (§2.3). Only char-sized members, so
 * the struct's bytes are the wire bytes; string members are NUL-padded by
 * the initializer rules. */
struct wire_device {
	char path[256];   /* 0x000 */
	char busid[32];   /* 0x100 */
	uint8_t tail[24]; /* 0x120 busnum .. 0x137 bNumInterfaces */
};
_Static_assert(sizeof(struct wire_device) == USBIP_DEVICE_SIZE, "wire_device is 312 bytes");

/* Device 1: a high-speed mass-storage stick with one interface. */
#define DEV1_WIRE                                                                                  \
	{                                                                                          \
		"/sys/devices/pci0000:00/0000:00:1d.0/usb2/2-1", "2-1",                            \
		{                                                                                  \
			0x00, 0x00, 0x00, 0x02,         /* 0x120 busnum 2 */                       \
			        0x00, 0x00, 0x00, 0x03, /* 0x124 devnum 3 */                       \
			        0x00, 0x00, 0x00, 0x03, /* 0x128 speed 3 (high) */                 \
			        0x07, 0x81,             /* 0x12C idVendor 0x0781, BE */            \
			        0x55, 0x67,             /* 0x12E idProduct 0x5567 */               \
			        0x01, 0x00,             /* 0x130 bcdDevice 0x0100 */               \
			        0x00, 0x00, 0x00,       /* 0x132 class/subclass/protocol */        \
			        0x01,                   /* 0x135 bConfigurationValue */            \
			        0x01,                   /* 0x136 bNumConfigurations */             \
			        0x01,                   /* 0x137 bNumInterfaces */                 \
		}                                                                                  \
	}

/* Device 2: a full-speed composite receiver (two HID + vendor interface),
 * bcdDevice 0x1211 and idProduct 0xc52b so byte order mistakes show. */
#define DEV2_WIRE                                                                                  \
	{                                                                                          \
		"/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.4", "1-1.4",                    \
		{                                                                                  \
			0x00, 0x00, 0x00, 0x01,         /* 0x120 busnum 1 */                       \
			        0x00, 0x00, 0x00, 0x05, /* 0x124 devnum 5 */                       \
			        0x00, 0x00, 0x00, 0x02, /* 0x128 speed 2 (full) */                 \
			        0x04, 0x6d,             /* 0x12C idVendor 0x046d */                \
			        0xc5, 0x2b,             /* 0x12E idProduct 0xc52b */               \
			        0x12, 0x11,             /* 0x130 bcdDevice 0x1211 */               \
			        0xef, 0x02, 0x01,       /* 0x132 class/subclass/protocol (IAD) */  \
			        0x01,                   /* 0x135 bConfigurationValue */            \
			        0x02,                   /* 0x136 bNumConfigurations */             \
			        0x03,                   /* 0x137 bNumInterfaces */                 \
		}                                                                                  \
	}

/* OP_REQ_DEVLIST (§2.4): op_common only. */
static const uint8_t v_req_devlist[] = {
        0x01, 0x11,             /* version 0x0111 */
        0x80, 0x05,             /* OP_REQ_DEVLIST */
        0x00, 0x00, 0x00, 0x00, /* status 0 */
};

/* OP_REP_DEVLIST (§2.4) with two devices. Device 2 starts at
 * 0x0C + 312 + 4 * 1 = 0x148 because device 1 has one interface record. */
static const struct wire_rep_devlist {
	uint8_t op[8];
	uint8_t ndev[4];
	struct wire_device dev1;
	uint8_t if1[1][4];
	struct wire_device dev2;
	uint8_t if2[3][4];
} v_rep_devlist = {
        {0x01, 0x11, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00}, /* version, OP_REP_DEVLIST, ST_OK */
        {0x00, 0x00, 0x00, 0x02},                         /* 0x08 ndev 2 */
        DEV1_WIRE,                                        /* 0x0C */
        {{0x08, 0x06, 0x50, 0x00}},                       /* mass storage, SCSI, BBB; pad */
        DEV2_WIRE,                                        /* 0x148 */
        {
                {0x03, 0x01, 0x01, 0x00}, /* HID boot keyboard */
                {0x03, 0x01, 0x02, 0x00}, /* HID boot mouse */
                {0xff, 0x5d, 0x01, 0x00}, /* vendor */
        },
};
_Static_assert(sizeof(v_rep_devlist) == 12 + 312 + 4 + 312 + 12, "OP_REP_DEVLIST is 652 bytes");

/* OP_REQ_IMPORT (§2.4): op_common + busid[32]. */
static const struct {
	uint8_t op[8];
	char busid[32];
} v_req_import = {
        {0x01, 0x11, 0x80, 0x03, 0x00, 0x00, 0x00, 0x00},
        "1-1.4",
};
_Static_assert(sizeof(v_req_import) == USBIP_OP_IMPORT_REQ_SIZE, "OP_REQ_IMPORT is 40 bytes");

/* OP_REP_IMPORT success (§2.4): 8 + 312, no interface records although
 * bNumInterfaces is 3. */
static const struct {
	uint8_t op[8];
	struct wire_device dev;
} v_rep_import_ok = {
        {0x01, 0x11, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00},
        DEV2_WIRE,
};
_Static_assert(sizeof(v_rep_import_ok) == 320, "OP_REP_IMPORT success is 320 bytes");

/* OP_REP_IMPORT failure (§2.4): exactly 8 bytes, ST_NODEV. */
static const uint8_t v_rep_import_nodev[] = {
        0x01, 0x11, 0x00, 0x03, /* version, OP_REP_IMPORT */
        0x00, 0x00, 0x00, 0x04, /* ST_NODEV */
};

/* CMD_SUBMIT GET_DESCRIPTOR(Device, 18), devid 0x00010002: §3.7 verbatim. */
static const uint8_t v_cmd_get_desc[] = {
        0x00, 0x00, 0x00, 0x01, /* 0x00 CMD_SUBMIT */
        0x00, 0x00, 0x00, 0x01, /* 0x04 seqnum 1 */
        0x00, 0x01, 0x00, 0x02, /* 0x08 devid 1-2 */
        0x00, 0x00, 0x00, 0x01, /* 0x0C direction IN */
        0x00, 0x00, 0x00, 0x00, /* 0x10 ep 0 */
        0x00, 0x00, 0x02, 0x00, /* 0x14 transfer_flags DIR_IN */
        0x00, 0x00, 0x00, 0x12, /* 0x18 transfer_buffer_length 18 */
        0x00, 0x00, 0x00, 0x00, /* 0x1C start_frame */
        0x00, 0x00, 0x00, 0x00, /* 0x20 number_of_packets */
        0x00, 0x00, 0x00, 0x00, /* 0x24 interval */
        0x80, 0x06, 0x00, 0x01, /* 0x28 setup: IN std device, GET_DESCRIPTOR, wValue 0x0100 LE */
        0x00, 0x00, 0x12, 0x00, /*      wIndex 0, wLength 18 LE */
};

/* RET_SUBMIT for it (§3.7): IN payload of actual_length bytes follows. */
static const uint8_t v_ret_get_desc[] = {
        0x00,
        0x00,
        0x00,
        0x03, /* 0x00 RET_SUBMIT */
        0x00,
        0x00,
        0x00,
        0x01, /* 0x04 seqnum 1 */
        0x00,
        0x00,
        0x00,
        0x00, /* 0x08 devid 0 */
        0x00,
        0x00,
        0x00,
        0x00, /* 0x0C direction 0 */
        0x00,
        0x00,
        0x00,
        0x00, /* 0x10 ep 0 */
        0x00,
        0x00,
        0x00,
        0x00, /* 0x14 status 0 */
        0x00,
        0x00,
        0x00,
        0x12, /* 0x18 actual_length 18 */
        0x00,
        0x00,
        0x00,
        0x00, /* 0x1C start_frame */
        0x00,
        0x00,
        0x00,
        0x00, /* 0x20 number_of_packets (echo) */
        0x00,
        0x00,
        0x00,
        0x00, /* 0x24 error_count */
        0x00,
        0x00,
        0x00,
        0x00, /* 0x28 pad[8] */
        0x00,
        0x00,
        0x00,
        0x00,
        /* device descriptor: USB 2.0, 64-byte ep0, 1d6b:0104 */
        0x12,
        0x01,
        0x00,
        0x02,
        0x00,
        0x00,
        0x00,
        0x40,
        0x6b,
        0x1d,
        0x04,
        0x01,
        0x00,
        0x01,
        0x03,
        0x02,
        0x01,
        0x01,
};

/* CMD_SUBMIT bulk OUT ep 2, ZERO_PACKET, 8 payload bytes (§3.3). */
static const uint8_t v_cmd_bulk_out[] = {
        0x00, 0x00, 0x00, 0x01, /* CMD_SUBMIT */
        0x00, 0x00, 0x00, 0x02, /* seqnum 2 */
        0x00, 0x01, 0x00, 0x02, /* devid */
        0x00, 0x00, 0x00, 0x00, /* OUT */
        0x00, 0x00, 0x00, 0x02, /* ep 2 */
        0x00, 0x00, 0x00, 0x40, /* ZERO_PACKET */
        0x00, 0x00, 0x00, 0x08, /* transfer_buffer_length 8 */
        0x00, 0x00, 0x00, 0x00, /* start_frame */
        0x00, 0x00, 0x00, 0x00, /* number_of_packets */
        0x00, 0x00, 0x00, 0x00, /* interval */
        0x00, 0x00, 0x00, 0x00, /* setup: zero for non-control */
        0x00, 0x00, 0x00, 0x00, 'u', 's', 'b', 'l', 'a', 'b', '!', '\n', /* OUT payload */
};

/* RET_SUBMIT for the bulk OUT: no payload, actual_length still 8 (§3.3). */
static const uint8_t v_ret_bulk_out[] = {
        0x00, 0x00, 0x00, 0x03, /* RET_SUBMIT */
        0x00, 0x00, 0x00, 0x02, /* seqnum 2 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* status 0 */
        0x00, 0x00, 0x00, 0x08,                         /* actual_length 8 */
        0x00, 0x00, 0x00, 0x00,                         /* start_frame */
        0x00, 0x00, 0x00, 0x00,                         /* number_of_packets */
        0x00, 0x00, 0x00, 0x00,                         /* error_count */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* pad */
};

/* CMD_SUBMIT bulk IN as usbip-win2 sends it: number_of_packets -1 (§3.5),
 * ignored for a non-ISO endpoint, so no descriptors follow. */
static const uint8_t v_cmd_bulk_in_np_m1[] = {
        0x00, 0x00, 0x00, 0x01, /* CMD_SUBMIT */
        0x00, 0x00, 0x00, 0x06, /* seqnum 6 */
        0x00, 0x01, 0x00, 0x02, /* devid */
        0x00, 0x00, 0x00, 0x01, /* IN */
        0x00, 0x00, 0x00, 0x01, /* ep 1 */
        0x00, 0x00, 0x02, 0x00, /* DIR_IN */
        0x00, 0x00, 0x02, 0x00, /* transfer_buffer_length 512 */
        0x00, 0x00, 0x00, 0x00, /* start_frame */
        0xff, 0xff, 0xff, 0xff, /* number_of_packets -1 */
        0x00, 0x00, 0x00, 0x00, /* interval */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* CMD_SUBMIT interrupt IN: start_frame -1 as Linux sends it (§3.2). */
static const uint8_t v_cmd_intr_in[] = {
        0x00, 0x00, 0x00, 0x01, /* CMD_SUBMIT */
        0x00, 0x00, 0x00, 0x07, /* seqnum 7 */
        0x00, 0x01, 0x00, 0x02, /* devid */
        0x00, 0x00, 0x00, 0x01, /* IN */
        0x00, 0x00, 0x00, 0x03, /* ep 3 */
        0x00, 0x00, 0x02, 0x00, /* DIR_IN */
        0x00, 0x00, 0x00, 0x08, /* transfer_buffer_length 8 */
        0xff, 0xff, 0xff, 0xff, /* start_frame -1 */
        0x00, 0x00, 0x00, 0x00, /* number_of_packets */
        0x00, 0x00, 0x00, 0x08, /* interval 8 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* CMD_SUBMIT ISO IN, three 64-byte packets: np x 16 descriptors follow,
 * no data (§3.3). */
static const uint8_t v_cmd_iso_in[] = {
        0x00,
        0x00,
        0x00,
        0x01, /* CMD_SUBMIT */
        0x00,
        0x00,
        0x00,
        0x03, /* seqnum 3 */
        0x00,
        0x01,
        0x00,
        0x02, /* devid */
        0x00,
        0x00,
        0x00,
        0x01, /* IN */
        0x00,
        0x00,
        0x00,
        0x05, /* ep 5 */
        0x00,
        0x00,
        0x02,
        0x02, /* DIR_IN | ISO_ASAP */
        0x00,
        0x00,
        0x00,
        0xc0, /* transfer_buffer_length 192 */
        0x00,
        0x00,
        0x00,
        0x00, /* start_frame */
        0x00,
        0x00,
        0x00,
        0x03, /* number_of_packets 3 */
        0x00,
        0x00,
        0x00,
        0x01, /* interval 1 */
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        /* descriptors (§3.4): offset, length, actual_length, status */
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x40,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x40,
        0x00,
        0x00,
        0x00,
        0x40,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x80,
        0x00,
        0x00,
        0x00,
        0x40,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
};

/* RET_SUBMIT ISO IN for it: 10 + 0 + 20 bytes, packed without the gaps
 * (§3.4), then the descriptors. Packet 1 failed with -EXDEV. */
static const uint8_t v_ret_iso_in[] = {
        0x00,
        0x00,
        0x00,
        0x03, /* RET_SUBMIT */
        0x00,
        0x00,
        0x00,
        0x03, /* seqnum 3 */
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, /* status 0 */
        0x00,
        0x00,
        0x00,
        0x1e, /* actual_length 30 = sum of the packets' */
        0x00,
        0x00,
        0x01,
        0x23, /* start_frame 0x123 */
        0x00,
        0x00,
        0x00,
        0x03, /* number_of_packets 3 */
        0x00,
        0x00,
        0x00,
        0x01, /* error_count 1 */
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00, /* pad */
        /* packet 0: 10 bytes from offset 0 */
        0xa0,
        0xa1,
        0xa2,
        0xa3,
        0xa4,
        0xa5,
        0xa6,
        0xa7,
        0xa8,
        0xa9,
        /* packet 2: 20 bytes from offset 128 */
        0xc0,
        0xc1,
        0xc2,
        0xc3,
        0xc4,
        0xc5,
        0xc6,
        0xc7,
        0xc8,
        0xc9,
        0xca,
        0xcb,
        0xcc,
        0xcd,
        0xce,
        0xcf,
        0xd0,
        0xd1,
        0xd2,
        0xd3,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x40,
        0x00,
        0x00,
        0x00,
        0x0a,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x00,
        0x40,
        0x00,
        0x00,
        0x00,
        0x40,
        0x00,
        0x00,
        0x00,
        0x00,
        0xff,
        0xff,
        0xff,
        0xee,
        0x00,
        0x00,
        0x00,
        0x80,
        0x00,
        0x00,
        0x00,
        0x40,
        0x00,
        0x00,
        0x00,
        0x14,
        0x00,
        0x00,
        0x00,
        0x00,
};

/* CMD_SUBMIT ISO OUT: the whole buffer (gaps included), then the
 * descriptors (§3.3). */
static const uint8_t v_cmd_iso_out[] = {
        0x00, 0x00, 0x00, 0x01, /* CMD_SUBMIT */
        0x00, 0x00, 0x00, 0x04, /* seqnum 4 */
        0x00, 0x01, 0x00, 0x02, /* devid */
        0x00, 0x00, 0x00, 0x00, /* OUT */
        0x00, 0x00, 0x00, 0x04, /* ep 4 */
        0x00, 0x00, 0x00, 0x02, /* ISO_ASAP */
        0x00, 0x00, 0x00, 0x20, /* transfer_buffer_length 32 */
        0x00, 0x00, 0x00, 0x10, /* start_frame 16 */
        0x00, 0x00, 0x00, 0x02, /* number_of_packets 2 */
        0x00, 0x00, 0x00, 0x01, /* interval 1 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
        0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
        0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* RET_SUBMIT ISO OUT: descriptors only (§3.3). */
static const uint8_t v_ret_iso_out[] = {
        0x00, 0x00, 0x00, 0x03, /* RET_SUBMIT */
        0x00, 0x00, 0x00, 0x04, /* seqnum 4 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00,             /* status 0 */
        0x00, 0x00, 0x00, 0x20, /* actual_length 32 */
        0x00, 0x00, 0x00, 0x10, /* start_frame 16 */
        0x00, 0x00, 0x00, 0x02, /* number_of_packets 2 */
        0x00, 0x00, 0x00, 0x00, /* error_count */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
        0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00,
};

/* CMD_UNLINK of seqnum 3, with its own seqnum 8 (§3.2). */
static const uint8_t v_cmd_unlink[] = {
        0x00, 0x00, 0x00, 0x02, /* CMD_UNLINK */
        0x00, 0x00, 0x00, 0x08, /* seqnum 8 */
        0x00, 0x01, 0x00, 0x02, /* devid */
        0x00, 0x00, 0x00, 0x00, /* direction 0 */
        0x00, 0x00, 0x00, 0x00, /* ep 0 */
        0x00, 0x00, 0x00, 0x03, /* unlink_seqnum 3 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* pad[24] */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* RET_UNLINK echoing seqnum 8, status -ECONNRESET (§4.3). */
static const uint8_t v_ret_unlink[] = {
        0x00, 0x00, 0x00, 0x04, /* RET_UNLINK */
        0x00, 0x00, 0x00, 0x08, /* seqnum 8 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0xff, 0xff, 0xff, 0x98,                                                 /* status -104 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* pad[24] */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

enum vec_kind {
	K_REQ_DEVLIST,
	K_REP_DEVLIST,
	K_REQ_IMPORT,
	K_REP_IMPORT,
	K_URB,
};

struct vec {
	const char *name;
	enum vec_kind kind;
	const uint8_t *bytes;
	size_t len;
	unsigned flags;   /* usbip_frame_size flags: facts the bytes do not carry */
	uint32_t urb_len; /* RET_SUBMIT ISO: the pending URB's buffer length */
};

#define VEC(n, k, v, f, u)                                                                         \
	{                                                                                          \
		n, k, (const uint8_t *)&(v), sizeof(v), f, u                                       \
	}

static const struct vec vecs[] = {
        VEC("OP_REQ_DEVLIST", K_REQ_DEVLIST, v_req_devlist, 0, 0),
        VEC("OP_REP_DEVLIST", K_REP_DEVLIST, v_rep_devlist, 0, 0),
        VEC("OP_REQ_IMPORT", K_REQ_IMPORT, v_req_import, 0, 0),
        VEC("OP_REP_IMPORT ok", K_REP_IMPORT, v_rep_import_ok, 0, 0),
        VEC("OP_REP_IMPORT nodev", K_REP_IMPORT, v_rep_import_nodev, 0, 0),
        VEC("CMD_SUBMIT get_desc", K_URB, v_cmd_get_desc, 0, 0),
        VEC("RET_SUBMIT get_desc", K_URB, v_ret_get_desc, USBIP_FRAME_DIR_IN, 0),
        VEC("CMD_SUBMIT bulk out", K_URB, v_cmd_bulk_out, 0, 0),
        VEC("RET_SUBMIT bulk out", K_URB, v_ret_bulk_out, 0, 0),
        VEC("CMD_SUBMIT bulk in np=-1", K_URB, v_cmd_bulk_in_np_m1, 0, 0),
        VEC("CMD_SUBMIT intr in", K_URB, v_cmd_intr_in, 0, 0),
        VEC("CMD_SUBMIT iso in", K_URB, v_cmd_iso_in, USBIP_FRAME_ISO, 0),
        VEC("RET_SUBMIT iso in", K_URB, v_ret_iso_in, USBIP_FRAME_ISO | USBIP_FRAME_DIR_IN, 192),
        VEC("CMD_SUBMIT iso out", K_URB, v_cmd_iso_out, USBIP_FRAME_ISO, 0),
        VEC("RET_SUBMIT iso out", K_URB, v_ret_iso_out, USBIP_FRAME_ISO, 32),
        VEC("CMD_UNLINK", K_URB, v_cmd_unlink, 0, 0),
        VEC("RET_UNLINK", K_URB, v_ret_unlink, 0, 0),
};
#define NVECS (sizeof(vecs) / sizeof(vecs[0]))

/* ---- a whole-message parser built from the codec's calls ----------------- */

#define MAX_TEST_ISO 8

struct msg {
	struct usbip_op_common op;
	char busid[USBIP_BUSID_SIZE];
	uint32_t ndev;
	uint32_t status;
	struct usbip_usb_device dev[2];
	struct usbip_usb_interface ifs[2][USBIP_MAX_INTERFACES];
	struct usbip_header h;
	const uint8_t *data; /* payload bytes, pointing into the input */
	size_t data_len;
	struct usbip_iso_packet iso[MAX_TEST_ISO];
	unsigned np;
};

/* Decodes one whole message of the vector's kind from (buf, len). Returns
 * its size, USBIP_E_NEED_MORE, or the first error. Payload presence is
 * framed by the codec's payload-size functions (§3.3). */
static long parse_msg(const struct vec *v, const uint8_t *buf, size_t len, struct msg *m)
{
	long r, off;

	memset(m, 0, sizeof(*m));
	switch (v->kind) {
	case K_REQ_DEVLIST:
		r = usbip_decode_op_common(buf, len, &m->op);
		if (r < 0)
			return r;
		assert_int_equal(r, 8);
		return r;
	case K_REQ_IMPORT:
		return usbip_decode_op_req_import(buf, len, m->busid);
	case K_REP_IMPORT:
		return usbip_decode_op_rep_import(buf, len, &m->status, &m->dev[0]);
	case K_REP_DEVLIST:
		r = usbip_decode_op_rep_devlist_header(buf, len, &m->ndev);
		if (r < 0)
			return r;
		assert_int_equal(r, USBIP_DEVLIST_HEADER_SIZE);
		assert_true(m->ndev <= 2);
		off = r;
		for (uint32_t i = 0; i < m->ndev; i++) {
			r = usbip_decode_usb_device(buf + off, len - (size_t)off, &m->dev[i],
			                            m->ifs[i], true);
			if (r < 0)
				return r;
			off += r;
		}
		return off;
	case K_URB:
		break;
	}

	r = usbip_decode_header(buf, len, &m->h);
	if (r < 0)
		return r;
	assert_int_equal(r, USBIP_HEADER_SIZE);
	bool iso = v->flags & USBIP_FRAME_ISO;
	long payload = 0;
	uint32_t buflen = 0;
	switch (m->h.base.command) {
	case USBIP_CMD_SUBMIT:
		payload = usbip_cmd_submit_payload_size(&m->h, iso);
		m->np = iso ? (unsigned)m->h.u.cmd_submit.number_of_packets : 0;
		buflen = (uint32_t)m->h.u.cmd_submit.transfer_buffer_length;
		break;
	case USBIP_RET_SUBMIT:
		payload = usbip_ret_submit_payload_size(&m->h, v->flags & USBIP_FRAME_DIR_IN, iso);
		m->np = iso ? (unsigned)m->h.u.ret_submit.number_of_packets : 0;
		buflen = v->urb_len;
		break;
	default:
		return r;
	}
	if (payload < 0)
		return payload;
	assert_true(m->np <= MAX_TEST_ISO);
	m->data_len = (size_t)payload - m->np * USBIP_ISO_DESC_SIZE;
	if (len - USBIP_HEADER_SIZE < m->data_len)
		return USBIP_E_NEED_MORE;
	m->data = buf + USBIP_HEADER_SIZE;
	off = USBIP_HEADER_SIZE + (long)m->data_len;
	if (iso) {
		/* Give decode_iso whatever is present: it must ask for more. */
		r = usbip_decode_iso(buf + off, len - (size_t)off, m->iso, m->np, buflen);
		if (r < 0)
			return r;
		assert_int_equal(r, m->np * USBIP_ISO_DESC_SIZE);
		off += r;
	}
	return off;
}

/* Encodes a parsed message back to bytes with the codec's encoders. */
static long encode_msg(const struct vec *v, const struct msg *m, uint8_t *out, size_t cap)
{
	long r, off;

	switch (v->kind) {
	case K_REQ_DEVLIST:
		return usbip_encode_op_req_devlist(out, cap);
	case K_REQ_IMPORT:
		return usbip_encode_op_req_import(out, cap, m->busid);
	case K_REP_IMPORT:
		return usbip_encode_op_rep_import(out, cap, m->status, &m->dev[0]);
	case K_REP_DEVLIST:
		r = usbip_encode_op_rep_devlist_header(out, cap, m->ndev);
		if (r < 0)
			return r;
		off = r;
		for (uint32_t i = 0; i < m->ndev; i++) {
			r = usbip_encode_usb_device(out + off, cap - (size_t)off, &m->dev[i],
			                            m->ifs[i], m->dev[i].bNumInterfaces);
			if (r < 0)
				return r;
			off += r;
		}
		return off;
	case K_URB:
		break;
	}
	r = usbip_encode_header(out, cap, &m->h);
	if (r < 0)
		return r;
	off = r;
	assert_true(cap - (size_t)off >= m->data_len);
	if (m->data_len > 0)
		memcpy(out + off, m->data, m->data_len);
	off += (long)m->data_len;
	if (v->flags & USBIP_FRAME_ISO) {
		r = usbip_encode_iso(out + off, cap - (size_t)off, m->iso, m->np);
		if (r < 0)
			return r;
		off += r;
	}
	return off;
}

static void assert_device_equal(const struct usbip_usb_device *a, const struct usbip_usb_device *b)
{
	assert_string_equal(a->path, b->path);
	assert_string_equal(a->busid, b->busid);
	assert_int_equal(a->busnum, b->busnum);
	assert_int_equal(a->devnum, b->devnum);
	assert_int_equal(a->speed, b->speed);
	assert_int_equal(a->idVendor, b->idVendor);
	assert_int_equal(a->idProduct, b->idProduct);
	assert_int_equal(a->bcdDevice, b->bcdDevice);
	assert_int_equal(a->bDeviceClass, b->bDeviceClass);
	assert_int_equal(a->bDeviceSubClass, b->bDeviceSubClass);
	assert_int_equal(a->bDeviceProtocol, b->bDeviceProtocol);
	assert_int_equal(a->bConfigurationValue, b->bConfigurationValue);
	assert_int_equal(a->bNumConfigurations, b->bNumConfigurations);
	assert_int_equal(a->bNumInterfaces, b->bNumInterfaces);
}

static void assert_header_equal(const struct usbip_header *a, const struct usbip_header *b)
{
	assert_int_equal(a->base.command, b->base.command);
	assert_int_equal(a->base.seqnum, b->base.seqnum);
	assert_int_equal(a->base.devid, b->base.devid);
	assert_int_equal(a->base.direction, b->base.direction);
	assert_int_equal(a->base.ep, b->base.ep);
	switch (a->base.command) {
	case USBIP_CMD_SUBMIT:
		assert_int_equal(a->u.cmd_submit.transfer_flags, b->u.cmd_submit.transfer_flags);
		assert_int_equal(a->u.cmd_submit.transfer_buffer_length,
		                 b->u.cmd_submit.transfer_buffer_length);
		assert_int_equal(a->u.cmd_submit.start_frame, b->u.cmd_submit.start_frame);
		assert_int_equal(a->u.cmd_submit.number_of_packets,
		                 b->u.cmd_submit.number_of_packets);
		assert_int_equal(a->u.cmd_submit.interval, b->u.cmd_submit.interval);
		assert_memory_equal(a->u.cmd_submit.setup, b->u.cmd_submit.setup, 8);
		break;
	case USBIP_RET_SUBMIT:
		assert_int_equal(a->u.ret_submit.status, b->u.ret_submit.status);
		assert_int_equal(a->u.ret_submit.actual_length, b->u.ret_submit.actual_length);
		assert_int_equal(a->u.ret_submit.start_frame, b->u.ret_submit.start_frame);
		assert_int_equal(a->u.ret_submit.number_of_packets,
		                 b->u.ret_submit.number_of_packets);
		assert_int_equal(a->u.ret_submit.error_count, b->u.ret_submit.error_count);
		break;
	case USBIP_CMD_UNLINK:
		assert_int_equal(a->u.cmd_unlink.unlink_seqnum, b->u.cmd_unlink.unlink_seqnum);
		break;
	case USBIP_RET_UNLINK:
		assert_int_equal(a->u.ret_unlink.status, b->u.ret_unlink.status);
		break;
	default:
		fail_msg("unexpected command %u", (unsigned)a->base.command);
	}
}

static void assert_msg_equal(const struct vec *v, const struct msg *a, const struct msg *b)
{
	switch (v->kind) {
	case K_REQ_DEVLIST:
		assert_int_equal(a->op.version, b->op.version);
		assert_int_equal(a->op.code, b->op.code);
		assert_int_equal(a->op.status, b->op.status);
		break;
	case K_REQ_IMPORT:
		assert_string_equal(a->busid, b->busid);
		break;
	case K_REP_IMPORT:
		assert_int_equal(a->status, b->status);
		if (a->status == USBIP_ST_OK)
			assert_device_equal(&a->dev[0], &b->dev[0]);
		break;
	case K_REP_DEVLIST:
		assert_int_equal(a->ndev, b->ndev);
		for (uint32_t i = 0; i < a->ndev; i++) {
			assert_device_equal(&a->dev[i], &b->dev[i]);
			for (unsigned j = 0; j < a->dev[i].bNumInterfaces; j++) {
				assert_int_equal(a->ifs[i][j].bInterfaceClass,
				                 b->ifs[i][j].bInterfaceClass);
				assert_int_equal(a->ifs[i][j].bInterfaceSubClass,
				                 b->ifs[i][j].bInterfaceSubClass);
				assert_int_equal(a->ifs[i][j].bInterfaceProtocol,
				                 b->ifs[i][j].bInterfaceProtocol);
			}
		}
		break;
	case K_URB:
		assert_header_equal(&a->h, &b->h);
		assert_int_equal(a->data_len, b->data_len);
		if (a->data_len > 0)
			assert_memory_equal(a->data, b->data, a->data_len);
		assert_int_equal(a->np, b->np);
		for (unsigned i = 0; i < a->np; i++) {
			assert_int_equal(a->iso[i].offset, b->iso[i].offset);
			assert_int_equal(a->iso[i].length, b->iso[i].length);
			assert_int_equal(a->iso[i].actual_length, b->iso[i].actual_length);
			assert_int_equal(a->iso[i].status, b->iso[i].status);
		}
		break;
	}
}

/* ---- decoded values, written out from the vectors' comments ------------- */

static const struct usbip_usb_device dev1_expect = {
        .path = "/sys/devices/pci0000:00/0000:00:1d.0/usb2/2-1",
        .busid = "2-1",
        .busnum = 2,
        .devnum = 3,
        .speed = USBIP_SPEED_HIGH,
        .idVendor = 0x0781,
        .idProduct = 0x5567,
        .bcdDevice = 0x0100,
        .bConfigurationValue = 1,
        .bNumConfigurations = 1,
        .bNumInterfaces = 1,
};

static const struct usbip_usb_device dev2_expect = {
        .path = "/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.4",
        .busid = "1-1.4",
        .busnum = 1,
        .devnum = 5,
        .speed = USBIP_SPEED_FULL,
        .idVendor = 0x046d,
        .idProduct = 0xc52b,
        .bcdDevice = 0x1211,
        .bDeviceClass = 0xef,
        .bDeviceSubClass = 0x02,
        .bDeviceProtocol = 0x01,
        .bConfigurationValue = 1,
        .bNumConfigurations = 2,
        .bNumInterfaces = 3,
};

static const struct vec *find_vec(const uint8_t *bytes)
{
	for (size_t i = 0; i < NVECS; i++)
		if (vecs[i].bytes == bytes)
			return &vecs[i];
	fail_msg("no such vector");
	return NULL;
}

static void parse_whole(const uint8_t *bytes, struct msg *m)
{
	const struct vec *v = find_vec(bytes);
	assert_int_equal(parse_msg(v, v->bytes, v->len, m), (long)v->len);
}

static void test_req_devlist(void **state)
{
	(void)state;
	struct msg m;
	parse_whole(v_req_devlist, &m);
	assert_int_equal(m.op.version, USBIP_VERSION);
	assert_int_equal(m.op.code, USBIP_OP_REQ_DEVLIST);
	assert_int_equal(m.op.status, 0);

	uint8_t out[8];
	assert_int_equal(usbip_encode_op_req_devlist(out, sizeof(out)), 8);
	assert_memory_equal(out, v_req_devlist, 8);
	assert_int_equal(usbip_encode_op_common(out, sizeof(out), USBIP_OP_REQ_DEVLIST, 0), 8);
	assert_memory_equal(out, v_req_devlist, 8);
}

static void test_rep_devlist(void **state)
{
	(void)state;
	const uint8_t *b = (const uint8_t *)&v_rep_devlist;
	struct msg m;
	parse_whole(b, &m);
	assert_int_equal(m.ndev, 2);
	assert_device_equal(&m.dev[0], &dev1_expect);
	assert_device_equal(&m.dev[1], &dev2_expect);
	assert_int_equal(m.ifs[0][0].bInterfaceClass, 0x08);
	assert_int_equal(m.ifs[0][0].bInterfaceSubClass, 0x06);
	assert_int_equal(m.ifs[0][0].bInterfaceProtocol, 0x50);
	static const uint8_t if2[3][3] = {
	        {0x03, 0x01, 0x01}, {0x03, 0x01, 0x02}, {0xff, 0x5d, 0x01}};
	for (int i = 0; i < 3; i++) {
		assert_int_equal(m.ifs[1][i].bInterfaceClass, if2[i][0]);
		assert_int_equal(m.ifs[1][i].bInterfaceSubClass, if2[i][1]);
		assert_int_equal(m.ifs[1][i].bInterfaceProtocol, if2[i][2]);
	}

	/* Device 2's offset depends on device 1's bNumInterfaces (§2.4). */
	struct usbip_usb_device d;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
	assert_int_equal(offsetof(struct wire_rep_devlist, dev2), 0x0C + 312 + 4);
	assert_int_equal(
	        usbip_decode_usb_device(b + 0x0C, sizeof(v_rep_devlist) - 0x0C, &d, ifs, true),
	        312 + 4);
	assert_int_equal(
	        usbip_decode_usb_device(b + 0x148, sizeof(v_rep_devlist) - 0x148, &d, ifs, true),
	        312 + 12);
	assert_device_equal(&d, &dev2_expect);
	/* Without interfaces (the IMPORT form) the record alone is consumed. */
	assert_int_equal(usbip_decode_usb_device(b + 0x148, 312, &d, NULL, false), 312);
	assert_device_equal(&d, &dev2_expect);

	/* The encoders give the vector back from the expected values. */
	uint8_t out[sizeof(v_rep_devlist)];
	static const struct usbip_usb_interface eif1[1] = {{0x08, 0x06, 0x50}};
	static const struct usbip_usb_interface eif2[3] = {
	        {0x03, 0x01, 0x01}, {0x03, 0x01, 0x02}, {0xff, 0x5d, 0x01}};
	size_t off = 0;
	assert_int_equal(usbip_encode_op_rep_devlist_header(out, sizeof(out), 2), 12);
	off += 12;
	assert_int_equal(
	        usbip_encode_usb_device(out + off, sizeof(out) - off, &dev1_expect, eif1, 1), 316);
	off += 316;
	assert_int_equal(
	        usbip_encode_usb_device(out + off, sizeof(out) - off, &dev2_expect, eif2, 3), 324);
	off += 324;
	assert_int_equal(off, sizeof(v_rep_devlist));
	assert_memory_equal(out, b, sizeof(out));
}

static void test_req_import(void **state)
{
	(void)state;
	struct msg m;
	parse_whole((const uint8_t *)&v_req_import, &m);
	assert_string_equal(m.busid, "1-1.4");

	uint8_t out[40];
	assert_int_equal(usbip_encode_op_req_import(out, sizeof(out), "1-1.4"), 40);
	assert_memory_equal(out, &v_req_import, 40);
}

static void test_rep_import(void **state)
{
	(void)state;
	struct msg m;
	parse_whole((const uint8_t *)&v_rep_import_ok, &m);
	assert_int_equal(m.status, USBIP_ST_OK);
	assert_device_equal(&m.dev[0], &dev2_expect);

	uint8_t out[320];
	assert_int_equal(usbip_encode_op_rep_import(out, sizeof(out), USBIP_ST_OK, &dev2_expect),
	                 320);
	assert_memory_equal(out, &v_rep_import_ok, 320);

	/* Failure: exactly 8 bytes; dev ignored by the encoder (NULL is fine)
	 * and untouched by the decoder. */
	assert_int_equal(usbip_encode_op_rep_import(out, sizeof(out), USBIP_ST_NODEV, NULL), 8);
	assert_memory_equal(out, v_rep_import_nodev, 8);
	struct usbip_usb_device d;
	memset(&d, 0xa5, sizeof(d));
	uint32_t status = 0;
	assert_int_equal(usbip_decode_op_rep_import(v_rep_import_nodev, 8, &status, &d), 8);
	assert_int_equal(status, USBIP_ST_NODEV);
	for (size_t i = 0; i < sizeof(d); i++)
		assert_int_equal(((uint8_t *)&d)[i], 0xa5);
}

/* Every ST_* value (§2.2): the numbers, and the 8-byte failure reply. */
static void test_op_status_codes(void **state)
{
	(void)state;
	assert_int_equal(USBIP_ST_OK, 0);
	assert_int_equal(USBIP_ST_NA, 1);
	assert_int_equal(USBIP_ST_DEV_BUSY, 2);
	assert_int_equal(USBIP_ST_DEV_ERR, 3);
	assert_int_equal(USBIP_ST_NODEV, 4);
	assert_int_equal(USBIP_ST_ERROR, 5);
	for (uint32_t st = USBIP_ST_NA; st <= USBIP_ST_ERROR; st++) {
		uint8_t want[8] = {0x01, 0x11, 0x00, 0x03, 0x00, 0x00, 0x00, (uint8_t)st};
		uint8_t out[320];
		assert_int_equal(usbip_encode_op_rep_import(NULL, 0, st, &dev1_expect), 8);
		assert_int_equal(usbip_encode_op_rep_import(out, sizeof(out), st, &dev1_expect), 8);
		assert_memory_equal(out, want, 8);
		uint32_t status = 99;
		struct usbip_usb_device d;
		assert_int_equal(usbip_decode_op_rep_import(want, 8, &status, &d), 8);
		assert_int_equal(status, st);
		assert_int_equal(usbip_frame_size(want, 8, 0), 8);
	}
	/* Any non-zero status is a failure reply, not only the named ones. */
	uint8_t odd[8] = {0x01, 0x11, 0x00, 0x03, 0x00, 0x00, 0x01, 0x00};
	uint32_t status = 0;
	struct usbip_usb_device d;
	assert_int_equal(usbip_decode_op_rep_import(odd, 8, &status, &d), 8);
	assert_int_equal(status, 0x100);
}

static void test_cmd_submit_get_desc(void **state)
{
	(void)state;
	struct msg m;
	parse_whole(v_cmd_get_desc, &m);
	const struct usbip_header *h = &m.h;
	assert_int_equal(h->base.command, USBIP_CMD_SUBMIT);
	assert_int_equal(h->base.seqnum, 1);
	assert_int_equal(h->base.devid, 0x00010002);
	assert_int_equal(h->base.direction, USBIP_DIR_IN);
	assert_int_equal(h->base.ep, 0);
	assert_int_equal(h->u.cmd_submit.transfer_flags, USBIP_URB_DIR_IN);
	assert_int_equal(h->u.cmd_submit.transfer_buffer_length, 18);
	assert_int_equal(h->u.cmd_submit.start_frame, 0);
	assert_int_equal(h->u.cmd_submit.number_of_packets, 0);
	assert_int_equal(h->u.cmd_submit.interval, 0);
	/* setup stays in USB byte order (§3.2). */
	static const uint8_t setup[8] = {0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x12, 0x00};
	assert_memory_equal(h->u.cmd_submit.setup, setup, 8);
	assert_int_equal(usbip_get_le16(h->u.cmd_submit.setup + 2), 0x0100);
	assert_int_equal(usbip_get_le16(h->u.cmd_submit.setup + 6), 18);
	assert_int_equal(m.data_len, 0);
	assert_int_equal(usbip_cmd_submit_payload_size(h, false), 0);

	/* The header encoder from values written out here. */
	struct usbip_header e = {
	        .base = {USBIP_CMD_SUBMIT, 1, 0x00010002, USBIP_DIR_IN, 0},
	        .u.cmd_submit = {USBIP_URB_DIR_IN, 18, 0, 0, 0, {0x80, 6, 0, 1, 0, 0, 18, 0}},
	};
	uint8_t out[48];
	assert_int_equal(usbip_encode_header(out, sizeof(out), &e), 48);
	assert_memory_equal(out, v_cmd_get_desc, 48);
}

static void test_ret_submit_get_desc(void **state)
{
	(void)state;
	struct msg m;
	parse_whole(v_ret_get_desc, &m);
	assert_int_equal(m.h.base.command, USBIP_RET_SUBMIT);
	assert_int_equal(m.h.base.seqnum, 1);
	assert_int_equal(m.h.base.devid, 0);
	assert_int_equal(m.h.u.ret_submit.status, 0);
	assert_int_equal(m.h.u.ret_submit.actual_length, 18);
	assert_int_equal(m.h.u.ret_submit.error_count, 0);
	assert_int_equal(m.data_len, 18);
	assert_memory_equal(m.data, v_ret_get_desc + 48, 18);
	/* The same header framed as a reply to an OUT URB has no payload. */
	assert_int_equal(usbip_ret_submit_payload_size(&m.h, false, false), 0);
	assert_int_equal(usbip_frame_size(v_ret_get_desc, sizeof(v_ret_get_desc), 0), 48);

	struct usbip_header e = {
	        .base = {USBIP_RET_SUBMIT, 1, 0, 0, 0},
	        .u.ret_submit = {0, 18, 0, 0, 0},
	};
	uint8_t out[48];
	assert_int_equal(usbip_encode_header(out, sizeof(out), &e), 48);
	assert_memory_equal(out, v_ret_get_desc, 48);
}

static void test_bulk_and_interrupt(void **state)
{
	(void)state;
	struct msg m;
	parse_whole(v_cmd_bulk_out, &m);
	assert_int_equal(m.h.base.direction, USBIP_DIR_OUT);
	assert_int_equal(m.h.base.ep, 2);
	assert_int_equal(m.h.u.cmd_submit.transfer_flags, USBIP_URB_ZERO_PACKET);
	assert_int_equal(m.data_len, 8);
	assert_memory_equal(m.data, "usblab!\n", 8);

	parse_whole(v_ret_bulk_out, &m);
	assert_int_equal(m.h.u.ret_submit.actual_length, 8);
	assert_int_equal(m.data_len, 0);

	/* np = -1 on a non-ISO endpoint is kept as received, to be echoed,
	 * and reads no descriptors (§3.5). */
	parse_whole(v_cmd_bulk_in_np_m1, &m);
	assert_int_equal(m.h.u.cmd_submit.number_of_packets, -1);
	assert_int_equal(m.h.u.cmd_submit.transfer_buffer_length, 512);
	assert_int_equal(usbip_cmd_submit_payload_size(&m.h, false), 0);

	parse_whole(v_cmd_intr_in, &m);
	assert_int_equal(m.h.u.cmd_submit.start_frame, -1);
	assert_int_equal(m.h.u.cmd_submit.interval, 8);
	assert_int_equal(m.h.base.ep, 3);
}

static void test_iso_vectors(void **state)
{
	(void)state;
	struct msg m;
	parse_whole(v_cmd_iso_in, &m);
	assert_int_equal(m.h.u.cmd_submit.transfer_flags, USBIP_URB_DIR_IN | USBIP_URB_ISO_ASAP);
	assert_int_equal(m.h.u.cmd_submit.number_of_packets, 3);
	assert_int_equal(m.data_len, 0);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(m.iso[i].offset, 64 * i);
		assert_int_equal(m.iso[i].length, 64);
		assert_int_equal(m.iso[i].actual_length, 0);
		assert_int_equal(m.iso[i].status, 0);
	}

	parse_whole(v_ret_iso_in, &m);
	assert_int_equal(m.h.u.ret_submit.actual_length, 30);
	assert_int_equal(m.h.u.ret_submit.start_frame, 0x123);
	assert_int_equal(m.h.u.ret_submit.number_of_packets, 3);
	assert_int_equal(m.h.u.ret_submit.error_count, 1);
	assert_int_equal(m.data_len, 30);
	assert_int_equal(m.iso[0].actual_length, 10);
	assert_int_equal(m.iso[1].actual_length, 0);
	assert_int_equal(m.iso[1].status, -USBIP_EXDEV);
	assert_int_equal(m.iso[2].offset, 128);
	assert_int_equal(m.iso[2].actual_length, 20);
	/* The client puts the packed data back at the offsets (§3.4). */
	uint8_t urb[192];
	memset(urb, 0, sizeof(urb));
	memcpy(urb, m.data, m.data_len);
	assert_true(usbip_iso_unpack(urb, sizeof(urb), 30, m.iso, 3) >= 0);
	assert_memory_equal(urb, v_ret_iso_in + 48, 10);
	assert_memory_equal(urb + 128, v_ret_iso_in + 58, 20);
	/* ... and the server's packing produces the vector's data. */
	uint8_t packed[192];
	memcpy(packed, urb, sizeof(packed));
	assert_int_equal(usbip_iso_pack(packed, sizeof(packed), m.iso, 3), 30);
	assert_memory_equal(packed, v_ret_iso_in + 48, 30);

	parse_whole(v_cmd_iso_out, &m);
	assert_int_equal(m.data_len, 32); /* OUT data is the whole buffer */
	assert_int_equal(m.h.u.cmd_submit.start_frame, 16);
	assert_int_equal(m.iso[1].offset, 16);

	parse_whole(v_ret_iso_out, &m);
	assert_int_equal(m.data_len, 0);
	assert_int_equal(m.iso[0].actual_length + m.iso[1].actual_length,
	                 (uint32_t)m.h.u.ret_submit.actual_length);
}

static void test_unlink(void **state)
{
	(void)state;
	struct msg m;
	parse_whole(v_cmd_unlink, &m);
	assert_int_equal(m.h.base.command, USBIP_CMD_UNLINK);
	assert_int_equal(m.h.base.seqnum, 8);
	assert_int_equal(m.h.u.cmd_unlink.unlink_seqnum, 3);
	parse_whole(v_ret_unlink, &m);
	assert_int_equal(m.h.base.command, USBIP_RET_UNLINK);
	assert_int_equal(m.h.base.seqnum, 8);
	assert_int_equal(m.h.u.ret_unlink.status, -USBIP_ECONNRESET);

	/* Pad bytes are written as zeros even when the struct is dirty. */
	struct usbip_header e;
	memset(&e, 0xff, sizeof(e));
	e.base = (struct usbip_header_basic){USBIP_RET_UNLINK, 8, 0, 0, 0};
	e.u.ret_unlink.status = -USBIP_ECONNRESET;
	uint8_t out[48];
	assert_int_equal(usbip_encode_header(out, sizeof(out), &e), 48);
	assert_memory_equal(out, v_ret_unlink, 48);
	memset(&e, 0xff, sizeof(e));
	e.base = (struct usbip_header_basic){USBIP_CMD_UNLINK, 8, 0x00010002, 0, 0};
	e.u.cmd_unlink.unlink_seqnum = 3;
	assert_int_equal(usbip_encode_header(out, sizeof(out), &e), 48);
	assert_memory_equal(out, v_cmd_unlink, 48);
	memset(&e, 0xff, sizeof(e));
	e.base = (struct usbip_header_basic){USBIP_RET_SUBMIT, 1, 0, 0, 0};
	e.u.ret_submit = (struct usbip_header_ret_submit){0, 18, 0, 0, 0};
	assert_int_equal(usbip_encode_header(out, sizeof(out), &e), 48);
	assert_memory_equal(out, v_ret_get_desc, 48);
}

/* ---- properties over every vector --------------------------------------- */

/* Every strict prefix is "need more", at the guard page; the whole vector,
 * also at the guard page, decodes to its full length. */
static void test_truncation(void **state)
{
	(void)state;
	struct guard g;
	struct msg m;
	assert_int_equal(guard_init(&g, 1), 0);
	for (size_t i = 0; i < NVECS; i++) {
		const struct vec *v = &vecs[i];
		for (size_t n = 0; n < v->len; n++) {
			const uint8_t *p = guard_place(&g, v->bytes, n);
			long r = parse_msg(v, p, n, &m);
			if (r != USBIP_E_NEED_MORE)
				fail_msg("%s: prefix %zu of %zu gave %ld", v->name, n, v->len, r);
		}
		const uint8_t *p = guard_place(&g, v->bytes, v->len);
		assert_int_equal(parse_msg(v, p, v->len, &m), (long)v->len);
	}
	guard_free(&g);
}

/* usbip_frame_size: the exact size once it is known, "need more" before;
 * never an error for a prefix of a valid message. */
static void test_frame_size(void **state)
{
	(void)state;
	struct guard g;
	assert_int_equal(guard_init(&g, 1), 0);
	for (size_t i = 0; i < NVECS; i++) {
		const struct vec *v = &vecs[i];
		for (size_t n = 0; n <= v->len; n++) {
			const uint8_t *p = guard_place(&g, v->bytes, n);
			long r = usbip_frame_size(p, n, v->flags);
			if (r != USBIP_E_NEED_MORE && r != (long)v->len)
				fail_msg("%s: frame size of prefix %zu is %ld, want %zu or "
				         "need-more",
				         v->name, n, r, v->len);
		}
		assert_int_equal(usbip_frame_size(v->bytes, v->len, v->flags), (long)v->len);
	}
	guard_free(&g);
}

/* All vectors back to back as one byte stream, read `chunk` bytes at a
 * time: after each read the reader asks for the frame size and cuts a
 * message as soon as it is complete. Every cut must fall exactly on a
 * vector boundary, with the following bytes already in the buffer when the
 * chunk is larger than one byte. */
static void stream_vectors(size_t chunk)
{
	size_t total = 0;
	for (size_t i = 0; i < NVECS; i++)
		total += vecs[i].len;
	uint8_t *stream = malloc(total);
	assert_non_null(stream);
	size_t off = 0;
	for (size_t i = 0; i < NVECS; i++) {
		memcpy(stream + off, vecs[i].bytes, vecs[i].len);
		off += vecs[i].len;
	}

	size_t have = 0, start = 0, cur = 0;
	while (cur < NVECS) {
		size_t add = total - have < chunk ? total - have : chunk;
		have += add;
		for (;;) {
			const struct vec *v = &vecs[cur];
			long r = usbip_frame_size(stream + start, have - start, v->flags);
			if (r == USBIP_E_NEED_MORE || (r > 0 && (size_t)r > have - start))
				break;
			if (r != (long)v->len)
				fail_msg("%s (chunk %zu): frame size %ld with %zu bytes present, "
				         "want %zu",
				         v->name, chunk, r, have - start, v->len);
			struct msg m;
			assert_int_equal(parse_msg(v, stream + start, have - start, &m), r);
			start += (size_t)r;
			if (++cur == NVECS)
				break;
		}
		if (add == 0 && cur < NVECS)
			fail_msg("stream ended inside %s", vecs[cur].name);
	}
	assert_int_equal(start, total);
	free(stream);
}

static void test_stream_bytewise(void **state)
{
	(void)state;
	stream_vectors(1);
}

static void test_stream_chunks(void **state)
{
	(void)state;
	stream_vectors(7);
	stream_vectors(48);
	stream_vectors(4096);
}

/* decode -> encode gives the vector back; decode again gives the same. */
static void test_round_trip(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVECS; i++) {
		const struct vec *v = &vecs[i];
		struct msg a, b;
		uint8_t out[1024];
		assert_int_equal(parse_msg(v, v->bytes, v->len, &a), (long)v->len);
		long n = encode_msg(v, &a, out, sizeof(out));
		if (n != (long)v->len || memcmp(out, v->bytes, v->len) != 0)
			fail_msg("%s: re-encoding differs (%ld bytes)", v->name, n);
		assert_int_equal(parse_msg(v, out, (size_t)n, &b), n);
		assert_msg_equal(v, &a, &b);
	}
}

/* Each vector with a trailing byte of the next message: decoders consume
 * exactly their message and no more. */
static void test_trailing_bytes(void **state)
{
	(void)state;
	for (size_t i = 0; i < NVECS; i++) {
		const struct vec *v = &vecs[i];
		uint8_t buf[1024];
		memcpy(buf, v->bytes, v->len);
		memset(buf + v->len, 0, 64);
		struct msg m;
		assert_int_equal(parse_msg(v, buf, v->len + 64, &m), (long)v->len);
		assert_int_equal(usbip_frame_size(buf, v->len + 64, v->flags), (long)v->len);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_req_devlist),
	        cmocka_unit_test(test_rep_devlist),
	        cmocka_unit_test(test_req_import),
	        cmocka_unit_test(test_rep_import),
	        cmocka_unit_test(test_op_status_codes),
	        cmocka_unit_test(test_cmd_submit_get_desc),
	        cmocka_unit_test(test_ret_submit_get_desc),
	        cmocka_unit_test(test_bulk_and_interrupt),
	        cmocka_unit_test(test_iso_vectors),
	        cmocka_unit_test(test_unlink),
	        cmocka_unit_test(test_truncation),
	        cmocka_unit_test(test_frame_size),
	        cmocka_unit_test(test_stream_bytewise),
	        cmocka_unit_test(test_stream_chunks),
	        cmocka_unit_test(test_round_trip),
	        cmocka_unit_test(test_trailing_bytes),
	};
	return cmocka_run_group_tests_name("codec-vectors", tests, NULL, NULL);
}
