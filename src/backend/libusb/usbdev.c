/* SPDX-License-Identifier: MIT */
/*
 * usbdev.c - the libusb backend's context: which identities are watched,
 * how devices are discovered, and the life of each export.
 *
 * Discovery. With hotplug (libusb has it and udevd runs, lab README),
 * libusb's callback only records ARRIVED/LEFT events, since libusb forbids
 * most calls inside it; a zero-delay event (work_ev) acts on them on the
 * next loop turn. Without, scan_ev rescans sysfs once per second and diffs
 * the present devices against the exports. Either way a device that a
 * watch matches is opened and added to the server under its current Linux
 * busid; one that leaves is removed (its client is disconnected) and the
 * watch waits for it to come back, at whatever busid and devnum.
 *
 * Lifetime of an export: usbip_server_remove_export() may leave the core
 * holding it until its client's last URB came back; the core then calls
 * ops->close and ops->release. The struct is freed on the loop turn after
 * release (reap_ev), never inside a call from the core.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/usbdevice_fs.h>

#include "ul_log.h"
#include "usbdev_int.h"
#include "usbdev_sysfs.h"

/* udevd's control socket: without udevd, libusb's udev backend gets no
 * hotplug events at all (lab README). */
#define UDEVD_CONTROL "/run/udev/control"
/* Set to force the sysfs scan even when hotplug works (lab tests). */
#define ENV_FORCE_SCAN "USBLABD_USB_SCAN"

#define SCAN_PERIOD_S 1
/* A transfer failed or libusb dropped a device's fd, and usbfs does not
 * say the device is gone yet: scan again this soon (scan mode). */
#define SUSPECT_RESCAN_MS 50
/* After an export whose device is not configured yet (seen right at
 * arrival, before the kernel chose a configuration), look again. */
#define SETTLE_MS 250
/* usbdev_exit waits this long for cancelled transfers to come back. */
#define EXIT_DRAIN_MS 2000
/* A device operation (on its worker) or a rescan (on the loop) longer
 * than this is logged. */
#define SLOW_MS 100

/* ---- small helpers ------------------------------------------------------- */

static void format_walltime(const struct timespec *ts, char *buf, size_t len)
{
	struct tm tm;

	gmtime_r(&ts->tv_sec, &tm);
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts->tv_nsec / 1000);
}

static double ms_between(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) * 1e3 + (double)(b->tv_nsec - a->tv_nsec) / 1e6;
}

void usbdev_note_slow(const struct timespec *since, const char *busid, const char *what)
{
	struct timespec now;
	double ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = ms_between(since, &now);
	if (ms > SLOW_MS)
		ul_warn("usb", "%s: %s took %.0f ms", busid, what, ms);
}

static const char *speed_name(int libusb_speed)
{
	switch (libusb_speed) {
	case LIBUSB_SPEED_LOW:
		return "low";
	case LIBUSB_SPEED_FULL:
		return "full";
	case LIBUSB_SPEED_HIGH:
		return "high";
	case LIBUSB_SPEED_SUPER:
		return "super";
	case LIBUSB_SPEED_SUPER_PLUS:
		return "super+";
	default:
		return "unknown";
	}
}

static void facts_from_libusb(struct usbdev_ctx *ctx, libusb_device *udev, struct usbdev_facts *f)
{
	struct libusb_device_descriptor dd;
	int n;

	memset(f, 0, sizeof(*f));
	f->busnum = libusb_get_bus_number(udev);
	f->devnum = libusb_get_device_address(udev);
	n = libusb_get_port_numbers(udev, f->ports, USBDEV_MAX_PORTS);
	f->nports = n > 0 ? (uint8_t)n : 0;
	usbdev_busid_format(f->busid, sizeof(f->busid), f->busnum, f->ports, f->nports);
	/* Cached by libusb: no I/O. */
	if (libusb_get_device_descriptor(udev, &dd) == 0) {
		f->vid = dd.idVendor;
		f->pid = dd.idProduct;
		f->dev_class = dd.bDeviceClass;
	}
	f->speed = libusb_get_device_speed(udev);
	f->on_vhci = usbdev_sysfs_bus_is_vhci(ctx->sysfs, f->busnum);
	/* The kernel read iSerialNumber at enumeration; sysfs shows it without
	 * opening the device (which may be in use by someone else). */
	if (f->nports > 0)
		usbdev_sysfs_string(ctx->sysfs, f, "serial", f->serial, sizeof(f->serial));
}

