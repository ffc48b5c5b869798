/* SPDX-License-Identifier: MIT */
/*
 * storeq.c - the store on a worker thread (storeq.h).
 *
 * Threads and what each touches:
 *   loop thread   storeq_append / storeq_query_events / storeq_stop, the
 *                 wake event and every callback. Writes `in` and `queries`
 *                 under `lock`; reads `done` under `lock`.
 *   worker        the store (nothing else touches it once started); takes
 *                 `in` and `queries` under `lock` (swapping `in` with its
 *                 own empty `work` buffer), writes `done` under `lock`,
 *                 then writes the eventfd.
 * Everything under `lock` is touched by both; `work`, `store` and `ops`
 * only by the worker (between start and join); `wake` and `ev_wake` only by
 * the loop. No other sharing, so no data race by construction.
 *
 * Group commit: the worker takes everything queued at once and applies it
 * in one transaction (or several of STOREQ_MAX_BATCH events after a
 * burst), so while one fsync runs the next group gathers. A query splits
 * the group: events queued before it are applied first.
 */
#include "storeq.h"

#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "ul_log.h"

/* A work buffer bigger than this is freed after use rather than kept. */
#define STOREQ_KEEP_CAP 1024u

struct storeq_buf {
	struct ul_event *evs;
	size_t n, cap;
};

struct storeq_query;

/* One thing to tell the loop: a batch's outcome (qry NULL) or a query's
 * answer. Consecutive batch outcomes with the same rc are merged. */
struct storeq_done {
	struct storeq_done *next;
	struct storeq_query *qry;
	uint64_t seq;
	int rc;
	char err[256];
};

struct storeq_query {
	struct storeq_query *next;
	size_t pos; /* events of the same take queued before this query */
	struct store_query q;
	storeq_events_fn cb;
	void *arg;
	/* The answer, filled by the worker; the node is allocated by the loop
	 * with the query, so answering never allocates. */
	struct ul_event *evs;
	size_t n;
	struct storeq_done done;
};

struct storeq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock. */
	struct storeq_buf in;
	struct storeq_query *queries, **queries_tail;
	struct storeq_done *done, *done_last;
	bool stopping;
	struct storeq_stats stats;

	/* Worker only (between pthread_create and pthread_join). */
	const struct store_ops *ops;
	struct store *store;
	struct storeq_buf work;

	/* Loop only. */
	struct event *ev_wake;
	storeq_committed_fn committed;
	void *arg;
	uint64_t last_seq;
	bool delivering;

	int wake; /* eventfd: the worker writes, the loop reads */
	pthread_t thread;
};

/* ---- worker ------------------------------------------------------------------ */

static void storeq_post_locked(struct storeq *q, struct storeq_done *d)
{
	d->next = NULL;
	if (q->done_last)
		q->done_last->next = d;
	else
		q->done = d;
	q->done_last = d;
}

