/* SPDX-License-Identifier: MIT */
/*
 * cmd_monitor.c - usblab monitor (see cmd_monitor.h).
 *
 * Where the port is found, in this order:
 *   --tty PATH          that path, followed as a path (a udev by-id link works)
 *   RUNDIR/NAME/tty     a board this machine attached (`usblab attach`): the
 *                       link devfiles.c keeps pointing at the board's tty
 *   usblabd's `info`    a board on this machine's usblabd: its devnodes
 * It is followed without polling: inotify on the link's directory, its
 * parent and /dev (a node appears, a link is replaced, udev sets a mode),
 * and for a daemon's board its event stream (events.follow), after each
 * event of which `info` says where the tty is now.
 *
 * One poll() owns every fd: the port, stdin (interactive only), inotify,
 * a signalfd (SIGINT, SIGTERM, SIGHUP), a timerfd (--timeout) and the
 * event stream. A port that reports a hangup is read dry before it is
 * closed, so that no line the board printed before it went is lost.
 */
#include "cmd_monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "attach_record.h"
#include "ctl.h"
#include "esp32_probe.h"
#include "sim_text.h"

#define MONITOR_EXIT_OK    0
#define MONITOR_EXIT_USAGE 2

/* Reads of the port per wake-up (4 KiB each). */
#define MONITOR_READS_PER_WAKE 64

/* How long one `info` to usblabd may take while following. */
#define MONITOR_INFO_TIMEOUT_MS 5000

/* The escape key of the interactive mode: Ctrl-T, as in picocom's and
 * miniterm's menus (Ctrl-A is the shell's, Ctrl-C stops the monitor). */
#define MONITOR_ESCAPE 0x14

static const char monitor_help[] =
        "Usage: usblab monitor NAME [--baud N] [--timestamps] [--log FILE] [--timeout S]\n"
        "                           [--send TEXT]\n"
        "       usblab monitor --tty PATH [...]\n\n"
        "A serial monitor that follows the board: it opens the board's tty (raw, 8N1,\n"
        "115200 unless --baud), prints what comes, and when the port goes (a flash, a\n"
        "reset, a re-attach) waits for it to come back, under whatever node it gets\n"
        "(ttyACM0 then ttyACM1), and goes on. A marker line says each connect and\n"
        "disconnect: `--- usblab monitor: connected to /dev/ttyACM1 (esp-a) ---`.\n"
        "The board's bytes go to stdout; markers and status go to stdout when it is a\n"
        "terminal, else to stderr (so `usblab monitor esp-a > log` keeps the board's\n"
        "output only). What the board printed before the port went is read out first:\n"
        "no line is lost around a marker.\n\n"
        "Where the port is found: --tty PATH (followed as a path, e.g. a\n"
        "/dev/serial/by-id link); else $USBLAB_RUN_DIR/NAME/tty (default /run/usblab),\n"
        "the link `usblab attach` keeps for a board this machine imported; else the\n"
        "local usblabd's `info NAME` (its device files), followed through its event\n"
        "stream. No polling: inotify and the event stream say when to look again.\n\n"
        "Options:\n"
        "  --tty PATH     monitor PATH, without a board name\n"
        "  --baud N       line speed (default 115200; 9600 ... 4000000)\n"
        "  --timestamps   prefix each line with the UTC time it began: [16:20:01.123]\n"
        "  --log FILE     append a copy to FILE: the board's output and the markers\n"
        "                 (with --timestamps, stamped too)\n"
        "  --timeout S    stop after S (30, 90s, 10m, 1h; 0.5 works): exit status 0\n"
        "  --send TEXT    write TEXT to the port once, when it is first opened;\n"
        "                 \\n \\r \\t \\b \\e (ESC) \\\\ and \\xHH are understood\n"
        "  --socket PATH  the control socket of the local usblabd\n\n"
        "Keys (when stdin is a terminal; what you type goes to the board):\n"
        "  Ctrl-T r       reset the board into its app (esptool's DTR/RTS sequence,\n"
        "                 as `usblab boot`)\n"
        "  Ctrl-T b       reset it into its ROM bootloader (as `usblab bootloader`)\n"
        "  Ctrl-T c       send a Ctrl-C to the board\n"
        "  Ctrl-T Ctrl-T  send a Ctrl-T\n"
        "  Ctrl-T q       quit (as Ctrl-C does)\n"
        "  Ctrl-T h       this list\n\n"
        "Exit status: 0 stopped (Ctrl-C, SIGTERM, Ctrl-T q, or --timeout ran out);\n"
        "1 the port cannot be opened or set up (not a tty, no permission: add yourself\n"
        "to group dialout), the log cannot be written, or usblabd does not know NAME;\n"
        "2 bad usage; 3 no link for NAME here and usblabd is not running.\n"
        "\nExamples:\n  usblab monitor esp-a --timestamps\n"
        "  usblab monitor esp-a --timeout 30 --send 'reboot\\r\\n' > boot.log\n"
        "  usblab monitor --tty /dev/ttyUSB0 --baud 74880 --log esp.log\n";