static struct usbdev_dev *find_live(struct usbdev_ctx *ctx, const char *busid, uint8_t devnum)
{
	for (struct usbdev_dev *d = ctx->devs; d; d = d->next) {
		if (!d->removed && d->facts.devnum == devnum && strcmp(d->facts.busid, busid) == 0)
			return d;
	}
	for (struct usbdev_dev *d = ctx->opening; d; d = d->next) {
		if (d->facts.devnum == devnum && strcmp(d->facts.busid, busid) == 0)
			return d;
	}
	return NULL;
}

static void schedule_work(struct usbdev_ctx *ctx)
{
	event_active(ctx->work_ev, EV_TIMEOUT, 1);
}

/* ---- export and removal -------------------------------------------------- */

static void dev_free(struct usbdev_dev *dev)
{
	/* Its jobs are done (reap and exit wait for them): stop the thread
	 * before the handle it used goes. */
	offload_free(dev->work);
	usbdev_mem_drop(dev);
	if (dev->handle)
		libusb_close(dev->handle);
	/* libusb does not close an fd it was given to wrap. */
	if (dev->wrapped_fd >= 0)
		close(dev->wrapped_fd);
	free(dev->desc);
	free(dev);
}

/* Opens the device: from libusb's device when hotplug gave one, else
 * (sysfs scan) by its usbfs node. Returns a libusb_error. */
static int dev_open_handle(struct usbdev_ctx *ctx, struct usbdev_dev *dev, libusb_device *udev)
{
	char node[64];

	if (udev)
		return libusb_open(udev, &dev->handle);
	snprintf(node, sizeof(node), "/dev/bus/usb/%03u/%03u", dev->facts.busnum,
	         dev->facts.devnum);
	dev->wrapped_fd = open(node, O_RDWR | O_CLOEXEC);
	if (dev->wrapped_fd < 0)
		return errno == EACCES || errno == EPERM ? LIBUSB_ERROR_ACCESS
		                                         : LIBUSB_ERROR_NO_DEVICE;
	return libusb_wrap_sys_device(ctx->usb, (intptr_t)dev->wrapped_fd, &dev->handle);
}

/*
 * The blocking half of an arrival: open the device (usbfs's open waits for
 * the kernel's device lock, held through a driver probe or a reset) and
 * read its descriptors and layout from sysfs. On the device's worker, or
 * on the loop when there is none. Returns 0 or -1 (logged).
 */
static int arrive_open(struct usbdev_ctx *ctx, struct usbdev_dev *dev, libusb_device *udev)
{
	const char *text = dev->watch ? dev->watch->text : "?";
	struct timespec t0;
	long n;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	r = dev_open_handle(ctx, dev, udev);
	if (r < 0) {
		ul_warn("usb", "%s (%s): cannot open: %s%s", text, dev->facts.busid,
		        libusb_strerror(r),
		        r == LIBUSB_ERROR_ACCESS
		                ? " (permission denied on its /dev/bus/usb node: run usblabd as "
		                  "root, or add its user to group plugdev with a udev rule such as "
		                  "SUBSYSTEM==\"usb\", MODE=\"0660\", GROUP=\"plugdev\")"
		                : "");
		return -1;
	}
	n = usbdev_sysfs_descriptors(ctx->sysfs, dev->facts.busid, &dev->desc);
	if (n < 0) {
		ul_warn("usb", "%s (%s): cannot read its descriptors from sysfs", text,
		        dev->facts.busid);
		return -1;
	}
	dev->desclen = (size_t)n;
	usbdev_dev_read_layout(dev);
	usbdev_note_slow(&t0, dev->facts.busid, "opening");
	return 0;
}

/* The loop's half of an arrival: dev is open; describe it and add it to
 * the server. Returns 0 or -1 (logged; dev is not exported). */
