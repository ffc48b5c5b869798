/* SPDX-License-Identifier: MIT */
/*
 * test_e2e.c - ucl against a real usblabd process with the virtual
 * devices: `usblabd --virtual cdc,hid,msc:<image>` (busids 0-1, 0-2, 0-3).
 *
 * The daemon is the one named by $USBLABD (or argv[1]). Endpoint numbers
 * come from the configuration descriptors at run time, never from the sim's
 * sources. § numbers refer to shared/docs/usbip-protocol.md.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "ucl.h"
#include "usblabd_proc.h"

#define E2E_BUSID_CDC  "0-1"
#define E2E_BUSID_HID  "0-2"
#define E2E_BUSID_MSC  "0-3"
#define E2E_VID        0x1209
#define E2E_IMAGE      (2u * 1024u * 1024u) /* bytes in the MSC image file */
#define E2E_MAX_CONNS  4
#define E2E_TIMEOUT    5000 /* ms for any reply the server owes */
#define E2E_HID_MAX_MS 15000

struct e2e {
	struct usblabd_proc d;
	char image[64];
	struct ucl_conn *c[E2E_MAX_CONNS]; /* closed after each test */
	int raw[E2E_MAX_CONNS];            /* raw sockets, closed after each test */
};

static void e2e_sleep_us(unsigned us)
{
	struct timespec ts = {.tv_sec = us / 1000000, .tv_nsec = (long)(us % 1000000) * 1000};

	nanosleep(&ts, NULL);
}

static void e2e_sleep_ms(unsigned ms)
{
	e2e_sleep_us(ms * 1000u);
}

static double e2e_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int e2e_group_setup(void **state)
{
	struct e2e *st = calloc(1, sizeof(*st));
	char virt[128], err[256];
	int fd, i;

	if (!st)
		return -1;
	for (i = 0; i < E2E_MAX_CONNS; i++)
		st->raw[i] = -1;
	snprintf(st->image, sizeof(st->image), "/tmp/ucl-e2e-XXXXXX");
	fd = mkstemp(st->image);
	if (fd < 0 || ftruncate(fd, E2E_IMAGE) < 0) {
		fprintf(stderr, "test_e2e: image %s: %s\n", st->image, strerror(errno));
		free(st);
		return -1;
	}
	close(fd);
	snprintf(virt, sizeof(virt), "cdc,hid,msc:%s", st->image);
	/* meson passes the daemon in USBLABD (main copies argv[1] there). */
	if (usblabd_proc_start(&st->d, getenv("USBLABD"), virt, false, err, sizeof(err)) < 0) {
		fprintf(stderr, "test_e2e: %s\n", err);
		unlink(st->image);
		free(st);
		return -1;
	}
	*state = st;
	return 0;
}

static int e2e_group_teardown(void **state)
{
	struct e2e *st = *state;
	int status = usblabd_proc_stop(&st->d);

	fprintf(stderr, "test_e2e: usblabd wait status after SIGTERM: 0x%x\n", status);
	unlink(st->image);
	free(st);
	return 0;
}

static int e2e_close_all(void **state)
{
	struct e2e *st = *state;
	int i;

	for (i = 0; i < E2E_MAX_CONNS; i++) {
		ucl_close(st->c[i]);
		st->c[i] = NULL;
		if (st->raw[i] >= 0)
			close(st->raw[i]);
		st->raw[i] = -1;
	}
	return 0;
}

/* Imports busid into slot. A device that the previous test's connection
 * held is released only once the daemon has seen that close, so
 * ST_DEV_BUSY is retried for up to 3 s. */
static struct ucl_conn *e2e_import(struct e2e *st, int slot, const char *busid,
                                   struct usbip_usb_device *dev)
{
	int rc = 0, i;

	assert_null(st->c[slot]);
	for (i = 0; i < 300; i++) {
		rc = ucl_import(st->d.host, st->d.port, busid, &st->c[slot], dev);
		if (rc != UCL_E_ST(USBIP_ST_DEV_BUSY))
			break;
		e2e_sleep_ms(10);
	}
	if (rc != 0)
		fail_msg("import %s: %s (%d)", busid, ucl_strerror(rc), rc);
	assert_int_equal(ucl_set_timeout(st->c[slot], E2E_TIMEOUT), 0);
	return st->c[slot];
}

static void e2e_set_configuration(struct ucl_conn *c, uint8_t value)
{
	uint8_t setup[8];
	int32_t status = 0;
	int rc;

	ucl_setup(setup, 0x00, 0x09, value, 0, 0);
	rc = ucl_control(c, setup, NULL, 0, &status);
	if (rc != 0)
		fail_msg("SET_CONFIGURATION(%u): %s, URB status %d", value, ucl_strerror(rc),
		         status);
}

