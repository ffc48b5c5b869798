/* SPDX-License-Identifier: MIT */
/*
 * test_sim_msc.c - mass storage: Bulk-Only Transport (CBW, data, CSW,
 * the thirteen cases, reset recovery) and the SCSI commands, on a file
 * and on a RAM disk.
 */
#include "sim_harness.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EP_IN  0x81
#define EP_OUT 0x02

static uint32_t tag_counter = 0x1000;

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void make_cbw(uint8_t cbw[31], uint32_t tag, uint32_t host_len, bool in, const uint8_t *cdb,
                     uint8_t cdb_len)
{
	memset(cbw, 0, 31);
	put_le32(cbw, 0x43425355);
	put_le32(cbw + 4, tag);
	put_le32(cbw + 8, host_len);
	cbw[12] = in ? 0x80 : 0x00;
	cbw[13] = 0;
	cbw[14] = cdb_len;
	memcpy(cbw + 15, cdb, cdb_len);
}

struct csw {
	uint32_t residue;
	uint8_t status;
	uint32_t moved; /* data bytes that went through the data phase */
};

/* Reads the CSW; checks its signature and that it echoes tag. */
static void read_csw(struct usbip_export *exp, uint32_t tag, struct csw *r)
{
	struct usbip_urb *urb = simh_in(exp, EP_IN, 13);

	assert_int_equal(simh_completions(urb), 1);
	assert_int_equal(urb->status, 0);
	assert_int_equal(urb->actual_length, 13);
	assert_int_equal(le32(urb->data), 0x53425355);
	assert_int_equal(le32(urb->data + 4), tag);
	r->residue = le32(urb->data + 8);
	r->status = urb->data[12];
	simh_urb_free(urb);
}

/*
 * One whole command: CBW, a data phase of host_len bytes moved in URBs of
 * at most `chunk` bytes (IN stops at a short URB, as the host does), and
 * the CSW.
 */
static void scsi(struct usbip_export *exp, const uint8_t *cdb, uint8_t cdb_len, bool in,
                 uint32_t host_len, uint8_t *data, uint32_t chunk, struct csw *r)
{
	uint8_t cbw[31];
	uint32_t tag = ++tag_counter, done = 0;

	make_cbw(cbw, tag, host_len, in, cdb, cdb_len);
	assert_int_equal(simh_out(exp, EP_OUT, cbw, sizeof(cbw)), 0);
	while (done < host_len) {
		uint32_t n = host_len - done < chunk ? host_len - done : chunk;

		if (in) {
			struct usbip_urb *urb = simh_in(exp, EP_IN, (int32_t)n);

			assert_int_equal(simh_completions(urb), 1);
			assert_int_equal(urb->status, 0);
			memcpy(data + done, urb->data, (size_t)urb->actual_length);
			done += (uint32_t)urb->actual_length;
			bool shrt = (uint32_t)urb->actual_length < n;

			simh_urb_free(urb);
			if (shrt)
				break;
		} else {
			assert_int_equal(simh_out(exp, EP_OUT, data + done, n), 0);
			done += n;
		}
	}
	read_csw(exp, tag, r);
	r->moved = done;
}

static void cdb10(uint8_t cdb[10], uint8_t op, uint32_t lba, uint16_t count)
{
	memset(cdb, 0, 10);
	cdb[0] = op;
	put_be32(cdb + 2, lba);
	cdb[7] = (uint8_t)(count >> 8);
	cdb[8] = (uint8_t)count;
}

static void cdb16(uint8_t cdb[16], uint8_t op, uint64_t lba, uint32_t count)
{
	memset(cdb, 0, 16);
	cdb[0] = op;
	put_be32(cdb + 2, (uint32_t)(lba >> 32));
	put_be32(cdb + 6, (uint32_t)lba);
	put_be32(cdb + 10, count);
}

