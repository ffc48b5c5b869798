/* SPDX-License-Identifier: MIT */
/*
 * cmd_service.c - `usblab service install|uninstall` (cmd_service.h).
 */
#include "cmd_service.h"

#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "service_units.h"

extern char **environ;

/* Members of the group use the boards and their serial ports without root:
 * usblabd's libusb backend needs the usb_device node, `usblab probe` and the
 * serial monitor the tty. */
static const char rules_fmt[] =
        "# Written by `usblab service install`: members of group %s use USB devices\n"
        "# (libusb, usblabd) and USB serial ports without root. `usblab service\n"
        "# uninstall` removes this file.\n"
        "SUBSYSTEM==\"usb\", ENV{DEVTYPE}==\"usb_device\", MODE=\"0660\", GROUP=\"%s\"\n"
        "SUBSYSTEM==\"tty\", ENV{ID_BUS}==\"usb\", MODE=\"0660\", GROUP=\"%s\"\n";

static int join(char *out, size_t cap, const char *root, const char *path)
{
	int n = snprintf(out, cap, "%s%s", root ? root : "", path);

	return n < 0 || (size_t)n >= cap ? -1 : 0;
}

int service_paths(const struct service_opts *o, char *unit, size_t unit_cap, char *rules,
                  size_t rules_cap)
{
	char dir[PATH_MAX];
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");

	if (!o->user) {
		if (join(unit, unit_cap, o->root, "/etc/systemd/system/usblabd.service") < 0 ||
		    join(rules, rules_cap, o->root, "/etc/udev/rules.d/70-usblab.rules") < 0)
			return -1;
		return 0;
	}
	if (xdg && xdg[0] == '/') {
		snprintf(dir, sizeof(dir), "%s/systemd/user", xdg);
	} else {
		if (!home || home[0] != '/') {
			struct passwd *pw = getpwuid(getuid());

			home = pw ? pw->pw_dir : NULL;
		}
		if (!home)
			return -1;
		snprintf(dir, sizeof(dir), "%s/.config/systemd/user", home);
	}
	if (join(unit, unit_cap, o->root, dir) < 0 || strlen(unit) + 17 >= unit_cap)
		return -1;
	strcat(unit, "/usblabd.service");
	if (rules_cap)
		rules[0] = 0;
	return 0;
}

