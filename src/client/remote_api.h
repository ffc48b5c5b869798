/* SPDX-License-Identifier: MIT */
/*
 * remote_api.h - a server's boards from its usblabd HTTP API (GET
 * /api/boards, docs/openapi.yaml), for `usblab remote list`: one blocking
 * HTTP/1.0 request with a deadline, no library beyond jansson. A server
 * that is not a usblabd, or whose HTTP API listens on loopback only (the
 * default), simply does not answer; the caller falls back to DEVLIST.
 */
#ifndef UL_REMOTE_API_H
#define UL_REMOTE_API_H

#include <stddef.h>

#include <jansson.h>

/* usblabd's default HTTP port (README, "Dashboard and HTTP API"). */
#define REMOTE_API_PORT "3241"

/* The longest reply taken (a list of many boards). */
#define REMOTE_API_MAX_BYTES (4u << 20)

/*
 * GETs http://host:port/api/boards within timeout_ms (connect, send and
 * read together). Returns 0 with *boards (the "boards" array; a new
 * reference), or -1 with a reason in err: unreachable, not HTTP, a status
 * other than 200 (401 when the server wants a token), not the JSON
 * expected.
 */
int remote_api_boards(const char *host, const char *port, unsigned timeout_ms, json_t **boards,
                      char *err, size_t errlen);

/*
 * Splits a DEVLIST path as usblabd shows it ("NAME (leased by HOLDER)
 * /sys/...", "NAME /sys/...", or a bare "/sys/...") into name, holder and
 * the path (each "" when absent; caps include the NUL).
 */
void remote_devlist_path(const char *shown, char *name, size_t ncap, char *holder, size_t hcap,
                         char *path, size_t pcap);

#endif /* UL_REMOTE_API_H */
