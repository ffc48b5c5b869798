/* SPDX-License-Identifier: MIT */
/*
 * sim_hid.c - the sim HID boot keyboard (see sim_hid.h). Descriptors and
 * requests follow HID 1.11 (§6.2, §7.2, appendix B.1); keycodes are from
 * the HID Usage Tables, keyboard page 0x07.
 */
#include "sim_hid.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim_text.h"

#define HID_EP_IN       0x81
#define HID_INTF        0
#define HID_REPORT_SIZE 8

/* HID 1.11 §7.2 class requests. */
#define HID_GET_REPORT   0x01
#define HID_GET_IDLE     0x02
#define HID_GET_PROTOCOL 0x03
#define HID_SET_REPORT   0x09
#define HID_SET_IDLE     0x0a
#define HID_SET_PROTOCOL 0x0b

#define HID_REPORT_INPUT  1
#define HID_REPORT_OUTPUT 2

#define HID_MOD_LSHIFT 0x02

/* The boot keyboard report descriptor of HID 1.11 appendix B.1: modifier
 * byte, reserved byte, 5 LED bits (output), six keycode bytes. */
static const uint8_t hid_report_desc[] = {
        0x05, 0x01, /* Usage Page (Generic Desktop) */
        0x09, 0x06, /* Usage (Keyboard) */
        0xa1, 0x01, /* Collection (Application) */
        0x05, 0x07, /*   Usage Page (Keyboard) */
        0x19, 0xe0, /*   Usage Minimum (Left Control) */
        0x29, 0xe7, /*   Usage Maximum (Right GUI) */
        0x15, 0x00, /*   Logical Minimum (0) */
        0x25, 0x01, /*   Logical Maximum (1) */
        0x75, 0x01, /*   Report Size (1) */
        0x95, 0x08, /*   Report Count (8) */
        0x81, 0x02, /*   Input (Data, Variable, Absolute): modifiers */
        0x95, 0x01, /*   Report Count (1) */
        0x75, 0x08, /*   Report Size (8) */
        0x81, 0x01, /*   Input (Constant): reserved */
        0x95, 0x05, /*   Report Count (5) */
        0x75, 0x01, /*   Report Size (1) */
        0x05, 0x08, /*   Usage Page (LEDs) */
        0x19, 0x01, /*   Usage Minimum (Num Lock) */
        0x29, 0x05, /*   Usage Maximum (Kana) */
        0x91, 0x02, /*   Output (Data, Variable, Absolute): LEDs */
        0x95, 0x01, /*   Report Count (1) */
        0x75, 0x03, /*   Report Size (3) */
        0x91, 0x01, /*   Output (Constant): padding */
        0x95, 0x06, /*   Report Count (6) */
        0x75, 0x08, /*   Report Size (8) */
        0x15, 0x00, /*   Logical Minimum (0) */
        0x25, 0x65, /*   Logical Maximum (101) */
        0x05, 0x07, /*   Usage Page (Keyboard) */
        0x19, 0x00, /*   Usage Minimum (0) */
        0x29, 0x65, /*   Usage Maximum (101) */
        0x81, 0x00, /*   Input (Data, Array): keycodes */
        0xc0,       /* End Collection */
};

struct sim_hid {
	uint8_t *text;
	size_t text_len;
	bool typing;         /* settled: reports carry the text now */
	unsigned polls;      /* polls answered since the import */
	uint64_t first_poll; /* clock at the first one */
	size_t pos;          /* next character to type */
	bool key_down;       /* its key-down report went out; key-up is next */
	uint8_t protocol;    /* 0 boot, 1 report (the default after reset) */
	uint8_t idle;        /* SET_IDLE duration, 4 ms units */
	uint8_t leds;
	uint8_t report[HID_REPORT_SIZE]; /* the last input report sent */
};

static struct sim_hid *hid_of(struct sim_dev *dev)
{
	return dev->cls_state;
}

