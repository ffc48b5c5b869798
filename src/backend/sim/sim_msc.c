/* SPDX-License-Identifier: MIT */
/*
 * sim_msc.c - the sim mass storage device (see sim_msc.h): Bulk-Only
 * Transport 1.0 and the SCSI commands Linux's sd and usb-storage send
 * (SPC-4, SBC-3).
 */
#include "sim_msc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MSC_EP_IN  0x81
#define MSC_EP_OUT 0x02
#define MSC_INTF   0

/* BOT 1.0 §5 and §3. */
#define CBW_SIZE        31
#define CSW_SIZE        13
#define CBW_SIGNATURE   0x43425355u
#define CSW_SIGNATURE   0x53425355u
#define BOT_GET_MAX_LUN 0xfe
#define BOT_RESET       0xff

#define CSW_GOOD        0
#define CSW_FAILED      1
#define CSW_PHASE_ERROR 2

/* SCSI operation codes. */
#define OP_TEST_UNIT_READY     0x00
#define OP_REQUEST_SENSE       0x03
#define OP_READ6               0x08
#define OP_WRITE6              0x0a
#define OP_INQUIRY             0x12
#define OP_MODE_SENSE6         0x1a
#define OP_START_STOP_UNIT     0x1b
#define OP_PREVENT_ALLOW       0x1e
#define OP_READ_FORMAT_CAPS    0x23
#define OP_READ_CAPACITY10     0x25
#define OP_READ10              0x28
#define OP_WRITE10             0x2a
#define OP_VERIFY10            0x2f
#define OP_SYNCHRONIZE_CACHE10 0x35
#define OP_MODE_SENSE10        0x5a
#define OP_READ16              0x88
#define OP_WRITE16             0x8a
#define OP_SERVICE_ACTION_IN16 0x9e
#define SA_READ_CAPACITY16     0x10
#define OP_REPORT_LUNS         0xa0

/* Sense keys, additional sense codes and qualifiers (SPC-4 annex F). */
#define SK_NO_SENSE              0x0
#define SK_MEDIUM_ERROR          0x3
#define SK_ILLEGAL_REQUEST       0x5
#define SK_DATA_PROTECT          0x7
#define ASC_INVALID_OPCODE       0x20
#define ASC_LBA_OUT_OF_RANGE     0x21
#define ASC_INVALID_FIELD_IN_CDB 0x24
#define ASC_LUN_NOT_SUPPORTED    0x25
#define ASC_WRITE_PROTECTED      0x27
#define ASC_SAVING_NOT_SUPPORTED 0x39
#define ASC_WRITE_ERROR          0x0c
#define ASC_READ_ERROR           0x11

#define MSC_BUF_SIZE 64 /* the longest non-medium reply (READ CAPACITY(16): 32) */

enum msc_phase {
	MSC_IDLE,       /* waiting for a CBW on bulk OUT */
	MSC_DATA_IN,    /* data to the host on bulk IN */
	MSC_DATA_OUT,   /* data from the host on bulk OUT */
	MSC_STATUS,     /* CSW on bulk IN */
	MSC_NEED_RESET, /* after an invalid CBW: both pipes stall until reset */
};

enum msc_dir { MSC_DIR_NONE, MSC_DIR_IN, MSC_DIR_OUT };

/* What a SCSI command moves: Dn, Di or Do of BOT §6.7, from/to buf or the
 * medium. */
struct msc_data {
	uint8_t dir;
	bool medium;
	uint64_t len;
	uint64_t offset; /* medium byte offset */
};

/* One medium read or write on the device's worker (file media only). */
struct msc_io {
	struct offload_job job; /* first: the job's address is the struct's */
	struct sim_dev *dev;
	struct usbip_urb *urb; /* taken off its queue: cancel cannot reach it */
	int fd;
	uint64_t off;
	uint32_t n;
	bool write;
	int rc;       /* medium_io's result */
	unsigned gen; /* sim_msc.gen when started */
};

