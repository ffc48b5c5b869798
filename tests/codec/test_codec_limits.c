/* SPDX-License-Identifier: MIT */
/*
 * test_codec_limits.c - every named limit and every error path, both ways.
 *
 * Each limit is tested at the limit (accepted) and one past it (refused),
 * as SQLite tests its boundaries; errors are the exact usbip_err values the
 * header promises. Messages are built here field by field at the offsets of
 * shared/docs/usbip-protocol.md, with a local big-endian writer, so the
 * codec's own helpers are not trusted to build its inputs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "guard.h"
#include "usbip.h"

static void wr16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* A CMD_SUBMIT header (§3.1, §3.2) from devid 1-2, ep 1. */
static void mk_cmd_submit(uint8_t b[48], uint32_t dir, uint32_t tbl, uint32_t np)
{
	memset(b, 0, 48);
	wr32(b + 0x00, USBIP_CMD_SUBMIT);
	wr32(b + 0x04, 9);
	wr32(b + 0x08, 0x00010002);
	wr32(b + 0x0c, dir);
	wr32(b + 0x10, 1);
	wr32(b + 0x18, tbl);
	wr32(b + 0x20, np);
}

/* A RET_SUBMIT header (§3.2). */
static void mk_ret_submit(uint8_t b[48], uint32_t actual, uint32_t np)
{
	memset(b, 0, 48);
	wr32(b + 0x00, USBIP_RET_SUBMIT);
	wr32(b + 0x04, 9);
	wr32(b + 0x18, actual);
	wr32(b + 0x20, np);
}

/* A device record (§2.3) with the given interface count and strings. */
static void mk_device(uint8_t *rec, const char *path, const char *busid, uint8_t nif)
{
	memset(rec, 0, USBIP_DEVICE_SIZE);
	memcpy(rec, path, strlen(path));
	memcpy(rec + 0x100, busid, strlen(busid));
	wr32(rec + 0x120, 3);
	wr32(rec + 0x124, 7);
	wr32(rec + 0x128, USBIP_SPEED_HIGH);
	wr16(rec + 0x12c, 0x1234);
	wr16(rec + 0x12e, 0x5678);
	wr16(rec + 0x130, 0x0200);
	rec[0x135] = 1;
	rec[0x136] = 1;
	rec[0x137] = nif;
}

/* A frame size that says the message can never be valid. */
static void assert_frame_refused(long r)
{
	if (r >= 0 || r == USBIP_E_NEED_MORE)
		fail_msg("frame size %ld, want a definite error", r);
}

/* ---- transfer_buffer_length / actual_length ------------------------------ */

static void test_transfer_buffer_length(void **state)
{
	(void)state;
	uint8_t b[48];
	struct usbip_header h;
	static const uint32_t ok[] = {0, 1, USBIP_MAX_TRANSFER - 1, USBIP_MAX_TRANSFER};
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		mk_cmd_submit(b, USBIP_DIR_OUT, ok[i], 0);
		assert_int_equal(usbip_decode_header(b, 48, &h), 48);
		assert_int_equal(h.u.cmd_submit.transfer_buffer_length, (int32_t)ok[i]);
		assert_int_equal(usbip_cmd_submit_payload_size(&h, false), (long)ok[i]);
		assert_int_equal(usbip_frame_size(b, 48, 0), 48 + (long)ok[i]);
		/* IN carries no payload, whatever the length (§3.3). */
		mk_cmd_submit(b, USBIP_DIR_IN, ok[i], 0);
		assert_int_equal(usbip_decode_header(b, 48, &h), 48);
		assert_int_equal(usbip_cmd_submit_payload_size(&h, false), 0);
		assert_int_equal(usbip_frame_size(b, 48, 0), 48);
	}
	static const uint32_t over[] = {USBIP_MAX_TRANSFER + 1, 0x7fffffff};
	for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		for (uint32_t dir = 0; dir <= 1; dir++) {
			mk_cmd_submit(b, dir, over[i], 0);
			assert_int_equal(usbip_decode_header(b, 48, &h), USBIP_E_LIMIT);
			assert_frame_refused(usbip_frame_size(b, 48, 0));
		}
	}
	static const uint32_t negative[] = {0xffffffff, 0x80000000, 0xfffffff0};
	for (size_t i = 0; i < sizeof(negative) / sizeof(negative[0]); i++) {
		for (uint32_t dir = 0; dir <= 1; dir++) {
			mk_cmd_submit(b, dir, negative[i], 0);
			assert_int_equal(usbip_decode_header(b, 48, &h), USBIP_E_INVALID);
			assert_frame_refused(usbip_frame_size(b, 48, 0));
		}
	}
}

