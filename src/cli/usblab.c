/* SPDX-License-Identifier: MIT */
/*
 * usblab.c - the bench's command line: argument parsing and printing only.
 * Every command is one control-API call (docs/control-api.md) made through
 * ctl.h; what is printed is the reply, as a table or, with --json, as is.
 */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "attach_record.h"
#include "cmd_client.h"
#include "cmd_power.h"
#include "cmd_monitor.h"
#include "cmd_plugin.h"
#include "cmd_service.h"
#include "ctl.h"
#include "devfiles.h"
#include "esp32_probe.h"
#include "event.h"
#include "paths.h"

#define USBLAB_VERSION "0.1.0"

/* Exit status (usblab --help and the README list them). */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,      /* the daemon answered with an error */
	EXIT_USAGE = 2,       /* bad command line */
	EXIT_NOT_RUNNING = 3, /* no daemon on the socket */
	EXIT_TIMEOUT = 4,     /* checkout --wait --timeout ran out */
	                      /* 5 and 6: the client verbs (cmd_client.h). */
};

/* How long a plain request may take before we give up on the daemon. */
#define USBLAB_REPLY_TIMEOUT_MS 30000

static const char usage_text[] =
        "Usage: usblab [--socket PATH] [--json] COMMAND [ARGS]\n"
        "\n"
        "The bench manager's command line: it asks usblabd, over its control socket,\n"
        "which boards there are, what happened to them, and who holds which.\n"
        "\n"
        "Commands:\n"
        "  status                   the daemon: version, registry, boards, store\n"
        "  list                     every board: state, busid, port, device files, holder\n"
        "  info NAME                one board and its last 20 events\n"
        "  events [--follow] [--since TIME] [--until TIME] [--device NAME] [--kind K] [--limit N]\n"
        "                           what happened (history; --follow: live)\n"
        "  checkout NAME [--for DURATION] [--reason TEXT] [--wait [--timeout S]]\n"
        "  checkout --any PATTERN [...]\n"
        "                           take a lease on a board (prints its token)\n"
        "  renew NAME [--for DURATION]\n"
        "                           extend your lease\n"
        "  checkin NAME [--force]   end your lease (--force: anyone's)\n"
        "  locks                    the leases in force\n"
        "  reload                   re-read the registry (devices.conf)\n"
        "  probe NAME | --tty PATH  an ESP32's state: bootloader (and its MAC) or running\n"
        "  bootloader|boot NAME | --tty PATH\n"
        "                           reset an ESP32 into its ROM bootloader, or its app\n"
        "  power off|on|cycle NAME [--timeout S]\n"
        "                           switch the board's hub port; proven by its departure\n"
        "  monitor NAME | --tty PATH [--baud N] [--timestamps] [--log FILE] [--timeout S]\n"
        "                           a serial monitor that follows the board (Ctrl-T h: keys)\n"
        "  run NAME VERB [ARGS]     a verb of the board's type plugin (types.d/); an\n"
        "                           unknown `usblab VERB NAME` goes there too\n"
        "\n"
        "The client side (this machine imports boards through vhci-hcd; needs root):\n"
        "  attach HOST[:PORT] NAME|BUSID [--token T] [--wait [--timeout S]] [--follow]\n"
        "                           import a board, print its device files\n"
        "  detach NAME|PORT         let it go\n"
        "  attached                 what is imported here, from where, its device files\n"
        "  remote list HOST[:PORT]...\n"
        "                           what servers offer\n"
        "\nRunning usblabd from boot:\n"
        "  service install|uninstall [--user] [--group GROUP]\n"
        "                           the systemd unit and the boards' udev rule\n"
        "\n"
        "NAME may be a board's full name, a part of it, or a regex: `usblab info cd`\n"
        "finds cdc when nothing else contains \"cd\".\n"
        "\n"
        "Options (every command):\n"
        "  --socket PATH   the control socket (default: $USBLAB_SOCKET, else\n"
        "                  $XDG_RUNTIME_DIR/usblab/usblabd.sock; root: /run/usblab/usblabd.sock)\n"
        "  --json          print the reply as JSON, one document (events --follow: one\n"
        "                  event per line); errors as {\"error\":{...}} on stdout\n"
        "  --tag TAG       hold leases as USER@HOST/TAG (default: $USBLAB_TAG), so that\n"
        "                  jobs of one user hold them apart\n"
        "  -h, --help      this text; `usblab COMMAND --help` for one command\n"
        "  --version       print the version\n"
        "\n"
        "DURATION: 90s, 30m, 2h, 1d, or seconds. TIME: 2026-12-03T13:14:04Z, 2026-12-03,\n"
        "or relative: -30s, -10m, -2h, -1d. Times are printed in UTC.\n"
        "\n"
        "Exit status:\n"
        "  0  done\n"
        "  1  the daemon refused: unknown or ambiguous name, leased by someone else,\n"
        "     not the holder, not leased, bad registry, no store, ...\n"
        "  2  bad usage (unknown command or option, bad DURATION, ...)\n"
        "  3  usblabd is not running (nothing answers on the socket)\n"
        "  4  checkout --wait --timeout ran out\n"
        "  5  attach: the server refused (absent, leased by someone else, busy)\n"
        "  6  attach: this machine cannot attach (no vhci-hcd, not root, no free port)\n"
        "  7  power off: the board did not depart (the hub does not cut its power)\n"
        "  run, and a plugin's VERB: the plugin's own status (`usblab run --help`)\n"
        "\n"
        "Examples:\n"
        "  usblab list\n"
        "  usblab checkout esp-a --for 2h --reason \"flaky OTA test\"\n"
        "  usblab checkout --any '^esp' --wait --timeout 600 --json\n"
        "  usblab events --since -1h --device esp-a\n"
        "  usblab checkin esp-a\n";

struct cmd;

/* Every option of every command; each command says which it takes. */
struct args {
	const char *socket, *tag;
	bool json;
	bool follow, wait, force;
	const char *since, *until, *device, *kind, *limit;
	const char *for_, *reason, *timeout, *any, *token;
	const char *tty;
	const char *group, *root, *exec;
	bool user, no_start;
	const char *pos[8];
	int npos;
};

enum {
	OPT_SOCKET = 1000,
	OPT_JSON,
	OPT_TAG,
	OPT_VERSION,
	OPT_SINCE,
	OPT_UNTIL,
	OPT_DEVICE,
	OPT_KIND,
	OPT_LIMIT,
	OPT_FOR,
	OPT_REASON,
	OPT_WAIT,
	OPT_TIMEOUT,
	OPT_ANY,
	OPT_FORCE,
	OPT_TOKEN,
	OPT_TTY,
	OPT_USER,
	OPT_GROUP,
	OPT_ROOT,
	OPT_EXEC,
	OPT_NO_START,
};

/* Bits of the options a command takes beyond the global ones. */
#define A_FOLLOW  (1u << 0)
#define A_SINCE   (1u << 1)
#define A_UNTIL   (1u << 2)
#define A_DEVICE  (1u << 3)
#define A_KIND    (1u << 4)
#define A_LIMIT   (1u << 5)
#define A_FOR     (1u << 6)
#define A_REASON  (1u << 7)
#define A_WAIT    (1u << 8)
#define A_TIMEOUT (1u << 9)
#define A_ANY     (1u << 10)
#define A_FORCE   (1u << 11)
#define A_TOKEN   (1u << 12)
#define A_TTY     (1u << 13)
#define A_SERVICE (1u << 14) /* --user --group --root --exec --no-start */

struct cmd {
	const char *name;
	unsigned opts;
	int min_pos, max_pos;
	int (*run)(const struct cmd *cmd, const struct args *a);
	const char *help;
};

/* ---- small helpers ------------------------------------------------------------- */

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fputs("usblab: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'usblab %s%s--help'.\n", cmd ? cmd : "", cmd ? " " : "");
	return EXIT_USAGE;
}

/* "90s", "30m", "2h", "1d" or bare seconds; 1 s (0 s with zero_ok) to 30
 * days. */