struct sim_msc {
	int fd;       /* the backing file, or -1 */
	uint8_t *ram; /* the RAM disk, or NULL */
	uint64_t size;
	uint64_t blocks;
	bool readonly;

	uint8_t phase;
	/* The command in progress. */
	uint32_t tag;
	uint32_t host_len; /* dCBWDataTransferLength */
	uint8_t status;    /* bCSWStatus so far */
	struct msc_data data;
	uint64_t xfer;  /* bytes of data to move, at most host_len */
	uint64_t moved; /* of those, moved so far */
	uint32_t done;  /* bytes of the data phase so far (OUT: padding too) */
	uint8_t buf[MSC_BUF_SIZE];

	/* Sense data of the last command, for REQUEST SENSE. */
	uint8_t sense_key, asc, ascq;

	/* File I/O off the loop: at most one at a time, in order. */
	struct msc_io io;
	bool io_busy;
	unsigned gen; /* a reset since the I/O started voids it */
};

static struct sim_msc *msc_of(struct sim_dev *dev)
{
	return dev->cls_state;
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
	       ((uint32_t)p[3] << 24);
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint64_t get_be64(const uint8_t *p)
{
	return ((uint64_t)usbip_get_be32(p) << 32) | usbip_get_be32(p + 4);
}

static void put_be64(uint8_t *p, uint64_t v)
{
	usbip_put_be32(p, (uint32_t)(v >> 32));
	usbip_put_be32(p + 4, (uint32_t)v);
}

/* ---- medium -------------------------------------------------------------- */

/* Reads (write false) or writes n bytes of the medium at off. Returns 0,
 * or -1 on an I/O error or a file that shrank. */
static int medium_io(struct sim_msc *m, uint64_t off, uint8_t *buf, size_t n, bool write)
{
	if (m->ram != NULL) {
		if (write)
			memcpy(m->ram + off, buf, n);
		else
			memcpy(buf, m->ram + off, n);
		return 0;
	}
	while (n > 0) {
		ssize_t r = write ? pwrite(m->fd, buf, n, (off_t)off)
		                  : pread(m->fd, buf, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		buf += r;
		off += (uint64_t)r;
		n -= (size_t)r;
	}
	return 0;
}

/* ---- SCSI ---------------------------------------------------------------- */

static void scsi_fail(struct sim_msc *m, uint8_t key, uint8_t asc, uint8_t ascq)
{
	m->sense_key = key;
	m->asc = asc;
	m->ascq = ascq;
	m->status = CSW_FAILED;
	m->data.dir = MSC_DIR_NONE;
}

/* A reply of natural length n from buf, cut to the allocation length. */
static void scsi_reply(struct sim_msc *m, size_t n, uint32_t alloc)
{
	m->data.len = n < alloc ? n : alloc;
	/* An allocation length of 0 is no error: no data (SPC-4 §4.2.5.6). */
	m->data.dir = m->data.len > 0 ? MSC_DIR_IN : MSC_DIR_NONE;
	m->data.medium = false;
}

/* A READ or WRITE of count blocks at lba, checked against the capacity. */
static void scsi_rw(struct sim_msc *m, uint64_t lba, uint64_t count, bool write)
{
	if (lba > m->blocks || count > m->blocks - lba) {
		scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
		return;
	}
	if (write && m->readonly) {
		scsi_fail(m, SK_DATA_PROTECT, ASC_WRITE_PROTECTED, 0);
		return;
	}
	if (count == 0)
		return; /* SBC-3: no blocks, no data, good status */
	m->data.dir = write ? MSC_DIR_OUT : MSC_DIR_IN;
	m->data.medium = true;
	m->data.offset = lba * SIM_MSC_BLOCK;
	m->data.len = count * SIM_MSC_BLOCK;
}

static void scsi_inquiry(struct sim_msc *m, struct sim_dev *dev, const uint8_t *cdb)
{
	uint32_t alloc = usbip_get_be16(cdb + 3);
	uint8_t *b = m->buf;

	memset(b, 0, sizeof(m->buf));
	if (!(cdb[1] & 0x01)) {
		if (cdb[2] != 0) {
			scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
			return;
		}
		b[0] = 0x00; /* connected direct-access block device */
		b[1] = 0x00; /* not removable */
		b[2] = 0x06; /* SPC-4 */
		b[3] = 0x02; /* response data format 2 */
		b[4] = 36 - 5;
		memcpy(b + 8, "usblab  ", 8);
		memcpy(b + 16, "virtual disk    ", 16);
		memcpy(b + 32, "1.00", 4);
		scsi_reply(m, 36, alloc);
		return;
	}
	switch (cdb[2]) {
	case 0x00: /* supported VPD pages */
		b[3] = 2;
		b[4] = 0x00;
		b[5] = 0x80;
		scsi_reply(m, 6, alloc);
		return;
	case 0x80: { /* unit serial number */
		size_t n = strlen(dev->serial);

		if (n > sizeof(m->buf) - 4)
			n = sizeof(m->buf) - 4;
		b[1] = 0x80;
		b[3] = (uint8_t)n;
		memcpy(b + 4, dev->serial, n);
		scsi_reply(m, 4 + n, alloc);
		return;
	}
	default:
		scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
		return;
	}
}

/* MODE SENSE(6) and (10): no block descriptors, the caching page only
 * (write cache off: every WRITE reaches the medium before its CSW). */
static void scsi_mode_sense(struct sim_msc *m, const uint8_t *cdb, bool ten)
{
	uint8_t pc = cdb[2] >> 6, page = cdb[2] & 0x3f, subpage = cdb[3];
	uint32_t alloc = ten ? usbip_get_be16(cdb + 7) : cdb[4];
	size_t hdr = ten ? 8 : 4;
	uint8_t *b = m->buf;

	if (pc == 3) {
		scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_SAVING_NOT_SUPPORTED, 0);
		return;
	}
	if ((page != 0x08 && page != 0x3f) || (subpage != 0 && subpage != 0xff)) {
		scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
		return;
	}
	memset(b, 0, sizeof(m->buf));
	b[hdr + 0] = 0x08; /* caching mode page */
	b[hdr + 1] = 0x12;
	size_t n = hdr + 20;

	if (ten) {
		usbip_put_be16(b, (uint16_t)(n - 2));
		b[3] = m->readonly ? 0x80 : 0; /* WP */
	} else {
		b[0] = (uint8_t)(n - 1);
		b[2] = m->readonly ? 0x80 : 0;
	}
	scsi_reply(m, n, alloc);
}

static void scsi_request_sense(struct sim_msc *m, const uint8_t *cdb)
{
	uint8_t *b = m->buf;

	/* Fixed format (SPC-4 §4.5.3), whatever DESC asks: usb-storage
	 * never asks for descriptor format. */
	memset(b, 0, 18);
	b[0] = 0x70;
	b[2] = m->sense_key;
	b[7] = 18 - 8;
	b[12] = m->asc;
	b[13] = m->ascq;
	scsi_reply(m, 18, cdb[4]);
	m->sense_key = SK_NO_SENSE;
	m->asc = 0;
	m->ascq = 0;
}

static void scsi_command(struct sim_msc *m, struct sim_dev *dev, const uint8_t *cdb, uint8_t lun)
{
	uint8_t *b = m->buf;
	uint64_t last = m->blocks - 1;

	m->data = (struct msc_data){.dir = MSC_DIR_NONE};
	m->status = CSW_GOOD;
	if (cdb[0] == OP_REQUEST_SENSE) {
		scsi_request_sense(m, cdb);
		return;
	}
	/* Sense data describes the last command only. */
	m->sense_key = SK_NO_SENSE;
	m->asc = 0;
	m->ascq = 0;
	if (lun != 0) {
		scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_LUN_NOT_SUPPORTED, 0);
		return;
	}
	memset(b, 0, sizeof(m->buf));
	switch (cdb[0]) {
	case OP_TEST_UNIT_READY:
	case OP_PREVENT_ALLOW:
	case OP_START_STOP_UNIT:
	case OP_SYNCHRONIZE_CACHE10:
		return;
	case OP_INQUIRY:
		scsi_inquiry(m, dev, cdb);
		return;
	case OP_READ_CAPACITY10:
		usbip_put_be32(b, last > 0xffffffffu ? 0xffffffffu : (uint32_t)last);
		usbip_put_be32(b + 4, SIM_MSC_BLOCK);
		scsi_reply(m, 8, 8);
		return;
	case OP_SERVICE_ACTION_IN16:
		if ((cdb[1] & 0x1f) != SA_READ_CAPACITY16) {
			scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
			return;
		}
		put_be64(b, last);
		usbip_put_be32(b + 8, SIM_MSC_BLOCK);
		scsi_reply(m, 32, usbip_get_be32(cdb + 10));
		return;
	case OP_READ_FORMAT_CAPS:
		b[3] = 8; /* capacity list length: one descriptor */
		usbip_put_be32(b + 4, m->blocks > 0xffffffffu ? 0xffffffffu : (uint32_t)m->blocks);
		b[8] = 0x02; /* formatted media */
		b[10] = SIM_MSC_BLOCK >> 8;
		b[11] = SIM_MSC_BLOCK & 0xff;
		scsi_reply(m, 12, usbip_get_be16(cdb + 7));
		return;
	case OP_MODE_SENSE6:
		scsi_mode_sense(m, cdb, false);
		return;
	case OP_MODE_SENSE10:
		scsi_mode_sense(m, cdb, true);
		return;
	case OP_REPORT_LUNS:
		b[3] = 8; /* one LUN: 0 */
		scsi_reply(m, 16, usbip_get_be32(cdb + 6));
		return;
	case OP_READ6:
	case OP_WRITE6: {
		uint32_t lba = ((uint32_t)(cdb[1] & 0x1f) << 16) | ((uint32_t)cdb[2] << 8) | cdb[3];

		scsi_rw(m, lba, cdb[4] != 0 ? cdb[4] : 256, cdb[0] == OP_WRITE6);
		return;
	}
	case OP_READ10:
	case OP_WRITE10:
		scsi_rw(m, usbip_get_be32(cdb + 2), usbip_get_be16(cdb + 7), cdb[0] == OP_WRITE10);
		return;
	case OP_READ16:
	case OP_WRITE16:
		scsi_rw(m, get_be64(cdb + 2), usbip_get_be32(cdb + 10), cdb[0] == OP_WRITE16);
		return;
	case OP_VERIFY10: {
		uint64_t lba = usbip_get_be32(cdb + 2), count = usbip_get_be16(cdb + 7);

		if (cdb[1] & 0x06) { /* BYTCHK: comparing data is not offered */
			scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD_IN_CDB, 0);
			return;
		}
		if (lba > m->blocks || count > m->blocks - lba)
			scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE, 0);
		return;
	}
	default:
		scsi_fail(m, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE, 0);
		return;
	}
}

