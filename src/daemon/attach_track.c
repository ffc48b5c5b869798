/* SPDX-License-Identifier: MIT */
/*
 * attach_track.c - the attachments the local usblabd follows
 * (attach_track.h).
 *
 * One `struct att` per attachment. Its states: UP (vhci holds the device;
 * the poll timer checks the port table) and LOST (the port was freed; a
 * re-import is in flight on the attachment's worker, or waits for its
 * backoff timer). At most one job per attachment is in flight (busy), and
 * the job is embedded in the att, which is not freed before its done().
 */
#include "attach_track.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attach.h"
#include "devfiles.h"
#include "offload.h"
#include "ucl.h"
#include "ul_log.h"
#include "vhci.h"

enum att_state {
	ATT_UP,
	ATT_LOST,
};

enum att_op {
	JOB_ATTACH, /* attach_run, then the record and the links */
	JOB_SAVE,   /* the record and the links of an adopted attachment */
	JOB_DETACH, /* vhci detach, record and links removed (a drop raced a re-import) */
};

struct att;

struct att_job {
	struct offload_job base; /* first: offload hands this pointer back */
	struct att *a;
	enum att_op op;
	struct attach_req req;
	struct attach_result res;
	int stage;
	struct attach_record rec; /* in: the record now; out: the new one (ATTACH) */
	atomic_int imported;      /* the server accepted the import (ATTACH) */
	int save_rc, link_rc;
};

struct att {
	struct attach_track *at;
	struct attach_record rec;
	char what[USBIP_BUSID_SIZE];
	char token[40];
	char peer[300]; /* "HOST:PORT" */
	enum att_state state;
	bool busy;    /* job in flight */
	bool dropped; /* no longer followed; freed once its job is done */
	bool dead;    /* dropped and done: the reap event frees it */
	struct offload *off;
	struct event *retry;
	struct event *silent; /* reports a server that does not answer */
	struct att_job job;

	uint64_t lost_at; /* monotonic ms when the loss was seen */
	unsigned backoff_ms;
	unsigned attempts; /* re-imports since the loss */
	int reported;      /* the kind this outage reported (0: none yet) */
	char last_error[256];
	unsigned last_took_ms; /* the last re-attach: port freed -> files listed */

	struct att *next;
};

struct attach_track {
	struct event_base *base;
	struct tracker *t;
	char vhci_dir[256], sysroot[256], run_dir[256];
	struct event *poll;
	struct event *reap; /* frees dead atts outside their offload's done() */
	bool polling, closing;
	struct vhci_port *ports; /* VHCI_MAX_PORTS: the poll's scratch */
	struct att *list;
};

const char *attach_track_strerror(int err)
{
	switch (err) {
	case ATTACH_TRACK_OK:
		return "ok";
	case ATTACH_TRACK_E_ARG:
		return "bad argument";
	case ATTACH_TRACK_E_NOTHERE:
		return "vhci does not hold that device";
	case ATTACH_TRACK_E_VHCI:
		return "this daemon cannot write vhci-hcd's attach file";
	case ATTACH_TRACK_E_DUP:
		return "followed already";
	case ATTACH_TRACK_E_UNKNOWN:
		return "no such attachment";
	case ATTACH_TRACK_E_NOMEM:
		return "out of memory";
	default:
		return "unknown error";
	}
}

/* ---- events ------------------------------------------------------------------- */

static uint32_t speed_mbps(unsigned speed)
{
	static const uint32_t mbps[] = {0, 1, 12, 480, 480, 5000, 10000, 20000};

	return speed < sizeof(mbps) / sizeof(mbps[0]) ? mbps[speed] : 0;
}

/* The event's device facts: the local busid and the files as they are. */
static void att_facts(const struct att *a, struct ul_devfacts *dev)
{
	size_t len = 0;

	memset(dev, 0, sizeof(*dev));
	dev->vid = a->rec.vid;
	dev->pid = a->rec.pid;
	dev->speed_mbps = speed_mbps(a->rec.speed);
	UL_COPY(dev->busid, a->rec.lbusid);
	for (unsigned i = 0; i < a->rec.nfiles && len < sizeof(dev->devnodes); i++)
		len += (size_t)snprintf(dev->devnodes + len, sizeof(dev->devnodes) - len, "%s%s",
		                        i ? " " : "", a->rec.files[i].path);
}

