/* SPDX-License-Identifier: MIT */
/*
 * usbip.h - the USB/IP v1.1.1 wire codec (public API of lib/usbip).
 *
 * Pure functions over bytes: no I/O, no allocation, no logging. Wire
 * integers are big-endian; the structs below hold host-order values and are
 * never overlaid on a buffer (a Cortex-M0+ faults on unaligned loads).
 *
 * Decoders take (buf, len) and return the bytes consumed (> 0),
 * USBIP_E_NEED_MORE when len is short of a whole message, or another
 * negative usbip_err. They never read past len.
 *
 * Encoders take (out, cap) and return the bytes written, or USBIP_E_SHORT
 * when cap is too small. With out == NULL they return the size needed.
 *
 * Section numbers (§) refer to shared/docs/usbip-protocol.md.
 */
#ifndef USBIP_H
#define USBIP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usbip_opts.h"

#define USBIP_VERSION 0x0111
#define USBIP_PORT    3240

/* Fixed wire sizes. */
#define USBIP_OP_COMMON_SIZE      8
#define USBIP_DEVICE_SIZE         312
#define USBIP_INTERFACE_SIZE      4
#define USBIP_OP_IMPORT_REQ_SIZE  40
#define USBIP_DEVLIST_HEADER_SIZE 12
#define USBIP_HEADER_SIZE         48
#define USBIP_ISO_DESC_SIZE       16
#define USBIP_PATH_SIZE           256
#define USBIP_BUSID_SIZE          32

/* Named limits (usbip_opts.h sets them). */
#define USBIP_MAX_TRANSFER    USBIP_CFG_MAX_TRANSFER
#define USBIP_MAX_ISO_PACKETS USBIP_CFG_MAX_ISO_PACKETS
#define USBIP_MAX_DEVLIST     USBIP_CFG_MAX_DEVLIST
#define USBIP_MAX_INTERFACES  USBIP_CFG_MAX_INTERFACES

/*
 * Error codes of lib/usbip. 0 is success. Stable: new codes go last,
 * existing values never change.
 */
enum usbip_err {
	USBIP_OK = 0,
	USBIP_E_NEED_MORE = -1, /* a decoder needs more bytes; not an error */
	USBIP_E_SHORT = -2,     /* an encoder's output buffer is too small */
	USBIP_E_VERSION = -3,   /* version field is not 0x0111 */
	USBIP_E_CODE = -4,      /* unknown OP code or URB command */
	USBIP_E_LIMIT = -5,     /* a length or count is above a named limit */
	USBIP_E_INVALID = -6,   /* a malformed field (negative length, bad string, ISO sums) */
	USBIP_E_NOMEM = -7,     /* the platform allocator failed */
	USBIP_E_STATE = -8,     /* a message that is not allowed in this phase */
	USBIP_E_CLOSED = -9,    /* the connection is closing */
};

/* Returns a constant English description of an usbip_err value. */
const char *usbip_strerror(int err);

/* OP codes (§2.1). */
enum usbip_op_code {
	USBIP_OP_REQ_DEVLIST = 0x8005,
	USBIP_OP_REP_DEVLIST = 0x0005,
	USBIP_OP_REQ_IMPORT = 0x8003,
	USBIP_OP_REP_IMPORT = 0x0003,
};

/* OP reply status (§2.2). Clients treat any non-zero value as failure. */
enum usbip_op_status {
	USBIP_ST_OK = 0,
	USBIP_ST_NA = 1,
	USBIP_ST_DEV_BUSY = 2,
	USBIP_ST_DEV_ERR = 3,
	USBIP_ST_NODEV = 4,
	USBIP_ST_ERROR = 5,
};

/* URB-phase commands (§3.1). */
enum usbip_command {
	USBIP_CMD_SUBMIT = 1,
	USBIP_CMD_UNLINK = 2,
	USBIP_RET_SUBMIT = 3,
	USBIP_RET_UNLINK = 4,
};

#define USBIP_DIR_OUT 0
#define USBIP_DIR_IN  1

/* transfer_flags bits that matter to a server (§3.6). */
#define USBIP_URB_SHORT_NOT_OK 0x0001u
#define USBIP_URB_ISO_ASAP     0x0002u
#define USBIP_URB_ZERO_PACKET  0x0040u
#define USBIP_URB_DIR_IN       0x0200u

/* Wire speed values, Linux enum usb_device_speed (§4.7). */
enum usbip_speed {
	USBIP_SPEED_UNKNOWN = 0,
	USBIP_SPEED_LOW = 1,
	USBIP_SPEED_FULL = 2,
	USBIP_SPEED_HIGH = 3,
	USBIP_SPEED_WIRELESS = 4,
	USBIP_SPEED_SUPER = 5,
	USBIP_SPEED_SUPER_PLUS = 6,
};

/* Linux errno values as they go on the wire, whatever the host's errno.h
 * says (§4.4). URB status fields carry their negatives. */