/* mkdir -p of path's directory. */
static int make_parent(const char *path)
{
	char dir[PATH_MAX];
	char *p;

	snprintf(dir, sizeof(dir), "%s", path);
	p = strrchr(dir, '/');
	if (!p || p == dir)
		return 0;
	*p = 0;
	for (p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(dir, 0755) < 0 && errno != EEXIST ? -1 : 0;
}

/* Writes text to path through a temporary file and a rename, so that a
 * reader (systemd, udev) never sees half a file. */
static int write_file(const char *path, const char *text)
{
	char tmp[PATH_MAX + 8];
	FILE *f;

	if (make_parent(path) < 0)
		return -1;
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	if (fputs(text, f) < 0 || fchmod(fileno(f), 0644) < 0) {
		fclose(f);
		unlink(tmp);
		return -1;
	}
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The unit template with @BINDIR@ replaced by bindir. Returns malloc'd text. */
static char *unit_text(const char *tmpl, const char *bindir)
{
	const char *mark = "@BINDIR@";
	size_t n = 0, ml = strlen(mark), bl = strlen(bindir);
	char *out, *w;

	for (const char *p = strstr(tmpl, mark); p; p = strstr(p + ml, mark))
		n++;
	out = malloc(strlen(tmpl) + n * bl + 1);
	if (!out)
		return NULL;
	w = out;
	for (const char *p = tmpl;;) {
		const char *q = strstr(p, mark);

		if (!q) {
			strcpy(w, p);
			break;
		}
		memcpy(w, p, (size_t)(q - p));
		w += q - p;
		memcpy(w, bindir, bl);
		w += bl;
		p = q + ml;
	}
	return out;
}

/* The usblabd to install: --exec, else the one beside this usblab, else the
 * build tree's (src/cli/../daemon/usblabd). Writes its directory. */
static int find_usblabd(const struct service_opts *o, char *dir, size_t cap)
{
	char self[PATH_MAX], cand[PATH_MAX + 32];
	ssize_t n;
	char *slash;

	if (o->exec) {
		if (o->exec[0] != '/' || access(o->exec, X_OK) < 0)
			return -1;
		snprintf(dir, cap, "%s", o->exec);
		slash = strrchr(dir, '/');
		*slash = 0;
		return strcmp(slash + 1, "usblabd") == 0 ? 0 : -1;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return -1;
	self[n] = 0;
	slash = strrchr(self, '/');
	*slash = 0;
	snprintf(cand, sizeof(cand), "%s/usblabd", self);
	if (access(cand, X_OK) == 0) {
		snprintf(dir, cap, "%s", self);
		return 0;
	}
	snprintf(cand, sizeof(cand), "%s/../daemon/usblabd", self);
	if (access(cand, X_OK) == 0 && realpath(cand, self)) {
		*strrchr(self, '/') = 0;
		snprintf(dir, cap, "%s", self);
		return 0;
	}
	return -1;
}

/* Runs argv, waits; 0 when it exited 0. */
static int run(char *const argv[])
{
	pid_t pid;
	int st;

	if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0) {
		fprintf(stderr, "usblab: cannot run %s: %s\n", argv[0], strerror(errno));
		return -1;
	}
	if (waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "usblab: `%s %s` failed\n", argv[0], argv[1] ? argv[1] : "");
		return -1;
	}
	return 0;
}

int service_install(const struct service_opts *o)
{
	char unit[PATH_MAX], rules[PATH_MAX], bindir[PATH_MAX], text[1024];
	const char *group = o->group ? o->group : "plugdev";
	char *u;

	if (service_paths(o, unit, sizeof(unit), rules, sizeof(rules)) < 0) {
		fprintf(stderr, "usblab: no place for the unit (set HOME or XDG_CONFIG_HOME)\n");
		return 1;
	}
	if (find_usblabd(o, bindir, sizeof(bindir)) < 0) {
		fprintf(stderr,
		        "usblab: cannot find usblabd %s%s (give its absolute path with "
		        "--exec PATH)\n",
		        o->exec ? "at " : "beside usblab", o->exec ? o->exec : "");
		return 1;
	}
	u = unit_text(o->user ? service_unit_user : service_unit_system, bindir);
	if (!u || write_file(unit, u) < 0) {
		fprintf(stderr, "usblab: cannot write %s: %s%s\n", unit, strerror(errno),
		        errno == EACCES && !o->user ? " (the system service needs root: sudo, or "
		                                      "--user for a user service)"
		                                    : "");
		free(u);
		return 1;
	}
	free(u);
	printf("wrote %s (usblabd from %s)\n", unit, bindir);
	if (!o->user) {
		snprintf(text, sizeof(text), rules_fmt, group, group, group);
		if (write_file(rules, text) < 0) {
			fprintf(stderr, "usblab: cannot write %s: %s\n", rules, strerror(errno));
			return 1;
		}
		printf("wrote %s (group %s)\n", rules, group);
	}
	if (o->root || o->no_start)
		return 0;
	if (o->user) {
		char *reload[] = {"systemctl", "--user", "daemon-reload", NULL};
		char *enable[] = {"systemctl", "--user", "enable", "--now", "usblabd", NULL};

		if (run(reload) < 0 || run(enable) < 0)
			return 1;
	} else {
		char *reload[] = {"systemctl", "daemon-reload", NULL};
		char *enable[] = {"systemctl", "enable", "--now", "usblabd", NULL};
		char *udev_reload[] = {"udevadm", "control", "--reload-rules", NULL};
		char *udev_trigger[] = {"udevadm", "trigger", "--subsystem-match=usb",
		                        "--subsystem-match=tty", NULL};

		if (run(udev_reload) < 0 || run(udev_trigger) < 0 || run(reload) < 0 ||
		    run(enable) < 0)
			return 1;
	}
	printf("usblabd is enabled and started%s\n",
	       o->user ? " (loginctl enable-linger keeps it running after you log out)" : "");
	return 0;
}

int service_uninstall(const struct service_opts *o)
{
	char unit[PATH_MAX], rules[PATH_MAX];
	int rc = 0;

	if (service_paths(o, unit, sizeof(unit), rules, sizeof(rules)) < 0) {
		fprintf(stderr, "usblab: no place for the unit (set HOME or XDG_CONFIG_HOME)\n");
		return 1;
	}
	if (!o->root && !o->no_start) {
		char *sys[] = {"systemctl", "disable", "--now", "usblabd", NULL};
		char *usr[] = {"systemctl", "--user", "disable", "--now", "usblabd", NULL};

		/* Not enabled is fine: the files still go. */
		run(o->user ? usr : sys);
	}
	if (unlink(unit) < 0 && errno != ENOENT) {
		fprintf(stderr, "usblab: cannot remove %s: %s\n", unit, strerror(errno));
		rc = 1;
	} else {
		printf("removed %s\n", unit);
	}
	if (!o->user) {
		if (unlink(rules) < 0 && errno != ENOENT) {
			fprintf(stderr, "usblab: cannot remove %s: %s\n", rules, strerror(errno));
			rc = 1;
		} else {
			printf("removed %s\n", rules);
		}
	}
	if (rc == 0 && !o->root && !o->no_start) {
		char *sys[] = {"systemctl", "daemon-reload", NULL};
		char *usr[] = {"systemctl", "--user", "daemon-reload", NULL};

		run(o->user ? usr : sys);
	}
	return rc;
}
