/* SPDX-License-Identifier: MIT */
/*
 * test_store.c - the SQLite store (store_sqlite.c) against a real SQLite
 * file: schema creation and reopen, every field through apply and
 * query_events, the lease and location rows events imply, all-or-nothing
 * transactions, and query_events' filters and limits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store.h"
#include "test_store_util.h"

struct fixture {
	struct test_db db;
	struct store *s;
	char err[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(test_db_make(&f->db), 0);
	assert_int_equal(store_sqlite_ops.open(f->db.path, &f->s, f->err, sizeof(f->err)), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_sqlite_ops.close(f->s);
	test_db_remove(&f->db);
	free(f);
	return 0;
}

static void side_exec(const char *path, const char *sql)
{
	assert_int_equal(test_db_exec(path, sql), 0);
}

static void apply_ok(struct fixture *f, const struct ul_event *evs, size_t n)
{
	f->err[0] = '\0';
	if (store_sqlite_ops.apply(f->s, evs, n, f->err, sizeof(f->err)) != 0)
		fail_msg("apply: %s", f->err);
}

static size_t query(struct fixture *f, const struct store_query *q, struct ul_event **out)
{
	size_t n = 0;

	if (store_sqlite_ops.query_events(f->s, q, out, &n, f->err, sizeof(f->err)) != 0)
		fail_msg("query_events: %s", f->err);
	return n;
}

static struct store_query any_query(void)
{
	struct store_query q;

	memset(&q, 0, sizeof(q));
	q.kind = -1;
	return q;
}

static void assert_devfacts_equal(const struct ul_devfacts *a, const struct ul_devfacts *b)
{
	assert_int_equal(a->vid, b->vid);
	assert_int_equal(a->pid, b->pid);
	assert_int_equal(a->speed_mbps, b->speed_mbps);
	assert_string_equal(a->serial, b->serial);
	assert_string_equal(a->port, b->port);
	assert_string_equal(a->busid, b->busid);
	assert_string_equal(a->devnodes, b->devnodes);
	assert_string_equal(a->mac, b->mac);
}

static void assert_lease_equal(const struct ul_lease *a, const struct ul_lease *b)
{
	assert_string_equal(a->holder, b->holder);
	assert_string_equal(a->reason, b->reason);
	assert_string_equal(a->token, b->token);
	assert_string_equal(a->addr, b->addr);
	assert_int_equal(a->since_ms, b->since_ms);
	assert_int_equal(a->expires_ms, b->expires_ms);
}

/* Everything but seq, which the store answers with its row id. */
static void assert_event_equal(const struct ul_event *a, const struct ul_event *b)
{
	assert_int_equal(a->time_ms, b->time_ms);
	assert_int_equal(a->kind, b->kind);
	assert_string_equal(a->board, b->board);
	assert_string_equal(a->peer, b->peer);
	assert_string_equal(a->detail, b->detail);
	assert_devfacts_equal(&a->dev, &b->dev);
	assert_lease_equal(&a->lease, &b->lease);
}

/* ---- schema ---------------------------------------------------------------- */

static void test_schema_created(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(test_db_int(f->db.path, "PRAGMA user_version"), 2);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM sqlite_master WHERE type = "
	                                         "'table' AND name IN ('events', 'leases', "
	                                         "'locations')"),
	                 3);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM sqlite_master WHERE type = "
	                                         "'index' AND name IN ('events_time', "
	                                         "'events_board_time', 'events_kind_time')"),
	                 3);
	/* WAL is a property of the file: a new connection sees it. */
	assert_int_equal(test_db_int(f->db.path, "SELECT journal_mode = 'wal' FROM "
	                                         "pragma_journal_mode"),
	                 1);
}

static void test_reopen_keeps_everything(void **state)
{
	struct fixture *f = *state;
	struct ul_event evs[3] = {
	        test_event(1, UL_EV_ARRIVED, "mpcb-1", "plugged"),
	        test_event(2, UL_EV_LEASE_TAKEN, "mpcb-1", "checkout"),
	        test_event(3, UL_EV_ERROR, "", "something"),
	};
	struct ul_event *out;
	struct store_query q = any_query();
	size_t n;

	apply_ok(f, evs, 3);
	store_sqlite_ops.close(f->s);
	f->s = NULL;
	/* A second open migrates nothing and finds the rows. */
	assert_int_equal(store_sqlite_ops.open(f->db.path, &f->s, f->err, sizeof(f->err)), 0);
	n = query(f, &q, &out);
	assert_int_equal(n, 3);
	for (size_t i = 0; i < n; i++)
		assert_event_equal(&out[i], &evs[i]);
	free(out);
	assert_int_equal(store_sqlite_ops.load_leases(f->s, &out, &n, f->err, sizeof(f->err)), 0);
	assert_int_equal(n, 1);
	free(out);
	assert_int_equal(test_db_int(f->db.path, "PRAGMA user_version"), 2);
}

