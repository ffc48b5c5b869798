/* SPDX-License-Identifier: MIT */
/*
 * test_fw_tuh.c - the TinyUSB backend (firmware/usbip_tuh.c) with the real
 * server core, the real URB pool and a fake TinyUSB host stack fed with a
 * Pico's CDC descriptors: enumerate -> DEVLIST -> import -> control, bulk
 * and interrupt transfers -> unlink -> unplug mid-transfer. The transport
 * is a recorder; replies are decoded with lib/usbip's codec.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "fake_tuh.h"
#include "pico_cdc_desc.h"
#include "usbip_fw_opts.h"
#include "usbip_fw_pool.h"
#include "usbip_server.h"
#include "usbip_tuh.h"

/* ---- a recording transport ------------------------------------------------- */

static struct {
	uint8_t out[1 << 16];
	size_t len, rd;
	unsigned closes;
	int reason;
	unsigned attached, detached;
} tr;

static struct usbip_server srv;
static struct usbip_conn conn;

static void *t_alloc(void *ctx, size_t size)
{
	(void)ctx;
	return usbip_fw_pool_alloc(size);
}

static void t_free(void *ctx, void *ptr, size_t size)
{
	(void)ctx;
	(void)size;
	usbip_fw_pool_free(ptr);
}

static int t_send(struct usbip_conn *c, const void *buf, size_t len, struct usbip_urb *urb)
{
	(void)c;
	assert_true(tr.len + len <= sizeof(tr.out));
	memcpy(tr.out + tr.len, buf, len);
	tr.len += len;
	if (urb)
		usbip_urb_free(urb);
	return 0;
}

static void t_close(struct usbip_conn *c, int reason)
{
	(void)c;
	tr.closes++;
	tr.reason = reason;
}

static const struct usbip_server_ops t_ops = {
        .alloc = t_alloc,
        .free = t_free,
        .send = t_send,
        .close = t_close,
};

static void on_event(void *ctx, int event, const struct usbip_export *exp)
{
	(void)ctx;
	assert_true(strcmp(exp->info.busid, "1-1") == 0 || strcmp(exp->info.busid, "1-2") == 0);
	if (event == USBIP_TUH_ATTACHED)
		tr.attached++;
	else if (event == USBIP_TUH_DETACHED)
		tr.detached++;
}

/* ---- client side helpers ----------------------------------------------------- */

static void feed(const void *buf, size_t len)
{
	assert_int_equal(usbip_conn_feed(&conn, buf, len), (long)len);
}

static void submit(uint32_t seq, uint8_t ep, int in, uint32_t len, const uint8_t setup[8],
                   const void *data)
{
	struct usbip_header h;
	uint8_t hdr[USBIP_HEADER_SIZE];

	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = seq;
	h.base.devid = 1u << 16 | 1u;
	h.base.direction = in ? USBIP_DIR_IN : USBIP_DIR_OUT;
	h.base.ep = ep;
	h.u.cmd_submit.transfer_flags = in ? USBIP_URB_DIR_IN : 0;
	h.u.cmd_submit.transfer_buffer_length = (int32_t)len;
	if (setup)
		memcpy(h.u.cmd_submit.setup, setup, 8);
	assert_int_equal(usbip_encode_header(hdr, sizeof(hdr), &h), USBIP_HEADER_SIZE);
	feed(hdr, sizeof(hdr));
	if (!in && len)
		feed(data, len);
}

static void unlink_urb(uint32_t seq, uint32_t victim)
{
	struct usbip_header h;
	uint8_t hdr[USBIP_HEADER_SIZE];

	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_UNLINK;
	h.base.seqnum = seq;
	h.base.devid = 1u << 16 | 1u;
	h.u.cmd_unlink.unlink_seqnum = victim;
	usbip_encode_header(hdr, sizeof(hdr), &h);
	feed(hdr, sizeof(hdr));
}

