/* SPDX-License-Identifier: MIT */
/*
 * api_sim.c - unplug, replug and re-enumeration of virtual devices
 * (api_sim.h), and the control-API methods `unplug` and `replug`.
 *
 * Each virtual device the daemon exports has a slot here. Taking a device
 * out is: sim_unplug() (what it holds ends with ENODEV), then
 * usbip_server_remove_export() (the tracker hears a departure through
 * bench_unexported, the importing connection closes). Bringing it back
 * waits for the core's release (the connection's last URB back), then
 * sim_replug() and usblabd's usual usbip_server_add_export() (an arrival,
 * or for a board the registry names in another mode, a re-enumeration).
 * The device's own requests come from inside the core, so every step runs
 * from an event on the loop.
 */
#include "api_sim.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "api_call.h"
#include "daemon.h"
#include "sim.h"
#include "ul_log.h"

/* A chip reset to a USB-OTG device coming back: the S3's ROM enumerates
 * some 100-300 ms after the reset; the app's TinyUSB later. */
#define API_SIM_REENUM_MS 250

enum sim_back {
	SIM_BACK_NO,     /* stays where it is */
	SIM_BACK_POWER,  /* replug: as after a cable pull */
	SIM_BACK_REENUM, /* its own re-enumeration: keeps its state */
};

struct sim_slot {
	struct api_sim *s;
	struct usbip_export *exp;
	bool out;                /* the daemon took it out of the server */
	bool reenum_asked;       /* the device asked, from inside the core */
	enum sim_back back;      /* what to do once the core has released it */
	bool delay_done;         /* the re-enumeration's delay has passed */
	struct api_reply *reply; /* a replug waiting for the core's release */
	struct event *ev;        /* runs the steps on the loop */
	struct event *delay;     /* a re-enumeration's absence */
};

struct api_sim {
	struct usblabd *d;
	struct sim_slot slots[DAEMON_MAX_VIRTUAL];
	unsigned n;
};

static struct sim_slot *slot_of(const struct api_sim *s, const struct usbip_export *exp)
{
	for (unsigned i = 0; s && i < s->n; i++)
		if (s->slots[i].exp == exp)
			return (struct sim_slot *)&s->slots[i];
	return NULL;
}

static json_t *device_json(const struct usbip_export *exp, const char *state)
{
	char vid[8], pid[8];

	snprintf(vid, sizeof(vid), "%04x", exp->info.idVendor);
	snprintf(pid, sizeof(pid), "%04x", exp->info.idProduct);
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "busid", exp->info.busid, "state", state,
	                 "vid", vid, "pid", pid, "serial", sim_serial(exp));
}

/* Pulls the cable. */
static void take_out(struct sim_slot *sl)
{
	struct usblabd *d = sl->s->d;

	if (sl->out)
		return;
	sim_unplug(sl->exp);
	sl->out = true;
	/* Departure, then the client's connection ends (its URBs came back
	 * with ENODEV just before). */
	usbip_server_remove_export(&d->srv, sl->exp);
}

/* Plugs it back once the core is done with it. */
static void try_back(struct sim_slot *sl)
{
	struct usblabd *d = sl->s->d;
	bool power = sl->back == SIM_BACK_POWER;

	if (sl->back == SIM_BACK_NO || !sim_is_released(sl->exp))
		return;
	if (sl->back == SIM_BACK_REENUM && !sl->delay_done)
		return;
	sl->back = SIM_BACK_NO;
	if (sim_replug(sl->exp, power) < 0 || usbip_server_add_export(&d->srv, sl->exp) < 0) {
		ul_error("sim", "virtual device %s could not be plugged back in",
		         sl->exp->info.busid);
		if (sl->reply)
			api_reply_errorf(sl->reply, "internal", NULL,
			                 "virtual device %s could not be plugged back in",
			                 sl->exp->info.busid);
		sl->reply = NULL;
		return;
	}
	sl->out = false;
	ul_info("sim", "virtual device %s back as %04x:%04x (%s)", sl->exp->info.busid,
	        sl->exp->info.idVendor, sl->exp->info.idProduct,
	        power ? "replugged" : "re-enumerated");
	if (sl->reply)
		api_reply_result(sl->reply, device_json(sl->exp, "plugged"));
	sl->reply = NULL;
}

static void on_step(evutil_socket_t fd, short what, void *arg)
{
	struct sim_slot *sl = arg;

	(void)fd;
	(void)what;
	if (sl->reenum_asked) {
		struct timeval tv = {0, API_SIM_REENUM_MS * 1000};

		sl->reenum_asked = false;
		if (!sl->out) {
			take_out(sl);
			sl->back = SIM_BACK_REENUM;
			sl->delay_done = false;
			evtimer_add(sl->delay, &tv);
		}
	}
	try_back(sl);
}

static void on_delay(evutil_socket_t fd, short what, void *arg)
{
	struct sim_slot *sl = arg;

	(void)fd;
	(void)what;
	sl->delay_done = true;
	try_back(sl);
}

/* ---- what the devices say (from inside the core) ---------------------------------- */

static void on_reenumerate(void *ctx, struct usbip_export *exp)
{
	struct sim_slot *sl = ctx;

	(void)exp;
	sl->reenum_asked = true;
	event_active(sl->ev, EV_READ, 0);
}

