/* SPDX-License-Identifier: MIT */
/*
 * sim_cdc.h - the sim CDC-ACM serial port (cdc_acm binds to it).
 *
 * Interfaces: 0 communication (0x02/0x02/0x01, interrupt IN 0x81 for
 * notifications, which stays silent), 1 data (0x0A, bulk IN 0x82, bulk
 * OUT 0x02). Bytes written to bulk OUT come back on bulk IN through a
 * 64 KiB buffer; when it is full the device holds the OUT URB (NAKs) until
 * the host reads, so nothing is dropped.
 *
 * With a script, each line the host sends (ended by CR, LF or CRLF) that
 * equals a rule's WHEN is answered with its SAY instead of being echoed;
 * other input is echoed. Script file syntax, one rule per line:
 *     WHEN => SAY
 * WHEN and SAY are trimmed of blanks around them; SAY takes the escapes of
 * sim_text.h (\n \r \t \b \e \\ \xHH) and gets no line ending of its own.
 * WHEN is literal, up to 255 characters. A rule with an empty WHEN
 * ("=> SAY") is said when the port is opened (DTR goes up). Lines that are
 * blank or start with '#' are ignored; the first matching rule wins.
 */
#ifndef SIM_CDC_H
#define SIM_CDC_H

#include <stddef.h>
#include <stdint.h>

#include "sim_dev.h"

#define SIM_CDC_PID 0x0001

/* Makes dev a CDC-ACM port: echo when script_path is NULL, else the
 * script read from that file. Returns 0, or -1 with a one-line reason in
 * err (the file's line number for syntax errors). */
int sim_cdc_init(struct sim_dev *dev, const char *script_path, char *err, size_t errlen);

/*
 * Firmware behind the port (sim_esp32): a device that is a CDC-ACM port
 * to the host but decides itself what to answer, instead of echo or a
 * script. Every member runs on the core's thread and must not block; ctx
 * is sim_cdc_init_firmware()'s.
 */
struct sim_cdc_firmware {
	/* Back to power-on: at import and at a port reset, after the port's
	 * own state (lines down, IN buffer empty). */
	void (*restart)(struct sim_dev *dev, void *ctx);
	/* SET_CONTROL_LINE_STATE moved the lines from old to now (bit 0 DTR,
	 * bit 1 RTS: SIM_CDC_DTR, SIM_CDC_RTS). Output goes through
	 * sim_cdc_write(); the port sends it when the host reads. */
	void (*lines)(struct sim_dev *dev, void *ctx, uint16_t old, uint16_t now);
	/* n bytes the host wrote. Returns how many it took; the rest stay in
	 * the OUT URB (the device NAKs) until the host has read some. */
	size_t (*input)(struct sim_dev *dev, void *ctx, const uint8_t *data, size_t n);
	/* Frees ctx. */
	void (*destroy)(void *ctx);
	/* Plugged in again (sim_replug), after the port's own state is reset:
	 * power_on after a cable pull, false after the device's own
	 * re-enumeration. It may set a new identity. Optional: NULL calls
	 * restart. */
	void (*plug)(struct sim_dev *dev, void *ctx, bool power_on);
};

#define SIM_CDC_DTR 0x0001
#define SIM_CDC_RTS 0x0002

/* Makes dev a CDC-ACM port with identity id, driven by fw. On success the
 * port owns ctx (fw->destroy frees it); on failure the caller keeps it.
 * Returns 0, or -1 with a reason in err. */
int sim_cdc_init_firmware(struct sim_dev *dev, const struct sim_identity *id,
                          const struct sim_cdc_firmware *fw, void *ctx, char *err, size_t errlen);

/* Queues up to n bytes for bulk IN (a port made by sim_cdc_init_firmware);
 * returns how many fit. */
size_t sim_cdc_write(struct sim_dev *dev, const void *data, size_t n);
/* Bytes sim_cdc_write() can take now. */
size_t sim_cdc_room(const struct sim_dev *dev);

#endif /* SIM_CDC_H */