/* Reads configuration 0 and returns its endpoints. */
static unsigned e2e_endpoints(struct ucl_conn *c, struct ucl_endpoint *eps, unsigned max)
{
	uint8_t cfg[512];
	int len, n;

	len = ucl_get_config(c, 0, cfg, sizeof(cfg));
	if (len < 0)
		fail_msg("GET_DESCRIPTOR(config): %s", ucl_strerror(len));
	n = ucl_config_endpoints(cfg, (size_t)len, eps, max);
	assert_true(n > 0 && (unsigned)n <= max);
	return (unsigned)n;
}

/* Finds the endpoint or fails the test. */
static const struct ucl_endpoint *e2e_find(const struct ucl_endpoint *eps, unsigned n,
                                           int intf_class, uint8_t type, bool dir_in)
{
	int i = ucl_find_endpoint(eps, n, intf_class, type, dir_in);

	if (i < 0)
		fail_msg("no %s endpoint of type %u in an interface of class 0x%02x",
		         dir_in ? "IN" : "OUT", type, intf_class);
	return &eps[i];
}

/* ---- CDC helpers -------------------------------------------------------- */

struct e2e_cdc {
	struct ucl_conn *c;
	uint8_t ep_out, ep_in;
	uint16_t mps;
};

static struct e2e_cdc e2e_cdc_open(struct e2e *st, int slot)
{
	struct ucl_endpoint eps[8];
	const struct ucl_endpoint *in, *out;
	struct e2e_cdc cdc;
	unsigned n;

	cdc.c = e2e_import(st, slot, E2E_BUSID_CDC, NULL);
	e2e_set_configuration(cdc.c, 1);
	n = e2e_endpoints(cdc.c, eps, 8);
	out = e2e_find(eps, n, 0x0a, UCL_EP_BULK, false);
	in = e2e_find(eps, n, 0x0a, UCL_EP_BULK, true);
	cdc.ep_out = out->addr & 0x0f;
	cdc.ep_in = in->addr & 0x0f;
	cdc.mps = in->max_packet;
	assert_true(cdc.mps >= 8);
	return cdc;
}

static void e2e_cdc_write(const struct e2e_cdc *cdc, const void *data, uint32_t len)
{
	int32_t status = 0;
	int rc = ucl_bulk(cdc->c, cdc->ep_out, false, (void *)data, len, &status);

	if (rc != (int)len)
		fail_msg("bulk OUT %u bytes: %s (URB status %d)", len, ucl_strerror(rc), status);
}

/* Reads exactly len echoed bytes, in as many IN URBs as it takes. */
static void e2e_cdc_read(const struct e2e_cdc *cdc, uint8_t *out, uint32_t len)
{
	uint32_t got = 0;

	while (got < len) {
		uint8_t buf[512];
		int32_t status = 0;
		uint32_t want = cdc->mps <= sizeof(buf) ? cdc->mps : sizeof(buf);
		int rc = ucl_bulk(cdc->c, cdc->ep_in, true, buf, want, &status);

		if (rc < 0)
			fail_msg("bulk IN after %u of %u bytes: %s (URB status %d)", got, len,
			         ucl_strerror(rc), status);
		if ((uint32_t)rc > len - got)
			fail_msg("echo returned %u bytes more than written", rc - (len - got));
		memcpy(out + got, buf, (size_t)rc);
		got += (uint32_t)rc;
	}
}

static void e2e_cdc_echo(const struct e2e_cdc *cdc, const char *text)
{
	uint8_t back[256];
	uint32_t len = (uint32_t)strlen(text);

	assert_true(len <= sizeof(back));
	e2e_cdc_write(cdc, text, len);
	e2e_cdc_read(cdc, back, len);
	assert_memory_equal(back, text, len);
}

/* Expects no reply within ms (a RET_SUBMIT for an unlinked URB would be a
 * protocol error inside ucl_wait). */
static void e2e_expect_silence(struct ucl_conn *c, unsigned ms)
{
	struct ucl_reply r;
	int rc;

	assert_int_equal(ucl_set_timeout(c, ms), 0);
	rc = ucl_wait(c, &r);
	if (rc != UCL_E_TIMEOUT)
		fail_msg("expected no reply, got %s (command %u seqnum %u status %d)",
		         rc ? ucl_strerror(rc) : "a reply", r.command, r.seqnum, r.status);
	assert_int_equal(ucl_set_timeout(c, E2E_TIMEOUT), 0);
}

static void e2e_wait(struct ucl_conn *c, struct ucl_reply *r)
{
	int rc = ucl_wait(c, r);

	if (rc != 0)
		fail_msg("waiting for a reply (%u pending): %s", ucl_pending(c), ucl_strerror(rc));
}

/* ---- OP phase ----------------------------------------------------------- */

static const struct ucl_device *e2e_find_dev(const struct ucl_device *devs, unsigned n,
                                             const char *busid)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if (strcmp(devs[i].info.busid, busid) == 0)
			return &devs[i];
	fail_msg("DEVLIST lacks busid %s", busid);
	return NULL;
}

