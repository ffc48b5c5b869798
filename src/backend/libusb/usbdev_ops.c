/* SPDX-License-Identifier: MIT */
/*
 * usbdev_ops.c - the usbip_device_ops of a device exported through libusb.
 *
 * open claims every interface of the active configuration, detaching the
 * kernel drivers (and remembering them); close gives them back. URBs become
 * asynchronous libusb transfers with no timeout (usbip-protocol.md §7.11);
 * their completions set the URB's result and hand it back to the core.
 * libusb errors become wire errno values in usbdev_map.c only.
 *
 * libusb has no asynchronous form of claim, detach, set-configuration,
 * set-interface, clear-halt or reset, and each may wait 100-190 ms for the
 * kernel's device lock (measured in the qemu lab): open, close and the
 * special requests run them on the device's worker (offload.h) as a job,
 * answer the core USBIP_PENDING, and finish on the loop (job_done).
 */
#include <stdlib.h>
#include <string.h>

#include "ul_log.h"
#include "usbdev_int.h"
#include "usbdev_map.h"
#include "usbdev_sysfs.h"

#define SETUP_SIZE LIBUSB_CONTROL_SETUP_SIZE

/* usbdev_job.what */
enum {
	JOB_OPEN,
	JOB_CLOSE,
	JOB_SET_CONFIGURATION,
	JOB_SET_INTERFACE,
	JOB_CLEAR_HALT,
	JOB_RESET,
	JOB_REFRESH,
};

static struct usbdev_dev *dev_of(struct usbip_export *exp)
{
	return exp->priv;
}

/* Whether libusb calls on dev's handle can still mean anything. */
static bool dev_usable(const struct usbdev_dev *dev)
{
	return dev->handle != NULL && !dev->gone;
}

void usbdev_dev_refresh(struct usbdev_dev *dev)
{
	usbdev_dev_read_layout(dev);
	usbdev_dev_publish(dev);
}

void usbdev_dev_publish(struct usbdev_dev *dev)
{
	dev->exp.info.bConfigurationValue = dev->lay.config_value;
	dev->exp.info.bNumInterfaces = dev->lay.nif;
	memcpy(dev->exp.ifs, dev->lay.ifs, sizeof(dev->lay.ifs[0]) * dev->lay.nif);
}

void usbdev_dev_read_layout(struct usbdev_dev *dev)
{
	const char *sysfs = dev->ctx ? dev->ctx->sysfs : USBDEV_SYSFS_ROOT;
	const uint8_t *cfg = NULL;
	size_t cfglen = 0;
	int value, lv;

	value = usbdev_sysfs_config(sysfs, dev->facts.busid);
	if (value < 0 && dev->handle && libusb_get_configuration(dev->handle, &lv) == 0)
		value = lv;
	if (value > 0 &&
	    usbdev_desc_find_config(dev->desc, dev->desclen, (uint8_t)value, &cfg, &cfglen) < 0) {
		ul_warn("usb", "%s: configuration %d not in its descriptors", dev->facts.busid,
		        value);
		cfg = NULL;
	}
	/* Two passes: the first finds the interface numbers, then the kernel
	 * says which alternate setting each one is at. */
	usbdev_desc_layout(cfg, cfglen, &dev->lay);
	for (unsigned i = 0; i < dev->lay.nif; i++) {
		int alt = usbdev_sysfs_alt(sysfs, dev->facts.busid, dev->lay.config_value,
		                           dev->lay.ifnum[i]);

		if (alt >= 0)
			dev->lay.alt[dev->lay.ifnum[i]] = (uint8_t)alt;
	}
	if (usbdev_desc_layout(cfg, cfglen, &dev->lay) < 0)
		ul_warn("usb", "%s: malformed configuration descriptor (%u interfaces read)",
		        dev->facts.busid, dev->lay.nif);
}

/* ---- claiming ------------------------------------------------------------ */

static struct usbdev_claim *claim_find(struct usbdev_dev *dev, uint8_t ifnum)
{
	for (unsigned i = 0; i < dev->nclaim; i++) {
		if (dev->claim[i].ifnum == ifnum)
			return &dev->claim[i];
	}
	return NULL;
}

/*
 * Claims every interface of the active configuration, detaching a kernel
 * driver first where one is bound. Entries already in dev->claim[] (same
 * configuration, claimed again after SET_CONFIGURATION) keep their
 * reattach mark. Returns 0 or a negative usbip_errno; on failure what was
 * claimed stays recorded for usbdev_dev_release().
 */
