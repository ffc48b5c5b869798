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
#include <event2/util.h>

#include "bench.h"
#include "ul_log.h"

/* Bytes read from a socket in one call. */
#define DCONN_INBUF (256 * 1024)

struct dconn {
	struct usbip_conn core;
	struct usblabd *d;
	evutil_socket_t fd;
	struct event *ev_read, *ev_write, *ev_destroy;
	struct evbuffer *out; /* what the socket did not take at once */
	struct dconn *next, *prev;
	uint8_t *in; /* DCONN_INBUF bytes; [in_off, in_have) not yet fed */
	size_t in_off, in_have;
	char peer[64];
	bool closing;     /* the core ended the connection */
	bool flush_first; /* ... normally: destroy once output is sent */
	bool gone;        /* ended by an error or a vanished peer, not a normal close */
	char why[64];     /* why it ended, for the bench's event */
	bool reading;     /* ev_read is armed */
	bool writing;     /* ev_write is armed */
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
	if (c->core.exp && d->bench)
		bench_released(d->bench, c->peer, c->core.exp, c->gone, c->why[0] ? c->why : NULL);
	/* Core first (cancels URBs), then the output: freeing it runs the
	 * cleanup of every URB still queued in it. */
	usbip_conn_destroy(&c->core);
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_destroy);
	evbuffer_free(c->out);
	evutil_closesocket(c->fd);
	free(c->in);
	d->nclients--;
	free(c);
}

static void on_destroy(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

/* Ends the connection from the transport side (peer gone, socket error).
 * Deferred, since this may run inside the core's send(). */
static void conn_drop(struct dconn *c, const char *why)
{
	if (!c->closing) {
		if (c->core.exp)
			ul_info("net", "client %s released %s (%s)", c->peer,
			        c->core.exp->info.busid, why);
		else
			ul_debug("net", "client %s closed (%s)", c->peer, why);
		c->gone = strcmp(why, "peer closed") != 0;
		snprintf(c->why, sizeof(c->why), "%s", why);
	}
	c->closing = true;
	c->flush_first = false;
	event_del(c->ev_read);
	event_del(c->ev_write);
	event_active(c->ev_destroy, EV_TIMEOUT, 0);
}

/* Reading goes on only while the core takes input and the output queue is
 * under its bound (STYLE: never grow a queue without a bound). */
static void update_read_state(struct dconn *c)
{
	bool want = !c->closing && usbip_conn_wants_input(&c->core) &&
	            evbuffer_get_length(c->out) < c->d->max_out_queue;

	if (want == c->reading)
		return;
	c->reading = want;
	if (!want) {
		event_del(c->ev_read);
		return;
	}
	event_add(c->ev_read, NULL);
	/* Bytes left over from before the pause raise no new read event. */
	if (c->in_have > c->in_off)
		event_active(c->ev_read, EV_READ, 0);
}

/* Feeds buffered input to the core. Returns false when it stalled. */
static bool feed_core(struct dconn *c)
{
	while (!c->closing && c->in_have > c->in_off) {
		long r = usbip_conn_feed(&c->core, c->in + c->in_off, c->in_have - c->in_off);

		if (r < 0) {
			c->in_off = c->in_have = 0;
			return false;
		}
		if (r == 0)
			return false;
		c->in_off += (size_t)r;
	}
	if (c->in_off == c->in_have)
		c->in_off = c->in_have = 0;
	return true;
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct dconn *c = arg;
	ssize_t n;

	(void)what;
	/* Leftover first (after a pause), then one read() straight into our
	 * buffer: no FIONREAD round trip as evbuffer_read() makes. */
	if (c->in_have > c->in_off && !feed_core(c)) {
		update_read_state(c);
		return;
	}
	if (c->in_have == DCONN_INBUF) {
		update_read_state(c);
		return;
	}
	n = recv(fd, c->in + c->in_have, DCONN_INBUF - c->in_have, 0);
	if (n == 0) {
		conn_drop(c, "peer closed");
		return;
	}
	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			conn_drop(c, strerror(errno));
		return;
	}
	c->in_have += (size_t)n;
	feed_core(c);
	if (c->in_off > 0 && c->in_have > c->in_off) {
		/* Keep room for the next read: move the unfed tail down. */
		memmove(c->in, c->in + c->in_off, c->in_have - c->in_off);
		c->in_have -= c->in_off;
		c->in_off = 0;
	}
	update_read_state(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct dconn *c = arg;

	(void)what;
	if (evbuffer_write(c->out, fd) < 0 && errno != EAGAIN && errno != EINTR) {
		conn_drop(c, strerror(errno));
		return;
	}
	if (evbuffer_get_length(c->out) > 0)
		return;
	event_del(c->ev_write);
	c->writing = false;
	if (c->closing) {
		if (c->flush_first)
			event_active(c->ev_destroy, EV_TIMEOUT, 0);
		return;
	}
	update_read_state(c);
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

/*
 * Replies go to the socket at once when nothing is queued before them: one
 * send() per reply, no loop pass, no epoll_ctl (the kernel's stub has no
 * such costs either). What the socket does not take is queued, the URB's
 * wire image by reference (zero copy), and sent when it is writable.
 */
static int srv_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb)
{
	struct dconn *c = conn->transport;
	ssize_t n = 0;
	int rc;

	if (c->closing && !c->flush_first) {
		if (urb)
			usbip_urb_free(urb);
		return USBIP_E_CLOSED;
	}
	if (evbuffer_get_length(c->out) == 0) {
		n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
				if (urb)
					usbip_urb_free(urb);
				conn_drop(c, strerror(errno));
				return USBIP_E_CLOSED;
			}
			n = 0;
		}
		if ((size_t)n == len) {
			if (urb)
				usbip_urb_free(urb);
			/* A reply may lift what paused reading (a URB limit, a
			 * special request or an open in progress). */
			update_read_state(c);
			return 0;
		}
	}
	if (urb) {
		rc = evbuffer_add_reference(c->out, (const uint8_t *)buf + n, len - (size_t)n,
		                            urb_cleanup, urb);
		if (rc < 0)
			usbip_urb_free(urb);
	} else {
		rc = evbuffer_add(c->out, (const uint8_t *)buf + n, len - (size_t)n);
	}
	if (rc < 0)
		return USBIP_E_NOMEM;
	if (!c->writing) {
		event_add(c->ev_write, NULL);
		c->writing = true;
	}
	update_read_state(c);
	return 0;
}

