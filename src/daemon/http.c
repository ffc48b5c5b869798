/* SPDX-License-Identifier: MIT */
/*
 * http.c - the control API over HTTP (http.h): routes to api_request(),
 * Server-Sent Events for events.follow, /metrics, the embedded dashboard,
 * and the checks that keep a browser's other tabs out (token, Host,
 * Origin, Content-Type).
 *
 * Each request in flight is a `struct http_call`, the api's client. Like
 * control.c, a call is never freed from inside the api's send callback: it
 * is marked dying and freed by the `reap` event on the next turn of the
 * loop. evhttp keeps a request alive while we have not answered it, even
 * when its connection goes (it detaches it: evhttp_request_get_connection
 * returns NULL), so a detached request is ours to free.
 */
#include "http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "event.h"
#include "http_assets.h"
#include "ul_log.h"

#define HTTP_STREAM_WRITE_TIMEOUT_S 30 /* a stream whose client reads nothing this long goes */

struct http_token {
	char token[128];
	char label[64];
};

struct http_call {
	struct http *h;
	struct evhttp_request *req; /* NULL once answered, or freed with its connection */
	struct evhttp_connection *evcon;
	struct api_caller who;
	bool stream;    /* the reply opens a Server-Sent Events stream */
	bool streaming; /* its headers are sent; events follow */
	bool dying;     /* freed on the next turn of the loop */
	struct http_call *next;
};

struct http {
	struct event_base *base;
	struct api *api;
	struct evhttp *http;
	struct event *reap;
	struct event *heartbeat;
	struct http_call *calls;
	unsigned ncalls;
	bool remote;  /* listening beyond loopback: every API request needs a token */
	SSL_CTX *tls; /* HTTPS when not NULL */
	unsigned port;
	struct http_token tokens[HTTP_MAX_TOKENS];
	unsigned ntokens;
	/* metrics: the event counter subscribes to the tracker */
	struct tracker *tracker;
	uint64_t events_by_kind[UL_EV__COUNT];
	uint64_t requests;
	uint64_t streams_dropped;
	json_t *collected; /* the reply to an internal request */
	struct usbip_server *srv;
	/* The event store's lag: events published and not yet reported
	 * committed, oldest first (lag[lag_head..lag_len)); lag_lost counts
	 * those past HTTP_LAG_MAX, whose time is not kept. */
	bool store;
	struct http_lag {
		uint64_t seq;
		int64_t time_ms;
	} * lag;
	size_t lag_head, lag_len, lag_cap;
	uint64_t lag_lost, last_seq, store_failed;
};

/* ---- replies ------------------------------------------------------------------- */

static void add_common_headers(struct evhttp_request *req, const char *type)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(req);

	evhttp_add_header(hd, "Content-Type", type);
	evhttp_add_header(hd, "Cache-Control", "no-store");
	evhttp_add_header(hd, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(hd, "Referrer-Policy", "no-referrer");
}

/* Sends body as JSON with status code. Steals body. */
static void reply_json(struct evhttp_request *req, int code, json_t *body)
{
	struct evbuffer *buf = evbuffer_new();
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	add_common_headers(req, "application/json");
	if (!buf || !text) {
		free(text);
		if (buf)
			evbuffer_free(buf);
		evhttp_send_error(req, 500, NULL);
		return;
	}
	evbuffer_add(buf, text, strlen(text));
	evbuffer_add(buf, "\n", 1);
	free(text);
	evhttp_send_reply(req, code, NULL, buf);
	evbuffer_free(buf);
}

/* The HTTP status of an error code (docs/control-api.md's codes, plus the
 * transport's own: not_found, method_not_allowed, unauthorized, forbidden,
 * unsupported_media_type, busy). */
static int status_of(const char *code)
{
	static const struct {
		const char *code;
		int status;
	} map[] = {
	        {"bad_request", 400},    {"bad_regex", 400},     {"unauthorized", 401},
	        {"forbidden", 403},      {"not_holder", 403},    {"not_found", 404},
	        {"unknown_method", 404}, {"unknown_board", 404}, {"method_not_allowed", 405},
	        {"ambiguous", 409},      {"leased", 409},        {"not_leased", 409},
	        {"timeout", 409},        {"no_hub_port", 409},   {"power_busy", 409},
	        {"no_hub", 409},         {"no_switching", 409},  {"no_method", 409},
	        {"no_departure", 409},   {"no_return", 409},     {"not_virtual", 409},
	        {"unplugged", 409},      {"plugged", 409},       {"not_esp32", 409},
	        {"no_port", 409},        {"port_busy", 409},     {"stopping", 503},
	        {"unavailable", 503},    {"permission", 403},    {"unsupported_media_type", 415},
	        {"config", 422},         {"no_store", 503},      {"store_failed", 503},
	        {"busy", 503},
	};

	for (size_t i = 0; code && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].code, code) == 0)
			return map[i].status;
	return 500;
}

