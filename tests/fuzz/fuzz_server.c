/* SPDX-License-Identifier: MIT */
/*
 * fuzz_server.c - the server core's state machine under arbitrary input.
 *
 * Input: byte 0 chooses the backend's behaviour and the chunking, the rest
 * is the byte stream a client sends (after a valid OP_REQ_IMPORT of "1-1"
 * when bit 0 is set, so the URB phase is reached at once). Imports go
 * through the owner's import_lookup (fz_import_lookup names what it knows). Between chunks
 * the fake backend completes some of the URBs it holds. Properties:
 *   - every byte the core sends is a whole, decodable reply;
 *   - every RET_SUBMIT answers a URB that was submitted, once, and is never
 *     preceded by a RET_UNLINK that completed it;
 *   - every RET_UNLINK answers a CMD_UNLINK, once, in the order they came;
 *   - actual_length never exceeds the request's length;
 *   - after teardown every allocation is freed and a claimed device is
 *     closed exactly once.
 */
#include <string.h>

#include "fuzz.h"
#include "usbip_server.h"

#define MAX_HELD 64

struct fz {
	struct usbip_server srv;
	struct usbip_export exp;
	struct usbip_conn conn;
	struct usbip_urb *held[MAX_HELD];
	int nheld;
	uint8_t flags;
	size_t live;
	int opens, closes, closed;
	int refusals, refused_status;
	/* Reply stream as the client would read it. */
	uint8_t out[1 << 16];
	size_t outlen;
	bool imported;
	/* seqnums submitted and not yet answered, with their length and dir. */
	uint32_t pend_seq[512];
	int32_t pend_len[512];
	uint8_t pend_in[512];
	uint8_t pend_iso[512];
	int npend;
	/* CMD_UNLINKs seen in the input: their seqnum, target, and whether
	 * their RET_UNLINK went out. */
	uint32_t unl_seq[512], unl_target[512];
	bool unl_done[512];
	int nunl;
	/* seqnums the stream uses twice: replies cannot be told apart. */
	uint32_t dup_seq[512];
	int ndup;
	/* A table above was full: some requests are not recorded, so replies
	 * are checked for their form only. */
	bool lost;
};

static void *fz_alloc(void *ctx, size_t size)
{
	struct fz *f = ctx;

	/* Bit 6: an allocator with a small budget, to reach the NOMEM paths. */
	if ((f->flags & 0x40) && f->live + size > 200000)
		return NULL;
	f->live += size;
	return malloc(size);
}

static void fz_free(void *ctx, void *p, size_t size)
{
	struct fz *f = ctx;

	FUZZ_CHECK(f->live >= size);
	f->live -= size;
	free(p);
}

static int pend_find(struct fz *f, uint32_t seq)
{
	for (int i = 0; i < f->npend; i++)
		if (f->pend_seq[i] == seq)
			return i;
	return -1;
}

static void pend_drop(struct fz *f, int i)
{
	f->npend--;
	f->pend_seq[i] = f->pend_seq[f->npend];
	f->pend_len[i] = f->pend_len[f->npend];
	f->pend_in[i] = f->pend_in[f->npend];
	f->pend_iso[i] = f->pend_iso[f->npend];
}

static bool is_dup(const struct fz *f, uint32_t seq)
{
	for (int i = 0; i < f->ndup; i++)
		if (f->dup_seq[i] == seq)
			return true;
	return false;
}

/* Whether a RET_SUBMIT of len bytes fits pending request i (§3.3). */
static bool reply_fits(const struct fz *f, int i, const struct usbip_header *h, size_t len)
{
	const struct usbip_header_ret_submit *r = &h->u.ret_submit;
	size_t payload = f->pend_in[i] ? (size_t)r->actual_length : 0;

	if (r->actual_length > f->pend_len[i])
		return false;
	if (f->pend_iso[i]) {
		if (r->number_of_packets < 0)
			return false;
		payload += (size_t)r->number_of_packets * USBIP_ISO_DESC_SIZE;
	}
	return len == USBIP_HEADER_SIZE + payload;
}