enum monitor_src {
	SRC_TTY,    /* --tty PATH */
	SRC_LINK,   /* RUNDIR/NAME/tty */
	SRC_DAEMON, /* usblabd's info */
};

struct monitor {
	const char *name; /* the board as asked (NULL with --tty) */
	char label[128];  /* what the markers call it */
	enum monitor_src src;
	char path[PATH_MAX];   /* what is opened; for SRC_DAEMON, the last tty info named */
	char opened[PATH_MAX]; /* the node opened (a link resolved), for the markers */
	const char *socket_path;
	speed_t speed;
	bool timestamps;
	int fd; /* the port; -1 while it is gone */
	bool ever_connected, waiting_said;
	/* --send */
	char *send;
	size_t send_len;
	bool sent;
	/* outputs */
	FILE *log;
	bool marks_on_stdout;  /* stdout is a terminal */
	bool out_bol, log_bol; /* at the beginning of a line */
	/* interactive */
	bool interactive;
	struct termios saved;
	bool escape;
	/* the loop's other fds */
	int ino, sigfd, timerfd;
	struct ctl stream; /* events.follow; fd -1 when none */
	int status;        /* set when the loop must end */
	bool done;
};

/* ---- output -------------------------------------------------------------------------------- */

static void write_fd_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			poll(&pfd, 1, 1000);
			continue;
		}
		if (w <= 0)
			return; /* a closed stdout: SIGPIPE ends us, as any filter */
		p += w;
		n -= (size_t)w;
	}
}

/* "[16:20:01.123] ": the UTC time of day, milliseconds. */
static size_t stamp(char *out, size_t cap)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	return (size_t)snprintf(out, cap, "[%02d:%02d:%02d.%03ld] ", tm.tm_hour, tm.tm_min,
	                        tm.tm_sec, ts.tv_nsec / 1000000);
}

/* Writes data to one output (fd, or the log when fd < 0), stamping each
 * line's start with --timestamps. *bol tracks the line start. */
static void out_data(struct monitor *m, int fd, bool *bol, const char *p, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(p, '\n', n);
		size_t len = nl ? (size_t)(nl - p) + 1 : n;

		if (*bol && m->timestamps) {
			char ts[32];
			size_t k = stamp(ts, sizeof(ts));

			if (fd >= 0)
				write_fd_all(fd, ts, k);
			else
				fwrite(ts, 1, k, m->log);
		}
		if (fd >= 0)
			write_fd_all(fd, p, len);
		else
			fwrite(p, 1, len, m->log);
		*bol = nl != NULL;
		p += len;
		n -= len;
	}
	if (fd < 0)
		fflush(m->log);
}

/* The board's bytes: stdout and the log. */
static void monitor_data(struct monitor *m, const char *p, size_t n)
{
	out_data(m, STDOUT_FILENO, &m->out_bol, p, n);
	if (m->log)
		out_data(m, -1, &m->log_bol, p, n);
}

/* A marker or status line: "--- usblab monitor: TEXT ---". It starts on a
 * line of its own wherever it goes (a partial line of the board's is ended
 * first on that output). */
static void monitor_mark(struct monitor *m, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));

