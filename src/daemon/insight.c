/* SPDX-License-Identifier: MIT */
/*
 * insight.c - the USB Insight Hub's displays (insight.h): what each channel
 * shows, computed from the tracker's boards, sent as JSON lines to the
 * hub's controller over a raw 115200 8N1 tty with DTR asserted.
 */
#include "insight.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "tracker.h"
#include "ul_log.h"

#define INSIGHT_CHANNELS  4    /* CH1..CH3 are ports, CH4 the controller */
#define INSIGHT_COLS      14   /* characters per line */
#define INSIGHT_PERIOD_MS 2000 /* keepalive and reopen period */
#define INSIGHT_QUEUE     8192 /* bytes waiting for the tty */

/* What one channel shows: three lines and their colour. */
struct insight_text {
	char line[3][4 * INSIGHT_COLS + 1];
	const char *color;
};

enum insight_link { LINK_UNKNOWN, LINK_UP, LINK_DOWN };

struct insight {
	struct event_base *base;
	struct tracker *tracker;
	char tty[PATH_MAX]; /* "" while auto-detection has not found the hub */
	char location[64];
	bool autodetect; /* find the hub by its product string, again after each loss */
	char sysfs[PATH_MAX], devdir[PATH_MAX];
	int fd;
	struct event *ev_read, *ev_write, *timer;
	char out[INSIGHT_QUEUE];
	size_t outlen;
	char in[512];
	size_t inlen;
	enum insight_link link;                      /* last state logged */
	struct insight_text shown[INSIGHT_CHANNELS]; /* last sent; cleared on reconnect */
	bool shown_valid;
	unsigned long dropped, bad_replies;
};

static void insight_event(void *arg, const struct ul_event *ev);
static const struct tracker_sub_ops insight_sub = {.event = insight_event};

/* ---- channels ------------------------------------------------------------------ */

int insight_channel(const char *location, const char *path)
{
	size_t n = strlen(location);
	int ch = 0;

	if (!path[0] || strncmp(path, location, n) != 0 || (path[n] != '.' && path[n] != '-'))
		return 0;
	for (const char *p = path + n + 1; *p >= '0' && *p <= '9'; p++) {
		ch = ch * 10 + (*p - '0');
		if (ch > 255)
			return 0;
	}
	return ch >= 1 && ch < INSIGHT_CHANNELS ? ch : 0;
}

/* Copies at most INSIGHT_COLS characters (not bytes) of src. */
static void copy_cols(char *dst, size_t cap, const char *src)
{
	size_t i = 0, cols = 0;

	while (src[i] && i + 1 < cap) {
		size_t len = 1;

		if (((unsigned char)src[i] & 0xc0) == 0xc0)
			while (((unsigned char)src[i + len] & 0xc0) == 0x80)
				len++;
		if (cols == INSIGHT_COLS || i + len >= cap)
			break;
		memcpy(dst + i, src + i, len);
		i += len;
		cols++;
	}
	dst[i] = 0;
}

static void board_text(const struct board *b, struct insight_text *t)
{
	const char *name = b->reg && b->reg->hub_name[0] ? b->reg->hub_name : b->name;
	const char *who = "";

	copy_cols(t->line[0], sizeof(t->line[0]), name);
	copy_cols(t->line[1], sizeof(t->line[1]), board_state_name(b->state));
	if (b->state == BOARD_IMPORTED)
		who = b->imported_by;
	else if (b->leased)
		who = b->lease.holder;
	copy_cols(t->line[2], sizeof(t->line[2]), who);
	if (b->state == BOARD_IMPORTED)
		t->color = "CYAN";
	else if (b->leased)
		t->color = "ORANGE";
	else if (b->state == BOARD_EXPORTED)
		t->color = "GREEN";
	else if (b->state == BOARD_ABSENT)
		t->color = "DARKGREY";
	else
		t->color = "WHITE";
}

/* What every channel shows now. A present board wins over an absent one
 * last seen on the same port. */
static void compute(struct insight *in, struct insight_text *texts)
{
	const struct board *pick[INSIGHT_CHANNELS] = {NULL};
	unsigned nboards = 0;

	for (const struct board *b = tracker_first(in->tracker); b; b = b->next) {
		const char *path = b->dev.port[0] ? b->dev.port : b->dev.busid;
		int ch = insight_channel(in->location, path);

		nboards++;
		if (ch &&
		    (!pick[ch] || (pick[ch]->state == BOARD_ABSENT && b->state != BOARD_ABSENT)))
			pick[ch] = b;
	}
	memset(texts, 0, sizeof(*texts) * INSIGHT_CHANNELS);
	for (int ch = 1; ch < INSIGHT_CHANNELS; ch++) {
		if (pick[ch]) {
			board_text(pick[ch], &texts[ch - 1]);
		} else {
			copy_cols(texts[ch - 1].line[0], sizeof(texts[ch - 1].line[0]), "(empty)");
			texts[ch - 1].color = "DARKGREY";
		}
	}
	copy_cols(texts[3].line[0], sizeof(texts[3].line[0]), "usblabd");
	copy_cols(texts[3].line[1], sizeof(texts[3].line[1]), "controller");
	snprintf(texts[3].line[2], sizeof(texts[3].line[2]), "%u board%s", nboards,
	         nboards == 1 ? "" : "s");
	texts[3].color = "WHITE";
}

