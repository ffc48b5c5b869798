/* SPDX-License-Identifier: MIT */
/*
 * fuzz_op.c - libFuzzer target for the OP-phase decoders (§2).
 *
 * Input: the bytes a peer sent, from the first byte of an OP message.
 * Properties:
 *   - no decoder reads past size (ASan) or consumes more than size;
 *   - when the whole message decodes to n bytes, usbip_frame_size gives n,
 *     and every shorter prefix of it decodes as USBIP_E_NEED_MORE;
 *   - a frame size is never 0 and never smaller than op_common.
 */
#include <string.h>

#include "fuzz.h"
#include "usbip.h"

/* Decodes the message the code names, whole. Returns its size, or the
 * first negative return. */
static long decode_op_message(const uint8_t *buf, size_t len)
{
	struct usbip_op_common op;
	struct usbip_usb_device dev;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
	char busid[USBIP_BUSID_SIZE];
	uint32_t v, ndev;
	long r, off;

	r = usbip_decode_op_common(buf, len, &op);
	if (r < 0)
		return r;
	FUZZ_CHECK(r == USBIP_OP_COMMON_SIZE);
	switch (op.code) {
	case USBIP_OP_REQ_DEVLIST:
		return r;
	case USBIP_OP_REQ_IMPORT:
		r = usbip_decode_op_req_import(buf, len, busid);
		if (r >= 0)
			FUZZ_CHECK(memchr(busid, 0, sizeof(busid)) != NULL);
		return r;
	case USBIP_OP_REP_IMPORT:
		r = usbip_decode_op_rep_import(buf, len, &v, &dev);
		if (r >= 0) {
			FUZZ_CHECK(r == (v == USBIP_ST_OK ? 320 : 8));
			FUZZ_CHECK(v != USBIP_ST_OK || memchr(dev.path, 0, sizeof(dev.path)));
			FUZZ_CHECK(v != USBIP_ST_OK || memchr(dev.busid, 0, sizeof(dev.busid)));
		}
		return r;
	case USBIP_OP_REP_DEVLIST:
		r = usbip_decode_op_rep_devlist_header(buf, len, &ndev);
		if (r < 0)
			return r;
		FUZZ_CHECK(r == USBIP_DEVLIST_HEADER_SIZE && ndev <= USBIP_MAX_DEVLIST);
		off = r;
		for (uint32_t i = 0; i < ndev; i++) {
			r = usbip_decode_usb_device(buf + off, len - (size_t)off, &dev, ifs, true);
			if (r < 0)
				return r;
			FUZZ_CHECK(dev.bNumInterfaces <= USBIP_MAX_INTERFACES);
			FUZZ_CHECK(r == USBIP_DEVICE_SIZE + 4 * dev.bNumInterfaces);
			off += r;
			FUZZ_CHECK((size_t)off <= len);
		}
		return off;
	default:
		return USBIP_E_CODE;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usbip_op_common op;
	struct usbip_usb_device dev;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
	char busid[USBIP_BUSID_SIZE];
	uint32_t v;
	long r;

	/* Every decoder on the raw bytes, whatever the code says. */
	r = usbip_decode_op_common(data, size, &op);
	FUZZ_CHECK(r == 8 || r == USBIP_E_NEED_MORE || r == USBIP_E_VERSION);
	r = usbip_decode_op_req_import(data, size, busid);
	FUZZ_CHECK(r < 0 || (r == 40 && (size_t)r <= size));
	r = usbip_decode_op_rep_import(data, size, &v, &dev);
	FUZZ_CHECK(r < 0 || (size_t)r <= size);
	r = usbip_decode_op_rep_devlist_header(data, size, &v);
	FUZZ_CHECK(r < 0 || (r == 12 && (size_t)r <= size));
	r = usbip_decode_usb_device(data, size, &dev, ifs, true);
	FUZZ_CHECK(r < 0 || (size_t)r <= size);
	r = usbip_decode_usb_device(data, size, &dev, NULL, false);
	FUZZ_CHECK(r < 0 || r == USBIP_DEVICE_SIZE);

	long fs = usbip_frame_size(data, size, 0);
	FUZZ_CHECK(fs != 0);
	FUZZ_CHECK(fs < 0 || fs >= USBIP_OP_COMMON_SIZE ||
	           (size >= 2 && data[0] == 0 && data[1] == 0));

	/* OP messages only: URB PDUs (00 00) are fuzz_urb's. */
	if (size >= 2 && data[0] == 0 && data[1] == 0)
		return 0;
	long n = decode_op_message(data, size);
	FUZZ_CHECK(n != 0);
	if (n > 0) {
		FUZZ_CHECK((size_t)n <= size);
		FUZZ_CHECK(fs == n);
		/* Every strict prefix asks for more (checked on a few cuts). */
		size_t cuts[] = {0, 1, 7, 8, 11, 12, 39, 319, (size_t)n / 2, (size_t)n - 1};
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
			if (cuts[i] < (size_t)n)
				FUZZ_CHECK(decode_op_message(data, cuts[i]) == USBIP_E_NEED_MORE);
	} else if (n == USBIP_E_NEED_MORE) {
		FUZZ_CHECK(fs == USBIP_E_NEED_MORE || (fs > 0 && (size_t)fs > size));
	}
	return 0;
}
