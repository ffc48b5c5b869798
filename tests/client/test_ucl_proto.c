/* SPDX-License-Identifier: MIT */
/*
 * test_ucl_proto.c - the client library against a scripted fake server.
 *
 * Each test runs a small server thread that speaks bytes encoded by the
 * lib/usbip codec, including replies a correct server never sends, and
 * checks both what ucl puts on the wire (seqnums, devid, flags, framing)
 * and how ucl reacts (protocol errors as vhci treats them, §4.2 of
 * shared/docs/usbip-protocol.md).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ucl.h"

struct fake;
typedef void (*fake_script)(struct fake *f, int fd);

/* One fake server: a listening socket and a thread that accepts one
 * connection and runs a script on it. Failures inside the thread are
 * recorded and asserted by the main thread after the join. */
struct fake {
	int lfd;
	char port[8];
	pthread_t thread;
	fake_script script;
	int failed_line;
	char failed_what[160];
	/* Import reply: status, and the record returned when it is 0. */
	uint32_t import_status;
	char reply_busid[USBIP_BUSID_SIZE];
};

#define FAKE_CHECK(f, cond)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			(f)->failed_line = __LINE__;                                               \
			snprintf((f)->failed_what, sizeof((f)->failed_what), "%s", #cond);         \
			return;                                                                    \
		}                                                                                  \
	} while (0)

static int fake_recv(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (uint8_t *)buf + got, n - got, 0);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int fake_send(int fd, const void *buf, size_t n)
{
	return send(fd, buf, n, MSG_NOSIGNAL) == (ssize_t)n ? 0 : -1;
}

static int fake_recv_header(int fd, struct usbip_header *h)
{
	uint8_t b[USBIP_HEADER_SIZE];

	if (fake_recv(fd, b, sizeof(b)) < 0)
		return -1;
	return usbip_decode_header(b, sizeof(b), h) == USBIP_HEADER_SIZE ? 0 : -1;
}

static int fake_send_ret_submit(int fd, uint32_t seq, int32_t status, int32_t actual, int32_t np,
                                const void *payload, size_t plen)
{
	struct usbip_header h = {0};
	uint8_t b[USBIP_HEADER_SIZE];

	h.base.command = USBIP_RET_SUBMIT;
	h.base.seqnum = seq;
	h.u.ret_submit.status = status;
	h.u.ret_submit.actual_length = actual;
	h.u.ret_submit.number_of_packets = np;
	if (usbip_encode_header(b, sizeof(b), &h) != USBIP_HEADER_SIZE ||
	    fake_send(fd, b, sizeof(b)))
		return -1;
	return plen ? fake_send(fd, payload, plen) : 0;
}

static int fake_send_ret_unlink(int fd, uint32_t seq, int32_t status)
{
	struct usbip_header h = {0};
	uint8_t b[USBIP_HEADER_SIZE];

	h.base.command = USBIP_RET_UNLINK;
	h.base.seqnum = seq;
	h.u.ret_unlink.status = status;
	if (usbip_encode_header(b, sizeof(b), &h) != USBIP_HEADER_SIZE)
		return -1;
	return fake_send(fd, b, sizeof(b));
}

/* Answers one OP_REQ_IMPORT as f says; returns 0 when the URB phase
 * follows. The device is busnum 3, devnum 7. */
static int fake_import(struct fake *f, int fd)
{
	uint8_t b[USBIP_OP_COMMON_SIZE + USBIP_DEVICE_SIZE];
	char busid[USBIP_BUSID_SIZE];
	struct usbip_usb_device dev = {0};
	int n;

	if (fake_recv(fd, b, USBIP_OP_IMPORT_REQ_SIZE) < 0 ||
	    usbip_decode_op_req_import(b, USBIP_OP_IMPORT_REQ_SIZE, busid) < 0)
		return -1;
	snprintf(dev.path, sizeof(dev.path), "/sys/devices/fake/%s", busid);
	snprintf(dev.busid, sizeof(dev.busid), "%s", f->reply_busid[0] ? f->reply_busid : busid);
	dev.busnum = 3;
	dev.devnum = 7;
	dev.speed = USBIP_SPEED_HIGH;
	dev.idVendor = 0x1209;
	n = usbip_encode_op_rep_import(b, sizeof(b), f->import_status, &dev);
	if (n < 0 || fake_send(fd, b, (size_t)n) < 0)
		return -1;
	return f->import_status == USBIP_ST_OK ? 0 : -1;
}

