/* SPDX-License-Identifier: MIT */
/*
 * test_fw_lwip.c - the firmware module (lwIP transport, server core, URB
 * pool, TinyUSB backend over the fake host stack) on Debian's real lwIP.
 *
 * lwIP runs in-process with its tcpip thread; a netif at 10.77.0.1 loops
 * packets for its own address back into lwIP (LWIP_NETIF_LOOPBACK), so
 * every byte goes through lwIP's TCP on both ends. The server side is the
 * firmware's raw-API transport; the client uses lwIP's socket API and the
 * lib/usbip codec. A "firmware loop" thread runs fake_tuh_task() and
 * usbip_fw_task() under the lwIP core lock, as the Pico's main loop would.
 * The fake device is the Pico CDC board; its data interface echoes bulk
 * OUT data on bulk IN, or answers IN at once with a pattern (firehose).
 */
#include <pthread.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/sockets.h"
#include "lwip/tcpip.h"

#include "fake_tuh.h"
#include "pico_cdc_desc.h"
#include "usbip_fw.h"
#include "usbip_fw_opts.h"
#include "usbip_fw_pool.h"
#include "usbip_lwip.h"

#define PORT      3240
#define SERVER_IP LWIP_MAKEU32(10, 77, 0, 1)

static struct netif nif;
static pthread_t loop_thread;
static atomic_bool loop_run;
static atomic_uint attached, detached;

/* ---- the fake device: CDC echo or firehose ---------------------------------- */

static struct {
	uint8_t echo[8192];
	uint32_t echo_len;
	bool firehose; /* bulk IN completes at once with a pattern */
	bool hold_in;  /* bulk IN never completes */
	unsigned in_started;
} model;

static void pattern(uint8_t *buf, uint32_t len, uint32_t seed)
{
	for (uint32_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i);
}

static void model_try_in(uint8_t daddr)
{
	struct fake_xfer *xf = fake_tuh_pending(daddr, 0x82);
	uint32_t n;

	if (!xf || model.hold_in || model.firehose || model.echo_len == 0)
		return;
	n = model.echo_len < xf->len ? model.echo_len : xf->len;
	fake_tuh_complete(daddr, 0x82, XFER_RESULT_SUCCESS, model.echo, n);
	memmove(model.echo, model.echo + n, model.echo_len - n);
	model.echo_len -= n;
}

static void model_xfer(uint8_t daddr, uint8_t ep_addr, struct fake_xfer *xf)
{
	static uint8_t buf[8192];

	if (ep_addr == 0) {
		/* CDC class requests succeed; anything else STALLs. */
		if ((xf->req.bmRequestType & 0x60) == 0x20)
			fake_tuh_complete(daddr, 0, XFER_RESULT_SUCCESS,
			                  "\x00\xc2\x01\x00\x00\x00\x08", xf->req.wLength);
		else
			fake_tuh_complete(daddr, 0, XFER_RESULT_STALLED, NULL, 0);
	} else if (ep_addr == 0x02) {
		uint32_t n = xf->len;

		if (n > sizeof(model.echo) - model.echo_len)
			n = (uint32_t)(sizeof(model.echo) - model.echo_len);
		memcpy(model.echo + model.echo_len, xf->x.buffer, n);
		model.echo_len += n;
		fake_tuh_complete(daddr, 0x02, XFER_RESULT_SUCCESS, NULL, n);
		model_try_in(daddr);
	} else if (ep_addr == 0x82) {
		model.in_started++;
		if (model.firehose) {
			uint32_t n = xf->len < sizeof(buf) ? xf->len : (uint32_t)sizeof(buf);

			pattern(buf, n, model.in_started);
			fake_tuh_complete(daddr, 0x82, XFER_RESULT_SUCCESS, buf, n);
		} else {
			model_try_in(daddr);
		}
	}
}

/* ---- lwIP and the firmware loop -------------------------------------------- */

static err_t nif_output(struct netif *n, struct pbuf *p, const ip4_addr_t *ip)
{
	/* Only our own address is used; it never reaches here (loopback). */
	(void)n;
	(void)p;
	(void)ip;
	return ERR_OK;
}

