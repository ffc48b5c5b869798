/* SPDX-License-Identifier: MIT */
/*
 * test_devfiles.c - device files of a USB device over a fake sysfs tree
 * laid out as the kernel lays it out (a CDC-ACM, a mass-storage disk with
 * a partition, a HID keyboard with hidraw and input event nodes), driver
 * binding, the per-board symlinks and the attach records.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "attach_record.h"
#include "devfiles.h"
#include "testfs.h"

/* The fake tree lives under a short /tmp name: the PATH_MAX buffers never
 * truncate, whatever GCC's range analysis fears. */
#pragma GCC diagnostic ignored "-Wformat-truncation"

struct fake {
	char root[64]; /* the fake /sys */
	char run[80];  /* the fake /run/usblab */
};

static void mkdirs(const char *root, const char *rel)
{
	char path[PATH_MAX], *p;

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	for (p = path + strlen(root) + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		mkdir(path, 0755);
		*p = '/';
	}
	mkdir(path, 0755);
}

static void link_to(const char *root, const char *rel, const char *target)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	assert_int_equal(symlink(target, path), 0);
}

/* A class device: its directory, its uevent and its subsystem link (only
 * the link's last component counts: the class). */
static void class_dev(const char *root, const char *rel, const char *cls, const char *uevent)
{
	char sub[PATH_MAX], target[64];

	mkdirs(root, rel);
	snprintf(sub, sizeof(sub), "%s/uevent", rel);
	testfs_put(root, sub, uevent);
	snprintf(sub, sizeof(sub), "%s/subsystem", rel);
	snprintf(target, sizeof(target), "../../../../class/%s", cls);
	link_to(root, sub, target);
}

