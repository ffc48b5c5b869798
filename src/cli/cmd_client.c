/* SPDX-License-Identifier: MIT */
/*
 * cmd_client.c - usblab attach, detach, attached, remote list
 * (cmd_client.h): arguments in, lines or JSON out. The work is in
 * src/client.
 */
#include "cmd_client.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "attach.h"
#include "attach_record.h"
#include "ctl.h"
#include "devfiles.h"
#include "event.h"
#include "remote_api.h"
#include "ucl.h"
#include "vhci.h"

/* usblab.c's exit statuses that these verbs share. */
#define EXIT_OK      0
#define EXIT_FAILED  1
#define EXIT_USAGE   2
#define EXIT_TIMEOUT 4

/* A follower's re-import backoff: 100 ms, doubling, at most 2 s. */
#define FOLLOW_BACKOFF_MIN_MS 100
#define FOLLOW_BACKOFF_MAX_MS 2000
/* How often a follower reads vhci's port table. */
#define FOLLOW_POLL_MS 100
/* attach --wait: how often to ask again. */
#define WAIT_RETRY_MS 1000

/* vhci's sysfs directory: $USBLAB_VHCI_DIR when set (tests; a machine
 * whose vhci is not vhci_hcd.0), else VHCI_SYSFS_DIR. */
static const char *vhci_dir(void)
{
	const char *env = getenv("USBLAB_VHCI_DIR");

	return env && *env ? env : VHCI_SYSFS_DIR;
}

/* The sysfs root the device files are looked up in: $USBLAB_SYSROOT when
 * set (tests, over a fake tree), else "/sys". */
static const char *sysroot(void)
{
	const char *env = getenv("USBLAB_SYSROOT");

	return env && *env ? env : "/sys";
}

static int64_t wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void print_json(json_t *v)
{
	char *text = json_dumps(v, JSON_COMPACT);

	if (text) {
		puts(text);
		free(text);
	}
	fflush(stdout);
}

static const char *speed_text(unsigned speed)
{
	switch (speed) {
	case 1:
		return "1.5 Mbps";
	case 2:
		return "12 Mbps";
	case 3:
		return "480 Mbps";
	case 5:
		return "5 Gbps";
	case 6:
		return "10 Gbps";
	default:
		return "unknown speed";
	}
}

/* ---- the local daemon: who holds a lease, what a busid is called ----------------- */

static bool host_is_local(const char *host)
{
	return strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
	       strcmp(host, "::1") == 0;
}

/* One quiet call to the local usblabd; NULL when it does not answer. */
static json_t *daemon_call(const struct client_opts *o, const char *method, json_t *params)
{
	struct ctl c = {.fd = -1};
	char err[256];
	json_t *msg = NULL, *res = NULL;

	if (o->socket_path && ctl_connect(&c, o->socket_path, err, sizeof(err)) == CTL_OK &&
	    ctl_send(&c, 1, method, params, err, sizeof(err)) == CTL_OK &&
	    ctl_read(&c, 5000, &msg, err, sizeof(err)) == CTL_OK)
		res = json_incref(json_object_get(msg, "result"));
	json_decref(msg);
	json_decref(params);
	ctl_close(&c);
	return res;
}

/* Prints who holds the board, when the daemon that serves it is ours to ask
 * (the server is this machine, or --socket names its socket). */
static void say_holder(const struct client_opts *o, const char *host, const char *name)
{
	json_t *r, *lease;
	const char *holder, *expires, *reason;

	if (!host_is_local(host) && !o->socket_given)
		return;
	r = daemon_call(o, "info", json_pack("{s:s}", "name", name));
	lease = json_object_get(json_object_get(r, "board"), "lease");
	holder = json_string_value(json_object_get(lease, "holder"));
	expires = json_string_value(json_object_get(lease, "expires"));
	reason = json_string_value(json_object_get(lease, "reason"));
	if (holder)
		fprintf(stderr, "usblab: %s is leased by %s until %s%s%s%s\n", name, holder,
		        expires ? expires : "?", reason && *reason ? " (" : "",
		        reason && *reason ? reason : "", reason && *reason ? ")" : "");
	json_decref(r);
}

/* ---- attach ------------------------------------------------------------------------ */

/* Drops the records of this name on other ports that vhci has freed (the
 * server let the board go and nobody detached it), so that NAME means the
 * attach just made. */