/* ---- Bulk-Only Transport ------------------------------------------------- */

/* BOT §6.2.1: valid means 31 bytes with the signature; meaningful means no
 * reserved bits set and a CDB length of 1..16. */
static bool cbw_ok(const uint8_t *p, int32_t len)
{
	return len == CBW_SIZE && get_le32(p) == CBW_SIGNATURE && (p[13] & 0xf0) == 0 &&
	       (p[14] & 0xe0) == 0 && p[14] >= 1 && p[14] <= 16;
}

/* Runs the command of a CBW and chooses the data phase by the thirteen
 * cases of BOT §6.7 (Hn/Hi/Ho: the host's length and direction; Dn/Di/Do:
 * what the command wants). */
static void msc_cbw(struct sim_dev *dev, struct sim_msc *m, const uint8_t *cbw)
{
	bool host_in = cbw[12] & 0x80;
	uint64_t dlen;

	m->tag = get_le32(cbw + 4);
	m->host_len = get_le32(cbw + 8);
	m->moved = 0;
	m->done = 0;
	m->xfer = 0;
	scsi_command(m, dev, cbw + 15, cbw[13] & 0x0f);
	dlen = m->data.len;

	if (m->host_len == 0) {
		if (m->data.dir != MSC_DIR_NONE)
			m->status = CSW_PHASE_ERROR; /* cases 2, 3 */
		m->phase = MSC_STATUS;
	} else if (host_in) {
		if (m->data.dir == MSC_DIR_OUT) { /* case 8: Hi <> Do */
			m->status = CSW_PHASE_ERROR;
			m->phase = MSC_STATUS;
			sim_dev_stall(dev, MSC_EP_IN);
			return;
		}
		/* Cases 4, 5, 6; case 7 (Di > Hi) sends Hi bytes, phase error. */
		if (m->data.dir == MSC_DIR_IN)
			m->xfer = dlen < m->host_len ? dlen : m->host_len;
		if (m->data.dir == MSC_DIR_IN && dlen > m->host_len)
			m->status = CSW_PHASE_ERROR;
		m->phase = MSC_DATA_IN;
	} else {
		if (m->data.dir == MSC_DIR_IN) { /* case 10: Ho <> Di */
			m->status = CSW_PHASE_ERROR;
			m->phase = MSC_STATUS;
			sim_dev_stall(dev, MSC_EP_OUT);
			return;
		}
		/* Cases 9, 11, 12: take Ho bytes, write Do of them; case 13
		 * (Do > Ho) takes Ho bytes and writes nothing. */
		if (m->data.dir == MSC_DIR_OUT && dlen <= m->host_len)
			m->xfer = dlen;
		if (m->data.dir == MSC_DIR_OUT && dlen > m->host_len)
			m->status = CSW_PHASE_ERROR;
		m->phase = MSC_DATA_OUT;
	}
}

