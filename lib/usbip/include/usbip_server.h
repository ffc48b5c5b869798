/* SPDX-License-Identifier: MIT */
/*
 * usbip_server.h - the portable USB/IP server core.
 *
 * The core owns the protocol: the export table, each connection's state
 * machine (OP phase, then URB phase on the same socket after an import),
 * URB bookkeeping, unlink semantics and the special control requests. It
 * does no I/O and no allocation of its own:
 *   - the transport (usblabd's libevent loop, lwIP on the Pico) feeds it the
 *     bytes it receives with usbip_conn_feed() and sends what the core hands
 *     to usbip_server_ops.send;
 *   - a device backend (sim, libusb, TinyUSB) implements usbip_device_ops;
 *   - memory for URBs comes from usbip_server_ops.alloc.
 * Everything runs on one thread (the core's: usblabd's loop); no callback
 * may block. A backend whose work blocks (libusb's claim, detach,
 * set-configuration and reset; file I/O) starts it elsewhere, answers
 * USBIP_PENDING, and finishes on the core's thread with usbip_open_done(),
 * usbip_special_done() or usbip_urb_complete().
 */
#ifndef USBIP_SERVER_H
#define USBIP_SERVER_H

#include "usbip.h"

struct usbip_server;
struct usbip_conn;
struct usbip_export;
struct usbip_urb;

/* What open() and the special-request ops return when they have started
 * their work and will finish it later (usbip_open_done(),
 * usbip_special_done()). Positive and outside every USBIP_ST_* value. */
#define USBIP_PENDING 0x100

/* USB endpoint transfer types, as in bmAttributes. */
enum usbip_ep_type {
	USBIP_EP_CONTROL = 0,
	USBIP_EP_ISO = 1,
	USBIP_EP_BULK = 2,
	USBIP_EP_INT = 3,
};

/*
 * One URB in flight. The core fills the request part from CMD_SUBMIT and
 * owns the memory; the backend fills the result part and hands the URB
 * back with usbip_urb_complete().
 */
struct usbip_urb {
	/* Request (read-only for the backend). */
	uint32_t seqnum;
	uint8_t ep;      /* endpoint number 0..15, no direction bit */
	uint8_t dir_in;  /* 1 for IN */
	uint8_t ep_type; /* enum usbip_ep_type */
	uint32_t transfer_flags;
	int32_t length; /* transfer_buffer_length */
	int32_t start_frame;
	int32_t interval;
	uint8_t setup[8];
	uint8_t *data;                /* length bytes: the OUT payload, or room for IN data */
	bool data_ext;                /* data came from the backend's data_alloc() */
	struct usbip_iso_packet *iso; /* niso descriptors, ISO endpoints only */
	uint32_t niso;

	/* Result (written by the backend before usbip_urb_complete). */
	int32_t status;        /* 0 or a negative USBIP_E* errno (usbip_errno) */
	int32_t actual_length; /* IN: bytes in data; OUT: bytes written */
	int32_t error_count;   /* ISO */
	int32_t out_start_frame;

	/* Backend scratch: the backend may keep anything here. */
	void *backend_priv;

	/* Private to the core. */
	struct usbip_server *srv;
	struct usbip_conn *conn; /* NULL once orphaned by a closed connection */
	struct usbip_export *exp;
	struct usbip_urb *next, *prev;
	int32_t np_echo; /* number_of_packets as the client sent it */
	uint32_t unlink_seqnum;
	uint8_t state;
	uint8_t *wire; /* header room + data (unless data_ext) + ISO descriptor room */
	size_t alloc_size;
};

/*
 * The device backend contract, one const instance per backend (libusb's
 * usbi_os_backend is the model). Every member is called on the core's
 * thread and must not block: work that may block runs elsewhere (a worker
 * thread) and comes back to the core's thread before the backend calls
 * into the core again (usbip_open_done, usbip_special_done,
 * usbip_urb_complete are never called from another thread). `exp->priv`
 * is the backend's own state for the device.
 */
