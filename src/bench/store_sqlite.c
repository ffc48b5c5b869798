/* SPDX-License-Identifier: MIT */
/*
 * store_sqlite.c - the store (store.h) in one SQLite file: WAL journal,
 * synchronous=FULL, a busy timeout, every statement prepared once at open.
 *
 * Threads: a struct store is used by one thread at a time (the daemon's
 * main thread before its loop runs, then only the storeq worker), so the
 * connection is opened SQLITE_OPEN_NOMUTEX; the hand-over is ordered by
 * pthread_create.
 *
 * Kinds are stored by name (ul_event_kind_name), so the enum may be
 * reordered without touching the file.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_DEFAULT_LIMIT   1000u

/* Migrations: entry i brings the file from user_version i to i + 1. New
 * versions go at the end; a shipped entry never changes. */
static const char *const store_migrations[] = {
        /* 1: events, leases, the location cache. */
        "CREATE TABLE events ("
        " id INTEGER PRIMARY KEY,"
        " time_ms INTEGER NOT NULL,"
        " kind TEXT NOT NULL,"
        " board TEXT NOT NULL DEFAULT '',"
        " peer TEXT NOT NULL DEFAULT '',"
        " detail TEXT NOT NULL DEFAULT '',"
        " vid INTEGER NOT NULL DEFAULT 0,"
        " pid INTEGER NOT NULL DEFAULT 0,"
        " speed INTEGER NOT NULL DEFAULT 0,"
        " serial TEXT NOT NULL DEFAULT '',"
        " port TEXT NOT NULL DEFAULT '',"
        " busid TEXT NOT NULL DEFAULT '',"
        " devnodes TEXT NOT NULL DEFAULT '',"
        " mac TEXT NOT NULL DEFAULT '',"
        " holder TEXT NOT NULL DEFAULT '',"
        " reason TEXT NOT NULL DEFAULT '',"
        " token TEXT NOT NULL DEFAULT '',"
        " addr TEXT NOT NULL DEFAULT '',"
        " since_ms INTEGER NOT NULL DEFAULT 0,"
        " expires_ms INTEGER NOT NULL DEFAULT 0);"
        /* Both end in the row id, so they give query_events' order
         * (time_ms, id) with no sort, with or without a board. */
        "CREATE INDEX events_time ON events(time_ms);"
        "CREATE INDEX events_board_time ON events(board, time_ms);"
        "CREATE TABLE leases ("
        " board TEXT PRIMARY KEY NOT NULL,"
        " holder TEXT NOT NULL,"
        " reason TEXT NOT NULL,"
        " token TEXT NOT NULL,"
        " addr TEXT NOT NULL,"
        " since_ms INTEGER NOT NULL,"
        " expires_ms INTEGER NOT NULL) WITHOUT ROWID;"
        "CREATE TABLE locations ("
        " board TEXT PRIMARY KEY NOT NULL,"
        " vid INTEGER NOT NULL,"
        " pid INTEGER NOT NULL,"
        " speed INTEGER NOT NULL,"
        " serial TEXT NOT NULL,"
        " port TEXT NOT NULL,"
        " busid TEXT NOT NULL,"
        " devnodes TEXT NOT NULL,"
        " mac TEXT NOT NULL,"
        " seen_ms INTEGER NOT NULL) WITHOUT ROWID;",
        /* 2: "events of one kind" without a scan (a rare kind scanned
         * 300k rows in 90 ms, and queries hold up the writes behind them). */
        "CREATE INDEX events_kind_time ON events(kind, time_ms);",
};
#define STORE_SCHEMA_VERSION ((int)(sizeof(store_migrations) / sizeof(store_migrations[0])))

/* The event columns in the order every statement below uses them. */
#define EVENT_COLS                                                                                 \
	"time_ms, kind, board, peer, detail, vid, pid, speed, serial, port, busid, devnodes, "     \
	"mac, "                                                                                    \
	"holder, reason, token, addr, since_ms, expires_ms"