static int export_finish(struct usbdev_ctx *ctx, struct usbdev_watch *w, struct usbdev_dev *dev)
{
	const struct usbdev_facts *f = &dev->facts;
	struct libusb_device_descriptor dd;
	struct usbip_usb_device *info;
	struct timespec now;
	int r;

	r = libusb_get_device_descriptor(libusb_get_device(dev->handle), &dd);
	if (r < 0) {
		ul_warn("usb", "%s (%s): no device descriptor: %s", w->text, f->busid,
		        libusb_strerror(r));
		return -1;
	}
	info = &dev->exp.info;
	usbdev_sysfs_path(ctx->sysfs, f->busid, info->path, sizeof(info->path));
	snprintf(info->busid, sizeof(info->busid), "%s", f->busid);
	info->busnum = f->busnum;
	info->devnum = f->devnum;
	info->speed = usbip_speed_from_libusb(f->speed);
	info->idVendor = dd.idVendor;
	info->idProduct = dd.idProduct;
	info->bcdDevice = dd.bcdDevice;
	info->bDeviceClass = dd.bDeviceClass;
	info->bDeviceSubClass = dd.bDeviceSubClass;
	info->bDeviceProtocol = dd.bDeviceProtocol;
	info->bNumConfigurations = dd.bNumConfigurations;
	usbdev_dev_publish(dev);
	dev->exp.ops = &usbdev_ops;
	dev->exp.priv = dev;
	r = usbip_server_add_export(ctx->srv, &dev->exp);
	if (r < 0) {
		ul_warn("usb", "%s (%s): the server refused the export: %s", w->text, f->busid,
		        usbip_strerror(r));
		return -1;
	}

	dev->watch = w;
	w->dev = dev;
	dev->next = ctx->devs;
	ctx->devs = dev;
	clock_gettime(CLOCK_REALTIME, &now);
	if (w->has_left)
		ul_info("usb", "back: %s busid %s devnum %u, exported again %.3f s after it left",
		        w->text, f->busid, f->devnum, ms_between(&w->left_at, &now) / 1e3);
	else
		ul_info("usb",
		        "exported: %s busid %s devnum %u (%04x:%04x, %s speed, %u interfaces)",
		        w->text, f->busid, f->devnum, f->vid, f->pid, speed_name(f->speed),
		        dev->lay.nif);
	if (dev->lay.config_value == 0 && dd.bNumConfigurations > 0) {
		struct timeval settle = {0, SETTLE_MS * 1000};

		evtimer_add(ctx->settle_ev, &settle);
	}
	return 0;
}

/* An arrival that will not be exported, from inside its worker's done():
 * the worker cannot be freed there, so the reap frees dev later. */
static void arrive_abandon(struct usbdev_ctx *ctx, struct usbdev_dev *dev)
{
	if (dev->watch && dev->watch->dev == dev)
		dev->watch->dev = NULL;
	dev->watch = NULL;
	dev->removed = true;
	dev->next = ctx->devs;
	ctx->devs = dev;
	usbdev_dev_schedule_reap(dev);
}

static void arrive_run(struct offload_job *job)
{
	struct usbdev_dev *dev =
	        (struct usbdev_dev *)((char *)job - offsetof(struct usbdev_dev, arrive_job));

	dev->arrive_rc = arrive_open(dev->ctx, dev, dev->arrive_udev);
}

/* Back on the loop: export what the worker opened, unless the device
 * left meanwhile or the daemon is exiting. */
static void arrive_done(struct offload_job *job)
{
	struct usbdev_dev *dev =
	        (struct usbdev_dev *)((char *)job - offsetof(struct usbdev_dev, arrive_job));
	struct usbdev_ctx *ctx = dev->ctx;
	struct usbdev_watch *w = dev->watch;

	for (struct usbdev_dev **pp = &ctx->opening; *pp; pp = &(*pp)->next) {
		if (*pp == dev) {
			*pp = dev->next;
			break;
		}
	}
	dev->next = NULL;
	if (dev->arrive_udev)
		libusb_unref_device(dev->arrive_udev);
	dev->arrive_udev = NULL;
	/* Its usbfs fd, announced on the worker. */
	usbdev_loop_resync(ctx);
	if (dev->arrive_rc < 0 || dev->gone || ctx->exiting || w == NULL ||
	    export_finish(ctx, w, dev) < 0)
		arrive_abandon(ctx, dev);
}

/*
 * A device a free watch w names has arrived (udev: libusb's device with
 * hotplug, NULL in scan mode). Opening it may wait for the kernel's
 * device lock (a driver probing it, a reset): that runs on the device's
 * worker, with the watch held for it meanwhile, and the export completes
 * on the loop (arrive_done).
 */
static void export_device(struct usbdev_ctx *ctx, struct usbdev_watch *w,
                          const struct usbdev_facts *f, libusb_device *udev)
{
	struct usbdev_dev *dev;

	dev = calloc(1, sizeof(*dev));
	if (dev == NULL) {
		ul_error("usb", "%s: out of memory", f->busid);
		return;
	}
	dev->ctx = ctx;
	dev->wrapped_fd = -1;
	dev->facts = *f;
	dev->watch = w;
	dev->work = offload_new(ctx->base);
	if (dev->work == NULL) {
		ul_warn("usb",
		        "%s: no worker thread: opening, claiming and resets will block "
		        "the loop",
		        f->busid);
	} else {
		dev->arrive_job.run = arrive_run;
		dev->arrive_job.done = arrive_done;
		dev->arrive_udev = udev ? libusb_ref_device(udev) : NULL;
		if (offload_submit(dev->work, &dev->arrive_job) == 0) {
			w->dev = dev;
			dev->next = ctx->opening;
			ctx->opening = dev;
			return;
		}
		if (dev->arrive_udev)
			libusb_unref_device(dev->arrive_udev);
		dev->arrive_udev = NULL;
	}
	if (arrive_open(ctx, dev, udev) < 0 || export_finish(ctx, w, dev) < 0) {
		dev->watch = NULL;
		dev_free(dev);
	}
}