static void att_event(struct att *a, enum ul_event_kind kind, const char *detail)
{
	struct ul_devfacts dev;

	att_facts(a, &dev);
	tracker_client_event(a->at->t, kind, a->rec.name, a->peer, detail, &dev);
}

/* DEVFILES, when there are any. */
static void att_event_files(struct att *a)
{
	char detail[128];

	if (a->rec.nfiles == 0)
		return;
	snprintf(detail, sizeof(detail), "%u device file(s) for %s on vhci port %u", a->rec.nfiles,
	         a->rec.lbusid, a->rec.port);
	att_event(a, UL_EV_DEVFILES, detail);
}

/* ---- jobs (run on the attachment's worker) ------------------------------------------ */

static void job_run(struct offload_job *base)
{
	struct att_job *j = (struct att_job *)base;
	const char *run = j->a->at->run_dir;
	unsigned old_port = j->rec.port;

	j->save_rc = j->link_rc = 0;
	switch (j->op) {
	case JOB_ATTACH:
		j->stage = attach_run(&j->req, &j->res);
		if (j->stage != ATTACH_OK)
			return;
		attach_record_fill(&j->rec, j->req.host, j->req.port, j->rec.name, &j->res);
		j->rec.reattaches++;
		if (j->rec.port != old_port)
			attach_record_remove(run, old_port);
		break;
	case JOB_SAVE:
		break;
	case JOB_DETACH:
		vhci_detach(j->req.vhci_dir, j->rec.port);
		attach_record_remove(run, j->rec.port);
		if (devfiles_link_dir_ok(j->rec.name))
			devfiles_links_remove(run, j->rec.name);
		return;
	}
	j->save_rc = attach_record_save(run, &j->rec);
	if (j->save_rc == 0)
		j->save_rc = attach_follow_save(run, j->rec.port, j->req.what, j->req.token);
	if (devfiles_link_dir_ok(j->rec.name))
		j->link_rc = devfiles_links_update(run, j->rec.name, j->rec.files, j->rec.nfiles);
}

static void job_done(struct offload_job *base);

static void att_submit(struct att *a, enum att_op op)
{
	struct att_job *j = &a->job;

	memset(j, 0, sizeof(*j));
	j->base.run = job_run;
	j->base.done = job_done;
	j->a = a;
	j->op = op;
	j->rec = a->rec;
	j->req.host = a->rec.host;
	j->req.port = a->rec.tcp_port;
	j->req.what = a->what;
	j->req.token = a->token[0] ? a->token : NULL;
	j->req.vhci_dir = a->at->vhci_dir;
	j->req.sysroot = a->at->sysroot;
	atomic_init(&j->imported, 0);
	j->req.imported = &j->imported;
	a->busy = true;
	if (offload_submit(a->off, &j->base) < 0) {
		/* No thread: try again on the timer rather than block here. */
		a->busy = false;
		ul_error("attach", "%s: no worker thread for the re-import; retrying", a->rec.name);
		if (op == JOB_ATTACH) {
			struct timeval tv = {.tv_sec = 1};

			evtimer_add(a->retry, &tv);
		}
	}
}

static void att_free(struct att *a)
{
	offload_free(a->off);
	if (a->retry)
		event_free(a->retry);
	if (a->silent)
		event_free(a->silent);
	free(a);
}

static void track_unlink(struct attach_track *at, struct att *a)
{
	for (struct att **p = &at->list; *p; p = &(*p)->next) {
		if (*p == a) {
			*p = a->next;
			break;
		}
	}
	if (!at->list && at->polling) {
		evtimer_del(at->poll);
		at->polling = false;
	}
}

/* Whether the server answered the import (it refused: the board is not
 * offered right now) rather than not being reachable at all. */
static bool server_answered(int stage, int ucl_rc)
{
	return stage == ATTACH_E_IMPORT && ucl_rc <= UCL_E_ST_BASE && ucl_rc >= UCL_E_ST_OTHER;
}

