/* SPDX-License-Identifier: MIT */
/*
 * remote_api.c - GET /api/boards from a usblabd (remote_api.h).
 */
#include "remote_api.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for events on fd until deadline; 1 ready, 0 timed out, -1 error. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = events};
	int64_t left = deadline - mono_ms();
	int r;

	if (left <= 0)
		return 0;
	do
		r = poll(&p, 1, (int)left);
	while (r < 0 && errno == EINTR);
	return r;
}

/* A non-blocking connect to one of host's addresses before deadline. */
static int connect_by(const char *host, const char *port, int64_t deadline, char *err,
                      size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int fd = -1, rc;

	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
		return -1;
	}
	snprintf(err, errlen, "no address");
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
		            ai->ai_protocol);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 1 &&
		    getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr == 0)
			break;
		snprintf(err, errlen, "connect: %s",
		         soerr                  ? strerror(soerr)
		         : errno == EINPROGRESS ? "timed out"
		                                : strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

int remote_api_boards(const char *host, const char *port, unsigned timeout_ms, json_t **boards,
                      char *err, size_t errlen)
{
	int64_t deadline = mono_ms() + timeout_ms;
	char req[512], *buf = NULL, *body;
	size_t len = 0, cap = 0;
	int fd, status = 0, rc = -1;
	json_t *doc = NULL, *arr;
	json_error_t jerr;
	ssize_t n;

	*boards = NULL;
	fd = connect_by(host, port, deadline, err, errlen);
	if (fd < 0)
		return -1;
	/* HTTP/1.0: the server closes after the reply, so EOF ends the body. */
	n = snprintf(req, sizeof(req),
	             "GET /api/boards HTTP/1.0\r\nHost: %s\r\nAccept: application/json\r\n\r\n",
	             host);
	if (n < 0 || (size_t)n >= sizeof(req) || wait_fd(fd, POLLOUT, deadline) != 1 ||
	    send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		snprintf(err, errlen, "sending the request failed");
		goto out;
	}
	for (;;) {
		if (len + 4096 + 1 > cap) {
			char *nb;

			if (cap >= REMOTE_API_MAX_BYTES) {
				snprintf(err, errlen, "the reply is over %u bytes",
				         REMOTE_API_MAX_BYTES);
				goto out;
			}
			cap = cap ? cap * 2 : 16384;
			nb = realloc(buf, cap);
			if (!nb) {
				snprintf(err, errlen, "out of memory");
				goto out;
			}
			buf = nb;
		}
		if (wait_fd(fd, POLLIN, deadline) != 1) {
			snprintf(err, errlen, "no reply within %u ms", timeout_ms);
			goto out;
		}
		n = recv(fd, buf + len, cap - len - 1, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			snprintf(err, errlen, "recv: %s", strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = 0;
	if (sscanf(buf, "HTTP/%*d.%*d %d", &status) != 1) {
		snprintf(err, errlen, "not an HTTP server");
		goto out;
	}
	if (status != 200) {
		snprintf(err, errlen, "HTTP %d%s", status,
		         status == 401 ? " (the server wants a token)" : "");
		goto out;
	}
	body = strstr(buf, "\r\n\r\n");
	if (!body) {
		snprintf(err, errlen, "a reply without a body");
		goto out;
	}
	doc = json_loads(body + 4, 0, &jerr);
	arr = json_object_get(doc, "boards");
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "the reply holds no boards array");
		goto out;
	}
	*boards = json_incref(arr);
	rc = 0;
out:
	json_decref(doc);
	free(buf);
	close(fd);
	return rc;
}

static void copy_cut(char *out, size_t cap, const char *s, size_t n)
{
	if (cap == 0)
		return;
	if (n >= cap)
		n = cap - 1;
	memcpy(out, s, n);
	out[n] = 0;
}

void remote_devlist_path(const char *shown, char *name, size_t ncap, char *holder, size_t hcap,
                         char *path, size_t pcap)
{
	const char *sp, *p = shown;

	copy_cut(name, ncap, "", 0);
	copy_cut(holder, hcap, "", 0);
	/* bench.c's bench_devlist_entry: "NAME " or "NAME (leased by H) " first. */
	if (*p && *p != '/' && (sp = strchr(p, ' ')) != NULL) {
		copy_cut(name, ncap, p, (size_t)(sp - p));
		p = sp + 1;
		if (strncmp(p, "(leased by ", 11) == 0) {
			const char *close = strstr(p, ") ");

			if (close) {
				copy_cut(holder, hcap, p + 11, (size_t)(close - p - 11));
				p = close + 2;
			}
		}
	}
	copy_cut(path, pcap, p, strlen(p));
}
