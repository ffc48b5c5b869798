/* SPDX-License-Identifier: MIT */
/*
 * dconn.c - usblabd's connections: the libevent transport under the
 * usbip server core, with admission and memory control.
 *
 * One struct dconn per client, passed as the callbacks' argument.
 *
 * Deadlines: a connection must finish its OP request, and each URB's OUT
 * data, within --deadline. A connection that imported a device gets TCP
 * keepalive and TCP_USER_TIMEOUT, so a client that vanished is noticed
 * within 30 s and its device freed. (Admission and eviction: dlisten.c.)
 *
 * Memory: every byte held for a connection (its URBs, the replies queued
 * for it, its receive buffer) is charged to it and to the global budget.
 * The daemon feeds the core one message at a time and admits a CMD_SUBMIT
 * only when its URB fits both; otherwise it stops reading that client
 * until memory is freed (back-pressure). The core's allocation therefore
 * never fails for the budget, and no client is closed for another's use.
 */
#include "dconn.h"

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

#include "bench.h"

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
/* malloc_trim() once what is held fell this far below its high-water mark
 * since the last trim: after a greedy client left, not in steady traffic. */
#define DCONN_TRIM_BYTES (8u << 20)

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
	if (d->held_bytes > d->trim_mark)
		d->trim_mark = d->held_bytes;
	if (c)
		c->held += cost;
}

static void mem_uncharge(struct usblabd *d, struct dconn *c, size_t cost)
{
	d->held_bytes -= cost;
	if (c)
		c->held -= cost;
	if (d->nmem_wait > 0 && d->ev_mem_retry)
		event_active(d->ev_mem_retry, EV_TIMEOUT, 0);
	if (d->trim_mark - d->held_bytes >= DCONN_TRIM_BYTES && d->ev_trim &&
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

static void event_free_opt(struct event **ev)
{
	if (*ev)
		event_free(*ev);
	*ev = NULL;
}

/* Frees c's events and output queue (which runs the cleanup of every URB
 * still queued in it); NULL members are skipped. */
static void conn_free_io(struct dconn *c)
{
	event_free_opt(&c->ev_read);
	event_free_opt(&c->ev_write);
	event_free_opt(&c->ev_destroy);
	event_free_opt(&c->ev_deadline);
	event_free_opt(&c->ev_closed);
	event_free_opt(&c->ev_flush);
	if (c->out)
		evbuffer_free(c->out);
	c->out = NULL;
}

void dconn_free(struct dconn *c)
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
	if (c->exp && d->bench)
		bench_released(d->bench, c->peer, c->exp, c->gone, c->why[0] ? c->why : NULL);
	/* Charges may come back from here on: keep the struct alive. */
	c->charges++;
	/* Core first (cancels URBs), then the output: freeing it runs the
	 * cleanup of every URB still queued in it. */
	usbip_conn_destroy(&c->core);
	conn_free_io(c);
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
	dconn_free(arg);
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
		c->gone = strcmp(why, "peer closed") != 0;
		snprintf(c->why, sizeof(c->why), "%s", why);
	}
	c->closing = true;
	c->flush_first = false;
	c->reading = false;
	event_del(c->ev_read);
	event_del(c->ev_write);
	event_del(c->ev_deadline);
	event_del(c->ev_closed);
	event_del(c->ev_flush);
	c->flushing = false;
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
	/* Said once per pause, not at every retry while memory stays short. */
	if (c->pause_logged)
		return;
	c->pause_logged = true;
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
			c->pause_logged = false;
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
	if (c->imported && c->frame_left > 0 && c->in_have == c->in_off) {
		/* The rest of an OUT payload: straight into the URB's buffer
		 * (usbfs-mapped memory for the libusb backend), in the same
		 * one recv() that would have filled ours. */
		size_t wlen;
		uint8_t *win = usbip_conn_rx_window(&c->core, &wlen);

		if (win && wlen == c->frame_left) {
			n = recv(fd, win, wlen, 0);
			if (n == 0) {
				conn_drop(c, "peer closed");
				return;
			}
			if (n < 0) {
				if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
					conn_drop(c, strerror(errno));
				return;
			}
			c->frame_left -= (size_t)n;
			d->feeding = c;
			usbip_conn_rx_commit(&c->core, (size_t)n);
			d->feeding = NULL;
			goto out;
		}
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
out:
	if (c->closing)
		return;
	update_read_state(c);
	update_deadline(c);
}

/* Most iovecs one sendmsg() takes from the output queue. */
#define DCONN_IOV 64

/*
 * Sends what c's output queue holds, with one sendmsg() of up to
 * DCONN_IOV blocks (the replies queued in this loop pass, each URB's wire
 * image by reference). Returns false when the connection was dropped.
 */
static bool out_send(struct dconn *c)
{
	while (evbuffer_get_length(c->out) > 0) {
		struct evbuffer_iovec vec[DCONN_IOV];
		struct iovec iov[DCONN_IOV];
		struct msghdr msg = {.msg_iov = iov};
		int nvec = evbuffer_peek(c->out, -1, NULL, vec, DCONN_IOV);
		size_t total = 0;
		ssize_t n;

		if (nvec > DCONN_IOV)
			nvec = DCONN_IOV;
		for (int i = 0; i < nvec; i++) {
			iov[i].iov_base = vec[i].iov_base;
			iov[i].iov_len = vec[i].iov_len;
			total += vec[i].iov_len;
		}
		msg.msg_iovlen = (size_t)nvec;
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return true;
			conn_drop(c, strerror(errno));
			return false;
		}
		evbuffer_drain(c->out, (size_t)n);
		if ((size_t)n < total)
			return true; /* the socket is full: ev_write sends the rest */
	}
	return true;
}