/* ---- the tty ------------------------------------------------------------------- */

static void link_state(struct insight *in, enum insight_link link, const char *why)
{
	if (in->link == link)
		return;
	in->link = link;
	if (link == LINK_UP)
		ul_info("insight", "USB Insight Hub on %s, its ports at %s", in->tty, in->location);
	else if (in->autodetect && !in->tty[0])
		ul_info("insight",
		        "no USB Insight Hub (USB product \"%s\") found: looking every %d s",
		        INSIGHT_PRODUCT, INSIGHT_PERIOD_MS / 1000);
	else
		ul_warn("insight", "USB Insight Hub on %s unavailable (%s): %s every %d s", in->tty,
		        why, in->autodetect ? "looking for it again" : "retrying",
		        INSIGHT_PERIOD_MS / 1000);
}

static void tty_close(struct insight *in, const char *why)
{
	if (in->ev_read)
		event_free(in->ev_read);
	if (in->ev_write)
		event_free(in->ev_write);
	in->ev_read = in->ev_write = NULL;
	if (in->fd >= 0)
		close(in->fd);
	in->fd = -1;
	in->outlen = in->inlen = 0;
	in->shown_valid = false;
	memset(in->shown, 0, sizeof(in->shown));
	link_state(in, LINK_DOWN, why);
	/* It may come back on another tty (ttyACM0 -> ttyACM1) and another
	 * port: found afresh, nothing of this one kept. */
	if (in->autodetect)
		in->tty[0] = 0;
}

/* ---- auto-detection ------------------------------------------------------------ */

/* Reads sysfs attribute dir/name into buf, trailing newline cut. 0 or -1. */
static int read_attr(const char *dir, const char *name, char *buf, size_t len)
{
	char path[PATH_MAX];
	FILE *f;
	size_t n;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return -1;
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, len - 1, f);
	fclose(f);
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return 0;
}

/* The tty of USB device dir (busid): the first DEV:CONF.IF/tty/NAME entry
 * that cdc_acm made. 0 with *name set, or -1. */
static int find_tty(const char *dir, const char *busid, char *name, size_t len)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = strlen(busid);
	int rc = -1;

	if (!d)
		return -1;
	while (rc < 0 && (e = readdir(d))) {
		char sub[PATH_MAX];
		DIR *t;
		struct dirent *te;

		if (strncmp(e->d_name, busid, n) != 0 || e->d_name[n] != ':' ||
		    snprintf(sub, sizeof(sub), "%s/%s/tty", dir, e->d_name) >= (int)sizeof(sub))
			continue;
		t = opendir(sub);
		if (!t)
			continue;
		while ((te = readdir(t))) {
			if (te->d_name[0] != '.' && strlen(te->d_name) < len) {
				snprintf(name, len, "%s", te->d_name);
				rc = 0;
				break;
			}
		}
		closedir(t);
	}
	closedir(d);
	return rc;
}

/* A device imported through vhci-hcd on this machine: reading its string
 * attributes takes its device lock, which the kernel holds while it
 * enumerates the device, possibly waiting for this very process (a board
 * usblabd exports to a client on the same host). Never read those. */
static bool under_vhci(const char *dir)
{
	char real[PATH_MAX];

	return !realpath(dir, real) || strstr(real, "/vhci_hcd") != NULL;
}