static void forget_stale(const char *run, const struct attach_record *rec)
{
	struct attach_record *all = calloc(VHCI_MAX_PORTS, sizeof(*all));
	struct vhci_port *ports = calloc(VHCI_MAX_PORTS, sizeof(*ports));
	int n, np;

	if (!all || !ports)
		goto out;
	n = attach_record_list(run, all, VHCI_MAX_PORTS);
	np = vhci_read_ports(vhci_dir(), ports, VHCI_MAX_PORTS);
	for (int i = 0; i < n && np >= 0; i++) {
		int p = vhci_find_port(ports, (unsigned)np, all[i].port);

		if (all[i].port != rec->port && strcmp(all[i].name, rec->name) == 0 &&
		    (p < 0 || ports[p].state == VHCI_ST_NULL))
			attach_record_remove(run, all[i].port);
	}
out:
	free(all);
	free(ports);
}

/* Records the attach and makes the links; warns (only) when it cannot. */
static void remember(const struct attach_record *rec)
{
	const char *run = attach_run_dir();
	int rc = attach_record_save(run, rec);

	if (rc == 0)
		forget_stale(run, rec);
	if (rc < 0)
		fprintf(stderr,
		        "usblab: warning: cannot record the attach in %s/attached: %s "
		        "(detach and attached will not know of it)\n",
		        run, strerror(-rc));
	if (!devfiles_link_dir_ok(rec->name))
		return;
	rc = devfiles_links_update(run, rec->name, rec->files, rec->nfiles);
	if (rc < 0)
		fprintf(stderr, "usblab: warning: cannot make the links in %s/%s: %s\n", run,
		        rec->name, strerror(-rc));
}

static void print_attached(const struct client_opts *o, const struct attach_record *rec,
                           const struct attach_result *res, const char *verb, uint64_t took_ms)
{
	char names[DEVFILES_MAX][16];
	json_t *j;

	if (o->json) {
		j = attach_record_json(rec);
		json_object_set_new(j, "event", json_string(verb));
		if (res) {
			json_object_set_new(j, "import_ms", json_integer(res->import_ms));
			json_object_set_new(j, "enumerate_ms", json_integer(res->enumerate_ms));
			json_object_set_new(j, "drivers_ms", json_integer(res->drivers_ms));
		}
		json_object_set_new(j, "took_ms", json_integer((json_int_t)took_ms));
		print_json(j);
		json_decref(j);
		return;
	}
	printf("%s %s from %s:%s on vhci port %u (%s, %04x:%04x, %s) in %.2f s\n", verb, rec->name,
	       rec->host, rec->tcp_port, rec->port, rec->lbusid, rec->vid, rec->pid,
	       speed_text(rec->speed), (double)took_ms / 1000.0);
	devfiles_link_names(rec->files, rec->nfiles, names);
	for (unsigned i = 0; i < rec->nfiles; i++) {
		if (devfiles_link_dir_ok(rec->name))
			printf("  %-20s %s/%s/%s\n", rec->files[i].path, attach_run_dir(),
			       rec->name, names[i]);
		else
			printf("  %s\n", rec->files[i].path);
	}
	if (rec->nfiles == 0)
		printf("  (no device files: no tty, disk, hidraw or input node appeared)\n");
	if (strcmp(rec->follower, "usblabd") == 0 && strcmp(verb, "attached") == 0)
		printf("  followed by usblabd: re-attached by itself when the server exports it "
		       "again (`usblab events` tells the story)\n");
	fflush(stdout);
}

/* Sleeps up to ms; returns true when SIGTERM, SIGINT or SIGHUP came (they
 * are blocked and taken here, so a follower stops only between steps). */
static bool sleep_or_signal(const sigset_t *set, unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	return sigtimedwait(set, NULL, &ts) > 0;
}

static bool import_refused(int stage, const struct attach_result *res)
{
	return stage == ATTACH_E_IMPORT && (res->ucl_rc == UCL_E_ST(USBIP_ST_NODEV) ||
	                                    res->ucl_rc == UCL_E_ST(USBIP_ST_DEV_BUSY));
}

static int exit_for(int stage, const struct attach_result *res)
{
	if (stage == ATTACH_E_ARG)
		return EXIT_USAGE;
	if (import_refused(stage, res))
		return CLIENT_EXIT_REFUSED;
	if (stage == ATTACH_E_VHCI && res->vhci_rc != VHCI_E_BUSY && res->vhci_rc != VHCI_E_IO)
		return CLIENT_EXIT_NO_VHCI;
	return EXIT_FAILED;
}

static void report_failure(const struct client_opts *o, const struct attach_req *req, int stage,
                           const struct attach_result *res)
{
	char msg[512];

	attach_describe(req, stage, res, msg, sizeof(msg));
	if (o->json) {
		json_t *j = json_pack("{s:{s:s, s:i}}", "error", "message", msg, "exit",
		                      exit_for(stage, res));

		print_json(j);
		json_decref(j);
	}
	fprintf(stderr, "usblab: %s\n", msg);
	if (stage == ATTACH_E_IMPORT && res->ucl_rc == UCL_E_ST(USBIP_ST_DEV_BUSY) && !req->token)
		say_holder(o, req->host, req->what);
}

