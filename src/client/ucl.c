/* SPDX-License-Identifier: MIT */
/*
 * ucl.c - usblab client library: blocking USB/IP client (see ucl.h).
 *
 * Every byte on the wire is encoded and decoded by lib/usbip's codec; this
 * file owns the sockets, the seqnum counter, the table of pending URBs and
 * the client-side rules of shared/docs/usbip-protocol.md §4.2.
 */
#include "ucl.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

/* Receive buffer; payloads at least half this size are read straight into
 * the caller's buffer. */
#define UCL_RX_SIZE   16384
#define UCL_RX_DIRECT (UCL_RX_SIZE / 2)

/* Bound on each OP-phase exchange (devlist, import). */
#define UCL_OP_TIMEOUT_MS 10000

_Static_assert((UCL_MAX_PENDING & (UCL_MAX_PENDING - 1)) == 0,
               "UCL_MAX_PENDING must be a power of two");

enum ucl_slot_kind {
	UCL_SLOT_FREE = 0,
	UCL_SLOT_URB = 1,
	UCL_SLOT_UNLINK = 2,
};

/* One seqnum waiting for its reply. */
struct ucl_slot {
	uint32_t seqnum;
	uint8_t kind; /* enum ucl_slot_kind */
	bool dir_in;
	bool iso;
	void *buf;
	uint32_t len;
	struct usbip_iso_packet *iso_pkts;
	uint32_t niso;
	uint32_t target; /* UCL_SLOT_UNLINK: the seqnum being unlinked */
};

struct ucl_conn {
	int fd;
	uint32_t devid;
	uint32_t next_seqnum;
	int dead; /* 0, or the error that killed the connection */
	unsigned npending;
	/* Indexed by seqnum % UCL_MAX_PENDING: ucl_next_seqnum() skips seqnums
	 * whose slot is taken, which is allowed because seqnums are opaque to
	 * the server (§4.1). */
	struct ucl_slot slots[UCL_MAX_PENDING];
	size_t rx_off, rx_len;
	uint8_t rx[UCL_RX_SIZE];
};

const char *ucl_strerror(int err)
{
	if (err <= UCL_E_OS_BASE)
		return strerror(UCL_E_OS_BASE - err);
	switch (err) {
	case UCL_E_PROTO:
		return "the server broke the USB/IP protocol";
	case UCL_E_TIMEOUT:
		return "timed out waiting for the server";
	case UCL_E_FULL:
		return "too many URBs pending on this connection";
	case UCL_E_ARG:
		return "invalid argument";
	case UCL_E_RESOLVE:
		return "cannot resolve host or port";
	case UCL_E_URB:
		return "the URB completed with an error status";
	case UCL_E_BUSY:
		return "the connection has URBs pending";
	case UCL_E_CSW:
		return "malformed mass-storage status (CSW)";
	case UCL_E_ST(USBIP_ST_NA):
		return "import refused: not available (ST_NA)";
	case UCL_E_ST(USBIP_ST_DEV_BUSY):
		return "import refused: device busy (ST_DEV_BUSY)";
	case UCL_E_ST(USBIP_ST_DEV_ERR):
		return "import refused: device error (ST_DEV_ERR)";
	case UCL_E_ST(USBIP_ST_NODEV):
		return "import refused: no such device (ST_NODEV)";
	case UCL_E_ST(USBIP_ST_ERROR):
		return "import refused: error (ST_ERROR)";
	case UCL_E_ST_OTHER:
		return "import refused with an unknown status";
	default:
		return usbip_strerror(err);
	}
}

static int ucl_status_error(uint32_t status)
{
	if (status >= USBIP_ST_NA && status <= USBIP_ST_ERROR)
		return UCL_E_ST(status);
	return UCL_E_ST_OTHER;
}

/* ---- Sockets ------------------------------------------------------------ */

static int ucl_set_sock_timeout(int fd, unsigned ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (long)(ms % 1000) * 1000};

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0)
		return UCL_E_OS(errno);
	return 0;
}

/* Connects to host:port with TCP_NODELAY (§1: both Linux sides set it) and
 * the OP-phase timeout, and wraps the socket in a new connection. */