int insight_find(const char *sysfs, const char *devdir, char *tty, size_t ttylen, char *location,
                 size_t loclen)
{
	char dir[PATH_MAX], busdir[PATH_MAX], product[128], name[64];
	DIR *d;
	struct dirent *e;
	int rc = -1;

	if (snprintf(busdir, sizeof(busdir), "%s/bus/usb/devices", sysfs) >= (int)sizeof(busdir))
		return -1;
	d = opendir(busdir);
	if (!d)
		return -1;
	while (rc != 0 && (e = readdir(d))) {
		const char *cut;

		/* Devices only: "1-4.4", not interfaces ("1-4.4:1.0") or root
		 * hubs ("usb1"). */
		if (e->d_name[0] < '0' || e->d_name[0] > '9' || strchr(e->d_name, ':') ||
		    snprintf(dir, sizeof(dir), "%s/%s", busdir, e->d_name) >= (int)sizeof(dir) ||
		    under_vhci(dir) || read_attr(dir, "product", product, sizeof(product)) < 0 ||
		    strcmp(product, INSIGHT_PRODUCT) != 0)
			continue;
		/* The controller is on the hub's port 4: the hub is its path
		 * without the last segment (20-3.3.4 -> 20-3.3). */
		cut = strrchr(e->d_name, '.');
		if (!cut)
			cut = strrchr(e->d_name, '-');
		if (!cut || (size_t)(cut - e->d_name) >= loclen)
			continue;
		rc = 1; /* found; its tty may not be bound yet */
		if (find_tty(dir, e->d_name, name, sizeof(name)) < 0 ||
		    snprintf(tty, ttylen, "%s/%s", devdir, name) >= (int)ttylen)
			continue;
		snprintf(location, loclen, "%.*s", (int)(cut - e->d_name), e->d_name);
		rc = 0;
	}
	closedir(d);
	return rc;
}

/* Auto mode without a hub: looks for it now. True when one was found. */
static bool detect(struct insight *in)
{
	char tty[PATH_MAX], location[sizeof(in->location)];

	if (insight_find(in->sysfs, in->devdir, tty, sizeof(tty), location, sizeof(location)) !=
	    0) {
		in->tty[0] = 0;
		return false;
	}
	snprintf(in->tty, sizeof(in->tty), "%s", tty);
	snprintf(in->location, sizeof(in->location), "%s", location);
	return true;
}

static void tty_flush(struct insight *in)
{
	while (in->outlen) {
		ssize_t n = write(in->fd, in->out, in->outlen);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			event_add(in->ev_write, NULL);
			return;
		}
		if (n <= 0) {
			tty_close(in, n < 0 ? strerror(errno) : "write returned 0");
			return;
		}
		memmove(in->out, in->out + n, in->outlen - (size_t)n);
		in->outlen -= (size_t)n;
	}
	event_del(in->ev_write);
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	tty_flush(arg);
}

static void reply_line(struct insight *in, const char *line)
{
	json_t *j = json_loads(line, 0, NULL);
	const char *status = j ? json_string_value(json_object_get(j, "status")) : NULL;

	if (!status || strcmp(status, "ok") != 0) {
		in->bad_replies++;
		ul_debug("insight", "reply %lu not ok: %s", in->bad_replies, line);
	}
	json_decref(j);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct insight *in = arg;
	char buf[256];
	ssize_t n;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n' || buf[i] == '\r') {
				in->in[in->inlen] = 0;
				if (in->inlen)
					reply_line(in, in->in);
				in->inlen = 0;
			} else if (in->inlen + 1 < sizeof(in->in)) {
				in->in[in->inlen++] = buf[i];
			}
		}
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
		tty_close(in, n == 0 ? "end of file" : strerror(errno));
}

static int tty_open(struct insight *in)
{
	struct termios tio;
	int fd, dtr = TIOCM_DTR;

	fd = open(in->tty, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		link_state(in, LINK_DOWN, strerror(errno));
		return -1;
	}
	if (tcgetattr(fd, &tio) < 0) {
		link_state(in, LINK_DOWN, strerror(errno));
		close(fd);
		return -1;
	}
	cfmakeraw(&tio);
	tio.c_cflag |= CLOCAL | CREAD;
	cfsetispeed(&tio, B115200);
	cfsetospeed(&tio, B115200);
	if (tcsetattr(fd, TCSANOW, &tio) < 0) {
		link_state(in, LINK_DOWN, strerror(errno));
		close(fd);
		return -1;
	}
	/* The controller listens once DTR is asserted; a pty has no modem
	 * lines, so a refusal is not an error. */
	(void)ioctl(fd, TIOCMBIS, &dtr);
	in->fd = fd;
	in->ev_read = event_new(in->base, fd, EV_READ | EV_PERSIST, on_readable, in);
	in->ev_write = event_new(in->base, fd, EV_WRITE, on_writable, in);
	if (!in->ev_read || !in->ev_write || event_add(in->ev_read, NULL) < 0) {
		tty_close(in, "out of memory");
		return -1;
	}
	link_state(in, LINK_UP, NULL);
	return 0;
}

/* ---- frames -------------------------------------------------------------------- */

