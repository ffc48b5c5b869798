/* SPDX-License-Identifier: MIT */
/*
 * usbip_server.c - the portable USB/IP server core: export table,
 * connection state machine, URB bookkeeping and unlink rules.
 *
 * No I/O and no allocation of its own: bytes come in through
 * usbip_conn_feed(), go out through ops->send, and URB memory comes from
 * ops->alloc. See usbip_server.h for the contracts.
 */
#include "usbip_server.h"

#include <string.h>

enum urb_state {
	URB_RX = 0,        /* payload still arriving */
	URB_INFLIGHT = 1,  /* with the backend */
	URB_UNLINKING = 2, /* with the backend, a CMD_UNLINK asked to cancel it */
};

/* USB standard request fields (USB 2.0 §9.3, §9.4; hub class §11.24). */
#define REQ_CLEAR_FEATURE     1
#define REQ_SET_FEATURE       3
#define REQ_SET_CONFIGURATION 9
#define REQ_SET_INTERFACE     11
#define FEAT_ENDPOINT_HALT    0
#define FEAT_PORT_RESET       4

void usbip_server_init(struct usbip_server *srv, const struct usbip_server_ops *ops, void *ctx)
{
	memset(srv, 0, sizeof(*srv));
	srv->ops = ops;
	srv->ctx = ctx;
	srv->max_urbs_per_conn = USBIP_CFG_MAX_URBS_IN_FLIGHT;
	srv->max_bytes_per_conn = USBIP_CFG_MAX_CONN_BYTES;
}

/* ---- export table ------------------------------------------------------- */

struct usbip_export *usbip_server_find_busid(struct usbip_server *srv, const char *busid)
{
	for (struct usbip_export *e = srv->exports; e; e = e->next)
		if (strncmp(e->info.busid, busid, USBIP_BUSID_SIZE) == 0)
			return e;
	return NULL;
}

int usbip_server_add_export(struct usbip_server *srv, struct usbip_export *exp)
{
	const struct usbip_device_ops *ops = exp->ops;
	struct usbip_export **pp;

	if (!ops || !ops->name || !ops->ep_type || !ops->submit)
		return USBIP_E_INVALID;
	if (exp->info.busid[0] == 0 || !memchr(exp->info.busid, 0, USBIP_BUSID_SIZE) ||
	    exp->info.bNumInterfaces > USBIP_MAX_INTERFACES)
		return USBIP_E_INVALID;
	if (usbip_server_find_busid(srv, exp->info.busid))
		return USBIP_E_INVALID;
	exp->srv = srv;
	exp->conn = NULL;
	exp->inflight = 0;
	exp->closing = false;
	exp->removed = false;
	exp->opening = false;
	exp->special = NULL;
	/* Appended, so DEVLIST shows devices in the order they were added. */
	exp->next = NULL;
	pp = &srv->exports;
	while (*pp)
		pp = &(*pp)->next;
	*pp = exp;
	if (srv->ops->exported)
		srv->ops->exported(exp);
	return USBIP_OK;
}

/*
 * Moves an export on once the core's references drain: close() when its
 * client is gone and every URB is back, release() when it was removed too.
 */
static void export_settle(struct usbip_export *exp)
{
	struct usbip_server *srv = exp->srv;

	if (exp->inflight > 0)
		return;
	if (exp->closing) {
		exp->closing = false;
		if (srv->ops->unimported)
			srv->ops->unimported(exp);
		if (exp->ops->close)
			exp->ops->close(exp);
	}
	if (exp->removed && !exp->conn && !exp->closing) {
		exp->removed = false; /* release() exactly once */
		exp->srv = NULL;
		if (exp->ops->release)
			exp->ops->release(exp);
	}
}

static void conn_end(struct usbip_conn *conn, int reason, const char *why);

void usbip_server_remove_export(struct usbip_server *srv, struct usbip_export *exp)
{
	for (struct usbip_export **pp = &srv->exports; *pp; pp = &(*pp)->next) {
		if (*pp == exp) {
			*pp = exp->next;
			break;
		}
	}
	exp->next = NULL;
	exp->removed = true;
	if (srv->ops->unexported)
		srv->ops->unexported(exp);
	if (exp->conn) {
		/* The transport calls usbip_conn_destroy(), which settles exp. */
		conn_end(exp->conn, USBIP_E_CLOSED, "device removed");
		return;
	}
	export_settle(exp);
}

/* ---- URB memory --------------------------------------------------------- */

/*
 * One block per URB: the struct, the host-order ISO array, then the wire
 * image (48-byte header room, data, ISO descriptor room), so a reply goes
 * out as one contiguous send from `wire`.
 */