static int ucl_connect(const char *host, const char *port, struct ucl_conn **out)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL, *ai;
	struct ucl_conn *c = NULL;
	int fd = -1, one = 1, rc;

	if (getaddrinfo(host, port, &hints, &res) != 0)
		return UCL_E_RESOLVE;
	rc = UCL_E_RESOLVE;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			rc = UCL_E_OS(errno);
			continue;
		}
		/* The OP-phase timeout bounds connect() too (Linux applies
		 * SO_SNDTIMEO to it): a server behind a dead link would
		 * otherwise hold the caller for the SYN retries' two minutes. */
		rc = ucl_set_sock_timeout(fd, UCL_OP_TIMEOUT_MS);
		if (rc == 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (rc == 0)
			rc = UCL_E_OS(errno == EINPROGRESS ? ETIMEDOUT : errno);
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return rc;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
		rc = UCL_E_OS(errno);
		goto fail;
	}
	rc = ucl_set_sock_timeout(fd, UCL_OP_TIMEOUT_MS);
	if (rc < 0)
		goto fail;
	c = calloc(1, sizeof(*c));
	if (!c) {
		rc = UCL_E_OS(ENOMEM);
		goto fail;
	}
	c->fd = fd;
	c->next_seqnum = 1;
	*out = c;
	return 0;
fail:
	close(fd);
	return rc;
}

void ucl_close(struct ucl_conn *conn)
{
	if (!conn)
		return;
	close(conn->fd);
	free(conn);
}

int ucl_set_timeout(struct ucl_conn *conn, unsigned ms)
{
	return ucl_set_sock_timeout(conn->fd, ms);
}

int ucl_fd(const struct ucl_conn *conn)
{
	return conn->fd;
}

uint32_t ucl_devid(const struct ucl_conn *conn)
{
	return conn->devid;
}

unsigned ucl_pending(const struct ucl_conn *conn)
{
	return conn->npending;
}

/* Marks the connection unusable: once part of a message is lost the stream
 * cannot be resynchronised. Returns err. */
static int ucl_kill(struct ucl_conn *c, int err)
{
	if (!c->dead)
		c->dead = err;
	return err;
}

static int ucl_errno_error(int e)
{
	if (e == EAGAIN || e == EWOULDBLOCK)
		return UCL_E_TIMEOUT;
	return UCL_E_OS(e);
}

/* Sends every byte of iov[0..n). Any failure kills the connection, since
 * part of a PDU may have gone out. */