static void att_schedule_retry(struct att *a)
{
	uint64_t since = attach_now_ms() - a->lost_at;
	struct timeval tv;

	if (since < ATTACH_TRACK_FAST_FOR_MS) {
		a->backoff_ms = ATTACH_TRACK_FAST_MS;
	} else {
		a->backoff_ms = a->backoff_ms * 2;
		if (a->backoff_ms > ATTACH_TRACK_SLOW_MS)
			a->backoff_ms = ATTACH_TRACK_SLOW_MS;
	}
	tv.tv_sec = a->backoff_ms / 1000;
	tv.tv_usec = (a->backoff_ms % 1000) * 1000;
	evtimer_add(a->retry, &tv);
}

static void att_attach_failed(struct att *a, const struct att_job *j)
{
	struct attach_req req = j->req;
	enum ul_event_kind kind;
	char why[200], detail[256];
	uint64_t since = attach_now_ms() - a->lost_at;

	attach_describe(&req, j->stage, &j->res, why, sizeof(why));
	snprintf(a->last_error, sizeof(a->last_error), "%s", why);
	if (server_answered(j->stage, j->res.ucl_rc))
		kind = UL_EV_BOARD_REENUMERATED;
	else if (j->stage == ATTACH_E_IMPORT)
		kind = UL_EV_SERVER_GONE;
	else
		kind = UL_EV_ERROR;
	/* One event per outage and cause: a board that stays away is not
	 * reported again at every attempt. */
	if (a->reported != (int)kind) {
		snprintf(detail, sizeof(detail),
		         "vhci port %u freed %llu ms ago; attempt %u: %.180s; retrying",
		         a->rec.port, (unsigned long long)since, a->attempts, why);
		att_event(a, kind, detail);
		a->reported = (int)kind;
	}
	att_schedule_retry(a);
}

static void att_attach_done(struct att *a, struct att_job *j)
{
	unsigned old_port = a->rec.port;
	char detail[256];

	a->rec = j->rec;
	a->last_took_ms = (unsigned)(attach_now_ms() - a->lost_at);
	a->last_error[0] = 0;
	a->state = ATT_UP;
	evtimer_del(a->silent);
	if (!a->reported) {
		snprintf(detail, sizeof(detail),
		         "vhci port %u freed; %.160s offered %s again at the first import",
		         old_port, a->peer, a->what);
		att_event(a, UL_EV_BOARD_REENUMERATED, detail);
	}
	snprintf(detail, sizeof(detail),
	         "vhci port %u (%s) %u ms after port %u was freed, attempt %u; import %u ms, "
	         "enumeration %u ms, drivers %u ms",
	         a->rec.port, a->rec.lbusid, a->last_took_ms, old_port, a->attempts,
	         j->res.import_ms, j->res.enumerate_ms, j->res.drivers_ms);
	att_event(a, UL_EV_REATTACHED, detail);
	att_event_files(a);
	if (j->save_rc < 0 || j->link_rc < 0)
		ul_warn("attach", "%s: record or links in %s: %s", a->rec.name, a->at->run_dir,
		        strerror(-(j->save_rc < 0 ? j->save_rc : j->link_rc)));
}

static void job_done(struct offload_job *base)
{
	struct att_job *j = (struct att_job *)base;
	struct att *a = j->a;
	struct attach_track *at = a->at;

	a->busy = false;
	if (at->closing)
		return; /* attach_track_free frees a after the drain */
	if (a->dropped) {
		/* A re-import finished after the drop: nobody wants it. */
		if (j->op == JOB_ATTACH && j->stage == ATTACH_OK) {
			a->rec = j->rec;
			att_submit(a, JOB_DETACH);
			if (a->busy)
				return;
		}
		/* Not here: done() must not free its own offload. */
		a->dead = true;
		event_active(at->reap, EV_TIMEOUT, 0);
		return;
	}
	switch (j->op) {
	case JOB_ATTACH:
		a->attempts++;
		if (j->stage == ATTACH_OK)
			att_attach_done(a, j);
		else
			att_attach_failed(a, j);
		break;
	case JOB_SAVE:
		if (j->save_rc < 0 || j->link_rc < 0)
			ul_warn("attach", "%s: record or links in %s: %s", a->rec.name, at->run_dir,
			        strerror(-(j->save_rc < 0 ? j->save_rc : j->link_rc)));
		break;
	case JOB_DETACH:
		break;
	}
}

/* ---- the loop's side --------------------------------------------------------- */

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
	struct att *a = arg;

	(void)fd;
	(void)what;
	if (!a->busy && !a->dropped && a->state == ATT_LOST)
		att_submit(a, JOB_ATTACH);
}