struct usbip_device_ops {
	/* Name for logs ("sim", "libusb"). Required. */
	const char *name;

	/* Called when a client imports the device (OP_REQ_IMPORT), after the
	 * core found it free. Claim it here. Returns 0 (USBIP_ST_OK) to accept;
	 * to refuse, a positive USBIP_ST_* sent as is, or a negative
	 * usbip_errno as every other op returns, which the core maps with
	 * usbip_import_status() (-USBIP_ENODEV: ST_NODEV, -USBIP_EBUSY:
	 * ST_DEV_BUSY, any other: ST_NA). Optional.
	 * Or return USBIP_PENDING when claiming may block: the backend claims
	 * elsewhere and then calls usbip_open_done(exp, result) once, with 0
	 * or a refusal as above, on the core's thread. Meanwhile the export is
	 * held for this client (DEVLIST hides it, other imports get
	 * ST_DEV_BUSY), the core reads nothing more from the client, and no
	 * other op is called for exp. If the client leaves meanwhile, the core
	 * calls close() after a successful usbip_open_done() (no close() after
	 * a failed one), then release() if exp was removed. */
	int (*open)(struct usbip_export *exp);

	/* Called when the importing client is gone and every URB it had in
	 * flight has come back. Release the device here. Optional. */
	void (*close)(struct usbip_export *exp);

	/* Endpoint type of endpoint address ep_addr (bit 7 = IN) in the current
	 * configuration and alternate settings: an enum usbip_ep_type, or -1
	 * when the endpoint does not exist. Required. */
	int (*ep_type)(struct usbip_export *exp, uint8_t ep_addr);

	/* Start a URB. On 0 the backend owns it until it calls
	 * usbip_urb_complete() exactly once; that call may come from inside
	 * submit. On a negative usbip_errno (e.g. -USBIP_EPIPE) the URB was not
	 * started and the core completes it with that status. Required. */
	int (*submit)(struct usbip_export *exp, struct usbip_urb *urb);

	/* Ask for an early completion of a submitted URB. The URB still comes
	 * back through usbip_urb_complete(), normally with -USBIP_ECONNRESET,
	 * possibly with its real result if it finished first. Optional: without
	 * it an unlinked URB runs to its end. */
	void (*cancel)(struct usbip_export *exp, struct usbip_urb *urb);

	/* Special requests (§4.5), done through the host's API instead of being
	 * forwarded. 0 on success (the URB completes with status 0 at once), a
	 * negative usbip_errno on failure (the request is then forwarded with
	 * submit, as the kernel stub does). Each is optional; a NULL member
	 * forwards the request.
	 * Or USBIP_PENDING when the action may block (a reset takes 100 ms and
	 * more): the backend runs it elsewhere and then calls
	 * usbip_special_done(exp, result) once on the core's thread, result
	 * being what the op would have returned. Like the kernel stub's receive
	 * thread, the core reads no further command of that client until the
	 * request's reply is sent (its later URBs may depend on the new
	 * configuration); other clients and devices go on. The core holds the
	 * URB meanwhile and may call cancel() on it when the client leaves; the
	 * backend may ignore that, but must still call usbip_special_done(). */
	int (*set_configuration)(struct usbip_export *exp, uint8_t value);
	int (*set_interface)(struct usbip_export *exp, uint8_t intf, uint8_t alt);
	int (*clear_halt)(struct usbip_export *exp, uint8_t ep_addr);
	int (*reset)(struct usbip_export *exp);

