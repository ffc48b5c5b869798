/* SPDX-License-Identifier: MIT */
/*
 * test_usbdev_sysfs.c - the libusb backend's sysfs reader on a tree built
 * like Linux's (formats as the lab's Debian 6.1 guest shows them): the
 * device scan used without udevd, vhci_hcd detection (a device imported
 * through vhci must never be exported again), attributes, descriptors,
 * configuration and alternate setting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <libusb.h>

#include "usbdev_sysfs.h"

#define PCI  "devices/pci0000:00/0000:00:02.0"
#define VHCI "devices/platform/vhci_hcd.0"

/* The head of the lab stick's descriptors (device descriptor + config). */
static const uint8_t stick_desc[] = {
        0x12, 0x01, 0x00, 0x03, 0x00, 0x00, 0x00, 0x09, 0xf4, 0x46, 0x01, 0x00, 0x00, 0x00,
        0x01, 0x02, 0x03, 0x01, 0x09, 0x02, 0x09, 0x00, 0x00, 0x01, 0x06, 0xc0, 0x00,
};

struct tree {
	char root[64];
};

static void mkdirs(const char *root, const char *rel)
{
	char path[512], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void put(const char *root, const char *dir, const char *name, const void *data, size_t len)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", root, dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	fclose(f);
}

static void put_text(const char *root, const char *dir, const char *name, const char *text)
{
	put(root, dir, name, text, strlen(text));
}

/* A device directory with the attributes the scan reads. */
static void device(const char *root, const char *dir, const char *busnum, const char *devnum,
                   const char *vid, const char *pid, const char *cls, const char *speed,
                   const char *serial)
{
	mkdirs(root, dir);
	put_text(root, dir, "busnum", busnum);
	put_text(root, dir, "devnum", devnum);
	put_text(root, dir, "idVendor", vid);
	put_text(root, dir, "idProduct", pid);
	put_text(root, dir, "bDeviceClass", cls);
	put_text(root, dir, "speed", speed);
	if (serial)
		put_text(root, dir, "serial", serial);
}

static void link_dev(const char *root, const char *name, const char *target)
{
	char path[512], to[512];

	snprintf(path, sizeof(path), "%s/bus/usb/devices/%s", root, name);
	snprintf(to, sizeof(to), "../../../%s", target);
	assert_int_equal(symlink(to, path), 0);
}

static int tree_setup(void **state)
{
	static struct tree t;
	const char *r = t.root;
	char fifo[256];

	strcpy(t.root, "/tmp/usbdev-sysfs-XXXXXX");
	if (mkdtemp(t.root) == NULL)
		return -1;
	mkdirs(r, "bus/usb/devices");
	/* Root hubs. */
	device(r, PCI "/usb1", "1\n", "1\n", "1d6b\n", "0002\n", "09\n", "480\n", NULL);
	device(r, PCI "/usb2", "2\n", "1\n", "1d6b\n", "0003\n", "09\n", "5000\n", NULL);
	device(r, VHCI "/usb3", "3\n", "1\n", "1d6b\n", "0002\n", "09\n", "480\n", NULL);
	/* The lab stick on 2-1, configured, interface 0 at alternate 1. */
	device(r, PCI "/usb2/2-1", "2\n", "4\n", "46f4\n", "0001\n", "00\n", "5000\n", "LABSER1\n");
	put_text(r, PCI "/usb2/2-1", "bConfigurationValue", "1\n");
	put_text(r, PCI "/usb2/2-1", "manufacturer", "QEMU\n");
	put(r, PCI "/usb2/2-1", "descriptors", stick_desc, sizeof(stick_desc));
	mkdirs(r, PCI "/usb2/2-1/2-1:1.0");
	put_text(r, PCI "/usb2/2-1/2-1:1.0", "bAlternateSetting", " 1\n");
	/* A hub on 1-2 and, behind it, a low-speed device without serial that
	 * is not configured yet (the kernel shows an empty value). */
	device(r, PCI "/usb1/1-2", "1\n", "2\n", "05e3\n", "0608\n", "09\n", "480\n", NULL);
	device(r, PCI "/usb1/1-2/1-2.3", "1\n", "5\n", "046d\n", "c077\n", "00\n", "1.5\n", NULL);
	put_text(r, PCI "/usb1/1-2/1-2.3", "bConfigurationValue", "\n");
	/* The stick imported back through vhci: vhci's bus. Its serial is a
	 * FIFO without writer: opening it blocks, as reading the string of an
	 * imported device blocks on its lock while vhci waits for us. */
	device(r, VHCI "/usb3/3-1", "3\n", "2\n", "46f4\n", "0001\n", "00\n", "5000\n", NULL);
	snprintf(fifo, sizeof(fifo), "%s/" VHCI "/usb3/3-1/serial", r);
	if (mkfifo(fifo, 0644) != 0)
		return -1;
	/* A half-gone device: its attributes are missing. */
	mkdirs(r, PCI "/usb2/2-9");
	link_dev(r, "usb1", PCI "/usb1");
	link_dev(r, "usb2", PCI "/usb2");
	link_dev(r, "usb3", VHCI "/usb3");
	link_dev(r, "2-1", PCI "/usb2/2-1");
	link_dev(r, "2-1:1.0", PCI "/usb2/2-1/2-1:1.0");
	link_dev(r, "1-2", PCI "/usb1/1-2");
	link_dev(r, "1-2.3", PCI "/usb1/1-2/1-2.3");
	link_dev(r, "3-1", VHCI "/usb3/3-1");
	link_dev(r, "2-9", PCI "/usb2/2-9");
	*state = &t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->root);
	return system(cmd) == 0 ? 0 : -1;
}