static int claim_all(struct usbdev_dev *dev)
{
	uint8_t n = 0;
	int r = 0;

	for (unsigned i = 0; i < dev->lay.nif; i++) {
		struct usbdev_claim *c;

		n = dev->lay.ifnum[i];
		c = claim_find(dev, n);
		if (c == NULL) {
			if (dev->nclaim == USBIP_MAX_INTERFACES) {
				r = LIBUSB_ERROR_NO_MEM;
				goto fail;
			}
			c = &dev->claim[dev->nclaim++];
			memset(c, 0, sizeof(*c));
			c->ifnum = n;
		}
		if (c->claimed)
			continue;
		r = libusb_kernel_driver_active(dev->handle, n);
		if (r == 1) {
			r = libusb_detach_kernel_driver(dev->handle, n);
			if (r == 0)
				c->reattach = true;
			else if (r != LIBUSB_ERROR_NOT_FOUND)
				goto fail;
		} else if (r < 0 && r != LIBUSB_ERROR_NOT_SUPPORTED) {
			goto fail;
		}
		r = libusb_claim_interface(dev->handle, n);
		if (r < 0)
			goto fail;
		c->claimed = true;
	}
	return 0;
fail:
	ul_warn("usb", "%s: cannot claim interface %u: %s", dev->facts.busid, n,
	        libusb_strerror(r));
	return usbdev_map_error(r);
}

/* Releases the interfaces claimed; the reattach marks stay. */
static void release_claims(struct usbdev_dev *dev)
{
	for (unsigned i = 0; i < dev->nclaim; i++) {
		if (dev->claim[i].claimed)
			libusb_release_interface(dev->handle, dev->claim[i].ifnum);
		dev->claim[i].claimed = false;
	}
}

/* Binds the kernel drivers we detached again and forgets the claims. */
static void reattach_drivers(struct usbdev_dev *dev)
{
	for (unsigned i = 0; i < dev->nclaim; i++) {
		struct usbdev_claim *c = &dev->claim[i];
		int r;

		if (!c->reattach)
			continue;
		r = libusb_attach_kernel_driver(dev->handle, c->ifnum);
		if (r < 0 && !dev->gone)
			ul_warn("usb", "%s: interface %u: cannot re-attach its kernel driver: %s",
			        dev->facts.busid, c->ifnum, libusb_strerror(r));
	}
	dev->nclaim = 0;
}

void usbdev_dev_release(struct usbdev_dev *dev)
{
	int r;

	/* A client may also have left the device unconfigured (SET_CONFIGURATION 0):
	 * nothing claimed, but the configuration still to restore. */
	if (dev->handle == NULL || (dev->nclaim == 0 && dev->lay.config_value == dev->orig_config))
		return;
	release_claims(dev);
	if (dev->gone) {
		dev->nclaim = 0;
		return;
	}
	if (dev->lay.config_value != dev->orig_config) {
		/* The client changed the configuration. Setting the original one
		 * back makes the kernel create its interfaces and probe their
		 * drivers itself. */
		r = libusb_set_configuration(dev->handle, dev->orig_config ? dev->orig_config : -1);
		if (r == 0) {
			dev->nclaim = 0;
			usbdev_dev_read_layout(dev);
			ul_info("usb", "%s: configuration %u restored", dev->facts.busid,
			        dev->orig_config);
			return;
		}
		ul_warn("usb", "%s: cannot restore configuration %u: %s", dev->facts.busid,
		        dev->orig_config, libusb_strerror(r));
	}
	reattach_drivers(dev);
}

/* On the worker. Returns 0 or USBIP_ST_DEV_BUSY. */
static int open_work(struct usbdev_dev *dev)
{
	unsigned detached = 0;
	struct timespec t0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	usbdev_dev_read_layout(dev);
	dev->orig_config = dev->lay.config_value;
	dev->nclaim = 0;
	r = claim_all(dev);
	usbdev_note_slow(&t0, dev->facts.busid, "claiming");
	if (r < 0) {
		usbdev_dev_release(dev);
		return USBIP_ST_DEV_BUSY;
	}
	for (unsigned i = 0; i < dev->nclaim; i++)
		detached += dev->claim[i].reattach;
	ul_info("usb", "%s: imported: %u interface(s) claimed, %u kernel driver(s) detached",
	        dev->facts.busid, dev->nclaim, detached);
	return 0;
}

