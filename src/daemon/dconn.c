/* SPDX-License-Identifier: MIT */
/*
 * dconn.c - usblabd's connections: the libevent transport under the
 * usbip server core, with admission and memory control.
 *
 * One struct dconn per client, passed as the callbacks' argument.
 *
 * Admission (nginx and HAProxy are the models): a connection must finish
 * its OP request, and each URB's OUT data, within the deadline; the
 * connections still in the OP phase have their own cap, and when it (or
 * --max-clients, or the per-address cap) is full the oldest of them is
 * closed to admit the newcomer. A connection that imported a device is
 * never evicted: it gets TCP keepalive and TCP_USER_TIMEOUT instead, so a
 * client that vanished is noticed within 30 s and its device freed.
 *
 * Memory: every byte held for a connection (its URBs, the replies queued
 * for it, its receive buffer) is charged to it and to the global budget.
 * The daemon feeds the core one message at a time and admits a CMD_SUBMIT
 * only when its URB fits both; otherwise it stops reading that client
 * until memory is freed (back-pressure). The core's allocation therefore
 * never fails for the budget, and no client is closed for another's use.
 */
#include "daemon.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/buffer.h>
#include <event2/util.h>

/* Bytes read from a socket in one call; allocated at the first byte. */
#define DCONN_INBUF (64 * 1024)
/* What one charged block costs beyond its bytes: our header, malloc's
 * own, and the evbuffer chain that queues it. */
#define DCONN_BLOCK_COST 256
/* A connection's fixed cost: its struct, events and evbuffer. */
#define DCONN_FIXED_COST (sizeof(struct dconn) + 2048)
/* Keepalive on an imported connection: 10 s idle, then 4 probes 5 s
 * apart; TCP_USER_TIMEOUT bounds unacknowledged data the same way. */
#define DCONN_KEEPIDLE_S      10
#define DCONN_KEEPINTVL_S     5
#define DCONN_KEEPCNT         4
#define DCONN_USER_TIMEOUT_MS 30000
/* Accepting pauses this long when the process is out of descriptors. */
#define DCONN_ACCEPT_PAUSE_MS 500
/* malloc_trim() once this much was freed since the last one. */
#define DCONN_TRIM_BYTES (8u << 20)

struct dconn {
	struct usbip_conn core;
	struct usblabd *d;
	evutil_socket_t fd;
	struct event *ev_read, *ev_write, *ev_destroy, *ev_deadline;
	struct event *ev_closed; /* armed while reading is paused */
	struct evbuffer *out;    /* what the socket did not take at once */
	struct dconn *next, *prev;
	uint8_t *in; /* DCONN_INBUF bytes once used; [in_off, in_have) not yet fed */
	size_t in_off, in_have;
	struct usbip_export *exp; /* imported device, or NULL */
	struct sockaddr_storage addr;
	char peer[64];
	uint64_t accepted_ms;

	/* Framing: bytes of the current message not yet given to the core
	 * (0 at a message boundary), and the last header seen, for logs. */
	size_t frame_left, frame_size;
	uint8_t last[USBIP_HEADER_SIZE];
	size_t last_len;

	/* Memory charged to this connection; charges counts the blocks that
	 * point here, so a closed dconn lives until its last URB is freed. */
	size_t held;
	unsigned charges;
	bool dead;

	bool imported;
	bool closing;     /* the core ended the connection */
	bool failed;      /* ... for an error (not a refused import) */
	bool flush_first; /* ... normally: destroy once output is sent */
	bool reading;     /* ev_read is armed */
	bool writing;     /* ev_write is armed */
	bool mem_wait;    /* paused until memory is freed */
	bool deadline_armed;
};

/* Every block charged to a connection starts with this header. */
union dmem_hdr {
	struct {
		struct dconn *owner;
		size_t cost;
	} h;
	max_align_t align;
};

static uint64_t dconn_now_ms(struct usblabd *d)
{
	struct timeval tv;

	event_base_gettimeofday_cached(d->base, &tv);
	return (uint64_t)tv.tv_sec * 1000u + (uint64_t)tv.tv_usec / 1000u;
}

/* ---- memory accounting -------------------------------------------------- */

