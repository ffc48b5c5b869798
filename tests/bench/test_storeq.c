/* SPDX-License-Identifier: MIT */
/*
 * test_storeq.c - the store's worker thread (storeq.c) with a real libevent
 * loop and a real SQLite file: callbacks on the loop's thread with growing
 * seqs, group commit, queries in order with writes, a failed batch among
 * good ones, the queue's bound, and storeq_stop delivering what is left.
 *
 * A gate in front of the SQLite ops lets a test hold the worker inside a
 * query, so what gathers meanwhile is known exactly.
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
#include <pthread.h>
#include <sqlite3.h>

#include "storeq.h"
#include "test_store_util.h"

/* ---- a gate in front of query_events ---------------------------------------- */

/* Tests run one at a time; the gate is the test program's, shared with the
 * worker thread under its own lock. */
static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool armed;   /* the next query waits until opened */
	bool waiting; /* the worker is waiting in it */
} gate = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, false};

static int gated_query_events(struct store *s, const struct store_query *q, struct ul_event **out,
                              size_t *n, char *err, size_t errlen)
{
	pthread_mutex_lock(&gate.lock);
	if (gate.armed) {
		gate.waiting = true;
		pthread_cond_broadcast(&gate.cond);
		while (gate.armed)
			pthread_cond_wait(&gate.cond, &gate.lock);
		gate.waiting = false;
	}
	pthread_mutex_unlock(&gate.lock);
	return store_sqlite_ops.query_events(s, q, out, n, err, errlen);
}

static struct store_ops gated_ops;

static void gate_arm(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.armed = true;
	pthread_mutex_unlock(&gate.lock);
}

/* Returns once the worker sits in the gate. */
static void gate_wait_closed(void)
{
	pthread_mutex_lock(&gate.lock);
	while (!gate.waiting)
		pthread_cond_wait(&gate.cond, &gate.lock);
	pthread_mutex_unlock(&gate.lock);
}

static void gate_open(void)
{
	pthread_mutex_lock(&gate.lock);
	gate.armed = false;
	pthread_cond_broadcast(&gate.cond);
	pthread_mutex_unlock(&gate.lock);
}

/* ---- fixture ----------------------------------------------------------------- */

#define MAX_LOG 4096

struct outcome {
	char what; /* 'c' committed, 'q' query answer */
	uint64_t seq;
	int rc;
	size_t n;      /* events in a query's answer */
	uint64_t last; /* a query's last event's detail as a number */
};

struct fixture {
	struct test_db db;
	struct event_base *base;
	struct storeq *q;
	pthread_t loop_thread;
	struct outcome log[MAX_LOG];
	unsigned nlog;
	uint64_t committed_seq; /* the highest seq reported, rc 0 or not */
	unsigned answers;
	int wrong_thread;
	char err[256];
};

static void on_committed(void *arg, uint64_t seq, int rc)
{
	struct fixture *f = arg;

	if (!pthread_equal(pthread_self(), f->loop_thread))
		f->wrong_thread++;
	if (f->nlog < MAX_LOG)
		f->log[f->nlog++] = (struct outcome){.what = 'c', .seq = seq, .rc = rc};
	f->committed_seq = seq;
}

static void on_answer(void *arg, int rc, const struct ul_event *evs, size_t n, const char *err)
{
	struct fixture *f = arg;

	(void)err;
	if (!pthread_equal(pthread_self(), f->loop_thread))
		f->wrong_thread++;
	f->answers++;
	if (f->nlog < MAX_LOG)
		f->log[f->nlog++] =
		        (struct outcome){.what = 'q',
		                         .rc = rc,
		                         .n = n,
		                         .last = n ? strtoull(evs[n - 1].detail, NULL, 10) : 0};
}

