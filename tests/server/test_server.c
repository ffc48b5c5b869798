/* SPDX-License-Identifier: MIT */
/*
 * test_server.c - the server core against a recording transport and a
 * scriptable backend: state machine, pipelining, unlink rules, special
 * requests, ISO framing, limits and teardown (the transport and the backend:
 * tests/lib/fake_core.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fake_core.h"
#include "usbip_server.h"

/* ---- fixture ------------------------------------------------------------ */

struct fx {
	struct fake_rec rec;
	struct usbip_server srv;
	struct usbip_export exp[2];
	struct fake_dev fake[2];
	struct usbip_conn conn;
	size_t rd; /* read position in rec.out */
};

static void make_export(struct fx *x, int i, const char *busid)
{
	struct usbip_export *e = &x->exp[i];

	fake_core_export_init(e, &x->fake[i], busid, 1, (uint32_t)i + 2);
	e->info.idProduct = (uint16_t)(0x10 + i);
	assert_int_equal(usbip_server_add_export(&x->srv, e), 0);
}

static int setup(void **state)
{
	struct fx *x = calloc(1, sizeof(*x));

	usbip_server_init(&x->srv, &fake_core_transport_ops, &x->rec);
	make_export(x, 0, "1-2");
	make_export(x, 1, "1-3");
	usbip_conn_init(&x->srv, &x->conn, &x->rec);
	*state = x;
	return 0;
}

static int teardown(void **state)
{
	struct fx *x = *state;

	/* Tear down what a test left: cancels give every URB back. */
	usbip_conn_destroy(&x->conn);
	for (int i = 0; i < 2; i++)
		while (x->fake[i].nheld > 0)
			usbip_urb_complete(x->fake[i].held[--x->fake[i].nheld]);
	assert_int_equal(x->rec.live, 0);
	free(x);
	return 0;
}

static void feed_all(struct usbip_conn *c, const uint8_t *buf, size_t len)
{
	assert_int_equal(usbip_conn_feed(c, buf, len), (long)len);
}

/* Feeds one byte at a time, as a slow network would deliver it. */
static void feed_bytewise(struct usbip_conn *c, const uint8_t *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		assert_int_equal(usbip_conn_feed(c, buf + i, 1), 1);
}

static void do_import(struct fx *x, const char *busid)
{
	uint8_t req[USBIP_OP_IMPORT_REQ_SIZE];
	uint32_t st;
	struct usbip_usb_device dev;

	usbip_encode_op_req_import(req, sizeof(req), busid);
	feed_all(&x->conn, req, sizeof(req));
	assert_int_equal(usbip_decode_op_rep_import(x->rec.out, x->rec.outlen, &st, &dev),
	                 USBIP_OP_COMMON_SIZE + USBIP_DEVICE_SIZE);
	assert_int_equal(st, USBIP_ST_OK);
	assert_string_equal(dev.busid, busid);
	x->rd = (size_t)x->rec.outlen;
}

static void submit(struct fx *x, uint32_t seq, uint8_t ep, int dir_in, int32_t len,
                   const uint8_t setup[8], const uint8_t *out, int32_t np)
{
	struct usbip_header h;
	uint8_t buf[USBIP_HEADER_SIZE + 4096];
	size_t n = USBIP_HEADER_SIZE;

	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = seq;
	h.base.devid = 0x00010002;
	h.base.direction = (uint32_t)dir_in;
	h.base.ep = ep;
	h.u.cmd_submit.transfer_buffer_length = len;
	h.u.cmd_submit.number_of_packets = np;
	if (setup)
		memcpy(h.u.cmd_submit.setup, setup, 8);
	usbip_encode_header(buf, sizeof(buf), &h);
	if (!dir_in && len > 0) {
		memcpy(buf + n, out, (size_t)len);
		n += (size_t)len;
	}
	feed_all(&x->conn, buf, n);
}

static void unlink_cmd(struct fx *x, uint32_t seq, uint32_t target)
{
	struct usbip_header h;
	uint8_t buf[USBIP_HEADER_SIZE];

	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_UNLINK;
	h.base.seqnum = seq;
	h.u.cmd_unlink.unlink_seqnum = target;
	usbip_encode_header(buf, sizeof(buf), &h);
	feed_all(&x->conn, buf, sizeof(buf));
}

/* Reads the next reply PDU from the recorded output. */
static int next_reply(struct fx *x, struct usbip_header *h, const uint8_t **payload, bool dir_in,
                      bool iso)
{
	long size;

	if (x->rd == x->rec.outlen)
		return 0;
	assert_int_equal(usbip_decode_header(x->rec.out + x->rd, x->rec.outlen - x->rd, h),
	                 USBIP_HEADER_SIZE);
	size = usbip_frame_size(x->rec.out + x->rd, x->rec.outlen - x->rd,
	                        (dir_in ? USBIP_FRAME_DIR_IN : 0) | (iso ? USBIP_FRAME_ISO : 0));
	assert_true(size >= USBIP_HEADER_SIZE && (size_t)size <= x->rec.outlen - x->rd);
	if (payload)
		*payload = x->rec.out + x->rd + USBIP_HEADER_SIZE;
	x->rd += (size_t)size;
	return 1;
}

