/* SPDX-License-Identifier: MIT */
/*
 * test_insight_unit.c - the USB Insight Hub driver in process: which channel
 * a port path is on, and the frames a tracker's boards make on a pty.
 */
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "insight.h"
#include "tracker.h"

static void test_channel(void **state)
{
	(void)state;
	assert_int_equal(insight_channel("20-3", "20-3.1"), 1);
	assert_int_equal(insight_channel("20-3", "20-3.1.2"), 1);
	assert_int_equal(insight_channel("20-3", "20-3.3.1.2"), 3);
	assert_int_equal(insight_channel("20-3", "20-3.2"), 2);
	assert_int_equal(insight_channel("20-3", "20-3.4"), 0);  /* the controller */
	assert_int_equal(insight_channel("20-3", "20-3"), 0);    /* the hub itself */
	assert_int_equal(insight_channel("20-3", "20-31.1"), 0); /* another hub */
	assert_int_equal(insight_channel("20-3", "20-4.1"), 0);
	assert_int_equal(insight_channel("20-3", "1-3.1"), 0);
	assert_int_equal(insight_channel("20-3", ""), 0);
	assert_int_equal(insight_channel("0", "0-1"), 1);
	assert_int_equal(insight_channel("0", "0-3"), 3);
	assert_int_equal(insight_channel("0", "10-1"), 0);
	assert_int_equal(insight_channel("0", "0-"), 0);
	assert_int_equal(insight_channel("0", "0-99999999999"), 0);
}

/* Runs the loop briefly and returns what the pty's master got. */
static size_t drain(struct event_base *base, int master, char *buf, size_t cap)
{
	size_t len = 0;

	for (int i = 0; i < 20; i++) {
		struct timeval tv = {0, 10000};
		struct pollfd p = {.fd = master, .events = POLLIN};
		ssize_t n;

		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
		while (poll(&p, 1, 0) == 1 && (n = read(master, buf + len, cap - 1 - len)) > 0)
			len += (size_t)n;
	}
	buf[len] = 0;
	return len;
}

/* Writes text to root/rel, making its directories. */
static void put(const char *root, const char *rel, const char *text)
{
	char path[512];

	for (const char *p = rel; (p = strchr(p, '/')); p++) {
		snprintf(path, sizeof(path), "%s/%.*s", root, (int)(p - rel), rel);
		mkdir(path, 0700);
	}
	snprintf(path, sizeof(path), "%s/%s", root, rel);
	if (text) {
		FILE *f = fopen(path, "w");

		assert_non_null(f);
		fputs(text, f);
		fclose(f);
	} else {
		mkdir(path, 0700);
	}
}

/* Auto-detection over a made-up sysfs: by product string only, the hub's
 * location from the controller's, its tty from the interface's tty/ (in
 * sysfs, bus/usb/devices/BUSID links to the device's directory, where its
 * interfaces' directories are). */
