/* SPDX-License-Identifier: MIT */
/*
 * test_storeq_durability.c - kill -9 of a process writing through storeq,
 * then what is on disk. A child runs a libevent loop with storeq and
 * appends events; the moment its committed callback reports a seq, it
 * writes that seq to a pipe. The parent kills it with SIGKILL at some
 * moment, then opens the database itself:
 *   - every seq the child was told is committed is there, once;
 *   - the rows are a gap-free prefix of what was appended;
 *   - PRAGMA integrity_check says ok, and the store opens again;
 *   - for leases: the leases table equals the replay of the events on disk
 *     (no lease lost, none doubled).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "storeq.h"
#include "test_store_util.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A small PRNG the child and the parent both run from one seed. */
static uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* ---- the child ------------------------------------------------------------------ */

/* What the child does: how to make event seq (returns false when done). */
struct writer {
	struct storeq *q;
	struct event *pump;
	int report_fd;
	uint64_t next_seq;
	unsigned per_tick; /* events per pump run */
	bool paced;        /* a 1 ms timer between pump runs, else as fast as it can */
	bool (*make)(struct writer *w, uint64_t seq, struct ul_event *ev);
	void *ctx;
	bool stalled; /* the queue was full: wait for a commit */
};

static void child_fail(const char *why)
{
	fprintf(stderr, "durability child: %s\n", why);
	_exit(3);
}

static void write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t w = write(fd, p, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			child_fail("cannot write to the parent");
		p += w;
		len -= (size_t)w;
	}
}

static void writer_schedule(struct writer *w)
{
	/* A timer, even of 0, lets the loop poll between runs: the commit
	 * reports come in while the pump goes on. */
	struct timeval tv = {.tv_usec = w->paced ? 1000 : 0};

	evtimer_add(w->pump, &tv);
}

static void writer_pump(evutil_socket_t fd, short what, void *arg)
{
	struct writer *w = arg;
	struct ul_event ev;

	(void)fd;
	(void)what;
	for (unsigned i = 0; i < w->per_tick; i++) {
		if (!w->make(w, w->next_seq, &ev))
			return; /* all made: the loop idles until the kill */
		if (storeq_append(w->q, &ev) < 0) {
			/* Full: the next commit restarts the pump. */
			w->stalled = true;
			return;
		}
		w->next_seq++;
	}
	writer_schedule(w);
}

static void writer_committed(void *arg, uint64_t seq, int rc)
{
	struct writer *w = arg;

	if (rc != 0)
		child_fail("a batch failed");
	/* Told the moment the loop learns it, as a client would be. */
	write_all(w->report_fd, &seq, sizeof(seq));
	if (w->stalled) {
		w->stalled = false;
		writer_schedule(w);
	}
}

static void child_run(const char *path, struct writer *w)
{
	struct event_base *base = event_base_new();
	struct store *s;
	char err[256];

	if (!base)
		child_fail("event_base_new");
	if (store_sqlite_ops.open(path, &s, err, sizeof(err)) < 0)
		child_fail(err);
	if (storeq_start(&w->q, base, &store_sqlite_ops, s, writer_committed, w, err, sizeof(err)) <
	    0)
		child_fail(err);
	w->pump = event_new(base, -1, 0, writer_pump, w);
	w->next_seq = 1;
	writer_schedule(w);
	/* The storeq's eventfd keeps the loop alive until SIGKILL. */
	event_base_dispatch(base);
	child_fail("the loop ended");
}

/* Forks a child running w on path; returns its pid and the read end of its
 * report pipe. */
static pid_t child_start(const char *path, struct writer *w, int *rfd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		w->report_fd = p[1];
		child_run(path, w);
		_exit(3);
	}
	close(p[1]);
	*rfd = p[0];
	return pid;
}

/* Reads seqs from fd into *max (checking they grow) until deadline_ms (or
 * end of file when deadline_ms is 0), or after the first one if first.
 * Returns how many were read. */
static uint64_t read_reports(int fd, int64_t deadline_ms, uint64_t *max, bool first)
{
	uint64_t seq, count = 0;
	struct pollfd pfd = {.fd = fd, .events = POLLIN};
	ssize_t r;

	for (;;) {
		int timeout = -1;

		if (deadline_ms) {
			int64_t left = deadline_ms - now_ms();
			if (left <= 0)
				break;
			timeout = (int)left;
		}
		if (poll(&pfd, 1, timeout) <= 0)
			continue;
		/* A report is 8 bytes written at once: a pipe never splits it. */
		r = read(fd, &seq, sizeof(seq));
		if (r == 0)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		assert_int_equal(r, sizeof(seq));
		assert_true(seq > *max);
		*max = seq;
		count++;
		if (first)
			break;
	}
	return count;
}

