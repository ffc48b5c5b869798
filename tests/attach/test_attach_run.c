/* SPDX-License-Identifier: MIT */
/*
 * test_attach_run.c - attach_run against a real usblabd (virtual devices)
 * with a fake vhci directory: what is checked before importing, the attach
 * line written (port by speed, devid and speed from the import reply), the
 * clean-up when the kernel never enumerates, refusals, and the keepalive
 * options on the socket. The kernel's side is the lab's (attach.sh).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../client/usblabd_proc.h"
#include "attach.h"
#include "testfs.h"
#include "ucl.h"

#pragma GCC diagnostic ignored "-Wformat-truncation"

struct fixture {
	struct usblabd_proc d;
	char vhci[64];
};

static const char status_free[] = "hub port sta spd dev      sockfd local_busid\n"
                                  "hs  0000 006 003 00010002 000003 3-1\n"
                                  "hs  0001 004 000 00000000 000000 0-0\n"
                                  "hs  0002 004 000 00000000 000000 0-0\n"
                                  "ss  0015 004 000 00000000 000000 0-0\n"
                                  "ss  0016 004 000 00000000 000000 0-0\n";

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	char err[256];

	if (!fx || !getenv("USBLABD"))
		return -1;
	if (usblabd_proc_start(&fx->d, getenv("USBLABD"), "cdc,msc", true, err, sizeof(err)) < 0) {
		fprintf(stderr, "usblabd: %s\n", err);
		return -1;
	}
	snprintf(fx->vhci, sizeof(fx->vhci), "/tmp/test-attach-vhci-XXXXXX");
	if (!mkdtemp(fx->vhci))
		return -1;
	/* Port 0 is in use: a high-speed device gets port 1. */
	testfs_put(fx->vhci, "status", status_free);
	testfs_put(fx->vhci, "attach", "");
	testfs_put(fx->vhci, "detach", "");
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	char cmd[128];

	usblabd_proc_stop(&fx->d);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->vhci);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

/* The kernel's part, faked: once the attach file was written, port 1
 * shows VDEV_ST_NOTASSIGNED (005), as vhci_sysfs.c leaves it until the hub
 * driver addresses the device (which never happens here). */
static void *fake_kernel(void *arg)
{
	struct fixture *fx = arg;
	char got[64];

	for (int i = 0; i < 2000; i++) {
		testfs_get(fx->vhci, "attach", got, sizeof(got));
		if (got[0]) {
			testfs_put(fx->vhci, "status",
			           "hs  0000 006 003 00010002 000003 3-1\n"
			           "hs  0001 005 000 00000000 000000 0-0\n"
			           "ss  0015 004 000 00000000 000000 0-0\n");
			return NULL;
		}
		usleep(2000);
	}
	return NULL;
}

/* attach_run on a fresh fake vhci, with the fake kernel reacting. */
static int run_with_fake_kernel(struct fixture *fx, const struct attach_req *r,
                                struct attach_result *res)
{
	pthread_t kernel;
	int stage;

	testfs_put(fx->vhci, "status", status_free);
	testfs_put(fx->vhci, "attach", "");
	assert_int_equal(pthread_create(&kernel, NULL, fake_kernel, fx), 0);
	stage = attach_run(r, res);
	pthread_join(kernel, NULL);
	return stage;
}

static struct attach_req req_for(struct fixture *fx, const char *what, const char *vhci)
{
	struct attach_req r = {
	        .host = fx->d.host,
	        .port = fx->d.port,
	        .what = what,
	        .vhci_dir = vhci,
	        .sysroot = "/nonexistent-sys",
	        .enumerate_ms = 300,
	        .drivers_ms = 300,
	};

	return r;
}

static void no_vhci_says_modprobe(void **state)
{
	struct fixture *fx = *state;
	struct attach_req r = req_for(fx, "0-1", "/nonexistent/vhci_hcd.0");
	struct attach_result res;
	char msg[512];
	int stage = attach_run(&r, &res);

	assert_int_equal(stage, ATTACH_E_VHCI);
	assert_int_equal(res.vhci_rc, VHCI_E_MISSING);
	attach_describe(&r, stage, &res, msg, sizeof(msg));
	assert_non_null(strstr(msg, "modprobe vhci-hcd"));
	assert_non_null(strstr(msg, "linux-modules-extra"));
}

