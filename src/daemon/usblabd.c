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

#include <event2/event.h>

#include "bench.h"
#include "daemon.h"
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
        "                           (default 0.0.0.0:3240; port 0 picks a free one)\n"
        "  -e, --export IDENT       export a real device, now and whenever it comes back:\n"
        "                             serial=ABC   by USB serial number\n"
        "                             1209:0001    by VID:PID (hex)\n"
        "                             1-4.2        by physical port path\n"
        "                           (repeatable)\n"
        "  -V, --virtual LIST       serve virtual devices, comma-separated, busids 0-1, 0-2...:\n"
        "                             cdc          CDC-ACM serial port that echoes\n"
        "                             cdc:SCRIPT   ... that answers as SCRIPT says\n"
        "                                          (lines `WHEN => SAY`)\n"
        "                             hid          HID keyboard typing \"usblab\\n\" on import\n"
        "                             hid:TEXT     ... typing TEXT\n"
        "                             msc          mass storage on a 16 MiB RAM disk\n"
        "                             msc:FILE     ... on FILE (size a multiple of 512)\n"
        "  -L, --list               list this machine's USB devices and exit\n"
        "      --registry FILE      the bench's devices.conf (default\n"
        "                           $XDG_CONFIG_HOME/usblab/devices.conf)\n"
        "      --db FILE|none       events, leases and locations (default\n"
        "                           $XDG_STATE_HOME/usblab/usblab.db)\n"
        "      --control PATH|none  the control socket `usblab` talks to (default\n"
        "                           $XDG_RUNTIME_DIR/usblab/usblabd.sock,\n"
        "                           /run/usblab/usblabd.sock for root)\n"
        "      --no-inventory       do not follow this machine's USB devices (udev)\n"
        "  -c, --max-clients N      connections served at once (default 64)\n"
        "  -m, --max-urb-mib N      memory for URBs in flight, all clients (default 512)\n"
        "  -v, --verbose            debug logging\n"
        "  -q, --quiet              warnings and errors only\n"
        "  -h, --help               this text\n"
        "      --version            print the version\n"
        "\n"
        "Logs go to stderr, one line per event, UTC timestamps.\n"
        "Exit status: 0 after SIGINT/SIGTERM, 1 on a start-up error, 2 on bad usage.\n";

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
		if (usbip_server_add_export(&d->srv, exp) < 0) {
			fprintf(stderr, "usblabd: --virtual %s: cannot export busid %s\n", item,
			        exp->info.busid);
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
		usbip_server_remove_export(&d->srv, d->virt[i]);
		sim_destroy(d->virt[i]);
	}
	d->nvirt = 0;
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	        {"listen", required_argument, NULL, 'l'},
	        {"export", required_argument, NULL, 'e'},
	        {"virtual", required_argument, NULL, 'V'},
	        {"list", no_argument, NULL, 'L'},
	        {"max-clients", required_argument, NULL, 'c'},
	        {"max-urb-mib", required_argument, NULL, 'm'},
	        {"verbose", no_argument, NULL, 'v'},
	        {"quiet", no_argument, NULL, 'q'},
	        {"help", no_argument, NULL, 'h'},
	        {"version", no_argument, NULL, 1},
	        {"registry", required_argument, NULL, 2},
	        {"db", required_argument, NULL, 3},
	        {"control", required_argument, NULL, 4},
	        {"no-inventory", no_argument, NULL, 5},
	        {NULL, 0, NULL, 0},
	};
	struct usblabd d;
	struct bench_opts bo = {.inventory = true};
	const char *listen_addr = "0.0.0.0:3240", *virt = NULL;
	const char **exports = calloc((size_t)argc, sizeof(char *));
	unsigned nexports = 0, mib = 512;
	bool list = false;
	char err[256];
	int opt, status = 1;

	memset(&d, 0, sizeof(d));
	d.max_clients = 64;
	d.max_out_queue = 8u << 20;
	if (!exports)
		return 1;
	while ((opt = getopt_long(argc, argv, "l:e:V:Lc:m:vqh", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen_addr = optarg;
			break;
		case 'e':
			exports[nexports++] = optarg;
			break;
		case 'V':
			virt = optarg;
			break;
		case 'L':
			list = true;
			break;
		case 'c':
			if (parse_uint(optarg, 100000, &d.max_clients) < 0) {
				fprintf(stderr, "usblabd: --max-clients wants 1..100000\n");
				return 2;
			}
			break;
		case 'm':
			if (parse_uint(optarg, 1u << 20, &mib) < 0) {
				fprintf(stderr, "usblabd: --max-urb-mib wants 1..1048576\n");
				return 2;
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
			free(exports);
			return 0;
		case 1:
			printf("usblabd %s\n", USBLABD_VERSION);
			free(exports);
			return 0;
		case 2:
			bo.registry = optarg;
			break;
		case 3:
			bo.db = optarg;
			break;
		case 4:
			bo.control = optarg;
			break;
		case 5:
			bo.inventory = false;
			break;
		default:
			fputs("Try 'usblabd --help'.\n", stderr);
			free(exports);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "usblabd: unexpected argument '%s'\nTry 'usblabd --help'.\n",
		        argv[optind]);
		free(exports);
		return 2;
	}
	d.max_urb_bytes = (size_t)mib << 20;
	signal(SIGPIPE, SIG_IGN);

	d.base = event_base_new();
	if (!d.base) {
		fprintf(stderr, "usblabd: cannot create the event loop\n");
		goto out;
	}
	usbip_server_init(&d.srv, &dconn_server_ops, &d);
	if (list || nexports > 0) {
		if (usbdev_init(&d.usb, d.base, &d.srv, err, sizeof(err)) < 0) {
			fprintf(stderr, "usblabd: libusb: %s\n", err);
			goto out;
		}
	}
	if (list) {
		status = usbdev_print_list(d.usb) < 0 ? 1 : 0;
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
	if (virt && start_virtual(&d, virt) < 0)
		goto out;
	if (!virt && nexports == 0)
		ul_warn("main", "nothing to export: use --export IDENT or --virtual LIST "
		                "(see usblabd --help)");
	if (dconn_listen(&d, listen_addr, err, sizeof(err)) < 0) {
		fprintf(stderr, "usblabd: %s\n", err);
		goto out;
	}
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
	free(exports);
	return status;
}