static int parse_duration(const char *text, bool zero_ok, long long *out)
{
	char *end;
	long long v, mul = 1;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || v < 0 || (v == 0 && !zero_ok) || text[0] == '-' ||
	    text[0] == '+' || text[0] == ' ')
		return -1;
	if (*end) {
		switch (*end) {
		case 's':
			mul = 1;
			break;
		case 'm':
			mul = 60;
			break;
		case 'h':
			mul = 3600;
			break;
		case 'd':
			mul = 86400;
			break;
		default:
			return -1;
		}
		if (end[1])
			return -1;
	}
	if (v > 30LL * 86400 / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_count(const char *text, long long lo, long long hi, long long *out)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(text, &end, 10);
	if (errno || end == text || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

static const char *str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A span of seconds as "45s", "59m", "1h 5m", "2d 3h". */
static void format_span(long long s, char *out, size_t cap)
{
	if (s < 60)
		snprintf(out, cap, "%llds", s);
	else if (s < 3600)
		snprintf(out, cap, "%lldm", s / 60);
	else if (s < 86400)
		snprintf(out, cap, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else
		snprintf(out, cap, "%lldd %lldh", s / 86400, s % 86400 / 3600);
}

/* An ISO time from the daemon as "in 59m" or "3m ago"; "" when unparsable. */
static void format_relative(const char *iso, char *out, size_t cap)
{
	int64_t t, now = wall_ms();
	char span[32];

	out[0] = 0;
	if (!iso || !*iso || ul_event_parse_time(iso, now, &t) < 0)
		return;
	if (t >= now) {
		format_span((t - now + 999) / 1000, span, sizeof(span));
		snprintf(out, cap, "in %s", span);
	} else {
		format_span((now - t) / 1000, span, sizeof(span));
		snprintf(out, cap, "%s ago", span);
	}
}

/* ---- tables ------------------------------------------------------------------ */

#define TABLE_MAX_COLS 8

struct table {
	int ncols;
	size_t width[TABLE_MAX_COLS];
	char **cells; /* rows * ncols, row 0 the header */
	size_t nrows, cap;
};

static void table_row(struct table *t, const char *const *cols)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = realloc(t->cells, t->cap * (size_t)t->ncols * sizeof(char *));
		if (!t->cells) {
			fputs("usblab: out of memory\n", stderr);
			exit(EXIT_FAILED);
		}
	}
	for (int i = 0; i < t->ncols; i++) {
		const char *c = dash(cols[i]);
		size_t n = strlen(c);

		t->cells[t->nrows * (size_t)t->ncols + (size_t)i] = strdup(c);
		if (n > t->width[i])
			t->width[i] = n;
	}
	t->nrows++;
}

static void table_print(struct table *t)
{
	for (size_t r = 0; r < t->nrows; r++) {
		for (int i = 0; i < t->ncols; i++) {
			char *c = t->cells[r * (size_t)t->ncols + (size_t)i];

			if (i == t->ncols - 1)
				printf("%s\n", c);
			else
				printf("%-*s  ", (int)t->width[i], c);
			free(c);
		}
	}
	free(t->cells);
}

/* ---- talking to the daemon --------------------------------------------------------- */

static int default_socket(const struct args *a, char *out, size_t cap)
{
	const char *env = getenv("USBLAB_SOCKET");

	if (a->socket) {
		snprintf(out, cap, "%s", a->socket);
		return 0;
	}
	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return 0;
	}
	return ul_path_file(UL_PATH_RUNTIME, "usblabd.sock", out, cap);
}