/*
 * Follows an attached board: when vhci frees its port (the server closed:
 * the board reset or went away), imports it again by name with backoff,
 * re-makes the links and the record, and prints how long it took. Runs
 * until a signal.
 */
static int follow_board(const struct client_opts *o, const struct attach_req *req,
                        struct attach_record *rec, const sigset_t *set)
{
	struct vhci_port ports[VHCI_MAX_PORTS];
	struct attach_result res;
	unsigned backoff, old_port;

	for (;;) {
		int n = vhci_read_ports(vhci_dir(), ports, VHCI_MAX_PORTS);
		int i = n < 0 ? -1 : vhci_find_port(ports, (unsigned)n, rec->port);
		uint64_t lost;

		if (i >= 0 && ports[i].state != VHCI_ST_NULL &&
		    strcmp(ports[i].lbusid, rec->lbusid) == 0) {
			if (sleep_or_signal(set, FOLLOW_POLL_MS))
				break;
			continue;
		}
		lost = attach_now_ms();
		if (o->json) {
			json_t *j = json_pack("{s:s, s:s, s:i}", "event", "lost", "name", rec->name,
			                      "port", (int)rec->port);

			print_json(j);
			json_decref(j);
		} else {
			printf("lost %s (vhci port %u freed); importing it again\n", rec->name,
			       rec->port);
		}
		fflush(stdout);
		/* The record stays meanwhile: `attached` shows the board as
		 * reattaching, and `detach` finds the follower to stop. */
		old_port = rec->port;
		backoff = FOLLOW_BACKOFF_MIN_MS;
		for (;;) {
			int stage = attach_run(req, &res);

			if (stage == ATTACH_OK)
				break;
			if (sleep_or_signal(set, backoff))
				return EXIT_OK;
			backoff = backoff * 2 > FOLLOW_BACKOFF_MAX_MS ? FOLLOW_BACKOFF_MAX_MS
			                                              : backoff * 2;
		}
		attach_record_fill(rec, req->host, req->port, req->what, &res);
		if (rec->port != old_port)
			attach_record_remove(attach_run_dir(), old_port);
		rec->reattaches++;
		rec->follow_pid = (int)getpid();
		remember(rec);
		print_attached(o, rec, &res, "re-attached", attach_now_ms() - lost);
	}
	/* Stopped by a signal: the board stays attached, nobody follows it. */
	rec->follow_pid = 0;
	attach_record_save(attach_run_dir(), rec);
	return EXIT_OK;
}

/* Whether NAME from host:port is attached here already (its record's port
 * still holds the device); fills *rec then. */
static bool attached_here(const char *host, const char *port, const char *name,
                          struct attach_record *rec)
{
	struct attach_record *all = calloc(VHCI_MAX_PORTS, sizeof(*all));
	struct vhci_port *ports = calloc(VHCI_MAX_PORTS, sizeof(*ports));
	bool found = false;
	int n, np;

	if (!all || !ports)
		goto out;
	n = attach_record_list(attach_run_dir(), all, VHCI_MAX_PORTS);
	np = vhci_read_ports(vhci_dir(), ports, VHCI_MAX_PORTS);
	for (int i = 0; i < n && np >= 0 && !found; i++) {
		int p = vhci_find_port(ports, (unsigned)np, all[i].port);

		if (strcmp(all[i].name, name) == 0 && strcmp(all[i].host, host) == 0 &&
		    strcmp(all[i].tcp_port, port) == 0 && p >= 0 &&
		    ports[p].state == VHCI_ST_USED && strcmp(ports[p].lbusid, all[i].lbusid) == 0) {
			*rec = all[i];
			found = true;
		}
	}
out:
	free(all);
	free(ports);
	return found;
}

/* The busid of a board the local usblabd knows by name (for a NAME#TOKEN
 * too long for the import's busid field). Returns 0 or -1. */
static int long_name_busid(const struct client_opts *o, const char *host, const char *name,
                           char *out, size_t cap)
{
	json_t *r;
	const char *busid;
	int rc = -1;

	if (!host_is_local(host) && !o->socket_given)
		return -1;
	r = daemon_call(o, "info", json_pack("{s:s}", "name", name));
	busid = json_string_value(json_object_get(json_object_get(r, "board"), "busid"));
	if (busid && *busid && strlen(busid) < cap) {
		strcpy(out, busid);
		rc = 0;
	}
	json_decref(r);
	return rc;
}

/* o's string member key, or dflt when it is missing or empty. */
static const char *str_or(json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s && *s ? s : dflt;
}

/* ---- handing the attachment to the local usblabd ----------------------------------- */

