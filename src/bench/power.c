/* SPDX-License-Identifier: MIT */
/*
 * power.c - hub port power through sysfs or hub class requests (power.h).
 * errno is translated here, once, into power_err codes with a sentence.
 */
#include "power.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <libusb.h>

#define POWER_DESC_MAX        256
#define POWER_MAX_HUBS        64
#define POWER_CTRL_TIMEOUT_MS 2000

const char *power_err_code(int err)
{
	switch (err) {
	case POWER_OK:
		return "ok";
	case POWER_E_LOCATION:
		return "no_hub_port";
	case POWER_E_NO_HUB:
		return "no_hub";
	case POWER_E_NO_SWITCHING:
		return "no_switching";
	case POWER_E_ACCESS:
		return "permission";
	case POWER_E_IO:
		return "power_failed";
	case POWER_E_METHOD:
		return "no_method";
	}
	return "internal";
}

const char *power_method_name(enum power_method m)
{
	switch (m) {
	case POWER_METHOD_AUTO:
		return "auto";
	case POWER_METHOD_SYSFS:
		return "sysfs";
	case POWER_METHOD_HUBREQ:
		return "hub-request";
	}
	return "?";
}

int power_method_parse(const char *name)
{
	for (int m = POWER_METHOD_AUTO; m <= POWER_METHOD_HUBREQ; m++)
		if (strcmp(name, power_method_name((enum power_method)m)) == 0)
			return m;
	return -1;
}

bool power_kernel_has_disable(const char *release)
{
	unsigned major = 0;

	if (!release || sscanf(release, "%u.", &major) != 1)
		return false;
	return major >= 6;
}

/* ---- sysfs -------------------------------------------------------------------- */

/* Reads a small sysfs attribute of dev into out, without the newline.
 * Returns 0 or -errno. */
