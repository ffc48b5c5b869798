/* SPDX-License-Identifier: MIT */
/*
 * inventory.c - USB devices and their device files from udev (inventory.h).
 */
#include "inventory.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libudev.h>

#include "ul_log.h"

struct inventory {
	struct udev *udev;
	struct udev_monitor *mon;
	struct event *ev;
	const struct inventory_ops *ops;
	void *arg;
};

/* Child subsystems whose device files a person uses. */
static bool wanted_node(struct udev_device *d)
{
	const char *ss = udev_device_get_subsystem(d);
	const char *node = udev_device_get_devnode(d);
	const char *type = udev_device_get_devtype(d);

	if (!ss || !node)
		return false;
	if (strcmp(ss, "tty") == 0 || strcmp(ss, "hidraw") == 0)
		return true;
	if (strcmp(ss, "block") == 0)
		return type && strcmp(type, "disk") == 0; /* /dev/sdb, not sdb1 */
	if (strcmp(ss, "input") == 0)
		return strncmp(node, "/dev/input/event", 16) == 0;
	return false;
}

static void append_node(char *out, size_t cap, const char *node)
{
	size_t len = strlen(out);

	if (strstr(out, node))
		return;
	if (len + strlen(node) + 2 > cap)
		return;
	if (len)
		out[len++] = ' ';
	strcpy(out + len, node);
}

static struct udev_device *usb_parent(struct udev_device *d);

/* Device files of usbdev's own interfaces, in sysfs order; a hub's list
 * leaves out those of the devices behind it (they are boards of their own). */
static void collect_nodes(struct udev_device *usbdev, char *out, size_t cap)
{
	const char *self = udev_device_get_syspath(usbdev);
	struct udev *udev = udev_device_get_udev(usbdev);
	struct udev_enumerate *en = udev_enumerate_new(udev);
	struct udev_list_entry *e;

	out[0] = 0;
	if (!en)
		return;
	udev_enumerate_add_match_parent(en, usbdev);
	udev_enumerate_scan_devices(en);
	udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en))
	{
		struct udev_device *d =
		        udev_device_new_from_syspath(udev, udev_list_entry_get_name(e));

		if (!d)
			continue;
		struct udev_device *owner = usb_parent(d); /* not a reference */

		if (wanted_node(d) && owner && strcmp(udev_device_get_syspath(owner), self) == 0)
			append_node(out, cap, udev_device_get_devnode(d));
		udev_device_unref(d);
	}
	udev_enumerate_unref(en);
}

static unsigned hex16(const char *s)
{
	return s ? (unsigned)strtoul(s, NULL, 16) & 0xffff : 0;
}

/* A device imported through vhci-hcd on this machine. Its enumeration may
 * be waiting for this very process to answer (a board usblabd exports to
 * a client on the same host), and the kernel holds its device lock
 * meanwhile: reading its string attributes would then block the loop for
 * good. The client side tracks such devices itself. */
static bool under_vhci(struct udev_device *d)
{
	const char *path = udev_device_get_syspath(d);

	return path && strstr(path, "/vhci_hcd") != NULL;
}

int inventory_facts(struct udev_device *usbdev, struct ul_devfacts *dev)
{
	const char *type = udev_device_get_devtype(usbdev);
	const char *name = udev_device_get_sysname(usbdev);
	const char *v;

	if (!type || strcmp(type, "usb_device") != 0 || !name || strncmp(name, "usb", 3) == 0 ||
	    under_vhci(usbdev))
		return -1;
	memset(dev, 0, sizeof(*dev));
	UL_COPY(dev->busid, name);
	UL_COPY(dev->port, name);
	dev->vid = (uint16_t)hex16(udev_device_get_sysattr_value(usbdev, "idVendor"));
	dev->pid = (uint16_t)hex16(udev_device_get_sysattr_value(usbdev, "idProduct"));
	/* The serial from udev's database when it has it: the sysfs string
	 * attribute takes the device's lock, which enumeration holds. */
	if ((v = udev_device_get_property_value(usbdev, "ID_SERIAL_SHORT")) ||
	    (v = udev_device_get_sysattr_value(usbdev, "serial")))
		UL_COPY(dev->serial, v);
	if ((v = udev_device_get_sysattr_value(usbdev, "speed")))
		dev->speed_mbps = (uint32_t)strtoul(v, NULL, 10);
	collect_nodes(usbdev, dev->devnodes, sizeof(dev->devnodes));
	return 0;
}

/* The usb_device a child event belongs to, or NULL. Not a new reference. */
static struct udev_device *usb_parent(struct udev_device *d)
{
	return udev_device_get_parent_with_subsystem_devtype(d, "usb", "usb_device");
}

