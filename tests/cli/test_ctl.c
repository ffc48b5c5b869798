/* SPDX-License-Identifier: MIT */
/*
 * test_ctl.c - the CLI's side of the control socket (src/cli/ctl.c): line
 * splitting vectors (every strict prefix of a line is "not yet"), replies
 * read whole, several per read and across reads, a line that is not JSON,
 * a closed connection, a timeout, and a socket nobody listens on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <sys/socket.h>
#include <unistd.h>

#include "ctl.h"

static void test_line_split_vectors(void **state)
{
	static const struct {
		const char *in;
		long want; /* line length, -1 not yet */
		size_t used;
	} v[] = {
	        {"", -1, 0},               /* nothing */
	        {"{}", -1, 0},             /* no newline yet */
	        {"{}\n", 2, 3},            /* one line */
	        {"{}\r\n", 2, 4},          /* CRLF: the CR is not part of it */
	        {"\n", 0, 1},              /* an empty line */
	        {"{\"a\":1}\n{}\n", 7, 8}, /* the first of two */
	        {"\r\n", 0, 2},            /* CR alone before LF */
	        {"ab\rc\n", 4, 5},         /* a CR inside stays */
	};
	const char *line = "{\"id\":1,\"result\":{}}\n";
	size_t used = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		long got = ctl_line_split(v[i].in, strlen(v[i].in), &used);

		assert_int_equal(got, v[i].want);
		if (got >= 0)
			assert_int_equal(used, v[i].used);
	}
	for (size_t n = 0; n < strlen(line); n++)
		assert_int_equal(ctl_line_split(line, n, &used), -1);
	assert_int_equal(ctl_line_split(line, strlen(line), &used), (long)strlen(line) - 1);
}

static void test_read_messages(void **state)
{
	struct ctl c = {.fd = -1};
	int sv[2];
	json_t *m = NULL;
	char err[256];
	const char *two = "{\"id\":1,\"result\":1}\n{\"event\":{\"kind\":\"arrived\"}}\n{\"id\":";

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c.fd = sv[0];
	assert_int_equal(write(sv[1], two, strlen(two)), (ssize_t)strlen(two));
	assert_int_equal(ctl_read(&c, 1000, &m, err, sizeof(err)), CTL_OK);
	assert_int_equal(json_integer_value(json_object_get(m, "result")), 1);
	json_decref(m);
	assert_int_equal(ctl_read(&c, 1000, &m, err, sizeof(err)), CTL_OK);
	assert_non_null(json_object_get(m, "event"));
	json_decref(m);
	/* Half a line: not yet, so the wait times out. */
	assert_int_equal(ctl_read(&c, 50, &m, err, sizeof(err)), CTL_E_TIMEOUT);
	assert_null(m);
	/* The rest arrives: the line is whole. */
	assert_int_equal(write(sv[1], "2}\n", 3), 3);
	assert_int_equal(ctl_read(&c, 1000, &m, err, sizeof(err)), CTL_OK);
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 2);
	json_decref(m);
	/* Garbage is a protocol error, not a crash. */
	assert_int_equal(write(sv[1], "nonsense\n", 9), 9);
	assert_int_equal(ctl_read(&c, 1000, &m, err, sizeof(err)), CTL_E_PROTO);
	/* The daemon goes away. */
	close(sv[1]);
	assert_int_equal(ctl_read(&c, 1000, &m, err, sizeof(err)), CTL_E_CLOSED);
	assert_non_null(strstr(err, "closed"));
	ctl_close(&c);
}

static void test_send_is_one_line(void **state)
{
	struct ctl c = {.fd = -1};
	int sv[2];
	char buf[256], err[256];
	json_t *params = json_pack("{s:s}", "name", "a\nb");
	ssize_t n;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	c.fd = sv[0];
	assert_int_equal(ctl_send(&c, 7, "info", params, err, sizeof(err)), CTL_OK);
	n = read(sv[1], buf, sizeof(buf) - 1);
	assert_true(n > 0);
	buf[n] = 0;
	/* A newline inside a value is escaped: one line, ending the message. */
	assert_ptr_equal(strchr(buf, '\n'), buf + n - 1);
	assert_string_equal(buf,
	                    "{\"id\":7,\"method\":\"info\",\"params\":{\"name\":\"a\\nb\"}}\n");
	json_decref(params);
	ctl_close(&c);
	close(sv[1]);
}

static void test_not_running(void **state)
{
	struct ctl c;
	char err[256];

	(void)state;
	assert_int_equal(ctl_connect(&c, "/nonexistent/usblab/usblabd.sock", err, sizeof(err)),
	                 CTL_E_NOT_RUNNING);
	assert_non_null(strstr(err, "/nonexistent/usblab/usblabd.sock"));
	ctl_close(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_line_split_vectors),
	        cmocka_unit_test(test_read_messages),
	        cmocka_unit_test(test_send_is_one_line),
	        cmocka_unit_test(test_not_running),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
