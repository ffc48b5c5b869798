/* SPDX-License-Identifier: MIT */
/*
 * usbip_tuh.c - TinyUSB host application driver behind usbip_device_ops.
 *
 * Each claimed device has a static slot: its descriptors, its export and
 * one queue per endpoint. TinyUSB runs one transfer per endpoint (and one
 * control transfer at a time), so URBs wait in our queue (linked through
 * urb->backend_priv) and the next starts when the previous completes.
 * See usbip_tuh.h for what TinyUSB cannot do.
 */
#include "usbip_tuh.h"

#include <string.h>

/* tusb.h first: TinyUSB's usbh_pvt.h relies on its types. */
#include "tusb.h"
#include "host/usbh_pvt.h"
#include "usbip_fw_opts.h"
#include "usbip_fw_pool.h"

enum dev_state {
	DEV_FREE = 0,
	DEV_CLAIMED = 1, /* interfaces claimed, enumeration going on */
	DEV_READING = 2, /* mounted, our descriptor reads in flight */
	DEV_READY = 3,   /* descriptors known, exportable */
	DEV_GONE = 4,    /* unplugged, waiting for the core to release exp */
};

#define EP_SLOTS 32 /* index: 0 for control, else number * 2 + IN */

struct tuh_ep {
	struct usbip_urb *active; /* started with TinyUSB */
	struct usbip_urb *head, *tail;
	bool zombie; /* active was unlinked: its buffer is held, its result dropped */
};

struct tuh_dev {
	uint8_t state;
	uint8_t daddr;
	bool exported; /* added to the server; until release() */
	bool removing; /* usbip_server_remove_export called, release() pending */
	bool mounted;  /* tuh_mount_cb seen: descriptors may be read */
	uint8_t read_tries;
	uint8_t dev_desc[18];
	uint8_t cfg[USBIP_FW_CFG_CONFIG_DESC_BYTES];
	uint16_t cfg_len;
	struct tuh_ep ep[EP_SLOTS];
	struct usbip_export exp;
};

static struct tuh_dev devs[USBIP_FW_CFG_MAX_DEVICES];

/* The server we export to (NULL when stopped) and the filter. */
static struct {
	struct usbip_server *srv;
	uint16_t vid, pid;
	usbip_tuh_event_fn fn;
	void *ctx;
} tuh;

/* USB 2.0 §9.4 request codes the backend must not forward. */
#define REQ_SET_ADDRESS       5
#define REQ_SET_CONFIGURATION 9

static struct tuh_dev *dev_by_addr(uint8_t daddr)
{
	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_DEVICES; i++)
		if (devs[i].state != DEV_FREE && devs[i].state != DEV_GONE &&
		    devs[i].daddr == daddr)
			return &devs[i];
	return NULL;
}

static bool filter_match(uint16_t vid, uint16_t pid)
{
	return (tuh.vid == 0 || tuh.vid == vid) && (tuh.pid == 0 || tuh.pid == pid);
}

static int32_t status_of(xfer_result_t r)
{
	switch (r) {
	case XFER_RESULT_SUCCESS:
		return 0;
	case XFER_RESULT_STALLED:
		return -USBIP_EPIPE;
	case XFER_RESULT_TIMEOUT:
		return -USBIP_ETIMEDOUT;
#if TUSB_VERSION_MAJOR > 0 || TUSB_VERSION_MINOR > 20
	case XFER_RESULT_ABORTED: /* from 0.21 on */
		return -USBIP_ECONNRESET;
#endif
	case XFER_RESULT_FAILED:
		return -USBIP_EPROTO;
	default:
		return -USBIP_EINVAL;
	}
}

static void ep_start(struct tuh_dev *dev, struct tuh_ep *e);

/* ---- transfers ---------------------------------------------------------- */

/* TinyUSB's completion (control and endpoint alike): user_data is the
 * endpoint slot. For endpoints TinyUSB does not hand the buffer back, so
 * the slot's active URB is the one that finished. */
