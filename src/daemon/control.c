/* SPDX-License-Identifier: MIT */
/*
 * control.c - the control API over a Unix stream socket (control.h): line
 * framing with a bounded input, the caller's identity from SO_PEERCRED,
 * bounded output queues, and api_client_gone() when a client leaves.
 *
 * A client is never freed from inside api's send callback (api may be
 * walking its followers): a client to drop is marked dying and freed by
 * the `reap` event on the next turn of the loop.
 */
#include "control.h"

#include <errno.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "paths.h"
#include "ul_log.h"

struct control_client {
	struct control *ctl;
	struct bufferevent *bev;
	struct api_caller who;
	bool closing; /* send what is queued, then close */
	bool dying;   /* close on the next turn of the loop; send nothing more */
	struct control_client *next;
};

struct control {
	struct event_base *base;
	struct api *api;
	struct evconnlistener *listener;
	struct event *reap;
	struct control_client *clients;
	unsigned nclients;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char host[64];
};

/* ---- clients ---------------------------------------------------------------- */

static void client_free(struct control_client *cl)
{
	struct control *ctl = cl->ctl;

	for (struct control_client **pp = &ctl->clients; *pp; pp = &(*pp)->next) {
		if (*pp == cl) {
			*pp = cl->next;
			break;
		}
	}
	ctl->nclients--;
	/* Callbacks off before the free (STYLE: unregister, then free). */
	bufferevent_setcb(cl->bev, NULL, NULL, NULL, NULL);
	bufferevent_free(cl->bev);
	api_client_gone(ctl->api, cl);
	free(cl);
}

static void client_drop_later(struct control_client *cl)
{
	if (cl->dying)
		return;
	cl->dying = true;
	bufferevent_disable(cl->bev, EV_READ | EV_WRITE);
	event_active(cl->ctl->reap, EV_TIMEOUT, 0);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;
	struct control_client *cl = ctl->clients;

	(void)fd;
	(void)what;
	while (cl) {
		struct control_client *next = cl->next;

		if (cl->dying)
			client_free(cl);
		cl = next;
	}
}

/* api_client_ops.send: queues msg as one line. */
static void client_send(void *client, json_t *msg)
{
	struct control_client *cl = client;
	struct evbuffer *out = bufferevent_get_output(cl->bev);
	char *text;

	if (cl->dying) {
		json_decref(msg);
		return;
	}
	text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(msg);
	if (!text || evbuffer_add(out, text, strlen(text)) < 0 || evbuffer_add(out, "\n", 1) < 0) {
		free(text);
		ul_warn("control", "%s@%s: out of memory for a reply: closed", cl->who.user,
		        cl->who.host);
		client_drop_later(cl);
		return;
	}
	free(text);
	if (evbuffer_get_length(out) > CONTROL_MAX_OUT) {
		ul_warn("control",
		        "%s@%s does not read its socket (%zu bytes unread, limit %d): disconnected",
		        cl->who.user, cl->who.host, evbuffer_get_length(out), CONTROL_MAX_OUT);
		client_drop_later(cl);
	}
}

static const struct api_client_ops client_ops = {.send = client_send};

static void send_line_error(struct control_client *cl, const char *message)
{
	json_t *msg = json_pack("{s:n, s:{s:s, s:s}}", "id", "error", "code", "bad_request",
	                        "message", message);

	if (msg)
		client_send(cl, msg);
}

/* Handles the complete lines in the input, until the output is too full. */
static void client_read_lines(struct control_client *cl)
{
	struct evbuffer *in = bufferevent_get_input(cl->bev);
	struct evbuffer *out = bufferevent_get_output(cl->bev);

	while (!cl->dying && !cl->closing) {
		size_t n;
		char *line;
		json_t *req;
		json_error_t jerr;

		if (evbuffer_get_length(out) > CONTROL_READ_PAUSE) {
			/* Back-pressure: read again once the client has read. */
			bufferevent_disable(cl->bev, EV_READ);
			return;
		}
		line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
		if (!line) {
			if (evbuffer_get_length(in) > CONTROL_MAX_LINE)
				goto too_long;
			return;
		}
		if (n > 0 && line[n - 1] == '\r')
			line[--n] = 0;
		if (n > CONTROL_MAX_LINE) {
			free(line);
			goto too_long;
		}
		if (n == 0) {
			free(line);
			continue;
		}
		req = json_loadb(line, n, 0, &jerr);
		free(line);
		if (!req) {
			char msg[256];

			snprintf(msg, sizeof(msg), "not JSON: %s (column %d)", jerr.text,
			         jerr.column);
			send_line_error(cl, msg);
			continue;
		}
		api_request(cl->ctl->api, req, &cl->who, &client_ops, cl);
	}
	return;
too_long:
	send_line_error(cl, "request line longer than 65536 bytes: closing");
	cl->closing = true;
	bufferevent_disable(cl->bev, EV_READ);
	/* Nothing to flush (the client vanished meanwhile): close now. */
	if (evbuffer_get_length(out) == 0)
		client_drop_later(cl);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	(void)bev;
	client_read_lines(arg);
}

/* The output drained to the low watermark (0). */
static void on_write(struct bufferevent *bev, void *arg)
{
	struct control_client *cl = arg;

	(void)bev;
	if (cl->dying)
		return;
	if (cl->closing) {
		client_drop_later(cl);
		return;
	}
	bufferevent_enable(cl->bev, EV_READ);
	client_read_lines(cl);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *cl = arg;

	/* A client that only shut down its sending side (`echo … | socat`)
	 * still gets the replies already queued. */
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_output(bev)) > 0) {
		cl->closing = true;
		bufferevent_disable(bev, EV_READ);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		client_drop_later(cl);
}