#define QUERY_HEAD     "SELECT id, " EVENT_COLS " FROM events WHERE time_ms >= ?1 AND time_ms <= ?2 "
#define QUERY_TAIL     "ORDER BY time_ms DESC, id DESC LIMIT ?5"
#define QUERY_BY_BOARD 1
#define QUERY_BY_KIND  2

enum store_stmt {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_INSERT_EVENT,
	ST_PUT_LEASE,
	ST_DELETE_LEASE,
	ST_PUT_LOCATION,
	/* query_events: ST_QUERY + QUERY_BY_BOARD if a board, + QUERY_BY_KIND if
	 * a kind. One statement each, so each has its index and no OR. */
	ST_QUERY,
	ST_QUERY_BOARD,
	ST_QUERY_KIND,
	ST_QUERY_BOARD_KIND,
	ST_LOAD_LEASES,
	ST_LOAD_LOCATIONS,
	ST__COUNT
};

static const char *const store_sql[ST__COUNT] = {
        [ST_BEGIN] = "BEGIN IMMEDIATE",
        [ST_COMMIT] = "COMMIT",
        [ST_ROLLBACK] = "ROLLBACK",
        [ST_INSERT_EVENT] = "INSERT INTO events (" EVENT_COLS ") VALUES "
                            "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, "
                            "?16, ?17, ?18, ?19)",
        [ST_PUT_LEASE] = "INSERT OR REPLACE INTO leases "
                         "(board, holder, reason, token, addr, since_ms, expires_ms) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        [ST_DELETE_LEASE] = "DELETE FROM leases WHERE board = ?1",
        [ST_PUT_LOCATION] = "INSERT OR REPLACE INTO locations "
                            "(board, vid, pid, speed, serial, port, busid, devnodes, mac, seen_ms) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        /* ?3 is the kind's name or NULL for any; ?4 the board (QUERY_BOARD). */
        [ST_QUERY] = QUERY_HEAD QUERY_TAIL,
        [ST_QUERY_BOARD] = QUERY_HEAD "AND board = ?4 " QUERY_TAIL,
        [ST_QUERY_KIND] = QUERY_HEAD "AND kind = ?3 " QUERY_TAIL,
        [ST_QUERY_BOARD_KIND] = QUERY_HEAD "AND board = ?4 AND kind = ?3 " QUERY_TAIL,
        [ST_LOAD_LEASES] = "SELECT board, holder, reason, token, addr, since_ms, expires_ms "
                           "FROM leases ORDER BY board",
        [ST_LOAD_LOCATIONS] = "SELECT board, vid, pid, speed, serial, port, busid, devnodes, mac, "
                              "seen_ms FROM locations ORDER BY board",
};

_Static_assert(ST_QUERY_BOARD == ST_QUERY + QUERY_BY_BOARD &&
                       ST_QUERY_KIND == ST_QUERY + QUERY_BY_KIND &&
                       ST_QUERY_BOARD_KIND == ST_QUERY + QUERY_BY_BOARD + QUERY_BY_KIND,
               "query statements are indexed by their filters");

struct store {
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
};

static void store_err(char *err, size_t errlen, const char *what, sqlite3 *db)
{
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", what, db ? sqlite3_errmsg(db) : "out of memory");
}

/* Binds a fixed-size text field without reading past it, even when a caller
 * left it unterminated. The event outlives the step, so SQLITE_STATIC. */
#define BIND_FIELD(st, i, field)                                                                   \
	sqlite3_bind_text((st), (i), (field), (int)strnlen((field), sizeof(field)), SQLITE_STATIC)

/* Copies a text column into a fixed-size field; NULL reads as "". */
#define COLUMN_FIELD(st, i, field)                                                                 \
	UL_COPY((field), sqlite3_column_text((st), (i))                                            \
	                         ? (const char *)sqlite3_column_text((st), (i))                    \
	                         : "")