/* Takes dev out of the server. Its client, if any, is disconnected by the
 * core; dev is freed once the core lets it go. */
static void remove_dev(struct usbdev_dev *dev, const char *what)
{
	struct usbdev_ctx *ctx = dev->ctx;
	struct usbdev_watch *w = dev->watch;
	char left[64];
	struct timespec now;

	dev->removed = true;
	dev->watch = NULL;
	if (w) {
		w->dev = NULL;
		if (dev->gone) {
			w->left_at = dev->left_at;
			w->has_left = true;
		}
	}
	/* In-flight transfers come back (NO_DEVICE or CANCELLED, -ENODEV once
	 * gone); the core orphans them, then calls ops->close and
	 * ops->release after the last (at once when nothing is in flight). */
	usbdev_dev_cancel_all(dev);
	usbip_server_remove_export(ctx->srv, &dev->exp);
	clock_gettime(CLOCK_REALTIME, &now);
	if (dev->gone) {
		format_walltime(&dev->left_at, left, sizeof(left));
		ul_info("usb",
		        "gone: %s busid %s devnum %u: left at %s, export removed %.1f ms later",
		        w ? w->text : "?", dev->facts.busid, dev->facts.devnum, left,
		        ms_between(&dev->left_at, &now));
	} else {
		ul_info("usb", "%s: %s busid %s devnum %u", what, w ? w->text : "?",
		        dev->facts.busid, dev->facts.devnum);
	}
	/* A device with the same identity may already be back. */
	ctx->rescan = true;
	schedule_work(ctx);
}

void usbdev_dev_mark_gone(struct usbdev_dev *dev)
{
	if (dev->gone)
		return;
	dev->gone = true;
	clock_gettime(CLOCK_REALTIME, &dev->left_at);
	if (dev->ctx)
		schedule_work(dev->ctx);
}

/* Whether usbfs node fd belongs to a device that is gone: usbfs answers
 * every ioctl with ENODEV once its device is disconnected. */
static bool usbfs_disconnected(int fd)
{
	uint32_t caps;

	return ioctl(fd, USBDEVFS_GET_CAPABILITIES, &caps) < 0 && errno == ENODEV;
}

void usbdev_dev_suspect_gone(struct usbdev_dev *dev)
{
	struct timeval soon = {0, SUSPECT_RESCAN_MS * 1000};

	/* With hotplug, LEFT follows by itself. Without, ask usbfs at once:
	 * the client starts its error recovery (a port reset that then waits
	 * seconds for a dead connection) as soon as it sees the failed URBs,
	 * so every millisecond before its connection closes counts. */
	if (dev->ctx->hotplug)
		return;
	if (dev->wrapped_fd >= 0 && usbfs_disconnected(dev->wrapped_fd)) {
		usbdev_dev_mark_gone(dev);
		return;
	}
	/* The scan runs sooner than its period: the kernel fails the URBs a
	 * little before it takes the device out of sysfs. */
	event_add(dev->ctx->scan_ev, &soon);
}

void usbdev_fd_dropped(struct usbdev_ctx *ctx, int fd)
{
	/* Only devices opened from their usbfs node (scan mode) have an fd
	 * we know; with hotplug, LEFT tells. */
	for (struct usbdev_dev *dev = ctx->devs; dev; dev = dev->next) {
		if (!dev->removed && !dev->gone && dev->wrapped_fd == fd) {
			usbdev_dev_suspect_gone(dev);
			return;
		}
	}
}

void usbdev_dev_schedule_reap(struct usbdev_dev *dev)
{
	dev->closed = true;
	if (dev->ctx)
		event_active(dev->ctx->reap_ev, EV_TIMEOUT, 1);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct usbdev_ctx *ctx = arg;
	struct usbdev_dev **pp = &ctx->devs;

	(void)fd;
	(void)what;
	while (*pp) {
		struct usbdev_dev *dev = *pp;

		/* Its URB data buffers may still wait in a client's queue. */
		if (dev->closed && dev->removed && offload_pending(dev->work) == 0 &&
		    dev->mem_out == 0) {
			*pp = dev->next;
			dev_free(dev);
		} else {
			pp = &dev->next;
		}
	}
}

/* ---- discovery ----------------------------------------------------------- */

