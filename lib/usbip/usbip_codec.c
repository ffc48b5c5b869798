/* SPDX-License-Identifier: MIT */
/*
 * usbip_codec.c - encode and decode every USB/IP v1.1.1 message.
 *
 * Pure functions over bytes (see usbip.h for the return conventions). All
 * wire fields go through the get/put helpers; nothing is cast onto a buffer.
 */
#include "usbip.h"

#include <string.h>

const char *usbip_strerror(int err)
{
	switch (err) {
	case USBIP_OK:
		return "success";
	case USBIP_E_NEED_MORE:
		return "incomplete message";
	case USBIP_E_SHORT:
		return "output buffer too small";
	case USBIP_E_VERSION:
		return "unsupported protocol version (want 0x0111)";
	case USBIP_E_CODE:
		return "unknown operation or command code";
	case USBIP_E_LIMIT:
		return "length or count above the configured limit";
	case USBIP_E_INVALID:
		return "malformed field";
	case USBIP_E_NOMEM:
		return "out of memory";
	case USBIP_E_STATE:
		return "message not allowed in this phase";
	case USBIP_E_CLOSED:
		return "connection closed";
	default:
		return "unknown error";
	}
}

/* ---- OP phase ----------------------------------------------------------- */

int usbip_decode_op_common(const uint8_t *buf, size_t len, struct usbip_op_common *op)
{
	if (len < USBIP_OP_COMMON_SIZE)
		return USBIP_E_NEED_MORE;
	op->version = usbip_get_be16(buf);
	op->code = usbip_get_be16(buf + 2);
	op->status = usbip_get_be32(buf + 4);
	/* Linux compares the version exactly, in requests and replies (§2.1). */
	if (op->version != USBIP_VERSION)
		return USBIP_E_VERSION;
	return USBIP_OP_COMMON_SIZE;
}

int usbip_encode_op_common(uint8_t *out, size_t cap, uint16_t code, uint32_t status)
{
	if (!out)
		return USBIP_OP_COMMON_SIZE;
	if (cap < USBIP_OP_COMMON_SIZE)
		return USBIP_E_SHORT;
	usbip_put_be16(out, USBIP_VERSION);
	usbip_put_be16(out + 2, code);
	usbip_put_be32(out + 4, status);
	return USBIP_OP_COMMON_SIZE;
}

int usbip_encode_op_req_devlist(uint8_t *out, size_t cap)
{
	return usbip_encode_op_common(out, cap, USBIP_OP_REQ_DEVLIST, 0);
}

/* bounded_strlen() is POSIX, not C11: count up to max bytes ourselves. */
static size_t bounded_strlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n])
		n++;
	return n;
}

/* Copies a NUL-terminated string into a zero-padded fixed field. Returns
 * USBIP_E_INVALID when it does not fit with its terminator. */
static int put_string_field(uint8_t *out, size_t field, const char *s)
{
	size_t n = bounded_strlen(s, field);

	if (n >= field)
		return USBIP_E_INVALID;
	memset(out, 0, field);
	memcpy(out, s, n);
	return 0;
}

/* Reads a fixed string field; it must hold a NUL within its size. */
static int get_string_field(const uint8_t *in, size_t field, char *s)
{
	if (!memchr(in, 0, field))
		return USBIP_E_INVALID;
	memcpy(s, in, field);
	return 0;
}

int usbip_encode_op_req_import(uint8_t *out, size_t cap, const char *busid)
{
	if (bounded_strlen(busid, USBIP_BUSID_SIZE) >= USBIP_BUSID_SIZE)
		return USBIP_E_INVALID;
	if (!out)
		return USBIP_OP_IMPORT_REQ_SIZE;
	if (cap < USBIP_OP_IMPORT_REQ_SIZE)
		return USBIP_E_SHORT;
	usbip_encode_op_common(out, cap, USBIP_OP_REQ_IMPORT, 0);
	put_string_field(out + 8, USBIP_BUSID_SIZE, busid);
	return USBIP_OP_IMPORT_REQ_SIZE;
}