struct seen {
	struct usbdev_facts f[16];
	int n;
};

static int collect(const struct usbdev_facts *f, void *arg)
{
	struct seen *s = arg;

	assert_true(s->n < 16);
	s->f[s->n++] = *f;
	return 0;
}

static const struct usbdev_facts *find(const struct seen *s, const char *busid)
{
	for (int i = 0; i < s->n; i++) {
		if (strcmp(s->f[i].busid, busid) == 0)
			return &s->f[i];
	}
	return NULL;
}

static void test_scan(void **state)
{
	struct tree *t = *state;
	const struct usbdev_facts *f;
	struct seen s = {.n = 0};

	assert_int_equal(usbdev_sysfs_scan(t->root, collect, &s), 0);
	/* Devices only: no root hub, no interface, not the half-gone 2-9. */
	assert_int_equal(s.n, 4);
	assert_null(find(&s, "usb1"));
	assert_null(find(&s, "2-1:1.0"));
	assert_null(find(&s, "2-9"));

	f = find(&s, "2-1");
	assert_non_null(f);
	assert_int_equal(f->busnum, 2);
	assert_int_equal(f->devnum, 4);
	assert_int_equal(f->nports, 1);
	assert_int_equal(f->ports[0], 1);
	assert_int_equal(f->vid, 0x46f4);
	assert_int_equal(f->pid, 0x0001);
	assert_int_equal(f->dev_class, 0);
	assert_int_equal(f->speed, LIBUSB_SPEED_SUPER);
	assert_string_equal(f->serial, "LABSER1");
	assert_false(f->on_vhci);

	f = find(&s, "1-2.3");
	assert_non_null(f);
	assert_int_equal(f->nports, 2);
	assert_int_equal(f->ports[0], 2);
	assert_int_equal(f->ports[1], 3);
	assert_int_equal(f->speed, LIBUSB_SPEED_LOW);
	assert_string_equal(f->serial, "");

	f = find(&s, "1-2");
	assert_non_null(f);
	assert_int_equal(f->dev_class, 0x09);

	/* The imported copy: found, marked as being on vhci, its serial not
	 * read (the scan would hang on the FIFO). */
	f = find(&s, "3-1");
	assert_non_null(f);
	assert_string_equal(f->serial, "");
	assert_true(f->on_vhci);
}

static void test_strings_of_vhci_devices(void **state)
{
	struct tree *t = *state;
	struct usbdev_facts f;
	char buf[32];

	memset(&f, 0, sizeof(f));
	strcpy(f.busid, "2-1");
	assert_int_equal(usbdev_sysfs_string(t->root, &f, "serial", buf, sizeof(buf)), 7);
	assert_string_equal(buf, "LABSER1");
	/* Same device name on a vhci bus: never opened (it would hang). */
	strcpy(f.busid, "3-1");
	f.on_vhci = true;
	assert_int_equal(usbdev_sysfs_string(t->root, &f, "serial", buf, sizeof(buf)), -1);
	assert_string_equal(buf, "");
}

static int stop_at_second(const struct usbdev_facts *f, void *arg)
{
	int *calls = arg;

	(void)f;
	return ++*calls == 2 ? 7 : 0;
}

static void test_scan_stop_and_missing(void **state)
{
	struct tree *t = *state;
	char missing[128];
	int calls = 0;

	assert_int_equal(usbdev_sysfs_scan(t->root, stop_at_second, &calls), 7);
	assert_int_equal(calls, 2);
	snprintf(missing, sizeof(missing), "%s/nothing", t->root);
	assert_int_equal(usbdev_sysfs_scan(missing, stop_at_second, &calls), -1);
}