static int ucl_send_all(struct ucl_conn *c, struct iovec *iov, int n)
{
	while (n > 0) {
		struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
		ssize_t w = sendmsg(c->fd, &msg, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return ucl_kill(c, ucl_errno_error(errno));
		}
		while (n > 0 && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/*
 * Reads exactly n bytes. msg_start says these are the first bytes of a
 * message: a timeout before any of them arrived leaves the connection
 * usable, any other failure kills it.
 */
static int ucl_recv_all(struct ucl_conn *c, void *dst, size_t n, bool msg_start)
{
	uint8_t *p = dst;
	size_t got = 0;

	if (c->dead)
		return c->dead;
	while (got < n) {
		size_t avail = c->rx_len - c->rx_off;
		ssize_t r;

		if (avail > 0) {
			size_t k = avail < n - got ? avail : n - got;

			memcpy(p + got, c->rx + c->rx_off, k);
			c->rx_off += k;
			got += k;
			continue;
		}
		c->rx_off = c->rx_len = 0;
		if (n - got >= UCL_RX_DIRECT)
			r = recv(c->fd, p + got, n - got, 0);
		else
			r = recv(c->fd, c->rx, sizeof(c->rx), 0);
		if (r < 0) {
			int err;

			if (errno == EINTR)
				continue;
			err = ucl_errno_error(errno);
			if (err == UCL_E_TIMEOUT && msg_start && got == 0)
				return err;
			return ucl_kill(c, err);
		}
		if (r == 0)
			return ucl_kill(c, USBIP_E_CLOSED);
		if (n - got >= UCL_RX_DIRECT)
			got += (size_t)r;
		else
			c->rx_len = (size_t)r;
	}
	return 0;
}

/* ---- OP phase ----------------------------------------------------------- */

/* Reads an op_common and checks it is a reply with the expected code. A
 * wrong version or code is a protocol error (§2.1: vhci treats an
 * unexpected code as ST_ERROR). Returns 0 and the status in *status. */
static int ucl_recv_op_common(struct ucl_conn *c, uint16_t code, uint32_t *status)
{
	uint8_t b[USBIP_OP_COMMON_SIZE];
	struct usbip_op_common op;
	int rc;

	rc = ucl_recv_all(c, b, sizeof(b), false);
	if (rc < 0)
		return rc;
	if (usbip_decode_op_common(b, sizeof(b), &op) != USBIP_OP_COMMON_SIZE || op.code != code)
		return ucl_kill(c, UCL_E_PROTO);
	*status = op.status;
	return 0;
}

int ucl_devlist(const char *host, const char *port, struct ucl_device *out, unsigned max,
                unsigned *n)
{
	uint8_t b[USBIP_DEVICE_SIZE + USBIP_MAX_INTERFACES * USBIP_INTERFACE_SIZE];
	struct iovec iov;
	struct ucl_conn *c = NULL;
	uint32_t status, ndev, i;
	int rc;

	rc = ucl_connect(host, port, &c);
	if (rc < 0)
		return rc;
	rc = usbip_encode_op_req_devlist(b, sizeof(b));
	if (rc < 0)
		goto out;
	iov = (struct iovec){.iov_base = b, .iov_len = (size_t)rc};
	rc = ucl_send_all(c, &iov, 1);
	if (rc < 0)
		goto out;
	rc = ucl_recv_op_common(c, USBIP_OP_REP_DEVLIST, &status);
	if (rc < 0)
		goto out;
	if (status != USBIP_ST_OK) {
		rc = ucl_status_error(status);
		goto out;
	}
	/* The codec decodes the 12-byte header as a whole: put the op_common
	 * back in front of ndev. */
	rc = usbip_encode_op_common(b, sizeof(b), USBIP_OP_REP_DEVLIST, status);
	if (rc < 0)
		goto out;
	rc = ucl_recv_all(c, b + USBIP_OP_COMMON_SIZE, 4, false);
	if (rc < 0)
		goto out;
	rc = usbip_decode_op_rep_devlist_header(b, USBIP_DEVLIST_HEADER_SIZE, &ndev);
	if (rc != USBIP_DEVLIST_HEADER_SIZE) {
		rc = UCL_E_PROTO;
		goto out;
	}
	for (i = 0; i < ndev; i++) {
		struct ucl_device dev;
		size_t nif;

		/* §2.4: bNumInterfaces must be read before the interface records
		 * (and the next device) can be found. */
		rc = ucl_recv_all(c, b, USBIP_DEVICE_SIZE, false);
		if (rc < 0)
			goto out;
		memset(&dev, 0, sizeof(dev));
		rc = usbip_decode_usb_device(b, USBIP_DEVICE_SIZE, &dev.info, NULL, false);
		if (rc != USBIP_DEVICE_SIZE) {
			rc = UCL_E_PROTO;
			goto out;
		}
		nif = dev.info.bNumInterfaces;
		if (nif > USBIP_MAX_INTERFACES) {
			rc = UCL_E_PROTO;
			goto out;
		}
		rc = ucl_recv_all(c, b + USBIP_DEVICE_SIZE, nif * USBIP_INTERFACE_SIZE, false);
		if (rc < 0)
			goto out;
		rc = usbip_decode_usb_device(b, USBIP_DEVICE_SIZE + nif * USBIP_INTERFACE_SIZE,
		                             &dev.info, dev.ifs, true);
		if (rc < 0 || (size_t)rc != USBIP_DEVICE_SIZE + nif * USBIP_INTERFACE_SIZE) {
			rc = UCL_E_PROTO;
			goto out;
		}
		if (i < max)
			out[i] = dev;
	}
	*n = ndev;
	rc = 0;
out:
	ucl_close(c);
	return rc;
}

int ucl_import(const char *host, const char *port, const char *busid, struct ucl_conn **conn,
               struct usbip_usb_device *dev)
{
	uint8_t b[USBIP_OP_COMMON_SIZE + USBIP_DEVICE_SIZE];
	struct usbip_usb_device info;
	struct ucl_conn *c = NULL;
	struct iovec iov;
	uint32_t status;
	int rc;

	if (strlen(busid) >= USBIP_BUSID_SIZE)
		return UCL_E_ARG;
	rc = ucl_connect(host, port, &c);
	if (rc < 0)
		return rc;
	rc = usbip_encode_op_req_import(b, sizeof(b), busid);
	if (rc < 0)
		goto fail;
	iov = (struct iovec){.iov_base = b, .iov_len = (size_t)rc};
	rc = ucl_send_all(c, &iov, 1);
	if (rc < 0)
		goto fail;
	rc = ucl_recv_op_common(c, USBIP_OP_REP_IMPORT, &status);
	if (rc < 0)
		goto fail;
	/* §2.4: on failure the reply is exactly 8 bytes. */
	if (status != USBIP_ST_OK) {
		rc = ucl_status_error(status);
		goto fail;
	}
	rc = usbip_encode_op_common(b, sizeof(b), USBIP_OP_REP_IMPORT, status);
	if (rc < 0)
		goto fail;
	rc = ucl_recv_all(c, b + USBIP_OP_COMMON_SIZE, USBIP_DEVICE_SIZE, false);
	if (rc < 0)
		goto fail;
	rc = usbip_decode_op_rep_import(b, sizeof(b), &status, &info);
	if (rc != (int)sizeof(b) || status != USBIP_ST_OK) {
		rc = UCL_E_PROTO;
		goto fail;
	}
	/* §2.4: the client checks that the server imported what it asked for. */
	if (strcmp(info.busid, busid) != 0) {
		rc = UCL_E_PROTO;
		goto fail;
	}
	rc = ucl_set_sock_timeout(c->fd, 0);
	if (rc < 0)
		goto fail;
	c->devid = info.busnum << 16 | info.devnum;
	if (dev)
		*dev = info;
	*conn = c;
	return 0;
fail:
	ucl_close(c);
	return rc;
}

/* ---- URB phase ---------------------------------------------------------- */

static struct ucl_slot *ucl_slot_of(struct ucl_conn *c, uint32_t seqnum)
{
	return &c->slots[seqnum & (UCL_MAX_PENDING - 1)];
}

/* Finds the pending entry of that kind for seqnum, or NULL. */
static struct ucl_slot *ucl_slot_find(struct ucl_conn *c, uint32_t seqnum, uint8_t kind)
{
	struct ucl_slot *s = ucl_slot_of(c, seqnum);

	return s->kind == kind && s->seqnum == seqnum ? s : NULL;
}

/* Takes the next seqnum whose slot is free. 0 is skipped when the counter
 * wraps, so that 0 never names a URB. */
static struct ucl_slot *ucl_slot_take(struct ucl_conn *c, uint8_t kind)
{
	if (c->npending >= UCL_MAX_PENDING)
		return NULL;
	for (;;) {
		uint32_t seq = c->next_seqnum++;
		struct ucl_slot *s;

		if (seq == 0)
			continue;
		s = ucl_slot_of(c, seq);
		if (s->kind != UCL_SLOT_FREE)
			continue;
		memset(s, 0, sizeof(*s));
		s->seqnum = seq;
		s->kind = kind;
		c->npending++;
		return s;
	}
}

static void ucl_slot_release(struct ucl_conn *c, struct ucl_slot *s)
{
	s->kind = UCL_SLOT_FREE;
	c->npending--;
}

void ucl_setup(uint8_t setup[8], uint8_t bmRequestType, uint8_t bRequest, uint16_t wValue,
               uint16_t wIndex, uint16_t wLength)
{
	/* §3.2: setup travels in USB byte order, wValue/wIndex/wLength LE. */
	setup[0] = bmRequestType;
	setup[1] = bRequest;
	usbip_put_le16(setup + 2, wValue);
	usbip_put_le16(setup + 4, wIndex);
	usbip_put_le16(setup + 6, wLength);
}

int ucl_submit(struct ucl_conn *conn, const struct ucl_xfer *x, uint32_t *seqnum)
{
	uint8_t hdr[USBIP_HEADER_SIZE];
	uint8_t *isobuf = NULL;
	struct usbip_header h;
	struct iovec iov[3];
	struct ucl_slot *s;
	bool iso = x->type == UCL_EP_ISO;
	int n = 0, rc;

	if (conn->dead)
		return conn->dead;
	if (x->ep > 15 || x->type > UCL_EP_INT || x->len > USBIP_MAX_TRANSFER ||
	    (x->len > 0 && !x->buf) ||
	    (iso && (x->niso > USBIP_MAX_ISO_PACKETS || (x->niso > 0 && !x->iso))))
		return UCL_E_ARG;
	if (iso && x->niso > 0) {
		size_t isolen = (size_t)x->niso * USBIP_ISO_DESC_SIZE;

		isobuf = malloc(isolen);
		if (!isobuf)
			return UCL_E_OS(ENOMEM);
		rc = usbip_encode_iso(isobuf, isolen, x->iso, x->niso);
		if (rc < 0)
			goto out;
	}
	s = ucl_slot_take(conn, UCL_SLOT_URB);
	if (!s) {
		rc = UCL_E_FULL;
		goto out;
	}
	s->dir_in = x->dir_in;
	s->iso = iso;
	s->buf = x->buf;
	s->len = x->len;
	s->iso_pkts = x->iso;
	s->niso = iso ? x->niso : 0;

	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_SUBMIT;
	h.base.seqnum = s->seqnum;
	h.base.devid = conn->devid;
	h.base.direction = x->dir_in ? USBIP_DIR_IN : USBIP_DIR_OUT;
	h.base.ep = x->ep;
	h.u.cmd_submit.transfer_flags = x->flags | (x->dir_in ? USBIP_URB_DIR_IN : 0);
	h.u.cmd_submit.transfer_buffer_length = (int32_t)x->len;
	/* §3.2: Linux sends start_frame -1 on interrupt URBs. §3.5: np is 0
	 * for anything but ISO. */
	h.u.cmd_submit.start_frame = x->type == UCL_EP_INT ? -1 : x->start_frame;
	h.u.cmd_submit.number_of_packets = iso ? (int32_t)x->niso : 0;
	h.u.cmd_submit.interval = x->interval;
	if (x->type == UCL_EP_CONTROL)
		memcpy(h.u.cmd_submit.setup, x->setup, sizeof(h.u.cmd_submit.setup));
	rc = usbip_encode_header(hdr, sizeof(hdr), &h);
	if (rc != USBIP_HEADER_SIZE) {
		ucl_slot_release(conn, s);
		rc = rc < 0 ? rc : UCL_E_ARG;
		goto out;
	}
	iov[n++] = (struct iovec){.iov_base = hdr, .iov_len = sizeof(hdr)};
	/* §3.3: the OUT payload (whole, for ISO too), then the descriptors. */
	if (!x->dir_in && x->len > 0)
		iov[n++] = (struct iovec){.iov_base = x->buf, .iov_len = x->len};
	if (isobuf)
		iov[n++] = (struct iovec){.iov_base = isobuf,
		                          .iov_len = (size_t)x->niso * USBIP_ISO_DESC_SIZE};
	rc = ucl_send_all(conn, iov, n);
	if (rc < 0) {
		ucl_slot_release(conn, s);
		goto out;
	}
	if (seqnum)
		*seqnum = s->seqnum;
out:
	free(isobuf);
	return rc;
}

int ucl_unlink(struct ucl_conn *conn, uint32_t seqnum, uint32_t *unlink_seqnum)
{
	uint8_t hdr[USBIP_HEADER_SIZE];
	struct usbip_header h;
	struct iovec iov;
	struct ucl_slot *s;
	int rc;

	if (conn->dead)
		return conn->dead;
	s = ucl_slot_take(conn, UCL_SLOT_UNLINK);
	if (!s)
		return UCL_E_FULL;
	s->target = seqnum;
	/* §3.1: direction and ep are 0 in CMD_UNLINK. */
	memset(&h, 0, sizeof(h));
	h.base.command = USBIP_CMD_UNLINK;
	h.base.seqnum = s->seqnum;
	h.base.devid = conn->devid;
	h.u.cmd_unlink.unlink_seqnum = seqnum;
	rc = usbip_encode_header(hdr, sizeof(hdr), &h);
	if (rc != USBIP_HEADER_SIZE) {
		ucl_slot_release(conn, s);
		return rc < 0 ? rc : UCL_E_ARG;
	}
	iov = (struct iovec){.iov_base = hdr, .iov_len = sizeof(hdr)};
	rc = ucl_send_all(conn, &iov, 1);
	if (rc < 0) {
		ucl_slot_release(conn, s);
		return rc;
	}
	if (unlink_seqnum)
		*unlink_seqnum = s->seqnum;
	return 0;
}

/* Reads the payload of a RET_SUBMIT for slot s (§3.3, §3.4) into the
 * caller's buffer and ISO descriptors. */
static int ucl_recv_ret_submit(struct ucl_conn *c, const struct usbip_header *h, struct ucl_slot *s)
{
	const struct usbip_header_ret_submit *r = &h->u.ret_submit;
	uint8_t *isobuf = NULL;
	size_t isolen;
	long size;
	int rc;

	size = usbip_ret_submit_payload_size(h, s->dir_in, s->iso);
	if (size < 0)
		return ucl_kill(c, UCL_E_PROTO);
	/* §3.3: vhci drops the connection when actual_length exceeds the
	 * buffer. */
	if (r->actual_length < 0 || (uint32_t)r->actual_length > s->len)
		return ucl_kill(c, UCL_E_PROTO);
	/* §3.5: for ISO, np must be the number of descriptors we can take. */
	if (s->iso && (r->number_of_packets < 0 || (uint32_t)r->number_of_packets != s->niso))
		return ucl_kill(c, UCL_E_PROTO);
	if (s->dir_in && r->actual_length > 0) {
		rc = ucl_recv_all(c, s->buf, (size_t)r->actual_length, false);
		if (rc < 0)
			return rc;
	}
	if (!s->iso || s->niso == 0)
		return 0;
	isolen = (size_t)s->niso * USBIP_ISO_DESC_SIZE;
	isobuf = malloc(isolen);
	if (!isobuf)
		return ucl_kill(c, UCL_E_OS(ENOMEM));
	rc = ucl_recv_all(c, isobuf, isolen, false);
	if (rc < 0)
		goto out;
	rc = usbip_decode_iso(isobuf, isolen, s->iso_pkts, s->niso, s->len);
	if (rc < 0) {
		rc = ucl_kill(c, UCL_E_PROTO);
		goto out;
	}
	/* §3.4: IN data arrives packed and must add up to actual_length; OUT
	 * descriptors must add up too. */
	if (s->dir_in) {
		if (usbip_iso_unpack(s->buf, s->len, (uint32_t)r->actual_length, s->iso_pkts,
		                     s->niso) < 0) {
			rc = ucl_kill(c, UCL_E_PROTO);
			goto out;
		}
	} else {
		uint64_t sum = 0;
		uint32_t i;

		for (i = 0; i < s->niso; i++)
			sum += s->iso_pkts[i].actual_length;
		if (sum != (uint64_t)r->actual_length) {
			rc = ucl_kill(c, UCL_E_PROTO);
			goto out;
		}
	}
	rc = 0;
out:
	free(isobuf);
	return rc;
}

int ucl_wait(struct ucl_conn *conn, struct ucl_reply *reply)
{
	uint8_t b[USBIP_HEADER_SIZE];
	struct usbip_header h;
	struct ucl_slot *s, *t;
	int rc;

	rc = ucl_recv_all(conn, b, sizeof(b), true);
	if (rc < 0)
		return rc;
	if (usbip_decode_header(b, sizeof(b), &h) != USBIP_HEADER_SIZE)
		return ucl_kill(conn, UCL_E_PROTO);
	memset(reply, 0, sizeof(*reply));
	reply->command = h.base.command;
	reply->seqnum = h.base.seqnum;
	switch (h.base.command) {
	case USBIP_RET_SUBMIT:
		/* §4.2: a RET_SUBMIT for a seqnum that is not pending (never sent,
		 * already answered, or completed by a RET_UNLINK) is fatal. */
		s = ucl_slot_find(conn, h.base.seqnum, UCL_SLOT_URB);
		if (!s)
			return ucl_kill(conn, UCL_E_PROTO);
		rc = ucl_recv_ret_submit(conn, &h, s);
		if (rc < 0)
			return rc;
		reply->status = h.u.ret_submit.status;
		reply->actual_length = h.u.ret_submit.actual_length;
		reply->start_frame = h.u.ret_submit.start_frame;
		reply->number_of_packets = h.u.ret_submit.number_of_packets;
		reply->error_count = h.u.ret_submit.error_count;
		reply->buf = s->buf;
		reply->dir_in = s->dir_in;
		ucl_slot_release(conn, s);
		return 0;
	case USBIP_RET_UNLINK:
		/* vhci ignores a RET_UNLINK it did not ask for; a test client is
		 * stricter, since only a broken server sends one. */
		s = ucl_slot_find(conn, h.base.seqnum, UCL_SLOT_UNLINK);
		if (!s)
			return ucl_kill(conn, UCL_E_PROTO);
		reply->status = h.u.ret_unlink.status;
		reply->unlink_seqnum = s->target;
		/* §4.2: a RET_UNLINK completes its target if it is still pending. */
		t = ucl_slot_find(conn, s->target, UCL_SLOT_URB);
		if (t) {
			reply->target_pending = true;
			reply->buf = t->buf;
			reply->dir_in = t->dir_in;
			ucl_slot_release(conn, t);
		}
		ucl_slot_release(conn, s);
		return 0;
	default:
		return ucl_kill(conn, UCL_E_PROTO);
	}
}

int ucl_transfer(struct ucl_conn *conn, const struct ucl_xfer *x, int32_t *urb_status)
{
	struct ucl_reply r;
	uint32_t seq;
	int rc;

	if (conn->dead)
		return conn->dead;
	if (conn->npending != 0)
		return UCL_E_BUSY;
	rc = ucl_submit(conn, x, &seq);
	if (rc < 0)
		return rc;
	rc = ucl_wait(conn, &r);
	if (rc < 0)
		return rc;
	/* Only seq is pending, and ucl_wait rejects replies for anything else. */
	if (urb_status)
		*urb_status = r.status;
	if (r.status != 0)
		return UCL_E_URB;
	return r.actual_length;
}

int ucl_control(struct ucl_conn *conn, const uint8_t setup[8], void *buf, uint32_t len,
                int32_t *urb_status)
{
	struct ucl_xfer x = {
	        .ep = 0,
	        .dir_in = (setup[0] & 0x80) != 0,
	        .type = UCL_EP_CONTROL,
	        .buf = buf,
	        .len = len,
	};

	memcpy(x.setup, setup, sizeof(x.setup));
	return ucl_transfer(conn, &x, urb_status);
}

int ucl_bulk(struct ucl_conn *conn, uint8_t ep, bool dir_in, void *buf, uint32_t len,
             int32_t *urb_status)
{
	struct ucl_xfer x = {
	        .ep = ep,
	        .dir_in = dir_in,
	        .type = UCL_EP_BULK,
	        .buf = buf,
	        .len = len,
	};

	return ucl_transfer(conn, &x, urb_status);
}

/* ---- Descriptors -------------------------------------------------------- */

#define UCL_DT_CONFIG    0x02
#define UCL_DT_INTERFACE 0x04
#define UCL_DT_ENDPOINT  0x05

int ucl_get_config(struct ucl_conn *conn, uint8_t index, uint8_t *buf, size_t cap)
{
	uint8_t setup[8];
	uint16_t total;
	int rc;

	if (cap < 9)
		return UCL_E_ARG;
	ucl_setup(setup, 0x80, 0x06 /* GET_DESCRIPTOR */, (uint16_t)(UCL_DT_CONFIG << 8 | index), 0,
	          9);
	rc = ucl_control(conn, setup, buf, 9, NULL);
	if (rc < 0)
		return rc;
	if (rc < 9 || buf[1] != UCL_DT_CONFIG)
		return UCL_E_ARG;
	total = usbip_get_le16(buf + 2);
	if (total < 9 || total > cap)
		return UCL_E_ARG;
	ucl_setup(setup, 0x80, 0x06, (uint16_t)(UCL_DT_CONFIG << 8 | index), 0, total);
	rc = ucl_control(conn, setup, buf, total, NULL);
	if (rc < 0)
		return rc;
	if (rc != total)
		return UCL_E_ARG;
	return rc;
}

int ucl_config_endpoints(const uint8_t *cfg, size_t len, struct ucl_endpoint *out, unsigned max)
{
	struct ucl_endpoint cur = {0};
	size_t off = 0;
	int n = 0;

	while (off < len) {
		const uint8_t *d = cfg + off;
		uint8_t dlen;

		if (len - off < 2)
			return UCL_E_ARG;
		dlen = d[0];
		if (dlen < 2 || dlen > len - off)
			return UCL_E_ARG;
		if (d[1] == UCL_DT_INTERFACE && dlen >= 9) {
			cur.intf_number = d[2];
			cur.intf_alt = d[3];
			cur.intf_class = d[5];
			cur.intf_subclass = d[6];
			cur.intf_protocol = d[7];
		} else if (d[1] == UCL_DT_ENDPOINT && dlen >= 7) {
			if ((unsigned)n < max) {
				out[n] = cur;
				out[n].addr = d[2];
				out[n].type = d[3] & 0x03;
				out[n].max_packet = usbip_get_le16(d + 4);
				out[n].interval = d[6];
			}
			n++;
		}
		off += dlen;
	}
	return n;
}

int ucl_find_endpoint(const struct ucl_endpoint *eps, unsigned n, int intf_class, uint8_t type,
                      bool dir_in)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		if (intf_class >= 0 && eps[i].intf_class != intf_class)
			continue;
		if (eps[i].type == type && ((eps[i].addr & 0x80) != 0) == dir_in)
			return (int)i;
	}
	return -1;
}

/* ---- Mass storage (Bulk-Only Transport) --------------------------------- */

#define UCL_CBW_SIZE      31
#define UCL_CSW_SIZE      13
#define UCL_CBW_SIGNATURE 0x43425355u /* "USBC" */
#define UCL_CSW_SIGNATURE 0x53425355u /* "USBS" */

static void ucl_put_le32(uint8_t *p, uint32_t v)
{
	usbip_put_le16(p, (uint16_t)v);
	usbip_put_le16(p + 2, (uint16_t)(v >> 16));
}

static uint32_t ucl_get_le32(const uint8_t *p)
{
	return usbip_get_le16(p) | (uint32_t)usbip_get_le16(p + 2) << 16;
}

int ucl_bot_command(struct ucl_conn *conn, uint8_t ep_out, uint8_t ep_in, uint32_t tag,
                    const uint8_t *cdb, uint8_t cdb_len, bool dir_in, void *buf, uint32_t len,
                    uint8_t *csw_status, int32_t *urb_status)
{
	uint8_t cbw[UCL_CBW_SIZE] = {0}, csw[UCL_CSW_SIZE];
	struct ucl_xfer x = {.type = UCL_EP_BULK};
	uint32_t seq[3];
	int32_t status[3] = {0, 0, 0}, actual[3] = {0, 0, 0};
	bool done[3] = {false, false, false}, unlinked = false;
	unsigned i, nurb, left;
	int rc;

	if (conn->dead)
		return conn->dead;
	if (conn->npending != 0)
		return UCL_E_BUSY;
	if (cdb_len < 1 || cdb_len > 16)
		return UCL_E_ARG;
	ucl_put_le32(cbw, UCL_CBW_SIGNATURE);
	ucl_put_le32(cbw + 4, tag);
	ucl_put_le32(cbw + 8, len);
	cbw[12] = dir_in ? 0x80 : 0x00;
	cbw[13] = 0; /* LUN */
	cbw[14] = cdb_len;
	memcpy(cbw + 15, cdb, cdb_len);

	/* All phases are queued at once; the device completes them in order
	 * per endpoint, so one round trip carries the whole command. */
	nurb = 0;
	x.ep = ep_out;
	x.dir_in = false;
	x.buf = cbw;
	x.len = sizeof(cbw);
	rc = ucl_submit(conn, &x, &seq[nurb]);
	if (rc < 0)
		return rc;
	nurb++;
	if (len > 0) {
		x.ep = dir_in ? ep_in : ep_out;
		x.dir_in = dir_in;
		x.buf = buf;
		x.len = len;
		rc = ucl_submit(conn, &x, &seq[nurb]);
		if (rc < 0)
			return rc;
		nurb++;
	}
	x.ep = ep_in;
	x.dir_in = true;
	x.buf = csw;
	x.len = sizeof(csw);
	rc = ucl_submit(conn, &x, &seq[nurb]);
	if (rc < 0)
		return rc;
	nurb++;

	/* Replies may interleave across endpoints (§7.6: order is kept
	 * within an endpoint only). */
	left = nurb;
	while (ucl_pending(conn) > 0) {
		struct ucl_reply r;

		rc = ucl_wait(conn, &r);
		if (rc < 0)
			return rc;
		if (r.command == USBIP_RET_UNLINK) {
			for (i = 0; i < nurb; i++) {
				if (!done[i] && r.target_pending && r.unlink_seqnum == seq[i]) {
					done[i] = true;
					status[i] = r.status ? r.status : -USBIP_ECONNRESET;
					left--;
				}
			}
			continue;
		}
		for (i = 0; i < nurb; i++) {
			if (seq[i] == r.seqnum) {
				done[i] = true;
				status[i] = r.status;
				actual[i] = r.actual_length;
				left--;
			}
		}
		/* A failed phase leaves the later ones waiting on a halted
		 * endpoint: take them back. */
		if (r.status != 0 && !unlinked && left > 0) {
			unlinked = true;
			for (i = 0; i < nurb; i++) {
				if (!done[i]) {
					rc = ucl_unlink(conn, seq[i], NULL);
					if (rc < 0)
						return rc;
				}
			}
		}
	}
	for (i = 0; i < nurb; i++) {
		if (status[i] != 0) {
			if (urb_status)
				*urb_status = status[i];
			return UCL_E_URB;
		}
	}
	if (actual[nurb - 1] != UCL_CSW_SIZE || ucl_get_le32(csw) != UCL_CSW_SIGNATURE ||
	    ucl_get_le32(csw + 4) != tag)
		return UCL_E_CSW;
	if (csw_status)
		*csw_status = csw[12];
	return nurb == 3 ? actual[1] : 0;
}