#define DEV3 "devices/platform/vhci_hcd.0/usb3/3-1"
#define DEV4 "devices/platform/vhci_hcd.0/usb4/4-1"

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	char rel[PATH_MAX];

	snprintf(f->root, sizeof(f->root), "/tmp/test-devfiles-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	snprintf(f->run, sizeof(f->run), "%s/run", f->root);
	mkdirs(f->root, "bus/usb/devices");
	mkdirs(f->root, "bus/usb/drivers/cdc_acm");
	mkdirs(f->root, "bus/usb/drivers/usb-storage");
	mkdirs(f->root, "bus/usb/drivers/usbhid");

	/* 3-1: a composite CDC-ACM + HID keyboard on the hs root hub. */
	mkdirs(f->root, DEV3);
	testfs_put(f->root, DEV3 "/uevent",
	           "MAJOR=189\nMINOR=257\nDEVNAME=bus/usb/003/002\n"
	           "DEVTYPE=usb_device\n");
	link_to(f->root, "bus/usb/devices/3-1", "../../../" DEV3);
	mkdirs(f->root, DEV3 "/3-1:1.0");
	mkdirs(f->root, DEV3 "/3-1:1.1");
	mkdirs(f->root, DEV3 "/3-1:1.2");
	link_to(f->root, DEV3 "/3-1:1.0/driver", "../../../../../../bus/usb/drivers/cdc_acm");
	link_to(f->root, DEV3 "/3-1:1.1/driver", "../../../../../../bus/usb/drivers/cdc_acm");
	class_dev(f->root, DEV3 "/3-1:1.0/tty/ttyACM0", "tty",
	          "MAJOR=166\nMINOR=0\nDEVNAME=ttyACM0\n");
	class_dev(f->root, DEV3 "/3-1:1.2/0003:1209:0002.0001/hidraw/hidraw2", "hidraw",
	          "MAJOR=240\nMINOR=2\nDEVNAME=hidraw2\n");
	class_dev(f->root, DEV3 "/3-1:1.2/0003:1209:0002.0001/input/input5", "input",
	          "PRODUCT=3/1209/2/110\nNAME=\"usblab keyboard\"\n");
	class_dev(f->root, DEV3 "/3-1:1.2/0003:1209:0002.0001/input/input5/event5", "input",
	          "MAJOR=13\nMINOR=69\nDEVNAME=input/event5\n");
	class_dev(f->root, DEV3 "/3-1:1.2/0003:1209:0002.0001/input/input5/mouse1", "input",
	          "MAJOR=13\nMINOR=33\nDEVNAME=input/mouse1\n");
	/* Symlinks inside sysfs lead back up; the walk must not follow them. */
	link_to(f->root, DEV3 "/3-1:1.0/port", "../..");

	/* 4-1: a SuperSpeed stick, usb-storage, disk sdb with partition sdb1. */
	mkdirs(f->root, DEV4);
	testfs_put(f->root, DEV4 "/uevent", "DEVNAME=bus/usb/004/002\nDEVTYPE=usb_device\n");
	link_to(f->root, "bus/usb/devices/4-1", "../../../" DEV4);
	mkdirs(f->root, DEV4 "/4-1:1.0");
	link_to(f->root, DEV4 "/4-1:1.0/driver", "../../../../../../bus/usb/drivers/usb-storage");
	snprintf(rel, sizeof(rel), "%s", DEV4 "/4-1:1.0/host5/target5:0:0/5:0:0:0/block/sdb");
	class_dev(f->root, rel, "block", "MAJOR=8\nMINOR=16\nDEVNAME=sdb\nDEVTYPE=disk\n");
	class_dev(f->root, DEV4 "/4-1:1.0/host5/target5:0:0/5:0:0:0/block/sdb/sdb1", "block",
	          "MAJOR=8\nMINOR=17\nDEVNAME=sdb1\nDEVTYPE=partition\n");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;
	char cmd[200];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void finds_composite(void **state)
{
	struct fake *f = *state;
	struct devfile out[DEVFILES_MAX];

	/* Sorted walk: interface 1.0 (tty) before 1.2 (hidraw, then input,
	 * since "hidraw" < "input"); input/mouse1 is not an event node. */
	assert_int_equal(devfiles_find(f->root, "3-1", out, DEVFILES_MAX), 3);
	assert_int_equal(out[0].kind, DEVFILE_TTY);
	assert_string_equal(out[0].path, "/dev/ttyACM0");
	assert_int_equal(out[1].kind, DEVFILE_HIDRAW);
	assert_string_equal(out[1].path, "/dev/hidraw2");
	assert_int_equal(out[2].kind, DEVFILE_INPUT);
	assert_string_equal(out[2].path, "/dev/input/event5");
}

static void finds_disk_not_partition(void **state)
{
	struct fake *f = *state;
	struct devfile out[DEVFILES_MAX];

	assert_int_equal(devfiles_find(f->root, "4-1", out, DEVFILES_MAX), 1);
	assert_int_equal(out[0].kind, DEVFILE_DISK);
	assert_string_equal(out[0].path, "/dev/sdb");
}

static void counts_beyond_max_and_absent(void **state)
{
	struct fake *f = *state;
	struct devfile out[1];

	assert_int_equal(devfiles_find(f->root, "3-1", out, 1), 3);
	assert_string_equal(out[0].path, "/dev/ttyACM0");
	assert_int_equal(devfiles_find(f->root, "3-9", out, 1), -1);
}

static void binding(void **state)
{
	struct fake *f = *state;
	struct devfiles_binding b;

	assert_int_equal(devfiles_binding(f->root, "3-1", &b), 0);
	assert_true(b.present);
	assert_true(b.configured);
	assert_int_equal(b.nintf, 3);
	assert_int_equal(b.nbound, 2); /* 1.2 has no driver link */
	assert_false(b.storage);
	assert_int_equal(devfiles_binding(f->root, "4-1", &b), 0);
	assert_true(b.storage);
	assert_int_equal(b.nbound, 1);
	assert_int_equal(devfiles_binding(f->root, "5-1", &b), 0);
	assert_false(b.present);
}

static void link_names(void **state)
{
	struct devfile files[] = {
	        {DEVFILE_TTY, "/dev/ttyACM0"},     {DEVFILE_TTY, "/dev/ttyACM1"},
	        {DEVFILE_HIDRAW, "/dev/hidraw2"},  {DEVFILE_TTY, "/dev/ttyUSB0"},
	        {DEVFILE_INPUT, "/dev/input/ev5"}, {DEVFILE_DISK, "/dev/sdb"},
	};
	char names[6][16];

	(void)state;
	devfiles_link_names(files, 6, names);
	assert_string_equal(names[0], "tty");
	assert_string_equal(names[1], "tty1");
	assert_string_equal(names[2], "hidraw");
	assert_string_equal(names[3], "tty2");
	assert_string_equal(names[4], "input");
	assert_string_equal(names[5], "disk");
	assert_true(devfiles_link_dir_ok("esp-a"));
	assert_true(devfiles_link_dir_ok("2-1"));
	assert_false(devfiles_link_dir_ok(""));
	assert_false(devfiles_link_dir_ok(".."));
	assert_false(devfiles_link_dir_ok("a/b"));
	assert_false(devfiles_link_dir_ok("attached"));
	assert_false(devfiles_link_dir_ok("usblabd.sock"));
}

static void read_link(const char *dir, const char *name, char *out, size_t cap)
{
	char path[PATH_MAX];
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	n = readlink(path, out, cap - 1);
	out[n < 0 ? 0 : n] = 0;
}

static void links_update_and_remove(void **state)
{
	struct fake *f = *state;
	struct devfile first[] = {{DEVFILE_TTY, "/dev/ttyACM0"}, {DEVFILE_DISK, "/dev/sdb"}};
	struct devfile second[] = {{DEVFILE_TTY, "/dev/ttyACM3"}};
	char dir[PATH_MAX], got[64], keep[PATH_MAX];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/esp-a", f->run);
	assert_int_equal(devfiles_links_update(f->run, "esp-a", first, 2), 0);
	read_link(dir, "tty", got, sizeof(got));
	assert_string_equal(got, "/dev/ttyACM0");
	read_link(dir, "disk", got, sizeof(got));
	assert_string_equal(got, "/dev/sdb");
	/* A re-attach: the tty moved, the disk is gone, and a person's
	 * file in the directory stays. */
	snprintf(keep, sizeof(keep), "%s/notes.txt", dir);
	testfs_put("/", keep + 1, "mine\n");
	assert_int_equal(devfiles_links_update(f->run, "esp-a", second, 1), 0);
	read_link(dir, "tty", got, sizeof(got));
	assert_string_equal(got, "/dev/ttyACM3");
	snprintf(keep, sizeof(keep), "%s/disk", dir);
	assert_int_equal(lstat(keep, &st), -1);
	snprintf(keep, sizeof(keep), "%s/notes.txt", dir);
	assert_int_equal(stat(keep, &st), 0);
	/* remove: the links go; the directory stays while it holds a file. */
	assert_int_equal(devfiles_links_remove(f->run, "esp-a"), -ENOTEMPTY);
	unlink(keep);
	assert_int_equal(devfiles_links_update(f->run, "esp-a", second, 1), 0);
	assert_int_equal(devfiles_links_remove(f->run, "esp-a"), 0);
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(devfiles_links_remove(f->run, "esp-a"), -ENOENT);
	assert_int_equal(devfiles_links_update(f->run, "../x", second, 1), -EINVAL);
}

static void wait_for_files(void **state)
{
	struct fake *f = *state;
	struct devfile out[DEVFILES_MAX];
	uint64_t t0;
	int n;

	/* Every interface bound and the disk there: settled after 300 ms. */
	t0 = attach_now_ms();
	assert_int_equal(attach_wait_devfiles(f->root, "4-1", 5000, out, DEVFILES_MAX), 1);
	assert_string_equal(out[0].path, "/dev/sdb");
	assert_in_range(attach_now_ms() - t0, 300, 1500);
	/* An interface no driver took (3-1:1.2): 2 s of quiet. */
	t0 = attach_now_ms();
	assert_int_equal(attach_wait_devfiles(f->root, "3-1", 5000, out, DEVFILES_MAX), 3);
	assert_in_range(attach_now_ms() - t0, 2000, 3500);
	/* usb-storage bound but no disk yet: wait for it, up to the limit. */
	mkdirs(f->root, "devices/platform/vhci_hcd.0/usb4/4-2/4-2:1.0");
	link_to(f->root, "bus/usb/devices/4-2", "../../../devices/platform/vhci_hcd.0/usb4/4-2");
	link_to(f->root, "devices/platform/vhci_hcd.0/usb4/4-2/4-2:1.0/driver",
	        "../../../../../../bus/usb/drivers/usb-storage");
	t0 = attach_now_ms();
	n = attach_wait_devfiles(f->root, "4-2", 2500, out, DEVFILES_MAX);
	assert_int_equal(n, 0);
	assert_in_range(attach_now_ms() - t0, 2500, 4000);
	/* A device that never reaches sysfs. */
	assert_int_equal(attach_wait_devfiles(f->root, "9-9", 200, out, DEVFILES_MAX),
	                 ATTACH_E_GONE);
}

static void records(void **state)
{
	struct fake *f = *state;
	struct attach_record r = {0}, back, all[4];

	r.port = 15;
	snprintf(r.host, sizeof(r.host), "bench1");
	snprintf(r.tcp_port, sizeof(r.tcp_port), "3240");
	snprintf(r.name, sizeof(r.name), "stick");
	snprintf(r.lbusid, sizeof(r.lbusid), "4-1");
	snprintf(r.since, sizeof(r.since), "2026-12-03T14:00:00.000Z");
	r.vid = 0x46f4;
	r.pid = 0x0001;
	r.speed = 5;
	r.follow_pid = 4242;
	r.nfiles = 2;
	r.files[0] = (struct devfile){DEVFILE_DISK, "/dev/sdb"};
	r.files[1] = (struct devfile){DEVFILE_INPUT, "/dev/input/event5"};
	assert_int_equal(attach_record_save(f->run, &r), 0);
	r.port = 3;
	snprintf(r.name, sizeof(r.name), "cdc");
	assert_int_equal(attach_record_save(f->run, &r), 0);
	assert_int_equal(attach_record_load(f->run, 15, &back), 0);
	assert_string_equal(back.name, "stick");
	assert_string_equal(back.lbusid, "4-1");
	assert_int_equal(back.vid, 0x46f4);
	assert_int_equal(back.speed, 5);
	assert_int_equal(back.follow_pid, 4242);
	assert_int_equal(back.nfiles, 2);
	assert_int_equal(back.files[0].kind, DEVFILE_DISK);
	assert_int_equal(back.files[1].kind, DEVFILE_INPUT);
	assert_string_equal(back.files[1].path, "/dev/input/event5");
	/* Listed by port, whatever the directory order. */
	assert_int_equal(attach_record_list(f->run, all, 4), 2);
	assert_int_equal(all[0].port, 3);
	assert_int_equal(all[1].port, 15);
	assert_int_equal(attach_record_remove(f->run, 3), 0);
	assert_int_equal(attach_record_load(f->run, 3, &back), -ENOENT);
	/* A damaged file is refused, not half-read. */
	{
		char rel[PATH_MAX];

		snprintf(rel, sizeof(rel), "%s/attached/7.json", f->run + 1);
		testfs_put("/", rel, "{\"port\":7,\"host\":");
		assert_int_equal(attach_record_load(f->run, 7, &back), -EINVAL);
		testfs_put("/", rel, "{\"port\":7}");
		assert_int_equal(attach_record_load(f->run, 7, &back), -EINVAL);
	}
	assert_int_equal(attach_record_list(f->run, all, 4), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(finds_composite),
	        cmocka_unit_test(finds_disk_not_partition),
	        cmocka_unit_test(counts_beyond_max_and_absent),
	        cmocka_unit_test(binding),
	        cmocka_unit_test(link_names),
	        cmocka_unit_test(links_update_and_remove),
	        cmocka_unit_test(wait_for_files),
	        cmocka_unit_test(records),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
