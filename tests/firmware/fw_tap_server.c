/* SPDX-License-Identifier: MIT */
/*
 * fw_tap_server.c - the firmware module on real lwIP behind a Linux tap
 * device, for Debian's `usbip list -r` (usbip_list_tap.sh runs it in a
 * network namespace). lwIP's unix port drives the tap named by
 * PRECONFIGURED_TAPIF; lwIP is 10.78.0.1, the kernel side 10.78.0.2. The
 * fake TinyUSB host has a Pico CDC board plugged in as 1-1. Prints READY
 * once serving and runs until killed.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/tcpip.h"
#include "netif/tapif.h"

#include "fake_tuh.h"
#include "pico_cdc_desc.h"
#include "usbip_fw.h"

static struct netif nif;

static void tcpip_ready(void *arg)
{
	atomic_store((atomic_bool *)arg, true);
}

int main(void)
{
	atomic_bool ready = false;
	ip4_addr_t ip, mask, gw;
	int rc;

	tcpip_init(tcpip_ready, &ready);
	while (!atomic_load(&ready))
		usleep(1000);
	IP4_ADDR(&ip, 10, 78, 0, 1);
	IP4_ADDR(&mask, 255, 255, 255, 0);
	IP4_ADDR(&gw, 10, 78, 0, 2);
	LOCK_TCPIP_CORE();
	if (!netif_add(&nif, &ip, &mask, &gw, NULL, tapif_init, tcpip_input)) {
		UNLOCK_TCPIP_CORE();
		fprintf(stderr, "fw_tap_server: tapif_init failed (PRECONFIGURED_TAPIF?)\n");
		return 1;
	}
	netif_set_default(&nif);
	netif_set_up(&nif);
	netif_set_link_up(&nif);
	fake_tuh_init(NULL);
	rc = usbip_fw_start(3240, 0, 0, NULL, NULL);
	fake_tuh_attach(1, pico_cdc_dev_desc, pico_cdc_cfg_desc, sizeof(pico_cdc_cfg_desc),
	                TUSB_SPEED_FULL);
	UNLOCK_TCPIP_CORE();
	if (rc != 0) {
		fprintf(stderr, "fw_tap_server: usbip_fw_start: %d\n", rc);
		return 1;
	}
	for (unsigned n = 0;; n++) {
		LOCK_TCPIP_CORE();
		fake_tuh_task();
		usbip_fw_task();
		UNLOCK_TCPIP_CORE();
		if (n == 100) {
			printf("READY\n");
			fflush(stdout);
		}
		usleep(1000);
	}
}
