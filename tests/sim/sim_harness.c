/* SPDX-License-Identifier: MIT */
/*
 * sim_harness.c - the direct-ops test harness (see sim_harness.h).
 */
#include "sim_harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A URB and the harness's record of it. */
struct simh_urb {
	struct usbip_urb urb;
	unsigned completions;
};

static unsigned total_completions;

void usbip_urb_complete(struct usbip_urb *urb)
{
	struct simh_urb *h = (struct simh_urb *)urb;

	h->completions++;
	total_completions++;
	assert_int_equal(h->completions, 1); /* exactly once */
	assert_true(urb->actual_length >= 0 && urb->actual_length <= urb->length);
}

/* The sim calls these only with a worker (sim_set_loop), which the harness
 * never gives: every operation completes inline here. */
void usbip_open_done(struct usbip_export *exp, int result)
{
	(void)exp;
	fail_msg("usbip_open_done(%d) without a loop", result);
}

void usbip_special_done(struct usbip_export *exp, int result)
{
	(void)exp;
	fail_msg("usbip_special_done(%d) without a loop", result);
}

struct usbip_export *simh_create(const char *spec, unsigned index)
{
	struct usbip_export *exp = NULL;
	char err[512] = "";

	if (sim_create(spec, index, &exp, err, sizeof(err)) != 0)
		fail_msg("sim_create(%s): %s", spec, err);
	assert_non_null(exp);
	assert_non_null(exp->ops);
	if (exp->ops->open != NULL)
		assert_int_equal(exp->ops->open(exp), USBIP_ST_OK);
	return exp;
}

void simh_destroy(struct usbip_export *exp)
{
	if (exp->ops->close != NULL)
		exp->ops->close(exp);
	sim_destroy(exp);
}

struct usbip_urb *simh_urb(struct usbip_export *exp, uint8_t ep_addr, int32_t length)
{
	struct simh_urb *h = calloc(1, sizeof(*h));

	assert_non_null(h);
	h->urb.ep = ep_addr & 0x0f;
	h->urb.dir_in = (ep_addr & 0x80) != 0;
	int type = exp->ops->ep_type(exp, ep_addr);

	h->urb.ep_type = type < 0 ? 0xff : (uint8_t)type;
	h->urb.length = length;
	h->urb.data = calloc(1, length > 0 ? (size_t)length : 1);
	assert_non_null(h->urb.data);
	h->urb.exp = exp;
	return &h->urb;
}

void simh_urb_free(struct usbip_urb *urb)
{
	if (urb == NULL)
		return;
	free(urb->data);
	free(urb);
}

int simh_submit(struct usbip_export *exp, struct usbip_urb *urb)
{
	int rc = exp->ops->submit(exp, urb);

	if (rc < 0) {
		assert_int_equal(simh_completions(urb), 0);
		urb->status = rc;
		urb->actual_length = 0;
		usbip_urb_complete(urb);
	}
	return rc;
}

unsigned simh_completions(const struct usbip_urb *urb)
{
	return ((const struct simh_urb *)urb)->completions;
}

unsigned simh_total_completions(void)
{
	return total_completions;
}

int simh_control(struct usbip_export *exp, uint8_t bmRequestType, uint8_t bRequest, uint16_t wValue,
                 uint16_t wIndex, uint16_t wLength, void *data, int32_t *actual)
{
	bool in = bmRequestType & 0x80;
	struct usbip_urb *urb = simh_urb(exp, in ? 0x80 : 0x00, wLength);
	uint8_t *s = urb->setup;

	s[0] = bmRequestType;
	s[1] = bRequest;
	s[2] = (uint8_t)wValue;
	s[3] = (uint8_t)(wValue >> 8);
	s[4] = (uint8_t)wIndex;
	s[5] = (uint8_t)(wIndex >> 8);
	s[6] = (uint8_t)wLength;
	s[7] = (uint8_t)(wLength >> 8);
	if (!in && wLength > 0)
		memcpy(urb->data, data, wLength);
	simh_submit(exp, urb);
	assert_int_equal(simh_completions(urb), 1); /* control never waits */
	if (in && urb->actual_length > 0)
		memcpy(data, urb->data, (size_t)urb->actual_length);
	if (actual != NULL)
		*actual = urb->actual_length;
	int status = urb->status;

	simh_urb_free(urb);
	return status;
}

int simh_out(struct usbip_export *exp, uint8_t ep_addr, const void *data, size_t len)
{
	struct usbip_urb *urb = simh_urb(exp, ep_addr, (int32_t)len);

	memcpy(urb->data, data, len);
	simh_submit(exp, urb);
	assert_int_equal(simh_completions(urb), 1);
	int status = urb->status;

	if (status == 0)
		assert_int_equal(urb->actual_length, (int32_t)len);
	simh_urb_free(urb);
	return status;
}

struct usbip_urb *simh_in(struct usbip_export *exp, uint8_t ep_addr, int32_t room)
{
	struct usbip_urb *urb = simh_urb(exp, ep_addr, room);

	simh_submit(exp, urb);
	return urb;
}

const char *simh_tmpfile(const void *content, size_t len)
{
	static char path[64];

	snprintf(path, sizeof(path), "/tmp/usblab-simtest-XXXXXX");
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}