static void xfer_done(tuh_xfer_t *xfer)
{
	struct tuh_ep *e = (struct tuh_ep *)xfer->user_data;
	struct tuh_dev *dev = dev_by_addr(xfer->daddr);
	struct usbip_urb *urb = e->active;

	if (!dev || !urb || e < dev->ep || e >= dev->ep + EP_SLOTS)
		return;
	e->active = NULL;
	if (e->zombie) {
		/* Unlinked while started: the core already answered and freed
		 * it; the pool kept the memory until the controller let go. */
		e->zombie = false;
		usbip_fw_pool_unhold(urb);
	} else {
		urb->status = status_of(xfer->result);
		urb->actual_length = xfer->actual_len > (uint32_t)urb->length
		                             ? urb->length
		                             : (int32_t)xfer->actual_len;
		usbip_urb_complete(urb);
	}
	ep_start(dev, e);
	/* The control pipe is free: retry what it refused meanwhile. */
	if (e == dev->ep)
		usbip_tuh_poll();
}

static bool xfer_begin(struct tuh_dev *dev, struct usbip_urb *urb, struct tuh_ep *e)
{
	tuh_xfer_t x;

	memset(&x, 0, sizeof(x));
	x.daddr = dev->daddr;
	x.buffer = urb->data;
	x.complete_cb = xfer_done;
	x.user_data = (uintptr_t)e;
	if (urb->ep == 0) {
		/* tusb_control_request_t is packed: no alignment needed, and
		 * usbh copies the setup packet when it takes the transfer. */
		x.ep_addr = 0;
		x.setup = (const tusb_control_request_t *)(const void *)urb->setup;
		return tuh_control_xfer(&x);
	}
	x.ep_addr = (uint8_t)(urb->ep | (urb->dir_in ? 0x80 : 0));
	x.buflen = (uint32_t)urb->length;
	return tuh_edpt_xfer(&x);
}

/* Starts queued URBs on e until one is running or none is left. */
static void ep_start(struct tuh_dev *dev, struct tuh_ep *e)
{
	while (!e->active && e->head) {
		struct usbip_urb *urb = e->head;

		e->head = urb->backend_priv;
		if (!e->head)
			e->tail = NULL;
		urb->backend_priv = NULL;
		e->active = urb;
		if (xfer_begin(dev, urb, e))
			return;
		e->active = NULL;
		if (urb->ep == 0) {
			/* TinyUSB has one control pipe for all devices and refuses
			 * while it is busy (another device, an enumeration): keep
			 * the URB first in line; usbip_tuh_poll() retries. */
			urb->backend_priv = e->head;
			e->head = urb;
			if (!e->tail)
				e->tail = urb;
			return;
		}
		/* TinyUSB refused (endpoint not open, device going away). */
		urb->status = -USBIP_EPIPE;
		urb->actual_length = 0;
		usbip_urb_complete(urb);
	}
}

static struct tuh_ep *ep_of(struct tuh_dev *dev, const struct usbip_urb *urb)
{
	return urb->ep == 0 ? &dev->ep[0] : &dev->ep[urb->ep * 2 + (urb->dir_in ? 1 : 0)];
}

/* Completes every URB of dev with status (unplug, stop). */
static void dev_export(struct tuh_dev *dev);

static void dev_flush(struct tuh_dev *dev, int32_t status)
{
	for (unsigned i = 0; i < EP_SLOTS; i++) {
		struct tuh_ep *e = &dev->ep[i];
		struct usbip_urb *urb = e->active, *next;

		e->active = NULL;
		if (urb && e->zombie) {
			/* The device is gone: the controller will not write. */
			usbip_fw_pool_unhold(urb);
		} else if (urb) {
			urb->status = status;
			urb->actual_length = 0;
			usbip_urb_complete(urb);
		}
		e->zombie = false;
		for (urb = e->head, e->head = e->tail = NULL; urb; urb = next) {
			next = urb->backend_priv;
			urb->backend_priv = NULL;
			urb->status = status;
			urb->actual_length = 0;
			usbip_urb_complete(urb);
		}
	}
}

/* ---- usbip_device_ops --------------------------------------------------- */

static int tuh_open(struct usbip_export *exp)
{
	struct tuh_dev *dev = exp->priv;

	return dev->state == DEV_READY ? USBIP_ST_OK : USBIP_ST_DEV_ERR;
}

/* Endpoint descriptor of ep_addr in the stored configuration, or NULL. */
static const uint8_t *cfg_find_ep(const struct tuh_dev *dev, uint8_t ep_addr)
{
	for (unsigned off = 0; off + 2 <= dev->cfg_len;) {
		const uint8_t *d = dev->cfg + off;

		if (d[0] < 2 || off + d[0] > dev->cfg_len)
			break;
		if (d[1] == TUSB_DESC_ENDPOINT && d[0] >= 7 && d[2] == ep_addr)
			return d;
		off += d[0];
	}
	return NULL;
}