/* {"error":{"code":…,"message":…}} with the code's status. */
static void reply_error(struct evhttp_request *req, const char *code, const char *message)
{
	reply_json(req, status_of(code),
	           json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

/* ---- calls ---------------------------------------------------------------------- */

static void call_free(struct http_call *cl)
{
	struct http *h = cl->h;

	for (struct http_call **pp = &h->calls; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	h->ncalls--;
	api_client_gone(h->api, cl);
	if (cl->req) {
		struct evhttp_connection *evcon = evhttp_request_get_connection(cl->req);

		if (!evcon) {
			/* Detached when its connection went: ours to free. */
			evhttp_request_free(cl->req);
		} else if (cl->streaming) {
			/* A stream dropped for its backlog: close at once, with
			 * what is queued (the connection frees the request). */
			cl->evcon = NULL;
			cl->req = NULL;
			evhttp_connection_free(evcon);
		} else {
			reply_error(cl->req, "busy", "usblabd is stopping");
		}
	}
	free(cl);
}

static void call_drop_later(struct http_call *cl)
{
	if (cl->dying)
		return;
	cl->dying = true;
	event_active(cl->h->reap, EV_TIMEOUT, 0);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	struct http_call *cl = h->calls;

	(void)fd;
	(void)what;
	while (cl) {
		struct http_call *next = cl->next;

		if (cl->dying)
			call_free(cl);
		cl = next;
	}
}

/* evhttp closes a connection: its client left, or it failed. A request we
 * have not answered is detached from it and left to us; one still attached
 * is freed with it. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
	struct http *h = arg;

	for (struct http_call *cl = h->calls; cl; cl = cl->next) {
		if (cl->evcon != evcon)
			continue;
		cl->evcon = NULL;
		if (cl->req && evhttp_request_get_connection(cl->req) == evcon)
			cl->req = NULL;
		call_drop_later(cl);
	}
}

static size_t call_backlog(const struct http_call *cl)
{
	struct bufferevent *bev = cl->evcon ? evhttp_connection_get_bufferevent(cl->evcon) : NULL;

	return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

/* Queues text on a stream; drops the stream when its client does not read. */
static void stream_write(struct http_call *cl, const char *text, size_t len)
{
	struct evbuffer *buf;

	if (cl->dying || !cl->req || !cl->evcon)
		return;
	buf = evbuffer_new();
	if (!buf || evbuffer_add(buf, text, len) < 0) {
		if (buf)
			evbuffer_free(buf);
		call_drop_later(cl);
		return;
	}
	evhttp_send_reply_chunk(cl->req, buf);
	evbuffer_free(buf);
	if (call_backlog(cl) > HTTP_STREAM_MAX_OUT) {
		ul_warn("http",
		        "%s does not read its event stream (%zu bytes unsent, limit %d): "
		        "disconnected",
		        cl->who.host, call_backlog(cl), HTTP_STREAM_MAX_OUT);
		cl->h->streams_dropped++;
		call_drop_later(cl);
	}
}

/* One event as an SSE message: `id:` is its seq, `data:` its JSON
 * (docs/control-api.md, Event; JSON has no raw newlines, so one line). */
static void stream_event(struct http_call *cl, json_t *ev)
{
	char *text = json_dumps(ev, JSON_COMPACT);
	char *msg = NULL;
	int n;

	if (!text)
		return;
	n = asprintf(&msg, "id: %lld\ndata: %s\n\n",
	             (long long)json_integer_value(json_object_get(ev, "seq")), text);
	free(text);
	if (n > 0)
		stream_write(cl, msg, (size_t)n);
	free(msg);
}

static void stream_start(struct http_call *cl)
{
	struct evkeyvalq *hd = evhttp_request_get_output_headers(cl->req);
	struct bufferevent *bev;
	static const char hello[] = "retry: 2000\n: following\n\n";

	add_common_headers(cl->req, "text/event-stream");
	evhttp_add_header(hd, "X-Accel-Buffering", "no");
	evhttp_send_reply_start(cl->req, 200, "OK");
	cl->streaming = true;
	bev = cl->evcon ? evhttp_connection_get_bufferevent(cl->evcon) : NULL;
	if (bev) {
		/* A stream is quiet for as long as the bench is: no read
		 * timeout (evhttp's 50 s would end it); a client that reads
		 * nothing for 30 s goes. */
		struct timeval wtv = {HTTP_STREAM_WRITE_TIMEOUT_S, 0};

		bufferevent_set_timeouts(bev, NULL, &wtv);
	}
	stream_write(cl, hello, sizeof(hello) - 1);
}

/* api_client_ops.send: the reply becomes the HTTP response (its result as
 * the body, or {"error":…} with the code's status); on a stream, the reply
 * opens it and each {"event":…} becomes one SSE message. */
static void call_send(void *client, json_t *msg)
{
	struct http_call *cl = client;
	json_t *err, *ev;

	if (cl->dying || !cl->req) {
		json_decref(msg);
		return;
	}
	if (cl->streaming) {
		ev = json_object_get(msg, "event");
		if (ev)
			stream_event(cl, ev);
		json_decref(msg);
		return;
	}
	err = json_object_get(msg, "error");
	if (err) {
		reply_json(cl->req, status_of(json_string_value(json_object_get(err, "code"))),
		           json_pack("{s:O}", "error", err));
	} else if (cl->stream) {
		stream_start(cl);
		json_decref(msg);
		return;
	} else {
		reply_json(cl->req, 200, json_incref(json_object_get(msg, "result")));
	}
	json_decref(msg);
	cl->req = NULL;
	call_drop_later(cl);
}

static const struct api_client_ops call_ops = {.send = call_send};

static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
	struct http *h = arg;
	static const char ping[] = ": ping\n\n";

	(void)fd;
	(void)what;
	/* Keeps proxies from timing the stream out, and finds clients that
	 * left without a FIN (the write fails). */
	for (struct http_call *cl = h->calls; cl; cl = cl->next)
		if (cl->streaming)
			stream_write(cl, ping, sizeof(ping) - 1);
}

/* ---- the event store's lag ------------------------------------------------------ */

static void lag_push(struct http *h, uint64_t seq, int64_t time_ms)
{
	h->last_seq = seq;
	if (h->lag_len == h->lag_cap && h->lag_head) {
		memmove(h->lag, h->lag + h->lag_head, (h->lag_len - h->lag_head) * sizeof(*h->lag));
		h->lag_len -= h->lag_head;
		h->lag_head = 0;
	}
	if (h->lag_len == h->lag_cap) {
		size_t cap = h->lag_cap ? 2 * h->lag_cap : 64;
		struct http_lag *bigger =
		        cap <= HTTP_LAG_MAX ? realloc(h->lag, cap * sizeof(*bigger)) : NULL;

		if (!bigger) {
			h->lag_lost++;
			return;
		}
		h->lag = bigger;
		h->lag_cap = cap;
	}
	h->lag[h->lag_len++] = (struct http_lag){seq, time_ms};
}

void http_store_committed(struct http *h, uint64_t seq, int rc)
{
	if (!h || !h->store)
		return;
	while (h->lag_head < h->lag_len && h->lag[h->lag_head].seq <= seq) {
		h->store_failed += rc < 0;
		h->lag_head++;
	}
	if (h->lag_head == h->lag_len) {
		h->lag_head = h->lag_len = 0;
		if (seq >= h->last_seq)
			h->lag_lost = 0;
	}
}

/* ---- internal requests: metrics ------------------------------------------------ */

/* The event counter: a tracker subscriber (not an api follower, which
 * "status" would count). */
static void count_event(void *arg, const struct ul_event *ev)
{
	struct http *h = arg;

	if ((int)ev->kind >= 0 && ev->kind < UL_EV__COUNT)
		h->events_by_kind[ev->kind]++;
	if (h->store)
		lag_push(h, ev->seq, ev->time_ms);
}

static const struct tracker_sub_ops count_sub = {.event = count_event};

static void collect_send(void *client, json_t *msg)
{
	json_t **slot = client;

	json_decref(*slot);
	*slot = msg;
}

static const struct api_client_ops collect_ops = {.send = collect_send};

/* Runs method now through the api (status and list answer at once) and
 * returns its result (new ref) or NULL. */
static json_t *collect(struct http *h, const char *method)
{
	struct api_caller who = {.user = "metrics", .host = "localhost"};
	json_t *res = NULL;

	h->collected = NULL;
	api_request(h->api, json_pack("{s:i, s:s}", "id", 0, "method", method), &who, &collect_ops,
	            &h->collected);
	api_client_gone(h->api, &h->collected);
	if (h->collected)
		res = json_incref(json_object_get(h->collected, "result"));
	json_decref(h->collected);
	h->collected = NULL;
	return res;
}

static void metric_head(struct evbuffer *b, const char *name, const char *type, const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* A label value with \ " and newlines escaped (Prometheus text format). */
static void add_label_value(struct evbuffer *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(b, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(b, "\\n", 2);
		else
			evbuffer_add(b, s, 1);
	}
}

/* NAME{board="…",busid="…",direction="…"} VALUE for each direction. */
static void metric_export_line(struct evbuffer *b, const char *name, const char *board,
                               const char *busid, const uint64_t v[2])
{
	static const char *const dir[2] = {"out", "in"};

	for (int d = 0; d < 2; d++) {
		evbuffer_add_printf(b, "%s{board=\"", name);
		add_label_value(b, board);
		evbuffer_add_printf(b, "\",busid=\"");
		add_label_value(b, busid);
		evbuffer_add_printf(b, "\",direction=\"%s\"} %llu\n", dir[d],
		                    (unsigned long long)v[d]);
	}
}

/* Each export's URB counters (usbip_server.h), by board: the dashboard's
 * throughput is their rate. */
static void metrics_exports(struct http *h, struct evbuffer *b, json_t *boards)
{
	static const struct {
		const char *name, *help;
		size_t off;
	} m[] = {
	        {"usblab_export_urbs_total", "URBs answered, by export and direction.",
	         offsetof(struct usbip_export, urbs)},
	        {"usblab_export_bytes_total",
	         "Payload bytes transferred (actual_length), by export and direction.",
	         offsetof(struct usbip_export, bytes)},
	        {"usblab_export_urb_errors_total",
	         "URBs answered with an error status, by export and direction.",
	         offsetof(struct usbip_export, urb_errors)},
	};
	json_t *bd;
	size_t i;

	if (!h->srv)
		return;
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		metric_head(b, m[k].name, "counter", m[k].help);
		json_array_foreach(boards, i, bd)
		{
			const char *busid = json_string_value(json_object_get(bd, "busid"));
			const char *st = json_string_value(json_object_get(bd, "state"));
			struct usbip_export *exp;

			if (!busid || !st ||
			    (strcmp(st, "exported") != 0 && strcmp(st, "imported") != 0))
				continue;
			exp = usbip_server_find_busid(h->srv, busid);
			if (!exp)
				continue;
			metric_export_line(b, m[k].name,
			                   json_string_value(json_object_get(bd, "name")) ?: "",
			                   busid, (const uint64_t *)((const char *)exp + m[k].off));
		}
	}
}

/* Errors by kind: what went wrong since start, wherever it was counted
 * (urb: the core's count over every export, gone ones included, so that
 * the counter never goes down). */
static void metrics_errors(struct http *h, struct evbuffer *b)
{
	uint64_t urb = h->srv ? h->srv->urb_errors : 0;

	metric_head(
	        b, "usblab_errors_total", "counter",
	        "Errors by kind: URBs answered with an error (every export since start), imports "
	        "refused, clients gone without a release, registries rejected, events the "
	        "store failed to write, error events, HTTP streams dropped.");
	evbuffer_add_printf(b, "usblab_errors_total{kind=\"urb\"} %llu\n", (unsigned long long)urb);
	evbuffer_add_printf(b, "usblab_errors_total{kind=\"import_refused\"} %llu\n",
	                    (unsigned long long)h->events_by_kind[UL_EV_IMPORT_REFUSED]);
	evbuffer_add_printf(b, "usblab_errors_total{kind=\"client_gone\"} %llu\n",
	                    (unsigned long long)h->events_by_kind[UL_EV_CLIENT_GONE]);
	evbuffer_add_printf(b, "usblab_errors_total{kind=\"config_rejected\"} %llu\n",
	                    (unsigned long long)h->events_by_kind[UL_EV_CONFIG_REJECTED]);
	evbuffer_add_printf(b, "usblab_errors_total{kind=\"store_write\"} %llu\n",
	                    (unsigned long long)h->store_failed);
	evbuffer_add_printf(b, "usblab_errors_total{kind=\"event_error\"} %llu\n",
	                    (unsigned long long)h->events_by_kind[UL_EV_ERROR]);
	evbuffer_add_printf(b, "usblab_errors_total{kind=\"http_stream_dropped\"} %llu\n",
	                    (unsigned long long)h->streams_dropped);
}

/* Events published and not yet committed, and how long the oldest has waited. */
static void metrics_store_lag(struct http *h, struct evbuffer *b)
{
	uint64_t pending = h->lag_len - h->lag_head + h->lag_lost;
	double age = 0;

	if (h->lag_head < h->lag_len && h->tracker) {
		int64_t ms = tracker_now(h->tracker) - h->lag[h->lag_head].time_ms;

		age = ms > 0 ? (double)ms / 1000.0 : 0;
	}
	metric_head(b, "usblab_store_pending_events", "gauge",
	            "Events published and not yet committed to the store.");
	evbuffer_add_printf(b, "usblab_store_pending_events %llu\n", (unsigned long long)pending);
	metric_head(b, "usblab_store_oldest_pending_seconds", "gauge",
	            "Age of the oldest event not yet committed (0 when none waits).");
	evbuffer_add_printf(b, "usblab_store_oldest_pending_seconds %.3f\n", age);
}

static void reply_metrics(struct http *h, struct evhttp_request *req)
{
	struct evbuffer *b = evbuffer_new();
	json_t *status = collect(h, "status"), *list = collect(h, "list");
	json_t *boards = json_object_get(list, "boards"), *bd;
	unsigned by_state[4] = {0}, leased = 0, streams = 0;
	size_t i;

	if (!b || !status || !list) {
		json_decref(status);
		json_decref(list);
		if (b)
			evbuffer_free(b);
		reply_error(req, "internal", "out of memory");
		return;
	}
	json_array_foreach(boards, i, bd)
	{
		const char *st = json_string_value(json_object_get(bd, "state"));

		for (int s = 0; s < 4 && st; s++)
			if (strcmp(st, board_state_name((enum board_state)s)) == 0)
				by_state[s]++;
		leased += json_is_object(json_object_get(bd, "lease"));
	}
	for (struct http_call *cl = h->calls; cl; cl = cl->next)
		streams += cl->streaming && !cl->dying;
	metric_head(b, "usblab_info", "gauge", "The daemon's version.");
	evbuffer_add_printf(b, "usblab_info{version=\"");
	add_label_value(b, json_string_value(json_object_get(status, "version")) ?: "");
	evbuffer_add_printf(b, "\"} 1\n");
	metric_head(b, "usblab_boards", "gauge", "Boards by state.");
	for (int s = 0; s < 4; s++)
		evbuffer_add_printf(b, "usblab_boards{state=\"%s\"} %u\n",
		                    board_state_name((enum board_state)s), by_state[s]);
	metric_head(b, "usblab_board_state", "gauge", "1 for each board's current state.");
	json_array_foreach(boards, i, bd)
	{
		evbuffer_add_printf(b, "usblab_board_state{board=\"");
		add_label_value(b, json_string_value(json_object_get(bd, "name")) ?: "");
		evbuffer_add_printf(b, "\",state=\"%s\"} 1\n",
		                    json_string_value(json_object_get(bd, "state")) ?: "");
	}
	metric_head(b, "usblab_exports", "gauge",
	            "Boards offered over USB/IP (exported or imported).");
	evbuffer_add_printf(b, "usblab_exports %u\n",
	                    by_state[BOARD_EXPORTED] + by_state[BOARD_IMPORTED]);
	metric_head(b, "usblab_imports", "gauge", "Boards a USB/IP client has imported.");
	evbuffer_add_printf(b, "usblab_imports %u\n", by_state[BOARD_IMPORTED]);
	metric_head(b, "usblab_usbip_clients", "gauge", "USB/IP connections.");
	evbuffer_add_printf(b, "usblab_usbip_clients %lld\n",
	                    (long long)json_integer_value(json_object_get(status, "clients")));
	metric_head(b, "usblab_leases", "gauge", "Leases in force.");
	evbuffer_add_printf(b, "usblab_leases %u\n", leased);
	metric_head(b, "usblab_lease_seconds_left", "gauge",
	            "Seconds until each lease in force expires, by board and holder.");
	json_array_foreach(boards, i, bd)
	{
		json_t *lease = json_object_get(bd, "lease");

		if (!json_is_object(lease))
			continue;
		evbuffer_add_printf(b, "usblab_lease_seconds_left{board=\"");
		add_label_value(b, json_string_value(json_object_get(bd, "name")) ?: "");
		evbuffer_add_printf(b, "\",holder=\"");
		add_label_value(b, json_string_value(json_object_get(lease, "holder")) ?: "");
		evbuffer_add_printf(
		        b, "\"} %lld\n",
		        (long long)json_integer_value(json_object_get(lease, "seconds_left")));
	}
	metric_head(b, "usblab_registry_boards", "gauge", "Boards named by the registry.");
	evbuffer_add_printf(b, "usblab_registry_boards %lld\n",
	                    (long long)json_integer_value(json_object_get(status, "boards")));
	metric_head(b, "usblab_store_enabled", "gauge",
	            "1 when events and leases are kept on disk.");
	evbuffer_add_printf(b, "usblab_store_enabled %d\n",
	                    json_is_true(json_object_get(status, "store")));
	metric_head(b, "usblab_event_followers", "gauge",
	            "Live event streams (control socket and HTTP).");
	evbuffer_add_printf(b, "usblab_event_followers %lld\n",
	                    (long long)json_integer_value(json_object_get(status, "followers")));
	metric_head(b, "usblab_events_total", "counter", "Events published since start, by kind.");
	for (int k = 0; k < UL_EV__COUNT; k++)
		evbuffer_add_printf(b, "usblab_events_total{kind=\"%s\"} %llu\n",
		                    ul_event_kind_name((enum ul_event_kind)k),
		                    (unsigned long long)h->events_by_kind[k]);
	metrics_exports(h, b, boards);
	metrics_errors(h, b);
	metrics_store_lag(h, b);
	metric_head(b, "usblab_http_requests_total", "counter", "HTTP requests received.");
	evbuffer_add_printf(b, "usblab_http_requests_total %llu\n",
	                    (unsigned long long)h->requests);
	metric_head(b, "usblab_http_streams", "gauge", "Open /api/events/stream streams.");
	evbuffer_add_printf(b, "usblab_http_streams %u\n", streams);
	metric_head(b, "usblab_http_streams_dropped_total", "counter",
	            "Streams dropped because their client did not read.");
	evbuffer_add_printf(b, "usblab_http_streams_dropped_total %llu\n",
	                    (unsigned long long)h->streams_dropped);
	json_decref(status);
	json_decref(list);
	add_common_headers(req, "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

/* ---- security -------------------------------------------------------------------- */

static bool token_equal(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	unsigned char diff = la != lb;

	/* Time independent of where they differ. */
	for (size_t i = 0; i < lb; i++)
		diff |= (unsigned char)(a[i < la ? i : 0] ^ b[i]);
	return diff == 0;
}

/* 0 when the request may go on (*label: the token's label, or NULL);
 * -1 after replying 401. mutating: the request changes something. */
static int authorize(struct http *h, struct evhttp_request *req, bool mutating, const char **label)
{
	const char *auth =
	        evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");

	*label = NULL;
	if (h->ntokens == 0)
		return 0;
	if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
		for (unsigned i = 0; i < h->ntokens; i++) {
			if (token_equal(auth + 7, h->tokens[i].token)) {
				*label = h->tokens[i].label;
				return 0;
			}
		}
		evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
		                  "Bearer realm=\"usblab\", error=\"invalid_token\"");
		reply_error(req, "unauthorized",
		            "the bearer token is not one of --http-token-file's");
		return -1;
	}
	if (!h->remote && !mutating)
		return 0;
	evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
	                  "Bearer realm=\"usblab\"");
	reply_error(req, "unauthorized",
	            h->remote ? "send Authorization: Bearer TOKEN (a token of --http-token-file)"
	                      : "changes need Authorization: Bearer TOKEN (a token of "
	                        "--http-token-file)");
	return -1;
}

/* Is host (a Host header's value) a loopback name, with or without port? */
static bool host_is_loopback(const char *host)
{
	char name[256];
	const char *end;
	size_t n;

	if (host[0] == '[') {
		end = strchr(host, ']');
		return end && (size_t)(end - host) == 4 && strncmp(host, "[::1]", 5) == 0;
	}
	n = strcspn(host, ":");
	if (n == 0 || n >= sizeof(name))
		return false;
	memcpy(name, host, n);
	name[n] = 0;
	if (strcasecmp(name, "localhost") == 0)
		return true;
	struct in_addr a;

	return inet_pton(AF_INET, name, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

/* A browser tab of another site may send requests to a loopback port (a
 * form, a fetch in no-cors mode, a DNS name rebound to 127.0.0.1): refuse
 * a Host that is not ours, a cross-origin POST, and a POST that is not
 * JSON (no page can send application/json cross-origin without a CORS
 * preflight, which we never allow). 0, or -1 after replying. */
static int check_origin(struct http *h, struct evhttp_request *req, bool post)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *host = evhttp_find_header(in, "Host");
	const char *origin = evhttp_find_header(in, "Origin");
	const char *type = evhttp_find_header(in, "Content-Type");

	if (!h->remote && host && !host_is_loopback(host)) {
		reply_error(req, "forbidden",
		            "this usblabd answers on a loopback address only; the Host header "
		            "names another");
		return -1;
	}
	if (!post)
		return 0;
	const char *scheme = h->tls ? "https://" : "http://";
	size_t slen = strlen(scheme);

	if (origin &&
	    (!host || strncmp(origin, scheme, slen) != 0 || strcmp(origin + slen, host) != 0)) {
		reply_error(req, "forbidden", "cross-origin requests are refused");
		return -1;
	}
	if (!type || strncasecmp(type, "application/json", 16) != 0) {
		reply_error(
		        req, "unsupported_media_type",
		        "send the body as Content-Type: application/json (an empty body is {})");
		return -1;
	}
	return 0;
}

/* ---- routes ------------------------------------------------------------------------ */

/* The request's JSON body: an object ({} when empty), or NULL after replying. */
static json_t *read_body(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t n = evbuffer_get_length(in);
	json_error_t jerr;
	json_t *body;
	char msg[256];

	if (n == 0)
		return json_object();
	body = json_loadb((const char *)evbuffer_pullup(in, -1), n, 0, &jerr);
	if (!body) {
		snprintf(msg, sizeof(msg), "the body is not JSON: %s (column %d)", jerr.text,
		         jerr.column);
		reply_error(req, "bad_request", msg);
		return NULL;
	}
	if (!json_is_object(body)) {
		json_decref(body);
		reply_error(req, "bad_request", "the body must be a JSON object");
		return NULL;
	}
	return body;
}

/* Query parameters as API params: strings, except limit (a number when it
 * is one, so that the API's range check speaks). */
static json_t *query_params(const struct evhttp_uri *uri)
{
	struct evkeyvalq q;
	json_t *p = json_object();
	const char *query = evhttp_uri_get_query(uri);

	TAILQ_INIT(&q);
	if (!query || evhttp_parse_query_str(query, &q) < 0)
		return p;
	for (struct evkeyval *kv = q.tqh_first; kv; kv = kv->next.tqe_next) {
		char *end;
		long long v = strtoll(kv->value, &end, 10);

		if (strcmp(kv->key, "limit") == 0 && kv->value[0] && !*end)
			json_object_set_new(p, kv->key, json_integer(v));
		else
			json_object_set_new(p, kv->key, json_string(kv->value));
	}
	evhttp_clear_headers(&q);
	return p;
}

static void reply_method_not_allowed(struct evhttp_request *req, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", allow);
	reply_error(req, "method_not_allowed", "this path does not take that method");
}

/* Hands method with params (stolen) to the api as the call's request. */
static void start_call(struct http *h, struct evhttp_request *req, const char *method,
                       json_t *params, bool stream, const char *label)
{
	struct http_call *cl;
	char *peer = NULL;
	ev_uint16_t port = 0;

	if (h->ncalls >= HTTP_MAX_CALLS) {
		json_decref(params);
		reply_error(req, "busy", "too many HTTP requests in flight: try again");
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		json_decref(params);
		reply_error(req, "internal", "out of memory");
		return;
	}
	cl->h = h;
	cl->req = req;
	cl->evcon = evhttp_request_get_connection(req);
	cl->stream = stream;
	evhttp_connection_get_peer(cl->evcon, &peer, &port);
	/* The holder of leases taken over HTTP: LABEL@ADDR with a token,
	 * http@ADDR without (README, "Dashboard and HTTP API"). */
	UL_COPY(cl->who.user, label ? label : "http");
	UL_COPY(cl->who.host, peer && *peer ? peer : "unknown");
	if (h->remote && peer && !host_is_loopback(peer))
		UL_COPY(cl->who.addr, peer); /* may import the board without its token */
	evhttp_connection_set_closecb(cl->evcon, on_conn_close, h);
	cl->next = h->calls;
	h->calls = cl;
	h->ncalls++;
	api_request(h->api,
	            json_pack("{s:i, s:s, s:o}", "id", 1, "method", method, "params", params),
	            &cl->who, &call_ops, cl);
	if (cl->req && !cl->streaming && cl->evcon) {
		/* A waiting checkout answers when it can: no read timeout. */
		struct bufferevent *bev = evhttp_connection_get_bufferevent(cl->evcon);

		if (bev)
			bufferevent_set_timeouts(bev, NULL, NULL);
	}
}

/* /api/boards/NAME[/VERB] */
static void route_board(struct http *h, struct evhttp_request *req, const char *rest, bool get,
                        bool post)
{
	const char *slash = strchr(rest, '/'), *verb = slash ? slash + 1 : NULL, *label;
	/* Each is the API method of the same name, with the body as params and
	 * the board's name added. */
	static const char *const verbs[] = {"checkout",   "checkin", "renew",  "power", "probe",
	                                    "bootloader", "boot",    "unplug", "replug"};
	size_t seglen = slash ? (size_t)(slash - rest) : strlen(rest), len = 0;
	char *seg = strndup(rest, seglen), *name = seg ? evhttp_uridecode(seg, 0, &len) : NULL;
	json_t *params;

	free(seg);
	if (!name || len == 0 || strlen(name) != len) {
		free(name);
		reply_error(req, "bad_request", "the board name in the path is empty or malformed");
		return;
	}
	if (!verb) {
		if (!get)
			reply_method_not_allowed(req, "GET");
		else if (authorize(h, req, false, &label) == 0)
			start_call(h, req, "info", json_pack("{s:s}", "name", name), false, label);
		free(name);
		return;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strcmp(verb, verbs[i]) != 0)
			continue;
		if (!post)
			reply_method_not_allowed(req, "POST");
		else if (check_origin(h, req, true) == 0 && authorize(h, req, true, &label) == 0 &&
		         (params = read_body(req))) {
			json_object_set_new(params, "name", json_string(name));
			start_call(h, req, verbs[i], params, false, label);
		}
		free(name);
		return;
	}
	free(name);
	reply_error(req, "not_found", "no such path (see docs/openapi.yaml)");
}

static void route_api(struct http *h, struct evhttp_request *req, const char *path,
                      const struct evhttp_uri *uri, bool get, bool post)
{
	static const struct {
		const char *path;
		const char *method;
		bool post;
		bool stream;
	} routes[] = {
	        {"/api/status", "status", false, false},
	        {"/api/boards", "list", false, false},
	        {"/api/locks", "locks", false, false},
	        {"/api/events", "events", false, false},
	        {"/api/events/stream", "events.follow", false, true},
	        {"/api/checkout", "checkout", true, false},
	        {"/api/reload", "reload", true, false},
	};
	const char *label;
	json_t *params;

	if (strncmp(path, "/api/boards/", 12) == 0) {
		route_board(h, req, path + 12, get, post);
		return;
	}
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strcmp(path, routes[i].path) != 0)
			continue;
		if (routes[i].post ? !post : !get) {
			reply_method_not_allowed(req, routes[i].post ? "POST" : "GET");
			return;
		}
		if (check_origin(h, req, routes[i].post) < 0 ||
		    authorize(h, req, routes[i].post, &label) < 0)
			return;
		params = routes[i].post ? read_body(req) : query_params(uri);
		if (params)
			start_call(h, req, routes[i].method, params, routes[i].stream, label);
		return;
	}
	reply_error(req, "not_found", "no such path (see docs/openapi.yaml)");
}

