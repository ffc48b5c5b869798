/* SPDX-License-Identifier: MIT */
/*
 * esp32_probe.h - asks an ESP32 on a local serial port whether its ROM
 * bootloader is listening, and reads its MAC (the protocol: esp32.h).
 *
 * The probe only opens the port (raw, 115200 8N1) and talks: it moves no
 * line on purpose. Opening raises DTR and RTS together, which the classic
 * auto-reset circuit ignores; the chip stays in the mode it is in.
 */
#ifndef UL_ESP32_PROBE_H
#define UL_ESP32_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ESP32_PROBE_TIMEOUT_MS 150

struct esp32_probe_result {
	bool bootloader; /* the ROM answered SYNC; else the app runs (or nothing does) */
	bool have_mac;   /* with bootloader: both MAC words were read */
	uint8_t mac[6];
};

/*
 * Probes the port at path: sends SYNC and waits timeout_ms for the ROM's
 * reply; if it comes, reads the MAC eFuse words (timeout_ms each).
 * Returns 0 with *r filled, or -1 when the port cannot be opened, set up
 * or written, with a one-line reason in err.
 */
int esp32_probe_tty(const char *path, int timeout_ms, struct esp32_probe_result *r, char *err,
                    size_t errlen);

/*
 * Resets the ESP32 on the port at path with esptool's classic DTR/RTS
 * sequence (DTR drives IO0, RTS drives EN, both inverted; bench-facts.md):
 * into its ROM bootloader (bootloader true: EN low 100 ms, then IO0 low as
 * EN rises, 50 ms, IO0 released) or into its app (EN pulsed low 100 ms with
 * IO0 high). Both lines change in one TIOCMSET, as one CDC
 * SET_CONTROL_LINE_STATE on a USB serial port. Returns 0, or -1 with a
 * reason in err.
 */
int esp32_reset_tty(const char *path, bool bootloader, char *err, size_t errlen);

#endif /* UL_ESP32_PROBE_H */