/*
 * Asks the local usblabd to follow the attachment (attach.adopt). Returns
 * true when it took it; false when no daemon answers (silently) or it
 * refused (said on stderr: the caller follows by itself, if asked to).
 */
static bool hand_over(const struct client_opts *o, struct attach_record *rec, const char *what,
                      const char *token)
{
	struct ctl c = {.fd = -1};
	char err[256];
	json_t *params, *msg = NULL, *e;
	bool took = false;

	if (!o->socket_path || ctl_connect(&c, o->socket_path, err, sizeof(err)) != CTL_OK)
		return false;
	params = json_pack("{s:o, s:s, s:s?}", "record", attach_record_json(rec), "what", what,
	                   "token", token);
	if (params && ctl_send(&c, 1, "attach.adopt", params, err, sizeof(err)) == CTL_OK &&
	    ctl_read(&c, 5000, &msg, err, sizeof(err)) == CTL_OK) {
		e = json_object_get(msg, "error");
		took = json_is_true(json_object_get(json_object_get(msg, "result"), "adopted"));
		/* An older usblabd knows no attach.adopt: nothing to say. */
		if (e && strcmp(str_or(e, "code", ""), "unknown_method") != 0)
			fprintf(stderr, "usblab: note: usblabd does not follow %s: %s\n", rec->name,
			        str_or(e, "message", "?"));
	}
	json_decref(params);
	json_decref(msg);
	ctl_close(&c);
	if (took) {
		snprintf(rec->follower, sizeof(rec->follower), "usblabd");
		rec->follow_pid = 0;
	}
	return took;
}

/* The daemon's view of attachment name (attach.list), or NULL. */
static json_t *daemon_attachment(const struct client_opts *o, const char *name)
{
	json_t *r = daemon_call(o, "attach.list", NULL), *a, *found = NULL;
	size_t i;

	json_array_foreach(json_object_get(r, "attachments"), i, a)
	{
		const char *n = json_string_value(json_object_get(a, "name"));

		if (n && strcmp(n, name) == 0)
			found = json_incref(a);
	}
	json_decref(r);
	return found;
}

/* The client-side kinds a follower prints. */
static bool client_kind(const char *kind)
{
	return strcmp(kind, "server-gone") == 0 || strcmp(kind, "board-reenumerated") == 0 ||
	       strcmp(kind, "re-attached") == 0 || strcmp(kind, "detached") == 0 ||
	       strcmp(kind, "error") == 0;
}

/*
 * attach --follow when usblabd follows the board: prints the daemon's
 * events for it as the follower process would (lost, re-attached with
 * the time taken), until a signal or its detached event. The daemon does
 * the work; stopping this leaves the daemon following.
 */
static int follow_daemon(const struct client_opts *o, struct attach_record *rec,
                         const sigset_t *set)
{
	struct ctl c = {.fd = -1};
	char err[256];
	json_t *params = json_pack("{s:s}", "board", rec->name), *msg = NULL;
	struct timespec zero = {0};
	int rc = EXIT_OK;

	if (ctl_connect(&c, o->socket_path, err, sizeof(err)) != CTL_OK ||
	    ctl_send(&c, 1, "events.follow", params, err, sizeof(err)) != CTL_OK) {
		fprintf(stderr, "usblab: following through usblabd: %s\n", err);
		rc = EXIT_FAILED;
		goto out;
	}
	for (;;) {
		json_t *ev, *a;
		const char *kind, *detail;
		bool done;
		int r;

		if (sigtimedwait(set, NULL, &zero) > 0)
			break;
		r = ctl_read(&c, 200, &msg, err, sizeof(err));
		if (r == CTL_E_TIMEOUT)
			continue;
		if (r != CTL_OK) {
			fprintf(stderr, "usblab: usblabd: %s (it still follows %s if it runs)\n",
			        err, rec->name);
			rc = EXIT_FAILED;
			break;
		}
		ev = json_object_get(msg, "event");
		kind = json_string_value(json_object_get(ev, "kind"));
		detail = json_string_value(json_object_get(ev, "detail"));
		if (!kind || !client_kind(kind)) {
			json_decref(msg);
			msg = NULL;
			continue;
		}
		if (strcmp(kind, "re-attached") == 0 &&
		    (a = daemon_attachment(o, rec->name)) != NULL) {
			attach_record_from_json(a, rec);
			print_attached(
			        o, rec, NULL, "re-attached",
			        (uint64_t)json_integer_value(json_object_get(a, "last_took_ms")));
			json_decref(a);
		} else if (o->json) {
			json_t *j = json_pack("{s:s, s:s, s:s, s:i, s:s}", "event",
			                      strcmp(kind, "detached") == 0 ? kind : "lost", "kind",
			                      kind, "name", rec->name, "port", (int)rec->port,
			                      "detail", detail ? detail : "");

			print_json(j);
			json_decref(j);
		} else {
			printf("%s %s: %s\n", kind, rec->name, detail ? detail : "");
			fflush(stdout);
		}
		done = strcmp(kind, "detached") == 0; /* kind is msg's */
		json_decref(msg);
		msg = NULL;
		if (done)
			break;
	}
out:
	json_decref(msg);
	json_decref(params);
	ctl_close(&c);
	return rc;
}

