/* SPDX-License-Identifier: MIT */
/*
 * test_async.c - slow device work stays off usblabd's loop (issue 12,
 * item 9). A real usblabd on loopback serves
 *   0-1  delay:2000:cdc         import, SET_CONFIGURATION and reset take 2 s
 *   0-2  cdc                    the bystander
 *   0-3  delay:2000:msc:FILE    import and each medium read/write take 2 s
 * (the `delay:` spec is the sim's test aid, sim.h). A background client
 * keeps making GET_DESCRIPTOR round trips on 0-2 the whole time; each test
 * starts one slow operation on another device and asserts that the
 * bystander completed at least BG_MIN_DURING round trips while that
 * operation was pending, and that the slow operation's own reply came
 * after them (so it really took the delay). Latencies are printed, not
 * asserted: a loop blocked for 2 s would show 0 or 1 round trips in the
 * window, a free one thousands.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ucl.h"
#include "usblabd_proc.h"

#define DELAY_MS      2000
#define SLOW_MIN_MS   1800 /* the slow operation took its delay */
#define BG_MIN_DURING 20   /* bystander round trips while it was pending */
#define BG_MAX        65536
#define BG_PAUSE_US   500
#define IMAGE_SIZE    (1024u * 1024u)
#define IO_LEN        (64u * 1024u)
#define TIMEOUT_MS    15000

/* The bystander: round trips on 0-2, timestamped. */
struct bg {
	struct ucl_conn *c;
	pthread_t thread;
	atomic_bool stop;
	atomic_uint n;  /* round trips completed */
	atomic_int err; /* the first failure, 0 while none */
	double *t_done; /* completion time of each, ms (ring of the last BG_MAX) */
	double *lat_us; /* its round trip */
};