/* A device is present: export it if a free watch names it. */
static void consider(struct usbdev_ctx *ctx, const struct usbdev_facts *f, libusb_device *udev)
{
	const char *why;

	if (find_live(ctx, f->busid, f->devnum))
		return;
	for (struct usbdev_watch *w = ctx->watches; w; w = w->next) {
		if (!usbdev_ident_match(&w->id, f))
			continue;
		if (!usbdev_facts_exportable(f, &why)) {
			ul_debug("usb", "%s matches %s but is not exported: %s", f->busid, w->text,
			         why);
			return;
		}
		if (w->dev == NULL) {
			export_device(ctx, w, f, udev);
			return;
		}
	}
}

/* The devices present now, from libusb (hotplug keeps its list fresh) or
 * from sysfs (libusb's list goes stale without udevd). */
struct present {
	struct usbdev_facts *v;
	libusb_device **udev; /* parallel to v; NULL entries in scan mode */
	size_t n, cap;
	libusb_device **list; /* libusb's list, freed with the rest */
};

static int present_add(struct present *p, const struct usbdev_facts *f, libusb_device *udev)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		struct usbdev_facts *v = realloc(p->v, cap * sizeof(*v));
		libusb_device **u;

		if (v == NULL)
			return -1;
		p->v = v;
		u = realloc(p->udev, cap * sizeof(*u));
		if (u == NULL)
			return -1;
		p->udev = u;
		p->cap = cap;
	}
	p->v[p->n] = *f;
	p->udev[p->n] = udev;
	p->n++;
	return 0;
}

static int present_add_scanned(const struct usbdev_facts *f, void *arg)
{
	return present_add(arg, f, NULL);
}

static void present_free(struct present *p)
{
	if (p->list)
		libusb_free_device_list(p->list, 1);
	free(p->v);
	free(p->udev);
}

static int present_collect(struct usbdev_ctx *ctx, struct present *p, bool from_libusb)
{
	struct usbdev_facts f;
	ssize_t n;

	memset(p, 0, sizeof(*p));
	if (!from_libusb)
		return usbdev_sysfs_scan(ctx->sysfs, present_add_scanned, p);
	n = libusb_get_device_list(ctx->usb, &p->list);
	if (n < 0)
		return -1;
	for (ssize_t i = 0; i < n; i++) {
		facts_from_libusb(ctx, p->list[i], &f);
		if (present_add(p, &f, p->list[i]) < 0)
			return -1;
	}
	return 0;
}

static void remove_gone(struct usbdev_ctx *ctx)
{
	for (struct usbdev_dev *dev = ctx->devs; dev; dev = dev->next) {
		if (dev->gone && !dev->removed)
			remove_dev(dev, "gone");
	}
}

/* One rescan: the list is collected on ctx->scan_work, diffed on the loop. */
struct usbdev_scan {
	struct offload_job job; /* first: the job's address is the struct's */
	struct usbdev_ctx *ctx;
	struct present p;
	int rc;
	bool busy;  /* the job is queued or running */
	bool again; /* another rescan was asked for meanwhile */
	struct timespec t0;
};

/* Diffs the present devices against the exports: removes those that left,
 * exports what a free watch names. */
static void rescan_apply(struct usbdev_ctx *ctx, struct present *p, int rc)
{
	struct usbdev_dev *dev;

	if (rc < 0) {
		/* Once, not every second. */
		if (!ctx->list_failed)
			ul_warn("usb", "cannot list USB devices (%s)",
			        ctx->hotplug ? "libusb" : USBDEV_SYSFS_ROOT "/bus/usb/devices");
		ctx->list_failed = true;
		return;
	}
	ctx->list_failed = false;
	for (dev = ctx->devs; dev; dev = dev->next) {
		bool here = false;

		if (dev->removed)
			continue;
		for (size_t i = 0; i < p->n && !here; i++)
			here = p->v[i].devnum == dev->facts.devnum &&
			       strcmp(p->v[i].busid, dev->facts.busid) == 0;
		if (!here)
			usbdev_dev_mark_gone(dev);
	}
	remove_gone(ctx);
	for (size_t i = 0; i < p->n; i++)
		consider(ctx, &p->v[i], p->udev[i]);
}

/* On the worker: reads only what does not change after usbdev_init. */
static void scan_run(struct offload_job *job)
{
	struct usbdev_scan *sc = (struct usbdev_scan *)job;

	clock_gettime(CLOCK_MONOTONIC, &sc->t0);
	sc->rc = present_collect(sc->ctx, &sc->p, sc->ctx->hotplug);
	usbdev_note_slow(&sc->t0, "*", "listing the devices (on the scan worker)");
}