static void srv_close(struct usbip_conn *conn, int reason)
{
	struct dconn *c = conn->transport;

	if (reason < 0) {
		ul_warn("net", "client %s: closing connection: %s (%s)", c->peer,
		        conn->error ? conn->error : "error", usbip_strerror(reason));
		c->gone = reason != USBIP_E_CLOSED;
		snprintf(c->why, sizeof(c->why), "%s", conn->error ? conn->error : "error");
	}
	c->closing = true;
	c->reading = false;
	event_del(c->ev_read);
	/* A normal end (after an OP reply) flushes first; an error or a device
	 * that went away closes at once so the client sees it now. */
	if (reason == 0 && evbuffer_get_length(c->out) > 0) {
		c->flush_first = true;
		return;
	}
	event_active(c->ev_destroy, EV_TIMEOUT, 0);
}

static void srv_imported(struct usbip_conn *conn, struct usbip_export *exp)
{
	struct dconn *c = conn->transport;

	ul_info("net", "client %s imported %s (%04x:%04x, %s)", c->peer, exp->info.busid,
	        exp->info.idVendor, exp->info.idProduct, exp->ops->name);
	if (c->d->bench)
		bench_imported(c->d->bench, c->peer, exp);
}

static void srv_unimported(struct usbip_export *exp)
{
	ul_info("net", "%s is free again", exp->info.busid);
}

/* Names, leases and tokens are the bench's business (bench.c). */
static int srv_import_lookup(struct usbip_conn *conn, const char *requested,
                             struct usbip_export **exp)
{
	struct dconn *c = conn->transport;

	if (!c->d->bench) {
		*exp = usbip_server_find_busid(&c->d->srv, requested);
		return USBIP_ST_OK;
	}
	return bench_import_lookup(c->d->bench, c->peer, requested, exp);
}

static void srv_import_refused(struct usbip_conn *conn, const char *requested, int status)
{
	struct dconn *c = conn->transport;

	ul_info("net", "client %s: import of '%s' refused (%s)", c->peer, requested,
	        status == USBIP_ST_DEV_BUSY ? "busy or leased"
	        : status == USBIP_ST_NODEV  ? "no such device"
	                                    : "the device refused");
	if (c->d->bench)
		bench_import_refused(c->d->bench, c->peer, requested, status);
}

static void srv_exported(struct usbip_export *exp)
{
	struct usblabd *d = exp->srv->ctx;

	if (d->bench)
		bench_exported(d->bench, exp);
}

static void srv_unexported(struct usbip_export *exp)
{
	struct usblabd *d = exp->srv->ctx;

	if (d->bench)
		bench_unexported(d->bench, exp);
}

const struct usbip_server_ops dconn_server_ops = {
        .alloc = srv_alloc,
        .free = srv_free,
        .send = srv_send,
        .close = srv_close,
        .imported = srv_imported,
        .unimported = srv_unimported,
        .import_lookup = srv_import_lookup,
        .import_refused = srv_import_refused,
        .exported = srv_exported,
        .unexported = srv_unexported,
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
	c->fd = fd;
	memcpy(c->peer, peer, sizeof(peer));
	c->in = malloc(DCONN_INBUF);
	c->out = evbuffer_new();
	c->ev_read = event_new(d->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(d->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->ev_destroy = event_new(d->base, -1, 0, on_destroy, c);
	if (!c->in || !c->out || !c->ev_read || !c->ev_write || !c->ev_destroy ||
	    evutil_make_socket_nonblocking(fd) < 0)
		goto fail;
	set_socket_options(fd);
	usbip_conn_init(&d->srv, &c->core, c);
	if (event_add(c->ev_read, NULL) < 0)
		goto fail;
	c->reading = true;
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
		if (c->ev_read)
			event_free(c->ev_read);
		if (c->ev_write)
			event_free(c->ev_write);
		if (c->ev_destroy)
			event_free(c->ev_destroy);
		if (c->out)
			evbuffer_free(c->out);
		free(c->in);
		free(c);
	}
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
