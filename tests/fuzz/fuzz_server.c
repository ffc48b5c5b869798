/* SPDX-License-Identifier: MIT */
/*
 * fuzz_server.c - the server core's state machine under arbitrary input.
 *
 * Input: byte 0 chooses the backend's behaviour and the chunking, byte 1
 * the URB memory contract (FZ_MEM_*: whether the backend offers data_alloc,
 * the transport send_split and charge, whether payloads go through
 * usbip_conn_rx_window and in which pieces, whether the transport keeps
 * URBs queued and refuses output when full; 0 is the single-block path),
 * the rest is the byte stream a client sends (after a valid OP_REQ_IMPORT
 * of "1-1" when bit 0 of byte 0 is set, so the URB phase is reached at
 * once). Imports go through the owner's import_lookup (fz_import_lookup
 * names what it knows). Between chunks the fake backend completes some of
 * the URBs it holds. Properties:
 *   - every byte the core sends is a whole, decodable reply;
 *   - every RET_SUBMIT answers a URB that was submitted, once, and is never
 *     preceded by a RET_UNLINK that completed it;
 *   - every RET_UNLINK answers a CMD_UNLINK, once, in the order they came;
 *   - actual_length never exceeds the request's length;
 *   - an IN reply carries the bytes the backend wrote, an OUT URB reaches
 *     the backend with the bytes the client sent, whether they went
 *     through one block, the backend's memory, send_split or the rx window;
 *   - the rx window is exactly the rest of the CMD_SUBMIT's payload (what
 *     usblabd's on_read relies on to use it);
 *   - data_alloc is asked only with send_split, never for ISO; each buffer
 *     is freed once, with its ep_type and length, and charged once;
 *   - a refused send or send_split leaves the core owning nothing it handed
 *     over, and ends the connection;
 *   - after teardown every allocation is freed and a claimed device is
 *     closed exactly once.
 */
#include <string.h>

#include "fuzz.h"
#include "usbip_server.h"

#define MAX_HELD 64
/* Backend buffers live at once: URBs in flight, the one receiving, the
 * transport's queue; past this data_alloc declines, as a full pool would. */
#define MAX_EXT 128
#define MAX_TXQ 8

/* Byte 1 of the input: the URB memory contract (usbip_server.h). */
#define FZ_MEM_DATA_ALLOC 0x01 /* the backend offers data_alloc/data_free */
#define FZ_MEM_SPLIT      0x02 /* the transport offers send_split */
#define FZ_MEM_CHARGE     0x04 /* the transport offers charge */
#define FZ_MEM_DECLINE    0x08 /* data_alloc declines every second request */
#define FZ_MEM_RX_WINDOW  0x10 /* payloads go through usbip_conn_rx_window */
#define FZ_MEM_SPLIT_SIZE 0x60 /* bits 5-6: the pieces committed to the window */
#define FZ_MEM_TX_QUEUE   0x80 /* the transport queues URBs, refuses output when full */

/* One buffer the backend handed out with data_alloc. */
struct fz_ext {
	uint8_t *p;
	size_t len;
	uint8_t ep_type;
	bool submitted;
};

/* A URB the transport holds, as usblabd's output queue does, with a sum of
 * the bytes it is to send: they must still be there when it sends. */
struct fz_txq {
	struct usbip_urb *urb;
	const uint8_t *buf, *data;
	size_t len, dlen;
	uint32_t sum;
};