/* The bytes of the data phase the next IN URB carries. */
static uint32_t msc_in_len(const struct sim_msc *m, const struct usbip_urb *urb)
{
	uint64_t left = m->xfer - m->moved;

	return (uint64_t)urb->length < left ? (uint32_t)urb->length : (uint32_t)left;
}

/* Accounts for n bytes put in an IN URB of the data phase (io_rc: the
 * medium read's result); returns the bytes it carries. */
static uint32_t msc_data_in_end(struct sim_msc *m, struct usbip_urb *urb, uint32_t n, int io_rc)
{
	if (io_rc < 0) {
		scsi_fail(m, SK_MEDIUM_ERROR, ASC_READ_ERROR, 0);
		m->xfer = m->moved; /* end the data phase with a short packet */
		n = 0;
	}
	m->moved += n;
	m->done += n;
	/* A short packet ends the data phase early (BOT §6.7.2); so does
	 * reaching the host's length. */
	if (n < (uint32_t)urb->length || m->done >= m->host_len)
		m->phase = MSC_STATUS;
	return n;
}

/* Fills one IN URB of the data phase; returns the bytes put in it. */
static uint32_t msc_data_in(struct sim_msc *m, struct usbip_urb *urb)
{
	uint32_t n = msc_in_len(m, urb);
	int rc = 0;

	if (n > 0 && m->data.medium)
		rc = medium_io(m, m->data.offset + m->moved, urb->data, n, false);
	else if (n > 0)
		memcpy(urb->data, m->buf + m->moved, n);
	return msc_data_in_end(m, urb, n, rc);
}

