/* SPDX-License-Identifier: MIT */
/*
 * event.h - what happens on a bench, as data. The tracker (tracker.h) makes
 * every event; the store, the control API's live streams and the log are
 * its subscribers. An event is a plain value: fixed-size fields, no
 * pointers, so it can be copied to the store's worker thread as is.
 */
#ifndef UL_EVENT_H
#define UL_EVENT_H

#include <stddef.h>
#include <stdint.h>

/* Kinds are stored by name (ul_event_kind_name), never by number, so new
 * kinds may go anywhere; keep the names stable. */
enum ul_event_kind {
	UL_EV_ARRIVED = 0,     /* a device appeared (udev, libusb hotplug, virtual) */
	UL_EV_DEPARTED,        /* it went away */
	UL_EV_REENUMERATED,    /* the same board came back under another busid/mode */
	UL_EV_EXPORTED,        /* usblabd offers it over USB/IP */
	UL_EV_UNEXPORTED,      /* no longer offered */
	UL_EV_IMPORTED,        /* a client imported it (peer = client address) */
	UL_EV_RELEASED,        /* the client let it go normally */
	UL_EV_CLIENT_GONE,     /* the client vanished (reset, timeout, error) */
	UL_EV_IMPORT_REFUSED,  /* an import was refused (detail says why) */
	UL_EV_LEASE_TAKEN,     /* checkout */
	UL_EV_LEASE_RENEWED,   /* renew */
	UL_EV_LEASE_RELEASED,  /* checkin (detail "forced by USER" when forced) */
	UL_EV_LEASE_EXPIRED,   /* the daemon ended an expired lease */
	UL_EV_CONFIG_RELOADED, /* the registry was (re)read */
	UL_EV_CONFIG_REJECTED, /* a new registry was refused; the last good one stays */
	UL_EV_ERROR,           /* anything else worth a line (detail) */
	UL_EV_POWER,           /* a hub port was switched (detail: action, hub port, method) */
	/* The client side (src/daemon/attach_track.c): a board imported
	 * into this machine's vhci-hcd that the local usblabd follows; peer
	 * is the server "HOST:PORT". */
	UL_EV_ATTACHED,           /* handed to usblabd (detail: vhci port, local busid) */
	UL_EV_DEVFILES,           /* its device files appeared (dev.devnodes) */
	UL_EV_SERVER_GONE,        /* the port was freed and the server does not answer */
	UL_EV_BOARD_REENUMERATED, /* the port was freed, the server answers: the board left it */
	UL_EV_REATTACHED,         /* imported again (detail: how long it took) */
	UL_EV_DETACHED,           /* no longer followed (detach, or given up) */
	UL_EV_PROBED,             /* an ESP32's ROM probe: detail "bootloader" or "running" */
	UL_EV__COUNT
};

/* What is known of a USB device when the event was made. */
struct ul_devfacts {
	uint16_t vid, pid;
	uint32_t speed_mbps; /* 1.5 is stored as 1, 12, 480, 5000, ...; 0 unknown */
	char serial[64];
	char port[32];      /* physical port path, "1-4.2"; "" for virtual devices */
	char busid[32];     /* USB/IP busid */
	char devnodes[256]; /* space-separated "/dev/ttyACM0 /dev/hidraw2" */
	char mac[18];       /* ESP32 MAC "aa:bb:cc:dd:ee:ff", or "" */
};

/* A lease token's length: NAME#TOKEN must fit OP_REQ_IMPORT's busid field. */
#define UL_TOKEN_LEN 12

/* A lease (checkout) as it stands after a lease event. */
struct ul_lease {
	char holder[96];              /* "user@host" */
	char reason[128];             /* free text, may be "" */
	char token[33];               /* UL_TOKEN_LEN characters of [a-km-np-z2-9] */
	char addr[64];                /* an address allowed to import without the token, or "" */
	int64_t since_ms, expires_ms; /* wall clock, ms since the epoch */
};

struct ul_event {
	uint64_t seq;    /* given by the tracker: 1, 2, ... in one daemon run */
	int64_t time_ms; /* wall clock, ms since the epoch (UTC) */
	enum ul_event_kind kind;
	char board[64];         /* registry name, or "" for a device the registry does not name */
	char peer[64];          /* client address, or the user who acted */
	char detail[256];       /* human text: a reason, "app -> rom", an error */
	struct ul_devfacts dev; /* ARRIVED, DEPARTED, REENUMERATED, EXPORTED, IMPORTED, ... */
	struct ul_lease lease;  /* LEASE_* kinds */
};

/* "arrived", "lease-taken", ...; NULL for an out-of-range kind. */
const char *ul_event_kind_name(enum ul_event_kind kind);

/* The kind named name, or -1. */
int ul_event_kind_parse(const char *name);

/* Formats time_ms as "2026-12-03T13:14:04.123Z" into out (at least 25 bytes;
 * a shorter out gets a truncated, terminated string). */
void ul_event_format_time(int64_t time_ms, char *out, size_t cap);

/* Parses "2026-12-03T13:14:04Z", "2026-12-03T13:14:04.123Z", "2026-12-03"
 * (midnight UTC), or a relative "-10m", "-2h", "-1d", "-30s" against now_ms.
 * The fraction may have 1 to 9 digits (cut to milliseconds); nothing else
 * is accepted: no other zone than Z, no leap second, no trailing text.
 * Returns 0 and sets *out, or -1 (leaving *out alone). */
int ul_event_parse_time(const char *text, int64_t now_ms, int64_t *out);

/* Copies src into a fixed-size field, always NUL-terminating (truncates,
 * never inside a UTF-8 sequence, so the field stays valid UTF-8 for JSON).
 * src NULL copies "". */
void ul_copy_field(char *dst, size_t cap, const char *src);
#define UL_COPY(field, src) ul_copy_field((field), sizeof(field), (src))

#endif /* UL_EVENT_H */
