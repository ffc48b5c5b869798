/* SPDX-License-Identifier: MIT */
#include "usblabd_proc.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void usblabd_proc_sleep_ms(unsigned ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Asks the kernel for a free loopback port. Another process could take it
 * before the daemon binds; usblabd_proc_start() retries then. */
static int usblabd_proc_free_port(unsigned *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int rc = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&sa, &salen) == 0) {
		*port = ntohs(sa.sin_port);
		rc = 0;
	}
	close(fd);
	return rc;
}

static bool usblabd_proc_accepts(unsigned port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	                         .sin_port = htons((uint16_t)port)};
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok;

	if (fd < 0)
		return false;
	ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	close(fd);
	return ok;
}

bool usblabd_proc_alive(struct usblabd_proc *p)
{
	if (p->reaped)
		return false;
	if (waitpid(p->pid, &p->status, WNOHANG) == p->pid) {
		p->reaped = true;
		return false;
	}
	return true;
}

static pid_t usblabd_proc_spawn(const char *exe, const char *listen, const char *virt, bool quiet)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (quiet) {
		int fd = open("/dev/null", O_WRONLY);

		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
	}
	/* No control socket, store or udev: tests run several daemons at once. */
	execl(exe, exe, "--listen", listen, "--virtual", virt, "--control", "none", "--db", "none",
	      "--no-inventory", "--registry", "/dev/null", (char *)NULL);
	fprintf(stderr, "usblabd_proc: cannot run %s: %s\n", exe, strerror(errno));
	_exit(127);
}

int usblabd_proc_start(struct usblabd_proc *p, const char *exe, const char *virt, bool quiet,
                       char *err, size_t errlen)
{
	char listen[32];
	unsigned port = 0;
	int attempt, i;

	memset(p, 0, sizeof(*p));
	for (attempt = 0; attempt < 3; attempt++) {
		if (usblabd_proc_free_port(&port) < 0) {
			snprintf(err, errlen, "no free port: %s", strerror(errno));
			return -1;
		}
		snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
		p->reaped = false;
		p->pid = usblabd_proc_spawn(exe, listen, virt, quiet);
		if (p->pid < 0) {
			snprintf(err, errlen, "fork: %s", strerror(errno));
			return -1;
		}
		for (i = 0; i < 1000; i++) {
			if (usblabd_proc_accepts(port)) {
				snprintf(p->host, sizeof(p->host), "127.0.0.1");
				snprintf(p->port, sizeof(p->port), "%u", port);
				return 0;
			}
			if (!usblabd_proc_alive(p))
				break;
			usblabd_proc_sleep_ms(10);
		}
		if (usblabd_proc_alive(p)) {
			usblabd_proc_stop(p);
			snprintf(err, errlen, "%s does not accept on %s after 10 s", exe, listen);
			return -1;
		}
		/* It exited: maybe the port was taken meanwhile; try another. */
		snprintf(err, errlen, "%s exited early (wait status 0x%x)", exe, p->status);
	}
	return -1;
}

int usblabd_proc_stop(struct usblabd_proc *p)
{
	int i;

	if (!usblabd_proc_alive(p))
		return p->status;
	kill(p->pid, SIGTERM);
	for (i = 0; i < 500; i++) {
		if (!usblabd_proc_alive(p))
			return p->status;
		usblabd_proc_sleep_ms(10);
	}
	kill(p->pid, SIGKILL);
	if (waitpid(p->pid, &p->status, 0) == p->pid)
		p->reaped = true;
	return p->status;
}