struct as {
	struct usblabd_proc d;
	char image[64];
	struct bg bg;
	struct ucl_conn *slow; /* the test's connection to 0-1 or 0-3 */
};

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void *bg_run(void *arg)
{
	struct bg *b = arg;
	uint8_t setup[8], buf[18];
	int32_t st;

	ucl_setup(setup, 0x80, 6, 0x0100, 0, sizeof(buf)); /* GET_DESCRIPTOR(DEVICE) */
	while (!atomic_load(&b->stop)) {
		double t0 = now_ms();
		int r = ucl_control(b->c, setup, buf, sizeof(buf), &st);
		double t1 = now_ms();
		unsigned i = atomic_load(&b->n);

		if (r != (int)sizeof(buf)) {
			atomic_store(&b->err, r < 0 ? r : -1);
			break;
		}
		b->t_done[i % BG_MAX] = t1; /* a ring: the last BG_MAX */
		b->lat_us[i % BG_MAX] = (t1 - t0) * 1e3;
		atomic_store(&b->n, i + 1);
		usleep(BG_PAUSE_US); /* a client, not a load generator */
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Counts the bystander's round trips completed in [from, to] ms, prints
 * their latencies, and returns the count. */
static unsigned bg_during(struct bg *b, const char *what, double from, double to)
{
	unsigned n = atomic_load(&b->n), have = n < BG_MAX ? n : BG_MAX, k = 0;
	double *lat = malloc(sizeof(double) * have + 1);

	assert_non_null(lat);
	assert_int_equal(atomic_load(&b->err), 0);
	for (unsigned i = 0; i < have; i++) {
		if (b->t_done[i] >= from && b->t_done[i] <= to)
			lat[k++] = b->lat_us[i];
	}
	if (k > 0) {
		qsort(lat, k, sizeof(double), cmp_double);
		printf("# %s took %.0f ms; meanwhile the other client made %u round trips "
		       "on 0-2: p50 %.0f us, p99 %.0f us, max %.0f us\n",
		       what, to - from, k, lat[k / 2], lat[(k * 99) / 100], lat[k - 1]);
	} else {
		printf("# %s took %.0f ms; meanwhile the other client made no round trip\n", what,
		       to - from);
	}
	free(lat);
	return k;
}

static struct ucl_conn *import_dev(struct as *s, const char *busid)
{
	struct ucl_conn *c = NULL;
	int rc = 0;

	for (int i = 0; i < 300; i++) {
		rc = ucl_import(s->d.host, s->d.port, busid, &c, NULL);
		if (rc != UCL_E_ST(USBIP_ST_DEV_BUSY))
			break;
		usleep(10000);
	}
	if (rc != 0)
		fail_msg("import %s: %s", busid, ucl_strerror(rc));
	assert_int_equal(ucl_set_timeout(c, TIMEOUT_MS), 0);
	return c;
}

static int group_setup(void **state)
{
	struct as *s = calloc(1, sizeof(*s));
	char virt[160], err[256];
	uint8_t *pattern = malloc(IMAGE_SIZE);
	int fd;

	if (!s || !pattern)
		return -1;
	for (unsigned i = 0; i < IMAGE_SIZE; i++)
		pattern[i] = (uint8_t)(i * 7 + (i >> 9));
	snprintf(s->image, sizeof(s->image), "/tmp/usblab-async-XXXXXX");
	fd = mkstemp(s->image);
	if (fd < 0 || write(fd, pattern, IMAGE_SIZE) != (ssize_t)IMAGE_SIZE) {
		fprintf(stderr, "test_async: image: %s\n", strerror(errno));
		return -1;
	}
	close(fd);
	free(pattern);
	snprintf(virt, sizeof(virt), "delay:%d:cdc,cdc,delay:%d:msc:%s", DELAY_MS, DELAY_MS,
	         s->image);
	if (usblabd_proc_start(&s->d, getenv("USBLABD"), virt, false, err, sizeof(err)) < 0) {
		fprintf(stderr, "test_async: %s\n", err);
		return -1;
	}
	s->bg.t_done = calloc(BG_MAX, sizeof(double));
	s->bg.lat_us = calloc(BG_MAX, sizeof(double));
	if (!s->bg.t_done || !s->bg.lat_us ||
	    ucl_import(s->d.host, s->d.port, "0-2", &s->bg.c, NULL) != 0 ||
	    ucl_set_timeout(s->bg.c, TIMEOUT_MS) != 0 ||
	    pthread_create(&s->bg.thread, NULL, bg_run, &s->bg) != 0) {
		fprintf(stderr, "test_async: cannot start the bystander client\n");
		return -1;
	}
	*state = s;
	return 0;
}

static int group_teardown(void **state)
{
	struct as *s = *state;

	atomic_store(&s->bg.stop, true);
	pthread_join(s->bg.thread, NULL);
	printf("# the other client made %u round trips in all, error %d\n", atomic_load(&s->bg.n),
	       atomic_load(&s->bg.err));
	ucl_close(s->bg.c);
	assert_true(usblabd_proc_alive(&s->d));
	usblabd_proc_stop(&s->d);
	unlink(s->image);
	free(s->bg.t_done);
	free(s->bg.lat_us);
	free(s);
	return 0;
}

static int close_slow(void **state)
{
	struct as *s = *state;

	ucl_close(s->slow);
	s->slow = NULL;
	return 0;
}

/* The import of 0-1 waits for its open (claim) on the worker. */
static void test_slow_import(void **state)
{
	struct as *s = *state;
	double t0 = now_ms(), t1;

	s->slow = import_dev(s, "0-1");
	t1 = now_ms();
	assert_true(t1 - t0 >= SLOW_MIN_MS);
	assert_true(bg_during(&s->bg, "import of 0-1 (slow open)", t0, t1) >= BG_MIN_DURING);
}

/* Sends one control request on s->slow and waits for its reply; returns
 * the window it was pending in. */
static void slow_control(struct as *s, const uint8_t setup[8], const char *what)
{
	struct ucl_xfer x = {.ep = 0, .dir_in = false, .type = UCL_EP_CONTROL};
	struct ucl_reply r;
	uint32_t seq;
	double t0, t1;

	memcpy(x.setup, setup, 8);
	t0 = now_ms();
	assert_int_equal(ucl_submit(s->slow, &x, &seq), 0);
	assert_int_equal(ucl_wait(s->slow, &r), 0);
	t1 = now_ms();
	assert_int_equal(r.command, USBIP_RET_SUBMIT);
	assert_int_equal(r.seqnum, seq);
	assert_int_equal(r.status, 0);
	/* The reply came after the delay, and the bystander went on meanwhile. */
	assert_true(t1 - t0 >= SLOW_MIN_MS);
	assert_true(bg_during(&s->bg, what, t0, t1) >= BG_MIN_DURING);
}

/* SET_FEATURE(PORT_RESET) (§4.5) on 0-1 takes 2 s on the worker. */
static void test_slow_reset(void **state)
{
	struct as *s = *state;
	uint8_t setup[8];

	s->slow = import_dev(s, "0-1");
	ucl_setup(setup, 0x23, 3, 4, 0, 0);
	slow_control(s, setup, "port reset of 0-1");
}

/* SET_CONFIGURATION(1) on 0-1 takes 2 s on the worker; the device still
 * answers afterwards on the same connection. */
static void test_slow_set_configuration(void **state)
{
	struct as *s = *state;
	uint8_t setup[8], buf[1];
	int32_t st;

	s->slow = import_dev(s, "0-1");
	ucl_setup(setup, 0x00, 9, 1, 0, 0);
	slow_control(s, setup, "SET_CONFIGURATION of 0-1");
	ucl_setup(setup, 0x80, 8, 0, 0, 1); /* GET_CONFIGURATION */
	assert_int_equal(ucl_control(s->slow, setup, buf, 1, &st), 1);
	assert_int_equal(buf[0], 1);
}

/* msc:FILE: a READ(10) whose data URB waits 2 s for the file on the
 * worker, then a WRITE(10) whose data lands in the file. */
static void test_msc_file_io_off_loop(void **state)
{
	struct as *s = *state;
	uint8_t cfg[256], *buf = malloc(IO_LEN), *want = malloc(IO_LEN);
	struct ucl_endpoint eps[8];
	uint8_t cdb[10] = {0x28}, csw;
	int n, in, out, fd, rc;
	int32_t st;
	double t0, t1;

	assert_non_null(buf);
	assert_non_null(want);
	s->slow = import_dev(s, "0-3");
	n = ucl_get_config(s->slow, 0, cfg, sizeof(cfg));
	assert_true(n > 0);
	n = ucl_config_endpoints(cfg, (size_t)n, eps, 8);
	in = ucl_find_endpoint(eps, (unsigned)n, 0x08, UCL_EP_BULK, true);
	out = ucl_find_endpoint(eps, (unsigned)n, 0x08, UCL_EP_BULK, false);
	assert_true(in >= 0 && out >= 0);

	/* READ(10) of 128 blocks at LBA 8. */
	cdb[5] = 8;
	cdb[8] = (uint8_t)(IO_LEN / 512);
	t0 = now_ms();
	rc = ucl_bot_command(s->slow, eps[out].addr & 0x0f, eps[in].addr & 0x0f, 1, cdb, 10, true,
	                     buf, IO_LEN, &csw, &st);
	t1 = now_ms();
	assert_int_equal(rc, (int)IO_LEN);
	assert_int_equal(csw, 0);
	fd = open(s->image, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, want, IO_LEN, 8 * 512), (ssize_t)IO_LEN);
	assert_memory_equal(buf, want, IO_LEN);
	assert_true(t1 - t0 >= SLOW_MIN_MS);
	assert_true(bg_during(&s->bg, "READ(10) 64 KiB from msc:FILE", t0, t1) >= BG_MIN_DURING);

	/* WRITE(10) of the same 128 blocks, inverted. */
	for (unsigned i = 0; i < IO_LEN; i++)
		buf[i] = (uint8_t)~want[i];
	cdb[0] = 0x2a;
	t0 = now_ms();
	rc = ucl_bot_command(s->slow, eps[out].addr & 0x0f, eps[in].addr & 0x0f, 2, cdb, 10, false,
	                     buf, IO_LEN, &csw, &st);
	t1 = now_ms();
	assert_int_equal(rc, (int)IO_LEN);
	assert_int_equal(csw, 0);
	assert_int_equal(pread(fd, want, IO_LEN, 8 * 512), (ssize_t)IO_LEN);
	assert_memory_equal(buf, want, IO_LEN);
	close(fd);
	assert_true(t1 - t0 >= SLOW_MIN_MS);
	assert_true(bg_during(&s->bg, "WRITE(10) 64 KiB to msc:FILE", t0, t1) >= BG_MIN_DURING);
	free(buf);
	free(want);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_teardown(test_slow_import, close_slow),
	        cmocka_unit_test_teardown(test_slow_reset, close_slow),
	        cmocka_unit_test_teardown(test_slow_set_configuration, close_slow),
	        cmocka_unit_test_teardown(test_msc_file_io_off_loop, close_slow),
	};

	if (argc > 1)
		setenv("USBLABD", argv[1], 1);
	return cmocka_run_group_tests_name("async", tests, group_setup, group_teardown);
}
