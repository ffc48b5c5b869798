/* SPDX-License-Identifier: MIT */
/*
 * test_api_esp32.c - the daemon's ESP32 verbs (api_esp32.h) in process,
 * against an ESP32 ROM played on a pseudo-terminal by a thread here:
 *   - a board of type esp32 that appears with a tty is probed once (its
 *     fw_state becomes "bootloader", a PROBED event carries the MAC), and
 *     not again while it stays;
 *   - no automatic probe while it is leased, nor while another process
 *     holds its tty open (a child process found through /proc/PID/fd);
 *   - the `probe` method answers with state and MAC, or port_busy naming
 *     the holder's pid; errors for a board of another type and one with no
 *     port;
 *   - esp32_port_find_tty over a fake sysfs tree, esp32_port_holders.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <event2/event.h>

#include "api.h"
#include "api_esp32.h"
#include "esp32.h"
#include "esp32_port.h"
#include "registry.h"
#include "tracker.h"

/* ---- an ESP32 ROM on a pty --------------------------------------------------------- */

struct fake_rom {
	int master;
	char slave[64];
	pthread_t thread;
	volatile int stop;
	volatile unsigned syncs; /* SYNC requests answered */
	uint8_t mac[6];
};

static void rom_reply(struct fake_rom *r, uint8_t op, uint32_t value)
{
	static const uint8_t st[4] = {0, 0, 0, 0};
	const struct esp32_packet p = {.op = op, .word = value, .data = st, .len = sizeof(st)};
	uint8_t frame[64];
	long n = esp32_frame(1, &p, frame, sizeof(frame));

	if (n > 0 && write(r->master, frame, (size_t)n) != n)
		return;
}

static void *rom_main(void *arg)
{
	struct fake_rom *r = arg;
	struct esp32_slip_rx rx;

	esp32_slip_rx_init(&rx);
	while (!r->stop) {
		fd_set fds;
		struct timeval tv = {0, 20000};
		uint8_t buf[256];
		ssize_t n;

		FD_ZERO(&fds);
		FD_SET(r->master, &fds);
		if (select(r->master + 1, &fds, NULL, NULL, &tv) <= 0)
			continue;
		n = read(r->master, buf, sizeof(buf));
		if (n <= 0) { /* EIO while no one has the slave open */
			usleep(20000);
			continue;
		}
		for (ssize_t i = 0; i < n; i++) {
			struct esp32_packet req;
			uint32_t mac0, mac1, addr;

			if (esp32_slip_rx_byte(&rx, buf[i]) != 1 ||
			    esp32_parse(0, rx.buf, rx.len, &req) != ESP32_OK)
				continue;
			if (req.op == ESP32_OP_SYNC) {
				r->syncs++;
				for (unsigned k = 0; k < ESP32_ROM_SYNC_REPLIES; k++)
					rom_reply(r, req.op, ESP32_ROM_SYNC_VALUE);
			} else if (req.op == ESP32_OP_READ_REG && req.len == 4) {
				esp32_efuse_from_mac(r->mac, &mac0, &mac1);
				addr = (uint32_t)req.data[0] | (uint32_t)req.data[1] << 8 |
				       (uint32_t)req.data[2] << 16 | (uint32_t)req.data[3] << 24;
				rom_reply(r, req.op,
				          addr == ESP32_REG_MAC0   ? mac0
				          : addr == ESP32_REG_MAC1 ? mac1
				                                   : 0);
			}
		}
	}
	return NULL;
}

static void rom_start(struct fake_rom *r)
{
	struct termios t;
	static const uint8_t mac[6] = {0x3c, 0x61, 0x05, 0x12, 0x34, 0x56};

	memset(r, 0, sizeof(*r));
	memcpy(r->mac, mac, sizeof(mac));
	r->master = posix_openpt(O_RDWR | O_NOCTTY);
	assert_true(r->master >= 0);
	assert_int_equal(grantpt(r->master), 0);
	assert_int_equal(unlockpt(r->master), 0);
	snprintf(r->slave, sizeof(r->slave), "%s", ptsname(r->master));
	/* The master's side raw too: bytes pass as they are. */
	assert_int_equal(tcgetattr(r->master, &t), 0);
	cfmakeraw(&t);
	tcsetattr(r->master, TCSANOW, &t);
	assert_int_equal(pthread_create(&r->thread, NULL, rom_main, r), 0);
}

static void rom_stop(struct fake_rom *r)
{
	r->stop = 1;
	pthread_join(r->thread, NULL);
	close(r->master);
}

/* ---- the fixture ----------------------------------------------------------------------- */

#define MAX_MSGS 16

struct fixture {
	struct event_base *base;
	struct registry reg;
	struct tracker *t;
	struct api_esp32 *m;
	struct api *api;
	struct fake_rom rom;
	json_t *msgs[MAX_MSGS];
	unsigned nmsgs;
	struct ul_event probed;
	unsigned nprobed;
};

static void fake_send(void *client, json_t *msg)
{
	struct fixture *f = client;

	assert_true(f->nmsgs < MAX_MSGS);
	f->msgs[f->nmsgs++] = msg;
}

