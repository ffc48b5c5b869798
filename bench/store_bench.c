/* SPDX-License-Identifier: MIT */
/*
 * store_bench.c - store-bench: how many events a second the SQLite store
 * makes durable, one transaction per event (what a store without a worker
 * would do) next to storeq's group commit (the daemon's way: the loop
 * appends, the worker writes all that gathered in one transaction).
 *
 *   store-bench [--dir DIR] [--single N] [--group N] [--steady MS]
 *
 * The last row is the daemon's case: a steady trickle, one event a
 * millisecond, and how long each waited for its commit report (what a
 * checkout waits for its reply).
 *
 * The database goes in a new directory under DIR (default $TMPDIR or /tmp);
 * put DIR on the disk the daemon will use: the figures are fsync-bound.
 */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storeq.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct ul_event bench_event(uint64_t seq)
{
	struct ul_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.seq = seq;
	ev.time_ms = 1764767644000 + (int64_t)seq;
	ev.kind = seq % 2 ? UL_EV_LEASE_TAKEN : UL_EV_LEASE_RELEASED;
	snprintf(ev.board, sizeof(ev.board), "board-%02u", (unsigned)(seq / 2 % 50));
	snprintf(ev.peer, sizeof(ev.peer), "ci@runner-%u", (unsigned)(seq % 7));
	snprintf(ev.detail, sizeof(ev.detail), "bench event %llu", (unsigned long long)seq);
	snprintf(ev.lease.holder, sizeof(ev.lease.holder), "ci@runner-%u", (unsigned)(seq % 7));
	snprintf(ev.lease.token, sizeof(ev.lease.token), "%032llx", (unsigned long long)seq);
	ev.lease.since_ms = ev.time_ms;
	ev.lease.expires_ms = ev.time_ms + 3600000;
	return ev;
}

struct db {
	char dir[256];
	char path[300];
};

static int db_make(struct db *d, const char *under)
{
	snprintf(d->dir, sizeof(d->dir), "%s/store-bench-XXXXXX", under);
	if (!mkdtemp(d->dir)) {
		perror("store-bench: mkdtemp");
		return -1;
	}
	snprintf(d->path, sizeof(d->path), "%s/bench.db", d->dir);
	return 0;
}

static void db_remove(struct db *d)
{
	static const char *const sfx[] = {"", "-wal", "-shm"};
	char p[320];

	for (size_t i = 0; i < 3; i++) {
		snprintf(p, sizeof(p), "%s%s", d->path, sfx[i]);
		unlink(p);
	}
	rmdir(d->dir);
}

/* One apply() per event, on this thread. */
static int run_single(const char *under, unsigned n)
{
	struct db d;
	struct store *s;
	struct ul_event ev;
	char err[256];
	double t0, dt;

	if (db_make(&d, under) < 0)
		return -1;
	if (store_sqlite_ops.open(d.path, &s, err, sizeof(err)) < 0) {
		fprintf(stderr, "store-bench: %s\n", err);
		return -1;
	}
	t0 = now_s();
	for (unsigned i = 1; i <= n; i++) {
		ev = bench_event(i);
		if (store_sqlite_ops.apply(s, &ev, 1, err, sizeof(err)) < 0) {
			fprintf(stderr, "store-bench: %s\n", err);
			return -1;
		}
	}
	dt = now_s() - t0;
	store_sqlite_ops.close(s);
	db_remove(&d);
	printf("%-34s %8u %10u %12.0f %10.3f\n", "one transaction per event", n, n, n / dt,
	       dt * 1000 / n);
	return 0;
}

struct group {
	struct storeq *q;
	struct event *pump;
	unsigned n, next;
	uint64_t committed;
	bool stalled;
	double t0, t_done;
};

static void group_pump(evutil_socket_t fd, short what, void *arg)
{
	struct group *g = arg;
	struct timeval zero = {0, 0};
	struct ul_event ev;

	(void)fd;
	(void)what;
	/* 64 per run, then let the loop poll: the loop's other work would. */
	for (unsigned i = 0; i < 64 && g->next <= g->n; i++) {
		ev = bench_event(g->next);
		if (storeq_append(g->q, &ev) < 0) {
			g->stalled = true;
			return;
		}
		g->next++;
	}
	if (g->next <= g->n)
		evtimer_add(g->pump, &zero);
}

static void group_committed(void *arg, uint64_t seq, int rc)
{
	struct group *g = arg;
	struct timeval zero = {0, 0};

	if (rc < 0) {
		fprintf(stderr, "store-bench: a batch failed\n");
		exit(1);
	}
	g->committed = seq;
	if (g->stalled) {
		g->stalled = false;
		evtimer_add(g->pump, &zero);
	}
	if (seq >= g->n) {
		g->t_done = now_s();
		event_base_loopbreak(event_get_base(g->pump));
	}
}

