/* SPDX-License-Identifier: MIT */
/*
 * cmd_plugin.c - type plugins (see cmd_plugin.h).
 */
#include "cmd_plugin.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>

#include "attach_record.h"
#include "ctl.h"
#include "paths.h"
#include "plugin_paths.h"

#define PLUGIN_EXIT_OK          0
#define PLUGIN_EXIT_FAILED      1
#define PLUGIN_EXIT_NOT_RUNNING 3

#define PLUGIN_INFO_TIMEOUT_MS 30000
#define PLUGIN_VERBS_MAX       (64 * 1024) /* what `TYPE --verbs` may print */
#define PLUGIN_DIRS            2

static const char run_help[] =
        "Usage: usblab run [--type TYPE] NAME VERB [ARGS...]\n"
        "       usblab run [--type TYPE] NAME\n"
        "       usblab VERB NAME [ARGS...]\n\n"
        "Runs a verb of the board's type plugin: an executable named for its type\n"
        "(`type = esp32` in devices.conf), called as `TYPE VERB [ARGS]` with the\n"
        "board in its environment. Without VERB, lists the verbs the plugins have.\n"
        "A VERB usblab does not know falls through to the plugins the same way:\n"
        "`usblab flash esp-a fw.bin` is `usblab run esp-a flash fw.bin`.\n\n"
        "Plugins are looked for in this order (the first that has VERB wins):\n"
        "  1. $XDG_CONFIG_HOME/usblab/types.d/TYPE (~/.config/usblab/types.d): yours\n"
        "  2. the project's types.d/TYPE: $USBLAB_TYPES_DIR when set; else, for a\n"
        "     usblab run from its build tree, the source tree's types.d/; else the\n"
        "     installed PREFIX/share/usblab/types.d/ (`make install`, the packages)\n"
        "A plugin answers `TYPE --verbs` with its verbs, one a line (a description\n"
        "may follow a space). Its environment: USBLAB_BOARD, USBLAB_TYPE, USBLAB_BUSID,\n"
        "USBLAB_PORT (the hub port path), USBLAB_TTY, USBLAB_DISK, USBLAB_DEVNODES\n"
        "(space-separated), USBLAB_SERIAL, USBLAB_VID, USBLAB_PID, USBLAB_VIDPID\n"
        "(303a:1001), USBLAB_MAC, USBLAB_STATE, USBLAB_SOCKET, USBLAB_BIN (this usblab);\n"
        "empty when unknown. The board comes from usblabd's `info NAME`; a board this\n"
        "machine attached (`usblab attach`) has its tty and disk from\n"
        "$USBLAB_RUN_DIR/NAME/ (default /run/usblab), and needs no usblabd with --type.\n\n"
        "Options (before NAME; what follows VERB is the plugin's):\n"
        "  --type TYPE     use TYPE's plugin, not the type usblabd knows\n"
        "  --socket PATH   the control socket\n"
        "  --json          without VERB: list the verbs as JSON\n\n"
        "Exit status: the plugin's; else 0 verbs listed; 1 usblabd refused (unknown\n"
        "board) or the plugin cannot be run; 2 bad usage, or no plugin has VERB (the\n"
        "message says where they were looked for); 3 usblabd is not running (give\n"
        "--type for a board attached here).\n"
        "\nExamples:\n  usblab run esp-a flash build/app.bin\n  usblab flash esp-a build/app.bin\n"
        "  usblab run --type rp2040 pico-1 flash blink.uf2\n  usblab run esp-a\n";

/* What a plugin is told about its board. */
struct plugin_board {
	char name[128], type[64], busid[64], port[128], tty[PATH_MAX], disk[PATH_MAX];
	char devnodes[1024], serial[128], vid[8], pid[8], mac[32], state[32];
};

/* One place plugins are looked for. */
struct plugin_dir {
	char path[PATH_MAX];
	const char *what; /* "yours", "the project's" */
};

static int usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage(const char *fmt, ...)
{
	va_list ap;

	fputs("usblab: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'usblab run --help'.\n", stderr);
	return PLUGIN_EXIT_NO_VERB;
}

/* A type or verb is one path component of safe characters: it names a
 * file, and must not climb out of types.d. */
