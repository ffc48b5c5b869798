/* SPDX-License-Identifier: MIT */
/*
 * test_sim_esp32.c - the virtual ESP32 (sim_esp32.h) driven as cdc_acm and
 * esptool drive a real one: identity, the app's banner and echo, the
 * classic reset into the ROM bootloader, SYNC and READ_REG answered byte
 * for byte (SLIP escapes both ways), silence from a running app, and a
 * plain reset back to the app.
 */
#include "sim_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp32.h"

#define EP_IN  0x82
#define EP_OUT 0x02

#define DTR 0x0001
#define RTS 0x0002

static void set_lines(struct usbip_export *exp, uint16_t lines)
{
	int32_t n = -1;

	/* SET_CONTROL_LINE_STATE (PSTN 1.2 §6.3.12) on interface 0. */
	assert_int_equal(simh_control(exp, 0x21, 0x22, lines, 0, 0, NULL, &n), 0);
	assert_int_equal(n, 0);
}

/* Reads everything the device has queued (IN URBs until one is held). */
static size_t read_all(struct usbip_export *exp, uint8_t *out, size_t cap)
{
	size_t got = 0;

	for (;;) {
		struct usbip_urb *urb = simh_in(exp, EP_IN, 512);

		if (simh_completions(urb) == 0) {
			exp->ops->cancel(exp, urb);
			assert_int_equal(urb->status, -USBIP_ECONNRESET);
			simh_urb_free(urb);
			return got;
		}
		assert_int_equal(urb->status, 0);
		assert_true(got + (size_t)urb->actual_length <= cap);
		memcpy(out + got, urb->data, (size_t)urb->actual_length);
		got += (size_t)urb->actual_length;
		simh_urb_free(urb);
	}
}

static void expect_silence(struct usbip_export *exp)
{
	uint8_t buf[64];

	assert_int_equal(read_all(exp, buf, sizeof(buf)), 0);
}

/* Reads what is queued as a NUL-terminated string. */
static void read_text(struct usbip_export *exp, char *out, size_t cap)
{
	size_t n = read_all(exp, (uint8_t *)out, cap - 1);

	out[n] = '\0';
}

static void send_bytes(struct usbip_export *exp, const void *p, size_t n)
{
	assert_int_equal(simh_out(exp, EP_OUT, p, n), 0);
}

static void send_sync(struct usbip_export *exp)
{
	uint8_t frame[128];
	long n = esp32_frame_sync(frame, sizeof(frame));

	assert_true(n > 0);
	send_bytes(exp, frame, (size_t)n);
}

/* esptool's ClassicReset: DTR=0 RTS=1, DTR=1 (RTS still 1), RTS=0, DTR=0,
 * each line set on its own as pyserial does. */
static void classic_reset(struct usbip_export *exp)
{
	set_lines(exp, RTS);
	set_lines(exp, DTR | RTS);
	set_lines(exp, DTR);
	set_lines(exp, 0);
}

static void to_rom(struct usbip_export *exp)
{
	char text[512];

	classic_reset(exp);
	read_text(exp, text, sizeof(text));
	assert_non_null(strstr(text, "waiting for download\r\n"));
}

static void test_identity(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 7);

	(void)state;
	assert_int_equal(exp->info.idVendor, 0x303a);
	assert_int_equal(exp->info.idProduct, 0x1001);
	assert_string_equal(sim_serial(exp), "USBLAB-ESP32-7");
	assert_int_equal(exp->info.bNumInterfaces, 2);
	simh_destroy(exp);
}

static void test_banner_on_open_and_echo(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 1);
	char text[1024];

	(void)state;
	expect_silence(exp);       /* nothing before the port is opened */
	set_lines(exp, DTR | RTS); /* what the tty layer does on open */
	read_text(exp, text, sizeof(text));
	assert_true(strncmp(text, "ESP-ROM:esp32s3-20210327\r\n", 26) == 0);
	assert_non_null(strstr(text, "main_task: Calling app_main()\r\n"));
	send_bytes(exp, "hello\r\n", 7);
	read_text(exp, text, sizeof(text));
	assert_string_equal(text, "hello\r\n");
	/* Opened again (DTR down and up): the banner again, no reset. */
	set_lines(exp, 0);
	set_lines(exp, DTR | RTS);
	read_text(exp, text, sizeof(text));
	assert_non_null(strstr(text, "app_main()"));
	assert_null(strstr(text, "waiting for download"));
	simh_destroy(exp);
}