static void monitor_mark(struct monitor *m, const char *fmt, ...)
{
	char text[768], line[900];
	va_list ap;
	int n;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	n = snprintf(line, sizeof(line), "--- usblab monitor: %s ---\n", text);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	if (m->marks_on_stdout) {
		if (!m->out_bol)
			out_data(m, STDOUT_FILENO, &m->out_bol, "\n", 1);
		out_data(m, STDOUT_FILENO, &m->out_bol, line, (size_t)n);
	} else {
		bool bol = true;

		out_data(m, STDERR_FILENO, &bol, line, (size_t)n);
	}
	if (m->log) {
		if (!m->log_bol)
			out_data(m, -1, &m->log_bol, "\n", 1);
		out_data(m, -1, &m->log_bol, line, (size_t)n);
	}
}

/* ---- arguments ----------------------------------------------------------------------------- */

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("usblab: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'usblab monitor --help'.\n", stderr);
	return MONITOR_EXIT_USAGE;
}

static const struct {
	long baud;
	speed_t speed;
} bauds[] = {
        {1200, B1200},       {2400, B2400},       {4800, B4800},       {9600, B9600},
        {19200, B19200},     {38400, B38400},     {57600, B57600},     {74880, 0},
        {115200, B115200},   {230400, B230400},   {460800, B460800},   {500000, B500000},
        {576000, B576000},   {921600, B921600},   {1000000, B1000000}, {1500000, B1500000},
        {2000000, B2000000}, {3000000, B3000000}, {4000000, B4000000},
};

/* 0 with *speed set; -1 for a rate termios has no constant for. 74880 (an
 * ESP8266's boot ROM) has none: it is refused with the others. */
static int parse_baud(const char *text, speed_t *speed)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(text, &end, 10);
	if (errno || end == text || *end)
		return -1;
	for (size_t i = 0; i < sizeof(bauds) / sizeof(bauds[0]); i++)
		if (bauds[i].baud == v && bauds[i].speed != 0) {
			*speed = bauds[i].speed;
			return 0;
		}
	return -1;
}

/* "30", "90s", "10m", "1h", "0.5": milliseconds, 1 ms to 30 days. */
static int parse_timeout(const char *text, long long *ms)
{
	char *end;
	double v, mul = 1000;

	errno = 0;
	v = strtod(text, &end);
	if (errno || end == text || !(v > 0) || text[0] == '+' || text[0] == ' ')
		return -1;
	if (*end) {
		if (end[1])
			return -1;
		if (*end == 's')
			mul = 1000;
		else if (*end == 'm')
			mul = 60000;
		else if (*end == 'h')
			mul = 3600000;
		else
			return -1;
	}
	v *= mul;
	if (v < 1 || v > 30.0 * 86400 * 1000)
		return -1;
	*ms = (long long)v;
	return 0;
}

/* ---- finding the port ---------------------------------------------------------------------- */

/* Asks usblabd where NAME's tty is: copies the first /dev/tty* of its
 * devnodes into m->path ("" when it has none now) and its full name into
 * m->label. Returns 0, MONITOR_EXIT_NOT_RUNNING, or MONITOR_EXIT_FAILED
 * (unknown board, a broken daemon) with the reason printed when loud. */
static int daemon_lookup(struct monitor *m, bool loud)
{
	struct ctl c = {.fd = -1};
	char err[600];
	json_t *msg = NULL, *params = json_pack("{s:s}", "name", m->name);
	int rc = ctl_connect(&c, m->socket_path, err, sizeof(err));

	if (rc == CTL_E_NOT_RUNNING) {
		rc = MONITOR_EXIT_NOT_RUNNING;
		goto out;
	}
	if (rc != CTL_OK || ctl_send(&c, 1, "info", params, err, sizeof(err)) != CTL_OK ||
	    ctl_read(&c, MONITOR_INFO_TIMEOUT_MS, &msg, err, sizeof(err)) != CTL_OK) {
		if (loud)
			fprintf(stderr, "usblab: %s\n", err);
		rc = MONITOR_EXIT_FAILED;
		goto out;
	}
	json_t *e = json_object_get(msg, "error");

	if (e) {
		if (loud)
			fprintf(stderr, "usblab: %s\n",
			        json_string_value(json_object_get(e, "message"))
			                ? json_string_value(json_object_get(e, "message"))
			                : "usblabd refused");
		rc = MONITOR_EXIT_FAILED;
		goto out;
	}
	json_t *b = json_object_get(json_object_get(msg, "result"), "board"), *v;
	const char *name = json_string_value(json_object_get(b, "name"));
	size_t i;

	if (name)
		snprintf(m->label, sizeof(m->label), "%s", name);
	m->path[0] = 0;
	json_array_foreach(json_object_get(b, "devnodes"), i, v)
	{
		const char *s = json_string_value(v);

		if (s && strncmp(s, "/dev/tty", 8) == 0) {
			snprintf(m->path, sizeof(m->path), "%s", s);
			break;
		}
	}
	rc = 0;
out:
	json_decref(msg);
	json_decref(params);
	ctl_close(&c);
	return rc;
}

