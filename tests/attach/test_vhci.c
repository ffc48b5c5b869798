/* SPDX-License-Identifier: MIT */
/*
 * test_vhci.c - vhci-hcd's status files (recorded from Debian's 6.1 kernel
 * in the lab, shared/lab/README.md "sysfs formats"), port choice by speed,
 * the attach line, and the attach/detach writes on a fake vhci directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attach.h"
#include "testfs.h"
#include "vhci.h"

/* vhci_hcd.0/status with port 15 (ss) in use by a super-speed stick, as
 * the lab printed it (shortened to 3 hs and 3 ss ports). */
static const char status_6_1[] = "hub port sta spd dev      sockfd local_busid\n"
                                 "hs  0000 004 000 00000000 000000 0-0\n"
                                 "hs  0001 006 003 00010003 000004 3-2\n"
                                 "hs  0002 004 000 00000000 000000 0-0\n"
                                 "ss  0015 006 005 00020002 000003 4-1\n"
                                 "ss  0016 004 000 00000000 000000 0-0\n"
                                 "ss  0017 004 000 00000000 000000 0-0\n";

/* Before 4.13: no hub column, a pointer in the socket column. */
static const char status_old[] = "port sta spd dev      socket           local_busid\n"
                                 "0000 006 002 00010002 ffff8800b8d6c400 3-1\n"
                                 "0001 004 000 00000000 0000000000000000 0-0\n";

static void parse_recorded(void **state)
{
	struct vhci_port p[8];
	unsigned n = 0;

	(void)state;
	assert_int_equal(vhci_parse_status(status_6_1, strlen(status_6_1), p, 8, &n), 6);
	assert_int_equal(n, 6);
	assert_false(p[0].ss);
	assert_int_equal(p[0].port, 0);
	assert_int_equal(p[0].state, VHCI_ST_NULL);
	assert_string_equal(p[0].lbusid, "0-0");
	assert_int_equal(p[1].state, VHCI_ST_USED);
	assert_int_equal(p[1].speed, 3);
	assert_int_equal(p[1].devid, 0x00010003);
	assert_int_equal(p[1].sockfd, 4);
	assert_string_equal(p[1].lbusid, "3-2");
	/* "0015" is decimal 15, not octal 13. */
	assert_true(p[3].ss);
	assert_int_equal(p[3].port, 15);
	assert_int_equal(p[3].speed, 5);
	assert_int_equal(p[3].devid, 0x00020002);
	assert_string_equal(p[3].lbusid, "4-1");
}

static void parse_appends_across_files(void **state)
{
	struct vhci_port p[8];
	unsigned n = 0;

	(void)state;
	assert_int_equal(vhci_parse_status(status_6_1, strlen(status_6_1), p, 8, &n), 6);
	/* status.1 adds ports; the table is full after 8. */
	assert_int_equal(vhci_parse_status(status_old, strlen(status_old), p, 8, &n), 2);
	assert_int_equal(n, 8);
	assert_false(p[6].ss); /* no hub column: high-speed */
	assert_int_equal(p[6].state, VHCI_ST_USED);
	assert_int_equal(p[6].sockfd, 0); /* the pointer is not a fd */
	assert_string_equal(p[6].lbusid, "3-1");
	assert_int_equal(vhci_parse_status(status_6_1, strlen(status_6_1), p, 8, &n), VHCI_E_ARG);
}

static void parse_rejects_malformed(void **state)
{
	static const char *const bad[] = {
	        "hs  0000 004 000 00000000 000000\n",          /* a column short */
	        "hs  00x0 004 000 00000000 000000 0-0\n",      /* port not a number */
	        "ss  0015 006 005 0002000g 000003 4-1\n",      /* devid not hex */
	        "hs  0000 004 000 00000000 000000 0-0 more\n", /* a column more */
	        "hs  -001 004 000 00000000 000000 0-0\n",      /* negative */
	};
	struct vhci_port p[4];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned n = 0;

		assert_int_equal(vhci_parse_status(bad[i], strlen(bad[i]), p, 4, &n), VHCI_E_ARG);
	}
}