static void start(struct fixture *f, const struct store_ops *ops)
{
	struct store *s;

	assert_int_equal(ops->open(f->db.path, &s, f->err, sizeof(f->err)), 0);
	if (storeq_start(&f->q, f->base, ops, s, on_committed, f, f->err, sizeof(f->err)) != 0)
		fail_msg("storeq_start: %s", f->err);
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_int_equal(test_db_make(&f->db), 0);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->loop_thread = pthread_self();
	start(f, &store_sqlite_ops);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	storeq_stop(f->q);
	event_base_free(f->base);
	test_db_remove(&f->db);
	assert_int_equal(f->wrong_thread, 0);
	free(f);
	return 0;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/* Runs the loop until cond(f) holds; fails after 20 s. */
static void run_until(struct fixture *f, bool (*cond)(struct fixture *))
{
	bool late = false;
	struct timeval tv = {.tv_sec = 20};
	struct event *deadline = evtimer_new(f->base, on_deadline, &late);

	evtimer_add(deadline, &tv);
	while (!cond(f) && !late)
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(deadline);
	if (late)
		fail_msg("the worker did not answer within 20 s");
}

static uint64_t want_seq;
static bool committed_reached(struct fixture *f)
{
	return f->committed_seq >= want_seq;
}

static unsigned want_answers;
static bool all_answered(struct fixture *f)
{
	return f->committed_seq >= want_seq && f->answers >= want_answers;
}

static void append(struct fixture *f, uint64_t seq, enum ul_event_kind kind, const char *detail)
{
	struct ul_event ev = test_event(seq, kind, "mpcb-1", "");

	if (detail)
		UL_COPY(ev.detail, detail);
	else
		snprintf(ev.detail, sizeof(ev.detail), "%llu", (unsigned long long)seq);
	assert_int_equal(storeq_append(f->q, &ev), 0);
}

static void ask(struct fixture *f)
{
	struct store_query q;

	memset(&q, 0, sizeof(q));
	q.kind = -1;
	q.limit = 100000;
	assert_int_equal(storeq_query_events(f->q, &q, on_answer, f), 0);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_committed_on_the_loop_with_growing_seq(void **state)
{
	struct fixture *f = *state;
	uint64_t prev = 0;

	/* In small bursts, letting the loop run between them. */
	for (uint64_t seq = 1; seq <= 300; seq++) {
		append(f, seq, UL_EV_ARRIVED, NULL);
		if (seq % 30 == 0)
			event_base_loop(f->base, EVLOOP_NONBLOCK);
	}
	want_seq = 300;
	run_until(f, committed_reached);
	assert_true(f->nlog > 0);
	for (unsigned i = 0; i < f->nlog; i++) {
		assert_int_equal(f->log[i].what, 'c');
		assert_int_equal(f->log[i].rc, 0);
		assert_true(f->log[i].seq > prev);
		prev = f->log[i].seq;
	}
	assert_int_equal(prev, 300);
	assert_int_equal(f->wrong_thread, 0);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM events"), 300);
}

/* Holds the worker in a query while n events are appended, then lets it
 * go and waits for their commit. */
static void append_while_held(struct fixture *f, uint64_t first, unsigned n)
{
	gate_arm();
	ask(f);
	gate_wait_closed();
	for (uint64_t seq = first; seq < first + n; seq++)
		append(f, seq, UL_EV_LEASE_TAKEN, NULL);
	gate_open();
	want_seq = first + n - 1;
	run_until(f, committed_reached);
}

static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct storeq_stats st;
	enum { N = STOREQ_MAX_BATCH, BIG = 2 * STOREQ_MAX_BATCH + 10 };

	storeq_stop(f->q);
	start(f, &gated_ops);
	/* The worker sits in a query; everything appended meanwhile is one
	 * group, one transaction. */
	append_while_held(f, 1, N);
	storeq_get_stats(f->q, &st);
	assert_int_equal(st.events, N);
	assert_int_equal(st.batches, 1);
	assert_int_equal(st.failed_batches, 0);
	assert_int_equal(st.queries, 1);
	/* One commit reported for the group, after the query's answer. */
	assert_int_equal(f->nlog, 2);
	assert_int_equal(f->log[0].what, 'q');
	assert_int_equal(f->log[1].what, 'c');
	assert_int_equal(f->log[1].seq, N);

	/* A bigger backlog goes in transactions of STOREQ_MAX_BATCH. */
	append_while_held(f, N + 1, BIG);
	storeq_get_stats(f->q, &st);
	assert_int_equal(st.events, N + BIG);
	assert_int_equal(st.batches, 1 + 3);
	for (unsigned i = 2; i < f->nlog; i++)
		assert_int_equal(f->log[i].rc, 0);
	assert_int_equal(f->log[f->nlog - 1].seq, N + BIG);

	/* Without the gate, appends as fast as the loop makes them still
	 * group: far fewer transactions than events. */
	uint64_t before = st.batches, first = N + BIG + 1;
	for (uint64_t seq = first; seq < first + 2000; seq++)
		append(f, seq, UL_EV_ARRIVED, NULL);
	want_seq = first + 1999;
	run_until(f, committed_reached);
	storeq_get_stats(f->q, &st);
	assert_true(st.batches - before < 200);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM events"), N + BIG + 2000);
}

static void test_queries_in_order_with_writes(void **state)
{
	struct fixture *f = *state;

	for (uint64_t seq = 1; seq <= 5; seq++)
		append(f, seq, UL_EV_ARRIVED, NULL);
	ask(f);
	for (uint64_t seq = 6; seq <= 10; seq++)
		append(f, seq, UL_EV_ARRIVED, NULL);
	ask(f);
	ask(f);
	append(f, 11, UL_EV_ARRIVED, NULL);
	want_seq = 11;
	run_until(f, committed_reached);

	/* Each answer holds exactly what was queued before it, and comes after
	 * the commit that covers it. */
	uint64_t committed = 0;
	size_t want_n[] = {5, 10, 10};
	unsigned answers = 0;

	for (unsigned i = 0; i < f->nlog; i++) {
		if (f->log[i].what == 'c') {
			assert_int_equal(f->log[i].rc, 0);
			committed = f->log[i].seq;
			continue;
		}
		assert_true(answers < 3);
		assert_int_equal(f->log[i].rc, 0);
		assert_int_equal(f->log[i].n, want_n[answers]);
		assert_int_equal(f->log[i].last, want_n[answers]);
		assert_true(committed >= want_n[answers]);
		answers++;
	}
	assert_int_equal(answers, 3);
	assert_int_equal(committed, 11);
}

static void test_failed_batch_reports_and_goes_on(void **state)
{
	struct fixture *f = *state;
	int outcome[9] = {0}; /* per seq: 1 written, -1 failed, 0 unreported */
	uint64_t from = 1;

	/* Event 4 cannot be written; queries split the groups, so 1..3 and 7..8
	 * are in other transactions than 4 whatever the timing. */
	assert_int_equal(test_db_exec(f->db.path,
	                              "CREATE TRIGGER boom BEFORE INSERT ON events WHEN NEW.detail "
	                              "= 'boom' BEGIN SELECT RAISE(ABORT, 'boom'); END"),
	                 0);
	append(f, 1, UL_EV_LEASE_TAKEN, NULL);
	append(f, 2, UL_EV_ARRIVED, NULL);
	append(f, 3, UL_EV_ARRIVED, NULL);
	ask(f);
	append(f, 4, UL_EV_ARRIVED, "boom");
	append(f, 5, UL_EV_ARRIVED, NULL);
	append(f, 6, UL_EV_ARRIVED, NULL);
	ask(f);
	append(f, 7, UL_EV_ARRIVED, NULL);
	append(f, 8, UL_EV_LEASE_RELEASED, NULL);
	want_seq = 8;
	run_until(f, committed_reached);

	for (unsigned i = 0; i < f->nlog; i++) {
		if (f->log[i].what != 'c')
			continue;
		assert_true(f->log[i].seq >= from && f->log[i].seq <= 8);
		for (uint64_t s = from; s <= f->log[i].seq; s++)
			outcome[s] = f->log[i].rc == 0 ? 1 : -1;
		from = f->log[i].seq + 1;
	}
	/* Every event has one outcome; the ones around the failure are fine. */
	for (int s = 1; s <= 8; s++)
		assert_int_not_equal(outcome[s], 0);
	assert_int_equal(outcome[4], -1);
	assert_int_equal(outcome[1], 1);
	assert_int_equal(outcome[3], 1);
	assert_int_equal(outcome[7], 1);
	assert_int_equal(outcome[8], 1);
	/* What is on disk is exactly what was reported written. */
	for (int s = 1; s <= 8; s++) {
		char sql[96];

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM events WHERE detail = '%d'", s);
		if (s == 4)
			continue;
		assert_int_equal(test_db_int(f->db.path, sql), outcome[s] == 1 ? 1 : 0);
	}
	assert_int_equal(
	        test_db_int(f->db.path, "SELECT count(*) FROM events WHERE detail = 'boom'"), 0);
	/* The lease of event 1 was released by event 8. */
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM leases"), 0);
	struct storeq_stats st;
	storeq_get_stats(f->q, &st);
	assert_true(st.failed_batches >= 1);
}

static void test_queue_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct storeq_stats st;
	struct ul_event ev = test_event(1, UL_EV_ERROR, "", "x");
	uint64_t seq, accepted = 0;

	storeq_stop(f->q);
	start(f, &gated_ops);
	gate_arm();
	ask(f);
	gate_wait_closed();
	/* The worker is held: appends pile up until the bound refuses them. */
	for (seq = 1; seq <= 1000000; seq++) {
		ev.seq = seq;
		if (storeq_append(f->q, &ev) < 0)
			break;
		accepted = seq;
	}
	assert_true(seq <= 1000000);
	assert_true(accepted >= 1000);
	storeq_get_stats(f->q, &st);
	assert_int_equal(st.refused, 1);
	gate_open();
	/* Once the disk answers again, the queue drains and appends work. */
	want_seq = accepted;
	run_until(f, committed_reached);
	/* The refused event may be offered again. */
	ev.seq = seq;
	assert_int_equal(storeq_append(f->q, &ev), 0);
	want_seq = seq;
	run_until(f, committed_reached);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM events"),
	                 (long long)accepted + 1);
	printf("# queue bound: %llu events accepted while the worker was held\n",
	       (unsigned long long)accepted);
}