static void test_ret_submit_actual_length(void **state)
{
	(void)state;
	uint8_t b[48];
	struct usbip_header h;

	mk_ret_submit(b, USBIP_MAX_TRANSFER, 0);
	assert_int_equal(usbip_decode_header(b, 48, &h), 48);
	assert_int_equal(usbip_ret_submit_payload_size(&h, true, false), USBIP_MAX_TRANSFER);
	assert_int_equal(usbip_ret_submit_payload_size(&h, false, false), 0);
	assert_int_equal(usbip_frame_size(b, 48, USBIP_FRAME_DIR_IN),
	                 48 + (long)USBIP_MAX_TRANSFER);

	mk_ret_submit(b, USBIP_MAX_TRANSFER + 1, 0);
	if (usbip_decode_header(b, 48, &h) == 48) {
		assert_int_equal(usbip_ret_submit_payload_size(&h, true, false), USBIP_E_LIMIT);
	}
	assert_frame_refused(usbip_frame_size(b, 48, USBIP_FRAME_DIR_IN));

	mk_ret_submit(b, 0xffffffff, 0);
	if (usbip_decode_header(b, 48, &h) == 48) {
		assert_int_equal(usbip_ret_submit_payload_size(&h, true, false), USBIP_E_INVALID);
	}
	assert_frame_refused(usbip_frame_size(b, 48, USBIP_FRAME_DIR_IN));
}

/* ---- number_of_packets (§3.4, §3.5) --------------------------------------- */

static void test_iso_packets(void **state)
{
	(void)state;
	uint8_t b[48];
	struct usbip_header h;
	static const struct {
		uint32_t np;
		long descs; /* descriptor bytes, or -1 when refused */
	} cases[] = {
	        {0, 0},
	        {1, 16},
	        {USBIP_MAX_ISO_PACKETS - 1, 16L * (USBIP_MAX_ISO_PACKETS - 1)},
	        {USBIP_MAX_ISO_PACKETS, 16L * USBIP_MAX_ISO_PACKETS},
	        {USBIP_MAX_ISO_PACKETS + 1, -1},
	        {0xffffffff, -1}, /* -1 */
	        {0x80000000, -1},
	        {0x7fffffff, -1},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t np = cases[i].np;
		for (uint32_t dir = 0; dir <= 1; dir++) {
			long data = dir == USBIP_DIR_OUT ? 100 : 0;
			mk_cmd_submit(b, dir, 100, np);
			/* The header decoder does not judge np (§3.5). */
			assert_int_equal(usbip_decode_header(b, 48, &h), 48);
			assert_int_equal(h.u.cmd_submit.number_of_packets, (int32_t)np);
			/* Non-ISO: np is ignored, whatever it holds. */
			assert_int_equal(usbip_cmd_submit_payload_size(&h, false), data);
			assert_int_equal(usbip_frame_size(b, 48, 0), 48 + data);
			if (cases[i].descs < 0) {
				assert_int_equal(usbip_cmd_submit_payload_size(&h, true),
				                 USBIP_E_LIMIT);
				assert_frame_refused(usbip_frame_size(b, 48, USBIP_FRAME_ISO));
			} else {
				assert_int_equal(usbip_cmd_submit_payload_size(&h, true),
				                 data + cases[i].descs);
				assert_int_equal(usbip_frame_size(b, 48, USBIP_FRAME_ISO),
				                 48 + data + cases[i].descs);
			}
		}

		/* RET_SUBMIT ISO IN with 40 bytes of data. */
		mk_ret_submit(b, 40, np);
		assert_int_equal(usbip_decode_header(b, 48, &h), 48);
		assert_int_equal(usbip_ret_submit_payload_size(&h, true, false), 40);
		assert_int_equal(usbip_ret_submit_payload_size(&h, false, false), 0);
		unsigned f = USBIP_FRAME_ISO | USBIP_FRAME_DIR_IN;
		if (cases[i].descs < 0) {
			long r = usbip_ret_submit_payload_size(&h, true, true);
			assert_true(r < 0 && r != USBIP_E_NEED_MORE);
			if (np == USBIP_MAX_ISO_PACKETS + 1)
				assert_int_equal(r, USBIP_E_LIMIT);
			assert_frame_refused(usbip_frame_size(b, 48, f));
		} else {
			assert_int_equal(usbip_ret_submit_payload_size(&h, true, true),
			                 40 + cases[i].descs);
			assert_int_equal(usbip_ret_submit_payload_size(&h, false, true),
			                 cases[i].descs);
			assert_int_equal(usbip_frame_size(b, 48, f), 48 + 40 + cases[i].descs);
		}
	}
}

/* A direction field other than 0 or 1 is not defined by the protocol; the
 * frame size and the payload size must at least agree on it. */