int sim_hid_key(uint8_t c, uint8_t *modifiers, uint8_t *keycode)
{
	/* Unshifted and shifted characters of the US keys 0x2d..0x38. */
	static const char plain[] = "-=[]\\\0;'`,./";
	static const char shifted[] = "_+{}|\0:\"~<>?";
	static const char digit_shift[] = ")!@#$%^&*(";

	*modifiers = 0;
	if (c >= 'a' && c <= 'z') {
		*keycode = (uint8_t)(0x04 + c - 'a');
		return 0;
	}
	if (c >= 'A' && c <= 'Z') {
		*modifiers = HID_MOD_LSHIFT;
		*keycode = (uint8_t)(0x04 + c - 'A');
		return 0;
	}
	if (c >= '1' && c <= '9') {
		*keycode = (uint8_t)(0x1e + c - '1');
		return 0;
	}
	if (c == '0') {
		*keycode = 0x27;
		return 0;
	}
	for (unsigned i = 0; i < 10; i++) {
		if (c == (uint8_t)digit_shift[i]) {
			*modifiers = HID_MOD_LSHIFT;
			*keycode = i == 0 ? 0x27 : (uint8_t)(0x1e + i - 1);
			return 0;
		}
	}
	switch (c) {
	case '\n':
	case '\r':
		*keycode = 0x28; /* Enter */
		return 0;
	case 0x1b:
		*keycode = 0x29; /* Escape */
		return 0;
	case '\b':
		*keycode = 0x2a; /* Backspace */
		return 0;
	case '\t':
		*keycode = 0x2b;
		return 0;
	case ' ':
		*keycode = 0x2c;
		return 0;
	default:
		break;
	}
	/* 0x32 is the non-US '#', left out of both tables as a NUL. */
	for (unsigned i = 0; i < sizeof(plain) - 1; i++) {
		if (plain[i] != '\0' && c == (uint8_t)plain[i]) {
			*keycode = (uint8_t)(0x2d + i);
			return 0;
		}
		if (shifted[i] != '\0' && c == (uint8_t)shifted[i]) {
			*modifiers = HID_MOD_LSHIFT;
			*keycode = (uint8_t)(0x2d + i);
			return 0;
		}
	}
	return -1;
}

/*
 * Whether this poll still gets an idle report. Linux drops the first
 * reports of a new keyboard: usbhid_open() starts polling, then ignores
 * what comes for 50 ms (HID_RESUME_RUNNING), and the HID core drops input
 * until the driver's probe returns (hid_input_report() takes
 * driver_input_lock with down_trylock), while the console's keyboard
 * handler opens the device inside that probe. A real keyboard has nobody
 * typing yet; this one waits, with idle reports (no key down, nothing for
 * the host to do) as the heartbeat that lets it look at its clock.
 */
static bool hid_settling(struct sim_dev *dev, struct sim_hid *hid)
{
	uint64_t now;
	bool have_clock = sim_dev_now(dev, &now);

	if (hid->polls++ == 0)
		hid->first_poll = have_clock ? now : 0;
	if (hid->polls <= SIM_HID_SETTLE_POLLS)
		return true;
	if (have_clock && now - hid->first_poll < (uint64_t)SIM_HID_SETTLE_MS * 1000u)
		return true;
	hid->typing = true;
	return false;
}

/* The next report of the text: a key down, then all keys up. */
static void hid_next_key(struct sim_hid *hid)
{
	if (!hid->key_down) {
		/* Validated at init: every character has a key. */
		(void)sim_hid_key(hid->text[hid->pos], &hid->report[0], &hid->report[2]);
		hid->key_down = true;
	} else {
		hid->key_down = false;
		hid->pos++;
	}
}

/* Gives each held interrupt URB the next report while text remains. */
static void hid_pump(struct sim_dev *dev)
{
	struct usbip_urb *urb;

	while (hid_of(dev)->pos < hid_of(dev)->text_len &&
	       (urb = sim_dev_take(dev, HID_EP_IN)) != NULL) {
		struct sim_hid *hid = hid_of(dev);

		memset(hid->report, 0, sizeof(hid->report));
		if (hid->typing || !hid_settling(dev, hid))
			hid_next_key(hid);
		size_t n = urb->length < HID_REPORT_SIZE ? (size_t)urb->length : HID_REPORT_SIZE;

		memcpy(urb->data, hid->report, n);
		sim_dev_complete(urb, 0, (int32_t)n);
	}
}

static int hid_submit(struct sim_dev *dev, struct usbip_urb *urb)
{
	sim_dev_hold(dev, urb);
	hid_pump(dev);
	return 0;
}

static size_t hid_descriptor(uint8_t out[9])
{
	out[0] = 9;
	out[1] = SIM_DT_HID;
	usbip_put_le16(out + 2, 0x0111); /* bcdHID 1.11 */
	out[4] = 0;                      /* not localised */
	out[5] = 1;                      /* one class descriptor: */
	out[6] = SIM_DT_HID_REPORT;      /* the report descriptor */
	usbip_put_le16(out + 7, sizeof(hid_report_desc));
	return 9;
}