static int run_group(const char *under, unsigned n)
{
	struct group g = {.n = n, .next = 1};
	struct event_base *base = event_base_new();
	struct storeq_stats st;
	struct timeval zero = {0, 0};
	struct store *s;
	struct db d;
	char err[256];
	double dt;

	if (!base || db_make(&d, under) < 0)
		return -1;
	if (store_sqlite_ops.open(d.path, &s, err, sizeof(err)) < 0 ||
	    storeq_start(&g.q, base, &store_sqlite_ops, s, group_committed, &g, err, sizeof(err)) <
	            0) {
		fprintf(stderr, "store-bench: %s\n", err);
		return -1;
	}
	g.pump = evtimer_new(base, group_pump, &g);
	g.t0 = now_s();
	evtimer_add(g.pump, &zero);
	event_base_dispatch(base);
	dt = g.t_done - g.t0;
	storeq_get_stats(g.q, &st);
	storeq_stop(g.q);
	event_free(g.pump);
	event_base_free(base);
	db_remove(&d);
	printf("%-34s %8u %10llu %12.0f %10.3f\n", "storeq group commit", n,
	       (unsigned long long)st.batches, n / dt, dt * 1000 / (double)st.batches);
	return 0;
}

/* A steady trickle, as a busy bench makes: one event every millisecond for
 * n ms, each timed from append to its commit report. */
struct steady {
	struct storeq *q;
	struct event *tick;
	unsigned n, next;
	double *appended, *latency;
	uint64_t reported;
};

static void steady_tick(evutil_socket_t fd, short what, void *arg)
{
	struct steady *w = arg;
	struct ul_event ev;

	(void)fd;
	(void)what;
	if (w->next > w->n)
		return;
	ev = bench_event(w->next);
	w->appended[w->next - 1] = now_s();
	if (storeq_append(w->q, &ev) == 0)
		w->next++;
}

static void steady_committed(void *arg, uint64_t seq, int rc)
{
	struct steady *w = arg;
	double t = now_s();

	if (rc < 0) {
		fprintf(stderr, "store-bench: a batch failed\n");
		exit(1);
	}
	for (uint64_t i = w->reported + 1; i <= seq; i++)
		w->latency[i - 1] = t - w->appended[i - 1];
	w->reported = seq;
	if (seq >= w->n)
		event_base_loopbreak(event_get_base(w->tick));
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int run_steady(const char *under, unsigned n)
{
	struct steady w = {.n = n, .next = 1};
	struct event_base *base = event_base_new();
	struct timeval ms = {0, 1000};
	struct storeq_stats st;
	struct store *s;
	struct db d;
	char err[256];

	w.appended = calloc(n, sizeof(double));
	w.latency = calloc(n, sizeof(double));
	if (!base || !w.appended || !w.latency || db_make(&d, under) < 0)
		return -1;
	if (store_sqlite_ops.open(d.path, &s, err, sizeof(err)) < 0 ||
	    storeq_start(&w.q, base, &store_sqlite_ops, s, steady_committed, &w, err, sizeof(err)) <
	            0) {
		fprintf(stderr, "store-bench: %s\n", err);
		return -1;
	}
	w.tick = event_new(base, -1, EV_PERSIST, steady_tick, &w);
	event_add(w.tick, &ms);
	event_base_dispatch(base);
	storeq_get_stats(w.q, &st);
	storeq_stop(w.q);
	event_free(w.tick);
	event_base_free(base);
	db_remove(&d);
	qsort(w.latency, n, sizeof(double), cmp_double);
	printf("%-34s %8u %10llu %12s %10s   %.2f events/commit; append->commit p50 %.2f ms, "
	       "p99 %.2f ms\n",
	       "steady 1 event/ms, group commit", n, (unsigned long long)st.batches, "-", "-",
	       (double)n / (double)st.batches, w.latency[n / 2] * 1000,
	       w.latency[n - 1 - n / 100] * 1000);
	free(w.appended);
	free(w.latency);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"dir", required_argument, NULL, 'd'},   {"single", required_argument, NULL, 's'},
	        {"group", required_argument, NULL, 'g'}, {"steady", required_argument, NULL, 't'},
	        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
	};
	const char *under = getenv("TMPDIR");
	unsigned single = 300, group = 50000, steady = 2000;
	int c;

	if (!under || !*under)
		under = "/tmp";
	while ((c = getopt_long(argc, argv, "d:s:g:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			under = optarg;
			break;
		case 's':
			single = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'g':
			group = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 't':
			steady = (unsigned)strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: store-bench [--dir DIR] [--single N] [--group N] "
			                "[--steady MS]\n");
			return c == 'h' ? 0 : 2;
		}
	}
	printf("%-34s %8s %10s %12s %10s\n", "store-bench (WAL, synchronous=FULL)", "events",
	       "commits", "events/s", "ms/commit");
	if (single && run_single(under, single) < 0)
		return 1;
	if (group && run_group(under, group) < 0)
		return 1;
	if (steady && run_steady(under, steady) < 0)
		return 1;
	return 0;
}