static bool word_ok(const char *s)
{
	if (!s || !*s || *s == '.' || *s == '-' || strlen(s) > 63)
		return false;
	for (; *s; s++)
		if (!(*s == '-' || *s == '_' || *s == '.' || (*s >= '0' && *s <= '9') ||
		      (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')))
			return false;
	return true;
}

static void copy_str(char *out, size_t cap, const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	snprintf(out, cap, "%s", s ? s : "");
}

/* ---- the board ----------------------------------------------------------------------------- */

/* Fills b from usblabd's info. Returns 0, or an exit status (printed). */
static int board_from_daemon(const char *socket_path, const char *name, struct plugin_board *b)
{
	struct ctl c = {.fd = -1};
	char err[600];
	json_t *msg = NULL, *params = json_pack("{s:s}", "name", name), *v;
	int rc;
	size_t i, len = 0;

	if (!socket_path) {
		rc = PLUGIN_EXIT_NOT_RUNNING;
		goto out;
	}
	rc = ctl_connect(&c, socket_path, err, sizeof(err));
	if (rc == CTL_E_NOT_RUNNING) {
		rc = PLUGIN_EXIT_NOT_RUNNING;
		goto out;
	}
	if (rc != CTL_OK || ctl_send(&c, 1, "info", params, err, sizeof(err)) != CTL_OK ||
	    ctl_read(&c, PLUGIN_INFO_TIMEOUT_MS, &msg, err, sizeof(err)) != CTL_OK) {
		fprintf(stderr, "usblab: %s\n", err);
		rc = PLUGIN_EXIT_FAILED;
		goto out;
	}
	if (json_object_get(msg, "error")) {
		const char *m = json_string_value(
		        json_object_get(json_object_get(msg, "error"), "message"));

		fprintf(stderr, "usblab: %s\n", m ? m : "usblabd refused");
		rc = PLUGIN_EXIT_FAILED;
		goto out;
	}
	json_t *r = json_object_get(msg, "result"), *bo = json_object_get(r, "board");

	copy_str(b->name, sizeof(b->name), bo, "name");
	copy_str(b->type, sizeof(b->type), bo, "type");
	copy_str(b->busid, sizeof(b->busid), bo, "busid");
	copy_str(b->port, sizeof(b->port), bo, "port");
	copy_str(b->serial, sizeof(b->serial), bo, "serial");
	copy_str(b->vid, sizeof(b->vid), bo, "vid");
	copy_str(b->pid, sizeof(b->pid), bo, "pid");
	copy_str(b->state, sizeof(b->state), bo, "state");
	copy_str(b->mac, sizeof(b->mac), bo, "mac");
	json_array_foreach(json_object_get(bo, "devnodes"), i, v)
	{
		const char *s = json_string_value(v);

		if (!s)
			continue;
		if (len < sizeof(b->devnodes))
			len += (size_t)snprintf(b->devnodes + len, sizeof(b->devnodes) - len,
			                        "%s%s", len ? " " : "", s);
		if (!b->tty[0] && strncmp(s, "/dev/tty", 8) == 0)
			snprintf(b->tty, sizeof(b->tty), "%s", s);
		if (!b->disk[0] && strncmp(s, "/dev/sd", 7) == 0)
			snprintf(b->disk, sizeof(b->disk), "%s", s);
	}
	/* The board's facts carry no MAC; the newest event that does (a probe
	 * of an ESP32's ROM) does. Events come oldest first. */
	if (!b->mac[0]) {
		json_array_foreach(json_object_get(r, "events"), i, v)
		{
			const char *mac = json_string_value(
			        json_object_get(json_object_get(v, "dev"), "mac"));

			if (mac && *mac)
				snprintf(b->mac, sizeof(b->mac), "%s", mac);
		}
	}
	rc = 0;
out:
	json_decref(msg);
	json_decref(params);
	ctl_close(&c);
	return rc;
}

/* A board attached here: RUNDIR/NAME/tty and disk name its files. */
static bool board_from_links(const char *name, struct plugin_board *b)
{
	char dir[PATH_MAX], link[PATH_MAX + 8], target[PATH_MAX];
	struct stat st;

	if (strchr(name, '/') ||
	    (size_t)snprintf(dir, sizeof(dir), "%s/%s", attach_run_dir(), name) >= sizeof(dir))
		return false;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return false;
	if (!b->name[0])
		snprintf(b->name, sizeof(b->name), "%s", name);
	snprintf(link, sizeof(link), "%s/tty", dir);
	if (realpath(link, target))
		snprintf(b->tty, sizeof(b->tty), "%s", target);
	snprintf(link, sizeof(link), "%s/disk", dir);
	if (realpath(link, target))
		snprintf(b->disk, sizeof(b->disk), "%s", target);
	return true;
}

/* ---- where plugins are --------------------------------------------------------------------- */

/* The project's types.d: see cmd_plugin.h. */
static void project_dir(char *out, size_t cap)
{
	const char *env = getenv("USBLAB_TYPES_DIR");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env) {
		snprintf(out, cap, "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		exe[n] = 0;
		char *slash = strrchr(exe, '/');

		if (slash)
			*slash = 0;
		if (strcmp(exe, PLUGIN_BUILD_CLI_DIR) == 0) {
			snprintf(out, cap, "%s", PLUGIN_SOURCE_TYPES_DIR);
			return;
		}
	}
	snprintf(out, cap, "%s", PLUGIN_DATA_TYPES_DIR);
}

static int plugin_dirs(struct plugin_dir *d)
{
	int n = 0;

	if (ul_path_dir(UL_PATH_CONFIG, d[n].path, sizeof(d[n].path)) == 0 &&
	    strlen(d[n].path) + sizeof("/types.d") <= sizeof(d[n].path)) {
		strcat(d[n].path, "/types.d");
		d[n++].what = "yours";
	}
	project_dir(d[n].path, sizeof(d[n].path));
	d[n++].what = "the project's";
	return n;
}

/* ---- running them -------------------------------------------------------------------------- */

static void set_env(const struct plugin_board *b, const char *socket_path)
{
	char vidpid[16], self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	self[n > 0 ? n : 0] = 0;
	snprintf(vidpid, sizeof(vidpid), "%s%s%s", b->vid, b->vid[0] || b->pid[0] ? ":" : "",
	         b->pid);
	setenv("USBLAB_BOARD", b->name, 1);
	setenv("USBLAB_TYPE", b->type, 1);
	setenv("USBLAB_BUSID", b->busid, 1);
	setenv("USBLAB_PORT", b->port, 1);
	setenv("USBLAB_TTY", b->tty, 1);
	setenv("USBLAB_DISK", b->disk, 1);
	setenv("USBLAB_DEVNODES", b->devnodes, 1);
	setenv("USBLAB_SERIAL", b->serial, 1);
	setenv("USBLAB_VID", b->vid, 1);
	setenv("USBLAB_PID", b->pid, 1);
	setenv("USBLAB_VIDPID", vidpid, 1);
	setenv("USBLAB_MAC", b->mac, 1);
	setenv("USBLAB_STATE", b->state, 1);
	setenv("USBLAB_SOCKET", socket_path ? socket_path : "", 1);
	setenv("USBLAB_BIN", self, 1);
}

/* Runs `exe --verbs`; stores its output (NUL-terminated) in *out (caller
 * frees). Returns its exit status, or -1 when it could not be run. */
static int plugin_verbs(const char *exe, char **out)
{
	int pfd[2], status;
	size_t len = 0;
	char *buf = malloc(PLUGIN_VERBS_MAX + 1);
	pid_t pid;

	*out = NULL;
	if (!buf || pipe2(pfd, O_CLOEXEC) < 0) {
		free(buf);
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], STDOUT_FILENO);
		execl(exe, exe, "--verbs", (char *)NULL);
		_exit(127);
	}
	close(pfd[1]);
	for (;;) {
		ssize_t r = pid < 0 ? 0 : read(pfd[0], buf + len, PLUGIN_VERBS_MAX - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		len += (size_t)r;
		if (len == PLUGIN_VERBS_MAX)
			break;
	}
	close(pfd[0]);
	buf[len] = 0;
	*out = buf;
	if (pid < 0)
		return -1;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Whether a --verbs listing has verb (the first word of a line). */
static bool verbs_have(const char *list, const char *verb)
{
	size_t vl = strlen(verb);

	for (const char *l = list; l && *l;) {
		const char *end = strchr(l, '\n');
		size_t n = strcspn(l, " \t\n");

		if (n == vl && strncmp(l, verb, vl) == 0)
			return true;
		if (!end)
			break;
		l = end + 1;
	}
	return false;
}

/* What one place offers for the type, for the listing and the errors. */
struct plugin_found {
	char exe[PATH_MAX + 72];
	bool exists;
	int status; /* of --verbs */
	char *verbs;
};

static void plugin_look(const struct plugin_dir *d, const char *type, struct plugin_found *f)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	f->status = -1;
	snprintf(f->exe, sizeof(f->exe), "%.4000s/%.63s", d->path, type);
	f->exists = stat(f->exe, &st) == 0 && S_ISREG(st.st_mode) && access(f->exe, X_OK) == 0;
	if (f->exists)
		f->status = plugin_verbs(f->exe, &f->verbs);
}

/* "esp32: flash, erase" from a --verbs listing, for the messages. */
static void verbs_join(const char *list, char *out, size_t cap)
{
	size_t len = 0;

	out[0] = 0;
	for (const char *l = list; l && *l && len < cap;) {
		size_t n = strcspn(l, " \t\n");
		const char *end = strchr(l, '\n');

		if (n)
			len += (size_t)snprintf(out + len, cap - len, "%s%.*s", len ? ", " : "",
			                        (int)n, l);
		if (!end)
			break;
		l = end + 1;
	}
}

static void print_places(const struct plugin_dir *dirs, const struct plugin_found *f, int n)
{
	for (int i = 0; i < n; i++) {
		char verbs[512];

		if (!f[i].exists) {
			fprintf(stderr, "usblab:   %s (%s): no such executable\n", f[i].exe,
			        dirs[i].what);
			continue;
		}
		if (f[i].status != 0) {
			fprintf(stderr, "usblab:   %s (%s): `--verbs` exited %d\n", f[i].exe,
			        dirs[i].what, f[i].status);
			continue;
		}
		verbs_join(f[i].verbs, verbs, sizeof(verbs));
		fprintf(stderr, "usblab:   %s (%s): %s\n", f[i].exe, dirs[i].what,
		        *verbs ? verbs : "no verbs");
	}
}

static int list_verbs(const struct plugin_board *b, const struct plugin_dir *dirs,
                      const struct plugin_found *f, int n, bool json)
{
	json_t *arr = json_array();
	int shown = 0;

	for (int i = 0; i < n; i++) {
		if (!f[i].exists || f[i].status != 0)
			continue;
		for (const char *l = f[i].verbs; *l;) {
			size_t k = strcspn(l, " \t\n");
			const char *end = strchr(l, '\n'), *desc = l + k;
			bool dup = false;
			char verb[64];

			snprintf(verb, sizeof(verb), "%.*s", (int)k, l);
			/* A verb an earlier place has is that place's. */
			for (int j = 0; j < i; j++)
				dup |= f[j].exists && f[j].status == 0 &&
				       verbs_have(f[j].verbs, verb);
			while (*desc == ' ' || *desc == '\t')
				desc++;
			size_t dl = end ? (size_t)(end - desc) : strlen(desc);

			if (k && !dup) {
				if (json) {
					json_array_append_new(
					        arr, json_pack("{s:s,s:s#,s:s}", "verb", verb,
					                       "description", desc, (int)dl,
					                       "plugin", f[i].exe));
				} else {
					printf("%-16s %.*s  (%s)\n", verb, (int)dl, desc, f[i].exe);
				}
				shown++;
			}
			if (!end)
				break;
			l = end + 1;
		}
	}
	if (json) {
		json_t *o =
		        json_pack("{s:s,s:s,s:o}", "board", b->name, "type", b->type, "verbs", arr);
		char *text = json_dumps(o, JSON_COMPACT);

		if (text)
			puts(text);
		free(text);
		json_decref(o);
		return PLUGIN_EXIT_OK;
	}
	json_decref(arr);
	if (shown == 0) {
		fprintf(stderr, "usblab: no plugin for type '%s'; looked in:\n", b->type);
		print_places(dirs, f, n);
		return PLUGIN_EXIT_NO_VERB;
	}
	return PLUGIN_EXIT_OK;
}

int plugin_main(int argc, char **argv, const char *socket_path, bool json, bool fallthrough)
{
	struct plugin_board b;
	struct plugin_dir dirs[PLUGIN_DIRS];
	struct plugin_found found[PLUGIN_DIRS];
	const char *type = NULL, *name, *verb;
	int i = 1, n, rc;

	memset(&b, 0, sizeof(b));
	if (fallthrough) {
		verb = argv[0];
		name = argv[1];
		i = 2;
	} else {
		for (; i < argc && argv[i][0] == '-'; i++) {
			const char *a = argv[i];

			if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
				fputs(run_help, stdout);
				return PLUGIN_EXIT_OK;
			} else if (strcmp(a, "--json") == 0) {
				json = true;
			} else if ((strcmp(a, "--type") == 0 || strcmp(a, "--socket") == 0) &&
			           i + 1 < argc) {
				*(a[2] == 't' ? &type : &socket_path) = argv[++i];
			} else if (strncmp(a, "--type=", 7) == 0) {
				type = a + 7;
			} else if (strncmp(a, "--socket=", 9) == 0) {
				socket_path = a + 9;
			} else if (strcmp(a, "--type") == 0 || strcmp(a, "--socket") == 0) {
				return usage("option '%s' needs a value", a);
			} else {
				return usage("unknown option '%s'", a);
			}
		}
		if (i == argc)
			return usage("run needs a board NAME (and a VERB)");
		name = argv[i++];
		verb = i < argc ? argv[i++] : NULL;
	}
	if (verb && !word_ok(verb))
		return usage("'%s' is not a verb (letters, digits, '-', '_', '.')", verb);
	if (type && !word_ok(type))
		return usage("'%s' is not a type (letters, digits, '-', '_', '.')", type);

	rc = board_from_daemon(socket_path, name, &b);
	bool linked = board_from_links(b.name[0] ? b.name : name, &b);

	/* `usblab VERB NAME` with no board to ask a plugin for is, first of
	 * all, an unknown command (a typo of a built-in, most likely). */
	if (fallthrough && rc != 0) {
		fprintf(stderr,
		        "usblab: unknown command '%s': not a built-in, and no plugin can be "
		        "asked: %s\n"
		        "Try 'usblab --help'.\n",
		        verb,
		        rc == PLUGIN_EXIT_NOT_RUNNING
		                ? "usblabd, which knows boards' types, is not running"
		                : "usblabd does not know that board (above)");
		return PLUGIN_EXIT_NO_VERB;
	}
	if (rc == PLUGIN_EXIT_NOT_RUNNING && !(type && linked)) {
		fprintf(stderr,
		        "usblab: usblabd is not running (nothing answers on %s)%s\n"
		        "usblab: start it, or for a board attached here give --type TYPE: "
		        "`usblab run --type TYPE %s VERB`\n",
		        socket_path ? socket_path : "no socket is known",
		        linked ? "" : ", and no board of that name is attached here", name);
		return rc;
	}
	if (rc == PLUGIN_EXIT_FAILED)
		return rc;
	if (type)
		snprintf(b.type, sizeof(b.type), "%s", type);
	if (!b.type[0]) {
		fprintf(stderr,
		        "usblab: %s has no type (`type =` in devices.conf): plugins are chosen by "
		        "type; or give `usblab run --type TYPE %s ...`\n",
		        b.name, name);
		return PLUGIN_EXIT_NO_VERB;
	}
	if (!word_ok(b.type)) {
		fprintf(stderr, "usblab: %s's type '%s' cannot name a plugin\n", b.name, b.type);
		return PLUGIN_EXIT_NO_VERB;
	}

	set_env(&b, socket_path);
	n = plugin_dirs(dirs);
	for (int k = 0; k < n; k++)
		plugin_look(&dirs[k], b.type, &found[k]);
	if (!verb) {
		rc = list_verbs(&b, dirs, found, n, json);
		goto out;
	}
	for (int k = 0; k < n; k++) {
		if (!found[k].exists || found[k].status != 0 || !verbs_have(found[k].verbs, verb))
			continue;
		char **args = calloc((size_t)(argc - i + 3), sizeof(char *));

		if (!args) {
			rc = PLUGIN_EXIT_FAILED;
			goto out;
		}
		args[0] = found[k].exe;
		args[1] = (char *)verb;
		for (int j = i; j < argc; j++)
			args[2 + j - i] = argv[j];
		setenv("USBLAB_VERB", verb, 1);
		fflush(NULL);
		execv(found[k].exe, args);
		fprintf(stderr, "usblab: cannot run %s: %s\n", found[k].exe, strerror(errno));
		free(args);
		rc = PLUGIN_EXIT_FAILED;
		goto out;
	}
	if (fallthrough)
		fprintf(stderr,
		        "usblab: unknown command '%s': not a built-in, and no plugin of %s's "
		        "type %s has it; looked in:\n",
		        verb, b.name, b.type);
	else
		fprintf(stderr, "usblab: no plugin of %s's type %s has the verb '%s'; looked in:\n",
		        b.name, b.type, verb);
	print_places(dirs, found, n);
	fputs("usblab: `usblab --help` lists the built-in commands, `usblab run --help` the "
	      "plugins\n",
	      stderr);
	rc = PLUGIN_EXIT_NO_VERB;
out:
	for (int k = 0; k < n; k++)
		free(found[k].verbs);
	return rc;
}