static void mem_charge(struct usblabd *d, struct dconn *c, size_t cost)
{
	d->held_bytes += cost;
	if (d->held_bytes > d->peak_bytes)
		d->peak_bytes = d->held_bytes;
	if (c)
		c->held += cost;
}

static void mem_uncharge(struct usblabd *d, struct dconn *c, size_t cost)
{
	d->held_bytes -= cost;
	d->freed_since_trim += cost;
	if (c)
		c->held -= cost;
	if (d->nmem_wait > 0 && d->ev_mem_retry)
		event_active(d->ev_mem_retry, EV_TIMEOUT, 0);
	if (d->freed_since_trim >= DCONN_TRIM_BYTES && d->ev_trim &&
	    !evtimer_pending(d->ev_trim, NULL)) {
		struct timeval tv = {1, 0};

		evtimer_add(d->ev_trim, &tv);
	}
}

/* A block of size bytes charged to c (NULL: to the budget only). */
static void *dmem_alloc(struct usblabd *d, struct dconn *c, size_t size)
{
	union dmem_hdr *h = malloc(sizeof(*h) + size);

	if (!h)
		return NULL;
	h->h.owner = c;
	h->h.cost = size + DCONN_BLOCK_COST;
	mem_charge(d, c, h->h.cost);
	if (c)
		c->charges++;
	return h + 1;
}

static void dmem_free(struct usblabd *d, void *ptr)
{
	union dmem_hdr *h = (union dmem_hdr *)ptr - 1;
	struct dconn *c = h->h.owner;

	mem_uncharge(d, c, h->h.cost);
	free(h);
	if (c && --c->charges == 0 && c->dead)
		free(c);
}

/* What admitting a CMD_SUBMIT will charge (usbip_server.c's urb_alloc
 * sizes the block the same way), plus a queued reply. */
static size_t urb_cost(uint32_t length, uint32_t niso)
{
	return sizeof(struct usbip_urb) +
	       (size_t)niso * (sizeof(struct usbip_iso_packet) + USBIP_ISO_DESC_SIZE) +
	       USBIP_HEADER_SIZE + length + 2 * DCONN_BLOCK_COST + USBIP_HEADER_SIZE;
}

/* Whether c may take cost more bytes now. A connection that holds no block
 * may take one above its share (a lone large URB), within the budget. */
static bool mem_admit(struct dconn *c, size_t cost)
{
	struct usblabd *d = c->d;

	if (d->held_bytes + cost > d->max_bytes)
		return false;
	return c->held + cost <= d->max_conn_bytes || c->charges == 0;
}

/* ---- connection lifecycle ----------------------------------------------- */

static void conn_free(struct dconn *c)
{
	struct usblabd *d = c->d;

	if (c->prev)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->mem_wait)
		d->nmem_wait--;
	if (!c->imported)
		d->nop--;
	/* Charges may come back from here on: keep the struct alive. */
	c->charges++;
	/* Core first (cancels URBs), then the output: freeing it runs the
	 * cleanup of every URB still queued in it. */
	usbip_conn_destroy(&c->core);
	event_free(c->ev_read);
	event_free(c->ev_write);
	event_free(c->ev_destroy);
	event_free(c->ev_deadline);
	event_free(c->ev_closed);
	evbuffer_free(c->out);
	evutil_closesocket(c->fd);
	if (c->in) {
		free(c->in);
		mem_uncharge(d, c, DCONN_INBUF);
	}
	mem_uncharge(d, c, DCONN_FIXED_COST);
	d->nclients--;
	c->dead = true;
	/* URBs the backend still holds are charged here; the last one to be
	 * freed frees c (dmem_free). */
	if (--c->charges == 0)
		free(c);
}

static void on_destroy(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_free(arg);
}

/* Ends the connection from the transport side (peer gone, socket error,
 * deadline). Deferred, since this may run inside the core's send(). */
static void conn_drop(struct dconn *c, const char *why)
{
	if (!c->closing) {
		if (c->exp)
			ul_info("net", "client %s released %s (%s)", c->peer, c->exp->info.busid,
			        why);
		else
			ul_debug("net", "client %s closed (%s)", c->peer, why);
	}
	c->closing = true;
	c->flush_first = false;
	c->reading = false;
	event_del(c->ev_read);
	event_del(c->ev_write);
	event_del(c->ev_deadline);
	event_del(c->ev_closed);
	event_active(c->ev_destroy, EV_TIMEOUT, 0);
}