static void test_odd_direction_consistent(void **state)
{
	(void)state;
	uint8_t b[48];
	struct usbip_header h;
	static const uint32_t dirs[] = {2, 0x80, 0xffffffff};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		mk_cmd_submit(b, dirs[i], 64, 0);
		long fs = usbip_frame_size(b, 48, 0);
		long r = usbip_decode_header(b, 48, &h);
		if (r == 48) {
			long p = usbip_cmd_submit_payload_size(&h, false);
			if (p >= 0)
				assert_int_equal(fs, 48 + p);
			else
				assert_frame_refused(fs);
		} else {
			assert_true(r < 0 && r != USBIP_E_NEED_MORE);
			assert_frame_refused(fs);
		}
	}
}

/* ---- DEVLIST: ndev and bNumInterfaces ------------------------------------ */

static void mk_devlist_header(uint8_t b[12], uint32_t ndev)
{
	wr16(b, USBIP_VERSION);
	wr16(b + 2, USBIP_OP_REP_DEVLIST);
	wr32(b + 4, USBIP_ST_OK);
	wr32(b + 8, ndev);
}

static void test_devlist_ndev(void **state)
{
	(void)state;
	uint8_t b[12];
	uint32_t ndev = 0;

	mk_devlist_header(b, 0);
	assert_int_equal(usbip_decode_op_rep_devlist_header(b, 12, &ndev), 12);
	assert_int_equal(ndev, 0);
	assert_int_equal(usbip_frame_size(b, 12, 0), 12);

	mk_devlist_header(b, USBIP_MAX_DEVLIST);
	assert_int_equal(usbip_decode_op_rep_devlist_header(b, 12, &ndev), 12);
	assert_int_equal(ndev, USBIP_MAX_DEVLIST);
	/* The size depends on records not read yet. */
	assert_int_equal(usbip_frame_size(b, 12, 0), USBIP_E_NEED_MORE);

	static const uint32_t over[] = {USBIP_MAX_DEVLIST + 1, 0x7fffffff, 0xffffffff};
	for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		mk_devlist_header(b, over[i]);
		assert_int_equal(usbip_decode_op_rep_devlist_header(b, 12, &ndev), USBIP_E_LIMIT);
		assert_frame_refused(usbip_frame_size(b, 12, 0));
	}
}

/* A reply with USBIP_MAX_DEVLIST devices of nif interfaces each: the frame
 * size walks all of them, at every device boundary. */
static void devlist_full(uint8_t nif)
{
	size_t rec = USBIP_DEVICE_SIZE + 4u * nif;
	size_t total = 12 + (size_t)USBIP_MAX_DEVLIST * rec;
	uint8_t *b = calloc(1, total);
	assert_non_null(b);
	mk_devlist_header(b, USBIP_MAX_DEVLIST);
	for (size_t i = 0; i < USBIP_MAX_DEVLIST; i++) {
		uint8_t *r = b + 12 + i * rec;
		mk_device(r, "/sys/devices/platform/dummy", "9-1", nif);
		for (unsigned j = 0; j < nif; j++)
			r[USBIP_DEVICE_SIZE + 4 * j] = (uint8_t)j;
	}
	assert_int_equal(usbip_frame_size(b, total, 0), (long)total);
	for (size_t i = 0; i < USBIP_MAX_DEVLIST; i++) {
		size_t cut = 12 + i * rec + USBIP_DEVICE_SIZE;
		long r = usbip_frame_size(b, cut, 0);
		assert_true(r == USBIP_E_NEED_MORE || r == (long)total);
	}
	uint32_t ndev;
	size_t off = 12;
	assert_int_equal(usbip_decode_op_rep_devlist_header(b, total, &ndev), 12);
	for (uint32_t i = 0; i < ndev; i++) {
		struct usbip_usb_device d;
		struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
		assert_int_equal(usbip_decode_usb_device(b + off, total - off, &d, ifs, true),
		                 (long)rec);
		off += rec;
	}
	assert_int_equal(off, total);
	free(b);
}

static void test_devlist_max_devices(void **state)
{
	(void)state;
	devlist_full(0);
	devlist_full(USBIP_MAX_INTERFACES);
}