/* Sends OP_REQ_DEVLIST on a new connection c (replies recorded in r) and
 * decodes the reply's first device. Returns the device count. */
static uint32_t devlist_first(struct fx *x, struct usbip_conn *c, struct fake_rec *r,
                              struct usbip_usb_device *dev, struct usbip_usb_interface *ifs)
{
	uint8_t req[8];
	uint32_t ndev;

	usbip_encode_op_req_devlist(req, sizeof(req));
	memset(r, 0, sizeof(*r));
	usbip_conn_init(&x->srv, c, r);
	feed_all(c, req, sizeof(req));
	assert_int_equal(r->closed, 1);
	assert_int_equal(r->close_reason, 0);
	assert_int_equal(usbip_decode_op_rep_devlist_header(r->out, r->outlen, &ndev), 12);
	assert_int_equal(usbip_frame_size(r->out, r->outlen, 0), (long)r->outlen);
	assert_true(usbip_decode_usb_device(r->out + 12, r->outlen - 12, dev, ifs, true) > 0);
	return ndev;
}

/* ---- tests -------------------------------------------------------------- */

static void test_devlist_hides_imported(void **state)
{
	struct fx *x = *state;
	struct usbip_conn c2;
	struct fake_rec r2;
	uint8_t req[8];
	uint32_t ndev;
	struct usbip_usb_device dev;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];

	assert_int_equal(devlist_first(x, &c2, &r2, &dev, ifs), 2);
	assert_int_equal(ifs[1].bInterfaceClass, 0x0a);
	usbip_conn_destroy(&c2);

	/* Imported devices disappear from the list, as with usbipd. */
	usbip_encode_op_req_devlist(req, sizeof(req));
	do_import(x, "1-3");
	memset(&r2, 0, sizeof(r2));
	usbip_conn_init(&x->srv, &c2, &r2);
	feed_bytewise(&c2, req, sizeof(req));
	assert_int_equal(usbip_decode_op_rep_devlist_header(r2.out, r2.outlen, &ndev), 12);
	assert_int_equal(ndev, 1);
	assert_int_equal(usbip_decode_usb_device(r2.out + 12, r2.outlen - 12, &dev, ifs, true),
	                 312 + 8);
	assert_string_equal(dev.busid, "1-2");
	usbip_conn_destroy(&c2);
}

static void test_import_busy_nodev(void **state)
{
	struct fx *x = *state;
	struct usbip_conn c2;
	struct fake_rec r2;
	uint8_t req[USBIP_OP_IMPORT_REQ_SIZE];
	uint32_t st;
	struct usbip_usb_device dev;

	do_import(x, "1-2");
	assert_int_equal(x->fake[0].opens, 1);

	usbip_encode_op_req_import(req, sizeof(req), "1-2");
	memset(&r2, 0, sizeof(r2));
	usbip_conn_init(&x->srv, &c2, &r2);
	feed_bytewise(&c2, req, sizeof(req));
	assert_int_equal(r2.outlen, 8); /* failure: op_common alone */
	assert_int_equal(usbip_decode_op_rep_import(r2.out, r2.outlen, &st, &dev), 8);
	assert_int_equal(st, USBIP_ST_DEV_BUSY);
	assert_int_equal(r2.closed, 1);
	usbip_conn_destroy(&c2);

	usbip_encode_op_req_import(req, sizeof(req), "9-9");
	memset(&r2, 0, sizeof(r2));
	usbip_conn_init(&x->srv, &c2, &r2);
	feed_all(&c2, req, sizeof(req));
	assert_int_equal(usbip_decode_op_rep_import(r2.out, r2.outlen, &st, &dev), 8);
	assert_int_equal(st, USBIP_ST_NODEV);
	usbip_conn_destroy(&c2);
}

/* ---- import hooks (issue 13) and open() results (issue 12, finding 8) ---- */

/* What the owner's import_lookup does, and what import_refused saw. */
static struct lookup_script {
	const char *name;           /* the name it knows */
	struct usbip_export *match; /* the export that name means */
	int rc;                     /* returned when the name matches */
	int lookups;
	int refusals, refused_status;
	char refused_req[USBIP_BUSID_SIZE];
} lk;

static int t_import_lookup(struct usbip_conn *conn, const char *requested,
                           struct usbip_export **exp)
{
	(void)conn;
	lk.lookups++;
	*exp = strcmp(requested, lk.name) == 0 ? lk.match : NULL;
	return *exp ? lk.rc : USBIP_ST_OK;
}

static void t_import_refused(struct usbip_conn *conn, const char *requested, int status)
{
	(void)conn;
	lk.refusals++;
	lk.refused_status = status;
	strcpy(lk.refused_req, requested);
}

static const struct usbip_server_ops t_ops_lookup = {
        .alloc = fake_core_alloc,
        .free = fake_core_free,
        .send = fake_core_send,
        .close = fake_core_close,
        .unimported = fake_core_unimported,
        .import_lookup = t_import_lookup,
        .import_refused = t_import_refused,
};

static void t_devlist_entry(struct usbip_conn *conn, const struct usbip_export *exp,
                            struct usbip_usb_device *shown)
{
	(void)conn;
	snprintf(shown->path, sizeof(shown->path), "named-%s", exp->info.busid);
	shown->bNumInterfaces = 99; /* the core must keep the real count */
}