/* On the worker. */
static void close_work(struct usbdev_dev *dev)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	usbdev_dev_release(dev);
	usbdev_note_slow(&t0, dev->facts.busid, "releasing");
	ul_info("usb", "%s: released%s", dev->facts.busid,
	        dev->gone ? " (device gone)" : ", kernel drivers re-attached");
}

static int job_start(struct usbdev_dev *dev, struct usbdev_job *j, int what, uint8_t a, uint8_t b);

static int dev_open(struct usbip_export *exp)
{
	struct usbdev_dev *dev = dev_of(exp);

	if (!dev_usable(dev))
		return USBIP_ST_NODEV;
	return job_start(dev, &dev->op_job, JOB_OPEN, 0, 0);
}

static void dev_close(struct usbip_export *exp)
{
	struct usbdev_dev *dev = dev_of(exp);

	if (!dev->opened)
		return;
	dev->opened = false;
	/* Nothing answers a close: the job runs on while the core moves on
	 * (release waits for it, see usbdev.c's reap). */
	job_start(dev, &dev->close_job, JOB_CLOSE, 0, 0);
}

/* The core holds no reference to a removed export any more. */
static void dev_release(struct usbip_export *exp)
{
	usbdev_dev_schedule_reap(dev_of(exp));
}

static int dev_ep_type(struct usbip_export *exp, uint8_t ep_addr)
{
	return usbdev_layout_ep_type(&dev_of(exp)->lay, ep_addr);
}

/* ---- transfers ----------------------------------------------------------- */

static void xfer_free(struct usbdev_xfer *x)
{
	libusb_free_transfer(x->t);
	free(x->bounce);
	free(x);
}

static void xfer_unlink(struct usbdev_xfer *x)
{
	if (x->prev)
		x->prev->next = x->next;
	else
		x->dev->xfers = x->next;
	if (x->next)
		x->next->prev = x->prev;
}

/* ISO packets in libusb lie back to back in the buffer; USB/IP gives each
 * an offset (§3.4) that is normally the same. */
static bool iso_contiguous(const struct usbip_urb *urb)
{
	uint32_t off = 0;

	for (uint32_t i = 0; i < urb->niso; i++) {
		if (urb->iso[i].offset != off)
			return false;
		off += urb->iso[i].length;
	}
	return off <= (uint32_t)urb->length;
}

static void finish_iso(struct usbdev_xfer *x, bool gone)
{
	struct usbip_urb *urb = x->urb;
	uint32_t packed = 0;
	int32_t total = 0, errors = 0;

	for (uint32_t i = 0; i < urb->niso; i++) {
		const struct libusb_iso_packet_descriptor *d = &x->t->iso_packet_desc[i];
		struct usbip_iso_packet *p = &urb->iso[i];
		uint32_t got = d->actual_length < p->length ? d->actual_length : p->length;

		if (x->bounce && urb->dir_in)
			memcpy(urb->data + p->offset, x->bounce + packed, got);
		packed += p->length;
		p->actual_length = got;
		p->status = usbdev_map_status(d->status, gone, false);
		errors += p->status != 0;
		total += (int32_t)got;
	}
	/* vhci requires the sum of the packets' actual_length (§3.4). */
	urb->actual_length = total;
	urb->error_count = errors;
}

static void LIBUSB_CALL on_transfer_done(struct libusb_transfer *t)
{
	struct usbdev_xfer *x = t->user_data;
	struct usbdev_dev *dev = x->dev;
	struct usbip_urb *urb = x->urb;
	bool short_in = false;
	int32_t got;

	xfer_unlink(x);
	urb->backend_priv = NULL;
	urb->error_count = 0;
	if (urb->ep_type == USBIP_EP_ISO) {
		finish_iso(x, dev->gone);
	} else {
		got = t->actual_length < 0 ? 0 : t->actual_length;
		if (got > urb->length)
			got = urb->length;
		if (urb->ep_type == USBIP_EP_CONTROL && urb->dir_in && x->bounce)
			memcpy(urb->data, x->bounce + SETUP_SIZE, (size_t)got);
		urb->actual_length = got;
		short_in = urb->dir_in && got < urb->length &&
		           (urb->transfer_flags & USBIP_URB_SHORT_NOT_OK);
	}
	urb->status = usbdev_map_status(t->status, dev->gone, short_in);
	ul_debug("usb", "%s: seq %u ep %02x done: libusb %d -> status %d, %d bytes",
	         dev->facts.busid, urb->seqnum, t->endpoint, t->status, urb->status,
	         urb->actual_length);
	/* An unplugged device's URBs end with NO_DEVICE or ERROR (-EPROTO
	 * from the host controller): a hint, checked before anything acts. */
	if ((t->status == LIBUSB_TRANSFER_NO_DEVICE || t->status == LIBUSB_TRANSFER_ERROR) &&
	    !dev->gone && dev->ctx)
		usbdev_dev_suspect_gone(dev);
	xfer_free(x);
	usbip_urb_complete(urb);
}