static void expect_sense(struct usbip_export *exp, uint8_t key, uint8_t asc, uint8_t ascq)
{
	const uint8_t cdb[6] = {0x03, 0, 0, 0, 18, 0};
	uint8_t s[18];
	struct csw r;

	scsi(exp, cdb, 6, true, 18, s, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.moved, 18);
	assert_int_equal(r.residue, 0);
	assert_int_equal(s[0], 0x70);
	assert_int_equal(s[2] & 0x0f, key);
	assert_int_equal(s[7], 10);
	assert_int_equal(s[12], asc);
	assert_int_equal(s[13], ascq);
}

static void test_inquiry(void **state)
{
	struct usbip_export *exp = simh_create("msc", 1);
	const uint8_t cdb[6] = {0x12, 0, 0, 0, 36, 0};
	uint8_t d[512];
	int32_t n;
	struct csw r;

	(void)state;
	assert_int_equal(simh_control(exp, 0xa1, 0xfe, 0, 0, 1, d, &n), 0); /* GET_MAX_LUN */
	assert_int_equal(n, 1);
	assert_int_equal(d[0], 0);

	scsi(exp, cdb, 6, true, 36, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.residue, 0);
	assert_int_equal(r.moved, 36);
	assert_int_equal(d[0], 0x00);     /* direct access block device */
	assert_int_equal(d[1] & 0x80, 0); /* not removable */
	assert_int_equal(d[3] & 0x0f, 2); /* response data format */
	assert_int_equal(d[4], 31);       /* additional length */
	assert_memory_equal(d + 8, "usblab  ", 8);
	assert_memory_equal(d + 16, "virtual disk    ", 16);

	/* Allocation length below 36 cuts the reply; the host asked for that
	 * much too, so no residue. */
	const uint8_t cdb5[6] = {0x12, 0, 0, 0, 5, 0};

	scsi(exp, cdb5, 6, true, 5, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.moved, 5);

	/* Allocation length 0: no data phase, good status (not case 2). */
	const uint8_t cdb0[6] = {0x12, 0, 0, 0, 0, 0};

	scsi(exp, cdb0, 6, true, 0, d, 512, &r);
	assert_int_equal(r.status, 0);

	/* VPD 0x80: the serial number; 0x00: the page list. */
	const uint8_t vpd80[6] = {0x12, 1, 0x80, 0, 255, 0};

	scsi(exp, vpd80, 6, true, 255, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(d[1], 0x80);
	assert_int_equal(d[3], strlen("USBLAB-MSC-1"));
	assert_memory_equal(d + 4, "USBLAB-MSC-1", 12);
	assert_int_equal(r.residue, 255 - 16);
	const uint8_t vpd00[6] = {0x12, 1, 0x00, 0, 255, 0};

	scsi(exp, vpd00, 6, true, 255, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(d[3], 2);
	assert_int_equal(d[4], 0x00);
	assert_int_equal(d[5], 0x80);
	/* Unknown VPD page: CHECK CONDITION, INVALID FIELD IN CDB. */
	const uint8_t vpd99[6] = {0x12, 1, 0x99, 0, 255, 0};

	scsi(exp, vpd99, 6, true, 255, d, 512, &r);
	assert_int_equal(r.status, 1);
	assert_int_equal(r.moved, 0);
	assert_int_equal(r.residue, 255);
	expect_sense(exp, 0x05, 0x24, 0x00);
	simh_destroy(exp);
}

static void test_read_capacity(void **state)
{
	struct usbip_export *exp = simh_create("msc:ram:3M", 1);
	uint8_t d[64], cdb[16] = {0x25};
	struct csw r;

	(void)state;
	scsi(exp, cdb, 10, true, 8, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.moved, 8);
	assert_int_equal(be32(d), 3 * 2048 - 1);
	assert_int_equal(be32(d + 4), 512);

	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x9e;
	cdb[1] = 0x10;
	put_be32(cdb + 10, 32);
	scsi(exp, cdb, 16, true, 32, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.moved, 32);
	assert_int_equal(be32(d), 0);
	assert_int_equal(be32(d + 4), 3 * 2048 - 1);
	assert_int_equal(be32(d + 8), 512);

	/* READ FORMAT CAPACITIES: one formatted-media descriptor. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x23;
	cdb[8] = 0xfc;
	scsi(exp, cdb, 10, true, 0xfc, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.moved, 12);
	assert_int_equal(r.residue, 0xfc - 12);
	assert_int_equal(d[3], 8);
	assert_int_equal(be32(d + 4), 3 * 2048);
	assert_int_equal(d[8] & 3, 2);
	assert_int_equal(d[10] << 8 | d[11], 512);
	simh_destroy(exp);
}

/* WRITE(10) then READ(10), with the data checked in the backing file;
 * URB sizes that match nothing in particular. */
static void test_write_read_file(void **state)
{
	const size_t size = 64 * 1024;
	uint8_t *zero = calloc(1, size);
	const char *p = simh_tmpfile(zero, size);
	char path[64], spec[80];
	uint8_t data[3 * 512], back[3 * 512], cdb[10], file[3 * 512];
	struct csw r;

	(void)state;
	snprintf(path, sizeof(path), "%s", p);
	snprintf(spec, sizeof(spec), "msc:%s", path);
	struct usbip_export *exp = simh_create(spec, 1);

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 13 + 5);
	cdb10(cdb, 0x2a, 5, 3);
	scsi(exp, cdb, 10, false, sizeof(data), data, 1000, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.residue, 0);

	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, file, sizeof(file), 5 * 512), (ssize_t)sizeof(file));
	assert_memory_equal(file, data, sizeof(data));
	assert_int_equal(pread(fd, file, 512, 4 * 512), 512); /* neighbours untouched */
	assert_memory_equal(file, zero, 512);
	assert_int_equal(pread(fd, file, 512, 8 * 512), 512);
	assert_memory_equal(file, zero, 512);
	close(fd);

	/* READ(10) into one URB larger than the data, as usb-storage's
	 * scatter-gather URBs are. */
	cdb10(cdb, 0x28, 5, 3);
	scsi(exp, cdb, 10, true, sizeof(back), back, 120 * 1024, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.residue, 0);
	assert_int_equal(r.moved, sizeof(back));
	assert_memory_equal(back, data, sizeof(data));

	/* The last block, and READ(10) of zero blocks (no data, good). */
	cdb10(cdb, 0x28, 127, 1);
	scsi(exp, cdb, 10, true, 512, back, 512, &r);
	assert_int_equal(r.status, 0);
	cdb10(cdb, 0x28, 0, 0);
	scsi(exp, cdb, 10, false, 0, NULL, 512, &r);
	assert_int_equal(r.status, 0);
	simh_destroy(exp);
	unlink(path);
	free(zero);
}

