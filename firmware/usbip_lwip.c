/* SPDX-License-Identifier: MIT */
/*
 * usbip_lwip.c - lwIP raw-API transport: accept, receive with
 * back-pressure, zero-copy send freed on ack, orderly and aborted closes.
 *
 * pbuf ownership: lwIP hands a pbuf chain to on_recv; from then on it is
 * ours (c->rx) until every byte went into usbip_conn_feed(), when the head
 * pbuf is freed (tcpecho_raw's pbuf_ref-next-then-free idiom) and the
 * consumed count goes back to lwIP with tcp_recved(). Output memory is
 * referenced by lwIP's segments (tcp_write without TCP_WRITE_FLAG_COPY)
 * until acked, so a connection with unacked output is ended with
 * tcp_abort(), which drops those segments, never with tcp_close().
 */
#include "usbip_lwip.h"

#include <string.h>

#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "usbip_fw_opts.h"
#include "usbip_fw_pool.h"

/* One queued reply. */
struct tx_piece {
	const uint8_t *buf;
	uint32_t len, written, acked;
	struct usbip_urb *urb; /* the URB that owns buf, or NULL: buf is a pool copy */
};

struct lwip_conn {
	struct tcp_pcb *pcb; /* NULL once lwIP freed it (on_err) */
	struct usbip_conn core;
	bool used;
	bool ending;       /* the core called close, or the peer is gone */
	bool flush;        /* ending: send what is queued first, then close */
	uint8_t end_polls; /* poll ticks spent flushing */
	struct pbuf *rx;   /* received, not yet consumed */
	uint16_t rx_off;   /* consumed bytes of rx's head pbuf */
	struct tx_piece tx[USBIP_FW_CFG_TX_ENTRIES];
	uint8_t tx_head, tx_count;
	uint32_t tx_bytes; /* queued and not acked */
};

static struct {
	struct tcp_pcb *listen;
	struct usbip_server *srv;
	struct lwip_conn conns[USBIP_FW_CFG_MAX_CONNS];
} lw;

/* Replies one fed header can cause at once (a RET_SUBMIT or RET_UNLINK),
 * and what the URBs in flight can still cause without input: a RET_SUBMIT
 * and a RET_UNLINK each. Feeding stops before the queue could overflow. */
#define TX_RESERVE (2u * USBIP_FW_CFG_MAX_URBS)

_Static_assert(USBIP_FW_CFG_TX_ENTRIES <= 255, "tx ring index is a uint8_t");
_Static_assert(USBIP_FW_CFG_TX_ENTRIES > TX_RESERVE + USBIP_FW_CFG_MAX_DEVICES + 1,
               "USBIP_FW_CFG_TX_ENTRIES must leave room above the in-flight reserve");

static void *pool_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return usbip_fw_pool_alloc(size);
}

static void pool_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	usbip_fw_pool_free(ptr);
}

static struct tx_piece *tx_at(struct lwip_conn *c, unsigned i)
{
	return &c->tx[(c->tx_head + i) % USBIP_FW_CFG_TX_ENTRIES];
}

static void piece_release(struct tx_piece *t)
{
	if (t->urb)
		usbip_urb_free(t->urb);
	else
		usbip_fw_pool_free((void *)(uintptr_t)t->buf);
	memset(t, 0, sizeof(*t));
}

/* Hands lwIP as much queued output as its send buffer takes. Returns false
 * when lwIP failed for another reason than a full buffer. */
static bool tx_pump(struct lwip_conn *c)
{
	bool wrote = false;

	if (!c->pcb)
		return true;
	for (unsigned i = 0; i < c->tx_count; i++) {
		struct tx_piece *t = tx_at(c, i);

		while (t->written < t->len) {
			uint32_t n = t->len - t->written;
			err_t err;

			if (n > tcp_sndbuf(c->pcb))
				n = tcp_sndbuf(c->pcb);
			if (n > 0xffff)
				n = 0xffff;
			if (n == 0)
				goto out;
			err = tcp_write(c->pcb, t->buf + t->written, (u16_t)n,
			                i + 1 < c->tx_count ? TCP_WRITE_FLAG_MORE : 0);
			if (err == ERR_MEM)
				goto out; /* segment queue full: on_sent retries */
			if (err != ERR_OK)
				return false;
			t->written += n;
			wrote = true;
		}
	}
out:
	if (wrote)
		tcp_output(c->pcb);
	return true;
}