/* Subscribes to NAME's events (events.follow). Returns 0 or -1. */
static int stream_open(struct monitor *m)
{
	char err[600];
	json_t *msg = NULL, *params = json_pack("{s:s}", "device", m->label);
	int rc = -1;

	if (ctl_connect(&m->stream, m->socket_path, err, sizeof(err)) != CTL_OK ||
	    ctl_send(&m->stream, 1, "events.follow", params, err, sizeof(err)) != CTL_OK ||
	    ctl_read(&m->stream, MONITOR_INFO_TIMEOUT_MS, &msg, err, sizeof(err)) != CTL_OK ||
	    !json_object_get(msg, "result")) {
		ctl_close(&m->stream);
		m->stream.fd = -1;
		goto out;
	}
	rc = 0;
out:
	json_decref(msg);
	json_decref(params);
	return rc;
}

/* Watches the directories whose changes may bring the port back: the
 * path's directory, its parent (the link directory is removed on detach
 * and made again on attach), and /dev (a node appears, udev sets its
 * mode). Adding a watch twice is harmless: inotify returns the same one. */
static void watch_dirs(struct monitor *m)
{
	const uint32_t mask = IN_CREATE | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF | IN_ONLYDIR;
	char dir[PATH_MAX], *slash;

	inotify_add_watch(m->ino, "/dev", mask);
	if (m->src == SRC_DAEMON)
		return;
	snprintf(dir, sizeof(dir), "%s", m->path);
	for (int up = 0; up < 2; up++) {
		slash = strrchr(dir, '/');
		if (!slash)
			break;
		if (slash == dir) {
			inotify_add_watch(m->ino, "/", mask);
			break;
		}
		*slash = 0;
		inotify_add_watch(m->ino, dir, mask);
	}
}

/* ---- the port ------------------------------------------------------------------------------ */

enum open_result {
	OPEN_OK,
	OPEN_ABSENT, /* not there (yet): wait */
	OPEN_FATAL,  /* printed why */
};

/* Opens m->path raw at m->speed. The first time, a port that is there but
 * cannot be used is fatal; later (it came back) a refusal may be udev not
 * having set the node's mode yet: wait for its IN_ATTRIB. */
static enum open_result port_open(struct monitor *m)
{
	struct termios tio;
	int fd, e;

	if (!m->path[0])
		return OPEN_ABSENT;
	fd = open(m->path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		if (e == ENOENT || e == ENXIO || e == ENODEV || e == EIO || e == ENOTDIR ||
		    ((e == EACCES || e == EBUSY) && m->ever_connected))
			return OPEN_ABSENT;
		fprintf(stderr, "usblab: cannot open %s: %s%s\n", m->path, strerror(e),
		        e == EACCES  ? " (add yourself to the port's group, dialout; see `usblab "
		                       "service install`)"
		        : e == EBUSY ? " (another program holds it exclusively)"
		                     : "");
		return OPEN_FATAL;
	}
	/* No tcflush: what the board printed before we came is its output. */
	if (tcgetattr(fd, &tio) < 0) {
		e = errno;
		close(fd);
		if (e == EIO || e == ENODEV)
			return OPEN_ABSENT; /* it went again as we opened it */
		fprintf(stderr, "usblab: %s is not a serial port: %s\n", m->path, strerror(e));
		return OPEN_FATAL;
	}
	cfmakeraw(&tio);
	cfsetispeed(&tio, m->speed);
	cfsetospeed(&tio, m->speed);
	tio.c_cflag |= CLOCAL | CREAD;
	tio.c_cc[VMIN] = 1;
	tio.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSANOW, &tio) < 0) {
		e = errno;
		close(fd);
		if (e == EIO || e == ENODEV)
			return OPEN_ABSENT;
		fprintf(stderr, "usblab: cannot set up %s: %s\n", m->path, strerror(e));
		return OPEN_FATAL;
	}
	m->fd = fd;
	if (!realpath(m->path, m->opened))
		snprintf(m->opened, sizeof(m->opened), "%s", m->path);
	return OPEN_OK;
}

