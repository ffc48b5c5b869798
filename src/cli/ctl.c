/* SPDX-License-Identifier: MIT */
/*
 * ctl.c - the control socket, client side (ctl.h).
 */
#include "ctl.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

int ctl_connect(struct ctl *c, const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return CTL_E_IO;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return CTL_E_IO;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		close(c->fd);
		c->fd = -1;
		snprintf(err, errlen, "cannot connect to %s: %s", path, strerror(e));
		return e == ENOENT || e == ECONNREFUSED || e == ENOTDIR ? CTL_E_NOT_RUNNING
		                                                        : CTL_E_IO;
	}
	return CTL_OK;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int ctl_send(struct ctl *c, int id, const char *method, json_t *params, char *err, size_t errlen)
{
	json_t *req = json_pack("{s:i, s:s}", "id", id, "method", method);
	char *text;
	int rc = CTL_OK;

	if (req && params)
		json_object_set(req, "params", params);
	text = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!text) {
		snprintf(err, errlen, "out of memory");
		return CTL_E_IO;
	}
	if (write_all(c->fd, text, strlen(text)) < 0 || write_all(c->fd, "\n", 1) < 0) {
		snprintf(err, errlen, "cannot send to usblabd: %s", strerror(errno));
		rc = CTL_E_IO;
	}
	free(text);
	return rc;
}

long ctl_line_split(const char *buf, size_t len, size_t *used)
{
	const char *nl = len ? memchr(buf, '\n', len) : NULL;
	size_t n;

	if (!nl)
		return -1;
	n = (size_t)(nl - buf);
	*used = n + 1;
	if (n > 0 && buf[n - 1] == '\r')
		n--;
	return (long)n;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctl_read(struct ctl *c, int timeout_ms, json_t **msg, char *err, size_t errlen)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;

	*msg = NULL;
	for (;;) {
		size_t used;
		long n = ctl_line_split(c->buf, c->len, &used);

		if (n >= 0) {
			json_error_t jerr;

			*msg = json_loadb(c->buf, (size_t)n, 0, &jerr);
			memmove(c->buf, c->buf + used, c->len - used);
			c->len -= used;
			if (!*msg) {
				snprintf(err, errlen, "usblabd sent a line that is not JSON: %s",
				         jerr.text);
				return CTL_E_PROTO;
			}
			return CTL_OK;
		}
		if (c->len >= CTL_MAX_LINE) {
			snprintf(err, errlen, "usblabd sent a line longer than %d bytes",
			         CTL_MAX_LINE);
			return CTL_E_PROTO;
		}
		if (c->cap - c->len < 4096) {
			size_t cap = c->cap ? c->cap * 2 : 65536;
			char *p = realloc(c->buf, cap);

			if (!p) {
				snprintf(err, errlen, "out of memory");
				return CTL_E_IO;
			}
			c->buf = p;
			c->cap = cap;
		}
		if (deadline >= 0) {
			struct pollfd pfd = {.fd = c->fd, .events = POLLIN};
			int64_t left = deadline - now_ms();
			int r;

			if (left < 0)
				left = 0;
			r = poll(&pfd, 1, (int)left);
			if (r < 0 && errno == EINTR)
				continue;
			if (r == 0) {
				snprintf(err, errlen, "usblabd did not answer within %d s",
				         timeout_ms / 1000);
				return CTL_E_TIMEOUT;
			}
		}
		ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(err, errlen, "cannot read from usblabd: %s", strerror(errno));
			return CTL_E_IO;
		}
		if (r == 0) {
			snprintf(err, errlen, "usblabd closed the connection");
			return CTL_E_CLOSED;
		}
		c->len += (size_t)r;
	}
}

void ctl_close(struct ctl *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	c->len = c->cap = 0;
}