/* Frees every piece (the connection is going away). */
static void tx_drop(struct lwip_conn *c)
{
	while (c->tx_count) {
		piece_release(tx_at(c, 0));
		c->tx_head = (uint8_t)((c->tx_head + 1) % USBIP_FW_CFG_TX_ENTRIES);
		c->tx_count--;
	}
	c->tx_bytes = 0;
}

/* After our FIN: whatever the peer still sends is acknowledged and
 * dropped (a full close would answer it with a RST, and the peer could
 * lose the replies it has not read yet); its FIN completes the close. */
static err_t drain_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)err;
	if (!p) {
		tcp_recv(pcb, NULL);
		tcp_poll(pcb, NULL, 0);
		if (tcp_close(pcb) != ERR_OK) {
			tcp_abort(pcb);
			return ERR_ABRT;
		}
		return ERR_OK;
	}
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

/* A peer that never closes its side is reset after about 10 s. */
static err_t drain_poll(void *arg, struct tcp_pcb *pcb)
{
	(void)arg;
	tcp_abort(pcb);
	return ERR_ABRT;
}

/* Half-closes pcb (FIN after everything sent) and leaves it to the drain
 * callbacks, which need no connection slot. False when lwIP refuses. */
static bool conn_hand_to_drain(struct tcp_pcb *pcb)
{
	tcp_recv(pcb, drain_recv);
	tcp_poll(pcb, drain_poll, 20);
	return tcp_shutdown(pcb, 0, 1) == ERR_OK;
}

/*
 * Ends c when it may end: at once for an error, after the last ack for a
 * normal close. Unregisters every callback before closing (tcpecho_raw's
 * order), then tears down the core's side. Returns true when it aborted
 * the pcb, which a caller inside an lwIP callback must report as ERR_ABRT.
 */
static bool conn_try_finish(struct lwip_conn *c)
{
	bool aborted = false;
	struct tcp_pcb *pcb = c->pcb;

	if (!c->ending || (c->flush && c->tx_count > 0 && pcb))
		return false;
	if (c->rx) {
		/* Unread input is dropped: give its window back first. */
		if (pcb)
			tcp_recved(pcb, (u16_t)(c->rx->tot_len - c->rx_off));
		pbuf_free(c->rx);
		c->rx = NULL;
	}
	if (pcb) {
		tcp_arg(pcb, NULL);
		tcp_recv(pcb, NULL);
		tcp_sent(pcb, NULL);
		tcp_err(pcb, NULL);
		/* lwIP's segments may still point at our pieces: abort drops
		 * them; a close would keep them for retransmission. */
		if (c->tx_count > 0 || !conn_hand_to_drain(pcb)) {
			tcp_abort(pcb);
			aborted = true;
		}
		c->pcb = NULL;
	}
	tx_drop(c);
	usbip_conn_destroy(&c->core);
	c->used = false;
	return aborted;
}

/* Consumes the head pbuf of c->rx. */
static void rx_pop(struct lwip_conn *c)
{
	struct pbuf *q = c->rx, *next = q->next;

	/* q and its successors are one chain: keep next alive on its own
	 * before freeing q (pbuf_free walks the chain). */
	if (next)
		pbuf_ref(next);
	pbuf_free(q);
	c->rx = next;
	c->rx_off = 0;
}

