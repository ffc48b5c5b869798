/* SPDX-License-Identifier: MIT */
/*
 * ucl.h - usblab client library: a small userspace USB/IP client over
 * blocking TCP sockets, for tests and benchmarks.
 *
 * It speaks the client side of shared/docs/usbip-protocol.md (§ numbers
 * below refer to it) with the lib/usbip codec, and holds the server to the
 * rules the Linux client (vhci-hcd) enforces: a RET_SUBMIT for a seqnum
 * that is not pending, an actual_length above the request, a short header
 * or an unknown command are protocol errors, after which the connection is
 * unusable (vhci tears it down, §4.2).
 *
 * One thread per connection; nothing here is shared between connections
 * and there is no global state.
 */
#ifndef UCL_H
#define UCL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "usbip.h"

/*
 * Error codes. Every function returns 0 (or a count) on success and a
 * negative code on failure:
 *   - the enum usbip_err values (-1 .. -9) for codec errors; USBIP_E_CLOSED
 *     means the server closed the connection;
 *   - the codes below;
 *   - UCL_E_OS(errno) for a failed system call (connect, send, ...).
 * ucl_strerror() describes any of them. New codes go last.
 */
enum ucl_err {
	UCL_E_PROTO = -20,   /* the server broke the protocol; the connection is dead */
	UCL_E_TIMEOUT = -21, /* no reply within the connection's timeout */
	UCL_E_FULL = -22,    /* UCL_MAX_PENDING URBs and unlinks are already pending */
	UCL_E_ARG = -23,     /* a bad argument (length, endpoint, busid too long) */
	UCL_E_RESOLVE = -24, /* host or port cannot be resolved */
	UCL_E_URB = -25,     /* the URB completed with a non-zero status */
	UCL_E_BUSY = -26,    /* a synchronous helper was called with URBs pending */
	UCL_E_CSW = -27,     /* a mass-storage CSW with a bad signature, tag or size */
	/* The server refused an import: UCL_E_ST(status) for status 1..5
	 * (-31 .. -35); UCL_E_ST_OTHER for any other non-zero status. */
	UCL_E_ST_BASE = -30,
	UCL_E_ST_OTHER = -36,
	UCL_E_OS_BASE = -1000, /* UCL_E_OS(e) = -1000 - e */
};
#define UCL_E_ST(status) (UCL_E_ST_BASE - (int)(status))
#define UCL_E_OS(e)      (UCL_E_OS_BASE - (e))

/* Returns a constant English description of any code above (or of a
 * negative errno wrapped with UCL_E_OS). */
const char *ucl_strerror(int err);

/* URBs and unlinks one connection can have pending (a power of two). */
#define UCL_MAX_PENDING 256

/* ---- OP phase ----------------------------------------------------------- */

/* One exported device as DEVLIST reports it (§2.3, §2.4). */
struct ucl_device {
	struct usbip_usb_device info;
	struct usbip_usb_interface ifs[USBIP_MAX_INTERFACES];
};

/*
 * Asks host:port for its exported devices on one connection (OP_REQ_DEVLIST)
 * and stores up to max of them in out[]. *n receives the number the server
 * reported (which may exceed max; only max are stored). Returns 0 or a
 * negative code. host and port are strings for getaddrinfo().
 */
int ucl_devlist(const char *host, const char *port, struct ucl_device *out, unsigned max,
                unsigned *n);

struct ucl_conn;

/*
 * Imports busid from host:port (OP_REQ_IMPORT, §2.4) and leaves the
 * connection in the URB phase. On 0, *conn is a new connection owned by the
 * caller (free it with ucl_close) and *dev, if not NULL, holds the device
 * record the server returned. Returns UCL_E_ST(status) when the server
 * refuses (e.g. UCL_E_ST(USBIP_ST_DEV_BUSY)), UCL_E_PROTO when the reply is
 * malformed or names another busid, or another negative code.
 */
int ucl_import(const char *host, const char *port, const char *busid, struct ucl_conn **conn,
               struct usbip_usb_device *dev);

