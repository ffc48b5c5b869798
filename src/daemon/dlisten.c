/* SPDX-License-Identifier: MIT */
/*
 * dlisten.c - usblabd's listeners and admission, modelled on nginx and
 * HAProxy: the connections that have not imported a device yet have their
 * own cap (--max-op-clients), and when it, --max-clients or the
 * per-address cap (--max-per-source) is full, the oldest such connection
 * is closed to admit the newcomer. A connection that imported a device is
 * never evicted; when every slot holds one, the newcomer is refused. When
 * accept() fails for lack of descriptors, accepting pauses for a moment
 * instead of spinning on the connection left in the backlog.
 */
#include "dconn.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/listener.h>
#include <event2/util.h>

/* Accepting pauses this long when the process is out of descriptors. */
#define DLISTEN_PAUSE_MS 500

/* ---- admission ---------------------------------------------------------- */

static void dlisten_format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		evutil_inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		evutil_inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "[%s]:%u", host, port);
	} else {
		snprintf(out, cap, "?");
	}
}

static bool same_source(const struct sockaddr_storage *a, const struct sockaddr *b)
{
	if (a->ss_family != b->sa_family)
		return false;
	if (b->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)(const void *)b)->sin_addr.s_addr;
	if (b->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		              &((const struct sockaddr_in6 *)(const void *)b)->sin6_addr,
		              sizeof(struct in6_addr)) == 0;
	return false;
}

/*
 * Picks the connection to close so that a newcomer from sa can be served,
 * or NULL when none is needed; *refuse is set when the newcomer cannot be
 * served at all. Only connections that have not imported are candidates,
 * the oldest first: a client using a device is never evicted.
 */
static struct dconn *pick_victim(struct usblabd *d, const struct sockaddr *sa, bool *refuse,
                                 const char **why)
{
	struct dconn *oldest_op = NULL, *oldest_src_op = NULL;
	unsigned from_src = 0;

	*refuse = false;
	for (struct dconn *c = d->conns; c; c = c->next) {
		bool src = same_source(&c->addr, sa);

		from_src += src;
		if (c->imported)
			continue;
		oldest_op = c; /* the list is newest first */
		if (src)
			oldest_src_op = c;
	}
	if (from_src >= d->max_per_source) {
		*why = "--max-per-source";
		*refuse = !oldest_src_op;
		return oldest_src_op;
	}
	if (d->nclients >= d->max_clients || d->nop >= d->max_op_clients) {
		*why = d->nclients >= d->max_clients ? "--max-clients" : "--max-op-clients";
		*refuse = !oldest_op;
		return oldest_op;
	}
	return NULL;
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
	struct usblabd *d = arg;
	struct dconn *victim;
	const char *why = "";
	char peer[64];
	bool refuse;

	(void)l;
	dlisten_format_peer(sa, peer, sizeof(peer));
	victim = pick_victim(d, sa, &refuse, &why);
	if (refuse) {
		ul_warn_limited(&d->lim_refuse, "net",
		                "refusing %s: %u clients, all of them using devices (%s)", peer,
		                d->nclients, why);
		evutil_closesocket(fd);
		return;
	}
	if (victim) {
		ul_info_limited(&d->lim_evict, "net",
		                "closing %s (not importing after %llu ms) to admit %s (%s)",
		                victim->peer, (unsigned long long)dconn_age_ms(victim), peer, why);
		d->nevicted++;
		dconn_free(victim);
	}
	if (dconn_accept(d, fd, sa, salen, peer) < 0) {
		ul_error("net", "refusing %s: out of memory", peer);
		evutil_closesocket(fd);
	}
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	struct usblabd *d = arg;

	(void)fd;
	(void)what;
	d->accept_paused = false;
	for (unsigned i = 0; i < d->nlisteners; i++)
		evconnlistener_enable(d->listeners[i]);
}

static void on_listener_error(struct evconnlistener *l, void *arg)
{
	struct usblabd *d = arg;
	int e = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {0, DLISTEN_PAUSE_MS * 1000};

	(void)l;
	if (e != EMFILE && e != ENFILE && e != ENOBUFS && e != ENOMEM) {
		ul_warn_limited(&d->lim_accept, "net", "accept failed: %s",
		                evutil_socket_error_to_string(e));
		return;
	}
	/* The connection stays in the backlog, so the listener would fire
	 * again at once: stop accepting for a moment and keep serving the
	 * clients we have. */
	ul_warn_limited(&d->lim_accept, "net",
	                "accept failed: %s (%u clients): not accepting for %u ms",
	                evutil_socket_error_to_string(e), d->nclients, DLISTEN_PAUSE_MS);
	d->accept_paused = true;
	for (unsigned i = 0; i < d->nlisteners; i++)
		evconnlistener_disable(d->listeners[i]);
	evtimer_add(d->ev_accept_resume, &tv);
}