/* Feeds the core what it will take now, within the output budget. */
static void rx_feed(struct lwip_conn *c)
{
	while (c->rx && !c->ending && c->pcb && c->tx_bytes < USBIP_FW_CFG_TX_LIMIT) {
		struct pbuf *q = c->rx;
		size_t avail = (size_t)(q->len - c->rx_off);
		unsigned room = USBIP_FW_CFG_TX_ENTRIES - c->tx_count;
		size_t chunk;
		long n;

		if (avail == 0) {
			rx_pop(c);
			continue;
		}
		/* Each 48 bytes may complete one command and queue one reply
		 * at once; keep room for what the URBs in flight will send. */
		if (room <= TX_RESERVE)
			break;
		chunk = (size_t)(room - TX_RESERVE) * USBIP_HEADER_SIZE;
		if (chunk > avail)
			chunk = avail;
		n = usbip_conn_feed(&c->core, (const uint8_t *)q->payload + c->rx_off, chunk);
		if (n <= 0)
			break; /* at a limit, or malformed (the core called close) */
		c->rx_off = (uint16_t)(c->rx_off + n);
		/* Only now may the peer send these bytes again. */
		tcp_recved(c->pcb, (u16_t)n);
		if (c->rx_off == q->len)
			rx_pop(c);
		if ((size_t)n < chunk)
			break;
	}
}

/* Everything a callback does last: move output, take input, maybe end. */
static err_t conn_kick(struct lwip_conn *c)
{
	if (!c->ending && !tx_pump(c)) {
		c->ending = true;
		c->flush = false;
	}
	rx_feed(c);
	/* rx_feed may have made the core close the connection. */
	if (c->ending && !tx_pump(c))
		c->flush = false;
	return conn_try_finish(c) ? ERR_ABRT : ERR_OK;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	struct lwip_conn *c = arg;

	if (!p) {
		/* The peer closed: whatever it sent was consumed or is moot. */
		c->ending = true;
		c->flush = false;
		return conn_try_finish(c) ? ERR_ABRT : ERR_OK;
	}
	if (err != ERR_OK) {
		pbuf_free(p);
		return err;
	}
	if (c->ending) {
		tcp_recved(pcb, p->tot_len);
		pbuf_free(p);
		return ERR_OK;
	}
	if (c->rx)
		pbuf_cat(c->rx, p); /* the chain takes over p's reference */
	else
		c->rx = p;
	return conn_kick(c);
}

static err_t on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	struct lwip_conn *c = arg;
	uint32_t acked = len;

	(void)pcb;
	while (acked > 0 && c->tx_count > 0) {
		struct tx_piece *t = tx_at(c, 0);
		uint32_t take = t->written - t->acked;

		if (take > acked)
			take = acked;
		t->acked += take;
		acked -= take;
		c->tx_bytes -= take;
		if (t->acked < t->len)
			break;
		piece_release(t);
		c->tx_head = (uint8_t)((c->tx_head + 1) % USBIP_FW_CFG_TX_ENTRIES);
		c->tx_count--;
	}
	return conn_kick(c);
}

/* A peer that never reads cannot hold a closing connection for good. */
#define FLUSH_POLLS 10

static err_t on_poll(void *arg, struct tcp_pcb *pcb)
{
	struct lwip_conn *c = arg;

	(void)pcb;
	if (c->ending && ++c->end_polls >= FLUSH_POLLS)
		c->flush = false;
	return conn_kick(c);
}

static void on_err(void *arg, err_t err)
{
	struct lwip_conn *c = arg;

	(void)err;
	/* lwIP has freed the pcb and its segments: nothing points at our
	 * pieces any more. */
	c->pcb = NULL;
	c->ending = true;
	c->flush = false;
	conn_try_finish(c);
}

static err_t on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	struct lwip_conn *c = NULL;

	(void)arg;
	if (err != ERR_OK || !pcb)
		return ERR_VAL;
	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_CONNS && !c; i++)
		if (!lw.conns[i].used)
			c = &lw.conns[i];
	if (!c) {
		/* USBIP_FW_CFG_MAX_CONNS reached: refuse with a reset. */
		tcp_abort(pcb);
		return ERR_ABRT;
	}
	memset(c, 0, sizeof(*c));
	c->used = true;
	c->pcb = pcb;
	usbip_conn_init(lw.srv, &c->core, c);
	tcp_arg(pcb, c);
	tcp_recv(pcb, on_recv);
	tcp_sent(pcb, on_sent);
	tcp_err(pcb, on_err);
	tcp_poll(pcb, on_poll, 2); /* every second */
	/* URB replies are latency-bound: vhci waits for each. */
	tcp_nagle_disable(pcb);
	return ERR_OK;
}

