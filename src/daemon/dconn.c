/* SPDX-License-Identifier: MIT */
/*
 * dconn.c - usblabd's connections: the libevent transport under the
 * usbip server core. One struct dconn per client, passed as the callbacks'
 * argument; reading pauses while the core is at a limit or the output
 * queue is above its bound, and resumes when either drains.
 */
#include "daemon.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/util.h>

#include "ul_log.h"

struct dconn {
	struct usbip_conn core;
	struct usblabd *d;
	struct bufferevent *bev;
	struct event *ev_destroy;
	struct dconn *next, *prev;
	char peer[64];
	bool closing;     /* the core ended the connection */
	bool flush_first; /* ... normally: destroy once output is sent */
	bool read_enabled;
};

static void conn_free(struct dconn *c)
{
	struct usblabd *d = c->d;

	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	/* Core first (cancels URBs), then the socket: freeing the output
	 * buffer runs the cleanup of every URB still queued in it. */
	usbip_conn_destroy(&c->core);
	bufferevent_free(c->bev);
	event_free(c->ev_destroy);
	d->nclients--;
	free(c);
}

static void on_destroy(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

/* Reading goes on only while the core takes input and the output queue is
 * under its bound (STYLE: never grow a queue without a bound). */
static void update_read_state(struct dconn *c)
{
	size_t out = evbuffer_get_length(bufferevent_get_output(c->bev));
	bool want = !c->closing && usbip_conn_wants_input(&c->core) && out < c->d->max_out_queue;

	if (want == c->read_enabled)
		return;
	c->read_enabled = want;
	if (want) {
		bufferevent_enable(c->bev, EV_READ);
		/* Bytes that arrived while paused raise no new read event. */
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
			bufferevent_trigger(c->bev, EV_READ,
			                    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
	} else {
		bufferevent_disable(c->bev, EV_READ);
	}
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct dconn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->closing && evbuffer_get_length(in) > 0) {
		struct evbuffer_iovec v[16];
		int n = evbuffer_peek(in, -1, NULL, v, 16);
		size_t used = 0;
		bool stalled = false;

		for (int i = 0; i < n && i < 16; i++) {
			long r = usbip_conn_feed(&c->core, v[i].iov_base, v[i].iov_len);

			if (r < 0) {
				evbuffer_drain(in, evbuffer_get_length(in));
				return;
			}
			used += (size_t)r;
			if ((size_t)r < v[i].iov_len) {
				stalled = true;
				break;
			}
		}
		evbuffer_drain(in, used);
		if (stalled || used == 0)
			break;
	}
	update_read_state(c);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct dconn *c = arg;

	if (c->closing) {
		if (c->flush_first && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			event_active(c->ev_destroy, EV_TIMEOUT, 0);
		return;
	}
	update_read_state(c);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct dconn *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		if (!c->closing) {
			if (c->core.exp)
				ul_info("net", "client %s released %s (%s)", c->peer,
				        c->core.exp->info.busid,
				        what & BEV_EVENT_EOF ? "peer closed"
				                             : evutil_socket_error_to_string(
				                                       EVUTIL_SOCKET_ERROR()));
			else
				ul_debug("net", "client %s closed", c->peer);
		}
		conn_free(c);
	}
}

static void urb_cleanup(const void *data, size_t len, void *extra)
{
	(void)data;
	(void)len;
	usbip_urb_free(extra);
}

/* ---- usbip_server_ops --------------------------------------------------- */

static void *srv_alloc(void *ctx, size_t size)
{
	struct usblabd *d = ctx;
	void *p;

	if (d->urb_bytes > 0 && d->urb_bytes + size > d->max_urb_bytes) {
		ul_warn("net", "URB memory budget of %zu bytes reached", d->max_urb_bytes);
		return NULL;
	}
	p = malloc(size);
	if (p)
		d->urb_bytes += size;
	return p;
}

static void srv_free(void *ctx, void *ptr, size_t size)
{
	struct usblabd *d = ctx;

	d->urb_bytes -= size;
	free(ptr);
}

static int srv_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb)
{
	struct dconn *c = conn->transport;
	struct evbuffer *out = bufferevent_get_output(c->bev);
	int rc;

	if (urb) {
		/* Zero copy: the URB's wire image is queued as is and freed by
		 * urb_cleanup once written (or when the connection goes). */
		rc = evbuffer_add_reference(out, buf, len, urb_cleanup, urb);
		if (rc < 0)
			usbip_urb_free(urb);
	} else {
		rc = evbuffer_add(out, buf, len);
	}
	if (rc < 0)
		return USBIP_E_NOMEM;
	update_read_state(c);
	return 0;
}

