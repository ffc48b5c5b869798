/* SPDX-License-Identifier: MIT */
/*
 * usbip_bench.c - usbip-bench: how fast usblabd serves URBs on loopback,
 * next to the same byte pattern over a plain TCP connection (the physical
 * limit of the transport). See bench/README.md for what each row means.
 *
 *   usbip-bench [--time SECONDS] [--runs N] [USBLABD]   start usblabd itself
 *   usbip-bench --host HOST --port PORT                 use a running usblabd
 *
 * USBLABD may also come from the environment. A running daemon must export
 * a CDC-ACM echo device and a mass-storage device (RAM disk preferred).
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "ucl.h"
#include "usblabd_proc.h"

#define BENCH_SMALL              64         /* bytes per small transfer */
#define BENCH_DEPTH              32         /* URBs in flight for the deep row */
#define BENCH_MAX_SAMPLES        (1u << 21) /* latency samples kept */
#define BENCH_CBW                31         /* BOT command block wrapper */
#define BENCH_CSW                13         /* BOT command status wrapper */
#define BENCH_BLOCK              512
#define BENCH_ROUNDS             3    /* alternations of usblabd and plain TCP per row */
#define BENCH_TARGET_OVERHEAD_US 5.0  /* server overhead per URB at p50 */
#define BENCH_TARGET_BULK_RATIO  0.80 /* bulk with 64 KiB URBs vs plain TCP */

#define BENCH_MAX_RUNS 15
#define BENCH_NROWS    6

struct bench_opts {
	const char *exe;
	const char *host, *port;
	double secs;   /* per measurement */
	unsigned runs; /* whole tables measured; the spread is printed */
};

/* A device under test: an imported connection and its bulk endpoints. */
struct bench_dev {
	struct ucl_conn *c;
	uint8_t ep_out, ep_in;
	uint32_t blocks; /* MSC: capacity in 512-byte blocks */
	uint32_t tag;
};

/* One row's two measurements. For latency rows the values are µs, for
 * rate rows per second. */
struct bench_row {
	const char *name;
	const char *unit;
	double usb, plain;
};

static double bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void bench_die(const char *what, int rc)
{
	fprintf(stderr, "usbip-bench: %s: %s\n", what, rc ? ucl_strerror(rc) : strerror(errno));
	exit(1);
}

/* CPU time the process has run, in ns, from /proc/PID/schedstat (its first
 * field); -1 when unreadable. Unlike wall-clock round trips it does not
 * move with the scheduler's wake-up latency or the machine's load. */
static long long bench_proc_cpu_ns(pid_t pid)
{
	char path[64];
	long long ns = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fscanf(f, "%lld", &ns) != 1)
		ns = -1;
	fclose(f);
	return ns;
}

static int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of n sorted samples. */
static double bench_percentile(const double *s, size_t n, double p)
{
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);

	return n ? s[i < n ? i : n - 1] : 0.0;
}

/* ---- Plain TCP: the same byte pattern without usblabd ------------------- */

/*
 * A pattern is a cycle of request/response sizes, one pair per URB: the
 * USB/IP client sends header + OUT payload and gets header + IN payload
 * back. The echo thread reads each request whole and answers it, as a
 * server that did no work would.
 */
#define BENCH_MAX_STEPS 4

struct bench_pattern {
	size_t req[BENCH_MAX_STEPS], resp[BENCH_MAX_STEPS];
	unsigned steps;
	unsigned depth; /* requests in flight; 0: send a whole cycle, then read it */
	size_t payload; /* bytes counted as data per cycle (bulk rows) */
};

struct bench_echo {
	int lfd;
	const struct bench_pattern *pat;
	uint8_t *buf;
	size_t bufsize;
	double cpu_ns;          /* the echo thread's own CPU time */
	unsigned long answered; /* requests it answered */
};

