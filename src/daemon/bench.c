/* SPDX-License-Identifier: MIT */
/*
 * bench.c - wires the bench manager into usblabd (bench.h): the registry in
 * force, the tracker and its subscribers (store, log, live streams), the
 * inventory, lease expiry, registry reloads, the control socket, and the
 * USB/IP server's questions and notifications.
 */
#include "bench.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "attach_track.h"
#include "api_esp32.h"
#include "control.h"
#include "daemon.h"
#include "http.h"
#include "insight.h"
#include "inventory.h"
#include "paths.h"
#include "registry.h"
#include "sim.h"
#include "storeq.h"
#include "tracker.h"
#include "ul_log.h"
#include "usbdev.h"

struct bench {
	struct usblabd *d;
	char reg_path[PATH_MAX];
	char reg_dir[PATH_MAX];
	const char *reg_leaf;
	struct registry regs[2]; /* the one in force and the spare for a reload */
	int cur;
	struct tracker *tracker;
	struct storeq *storeq;
	struct inventory *inv;
	struct api *api;
	struct api_esp32 *esp32; /* the ESP32 verbs' worker and probes */
	struct control *control;
	struct http *http;
	struct insight *insight;
	struct attach_track *attach; /* boards this machine imported and follows */
	struct event *expiry;
	struct event *sighup;
	struct event *ev_inotify;
	struct event *ev_reload; /* debounces inotify bursts (an editor's save) */
	int inotify_fd;
	bool refusal_reported; /* the lookup already made the IMPORT_REFUSED event */
};

/* ---- subscribers ----------------------------------------------------------- */

static void on_store_event(void *arg, const struct ul_event *ev)
{
	struct bench *b = arg;

	if (storeq_append(b->storeq, ev) < 0) {
		ul_error("store", "event queue full: event %llu not stored",
		         (unsigned long long)ev->seq);
		tracker_committed(b->tracker, ev->seq, -1);
	}
}

static const struct tracker_sub_ops store_sub = {.event = on_store_event};

static void on_committed(void *arg, uint64_t seq, int rc)
{
	struct bench *b = arg;

	if (rc < 0)
		ul_error("store", "events up to %llu could not be written",
		         (unsigned long long)seq);
	tracker_committed(b->tracker, seq, rc);
	http_store_committed(b->http, seq, rc);
}

/* One line per event: what happened to which board, in a person's words. */
static void on_log_event(void *arg, const struct ul_event *ev)
{
	const char *kind = ul_event_kind_name(ev->kind);
	char where[400] = "";

	(void)arg;
	if (ev->dev.busid[0])
		snprintf(where, sizeof(where), " busid %s %04x:%04x%s%s", ev->dev.busid,
		         ev->dev.vid, ev->dev.pid, ev->dev.devnodes[0] ? " " : "",
		         ev->dev.devnodes);
	ul_info("bench", "%s %s%s%s%s%s%s", kind, ev->board[0] ? ev->board : "-", where,
	        ev->peer[0] ? " by " : "", ev->peer, ev->detail[0] ? ": " : "", ev->detail);
}

static const struct tracker_sub_ops log_sub = {.event = on_log_event};

/* ---- leases -------------------------------------------------------------------- */

static void arm_expiry(struct bench *b)
{
	int64_t next = tracker_lease_expire(b->tracker);
	struct timeval tv;

	event_del(b->expiry);
	if (next < 0)
		return;
	/* Wake a little after the expiry, so it is due when we look. */
	next += 5;
	tv.tv_sec = (time_t)(next / 1000);
	tv.tv_usec = (suseconds_t)(next % 1000) * 1000;
	event_add(b->expiry, &tv);
}

static void on_expiry(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	arm_expiry(arg);
}

static void api_leases_changed(void *arg)
{
	arm_expiry(arg);
}

/* ---- registry ------------------------------------------------------------------ */

