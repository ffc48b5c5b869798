/* SPDX-License-Identifier: MIT */
/*
 * test_power.c - power.h over a fake sysfs tree (a temporary directory laid
 * out as /sys/bus/usb/devices) and a fake hub I/O that answers with
 * recorded descriptors and records the PORT_POWER requests: the port from
 * the location, the USB3 hub's other half found by Container ID, the
 * method by kernel release, both halves switched (disable files written,
 * or requests sent), a hub without switching refused with its
 * characteristics, a ganged hub noted, errors for every missing piece.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "power.h"

/* Descriptors as in test_hubdesc.c (the sources are named there). */
static const uint8_t vl817_usb2[] = {0x09, 0x29, 0x04, 0xe9, 0x00, 0xaf, 0x64, 0x00, 0xff};
static const uint8_t vl817_usb3[] = {0x0c, 0x2a, 0x04, 0x09, 0x00, 0x32,
                                     0x00, 0x04, 0x00, 0x00, 0x00, 0x00};
static const uint8_t fe11s_ganged[] = {0x09, 0x29, 0x04, 0xe0, 0x00, 0x32, 0x64, 0x00, 0xff};
static const uint8_t qemu_hub[] = {0x0b, 0x29, 0x08, 0x0a, 0x00, 0x01,
                                   0x00, 0x00, 0x00, 0xff, 0xff};
static const uint8_t vl817_bos[] = {
        0x05, 0x0f, 0x2a, 0x00, 0x03, 0x07, 0x10, 0x02, 0x06, 0x00, 0x00, 0x00, 0x0a, 0x10,
        0x03, 0x00, 0x0e, 0x00, 0x01, 0x04, 0xe7, 0x00, 0x14, 0x10, 0x04, 0x00, 0x30, 0xee,
        0xf3, 0x5c, 0x07, 0xd5, 0x25, 0x49, 0xb0, 0x01, 0x80, 0x2d, 0x79, 0x43, 0x4c, 0x30,
};

struct fake_hub {
	const char *name;
	const uint8_t *desc, *bos;
	size_t desc_len, bos_len;
	int desc_err; /* returned instead of the descriptor when non-zero */
};

struct call {
	char hub[32];
	unsigned port;
	bool on;
};

struct fixture {
	char root[64];
	struct fake_hub hubs[8];
	size_t nhubs;
	struct call calls[8];
	size_t ncalls;
	int port_power_err;
	struct power_env env;
};

static const struct fake_hub *fake_find(struct fixture *f, const char *hub)
{
	for (size_t i = 0; i < f->nhubs; i++)
		if (strcmp(f->hubs[i].name, hub) == 0)
			return &f->hubs[i];
	return NULL;
}

static int fake_desc(void *ctx, const char *hub, uint8_t type, uint8_t *buf, size_t cap)
{
	const struct fake_hub *h = fake_find(ctx, hub);

	if (!h)
		return -ENODEV;
	if (h->desc_err)
		return h->desc_err;
	/* A hub stalls a request for the other speed's descriptor type. */
	if (h->desc[1] != type)
		return -EPIPE;
	assert_true(h->desc_len <= cap);
	memcpy(buf, h->desc, h->desc_len);
	return (int)h->desc_len;
}

static int fake_bos(void *ctx, const char *hub, uint8_t *buf, size_t cap)
{
	const struct fake_hub *h = fake_find(ctx, hub);

	if (!h)
		return -ENODEV;
	if (!h->bos)
		return -EPIPE;
	assert_true(h->bos_len <= cap);
	memcpy(buf, h->bos, h->bos_len);
	return (int)h->bos_len;
}

static int fake_port_power(void *ctx, const char *hub, unsigned port, bool on)
{
	struct fixture *f = ctx;

	if (f->port_power_err)
		return f->port_power_err;
	assert_true(f->ncalls < 8);
	snprintf(f->calls[f->ncalls].hub, sizeof(f->calls[0].hub), "%s", hub);
	f->calls[f->ncalls].port = port;
	f->calls[f->ncalls].on = on;
	f->ncalls++;
	return 0;
}

static const struct power_io fake_io = {
        .hub_descriptor = fake_desc, .bos = fake_bos, .port_power = fake_port_power};