static void *fake_thread(void *arg)
{
	struct fake *f = arg;
	struct timeval tv = {.tv_sec = 5};
	int fd = accept(f->lfd, NULL, NULL);

	if (fd < 0) {
		f->failed_line = __LINE__;
		snprintf(f->failed_what, sizeof(f->failed_what), "accept");
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	f->script(f, fd);
	close(fd);
	return NULL;
}

static void fake_start(struct fake *f, fake_script script)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);

	memset(f, 0, sizeof(*f));
	f->script = script;
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&sa, &salen), 0);
	assert_int_equal(listen(f->lfd, 4), 0);
	snprintf(f->port, sizeof(f->port), "%u", ntohs(sa.sin_port));
}

static void fake_run(struct fake *f)
{
	assert_int_equal(pthread_create(&f->thread, NULL, fake_thread, f), 0);
}

static void fake_finish(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
	if (f->failed_line)
		fail_msg("fake server, line %d: %s", f->failed_line, f->failed_what);
}

/* Starts f with script and imports "3-2" from it. */
static struct ucl_conn *fake_connect(struct fake *f, fake_script script)
{
	struct ucl_conn *c = NULL;
	struct usbip_usb_device dev;

	fake_start(f, script);
	fake_run(f);
	assert_int_equal(ucl_import("127.0.0.1", f->port, "3-2", &c, &dev), 0);
	assert_non_null(c);
	assert_string_equal(dev.busid, "3-2");
	assert_int_equal(ucl_set_timeout(c, 5000), 0);
	return c;
}

/* ---- What ucl sends ----------------------------------------------------- */

static const uint8_t dev_desc[18] = {0x12, 0x01, 0x00, 0x02, 0,    0, 0, 64, 0x09,
                                     0x12, 0x34, 0x12, 0x00, 0x01, 1, 2, 3,  1};

static void script_fields(struct fake *f, int fd)
{
	struct usbip_header h;
	uint8_t payload[8];

	FAKE_CHECK(f, fake_import(f, fd) == 0);

	/* §3.7: GET_DESCRIPTOR(Device) as vhci sends it. */
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	FAKE_CHECK(f, h.base.command == USBIP_CMD_SUBMIT);
	FAKE_CHECK(f, h.base.seqnum == 1);
	FAKE_CHECK(f, h.base.devid == (3u << 16 | 7u));
	FAKE_CHECK(f, h.base.direction == USBIP_DIR_IN && h.base.ep == 0);
	FAKE_CHECK(f, h.u.cmd_submit.transfer_flags & USBIP_URB_DIR_IN);
	FAKE_CHECK(f, h.u.cmd_submit.transfer_buffer_length == 18);
	FAKE_CHECK(f, h.u.cmd_submit.start_frame == 0 && h.u.cmd_submit.number_of_packets == 0);
	FAKE_CHECK(f, memcmp(h.u.cmd_submit.setup, "\x80\x06\x00\x01\x00\x00\x12\x00", 8) == 0);
	FAKE_CHECK(f, fake_send_ret_submit(fd, 1, 0, 18, 0, dev_desc, sizeof(dev_desc)) == 0);

	/* Bulk OUT: the payload follows the header; no DIR_IN flag. */
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	FAKE_CHECK(f, h.base.seqnum == 2 && h.base.direction == USBIP_DIR_OUT && h.base.ep == 2);
	FAKE_CHECK(f, (h.u.cmd_submit.transfer_flags & USBIP_URB_DIR_IN) == 0);
	FAKE_CHECK(f, h.u.cmd_submit.transfer_buffer_length == 5);
	FAKE_CHECK(f, fake_recv(fd, payload, 5) == 0 && memcmp(payload, "hello", 5) == 0);
	FAKE_CHECK(f, fake_send_ret_submit(fd, 2, 0, 5, 0, NULL, 0) == 0);

	/* Interrupt IN: start_frame -1 and the interval (§3.2, §7.15). */
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	FAKE_CHECK(f, h.base.seqnum == 3 && h.base.direction == USBIP_DIR_IN && h.base.ep == 1);
	FAKE_CHECK(f, h.u.cmd_submit.start_frame == -1 && h.u.cmd_submit.interval == 10);
	FAKE_CHECK(f, h.u.cmd_submit.transfer_buffer_length == 8);

	/* The unlink has its own seqnum from the same counter (§3.2). */
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	FAKE_CHECK(f, h.base.command == USBIP_CMD_UNLINK);
	FAKE_CHECK(f, h.base.seqnum == 4 && h.u.cmd_unlink.unlink_seqnum == 3);
	FAKE_CHECK(f, h.base.direction == 0 && h.base.ep == 0);
	FAKE_CHECK(f, h.base.devid == (3u << 16 | 7u));
	FAKE_CHECK(f, fake_send_ret_unlink(fd, 4, -USBIP_ECONNRESET) == 0);
}

