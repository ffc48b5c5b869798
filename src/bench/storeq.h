/* SPDX-License-Identifier: MIT */
/*
 * storeq.h - the store on its own worker thread, so that disk I/O never
 * runs in the event loop. The loop hands events over (a copy is queued);
 * the worker writes everything queued in one transaction (group commit) and
 * reports back on the loop's thread which events are durable. Queries run
 * on the same worker, in order with the writes, and answer on the loop.
 */
#ifndef UL_STOREQ_H
#define UL_STOREQ_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "store.h"

struct storeq;

/* Called on the loop's thread: every event with seq <= seq was written
 * (rc 0) or failed to be (rc -1, nothing of that batch is on disk). */
typedef void (*storeq_committed_fn)(void *arg, uint64_t seq, int rc);

/* Starts the worker over an opened store s (storeq owns it from now on and
 * closes it in storeq_stop). Returns 0, or -1 with a reason in err. */
int storeq_start(struct storeq **out, struct event_base *base, const struct store_ops *ops,
                 struct store *s, storeq_committed_fn committed, void *arg, char *err,
                 size_t errlen);

/* Queues a copy of ev (ev->seq must grow from call to call). Never blocks
 * on disk. Returns 0, or -1 when out of memory. */
int storeq_append(struct storeq *q, const struct ul_event *ev);

/* Runs query q on the worker after every write queued before it; cb gets the
 * result on the loop's thread (evs is freed after cb returns). Returns 0 or
 * -1. */
typedef void (*storeq_events_fn)(void *arg, int rc, const struct ul_event *evs, size_t n,
                                 const char *err);
int storeq_query_events(struct storeq *q, const struct store_query *qr, storeq_events_fn cb,
                        void *arg);

/* Writes what is queued, stops the worker and closes the store. */
void storeq_stop(struct storeq *q);

#endif /* UL_STOREQ_H */