/* Line sequences as esptool's reset strategies (reset.py) run them, one
 * pyserial call per change (calls that change nothing are left out), and
 * where each leaves the chip. */
static const struct {
	const char *what;
	uint16_t lines[8];
	size_t n;
	bool rom;
} line_seqs[] = {
        {"ClassicReset, port closed", {RTS, DTR | RTS, DTR, 0}, 4, true},
        {"ClassicReset after open", {DTR | RTS, RTS, DTR | RTS, DTR, 0}, 5, true},
        /* setRTS(0) setDTR(0) setDTR(1) setRTS(1) setDTR(0) setRTS(0): the
         * reset is entered from DTR=1 RTS=1, the download request. */
        {"USBJTAGSerialReset after open", {DTR | RTS, DTR, 0, DTR, DTR | RTS, RTS, 0}, 7, true},
        {"HardReset (RTS pulse, DTR=0)", {RTS, 0}, 2, false},
        {"RTS pulse after open: no reset", {DTR | RTS, DTR, DTR | RTS}, 3, false},
};

static void test_reset_sequences(void **state)
{
	char text[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(line_seqs) / sizeof(line_seqs[0]); i++) {
		struct usbip_export *exp = simh_create("esp32", 1);
		bool rom;

		for (size_t k = 0; k < line_seqs[i].n; k++)
			set_lines(exp, line_seqs[i].lines[k]);
		read_text(exp, text, sizeof(text));
		rom = strstr(text, "waiting for download\r\n") != NULL;
		if (rom != line_seqs[i].rom)
			fail_msg("%s: in %s, want %s", line_seqs[i].what,
			         rom ? "the ROM" : "the app",
			         line_seqs[i].rom ? "the ROM" : "the app");
		/* The ROM answers SYNC; the app echoes it (a request, 0x00). */
		uint8_t back[1024];

		send_sync(exp);
		size_t n = read_all(exp, back, sizeof(back));

		assert_true(n > 2);
		assert_int_equal(back[1], line_seqs[i].rom ? 0x01 : 0x00);
		simh_destroy(exp);
	}
}

static void test_app_ignores_sync(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 1);
	uint8_t frame[128], back[1024];
	long n = esp32_frame_sync(frame, sizeof(frame));

	(void)state;
	set_lines(exp, DTR | RTS);
	read_all(exp, back, sizeof(back)); /* the banner */
	send_sync(exp);
	/* The app echoes what it gets (it is no ROM): the frame, no reply. */
	assert_int_equal(read_all(exp, back, sizeof(back)), n);
	assert_memory_equal(back, frame, (size_t)n);
	simh_destroy(exp);
}

static void test_reset_sequence_enters_rom_and_syncs(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 1);
	uint8_t back[1024];
	/* The ROM's SYNC reply: 01 08, length 4, value 0x20120707, status 0. */
	const uint8_t reply[] = {0xc0, 0x01, 0x08, 0x04, 0x00, 0x07, 0x07,
	                         0x12, 0x20, 0x00, 0x00, 0x00, 0x00, 0xc0};

	(void)state;
	to_rom(exp);
	send_sync(exp);
	size_t n = read_all(exp, back, sizeof(back));

	assert_int_equal(n, ESP32_ROM_SYNC_REPLIES * sizeof(reply));
	for (size_t i = 0; i < ESP32_ROM_SYNC_REPLIES; i++)
		assert_memory_equal(back + i * sizeof(reply), reply, sizeof(reply));

	/* Byte by byte, across many OUT URBs: the same answer. */
	uint8_t frame[128];
	long fn = esp32_frame_sync(frame, sizeof(frame));

	for (long i = 0; i < fn; i++)
		send_bytes(exp, frame + i, 1);
	assert_int_equal(read_all(exp, back, sizeof(back)), ESP32_ROM_SYNC_REPLIES * sizeof(reply));
	/* Echo is off in the ROM: text gets nothing back. */
	send_bytes(exp, "hello\r\n", 7);
	expect_silence(exp);
	simh_destroy(exp);
}