static void test_submit_fields(void **state)
{
	struct fake f;
	struct ucl_conn *c;
	struct ucl_xfer x = {.ep = 1, .dir_in = true, .type = UCL_EP_INT, .len = 8, .interval = 10};
	struct ucl_reply r;
	uint8_t setup[8], buf[18], report[8];
	uint32_t seq, useq;

	(void)state;
	c = fake_connect(&f, script_fields);
	assert_int_equal(ucl_devid(c), 3u << 16 | 7u);

	ucl_setup(setup, 0x80, 0x06, 0x0100, 0, 18);
	assert_int_equal(ucl_control(c, setup, buf, sizeof(buf), NULL), 18);
	assert_memory_equal(buf, dev_desc, sizeof(dev_desc));
	assert_int_equal(ucl_bulk(c, 2, false, "hello", 5, NULL), 5);

	x.buf = report;
	assert_int_equal(ucl_submit(c, &x, &seq), 0);
	assert_int_equal(seq, 3);
	assert_int_equal(ucl_unlink(c, seq, &useq), 0);
	assert_int_equal(useq, 4);
	assert_int_equal(ucl_pending(c), 2);
	assert_int_equal(ucl_wait(c, &r), 0);
	assert_int_equal(r.command, USBIP_RET_UNLINK);
	assert_int_equal(r.seqnum, 4);
	assert_int_equal(r.unlink_seqnum, 3);
	assert_int_equal(r.status, -USBIP_ECONNRESET);
	assert_true(r.target_pending);
	assert_int_equal(ucl_pending(c), 0);

	/* The script ends and the server closes. */
	assert_int_equal(ucl_wait(c, &r), USBIP_E_CLOSED);
	ucl_close(c);
	fake_finish(&f);
}

/* ---- Replies vhci would reject ------------------------------------------ */

static void script_too_long(struct fake *f, int fd)
{
	struct usbip_header h;
	uint8_t data[9] = "123456789";

	FAKE_CHECK(f, fake_import(f, fd) == 0);
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	FAKE_CHECK(f, h.u.cmd_submit.transfer_buffer_length == 8);
	FAKE_CHECK(f, fake_send_ret_submit(fd, h.base.seqnum, 0, 9, 0, data, sizeof(data)) == 0);
}

/* §3.3: actual_length above the request is a protocol error, and the
 * connection stays dead afterwards. */
static void test_actual_length_above_request(void **state)
{
	struct fake f;
	struct ucl_conn *c;
	struct ucl_reply r;
	uint8_t buf[8];

	(void)state;
	c = fake_connect(&f, script_too_long);
	assert_int_equal(ucl_submit(c,
	                            &(struct ucl_xfer){.ep = 1,
	                                               .dir_in = true,
	                                               .type = UCL_EP_BULK,
	                                               .buf = buf,
	                                               .len = sizeof(buf)},
	                            NULL),
	                 0);
	assert_int_equal(ucl_wait(c, &r), UCL_E_PROTO);
	assert_int_equal(ucl_wait(c, &r), UCL_E_PROTO);
	assert_int_equal(ucl_bulk(c, 1, false, buf, 1, NULL), UCL_E_PROTO);
	ucl_close(c);
	fake_finish(&f);
}

static void script_wrong_seqnum(struct fake *f, int fd)
{
	struct usbip_header h;

	FAKE_CHECK(f, fake_import(f, fd) == 0);
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	FAKE_CHECK(f, fake_send_ret_submit(fd, h.base.seqnum + 1, 0, 0, 0, NULL, 0) == 0);
}