/* Checks one reply PDU of the URB phase against what was submitted. */
static void check_reply(struct fz *f, const uint8_t *buf, size_t len)
{
	struct usbip_header h;
	int i;

	FUZZ_CHECK(usbip_decode_header(buf, len, &h) == USBIP_HEADER_SIZE);
	if (h.base.command == USBIP_RET_UNLINK) {
		FUZZ_CHECK(len == USBIP_HEADER_SIZE);
		FUZZ_CHECK(h.u.ret_unlink.status == 0 ||
		           h.u.ret_unlink.status == -USBIP_ECONNRESET);
		/* Each CMD_UNLINK gets one RET_UNLINK, in the order the core read
		 * them (the fake cancel completes at once). A client may reuse an
		 * unlink's seqnum, so match the oldest unanswered one: matching
		 * any recorded one took a later unlink's target for this one's
		 * (fuzz_server-property-404979e8). */
		for (i = 0; i < f->nunl; i++)
			if (f->unl_seq[i] == h.base.seqnum && !f->unl_done[i])
				break;
		FUZZ_CHECK(i < f->nunl || f->lost);
		if (i == f->nunl)
			return;
		f->unl_done[i] = true;
		if (h.u.ret_unlink.status != 0 && !is_dup(f, f->unl_target[i])) {
			/* It completed its target: no RET_SUBMIT may follow. */
			int k = pend_find(f, f->unl_target[i]);

			FUZZ_CHECK(k >= 0 || f->lost);
			if (k >= 0)
				pend_drop(f, k);
		}
		return;
	}
	FUZZ_CHECK(h.base.command == USBIP_RET_SUBMIT);
	/* It answers a pending URB, once, within that URB's length. A client
	 * that reuses a seqnum breaks the protocol (§4.1) and its replies
	 * cannot be matched: only their form is checked. */
	FUZZ_CHECK(h.u.ret_submit.actual_length >= 0);
	FUZZ_CHECK(h.u.ret_submit.status <= 0);
	if (is_dup(f, h.base.seqnum))
		return;
	for (i = 0; i < f->npend; i++)
		if (f->pend_seq[i] == h.base.seqnum && reply_fits(f, i, &h, len))
			break;
#ifdef FZ_DEBUG
	if (i == f->npend) {
		fprintf(stderr, "reply seq %u st %d actual %d np %d len %zu\n", h.base.seqnum,
		        h.u.ret_submit.status, h.u.ret_submit.actual_length,
		        h.u.ret_submit.number_of_packets, len);
		for (int k = 0; k < f->npend; k++)
			fprintf(stderr, "  pend seq %u len %d in %d iso %d\n", f->pend_seq[k],
			        f->pend_len[k], f->pend_in[k], f->pend_iso[k]);
	}
#endif
	FUZZ_CHECK(i < f->npend || f->lost);
	if (i < f->npend)
		pend_drop(f, i);
}

static int fz_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb)
{
	struct fz *f = conn->transport;

	if (f->imported && conn->phase == USBIP_PHASE_URB)
		check_reply(f, buf, len);
	if (f->outlen + len <= sizeof(f->out)) {
		memcpy(f->out + f->outlen, buf, len);
		f->outlen += len;
	}
	if (urb)
		usbip_urb_free(urb);
	return 0;
}

static void fz_close(struct usbip_conn *conn, int reason)
{
	struct fz *f = conn->transport;

	(void)reason;
	f->closed++;
	FUZZ_CHECK(f->closed == 1);
}

/* The owner's name lookup (issue 13): the busid, "board" or "board#TOKEN"
 * mean the one export; "busy..." is refused as locked; "gone..." returns a
 * negative errno the core must map; anything else is no such device. */
static int fz_import_lookup(struct usbip_conn *conn, const char *requested,
                            struct usbip_export **exp)
{
	struct fz *f = conn->transport;

	FUZZ_CHECK(memchr(requested, 0, USBIP_BUSID_SIZE) != NULL);
	if (strcmp(requested, "1-1") == 0 || strcmp(requested, "board") == 0 ||
	    strncmp(requested, "board#", 6) == 0)
		*exp = &f->exp;
	if (strncmp(requested, "busy", 4) == 0)
		return USBIP_ST_DEV_BUSY;
	if (strncmp(requested, "gone", 4) == 0)
		return -USBIP_ENODEV;
	return USBIP_ST_OK;
}

static void fz_import_refused(struct usbip_conn *conn, const char *requested, int status)
{
	struct fz *f = conn->transport;

	(void)requested;
	FUZZ_CHECK(status >= USBIP_ST_NA && status <= USBIP_ST_NODEV);
	f->refusals++;
	f->refused_status = status;
}