static const struct usbip_server_ops t_ops_devlist = {
        .alloc = fake_core_alloc,
        .free = fake_core_free,
        .send = fake_core_send,
        .close = fake_core_close,
        .devlist_entry = t_devlist_entry,
};

/* The owner may rename what DEVLIST shows (usblabd: board names in path),
 * never change its framing; the export itself is not touched. */
static void test_devlist_entry_hook(void **state)
{
	struct fx *x = *state;
	struct usbip_conn c2;
	struct fake_rec r2;
	struct usbip_usb_device dev;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];

	x->srv.ops = &t_ops_devlist;
	assert_int_equal(devlist_first(x, &c2, &r2, &dev, ifs), 2);
	assert_string_equal(dev.path, "named-1-2");
	assert_string_equal(dev.busid, "1-2");
	assert_int_not_equal(dev.bNumInterfaces, 99);
	assert_string_not_equal(x->exp[0].info.path, "named-1-2");
	usbip_conn_destroy(&c2);
}

static const struct usbip_server_ops t_ops_refused = {
        .alloc = fake_core_alloc,
        .free = fake_core_free,
        .send = fake_core_send,
        .close = fake_core_close,
        .unimported = fake_core_unimported,
        .import_refused = t_import_refused,
};

/* Imports `requested` on a fresh connection and returns the status; dev
 * gets the record on success. The connection stays open when imported. */
static uint32_t import_on(struct fx *x, struct usbip_conn *c, struct fake_rec *r,
                          const char *requested, struct usbip_usb_device *dev)
{
	uint8_t req[USBIP_OP_IMPORT_REQ_SIZE];
	uint32_t st = 0xdead;
	int n;

	memset(r, 0, sizeof(*r));
	usbip_conn_init(&x->srv, c, r);
	assert_int_equal(usbip_encode_op_req_import(req, sizeof(req), requested), sizeof(req));
	feed_all(c, req, sizeof(req));
	n = usbip_decode_op_rep_import(r->out, r->outlen, &st, dev);
	assert_int_equal(n, (long)r->outlen);
	assert_int_equal(r->closed, st == USBIP_ST_OK ? 0 : 1);
	return st;
}

static void test_import_lookup_maps_name(void **state)
{
	struct fx *x = *state;
	struct usbip_usb_device dev;
	struct usbip_conn c2;
	struct fake_rec r2;

	memset(&lk, 0, sizeof(lk));
	lk.name = "esp32-left#t0k3n";
	lk.match = &x->exp[1];
	x->srv.ops = &t_ops_lookup;
	assert_int_equal(import_on(x, &x->conn, &x->rec, "esp32-left#t0k3n", &dev), USBIP_ST_OK);
	assert_int_equal(lk.lookups, 1);
	assert_int_equal(lk.refusals, 0);
	/* The reply echoes what was asked for (Linux's `usbip attach` refuses a
	 * different busid); busnum/devnum, which vhci uses, are the export's. */
	assert_string_equal(dev.busid, "esp32-left#t0k3n");
	assert_int_equal(dev.busnum, 1);
	assert_int_equal(dev.devnum, 3);
	assert_int_equal(dev.idProduct, 0x11);
	assert_ptr_equal(x->exp[1].conn, &x->conn);
	assert_int_equal(x->fake[1].opens, 1);
	assert_int_equal(x->conn.phase, USBIP_PHASE_URB);

	/* The busy check stays in the core after the lookup. */
	assert_int_equal(import_on(x, &c2, &r2, "esp32-left#t0k3n", &dev), USBIP_ST_DEV_BUSY);
	assert_int_equal(lk.refusals, 1);
	assert_int_equal(lk.refused_status, USBIP_ST_DEV_BUSY);
	assert_int_equal(x->fake[1].opens, 1);
	usbip_conn_destroy(&c2);

	/* With the hook, a busid is whatever the hook says: "1-2" is unknown
	 * to it, so no such device. */
	assert_int_equal(import_on(x, &c2, &r2, "1-2", &dev), USBIP_ST_NODEV);
	assert_int_equal(x->fake[0].opens, 0);
	usbip_conn_destroy(&c2);
}

static void test_import_lookup_refuses(void **state)
{
	struct fx *x = *state;
	struct usbip_usb_device dev;

	memset(&lk, 0, sizeof(lk));
	lk.name = "pico";
	lk.match = &x->exp[0];
	lk.rc = USBIP_ST_DEV_BUSY; /* e.g. locked by someone else */
	x->srv.ops = &t_ops_lookup;
	assert_int_equal(import_on(x, &x->conn, &x->rec, "pico", &dev), USBIP_ST_DEV_BUSY);
	assert_int_equal(x->rec.outlen, 8); /* failure: op_common alone */
	assert_int_equal(lk.refusals, 1);
	assert_int_equal(lk.refused_status, USBIP_ST_DEV_BUSY);
	assert_string_equal(lk.refused_req, "pico");
	assert_int_equal(x->fake[0].opens, 0); /* refused before open() */
	assert_null(x->exp[0].conn);
}