struct fz {
	struct usbip_server srv;
	struct usbip_server_ops srv_ops;
	struct usbip_device_ops dev_ops;
	struct usbip_export exp;
	struct usbip_conn conn;
	struct usbip_urb *held[MAX_HELD];
	int nheld;
	uint8_t flags, mem;
	size_t live;
	void *last_block; /* the latest block of fz_alloc */
	struct fz_ext ext[MAX_EXT];
	int next;
	unsigned ext_asks;
	size_t last_ext_len; /* the latest data_alloc's length */
	/* Blocks charged with extra bytes (charge), until their free(). */
	void *chg_block[MAX_EXT];
	size_t chg_extra[MAX_EXT];
	int nchg;
	struct fz_txq txq[MAX_TXQ];
	int ntxq;
	bool refused_out; /* fz_refuses() said no to a send */
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
	const uint8_t *pend_out[512]; /* OUT: where its data is in the input */
	int npend;
	/* Where each CMD_SUBMIT's payload lies in the input (offsets into it;
	 * the last may end past it), in stream order; mirrored says these and
	 * the tables here were filled. */
	size_t pay_start[512], pay_end[512];
	int npay;
	bool mirrored;
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
	f->last_block = malloc(size);
	return f->last_block;
}

static void fz_free(void *ctx, void *p, size_t size)
{
	struct fz *f = ctx;

	/* A block charged with its backend data gives that back with it. */
	for (int i = 0; i < f->nchg; i++) {
		if (f->chg_block[i] == p) {
			FUZZ_CHECK(f->live >= f->chg_extra[i]);
			f->live -= f->chg_extra[i];
			f->nchg--;
			f->chg_block[i] = f->chg_block[f->nchg];
			f->chg_extra[i] = f->chg_extra[f->nchg];
			break;
		}
	}
	FUZZ_CHECK(f->live >= size);
	f->live -= size;
	free(p);
}

/* The transport counts a URB's backend data with its block (dconn.c's
 * srv_charge), so the small budget of bit 6 covers it too. The core
 * charges right after it allocated the block for the data just handed
 * out, and once per block. */
static void fz_charge(void *ctx, void *block, size_t extra)
{
	struct fz *f = ctx;

	FUZZ_CHECK(block == f->last_block && extra == f->last_ext_len && extra > 0);
	for (int i = 0; i < f->nchg; i++)
		FUZZ_CHECK(f->chg_block[i] != block);
	FUZZ_CHECK(f->nchg < MAX_EXT);
	f->chg_block[f->nchg] = block;
	f->chg_extra[f->nchg] = extra;
	f->nchg++;
	f->live += extra;
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
	f->pend_out[i] = f->pend_out[f->npend];
}

/* The bytes the fake backend writes as IN data of URB seq. */
static uint8_t in_byte(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 29u + i * 13u + (i >> 8));
}

/* Data is written, checked and summed at its ends only, the first and
 * last FZ_SPAN bytes: doing every byte of a 16 MiB URB made one input of
 * such URBs take 20 s. Loop with i = span_next(i, len). */
#define FZ_SPAN 4096

static size_t span_next(size_t i, size_t len)
{
	i++;
	if (i == FZ_SPAN && len > 2 * FZ_SPAN)
		i = len - FZ_SPAN;
	return i;
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
	if (i == f->npend)
		return;
	/* IN data is what the backend wrote (fz_finish), from the URB's block
	 * or from the backend's memory alike. */
	if (f->pend_in[i] && !f->pend_iso[i])
		for (size_t k = 0, n = (size_t)h.u.ret_submit.actual_length; k < n;
		     k = span_next(k, n))
			FUZZ_CHECK(buf[USBIP_HEADER_SIZE + k] == in_byte(h.base.seqnum, k));
	pend_drop(f, i);
}

static uint32_t sum_bytes(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i = span_next(i, len))
		sum = sum * 31u + p[i];
	return sum;
}

/* The transport sends a URB's reply later (bit 7 of byte 1), as usblabd's
 * output queue does: it keeps the URB until its socket takes the reply
 * (when the input says so, between chunks) or, for the rest, after the
 * connection and its device are gone (data_free may come after close(),
 * usbip_server.h). Reading the bytes then is what sendmsg() would do. */
static void txq_send_one(struct fz *f, int i)
{
	struct fz_txq *q = &f->txq[i];
	uint32_t sum = sum_bytes(sum_bytes(0, q->buf, q->len), q->data, q->dlen);

	FUZZ_CHECK(sum == q->sum);
	usbip_urb_free(q->urb);
	f->ntxq--;
	memmove(&f->txq[i], &f->txq[i + 1], (size_t)(f->ntxq - i) * sizeof(f->txq[0]));
}