static void test_file_is_private(void **state)
{
	struct fixture *f = *state;
	struct ul_event ev = test_event(1, UL_EV_LEASE_TAKEN, "a", "");
	char wal[128];
	struct stat st;

	/* Lease tokens are in it: the database and its WAL are 0600. */
	apply_ok(f, &ev, 1);
	assert_int_equal(stat(f->db.path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	snprintf(wal, sizeof(wal), "%s-wal", f->db.path);
	assert_int_equal(stat(wal, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_migrates_from_version_1(void **state)
{
	struct fixture *f = *state;
	struct ul_event ev = test_event(1, UL_EV_LEASE_TAKEN, "a", "before"), *out;
	struct store_query q = any_query();

	/* A file as version 1 left it: no kind index. */
	apply_ok(f, &ev, 1);
	store_sqlite_ops.close(f->s);
	f->s = NULL;
	side_exec(f->db.path, "DROP INDEX events_kind_time; PRAGMA user_version = 1");
	assert_int_equal(store_sqlite_ops.open(f->db.path, &f->s, f->err, sizeof(f->err)), 0);
	assert_int_equal(test_db_int(f->db.path, "PRAGMA user_version"), 2);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM sqlite_master WHERE name = "
	                                         "'events_kind_time'"),
	                 1);
	q.kind = UL_EV_LEASE_TAKEN;
	assert_int_equal(query(f, &q, &out), 1);
	assert_event_equal(&out[0], &ev);
	free(out);
}

static void test_failed_migration_changes_nothing(void **state)
{
	struct fixture *f = *state;
	struct store *s2 = (struct store *)1;

	/* Step 2 cannot run (its index name is taken): the file stays at
	 * version 1, whole, and the open says why. */
	store_sqlite_ops.close(f->s);
	f->s = NULL;
	side_exec(f->db.path, "DROP INDEX events_kind_time; CREATE TABLE events_kind_time (x); "
	                      "PRAGMA user_version = 1");
	assert_int_equal(store_sqlite_ops.open(f->db.path, &s2, f->err, sizeof(f->err)), -1);
	assert_null(s2);
	assert_non_null(strstr(f->err, "events_kind_time"));
	assert_int_equal(test_db_int(f->db.path, "PRAGMA user_version"), 1);
	side_exec(f->db.path, "DROP TABLE events_kind_time");
	assert_int_equal(store_sqlite_ops.open(f->db.path, &f->s, f->err, sizeof(f->err)), 0);
}

static void test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct store *s2 = (struct store *)1;

	side_exec(f->db.path, "PRAGMA user_version = 99");
	assert_int_equal(store_sqlite_ops.open(f->db.path, &s2, f->err, sizeof(f->err)), -1);
	assert_null(s2);
	assert_non_null(strstr(f->err, "99"));
}

static void test_not_a_database_refused(void **state)
{
	struct fixture *f = *state;
	struct store *s2 = (struct store *)1;
	FILE *fp;

	/* Someone pointed --db at another file: refused with SQLite's words,
	 * and the file is left as it was. */
	store_sqlite_ops.close(f->s);
	f->s = NULL;
	test_db_remove(&f->db);
	assert_int_equal(test_db_make(&f->db), 0);
	fp = fopen(f->db.path, "w");
	assert_non_null(fp);
	for (int i = 0; i < 200; i++)
		fputs("devices.conf, not a database\n", fp);
	fclose(fp);
	assert_int_equal(store_sqlite_ops.open(f->db.path, &s2, f->err, sizeof(f->err)), -1);
	assert_null(s2);
	assert_non_null(strstr(f->err, "not a database"));
	fp = fopen(f->db.path, "r");
	assert_non_null(fp);
	char line[64];
	assert_non_null(fgets(line, sizeof(line), fp));
	assert_string_equal(line, "devices.conf, not a database\n");
	fclose(fp);
}

static void test_open_fails_with_reason(void **state)
{
	struct store *s = (struct store *)1;
	char err[256] = "";

	(void)state;
	assert_int_equal(store_sqlite_ops.open("/nonexistent-dir/x/store.db", &s, err, sizeof(err)),
	                 -1);
	assert_null(s);
	assert_true(strlen(err) > 0);
}

/* ---- apply and round trips ------------------------------------------------- */

static void test_every_field_round_trips(void **state)
{
	struct fixture *f = *state;
	struct ul_event evs[UL_EV__COUNT], *out;
	struct store_query q = any_query();
	char detail[32];
	size_t n;

	/* Every kind, by name and back. */
	for (int k = 0; k < UL_EV__COUNT; k++) {
		snprintf(detail, sizeof(detail), "kind %d", k);
		evs[k] = test_event((uint64_t)k + 1, (enum ul_event_kind)k, "mpcb-1.9", detail);
	}
	/* Fields filled to their last byte. */
	memset(evs[0].detail, 'd', sizeof(evs[0].detail) - 1);
	memset(evs[0].dev.devnodes, 'n', sizeof(evs[0].dev.devnodes) - 1);
	memset(evs[0].board, 'b', sizeof(evs[0].board) - 1);
	/* Bytes SQL would mind. */
	UL_COPY(evs[1].detail, "it's \"quoted\"; DROP TABLE events; -- \xc3\xa9");
	evs[0].time_ms = -5;
	evs[3].dev.speed_mbps = 20000;
	evs[3].dev.vid = 0xffff;
	evs[3].dev.pid = 0xffff;
	evs[4].lease.expires_ms = INT64_MAX;
	apply_ok(f, evs, UL_EV__COUNT);

	n = query(f, &q, &out);
	assert_int_equal(n, UL_EV__COUNT);
	for (size_t i = 0; i < n; i++) {
		assert_event_equal(&out[i], &evs[i]);
		assert_int_equal(out[i].seq, i + 1); /* the row id */
	}
	free(out);
}

static void test_unterminated_fields_are_cut(void **state)
{
	struct fixture *f = *state;
	struct ul_event ev = test_event(1, UL_EV_ARRIVED, "", ""), *out;
	struct store_query q = any_query();

	/* A caller that filled fields to the brim: the store reads no byte past
	 * them (ASan watches) and answers them cut to fit with their NUL. */
	memset(ev.board, 'b', sizeof(ev.board));
	memset(ev.detail, 'd', sizeof(ev.detail));
	memset(ev.dev.mac, 'm', sizeof(ev.dev.mac));
	memset(ev.lease.token, 't', sizeof(ev.lease.token));
	apply_ok(f, &ev, 1);
	assert_int_equal(query(f, &q, &out), 1);
	assert_int_equal(strlen(out[0].board), sizeof(ev.board) - 1);
	assert_int_equal(strlen(out[0].detail), sizeof(ev.detail) - 1);
	assert_int_equal(strlen(out[0].dev.mac), sizeof(ev.dev.mac) - 1);
	assert_int_equal(strlen(out[0].lease.token), sizeof(ev.lease.token) - 1);
	free(out);
	/* The whole field went to disk. */
	assert_int_equal(test_db_int(f->db.path, "SELECT length(board) FROM events"),
	                 (long long)sizeof(ev.board));
}

static void test_stored_kind_is_a_name(void **state)
{
	struct fixture *f = *state;
	struct ul_event ev = test_event(1, UL_EV_LEASE_TAKEN, "b", "");

	apply_ok(f, &ev, 1);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM events WHERE kind = "
	                                         "'lease-taken'"),
	                 1);
}