static int hid_control(struct sim_dev *dev, const struct sim_ctrl *c)
{
	struct sim_hid *hid = hid_of(dev);
	uint8_t type = (uint8_t)(c->wValue >> 8);

	if ((c->bmRequestType & 0x1f) != 1 || c->wIndex != HID_INTF)
		return -USBIP_EPIPE;
	if ((c->bmRequestType & 0x60) == 0) { /* standard: GET_DESCRIPTOR */
		if (type == SIM_DT_HID_REPORT) {
			memcpy(c->buf, hid_report_desc, sizeof(hid_report_desc));
			return sizeof(hid_report_desc);
		}
		if (type == SIM_DT_HID)
			return (int)hid_descriptor(c->buf);
		return -USBIP_EPIPE;
	}
	switch (c->bmRequestType << 8 | c->bRequest) {
	case 0xa100 | HID_GET_REPORT:
		if (type == HID_REPORT_INPUT) {
			memcpy(c->buf, hid->report, HID_REPORT_SIZE);
			return HID_REPORT_SIZE;
		}
		if (type == HID_REPORT_OUTPUT) {
			c->buf[0] = hid->leds;
			return 1;
		}
		return -USBIP_EPIPE;
	case 0x2100 | HID_SET_REPORT:
		if (type != HID_REPORT_OUTPUT || c->len < 1)
			return -USBIP_EPIPE;
		hid->leds = c->buf[0] & 0x1f;
		return 0;
	case 0xa100 | HID_GET_IDLE:
		c->buf[0] = hid->idle;
		return 1;
	case 0x2100 | HID_SET_IDLE:
		/* Reports go out only on change here, whatever the duration. */
		hid->idle = type;
		return 0;
	case 0xa100 | HID_GET_PROTOCOL:
		c->buf[0] = hid->protocol;
		return 1;
	case 0x2100 | HID_SET_PROTOCOL:
		/* The report descriptor is the boot format: both are the same. */
		if (c->wValue > 1)
			return -USBIP_EPIPE;
		hid->protocol = (uint8_t)c->wValue;
		return 0;
	default:
		return -USBIP_EPIPE;
	}
}

static void hid_restart(struct sim_dev *dev)
{
	struct sim_hid *hid = hid_of(dev);

	hid->typing = false;
	hid->polls = 0;
	hid->first_poll = 0;
	hid->pos = 0;
	hid->key_down = false;
	hid->protocol = 1; /* HID 1.11 §7.2.6: report protocol after reset */
	hid->idle = 0;
	hid->leds = 0;
	memset(hid->report, 0, sizeof(hid->report));
}

static void hid_destroy(struct sim_dev *dev)
{
	struct sim_hid *hid = hid_of(dev);

	if (hid != NULL)
		free(hid->text);
	free(hid);
	dev->cls_state = NULL;
}

static const struct sim_class hid_class = {
        .name = "hid",
        .restart = hid_restart,
        .control = hid_control,
        .submit = hid_submit,
        .destroy = hid_destroy,
};

static void hid_build_config(struct sim_dev *dev)
{
	uint8_t hid_desc[9];
	struct sim_desc_builder b;

	hid_descriptor(hid_desc);
	sim_desc_begin(&b, dev->config_desc, sizeof(dev->config_desc));
	sim_desc_interface(&b, HID_INTF, 1, 0x03, 0x01, 0x01); /* boot keyboard */
	sim_desc_raw(&b, hid_desc, sizeof(hid_desc));
	sim_desc_endpoint(&b, HID_EP_IN, USBIP_EP_INT, HID_REPORT_SIZE, 7); /* 2^6 µframes: 8 ms */
	dev->config_len = sim_desc_end(&b);
}

int sim_hid_init(struct sim_dev *dev, const char *text, char *err, size_t errlen)
{
	const struct sim_identity id = {
	        .ids = {.idProduct = SIM_HID_PID, .bcdDevice = 0x0100},
	        .product = "usblab virtual keyboard",
	        .serial_tag = "HID",
	};
	struct sim_hid *hid = calloc(1, sizeof(*hid));
	size_t n, bad;

	if (text == NULL)
		text = SIM_HID_DEFAULT_TEXT;
	n = strlen(text);
	if (hid == NULL || (hid->text = malloc(n + 1)) == NULL) {
		free(hid);
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	dev->cls = &hid_class;
	dev->cls_state = hid;

	long len = sim_text_unescape(text, n, hid->text, &bad);

	if (len < 0) {
		snprintf(err, errlen,
		         "bad escape '%.2s' in text (use \\n \\r \\t \\b \\e \\\\ \\xHH)",
		         text + bad);
		goto fail;
	}
	hid->text_len = (size_t)len;
	for (size_t i = 0; i < hid->text_len; i++) {
		uint8_t mod, key;

		if (sim_hid_key(hid->text[i], &mod, &key) < 0) {
			snprintf(err, errlen,
			         "character 0x%02x at offset %zu has no key on a US layout",
			         hid->text[i], i);
			goto fail;
		}
	}
	sim_dev_set_identity(dev, &id);
	hid_build_config(dev);
	hid_restart(dev);
	return 0;
fail:
	hid_destroy(dev);
	dev->cls = NULL;
	return -1;
}