/* Exports the registry's real boards that are to be exported. */
static void watch_registry_boards(struct bench *b, const struct registry *reg)
{
	char err[256], ident[96];

	for (size_t i = 0; i < reg->n; i++) {
		const struct reg_board *rb = &reg->boards[i];

		if (!rb->export_)
			continue;
		for (unsigned k = 0; k < rb->nids; k++) {
			const struct reg_ident *id = &rb->ids[k];

			if (id->serial[0] && strncmp(id->serial, "USBLAB-", 7) != 0)
				snprintf(ident, sizeof(ident), "serial=%s", id->serial);
			else if (id->port[0])
				snprintf(ident, sizeof(ident), "%s", id->port);
			else if (id->has_vidpid && !id->serial[0])
				snprintf(ident, sizeof(ident), "%04x:%04x", id->vid, id->pid);
			else
				continue;
			/* libusb starts with the first real board to export. */
			if (!b->d->usb &&
			    usbdev_init(&b->d->usb, b->d->base, &b->d->srv, err, sizeof(err)) < 0) {
				ul_warn("bench", "cannot export real boards: libusb: %s", err);
				return;
			}
			if (usbdev_watch(b->d->usb, ident, err, sizeof(err)) < 0)
				ul_warn("bench", "%s: cannot export %s: %s", rb->name, ident, err);
		}
	}
}

int bench_reload(struct bench *b, char *err, size_t errlen)
{
	int spare = !b->cur;
	char detail[256];

	registry_free(&b->regs[spare]);
	if (registry_load_file(b->reg_path, &b->regs[spare], err, errlen) < 0) {
		tracker_registry_rejected(b->tracker, err);
		return -1;
	}
	snprintf(detail, sizeof(detail), "%.200s: %zu board(s)", b->reg_path, b->regs[spare].n);
	tracker_set_registry(b->tracker, &b->regs[spare], detail);
	b->cur = spare;
	watch_registry_boards(b, &b->regs[b->cur]);
	return 0;
}

static int api_reload(void *arg, char *err, size_t errlen)
{
	return bench_reload(arg, err, errlen);
}

static void reload_now(struct bench *b)
{
	char err[512];

	if (bench_reload(b, err, sizeof(err)) < 0)
		ul_warn("bench", "registry not reloaded, the last good one stays: %s", err);
}

static void on_sighup(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reload_now(arg);
}

static void on_reload_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	reload_now(arg);
}

/* Any change to devices.conf in its directory (editors write a new file
 * and rename it over the old one): reload 200 ms after the last one. */
static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct bench *b = arg;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool ours = false;
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *ie = (const struct inotify_event *)p;

			if (ie->len && strcmp(ie->name, b->reg_leaf) == 0)
				ours = true;
			p += sizeof(*ie) + ie->len;
		}
	}
	if (ours) {
		struct timeval tv = {0, 200000};

		event_add(b->ev_reload, &tv);
	}
}

static void watch_registry_dir(struct bench *b)
{
	struct stat st;

	/* Only a registry that is a file (or not there yet) is followed: a
	 * device such as /dev/null would reload on every write to it. */
	if (stat(b->reg_path, &st) == 0 && !S_ISREG(st.st_mode))
		return;
	b->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (b->inotify_fd < 0 ||
	    inotify_add_watch(b->inotify_fd, b->reg_dir,
	                      IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE) < 0) {
		ul_info("bench", "not watching %s (%s): reload with SIGHUP or `usblab reload`",
		        b->reg_dir, strerror(errno));
		if (b->inotify_fd >= 0)
			close(b->inotify_fd);
		b->inotify_fd = -1;
		return;
	}
	b->ev_inotify = event_new(b->d->base, b->inotify_fd, EV_READ | EV_PERSIST, on_inotify, b);
	if (b->ev_inotify)
		event_add(b->ev_inotify, NULL);
}

/* ---- inventory ------------------------------------------------------------------- */

static void inv_arrived(void *arg, const struct ul_devfacts *dev)
{
	struct bench *b = arg;

	tracker_device_arrived(b->tracker, dev, NULL);
}

static void inv_departed(void *arg, const char *busid)
{
	struct bench *b = arg;

	tracker_device_departed(b->tracker, busid);
}

static void inv_nodes(void *arg, const char *busid, const char *nodes)
{
	struct bench *b = arg;

	tracker_device_nodes(b->tracker, busid, nodes);
}

static const struct inventory_ops inv_ops = {
        .arrived = inv_arrived,
        .departed = inv_departed,
        .nodes = inv_nodes,
};

/* ---- the USB/IP server ---------------------------------------------------------- */