/* A bulk IN against a server running script must end in UCL_E_PROTO. */
static void expect_bulk_proto_error(void (*script)(struct fake *, int))
{
	struct fake f;
	struct ucl_conn *c;
	uint8_t buf[8];

	c = fake_connect(&f, script);
	assert_int_equal(ucl_bulk(c, 1, true, buf, sizeof(buf), NULL), UCL_E_PROTO);
	ucl_close(c);
	fake_finish(&f);
}

/* §4.2: a RET_SUBMIT for a seqnum never sent. */
static void test_unknown_seqnum(void **state)
{
	(void)state;
	expect_bulk_proto_error(script_wrong_seqnum);
}

static void script_alias_seqnum(struct fake *f, int fd)
{
	struct usbip_header h;

	FAKE_CHECK(f, fake_import(f, fd) == 0);
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	/* Same slot in a table of UCL_MAX_PENDING entries, another seqnum. */
	FAKE_CHECK(f, fake_send_ret_submit(fd, h.base.seqnum + UCL_MAX_PENDING, 0, 0, 0, NULL, 0) ==
	                      0);
}

/* A seqnum that shares a pending URB's table slot is still unknown. */
static void test_alias_seqnum(void **state)
{
	(void)state;
	expect_bulk_proto_error(script_alias_seqnum);
}

static void script_twice(struct fake *f, int fd)
{
	struct usbip_header h;

	FAKE_CHECK(f, fake_import(f, fd) == 0);
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	FAKE_CHECK(f, fake_send_ret_submit(fd, h.base.seqnum, 0, 2, 0, "ab", 2) == 0);
	FAKE_CHECK(f, fake_send_ret_submit(fd, h.base.seqnum, 0, 2, 0, "ab", 2) == 0);
}

/* §4.2: a second RET_SUBMIT for a completed seqnum. */
static void test_duplicate_ret_submit(void **state)
{
	struct fake f;
	struct ucl_conn *c;
	struct ucl_reply r;
	uint8_t buf[8];

	(void)state;
	c = fake_connect(&f, script_twice);
	assert_int_equal(ucl_bulk(c, 1, true, buf, sizeof(buf), NULL), 2);
	assert_memory_equal(buf, "ab", 2);
	assert_int_equal(ucl_wait(c, &r), UCL_E_PROTO);
	ucl_close(c);
	fake_finish(&f);
}

static void script_submit_after_unlink(struct fake *f, int fd)
{
	struct usbip_header sub, unl;

	FAKE_CHECK(f, fake_import(f, fd) == 0);
	FAKE_CHECK(f, fake_recv_header(fd, &sub) == 0);
	FAKE_CHECK(f, fake_recv_header(fd, &unl) == 0);
	FAKE_CHECK(f, unl.base.command == USBIP_CMD_UNLINK);
	FAKE_CHECK(f, unl.u.cmd_unlink.unlink_seqnum == sub.base.seqnum);
	/* Wrong order (§4.3 rule 3): the RET_UNLINK completes the URB, so the
	 * RET_SUBMIT that follows names a seqnum no longer pending. */
	FAKE_CHECK(f, fake_send_ret_unlink(fd, unl.base.seqnum, -USBIP_ECONNRESET) == 0);
	FAKE_CHECK(f, fake_send_ret_submit(fd, sub.base.seqnum, 0, 4, 0, "data", 4) == 0);
}

static void test_ret_submit_after_ret_unlink(void **state)
{
	struct fake f;
	struct ucl_conn *c;
	struct ucl_reply r;
	uint8_t buf[8];
	uint32_t seq;

	(void)state;
	c = fake_connect(&f, script_submit_after_unlink);
	assert_int_equal(ucl_submit(c,
	                            &(struct ucl_xfer){.ep = 1,
	                                               .dir_in = true,
	                                               .type = UCL_EP_BULK,
	                                               .buf = buf,
	                                               .len = sizeof(buf)},
	                            &seq),
	                 0);
	assert_int_equal(ucl_unlink(c, seq, NULL), 0);
	assert_int_equal(ucl_wait(c, &r), 0);
	assert_int_equal(r.command, USBIP_RET_UNLINK);
	assert_true(r.target_pending);
	assert_int_equal(r.unlink_seqnum, seq);
	assert_int_equal(ucl_wait(c, &r), UCL_E_PROTO);
	ucl_close(c);
	fake_finish(&f);
}