static int tuh_ep_type(struct usbip_export *exp, uint8_t ep_addr)
{
	const uint8_t *d = cfg_find_ep(exp->priv, ep_addr);

	return d ? d[3] & 3 : -1;
}

static int tuh_submit(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct tuh_dev *dev = exp->priv;
	struct tuh_ep *e;

	if (dev->state != DEV_READY)
		return -USBIP_ENODEV;
	/* TinyUSB's host stack has no isochronous transfers. */
	if (urb->ep_type == USBIP_EP_ISO)
		return -USBIP_EINVAL;
	/* usbh_edpt_xfer takes a uint16_t length. */
	if (urb->length > 0xffff)
		return -USBIP_EINVAL;
	if (urb->ep == 0) {
		uint16_t wlength = usbip_get_le16(urb->setup + 6);

		/* TinyUSB moves wLength bytes: never more than the buffer. */
		if (wlength > urb->length)
			return -USBIP_EINVAL;
		/* vhci keeps addresses to itself; a configuration other than
		 * TinyUSB's would desynchronise its endpoint state (the equal
		 * one is answered by tuh_set_configuration). */
		if ((urb->setup[0] & 0x7f) == 0 &&
		    (urb->setup[1] == REQ_SET_ADDRESS || urb->setup[1] == REQ_SET_CONFIGURATION))
			return -USBIP_EPIPE;
	}
	e = ep_of(dev, urb);
	urb->backend_priv = NULL;
	if (e->tail)
		e->tail->backend_priv = urb;
	else
		e->head = urb;
	e->tail = urb;
	ep_start(dev, e);
	return 0;
}

static void tuh_cancel(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct tuh_dev *dev = exp->priv;
	struct tuh_ep *e = ep_of(dev, urb);
	struct usbip_urb **pp, *prev = NULL;

	for (pp = &e->head; *pp; prev = *pp, pp = (struct usbip_urb **)&(*pp)->backend_priv) {
		if (*pp != urb)
			continue;
		/* Still ours, never given to TinyUSB: an exact unlink. */
		*pp = urb->backend_priv;
		if (e->tail == urb)
			e->tail = prev;
		urb->backend_priv = NULL;
		urb->status = -USBIP_ECONNRESET;
		urb->actual_length = 0;
		usbip_urb_complete(urb);
		return;
	}
	if (e->active == urb && !e->zombie) {
		/* Started: the RP2040's controller cannot abort it
		 * (hcd_edpt_abort_xfer is not implemented, and
		 * tuh_edpt_abort_xfer would mark the endpoint free while the
		 * hardware still owns the buffer). Answer now and hold the
		 * memory until TinyUSB reports the end; that result is dropped. */
		e->zombie = true;
		usbip_fw_pool_hold(urb);
		urb->status = -USBIP_ECONNRESET;
		urb->actual_length = 0;
		usbip_urb_complete(urb);
	}
}

static int tuh_set_configuration(struct usbip_export *exp, uint8_t value)
{
	struct tuh_dev *dev = exp->priv;

	/* TinyUSB set its configuration at enumeration: the same one again is
	 * a no-op; another one goes to submit, which STALLs it. */
	return value == exp->info.bConfigurationValue && dev->state == DEV_READY ? 0 : -USBIP_EPIPE;
}

static int tuh_reset(struct usbip_export *exp)
{
	(void)exp;
	/* TinyUSB can only reset the whole bus, which re-enumerates (and
	 * unexports) every device: answer success without a reset. */
	return 0;
}

static void tuh_release(struct usbip_export *exp)
{
	struct tuh_dev *dev = exp->priv;

	dev->exported = false;
	dev->removing = false;
	if (tuh.fn)
		tuh.fn(tuh.ctx, USBIP_TUH_DETACHED, exp);
	if (dev->state == DEV_GONE)
		dev->state = DEV_FREE;
	else
		dev_export(dev); /* started again while its old client left */
}

const struct usbip_device_ops usbip_tuh_ops = {
        .name = "tinyusb",
        .open = tuh_open,
        .ep_type = tuh_ep_type,
        .submit = tuh_submit,
        .cancel = tuh_cancel,
        .set_configuration = tuh_set_configuration,
        .reset = tuh_reset,
        .release = tuh_release,
};

/* ---- export table ------------------------------------------------------- */

/* "1-<daddr>": bus 1 is the Pico's root port, TinyUSB's address the
 * device number. */