/* The bytes of an OUT URB of the data phase that go to the medium. */
static uint32_t msc_out_len(const struct sim_msc *m, const struct usbip_urb *urb)
{
	uint32_t left = m->host_len - m->done;
	uint32_t n = (uint32_t)urb->length < left ? (uint32_t)urb->length : left;

	if (m->moved >= m->xfer)
		return 0;
	return m->xfer - m->moved < n ? (uint32_t)(m->xfer - m->moved) : n;
}

/* Accounts for an OUT URB of the data phase, w of its bytes written with
 * result io_rc. */
static void msc_data_out_end(struct sim_msc *m, struct usbip_urb *urb, uint32_t w, int io_rc)
{
	uint32_t left = m->host_len - m->done;
	uint32_t n = (uint32_t)urb->length < left ? (uint32_t)urb->length : left;

	if (io_rc < 0) {
		scsi_fail(m, SK_MEDIUM_ERROR, ASC_WRITE_ERROR, 0);
		m->xfer = m->moved; /* take the rest, write nothing more */
	} else {
		m->moved += w;
	}
	m->done += n;
	if (m->done >= m->host_len)
		m->phase = MSC_STATUS;
}

/* Takes one OUT URB of the data phase. */
static void msc_data_out(struct sim_msc *m, struct usbip_urb *urb)
{
	uint32_t w = msc_out_len(m, urb);
	int rc = 0;

	if (w > 0)
		rc = medium_io(m, m->data.offset + m->moved, urb->data, w, true);
	msc_data_out_end(m, urb, w, rc);
}

