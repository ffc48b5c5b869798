/* SPDX-License-Identifier: MIT */
/*
 * usbip_fw.c - wires lib/usbip's server core to the lwIP transport, the
 * URB pool and the TinyUSB backend. File-static state, sized at compile
 * time (STYLE.md allows it for firmware).
 */
#include "usbip_fw.h"

#include "usbip_fw_pool.h"
#include "usbip_lwip.h"

static struct usbip_server fw_srv;
static bool fw_running;
static bool fw_pool_ready;

int usbip_fw_start(uint16_t port, uint16_t vid, uint16_t pid, usbip_tuh_event_fn fn, void *ctx)
{
	int rc;

	if (fw_running)
		return USBIP_E_STATE;
	/* Once only: after a stop the pool may still hold buffers of
	 * transfers the controller has not finished. */
	if (!fw_pool_ready) {
		usbip_fw_pool_init();
		fw_pool_ready = true;
	}
	usbip_server_init(&fw_srv, &usbip_lwip_server_ops, NULL);
	rc = usbip_lwip_start(&fw_srv, port);
	if (rc != USBIP_OK)
		return rc;
	usbip_tuh_start(&fw_srv, vid, pid, fn, ctx);
	fw_running = true;
	return USBIP_OK;
}

void usbip_fw_stop(void)
{
	if (!fw_running)
		return;
	/* Exports first: their connections are told to close, then the
	 * transport ends them all, which lets the core release the exports. */
	usbip_tuh_stop();
	usbip_lwip_stop();
	fw_running = false;
}

bool usbip_fw_running(void)
{
	return fw_running;
}

void usbip_fw_task(void)
{
	if (!fw_running)
		return;
	usbip_tuh_poll();
	usbip_lwip_service();
}
