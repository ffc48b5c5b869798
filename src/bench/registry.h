/* SPDX-License-Identifier: MIT */
/*
 * registry.h - devices.conf: the boards of a bench, by name, and how each
 * is recognised. Parsed with inih; pure (reads one file, keeps no state
 * outside struct registry).
 *
 *   # comment                 ; comment
 *   esp-a = 3C:61:05:AA:BB:CC  # flat form before any section: NAME = SERIAL
 *
 *   [mpcb-1.9]                # a board: NAME is [A-Za-z0-9._+-]{1,63}
 *   serial = 3C6105AABBCC     # identity keys: serial, vidpid, port, mac
 *   vidpid = 303a:1001
 *   port   = 1-4.2
 *   mac    = 3c:61:05:aa:bb:cc
 *   type   = esp32            # esp32, rp2040, ice40, stm32, ... (free word)
 *   chip   = ESP32-S3
 *   notes  = left shelf, rev B
 *   export = yes              # yes|no (default yes): offer it over USB/IP
 *   hub_name = MPCB 1.9       # name shown on a USB Insight Hub display
 *
 *   [mpcb-1.9:rom]            # another identity of the same board, in a mode
 *   vidpid = 303a:0002        # (mode is app, rom or dfu; only identity keys)
 *
 * The [NAME] section's own identity has mode "app"; [NAME:MODE] comes after
 * [NAME] (or after a flat NAME = SERIAL line). Names may not differ only in
 * case (they are typed without case, names.h). A key may appear once per
 * section. "#" or ";" starts a comment at the start of a line or after a
 * blank; indentation is ignored; a line holds at most 197 characters
 * without indentation and comment (inih's fixed line buffer). Values are
 * normalised: vidpid to numbers, mac to lowercase with colons (":" "-" or
 * no separators accepted), port without leading zeros (numbers 1..255).
 */
#ifndef UL_REGISTRY_H
#define UL_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "event.h"

#define REG_MAX_IDENTS 4

enum reg_mode {
	REG_MODE_APP = 0,
	REG_MODE_ROM,
	REG_MODE_DFU,
};

/* One way to recognise a board. A field left empty (0, "") matches any
 * device; an identity with every field empty is refused by the parser. */
struct reg_ident {
	enum reg_mode mode;
	bool has_vidpid;
	uint16_t vid, pid;
	char serial[64];
	char port[32];
	char mac[18]; /* lowercase "aa:bb:cc:dd:ee:ff" */
};

struct reg_board {
	char name[64];
	char type[32];
	char chip[32];
	char notes[256];
	char hub_name[32];
	bool export_; /* "export = yes" (the default) */
	struct reg_ident ids[REG_MAX_IDENTS];
	unsigned nids;
	unsigned line; /* where its section starts, for messages */
};

struct registry {
	struct reg_board *boards;
	size_t n;
	char path[512]; /* the file it came from, or the label given */
};

/* Parses the file at path into *out (which the caller frees with
 * registry_free). A missing file is an empty registry (returns 0). On a
 * bad line returns -1 and writes "PATH:LINE: what was expected" to err,
 * leaving *out empty; a file that cannot be read (a directory, no
 * permission, over 1 MiB) gives "PATH: why". err may be NULL. */
int registry_load_file(const char *path, struct registry *out, char *err, size_t errlen);

/* The same for text in memory; label names it in messages. */
int registry_parse_string(const char *text, const char *label, struct registry *out, char *err,
                          size_t errlen);

/* Frees the boards; *r is then an empty registry (freeing twice is safe). */
void registry_free(struct registry *r);

/* The board named exactly name, or NULL. */
const struct reg_board *registry_find(const struct registry *r, const char *name);

/* The board a device belongs to, or NULL. Every non-empty field of an
 * identity must match (serial exactly, vidpid, port path, mac); among the
 * matches the identity with the most fields set wins, then the earliest in
 * the file (the board defined first, then its first identity). *mode (may
 * be NULL) is set to the identity's mode, and left alone on NULL. */
const struct reg_board *registry_match(const struct registry *r, const struct ul_devfacts *dev,
                                       enum reg_mode *mode);

/* "app", "rom", "dfu"; "?" for a value out of range. */
const char *reg_mode_name(enum reg_mode m);

#endif /* UL_REGISTRY_H */
