/* SPDX-License-Identifier: MIT */
/*
 * sim_hid.h - the sim HID boot keyboard (usbhid binds to it).
 *
 * One interface 0x03/0x01/0x01 with an interrupt IN endpoint 0x81 of
 * 8-byte boot reports; the LED output report comes through SET_REPORT on
 * ep0. After each import it answers polls with idle (all-zero) reports
 * for at least SIM_HID_SETTLE_POLLS polls and SIM_HID_SETTLE_MS ms of its
 * clock (sim_set_clock), then types its text once, a key-down report then an
 * all-zero key-up report per character, on a US layout (Shift for
 * capitals and shifted symbols; '\n' and '\r' are Enter, '\t' Tab, '\b'
 * Backspace, ESC Escape). Then its interrupt URBs wait until cancelled.
 */
#ifndef SIM_HID_H
#define SIM_HID_H

#include <stddef.h>

#include "sim_dev.h"

#define SIM_HID_PID          0x0002
#define SIM_HID_DEFAULT_TEXT "usblab\n"

/* Idle reports before typing starts (see hid_pump() for why). In the
 * kernel lab (6.1 under TCG) 32 and more reports were lost without them,
 * and 256 polls were not always 50 ms. */
#ifndef SIM_HID_SETTLE_POLLS
#define SIM_HID_SETTLE_POLLS 256
#endif
#ifndef SIM_HID_SETTLE_MS
#define SIM_HID_SETTLE_MS 200
#endif

/* Makes dev a keyboard that types text (C escapes of sim_text.h are
 * decoded; NULL means SIM_HID_DEFAULT_TEXT). Returns 0, or -1 with a
 * reason in err for a character the US layout cannot type. */
int sim_hid_init(struct sim_dev *dev, const char *text, char *err, size_t errlen);

/* The boot report (modifier byte, keycode) for character c on a US
 * layout. Returns 0, or -1 when the layout has no key for c. */
int sim_hid_key(uint8_t c, uint8_t *modifiers, uint8_t *keycode);

#endif /* SIM_HID_H */
