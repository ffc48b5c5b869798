/* SPDX-License-Identifier: MIT */
/*
 * attach_record.c - the records of what is attached here (attach_record.h).
 */
#include "attach_record.h"

#include "attach.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char *attach_run_dir(void)
{
	const char *env = getenv("USBLAB_RUN_DIR");

	return env && *env ? env : ATTACH_RUN_DIR;
}

json_t *attach_record_json(const struct attach_record *r)
{
	json_t *nodes = json_array(), *links = json_object(), *o;
	char names[DEVFILES_MAX][16], id[8], dir[512];

	if (!nodes || !links)
		goto fail;
	devfiles_link_names(r->files, r->nfiles, names);
	snprintf(dir, sizeof(dir), "%s/%s", attach_run_dir(), r->name);
	for (unsigned i = 0; i < r->nfiles; i++) {
		json_array_append_new(nodes, json_string(r->files[i].path));
		json_object_set_new(links, names[i], json_string(r->files[i].path));
	}
	o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:i, s:i, s:o, s:o, s:s}",
	              "port", (int)r->port, "host", r->host, "tcp_port", r->tcp_port, "name",
	              r->name, "lbusid", r->lbusid, "path", r->path, "vid", "", "speed",
	              (int)r->speed, "since", r->since, "reattaches", (int)r->reattaches,
	              "follow_pid", r->follow_pid, "devnodes", nodes, "links", links, "link_dir",
	              devfiles_link_dir_ok(r->name) ? dir : "");
	if (!o)
		return NULL;
	if (r->follower[0])
		json_object_set_new(o, "follower", json_string(r->follower));
	snprintf(id, sizeof(id), "%04x", r->vid);
	json_object_set_new(o, "vid", json_string(id));
	snprintf(id, sizeof(id), "%04x", r->pid);
	json_object_set_new(o, "pid", json_string(id));
	return o;
fail:
	json_decref(nodes);
	json_decref(links);
	return NULL;
}

static int copy_str(const json_t *o, const char *key, char *out, size_t cap)
{
	const char *s = json_string_value(json_object_get(o, key));

	if (!s || strlen(s) >= cap)
		return -1;
	strcpy(out, s);
	return 0;
}

/* A device file's kind from its path (records keep the paths only). */
static enum devfile_kind kind_of_path(const char *path)
{
	if (strncmp(path, "/dev/input/", 11) == 0)
		return DEVFILE_INPUT;
	if (strncmp(path, "/dev/hidraw", 11) == 0)
		return DEVFILE_HIDRAW;
	if (strncmp(path, "/dev/tty", 8) == 0)
		return DEVFILE_TTY;
	return DEVFILE_DISK;
}

static uint16_t hex_field(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? (uint16_t)strtoul(s, NULL, 16) : 0;
}

int attach_record_from_json(const json_t *o, struct attach_record *r)
{
	json_t *nodes = json_object_get(o, "devnodes"), *v;
	size_t i;

	memset(r, 0, sizeof(*r));
	if (!json_is_integer(json_object_get(o, "port")) || !json_is_array(nodes) ||
	    copy_str(o, "host", r->host, sizeof(r->host)) < 0 ||
	    copy_str(o, "tcp_port", r->tcp_port, sizeof(r->tcp_port)) < 0 ||
	    copy_str(o, "name", r->name, sizeof(r->name)) < 0 ||
	    copy_str(o, "lbusid", r->lbusid, sizeof(r->lbusid)) < 0 ||
	    copy_str(o, "since", r->since, sizeof(r->since)) < 0)
		return -1;
	copy_str(o, "path", r->path, sizeof(r->path));
	copy_str(o, "follower", r->follower, sizeof(r->follower));
	r->port = (unsigned)json_integer_value(json_object_get(o, "port"));
	r->speed = (unsigned)json_integer_value(json_object_get(o, "speed"));
	r->reattaches = (unsigned)json_integer_value(json_object_get(o, "reattaches"));
	r->follow_pid = (int)json_integer_value(json_object_get(o, "follow_pid"));
	r->vid = hex_field(o, "vid");
	r->pid = hex_field(o, "pid");
	json_array_foreach(nodes, i, v)
	{
		const char *p = json_string_value(v);

		if (!p || r->nfiles == DEVFILES_MAX || strlen(p) >= sizeof(r->files[0].path))
			continue;
		r->files[r->nfiles].kind = kind_of_path(p);
		strcpy(r->files[r->nfiles].path, p);
		r->nfiles++;
	}
	return 0;
}