/* Runs a statement that returns no row, then resets it. */
static int store_step_done(struct store *s, enum store_stmt which)
{
	sqlite3_stmt *st = s->st[which];
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int store_exec(sqlite3 *db, const char *sql, const char *what, char *err, size_t errlen)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		store_err(err, errlen, what, db);
		return -1;
	}
	return 0;
}

static int store_user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) != SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* Brings the schema to STORE_SCHEMA_VERSION, each step in its own
 * transaction, so an interrupted upgrade leaves a valid older version. */
static int store_migrate(sqlite3 *db, char *err, size_t errlen)
{
	int version;
	char sql[64], what[64];

	if (store_user_version(db, &version) < 0) {
		store_err(err, errlen, "reading user_version", db);
		return -1;
	}
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %d is newer than this usblab's (%d)", version,
		         STORE_SCHEMA_VERSION);
		return -1;
	}
	for (; version < STORE_SCHEMA_VERSION; version++) {
		if (store_exec(db, "BEGIN IMMEDIATE", "starting the schema upgrade", err, errlen) <
		    0)
			return -1;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		snprintf(what, sizeof(what), "upgrading the schema to version %d", version + 1);
		if (store_exec(db, store_migrations[version], what, err, errlen) < 0 ||
		    store_exec(db, sql, "setting user_version", err, errlen) < 0 ||
		    store_exec(db, "COMMIT", "committing the schema", err, errlen) < 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
}

static void store_sqlite_close(struct store *s)
{
	if (!s)
		return;
	for (int i = 0; i < ST__COUNT; i++)
		sqlite3_finalize(s->st[i]);
	/* Last connection closed: SQLite checkpoints the WAL into the file. */
	sqlite3_close(s->db);
	free(s);
}

static int store_sqlite_open(const char *where, struct store **out, char *err, size_t errlen)
{
	struct store *s;
	sqlite3_stmt *st;
	const char *mode;
	int wal, fd;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s) {
		store_err(err, errlen, where, NULL);
		return -1;
	}
	/* Lease tokens let their holder import a board: the file is the
	 * owner's alone. SQLite makes its -wal and -shm files with the
	 * database's mode, so creating the file first is enough. */
	fd = open(where, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", where, strerror(errno));
		goto fail;
	}
	close(fd);
	if (sqlite3_open_v2(where, &s->db,
	                    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
	                    NULL) != SQLITE_OK) {
		store_err(err, errlen, where, s->db);
		goto fail;
	}
	sqlite3_extended_result_codes(s->db, 1);
	sqlite3_busy_timeout(s->db, STORE_BUSY_TIMEOUT_MS);

	/* journal_mode answers the mode in force: a file another program keeps
	 * in rollback mode, or a read-only directory, answers something else. */
	if (sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL) != SQLITE_OK) {
		store_err(err, errlen, "setting WAL mode", s->db);
		goto fail;
	}
	if (sqlite3_step(st) != SQLITE_ROW) {
		store_err(err, errlen, "setting WAL mode", s->db);
		sqlite3_finalize(st);
		goto fail;
	}
	mode = (const char *)sqlite3_column_text(st, 0);
	wal = mode && strcmp(mode, "wal") == 0;
	if (!wal)
		snprintf(err, errlen, "%s: cannot use WAL mode (journal_mode stays %s)", where,
		         mode ? mode : "unknown");
	sqlite3_finalize(st);
	if (!wal)
		goto fail;
	/* FULL: in WAL mode NORMAL may lose the last commits on power loss,
	 * and a lease a client was told about must survive that too. */
	if (store_exec(s->db, "PRAGMA synchronous = FULL", "setting synchronous", err, errlen) < 0)
		goto fail;
	/* A burst makes a big WAL; after the checkpoint it shrinks back to
	 * this rather than keeping its largest size for ever. */
	if (store_exec(s->db, "PRAGMA journal_size_limit = 16777216", "setting the WAL limit", err,
	               errlen) < 0)
		goto fail;
	if (store_migrate(s->db, err, errlen) < 0)
		goto fail;
	for (int i = 0; i < ST__COUNT; i++) {
		if (sqlite3_prepare_v3(s->db, store_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
		                       &s->st[i], NULL) != SQLITE_OK) {
			store_err(err, errlen, "preparing statements", s->db);
			goto fail;
		}
	}
	*out = s;
	return 0;