static void rescan(struct usbdev_ctx *ctx);

static void scan_done(struct offload_job *job)
{
	struct usbdev_scan *sc = (struct usbdev_scan *)job;
	struct usbdev_ctx *ctx = sc->ctx;

	sc->busy = false;
	if (!ctx->exiting)
		rescan_apply(ctx, &sc->p, sc->rc);
	present_free(&sc->p);
	if (sc->again && !ctx->exiting) {
		sc->again = false;
		rescan(ctx);
	}
}

/* Starts a rescan; one at a time (a request meanwhile runs one more after
 * it). Without a worker the scan runs here, on the loop. */
static void rescan(struct usbdev_ctx *ctx)
{
	struct usbdev_scan *sc = ctx->scan;

	if (sc && sc->busy) {
		sc->again = true;
		return;
	}
	if (sc && ctx->scan_work) {
		memset(&sc->p, 0, sizeof(sc->p));
		sc->job.run = scan_run;
		sc->job.done = scan_done;
		sc->ctx = ctx;
		if (offload_submit(ctx->scan_work, &sc->job) == 0) {
			sc->busy = true;
			return;
		}
	}
	struct present p;
	struct timespec t0;
	int rc;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = present_collect(ctx, &p, ctx->hotplug);
	rescan_apply(ctx, &p, rc);
	present_free(&p);
	usbdev_note_slow(&t0, "*", "rescan (on the loop)");
}

static int LIBUSB_CALL on_hotplug(libusb_context *usb, libusb_device *udev,
                                  libusb_hotplug_event what, void *arg)
{
	struct usbdev_ctx *ctx = arg;
	struct usbdev_hp_event *e;

	(void)usb;
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		/* Lose the event, not the device: look at everything instead. */
		ctx->rescan = true;
	} else {
		clock_gettime(CLOCK_REALTIME, &e->at);
		e->udev = libusb_ref_device(udev);
		e->what = what;
		*ctx->hp_tail = e;
		ctx->hp_tail = &e->next;
	}
	schedule_work(ctx);
	return 0;
}

static void handle_hotplug_event(struct usbdev_ctx *ctx, const struct usbdev_hp_event *e)
{
	if (e->what == LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT) {
		for (struct usbdev_dev *dev = ctx->devs; dev; dev = dev->next) {
			if (dev->removed || libusb_get_device(dev->handle) != e->udev)
				continue;
			if (!dev->gone) {
				dev->gone = true;
				dev->left_at = e->at;
			}
			remove_dev(dev, "gone");
			return;
		}
		/* Still being opened: arrive_done drops it. */
		for (struct usbdev_dev *dev = ctx->opening; dev; dev = dev->next) {
			if (dev->arrive_udev == e->udev && !dev->gone) {
				dev->gone = true;
				dev->left_at = e->at;
			}
		}
		return;
	}
	/* ARRIVED: its facts (the serial attribute waits for the device lock
	 * that the kernel holds while it probes drivers) are read by the
	 * rescan, off the loop. */
	ctx->rescan = true;
}

static void on_work(evutil_socket_t fd, short what, void *arg)
{
	struct usbdev_ctx *ctx = arg;
	struct usbdev_hp_event *e;

	(void)fd;
	(void)what;
	remove_gone(ctx);
	while ((e = ctx->hp_head) != NULL) {
		ctx->hp_head = e->next;
		if (ctx->hp_head == NULL)
			ctx->hp_tail = &ctx->hp_head;
		handle_hotplug_event(ctx, e);
		libusb_unref_device(e->udev);
		free(e);
	}
	remove_gone(ctx);
	if (ctx->rescan) {
		ctx->rescan = false;
		rescan(ctx);
	}
}

static void on_scan(evutil_socket_t fd, short what, void *arg)
{
	struct usbdev_ctx *ctx = arg;
	struct timeval period = {SCAN_PERIOD_S, 0};

	(void)fd;
	(void)what;
	/* Back to the normal period after a sooner scan. */
	event_add(ctx->scan_ev, &period);
	rescan(ctx);
}

/* Refreshes exports seen before the kernel configured their device. */
static void on_settle(evutil_socket_t fd, short what, void *arg)
{
	struct usbdev_ctx *ctx = arg;

	(void)fd;
	(void)what;
	for (struct usbdev_dev *dev = ctx->devs; dev; dev = dev->next) {
		/* dev->lay is the worker's while a job runs: ask first. */
		if (offload_pending(dev->work) == 0 && !dev->removed && !dev->opened &&
		    !dev->gone && dev->lay.config_value == 0)
			usbdev_dev_refresh_later(dev);
	}
}

/* ---- public API ---------------------------------------------------------- */