static struct usbip_urb *urb_alloc(struct usbip_server *srv, uint32_t length, uint32_t niso)
{
	size_t isz = (size_t)niso * sizeof(struct usbip_iso_packet);
	size_t wsz = USBIP_HEADER_SIZE + (size_t)length + (size_t)niso * USBIP_ISO_DESC_SIZE;
	size_t size = sizeof(struct usbip_urb) + isz + wsz;
	struct usbip_urb *urb = srv->ops->alloc(srv->ctx, size);
	uint8_t *p;

	if (!urb)
		return NULL;
	memset(urb, 0, sizeof(*urb));
	p = (uint8_t *)(urb + 1);
	urb->iso = niso ? (struct usbip_iso_packet *)p : NULL;
	urb->wire = p + isz;
	urb->data = urb->wire + USBIP_HEADER_SIZE;
	urb->alloc_size = size;
	urb->srv = srv;
	return urb;
}

void usbip_urb_free(struct usbip_urb *urb)
{
	struct usbip_server *srv = urb->srv;

	if (urb->data_ext)
		urb->exp->ops->data_free(urb->exp, urb->data, urb->ep_type, (size_t)urb->length);
	srv->ops->free(srv->ctx, urb, urb->alloc_size);
}

/* What a URB holds, its data included wherever it lies. */
static size_t urb_bytes(const struct usbip_urb *urb)
{
	return urb->alloc_size + (urb->data_ext ? (size_t)urb->length : 0);
}

/* ---- connections -------------------------------------------------------- */

void usbip_conn_init(struct usbip_server *srv, struct usbip_conn *conn, void *transport)
{
	memset(conn, 0, sizeof(*conn));
	conn->srv = srv;
	conn->transport = transport;
	conn->phase = USBIP_PHASE_OP;
}

/* Ends conn: reason 0 for a normal end, else an error that conn->error
 * explains. Input is ignored from here on. */
static void conn_end(struct usbip_conn *conn, int reason, const char *why)
{
	if (conn->phase == USBIP_PHASE_DONE)
		return;
	conn->phase = USBIP_PHASE_DONE;
	if (why)
		conn->error = why;
	conn->srv->ops->close(conn, reason);
}

static int conn_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb)
{
	int rc = conn->srv->ops->send(conn, buf, len, urb);

	if (rc < 0)
		conn_end(conn, rc, "transport refused output");
	return rc;
}

bool usbip_conn_wants_input(const struct usbip_conn *conn)
{
	const struct usbip_server *srv = conn->srv;

	if (conn->phase == USBIP_PHASE_DONE || conn->phase == USBIP_PHASE_OPENING)
		return false;
	/* A special request in progress holds the client's next commands back
	 * (usbip_server.h). */
	if (conn->phase == USBIP_PHASE_URB && conn->exp->special)
		return false;
	if (conn->phase == USBIP_PHASE_OP || conn->rx_urb || conn->hdr_have > 0)
		return true;
	/* A lone URB above the byte budget is still taken when nothing is in
	 * flight, so the budget cannot stop a connection for good. */
	return conn->ninflight < srv->max_urbs_per_conn &&
	       (conn->ninflight == 0 || conn->inflight_bytes < srv->max_bytes_per_conn);
}

static void inflight_add(struct usbip_conn *conn, struct usbip_urb *urb)
{
	urb->prev = NULL;
	urb->next = conn->inflight;
	if (conn->inflight)
		conn->inflight->prev = urb;
	conn->inflight = urb;
	conn->ninflight++;
	conn->inflight_bytes += urb_bytes(urb);
}

static void inflight_del(struct usbip_conn *conn, struct usbip_urb *urb)
{
	if (urb->prev)
		urb->prev->next = urb->next;
	else
		conn->inflight = urb->next;
	if (urb->next)
		urb->next->prev = urb->prev;
	urb->next = urb->prev = NULL;
	conn->ninflight--;
	conn->inflight_bytes -= urb_bytes(urb);
}

static struct usbip_urb *inflight_find(struct usbip_conn *conn, uint32_t seqnum)
{
	for (struct usbip_urb *u = conn->inflight; u; u = u->next)
		if (u->seqnum == seqnum)
			return u;
	return NULL;
}

