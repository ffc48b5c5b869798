/* SPDX-License-Identifier: MIT */
/*
 * attach_track.h - the client side in usblabd: boards that `usblab attach`
 * imported into this machine's vhci-hcd and handed over (the control API's
 * attach.adopt). The daemon watches vhci's port table; when a port is
 * freed (the server closed: the board re-enumerated, the server died, or
 * keepalive gave up on a half-open connection) it reports why and imports
 * the board again by name, with a short backoff while the loss is fresh and
 * a longer one after, remakes the record and the links, and tells the
 * story as tracker events (event.h: attached, devfiles, server-gone,
 * board-reenumerated, re-attached, detached).
 *
 * What blocks (the import's connect, the vhci write, the wait for device
 * files, record and link files) runs on one offload worker per attachment;
 * the loop only reads vhci's status files and publishes events.
 */
#ifndef UL_ATTACH_TRACK_H
#define UL_ATTACH_TRACK_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "attach_record.h"
#include "tracker.h"

/* Re-import backoff: ATTACH_TRACK_FAST_MS between attempts for the first
 * ATTACH_TRACK_FAST_FOR_MS after a loss (a re-enumerating board is back on
 * the server within seconds, and each refused attempt is one short TCP
 * connection, so the wait after its return is mostly the attempt in
 * flight), then doubling up to ATTACH_TRACK_SLOW_MS (a dead server is not
 * hammered). */
#define ATTACH_TRACK_FAST_MS     20
#define ATTACH_TRACK_FAST_FOR_MS 15000
#define ATTACH_TRACK_SLOW_MS     5000
/* A server that has not answered the first re-import this long after the
 * port was freed is reported gone at once (a dead link makes connect()
 * wait for its own timeout, 10 s). */
#define ATTACH_TRACK_SILENT_MS 2000
/* How often vhci's port table is read. */
#define ATTACH_TRACK_POLL_MS 50

struct attach_track;

enum attach_track_err {
	ATTACH_TRACK_OK = 0,
	ATTACH_TRACK_E_ARG = -1,     /* a bad record or name (err says which) */
	ATTACH_TRACK_E_NOTHERE = -2, /* vhci does not hold that device on that port */
	ATTACH_TRACK_E_VHCI = -3,    /* this daemon cannot write vhci's attach file */
	ATTACH_TRACK_E_DUP = -4,     /* followed already */
	ATTACH_TRACK_E_UNKNOWN = -5, /* no such attachment */
	ATTACH_TRACK_E_NOMEM = -6,
};

/* Creates the tracker of attachments. vhci_dir, sysroot and run_dir may be
 * NULL for $USBLAB_VHCI_DIR or VHCI_SYSFS_DIR, $USBLAB_SYSROOT or "/sys",
 * and attach_run_dir(). Returns NULL when out of memory. */
struct attach_track *attach_track_new(struct event_base *base, struct tracker *t,
                                      const char *vhci_dir, const char *sysroot,
                                      const char *run_dir);

/* Stops following everything (waiting for a re-import in flight) and frees
 * at. The boards stay attached. NULL is accepted. */
void attach_track_free(struct attach_track *at);

/*
 * Follows again what a usblabd followed before it stopped: every record in
 * the run directory whose follower is "usblabd", whose follow_pid is no
 * longer a running process (another usblabd's stay its), and whose PORT.follow file
 * (attach_follow_save) gives the import's busid field and token. A device
 * vhci still holds is followed as it is (ATTACHED, "followed again after
 * usblabd restarted"); one whose port was freed meanwhile is imported again
 * at once, as after any loss. Returns how many it follows, or
 * ATTACH_TRACK_E_NOMEM.
 */
int attach_track_resume(struct attach_track *at);

/*
 * Follows the attachment rec describes from now on. what is the import's
 * busid field without the token (the name, or the busid for a long name),
 * token the lease token or NULL/"" (kept for the re-imports). Checks that
 * vhci holds rec->lbusid on rec->port. Publishes ATTACHED (and DEVFILES
 * when it has files), rewrites the record with follower "usblabd". Returns
 * 0 or an attach_track_err with the reason in err.
 */
int attach_track_adopt(struct attach_track *at, const struct attach_record *rec, const char *what,
                       const char *token, char *err, size_t errlen);

/* Stops following the attachment named name (or on vhci port name, in
 * decimal), publishing DETACHED with detail why. The board stays attached
 * (the caller detaches it), unless a re-import is in flight: its result is
 * then detached by the daemon. *out (may be NULL) receives the record.
 * Returns 0 or ATTACH_TRACK_E_UNKNOWN. */
int attach_track_drop(struct attach_track *at, const char *name, const char *why,
                      struct attach_record *out);

/* {"attachments":[{record..., "state", "lost_ms", "attempts", "last_error",
 * "last_took_ms"}]} (new reference). */
json_t *attach_track_json(const struct attach_track *at);

const char *attach_track_strerror(int err);

#endif /* UL_ATTACH_TRACK_H */