static void port_closed(struct monitor *m)
{
	close(m->fd);
	m->fd = -1;
	monitor_mark(m, "disconnected from %s%s%s%s", m->opened, *m->label ? " (" : "", m->label,
	             *m->label ? ")" : "");
	m->waiting_said = true;
}

/* Writes to the port; a port that went is closed (with its marker). */
static void port_write(struct monitor *m, const char *p, size_t n)
{
	while (m->fd >= 0 && n > 0) {
		ssize_t w = write(m->fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = m->fd, .events = POLLOUT};

			if (poll(&pfd, 1, 1000) <= 0)
				return; /* a stuck port: drop the keys rather than hang */
			continue;
		}
		if (w <= 0) {
			port_closed(m);
			return;
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Tries to (re)open the port; prints the marker. Returns false on a fatal
 * error (m->status set). */
static bool port_try(struct monitor *m)
{
	enum open_result r;

	if (m->fd >= 0)
		return true;
	if (m->src == SRC_DAEMON) {
		int rc = daemon_lookup(m, !m->ever_connected);

		if (rc == MONITOR_EXIT_FAILED && !m->ever_connected) {
			m->status = rc;
			m->done = true;
			return false;
		}
		if (m->stream.fd < 0 && rc == 0)
			stream_open(m);
	}
	r = port_open(m);
	if (r == OPEN_FATAL) {
		m->status = MONITOR_EXIT_FAILED;
		m->done = true;
		return false;
	}
	if (r == OPEN_ABSENT) {
		if (!m->waiting_said) {
			if (m->path[0])
				monitor_mark(m, "waiting for %s%s%s%s", m->path,
				             *m->label ? " (" : "", m->label, *m->label ? ")" : "");
			else
				monitor_mark(m, "waiting for %s's tty", m->label);
			m->waiting_said = true;
		}
		return true;
	}
	monitor_mark(m, "connected to %s%s%s%s", m->opened, *m->label ? " (" : "", m->label,
	             *m->label ? ")" : "");
	m->ever_connected = true;
	m->waiting_said = false;
	if (m->send && !m->sent) {
		m->sent = true;
		port_write(m, m->send, m->send_len);
	}
	return true;
}

/* Reads what the port has. On a hangup it reads on until the kernel says
 * end (EIO or 0), so that nothing buffered is left behind; a board that
 * never stops talking gets MONITOR_READS_PER_WAKE reads, then the other
 * fds (a signal, the timer) have their turn and poll brings us back. */
static void port_readable(struct monitor *m)
{
	char buf[4096];

	for (int reads = 0; reads < MONITOR_READS_PER_WAKE; reads++) {
		ssize_t n = read(m->fd, buf, sizeof(buf));

		if (n > 0) {
			monitor_data(m, buf, (size_t)n);
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		port_closed(m);
		return;
	}
}

/* ---- the keys ------------------------------------------------------------------------------ */

static void key_reset(struct monitor *m, bool bootloader)
{
	char err[600];

	if (m->fd < 0) {
		monitor_mark(m, "no port to reset: the board is gone");
		return;
	}
	monitor_mark(m, "reset into the %s (DTR/RTS)", bootloader ? "ROM bootloader" : "app");
	/* The same sequence as `usblab bootloader|boot` (esp32_probe.c), on
	 * the node we hold open: the lines are the port's, not the fd's. */
	if (esp32_reset_tty(m->opened, bootloader, err, sizeof(err)) < 0)
		monitor_mark(m, "reset failed: %s", err);
}

static void keys_help(struct monitor *m)
{
	monitor_mark(m, "keys: Ctrl-T r reset (app), Ctrl-T b bootloader, Ctrl-T c send Ctrl-C, "
	                "Ctrl-T Ctrl-T send Ctrl-T, Ctrl-T q quit");
}

static void stdin_readable(struct monitor *m)
{
	char buf[256], out[256];
	ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
	size_t k = 0;

	if (n <= 0) {
		if (n == 0 || (errno != EINTR && errno != EAGAIN))
			m->interactive = false; /* the terminal went: monitor on */
		return;
	}
	for (ssize_t i = 0; i < n; i++) {
		char ch = buf[i];

		if (!m->escape) {
			if (ch == MONITOR_ESCAPE)
				m->escape = true;
			else
				out[k++] = ch;
			continue;
		}
		m->escape = false;
		switch (ch) {
		case MONITOR_ESCAPE:
			out[k++] = ch;
			break;
		case 'c':
			out[k++] = 0x03;
			break;
		case 'r':
		case 'b':
			port_write(m, out, k);
			k = 0;
			key_reset(m, ch == 'b');
			break;
		case 'q':
			m->done = true;
			m->status = MONITOR_EXIT_OK;
			break;
		default:
			keys_help(m);
			break;
		}
	}
	port_write(m, out, k);
}

static void stdin_raw(struct monitor *m)
{
	struct termios t;

	pid_t fg;

	/* Not in a background job: one that sets its terminal's mode is
	 * stopped (SIGTTOU), and its keys are the shell's anyway. A terminal
	 * that is not our controlling one has no foreground for us (-1). */
	if (!isatty(STDIN_FILENO) || ((fg = tcgetpgrp(STDIN_FILENO)) >= 0 && fg != getpgrp()) ||
	    tcgetattr(STDIN_FILENO, &m->saved) < 0)
		return;
	t = m->saved;
	/* Keys go to the board as typed; ISIG stays, so Ctrl-C stops us. */
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO | ECHONL | IEXTEN);
	t.c_iflag &= ~(tcflag_t)(IXON | ICRNL | INLCR | IGNCR);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0)
		m->interactive = true;
}

/* ---- the loop ------------------------------------------------------------------------------ */

static void ino_readable(struct monitor *m)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	while (read(m->ino, buf, sizeof(buf)) > 0)
		;
	if (m->fd >= 0)
		return;
	watch_dirs(m); /* a directory that was made again */
	port_try(m);
}