void usbip_conn_destroy(struct usbip_conn *conn)
{
	struct usbip_export *exp = conn->exp;
	struct usbip_urb *list = conn->inflight, *u, *next;

	conn->phase = USBIP_PHASE_DONE;
	if (conn->rx_urb) {
		usbip_urb_free(conn->rx_urb);
		conn->rx_urb = NULL;
	}
	conn->inflight = NULL;
	conn->ninflight = 0;
	conn->inflight_bytes = 0;
	conn->exp = NULL;
	if (!exp)
		return;
	exp->conn = NULL;
	if (exp->opening) {
		/* The backend is still opening it: usbip_open_done() ends it. */
		return;
	}
	exp->closing = true;
	/* Orphan first, then cancel: a cancel may complete (and free) its URB
	 * at once. The extra count keeps exp from settling mid-loop. */
	for (u = list; u; u = u->next)
		u->conn = NULL;
	exp->inflight++;
	for (u = list; u; u = next) {
		next = u->next;
		if (exp->ops->cancel)
			exp->ops->cancel(exp, u);
	}
	exp->inflight--;
	export_settle(exp);
}

/* ---- replies ------------------------------------------------------------ */

static void send_ret_unlink(struct usbip_conn *conn, uint32_t seqnum, int32_t status)
{
	struct usbip_header h;
	uint8_t buf[USBIP_HEADER_SIZE];

	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_RET_UNLINK;
	h.base.seqnum = seqnum;
	h.u.ret_unlink.status = status;
	usbip_encode_header(buf, sizeof(buf), &h);
	conn_send(conn, buf, sizeof(buf), NULL);
}

/* Builds RET_SUBMIT in urb->wire and hands the URB to the transport. */
static void send_ret_submit(struct usbip_conn *conn, struct usbip_urb *urb)
{
	struct usbip_header h;
	size_t payload = 0;
	int32_t actual = urb->actual_length;
	int32_t np = urb->np_echo;

	/* actual_length is never above the request's length: vhci drops the
	 * connection otherwise (§3.3). */
	if (actual < 0)
		actual = 0;
	if (actual > urb->length)
		actual = urb->length;
	if (urb->ep_type == USBIP_EP_ISO) {
		long sum = 0;

		for (uint32_t i = 0; i < urb->niso; i++) {
			struct usbip_iso_packet *p = &urb->iso[i];

			if (p->actual_length > p->length)
				p->actual_length = p->length;
		}
		/* IN data is packed, OUT data is not sent back; either way vhci
		 * requires Σ actual_length == actual_length (§3.4). */
		if (urb->dir_in) {
			sum = usbip_iso_pack(urb->data, (uint32_t)urb->length, urb->iso, urb->niso);
		} else {
			for (uint32_t i = 0; i < urb->niso && sum <= urb->length; i++)
				sum += urb->iso[i].actual_length;
			if (sum > urb->length)
				sum = USBIP_E_INVALID;
		}
		if (sum < 0) {
			/* The descriptors passed usbip_decode_iso, so only a backend
			 * that rewrote offsets or lengths gets here: report nothing
			 * rather than a frame vhci would reject. */
			for (uint32_t i = 0; i < urb->niso; i++)
				urb->iso[i].actual_length = 0;
			sum = 0;
			if (urb->status == 0)
				urb->status = -USBIP_EPROTO;
		}
		actual = (int32_t)sum;
		payload = urb->dir_in ? (size_t)actual : 0;
		usbip_encode_iso(urb->data + payload,
		                 (size_t)urb->length - payload + urb->niso * USBIP_ISO_DESC_SIZE,
		                 urb->iso, urb->niso);
		payload += urb->niso * USBIP_ISO_DESC_SIZE;
		np = (int32_t)urb->niso;
	} else if (urb->dir_in) {
		payload = (size_t)actual;
	}
	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_RET_SUBMIT;
	h.base.seqnum = urb->seqnum;
	h.u.ret_submit.status = urb->status > 0 ? -USBIP_EPROTO : urb->status;
	h.u.ret_submit.actual_length = actual;
	h.u.ret_submit.start_frame = urb->out_start_frame;
	h.u.ret_submit.number_of_packets = np; /* echoed for non-ISO (§3.5) */
	h.u.ret_submit.error_count = urb->error_count;
	usbip_encode_header(urb->wire, USBIP_HEADER_SIZE, &h);
	urb->exp->urbs[urb->dir_in]++; /* metrics: every URB answered passes here */
	urb->exp->bytes[urb->dir_in] += (uint32_t)actual;
	urb->exp->urb_errors[urb->dir_in] += h.u.ret_submit.status != 0;
	conn->srv->urb_errors += h.u.ret_submit.status != 0;
	if (urb->data_ext && payload > 0) {
		/* IN data in the backend's memory: the transport sends it from
		 * there, after the header. */
		if (conn->srv->ops->send_split(conn, urb->wire, USBIP_HEADER_SIZE, urb->data,
		                               payload, urb) < 0)
			conn_end(conn, USBIP_E_NOMEM, "transport refused output");
		return;
	}
	conn_send(conn, urb->wire, USBIP_HEADER_SIZE + (urb->data_ext ? 0 : payload), urb);
}