/* Sends request packet req in ROM mode and expects exactly one reply
 * frame, to op req->op with ROM status want_status; returns its value. */
static uint32_t rom_command(struct usbip_export *exp, const struct esp32_packet *req,
                            uint8_t want_status)
{
	uint8_t frame[64], back[256];
	long n = esp32_frame(0, req, frame, sizeof(frame));
	struct esp32_slip_rx rx;
	struct esp32_packet p = {0};
	int frames = 0;

	assert_true(n > 0);
	send_bytes(exp, frame, (size_t)n);
	size_t got = read_all(exp, back, sizeof(back));

	esp32_slip_rx_init(&rx);
	for (size_t i = 0; i < got; i++) {
		if (esp32_slip_rx_byte(&rx, back[i]) == 1) {
			frames++;
			assert_int_equal(esp32_parse(1, rx.buf, rx.len, &p), ESP32_OK);
			assert_int_equal(p.op, req->op);
			assert_int_equal(esp32_rom_status(&p), want_status);
		}
	}
	assert_int_equal(frames, 1);
	return p.word;
}

/* Reads register addr through the ROM; returns the reply's value. */
static uint32_t read_reg(struct usbip_export *exp, uint32_t addr)
{
	const uint8_t data[4] = {(uint8_t)addr, (uint8_t)(addr >> 8), (uint8_t)(addr >> 16),
	                         (uint8_t)(addr >> 24)};
	const struct esp32_packet req = {.op = ESP32_OP_READ_REG, .data = data, .len = 4};

	return rom_command(exp, &req, 0);
}

static void test_read_reg_mac(void **state)
{
	/* Index 0xc0: the MAC's last byte is SLIP's END, so the MAC0 word
	 * travels escaped (DB DC) in the reply. */
	struct usbip_export *exp = simh_create("esp32", 0xc0);
	uint8_t mac[6];
	const uint8_t want[6] = {0x3c, 0x61, 0x05, 0xaa, 0xbb, 0xc0};

	(void)state;
	to_rom(exp);
	uint32_t mac0 = read_reg(exp, ESP32_REG_MAC0);
	uint32_t mac1 = read_reg(exp, ESP32_REG_MAC1);

	assert_int_equal(mac0, 0x05aabbc0u);
	assert_int_equal(mac1, 0x00003c61u);
	esp32_mac_from_efuse(mac0, mac1, mac);
	assert_memory_equal(mac, want, sizeof(want));
	assert_int_equal(read_reg(exp, 0x40001000u), 0); /* other registers read 0 */
	simh_destroy(exp);

	/* Index 0xdb: the other escape. */
	exp = simh_create("esp32", 0xdb);
	to_rom(exp);
	assert_int_equal(read_reg(exp, ESP32_REG_MAC0), 0x05aabbdbu);
	simh_destroy(exp);
}

static void test_unknown_command_fails(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 1);
	const uint8_t data[4] = {0};
	const struct esp32_packet unknown = {.op = 0x99, .data = data, .len = 4};
	const struct esp32_packet short_read = {.op = ESP32_OP_READ_REG, .data = data, .len = 3};

	(void)state;
	to_rom(exp);
	rom_command(exp, &unknown, ESP32_ERR_INVALID);
	rom_command(exp, &short_read, ESP32_ERR_INVALID); /* READ_REG wants 4 bytes */
	simh_destroy(exp);
}