static void test_apply_nothing(void **state)
{
	struct fixture *f = *state;

	apply_ok(f, NULL, 0);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM events"), 0);
}

/* ---- implied rows ---------------------------------------------------------- */

static size_t leases(struct fixture *f, struct ul_event **out)
{
	size_t n = 0;

	if (store_sqlite_ops.load_leases(f->s, out, &n, f->err, sizeof(f->err)) != 0)
		fail_msg("load_leases: %s", f->err);
	return n;
}

static size_t locations(struct fixture *f, struct ul_event **out)
{
	size_t n = 0;

	if (store_sqlite_ops.load_locations(f->s, out, &n, f->err, sizeof(f->err)) != 0)
		fail_msg("load_locations: %s", f->err);
	return n;
}

static void test_leases_follow_events(void **state)
{
	struct fixture *f = *state;
	struct ul_event ev, a, b, *out;

	a = test_event(1, UL_EV_LEASE_TAKEN, "a", "");
	b = test_event(2, UL_EV_LEASE_TAKEN, "b", "");
	apply_ok(f, &a, 1);
	apply_ok(f, &b, 1);
	assert_int_equal(leases(f, &out), 2);
	assert_string_equal(out[0].board, "a");
	assert_int_equal(out[0].kind, UL_EV_LEASE_TAKEN);
	assert_lease_equal(&out[0].lease, &a.lease);
	assert_string_equal(out[1].board, "b");
	assert_lease_equal(&out[1].lease, &b.lease);
	free(out);

	/* Renew replaces the row: the new expiry, one row. */
	ev = test_event(3, UL_EV_LEASE_RENEWED, "a", "");
	ev.lease = a.lease;
	ev.lease.expires_ms += 60000;
	apply_ok(f, &ev, 1);
	assert_int_equal(leases(f, &out), 2);
	assert_int_equal(out[0].lease.expires_ms, a.lease.expires_ms + 60000);
	free(out);

	ev = test_event(4, UL_EV_LEASE_RELEASED, "a", "");
	apply_ok(f, &ev, 1);
	assert_int_equal(leases(f, &out), 1);
	assert_string_equal(out[0].board, "b");
	free(out);

	ev = test_event(5, UL_EV_LEASE_EXPIRED, "b", "");
	apply_ok(f, &ev, 1);
	assert_int_equal(leases(f, &out), 0);
	free(out);

	/* Releasing what is not leased is no error. */
	ev = test_event(6, UL_EV_LEASE_RELEASED, "b", "");
	apply_ok(f, &ev, 1);
	/* No lease row for a device the registry does not name. */
	ev = test_event(7, UL_EV_LEASE_TAKEN, "", "");
	apply_ok(f, &ev, 1);
	assert_int_equal(leases(f, &out), 0);
	free(out);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM events"), 7);
}

