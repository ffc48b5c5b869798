/* SPDX-License-Identifier: MIT */
/*
 * test_sim_wire.c - sim devices behind the real server core
 * (lib/usbip/usbip_server.c): OP_REQ_DEVLIST and OP_REQ_IMPORT bytes in,
 * CMD_SUBMIT and CMD_UNLINK built with the codec, replies decoded from what
 * the core hands to its transport. No sockets: the transport is a buffer.
 * The ESP32 has its own bench: esptool's reset and SYNC through the core.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "esp32.h"
#include "sim.h"
#include "sim_hid.h"
#include "usbip.h"
#include "usbip_server.h"

#define MAX_SEQ 16384

/* The fake transport: everything the core sends, in order. */
struct wire {
	struct usbip_server srv;
	struct usbip_conn conn;
	uint8_t *out;
	size_t out_len, out_cap, out_pos;
	bool closed;
	int close_reason;
	uint8_t seq_dir_in[MAX_SEQ]; /* direction of each CMD_SUBMIT we sent */
	uint32_t devid;
};

static void *t_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return malloc(size);
}

static void t_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	free(ptr);
}

static int t_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb)
{
	struct wire *w = conn->transport;

	if (w->out_len + len > w->out_cap) {
		w->out_cap = (w->out_len + len) * 2;
		w->out = realloc(w->out, w->out_cap);
		assert_non_null(w->out);
	}
	memcpy(w->out + w->out_len, buf, len);
	w->out_len += len;
	if (urb != NULL)
		usbip_urb_free(urb); /* copied: free at once */
	return 0;
}

static void t_close(struct usbip_conn *conn, int reason)
{
	struct wire *w = conn->transport;

	w->closed = true;
	w->close_reason = reason;
}

static const struct usbip_server_ops wire_ops = {
        .alloc = t_alloc,
        .free = t_free,
        .send = t_send,
        .close = t_close,
};

/* The three devices, exported as 0-1 (cdc), 0-2 (hid) and 0-3 (msc). */
struct bench {
	struct usbip_server srv;
	struct usbip_export *dev[3];
};

static int bench_setup(void **state)
{
	static const char *const specs[] = {"cdc", "hid", "msc:ram:1M"};
	struct bench *b = calloc(1, sizeof(*b));
	char err[256];

	assert_non_null(b);
	usbip_server_init(&b->srv, &wire_ops, NULL);
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(sim_create(specs[i], i + 1, &b->dev[i], err, sizeof(err)), 0);
		assert_int_equal(usbip_server_add_export(&b->srv, b->dev[i]), 0);
		sim_set_clock(b->dev[i], NULL, NULL); /* the keyboard counts polls */
	}
	*state = b;
	return 0;
}

static int bench_teardown(void **state)
{
	struct bench *b = *state;

	for (unsigned i = 0; i < 3; i++) {
		usbip_server_remove_export(&b->srv, b->dev[i]);
		sim_destroy(b->dev[i]);
	}
	free(b);
	return 0;
}

static void wire_open(struct wire *w, struct bench *b)
{
	memset(w, 0, sizeof(*w));
	usbip_conn_init(&b->srv, &w->conn, w);
}

static void wire_close(struct wire *w)
{
	usbip_conn_destroy(&w->conn);
	free(w->out);
	w->out = NULL;
}

static void wire_feed(struct wire *w, const uint8_t *buf, size_t len)
{
	assert_int_equal(usbip_conn_feed(&w->conn, buf, len), (long)len);
}

static size_t wire_pending(const struct wire *w)
{
	return w->out_len - w->out_pos;
}

