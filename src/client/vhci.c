/* SPDX-License-Identifier: MIT */
/*
 * vhci.c - vhci-hcd's sysfs interface (vhci.h).
 */
#include "vhci.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *vhci_strerror(int err)
{
	switch (err) {
	case 0:
		return "success";
	case VHCI_E_MISSING:
		return "vhci-hcd is not loaded";
	case VHCI_E_PERM:
		return "permission denied on vhci-hcd's sysfs files (attach needs root)";
	case VHCI_E_NOPORT:
		return "no free vhci port of the speed needed";
	case VHCI_E_BUSY:
		return "vhci refused the port (taken meanwhile, or a bad speed)";
	case VHCI_E_IO:
		return "vhci-hcd's sysfs files could not be read or written";
	case VHCI_E_ARG:
		return "bad argument or unparsable vhci status";
	default:
		return "unknown vhci error";
	}
}

/* Splits the next whitespace-separated word of line[0..len) from *pos. */
static bool next_word(const char *line, size_t len, size_t *pos, char *out, size_t cap)
{
	size_t i = *pos, n = 0;

	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	if (i == len)
		return false;
	while (i < len && line[i] != ' ' && line[i] != '\t') {
		if (n + 1 >= cap)
			return false;
		out[n++] = line[i++];
	}
	out[n] = 0;
	*pos = i;
	return true;
}

/* A decimal or hex number that fills the whole word. The status file pads
 * with zeros ("0015"): they are decimal, not octal. */
static bool word_number(const char *w, int base, unsigned long *out)
{
	char *end;

	if (!*w)
		return false;
	errno = 0;
	*out = strtoul(w, &end, base);
	return !errno && *end == 0 && w[0] != '-' && w[0] != '+';
}

/* Parses one port line; returns 1 for a port, 0 for another line (the
 * header, an empty line), VHCI_E_ARG for a malformed port line. */
static int parse_line(const char *line, size_t len, struct vhci_port *p)
{
	char w[8][40];
	size_t pos = 0;
	unsigned long v[5];
	int nw = 0, first;

	while (nw < 8 && next_word(line, len, &pos, w[nw], sizeof(w[nw])))
		nw++;
	if (nw == 0)
		return 0;
	memset(p, 0, sizeof(*p));
	if (strcmp(w[0], "hs") == 0 || strcmp(w[0], "ss") == 0) {
		p->ss = w[0][0] == 's';
		first = 1;
	} else if (w[0][0] >= '0' && w[0][0] <= '9') {
		first = 0; /* before 4.13: "port sta spd dev sockfd local_busid" */
	} else {
		return 0; /* the header line */
	}
	if (nw != first + 6)
		return VHCI_E_ARG;
	if (!word_number(w[first], 10, &v[0]) || !word_number(w[first + 1], 10, &v[1]) ||
	    !word_number(w[first + 2], 10, &v[2]) || !word_number(w[first + 3], 16, &v[3]))
		return VHCI_E_ARG;
	/* The socket column is informational; kernels before 4.13 printed a
	 * pointer there in hex. */
	if (!word_number(w[first + 4], 10, &v[4]) || v[4] > 0xffffffffUL)
		v[4] = 0;
	if (v[0] > 0xffff || v[3] > 0xffffffffUL || strlen(w[first + 5]) >= sizeof(p->lbusid))
		return VHCI_E_ARG;
	p->port = (unsigned)v[0];
	p->state = (unsigned)v[1];
	p->speed = (unsigned)v[2];
	p->devid = (uint32_t)v[3];
	p->sockfd = (unsigned)v[4];
	strcpy(p->lbusid, w[first + 5]);
	return 1;
}

int vhci_parse_status(const char *text, size_t len, struct vhci_port *out, unsigned max,
                      unsigned *n)
{
	size_t start = 0;
	int count = 0;

	while (start < len) {
		const char *nl = memchr(text + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - text) : len;
		struct vhci_port p;
		int rc = parse_line(text + start, end - start, &p);

		if (rc < 0)
			return rc;
		if (rc == 1) {
			if (*n >= max)
				return VHCI_E_ARG;
			out[(*n)++] = p;
			count++;
		}
		start = end + 1;
	}
	return count;
}

bool vhci_speed_needs_ss(unsigned speed)
{
	return speed == 5 || speed == 6; /* USB_SPEED_SUPER, USB_SPEED_SUPER_PLUS */
}

int vhci_pick_port(const struct vhci_port *ports, unsigned n, unsigned speed, unsigned skip)
{
	bool ss = vhci_speed_needs_ss(speed);
	int best = VHCI_E_NOPORT;

	for (unsigned i = 0; i < n; i++) {
		if (ports[i].state != VHCI_ST_NULL || ports[i].ss != ss || ports[i].port == skip)
			continue;
		if (best < 0 || ports[i].port < ports[best].port)
			best = (int)i;
	}
	return best;
}