static void busid_format(char busid[USBIP_BUSID_SIZE], uint8_t daddr)
{
	char digits[3];
	unsigned n = 0, i = 0;

	do {
		digits[n++] = (char)('0' + daddr % 10);
		daddr /= 10;
	} while (daddr);
	busid[i++] = '1';
	busid[i++] = '-';
	while (n)
		busid[i++] = digits[--n];
	busid[i] = 0;
}

/* Fills exp from the descriptors (USB 2.0 §9.6.1, §9.6.3, §9.6.5). */
static void dev_fill_export(struct tuh_dev *dev)
{
	struct usbip_usb_device *info = &dev->exp.info;
	const uint8_t *dd = dev->dev_desc;
	unsigned nif = 0;

	memset(&dev->exp, 0, sizeof(dev->exp));
	info->busnum = 1;
	info->devnum = dev->daddr;
	busid_format(info->busid, dev->daddr);
	memcpy(info->path, "/pico/usb/", 10);
	memcpy(info->path + 10, info->busid, sizeof(info->busid) - 1);
	switch (tuh_speed_get(dev->daddr)) {
	case TUSB_SPEED_LOW:
		info->speed = USBIP_SPEED_LOW;
		break;
	case TUSB_SPEED_HIGH:
		info->speed = USBIP_SPEED_HIGH;
		break;
	default:
		info->speed = USBIP_SPEED_FULL;
		break;
	}
	info->idVendor = usbip_get_le16(dd + 8);
	info->idProduct = usbip_get_le16(dd + 10);
	info->bcdDevice = usbip_get_le16(dd + 12);
	info->bDeviceClass = dd[4];
	info->bDeviceSubClass = dd[5];
	info->bDeviceProtocol = dd[6];
	info->bNumConfigurations = dd[17];
	info->bConfigurationValue = dev->cfg_len >= 9 ? dev->cfg[5] : 1;
	for (unsigned off = 9; off + 2 <= dev->cfg_len;) {
		const uint8_t *d = dev->cfg + off;

		if (d[0] < 2 || off + d[0] > dev->cfg_len)
			break;
		/* Alternate setting 0 of each interface, in order (§2.3). */
		if (d[1] == TUSB_DESC_INTERFACE && d[0] >= 9 && d[3] == 0 &&
		    nif < USBIP_MAX_INTERFACES) {
			dev->exp.ifs[nif].bInterfaceClass = d[5];
			dev->exp.ifs[nif].bInterfaceSubClass = d[6];
			dev->exp.ifs[nif].bInterfaceProtocol = d[7];
			nif++;
		}
		off += d[0];
	}
	info->bNumInterfaces = (uint8_t)nif;
	dev->exp.ops = &usbip_tuh_ops;
	dev->exp.priv = dev;
}

static void dev_export(struct tuh_dev *dev)
{
	if (!tuh.srv || dev->state != DEV_READY || dev->exported || dev->removing ||
	    !filter_match(dev->exp.info.idVendor, dev->exp.info.idProduct))
		return;
	if (usbip_server_add_export(tuh.srv, &dev->exp) != USBIP_OK)
		return;
	dev->exported = true;
	if (tuh.fn)
		tuh.fn(tuh.ctx, USBIP_TUH_ATTACHED, &dev->exp);
}

void usbip_tuh_start(struct usbip_server *srv, uint16_t vid, uint16_t pid, usbip_tuh_event_fn fn,
                     void *ctx)
{
	tuh.srv = srv;
	tuh.vid = vid;
	tuh.pid = pid;
	tuh.fn = fn;
	tuh.ctx = ctx;
	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_DEVICES; i++)
		dev_export(&devs[i]);
}

void usbip_tuh_stop(void)
{
	struct usbip_server *srv = tuh.srv;

	if (!srv)
		return;
	/* Cleared first: release() may run inside remove and must not
	 * export the device again. */
	tuh.srv = NULL;
	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_DEVICES; i++) {
		struct tuh_dev *dev = &devs[i];

		if (!dev->exported || dev->removing)
			continue;
		/* Its client's connection closes; what it had in flight comes
		 * back through cancel (unlinked here, held if started). */
		dev->removing = true;
		usbip_server_remove_export(srv, &dev->exp);
	}
	/* tuh.fn stays: DETACHED comes when the core releases each export. */
}

