/* SPDX-License-Identifier: MIT */
/*
 * host/usbh_pvt.h - TinyUSB's class-driver API (src/host/usbh_pvt.h),
 * declared from reading it: what an application host driver implements.
 */
#ifndef TUSB_MIN_USBH_PVT_H
#define TUSB_MIN_USBH_PVT_H

#include "tusb.h"

typedef struct {
	const char *name;
	bool (*const init)(void);
	bool (*const deinit)(void);
#if TUSB_VERSION_MINOR > 20
	uint16_t (*const open)(uint8_t rhport, uint8_t dev_addr,
	                       const tusb_desc_interface_t *itf_desc, uint16_t max_len);
#else
	bool (*const open)(uint8_t rhport, uint8_t dev_addr, const tusb_desc_interface_t *itf_desc,
	                   uint16_t max_len);
#endif
	bool (*const set_config)(uint8_t dev_addr, uint8_t itf_num);
	bool (*const xfer_cb)(uint8_t dev_addr, uint8_t ep_addr, xfer_result_t result,
	                      uint32_t xferred_bytes);
	void (*const close)(uint8_t dev_addr);
} usbh_class_driver_t;

/* The application's extra class drivers; TinyUSB tries them first. */
usbh_class_driver_t const *usbh_app_driver_get_cb(uint8_t *driver_count);

/* A driver tells the stack that interface itf_num is configured. */
void usbh_driver_set_config_complete(uint8_t dev_addr, uint8_t itf_num);

#endif /* TUSB_MIN_USBH_PVT_H */
