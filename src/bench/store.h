/* SPDX-License-Identifier: MIT */
/*
 * store.h - where the bench's state lives on disk, behind a small const ops
 * struct so that a shared PostgreSQL store can be added for labs of many
 * hosts. Every member is synchronous and may block: the daemon calls them
 * only from the store's worker thread (storeq.h), or before its loop runs.
 *
 * What is kept: every event; the leases in force; the location cache (the
 * last place and shape each named board was seen). Leases and locations
 * follow from the events, and are written in the same transaction.
 */
#ifndef UL_STORE_H
#define UL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"

struct store;

struct store_query {
	int64_t since_ms; /* 0: from the start; inclusive */
	int64_t until_ms; /* 0: to now (no upper bound); inclusive */
	char board[64];   /* "" any */
	int kind;         /* -1 any, else an enum ul_event_kind */
	unsigned limit;   /* the newest `limit` matches (0: 1000), returned oldest first */
};

struct store_ops {
	const char *name; /* "sqlite" */

	/* Opens (creating it and its schema if needed) the store at where (a
	 * file path for sqlite; a new file is made 0600, since lease tokens are
	 * in it). Returns 0, or -1 with a reason in err. */
	int (*open)(const char *where, struct store **out, char *err, size_t errlen);

	/* Closes it; what apply() returned 0 for is on disk. */
	void (*close)(struct store *s);

	/* Writes n events in ONE transaction: each event's row, and what it
	 * implies: LEASE_TAKEN/LEASE_RENEWED put the board's lease row;
	 * LEASE_RELEASED/LEASE_EXPIRED delete it; ARRIVED, REENUMERATED and
	 * DEPARTED of a named board put its location row (dev, time_ms); an
	 * event of board "" implies no row. Events apply in order. On
	 * success every change is durable (the journal is synced) and 0 is
	 * returned; on failure nothing is applied and -1 is returned with a
	 * reason in err. */
	int (*apply)(struct store *s, const struct ul_event *evs, size_t n, char *err,
	             size_t errlen);

	/* Events matching q. On 0, *out (malloc'd, caller frees) holds *n events
	 * oldest first, with seq set to the store's row id ("newest" and "oldest"
	 * are by time_ms, then by order of apply: a clock stepped back sorts
	 * its events by their time). A kind name this build does not know reads
	 * as UL_EV_ERROR. -1 for a kind out of range. */
	int (*query_events)(struct store *s, const struct store_query *q, struct ul_event **out,
	                    size_t *n, char *err, size_t errlen);

	/* The leases in force: *out holds *n events of kind LEASE_TAKEN with
	 * board and lease set (expired ones included: the tracker expires
	 * them), sorted by board. */
	int (*load_leases)(struct store *s, struct ul_event **out, size_t *n, char *err,
	                   size_t errlen);

	/* The location cache: one event per named board with board, dev and
	 * time_ms (when last seen), kind UL_EV_ARRIVED, sorted by board. */
	int (*load_locations)(struct store *s, struct ul_event **out, size_t *n, char *err,
	                      size_t errlen);
};

/* SQLite: one file, WAL journal, synchronous=FULL, a busy timeout. */
extern const struct store_ops store_sqlite_ops;

#endif /* UL_STORE_H */