static void e2e_check_if(const struct usbip_usb_interface *i, uint8_t cls, uint8_t sub,
                         uint8_t proto)
{
	assert_int_equal(i->bInterfaceClass, cls);
	assert_int_equal(i->bInterfaceSubClass, sub);
	assert_int_equal(i->bInterfaceProtocol, proto);
}

static void test_devlist(void **state)
{
	struct e2e *st = *state;
	struct ucl_device devs[8];
	const struct ucl_device *cdc, *hid, *msc;
	unsigned n = 0, i;
	int rc;

	/* Like usbipd, usblabd hides imported devices; the previous test's
	 * connections may not have been reaped yet, so wait up to 3 s. */
	for (i = 0; i < 300; i++) {
		rc = ucl_devlist(st->d.host, st->d.port, devs, 8, &n);
		if (rc != 0)
			fail_msg("devlist: %s", ucl_strerror(rc));
		if (n >= 3)
			break;
		e2e_sleep_ms(10);
	}
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++) {
		assert_int_equal(devs[i].info.idVendor, E2E_VID);
		assert_int_equal(devs[i].info.busnum, 0);
		assert_int_equal(devs[i].info.devnum, i + 1);
		/* §4.7: vhci rejects speed 0. */
		assert_int_not_equal(devs[i].info.speed, USBIP_SPEED_UNKNOWN);
		assert_true(devs[i].info.path[0] != '\0');
	}
	cdc = e2e_find_dev(devs, n, E2E_BUSID_CDC);
	assert_int_equal(cdc->info.bNumInterfaces, 2);
	e2e_check_if(&cdc->ifs[0], 0x02, 0x02, 0x01);
	e2e_check_if(&cdc->ifs[1], 0x0a, 0x00, 0x00);
	hid = e2e_find_dev(devs, n, E2E_BUSID_HID);
	assert_int_equal(hid->info.bNumInterfaces, 1);
	e2e_check_if(&hid->ifs[0], 0x03, 0x01, 0x01);
	msc = e2e_find_dev(devs, n, E2E_BUSID_MSC);
	assert_int_equal(msc->info.bNumInterfaces, 1);
	e2e_check_if(&msc->ifs[0], 0x08, 0x06, 0x50);
	/* Three different products. */
	assert_int_not_equal(cdc->info.idProduct, hid->info.idProduct);
	assert_int_not_equal(hid->info.idProduct, msc->info.idProduct);
}

static void test_import_busy_nodev(void **state)
{
	struct e2e *st = *state;
	struct usbip_usb_device dev;
	struct ucl_conn *second = NULL;

	e2e_import(st, 0, E2E_BUSID_CDC, &dev);
	assert_string_equal(dev.busid, E2E_BUSID_CDC);
	assert_int_equal(dev.idVendor, E2E_VID);
	assert_int_equal(ucl_devid(st->c[0]), 0u << 16 | 1u);

	/* §2.2: a device already imported answers ST_DEV_BUSY. */
	assert_int_equal(ucl_import(st->d.host, st->d.port, E2E_BUSID_CDC, &second, NULL),
	                 UCL_E_ST(USBIP_ST_DEV_BUSY));
	assert_null(second);
	assert_int_equal(ucl_import(st->d.host, st->d.port, "9-9", &second, NULL),
	                 UCL_E_ST(USBIP_ST_NODEV));
	assert_null(second);

	/* The first import is unharmed. */
	e2e_set_configuration(st->c[0], 1);
}

/* §2.4: "usbipd hides devices that are already exported". */
static void test_devlist_hides_imported(void **state)
{
	struct e2e *st = *state;
	struct ucl_device devs[8];
	unsigned n = 0, i;

	e2e_import(st, 0, E2E_BUSID_HID, NULL);
	/* Until the daemon has reaped the previous test's CDC connection, the
	 * CDC is hidden too: wait for it, up to 3 s. */
	for (int k = 0; k < 300; k++) {
		assert_int_equal(ucl_devlist(st->d.host, st->d.port, devs, 8, &n), 0);
		for (i = 0; i < n; i++)
			assert_string_not_equal(devs[i].info.busid, E2E_BUSID_HID);
		if (n == 2)
			break;
		e2e_sleep_ms(10);
	}
	assert_int_equal(n, 2);
}

/* ---- CDC ---------------------------------------------------------------- */

static void test_cdc_echo(void **state)
{
	struct e2e_cdc cdc = e2e_cdc_open(*state, 0);

	e2e_cdc_echo(&cdc, "hello");
}

/* 32 IN URBs in flight before any data, then 32 writes: every URB
 * completes, in order per endpoint, and the data comes back in order. */