static void test_lease_taken_and_released_in_one_batch(void **state)
{
	struct fixture *f = *state;
	struct ul_event evs[3], *out;

	evs[0] = test_event(1, UL_EV_LEASE_TAKEN, "a", "");
	evs[1] = test_event(2, UL_EV_LEASE_RELEASED, "a", "");
	evs[2] = test_event(3, UL_EV_LEASE_TAKEN, "a", "");
	apply_ok(f, evs, 3);
	/* In order: the last one stands. */
	assert_int_equal(leases(f, &out), 1);
	assert_lease_equal(&out[0].lease, &evs[2].lease);
	free(out);
}

static void test_locations_follow_events(void **state)
{
	struct fixture *f = *state;
	struct ul_event ev, *out;

	ev = test_event(1, UL_EV_ARRIVED, "mpcb-1", "");
	apply_ok(f, &ev, 1);
	assert_int_equal(locations(f, &out), 1);
	assert_string_equal(out[0].board, "mpcb-1");
	assert_devfacts_equal(&out[0].dev, &ev.dev);
	assert_int_equal(out[0].time_ms, ev.time_ms);
	free(out);

	ev = test_event(2, UL_EV_REENUMERATED, "mpcb-1", "app -> rom");
	apply_ok(f, &ev, 1);
	assert_int_equal(locations(f, &out), 1);
	assert_devfacts_equal(&out[0].dev, &ev.dev);
	free(out);

	ev = test_event(3, UL_EV_DEPARTED, "mpcb-1", "");
	apply_ok(f, &ev, 1);
	assert_int_equal(locations(f, &out), 1);
	assert_devfacts_equal(&out[0].dev, &ev.dev);
	assert_int_equal(out[0].time_ms, ev.time_ms);
	free(out);

	/* Other kinds, and unnamed devices, leave the cache alone. */
	ev = test_event(4, UL_EV_IMPORTED, "mpcb-1", "");
	apply_ok(f, &ev, 1);
	ev = test_event(5, UL_EV_ARRIVED, "", "");
	apply_ok(f, &ev, 1);
	assert_int_equal(locations(f, &out), 1);
	assert_int_equal(out[0].time_ms, test_event(3, UL_EV_DEPARTED, "", "").time_ms);
	free(out);

	ev = test_event(6, UL_EV_ARRIVED, "esp-2", "");
	apply_ok(f, &ev, 1);
	assert_int_equal(locations(f, &out), 2);
	assert_string_equal(out[0].board, "esp-2");
	assert_string_equal(out[1].board, "mpcb-1");
	free(out);
}