/* After a send: wait for writability while something is left, or finish
 * a normal close once everything is out, or read on. */
static void out_settle(struct dconn *c)
{
	if (evbuffer_get_length(c->out) > 0) {
		if (!c->writing) {
			event_add(c->ev_write, NULL);
			c->writing = true;
		}
		return;
	}
	if (c->writing) {
		event_del(c->ev_write);
		c->writing = false;
	}
	if (c->closing) {
		if (c->flush_first)
			event_active(c->ev_destroy, EV_TIMEOUT, 0);
		return;
	}
	/* A reply may lift what paused reading (a URB limit, a special
	 * request or an open in progress). */
	update_read_state(c);
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
	struct dconn *c = arg;

	(void)fd;
	(void)what;
	if (out_send(c))
		out_settle(c);
}

/* The end of the loop pass in which replies were queued: libevent runs
 * an event activated from a callback in the same pass, after the events
 * already active (the other completions libusb reaped, the other
 * sockets), with no epoll_wait() between. */
static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	struct dconn *c = arg;

	(void)fd;
	(void)what;
	c->flushing = false;
	if (c->closing && !c->flush_first)
		return;
	if (c->writing)
		return; /* the socket is full: ev_write goes on */
	if (out_send(c))
		out_settle(c);
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
 * A URB's reply is queued, its wire image by reference (zero copy), and
 * goes out with the others at the end of the loop pass that produced them
 * (on_flush): the completions libusb reaps in one event-handling pass, or
 * the replies to one read()'s commands, leave in one sendmsg(), with no
 * epoll round of their own (the kernel's stub has no such costs either).
 * Any other reply goes out at once when nothing is queued before it, else
 * it is queued behind as a charged copy.
 */
static int srv_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb)
{
	struct dconn *c = conn->transport;
	int rc;

	if (c->closing && !c->flush_first) {
		if (urb)
			usbip_urb_free(urb);
		return USBIP_E_CLOSED;
	}
	if (!urb && evbuffer_get_length(c->out) == 0) {
		/* A reply that is no URB's (OP replies, RET_UNLINK) has no
		 * block to be queued by reference: with nothing queued before
		 * it, it goes out at once rather than as a charged copy. */
		ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			conn_drop(c, strerror(errno));
			return USBIP_E_CLOSED;
		}
		if (n == (ssize_t)len) {
			update_read_state(c);
			return 0;
		}
		if (n > 0) {
			buf = (const uint8_t *)buf + n;
			len -= (size_t)n;
		}
	}
	if (urb) {
		rc = evbuffer_add_reference(c->out, buf, len, urb_cleanup, urb);
		if (rc < 0)
			usbip_urb_free(urb);
	} else {
		uint8_t *copy = dmem_alloc(c->d, c, len);

		rc = -1;
		if (copy) {
			memcpy(copy, buf, len);
			rc = evbuffer_add_reference(c->out, copy, len, copy_cleanup, copy);
			if (rc < 0)
				dmem_free(c->d, copy);
		}
	}
	if (rc < 0)
		return USBIP_E_NOMEM;
	if (!c->flushing && !c->writing) {
		event_active(c->ev_flush, EV_TIMEOUT, 0);
		c->flushing = true;
	}
	update_read_state(c);
	return 0;
}