static int sysfs_read(const char *root, const char *dev, const char *attr, char *out, size_t cap)
{
	char path[512];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s/%s", root, dev, attr) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, out, cap - 1);
	if (n < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	close(fd);
	out[n] = '\0';
	out[strcspn(out, "\n")] = '\0';
	return 0;
}

static bool hub_is_superspeed(const char *root, const char *hub)
{
	char speed[32];

	/* The link's speed, not bcdUSB: a USB3 hub's USB2 half says 2.10 or
	 * 3.x in bcdUSB but runs at 480. */
	return sysfs_read(root, hub, "speed", speed, sizeof(speed)) == 0 && atoi(speed) >= 5000;
}

static int errno_to_power(int e)
{
	return e == EACCES || e == EPERM ? POWER_E_ACCESS : POWER_E_IO;
}

/* Reads what a half needs: its descriptor and Container ID. */
static void port_probe(const struct power_env *env, struct power_port *p)
{
	uint8_t buf[POWER_DESC_MAX];
	int n;

	p->superspeed = hub_is_superspeed(env->sysfs_root, p->hub);
	n = env->io->hub_descriptor(env->io_ctx, p->hub,
	                            p->superspeed ? HUBDESC_TYPE_USB3 : HUBDESC_TYPE_USB2, buf,
	                            sizeof(buf));
	p->have_desc = n > 0 && hubdesc_parse(buf, (size_t)n, &p->desc) == HUBDESC_OK;
	n = env->io->bos(env->io_ctx, p->hub, buf, sizeof(buf));
	p->have_cid = n > 0 && hubdesc_bos_container_id(buf, (size_t)n, p->cid, NULL) == HUBDESC_OK;
}

static bool is_hub(const char *root, const char *dev)
{
	char cls[8];

	return sysfs_read(root, dev, "bDeviceClass", cls, sizeof(cls)) == 0 &&
	       strcmp(cls, "09") == 0;
}

/* Looks for the other half of plan->main among the hubs in sysfs. */
static void find_peer(const struct power_env *env, struct power_plan *plan)
{
	struct hubdesc_hub hubs[POWER_MAX_HUBS];
	char names[POWER_MAX_HUBS][32];
	struct dirent *de;
	size_t n = 0, self;
	DIR *d;
	int pick;

	if (!plan->main.have_cid)
		return;
	d = opendir(env->sysfs_root);
	if (!d)
		return;
	/* Ourselves first, with what port_probe() read. */
	snprintf(names[0], sizeof(names[0]), "%s", plan->main.hub);
	hubs[0] = (struct hubdesc_hub){
	        .name = names[0], .superspeed = plan->main.superspeed, .has_cid = true};
	memcpy(hubs[0].cid, plan->main.cid, 16);
	self = 0;
	n = 1;
	while ((de = readdir(d)) && n < POWER_MAX_HUBS) {
		uint8_t buf[POWER_DESC_MAX];
		int len;

		/* Devices, not interfaces ("1-1:1.0") nor ports. */
		if (de->d_name[0] == '.' || strchr(de->d_name, ':') ||
		    strlen(de->d_name) >= sizeof(names[0]) ||
		    strcmp(de->d_name, plan->main.hub) == 0 || !is_hub(env->sysfs_root, de->d_name))
			continue;
		memcpy(names[n], de->d_name, strlen(de->d_name) + 1); /* fits: checked above */
		hubs[n] = (struct hubdesc_hub){
		        .name = names[n],
		        .superspeed = hub_is_superspeed(env->sysfs_root, names[n])};
		len = env->io->bos(env->io_ctx, names[n], buf, sizeof(buf));
		hubs[n].has_cid = len > 0 && hubdesc_bos_container_id(buf, (size_t)len, hubs[n].cid,
		                                                      NULL) == HUBDESC_OK;
		n++;
	}
	closedir(d);
	pick = hubdesc_pick_peer(hubs, n, self);
	if (pick == -2) {
		snprintf(plan->note, sizeof(plan->note),
		         "several hubs share hub %s's Container ID and none sits where it does: "
		         "its other half is not switched",
		         plan->main.hub);
		return;
	}
	if (pick < 0)
		return;
	memset(&plan->peer, 0, sizeof(plan->peer));
	snprintf(plan->peer.hub, sizeof(plan->peer.hub), "%s", names[pick]);
	/* The two halves number their ports alike (USB 3.2 §10.3.3: a USB3
	 * hub's port n and its USB2 port n are one connector). */
	plan->peer.port = plan->main.port;
	port_probe(env, &plan->peer);
	if (plan->peer.have_desc && plan->peer.port > plan->peer.desc.nports) {
		snprintf(plan->note, sizeof(plan->note),
		         "hub %s (the other half of %s) has only %u ports: not switched",
		         plan->peer.hub, plan->main.hub, plan->peer.desc.nports);
		return;
	}
	plan->have_peer = true;
}

static int port_disable_path(const struct power_env *env, const struct power_port *p, char *out,
                             size_t cap)
{
	char dir[128];

	if (hubdesc_port_dir(p->hub, p->port, dir, sizeof(dir)) != HUBDESC_OK)
		return -1;
	if (snprintf(out, cap, "%s/%s/disable", env->sysfs_root, dir) >= (int)cap)
		return -1;
	return 0;
}

int power_plan(const struct power_env *env, const char *location, enum power_method want,
               struct power_plan *plan, char *err, size_t errlen)
{
	char path[512], dev[64];
	struct utsname u;
	const char *release = env->kernel_release;
	bool root, has_file;

	memset(plan, 0, sizeof(*plan));
	if (hubdesc_port_of(location, plan->main.hub, sizeof(plan->main.hub), &plan->main.port,
	                    &root) != HUBDESC_OK) {
		snprintf(err, errlen,
		         "'%s' is not a port on a hub (a virtual device or one imported through "
		         "vhci has no port to switch)",
		         location && *location ? location : "(no location)");
		return POWER_E_LOCATION;
	}
	if (sysfs_read(env->sysfs_root, plan->main.hub, "bDeviceClass", dev, sizeof(dev)) < 0) {
		snprintf(err, errlen, "no hub %s in %s (was it unplugged?)", plan->main.hub,
		         env->sysfs_root);
		return POWER_E_NO_HUB;
	}
	port_probe(env, &plan->main);
	if (plan->main.have_desc) {
		const struct hubdesc *d = &plan->main.desc;

		if (plan->main.port > d->nports) {
			snprintf(err, errlen, "hub %s has %u ports, not %u", plan->main.hub,
			         d->nports, plan->main.port);
			return POWER_E_NO_HUB;
		}
		if (d->power == HUBDESC_POWER_NONE) {
			snprintf(err, errlen,
			         "hub %s has no power switching (wHubCharacteristics 0x%04x): it "
			         "cannot turn port %u off; use a hub that switches per port",
			         plan->main.hub, d->characteristics, plan->main.port);
			return POWER_E_NO_SWITCHING;
		}
		if (d->power == HUBDESC_POWER_GANGED)
			snprintf(plan->note, sizeof(plan->note),
			         "hub %s switches its ports together (ganged): port %u loses power "
			         "only when every port of the hub is off",
			         plan->main.hub, plan->main.port);
	}
	find_peer(env, plan);

	if (port_disable_path(env, &plan->main, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "hub %s's name is too long", plan->main.hub);
		return POWER_E_NO_HUB;
	}
	if (!release && uname(&u) == 0)
		release = u.release;
	has_file = access(path, F_OK) == 0;
	switch (want) {
	case POWER_METHOD_SYSFS:
		if (!has_file) {
			snprintf(err, errlen, "no %s (Linux %s; the file came with 6.0)", path,
			         release ? release : "?");
			return POWER_E_METHOD;
		}
		plan->method = POWER_METHOD_SYSFS;
		break;
	case POWER_METHOD_HUBREQ:
		plan->method = POWER_METHOD_HUBREQ;
		break;
	default:
		plan->method = has_file && power_kernel_has_disable(release) ? POWER_METHOD_SYSFS
		                                                             : POWER_METHOD_HUBREQ;
		break;
	}
	(void)root;
	return POWER_OK;
}

static int sysfs_write_disable(const struct power_env *env, const struct power_port *p, bool on,
                               char *err, size_t errlen)
{
	char path[512];
	int fd, e;

	if (port_disable_path(env, p, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "hub %s's name is too long", p->hub);
		return POWER_E_NO_HUB;
	}
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC); /* as `echo 1 >` does */
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "%s: %s%s", path, strerror(e),
		         e == EACCES ? " (usblabd needs root to switch ports)" : "");
		return e == ENOENT ? POWER_E_NO_HUB : errno_to_power(e);
	}
	/* "1" disables: the kernel disconnects the device, then clears
	 * PORT_POWER (drivers/usb/core/port.c, disable_store). */
	if (write(fd, on ? "0" : "1", 1) != 1) {
		e = errno;
		close(fd);
		snprintf(err, errlen, "writing %s to %s: %s", on ? "0" : "1", path, strerror(e));
		return errno_to_power(e);
	}
	close(fd);
	return POWER_OK;
}

