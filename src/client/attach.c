/* SPDX-License-Identifier: MIT */
/*
 * attach.c - import + vhci attach + device files (attach.h).
 */
#include "attach.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ucl.h"

#define ATTACH_POLL_MS 50
/* How long the device files must hold still once every interface is bound. */
#define ATTACH_SETTLE_MS 400

uint64_t attach_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int attach_busid_field(char *out, size_t cap, const char *what, const char *token)
{
	int len;

	/* Leases on the wire (bench-facts.md): NAME#TOKEN in the 32-byte,
	 * NUL-terminated busid field, so at most 31 bytes. */
	if (!what || !*what)
		return ATTACH_E_ARG;
	if (token && *token)
		len = snprintf(out, cap, "%s#%s", what, token);
	else
		len = snprintf(out, cap, "%s", what);
	if (len < 0 || (size_t)len >= cap || len > USBIP_BUSID_SIZE - 1)
		return ATTACH_E_ARG;
	return 0;
}

int attach_split_server(const char *server, char *host, size_t hcap, char *port, size_t pcap)
{
	const char *colon = strrchr(server, ':'), *h = server;
	size_t hlen;

	snprintf(port, pcap, "3240");
	if (!*server)
		return -1;
	if (server[0] == '[') {
		const char *close = strchr(server, ']');

		if (!close || (close[1] && close[1] != ':'))
			return -1;
		h = server + 1;
		hlen = (size_t)(close - h);
		if (close[1] == ':') {
			if (!close[2])
				return -1;
			snprintf(port, pcap, "%s", close + 2);
		}
	} else if (colon && strchr(server, ':') == colon) {
		hlen = (size_t)(colon - server);
		if (!colon[1])
			return -1;
		snprintf(port, pcap, "%s", colon + 1);
	} else {
		hlen = strlen(server); /* no colon, or a bare IPv6 address */
	}
	if (hlen == 0 || hlen >= hcap)
		return -1;
	memcpy(host, h, hlen);
	host[hlen] = 0;
	for (const char *p = port; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	return 0;
}

int attach_set_keepalive(int fd)
{
	int one = 1, idle = ATTACH_KEEPIDLE_S, intvl = ATTACH_KEEPINTVL_S, cnt = ATTACH_KEEPCNT;
	unsigned user_timeout = ATTACH_USER_TIMEOUT_MS;

	if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &user_timeout, sizeof(user_timeout)) < 0)
		return -errno;
	return 0;
}

/* Imports the device and returns a socket of our own (the connection's
 * is closed with it), with keepalive set. */
static int import_socket(const struct attach_req *req, const char *field, struct attach_result *res,
                         int *fd)
{
	struct ucl_conn *conn = NULL;
	int rc = ucl_import(req->host, req->port ? req->port : "3240", field, &conn, &res->dev);

	if (rc < 0) {
		res->ucl_rc = rc;
		return ATTACH_E_IMPORT;
	}
	*fd = dup(ucl_fd(conn));
	rc = *fd < 0 ? -errno : 0;
	ucl_close(conn);
	if (rc == 0 && (rc = attach_set_keepalive(*fd)) < 0) {
		close(*fd);
		*fd = -1;
	}
	if (rc < 0) {
		res->ucl_rc = UCL_E_OS(-rc);
		return ATTACH_E_IMPORT;
	}
	return ATTACH_OK;
}

/* Picks a free port of the right speed and writes the attach line; a port
 * taken meanwhile by another attach is skipped and the next one tried. */
static int give_to_vhci(const char *dir, int fd, struct attach_result *res)
{
	struct vhci_port ports[VHCI_MAX_PORTS];
	uint32_t devid = res->dev.busnum << 16 | res->dev.devnum;
	unsigned skip = UINT32_MAX;
	int rc = VHCI_E_NOPORT, n, idx;

	for (int attempt = 0; attempt < 4; attempt++) {
		n = vhci_read_ports(dir, ports, VHCI_MAX_PORTS);
		if (n < 0)
			return n;
		idx = vhci_pick_port(ports, (unsigned)n, res->dev.speed, skip);
		if (idx < 0)
			return idx;
		rc = vhci_attach(dir, ports[idx].port, fd, devid, res->dev.speed);
		if (rc != VHCI_E_BUSY) {
			res->vport = ports[idx].port;
			return rc;
		}
		skip = ports[idx].port;
	}
	return rc;
}

/* Waits for the port to be in use with a local busid (vhci names the
 * device once the hub driver enumerated it). */