static void stream_readable(struct monitor *m)
{
	char err[600];
	bool any = false;

	for (;;) {
		json_t *msg;
		int rc = ctl_read(&m->stream, 0, &msg, err, sizeof(err));

		if (rc == CTL_E_TIMEOUT)
			break;
		if (rc != CTL_OK) {
			ctl_close(&m->stream);
			m->stream.fd = -1;
			monitor_mark(m, "usblabd's event stream ended; following %s through /dev",
			             m->label);
			break;
		}
		any |= json_object_get(msg, "event") != NULL;
		json_decref(msg);
	}
	/* An event of the board: it departed, arrived, re-enumerated. While
	 * the port is open its own hangup says it went; once it is gone,
	 * `info` says where it came back. */
	if (any && m->fd < 0)
		port_try(m);
}

static int monitor_loop(struct monitor *m)
{
	while (!m->done) {
		struct pollfd p[6];
		int np = 0, ip = -1, ii = -1, is = -1, it = -1, ist = -1, in = -1;

		if (m->fd >= 0) {
			ip = np;
			p[np++] = (struct pollfd){.fd = m->fd, .events = POLLIN};
		}
		ii = np;
		p[np++] = (struct pollfd){.fd = m->ino, .events = POLLIN};
		is = np;
		p[np++] = (struct pollfd){.fd = m->sigfd, .events = POLLIN};
		if (m->timerfd >= 0) {
			it = np;
			p[np++] = (struct pollfd){.fd = m->timerfd, .events = POLLIN};
		}
		if (m->stream.fd >= 0) {
			ist = np;
			p[np++] = (struct pollfd){.fd = m->stream.fd, .events = POLLIN};
		}
		if (m->interactive) {
			in = np;
			p[np++] = (struct pollfd){.fd = STDIN_FILENO, .events = POLLIN};
		}
		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "usblab: poll: %s\n", strerror(errno));
			return MONITOR_EXIT_FAILED;
		}
		/* The port first: what it has is read before a signal or the
		 * timer ends the loop. */
		if (ip >= 0 && p[ip].revents)
			port_readable(m);
		if (is >= 0 && p[is].revents) {
			struct signalfd_siginfo si;

			if (read(m->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				monitor_mark(m, "stopped (%s)", strsignal((int)si.ssi_signo));
				m->done = true;
				m->status = MONITOR_EXIT_OK;
			}
		}
		if (it >= 0 && p[it].revents) {
			uint64_t ticks;

			if (read(m->timerfd, &ticks, sizeof(ticks)) == (ssize_t)sizeof(ticks)) {
				monitor_mark(m, "stopped (--timeout ran out)");
				m->done = true;
				m->status = MONITOR_EXIT_OK;
			}
		}
		if (m->done)
			break;
		if (in >= 0 && p[in].revents)
			stdin_readable(m);
		if (ist >= 0 && p[ist].revents && m->stream.fd >= 0)
			stream_readable(m);
		if (ii >= 0 && p[ii].revents)
			ino_readable(m);
		/* A port closed by a hangup may already be back (a link swapped
		 * before its old node hung up): look once, then sleep in poll. */
		if (ip >= 0 && m->fd < 0 && !m->done)
			port_try(m);
	}
	return m->status;
}

