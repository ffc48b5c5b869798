/* SPDX-License-Identifier: MIT */
/*
 * fake_tuh.c - the fake TinyUSB host stack (see fake_tuh.h).
 */
#include "fake_tuh.h"

#include <string.h>

#include "host/usbh_pvt.h"

#define MAX_ADDR   8
#define MAX_EVENTS 64

struct fake_dev {
	bool connected, mounted;
	const uint8_t *dev_desc, *cfg;
	uint16_t cfg_len;
	tusb_speed_t speed;
	uint32_t opened;         /* endpoint slots opened */
	uint32_t itf_claimed;    /* interfaces bound to the app driver */
	uint32_t itf_configured; /* usbh_driver_set_config_complete seen */
	struct fake_xfer ep[32]; /* slot 0: the control pipe */
};

struct fake_event {
	uint8_t daddr, ep_addr;
	xfer_result_t result;
	uint32_t len;
};

static struct {
	struct fake_dev dev[MAX_ADDR + 1];
	struct fake_event ev[MAX_EVENTS];
	unsigned nev;
	unsigned violations;
	unsigned refusals;
	uint8_t ctrl_owner; /* device whose control transfer runs, 0: none */
	fake_tuh_model_fn model;
	const usbh_class_driver_t *drv;
} fk;

static unsigned slot_of(uint8_t ep_addr)
{
	return (ep_addr & 0x0f) == 0 ? 0 : (ep_addr & 0x0f) * 2u + (ep_addr & 0x80 ? 1u : 0u);
}

static struct fake_dev *dev_get(uint8_t daddr)
{
	if (daddr == 0 || daddr > MAX_ADDR || !fk.dev[daddr].connected)
		return NULL;
	return &fk.dev[daddr];
}

void fake_tuh_init(fake_tuh_model_fn model)
{
	uint8_t n = 0;

	memset(&fk, 0, sizeof(fk));
	fk.model = model;
	fk.drv = usbh_app_driver_get_cb(&n);
	if (n != 1 || !fk.drv || !fk.drv->init())
		fk.violations++;
}

unsigned fake_tuh_attach(uint8_t daddr, const uint8_t *dev_desc, const uint8_t *cfg,
                         uint16_t cfg_len, tusb_speed_t speed)
{
	struct fake_dev *d = &fk.dev[daddr];
	unsigned off = cfg[0], claimed = 0;

	memset(d, 0, sizeof(*d));
	d->connected = true;
	d->dev_desc = dev_desc;
	d->cfg = cfg;
	d->cfg_len = cfg_len;
	d->speed = speed;
	d->opened = 1; /* the control pipe */
#if TUSB_VERSION_MINOR > 20
	/* usbh 0.21's enum_parse_configuration_desc: each interface descriptor
	 * not yet bound goes to the drivers with the rest of the configuration,
	 * which answer how much they took. */
	while (off + 2 <= cfg_len && cfg[off] != 0) {
		const uint8_t *p = cfg + off;
		uint16_t len;

		if (p[1] != TUSB_DESC_INTERFACE) {
			off += p[0];
			continue;
		}
		len = fk.drv->open(0, daddr, (const tusb_desc_interface_t *)(const void *)p,
		                   (uint16_t)(cfg_len - off));
		if (len >= 9 && len <= cfg_len - off) {
			/* tu_bind_driver_to_ep_itf: every interface inside len. */
			for (unsigned i = 0; i < len;) {
				if (p[i + 1] == TUSB_DESC_INTERFACE)
					d->itf_claimed |= 1u << p[i + 2];
				i += p[i] ? p[i] : len;
			}
			off += len;
		} else {
			off += p[0];
		}
	}
#else
	/* usbh 0.19: an IAD sets how many interfaces go together; the driver
	 * gets exactly their descriptors (tu_desc_get_interface_total_len)
	 * and answers yes or no; the parser moves past them either way. */
	uint8_t assoc = 1;

	while (off + 2 <= cfg_len && cfg[off] != 0) {
		const uint8_t *p = cfg + off;
		uint16_t len = 0;

		if (p[1] == TUSB_DESC_INTERFACE_ASSOCIATION) {
			assoc = p[3];
			off += p[0];
			continue;
		}
		if (p[1] != TUSB_DESC_INTERFACE) {
			off += p[0];
			continue;
		}
		for (uint8_t n = assoc; n > 0 && off + len < cfg_len; n--) {
			len = (uint16_t)(len + p[len]);
			while (off + len + 2 <= cfg_len && p[len] != 0 &&
			       p[len + 1] != TUSB_DESC_INTERFACE_ASSOCIATION &&
			       !(p[len + 1] == TUSB_DESC_INTERFACE && p[len + 3] == 0))
				len = (uint16_t)(len + p[len]);
		}
		if (fk.drv->open(0, daddr, (const tusb_desc_interface_t *)(const void *)p, len))
			for (uint8_t i = 0; i < assoc; i++)
				d->itf_claimed |= 1u << (p[2] + i);
		off += len;
		assoc = 1;
	}
#endif
	/* set_config per bound interface; each must report completion. */
	for (uint8_t itf = 0; itf < 32; itf++) {
		if (!(d->itf_claimed & (1u << itf)))
			continue;
		if (!fk.drv->set_config(daddr, itf) || !(d->itf_configured & (1u << itf)))
			fk.violations++;
	}
	d->mounted = true;
	tuh_mount_cb(daddr);
	for (unsigned i = 0; i < 32; i++)
		claimed += (d->itf_claimed >> i) & 1u;
	return claimed;
}