static int switch_one(const struct power_env *env, enum power_method m, const struct power_port *p,
                      bool on, char *err, size_t errlen)
{
	int rc;

	if (m == POWER_METHOD_SYSFS)
		return sysfs_write_disable(env, p, on, err, errlen);
	rc = env->io->port_power(env->io_ctx, p->hub, p->port, on);
	if (rc < 0) {
		snprintf(err, errlen, "%s_FEATURE(PORT_POWER) on hub %s port %u: %s%s",
		         on ? "SET" : "CLEAR", p->hub, p->port, strerror(-rc),
		         -rc == EACCES ? " (usblabd needs write access to the hub's usbfs node)"
		                       : "");
		return errno_to_power(-rc);
	}
	return POWER_OK;
}

int power_switch(const struct power_env *env, const struct power_plan *plan, bool on, char *err,
                 size_t errlen)
{
	char perr[256];
	int rc;

	err[0] = '\0';
	rc = switch_one(env, plan->method, &plan->main, on, err, errlen);
	if (rc != POWER_OK || !plan->have_peer)
		return rc;
	if (switch_one(env, plan->method, &plan->peer, on, perr, sizeof(perr)) != POWER_OK)
		snprintf(err, errlen, "the other half: %s", perr);
	return POWER_OK;
}

void power_plan_describe(const struct power_plan *plan, char *out, size_t cap)
{
	int n = snprintf(out, cap, "hub %s port %u", plan->main.hub, plan->main.port);

	if (n < 0 || (size_t)n >= cap)
		return;
	if (plan->main.have_desc)
		n += snprintf(out + n, cap - (size_t)n, " (%s)",
		              hubdesc_power_name(plan->main.desc.power));
	if (n < 0 || (size_t)n >= cap)
		return;
	if (plan->have_peer)
		snprintf(out + n, cap - (size_t)n, ", %s half %s port %u",
		         plan->peer.superspeed ? "USB3" : "USB2", plan->peer.hub, plan->peer.port);
}

