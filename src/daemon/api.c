/* SPDX-License-Identifier: MIT */
/*
 * api.c - the control API's handlers (api.h, docs/control-api.md): queries
 * over the tracker, the lease verbs (replied once their event is durable),
 * history from the store, registry reloads, waiting checkouts and live
 * event streams.
 *
 * A request that cannot be answered at once becomes a `struct api_pending`:
 * a checkout waiting for a board (a timer for its timeout), or a reply
 * waiting for the store (a commit, a query). When its client goes, a
 * waiting checkout ends at once; a reply waiting for the store stays until
 * the store's callback, which then frees it without sending.
 */
#include "api.h"

#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_call.h"
#include "api_client.h"
#include "names.h"

#define API_MAX_LINE_NAMES   16
#define API_DEFAULT_DURATION 3600
#define API_MAX_DURATION     (30 * 24 * 3600)
#define API_DEFAULT_LIMIT    100
#define API_MAX_LIMIT        10000
#define API_INFO_EVENTS      20
#define API_HOLDER_TAG_MAX   31

enum api_pending_kind {
	API_PENDING_WAIT,   /* a checkout waiting for its board */
	API_PENDING_COMMIT, /* a lease verb waiting for its event to be durable */
	API_PENDING_QUERY,  /* a history query running on the store's worker */
	API_PENDING_REPLY,  /* a handler in another file replies later (api_call.h) */
};

struct api_pending {
	struct api *api;
	enum api_pending_kind kind;
	void *client; /* NULL once the client is gone */
	const struct api_client_ops *ops;
	json_t *id;
	json_t *result; /* COMMIT: the reply to send once durable; QUERY (info): the board */

	/* WAIT */
	bool any;
	bool due; /* an event concerned it since the last try */
	char target[256];
	char holder[96], reason[128], addr[64];
	int64_t duration_ms;
	struct event *timer;

	struct api_pending *next;
};

struct api_follower {
	void *client;
	const struct api_client_ops *ops;
	char board[64]; /* "" any */
	int kind;       /* -1 any */
	struct api_follower *next;
};

struct api {
	struct api_env env;
	struct api_pending *pending; /* in arrival order */
	struct api_follower *followers;
	struct event *retry; /* runs due waits after the event that woke them */
};

/* ---- replies --------------------------------------------------------------- */

static void send_result(const struct api_client_ops *ops, void *client, json_t *id, json_t *result)
{
	json_t *msg = json_object();

	json_object_set(msg, "id", id ? id : json_null());
	json_object_set_new(msg, "result", result ? result : json_null());
	ops->send(client, msg);
}

/* Sends {"id":…, "error":{"code":…, "message":…, + extra's fields}};
 * steals extra (may be NULL). */
static void send_error(const struct api_client_ops *ops, void *client, json_t *id, const char *code,
                       const char *message, json_t *extra)
{
	json_t *msg = json_object(), *e = extra ? extra : json_object();

	json_object_set_new(e, "code", json_string(code));
	json_object_set_new(e, "message", json_string(message));
	json_object_set(msg, "id", id ? id : json_null());
	json_object_set_new(msg, "error", e);
	ops->send(client, msg);
}

static void send_errorf(const struct api_client_ops *ops, void *client, json_t *id,
                        const char *code, json_t *extra, const char *fmt, ...)
        __attribute__((format(printf, 6, 7)));

static void send_errorf(const struct api_client_ops *ops, void *client, json_t *id,
                        const char *code, json_t *extra, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_error(ops, client, id, code, msg, extra);
}

/* ---- JSON of the tracker's values ------------------------------------------ */

static json_t *time_json(int64_t ms)
{
	char buf[32];

	if (ms <= 0)
		return json_null();
	ul_event_format_time(ms, buf, sizeof(buf));
	return json_string(buf);
}

static json_t *hex4_json(uint16_t v)
{
	char buf[8];

	snprintf(buf, sizeof(buf), "%04x", v);
	return json_string(buf);
}

static json_t *devnodes_json(const char *nodes)
{
	json_t *a = json_array();
	const char *p = nodes;

	while (*p) {
		size_t n;

		p += strspn(p, " ");
		n = strcspn(p, " ");
		if (n)
			json_array_append_new(a, json_stringn(p, n));
		p += n;
	}
	return a;
}

static json_t *lease_json(const struct ul_lease *l, int64_t now_ms)
{
	json_t *o = json_object();

	json_object_set_new(o, "holder", json_string(l->holder));
	json_object_set_new(o, "reason", json_string(l->reason));
	json_object_set_new(o, "since", time_json(l->since_ms));
	json_object_set_new(o, "expires", time_json(l->expires_ms));
	if (now_ms >= 0) {
		int64_t left = l->expires_ms > now_ms ? (l->expires_ms - now_ms + 999) / 1000 : 0;

		json_object_set_new(o, "seconds_left", json_integer(left));
	}
	return o;
}