static err_t nif_init(struct netif *n)
{
	n->name[0] = 't';
	n->name[1] = 'u';
	n->output = nif_output;
	n->mtu = 1500;
	return ERR_OK;
}

static void tcpip_ready(void *arg)
{
	atomic_store((atomic_bool *)arg, true);
}

static void *loop_main(void *arg)
{
	(void)arg;
	while (atomic_load(&loop_run)) {
		LOCK_TCPIP_CORE();
		fake_tuh_task();
		usbip_fw_task();
		UNLOCK_TCPIP_CORE();
		usleep(500);
	}
	return NULL;
}

static void on_event(void *ctx, int event, const struct usbip_export *exp)
{
	(void)ctx;
	(void)exp;
	if (event == USBIP_TUH_ATTACHED)
		atomic_fetch_add(&attached, 1);
	else
		atomic_fetch_add(&detached, 1);
}

static int group_setup(void **state)
{
	atomic_bool ready = false;
	ip4_addr_t ip, mask, gw;

	(void)state;
	tcpip_init(tcpip_ready, &ready);
	while (!atomic_load(&ready))
		usleep(1000);
	ip4_addr_set_u32(&ip, PP_HTONL(SERVER_IP));
	ip4_addr_set_u32(&mask, PP_HTONL(LWIP_MAKEU32(255, 255, 255, 0)));
	ip4_addr_set_u32(&gw, 0);
	LOCK_TCPIP_CORE();
	netif_add(&nif, &ip, &mask, &gw, NULL, nif_init, tcpip_input);
	netif_set_default(&nif);
	netif_set_up(&nif);
	netif_set_link_up(&nif);
	UNLOCK_TCPIP_CORE();
	return 0;
}

static int setup(void **state)
{
	(void)state;
	memset(&model, 0, sizeof(model));
	atomic_store(&attached, 0);
	atomic_store(&detached, 0);
	LOCK_TCPIP_CORE();
	fake_tuh_init(model_xfer);
	assert_int_equal(usbip_fw_start(PORT, 0, 0, on_event, NULL), 0);
	assert_int_equal(fake_tuh_attach(1, pico_cdc_dev_desc, pico_cdc_cfg_desc,
	                                 sizeof(pico_cdc_cfg_desc), TUSB_SPEED_FULL),
	                 2);
	UNLOCK_TCPIP_CORE();
	atomic_store(&loop_run, true);
	pthread_create(&loop_thread, NULL, loop_main, NULL);
	for (int i = 0; i < 1000 && atomic_load(&attached) == 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&attached), 1);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	atomic_store(&loop_run, false);
	pthread_join(loop_thread, NULL);
	LOCK_TCPIP_CORE();
	usbip_fw_stop();
	fake_tuh_detach(1);
	assert_int_equal(usbip_lwip_conn_count(), 0);
	/* Every URB and reply went back to the pool. */
	assert_int_equal(usbip_fw_pool_used(), 0);
	assert_int_equal(fake_tuh_violations(), 0);
	UNLOCK_TCPIP_CORE();
	return 0;
}

/* ---- a client on lwIP's sockets ---------------------------------------------- */

