/* SPDX-License-Identifier: MIT */
/*
 * test_sim_cdc.c - the CDC-ACM port: echo through bulk OUT and IN, flow
 * control, class requests, the notification endpoint and scripts.
 */
#include "sim_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EP_NOTIFY 0x81
#define EP_IN     0x82
#define EP_OUT    0x02

static void fill_pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)((i * 7 + seed + (i >> 8)) & 0xff);
}

/* Reads IN URBs of `room` bytes until want bytes came back; every URB
 * must complete at once with data. */
static void read_exact(struct usbip_export *exp, uint8_t *out, size_t want, int32_t room)
{
	size_t got = 0;

	while (got < want) {
		struct usbip_urb *urb = simh_in(exp, EP_IN, room);

		assert_int_equal(simh_completions(urb), 1);
		assert_int_equal(urb->status, 0);
		assert_true(urb->actual_length > 0);
		assert_true(got + (size_t)urb->actual_length <= want);
		memcpy(out + got, urb->data, (size_t)urb->actual_length);
		got += (size_t)urb->actual_length;
		simh_urb_free(urb);
	}
}

/* An IN URB now must stay held (nothing to read), then cancel gives -104. */
static void expect_nothing_then_cancel(struct usbip_export *exp, uint8_t ep)
{
	struct usbip_urb *urb = simh_in(exp, ep, 512);

	assert_int_equal(simh_completions(urb), 0);
	exp->ops->cancel(exp, urb);
	assert_int_equal(simh_completions(urb), 1);
	assert_int_equal(urb->status, -USBIP_ECONNRESET);
	assert_int_equal(urb->actual_length, 0);
	/* A second cancel of a completed URB does nothing. */
	exp->ops->cancel(exp, urb);
	assert_int_equal(simh_completions(urb), 1);
	simh_urb_free(urb);
}

static void expect_text(struct usbip_export *exp, const char *want)
{
	size_t n = strlen(want);
	char got[512] = "";

	assert_true(n < sizeof(got));
	read_exact(exp, (uint8_t *)got, n, 512);
	got[n] = '\0';
	assert_string_equal(got, want);
}

static void send_text(struct usbip_export *exp, const char *s)
{
	assert_int_equal(simh_out(exp, EP_OUT, s, strlen(s)), 0);
}

static void test_echo_in_first(void **state)
{
	struct usbip_export *exp = simh_create("cdc", 1);
	uint8_t data[1000], back[1000];

	(void)state;
	fill_pattern(data, sizeof(data), 1);
	/* cdc_acm keeps read URBs of wMaxPacketSize waiting. */
	struct usbip_urb *in1 = simh_in(exp, EP_IN, 512);
	struct usbip_urb *in2 = simh_in(exp, EP_IN, 512);

	assert_int_equal(simh_completions(in1), 0);
	assert_int_equal(simh_completions(in2), 0);
	assert_int_equal(simh_out(exp, EP_OUT, data, sizeof(data)), 0);
	assert_int_equal(simh_completions(in1), 1);
	assert_int_equal(simh_completions(in2), 1);
	assert_int_equal(in1->actual_length, 512);
	assert_int_equal(in2->actual_length, 488);
	memcpy(back, in1->data, 512);
	memcpy(back + 512, in2->data, 488);
	assert_memory_equal(back, data, sizeof(data));
	simh_urb_free(in1);
	simh_urb_free(in2);
	expect_nothing_then_cancel(exp, EP_IN);
	simh_destroy(exp);
}

static void test_echo_out_first(void **state)
{
	struct usbip_export *exp = simh_create("cdc", 1);
	uint8_t data[3000], back[3000];

	(void)state;
	fill_pattern(data, sizeof(data), 2);
	assert_int_equal(simh_out(exp, EP_OUT, data, 1), 0);
	assert_int_equal(simh_out(exp, EP_OUT, data + 1, sizeof(data) - 1), 0);
	read_exact(exp, back, sizeof(back), 4096);
	assert_memory_equal(back, data, sizeof(data));
	expect_nothing_then_cancel(exp, EP_IN);
	simh_destroy(exp);
}

/* More than the 64 KiB buffer: the OUT URB is held (NAK) until the host
 * reads, and cancel reports how much the device took. */