int usbip_decode_op_req_import(const uint8_t *buf, size_t len, char busid[USBIP_BUSID_SIZE])
{
	struct usbip_op_common op;
	int rc = usbip_decode_op_common(buf, len, &op);

	if (rc < 0)
		return rc;
	if (op.code != USBIP_OP_REQ_IMPORT)
		return USBIP_E_CODE;
	if (len < USBIP_OP_IMPORT_REQ_SIZE)
		return USBIP_E_NEED_MORE;
	rc = get_string_field(buf + 8, USBIP_BUSID_SIZE, busid);
	return rc ? rc : USBIP_OP_IMPORT_REQ_SIZE;
}

int usbip_encode_usb_device(uint8_t *out, size_t cap, const struct usbip_usb_device *dev,
                            const struct usbip_usb_interface *ifs, unsigned nif)
{
	size_t need = USBIP_DEVICE_SIZE + (size_t)nif * USBIP_INTERFACE_SIZE;

	if (ifs && nif != dev->bNumInterfaces)
		return USBIP_E_INVALID;
	if (!ifs)
		need = USBIP_DEVICE_SIZE;
	if (!out)
		return (int)need;
	if (cap < need)
		return USBIP_E_SHORT;
	if (put_string_field(out, USBIP_PATH_SIZE, dev->path) ||
	    put_string_field(out + 0x100, USBIP_BUSID_SIZE, dev->busid))
		return USBIP_E_INVALID;
	usbip_put_be32(out + 0x120, dev->busnum);
	usbip_put_be32(out + 0x124, dev->devnum);
	usbip_put_be32(out + 0x128, dev->speed);
	usbip_put_be16(out + 0x12c, dev->idVendor);
	usbip_put_be16(out + 0x12e, dev->idProduct);
	usbip_put_be16(out + 0x130, dev->bcdDevice);
	out[0x132] = dev->bDeviceClass;
	out[0x133] = dev->bDeviceSubClass;
	out[0x134] = dev->bDeviceProtocol;
	out[0x135] = dev->bConfigurationValue;
	out[0x136] = dev->bNumConfigurations;
	out[0x137] = dev->bNumInterfaces;
	if (ifs) {
		for (unsigned i = 0; i < nif; i++) {
			uint8_t *r = out + USBIP_DEVICE_SIZE + i * USBIP_INTERFACE_SIZE;

			r[0] = ifs[i].bInterfaceClass;
			r[1] = ifs[i].bInterfaceSubClass;
			r[2] = ifs[i].bInterfaceProtocol;
			r[3] = 0;
		}
	}
	return (int)need;
}

int usbip_decode_usb_device(const uint8_t *buf, size_t len, struct usbip_usb_device *dev,
                            struct usbip_usb_interface *ifs, bool with_ifs)
{
	size_t need = USBIP_DEVICE_SIZE;
	uint8_t nif;

	if (len < USBIP_DEVICE_SIZE)
		return USBIP_E_NEED_MORE;
	nif = buf[0x137];
	if (with_ifs) {
		if (nif > USBIP_MAX_INTERFACES)
			return USBIP_E_LIMIT;
		need += (size_t)nif * USBIP_INTERFACE_SIZE;
		if (len < need)
			return USBIP_E_NEED_MORE;
	}
	if (get_string_field(buf, USBIP_PATH_SIZE, dev->path) ||
	    get_string_field(buf + 0x100, USBIP_BUSID_SIZE, dev->busid))
		return USBIP_E_INVALID;
	dev->busnum = usbip_get_be32(buf + 0x120);
	dev->devnum = usbip_get_be32(buf + 0x124);
	dev->speed = usbip_get_be32(buf + 0x128);
	dev->idVendor = usbip_get_be16(buf + 0x12c);
	dev->idProduct = usbip_get_be16(buf + 0x12e);
	dev->bcdDevice = usbip_get_be16(buf + 0x130);
	dev->bDeviceClass = buf[0x132];
	dev->bDeviceSubClass = buf[0x133];
	dev->bDeviceProtocol = buf[0x134];
	dev->bConfigurationValue = buf[0x135];
	dev->bNumConfigurations = buf[0x136];
	dev->bNumInterfaces = nif;
	if (with_ifs) {
		for (unsigned i = 0; i < nif; i++) {
			const uint8_t *r = buf + USBIP_DEVICE_SIZE + i * USBIP_INTERFACE_SIZE;

			ifs[i].bInterfaceClass = r[0];
			ifs[i].bInterfaceSubClass = r[1];
			ifs[i].bInterfaceProtocol = r[2];
		}
	}
	return (int)need;
}