/* A file that shrinks under the device: READ fails with MEDIUM ERROR,
 * UNRECOVERED READ ERROR, and the data phase ends short. */
static void test_read_error(void **state)
{
	static uint8_t zero[8192];
	const char *p = simh_tmpfile(zero, sizeof(zero));
	char path[64], spec[80];
	uint8_t d[2048], cdb[10];
	struct csw r;

	(void)state;
	snprintf(path, sizeof(path), "%s", p);
	snprintf(spec, sizeof(spec), "msc:%s", path);
	struct usbip_export *exp = simh_create(spec, 1);

	assert_int_equal(truncate(path, 1024), 0);
	cdb10(cdb, 0x28, 1, 4);
	scsi(exp, cdb, 10, true, sizeof(d), d, sizeof(d), &r);
	assert_int_equal(r.status, 1);
	assert_int_equal(r.moved, 0);
	assert_int_equal(r.residue, sizeof(d));
	expect_sense(exp, 0x03, 0x11, 0x00);
	/* What is still there reads fine. */
	cdb10(cdb, 0x28, 0, 2);
	scsi(exp, cdb, 10, true, 1024, d, 1024, &r);
	assert_int_equal(r.status, 0);
	simh_destroy(exp);
	unlink(path);
}

/* A transfer larger than any one URB: WRITE(16) in 64 KiB URBs, READ(16)
 * in URBs of odd sizes. */