/* Who is at the other end: user name from the peer's uid, our host name. */
static void identify(struct control *ctl, int fd, struct api_caller *who)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct passwd pw, *res = NULL;
	char buf[4096];

	memset(who, 0, sizeof(*who));
	UL_COPY(who->host, ctl->host);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		UL_COPY(who->user, "unknown");
		return;
	}
	if (getpwuid_r(cred.uid, &pw, buf, sizeof(buf), &res) == 0 && res)
		UL_COPY(who->user, pw.pw_name);
	else
		snprintf(who->user, sizeof(who->user), "uid%u", (unsigned)cred.uid);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
	struct control *ctl = arg;
	struct control_client *cl;

	(void)l;
	(void)sa;
	(void)salen;
	if (ctl->nclients >= CONTROL_MAX_CLIENTS) {
		static const char full[] =
		        "{\"id\":null,\"error\":{\"code\":\"internal\",\"message\":"
		        "\"too many control clients\"}}\n";

		ul_warn("control", "%d control clients already: one refused", CONTROL_MAX_CLIENTS);
		if (write(fd, full, sizeof(full) - 1) < 0) {
			/* It is closed either way. */
		}
		close(fd);
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl || !(cl->bev = bufferevent_socket_new(ctl->base, fd, BEV_OPT_CLOSE_ON_FREE))) {
		ul_warn("control", "out of memory: a control client refused");
		free(cl);
		close(fd);
		return;
	}
	cl->ctl = ctl;
	identify(ctl, fd, &cl->who);
	bufferevent_setcb(cl->bev, on_read, on_write, on_event, cl);
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	cl->next = ctl->clients;
	ctl->clients = cl;
	ctl->nclients++;
}

/* ---- the socket ----------------------------------------------------------------- */

static int mkdir_parents(const char *dir)
{
	char tmp[sizeof(((struct sockaddr_un *)0)->sun_path)];

	snprintf(tmp, sizeof(tmp), "%s", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

/* Makes the socket's directory: the runtime one as paths.h says, another
 * one private to us. */
static int make_dir(const char *path, char *err, size_t errlen)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], rt[512];
	char *slash;
	int rc;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = 0;
	if (ul_path_dir(UL_PATH_RUNTIME, rt, sizeof(rt)) == 0 && strcmp(rt, dir) == 0)
		rc = ul_path_mkdir(UL_PATH_RUNTIME);
	else
		rc = mkdir_parents(dir);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Another daemon on path? Removes a stale socket file. Returns 0 when path
 * is free to bind, -1 with a reason otherwise. */
static int claim_path(const struct sockaddr_un *sa, char *err, size_t errlen)
{
	struct stat st;
	int fd, rc;

	if (lstat(sa->sun_path, &st) < 0)
		return 0;
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
		         "%s exists and is not a socket: remove it or choose another path",
		         sa->sun_path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen,
		         "another usblabd answers on %s: stop it first, or give this one another "
		         "socket path",
		         sa->sun_path);
		return -1;
	}
	if (errno != ECONNREFUSED && errno != ENOENT) {
		snprintf(err, errlen, "cannot test %s: %s", sa->sun_path, strerror(errno));
		return -1;
	}
	/* Left by a daemon that died: nobody listens. */
	if (unlink(sa->sun_path) < 0 && errno != ENOENT) {
		snprintf(err, errlen, "cannot remove the stale socket %s: %s", sa->sun_path,
		         strerror(errno));
		return -1;
	}
	return 0;
}

int control_listen(struct control **out, struct event_base *base, struct api *api, const char *path,
                   char *err, size_t errlen)
{
	struct control *ctl = NULL;
	struct sockaddr_un sa;
	int fd = -1;

	*out = NULL;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long (%zu bytes at most): %s",
		         sizeof(sa.sun_path) - 1, path);
		return -1;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if (make_dir(path, err, errlen) < 0 || claim_path(&sa, err, errlen) < 0)
		return -1;
	ctl = calloc(1, sizeof(*ctl));
	if (!ctl) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	ctl->base = base;
	ctl->api = api;
	UL_COPY(ctl->path, path);
	if (gethostname(ctl->host, sizeof(ctl->host) - 1) < 0 || !ctl->host[0])
		UL_COPY(ctl->host, "localhost");
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		goto fail;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		snprintf(err, errlen, "cannot bind %s: %s", path, strerror(errno));
		goto fail;
	}
	if (chmod(path, 0660) < 0 || listen(fd, 64) < 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		unlink(path);
		goto fail;
	}
	ctl->reap = event_new(base, -1, 0, on_reap, ctl);
	ctl->listener = evconnlistener_new(base, on_accept, ctl,
	                                   LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (!ctl->reap || !ctl->listener) {
		snprintf(err, errlen, "out of memory");
		unlink(path);
		goto fail;
	}
	*out = ctl;
	return 0;
fail:
	if (ctl && ctl->listener)
		evconnlistener_free(ctl->listener); /* closes fd */
	else if (fd >= 0)
		close(fd);
	if (ctl && ctl->reap)
		event_free(ctl->reap);
	free(ctl);
	return -1;
}

void control_close(struct control *ctl)
{
	if (!ctl)
		return;
	evconnlistener_free(ctl->listener);
	while (ctl->clients)
		client_free(ctl->clients);
	event_free(ctl->reap);
	unlink(ctl->path);
	free(ctl);
}

unsigned control_clients(const struct control *ctl)
{
	return ctl ? ctl->nclients : 0;
}