int client_attach(const struct client_opts *o, const char *server, const char *what)
{
	char host[256], port[16], name[64], busid[USBIP_BUSID_SIZE], field[96];
	struct attach_req req = {0};
	struct attach_result res;
	struct attach_record rec = {0};
	const char *hash = strchr(what, '#');
	int64_t deadline = o->timeout_s >= 0 ? wall_ms() + o->timeout_s * 1000 : INT64_MAX;
	uint64_t t0 = attach_now_ms();
	bool said_waiting = false, adopted;
	sigset_t set;
	int stage;

	if (attach_split_server(server, host, sizeof(host), port, sizeof(port)) < 0) {
		fprintf(stderr, "usblab: '%s' is not HOST[:PORT]\n", server);
		return EXIT_USAGE;
	}
	/* NAME#TOKEN may come in one word, as stock usbip takes it. */
	snprintf(name, sizeof(name), "%.*s", hash ? (int)(hash - what) : (int)strlen(what), what);
	if (!*name) {
		fprintf(stderr, "usblab: '%s' names no board\n", what);
		return EXIT_USAGE;
	}
	if (hash && o->token) {
		fprintf(stderr, "usblab: give NAME#TOKEN or NAME --token TOKEN, not both\n");
		return EXIT_USAGE;
	}
	if (attached_here(host, port, name, &rec)) {
		/* The server would only say "busy": we are the other client. */
		fprintf(stderr,
		        "usblab: %s from %s:%s is attached here already, on vhci port %u since %s "
		        "(`usblab detach %s` first)\n",
		        name, host, port, rec.port, rec.since, name);
		return EXIT_FAILED;
	}
	memset(&rec, 0, sizeof(rec));
	req.host = host;
	req.port = port;
	req.what = name;
	req.vhci_dir = vhci_dir();
	req.sysroot = sysroot();
	req.token = hash ? hash + 1 : o->token;
	/* NAME#TOKEN over 31 bytes: BUSID#TOKEN, as checkout's import_as
	 * says, when the daemon that serves it is ours to ask. */
	if (req.token && attach_busid_field(field, sizeof(field), name, req.token) < 0 &&
	    long_name_busid(o, host, name, busid, sizeof(busid)) == 0)
		req.what = busid;
	/* Signals are taken synchronously (sigtimedwait): a follower
	 * finishes the step it is in, then records that it stopped. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (o->follow)
		sigprocmask(SIG_BLOCK, &set, NULL);
	for (;;) {
		stage = attach_run(&req, &res);
		if (stage == ATTACH_OK)
			break;
		/* --wait: the board is absent or someone else has it. */
		if (!o->wait || !import_refused(stage, &res)) {
			report_failure(o, &req, stage, &res);
			return exit_for(stage, &res);
		}
		if (wall_ms() + WAIT_RETRY_MS > deadline) {
			fprintf(stderr, "usblab: gave up waiting for %s after %lld s\n", name,
			        o->timeout_s);
			report_failure(o, &req, stage, &res);
			return EXIT_TIMEOUT;
		}
		if (!said_waiting) {
			char msg[512];

			attach_describe(&req, stage, &res, msg, sizeof(msg));
			fprintf(stderr, "usblab: waiting: %s\n", msg);
			if (res.ucl_rc == UCL_E_ST(USBIP_ST_DEV_BUSY) && !req.token)
				say_holder(o, host, name);
			said_waiting = true;
		}
		if (o->follow && sleep_or_signal(&set, WAIT_RETRY_MS))
			return EXIT_FAILED;
		if (!o->follow)
			usleep(WAIT_RETRY_MS * 1000);
	}
	attach_record_fill(&rec, host, port, name, &res);
	rec.follow_pid = o->follow ? (int)getpid() : 0;
	remember(&rec);
	/* The local usblabd follows it when one runs (its record then says
	 * so); else --follow makes this process the follower. */
	adopted = hand_over(o, &rec, req.what, req.token);
	print_attached(o, &rec, &res, "attached", attach_now_ms() - t0);
	if (!o->follow)
		return EXIT_OK;
	if (adopted)
		return follow_daemon(o, &rec, &set);
	return follow_board(o, &req, &rec, &set);
}

/* ---- detach ------------------------------------------------------------------------ */