static void test_large_transfer_ram(void **state)
{
	struct usbip_export *exp = simh_create("msc:ram:1M", 1);
	const uint32_t blocks = 300, len = blocks * 512;
	uint8_t *data = malloc(len), *back = malloc(len), cdb[16];
	struct csw r;

	(void)state;
	for (uint32_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i ^ (i >> 9));
	cdb16(cdb, 0x8a, 1000, blocks);
	scsi(exp, cdb, 16, false, len, data, 65536, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.residue, 0);
	memset(back, 0, len);
	cdb16(cdb, 0x88, 1000, blocks);
	scsi(exp, cdb, 16, true, len, back, 50000, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.moved, len);
	assert_memory_equal(back, data, len);
	/* READ(10) sees the same blocks. */
	uint8_t c10[10];

	cdb10(c10, 0x28, 1001, 1);
	scsi(exp, c10, 10, true, 512, back, 512, &r);
	assert_memory_equal(back, data + 512, 512);
	free(data);
	free(back);
	simh_destroy(exp);
}

static void test_out_of_range(void **state)
{
	struct usbip_export *exp = simh_create("msc:ram:64K", 1); /* 128 blocks */
	uint8_t d[1024], cdb[16];
	struct csw r;

	(void)state;
	cdb10(cdb, 0x28, 127, 2);
	scsi(exp, cdb, 10, true, 1024, d, 1024, &r);
	assert_int_equal(r.status, 1); /* CHECK CONDITION */
	assert_int_equal(r.moved, 0);
	assert_int_equal(r.residue, 1024);
	expect_sense(exp, 0x05, 0x21, 0x00);
	/* Sense is read once. */
	expect_sense(exp, 0x00, 0x00, 0x00);

	cdb16(cdb, 0x88, 0xffffffffffffff00ull, 0x200); /* no wrap-around */
	scsi(exp, cdb, 16, true, 512, d, 512, &r);
	assert_int_equal(r.status, 1);
	expect_sense(exp, 0x05, 0x21, 0x00);

	/* A failed WRITE takes the host's data and writes nothing. */
	memset(d, 0x5a, sizeof(d));
	cdb10(cdb, 0x2a, 128, 2);
	scsi(exp, cdb, 10, false, 1024, d, 512, &r);
	assert_int_equal(r.status, 1);
	assert_int_equal(r.residue, 1024);
	expect_sense(exp, 0x05, 0x21, 0x00);

	/* VERIFY(10) checks the range too. */
	cdb10(cdb, 0x2f, 100, 28);
	scsi(exp, cdb, 10, false, 0, NULL, 512, &r);
	assert_int_equal(r.status, 0);
	cdb10(cdb, 0x2f, 100, 29);
	scsi(exp, cdb, 10, false, 0, NULL, 512, &r);
	assert_int_equal(r.status, 1);
	expect_sense(exp, 0x05, 0x21, 0x00);
	simh_destroy(exp);
}