/* ---- file I/O off the loop ---------------------------------------------- */

static void msc_pump(struct sim_dev *dev);

/* On the worker: the job owns urb->data and reads only immutable state. */
static void msc_io_run(struct offload_job *job)
{
	struct msc_io *io = (struct msc_io *)job;
	struct sim_msc tmp = {.fd = io->fd};

	sim_dev_delay(io->dev); /* the test aid's slow medium */
	io->rc = medium_io(&tmp, io->off, io->urb->data, io->n, io->write);
}

/* Back on the loop: account, complete, and run the transport on. */
static void msc_io_done(struct offload_job *job)
{
	struct msc_io *io = (struct msc_io *)job;
	struct sim_dev *dev = io->dev;
	struct sim_msc *m = dev->cls_state;
	struct usbip_urb *urb = io->urb;

	m->io_busy = false;
	io->urb = NULL;
	if (io->gen != m->gen) {
		/* A reset came meanwhile: the URB is killed by it. */
		sim_dev_complete(urb, -USBIP_ESHUTDOWN, 0);
	} else if (io->write) {
		msc_data_out_end(m, urb, io->n, io->rc);
		sim_dev_complete(urb, 0, urb->length);
	} else {
		uint32_t n = msc_data_in_end(m, urb, io->n, io->rc);

		sim_dev_complete(urb, 0, (int32_t)n);
	}
	msc_pump(dev);
}

/* Starts the medium I/O of urb on the worker when the medium is a file and
 * the device has one. Returns true when started (the pump waits for it). */
static bool msc_io_start(struct sim_dev *dev, struct sim_msc *m, struct usbip_urb *urb, bool write)
{
	struct msc_io *io = &m->io;
	uint32_t n = write ? msc_out_len(m, urb) : msc_in_len(m, urb);

	if (m->fd < 0 || dev->work == NULL || !m->data.medium || n == 0)
		return false;
	io->job.run = msc_io_run;
	io->job.done = msc_io_done;
	io->dev = dev;
	io->urb = urb;
	io->fd = m->fd;
	io->off = m->data.offset + m->moved;
	io->n = n;
	io->write = write;
	io->rc = 0;
	io->gen = m->gen;
	if (offload_submit(dev->work, &io->job) < 0)
		return false;
	m->io_busy = true;
	return true;
}