static void wire_import(struct wire *w, const char *busid, struct usbip_usb_device *dev)
{
	uint8_t req[USBIP_OP_IMPORT_REQ_SIZE];
	uint32_t status;

	assert_int_equal(usbip_encode_op_req_import(req, sizeof(req), busid), (int)sizeof(req));
	wire_feed(w, req, sizeof(req));
	int n = usbip_decode_op_rep_import(w->out + w->out_pos, wire_pending(w), &status, dev);

	assert_int_equal(n, USBIP_OP_COMMON_SIZE + USBIP_DEVICE_SIZE);
	assert_int_equal(status, 0);
	assert_string_equal(dev->busid, busid);
	w->out_pos += (size_t)n;
	w->devid = dev->busnum << 16 | dev->devnum;
}

/* Sends CMD_SUBMIT; data is the OUT payload (len bytes) or NULL for IN. */
static void wire_submit(struct wire *w, uint32_t seq, uint8_t ep_addr, int32_t len,
                        const uint8_t setup[8], const void *data)
{
	struct usbip_header h;
	uint8_t hdr[USBIP_HEADER_SIZE];
	bool in = ep_addr & 0x80;

	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = seq;
	h.base.devid = w->devid;
	h.base.direction = in ? USBIP_DIR_IN : USBIP_DIR_OUT;
	h.base.ep = ep_addr & 0x0f;
	h.u.cmd_submit.transfer_flags = in ? USBIP_URB_DIR_IN : 0;
	h.u.cmd_submit.transfer_buffer_length = len;
	h.u.cmd_submit.interval = 8;
	if (setup != NULL)
		memcpy(h.u.cmd_submit.setup, setup, 8);
	assert_int_equal(usbip_encode_header(hdr, sizeof(hdr), &h), USBIP_HEADER_SIZE);
	assert_true(seq < MAX_SEQ);
	w->seq_dir_in[seq] = in;
	wire_feed(w, hdr, sizeof(hdr));
	if (!in && len > 0)
		wire_feed(w, data, (size_t)len);
}

static void wire_unlink(struct wire *w, uint32_t seq, uint32_t target)
{
	struct usbip_header h;
	uint8_t hdr[USBIP_HEADER_SIZE];

	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_UNLINK;
	h.base.seqnum = seq;
	h.base.devid = w->devid;
	h.u.cmd_unlink.unlink_seqnum = target;
	assert_int_equal(usbip_encode_header(hdr, sizeof(hdr), &h), USBIP_HEADER_SIZE);
	wire_feed(w, hdr, sizeof(hdr));
}

/* Takes the next reply, which must be there; returns a pointer to its
 * payload (IN data of a RET_SUBMIT). */
static const uint8_t *wire_reply(struct wire *w, struct usbip_header *h)
{
	assert_true(wire_pending(w) >= USBIP_HEADER_SIZE);
	assert_int_equal(usbip_decode_header(w->out + w->out_pos, wire_pending(w), h),
	                 USBIP_HEADER_SIZE);
	w->out_pos += USBIP_HEADER_SIZE;
	const uint8_t *payload = w->out + w->out_pos;

	if (h->base.command == USBIP_RET_SUBMIT) {
		assert_true(h->base.seqnum < MAX_SEQ);
		long n = usbip_ret_submit_payload_size(h, w->seq_dir_in[h->base.seqnum], false);

		assert_true(n >= 0 && (size_t)n <= wire_pending(w));
		w->out_pos += (size_t)n;
	}
	return payload;
}

static const uint8_t *expect_ret_submit(struct wire *w, uint32_t seq, int32_t status,
                                        int32_t actual)
{
	struct usbip_header h;
	const uint8_t *p = wire_reply(w, &h);

	assert_int_equal(h.base.command, USBIP_RET_SUBMIT);
	assert_int_equal(h.base.seqnum, seq);
	assert_int_equal(h.u.ret_submit.status, status);
	assert_int_equal(h.u.ret_submit.actual_length, actual);
	return p;
}

static void setup_packet(uint8_t s[8], uint8_t type, uint8_t req, uint16_t value, uint16_t index,
                         uint16_t length)
{
	s[0] = type;
	s[1] = req;
	usbip_put_le16(s + 2, value);
	usbip_put_le16(s + 4, index);
	usbip_put_le16(s + 6, length);
}