static void test_interfaces_limit(void **state)
{
	(void)state;
	uint8_t b[12 + USBIP_DEVICE_SIZE + 4 * 255];
	uint8_t *rec = b + 12;
	struct usbip_usb_device d;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];

	for (unsigned nif = 0; nif <= 255; nif++) {
		size_t len = USBIP_DEVICE_SIZE + 4u * nif;
		mk_devlist_header(b, 1);
		mk_device(rec, "/sys/x", "1-1", (uint8_t)nif);
		for (unsigned j = 0; j < nif; j++) {
			rec[USBIP_DEVICE_SIZE + 4 * j] = (uint8_t)(0x10 + j);
			rec[USBIP_DEVICE_SIZE + 4 * j + 1] = (uint8_t)j;
			rec[USBIP_DEVICE_SIZE + 4 * j + 2] = (uint8_t)(0xff - j);
			rec[USBIP_DEVICE_SIZE + 4 * j + 3] = 0;
		}
		long r = usbip_decode_usb_device(rec, len, &d, ifs, true);
		if (nif <= USBIP_MAX_INTERFACES) {
			assert_int_equal(r, (long)len);
			assert_int_equal(d.bNumInterfaces, nif);
			for (unsigned j = 0; j < nif; j++) {
				assert_int_equal(ifs[j].bInterfaceClass, 0x10 + j);
				assert_int_equal(ifs[j].bInterfaceSubClass, j);
				assert_int_equal(ifs[j].bInterfaceProtocol, 0xff - j);
			}
			assert_int_equal(usbip_frame_size(b, 12 + len, 0), (long)(12 + len));
		} else {
			assert_int_equal(r, USBIP_E_LIMIT);
			assert_frame_refused(usbip_frame_size(b, 12 + len, 0));
		}
	}
}

/* ---- strings --------------------------------------------------------------- */

static void test_busid_termination(void **state)
{
	(void)state;
	uint8_t b[40];
	char busid[USBIP_BUSID_SIZE];

	memset(b, 0, sizeof(b));
	wr16(b, USBIP_VERSION);
	wr16(b + 2, USBIP_OP_REQ_IMPORT);
	/* 31 characters and the NUL in the last byte: accepted. */
	memset(b + 8, 'x', 31);
	assert_int_equal(usbip_decode_op_req_import(b, 40, busid), 40);
	assert_int_equal(strlen(busid), 31);
	assert_int_equal(usbip_frame_size(b, 40, 0), 40);
	/* 32 characters, no NUL: refused. */
	b[39] = 'x';
	assert_int_equal(usbip_decode_op_req_import(b, 40, busid), USBIP_E_INVALID);
	/* Bytes after the NUL are padding and do not matter. */
	memset(b + 8, 0, 32);
	memcpy(b + 8, "1-1", 3);
	memset(b + 12, 'z', 28);
	assert_int_equal(usbip_decode_op_req_import(b, 40, busid), 40);
	assert_string_equal(busid, "1-1");
}

static void test_device_string_termination(void **state)
{
	(void)state;
	uint8_t b[8 + USBIP_DEVICE_SIZE];
	uint8_t *rec = b + 8;
	char path[USBIP_PATH_SIZE + 1];
	char busid[USBIP_BUSID_SIZE + 1];
	struct usbip_usb_device d;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
	uint32_t status;

	memset(b, 0, 8);
	wr16(b, USBIP_VERSION);
	wr16(b + 2, USBIP_OP_REP_IMPORT);

	memset(path, 'p', sizeof(path));
	memset(busid, 'b', sizeof(busid));
	path[255] = '\0';
	busid[31] = '\0';
	/* Longest strings that fit with their NUL. */
	mk_device(rec, path, busid, 0);
	assert_int_equal(usbip_decode_usb_device(rec, USBIP_DEVICE_SIZE, &d, ifs, true), 312);
	assert_int_equal(strlen(d.path), 255);
	assert_int_equal(strlen(d.busid), 31);
	assert_int_equal(usbip_decode_op_rep_import(b, sizeof(b), &status, &d), 320);

	/* path without NUL. */
	path[255] = 'p';
	path[256] = '\0';
	mk_device(rec, path, "1-1", 0);
	assert_int_equal(usbip_decode_usb_device(rec, USBIP_DEVICE_SIZE, &d, ifs, true),
	                 USBIP_E_INVALID);
	assert_int_equal(usbip_decode_usb_device(rec, USBIP_DEVICE_SIZE, &d, NULL, false),
	                 USBIP_E_INVALID);
	assert_int_equal(usbip_decode_op_rep_import(b, sizeof(b), &status, &d), USBIP_E_INVALID);

	/* busid without NUL. */
	busid[31] = 'b';
	busid[32] = '\0';
	mk_device(rec, "/sys/x", busid, 0);
	assert_int_equal(usbip_decode_usb_device(rec, USBIP_DEVICE_SIZE, &d, ifs, true),
	                 USBIP_E_INVALID);
	assert_int_equal(usbip_decode_op_rep_import(b, sizeof(b), &status, &d), USBIP_E_INVALID);
}

/* An encoder must not put a string on the wire that cannot carry its NUL:
 * the peer would refuse it, or match a different device. */
