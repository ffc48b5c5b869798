/* SPDX-License-Identifier: MIT */
/*
 * attach.h - importing a remote USB device into this machine's kernel:
 * OP_REQ_IMPORT over TCP (ucl), keepalive on the socket, one write to
 * vhci-hcd's attach file, then waiting until the kernel has enumerated the
 * device and bound drivers, and listing the device files that appeared.
 * No dependency on the usbip binary (shared/docs/bench-facts.md, "vhci-hcd,
 * the client side").
 *
 * Blocking, one attach at a time per caller; no global state.
 */
#ifndef UL_ATTACH_H
#define UL_ATTACH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devfiles.h"
#include "usbip.h"
#include "vhci.h"

/* Where an attach stopped. */
enum attach_stage {
	ATTACH_OK = 0,
	ATTACH_E_ARG = -1,       /* NAME#TOKEN longer than the 31 bytes of the busid field */
	ATTACH_E_IMPORT = -2,    /* the server refused or could not be reached: see ucl_rc */
	ATTACH_E_VHCI = -3,      /* vhci-hcd refused or is missing: see vhci_rc */
	ATTACH_E_ENUMERATE = -4, /* the port was taken but no device enumerated in time */
	ATTACH_E_GONE = -5,      /* the port was freed again (the server closed) */
};

/* Keepalive on the imported socket, set before vhci gets it, so that a
 * server that dies (not one that closes) frees the port in about
 * IDLE + INTVL * CNT seconds, and unacknowledged data in USER_TIMEOUT. */
#define ATTACH_KEEPIDLE_S      5
#define ATTACH_KEEPINTVL_S     2
#define ATTACH_KEEPCNT         3
#define ATTACH_USER_TIMEOUT_MS 10000

struct attach_req {
	const char *host, *port; /* the server; port "3240" by default */
	const char *what;        /* a busid or a board name (usblabd resolves names) */
	const char *token;       /* a lease token, or NULL: the busid field carries WHAT#TOKEN */
	const char *vhci_dir;    /* VHCI_SYSFS_DIR unless testing */
	const char *sysroot;     /* "/sys" unless testing */
	unsigned enumerate_ms;   /* how long the kernel may take to enumerate (default 10 s) */
	unsigned drivers_ms;     /* ... and to bind drivers and make device files (default 15 s) */
	atomic_int *imported;    /* optional: set to 1 once the server accepted the import
	                          * (read by a watcher on another thread) */
};

struct attach_result {
	int ucl_rc;  /* ATTACH_E_IMPORT: the ucl code (UCL_E_ST(status) for a refusal) */
	int vhci_rc; /* ATTACH_E_VHCI: the vhci code */
	struct usbip_usb_device dev; /* what the server returned */
	unsigned vport;              /* the vhci port */
	char lbusid[32];             /* the local busid ("4-1") */
	struct devfile files[DEVFILES_MAX];
	unsigned nfiles;
	unsigned import_ms, enumerate_ms, drivers_ms; /* time spent in each step */
};

/* Formats the OP_REQ_IMPORT busid field: WHAT or WHAT#TOKEN. Returns 0, or
 * ATTACH_E_ARG when it does not fit in the 31 bytes the field holds. */
int attach_busid_field(char *out, size_t cap, const char *what, const char *token);

/*
 * Splits "HOST[:PORT]" (also "[v6addr]:PORT" and a bare IPv6 address) into
 * host and port (default "3240"). Returns 0, or -1 when it is malformed.
 */
int attach_split_server(const char *server, char *host, size_t hcap, char *port, size_t pcap);

/*
 * Sets the keepalive options above on a connected TCP socket. Returns 0 or
 * -errno.
 */
int attach_set_keepalive(int fd);

/*
 * Runs the whole attach. On ATTACH_OK every field of res is filled and the
 * kernel holds the socket (this process keeps no copy). On failure nothing
 * stays attached and res says why (ucl_rc, vhci_rc).
 */
int attach_run(const struct attach_req *req, struct attach_result *res);

/*
 * Waits (polling every 50 ms, up to ms) for the device files of a device
 * that vhci has enumerated: until every interface has a driver and the
 * files and the binding have not changed for 400 ms (1 s while there are
 * no files; 2 s when an interface stays without a driver; a usb-storage
 * device: until a disk appeared, since the SCSI scan comes after the bind). Fills files[]
 * and returns their number (possibly 0 when the device has none), or
 * ATTACH_E_GONE when the device never appeared in sysfs within ms.
 */
int attach_wait_devfiles(const char *sysroot, const char *lbusid, unsigned ms,
                         struct devfile *files, unsigned max);

/* A human sentence for a failed attach_run, with the fix where one is
 * known (in cap bytes of out). */
void attach_describe(const struct attach_req *req, int stage, const struct attach_result *res,
                     char *out, size_t cap);

/* Milliseconds of CLOCK_MONOTONIC. */
uint64_t attach_now_ms(void);

#endif /* UL_ATTACH_H */