static void test_devlist(void **state)
{
	struct bench *b = *state;
	struct wire w;
	uint8_t req[USBIP_OP_COMMON_SIZE];
	uint32_t ndev;
	static const uint8_t want_classes[3][2] = {{0x02, 0x0a}, {0x03, 0}, {0x08, 0}};

	wire_open(&w, b);
	assert_int_equal(usbip_encode_op_req_devlist(req, sizeof(req)), (int)sizeof(req));
	wire_feed(&w, req, sizeof(req));
	assert_int_equal(usbip_decode_op_rep_devlist_header(w.out, w.out_len, &ndev),
	                 USBIP_DEVLIST_HEADER_SIZE);
	assert_int_equal(ndev, 3);
	w.out_pos = USBIP_DEVLIST_HEADER_SIZE;
	unsigned seen = 0;

	for (uint32_t i = 0; i < ndev; i++) {
		struct usbip_usb_device d;
		struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
		int n = usbip_decode_usb_device(w.out + w.out_pos, wire_pending(&w), &d, ifs, true);

		assert_true(n > 0);
		w.out_pos += (size_t)n;
		unsigned k = d.devnum - 1;

		assert_true(k < 3);
		seen |= 1u << k;
		assert_int_equal(d.idVendor, 0x1209);
		assert_int_equal(d.idProduct, k + 1);
		assert_int_equal(d.bConfigurationValue, 1);
		assert_int_equal(d.bNumInterfaces, k == 0 ? 2 : 1);
		assert_int_equal(ifs[0].bInterfaceClass, want_classes[k][0]);
		if (k == 0)
			assert_int_equal(ifs[1].bInterfaceClass, want_classes[k][1]);
	}
	assert_int_equal(seen, 7);
	assert_int_equal(wire_pending(&w), 0);
	assert_true(w.closed);
	assert_int_equal(w.close_reason, 0);
	wire_close(&w);
}