/* With a queue, output is refused once it is full or the core closed the
 * connection, as usblabd's transport refuses when it cannot queue or is
 * closing: the core must end the connection and own nothing it handed
 * over. */
static bool fz_refuses(const struct fz *f)
{
	return (f->mem & FZ_MEM_TX_QUEUE) && (f->ntxq == MAX_TXQ || f->closed);
}

/* Takes a URB handed over by send or send_split (not refused). */
static void fz_take_urb(struct fz *f, struct usbip_urb *urb, const void *buf, size_t len,
                        const void *data, size_t dlen)
{
	struct fz_txq *q;

	if (!(f->mem & FZ_MEM_TX_QUEUE)) {
		usbip_urb_free(urb);
		return;
	}
	q = &f->txq[f->ntxq++];
	q->urb = urb;
	q->buf = buf;
	q->len = len;
	q->data = data;
	q->dlen = dlen;
	q->sum = sum_bytes(sum_bytes(0, buf, len), data, dlen);
}

static int ext_find(const struct fz *f, const void *p)
{
	for (int i = 0; i < f->next; i++)
		if (f->ext[i].p == p)
			return i;
	return -1;
}

static int fz_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb)
{
	struct fz *f = conn->transport;

	if (fz_refuses(f)) {
		/* The transport owns urb even when it fails. */
		if (urb)
			usbip_urb_free(urb);
		f->refused_out = true;
		return USBIP_E_NOMEM;
	}
	if (f->imported && conn->phase == USBIP_PHASE_URB)
		check_reply(f, buf, len);
	if (f->outlen + len <= sizeof(f->out)) {
		memcpy(f->out + f->outlen, buf, len);
		f->outlen += len;
	}
	if (urb)
		fz_take_urb(f, urb, buf, len, NULL, 0);
	return 0;
}

/* A RET_SUBMIT whose IN data lies in the backend's memory: the header
 * from the URB's block, then the data from where data_alloc put it. On the
 * wire this must be what the single-block path sends, header then data,
 * so the two pieces are joined and checked as fz_send checks one (data
 * included: both must carry what fz_finish wrote; the bytes between the
 * spans are neither written nor checked). */
static int fz_send_split(struct usbip_conn *conn, const void *buf, size_t len, const void *data,
                         size_t dlen, struct usbip_urb *urb)
{
	struct fz *f = conn->transport;
	uint8_t *whole;
	int k;

	FUZZ_CHECK(urb != NULL && urb->data_ext && data == urb->data && urb->dir_in);
	FUZZ_CHECK(len == USBIP_HEADER_SIZE && dlen > 0 && dlen <= (size_t)urb->length);
	k = ext_find(f, data);
	FUZZ_CHECK(k >= 0 && f->ext[k].len == (size_t)urb->length);
	if (fz_refuses(f)) {
		usbip_urb_free(urb);
		f->refused_out = true;
		return USBIP_E_NOMEM;
	}
	whole = malloc(len + dlen);
	FUZZ_CHECK(whole != NULL);
	memcpy(whole, buf, len);
	for (size_t i = 0; i < dlen; i = span_next(i, dlen))
		whole[len + i] = ((const uint8_t *)data)[i];
	fz_send(conn, whole, len + dlen, NULL);
	free(whole);
	fz_take_urb(f, urb, buf, len, data, dlen);
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
	/* IN data check_reply can recognise, wherever the buffer lies. */
	if (urb->dir_in && urb->niso == 0) {
		size_t n = (size_t)(urb->length < urb->actual_length ? urb->length
		                                                     : urb->actual_length);

		for (size_t i = 0; i < n; i = span_next(i, n))
			urb->data[i] = in_byte(urb->seqnum, i);
	}
	usbip_urb_complete(urb);
}