static void script_stray_unlink(struct fake *f, int fd)
{
	FAKE_CHECK(f, fake_import(f, fd) == 0);
	FAKE_CHECK(f, fake_send_ret_unlink(fd, 77, 0) == 0);
}

/* A RET_UNLINK for an unlink never sent (ucl is stricter than vhci). */
static void test_stray_ret_unlink(void **state)
{
	struct fake f;
	struct ucl_conn *c;
	struct ucl_reply r;

	(void)state;
	c = fake_connect(&f, script_stray_unlink);
	assert_int_equal(ucl_wait(c, &r), UCL_E_PROTO);
	ucl_close(c);
	fake_finish(&f);
}

/* ---- Waiting ------------------------------------------------------------ */

static void script_slow(struct fake *f, int fd)
{
	struct usbip_header h;
	struct timespec ts = {.tv_nsec = 400 * 1000 * 1000};

	FAKE_CHECK(f, fake_import(f, fd) == 0);
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	nanosleep(&ts, NULL);
	FAKE_CHECK(f, fake_send_ret_submit(fd, h.base.seqnum, 0, 3, 0, "xyz", 3) == 0);
}

/* A timeout before a reply starts leaves the connection usable. */
static void test_timeout_then_reply(void **state)
{
	struct fake f;
	struct ucl_conn *c;
	struct ucl_reply r;
	uint8_t buf[8];
	uint32_t seq;

	(void)state;
	c = fake_connect(&f, script_slow);
	assert_int_equal(ucl_set_timeout(c, 100), 0);
	assert_int_equal(ucl_submit(c,
	                            &(struct ucl_xfer){.ep = 1,
	                                               .dir_in = true,
	                                               .type = UCL_EP_BULK,
	                                               .buf = buf,
	                                               .len = sizeof(buf)},
	                            &seq),
	                 0);
	assert_int_equal(ucl_wait(c, &r), UCL_E_TIMEOUT);
	assert_int_equal(ucl_set_timeout(c, 5000), 0);
	assert_int_equal(ucl_wait(c, &r), 0);
	assert_int_equal(r.seqnum, seq);
	assert_int_equal(r.actual_length, 3);
	assert_ptr_equal(r.buf, buf);
	assert_memory_equal(buf, "xyz", 3);
	ucl_close(c);
	fake_finish(&f);
}

static void script_drain(struct fake *f, int fd)
{
	uint8_t b[256];

	FAKE_CHECK(f, fake_import(f, fd) == 0);
	while (recv(fd, b, sizeof(b), 0) > 0)
		;
}

/* The pending table is bounded; ucl_bulk refuses to run with URBs pending. */
static void test_pending_full(void **state)
{
	struct fake f;
	struct ucl_conn *c;
	uint8_t buf[1];
	uint32_t seq, i;

	(void)state;
	c = fake_connect(&f, script_drain);
	for (i = 0; i < UCL_MAX_PENDING; i++) {
		assert_int_equal(ucl_submit(c,
		                            &(struct ucl_xfer){.ep = 1,
		                                               .dir_in = true,
		                                               .type = UCL_EP_BULK,
		                                               .buf = buf,
		                                               .len = 1},
		                            &seq),
		                 0);
		assert_int_equal(seq, i + 1);
	}
	assert_int_equal(
	        ucl_submit(
	                c,
	                &(struct ucl_xfer){
	                        .ep = 1, .dir_in = true, .type = UCL_EP_BULK, .buf = buf, .len = 1},
	                &seq),
	        UCL_E_FULL);
	assert_int_equal(ucl_unlink(c, 1, NULL), UCL_E_FULL);
	assert_int_equal(ucl_bulk(c, 1, true, buf, 1, NULL), UCL_E_BUSY);
	assert_int_equal(ucl_pending(c), UCL_MAX_PENDING);
	ucl_close(c);
	fake_finish(&f);
}

/* ---- ISO ---------------------------------------------------------------- */

