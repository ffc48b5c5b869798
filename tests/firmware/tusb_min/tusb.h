/* SPDX-License-Identifier: MIT */
/*
 * tusb.h - the part of TinyUSB's host API that firmware/usbip_tuh.c uses,
 * declared here for the Linux tests and the Cortex-M0+ size check.
 *
 * Written from reading TinyUSB's src/host/usbh.h, src/host/usbh_pvt.h and
 * src/common/tusb_types.h (hathach/tinyusb, 2026-08): the same names,
 * signatures, struct layouts and enum values, nothing copied. Only what the
 * backend touches is here; the real firmware includes TinyUSB's own tusb.h.
 */
#ifndef TUSB_MIN_TUSB_H
#define TUSB_MIN_TUSB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TU_ATTR_PACKED __attribute__((packed))

/* tusb_option.h: the API declared here is 0.21's (usbh_class_driver_t's
 * open() returns a length). */
#define TUSB_VERSION_MAJOR    0
#define TUSB_VERSION_MINOR    21
#define TUSB_VERSION_REVISION 0

/* tusb_types.h */
typedef enum {
	TUSB_SPEED_FULL = 0,
	TUSB_SPEED_LOW = 1,
	TUSB_SPEED_HIGH = 2,
	TUSB_SPEED_AUTO = 0xaa,
	TUSB_SPEED_INVALID = 0xff,
} tusb_speed_t;

typedef enum {
	TUSB_XFER_CONTROL = 0,
	TUSB_XFER_ISOCHRONOUS,
	TUSB_XFER_BULK,
	TUSB_XFER_INTERRUPT
} tusb_xfer_type_t;

typedef enum {
	TUSB_DESC_DEVICE = 0x01,
	TUSB_DESC_CONFIGURATION = 0x02,
	TUSB_DESC_STRING = 0x03,
	TUSB_DESC_INTERFACE = 0x04,
	TUSB_DESC_ENDPOINT = 0x05,
	TUSB_DESC_INTERFACE_ASSOCIATION = 0x0b,
} tusb_desc_type_t;

typedef enum {
	XFER_RESULT_SUCCESS = 0,
	XFER_RESULT_FAILED,
	XFER_RESULT_STALLED,
	XFER_RESULT_TIMEOUT,
	XFER_RESULT_ABORTED,
	XFER_RESULT_INVALID
} xfer_result_t;

typedef struct TU_ATTR_PACKED {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint16_t bcdUSB;
	uint8_t bDeviceClass;
	uint8_t bDeviceSubClass;
	uint8_t bDeviceProtocol;
	uint8_t bMaxPacketSize0;
	uint16_t idVendor;
	uint16_t idProduct;
	uint16_t bcdDevice;
	uint8_t iManufacturer;
	uint8_t iProduct;
	uint8_t iSerialNumber;
	uint8_t bNumConfigurations;
} tusb_desc_device_t;

typedef struct TU_ATTR_PACKED {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint16_t wTotalLength;
	uint8_t bNumInterfaces;
	uint8_t bConfigurationValue;
	uint8_t iConfiguration;
	uint8_t bmAttributes;
	uint8_t bMaxPower;
} tusb_desc_configuration_t;

typedef struct TU_ATTR_PACKED {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint8_t bInterfaceNumber;
	uint8_t bAlternateSetting;
	uint8_t bNumEndpoints;
	uint8_t bInterfaceClass;
	uint8_t bInterfaceSubClass;
	uint8_t bInterfaceProtocol;
	uint8_t iInterface;
} tusb_desc_interface_t;

typedef struct TU_ATTR_PACKED {
	uint8_t bLength;
	uint8_t bDescriptorType;
	uint8_t bEndpointAddress;
	struct TU_ATTR_PACKED {
		uint8_t xfer : 2;
		uint8_t sync : 2;
		uint8_t usage : 2;
		uint8_t : 2;
	} bmAttributes;
	uint16_t wMaxPacketSize;
	uint8_t bInterval;
} tusb_desc_endpoint_t;

typedef struct TU_ATTR_PACKED {
	uint8_t bmRequestType;
	uint8_t bRequest;
	uint16_t wValue;
	uint16_t wIndex;
	uint16_t wLength;
} tusb_control_request_t;

_Static_assert(sizeof(tusb_desc_device_t) == 18, "device descriptor is 18 bytes");
_Static_assert(sizeof(tusb_desc_configuration_t) == 9, "configuration descriptor is 9 bytes");
_Static_assert(sizeof(tusb_desc_interface_t) == 9, "interface descriptor is 9 bytes");
_Static_assert(sizeof(tusb_desc_endpoint_t) == 7, "endpoint descriptor is 7 bytes");
_Static_assert(sizeof(tusb_control_request_t) == 8, "setup packet is 8 bytes");

/* host/usbh.h */
struct tuh_xfer_s;
typedef struct tuh_xfer_s tuh_xfer_t;
typedef void (*tuh_xfer_cb_t)(tuh_xfer_t *xfer);

struct tuh_xfer_s {
	uint8_t daddr;
	uint8_t ep_addr;
	uint8_t reserved;
	xfer_result_t result;
	uint32_t actual_len;
	union {
		tusb_control_request_t const *setup;
		uint32_t buflen;
	};
	uint8_t *buffer;
	tuh_xfer_cb_t complete_cb;
	uintptr_t user_data;
};

void tuh_mount_cb(uint8_t daddr);
void tuh_umount_cb(uint8_t daddr);
void tuh_task_ext(uint32_t timeout_ms, bool in_isr);
bool tuh_vid_pid_get(uint8_t daddr, uint16_t *vid, uint16_t *pid);
tusb_speed_t tuh_speed_get(uint8_t daddr);
bool tuh_mounted(uint8_t daddr);
bool tuh_control_xfer(tuh_xfer_t *xfer);
bool tuh_edpt_xfer(tuh_xfer_t *xfer);
bool tuh_edpt_open(uint8_t daddr, tusb_desc_endpoint_t const *desc_ep);
bool tuh_edpt_abort_xfer(uint8_t daddr, uint8_t ep_addr);
bool tuh_descriptor_get_device(uint8_t daddr, void *buffer, uint16_t len, tuh_xfer_cb_t complete_cb,
                               uintptr_t user_data);
bool tuh_descriptor_get_configuration(uint8_t daddr, uint8_t index, void *buffer, uint16_t len,
                                      tuh_xfer_cb_t complete_cb, uintptr_t user_data);

#endif /* TUSB_MIN_TUSB_H */
