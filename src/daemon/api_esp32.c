/* SPDX-License-Identifier: MIT */
/*
 * api_esp32.c - the daemon's ESP32 verbs and its one probe per appearance
 * (api_esp32.h).
 *
 * A job carries copies of what it needs (name, tty, USB port) to the
 * worker, which opens and talks to the port; back on the loop, done()
 * tells the tracker and answers the caller. The automatic probe watches
 * the tracker's arrivals: a board of type esp32 that appears (or comes
 * back in another mode) is looked at every 250 ms until its tty shows up
 * (udev adds it after the USB device), then probed once; after 10 s
 * without a tty it is left alone.
 */
#include "api_esp32.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api_call.h"
#include "esp32_port.h"
#include "esp32_probe.h"
#include "offload.h"
#include "ul_log.h"

#define ESP32_AUTO_MAX        32
#define ESP32_AUTO_TICK_MS    250
#define ESP32_AUTO_WAIT_MS    10000
#define ESP32_REENUM_WAIT_MS  5000
#define ESP32_RESET_SETTLE_MS 100

enum esp32_verb { VERB_AUTO, VERB_PROBE, VERB_BOOTLOADER, VERB_BOOT };

struct esp32_job {
	struct offload_job job; /* first: the job's address is the struct's */
	struct api_esp32 *m;
	enum esp32_verb verb;
	char name[64];
	char tty[256];  /* the port; after a re-enumeration, the one found again */
	char busid[32]; /* the USB device's port path, to find its tty again */
	char who[128];
	struct api_reply *reply; /* NULL for the automatic probe */

	/* Results (worker). */
	int rc; /* 0, -1 failed (err), -2 another process has the port */
	char err[600];
	pid_t holder;
	char holder_comm[32];
	struct esp32_probe_result res;
	bool reenumerated;
};

struct auto_watch {
	char name[64];
	int64_t until_ms;
};

struct api_esp32 {
	struct tracker *t;
	struct offload *work;
	char proc[256], sys[256];
	struct auto_watch watch[ESP32_AUTO_MAX];
	unsigned nwatch;
	struct event *tick;
	unsigned nauto, nskipped;
};

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* The first /dev/tty... or /dev/pts/N of a board's device files, or "". */
static void first_tty(const char *nodes, char *out, size_t cap)
{
	const char *p = nodes;

	out[0] = 0;
	while (*p) {
		size_t n = strcspn(p, " ");

		if ((n > 8 && strncmp(p, "/dev/tty", 8) == 0) ||
		    (n > 9 && strncmp(p, "/dev/pts/", 9) == 0)) {
			snprintf(out, cap, "%.*s", (int)n, p);
			return;
		}
		p += n;
		p += strspn(p, " ");
	}
}

static bool is_esp32(const struct board *b)
{
	return b->reg && strcasecmp(b->reg->type, "esp32") == 0;
}

/* ---- the worker's side -------------------------------------------------------------- */

/* Probes the port, or after a reset the port as it is now: a board with
 * native USB re-enumerates, and its tty may come back under another name
 * (found through sysfs by the device's port path) a few 100 ms later. */
static void probe_after_reset(struct esp32_job *j)
{
	int64_t until = mono_ms() + ESP32_REENUM_WAIT_MS;
	char now[256], err[600];
	bool gone = false;

	err[0] = 0;
	for (;;) {
		snprintf(now, sizeof(now), "%s", j->tty);
		if (j->busid[0] && esp32_port_find_tty(j->m->sys, j->busid, now, sizeof(now)) < 0)
			now[0] = 0;
		if (now[0] && access(now, F_OK) == 0 &&
		    esp32_probe_tty(now, ESP32_PROBE_TIMEOUT_MS, &j->res, err, sizeof(err)) == 0) {
			j->reenumerated = gone || strcmp(now, j->tty) != 0;
			snprintf(j->tty, sizeof(j->tty), "%s", now);
			j->rc = 0;
			return;
		}
		gone = true;
		if (mono_ms() > until)
			break;
		sleep_ms(100);
	}
	j->rc = -1;
	snprintf(j->err, sizeof(j->err),
	         "reset sent; the port did not answer again within %d s%s%.400s (a board with "
	         "native USB re-enumerates: is it back?)",
	         ESP32_REENUM_WAIT_MS / 1000, err[0] ? ": " : "", err);
}

static void job_run(struct offload_job *oj)
{
	struct esp32_job *j = (struct esp32_job *)oj;
	int n = esp32_port_holders(j->m->proc, j->tty, 0, &j->holder, j->holder_comm,
	                           sizeof(j->holder_comm));

	if (n > 0) {
		j->rc = -2;
		return;
	}
	if (n < 0) {
		j->rc = -1;
		snprintf(j->err, sizeof(j->err), "%s is not a serial port on this machine", j->tty);
		return;
	}
	if (j->verb == VERB_AUTO || j->verb == VERB_PROBE) {
		j->rc = esp32_probe_tty(j->tty, ESP32_PROBE_TIMEOUT_MS, &j->res, j->err,
		                        sizeof(j->err));
		return;
	}
	/* A reset that re-enumerates the board may fail half-way (the port
	 * went away under the last line change): what counts is where the
	 * chip is afterwards. */
	if (esp32_reset_tty(j->tty, j->verb == VERB_BOOTLOADER, j->err, sizeof(j->err)) < 0 &&
	    access(j->tty, F_OK) == 0) {
		j->rc = -1;
		return;
	}
	sleep_ms(ESP32_RESET_SETTLE_MS);
	probe_after_reset(j);
}

