/* SPDX-License-Identifier: MIT */
/*
 * test_store_util.h - what the store tests share: a database in a fresh
 * temporary directory, and events with every field filled.
 */
#ifndef TEST_STORE_UTIL_H
#define TEST_STORE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "event.h"

struct test_db {
	char dir[64];
	char path[96];
};

/* A new directory under $TMPDIR (or /tmp) with path naming store.db in it;
 * returns 0 or -1. */
static inline int test_db_make(struct test_db *t)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(t->dir, sizeof(t->dir), "%s/usblab-store-XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(t->dir))
		return -1;
	snprintf(t->path, sizeof(t->path), "%s/store.db", t->dir);
	return 0;
}

/* Removes the database, its WAL and shared-memory files and the directory. */
static inline void test_db_remove(struct test_db *t)
{
	static const char *const sfx[] = {"", "-wal", "-shm", "-journal"};
	char p[128];

	for (size_t i = 0; i < sizeof(sfx) / sizeof(sfx[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", t->path, sfx[i]);
		unlink(p);
	}
	rmdir(t->dir);
}

/* Runs sql on a connection of its own (as another process would see the
 * file) and returns the first column of the first row as an integer: -1 if
 * there is no row, -2 if the statement cannot run. */
static inline long long test_db_int(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	long long v = -2;

	if (sqlite3_open(path, &db) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

/* Runs sql on a connection of its own; returns 0 or -1. */
static inline int test_db_exec(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open(path, &db) == SQLITE_OK &&
	         sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;

	sqlite3_close(db);
	return rc ? 0 : -1;
}

/* An event of kind on board with detail, every other field derived from seq
 * so a round trip that drops or swaps a field shows. */
static inline struct ul_event test_event(uint64_t seq, enum ul_event_kind kind, const char *board,
                                         const char *detail)
{
	struct ul_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.seq = seq;
	ev.time_ms = 1764767644000 + (int64_t)seq * 1000;
	ev.kind = kind;
	snprintf(ev.board, sizeof(ev.board), "%s", board);
	snprintf(ev.peer, sizeof(ev.peer), "10.0.0.%u:%u", (unsigned)(seq % 250), 3240u);
	snprintf(ev.detail, sizeof(ev.detail), "%s", detail);
	ev.dev.vid = (uint16_t)(0x2e8a + seq);
	ev.dev.pid = (uint16_t)(0x0005 + seq * 3);
	ev.dev.speed_mbps = seq % 2 ? 12 : 480;
	snprintf(ev.dev.serial, sizeof(ev.dev.serial), "E6614C311B%06u", (unsigned)seq);
	snprintf(ev.dev.port, sizeof(ev.dev.port), "1-4.%u", (unsigned)(seq % 7 + 1));
	snprintf(ev.dev.busid, sizeof(ev.dev.busid), "1-4.%u", (unsigned)(seq % 7 + 1));
	snprintf(ev.dev.devnodes, sizeof(ev.dev.devnodes), "/dev/ttyACM%u /dev/hidraw%u",
	         (unsigned)(seq % 10), (unsigned)(seq % 5));
	snprintf(ev.dev.mac, sizeof(ev.dev.mac), "aa:bb:cc:dd:ee:%02x", (unsigned)(seq & 0xff));
	snprintf(ev.lease.holder, sizeof(ev.lease.holder), "user%u@host", (unsigned)seq);
	snprintf(ev.lease.reason, sizeof(ev.lease.reason), "ci job %u", (unsigned)seq);
	snprintf(ev.lease.token, sizeof(ev.lease.token), "%016llx%016llx",
	         (unsigned long long)(seq * 0x9e3779b97f4a7c15ull), (unsigned long long)seq);
	snprintf(ev.lease.addr, sizeof(ev.lease.addr), "192.168.1.%u", (unsigned)(seq % 250));
	ev.lease.since_ms = ev.time_ms;
	ev.lease.expires_ms = ev.time_ms + 3600000;
	return ev;
}

#endif /* TEST_STORE_UTIL_H */