static void facts_from_export(const struct usbip_export *exp, struct ul_devfacts *dev)
{
	static const uint32_t mbps[] = {0, 1, 12, 480, 480, 5000, 10000};
	const char *serial = sim_serial(exp);

	memset(dev, 0, sizeof(*dev));
	UL_COPY(dev->busid, exp->info.busid);
	dev->vid = exp->info.idVendor;
	dev->pid = exp->info.idProduct;
	dev->speed_mbps = exp->info.speed < 7 ? mbps[exp->info.speed] : 0;
	if (serial)
		UL_COPY(dev->serial, serial);
	else
		UL_COPY(dev->port, exp->info.busid);
}

void bench_exported(struct bench *b, struct usbip_export *exp)
{
	struct ul_devfacts dev;

	facts_from_export(exp, &dev);
	tracker_exported(b->tracker, &dev);
}

void bench_unexported(struct bench *b, struct usbip_export *exp)
{
	/* A virtual device has no udev departure: it leaves with its export. */
	if (sim_serial(exp))
		tracker_device_departed(b->tracker, exp->info.busid);
	else
		tracker_unexported(b->tracker, exp->info.busid);
}

void bench_imported(struct bench *b, const char *peer, struct usbip_export *exp)
{
	tracker_imported(b->tracker, exp->info.busid, peer);
}

void bench_released(struct bench *b, const char *peer, struct usbip_export *exp, bool gone,
                    const char *why)
{
	tracker_released(b->tracker, exp->info.busid, peer, gone, why);
}

int bench_import_lookup(struct bench *b, const char *peer, const char *requested,
                        struct usbip_export **exp)
{
	char what[USBIP_BUSID_SIZE], why[160];
	const char *token = NULL;
	const struct board *bd;
	char *hash;

	UL_COPY(what, requested);
	hash = strchr(what, '#');
	if (hash) {
		*hash = 0;
		token = hash + 1;
	}
	*exp = usbip_server_find_busid(&b->d->srv, what);
	bd = *exp ? tracker_find_busid(b->tracker, what) : tracker_find(b->tracker, what);
	if (!*exp && bd && bd->state != BOARD_ABSENT)
		*exp = usbip_server_find_busid(&b->d->srv, bd->dev.busid);
	if (!*exp)
		return USBIP_ST_OK; /* the core answers ST_NODEV and tells us */
	if (bd && bd->reg && !bd->reg->export_) {
		*exp = NULL;
		return USBIP_ST_OK;
	}
	if (bd && !tracker_import_allowed(bd, peer, token)) {
		snprintf(why, sizeof(why), "leased by %s%s", bd->lease.holder,
		         token ? " (wrong token)" : " (no token given)");
		tracker_import_refused(b->tracker, bd->name, peer, why);
		b->refusal_reported = true;
		return USBIP_ST_DEV_BUSY;
	}
	return USBIP_ST_OK;
}

void bench_import_refused(struct bench *b, const char *peer, const char *requested, int status)
{
	/* A lease refusal was reported by bench_import_lookup with its reason,
	 * within this same OP request. */
	if (b->refusal_reported) {
		b->refusal_reported = false;
		return;
	}
	tracker_import_refused(b->tracker, requested, peer,
	                       status == USBIP_ST_NODEV      ? "no such device"
	                       : status == USBIP_ST_DEV_BUSY ? "in use by another client"
	                                                     : "the device refused the import");
}

void bench_devlist_entry(struct bench *b, const struct usbip_export *exp,
                         struct usbip_usb_device *shown)
{
	const struct board *bd = tracker_find_busid(b->tracker, exp->info.busid);
	char path[sizeof(shown->path)];

	if (!bd || !bd->reg)
		return;
	/* `usbip list -r` prints path on its own line under the busid. */
	if (bd->leased)
		snprintf(path, sizeof(path), "%s (leased by %s) ", bd->name, bd->lease.holder);
	else
		snprintf(path, sizeof(path), "%s ", bd->name);
	strncat(path, exp->info.path, sizeof(path) - strlen(path) - 1);
	memcpy(shown->path, path, sizeof(path));
}

/* ---- status -------------------------------------------------------------------------- */