/* What the core hands the backend: data in the backend's own buffer only
 * from data_alloc, that buffer for one URB only, with the URB's type and
 * length; OUT data as the client sent it (the window and the fed path put
 * it in the same place). */
static void check_submitted(struct fz *f, struct usbip_urb *urb)
{
	int k = ext_find(f, urb->data);

	if (urb->data_ext) {
		FUZZ_CHECK(k >= 0 && !f->ext[k].submitted);
		FUZZ_CHECK(f->ext[k].len == (size_t)urb->length &&
		           f->ext[k].ep_type == urb->ep_type);
		f->ext[k].submitted = true;
	} else {
		FUZZ_CHECK(k < 0);
	}
	k = pend_find(f, urb->seqnum);
	if (k < 0 || is_dup(f, urb->seqnum))
		return;
	FUZZ_CHECK(f->pend_len[k] == urb->length && f->pend_in[k] == urb->dir_in);
	if (!urb->dir_in && urb->length > 0)
		FUZZ_CHECK(memcmp(urb->data, f->pend_out[k], (size_t)urb->length) == 0);
}

static int fz_submit(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct fz *f = exp->priv;

	check_submitted(f, urb);
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

/* The backend's own memory for URB data (libusb's usbfs-mapped buffers):
 * malloc here, each buffer tracked until its data_free. */
static void *fz_data_alloc(struct usbip_export *exp, uint8_t ep_type, size_t length)
{
	struct fz *f = exp->priv;
	struct fz_ext *e;

	FUZZ_CHECK(exp == &f->exp && f->srv_ops.send_split != NULL);
	FUZZ_CHECK(ep_type != USBIP_EP_ISO && ep_type <= USBIP_EP_INT);
	FUZZ_CHECK(length > 0 && length <= USBIP_MAX_TRANSFER);
	f->ext_asks++;
	/* Declining keeps that URB on the single-block path. */
	if (((f->mem & FZ_MEM_DECLINE) && (f->ext_asks & 1)) || f->next == MAX_EXT)
		return NULL;
	e = &f->ext[f->next];
	e->p = malloc(length);
	if (!e->p)
		return NULL;
	e->len = length;
	e->ep_type = ep_type;
	e->submitted = false;
	f->next++;
	f->last_ext_len = length;
	return e->p;
}

static void fz_data_free(struct usbip_export *exp, void *data, uint8_t ep_type, size_t length)
{
	struct fz *f = exp->priv;
	int k = ext_find(f, data);

	/* Ours, not freed before, described as it was asked for. */
	FUZZ_CHECK(exp == &f->exp && k >= 0);
	FUZZ_CHECK(f->ext[k].len == length && f->ext[k].ep_type == ep_type);
	free(data);
	f->ext[k] = f->ext[--f->next];
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
static void mirror_requests(struct fz *f, const uint8_t *buf, size_t off, size_t len)
{
	f->mirrored = true;
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
			f->pend_out[f->npend] = buf + off + USBIP_HEADER_SIZE;
			f->npend++;
			if ((size_t)n > USBIP_HEADER_SIZE) {
				f->pay_start[f->npay] = off + USBIP_HEADER_SIZE;
				f->pay_end[f->npay] = off + (size_t)n;
				f->npay++;
			}
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

/* The window is the rest of the payload the input is in: usblabd's on_read
 * uses it only when it covers exactly what is left of the frame. */
static void check_window(const struct fz *f, size_t off, size_t wlen)
{
	if (!f->mirrored)
		return;
	for (int i = 0; i < f->npay; i++) {
		if (off >= f->pay_start[i] && off < f->pay_end[i]) {
			FUZZ_CHECK(off + wlen == f->pay_end[i]);
			return;
		}
	}
	FUZZ_CHECK(f->lost);
}

/* Pieces received into the window at a time (bits 5-6 of byte 1). */
static const size_t fz_rx_split[4] = {1, 7, 64, SIZE_MAX};

/* As usblabd's on_read does with nothing of its own buffered: the rest of
 * the payload being received goes straight into the URB's memory through
 * the core's window, here in pieces of the chosen size, each committed as
 * one recv() of that many bytes. Returns the bytes taken from data + off,
 * 0 when no payload is being received. */
static size_t fz_rx_window(struct fz *f, const uint8_t *data, size_t size, size_t off)
{
	size_t wlen, n = fz_rx_split[(f->mem & FZ_MEM_SPLIT_SIZE) >> 5];
	uint8_t *win = usbip_conn_rx_window(&f->conn, &wlen);

	if (!win) {
		FUZZ_CHECK(wlen == 0);
		return 0;
	}
	FUZZ_CHECK(wlen > 0);
	check_window(f, off, wlen);
	if (n > wlen)
		n = wlen;
	if (n > size - off)
		n = size - off;
	memcpy(win, data + off, n);
	usbip_conn_rx_commit(&f->conn, n);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	uint8_t req[USBIP_OP_IMPORT_REQ_SIZE];
	size_t chunk, off = 2;

	if (size < 2)
		return 0;
	memset(&f, 0, sizeof(f));
	f.flags = data[0];
	f.mem = data[1];
	f.srv_ops = fz_srv_ops;
	if (f.mem & FZ_MEM_SPLIT)
		f.srv_ops.send_split = fz_send_split;
	if (f.mem & FZ_MEM_CHARGE)
		f.srv_ops.charge = fz_charge;
	f.dev_ops = fz_dev_ops;
	if (f.mem & FZ_MEM_DATA_ALLOC) {
		f.dev_ops.data_alloc = fz_data_alloc;
		f.dev_ops.data_free = fz_data_free;
	}
	usbip_server_init(&f.srv, &f.srv_ops, &f);
	f.srv.max_urbs_per_conn = (f.flags & 0x20) ? 3 : 64;
	strcpy(f.exp.info.busid, "1-1");
	f.exp.info.speed = USBIP_SPEED_HIGH;
	f.exp.ops = &f.dev_ops;
	f.exp.priv = &f;
	FUZZ_CHECK(usbip_server_add_export(&f.srv, &f.exp) == 0);
	usbip_conn_init(&f.srv, &f.conn, &f);
	if (f.flags & 0x01) {
		usbip_encode_op_req_import(req, sizeof(req), "1-1");
		FUZZ_CHECK(usbip_conn_feed(&f.conn, req, sizeof(req)) == (long)sizeof(req));
		FUZZ_CHECK(f.conn.phase == USBIP_PHASE_URB);
		mirror_requests(&f, data, off, size);
	}
	chunk = 1 + (size_t)(f.flags >> 7) * 63;
	while (off < size && f.conn.phase != USBIP_PHASE_DONE) {
		size_t n = size - off < chunk ? size - off : chunk;
		long r = 0;

		f.imported = f.conn.phase == USBIP_PHASE_URB && (f.flags & 0x01);
		if (f.mem & FZ_MEM_RX_WINDOW)
			r = (long)fz_rx_window(&f, data, size, off);
		if (r == 0) {
			r = usbip_conn_feed(&f.conn, data + off, n);
			if (r < 0)
				break;
			FUZZ_CHECK((size_t)r <= n);
		}
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
		/* The transport's socket takes the oldest queued reply when the
		 * last byte taken is odd. */
		if (f.ntxq > 0 && (data[off - 1] & 1))
			txq_send_one(&f, 0);
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
	/* Refused output ends the connection. */
	FUZZ_CHECK(!f.refused_out || f.closed == 1);
	usbip_conn_destroy(&f.conn);
	/* Cancels returned every held URB. */
	FUZZ_CHECK(f.nheld == 0);
	/* The transport sends what it still holds, after the device's close(). */
	while (f.ntxq > 0)
		txq_send_one(&f, 0);
	/* Nothing may remain allocated, charged or handed out. */
	FUZZ_CHECK(f.live == 0 && f.nchg == 0);
	FUZZ_CHECK(f.next == 0);
	FUZZ_CHECK(f.closes == f.opens);
	return 0;
}