enum usbip_errno {
	USBIP_ENOENT = 2,
	USBIP_EXDEV = 18,
	USBIP_ENODEV = 19,
	USBIP_EINVAL = 22,
	USBIP_EPIPE = 32,
	USBIP_ETIME = 62,
	USBIP_ENOSR = 63,
	USBIP_ECOMM = 70,
	USBIP_EPROTO = 71,
	USBIP_EOVERFLOW = 75,
	USBIP_EILSEQ = 84,
	USBIP_ECONNRESET = 104,
	USBIP_ESHUTDOWN = 108,
	USBIP_ETIMEDOUT = 110,
	USBIP_EREMOTEIO = 121,
	USBIP_ENOMEM = 12,
	USBIP_EBUSY = 16,
};

/* op_common (§2.1). */
struct usbip_op_common {
	uint16_t version;
	uint16_t code;
	uint32_t status;
};

/* One usbip_usb_interface record (§2.3); the pad byte is not kept. */
struct usbip_usb_interface {
	uint8_t bInterfaceClass;
	uint8_t bInterfaceSubClass;
	uint8_t bInterfaceProtocol;
};

/* The 312-byte usbip_usb_device record (§2.3). path and busid are always
 * NUL-terminated after decoding. */
struct usbip_usb_device {
	char path[USBIP_PATH_SIZE];
	char busid[USBIP_BUSID_SIZE];
	uint32_t busnum;
	uint32_t devnum;
	uint32_t speed;
	uint16_t idVendor;
	uint16_t idProduct;
	uint16_t bcdDevice;
	uint8_t bDeviceClass;
	uint8_t bDeviceSubClass;
	uint8_t bDeviceProtocol;
	uint8_t bConfigurationValue;
	uint8_t bNumConfigurations;
	uint8_t bNumInterfaces;
};

/* usbip_header_basic (§3.1). */
struct usbip_header_basic {
	uint32_t command;
	uint32_t seqnum;
	uint32_t devid;
	uint32_t direction;
	uint32_t ep;
};

struct usbip_header_cmd_submit {
	uint32_t transfer_flags;
	int32_t transfer_buffer_length;
	int32_t start_frame;
	int32_t number_of_packets;
	int32_t interval;
	uint8_t setup[8]; /* raw USB order: wValue, wIndex, wLength little-endian */
};

struct usbip_header_ret_submit {
	int32_t status;
	int32_t actual_length;
	int32_t start_frame;
	int32_t number_of_packets;
	int32_t error_count;
};

struct usbip_header_cmd_unlink {
	uint32_t unlink_seqnum;
};

struct usbip_header_ret_unlink {
	int32_t status;
};

/* A whole 48-byte URB-phase header; base.command selects the union arm. */
struct usbip_header {
	struct usbip_header_basic base;
	union {
		struct usbip_header_cmd_submit cmd_submit;
		struct usbip_header_ret_submit ret_submit;
		struct usbip_header_cmd_unlink cmd_unlink;
		struct usbip_header_ret_unlink ret_unlink;
	} u;
};

/* ISO packet descriptor (§3.4). */
struct usbip_iso_packet {
	uint32_t offset;
	uint32_t length;
	uint32_t actual_length;
	int32_t status;
};

/* Byte helpers: big-endian wire integers, little-endian USB fields. */
static inline uint16_t usbip_get_be16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t usbip_get_be32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void usbip_put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}
static inline void usbip_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static inline uint16_t usbip_get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | (p[1] << 8));
}
static inline void usbip_put_le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

/* ---- OP phase ----------------------------------------------------------- */

/* Decodes the 8-byte op_common. Returns 8, USBIP_E_NEED_MORE, or
 * USBIP_E_VERSION when version != 0x0111. The code is not checked here. */
int usbip_decode_op_common(const uint8_t *buf, size_t len, struct usbip_op_common *op);
int usbip_encode_op_common(uint8_t *out, size_t cap, uint16_t code, uint32_t status);

/* OP_REQ_DEVLIST is op_common alone. */
int usbip_encode_op_req_devlist(uint8_t *out, size_t cap);

/* OP_REQ_IMPORT: op_common + busid[32]. Decoding checks the code and that
 * busid is NUL-terminated within its 32 bytes (else USBIP_E_INVALID). */
int usbip_encode_op_req_import(uint8_t *out, size_t cap, const char *busid);
int usbip_decode_op_req_import(const uint8_t *buf, size_t len, char busid[USBIP_BUSID_SIZE]);

/* One 312-byte device record, optionally followed by nif interface records
 * (DEVLIST sends them, IMPORT does not: pass ifs = NULL and nif = 0 there).
 * The encoder writes dev->bNumInterfaces as given; nif must equal it when
 * ifs != NULL. */
int usbip_encode_usb_device(uint8_t *out, size_t cap, const struct usbip_usb_device *dev,
                            const struct usbip_usb_interface *ifs, unsigned nif);