static void test_import_lookup_null_is_nodev(void **state)
{
	struct fx *x = *state;
	struct usbip_usb_device dev;

	memset(&lk, 0, sizeof(lk));
	lk.name = "pico";
	lk.match = &x->exp[0];
	x->srv.ops = &t_ops_lookup;
	/* 31 bytes: the longest name the field holds. */
	assert_int_equal(import_on(x, &x->conn, &x->rec, "nosuchboard#0123456789abcdefghi", &dev),
	                 USBIP_ST_NODEV);
	assert_int_equal(lk.lookups, 1);
	assert_int_equal(lk.refusals, 1);
	assert_int_equal(lk.refused_status, USBIP_ST_NODEV);
	assert_string_equal(lk.refused_req, "nosuchboard#0123456789abcdefghi");
	assert_int_equal(x->fake[0].opens + x->fake[1].opens, 0);
}

static void test_import_without_lookup_uses_busid(void **state)
{
	struct fx *x = *state;
	struct usbip_usb_device dev;
	struct usbip_conn c2;
	struct fake_rec r2;

	memset(&lk, 0, sizeof(lk));
	x->srv.ops = &t_ops_refused;
	assert_int_equal(import_on(x, &c2, &r2, "9-9", &dev), USBIP_ST_NODEV);
	assert_int_equal(lk.refused_status, USBIP_ST_NODEV);
	usbip_conn_destroy(&c2);
	assert_int_equal(import_on(x, &x->conn, &x->rec, "1-2", &dev), USBIP_ST_OK);
	assert_string_equal(dev.busid, "1-2");
	assert_int_equal(lk.lookups, 0);
	assert_int_equal(lk.refusals, 1);
}

/* Finding 8: open() returning a negative usbip_errno, as every other op
 * does, went out as status 0xffffffed. */
static void test_import_open_errors_mapped(void **state)
{
	struct fx *x = *state;
	struct usbip_usb_device dev;
	struct usbip_conn c2;
	struct fake_rec r2;
	static const struct {
		int rc;
		uint32_t st;
	} cases[] = {
	        {-USBIP_ENODEV, USBIP_ST_NODEV},
	        {-USBIP_ESHUTDOWN, USBIP_ST_NODEV},
	        {-USBIP_EBUSY, USBIP_ST_DEV_BUSY},
	        {-USBIP_EPROTO, USBIP_ST_NA},
	        {-USBIP_ENOMEM, USBIP_ST_NA},
	        {USBIP_ST_DEV_BUSY, USBIP_ST_DEV_BUSY},
	        {USBIP_ST_DEV_ERR, USBIP_ST_DEV_ERR},
	        {USBIP_ST_ERROR, USBIP_ST_NA},
	        {1000, USBIP_ST_NA},
	};

	memset(&lk, 0, sizeof(lk));
	x->srv.ops = &t_ops_refused;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(usbip_import_status(cases[i].rc), cases[i].st);
		x->fake[0].open_rc = cases[i].rc;
		assert_int_equal(import_on(x, &c2, &r2, "1-2", &dev), cases[i].st);
		assert_int_equal(lk.refused_status, (int)cases[i].st);
		/* Refused: not imported, not closed (it never opened). */
		assert_null(x->exp[0].conn);
		usbip_conn_destroy(&c2);
		assert_int_equal(x->fake[0].closes, 0);
	}
	assert_int_equal(x->fake[0].opens, (int)(sizeof(cases) / sizeof(cases[0])));
	/* And the device is importable once open() succeeds. */
	x->fake[0].open_rc = 0;
	assert_int_equal(import_on(x, &x->conn, &x->rec, "1-2", &dev), USBIP_ST_OK);
}

static void test_pipelined_any_order(void **state)
{
	struct fx *x = *state;
	struct usbip_header h;
	const uint8_t *p;
	uint8_t data[100];

	do_import(x, "1-2");
	for (int i = 0; i < 100; i++)
		data[i] = (uint8_t)i;
	submit(x, 7, 1, 1, 64, NULL, NULL, 0);            /* bulk IN */
	submit(x, 9, 1, 0, 100, NULL, data, -1);          /* bulk OUT, np -1 */
	submit(x, 0xfffffffe, 2, 1, 8, NULL, NULL, 1234); /* interrupt IN, np garbage */
	assert_int_equal(x->fake[0].nheld, 3);
	assert_int_equal(x->conn.ninflight, 3);
	assert_memory_equal(x->fake[0].held[1]->data, data, 100);

	/* Complete in reverse order; replies follow completion order. */
	x->fake[0].held[2]->actual_length = 8;
	x->fake[0].held[2]->status = 0;
	memset(x->fake[0].held[2]->data, 0x5a, 8);
	usbip_urb_complete(x->fake[0].held[2]);
	x->fake[0].held[1]->actual_length = 100;
	usbip_urb_complete(x->fake[0].held[1]);
	/* A backend that claims more than was asked is clamped (§3.3). */
	x->fake[0].held[0]->actual_length = 9999;
	usbip_urb_complete(x->fake[0].held[0]);
	x->fake[0].nheld = 0;

	assert_true(next_reply(x, &h, &p, true, false));
	assert_int_equal(h.base.command, USBIP_RET_SUBMIT);
	assert_int_equal(h.base.seqnum, 0xfffffffe);
	assert_int_equal(h.u.ret_submit.actual_length, 8);
	assert_int_equal(h.u.ret_submit.number_of_packets, 1234); /* echoed (§3.5) */
	assert_int_equal(p[0], 0x5a);
	assert_true(next_reply(x, &h, NULL, false, false));
	assert_int_equal(h.base.seqnum, 9);
	assert_int_equal(h.u.ret_submit.actual_length, 100);
	assert_int_equal(h.u.ret_submit.number_of_packets, -1);
	assert_true(next_reply(x, &h, NULL, true, false));
	assert_int_equal(h.base.seqnum, 7);
	assert_int_equal(h.u.ret_submit.actual_length, 64);
	assert_false(next_reply(x, &h, NULL, false, false));
	assert_int_equal(x->conn.ninflight, 0);
}