static void test_cdc_pipelined(void **state)
{
	enum { DEPTH = 32, SIZE = 64 };
	struct e2e_cdc cdc = e2e_cdc_open(*state, 0);
	static uint8_t out[DEPTH][SIZE], in[DEPTH][SIZE], echoed[DEPTH * SIZE];
	uint32_t in_seq[DEPTH], out_seq[DEPTH], got = 0;
	unsigned next_in = 0, next_out = 0, i, j;
	struct ucl_reply r;

	for (i = 0; i < DEPTH; i++) {
		struct ucl_xfer x = {.ep = cdc.ep_in,
		                     .dir_in = true,
		                     .type = UCL_EP_BULK,
		                     .buf = in[i],
		                     .len = SIZE};

		assert_int_equal(ucl_submit(cdc.c, &x, &in_seq[i]), 0);
	}
	for (i = 0; i < DEPTH; i++) {
		struct ucl_xfer x = {
		        .ep = cdc.ep_out, .type = UCL_EP_BULK, .buf = out[i], .len = SIZE};

		for (j = 0; j < SIZE; j++)
			out[i][j] = (uint8_t)(i * 31 + j * 7 + 1);
		assert_int_equal(ucl_submit(cdc.c, &x, &out_seq[i]), 0);
	}
	while (ucl_pending(cdc.c) > 0) {
		e2e_wait(cdc.c, &r);
		assert_int_equal(r.command, USBIP_RET_SUBMIT);
		if (r.status != 0)
			fail_msg("seqnum %u completed with status %d", r.seqnum, r.status);
		if (r.dir_in) {
			/* Order within an endpoint is kept (§7.6). */
			assert_true(next_in < DEPTH);
			assert_int_equal(r.seqnum, in_seq[next_in]);
			assert_true(r.actual_length > 0);
			memcpy(echoed + got, in[next_in], (size_t)r.actual_length);
			got += (uint32_t)r.actual_length;
			next_in++;
		} else {
			assert_true(next_out < DEPTH);
			assert_int_equal(r.seqnum, out_seq[next_out]);
			assert_int_equal(r.actual_length, SIZE);
			next_out++;
		}
	}
	assert_int_equal(next_out, DEPTH);
	assert_int_equal(next_in, DEPTH);
	/* An echo may split or merge packets; whatever the IN URBs left is
	 * still queued in the device. */
	if (got < sizeof(echoed))
		e2e_cdc_read(&cdc, echoed + got, (uint32_t)sizeof(echoed) - got);
	assert_memory_equal(echoed, out, sizeof(echoed));
}

/* §4.3 rule 1: unlinking a pending URB gives RET_UNLINK(-ECONNRESET) and
 * never a RET_SUBMIT. */
static void test_cdc_unlink_pending(void **state)
{
	struct e2e_cdc cdc = e2e_cdc_open(*state, 0);
	struct ucl_xfer x = {.ep = cdc.ep_in, .dir_in = true, .type = UCL_EP_BULK, .len = 64};
	uint8_t buf[64];
	uint32_t seq, useq;
	struct ucl_reply r;

	x.buf = buf;
	assert_int_equal(ucl_submit(cdc.c, &x, &seq), 0);
	/* Nothing was written, so the IN URB stays pending. */
	e2e_expect_silence(cdc.c, 200);
	assert_int_equal(ucl_unlink(cdc.c, seq, &useq), 0);
	e2e_wait(cdc.c, &r);
	assert_int_equal(r.command, USBIP_RET_UNLINK);
	assert_int_equal(r.seqnum, useq);
	assert_int_equal(r.unlink_seqnum, seq);
	assert_true(r.target_pending);
	assert_int_equal(r.status, -USBIP_ECONNRESET);
	assert_int_equal(ucl_pending(cdc.c), 0);
	e2e_expect_silence(cdc.c, 300);
	/* The cancelled URB took no data: the next write echoes whole. */
	e2e_cdc_echo(&cdc, "after unlink");
}

/* §4.3 rule 2: unlinking a completed (or never seen) seqnum gives
 * RET_UNLINK(0), and at once rather than with the next completion. */
static void test_cdc_unlink_completed(void **state)
{
	struct e2e_cdc cdc = e2e_cdc_open(*state, 0);
	struct ucl_xfer x = {.ep = cdc.ep_out, .type = UCL_EP_BULK, .buf = "abc", .len = 3};
	uint32_t seq, useq;
	struct ucl_reply r;
	uint8_t back[3];

	assert_int_equal(ucl_submit(cdc.c, &x, &seq), 0);
	e2e_wait(cdc.c, &r);
	assert_int_equal(r.command, USBIP_RET_SUBMIT);
	assert_int_equal(r.seqnum, seq);
	assert_int_equal(r.status, 0);

	assert_int_equal(ucl_unlink(cdc.c, seq, &useq), 0);
	assert_int_equal(ucl_set_timeout(cdc.c, 1000), 0);
	e2e_wait(cdc.c, &r);
	assert_int_equal(r.command, USBIP_RET_UNLINK);
	assert_int_equal(r.seqnum, useq);
	assert_int_equal(r.status, 0);
	assert_false(r.target_pending);

	assert_int_equal(ucl_unlink(cdc.c, 0x7ffffff0u, &useq), 0);
	e2e_wait(cdc.c, &r);
	assert_int_equal(r.command, USBIP_RET_UNLINK);
	assert_int_equal(r.seqnum, useq);
	assert_int_equal(r.status, 0);
	assert_int_equal(ucl_set_timeout(cdc.c, E2E_TIMEOUT), 0);

	e2e_cdc_read(&cdc, back, 3);
	assert_memory_equal(back, "abc", 3);
}