int usbip_encode_op_rep_devlist_header(uint8_t *out, size_t cap, uint32_t ndev)
{
	if (!out)
		return USBIP_DEVLIST_HEADER_SIZE;
	if (cap < USBIP_DEVLIST_HEADER_SIZE)
		return USBIP_E_SHORT;
	usbip_encode_op_common(out, cap, USBIP_OP_REP_DEVLIST, USBIP_ST_OK);
	usbip_put_be32(out + 8, ndev);
	return USBIP_DEVLIST_HEADER_SIZE;
}

int usbip_decode_op_rep_devlist_header(const uint8_t *buf, size_t len, uint32_t *ndev)
{
	struct usbip_op_common op;
	int rc = usbip_decode_op_common(buf, len, &op);

	if (rc < 0)
		return rc;
	if (op.code != USBIP_OP_REP_DEVLIST)
		return USBIP_E_CODE;
	if (len < USBIP_DEVLIST_HEADER_SIZE)
		return USBIP_E_NEED_MORE;
	*ndev = usbip_get_be32(buf + 8);
	if (*ndev > USBIP_MAX_DEVLIST)
		return USBIP_E_LIMIT;
	return USBIP_DEVLIST_HEADER_SIZE;
}

int usbip_encode_op_rep_import(uint8_t *out, size_t cap, uint32_t status,
                               const struct usbip_usb_device *dev)
{
	size_t need = status == USBIP_ST_OK ? USBIP_OP_COMMON_SIZE + USBIP_DEVICE_SIZE
	                                    : USBIP_OP_COMMON_SIZE;
	int rc;

	if (!out)
		return (int)need;
	if (cap < need)
		return USBIP_E_SHORT;
	usbip_encode_op_common(out, cap, USBIP_OP_REP_IMPORT, status);
	if (status == USBIP_ST_OK) {
		rc = usbip_encode_usb_device(out + 8, cap - 8, dev, NULL, 0);
		if (rc < 0)
			return rc;
	}
	return (int)need;
}

int usbip_decode_op_rep_import(const uint8_t *buf, size_t len, uint32_t *status,
                               struct usbip_usb_device *dev)
{
	struct usbip_op_common op;
	int rc = usbip_decode_op_common(buf, len, &op);

	if (rc < 0)
		return rc;
	if (op.code != USBIP_OP_REP_IMPORT)
		return USBIP_E_CODE;
	*status = op.status;
	/* On failure the reply is exactly op_common (§2.4). */
	if (op.status != USBIP_ST_OK)
		return USBIP_OP_COMMON_SIZE;
	rc = usbip_decode_usb_device(buf + 8, len - 8, dev, NULL, false);
	return rc < 0 ? rc : USBIP_OP_COMMON_SIZE + rc;
}

/* ---- URB phase ---------------------------------------------------------- */

int usbip_decode_header(const uint8_t *buf, size_t len, struct usbip_header *h)
{
	const uint8_t *p = buf + 0x14;

	if (len < USBIP_HEADER_SIZE)
		return USBIP_E_NEED_MORE;
	h->base.command = usbip_get_be32(buf);
	h->base.seqnum = usbip_get_be32(buf + 4);
	h->base.devid = usbip_get_be32(buf + 8);
	h->base.direction = usbip_get_be32(buf + 12);
	h->base.ep = usbip_get_be32(buf + 16);
	switch (h->base.command) {
	case USBIP_CMD_SUBMIT:
		h->u.cmd_submit.transfer_flags = usbip_get_be32(p);
		h->u.cmd_submit.transfer_buffer_length = (int32_t)usbip_get_be32(p + 4);
		h->u.cmd_submit.start_frame = (int32_t)usbip_get_be32(p + 8);
		h->u.cmd_submit.number_of_packets = (int32_t)usbip_get_be32(p + 12);
		h->u.cmd_submit.interval = (int32_t)usbip_get_be32(p + 16);
		memcpy(h->u.cmd_submit.setup, p + 20, 8);
		if (h->u.cmd_submit.transfer_buffer_length < 0)
			return USBIP_E_INVALID;
		if ((uint32_t)h->u.cmd_submit.transfer_buffer_length > USBIP_MAX_TRANSFER)
			return USBIP_E_LIMIT;
		break;
	case USBIP_RET_SUBMIT:
		h->u.ret_submit.status = (int32_t)usbip_get_be32(p);
		h->u.ret_submit.actual_length = (int32_t)usbip_get_be32(p + 4);
		h->u.ret_submit.start_frame = (int32_t)usbip_get_be32(p + 8);
		h->u.ret_submit.number_of_packets = (int32_t)usbip_get_be32(p + 12);
		h->u.ret_submit.error_count = (int32_t)usbip_get_be32(p + 16);
		break;
	case USBIP_CMD_UNLINK:
		h->u.cmd_unlink.unlink_seqnum = usbip_get_be32(p);
		break;
	case USBIP_RET_UNLINK:
		h->u.ret_unlink.status = (int32_t)usbip_get_be32(p);
		break;
	default:
		return USBIP_E_CODE;
	}
	return USBIP_HEADER_SIZE;
}