void fake_tuh_detach(uint8_t daddr)
{
	struct fake_dev *d = dev_get(daddr);
	unsigned j = 0;

	if (!d)
		return;
	/* usbh: the umount callback, then the class drivers' close. */
	if (fk.ctrl_owner == daddr)
		fk.ctrl_owner = 0;
	if (d->mounted)
		tuh_umount_cb(daddr);
	fk.drv->close(daddr);
	memset(d, 0, sizeof(*d));
	for (unsigned i = 0; i < fk.nev; i++)
		if (fk.ev[i].daddr != daddr)
			fk.ev[j++] = fk.ev[i];
	fk.nev = j;
}

struct fake_xfer *fake_tuh_pending(uint8_t daddr, uint8_t ep_addr)
{
	struct fake_dev *d = dev_get(daddr);
	struct fake_xfer *xf = d ? &d->ep[slot_of(ep_addr)] : NULL;

	return xf && xf->busy ? xf : NULL;
}

bool fake_tuh_complete(uint8_t daddr, uint8_t ep_addr, xfer_result_t result, const void *data,
                       uint32_t len)
{
	struct fake_xfer *xf = fake_tuh_pending(daddr, ep_addr);
	bool in;

	if (!xf || fk.nev == MAX_EVENTS)
		return false;
	in = slot_of(ep_addr) == 0 ? (xf->req.bmRequestType & 0x80) != 0 : (ep_addr & 0x80) != 0;
	if (len > xf->len)
		len = xf->len;
	if (in && data && len)
		memcpy(xf->x.buffer, data, len);
	fk.ev[fk.nev++] = (struct fake_event){daddr, ep_addr, result, len};
	return true;
}

unsigned fake_tuh_task(void)
{
	unsigned n = 0;

	while (fk.nev > 0) {
		struct fake_event e = fk.ev[0];
		struct fake_dev *d = dev_get(e.daddr);
		struct fake_xfer *xf;
		tuh_xfer_t x;

		memmove(fk.ev, fk.ev + 1, --fk.nev * sizeof(fk.ev[0]));
		if (!d)
			continue;
		xf = &d->ep[slot_of(e.ep_addr)];
		x = xf->x;
		xf->busy = false;
		if (slot_of(e.ep_addr) == 0)
			fk.ctrl_owner = 0; /* idle before the callback, as usbh does */
		x.result = e.result;
		x.actual_len = e.len;
		if (slot_of(e.ep_addr) != 0) {
			/* usbh rebuilds the xfer: buffer and buflen are gone. */
			x.buffer = NULL;
			x.buflen = 0;
		} else {
			x.setup = &xf->req;
		}
		n++;
		if (x.complete_cb)
			x.complete_cb(&x);
	}
	return n;
}

unsigned fake_tuh_violations(void)
{
	return fk.violations;
}

unsigned fake_tuh_refusals(void)
{
	return fk.refusals;
}

uint32_t fake_tuh_opened(uint8_t daddr)
{
	struct fake_dev *d = dev_get(daddr);

	return d ? d->opened : 0;
}

/* ---- the TinyUSB API ----------------------------------------------------- */

void usbh_driver_set_config_complete(uint8_t dev_addr, uint8_t itf_num)
{
	struct fake_dev *d = dev_get(dev_addr);

	if (d && itf_num < 32)
		d->itf_configured |= 1u << itf_num;
}

bool tuh_vid_pid_get(uint8_t daddr, uint16_t *vid, uint16_t *pid)
{
	struct fake_dev *d = dev_get(daddr);

	if (!d)
		return false;
	*vid = (uint16_t)(d->dev_desc[8] | d->dev_desc[9] << 8);
	*pid = (uint16_t)(d->dev_desc[10] | d->dev_desc[11] << 8);
	return true;
}