static void test_vhci(void **state)
{
	struct tree *t = *state;

	assert_false(usbdev_sysfs_bus_is_vhci(t->root, 1));
	assert_false(usbdev_sysfs_bus_is_vhci(t->root, 2));
	assert_true(usbdev_sysfs_bus_is_vhci(t->root, 3));
	assert_false(usbdev_sysfs_bus_is_vhci(t->root, 9)); /* no such bus */
}

static void test_attributes(void **state)
{
	struct tree *t = *state;
	char buf[32], small[4];

	assert_int_equal(usbdev_sysfs_attr(t->root, "2-1", "manufacturer", buf, sizeof(buf)), 4);
	assert_string_equal(buf, "QEMU");
	assert_int_equal(usbdev_sysfs_attr(t->root, "2-1", "product", buf, sizeof(buf)), -1);
	assert_string_equal(buf, "");
	/* Cut to the buffer, always terminated. */
	assert_int_equal(usbdev_sysfs_attr(t->root, "2-1", "serial", small, sizeof(small)), 3);
	assert_string_equal(small, "LAB");

	assert_int_equal(usbdev_sysfs_config(t->root, "2-1"), 1);
	assert_int_equal(usbdev_sysfs_config(t->root, "1-2.3"), 0);
	assert_int_equal(usbdev_sysfs_config(t->root, "1-2"), -1);
	assert_int_equal(usbdev_sysfs_alt(t->root, "2-1", 1, 0), 1);
	assert_int_equal(usbdev_sysfs_alt(t->root, "2-1", 1, 1), -1);
	assert_int_equal(usbdev_sysfs_alt(t->root, "2-1", 2, 0), -1);
}

static void test_descriptors(void **state)
{
	struct tree *t = *state;
	uint8_t *blob = NULL;
	long n;

	n = usbdev_sysfs_descriptors(t->root, "2-1", &blob);
	assert_int_equal(n, sizeof(stick_desc));
	assert_memory_equal(blob, stick_desc, sizeof(stick_desc));
	free(blob);
	assert_int_equal(usbdev_sysfs_descriptors(t->root, "1-2", &blob), -1);
	assert_null(blob);
}

static void test_path(void **state)
{
	struct tree *t = *state;
	char buf[USBIP_PATH_SIZE], want[PATH_MAX + 64], real_root[PATH_MAX];

	/* The real device path, as usbipd reports it. */
	assert_non_null(realpath(t->root, real_root));
	snprintf(want, sizeof(want), "%s/" PCI "/usb2/2-1", real_root);
	usbdev_sysfs_path(t->root, "2-1", buf, sizeof(buf));
	assert_string_equal(buf, want);
	/* Unresolvable: the link's own path. */
	snprintf(want, sizeof(want), "%s/bus/usb/devices/7-7", t->root);
	usbdev_sysfs_path(t->root, "7-7", buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void test_speed(void **state)
{
	(void)state;
	assert_int_equal(usbdev_sysfs_speed("1.5"), LIBUSB_SPEED_LOW);
	assert_int_equal(usbdev_sysfs_speed("12"), LIBUSB_SPEED_FULL);
	assert_int_equal(usbdev_sysfs_speed("480"), LIBUSB_SPEED_HIGH);
	assert_int_equal(usbdev_sysfs_speed("5000"), LIBUSB_SPEED_SUPER);
	assert_int_equal(usbdev_sysfs_speed("10000"), LIBUSB_SPEED_SUPER_PLUS);
	assert_int_equal(usbdev_sysfs_speed("20000"), LIBUSB_SPEED_SUPER_PLUS);
	assert_int_equal(usbdev_sysfs_speed("53.3-480"), LIBUSB_SPEED_UNKNOWN);
	assert_int_equal(usbdev_sysfs_speed(""), LIBUSB_SPEED_UNKNOWN);
	assert_int_equal(usbdev_sysfs_speed("unknown"), LIBUSB_SPEED_UNKNOWN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_scan),        cmocka_unit_test(test_scan_stop_and_missing),
	        cmocka_unit_test(test_vhci),        cmocka_unit_test(test_attributes),
	        cmocka_unit_test(test_descriptors), cmocka_unit_test(test_path),
	        cmocka_unit_test(test_speed),       cmocka_unit_test(test_strings_of_vhci_devices),
	};

	/* A regression that opens the FIFO hangs: make it fail instead. */
	alarm(20);
	return cmocka_run_group_tests_name("usbdev-sysfs", tests, tree_setup, tree_teardown);
}