/* ---- main ---------------------------------------------------------------------------------- */

enum {
	OPT_TTY = 1000,
	OPT_BAUD,
	OPT_TIMESTAMPS,
	OPT_LOG,
	OPT_TIMEOUT,
	OPT_SEND,
	OPT_SOCKET,
	OPT_JSON,
};

static const struct option monitor_opts[] = {
        {"tty", required_argument, NULL, OPT_TTY},
        {"baud", required_argument, NULL, OPT_BAUD},
        {"timestamps", no_argument, NULL, OPT_TIMESTAMPS},
        {"log", required_argument, NULL, OPT_LOG},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"send", required_argument, NULL, OPT_SEND},
        {"socket", required_argument, NULL, OPT_SOCKET},
        {"json", no_argument, NULL, OPT_JSON},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
};

/* Chooses where the port comes from (see the top of the file). */
static int monitor_resolve(struct monitor *m, const char *tty)
{
	struct stat st;
	char link[PATH_MAX - 8];

	if (tty) {
		m->src = SRC_TTY;
		snprintf(m->path, sizeof(m->path), "%s", tty);
		snprintf(m->label, sizeof(m->label), "%s", m->name ? m->name : "");
		return 0;
	}
	snprintf(m->label, sizeof(m->label), "%s", m->name);
	if (strchr(m->name, '/') == NULL &&
	    (size_t)snprintf(link, sizeof(link), "%s/%s", attach_run_dir(), m->name) <
	            sizeof(link) &&
	    stat(link, &st) == 0 && S_ISDIR(st.st_mode)) {
		m->src = SRC_LINK;
		snprintf(m->path, sizeof(m->path), "%s/tty", link);
		return 0;
	}
	m->src = SRC_DAEMON;
	int rc = daemon_lookup(m, true);

	if (rc == MONITOR_EXIT_NOT_RUNNING) {
		fprintf(stderr,
		        "usblab: no board '%s' attached here (%s/%s/tty) and usblabd is not "
		        "running (nothing answers on %s)\n"
		        "usblab: attach it with `usblab attach HOST %s`, or give --tty PATH\n",
		        m->name, attach_run_dir(), m->name, m->socket_path, m->name);
		return rc;
	}
	if (rc != 0)
		return rc;
	if (stream_open(m) < 0)
		fprintf(stderr,
		        "usblab: cannot follow usblabd's events; following %s through "
		        "/dev only\n",
		        m->label);
	return 0;
}

