/* SPDX-License-Identifier: MIT */
/*
 * sim_cdc.c - the sim CDC-ACM serial port (see sim_cdc.h). Requests and
 * descriptors follow USB CDC 1.2 and its PSTN subclass (ACM) 1.2.
 */
#include "sim_cdc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_text.h"

#define CDC_EP_NOTIFY 0x81
#define CDC_EP_IN     0x82
#define CDC_EP_OUT    0x02
#define CDC_INTF_COMM 0
#define CDC_INTF_DATA 1

#define CDC_RING_SIZE  (64u * 1024u)
#define CDC_WHEN_MAX   255
#define CDC_SAY_MAX    4096
#define CDC_SCRIPT_MAX (1024L * 1024L)

/* PSTN 1.2 §6.3 requests. */
#define CDC_SET_LINE_CODING        0x20
#define CDC_GET_LINE_CODING        0x21
#define CDC_SET_CONTROL_LINE_STATE 0x22
#define CDC_SEND_BREAK             0x23
#define CDC_LINE_CODING_SIZE       7
#define CDC_DTR                    SIM_CDC_DTR

struct cdc_rule {
	char *when; /* NUL-terminated; "" for a greeting */
	size_t when_len;
	uint8_t *say;
	size_t say_len;
};

struct sim_cdc {
	const struct sim_cdc_firmware *fw; /* NULL: echo or script */
	void *fw_ctx;
	struct sim_dev *fw_dev; /* the device, for fw's calls */

	struct cdc_rule *rules;
	size_t nrules;
	size_t max_out; /* most bytes one input byte can make the script say */

	uint8_t line_coding[CDC_LINE_CODING_SIZE];
	uint16_t line_state;

	uint8_t ring[CDC_RING_SIZE]; /* bytes waiting for bulk IN */
	size_t ring_head, ring_count;

	/* Script input: the current line while it may still equal a WHEN. */
	char line[CDC_WHEN_MAX];
	size_t line_len;
	bool line_nomatch; /* already echoed: it can match no rule */
	bool after_cr;     /* the last byte was a CR ending a line */
	bool cr_matched;   /* ... and that line was answered, so LF is eaten */
};

static struct sim_cdc *cdc_of(struct sim_dev *dev)
{
	return dev->cls_state;
}

/* ---- the IN buffer ------------------------------------------------------- */

static size_t ring_free(const struct sim_cdc *cdc)
{
	return CDC_RING_SIZE - cdc->ring_count;
}

/* Appends what fits and drops the rest (only a greeting can overflow:
 * input is consumed only while the script's largest answer fits). */
static void ring_put(struct sim_cdc *cdc, const void *data, size_t n)
{
	const uint8_t *p = data;

	if (n > ring_free(cdc))
		n = ring_free(cdc);
	for (size_t i = 0; i < n; i++) {
		cdc->ring[(cdc->ring_head + cdc->ring_count) % CDC_RING_SIZE] = p[i];
		cdc->ring_count++;
	}
}

static size_t ring_get(struct sim_cdc *cdc, uint8_t *out, size_t cap)
{
	size_t n = cdc->ring_count < cap ? cdc->ring_count : cap;

	for (size_t i = 0; i < n; i++)
		out[i] = cdc->ring[(cdc->ring_head + i) % CDC_RING_SIZE];
	cdc->ring_head = (cdc->ring_head + n) % CDC_RING_SIZE;
	cdc->ring_count -= n;
	return n;
}

/* ---- script -------------------------------------------------------------- */

static const struct cdc_rule *rule_exact(const struct sim_cdc *cdc, const char *line, size_t n)
{
	for (size_t i = 0; i < cdc->nrules; i++) {
		const struct cdc_rule *r = &cdc->rules[i];

		if (r->when_len != 0 && r->when_len == n && memcmp(r->when, line, n) == 0)
			return r;
	}
	return NULL;
}

static bool rule_prefix(const struct sim_cdc *cdc, const char *line, size_t n)
{
	for (size_t i = 0; i < cdc->nrules; i++) {
		const struct cdc_rule *r = &cdc->rules[i];

		if (r->when_len >= n && r->when_len != 0 && memcmp(r->when, line, n) == 0)
			return true;
	}
	return false;
}

