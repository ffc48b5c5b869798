/* SPDX-License-Identifier: MIT */
/*
 * sim_esp32.h - a virtual ESP32 behind its native USB-Serial/JTAG port
 * (303a:1001, a CDC-ACM port: sim_cdc.h).
 *
 * Two modes, as the chip has:
 *   app  the firmware runs: opening the port (DTR up) prints a boot banner
 *        ending "main_task: Calling app_main()", and what the host writes
 *        is echoed (a SYNC too: echoed, never answered).
 *   rom  the ROM bootloader ("waiting for download"): SLIP-framed commands
 *        (bench/esp32.h) are answered at once, as the host polls (no
 *        timers): SYNC with the ROM's 8 replies, READ_REG with the MAC
 *        eFuse words (MAC 3c:61:05:aa:bb:NN for index NN) and 0 for other
 *        registers, anything else with status 1, error 0x05.
 * The lines act as on a board (bench-facts.md): DTR=0 RTS=1 holds the
 * chip in reset (EN low). It comes out of reset
 *   - into the ROM when the lines go to DTR=1 RTS=0 (the classic
 *     auto-reset circuit: IO0 low as EN rises), or when the reset was
 *     entered from DTR=1 RTS=1 (the USB-Serial/JTAG's download request);
 *   - into the app when they go to DTR=0 RTS=0 without that request;
 *   - DTR=1 RTS=1 keeps it in reset otherwise (on a board, EN's RC
 *     bridges that instant of esptool's classic sequence).
 * So esptool's ClassicReset (DTR=0 RTS=1, DTR=1 RTS=0, DTR=0) and its
 * USBJTAGSerialReset both enter the ROM, from an open port or a closed
 * one, and an RTS pulse with DTR=0 (HardReset) returns to the app.
 * It is created running the app. An import or a USB port reset resets the
 * USB side only: the chip keeps its mode (a board in the ROM stays there
 * for the next client), and one held in reset comes out of it as the
 * lines drop. An unplug and replug (sim_unplug, sim_replug with power_on)
 * powers it off: it comes back running the app.
 *
 * esp32:reenum is an ESP32-S3 whose console is its USB-OTG peripheral, as
 * with TinyUSB's CDC: every time the chip comes out of reset the device
 * asks its owner to re-enumerate it (sim_owner_ops.reenumerate), and it
 * comes back as 303a:4001 "USBLAB-ESP32-N" running the app or 303a:0002
 * "USBLAB-ESP32ROM-N" in the ROM (a real S3's ROM has its own serial too;
 * the tag keeps two virtual boards apart). The lines work the same way;
 * the banners are not sent (they go to UART0 on such a board).
 */
#ifndef SIM_ESP32_H
#define SIM_ESP32_H

#include <stdbool.h>
#include <stddef.h>

#include "sim_dev.h"

#define SIM_ESP32_VID         0x303a
#define SIM_ESP32_PID         0x1001
#define SIM_ESP32_OTG_APP_PID 0x4001 /* TinyUSB's CDC in ESP-IDF */
#define SIM_ESP32_OTG_ROM_PID 0x0002 /* the S2/S3 ROM's download mode */

/* Makes dev a virtual ESP32: on its USB-Serial/JTAG port, or with reenum
 * on USB-OTG (below). Returns 0, or -1 with a reason in err. */
int sim_esp32_init(struct sim_dev *dev, bool reenum, char *err, size_t errlen);

#endif /* SIM_ESP32_H */
