/* SPDX-License-Identifier: MIT */
/*
 * api_power.c - the control API's `power` method (docs/control-api.md):
 * switch the hub port a board hangs off off, on, or off and on again, and
 * prove it by the board's departure and return.
 *
 * The blocking part (sysfs, libusb: power.h) runs on a worker thread of
 * the request's own (offload.h); the loop only waits, polling the
 * tracker's board every POWER_POLL_MS:
 *
 *   off:   plan + switch off (worker) -> POWER event -> wait until absent
 *   on:    plan + switch on (worker)  -> POWER event -> wait until present
 *   cycle: off as above, POWER_CYCLE_GAP_MS, then on as above
 *
 * A board still present after `timeout` seconds of off means the hub did
 * not cut VBUS (bench-facts.md: many hubs claim switching and leave it
 * on): the reply says so and the port stays off as asked.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "offload.h"
#include "power.h"

#define POWER_POLL_MS         50
#define POWER_DEFAULT_TIMEOUT 10 /* s, for each wait */
#define POWER_MAX_TIMEOUT     600
#define POWER_CYCLE_GAP_MS    1000 /* off long enough for a board's supply to fall */
#define POWER_SYSFS_ROOT      "/sys/bus/usb/devices"
#define POWER_SYSFS_ROOT_ENV  "USBLAB_POWER_SYSFS" /* tests point it at a fake tree */

enum power_action { ACT_OFF, ACT_ON, ACT_CYCLE };
enum power_phase { PH_SWITCH_OFF, PH_WAIT_GONE, PH_GAP, PH_SWITCH_ON, PH_WAIT_BACK };

struct power_op {
	struct api_reply *reply;
	struct tracker *tracker;
	struct event_base *base;
	struct offload *offload;
	struct offload_job job;
	struct event *timer;
	enum power_action action;
	enum power_phase phase;
	enum power_method want;
	char name[64];
	char location[32];
	char who[160];
	int64_t timeout_ms;
	int64_t started_ms, phase_ms; /* tracker clock */
	int64_t gone_ms, back_ms;     /* how long each wait took, -1 not yet */

	/* Worker side: set by run(), read by done() on the loop. */
	bool on;
	bool planned;
	char sysfs_root[256];
	struct power_libusb *usb;
	struct power_plan plan;
	int rc;
	char err[512];

	struct power_op *next; /* in_flight */
};

/* The requests in flight, on the loop's thread only: one at a time per
 * hub port (and per board), so that two cycles never interleave their
 * offs and ons. */
static struct power_op *in_flight;

void api_power_abandon(const struct tracker *t)
{
	for (struct power_op **p = &in_flight; *p;) {
		if ((*p)->tracker == t)
			*p = (*p)->next;
		else
			p = &(*p)->next;
	}
}

static void in_flight_remove(struct power_op *op)
{
	for (struct power_op **p = &in_flight; *p; p = &(*p)->next) {
		if (*p == op) {
			*p = op->next;
			return;
		}
	}
}

static const char *action_name(enum power_action a)
{
	return a == ACT_OFF ? "off" : a == ACT_ON ? "on" : "cycle";
}

static void op_free_cb(evutil_socket_t fd, short what, void *arg)
{
	struct power_op *op = arg;

	(void)fd;
	(void)what;
	/* Not from inside the offload's done(): offload_free drains, and a
	 * done() must not free its own offload (offload.h). */
	offload_free(op->offload);
	power_libusb_free(op->usb);
	if (op->timer)
		event_free(op->timer);
	free(op);
}

/* Ends the op: the reply has been sent; frees it from a fresh callback. */
static void op_finish(struct power_op *op)
{
	static const struct timeval now = {0, 0};

	if (op->timer)
		event_del(op->timer);
	in_flight_remove(op);
	if (event_base_once(op->base, -1, EV_TIMEOUT, op_free_cb, op, &now) < 0) {
		/* Cannot schedule it: leak rather than free under our feet. */
		return;
	}
}