static void on_reap(evutil_socket_t fd, short what, void *arg)
{
	struct attach_track *at = arg;

	(void)fd;
	(void)what;
	for (struct att *a = at->list, *next; a; a = next) {
		next = a->next;
		if (a->dead) {
			track_unlink(at, a);
			att_free(a);
		}
	}
}

static void on_silent(evutil_socket_t fd, short what, void *arg)
{
	struct att *a = arg;
	char detail[256];

	(void)fd;
	(void)what;
	/* An import the server accepted is no silence: enumeration under
	 * a slow kernel may take longer than this. */
	if (a->dropped || a->state != ATT_LOST || a->reported ||
	    (a->busy && atomic_load(&a->job.imported)))
		return;
	snprintf(detail, sizeof(detail),
	         "vhci port %u freed %u ms ago; %.180s has not answered the import since",
	         a->rec.port, (unsigned)(attach_now_ms() - a->lost_at), a->peer);
	att_event(a, UL_EV_SERVER_GONE, detail);
	a->reported = UL_EV_SERVER_GONE;
}

/* The port was freed (or holds another device): the server closed the
 * connection, or keepalive gave up on it. */
static void att_lost(struct att *a)
{
	a->state = ATT_LOST;
	a->lost_at = attach_now_ms();
	a->attempts = 0;
	a->reported = 0;
	a->backoff_ms = ATTACH_TRACK_FAST_MS;
	ul_info("attach", "%s: vhci port %u freed; importing it again from %s", a->rec.name,
	        a->rec.port, a->peer);
	{
		struct timeval tv = {.tv_sec = ATTACH_TRACK_SILENT_MS / 1000,
		                     .tv_usec = (ATTACH_TRACK_SILENT_MS % 1000) * 1000};

		evtimer_add(a->silent, &tv);
	}
	att_submit(a, JOB_ATTACH);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
	struct attach_track *at = arg;
	int n;

	(void)fd;
	(void)what;
	/* vhci's status files are a few lines under a spinlock: reading them
	 * does not block the loop. */
	n = vhci_read_ports(at->vhci_dir, at->ports, VHCI_MAX_PORTS);
	for (struct att *a = at->list, *next; a; a = next) {
		int i;

		next = a->next;
		if (a->state != ATT_UP || a->busy || a->dropped)
			continue;
		if (n < 0) /* vhci-hcd went away (rmmod): its ports with it */
			i = -1;
		else
			i = vhci_find_port(at->ports, (unsigned)n, a->rec.port);
		if (i >= 0 && at->ports[i].state != VHCI_ST_NULL &&
		    strcmp(at->ports[i].lbusid, a->rec.lbusid) == 0)
			continue;
		att_lost(a);
	}
}

/* ---- the API ----------------------------------------------------------------- */

static void copy_dir(char *out, size_t cap, const char *given, const char *env, const char *dflt)
{
	const char *e = env ? getenv(env) : NULL;

	snprintf(out, cap, "%s", given ? given : e && *e ? e : dflt);
}

struct attach_track *attach_track_new(struct event_base *base, struct tracker *t,
                                      const char *vhci_dir, const char *sysroot,
                                      const char *run_dir)
{
	struct attach_track *at = calloc(1, sizeof(*at));

	if (!at)
		return NULL;
	at->base = base;
	at->t = t;
	copy_dir(at->vhci_dir, sizeof(at->vhci_dir), vhci_dir, "USBLAB_VHCI_DIR", VHCI_SYSFS_DIR);
	copy_dir(at->sysroot, sizeof(at->sysroot), sysroot, "USBLAB_SYSROOT", "/sys");
	copy_dir(at->run_dir, sizeof(at->run_dir), run_dir, NULL, attach_run_dir());
	at->ports = calloc(VHCI_MAX_PORTS, sizeof(*at->ports));
	at->poll = event_new(base, -1, EV_PERSIST, on_poll, at);
	at->reap = event_new(base, -1, 0, on_reap, at);
	if (!at->ports || !at->poll || !at->reap) {
		attach_track_free(at);
		return NULL;
	}
	return at;
}