void usbip_urb_complete(struct usbip_urb *urb)
{
	struct usbip_export *exp = urb->exp;
	struct usbip_conn *conn = urb->conn;

	exp->inflight--;
	/* Lifted before the reply goes out, so the transport that checks
	 * usbip_conn_wants_input() in send() reads on. */
	if (exp->special == urb)
		exp->special = NULL;
	if (!conn) {
		/* Orphan of a destroyed connection: no reply (§4.4, ENOENT). */
		usbip_urb_free(urb);
		export_settle(exp);
		return;
	}
	inflight_del(conn, urb);
	if (conn->phase == USBIP_PHASE_DONE) {
		usbip_urb_free(urb);
		return;
	}
	if (urb->state == URB_UNLINKING) {
		uint32_t unlink_seq = urb->unlink_seqnum;

		if (urb->status == 0) {
			/* It finished before the cancel took: deliver the data,
			 * then RET_UNLINK(0), in that order (§4.3 rule 4). */
			send_ret_submit(conn, urb);
			send_ret_unlink(conn, unlink_seq, 0);
		} else {
			/* Cancelled: RET_UNLINK(-ECONNRESET) and never a RET_SUBMIT
			 * for it (§4.3 rules 1 and 3). */
			usbip_urb_free(urb);
			send_ret_unlink(conn, unlink_seq, -USBIP_ECONNRESET);
		}
		return;
	}
	send_ret_submit(conn, urb);
}

/* ---- URB phase ---------------------------------------------------------- */

/*
 * The requests the stub handles through the host's API instead of
 * forwarding (§4.5). Returns 0 when handled (the URB completes at once with
 * status 0), USBIP_PENDING when the backend finishes it later
 * (usbip_special_done), or a negative value when the URB must go to
 * submit().
 */
static int handle_special_request(struct usbip_export *exp, const struct usbip_urb *urb)
{
	const struct usbip_device_ops *ops = exp->ops;
	uint8_t type = urb->setup[0], req = urb->setup[1];
	uint16_t value = usbip_get_le16(urb->setup + 2);
	uint16_t index = usbip_get_le16(urb->setup + 4);

	if (urb->ep != 0 || urb->dir_in)
		return -1;
	if (type == 0x02 && req == REQ_CLEAR_FEATURE && value == FEAT_ENDPOINT_HALT &&
	    ops->clear_halt)
		return ops->clear_halt(exp, (uint8_t)(index & 0x8f));
	if (type == 0x01 && req == REQ_SET_INTERFACE && ops->set_interface)
		return ops->set_interface(exp, (uint8_t)index, (uint8_t)value);
	if (type == 0x00 && req == REQ_SET_CONFIGURATION && ops->set_configuration)
		return ops->set_configuration(exp, (uint8_t)value);
	if (type == 0x23 && req == REQ_SET_FEATURE && value == FEAT_PORT_RESET && ops->reset)
		return ops->reset(exp);
	return -1;
}

/* Whether urb's non-empty ISO packets come in buffer order, as the kernel
 * sends them (offset i * maxpacket). */
static bool iso_in_buffer_order(const struct usbip_urb *urb)
{
	uint32_t end = 0;

	for (uint32_t i = 0; i < urb->niso; i++) {
		if (urb->iso[i].length == 0)
			continue;
		if (urb->iso[i].offset < end)
			return false;
		end = urb->iso[i].offset + urb->iso[i].length;
	}
	return true;
}