static void test_find(void **state)
{
	char root[] = "/tmp/insight-sysfs-XXXXXX", tty[256], loc[64];

	(void)state;
	assert_non_null(mkdtemp(root));
	put(root, "bus/usb/devices/usb1/product", "xHCI Host Controller\n");
	put(root, "bus/usb/devices/1-2/product", "USB2.0 Hub\n");
	/* An ESP32-S3 board has the controller's VID:PID but not its name. */
	put(root, "bus/usb/devices/1-2.1/product", "USB JTAG/serial debug unit\n");
	put(root, "bus/usb/devices/1-2.1/1-2.1:1.0/tty/ttyACM0", NULL);
	assert_int_equal(insight_find(root, "/dev", tty, sizeof(tty), loc, sizeof(loc)), -1);
	assert_int_equal(insight_find("/nonexistent", "/dev", tty, sizeof(tty), loc, sizeof(loc)),
	                 -1);

	/* Enumerated, its tty not bound yet. */
	put(root, "bus/usb/devices/20-3.3.4/product", INSIGHT_PRODUCT "\n");
	assert_int_equal(insight_find(root, "/dev", tty, sizeof(tty), loc, sizeof(loc)), 1);
	put(root, "bus/usb/devices/20-3.3.4/20-3.3.4:1.0/tty/ttyACM3", NULL);
	assert_int_equal(insight_find(root, "/dev", tty, sizeof(tty), loc, sizeof(loc)), 0);
	assert_string_equal(tty, "/dev/ttyACM3");
	assert_string_equal(loc, "20-3.3");
	/* The board on the hub's port 1 is CH1 of that location. */
	assert_int_equal(insight_channel(loc, "20-3.3.1"), 1);

	/* A device imported through vhci-hcd here is never read (its string
	 * attributes wait for its device lock while it enumerates). */
	{
		char cmd[1024], vdir[300], link[300];

		snprintf(vdir, sizeof(vdir), "%s/devices/platform/vhci_hcd.0/usb3/3-1", root);
		snprintf(link, sizeof(link), "%s/bus/usb/devices/3-1", root);
		snprintf(cmd, sizeof(cmd),
		         "mkdir -p '%s/3-1:1.0/tty/ttyACM9' && echo '%s' >'%s/product'", vdir,
		         INSIGHT_PRODUCT, vdir);
		assert_int_equal(system(cmd), 0);
		assert_int_equal(symlink(vdir, link), 0);
		put(root, "bus/usb/devices/20-3.3.4/product", "USB2.0 Hub\n");
		assert_int_equal(insight_find(root, "/dev", tty, sizeof(tty), loc, sizeof(loc)),
		                 -1);
		assert_int_equal(unlink(link), 0);
		put(root, "bus/usb/devices/20-3.3.4/product", INSIGHT_PRODUCT "\n");
		assert_int_equal(insight_find(root, "/dev", tty, sizeof(tty), loc, sizeof(loc)), 0);
	}

	/* A product string that only starts the same is someone else's. */
	put(root, "bus/usb/devices/20-3.3.4/product", INSIGHT_PRODUCT " 2\n");
	assert_int_equal(insight_find(root, "/dev", tty, sizeof(tty), loc, sizeof(loc)), -1);
	/* A location too long for the buffer is not found, not cut. */
	put(root, "bus/usb/devices/20-3.3.4/product", INSIGHT_PRODUCT);
	assert_int_equal(insight_find(root, "/dev", tty, sizeof(tty), loc, 4), -1);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
		assert_int_equal(system(cmd), 0);
	}
}

static void test_frames(void **state)
{
	struct event_base *base = event_base_new();
	struct tracker *t = tracker_new(NULL, NULL, NULL);
	struct ul_devfacts dev = {.vid = 0x303a, .pid = 0x1001};
	struct insight *in = NULL;
	static char buf[65536];
	char err[256], name[64], *ch3;
	int master, slave;

	(void)state;
	assert_non_null(base);
	assert_non_null(t);
	assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
	assert_int_equal(insight_start(&in, base, t, name, "20-3", err, sizeof(err)), 0);
	drain(base, master, buf, sizeof(buf));

	/* Unnamed boards are named by busid; a long one is cut to 14 characters. */
	strcpy(dev.port, "20-3.3.1.2");
	strcpy(dev.busid, "20-3.3.1.2");
	tracker_device_arrived(t, &dev, NULL);
	strcpy(dev.port, "20-3.2.1.1.1.12");
	strcpy(dev.busid, "20-3.2.1.1.1.12");
	tracker_exported(t, &dev);
	strcpy(dev.port, "7-1.1");
	strcpy(dev.busid, "7-1.1");
	tracker_device_arrived(t, &dev, NULL);
	assert_true(drain(base, master, buf, sizeof(buf)) > 0);
	ch3 = strstr(buf, "\"CH3\"");
	assert_non_null(ch3);
	assert_non_null(strstr(buf, "{\"txt\":\"20-3.3.1.2\",\"color\":\"WHITE\"}"));
	assert_non_null(strstr(buf, "{\"txt\":\"20-3.2.1.1.1.1\",\"color\":\"GREEN\"}"));
	assert_null(strstr(buf, "20-3.2.1.1.1.12"));
	assert_non_null(strstr(buf, "{\"txt\":\"(empty)\",\"color\":\"DARKGREY\"}"));
	assert_null(strstr(buf, "7-1.1"));
	assert_non_null(strstr(buf, "\"numDev\":\"10\""));

	insight_stop(in);
	close(slave);
	close(master);
	tracker_free(t);
	event_base_free(base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_channel),
	        cmocka_unit_test(test_find),
	        cmocka_unit_test(test_frames),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
