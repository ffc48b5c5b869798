/* SPDX-License-Identifier: MIT */
/*
 * tracker.h - the one owner of what is known about every board: identity,
 * registry name, port, speed, device files, export and import state, lease.
 *
 * Everything that learns something reports it here (the inventory from
 * udev, the USB/IP server's notifications, the control API's lease verbs,
 * a registry reload); the tracker updates its table and publishes one typed
 * event (event.h) to each subscriber, in subscription order. It does no I/O
 * and never blocks: time comes from a clock the owner sets, durability from
 * the store subscriber telling it which events are committed.
 *
 * Boards are keyed by registry name when the registry names the device,
 * else by busid ("1-4.2", "0-1"), so an unnamed device is still listed.
 */
#ifndef UL_TRACKER_H
#define UL_TRACKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "registry.h"

enum board_state {
	BOARD_ABSENT = 0, /* known from the registry or the location cache only */
	BOARD_PRESENT,    /* plugged in, not offered over USB/IP */
	BOARD_EXPORTED,   /* offered, nobody imports it */
	BOARD_IMPORTED,   /* a client has it */
};

/* One board as the tracker sees it. Read-only outside tracker.c. */
struct board {
	char name[64];               /* registry name, else the busid */
	const struct reg_board *reg; /* its registry entry, or NULL (re-pointed on reload) */
	enum board_state state;
	struct ul_devfacts dev; /* now (present) or where last seen (absent) */
	int64_t last_seen_ms;   /* 0: never seen */
	int64_t state_since_ms;
	char imported_by[64]; /* client address while BOARD_IMPORTED */
	bool leased;
	struct ul_lease lease; /* valid while leased */
	enum reg_mode mode;    /* the registry identity it was last seen as */
	char fw_state[16];     /* ESP32: "bootloader" or "running" from the last probe; "" */
	struct board *next;
};

struct tracker;

/* A subscriber: called once per event, in order, on the loop's thread. It
 * must not block and must copy what it keeps. */
struct tracker_sub_ops {
	void (*event)(void *arg, const struct ul_event *ev);
};

/* Wall clock in ms since the epoch; ctx is tracker_new()'s clock_ctx. */
typedef int64_t (*tracker_clock_fn)(void *ctx);

/* Creates a tracker over registry reg (may be NULL: no names). clock NULL
 * means the real clock. Returns NULL when out of memory. */
struct tracker *tracker_new(const struct registry *reg, tracker_clock_fn clock, void *clock_ctx);
void tracker_free(struct tracker *t);

/* Adds a subscriber. durable: the subscriber persists events and will call
 * tracker_committed(); while there is none, every event counts as committed
 * as soon as it is published. Returns 0 or -1. */
int tracker_subscribe(struct tracker *t, const struct tracker_sub_ops *ops, void *arg,
                      bool durable);

/* Removes a non-durable subscriber (ops and arg as subscribed), keeping the
 * others' order. Not from inside an event callback. No-op when absent. */
void tracker_unsubscribe(struct tracker *t, const struct tracker_sub_ops *ops, void *arg);

/* The durable subscriber has committed every event up to seq (and reports
 * rc < 0 if it failed to). Runs the waiters of tracker_when_committed(). */
void tracker_committed(struct tracker *t, uint64_t seq, int rc);

/* Calls cb(arg, rc) on the loop once event seq is committed (rc 0) or the
 * store failed (rc < 0); at once when it already is. Returns 0 or -1. */
int tracker_when_committed(struct tracker *t, uint64_t seq, void (*cb)(void *arg, int rc),
                           void *arg);

int64_t tracker_now(const struct tracker *t);

/* ---- inputs: devices ----------------------------------------------------- */

/* A device appeared (or was first seen by the scan). Matches it against the
 * registry; emits ARRIVED, or REENUMERATED when the board was seen before
 * under another busid or mode within the re-enumeration window. Returns
 * the board. */
const struct board *tracker_device_arrived(struct tracker *t, const struct ul_devfacts *dev,
                                           const char *detail);

/* The device with this busid (or port) went away: DEPARTED. */
void tracker_device_departed(struct tracker *t, const char *busid);

/* An ESP32 board was probed (its ROM answered SYNC or not): the board's
 * fw_state becomes "bootloader" or "running" and its MAC (mac may be NULL
 * or "") is kept; PROBED with detail the state (and "MAC ..."), or
 * peer the user who asked. Returns TRACKER_OK or TRACKER_E_UNKNOWN. */
