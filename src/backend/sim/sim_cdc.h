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

#include "sim_dev.h"

#define SIM_CDC_PID 0x0001

/* Makes dev a CDC-ACM port: echo when script_path is NULL, else the
 * script read from that file. Returns 0, or -1 with a one-line reason in
 * err (the file's line number for syntax errors). */
int sim_cdc_init(struct sim_dev *dev, const char *script_path, char *err, size_t errlen);

#endif /* SIM_CDC_H */