static void parse_without_final_newline_and_with_len(void **state)
{
	struct vhci_port p[4];
	unsigned n = 0;
	const char *t = "hs  0003 004 000 00000000 000000 0-0";

	(void)state;
	assert_int_equal(vhci_parse_status(t, strlen(t), p, 4, &n), 1);
	assert_int_equal(p[0].port, 3);
	/* len bounds the read: only the first line is seen. */
	n = 0;
	assert_int_equal(
	        vhci_parse_status(status_6_1, strchr(status_6_1 + 45, '\n') - status_6_1, p, 4, &n),
	        1);
	assert_int_equal(p[0].port, 0);
}

static void pick_by_speed(void **state)
{
	struct vhci_port p[8];
	unsigned n = 0;

	(void)state;
	vhci_parse_status(status_6_1, strlen(status_6_1), p, 8, &n);
	/* Super speed and super-plus go to ss ports; 15 is used: 16. */
	assert_int_equal(p[vhci_pick_port(p, n, 5, UINT32_MAX)].port, 16);
	assert_int_equal(p[vhci_pick_port(p, n, 6, UINT32_MAX)].port, 16);
	/* Low, full, high to hs; 1 is used: 0, then 2 when 0 is skipped. */
	for (unsigned s = 1; s <= 3; s++)
		assert_int_equal(p[vhci_pick_port(p, n, s, UINT32_MAX)].port, 0);
	assert_int_equal(p[vhci_pick_port(p, n, 3, 0)].port, 2);
	assert_int_equal(p[vhci_pick_port(p, n, 5, 16)].port, 17);
	/* All ss ports taken. */
	p[4].state = p[5].state = VHCI_ST_USED;
	assert_int_equal(vhci_pick_port(p, n, 5, UINT32_MAX), VHCI_E_NOPORT);
	assert_true(vhci_speed_needs_ss(5));
	assert_false(vhci_speed_needs_ss(3));
	assert_int_equal(vhci_find_port(p, n, 15), 3);
	assert_int_equal(vhci_find_port(p, n, 99), -1);
}

static void attach_line(void **state)
{
	char line[64], tiny[8];

	(void)state;
	/* vhci_sysfs.c reads "%u %u %u %u": port sockfd devid speed, decimal. */
	assert_int_equal(vhci_format_attach(line, sizeof(line), 15, 3, 0x00020002, 5), 13);
	assert_string_equal(line, "15 3 131074 5");
	assert_int_equal(vhci_format_attach(tiny, sizeof(tiny), 15, 3, 0x00020002, 5), VHCI_E_ARG);
	assert_int_equal(vhci_format_attach(line, sizeof(line), 0, -1, 1, 3), VHCI_E_ARG);
}

static void busid_field(void **state)
{
	char f[64];

	(void)state;
	assert_int_equal(attach_busid_field(f, sizeof(f), "stick", NULL), 0);
	assert_string_equal(f, "stick");
	assert_int_equal(attach_busid_field(f, sizeof(f), "stick", "k7pq2xw9a3mf"), 0);
	assert_string_equal(f, "stick#k7pq2xw9a3mf");
	/* 18 + 1 + 12 = 31 bytes fit the 32-byte field; 32 do not. */
	assert_int_equal(attach_busid_field(f, sizeof(f), "abcdefghijklmnopqr", "k7pq2xw9a3mf"), 0);
	assert_int_equal(attach_busid_field(f, sizeof(f), "abcdefghijklmnopqrs", "k7pq2xw9a3mf"),
	                 ATTACH_E_ARG);
	assert_int_equal(attach_busid_field(f, sizeof(f), "", NULL), ATTACH_E_ARG);
}