/* ---- usbip_server_ops ----------------------------------------------------- */

static int lwip_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb)
{
	struct lwip_conn *c = conn->transport;
	struct tx_piece *t;
	void *copy = NULL;

	if (!c->pcb || c->tx_count == USBIP_FW_CFG_TX_ENTRIES || len > UINT32_MAX) {
		if (urb)
			usbip_urb_free(urb);
		return c->pcb ? USBIP_E_NOMEM : USBIP_E_CLOSED;
	}
	if (!urb) {
		/* The core's buffer is on its stack: keep a copy until acked. */
		copy = usbip_fw_pool_alloc(len);
		if (!copy)
			return USBIP_E_NOMEM;
		memcpy(copy, buf, len);
		buf = copy;
	}
	t = tx_at(c, c->tx_count);
	t->buf = buf;
	t->len = (uint32_t)len;
	t->written = t->acked = 0;
	t->urb = urb;
	c->tx_count++;
	c->tx_bytes += (uint32_t)len;
	/* Inside the core: write now, but never end or feed from here. */
	if (!tx_pump(c))
		return USBIP_E_CLOSED;
	return USBIP_OK;
}

static void lwip_close(struct usbip_conn *conn, int reason)
{
	struct lwip_conn *c = conn->transport;

	/* Never destroy here: the core is still using conn. on_recv,
	 * on_sent, on_poll or usbip_lwip_service() finish it. A normal end
	 * (an OP reply) and a removed device (reason USBIP_E_CLOSED, its
	 * URBs' -ENODEV replies queued) flush first; a protocol error drops
	 * the output. */
	c->ending = true;
	c->flush = reason == 0 || reason == USBIP_E_CLOSED;
}

const struct usbip_server_ops usbip_lwip_server_ops = {
        .alloc = pool_alloc,
        .free = pool_free,
        .send = lwip_send,
        .close = lwip_close,
};

/* ---- start, stop, service ------------------------------------------------ */

int usbip_lwip_start(struct usbip_server *srv, uint16_t port)
{
	struct tcp_pcb *pcb, *listen;

	if (lw.listen)
		return USBIP_E_STATE;
	pcb = tcp_new_ip_type(IPADDR_TYPE_ANY);
	if (!pcb)
		return USBIP_E_NOMEM;
#if SO_REUSE
	ip_set_option(pcb, SOF_REUSEADDR); /* restart while old pcbs linger */
#endif
	if (tcp_bind(pcb, IP_ANY_TYPE, port) != ERR_OK) {
		tcp_close(pcb);
		return USBIP_E_INVALID;
	}
	listen = tcp_listen_with_backlog(pcb, USBIP_FW_CFG_MAX_CONNS);
	if (!listen) {
		tcp_close(pcb);
		return USBIP_E_NOMEM;
	}
	memset(lw.conns, 0, sizeof(lw.conns));
	srv->max_urbs_per_conn = USBIP_FW_CFG_MAX_URBS;
	srv->max_bytes_per_conn = USBIP_FW_CFG_POOL_BYTES / 2;
	lw.srv = srv;
	lw.listen = listen;
	tcp_accept(listen, on_accept);
	return USBIP_OK;
}

void usbip_lwip_stop(void)
{
	if (!lw.listen)
		return;
	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_CONNS; i++) {
		struct lwip_conn *c = &lw.conns[i];

		if (!c->used)
			continue;
		c->ending = true;
		c->flush = false;
		conn_try_finish(c);
	}
	tcp_accept(lw.listen, NULL);
	tcp_close(lw.listen);
	lw.listen = NULL;
	lw.srv = NULL;
}

void usbip_lwip_service(void)
{
	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_CONNS; i++)
		if (lw.conns[i].used)
			conn_kick(&lw.conns[i]);
}

unsigned usbip_lwip_conn_count(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_CONNS; i++)
		n += lw.conns[i].used;
	return n;
}