static int connect_daemon(const struct args *a, struct ctl *c)
{
	char path[512], err[600];
	int rc;

	if (default_socket(a, path, sizeof(path)) < 0) {
		fputs("usblab: no runtime directory is known (set XDG_RUNTIME_DIR, or give "
		      "--socket PATH)\n",
		      stderr);
		return EXIT_USAGE;
	}
	rc = ctl_connect(c, path, err, sizeof(err));
	if (rc == CTL_E_NOT_RUNNING) {
		fprintf(stderr,
		        "usblab: usblabd is not running (nothing answers on %s)\n"
		        "usblab: start it with `usblabd --virtual cdc,hid,msc` or `make run`, or "
		        "give "
		        "--socket PATH\n",
		        path);
		return EXIT_NOT_RUNNING;
	}
	if (rc != CTL_OK) {
		fprintf(stderr, "usblab: %s%s\n", err,
		        strstr(err, "ermission") ? " (is your user in the socket's group?)" : "");
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static void print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

	if (text) {
		puts(text);
		free(text);
	}
	fflush(stdout);
}

/* Prints an error reply; returns the exit status it means. */
static int report_error(const struct args *a, json_t *error)
{
	const char *code = str(error, "code");

	if (a->json) {
		json_t *o = json_pack("{s:O}", "error", error);

		print_json(o);
		json_decref(o);
	}
	fprintf(stderr, "usblab: %s\n", dash(str(error, "message")));
	if (strcmp(code, "leased") == 0)
		fprintf(stderr, "usblab: wait for it with --wait, or ask %s\n",
		        str(error, "holder"));
	if (strcmp(code, "not_holder") == 0)
		fprintf(stderr, "usblab: `usblab checkin %s --force` ends it\n",
		        str(error, "board"));
	if (strcmp(code, "unknown_board") == 0 && !strstr(str(error, "message"), "boards:")) {
		json_t *cand = json_object_get(error, "candidates"), *v;
		size_t i;

		fputs("usblab: boards:", stderr);
		json_array_foreach(cand, i, v)
		        fprintf(stderr, "%s %s", i ? "," : "", json_string_value(v));
		fputs(json_array_size(cand) ? "\n" : " none\n", stderr);
	}
	if (strcmp(code, "timeout") == 0)
		return EXIT_TIMEOUT;
	if (strcmp(code, "bad_request") == 0 || strcmp(code, "bad_regex") == 0)
		return EXIT_USAGE;
	return EXIT_FAILED;
}

/* Makes one call; *result is the reply's result (new reference) on
 * EXIT_OK. timeout_ms < 0: wait as long as it takes. */
static int call(const struct args *a, struct ctl *c, const char *method, json_t *params,
                int timeout_ms, json_t **result)
{
	char err[600];
	json_t *msg = NULL, *e;
	int rc = connect_daemon(a, c);

	*result = NULL;
	if (rc != EXIT_OK)
		goto out;
	if (ctl_send(c, 1, method, params, err, sizeof(err)) != CTL_OK ||
	    (rc = ctl_read(c, timeout_ms, &msg, err, sizeof(err))) != CTL_OK) {
		fprintf(stderr, "usblab: %s\n", err);
		rc = EXIT_FAILED;
		goto out;
	}
	e = json_object_get(msg, "error");
	if (e) {
		rc = report_error(a, e);
		goto out;
	}
	*result = json_incref(json_object_get(msg, "result"));
	rc = *result ? EXIT_OK : EXIT_FAILED;
	if (!*result)
		fputs("usblab: usblabd replied without a result\n", stderr);
out:
	json_decref(msg);
	json_decref(params);
	return rc;
}

/* Runs a simple command: call, then print with fn (or as JSON). */
static int simple(const struct args *a, const char *method, json_t *params, int timeout_ms,
                  void (*print)(const struct args *a, json_t *result))
{
	struct ctl c = {.fd = -1};
	json_t *result;
	int rc = call(a, &c, method, params, timeout_ms, &result);

	if (rc == EXIT_OK) {
		if (a->json)
			print_json(result);
		else
			print(a, result);
	}
	json_decref(result);
	ctl_close(&c);
	return rc;
}

/* ---- printing ------------------------------------------------------------------- */

static void print_status(const struct args *a, json_t *r)
{
	char path[512];

	if (default_socket(a, path, sizeof(path)) < 0)
		path[0] = 0;
	printf("usblabd   %s (pid %lld)\n", dash(str(r, "version")),
	       (long long)json_integer_value(json_object_get(r, "pid")));
	printf("socket    %s\n", dash(path));
	printf("registry  %s\n", dash(str(r, "registry")));
	printf("boards    %lld in the registry, %lld present, %lld leased\n",
	       (long long)json_integer_value(json_object_get(r, "boards")),
	       (long long)json_integer_value(json_object_get(r, "present")),
	       (long long)json_integer_value(json_object_get(r, "leased")));
	printf("store     %s\n", json_is_true(json_object_get(r, "store"))
	                                 ? "yes (events and leases are kept)"
	                                 : "none (no history; leases are lost at exit)");
	printf("clients   %lld USB/IP, %lld following events\n",
	       (long long)json_integer_value(json_object_get(r, "clients")),
	       (long long)json_integer_value(json_object_get(r, "followers")));
	printf("time      %s\n", dash(str(r, "time")));
}

static void join_devnodes(const json_t *arr, char *out, size_t cap)
{
	size_t i, len = 0;
	json_t *v;

	out[0] = 0;
	json_array_foreach(arr, i, v)
	{
		if (len < cap)
			len += (size_t)snprintf(out + len, cap - len, "%s%s", i ? "," : "",
			                        json_string_value(v) ? json_string_value(v) : "");
	}
}

static void print_list(const struct args *a, json_t *r)
{
	static const char *const head[] = {"NAME", "TYPE",    "STATE",  "BUSID",
	                                   "PORT", "DEVICES", "HOLDER", "LEFT"};
	struct table t = {.ncols = 8};
	json_t *boards = json_object_get(r, "boards"), *b;
	size_t i;

	(void)a;
	if (json_array_size(boards) == 0) {
		puts("no boards (name them in devices.conf, or plug one in)");
		return;
	}
	table_row(&t, head);
	json_array_foreach(boards, i, b)
	{
		json_t *lease = json_object_get(b, "lease");
		char devs[512], left[32] = "";
		const char *row[8];

		join_devnodes(json_object_get(b, "devnodes"), devs, sizeof(devs));
		if (json_is_object(lease))
			format_span(json_integer_value(json_object_get(lease, "seconds_left")),
			            left, sizeof(left));
		row[0] = str(b, "name");
		row[1] = str(b, "type");
		row[2] = str(b, "state");
		row[3] = str(b, "busid");
		row[4] = str(b, "port");
		row[5] = devs;
		row[6] = json_is_object(lease) ? str(lease, "holder") : "";
		row[7] = left;
		table_row(&t, row);
	}
	table_print(&t);
}

static void print_event(const json_t *ev)
{
	const json_t *dev = json_object_get(ev, "dev");
	const char *kind = str(ev, "kind"), *peer = str(ev, "peer"), *detail = str(ev, "detail");
	char what[512] = "";
	size_t len = 0;

	if (json_is_object(dev) && *str(dev, "busid"))
		len += (size_t)snprintf(what + len, sizeof(what) - len, "busid %s %s:%s ",
		                        str(dev, "busid"), str(dev, "vid"), str(dev, "pid"));
	if (*peer && len < sizeof(what))
		len += (size_t)snprintf(what + len, sizeof(what) - len, "by %s ", peer);
	if (*detail && len < sizeof(what))
		len += (size_t)snprintf(what + len, sizeof(what) - len, "(%s)", detail);
	while (len > 0 && len < sizeof(what) && what[len - 1] == ' ')
		what[--len] = 0;
	printf("%-24s  %-14s  %-12s  %s\n", str(ev, "time"), kind, dash(str(ev, "board")), what);
}

static void print_lease_line(const char *label, const json_t *lease)
{
	char rel[48];

	format_relative(str(lease, "expires"), rel, sizeof(rel));
	printf("%-10s%s until %s (%s)%s%s\n", label, str(lease, "holder"), str(lease, "expires"),
	       rel, *str(lease, "reason") ? ": " : "", str(lease, "reason"));
}

static void print_info(const struct args *a, json_t *r)
{
	json_t *b = json_object_get(r, "board"), *lease = json_object_get(b, "lease");
	json_t *events = json_object_get(r, "events"), *ev;
	char devs[512], rel[48];
	size_t i;

	(void)a;
	join_devnodes(json_object_get(b, "devnodes"), devs, sizeof(devs));
	printf("%-10s%s\n", "name", str(b, "name"));
	printf("%-10s%s\n", "type", dash(str(b, "type")));
	printf("%-10s%s\n", "chip", dash(str(b, "chip")));
	printf("%-10s%s\n", "notes", dash(str(b, "notes")));
	printf("%-10s%s\n", "state", str(b, "state"));
	printf("%-10s%s\n", "busid", dash(str(b, "busid")));
	printf("%-10s%s\n", "port", dash(str(b, "port")));
	printf("%-10s%s:%s\n", "vid:pid", str(b, "vid"), str(b, "pid"));
	printf("%-10s%s\n", "serial", dash(str(b, "serial")));
	printf("%-10s%lld Mbps\n", "speed",
	       (long long)json_integer_value(json_object_get(b, "speed")));
	printf("%-10s%s\n", "devices", dash(devs));
	printf("%-10s%s\n", "imported", dash(str(b, "imported_by")));
	if (json_is_object(lease))
		print_lease_line("lease", lease);
	else
		printf("%-10s%s\n", "lease", "-");
	format_relative(str(b, "last_seen"), rel, sizeof(rel));
	if (*rel)
		printf("%-10s%s (%s)\n", "last seen", str(b, "last_seen"), rel);
	else
		printf("%-10s%s\n", "last seen", "never");
	if (!json_is_true(json_object_get(r, "history"))) {
		puts("\nno history: usblabd runs without a store");
		return;
	}
	if (json_array_size(events) == 0) {
		puts("\nno events yet");
		return;
	}
	printf("\nlast %zu events:\n", json_array_size(events));
	json_array_foreach(events, i, ev) print_event(ev);
}

static void print_events(const struct args *a, json_t *r)
{
	json_t *events = json_object_get(r, "events"), *ev;
	size_t i;

	(void)a;
	if (json_array_size(events) == 0) {
		puts("no events match");
		return;
	}
	json_array_foreach(events, i, ev) print_event(ev);
}

static void print_locks(const struct args *a, json_t *r)
{
	static const char *const head[] = {"NAME", "HOLDER", "EXPIRES", "LEFT", "REASON"};
	struct table t = {.ncols = 5};
	json_t *locks = json_object_get(r, "locks"), *l;
	size_t i;

	(void)a;
	if (json_array_size(locks) == 0) {
		puts("no board is leased");
		return;
	}
	table_row(&t, head);
	json_array_foreach(locks, i, l)
	{
		char left[32];
		const char *row[5];

		format_span(json_integer_value(json_object_get(l, "seconds_left")), left,
		            sizeof(left));
		row[0] = str(l, "name");
		row[1] = str(l, "holder");
		row[2] = str(l, "expires");
		row[3] = left;
		row[4] = str(l, "reason");
		table_row(&t, row);
	}
	table_print(&t);
}

static void print_lease(const struct args *a, json_t *r, const char *verb)
{
	char rel[48];

	(void)a;
	format_relative(str(r, "expires"), rel, sizeof(rel));
	printf("%s: %s by %s until %s (%s)\n", str(r, "name"), verb, str(r, "holder"),
	       str(r, "expires"), rel);
	printf("token: %s\n", str(r, "token"));
	if (json_is_string(json_object_get(r, "import_as")))
		printf("import it with: usbip attach -r HOST -b %s\n", str(r, "import_as"));
	else
		printf("import it with: usblab attach (the name is too long for usbip's busid "
		       "field)\n");
}

static void print_checkout(const struct args *a, json_t *r)
{
	print_lease(a, r, "checked out");
}

static void print_renew(const struct args *a, json_t *r)
{
	print_lease(a, r, "renewed");
}

static void print_checkin(const struct args *a, json_t *r)
{
	(void)a;
	printf("%s: checked in%s\n", str(r, "name"),
	       json_is_true(json_object_get(r, "forced")) ? " (forced: it was someone else's)"
	                                                  : "");
}

static void print_reload(const struct args *a, json_t *r)
{
	(void)a;
	printf("registry reloaded: %lld board(s)\n",
	       (long long)json_integer_value(json_object_get(r, "boards")));
}

/* ---- commands ------------------------------------------------------------------------- */

static json_t *params_with_tag(const struct args *a)
{
	json_t *p = json_object();
	const char *tag = a->tag ? a->tag : getenv("USBLAB_TAG");

	if (tag && *tag)
		json_object_set_new(p, "tag", json_string(tag));
	return p;
}

static int run_status(const struct cmd *cmd, const struct args *a)
{
	(void)cmd;
	return simple(a, "status", NULL, USBLAB_REPLY_TIMEOUT_MS, print_status);
}

static int run_list(const struct cmd *cmd, const struct args *a)
{
	(void)cmd;
	return simple(a, "list", NULL, USBLAB_REPLY_TIMEOUT_MS, print_list);
}

static int run_locks(const struct cmd *cmd, const struct args *a)
{
	(void)cmd;
	return simple(a, "locks", NULL, USBLAB_REPLY_TIMEOUT_MS, print_locks);
}

static int run_reload(const struct cmd *cmd, const struct args *a)
{
	(void)cmd;
	return simple(a, "reload", NULL, USBLAB_REPLY_TIMEOUT_MS, print_reload);
}

static int run_info(const struct cmd *cmd, const struct args *a)
{
	(void)cmd;
	return simple(a, "info", json_pack("{s:s}", "name", a->pos[0]), USBLAB_REPLY_TIMEOUT_MS,
	              print_info);
}

/* How long a board's port may take to come back after a reset on this
 * machine: the server re-exports it, the follower (`usblab attach
 * --follow`) re-attaches it and cdc_acm makes its tty again. */
#define USBLAB_PORT_BACK_MS 20000
/* The daemon's probe, reset and wait for a port that re-enumerates. */
#define USBLAB_ESP32_REPLY_MS 30000

/* RUNDIR/NAME/tty, the link `usblab attach` keeps to an attached board's
 * tty (rewritten at each re-attach). True when it is there, resolving or
 * not (a board re-attaching has a dangling link for a moment). */
static bool attached_link(const char *name, char *link, size_t cap)
{
	struct stat st;

	if (!devfiles_link_dir_ok(name))
		return false;
	snprintf(link, cap, "%s/%s/tty", attach_run_dir(), name);
	return lstat(link, &st) == 0;
}

/* Probes port (a tty, or a link to one), waiting up to wait_ms for it to
 * exist and answer: after a reset a board with native USB re-enumerates
 * and its tty comes back, maybe under another name. Copies the tty probed
 * to tty. Returns 0, or -1 with the last error in err. */
static int probe_port(const char *port, bool link, int wait_ms, char *tty, size_t ttycap,
                      struct esp32_probe_result *res, char *err, size_t errlen)
{
	struct timespec t0, t1;
	char real[PATH_MAX];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		/* A link is shown as what it points to now; a path as given. */
		const char *now = !link || !realpath(port, real) ? port : real;

		snprintf(tty, ttycap, "%s", now);
		if (esp32_probe_tty(now, ESP32_PROBE_TIMEOUT_MS, res, err, errlen) == 0)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 >= wait_ms)
			return -1;
		usleep(100 * 1000);
	}
}

