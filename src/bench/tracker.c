/* SPDX-License-Identifier: MIT */
/*
 * tracker.c - the board table and the events it publishes (tracker.h).
 *
 * A board is found by name; a present board also by its busid. Boards the
 * registry names stay in the table while absent (their location cache);
 * an unnamed device leaves the table when it departs.
 */
#include "tracker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include "names.h"

/* A named board that departs and arrives again within this window
 * re-enumerated (a reset, a flash, a jump to its ROM bootloader); later
 * it simply arrived. */
#define TRACKER_REENUM_WINDOW_MS 15000
#define TRACKER_MAX_SUBS         8

struct tracker_sub {
	const struct tracker_sub_ops *ops;
	void *arg;
};

struct tracker_waiter {
	uint64_t seq;
	void (*cb)(void *arg, int rc);
	void *arg;
	struct tracker_waiter *next;
};

struct tracker {
	const struct registry *reg;
	tracker_clock_fn clock;
	void *clock_ctx;
	struct board *boards;
	struct tracker_sub subs[TRACKER_MAX_SUBS];
	unsigned nsubs;
	bool durable;
	uint64_t seq;       /* last event published */
	uint64_t committed; /* last event the durable subscriber wrote */
	struct tracker_waiter *waiters;
};

static struct board *board_add(struct tracker *t, const char *name);

