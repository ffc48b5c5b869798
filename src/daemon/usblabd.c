/* SPDX-License-Identifier: MIT */
/*
 * usblabd.c - the usblab daemon: option parsing, the event loop, and the
 * backends it starts. The work is in dconn.c (connections), lib/usbip
 * (protocol) and src/backend (devices).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

#include <event2/event.h>

#include "api_sim.h"
#include "bench.h"
#include "daemon.h"
#include "http.h"
#include "sim.h"
#include "ul_log.h"
#include "usbdev.h"

static const char usage[] =
        "Usage: usblabd [OPTION]...\n"
        "Serve USB devices over USB/IP (protocol 1.1.1): real devices through libusb,\n"
        "followed across unplug and re-enumeration, and virtual devices.\n"
        "Any USB/IP client works: Linux `usbip attach -r HOST -b BUSID`, usbip-win2.\n"
        "\n"
        "  -l, --listen ADDR        listen on HOST:PORT, [IPV6]:PORT or PORT\n"
        "                           (default 0.0.0.0:3240; port 0 picks a free one);\n"
        "                           repeatable: --listen 127.0.0.1:3240 --listen [::1]:3240\n"
        "  -e, --export IDENT       export a real device, now and whenever it comes back:\n"
        "                             serial=ABC   by USB serial number\n"
        "                             1209:0001    by VID:PID (hex)\n"
        "                             1-4.2        by physical port path\n"
        "                           (repeatable)\n"
        "  -V, --virtual LIST       serve virtual devices, comma-separated, busids 0-1, 0-2...\n"
        "                           (repeatable, the lists add up; at most 64 devices):\n"
        "                             cdc          CDC-ACM serial port that echoes\n"
        "                             cdc:SCRIPT   ... that answers as SCRIPT says\n"
        "                                          (lines `WHEN => SAY`)\n"
        "                             hid          HID keyboard typing \"usblab\\n\" on import\n"
        "                             hid:TEXT     ... typing TEXT\n"
        "                             msc          mass storage on a 16 MiB RAM disk\n"
        "                             msc:FILE     ... on FILE (size a multiple of 512;\n"
        "                                          write-protected when FILE is read-only)\n"
        "                             esp32        ESP32 (303a:1001): app banner and echo;\n"
        "                                          esptool's DTR/RTS reset enters the ROM\n"
        "                                          bootloader (SYNC, READ_REG of the MAC)\n"
        "                             esp32:reenum ESP32-S3 on USB-OTG: re-enumerates at each\n"
        "                                          reset, 303a:4001 (app) / 303a:0002 (ROM)\n"
        "  -L, --list               list this machine's USB devices and exit\n"
        "      --registry FILE      the bench's devices.conf (default\n"
        "                           $XDG_CONFIG_HOME/usblab/devices.conf)\n"
        "      --db FILE|none       events, leases and locations (default\n"
        "                           $XDG_STATE_HOME/usblab/usblab.db)\n"
        "      --control PATH|none  the control socket `usblab` talks to (default\n"
        "                           $XDG_RUNTIME_DIR/usblab/usblabd.sock,\n"
        "                           /run/usblab/usblabd.sock for root)\n"
        "      --no-inventory       do not follow this machine's USB devices (udev)\n"
        "      --http ADDR|none     the HTTP API and dashboard on HOST:PORT (default\n"
        "                           127.0.0.1:3241, skipped with a warning when busy);\n"
        "                           a non-loopback address needs --http-token-file\n"
        "      --http-token-file F  bearer tokens, lines `TOKEN [LABEL]`: remote clients\n"
        "                           need one for everything, local ones for changes\n"
        "      --http-cert FILE     serve HTTPS with this PEM certificate chain\n"
        "      --http-key FILE      ... and this PEM private key (both or neither)\n"
        "      --insight-hub TTY[@LOC]|auto|none  show the boards on a USB Insight\n"
        "                           Hub's displays through its controller's TTY; LOC is\n"
        "                           the hub's port path (default 0: virtual devices\n"
        "                           0-1..0-3); auto finds the hub by its USB product\n"
        "                           string, again whenever it comes back (the default,\n"
        "                           none with --no-inventory)\n"
        "\n"
        "Limits (a client that breaks one is closed or paused, never another client):\n"
        "  -c, --max-clients N      connections at once (default 64); must fit the\n"
        "                           file descriptor limit, which usblabd raises to its\n"
        "                           hard maximum\n"
        "      --max-op-clients N   ... of them that have not imported a device yet\n"
        "                           (default 16); when full, or --max-clients is, the\n"
        "                           oldest such connection is closed to admit a newcomer.\n"
        "                           A connection that imported a device is never closed\n"
        "                           for a newcomer\n"
        "      --max-per-source N   connections from one IP address (default 32); when\n"
        "                           full, that address's oldest non-importing one is closed\n"
        "      --deadline S         seconds to send a whole OP request after connecting,\n"
        "                           and a URB's OUT data after its header (default 10;\n"
        "                           decimals allowed)\n"
        "  -m, --max-urb-mib N      memory held for all clients: URBs, queued replies,\n"
        "                           receive buffers (default 512, at least 32)\n"
        "      --max-conn-mib N     one client's share of it (default 16); a client\n"
        "                           at its share, or when the total is reached, is not\n"
        "                           read from until its memory is freed\n"
        "  Imported connections use TCP keepalive and TCP_USER_TIMEOUT: a client that\n"
        "  vanished is noticed within 30 s and its device freed.\n"
        "\n"
        "  -v, --verbose            debug logging\n"
        "  -q, --quiet              warnings and errors only\n"
        "  -h, --help               this text\n"
        "      --version            print the version\n"
        "\n"
        "Logs go to stderr, one line per event, UTC timestamps; events a client can\n"
        "repeat are limited to 5 lines per 10 s each, then counted in one line.\n"
        "Exit status: 0 after SIGINT/SIGTERM, 1 on a start-up error (a device or\n"
        "address that cannot be used), 2 on bad usage (a malformed --listen, a bad\n"
        "--virtual item, a limit that cannot be met). --list: 0 when it listed\n"
        "devices, 1 when it found none or could not list them.\n";

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct usblabd *d = arg;

	(void)what;
	ul_info("main", "signal %d: shutting down", (int)sig);
	event_base_loopbreak(d->base);
}

/* Creates and exports each device of a --virtual list. */
static int start_virtual(struct usblabd *d, const char *list)
{
	char *copy = strdup(list), *save = NULL, *item;
	char err[256];
	int rc = -1;

	if (!copy)
		return -1;
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		struct usbip_export *exp;

		if (d->nvirt >= DAEMON_MAX_VIRTUAL) {
			fprintf(stderr, "usblabd: at most %d virtual devices\n",
			        DAEMON_MAX_VIRTUAL);
			goto out;
		}
		if (sim_create(item, d->nvirt + 1, &exp, err, sizeof(err)) < 0) {
			fprintf(stderr, "usblabd: --virtual %s: %s\n", item, err);
			goto out;
		}
		/* The sim falls back to read-only when it cannot write the
		 * image; the host then sees a write-protected disk. Say so. */
		if (strncmp(item, "msc:", 4) == 0 && access(item + 4, W_OK) < 0)
			ul_warn("main",
			        "--virtual %s: %s is not writable: served write-protected "
			        "(the client's writes fail)",
			        item, item + 4);
		/* Its file I/O (and the delay test aid) then runs off the loop. */
		if (sim_set_loop(exp, d->base) < 0)
			ul_warn("main", "--virtual %s: no worker thread: its I/O blocks the loop",
			        item);
		if ((!d->sim && !(d->sim = api_sim_new(d))) || api_sim_adopt(d->sim, exp) < 0) {
			fprintf(stderr, "usblabd: --virtual %s: out of memory\n", item);
			sim_destroy(exp);
			goto out;
		}
		if (usbip_server_add_export(&d->srv, exp) < 0) {
			fprintf(stderr, "usblabd: --virtual %s: cannot export busid %s\n", item,
			        exp->info.busid);
			sim_set_owner(exp, NULL, NULL);
			sim_destroy(exp);
			goto out;
		}
		d->virt[d->nvirt++] = exp;
		ul_info("main", "exporting virtual %s as %s (%04x:%04x)", item, exp->info.busid,
		        exp->info.idVendor, exp->info.idProduct);
	}
	rc = 0;