static void test_flow_control(void **state)
{
	struct usbip_export *exp = simh_create("cdc", 1);
	const size_t n = 100000;
	uint8_t *data = malloc(n), *back = malloc(n);

	(void)state;
	fill_pattern(data, n, 3);
	struct usbip_urb *out = simh_urb(exp, EP_OUT, (int32_t)n);

	memcpy(out->data, data, n);
	assert_int_equal(simh_submit(exp, out), 0);
	assert_int_equal(simh_completions(out), 0);
	assert_int_equal(out->actual_length, 65536); /* taken so far */
	/* Reading makes room: the writer completes once the rest fits. */
	size_t got = 0;

	while (simh_completions(out) == 0) {
		read_exact(exp, back + got, 512, 512);
		got += 512;
		assert_true(got <= n - 65536 + 512);
	}
	assert_true(got >= n - 65536);
	assert_int_equal(out->status, 0);
	assert_int_equal(out->actual_length, (int32_t)n);
	read_exact(exp, back + got, n - got, 512);
	assert_memory_equal(back, data, n);
	expect_nothing_then_cancel(exp, EP_IN);
	simh_urb_free(out);

	/* Fill the buffer, then cancel a second writer part-way. */
	out = simh_urb(exp, EP_OUT, 70000);
	assert_int_equal(simh_submit(exp, out), 0);
	assert_int_equal(simh_completions(out), 0);
	exp->ops->cancel(exp, out);
	assert_int_equal(simh_completions(out), 1);
	assert_int_equal(out->status, -USBIP_ECONNRESET);
	assert_int_equal(out->actual_length, 65536);
	simh_urb_free(out);
	free(data);
	free(back);
	simh_destroy(exp);
}

static void test_line_coding(void **state)
{
	struct usbip_export *exp = simh_create("cdc", 1);
	static const uint8_t want_default[7] = {0x00, 0xc2, 0x01, 0x00, 0, 0, 8};
	static const uint8_t coding_9600_7e2[7] = {0x80, 0x25, 0x00, 0x00, 2, 2, 7};
	uint8_t got[7];
	int32_t n;

	(void)state;
	assert_int_equal(simh_control(exp, 0xa1, 0x21, 0, 0, 7, got, &n), 0);
	assert_int_equal(n, 7);
	assert_memory_equal(got, want_default, 7);
	assert_int_equal(simh_control(exp, 0x21, 0x20, 0, 0, 7, (void *)coding_9600_7e2, &n), 0);
	assert_int_equal(n, 7);
	assert_int_equal(simh_control(exp, 0xa1, 0x21, 0, 0, 7, got, &n), 0);
	assert_memory_equal(got, coding_9600_7e2, 7);
	/* A short SET_LINE_CODING stalls. */
	assert_int_equal(simh_control(exp, 0x21, 0x20, 0, 0, 3, (void *)coding_9600_7e2, &n),
	                 -USBIP_EPIPE);
	assert_int_equal(simh_control(exp, 0x21, 0x22, 0x0003, 0, 0, NULL, &n), 0);
	assert_int_equal(simh_control(exp, 0x21, 0x23, 0xffff, 0, 0, NULL, &n), 0);
	/* Unknown requests and requests to the data interface stall. */
	assert_int_equal(simh_control(exp, 0x21, 0x99, 0, 0, 0, NULL, &n), -USBIP_EPIPE);
	assert_int_equal(simh_control(exp, 0xa1, 0x21, 0, 1, 7, got, &n), -USBIP_EPIPE);
	/* A new import starts from the defaults. */
	exp->ops->close(exp);
	assert_int_equal(exp->ops->open(exp), 0);
	assert_int_equal(simh_control(exp, 0xa1, 0x21, 0, 0, 7, got, &n), 0);
	assert_memory_equal(got, want_default, 7);
	simh_destroy(exp);
}

static void test_notification_endpoint(void **state)
{
	struct usbip_export *exp = simh_create("cdc", 1);
	struct usbip_urb *urb = simh_in(exp, EP_NOTIFY, 16);

	(void)state;
	assert_int_equal(urb->ep_type, USBIP_EP_INT);
	assert_int_equal(simh_completions(urb), 0);
	send_text(exp, "x"); /* data traffic does not wake it */
	assert_int_equal(simh_completions(urb), 0);
	exp->ops->cancel(exp, urb);
	assert_int_equal(simh_completions(urb), 1);
	assert_int_equal(urb->status, -USBIP_ECONNRESET);
	simh_urb_free(urb);
	simh_destroy(exp);
}

/* A port reset ends held URBs (as killed) and empties the buffer. */
static void test_reset_ends_held(void **state)
{
	struct usbip_export *exp = simh_create("cdc", 1);
	struct usbip_urb *urb = simh_in(exp, EP_NOTIFY, 16);

	(void)state;
	send_text(exp, "left over");
	assert_int_equal(exp->ops->reset(exp), 0);
	assert_int_equal(simh_completions(urb), 1);
	assert_int_equal(urb->status, -USBIP_ESHUTDOWN);
	simh_urb_free(urb);
	expect_nothing_then_cancel(exp, EP_IN);
	simh_destroy(exp);
}

