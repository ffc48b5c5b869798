/* SPDX-License-Identifier: MIT */
/*
 * registry.c - devices.conf (the format is in registry.h).
 *
 * inih splits KEY = VALUE lines; everything it cannot be told is done by
 * our line reader, which inih calls once per line: it counts lines (inih's
 * handler is built without line numbers), strips comments and indentation
 * (so an indented key is never taken for inih's multi-line continuation),
 * checks the line's shape, and reads section headers itself, so a section
 * with no keys is seen too. The first error stops the parse.
 */
#include "registry.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <ini.h>

/* devices.conf is a hand-written list of boards; anything bigger is not one. */
#define REG_MAX_FILE (1024 * 1024)

enum key {
	K_SERIAL,
	K_VIDPID,
	K_PORT,
	K_MAC,
	K_TYPE,
	K_CHIP,
	K_NOTES,
	K_EXPORT,
	K_HUB_NAME,
	K__COUNT,
	K_IDENT_COUNT = K_TYPE, /* keys below this one are identity keys */
};

static const char *const key_names[K__COUNT] = {
        "serial", "vidpid", "port", "mac", "type", "chip", "notes", "export", "hub_name",
};

#define BOARD_KEYS "serial, vidpid, port, mac, type, chip, notes, export or hub_name"
#define IDENT_KEYS "serial, vidpid, port or mac"

enum section {
	SEC_FLAT,  /* before any [section]: NAME = SERIAL */
	SEC_BOARD, /* [NAME] */
	SEC_IDENT, /* [NAME:MODE] */
};

struct parse {
	struct registry *reg;
	size_t cap; /* boards allocated */
	const char *label;
	char *err;
	size_t errlen;
	bool failed;

	/* the reader */
	const char *text;
	size_t len, pos;
	unsigned line;

	/* the section being read */
	enum section sec;
	size_t board; /* index in reg->boards */
	unsigned id;  /* index in its ids[] */
	unsigned sec_line;
	char sec_text[132]; /* "[NAME]" or "[NAME:MODE]" as written, for messages */
	unsigned key_line[K__COUNT];
};

/* Records the first error as "LABEL:LINE: message"; returns -1. */
__attribute__((format(printf, 3, 4))) static int fail(struct parse *st, unsigned line,
                                                      const char *fmt, ...)
{
	if (st->failed)
		return -1;
	st->failed = true;
	if (!st->err || st->errlen == 0)
		return -1;
	int w = snprintf(st->err, st->errlen, "%s:%u: ", st->label, line);
	if (w < 0 || (size_t)w >= st->errlen)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err + w, st->errlen - (size_t)w, fmt, ap);
	va_end(ap);
	return -1;
}

const char *reg_mode_name(enum reg_mode m)
{
	switch (m) {
	case REG_MODE_APP:
		return "app";
	case REG_MODE_ROM:
		return "rom";
	case REG_MODE_DFU:
		return "dfu";
	}
	return "?";
}

/* ---- values ---------------------------------------------------------------- */

/* A board name or a type word: [A-Za-z0-9._+-]{1,max}. */
static bool is_word(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n < 1 || n > max)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._+-", *s))
			return false;
	return true;
}