int usbip_encode_header(uint8_t *out, size_t cap, const struct usbip_header *h)
{
	uint8_t *p;

	if (!out)
		return USBIP_HEADER_SIZE;
	if (cap < USBIP_HEADER_SIZE)
		return USBIP_E_SHORT;
	memset(out, 0, USBIP_HEADER_SIZE);
	usbip_put_be32(out, h->base.command);
	usbip_put_be32(out + 4, h->base.seqnum);
	usbip_put_be32(out + 8, h->base.devid);
	usbip_put_be32(out + 12, h->base.direction);
	usbip_put_be32(out + 16, h->base.ep);
	p = out + 0x14;
	switch (h->base.command) {
	case USBIP_CMD_SUBMIT:
		usbip_put_be32(p, h->u.cmd_submit.transfer_flags);
		usbip_put_be32(p + 4, (uint32_t)h->u.cmd_submit.transfer_buffer_length);
		usbip_put_be32(p + 8, (uint32_t)h->u.cmd_submit.start_frame);
		usbip_put_be32(p + 12, (uint32_t)h->u.cmd_submit.number_of_packets);
		usbip_put_be32(p + 16, (uint32_t)h->u.cmd_submit.interval);
		memcpy(p + 20, h->u.cmd_submit.setup, 8);
		break;
	case USBIP_RET_SUBMIT:
		usbip_put_be32(p, (uint32_t)h->u.ret_submit.status);
		usbip_put_be32(p + 4, (uint32_t)h->u.ret_submit.actual_length);
		usbip_put_be32(p + 8, (uint32_t)h->u.ret_submit.start_frame);
		usbip_put_be32(p + 12, (uint32_t)h->u.ret_submit.number_of_packets);
		usbip_put_be32(p + 16, (uint32_t)h->u.ret_submit.error_count);
		break;
	case USBIP_CMD_UNLINK:
		usbip_put_be32(p, h->u.cmd_unlink.unlink_seqnum);
		break;
	case USBIP_RET_UNLINK:
		usbip_put_be32(p, (uint32_t)h->u.ret_unlink.status);
		break;
	default:
		return USBIP_E_CODE;
	}
	return USBIP_HEADER_SIZE;
}

/* ISO descriptor bytes for np packets, or USBIP_E_LIMIT (§3.4: the stub
 * rejects np < 0 or np > 1024; np == 0 is valid). */
static long iso_desc_size(int32_t np)
{
	if (np < 0 || np > USBIP_MAX_ISO_PACKETS)
		return USBIP_E_LIMIT;
	return (long)np * USBIP_ISO_DESC_SIZE;
}

long usbip_cmd_submit_payload_size(const struct usbip_header *h, bool iso)
{
	const struct usbip_header_cmd_submit *c = &h->u.cmd_submit;
	long size = 0, desc;

	if (c->transfer_buffer_length < 0)
		return USBIP_E_INVALID;
	if ((uint32_t)c->transfer_buffer_length > USBIP_MAX_TRANSFER)
		return USBIP_E_LIMIT;
	/* Frame by the header's direction, not by setup bit 7 (§3.3). */
	if (h->base.direction == USBIP_DIR_OUT)
		size = c->transfer_buffer_length;
	if (iso) {
		desc = iso_desc_size(c->number_of_packets);
		if (desc < 0)
			return desc;
		size += desc;
	}
	return size;
}