/* §4.3 rule 4: an unlink that races the completion of its target. Either
 * the URB is cancelled (-ECONNRESET, its data stays in the device) or it
 * completes and RET_SUBMIT comes before RET_UNLINK(0); data is never lost
 * or reordered. */
static void test_cdc_unlink_race(void **state)
{
	enum { ROUNDS = 64 };
	struct e2e_cdc cdc = e2e_cdc_open(*state, 0);
	uint8_t sent[ROUNDS], echoed[ROUNDS], in[ROUNDS][64];
	uint32_t got = 0, i;

	for (i = 0; i < ROUNDS; i++) {
		struct ucl_xfer rx = {.ep = cdc.ep_in,
		                      .dir_in = true,
		                      .type = UCL_EP_BULK,
		                      .buf = in[i],
		                      .len = 64};
		struct ucl_xfer tx = {
		        .ep = cdc.ep_out, .type = UCL_EP_BULK, .buf = &sent[i], .len = 1};
		uint32_t seq;
		struct ucl_reply r;

		sent[i] = (uint8_t)('A' + i % 26);
		assert_int_equal(ucl_submit(cdc.c, &rx, &seq), 0);
		assert_int_equal(ucl_submit(cdc.c, &tx, NULL), 0);
		assert_int_equal(ucl_unlink(cdc.c, seq, NULL), 0);
		while (ucl_pending(cdc.c) > 0) {
			e2e_wait(cdc.c, &r);
			if (r.command == USBIP_RET_UNLINK) {
				/* Rule 4's "better" form: no RET_UNLINK(0) that
				 * swallows a completed URB's data. */
				if (r.target_pending && r.status == 0)
					fail_msg("round %u: RET_UNLINK(0) completed a pending URB "
					         "and dropped its data",
					         i);
				continue;
			}
			assert_int_equal(r.status, 0);
			if (r.dir_in) {
				assert_true(got + (uint32_t)r.actual_length <= ROUNDS);
				memcpy(echoed + got, r.buf, (size_t)r.actual_length);
				got += (uint32_t)r.actual_length;
			}
		}
	}
	if (got < ROUNDS)
		e2e_cdc_read(&cdc, echoed + got, ROUNDS - got);
	assert_memory_equal(echoed, sent, ROUNDS);
}

/* ---- HID ---------------------------------------------------------------- */

/* The default text "usblab\n" as boot-keyboard usage IDs (HID usage
 * tables §10: a=0x04 ... z=0x1d, Enter=0x28). */
static const uint8_t e2e_usblab_keys[] = {0x18, 0x16, 0x05, 0x0f, 0x04, 0x05, 0x28};

static void test_hid_typing(void **state)
{
	struct e2e *st = *state;
	struct ucl_endpoint eps[4];
	const struct ucl_endpoint *ep;
	struct ucl_conn *c;
	uint8_t keys[16], prev_key = 0;
	unsigned n, nkeys = 0, reports = 0, period_us;
	double start;
	bool released_after_enter = false;

	c = e2e_import(st, 0, E2E_BUSID_HID, NULL);
	e2e_set_configuration(c, 1);
	n = e2e_endpoints(c, eps, 4);
	ep = e2e_find(eps, n, 0x03, UCL_EP_INT, true);
	assert_true(ep->max_packet >= 8);
	/* High speed: a period of 2^(bInterval-1) microframes (USB 2.0
	 * §9.6.6). */
	assert_true(ep->interval >= 1 && ep->interval <= 16);
	period_us = 125u << (ep->interval - 1);
	if (period_us > 100000)
		period_us = 100000;
	start = e2e_now_ms();

	while (!released_after_enter) {
		uint8_t report[64];
		struct ucl_xfer x = {.ep = ep->addr & 0x0f,
		                     .dir_in = true,
		                     .type = UCL_EP_INT,
		                     .buf = report,
		                     .len = ep->max_packet,
		                     .interval = ep->interval};
		int32_t status = 0;
		int rc;

		/* The device may answer with idle (all-zero) reports for a while
		 * before it types, as a keyboard nobody touches yet does while
		 * the host's driver probes; poll as a host would, once per
		 * interval, for up to E2E_HID_MAX_MS. */
		if (e2e_now_ms() - start > E2E_HID_MAX_MS)
			fail_msg("no Enter release after %u ms, %u reports (%u keys)",
			         E2E_HID_MAX_MS, reports, nkeys);
		if (reports++ > 0 && prev_key == 0)
			e2e_sleep_us(period_us);
		rc = ucl_transfer(c, &x, &status);
		if (rc < 0)
			fail_msg("interrupt IN: %s (URB status %d)", ucl_strerror(rc), status);
		assert_int_equal(rc, 8);        /* boot keyboard report */
		assert_int_equal(report[0], 0); /* no modifier for lower case */
		/* A key-down report names one key; a key-up report is all zero. */
		for (unsigned k = 3; k < 8; k++)
			assert_int_equal(report[k], 0);
		if (report[2] != 0) {
			if (prev_key != 0)
				fail_msg("key 0x%02x pressed without releasing 0x%02x", report[2],
				         prev_key);
			assert_true(nkeys < sizeof(keys));
			keys[nkeys++] = report[2];
		} else if (prev_key == 0x28) {
			released_after_enter = true;
		}
		prev_key = report[2];
	}
	assert_int_equal(nkeys, sizeof(e2e_usblab_keys));
	assert_memory_equal(keys, e2e_usblab_keys, sizeof(e2e_usblab_keys));
}