static void split_server(void **state)
{
	char h[64], p[16];

	(void)state;
	assert_int_equal(attach_split_server("bench1", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "bench1");
	assert_string_equal(p, "3240");
	assert_int_equal(attach_split_server("10.0.0.5:3241", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "10.0.0.5");
	assert_string_equal(p, "3241");
	assert_int_equal(attach_split_server("[::1]:3242", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "::1");
	assert_string_equal(p, "3242");
	assert_int_equal(attach_split_server("fe80::1", h, sizeof(h), p, sizeof(p)), 0);
	assert_string_equal(h, "fe80::1");
	assert_string_equal(p, "3240");
	assert_int_equal(attach_split_server("host:", h, sizeof(h), p, sizeof(p)), -1);
	assert_int_equal(attach_split_server(":3240", h, sizeof(h), p, sizeof(p)), -1);
	assert_int_equal(attach_split_server("host:32x", h, sizeof(h), p, sizeof(p)), -1);
	assert_int_equal(attach_split_server("[::1", h, sizeof(h), p, sizeof(p)), -1);
	assert_int_equal(attach_split_server("", h, sizeof(h), p, sizeof(p)), -1);
}

static void fake_vhci_dir(void **state)
{
	char dir[] = "/tmp/test-vhci-XXXXXX", got[64];
	struct vhci_port p[VHCI_MAX_PORTS];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_false(vhci_present(dir));
	assert_int_equal(vhci_read_ports(dir, p, VHCI_MAX_PORTS), VHCI_E_MISSING);
	testfs_put(dir, "status", status_6_1);
	testfs_put(dir, "status.1",
	           "hub port sta spd dev      sockfd local_busid\n"
	           "hs  0030 004 000 00000000 000000 0-0\n"
	           "ss  0045 004 000 00000000 000000 0-0\n");
	testfs_put(dir, "status.10", "hs  0300 004 000 00000000 000000 0-0\n");
	testfs_put(dir, "attach", "");
	testfs_put(dir, "detach", "");
	assert_true(vhci_present(dir));
	assert_int_equal(vhci_read_ports(dir, p, VHCI_MAX_PORTS), 9);
	/* status, status.1, status.10 in numeric order. */
	assert_int_equal(p[6].port, 30);
	assert_int_equal(p[7].port, 45);
	assert_int_equal(p[8].port, 300);
	assert_int_equal(vhci_attach(dir, 16, 3, 0x20002, 5), 0);
	testfs_get(dir, "attach", got, sizeof(got));
	assert_string_equal(got, "16 3 131074 5");
	assert_int_equal(vhci_detach(dir, 16), 0);
	testfs_get(dir, "detach", got, sizeof(got));
	assert_string_equal(got, "16");
	/* An unparsable status file is an error, not an empty table. */
	testfs_put(dir, "status.1", "hs  zz\n");
	assert_int_equal(vhci_read_ports(dir, p, VHCI_MAX_PORTS), VHCI_E_ARG);
	/* A read-only attach file: permission (not when root, who may write). */
	if (geteuid() != 0) {
		char path[512];

		snprintf(path, sizeof(path), "%s/attach", dir);
		chmod(path, 0400);
		assert_int_equal(vhci_attach(dir, 16, 3, 1, 5), VHCI_E_PERM);
	}
	{
		char cmd[600];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
	assert_int_equal(vhci_attach(dir, 16, 3, 1, 5), VHCI_E_MISSING);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(parse_recorded),
	        cmocka_unit_test(parse_appends_across_files),
	        cmocka_unit_test(parse_rejects_malformed),
	        cmocka_unit_test(parse_without_final_newline_and_with_len),
	        cmocka_unit_test(pick_by_speed),
	        cmocka_unit_test(attach_line),
	        cmocka_unit_test(busid_field),
	        cmocka_unit_test(split_server),
	        cmocka_unit_test(fake_vhci_dir),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