static char *frame(int ch, const struct insight_text *t)
{
	json_t *lines = json_object(), *dev, *chan, *root;
	char chname[8];
	char *s;

	for (int i = 0; i < 3; i++) {
		char key[4];

		snprintf(key, sizeof(key), "T%d", i + 1);
		json_object_set_new(lines, key,
		                    json_pack("{s:s, s:s}", "txt", t->line[i], "color", t->color));
	}
	dev = json_pack("{s:o, s:s, s:s}", "Dev1_name", lines, "numDev", "10", "usbType", "2");
	snprintf(chname, sizeof(chname), "CH%d", ch);
	chan = json_object();
	json_object_set_new(chan, chname, dev);
	root = json_pack("{s:s, s:o}", "action", "set", "params", chan);
	s = root ? json_dumps(root, JSON_COMPACT) : NULL;
	json_decref(root);
	return s;
}

static void push(struct insight *in)
{
	struct insight_text texts[INSIGHT_CHANNELS];

	if (in->fd < 0)
		return;
	compute(in, texts);
	for (int ch = 0; ch < INSIGHT_CHANNELS; ch++) {
		char *s = frame(ch + 1, &texts[ch]);
		size_t len = s ? strlen(s) : 0;

		if (!s || in->outlen + len + 1 > sizeof(in->out)) {
			if (++in->dropped == 1 || in->dropped % 100 == 0)
				ul_warn("insight",
				        "%s: %lu frame(s) dropped (the hub is not reading)",
				        in->tty, in->dropped);
			free(s);
			continue;
		}
		memcpy(in->out + in->outlen, s, len);
		in->out[in->outlen + len] = '\n';
		in->outlen += len + 1;
		free(s);
	}
	memcpy(in->shown, texts, sizeof(texts));
	in->shown_valid = true;
	tty_flush(in);
}

/* Auto mode: when no hub is open, finds one and opens it. */
static void reconnect(struct insight *in)
{
	if (in->fd >= 0)
		return;
	/* Found afresh each time: it may have moved since it was last seen. */
	if (in->autodetect && !detect(in)) {
		link_state(in, LINK_DOWN, "not found");
		return;
	}
	tty_open(in);
}

static void insight_event(void *arg, const struct ul_event *ev)
{
	struct insight *in = arg;

	/* A device arrived: perhaps the hub, back on another tty. */
	if (in->fd < 0 && (ev->kind == UL_EV_ARRIVED || ev->kind == UL_EV_REENUMERATED))
		reconnect(in);
	push(in);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct insight *in = arg;

	(void)fd;
	(void)what;
	reconnect(in);
	push(in);
}

/* ---- start and stop ------------------------------------------------------------ */

int insight_start(struct insight **out, struct event_base *base, struct tracker *tracker,
                  const char *tty, const char *location, char *err, size_t errlen)
{
	struct insight *in = calloc(1, sizeof(*in));
	struct timeval tv = {INSIGHT_PERIOD_MS / 1000, (INSIGHT_PERIOD_MS % 1000) * 1000};

	const char *sysfs = getenv("USBLAB_SYSFS"), *devdir = getenv("USBLAB_DEVDIR");

	*out = NULL;
	if (!tty || !tty[0]) {
		snprintf(err, errlen, "no tty for the USB Insight Hub (a path, or auto)");
		free(in);
		return -1;
	}
	if (!in) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	in->base = base;
	in->tracker = tracker;
	in->fd = -1;
	in->autodetect = strcmp(tty, INSIGHT_AUTO) == 0;
	if (in->autodetect && location && location[0]) {
		snprintf(err, errlen,
		         "--insight-hub auto finds the hub's location itself: give no @%s",
		         location);
		free(in);
		return -1;
	}
	/* Tests point these at a made-up tree. */
	snprintf(in->sysfs, sizeof(in->sysfs), "%s", sysfs && sysfs[0] ? sysfs : "/sys");
	snprintf(in->devdir, sizeof(in->devdir), "%s", devdir && devdir[0] ? devdir : "/dev");
	if (!in->autodetect)
		snprintf(in->tty, sizeof(in->tty), "%s", tty);
	snprintf(in->location, sizeof(in->location), "%s",
	         location && location[0] ? location : "0");
	in->timer = event_new(base, -1, EV_PERSIST, on_timer, in);
	if (!in->timer || event_add(in->timer, &tv) < 0 ||
	    tracker_subscribe(tracker, &insight_sub, in, false) < 0) {
		snprintf(err, errlen, "out of memory");
		if (in->timer)
			event_free(in->timer);
		free(in);
		return -1;
	}
	reconnect(in);
	push(in);
	*out = in;
	return 0;
}

void insight_stop(struct insight *in)
{
	if (!in)
		return;
	tracker_unsubscribe(in->tracker, &insight_sub, in);
	event_free(in->timer);
	in->link = LINK_DOWN; /* nothing to say when stopping */
	if (in->fd >= 0)
		tty_close(in, "stopped");
	free(in);
}