static void child_kill(pid_t pid)
{
	int status;

	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* Died of our signal, not of a failure of its own. */
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGKILL);
}

/* ---- what is on disk --------------------------------------------------------- */

static sqlite3 *db_open(const char *path)
{
	sqlite3 *db;

	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	return db;
}

static long long db_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	long long v = -1;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void assert_integrity_ok(sqlite3 *db)
{
	sqlite3_stmt *st;

	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL),
	                 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

/* The rows' details are 1..K in row order, each once: returns K. */
static uint64_t assert_gap_free_prefix(sqlite3 *db)
{
	sqlite3_stmt *st;
	uint64_t k = 0;

	assert_int_equal(
	        sqlite3_prepare_v2(db, "SELECT detail FROM events ORDER BY id", -1, &st, NULL),
	        SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		uint64_t seq = strtoull((const char *)sqlite3_column_text(st, 0), NULL, 10);
		if (seq != k + 1)
			fail_msg("row %llu holds event %llu", (unsigned long long)k + 1,
			         (unsigned long long)seq);
		k++;
	}
	sqlite3_finalize(st);
	return k;
}

/* ---- as fast as it can ---------------------------------------------------------- */

static bool make_arrival(struct writer *w, uint64_t seq, struct ul_event *ev)
{
	char board[16];

	(void)w;
	snprintf(board, sizeof(board), "b%u", (unsigned)(seq % 8));
	*ev = test_event(seq, UL_EV_ARRIVED, board, "");
	snprintf(ev->detail, sizeof(ev->detail), "%llu", (unsigned long long)seq);
	return true;
}

/* One child appending as fast as its loop allows, killed after_ms after
 * its first commit report (start-up under ASan takes a while, and a kill
 * before the store opened would test nothing). */
static void kill9_fast_round(int64_t after_ms)
{
	struct test_db t;
	struct writer w = {.per_tick = 64, .make = make_arrival};
	uint64_t max = 0, reports, on_disk;
	struct store *s;
	char err[256];
	sqlite3 *db;
	int rfd;
	pid_t pid;

	assert_int_equal(test_db_make(&t), 0);
	pid = child_start(t.path, &w, &rfd);
	reports = read_reports(rfd, now_ms() + 10000, &max, true);
	assert_int_equal(reports, 1);
	reports += read_reports(rfd, now_ms() + after_ms, &max, false);
	child_kill(pid);
	/* Reports written before the kill and still in the pipe count too. */
	reports += read_reports(rfd, 0, &max, false);
	close(rfd);

	db = db_open(t.path);
	assert_integrity_ok(db);
	on_disk = assert_gap_free_prefix(db);
	/* Everything the child was told is committed is there; more may be
	 * (committed, not yet reported when the signal came). */
	assert_true(on_disk >= max);
	assert_int_equal(db_int(db, "SELECT count(*) FROM locations"), on_disk >= 8 ? 8 : on_disk);
	sqlite3_close(db);
	/* And the store itself opens it again. */
	assert_int_equal(store_sqlite_ops.open(t.path, &s, err, sizeof(err)), 0);
	store_sqlite_ops.close(s);
	printf("# kill -9 %lld ms after the first commit: %llu events reported committed (%llu "
	       "reports), all "
	       "found; %llu rows on disk\n",
	       (long long)after_ms, (unsigned long long)max, (unsigned long long)reports,
	       (unsigned long long)on_disk);
	test_db_remove(&t);
}

static void test_kill9_while_writing_fast(void **state)
{
	uint64_t x = (uint64_t)time(NULL) * 2654435761u | 1;

	(void)state;
	/* 300 ms: several group commits are done. Then two random moments,
	 * from at once to well into the run. */
	kill9_fast_round(300);
	kill9_fast_round((int64_t)(xorshift(&x) % 300));
	kill9_fast_round((int64_t)(xorshift(&x) % 300));
}

/* ---- leases taken and released -------------------------------------------------- */

#define LEASE_EVENTS 1000
#define LEASE_BOARDS 50

/* The same random sequence in the child and the parent, from a seed. */
struct lease_script {
	uint64_t seed;
	bool leased[LEASE_BOARDS];
};