tusb_speed_t tuh_speed_get(uint8_t daddr)
{
	struct fake_dev *d = dev_get(daddr);

	return d ? d->speed : TUSB_SPEED_INVALID;
}

bool tuh_mounted(uint8_t daddr)
{
	struct fake_dev *d = dev_get(daddr);

	return d && d->mounted;
}

void tuh_task_ext(uint32_t timeout_ms, bool in_isr)
{
	(void)timeout_ms;
	(void)in_isr;
	fake_tuh_task();
}

bool tuh_edpt_open(uint8_t daddr, tusb_desc_endpoint_t const *desc_ep)
{
	struct fake_dev *d = dev_get(daddr);

	if (!d || desc_ep->bDescriptorType != TUSB_DESC_ENDPOINT)
		return false;
	d->opened |= 1u << slot_of(desc_ep->bEndpointAddress);
	return true;
}

bool tuh_edpt_abort_xfer(uint8_t daddr, uint8_t ep_addr)
{
	(void)daddr;
	(void)ep_addr;
	fk.violations++;
	return false;
}

static bool xfer_start(tuh_xfer_t *xfer, bool control)
{
	struct fake_dev *d = dev_get(xfer->daddr);
	struct fake_xfer *xf;
	unsigned slot = slot_of(xfer->ep_addr);

	if (!d || (control != (slot == 0)))
		return false;
	xf = &d->ep[slot];
	/* TinyUSB 0.18 (MicroPython 1.28) has one control pipe for all
	 * devices and refuses while it is busy: not a rule break. */
	if (control && fk.ctrl_owner) {
		fk.refusals++;
		return false;
	}
	if (xf->busy || !(d->opened & (1u << slot)) || !xfer->complete_cb) {
		fk.violations++;
		return false;
	}
	xf->busy = true;
	xf->x = *xfer;
	if (control)
		fk.ctrl_owner = xfer->daddr;
	if (control) {
		/* usbh copies the request: the caller's setup may go away. */
		memcpy(&xf->req, xfer->setup, sizeof(xf->req));
		xf->x.setup = &xf->req;
		xf->len = xf->req.wLength;
	} else {
		xf->len = xfer->buflen;
	}
	/* The device answers GET_DESCRIPTOR(device, configuration) from its
	 * tables, whoever asks (TinyUSB after mount, or a USB/IP client). */
	if (control && xf->req.bmRequestType == 0x80 && xf->req.bRequest == 6 &&
	    (xf->req.wValue >> 8 == TUSB_DESC_DEVICE ||
	     xf->req.wValue >> 8 == TUSB_DESC_CONFIGURATION)) {
		bool dev_desc = xf->req.wValue >> 8 == TUSB_DESC_DEVICE;

		fake_tuh_complete(xfer->daddr, 0, XFER_RESULT_SUCCESS,
		                  dev_desc ? d->dev_desc : d->cfg, dev_desc ? 18u : d->cfg_len);
		return true;
	}
	if (fk.model)
		fk.model(xfer->daddr, xfer->ep_addr, xf);
	return true;
}

bool tuh_control_xfer(tuh_xfer_t *xfer)
{
	return xfer->ep_addr == 0 && xfer->setup && xfer_start(xfer, true);
}

bool tuh_edpt_xfer(tuh_xfer_t *xfer)
{
	return xfer->ep_addr != 0 && xfer_start(xfer, false);
}

static bool get_descriptor(uint8_t daddr, uint8_t type, uint8_t index, void *buffer, uint16_t len,
                           tuh_xfer_cb_t complete_cb, uintptr_t user_data)
{
	tusb_control_request_t req = {
	        .bmRequestType = 0x80,
	        .bRequest = 6, /* GET_DESCRIPTOR */
	        .wValue = (uint16_t)(type << 8 | index),
	        .wIndex = 0,
	        .wLength = len,
	};
	tuh_xfer_t x = {
	        .daddr = daddr,
	        .ep_addr = 0,
	        .setup = &req,
	        .buffer = buffer,
	        .complete_cb = complete_cb,
	        .user_data = user_data,
	};
	return tuh_control_xfer(&x);
}

bool tuh_descriptor_get_device(uint8_t daddr, void *buffer, uint16_t len, tuh_xfer_cb_t complete_cb,
                               uintptr_t user_data)
{
	return get_descriptor(daddr, TUSB_DESC_DEVICE, 0, buffer, len, complete_cb, user_data);
}

bool tuh_descriptor_get_configuration(uint8_t daddr, uint8_t index, void *buffer, uint16_t len,
                                      tuh_xfer_cb_t complete_cb, uintptr_t user_data)
{
	return get_descriptor(daddr, TUSB_DESC_CONFIGURATION, index, buffer, len, complete_cb,
	                      user_data);
}