/* Closes the connection and frees it; pending URBs are forgotten. NULL is
 * accepted. */
void ucl_close(struct ucl_conn *conn);

/* Bounds every later send and receive on conn to ms milliseconds (0: wait
 * forever, the default). Returns 0 or UCL_E_OS(errno). */
int ucl_set_timeout(struct ucl_conn *conn, unsigned ms);

/* The socket, for poll() and for tests that write raw bytes. */
int ucl_fd(const struct ucl_conn *conn);

/* The devid that CMD_SUBMITs carry: busnum << 16 | devnum (§4.6). */
uint32_t ucl_devid(const struct ucl_conn *conn);

/* Number of URBs and unlinks waiting for a reply. */
unsigned ucl_pending(const struct ucl_conn *conn);

/* ---- URB phase ---------------------------------------------------------- */

/* Endpoint transfer types, as in bmAttributes. */
enum ucl_ep_type {
	UCL_EP_CONTROL = 0,
	UCL_EP_ISO = 1,
	UCL_EP_BULK = 2,
	UCL_EP_INT = 3,
};

/* One transfer request. */
struct ucl_xfer {
	uint8_t ep;       /* endpoint number 0..15, without the 0x80 bit */
	bool dir_in;      /* IN (device to host) */
	uint8_t type;     /* enum ucl_ep_type; ISO selects the ISO framing (§3.3) */
	uint8_t setup[8]; /* control only; raw USB order (see ucl_setup) */
	void *buf;        /* len bytes: the OUT data, or room for the IN data */
	uint32_t len;     /* transfer_buffer_length, at most USBIP_MAX_TRANSFER */
	uint32_t flags;   /* transfer_flags; USBIP_URB_DIR_IN is added for IN */
	int32_t interval; /* interrupt and ISO: must be non-zero (§7.15) */
	int32_t start_frame;
	/* ISO only: niso packets; the caller fills offset and length, the
	 * reply fills actual_length and status. */
	struct usbip_iso_packet *iso;
	uint32_t niso;
};

/* Fills an 8-byte setup packet (wValue, wIndex, wLength little-endian). */
void ucl_setup(uint8_t setup[8], uint8_t bmRequestType, uint8_t bRequest, uint16_t wValue,
               uint16_t wIndex, uint16_t wLength);

/*
 * Sends one CMD_SUBMIT (with its OUT payload and ISO descriptors) without
 * waiting for the reply, so many can be in flight. x->buf (and x->iso)
 * must stay valid until ucl_wait() returns the reply: an IN payload is
 * written there. start_frame is -1 for interrupt endpoints as Linux sends
 * it, x->start_frame otherwise; number_of_packets is 0 unless ISO.
 * *seqnum, if not NULL, receives the URB's seqnum (a per-connection
 * counter that starts at 1). Returns 0, UCL_E_FULL, UCL_E_ARG or an I/O
 * error.
 */
int ucl_submit(struct ucl_conn *conn, const struct ucl_xfer *x, uint32_t *seqnum);

/* Sends CMD_UNLINK for seqnum (§4.3). The unlink has its own seqnum from
 * the same counter, stored in *unlink_seqnum if not NULL. */
int ucl_unlink(struct ucl_conn *conn, uint32_t seqnum, uint32_t *unlink_seqnum);

/* One reply from the server. */
struct ucl_reply {
	uint32_t command; /* USBIP_RET_SUBMIT or USBIP_RET_UNLINK */
	uint32_t seqnum;  /* the seqnum of the URB (or unlink) being answered */
	int32_t status;   /* 0 or a negative Linux errno (§4.4) */
	/* RET_SUBMIT */
	int32_t actual_length;
	int32_t start_frame;
	int32_t number_of_packets;
	int32_t error_count;
	void *buf; /* the URB's buffer, holding actual_length bytes if IN */
	bool dir_in;
	/* RET_UNLINK */
	uint32_t unlink_seqnum; /* the URB the unlink targeted */
	bool target_pending;    /* the target had no reply yet: this completed it */
};

