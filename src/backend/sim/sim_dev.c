/* SPDX-License-Identifier: MIT */
/*
 * sim_dev.c - the common part of every sim device (see sim_dev.h): the
 * usbip_device_ops, ep0 standard requests (USB 2.0 §9.4), halts and the
 * per-endpoint queues of held URBs.
 */
#include "sim_dev.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* Standard requests (USB 2.0 table 9-4). */
#define REQ_GET_STATUS        0
#define REQ_CLEAR_FEATURE     1
#define REQ_SET_FEATURE       3
#define REQ_SET_ADDRESS       5
#define REQ_GET_DESCRIPTOR    6
#define REQ_GET_CONFIGURATION 8
#define REQ_SET_CONFIGURATION 9
#define REQ_GET_INTERFACE     10
#define REQ_SET_INTERFACE     11

#define FEAT_ENDPOINT_HALT   0
#define FEAT_REMOTE_WAKEUP   1
#define FEAT_TEST_MODE       2
#define FEAT_HUB_PORT_RESET  4
#define RT_HUB_PORT          0x23 /* class, recipient "other": a hub port */
#define REQ_TYPE_MASK        0x60
#define REQ_TYPE_STANDARD    0x00
#define REQ_TYPE_CLASS       0x20
#define REQ_RECIPIENT_MASK   0x1f
#define REQ_RECIPIENT_DEVICE 0
#define REQ_RECIPIENT_INTF   1
#define REQ_RECIPIENT_EP     2

static struct sim_dev *dev_of(struct usbip_export *exp)
{
	return exp->priv;
}

/* ---- held URBs ----------------------------------------------------------- */

void sim_dev_complete(struct usbip_urb *urb, int32_t status, int32_t actual)
{
	if (status == 0 && urb->dir_in && actual < urb->length &&
	    (urb->transfer_flags & USBIP_URB_SHORT_NOT_OK))
		status = -USBIP_EREMOTEIO;
	urb->status = status;
	urb->actual_length = actual;
	urb->backend_priv = NULL;
	usbip_urb_complete(urb);
}

void sim_dev_hold(struct sim_dev *dev, struct usbip_urb *urb)
{
	struct sim_urbq *q = &dev->held[SIM_EP_SLOT(SIM_URB_ADDR(urb))];

	urb->backend_priv = NULL;
	if (q->tail != NULL)
		q->tail->backend_priv = urb;
	else
		q->head = urb;
	q->tail = urb;
}

struct usbip_urb *sim_dev_peek(struct sim_dev *dev, uint8_t ep_addr)
{
	return dev->held[SIM_EP_SLOT(ep_addr)].head;
}

struct usbip_urb *sim_dev_take(struct sim_dev *dev, uint8_t ep_addr)
{
	struct sim_urbq *q = &dev->held[SIM_EP_SLOT(ep_addr)];
	struct usbip_urb *urb = q->head;

	if (urb == NULL)
		return NULL;
	q->head = urb->backend_priv;
	if (q->head == NULL)
		q->tail = NULL;
	urb->backend_priv = NULL;
	return urb;
}

/* Takes urb off its queue; false when it is not held (already completed). */
static bool held_remove(struct sim_dev *dev, struct usbip_urb *urb)
{
	struct sim_urbq *q = &dev->held[SIM_EP_SLOT(SIM_URB_ADDR(urb))];
	struct usbip_urb *prev = NULL;

	for (struct usbip_urb *u = q->head; u != NULL; prev = u, u = u->backend_priv) {
		if (u != urb)
			continue;
		if (prev != NULL)
			prev->backend_priv = u->backend_priv;
		else
			q->head = u->backend_priv;
		if (q->tail == u)
			q->tail = prev;
		u->backend_priv = NULL;
		return true;
	}
	return false;
}

/* Completes every URB held on the slot with status. The queue is re-read
 * after each completion because the core may cancel others from inside. */
static void held_flush_slot(struct sim_dev *dev, unsigned slot, int32_t status)
{
	struct sim_urbq *q = &dev->held[slot];
	struct usbip_urb *urb;

	while ((urb = q->head) != NULL) {
		q->head = urb->backend_priv;
		if (q->head == NULL)
			q->tail = NULL;
		sim_dev_complete(urb, status, urb->actual_length);
	}
}

static void held_flush_all(struct sim_dev *dev, int32_t status)
{
	for (unsigned slot = 0; slot < SIM_EP_SLOTS; slot++)
		held_flush_slot(dev, slot, status);
}