static void test_simple_commands(void **state)
{
	struct usbip_export *exp = simh_create("msc:ram:64K", 1);
	uint8_t d[512], cdb[16];
	struct csw r;

	(void)state;
	static const uint8_t no_data[][6] = {
	        {0x00, 0, 0, 0, 0, 0}, /* TEST UNIT READY */
	        {0x1e, 0, 0, 0, 1, 0}, /* PREVENT MEDIUM REMOVAL */
	        {0x1e, 0, 0, 0, 0, 0}, /* ALLOW */
	        {0x1b, 0, 0, 0, 1, 0}, /* START STOP UNIT: start */
	};
	for (unsigned i = 0; i < sizeof(no_data) / sizeof(no_data[0]); i++) {
		scsi(exp, no_data[i], 6, false, 0, NULL, 512, &r);
		assert_int_equal(r.status, 0);
		assert_int_equal(r.residue, 0);
	}
	cdb10(cdb, 0x35, 0, 0); /* SYNCHRONIZE CACHE(10) */
	scsi(exp, cdb, 10, false, 0, NULL, 512, &r);
	assert_int_equal(r.status, 0);

	/* MODE SENSE(6), all pages: not write protected, caching page. */
	const uint8_t ms6[6] = {0x1a, 0, 0x3f, 0, 192, 0};

	scsi(exp, ms6, 6, true, 192, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(d[0] + 1, r.moved);
	assert_int_equal(d[2] & 0x80, 0);
	assert_int_equal(d[3], 0); /* no block descriptors */
	assert_int_equal(d[4] & 0x3f, 0x08);
	assert_int_equal(d[5], 0x12);
	/* MODE SENSE(10), caching page. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0x5a;
	cdb[2] = 0x08;
	cdb[8] = 255;
	scsi(exp, cdb, 10, true, 255, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal((d[0] << 8 | d[1]) + 2, r.moved);
	assert_int_equal(d[3] & 0x80, 0);
	assert_int_equal(d[8] & 0x3f, 0x08);
	/* A mode page the device lacks. */
	cdb[2] = 0x1c;
	scsi(exp, cdb, 10, true, 255, d, 512, &r);
	assert_int_equal(r.status, 1);
	expect_sense(exp, 0x05, 0x24, 0x00);

	/* REPORT LUNS: LUN 0 alone. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xa0;
	put_be32(cdb + 6, 512);
	scsi(exp, cdb, 12, true, 512, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.moved, 16);
	assert_int_equal(be32(d), 8);
	for (int i = 8; i < 16; i++)
		assert_int_equal(d[i], 0);

	/* Unknown opcode: INVALID COMMAND OPERATION CODE. */
	memset(cdb, 0, sizeof(cdb));
	cdb[0] = 0xd7;
	scsi(exp, cdb, 10, true, 64, d, 512, &r);
	assert_int_equal(r.status, 1);
	assert_int_equal(r.residue, 64);
	expect_sense(exp, 0x05, 0x20, 0x00);
	/* A LUN the device does not have. */
	uint8_t cbw[31];
	const uint8_t tur[6] = {0};

	make_cbw(cbw, 77, 0, false, tur, 6);
	cbw[13] = 1;
	assert_int_equal(simh_out(exp, EP_OUT, cbw, 31), 0);
	read_csw(exp, 77, &r);
	assert_int_equal(r.status, 1);
	expect_sense(exp, 0x05, 0x25, 0x00);
	simh_destroy(exp);
}

/* BOT §6.7: the cases where host and device disagree. */
static void test_thirteen_cases(void **state)
{
	struct usbip_export *exp = simh_create("msc:ram:64K", 1);
	uint8_t d[4096], cdb[10];
	struct csw r;

	(void)state;
	/* Case 4 (Hi > Dn): TEST UNIT READY with an IN data phase. */
	const uint8_t tur[6] = {0};

	scsi(exp, tur, 6, true, 512, d, 512, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.moved, 0);
	assert_int_equal(r.residue, 512);
	/* Case 5 (Hi > Di): READ of 1 block, host expects 4. */
	cdb10(cdb, 0x28, 0, 1);
	scsi(exp, cdb, 10, true, 2048, d, 4096, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.moved, 512);
	assert_int_equal(r.residue, 1536);
	/* ... and when the host splits its 2048 bytes into 512-byte URBs,
	 * the second URB ends the data phase with a zero-length packet. */
	scsi(exp, cdb, 10, true, 2048, d, 512, &r);
	assert_int_equal(r.moved, 512);
	assert_int_equal(r.residue, 1536);
	/* Case 2 (Hn < Di): READ with no data phase: phase error. */
	scsi(exp, cdb, 10, true, 0, d, 512, &r);
	assert_int_equal(r.status, 2);
	/* Case 7 (Hi < Di): READ of 2 blocks, host expects 1. */
	cdb10(cdb, 0x28, 0, 2);
	scsi(exp, cdb, 10, true, 512, d, 512, &r);
	assert_int_equal(r.status, 2);
	assert_int_equal(r.moved, 512);
	/* Case 13 (Ho < Do): nothing is written. */
	memset(d, 0x77, sizeof(d));
	cdb10(cdb, 0x2a, 10, 2);
	scsi(exp, cdb, 10, false, 512, d, 512, &r);
	assert_int_equal(r.status, 2);
	cdb10(cdb, 0x28, 10, 1);
	scsi(exp, cdb, 10, true, 512, d, 512, &r);
	assert_int_equal(d[0], 0);
	/* Case 12 (Ho > Do): one block written, the rest taken. */
	memset(d, 0x66, sizeof(d));
	cdb10(cdb, 0x2a, 10, 1);
	scsi(exp, cdb, 10, false, 1024, d, 1024, &r);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.residue, 512);

	/* Case 8 (Hi <> Do): bulk IN stalls; after CLEAR_FEATURE the CSW
	 * says phase error. */
	uint8_t cbw[31];

	cdb10(cdb, 0x2a, 0, 1);
	make_cbw(cbw, 88, 512, true, cdb, 10);
	assert_int_equal(simh_out(exp, EP_OUT, cbw, 31), 0);
	struct usbip_urb *urb = simh_in(exp, EP_IN, 512);

	assert_int_equal(simh_completions(urb), 1);
	assert_int_equal(urb->status, -USBIP_EPIPE);
	simh_urb_free(urb);
	assert_int_equal(exp->ops->clear_halt(exp, EP_IN), 0);
	read_csw(exp, 88, &r);
	assert_int_equal(r.status, 2);

	/* Case 10 (Ho <> Di): bulk OUT stalls. */
	cdb10(cdb, 0x28, 0, 1);
	make_cbw(cbw, 1010, 512, false, cdb, 10);
	assert_int_equal(simh_out(exp, EP_OUT, cbw, 31), 0);
	assert_int_equal(simh_out(exp, EP_OUT, d, 512), -USBIP_EPIPE);
	assert_int_equal(exp->ops->clear_halt(exp, EP_OUT), 0);
	read_csw(exp, 1010, &r);
	assert_int_equal(r.status, 2);

	/* The device is back in step. */
	scsi(exp, tur, 6, false, 0, NULL, 512, &r);
	assert_int_equal(r.status, 0);
	simh_destroy(exp);
}