/* Fills t for a control URB: libusb wants the 8-byte setup packet and the
 * data stage in one buffer. */
static int fill_control(struct usbdev_xfer *x)
{
	struct usbip_urb *urb = x->urb;

	if (urb->data_ext) {
		/* usbdev_mem_alloc left room for the setup packet in front. */
		memcpy(urb->data - SETUP_SIZE, urb->setup, SETUP_SIZE);
		x->t->endpoint = urb->ep;
		x->t->buffer = urb->data - SETUP_SIZE;
		x->t->length = SETUP_SIZE + urb->length;
		return 0;
	}
	x->bounce = malloc(SETUP_SIZE + (size_t)urb->length);
	if (x->bounce == NULL)
		return -USBIP_ENOMEM;
	memcpy(x->bounce, urb->setup, SETUP_SIZE);
	if (!urb->dir_in && urb->length > 0)
		memcpy(x->bounce + SETUP_SIZE, urb->data, (size_t)urb->length);
	x->t->endpoint = urb->ep;
	x->t->buffer = x->bounce;
	x->t->length = SETUP_SIZE + urb->length;
	return 0;
}

/* Fills t for an ISO URB. The core passed the descriptors through
 * usbip_decode_iso (each inside the buffer, none overlapping), so the
 * packets' lengths sum to at most urb->length; the check here keeps the
 * bounce copy within the URB's own buffer whatever a caller hands in. */
static int fill_iso(struct usbdev_xfer *x)
{
	struct usbip_urb *urb = x->urb;
	size_t packed = 0;

	for (uint32_t i = 0; i < urb->niso; i++) {
		const struct usbip_iso_packet *p = &urb->iso[i];

		if (p->offset > (uint32_t)urb->length ||
		    p->length > (uint32_t)urb->length - p->offset ||
		    p->length > (uint32_t)urb->length - packed)
			return -USBIP_EINVAL;
		packed += p->length;
	}
	x->t->num_iso_packets = (int)urb->niso;
	for (uint32_t i = 0; i < urb->niso; i++)
		x->t->iso_packet_desc[i].length = urb->iso[i].length;
	x->t->buffer = urb->data;
	x->t->length = (int)packed;
	if (!iso_contiguous(urb)) {
		/* Gaps between packets: give libusb a packed copy. */
		x->bounce = malloc(packed ? packed : 1);
		if (x->bounce == NULL)
			return -USBIP_ENOMEM;
		packed = 0;
		for (uint32_t i = 0; i < urb->niso && !urb->dir_in; i++) {
			memcpy(x->bounce + packed, urb->data + urb->iso[i].offset,
			       urb->iso[i].length);
			packed += urb->iso[i].length;
		}
		x->t->buffer = x->bounce;
	}
	return 0;
}

static int dev_submit(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct usbdev_dev *dev = dev_of(exp);
	bool iso = urb->ep_type == USBIP_EP_ISO;
	struct usbdev_xfer *x;
	int r;

	if (!dev_usable(dev))
		return -USBIP_ENODEV;
	if (urb->length < 0 || (urb->length > 0 && urb->data == NULL))
		return -USBIP_EINVAL;
	x = calloc(1, sizeof(*x));
	if (x == NULL)
		return -USBIP_ENOMEM;
	x->dev = dev;
	x->urb = urb;
	x->t = libusb_alloc_transfer(iso ? (int)urb->niso : 0);
	if (x->t == NULL) {
		r = -USBIP_ENOMEM;
		goto fail;
	}
	x->t->dev_handle = dev->handle;
	x->t->type = usbdev_map_type(urb->ep_type);
	x->t->flags = usbdev_map_flags(urb->transfer_flags, urb->ep_type, urb->dir_in);
	x->t->timeout = 0; /* pending URBs never time out (§7.11) */
	x->t->callback = on_transfer_done;
	x->t->user_data = x;
	x->t->endpoint = (uint8_t)(urb->ep | (urb->dir_in ? LIBUSB_ENDPOINT_IN : 0));
	x->t->buffer = urb->data;
	x->t->length = urb->length;
	if (urb->ep_type == USBIP_EP_CONTROL)
		r = fill_control(x);
	else if (iso)
		r = fill_iso(x);
	else
		r = 0;
	if (r < 0)
		goto fail;
	r = libusb_submit_transfer(x->t);
	if (r < 0) {
		ul_debug("usb", "%s: submit ep %02x: %s", dev->facts.busid, x->t->endpoint,
		         libusb_strerror(r));
		r = usbdev_map_error(r);
		goto fail;
	}
	x->next = dev->xfers;
	if (dev->xfers)
		dev->xfers->prev = x;
	dev->xfers = x;
	urb->backend_priv = x;
	ul_debug("usb", "%s: seq %u ep %02x type %u: %d bytes submitted", dev->facts.busid,
	         urb->seqnum, x->t->endpoint, urb->ep_type, urb->length);
	usbdev_loop_rearm(dev->ctx);
	return 0;
fail:
	if (x->t)
		libusb_free_transfer(x->t);
	free(x->bounce);
	free(x);
	return r;
}