static void test_unlink_pending_and_completed(void **state)
{
	struct fx *x = *state;
	struct usbip_header h;

	do_import(x, "1-2");
	submit(x, 10, 1, 1, 64, NULL, NULL, 0);
	submit(x, 11, 1, 1, 64, NULL, NULL, 0);
	/* Pending: cancelled, RET_UNLINK(-ECONNRESET) and no RET_SUBMIT. */
	unlink_cmd(x, 12, 10);
	assert_int_equal(x->fake[0].cancels, 1);
	assert_true(next_reply(x, &h, NULL, true, false));
	assert_int_equal(h.base.command, USBIP_RET_UNLINK);
	assert_int_equal(h.base.seqnum, 12);
	assert_int_equal(h.u.ret_unlink.status, -104);
	assert_false(next_reply(x, &h, NULL, true, false));

	/* Completed: RET_SUBMIT was sent first, then RET_UNLINK(0) at once. */
	x->fake[0].held[0]->actual_length = 4;
	usbip_urb_complete(x->fake[0].held[0]);
	x->fake[0].nheld = 0;
	unlink_cmd(x, 13, 11);
	assert_true(next_reply(x, &h, NULL, true, false));
	assert_int_equal(h.base.command, USBIP_RET_SUBMIT);
	assert_int_equal(h.base.seqnum, 11);
	assert_true(next_reply(x, &h, NULL, true, false));
	assert_int_equal(h.base.command, USBIP_RET_UNLINK);
	assert_int_equal(h.base.seqnum, 13);
	assert_int_equal(h.u.ret_unlink.status, 0);

	/* Never seen: RET_UNLINK(0). */
	unlink_cmd(x, 14, 999);
	assert_true(next_reply(x, &h, NULL, true, false));
	assert_int_equal(h.base.seqnum, 14);
	assert_int_equal(h.u.ret_unlink.status, 0);
	assert_int_equal(x->rec.closed, 0);
}

static void test_unlink_race_completes_with_data(void **state)
{
	struct fx *x = *state;
	struct usbip_header h;

	do_import(x, "1-2");
	x->fake[0].cancel_status = 0; /* finished before the cancel took */
	submit(x, 20, 1, 1, 16, NULL, NULL, 0);
	unlink_cmd(x, 21, 20);
	/* RET_SUBMIT(20) first, then RET_UNLINK(21, 0) (§4.3 rule 4). */
	assert_true(next_reply(x, &h, NULL, true, false));
	assert_int_equal(h.base.command, USBIP_RET_SUBMIT);
	assert_int_equal(h.base.seqnum, 20);
	assert_true(next_reply(x, &h, NULL, true, false));
	assert_int_equal(h.base.command, USBIP_RET_UNLINK);
	assert_int_equal(h.u.ret_unlink.status, 0);
}

static void test_special_requests(void **state)
{
	struct fx *x = *state;
	struct usbip_header h;
	const uint8_t set_config[8] = {0x00, 9, 2, 0, 0, 0, 0, 0};
	const uint8_t set_intf[8] = {0x01, 11, 1, 0, 1, 0, 0, 0};
	const uint8_t clear_halt[8] = {0x02, 1, 0, 0, 0x81, 0, 0, 0};
	const uint8_t port_reset[8] = {0x23, 3, 4, 0, 1, 0, 0, 0};
	const uint8_t get_desc[8] = {0x80, 6, 0, 1, 0, 0, 18, 0};

	do_import(x, "1-2");
	submit(x, 1, 0, 0, 0, set_config, NULL, 0);
	submit(x, 2, 0, 0, 0, set_intf, NULL, 0);
	submit(x, 3, 0, 0, 0, clear_halt, NULL, 0);
	submit(x, 4, 0, 0, 0, port_reset, NULL, 0);
	assert_int_equal(x->fake[0].set_config, 1);
	assert_int_equal(x->fake[0].set_config_value, 2);
	assert_int_equal(x->fake[0].set_intf, 1);
	assert_int_equal(x->fake[0].clear_halt, 1);
	assert_int_equal(x->fake[0].halt_ep, 0x81);
	assert_int_equal(x->fake[0].resets, 1);
	assert_int_equal(x->fake[0].submits, 0); /* handled, not forwarded */
	for (uint32_t s = 1; s <= 4; s++) {
		assert_true(next_reply(x, &h, NULL, false, false));
		assert_int_equal(h.base.seqnum, s);
		assert_int_equal(h.u.ret_submit.status, 0);
	}
	/* A failing special op falls back to forwarding, as the stub does. */
	x->fake[0].special_rc = -USBIP_EPIPE;
	submit(x, 5, 0, 0, 0, set_config, NULL, 0);
	assert_int_equal(x->fake[0].submits, 1);
	/* Other control requests go to the device. */
	submit(x, 6, 0, 1, 18, get_desc, NULL, 0);
	assert_int_equal(x->fake[0].submits, 2);
}