static json_t *api_status(void *arg)
{
	struct bench *b = arg;

	return json_pack("{s:s, s:i, s:s, s:i, s:i}", "version", USBLABD_VERSION, "pid",
	                 (int)getpid(), "registry", b->reg_path, "clients", (int)b->d->nclients,
	                 "boards", (int)b->regs[b->cur].n);
}

/* ---- start and stop ------------------------------------------------------------------ */

static int open_store(struct bench *b, const char *db, char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct store *s;
	struct ul_event *evs = NULL;
	size_t n = 0;

	if (db && strcmp(db, "none") == 0)
		return 0;
	if (!db) {
		/* No usable default (no HOME, a read-only home): serve without
		 * a store rather than not at all, and say so. */
		if (ul_path_file(UL_PATH_STATE, "usblab.db", path, sizeof(path)) < 0 ||
		    ul_path_mkdir(UL_PATH_STATE) < 0) {
			ul_warn("bench",
			        "no state directory (%s): events and leases are not "
			        "kept; set XDG_STATE_HOME or --db FILE",
			        strerror(errno));
			return 0;
		}
		db = path;
	}
	if (store_sqlite_ops.open(db, &s, err, errlen) < 0)
		return -1;
	/* Before the loop runs, reading synchronously is allowed. */
	if (store_sqlite_ops.load_leases(s, &evs, &n, err, errlen) == 0) {
		for (size_t i = 0; i < n; i++)
			tracker_lease_restore(b->tracker, evs[i].board, &evs[i].lease);
		free(evs);
	}
	evs = NULL;
	n = 0;
	if (store_sqlite_ops.load_locations(s, &evs, &n, err, errlen) == 0) {
		for (size_t i = 0; i < n; i++)
			tracker_location_restore(b->tracker, evs[i].board, &evs[i].dev,
			                         evs[i].time_ms);
		free(evs);
	}
	if (storeq_start(&b->storeq, b->d->base, &store_sqlite_ops, s, on_committed, b, err,
	                 errlen) < 0)
		return -1;
	ul_info("bench", "events and leases in %s", db);
	return tracker_subscribe(b->tracker, &store_sub, b, true);
}

static int split_registry_path(struct bench *b, const char *path, char *err, size_t errlen)
{
	char *slash;

	if (path)
		snprintf(b->reg_path, sizeof(b->reg_path), "%s", path);
	else if (ul_path_file(UL_PATH_CONFIG, "devices.conf", b->reg_path, sizeof(b->reg_path)) <
	         0) {
		snprintf(err, errlen, "no configuration directory (set HOME or XDG_CONFIG_HOME)");
		return -1;
	}
	snprintf(b->reg_dir, sizeof(b->reg_dir), "%s", b->reg_path);
	slash = strrchr(b->reg_dir, '/');
	if (slash && slash != b->reg_dir) {
		*slash = 0;
		b->reg_leaf = b->reg_path + (slash - b->reg_dir) + 1;
	} else {
		snprintf(b->reg_dir, sizeof(b->reg_dir), slash ? "/" : ".");
		b->reg_leaf = slash ? b->reg_path + 1 : b->reg_path;
	}
	return 0;
}