static void dev_cancel(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct usbdev_xfer *x = urb->backend_priv;

	/* NOT_FOUND means it already completed: its callback is on its way. */
	if (x && dev_of(exp)->handle)
		libusb_cancel_transfer(x->t);
}

void usbdev_dev_cancel_all(struct usbdev_dev *dev)
{
	for (struct usbdev_xfer *x = dev->xfers; x; x = x->next)
		libusb_cancel_transfer(x->t);
}

/* ---- special requests (§4.5), on the worker -------------------------------- */

static int set_configuration_work(struct usbdev_dev *dev, struct usbdev_job *j, uint8_t value)
{
	struct timespec t0;
	uint8_t before;
	int r;

	/* usbfs refuses SET_CONFIGURATION while any interface is claimed,
	 * even by us: release, set, then claim what the new configuration
	 * has (the kernel probes drivers for new interfaces; claim_all
	 * detaches them again and remembers them). */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	before = dev->lay.config_value;
	release_claims(dev);
	r = libusb_set_configuration(dev->handle, value ? value : -1);
	if (r == LIBUSB_ERROR_NO_DEVICE)
		j->gone = true;
	if (r == 0) {
		memset(dev->lay.alt, 0, sizeof(dev->lay.alt));
		usbdev_dev_read_layout(dev);
		if (dev->lay.config_value != before) {
			/* The old interfaces are gone with their drivers; the
			 * original configuration comes back at close. */
			dev->nclaim = 0;
		}
	}
	if (claim_all(dev) < 0 && r == 0)
		r = LIBUSB_ERROR_BUSY;
	usbdev_note_slow(&t0, dev->facts.busid, "SET_CONFIGURATION");
	ul_info("usb", "%s: SET_CONFIGURATION %u: %s", dev->facts.busid, value,
	        r == 0 ? "done" : libusb_strerror(r));
	return usbdev_map_error(r);
}

static int set_interface_work(struct usbdev_dev *dev, uint8_t intf, uint8_t alt)
{
	int r = libusb_set_interface_alt_setting(dev->handle, intf, alt);

	if (r < 0) {
		ul_debug("usb", "%s: SET_INTERFACE %u/%u: %s", dev->facts.busid, intf, alt,
		         libusb_strerror(r));
		return usbdev_map_error(r);
	}
	dev->lay.alt[intf] = alt;
	usbdev_dev_read_layout(dev);
	return 0;
}

static int reset_work(struct usbdev_dev *dev, struct usbdev_job *j)
{
	struct timespec t0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = libusb_reset_device(dev->handle);
	usbdev_note_slow(&t0, dev->facts.busid, "reset");
	if (r == LIBUSB_ERROR_NOT_FOUND || r == LIBUSB_ERROR_NO_DEVICE) {
		/* The device re-enumerated (its descriptors changed): this
		 * handle is dead. Drop the export; hotplug (or the scan) brings
		 * the device back under its identity. */
		ul_info("usb", "%s: re-enumerated on reset", dev->facts.busid);
		j->gone = true;
		return -USBIP_ENODEV;
	}
	if (r == 0) {
		memset(dev->lay.alt, 0, sizeof(dev->lay.alt));
		usbdev_dev_read_layout(dev);
	}
	return usbdev_map_error(r);
}

/* ---- jobs ---------------------------------------------------------------- */