/* Prints an ESP32's state as every verb does; board and mac may be "". */
static void print_esp32(const struct args *a, const char *board, const char *tty, bool bootloader,
                        const char *mac, bool reenumerated)
{
	const char *state = bootloader ? "bootloader" : "running";

	if (a->json) {
		json_t *o = json_pack("{s:s?,s:s,s:s,s:s?}", "board", *board ? board : NULL, "tty",
		                      tty, "state", state, "mac", *mac ? mac : NULL);

		if (reenumerated)
			json_object_set_new(o, "reenumerated", json_true());
		print_json(o);
		json_decref(o);
		return;
	}
	printf("%s%s%s: %s", board, *board ? " " : "", tty, state);
	if (*mac)
		printf(", MAC %s", mac);
	else if (bootloader)
		fputs(", MAC unread (no reply to READ_REG)", stdout);
	else
		printf(" (no reply to SYNC in %d ms)", ESP32_PROBE_TIMEOUT_MS);
	if (reenumerated)
		fputs(" (the port re-enumerated)", stdout);
	putchar('\n');
}

static void format_mac(const struct esp32_probe_result *res, char *mac, size_t cap)
{
	mac[0] = 0;
	if (res->have_mac)
		snprintf(mac, cap, "%02x:%02x:%02x:%02x:%02x:%02x", res->mac[0], res->mac[1],
		         res->mac[2], res->mac[3], res->mac[4], res->mac[5]);
}

/* A verb the daemon runs on its machine (the board's tty is there): probe,
 * bootloader or boot; want is the state asked for ("" for probe). */
static int esp32_by_daemon(const struct args *a, const char *method, const char *want)
{
	struct ctl c = {.fd = -1};
	json_t *r;
	int rc = call(a, &c, method, json_pack("{s:s}", "name", a->pos[0]), USBLAB_ESP32_REPLY_MS,
	              &r);

	if (rc != EXIT_OK)
		goto out;
	const char *state = str(r, "state");

	if (a->json)
		print_json(r);
	else
		print_esp32(a, str(r, "board"), str(r, "tty"), strcmp(state, "bootloader") == 0,
		            str(r, "mac"), json_is_true(json_object_get(r, "reenumerated")));
	if (*want && strcmp(state, want) != 0) {
		fprintf(stderr,
		        "usblab: the chip is not %s after the reset: are its DTR/RTS lines wired "
		        "to IO0/EN (an auto-reset circuit)?\n",
		        want);
		rc = EXIT_FAILED;
	}
out:
	json_decref(r);
	ctl_close(&c);
	return rc;
}

static int run_probe(const struct cmd *cmd, const struct args *a)
{
	char port[PATH_MAX], tty[PATH_MAX] = "", err[600], mac[18];
	const char *name = a->npos ? a->pos[0] : "";
	struct esp32_probe_result res;
	int wait_ms = 0;

	if (a->tty == NULL && a->npos == 0)
		return usage_error(cmd->name, "probe needs a board NAME or --tty PATH");
	if (a->tty != NULL)
		snprintf(port, sizeof(port), "%s", a->tty);
	else if (attached_link(name, port, sizeof(port)))
		wait_ms = USBLAB_PORT_BACK_MS; /* attached here: maybe re-attaching now */
	else
		return esp32_by_daemon(a, "probe", "");
	if (probe_port(port, wait_ms > 0, wait_ms, tty, sizeof(tty), &res, err, sizeof(err)) < 0) {
		fprintf(stderr, "usblab: %s\n", err);
		if (strstr(err, "ermission"))
			fputs("usblab: add yourself to the port's group (dialout)\n", stderr);
		return EXIT_FAILED;
	}
	format_mac(&res, mac, sizeof(mac));
	print_esp32(a, name, tty, res.bootloader, mac, false);
	return EXIT_OK;
}

/* usblab bootloader / boot: esptool's DTR/RTS reset, then a probe says
 * whether the chip is where it was sent. NAME attached on this machine
 * (RUNDIR/NAME/tty) and --tty PATH are reset here; any other NAME by the
 * daemon, where its tty is. */