static void put_file(struct fixture *f, const char *rel, const char *text)
{
	char path[512], dir[512];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	/* mkdir -p the parents */
	snprintf(dir, sizeof(dir), "%s", path);
	for (char *p = dir + strlen(f->root) + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			mkdir(dir, 0755);
			*p = '/';
		}
	}
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void read_file(struct fixture *f, const char *rel, char *out, size_t cap)
{
	char path[512];
	FILE *fp;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", f->root, rel);
	fp = fopen(path, "r");
	assert_non_null(fp);
	n = fread(out, 1, cap - 1, fp);
	out[n] = '\0';
	fclose(fp);
}

/* A hub in sysfs: the device's attributes and its ports' disable files. */
static void add_hub(struct fixture *f, const char *name, const char *speed, int devnum,
                    unsigned nports, const uint8_t *desc, size_t desc_len, const uint8_t *bos,
                    size_t bos_len)
{
	char rel[256], num[16];

	snprintf(rel, sizeof(rel), "%s/bDeviceClass", name);
	put_file(f, rel, "09\n");
	snprintf(rel, sizeof(rel), "%s/speed", name);
	put_file(f, rel, speed);
	snprintf(rel, sizeof(rel), "%s/busnum", name);
	put_file(f, rel, "3\n");
	snprintf(rel, sizeof(rel), "%s/devnum", name);
	snprintf(num, sizeof(num), "%d\n", devnum);
	put_file(f, rel, num);
	for (unsigned p = 1; p <= nports; p++) {
		char dir[128];

		assert_int_equal(hubdesc_port_dir(name, p, dir, sizeof(dir)), HUBDESC_OK);
		snprintf(rel, sizeof(rel), "%s/disable", dir);
		put_file(f, rel, "0\n");
	}
	f->hubs[f->nhubs++] = (struct fake_hub){
	        .name = name, .desc = desc, .desc_len = desc_len, .bos = bos, .bos_len = bos_len};
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->root, sizeof(f->root), "/tmp/usblab-power-XXXXXX");
	assert_non_null(mkdtemp(f->root));
	/* A VL817: USB2 half 3-1, USB3 half 4-1; a ganged hub 3-2; qemu's
	 * hub without switching 3-3; a board on 3-1.2 (not a hub). */
	add_hub(f, "3-1", "480\n", 2, 4, vl817_usb2, sizeof(vl817_usb2), vl817_bos,
	        sizeof(vl817_bos));
	add_hub(f, "4-1", "5000\n", 3, 4, vl817_usb3, sizeof(vl817_usb3), vl817_bos,
	        sizeof(vl817_bos));
	add_hub(f, "3-2", "480\n", 4, 4, fe11s_ganged, sizeof(fe11s_ganged), NULL, 0);
	add_hub(f, "3-3", "12\n", 5, 8, qemu_hub, sizeof(qemu_hub), NULL, 0);
	put_file(f, "3-1.2/bDeviceClass", "00\n");
	put_file(f, "3-1.2/speed", "12\n");
	f->env = (struct power_env){.sysfs_root = f->root,
	                            .io = &fake_io,
	                            .io_ctx = f,
	                            .kernel_release = "6.1.0-56-amd64"};
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void test_dual_hub_sysfs(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512], text[256];

	assert_int_equal(power_plan(&f->env, "3-1.2", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_int_equal(plan.method, POWER_METHOD_SYSFS);
	assert_string_equal(plan.main.hub, "3-1");
	assert_int_equal(plan.main.port, 2);
	assert_false(plan.main.superspeed);
	assert_true(plan.main.have_desc);
	assert_int_equal(plan.main.desc.power, HUBDESC_POWER_PER_PORT);
	assert_true(plan.have_peer);
	assert_string_equal(plan.peer.hub, "4-1");
	assert_int_equal(plan.peer.port, 2);
	assert_true(plan.peer.superspeed);
	assert_string_equal(plan.note, "");
	power_plan_describe(&plan, text, sizeof(text));
	assert_string_equal(text, "hub 3-1 port 2 (per-port), USB3 half 4-1 port 2");

	assert_int_equal(power_switch(&f->env, &plan, false, err, sizeof(err)), POWER_OK);
	assert_string_equal(err, "");
	read_file(f, "3-1:1.0/3-1-port2/disable", text, sizeof(text));
	assert_string_equal(text, "1");
	read_file(f, "4-1:1.0/4-1-port2/disable", text, sizeof(text));
	assert_string_equal(text, "1");
	read_file(f, "3-1:1.0/3-1-port1/disable", text, sizeof(text));
	assert_string_equal(text, "0\n"); /* the neighbours stay on */
	assert_int_equal(power_switch(&f->env, &plan, true, err, sizeof(err)), POWER_OK);
	read_file(f, "3-1:1.0/3-1-port2/disable", text, sizeof(text));
	assert_string_equal(text, "0");
	read_file(f, "4-1:1.0/4-1-port2/disable", text, sizeof(text));
	assert_string_equal(text, "0");
	assert_int_equal(f->ncalls, 0); /* sysfs only: no hub requests */
}

/* From the USB3 half's side, the USB2 half is the peer. */
static void test_dual_hub_from_usb3(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512];

	put_file(f, "4-1.2/bDeviceClass", "00\n");
	assert_int_equal(power_plan(&f->env, "4-1.2", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_true(plan.main.superspeed);
	assert_true(plan.main.have_desc); /* asked with type 0x2A */
	assert_true(plan.have_peer);
	assert_string_equal(plan.peer.hub, "3-1");
}

static void test_hub_requests_before_6_0(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512];

	f->env.kernel_release = "5.15.0-91-generic";
	assert_int_equal(power_plan(&f->env, "3-1.2", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_int_equal(plan.method, POWER_METHOD_HUBREQ);
	assert_int_equal(power_switch(&f->env, &plan, false, err, sizeof(err)), POWER_OK);
	assert_int_equal(power_switch(&f->env, &plan, true, err, sizeof(err)), POWER_OK);
	assert_int_equal(f->ncalls, 4);
	assert_string_equal(f->calls[0].hub, "3-1");
	assert_int_equal(f->calls[0].port, 2);
	assert_false(f->calls[0].on);
	assert_string_equal(f->calls[1].hub, "4-1");
	assert_int_equal(f->calls[1].port, 2);
	assert_false(f->calls[1].on);
	assert_true(f->calls[2].on);
	assert_true(f->calls[3].on);
	/* The request failing is an error with the request named. */
	f->port_power_err = -EPIPE;
	assert_int_equal(power_switch(&f->env, &plan, false, err, sizeof(err)), POWER_E_IO);
	assert_non_null(strstr(err, "CLEAR_FEATURE(PORT_POWER) on hub 3-1 port 2"));
	f->port_power_err = -EACCES;
	assert_int_equal(power_switch(&f->env, &plan, true, err, sizeof(err)), POWER_E_ACCESS);
}

static void test_method_choice(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512];

	/* hub-request asked for on a 6.x kernel. */
	assert_int_equal(power_plan(&f->env, "3-1.2", POWER_METHOD_HUBREQ, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_int_equal(plan.method, POWER_METHOD_HUBREQ);
	/* sysfs asked for where the port has no disable file. */
	{
		char path[512];

		snprintf(path, sizeof(path), "%s/3-1:1.0/3-1-port2/disable", f->root);
		assert_int_equal(unlink(path), 0);
	}
	assert_int_equal(power_plan(&f->env, "3-1.2", POWER_METHOD_SYSFS, &plan, err, sizeof(err)),
	                 POWER_E_METHOD);
	assert_non_null(strstr(err, "3-1-port2/disable"));
	/* and auto falls back to requests. */
	assert_int_equal(power_plan(&f->env, "3-1.2", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_int_equal(plan.method, POWER_METHOD_HUBREQ);
	assert_true(power_kernel_has_disable("6.0.0"));
	assert_true(power_kernel_has_disable("10.2.1"));
	assert_false(power_kernel_has_disable("5.19.17"));
	assert_false(power_kernel_has_disable("garbage"));
	assert_false(power_kernel_has_disable(NULL));
	assert_int_equal(power_method_parse("hub-request"), POWER_METHOD_HUBREQ);
	assert_int_equal(power_method_parse("sysfs"), POWER_METHOD_SYSFS);
	assert_int_equal(power_method_parse("auto"), POWER_METHOD_AUTO);
	assert_int_equal(power_method_parse("usb"), -1);
}

static void test_no_switching(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512];

	assert_int_equal(power_plan(&f->env, "3-3.1", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_E_NO_SWITCHING);
	assert_non_null(strstr(err, "hub 3-3 has no power switching"));
	assert_non_null(strstr(err, "0x000a"));
	assert_string_equal(power_err_code(POWER_E_NO_SWITCHING), "no_switching");
}

static void test_ganged(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512];

	assert_int_equal(power_plan(&f->env, "3-2.4", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_int_equal(plan.main.desc.power, HUBDESC_POWER_GANGED);
	assert_non_null(strstr(plan.note, "ganged"));
	assert_false(plan.have_peer); /* no BOS */
}

static void test_bad_locations(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512];

	assert_int_equal(power_plan(&f->env, "0-1", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_E_LOCATION);
	assert_int_equal(power_plan(&f->env, "", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_E_LOCATION);
	assert_non_null(strstr(err, "(no location)"));
	assert_int_equal(power_plan(&f->env, "9-1.1", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_E_NO_HUB);
	assert_non_null(strstr(err, "no hub 9-1"));
	assert_int_equal(power_plan(&f->env, "3-1.7", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_E_NO_HUB);
	assert_non_null(strstr(err, "hub 3-1 has 4 ports, not 7"));
}

/* A hub descriptor that cannot be read (permissions) does not stop the
 * sysfs method: the departure decides. */
static void test_unreadable_descriptor(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512];

	f->hubs[0].desc_err = -EACCES;
	assert_int_equal(power_plan(&f->env, "3-1.2", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_false(plan.main.have_desc);
	assert_true(plan.have_peer);
}

/* A disable file that cannot be written fails with the path; a failing
 * peer after the main port switched is reported, not an error. */
static void test_write_errors(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512], path[512];

	assert_int_equal(power_plan(&f->env, "3-1.2", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	snprintf(path, sizeof(path), "%s/4-1:1.0/4-1-port2/disable", f->root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0); /* EISDIR on open for writing */
	assert_int_equal(power_switch(&f->env, &plan, false, err, sizeof(err)), POWER_OK);
	assert_non_null(strstr(err, "the other half: "));
	assert_non_null(strstr(err, "4-1-port2/disable"));
	snprintf(path, sizeof(path), "%s/3-1:1.0/3-1-port2/disable", f->root);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(power_switch(&f->env, &plan, false, err, sizeof(err)), POWER_E_IO);
	assert_non_null(strstr(err, "3-1-port2/disable"));
}

/* A second identical VL817 elsewhere: the halves pair by place. */
static void test_two_identical_hubs(void **state)
{
	struct fixture *f = *state;
	struct power_plan plan;
	char err[512];

	add_hub(f, "3-4", "480\n", 6, 4, vl817_usb2, sizeof(vl817_usb2), vl817_bos,
	        sizeof(vl817_bos));
	add_hub(f, "4-4", "5000\n", 7, 4, vl817_usb3, sizeof(vl817_usb3), vl817_bos,
	        sizeof(vl817_bos));
	assert_int_equal(power_plan(&f->env, "3-4.1", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_true(plan.have_peer);
	assert_string_equal(plan.peer.hub, "4-4");
	assert_int_equal(power_plan(&f->env, "3-1.2", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_string_equal(plan.peer.hub, "4-1");
	/* A third USB3 half with the same ID and no place to tell: the
	 * USB2 half 3-4 now has two candidates, 4-4 still at its place. */
	add_hub(f, "4-5", "5000\n", 8, 4, vl817_usb3, sizeof(vl817_usb3), vl817_bos,
	        sizeof(vl817_bos));
	assert_int_equal(power_plan(&f->env, "3-4.1", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_string_equal(plan.peer.hub, "4-4");
	/* A USB2 half whose place matches none: not paired, and said. */
	add_hub(f, "3-6", "480\n", 9, 4, vl817_usb2, sizeof(vl817_usb2), vl817_bos,
	        sizeof(vl817_bos));
	assert_int_equal(power_plan(&f->env, "3-6.1", POWER_METHOD_AUTO, &plan, err, sizeof(err)),
	                 POWER_OK);
	assert_false(plan.have_peer);
	assert_non_null(strstr(plan.note, "share hub 3-6's Container ID"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_dual_hub_sysfs, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_dual_hub_from_usb3, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_hub_requests_before_6_0, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_method_choice, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_no_switching, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_ganged, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_bad_locations, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_unreadable_descriptor, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_two_identical_hubs, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