/* ---- MSC ---------------------------------------------------------------- */

struct e2e_msc {
	struct ucl_conn *c;
	uint8_t ep_out, ep_in;
	uint32_t tag;
};

static int e2e_scsi(struct e2e_msc *m, const uint8_t *cdb, uint8_t cdb_len, bool dir_in, void *buf,
                    uint32_t len)
{
	uint8_t csw = 0xff;
	int32_t status = 0;
	int rc = ucl_bot_command(m->c, m->ep_out, m->ep_in, ++m->tag, cdb, cdb_len, dir_in, buf,
	                         len, &csw, &status);

	if (rc < 0)
		fail_msg("SCSI 0x%02x: %s (URB status %d)", cdb[0], ucl_strerror(rc), status);
	if (csw != 0)
		fail_msg("SCSI 0x%02x: CSW status %u", cdb[0], csw);
	return rc;
}

static void e2e_rw10_cdb(uint8_t cdb[10], uint8_t op, uint32_t lba, uint16_t blocks)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	usbip_put_be32(cdb + 2, lba);
	usbip_put_be16(cdb + 7, blocks);
}

static void test_msc_bot(void **state)
{
	enum { LBA = 100, BLOCKS = 8 };
	struct e2e *st = *state;
	struct ucl_endpoint eps[4];
	struct e2e_msc m = {0};
	static const uint8_t inquiry[6] = {0x12, 0, 0, 0, 36, 0};
	static const uint8_t capacity[10] = {0x25};
	static uint8_t pattern[BLOCKS * 512], back[BLOCKS * 512];
	uint8_t buf[64], cdb[10];
	uint32_t last_lba, blklen, i;
	unsigned n;
	int fd;

	m.c = e2e_import(st, 0, E2E_BUSID_MSC, NULL);
	e2e_set_configuration(m.c, 1);
	n = e2e_endpoints(m.c, eps, 4);
	m.ep_out = e2e_find(eps, n, 0x08, UCL_EP_BULK, false)->addr & 0x0f;
	m.ep_in = e2e_find(eps, n, 0x08, UCL_EP_BULK, true)->addr & 0x0f;

	/* INQUIRY: a direct-access block device (SPC-4 §6.6). */
	assert_int_equal(e2e_scsi(&m, inquiry, sizeof(inquiry), true, buf, 36), 36);
	assert_int_equal(buf[0] & 0x1f, 0x00);
	assert_true(buf[4] >= 31); /* additional length */

	/* READ CAPACITY(10): last LBA and block length, big-endian (SBC-3). */
	assert_int_equal(e2e_scsi(&m, capacity, sizeof(capacity), true, buf, 8), 8);
	last_lba = usbip_get_be32(buf);
	blklen = usbip_get_be32(buf + 4);
	assert_int_equal(blklen, 512);
	assert_int_equal((uint64_t)(last_lba + 1) * blklen, E2E_IMAGE);

	for (i = 0; i < sizeof(pattern); i++)
		pattern[i] = (uint8_t)(i * 13 + i / 512 + 0x5a);
	e2e_rw10_cdb(cdb, 0x2a, LBA, BLOCKS); /* WRITE(10) */
	assert_int_equal(e2e_scsi(&m, cdb, 10, false, pattern, sizeof(pattern)), sizeof(pattern));
	e2e_rw10_cdb(cdb, 0x28, LBA, BLOCKS); /* READ(10) */
	memset(back, 0, sizeof(back));
	assert_int_equal(e2e_scsi(&m, cdb, 10, true, back, sizeof(back)), sizeof(back));
	assert_memory_equal(back, pattern, sizeof(pattern));

	/* "read and written in place": the file holds the pattern now. */
	fd = open(st->image, O_RDONLY);
	assert_true(fd >= 0);
	memset(back, 0, sizeof(back));
	assert_int_equal(pread(fd, back, sizeof(back), (off_t)LBA * 512), (ssize_t)sizeof(back));
	close(fd);
	assert_memory_equal(back, pattern, sizeof(pattern));
}

/* ---- Robustness --------------------------------------------------------- */

