/* SPDX-License-Identifier: MIT */
/*
 * test_paths.c - the XDG directories with each variable set, unset,
 * empty and relative; too-small buffers; ul_path_mkdir creating parents
 * with mode 0700 under a temporary directory. Every test sets the
 * environment it needs and restores it (the runner's own HOME and XDG_*
 * are left as found).
 */
#include <errno.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "paths.h"

static const char *const vars[] = {"HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"};
#define NVARS (sizeof(vars) / sizeof(vars[0]))

struct env {
	char *saved[NVARS];
	char tmp[64]; /* a fresh directory under /tmp */
};

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	if (!e)
		return -1;
	for (size_t i = 0; i < NVARS; i++) {
		const char *v = getenv(vars[i]);
		e->saved[i] = v ? strdup(v) : NULL;
		unsetenv(vars[i]);
	}
	snprintf(e->tmp, sizeof(e->tmp), "/tmp/ul-paths-XXXXXX");
	if (!mkdtemp(e->tmp))
		return -1;
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	for (size_t i = 0; i < NVARS; i++) {
		if (e->saved[i])
			setenv(vars[i], e->saved[i], 1);
		else
			unsetenv(vars[i]);
		free(e->saved[i]);
	}
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->tmp);
	int rc = system(cmd);
	free(e);
	return rc == 0 ? 0 : -1;
}

static void expect_dir(enum ul_path_kind kind, const char *want)
{
	char out[512];
	assert_int_equal(ul_path_dir(kind, out, sizeof(out)), 0);
	assert_string_equal(out, want);
}

static void test_xdg_set(void **state)
{
	(void)state;
	setenv("HOME", "/home/ann", 1);
	setenv("XDG_CONFIG_HOME", "/etc", 1);
	setenv("XDG_STATE_HOME", "/var/lib", 1);
	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	expect_dir(UL_PATH_CONFIG, "/etc/usblab");
	expect_dir(UL_PATH_STATE, "/var/lib/usblab");
	expect_dir(UL_PATH_RUNTIME, "/run/user/1000/usblab");
	char out[512];
	assert_int_equal(ul_path_file(UL_PATH_CONFIG, "devices.conf", out, sizeof(out)), 0);
	assert_string_equal(out, "/etc/usblab/devices.conf");
	assert_int_equal(ul_path_file(UL_PATH_STATE, "usblab.db", out, sizeof(out)), 0);
	assert_string_equal(out, "/var/lib/usblab/usblab.db");
	assert_int_equal(ul_path_file(UL_PATH_RUNTIME, "usblabd.sock", out, sizeof(out)), 0);
	assert_string_equal(out, "/run/user/1000/usblab/usblabd.sock");
}

static void test_xdg_unset(void **state)
{
	(void)state;
	setenv("HOME", "/home/ann", 1);
	expect_dir(UL_PATH_CONFIG, "/home/ann/.config/usblab");
	expect_dir(UL_PATH_STATE, "/home/ann/.local/state/usblab");
	char want[64];
	if (geteuid() == 0)
		snprintf(want, sizeof(want), "/run/usblab");
	else
		snprintf(want, sizeof(want), "/tmp/usblab-%u", (unsigned)geteuid());
	expect_dir(UL_PATH_RUNTIME, want);
}

/* The spec: an empty or relative value is as if unset. */
static void test_xdg_empty_or_relative(void **state)
{
	(void)state;
	setenv("HOME", "/home/ann", 1);
	setenv("XDG_CONFIG_HOME", "", 1);
	setenv("XDG_STATE_HOME", "rel/state", 1);
	expect_dir(UL_PATH_CONFIG, "/home/ann/.config/usblab");
	expect_dir(UL_PATH_STATE, "/home/ann/.local/state/usblab");
	setenv("XDG_RUNTIME_DIR", "run", 1);
	char out[512];
	assert_int_equal(ul_path_dir(UL_PATH_RUNTIME, out, sizeof(out)), 0);
	assert_string_not_equal(out, "run/usblab");
}

