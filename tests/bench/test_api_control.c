/* SPDX-License-Identifier: MIT */
/*
 * test_api_control.c - the control API's Unix-socket transport (control.c)
 * with real sockets in a temporary directory: replies to requests sent
 * whole, together and byte by byte; the caller's identity from
 * SO_PEERCRED; bad JSON; a line over 64 KiB; a follower that does not read
 * (dropped past 1 MiB); a client that pipelines requests without reading
 * (read paused, never dropped, every reply in order); the client limit; a
 * second daemon on the same path; a stale socket file; the socket's mode;
 * removal at close; a client leaving mid-wait.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "api.h"
#include "control.h"
#include "registry.h"
#include "tracker.h"

struct fixture {
	char dir[64];
	char path[100];
	struct event_base *base;
	struct registry reg;
	struct tracker *t;
	struct api *api;
	struct control *ctl;
};

static const char conf[] = "[cdc]\nserial = USBLAB-CDC-1\n[hid]\nserial = USBLAB-HID-2\n";

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct api_env env;
	struct ul_devfacts d;
	char err[256];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/ulctl-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* A directory control_listen must create. */
	snprintf(f->path, sizeof(f->path), "%s/run/usblabd.sock", f->dir);
	f->base = event_base_new();
	assert_int_equal(registry_parse_string(conf, "t.conf", &f->reg, err, sizeof(err)), 0);
	f->t = tracker_new(&f->reg, NULL, NULL);
	memset(&env, 0, sizeof(env));
	env.base = f->base;
	env.tracker = f->t;
	f->api = api_new(&env);
	assert_non_null(f->api);
	assert_int_equal(tracker_subscribe(f->t, &api_stream_sub, f->api, false), 0);
	memset(&d, 0, sizeof(d));
	UL_COPY(d.serial, "USBLAB-CDC-1");
	UL_COPY(d.busid, "0-1");
	tracker_exported(f->t, &d);
	if (control_listen(&f->ctl, f->base, f->api, f->path, err, sizeof(err)) < 0)
		fail_msg("control_listen: %s", err);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	control_close(f->ctl);
	api_free(f->api);
	tracker_free(f->t);
	registry_free(&f->reg);
	event_base_free(f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void pump(struct fixture *f, int rounds)
{
	struct timespec ts = {0, 1000000};

	for (int i = 0; i < rounds; i++) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		nanosleep(&ts, NULL);
	}
}

static int client(struct fixture *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	pump(f, 3);
	return fd;
}

static void put(int fd, const char *text)
{
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/* Reads one line (pumping the loop meanwhile); NULL at EOF. */
static json_t *get(struct fixture *f, int fd)
{
	static char buf[1 << 16];
	size_t n = 0;

	for (int idle = 0; idle < 2000;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t r;

		if (poll(&p, 1, 0) <= 0) {
			pump(f, 1);
			idle++;
			continue;
		}
		r = read(fd, buf + n, 1);
		if (r == 0)
			return NULL;
		if (r < 0 && errno == ECONNRESET)
			return NULL;
		assert_true(r == 1);
		if (buf[n] == '\n') {
			json_error_t e;
			json_t *j = json_loadb(buf, n, 0, &e);

			if (!j)
				fail_msg("not JSON: %.*s", (int)n, buf);
			return j;
		}
		assert_true(++n < sizeof(buf));
	}
	fail_msg("no line from the daemon");
	return NULL;
}

static const char *code_of(json_t *m)
{
	return json_string_value(json_object_get(json_object_get(m, "error"), "code"));
}

static void test_request_reply_and_identity(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);
	json_t *m;
	char want[160], host[64] = "";
	struct passwd *pw = getpwuid(getuid());

	put(fd, "{\"id\":1,\"method\":\"list\"}\n");
	m = get(f, fd);
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 1);
	assert_int_equal(json_array_size(json_object_get(json_object_get(m, "result"), "boards")),
	                 2);
	json_decref(m);
	/* The holder is who the kernel says is at the other end. */
	put(fd, "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\"}}\r\n");
	m = get(f, fd);
	gethostname(host, sizeof(host) - 1);
	snprintf(want, sizeof(want), "%s@%s", pw ? pw->pw_name : "?", host);
	assert_string_equal(
	        json_string_value(json_object_get(json_object_get(m, "result"), "holder")), want);
	json_decref(m);
	assert_int_equal(control_clients(f->ctl), 1);
	close(fd);
	pump(f, 5);
	assert_int_equal(control_clients(f->ctl), 0);
}