static void test_encode_string_too_long(void **state)
{
	(void)state;
	uint8_t out[8 + 512];
	char s[300];

	memset(s, 'x', 31);
	s[31] = '\0';
	assert_int_equal(usbip_encode_op_req_import(out, sizeof(out), s), 40);
	s[31] = 'x';
	s[32] = '\0';
	assert_int_equal(usbip_encode_op_req_import(out, sizeof(out), s), USBIP_E_INVALID);

	struct usbip_usb_device d;
	memset(&d, 0, sizeof(d));
	memset(d.path, 'p', sizeof(d.path) - 1);
	strcpy(d.busid, "1-1");
	assert_int_equal(usbip_encode_usb_device(out, sizeof(out), &d, NULL, 0), 312);
	/* A struct with no NUL in path (callers fill it with strncpy). */
	memset(d.path, 'p', sizeof(d.path));
	assert_int_equal(usbip_encode_usb_device(out, sizeof(out), &d, NULL, 0), USBIP_E_INVALID);
}

/* ---- codes and versions ----------------------------------------------------- */

static void test_unknown_command(void **state)
{
	(void)state;
	uint8_t b[48];
	struct usbip_header h;
	static const uint32_t bad[] = {0, 5, 6, 0x100, 0x80000001, 0xffffffff};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mk_cmd_submit(b, 0, 0, 0);
		wr32(b, bad[i]);
		assert_int_equal(usbip_decode_header(b, 48, &h), USBIP_E_CODE);
		if (bad[i] <= 0xffff) /* first two bytes 00 00: a URB PDU (§3.1) */
			assert_int_equal(usbip_frame_size(b, 48, 0), USBIP_E_CODE);
		else
			assert_frame_refused(usbip_frame_size(b, 48, 0));
	}
}

static void test_op_codes(void **state)
{
	(void)state;
	uint8_t b[8 + USBIP_DEVICE_SIZE + 32];
	struct usbip_op_common op;
	char busid[USBIP_BUSID_SIZE];
	uint32_t v32;
	struct usbip_usb_device d;

	/* DEVINFO, CRYPKEY, EXPORT, UNEXPORT and unknown codes: declared only
	 * (§2.1), so no frame size can be given. op_common does not judge. */
	static const uint16_t unknown[] = {0x8002, 0x8004, 0x8006, 0x8007, 0x0002, 0x8000, 0xffff};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		memset(b, 0, sizeof(b));
		wr16(b, USBIP_VERSION);
		wr16(b + 2, unknown[i]);
		assert_int_equal(usbip_decode_op_common(b, 8, &op), 8);
		assert_int_equal(op.code, unknown[i]);
		assert_int_equal(usbip_frame_size(b, sizeof(b), 0), USBIP_E_CODE);
	}

	/* Each OP decoder refuses the other messages' codes. */
	memset(b, 0, sizeof(b));
	wr16(b, USBIP_VERSION);
	mk_device(b + 8, "/sys/x", "1-1", 0);
	wr16(b + 2, USBIP_OP_REQ_DEVLIST);
	assert_int_equal(usbip_decode_op_req_import(b, sizeof(b), busid), USBIP_E_CODE);
	wr16(b + 2, USBIP_OP_REP_IMPORT);
	assert_int_equal(usbip_decode_op_req_import(b, sizeof(b), busid), USBIP_E_CODE);
	assert_int_equal(usbip_decode_op_rep_devlist_header(b, sizeof(b), &v32), USBIP_E_CODE);
	wr16(b + 2, USBIP_OP_REP_DEVLIST);
	assert_int_equal(usbip_decode_op_rep_import(b, sizeof(b), &v32, &d), USBIP_E_CODE);
	wr16(b + 2, USBIP_OP_REQ_IMPORT);
	assert_int_equal(usbip_decode_op_rep_import(b, sizeof(b), &v32, &d), USBIP_E_CODE);
	assert_int_equal(usbip_decode_op_rep_devlist_header(b, sizeof(b), &v32), USBIP_E_CODE);
}