	/* Memory for the data of a URB of length bytes (> 0) to endpoint type
	 * ep_type (enum usbip_ep_type; never ISO), from the backend's own pool:
	 * libusb hands out usbfs-mapped memory, which the kernel transfers
	 * from and into without copying it. The core then receives OUT data
	 * into it and the transport sends IN data from it (send_split), so no
	 * byte is copied between the socket and the device in user space.
	 * Returns NULL to keep the data in the core's block (the single-block
	 * path). Called on the core's thread when the CMD_SUBMIT header
	 * arrives, only when the transport has send_split. The memory is given
	 * back with data_free() (same ep_type and length) when the URB is
	 * freed, which may be after the reply left, after close() and after
	 * release(): the backend keeps exp and whatever the memory needs valid
	 * until its last data_free(). Optional (both or neither). */
	void *(*data_alloc)(struct usbip_export *exp, uint8_t ep_type, size_t length);
	void (*data_free)(struct usbip_export *exp, void *data, uint8_t ep_type, size_t length);

	/* Called once after usbip_server_remove_export(), when the core holds
	 * no more references to exp (its client is gone and close() has run,
	 * every URB is back). The backend may free exp here. Optional. */
	void (*release)(struct usbip_export *exp);
};

/*
 * One exported device. The owner (daemon or firmware) allocates it, fills
 * the public part and adds it with usbip_server_add_export(); it stays the
 * owner's memory.
 */
struct usbip_export {
	/* Public: what DEVLIST and IMPORT report. info.busid is the key. The
	 * backend may update info and ifs (after SET_CONFIGURATION). */
	struct usbip_usb_device info;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
	const struct usbip_device_ops *ops;
	void *priv;

	/* Counters the core adds to and others read (metrics): URBs answered
	 * with RET_SUBMIT, their payload bytes (actual_length) and those that
	 * ended in an error status, by direction: [0] OUT, [1] IN. */
	uint64_t urbs[2], bytes[2], urb_errors[2];

	/* Private to the core. */
	struct usbip_server *srv;
	struct usbip_conn *conn; /* the importing connection, or NULL */
	struct usbip_export *next;
	uint32_t inflight; /* URBs the backend holds, orphans included */
	bool closing;      /* client gone, waiting for URBs before close() */
	bool removed;
	bool opening;              /* open() answered USBIP_PENDING */
	struct usbip_urb *special; /* a special request answered USBIP_PENDING */
};

/* What the transport gives the core. ctx is usbip_server_init()'s ctx. */
struct usbip_server_ops {
	/* Memory for URBs (header, data and descriptors in one block). Return
	 * NULL when out of memory or over a budget. Required. */
	void *(*alloc)(void *ctx, size_t size);
	void (*free)(void *ctx, void *ptr, size_t size);

	/* Queue len bytes for sending on conn, in order. When urb is not NULL
	 * buf points into that URB's memory and the transport takes ownership
	 * of the URB: it sends without copying and calls usbip_urb_free()
	 * when done (or copies and frees at once), even when it fails. Returns
	 * 0, or a negative usbip_err when the connection cannot take it (the
	 * core then closes it). A transport that paused reading at a limit
	 * checks usbip_conn_wants_input() again here. Required. */
	int (*send)(struct usbip_conn *conn, const void *buf, size_t len, struct usbip_urb *urb);

	/* Like send with urb, for a RET_SUBMIT whose data lies outside the
	 * URB's block (usbip_device_ops.data_alloc): the len bytes at buf, then
	 * the dlen bytes at data, on the wire in this order (e.g. as two
	 * iovecs of one sendmsg). The transport owns urb as with send.
	 * Optional: without it the core never asks a backend for data
	 * memory, and every reply goes through send. */
	int (*send_split)(struct usbip_conn *conn, const void *buf, size_t len, const void *data,
	                  size_t dlen, struct usbip_urb *urb);

	/* A URB block from alloc now also holds extra bytes outside it (its
	 * data from the backend's data_alloc): count them with the block,
	 * until its free(). Optional. */
	void (*charge)(void *ctx, void *block, size_t extra);