static void storeq_wake_loop(struct storeq *q)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is saturated: the loop wakes anyway. */
	while (write(q->wake, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* Tells the loop that events up to seq were written (rc 0) or not (-1). */
static void storeq_post_batch(struct storeq *q, uint64_t seq, int rc, size_t n, const char *err)
{
	struct storeq_done *d = NULL;
	struct storeq_done *last;

	for (;;) {
		pthread_mutex_lock(&q->lock);
		last = q->done_last;
		if (last && !last->qry && last->rc == rc) {
			/* The loop has not read the previous outcome: same meaning,
			 * so one report covers both. */
			last->seq = seq;
			UL_COPY(last->err, err);
		} else if (d) {
			d->seq = seq;
			d->rc = rc;
			UL_COPY(d->err, err);
			storeq_post_locked(q, d);
			d = NULL;
		} else {
			pthread_mutex_unlock(&q->lock);
			/* A lost outcome would leave a client waiting for ever;
			 * memory comes back as the loop frees answers. */
			while (!(d = calloc(1, sizeof(*d)))) {
				struct timespec ms = {.tv_nsec = 1000000L};
				nanosleep(&ms, NULL);
			}
			continue;
		}
		q->stats.batches++;
		q->stats.events += n;
		if (rc < 0)
			q->stats.failed_batches++;
		pthread_mutex_unlock(&q->lock);
		free(d);
		storeq_wake_loop(q);
		return;
	}
}

/* Writes work.evs[from, to) in transactions of at most STOREQ_MAX_BATCH
 * events, posting each outcome. */
static void storeq_apply(struct storeq *q, size_t from, size_t to)
{
	char err[256];
	size_t n;
	int rc;

	/* from == to: not even a pointer into the buffer, which may be NULL. */
	for (; from < to; from += n) {
		n = to - from < STOREQ_MAX_BATCH ? to - from : STOREQ_MAX_BATCH;
		err[0] = '\0';
		rc = q->ops->apply(q->store, &q->work.evs[from], n, err, sizeof(err));
		storeq_post_batch(q, q->work.evs[from + n - 1].seq, rc < 0 ? -1 : 0, n, err);
	}
}

static void storeq_answer(struct storeq *q, struct storeq_query *qr)
{
	struct storeq_done *d = &qr->done;

	d->rc = q->ops->query_events(q->store, &qr->q, &qr->evs, &qr->n, d->err, sizeof(d->err));
	if (d->rc < 0) {
		d->rc = -1;
		free(qr->evs);
		qr->evs = NULL;
		qr->n = 0;
	}
	pthread_mutex_lock(&q->lock);
	q->stats.queries++;
	storeq_post_locked(q, d);
	pthread_mutex_unlock(&q->lock);
	storeq_wake_loop(q);
}

static void *storeq_worker(void *arg)
{
	struct storeq *q = arg;
	struct storeq_buf tmp;
	struct storeq_query *qr, *next;
	size_t pos;

	pthread_mutex_lock(&q->lock);
	for (;;) {
		while (q->in.n == 0 && !q->queries && !q->stopping)
			pthread_cond_wait(&q->cond, &q->lock);
		if (q->in.n == 0 && !q->queries)
			break; /* stopping, and everything is written */
		/* Take everything: the group that gathered during the last fsync. */
		tmp = q->in;
		q->in = q->work;
		q->work = tmp;
		qr = q->queries;
		q->queries = NULL;
		q->queries_tail = &q->queries;
		pthread_mutex_unlock(&q->lock);

		/* A query sees every write queued before it, none after. */
		for (pos = 0; qr; qr = next) {
			next = qr->next;
			storeq_apply(q, pos, qr->pos);
			pos = qr->pos;
			storeq_answer(q, qr);
		}
		storeq_apply(q, pos, q->work.n);

		q->work.n = 0;
		if (q->work.cap > STOREQ_KEEP_CAP) {
			free(q->work.evs);
			q->work.evs = NULL;
			q->work.cap = 0;
		}
		pthread_mutex_lock(&q->lock);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

/* ---- loop -------------------------------------------------------------------- */

/* Calls back for every outcome and answer posted so far, in order. */
static void storeq_deliver(struct storeq *q)
{
	struct storeq_done *d, *next;

	pthread_mutex_lock(&q->lock);
	d = q->done;
	q->done = q->done_last = NULL;
	pthread_mutex_unlock(&q->lock);

	q->delivering = true;
	for (; d; d = next) {
		next = d->next;
		if (d->qry) {
			struct storeq_query *qr = d->qry;

			qr->cb(qr->arg, d->rc, qr->evs, qr->n, d->rc < 0 ? d->err : NULL);
			free(qr->evs);
			free(qr);
		} else {
			if (d->rc < 0)
				ul_error("store", "events up to %llu not written: %s",
				         (unsigned long long)d->seq, d->err);
			if (q->committed)
				q->committed(q->arg, d->seq, d->rc);
			free(d);
		}
	}
	q->delivering = false;
}

static void storeq_on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct storeq *q = arg;
	uint64_t count;

	(void)what;
	/* Resets the eventfd's counter; nonblocking, so EAGAIN if empty. */
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN && errno != EINTR)
		ul_error("store", "reading the worker's eventfd: %s", strerror(errno));
	storeq_deliver(q);
}

static void storeq_free(struct storeq *q)
{
	if (q->ev_wake)
		event_free(q->ev_wake);
	if (q->wake >= 0)
		close(q->wake);
	if (q->store)
		q->ops->close(q->store);
	free(q->in.evs);
	free(q->work.evs);
	pthread_cond_destroy(&q->cond);
	pthread_mutex_destroy(&q->lock);
	free(q);
}

int storeq_start(struct storeq **out, struct event_base *base, const struct store_ops *ops,
                 struct store *s, storeq_committed_fn committed, void *arg, char *err,
                 size_t errlen)
{
	struct storeq *q;
	sigset_t all, old;
	int rc;

	*out = NULL;
	q = calloc(1, sizeof(*q));
	if (!q) {
		snprintf(err, errlen, "out of memory");
		ops->close(s);
		return -1;
	}
	q->ops = ops;
	q->store = s;
	q->committed = committed;
	q->arg = arg;
	q->queries_tail = &q->queries;
	q->wake = -1;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);

	q->wake = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->wake < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	q->ev_wake = event_new(base, q->wake, EV_READ | EV_PERSIST, storeq_on_wake, q);
	if (!q->ev_wake || event_add(q->ev_wake, NULL) < 0) {
		snprintf(err, errlen, "cannot watch the worker's eventfd");
		goto fail;
	}
	/* The worker blocks every signal, so the daemon's signals (SIGHUP,
	 * SIGTERM through libevent) reach the loop's thread, and SQLite's
	 * writes and fsyncs are never interrupted. It inherits the mask. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&q->thread, NULL, storeq_worker, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start the store's thread: %s", strerror(rc));
		goto fail;
	}
	*out = q;
	return 0;
fail:
	storeq_free(q);
	return -1;
}

int storeq_append(struct storeq *q, const struct ul_event *ev)
{
	struct ul_event *grown;
	size_t cap;

	/* A refused event may be offered again: last_seq is what was queued. */
	assert(!q->last_seq || ev->seq > q->last_seq);
	pthread_mutex_lock(&q->lock);
	if (q->stopping || q->in.n >= STOREQ_MAX_PENDING) {
		q->stats.refused++;
		goto fail;
	}
	if (q->in.n == q->in.cap) {
		cap = q->in.cap ? q->in.cap * 2 : 64;
		if (cap > STOREQ_MAX_PENDING)
			cap = STOREQ_MAX_PENDING;
		grown = realloc(q->in.evs, cap * sizeof(*grown));
		if (!grown) {
			q->stats.refused++;
			goto fail;
		}
		q->in.evs = grown;
		q->in.cap = cap;
	}
	q->in.evs[q->in.n++] = *ev;
	q->last_seq = ev->seq;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
fail:
	pthread_mutex_unlock(&q->lock);
	return -1;
}

int storeq_query_events(struct storeq *q, const struct store_query *qr, storeq_events_fn cb,
                        void *arg)
{
	struct storeq_query *n = calloc(1, sizeof(*n));

	if (!n)
		return -1;
	n->q = *qr;
	n->cb = cb;
	n->arg = arg;
	n->done.qry = n;
	pthread_mutex_lock(&q->lock);
	if (q->stopping) {
		pthread_mutex_unlock(&q->lock);
		free(n);
		return -1;
	}
	n->pos = q->in.n;
	*q->queries_tail = n;
	q->queries_tail = &n->next;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	return 0;
}

void storeq_get_stats(struct storeq *q, struct storeq_stats *out)
{
	pthread_mutex_lock(&q->lock);
	*out = q->stats;
	pthread_mutex_unlock(&q->lock);
}

void storeq_stop(struct storeq *q)
{
	if (!q)
		return;
	/* From a callback, the delivery loop would walk freed memory. */
	assert(!q->delivering);
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_signal(&q->cond);
	pthread_mutex_unlock(&q->lock);
	pthread_join(q->thread, NULL);
	/* The worker wrote and answered everything before it returned; tell
	 * the caller now, on its thread, so no waiter is left hanging. */
	storeq_deliver(q);
	storeq_free(q);
}
