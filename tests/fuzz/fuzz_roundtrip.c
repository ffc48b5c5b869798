/* SPDX-License-Identifier: MIT */
/*
 * fuzz_roundtrip.c - decode -> encode -> decode is identity.
 *
 * Input: one selector byte, then the bytes of a message of that kind:
 *   0 OP_REQ_IMPORT   1 OP_REP_IMPORT   2 OP_REP_DEVLIST (header + devices)
 *   3 device record with interfaces      4 URB header
 *   5 ISO descriptors (np = next byte)
 * When the input decodes, its re-encoding must have the decoded size, a
 * size query must agree, one byte less of room must give USBIP_E_SHORT,
 * decoding the re-encoding must give the same values, and encoding those
 * again must give the same bytes (pads and string padding are canonical
 * after one pass).
 */
#include <string.h>

#include "fuzz.h"
#include "usbip.h"

#define MAX_DEV 4

struct value {
	char busid[USBIP_BUSID_SIZE];
	uint32_t status, ndev;
	struct usbip_usb_device dev[MAX_DEV];
	struct usbip_usb_interface ifs[MAX_DEV][USBIP_MAX_INTERFACES];
	struct usbip_header h;
	struct usbip_iso_packet iso[256];
	unsigned np;
};

static long decode(unsigned kind, const uint8_t *buf, size_t len, struct value *v)
{
	long r, off;

	memset(v, 0, sizeof(*v));
	switch (kind) {
	case 0:
		return usbip_decode_op_req_import(buf, len, v->busid);
	case 1:
		return usbip_decode_op_rep_import(buf, len, &v->status, &v->dev[0]);
	case 2:
		r = usbip_decode_op_rep_devlist_header(buf, len, &v->ndev);
		if (r < 0)
			return r;
		if (v->ndev > MAX_DEV)
			return USBIP_E_LIMIT; /* the harness's own bound */
		off = r;
		for (uint32_t i = 0; i < v->ndev; i++) {
			r = usbip_decode_usb_device(buf + off, len - (size_t)off, &v->dev[i],
			                            v->ifs[i], true);
			if (r < 0)
				return r;
			off += r;
		}
		return off;
	case 3:
		v->ndev = 1;
		return usbip_decode_usb_device(buf, len, &v->dev[0], v->ifs[0], true);
	case 4:
		return usbip_decode_header(buf, len, &v->h);
	default:
		if (len < 1)
			return USBIP_E_NEED_MORE;
		v->np = buf[0];
		r = usbip_decode_iso(buf + 1, len - 1, v->iso, v->np, 0xffffffff);
		return r < 0 ? r : r + 1;
	}
}

static long encode(unsigned kind, const struct value *v, uint8_t *out, size_t cap)
{
	long r, off;

	switch (kind) {
	case 0:
		return usbip_encode_op_req_import(out, cap, v->busid);
	case 1:
		return usbip_encode_op_rep_import(out, cap, v->status, &v->dev[0]);
	case 2:
		r = usbip_encode_op_rep_devlist_header(out, cap, v->ndev);
		if (r < 0)
			return r;
		off = r;
		for (uint32_t i = 0; i < v->ndev; i++) {
			r = usbip_encode_usb_device(out ? out + off : NULL, cap - (size_t)off,
			                            &v->dev[i], v->ifs[i],
			                            v->dev[i].bNumInterfaces);
			if (r < 0)
				return r;
			off += r;
			if ((size_t)off > cap && out)
				return USBIP_E_SHORT;
		}
		return off;
	case 3:
		return usbip_encode_usb_device(out, cap, &v->dev[0], v->ifs[0],
		                               v->dev[0].bNumInterfaces);
	case 4:
		return usbip_encode_header(out, cap, &v->h);
	default:
		if (!out)
			return 1 + usbip_encode_iso(NULL, 0, v->iso, v->np);
		if (cap < 1)
			return USBIP_E_SHORT;
		out[0] = (uint8_t)v->np;
		r = usbip_encode_iso(out + 1, cap - 1, v->iso, v->np);
		return r < 0 ? r : r + 1;
	}
}

static void check_device(const struct usbip_usb_device *a, const struct usbip_usb_device *b)
{
	FUZZ_CHECK(strcmp(a->path, b->path) == 0);
	FUZZ_CHECK(strcmp(a->busid, b->busid) == 0);
	FUZZ_CHECK(a->busnum == b->busnum && a->devnum == b->devnum && a->speed == b->speed);
	FUZZ_CHECK(a->idVendor == b->idVendor && a->idProduct == b->idProduct &&
	           a->bcdDevice == b->bcdDevice);
	FUZZ_CHECK(a->bDeviceClass == b->bDeviceClass && a->bDeviceSubClass == b->bDeviceSubClass &&
	           a->bDeviceProtocol == b->bDeviceProtocol);
	FUZZ_CHECK(a->bConfigurationValue == b->bConfigurationValue &&
	           a->bNumConfigurations == b->bNumConfigurations &&
	           a->bNumInterfaces == b->bNumInterfaces);
}

static void check_same(unsigned kind, const struct value *a, const struct value *b)
{
	switch (kind) {
	case 0:
		FUZZ_CHECK(strcmp(a->busid, b->busid) == 0);
		break;
	case 1:
		FUZZ_CHECK(a->status == b->status);
		if (a->status == USBIP_ST_OK)
			check_device(&a->dev[0], &b->dev[0]);
		break;
	case 2:
	case 3:
		FUZZ_CHECK(a->ndev == b->ndev);
		for (uint32_t i = 0; i < a->ndev; i++) {
			check_device(&a->dev[i], &b->dev[i]);
			for (unsigned j = 0; j < a->dev[i].bNumInterfaces; j++)
				FUZZ_CHECK(memcmp(&a->ifs[i][j], &b->ifs[i][j],
				                  sizeof(a->ifs[i][j])) == 0);
		}
		break;
	case 4:
		/* Every arm's fields are plain integers set by the decoder; the
		 * unused tail of the union was zeroed by decode(). */
		FUZZ_CHECK(memcmp(&a->h, &b->h, sizeof(a->h)) == 0);
		break;
	default:
		FUZZ_CHECK(a->np == b->np);
		FUZZ_CHECK(memcmp(a->iso, b->iso, a->np * sizeof(a->iso[0])) == 0);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct value a, b;
	static uint8_t x[8192], y[8192];

	if (size < 1)
		return 0;
	unsigned kind = data[0] % 6;
	long n = decode(kind, data + 1, size - 1, &a);
	if (n < 0)
		return 0;
	FUZZ_CHECK(n > 0 && (size_t)n <= size - 1);

	long m = encode(kind, &a, x, sizeof(x));
	FUZZ_CHECK(m == n);
	FUZZ_CHECK(encode(kind, &a, NULL, 0) == m);
	FUZZ_CHECK(encode(kind, &a, y, (size_t)m - 1) == USBIP_E_SHORT);
	FUZZ_CHECK(decode(kind, x, (size_t)m, &b) == m);
	check_same(kind, &a, &b);
	FUZZ_CHECK(encode(kind, &b, y, sizeof(y)) == m);
	FUZZ_CHECK(memcmp(x, y, (size_t)m) == 0);
	return 0;
}
