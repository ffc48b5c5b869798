/* SPDX-License-Identifier: MIT */
/*
 * fuzz_urb.c - libFuzzer target for the URB-phase decoders (§3).
 *
 * Input: one byte of frame flags (bit 0 USBIP_FRAME_ISO, bit 1
 * USBIP_FRAME_DIR_IN: the facts a reader knows from its own state), then
 * the bytes of a PDU. Properties:
 *   - no decoder reads past size (ASan);
 *   - a decoded header re-encodes to the same 48 bytes, pads aside;
 *   - when the whole PDU (header, payload, ISO descriptors) is present,
 *     usbip_frame_size gives exactly its size; every shorter prefix
 *     decodes as USBIP_E_NEED_MORE;
 *   - ISO descriptors that decode lie inside the buffer (§3.4).
 */
#include <string.h>

#include "fuzz.h"
#include "usbip.h"

static struct usbip_iso_packet iso[USBIP_MAX_ISO_PACKETS];

/* Decodes one whole PDU. Returns its size, or the first negative return. */
static long decode_pdu(const uint8_t *buf, size_t len, unsigned flags, struct usbip_header *h)
{
	bool is_iso = flags & USBIP_FRAME_ISO;
	long r = usbip_decode_header(buf, len, h), payload;
	uint32_t buflen, np;

	if (r < 0)
		return r;
	FUZZ_CHECK(r == USBIP_HEADER_SIZE);
	switch (h->base.command) {
	case USBIP_CMD_SUBMIT:
		payload = usbip_cmd_submit_payload_size(h, is_iso);
		buflen = (uint32_t)h->u.cmd_submit.transfer_buffer_length;
		np = (uint32_t)h->u.cmd_submit.number_of_packets;
		break;
	case USBIP_RET_SUBMIT:
		payload = usbip_ret_submit_payload_size(h, flags & USBIP_FRAME_DIR_IN, is_iso);
		/* The pending URB's buffer is unknown here: take the largest
		 * one a server accepts. */
		buflen = USBIP_MAX_TRANSFER;
		np = (uint32_t)h->u.ret_submit.number_of_packets;
		break;
	default:
		return r;
	}
	if (payload < 0)
		return payload;
	FUZZ_CHECK(payload <= (long)USBIP_MAX_TRANSFER + 16 * USBIP_MAX_ISO_PACKETS);
	if (!is_iso)
		return len - USBIP_HEADER_SIZE < (size_t)payload ? USBIP_E_NEED_MORE
		                                                 : USBIP_HEADER_SIZE + payload;
	FUZZ_CHECK(np <= USBIP_MAX_ISO_PACKETS);
	size_t data = (size_t)payload - np * USBIP_ISO_DESC_SIZE;
	if (len - USBIP_HEADER_SIZE < data)
		return USBIP_E_NEED_MORE;
	size_t off = USBIP_HEADER_SIZE + data;
	r = usbip_decode_iso(buf + off, len - off, iso, np, buflen);
	if (r < 0)
		return r;
	FUZZ_CHECK((size_t)r == np * USBIP_ISO_DESC_SIZE);
	for (uint32_t i = 0; i < np; i++) {
		FUZZ_CHECK(iso[i].offset <= buflen && iso[i].length <= buflen - iso[i].offset);
		FUZZ_CHECK(iso[i].actual_length <= iso[i].length);
	}
	return (long)off + r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct usbip_header h;
	uint8_t out[USBIP_HEADER_SIZE];

	if (size < 1)
		return 0;
	unsigned flags = data[0] & (USBIP_FRAME_ISO | USBIP_FRAME_DIR_IN);
	const uint8_t *buf = data + 1;
	size_t len = size - 1;

	long fs = usbip_frame_size(buf, len, flags);
	FUZZ_CHECK(fs != 0);
	if (len >= 2 && (buf[0] != 0 || buf[1] != 0))
		return 0; /* an OP message: fuzz_op's */
	FUZZ_CHECK(fs < 0 || fs >= USBIP_HEADER_SIZE);

	long r = usbip_decode_header(buf, len, &h);
	if (r == USBIP_HEADER_SIZE) {
		/* Re-encoding gives the same bytes, except the pads (§3.2). */
		FUZZ_CHECK(usbip_encode_header(out, sizeof(out), &h) == USBIP_HEADER_SIZE);
		size_t keep = USBIP_HEADER_SIZE;
		if (h.base.command == USBIP_RET_SUBMIT)
			keep = 0x28;
		else if (h.base.command == USBIP_CMD_UNLINK || h.base.command == USBIP_RET_UNLINK)
			keep = 0x18;
		FUZZ_CHECK(memcmp(out, buf, keep) == 0);
		for (size_t i = keep; i < USBIP_HEADER_SIZE; i++)
			FUZZ_CHECK(out[i] == 0);
		/* The payload sizes agree with the flags-free arithmetic. */
		if (h.base.command == USBIP_CMD_SUBMIT) {
			long p = usbip_cmd_submit_payload_size(&h, false);
			FUZZ_CHECK(p == (h.base.direction == USBIP_DIR_OUT
			                         ? h.u.cmd_submit.transfer_buffer_length
			                         : 0) ||
			           h.base.direction > USBIP_DIR_IN);
		}
	} else {
		FUZZ_CHECK(r == USBIP_E_NEED_MORE || r == USBIP_E_CODE || r == USBIP_E_LIMIT ||
		           r == USBIP_E_INVALID);
		FUZZ_CHECK(r != USBIP_E_NEED_MORE || len < USBIP_HEADER_SIZE);
	}

	long n = decode_pdu(buf, len, flags, &h);
	FUZZ_CHECK(n != 0);
	if (n > 0) {
		FUZZ_CHECK((size_t)n <= len);
		FUZZ_CHECK(fs == n);
		size_t cuts[] = {0, 1, 2, 47, 48, (size_t)n / 2, (size_t)n - 16, (size_t)n - 1};
		for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
			if (cuts[i] < (size_t)n)
				FUZZ_CHECK(decode_pdu(buf, cuts[i], flags, &h) ==
				           USBIP_E_NEED_MORE);
	} else if (n == USBIP_E_NEED_MORE) {
		FUZZ_CHECK(fs == USBIP_E_NEED_MORE || (fs > 0 && (size_t)fs > len));
	}
	return 0;
}
