/* SPDX-License-Identifier: MIT */
/*
 * storeq.h - the store on its own worker thread, so that disk I/O never
 * runs in the event loop. The loop hands events over (a copy is queued);
 * the worker writes everything queued in one transaction (group commit; up
 * to STOREQ_MAX_BATCH events each) and reports back on the loop's thread
 * which events are durable. Queries run on the same worker, in order with
 * the writes, and answer on the loop.
 */
#ifndef UL_STOREQ_H
#define UL_STOREQ_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "store.h"

struct storeq;

/* Events may wait at most this many; past it storeq_append refuses, so a
 * disk that stalls costs bounded memory (an event is 1160 bytes: 23 MB
 * queued, as much again being written) instead of growing the daemon until
 * the OOM killer comes. A bench makes a few events a second and group commit
 * writes thousands a second even on a slow disk, so a full queue means the
 * disk has stopped answering. */
#ifndef STOREQ_MAX_PENDING
#define STOREQ_MAX_PENDING 20000u
#endif

/* One transaction writes at most this many of the events waiting, so after
 * a burst the first events are reported durable after their own commit, not
 * after the whole backlog's. */
#ifndef STOREQ_MAX_BATCH
#define STOREQ_MAX_BATCH 1024u
#endif

/* Called on the loop's thread: every event with seq <= seq was written
 * (rc 0) or failed to be (rc -1, nothing of that batch is on disk). Reports
 * come in growing seq order; each covers the events queued after the one the
 * previous report named, so a success after a failure does not undo it. */
typedef void (*storeq_committed_fn)(void *arg, uint64_t seq, int rc);

/* Starts the worker over an opened store s (storeq owns it from now on and
 * closes it in storeq_stop; if starting fails, s is closed too). Only the
 * worker touches s from here on. Every callback runs on the thread that runs
 * base's loop, through an eventfd watched with a plain event_new(): the loop
 * needs no evthread_use_pthreads(). Returns 0, or -1 with a reason in err. */
int storeq_start(struct storeq **out, struct event_base *base, const struct store_ops *ops,
                 struct store *s, storeq_committed_fn committed, void *arg, char *err,
                 size_t errlen);

/* Queues a copy of ev (ev->seq must grow from call to call). Never blocks
 * on disk. Returns 0, or -1 when out of memory or when the queue is full
 * (STOREQ_MAX_PENDING events wait: the disk stalls): ev is then not stored
 * and no committed() will cover it on its own, so the caller reports it
 * failed. A later committed(seq) with a higher seq says nothing of it. */
int storeq_append(struct storeq *q, const struct ul_event *ev);

/* Runs query q on the worker after every write queued before it; cb gets the
 * result on the loop's thread (evs is freed after cb returns; err is NULL
 * when rc is 0). Returns 0, or -1 (out of memory, stopping) and cb is not
 * called. */
typedef void (*storeq_events_fn)(void *arg, int rc, const struct ul_event *evs, size_t n,
                                 const char *err);
int storeq_query_events(struct storeq *q, const struct store_query *qr, storeq_events_fn cb,
                        void *arg);

/* Counts, for tests and status: transactions tried (a group of events each),
 * events in them, transactions that failed, queries answered, appends
 * refused (queue full, out of memory, stopping). */
struct storeq_stats {
	uint64_t batches;
	uint64_t events;
	uint64_t failed_batches;
	uint64_t queries;
	uint64_t refused;
};
void storeq_get_stats(struct storeq *q, struct storeq_stats *out);

/* Writes what is queued, stops the worker, calls back (on the caller's
 * thread, before returning) for every outcome and answer not yet delivered,
 * and closes the store. Call it on the loop's thread, not from a storeq
 * callback, before base is freed. Appends and queries made by those last
 * callbacks return -1. q may be NULL. */
void storeq_stop(struct storeq *q);

#endif /* UL_STOREQ_H */
