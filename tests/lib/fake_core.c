/* SPDX-License-Identifier: MIT */
/*
 * fake_core.c - the recording transport and the scriptable backend of
 * fake_core.h.
 */
#include "fake_core.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ---- recording transport ------------------------------------------------ */

/* Where a connection's output goes: its own rec, else the server's. */
static struct fake_rec *conn_rec(struct usbip_conn *conn)
{
	return conn->transport ? conn->transport : conn->srv->ctx;
}

void *fake_core_alloc(void *ctx, size_t size)
{
	struct fake_rec *r = ctx;

	r->live += size;
	return malloc(size);
}

void fake_core_free(void *ctx, void *p, size_t size)
{
	struct fake_rec *r = ctx;

	r->live -= size;
	free(p);
}

int fake_core_send(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb)
{
	struct fake_rec *r = conn_rec(conn);

	assert_true(r->outlen + len <= sizeof(r->out));
	memcpy(r->out + r->outlen, buf, len);
	r->outlen += len;
	if (urb)
		usbip_urb_free(urb);
	return 0;
}

void fake_core_close(struct usbip_conn *conn, int reason)
{
	struct fake_rec *r = conn_rec(conn);

	r->closed++;
	r->close_reason = reason;
}

void fake_core_imported(struct usbip_conn *conn, struct usbip_export *exp)
{
	(void)conn;
	((struct fake_rec *)exp->srv->ctx)->imported++;
}

void fake_core_unimported(struct usbip_export *exp)
{
	((struct fake_rec *)exp->srv->ctx)->unimported++;
}

const struct usbip_server_ops fake_core_transport_ops = {
        .alloc = fake_core_alloc,
        .free = fake_core_free,
        .send = fake_core_send,
        .close = fake_core_close,
        .imported = fake_core_imported,
        .unimported = fake_core_unimported,
};

/* ---- scriptable backend ------------------------------------------------- */

static int f_ep_type(struct usbip_export *exp, uint8_t ep)
{
	(void)exp;
	switch (ep) {
	case 0x81:
	case 0x01:
		return USBIP_EP_BULK;
	case 0x82:
		return USBIP_EP_INT;
	case 0x83:
	case 0x03:
		return USBIP_EP_ISO;
	default:
		return -1;
	}
}

static int f_submit(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct fake_dev *f = exp->priv;

	f->submits++;
	if (f->complete_now >= 0) {
		if (urb->dir_in)
			memset(urb->data, 0xab, (size_t)urb->length);
		urb->status = 0;
		urb->actual_length = f->complete_now;
		usbip_urb_complete(urb);
		return 0;
	}
	assert_true(f->nheld < (int)(sizeof(f->held) / sizeof(f->held[0])));
	f->held[f->nheld++] = urb;
	return 0;
}

void fake_core_take(struct fake_dev *f, struct usbip_urb *urb)
{
	for (int i = 0; i < f->nheld; i++) {
		if (f->held[i] == urb) {
			f->held[i] = f->held[--f->nheld];
			return;
		}
	}
	fail_msg("URB not held by the backend");
}

void fake_core_complete_last(struct fake_dev *f, int status)
{
	struct usbip_urb *urb;

	assert_true(f->nheld > 0);
	urb = f->held[--f->nheld];
	urb->status = status;
	urb->actual_length = 0;
	usbip_urb_complete(urb);
}

static void f_cancel(struct usbip_export *exp, struct usbip_urb *urb)
{
	struct fake_dev *f = exp->priv;

	f->cancels++;
	if (f->cancel_keeps)
		return;
	fake_core_take(f, urb);
	urb->status = f->cancel_status;
	urb->actual_length = 0;
	usbip_urb_complete(urb);
}

static int f_open(struct usbip_export *exp)
{
	struct fake_dev *f = exp->priv;

	f->opens++;
	return f->open_rc;
}

static void f_close(struct usbip_export *exp)
{
	((struct fake_dev *)exp->priv)->closes++;
}

static void f_release(struct usbip_export *exp)
{
	((struct fake_dev *)exp->priv)->releases++;
}

static int f_set_config(struct usbip_export *exp, uint8_t v)
{
	struct fake_dev *f = exp->priv;

	f->set_config++;
	f->set_config_value = v;
	return f->special_rc;
}

static int f_set_intf(struct usbip_export *exp, uint8_t i, uint8_t a)
{
	(void)i;
	(void)a;
	((struct fake_dev *)exp->priv)->set_intf++;
	return 0;
}

static int f_clear_halt(struct usbip_export *exp, uint8_t ep)
{
	struct fake_dev *f = exp->priv;

	f->clear_halt++;
	f->halt_ep = ep;
	return 0;
}

static int f_reset(struct usbip_export *exp)
{
	struct fake_dev *f = exp->priv;

	f->resets++;
	return f->reset_rc;
}

const struct usbip_device_ops fake_core_dev_ops = {
        .name = "fake",
        .open = f_open,
        .close = f_close,
        .ep_type = f_ep_type,
        .submit = f_submit,
        .cancel = f_cancel,
        .set_configuration = f_set_config,
        .set_interface = f_set_intf,
        .clear_halt = f_clear_halt,
        .reset = f_reset,
        .release = f_release,
};

void fake_core_export_init(struct usbip_export *e, struct fake_dev *f, const char *busid,
                           uint32_t busnum, uint32_t devnum)
{
	memset(e, 0, sizeof(*e));
	memset(f, 0, sizeof(*f));
	strcpy(e->info.busid, busid);
	strcpy(e->info.path, "/sys/devices/test");
	e->info.busnum = busnum;
	e->info.devnum = devnum;
	e->info.speed = USBIP_SPEED_HIGH;
	e->info.idVendor = 0x1209;
	e->info.idProduct = 0x0010;
	e->info.bNumConfigurations = 1;
	e->info.bConfigurationValue = 1;
	e->info.bNumInterfaces = 2;
	e->ifs[0].bInterfaceClass = 0x02;
	e->ifs[1].bInterfaceClass = 0x0a;
	e->ops = &fake_core_dev_ops;
	e->priv = f;
	f->complete_now = -1;
	f->cancel_status = -USBIP_ECONNRESET;
}