long usbip_ret_submit_payload_size(const struct usbip_header *h, bool dir_in, bool iso)
{
	const struct usbip_header_ret_submit *r = &h->u.ret_submit;
	long size = 0, desc;

	if (r->actual_length < 0)
		return USBIP_E_INVALID;
	if ((uint32_t)r->actual_length > USBIP_MAX_TRANSFER)
		return USBIP_E_LIMIT;
	if (dir_in)
		size = r->actual_length;
	if (iso) {
		desc = iso_desc_size(r->number_of_packets);
		if (desc < 0)
			return desc;
		size += desc;
	}
	return size;
}

/* Size of an OP_REP_DEVLIST from the records present, or NEED_MORE. */
static long devlist_frame_size(const uint8_t *buf, size_t len)
{
	uint32_t ndev;
	size_t off;
	int rc = usbip_decode_op_rep_devlist_header(buf, len, &ndev);

	if (rc < 0)
		return rc;
	off = USBIP_DEVLIST_HEADER_SIZE;
	for (uint32_t i = 0; i < ndev; i++) {
		uint8_t nif;

		if (len < off + USBIP_DEVICE_SIZE)
			return USBIP_E_NEED_MORE;
		nif = buf[off + 0x137];
		if (nif > USBIP_MAX_INTERFACES)
			return USBIP_E_LIMIT;
		off += USBIP_DEVICE_SIZE + (size_t)nif * USBIP_INTERFACE_SIZE;
	}
	return (long)off;
}

static long op_frame_size(const uint8_t *buf, size_t len)
{
	struct usbip_op_common op;
	int rc = usbip_decode_op_common(buf, len, &op);

	if (rc < 0)
		return rc;
	switch (op.code) {
	case USBIP_OP_REQ_DEVLIST:
		return USBIP_OP_COMMON_SIZE;
	case USBIP_OP_REQ_IMPORT:
		return USBIP_OP_IMPORT_REQ_SIZE;
	case USBIP_OP_REP_IMPORT:
		return op.status == USBIP_ST_OK ? USBIP_OP_COMMON_SIZE + USBIP_DEVICE_SIZE
		                                : USBIP_OP_COMMON_SIZE;
	case USBIP_OP_REP_DEVLIST:
		return devlist_frame_size(buf, len);
	default:
		return USBIP_E_CODE;
	}
}

long usbip_frame_size(const uint8_t *buf, size_t len, unsigned flags)
{
	struct usbip_header h;
	bool iso = flags & USBIP_FRAME_ISO;
	long payload;
	int rc;

	if (len < 2)
		return USBIP_E_NEED_MORE;
	/* OP messages start 01 11, URB PDUs 00 00 (§3.1). */
	if (buf[0] != 0 || buf[1] != 0)
		return op_frame_size(buf, len);
	rc = usbip_decode_header(buf, len, &h);
	if (rc < 0)
		return rc;
	switch (h.base.command) {
	case USBIP_CMD_SUBMIT:
		payload = usbip_cmd_submit_payload_size(&h, iso);
		break;
	case USBIP_RET_SUBMIT:
		payload = usbip_ret_submit_payload_size(&h, flags & USBIP_FRAME_DIR_IN, iso);
		break;
	default:
		payload = 0;
		break;
	}
	return payload < 0 ? payload : USBIP_HEADER_SIZE + payload;
}

int usbip_encode_iso(uint8_t *out, size_t cap, const struct usbip_iso_packet *iso, unsigned np)
{
	size_t need = (size_t)np * USBIP_ISO_DESC_SIZE;

	if (np > USBIP_MAX_ISO_PACKETS)
		return USBIP_E_LIMIT;
	if (!out)
		return (int)need;
	if (cap < need)
		return USBIP_E_SHORT;
	for (unsigned i = 0; i < np; i++) {
		uint8_t *d = out + i * USBIP_ISO_DESC_SIZE;

		usbip_put_be32(d, iso[i].offset);
		usbip_put_be32(d + 4, iso[i].length);
		usbip_put_be32(d + 8, iso[i].actual_length);
		usbip_put_be32(d + 12, (uint32_t)iso[i].status);
	}
	return (int)need;
}