static int wait_enumerated(const char *dir, struct attach_result *res, unsigned ms)
{
	struct vhci_port ports[VHCI_MAX_PORTS];
	uint64_t start = attach_now_ms(), deadline = start + ms;
	bool seen_taken = false;

	for (;;) {
		int n = vhci_read_ports(dir, ports, VHCI_MAX_PORTS);
		int i = n < 0 ? -1 : vhci_find_port(ports, (unsigned)n, res->vport);

		/* The attach write leaves the port NOTASSIGNED (5) until the hub
		 * driver addresses the device, USED (6) after; free (4) again
		 * means the server closed. A port never seen taken gets 1 s. */
		if (i >= 0 && ports[i].state != VHCI_ST_NULL)
			seen_taken = true;
		if (i >= 0 && ports[i].state == VHCI_ST_NULL &&
		    (seen_taken || attach_now_ms() - start >= 1000))
			return ATTACH_E_GONE;
		if (i >= 0 && ports[i].state == VHCI_ST_USED &&
		    strcmp(ports[i].lbusid, "0-0") != 0) {
			snprintf(res->lbusid, sizeof(res->lbusid), "%s", ports[i].lbusid);
			return ATTACH_OK;
		}
		if (attach_now_ms() >= deadline)
			return ATTACH_E_ENUMERATE;
		sleep_ms(ATTACH_POLL_MS);
	}
}

static void files_signature(const struct devfile *f, unsigned n, char *out, size_t cap)
{
	size_t len = 0;

	out[0] = 0;
	for (unsigned i = 0; i < n && len < cap; i++)
		len += (size_t)snprintf(out + len, cap - len, "%s ", f[i].path);
}

static bool has_disk(const struct devfile *f, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (f[i].kind == DEVFILE_DISK)
			return true;
	return false;
}

int attach_wait_devfiles(const char *sysroot, const char *lbusid, unsigned ms,
                         struct devfile *files, unsigned max)
{
	uint64_t start = attach_now_ms(), stable_since = start, now;
	char last[DEVFILES_MAX * 72] = "", sig[DEVFILES_MAX * 72];
	int n = 0;

	for (;;) {
		struct devfiles_binding b;
		unsigned got;

		/* vhci names the port's device at SET_ADDRESS; the device
		 * reaches sysfs only after its descriptors were read. */
		devfiles_binding(sysroot, lbusid, &b);
		n = b.present ? devfiles_find(sysroot, lbusid, files, max) : -1;
		if (n < 0) {
			if (attach_now_ms() - start >= ms)
				return ATTACH_E_GONE;
			sleep_ms(ATTACH_POLL_MS);
			continue;
		}
		got = (unsigned)n < max ? (unsigned)n : max;
		now = attach_now_ms();
		/* The binding counts too: a driver's link appears before its
		 * probe runs (really_probe: driver_sysfs_add first), so the
		 * files come a moment after the last interface looks bound. */
		files_signature(files, got, sig, sizeof(sig));
		snprintf(sig + strlen(sig), sizeof(sig) - strlen(sig), "%u/%u", b.nbound, b.nintf);
		if (strcmp(sig, last) != 0) {
			snprintf(last, sizeof(last), "%s", sig);
			stable_since = now;
		}
		/* usb-storage binds first and scans the SCSI bus after (its
		 * delay_use, 1 s by default): its disk comes later. */
		if (b.configured && !(b.storage && !has_disk(files, got))) {
			/* Every interface bound: settled when the list holds
			 * still (a driver that made files makes them together;
			 * one still probing, e.g. usbhid reading its report
			 * descriptor over the network, gets a second before
			 * "no files" is believed). Interfaces no driver wants:
			 * give them 2 s. */
			if (b.nbound == b.nintf &&
			    now - stable_since >= (got ? ATTACH_SETTLE_MS : 1000))
				return n;
			if (now - stable_since >= 2000)
				return n;
		}
		if (now - start >= ms)
			return n;
		sleep_ms(ATTACH_POLL_MS);
	}
}