static void job_run(struct offload_job *job)
{
	struct usbdev_job *j = (struct usbdev_job *)job;
	struct usbdev_dev *dev = j->dev;

	switch (j->what) {
	case JOB_OPEN:
		j->rc = open_work(dev);
		break;
	case JOB_CLOSE:
		close_work(dev);
		break;
	case JOB_SET_CONFIGURATION:
		j->rc = set_configuration_work(dev, j, j->a);
		break;
	case JOB_SET_INTERFACE:
		j->rc = set_interface_work(dev, j->a, j->b);
		break;
	case JOB_CLEAR_HALT:
		j->rc = usbdev_map_error(libusb_clear_halt(dev->handle, j->a));
		break;
	case JOB_REFRESH:
		usbdev_dev_read_layout(dev);
		break;
	default:
		j->rc = reset_work(dev, j);
		break;
	}
}

/* Back on the loop: what the worker found becomes visible. */
static void job_finish(struct usbdev_job *j)
{
	struct usbdev_dev *dev = j->dev;

	if (j->gone)
		usbdev_dev_mark_gone(dev);
	if (j->what == JOB_OPEN && j->rc == 0)
		dev->opened = true;
	/* A job queued behind this one owns dev->lay now; it publishes. */
	if (offload_pending(dev->work) == 0)
		usbdev_dev_publish(dev);
}

static void job_done(struct offload_job *job)
{
	struct usbdev_job *j = (struct usbdev_job *)job;
	struct usbdev_dev *dev = j->dev;

	job_finish(j);
	switch (j->what) {
	case JOB_OPEN:
		usbip_open_done(&dev->exp, j->rc);
		break;
	case JOB_CLOSE:
	case JOB_REFRESH:
		/* The core may have released dev while this ran. */
		if (dev->closed)
			usbdev_dev_schedule_reap(dev);
		break;
	default:
		usbip_special_done(&dev->exp, j->rc);
		break;
	}
}

/*
 * Runs an operation that may block on dev's worker and returns
 * USBIP_PENDING (job_done tells the core), or, without a worker, runs it
 * here and returns its result.
 */
static int job_start(struct usbdev_dev *dev, struct usbdev_job *j, int what, uint8_t a, uint8_t b)
{
	j->job.run = job_run;
	j->job.done = job_done;
	j->dev = dev;
	j->what = (uint8_t)what;
	j->a = a;
	j->b = b;
	j->rc = 0;
	j->gone = false;
	if (dev->work && offload_submit(dev->work, &j->job) == 0)
		return USBIP_PENDING;
	job_run(&j->job);
	job_finish(j);
	return j->rc;
}

void usbdev_dev_refresh_later(struct usbdev_dev *dev)
{
	job_start(dev, &dev->refresh_job, JOB_REFRESH, 0, 0);
}

/* ---- special requests (§4.5) --------------------------------------------- */

static int dev_set_configuration(struct usbip_export *exp, uint8_t value)
{
	struct usbdev_dev *dev = dev_of(exp);

	if (!dev_usable(dev))
		return -USBIP_ENODEV;
	return job_start(dev, &dev->op_job, JOB_SET_CONFIGURATION, value, 0);
}

static int dev_set_interface(struct usbip_export *exp, uint8_t intf, uint8_t alt)
{
	struct usbdev_dev *dev = dev_of(exp);

	if (!dev_usable(dev))
		return -USBIP_ENODEV;
	return job_start(dev, &dev->op_job, JOB_SET_INTERFACE, intf, alt);
}

static int dev_clear_halt(struct usbip_export *exp, uint8_t ep_addr)
{
	struct usbdev_dev *dev = dev_of(exp);

	if (!dev_usable(dev))
		return -USBIP_ENODEV;
	return job_start(dev, &dev->op_job, JOB_CLEAR_HALT, ep_addr, 0);
}

static int dev_reset(struct usbip_export *exp)
{
	struct usbdev_dev *dev = dev_of(exp);

	if (!dev_usable(dev))
		return -USBIP_ENODEV;
	return job_start(dev, &dev->op_job, JOB_RESET, 0, 0);
}

const struct usbip_device_ops usbdev_ops = {
        .name = "libusb",
        .open = dev_open,
        .close = dev_close,
        .ep_type = dev_ep_type,
        .submit = dev_submit,
        .cancel = dev_cancel,
        .set_configuration = dev_set_configuration,
        .set_interface = dev_set_interface,
        .clear_halt = dev_clear_halt,
        .reset = dev_reset,
        .data_alloc = usbdev_mem_alloc,
        .data_free = usbdev_mem_free,
        .release = dev_release,
};
