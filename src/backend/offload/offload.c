/* SPDX-License-Identifier: MIT */
/*
 * offload.c - a worker thread and an eventfd (see offload.h).
 *
 * The worker takes jobs from `todo`, runs them and appends them to `done`,
 * then writes the eventfd; the loop's event reads it and runs done() for
 * what is on the list. One mutex guards both lists; done() runs without it.
 * libevent needs no thread support: the worker touches no libevent object.
 */
#include "offload.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct offload {
	struct event *ev; /* the loop's side of efd */
	int efd;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;
	pthread_cond_t wake; /* a job was queued, or stop */
	pthread_cond_t idle; /* a job finished (for drain) */
	struct offload_job *todo, **todo_tail;
	struct offload_job *done, **done_tail;
	bool stop;
	unsigned pending; /* submitted, done() not run yet: loop thread only */
	unsigned running; /* in todo or being run: under lock */
};

static void *worker(void *arg)
{
	struct offload *o = arg;
	struct offload_job *job;
	uint64_t one = 1;

	pthread_mutex_lock(&o->lock);
	for (;;) {
		while (!o->todo && !o->stop)
			pthread_cond_wait(&o->wake, &o->lock);
		job = o->todo;
		if (!job)
			break; /* stop, and nothing left */
		o->todo = job->next;
		if (!o->todo)
			o->todo_tail = &o->todo;
		pthread_mutex_unlock(&o->lock);
		job->run(job);
		pthread_mutex_lock(&o->lock);
		job->next = NULL;
		*o->done_tail = job;
		o->done_tail = &job->next;
		o->running--;
		pthread_cond_broadcast(&o->idle);
		/* A full eventfd counter cannot happen (one add per job). */
		if (write(o->efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
			/* Nothing to do: drain() still finds the job. */
		}
	}
	pthread_mutex_unlock(&o->lock);
	return NULL;
}

/* Runs done() for every finished job, in order. */
static void run_done(struct offload *o)
{
	struct offload_job *list, *job;

	pthread_mutex_lock(&o->lock);
	list = o->done;
	o->done = NULL;
	o->done_tail = &o->done;
	pthread_mutex_unlock(&o->lock);
	while ((job = list) != NULL) {
		list = job->next;
		job->next = NULL;
		o->pending--;
		job->done(job);
	}
}

static void on_eventfd(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: a drain() already took the jobs. */
	}
	run_done(arg);
}

struct offload *offload_new(struct event_base *base)
{
	struct offload *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (o->efd < 0)
		goto fail;
	o->ev = event_new(base, o->efd, EV_READ | EV_PERSIST, on_eventfd, o);
	if (!o->ev || event_add(o->ev, NULL) < 0)
		goto fail;
	pthread_mutex_init(&o->lock, NULL);
	pthread_cond_init(&o->wake, NULL);
	pthread_cond_init(&o->idle, NULL);
	o->todo_tail = &o->todo;
	o->done_tail = &o->done;
	return o;
fail:
	if (o->ev)
		event_free(o->ev);
	if (o->efd >= 0)
		close(o->efd);
	free(o);
	return NULL;
}

int offload_submit(struct offload *o, struct offload_job *job)
{
	if (!o->started) {
		if (pthread_create(&o->thread, NULL, worker, o) != 0)
			return -1;
		o->started = true;
	}
	job->next = NULL;
	pthread_mutex_lock(&o->lock);
	*o->todo_tail = job;
	o->todo_tail = &job->next;
	o->running++;
	pthread_cond_signal(&o->wake);
	pthread_mutex_unlock(&o->lock);
	o->pending++;
	return 0;
}

unsigned offload_pending(const struct offload *o)
{
	return o ? o->pending : 0;
}

void offload_drain(struct offload *o)
{
	if (!o)
		return;
	while (o->pending > 0) {
		pthread_mutex_lock(&o->lock);
		while (o->running > 0 && !o->done)
			pthread_cond_wait(&o->idle, &o->lock);
		pthread_mutex_unlock(&o->lock);
		run_done(o);
	}
}

void offload_free(struct offload *o)
{
	if (!o)
		return;
	offload_drain(o);
	if (o->started) {
		pthread_mutex_lock(&o->lock);
		o->stop = true;
		pthread_cond_signal(&o->wake);
		pthread_mutex_unlock(&o->lock);
		pthread_join(o->thread, NULL);
	}
	event_free(o->ev);
	close(o->efd);
	pthread_cond_destroy(&o->idle);
	pthread_cond_destroy(&o->wake);
	pthread_mutex_destroy(&o->lock);
	free(o);
}