/* ---- back on the loop ------------------------------------------------------------------ */

static void job_done(struct offload_job *oj)
{
	struct esp32_job *j = (struct esp32_job *)oj;
	struct api_esp32 *m = j->m;
	char mac[18] = "";
	const char *state = j->res.bootloader ? "bootloader" : "running";

	if (j->rc == 0 && j->res.have_mac)
		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", j->res.mac[0],
		         j->res.mac[1], j->res.mac[2], j->res.mac[3], j->res.mac[4], j->res.mac[5]);
	if (j->rc == 0)
		tracker_board_probed(m->t, j->name, j->res.bootloader, mac,
		                     j->verb == VERB_AUTO ? NULL : j->who);
	if (j->verb == VERB_AUTO) {
		if (j->rc == -2) {
			m->nskipped++;
			ul_info("esp32", "%s not probed: %s is open by %ld (%s)", j->name, j->tty,
			        (long)j->holder, j->holder_comm);
		} else if (j->rc < 0) {
			ul_warn("esp32", "%s: probe failed: %s", j->name, j->err);
		}
		free(j);
		return;
	}
	if (j->rc == -2)
		api_reply_errorf(
		        j->reply, "port_busy",
		        json_pack("{s:s, s:s, s:I, s:s}", "board", j->name, "tty", j->tty, "pid",
		                  (json_int_t)j->holder, "command", j->holder_comm),
		        "%s's %s is open by process %ld (%s): usblabd does not fight another "
		        "program for the port; close it first",
		        j->name, j->tty, (long)j->holder, j->holder_comm);
	else if (j->rc < 0)
		api_reply_errorf(j->reply, "port_failed",
		                 json_pack("{s:s, s:s}", "board", j->name, "tty", j->tty), "%s: %s",
		                 j->name, j->err);
	else
		api_reply_result(j->reply,
		                 json_pack("{s:s, s:s, s:s, s:s?, s:b}", "board", j->name, "tty",
		                           j->tty, "state", state, "mac", mac[0] ? mac : NULL,
		                           "reenumerated", (int)j->reenumerated));
	free(j);
}

static struct esp32_job *job_new(struct api_esp32 *m, enum esp32_verb verb, const struct board *b,
                                 const char *tty)
{
	struct esp32_job *j = calloc(1, sizeof(*j));

	if (!j)
		return NULL;
	j->job.run = job_run;
	j->job.done = job_done;
	j->m = m;
	j->verb = verb;
	snprintf(j->name, sizeof(j->name), "%s", b->name);
	snprintf(j->tty, sizeof(j->tty), "%s", tty);
	/* A real device's busid is its port path; a virtual one (0-N) has no
	 * sysfs entry to find a tty by. */
	if (b->dev.port[0])
		snprintf(j->busid, sizeof(j->busid), "%s", b->dev.port);
	return j;
}

/* ---- the automatic probe ----------------------------------------------------------------- */

static void watch_drop(struct api_esp32 *m, unsigned i)
{
	m->watch[i] = m->watch[--m->nwatch];
}

static void arm_tick(struct api_esp32 *m)
{
	struct timeval tv = {0, ESP32_AUTO_TICK_MS * 1000};

	if (m->nwatch > 0 && !evtimer_pending(m->tick, NULL))
		evtimer_add(m->tick, &tv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct api_esp32 *m = arg;
	int64_t now = mono_ms();
	char tty[256];

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < m->nwatch;) {
		const struct board *b = tracker_find(m->t, m->watch[i].name);
		struct esp32_job *j;

		if (!b || b->state == BOARD_ABSENT || !is_esp32(b)) {
			watch_drop(m, i);
			continue;
		}
		if (b->leased) {
			/* Its holder may be flashing it: not ours to touch. */
			m->nskipped++;
			ul_info("esp32", "%s not probed: leased by %s", b->name, b->lease.holder);
			watch_drop(m, i);
			continue;
		}
		first_tty(b->dev.devnodes, tty, sizeof(tty));
		if (tty[0]) {
			if ((j = job_new(m, VERB_AUTO, b, tty)) &&
			    offload_submit(m->work, &j->job) == 0)
				m->nauto++;
			else
				free(j);
			watch_drop(m, i);
			continue;
		}
		if (now > m->watch[i].until_ms) {
			watch_drop(m, i);
			continue;
		}
		i++;
	}
	arm_tick(m);
}