void sim_dev_stall(struct sim_dev *dev, uint8_t ep_addr)
{
	unsigned slot = SIM_EP_SLOT(ep_addr);

	dev->halted |= 1u << slot;
	held_flush_slot(dev, slot, -USBIP_EPIPE);
}

/* ---- clock --------------------------------------------------------------- */

uint64_t sim_dev_monotonic_us(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

bool sim_dev_now(const struct sim_dev *dev, uint64_t *us)
{
	if (dev->clock == NULL)
		return false;
	*us = dev->clock(dev->clock_ctx);
	return true;
}

/* ---- identity ------------------------------------------------------------ */

void sim_dev_set_identity(struct sim_dev *dev, const struct sim_identity *id)
{
	sim_desc_device(dev->device_desc, &id->ids);
	snprintf(dev->serial, sizeof(dev->serial), "USBLAB-%s-%u", id->serial_tag, dev->index);
	dev->strings[1] = "usblab";
	dev->strings[2] = id->product;
	dev->strings[3] = dev->serial;
}

static void set_config_value(struct sim_dev *dev, uint8_t value)
{
	dev->config = value;
	/* §2.3: bConfigurationValue and bNumInterfaces are 0 when unconfigured. */
	dev->exp.info.bConfigurationValue = value;
	dev->exp.info.bNumInterfaces = value != 0 ? dev->num_interfaces : 0;
}

void sim_dev_finish(struct sim_dev *dev)
{
	struct usbip_usb_device *info = &dev->exp.info;
	const uint8_t *d;
	size_t off = 0;
	uint8_t intf = 0;

	memset(dev->ep_type, -1, sizeof(dev->ep_type));
	dev->num_interfaces = 0;
	while ((d = sim_desc_next(dev->config_desc, dev->config_len, &off)) != NULL) {
		if (d[1] == SIM_DT_INTERFACE && d[0] >= 9 && d[3] == 0) {
			intf = d[2];
			if (dev->num_interfaces < USBIP_MAX_INTERFACES) {
				struct usbip_usb_interface *ifr =
				        &dev->exp.ifs[dev->num_interfaces];

				ifr->bInterfaceClass = d[5];
				ifr->bInterfaceSubClass = d[6];
				ifr->bInterfaceProtocol = d[7];
				dev->num_interfaces++;
			}
		} else if (d[1] == SIM_DT_ENDPOINT && d[0] >= 7) {
			dev->ep_type[SIM_EP_SLOT(d[2])] = (int8_t)(d[3] & 0x03);
			dev->ep_intf[SIM_EP_SLOT(d[2])] = intf;
		}
	}
	assert(off == dev->config_len);

	snprintf(info->path, sizeof(info->path), "/sys/devices/usblab/sim/0-%u", dev->index);
	snprintf(info->busid, sizeof(info->busid), "0-%u", dev->index);
	info->busnum = 0;
	info->devnum = dev->index;
	info->speed = USBIP_SPEED_HIGH;
	info->idVendor = usbip_get_le16(dev->device_desc + 8);
	info->idProduct = usbip_get_le16(dev->device_desc + 10);
	info->bcdDevice = usbip_get_le16(dev->device_desc + 12);
	info->bDeviceClass = dev->device_desc[4];
	info->bDeviceSubClass = dev->device_desc[5];
	info->bDeviceProtocol = dev->device_desc[6];
	info->bNumConfigurations = 1;
	/* Exported devices are configured, as the kernel stub leaves them
	 * (it resets and re-configures the device after each connection). */
	set_config_value(dev, 1);

	dev->exp.ops = &sim_dev_ops;
	dev->exp.priv = dev;
	dev->clock = sim_dev_monotonic_us;
	dev->clock_ctx = NULL;
}

/* ---- device state -------------------------------------------------------- */

static bool ep_exists(const struct sim_dev *dev, uint8_t ep_addr)
{
	if ((ep_addr & 0x7f) == 0)
		return true;
	return (ep_addr & 0x70) == 0 && dev->config != 0 && dev->ep_type[SIM_EP_SLOT(ep_addr)] >= 0;
}

static int do_set_configuration(struct sim_dev *dev, uint8_t value)
{
	if (value > 1)
		return -USBIP_EPIPE;
	set_config_value(dev, value);
	/* Configuring resets every endpoint's halt and toggle (USB 2.0 §9.1.1.5);
	 * the host has already killed URBs on endpoints that go away. */
	dev->halted = 0;
	held_flush_all(dev, -USBIP_ESHUTDOWN);
	return 0;
}

static int do_set_interface(struct sim_dev *dev, uint8_t intf, uint8_t alt)
{
	if (dev->config == 0 || intf >= dev->num_interfaces || alt != 0)
		return -USBIP_EPIPE;
	for (unsigned slot = 1; slot < SIM_EP_SLOTS; slot++) {
		if (slot != 16 && dev->ep_type[slot] >= 0 && dev->ep_intf[slot] == intf)
			dev->halted &= ~(1u << slot);
	}
	return 0;
}

static int do_clear_halt(struct sim_dev *dev, uint8_t ep_addr)
{
	if (!ep_exists(dev, ep_addr))
		return -USBIP_EPIPE;
	dev->halted &= ~(1u << SIM_EP_SLOT(ep_addr));
	if ((ep_addr & 0x7f) != 0 && dev->cls->halt_cleared != NULL)
		dev->cls->halt_cleared(dev, ep_addr);
	return 0;
}

static int do_reset(struct sim_dev *dev)
{
	/* Like usb_reset_device() on the kernel stub: the device keeps its
	 * configuration, endpoint state starts over and the URBs still held
	 * end as killed by the reset. */
	dev->halted = 0;
	dev->cls->restart(dev);
	held_flush_all(dev, -USBIP_ESHUTDOWN);
	return 0;
}

/* ---- ep0 ----------------------------------------------------------------- */

static int get_descriptor(struct sim_dev *dev, const struct sim_ctrl *c)
{
	uint8_t type = (uint8_t)(c->wValue >> 8), index = (uint8_t)c->wValue;

	switch (type) {
	case SIM_DT_DEVICE:
		memcpy(c->buf, dev->device_desc, SIM_DEVICE_DESC_SIZE);
		return SIM_DEVICE_DESC_SIZE;
	case SIM_DT_CONFIG:
		if (index != 0)
			return -USBIP_EPIPE;
		memcpy(c->buf, dev->config_desc, dev->config_len);
		return (int)dev->config_len;
	case SIM_DT_OTHER_SPEED:
		if (index != 0)
			return -USBIP_EPIPE;
		return (int)sim_desc_other_speed(dev->config_desc, dev->config_len, c->buf);
	case SIM_DT_QUALIFIER:
		sim_desc_qualifier(c->buf, dev->device_desc);
		return SIM_QUALIFIER_DESC_SIZE;
	case SIM_DT_STRING:
		if (index == 0)
			return (int)sim_desc_langid(c->buf);
		/* Any LANGID is answered in English, as most devices do. */
		if (index >= SIM_STRINGS || dev->strings[index] == NULL)
			return -USBIP_EPIPE;
		return (int)sim_desc_string(c->buf, SIM_CTRL_MAX, dev->strings[index]);
	default:
		return -USBIP_EPIPE; /* BOS, debug, …: a USB 2.0 device stalls */
	}
}

static int standard_device(struct sim_dev *dev, const struct sim_ctrl *c)
{
	bool in = c->bmRequestType & 0x80;

	switch (c->bRequest) {
	case REQ_GET_STATUS:
		if (!in)
			return -USBIP_EPIPE;
		c->buf[0] = 0; /* bus powered, remote wakeup disabled */
		c->buf[1] = 0;
		return 2;
	case REQ_CLEAR_FEATURE:
	case REQ_SET_FEATURE:
		if (in || (c->wValue != FEAT_REMOTE_WAKEUP && c->wValue != FEAT_TEST_MODE))
			return -USBIP_EPIPE;
		return 0;
	case REQ_SET_ADDRESS: /* vhci completes it locally; harmless if sent */
		return in ? -USBIP_EPIPE : 0;
	case REQ_GET_DESCRIPTOR:
		return in ? get_descriptor(dev, c) : -USBIP_EPIPE;
	case REQ_GET_CONFIGURATION:
		if (!in)
			return -USBIP_EPIPE;
		c->buf[0] = dev->config;
		return 1;
	case REQ_SET_CONFIGURATION:
		if (in)
			return -USBIP_EPIPE;
		return do_set_configuration(dev, (uint8_t)c->wValue);
	default:
		return -USBIP_EPIPE;
	}
}

static int standard_interface(struct sim_dev *dev, const struct sim_ctrl *c)
{
	bool in = c->bmRequestType & 0x80;

	if (dev->config == 0 || c->wIndex >= dev->num_interfaces)
		return -USBIP_EPIPE;
	switch (c->bRequest) {
	case REQ_GET_STATUS:
		if (!in)
			return -USBIP_EPIPE;
		c->buf[0] = 0;
		c->buf[1] = 0;
		return 2;
	case REQ_GET_INTERFACE:
		if (!in)
			return -USBIP_EPIPE;
		c->buf[0] = 0;
		return 1;
	case REQ_SET_INTERFACE:
		if (in)
			return -USBIP_EPIPE;
		return do_set_interface(dev, (uint8_t)c->wIndex, (uint8_t)c->wValue);
	case REQ_GET_DESCRIPTOR:
		/* Class descriptors of the interface (HID's report descriptor). */
		return in ? dev->cls->control(dev, c) : -USBIP_EPIPE;
	default:
		return -USBIP_EPIPE;
	}
}

static int standard_endpoint(struct sim_dev *dev, const struct sim_ctrl *c)
{
	bool in = c->bmRequestType & 0x80;
	uint8_t ep_addr = (uint8_t)c->wIndex;

	if (c->wIndex > 0xff || !ep_exists(dev, ep_addr))
		return -USBIP_EPIPE;
	switch (c->bRequest) {
	case REQ_GET_STATUS:
		if (!in)
			return -USBIP_EPIPE;
		c->buf[0] = (dev->halted >> SIM_EP_SLOT(ep_addr)) & 1;
		c->buf[1] = 0;
		return 2;
	case REQ_CLEAR_FEATURE:
		if (in || c->wValue != FEAT_ENDPOINT_HALT)
			return -USBIP_EPIPE;
		return do_clear_halt(dev, ep_addr);
	case REQ_SET_FEATURE:
		if (in || c->wValue != FEAT_ENDPOINT_HALT)
			return -USBIP_EPIPE;
		if ((ep_addr & 0x7f) != 0)
			sim_dev_stall(dev, ep_addr);
		return 0;
	default:
		return -USBIP_EPIPE; /* SYNCH_FRAME: no isochronous endpoints */
	}
}

/* Serves a request; returns the IN length, 0, or -USBIP_EPIPE. */
static int control_request(struct sim_dev *dev, const struct sim_ctrl *c)
{
	if (c->bmRequestType == RT_HUB_PORT && c->bRequest == REQ_SET_FEATURE &&
	    c->wValue == FEAT_HUB_PORT_RESET)
		return do_reset(dev); /* §4.5: the stub would intercept it */

	switch (c->bmRequestType & REQ_TYPE_MASK) {
	case REQ_TYPE_STANDARD:
		switch (c->bmRequestType & REQ_RECIPIENT_MASK) {
		case REQ_RECIPIENT_DEVICE:
			return standard_device(dev, c);
		case REQ_RECIPIENT_INTF:
			return standard_interface(dev, c);
		case REQ_RECIPIENT_EP:
			return standard_endpoint(dev, c);
		default:
			return -USBIP_EPIPE;
		}
	case REQ_TYPE_CLASS:
		if (dev->config == 0)
			return -USBIP_EPIPE;
		return dev->cls->control(dev, c);
	default:
		return -USBIP_EPIPE; /* no vendor requests */
	}
}

static int submit_control(struct sim_dev *dev, struct usbip_urb *urb)
{
	uint8_t scratch[SIM_CTRL_MAX];
	struct sim_ctrl c = {
	        .bmRequestType = urb->setup[0],
	        .bRequest = urb->setup[1],
	        .wValue = usbip_get_le16(urb->setup + 2),
	        .wIndex = usbip_get_le16(urb->setup + 4),
	        .wLength = usbip_get_le16(urb->setup + 6),
	};
	bool in = c.bmRequestType & 0x80;
	uint32_t room = urb->length > 0 ? (uint32_t)urb->length : 0;

	if (urb->data == NULL)
		room = 0;
	if (in) {
		c.buf = scratch;
		c.len = SIM_CTRL_MAX;
	} else {
		c.buf = urb->data;
		c.len = c.wLength < room ? c.wLength : room;
	}

	int r = control_request(dev, &c);

	if (r < 0)
		return r;
	if (!in) {
		sim_dev_complete(urb, 0, (int32_t)c.len);
		return 0;
	}
	uint32_t n = (uint32_t)r;

	assert(n <= SIM_CTRL_MAX);
	if (n > c.wLength)
		n = c.wLength;
	if (n > room)
		n = room;
	memcpy(urb->data, scratch, n);
	sim_dev_complete(urb, 0, (int32_t)n);
	return 0;
}

/* ---- the delay test aid: slow opens and special requests ------------------ */

enum slow_what { SLOW_OPEN, SLOW_SET_CONFIGURATION, SLOW_RESET };

static void open_now(struct sim_dev *dev)
{
	for (unsigned slot = 0; slot < SIM_EP_SLOTS; slot++)
		assert(dev->held[slot].head == NULL);
	dev->halted = 0;
	set_config_value(dev, 1);
	dev->cls->restart(dev);
}

void sim_dev_delay(const struct sim_dev *dev)
{
	struct timespec ts = {
	        .tv_sec = dev->delay_ms / 1000,
	        .tv_nsec = (long)(dev->delay_ms % 1000) * 1000000L,
	};

	while (dev->delay_ms > 0 && nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void slow_run(struct offload_job *job)
{
	sim_dev_delay(((const struct sim_slow *)job)->dev);
}

/* Back on the loop: the device state changes here, then the core hears. */
static void slow_done(struct offload_job *job)
{
	struct sim_slow *s = (struct sim_slow *)job;
	struct sim_dev *dev = s->dev;

	switch (s->what) {
	case SLOW_OPEN:
		open_now(dev);
		usbip_open_done(&dev->exp, USBIP_ST_OK);
		break;
	case SLOW_SET_CONFIGURATION:
		usbip_special_done(&dev->exp, do_set_configuration(dev, s->value));
		break;
	default:
		usbip_special_done(&dev->exp, do_reset(dev));
		break;
	}
}

/* Starts the slow path when the device has a delay and a worker. Returns
 * USBIP_PENDING, or 0 when the caller does the work inline. The core
 * guarantees one open or special request at a time per device. */
static int slow_start(struct sim_dev *dev, enum slow_what what, uint8_t value)
{
	if (dev->work == NULL || dev->delay_ms == 0)
		return 0;
	dev->slow.job.run = slow_run;
	dev->slow.job.done = slow_done;
	dev->slow.dev = dev;
	dev->slow.what = (uint8_t)what;
	dev->slow.value = value;
	if (offload_submit(dev->work, &dev->slow.job) < 0)
		return 0;
	return USBIP_PENDING;
}

/* ---- usbip_device_ops ---------------------------------------------------- */

static int sim_open(struct usbip_export *exp)
{
	struct sim_dev *dev = dev_of(exp);

	if (dev->unplugged)
		return -USBIP_ENODEV;
	if (slow_start(dev, SLOW_OPEN, 0) == USBIP_PENDING)
		return USBIP_PENDING;
	open_now(dev);
	return USBIP_ST_OK;
}

static void sim_close(struct usbip_export *exp)
{
	struct sim_dev *dev = dev_of(exp);

	/* The core has had every URB back by now: forget, never complete.
	 * The class restarts at the next open; DEVLIST shows the device
	 * configured again meanwhile, as the stub's reset leaves it. */
	memset(dev->held, 0, sizeof(dev->held));
	dev->halted = 0;
	set_config_value(dev, 1);
}

static int sim_ep_type(struct usbip_export *exp, uint8_t ep_addr)
{
	struct sim_dev *dev = dev_of(exp);

	if ((ep_addr & 0x7f) == 0)
		return USBIP_EP_CONTROL;
	if (!ep_exists(dev, ep_addr))
		return -1;
	return dev->ep_type[SIM_EP_SLOT(ep_addr)];
}

static int sim_submit(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct sim_dev *dev = dev_of(exp);
	uint8_t ep_addr = SIM_URB_ADDR(urb);

	urb->status = 0;
	urb->actual_length = 0;
	urb->backend_priv = NULL;
	if (dev->unplugged)
		return -USBIP_ENODEV; /* what usb_submit_urb() says once it is gone */
	if (urb->length < 0 || (urb->length > 0 && urb->data == NULL))
		return -USBIP_EINVAL;
	if (urb->ep == 0)
		return submit_control(dev, urb);
	if (urb->ep > 15 || !ep_exists(dev, ep_addr))
		return -USBIP_ENOENT; /* what usb_submit_urb() says */
	if (urb->ep_type != dev->ep_type[SIM_EP_SLOT(ep_addr)])
		return -USBIP_EINVAL;
	if (dev->halted & (1u << SIM_EP_SLOT(ep_addr)))
		return -USBIP_EPIPE;
	return dev->cls->submit(dev, urb);
}

static void sim_cancel(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct sim_dev *dev = dev_of(exp);

	/* A URB not held was completed already; its reply is on its way. An
	 * OUT URB keeps the count of bytes the device took. */
	if (held_remove(dev, urb))
		sim_dev_complete(urb, -USBIP_ECONNRESET, urb->actual_length);
}

static int sim_set_configuration(struct usbip_export *exp, uint8_t value)
{
	if (dev_of(exp)->unplugged)
		return -USBIP_ENODEV;
	if (slow_start(dev_of(exp), SLOW_SET_CONFIGURATION, value) == USBIP_PENDING)
		return USBIP_PENDING;
	return do_set_configuration(dev_of(exp), value);
}

static int sim_set_interface(struct usbip_export *exp, uint8_t intf, uint8_t alt)
{
	if (dev_of(exp)->unplugged)
		return -USBIP_ENODEV;
	return do_set_interface(dev_of(exp), intf, alt);
}

static int sim_clear_halt(struct usbip_export *exp, uint8_t ep_addr)
{
	if (dev_of(exp)->unplugged)
		return -USBIP_ENODEV;
	return do_clear_halt(dev_of(exp), ep_addr);
}

static int sim_reset(struct usbip_export *exp)
{
	if (dev_of(exp)->unplugged)
		return -USBIP_ENODEV;
	if (slow_start(dev_of(exp), SLOW_RESET, 0) == USBIP_PENDING)
		return USBIP_PENDING;
	return do_reset(dev_of(exp));
}

/* The core holds no more references (after usbip_server_remove_export).
 * The device stays the owner's: it is replugged or destroyed by it. */
static void sim_release(struct usbip_export *exp)
{
	struct sim_dev *dev = dev_of(exp);

	dev->released = true;
	if (dev->owner != NULL && dev->owner->released != NULL)
		dev->owner->released(dev->owner_ctx, exp);
}

/* ---- unplug, replug, re-enumeration -------------------------------------- */

void sim_dev_reenumerate(struct sim_dev *dev)
{
	if (dev->owner != NULL && dev->owner->reenumerate != NULL && !dev->unplugged)
		dev->owner->reenumerate(dev->owner_ctx, &dev->exp);
}

int sim_dev_unplug(struct sim_dev *dev)
{
	if (dev->unplugged)
		return -1;
	dev->unplugged = true;
	dev->released = false;
	/* The host controller reports what was in flight as the device's
	 * disappearance (usb_hcd_flush_endpoint: -ENODEV on a gone device,
	 * which the kernel stub sends back as is). */
	held_flush_all(dev, -USBIP_ENODEV);
	return 0;
}

int sim_dev_replug(struct sim_dev *dev, bool power_on)
{
	struct usbip_usb_device *info = &dev->exp.info;

	if (!dev->unplugged || !dev->released)
		return -1;
	for (unsigned slot = 0; slot < SIM_EP_SLOTS; slot++)
		assert(dev->held[slot].head == NULL);
	dev->unplugged = false;
	dev->released = false;
	dev->halted = 0;
	set_config_value(dev, 1);
	if (dev->cls->plug != NULL)
		dev->cls->plug(dev, power_on);
	else
		dev->cls->restart(dev);
	/* The class may have changed its identity (an ESP32's ROM). */
	info->idVendor = usbip_get_le16(dev->device_desc + 8);
	info->idProduct = usbip_get_le16(dev->device_desc + 10);
	info->bcdDevice = usbip_get_le16(dev->device_desc + 12);
	info->bDeviceClass = dev->device_desc[4];
	info->bDeviceSubClass = dev->device_desc[5];
	info->bDeviceProtocol = dev->device_desc[6];
	return 0;
}

const struct usbip_device_ops sim_dev_ops = {
        .name = "sim",
        .open = sim_open,
        .close = sim_close,
        .ep_type = sim_ep_type,
        .submit = sim_submit,
        .cancel = sim_cancel,
        .set_configuration = sim_set_configuration,
        .set_interface = sim_set_interface,
        .clear_halt = sim_clear_halt,
        .reset = sim_reset,
        .release = sim_release,
};