/* Takes the next reply; IN payloads are copied to data. */
static void reply(struct usbip_header *h, int in, void *data)
{
	assert_true(tr.len - tr.rd >= USBIP_HEADER_SIZE);
	assert_int_equal(usbip_decode_header(tr.out + tr.rd, USBIP_HEADER_SIZE, h),
	                 USBIP_HEADER_SIZE);
	tr.rd += USBIP_HEADER_SIZE;
	if (h->base.command == USBIP_RET_SUBMIT && in && h->u.ret_submit.actual_length > 0) {
		size_t n = (size_t)h->u.ret_submit.actual_length;

		assert_true(tr.len - tr.rd >= n);
		if (data)
			memcpy(data, tr.out + tr.rd, n);
		tr.rd += n;
	}
}

static void expect_submit(uint32_t seq, int32_t status, int32_t actual, int in, void *data)
{
	struct usbip_header h;

	reply(&h, in, data);
	assert_int_equal(h.base.command, USBIP_RET_SUBMIT);
	assert_int_equal(h.base.seqnum, seq);
	assert_int_equal(h.u.ret_submit.status, status);
	assert_int_equal(h.u.ret_submit.actual_length, actual);
}

static void expect_unlink(uint32_t seq, int32_t status)
{
	struct usbip_header h;

	reply(&h, 0, NULL);
	assert_int_equal(h.base.command, USBIP_RET_UNLINK);
	assert_int_equal(h.base.seqnum, seq);
	assert_int_equal(h.u.ret_unlink.status, status);
}

static void no_reply(void)
{
	assert_int_equal(tr.len, tr.rd);
}

/* ---- fixtures ---------------------------------------------------------------- */

static void plug_pico(void)
{
	assert_int_equal(fake_tuh_attach(1, pico_cdc_dev_desc, pico_cdc_cfg_desc,
	                                 sizeof(pico_cdc_cfg_desc), TUSB_SPEED_FULL),
	                 2);
	/* Device descriptor, then configuration (read from the first's
	 * completion): one tuh_task pass delivers both. */
	assert_int_equal(fake_tuh_task(), 2);
	assert_int_equal(fake_tuh_task(), 0);
}