static void test_iso_in_packing(void **state)
{
	struct fx *x = *state;
	struct usbip_header h;
	struct usbip_iso_packet iso[3] = {{0, 100, 0, 0}, {100, 100, 0, 0}, {200, 100, 0, 0}};
	uint8_t buf[USBIP_HEADER_SIZE + 3 * 16];
	const uint8_t *p;
	struct usbip_iso_packet got[3];
	struct usbip_urb *u;

	do_import(x, "1-2");
	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = 40;
	h.base.direction = 1;
	h.base.ep = 3;
	h.u.cmd_submit.transfer_buffer_length = 300;
	h.u.cmd_submit.number_of_packets = 3;
	usbip_encode_header(buf, sizeof(buf), &h);
	usbip_encode_iso(buf + 48, 48, iso, 3);
	feed_bytewise(&x->conn, buf, sizeof(buf));
	assert_int_equal(x->fake[0].nheld, 1);
	u = x->fake[0].held[0];
	assert_int_equal(u->niso, 3);
	assert_int_equal(u->iso[2].offset, 200);
	memset(u->data, 1, 10);
	memset(u->data + 100, 2, 20);
	memset(u->data + 200, 3, 30);
	u->iso[0].actual_length = 10;
	u->iso[1].actual_length = 20;
	u->iso[2].actual_length = 30;
	u->iso[1].status = -USBIP_EXDEV;
	u->actual_length = 60;
	usbip_urb_complete(u);
	x->fake[0].nheld = 0;
	assert_true(next_reply(x, &h, &p, true, true));
	assert_int_equal(h.u.ret_submit.actual_length, 60);
	assert_int_equal(h.u.ret_submit.number_of_packets, 3);
	assert_int_equal(p[0], 1);
	assert_int_equal(p[9], 1);
	assert_int_equal(p[10], 2);
	assert_int_equal(p[29], 2);
	assert_int_equal(p[30], 3);
	assert_int_equal(p[59], 3);
	assert_int_equal(usbip_decode_iso(p + 60, 48, got, 3, 300), 48);
	assert_int_equal(got[1].offset, 100);
	assert_int_equal(got[1].actual_length, 20);
	assert_int_equal(got[1].status, -USBIP_EXDEV);
}

/* Sends an ISO CMD_SUBMIT on ep 3 with the given descriptors (and, for
 * OUT, a zero-filled buffer), bytewise. Returns what the last feed did. */
static long submit_iso(struct fx *x, uint32_t seq, int dir_in, int32_t len,
                       const struct usbip_iso_packet *iso, unsigned np)
{
	static uint8_t buf[USBIP_HEADER_SIZE + 131072 + 64 * 16];
	struct usbip_header h;
	size_t n = USBIP_HEADER_SIZE;

	assert_true(len <= 131072 && np <= 64);
	memset(buf, 0, sizeof(buf));
	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = seq;
	h.base.direction = (uint32_t)dir_in;
	h.base.ep = 3;
	h.u.cmd_submit.transfer_buffer_length = len;
	h.u.cmd_submit.number_of_packets = (int32_t)np;
	usbip_encode_header(buf, sizeof(buf), &h);
	if (!dir_in)
		n += (size_t)len;
	n += (size_t)usbip_encode_iso(buf + n, sizeof(buf) - n, iso, np);
	for (size_t i = 0; i + 1 < n; i++)
		assert_int_equal(usbip_conn_feed(&x->conn, buf + i, 1), 1);
	return usbip_conn_feed(&x->conn, buf + n - 1, 1);
}

/* Finding 7: overlapping packets never reach the backend; the kernel's
 * own sets (OUT contiguous, IN with gaps) still do. */
static void test_iso_overlap_refused_before_backend(void **state)
{
	struct fx *x = *state;
	const struct usbip_iso_packet out_ok[2] = {{0, 32, 0, 0}, {32, 32, 0, 0}};
	const struct usbip_iso_packet in_gaps[2] = {{0, 100, 0, 0}, {1000, 100, 0, 0}};
	const struct usbip_iso_packet overlap[3] = {{0, 64, 0, 0}, {0, 64, 0, 0}, {0, 64, 0, 0}};

	do_import(x, "1-2");
	assert_int_equal(submit_iso(x, 1, 0, 64, out_ok, 2), 1);
	assert_int_equal(submit_iso(x, 2, 1, 2000, in_gaps, 2), 1);
	assert_int_equal(x->fake[0].submits, 2);
	assert_int_equal(x->rec.closed, 0);
	/* Three packets on the same 64 bytes: a malformed request. */
	assert_int_equal(submit_iso(x, 3, 1, 64, overlap, 3), USBIP_E_CLOSED);
	assert_int_equal(x->fake[0].submits, 2);
	assert_int_equal(x->rec.closed, 1);
	assert_int_equal(x->rec.close_reason, USBIP_E_INVALID);
}