/* Describes the last message c sent, for the log: the offending value
 * (the version, the length) is what makes a line useful. */
static void describe_last(const struct dconn *c, char *out, size_t cap)
{
	const uint8_t *p = c->last;

	if (c->last_len == 0) {
		snprintf(out, cap, "nothing received");
	} else if (!c->imported || c->last_len < USBIP_HEADER_SIZE) {
		snprintf(out, cap, "last request: version 0x%04x code 0x%04x",
		         c->last_len >= 2 ? usbip_get_be16(p) : 0,
		         c->last_len >= 4 ? usbip_get_be16(p + 2) : 0);
	} else if (usbip_get_be32(p) == USBIP_CMD_SUBMIT) {
		snprintf(out, cap,
		         "last: CMD_SUBMIT seqnum %u ep %u %s length %u number_of_packets %d",
		         usbip_get_be32(p + 4), usbip_get_be32(p + 16),
		         usbip_get_be32(p + 12) ? "IN" : "OUT", usbip_get_be32(p + 24),
		         (int)usbip_get_be32(p + 32));
	} else {
		snprintf(out, cap, "last: command 0x%08x seqnum %u", usbip_get_be32(p),
		         usbip_get_be32(p + 4));
	}
}

static void deadline_arm(struct dconn *c)
{
	struct timeval tv = {c->d->deadline_ms / 1000, (c->d->deadline_ms % 1000) * 1000};

	evtimer_add(c->ev_deadline, &tv);
	c->deadline_armed = true;
}

static void deadline_disarm(struct dconn *c)
{
	if (c->deadline_armed)
		evtimer_del(c->ev_deadline);
	c->deadline_armed = false;
}

/* Whether an imported c is waiting for the rest of a message (a header or
 * OUT data) from the client. */
static bool in_partial_frame(const struct dconn *c)
{
	size_t avail = c->in_have - c->in_off;

	return c->frame_left > 0 || (avail > 0 && avail < USBIP_HEADER_SIZE);
}

static void on_closed(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_drop(arg, "peer closed while paused");
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct dconn *c = arg;
	struct usblabd *d = c->d;
	char last[160];

	(void)fd;
	(void)what;
	c->deadline_armed = false;
	if (c->closing) {
		/* An OP reply the client does not read. */
		conn_drop(c, "reply not read within the deadline");
		return;
	}
	describe_last(c, last, sizeof(last));
	if (!c->imported) {
		ul_warn_limited(
		        &d->lim_deadline, "net",
		        "client %s: no complete OP request within %u ms, closing (%zu bytes "
		        "received; %s)",
		        c->peer, d->deadline_ms, c->in_have - c->in_off + c->last_len, last);
		conn_drop(c, "OP request deadline");
		return;
	}
	if (!c->reading || !in_partial_frame(c))
		return; /* we paused it, or the message completed meanwhile */
	ul_warn_limited(&d->lim_deadline, "net",
	                "client %s: message incomplete after %u ms (%zu of %zu bytes missing; "
	                "%s), closing",
	                c->peer, d->deadline_ms, c->frame_left ? c->frame_left : c->frame_size,
	                c->frame_size, last);
	conn_drop(c, "URB data deadline");
}

/* Reading goes on only while the core takes input and c has memory to
 * take the next message (STYLE: never grow a queue without a bound). A
 * message already started is always read to its end: its memory was
 * admitted with its header. */
static void update_read_state(struct dconn *c)
{
	bool want = !c->closing && !c->mem_wait &&
	            (c->frame_left > 0 || usbip_conn_wants_input(&c->core));

	if (want == c->reading)
		return;
	c->reading = want;
	if (!want) {
		event_del(c->ev_read);
		/* A paused client does not read its EOF: a client that left
		 * while paused must still free its device (EPOLLRDHUP). */
		if (!c->closing)
			event_add(c->ev_closed, NULL);
		return;
	}
	event_del(c->ev_closed);
	event_add(c->ev_read, NULL);
	/* Bytes left over from before the pause raise no new read event. */
	if (c->in_have > c->in_off)
		event_active(c->ev_read, EV_READ, 0);
}