json_t *api_board_json(const struct tracker *t, const struct board *b)
{
	json_t *o = json_object();
	const struct reg_board *rb = b->reg;

	json_object_set_new(o, "name", json_string(b->name));
	json_object_set_new(o, "type", json_string(rb ? rb->type : ""));
	json_object_set_new(o, "chip", json_string(rb ? rb->chip : ""));
	json_object_set_new(o, "notes", json_string(rb ? rb->notes : ""));
	json_object_set_new(o, "state", json_string(board_state_name(b->state)));
	json_object_set_new(o, "busid", json_string(b->dev.busid));
	json_object_set_new(o, "port", json_string(b->dev.port));
	json_object_set_new(o, "vid", hex4_json(b->dev.vid));
	json_object_set_new(o, "pid", hex4_json(b->dev.pid));
	json_object_set_new(o, "serial", json_string(b->dev.serial));
	json_object_set_new(o, "speed", json_integer(b->dev.speed_mbps));
	json_object_set_new(o, "devnodes", devnodes_json(b->dev.devnodes));
	json_object_set_new(o, "imported_by",
	                    b->state == BOARD_IMPORTED ? json_string(b->imported_by) : json_null());
	json_object_set_new(o, "lease",
	                    b->leased ? lease_json(&b->lease, tracker_now(t)) : json_null());
	json_object_set_new(o, "last_seen", time_json(b->last_seen_ms));
	json_object_set_new(o, "mode", json_string(reg_mode_name(b->mode)));
	json_object_set_new(o, "fw_state", b->fw_state[0] ? json_string(b->fw_state) : json_null());
	json_object_set_new(o, "mac", b->dev.mac[0] ? json_string(b->dev.mac) : json_null());
	return o;
}

static json_t *devfacts_json(const struct ul_devfacts *d)
{
	json_t *o = json_object();

	json_object_set_new(o, "busid", json_string(d->busid));
	json_object_set_new(o, "port", json_string(d->port));
	json_object_set_new(o, "vid", hex4_json(d->vid));
	json_object_set_new(o, "pid", hex4_json(d->pid));
	json_object_set_new(o, "serial", json_string(d->serial));
	json_object_set_new(o, "speed", json_integer(d->speed_mbps));
	json_object_set_new(o, "devnodes", devnodes_json(d->devnodes));
	json_object_set_new(o, "mac", json_string(d->mac));
	return o;
}

static bool kind_has_lease(enum ul_event_kind k)
{
	return k == UL_EV_LEASE_TAKEN || k == UL_EV_LEASE_RENEWED || k == UL_EV_LEASE_RELEASED ||
	       k == UL_EV_LEASE_EXPIRED;
}

json_t *api_event_json(const struct ul_event *ev)
{
	json_t *o = json_object();
	const char *kind = ul_event_kind_name(ev->kind);

	json_object_set_new(o, "seq", json_integer((json_int_t)ev->seq));
	json_object_set_new(o, "time", time_json(ev->time_ms));
	json_object_set_new(o, "kind", json_string(kind ? kind : "error"));
	json_object_set_new(o, "board", json_string(ev->board));
	json_object_set_new(o, "peer", json_string(ev->peer));
	json_object_set_new(o, "detail", json_string(ev->detail));
	if (ev->dev.busid[0] || ev->dev.vid || ev->dev.pid)
		json_object_set_new(o, "dev", devfacts_json(&ev->dev));
	if (kind_has_lease(ev->kind) && ev->lease.holder[0])
		json_object_set_new(o, "lease", lease_json(&ev->lease, -1));
	return o;
}

/* ---- parameters ------------------------------------------------------------ */

/* Each getter returns 0 (the value, or the default when absent) or -1 after
 * replying bad_request. */
struct api_call {
	struct api *api;
	json_t *id;
	json_t *params; /* an object (empty when the request had none) */
	const struct api_caller *who;
	const struct api_client_ops *ops;
	void *client;
};

