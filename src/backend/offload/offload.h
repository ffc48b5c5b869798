/* SPDX-License-Identifier: MIT */
/*
 * offload.h - one worker thread whose jobs complete back into the event
 * loop: what may block (a libusb claim or reset, a file read) runs on the
 * worker, and the job's completion runs on the loop's thread, where the
 * rest of the daemon lives (STYLE: one loop owns every fd; callbacks never
 * block).
 *
 * A job's run() is called on the worker thread and may block; it must
 * touch only what the job owns (what its submitter handed over and will
 * not touch until done). Its done() is then called on the loop's thread,
 * from an event on an eventfd that the loop watches. Jobs of one offload
 * run one at a time, in the order submitted, and their done() calls come
 * in the same order. Use one offload per device so a slow device holds up
 * only itself.
 */
#ifndef OFFLOAD_H
#define OFFLOAD_H

#include <event2/event.h>

struct offload;

struct offload_job {
	/* On the worker thread; may block. Required. */
	void (*run)(struct offload_job *job);
	/* Then on the loop's thread. It may submit new jobs, never free the
	 * offload. Required. */
	void (*done)(struct offload_job *job);

	/* Private to offload. */
	struct offload_job *next;
};

/* Creates an offload whose completions arrive through base. The thread
 * starts with the first job. Returns NULL when out of memory or fds. */
struct offload *offload_new(struct event_base *base);

/* Queues job (the offload holds it until its done() has run). Returns 0,
 * or -1 when the worker thread cannot be started (the job was not taken:
 * the caller does the work itself). */
int offload_submit(struct offload *o, struct offload_job *job);

/* Jobs submitted whose done() has not run yet. */
unsigned offload_pending(const struct offload *o);

/* Waits for every job, including jobs that done() calls submit, and runs
 * their done() on the calling thread (the loop's). For shutdown paths,
 * where blocking is allowed. */
void offload_drain(struct offload *o);

/* Drains, stops the thread and frees o. NULL is accepted. */
void offload_free(struct offload *o);

#endif /* OFFLOAD_H */