static void script_iso(struct fake *f, int fd)
{
	struct usbip_header h;
	struct usbip_iso_packet iso[3];
	uint8_t d[3 * USBIP_ISO_DESC_SIZE];
	const char *packed = "AAAACCCCCCCC";

	FAKE_CHECK(f, fake_import(f, fd) == 0);
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	FAKE_CHECK(f, h.u.cmd_submit.number_of_packets == 3);
	FAKE_CHECK(f, h.u.cmd_submit.interval == 1);
	/* §3.3: an ISO IN submit carries only the descriptors. */
	FAKE_CHECK(f, fake_recv(fd, d, sizeof(d)) == 0);
	FAKE_CHECK(f, usbip_decode_iso(d, sizeof(d), iso, 3, 30) == (int)sizeof(d));
	FAKE_CHECK(f, iso[1].offset == 10 && iso[1].length == 10);
	iso[0].actual_length = 4;
	iso[1].actual_length = 0;
	iso[1].status = -USBIP_EXDEV;
	iso[2].actual_length = 8;
	FAKE_CHECK(f, usbip_encode_iso(d, sizeof(d), iso, 3) == (int)sizeof(d));
	/* §3.4: IN data packed, then the descriptors. */
	FAKE_CHECK(f, fake_send_ret_submit(fd, h.base.seqnum, 0, 12, 3, packed, 12) == 0);
	FAKE_CHECK(f, fake_send(fd, d, sizeof(d)) == 0);
}

static void test_iso_in_unpack(void **state)
{
	struct fake f;
	struct ucl_conn *c;
	struct ucl_reply r;
	struct usbip_iso_packet iso[3] = {{0, 10, 0, 0}, {10, 10, 0, 0}, {20, 10, 0, 0}};
	uint8_t buf[30];

	(void)state;
	memset(buf, '.', sizeof(buf));
	c = fake_connect(&f, script_iso);
	assert_int_equal(ucl_submit(c,
	                            &(struct ucl_xfer){.ep = 3,
	                                               .dir_in = true,
	                                               .type = UCL_EP_ISO,
	                                               .buf = buf,
	                                               .len = sizeof(buf),
	                                               .interval = 1,
	                                               .iso = iso,
	                                               .niso = 3},
	                            NULL),
	                 0);
	assert_int_equal(ucl_wait(c, &r), 0);
	assert_int_equal(r.actual_length, 12);
	assert_int_equal(r.number_of_packets, 3);
	assert_memory_equal(buf, "AAAA", 4);
	assert_memory_equal(buf + 20, "CCCCCCCC", 8);
	assert_int_equal(iso[0].actual_length, 4);
	assert_int_equal(iso[1].status, -USBIP_EXDEV);
	assert_int_equal(iso[2].actual_length, 8);
	ucl_close(c);
	fake_finish(&f);
}

static void script_iso_bad_sum(struct fake *f, int fd)
{
	struct usbip_header h;
	struct usbip_iso_packet iso[2] = {{0, 10, 4, 0}, {10, 10, 4, 0}};
	uint8_t d[2 * USBIP_ISO_DESC_SIZE];

	FAKE_CHECK(f, fake_import(f, fd) == 0);
	FAKE_CHECK(f, fake_recv_header(fd, &h) == 0);
	FAKE_CHECK(f, fake_recv(fd, d, sizeof(d)) == 0);
	FAKE_CHECK(f, usbip_encode_iso(d, sizeof(d), iso, 2) == (int)sizeof(d));
	/* actual_length 9 while the packets add up to 8. */
	FAKE_CHECK(f, fake_send_ret_submit(fd, h.base.seqnum, 0, 9, 2, "123456789", 9) == 0);
	FAKE_CHECK(f, fake_send(fd, d, sizeof(d)) == 0);
}

/* §3.4: vhci drops a connection whose ISO sums disagree. */
static void test_iso_bad_sum(void **state)
{
	struct fake f;
	struct ucl_conn *c;
	struct ucl_reply r;
	struct usbip_iso_packet iso[2] = {{0, 10, 0, 0}, {10, 10, 0, 0}};
	uint8_t buf[20];

	(void)state;
	c = fake_connect(&f, script_iso_bad_sum);
	assert_int_equal(ucl_submit(c,
	                            &(struct ucl_xfer){.ep = 3,
	                                               .dir_in = true,
	                                               .type = UCL_EP_ISO,
	                                               .buf = buf,
	                                               .len = sizeof(buf),
	                                               .interval = 1,
	                                               .iso = iso,
	                                               .niso = 2},
	                            NULL),
	                 0);
	assert_int_equal(ucl_wait(c, &r), UCL_E_PROTO);
	ucl_close(c);
	fake_finish(&f);
}