static int param_string(const struct api_call *c, const char *key, bool required, const char **out)
{
	json_t *v = json_object_get(c->params, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		send_errorf(c->ops, c->client, c->id, "bad_request", NULL,
		            "'%s' is required (a string)", key);
		return -1;
	}
	if (!json_is_string(v)) {
		send_errorf(c->ops, c->client, c->id, "bad_request", NULL, "'%s' must be a string",
		            key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int param_bool(const struct api_call *c, const char *key, bool *out)
{
	json_t *v = json_object_get(c->params, key);

	*out = false;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		send_errorf(c->ops, c->client, c->id, "bad_request", NULL,
		            "'%s' must be true or false", key);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

static int param_int(const struct api_call *c, const char *key, json_int_t lo, json_int_t hi,
                     json_int_t dflt, json_int_t *out)
{
	json_t *v = json_object_get(c->params, key);

	*out = dflt;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
		send_errorf(c->ops, c->client, c->id, "bad_request", NULL,
		            "'%s' must be a whole number from %lld to %lld", key, (long long)lo,
		            (long long)hi);
		return -1;
	}
	*out = json_integer_value(v);
	return 0;
}

/* The holder of the caller's leases: user@host, or user@host/tag. */
static int param_holder(const struct api_call *c, char *out, size_t cap)
{
	const char *tag, *user = c->who->user[0] ? c->who->user : "unknown";
	const char *host = c->who->host[0] ? c->who->host : "localhost";
	size_t n;

	if (param_string(c, "tag", false, &tag) < 0)
		return -1;
	if (tag) {
		n = strlen(tag);
		if (n == 0 || n > API_HOLDER_TAG_MAX ||
		    strspn(tag,
		           "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") !=
		            n) {
			send_errorf(c->ops, c->client, c->id, "bad_request", NULL,
			            "'tag' must be 1 to %d of A-Z a-z 0-9 . _ -",
			            API_HOLDER_TAG_MAX);
			return -1;
		}
		snprintf(out, cap, "%s@%s/%s", user, host, tag);
	} else {
		snprintf(out, cap, "%s@%s", user, host);
	}
	return 0;
}

/* ---- the table in name order ------------------------------------------------ */

static int board_cmp(const void *a, const void *b)
{
	return strcmp((*(const struct board *const *)a)->name,
	              (*(const struct board *const *)b)->name);
}

/* The tracker's boards sorted by name (the tracker keeps registry boards
 * in file order): a malloc'd array the caller frees, *n long; NULL with
 * *n 0 when there are none or memory is short. */
static const struct board **boards_by_name(const struct tracker *t, size_t *n)
{
	const struct board **v;
	size_t k = 0;

	*n = 0;
	for (const struct board *b = tracker_first(t); b; b = b->next)
		k++;
	if (k == 0 || !(v = malloc(k * sizeof(*v))))
		return NULL;
	for (const struct board *b = tracker_first(t); b; b = b->next)
		v[(*n)++] = b;
	qsort(v, *n, sizeof(*v), board_cmp);
	return v;
}

/* ---- names ----------------------------------------------------------------- */

static json_t *all_names_json(const struct tracker *t)
{
	json_t *a = json_array();
	size_t n;
	const struct board **v = boards_by_name(t, &n);

	for (size_t i = 0; i < n && i < API_MAX_LINE_NAMES; i++)
		json_array_append_new(a, json_string(v[i]->name));
	free(v);
	return a;
}

/* Resolves what a person typed into a board (names.h). On failure replies
 * (unknown_board, ambiguous, bad_regex, bad_request) and returns NULL. The
 * same stages as tracker_resolve(), run here so that the candidates can go
 * into the reply as a list. */
static const struct board *resolve_ex(const struct api_call *c, const char *query, bool *unknown)
{
	const struct tracker *t = c->api->env.tracker;
	const char **names;
	size_t n;
	const struct board **boards = boards_by_name(t, &n), *found = NULL;
	struct names_result res;
	char err[512];
	json_t *extra, *cand;
	int rc;

	names = calloc(n + 1, sizeof(*names));
	if (!names) {
		free(boards);
		send_error(c->ops, c->client, c->id, "internal", "out of memory", NULL);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		names[i] = boards[i]->name;
	rc = names_resolve(names, n, query, &res, err, sizeof(err));
	switch (rc) {
	case NAMES_OK:
		found = boards[res.index];
		break;
	case NAMES_E_AMBIGUOUS:
		cand = json_array();
		for (size_t i = 0; i < res.ncand && i < NAMES_MAX_CANDIDATES; i++)
			json_array_append_new(cand, json_string(names[res.cand[i]]));
		extra = json_pack("{s:o, s:I}", "candidates", cand, "count", (json_int_t)res.ncand);
		send_error(c->ops, c->client, c->id, "ambiguous", err, extra);
		break;
	case NAMES_E_BADREGEX:
		send_error(c->ops, c->client, c->id, "bad_regex", err, NULL);
		break;
	case NAMES_E_EMPTY:
		send_error(c->ops, c->client, c->id, "bad_request", "the board name is empty",
		           NULL);
		break;
	default:
		if (unknown) {
			*unknown = true;
			break;
		}
		extra = json_pack("{s:o}", "candidates", all_names_json(t));
		send_error(c->ops, c->client, c->id, "unknown_board", err, extra);
		break;
	}
	free(names);
	free(boards);
	return found;
}

static const struct board *resolve(const struct api_call *c, const char *query)
{
	return resolve_ex(c, query, NULL);
}

/* ---- pending requests ------------------------------------------------------ */

static struct api_pending *pending_new(const struct api_call *c, enum api_pending_kind kind)
{
	struct api_pending *p = calloc(1, sizeof(*p)), **pp;

	if (!p)
		return NULL;
	p->api = c->api;
	p->kind = kind;
	p->client = c->client;
	p->ops = c->ops;
	p->id = json_incref(c->id);
	for (pp = &c->api->pending; *pp; pp = &(*pp)->next)
		;
	*pp = p;
	return p;
}

static void pending_free(struct api_pending *p)
{
	for (struct api_pending **pp = &p->api->pending; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	if (p->timer)
		event_free(p->timer);
	json_decref(p->id);
	json_decref(p->result);
	free(p);
}

/* A pending reply that holds result (stolen) until it is sent; NULL after
 * replying "internal" when memory is short. */
static struct api_pending *pending_hold(const struct api_call *c, enum api_pending_kind kind,
                                        json_t *result)
{
	struct api_pending *p = pending_new(c, kind);

	if (!p) {
		json_decref(result);
		send_error(c->ops, c->client, c->id, "internal", "out of memory", NULL);
		return NULL;
	}
	p->result = result;
	return p;
}

static void leases_changed(struct api *api)
{
	if (api->env.leases_changed)
		api->env.leases_changed(api->env.arg);
}

/* The lease verb's event is durable (rc 0) or the store failed: reply. */
static void on_committed(void *arg, int rc)
{
	struct api_pending *p = arg;

	if (p->client) {
		if (rc < 0)
			send_error(p->ops, p->client, p->id, "store_failed",
			           "the store could not write the change to disk (see the daemon's "
			           "log); it holds in memory until the daemon stops",
			           NULL);
		else
			send_result(p->ops, p->client, p->id, json_incref(p->result));
	}
	pending_free(p);
}

/* Replies result once event seq is durable. Steals result. */
static void reply_when_committed(const struct api_call *c, uint64_t seq, json_t *result)
{
	struct api_pending *p = pending_hold(c, API_PENDING_COMMIT, result);

	if (!p)
		return;
	/* May run on_committed at once (no durable subscriber, or already
	 * committed): p must not be touched after this. */
	if (tracker_when_committed(c->api->env.tracker, seq, on_committed, p) < 0) {
		p->result = NULL;
		pending_free(p);
		send_result(c->ops, c->client, c->id, result);
	}
}

/* ---- lease replies ---------------------------------------------------------- */

static json_t *lease_result(const struct api *api, const char *name, const struct ul_lease *l)
{
	json_t *o = lease_json(l, tracker_now(api->env.tracker));

	const struct board *b = tracker_find(api->env.tracker, name);
	char import_as[96];

	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "token", json_string(l->token));
	/* What a stock client puts in OP_REQ_IMPORT's busid field (31 bytes):
	 * NAME#TOKEN when it fits, else BUSID#TOKEN (the busid changes when
	 * the board moves; the name does not). */
	snprintf(import_as, sizeof(import_as), "%s#%s", name, l->token);
	if (strlen(import_as) > 31 && b && b->dev.busid[0])
		snprintf(import_as, sizeof(import_as), "%s#%s", b->dev.busid, l->token);
	json_object_set_new(o, "import_as",
	                    strlen(import_as) <= 31 ? json_string(import_as) : json_null());
	return o;
}

static json_t *lease_extra(const char *board, const struct ul_lease *l)
{
	json_t *o = json_object();

	json_object_set_new(o, "board", json_string(board));
	if (l) {
		json_object_set_new(o, "holder", json_string(l->holder));
		json_object_set_new(o, "expires", time_json(l->expires_ms));
	}
	return o;
}

static void send_leased(const struct api_client_ops *ops, void *client, json_t *id,
                        const char *code, const char *board, const struct ul_lease *l)
{
	char when[32];

	ul_event_format_time(l->expires_ms, when, sizeof(when));
	send_errorf(ops, client, id, code, lease_extra(board, l),
	            "%s is leased by %s until %s%s%s%s", board, l->holder, when,
	            l->reason[0] ? " (" : "", l->reason, l->reason[0] ? ")" : "");
}

/* Replies to a tracker lease error. */
static void send_tracker_err(const struct api_call *c, int rc, const char *board,
                             const struct ul_lease *l)
{
	switch (rc) {
	case TRACKER_E_UNKNOWN:
		send_errorf(c->ops, c->client, c->id, "unknown_board",
		            json_pack("{s:o}", "candidates", all_names_json(c->api->env.tracker)),
		            "no board is named '%s' any more", board);
		break;
	case TRACKER_E_LEASED:
		send_leased(c->ops, c->client, c->id, "leased", board, l);
		break;
	case TRACKER_E_NOT_HOLDER: {
		char when[32];

		ul_event_format_time(l->expires_ms, when, sizeof(when));
		send_errorf(c->ops, c->client, c->id, "not_holder", lease_extra(board, l),
		            "%s is leased by %s until %s, not by you (checkin with force ends it)",
		            board, l->holder, when);
		break;
	}
	case TRACKER_E_NOT_LEASED:
		send_errorf(c->ops, c->client, c->id, "not_leased", lease_extra(board, NULL),
		            "%s is not leased", board);
		break;
	default:
		send_error(c->ops, c->client, c->id, "internal", "out of memory", NULL);
		break;
	}
}

/* ---- checkout ---------------------------------------------------------------- */

enum try_outcome {
	TRY_DONE, /* replied, or handed to the commit wait */
	TRY_WAIT, /* not possible yet */
};

/* The board an "any" checkout would take now, or NULL; *matched counts the
 * boards the pattern matches, *first_leased is one of them that is leased. */
static const struct board *pick_any(const struct tracker *t, const regex_t *re, size_t *matched,
                                    const struct board **first_leased)
{
	size_t n;
	const struct board **v = boards_by_name(t, &n), *found = NULL;

	*matched = 0;
	*first_leased = NULL;
	for (size_t i = 0; i < n && !found; i++) {
		const struct board *b = v[i];

		if (regexec(re, b->name, 0, NULL, 0) != 0)
			continue;
		(*matched)++;
		if (b->leased && !*first_leased)
			*first_leased = b;
		if (b->state != BOARD_ABSENT && !b->leased)
			found = b;
	}
	free(v);
	return found;
}

/* One attempt at the checkout p describes. wait: keep waiting instead of failing when
 * the board is absent or leased. */
static enum try_outcome try_checkout(struct api_pending *p, bool wait)
{
	struct api *api = p->api;
	struct tracker *t = api->env.tracker;
	struct api_call c = {.api = api, .id = p->id, .ops = p->ops, .client = p->client};
	const struct board *b;
	struct ul_lease lease;
	uint64_t seq = 0;
	int rc;

	memset(&lease, 0, sizeof(lease));
	if (p->any) {
		regex_t re;
		size_t matched;
		const struct board *leased;

		/* Compiled when the request came: this cannot fail now. */
		if (regcomp(&re, p->target, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
			send_error(p->ops, p->client, p->id, "bad_regex", "bad regex", NULL);
			return TRY_DONE;
		}
		b = pick_any(t, &re, &matched, &leased);
		regfree(&re);
		if (!b && wait)
			return TRY_WAIT;
		if (!b && matched == 0) {
			send_errorf(p->ops, p->client, p->id, "unknown_board",
			            json_pack("{s:o}", "candidates", all_names_json(t)),
			            "no board matches '%s'", p->target);
			return TRY_DONE;
		}
		if (!b && leased) {
			send_leased(p->ops, p->client, p->id, "leased", leased->name,
			            &leased->lease);
			return TRY_DONE;
		}
		if (!b) {
			send_errorf(p->ops, p->client, p->id, "unknown_board",
			            json_pack("{s:o}", "candidates", all_names_json(t)),
			            "no board matching '%s' is present (use wait to wait for one)",
			            p->target);
			return TRY_DONE;
		}
	} else {
		b = tracker_find(t, p->target);
		if (b && wait && b->state == BOARD_ABSENT)
			return TRY_WAIT;
		if (b && wait && b->leased && strcmp(b->lease.holder, p->holder) != 0 &&
		    b->lease.expires_ms > tracker_now(t))
			return TRY_WAIT;
	}
	rc = tracker_lease_take(t, b ? b->name : p->target, p->holder, p->reason, p->addr,
	                        p->duration_ms, &lease, &seq);
	if (rc == TRACKER_E_LEASED && wait)
		return TRY_WAIT;
	if (rc != TRACKER_OK) {
		send_tracker_err(&c, rc, b ? b->name : p->target, &lease);
		return TRY_DONE;
	}
	leases_changed(api);
	reply_when_committed(&c, seq, lease_result(api, b->name, &lease));
	return TRY_DONE;
}

static void on_wait_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct api_pending *p = arg;
	const struct board *b = p->any ? NULL : tracker_find(p->api->env.tracker, p->target);

	(void)fd;
	(void)what;
	if (b && b->leased) {
		char when[32];

		ul_event_format_time(b->lease.expires_ms, when, sizeof(when));
		send_errorf(p->ops, p->client, p->id, "timeout", lease_extra(b->name, &b->lease),
		            "timed out: %s is still leased by %s until %s", b->name,
		            b->lease.holder, when);
	} else if (b) {
		send_errorf(p->ops, p->client, p->id, "timeout", lease_extra(b->name, NULL),
		            "timed out: %s is still %s", b->name, board_state_name(b->state));
	} else {
		send_errorf(p->ops, p->client, p->id, "timeout", NULL,
		            "timed out: no board matching '%s' became free", p->target);
	}
	pending_free(p);
}

/* Runs the waits an event concerned, oldest first: the first to get the
 * board wins it, the others see it leased and keep waiting. */
static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct api *api = arg;
	struct api_pending *p = api->pending;

	(void)fd;
	(void)what;
	while (p) {
		struct api_pending *next = p->next;

		if (p->kind == API_PENDING_WAIT && p->due && p->client) {
			p->due = false;
			/* Replying never frees another pending request here: the
			 * transport does not call api_client_gone from send. */
			if (try_checkout(p, true) == TRY_DONE)
				pending_free(p);
		}
		p = next;
	}
}

static void api_checkout(const struct api_call *c)
{
	const char *name, *any, *reason;
	json_int_t duration, timeout;
	bool wait;
	struct api_pending *p;

	if (param_string(c, "name", false, &name) < 0 || param_string(c, "any", false, &any) < 0 ||
	    param_string(c, "reason", false, &reason) < 0 || param_bool(c, "wait", &wait) < 0 ||
	    param_int(c, "duration", 1, API_MAX_DURATION, API_DEFAULT_DURATION, &duration) < 0 ||
	    param_int(c, "timeout", 0, API_MAX_DURATION, -1, &timeout) < 0)
		return;
	if (!!name == !!any) {
		send_error(c->ops, c->client, c->id, "bad_request",
		           "give either 'name' (a board) or 'any' (a pattern)", NULL);
		return;
	}
	p = pending_new(c, API_PENDING_WAIT);
	if (!p) {
		send_error(c->ops, c->client, c->id, "internal", "out of memory", NULL);
		return;
	}
	p->duration_ms = (int64_t)duration * 1000;
	UL_COPY(p->reason, reason ? reason : "");
	UL_COPY(p->addr, c->who->addr);
	if (param_holder(c, p->holder, sizeof(p->holder)) < 0)
		goto done;
	if (any) {
		const char *none[1] = {NULL};
		struct names_result res;
		regex_t re;
		char err[512];

		/* names.h vets the pattern (it refuses what is invalid, or too
		 * costly to compile or match); over no names, that is all it does. */
		if (names_resolve(none, 0, any, &res, err, sizeof(err)) == NAMES_E_BADREGEX) {
			send_error(c->ops, c->client, c->id, "bad_regex", err, NULL);
			goto done;
		}
		if (regcomp(&re, any, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
			send_errorf(c->ops, c->client, c->id, "bad_regex", NULL,
			            "'%s' is not an extended regex", any);
			goto done;
		}
		regfree(&re);
		if (strlen(any) >= sizeof(p->target)) {
			send_error(c->ops, c->client, c->id, "bad_request",
			           "'any' is too long (255 bytes at most)", NULL);
			goto done;
		}
		p->any = true;
		UL_COPY(p->target, any);
	} else {
		const struct board *b = resolve(c, name);

		if (!b)
			goto done;
		UL_COPY(p->target, b->name);
	}
	if (try_checkout(p, wait) == TRY_DONE)
		goto done;
	if (timeout >= 0) {
		struct timeval tv = {.tv_sec = (time_t)timeout};

		p->timer = evtimer_new(c->api->env.base, on_wait_timeout, p);
		if (!p->timer || evtimer_add(p->timer, &tv) < 0) {
			send_error(c->ops, c->client, c->id, "internal", "out of memory", NULL);
			goto done;
		}
	}
	return;
done:
	pending_free(p);
}

/* ---- renew, checkin, locks -------------------------------------------------- */

static void api_renew(const struct api_call *c)
{
	const char *name;
	json_int_t duration;
	char holder[96];
	const struct board *b;
	struct ul_lease lease;
	uint64_t seq = 0;
	int rc;

	if (param_string(c, "name", true, &name) < 0 ||
	    param_int(c, "duration", 1, API_MAX_DURATION, API_DEFAULT_DURATION, &duration) < 0 ||
	    param_holder(c, holder, sizeof(holder)) < 0 || !(b = resolve(c, name)))
		return;
	memset(&lease, 0, sizeof(lease));
	rc = tracker_lease_renew(c->api->env.tracker, b->name, holder, (int64_t)duration * 1000,
	                         &lease, &seq);
	if (rc != TRACKER_OK) {
		send_tracker_err(c, rc, b->name, &lease);
		return;
	}
	leases_changed(c->api);
	reply_when_committed(c, seq, lease_result(c->api, b->name, &lease));
}

static void api_checkin(const struct api_call *c)
{
	const char *name;
	bool force;
	char holder[96];
	const struct board *b;
	struct ul_lease held;
	uint64_t seq = 0;
	int rc;

	if (param_string(c, "name", true, &name) < 0 || param_bool(c, "force", &force) < 0 ||
	    param_holder(c, holder, sizeof(holder)) < 0 || !(b = resolve(c, name)))
		return;
	held = b->lease;
	bool forced = b->leased && strcmp(b->lease.holder, holder) != 0;
	char bname[64];

	/* The board may leave the table on release (an unnamed, absent one). */
	UL_COPY(bname, b->name);
	rc = tracker_lease_release(c->api->env.tracker, bname, holder, force, &seq);
	if (rc != TRACKER_OK) {
		send_tracker_err(c, rc, bname, &held);
		return;
	}
	leases_changed(c->api);
	reply_when_committed(
	        c, seq,
	        json_pack("{s:s, s:b, s:b}", "name", bname, "released", 1, "forced", forced));
}

static void api_locks(const struct api_call *c)
{
	const struct tracker *t = c->api->env.tracker;
	json_t *a = json_array();
	int64_t now = tracker_now(t);
	size_t n;
	const struct board **v = boards_by_name(t, &n);

	for (size_t i = 0; i < n; i++) {
		const struct board *b = v[i];
		json_t *o;

		if (!b->leased)
			continue;
		o = lease_json(&b->lease, now);
		json_object_set_new(o, "name", json_string(b->name));
		json_object_set_new(o, "state", json_string(board_state_name(b->state)));
		json_array_append_new(a, o);
	}
	free(v);
	send_result(c->ops, c->client, c->id, json_pack("{s:o}", "locks", a));
}

/* ---- queries ------------------------------------------------------------------ */

static void api_status(const struct api_call *c)
{
	const struct api *api = c->api;
	json_t *o = api->env.status ? api->env.status(api->env.arg) : NULL;
	unsigned present = 0, leased = 0, followers = 0;

	if (!o)
		o = json_object();
	for (const struct board *b = tracker_first(api->env.tracker); b; b = b->next) {
		present += b->state != BOARD_ABSENT;
		leased += b->leased;
	}
	for (const struct api_follower *f = api->followers; f; f = f->next)
		followers++;
	json_object_set_new(o, "time", time_json(tracker_now(api->env.tracker)));
	json_object_set_new(o, "store", json_boolean(api->env.storeq != NULL));
	json_object_set_new(o, "present", json_integer(present));
	json_object_set_new(o, "leased", json_integer(leased));
	json_object_set_new(o, "followers", json_integer(followers));
	send_result(c->ops, c->client, c->id, o);
}

static void api_list(const struct api_call *c)
{
	const struct tracker *t = c->api->env.tracker;
	json_t *a = json_array();
	size_t n;
	const struct board **v = boards_by_name(t, &n);

	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, api_board_json(t, v[i]));
	free(v);
	send_result(c->ops, c->client, c->id, json_pack("{s:o}", "boards", a));
}

/* The store answered a history query (events or info). */
static void on_events(void *arg, int rc, const struct ul_event *evs, size_t n, const char *err)
{
	struct api_pending *p = arg;

	if (p->client) {
		if (rc < 0) {
			send_errorf(p->ops, p->client, p->id, "store_failed", NULL,
			            "the store could not answer: %s", err ? err : "unknown error");
		} else {
			json_t *a = json_array();

			for (size_t i = 0; i < n; i++)
				json_array_append_new(a, api_event_json(&evs[i]));
			if (p->result) {
				json_object_set_new(p->result, "history", json_true());
				json_object_set_new(p->result, "events", a);
				send_result(p->ops, p->client, p->id, json_incref(p->result));
			} else {
				send_result(p->ops, p->client, p->id,
				            json_pack("{s:o}", "events", a));
			}
		}
	}
	pending_free(p);
}

/* Runs qr on the store; the reply is {"events":[…]}, or info (the board
 * object, stolen) with "events" added. */
static void query_store(const struct api_call *c, const struct store_query *qr, json_t *info)
{
	struct api_pending *p = pending_hold(c, API_PENDING_QUERY, info);

	if (!p)
		return;
	if (storeq_query_events(c->api->env.storeq, qr, on_events, p) < 0) {
		pending_free(p);
		send_error(c->ops, c->client, c->id, "store_failed",
		           "the store could not take the query (out of memory)", NULL);
	}
}

static void api_info(const struct api_call *c)
{
	const char *name;
	const struct board *b;
	struct store_query qr;
	json_t *info;

	if (param_string(c, "name", true, &name) < 0 || !(b = resolve(c, name)))
		return;
	info = json_pack("{s:o}", "board", api_board_json(c->api->env.tracker, b));
	if (!c->api->env.storeq) {
		json_object_set_new(info, "history", json_false());
		json_object_set_new(info, "events", json_array());
		send_result(c->ops, c->client, c->id, info);
		return;
	}
	memset(&qr, 0, sizeof(qr));
	qr.kind = -1;
	qr.limit = API_INFO_EVENTS;
	UL_COPY(qr.board, b->name);
	query_store(c, &qr, info);
}

static void kinds_text(char *out, size_t cap)
{
	size_t len = 0;

	out[0] = 0;
	for (int k = 0; k < UL_EV__COUNT && len < cap; k++)
		len += (size_t)snprintf(out + len, cap - len, "%s%s", k ? ", " : "",
		                        ul_event_kind_name((enum ul_event_kind)k));
}

/* Reads the optional "kind" parameter: -1 (any) or a kind. */
static int param_kind(const struct api_call *c, int *out)
{
	const char *kind;
	char kinds[512];

	*out = -1;
	if (param_string(c, "kind", false, &kind) < 0)
		return -1;
	if (!kind)
		return 0;
	*out = ul_event_kind_parse(kind);
	if (*out < 0) {
		kinds_text(kinds, sizeof(kinds));
		send_errorf(c->ops, c->client, c->id, "bad_request", NULL,
		            "unknown event kind '%s' (kinds: %s)", kind, kinds);
		return -1;
	}
	return 0;
}

/* Reads the optional "device" parameter into out (a board name, or "" for
 * any): a board the daemon knows is resolved; an unknown name is kept as
 * typed, since history holds boards that are gone. */
static int param_device(const struct api_call *c, char *out, size_t cap)
{
	const char *dev;
	const struct board *b;
	bool unknown = false;

	out[0] = 0;
	if (param_string(c, "device", false, &dev) < 0)
		return -1;
	if (!dev)
		return 0;
	b = resolve_ex(c, dev, &unknown);
	if (!b && !unknown)
		return -1;
	snprintf(out, cap, "%s", b ? b->name : dev);
	return 0;
}

static int param_time(const struct api_call *c, const char *key, int64_t *out)
{
	const char *text;

	*out = 0;
	if (param_string(c, key, false, &text) < 0)
		return -1;
	if (text && ul_event_parse_time(text, tracker_now(c->api->env.tracker), out) < 0) {
		send_errorf(c->ops, c->client, c->id, "bad_request", NULL,
		            "'%s': '%s' is not a time (2026-12-03T13:14:04Z, 2026-12-03, -10m, "
		            "-2h, -1d)",
		            key, text);
		return -1;
	}
	return 0;
}

static void api_events(const struct api_call *c)
{
	struct store_query qr;
	json_int_t limit;

	memset(&qr, 0, sizeof(qr));
	if (param_time(c, "since", &qr.since_ms) < 0 || param_time(c, "until", &qr.until_ms) < 0 ||
	    param_kind(c, &qr.kind) < 0 || param_device(c, qr.board, sizeof(qr.board)) < 0 ||
	    param_int(c, "limit", 1, API_MAX_LIMIT, API_DEFAULT_LIMIT, &limit) < 0)
		return;
	qr.limit = (unsigned)limit;
	if (!c->api->env.storeq) {
		send_error(c->ops, c->client, c->id, "no_store",
		           "this usblabd keeps no history (it was started with --db none)", NULL);
		return;
	}
	query_store(c, &qr, NULL);
}

static void api_follow(const struct api_call *c)
{
	struct api_follower *f;
	char board[64];
	int kind;

	if (param_kind(c, &kind) < 0 || param_device(c, board, sizeof(board)) < 0)
		return;
	f = calloc(1, sizeof(*f));
	if (!f) {
		send_error(c->ops, c->client, c->id, "internal", "out of memory", NULL);
		return;
	}
	f->client = c->client;
	f->ops = c->ops;
	f->kind = kind;
	UL_COPY(f->board, board);
	f->next = c->api->followers;
	c->api->followers = f;
	send_result(c->ops, c->client, c->id, json_pack("{s:b}", "following", 1));
}

/* ---- reload ------------------------------------------------------------------- */

/* "PATH:LINE: what" -> file and line (0 when the message has none). */
static json_t *config_extra(const char *err)
{
	const char *colon = strchr(err, ':');
	char file[512] = "";
	long line = 0;

	while (colon) {
		char *end;
		long l = strtol(colon + 1, &end, 10);

		if (end != colon + 1 && *end == ':' && l > 0) {
			snprintf(file, sizeof(file), "%.*s", (int)(colon - err), err);
			line = l;
			break;
		}
		colon = strchr(colon + 1, ':');
	}
	return json_pack("{s:s, s:i}", "file", file, "line", (int)line);
}

static void api_reload(const struct api_call *c)
{
	const struct api *api = c->api;
	char err[1024] = "";
	size_t n = 0;

	if (!api->env.reload) {
		send_error(c->ops, c->client, c->id, "internal", "this daemon cannot reload", NULL);
		return;
	}
	if (api->env.reload(api->env.arg, err, sizeof(err)) < 0) {
		send_error(c->ops, c->client, c->id, "config",
		           err[0] ? err : "the registry was refused", config_extra(err));
		return;
	}
	for (const struct board *b = tracker_first(api->env.tracker); b; b = b->next)
		n++;
	send_result(c->ops, c->client, c->id,
	            json_pack("{s:b, s:I}", "reloaded", 1, "boards", (json_int_t)n));
}

/* ---- dispatch ------------------------------------------------------------------- */

static const struct api_method {
	const char *name;
	void (*fn)(const struct api_call *c);
} api_methods[] = {
        {"status", api_status},
        {"list", api_list},
        {"info", api_info},
        {"events", api_events},
        {"events.follow", api_follow},
        {"checkout", api_checkout},
        {"renew", api_renew},
        {"checkin", api_checkin},
        {"locks", api_locks},
        {"reload", api_reload},
        {"power", api_power},
        {"attach.adopt", api_attach_adopt},
        {"attach.drop", api_attach_drop},
        {"attach.list", api_attach_list},
        {"unplug", api_sim_unplug},
        {"replug", api_sim_replug},
        {"probe", api_esp32_probe},
        {"bootloader", api_esp32_bootloader},
        {"boot", api_esp32_boot},
};

void api_request(struct api *api, json_t *req, const struct api_caller *who,
                 const struct api_client_ops *ops, void *client)
{
	struct api_call c = {.api = api, .who = who, .ops = ops, .client = client};
	json_t *method, *params;
	const char *m;

	if (!json_is_object(req)) {
		send_error(ops, client, NULL, "bad_request", "a request is a JSON object", NULL);
		goto out;
	}
	c.id = json_object_get(req, "id");
	method = json_object_get(req, "method");
	params = json_object_get(req, "params");
	if (!json_is_string(method)) {
		send_error(ops, client, c.id, "bad_request", "'method' is required (a string)",
		           NULL);
		goto out;
	}
	if (params && !json_is_null(params) && !json_is_object(params)) {
		send_error(ops, client, c.id, "bad_request", "'params' must be an object", NULL);
		goto out;
	}
	c.params = json_is_object(params) ? json_incref(params) : json_object();
	m = json_string_value(method);
	for (size_t i = 0; i < sizeof(api_methods) / sizeof(api_methods[0]); i++) {
		if (strcmp(api_methods[i].name, m) == 0) {
			api_methods[i].fn(&c);
			json_decref(c.params);
			goto out;
		}
	}
	send_errorf(ops, client, c.id, "unknown_method", NULL,
	            "no method '%.64s' (methods: status, list, info, events, events.follow, "
	            "checkout, renew, checkin, locks, reload)",
	            m);
	json_decref(c.params);
out:
	json_decref(req);
}

/* ---- clients and streams ----------------------------------------------------------- */

void api_client_gone(struct api *api, void *client)
{
	struct api_follower **fp = &api->followers;
	struct api_pending *p = api->pending;

	while (*fp) {
		struct api_follower *f = *fp;

		if (f->client == client) {
			*fp = f->next;
			free(f);
		} else {
			fp = &f->next;
		}
	}
	while (p) {
		struct api_pending *next = p->next;

		if (p->client == client) {
			p->client = NULL;
			/* A wait ends now; a store callback still holds the others. */
			if (p->kind == API_PENDING_WAIT)
				pending_free(p);
		}
		p = next;
	}
}

static void on_stream_event(void *arg, const struct ul_event *ev)
{
	struct api *api = arg;
	bool wake = false;
	json_t *msg = NULL;

	for (struct api_pending *p = api->pending; p; p = p->next) {
		if (p->kind == API_PENDING_WAIT && (p->any || strcmp(p->target, ev->board) == 0 ||
		                                    ev->kind == UL_EV_CONFIG_RELOADED)) {
			p->due = true;
			wake = true;
		}
	}
	/* Not now: a checkout from inside an event would publish its event
	 * before the other subscribers saw this one. */
	if (wake)
		event_active(api->retry, EV_TIMEOUT, 0);
	for (struct api_follower *f = api->followers; f; f = f->next) {
		if ((f->board[0] && strcmp(f->board, ev->board) != 0) ||
		    (f->kind >= 0 && f->kind != (int)ev->kind))
			continue;
		if (!msg)
			msg = json_pack("{s:o}", "event", api_event_json(ev));
		/* send steals: each follower gets its own reference. The
		 * transport must not call api_client_gone from inside send. */
		f->ops->send(f->client, json_incref(msg));
	}
	json_decref(msg);
}

const struct tracker_sub_ops api_stream_sub = {.event = on_stream_event};

struct api *api_new(const struct api_env *env)
{
	struct api *api = calloc(1, sizeof(*api));

	if (!api)
		return NULL;
	api->env = *env;
	api->retry = event_new(env->base, -1, 0, on_retry, api);
	if (!api->retry) {
		free(api);
		return NULL;
	}
	return api;
}

void api_free(struct api *api)
{
	if (!api)
		return;
	while (api->followers) {
		struct api_follower *f = api->followers;

		api->followers = f->next;
		free(f);
	}
	/* Replies still waiting for the store are dropped: the daemon stops. */
	while (api->pending)
		pending_free(api->pending);
	api_power_abandon(api->env.tracker);
	event_free(api->retry);
	free(api);
}

/* ---- handlers in other files (api_call.h) ------------------------------------------ */

const struct api_env *api_call_env(const struct api_call *c)
{
	return &c->api->env;
}

json_t *api_call_params(const struct api_call *c)
{
	return c->params;
}

const struct api_caller *api_call_who(const struct api_call *c)
{
	return c->who;
}

const struct board *api_call_resolve(const struct api_call *c, const char *query)
{
	return resolve(c, query);
}

void api_call_result(const struct api_call *c, json_t *result)
{
	send_result(c->ops, c->client, c->id, result);
}

void api_call_error(const struct api_call *c, const char *code, const char *message, json_t *extra)
{
	send_error(c->ops, c->client, c->id, code, message, extra);
}

struct api_reply *api_call_defer(const struct api_call *c)
{
	return (struct api_reply *)pending_hold(c, API_PENDING_REPLY, NULL);
}

bool api_reply_client_gone(const struct api_reply *r)
{
	return ((const struct api_pending *)r)->client == NULL;
}

void api_reply_result(struct api_reply *r, json_t *result)
{
	struct api_pending *p = (struct api_pending *)r;

	if (p->client)
		send_result(p->ops, p->client, p->id, result);
	else
		json_decref(result);
	pending_free(p);
}

void api_reply_error(struct api_reply *r, const char *code, const char *message, json_t *extra)
{
	struct api_pending *p = (struct api_pending *)r;

	if (p->client)
		send_error(p->ops, p->client, p->id, code, message, extra);
	else
		json_decref(extra);
	pending_free(p);
}

int api_call_string(const struct api_call *c, const char *key, bool required, const char **out)
{
	return param_string(c, key, required, out);
}

void api_call_holder(const struct api_call *c, char *out, size_t cap)
{
	const char *user = c->who->user[0] ? c->who->user : "unknown";
	const char *host = c->who->host[0] ? c->who->host : "localhost";

	snprintf(out, cap, "%.63s@%.63s", user, host);
}

void api_call_errorf(const struct api_call *c, const char *code, json_t *extra, const char *fmt,
                     ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_call_error(c, code, msg, extra);
}

void api_reply_errorf(struct api_reply *r, const char *code, json_t *extra, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	api_reply_error(r, code, msg, extra);
}