/* Finding 7: IN packets in descending order are packed in packet order. */
static void test_iso_in_descending_packed(void **state)
{
	struct fx *x = *state;
	const struct usbip_iso_packet iso[3] = {{200, 100, 0, 0}, {100, 100, 0, 0}, {0, 100, 0, 0}};
	struct usbip_header h;
	const uint8_t *p;
	struct usbip_urb *u;

	do_import(x, "1-2");
	assert_int_equal(submit_iso(x, 7, 1, 300, iso, 3), 1);
	assert_int_equal(x->fake[0].nheld, 1);
	u = x->fake[0].held[0];
	memset(u->data, 1, 100);       /* packet 2 */
	memset(u->data + 100, 2, 100); /* packet 1 */
	memset(u->data + 200, 3, 100); /* packet 0 */
	u->iso[0].actual_length = 10;
	u->iso[1].actual_length = 20;
	u->iso[2].actual_length = 30;
	usbip_urb_complete(u);
	x->fake[0].nheld = 0;
	assert_true(next_reply(x, &h, &p, true, true));
	assert_int_equal(h.u.ret_submit.actual_length, 60);
	for (int i = 0; i < 60; i++)
		assert_int_equal(p[i], i < 10 ? 3 : i < 30 ? 2 : 1);
}

/* A set out of buffer order costs packets x buffer to pack in place: above
 * USBIP_CFG_MAX_ISO_REORDER it is refused before the backend sees it, so no
 * client can stall the server (the same set in order is served). */
static void test_iso_reorder_bounded(void **state)
{
	struct fx *x = *state;
	static struct usbip_iso_packet desc[32], asc[32];
	const int32_t len = 131072;

	for (unsigned i = 0; i < 32; i++) {
		desc[i] = (struct usbip_iso_packet){(31 - i) * 4096, 4096, 0, 0};
		asc[i] = (struct usbip_iso_packet){i * 4096, 4096, 0, 0};
	}
	_Static_assert(32u * 131072u > USBIP_CFG_MAX_ISO_REORDER, "the test needs a larger set");
	do_import(x, "1-2");
	assert_int_equal(submit_iso(x, 1, 1, len, asc, 32), 1);
	assert_int_equal(x->fake[0].submits, 1);
	assert_int_equal(submit_iso(x, 2, 1, len, desc, 32), USBIP_E_CLOSED);
	assert_int_equal(x->fake[0].submits, 1);
	assert_int_equal(x->rec.closed, 1);
	assert_int_equal(x->rec.close_reason, USBIP_E_INVALID);
}

static void test_unknown_endpoint_stalls_and_keeps_framing(void **state)
{
	struct fx *x = *state;
	struct usbip_header h;
	uint8_t data[32] = {0};

	do_import(x, "1-2");
	submit(x, 50, 5, 0, 32, NULL, data, 0); /* ep 5 OUT does not exist */
	submit(x, 51, 1, 1, 8, NULL, NULL, 0);
	assert_true(next_reply(x, &h, NULL, false, false));
	assert_int_equal(h.base.seqnum, 50);
	assert_int_equal(h.u.ret_submit.status, -USBIP_EPIPE);
	assert_int_equal(x->fake[0].nheld, 1); /* the next URB was parsed */
	assert_int_equal(x->fake[0].held[0]->seqnum, 51);
}

static void test_malformed_closes_only_that_connection(void **state)
{
	struct fx *x = *state;
	uint8_t bad[48] = {0, 0, 0, 9}; /* command 9 */
	uint8_t badver[8] = {0x01, 0x10, 0x80, 0x05, 0, 0, 0, 0};
	struct usbip_conn c2;
	struct fake_rec r2;

	do_import(x, "1-2");
	submit(x, 1, 1, 1, 8, NULL, NULL, 0);
	assert_true(usbip_conn_feed(&x->conn, bad, sizeof(bad)) < 0);
	assert_int_equal(x->rec.closed, 1);
	assert_true(x->rec.close_reason < 0);
	assert_non_null(x->conn.error);
	assert_false(usbip_conn_wants_input(&x->conn));
	usbip_conn_destroy(&x->conn);
	assert_int_equal(x->fake[0].cancels, 1); /* in-flight URB cancelled */
	assert_int_equal(x->fake[0].closes, 1);

	/* Bad version in the OP phase. */
	memset(&r2, 0, sizeof(r2));
	usbip_conn_init(&x->srv, &c2, &r2);
	assert_true(usbip_conn_feed(&c2, badver, sizeof(badver)) < 0);
	assert_int_equal(r2.closed, 1);
	assert_int_equal(r2.outlen, 0);
	usbip_conn_destroy(&c2);

	/* The other export, and this one, still import fine. */
	usbip_conn_init(&x->srv, &x->conn, &x->rec);
	x->rec.outlen = 0;
	do_import(x, "1-2");
}