static json_t *port_json(const struct power_port *p)
{
	return json_pack("{s:s, s:i, s:s, s:s}", "hub", p->hub, "port", (int)p->port, "speed",
	                 p->superspeed ? "usb3" : "usb2", "switching",
	                 p->have_desc ? hubdesc_power_name(p->desc.power) : "unknown");
}

static json_t *op_result(const struct power_op *op, const struct board *b)
{
	json_t *r = json_object();

	json_object_set_new(r, "name", json_string(op->name));
	json_object_set_new(r, "action", json_string(action_name(op->action)));
	json_object_set_new(r, "method", json_string(power_method_name(op->plan.method)));
	json_object_set_new(r, "port", port_json(&op->plan.main));
	json_object_set_new(r, "peer",
	                    op->plan.have_peer ? port_json(&op->plan.peer) : json_null());
	json_object_set_new(r, "note", json_string(op->plan.note));
	json_object_set_new(r, "departed_ms",
	                    op->gone_ms >= 0 ? json_integer(op->gone_ms) : json_null());
	json_object_set_new(r, "returned_ms",
	                    op->back_ms >= 0 ? json_integer(op->back_ms) : json_null());
	json_object_set_new(r, "busid",
	                    json_string(b && b->state != BOARD_ABSENT ? b->dev.busid : ""));
	json_object_set_new(r, "state", json_string(b ? board_state_name(b->state) : "absent"));
	return r;
}

static void op_fail(struct power_op *op, const char *code, const char *message)
{
	api_reply_error(
	        op->reply, code, message,
	        json_pack("{s:s, s:s}", "board", op->name, "action", action_name(op->action)));
	op_finish(op);
}

/* ---- the worker ---------------------------------------------------------------- */

static void job_run(struct offload_job *job)
{
	struct power_op *op = (struct power_op *)((char *)job - offsetof(struct power_op, job));
	struct power_env env = {.sysfs_root = op->sysfs_root, .io = &power_io_libusb};

	if (!op->usb)
		op->usb = power_libusb_new(op->sysfs_root);
	if (!op->usb) {
		op->rc = POWER_E_IO;
		snprintf(op->err, sizeof(op->err), "out of memory");
		return;
	}
	env.io_ctx = op->usb;
	op->err[0] = '\0';
	if (!op->planned) {
		op->rc = power_plan(&env, op->location, op->want, &op->plan, op->err,
		                    sizeof(op->err));
		if (op->rc != POWER_OK)
			return;
		op->planned = true;
	}
	op->rc = power_switch(&env, &op->plan, op->on, op->err, sizeof(op->err));
}

static void arm_poll(struct power_op *op)
{
	struct timeval tv = {0, POWER_POLL_MS * 1000};

	op->phase_ms = tracker_now(op->tracker);
	event_add(op->timer, &tv);
}

static void job_done(struct offload_job *job)
{
	struct power_op *op = (struct power_op *)((char *)job - offsetof(struct power_op, job));
	char where[200], detail[800];

	if (op->rc != POWER_OK) {
		op_fail(op, power_err_code(op->rc), op->err);
		return;
	}
	power_plan_describe(&op->plan, where, sizeof(where));
	snprintf(detail, sizeof(detail), "%s: %s; %s%s%s", op->on ? "on" : "off", where,
	         power_method_name(op->plan.method), op->err[0] ? "; " : "", op->err);
	tracker_power(op->tracker, op->name, op->who, detail);
	op->phase = op->on ? PH_WAIT_BACK : PH_WAIT_GONE;
	arm_poll(op);
}

static void submit(struct power_op *op, bool on)
{
	op->on = on;
	op->phase = on ? PH_SWITCH_ON : PH_SWITCH_OFF;
	op->job = (struct offload_job){.run = job_run, .done = job_done};
	if (offload_submit(op->offload, &op->job) < 0)
		op_fail(op, "internal", "cannot start the power worker thread");
}