static bool check_name(struct parse *st, const char *name)
{
	if (is_word(name, sizeof(st->reg->boards[0].name) - 1))
		return true;
	fail(st, st->line, "bad board name '%s': want 1 to 63 characters of A-Z a-z 0-9 . _ + -",
	     name);
	return false;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* 1 to 4 hex digits ending at stop; advances *p past them. */
static bool parse_hex16(const char **p, char stop, uint16_t *out)
{
	unsigned v = 0;
	int n = 0;
	for (; **p && **p != stop; (*p)++, n++) {
		int h = hexval(**p);
		if (h < 0 || n == 4)
			return false;
		v = v << 4 | (unsigned)h;
	}
	*out = (uint16_t)v;
	return n > 0;
}

static bool parse_vidpid(const char *s, uint16_t *vid, uint16_t *pid)
{
	return parse_hex16(&s, ':', vid) && *s++ == ':' && parse_hex16(&s, '\0', pid);
}

/* BUS-PORT[.PORT...] with every number 1..255, rewritten without leading
 * zeros so it compares equal to the kernel's spelling. */
static bool parse_port(const char *s, char *out, size_t cap)
{
	size_t len = 0;
	int fields = 0;
	for (;;) {
		unsigned v = 0;
		int digits = 0;
		for (; *s >= '0' && *s <= '9'; s++, digits++) {
			v = v * 10 + (unsigned)(*s - '0');
			if (v > 255)
				return false;
		}
		if (digits == 0 || v == 0)
			return false;
		char sep = *s;
		if (fields == 0 ? sep != '-' : sep != '.' && sep != '\0')
			return false;
		int w = snprintf(out + len, cap - len, "%u", v);
		if (w < 0 || (size_t)w + (sep ? 1 : 0) >= cap - len)
			return false;
		len += (size_t)w;
		if (sep)
			out[len++] = sep;
		out[len] = '\0';
		fields++;
		if (!*s++)
			return true;
	}
}

/* Six hex bytes separated by all ':', all '-' or nothing; out gets
 * "aa:bb:cc:dd:ee:ff". */
static bool parse_mac(const char *s, char out[18])
{
	size_t n = strlen(s);
	char sep = n == 17 ? s[2] : '\0';
	if (!(n == 12 || (n == 17 && (sep == ':' || sep == '-'))))
		return false;
	for (int i = 0; i < 6; i++) {
		const char *b = s + i * (sep ? 3 : 2);
		if (hexval(b[0]) < 0 || hexval(b[1]) < 0)
			return false;
		if (sep && i < 5 && b[2] != sep)
			return false;
		out[i * 3] = (char)tolower((unsigned char)b[0]);
		out[i * 3 + 1] = (char)tolower((unsigned char)b[1]);
		out[i * 3 + 2] = i < 5 ? ':' : '\0';
	}
	return true;
}

/* ---- sections --------------------------------------------------------------- */

static struct reg_board *cur_board(struct parse *st)
{
	return &st->reg->boards[st->board];
}

static bool ident_empty(const struct reg_ident *id)
{
	return !id->has_vidpid && !id->serial[0] && !id->port[0] && !id->mac[0];
}

/* The board named name, compared without case: names are typed that way,
 * so two that differ only in case could never be told apart. */
static struct reg_board *find_nocase(struct parse *st, const char *name)
{
	for (size_t i = 0; i < st->reg->n; i++)
		if (strcasecmp(st->reg->boards[i].name, name) == 0)
			return &st->reg->boards[i];
	return NULL;
}

static struct reg_board *new_board(struct parse *st, const char *name)
{
	struct reg_board *dup = find_nocase(st, name);
	if (dup) {
		if (strcmp(dup->name, name) == 0)
			fail(st, st->line, "duplicate board '%s' (first defined on line %u)", name,
			     dup->line);
		else
			fail(st, st->line,
			     "board '%s' differs from '%s' (line %u) only in case: names are "
			     "matched without case, give it another name",
			     name, dup->name, dup->line);
		return NULL;
	}
	struct registry *r = st->reg;
	if (r->n == st->cap) {
		size_t cap = st->cap ? st->cap * 2 : 16;
		struct reg_board *b = realloc(r->boards, cap * sizeof(*b));
		if (!b) {
			fail(st, st->line, "out of memory");
			return NULL;
		}
		r->boards = b;
		st->cap = cap;
	}
	struct reg_board *b = &r->boards[r->n];
	memset(b, 0, sizeof(*b));
	UL_COPY(b->name, name);
	b->export_ = true;
	b->nids = 1;
	b->ids[0].mode = REG_MODE_APP;
	b->line = st->line;
	st->board = r->n++;
	st->id = 0;
	return b;
}

/* The section just read must have given its identity a field. */
static void section_end(struct parse *st)
{
	if (st->failed || st->sec == SEC_FLAT)
		return;
	if (ident_empty(&cur_board(st)->ids[st->id]))
		fail(st, st->sec_line, "%s has no identity: give at least one of " IDENT_KEYS,
		     st->sec_text);
}

/* "[NAME]" or "[NAME:MODE]"; inner is what is between the brackets. */
static int section_begin(struct parse *st, char *inner)
{
	section_end(st);
	if (st->failed)
		return -1;
	snprintf(st->sec_text, sizeof(st->sec_text), "[%s]", inner);
	st->sec_line = st->line;
	memset(st->key_line, 0, sizeof(st->key_line));

	char *mode = strchr(inner, ':');
	if (mode)
		*mode++ = '\0';
	if (!check_name(st, inner))
		return -1;
	if (!mode) {
		if (!new_board(st, inner))
			return -1;
		st->sec = SEC_BOARD;
		return 0;
	}
	enum reg_mode m;
	if (strcmp(mode, "app") == 0)
		m = REG_MODE_APP;
	else if (strcmp(mode, "rom") == 0)
		m = REG_MODE_ROM;
	else if (strcmp(mode, "dfu") == 0)
		m = REG_MODE_DFU;
	else
		return fail(st, st->line, "unknown mode '%s' in %s: want app, rom or dfu", mode,
		            st->sec_text);
	struct reg_board *b = (struct reg_board *)registry_find(st->reg, inner);
	if (!b)
		return fail(st, st->line,
		            "%s is an identity of an unknown board: define [%s] above it",
		            st->sec_text, inner);
	if (b->nids == REG_MAX_IDENTS)
		return fail(st, st->line,
		            "board '%s' has too many identities: at most %d, counting [%s] itself",
		            inner, REG_MAX_IDENTS, inner);
	st->board = (size_t)(b - st->reg->boards);
	st->id = b->nids++;
	b->ids[st->id].mode = m;
	st->sec = SEC_IDENT;
	return 0;
}

/* ---- keys ----------------------------------------------------------------------- */

/* Free text into a fixed field; too long is an error, not a truncation. */
static int copy_checked(struct parse *st, char *dst, size_t cap, const char *key, const char *v)
{
	size_t n = strlen(v);
	if (n >= cap)
		return fail(st, st->line, "%s is longer than %zu characters", key, cap - 1);
	memcpy(dst, v, n + 1);
	return 0;
}

static int set_serial(struct parse *st, struct reg_ident *id, const char *v)
{
	if (!*v)
		return fail(st, st->line, "serial is empty: want the device's serial number");
	return copy_checked(st, id->serial, sizeof(id->serial), "serial", v);
}

static int set_key(struct parse *st, enum key k, const char *v)
{
	struct reg_board *b = cur_board(st);
	struct reg_ident *id = &b->ids[st->id];
	switch (k) {
	case K_SERIAL:
		return set_serial(st, id, v);
	case K_VIDPID:
		if (!parse_vidpid(v, &id->vid, &id->pid))
			return fail(st, st->line,
			            "bad vidpid '%s': want VID:PID in hex, e.g. 303a:1001", v);
		id->has_vidpid = true;
		return 0;
	case K_PORT:
		if (!parse_port(v, id->port, sizeof(id->port)))
			return fail(st, st->line,
			            "bad port '%s': want a USB port path BUS-PORT[.PORT...] "
			            "(numbers 1 to 255, at most %zu characters), e.g. 1-4.2",
			            v, sizeof(id->port) - 1);
		return 0;
	case K_MAC:
		if (!parse_mac(v, id->mac))
			return fail(st, st->line,
			            "bad mac '%s': want six hex bytes, e.g. 3c:61:05:aa:bb:cc "
			            "(':' or '-' between them, or nothing)",
			            v);
		return 0;
	case K_TYPE:
		if (*v && !is_word(v, sizeof(b->type) - 1))
			return fail(
			        st, st->line,
			        "bad type '%s': want one word of at most %zu characters of A-Z a-z "
			        "0-9 . _ + -, e.g. esp32",
			        v, sizeof(b->type) - 1);
		UL_COPY(b->type, v);
		return 0;
	case K_CHIP:
		return copy_checked(st, b->chip, sizeof(b->chip), "chip", v);
	case K_NOTES:
		return copy_checked(st, b->notes, sizeof(b->notes), "notes", v);
	case K_HUB_NAME:
		return copy_checked(st, b->hub_name, sizeof(b->hub_name), "hub_name", v);
	case K_EXPORT:
		if (strcasecmp(v, "yes") == 0)
			b->export_ = true;
		else if (strcasecmp(v, "no") == 0)
			b->export_ = false;
		else
			return fail(st, st->line, "export must be yes or no, not '%s'", v);
		return 0;
	case K__COUNT:
		break;
	}
	return 0;
}

static int lookup_key(const char *name)
{
	for (int k = 0; k < K__COUNT; k++)
		if (strcmp(key_names[k], name) == 0)
			return k;
	return -1;
}

/* NAME = SERIAL before any section. */
static int flat_pair(struct parse *st, const char *name, const char *value)
{
	if (lookup_key(name) >= 0)
		return fail(st, st->line,
		            "'%s' comes before any [NAME] section: put it under the board's [NAME] "
		            "(only NAME = SERIAL lines may come first)",
		            name);
	if (!check_name(st, name) || !new_board(st, name))
		return -1;
	return set_serial(st, &cur_board(st)->ids[0], value);
}

static int section_pair(struct parse *st, const char *name, const char *value)
{
	int k = lookup_key(name);
	if (st->sec == SEC_IDENT && k >= K_IDENT_COUNT)
		return fail(st, st->line,
		            "'%s' belongs in [%s]: %s takes only identity keys: " IDENT_KEYS, name,
		            cur_board(st)->name, st->sec_text);
	if (k < 0)
		return fail(st, st->line, "unknown key '%s' in %s: want %s", name, st->sec_text,
		            st->sec == SEC_IDENT ? IDENT_KEYS : BOARD_KEYS);
	if (st->key_line[k])
		return fail(st, st->line, "%s is set twice in %s (first on line %u)", name,
		            st->sec_text, st->key_line[k]);
	st->key_line[k] = st->line;
	return set_key(st, (enum key)k, value);
}

static int on_pair(void *user, const char *section, const char *name, const char *value)
{
	struct parse *st = user;
	(void)section; /* ours, read by the line reader */
	if (st->failed)
		return 0;
	/* An inih built with INI_CALL_HANDLER_ON_NEW_SECTION calls with no
	 * name at a section (Debian's does not); the reader has seen it. */
	if (!name)
		return 1;
	if (!value)
		value = "";
	int rc = st->sec == SEC_FLAT ? flat_pair(st, name, value) : section_pair(st, name, value);
	return rc == 0;
}

/* ---- the line reader ---------------------------------------------------------- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

/* inih's fgets: hands it the next line, cleaned, or NULL at the end or
 * after the first error. */
static char *read_line(char *buf, int num, void *user)
{
	struct parse *st = user;
	if (st->failed || st->pos >= st->len)
		return NULL;
	const char *s = st->text + st->pos;
	const char *nl = memchr(s, '\n', st->len - st->pos);
	const char *e = nl ? nl : st->text + st->len;
	st->pos = (size_t)(e - st->text) + (nl ? 1 : 0);
	st->line++;

	if (memchr(s, '\0', (size_t)(e - s))) {
		fail(st, st->line, "a NUL byte: devices.conf is text");
		return NULL;
	}
	if (st->line == 1 && e - s >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3; /* a UTF-8 byte order mark */
	while (s < e && is_blank(*s))
		s++;
	/* A comment is a whole line starting with # or ;, or the rest of a
	 * line from a # or ; that follows a blank. */
	if (s < e && (*s == '#' || *s == ';'))
		e = s;
	for (const char *c = s; c < e; c++)
		if ((*c == '#' || *c == ';') && c > s && is_blank(c[-1]))
			e = c;
	while (e > s && is_blank(e[-1]))
		e--;
	size_t n = (size_t)(e - s);

	if (n > 0 && *s == '[') {
		if (e[-1] != ']' || n < 2) {
			fail(st, st->line, "want [NAME] or [NAME:MODE] alone on the line");
			return NULL;
		}
		char inner[128];
		if (n - 2 >= sizeof(inner)) {
			fail(st, st->line, "bad section %.*s: want [NAME] or [NAME:MODE]", (int)n,
			     s);
			return NULL;
		}
		memcpy(inner, s + 1, n - 2);
		inner[n - 2] = '\0';
		section_begin(st, inner);
		n = 0; /* inih sees a blank line: the sections are ours */
	} else if (n > 0) {
		/* inih also splits at ':', which is no separator here. */
		const char *eq = memchr(s, '=', n);
		const char *colon = memchr(s, ':', n);
		if (!eq || eq == s || (colon && colon < eq)) {
			fail(st, st->line, "want KEY = VALUE, [NAME] or a comment");
			return NULL;
		}
		/* inih's line buffer is fixed when it is built: room for the
		 * line, a "\r\n" and the terminating NUL. */
		if (n + 3 > (size_t)num) {
			fail(st, st->line, "line too long: at most %d characters, without comments",
			     num - 3);
			return NULL;
		}
	}
	if (st->failed)
		return NULL;
	memcpy(buf, s, n);
	buf[n] = '\n';
	buf[n + 1] = '\0';
	return buf;
}

/* ---- the registry ---------------------------------------------------------------- */

static int parse_text(const char *text, size_t len, const char *label, struct registry *out,
                      char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	UL_COPY(out->path, label ? label : "");
	if (err && errlen)
		err[0] = '\0';
	struct parse st = {
	        .reg = out,
	        .label = out->path,
	        .err = err,
	        .errlen = errlen,
	        .text = text,
	        .len = len,
	        .sec = SEC_FLAT,
	};
	int rc = ini_parse_stream(read_line, &st, on_pair, &st);
	section_end(&st);
	if (!st.failed && rc != 0) /* inih found something our reader let through */
		fail(&st, rc > 0 ? (unsigned)rc : st.line, "want KEY = VALUE, [NAME] or a comment");
	if (st.failed) {
		free(out->boards);
		out->boards = NULL;
		out->n = 0;
		return -1;
	}
	return 0;
}

int registry_parse_string(const char *text, const char *label, struct registry *out, char *err,
                          size_t errlen)
{
	return parse_text(text ? text : "", text ? strlen(text) : 0, label, out, err, errlen);
}

/* Reads all of f into a malloc'd *text (not NUL-terminated). Returns 0,
 * an errno value, or EFBIG past REG_MAX_FILE. */
static int read_all(FILE *f, char **text, size_t *len)
{
	size_t cap = 4096, n = 0;
	char *buf = NULL;
	for (;;) {
		char *nb = realloc(buf, cap);
		if (!nb) {
			free(buf);
			return ENOMEM;
		}
		buf = nb;
		n += fread(buf + n, 1, cap - n, f);
		if (ferror(f)) {
			int e = errno ? errno : EIO;
			free(buf);
			return e;
		}
		if (n > REG_MAX_FILE) {
			free(buf);
			return EFBIG;
		}
		if (n < cap)
			break;
		cap *= 2;
	}
	*text = buf;
	*len = n;
	return 0;
}

int registry_load_file(const char *path, struct registry *out, char *err, size_t errlen)
{
	memset(out, 0, sizeof(*out));
	UL_COPY(out->path, path);
	if (err && errlen)
		err[0] = '\0';
	FILE *f = fopen(path, "rb");
	if (!f && errno == ENOENT)
		return 0; /* no devices.conf: a bench with no names yet */
	int e = f ? 0 : errno;
	struct stat sb;
	if (!e && fstat(fileno(f), &sb) != 0)
		e = errno;
	if (!e && S_ISDIR(sb.st_mode))
		e = EISDIR;
	char *text = NULL;
	size_t len = 0;
	if (!e)
		e = read_all(f, &text, &len);
	if (f)
		fclose(f);
	if (e == EFBIG) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than %d bytes: not a devices.conf", path,
			         REG_MAX_FILE);
		return -1;
	}
	if (e) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read it: %s", path, strerror(e));
		return -1;
	}
	int rc = parse_text(text, len, path, out, err, errlen);
	free(text);
	return rc;
}

