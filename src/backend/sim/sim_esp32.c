/* SPDX-License-Identifier: MIT */
/*
 * sim_esp32.c - a virtual ESP32 (see sim_esp32.h): firmware behind the
 * sim CDC-ACM port, speaking the ROM protocol of bench/esp32.h.
 */
#include "sim_esp32.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esp32.h"
#include "sim_cdc.h"

/* The most one input byte makes the ROM say: 8 SYNC replies, each at most
 * twice its 12 bytes escaped, plus the frame ends. */
#define ESP32_SIM_MAX_OUT                                                                          \
	(ESP32_ROM_SYNC_REPLIES * 2 * (ESP32_HEADER_LEN + ESP32_ROM_STATUS_LEN + 2))

static const char esp32_banner[] = "ESP-ROM:esp32s3-20210327\r\n"
                                   "Build:Mar 27 2021\r\n"
                                   "rst:0x1 (POWERON),boot:0x8 (SPI_FAST_FLASH_BOOT)\r\n"
                                   "I (27) boot: ESP-IDF v5.1 2nd stage bootloader\r\n"
                                   "I (250) main_task: Calling app_main()\r\n";

static const char esp32_rom_banner[] = "ESP-ROM:esp32s3-20210327\r\n"
                                       "rst:0x1 (POWERON),boot:0x0 (DOWNLOAD(USB/UART0))\r\n"
                                       "waiting for download\r\n";

enum esp32_mode {
	ESP32_MODE_APP,
	ESP32_MODE_ROM,
};

struct sim_esp32 {
	bool reenum; /* on USB-OTG: each chip reset re-enumerates (esp32:reenum) */
	enum esp32_mode mode;
	bool in_reset; /* EN held low */
	bool download; /* ... and the ROM was asked for (USB-Serial/JTAG) */
	uint8_t mac[6];
	struct esp32_slip_rx rx;
};

/* The identity the chip shows in its mode on USB-OTG: the app's TinyUSB
 * CDC (303a:4001), or the ROM's own (303a:0002). */
static void esp32_otg_identity(struct sim_dev *dev, enum esp32_mode mode)
{
	const struct sim_identity app = {
	        .ids = {.idVendor = SIM_ESP32_VID,
	                .idProduct = SIM_ESP32_OTG_APP_PID,
	                .bcdDevice = 0x0100,
	                .bDeviceClass = 0x02},
	        .product = "Espressif Device (usblab ESP32-S3 app)",
	        .serial_tag = "ESP32",
	};
	const struct sim_identity rom = {
	        .ids = {.idVendor = SIM_ESP32_VID,
	                .idProduct = SIM_ESP32_OTG_ROM_PID,
	                .bcdDevice = 0x0100,
	                .bDeviceClass = 0x02},
	        .product = "ESP32-S3 (usblab ROM download)",
	        .serial_tag = "ESP32ROM",
	};

	sim_dev_set_identity(dev, mode == ESP32_MODE_ROM ? &rom : &app);
}

static void esp32_boot(struct sim_dev *dev, struct sim_esp32 *e, enum esp32_mode mode)
{
	e->mode = mode;
	esp32_slip_rx_init(&e->rx);
	if (e->reenum) {
		/* The USB-OTG peripheral resets with the chip: the device
		 * leaves the bus and comes back in its new mode (the banner
		 * goes to UART0, which nobody reads here). */
		sim_dev_reenumerate(dev);
		return;
	}
	if (mode == ESP32_MODE_ROM)
		sim_cdc_write(dev, esp32_rom_banner, sizeof(esp32_rom_banner) - 1);
	else
		sim_cdc_write(dev, esp32_banner, sizeof(esp32_banner) - 1);
}

/* An import or a USB port reset resets the USB side, not the chip: the mode
 * stays. The lines drop to 0 with it, which releases a chip held in reset. */
static void esp32_restart(struct sim_dev *dev, void *ctx)
{
	struct sim_esp32 *e = ctx;

	esp32_slip_rx_init(&e->rx);
	if (e->in_reset) {
		e->in_reset = false;
		esp32_boot(dev, e, e->download ? ESP32_MODE_ROM : ESP32_MODE_APP);
	}
	e->download = false;
}

static void esp32_lines(struct sim_dev *dev, void *ctx, uint16_t old, uint16_t now)
{
	struct sim_esp32 *e = ctx;
	bool dtr = now & SIM_CDC_DTR, rts = now & SIM_CDC_RTS;
	bool old_dtr = old & SIM_CDC_DTR, old_rts = old & SIM_CDC_RTS;

	if (rts && !dtr) {
		/* USB-Serial/JTAG: reaching reset from DTR=1 RTS=1 asks for the
		 * ROM (esptool's USBJTAGSerialReset goes that way). */
		if (!e->in_reset)
			e->download = old_dtr && old_rts;
		e->in_reset = true;
		return;
	}
	if (e->in_reset) {
		if (dtr && rts && !e->download)
			return; /* classic circuit: EN's RC bridges esptool's DTR=1 RTS=1 */
		e->in_reset = false;
		/* IO0 low (DTR=1 RTS=0) as EN rises, or the download request. */
		esp32_boot(dev, e, (dtr && !rts) || e->download ? ESP32_MODE_ROM : ESP32_MODE_APP);
		return;
	}
	/* Opening the port of a running app: it prints its banner (the
	 * USB-Serial/JTAG keeps what the app printed until a host reads). */
	if (e->mode == ESP32_MODE_APP && !old_dtr && dtr)
		sim_cdc_write(dev, esp32_banner, sizeof(esp32_banner) - 1);
}