/* An invalid CBW stalls both pipes until Reset Recovery: the class
 * reset, then CLEAR_FEATURE(HALT) on each (BOT §5.3.4, §6.6.1). */
static void test_invalid_cbw(void **state)
{
	struct usbip_export *exp = simh_create("msc:ram:64K", 1);
	const uint8_t tur[6] = {0};
	uint8_t cbw[31];
	int32_t n;
	struct csw r;

	(void)state;
	for (int variant = 0; variant < 3; variant++) {
		make_cbw(cbw, 5, 0, false, tur, 6);
		if (variant == 0)
			cbw[0] ^= 0xff; /* bad signature */
		if (variant == 1)
			cbw[14] = 0; /* no CDB */
		/* variant 2: 30 bytes */
		int len = variant == 2 ? 30 : 31;

		assert_int_equal(simh_out(exp, EP_OUT, cbw, (size_t)len), 0);
		struct usbip_urb *urb = simh_in(exp, EP_IN, 13);

		assert_int_equal(simh_completions(urb), 1);
		assert_int_equal(urb->status, -USBIP_EPIPE);
		simh_urb_free(urb);
		make_cbw(cbw, 6, 0, false, tur, 6);
		assert_int_equal(simh_out(exp, EP_OUT, cbw, 31), -USBIP_EPIPE);

		/* Clearing the halt alone does not end it. */
		assert_int_equal(exp->ops->clear_halt(exp, EP_IN), 0);
		assert_int_equal(exp->ops->clear_halt(exp, EP_OUT), 0);
		uint8_t st[2];

		assert_int_equal(simh_control(exp, 0x82, 0, 0, EP_IN, 2, st, &n), 0);
		assert_int_equal(st[0], 1);
		urb = simh_in(exp, EP_IN, 13);
		assert_int_equal(urb->status, -USBIP_EPIPE);
		simh_urb_free(urb);
		assert_int_equal(simh_out(exp, EP_OUT, cbw, 31), -USBIP_EPIPE);

		/* Reset Recovery. */
		assert_int_equal(simh_control(exp, 0x21, 0xff, 0, 0, 0, NULL, &n), 0);
		/* The class reset keeps the halts (BOT §3.1). */
		assert_int_equal(simh_out(exp, EP_OUT, cbw, 31), -USBIP_EPIPE);
		assert_int_equal(simh_control(exp, 0x02, 1, 0, EP_IN, 0, NULL, &n), 0);
		assert_int_equal(simh_control(exp, 0x02, 1, 0, EP_OUT, 0, NULL, &n), 0);
		scsi(exp, tur, 6, false, 0, NULL, 512, &r);
		assert_int_equal(r.status, 0);
	}
	/* Malformed class requests stall. */
	assert_int_equal(simh_control(exp, 0x21, 0xff, 1, 0, 0, NULL, &n), -USBIP_EPIPE);
	assert_int_equal(simh_control(exp, 0xa1, 0xfe, 0, 1, 1, cbw, &n), -USBIP_EPIPE);
	simh_destroy(exp);
}