/* ---- OP phase ----------------------------------------------------------- */

static void script_import_only(struct fake *f, int fd)
{
	fake_import(f, fd);
}

static void test_import_refused(void **state)
{
	static const uint32_t statuses[] = {USBIP_ST_NA, USBIP_ST_DEV_BUSY, USBIP_ST_NODEV, 9};
	static const int expect[] = {UCL_E_ST(USBIP_ST_NA), UCL_E_ST(USBIP_ST_DEV_BUSY),
	                             UCL_E_ST(USBIP_ST_NODEV), UCL_E_ST_OTHER};
	struct ucl_conn *c = NULL;
	struct fake f;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		fake_start(&f, script_import_only);
		f.import_status = statuses[i];
		fake_run(&f);
		assert_int_equal(ucl_import("127.0.0.1", f.port, "3-2", &c, NULL), expect[i]);
		assert_null(c);
		fake_finish(&f);
	}
	assert_string_equal(ucl_strerror(UCL_E_ST(USBIP_ST_DEV_BUSY)),
	                    "import refused: device busy (ST_DEV_BUSY)");
}

/* §2.4: the client checks the returned busid. */
static void test_import_busid_mismatch(void **state)
{
	struct ucl_conn *c = NULL;
	struct fake f;

	(void)state;
	fake_start(&f, script_import_only);
	snprintf(f.reply_busid, sizeof(f.reply_busid), "3-3");
	fake_run(&f);
	assert_int_equal(ucl_import("127.0.0.1", f.port, "3-2", &c, NULL), UCL_E_PROTO);
	assert_null(c);
	fake_finish(&f);
}

static void script_devlist(struct fake *f, int fd)
{
	static const struct usbip_usb_interface ifs_a[2] = {{2, 2, 1}, {0x0a, 0, 0}};
	static const struct usbip_usb_interface ifs_b[1] = {{3, 1, 1}};
	struct usbip_usb_device a = {.busid = "1-1",
	                             .busnum = 1,
	                             .devnum = 2,
	                             .idVendor = 0x1209,
	                             .idProduct = 0x0001,
	                             .bNumInterfaces = 2};
	struct usbip_usb_device b = {.busid = "1-2",
	                             .busnum = 1,
	                             .devnum = 3,
	                             .idVendor = 0x1209,
	                             .idProduct = 0x0002,
	                             .bNumInterfaces = 1};
	uint8_t out[USBIP_DEVLIST_HEADER_SIZE + 2 * USBIP_DEVICE_SIZE + 3 * USBIP_INTERFACE_SIZE];
	struct usbip_op_common op;
	uint8_t req[USBIP_OP_COMMON_SIZE];
	int n = 0, k;

	FAKE_CHECK(f, fake_recv(fd, req, sizeof(req)) == 0);
	FAKE_CHECK(f, usbip_decode_op_common(req, sizeof(req), &op) == USBIP_OP_COMMON_SIZE);
	FAKE_CHECK(f, op.code == USBIP_OP_REQ_DEVLIST && op.status == 0);
	k = usbip_encode_op_rep_devlist_header(out, sizeof(out), 2);
	FAKE_CHECK(f, k > 0);
	n += k;
	k = usbip_encode_usb_device(out + n, sizeof(out) - (size_t)n, &a, ifs_a, 2);
	FAKE_CHECK(f, k > 0);
	n += k;
	k = usbip_encode_usb_device(out + n, sizeof(out) - (size_t)n, &b, ifs_b, 1);
	FAKE_CHECK(f, k > 0);
	n += k;
	FAKE_CHECK(f, n == (int)sizeof(out));
	/* Byte by byte: the client must reassemble whatever the segmentation. */
	for (k = 0; k < n; k++)
		FAKE_CHECK(f, fake_send(fd, out + k, 1) == 0);
}