static void mem_wait_begin(struct dconn *c, size_t cost)
{
	struct usblabd *d = c->d;

	c->mem_wait = true;
	d->nmem_wait++;
	ul_info_limited(&d->lim_memory, "net",
	                "client %s paused: a message of %zu bytes does not fit (it holds %zu of "
	                "its %zu; all clients %zu of %zu)",
	                c->peer, cost, c->held, d->max_conn_bytes, d->held_bytes, d->max_bytes);
}

static void on_mem_retry(evutil_socket_t fd, short what, void *arg)
{
	struct usblabd *d = arg;

	(void)fd;
	(void)what;
	/* Oldest first, so that a waiting client is not starved by newer ones. */
	struct dconn *c = d->conns;

	while (c && c->next)
		c = c->next;
	for (; c && d->nmem_wait > 0; c = c->prev) {
		if (!c->mem_wait)
			continue;
		c->mem_wait = false;
		d->nmem_wait--;
		update_read_state(c);
	}
}

/*
 * How many bytes at p start the next message, and whether it may go to
 * the core now: 0 when more bytes are needed or c must wait for memory.
 * OP requests are 8 bytes (40 for OP_REQ_IMPORT); URB commands are a
 * 48-byte header, then for CMD_SUBMIT the payload (frame_left). A header
 * the codec refuses is fed all the same: the core closes the connection
 * with its own reason.
 */
static size_t next_message(struct dconn *c, const uint8_t *p, size_t avail)
{
	struct usbip_header h;
	size_t need;
	long payload;
	int type;

	if (!c->imported) {
		if (avail < USBIP_OP_COMMON_SIZE)
			return 0;
		need = usbip_get_be16(p + 2) == USBIP_OP_REQ_IMPORT ? USBIP_OP_IMPORT_REQ_SIZE
		                                                    : USBIP_OP_COMMON_SIZE;
		if (avail < need)
			return 0;
		memcpy(c->last, p, need < sizeof(c->last) ? need : sizeof(c->last));
		c->last_len = need;
		c->frame_size = need;
		return need;
	}
	if (avail < USBIP_HEADER_SIZE)
		return 0;
	memcpy(c->last, p, USBIP_HEADER_SIZE);
	c->last_len = USBIP_HEADER_SIZE;
	c->frame_size = USBIP_HEADER_SIZE;
	if (usbip_decode_header(p, USBIP_HEADER_SIZE, &h) < 0)
		return USBIP_HEADER_SIZE;
	if (h.base.command != USBIP_CMD_SUBMIT) {
		/* CMD_UNLINK: its RET_UNLINK may be queued for us. */
		if (!mem_admit(c, DCONN_BLOCK_COST + USBIP_HEADER_SIZE)) {
			mem_wait_begin(c, DCONN_BLOCK_COST + USBIP_HEADER_SIZE);
			return 0;
		}
		return USBIP_HEADER_SIZE;
	}
	if (h.base.ep > 15 || h.base.direction > 1)
		return USBIP_HEADER_SIZE;
	/* The core classifies ISO by endpoint type the same way (§3.5). */
	type = h.base.ep == 0 ? USBIP_EP_CONTROL
	                      : c->exp->ops->ep_type(
	                                c->exp, (uint8_t)(h.base.ep | (h.base.direction << 7)));
	payload = usbip_cmd_submit_payload_size(&h, type == USBIP_EP_ISO);
	if (payload < 0)
		return USBIP_HEADER_SIZE;
	need = urb_cost((uint32_t)h.u.cmd_submit.transfer_buffer_length,
	                type == USBIP_EP_ISO ? (uint32_t)h.u.cmd_submit.number_of_packets : 0);
	if (!mem_admit(c, need)) {
		if (need > c->d->max_bytes) {
			/* It can never fit: its own fault, close it. */
			ul_warn_limited(&c->d->lim_close, "net",
			                "client %s: CMD_SUBMIT of %u bytes above the memory budget "
			                "(--max-urb-mib), closing",
			                c->peer, (unsigned)h.u.cmd_submit.transfer_buffer_length);
			conn_drop(c, "URB above the memory budget");
			return 0;
		}
		mem_wait_begin(c, need);
		return 0;
	}
	c->frame_size = USBIP_HEADER_SIZE + (size_t)payload;
	return USBIP_HEADER_SIZE;
}