static void test_stop_delivers_what_is_left(void **state)
{
	struct fixture *f = *state;

	for (uint64_t seq = 1; seq <= 50; seq++)
		append(f, seq, UL_EV_ARRIVED, NULL);
	ask(f);
	append(f, 51, UL_EV_ARRIVED, NULL);
	/* No loop iteration: stop must write, then call back before it returns. */
	storeq_stop(f->q);
	f->q = NULL;
	assert_int_equal(f->committed_seq, 51);
	unsigned answers = 0;
	for (unsigned i = 0; i < f->nlog; i++) {
		if (f->log[i].what == 'q') {
			answers++;
			assert_int_equal(f->log[i].n, 50);
		} else {
			assert_int_equal(f->log[i].rc, 0);
		}
	}
	assert_int_equal(answers, 1);
	assert_int_equal(test_db_int(f->db.path, "SELECT count(*) FROM events"), 51);
	/* The worker's wake-up may still be pending in the loop: its event is
	 * gone with the storeq, so nothing more is called. */
	unsigned before = f->nlog;
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(f->nlog, before);
	start(f, &store_sqlite_ops);
}

static void test_random_interleaving(void **state)
{
	struct fixture *f = *state;
	uint64_t x = 0x2545f4914f6cdd1dull, seq = 0;
	size_t want[64];
	unsigned asked = 0, answers = 0;

	/* Bursts of appends and queries in random order, the loop running now
	 * and then: every answer holds exactly the events queued before it. */
	while (asked < 64) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (x % 4) {
		case 0:
			want[asked++] = seq;
			ask(f);
			break;
		case 1:
			event_base_loop(f->base, EVLOOP_NONBLOCK);
			break;
		default:
			for (unsigned i = (unsigned)(x >> 8) % 40; i > 0; i--) {
				seq++;
				append(f, seq, seq % 3 ? UL_EV_ARRIVED : UL_EV_LEASE_TAKEN, NULL);
			}
		}
	}
	want_seq = seq;
	want_answers = asked;
	run_until(f, all_answered);
	for (unsigned i = 0; i < f->nlog; i++) {
		if (f->log[i].what != 'q')
			continue;
		assert_int_equal(f->log[i].rc, 0);
		assert_int_equal(f->log[i].n, want[answers]);
		assert_int_equal(f->log[i].last, want[answers]);
		answers++;
	}
	assert_int_equal(answers, asked);
}

static void test_empty_start_stop(void **state)
{
	struct fixture *f = *state;

	/* Nothing queued: stop returns at once and calls nothing. */
	storeq_stop(f->q);
	f->q = NULL;
	assert_int_equal(f->nlog, 0);
	storeq_stop(NULL);
	start(f, &store_sqlite_ops);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_committed_on_the_loop_with_growing_seq, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_queries_in_order_with_writes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_failed_batch_reports_and_goes_on, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_queue_is_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stop_delivers_what_is_left, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_random_interleaving, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_empty_start_stop, setup, teardown),
	};

	gated_ops = store_sqlite_ops;
	gated_ops.query_events = gated_query_events;
	return cmocka_run_group_tests_name("storeq", tests, NULL, NULL);
}