static uint32_t msc_csw(struct sim_msc *m, struct usbip_urb *urb)
{
	uint8_t csw[CSW_SIZE];
	uint32_t n = urb->length < CSW_SIZE ? (uint32_t)urb->length : CSW_SIZE;

	put_le32(csw, CSW_SIGNATURE);
	put_le32(csw + 4, m->tag);
	put_le32(csw + 8, m->host_len - (uint32_t)m->moved);
	csw[12] = m->status;
	memcpy(urb->data, csw, n);
	m->phase = MSC_IDLE;
	return n;
}

static void msc_invalid_cbw(struct sim_dev *dev, struct sim_msc *m)
{
	/* BOT §6.6.1: stall both pipes until a Reset Recovery. */
	m->phase = MSC_NEED_RESET;
	sim_dev_stall(dev, MSC_EP_IN);
	sim_dev_stall(dev, MSC_EP_OUT);
}

/* Runs the transport as far as the held URBs allow; one completion per
 * round, after the state has moved on. */
static void msc_pump(struct sim_dev *dev)
{
	for (;;) {
		struct sim_msc *m = msc_of(dev);
		struct usbip_urb *urb;
		uint32_t n;

		if (m->io_busy)
			return; /* msc_io_done pumps on */
		switch (m->phase) {
		case MSC_IDLE:
			urb = sim_dev_take(dev, MSC_EP_OUT);
			if (urb == NULL)
				return;
			/* The CBW's packet was taken either way; an invalid one
			 * shows as stalls on what follows. */
			if (cbw_ok(urb->data, urb->length))
				msc_cbw(dev, m, urb->data);
			else
				msc_invalid_cbw(dev, m);
			sim_dev_complete(urb, 0, urb->length);
			break;
		case MSC_DATA_IN:
			urb = sim_dev_take(dev, MSC_EP_IN);
			if (urb == NULL)
				return;
			if (msc_io_start(dev, m, urb, false))
				return;
			n = msc_data_in(m, urb);
			sim_dev_complete(urb, 0, (int32_t)n);
			break;
		case MSC_DATA_OUT:
			urb = sim_dev_take(dev, MSC_EP_OUT);
			if (urb == NULL)
				return;
			if (msc_io_start(dev, m, urb, true))
				return;
			msc_data_out(m, urb);
			sim_dev_complete(urb, 0, urb->length);
			break;
		case MSC_STATUS:
			urb = sim_dev_take(dev, MSC_EP_IN);
			if (urb == NULL)
				return;
			n = msc_csw(m, urb);
			sim_dev_complete(urb, 0, (int32_t)n);
			break;
		default:
			return;
		}
	}
}

static int msc_submit(struct sim_dev *dev, struct usbip_urb *urb)
{
	if (msc_of(dev)->phase == MSC_NEED_RESET) {
		sim_dev_stall(dev, SIM_URB_ADDR(urb));
		return -USBIP_EPIPE;
	}
	sim_dev_hold(dev, urb);
	msc_pump(dev);
	return 0;
}

static void msc_halt_cleared(struct sim_dev *dev, uint8_t ep_addr)
{
	/* BOT §6.6.1: the pipes keep stalling until the class reset. */
	if (msc_of(dev)->phase == MSC_NEED_RESET)
		sim_dev_stall(dev, ep_addr);
}

static int msc_control(struct sim_dev *dev, const struct sim_ctrl *c)
{
	struct sim_msc *m = msc_of(dev);

	if (c->wIndex != MSC_INTF || c->wValue != 0)
		return -USBIP_EPIPE;
	if (c->bmRequestType == 0xa1 && c->bRequest == BOT_GET_MAX_LUN) {
		if (c->wLength != 1)
			return -USBIP_EPIPE;
		c->buf[0] = 0; /* one LUN */
		return 1;
	}
	if (c->bmRequestType == 0x21 && c->bRequest == BOT_RESET) {
		if (c->wLength != 0)
			return -USBIP_EPIPE;
		/* BOT §3.1: ready for a CBW; halts and toggles are kept. */
		m->phase = MSC_IDLE;
		m->gen++;
		msc_pump(dev);
		return 0;
	}
	return -USBIP_EPIPE;
}