/* Feeds buffered input to the core one message at a time. Returns false
 * when it stalled (limit, memory, or the connection ended). */
static bool feed_core(struct dconn *c)
{
	struct usblabd *d = c->d;

	while (!c->closing && c->in_have > c->in_off) {
		const uint8_t *p = c->in + c->in_off;
		size_t avail = c->in_have - c->in_off, n;
		bool starts = c->frame_left == 0;
		long r;

		if (starts) {
			n = next_message(c, p, avail);
			if (n == 0)
				return !c->mem_wait && !c->closing;
		} else {
			n = avail < c->frame_left ? avail : c->frame_left;
		}
		d->feeding = c;
		r = usbip_conn_feed(&c->core, p, n);
		d->feeding = NULL;
		if (r < 0) {
			c->in_off = c->in_have = 0;
			return false;
		}
		if (r == 0)
			return false;
		c->in_off += (size_t)r;
		if (starts) {
			/* r == n: the core takes a header whole once it takes any. */
			c->frame_left = c->frame_size - (size_t)r;
		} else {
			c->frame_left -= (size_t)r;
		}
	}
	if (c->in_off == c->in_have)
		c->in_off = c->in_have = 0;
	return true;
}

/* Arms the deadline when an imported client stops mid-message, and clears
 * it when the message is complete. */
static void update_deadline(struct dconn *c)
{
	if (!c->imported || c->closing)
		return;
	if (in_partial_frame(c) && c->reading) {
		if (!c->deadline_armed)
			deadline_arm(c);
	} else {
		deadline_disarm(c);
	}
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
	struct dconn *c = arg;
	struct usblabd *d = c->d;
	ssize_t n;

	(void)what;
	if (!c->in) {
		c->in = malloc(DCONN_INBUF);
		if (!c->in) {
			conn_drop(c, "out of memory");
			return;
		}
		mem_charge(d, c, DCONN_INBUF);
	}
	/* Leftover first (after a pause), then one read() straight into our
	 * buffer: no FIONREAD round trip as evbuffer_read() makes. */
	if (c->in_have > c->in_off && !feed_core(c))
		goto out;
	if (c->in_have == DCONN_INBUF)
		goto out;
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
out:
	if (c->closing)
		return;
	update_read_state(c);
	update_deadline(c);
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

static void copy_cleanup(const void *data, size_t len, void *extra)
{
	(void)data;
	(void)len;
	dmem_free(((union dmem_hdr *)extra - 1)->h.owner->d, extra);
}

/* ---- usbip_server_ops --------------------------------------------------- */

/* URB memory. The budget was checked when the CMD_SUBMIT was admitted
 * (next_message), so this fails only when malloc does. */
static void *srv_alloc(void *ctx, size_t size)
{
	struct usblabd *d = ctx;

	return dmem_alloc(d, d->feeding, size);
}

static void srv_free(void *ctx, void *ptr, size_t size)
{
	(void)size;
	dmem_free(ctx, ptr);
}

/*
 * Replies go to the socket at once when nothing is queued before them: one
 * send() per reply, no loop pass, no epoll_ctl (the kernel's stub has no
 * such costs either). What the socket does not take is queued, the URB's
 * wire image by reference (zero copy) and anything else as a charged
 * copy, and sent when the socket is writable.
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
		uint8_t *copy = dmem_alloc(c->d, c, len - (size_t)n);

		rc = -1;
		if (copy) {
			memcpy(copy, (const uint8_t *)buf + n, len - (size_t)n);
			rc = evbuffer_add_reference(c->out, copy, len - (size_t)n, copy_cleanup,
			                            copy);
			if (rc < 0)
				dmem_free(c->d, copy);
		}
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
	char last[160];

	if (reason < 0) {
		c->failed = true;
		describe_last(c, last, sizeof(last));
		ul_warn_limited(&c->d->lim_close, "net",
		                "client %s: closing connection: %s (%s; %s)", c->peer,
		                conn->error ? conn->error : "error", usbip_strerror(reason), last);
	}
	c->closing = true;
	c->reading = false;
	event_del(c->ev_read);
	event_del(c->ev_closed);
	/* A normal end (after an OP reply) flushes first; an error or a device
	 * that went away closes at once so the client sees it now. */
	if (reason == 0 && evbuffer_get_length(c->out) > 0) {
		c->flush_first = true;
		return;
	}
	event_active(c->ev_destroy, EV_TIMEOUT, 0);
}