/* Enumeration as vhci sends it, then the CDC echo and unlink rules. */
static void test_cdc_over_wire(void **state)
{
	struct bench *b = *state;
	struct usbip_usb_device dev;
	struct usbip_header h;
	struct wire w;
	uint8_t s[8];
	const uint8_t *p;

	wire_open(&w, b);
	wire_import(&w, "0-1", &dev);
	assert_int_equal(dev.devnum, 1);
	assert_int_equal(dev.speed, USBIP_SPEED_HIGH);

	setup_packet(s, 0x80, 6, 0x0100, 0, 18);
	wire_submit(&w, 1, 0x80, 18, s, NULL);
	p = expect_ret_submit(&w, 1, 0, 18);
	assert_int_equal(p[0], 18);
	assert_int_equal(usbip_get_le16(p + 8), 0x1209);

	setup_packet(s, 0x80, 6, 0x0200, 0, 9);
	wire_submit(&w, 2, 0x80, 9, s, NULL);
	p = expect_ret_submit(&w, 2, 0, 9);
	uint16_t total = usbip_get_le16(p + 2);

	setup_packet(s, 0x80, 6, 0x0200, 0, total);
	wire_submit(&w, 3, 0x80, total, s, NULL);
	expect_ret_submit(&w, 3, 0, total);

	/* SET_CONFIGURATION goes to the set_configuration op (§4.5). */
	setup_packet(s, 0x00, 9, 1, 0, 0);
	wire_submit(&w, 4, 0x00, 0, s, NULL);
	expect_ret_submit(&w, 4, 0, 0);

	/* cdc_acm: read URBs wait, a write comes back on them. */
	wire_submit(&w, 10, 0x82, 512, NULL, NULL);
	wire_submit(&w, 11, 0x81, 16, NULL, NULL); /* notifications */
	assert_int_equal(wire_pending(&w), 0);
	wire_submit(&w, 12, 0x02, 12, NULL, "hello usblab");
	expect_ret_submit(&w, 12, 0, 12);
	p = expect_ret_submit(&w, 10, 0, 12);
	assert_memory_equal(p, "hello usblab", 12);
	assert_int_equal(wire_pending(&w), 0);

	/* Unlink of a waiting URB: RET_UNLINK(-ECONNRESET), no RET_SUBMIT. */
	wire_submit(&w, 13, 0x82, 512, NULL, NULL);
	wire_unlink(&w, 14, 13);
	wire_reply(&w, &h);
	assert_int_equal(h.base.command, USBIP_RET_UNLINK);
	assert_int_equal(h.base.seqnum, 14);
	assert_int_equal(h.u.ret_unlink.status, -USBIP_ECONNRESET);
	/* Unlink of a completed URB: RET_UNLINK(0). */
	wire_unlink(&w, 15, 10);
	wire_reply(&w, &h);
	assert_int_equal(h.base.command, USBIP_RET_UNLINK);
	assert_int_equal(h.u.ret_unlink.status, 0);
	assert_int_equal(wire_pending(&w), 0);

	/* Data left in the device, then the client goes away with URBs out:
	 * the core cancels them and closes the device. */
	wire_submit(&w, 16, 0x02, 5, NULL, "stale");
	expect_ret_submit(&w, 16, 0, 5);
	wire_close(&w);
	assert_null(b->dev[0]->conn);

	/* A new import starts with an empty buffer. */
	wire_open(&w, b);
	wire_import(&w, "0-1", &dev);
	wire_submit(&w, 1, 0x82, 512, NULL, NULL);
	assert_int_equal(wire_pending(&w), 0);
	wire_submit(&w, 2, 0x02, 3, NULL, "new");
	expect_ret_submit(&w, 2, 0, 3);
	p = expect_ret_submit(&w, 1, 0, 3);
	assert_memory_equal(p, "new", 3);
	wire_close(&w);
}

static void test_hid_over_wire(void **state)
{
	struct bench *b = *state;
	struct usbip_usb_device dev;
	struct wire w;
	uint8_t s[8];
	const uint8_t *p;

	wire_open(&w, b);
	wire_import(&w, "0-2", &dev);
	setup_packet(s, 0x21, 0x0a, 0, 0, 0); /* SET_IDLE */
	wire_submit(&w, 1, 0x00, 0, s, NULL);
	expect_ret_submit(&w, 1, 0, 0);
	setup_packet(s, 0x81, 6, 0x2200, 0, 63);
	wire_submit(&w, 2, 0x80, 63, s, NULL);
	p = expect_ret_submit(&w, 2, 0, 63);
	assert_int_equal(p[62], 0xc0);

	/* Idle reports first, then "usblab\n": 7 characters, down and up. */
	static const uint8_t keys[] = {0x18, 0x16, 0x05, 0x0f, 0x04, 0x05, 0x28};
	static const uint8_t idle[8] = {0};
	uint32_t seq = 10;

	for (unsigned i = 0; i < SIM_HID_SETTLE_POLLS; i++) {
		wire_submit(&w, seq, 0x81, 8, NULL, NULL);
		p = expect_ret_submit(&w, seq, 0, 8);
		assert_memory_equal(p, idle, 8);
		seq = seq + 1 < MAX_SEQ ? seq + 1 : 10; /* seqnums are reused keys */
	}

	for (unsigned i = 0; i < 2 * sizeof(keys); i++, seq++) {
		wire_submit(&w, seq, 0x81, 8, NULL, NULL);
		p = expect_ret_submit(&w, seq, 0, 8);
		assert_int_equal(p[2], i % 2 == 0 ? keys[i / 2] : 0);
	}
	wire_submit(&w, seq, 0x81, 8, NULL, NULL);
	assert_int_equal(wire_pending(&w), 0);
	wire_close(&w); /* cancels the waiting URB */
}