/* The payload of conn->rx_urb is complete: hand it to the backend. */
static void urb_dispatch(struct usbip_conn *conn, struct usbip_urb *urb)
{
	struct usbip_export *exp = conn->exp;
	int rc;

	conn->rx_urb = NULL;
	if (urb->niso) {
		rc = usbip_decode_iso(urb->data + (urb->dir_in ? 0 : urb->length),
		                      urb->niso * USBIP_ISO_DESC_SIZE, urb->iso, urb->niso,
		                      (uint32_t)urb->length);
		if (rc < 0) {
			/* Before any backend sees them: packets outside the buffer
			 * or overlapping (so their lengths could sum past it). */
			usbip_urb_free(urb);
			conn_end(conn, rc, "ISO descriptors outside the buffer or overlapping");
			return;
		}
		if (!iso_in_buffer_order(urb) &&
		    (uint64_t)urb->niso * (uint64_t)urb->length > USBIP_CFG_MAX_ISO_REORDER) {
			usbip_urb_free(urb);
			conn_end(conn, USBIP_E_INVALID,
			         "ISO packets out of buffer order in a set too large to reorder");
			return;
		}
		for (uint32_t i = 0; i < urb->niso; i++) {
			urb->iso[i].actual_length = 0;
			urb->iso[i].status = 0;
		}
	}
	urb->state = URB_INFLIGHT;
	inflight_add(conn, urb);
	exp->inflight++;
	if (urb->ep_type == 0xff) {
		/* No such endpoint: a STALL, after the payload was consumed. */
		urb->status = -USBIP_EPIPE;
		usbip_urb_complete(urb);
		return;
	}
	if (urb->ep_type == USBIP_EP_CONTROL) {
		exp->special = urb;
		rc = handle_special_request(exp, urb);
		if (rc == USBIP_PENDING)
			return;
		exp->special = NULL;
		if (rc == 0) {
			urb->status = 0;
			urb->actual_length = 0;
			usbip_urb_complete(urb);
			return;
		}
	}
	rc = exp->ops->submit(exp, urb);
	if (rc < 0) {
		urb->status = rc;
		urb->actual_length = 0;
		usbip_urb_complete(urb);
	}
}

static void cmd_submit(struct usbip_conn *conn, const struct usbip_header *h)
{
	const struct usbip_header_cmd_submit *c = &h->u.cmd_submit;
	struct usbip_export *exp = conn->exp;
	uint8_t ep = (uint8_t)(h->base.ep & 0x0f);
	bool dir_in = h->base.direction == USBIP_DIR_IN;
	int type;
	long payload;
	struct usbip_urb *urb;
	void *ext;

	if (h->base.ep > 15 || h->base.direction > 1) {
		conn_end(conn, USBIP_E_INVALID, "endpoint or direction out of range");
		return;
	}
	type = ep == 0 ? USBIP_EP_CONTROL : exp->ops->ep_type(exp, (uint8_t)(ep | (dir_in << 7)));
	/* ISO is classified by endpoint type, never by number_of_packets, which
	 * clients fill with 0, -1 or garbage elsewhere (§3.5). */
	payload = usbip_cmd_submit_payload_size(h, type == USBIP_EP_ISO);
	if (payload < 0) {
		conn_end(conn, (int)payload,
		         payload == USBIP_E_LIMIT ? "CMD_SUBMIT length or packet count above limit"
		                                  : "malformed CMD_SUBMIT");
		return;
	}
	/* Data in the backend's memory when it offers some (never for ISO,
	 * whose descriptors follow the data in one buffer). */
	ext = NULL;
	if (type != USBIP_EP_ISO && type >= 0 && c->transfer_buffer_length > 0 &&
	    exp->ops->data_alloc && exp->ops->data_free && conn->srv->ops->send_split)
		ext = exp->ops->data_alloc(exp, (uint8_t)type, (size_t)c->transfer_buffer_length);
	urb = urb_alloc(conn->srv, ext ? 0 : (uint32_t)c->transfer_buffer_length,
	                type == USBIP_EP_ISO ? (uint32_t)c->number_of_packets : 0);
	if (!urb) {
		if (ext)
			exp->ops->data_free(exp, ext, (uint8_t)type,
			                    (size_t)c->transfer_buffer_length);
		conn_end(conn, USBIP_E_NOMEM, "out of memory for a URB");
		return;
	}
	if (ext) {
		urb->data = ext;
		urb->data_ext = true;
		if (conn->srv->ops->charge)
			conn->srv->ops->charge(conn->srv->ctx, urb,
			                       (size_t)c->transfer_buffer_length);
	}
	urb->seqnum = h->base.seqnum;
	urb->ep = ep;
	urb->dir_in = dir_in;
	urb->ep_type = type < 0 ? 0xff : (uint8_t)type;
	urb->transfer_flags = c->transfer_flags;
	urb->length = c->transfer_buffer_length;
	urb->start_frame = c->start_frame;
	urb->interval = c->interval;
	memcpy(urb->setup, c->setup, 8);
	urb->niso = type == USBIP_EP_ISO ? (uint32_t)c->number_of_packets : 0;
	urb->np_echo = c->number_of_packets;
	urb->out_start_frame = type == USBIP_EP_ISO || type == USBIP_EP_INT ? c->start_frame : 0;
	urb->conn = conn;
	urb->exp = exp;
	urb->state = URB_RX;
	conn->rx_urb = urb;
	conn->rx_have = 0;
	conn->rx_need = (size_t)payload;
	if (payload == 0)
		urb_dispatch(conn, urb);
}