static void set_imported_socket_options(evutil_socket_t fd)
{
	int one = 1, idle = DCONN_KEEPIDLE_S, intvl = DCONN_KEEPINTVL_S, cnt = DCONN_KEEPCNT;
	unsigned user_timeout = DCONN_USER_TIMEOUT_MS;

	/* The protocol has no heartbeat (§1, §7.11): keepalive notices a
	 * client that vanished while idle, TCP_USER_TIMEOUT one that vanished
	 * with replies unacknowledged; either way within 30 s, and the device
	 * is freed for the next user. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
	setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout));
}

static void srv_imported(struct usbip_conn *conn, struct usbip_export *exp)
{
	struct dconn *c = conn->transport;

	c->imported = true;
	c->exp = exp;
	c->d->nop--;
	deadline_disarm(c);
	set_imported_socket_options(c->fd);
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

/* ---- admission ---------------------------------------------------------- */

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
	struct dconn *c, *victim;
	const char *why = "";
	char peer[64];
	bool refuse;

	(void)l;
	format_peer(sa, peer, sizeof(peer));
	victim = pick_victim(d, sa, &refuse, &why);
	if (refuse) {
		ul_warn_limited(&d->lim_refuse, "net",
		                "refusing %s: %u clients, all of them using devices (%s)", peer,
		                d->nclients, why);
		evutil_closesocket(fd);
		return;
	}
	if (victim) {
		ul_info_limited(
		        &d->lim_evict, "net",
		        "closing %s (not importing after %llu ms) to admit %s (%s)", victim->peer,
		        (unsigned long long)(dconn_now_ms(d) - victim->accepted_ms), peer, why);
		d->nevicted++;
		conn_free(victim);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		goto fail;
	c->d = d;
	c->fd = fd;
	memcpy(c->peer, peer, sizeof(peer));
	if ((size_t)salen <= sizeof(c->addr))
		memcpy(&c->addr, sa, (size_t)salen);
	c->accepted_ms = dconn_now_ms(d);
	c->out = evbuffer_new();
	c->ev_read = event_new(d->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(d->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->ev_destroy = event_new(d->base, -1, 0, on_destroy, c);
	c->ev_deadline = evtimer_new(d->base, on_deadline, c);
	c->ev_closed = event_new(d->base, fd, EV_CLOSED | EV_PERSIST, on_closed, c);
	if (!c->out || !c->ev_read || !c->ev_write || !c->ev_destroy || !c->ev_deadline ||
	    !c->ev_closed || evutil_make_socket_nonblocking(fd) < 0 ||
	    event_add(c->ev_read, NULL) < 0)
		goto fail;
	/* Both Linux sides set TCP_NODELAY (§7.11). */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	usbip_conn_init(&d->srv, &c->core, c);
	c->reading = true;
	deadline_arm(c);
	c->next = d->conns;
	if (d->conns)
		d->conns->prev = c;
	d->conns = c;
	d->nclients++;
	d->nop++;
	d->nconn_total++;
	mem_charge(d, c, DCONN_FIXED_COST);
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
		if (c->ev_deadline)
			event_free(c->ev_deadline);
		if (c->ev_closed)
			event_free(c->ev_closed);
		if (c->out)
			evbuffer_free(c->out);
		free(c);
	}
	evutil_closesocket(fd);
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
	struct timeval tv = {0, DCONN_ACCEPT_PAUSE_MS * 1000};

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
	                evutil_socket_error_to_string(e), d->nclients, DCONN_ACCEPT_PAUSE_MS);
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

bool dconn_listen_addr_valid(const char *addr)
{
	struct sockaddr_storage ss;
	int sslen;

	return parse_listen_addr(addr, &ss, &sslen) == 0;
}

int dconn_listen(struct usblabd *d, const char *addr, char *err, size_t errlen)
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
	format_peer((struct sockaddr *)&ss, host, sizeof(host));
	ul_info("net", "listening on %s", host);
	return 0;
}

/* ---- housekeeping ------------------------------------------------------- */

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
	struct usblabd *d = arg;

	(void)fd;
	(void)what;
	d->freed_since_trim = 0;
#ifdef __GLIBC__
	/* glibc keeps freed heap pages; a hog that left must not leave its
	 * high-water mark resident. */
	malloc_trim(0);
#endif
}