unsigned usbip_tuh_devices(struct usbip_tuh_info *out, unsigned max)
{
	unsigned n = 0;

	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_DEVICES && n < max; i++) {
		const struct tuh_dev *dev = &devs[i];

		if (dev->state != DEV_READY)
			continue;
		memcpy(out[n].busid, dev->exp.info.busid, USBIP_BUSID_SIZE);
		out[n].vid = dev->exp.info.idVendor;
		out[n].pid = dev->exp.info.idProduct;
		out[n].exported = dev->exported;
		out[n].imported = dev->exported && dev->exp.conn != NULL;
		n++;
	}
	return n;
}

/* ---- descriptors after mount ------------------------------------------- */

/* Descriptor reads that fail (or that TinyUSB refuses) are tried this
 * often before the device stays claimed but unexported. */
#define READ_TRIES 3

static void cfg_done(tuh_xfer_t *xfer)
{
	struct tuh_dev *dev = (struct tuh_dev *)xfer->user_data;

	if (dev->state != DEV_READING || dev->daddr != xfer->daddr)
		return;
	if (xfer->result != XFER_RESULT_SUCCESS || xfer->actual_len < 9) {
		/* Tried again by usbip_tuh_poll(), READ_TRIES times; then it
		 * stays claimed (so nothing else drives it) and unexported. */
		dev->read_tries++;
		dev->state = DEV_CLAIMED;
	} else {
		dev->cfg_len = (uint16_t)xfer->actual_len;
		if (usbip_get_le16(dev->cfg + 2) < dev->cfg_len)
			dev->cfg_len = usbip_get_le16(dev->cfg + 2);
		dev->state = DEV_READY;
		dev_fill_export(dev);
		dev_export(dev);
	}
	/* The control pipe is free: retry what it refused meanwhile. */
	usbip_tuh_poll();
}

static void dev_desc_done(tuh_xfer_t *xfer)
{
	struct tuh_dev *dev = (struct tuh_dev *)xfer->user_data;

	if (dev->state != DEV_READING || dev->daddr != xfer->daddr)
		return;
	if (xfer->result != XFER_RESULT_SUCCESS || xfer->actual_len < sizeof(dev->dev_desc)) {
		dev->read_tries++;
		dev->state = DEV_CLAIMED;
		usbip_tuh_poll();
		return;
	}
	/* Refused (the pipe is busy): usbip_tuh_poll() starts over. */
	if (!tuh_descriptor_get_configuration(dev->daddr, 0, dev->cfg, sizeof(dev->cfg), cfg_done,
	                                      (uintptr_t)dev))
		dev->state = DEV_CLAIMED;
}

static void dev_read(struct tuh_dev *dev)
{
	if (dev->read_tries >= READ_TRIES)
		return;
	dev->state = DEV_READING;
	if (!tuh_descriptor_get_device(dev->daddr, dev->dev_desc, sizeof(dev->dev_desc),
	                               dev_desc_done, (uintptr_t)dev))
		dev->state = DEV_CLAIMED;
}

void tuh_mount_cb(uint8_t daddr)
{
	struct tuh_dev *dev = dev_by_addr(daddr);

	if (!dev || dev->state != DEV_CLAIMED)
		return;
	dev->mounted = true;
	dev_read(dev);
}

void usbip_tuh_poll(void)
{
	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_DEVICES; i++) {
		struct tuh_dev *dev = &devs[i];

		if (dev->state == DEV_CLAIMED && dev->mounted)
			dev_read(dev);
		else if (dev->state == DEV_READY && !dev->ep[0].active && dev->ep[0].head)
			ep_start(dev, &dev->ep[0]);
	}
}

/* Unplug: everything in flight completes with -ENODEV (§4.4), then the
 * export leaves the table, which closes its client's connection. */
static void dev_gone(struct tuh_dev *dev)
{
	dev->state = DEV_GONE;
	dev_flush(dev, -USBIP_ENODEV);
	if (!dev->exported) {
		dev->state = DEV_FREE;
	} else if (!dev->removing) {
		/* release() frees the slot once the core lets go of exp. */
		dev->removing = true;
		usbip_server_remove_export(tuh.srv, &dev->exp);
	}
}

void tuh_umount_cb(uint8_t daddr)
{
	struct tuh_dev *dev = dev_by_addr(daddr);

	if (dev)
		dev_gone(dev);
}

/* ---- the application class driver ------------------------------------- */

static bool drv_init(void)
{
	memset(devs, 0, sizeof(devs));
	return true;
}

static bool drv_deinit(void)
{
	return true;
}