/* ---- libusb ------------------------------------------------------------------------ */

struct power_libusb {
	libusb_context *usb;
	char root[256];
};

struct power_libusb *power_libusb_new(const char *sysfs_root)
{
	struct power_libusb *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	snprintf(p->root, sizeof(p->root), "%s", sysfs_root);
	return p;
}

void power_libusb_free(struct power_libusb *p)
{
	if (!p)
		return;
	if (p->usb)
		libusb_exit(p->usb);
	free(p);
}

static int libusb_errno(int r)
{
	switch (r) {
	case LIBUSB_ERROR_ACCESS:
		return -EACCES;
	case LIBUSB_ERROR_NO_DEVICE:
	case LIBUSB_ERROR_NOT_FOUND:
		return -ENODEV;
	case LIBUSB_ERROR_PIPE:
		return -EPIPE;
	case LIBUSB_ERROR_TIMEOUT:
		return -ETIMEDOUT;
	case LIBUSB_ERROR_NO_MEM:
		return -ENOMEM;
	default:
		return -EIO;
	}
}

/* Opens the hub whose sysfs name is hub (busnum and devnum from sysfs). */
static int open_hub(struct power_libusb *p, const char *hub, libusb_device_handle **out)
{
	char bus[16], dev[16];
	libusb_device **list;
	ssize_t n;
	int r = LIBUSB_ERROR_NOT_FOUND;

	*out = NULL;
	if (!p->usb && (r = libusb_init(&p->usb)) < 0) {
		p->usb = NULL;
		return libusb_errno(r);
	}
	r = LIBUSB_ERROR_NOT_FOUND;
	if (sysfs_read(p->root, hub, "busnum", bus, sizeof(bus)) < 0 ||
	    sysfs_read(p->root, hub, "devnum", dev, sizeof(dev)) < 0)
		return -ENODEV;
	n = libusb_get_device_list(p->usb, &list);
	if (n < 0)
		return libusb_errno((int)n);
	for (ssize_t i = 0; i < n; i++) {
		if (libusb_get_bus_number(list[i]) == atoi(bus) &&
		    libusb_get_device_address(list[i]) == atoi(dev)) {
			r = libusb_open(list[i], out);
			break;
		}
	}
	libusb_free_device_list(list, 1);
	return r < 0 ? libusb_errno(r) : 0;
}

static int lu_hub_descriptor(void *ctx, const char *hub, uint8_t type, uint8_t *buf, size_t cap)
{
	libusb_device_handle *h;
	int r = open_hub(ctx, hub, &h);

	if (r < 0)
		return r;
	/* GetHubDescriptor: device-to-host, class, device (USB 2.0 §11.24.2.5). */
	r = libusb_control_transfer(h, 0xa0, LIBUSB_REQUEST_GET_DESCRIPTOR, (uint16_t)(type << 8),
	                            0, buf, (uint16_t)(cap > 0xffff ? 0xffff : cap),
	                            POWER_CTRL_TIMEOUT_MS);
	libusb_close(h);
	return r < 0 ? libusb_errno(r) : r;
}

static int lu_bos(void *ctx, const char *hub, uint8_t *buf, size_t cap)
{
	libusb_device_handle *h;
	int r = open_hub(ctx, hub, &h);

	if (r < 0)
		return r;
	r = libusb_get_descriptor(h, LIBUSB_DT_BOS, 0, buf, (int)cap);
	libusb_close(h);
	return r < 0 ? libusb_errno(r) : r;
}

static int lu_port_power(void *ctx, const char *hub, unsigned port, bool on)
{
	libusb_device_handle *h;
	int r = open_hub(ctx, hub, &h);

	if (r < 0)
		return r;
	r = libusb_control_transfer(
	        h, HUBDESC_REQTYPE_PORT, on ? HUBDESC_REQ_SET_FEATURE : HUBDESC_REQ_CLEAR_FEATURE,
	        HUBDESC_FEAT_PORT_POWER, (uint16_t)port, NULL, 0, POWER_CTRL_TIMEOUT_MS);
	libusb_close(h);
	return r < 0 ? libusb_errno(r) : 0;
}

const struct power_io power_io_libusb = {
        .hub_descriptor = lu_hub_descriptor,
        .bos = lu_bos,
        .port_power = lu_port_power,
};