/*
 * A paused client's socket is not read, so its EOF is not seen, and a
 * reset raises no EV_CLOSED (libevent reports EPOLLHUP as read/write).
 * Once a second, ask the kernel whether each paused client is still
 * connected, so that one that left frees its device and memory.
 */
static void on_paused_check(evutil_socket_t fd, short what, void *arg)
{
	struct usblabd *d = arg;
	struct dconn *c, *next;

	(void)fd;
	(void)what;
	for (c = d->conns; c; c = next) {
		struct tcp_info ti;
		socklen_t len = sizeof(ti);

		next = c->next;
		if (c->reading || c->closing)
			continue;
		if (getsockopt(c->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
		    ti.tcpi_state != TCP_ESTABLISHED)
			conn_drop(c, "peer gone while paused");
	}
}

static void on_log_flush(evutil_socket_t fd, short what, void *arg)
{
	struct usblabd *d = arg;
	struct ul_log_limit *lims[] = {&d->lim_refuse,   &d->lim_evict,  &d->lim_close,
	                               &d->lim_deadline, &d->lim_accept, &d->lim_import,
	                               &d->lim_memory};

	(void)fd;
	(void)what;
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++)
		ul_log_limit_flush(lims[i], false);
}

int dconn_init(struct usblabd *d)
{
	struct ul_log_limit *lims[] = {&d->lim_refuse,   &d->lim_evict,  &d->lim_close,
	                               &d->lim_deadline, &d->lim_accept, &d->lim_import,
	                               &d->lim_memory};
	struct timeval ten = {10, 0}, one = {1, 0};

	/* Five lines of a kind per 10 s, then one line with the count. */
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++)
		ul_log_limit_init(lims[i], 10000, 5, NULL, NULL);
	d->srv.max_bytes_per_conn = d->max_conn_bytes;
	d->ev_accept_resume = evtimer_new(d->base, on_accept_resume, d);
	d->ev_mem_retry = event_new(d->base, -1, 0, on_mem_retry, d);
	d->ev_trim = evtimer_new(d->base, on_trim, d);
	d->ev_log_flush = event_new(d->base, -1, EV_PERSIST, on_log_flush, d);
	d->ev_paused_check = event_new(d->base, -1, EV_PERSIST, on_paused_check, d);
	if (!d->ev_accept_resume || !d->ev_mem_retry || !d->ev_trim || !d->ev_log_flush ||
	    !d->ev_paused_check || event_add(d->ev_log_flush, &ten) < 0 ||
	    event_add(d->ev_paused_check, &one) < 0)
		return -1;
	return 0;
}

void dconn_shutdown(struct usblabd *d)
{
	for (unsigned i = 0; i < d->nlisteners; i++)
		evconnlistener_free(d->listeners[i]);
	d->nlisteners = 0;
	while (d->conns)
		conn_free(d->conns);
	if (d->ev_accept_resume)
		event_free(d->ev_accept_resume);
	if (d->ev_mem_retry)
		event_free(d->ev_mem_retry);
	if (d->ev_trim)
		event_free(d->ev_trim);
	if (d->ev_log_flush)
		event_free(d->ev_log_flush);
	if (d->ev_paused_check)
		event_free(d->ev_paused_check);
	d->ev_paused_check = NULL;
	d->ev_accept_resume = d->ev_mem_retry = d->ev_trim = d->ev_log_flush = NULL;
}