static const struct api_client_ops fake_ops = {.send = fake_send};

static void on_event(void *arg, const struct ul_event *ev)
{
	struct fixture *f = arg;

	if (ev->kind == UL_EV_PROBED) {
		f->probed = *ev;
		f->nprobed++;
	}
}

static const struct tracker_sub_ops recorder = {.event = on_event};

static const char conf[] = "[esp-p]\n"
                           "serial = PTY-ESP\n"
                           "type = esp32\n"
                           "[plain]\n"
                           "serial = PLAIN-1\n"
                           "type = rp2040\n";

static int setup(void **state)
{
	static struct fixture f;
	struct api_env env;
	char err[256];

	memset(&f, 0, sizeof(f));
	f.base = event_base_new();
	assert_non_null(f.base);
	assert_int_equal(registry_parse_string(conf, "esp.conf", &f.reg, err, sizeof(err)), 0);
	f.t = tracker_new(&f.reg, NULL, NULL);
	assert_non_null(f.t);
	assert_int_equal(tracker_subscribe(f.t, &recorder, &f, false), 0);
	f.m = api_esp32_new(f.base, f.t, NULL);
	assert_non_null(f.m);
	memset(&env, 0, sizeof(env));
	env.base = f.base;
	env.tracker = f.t;
	env.esp32 = f.m;
	f.api = api_new(&env);
	assert_non_null(f.api);
	rom_start(&f.rom);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	api_esp32_free(f->m);
	api_free(f->api);
	tracker_free(f->t);
	registry_free(&f->reg);
	for (unsigned i = 0; i < f->nmsgs; i++)
		json_decref(f->msgs[i]);
	event_base_free(f->base);
	rom_stop(&f->rom);
	return 0;
}

/* Runs the loop until cond holds or ms pass; returns cond. */
#define RUN_UNTIL(f, ms, cond)                                                                     \
	({                                                                                         \
		struct timespec t0_, t1_;                                                          \
		clock_gettime(CLOCK_MONOTONIC, &t0_);                                              \
		for (;;) {                                                                         \
			if (cond)                                                                  \
				break;                                                             \
			clock_gettime(CLOCK_MONOTONIC, &t1_);                                      \
			if ((t1_.tv_sec - t0_.tv_sec) * 1000 +                                     \
			            (t1_.tv_nsec - t0_.tv_nsec) / 1000000 >                        \
			    (ms))                                                                  \
				break;                                                             \
			event_base_loop((f)->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);                 \
			usleep(5000);                                                              \
		}                                                                                  \
		(cond);                                                                            \
	})

static void arrive(struct fixture *f)
{
	struct ul_devfacts d;

	memset(&d, 0, sizeof(d));
	UL_COPY(d.busid, "9-1");
	d.vid = 0x303a;
	d.pid = 0x1001;
	UL_COPY(d.serial, "PTY-ESP");
	UL_COPY(d.devnodes, f->rom.slave);
	assert_non_null(tracker_device_arrived(f->t, &d, NULL));
}