static int setup(void **state)
{
	(void)state;
	memset(&tr, 0, sizeof(tr));
	usbip_fw_pool_init();
	usbip_server_init(&srv, &t_ops, NULL);
	fake_tuh_init(NULL);
	usbip_tuh_start(&srv, 0, 0, on_event, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	usbip_tuh_stop();
	fake_tuh_detach(1);
	fake_tuh_detach(2);
	fake_tuh_detach(3);
	assert_int_equal(fake_tuh_violations(), 0);
	return 0;
}

static void import_pico(void)
{
	uint8_t req[USBIP_OP_IMPORT_REQ_SIZE];
	uint32_t st = 99;
	struct usbip_usb_device dev;

	usbip_conn_init(&srv, &conn, NULL);
	assert_int_equal(usbip_encode_op_req_import(req, sizeof(req), "1-1"), sizeof(req));
	feed(req, sizeof(req));
	assert_int_equal(usbip_decode_op_rep_import(tr.out + tr.rd, tr.len - tr.rd, &st, &dev),
	                 USBIP_OP_COMMON_SIZE + USBIP_DEVICE_SIZE);
	tr.rd = tr.len;
	assert_int_equal(st, USBIP_ST_OK);
	assert_int_equal(dev.idVendor, 0x2e8a);
}

/* ---- tests ----------------------------------------------------------------------- */

static void test_enumerate_claims_and_exports(void **state)
{
	struct usbip_export *exp;
	struct usbip_tuh_info info[4];

	(void)state;
	plug_pico();
	/* Interrupt 0x81 (slot 3), bulk 0x02 (slot 4), bulk 0x82 (slot 5). */
	assert_int_equal(fake_tuh_opened(1), 1u | 1u << 3 | 1u << 4 | 1u << 5);
	exp = usbip_server_find_busid(&srv, "1-1");
	assert_non_null(exp);
	assert_int_equal(tr.attached, 1);
	assert_int_equal(exp->info.idVendor, 0x2e8a);
	assert_int_equal(exp->info.idProduct, 0x0005);
	assert_int_equal(exp->info.bcdDevice, 0x0100);
	assert_int_equal(exp->info.speed, USBIP_SPEED_FULL);
	assert_int_equal(exp->info.bDeviceClass, 0xef);
	assert_int_equal(exp->info.bConfigurationValue, 1);
	assert_int_equal(exp->info.bNumConfigurations, 1);
	assert_int_equal(exp->info.bNumInterfaces, 2);
	assert_int_equal(exp->ifs[0].bInterfaceClass, 0x02);
	assert_int_equal(exp->ifs[0].bInterfaceSubClass, 0x02);
	assert_int_equal(exp->ifs[1].bInterfaceClass, 0x0a);
	assert_int_equal(exp->info.devnum, 1);
	assert_string_equal(exp->info.path, "/pico/usb/1-1");
	assert_int_equal(exp->ops->ep_type(exp, 0x82), USBIP_EP_BULK);
	assert_int_equal(exp->ops->ep_type(exp, 0x81), USBIP_EP_INT);
	assert_int_equal(exp->ops->ep_type(exp, 0x83), -1);
	assert_int_equal(usbip_tuh_devices(info, 4), 1);
	assert_true(info[0].exported);
	assert_false(info[0].imported);
}

static void test_devlist(void **state)
{
	uint8_t req[USBIP_OP_COMMON_SIZE];
	uint32_t ndev = 0;
	struct usbip_usb_device dev;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
	int n;

	(void)state;
	plug_pico();
	usbip_conn_init(&srv, &conn, NULL);
	usbip_encode_op_req_devlist(req, sizeof(req));
	feed(req, sizeof(req));
	assert_int_equal(usbip_decode_op_rep_devlist_header(tr.out, tr.len, &ndev),
	                 USBIP_DEVLIST_HEADER_SIZE);
	assert_int_equal(ndev, 1);
	n = usbip_decode_usb_device(tr.out + USBIP_DEVLIST_HEADER_SIZE,
	                            tr.len - USBIP_DEVLIST_HEADER_SIZE, &dev, ifs, true);
	assert_int_equal(n, USBIP_DEVICE_SIZE + 2 * USBIP_INTERFACE_SIZE);
	assert_int_equal((size_t)n + USBIP_DEVLIST_HEADER_SIZE, tr.len);
	assert_string_equal(dev.busid, "1-1");
	assert_int_equal(dev.idProduct, 5);
	assert_int_equal(ifs[1].bInterfaceClass, 0x0a);
	assert_int_equal(tr.closes, 1); /* one OP per connection */
	assert_int_equal(tr.reason, 0);
	usbip_conn_destroy(&conn);
}

static void test_control_transfers(void **state)
{
	uint8_t setup_pkt[8], buf[64];
	static const uint8_t line_coding[7] = {0x00, 0xc2, 0x01, 0x00, 0x00, 0x00, 0x08};
	struct fake_xfer *xf;

	(void)state;
	plug_pico();
	import_pico();
	/* GET_DESCRIPTOR(device, 18): the device answers from its table. */
	memcpy(setup_pkt, "\x80\x06\x00\x01\x00\x00\x12\x00", 8);
	submit(1, 0, 1, 64, setup_pkt, NULL);
	no_reply();
	assert_int_equal(fake_tuh_task(), 1);
	expect_submit(1, 0, 18, 1, buf);
	assert_memory_equal(buf, pico_cdc_dev_desc, 18);
	/* SET_LINE_CODING 115200 8N1 (class OUT, 7 bytes) reaches TinyUSB. */
	memcpy(setup_pkt, "\x21\x20\x00\x00\x00\x00\x07\x00", 8);
	submit(2, 0, 0, 7, setup_pkt, line_coding);
	xf = fake_tuh_pending(1, 0);
	assert_non_null(xf);
	assert_int_equal(xf->req.bRequest, 0x20);
	assert_memory_equal(xf->x.buffer, line_coding, 7);
	/* A second control URB waits for the first (one control at a time). */
	memcpy(setup_pkt, "\xc0\x42\x00\x00\x00\x00\x04\x00", 8);
	submit(3, 0, 1, 4, setup_pkt, NULL);
	assert_true(fake_tuh_complete(1, 0, XFER_RESULT_SUCCESS, NULL, 7));
	assert_int_equal(fake_tuh_task(), 1);
	expect_submit(2, 0, 7, 0, NULL);
	/* The vendor request started now; the device STALLs it. */
	xf = fake_tuh_pending(1, 0);
	assert_non_null(xf);
	assert_int_equal(xf->req.bRequest, 0x42);
	assert_true(fake_tuh_complete(1, 0, XFER_RESULT_STALLED, NULL, 0));
	fake_tuh_task();
	expect_submit(3, -USBIP_EPIPE, 0, 1, NULL);
	/* SET_CONFIGURATION 1 is TinyUSB's own: answered without a transfer;
	 * 2 would desynchronise TinyUSB: STALL. */
	memcpy(setup_pkt, "\x00\x09\x01\x00\x00\x00\x00\x00", 8);
	submit(4, 0, 0, 0, setup_pkt, NULL);
	expect_submit(4, 0, 0, 0, NULL);
	memcpy(setup_pkt, "\x00\x09\x02\x00\x00\x00\x00\x00", 8);
	submit(5, 0, 0, 0, setup_pkt, NULL);
	expect_submit(5, -USBIP_EPIPE, 0, 0, NULL);
	assert_null(fake_tuh_pending(1, 0));
	/* wLength above the buffer would let TinyUSB overrun it: refused. */
	memcpy(setup_pkt, "\x80\x06\x00\x02\x00\x00\x00\x01", 8);
	submit(6, 0, 1, 16, setup_pkt, NULL);
	expect_submit(6, -USBIP_EINVAL, 0, 1, NULL);
	assert_null(fake_tuh_pending(1, 0));
	usbip_conn_destroy(&conn);
}

static void test_bulk_and_interrupt(void **state)
{
	uint8_t data[64], buf[64];
	struct fake_xfer *xf;
	struct usbip_tuh_info info;

	(void)state;
	for (unsigned i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 7);
	plug_pico();
	import_pico();
	assert_int_equal(usbip_tuh_devices(&info, 1), 1);
	assert_true(info.imported);
	/* Bulk OUT 64 bytes on 0x02. */
	submit(10, 2, 0, 64, NULL, data);
	xf = fake_tuh_pending(1, 0x02);
	assert_non_null(xf);
	assert_int_equal(xf->len, 64);
	assert_memory_equal(xf->x.buffer, data, 64);
	assert_true(fake_tuh_complete(1, 0x02, XFER_RESULT_SUCCESS, NULL, 64));
	fake_tuh_task();
	expect_submit(10, 0, 64, 0, NULL);
	/* Two bulk IN URBs: TinyUSB takes one per endpoint, ours queue. */
	submit(11, 2, 1, 64, NULL, NULL);
	submit(12, 2, 1, 64, NULL, NULL);
	assert_non_null(fake_tuh_pending(1, 0x82));
	assert_true(fake_tuh_complete(1, 0x82, XFER_RESULT_SUCCESS, "hello", 5));
	fake_tuh_task();
	expect_submit(11, 0, 5, 1, buf);
	assert_memory_equal(buf, "hello", 5);
	no_reply();
	assert_non_null(fake_tuh_pending(1, 0x82)); /* seq 12 started */
	assert_true(fake_tuh_complete(1, 0x82, XFER_RESULT_SUCCESS, data, 64));
	fake_tuh_task();
	expect_submit(12, 0, 64, 1, buf);
	assert_memory_equal(buf, data, 64);
	/* Interrupt IN: the ACM serial-state notification. */
	submit(13, 1, 1, 8, NULL, NULL);
	xf = fake_tuh_pending(1, 0x81);
	assert_non_null(xf);
	assert_true(fake_tuh_complete(1, 0x81, XFER_RESULT_SUCCESS,
	                              "\xa1\x20\x00\x00\x00\x00\x02\x00", 8));
	fake_tuh_task();
	expect_submit(13, 0, 8, 1, buf);
	assert_memory_equal(buf, "\xa1\x20", 2);
	/* An endpoint the configuration lacks: STALL without TinyUSB. */
	submit(14, 3, 1, 8, NULL, NULL);
	expect_submit(14, -USBIP_EPIPE, 0, 1, NULL);
	/* Errors map to Linux statuses. */
	submit(15, 2, 0, 4, NULL, data);
	assert_true(fake_tuh_complete(1, 0x02, XFER_RESULT_FAILED, NULL, 0));
	fake_tuh_task();
	expect_submit(15, -USBIP_EPROTO, 0, 0, NULL);
	usbip_conn_destroy(&conn);
	assert_int_equal(usbip_fw_pool_used(), 0);
}

static void test_unlink_queued_and_started(void **state)
{
	size_t used;

	(void)state;
	plug_pico();
	import_pico();
	submit(20, 2, 1, 64, NULL, NULL); /* started */
	submit(21, 2, 1, 64, NULL, NULL); /* queued behind it */
	submit(22, 2, 1, 64, NULL, NULL);
	/* A queued URB is unlinked exactly: RET_UNLINK(-ECONNRESET), no
	 * RET_SUBMIT, never seen by TinyUSB. */
	unlink_urb(23, 21);
	expect_unlink(23, -USBIP_ECONNRESET);
	no_reply();
	/* The started one cannot be aborted on the RP2040: answered at once,
	 * its buffer stays held by the pool until TinyUSB is done. */
	used = usbip_fw_pool_used();
	unlink_urb(24, 20);
	expect_unlink(24, -USBIP_ECONNRESET);
	assert_int_equal(usbip_fw_pool_used(), used);
	assert_non_null(fake_tuh_pending(1, 0x82));
	/* The controller finishes it: data dropped, memory back, and seq 22
	 * starts on the endpoint. */
	assert_true(fake_tuh_complete(1, 0x82, XFER_RESULT_SUCCESS, "late", 4));
	fake_tuh_task();
	no_reply();
	assert_true(usbip_fw_pool_used() < used);
	assert_non_null(fake_tuh_pending(1, 0x82));
	assert_true(fake_tuh_complete(1, 0x82, XFER_RESULT_SUCCESS, "next", 4));
	fake_tuh_task();
	expect_submit(22, 0, 4, 1, NULL);
	/* Unlink of something already answered: RET_UNLINK(0). */
	unlink_urb(25, 22);
	expect_unlink(25, 0);
	usbip_conn_destroy(&conn);
	assert_int_equal(usbip_fw_pool_used(), 0);
}

static void test_unplug_mid_transfer(void **state)
{
	(void)state;
	plug_pico();
	import_pico();
	submit(30, 2, 1, 64, NULL, NULL);
	submit(31, 2, 1, 64, NULL, NULL);
	submit(32, 1, 1, 8, NULL, NULL);
	assert_non_null(fake_tuh_pending(1, 0x82));
	fake_tuh_detach(1);
	/* Everything in flight completes with -ENODEV, then the connection
	 * is told to close because the device left the table. */
	{
		struct usbip_header h;
		unsigned seen = 0;

		/* Endpoint by endpoint; within one, in submission order. */
		for (int i = 0; i < 3; i++) {
			reply(&h, 1, NULL);
			assert_int_equal(h.base.command, USBIP_RET_SUBMIT);
			assert_int_equal(h.u.ret_submit.status, -USBIP_ENODEV);
			assert_true(h.base.seqnum >= 30 && h.base.seqnum <= 32);
			assert_true(h.base.seqnum != 31 || (seen & 1u));
			seen |= 1u << (h.base.seqnum - 30);
		}
		assert_int_equal(seen, 7);
	}
	no_reply();
	assert_int_equal(tr.closes, 1);
	assert_int_equal(tr.reason, USBIP_E_CLOSED);
	assert_null(usbip_server_find_busid(&srv, "1-1"));
	assert_int_equal(tr.detached, 0); /* the core still holds exp */
	usbip_conn_destroy(&conn);
	assert_int_equal(tr.detached, 1);
	assert_int_equal(usbip_fw_pool_used(), 0);
	/* The slot is free again: the board comes back as a new device. */
	plug_pico();
	assert_non_null(usbip_server_find_busid(&srv, "1-1"));
	assert_int_equal(tr.attached, 2);
}

static void test_unplug_with_held_buffer(void **state)
{
	(void)state;
	plug_pico();
	import_pico();
	submit(40, 2, 1, 64, NULL, NULL);
	unlink_urb(41, 40);
	expect_unlink(41, -USBIP_ECONNRESET);
	assert_true(usbip_fw_pool_used() > 0);
	/* The controller never finishes it: unplug lets the memory go. */
	fake_tuh_detach(1);
	usbip_conn_destroy(&conn);
	assert_int_equal(usbip_fw_pool_used(), 0);
}

static void test_filter_and_device_limit(void **state)
{
	(void)state;
	usbip_tuh_stop();
	usbip_tuh_start(&srv, 0x1234, 0, on_event, NULL);
	/* Another vendor: no interface claimed, nothing exported. */
	assert_int_equal(fake_tuh_attach(1, pico_cdc_dev_desc, pico_cdc_cfg_desc,
	                                 sizeof(pico_cdc_cfg_desc), TUSB_SPEED_FULL),
	                 0);
	fake_tuh_task();
	assert_null(usbip_server_find_busid(&srv, "1-1"));
	fake_tuh_detach(1);
	usbip_tuh_stop();
	usbip_tuh_start(&srv, 0x2e8a, 0x0005, NULL, NULL);
	for (uint8_t a = 1; a <= USBIP_FW_CFG_MAX_DEVICES + 1; a++)
		assert_int_equal(fake_tuh_attach(a, pico_cdc_dev_desc, pico_cdc_cfg_desc,
		                                 sizeof(pico_cdc_cfg_desc), TUSB_SPEED_FULL),
		                 a <= USBIP_FW_CFG_MAX_DEVICES ? 2 : 0);
	while (fake_tuh_task())
		;
	assert_non_null(usbip_server_find_busid(&srv, "1-1"));
	assert_non_null(usbip_server_find_busid(&srv, "1-2"));
	assert_null(usbip_server_find_busid(&srv, "1-3"));
}

static void test_stop_and_start_again(void **state)
{
	(void)state;
	plug_pico();
	import_pico();
	submit(50, 2, 1, 64, NULL, NULL);
	usbip_tuh_stop();
	/* The client's connection is told to close; its URB comes back by
	 * cancel (held: it was started). */
	assert_int_equal(tr.closes, 1);
	usbip_conn_destroy(&conn);
	assert_int_equal(tr.detached, 1);
	assert_null(usbip_server_find_busid(&srv, "1-1"));
	usbip_tuh_start(&srv, 0, 0, on_event, NULL);
	assert_non_null(usbip_server_find_busid(&srv, "1-1"));
	assert_int_equal(tr.attached, 2);
}

static void test_two_devices_share_the_control_pipe(void **state)
{
	struct usbip_export *e1, *e2;
	struct usbip_conn c2;
	uint8_t setup_pkt[8] = {0xc0, 0x42, 0, 0, 0, 0, 2, 0};

	(void)state;
	/* Both enumerate; the second's descriptor reads are refused while the
	 * first's run, and retried. */
	assert_int_equal(fake_tuh_attach(1, pico_cdc_dev_desc, pico_cdc_cfg_desc,
	                                 sizeof(pico_cdc_cfg_desc), TUSB_SPEED_FULL),
	                 2);
	assert_int_equal(fake_tuh_attach(2, pico_cdc_dev_desc, pico_cdc_cfg_desc,
	                                 sizeof(pico_cdc_cfg_desc), TUSB_SPEED_FULL),
	                 2);
	while (fake_tuh_task())
		;
	assert_true(fake_tuh_refusals() > 0);
	e1 = usbip_server_find_busid(&srv, "1-1");
	e2 = usbip_server_find_busid(&srv, "1-2");
	assert_non_null(e1);
	assert_non_null(e2);
	/* One client each; a vendor request on each at the same time. */
	import_pico();
	usbip_conn_init(&srv, &c2, NULL);
	{
		uint8_t req[USBIP_OP_IMPORT_REQ_SIZE];

		usbip_encode_op_req_import(req, sizeof(req), "1-2");
		assert_int_equal(usbip_conn_feed(&c2, req, sizeof(req)), (long)sizeof(req));
		tr.rd = tr.len;
	}
	submit(70, 0, 1, 2, setup_pkt, NULL);
	{
		struct usbip_header h;
		uint8_t hdr[USBIP_HEADER_SIZE];

		memset(&h, 0, sizeof(h));
		h.base.command = USBIP_CMD_SUBMIT;
		h.base.seqnum = 71;
		h.base.direction = USBIP_DIR_IN;
		h.u.cmd_submit.transfer_buffer_length = 2;
		memcpy(h.u.cmd_submit.setup, setup_pkt, 8);
		usbip_encode_header(hdr, sizeof(hdr), &h);
		assert_int_equal(usbip_conn_feed(&c2, hdr, sizeof(hdr)), (long)sizeof(hdr));
	}
	/* Device 1 has the pipe; device 2's URB waits, then goes. */
	assert_non_null(fake_tuh_pending(1, 0));
	assert_null(fake_tuh_pending(2, 0));
	assert_true(fake_tuh_complete(1, 0, XFER_RESULT_SUCCESS, "ab", 2));
	fake_tuh_task();
	expect_submit(70, 0, 2, 1, NULL);
	assert_non_null(fake_tuh_pending(2, 0));
	assert_true(fake_tuh_complete(2, 0, XFER_RESULT_SUCCESS, "cd", 2));
	fake_tuh_task();
	expect_submit(71, 0, 2, 1, NULL);
	usbip_conn_destroy(&c2);
	usbip_conn_destroy(&conn);
}

/* A UAC-like device with an isochronous endpoint (synthetic). */
/* clang-format off */
static const uint8_t iso_cfg[] = {
	0x09, 0x02, 0x27, 0x00, 0x01, 0x01, 0x00, 0x80, 0x32,
	0x09, 0x04, 0x00, 0x00, 0x00, 0x01, 0x02, 0x00, 0x00, /* alt 0: none */
	0x09, 0x04, 0x00, 0x01, 0x02, 0x01, 0x02, 0x00, 0x00, /* alt 1 */
	0x07, 0x05, 0x01, 0x01, 0xc0, 0x00, 0x01,             /* ISO OUT */
	0x07, 0x05, 0x82, 0x02, 0x40, 0x00, 0x00,             /* bulk IN */
};
/* clang-format on */

static void test_iso_is_refused(void **state)
{
	struct usbip_export *exp;
	struct usbip_header h;
	uint8_t hdr[USBIP_HEADER_SIZE], iso[USBIP_ISO_DESC_SIZE] = {0};

	(void)state;
	assert_int_equal(
	        fake_tuh_attach(1, pico_cdc_dev_desc, iso_cfg, sizeof(iso_cfg), TUSB_SPEED_FULL),
	        1);
	fake_tuh_task();
	fake_tuh_task();
	exp = usbip_server_find_busid(&srv, "1-1");
	assert_non_null(exp);
	/* Alternate setting 1's endpoints are not opened; ISO never is. */
	assert_int_equal(fake_tuh_opened(1), 1u);
	assert_int_equal(exp->ops->ep_type(exp, 0x01), USBIP_EP_ISO);
	import_pico();
	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = 60;
	h.base.ep = 1;
	h.u.cmd_submit.transfer_buffer_length = 16;
	h.u.cmd_submit.number_of_packets = 1;
	usbip_encode_header(hdr, sizeof(hdr), &h);
	feed(hdr, sizeof(hdr));
	feed("0123456789abcdef", 16);
	usbip_put_be32(iso + 4, 16);
	feed(iso, sizeof(iso));
	reply(&h, 0, NULL);
	assert_int_equal(h.base.seqnum, 60);
	assert_int_equal(h.u.ret_submit.status, -USBIP_EINVAL);
	usbip_conn_destroy(&conn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_enumerate_claims_and_exports, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_devlist, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_control_transfers, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bulk_and_interrupt, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unlink_queued_and_started, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unplug_mid_transfer, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unplug_with_held_buffer, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_filter_and_device_limit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_stop_and_start_again, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_iso_is_refused, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_two_devices_share_the_control_pipe, setup,
	                                        teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
