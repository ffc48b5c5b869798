/* SPDX-License-Identifier: MIT */
/*
 * sim_desc.h - USB 2.0 descriptors for the sim devices: a builder for
 * configuration descriptors (it computes wTotalLength and bNumInterfaces),
 * string descriptors, the device qualifier and the other-speed
 * configuration, and a walker over a configuration descriptor.
 * Pure functions over byte buffers (USB chapter 9 layouts, little-endian).
 */
#ifndef SIM_DESC_H
#define SIM_DESC_H

#include <stddef.h>
#include <stdint.h>

/* Descriptor types (USB 2.0 table 9-5) and class-specific ones. */
#define SIM_DT_DEVICE       0x01
#define SIM_DT_CONFIG       0x02
#define SIM_DT_STRING       0x03
#define SIM_DT_INTERFACE    0x04
#define SIM_DT_ENDPOINT     0x05
#define SIM_DT_QUALIFIER    0x06
#define SIM_DT_OTHER_SPEED  0x07
#define SIM_DT_HID          0x21
#define SIM_DT_HID_REPORT   0x22
#define SIM_DT_CS_INTERFACE 0x24

#define SIM_DEVICE_DESC_SIZE    18
#define SIM_QUALIFIER_DESC_SIZE 10
#define SIM_CONFIG_DESC_SIZE    9
#define SIM_CONFIG_MAX          256 /* room for any sim configuration */
#define SIM_EP0_MAX_PACKET      64
#define SIM_STRING_MAX_CHARS    126 /* (255 - 2) / 2 UTF-16 units */

/* What a device descriptor says beyond the constants (bcdUSB 2.00,
 * bMaxPacketSize0 64, VID 0x1209, strings 1..3, one configuration). */
struct sim_desc_ids {
	uint16_t idProduct;
	uint16_t bcdDevice;
	uint8_t bDeviceClass;
	uint8_t bDeviceSubClass;
	uint8_t bDeviceProtocol;
	uint16_t idVendor; /* 0: SIM_VENDOR_ID */
};

#define SIM_VENDOR_ID 0x1209 /* pid.codes test VID */

/* Writes the 18-byte device descriptor. */
void sim_desc_device(uint8_t out[SIM_DEVICE_DESC_SIZE], const struct sim_desc_ids *ids);

/* Writes the 10-byte device qualifier that matches a device descriptor
 * (USB 2.0 §9.6.2: what the device would be at the other speed). */
void sim_desc_qualifier(uint8_t out[SIM_QUALIFIER_DESC_SIZE],
                        const uint8_t device[SIM_DEVICE_DESC_SIZE]);

/* A configuration descriptor being built into a caller's buffer. The
 * capacity is an invariant of the calling code, so overruns assert. */
struct sim_desc_builder {
	uint8_t *buf;
	size_t cap;
	size_t len;
};

/* Starts configuration 1 (bus powered, 100 mA) in buf. */
void sim_desc_begin(struct sim_desc_builder *b, uint8_t *buf, size_t cap);
/* Appends an interface descriptor (alternate setting 0, no string). */
void sim_desc_interface(struct sim_desc_builder *b, uint8_t number, uint8_t num_endpoints,
                        uint8_t cls, uint8_t subclass, uint8_t protocol);
/* Appends an endpoint descriptor; interval is the high-speed bInterval. */
void sim_desc_endpoint(struct sim_desc_builder *b, uint8_t address, uint8_t attributes,
                       uint16_t max_packet, uint8_t interval);
/* Appends a class-specific descriptor given whole (its first byte is its
 * bLength and must equal len). */
void sim_desc_raw(struct sim_desc_builder *b, const uint8_t *desc, size_t len);
/* Patches wTotalLength and bNumInterfaces; returns the total length. */
size_t sim_desc_end(struct sim_desc_builder *b);

/* Encodes ASCII text (at most SIM_STRING_MAX_CHARS characters; longer text
 * is cut) as a UTF-16LE string descriptor into out (cap bytes, at least
 * 2 + 2 * strlen). Returns the descriptor's length. */
size_t sim_desc_string(uint8_t *out, size_t cap, const char *ascii);

/* Writes the LANGID string descriptor (index 0): US English, 0x0409. */
size_t sim_desc_langid(uint8_t out[4]);

/* Copies a high-speed configuration as the full-speed other-speed
 * configuration (USB 2.0 §9.6.4): descriptor type 7, bulk endpoints with
 * 64-byte packets, interrupt bInterval converted from 2^(n-1) microframes
 * to frames. out must hold len bytes. Returns len. */
size_t sim_desc_other_speed(const uint8_t *config, size_t len, uint8_t *out);

/*
 * Steps through the descriptors of a configuration. *off starts at 0.
 * Returns the next descriptor and advances *off past it, or NULL at the
 * end or at a descriptor whose bLength is below 2 or runs past len.
 */
const uint8_t *sim_desc_next(const uint8_t *config, size_t len, size_t *off);

#endif /* SIM_DESC_H */