/* ---- all or nothing -------------------------------------------------------- */

static void assert_nothing_stored(struct fixture *f)
{
	struct ul_event *out;

	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM events"), 0);
	assert_int_equal(leases(f, &out), 0);
	free(out);
	assert_int_equal(locations(f, &out), 0);
	free(out);
}

static void test_failed_event_insert_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct ul_event evs[3];

	/* The second event's insert fails inside the transaction. */
	side_exec(f->db.path, "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.detail = "
	                      "'boom' BEGIN SELECT RAISE(ABORT, 'boom refused'); END");
	evs[0] = test_event(1, UL_EV_LEASE_TAKEN, "a", "ok");
	evs[1] = test_event(2, UL_EV_ARRIVED, "b", "boom");
	evs[2] = test_event(3, UL_EV_ARRIVED, "c", "ok");
	assert_int_equal(store_sqlite_ops.apply(f->s, evs, 3, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "boom refused"));
	assert_nothing_stored(f);

	/* The store is usable afterwards. */
	apply_ok(f, &evs[2], 1);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM events"), 1);
}

static void test_failed_lease_write_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct ul_event evs[2];

	/* The event row goes in, then its lease row fails: the event goes too. */
	side_exec(f->db.path, "CREATE TRIGGER boom BEFORE INSERT ON leases WHEN NEW.board = 'x' "
	                      "BEGIN SELECT RAISE(ABORT, 'no lease'); END");
	evs[0] = test_event(1, UL_EV_ARRIVED, "a", "");
	evs[1] = test_event(2, UL_EV_LEASE_TAKEN, "x", "");
	assert_int_equal(store_sqlite_ops.apply(f->s, evs, 2, f->err, sizeof(f->err)), -1);
	assert_nothing_stored(f);
}

static void test_unknown_kind_rolls_back(void **state)
{
	struct fixture *f = *state;
	struct ul_event evs[2];

	evs[0] = test_event(1, UL_EV_LEASE_TAKEN, "a", "");
	evs[1] = test_event(2, UL_EV_ARRIVED, "a", "");
	evs[1].kind = UL_EV__COUNT;
	assert_int_equal(store_sqlite_ops.apply(f->s, evs, 2, f->err, sizeof(f->err)), -1);
	assert_non_null(strstr(f->err, "kind"));
	assert_nothing_stored(f);
}

/* ---- queries --------------------------------------------------------------- */

/* 20 events, one a second from T0: boards a and b alternate; every fifth is
 * a lease-taken, the rest arrived. */
#define T0 1764767645000

static void fill_twenty(struct fixture *f)
{
	struct ul_event evs[20];

	for (unsigned i = 0; i < 20; i++) {
		evs[i] = test_event(i + 1, i % 5 == 0 ? UL_EV_LEASE_TAKEN : UL_EV_ARRIVED,
		                    i % 2 ? "b" : "a", "");
		snprintf(evs[i].detail, sizeof(evs[i].detail), "%u", i);
		evs[i].time_ms = T0 + (int64_t)i * 1000;
	}
	apply_ok(f, evs, 20);
}

/* The details of the answer, as "0 1 2". */
static void assert_answer(struct fixture *f, const struct store_query *q, const char *want)
{
	struct ul_event *out;
	char got[256] = "";
	size_t n = query(f, q, &out);

	for (size_t i = 0; i < n; i++) {
		if (i)
			strncat(got, " ", sizeof(got) - strlen(got) - 1);
		strncat(got, out[i].detail, sizeof(got) - strlen(got) - 1);
	}
	free(out);
	assert_string_equal(got, want);
}