/*
 * A RET_SUBMIT whose IN data lies in the backend's memory (usbfs-mapped):
 * the header is copied into the queue and the data referenced, so the
 * sendmsg() takes it from the mapped buffer as the next iovec.
 */
static int srv_send_split(struct usbip_conn *conn, const void *buf, size_t len, const void *data,
                          size_t dlen, struct usbip_urb *urb)
{
	struct dconn *c = conn->transport;

	if (c->closing && !c->flush_first) {
		usbip_urb_free(urb);
		return USBIP_E_CLOSED;
	}
	if (evbuffer_add(c->out, buf, len) < 0) {
		usbip_urb_free(urb);
		return USBIP_E_NOMEM;
	}
	if (evbuffer_add_reference(c->out, data, dlen, urb_cleanup, urb) < 0) {
		/* The header is queued without its data: the stream is lost. */
		usbip_urb_free(urb);
		conn_drop(c, "out of memory");
		return USBIP_E_NOMEM;
	}
	if (!c->flushing && !c->writing) {
		event_active(c->ev_flush, EV_TIMEOUT, 0);
		c->flushing = true;
	}
	update_read_state(c);
	return 0;
}

/* A URB's data came from the backend (usbfs memory): it counts against
 * the URB's connection like the block itself, until the block is freed. */
static void srv_charge(void *ctx, void *block, size_t extra)
{
	union dmem_hdr *h = (union dmem_hdr *)block - 1;

	h->h.cost += extra;
	mem_charge(ctx, h->h.owner, extra);
}