/*
 * Checks a packet set against a buffer of buflen (§3.4): each packet lies
 * inside it with actual_length <= length, and no two (offset, length)
 * ranges share a byte, whatever their order. Overlapping packets would let
 * a client make a backend stage (or copy) more than the buffer holds, and
 * packing them in place is undefined. Returns the sum of actual_length, or
 * USBIP_E_INVALID. *ascending says whether the non-empty packets come in
 * buffer order, as in every URB the kernel sends (offsets i * maxpacket).
 */
static long iso_check(uint32_t buflen, const struct usbip_iso_packet *iso, unsigned np,
                      bool *ascending)
{
	uint64_t sum = 0, lsum = 0;
	uint32_t end = 0;
	bool asc = true;

	for (unsigned i = 0; i < np; i++) {
		const struct usbip_iso_packet *p = &iso[i];

		if (p->offset > buflen || p->length > buflen - p->offset ||
		    p->actual_length > p->length)
			return USBIP_E_INVALID;
		sum += p->actual_length;
		lsum += p->length;
		if (p->length == 0)
			continue; /* an empty packet occupies no byte */
		if (p->offset < end)
			asc = false;
		end = p->offset + p->length;
	}
	/* Disjoint packets inside the buffer add up to at most its length;
	 * this also bounds the quadratic check below. */
	if (lsum > buflen)
		return USBIP_E_INVALID;
	for (unsigned i = 0; !asc && i < np; i++) {
		for (unsigned j = i + 1; j < np; j++) {
			if (iso[i].length && iso[j].length &&
			    iso[i].offset < iso[j].offset + iso[j].length &&
			    iso[j].offset < iso[i].offset + iso[i].length)
				return USBIP_E_INVALID;
		}
	}
	*ascending = asc;
	return (long)sum;
}

int usbip_decode_iso(const uint8_t *buf, size_t len, struct usbip_iso_packet *iso, unsigned np,
                     uint32_t buflen)
{
	size_t need = (size_t)np * USBIP_ISO_DESC_SIZE;
	bool asc;

	if (np > USBIP_MAX_ISO_PACKETS)
		return USBIP_E_LIMIT;
	if (len < need)
		return USBIP_E_NEED_MORE;
	for (unsigned i = 0; i < np; i++) {
		const uint8_t *d = buf + i * USBIP_ISO_DESC_SIZE;

		iso[i].offset = usbip_get_be32(d);
		iso[i].length = usbip_get_be32(d + 4);
		iso[i].actual_length = usbip_get_be32(d + 8);
		iso[i].status = (int32_t)usbip_get_be32(d + 12);
	}
	if (iso_check(buflen, iso, np, &asc) < 0)
		return USBIP_E_INVALID;
	return (int)need;
}

/* Rotates p[0..n) left by k, in place: p[k..n) comes first. */
static void mem_rotate(uint8_t *p, size_t n, size_t k)
{
	size_t i, j;
	uint8_t t;

	if (k == 0 || k >= n)
		return;
	/* Three reversals: (A B) -> (B^r A^r)^r = B A. */
	for (i = 0, j = k; i < j--; i++)
		t = p[i], p[i] = p[j], p[j] = t;
	for (i = k, j = n; i < j--; i++)
		t = p[i], p[i] = p[j], p[j] = t;
	for (i = 0, j = n; i < j--; i++)
		t = p[i], p[i] = p[j], p[j] = t;
}

/* The packet with data whose offset comes next after `ref` in buffer
 * order (up) or next before it (!up); the lowest (highest) one when first.
 * np when none is left. Packets with data have distinct offsets
 * (iso_check), so this walks them one by one. */
static unsigned iso_next_in_buffer(const struct usbip_iso_packet *iso, unsigned np, uint32_t ref,
                                   bool first, bool up)
{
	unsigned best = np;

	for (unsigned i = 0; i < np; i++) {
		if (iso[i].actual_length == 0 ||
		    (!first && (up ? iso[i].offset <= ref : iso[i].offset >= ref)))
			continue;
		if (best == np ||
		    (up ? iso[i].offset < iso[best].offset : iso[i].offset > iso[best].offset))
			best = i;
	}
	return best;
}

/* Bytes of data in packets j != i with (before_i ? j < i : j > i) whose
 * offset is below (below_i) or above iso[i]'s. */