fail:
	store_sqlite_close(s);
	return -1;
}

/* The device facts as 8 columns from i: vid, pid, speed, serial, port,
 * busid, devnodes, mac (events and locations share the layout). */
static void store_bind_dev(sqlite3_stmt *st, int i, const struct ul_devfacts *dev)
{
	sqlite3_bind_int(st, i, dev->vid);
	sqlite3_bind_int(st, i + 1, dev->pid);
	sqlite3_bind_int64(st, i + 2, dev->speed_mbps);
	BIND_FIELD(st, i + 3, dev->serial);
	BIND_FIELD(st, i + 4, dev->port);
	BIND_FIELD(st, i + 5, dev->busid);
	BIND_FIELD(st, i + 6, dev->devnodes);
	BIND_FIELD(st, i + 7, dev->mac);
}

static void store_column_dev(sqlite3_stmt *st, int i, struct ul_devfacts *dev)
{
	dev->vid = (uint16_t)sqlite3_column_int(st, i);
	dev->pid = (uint16_t)sqlite3_column_int(st, i + 1);
	dev->speed_mbps = (uint32_t)sqlite3_column_int64(st, i + 2);
	COLUMN_FIELD(st, i + 3, dev->serial);
	COLUMN_FIELD(st, i + 4, dev->port);
	COLUMN_FIELD(st, i + 5, dev->busid);
	COLUMN_FIELD(st, i + 6, dev->devnodes);
	COLUMN_FIELD(st, i + 7, dev->mac);
}

/* The lease as 6 columns from i: holder, reason, token, addr, since_ms,
 * expires_ms (events and leases share the layout). */
static void store_bind_lease(sqlite3_stmt *st, int i, const struct ul_lease *l)
{
	BIND_FIELD(st, i, l->holder);
	BIND_FIELD(st, i + 1, l->reason);
	BIND_FIELD(st, i + 2, l->token);
	BIND_FIELD(st, i + 3, l->addr);
	sqlite3_bind_int64(st, i + 4, l->since_ms);
	sqlite3_bind_int64(st, i + 5, l->expires_ms);
}

static void store_column_lease(sqlite3_stmt *st, int i, struct ul_lease *l)
{
	COLUMN_FIELD(st, i, l->holder);
	COLUMN_FIELD(st, i + 1, l->reason);
	COLUMN_FIELD(st, i + 2, l->token);
	COLUMN_FIELD(st, i + 3, l->addr);
	l->since_ms = sqlite3_column_int64(st, i + 4);
	l->expires_ms = sqlite3_column_int64(st, i + 5);
}

static int store_insert_event(struct store *s, const struct ul_event *ev)
{
	sqlite3_stmt *st = s->st[ST_INSERT_EVENT];
	const char *kind = ul_event_kind_name(ev->kind);

	if (!kind)
		return -1;
	sqlite3_bind_int64(st, 1, ev->time_ms);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	BIND_FIELD(st, 3, ev->board);
	BIND_FIELD(st, 4, ev->peer);
	BIND_FIELD(st, 5, ev->detail);
	store_bind_dev(st, 6, &ev->dev);
	store_bind_lease(st, 14, &ev->lease);
	return store_step_done(s, ST_INSERT_EVENT);
}