/* A follower that exited stays a zombie until its parent (a shell that
 * started it with &) reaps it: kill(pid, 0) still succeeds then, so the
 * state letter in /proc/PID/stat decides. */
static bool pid_alive(int pid)
{
	char path[64], buf[256], *paren;
	FILE *f;
	size_t n;

	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (!(f = fopen(path, "r")))
		return true;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	paren = strrchr(buf, ')');
	return !(paren && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X'));
}

/* Finds the record for NAME or PORT; returns 0 with *rec, or -1. */
static int find_record(const char *what, struct attach_record *rec)
{
	struct attach_record *all = calloc(VHCI_MAX_PORTS, sizeof(*all));
	char *end;
	unsigned long port = strtoul(what, &end, 10);
	int n, found = -1;

	if (!all)
		return -1;
	n = attach_record_list(attach_run_dir(), all, VHCI_MAX_PORTS);
	for (int i = 0; i < n && found < 0; i++)
		if (strcmp(all[i].name, what) == 0 || (*what && !*end && all[i].port == port))
			found = i;
	if (found >= 0)
		*rec = all[found];
	free(all);
	return found >= 0 ? 0 : -1;
}

int client_detach(const struct client_opts *o, const char *what)
{
	struct attach_record rec;
	char *end;
	unsigned long port = strtoul(what, &end, 10);
	bool have = find_record(what, &rec) == 0;
	uint64_t deadline;
	int rc;

	if (!have && (!*what || *end)) {
		fprintf(stderr,
		        "usblab: nothing called '%s' is attached here (`usblab attached` lists "
		        "what is)\n",
		        what);
		return EXIT_FAILED;
	}
	if (have) {
		port = rec.port;
		/* The follower first, or it would import the board again:
		 * usblabd is told to drop it (never signalled). */
		if (strcmp(rec.follower, "usblabd") == 0) {
			json_t *r =
			        daemon_call(o, "attach.drop", json_pack("{s:s}", "name", rec.name));

			if (!r)
				fprintf(stderr,
				        "usblab: warning: usblabd did not answer attach.drop for "
				        "%s "
				        "(if it still runs, it may attach it again)\n",
				        rec.name);
			json_decref(r);
			if (find_record(rec.name, &rec) == 0)
				port = rec.port;
		} else if (pid_alive(rec.follow_pid)) {
			kill(rec.follow_pid, SIGTERM);
			deadline = attach_now_ms() + 5000;
			while (pid_alive(rec.follow_pid) && attach_now_ms() < deadline)
				usleep(20000);
			/* It may have re-attached on another port meanwhile. */
			if (find_record(rec.name, &rec) == 0)
				port = rec.port;
		}
	}
	rc = vhci_detach(vhci_dir(), (unsigned)port);
	if (rc < 0 && rc != VHCI_E_ARG) {
		fprintf(stderr, "usblab: detaching vhci port %lu: %s%s\n", port, vhci_strerror(rc),
		        rc == VHCI_E_MISSING ? " (`sudo modprobe vhci-hcd`)" : "");
		return rc == VHCI_E_PERM || rc == VHCI_E_MISSING ? CLIENT_EXIT_NO_VHCI
		                                                 : EXIT_FAILED;
	}
	if (have) {
		attach_record_remove(attach_run_dir(), (unsigned)port);
		if (devfiles_link_dir_ok(rec.name))
			devfiles_links_remove(attach_run_dir(), rec.name);
	}
	if (rc == VHCI_E_ARG && !have) {
		fprintf(stderr, "usblab: vhci port %lu is not in use\n", port);
		return EXIT_FAILED;
	}
	if (o->json) {
		json_t *j = json_pack("{s:s, s:i, s:b}", "name", have ? rec.name : "", "port",
		                      (int)port, "detached", rc == 0);

		print_json(j);
		json_decref(j);
	} else {
		printf("detached %s%svhci port %lu%s\n", have ? rec.name : "", have ? " from " : "",
		       port, rc == 0 ? "" : " (the server had already let it go)");
	}
	return EXIT_OK;
}

/* ---- attached ---------------------------------------------------------------------- */

/* "attached" while vhci still holds the device, "following" when a
 * follower is re-importing it, else "gone". */
static const char *record_state(const struct attach_record *r, const struct vhci_port *ports, int n)
{
	int i = n < 0 ? -1 : vhci_find_port(ports, (unsigned)n, r->port);

	if (i >= 0 && ports[i].state == VHCI_ST_USED && strcmp(ports[i].lbusid, r->lbusid) == 0)
		return "attached";
	return pid_alive(r->follow_pid) ? "reattaching" : "gone";
}

int client_attached(const struct client_opts *o)
{
	struct attach_record *all = calloc(VHCI_MAX_PORTS, sizeof(*all));
	struct vhci_port *ports = calloc(VHCI_MAX_PORTS, sizeof(*ports));
	json_t *arr = json_array();
	int n, np;

	if (!all || !ports || !arr) {
		free(all);
		free(ports);
		json_decref(arr);
		fputs("usblab: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	n = attach_record_list(attach_run_dir(), all, VHCI_MAX_PORTS);
	np = vhci_read_ports(vhci_dir(), ports, VHCI_MAX_PORTS);
	if (!o->json && n == 0)
		puts("nothing attached (usblab attach HOST NAME)");
	else if (!o->json)
		printf("%-5s %-16s %-22s %-24s %-11s %s\n", "PORT", "NAME", "FROM", "SINCE",
		       "STATE", "DEVICES");
	for (int i = 0; i < n; i++) {
		struct attach_record *r = &all[i];
		const char *state = record_state(r, ports, np);
		char from[300], devs[DEVFILES_MAX * 66] = "";
		size_t len = 0;
		int nf;

		/* The device files now (a disk may have come since). */
		if (strcmp(state, "attached") == 0 &&
		    (nf = devfiles_find(sysroot(), r->lbusid, r->files, DEVFILES_MAX)) >= 0)
			r->nfiles = (unsigned)nf < DEVFILES_MAX ? (unsigned)nf : DEVFILES_MAX;
		if (o->json) {
			json_t *j = attach_record_json(r);

			json_object_set_new(j, "state", json_string(state));
			json_array_append_new(arr, j);
			continue;
		}
		snprintf(from, sizeof(from), "%s:%s", r->host, r->tcp_port);
		for (unsigned f = 0; f < r->nfiles && len < sizeof(devs); f++)
			len += (size_t)snprintf(devs + len, sizeof(devs) - len, "%s%s",
			                        f ? "," : "", r->files[f].path);
		printf("%-5u %-16s %-22s %-24s %-11s %s\n", r->port, r->name, from, r->since, state,
		       *devs ? devs : "-");
	}
	if (o->json) {
		json_t *j = json_pack("{s:o}", "attached", arr);

		print_json(j);
		json_decref(j);
	} else {
		json_decref(arr);
	}
	free(all);
	free(ports);
	return EXIT_OK;
}

/* ---- remote list ------------------------------------------------------------------- */

/* The HTTP port of a usblabd's API: $USBLAB_REMOTE_HTTP_PORT, else 3241. */
static const char *remote_http_port(void)
{
	const char *env = getenv("USBLAB_REMOTE_HTTP_PORT");

	return env && *env ? env : REMOTE_API_PORT;
}

/* The board of boards[] with this busid, or NULL. */
static json_t *board_of_busid(json_t *boards, const char *busid)
{
	size_t i;
	json_t *b;

	json_array_foreach(boards, i, b)
	{
		const char *bus = json_string_value(json_object_get(b, "busid"));

		if (bus && *bus && strcmp(bus, busid) == 0)
			return b;
	}
	return NULL;
}

/* One row of the listing. Fields may be "" (printed "-"). */
struct remote_row {
	const char *server, *host, *port, *busid, *name, *type, *state, *holder, *imported_by;
	const char *source, *path;
	char vp[10], cls[8];
	int speed; /* usb_device_speed, or -1 unknown */
};

static const char *dash(const char *s)
{
	return s && *s ? s : "-";
}

static void remote_row_print(const struct client_opts *o, json_t *out, const struct remote_row *r)
{
	if (o->json) {
		json_array_append_new(
		        out,
		        json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, "
		                  "s:s, s:s}",
		                  "host", r->host, "port", r->port, "busid", r->busid, "name",
		                  r->name, "type", r->type, "state", r->state, "holder", r->holder,
		                  "imported_by", r->imported_by, "vid_pid", r->vp, "speed",
		                  r->speed, "class", r->cls, "path", r->path, "source", r->source));
		return;
	}
	printf("%-22s %-10s %-16s %-10s %-9s %-20s %-9s %-9s %s\n", r->server, dash(r->busid),
	       dash(r->name), dash(r->type), dash(r->state), dash(r->holder), dash(r->vp),
	       r->speed >= 0 ? speed_text((unsigned)r->speed) : "-", dash(r->path));
}

int client_remote_list(const struct client_opts *o, const char *const *hosts, int nhosts)
{
	struct ucl_device *devs = calloc(USBIP_MAX_DEVLIST, sizeof(*devs));
	json_t *out = json_array();
	int rc = EXIT_OK;
	bool header = false;

	if (!devs || !out) {
		free(devs);
		json_decref(out);
		fputs("usblab: out of memory\n", stderr);
		return EXIT_FAILED;
	}
	for (int h = 0; h < nhosts; h++) {
		char host[256], port[16], herr[256];
		unsigned n = 0;
		json_t *boards = NULL, *list = NULL, *b;
		const char *source = "devlist";
		bool *shown = NULL;
		size_t bi;
		int r;

		if (attach_split_server(hosts[h], host, sizeof(host), port, sizeof(port)) < 0) {
			fprintf(stderr, "usblab: '%s' is not HOST[:PORT]\n", hosts[h]);
			rc = EXIT_USAGE;
			continue;
		}
		r = ucl_devlist(host, port, devs, USBIP_MAX_DEVLIST, &n);
		if (r < 0) {
			fprintf(stderr, "usblab: %s:%s: %s\n", host, port, ucl_strerror(r));
			rc = EXIT_FAILED;
			continue;
		}
		if (n > USBIP_MAX_DEVLIST)
			n = USBIP_MAX_DEVLIST;
		/* Names, types, states and holders: the server's HTTP API when it
		 * is a usblabd that answers there; a usblabd on this machine
		 * over its control socket; else what DEVLIST's paths say. */
		if (remote_api_boards(host, remote_http_port(), 2000, &boards, herr,
		                      sizeof(herr)) == 0) {
			source = "api";
		} else if (host_is_local(host) || o->socket_given) {
			list = daemon_call(o, "list", NULL);
			boards = json_incref(json_object_get(list, "boards"));
			if (boards)
				source = "control";
		}
		if (!o->json && !header) {
			printf("%-22s %-10s %-16s %-10s %-9s %-20s %-9s %-9s %s\n", "SERVER",
			       "BUSID", "NAME", "TYPE", "STATE", "HOLDER", "VID:PID", "SPEED",
			       "PATH");
			header = true;
		}
		shown = calloc(json_array_size(boards) + 1, sizeof(*shown));
		for (unsigned i = 0; i < n; i++) {
			const struct usbip_usb_device *d = &devs[i].info;
			struct remote_row row = {.server = hosts[h],
			                         .host = host,
			                         .port = port,
			                         .busid = d->busid,
			                         .source = source,
			                         .speed = (int)d->speed};
			char dname[64], dholder[96], dpath[256];
			json_t *bd = board_of_busid(boards, d->busid);

			remote_devlist_path(d->path, dname, sizeof(dname), dholder, sizeof(dholder),
			                    dpath, sizeof(dpath));
			snprintf(row.vp, sizeof(row.vp), "%04x:%04x", d->idVendor, d->idProduct);
			snprintf(
			        row.cls, sizeof(row.cls), "%02x",
			        d->bDeviceClass
			                ? d->bDeviceClass
			                : (d->bNumInterfaces ? devs[i].ifs[0].bInterfaceClass : 0));
			row.path = dpath;
			row.name = bd && strcmp(str_or(bd, "name", ""), d->busid) != 0
			                   ? str_or(bd, "name", "")
			                   : dname;
			row.type = bd ? str_or(bd, "type", "") : "";
			row.state = bd ? str_or(bd, "state", "exported") : "exported";
			row.holder =
			        bd ? str_or(json_object_get(bd, "lease"), "holder", "") : dholder;
			row.imported_by = bd ? str_or(bd, "imported_by", "") : "";
			if (!bd)
				row.source = "devlist";
			if (bd && shown) {
				json_array_foreach(boards, bi, b) if (b == bd) shown[bi] = true;
			}
			remote_row_print(o, out, &row);
		}
		/* Boards the server knows but does not offer now (absent,
		 * imported, leased): only its API can tell of them. */
		json_array_foreach(boards, bi, b)
		{
			struct remote_row row = {.server = hosts[h],
			                         .host = host,
			                         .port = port,
			                         .source = source,
			                         .speed = -1,
			                         .path = ""};

			if ((shown && shown[bi]) || strcmp(source, "api") != 0)
				continue;
			row.busid = str_or(b, "busid", "");
			row.name = str_or(b, "name", "");
			row.type = str_or(b, "type", "");
			row.state = str_or(b, "state", "");
			row.holder = str_or(json_object_get(b, "lease"), "holder", "");
			row.imported_by = str_or(b, "imported_by", "");
			if (strcmp(str_or(b, "vid", "0000"), "0000") != 0)
				snprintf(row.vp, sizeof(row.vp), "%s:%s", str_or(b, "vid", "0000"),
				         str_or(b, "pid", "0000"));
			remote_row_print(o, out, &row);
		}
		if (!o->json && n == 0 && json_array_size(boards) == 0)
			printf("%-22s (exports nothing)\n", hosts[h]);
		free(shown);
		json_decref(boards);
		json_decref(list);
	}
	if (o->json) {
		json_t *j = json_pack("{s:o}", "devices", out);

		print_json(j);
		json_decref(j);
	} else {
		json_decref(out);
	}
	free(devs);
	return rc;
}