int attach_run(const struct attach_req *req, struct attach_result *res)
{
	const char *dir = req->vhci_dir ? req->vhci_dir : VHCI_SYSFS_DIR;
	const char *sysroot = req->sysroot ? req->sysroot : "/sys";
	char field[USBIP_BUSID_SIZE + 32], path[512];
	uint64_t t0, t1;
	int fd = -1, rc, n;

	memset(res, 0, sizeof(*res));
	if (attach_busid_field(field, sizeof(field), req->what, req->token) < 0)
		return ATTACH_E_ARG;
	/* Check what we can before importing: an import the kernel then
	 * cannot take would show the board as imported for nothing. */
	if (!vhci_present(dir)) {
		res->vhci_rc = VHCI_E_MISSING;
		return ATTACH_E_VHCI;
	}
	snprintf(path, sizeof(path), "%s/attach", dir);
	if (access(path, W_OK) != 0) {
		res->vhci_rc = errno == ENOENT ? VHCI_E_MISSING : VHCI_E_PERM;
		return ATTACH_E_VHCI;
	}
	t0 = attach_now_ms();
	rc = import_socket(req, field, res, &fd);
	if (rc < 0)
		return rc;
	t1 = attach_now_ms();
	res->import_ms = (unsigned)(t1 - t0);
	if (req->imported)
		atomic_store(req->imported, 1);
	rc = give_to_vhci(dir, fd, res);
	/* The kernel took its own reference to the socket (sockfd_lookup):
	 * ours goes, as usbip attach does. */
	close(fd);
	if (rc < 0) {
		res->vhci_rc = rc;
		return ATTACH_E_VHCI;
	}
	rc = wait_enumerated(dir, res, req->enumerate_ms ? req->enumerate_ms : 10000);
	res->enumerate_ms = (unsigned)(attach_now_ms() - t1);
	if (rc < 0) {
		if (rc == ATTACH_E_ENUMERATE)
			vhci_detach(dir, res->vport);
		return rc;
	}
	t1 = attach_now_ms();
	n = attach_wait_devfiles(sysroot, res->lbusid, req->drivers_ms ? req->drivers_ms : 15000,
	                         res->files, DEVFILES_MAX);
	res->drivers_ms = (unsigned)(attach_now_ms() - t1);
	if (n < 0) {
		vhci_detach(dir, res->vport);
		return n;
	}
	res->nfiles = (unsigned)n < DEVFILES_MAX ? (unsigned)n : DEVFILES_MAX;
	return ATTACH_OK;
}

void attach_describe(const struct attach_req *req, int stage, const struct attach_result *res,
                     char *out, size_t cap)
{
	const char *port = req->port ? req->port : "3240";

	switch (stage) {
	case ATTACH_E_ARG:
		snprintf(out, cap,
		         "'%s%s%s' does not fit the import's busid field (31 bytes at most): "
		         "give the board's busid instead of its name (`usblab checkout` prints "
		         "it as import_as)",
		         req->what ? req->what : "", req->token ? "#" : "",
		         req->token ? req->token : "");
		return;
	case ATTACH_E_IMPORT:
		if (res->ucl_rc == UCL_E_ST(USBIP_ST_NODEV))
			snprintf(out, cap,
			         "%s:%s offers no '%s' (absent, not exported, or no such name): "
			         "`usblab remote list %s` shows what it offers",
			         req->host, port, req->what, req->host);
		else if (res->ucl_rc == UCL_E_ST(USBIP_ST_DEV_BUSY))
			snprintf(out, cap,
			         "%s:%s refused '%s': it is leased by someone else or imported by "
			         "another client",
			         req->host, port, req->what);
		else
			snprintf(out, cap, "importing '%s' from %s:%s: %s", req->what, req->host,
			         port, ucl_strerror(res->ucl_rc));
		return;
	case ATTACH_E_VHCI:
		if (res->vhci_rc == VHCI_E_MISSING)
			snprintf(out, cap,
			         "vhci-hcd (the kernel's USB/IP client driver) is not loaded: run "
			         "`sudo modprobe vhci-hcd` (where the distribution splits the "
			         "modules, e.g. Ubuntu: install linux-modules-extra-$(uname -r) "
			         "first)");
		else if (res->vhci_rc == VHCI_E_PERM)
			snprintf(out, cap,
			         "attaching needs root: vhci-hcd's attach file is writable by root "
			         "only (run `sudo usblab attach ...`)");
		else if (res->vhci_rc == VHCI_E_NOPORT)
			snprintf(out, cap,
			         "no free vhci port for a %s device: `usblab attached` lists "
			         "what is attached, `usblab detach PORT` frees one",
			         vhci_speed_needs_ss(res->dev.speed) ? "SuperSpeed"
			                                             : "high/full/low-speed");
		else
			snprintf(out, cap, "vhci-hcd: %s", vhci_strerror(res->vhci_rc));
		return;
	case ATTACH_E_ENUMERATE:
		snprintf(out, cap,
		         "vhci port %u was taken but the kernel did not enumerate the device "
		         "(see dmesg); the port was detached again",
		         res->vport);
		return;
	case ATTACH_E_GONE:
		snprintf(out, cap,
		         "the device on vhci port %u went away or never reached sysfs (the "
		         "server closed the connection, or enumeration failed; see dmesg)",
		         res->vport);
		return;
	default:
		snprintf(out, cap, "attached");
	}
}