static void test_plain_reset_returns_to_app(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 1);
	char text[1024];
	uint8_t back[256];

	(void)state;
	to_rom(exp);
	/* RTS pulse with DTR=0: EN low, then released with IO0 high. */
	set_lines(exp, RTS);
	expect_silence(exp); /* in reset: no output */
	send_bytes(exp, "lost\r\n", 6);
	set_lines(exp, 0);
	read_text(exp, text, sizeof(text));
	assert_non_null(strstr(text, "main_task: Calling app_main()"));
	assert_null(strstr(text, "lost")); /* what came during the reset is gone */
	send_sync(exp);
	/* Echoed, not answered: the first byte back is the request's 00. */
	assert_true(read_all(exp, back, sizeof(back)) > 2);
	assert_int_equal(back[1], 0x00);
	simh_destroy(exp);
}

/* Imports and USB port resets reset the USB side, not the chip: the ROM
 * stays for the next client; the app stays the app. */
static void test_mode_survives_import_and_port_reset(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 1);
	uint8_t back[1024];

	(void)state;
	to_rom(exp);
	assert_int_equal(exp->ops->reset(exp), 0);
	send_sync(exp);
	assert_int_equal(read_all(exp, back, sizeof(back)), ESP32_ROM_SYNC_REPLIES * 14);
	exp->ops->close(exp); /* the client detaches, another imports */
	assert_int_equal(exp->ops->open(exp), USBIP_ST_OK);
	send_sync(exp);
	assert_int_equal(read_all(exp, back, sizeof(back)), ESP32_ROM_SYNC_REPLIES * 14);
	assert_int_equal(back[1], 0x01);
	simh_destroy(exp);

	/* The app across an import: opening shows its banner, SYNC echoes. */
	exp = simh_create("esp32", 1);
	exp->ops->close(exp);
	assert_int_equal(exp->ops->open(exp), USBIP_ST_OK);
	set_lines(exp, DTR | RTS);
	read_all(exp, back, sizeof(back));
	send_sync(exp);
	assert_true(read_all(exp, back, sizeof(back)) > 2);
	assert_int_equal(back[1], 0x00);
	simh_destroy(exp);
}

/* A port reset while the lines hold the chip in reset: the lines drop, the
 * chip boots (into the ROM when it was asked for). */
static void test_port_reset_releases_reset(void **state)
{
	struct usbip_export *exp = simh_create("esp32", 1);
	char text[1024];

	(void)state;
	set_lines(exp, DTR | RTS);
	read_text(exp, text, sizeof(text));
	set_lines(exp, RTS); /* held in reset, entered from DTR=1 RTS=1 */
	assert_int_equal(exp->ops->reset(exp), 0);
	read_text(exp, text, sizeof(text));
	assert_non_null(strstr(text, "waiting for download"));
	simh_destroy(exp);

	exp = simh_create("esp32", 1);
	set_lines(exp, RTS); /* held in reset from closed: no request */
	assert_int_equal(exp->ops->reset(exp), 0);
	read_text(exp, text, sizeof(text));
	assert_non_null(strstr(text, "app_main()"));
	simh_destroy(exp);
}

static void test_spec_rejects_argument(void **state)
{
	struct usbip_export *exp = NULL;
	char err[256];

	(void)state;
	assert_int_equal(sim_create("esp32:x", 1, &exp, err, sizeof(err)), -1);
	assert_null(exp);
	assert_non_null(strstr(err, "esp32 takes no argument"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_identity),
	        cmocka_unit_test(test_banner_on_open_and_echo),
	        cmocka_unit_test(test_reset_sequences),
	        cmocka_unit_test(test_app_ignores_sync),
	        cmocka_unit_test(test_reset_sequence_enters_rom_and_syncs),
	        cmocka_unit_test(test_read_reg_mac),
	        cmocka_unit_test(test_unknown_command_fails),
	        cmocka_unit_test(test_plain_reset_returns_to_app),
	        cmocka_unit_test(test_mode_survives_import_and_port_reset),
	        cmocka_unit_test(test_port_reset_releases_reset),
	        cmocka_unit_test(test_spec_rejects_argument),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