/* A child process holding path open until killed. */
static pid_t hold_open(const char *path)
{
	int ready[2];
	char c;
	pid_t pid;

	assert_int_equal(pipe(ready), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = open(path, O_RDWR | O_NOCTTY);

		(void)!write(ready[1], fd >= 0 ? "y" : "n", 1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(ready[0], &c, 1), 1);
	assert_int_equal(c, 'y');
	close(ready[0]);
	close(ready[1]);
	return pid;
}

static void unhold(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static json_t *call(struct fixture *f, const char *method, const char *name)
{
	struct api_caller who = {.user = "ann", .host = "bench"};
	unsigned before = f->nmsgs;

	api_request(
	        f->api,
	        json_pack("{s:i, s:s, s:{s:s}}", "id", 1, "method", method, "params", "name", name),
	        &who, &fake_ops, f);
	assert_true(RUN_UNTIL(f, 5000, f->nmsgs > before));
	return f->msgs[f->nmsgs - 1];
}

/* ---- tests ------------------------------------------------------------------------------ */

static void test_probed_once_on_arrival(void **state)
{
	struct fixture *f = *state;
	const struct board *b;

	arrive(f);
	assert_true(RUN_UNTIL(f, 5000, f->nprobed == 1));
	b = tracker_find(f->t, "esp-p");
	assert_string_equal(b->fw_state, "bootloader");
	assert_string_equal(b->dev.mac, "3c:61:05:12:34:56");
	assert_string_equal(f->probed.board, "esp-p");
	assert_string_equal(f->probed.detail, "bootloader, MAC 3c:61:05:12:34:56");
	assert_int_equal(f->rom.syncs, 1);
	assert_int_equal(api_esp32_auto_probes(f->m), 1);
	/* Reported again while present (a scan and udev both saw it): no
	 * event, no second probe. */
	arrive(f);
	RUN_UNTIL(f, 800, false);
	assert_int_equal(f->nprobed, 1);
	assert_int_equal(f->rom.syncs, 1);
}

static void test_no_probe_while_leased(void **state)
{
	struct fixture *f = *state;
	struct ul_lease l;
	uint64_t seq;

	assert_int_equal(tracker_lease_take(f->t, "esp-p", "bob@ci", "", NULL, 60000, &l, &seq),
	                 TRACKER_OK);
	arrive(f);
	assert_true(RUN_UNTIL(f, 5000, api_esp32_auto_skipped(f->m) == 1));
	assert_int_equal(api_esp32_auto_probes(f->m), 0);
	assert_int_equal(f->rom.syncs, 0);
	assert_string_equal(tracker_find(f->t, "esp-p")->fw_state, "");
}

static void test_no_probe_while_tty_open_elsewhere(void **state)
{
	struct fixture *f = *state;
	pid_t holder = hold_open(f->rom.slave);
	pid_t who = 0;
	char comm[32];
	json_t *r, *e;

	assert_int_equal(esp32_port_holders("/proc", f->rom.slave, 0, &who, comm, sizeof(comm)), 1);
	assert_int_equal(who, holder);
	arrive(f);
	assert_true(RUN_UNTIL(f, 5000, api_esp32_auto_skipped(f->m) == 1));
	assert_int_equal(f->rom.syncs, 0);
	assert_int_equal(f->nprobed, 0);
	/* Asked for by name: refused, naming the holder. */
	r = call(f, "probe", "esp-p");
	e = json_object_get(r, "error");
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "code")), "port_busy");
	assert_int_equal(json_integer_value(json_object_get(e, "pid")), holder);
	assert_int_equal(f->rom.syncs, 0);
	unhold(holder);
	assert_int_equal(esp32_port_holders("/proc", f->rom.slave, 0, NULL, NULL, 0), 0);
	/* Free again: the method probes. */
	r = call(f, "probe", "esp-p");
	e = json_object_get(r, "result");
	assert_non_null(e);
	assert_string_equal(json_string_value(json_object_get(e, "state")), "bootloader");
	assert_string_equal(json_string_value(json_object_get(e, "mac")), "3c:61:05:12:34:56");
	assert_string_equal(json_string_value(json_object_get(e, "tty")), f->rom.slave);
	assert_int_equal(f->rom.syncs, 1);
	assert_int_equal(f->nprobed, 1);
	assert_string_equal(f->probed.peer, "ann@bench");
}

static void test_method_errors(void **state)
{
	struct fixture *f = *state;
	json_t *r;

	r = call(f, "probe", "plain");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
	                    "not_esp32");
	r = call(f, "bootloader", "esp-p"); /* absent: no port */
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
	                    "no_port");
	r = call(f, "boot", "nothing-like-it");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "code")),
	                    "unknown_board");
	assert_int_equal(f->rom.syncs, 0);
}

static void mkfile(const char *path)
{
	char dir[700];

	snprintf(dir, sizeof(dir), "mkdir -p '%s'", path);
	assert_int_equal(system(dir), 0);
}

static void test_find_tty_in_sysfs(void **state)
{
	char top[] = "/tmp/usblab-esp32-sysfs-XXXXXX", p[600], out[64];

	(void)state;
	assert_non_null(mkdtemp(top));
	snprintf(p, sizeof(p), "%s/bus/usb/devices/1-4.2:1.0/tty/ttyACM9", top);
	mkfile(p);
	snprintf(p, sizeof(p), "%s/bus/usb/devices/1-4:1.0/tty/ttyACM3", top);
	mkfile(p);
	snprintf(p, sizeof(p), "%s/bus/usb/devices/1-5:1.0/ttyUSB0", top);
	mkfile(p);
	snprintf(p, sizeof(p), "%s/bus/usb/devices/1-6:1.0", top);
	mkfile(p);
	assert_int_equal(esp32_port_find_tty(top, "1-4", out, sizeof(out)), 0);
	assert_string_equal(out, "/dev/ttyACM3"); /* not 1-4.2's */
	assert_int_equal(esp32_port_find_tty(top, "1-4.2", out, sizeof(out)), 0);
	assert_string_equal(out, "/dev/ttyACM9");
	assert_int_equal(esp32_port_find_tty(top, "1-5", out, sizeof(out)), 0);
	assert_string_equal(out, "/dev/ttyUSB0");
	assert_int_equal(esp32_port_find_tty(top, "1-6", out, sizeof(out)), -1);
	assert_int_equal(esp32_port_find_tty(top, "1-7", out, sizeof(out)), -1);
	assert_int_equal(esp32_port_find_tty("/nonexistent", "1-4", out, sizeof(out)), -1);
	snprintf(p, sizeof(p), "rm -rf '%s'", top);
	assert_int_equal(system(p), 0);
	/* Not a character device: no answer. */
	assert_int_equal(esp32_port_holders("/proc", "/etc/hostname", 0, NULL, NULL, 0), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_probed_once_on_arrival, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_no_probe_while_leased, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_no_probe_while_tty_open_elsewhere, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_method_errors, setup, teardown),
	        cmocka_unit_test(test_find_tty_in_sysfs),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