int vhci_find_port(const struct vhci_port *ports, unsigned n, unsigned port)
{
	for (unsigned i = 0; i < n; i++)
		if (ports[i].port == port)
			return (int)i;
	return -1;
}

int vhci_format_attach(char *out, size_t cap, unsigned port, int sockfd, uint32_t devid,
                       unsigned speed)
{
	int len;

	if (sockfd < 0)
		return VHCI_E_ARG;
	len = snprintf(out, cap, "%u %d %u %u", port, sockfd, (unsigned)devid, speed);
	if (len < 0 || (size_t)len >= cap)
		return VHCI_E_ARG;
	return len;
}

/* ---- I/O ------------------------------------------------------------------ */

static int errno_to_vhci(int e)
{
	switch (e) {
	case ENOENT:
	case ENODEV:
		return VHCI_E_MISSING;
	case EACCES:
	case EPERM:
	case EROFS:
		return VHCI_E_PERM;
	default:
		return VHCI_E_IO;
	}
}

bool vhci_present(const char *dir)
{
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/attach", dir);
	return stat(path, &st) == 0;
}

/* Reads a whole (small) file; returns its length or a negative code. */
static int read_small(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	size_t len = 0;
	ssize_t r;

	if (fd < 0)
		return errno_to_vhci(errno);
	while (len < cap && (r = read(fd, buf + len, cap - len)) != 0) {
		if (r < 0) {
			if (errno == EINTR)
				continue;
			r = errno_to_vhci(errno);
			close(fd);
			return (int)r;
		}
		len += (size_t)r;
	}
	close(fd);
	return len == cap ? VHCI_E_ARG : (int)len;
}

/* status, then status.1, status.2, ... in numeric order. */
static int status_index(const char *name)
{
	char *end;
	long v;

	if (strcmp(name, "status") == 0)
		return 0;
	if (strncmp(name, "status.", 7) != 0)
		return -1;
	v = strtol(name + 7, &end, 10);
	return *end || v < 1 || v > 64 ? -1 : (int)v;
}

int vhci_read_ports(const char *dir, struct vhci_port *out, unsigned max)
{
	char path[512];
	char *buf = NULL;
	unsigned n = 0;
	int rc = 0, idx;
	DIR *d = opendir(dir);
	struct dirent *e;
	bool have[65] = {false};

	if (!d)
		return errno_to_vhci(errno);
	while ((e = readdir(d)))
		if ((idx = status_index(e->d_name)) >= 0)
			have[idx] = true;
	closedir(d);
	if (!have[0])
		return VHCI_E_MISSING;
	buf = malloc(64 * 1024);
	if (!buf)
		return VHCI_E_IO;
	for (idx = 0; idx <= 64; idx++) {
		if (!have[idx])
			continue;
		if (idx == 0)
			snprintf(path, sizeof(path), "%s/status", dir);
		else
			snprintf(path, sizeof(path), "%s/status.%d", dir, idx);
		rc = read_small(path, buf, 64 * 1024);
		if (rc < 0)
			goto out;
		rc = vhci_parse_status(buf, (size_t)rc, out, max, &n);
		if (rc < 0)
			goto out;
	}
	rc = (int)n;
out:
	free(buf);
	return rc;
}

/* Writes line to dir/file in one write(2), as the kernel wants it. */
static int write_line(const char *dir, const char *file, const char *line)
{
	char path[512];
	size_t len = strlen(line);
	ssize_t w;
	int fd, e;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return errno_to_vhci(errno);
	w = write(fd, line, len);
	e = errno;
	close(fd);
	if (w == (ssize_t)len)
		return 0;
	/* vhci_sysfs.c answers EINVAL for a port in use, a port of the wrong
	 * hub for the speed, and a port out of range alike. */
	if (w < 0 && e == EINVAL)
		return VHCI_E_BUSY;
	return w < 0 ? errno_to_vhci(e) : VHCI_E_IO;
}

int vhci_attach(const char *dir, unsigned port, int sockfd, uint32_t devid, unsigned speed)
{
	char line[64];
	int rc = vhci_format_attach(line, sizeof(line), port, sockfd, devid, speed);

	return rc < 0 ? rc : write_line(dir, "attach", line);
}

int vhci_detach(const char *dir, unsigned port)
{
	char line[16];
	int rc;

	snprintf(line, sizeof(line), "%u", port);
	rc = write_line(dir, "detach", line);
	return rc == VHCI_E_BUSY ? VHCI_E_ARG : rc;
}