static int run_reset(const struct cmd *cmd, const struct args *a, bool bootloader)
{
	char port[PATH_MAX], tty[PATH_MAX] = "", real[PATH_MAX], err[600], rerr[600], mac[18];
	const char *name = a->npos ? a->pos[0] : "";
	const char *want = bootloader ? "bootloader" : "running";
	struct esp32_probe_result res;
	bool by_link = false;
	int rc;

	if (a->tty == NULL && a->npos == 0)
		return usage_error(cmd->name, "%s needs a board NAME or --tty PATH", cmd->name);
	if (a->tty != NULL)
		snprintf(port, sizeof(port), "%s", a->tty);
	else if (attached_link(name, port, sizeof(port)))
		by_link = true;
	else
		return esp32_by_daemon(a, cmd->name, want);
	if (!realpath(port, real)) {
		fprintf(stderr, "usblab: %s: %s\n", port, strerror(errno));
		return EXIT_FAILED;
	}
	/* A board with native USB may leave the bus under the last line
	 * change (its chip resets): the reset then fails half-way, and what
	 * counts is the probe once its port is back. */
	rc = esp32_reset_tty(real, bootloader, rerr, sizeof(rerr));
	if (rc < 0 && access(real, F_OK) == 0 && !by_link) {
		fprintf(stderr, "usblab: %s\n", rerr);
		return EXIT_FAILED;
	}
	/* The ROM prints its banner and listens within a few ms; an app takes
	 * longer to boot, but then SYNC gets no answer either way. */
	usleep(100 * 1000);
	if (probe_port(port, by_link, by_link ? USBLAB_PORT_BACK_MS : 2000, tty, sizeof(tty), &res,
	               err, sizeof(err)) < 0) {
		fprintf(stderr,
		        "usblab: reset sent; %s (a board with native USB re-enumerates on reset: "
		        "`usblab probe %s` once it is back)\n",
		        err, *name ? name : "NAME");
		return EXIT_FAILED;
	}
	format_mac(&res, mac, sizeof(mac));
	print_esp32(a, name, tty, res.bootloader, mac,
	            rc < 0 || (by_link && strcmp(tty, real) != 0));
	if (res.bootloader != bootloader) {
		fprintf(stderr,
		        "usblab: the chip is not %s after the reset: are its DTR/RTS lines wired "
		        "to IO0/EN (an auto-reset circuit)?\n",
		        want);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

static int run_bootloader(const struct cmd *cmd, const struct args *a)
{
	return run_reset(cmd, a, true);
}

static int run_boot(const struct cmd *cmd, const struct args *a)
{
	return run_reset(cmd, a, false);
}

static int follow(const struct args *a, json_t *params)
{
	struct ctl c = {.fd = -1};
	json_t *result, *msg;
	char err[600];
	int rc = call(a, &c, "events.follow", params, USBLAB_REPLY_TIMEOUT_MS, &result);

	json_decref(result);
	if (rc != EXIT_OK) {
		ctl_close(&c);
		return rc;
	}
	if (!a->json)
		fputs("following events (Ctrl-C to stop)\n", stderr);
	while ((rc = ctl_read(&c, -1, &msg, err, sizeof(err))) == CTL_OK) {
		json_t *ev = json_object_get(msg, "event");

		if (ev && a->json)
			print_json(ev);
		else if (ev)
			print_event(ev);
		fflush(stdout);
		json_decref(msg);
	}
	fprintf(stderr, "usblab: %s\n", err);
	ctl_close(&c);
	return EXIT_FAILED;
}

static int run_events(const struct cmd *cmd, const struct args *a)
{
	json_t *p = json_object();
	long long limit;

	if (a->since)
		json_object_set_new(p, "since", json_string(a->since));
	if (a->until)
		json_object_set_new(p, "until", json_string(a->until));
	if (a->device)
		json_object_set_new(p, "device", json_string(a->device));
	if (a->kind)
		json_object_set_new(p, "kind", json_string(a->kind));
	if (a->limit) {
		if (parse_count(a->limit, 1, 10000, &limit) < 0) {
			json_decref(p);
			return usage_error(cmd->name, "--limit wants 1..10000, not '%s'", a->limit);
		}
		json_object_set_new(p, "limit", json_integer(limit));
	}
	if (a->follow) {
		if (a->since || a->until || a->limit) {
			json_decref(p);
			return usage_error(
			        cmd->name,
			        "--follow shows new events: --since, --until and --limit "
			        "do not apply");
		}
		return follow(a, p);
	}
	return simple(a, "events", p, USBLAB_REPLY_TIMEOUT_MS, print_events);
}

static int take_duration(const struct cmd *cmd, const struct args *a, json_t *p)
{
	long long d;

	if (!a->for_)
		return EXIT_OK;
	if (parse_duration(a->for_, false, &d) < 0)
		return usage_error(cmd->name,
		                   "--for wants a duration up to 30 days: 90s, 30m, 2h, 1d or "
		                   "seconds, not '%s'",
		                   a->for_);
	json_object_set_new(p, "duration", json_integer(d));
	return EXIT_OK;
}

static int run_checkout(const struct cmd *cmd, const struct args *a)
{
	json_t *p;
	long long timeout = -1;
	int rc;

	if (!!a->any == !!a->npos)
		return usage_error(cmd->name, "give a board NAME or --any PATTERN (one of them)");
	if (a->timeout && !a->wait)
		return usage_error(cmd->name, "--timeout goes with --wait");
	if (a->timeout && parse_duration(a->timeout, true, &timeout) < 0)
		return usage_error(cmd->name, "--timeout wants a duration (30, 90s, 10m), not '%s'",
		                   a->timeout);
	p = params_with_tag(a);
	if ((rc = take_duration(cmd, a, p)) != EXIT_OK) {
		json_decref(p);
		return rc;
	}
	json_object_set_new(p, a->any ? "any" : "name", json_string(a->any ? a->any : a->pos[0]));
	if (a->reason)
		json_object_set_new(p, "reason", json_string(a->reason));
	if (a->wait)
		json_object_set_new(p, "wait", json_true());
	if (timeout >= 0)
		json_object_set_new(p, "timeout", json_integer(timeout));
	/* With --wait the daemon keeps the time (its timeout error ends it). */
	return simple(a, "checkout", p, a->wait ? -1 : USBLAB_REPLY_TIMEOUT_MS, print_checkout);
}

static int run_renew(const struct cmd *cmd, const struct args *a)
{
	json_t *p = params_with_tag(a);
	int rc = take_duration(cmd, a, p);

	if (rc != EXIT_OK) {
		json_decref(p);
		return rc;
	}
	json_object_set_new(p, "name", json_string(a->pos[0]));
	return simple(a, "renew", p, USBLAB_REPLY_TIMEOUT_MS, print_renew);
}

static int run_checkin(const struct cmd *cmd, const struct args *a)
{
	json_t *p = params_with_tag(a);

	(void)cmd;
	json_object_set_new(p, "name", json_string(a->pos[0]));
	if (a->force)
		json_object_set_new(p, "force", json_true());
	return simple(a, "checkin", p, USBLAB_REPLY_TIMEOUT_MS, print_checkin);
}

/* ---- the client side (cmd_client.c does the work) ------------------------------------ */

static void client_opts_from(const struct args *a, struct client_opts *o, char *sock, size_t cap)
{
	const char *env = getenv("USBLAB_SOCKET");

	memset(o, 0, sizeof(*o));
	o->json = a->json;
	o->wait = a->wait;
	o->follow = a->follow;
	o->token = a->token;
	o->timeout_s = -1;
	o->socket_given = a->socket || (env && *env);
	o->socket_path = default_socket(a, sock, cap) == 0 ? sock : NULL;
}

static int run_attach(const struct cmd *cmd, const struct args *a)
{
	struct client_opts o;
	char sock[512];
	long long timeout = -1;

	if (a->timeout && !a->wait)
		return usage_error(cmd->name, "--timeout goes with --wait");
	if (a->timeout && parse_duration(a->timeout, true, &timeout) < 0)
		return usage_error(cmd->name, "--timeout wants a duration (30, 90s, 10m), not '%s'",
		                   a->timeout);
	client_opts_from(a, &o, sock, sizeof(sock));
	o.timeout_s = timeout;
	return client_attach(&o, a->pos[0], a->pos[1]);
}

static int run_detach(const struct cmd *cmd, const struct args *a)
{
	struct client_opts o;
	char sock[512];

	(void)cmd;
	client_opts_from(a, &o, sock, sizeof(sock));
	return client_detach(&o, a->pos[0]);
}

static int run_attached(const struct cmd *cmd, const struct args *a)
{
	struct client_opts o;
	char sock[512];

	(void)cmd;
	client_opts_from(a, &o, sock, sizeof(sock));
	return client_attached(&o);
}

static int run_remote(const struct cmd *cmd, const struct args *a)
{
	struct client_opts o;
	char sock[512];

	if (a->npos < 2 || strcmp(a->pos[0], "list") != 0)
		return usage_error(cmd->name, "usage: usblab remote list HOST[:PORT]...");
	client_opts_from(a, &o, sock, sizeof(sock));
	return client_remote_list(&o, a->pos + 1, a->npos - 1);
}

/* ---- help texts ------------------------------------------------------------------------ */

#define HELP_GLOBAL                                                                                \
	"\nOptions of every command:\n"                                                            \
	"  --socket PATH   the control socket (default $USBLAB_SOCKET, else the\n"                 \
	"                  XDG runtime directory's usblab/usblabd.sock)\n"                         \
	"  --json          print the reply as JSON; errors as {\"error\":{...}}\n"                 \
	"  -h, --help      this text\n"

#define HELP_EXIT                                                                                  \
	"Exit status: 0 done; 1 the daemon refused (see the message); 2 bad usage;\n"              \
	"3 usblabd is not running; 4 timed out (checkout --wait --timeout).\n"

static const char help_status[] =
        "Usage: usblab status [--json]\n\n"
        "Shows the daemon's version and pid, the control socket, the registry file, how\n"
        "many boards are named, present and leased, whether a store keeps history, and\n"
        "how many clients are connected.\n" HELP_GLOBAL "\n" HELP_EXIT
        "\nExample:\n  usblab status\n";

static const char help_list[] =
        "Usage: usblab list [--json]\n\n"
        "Lists every board: the ones the registry (devices.conf) names, present or not,\n"
        "and every other USB device usblabd sees, by busid. Columns:\n"
        "  NAME     registry name (or busid)    STATE   absent, present, exported, imported\n"
        "  TYPE     registry type               BUSID   USB/IP busid (last known if absent)\n"
        "  PORT     physical port path          DEVICES its /dev files\n"
        "  HOLDER   who has it checked out      LEFT    time left on the lease\n" HELP_GLOBAL
        "\n" HELP_EXIT "\nExamples:\n  usblab list\n  usblab list --json | jq '.boards[].name'\n";

static const char help_info[] =
        "Usage: usblab info NAME [--json]\n\n"
        "Shows one board: what the registry says of it, where it is (or was last seen),\n"
        "its device files, who imports or holds it, and its last 20 events.\n"
        "NAME may be the full name, a unique part of it, or a regex.\n" HELP_GLOBAL "\n" HELP_EXIT
        "\nExamples:\n  usblab info esp-a\n  usblab info S3\n";

static const char help_events[] =
        "Usage: usblab events [--since TIME] [--until TIME] [--device NAME] [--kind KIND]\n"
        "                     [--limit N] [--json]\n"
        "       usblab events --follow [--device NAME] [--kind KIND] [--json]\n\n"
        "Prints what happened on the bench, oldest first, from the daemon's store: boards\n"
        "arriving and leaving, exports and imports, leases, registry reloads. With\n"
        "--follow, prints new events as they happen until interrupted.\n\n"
        "Options:\n"
        "  -f, --follow      live events instead of history (--json: one per line)\n"
        "  --since TIME      from TIME (2026-12-03T13:14:04Z, 2026-12-03, -10m, -2h, -1d)\n"
        "  --until TIME      up to TIME\n"
        "  --device NAME     one board's events\n"
        "  --kind KIND       one kind: arrived, departed, reenumerated, exported,\n"
        "                    unexported, imported, released, client-gone, import-refused,\n"
        "                    lease-taken, lease-renewed, lease-released, lease-expired,\n"
        "                    config-reloaded, config-rejected, error, power, probed; the\n"
        "                    client side: attached, devfiles, server-gone,\n"
        "                    board-reenumerated, re-attached, detached\n"
        "  --limit N         the newest N matches (1..10000, default 100)\n" HELP_GLOBAL
        "\n" HELP_EXIT
        "\nExamples:\n  usblab events --since -1h\n  usblab events --device esp-a --kind "
        "lease-taken\n  usblab events --follow --json\n";

static const char help_checkout[] =
        "Usage: usblab checkout NAME [--for DURATION] [--reason TEXT] [--wait [--timeout S]]\n"
        "       usblab checkout --any PATTERN [--for DURATION] [--reason TEXT] [--wait ...]\n\n"
        "Takes a lease on a board: others cannot check it out or import it over USB/IP\n"
        "until you check it in or the lease expires. Prints the lease's token: with it the\n"
        "board can be imported from any machine (usbip attach -r HOST -b NAME#TOKEN).\n"
        "The daemon answers once the lease is on disk. Checking out a board you already\n"
        "hold renews it.\n\n"
        "Options:\n"
        "  --for DURATION    how long: 90s, 30m, 2h, 1d or seconds (default 1h, at most 30d)\n"
        "  --reason TEXT     shown to others in list, locks and events\n"
        "  --any PATTERN     the first present, free board whose name matches the\n"
        "                    extended regex PATTERN (case-insensitive)\n"
        "  --wait            wait while the board is absent or leased\n"
        "  --timeout S       with --wait: give up after S (30, 90s, 10m); exit status 4\n"
        "  --tag TAG         hold the lease as USER@HOST/TAG (default $USBLAB_TAG)\n" HELP_GLOBAL
        "\n" HELP_EXIT "\nExamples:\n  usblab checkout esp-a --for 2h --reason \"OTA test\"\n"
        "  usblab checkout --any '^esp' --wait --timeout 10m\n"
        "  TOKEN=$(usblab checkout esp-a --json | jq -r .token)\n";

static const char help_renew[] =
        "Usage: usblab renew NAME [--for DURATION]\n\n"
        "Extends your lease on NAME to DURATION from now (default 1h).\n\n"
        "Options:\n"
        "  --for DURATION    90s, 30m, 2h, 1d or seconds\n"
        "  --tag TAG         the tag the lease was taken with\n" HELP_GLOBAL "\n" HELP_EXIT
        "\nExample:\n  usblab renew esp-a --for 30m\n";

static const char help_checkin[] =
        "Usage: usblab checkin NAME [--force]\n\n"
        "Ends your lease on NAME. With --force, ends anyone's lease; the event log\n"
        "records who forced it.\n\n"
        "Options:\n"
        "  --force           end the lease even if someone else holds it\n"
        "  --tag TAG         the tag the lease was taken with\n" HELP_GLOBAL "\n" HELP_EXIT
        "\nExamples:\n  usblab checkin esp-a\n  usblab checkin esp-a --force\n";

static const char help_locks[] =
        "Usage: usblab locks [--json]\n\n"
        "Lists the leases in force: board, holder, expiry, time left, reason.\n" HELP_GLOBAL
        "\n" HELP_EXIT "\nExample:\n  usblab locks\n";

static const char help_reload[] =
        "Usage: usblab reload [--json]\n\n"
        "Makes usblabd re-read its registry (devices.conf), as SIGHUP or saving the file\n"
        "does. A file with an error is refused, the message says FILE:LINE, and the last\n"
        "good registry stays in force (exit status 1).\n" HELP_GLOBAL "\n" HELP_EXIT
        "\nExample:\n  usblab reload\n";

#define HELP_CLIENT_EXIT                                                                           \
	"Exit status: 0 done; 1 failed (see the message); 2 bad usage; 4 --wait --timeout\n"       \
	"ran out; 5 the server refused (absent, leased, busy); 6 this machine cannot\n"            \
	"attach (vhci-hcd not loaded, not root, no free port).\n"

static const char help_attach[] =
        "Usage: usblab attach HOST[:PORT] NAME|BUSID [--token T] [--wait [--timeout S]]\n"
        "                     [--follow] [--json]\n\n"
        "Imports a board from a USB/IP server (usblabd by name, or any server such as\n"
        "the kernel's usbipd by busid) into this machine's kernel through vhci-hcd,\n"
        "waits until the drivers are bound, and prints the device files that appeared\n"
        "(/dev/ttyACM0, /dev/sdb, /dev/hidraw2, /dev/input/event5). Stable links to them\n"
        "are made in /run/usblab/NAME/ (tty, disk, hidraw, input; tty1 ... when there\n"
        "are several). Needs root (vhci-hcd's attach file is root's) and the vhci-hcd\n"
        "module (`modprobe vhci-hcd`). No usbip binary is needed.\n\n"
        "Options:\n"
        "  --token T     the lease token (`usblab checkout`); NAME#T works too\n"
        "  --wait        wait while the board is absent, leased by someone else or busy\n"
        "  --timeout S   with --wait: give up after S (30, 90s, 10m); exit status 4\n"
        "  -f, --follow  stay in the foreground: when the server lets the board go (it\n"
        "                reset and came back), import it again by name (backoff 0.1 s\n"
        "                doubling to 2 s), update the links and print how long it took.\n"
        "                SIGTERM/SIGINT stop following (the board stays attached);\n"
        "                `usblab detach` stops the follower first\n"
        "  --json        one JSON object per attach (with --follow: per re-attach)\n"
        "  --socket PATH the local usblabd, asked who holds a leased board\n\n" HELP_CLIENT_EXIT
        "\nExamples:\n  sudo usblab attach bench1 esp-a\n"
        "  sudo usblab attach bench1:3240 esp-a --token k7pq2xw9a3mf --json\n"
        "  sudo usblab attach 10.0.0.5 1-4.2 --wait --timeout 10m\n";

static const char help_detach[] =
        "Usage: usblab detach NAME|PORT [--json]\n\n"
        "Lets an attached board go: stops its follower (attach --follow), detaches the\n"
        "vhci port, removes its links in /run/usblab/NAME/ and its record.\n"
        "PORT is the vhci port `usblab attached` shows.\n\n" HELP_CLIENT_EXIT
        "\nExamples:\n  sudo usblab detach esp-a\n  sudo usblab detach 15\n";

static const char help_attached[] =
        "Usage: usblab attached [--json]\n\n"
        "Lists what this machine imported with usblab attach: vhci port, name, server,\n"
        "since when, state (attached; reattaching: a follower is importing it again;\n"
        "gone: the server let it go) and its device files now.\n\n" HELP_CLIENT_EXIT
        "\nExample:\n  usblab attached\n";

static const char help_remote[] =
        "Usage: usblab remote list HOST[:PORT]... [--json]\n\n"
        "Lists the devices each server offers (OP_REQ_DEVLIST): busid, VID:PID, speed,\n"
        "class, path. When the server is a usblabd whose HTTP API answers (port 3241, or\n"
        "$USBLAB_REMOTE_HTTP_PORT; it listens on loopback unless configured), every\n"
        "board it knows, with name, type, state and lease holder; else a usblabd on this\n"
        "machine names its busids, and usblabd's DEVLIST paths carry names.\n\n" HELP_CLIENT_EXIT
        "\nExample:\n  usblab remote list bench1 bench2:3241\n";
static const char help_probe[] =
        "Usage: usblab probe NAME [--json]\n"
        "       usblab probe --tty PATH [--json]\n\n"
        "Asks an ESP32 (a board of type = esp32 in devices.conf) on its serial port\n"
        "whether its ROM bootloader listens: sends SYNC and waits 150 ms. Prints\n"
        "`bootloader` and the MAC read from its eFuse (READ_REG 0x3FF5A004/8), or\n"
        "`running` when nothing answers (the app runs, or the chip is off). It sets no\n"
        "line itself (opening the port raises DTR and RTS together, which esptool's\n"
        "auto-reset circuits ignore): the board stays in its mode. A board attached on\n"
        "this machine (usblab attach) is probed here; any other by usblabd, on its\n"
        "machine. Nothing is done while another program has the port open.\n\n"
        "Options:\n"
        "  --tty PATH        probe PATH directly, without asking usblabd\n" HELP_GLOBAL
        "\n" HELP_EXIT
        "\nExamples:\n  usblab probe esp-a\n  usblab probe --tty /dev/ttyACM0 --json\n";

static int run_service(const struct cmd *cmd, const struct args *a)
{
	struct service_opts o = {.user = a->user,
	                         .group = a->group,
	                         .root = a->root,
	                         .exec = a->exec,
	                         .no_start = a->no_start};

	if (a->user && a->group)
		return usage_error(cmd->name, "--group is for the system service's udev rule");
	if (strcmp(a->pos[0], "install") == 0)
		return service_install(&o);
	if (strcmp(a->pos[0], "uninstall") == 0)
		return service_uninstall(&o);
	return usage_error(cmd->name, "want 'install' or 'uninstall', not '%s'", a->pos[0]);
}

static const char help_bootloader[] =
        "Usage: usblab bootloader NAME [--json]\n"
        "       usblab bootloader --tty PATH [--json]\n\n"
        "Resets an ESP32 into its ROM bootloader with esptool's classic DTR/RTS\n"
        "sequence (EN low 100 ms, then IO0 low as EN rises, 50 ms, IO0 released), then\n"
        "probes it as `usblab probe` does and prints its state and MAC. Exit status 1\n"
        "when the ROM does not answer afterwards (no auto-reset circuit). A board\n"
        "attached on this machine is reset here, and when it re-enumerates (native USB)\n"
        "the verb waits up to 20 s for its port to come back (usblab attach --follow\n"
        "re-attaches it); any other board is reset by usblabd on its machine. A board\n"
        "leased by someone else is not reset.\n\n"
        "Options:\n"
        "  --tty PATH        the port, without asking usblabd\n" HELP_GLOBAL "\n" HELP_EXIT
        "\nExamples:\n  usblab bootloader esp-a\n  usblab bootloader --tty /dev/ttyACM0\n";

static const char help_boot[] =
        "Usage: usblab boot NAME [--json]\n"
        "       usblab boot --tty PATH [--json]\n\n"
        "Resets an ESP32 into its application (EN pulsed low 100 ms with IO0 high), then\n"
        "probes it: exit status 1 when its ROM still answers.\n\n"
        "Options:\n"
        "  --tty PATH        the port, without asking usblabd\n" HELP_GLOBAL "\n" HELP_EXIT
        "\nExamples:\n  usblab boot esp-a\n";

static const char help_service[] =
        "Usage: usblab service install [--user] [--group GROUP] [--exec PATH] [--no-start]\n"
        "                              [--root DIR]\n"
        "       usblab service uninstall [--user] [--no-start] [--root DIR]\n\n"
        "Runs usblabd as a systemd service from boot. The system service (root) gets\n"
        "/etc/systemd/system/usblabd.service, with the bench's files in /etc/usblab,\n"
        "/var/lib/usblab and /run/usblab, sandboxed (ProtectSystem=strict), restarted on\n"
        "failure; and /etc/udev/rules.d/70-usblab.rules, which gives members of GROUP the\n"
        "USB devices and USB serial ports, so they use the boards without root. Then it\n"
        "reloads udev and systemd and enables and starts usblabd. --user installs\n"
        "~/.config/systemd/user/usblabd.service instead (no udev rule; your files stay\n"
        "in ~/.config/usblab and ~/.local/state/usblab). uninstall stops and disables\n"
        "the service and removes what install wrote; the bench's files stay.\n\n"
        "Options:\n"
        "  --user            a user service instead of the system one\n"
        "  --group GROUP     the group the udev rule gives the boards (default plugdev)\n"
        "  --exec PATH       the usblabd to run (absolute; default: the one beside usblab)\n"
        "  --no-start        write (or remove) the files only; run no systemctl/udevadm\n"
        "  --root DIR        write under DIR (packaging, tests); implies --no-start\n"
        "\nExit status: 0 done; 1 failed (see the message); 2 bad usage.\n"
        "\nExamples:\n  sudo usblab service install --group plugdev\n"
        "  usblab service install --user\n  sudo usblab service uninstall\n";

/* usblab power (cmd_power.c does the work). */
static int run_power(const struct cmd *cmd, const struct args *a)
{
	struct power_cli_opts o = {
	        .json = a->json, .timeout_s = -1, .method = getenv("USBLAB_POWER_METHOD")};
	char sock[512];

	if (a->npos != 2)
		return usage_error(cmd->name, "usage: usblab power off|on|cycle NAME");
	if (a->timeout &&
	    (parse_duration(a->timeout, false, &o.timeout_s) < 0 || o.timeout_s > 600))
		return usage_error(cmd->name,
		                   "--timeout wants 1 to 600 seconds (30, 90s), not '%s'",
		                   a->timeout);
	if (default_socket(a, sock, sizeof(sock)) < 0) {
		fputs("usblab: no runtime directory is known (set XDG_RUNTIME_DIR, or give "
		      "--socket PATH)\n",
		      stderr);
		return EXIT_USAGE;
	}
	o.socket_path = sock;
	return cmd_power(&o, a->pos[0], a->pos[1]);
}

static const struct cmd cmds[] = {
        {"status", 0, 0, 0, run_status, help_status},
        {"list", 0, 0, 0, run_list, help_list},
        {"info", 0, 1, 1, run_info, help_info},
        {"events", A_FOLLOW | A_SINCE | A_UNTIL | A_DEVICE | A_KIND | A_LIMIT, 0, 0, run_events,
         help_events},
        {"checkout", A_FOR | A_REASON | A_WAIT | A_TIMEOUT | A_ANY, 0, 1, run_checkout,
         help_checkout},
        {"renew", A_FOR, 1, 1, run_renew, help_renew},
        {"checkin", A_FORCE, 1, 1, run_checkin, help_checkin},
        {"locks", 0, 0, 0, run_locks, help_locks},
        {"reload", 0, 0, 0, run_reload, help_reload},
        {"attach", A_WAIT | A_TIMEOUT | A_FOLLOW | A_TOKEN, 2, 2, run_attach, help_attach},
        {"detach", 0, 1, 1, run_detach, help_detach},
        {"attached", 0, 0, 0, run_attached, help_attached},
        {"remote", 0, 0, 8, run_remote, help_remote},
        {"probe", A_TTY, 0, 1, run_probe, help_probe},
        {"bootloader", A_TTY, 0, 1, run_bootloader, help_bootloader},
        {"boot", A_TTY, 0, 1, run_boot, help_boot},
        {"service", A_SERVICE, 1, 1, run_service, help_service},
        {"power", A_TIMEOUT, 0, 2, run_power, cmd_power_help},
};

/* ---- main ------------------------------------------------------------------------------- */

/* monitor and the plugin verbs parse their own arguments (cmd_monitor.h,
 * cmd_plugin.h): a plugin's must reach it untouched. Finds the verb past
 * the global options; returns -1 when it is one of ours (getopt goes on). */
static int run_own_parser(int argc, char **argv)
{
	struct args a;
	char path[512], help_arg[] = "--help";
	bool help = false;
	int i = 1;

	memset(&a, 0, sizeof(a));
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			help = true;
		} else if ((strcmp(argv[i], "--socket") == 0 || strcmp(argv[i], "--tag") == 0) &&
		           i + 1 < argc) {
			if (argv[i][2] == 's')
				a.socket = argv[i + 1];
			i++;
		} else if (strncmp(argv[i], "--socket=", 9) == 0) {
			a.socket = argv[i] + 9;
		} else if (strcmp(argv[i], "--json") == 0) {
			a.json = true;
		} else if (strncmp(argv[i], "--tag=", 6) != 0) {
			return -1;
		}
	}
	if (i == argc)
		return -1;
	const char *sock = default_socket(&a, path, sizeof(path)) == 0 ? path : NULL;
	char *help_argv[] = {argv[i], help_arg, NULL};

	/* `usblab --help monitor` is `usblab monitor --help`. */
	if (strcmp(argv[i], "monitor") == 0)
		return help ? monitor_main(2, help_argv, sock)
		            : monitor_main(argc - i, argv + i, sock);
	if (strcmp(argv[i], "run") == 0)
		return help ? plugin_main(2, help_argv, sock, a.json, false)
		            : plugin_main(argc - i, argv + i, sock, a.json, false);
	if (help)
		return -1;
	for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
		if (strcmp(cmds[k].name, argv[i]) == 0)
			return -1;
	/* An unknown VERB followed by a NAME: the board's plugin may have it. */
	if (i + 1 < argc && argv[i + 1][0] != '-')
		return plugin_main(argc - i, argv + i, sock, a.json, true);
	return -1;
}

