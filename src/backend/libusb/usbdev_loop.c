/* SPDX-License-Identifier: MIT */
/*
 * usbdev_loop.c - libusb inside the daemon's one libevent loop.
 *
 * libusb announces its fds (its own event fd, a timerfd, one usbfs fd per
 * open device) through pollfd notifiers; each becomes a persistent libevent
 * event. When any is ready, libusb_handle_events_timeout_completed() with a
 * zero timeout runs completions and hotplug callbacks without blocking. When
 * libusb's fds do not carry its timeouts (no timerfd), a libevent timer
 * follows libusb_get_next_timeout(). No thread of ours is involved.
 */
#include <poll.h>
#include <stdlib.h>

#include "ul_log.h"
#include "usbdev_int.h"

static void on_libusb_fd(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	usbdev_loop_handle(arg);
}

static void on_libusb_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	usbdev_loop_handle(arg);
}

static short libevent_flags(short poll_events)
{
	short flags = EV_PERSIST;

	/* usbfs fds signal completions as POLLOUT. POLLERR/POLLHUP (a device
	 * gone) are always reported by epoll and libevent turns them into
	 * EV_READ|EV_WRITE, so they reach on_libusb_fd too. */
	if (poll_events & POLLIN)
		flags |= EV_READ;
	if (poll_events & POLLOUT)
		flags |= EV_WRITE;
	return flags;
}

/* Whether libusb calls a notifier on a thread other than the loop's (a
 * device opened on its worker): libevent is not ours to touch there. */
static bool off_loop(struct usbdev_ctx *ctx)
{
	if (pthread_equal(pthread_self(), ctx->loop_thread))
		return false;
	atomic_store(&ctx->pollfds_stale, true);
	return true;
}

static void LIBUSB_CALL on_fd_added(int fd, short events, void *user_data)
{
	struct usbdev_ctx *ctx = user_data;
	struct usbdev_pollfd *p, *free_slot = NULL;

	if (off_loop(ctx))
		return;

	for (p = ctx->pollfds; p; p = p->next) {
		if (p->fd == fd)
			break;
		if (p->fd < 0 && free_slot == NULL)
			free_slot = p;
	}
	if (p == NULL)
		p = free_slot;
	if (p == NULL) {
		p = calloc(1, sizeof(*p));
		if (p == NULL)
			goto fail;
		p->ev = event_new(ctx->base, fd, libevent_flags(events), on_libusb_fd, ctx);
		if (p->ev == NULL) {
			free(p);
			goto fail;
		}
		p->next = ctx->pollfds;
		ctx->pollfds = p;
	} else {
		/* A reused slot, or new events for a known fd. */
		event_del(p->ev);
		event_assign(p->ev, ctx->base, fd, libevent_flags(events), on_libusb_fd, ctx);
	}
	p->fd = fd;
	if (event_add(p->ev, NULL) < 0)
		goto fail;
	return;
fail:
	ul_error("usb", "cannot watch libusb fd %d: out of memory", fd);
}

static void LIBUSB_CALL on_fd_removed(int fd, void *user_data)
{
	struct usbdev_ctx *ctx = user_data;

	if (off_loop(ctx))
		return;
	/* The slot is kept (not freed): libusb may remove an fd from inside
	 * that fd's own callback. */
	for (struct usbdev_pollfd *p = ctx->pollfds; p; p = p->next) {
		if (p->fd == fd) {
			event_del(p->ev);
			p->fd = -1;
			break;
		}
	}
	usbdev_fd_dropped(ctx, fd);
}

void usbdev_loop_resync(struct usbdev_ctx *ctx)
{
	const struct libusb_pollfd **fds;

	if (!atomic_exchange(&ctx->pollfds_stale, false))
		return;
	fds = libusb_get_pollfds(ctx->usb);
	if (fds == NULL) {
		ul_error("usb", "cannot list libusb's fds: out of memory");
		return;
	}
	/* Forget what libusb no longer has, then (re)watch what it has. */
	for (struct usbdev_pollfd *p = ctx->pollfds; p; p = p->next) {
		bool listed = false;

		for (size_t i = 0; fds[i] && !listed; i++)
			listed = fds[i]->fd == p->fd;
		if (p->fd >= 0 && !listed) {
			event_del(p->ev);
			p->fd = -1;
		}
	}
	for (size_t i = 0; fds[i]; i++) {
		bool known = false;

		for (struct usbdev_pollfd *p = ctx->pollfds; p && !known; p = p->next)
			known = p->fd == fds[i]->fd;
		if (!known)
			on_fd_added(fds[i]->fd, fds[i]->events, ctx);
	}
	libusb_free_pollfds(fds);
}

int usbdev_loop_start(struct usbdev_ctx *ctx)
{
	const struct libusb_pollfd **fds;

	ctx->timeout_ev = evtimer_new(ctx->base, on_libusb_timeout, ctx);
	if (ctx->timeout_ev == NULL)
		return -1;
	ctx->fds_carry_timeouts = libusb_pollfds_handle_timeouts(ctx->usb) != 0;
	libusb_set_pollfd_notifiers(ctx->usb, on_fd_added, on_fd_removed, ctx);
	/* The fds libusb opened before the notifiers were set. */
	fds = libusb_get_pollfds(ctx->usb);
	if (fds == NULL)
		return -1;
	for (size_t i = 0; fds[i]; i++)
		on_fd_added(fds[i]->fd, fds[i]->events, ctx);
	libusb_free_pollfds(fds);
	usbdev_loop_rearm(ctx);
	return 0;
}

void usbdev_loop_stop(struct usbdev_ctx *ctx)
{
	struct usbdev_pollfd *p, *next;

	if (ctx->usb)
		libusb_set_pollfd_notifiers(ctx->usb, NULL, NULL, NULL);
	for (p = ctx->pollfds; p; p = next) {
		next = p->next;
		event_free(p->ev);
		free(p);
	}
	ctx->pollfds = NULL;
	if (ctx->timeout_ev)
		event_free(ctx->timeout_ev);
	ctx->timeout_ev = NULL;
}

void usbdev_loop_rearm(struct usbdev_ctx *ctx)
{
	struct timeval tv;
	int r;

	if (ctx->fds_carry_timeouts || ctx->timeout_ev == NULL)
		return;
	r = libusb_get_next_timeout(ctx->usb, &tv);
	if (r == 1)
		evtimer_add(ctx->timeout_ev, &tv);
	else
		evtimer_del(ctx->timeout_ev);
}

void usbdev_loop_handle(struct usbdev_ctx *ctx)
{
	struct timeval zero = {0, 0};
	int r;

	r = libusb_handle_events_timeout_completed(ctx->usb, &zero, NULL);
	if (r < 0 && r != LIBUSB_ERROR_INTERRUPTED)
		ul_warn("usb", "libusb event handling: %s", libusb_strerror(r));
	usbdev_loop_rearm(ctx);
}