int bench_start(struct bench **out, struct usblabd *d, const struct bench_opts *o, char *err,
                size_t errlen)
{
	struct bench *b = calloc(1, sizeof(*b));
	struct api_env env;
	const char *warning = NULL, *hub;
	char sock[PATH_MAX];

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	b->d = d;
	b->inotify_fd = -1;
	*out = b;
	if (split_registry_path(b, o->registry, err, errlen) < 0)
		return -1;
	if (registry_load_file(b->reg_path, &b->regs[0], err, errlen) < 0)
		return -1;
	ul_info("bench", "registry %s: %zu board(s)", b->reg_path, b->regs[0].n);
	b->tracker = tracker_new(&b->regs[0], NULL, NULL);
	b->expiry = evtimer_new(d->base, on_expiry, b);
	b->ev_reload = evtimer_new(d->base, on_reload_timer, b);
	b->sighup = evsignal_new(d->base, SIGHUP, on_sighup, b);
	if (!b->tracker || !b->expiry || !b->ev_reload || !b->sighup ||
	    event_add(b->sighup, NULL) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (open_store(b, o->db, err, errlen) < 0)
		return -1;
	memset(&env, 0, sizeof(env));
	env.base = d->base;
	env.tracker = b->tracker;
	env.storeq = b->storeq;
	env.arg = b;
	env.reload = api_reload;
	env.leases_changed = api_leases_changed;
	env.status = api_status;
	env.attach = b->attach = attach_track_new(d->base, b->tracker, NULL, NULL, NULL);
	env.daemon = d;
	env.esp32 = b->esp32 = api_esp32_new(d->base, b->tracker, NULL);
	if (!b->esp32)
		ul_warn("bench", "no ESP32 worker thread: no probes, bootloader or boot verbs");
	b->api = api_new(&env);
	if (!b->api || tracker_subscribe(b->tracker, &api_stream_sub, b->api, false) < 0 ||
	    tracker_subscribe(b->tracker, &log_sub, b, false) < 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	watch_registry_dir(b);
	if (o->inventory) {
		if (inventory_start(&b->inv, d->base, &inv_ops, b, &warning, err, errlen) < 0)
			ul_warn("bench", "no inventory of this machine's devices: %s", err);
		else if (warning)
			ul_warn("bench", "%s", warning);
	}
	watch_registry_boards(b, &b->regs[0]);
	arm_expiry(b);
	/* What the previous usblabd followed on this machine (a restart). */
	if (b->attach) {
		int n = attach_track_resume(b->attach);

		if (n > 0)
			ul_info("bench", "following %d attachment(s) again", n);
	}
	if (!o->control || strcmp(o->control, "none") != 0) {
		const char *path = o->control;

		if (!path) {
			if (ul_path_file(UL_PATH_RUNTIME, "usblabd.sock", sock, sizeof(sock)) < 0) {
				snprintf(err, errlen,
				         "no runtime directory for the control socket");
				return -1;
			}
			path = sock;
		}
		if (control_listen(&b->control, d->base, b->api, path, err, errlen) < 0)
			return -1;
		ul_info("bench", "control socket %s", path);
	}
	if (!o->http || strcmp(o->http, "none") != 0) {
		struct http_opts ho = {
		        .listen = o->http, .token_file = o->http_token_file, .tracker = b->tracker};

		ho.srv = &d->srv;
		ho.store = b->storeq != NULL;
		ho.cert_file = o->http_cert;
		ho.key_file = o->http_key;

		if (http_start(&b->http, d->base, b->api, &ho, err, errlen) < 0) {
			if (o->http || o->http_cert)
				return -1;
			/* The default port is a convenience: another daemon may have it. */
			ul_warn("bench", "no HTTP API: %s (give --http HOST:PORT or none)", err);
		}
	}
	/* The hub is looked for by default where this machine's devices are
	 * followed (README, "USB Insight Hub"). */
	hub = o->insight_hub ? o->insight_hub : o->inventory ? INSIGHT_AUTO : "none";
	if (strcmp(hub, "none") != 0) {
		char tty[PATH_MAX], *at;

		snprintf(tty, sizeof(tty), "%s", hub);
		at = strrchr(tty, '@');
		if (at)
			*at++ = 0;
		if (insight_start(&b->insight, d->base, b->tracker, tty, at, err, errlen) < 0)
			return -1;
	}
	return 0;
}

void bench_stop(struct bench *b)
{
	if (!b)
		return;
	if (b->control)
		control_close(b->control);
	http_stop(b->http);
	b->http = NULL; /* the store's last reports come after */
	insight_stop(b->insight);
	inventory_stop(b->inv);
	if (b->ev_inotify)
		event_free(b->ev_inotify);
	if (b->inotify_fd >= 0)
		close(b->inotify_fd);
	/* Its jobs in flight answer through the api and tell the tracker. */
	api_esp32_free(b->esp32);
	if (b->storeq)
		storeq_stop(b->storeq);
	if (b->api)
		api_free(b->api);
	attach_track_free(b->attach);
	if (b->expiry)
		event_free(b->expiry);
	if (b->ev_reload)
		event_free(b->ev_reload);
	if (b->sighup)
		event_free(b->sighup);
	tracker_free(b->tracker);
	registry_free(&b->regs[0]);
	registry_free(&b->regs[1]);
	free(b);
}
