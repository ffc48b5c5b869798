/* SPDX-License-Identifier: MIT */
#include "usbdev_sysfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libusb.h>

/* Descriptors of a device fit in a few KiB; the kernel caps each
 * configuration at 65535 bytes and a device at 8 configurations. */
#define DESCRIPTORS_MAX (9u * 65536u)

static int dev_path(char *buf, size_t len, const char *root, const char *busid, const char *name)
{
	int n = snprintf(buf, len, "%s/bus/usb/devices/%s%s%s", root, busid, name ? "/" : "",
	                 name ? name : "");

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Reads a whole small file into buf, NUL-terminated, trailing newline
 * dropped. Returns the length or -1. */
static int read_text(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	buf[n] = '\0';
	return (int)n;
}

int usbdev_sysfs_attr(const char *root, const char *busid, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];

	buf[0] = '\0';
	if (dev_path(path, sizeof(path), root, busid, name) < 0)
		return -1;
	return read_text(path, buf, len);
}

int usbdev_sysfs_string(const char *root, const struct usbdev_facts *f, const char *name, char *buf,
                        size_t len)
{
	if (f->on_vhci) {
		buf[0] = '\0';
		return -1;
	}
	return usbdev_sysfs_attr(root, f->busid, name, buf, len);
}

long usbdev_sysfs_descriptors(const char *root, const char *busid, uint8_t **blob)
{
	char path[PATH_MAX];
	uint8_t *buf = NULL, *grown;
	size_t have = 0, cap = 0;
	ssize_t n;
	int fd = -1;

	*blob = NULL;
	if (dev_path(path, sizeof(path), root, busid, "descriptors") < 0)
		goto fail;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto fail;
	do {
		if (have == cap) {
			if (cap >= DESCRIPTORS_MAX)
				goto fail;
			cap = cap ? cap * 2 : 1024;
			grown = realloc(buf, cap);
			if (grown == NULL)
				goto fail;
			buf = grown;
		}
		n = read(fd, buf + have, cap - have);
		if (n < 0 && errno != EINTR)
			goto fail;
		if (n > 0)
			have += (size_t)n;
	} while (n != 0);
	close(fd);
	*blob = buf;
	return (long)have;
fail:
	if (fd >= 0)
		close(fd);
	free(buf);
	return -1;
}

/* Parses a whole decimal or hex attribute; -1 when empty or malformed. */
static long attr_number(const char *root, const char *busid, const char *name, int base)
{
	char buf[32], *end;
	long v;

	if (usbdev_sysfs_attr(root, busid, name, buf, sizeof(buf)) <= 0)
		return -1;
	errno = 0;
	v = strtol(buf, &end, base);
	while (*end == ' ')
		end++;
	if (errno || *end != '\0' || v < 0)
		return -1;
	return v;
}

int usbdev_sysfs_config(const char *root, const char *busid)
{
	char buf[32];

	/* The kernel shows an empty bConfigurationValue when unconfigured. */
	if (usbdev_sysfs_attr(root, busid, "bConfigurationValue", buf, sizeof(buf)) < 0)
		return -1;
	if (buf[0] == '\0')
		return 0;
	return (int)attr_number(root, busid, "bConfigurationValue", 10);
}

int usbdev_sysfs_alt(const char *root, const char *busid, uint8_t cfg, uint8_t ifnum)
{
	char intf[USBIP_BUSID_SIZE + 16];

	/* Interfaces are siblings named "<busid>:<config>.<interface>". */
	snprintf(intf, sizeof(intf), "%s:%u.%u", busid, cfg, ifnum);
	return (int)attr_number(root, intf, "bAlternateSetting", 10);
}

bool usbdev_sysfs_bus_is_vhci(const char *root, unsigned busnum)
{
	char link[PATH_MAX], target[PATH_MAX];
	ssize_t n;

	snprintf(link, sizeof(link), "%s/bus/usb/devices/usb%u", root, busnum);
	n = readlink(link, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	/* ../../../devices/platform/vhci_hcd.0/usb3 */
	return strstr(target, "/vhci_hcd.") != NULL;
}

int usbdev_sysfs_speed(const char *text)
{
	static const struct {
		const char *text;
		int speed;
	} map[] = {
	        {"1.5", LIBUSB_SPEED_LOW},          {"12", LIBUSB_SPEED_FULL},
	        {"480", LIBUSB_SPEED_HIGH},         {"5000", LIBUSB_SPEED_SUPER},
	        {"10000", LIBUSB_SPEED_SUPER_PLUS}, {"20000", LIBUSB_SPEED_SUPER_PLUS},
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (strcmp(text, map[i].text) == 0)
			return map[i].speed;
	}
	return LIBUSB_SPEED_UNKNOWN;
}

void usbdev_sysfs_path(const char *root, const char *busid, char *buf, size_t len)
{
	char link[PATH_MAX], real[PATH_MAX];

	if (dev_path(link, sizeof(link), root, busid, NULL) < 0) {
		snprintf(buf, len, "%s", busid);
		return;
	}
	if (realpath(link, real) != NULL)
		snprintf(buf, len, "%s", real);
	else
		snprintf(buf, len, "%s", link);
}

/* Fills f for the device directory busid; -1 when it is not a device we
 * can describe (not a "B-P.P" busid, or attributes missing). */
static int facts_from_sysfs(const char *root, const char *busid, struct usbdev_facts *f)
{
	const char *why;
	char speed[16];
	long busnum, devnum, vid, pid, cls;

	memset(f, 0, sizeof(*f));
	if (strlen(busid) >= sizeof(f->busid) ||
	    usbdev_busid_parse(busid, &f->busnum, f->ports, &f->nports, &why) < 0)
		return -1;
	busnum = attr_number(root, busid, "busnum", 10);
	devnum = attr_number(root, busid, "devnum", 10);
	vid = attr_number(root, busid, "idVendor", 16);
	pid = attr_number(root, busid, "idProduct", 16);
	cls = attr_number(root, busid, "bDeviceClass", 16);
	if (busnum != f->busnum || devnum < 1 || devnum > 255 || vid < 0 || vid > 0xffff ||
	    pid < 0 || pid > 0xffff || cls < 0 || cls > 0xff)
		return -1;
	memcpy(f->busid, busid, strlen(busid) + 1);
	f->devnum = (uint8_t)devnum;
	f->vid = (uint16_t)vid;
	f->pid = (uint16_t)pid;
	f->dev_class = (uint8_t)cls;
	usbdev_sysfs_attr(root, busid, "speed", speed, sizeof(speed));
	f->speed = usbdev_sysfs_speed(speed);
	f->on_vhci = usbdev_sysfs_bus_is_vhci(root, f->busnum);
	usbdev_sysfs_string(root, f, "serial", f->serial, sizeof(f->serial));
	return 0;
}

int usbdev_sysfs_scan(const char *root, int (*fn)(const struct usbdev_facts *f, void *arg),
                      void *arg)
{
	char path[PATH_MAX];
	struct usbdev_facts f;
	struct dirent *e;
	int ret = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/bus/usb/devices", root);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while (ret == 0 && (e = readdir(d)) != NULL) {
		/* Interfaces ("2-1:1.0"), root hubs ("usb2") and "." are not
		 * busids: facts_from_sysfs() refuses them. */
		if (facts_from_sysfs(root, e->d_name, &f) == 0)
			ret = fn(&f, arg);
	}
	closedir(d);
	return ret;
}