static int store_put_lease(struct store *s, const struct ul_event *ev)
{
	sqlite3_stmt *st = s->st[ST_PUT_LEASE];

	BIND_FIELD(st, 1, ev->board);
	store_bind_lease(st, 2, &ev->lease);
	return store_step_done(s, ST_PUT_LEASE);
}

static int store_delete_lease(struct store *s, const struct ul_event *ev)
{
	BIND_FIELD(s->st[ST_DELETE_LEASE], 1, ev->board);
	return store_step_done(s, ST_DELETE_LEASE);
}

static int store_put_location(struct store *s, const struct ul_event *ev)
{
	sqlite3_stmt *st = s->st[ST_PUT_LOCATION];

	BIND_FIELD(st, 1, ev->board);
	store_bind_dev(st, 2, &ev->dev);
	sqlite3_bind_int64(st, 10, ev->time_ms);
	return store_step_done(s, ST_PUT_LOCATION);
}

/* The event's row and the lease or location row it implies (store.h).
 * A board the registry does not name ("") has neither. */
static int store_apply_one(struct store *s, const struct ul_event *ev)
{
	if (store_insert_event(s, ev) < 0)
		return -1;
	if (ev->board[0] == '\0')
		return 0;
	switch (ev->kind) {
	case UL_EV_LEASE_TAKEN:
	case UL_EV_LEASE_RENEWED:
		return store_put_lease(s, ev);
	case UL_EV_LEASE_RELEASED:
	case UL_EV_LEASE_EXPIRED:
		return store_delete_lease(s, ev);
	case UL_EV_ARRIVED:
	case UL_EV_REENUMERATED:
	case UL_EV_DEPARTED:
		return store_put_location(s, ev);
	default:
		return 0;
	}
}

static int store_sqlite_apply(struct store *s, const struct ul_event *evs, size_t n, char *err,
                              size_t errlen)
{
	size_t i;

	if (n == 0)
		return 0;
	if (store_step_done(s, ST_BEGIN) < 0) {
		store_err(err, errlen, "starting a transaction", s->db);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (store_apply_one(s, &evs[i]) < 0) {
			if (!ul_event_kind_name(evs[i].kind))
				snprintf(err, errlen, "event %llu: unknown kind %d",
				         (unsigned long long)evs[i].seq, (int)evs[i].kind);
			else
				store_err(err, errlen, "writing an event", s->db);
			goto fail;
		}
	}
	/* COMMIT returns once the WAL is synced (synchronous=FULL). */
	if (store_step_done(s, ST_COMMIT) < 0) {
		store_err(err, errlen, "committing", s->db);
		goto fail;
	}
	return 0;
fail:
	/* A failed COMMIT may already have rolled back; ROLLBACK would then
	 * fail, so ask first. */
	if (!sqlite3_get_autocommit(s->db))
		store_step_done(s, ST_ROLLBACK);
	return -1;
}

static void store_read_event(sqlite3_stmt *st, struct ul_event *ev)
{
	const char *kind = (const char *)sqlite3_column_text(st, 2);
	int k = kind ? ul_event_kind_parse(kind) : -1;

	memset(ev, 0, sizeof(*ev));
	ev->seq = (uint64_t)sqlite3_column_int64(st, 0);
	ev->time_ms = sqlite3_column_int64(st, 1);
	/* A kind a newer usblab wrote reads as ERROR rather than vanishing. */
	ev->kind = k < 0 ? UL_EV_ERROR : (enum ul_event_kind)k;
	COLUMN_FIELD(st, 3, ev->board);
	COLUMN_FIELD(st, 4, ev->peer);
	COLUMN_FIELD(st, 5, ev->detail);
	store_column_dev(st, 6, &ev->dev);
	store_column_lease(st, 14, &ev->lease);
}

/* Steps st to the end, reading each row with read into a growing array.
 * Resets st. */