static void test_msc_over_wire(void **state)
{
	struct bench *b = *state;
	struct usbip_usb_device dev;
	struct wire w;
	uint8_t s[8], cbw[31] = {0};
	const uint8_t *p;

	wire_open(&w, b);
	wire_import(&w, "0-3", &dev);
	setup_packet(s, 0xa1, 0xfe, 0, 0, 1); /* GET_MAX_LUN */
	wire_submit(&w, 1, 0x80, 1, s, NULL);
	p = expect_ret_submit(&w, 1, 0, 1);
	assert_int_equal(p[0], 0);

	/* INQUIRY: CBW, 36 bytes, CSW. */
	usbip_put_be32(cbw, 0x55534243); /* "USBC", i.e. 0x43425355 little-endian */
	cbw[4] = 0x2a;
	cbw[8] = 36;
	cbw[12] = 0x80;
	cbw[14] = 6;
	cbw[15] = 0x12;
	cbw[19] = 36;
	wire_submit(&w, 2, 0x02, 31, NULL, cbw);
	expect_ret_submit(&w, 2, 0, 31);
	wire_submit(&w, 3, 0x81, 36, NULL, NULL);
	p = expect_ret_submit(&w, 3, 0, 36);
	assert_memory_equal(p + 8, "usblab  ", 8);
	wire_submit(&w, 4, 0x81, 13, NULL, NULL);
	p = expect_ret_submit(&w, 4, 0, 13);
	assert_memory_equal(p, "USBS", 4);
	assert_int_equal(p[4], 0x2a);
	assert_int_equal(p[12], 0);

	/* An invalid CBW, then Reset Recovery through the core: the
	 * CLEAR_FEATURE(HALT) requests reach the clear_halt op. */
	cbw[0] = 'X';
	wire_submit(&w, 5, 0x02, 31, NULL, cbw);
	expect_ret_submit(&w, 5, 0, 31);
	wire_submit(&w, 6, 0x81, 13, NULL, NULL);
	expect_ret_submit(&w, 6, -USBIP_EPIPE, 0);
	setup_packet(s, 0x21, 0xff, 0, 0, 0);
	wire_submit(&w, 7, 0x00, 0, s, NULL);
	expect_ret_submit(&w, 7, 0, 0);
	setup_packet(s, 0x02, 1, 0, 0x81, 0);
	wire_submit(&w, 8, 0x00, 0, s, NULL);
	expect_ret_submit(&w, 8, 0, 0);
	setup_packet(s, 0x02, 1, 0, 0x02, 0);
	wire_submit(&w, 9, 0x00, 0, s, NULL);
	expect_ret_submit(&w, 9, 0, 0);
	cbw[0] = 'U';
	wire_submit(&w, 10, 0x02, 31, NULL, cbw);
	expect_ret_submit(&w, 10, 0, 31);
	wire_submit(&w, 11, 0x81, 36, NULL, NULL);
	expect_ret_submit(&w, 11, 0, 36);
	wire_submit(&w, 12, 0x81, 13, NULL, NULL);
	p = expect_ret_submit(&w, 12, 0, 13);
	assert_int_equal(p[12], 0);

	/* An endpoint the device lacks: the core stalls it itself. */
	wire_submit(&w, 13, 0x83, 64, NULL, NULL);
	expect_ret_submit(&w, 13, -USBIP_EPIPE, 0);
	wire_close(&w);
}

/* What cdc_acm does on every open and close of its tty, many times, with
 * unlinks racing completions (the kernel lab's unlink-storm): afterwards
 * nothing is left in flight and the port still echoes. */