static int e2e_raw_connect(struct e2e *st, int slot)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)atoi(st->d.port))};
	struct timeval tv = {.tv_sec = 3};
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	st->raw[slot] = fd;
	assert_int_equal(inet_pton(AF_INET, st->d.host, &sa.sin_addr), 1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	return fd;
}

static void e2e_send_raw(int fd, const void *buf, size_t len)
{
	assert_int_equal(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t)len);
}

/*
 * The server must refuse what fd sent and close it within 3 s. A refusal
 * is silence (Linux usbipd closes without a reply) or one error reply: an
 * 8-byte op_common with a non-zero status (OP phase) or a RET_SUBMIT with
 * a negative status (URB phase). Anything else means the garbage was
 * served.
 */
static void e2e_expect_refused(int fd, const char *what)
{
	uint8_t b[512];
	size_t have = 0;

	for (;;) {
		ssize_t r = recv(fd, b + have, sizeof(b) - have, 0);

		if (r == 0 || (r < 0 && errno == ECONNRESET))
			break;
		if (r < 0)
			fail_msg("%s: the server kept the connection open (%s)", what,
			         strerror(errno));
		have += (size_t)r;
		if (have == sizeof(b))
			fail_msg("%s: the server answered with more than %zu bytes", what, have);
	}
	if (have == USBIP_OP_COMMON_SIZE) {
		struct usbip_op_common op;

		assert_int_equal(usbip_decode_op_common(b, have, &op), USBIP_OP_COMMON_SIZE);
		if (op.status == USBIP_ST_OK)
			fail_msg("%s: answered with status 0 (code 0x%04x)", what, op.code);
	} else if (have == USBIP_HEADER_SIZE) {
		struct usbip_header h;

		assert_int_equal(usbip_decode_header(b, have, &h), USBIP_HEADER_SIZE);
		assert_int_equal(h.base.command, USBIP_RET_SUBMIT);
		if (h.u.ret_submit.status >= 0)
			fail_msg("%s: answered with RET_SUBMIT status %d", what,
			         h.u.ret_submit.status);
	} else if (have != 0) {
		fail_msg("%s: the server answered %zu bytes before closing", what, have);
	}
}

/* A well-behaved client (slot 0, CDC) checks the server before and after
 * each piece of garbage. */
static struct e2e_cdc e2e_witness(struct e2e *st)
{
	struct e2e_cdc cdc = e2e_cdc_open(st, 0);

	e2e_cdc_echo(&cdc, "before");
	return cdc;
}

static void e2e_witness_after(struct e2e *st, const struct e2e_cdc *cdc)
{
	e2e_cdc_echo(cdc, "after");
	assert_true(usblabd_proc_alive(&st->d));
}

static void test_garbage_version(void **state)
{
	struct e2e *st = *state;
	struct e2e_cdc cdc = e2e_witness(st);
	uint8_t b[USBIP_OP_COMMON_SIZE];
	int fd = e2e_raw_connect(st, 1);

	assert_int_equal(usbip_encode_op_req_devlist(b, sizeof(b)), (int)sizeof(b));
	usbip_put_be16(b, 0x0110); /* §2.1: Linux requires exactly 0x0111 */
	e2e_send_raw(fd, b, sizeof(b));
	e2e_expect_refused(fd, "version 0x0110");
	e2e_witness_after(st, &cdc);
}

static void test_garbage_opcode(void **state)
{
	struct e2e *st = *state;
	struct e2e_cdc cdc = e2e_witness(st);
	uint8_t b[USBIP_OP_COMMON_SIZE];
	int fd = e2e_raw_connect(st, 1);

	/* §2.1: OP_REQ_EXPORT is declared but never implemented. */
	assert_int_equal(usbip_encode_op_common(b, sizeof(b), 0x8006, 0), (int)sizeof(b));
	e2e_send_raw(fd, b, sizeof(b));
	e2e_expect_refused(fd, "OP code 0x8006");
	e2e_witness_after(st, &cdc);
}

static void e2e_encode_huge_submit(uint8_t b[USBIP_HEADER_SIZE], uint32_t devid)
{
	struct usbip_header h = {0};

	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = 1;
	h.base.devid = devid;
	h.base.direction = USBIP_DIR_OUT;
	h.base.ep = 1;
	h.u.cmd_submit.transfer_buffer_length = 0x7fffffff;
	assert_int_equal(usbip_encode_header(b, USBIP_HEADER_SIZE, &h), USBIP_HEADER_SIZE);
}