static void line_reset(struct sim_cdc *cdc)
{
	cdc->line_len = 0;
	cdc->line_nomatch = false;
}

/* One input byte in script mode. Input that can no longer equal a WHEN is
 * echoed at once, so typing at a terminal shows up as it is typed. */
static void script_byte(struct sim_cdc *cdc, uint8_t c)
{
	if (cdc->after_cr) {
		cdc->after_cr = false;
		if (c == '\n') { /* the LF of a CRLF shares its line's fate */
			if (!cdc->cr_matched)
				ring_put(cdc, &c, 1);
			return;
		}
	}
	if (c == '\r' || c == '\n') {
		const struct cdc_rule *r = NULL;

		if (!cdc->line_nomatch)
			r = rule_exact(cdc, cdc->line, cdc->line_len);
		if (r != NULL) {
			ring_put(cdc, r->say, r->say_len);
		} else {
			if (!cdc->line_nomatch)
				ring_put(cdc, cdc->line, cdc->line_len);
			ring_put(cdc, &c, 1);
		}
		line_reset(cdc);
		cdc->after_cr = c == '\r';
		cdc->cr_matched = r != NULL;
		return;
	}
	if (cdc->line_nomatch) {
		ring_put(cdc, &c, 1);
		return;
	}
	if (cdc->line_len < CDC_WHEN_MAX) {
		cdc->line[cdc->line_len++] = (char)c;
		if (rule_prefix(cdc, cdc->line, cdc->line_len))
			return;
		ring_put(cdc, cdc->line, cdc->line_len);
	} else {
		ring_put(cdc, cdc->line, cdc->line_len);
		ring_put(cdc, &c, 1);
	}
	cdc->line_nomatch = true;
}

/* Takes what the device can accept of n OUT bytes; returns the count. */
static size_t cdc_consume(struct sim_cdc *cdc, const uint8_t *data, size_t n)
{
	size_t i = 0;

	if (cdc->fw != NULL)
		return cdc->fw->input(cdc->fw_dev, cdc->fw_ctx, data, n);
	if (cdc->nrules == 0) {
		i = n < ring_free(cdc) ? n : ring_free(cdc);
		ring_put(cdc, data, i);
		return i;
	}
	while (i < n && ring_free(cdc) >= cdc->max_out)
		script_byte(cdc, data[i++]);
	return i;
}

static void cdc_greet(struct sim_cdc *cdc)
{
	for (size_t i = 0; i < cdc->nrules; i++) {
		if (cdc->rules[i].when_len == 0)
			ring_put(cdc, cdc->rules[i].say, cdc->rules[i].say_len);
	}
}

/* ---- URBs ---------------------------------------------------------------- */

/* Moves data as far as it goes: OUT URBs into the buffer, the buffer into
 * IN URBs. One completion per round, after the state is updated. */
static void cdc_pump(struct sim_dev *dev)
{
	for (;;) {
		struct sim_cdc *cdc = cdc_of(dev);
		struct usbip_urb *urb = sim_dev_peek(dev, CDC_EP_OUT);

		if (urb != NULL) {
			size_t done = (size_t)urb->actual_length;

			done += cdc_consume(cdc, urb->data + done, (size_t)urb->length - done);
			urb->actual_length = (int32_t)done;
			if (done == (size_t)urb->length) {
				sim_dev_take(dev, CDC_EP_OUT);
				sim_dev_complete(urb, 0, (int32_t)done);
				continue;
			}
		}
		urb = sim_dev_peek(dev, CDC_EP_IN);
		if (urb != NULL && (cdc->ring_count > 0 || urb->length == 0)) {
			sim_dev_take(dev, CDC_EP_IN);
			size_t n = ring_get(cdc, urb->data, (size_t)urb->length);

			sim_dev_complete(urb, 0, (int32_t)n);
			continue;
		}
		return;
	}
}