out:
	free(copy);
	return rc;
}

static void stop_virtual(struct usblabd *d)
{
	for (unsigned i = 0; i < d->nvirt; i++) {
		/* One the daemon took out (unplugged) is out of the table already. */
		if (!api_sim_is_out(d->sim, d->virt[i]))
			usbip_server_remove_export(&d->srv, d->virt[i]);
		sim_set_owner(d->virt[i], NULL, NULL);
		sim_destroy(d->virt[i]);
	}
	d->nvirt = 0;
	api_sim_free(d->sim);
	d->sim = NULL;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);

	if (!*s || *end || v == 0 || v > max)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* Seconds with decimals ("10", "0.5") to milliseconds in 1..max_s s. */
static int parse_seconds_ms(const char *s, unsigned max_s, unsigned *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (!*s || *end || !(v >= 0.001) || v > max_s)
		return -1;
	*ms = (unsigned)(v * 1000.0 + 0.5);
	return 0;
}

/* Raises the soft file descriptor limit to the hard one (at start, before
 * anything is opened). */
static void raise_fd_limit(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	/* An "unlimited" hard limit is still capped by fs.nr_open. */
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1u << 20) ? (1u << 20) : rl.rlim_max;
	if (want > rl.rlim_cur) {
		struct rlimit up = {want, rl.rlim_max};

		setrlimit(RLIMIT_NOFILE, &up);
	}
}