static uint32_t iso_bytes_between(const struct usbip_iso_packet *iso, unsigned np, unsigned i,
                                  bool before_i, bool below_i)
{
	uint32_t n = 0;

	for (unsigned j = before_i ? 0 : i + 1; j < (before_i ? i : np); j++)
		if (below_i ? iso[j].offset < iso[i].offset : iso[j].offset > iso[i].offset)
			n += iso[j].actual_length;
	return n;
}

long usbip_iso_pack(uint8_t *buf, uint32_t buflen, const struct usbip_iso_packet *iso, unsigned np)
{
	bool asc;
	long sum = iso_check(buflen, iso, np, &asc);
	uint32_t pos = 0;
	unsigned b;

	if (sum < 0)
		return sum;
	if (asc) {
		/* Ascending disjoint packets: each moves down, never onto data
		 * a later packet has yet to read. */
		for (unsigned i = 0; i < np; i++) {
			if (iso[i].offset != pos)
				memmove(buf + pos, buf + iso[i].offset, iso[i].actual_length);
			pos += iso[i].actual_length;
		}
		return sum;
	}
	/* Any other order: compact the data in buffer order first (as above),
	 * then bring each packet to the front of what is left, in packet
	 * order. The packets still to place keep their buffer order, so the
	 * next one sits after those of them that lie below it. Costs up to
	 * np x sum byte moves; real URBs take the loop above. */
	for (b = iso_next_in_buffer(iso, np, 0, true, true); b < np;
	     b = iso_next_in_buffer(iso, np, iso[b].offset, false, true)) {
		memmove(buf + pos, buf + iso[b].offset, iso[b].actual_length);
		pos += iso[b].actual_length;
	}
	pos = 0;
	for (unsigned i = 0; i < np; i++) {
		uint32_t skip = iso_bytes_between(iso, np, i, false, true);

		mem_rotate(buf + pos, skip + iso[i].actual_length, skip);
		pos += iso[i].actual_length;
	}
	return sum;
}

long usbip_iso_unpack(uint8_t *buf, uint32_t buflen, uint32_t packed_len,
                      const struct usbip_iso_packet *iso, unsigned np)
{
	bool asc;
	long sum = iso_check(buflen, iso, np, &asc);
	uint32_t pos;
	unsigned b;

	if (sum < 0)
		return sum;
	/* vhci drops the connection when the sums disagree (§3.4). */
	if ((uint32_t)sum != packed_len)
		return USBIP_E_INVALID;
	if (asc) {
		/* From the last packet down, so no packet overwrites one not
		 * yet moved. */
		pos = packed_len;
		for (unsigned i = np; i-- > 0;) {
			pos -= iso[i].actual_length;
			if (iso[i].offset != pos)
				memmove(buf + iso[i].offset, buf + pos, iso[i].actual_length);
		}
		return sum;
	}
	/* Any other order: the inverse of usbip_iso_pack. Bring the packets
	 * into buffer order by rotations (those still to place keep their
	 * packet order), then spread them out from the highest offset down. */
	pos = 0;
	for (b = iso_next_in_buffer(iso, np, 0, true, true); b < np;
	     b = iso_next_in_buffer(iso, np, iso[b].offset, false, true)) {
		uint32_t skip = iso_bytes_between(iso, np, b, true, false);

		mem_rotate(buf + pos, skip + iso[b].actual_length, skip);
		pos += iso[b].actual_length;
	}
	for (b = iso_next_in_buffer(iso, np, 0, true, false); b < np;
	     b = iso_next_in_buffer(iso, np, iso[b].offset, false, false)) {
		pos = iso_bytes_between(iso, np, b, true, true) +
		      iso_bytes_between(iso, np, b, false, true);
		memmove(buf + iso[b].offset, buf + pos, iso[b].actual_length);
	}
	return sum;
}

uint32_t usbip_speed_from_libusb(int libusb_speed)
{
	/* libusb numbers SUPER as 4 (the kernel's WIRELESS); SuperSpeed-Plus is
	 * reported as SUPER so the Linux tools pick an ss port (§4.7). */
	switch (libusb_speed) {
	case 1:
	case 2:
	case 3:
		return (uint32_t)libusb_speed;
	case 4:
	case 5:
	case 6:
		return USBIP_SPEED_SUPER;
	default:
		return USBIP_SPEED_UNKNOWN;
	}
}