static void test_framing(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);
	const char *two = "{\"id\":1,\"method\":\"locks\"}\n{\"id\":2,\"method\":\"locks\"}\n";
	const char *split = "{\"id\":3,\"method\":\"locks\"}\n";
	json_t *m;

	put(fd, two);
	m = get(f, fd);
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 1);
	json_decref(m);
	m = get(f, fd);
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 2);
	json_decref(m);
	/* One byte at a time: no reply before the newline. */
	for (const char *p = split; *p; p++) {
		struct pollfd pf = {.fd = fd, .events = POLLIN};

		assert_int_equal(write(fd, p, 1), 1);
		pump(f, 2);
		if (p[1])
			assert_int_equal(poll(&pf, 1, 0), 0);
	}
	m = get(f, fd);
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 3);
	json_decref(m);
	/* Not JSON: an error, and the connection stays usable. */
	put(fd, "hello\n");
	m = get(f, fd);
	assert_string_equal(code_of(m), "bad_request");
	assert_true(json_is_null(json_object_get(m, "id")));
	json_decref(m);
	put(fd, "{\"id\":4,\"method\":\"status\"}\n");
	m = get(f, fd);
	assert_int_equal(json_integer_value(json_object_get(m, "id")), 4);
	json_decref(m);
	close(fd);
}

static void test_line_too_long(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);
	size_t n = CONTROL_MAX_LINE + 100;
	char *big = malloc(n);
	json_t *m;
	size_t off = 0;

	memset(big, 'x', n);
	/* Non-blocking: the daemon reads while we write. */
	fcntl(fd, F_SETFL, O_NONBLOCK);
	while (off < n) {
		ssize_t w = write(fd, big + off, n - off);

		if (w > 0)
			off += (size_t)w;
		else if (errno == EPIPE || errno == ECONNRESET)
			break;
		pump(f, 1);
	}
	fcntl(fd, F_SETFL, 0);
	m = get(f, fd);
	assert_non_null(m);
	assert_string_equal(code_of(m), "bad_request");
	json_decref(m);
	assert_null(get(f, fd)); /* then it closes */
	pump(f, 3);
	assert_int_equal(control_clients(f->ctl), 0);
	free(big);
	close(fd);
}

static void test_slow_follower_dropped(void **state)
{
	struct fixture *f = *state;
	int fd = client(f), other = client(f);
	int small = 4096;
	char why[200];
	json_t *m;
	int i;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	put(fd, "{\"id\":1,\"method\":\"events.follow\"}\n");
	m = get(f, fd);
	assert_true(json_is_true(json_object_get(json_object_get(m, "result"), "following")));
	json_decref(m);
	memset(why, 'w', sizeof(why) - 1);
	why[sizeof(why) - 1] = 0;
	/* ~450 bytes per event; the follower never reads. */
	for (i = 0; i < 20000 && control_clients(f->ctl) == 2; i++) {
		tracker_registry_rejected(f->t, why);
		if (i % 64 == 0)
			pump(f, 1);
	}
	pump(f, 3);
	assert_int_equal(control_clients(f->ctl), 1);
	/* It was dropped well before 20000 events: the queue stayed bounded. */
	assert_true(i < 20000);
	assert_true((size_t)i * 400 > CONTROL_MAX_OUT);
	/* The other client is served as before. */
	put(other, "{\"id\":9,\"method\":\"status\"}\n");
	m = get(f, other);
	assert_int_equal(
	        json_integer_value(json_object_get(json_object_get(m, "result"), "followers")), 0);
	json_decref(m);
	close(fd);
	close(other);
}

/* A client that sends many requests before reading any reply is not read
 * while its replies pile up (above CONTROL_READ_PAUSE), so it is never
 * dropped, and gets every reply, in order, once it reads. */