void attach_record_fill(struct attach_record *rec, const char *host, const char *tcp_port,
                        const char *name, const struct attach_result *res)
{
	struct timespec ts;
	struct tm tm;
	char day[24];

	snprintf(rec->host, sizeof(rec->host), "%s", host);
	snprintf(rec->tcp_port, sizeof(rec->tcp_port), "%s", tcp_port);
	if (name != rec->name) /* may be rec's own (a re-attach keeps it) */
		snprintf(rec->name, sizeof(rec->name), "%s", name);
	snprintf(rec->lbusid, sizeof(rec->lbusid), "%s", res->lbusid);
	snprintf(rec->path, sizeof(rec->path), "%s", res->dev.path);
	rec->port = res->vport;
	rec->vid = res->dev.idVendor;
	rec->pid = res->dev.idProduct;
	rec->speed = res->dev.speed;
	/* event.h's time format, "2026-12-03T13:14:04.123Z". */
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(rec->since, sizeof(rec->since), "%.19s.%03uZ", day,
	         (unsigned)(ts.tv_nsec / 1000000) % 1000u);
	memcpy(rec->files, res->files, sizeof(rec->files));
	rec->nfiles = res->nfiles;
}

static void record_path(const char *rundir, unsigned port, char *out, size_t cap)
{
	snprintf(out, cap, "%s/attached/%u.json", rundir, port);
}

int attach_record_save(const char *rundir, const struct attach_record *r)
{
	char dir[512], path[600], tmp[640];
	json_t *o = attach_record_json(r);
	int rc = 0;

	if (!o)
		return -ENOMEM;
	snprintf(dir, sizeof(dir), "%s/attached", rundir);
	if ((mkdir(rundir, 0755) != 0 && errno != EEXIST) ||
	    (mkdir(dir, 0755) != 0 && errno != EEXIST)) {
		rc = -errno;
		goto out;
	}
	record_path(rundir, r->port, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	if (json_dump_file(o, tmp, JSON_INDENT(1)) != 0) {
		rc = errno ? -errno : -EIO;
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) != 0) {
		rc = -errno;
		unlink(tmp);
	}
out:
	json_decref(o);
	return rc;
}

int attach_record_load(const char *rundir, unsigned port, struct attach_record *r)
{
	char path[600];
	json_error_t jerr;
	json_t *o;
	int rc;

	record_path(rundir, port, path, sizeof(path));
	if (access(path, F_OK) != 0)
		return -ENOENT;
	o = json_load_file(path, 0, &jerr);
	if (!o)
		return -EINVAL;
	rc = attach_record_from_json(o, r) == 0 ? 0 : -EINVAL;
	json_decref(o);
	return rc;
}

static int by_port(const void *a, const void *b)
{
	const struct attach_record *x = a, *y = b;

	return x->port < y->port ? -1 : x->port > y->port;
}

int attach_record_list(const char *rundir, struct attach_record *out, unsigned max)
{
	char dir[512];
	struct dirent *e;
	unsigned n = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/attached", rundir);
	if (!(d = opendir(dir)))
		return 0;
	while ((e = readdir(d)) && n < max) {
		char *end;
		unsigned long port = strtoul(e->d_name, &end, 10);

		if (end == e->d_name || strcmp(end, ".json") != 0)
			continue;
		if (attach_record_load(rundir, (unsigned)port, &out[n]) == 0)
			n++;
	}
	closedir(d);
	qsort(out, n, sizeof(out[0]), by_port);
	return (int)n;
}

static void follow_path(const char *rundir, unsigned port, char *out, size_t cap)
{
	snprintf(out, cap, "%s/attached/%u.follow", rundir, port);
}

int attach_record_remove(const char *rundir, unsigned port)
{
	char path[600];
	int rc;

	record_path(rundir, port, path, sizeof(path));
	rc = unlink(path) == 0 ? 0 : -errno;
	follow_path(rundir, port, path, sizeof(path));
	unlink(path);
	return rc;
}

int attach_follow_save(const char *rundir, unsigned port, const char *what, const char *token)
{
	char path[600], tmp[640];
	json_t *o = json_pack("{s:s, s:s}", "what", what ? what : "", "token", token ? token : "");
	int fd, rc = 0;
	char *text;

	if (!o)
		return -ENOMEM;
	text = json_dumps(o, 0);
	json_decref(o);
	if (!text)
		return -ENOMEM;
	follow_path(rundir, port, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(text);
		return -errno;
	}
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		rc = errno ? -errno : -EIO;
	close(fd);
	free(text);
	if (rc == 0 && rename(tmp, path) != 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

int attach_follow_load(const char *rundir, unsigned port, char *what, size_t wcap, char *token,
                       size_t tcap)
{
	char path[600];
	json_error_t jerr;
	const char *w, *t;
	json_t *o;
	int rc = -EINVAL;

	follow_path(rundir, port, path, sizeof(path));
	if (access(path, F_OK) != 0)
		return -ENOENT;
	o = json_load_file(path, 0, &jerr);
	if (!o)
		return -EINVAL;
	w = json_string_value(json_object_get(o, "what"));
	t = json_string_value(json_object_get(o, "token"));
	if (w && t && *w && strlen(w) < wcap && strlen(t) < tcap) {
		snprintf(what, wcap, "%s", w);
		snprintf(token, tcap, "%s", t);
		rc = 0;
	}
	json_decref(o);
	return rc;
}