static int store_collect(struct store *s, sqlite3_stmt *st,
                         void (*read)(sqlite3_stmt *, struct ul_event *), struct ul_event **out,
                         size_t *n, char *err, size_t errlen)
{
	struct ul_event *evs = NULL, *grown;
	size_t len = 0, cap = 0;
	int rc;

	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (len == cap) {
			cap = cap ? cap * 2 : 16;
			grown = realloc(evs, cap * sizeof(*evs));
			if (!grown) {
				store_err(err, errlen, "reading", NULL);
				goto fail;
			}
			evs = grown;
		}
		read(st, &evs[len++]);
	}
	if (rc != SQLITE_DONE) {
		store_err(err, errlen, "reading", s->db);
		goto fail;
	}
	sqlite3_reset(st);
	*out = evs;
	*n = len;
	return 0;
fail:
	sqlite3_reset(st);
	free(evs);
	return -1;
}

static int store_sqlite_query_events(struct store *s, const struct store_query *q,
                                     struct ul_event **out, size_t *n, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	const char *kind = NULL;
	struct ul_event tmp;

	*out = NULL;
	*n = 0;
	if (q->kind != -1) {
		kind = ul_event_kind_name((enum ul_event_kind)q->kind);
		if (!kind) {
			snprintf(err, errlen, "unknown event kind %d", q->kind);
			return -1;
		}
	}
	st = s->st[ST_QUERY + (q->board[0] ? QUERY_BY_BOARD : 0) + (kind ? QUERY_BY_KIND : 0)];
	sqlite3_bind_int64(st, 1, q->since_ms > 0 ? q->since_ms : INT64_MIN);
	sqlite3_bind_int64(st, 2, q->until_ms > 0 ? q->until_ms : INT64_MAX);
	if (kind)
		sqlite3_bind_text(st, 3, kind, -1, SQLITE_STATIC);
	if (q->board[0])
		BIND_FIELD(st, 4, q->board);
	sqlite3_bind_int64(st, 5, q->limit ? q->limit : STORE_DEFAULT_LIMIT);
	if (store_collect(s, st, store_read_event, out, n, err, errlen) < 0)
		return -1;
	/* Selected newest first so LIMIT keeps the newest; answered oldest first. */
	for (size_t i = 0; i < *n / 2; i++) {
		tmp = (*out)[i];
		(*out)[i] = (*out)[*n - 1 - i];
		(*out)[*n - 1 - i] = tmp;
	}
	return 0;
}

static void store_read_lease(sqlite3_stmt *st, struct ul_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = UL_EV_LEASE_TAKEN;
	COLUMN_FIELD(st, 0, ev->board);
	store_column_lease(st, 1, &ev->lease);
	ev->time_ms = ev->lease.since_ms;
}

static int store_sqlite_load_leases(struct store *s, struct ul_event **out, size_t *n, char *err,
                                    size_t errlen)
{
	*out = NULL;
	*n = 0;
	return store_collect(s, s->st[ST_LOAD_LEASES], store_read_lease, out, n, err, errlen);
}

static void store_read_location(sqlite3_stmt *st, struct ul_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	ev->kind = UL_EV_ARRIVED;
	COLUMN_FIELD(st, 0, ev->board);
	store_column_dev(st, 1, &ev->dev);
	ev->time_ms = sqlite3_column_int64(st, 9);
}

static int store_sqlite_load_locations(struct store *s, struct ul_event **out, size_t *n, char *err,
                                       size_t errlen)
{
	*out = NULL;
	*n = 0;
	return store_collect(s, s->st[ST_LOAD_LOCATIONS], store_read_location, out, n, err, errlen);
}

const struct store_ops store_sqlite_ops = {
        .name = "sqlite",
        .open = store_sqlite_open,
        .close = store_sqlite_close,
        .apply = store_sqlite_apply,
        .query_events = store_sqlite_query_events,
        .load_leases = store_sqlite_load_leases,
        .load_locations = store_sqlite_load_locations,
};