	/* The core ends conn: reason is 0 for a normal end (close once what was
	 * queued is sent, e.g. after an OP reply) or a negative usbip_err. The
	 * transport must call usbip_conn_destroy() afterwards, once its output
	 * is flushed or dropped, but never from inside this callback (the core
	 * is still using conn). Required. */
	void (*close)(struct usbip_conn *conn, int reason);

	/* Chooses the export an OP_REQ_IMPORT asks for, before the export
	 * table is searched. requested: the busid field as the client sent it
	 * (NUL-terminated, at most 31 bytes; it may be a busid, a board name,
	 * or NAME#TOKEN). Set *exp to the export to import (NULL: no such
	 * device -> ST_NODEV) and return USBIP_ST_OK, or return another
	 * USBIP_ST_* (e.g. USBIP_ST_DEV_BUSY) to refuse. *exp must be an export
	 * of this server (else ST_NODEV). The core still refuses an export
	 * already imported (ST_DEV_BUSY), then calls its open(); the
	 * OP_REP_IMPORT carries the export's own info, so a client importing
	 * by name learns the true busid and devid. Optional: without it the
	 * core looks requested up by busid. */
	int (*import_lookup)(struct usbip_conn *conn, const char *requested,
	                     struct usbip_export **exp);
	/* Called when an import is refused, with the status sent (busy, no
	 * such device, the backend's open() failed), before the connection
	 * ends. Optional. */
	void (*import_refused)(struct usbip_conn *conn, const char *requested, int status);

	/* Notifications for logs and the inventory, called before the matching
	 * device op (open/close). Optional. */
	void (*imported)(struct usbip_conn *conn, struct usbip_export *exp);
	void (*unimported)(struct usbip_export *exp);

	/* Notifications for the inventory: exp entered the table
	 * (usbip_server_add_export) or is leaving it (remove_export, called
	 * before its client is closed). Optional. */
	void (*exported)(struct usbip_export *exp);
	void (*unexported)(struct usbip_export *exp);

	/* OP_REP_DEVLIST is about to describe exp: shown is a copy of
	 * exp->info the owner may change (usblabd puts the board's name in
	 * `path`, the only free text a stock client prints). Optional. */
	void (*devlist_entry)(struct usbip_conn *conn, const struct usbip_export *exp,
	                      struct usbip_usb_device *shown);
};

struct usbip_server {
	const struct usbip_server_ops *ops;
	void *ctx;
	struct usbip_export *exports;
	uint32_t max_urbs_per_conn;
	size_t max_bytes_per_conn;

	/* Counter the core adds to and others read (metrics): URBs answered
	 * with an error status by every export since the start, those since
	 * removed included (the exports' own counters go with them). */
	uint64_t urb_errors;
};

enum usbip_conn_phase {
	USBIP_PHASE_OP = 0,     /* waiting for one OP request */
	USBIP_PHASE_URB = 1,    /* imported: CMD_SUBMIT / CMD_UNLINK */
	USBIP_PHASE_DONE = 2,   /* closing: input is ignored */
	USBIP_PHASE_OPENING = 3 /* import waits for the backend's open */
};

/* One client connection. The transport allocates it (it may embed it) and
 * sets `transport` to its own state. */
struct usbip_conn {
	void *transport;

	/* Private to the core. */
	struct usbip_server *srv;
	struct usbip_export *exp;
	uint8_t phase;
	uint8_t hdr[USBIP_HEADER_SIZE];
	size_t hdr_have;
	struct usbip_urb *rx_urb; /* URB whose payload is being received */
	size_t rx_have, rx_need;
	struct usbip_urb *inflight; /* list, newest first */
	uint32_t ninflight;
	size_t inflight_bytes;
	const char *error;                /* why the core closed the connection */
	char requested[USBIP_BUSID_SIZE]; /* the import's busid field, while its open() is pending
	                                   */
};

/* Initialises srv. ops must outlive it. */
void usbip_server_init(struct usbip_server *srv, const struct usbip_server_ops *ops, void *ctx);