/*
 * TinyUSB changed the driver's open(): up to 0.20 it returns bool and
 * usbh hands it exactly one interface (or one association) as max_len;
 * from 0.21 it returns how many bytes it took out of the rest of the
 * configuration.
 */
#ifndef USBIP_FW_TUH_OPEN_RETURNS_LEN
#define USBIP_FW_TUH_OPEN_RETURNS_LEN (TUSB_VERSION_MAJOR > 0 || TUSB_VERSION_MINOR > 20)
#endif

/*
 * Claims the interface at itf and what belongs to it (its class-specific
 * descriptors, endpoints and alternate settings; with the bool API the
 * whole association usbh passed) when the device passes the filter, and
 * opens its alternate setting 0 endpoints. Returns the bytes claimed, 0
 * to leave the interface to other drivers.
 */
static uint16_t drv_claim(uint8_t daddr, const uint8_t *p, uint16_t max_len, bool one_itf)
{
	struct tuh_dev *dev = dev_by_addr(daddr);
	uint16_t vid = 0, pid = 0, len = 0;
	uint8_t alt = 0;

	if (max_len < 9 || p[1] != TUSB_DESC_INTERFACE)
		return 0;
	if (!dev) {
		if (!tuh.srv || !tuh_vid_pid_get(daddr, &vid, &pid) || !filter_match(vid, pid))
			return 0;
		for (unsigned i = 0; i < USBIP_FW_CFG_MAX_DEVICES && !dev; i++)
			if (devs[i].state == DEV_FREE)
				dev = &devs[i];
		if (!dev)
			return 0; /* USBIP_FW_CFG_MAX_DEVICES reached */
		memset(dev, 0, sizeof(*dev));
		dev->state = DEV_CLAIMED;
		dev->daddr = daddr;
	} else if (dev->state != DEV_CLAIMED) {
		return 0;
	}
	while (len + 2u <= max_len) {
		const uint8_t *d = p + len;

		if (d[0] < 2 || len + d[0] > max_len)
			break;
		if (one_itf && len > 0 &&
		    (d[1] == TUSB_DESC_INTERFACE_ASSOCIATION ||
		     (d[1] == TUSB_DESC_INTERFACE && d[2] != p[2])))
			break;
		if (d[1] == TUSB_DESC_INTERFACE && d[0] >= 9)
			alt = d[3];
		/* ISO endpoints are not opened: TinyUSB cannot drive them. */
		if (d[1] == TUSB_DESC_ENDPOINT && d[0] >= 7 && alt == 0 &&
		    (d[3] & 3) != TUSB_XFER_ISOCHRONOUS)
			tuh_edpt_open(daddr, (const tusb_desc_endpoint_t *)(const void *)d);
		len = (uint16_t)(len + d[0]);
	}
	return len;
}

#if USBIP_FW_TUH_OPEN_RETURNS_LEN
static uint16_t drv_open(uint8_t rhport, uint8_t daddr, const tusb_desc_interface_t *itf,
                         uint16_t max_len)
{
	(void)rhport;
	return drv_claim(daddr, (const uint8_t *)itf, max_len, true);
}
#else
static bool drv_open(uint8_t rhport, uint8_t daddr, const tusb_desc_interface_t *itf,
                     uint16_t max_len)
{
	(void)rhport;
	return drv_claim(daddr, (const uint8_t *)itf, max_len, false) >= 9;
}
#endif

static bool drv_set_config(uint8_t daddr, uint8_t itf_num)
{
	usbh_driver_set_config_complete(daddr, itf_num);
	return true;
}

static bool drv_xfer_cb(uint8_t daddr, uint8_t ep_addr, xfer_result_t result, uint32_t len)
{
	/* Every transfer carries its own complete_cb; none lands here. */
	(void)daddr;
	(void)ep_addr;
	(void)result;
	(void)len;
	return false;
}

static void drv_close(uint8_t daddr)
{
	struct tuh_dev *dev = dev_by_addr(daddr);

	if (dev)
		dev_gone(dev);
}

static const usbh_class_driver_t usbip_tuh_driver = {
        .name = "usbip",
        .init = drv_init,
        .deinit = drv_deinit,
        .open = drv_open,
        .set_config = drv_set_config,
        .xfer_cb = drv_xfer_cb,
        .close = drv_close,
};

usbh_class_driver_t const *usbh_app_driver_get_cb(uint8_t *driver_count)
{
	*driver_count = 1;
	return &usbip_tuh_driver;
}