int monitor_main(int argc, char **argv, const char *socket_path)
{
	struct monitor m;
	const char *tty = NULL, *log_path = NULL, *send_text = NULL;
	long long timeout_ms = 0;
	sigset_t sigs;
	int c, idx, rc;

	memset(&m, 0, sizeof(m));
	m.fd = m.ino = m.sigfd = m.timerfd = -1;
	m.stream.fd = -1;
	m.speed = B115200;
	m.out_bol = m.log_bol = true;
	m.socket_path = socket_path;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", monitor_opts, &idx)) != -1) {
		switch (c) {
		case OPT_TTY:
			tty = optarg;
			break;
		case OPT_BAUD:
			if (parse_baud(optarg, &m.speed) < 0)
				return usage("--baud: '%s' is not a line speed termios knows "
				             "(9600, 115200, 921600, ...)",
				             optarg);
			break;
		case OPT_TIMESTAMPS:
			m.timestamps = true;
			break;
		case OPT_LOG:
			log_path = optarg;
			break;
		case OPT_TIMEOUT:
			if (parse_timeout(optarg, &timeout_ms) < 0)
				return usage("--timeout: '%s' is not a time (30, 90s, 10m, 1h)",
				             optarg);
			break;
		case OPT_SEND:
			send_text = optarg;
			break;
		case OPT_SOCKET:
			m.socket_path = optarg;
			break;
		case OPT_JSON:
			return usage("monitor prints the board's bytes as they come; --json does "
			             "not apply");
		case 'h':
			fputs(monitor_help, stdout);
			return MONITOR_EXIT_OK;
		case ':':
			return usage("option '%s' needs a value", argv[optind - 1]);
		default:
			return usage("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		m.name = argv[optind++];
	if (optind < argc)
		return usage("unexpected argument '%s'", argv[optind]);
	if (!m.name && !tty)
		return usage("monitor needs a board NAME or --tty PATH");
	if (!tty && !m.socket_path)
		return usage("no runtime directory is known (set XDG_RUNTIME_DIR, or give "
		             "--socket PATH)");
	if (send_text) {
		size_t n = strlen(send_text), bad = 0;
		long len;

		/* The escapes of the virtual devices' scripts (sim_text.h). */
		m.send = malloc(n + 1);
		if (!m.send)
			return MONITOR_EXIT_FAILED;
		len = sim_text_unescape(send_text, n, (uint8_t *)m.send, &bad);
		if (len < 0) {
			free(m.send);
			return usage(
			        "--send: bad escape at '%.4s' (\\n \\r \\t \\b \\e \\\\ \\xHH)",
			        send_text + bad);
		}
		m.send_len = (size_t)len;
	}

	rc = MONITOR_EXIT_FAILED;
	if (log_path) {
		m.log = fopen(log_path, "ae");
		if (!m.log) {
			fprintf(stderr, "usblab: cannot write the log %s: %s\n", log_path,
			        strerror(errno));
			goto out;
		}
	}
	m.marks_on_stdout = isatty(STDOUT_FILENO);
	rc = monitor_resolve(&m, tty);
	if (rc != 0)
		goto out;
	rc = MONITOR_EXIT_FAILED;
	m.ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigprocmask(SIG_BLOCK, &sigs, NULL);
	m.sigfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC);
	if (m.ino < 0 || m.sigfd < 0) {
		fprintf(stderr, "usblab: inotify/signalfd: %s\n", strerror(errno));
		goto out;
	}
	if (timeout_ms > 0) {
		struct itimerspec its = {
		        .it_value = {timeout_ms / 1000, timeout_ms % 1000 * 1000000}};

		m.timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
		if (m.timerfd < 0 || timerfd_settime(m.timerfd, 0, &its, NULL) < 0) {
			fprintf(stderr, "usblab: timerfd: %s\n", strerror(errno));
			goto out;
		}
	}
	/* The watches go in before the first look, so that a port appearing
	 * between the two is not missed. */
	watch_dirs(&m);
	if (!port_try(&m)) {
		rc = m.status;
		goto out;
	}
	stdin_raw(&m);
	if (m.interactive)
		monitor_mark(&m, "Ctrl-T h: keys; Ctrl-C or Ctrl-T q: quit");
	rc = monitor_loop(&m);
out:
	if (m.interactive)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &m.saved);
	if (m.fd >= 0)
		close(m.fd);
	if (m.ino >= 0)
		close(m.ino);
	if (m.sigfd >= 0)
		close(m.sigfd);
	if (m.timerfd >= 0)
		close(m.timerfd);
	if (m.stream.fd >= 0)
		ctl_close(&m.stream);
	if (m.log)
		fclose(m.log);
	free(m.send);
	return rc;
}