static void test_cdc_unlink_storm(void **state)
{
	static const char burst[] = "usblab-unlink-storm-0123456789abcdefghijklmnopqrstuvwxyz\n";
	struct bench *b = *state;
	struct usbip_usb_device dev;
	struct usbip_header h;
	struct wire w;
	uint8_t s[8];
	uint32_t seq = 1, echoed = 0, written = 0;
	static uint8_t done[MAX_SEQ]; /* 1: RET_SUBMIT seen */

	memset(done, 0, sizeof(done));
	wire_open(&w, b);
	wire_import(&w, "0-1", &dev);
	srand(7);
	for (unsigned round = 0; round < 400; round++) {
		uint32_t first = seq, notify = seq++;

		assert_true(seq + 40 < MAX_SEQ);
		wire_submit(&w, notify, 0x81, 16, NULL, NULL);
		setup_packet(s, 0x21, 0x22, 3, 0, 0);
		wire_submit(&w, seq++, 0x00, 0, s, NULL);
		uint32_t reads = seq;

		for (unsigned i = 0; i < 16; i++)
			wire_submit(&w, seq++, 0x82, 512, NULL, NULL);
		if (rand() % 4 != 0) {
			wire_submit(&w, seq++, 0x02, sizeof(burst) - 1, NULL, burst);
			written += sizeof(burst) - 1;
		}
		/* Close: every URB the client has not seen complete is killed,
		 * whether or not its reply is already on the way. */
		uint32_t unlinks = seq;

		wire_unlink(&w, seq++, notify);
		for (unsigned i = 0; i < 16; i++)
			wire_unlink(&w, seq++, reads + i);
		setup_packet(s, 0x21, 0x22, 0, 0, 0);
		wire_submit(&w, seq++, 0x00, 0, s, NULL);
		while (wire_pending(&w) > 0) {
			const uint8_t *p = wire_reply(&w, &h);
			uint32_t q = h.base.seqnum;

			assert_true(q >= first && q < seq);
			if (h.base.command == USBIP_RET_SUBMIT) {
				assert_int_equal(done[q], 0);
				done[q] = 1;
				assert_true(h.u.ret_submit.status == 0);
				if (q >= reads && q < reads + 16) {
					echoed += (uint32_t)h.u.ret_submit.actual_length;
					assert_memory_equal(p, burst, 4);
				}
			} else {
				assert_int_equal(h.base.command, USBIP_RET_UNLINK);
				assert_true(q >= unlinks && q < unlinks + 17);
				/* Unlinked while held: -ECONNRESET and never a
				 * RET_SUBMIT; completed first: 0. */
				uint32_t target = q == unlinks ? notify : reads + (q - unlinks - 1);

				if (h.u.ret_unlink.status == 0)
					assert_int_equal(done[target], 1);
				else
					assert_int_equal(h.u.ret_unlink.status, -USBIP_ECONNRESET);
				done[target] = 2;
			}
		}
		assert_int_equal(w.conn.ninflight, 0);
	}
	/* Everything written came back, each burst whole on one read. */
	assert_int_equal(echoed, written);
	wire_submit(&w, seq, 0x82, 512, NULL, NULL);
	wire_submit(&w, seq + 1, 0x02, 11, NULL, "after-storm");
	expect_ret_submit(&w, seq + 1, 0, 11);
	const uint8_t *p = expect_ret_submit(&w, seq, 0, 11);

	assert_memory_equal(p, "after-storm", 11);
	wire_close(&w);
}

/* The ESP32 alone, exported as 0-1. */
static int esp32_setup(void **state)
{
	struct bench *b = calloc(1, sizeof(*b));
	char err[256];

	assert_non_null(b);
	usbip_server_init(&b->srv, &wire_ops, NULL);
	assert_int_equal(sim_create("esp32", 1, &b->dev[0], err, sizeof(err)), 0);
	assert_int_equal(usbip_server_add_export(&b->srv, b->dev[0]), 0);
	*state = b;
	return 0;
}

static int esp32_teardown(void **state)
{
	struct bench *b = *state;

	usbip_server_remove_export(&b->srv, b->dev[0]);
	sim_destroy(b->dev[0]);
	free(b);
	return 0;
}

