/* SPDX-License-Identifier: MIT */
/*
 * usbdev_int.h - internals shared by the libusb backend's modules:
 *   usbdev.c       context, watched identities, discovery (hotplug or a
 *                  1 s sysfs scan), export and removal of devices, --list
 *   usbdev_ops.c   the usbip_device_ops of an exported device: claiming,
 *                  transfers, special requests
 *   usbdev_loop.c  libusb's fds and timeouts inside the daemon's libevent loop
 * The daemon sees only usbdev.h.
 */
#ifndef USBDEV_INT_H
#define USBDEV_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include <event2/event.h>
#include <libusb.h>

#include "offload.h"
#include "usbdev.h"
#include "usbdev_desc.h"
#include "usbdev_ident.h"

struct usbdev_dev;

/* usbfs-mapped URB data kept per device for reuse (usbdev_mem.c), and the
 * largest URB that gets any (larger ones use the core's memory). */
#define USBDEV_MEM_CACHE       64
#define USBDEV_MEM_CACHE_BYTES (2u << 20)
#define USBDEV_MEM_MAX         (1u << 20)

/* One identity given to usbdev_watch(). */
struct usbdev_watch {
	struct usbdev_ident id;
	char text[USBDEV_IDENT_TEXT_SIZE]; /* canonical, for logs */
	struct usbdev_dev *dev;            /* its export while the device is here */
	struct timespec left_at;           /* CLOCK_REALTIME of its last departure */
	bool has_left;
	struct usbdev_watch *next;
};

/* One libusb fd watched by the loop. Slots are reused, freed at exit. */
struct usbdev_pollfd {
	int fd; /* -1 when the slot is free */
	struct event *ev;
	struct usbdev_pollfd *next;
};

/* A hotplug event, recorded in libusb's callback and acted on later. */
struct usbdev_hp_event {
	libusb_device *udev; /* referenced */
	libusb_hotplug_event what;
	struct timespec at; /* CLOCK_REALTIME */
	struct usbdev_hp_event *next;
};

/* A transfer in flight: the URB the core gave us and libusb's transfer. */
struct usbdev_xfer {
	struct usbdev_dev *dev;
	struct usbip_urb *urb;
	struct libusb_transfer *t;
	uint8_t *bounce; /* control: setup + data; ISO with gaps: packed data */
	struct usbdev_xfer *next, *prev;
};

/* An interface of the active configuration that open() claimed. */
struct usbdev_claim {
	uint8_t ifnum;
	bool claimed;
	bool reattach; /* a kernel driver was detached from it */
};

/* A device operation that may block (claim, detach, set configuration,
 * reset...), run on the device's worker: usbdev_ops.c. */
struct usbdev_job {
	struct offload_job job; /* first: the job's address is the struct's */
	struct usbdev_dev *dev;
	uint8_t what; /* enum in usbdev_ops.c */
	uint8_t a, b; /* its arguments */
	int rc;       /* its result, set on the worker */
	bool gone;    /* the worker found the device gone: marked on the loop */
};

/*
 * One exported device. exp.priv points back here.
 *
 * Threads: everything is the loop's, except that while a job of dev->work
 * runs, that job owns lay, orig_config, claim[] and nclaim (the core sends
 * the device no URB meanwhile: see usbip_server.h) and may read handle,
 * desc, facts and gone. exp.info/ifs are written on the loop only
 * (usbdev_dev_publish), since DEVLIST reads them any time.
 */
struct usbdev_dev {
	struct usbip_export exp;
	struct usbdev_ctx *ctx;     /* NULL once usbdev_exit() abandoned it */
	struct usbdev_watch *watch; /* NULL once removed */
	struct usbdev_facts facts;
	libusb_device_handle *handle; /* NULL once closed */
	int wrapped_fd;               /* usbfs fd when opened by libusb_wrap_sys_device, else -1 */
	uint8_t *desc;                /* sysfs `descriptors`: device + configurations */
	size_t desclen;
	struct usbdev_layout lay;
	uint8_t orig_config; /* bConfigurationValue when the client imported it */
	struct usbdev_claim claim[USBIP_MAX_INTERFACES];
	uint8_t nclaim;
	bool opened;       /* between ops->open and ops->close */
	_Atomic bool gone; /* the device left (or re-enumerated under us) */
	bool removed;      /* taken out of the server's table */
	bool closed;       /* ops->release came: the core is done with it, free it */
	struct usbdev_xfer *xfers;
	struct timespec left_at;
	struct usbdev_dev *next;

	/* The device's worker; NULL when none could be had (everything then
	 * runs on the loop, as before). At most one open or special request
	 * (op_job), one close (close_job) and one refresh (refresh_job,
	 * started only when nothing else is queued) are queued at a time: the
	 * core runs one open or special request at a time per device, and a
	 * close only after every URB came back. */
	struct offload *work;
	struct usbdev_job op_job;
	struct usbdev_job close_job;
	struct usbdev_job refresh_job; /* usbdev_dev_refresh_later */

	/* Arrival: libusb_open and the sysfs reads run as this job on the
	 * worker while dev waits on ctx->opening (usbdev.c). */
	struct offload_job arrive_job;
	libusb_device *arrive_udev; /* referenced while the job runs; NULL in scan mode */
	int arrive_rc;              /* 0, or <0 when it could not be opened */