void attach_track_free(struct attach_track *at)
{
	if (!at)
		return;
	at->closing = true;
	while (at->list) {
		struct att *a = at->list;

		at->list = a->next;
		att_free(a); /* drains its job first */
	}
	if (at->poll)
		event_free(at->poll);
	if (at->reap)
		event_free(at->reap);
	free(at->ports);
	free(at);
}

static struct att *track_find(const struct attach_track *at, const char *name)
{
	char *end;
	unsigned long port = strtoul(name, &end, 10);
	bool numeric = *name && !*end;

	for (struct att *a = at->list; a; a = a->next)
		if (!a->dropped && strcmp(a->rec.name, name) == 0)
			return a;
	for (struct att *a = at->list; a; a = a->next)
		if (!a->dropped && numeric && a->rec.port == port)
			return a;
	return NULL;
}

/* Whether vhci holds rec's device on rec's port now; why not in err. */
static bool vhci_holds(struct attach_track *at, const struct attach_record *rec, char *err,
                       size_t errlen)
{
	int n = vhci_read_ports(at->vhci_dir, at->ports, VHCI_MAX_PORTS);
	int i = n < 0 ? -1 : vhci_find_port(at->ports, (unsigned)n, rec->port);

	if (i >= 0 && at->ports[i].state != VHCI_ST_NULL &&
	    strcmp(at->ports[i].lbusid, rec->lbusid) == 0)
		return true;
	snprintf(err, errlen, "vhci port %u does not hold %s (%s)", rec->port, rec->lbusid,
	         n < 0   ? vhci_strerror(n)
	         : i < 0 ? "no such port"
	                 : "another device");
	return false;
}

/* A new attachment, followed from now on (state UP). NULL when out of
 * memory. */
static struct att *att_create(struct attach_track *at, const struct attach_record *rec,
                              const char *what, const char *token)
{
	struct att *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->at = at;
	a->rec = *rec;
	snprintf(a->rec.follower, sizeof(a->rec.follower), "usblabd");
	a->rec.follow_pid = (int)getpid();
	snprintf(a->what, sizeof(a->what), "%s", what);
	snprintf(a->token, sizeof(a->token), "%s", token ? token : "");
	snprintf(a->peer, sizeof(a->peer), "%s:%s", rec->host, rec->tcp_port);
	a->state = ATT_UP;
	a->off = offload_new(at->base);
	a->retry = evtimer_new(at->base, on_retry, a);
	a->silent = evtimer_new(at->base, on_silent, a);
	if (!a->off || !a->retry || !a->silent) {
		att_free(a);
		return NULL;
	}
	a->next = at->list;
	at->list = a;
	if (!at->polling) {
		struct timeval tv = {.tv_usec = ATTACH_TRACK_POLL_MS * 1000};

		evtimer_add(at->poll, &tv);
		at->polling = true;
	}
	return a;
}

/* Re-importing needs what attaching needed: vhci's attach file. */
static bool vhci_writable(const struct attach_track *at, char *err, size_t errlen)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/attach", at->vhci_dir);
	if (access(path, W_OK) == 0)
		return true;
	snprintf(err, errlen, "this usblabd cannot write %s (%s): it cannot re-attach", path,
	         strerror(errno));
	return false;
}

int attach_track_adopt(struct attach_track *at, const struct attach_record *rec, const char *what,
                       const char *token, char *err, size_t errlen)
{
	char detail[300], field[96];
	struct att *a;

	if (!rec->name[0] || !rec->host[0] || !rec->lbusid[0] || !what || !*what ||
	    attach_busid_field(field, sizeof(field), what, token && *token ? token : NULL) < 0 ||
	    (token && strlen(token) >= sizeof(a->token))) {
		snprintf(err, errlen,
		         "the record needs a name, a host and a local busid, and WHAT#TOKEN "
		         "must fit the import's 31-byte busid field");
		return ATTACH_TRACK_E_ARG;
	}
	if (track_find(at, rec->name)) {
		snprintf(err, errlen, "%s is followed already", rec->name);
		return ATTACH_TRACK_E_DUP;
	}
	if (!vhci_writable(at, err, errlen))
		return ATTACH_TRACK_E_VHCI;
	if (!vhci_holds(at, rec, err, errlen))
		return ATTACH_TRACK_E_NOTHERE;
	a = att_create(at, rec, what, token);
	if (!a)
		return ATTACH_TRACK_E_NOMEM;
	snprintf(detail, sizeof(detail), "vhci port %u (%s) since %s, handed over by usblab attach",
	         a->rec.port, a->rec.lbusid, a->rec.since);
	att_event(a, UL_EV_ATTACHED, detail);
	att_event_files(a);
	att_submit(a, JOB_SAVE);
	return ATTACH_TRACK_OK;
}