/* URBs that arrive before their phase wait for it; cancel frees them. */
static void test_held_urbs(void **state)
{
	struct usbip_export *exp = simh_create("msc:ram:64K", 1);
	const uint8_t inquiry[6] = {0x12, 0, 0, 0, 36, 0};
	uint8_t cbw[31];
	struct usbip_urb *data, *csw, *stray;

	(void)state;
	data = simh_in(exp, EP_IN, 36);
	csw = simh_in(exp, EP_IN, 13);
	assert_int_equal(simh_completions(data), 0);
	make_cbw(cbw, 9, 36, true, inquiry, 6);
	assert_int_equal(simh_out(exp, EP_OUT, cbw, 31), 0);
	assert_int_equal(simh_completions(data), 1);
	assert_int_equal(data->actual_length, 36);
	assert_int_equal(simh_completions(csw), 1);
	assert_int_equal(csw->actual_length, 13);
	assert_int_equal(le32(csw->data + 4), 9);
	assert_int_equal(csw->data[12], 0);

	stray = simh_in(exp, EP_IN, 13);
	assert_int_equal(simh_completions(stray), 0);
	exp->ops->cancel(exp, stray);
	assert_int_equal(stray->status, -USBIP_ECONNRESET);
	simh_urb_free(data);
	simh_urb_free(csw);
	simh_urb_free(stray);
	simh_destroy(exp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_inquiry),
	        cmocka_unit_test(test_read_capacity),
	        cmocka_unit_test(test_write_read_file),
	        cmocka_unit_test(test_read_error),
	        cmocka_unit_test(test_large_transfer_ram),
	        cmocka_unit_test(test_out_of_range),
	        cmocka_unit_test(test_simple_commands),
	        cmocka_unit_test(test_thirteen_cases),
	        cmocka_unit_test(test_invalid_cbw),
	        cmocka_unit_test(test_held_urbs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