/* Decodes one record and, when with_ifs, its bNumInterfaces interface
 * records into ifs[] (which holds USBIP_MAX_INTERFACES). Returns bytes
 * consumed; USBIP_E_LIMIT when with_ifs and bNumInterfaces >
 * USBIP_MAX_INTERFACES (an IMPORT reply carries no interface records, so
 * the count is not judged there); USBIP_E_INVALID when path or busid is not
 * NUL-terminated. The encoder returns USBIP_E_INVALID when path or busid
 * leaves no room for its NUL. */
int usbip_decode_usb_device(const uint8_t *buf, size_t len, struct usbip_usb_device *dev,
                            struct usbip_usb_interface *ifs, bool with_ifs);

/* OP_REP_DEVLIST header: op_common(status 0) + ndev. The devices follow,
 * each from usbip_encode_usb_device() with its interfaces. The decoder
 * returns 12 and checks ndev <= USBIP_MAX_DEVLIST. */
int usbip_encode_op_rep_devlist_header(uint8_t *out, size_t cap, uint32_t ndev);
int usbip_decode_op_rep_devlist_header(const uint8_t *buf, size_t len, uint32_t *ndev);

/* OP_REP_IMPORT: 8 bytes when status != 0, else 8 + 312 (no interfaces).
 * dev is ignored by the encoder and untouched by the decoder on failure. */
int usbip_encode_op_rep_import(uint8_t *out, size_t cap, uint32_t status,
                               const struct usbip_usb_device *dev);
int usbip_decode_op_rep_import(const uint8_t *buf, size_t len, uint32_t *status,
                               struct usbip_usb_device *dev);

/* ---- URB phase ---------------------------------------------------------- */

/* Decodes a 48-byte header. Returns 48, USBIP_E_NEED_MORE, USBIP_E_CODE
 * for a command outside 1..4, or, for CMD_SUBMIT, USBIP_E_INVALID when
 * transfer_buffer_length < 0 and USBIP_E_LIMIT when it is above
 * USBIP_MAX_TRANSFER. number_of_packets is not judged here (§3.5). */
int usbip_decode_header(const uint8_t *buf, size_t len, struct usbip_header *h);
/* Encodes a 48-byte header; pad bytes are zero. */
int usbip_encode_header(uint8_t *out, size_t cap, const struct usbip_header *h);

/* Bytes that follow a CMD_SUBMIT header (§3.3): the OUT payload, then
 * np x 16 ISO descriptors when iso. Returns the count, or USBIP_E_LIMIT
 * when iso and np is outside 0..USBIP_MAX_ISO_PACKETS. */
long usbip_cmd_submit_payload_size(const struct usbip_header *h, bool iso);
/* Bytes that follow a RET_SUBMIT header, for a URB of direction dir_in:
 * actual_length bytes when IN, then np x 16 when iso. USBIP_E_INVALID for
 * a negative actual_length, USBIP_E_LIMIT above the limits. */
long usbip_ret_submit_payload_size(const struct usbip_header *h, bool dir_in, bool iso);

/* Frame-size flags: facts about the message that the bytes do not carry. */
#define USBIP_FRAME_ISO    0x1u /* the URB's endpoint is isochronous */
#define USBIP_FRAME_DIR_IN 0x2u /* RET_SUBMIT: the pending URB is IN */

/*
 * How many bytes the whole message starting at buf needs, from as much of
 * it as is present. Returns the total size (which may exceed len: read
 * more), USBIP_E_NEED_MORE when even the size is not known yet, or a
 * negative error for a message that can never be valid. OP messages are
 * recognised by their first two bytes 01 11, URB PDUs by 00 00 (§3.1).
 * For OP_REP_DEVLIST it walks the device records present.
 */
long usbip_frame_size(const uint8_t *buf, size_t len, unsigned flags);

/* np ISO descriptors. decode checks each packet lies inside buflen
 * (offset + length <= buflen) and actual_length <= length. Both return
 * np * 16, which is 0 for np == 0. */
int usbip_encode_iso(uint8_t *out, size_t cap, const struct usbip_iso_packet *iso, unsigned np);
int usbip_decode_iso(const uint8_t *buf, size_t len, struct usbip_iso_packet *iso, unsigned np,
                     uint32_t buflen);

/*
 * ISO IN packing (§3.4). usbip_iso_pack moves, in place, each packet's
 * actual_length bytes from buf + offset down so they follow each other,
 * and returns the packed length (the sum of actual_length), or
 * USBIP_E_INVALID when a packet lies outside buflen.
 * usbip_iso_unpack undoes it on the receiving side: packed_len must equal
 * the sum of actual_length (else USBIP_E_INVALID, as vhci requires); it
 * returns that sum.
 */
long usbip_iso_pack(uint8_t *buf, uint32_t buflen, const struct usbip_iso_packet *iso, unsigned np);
long usbip_iso_unpack(uint8_t *buf, uint32_t buflen, uint32_t packed_len,
                      const struct usbip_iso_packet *iso, unsigned np);

/* Converts libusb's enum libusb_speed to the wire value (§4.7): 4 -> 5,
 * 5 and 6 -> 5 (SuperSpeed-Plus is reported as 5 for the Linux tools). */
uint32_t usbip_speed_from_libusb(int libusb_speed);

#endif /* USBIP_H */