static void test_limits_pause_input(void **state)
{
	struct fx *x = *state;
	struct usbip_header h;
	uint8_t buf[2 * USBIP_HEADER_SIZE];

	x->srv.max_urbs_per_conn = 2;
	do_import(x, "1-2");
	submit(x, 1, 1, 1, 8, NULL, NULL, 0);
	submit(x, 2, 1, 1, 8, NULL, NULL, 0);
	assert_false(usbip_conn_wants_input(&x->conn));
	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = 3;
	h.base.direction = 1;
	h.base.ep = 1;
	h.u.cmd_submit.transfer_buffer_length = 8;
	usbip_encode_header(buf, sizeof(buf), &h);
	h.base.seqnum = 4;
	usbip_encode_header(buf + 48, 48, &h);
	assert_int_equal(usbip_conn_feed(&x->conn, buf, sizeof(buf)), 0);
	usbip_urb_complete(x->fake[0].held[0]);
	x->fake[0].held[0] = x->fake[0].held[1];
	x->fake[0].nheld = 1;
	assert_true(usbip_conn_wants_input(&x->conn));
	/* One slot free: one header is taken, the next waits. */
	assert_int_equal(usbip_conn_feed(&x->conn, buf, sizeof(buf)), 48);
	assert_int_equal(x->fake[0].nheld, 2);
}

static void test_oversized_submit_closes(void **state)
{
	struct fx *x = *state;
	struct usbip_header h;
	uint8_t buf[USBIP_HEADER_SIZE];

	do_import(x, "1-2");
	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_SUBMIT;
	h.base.ep = 1;
	h.u.cmd_submit.transfer_buffer_length = 0x7fffffff;
	usbip_encode_header(buf, sizeof(buf), &h);
	assert_true(usbip_conn_feed(&x->conn, buf, sizeof(buf)) < 0);
	assert_int_equal(x->rec.close_reason, USBIP_E_LIMIT);
	/* No allocation happened for it. */
	usbip_conn_destroy(&x->conn);
	assert_int_equal(x->rec.live, 0);
}

static void test_remove_while_imported(void **state)
{
	struct fx *x = *state;

	do_import(x, "1-2");
	submit(x, 1, 1, 1, 8, NULL, NULL, 0);
	usbip_server_remove_export(&x->srv, &x->exp[0]);
	assert_int_equal(x->rec.closed, 1);
	assert_int_equal(x->rec.close_reason, USBIP_E_CLOSED);
	assert_null(usbip_server_find_busid(&x->srv, "1-2"));
	assert_int_equal(x->fake[0].releases, 0);
	/* Device gone: the backend fails its URB, the transport tears down. */
	x->fake[0].held[0]->status = -USBIP_ENODEV;
	usbip_urb_complete(x->fake[0].held[0]);
	x->fake[0].nheld = 0;
	usbip_conn_destroy(&x->conn);
	assert_int_equal(x->fake[0].closes, 1);
	assert_int_equal(x->fake[0].releases, 1);
	assert_int_equal(x->rec.unimported, 1);
	assert_int_equal(x->rec.live, 0);
}

static void test_destroy_with_orphans_waits_for_urbs(void **state)
{
	struct fx *x = *state;
	struct usbip_device_ops no_cancel;
	struct usbip_urb *u;

	/* A backend without cancel: URBs come back after the client left. */
	no_cancel = fake_core_dev_ops;
	no_cancel.cancel = NULL;
	x->exp[0].ops = &no_cancel;
	do_import(x, "1-2");
	submit(x, 1, 1, 1, 8, NULL, NULL, 0);
	usbip_conn_destroy(&x->conn);
	assert_int_equal(x->fake[0].closes, 0); /* URB still out */
	u = x->fake[0].held[0];
	u->status = 0;
	x->fake[0].nheld = 0;
	usbip_urb_complete(u); /* orphan: freed, no reply */
	assert_int_equal(x->fake[0].closes, 1);
	assert_int_equal(x->rec.live, 0);
	/* Free again: a new client may import it. */
	usbip_conn_init(&x->srv, &x->conn, &x->rec);
	x->rec.outlen = 0;
	do_import(x, "1-2");
	usbip_conn_destroy(&x->conn);
	x->exp[0].ops = &fake_core_dev_ops;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_devlist_hides_imported, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_devlist_entry_hook, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_import_busy_nodev, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_import_lookup_maps_name, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_import_lookup_refuses, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_import_lookup_null_is_nodev, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_import_without_lookup_uses_busid, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_import_open_errors_mapped, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pipelined_any_order, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unlink_pending_and_completed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unlink_race_completes_with_data, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_special_requests, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_iso_in_packing, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_iso_overlap_refused_before_backend, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_iso_in_descending_packed, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_iso_reorder_bounded, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unknown_endpoint_stalls_and_keeps_framing,
	                                        setup, teardown),
	        cmocka_unit_test_setup_teardown(test_malformed_closes_only_that_connection, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_limits_pause_input, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_oversized_submit_closes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_remove_while_imported, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_destroy_with_orphans_waits_for_urbs, setup,
	                                        teardown),
	};
	return cmocka_run_group_tests_name("server", tests, NULL, NULL);
}