/* Without HOME the passwd entry's directory is used: the same one a login
 * shell would have set. */
static void test_no_home(void **state)
{
	(void)state;
	char out[512], want[512];
	struct passwd *pw = getpwuid(geteuid());
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/') {
		snprintf(want, sizeof(want), "%s/.config/usblab", pw->pw_dir);
		expect_dir(UL_PATH_CONFIG, want);
	} else {
		assert_int_equal(ul_path_dir(UL_PATH_CONFIG, out, sizeof(out)), -1);
	}
	/* a relative HOME is no home either, but XDG still works without one */
	setenv("HOME", "relative", 1);
	setenv("XDG_CONFIG_HOME", "/cfg", 1);
	expect_dir(UL_PATH_CONFIG, "/cfg/usblab");
}

static void test_buffer_sizes(void **state)
{
	(void)state;
	setenv("XDG_CONFIG_HOME", "/etc", 1);
	char out[64];
	/* "/etc/usblab" is 11 characters: 12 bytes fit, 11 do not */
	assert_int_equal(ul_path_dir(UL_PATH_CONFIG, out, 12), 0);
	assert_string_equal(out, "/etc/usblab");
	assert_int_equal(ul_path_dir(UL_PATH_CONFIG, out, 11), -1);
	/* "/etc/usblab/devices.conf" is 24 */
	assert_int_equal(ul_path_file(UL_PATH_CONFIG, "devices.conf", out, 25), 0);
	assert_int_equal(ul_path_file(UL_PATH_CONFIG, "devices.conf", out, 24), -1);
	assert_int_equal(ul_path_file(UL_PATH_CONFIG, "", out, sizeof(out)), -1);
	assert_int_equal(ul_path_file(UL_PATH_CONFIG, NULL, out, sizeof(out)), -1);
	assert_int_equal(ul_path_dir((enum ul_path_kind)7, out, sizeof(out)), -1);
	assert_int_equal(ul_path_dir(UL_PATH_CONFIG, NULL, 0), -1);
	assert_int_equal(ul_path_dir(UL_PATH_CONFIG, out, 0), -1);
	assert_int_equal(ul_path_file(UL_PATH_CONFIG, "x", NULL, 0), -1);
	/* a variable too long for any path */
	char big[5000];
	memset(big, 'a', sizeof(big) - 1);
	big[0] = '/';
	big[sizeof(big) - 1] = '\0';
	setenv("XDG_STATE_HOME", big, 1);
	char huge[8192];
	assert_int_equal(ul_path_dir(UL_PATH_STATE, huge, sizeof(huge)), 0);
	assert_int_equal(ul_path_file(UL_PATH_STATE, "usblab.db", huge, sizeof(huge)), -1);
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	return st.st_mode & 07777;
}

static void test_mkdir(void **state)
{
	struct env *e = *state;
	char base[128], path[256];
	snprintf(base, sizeof(base), "%s/a/b", e->tmp);
	setenv("XDG_STATE_HOME", base, 1);
	mode_t old = umask(022);
	assert_int_equal(ul_path_mkdir(UL_PATH_STATE), 0);
	snprintf(path, sizeof(path), "%s/usblab", base);
	assert_int_equal(mode_of(path), 0700);
	assert_int_equal(mode_of(base), 0700); /* parents it made: 0700 too */
	snprintf(path, sizeof(path), "%s/a", e->tmp);
	assert_int_equal(mode_of(path), 0700);
	assert_int_equal(mode_of(e->tmp), 0700); /* mkdtemp's, left as it was */

	/* again: already there is success, and an existing mode is kept */
	snprintf(path, sizeof(path), "%s/usblab", base);
	assert_int_equal(chmod(path, 0750), 0);
	assert_int_equal(ul_path_mkdir(UL_PATH_STATE), 0);
	assert_int_equal(mode_of(path), 0750);
	umask(old);
}