static const struct usbip_server_ops fz_srv_ops = {
        .alloc = fz_alloc,
        .free = fz_free,
        .send = fz_send,
        .close = fz_close,
        .import_lookup = fz_import_lookup,
        .import_refused = fz_import_refused,
};

static int fz_ep_type(struct usbip_export *exp, uint8_t ep)
{
	(void)exp;
	switch (ep & 0x0f) {
	case 1:
		return USBIP_EP_BULK;
	case 2:
		return (ep & 0x80) ? USBIP_EP_INT : -1;
	case 3:
		return USBIP_EP_ISO;
	default:
		return -1;
	}
}

static void fz_finish(struct usbip_urb *urb, int32_t status)
{
	urb->status = status;
	urb->actual_length = urb->length / 2 + 1; /* sometimes over: the core clamps */
	for (uint32_t i = 0; i < urb->niso; i++)
		urb->iso[i].actual_length = urb->iso[i].length;
	usbip_urb_complete(urb);
}

static int fz_submit(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct fz *f = exp->priv;

	if (f->flags & 0x02)
		return -USBIP_EPIPE;
	if ((f->flags & 0x04) || f->nheld == MAX_HELD) {
		fz_finish(urb, 0);
		return 0;
	}
	f->held[f->nheld++] = urb;
	return 0;
}

static void fz_cancel(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct fz *f = exp->priv;

	for (int i = 0; i < f->nheld; i++) {
		if (f->held[i] == urb) {
			f->held[i] = f->held[--f->nheld];
			/* Bit 3: the URB "finished first" and races its unlink. */
			fz_finish(urb, (f->flags & 0x08) ? 0 : -USBIP_ECONNRESET);
			return;
		}
	}
	FUZZ_CHECK(0); /* cancel of a URB the backend does not hold */
}

static int fz_open(struct usbip_export *exp)
{
	((struct fz *)exp->priv)->opens++;
	return 0;
}

static void fz_close_dev(struct usbip_export *exp)
{
	((struct fz *)exp->priv)->closes++;
}

static int fz_special(struct usbip_export *exp)
{
	return (((struct fz *)exp->priv)->flags & 0x10) ? -USBIP_EPIPE : 0;
}

static int fz_set_config(struct usbip_export *exp, uint8_t v)
{
	(void)v;
	return fz_special(exp);
}

static int fz_set_intf(struct usbip_export *exp, uint8_t i, uint8_t a)
{
	(void)i;
	(void)a;
	return fz_special(exp);
}

static int fz_clear_halt(struct usbip_export *exp, uint8_t ep)
{
	(void)ep;
	return fz_special(exp);
}

static const struct usbip_device_ops fz_dev_ops = {
        .name = "fuzz",
        .open = fz_open,
        .close = fz_close_dev,
        .ep_type = fz_ep_type,
        .submit = fz_submit,
        .cancel = fz_cancel,
        .set_configuration = fz_set_config,
        .set_interface = fz_set_intf,
        .clear_halt = fz_clear_halt,
        .reset = fz_special,
};

/* Reads the client stream as the core frames it (ISO by endpoint type)
 * and records every CMD_SUBMIT and CMD_UNLINK, before anything is fed, so
 * each reply can be matched to its request. Stops at the first frame the
 * core would refuse. Framing up front is exact because fz_ep_type() does
 * not depend on the configuration or alternate setting (the fake special
 * requests change nothing); a backend whose types change would need the
 * framing done as the core reads. */