static void srv_close(struct usbip_conn *conn, int reason)
{
	struct dconn *c = conn->transport;

	if (reason < 0)
		ul_warn("net", "client %s: closing connection: %s (%s)", c->peer,
		        conn->error ? conn->error : "error", usbip_strerror(reason));
	c->closing = true;
	c->read_enabled = false;
	bufferevent_disable(c->bev, EV_READ);
	/* A normal end (after an OP reply) flushes first; an error or a device
	 * that went away closes at once so the client sees it now. */
	if (reason == 0 && evbuffer_get_length(bufferevent_get_output(c->bev)) > 0) {
		c->flush_first = true;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		return;
	}
	event_active(c->ev_destroy, EV_TIMEOUT, 0);
}

static void srv_imported(struct usbip_conn *conn, struct usbip_export *exp)
{
	struct dconn *c = conn->transport;

	ul_info("net", "client %s imported %s (%04x:%04x, %s)", c->peer, exp->info.busid,
	        exp->info.idVendor, exp->info.idProduct, exp->ops->name);
}

static void srv_unimported(struct usbip_export *exp)
{
	ul_info("net", "%s is free again", exp->info.busid);
}

const struct usbip_server_ops dconn_server_ops = {
        .alloc = srv_alloc,
        .free = srv_free,
        .send = srv_send,
        .close = srv_close,
        .imported = srv_imported,
        .unimported = srv_unimported,
};

/* ---- listener ----------------------------------------------------------- */

static void set_socket_options(evutil_socket_t fd)
{
	int one = 1, idle = 30, intvl = 10, cnt = 3;

	/* Both Linux sides set TCP_NODELAY; the protocol has no heartbeat, so
	 * keepalive (about 60 s here) is how a dead client is noticed (§1, §7.11). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void format_peer(const struct sockaddr *sa, char *out, size_t cap)
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

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
	struct usblabd *d = arg;
	struct dconn *c;
	char peer[64];

	(void)l;
	(void)salen;
	format_peer(sa, peer, sizeof(peer));
	if (d->nclients >= d->max_clients) {
		ul_warn("net", "refusing %s: %u clients already (--max-clients)", peer,
		        d->nclients);
		evutil_closesocket(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->d = d;
	memcpy(c->peer, peer, sizeof(peer));
	c->bev = bufferevent_socket_new(d->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev)
		goto fail;
	fd = -1; /* the bufferevent owns it now */
	c->ev_destroy = event_new(d->base, -1, 0, on_destroy, c);
	if (!c->ev_destroy)
		goto fail;
	set_socket_options(bufferevent_getfd(c->bev));
	/* libevent moves at most 16 KiB per read or write call by default, so
	 * a 64 KiB reply took five loop passes: measured 64% of plain TCP. */
	bufferevent_set_max_single_write(c->bev, 1 << 20);
	bufferevent_set_max_single_read(c->bev, 1 << 20);
	usbip_conn_init(&d->srv, &c->core, c);
	bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, d->max_out_queue / 2, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	c->read_enabled = true;
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	d->nclients++;
	d->nconn_total++;
	ul_debug("net", "client %s connected", peer);
	return;
fail:
	ul_error("net", "refusing %s: out of memory", peer);
	if (c) {
		if (c->bev)
			bufferevent_free(c->bev);
		free(c);
	}
	if (fd >= 0)
		evutil_closesocket(fd);
}

static void on_listener_error(struct evconnlistener *l, void *arg)
{
	int e = EVUTIL_SOCKET_ERROR();

	(void)l;
	(void)arg;
	/* EMFILE and friends: log and keep serving the clients we have. */
	ul_error("net", "accept failed: %s", evutil_socket_error_to_string(e));
}

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

int dconn_listen(struct usblabd *d, const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss);
	char host[64];

	if (parse_listen_addr(addr, &ss, &sslen) < 0) {
		snprintf(err, errlen,
		         "cannot parse listen address '%s' (want HOST:PORT, [IPV6]:PORT or PORT "
		         "with a numeric address)",
		         addr);
		return -1;
	}
	d->listener = evconnlistener_new_bind(d->base, on_accept, d,
	                                      LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
	                                              LEV_OPT_CLOSE_ON_EXEC,
	                                      64, (struct sockaddr *)&ss, sslen);
	if (!d->listener) {
		snprintf(err, errlen, "cannot listen on %s: %s", addr, strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(d->listener, on_listener_error);
	/* Report the real port (the user may have asked for port 0). */
	sslen = sizeof(ss);
	getsockname(evconnlistener_get_fd(d->listener), (struct sockaddr *)&ss,
	            (socklen_t *)&sslen);
	format_peer((struct sockaddr *)&ss, host, sizeof(host));
	ul_info("net", "listening on %s", host);
	return 0;
}

void dconn_shutdown(struct usblabd *d)
{
	if (d->listener) {
		evconnlistener_free(d->listener);
		d->listener = NULL;
	}
	while (d->conns)
		conn_free(d->conns);
}