static int bench_recv_all(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = recv(fd, (uint8_t *)buf + got, n - got, 0);

		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

static int bench_send_all(int fd, const void *buf, size_t n)
{
	size_t sent = 0;

	while (sent < n) {
		ssize_t w = send(fd, (const uint8_t *)buf + sent, n - sent, MSG_NOSIGNAL);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		sent += (size_t)w;
	}
	return 0;
}

static void *bench_echo_thread(void *arg)
{
	struct bench_echo *e = arg;
	int one = 1, fd = accept(e->lfd, NULL, NULL);
	unsigned i = 0;
	struct timespec c0, c1;

	if (fd < 0)
		return NULL;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	for (;;) {
		if (bench_recv_all(fd, e->buf, e->pat->req[i]) < 0)
			break;
		if (bench_send_all(fd, e->buf, e->pat->resp[i]) < 0)
			break;
		e->answered++;
		i = (i + 1) % e->pat->steps;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	e->cpu_ns = (double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec);
	close(fd);
	return NULL;
}

/* A receive buffer like ucl's: small messages come from one recv. */
struct bench_rx {
	int fd;
	uint8_t buf[16384];
	size_t off, len;
};

static int bench_rx_read(struct bench_rx *rx, uint8_t *dst, size_t n)
{
	while (n > 0) {
		ssize_t r;

		if (rx->off < rx->len) {
			size_t k = rx->len - rx->off < n ? rx->len - rx->off : n;

			memcpy(dst, rx->buf + rx->off, k);
			rx->off += k;
			dst += k;
			n -= k;
			continue;
		}
		rx->off = rx->len = 0;
		if (n >= sizeof(rx->buf) / 2) {
			r = recv(rx->fd, dst, n, 0);
			if (r > 0) {
				dst += r;
				n -= (size_t)r;
			}
		} else {
			r = recv(rx->fd, rx->buf, sizeof(rx->buf), 0);
			if (r > 0)
				rx->len = (size_t)r;
		}
		if (r == 0 || (r < 0 && errno != EINTR))
			return -1;
	}
	return 0;
}

/*
 * Runs pat against an echo thread for secs. Returns the number of
 * requests answered and the elapsed time in *elapsed; with samples, appends
 * each request's round trip in µs to samples[*nsamples] (depth 1 only).
 */
static unsigned long bench_plain_run(const struct bench_pattern *pat, double secs, double *elapsed,
                                     double *samples, size_t *nsamples, double *cpu_ns,
                                     unsigned long *answered)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	struct bench_echo e = {0};
	static struct bench_rx rx;
	pthread_t th;
	size_t maxmsg = 0;
	uint8_t *tx, *rbuf;
	unsigned long sent = 0, recvd = 0, base = 0;
	unsigned i;
	double t0 = 0, t, end = 0;
	int one = 1, fd;

	for (i = 0; i < pat->steps; i++) {
		maxmsg = pat->req[i] > maxmsg ? pat->req[i] : maxmsg;
		maxmsg = pat->resp[i] > maxmsg ? pat->resp[i] : maxmsg;
	}
	tx = calloc(1, maxmsg);
	rbuf = malloc(maxmsg);
	e.buf = malloc(maxmsg);
	e.bufsize = maxmsg;
	e.pat = pat;
	if (!tx || !rbuf || !e.buf)
		bench_die("plain: out of memory", 0);
	e.lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (e.lfd < 0 || bind(e.lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(e.lfd, (struct sockaddr *)&sa, &salen) < 0 || listen(e.lfd, 1) < 0)
		bench_die("plain: listen", 0);
	if (pthread_create(&th, NULL, bench_echo_thread, &e) != 0)
		bench_die("plain: thread", 0);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		bench_die("plain: connect", 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(&rx, 0, sizeof(rx));
	rx.fd = fd;

	for (;;) {
		t = bench_now();
		if (pat->depth == 0) {
			/* A whole cycle out, then its replies. */
			for (i = 0; i < pat->steps; i++)
				if (bench_send_all(fd, tx, pat->req[i]) < 0)
					bench_die("plain: send", 0);
			for (i = 0; i < pat->steps; i++)
				if (bench_rx_read(&rx, rbuf, pat->resp[i]) < 0)
					bench_die("plain: recv", 0);
			recvd += pat->steps;
		} else {
			/* Keep depth requests in flight; replies come in order. */
			while (sent - recvd < pat->depth) {
				if (bench_send_all(fd, tx, pat->req[sent % pat->steps]) < 0)
					bench_die("plain: send", 0);
				sent++;
			}
			if (bench_rx_read(&rx, rbuf, pat->resp[recvd % pat->steps]) < 0)
				bench_die("plain: recv", 0);
			recvd++;
		}
		if (t0 == 0) {
			/* The first 200 requests warm up. */
			if (recvd >= 200) {
				t0 = bench_now();
				end = t0 + secs;
				base = recvd;
			}
			continue;
		}
		if (samples && pat->depth == 1 && *nsamples < BENCH_MAX_SAMPLES)
			samples[(*nsamples)++] = (bench_now() - t) * 1e6;
		if ((pat->depth == 0 || recvd % 64 == 0) && bench_now() >= end)
			break;
	}
	*elapsed = bench_now() - t0;
	/* Collect what is still in flight, then EOF ends the echo thread. */
	while (recvd < sent && bench_rx_read(&rx, rbuf, pat->resp[recvd % pat->steps]) == 0)
		recvd++;
	shutdown(fd, SHUT_WR);
	pthread_join(th, NULL);
	if (cpu_ns) {
		*cpu_ns += e.cpu_ns;
		*answered += e.answered;
	}
	close(fd);
	close(e.lfd);
	free(tx);
	free(rbuf);
	free(e.buf);
	return recvd - base;
}

/* ---- usblabd side ------------------------------------------------------- */

static void bench_set_configuration(struct ucl_conn *c)
{
	uint8_t setup[8];
	int rc;

	ucl_setup(setup, 0x00, 0x09, 1, 0, 0);
	rc = ucl_control(c, setup, NULL, 0, NULL);
	if (rc < 0)
		bench_die("SET_CONFIGURATION", rc);
}

/* Imports busid and finds the bulk endpoints of its interface of class
 * intf_class. */
static void bench_open(const struct bench_opts *o, const char *busid, int intf_class,
                       struct bench_dev *d)
{
	struct ucl_endpoint eps[8];
	uint8_t cfg[512];
	int rc, n, in, out;

	memset(d, 0, sizeof(*d));
	rc = ucl_import(o->host, o->port, busid, &d->c, NULL);
	if (rc < 0)
		bench_die("import", rc);
	bench_set_configuration(d->c);
	rc = ucl_get_config(d->c, 0, cfg, sizeof(cfg));
	if (rc < 0)
		bench_die("GET_DESCRIPTOR(config)", rc);
	n = ucl_config_endpoints(cfg, (size_t)rc, eps, 8);
	if (n < 0)
		bench_die("configuration descriptor", n);
	out = ucl_find_endpoint(eps, (unsigned)n, intf_class, UCL_EP_BULK, false);
	in = ucl_find_endpoint(eps, (unsigned)n, intf_class, UCL_EP_BULK, true);
	if (in < 0 || out < 0)
		bench_die("no bulk endpoints", UCL_E_ARG);
	d->ep_out = eps[out].addr & 0x0f;
	d->ep_in = eps[in].addr & 0x0f;
}

/* Depth-1 round trips of GET_DESCRIPTOR(Device), one URB each, for secs;
 * each round trip's time in µs is appended to samples[*n]. */
static void bench_usb_latency(struct bench_dev *d, double secs, double *samples, size_t *n)
{
	uint8_t setup[8], desc[18];
	double end = 0, t;
	int i, rc;

	ucl_setup(setup, 0x80, 0x06, 0x0100, 0, sizeof(desc));
	for (i = 0; i < 200; i++)
		if ((rc = ucl_control(d->c, setup, desc, sizeof(desc), NULL)) != (int)sizeof(desc))
			bench_die("GET_DESCRIPTOR", rc);
	end = bench_now() + secs;
	do {
		t = bench_now();
		rc = ucl_control(d->c, setup, desc, sizeof(desc), NULL);
		if (rc != (int)sizeof(desc))
			bench_die("GET_DESCRIPTOR", rc);
		samples[(*n)++] = (bench_now() - t) * 1e6;
	} while (*n < BENCH_MAX_SAMPLES && (*n % 64 != 0 || bench_now() < end));
}

/* 64-byte bulk OUT then IN on the CDC echo, one URB at a time. Returns
 * URBs per second. */
static double bench_usb_cdc_depth1(struct bench_dev *d, double secs)
{
	uint8_t out[BENCH_SMALL] = {0}, in[BENCH_SMALL];
	unsigned long urbs = 0;
	double t0, end;
	int rc;

	for (;;) {
		if (urbs == 200)
			break;
		if ((rc = ucl_bulk(d->c, d->ep_out, false, out, sizeof(out), NULL)) < 0 ||
		    (rc = ucl_bulk(d->c, d->ep_in, true, in, sizeof(in), NULL)) < 0)
			bench_die("CDC echo", rc);
		urbs += 2;
	}
	urbs = 0;
	t0 = bench_now();
	end = t0 + secs;
	do {
		if ((rc = ucl_bulk(d->c, d->ep_out, false, out, sizeof(out), NULL)) !=
		            BENCH_SMALL ||
		    (rc = ucl_bulk(d->c, d->ep_in, true, in, sizeof(in), NULL)) != BENCH_SMALL)
			bench_die("CDC echo", rc < 0 ? rc : UCL_E_PROTO);
		urbs += 2;
	} while (urbs % 64 != 0 || bench_now() < end);
	return (double)urbs / (bench_now() - t0);
}

/* depth URBs in flight on the CDC echo, half OUT and half IN, each
 * completion replaced by a URB of the same direction. Returns URBs/s. */
static double bench_usb_cdc_deep(struct bench_dev *d, unsigned depth, double secs)
{
	static uint8_t bufs[BENCH_DEPTH][BENCH_SMALL];
	struct ucl_xfer x[BENCH_DEPTH];
	uint32_t seq[BENCH_DEPTH];
	bool busy[BENCH_DEPTH];
	unsigned long urbs = 0;
	double t0 = 0, end = 0, elapsed;
	unsigned i;
	int rc;

	for (i = 0; i < depth; i++) {
		x[i] = (struct ucl_xfer){.ep = i % 2 ? d->ep_in : d->ep_out,
		                         .dir_in = i % 2,
		                         .type = UCL_EP_BULK,
		                         .buf = bufs[i],
		                         .len = BENCH_SMALL};
		if ((rc = ucl_submit(d->c, &x[i], &seq[i])) < 0)
			bench_die("CDC submit", rc);
		busy[i] = true;
	}
	for (;;) {
		struct ucl_reply r;

		if ((rc = ucl_wait(d->c, &r)) < 0)
			bench_die("CDC wait", rc);
		if (r.status != 0 || r.command != USBIP_RET_SUBMIT)
			bench_die("CDC URB failed", UCL_E_URB);
		i = (unsigned)(((const uint8_t *)r.buf - bufs[0]) / BENCH_SMALL);
		busy[i] = false;
		urbs++;
		if (t0 == 0 && urbs == 400) {
			urbs = 0;
			t0 = bench_now();
			end = t0 + secs;
		} else if (t0 != 0 && urbs % 64 == 0 && bench_now() >= end) {
			break;
		}
		if ((rc = ucl_submit(d->c, &x[i], &seq[i])) < 0)
			bench_die("CDC submit", rc);
		busy[i] = true;
	}
	elapsed = bench_now() - t0;
	/* Take back what is still in flight. */
	for (i = 0; i < depth; i++)
		if (busy[i] && (rc = ucl_unlink(d->c, seq[i], NULL)) < 0)
			bench_die("CDC unlink", rc);
	while (ucl_pending(d->c) > 0) {
		struct ucl_reply r;

		if ((rc = ucl_wait(d->c, &r)) < 0)
			bench_die("CDC drain", rc);
	}
	return (double)urbs / elapsed;
}

/* Reads size bytes per READ(10) from the MSC device, one BOT command (three
 * URBs submitted together) at a time. Returns data bytes per second. */
static double bench_usb_msc(struct bench_dev *d, uint32_t size, double secs)
{
	uint8_t cdb[10] = {0x28};
	uint8_t *buf = malloc(size), csw = 0;
	unsigned long n = 0;
	uint32_t lba = 0, blocks = size / BENCH_BLOCK;
	double t0 = 0, end = 0;
	int rc;

	if (!buf)
		bench_die("out of memory", 0);
	for (;;) {
		if (lba + blocks > d->blocks)
			lba = 0;
		usbip_put_be32(cdb + 2, lba);
		usbip_put_be16(cdb + 7, (uint16_t)blocks);
		rc = ucl_bot_command(d->c, d->ep_out, d->ep_in, ++d->tag, cdb, sizeof(cdb), true,
		                     buf, size, &csw, NULL);
		if (rc != (int)size || csw != 0)
			bench_die("READ(10)", rc < 0 ? rc : UCL_E_CSW);
		lba += blocks;
		n++;
		if (t0 == 0 && n == 20) {
			n = 0;
			t0 = bench_now();
			end = t0 + secs;
		} else if (t0 != 0 && bench_now() >= end) {
			break;
		}
	}
	free(buf);
	return (double)n * size / (bench_now() - t0);
}

static void bench_msc_capacity(struct bench_dev *d)
{
	static const uint8_t cdb[10] = {0x25};
	uint8_t cap[8], csw = 0;
	int rc;

	rc = ucl_bot_command(d->c, d->ep_out, d->ep_in, ++d->tag, cdb, sizeof(cdb), true, cap,
	                     sizeof(cap), &csw, NULL);
	if (rc != 8 || csw != 0)
		bench_die("READ CAPACITY(10)", rc < 0 ? rc : UCL_E_CSW);
	d->blocks = usbip_get_be32(cap) + 1;
	if (usbip_get_be32(cap + 4) != BENCH_BLOCK || d->blocks < 256)
		bench_die("unexpected MSC geometry", UCL_E_ARG);
}

/* Finds the busid of the first device with an interface of class cls. */
static void bench_find_busid(const struct bench_opts *o, uint8_t cls, char *busid)
{
	static struct ucl_device devs[64];
	unsigned n = 0, i, k;
	int rc = ucl_devlist(o->host, o->port, devs, 64, &n);

	if (rc < 0)
		bench_die("devlist", rc);
	for (i = 0; i < n && i < 64; i++)
		for (k = 0; k < devs[i].info.bNumInterfaces; k++)
			if (devs[i].ifs[k].bInterfaceClass == cls) {
				memcpy(busid, devs[i].info.busid, USBIP_BUSID_SIZE);
				return;
			}
	fprintf(stderr, "usbip-bench: no device with an interface of class 0x%02x\n", cls);
	exit(1);
}

/* One whole table: the rows, the CPU figures and the latency sample
 * counts. */
struct bench_run {
	struct bench_row rows[BENCH_NROWS];
	double cpu_usb_us, cpu_plain_us; /* per round trip; 0 when unknown */
	size_t nusb, nplain;
};

/* ---- Output ------------------------------------------------------------- */

static void bench_usage(void)
{
	fputs("usage: usbip-bench [--time SECONDS] [--runs N] [USBLABD]\n"
	      "       usbip-bench --host HOST --port PORT [--time SECONDS] [--runs N]\n"
	      "USBLABD may also be given in the environment. --time is per measurement\n"
	      "(default 1.2; ten measurements make a table). --runs measures the whole\n"
	      "table N times (default 3, at most 15) and prints the medians and the\n"
	      "spread (min / median / max) of every row.\n",
	      stderr);
}

/*
 * Measures one table. Each row alternates usblabd and plain TCP over
 * BENCH_ROUNDS rounds of secs / BENCH_ROUNDS, so that load from elsewhere
 * falls on both sides alike. Latency percentiles pool the rounds' samples;
 * rates keep each side's best round.
 */
static void bench_measure(const struct bench_opts *o, struct bench_dev *cdc, struct bench_dev *msc,
                          pid_t pid, double *usb_s, double *plain_s, struct bench_run *out)
{
	struct bench_row *rows = out->rows;
	double elapsed, round = o->secs / BENCH_ROUNDS;
	size_t nusb = 0, nplain = 0, cpu_urbs = 0;
	long long cpu_ns = 0;
	double echo_ns = 0;
	unsigned long echo_n = 0, count;
	int nrows = 0, i, r;

	{
		/* 1. Latency: GET_DESCRIPTOR(Device, 18 B): 48 bytes out, 48 + 18
		 * back. */
		struct bench_pattern p = {.req = {48}, .resp = {48 + 18}, .steps = 1, .depth = 1};

		for (r = 0; r < BENCH_ROUNDS; r++) {
			size_t before = nusb;
			long long t0 = pid > 0 ? bench_proc_cpu_ns(pid) : -1, t1;

			bench_usb_latency(cdc, round, usb_s, &nusb);
			t1 = pid > 0 ? bench_proc_cpu_ns(pid) : -1;
			if (t0 >= 0 && t1 >= t0) {
				cpu_ns += t1 - t0;
				cpu_urbs += nusb - before;
			}
			bench_plain_run(&p, round, &elapsed, plain_s, &nplain, &echo_ns, &echo_n);
		}
		qsort(usb_s, nusb, sizeof(double), bench_cmp_double);
		qsort(plain_s, nplain, sizeof(double), bench_cmp_double);
		rows[nrows++] = (struct bench_row){"URB latency p50, ctrl GET_DESCRIPTOR 18 B",
		                                   "us", bench_percentile(usb_s, nusb, 50),
		                                   bench_percentile(plain_s, nplain, 50)};
		rows[nrows++] = (struct bench_row){"URB latency p99, ctrl GET_DESCRIPTOR 18 B",
		                                   "us", bench_percentile(usb_s, nusb, 99),
		                                   bench_percentile(plain_s, nplain, 99)};
	}
	{
		/* 2. URBs/s, 64-byte CDC echo: OUT = 48+64 out, 48 back; IN = 48
		 * out, 48+64 back. */
		struct bench_pattern p = {
		        .req = {48 + BENCH_SMALL, 48}, .resp = {48, 48 + BENCH_SMALL}, .steps = 2};
		static const unsigned depths[2] = {1, BENCH_DEPTH};
		static const char *names[2] = {"URB/s depth 1, 64 B bulk OUT/IN (CDC echo)",
		                               "URB/s depth 32, 64 B bulk OUT/IN (CDC echo)"};

		for (i = 0; i < 2; i++) {
			struct bench_row *row = &rows[nrows++];

			*row = (struct bench_row){names[i], "URB/s", 0, 0};
			p.depth = depths[i];
			for (r = 0; r < BENCH_ROUNDS; r++) {
				double v = depths[i] == 1
				                   ? bench_usb_cdc_depth1(cdc, round)
				                   : bench_usb_cdc_deep(cdc, depths[i], round);

				row->usb = v > row->usb ? v : row->usb;
				count = bench_plain_run(&p, round, &elapsed, NULL, NULL, NULL,
				                        NULL);
				v = (double)count / elapsed;
				row->plain = v > row->plain ? v : row->plain;
			}
		}
	}
	{
		/* 3. Bulk: READ(10) on the RAM disk, CBW + data + CSW per
		 * command, one command at a time (as usb-storage does). */
		static const uint32_t sizes[2] = {16384, 65536};
		static const char *names[2] = {"bulk MB/s, 16 KiB URBs (MSC READ(10), RAM)",
		                               "bulk MB/s, 64 KiB URBs (MSC READ(10), RAM)"};

		for (i = 0; i < 2; i++) {
			struct bench_pattern p = {
			        .req = {48 + BENCH_CBW, 48, 48},
			        .resp = {48, 48 + sizes[i], 48 + BENCH_CSW},
			        .steps = 3,
			        .depth = 0,
			};
			struct bench_row *row = &rows[nrows++];

			*row = (struct bench_row){names[i], "MB/s", 0, 0};
			for (r = 0; r < BENCH_ROUNDS; r++) {
				double v = bench_usb_msc(msc, sizes[i], round) / 1e6;

				row->usb = v > row->usb ? v : row->usb;
				count = bench_plain_run(&p, round, &elapsed, NULL, NULL, NULL,
				                        NULL);
				v = (double)(count / 3) * sizes[i] / elapsed / 1e6;
				row->plain = v > row->plain ? v : row->plain;
			}
		}
	}
	out->nusb = nusb;
	out->nplain = nplain;
	out->cpu_usb_us = cpu_urbs > 0 ? (double)cpu_ns / 1e3 / (double)cpu_urbs : 0;
	out->cpu_plain_us = echo_n > 0 ? echo_ns / 1e3 / (double)echo_n : 0;
}

/* min, median and max of v[0..n) (sorted in place). */
static void bench_spread(double *v, unsigned n, double out[3])
{
	qsort(v, n, sizeof(double), bench_cmp_double);
	out[0] = v[0];
	out[1] = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	out[2] = v[n - 1];
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"host", required_argument, NULL, 'H'}, {"port", required_argument, NULL, 'p'},
	        {"time", required_argument, NULL, 't'}, {"runs", required_argument, NULL, 'n'},
	        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0},
	};
	struct bench_opts o = {.secs = 1.2, .runs = 3};
	struct usblabd_proc proc = {0};
	struct bench_dev cdc, msc;
	static struct bench_run runs[BENCH_MAX_RUNS];
	char busid_cdc[USBIP_BUSID_SIZE], busid_msc[USBIP_BUSID_SIZE], err[256], date[64];
	double *usb_s, *plain_s, load[3], started = bench_now();
	double usb_v[BENCH_MAX_RUNS], plain_v[BENCH_MAX_RUNS], ratio_v[BENCH_MAX_RUNS];
	double us[3], pl[3], ra[3], overhead[BENCH_MAX_RUNS], ov[3], bulk_ratio;
	bool spawned = false;
	time_t now = time(NULL);
	struct tm tm;
	unsigned k;
	int opt, i;

	while ((opt = getopt_long(argc, argv, "H:p:t:n:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'H':
			o.host = optarg;
			break;
		case 'p':
			o.port = optarg;
			break;
		case 't':
			o.secs = atof(optarg);
			if (o.secs <= 0 || o.secs > 10) {
				fputs("usbip-bench: --time wants 0..10 seconds\n", stderr);
				return 2;
			}
			break;
		case 'n':
			o.runs = (unsigned)atoi(optarg);
			if (o.runs < 1 || o.runs > BENCH_MAX_RUNS) {
				fprintf(stderr, "usbip-bench: --runs wants 1..%d\n",
				        BENCH_MAX_RUNS);
				return 2;
			}
			break;
		case 'h':
			bench_usage();
			return 0;
		default:
			bench_usage();
			return 2;
		}
	}
	if (optind < argc)
		o.exe = argv[optind];
	else
		o.exe = getenv("USBLABD");
	if (!o.host != !o.port || (!o.host && !o.exe)) {
		bench_usage();
		return 2;
	}
	if (!o.host) {
		/* cdc and a RAM-disk msc: the cheapest device paths (README). */
		if (usblabd_proc_start(&proc, o.exe, "cdc,msc", true, err, sizeof(err)) < 0) {
			fprintf(stderr, "usbip-bench: %s\n", err);
			return 1;
		}
		spawned = true;
		o.host = proc.host;
		o.port = proc.port;
	}
	usb_s = malloc(BENCH_MAX_SAMPLES * sizeof(double));
	plain_s = malloc(BENCH_MAX_SAMPLES * sizeof(double));
	if (!usb_s || !plain_s)
		bench_die("out of memory", 0);

	bench_find_busid(&o, 0x0a, busid_cdc);
	bench_find_busid(&o, 0x08, busid_msc);
	bench_open(&o, busid_cdc, 0x0a, &cdc);
	bench_open(&o, busid_msc, 0x08, &msc);
	bench_msc_capacity(&msc);
	for (k = 0; k < o.runs; k++) {
		bench_measure(&o, &cdc, &msc, spawned ? proc.pid : 0, usb_s, plain_s, &runs[k]);
		overhead[k] = runs[k].rows[0].usb - runs[k].rows[0].plain;
		fprintf(stderr, "usbip-bench: run %u of %u: 64 KiB bulk ratio %.2f\n", k + 1,
		        o.runs,
		        runs[k].rows[BENCH_NROWS - 1].usb / runs[k].rows[BENCH_NROWS - 1].plain);
	}

	ucl_close(cdc.c);
	ucl_close(msc.c);
	if (spawned)
		usblabd_proc_stop(&proc);

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (getloadavg(load, 3) < 3)
		load[0] = load[1] = load[2] = -1;
	printf("usbip-bench %s  usblabd %s:%s%s\n", date, o.host, o.port,
	       spawned ? " (spawned: cdc,msc on a RAM disk)" : "");
	printf("%.1f s per measurement, %u runs, %ld CPUs, load average %.2f %.2f %.2f at the "
	       "end\n",
	       o.secs, o.runs, sysconf(_SC_NPROCESSORS_ONLN), load[0], load[1], load[2]);
	printf("medians over the runs:\n");
	printf("%-44s %12s %12s %8s  %s\n", "row", "usblabd", "plain TCP", "ratio", "unit");
	for (i = 0; i < BENCH_NROWS; i++) {
		for (k = 0; k < o.runs; k++) {
			usb_v[k] = runs[k].rows[i].usb;
			plain_v[k] = runs[k].rows[i].plain;
			ratio_v[k] = plain_v[k] > 0 ? usb_v[k] / plain_v[k] : 0;
		}
		bench_spread(usb_v, o.runs, us);
		bench_spread(plain_v, o.runs, pl);
		bench_spread(ratio_v, o.runs, ra);
		printf("%-44s %12.1f %12.1f %8.2f  %s\n", runs[0].rows[i].name, us[1], pl[1], ra[1],
		       runs[0].rows[i].unit);
	}
	bench_spread(overhead, o.runs, ov);
	printf("%-44s %12.1f %12s %8s  us\n", "server overhead per URB (p50 difference)", ov[1],
	       "-", "-");
	if (spawned) {
		for (k = 0; k < o.runs; k++) {
			usb_v[k] = runs[k].cpu_usb_us;
			plain_v[k] = runs[k].cpu_plain_us;
			ratio_v[k] = plain_v[k] > 0 ? usb_v[k] / plain_v[k] : 0;
		}
		bench_spread(usb_v, o.runs, us);
		bench_spread(plain_v, o.runs, pl);
		bench_spread(ratio_v, o.runs, ra);
		printf("%-44s %12.2f %12.2f %8.2f  us\n",
		       "server CPU per round trip (depth 1, ctrl)", us[1], pl[1], ra[1]);
	}
	printf("spread of the ratio usblabd / plain TCP over %u runs:\n", o.runs);
	printf("%-44s %8s %8s %8s\n", "row", "min", "median", "max");
	for (i = 0; i < BENCH_NROWS; i++) {
		for (k = 0; k < o.runs; k++)
			ratio_v[k] = runs[k].rows[i].plain > 0
			                     ? runs[k].rows[i].usb / runs[k].rows[i].plain
			                     : 0;
		bench_spread(ratio_v, o.runs, ra);
		printf("%-44s %8.2f %8.2f %8.2f\n", runs[0].rows[i].name, ra[0], ra[1], ra[2]);
	}
	printf("%-44s %8.1f %8.1f %8.1f  (us)\n", "server overhead per URB (p50 difference)", ov[0],
	       ov[1], ov[2]);
	for (k = 0; k < o.runs; k++)
		ratio_v[k] =
		        runs[k].rows[BENCH_NROWS - 1].usb / runs[k].rows[BENCH_NROWS - 1].plain;
	bench_spread(ratio_v, o.runs, ra);
	bulk_ratio = ra[1];
	printf("targets (medians): overhead per URB < %.0f us at p50: %s (%.1f us); "
	       "bulk 64 KiB >= %.0f%% of plain TCP: %s (%.0f%%)\n",
	       BENCH_TARGET_OVERHEAD_US, ov[1] < BENCH_TARGET_OVERHEAD_US ? "met" : "missed", ov[1],
	       BENCH_TARGET_BULK_RATIO * 100,
	       bulk_ratio >= BENCH_TARGET_BULK_RATIO ? "met" : "missed", 100 * bulk_ratio);
	printf("samples per run: latency %zu (usblabd) / %zu (plain); total run %.1f s\n",
	       runs[0].nusb, runs[0].nplain, bench_now() - started);
	free(usb_s);
	free(plain_s);
	return 0;
}