static const struct option long_opts[] = {
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"json", no_argument, NULL, OPT_JSON},
        {"tag", required_argument, NULL, OPT_TAG},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {"follow", no_argument, NULL, 'f'},
        {"since", required_argument, NULL, OPT_SINCE},
        {"until", required_argument, NULL, OPT_UNTIL},
        {"device", required_argument, NULL, OPT_DEVICE},
        {"kind", required_argument, NULL, OPT_KIND},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"for", required_argument, NULL, OPT_FOR},
        {"reason", required_argument, NULL, OPT_REASON},
        {"wait", no_argument, NULL, OPT_WAIT},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"any", required_argument, NULL, OPT_ANY},
        {"force", no_argument, NULL, OPT_FORCE},
        {"token", required_argument, NULL, OPT_TOKEN},
        {"tty", required_argument, NULL, OPT_TTY},
        {"user", no_argument, NULL, OPT_USER},
        {"group", required_argument, NULL, OPT_GROUP},
        {"root", required_argument, NULL, OPT_ROOT},
        {"exec", required_argument, NULL, OPT_EXEC},
        {"no-start", no_argument, NULL, OPT_NO_START},
        {NULL, 0, NULL, 0},
};

static const struct {
	int opt;
	unsigned bit;
} opt_bits[] = {
        {'f', A_FOLLOW},           {OPT_SINCE, A_SINCE},   {OPT_UNTIL, A_UNTIL},
        {OPT_DEVICE, A_DEVICE},    {OPT_KIND, A_KIND},     {OPT_LIMIT, A_LIMIT},
        {OPT_FOR, A_FOR},          {OPT_REASON, A_REASON}, {OPT_WAIT, A_WAIT},
        {OPT_TIMEOUT, A_TIMEOUT},  {OPT_ANY, A_ANY},       {OPT_FORCE, A_FORCE},
        {OPT_TOKEN, A_TOKEN},      {OPT_TTY, A_TTY},       {OPT_USER, A_SERVICE},
        {OPT_GROUP, A_SERVICE},    {OPT_ROOT, A_SERVICE},  {OPT_EXEC, A_SERVICE},
        {OPT_NO_START, A_SERVICE},
};