static const char script[] = "# usblab test modem\n"
                             "=> hello\\r\\n\n"
                             "AT => OK\\r\\n\n"
                             "  ATI   =>   usblab\\tv1\\r\\n  \r\n"
                             "ping => pong\\n\n"
                             "=> second greeting\\n\n"
                             "quiet =>\n";

static struct usbip_export *script_device(char *path, size_t cap)
{
	char spec[128];
	const char *p = simh_tmpfile(script, strlen(script));

	snprintf(path, cap, "%s", p);
	snprintf(spec, sizeof(spec), "cdc:%s", path);
	return simh_create(spec, 2);
}

static void test_script_answers(void **state)
{
	char path[64];
	struct usbip_export *exp = script_device(path, sizeof(path));
	int32_t n;

	(void)state;
	/* Nothing is said before the port opens. */
	expect_nothing_then_cancel(exp, EP_IN);
	assert_int_equal(simh_control(exp, 0x21, 0x22, 0x0003, 0, 0, NULL, &n), 0);
	expect_text(exp, "hello\r\nsecond greeting\n");
	/* RTS changes alone do not greet again. */
	assert_int_equal(simh_control(exp, 0x21, 0x22, 0x0001, 0, 0, NULL, &n), 0);
	expect_nothing_then_cancel(exp, EP_IN);

	send_text(exp, "AT\r\n"); /* CRLF: the LF goes with the answered line */
	expect_text(exp, "OK\r\n");
	send_text(exp, "ATI\r");
	expect_text(exp, "usblab\tv1\r\n");
	send_text(exp, "ping\n");
	expect_text(exp, "pong\n");
	/* A line split over several URBs. */
	send_text(exp, "pi");
	expect_nothing_then_cancel(exp, EP_IN);
	send_text(exp, "ng\r\n");
	expect_text(exp, "pong\n");
	/* Unmatched input is echoed, with its line ending. */
	send_text(exp, "ATX\r\n");
	expect_text(exp, "ATX\r\n");
	send_text(exp, "hello\n");
	expect_text(exp, "hello\n");
	/* A prefix of a WHEN waits; once it cannot match it is echoed. */
	send_text(exp, "A");
	expect_nothing_then_cancel(exp, EP_IN);
	send_text(exp, "B");
	expect_text(exp, "AB");
	send_text(exp, "\n");
	expect_text(exp, "\n");
	/* An empty SAY answers with silence. */
	send_text(exp, "quiet\n");
	expect_nothing_then_cancel(exp, EP_IN);
	send_text(exp, "\r\n");
	expect_text(exp, "\r\n");

	/* Closing and opening the port (DTR down, up) greets again. */
	assert_int_equal(simh_control(exp, 0x21, 0x22, 0x0000, 0, 0, NULL, &n), 0);
	assert_int_equal(simh_control(exp, 0x21, 0x22, 0x0001, 0, 0, NULL, &n), 0);
	expect_text(exp, "hello\r\nsecond greeting\n");
	simh_destroy(exp);
	unlink(path);
}

/* A script's answers also wait for room: a flood of matching lines is
 * taken only as fast as the host reads the answers. */
static void test_script_flow_control(void **state)
{
	char path[64];
	struct usbip_export *exp = script_device(path, sizeof(path));
	const unsigned lines = 20000; /* 20000 * "OK\r\n" = 80000 bytes > 64 KiB */
	size_t n = (size_t)lines * 4;
	char *flood = malloc(n), *back = malloc(n);

	(void)state;
	for (unsigned i = 0; i < lines; i++)
		memcpy(flood + 4 * i, "AT\r\n", 4);
	struct usbip_urb *out = simh_urb(exp, EP_OUT, (int32_t)n);

	memcpy(out->data, flood, n);
	assert_int_equal(simh_submit(exp, out), 0);
	assert_int_equal(simh_completions(out), 0);
	read_exact(exp, (uint8_t *)back, n, 512);
	assert_int_equal(simh_completions(out), 1);
	for (unsigned i = 0; i < lines; i++)
		assert_memory_equal(back + 4 * i, "OK\r\n", 4);
	simh_urb_free(out);
	free(flood);
	free(back);
	simh_destroy(exp);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_echo_in_first),
	        cmocka_unit_test(test_echo_out_first),
	        cmocka_unit_test(test_flow_control),
	        cmocka_unit_test(test_line_coding),
	        cmocka_unit_test(test_notification_endpoint),
	        cmocka_unit_test(test_reset_ends_held),
	        cmocka_unit_test(test_script_answers),
	        cmocka_unit_test(test_script_flow_control),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