static int cl_connect(void)
{
	struct sockaddr_in sa;
	struct timeval tv = {.tv_sec = 10};
	int s = lwip_socket(AF_INET, SOCK_STREAM, 0);

	assert_true(s >= 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = PP_HTONS(PORT);
	sa.sin_addr.s_addr = PP_HTONL(SERVER_IP);
	assert_int_equal(lwip_connect(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
	lwip_setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return s;
}

static void cl_send(int s, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = lwip_send(s, p, len, 0);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

/* Reads exactly len bytes; returns fewer only at end of stream. */
static size_t cl_recv(int s, void *buf, size_t len)
{
	uint8_t *p = buf;
	size_t got = 0;

	while (got < len) {
		ssize_t n = lwip_recv(s, p + got, len - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static void cl_submit(int s, uint32_t seq, uint8_t ep, int in, uint32_t len,
                      const uint8_t *setup_pkt, const void *data)
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
	if (setup_pkt)
		memcpy(h.u.cmd_submit.setup, setup_pkt, 8);
	usbip_encode_header(hdr, sizeof(hdr), &h);
	cl_send(s, hdr, sizeof(hdr));
	if (!in && len)
		cl_send(s, data, len);
}

static void cl_reply(int s, struct usbip_header *h, int in, void *data)
{
	uint8_t hdr[USBIP_HEADER_SIZE];

	assert_int_equal(cl_recv(s, hdr, sizeof(hdr)), sizeof(hdr));
	assert_int_equal(usbip_decode_header(hdr, sizeof(hdr), h), USBIP_HEADER_SIZE);
	if (h->base.command == USBIP_RET_SUBMIT && in && h->u.ret_submit.actual_length > 0) {
		size_t n = (size_t)h->u.ret_submit.actual_length;

		assert_int_equal(cl_recv(s, data, n), n);
	}
}

static int cl_import(const char *busid, uint32_t *status)
{
	uint8_t req[USBIP_OP_IMPORT_REQ_SIZE], rep[USBIP_OP_COMMON_SIZE + USBIP_DEVICE_SIZE];
	struct usbip_usb_device dev;
	int s = cl_connect();
	size_t n;

	usbip_encode_op_req_import(req, sizeof(req), busid);
	cl_send(s, req, sizeof(req));
	n = cl_recv(s, rep, USBIP_OP_COMMON_SIZE);
	assert_int_equal(n, USBIP_OP_COMMON_SIZE);
	*status = usbip_get_be32(rep + 4);
	if (*status == USBIP_ST_OK) {
		assert_int_equal(cl_recv(s, rep + 8, USBIP_DEVICE_SIZE), USBIP_DEVICE_SIZE);
		assert_int_equal(usbip_decode_op_rep_import(rep, sizeof(rep), status, &dev),
		                 sizeof(rep));
		assert_string_equal(dev.busid, busid);
		assert_int_equal(dev.idVendor, 0x2e8a);
	}
	return s;
}

/* Closed by the server: end of stream (or a reset). */
static void expect_closed(int s)
{
	uint8_t b;

	assert_true(lwip_recv(s, &b, 1, 0) <= 0);
}

/* ---- tests --------------------------------------------------------------------- */

static void test_devlist(void **state)
{
	uint8_t buf[1024];
	uint32_t ndev = 0;
	struct usbip_usb_device dev;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
	int s = cl_connect();
	size_t n;

	(void)state;
	usbip_encode_op_req_devlist(buf, sizeof(buf));
	cl_send(s, buf, USBIP_OP_COMMON_SIZE);
	/* The server answers and closes: read to the end of the stream. */
	n = cl_recv(s, buf, sizeof(buf));
	lwip_close(s);
	assert_int_equal(n,
	                 USBIP_DEVLIST_HEADER_SIZE + USBIP_DEVICE_SIZE + 2 * USBIP_INTERFACE_SIZE);
	assert_int_equal(usbip_decode_op_rep_devlist_header(buf, n, &ndev), 12);
	assert_int_equal(ndev, 1);
	assert_int_equal(usbip_decode_usb_device(buf + 12, n - 12, &dev, ifs, true),
	                 USBIP_DEVICE_SIZE + 2 * USBIP_INTERFACE_SIZE);
	assert_string_equal(dev.busid, "1-1");
	assert_int_equal(dev.idProduct, 0x0005);
	assert_int_equal(dev.speed, USBIP_SPEED_FULL);
	assert_int_equal(ifs[0].bInterfaceClass, 2);
	assert_int_equal(ifs[1].bInterfaceClass, 0x0a);
}

static void test_import_control_bulk(void **state)
{
	uint8_t setup_pkt[8], buf[4096], data[4096];
	struct usbip_header h;
	uint32_t st;
	int s = cl_import("1-1", &st), s2;

	(void)state;
	assert_int_equal(st, USBIP_ST_OK);
	/* One client per device: a second import is refused. */
	s2 = cl_import("1-1", &st);
	assert_int_equal(st, USBIP_ST_DEV_BUSY);
	expect_closed(s2);
	lwip_close(s2);
	/* Control IN: GET_DESCRIPTOR(configuration, 255). */
	memcpy(setup_pkt, "\x80\x06\x00\x02\x00\x00\xff\x00", 8);
	cl_submit(s, 1, 0, 1, 255, setup_pkt, NULL);
	cl_reply(s, &h, 1, buf);
	assert_int_equal(h.base.seqnum, 1);
	assert_int_equal(h.u.ret_submit.status, 0);
	assert_int_equal(h.u.ret_submit.actual_length, sizeof(pico_cdc_cfg_desc));
	assert_memory_equal(buf, pico_cdc_cfg_desc, sizeof(pico_cdc_cfg_desc));
	/* Control OUT with data: SET_LINE_CODING; then a STALLed request. */
	memcpy(setup_pkt, "\x21\x20\x00\x00\x00\x00\x07\x00", 8);
	cl_submit(s, 2, 0, 0, 7, setup_pkt, "\x00\xc2\x01\x00\x00\x00\x08");
	cl_reply(s, &h, 0, NULL);
	assert_int_equal(h.base.seqnum, 2);
	assert_int_equal(h.u.ret_submit.status, 0);
	assert_int_equal(h.u.ret_submit.actual_length, 7);
	memcpy(setup_pkt, "\xc0\x33\x00\x00\x00\x00\x04\x00", 8);
	cl_submit(s, 3, 0, 1, 4, setup_pkt, NULL);
	cl_reply(s, &h, 1, buf);
	assert_int_equal(h.u.ret_submit.status, -USBIP_EPIPE);
	/* Bulk: 4 KiB out in one URB (several TCP segments), echoed back in
	 * 64-byte-packet-free 1 KiB IN URBs. */
	pattern(data, sizeof(data), 7);
	cl_submit(s, 4, 2, 0, sizeof(data), NULL, data);
	cl_reply(s, &h, 0, NULL);
	assert_int_equal(h.base.seqnum, 4);
	assert_int_equal(h.u.ret_submit.status, 0);
	assert_int_equal(h.u.ret_submit.actual_length, sizeof(data));
	for (uint32_t i = 0; i < 4; i++)
		cl_submit(s, 5 + i, 2, 1, 1024, NULL, NULL);
	for (uint32_t i = 0; i < 4; i++) {
		cl_reply(s, &h, 1, buf);
		assert_int_equal(h.base.seqnum, 5 + i);
		assert_int_equal(h.u.ret_submit.actual_length, 1024);
		assert_memory_equal(buf, data + i * 1024, 1024);
	}
	/* Interrupt IN on 0x81 stays pending: unlink it. */
	cl_submit(s, 9, 1, 1, 8, NULL, NULL);
	{
		uint8_t hdr[USBIP_HEADER_SIZE];

		memset(&h, 0, sizeof(h));
		h.base.command = USBIP_CMD_UNLINK;
		h.base.seqnum = 10;
		h.u.cmd_unlink.unlink_seqnum = 9;
		usbip_encode_header(hdr, sizeof(hdr), &h);
		cl_send(s, hdr, sizeof(hdr));
	}
	cl_reply(s, &h, 0, NULL);
	assert_int_equal(h.base.command, USBIP_RET_UNLINK);
	assert_int_equal(h.base.seqnum, 10);
	assert_int_equal(h.u.ret_unlink.status, -USBIP_ECONNRESET);
	lwip_close(s);
	/* The device is free again once the connection is gone. */
	for (int i = 0; i < 2000; i++) {
		LOCK_TCPIP_CORE();
		unsigned n = usbip_lwip_conn_count();
		UNLOCK_TCPIP_CORE();
		if (n == 0)
			break;
		usleep(1000);
	}
	s = cl_import("1-1", &st);
	assert_int_equal(st, USBIP_ST_OK);
	lwip_close(s);
}

static void test_backpressure(void **state)
{
	enum { NURB = 3000, LEN = 1024 };
	static uint8_t hdrs[NURB * USBIP_HEADER_SIZE];
	uint8_t buf[LEN], want[LEN];
	struct usbip_header h;
	uint32_t st;
	size_t sent = 0, total = sizeof(hdrs);
	unsigned started, got = 0;
	int s = cl_import("1-1", &st);

	(void)state;
	assert_int_equal(st, USBIP_ST_OK);
	LOCK_TCPIP_CORE();
	model.firehose = true;
	UNLOCK_TCPIP_CORE();
	for (uint32_t i = 0; i < NURB; i++) {
		memset(&h, 0, sizeof(h));
		h.base.command = USBIP_CMD_SUBMIT;
		h.base.seqnum = 100 + i;
		h.base.direction = USBIP_DIR_IN;
		h.base.ep = 2;
		h.u.cmd_submit.transfer_buffer_length = LEN;
		usbip_encode_header(hdrs + i * USBIP_HEADER_SIZE, USBIP_HEADER_SIZE, &h);
	}
	/* The client sends and does not read. Each 48-byte request asks for
	 * a 1072-byte reply: the client's window fills, the server's output
	 * reaches its limit, the server stops reading, its window closes and
	 * the client's sends would block. */
	for (int idle = 0; sent < total && idle < 200;) {
		ssize_t n = lwip_send(s, hdrs + sent, total - sent, MSG_DONTWAIT);

		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
		} else {
			assert_true(errno == EWOULDBLOCK || errno == EAGAIN);
			idle++;
			usleep(1000);
		}
	}
	assert_true(sent < total);
	LOCK_TCPIP_CORE();
	started = model.in_started;
	UNLOCK_TCPIP_CORE();
	assert_true(started < NURB);
	usleep(100000);
	/* Stalled: no more URBs reach the device while nobody reads. */
	LOCK_TCPIP_CORE();
	assert_int_equal(model.in_started, started);
	assert_true(usbip_fw_pool_used() <= USBIP_FW_CFG_POOL_BYTES);
	UNLOCK_TCPIP_CORE();
	/* Now read: everything arrives, in order, with the device's data. */
	while (got < NURB) {
		if (sent < total) {
			ssize_t n = lwip_send(s, hdrs + sent, total - sent, MSG_DONTWAIT);

			if (n > 0)
				sent += (size_t)n;
		}
		cl_reply(s, &h, 1, buf);
		assert_int_equal(h.base.command, USBIP_RET_SUBMIT);
		assert_int_equal(h.base.seqnum, 100 + got);
		assert_int_equal(h.u.ret_submit.status, 0);
		assert_int_equal(h.u.ret_submit.actual_length, LEN);
		pattern(want, LEN, got + 1);
		assert_memory_equal(buf, want, LEN);
		got++;
	}
	assert_int_equal(sent, total);
	lwip_close(s);
	for (int i = 0; i < 2000; i++) {
		LOCK_TCPIP_CORE();
		unsigned n = usbip_lwip_conn_count();
		UNLOCK_TCPIP_CORE();
		if (n == 0)
			break;
		usleep(1000);
	}
}

static void test_urb_limit_pauses_and_resumes(void **state)
{
	enum { NURB = 3 * USBIP_FW_CFG_MAX_URBS };
	uint8_t buf[64];
	struct usbip_header h;
	uint32_t st;
	int s = cl_import("1-1", &st);

	(void)state;
	assert_int_equal(st, USBIP_ST_OK);
	LOCK_TCPIP_CORE();
	model.hold_in = true;
	UNLOCK_TCPIP_CORE();
	/* More IN URBs than the core takes at once: it stops reading at
	 * USBIP_FW_CFG_MAX_URBS and must resume as each one completes
	 * (usbip_fw_task feeds the paused connection again). */
	for (uint32_t i = 0; i < NURB; i++)
		cl_submit(s, 200 + i, 2, 1, 64, NULL, NULL);
	for (uint32_t i = 0; i < NURB; i++) {
		bool done = false;

		for (int t = 0; t < 2000 && !done; t++) {
			LOCK_TCPIP_CORE();
			if (fake_tuh_pending(1, 0x82)) {
				uint8_t d[4] = {'u', 'r', 'b', (uint8_t)i};

				done = fake_tuh_complete(1, 0x82, XFER_RESULT_SUCCESS, d, 4);
			}
			UNLOCK_TCPIP_CORE();
			if (!done)
				usleep(1000);
		}
		assert_true(done);
		cl_reply(s, &h, 1, buf);
		assert_int_equal(h.base.seqnum, 200 + i);
		assert_int_equal(h.u.ret_submit.actual_length, 4);
		assert_int_equal(buf[3], (uint8_t)i);
	}
	lwip_close(s);
	for (int i = 0; i < 2000; i++) {
		LOCK_TCPIP_CORE();
		unsigned n = usbip_lwip_conn_count();
		UNLOCK_TCPIP_CORE();
		if (n == 0)
			break;
		usleep(1000);
	}
}

static void test_unplug_mid_transfer(void **state)
{
	uint8_t buf[64];
	struct usbip_header h;
	uint32_t st;
	int s = cl_import("1-1", &st);

	(void)state;
	assert_int_equal(st, USBIP_ST_OK);
	LOCK_TCPIP_CORE();
	model.hold_in = true;
	UNLOCK_TCPIP_CORE();
	cl_submit(s, 1, 2, 1, 64, NULL, NULL);
	cl_submit(s, 2, 2, 1, 64, NULL, NULL);
	for (int i = 0; i < 1000; i++) {
		LOCK_TCPIP_CORE();
		bool pending = fake_tuh_pending(1, 0x82) != NULL;
		UNLOCK_TCPIP_CORE();
		if (pending)
			break;
		usleep(1000);
	}
	/* Let the second CMD_SUBMIT reach the backend's queue (the client's
	 * Nagle holds it until the first is acked). */
	usleep(300000);
	LOCK_TCPIP_CORE();
	assert_non_null(fake_tuh_pending(1, 0x82));
	fake_tuh_detach(1);
	UNLOCK_TCPIP_CORE();
	/* Both URBs come back -ENODEV, then the server closes. */
	cl_reply(s, &h, 1, buf);
	assert_int_equal(h.base.seqnum, 1);
	assert_int_equal(h.u.ret_submit.status, -USBIP_ENODEV);
	cl_reply(s, &h, 1, buf);
	assert_int_equal(h.base.seqnum, 2);
	assert_int_equal(h.u.ret_submit.status, -USBIP_ENODEV);
	expect_closed(s);
	lwip_close(s);
	for (int i = 0; i < 1000 && atomic_load(&detached) == 0; i++)
		usleep(1000);
	assert_int_equal(atomic_load(&detached), 1);
	/* Gone from DEVLIST; an import is answered "no such device". */
	s = cl_import("1-1", &st);
	assert_int_equal(st, USBIP_ST_NODEV);
	lwip_close(s);
}

static void test_connection_limit(void **state)
{
	int s[USBIP_FW_CFG_MAX_CONNS + 1];
	uint8_t req[USBIP_OP_COMMON_SIZE], b;

	(void)state;
	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_CONNS + 1; i++)
		s[i] = cl_connect();
	/* The one above the limit was reset at accept. */
	assert_true(lwip_recv(s[USBIP_FW_CFG_MAX_CONNS], &b, 1, 0) <= 0);
	/* The others still work. */
	usbip_encode_op_req_devlist(req, sizeof(req));
	cl_send(s[0], req, sizeof(req));
	assert_int_equal(cl_recv(s[0], &b, 1), 1);
	for (unsigned i = 0; i < USBIP_FW_CFG_MAX_CONNS + 1; i++)
		lwip_close(s[i]);
	for (int i = 0; i < 2000; i++) {
		LOCK_TCPIP_CORE();
		unsigned n = usbip_lwip_conn_count();
		UNLOCK_TCPIP_CORE();
		if (n == 0)
			break;
		usleep(1000);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_devlist, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_import_control_bulk, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_backpressure, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_urb_limit_pauses_and_resumes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unplug_mid_transfer, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_connection_limit, setup, teardown),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