static void on_udev(evutil_socket_t fd, short what, void *arg)
{
	struct inventory *inv = arg;
	struct udev_device *d;

	(void)fd;
	(void)what;
	while ((d = udev_monitor_receive_device(inv->mon))) {
		const char *action = udev_device_get_action(d);
		const char *type = udev_device_get_devtype(d);
		struct ul_devfacts facts;

		if (!action) {
			udev_device_unref(d);
			continue;
		}
		if (under_vhci(d)) {
			udev_device_unref(d);
			continue;
		}
		if (type && strcmp(type, "usb_device") == 0) {
			const char *name = udev_device_get_sysname(d);

			if (strcmp(action, "add") == 0 && inventory_facts(d, &facts) == 0)
				inv->ops->arrived(inv->arg, &facts);
			else if (strcmp(action, "remove") == 0 && name &&
			         strncmp(name, "usb", 3) != 0)
				inv->ops->departed(inv->arg, name);
		} else if (strcmp(action, "add") == 0 || strcmp(action, "remove") == 0) {
			/* A device file came or went: recount the parent's. On
			 * remove the child's node is already gone from sysfs. */
			struct udev_device *p = usb_parent(d);

			if (p && inventory_facts(p, &facts) == 0)
				inv->ops->nodes(inv->arg, facts.busid, facts.devnodes);
		}
		udev_device_unref(d);
	}
}

static void scan(struct inventory *inv)
{
	struct udev_enumerate *en = udev_enumerate_new(inv->udev);
	struct udev_list_entry *e;

	if (!en)
		return;
	udev_enumerate_add_match_subsystem(en, "usb");
	udev_enumerate_add_match_property(en, "DEVTYPE", "usb_device");
	udev_enumerate_scan_devices(en);
	udev_list_entry_foreach(e, udev_enumerate_get_list_entry(en))
	{
		struct udev_device *d =
		        udev_device_new_from_syspath(inv->udev, udev_list_entry_get_name(e));
		struct ul_devfacts facts;

		if (!d)
			continue;
		if (inventory_facts(d, &facts) == 0)
			inv->ops->arrived(inv->arg, &facts);
		udev_device_unref(d);
	}
	udev_enumerate_unref(en);
}

int inventory_start(struct inventory **out, struct event_base *base,
                    const struct inventory_ops *ops, void *arg, const char **warning, char *err,
                    size_t errlen)
{
	struct inventory *inv = calloc(1, sizeof(*inv));
	struct stat st;

	if (warning)
		*warning = NULL;
	if (!inv || !(inv->udev = udev_new())) {
		snprintf(err, errlen, "cannot start libudev");
		free(inv);
		return -1;
	}
	inv->ops = ops;
	inv->arg = arg;
	/* Monitor first, scan second: an arrival between the two is then
	 * seen twice at worst (the tracker ignores the repeat), never lost. */
	inv->mon = udev_monitor_new_from_netlink(inv->udev, "udev");
	if (inv->mon) {
		udev_monitor_filter_add_match_subsystem_devtype(inv->mon, "usb", "usb_device");
		udev_monitor_filter_add_match_subsystem_devtype(inv->mon, "tty", NULL);
		udev_monitor_filter_add_match_subsystem_devtype(inv->mon, "block", "disk");
		udev_monitor_filter_add_match_subsystem_devtype(inv->mon, "hidraw", NULL);
		udev_monitor_filter_add_match_subsystem_devtype(inv->mon, "input", NULL);
		if (udev_monitor_enable_receiving(inv->mon) < 0) {
			udev_monitor_unref(inv->mon);
			inv->mon = NULL;
		}
	}
	if (inv->mon) {
		inv->ev = event_new(base, udev_monitor_get_fd(inv->mon), EV_READ | EV_PERSIST,
		                    on_udev, inv);
		if (!inv->ev || event_add(inv->ev, NULL) < 0) {
			snprintf(err, errlen, "cannot watch the udev monitor");
			inventory_stop(inv);
			return -1;
		}
	}
	if (warning && (!inv->mon || stat("/run/udev/control", &st) != 0))
		*warning = "udevd is not running: devices present now are listed, later arrivals "
		           "and departures of devices usblabd does not export are not seen";
	scan(inv);
	*out = inv;
	return 0;
}

void inventory_stop(struct inventory *inv)
{
	if (!inv)
		return;
	if (inv->ev)
		event_free(inv->ev);
	if (inv->mon)
		udev_monitor_unref(inv->mon);
	udev_unref(inv->udev);
	free(inv);
}