static void test_version(void **state)
{
	(void)state;
	uint8_t b[8 + USBIP_DEVICE_SIZE + 32];
	struct usbip_op_common op;
	char busid[USBIP_BUSID_SIZE];
	uint32_t v32;
	struct usbip_usb_device d;
	static const uint16_t bad[] = {0x0000, 0x0100, 0x0110, 0x0112, 0x0011,
	                               0x1101, 0x0211, 0x8111, 0xffff};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(b, 0, sizeof(b));
		mk_device(b + 8, "/sys/x", "1-1", 0);
		wr16(b, bad[i]);
		wr16(b + 2, USBIP_OP_REQ_DEVLIST);
		assert_int_equal(usbip_decode_op_common(b, 8, &op), USBIP_E_VERSION);
		wr16(b + 2, USBIP_OP_REQ_IMPORT);
		assert_int_equal(usbip_decode_op_req_import(b, sizeof(b), busid), USBIP_E_VERSION);
		wr16(b + 2, USBIP_OP_REP_IMPORT);
		assert_int_equal(usbip_decode_op_rep_import(b, sizeof(b), &v32, &d),
		                 USBIP_E_VERSION);
		wr16(b + 2, USBIP_OP_REP_DEVLIST);
		assert_int_equal(usbip_decode_op_rep_devlist_header(b, sizeof(b), &v32),
		                 USBIP_E_VERSION);
		/* 00 00 is a URB PDU (§3.1): its frame size is the URB's affair. */
		if (bad[i] != 0x0000)
			assert_frame_refused(usbip_frame_size(b, sizeof(b), 0));
	}
	/* And 0x0111 itself passes, with the code and status as sent. */
	wr16(b, USBIP_VERSION);
	wr16(b + 2, USBIP_OP_REP_IMPORT);
	wr32(b + 4, 0xdeadbeef);
	assert_int_equal(usbip_decode_op_common(b, 8, &op), 8);
	assert_int_equal(op.version, 0x0111);
	assert_int_equal(op.code, USBIP_OP_REP_IMPORT);
	assert_int_equal(op.status, 0xdeadbeef);
	uint8_t out[8];
	assert_int_equal(usbip_encode_op_common(out, 8, USBIP_OP_REP_IMPORT, 0xdeadbeef), 8);
	assert_memory_equal(out, b, 8);
}

/* ---- encoders: size query, short buffers, no write past cap --------------- */

static const struct usbip_usb_device enc_dev = {
        .path = "/sys/devices/platform/dummy_hcd.0/usb3/3-1",
        .busid = "3-1",
        .busnum = 3,
        .devnum = 2,
        .speed = USBIP_SPEED_SUPER,
        .idVendor = 0x1d6b,
        .idProduct = 0x0104,
        .bNumInterfaces = 3,
};
static const struct usbip_usb_interface enc_ifs[USBIP_MAX_INTERFACES] = {
        {3, 1, 1}, {3, 1, 2}, {8, 6, 80}};
static struct usbip_iso_packet enc_iso[USBIP_MAX_ISO_PACKETS];
static const struct usbip_header enc_submit = {
        .base = {USBIP_CMD_SUBMIT, 1, 0x00010002, USBIP_DIR_IN, 0},
        .u.cmd_submit = {USBIP_URB_DIR_IN, 18, 0, 0, 0, {0x80, 6, 0, 1, 0, 0, 18, 0}},
};
static const struct usbip_header enc_unlink = {
        .base = {USBIP_RET_UNLINK, 8, 0, 0, 0},
        .u.ret_unlink = {-USBIP_ECONNRESET},
};

static long enc_op_common(uint8_t *o, size_t c)
{
	return usbip_encode_op_common(o, c, USBIP_OP_REQ_IMPORT, 0);
}
static long enc_req_devlist(uint8_t *o, size_t c)
{
	return usbip_encode_op_req_devlist(o, c);
}
static long enc_req_import(uint8_t *o, size_t c)
{
	return usbip_encode_op_req_import(o, c, "1-1.4");
}
static long enc_device(uint8_t *o, size_t c)
{
	return usbip_encode_usb_device(o, c, &enc_dev, NULL, 0);
}
static long enc_device_ifs(uint8_t *o, size_t c)
{
	return usbip_encode_usb_device(o, c, &enc_dev, enc_ifs, 3);
}
static long enc_device_max_ifs(uint8_t *o, size_t c)
{
	struct usbip_usb_device d = enc_dev;
	d.bNumInterfaces = USBIP_MAX_INTERFACES;
	return usbip_encode_usb_device(o, c, &d, enc_ifs, USBIP_MAX_INTERFACES);
}
static long enc_devlist_header(uint8_t *o, size_t c)
{
	return usbip_encode_op_rep_devlist_header(o, c, 3);
}
static long enc_rep_import_ok(uint8_t *o, size_t c)
{
	return usbip_encode_op_rep_import(o, c, USBIP_ST_OK, &enc_dev);
}
static long enc_rep_import_busy(uint8_t *o, size_t c)
{
	return usbip_encode_op_rep_import(o, c, USBIP_ST_DEV_BUSY, &enc_dev);
}
static long enc_header_submit(uint8_t *o, size_t c)
{
	return usbip_encode_header(o, c, &enc_submit);
}
static long enc_header_unlink(uint8_t *o, size_t c)
{
	return usbip_encode_header(o, c, &enc_unlink);
}
static long enc_iso_3(uint8_t *o, size_t c)
{
	return usbip_encode_iso(o, c, enc_iso, 3);
}
static long enc_iso_max(uint8_t *o, size_t c)
{
	return usbip_encode_iso(o, c, enc_iso, USBIP_MAX_ISO_PACKETS);
}