/* Descriptors open now (devices, image files, libusb's, the loop's). */
static unsigned count_open_fds(void)
{
	DIR *dir = opendir("/proc/self/fd");
	unsigned n = 0;

	if (!dir)
		return 0;
	while (readdir(dir))
		n++;
	closedir(dir);
	/* ".", ".." and the directory's own descriptor. */
	return n >= 3 ? n - 3 : 0;
}

/*
 * Checks, once the devices are open, that max_clients more connections fit
 * in the descriptor limit. Returns 0, or -1 with the reason printed:
 * accepting past the limit fails with EMFILE, and a limit the daemon cannot
 * meet is a usage error better said at start.
 */
static int fit_fd_limit(unsigned max_clients)
{
	struct rlimit rl;
	unsigned long long need =
	        (unsigned long long)max_clients + count_open_fds() + DAEMON_FD_RESERVE;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return 0;
	if (need > rl.rlim_cur) {
		fprintf(stderr,
		        "usblabd: --max-clients %u needs about %llu file descriptors with the "
		        "devices open, but the limit is %llu (hard limit %llu): lower "
		        "--max-clients, "
		        "or raise the limit (ulimit -n, LimitNOFILE= in a systemd unit)\n",
		        max_clients, need, (unsigned long long)rl.rlim_cur,
		        (unsigned long long)rl.rlim_max);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	enum {
		OPT_VERSION = 1,
		OPT_MAX_OP,
		OPT_MAX_SOURCE,
		OPT_DEADLINE,
		OPT_MAX_CONN_MIB,
		OPT_REGISTRY,
		OPT_DB,
		OPT_CONTROL,
		OPT_NO_INVENTORY,
		OPT_HTTP,
		OPT_HTTP_TOKEN_FILE,
		OPT_HTTP_CERT,
		OPT_HTTP_KEY,
		OPT_INSIGHT_HUB,
	};
	static const struct option opts[] = {
	        {"listen", required_argument, NULL, 'l'},
	        {"export", required_argument, NULL, 'e'},
	        {"virtual", required_argument, NULL, 'V'},
	        {"list", no_argument, NULL, 'L'},
	        {"max-clients", required_argument, NULL, 'c'},
	        {"max-op-clients", required_argument, NULL, OPT_MAX_OP},
	        {"max-per-source", required_argument, NULL, OPT_MAX_SOURCE},
	        {"deadline", required_argument, NULL, OPT_DEADLINE},
	        {"max-urb-mib", required_argument, NULL, 'm'},
	        {"max-conn-mib", required_argument, NULL, OPT_MAX_CONN_MIB},
	        {"verbose", no_argument, NULL, 'v'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, OPT_VERSION},
	        {"registry", required_argument, NULL, OPT_REGISTRY},
	        {"db", required_argument, NULL, OPT_DB},
	        {"control", required_argument, NULL, OPT_CONTROL},
	        {"no-inventory", no_argument, NULL, OPT_NO_INVENTORY},
	        {"http", required_argument, NULL, OPT_HTTP},
	        {"http-token-file", required_argument, NULL, OPT_HTTP_TOKEN_FILE},
	        {"http-cert", required_argument, NULL, OPT_HTTP_CERT},
	        {"http-key", required_argument, NULL, OPT_HTTP_KEY},
	        {"insight-hub", required_argument, NULL, OPT_INSIGHT_HUB},
	        {NULL, 0, NULL, 0},
	};
	struct usblabd d;
	struct bench_opts bo = {.inventory = true};
	/* Each --listen, --export and --virtual is kept (they add up). */
	const char **listens = calloc((size_t)argc + 1, sizeof(char *));
	const char **virts = calloc((size_t)argc + 1, sizeof(char *));
	const char **exports = calloc((size_t)argc + 1, sizeof(char *));
	unsigned nlistens = 0, nvirts = 0, nexports = 0, mib = 512, conn_mib = 0;
	bool list = false;
	char err[256];
	int opt, status = 2;

	memset(&d, 0, sizeof(d));
	d.max_clients = 64;
	d.max_op_clients = 16;
	d.max_per_source = 32;
	d.deadline_ms = 10000;
	if (!listens || !virts || !exports) {
		status = 1;
		goto out_args;
	}
	while ((opt = getopt_long(argc, argv, "l:e:V:Lc:m:vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			if (!dlisten_addr_valid(optarg)) {
				fprintf(stderr,
				        "usblabd: --listen %s: want HOST:PORT, [IPV6]:PORT or PORT "
				        "with a numeric address\n",
				        optarg);
				goto out_args;
			}
			if (nlistens >= DAEMON_MAX_LISTENERS) {
				fprintf(stderr, "usblabd: at most %d --listen addresses\n",
				        DAEMON_MAX_LISTENERS);
				goto out_args;
			}
			listens[nlistens++] = optarg;
			break;
		case 'e':
			exports[nexports++] = optarg;
			break;
		case 'V':
			virts[nvirts++] = optarg;
			break;
		case 'L':
			list = true;
			break;
		case 'c':
			if (parse_uint(optarg, 1000000, &d.max_clients) < 0) {
				fprintf(stderr, "usblabd: --max-clients wants 1..1000000\n");
				goto out_args;
			}
			break;
		case OPT_MAX_OP:
			if (parse_uint(optarg, 1000000, &d.max_op_clients) < 0) {
				fprintf(stderr, "usblabd: --max-op-clients wants 1..1000000\n");
				goto out_args;
			}
			break;
		case OPT_MAX_SOURCE:
			if (parse_uint(optarg, 1000000, &d.max_per_source) < 0) {
				fprintf(stderr, "usblabd: --max-per-source wants 1..1000000\n");
				goto out_args;
			}
			break;
		case OPT_DEADLINE:
			if (parse_seconds_ms(optarg, 3600, &d.deadline_ms) < 0) {
				fprintf(stderr, "usblabd: --deadline wants seconds, 0.001..3600\n");
				goto out_args;
			}
			break;
		case 'm':
			/* Two URBs of the largest size must fit. */
			if (parse_uint(optarg, 1u << 20, &mib) < 0 || mib < 32) {
				fprintf(stderr, "usblabd: --max-urb-mib wants 32..1048576\n");
				goto out_args;
			}
			break;
		case OPT_MAX_CONN_MIB:
			if (parse_uint(optarg, 1u << 20, &conn_mib) < 0) {
				fprintf(stderr, "usblabd: --max-conn-mib wants 1..1048576\n");
				goto out_args;
			}
			break;
		case 'v':
			ul_log_set_level(UL_LOG_DEBUG);
			break;
		case 'q':
			ul_log_set_level(UL_LOG_WARN);
			break;
		case 'h':
			fputs(usage, stdout);
			status = 0;
			goto out_args;
		case OPT_VERSION:
			printf("usblabd %s\n", USBLABD_VERSION);
			status = 0;
			goto out_args;
		case OPT_REGISTRY:
			bo.registry = optarg;
			break;
		case OPT_DB:
			bo.db = optarg;
			break;
		case OPT_CONTROL:
			bo.control = optarg;
			break;
		case OPT_NO_INVENTORY:
			bo.inventory = false;
			break;
		case OPT_HTTP:
			bo.http = optarg;
			break;
		case OPT_HTTP_TOKEN_FILE:
			bo.http_token_file = optarg;
			break;
		case OPT_HTTP_CERT:
			bo.http_cert = optarg;
			break;
		case OPT_HTTP_KEY:
			bo.http_key = optarg;
			break;
		case OPT_INSIGHT_HUB:
			bo.insight_hub = optarg;
			break;
		default:
			fputs("Try 'usblabd --help'.\n", stderr);
			goto out_args;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "usblabd: unexpected argument '%s'\nTry 'usblabd --help'.\n",
		        argv[optind]);
		goto out_args;
	}
	if (http_tls_files_check(bo.http_cert, bo.http_key, err, sizeof(err)) < 0) {
		fprintf(stderr, "usblabd: %s\n", err);
		goto out_args;
	}
	if (conn_mib > mib) {
		fprintf(stderr, "usblabd: --max-conn-mib %u is above --max-urb-mib %u\n", conn_mib,
		        mib);
		goto out_args;
	}
	if (nlistens == 0)
		listens[nlistens++] = "0.0.0.0:3240";
	d.max_bytes = (size_t)mib << 20;
	d.max_conn_bytes = conn_mib ? (size_t)conn_mib << 20 : (size_t)16 << 20;
	raise_fd_limit();
	signal(SIGPIPE, SIG_IGN);
#ifdef __GLIBC__
	/* A fixed threshold (glibc raises it after each big free otherwise):
	 * large URBs are mapped and unmapped, so their memory goes back to the
	 * system when they are freed. */
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
#endif
	status = 1;

	d.base = event_base_new();
	if (!d.base || dconn_init(&d) < 0) {
		fprintf(stderr, "usblabd: cannot create the event loop\n");
		goto out;
	}
	usbip_server_init(&d.srv, &dconn_server_ops, &d);
	d.srv.max_bytes_per_conn = d.max_conn_bytes;
	if (list || nexports > 0) {
		if (usbdev_init(&d.usb, d.base, &d.srv, err, sizeof(err)) < 0) {
			fprintf(stderr, "usblabd: libusb: %s\n", err);
			goto out;
		}
	}
	if (list) {
		/* Nothing found is a failure, as for grep: scripts test it. */
		status = usbdev_print_list(d.usb) > 0 ? 0 : 1;
		goto out;
	}
	if (bench_start(&d.bench, &d, &bo, err, sizeof(err)) < 0) {
		fprintf(stderr, "usblabd: %s\n", err);
		goto out;
	}
	for (unsigned i = 0; i < nexports; i++) {
		if (usbdev_watch(d.usb, exports[i], err, sizeof(err)) < 0) {
			fprintf(stderr, "usblabd: --export %s: %s\n", exports[i], err);
			goto out;
		}
	}
	for (unsigned i = 0; i < nvirts; i++) {
		if (start_virtual(&d, virts[i]) < 0) {
			status = 2; /* a bad item, or too many: the argument is wrong */
			goto out;
		}
	}
	if (fit_fd_limit(d.max_clients) < 0) {
		status = 2;
		goto out;
	}
	if (nvirts == 0 && nexports == 0)
		ul_warn("main", "nothing to export: use --export IDENT or --virtual LIST "
		                "(see usblabd --help)");
	for (unsigned i = 0; i < nlistens; i++) {
		int rc = dlisten_open(&d, listens[i], err, sizeof(err));

		if (rc < 0) {
			fprintf(stderr, "usblabd: %s\n", err);
			status = rc == -2 ? 2 : 1;
			goto out;
		}
	}
	ul_info("main",
	        "limits: %u clients (%u not importing, %u per address), deadline %u ms, "
	        "memory %zu MiB (%zu MiB per client)",
	        d.max_clients, d.max_op_clients, d.max_per_source, d.deadline_ms, d.max_bytes >> 20,
	        d.max_conn_bytes >> 20);
	d.sigint = evsignal_new(d.base, SIGINT, on_signal, &d);
	d.sigterm = evsignal_new(d.base, SIGTERM, on_signal, &d);
	if (!d.sigint || !d.sigterm || event_add(d.sigint, NULL) < 0 ||
	    event_add(d.sigterm, NULL) < 0) {
		fprintf(stderr, "usblabd: cannot install signal handlers\n");
		goto out;
	}
	event_base_dispatch(d.base);
	status = 0;
out:
	dlisten_close(&d);
	dconn_shutdown(&d);
	stop_virtual(&d);
	bench_stop(d.bench);
	d.bench = NULL;
	if (d.usb)
		usbdev_exit(d.usb);
	if (d.sigint)
		event_free(d.sigint);
	if (d.sigterm)
		event_free(d.sigterm);
	if (d.base)
		event_base_free(d.base);
out_args:
	free(listens);
	free(virts);
	free(exports);
	return status;
}