/* ---- waiting on the loop ----------------------------------------------------------- */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct power_op *op = arg;
	const struct board *b = tracker_find(op->tracker, op->name);
	int64_t waited = tracker_now(op->tracker) - op->phase_ms;
	bool present = b && b->state != BOARD_ABSENT;
	char msg[768];

	(void)fd;
	(void)what;
	if (op->phase == PH_GAP) {
		if (waited >= POWER_CYCLE_GAP_MS)
			submit(op, true);
		else
			event_add(op->timer, &(struct timeval){0, POWER_POLL_MS * 1000});
		return;
	}
	if (op->phase == PH_WAIT_GONE && !present) {
		op->gone_ms = waited;
		if (op->action == ACT_CYCLE) {
			op->phase = PH_GAP;
			arm_poll(op);
			return;
		}
		api_reply_result(op->reply, op_result(op, b));
		op_finish(op);
		return;
	}
	if (op->phase == PH_WAIT_BACK && present) {
		op->back_ms = waited;
		api_reply_result(op->reply, op_result(op, b));
		op_finish(op);
		return;
	}
	if (waited < op->timeout_ms) {
		event_add(op->timer, &(struct timeval){0, POWER_POLL_MS * 1000});
		return;
	}
	if (op->phase == PH_WAIT_GONE) {
		snprintf(msg, sizeof(msg),
		         "%s is still present %llds after hub %s port %u was switched off (%s): "
		         "this hub does not cut VBUS on that port, whatever it claims; the port "
		         "stays off (`usblab power on %s`)",
		         op->name, (long long)(op->timeout_ms / 1000), op->plan.main.hub,
		         op->plan.main.port, power_method_name(op->plan.method), op->name);
		op_fail(op, "no_departure", msg);
	} else {
		snprintf(msg, sizeof(msg),
		         "%s did not come back within %llds after hub %s port %u was switched on "
		         "(%s)",
		         op->name, (long long)(op->timeout_ms / 1000), op->plan.main.hub,
		         op->plan.main.port, power_method_name(op->plan.method));
		op_fail(op, "no_return", msg);
	}
}

/* ---- the method --------------------------------------------------------------------- */

static bool lease_is_callers(const struct board *b, const char *who)
{
	size_t n = strlen(who);

	/* "user@host", or "user@host/tag" (a tagged holder of the same caller). */
	return strncmp(b->lease.holder, who, n) == 0 &&
	       (b->lease.holder[n] == '\0' || b->lease.holder[n] == '/');
}