/*
 * Reads the next reply. For a RET_SUBMIT the IN payload goes into the
 * buffer given to ucl_submit and the seqnum stops being pending. For a
 * RET_UNLINK whose target is still pending, the target completes with the
 * unlink's status and no data, as in vhci: a RET_SUBMIT for it afterwards
 * is a protocol error. Returns 0; UCL_E_TIMEOUT when nothing arrived within
 * the timeout (the connection stays usable); UCL_E_PROTO for a protocol
 * error (the connection is dead); USBIP_E_CLOSED at EOF; or an I/O error.
 */
int ucl_wait(struct ucl_conn *conn, struct ucl_reply *reply);

/*
 * Synchronous helpers: submit one URB and wait for its reply. They need an
 * otherwise idle connection (UCL_E_BUSY when anything is pending). Return
 * the actual length (>= 0) when the URB completed with status 0;
 * UCL_E_URB when it completed with another status, stored in *urb_status
 * if not NULL; or another negative code.
 */
int ucl_transfer(struct ucl_conn *conn, const struct ucl_xfer *x, int32_t *urb_status);
/* Control transfer on ep0; the direction comes from bit 7 of setup[0]. */
int ucl_control(struct ucl_conn *conn, const uint8_t setup[8], void *buf, uint32_t len,
                int32_t *urb_status);
/* Bulk transfer on endpoint number ep. */
int ucl_bulk(struct ucl_conn *conn, uint8_t ep, bool dir_in, void *buf, uint32_t len,
             int32_t *urb_status);

/* ---- Descriptors -------------------------------------------------------- */

/* One endpoint of a configuration descriptor. */
struct ucl_endpoint {
	uint8_t intf_number; /* bInterfaceNumber of the interface it belongs to */
	uint8_t intf_alt;    /* bAlternateSetting */
	uint8_t intf_class, intf_subclass, intf_protocol;
	uint8_t addr; /* bEndpointAddress: number | 0x80 for IN */
	uint8_t type; /* enum ucl_ep_type */
	uint16_t max_packet;
	uint8_t interval; /* bInterval */
};

/*
 * Reads configuration descriptor index (GET_DESCRIPTOR(CONFIGURATION)
 * with wLength 9, then with wTotalLength) into buf. Returns its length,
 * UCL_E_ARG when it is longer than cap or malformed, or another code.
 */
int ucl_get_config(struct ucl_conn *conn, uint8_t index, uint8_t *buf, size_t cap);

/*
 * Walks a configuration descriptor and stores up to max endpoints in out[].
 * Returns the number of endpoints found (which may exceed max), or
 * UCL_E_ARG for a descriptor whose lengths do not add up.
 */
int ucl_config_endpoints(const uint8_t *cfg, size_t len, struct ucl_endpoint *out, unsigned max);

/* Finds the first endpoint of that type and direction whose interface has
 * class intf_class (any class when intf_class is -1). Returns its index in
 * eps[] or -1. */
int ucl_find_endpoint(const struct ucl_endpoint *eps, unsigned n, int intf_class, uint8_t type,
                      bool dir_in);

/* ---- Mass storage (Bulk-Only Transport) --------------------------------- */

/*
 * Runs one BOT command (CBW, data, CSW) on bulk endpoint numbers ep_out and
 * ep_in: the CBW and the data and CSW URBs are all submitted before the
 * first reply is read. buf holds len bytes (IN or OUT as dir_in says; len
 * may be 0). Returns the data phase's actual length and stores the CSW's
 * bCSWStatus in *csw_status (0 passed, 1 failed, 2 phase error); UCL_E_URB
 * when a URB failed (its status in *urb_status); UCL_E_CSW for a
 * malformed CSW; or another code. Needs an idle connection.
 */
int ucl_bot_command(struct ucl_conn *conn, uint8_t ep_out, uint8_t ep_in, uint32_t tag,
                    const uint8_t *cdb, uint8_t cdb_len, bool dir_in, void *buf, uint32_t len,
                    uint8_t *csw_status, int32_t *urb_status);

#endif /* UCL_H */