/* Event seq of the script: a random board; taken if free, else released. */
static void script_event(struct lease_script *sc, uint64_t seq, struct ul_event *ev)
{
	unsigned b = (unsigned)(xorshift(&sc->seed) % LEASE_BOARDS);
	char board[16];

	snprintf(board, sizeof(board), "board-%02u", b);
	*ev = test_event(seq, sc->leased[b] ? UL_EV_LEASE_RELEASED : UL_EV_LEASE_TAKEN, board, "");
	snprintf(ev->detail, sizeof(ev->detail), "%llu", (unsigned long long)seq);
	sc->leased[b] = !sc->leased[b];
}

static bool make_lease(struct writer *w, uint64_t seq, struct ul_event *ev)
{
	if (seq > LEASE_EVENTS)
		return false;
	script_event(w->ctx, seq, ev);
	return true;
}

/* The events on disk are events 1..k of the script, and the leases table
 * equals their replay. */
static void assert_leases_replay(sqlite3 *db, uint64_t seed, uint64_t k)
{
	struct lease_script sc = {.seed = seed};
	struct ul_event held[LEASE_BOARDS], ev;
	bool leased[LEASE_BOARDS] = {false};
	sqlite3_stmt *st;
	unsigned rows = 0, want = 0;

	assert_int_equal(
	        sqlite3_prepare_v2(db, "SELECT kind, board FROM events ORDER BY id", -1, &st, NULL),
	        SQLITE_OK);
	for (uint64_t seq = 1; seq <= k; seq++) {
		script_event(&sc, seq, &ev);
		assert_int_equal(sqlite3_step(st), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(st, 0),
		                    ul_event_kind_name(ev.kind));
		assert_string_equal((const char *)sqlite3_column_text(st, 1), ev.board);
		unsigned b = (unsigned)strtoul(ev.board + 6, NULL, 10);
		leased[b] = ev.kind == UL_EV_LEASE_TAKEN;
		if (leased[b])
			held[b] = ev;
	}
	assert_int_equal(sqlite3_step(st), SQLITE_DONE);
	sqlite3_finalize(st);
	for (unsigned b = 0; b < LEASE_BOARDS; b++)
		want += leased[b];
	assert_int_equal(
	        sqlite3_prepare_v2(db, "SELECT board, holder, token FROM leases", -1, &st, NULL),
	        SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *board = (const char *)sqlite3_column_text(st, 0);
		unsigned b = (unsigned)strtoul(board + 6, NULL, 10);

		assert_true(b < LEASE_BOARDS);
		assert_true(leased[b]);
		assert_string_equal((const char *)sqlite3_column_text(st, 1), held[b].lease.holder);
		assert_string_equal((const char *)sqlite3_column_text(st, 2), held[b].lease.token);
		rows++;
	}
	sqlite3_finalize(st);
	assert_int_equal(rows, want);
}

static void test_kill9_among_leases(void **state)
{
	uint64_t base_seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 20;
	enum { ROUNDS = 3 };

	(void)state;
	for (unsigned round = 0; round < ROUNDS; round++) {
		uint64_t seed = base_seed + round * 0x9e3779b97f4a7c15ull;
		struct lease_script sc = {.seed = seed | 1};
		struct writer w = {.per_tick = 5, .paced = true, .make = make_lease, .ctx = &sc};
		uint64_t max = 0, on_disk;
		struct test_db t;
		sqlite3 *db;
		int64_t after;
		int rfd;
		pid_t pid;

		/* 1000 events, 5 a millisecond: about 200 ms of writing when
		 * unloaded; kill somewhere in its first 250 ms. */
		after = (int64_t)((seed >> 8) % 250);
		assert_int_equal(test_db_make(&t), 0);
		pid = child_start(t.path, &w, &rfd);
		/* The first report says the child's loop runs. */
		read_reports(rfd, now_ms() + 10000, &max, true);
		assert_true(max > 0);
		read_reports(rfd, now_ms() + after, &max, false);
		child_kill(pid);
		read_reports(rfd, 0, &max, false);
		close(rfd);

		db = db_open(t.path);
		assert_integrity_ok(db);
		on_disk = assert_gap_free_prefix(db);
		assert_true(on_disk >= max);
		assert_leases_replay(db, seed | 1, on_disk);
		sqlite3_close(db);
		printf("# leases, seed %llu: kill -9 %lld ms in, %llu of %d events reported "
		       "committed, %llu on disk, leases = replay\n",
		       (unsigned long long)(seed | 1), (long long)after, (unsigned long long)max,
		       LEASE_EVENTS, (unsigned long long)on_disk);
		test_db_remove(&t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_kill9_while_writing_fast),
	        cmocka_unit_test(test_kill9_among_leases),
	};

	/* A child's loop must not die of a closed report pipe before the kill. */
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("storeq-durability", tests, NULL, NULL);
}