static int cdc_submit(struct sim_dev *dev, struct usbip_urb *urb)
{
	/* The notification endpoint never has anything to say: its URB waits
	 * for cancel, as on a real modem with steady lines. */
	sim_dev_hold(dev, urb);
	if (SIM_URB_ADDR(urb) != CDC_EP_NOTIFY)
		cdc_pump(dev);
	return 0;
}

static int cdc_control(struct sim_dev *dev, const struct sim_ctrl *c)
{
	struct sim_cdc *cdc = cdc_of(dev);

	if ((c->bmRequestType & 0x1f) != 1 || c->wIndex != CDC_INTF_COMM)
		return -USBIP_EPIPE;
	switch (c->bRequest) {
	case CDC_SET_LINE_CODING:
		if (c->bmRequestType != 0x21 || c->len < CDC_LINE_CODING_SIZE)
			return -USBIP_EPIPE;
		memcpy(cdc->line_coding, c->buf, CDC_LINE_CODING_SIZE);
		return 0;
	case CDC_GET_LINE_CODING:
		if (c->bmRequestType != 0xa1)
			return -USBIP_EPIPE;
		memcpy(c->buf, cdc->line_coding, CDC_LINE_CODING_SIZE);
		return CDC_LINE_CODING_SIZE;
	case CDC_SET_CONTROL_LINE_STATE: {
		if (c->bmRequestType != 0x21)
			return -USBIP_EPIPE;
		bool rising = !(cdc->line_state & CDC_DTR) && (c->wValue & CDC_DTR);
		uint16_t old = cdc->line_state;

		cdc->line_state = c->wValue;
		if (cdc->fw != NULL) {
			cdc->fw->lines(dev, cdc->fw_ctx, old, c->wValue);
			cdc_pump(dev);
		} else if (rising) {
			cdc_greet(cdc);
			cdc_pump(dev);
		}
		return 0;
	}
	case CDC_SEND_BREAK:
		return c->bmRequestType == 0x21 ? 0 : -USBIP_EPIPE;
	default:
		return -USBIP_EPIPE;
	}
}

/* The port's own power-on state: lines down, buffers empty. */
static void cdc_port_reset(struct sim_cdc *cdc)
{
	/* 115200 baud, 1 stop bit, no parity, 8 data bits (PSTN table 17). */
	static const uint8_t default_coding[CDC_LINE_CODING_SIZE] = {0x00, 0xc2, 0x01, 0x00,
	                                                             0,    0,    8};

	memcpy(cdc->line_coding, default_coding, sizeof(default_coding));
	cdc->line_state = 0;
	cdc->ring_head = 0;
	cdc->ring_count = 0;
	line_reset(cdc);
	cdc->after_cr = false;
	cdc->cr_matched = false;
}

static void cdc_restart(struct sim_dev *dev)
{
	struct sim_cdc *cdc = cdc_of(dev);

	cdc_port_reset(cdc);
	if (cdc->fw != NULL)
		cdc->fw->restart(dev, cdc->fw_ctx);
}

static void cdc_plug(struct sim_dev *dev, bool power_on)
{
	struct sim_cdc *cdc = cdc_of(dev);

	cdc_port_reset(cdc);
	if (cdc->fw != NULL && cdc->fw->plug != NULL)
		cdc->fw->plug(dev, cdc->fw_ctx, power_on);
	else if (cdc->fw != NULL)
		cdc->fw->restart(dev, cdc->fw_ctx);
}

static void rules_free(struct cdc_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rules[i].when);
		free(rules[i].say);
	}
	free(rules);
}

static void cdc_destroy(struct sim_dev *dev)
{
	struct sim_cdc *cdc = cdc_of(dev);

	if (cdc != NULL) {
		rules_free(cdc->rules, cdc->nrules);
		if (cdc->fw != NULL)
			cdc->fw->destroy(cdc->fw_ctx);
	}
	free(cdc);
	dev->cls_state = NULL;
}

static const struct sim_class cdc_class = {
        .name = "cdc",
        .restart = cdc_restart,
        .control = cdc_control,
        .submit = cdc_submit,
        .destroy = cdc_destroy,
        .plug = cdc_plug,
};

/* ---- script file --------------------------------------------------------- */