static void cmd_unlink(struct usbip_conn *conn, const struct usbip_header *h)
{
	struct usbip_urb *urb = inflight_find(conn, h->u.cmd_unlink.unlink_seqnum);

	if (!urb || urb->state != URB_INFLIGHT) {
		/* Completed (its RET_SUBMIT is already queued ahead of this) or
		 * never seen: RET_UNLINK(0) at once (§4.3 rule 2). */
		send_ret_unlink(conn, h->base.seqnum, 0);
		return;
	}
	urb->state = URB_UNLINKING;
	urb->unlink_seqnum = h->base.seqnum;
	if (conn->exp->ops->cancel)
		conn->exp->ops->cancel(conn->exp, urb);
}

uint8_t *usbip_conn_rx_window(struct usbip_conn *conn, size_t *len)
{
	struct usbip_urb *urb = conn->rx_urb;

	*len = 0;
	if (conn->phase != USBIP_PHASE_URB || !urb)
		return NULL;
	*len = conn->rx_need - conn->rx_have;
	return urb->data + conn->rx_have;
}

void usbip_conn_rx_commit(struct usbip_conn *conn, size_t n)
{
	struct usbip_urb *urb = conn->rx_urb;

	if (conn->phase != USBIP_PHASE_URB || !urb || n > conn->rx_need - conn->rx_have)
		return;
	conn->rx_have += n;
	if (conn->rx_have == conn->rx_need)
		urb_dispatch(conn, urb);
}

/* Consumes URB-phase bytes. Returns bytes used. */
static size_t feed_urb_phase(struct usbip_conn *conn, const uint8_t *buf, size_t len)
{
	struct usbip_header h;
	size_t used = 0, n;
	int rc;

	while (used < len && conn->phase == USBIP_PHASE_URB) {
		if (conn->rx_urb) {
			struct usbip_urb *urb = conn->rx_urb;

			n = conn->rx_need - conn->rx_have;
			if (n > len - used)
				n = len - used;
			/* The payload lands right after the header room: OUT data
			 * at data[0..length), ISO descriptors after the data (or at
			 * data[0] for IN, which carries no data). */
			memcpy(urb->data + conn->rx_have, buf + used, n);
			conn->rx_have += n;
			used += n;
			if (conn->rx_have == conn->rx_need)
				urb_dispatch(conn, urb);
			continue;
		}
		if (conn->hdr_have == 0 && !usbip_conn_wants_input(conn))
			break;
		n = USBIP_HEADER_SIZE - conn->hdr_have;
		if (n > len - used)
			n = len - used;
		memcpy(conn->hdr + conn->hdr_have, buf + used, n);
		conn->hdr_have += n;
		used += n;
		if (conn->hdr_have < USBIP_HEADER_SIZE)
			break;
		conn->hdr_have = 0;
		rc = usbip_decode_header(conn->hdr, USBIP_HEADER_SIZE, &h);
		if (rc < 0) {
			conn_end(conn, rc,
			         rc == USBIP_E_CODE ? "unknown URB command"
			         : rc == USBIP_E_LIMIT
			                 ? "CMD_SUBMIT transfer_buffer_length above limit"
			                 : "malformed URB header");
			break;
		}
		if (h.base.command == USBIP_CMD_SUBMIT)
			cmd_submit(conn, &h);
		else if (h.base.command == USBIP_CMD_UNLINK)
			cmd_unlink(conn, &h);
		else
			conn_end(conn, USBIP_E_STATE, "RET_* command sent by a client");
	}
	return used;
}

static void op_devlist(struct usbip_conn *conn)
{
	struct usbip_server *srv = conn->srv;
	uint8_t rec[USBIP_DEVICE_SIZE + USBIP_MAX_INTERFACES * USBIP_INTERFACE_SIZE];
	uint32_t ndev = 0;
	int n;

	/* usbipd hides devices that are already imported (§2.4). */
	for (struct usbip_export *e = srv->exports; e; e = e->next)
		if (!e->conn && !e->closing)
			ndev++;
	n = usbip_encode_op_rep_devlist_header(rec, sizeof(rec), ndev);
	if (conn_send(conn, rec, (size_t)n, NULL) < 0)
		return;
	for (struct usbip_export *e = srv->exports; e; e = e->next) {
		struct usbip_usb_device shown;

		if (e->conn || e->closing)
			continue;
		shown = e->info;
		if (srv->ops->devlist_entry)
			srv->ops->devlist_entry(conn, e, &shown);
		/* The owner may rewrite text, never the framing. */
		shown.bNumInterfaces = e->info.bNumInterfaces;
		shown.path[sizeof(shown.path) - 1] = 0;
		shown.busid[sizeof(shown.busid) - 1] = 0;
		n = usbip_encode_usb_device(rec, sizeof(rec), &shown, e->ifs, shown.bNumInterfaces);
		if (n < 0) {
			conn_end(conn, n, "export record does not encode");
			return;
		}
		if (conn_send(conn, rec, (size_t)n, NULL) < 0)
			return;
	}
	/* Linux usbipd answers one OP request per connection (§1). */
	conn_end(conn, 0, NULL);
}