static const char *why_no_hotplug(void)
{
	if (getenv(ENV_FORCE_SCAN))
		return ENV_FORCE_SCAN " is set";
	if (!libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG))
		return "libusb has no hotplug support";
	if (access(UDEVD_CONTROL, F_OK) != 0)
		return "udevd is not running";
	return NULL;
}

int usbdev_init(struct usbdev_ctx **out, struct event_base *base, struct usbip_server *srv,
                char *err, size_t errlen)
{
	struct usbdev_ctx *ctx;
	const char *why;
	int r;

	*out = NULL;
	ctx = calloc(1, sizeof(*ctx));
	if (ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ctx->base = base;
	ctx->srv = srv;
	ctx->sysfs = USBDEV_SYSFS_ROOT;
	ctx->loop_thread = pthread_self();
	ctx->hp_tail = &ctx->hp_head;
	r = libusb_init(&ctx->usb);
	if (r < 0) {
		ctx->usb = NULL;
		snprintf(err, errlen, "libusb_init: %s", libusb_strerror(r));
		goto fail;
	}
	ctx->work_ev = event_new(base, -1, 0, on_work, ctx);
	ctx->reap_ev = event_new(base, -1, 0, on_reap, ctx);
	ctx->scan_ev = event_new(base, -1, EV_PERSIST, on_scan, ctx);
	ctx->settle_ev = evtimer_new(base, on_settle, ctx);
	ctx->scan = calloc(1, sizeof(*ctx->scan));
	ctx->scan_work = offload_new(base);
	if (ctx->scan_work == NULL)
		ul_warn("usb", "no scan worker thread: rescans read sysfs on the loop");
	if (!ctx->work_ev || !ctx->reap_ev || !ctx->scan_ev || !ctx->settle_ev ||
	    usbdev_loop_start(ctx) < 0) {
		snprintf(err, errlen, "cannot set up libusb's events in the loop");
		goto fail;
	}
	why = why_no_hotplug();
	if (why == NULL) {
		r = libusb_hotplug_register_callback(
		        ctx->usb,
		        LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED | LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
		        LIBUSB_HOTPLUG_ENUMERATE, LIBUSB_HOTPLUG_MATCH_ANY,
		        LIBUSB_HOTPLUG_MATCH_ANY, LIBUSB_HOTPLUG_MATCH_ANY, on_hotplug, ctx,
		        &ctx->hp_handle);
		if (r == 0)
			ctx->hotplug = true;
		else
			why = libusb_strerror(r);
	}
	if (ctx->hotplug) {
		ul_info("usb", "libusb %s: following hotplug events",
		        libusb_get_version()->describe);
	} else {
		ul_info("usb", "no hotplug events (%s): scanning sysfs every %d s", why,
		        SCAN_PERIOD_S);
		struct timeval period = {SCAN_PERIOD_S, 0};

		event_add(ctx->scan_ev, &period);
	}
	*out = ctx;
	return 0;
fail:
	usbdev_exit(ctx);
	return -1;
}

int usbdev_watch(struct usbdev_ctx *ctx, const char *identity, char *err, size_t errlen)
{
	struct usbdev_watch *w, **tail;
	const char *why;

	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (usbdev_ident_parse(identity, &w->id, &why) < 0) {
		snprintf(err, errlen, "%s: %s", identity, why);
		free(w);
		return -1;
	}
	usbdev_ident_format(&w->id, w->text, sizeof(w->text));
	for (tail = &ctx->watches; *tail; tail = &(*tail)->next) {
		if (strcmp((*tail)->text, w->text) == 0) {
			free(w);
			return 0;
		}
	}
	*tail = w;
	ul_info("usb", "watching %s", w->text);
	/* Export it at once if it is here (on the next loop turn). */
	ctx->rescan = true;
	schedule_work(ctx);
	return 0;
}

static int compare_facts(const void *a, const void *b)
{
	return usbdev_facts_compare(a, b);
}

static void print_device(struct usbdev_ctx *ctx, const struct usbdev_facts *f)
{
	char manufacturer[128] = "", product[128] = "", ids[USBDEV_IDENT_TEXT_SIZE + 64];
	const char *why;

	/* Root hubs too: their sysfs name ("usb2") is their busid here. */
	usbdev_sysfs_string(ctx->sysfs, f, "manufacturer", manufacturer, sizeof(manufacturer));
	usbdev_sysfs_string(ctx->sysfs, f, "product", product, sizeof(product));
	if (usbdev_facts_exportable(f, &why)) {
		if (f->serial[0])
			snprintf(ids, sizeof(ids), "serial=%s | %04x:%04x | %s", f->serial, f->vid,
			         f->pid, f->busid);
		else
			snprintf(ids, sizeof(ids), "%04x:%04x | %s", f->vid, f->pid, f->busid);
	} else {
		snprintf(ids, sizeof(ids), "(not exportable: %s)", why);
	}
	printf("%-10s %04x:%04x %-7s serial=%-16s %s / %s  select: %s\n", f->busid, f->vid, f->pid,
	       speed_name(f->speed), f->serial[0] ? f->serial : "-",
	       manufacturer[0] ? manufacturer : "-", product[0] ? product : "-", ids);
}

int usbdev_print_list(struct usbdev_ctx *ctx)
{
	struct present p;
	int n;

	if (present_collect(ctx, &p, true) < 0) {
		present_free(&p);
		return -1;
	}
	if (p.n == 0) {
		/* Say so: an empty list looks like a hang or a crash otherwise. */
		fprintf(stderr, "usblabd: no USB devices found (is /dev/bus/usb readable? "
		                "usbfs must be mounted and the user allowed to open it)\n");
		present_free(&p);
		return 0;
	}
	qsort(p.v, p.n, sizeof(p.v[0]), compare_facts);
	for (size_t i = 0; i < p.n; i++)
		print_device(ctx, &p.v[i]);
	n = (int)p.n;
	present_free(&p);
	return n;
}

void usbdev_exit(struct usbdev_ctx *ctx)
{
	struct timespec start, now;
	struct usbdev_dev *dev;
	struct usbdev_hp_event *e;
	bool busy;

	if (ctx == NULL)
		return;
	if (ctx->hotplug)
		libusb_hotplug_deregister_callback(ctx->usb, ctx->hp_handle);
	ctx->exiting = true;
	/* Arrivals being opened: their done() abandons them (reaped below). */
	while (ctx->opening)
		offload_drain(ctx->opening->work);
	offload_free(ctx->scan_work); /* a rescan under way is dropped */
	ctx->scan_work = NULL;
	free(ctx->scan);
	ctx->scan = NULL;
	for (dev = ctx->devs; dev; dev = dev->next) {
		if (!dev->removed)
			remove_dev(dev, "unexported");
	}
	/* Let the cancelled transfers come back, so the core can close its
	 * exports and every kernel driver gets re-attached. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		busy = false;
		/* Jobs first (a pending reset's completion may submit the
		 * request as a transfer; a close may be queued behind it). */
		for (dev = ctx->devs; dev; dev = dev->next)
			offload_drain(dev->work);
		for (dev = ctx->devs; dev; dev = dev->next)
			busy |= dev->xfers != NULL || offload_pending(dev->work) > 0;
		if (busy) {
			struct timeval step = {0, 50 * 1000};

			libusb_handle_events_timeout_completed(ctx->usb, &step, NULL);
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (busy && ms_between(&start, &now) < EXIT_DRAIN_MS);
	/* Closes queued by the last transfers' completions. */
	for (dev = ctx->devs; dev; dev = dev->next)
		offload_drain(dev->work);

	/* Each one leaves the list before it is freed: libusb_close() calls
	 * back (usbdev_fd_dropped), which walks the list. */
	while ((dev = ctx->devs) != NULL) {
		ctx->devs = dev->next;
		if (dev->closed) {
			dev_free(dev);
			continue;
		}
		/* The core still holds it (its connection was not destroyed):
		 * give the device back to its drivers ourselves and leave the
		 * struct to the core; its ops see a dead handle. */
		offload_free(dev->work); /* drained above; later ops run inline */
		dev->work = NULL;
		if (dev->opened)
			usbdev_dev_release(dev);
		ul_warn("usb", "%s: still held by the server at exit", dev->facts.busid);
		if (dev->xfers == NULL && dev->handle && dev->mem_out == 0) {
			usbdev_mem_drop(dev);
			libusb_close(dev->handle);
			dev->handle = NULL;
		}
		dev->ctx = NULL;
	}
	while ((e = ctx->hp_head) != NULL) {
		ctx->hp_head = e->next;
		libusb_unref_device(e->udev);
		free(e);
	}
	for (struct usbdev_watch *w = ctx->watches, *wn; w; w = wn) {
		wn = w->next;
		free(w);
	}
	if (ctx->work_ev)
		event_free(ctx->work_ev);
	if (ctx->reap_ev)
		event_free(ctx->reap_ev);
	if (ctx->scan_ev)
		event_free(ctx->scan_ev);
	if (ctx->settle_ev)
		event_free(ctx->settle_ev);
	usbdev_loop_stop(ctx);
	if (ctx->usb)
		libusb_exit(ctx->usb);
	free(ctx);
}