static void writes_attach_line_and_cleans_up(void **state)
{
	struct fixture *fx = *state;
	struct attach_req r = req_for(fx, "0-1", fx->vhci);
	struct attach_result res;
	char got[64], want[64];
	unsigned port, fd, devid, speed;
	int stage;

	/* The port never gets a device: enumeration times out, and the port
	 * is detached again. */
	stage = run_with_fake_kernel(fx, &r, &res);
	assert_int_equal(stage, ATTACH_E_ENUMERATE);
	assert_string_equal(res.dev.busid, "0-1");
	assert_int_equal(res.dev.speed, 3); /* the virtual CDC is high-speed */
	assert_int_equal(res.vport, 1);
	testfs_get(fx->vhci, "attach", got, sizeof(got));
	assert_int_equal(sscanf(got, "%u %u %u %u", &port, &fd, &devid, &speed), 4);
	snprintf(want, sizeof(want), "1 %u %u 3", fd, res.dev.busnum << 16 | res.dev.devnum);
	assert_string_equal(got, want);
	assert_true(fd > 2);
	testfs_get(fx->vhci, "detach", got, sizeof(got));
	assert_string_equal(got, "1");
	/* Our copy of the socket was closed: the server let the device go,
	 * so it can be imported again at once (else ST_DEV_BUSY). */
	usleep(200 * 1000);
	assert_int_equal(run_with_fake_kernel(fx, &r, &res), ATTACH_E_ENUMERATE);
	/* A port that reads free right after the attach: the server closed
	 * (here: the fake kernel does nothing). */
	testfs_put(fx->vhci, "status", status_free);
	testfs_put(fx->vhci, "attach", "");
	testfs_put(fx->vhci, "detach", "");
	usleep(200 * 1000);
	r.enumerate_ms = 3000;
	assert_int_equal(attach_run(&r, &res), ATTACH_E_GONE);
	testfs_get(fx->vhci, "detach", got, sizeof(got));
	assert_string_equal(got, ""); /* nothing to detach */
}

static void super_speed_needs_ss_port(void **state)
{
	struct fixture *fx = *state;
	char got[64];

	(void)state;
	/* No free ss port left and a SuperSpeed device: the choice fails
	 * before any write (the msc is high-speed, so ask vhci directly). */
	testfs_put(fx->vhci, "status",
	           "hs  0001 004 000 00000000 000000 0-0\n"
	           "ss  0015 006 005 00020002 000003 4-1\n");
	testfs_put(fx->vhci, "attach", "");
	{
		struct vhci_port p[4];
		int n = vhci_read_ports(fx->vhci, p, 4);

		assert_int_equal(n, 2);
		assert_int_equal(vhci_pick_port(p, 2, 5, UINT32_MAX), VHCI_E_NOPORT);
		assert_int_equal(p[vhci_pick_port(p, 2, 3, UINT32_MAX)].port, 1);
	}
	testfs_get(fx->vhci, "attach", got, sizeof(got));
	assert_string_equal(got, "");
}

static void refusals(void **state)
{
	struct fixture *fx = *state;
	struct attach_req r = req_for(fx, "no-such-board", fx->vhci);
	struct attach_result res;
	char msg[512];
	int stage;

	stage = attach_run(&r, &res);
	assert_int_equal(stage, ATTACH_E_IMPORT);
	assert_int_equal(res.ucl_rc, UCL_E_ST(USBIP_ST_NODEV));
	attach_describe(&r, stage, &res, msg, sizeof(msg));
	assert_non_null(strstr(msg, "offers no 'no-such-board'"));
	/* 19 + 1 + 12 bytes do not fit the busid field. */
	r.what = "abcdefghijklmnopqrs";
	r.token = "k7pq2xw9a3mf";
	assert_int_equal(attach_run(&r, &res), ATTACH_E_ARG);
	/* Nobody listens: a connection error, said as such. */
	r = req_for(fx, "0-1", fx->vhci);
	r.port = "1";
	stage = attach_run(&r, &res);
	assert_int_equal(stage, ATTACH_E_IMPORT);
	attach_describe(&r, stage, &res, msg, sizeof(msg));
	assert_non_null(strstr(msg, "importing '0-1' from"));
}

static void keepalive_options(void **state)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), v;
	socklen_t len = sizeof(v);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(attach_set_keepalive(fd), 0);
	assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
	assert_int_equal(v, 1);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &v, &len), 0);
	assert_int_equal(v, 5);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &v, &len), 0);
	assert_int_equal(v, 2);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &v, &len), 0);
	assert_int_equal(v, 3);
	assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, &len), 0);
	assert_int_equal(v, 10000);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(no_vhci_says_modprobe),
	        cmocka_unit_test(writes_attach_line_and_cleans_up),
	        cmocka_unit_test(super_speed_needs_ss_port),
	        cmocka_unit_test(refusals),
	        cmocka_unit_test(keepalive_options),
	};

	if (!getenv("USBLABD") || !*getenv("USBLABD")) {
		printf("1..0 # SKIP USBLABD is not set\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