static void test_encoders_cap(void **state)
{
	(void)state;
	static const struct {
		const char *name;
		long (*fn)(uint8_t *, size_t);
		long size;
	} encs[] = {
	        {"op_common", enc_op_common, 8},
	        {"req_devlist", enc_req_devlist, 8},
	        {"req_import", enc_req_import, 40},
	        {"usb_device", enc_device, 312},
	        {"usb_device+3", enc_device_ifs, 312 + 12},
	        {"usb_device+max", enc_device_max_ifs, 312 + 4 * USBIP_MAX_INTERFACES},
	        {"devlist_header", enc_devlist_header, 12},
	        {"rep_import ok", enc_rep_import_ok, 320},
	        {"rep_import busy", enc_rep_import_busy, 8},
	        {"header submit", enc_header_submit, 48},
	        {"header unlink", enc_header_unlink, 48},
	        {"iso 3", enc_iso_3, 48},
	        {"iso max", enc_iso_max, 16 * USBIP_MAX_ISO_PACKETS},
	};
	for (unsigned i = 0; i < USBIP_MAX_ISO_PACKETS; i++)
		enc_iso[i] = (struct usbip_iso_packet){i * 8, 8, 0, 0};

	/* The output ends right before a PROT_NONE page: writing past cap
	 * crashes. */
	struct guard g;
	assert_int_equal(guard_init(&g, 8), 0);
	size_t region = g.size;
	uint8_t *ref = malloc(region);
	assert_non_null(ref);

	for (size_t i = 0; i < sizeof(encs) / sizeof(encs[0]); i++) {
		long size = encs[i].size;
		size_t n = (size_t)size;
		assert_true(n + 16 <= region);
		if (encs[i].fn(NULL, 0) != size)
			fail_msg("%s: size query gave %ld, want %ld", encs[i].name,
			         encs[i].fn(NULL, 0), size);
		assert_int_equal(encs[i].fn(NULL, region), size);
		/* Exact fit. */
		assert_int_equal(encs[i].fn(guard_tail(&g, n), n), size);
		memcpy(ref, guard_tail(&g, n), n);
		/* One short, and nothing at all. */
		if (encs[i].fn(guard_tail(&g, n - 1), n - 1) != USBIP_E_SHORT)
			fail_msg("%s: cap %zu did not give USBIP_E_SHORT", encs[i].name, n - 1);
		assert_int_equal(encs[i].fn(guard_tail(&g, 0), 0), USBIP_E_SHORT);
		/* Larger than needed: the same bytes, nothing written after them. */
		uint8_t *o = guard_tail(&g, n + 16);
		memset(o, 0x5a, n + 16);
		assert_int_equal(encs[i].fn(o, n + 16), size);
		assert_memory_equal(o, ref, n);
		for (size_t j = 0; j < 16; j++)
			assert_int_equal(o[n + j], 0x5a);
	}
	/* np == 0 encodes nothing and needs nothing. */
	assert_int_equal(usbip_encode_iso(NULL, 0, enc_iso, 0), 0);
	assert_int_equal(usbip_encode_iso(guard_tail(&g, 0), 0, enc_iso, 0), 0);

	free(ref);
	guard_free(&g);
}

/* ---- speed, error codes ---------------------------------------------------- */

static void test_speed_from_libusb(void **state)
{
	(void)state;
	/* libusb_speed: UNKNOWN 0, LOW 1, FULL 2, HIGH 3, SUPER 4,
	 * SUPER_PLUS 5, SUPER_PLUS_X2 6 (§4.7). */
	assert_int_equal(usbip_speed_from_libusb(0), USBIP_SPEED_UNKNOWN);
	assert_int_equal(usbip_speed_from_libusb(1), USBIP_SPEED_LOW);
	assert_int_equal(usbip_speed_from_libusb(2), USBIP_SPEED_FULL);
	assert_int_equal(usbip_speed_from_libusb(3), USBIP_SPEED_HIGH);
	assert_int_equal(usbip_speed_from_libusb(4), USBIP_SPEED_SUPER);
	assert_int_equal(usbip_speed_from_libusb(5), USBIP_SPEED_SUPER);
	assert_int_equal(usbip_speed_from_libusb(6), USBIP_SPEED_SUPER);
	/* Raw passing would turn SUPER into WIRELESS: never 4 from a libusb
	 * value. */
	for (int s = -2; s < 16; s++)
		assert_int_not_equal(usbip_speed_from_libusb(s), USBIP_SPEED_WIRELESS);
	assert_int_equal(USBIP_SPEED_WIRELESS, 4);
	assert_int_equal(USBIP_SPEED_SUPER_PLUS, 6);
}