void registry_free(struct registry *r)
{
	if (!r)
		return;
	free(r->boards);
	r->boards = NULL;
	r->n = 0;
}

const struct reg_board *registry_find(const struct registry *r, const char *name)
{
	if (!r || !name)
		return NULL;
	for (size_t i = 0; i < r->n; i++)
		if (strcmp(r->boards[i].name, name) == 0)
			return &r->boards[i];
	return NULL;
}

/* How many fields id sets if every one matches dev, else -1. */
static int ident_score(const struct reg_ident *id, const struct ul_devfacts *dev)
{
	int score = 0;
	if (id->serial[0]) {
		if (strcmp(id->serial, dev->serial) != 0)
			return -1;
		score++;
	}
	if (id->has_vidpid) {
		if (id->vid != dev->vid || id->pid != dev->pid)
			return -1;
		score++;
	}
	if (id->port[0]) {
		if (strcmp(id->port, dev->port) != 0)
			return -1;
		score++;
	}
	if (id->mac[0]) {
		/* ours is normalised; the device's may come in capitals */
		if (strcasecmp(id->mac, dev->mac) != 0)
			return -1;
		score++;
	}
	return score > 0 ? score : -1;
}

const struct reg_board *registry_match(const struct registry *r, const struct ul_devfacts *dev,
                                       enum reg_mode *mode)
{
	if (!r || !dev)
		return NULL;
	const struct reg_board *best = NULL;
	enum reg_mode best_mode = REG_MODE_APP;
	int best_score = 0;
	for (size_t i = 0; i < r->n; i++) {
		const struct reg_board *b = &r->boards[i];
		for (unsigned k = 0; k < b->nids && k < REG_MAX_IDENTS; k++) {
			int s = ident_score(&b->ids[k], dev);
			/* strictly greater: on a tie the earlier one stays */
			if (s > best_score) {
				best = b;
				best_mode = b->ids[k].mode;
				best_score = s;
			}
		}
	}
	if (best && mode)
		*mode = best_mode;
	return best;
}