/* ---- listeners ---------------------------------------------------------- */

/* Parses "HOST:PORT", "[V6]:PORT" or "PORT" (every IPv4 address) into ss.
 * libevent's parser refuses port 0, which asks the kernel for a free port. */
static int parse_listen_addr(const char *addr, struct sockaddr_storage *ss, int *sslen)
{
	char host[INET6_ADDRSTRLEN + 1] = "0.0.0.0";
	const char *port = addr, *colon;
	char *end;
	unsigned long p;

	memset(ss, 0, sizeof(*ss));
	if (addr[0] == '[') {
		const char *rb = strchr(addr, ']');

		if (!rb || rb[1] != ':' || (size_t)(rb - addr - 1) >= sizeof(host))
			return -1;
		memcpy(host, addr + 1, (size_t)(rb - addr - 1));
		host[rb - addr - 1] = 0;
		port = rb + 2;
	} else if ((colon = strrchr(addr, ':'))) {
		if ((size_t)(colon - addr) >= sizeof(host))
			return -1;
		memcpy(host, addr, (size_t)(colon - addr));
		host[colon - addr] = 0;
		port = colon + 1;
	}
	p = strtoul(port, &end, 10);
	if (!*port || *end || p > 65535)
		return -1;
	if (strchr(host, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)p);
		*sslen = sizeof(*in6);
		return evutil_inet_pton(AF_INET6, host, &in6->sin6_addr) == 1 ? 0 : -1;
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)p);
		*sslen = sizeof(*in);
		if (strcmp(host, "localhost") == 0)
			strcpy(host, "127.0.0.1");
		return evutil_inet_pton(AF_INET, host, &in->sin_addr) == 1 ? 0 : -1;
	}
}

bool dlisten_addr_valid(const char *addr)
{
	struct sockaddr_storage ss;
	int sslen;

	return parse_listen_addr(addr, &ss, &sslen) == 0;
}

int dlisten_open(struct usblabd *d, const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	struct evconnlistener *l;
	char host[64];

	if (parse_listen_addr(addr, &ss, &sslen) < 0) {
		snprintf(err, errlen,
		         "cannot parse listen address '%s' (want HOST:PORT, [IPV6]:PORT or PORT "
		         "with a numeric address)",
		         addr);
		return -2;
	}
	if (!d->ev_accept_resume) {
		d->ev_accept_resume = evtimer_new(d->base, on_accept_resume, d);
		if (!d->ev_accept_resume) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
	}
	if (d->nlisteners >= DAEMON_MAX_LISTENERS) {
		snprintf(err, errlen, "at most %d --listen addresses", DAEMON_MAX_LISTENERS);
		return -2;
	}
	/* IPv6 sockets serve IPv6 only, so that 0.0.0.0 and [::] can both be
	 * listened on (LEV_OPT_BIND_IPV6ONLY). */
	l = evconnlistener_new_bind(d->base, on_accept, d,
	                            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	                                    LEV_OPT_CLOSE_ON_EXEC |
	                                    (ss.ss_family == AF_INET6 ? LEV_OPT_BIND_IPV6ONLY : 0),
	                            128, (struct sockaddr *)&ss, sslen);
	if (!l) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
		return -1;
	}
	d->listeners[d->nlisteners++] = l;
	evconnlistener_set_error_cb(l, on_listener_error);
	/* Report the real port (the user may have asked for port 0). */
	sslen = sizeof(ss);
	getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&ss, (socklen_t *)&sslen);
	dlisten_format_peer((struct sockaddr *)&ss, host, sizeof(host));
	ul_info("net", "listening on %s", host);
	return 0;
}

void dlisten_close(struct usblabd *d)
{
	for (unsigned i = 0; i < d->nlisteners; i++)
		evconnlistener_free(d->listeners[i]);
	d->nlisteners = 0;
	if (d->ev_accept_resume)
		event_free(d->ev_accept_resume);
	d->ev_accept_resume = NULL;
}