static void test_error_codes(void **state)
{
	(void)state;
	/* Stable values: they never change (usbip.h). */
	assert_int_equal(USBIP_OK, 0);
	assert_int_equal(USBIP_E_NEED_MORE, -1);
	assert_int_equal(USBIP_E_SHORT, -2);
	assert_int_equal(USBIP_E_VERSION, -3);
	assert_int_equal(USBIP_E_CODE, -4);
	assert_int_equal(USBIP_E_LIMIT, -5);
	assert_int_equal(USBIP_E_INVALID, -6);
	assert_int_equal(USBIP_E_NOMEM, -7);
	assert_int_equal(USBIP_E_STATE, -8);
	assert_int_equal(USBIP_E_CLOSED, -9);
	/* One distinct, non-empty message each; unknown values still give a
	 * string. */
	for (int a = USBIP_E_CLOSED; a <= 0; a++) {
		const char *sa = usbip_strerror(a);
		assert_non_null(sa);
		assert_true(sa[0] != '\0');
		for (int b = a + 1; b <= 0; b++)
			assert_string_not_equal(sa, usbip_strerror(b));
	}
	assert_non_null(usbip_strerror(1));
	assert_non_null(usbip_strerror(-1000));
	assert_non_null(usbip_strerror(-2147483647 - 1));
	/* The wire errno values of §4.4. */
	assert_int_equal(USBIP_ECONNRESET, 104);
	assert_int_equal(USBIP_EPIPE, 32);
	assert_int_equal(USBIP_ESHUTDOWN, 108);
	assert_int_equal(USBIP_EREMOTEIO, 121);
	assert_int_equal(USBIP_EXDEV, 18);
	assert_int_equal(USBIP_ETIMEDOUT, 110);
	assert_int_equal(USBIP_EOVERFLOW, 75);
	assert_int_equal(USBIP_EPROTO, 71);
	assert_int_equal(USBIP_ENODEV, 19);
	assert_int_equal(USBIP_ENOENT, 2);
}

/* ---- OP phase vs URB phase by the first two bytes (§3.1) ------------------- */

static void test_phase_bytes(void **state)
{
	(void)state;
	uint8_t b[48];
	memset(b, 0, sizeof(b));
	/* One byte is not enough to tell the phase; 01 11 alone is not enough
	 * to tell the message. */
	assert_int_equal(usbip_frame_size(b, 0, 0), USBIP_E_NEED_MORE);
	assert_int_equal(usbip_frame_size(b, 1, 0), USBIP_E_NEED_MORE);
	b[0] = 0x01;
	assert_int_equal(usbip_frame_size(b, 1, 0), USBIP_E_NEED_MORE);
	b[1] = 0x11;
	assert_int_equal(usbip_frame_size(b, 2, 0), USBIP_E_NEED_MORE);
	/* Neither 01 11 nor 00 00: never a valid message. */
	static const uint8_t bad[][2] = {
	        {0x02, 0x00}, {0x01, 0x10}, {0xff, 0xff}, {0x00, 0x01}, {0x11, 0x01}};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(b, 0, sizeof(b));
		b[0] = bad[i][0];
		b[1] = bad[i][1];
		wr16(b + 2, USBIP_OP_REQ_DEVLIST);
		assert_frame_refused(usbip_frame_size(b, sizeof(b), 0));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_transfer_buffer_length),
	        cmocka_unit_test(test_ret_submit_actual_length),
	        cmocka_unit_test(test_iso_packets),
	        cmocka_unit_test(test_odd_direction_consistent),
	        cmocka_unit_test(test_devlist_ndev),
	        cmocka_unit_test(test_devlist_max_devices),
	        cmocka_unit_test(test_interfaces_limit),
	        cmocka_unit_test(test_busid_termination),
	        cmocka_unit_test(test_device_string_termination),
	        cmocka_unit_test(test_encode_string_too_long),
	        cmocka_unit_test(test_unknown_command),
	        cmocka_unit_test(test_op_codes),
	        cmocka_unit_test(test_version),
	        cmocka_unit_test(test_encoders_cap),
	        cmocka_unit_test(test_speed_from_libusb),
	        cmocka_unit_test(test_error_codes),
	        cmocka_unit_test(test_phase_bytes),
	};
	return cmocka_run_group_tests_name("codec-limits", tests, NULL, NULL);
}