static void test_query_filters(void **state)
{
	struct fixture *f = *state;
	struct store_query q;

	fill_twenty(f);
	q = any_query();
	q.since_ms = T0 + 15000;
	assert_answer(f, &q, "15 16 17 18 19");
	/* Both bounds are inclusive. */
	q.until_ms = T0 + 17000;
	assert_answer(f, &q, "15 16 17");
	q = any_query();
	q.until_ms = T0 + 2000;
	assert_answer(f, &q, "0 1 2");
	q = any_query();
	UL_COPY(q.board, "b");
	q.since_ms = T0 + 12000;
	assert_answer(f, &q, "13 15 17 19");
	q = any_query();
	q.kind = UL_EV_LEASE_TAKEN;
	assert_answer(f, &q, "0 5 10 15");
	UL_COPY(q.board, "a");
	assert_answer(f, &q, "0 10");
	q.since_ms = T0 + 5000;
	assert_answer(f, &q, "10");
	q.since_ms = 0;
	q.kind = UL_EV_DEPARTED;
	assert_answer(f, &q, "");
	q = any_query();
	UL_COPY(q.board, "nobody");
	assert_answer(f, &q, "");
	q = any_query();
	q.since_ms = T0 + 30000;
	assert_answer(f, &q, "");
}

static void test_query_limit_keeps_the_newest(void **state)
{
	struct fixture *f = *state;
	struct store_query q;

	fill_twenty(f);
	q = any_query();
	q.limit = 3;
	assert_answer(f, &q, "17 18 19");
	q.limit = 1;
	assert_answer(f, &q, "19");
	q.limit = 20;
	assert_answer(f, &q, "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19");
	q.limit = 21;
	assert_answer(f, &q, "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19");
	q.limit = 2;
	UL_COPY(q.board, "a");
	q.until_ms = T0 + 10000;
	assert_answer(f, &q, "8 10");
}

static void test_query_orders_by_time(void **state)
{
	struct fixture *f = *state;
	struct ul_event evs[4];
	struct store_query q = any_query();

	/* The clock was stepped back between A and B; C and D share a time. */
	evs[0] = test_event(1, UL_EV_ARRIVED, "a", "A");
	evs[0].time_ms = T0 + 100;
	evs[1] = test_event(2, UL_EV_ARRIVED, "a", "B");
	evs[1].time_ms = T0 + 50;
	evs[2] = test_event(3, UL_EV_ARRIVED, "a", "C");
	evs[2].time_ms = T0 + 200;
	evs[3] = test_event(4, UL_EV_ARRIVED, "a", "D");
	evs[3].time_ms = T0 + 200;
	apply_ok(f, evs, 4);
	assert_answer(f, &q, "B A C D");
	q.limit = 2;
	assert_answer(f, &q, "C D");
	q.limit = 3;
	UL_COPY(q.board, "a");
	assert_answer(f, &q, "A C D");
}

static void test_query_default_limit_is_1000(void **state)
{
	struct fixture *f = *state;
	enum { N = 1005 };
	struct ul_event *evs = calloc(N, sizeof(*evs)), *out;
	struct store_query q = any_query();
	size_t n;

	assert_non_null(evs);
	for (unsigned i = 0; i < N; i++) {
		evs[i] = test_event(i + 1, UL_EV_ERROR, "", "");
		snprintf(evs[i].detail, sizeof(evs[i].detail), "%u", i);
	}
	apply_ok(f, evs, N);
	free(evs);
	n = query(f, &q, &out);
	assert_int_equal(n, 1000);
	assert_string_equal(out[0].detail, "5");
	assert_string_equal(out[999].detail, "1004");
	for (size_t i = 1; i < n; i++)
		assert_true(out[i].seq > out[i - 1].seq);
	free(out);
}

static void test_query_unknown_kind_fails(void **state)
{
	struct fixture *f = *state;
	struct store_query q = any_query();
	struct ul_event *out = (struct ul_event *)1;
	size_t n = 7;

	q.kind = UL_EV__COUNT;
	assert_int_equal(store_sqlite_ops.query_events(f->s, &q, &out, &n, f->err, sizeof(f->err)),
	                 -1);
	assert_null(out);
	assert_int_equal(n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_schema_created, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_file_is_private, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_migrates_from_version_1, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_failed_migration_changes_nothing, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_newer_schema_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_not_a_database_refused, setup, teardown),
	        cmocka_unit_test(test_open_fails_with_reason),
	        cmocka_unit_test_setup_teardown(test_every_field_round_trips, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unterminated_fields_are_cut, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stored_kind_is_a_name, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_apply_nothing, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_leases_follow_events, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_lease_taken_and_released_in_one_batch, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_locations_follow_events, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_failed_event_insert_rolls_back, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_failed_lease_write_rolls_back, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_kind_rolls_back, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_query_filters, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_query_limit_keeps_the_newest, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_query_orders_by_time, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_query_default_limit_is_1000, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_query_unknown_kind_fails, setup, teardown),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