enum usbip_op_status usbip_import_status(int open_rc)
{
	if (open_rc == USBIP_ST_OK)
		return USBIP_ST_OK;
	/* ST_ERROR is the client's own verdict (§2.2), never a server's. */
	if (open_rc >= USBIP_ST_NA && open_rc <= USBIP_ST_NODEV)
		return (enum usbip_op_status)open_rc;
	if (open_rc == -USBIP_ENODEV || open_rc == -USBIP_ESHUTDOWN)
		return USBIP_ST_NODEV;
	if (open_rc == -USBIP_EBUSY)
		return USBIP_ST_DEV_BUSY;
	return USBIP_ST_NA;
}

/* Answers OP_REQ_IMPORT: st is USBIP_ST_OK once exp is open, else the
 * refusal; requested is what the client asked for (for import_refused). */
static void import_reply(struct usbip_conn *conn, struct usbip_export *exp, const char *requested,
                         enum usbip_op_status st)
{
	struct usbip_server *srv = conn->srv;
	uint8_t rep[USBIP_OP_COMMON_SIZE + USBIP_DEVICE_SIZE];
	int n;

	if (st != USBIP_ST_OK) {
		if (srv->ops->import_refused)
			srv->ops->import_refused(conn, requested, (int)st);
		n = usbip_encode_op_rep_import(rep, sizeof(rep), st, NULL);
		if (conn_send(conn, rep, (size_t)n, NULL) == 0)
			conn_end(conn, 0, NULL);
		return;
	}
	exp->conn = conn;
	conn->exp = exp;
	conn->phase = USBIP_PHASE_URB;
	if (srv->ops->imported)
		srv->ops->imported(conn, exp);
	/* Linux's `usbip attach` refuses a reply whose busid differs from the
	 * one it asked for ("recv different busid"): a client that imported
	 * by name (or NAME#TOKEN) gets its own string back; vhci needs only
	 * busnum/devnum (devid) and speed from the rest. */
	if (strncmp(requested, exp->info.busid, USBIP_BUSID_SIZE) != 0) {
		struct usbip_usb_device echo = exp->info;

		const char *end = memchr(requested, 0, USBIP_BUSID_SIZE);

		memset(echo.busid, 0, sizeof(echo.busid));
		memcpy(echo.busid, requested,
		       end ? (size_t)(end - requested) : (size_t)USBIP_BUSID_SIZE - 1);
		n = usbip_encode_op_rep_import(rep, sizeof(rep), USBIP_ST_OK, &echo);
	} else {
		n = usbip_encode_op_rep_import(rep, sizeof(rep), USBIP_ST_OK, &exp->info);
	}
	conn_send(conn, rep, (size_t)n, NULL);
}

static void op_import(struct usbip_conn *conn, const char *requested)
{
	struct usbip_server *srv = conn->srv;
	struct usbip_export *exp = NULL;
	enum usbip_op_status st = USBIP_ST_OK;
	int rc;

	/* The owner may resolve names and refuse before the table is searched
	 * (issue 13: "the core asks before it imports"). */
	if (srv->ops->import_lookup)
		st = usbip_import_status(srv->ops->import_lookup(conn, requested, &exp));
	else
		exp = usbip_server_find_busid(srv, requested);
	if (st == USBIP_ST_OK && (!exp || exp->srv != srv || exp->removed))
		st = USBIP_ST_NODEV;
	else if (st == USBIP_ST_OK && (exp->conn || exp->closing || exp->opening))
		st = USBIP_ST_DEV_BUSY;
	else if (st == USBIP_ST_OK && exp->ops->open) {
		rc = exp->ops->open(exp);
		if (rc == USBIP_PENDING) {
			/* Held for this client until usbip_open_done(); the extra
			 * count keeps exp from being released meanwhile. */
			memcpy(conn->requested, requested, USBIP_BUSID_SIZE);
			exp->conn = conn;
			exp->opening = true;
			exp->inflight++;
			conn->exp = exp;
			conn->phase = USBIP_PHASE_OPENING;
			return;
		}
		st = usbip_import_status(rc);
	}
	import_reply(conn, exp, requested, st);
}