static void test_devlist(void **state)
{
	struct ucl_device devs[4];
	struct fake f;
	unsigned n = 0;

	(void)state;
	fake_start(&f, script_devlist);
	fake_run(&f);
	assert_int_equal(ucl_devlist("127.0.0.1", f.port, devs, 4, &n), 0);
	fake_finish(&f);
	assert_int_equal(n, 2);
	assert_string_equal(devs[0].info.busid, "1-1");
	assert_int_equal(devs[0].info.bNumInterfaces, 2);
	assert_int_equal(devs[0].ifs[1].bInterfaceClass, 0x0a);
	assert_int_equal(devs[1].info.idProduct, 0x0002);
	assert_int_equal(devs[1].info.devnum, 3);
	assert_int_equal(devs[1].ifs[0].bInterfaceProtocol, 1);

	/* Fewer slots than devices: n still says how many there were. */
	fake_start(&f, script_devlist);
	fake_run(&f);
	memset(devs, 0, sizeof(devs));
	assert_int_equal(ucl_devlist("127.0.0.1", f.port, devs, 1, &n), 0);
	fake_finish(&f);
	assert_int_equal(n, 2);
	assert_string_equal(devs[0].info.busid, "1-1");
	assert_string_equal(devs[1].info.busid, "");
}

/* ---- Descriptors -------------------------------------------------------- */

static void test_config_endpoints(void **state)
{
	/* A CDC-ACM configuration: comm interface with an interrupt IN
	 * endpoint, data interface with bulk OUT and IN. */
	static const uint8_t cfg[] = {
	        9, 2,    39,   0,    2, 1,    0,  0x80, 50, /* configuration */
	        9, 4,    0,    0,    1, 2,    2,  1,    0,  /* interface 0: 02/02/01 */
	        5, 0x24, 0,    0x10, 1,                     /* CDC header functional */
	        7, 5,    0x81, 3,    8, 0,    16,           /* EP 1 IN interrupt */
	        9, 4,    1,    0,    2, 0x0a, 0,  0,    0,  /* interface 1: 0a/00/00 */
	        7, 5,    0x02, 2,    0, 2,    0,            /* EP 2 OUT bulk 512 */
	        7, 5,    0x82, 2,    0, 2,    0,            /* EP 2 IN bulk 512 */
	};
	struct ucl_endpoint eps[4];
	int n, i;

	(void)state;
	n = ucl_config_endpoints(cfg, sizeof(cfg) - 2, eps, 4); /* wTotalLength is a lie */
	assert_int_equal(n, UCL_E_ARG);
	n = ucl_config_endpoints(cfg, sizeof(cfg), eps, 4);
	assert_int_equal(n, 3);
	assert_int_equal(eps[0].intf_class, 2);
	assert_int_equal(eps[0].type, UCL_EP_INT);
	assert_int_equal(eps[0].interval, 16);
	i = ucl_find_endpoint(eps, (unsigned)n, 0x0a, UCL_EP_BULK, true);
	assert_int_equal(i, 2);
	assert_int_equal(eps[i].addr, 0x82);
	assert_int_equal(eps[i].max_packet, 512);
	assert_int_equal(eps[i].intf_number, 1);
	assert_int_equal(ucl_find_endpoint(eps, (unsigned)n, -1, UCL_EP_BULK, false), 1);
	assert_int_equal(ucl_find_endpoint(eps, (unsigned)n, 8, UCL_EP_BULK, false), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_submit_fields),
	        cmocka_unit_test(test_actual_length_above_request),
	        cmocka_unit_test(test_unknown_seqnum),
	        cmocka_unit_test(test_alias_seqnum),
	        cmocka_unit_test(test_duplicate_ret_submit),
	        cmocka_unit_test(test_ret_submit_after_ret_unlink),
	        cmocka_unit_test(test_stray_ret_unlink),
	        cmocka_unit_test(test_timeout_then_reply),
	        cmocka_unit_test(test_pending_full),
	        cmocka_unit_test(test_iso_in_unpack),
	        cmocka_unit_test(test_iso_bad_sum),
	        cmocka_unit_test(test_import_refused),
	        cmocka_unit_test(test_import_busid_mismatch),
	        cmocka_unit_test(test_devlist),
	        cmocka_unit_test(test_config_endpoints),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