static void on_event(void *arg, const struct ul_event *ev)
{
	struct api_esp32 *m = arg;
	const struct board *b;
	unsigned i;

	if (ev->kind != UL_EV_ARRIVED && ev->kind != UL_EV_REENUMERATED)
		return;
	if (!(b = tracker_find(m->t, ev->board)) || !is_esp32(b))
		return;
	for (i = 0; i < m->nwatch; i++)
		if (strcmp(m->watch[i].name, b->name) == 0)
			break;
	if (i == m->nwatch) {
		if (m->nwatch == ESP32_AUTO_MAX)
			return;
		m->nwatch++;
	}
	snprintf(m->watch[i].name, sizeof(m->watch[i].name), "%s", b->name);
	m->watch[i].until_ms = mono_ms() + ESP32_AUTO_WAIT_MS;
	/* Looked at from the timer, not from inside the tracker's publish. */
	arm_tick(m);
}

static const struct tracker_sub_ops esp32_sub = {.event = on_event};

struct api_esp32 *api_esp32_new(struct event_base *base, struct tracker *t,
                                const struct api_esp32_roots *roots)
{
	struct api_esp32 *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->t = t;
	snprintf(m->proc, sizeof(m->proc), "%s", roots && roots->proc ? roots->proc : "/proc");
	snprintf(m->sys, sizeof(m->sys), "%s", roots && roots->sys ? roots->sys : "/sys");
	m->work = offload_new(base);
	m->tick = evtimer_new(base, on_tick, m);
	if (!m->work || !m->tick || tracker_subscribe(t, &esp32_sub, m, false) < 0) {
		offload_free(m->work);
		if (m->tick)
			event_free(m->tick);
		free(m);
		return NULL;
	}
	return m;
}

void api_esp32_free(struct api_esp32 *m)
{
	if (!m)
		return;
	offload_free(m->work); /* runs the done() of jobs in flight */
	tracker_unsubscribe(m->t, &esp32_sub, m);
	event_free(m->tick);
	free(m);
}

unsigned api_esp32_auto_probes(const struct api_esp32 *m)
{
	return m->nauto;
}

unsigned api_esp32_auto_skipped(const struct api_esp32 *m)
{
	return m->nskipped;
}

/* ---- methods ------------------------------------------------------------------------------ */

/* Whether the caller (user@host) holds b's lease (user@host or user@host/TAG). */
static bool holds_lease(const struct board *b, const char *holder)
{
	size_t n = strlen(holder);

	return strncmp(b->lease.holder, holder, n) == 0 &&
	       (b->lease.holder[n] == 0 || b->lease.holder[n] == '/');
}

static void run_verb(const struct api_call *c, enum esp32_verb verb)
{
	struct api_esp32 *m = api_call_env(c)->esp32;
	const struct board *b;
	const char *name;
	char tty[256], holder[128];
	struct esp32_job *j;

	if (!m) {
		api_call_errorf(c, "unavailable", NULL, "this usblabd runs no ESP32 worker");
		return;
	}
	if (api_call_string(c, "name", true, &name) < 0 || !(b = api_call_resolve(c, name)))
		return;
	if (!is_esp32(b)) {
		api_call_errorf(c, "not_esp32", json_pack("{s:s}", "board", b->name),
		                "%s is of type '%s': these verbs know ESP32s (type = esp32 in "
		                "devices.conf)",
		                b->name, b->reg ? b->reg->type : "");
		return;
	}
	api_call_holder(c, holder, sizeof(holder));
	if (verb != VERB_PROBE && b->leased && !holds_lease(b, holder)) {
		api_call_errorf(
		        c, "leased",
		        json_pack("{s:s, s:s}", "board", b->name, "holder", b->lease.holder),
		        "%s is leased by %s: only its holder resets it", b->name, b->lease.holder);
		return;
	}
	first_tty(b->dev.devnodes, tty, sizeof(tty));
	if (b->state == BOARD_ABSENT || !tty[0]) {
		api_call_errorf(c, "no_port",
		                json_pack("{s:s, s:s}", "board", b->name, "state",
		                          board_state_name(b->state)),
		                b->state == BOARD_IMPORTED
		                        ? "%s is imported by %s: its serial port is on that client "
		                          "(run usblab there, or give --tty PATH)"
		                        : "%s has no serial port (state %s) on usblabd's machine: "
		                          "run usblab where it is attached, or give --tty PATH",
		                b->name,
		                b->state == BOARD_IMPORTED ? b->imported_by
		                                           : board_state_name(b->state));
		return;
	}
	if (!(j = job_new(m, verb, b, tty))) {
		api_call_errorf(c, "internal", NULL, "out of memory");
		return;
	}
	snprintf(j->who, sizeof(j->who), "%s", holder);
	if (!(j->reply = api_call_defer(c))) {
		free(j);
		return;
	}
	if (offload_submit(m->work, &j->job) < 0) {
		api_reply_errorf(j->reply, "internal", NULL, "no worker thread");
		free(j);
	}
}

void api_esp32_probe(const struct api_call *c)
{
	run_verb(c, VERB_PROBE);
}

void api_esp32_bootloader(const struct api_call *c)
{
	run_verb(c, VERB_BOOTLOADER);
}

void api_esp32_boot(const struct api_call *c)
{
	run_verb(c, VERB_BOOT);
}