static void msc_restart(struct sim_dev *dev)
{
	struct sim_msc *m = msc_of(dev);

	m->phase = MSC_IDLE;
	m->sense_key = SK_NO_SENSE;
	m->asc = 0;
	m->ascq = 0;
	m->gen++;
}

static void msc_destroy(struct sim_dev *dev)
{
	struct sim_msc *m = msc_of(dev);

	if (m != NULL) {
		if (m->fd >= 0)
			close(m->fd);
		free(m->ram);
	}
	free(m);
	dev->cls_state = NULL;
}

static const struct sim_class msc_class = {
        .name = "msc",
        .restart = msc_restart,
        .control = msc_control,
        .submit = msc_submit,
        .halt_cleared = msc_halt_cleared,
        .destroy = msc_destroy,
};

static int msc_open_file(struct sim_msc *m, const char *path, char *err, size_t errlen)
{
	m->fd = open(path, O_RDWR | O_CLOEXEC);
	if (m->fd < 0 && (errno == EACCES || errno == EROFS || errno == EPERM)) {
		m->fd = open(path, O_RDONLY | O_CLOEXEC);
		m->readonly = m->fd >= 0;
	}
	if (m->fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	off_t size = lseek(m->fd, 0, SEEK_END);

	if (size < 0) {
		snprintf(err, errlen, "cannot size %s: %s", path, strerror(errno));
		return -1;
	}
	if (size == 0 || size % SIM_MSC_BLOCK != 0) {
		snprintf(err, errlen,
		         "%s is %lld bytes: the size must be a non-zero multiple of %d", path,
		         (long long)size, SIM_MSC_BLOCK);
		return -1;
	}
	m->size = (uint64_t)size;
	return 0;
}

static void msc_build_config(struct sim_dev *dev)
{
	struct sim_desc_builder b;

	sim_desc_begin(&b, dev->config_desc, sizeof(dev->config_desc));
	sim_desc_interface(&b, MSC_INTF, 2, 0x08, 0x06, 0x50); /* SCSI, bulk-only */
	sim_desc_endpoint(&b, MSC_EP_IN, USBIP_EP_BULK, 512, 0);
	sim_desc_endpoint(&b, MSC_EP_OUT, USBIP_EP_BULK, 512, 0);
	dev->config_len = sim_desc_end(&b);
}

int sim_msc_init(struct sim_dev *dev, const char *path, uint64_t ram_size, char *err, size_t errlen)
{
	const struct sim_identity id = {
	        .ids = {.idProduct = SIM_MSC_PID, .bcdDevice = 0x0100},
	        .product = "usblab virtual disk",
	        .serial_tag = "MSC",
	};
	struct sim_msc *m = calloc(1, sizeof(*m));

	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	m->fd = -1;
	dev->cls = &msc_class;
	dev->cls_state = m;
	if (path != NULL) {
		if (msc_open_file(m, path, err, errlen) < 0)
			goto fail;
	} else {
		if (ram_size == 0 || ram_size % SIM_MSC_BLOCK != 0 || ram_size > SIM_MSC_RAM_MAX) {
			snprintf(err, errlen,
			         "RAM disk size %llu must be a non-zero multiple of %d, at most 1G",
			         (unsigned long long)ram_size, SIM_MSC_BLOCK);
			goto fail;
		}
		m->ram = calloc(1, (size_t)ram_size);
		if (m->ram == NULL) {
			snprintf(err, errlen, "cannot allocate a %llu-byte RAM disk",
			         (unsigned long long)ram_size);
			goto fail;
		}
		m->size = ram_size;
	}
	m->blocks = m->size / SIM_MSC_BLOCK;
	sim_dev_set_identity(dev, &id);
	msc_build_config(dev);
	msc_restart(dev);
	return 0;
fail:
	msc_destroy(dev);
	dev->cls = NULL;
	return -1;
}