static void test_pipelined_requests_pause_reading(void **state)
{
	struct fixture *f = *state;
	int fd = client(f);
	enum { N = 6000 };
	char line[64], *all = malloc((size_t)N * sizeof(line));
	size_t len = 0, off = 0;
	int next = 0;

	for (int i = 0; i < N; i++)
		len += (size_t)sprintf(all + len, "{\"id\":%d,\"method\":\"list\"}\n", i);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	/* Write everything we can without reading: the daemon must stop reading
	 * us, so our writes block (EAGAIN) before all of it is taken. */
	for (int rounds = 0; off < len && rounds < 3000; rounds++) {
		ssize_t w = write(fd, all + off, len - off);

		if (w > 0)
			off += (size_t)w;
		pump(f, 1);
	}
	assert_int_equal(control_clients(f->ctl), 1);
	fcntl(fd, F_SETFL, 0);
	/* Now read: every reply comes, in order, and the rest is read. */
	while (next < N) {
		json_t *m;

		if (off < len) {
			struct pollfd p = {.fd = fd, .events = POLLOUT};

			if (poll(&p, 1, 0) == 1) {
				ssize_t w = send(fd, all + off, len - off, MSG_DONTWAIT);

				if (w > 0)
					off += (size_t)w;
			}
		}
		m = get(f, fd);
		assert_non_null(m);
		assert_int_equal(json_integer_value(json_object_get(m, "id")), next);
		next++;
		json_decref(m);
	}
	assert_int_equal(control_clients(f->ctl), 1);
	free(all);
	close(fd);
}

static void test_client_leaves_mid_wait(void **state)
{
	struct fixture *f = *state;
	int a = client(f), b = client(f);
	json_t *m;

	put(a, "{\"id\":1,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"tag\":\"a\"}}\n");
	json_decref(get(f, a));
	put(b,
	    "{\"id\":2,\"method\":\"checkout\",\"params\":{\"name\":\"cdc\",\"tag\":\"b\",\"wait\":"
	    "true}}\n");
	pump(f, 5);
	close(b);
	pump(f, 5);
	put(a, "{\"id\":3,\"method\":\"checkin\",\"params\":{\"name\":\"cdc\",\"tag\":\"a\"}}\n");
	m = get(f, a);
	assert_true(json_is_true(json_object_get(json_object_get(m, "result"), "released")));
	json_decref(m);
	pump(f, 5);
	/* Nobody took it for the client that left. */
	assert_false(tracker_find(f->t, "cdc")->leased);
	close(a);
}

/* Past CONTROL_MAX_CLIENTS, one more is told why and closed; the others
 * are served. */
static void test_client_limit(void **state)
{
	struct fixture *f = *state;
	int fds[CONTROL_MAX_CLIENTS], extra;
	json_t *m;

	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		fds[i] = client(f);
	assert_int_equal(control_clients(f->ctl), CONTROL_MAX_CLIENTS);
	extra = client(f);
	m = get(f, extra);
	assert_non_null(m);
	assert_string_equal(code_of(m), "internal");
	json_decref(m);
	assert_null(get(f, extra));
	assert_int_equal(control_clients(f->ctl), CONTROL_MAX_CLIENTS);
	put(fds[CONTROL_MAX_CLIENTS - 1], "{\"id\":1,\"method\":\"locks\"}\n");
	m = get(f, fds[CONTROL_MAX_CLIENTS - 1]);
	assert_non_null(json_object_get(m, "result"));
	json_decref(m);
	close(extra);
	for (int i = 0; i < CONTROL_MAX_CLIENTS; i++)
		close(fds[i]);
	pump(f, 5);
	assert_int_equal(control_clients(f->ctl), 0);
}

static void test_socket_file(void **state)
{
	struct fixture *f = *state;
	struct stat st;
	struct control *second = NULL;
	char err[256], stale[100], plain[100];
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd;

	assert_int_equal(stat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0660);
	/* Another daemon answers there: refused, and the file stays. */
	assert_int_equal(control_listen(&second, f->base, f->api, f->path, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "another usblabd answers"));
	assert_int_equal(stat(f->path, &st), 0);
	/* A socket file nobody listens on is stale: replaced. */
	snprintf(stale, sizeof(stale), "%s/stale.sock", f->dir);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", stale);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	assert_int_equal(control_listen(&second, f->base, f->api, stale, err, sizeof(err)), 0);
	control_close(second);
	/* ... and removed at close. */
	assert_int_equal(stat(stale, &st), -1);
	/* Not a socket: refused, left alone. */
	snprintf(plain, sizeof(plain), "%s/plain", f->dir);
	fd = open(plain, O_CREAT | O_WRONLY, 0600);
	close(fd);
	assert_int_equal(control_listen(&second, f->base, f->api, plain, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a socket"));
	assert_int_equal(stat(plain, &st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_request_reply_and_identity, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_framing, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_line_too_long, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_slow_follower_dropped, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pipelined_requests_pause_reading, setup,
	                                        teardown),
	        cmocka_unit_test_setup_teardown(test_client_leaves_mid_wait, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_client_limit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_socket_file, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
