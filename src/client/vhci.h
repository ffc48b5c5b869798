/* SPDX-License-Identifier: MIT */
/*
 * vhci.h - the kernel's vhci-hcd (the USB/IP client driver) through sysfs:
 * its port table, attach and detach. shared/docs/bench-facts.md ("vhci-hcd,
 * the client side") has the facts this follows:
 *
 *   /sys/devices/platform/vhci_hcd.0/status, status.1 ...  the port table
 *   /sys/devices/platform/vhci_hcd.0/attach   "PORT SOCKFD DEVID SPEED"
 *   /sys/devices/platform/vhci_hcd.0/detach   "PORT"
 *
 * The parsing and formatting functions are pure (tests feed them recorded
 * kernel text); the others do the I/O on a directory given by the caller,
 * so that tests can point them at a fake tree.
 */
#ifndef UL_VHCI_H
#define UL_VHCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The vhci directory on a real machine. */
#define VHCI_SYSFS_DIR "/sys/devices/platform/vhci_hcd.0"

/* Port states, as vhci's status file prints them (enum usbip_device_status). */
enum vhci_state {
	VHCI_ST_NULL = 4, /* free */
	VHCI_ST_NOTASSIGNED = 5,
	VHCI_ST_USED = 6,
	VHCI_ST_ERROR = 7,
};

/* Errors (negative; 0 is success). New codes go last. */
enum vhci_err {
	VHCI_E_MISSING = -1, /* no vhci-hcd: the module is not loaded */
	VHCI_E_PERM = -2,    /* the sysfs files are root's */
	VHCI_E_NOPORT = -3,  /* no free port of the speed needed */
	VHCI_E_BUSY = -4,    /* the port was taken meanwhile (write refused) */
	VHCI_E_IO = -5,      /* another failure; errno is kept */
	VHCI_E_ARG = -6,     /* a bad argument or an unparsable status file */
};

const char *vhci_strerror(int err);

/* One port of the table. */
struct vhci_port {
	unsigned port;   /* the global port number the attach file takes */
	bool ss;         /* a port of the SuperSpeed root hub */
	unsigned state;  /* enum vhci_state */
	unsigned speed;  /* the device's usb_device_speed; 0 when free */
	uint32_t devid;  /* the remote busnum << 16 | devnum */
	unsigned sockfd; /* the attaching process's fd number (informational) */
	char lbusid[32]; /* the local busid once enumerated ("4-1"), else "0-0" */
};

/*
 * Parses one status file's text (len bytes; need not be NUL-terminated) and
 * appends its ports to out[*n .. max). Lines that are not port lines (the
 * header) are skipped. Kernels before 4.13 print no hub column: their ports
 * are taken as high-speed. Returns the number of ports parsed (>= 0), or
 * VHCI_E_ARG when a port line is malformed or out[] is full.
 */
int vhci_parse_status(const char *text, size_t len, struct vhci_port *out, unsigned max,
                      unsigned *n);

/* True when a device of that usb_device_speed needs a SuperSpeed port
 * (USB 3.x: super and super-plus). */
bool vhci_speed_needs_ss(unsigned speed);

/*
 * Picks the free port with the lowest number whose root hub fits speed
 * (SuperSpeed devices on ss ports, every other speed on hs ports), skipping
 * the port `skip` (pass UINT32_MAX to skip none). Returns its index in
 * ports[] or VHCI_E_NOPORT.
 */
int vhci_pick_port(const struct vhci_port *ports, unsigned n, unsigned speed, unsigned skip);

/* Finds port number `port` in ports[]; returns its index or -1. */
int vhci_find_port(const struct vhci_port *ports, unsigned n, unsigned port);

/*
 * Formats the attach file's line "PORT SOCKFD DEVID SPEED" (decimal, as
 * vhci_sysfs.c's sscanf "%u %u %u %u" reads it) into out. Returns its
 * length, or VHCI_E_ARG when cap is too small.
 */
int vhci_format_attach(char *out, size_t cap, unsigned port, int sockfd, uint32_t devid,
                       unsigned speed);

/* ---- I/O on a vhci directory (VHCI_SYSFS_DIR, or a fake one in tests) ---- */

/* True when dir exists and has an attach file. */
bool vhci_present(const char *dir);

/* Reads dir/status and every dir/status.N into out[]. Returns the number of
 * ports, VHCI_E_MISSING, VHCI_E_ARG or VHCI_E_IO. */
int vhci_read_ports(const char *dir, struct vhci_port *out, unsigned max);

/* Writes one attach line. Returns 0, VHCI_E_BUSY (the port is in use:
 * pick another), VHCI_E_PERM, VHCI_E_MISSING or VHCI_E_IO. */
int vhci_attach(const char *dir, unsigned port, int sockfd, uint32_t devid, unsigned speed);

/* Writes the port number to dir/detach. Returns 0, VHCI_E_ARG (the port is
 * free or does not exist), VHCI_E_PERM, VHCI_E_MISSING or VHCI_E_IO. */
int vhci_detach(const char *dir, unsigned port);

/* Room for every port of the largest vhci (8 controllers x 2 hubs x 15). */
#define VHCI_MAX_PORTS 512

#endif /* UL_VHCI_H */