static void trim(const char **s, const char **e)
{
	while (*s < *e && (**s == ' ' || **s == '\t'))
		(*s)++;
	while (*e > *s && ((*e)[-1] == ' ' || (*e)[-1] == '\t'))
		(*e)--;
}

/* Parses one non-blank, non-comment line into r. Returns 0 or -1 with a
 * reason (without the line number) in err. */
static int parse_rule(const char *s, const char *e, struct cdc_rule *r, char *err, size_t errlen)
{
	const char *arrow = NULL;

	for (const char *p = s; p + 1 < e; p++) {
		if (p[0] == '=' && p[1] == '>') {
			arrow = p;
			break;
		}
	}
	if (arrow == NULL) {
		snprintf(err, errlen, "expected 'WHEN => SAY'");
		return -1;
	}
	const char *ws = s, *we = arrow, *ss = arrow + 2, *se = e;

	trim(&ws, &we);
	trim(&ss, &se);
	if ((size_t)(we - ws) > CDC_WHEN_MAX) {
		snprintf(err, errlen, "WHEN is longer than %d characters", CDC_WHEN_MAX);
		return -1;
	}
	for (const char *p = ws; p < we; p++) {
		if (*p == '\0') {
			snprintf(err, errlen, "NUL byte in WHEN");
			return -1;
		}
	}
	r->when_len = (size_t)(we - ws);
	r->when = malloc(r->when_len + 1);
	r->say = malloc((size_t)(se - ss) + 1);
	if (r->when == NULL || r->say == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	memcpy(r->when, ws, r->when_len);
	r->when[r->when_len] = '\0';

	size_t bad;
	long n = sim_text_unescape(ss, (size_t)(se - ss), r->say, &bad);

	if (n < 0) {
		/* Show the backslash and the letter after it, if any. */
		int shown = (size_t)(se - ss) - bad < 2 ? (int)((size_t)(se - ss) - bad) : 2;

		snprintf(err, errlen,
		         "bad escape '%.*s' in SAY (use \\n \\r \\t \\b \\e \\\\ \\xHH)", shown,
		         ss + bad);
		return -1;
	}
	if (n > CDC_SAY_MAX) {
		snprintf(err, errlen, "SAY is longer than %d bytes", CDC_SAY_MAX);
		return -1;
	}
	r->say_len = (size_t)n;
	return 0;
}

static int parse_script(struct sim_cdc *cdc, const char *text, size_t len, const char *path,
                        char *err, size_t errlen)
{
	const char *p = text, *end = text + len;
	unsigned lineno = 0;

	cdc->max_out = CDC_WHEN_MAX + 1; /* echo of a line that cannot match */
	while (p < end) {
		const char *e = memchr(p, '\n', (size_t)(end - p));
		const char *next = e != NULL ? e + 1 : end;

		if (e == NULL)
			e = end;
		if (e > p && e[-1] == '\r')
			e--;
		lineno++;

		const char *s = p, *t = e;

		p = next;
		trim(&s, &t);
		if (s == t || *s == '#')
			continue;

		struct cdc_rule *grown = realloc(cdc->rules, (cdc->nrules + 1) * sizeof(*grown));

		if (grown == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		cdc->rules = grown;
		struct cdc_rule *r = &cdc->rules[cdc->nrules++];
		char why[160];

		memset(r, 0, sizeof(*r));
		if (parse_rule(s, t, r, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", path, lineno, why);
			return -1;
		}
		if (r->say_len > cdc->max_out)
			cdc->max_out = r->say_len;
	}
	return 0;
}

static int load_script(struct sim_cdc *cdc, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char *text = NULL;
	int rc = -1;

	if (f == NULL) {
		snprintf(err, errlen, "cannot open script %s: %s", path, strerror(errno));
		return -1;
	}
	text = malloc(CDC_SCRIPT_MAX + 1);
	if (text == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	size_t len = fread(text, 1, CDC_SCRIPT_MAX + 1, f);

	if (ferror(f)) {
		snprintf(err, errlen, "cannot read script %s: %s", path, strerror(errno));
		goto fail;
	}
	if (len > CDC_SCRIPT_MAX) {
		snprintf(err, errlen, "script %s is larger than %ld bytes", path, CDC_SCRIPT_MAX);
		goto fail;
	}
	rc = parse_script(cdc, text, len, path, err, errlen);
fail:
	free(text);
	fclose(f);
	return rc;
}

/* ---- descriptors --------------------------------------------------------- */

static void cdc_build_config(struct sim_dev *dev)
{
	/* CDC 1.2 §5.2.3: header, call management, ACM and union descriptors. */
	static const uint8_t header[] = {5, SIM_DT_CS_INTERFACE, 0x00, 0x10, 0x01};
	static const uint8_t call_mgmt[] = {5, SIM_DT_CS_INTERFACE, 0x01, 0x00, CDC_INTF_DATA};
	/* bmCapabilities: line coding and line state (bit 1), SEND_BREAK (bit 2). */
	static const uint8_t acm[] = {4, SIM_DT_CS_INTERFACE, 0x02, 0x06};
	static const uint8_t unio[] = {5, SIM_DT_CS_INTERFACE, 0x06, CDC_INTF_COMM, CDC_INTF_DATA};
	struct sim_desc_builder b;

	sim_desc_begin(&b, dev->config_desc, sizeof(dev->config_desc));
	sim_desc_interface(&b, CDC_INTF_COMM, 1, 0x02, 0x02, 0x01);
	sim_desc_raw(&b, header, sizeof(header));
	sim_desc_raw(&b, call_mgmt, sizeof(call_mgmt));
	sim_desc_raw(&b, acm, sizeof(acm));
	sim_desc_raw(&b, unio, sizeof(unio));
	sim_desc_endpoint(&b, CDC_EP_NOTIFY, USBIP_EP_INT, 16, 8); /* 2^7 µframes: 16 ms */
	sim_desc_interface(&b, CDC_INTF_DATA, 2, 0x0a, 0x00, 0x00);
	sim_desc_endpoint(&b, CDC_EP_IN, USBIP_EP_BULK, 512, 0);
	sim_desc_endpoint(&b, CDC_EP_OUT, USBIP_EP_BULK, 512, 0);
	dev->config_len = sim_desc_end(&b);
}

int sim_cdc_init(struct sim_dev *dev, const char *script_path, char *err, size_t errlen)
{
	struct sim_cdc *cdc = calloc(1, sizeof(*cdc));
	const struct sim_identity id = {
	        .ids = {.idProduct = SIM_CDC_PID, .bcdDevice = 0x0100, .bDeviceClass = 0x02},
	        .product = script_path != NULL ? "usblab scripted serial" : "usblab virtual serial",
	        .serial_tag = "CDC",
	};

	if (cdc == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	dev->cls = &cdc_class;
	dev->cls_state = cdc;
	if (script_path != NULL && load_script(cdc, script_path, err, errlen) < 0) {
		cdc_destroy(dev);
		dev->cls = NULL;
		return -1;
	}
	sim_dev_set_identity(dev, &id);
	cdc_build_config(dev);
	cdc_restart(dev);
	return 0;
}

int sim_cdc_init_firmware(struct sim_dev *dev, const struct sim_identity *id,
                          const struct sim_cdc_firmware *fw, void *ctx, char *err, size_t errlen)
{
	struct sim_cdc *cdc = calloc(1, sizeof(*cdc));

	if (cdc == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	cdc->fw = fw;
	cdc->fw_ctx = ctx;
	cdc->fw_dev = dev;
	dev->cls = &cdc_class;
	dev->cls_state = cdc;
	sim_dev_set_identity(dev, id);
	cdc_build_config(dev);
	cdc_restart(dev);
	return 0;
}

size_t sim_cdc_write(struct sim_dev *dev, const void *data, size_t n)
{
	struct sim_cdc *cdc = cdc_of(dev);

	if (n > ring_free(cdc))
		n = ring_free(cdc);
	ring_put(cdc, data, n);
	return n;
}

size_t sim_cdc_room(const struct sim_dev *dev)
{
	const struct sim_cdc *cdc = dev->cls_state;

	return ring_free(cdc);
}