static void on_released(void *ctx, struct usbip_export *exp)
{
	struct sim_slot *sl = ctx;

	(void)exp;
	event_active(sl->ev, EV_READ, 0);
}

static const struct sim_owner_ops owner_ops = {
        .reenumerate = on_reenumerate,
        .released = on_released,
};

/* ---- the daemon's side ------------------------------------------------------------- */

struct api_sim *api_sim_new(struct usblabd *d)
{
	struct api_sim *s = calloc(1, sizeof(*s));

	if (s)
		s->d = d;
	return s;
}

int api_sim_adopt(struct api_sim *s, struct usbip_export *exp)
{
	struct sim_slot *sl;

	if (s->n >= DAEMON_MAX_VIRTUAL)
		return -1;
	sl = &s->slots[s->n];
	memset(sl, 0, sizeof(*sl));
	sl->s = s;
	sl->exp = exp;
	sl->ev = event_new(s->d->base, -1, 0, on_step, sl);
	sl->delay = evtimer_new(s->d->base, on_delay, sl);
	if (!sl->ev || !sl->delay) {
		if (sl->ev)
			event_free(sl->ev);
		if (sl->delay)
			event_free(sl->delay);
		return -1;
	}
	s->n++;
	sim_set_owner(exp, &owner_ops, sl);
	return 0;
}

bool api_sim_is_out(const struct api_sim *s, const struct usbip_export *exp)
{
	const struct sim_slot *sl = slot_of(s, exp);

	return sl && sl->out;
}

void api_sim_free(struct api_sim *s)
{
	if (!s)
		return;
	for (unsigned i = 0; i < s->n; i++) {
		struct sim_slot *sl = &s->slots[i];

		if (sl->reply)
			api_reply_errorf(sl->reply, "stopping", NULL, "usblabd is stopping");
		/* The devices may be freed already: the daemon cleared their
		 * owner before. */
		event_free(sl->ev);
		event_free(sl->delay);
	}
	free(s);
}

/* ---- methods ----------------------------------------------------------------------- */

/* The slot a request names: {"busid": "0-N"} or {"name": QUERY} (a board
 * whose last busid is a virtual device's). NULL after replying. */
static struct sim_slot *request_slot(const struct api_call *c, char *label, size_t cap)
{
	const struct api_env *env = api_call_env(c);
	struct api_sim *s = env->daemon ? env->daemon->sim : NULL;
	const char *name, *busid;
	const struct board *b = NULL;
	struct sim_slot *sl = NULL;

	if (api_call_string(c, "name", false, &name) < 0 ||
	    api_call_string(c, "busid", false, &busid) < 0)
		return NULL;
	if (!name && !busid) {
		api_call_errorf(c, "bad_request", NULL, "'name' or 'busid' is required (a string)");
		return NULL;
	}
	if (name) {
		if (!(b = api_call_resolve(c, name)))
			return NULL;
		busid = b->dev.busid;
		snprintf(label, cap, "%s", b->name);
	} else {
		snprintf(label, cap, "%s", busid);
	}
	for (unsigned i = 0; s && busid[0] && i < s->n; i++)
		if (strcmp(s->slots[i].exp->info.busid, busid) == 0)
			sl = &s->slots[i];
	if (sl)
		return sl;
	if (!b && !(b = tracker_find_busid(env->tracker, busid))) {
		api_call_errorf(c, "unknown_board", NULL, "no device has busid '%s'", busid);
		return NULL;
	}
	api_call_errorf(c, "not_virtual", json_pack("{s:s}", "board", label),
	                "%s is not a virtual device: unplug and replug act on usblabd's --virtual "
	                "devices (a real board's hub port: `usblab power off|on NAME`)",
	                label);
	return NULL;
}

void api_sim_unplug(const struct api_call *c)
{
	char label[96];
	struct sim_slot *sl = request_slot(c, label, sizeof(label));

	if (!sl)
		return;
	if (sl->out && sl->back != SIM_BACK_REENUM) {
		api_call_errorf(c, "unplugged", json_pack("{s:s}", "board", label),
		                "%s is unplugged already (`usblab replug %s` plugs it back)", label,
		                label);
		return;
	}
	/* Pulled during its own re-enumeration: it stays out. */
	sl->back = SIM_BACK_NO;
	evtimer_del(sl->delay);
	take_out(sl);
	ul_info("sim", "virtual device %s unplugged", sl->exp->info.busid);
	api_call_result(c, device_json(sl->exp, "unplugged"));
}

void api_sim_replug(const struct api_call *c)
{
	char label[96];
	struct sim_slot *sl = request_slot(c, label, sizeof(label));

	if (!sl)
		return;
	if (!sl->out || sl->back == SIM_BACK_REENUM) {
		api_call_errorf(c, "plugged", json_pack("{s:s}", "board", label),
		                "%s is plugged in (%s)", label,
		                sl->out ? "re-enumerating now" : "unplug it first");
		return;
	}
	if (sl->reply) {
		api_call_errorf(c, "busy", json_pack("{s:s}", "board", label),
		                "%s is being replugged already", label);
		return;
	}
	/* The answer goes once it is back: its client may still be leaving. */
	if (!(sl->reply = api_call_defer(c)))
		return;
	sl->back = SIM_BACK_POWER;
	try_back(sl);
}