static void mirror_requests(struct fz *f, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct usbip_header h;
		unsigned flags = 0;
		long n;

		if (usbip_decode_header(buf + off, len - off, &h) != USBIP_HEADER_SIZE)
			return;
		if (h.base.command == USBIP_CMD_SUBMIT && (h.base.ep & 0x0f) != 0 &&
		    fz_ep_type(NULL, (uint8_t)((h.base.ep & 0x0f) |
		                               (h.base.direction ? 0x80 : 0))) == USBIP_EP_ISO)
			flags = USBIP_FRAME_ISO;
		n = usbip_frame_size(buf + off, len - off, flags);
		if (n < 0)
			return;
		if (h.base.command == USBIP_CMD_SUBMIT || h.base.command == USBIP_CMD_UNLINK) {
			bool seen = pend_find(f, h.base.seqnum) >= 0;

			for (int k = 0; k < f->nunl && !seen; k++)
				seen = f->unl_seq[k] == h.base.seqnum;
			if (seen && !is_dup(f, h.base.seqnum)) {
				if (f->ndup < 512)
					f->dup_seq[f->ndup++] = h.base.seqnum;
				else
					f->lost = true;
			}
		}
		if (h.base.command == USBIP_CMD_SUBMIT) {
			if (f->npend == 512) {
				f->lost = true;
				return;
			}
			f->pend_seq[f->npend] = h.base.seqnum;
			f->pend_len[f->npend] = h.u.cmd_submit.transfer_buffer_length;
			f->pend_in[f->npend] = h.base.direction == USBIP_DIR_IN;
			f->pend_iso[f->npend] = flags == USBIP_FRAME_ISO;
			f->npend++;
		} else if (h.base.command == USBIP_CMD_UNLINK) {
			if (f->nunl == 512) {
				f->lost = true;
				return;
			}
			f->unl_seq[f->nunl] = h.base.seqnum;
			f->unl_target[f->nunl] = h.u.cmd_unlink.unlink_seqnum;
			f->nunl++;
		}
		off += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	uint8_t req[USBIP_OP_IMPORT_REQ_SIZE];
	size_t chunk, off = 1;

	if (size < 1)
		return 0;
	memset(&f, 0, sizeof(f));
	f.flags = data[0];
	usbip_server_init(&f.srv, &fz_srv_ops, &f);
	f.srv.max_urbs_per_conn = (f.flags & 0x20) ? 3 : 64;
	strcpy(f.exp.info.busid, "1-1");
	f.exp.info.speed = USBIP_SPEED_HIGH;
	f.exp.ops = &fz_dev_ops;
	f.exp.priv = &f;
	FUZZ_CHECK(usbip_server_add_export(&f.srv, &f.exp) == 0);
	usbip_conn_init(&f.srv, &f.conn, &f);
	if (f.flags & 0x01) {
		usbip_encode_op_req_import(req, sizeof(req), "1-1");
		FUZZ_CHECK(usbip_conn_feed(&f.conn, req, sizeof(req)) == (long)sizeof(req));
		FUZZ_CHECK(f.conn.phase == USBIP_PHASE_URB);
		mirror_requests(&f, data + 1, size - 1);
	}
	chunk = 1 + (size_t)(f.flags >> 7) * 63;
	while (off < size && f.conn.phase != USBIP_PHASE_DONE) {
		size_t n = size - off < chunk ? size - off : chunk;
		long r;

		f.imported = f.conn.phase == USBIP_PHASE_URB && (f.flags & 0x01);
		r = usbip_conn_feed(&f.conn, data + off, n);
		if (r < 0)
			break;
		FUZZ_CHECK((size_t)r <= n);
		off += (size_t)r;
		/* The backend finishes its oldest URB; at a limit this is what
		 * lets the core take input again. */
		if (f.nheld > 0) {
			struct usbip_urb *u = f.held[0];

			f.held[0] = f.held[--f.nheld];
			fz_finish(u, (off & 1) ? 0 : -USBIP_EPIPE);
		} else if (r == 0) {
			FUZZ_CHECK(!usbip_conn_wants_input(&f.conn) ||
			           f.conn.phase == USBIP_PHASE_DONE);
			break;
		}
	}
	/* A refused import is answered with its status alone, then closed. */
	if (f.refusals) {
		uint32_t st;
		struct usbip_usb_device dev;

		FUZZ_CHECK(f.refusals == 1 && f.closed == 1 && f.opens == 0);
		FUZZ_CHECK(usbip_decode_op_rep_import(f.out, f.outlen, &st, &dev) ==
		           USBIP_OP_COMMON_SIZE);
		FUZZ_CHECK(st == (uint32_t)f.refused_status && f.outlen == USBIP_OP_COMMON_SIZE);
	}
	usbip_conn_destroy(&f.conn);
	/* Cancels returned every held URB; nothing may remain allocated. */
	FUZZ_CHECK(f.nheld == 0);
	FUZZ_CHECK(f.live == 0);
	FUZZ_CHECK(f.closes == f.opens);
	return 0;
}