	/* usbfs-mapped URB data (usbdev_mem.c): buffers kept for reuse, and
	 * how many the core holds (dev is freed only once they are back). */
	struct {
		uint8_t *buf;
		size_t size;
	} mem[USBDEV_MEM_CACHE];
	unsigned nmem, mem_out, mem_skip;
	size_t mem_cached;
	bool mem_refused; /* usbfs refused a mapping once (logged) */
};

struct usbdev_scan; /* usbdev_mem.c: usbip_device_ops.data_alloc and data_free, and the
                     * release of the buffers kept (before the handle closes). */
void *usbdev_mem_alloc(struct usbip_export *exp, uint8_t ep_type, size_t length);
void usbdev_mem_free(struct usbip_export *exp, void *data, uint8_t ep_type, size_t length);
void usbdev_mem_drop(struct usbdev_dev *dev);

/* usbdev.c */

struct usbdev_ctx {
	struct event_base *base;
	struct usbip_server *srv;
	libusb_context *usb;
	const char *sysfs; /* "/sys" */

	struct usbdev_pollfd *pollfds;
	struct event *timeout_ev; /* libusb's next timeout, when its fds do not carry it */
	bool fds_carry_timeouts;

	/* Discovery. With hotplug, libusb's callback queues events and work_ev
	 * (zero delay) acts on them; without, scan_ev rescans sysfs each second. */
	bool hotplug;
	libusb_hotplug_callback_handle hp_handle;
	struct usbdev_hp_event *hp_head, **hp_tail;
	bool rescan;      /* work_ev: look at every present device again */
	bool list_failed; /* the last rescan could not list the devices */
	struct event *work_ev;
	struct event *scan_ev;
	struct event *reap_ev;   /* frees devices the core has let go */
	struct event *settle_ev; /* re-reads exports seen before configuration */

	struct usbdev_watch *watches;
	struct usbdev_dev *devs;    /* exported, and removed ones the core still holds */
	struct usbdev_dev *opening; /* arrived, being opened on their worker */

	/* libusb announces the fd of a device opened on a worker on that
	 * worker: the loop picks it up when the open's job is done. */
	pthread_t loop_thread;
	atomic_bool pollfds_stale;

	/* Rescans list the devices and read their sysfs facts (the serial
	 * attribute waits for the kernel's device lock, held through a reset
	 * or a driver probe) on this worker; the diff runs on the loop. */
	struct offload *scan_work;
	struct usbdev_scan *scan;
	bool exiting;
};

/* usbdev_loop.c */
int usbdev_loop_start(struct usbdev_ctx *ctx);
void usbdev_loop_stop(struct usbdev_ctx *ctx);
/* Lets libusb handle what is ready now, then re-arms its timeout. */
void usbdev_loop_handle(struct usbdev_ctx *ctx);
/* Re-arms the timeout timer after something may have changed libusb's
 * next timeout (a submitted transfer). */
void usbdev_loop_rearm(struct usbdev_ctx *ctx);
/* Watches the fds libusb added (and forgets those it removed) on another
 * thread since the last call. On the loop. */
void usbdev_loop_resync(struct usbdev_ctx *ctx);

/* usbdev_ops.c */
extern const struct usbip_device_ops usbdev_ops;
/* Reads the active configuration (sysfs) and refreshes dev->lay and
 * exp.info/ifs. On the loop only. */
void usbdev_dev_refresh(struct usbdev_dev *dev);
/* The two halves of usbdev_dev_refresh: the reads into dev->lay (they may
 * wait for the kernel's device lock: on the worker), and the copy into
 * exp.info/ifs (on the loop). */
void usbdev_dev_read_layout(struct usbdev_dev *dev);
void usbdev_dev_publish(struct usbdev_dev *dev);
/* usbdev_dev_refresh with the reads on the device's worker; for a device
 * no client holds, with no refresh already queued. */
void usbdev_dev_refresh_later(struct usbdev_dev *dev);
/* Cancels every transfer of dev (they come back through the callback). */
void usbdev_dev_cancel_all(struct usbdev_dev *dev);
/* Releases the claimed interfaces and gives the device back to its kernel
 * drivers, restoring the configuration it had at import. Only for a device
 * that ops->open claimed. Blocks: on the worker, or on the loop at exit.
 * Refreshes dev->lay, not exp.info (usbdev_dev_publish). */
void usbdev_dev_release(struct usbdev_dev *dev);

/* usbdev.c */
/* The libusb calls that change a device's state (claim, detach, set
 * configuration, reset...) are synchronous and may wait for the kernel's
 * device lock: they run on the device's worker. Logs a warning when what,
 * started at since (CLOCK_MONOTONIC), took over 100 ms. */
void usbdev_note_slow(const struct timespec *since, const char *busid, const char *what);
/* Marks dev as gone and schedules its removal from the server (safe to
 * call from inside an ops call or a libusb callback). */
void usbdev_dev_mark_gone(struct usbdev_dev *dev);
/* A transfer of dev ended with NO_DEVICE or ERROR. libusb also reports
 * NO_DEVICE for endpoints the kernel flushed, so it is a hint only:
 * without hotplug, ask usbfs whether the device is disconnected, and scan
 * the present devices again soon. */
void usbdev_dev_suspect_gone(struct usbdev_dev *dev);
/* libusb stopped watching fd: on its own (not at libusb_close) it does so
 * when a device's usbfs fd reports an error, i.e. a disconnect. */
void usbdev_fd_dropped(struct usbdev_ctx *ctx, int fd);
/* The core is done with dev (ops->release): free it on the next loop turn. */
void usbdev_dev_schedule_reap(struct usbdev_dev *dev);

#endif /* USBDEV_INT_H */