static void reply_asset(struct evhttp_request *req, const char *path)
{
	for (size_t i = 0; i < http_nassets; i++) {
		const struct http_asset *a = &http_assets[i];
		struct evbuffer *buf;

		if (strcmp(a->path, path) != 0)
			continue;
		buf = evbuffer_new();
		if (!buf) {
			evhttp_send_error(req, 500, NULL);
			return;
		}
		evbuffer_add_reference(buf, a->data, a->len, NULL, NULL);
		add_common_headers(req, a->type);
		/* Everything comes from here: no inline script, no other host. */
		evhttp_add_header(
		        evhttp_request_get_output_headers(req), "Content-Security-Policy",
		        "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
		evhttp_send_reply(req, 200, "OK", buf);
		evbuffer_free(buf);
		return;
	}
	reply_error(req, "not_found", "no such path (the dashboard is at /, the API under /api/)");
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct http *h = arg;
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *path = uri ? evhttp_uri_get_path(uri) : NULL, *label;
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	bool get = cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD, post = cmd == EVHTTP_REQ_POST;

	h->requests++;
	if (!path || !*path) {
		reply_error(req, "bad_request", "malformed request");
		return;
	}
	if (strncmp(path, "/api/", 5) == 0) {
		route_api(h, req, path, uri, get, post);
		return;
	}
	if (check_origin(h, req, false) < 0)
		return;
	if (!get) {
		reply_method_not_allowed(req, "GET");
		return;
	}
	if (strcmp(path, "/metrics") == 0) {
		if (authorize(h, req, false, &label) == 0)
			reply_metrics(h, req);
		return;
	}
	/* The dashboard's files hold no bench data: served without a token,
	 * so that the page can ask for one. */
	reply_asset(req, path);
}

/* ---- start and stop ------------------------------------------------------------------ */

static int read_tokens(struct http *h, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;
	struct stat st;

	if (!f) {
		snprintf(err, errlen, "--http-token-file %s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && (st.st_mode & 077))
		ul_warn("http", "%s is readable by others: chmod 600 it", path);
	while (fgets(line, sizeof(line), f)) {
		char token[256] = "", label[256] = "";
		int n;

		lineno++;
		n = sscanf(line, "%255s %255s", token, label);
		if (n <= 0 || token[0] == '#')
			continue;
		if (strlen(token) < 16 || strlen(token) >= sizeof(h->tokens[0].token)) {
			snprintf(err, errlen, "%s:%u: a token is 16 to 127 characters", path,
			         lineno);
			goto fail;
		}
		if (n == 2 && (strlen(label) >= sizeof(h->tokens[0].label) ||
		               strspn(label, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                             "0123456789._-") != strlen(label))) {
			snprintf(err, errlen, "%s:%u: a label is 1 to 63 of A-Z a-z 0-9 . _ -",
			         path, lineno);
			goto fail;
		}
		if (h->ntokens == HTTP_MAX_TOKENS) {
			snprintf(err, errlen, "%s:%u: more than %d tokens", path, lineno,
			         HTTP_MAX_TOKENS);
			goto fail;
		}
		UL_COPY(h->tokens[h->ntokens].token, token);
		UL_COPY(h->tokens[h->ntokens].label, n == 2 ? label : "http");
		h->ntokens++;
	}
	fclose(f);
	if (h->ntokens == 0) {
		snprintf(err, errlen, "%s holds no token (lines: TOKEN [LABEL])", path);
		return -1;
	}
	return 0;
fail:
	fclose(f);
	return -1;
}

static bool sockaddr_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return false;
}

/* ---- TLS ------------------------------------------------------------------------- */

/* The OpenSSL error queue's last reason, emptied. */
static const char *tls_reason(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (!e)
		return "no reason given";
	ERR_error_string_n(e, buf, len);
	ERR_clear_error();
	return buf;
}

int http_tls_files_check(const char *cert, const char *key, char *err, size_t errlen)
{
	const char *files[2] = {cert, key}, *opts[2] = {"--http-cert", "--http-key"};

	if (!cert && !key)
		return 0;
	if (!cert || !key) {
		snprintf(err, errlen, "%s needs %s too (HTTPS takes a certificate and its key)",
		         cert ? opts[0] : opts[1], cert ? opts[1] : opts[0]);
		return -1;
	}
	for (int i = 0; i < 2; i++) {
		FILE *f = fopen(files[i], "r");

		if (!f) {
			snprintf(err, errlen, "%s %s: %s", opts[i], files[i], strerror(errno));
			return -1;
		}
		fclose(f);
	}
	return 0;
}

/* The server context for cert (a PEM chain, leaf first) and key. 0, or -1
 * with a reason in err. */
static int tls_setup(struct http *h, const char *cert, const char *key, char *err, size_t errlen)
{
	char why[256];

	if (!cert || !key || !cert[0] || !key[0]) {
		snprintf(err, errlen, "--http-cert and --http-key go together");
		return -1;
	}
	h->tls = SSL_CTX_new(TLS_server_method());
	if (!h->tls) {
		snprintf(err, errlen, "TLS: %s", tls_reason(why, sizeof(why)));
		return -1;
	}
	SSL_CTX_set_min_proto_version(h->tls, TLS1_2_VERSION);
	SSL_CTX_set_options(h->tls, SSL_OP_NO_RENEGOTIATION);
	if (SSL_CTX_use_certificate_chain_file(h->tls, cert) != 1) {
		snprintf(err, errlen, "--http-cert %s: not a usable PEM certificate (%s)", cert,
		         tls_reason(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_use_PrivateKey_file(h->tls, key, SSL_FILETYPE_PEM) != 1) {
		snprintf(err, errlen, "--http-key %s: not a usable PEM private key (%s)", key,
		         tls_reason(why, sizeof(why)));
		return -1;
	}
	if (SSL_CTX_check_private_key(h->tls) != 1) {
		snprintf(err, errlen, "--http-key %s does not match the certificate of %s", key,
		         cert);
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* evhttp_set_bevcb: each accepted connection speaks TLS. A client that
 * speaks plain HTTP fails the handshake and is closed (evhttp sees an
 * error before any request). */
static struct bufferevent *tls_bev(struct event_base *base, void *arg)
{
	struct http *h = arg;
	SSL *ssl = SSL_new(h->tls);
	struct bufferevent *bev;

	if (!ssl)
		return NULL;
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	                                     BEV_OPT_CLOSE_ON_FREE);
	if (!bev) {
		SSL_free(ssl);
		return NULL;
	}
	/* Browsers and curl often close without close_notify: not an error. */
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/* Binds spec (HOST:PORT, [IPV6]:PORT, localhost:PORT); the socket, or -1. */
static evutil_socket_t bind_spec(struct http *h, const char *spec, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	int sslen = sizeof(ss), one = 1;
	char buf[300];
	evutil_socket_t fd;

	if (strncasecmp(spec, "localhost:", 10) == 0) {
		snprintf(buf, sizeof(buf), "127.0.0.1:%s", spec + 10);
		spec = buf;
	}
	memset(&ss, 0, sizeof(ss));
	if (!strchr(spec, ':') ||
	    evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) < 0) {
		snprintf(err, errlen, "--http %s: want HOST:PORT or [IPV6]:PORT (or none)", spec);
		return -1;
	}
	h->remote = !sockaddr_is_loopback((struct sockaddr *)&ss);
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "--http %s: socket: %s", spec, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, (socklen_t)sslen) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "--http %s: %s", spec, strerror(errno));
		close(fd);
		return -1;
	}
	sslen = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, (socklen_t *)&sslen) == 0)
		h->port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
		                                        : ((struct sockaddr_in6 *)&ss)->sin6_port);
	return fd;
}