int tracker_board_probed(struct tracker *t, const char *name, bool bootloader, const char *mac,
                         const char *who);

/* Device files changed for a present device (udev add of a child). */
void tracker_device_nodes(struct tracker *t, const char *busid, const char *devnodes);

/* USB/IP state, reported by the daemon from the server core. */
void tracker_exported(struct tracker *t, const struct ul_devfacts *dev);
void tracker_unexported(struct tracker *t, const char *busid);
void tracker_imported(struct tracker *t, const char *busid, const char *peer);
/* gone: the client vanished (error, timeout) rather than letting go. */
void tracker_released(struct tracker *t, const char *busid, const char *peer, bool gone,
                      const char *why);
void tracker_import_refused(struct tracker *t, const char *requested, const char *peer,
                            const char *why);

/* The client side's events (UL_EV_ATTACHED ... UL_EV_DETACHED): boards this
 * machine imported, which the table of local boards does not hold. board
 * is the name as attached, peer the server; dev may be NULL. Returns the
 * event's seq. */
uint64_t tracker_client_event(struct tracker *t, enum ul_event_kind kind, const char *board,
                              const char *peer, const char *detail, const struct ul_devfacts *dev);

/* ---- inputs: registry ---------------------------------------------------- */

/* Swaps in a new registry (the caller keeps it alive until the next swap)
 * and renames boards accordingly: CONFIG_RELOADED. */
void tracker_set_registry(struct tracker *t, const struct registry *reg, const char *detail);
/* A new registry was refused: CONFIG_REJECTED with the reason. */
void tracker_registry_rejected(struct tracker *t, const char *why);

/* ---- inputs: board control ------------------------------------------------ */

/* A board's hub port was switched (power.h): POWER with detail ("off: hub
 * 1-1 port 2 (per-port), sysfs") and peer (who asked). Returns the event's
 * seq, or 0 when no board has that name. */
uint64_t tracker_power(struct tracker *t, const char *name, const char *peer, const char *detail);

/* ---- leases ---------------------------------------------------------------- */

enum tracker_err {
	TRACKER_OK = 0,
	TRACKER_E_UNKNOWN = -1, /* no such board */
	TRACKER_E_LEASED = -2,  /* leased by someone else (*holder set) */
	TRACKER_E_NOT_HOLDER = -3,
	TRACKER_E_NOT_LEASED = -4,
	TRACKER_E_NOMEM = -5,
};

/* Checks out board name for holder for duration_ms. A lease held by the
 * same holder is renewed instead. On success *out is the lease and *seq the
 * event to wait for (tracker_when_committed) before telling the caller. */
int tracker_lease_take(struct tracker *t, const char *name, const char *holder, const char *reason,
                       const char *addr, int64_t duration_ms, struct ul_lease *out, uint64_t *seq);
int tracker_lease_renew(struct tracker *t, const char *name, const char *holder,
                        int64_t duration_ms, struct ul_lease *out, uint64_t *seq);
/* force: anyone may release it (the event names who). */
int tracker_lease_release(struct tracker *t, const char *name, const char *holder, bool force,
                          uint64_t *seq);
/* Releases every lease whose expiry has passed: LEASE_EXPIRED each. Returns
 * the ms until the next expiry, or -1 when no lease is held. */
int64_t tracker_lease_expire(struct tracker *t);
/* Restores a lease from the store at start-up (no event). */
void tracker_lease_restore(struct tracker *t, const char *name, const struct ul_lease *lease);
/* Restores the location cache for an absent board (no event). */
void tracker_location_restore(struct tracker *t, const char *name, const struct ul_devfacts *dev,
                              int64_t seen_ms);

/* May a client at addr import board b with token (may be NULL or "")?
 * true when b is not leased, the token matches, or addr is the lease's. */
bool tracker_import_allowed(const struct board *b, const char *addr, const char *token);

/* ---- queries ----------------------------------------------------------------- */

const struct board *tracker_first(const struct tracker *t);
const struct board *tracker_find(const struct tracker *t, const char *name);
const struct board *tracker_find_busid(const struct tracker *t, const char *busid);
/* Resolves a user's query (exact, substring, regex: names.h) over the
 * boards' names. Returns 0 with *out, or a names.h error with the
 * candidates written to err. */
int tracker_resolve(const struct tracker *t, const char *query, const struct board **out, char *err,
                    size_t errlen);

const char *board_state_name(enum board_state s);

#endif /* UL_TRACKER_H */