/* Consumes OP-phase bytes: one request. Returns bytes used. */
static size_t feed_op_phase(struct usbip_conn *conn, const uint8_t *buf, size_t len)
{
	struct usbip_op_common op;
	char busid[USBIP_BUSID_SIZE];
	size_t need, n, used = 0;
	int rc;

	need = conn->hdr_have < USBIP_OP_COMMON_SIZE ? USBIP_OP_COMMON_SIZE : 0;
	if (!need) {
		rc = usbip_decode_op_common(conn->hdr, conn->hdr_have, &op);
		need = op.code == USBIP_OP_REQ_IMPORT ? USBIP_OP_IMPORT_REQ_SIZE
		                                      : USBIP_OP_COMMON_SIZE;
	}
	n = need - conn->hdr_have;
	if (n > len)
		n = len;
	memcpy(conn->hdr + conn->hdr_have, buf, n);
	conn->hdr_have += n;
	used += n;
	if (conn->hdr_have < USBIP_OP_COMMON_SIZE)
		return used;
	rc = usbip_decode_op_common(conn->hdr, conn->hdr_have, &op);
	if (rc < 0) {
		conn_end(conn, rc,
		         "OP request without version 0x0111 (URB command before import?)");
		return used;
	}
	switch (op.code) {
	case USBIP_OP_REQ_DEVLIST:
		conn->hdr_have = 0;
		op_devlist(conn);
		break;
	case USBIP_OP_REQ_IMPORT:
		if (conn->hdr_have < USBIP_OP_IMPORT_REQ_SIZE)
			break; /* the busid follows */
		conn->hdr_have = 0;
		rc = usbip_decode_op_req_import(conn->hdr, USBIP_OP_IMPORT_REQ_SIZE, busid);
		if (rc < 0) {
			conn_end(conn, rc, "malformed OP_REQ_IMPORT busid");
			break;
		}
		op_import(conn, busid);
		break;
	default:
		conn_end(conn, USBIP_E_CODE, "unknown OP code");
		break;
	}
	return used;
}

long usbip_conn_feed(struct usbip_conn *conn, const uint8_t *buf, size_t len)
{
	size_t used = 0, n;

	while (used < len) {
		switch (conn->phase) {
		case USBIP_PHASE_OP:
			n = feed_op_phase(conn, buf + used, len - used);
			break;
		case USBIP_PHASE_URB:
			n = feed_urb_phase(conn, buf + used, len - used);
			break;
		case USBIP_PHASE_OPENING:
			/* Nothing is read until the backend has opened it. */
			return (long)used;
		default:
			/* Closing: what the peer still sends is dropped. */
			return conn->error ? USBIP_E_CLOSED : (long)len;
		}
		used += n;
		if (n == 0)
			break;
	}
	if (conn->phase == USBIP_PHASE_DONE && conn->error)
		return USBIP_E_CLOSED;
	return (long)used;
}

/* ---- backends finishing later ---------------------------------------------- */

void usbip_open_done(struct usbip_export *exp, int result)
{
	struct usbip_conn *conn = exp->conn;

	if (!exp->opening)
		return;
	exp->opening = false;
	exp->inflight--;
	if (conn && conn->phase == USBIP_PHASE_OPENING) {
		conn->exp = NULL;
		exp->conn = NULL;
		import_reply(conn, exp, conn->requested, usbip_import_status(result));
		return;
	}
	/* The client left (or its connection is ending): nobody imported it,
	 * so no unimported notification; undo what the backend opened. */
	if (conn) {
		conn->exp = NULL;
		exp->conn = NULL;
	}
	if (result == USBIP_ST_OK && exp->ops->close)
		exp->ops->close(exp);
	export_settle(exp);
}

void usbip_special_done(struct usbip_export *exp, int result)
{
	struct usbip_urb *urb = exp->special;

	if (!urb)
		return;
	if (result < 0 && urb->conn && urb->conn->phase == USBIP_PHASE_URB) {
		/* As after a synchronous failure: the device gets the request
		 * (§4.5). The hold on the client lasts until its reply. */
		result = exp->ops->submit(exp, urb);
		if (result == 0)
			return;
	}
	urb->status = result < 0 ? result : 0;
	urb->actual_length = 0;
	usbip_urb_complete(urb);
}