void api_power(const struct api_call *c)
{
	const struct api_env *env = api_call_env(c);
	const struct api_caller *who = api_call_who(c);
	json_t *params = api_call_params(c), *v;
	const char *name, *action, *method = "auto", *root;
	const struct board *b;
	struct power_op *op;
	json_int_t timeout = POWER_DEFAULT_TIMEOUT;
	enum power_action act;
	char msg[512], caller[160];
	int m;

	v = json_object_get(params, "name");
	if (!json_is_string(v)) {
		api_call_error(c, "bad_request", "'name' is required (a string)", NULL);
		return;
	}
	name = json_string_value(v);
	v = json_object_get(params, "action");
	action = json_is_string(v) ? json_string_value(v) : "";
	if (strcmp(action, "off") == 0)
		act = ACT_OFF;
	else if (strcmp(action, "on") == 0)
		act = ACT_ON;
	else if (strcmp(action, "cycle") == 0)
		act = ACT_CYCLE;
	else {
		api_call_error(c, "bad_request", "'action' must be \"off\", \"on\" or \"cycle\"",
		               NULL);
		return;
	}
	v = json_object_get(params, "timeout");
	if (v && !json_is_null(v)) {
		if (!json_is_integer(v) || json_integer_value(v) < 1 ||
		    json_integer_value(v) > POWER_MAX_TIMEOUT) {
			snprintf(msg, sizeof(msg),
			         "'timeout' must be an integer from 1 to %d (seconds)",
			         POWER_MAX_TIMEOUT);
			api_call_error(c, "bad_request", msg, NULL);
			return;
		}
		timeout = json_integer_value(v);
	}
	v = json_object_get(params, "method");
	if (v && !json_is_null(v))
		method = json_is_string(v) ? json_string_value(v) : "";
	if ((m = power_method_parse(method)) < 0) {
		api_call_error(c, "bad_request",
		               "'method' must be \"auto\", \"sysfs\" or \"hub-request\"", NULL);
		return;
	}
	b = api_call_resolve(c, name);
	if (!b)
		return;
	snprintf(caller, sizeof(caller), "%s@%s", who->user[0] ? who->user : "unknown",
	         who->host[0] ? who->host : "localhost");
	if (b->leased && !lease_is_callers(b, caller)) {
		snprintf(msg, sizeof(msg), "%s is leased by %s: only the holder switches its power",
		         b->name, b->lease.holder);
		api_call_error(
		        c, "leased", msg,
		        json_pack("{s:s, s:s}", "board", b->name, "holder", b->lease.holder));
		return;
	}
	/* An absent board is switched where it was last seen: that is how
	 * `power on` finds a board that `power off` made depart. */
	if (!b->dev.port[0]) {
		snprintf(msg, sizeof(msg),
		         "%s has no hub port (%s): only a board plugged into a hub of this host "
		         "can be switched",
		         b->name,
		         b->last_seen_ms
		                 ? "a virtual or imported device, or usblabd runs without its "
		                   "udev inventory"
		                 : "never seen");
		api_call_error(c, "no_hub_port", msg, json_pack("{s:s}", "board", b->name));
		return;
	}
	for (const struct power_op *o = in_flight; o; o = o->next) {
		if (o->tracker == env->tracker &&
		    (strcmp(o->location, b->dev.port) == 0 || strcmp(o->name, b->name) == 0)) {
			snprintf(msg, sizeof(msg),
			         "power %s of %s (port %s) by %s is in progress since %lld ms: "
			         "one request at a time per port",
			         action_name(o->action), o->name, o->location, o->who,
			         (long long)(tracker_now(env->tracker) - o->started_ms));
			api_call_error(c, "power_busy", msg,
			               json_pack("{s:s, s:s, s:s}", "board", o->name, "action",
			                         action_name(o->action), "by", o->who));
			return;
		}
	}
	op = calloc(1, sizeof(*op));
	if (!op || !(op->offload = offload_new(env->base)) ||
	    !(op->timer = event_new(env->base, -1, 0, on_tick, op))) {
		if (op)
			offload_free(op->offload);
		free(op);
		api_call_error(c, "internal", "out of memory or file descriptors", NULL);
		return;
	}
	op->tracker = env->tracker;
	op->base = env->base;
	op->action = act;
	op->want = (enum power_method)m;
	op->timeout_ms = timeout * 1000;
	op->gone_ms = op->back_ms = -1;
	op->started_ms = tracker_now(env->tracker);
	snprintf(op->name, sizeof(op->name), "%s", b->name);
	snprintf(op->location, sizeof(op->location), "%s", b->dev.port);
	snprintf(op->who, sizeof(op->who), "%s", caller);
	root = getenv(POWER_SYSFS_ROOT_ENV);
	snprintf(op->sysfs_root, sizeof(op->sysfs_root), "%s",
	         root && *root ? root : POWER_SYSFS_ROOT);
	op->reply = api_call_defer(c);
	if (!op->reply) {
		event_free(op->timer);
		offload_free(op->offload);
		free(op);
		return;
	}
	op->next = in_flight;
	in_flight = op;
	submit(op, act == ACT_ON);
}