/* Adds exp to the table. Returns 0, or USBIP_E_INVALID when its busid is
 * empty or already present, or ops lacks a required member. */
int usbip_server_add_export(struct usbip_server *srv, struct usbip_export *exp);

/* Takes exp out of the table. Its importing connection, if any, is closed
 * (reason USBIP_E_CLOSED). The backend must complete every URB it holds
 * (with -USBIP_ENODEV when the device is gone); exp stays in use until the
 * core calls exp->ops->release (at once when nothing is in flight). */
void usbip_server_remove_export(struct usbip_server *srv, struct usbip_export *exp);

/* Finds an export by busid, or NULL. */
struct usbip_export *usbip_server_find_busid(struct usbip_server *srv, const char *busid);

/* The OP_REP_IMPORT status for what usbip_device_ops.open returned: 0 is
 * USBIP_ST_OK, USBIP_ST_NA..USBIP_ST_NODEV pass as they are, a negative
 * usbip_errno maps to ST_NODEV (-ENODEV, -ESHUTDOWN), ST_DEV_BUSY (-EBUSY)
 * or ST_NA, and anything else is ST_NA. Never a value outside §2.2. */
enum usbip_op_status usbip_import_status(int open_rc);

/* Starts a connection in the OP phase. */
void usbip_conn_init(struct usbip_server *srv, struct usbip_conn *conn, void *transport);

/*
 * Feeds received bytes. Returns how many were consumed (possibly fewer than
 * len when the connection is at its URB or byte limit: feed the rest once
 * usbip_conn_wants_input() says so), or a negative usbip_err for malformed
 * input, after which the core has called ops->close and conn->error says why.
 */
long usbip_conn_feed(struct usbip_conn *conn, const uint8_t *buf, size_t len);

/*
 * Where the rest of the payload of the CMD_SUBMIT being received goes: the
 * next *len bytes of the stream belong at the address returned (the URB's
 * OUT data, or its ISO descriptor room), or NULL when no payload is being
 * received. A transport may receive them straight into it (no copy
 * through its own buffer) and report them with usbip_conn_rx_commit(),
 * instead of feeding them. The window stays valid until that call.
 */
uint8_t *usbip_conn_rx_window(struct usbip_conn *conn, size_t *len);

/* n bytes (at most the window's *len) were received into the window; as
 * if they had been fed. A complete payload starts the URB. */
void usbip_conn_rx_commit(struct usbip_conn *conn, size_t n);

/* Whether the core will consume input now (false at a limit or closing). */
bool usbip_conn_wants_input(const struct usbip_conn *conn);

/* Tears conn down: its URBs are cancelled and orphaned (freed when the
 * backend returns them, with no reply), its export is released. The
 * transport may free conn when this returns. */
void usbip_conn_destroy(struct usbip_conn *conn);

/* The backend hands a URB back with its result fields set. */
void usbip_urb_complete(struct usbip_urb *urb);

/*
 * The backend finishes an open() that returned USBIP_PENDING: result is 0
 * (opened: the client gets OP_REP_IMPORT with ST_OK and enters the URB
 * phase) or a USBIP_ST_* (refused with that status). Call it exactly once,
 * on the core's thread, never from inside open(). If the client left
 * meanwhile, the core undoes a successful open with close().
 */
void usbip_open_done(struct usbip_export *exp, int result);

/*
 * The backend finishes the special request whose op returned
 * USBIP_PENDING: result 0 completes the URB with status 0; a negative
 * usbip_errno forwards the request with submit() as a synchronous failure
 * would (or completes it with that status when the client is gone). Call
 * it exactly once, on the core's thread, never from inside the op.
 */
void usbip_special_done(struct usbip_export *exp, int result);

/* The transport frees a URB that send() handed over. */
void usbip_urb_free(struct usbip_urb *urb);

#endif /* USBIP_SERVER_H */