static void srv_close(struct usbip_conn *conn, int reason)
{
	struct dconn *c = conn->transport;
	bool dropped = c->closing && !c->flush_first;
	char last[160];

	if (reason < 0) {
		c->failed = true;
		describe_last(c, last, sizeof(last));
		ul_warn_limited(&c->d->lim_close, "net",
		                "client %s: closing connection: %s (%s; %s)", c->peer,
		                conn->error ? conn->error : "error", usbip_strerror(reason), last);
		c->gone = reason != USBIP_E_CLOSED;
		snprintf(c->why, sizeof(c->why), "%s", conn->error ? conn->error : "error");
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
	/* Replies queued in this pass went out before the close when each
	 * was sent at once: keep it so (what the socket takes now). */
	if (evbuffer_get_length(c->out) > 0 && !c->writing && !dropped)
		out_send(c);
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

/* The core refused an import: say why (busy, and by whom; unknown). */
static void srv_import_refused(struct usbip_conn *conn, const char *requested, int status)
{
	struct dconn *c = conn->transport;
	struct usblabd *d = c->d;
	struct usbip_export *exp = usbip_server_find_busid(&d->srv, requested);
	const char *holder = NULL;

	for (struct dconn *o = d->conns; exp && o; o = o->next)
		if (o->exp == exp && o != c)
			holder = o->peer;
	ul_info_limited(&d->lim_import, "net", "client %s: import of '%.32s' refused: %s%s",
	                c->peer, requested,
	                status == USBIP_ST_NODEV      ? "no such device"
	                : holder                      ? "busy, imported by "
	                : status == USBIP_ST_DEV_BUSY ? "busy or leased"
	                                              : "the device cannot be opened",
	                holder ? holder : "");
	if (d->bench)
		bench_import_refused(d->bench, c->peer, requested, status);
}

static void srv_devlist_entry(struct usbip_conn *conn, const struct usbip_export *exp,
                              struct usbip_usb_device *shown)
{
	struct dconn *c = conn->transport;

	if (c->d->bench)
		bench_devlist_entry(c->d->bench, exp, shown);
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
        .send_split = srv_send_split,
        .charge = srv_charge,
        .close = srv_close,
        .imported = srv_imported,
        .unimported = srv_unimported,
        .import_lookup = srv_import_lookup,
        .import_refused = srv_import_refused,
        .devlist_entry = srv_devlist_entry,
        .exported = srv_exported,
        .unexported = srv_unexported,
};

/* ---- connection lifecycle ----------------------------------------------- */

int dconn_accept(struct usblabd *d, evutil_socket_t fd, const struct sockaddr *sa, int salen,
                 const char *peer)
{
	struct dconn *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	c->d = d;
	c->fd = fd;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if ((size_t)salen <= sizeof(c->addr))
		memcpy(&c->addr, sa, (size_t)salen);
	c->accepted_ms = dconn_now_ms(d);
	c->out = evbuffer_new();
	c->ev_read = event_new(d->base, fd, EV_READ | EV_PERSIST, on_read, c);
	c->ev_write = event_new(d->base, fd, EV_WRITE | EV_PERSIST, on_write, c);
	c->ev_destroy = event_new(d->base, -1, 0, on_destroy, c);
	c->ev_deadline = evtimer_new(d->base, on_deadline, c);
	c->ev_closed = event_new(d->base, fd, EV_CLOSED | EV_PERSIST, on_closed, c);
	c->ev_flush = event_new(d->base, -1, 0, on_flush, c);
	if (!c->out || !c->ev_read || !c->ev_write || !c->ev_destroy || !c->ev_deadline ||
	    !c->ev_closed || !c->ev_flush || evutil_make_socket_nonblocking(fd) < 0 ||
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
	return 0;
fail:
	conn_free_io(c);
	free(c);
	return -1;
}

uint64_t dconn_age_ms(const struct dconn *c)
{
	return dconn_now_ms(c->d) - c->accepted_ms;
}

/* ---- housekeeping ------------------------------------------------------- */

static void on_trim(evutil_socket_t fd, short what, void *arg)
{
	struct usblabd *d = arg;

	(void)fd;
	(void)what;
	d->trim_mark = d->held_bytes;
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
	d->ev_mem_retry = event_new(d->base, -1, 0, on_mem_retry, d);
	d->ev_trim = evtimer_new(d->base, on_trim, d);
	d->ev_log_flush = event_new(d->base, -1, EV_PERSIST, on_log_flush, d);
	d->ev_paused_check = event_new(d->base, -1, EV_PERSIST, on_paused_check, d);
	if (!d->ev_mem_retry || !d->ev_trim || !d->ev_log_flush || !d->ev_paused_check ||
	    event_add(d->ev_log_flush, &ten) < 0 || event_add(d->ev_paused_check, &one) < 0)
		return -1;
	return 0;
}

void dconn_shutdown(struct usblabd *d)
{
	while (d->conns)
		dconn_free(d->conns);
	event_free_opt(&d->ev_mem_retry);
	event_free_opt(&d->ev_trim);
	event_free_opt(&d->ev_log_flush);
	event_free_opt(&d->ev_paused_check);
}