static void esp32_reply(struct sim_dev *dev, uint8_t op, uint32_t value, uint8_t status,
                        uint8_t error)
{
	const uint8_t st[ESP32_ROM_STATUS_LEN] = {status, error, 0, 0};
	const struct esp32_packet p = {.op = op, .word = value, .data = st, .len = sizeof(st)};
	uint8_t frame[2 * (ESP32_HEADER_LEN + ESP32_ROM_STATUS_LEN) + 2];
	long n = esp32_frame(1, &p, frame, sizeof(frame));

	if (n > 0)
		sim_cdc_write(dev, frame, (size_t)n);
}

/* One request packet received in ROM mode. */
static void esp32_rom_request(struct sim_dev *dev, struct sim_esp32 *e, const uint8_t *pkt,
                              size_t n)
{
	struct esp32_packet req;
	uint32_t mac0, mac1;

	if (esp32_parse(0, pkt, n, &req) != ESP32_OK)
		return; /* the ROM ignores what is not a request */
	switch (req.op) {
	case ESP32_OP_SYNC:
		if (!esp32_sync_data_ok(&req)) {
			esp32_reply(dev, req.op, 0, 1, ESP32_ERR_INVALID);
			return;
		}
		for (unsigned i = 0; i < ESP32_ROM_SYNC_REPLIES; i++)
			esp32_reply(dev, req.op, ESP32_ROM_SYNC_VALUE, 0, 0);
		return;
	case ESP32_OP_READ_REG:
		if (req.len != 4) {
			esp32_reply(dev, req.op, 0, 1, ESP32_ERR_INVALID);
			return;
		}
		uint32_t addr = (uint32_t)req.data[0] | ((uint32_t)req.data[1] << 8) |
		                ((uint32_t)req.data[2] << 16) | ((uint32_t)req.data[3] << 24);
		uint32_t value = 0;

		esp32_efuse_from_mac(e->mac, &mac0, &mac1);
		if (addr == ESP32_REG_MAC0)
			value = mac0;
		else if (addr == ESP32_REG_MAC1)
			value = mac1;
		esp32_reply(dev, req.op, value, 0, 0);
		return;
	default:
		esp32_reply(dev, req.op, 0, 1, ESP32_ERR_INVALID);
		return;
	}
}

static size_t esp32_input(struct sim_dev *dev, void *ctx, const uint8_t *data, size_t n)
{
	struct sim_esp32 *e = ctx;
	size_t i = 0;

	if (e->in_reset)
		return n; /* a chip in reset hears nothing */
	if (e->mode == ESP32_MODE_APP) {
		size_t room = sim_cdc_room(dev);

		return sim_cdc_write(dev, data, n < room ? n : room);
	}
	/* Take a byte only while the largest answer it can cause fits. */
	while (i < n && sim_cdc_room(dev) >= ESP32_SIM_MAX_OUT) {
		if (esp32_slip_rx_byte(&e->rx, data[i++]) == 1)
			esp32_rom_request(dev, e, e->rx.buf, e->rx.len);
	}
	return i;
}

static void esp32_destroy(void *ctx)
{
	free(ctx);
}

/* Plugged in again: a cable pull powers the chip off (it comes back
 * running its app); its own re-enumeration keeps the mode it booted. */
static void esp32_plug(struct sim_dev *dev, void *ctx, bool power_on)
{
	struct sim_esp32 *e = ctx;

	if (power_on) {
		e->mode = ESP32_MODE_APP;
		e->in_reset = false;
		e->download = false;
	}
	esp32_slip_rx_init(&e->rx);
	if (e->reenum)
		esp32_otg_identity(dev, e->mode);
}

static const struct sim_cdc_firmware esp32_firmware = {
        .restart = esp32_restart,
        .lines = esp32_lines,
        .input = esp32_input,
        .destroy = esp32_destroy,
        .plug = esp32_plug,
};

int sim_esp32_init(struct sim_dev *dev, bool reenum, char *err, size_t errlen)
{
	struct sim_esp32 *e = calloc(1, sizeof(*e));
	const struct sim_identity id = {
	        .ids = {.idVendor = SIM_ESP32_VID,
	                .idProduct = SIM_ESP32_PID,
	                .bcdDevice = 0x0101,
	                .bDeviceClass = 0x02},
	        .product = "USB JTAG/serial debug unit",
	        .serial_tag = "ESP32",
	};
	static const uint8_t oui[5] = {0x3c, 0x61, 0x05, 0xaa, 0xbb};

	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	e->mode = ESP32_MODE_APP; /* powered on running its app */
	e->reenum = reenum;
	memcpy(e->mac, oui, sizeof(oui));
	e->mac[5] = (uint8_t)dev->index;
	if (sim_cdc_init_firmware(dev, &id, &esp32_firmware, e, err, errlen) < 0) {
		free(e);
		return -1;
	}
	if (reenum)
		esp32_otg_identity(dev, ESP32_MODE_APP);
	return 0;
}