static void test_mkdir_in_the_way(void **state)
{
	struct env *e = *state;
	char path[256];
	/* a file where the directory should be */
	snprintf(path, sizeof(path), "%s/usblab", e->tmp);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	setenv("XDG_CONFIG_HOME", e->tmp, 1);
	errno = 0;
	assert_int_equal(ul_path_mkdir(UL_PATH_CONFIG), -1);
	assert_int_equal(errno, ENOTDIR);
	/* a file where a parent should be */
	snprintf(path, sizeof(path), "%s/usblab/x", e->tmp);
	setenv("XDG_CONFIG_HOME", path, 1);
	assert_int_equal(ul_path_mkdir(UL_PATH_CONFIG), -1);
	assert_int_equal(errno, ENOTDIR);
}

static void test_mkdir_runtime(void **state)
{
	struct env *e = *state;
	char path[256];
	setenv("XDG_RUNTIME_DIR", e->tmp, 1);
	mode_t old = umask(077);
	assert_int_equal(ul_path_mkdir(UL_PATH_RUNTIME), 0);
	umask(old);
	snprintf(path, sizeof(path), "%s/usblab", e->tmp);
	assert_int_equal(mode_of(path), 0700);
}

/* Runs ul_path_mkdir(UL_PATH_RUNTIME) as uid in a child; returns 0, the
 * errno it failed with, or 100 when the child could not become uid. */
static int mkdir_runtime_as(uid_t uid, const char *want_dir)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setresgid(uid, uid, uid) != 0 || setresuid(uid, uid, uid) != 0)
			_exit(100);
		char dir[64];
		if (ul_path_dir(UL_PATH_RUNTIME, dir, sizeof(dir)) != 0 ||
		    strcmp(dir, want_dir) != 0)
			_exit(101);
		_exit(ul_path_mkdir(UL_PATH_RUNTIME) == 0 ? 0 : errno & 0x7f);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* Without XDG_RUNTIME_DIR a user's socket goes to /tmp/usblab-UID, where
 * anyone could have made the directory first. Becoming a user needs root:
 * skipped otherwise. The uid is one no account has, picked per process so
 * that two suites running at once do not meet. */
static void test_mkdir_tmp_fallback(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	uid_t uid = 61000 + (uid_t)(getpid() % 4000);
	char path[64];
	snprintf(path, sizeof(path), "/tmp/usblab-%u", (unsigned)uid);
	rmdir(path);

	/* someone else's (root's) directory */
	assert_int_equal(mkdir(path, 0700), 0);
	int rc = mkdir_runtime_as(uid, path);
	if (rc == 100) {
		rmdir(path);
		skip();
	}
	assert_int_equal(rc, EPERM);
	/* ours, but open to the group or others */
	assert_int_equal(chown(path, uid, uid), 0);
	assert_int_equal(chmod(path, 0770), 0);
	assert_int_equal(mkdir_runtime_as(uid, path), EPERM);
	assert_int_equal(chmod(path, 0701), 0);
	assert_int_equal(mkdir_runtime_as(uid, path), EPERM);
	/* ours and closed: fine */
	assert_int_equal(chmod(path, 0700), 0);
	assert_int_equal(mkdir_runtime_as(uid, path), 0);
	/* a symlink to our own directory is refused too */
	assert_int_equal(rmdir(path), 0);
	char target[80];
	snprintf(target, sizeof(target), "%s.real", path);
	assert_int_equal(mkdir(target, 0700), 0);
	assert_int_equal(chown(target, uid, uid), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(mkdir_runtime_as(uid, path), EPERM);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(target), 0);
	/* not there: made, 0700, the user's */
	assert_int_equal(mkdir_runtime_as(uid, path), 0);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_uid, uid);
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(rmdir(path), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_xdg_set, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_xdg_unset, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_xdg_empty_or_relative, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_no_home, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_buffer_sizes, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mkdir, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mkdir_in_the_way, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mkdir_runtime, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_mkdir_tmp_fallback, setup, teardown),
	};
	return cmocka_run_group_tests_name("bench-paths", tests, NULL, NULL);
}