/* SET_CONTROL_LINE_STATE through the core: completes at once, no data. */
static void wire_lines(struct wire *w, uint32_t seq, uint16_t lines)
{
	uint8_t s[8];

	setup_packet(s, 0x21, 0x22, lines, 0, 0);
	wire_submit(w, seq, 0x00, 0, s, NULL);
	expect_ret_submit(w, seq, 0, 0);
	assert_int_equal(wire_pending(w), 0);
}

/* esptool against the virtual ESP32 through the real core: its identity
 * in OP_REP_IMPORT, the classic reset as control URBs, SYNC over bulk OUT
 * and the ROM's 8 replies on bulk IN. */
static void test_esp32_over_wire(void **state)
{
	struct bench *b = *state;
	struct usbip_usb_device dev;
	struct wire w;
	uint8_t s[8], frame[128];
	const uint8_t *p;
	static const uint8_t reply[] = {0xc0, 0x01, 0x08, 0x04, 0x00, 0x07, 0x07,
	                                0x12, 0x20, 0x00, 0x00, 0x00, 0x00, 0xc0};
	static const char rom_says[] = "waiting for download\r\n";

	wire_open(&w, b);
	wire_import(&w, "0-1", &dev);
	assert_int_equal(dev.idVendor, 0x303a);
	assert_int_equal(dev.idProduct, 0x1001);
	setup_packet(s, 0x00, 9, 1, 0, 0);
	wire_submit(&w, 1, 0x00, 0, s, NULL);
	expect_ret_submit(&w, 1, 0, 0);

	wire_lines(&w, 2, 0x0002); /* DTR=0 RTS=1: EN low */
	wire_lines(&w, 3, 0x0003); /* DTR=1 */
	wire_lines(&w, 4, 0x0001); /* RTS=0: EN rises with IO0 low */
	wire_lines(&w, 5, 0x0000); /* DTR=0 */

	/* The ROM's greeting is waiting: a read URB takes it at once. */
	wire_submit(&w, 6, 0x82, 512, NULL, NULL);
	struct usbip_header h;

	p = wire_reply(&w, &h);
	assert_int_equal(h.base.seqnum, 6);
	assert_int_equal(h.u.ret_submit.status, 0);
	assert_true(h.u.ret_submit.actual_length >= (int32_t)sizeof(rom_says) - 1);
	assert_memory_equal(p + h.u.ret_submit.actual_length - (sizeof(rom_says) - 1), rom_says,
	                    sizeof(rom_says) - 1);

	/* A read waits; SYNC goes out; the OUT completes, then the read
	 * returns the 8 replies. */
	wire_submit(&w, 7, 0x82, 512, NULL, NULL);
	assert_int_equal(wire_pending(&w), 0);
	long n = esp32_frame_sync(frame, sizeof(frame));

	assert_true(n > 0);
	wire_submit(&w, 8, 0x02, (int32_t)n, NULL, frame);
	expect_ret_submit(&w, 8, 0, (int32_t)n);
	p = expect_ret_submit(&w, 7, 0, 8 * (int32_t)sizeof(reply));
	for (unsigned i = 0; i < 8; i++)
		assert_memory_equal(p + i * sizeof(reply), reply, sizeof(reply));
	assert_int_equal(wire_pending(&w), 0);
	wire_close(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_devlist, bench_setup, bench_teardown),
	        cmocka_unit_test_setup_teardown(test_cdc_over_wire, bench_setup, bench_teardown),
	        cmocka_unit_test_setup_teardown(test_hid_over_wire, bench_setup, bench_teardown),
	        cmocka_unit_test_setup_teardown(test_msc_over_wire, bench_setup, bench_teardown),
	        cmocka_unit_test_setup_teardown(test_cdc_unlink_storm, bench_setup, bench_teardown),
	        cmocka_unit_test_setup_teardown(test_esp32_over_wire, esp32_setup, esp32_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