int attach_track_resume(struct attach_track *at)
{
	struct attach_record *recs = calloc(VHCI_MAX_PORTS, sizeof(*recs));
	char what[USBIP_BUSID_SIZE], token[40], err[200], detail[300];
	int n, resumed = 0;

	if (!recs)
		return ATTACH_TRACK_E_NOMEM;
	n = attach_record_list(at->run_dir, recs, VHCI_MAX_PORTS);
	for (int i = 0; i < n; i++) {
		const struct attach_record *rec = &recs[i];
		struct att *a;
		int rc;

		/* Only what a usblabd followed (`attach --follow` processes and
		 * plain attachments stay theirs), and that usblabd is gone: a
		 * second usblabd on this machine leaves the first's alone. */
		if (strcmp(rec->follower, "usblabd") != 0 || track_find(at, rec->name) ||
		    (rec->follow_pid > 0 && rec->follow_pid != (int)getpid() &&
		     (kill(rec->follow_pid, 0) == 0 || errno == EPERM)))
			continue;
		rc = attach_follow_load(at->run_dir, rec->port, what, sizeof(what), token,
		                        sizeof(token));
		if (rc < 0 || !rec->host[0] || !rec->lbusid[0]) {
			ul_warn("attach",
			        "%s: vhci port %u was followed before the restart, but %s/attached/"
			        "%u.follow %s: not following it",
			        rec->name, rec->port, at->run_dir, rec->port,
			        rc == -ENOENT ? "is missing" : "does not parse");
			continue;
		}
		if (!vhci_writable(at, err, sizeof(err))) {
			ul_warn("attach", "%s: %s", rec->name, err);
			break;
		}
		a = att_create(at, rec, what, token);
		if (!a) {
			free(recs);
			return ATTACH_TRACK_E_NOMEM;
		}
		resumed++;
		if (vhci_holds(at, rec, err, sizeof(err))) {
			snprintf(detail, sizeof(detail),
			         "vhci port %u (%s) since %s, followed again after usblabd "
			         "restarted",
			         a->rec.port, a->rec.lbusid, a->rec.since);
			att_event(a, UL_EV_ATTACHED, detail);
			att_event_files(a);
			att_submit(a, JOB_SAVE);
		} else {
			/* Lost while no usblabd watched: import it again now. */
			ul_info("attach", "%s: %s while usblabd was away", rec->name, err);
			att_lost(a);
		}
	}
	free(recs);
	return resumed;
}

int attach_track_drop(struct attach_track *at, const char *name, const char *why,
                      struct attach_record *out)
{
	struct att *a = track_find(at, name);

	if (!a)
		return ATTACH_TRACK_E_UNKNOWN;
	if (out)
		*out = a->rec;
	att_event(a, UL_EV_DETACHED, why);
	a->dropped = true;
	evtimer_del(a->retry);
	evtimer_del(a->silent);
	if (!a->busy) {
		track_unlink(at, a);
		att_free(a);
	}
	return ATTACH_TRACK_OK;
}

json_t *attach_track_json(const struct attach_track *at)
{
	json_t *arr = json_array();
	uint64_t now = attach_now_ms();

	for (const struct att *a = at->list; a; a = a->next) {
		json_t *j;

		if (a->dropped || !(j = attach_record_json(&a->rec)))
			continue;
		json_object_set_new(j, "state",
		                    json_string(a->state == ATT_UP ? "attached" : "reattaching"));
		json_object_set_new(j, "lost_ms",
		                    a->state == ATT_UP
		                            ? json_null()
		                            : json_integer((json_int_t)(now - a->lost_at)));
		json_object_set_new(j, "attempts", json_integer(a->attempts));
		json_object_set_new(j, "last_error", json_string(a->last_error));
		json_object_set_new(j, "last_took_ms", json_integer(a->last_took_ms));
		json_array_append_new(arr, j);
	}
	return json_pack("{s:o}", "attachments", arr);
}