int http_start(struct http **out, struct event_base *base, struct api *api,
               const struct http_opts *o, char *err, size_t errlen)
{
	struct http *h = calloc(1, sizeof(*h));
	const char *spec = o->listen ? o->listen : HTTP_DEFAULT_LISTEN;
	struct timeval beat = {HTTP_HEARTBEAT_S, 0};
	evutil_socket_t fd = -1;

	*out = NULL;
	if (!h) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	h->base = base;
	h->api = api;
	if (o->token_file && read_tokens(h, o->token_file, err, errlen) < 0)
		goto fail;
	if ((o->cert_file || o->key_file) &&
	    tls_setup(h, o->cert_file, o->key_file, err, errlen) < 0)
		goto fail;
	fd = bind_spec(h, spec, err, errlen);
	if (fd < 0)
		goto fail;
	if (h->remote && h->ntokens == 0) {
		snprintf(err, errlen,
		         "--http %s is not a loopback address: give --http-token-file FILE too "
		         "(remote clients then send Authorization: Bearer TOKEN)",
		         spec);
		goto fail;
	}
	h->http = evhttp_new(base);
	h->reap = event_new(base, -1, 0, on_reap, h);
	h->heartbeat = event_new(base, -1, EV_PERSIST, on_heartbeat, h);
	if (!h->http || !h->reap || !h->heartbeat || event_add(h->heartbeat, &beat) < 0 ||
	    !evhttp_accept_socket_with_handle(h->http, fd)) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	fd = -1; /* evhttp owns it */
	evhttp_set_max_body_size(h->http, HTTP_MAX_BODY);
	evhttp_set_max_headers_size(h->http, 16384);
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
	                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
	                                            EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_gencb(h->http, on_request, h);
	if (h->tls)
		evhttp_set_bevcb(h->http, tls_bev, h);
	h->srv = o->srv;
	h->store = o->store && o->tracker;
	if (o->tracker && tracker_subscribe(o->tracker, &count_sub, h, false) == 0)
		h->tracker = o->tracker;
	ul_info("http", "dashboard and API on %s://%s, port %u%s", h->tls ? "https" : "http", spec,
	        h->port,
	        h->remote    ? " (remote clients need a token)"
	        : h->ntokens ? " (changes need a token)"
	                     : "");
	*out = h;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	if (h->http)
		evhttp_free(h->http);
	if (h->reap)
		event_free(h->reap);
	if (h->heartbeat)
		event_free(h->heartbeat);
	SSL_CTX_free(h->tls);
	free(h);
	return -1;
}

void http_stop(struct http *h)
{
	if (!h)
		return;
	if (h->tracker)
		tracker_unsubscribe(h->tracker, &count_sub, h);
	while (h->calls)
		call_free(h->calls);
	/* Closes every connection (on_conn_close finds no call). */
	evhttp_free(h->http);
	event_free(h->reap);
	event_free(h->heartbeat);
	free(h->lag);
	SSL_CTX_free(h->tls);
	free(h);
}

unsigned http_port(const struct http *h)
{
	return h ? h->port : 0;
}