static int64_t real_clock(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct tracker *tracker_new(const struct registry *reg, tracker_clock_fn clock, void *clock_ctx)
{
	struct tracker *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->clock = clock ? clock : real_clock;
	t->clock_ctx = clock_ctx;
	/* No event for the first registry: the daemon says what it loaded. */
	t->reg = reg;
	if (reg) {
		for (size_t i = 0; i < reg->n; i++) {
			struct board *b = board_add(t, reg->boards[i].name);

			if (!b) {
				tracker_free(t);
				return NULL;
			}
			b->reg = &reg->boards[i];
		}
	}
	return t;
}

void tracker_free(struct tracker *t)
{
	if (!t)
		return;
	while (t->boards) {
		struct board *b = t->boards;

		t->boards = b->next;
		free(b);
	}
	while (t->waiters) {
		struct tracker_waiter *w = t->waiters;

		t->waiters = w->next;
		free(w);
	}
	free(t);
}

int64_t tracker_now(const struct tracker *t)
{
	return t->clock(t->clock_ctx);
}

int tracker_subscribe(struct tracker *t, const struct tracker_sub_ops *ops, void *arg, bool durable)
{
	if (t->nsubs == TRACKER_MAX_SUBS)
		return -1;
	t->subs[t->nsubs].ops = ops;
	t->subs[t->nsubs].arg = arg;
	t->nsubs++;
	if (durable)
		t->durable = true;
	return 0;
}

void tracker_unsubscribe(struct tracker *t, const struct tracker_sub_ops *ops, void *arg)
{
	for (unsigned i = 0; i < t->nsubs; i++) {
		if (t->subs[i].ops == ops && t->subs[i].arg == arg) {
			memmove(&t->subs[i], &t->subs[i + 1],
			        (t->nsubs - i - 1) * sizeof(t->subs[0]));
			t->nsubs--;
			return;
		}
	}
}

/* Runs the waiters whose event is settled: committed up to `upto` (rc 0),
 * or failed up to `upto` (rc < 0). Waiters are unlinked before any runs,
 * since a callback may publish and wait again. */
static void run_waiters(struct tracker *t, uint64_t upto, int rc)
{
	struct tracker_waiter *ready = NULL, **pp = &t->waiters;

	while (*pp) {
		struct tracker_waiter *w = *pp;

		if (w->seq <= upto) {
			*pp = w->next;
			w->next = ready;
			ready = w;
		} else {
			pp = &w->next;
		}
	}
	while (ready) {
		struct tracker_waiter *w = ready;

		ready = w->next;
		w->cb(w->arg, rc);
		free(w);
	}
}

void tracker_committed(struct tracker *t, uint64_t seq, int rc)
{
	if (rc == 0 && seq > t->committed)
		t->committed = seq;
	run_waiters(t, seq, rc < 0 ? rc : 0);
}

int tracker_when_committed(struct tracker *t, uint64_t seq, void (*cb)(void *arg, int rc),
                           void *arg)
{
	struct tracker_waiter *w;

	if (seq <= t->committed) {
		cb(arg, 0);
		return 0;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -1;
	w->seq = seq;
	w->cb = cb;
	w->arg = arg;
	w->next = t->waiters;
	t->waiters = w;
	return 0;
}

/* Stamps ev and hands it to every subscriber. Returns its seq. */
static uint64_t publish(struct tracker *t, struct ul_event *ev)
{
	ev->seq = ++t->seq;
	ev->time_ms = tracker_now(t);
	for (unsigned i = 0; i < t->nsubs; i++)
		t->subs[i].ops->event(t->subs[i].arg, ev);
	if (!t->durable) {
		t->committed = ev->seq;
		run_waiters(t, ev->seq, 0);
	}
	return ev->seq;
}

static void event_init(struct ul_event *ev, enum ul_event_kind kind, const struct board *b)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = kind;
	if (b) {
		UL_COPY(ev->board, b->name);
		ev->dev = b->dev;
		if (b->leased)
			ev->lease = b->lease;
	}
}

static uint64_t emit(struct tracker *t, enum ul_event_kind kind, const struct board *b,
                     const char *peer, const char *detail)
{
	struct ul_event ev;

	event_init(&ev, kind, b);
	if (peer)
		UL_COPY(ev.peer, peer);
	if (detail)
		UL_COPY(ev.detail, detail);
	return publish(t, &ev);
}

uint64_t tracker_client_event(struct tracker *t, enum ul_event_kind kind, const char *board,
                              const char *peer, const char *detail, const struct ul_devfacts *dev)
{
	struct ul_event ev;

	event_init(&ev, kind, NULL);
	UL_COPY(ev.board, board);
	UL_COPY(ev.peer, peer);
	UL_COPY(ev.detail, detail);
	if (dev)
		ev.dev = *dev;
	return publish(t, &ev);
}

/* ---- the table ------------------------------------------------------------ */

const struct board *tracker_first(const struct tracker *t)
{
	return t->boards;
}

static struct board *find_name(const struct tracker *t, const char *name)
{
	for (struct board *b = t->boards; b; b = b->next)
		if (strcmp(b->name, name) == 0)
			return b;
	return NULL;
}

static struct board *find_busid(const struct tracker *t, const char *busid)
{
	if (!busid || !*busid)
		return NULL;
	for (struct board *b = t->boards; b; b = b->next)
		if (b->state != BOARD_ABSENT && strcmp(b->dev.busid, busid) == 0)
			return b;
	return NULL;
}

const struct board *tracker_find(const struct tracker *t, const char *name)
{
	return find_name(t, name);
}

const struct board *tracker_find_busid(const struct tracker *t, const char *busid)
{
	return find_busid(t, busid);
}

static struct board *board_add(struct tracker *t, const char *name)
{
	struct board *b = calloc(1, sizeof(*b));
	struct board **pp = &t->boards;

	if (!b)
		return NULL;
	UL_COPY(b->name, name);
	/* Keep the table in name order: listings read it as it is. */
	while (*pp && strcmp((*pp)->name, name) < 0)
		pp = &(*pp)->next;
	b->next = *pp;
	*pp = b;
	return b;
}

static void board_remove(struct tracker *t, struct board *gone)
{
	for (struct board **pp = &t->boards; *pp; pp = &(*pp)->next) {
		if (*pp == gone) {
			*pp = gone->next;
			free(gone);
			return;
		}
	}
}

static void set_state(struct tracker *t, struct board *b, enum board_state s)
{
	if (b->state != s) {
		b->state = s;
		b->state_since_ms = tracker_now(t);
	}
}

/* ---- devices ---------------------------------------------------------------- */

const struct board *tracker_device_arrived(struct tracker *t, const struct ul_devfacts *dev,
                                           const char *detail)
{
	enum reg_mode mode = REG_MODE_APP;
	const struct reg_board *rb = t->reg ? registry_match(t->reg, dev, &mode) : NULL;
	const char *name = rb ? rb->name : dev->busid;
	struct board *b = find_busid(t, dev->busid);
	enum ul_event_kind kind = UL_EV_ARRIVED;
	char why[256];
	int64_t now = tracker_now(t);

	/* The same busid still present under another name: it was replaced
	 * without a departure we saw (a missed udev event). */
	if (b && strcmp(b->name, name) != 0)
		tracker_device_departed(t, dev->busid);
	b = find_name(t, name);
	if (!b && !(b = board_add(t, name)))
		return NULL;
	b->reg = rb;
	why[0] = 0;
	if (detail)
		UL_COPY(why, detail);
	if (rb && b->last_seen_ms > 0 && b->state == BOARD_ABSENT &&
	    now - b->last_seen_ms <= TRACKER_REENUM_WINDOW_MS && b->mode != mode) {
		/* One board, another mode (its ROM, a DFU loader): the name, the
		 * lease and the export carry over (issue 15). */
		kind = UL_EV_REENUMERATED;
		snprintf(why, sizeof(why), "%s \u2192 %s (%04x:%04x -> %04x:%04x)",
		         reg_mode_name(b->mode), reg_mode_name(mode), b->dev.vid, b->dev.pid,
		         dev->vid, dev->pid);
	} else if (rb && b->last_seen_ms > 0 && b->state == BOARD_ABSENT &&
	           now - b->last_seen_ms <= TRACKER_REENUM_WINDOW_MS) {
		kind = UL_EV_REENUMERATED;
		if (b->dev.busid[0] && strcmp(b->dev.busid, dev->busid) != 0)
			snprintf(why, sizeof(why), "busid %s -> %s", b->dev.busid, dev->busid);
		else if (b->dev.vid != dev->vid || b->dev.pid != dev->pid)
			snprintf(why, sizeof(why), "%04x:%04x -> %04x:%04x", b->dev.vid, b->dev.pid,
			         dev->vid, dev->pid);
		else
			snprintf(why, sizeof(why), "back after %.1f s",
			         (double)(now - b->last_seen_ms) / 1000.0);
		if (mode != REG_MODE_APP)
			snprintf(why + strlen(why), sizeof(why) - strlen(why), " (%s mode)",
			         reg_mode_name(mode));
	} else if (b->state != BOARD_ABSENT) {
		/* Already known present (the scan and udev both told us). */
		if (dev->devnodes[0])
			UL_COPY(b->dev.devnodes, dev->devnodes);
		return b;
	}
	if (b->mode != mode || kind == UL_EV_ARRIVED)
		b->fw_state[0] = 0; /* a new mode, or back after a while: not probed yet */
	b->dev = *dev;
	b->mode = mode;
	b->last_seen_ms = now;
	set_state(t, b, BOARD_PRESENT);
	emit(t, kind, b, NULL, why[0] ? why : NULL);
	return b;
}

int tracker_board_probed(struct tracker *t, const char *name, bool bootloader, const char *mac,
                         const char *who)
{
	struct board *b = find_name(t, name);
	char why[64];

	if (!b)
		return TRACKER_E_UNKNOWN;
	UL_COPY(b->fw_state, bootloader ? "bootloader" : "running");
	if (mac && *mac)
		UL_COPY(b->dev.mac, mac);
	snprintf(why, sizeof(why), "%s%s%s", b->fw_state, mac && *mac ? ", MAC " : "",
	         mac && *mac ? mac : "");
	emit(t, UL_EV_PROBED, b, who, why);
	return TRACKER_OK;
}

void tracker_device_departed(struct tracker *t, const char *busid)
{
	struct board *b = find_busid(t, busid);

	if (!b)
		return;
	b->last_seen_ms = tracker_now(t);
	b->imported_by[0] = 0;
	set_state(t, b, BOARD_ABSENT);
	emit(t, UL_EV_DEPARTED, b, NULL, NULL);
	if (!b->reg && !b->leased)
		board_remove(t, b);
}

void tracker_device_nodes(struct tracker *t, const char *busid, const char *devnodes)
{
	struct board *b = find_busid(t, busid);

	if (b)
		UL_COPY(b->dev.devnodes, devnodes);
}

void tracker_exported(struct tracker *t, const struct ul_devfacts *dev)
{
	struct board *b = find_busid(t, dev->busid);

	if (!b) {
		/* A virtual device, or libusb saw it before udev did. */
		tracker_device_arrived(t, dev, NULL);
		b = find_busid(t, dev->busid);
		if (!b)
			return;
	}
	if (b->state == BOARD_EXPORTED || b->state == BOARD_IMPORTED)
		return;
	set_state(t, b, BOARD_EXPORTED);
	emit(t, UL_EV_EXPORTED, b, NULL, NULL);
}

void tracker_unexported(struct tracker *t, const char *busid)
{
	struct board *b = find_busid(t, busid);

	if (!b || (b->state != BOARD_EXPORTED && b->state != BOARD_IMPORTED))
		return;
	b->imported_by[0] = 0;
	set_state(t, b, BOARD_PRESENT);
	emit(t, UL_EV_UNEXPORTED, b, NULL, NULL);
}

void tracker_imported(struct tracker *t, const char *busid, const char *peer)
{
	struct board *b = find_busid(t, busid);

	if (!b)
		return;
	UL_COPY(b->imported_by, peer ? peer : "");
	set_state(t, b, BOARD_IMPORTED);
	emit(t, UL_EV_IMPORTED, b, peer, NULL);
}

void tracker_released(struct tracker *t, const char *busid, const char *peer, bool gone,
                      const char *why)
{
	struct board *b = find_busid(t, busid);

	if (!b)
		return;
	b->imported_by[0] = 0;
	if (b->state == BOARD_IMPORTED)
		set_state(t, b, BOARD_EXPORTED);
	emit(t, gone ? UL_EV_CLIENT_GONE : UL_EV_RELEASED, b, peer, why);
}

void tracker_import_refused(struct tracker *t, const char *requested, const char *peer,
                            const char *why)
{
	struct ul_event ev;
	const struct board *b = find_name(t, requested);

	event_init(&ev, UL_EV_IMPORT_REFUSED, b);
	if (!b)
		UL_COPY(ev.dev.busid, requested);
	if (peer)
		UL_COPY(ev.peer, peer);
	if (why)
		UL_COPY(ev.detail, why);
	publish(t, &ev);
}

/* ---- registry ---------------------------------------------------------------- */

void tracker_set_registry(struct tracker *t, const struct registry *reg, const char *detail)
{
	struct board **pp = &t->boards;

	t->reg = reg;
	/* Boards the new registry no longer names: a present one goes back to
	 * its busid, an absent one leaves (unless a lease still holds it). */
	while (*pp) {
		struct board *b = *pp;
		const struct reg_board *rb = reg ? registry_find(reg, b->name) : NULL;

		b->reg = rb;
		if (!rb && b->state == BOARD_ABSENT && !b->leased) {
			*pp = b->next;
			free(b);
			continue;
		}
		pp = &b->next;
	}
	/* Present devices the registry now names (or names differently). */
	for (struct board *b = t->boards; b; b = b->next) {
		const struct reg_board *rb;

		if (b->state == BOARD_ABSENT || !reg)
			continue;
		rb = registry_match(reg, &b->dev, NULL);
		if (rb && strcmp(rb->name, b->name) != 0 && !find_name(t, rb->name)) {
			UL_COPY(b->name, rb->name);
			b->reg = rb;
		} else if (!rb && b->reg == NULL && strcmp(b->name, b->dev.busid) != 0 &&
		           !b->leased) {
			UL_COPY(b->name, b->dev.busid);
		}
	}
	/* Every registry board is listed, present or not. */
	for (size_t i = 0; reg && i < reg->n; i++) {
		struct board *b = find_name(t, reg->boards[i].name);

		if (!b && (b = board_add(t, reg->boards[i].name)))
			b->reg = &reg->boards[i];
	}
	emit(t, UL_EV_CONFIG_RELOADED, NULL, NULL, detail);
}

void tracker_registry_rejected(struct tracker *t, const char *why)
{
	emit(t, UL_EV_CONFIG_REJECTED, NULL, NULL, why);
}

/* ---- board control ---------------------------------------------------------- */

uint64_t tracker_power(struct tracker *t, const char *name, const char *peer, const char *detail)
{
	struct board *b = find_name(t, name);

	if (!b)
		return 0;
	return emit(t, UL_EV_POWER, b, peer, detail);
}

/* ---- leases ------------------------------------------------------------------- */

/* A token must fit the 32-byte busid field of OP_REQ_IMPORT after the name
 * and '#' (docs/bench-facts.md, "Leases on the wire"): 12 characters of a
 * 32-letter alphabet without look-alikes (0/o, 1/l) carry 60 random bits,
 * and leave 18 characters for the name (or the busid) in front. */
static void new_token(char out[UL_TOKEN_LEN + 1])
{
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
	uint8_t raw[UL_TOKEN_LEN];
	size_t have = 0;

	while (have < sizeof(raw)) {
		ssize_t n = getrandom(raw + have, sizeof(raw) - have, 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			abort(); /* the kernel always has entropy after boot */
		have += (size_t)n;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		out[i] = alphabet[raw[i] & 31];
	out[UL_TOKEN_LEN] = 0;
}

int tracker_lease_take(struct tracker *t, const char *name, const char *holder, const char *reason,
                       const char *addr, int64_t duration_ms, struct ul_lease *out, uint64_t *seq)
{
	struct board *b = find_name(t, name);
	int64_t now = tracker_now(t);

	if (!b)
		return TRACKER_E_UNKNOWN;
	if (b->leased && b->lease.expires_ms > now && strcmp(b->lease.holder, holder) != 0) {
		*out = b->lease;
		return TRACKER_E_LEASED;
	}
	if (b->leased && b->lease.expires_ms > now)
		return tracker_lease_renew(t, name, holder, duration_ms, out, seq);
	memset(&b->lease, 0, sizeof(b->lease));
	UL_COPY(b->lease.holder, holder);
	UL_COPY(b->lease.reason, reason ? reason : "");
	UL_COPY(b->lease.addr, addr ? addr : "");
	new_token(b->lease.token);
	b->lease.since_ms = now;
	b->lease.expires_ms = now + duration_ms;
	b->leased = true;
	*out = b->lease;
	*seq = emit(t, UL_EV_LEASE_TAKEN, b, holder, reason);
	return TRACKER_OK;
}

int tracker_lease_renew(struct tracker *t, const char *name, const char *holder,
                        int64_t duration_ms, struct ul_lease *out, uint64_t *seq)
{
	struct board *b = find_name(t, name);

	if (!b)
		return TRACKER_E_UNKNOWN;
	if (!b->leased)
		return TRACKER_E_NOT_LEASED;
	if (strcmp(b->lease.holder, holder) != 0) {
		*out = b->lease;
		return TRACKER_E_NOT_HOLDER;
	}
	b->lease.expires_ms = tracker_now(t) + duration_ms;
	*out = b->lease;
	*seq = emit(t, UL_EV_LEASE_RENEWED, b, holder, NULL);
	return TRACKER_OK;
}

int tracker_lease_release(struct tracker *t, const char *name, const char *holder, bool force,
                          uint64_t *seq)
{
	struct board *b = find_name(t, name);
	struct ul_event ev;
	char why[160];

	if (!b)
		return TRACKER_E_UNKNOWN;
	if (!b->leased)
		return TRACKER_E_NOT_LEASED;
	if (!force && strcmp(b->lease.holder, holder) != 0)
		return TRACKER_E_NOT_HOLDER;
	why[0] = 0;
	if (strcmp(b->lease.holder, holder) != 0)
		snprintf(why, sizeof(why), "forced by %s", holder);
	event_init(&ev, UL_EV_LEASE_RELEASED, b);
	UL_COPY(ev.peer, holder);
	UL_COPY(ev.detail, why);
	b->leased = false;
	*seq = publish(t, &ev);
	if (!b->reg && b->state == BOARD_ABSENT)
		board_remove(t, b);
	return TRACKER_OK;
}

int64_t tracker_lease_expire(struct tracker *t)
{
	int64_t now = tracker_now(t), next = -1;
	struct board *b = t->boards;

	while (b) {
		struct board *following = b->next;

		if (b->leased && b->lease.expires_ms <= now) {
			struct ul_event ev;

			event_init(&ev, UL_EV_LEASE_EXPIRED, b);
			UL_COPY(ev.peer, b->lease.holder);
			b->leased = false;
			publish(t, &ev);
			if (!b->reg && b->state == BOARD_ABSENT)
				board_remove(t, b);
		} else if (b->leased && (next < 0 || b->lease.expires_ms - now < next)) {
			next = b->lease.expires_ms - now;
		}
		b = following;
	}
	return next;
}

void tracker_lease_restore(struct tracker *t, const char *name, const struct ul_lease *lease)
{
	struct board *b = find_name(t, name);

	if (!b && !(b = board_add(t, name)))
		return;
	b->lease = *lease;
	b->leased = true;
}

void tracker_location_restore(struct tracker *t, const char *name, const struct ul_devfacts *dev,
                              int64_t seen_ms)
{
	struct board *b = find_name(t, name);

	/* Only boards the registry still names keep a location. */
	if (!b || b->state != BOARD_ABSENT)
		return;
	b->dev = *dev;
	b->last_seen_ms = seen_ms;
}

/* addr and the lease's address may carry a port ("10.0.0.5:41234"); the
 * host part decides. */
static bool same_host(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	const char *ca = strrchr(a, ':'), *cb = strrchr(b, ':');

	if (a[0] != '[' && ca && strchr(a, ':') == ca)
		la = (size_t)(ca - a);
	if (b[0] != '[' && cb && strchr(b, ':') == cb)
		lb = (size_t)(cb - b);
	if (a[0] == '[' && (ca = strstr(a, "]:")))
		la = (size_t)(ca - a + 1);
	if (b[0] == '[' && (cb = strstr(b, "]:")))
		lb = (size_t)(cb - b + 1);
	return la == lb && strncasecmp(a, b, la) == 0;
}

bool tracker_import_allowed(const struct board *b, const char *addr, const char *token)
{
	if (!b->leased)
		return true;
	if (token && *token && strcmp(token, b->lease.token) == 0)
		return true;
	return addr && *addr && b->lease.addr[0] && same_host(addr, b->lease.addr);
}

/* ---- queries ------------------------------------------------------------------- */

int tracker_resolve(const struct tracker *t, const char *query, const struct board **out, char *err,
                    size_t errlen)
{
	const char *names[512];
	const struct board *boards[512];
	struct names_result res;
	size_t n = 0;
	int rc;

	for (const struct board *b = t->boards; b && n < 512; b = b->next) {
		names[n] = b->name;
		boards[n++] = b;
	}
	rc = names_resolve(names, n, query, &res, err, errlen);
	if (rc == NAMES_OK)
		*out = boards[res.index];
	return rc;
}

const char *board_state_name(enum board_state s)
{
	switch (s) {
	case BOARD_ABSENT:
		return "absent";
	case BOARD_PRESENT:
		return "present";
	case BOARD_EXPORTED:
		return "exported";
	case BOARD_IMPORTED:
		return "imported";
	}
	return "?";
}