static void test_garbage_huge_submit(void **state)
{
	struct e2e *st = *state;
	struct e2e_cdc cdc = e2e_witness(st);
	uint8_t b[USBIP_HEADER_SIZE];
	struct ucl_conn *c;
	int fd;

	/* In the URB phase of an imported device (MSC)... */
	c = e2e_import(st, 1, E2E_BUSID_MSC, NULL);
	e2e_encode_huge_submit(b, ucl_devid(c));
	e2e_send_raw(ucl_fd(c), b, sizeof(b));
	e2e_expect_refused(ucl_fd(c), "CMD_SUBMIT of 0x7fffffff bytes");
	/* ... and as the first message of a connection (still the OP phase). */
	fd = e2e_raw_connect(st, 1);
	e2e_send_raw(fd, b, sizeof(b));
	e2e_expect_refused(fd, "CMD_SUBMIT in the OP phase");
	e2e_witness_after(st, &cdc);

	/* The device the bad client held is free again. */
	ucl_close(st->c[1]);
	st->c[1] = NULL;
	c = e2e_import(st, 1, E2E_BUSID_MSC, NULL);
	e2e_set_configuration(c, 1);
}

static void test_garbage_truncated(void **state)
{
	struct e2e *st = *state;
	struct e2e_cdc cdc = e2e_witness(st);
	uint8_t b[USBIP_HEADER_SIZE];
	struct ucl_conn *c;
	int fd;

	/* Half an OP_REQ_IMPORT, then close. */
	fd = e2e_raw_connect(st, 1);
	assert_int_equal(usbip_encode_op_req_import(b, sizeof(b), E2E_BUSID_HID),
	                 USBIP_OP_IMPORT_REQ_SIZE);
	e2e_send_raw(fd, b, 20);
	close(fd);
	st->raw[1] = -1;

	/* Half a CMD_SUBMIT header on an imported HID, then close. */
	c = e2e_import(st, 1, E2E_BUSID_HID, NULL);
	e2e_encode_huge_submit(b, ucl_devid(c));
	e2e_send_raw(ucl_fd(c), b, 20);
	ucl_close(c);
	st->c[1] = NULL;
	e2e_witness_after(st, &cdc);

	c = e2e_import(st, 1, E2E_BUSID_HID, NULL);
	e2e_set_configuration(c, 1);
}

/* A client that goes away with URBs in flight leaves the device usable
 * and clean for the next import. */
static void test_disconnect_inflight(void **state)
{
	struct e2e *st = *state;
	struct e2e_cdc cdc = e2e_cdc_open(st, 0);
	uint8_t bufs[8][64];
	struct ucl_xfer x = {.ep = cdc.ep_in, .dir_in = true, .type = UCL_EP_BULK, .len = 64};
	uint32_t seq;
	unsigned i;

	for (i = 0; i < 8; i++) {
		x.buf = bufs[i];
		assert_int_equal(ucl_submit(cdc.c, &x, NULL), 0);
	}
	ucl_close(cdc.c);
	st->c[0] = NULL;

	cdc = e2e_cdc_open(st, 0);
	e2e_cdc_echo(&cdc, "fresh");
	/* Nothing else is queued in the device. */
	x.buf = bufs[0];
	assert_int_equal(ucl_submit(cdc.c, &x, &seq), 0);
	e2e_expect_silence(cdc.c, 200);
	assert_int_equal(ucl_unlink(cdc.c, seq, NULL), 0);
	{
		struct ucl_reply r;

		e2e_wait(cdc.c, &r);
		assert_int_equal(r.command, USBIP_RET_UNLINK);
		assert_int_equal(r.status, -USBIP_ECONNRESET);
	}
	assert_true(usblabd_proc_alive(&st->d));
}

static void test_daemon_survived(void **state)
{
	struct e2e *st = *state;

	assert_true(usblabd_proc_alive(&st->d));
	test_devlist(state);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_devlist, e2e_close_all),
	        cmocka_unit_test_teardown(test_import_busy_nodev, e2e_close_all),
	        cmocka_unit_test_teardown(test_devlist_hides_imported, e2e_close_all),
	        cmocka_unit_test_teardown(test_cdc_echo, e2e_close_all),
	        cmocka_unit_test_teardown(test_cdc_pipelined, e2e_close_all),
	        cmocka_unit_test_teardown(test_cdc_unlink_pending, e2e_close_all),
	        cmocka_unit_test_teardown(test_cdc_unlink_completed, e2e_close_all),
	        cmocka_unit_test_teardown(test_cdc_unlink_race, e2e_close_all),
	        cmocka_unit_test_teardown(test_hid_typing, e2e_close_all),
	        cmocka_unit_test_teardown(test_msc_bot, e2e_close_all),
	        cmocka_unit_test_teardown(test_garbage_version, e2e_close_all),
	        cmocka_unit_test_teardown(test_garbage_opcode, e2e_close_all),
	        cmocka_unit_test_teardown(test_garbage_huge_submit, e2e_close_all),
	        cmocka_unit_test_teardown(test_garbage_truncated, e2e_close_all),
	        cmocka_unit_test_teardown(test_disconnect_inflight, e2e_close_all),
	        cmocka_unit_test_teardown(test_daemon_survived, e2e_close_all),
	};

	if (argc > 1)
		setenv("USBLABD", argv[1], 1);
	if (!getenv("USBLABD") || !*getenv("USBLABD")) {
		fprintf(stderr, "test_e2e: set USBLABD to the usblabd executable\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, e2e_group_setup, e2e_group_teardown);
}