int main(int argc, char **argv)
{
	struct args a;
	const struct cmd *cmd = NULL;
	bool help = false;
	unsigned given = 0;
	int c, idx = 0;

	if ((c = run_own_parser(argc, argv)) >= 0)
		return c;
	memset(&a, 0, sizeof(a));
	/* getopt_long permutes: options may come before or after the command. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hf", long_opts, &idx)) != -1) {
		for (size_t i = 0; i < sizeof(opt_bits) / sizeof(opt_bits[0]); i++)
			if (opt_bits[i].opt == c)
				given |= opt_bits[i].bit;
		switch (c) {
		case OPT_SOCKET:
			a.socket = optarg;
			break;
		case OPT_JSON:
			a.json = true;
			break;
		case OPT_TAG:
			a.tag = optarg;
			break;
		case 'h':
			help = true;
			break;
		case OPT_VERSION:
			printf("usblab %s\n", USBLAB_VERSION);
			return EXIT_OK;
		case 'f':
			a.follow = true;
			break;
		case OPT_SINCE:
			a.since = optarg;
			break;
		case OPT_UNTIL:
			a.until = optarg;
			break;
		case OPT_DEVICE:
			a.device = optarg;
			break;
		case OPT_KIND:
			a.kind = optarg;
			break;
		case OPT_LIMIT:
			a.limit = optarg;
			break;
		case OPT_FOR:
			a.for_ = optarg;
			break;
		case OPT_REASON:
			a.reason = optarg;
			break;
		case OPT_WAIT:
			a.wait = true;
			break;
		case OPT_TIMEOUT:
			a.timeout = optarg;
			break;
		case OPT_ANY:
			a.any = optarg;
			break;
		case OPT_FORCE:
			a.force = true;
			break;
		case OPT_TOKEN:
			a.token = optarg;
			break;
		case OPT_TTY:
			a.tty = optarg;
			break;
		case OPT_USER:
			a.user = true;
			break;
		case OPT_GROUP:
			a.group = optarg;
			break;
		case OPT_ROOT:
			a.root = optarg;
			break;
		case OPT_EXEC:
			a.exec = optarg;
			break;
		case OPT_NO_START:
			a.no_start = true;
			break;
		case ':':
			return usage_error(NULL, "option '%s' needs a value", argv[optind - 1]);
		default:
			return usage_error(NULL, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc) {
		for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
			if (strcmp(cmds[i].name, argv[optind]) == 0)
				cmd = &cmds[i];
		if (!cmd)
			return usage_error(NULL, "unknown command '%s'", argv[optind]);
		optind++;
	}
	if (!cmd) {
		if (help) {
			fputs(usage_text, stdout);
			return EXIT_OK;
		}
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (help) {
		fputs(cmd->help, stdout);
		return EXIT_OK;
	}
	/* Options this command does not take. */
	for (size_t i = 0; i < sizeof(opt_bits) / sizeof(opt_bits[0]); i++) {
		if (!(given & opt_bits[i].bit) || (cmd->opts & opt_bits[i].bit))
			continue;
		for (const struct option *o = long_opts; o->name; o++)
			if (o->val == opt_bits[i].opt)
				return usage_error(cmd->name, "%s does not take --%s", cmd->name,
				                   o->name);
	}
	/* getopt_long moved the command and its arguments to the end. */
	for (int i = optind; i < argc; i++) {
		if (a.npos == (int)(sizeof(a.pos) / sizeof(a.pos[0])) || a.npos == cmd->max_pos)
			return usage_error(cmd->name, "unexpected argument '%s'", argv[i]);
		a.pos[a.npos++] = argv[i];
	}
	if (a.npos < cmd->min_pos)
		return usage_error(cmd->name, "%s needs %s", cmd->name,
		                   cmd->min_pos == 2 ? "HOST[:PORT] and a board NAME"
		                                     : "a board NAME");
	return cmd->run(cmd, &a);
}
