/* SPDX-License-Identifier: MIT */
/*
 * labprobe.c - the kernel lab's measuring and probing tool, run inside the
 * qemu guest. lab.sh builds it statically on the host (no libraries in the
 * guest but what the initramfs carries) and installs it as /bin/labprobe.
 *
 * Each subcommand does one thing that busybox cannot do, or cannot do with
 * the precision a measurement needs:
 *
 *   seqread DEV SECONDS        O_DIRECT sequential read in 1 MiB blocks,
 *                              wrapping at the end of DEV, for at least
 *                              SECONDS; prints MB/s (1 MB = 10^6 bytes).
 *                              A failed read ends it with exit status 1.
 *   randread DEV SECONDS       O_DIRECT 4 KiB reads at random aligned
 *                              offsets, one at a time; prints IOPS.
 *   ctrllat USBDEV SECONDS     GET_DESCRIPTOR(device) control transfers
 *                              through usbfs (USBDEVFS_CONTROL); prints the
 *                              round-trip p50 and p99 in microseconds.
 *   ctrlrate USBDEV DEPTH SECONDS
 *                              the same GET_DESCRIPTOR as asynchronous usbfs
 *                              URBs (USBDEVFS_SUBMITURB), DEPTH of them in
 *                              flight, each resubmitted as it is reaped;
 *                              prints URBs completed per second.
 *   floor USBDEV SECONDS       the least a userspace USB/IP server does per
 *                              URB, against USBDEV directly: a client process
 *                              sends a 48-byte command over loopback TCP and
 *                              waits for the 66-byte reply; the server loop
 *                              does epoll_wait, recv, SUBMITURB
 *                              (GET_DESCRIPTOR), epoll_wait (the usbfs
 *                              wake-up), REAPURBNDELAY, send: 6 system calls
 *                              and no copy beyond the socket's. Prints URBs
 *                              per second and the client's p50 round trip.
 *   floorread USBDEV SECONDS [KIB]
 *                              the least a userspace USB/IP server does for a
 *                              sequential read of USBDEV's disk (bulk-only
 *                              mass storage): takes the interface from
 *                              usb-storage, and a client process reads the
 *                              disk in SCSI READ(10)s of KIB (default 1024)
 *                              through the server over loopback TCP, one URB
 *                              at a time as usb-storage through vhci does
 *                              (CBW out, data in, CSW in; each a 48-byte
 *                              command, then a 48-byte reply + its data).
 *                              The server loop is floor's, the data in
 *                              usbfs-mapped memory, sent from there with the
 *                              reply's header in one sendmsg. Prints MB/s
 *                              counted by the client; gives the interface
 *                              back to usb-storage at the end. With "thread"
 *                              the client is a thread of the server's
 *                              process: no address-space switch per URB, as
 *                              between usblabd and vhci's kernel threads.
 *   floorsrv USBDEV BUSID PORT [libusb]
 *                              the least USB/IP server, for the bench to
 *                              attach through vhci and measure as it does the
 *                              kernel and usblabd: takes every interface of
 *                              USBDEV from its driver, answers one
 *                              OP_REQ_IMPORT of BUSID on 127.0.0.1:PORT, then
 *                              serves URBs with floor's system calls (reply
 *                              and IN data in one sendmsg from usbfs-mapped
 *                              memory) until the client leaves; prints
 *                              "urbs=N" and gives the interfaces back. With
 *                              "libusb", also the two calls libusb's event
 *                              handling adds per URB (a poll() of its fds,
 *                              reaping until EAGAIN).
 *   evkeys DEV|vhci SECONDS    prints the key codes pressed on an evdev
 *                              device until KEY_ENTER or SECONDS, then the
 *                              text they type on a US layout (Enter as
 *                              "\n"). With "vhci" it first waits for an
 *                              event device under vhci_hcd and opens it.
 *   ttyecho DEV TEXT SECONDS   raw mode, writes TEXT, reads until as many
 *                              bytes came back or SECONDS passed; exit 0
 *                              when they are equal.
 *   ttystorm DEV ROUNDS        opens DEV, writes up to 2 KiB, closes it
 *                              after 0-3 ms without reading, ROUNDS times: every
 *                              close kills cdc-acm's pending read URBs while
 *                              echoed data may be in flight (unlinks racing
 *                              completions).
 *
 * Output is "key=value ..." lines on stdout; errors go to stderr as
 * "labprobe: ..." with exit status 1, usage errors exit 2.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/input.h>
#include <linux/usbdevice_fs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define SEQ_BLOCK    (1024 * 1024)
#define RAND_BLOCK   4096
#define MAX_SAMPLES  200000
#define DIRECT_ALIGN 4096

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail_errno(const char *what, const char *path)
{
	fprintf(stderr, "labprobe: %s %s: %s\n", what, path, strerror(errno));
	return 1;
}

static int parse_seconds(const char *text, double *out)
{
	char *end;

	*out = strtod(text, &end);
	if (end == text || *end != '\0' || *out <= 0) {
		fprintf(stderr, "labprobe: bad duration '%s'\n", text);
		return -1;
	}
	return 0;
}

static int cmd_seqread(const char *dev, double seconds)
{
	unsigned long long bytes = 0;
	off_t offset = 0;
	void *buf = NULL;
	double start, elapsed;
	int fd, ret = 1;

	fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return fail_errno("open", dev);
	/* O_DIRECT needs a buffer aligned to the logical block size. */
	if (posix_memalign(&buf, DIRECT_ALIGN, SEQ_BLOCK) != 0) {
		fprintf(stderr, "labprobe: out of memory\n");
		goto out;
	}
	start = now_seconds();
	for (;;) {
		ssize_t n = pread(fd, buf, SEQ_BLOCK, offset);

		elapsed = now_seconds() - start;
		if (n < 0) {
			fprintf(stderr, "labprobe: read %s at offset %lld after %.3f s: %s\n", dev,
			        (long long)offset, elapsed, strerror(errno));
			printf("error=%d bytes=%llu seconds=%.3f\n", errno, bytes, elapsed);
			goto out;
		}
		if (n == 0) {
			if (offset == 0) {
				fprintf(stderr, "labprobe: %s is empty\n", dev);
				goto out;
			}
			offset = 0; /* wrap: keep reading for the whole duration */
			continue;
		}
		bytes += (unsigned long long)n;
		offset += n;
		if (elapsed >= seconds)
			break;
	}
	printf("bytes=%llu seconds=%.3f MBps=%.1f\n", bytes, elapsed,
	       (double)bytes / elapsed / 1e6);
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

static int cmd_randread(const char *dev, double seconds)
{
	unsigned long long size = 0, ops = 0, blocks;
	uint64_t rng = 0x9e3779b97f4a7c15ull;
	void *buf = NULL;
	double start, elapsed;
	int fd, ret = 1;

	fd = open(dev, O_RDONLY | O_DIRECT);
	if (fd < 0)
		return fail_errno("open", dev);
	if (ioctl(fd, BLKGETSIZE64, &size) < 0) {
		fail_errno("BLKGETSIZE64", dev);
		goto out;
	}
	blocks = size / RAND_BLOCK;
	if (blocks == 0 || posix_memalign(&buf, DIRECT_ALIGN, RAND_BLOCK) != 0) {
		fprintf(stderr, "labprobe: %s too small or out of memory\n", dev);
		goto out;
	}
	start = now_seconds();
	do {
		off_t offset;

		/* xorshift64: cheap, and the same sequence for every server measured */
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		offset = (off_t)(rng % blocks) * RAND_BLOCK;
		if (pread(fd, buf, RAND_BLOCK, offset) != RAND_BLOCK) {
			fail_errno("pread", dev);
			goto out;
		}
		ops++;
		elapsed = now_seconds() - start;
	} while (elapsed < seconds);
	printf("ops=%llu seconds=%.3f iops=%.0f\n", ops, elapsed, (double)ops / elapsed);
	ret = 0;
out:
	free(buf);
	close(fd);
	return ret;
}

static int compare_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static int cmd_ctrllat(const char *dev, double seconds)
{
	unsigned char desc[18];
	struct usbdevfs_ctrltransfer ctrl = {
	        .bRequestType = 0x80, /* IN, standard, device */
	        .bRequest = 6,        /* GET_DESCRIPTOR */
	        .wValue = 0x0100,     /* DEVICE descriptor, index 0 */
	        .wIndex = 0,
	        .wLength = sizeof(desc),
	        .timeout = 1000,
	        .data = desc,
	};
	double *samples, start, t0, t1;
	size_t n = 0;
	int fd, i, ret = 1;

	samples = calloc(MAX_SAMPLES, sizeof(*samples));
	if (!samples) {
		fprintf(stderr, "labprobe: out of memory\n");
		return 1;
	}
	fd = open(dev, O_RDWR);
	if (fd < 0) {
		fail_errno("open", dev);
		goto out_free;
	}
	/* Warm up: the first transfers pay for page faults and cold caches. */
	for (i = 0; i < 10; i++) {
		if (ioctl(fd, USBDEVFS_CONTROL, &ctrl) != (int)sizeof(desc)) {
			fail_errno("USBDEVFS_CONTROL", dev);
			goto out;
		}
	}
	start = now_seconds();
	do {
		t0 = now_seconds();
		if (ioctl(fd, USBDEVFS_CONTROL, &ctrl) != (int)sizeof(desc)) {
			fail_errno("USBDEVFS_CONTROL", dev);
			goto out;
		}
		t1 = now_seconds();
		samples[n++] = (t1 - t0) * 1e6;
	} while (t1 - start < seconds && n < MAX_SAMPLES);
	qsort(samples, n, sizeof(*samples), compare_double);
	printf("n=%zu p50_us=%.0f p99_us=%.0f\n", n, samples[n / 2], samples[n * 99 / 100]);
	ret = 0;
out:
	close(fd);
out_free:
	free(samples);
	return ret;
}

#define CTRL_MAX_DEPTH 64

static int cmd_ctrlrate(const char *dev, int depth, double seconds)
{
	/* Each URB: the 8-byte setup packet, then room for the 18-byte
	 * device descriptor (usbfs wants both in one buffer for control). */
	static unsigned char bufs[CTRL_MAX_DEPTH][8 + 18];
	static struct usbdevfs_urb urbs[CTRL_MAX_DEPTH];
	const unsigned char setup[8] = {0x80, 6, 0x00, 0x01, 0, 0, 18, 0};
	unsigned long long done = 0;
	double start = 0, elapsed = 0;
	int fd, i, inflight = 0, ret = 1;

	if (depth < 1 || depth > CTRL_MAX_DEPTH) {
		fprintf(stderr, "labprobe: depth %d not in 1..%d\n", depth, CTRL_MAX_DEPTH);
		return 2;
	}
	fd = open(dev, O_RDWR);
	if (fd < 0)
		return fail_errno("open", dev);
	for (i = 0; i < depth; i++) {
		memcpy(bufs[i], setup, sizeof(setup));
		urbs[i].type = USBDEVFS_URB_TYPE_CONTROL;
		urbs[i].endpoint = 0;
		urbs[i].buffer = bufs[i];
		urbs[i].buffer_length = sizeof(bufs[i]);
		urbs[i].usercontext = &urbs[i];
		if (ioctl(fd, USBDEVFS_SUBMITURB, &urbs[i]) < 0) {
			fail_errno("USBDEVFS_SUBMITURB", dev);
			goto out;
		}
		inflight++;
	}
	start = now_seconds();
	while (inflight > 0) {
		struct usbdevfs_urb *u = NULL;

		if (ioctl(fd, USBDEVFS_REAPURB, &u) < 0) {
			fail_errno("USBDEVFS_REAPURB", dev);
			goto out;
		}
		inflight--;
		if (u->status != 0 || u->actual_length != 18) {
			fprintf(stderr, "labprobe: URB status %d, %d bytes\n", u->status,
			        u->actual_length);
			goto out;
		}
		done++;
		elapsed = now_seconds() - start;
		if (elapsed >= seconds)
			continue; /* drain what is still in flight */
		memcpy(u->buffer, setup, sizeof(setup));
		u->status = 0;
		u->actual_length = 0;
		if (ioctl(fd, USBDEVFS_SUBMITURB, u) < 0) {
			fail_errno("USBDEVFS_SUBMITURB", dev);
			goto out;
		}
		inflight++;
	}
	elapsed = now_seconds() - start;
	printf("depth=%d urbs=%llu seconds=%.3f urbps=%.0f\n", depth, done, elapsed,
	       (double)done / elapsed);
	ret = 0;
out:
	/* Leaving with URBs in flight: closing the fd kills them. */
	close(fd);
	return ret;
}

/* The client: one command, then its reply, as vhci does for one URB at a
 * time. A process of its own, so that each round trip switches address
 * spaces as labprobe on vhci and usblabd do (under TCG a switch flushes
 * qemu's software TLB); the kernel's stub runs in kernel threads and does
 * not. Until the server closes; writes the p50 round trip (µs) to out. */
static void floor_client(int fd, int out)
{
	unsigned char cmd[48] = {0}, rep[48 + 18];
	double *samples = calloc(MAX_SAMPLES, sizeof(*samples)), p50 = -1;
	size_t n = 0;

	while (samples) {
		double t0 = now_seconds();

		if (send(fd, cmd, sizeof(cmd), MSG_NOSIGNAL) != (ssize_t)sizeof(cmd) ||
		    recv(fd, rep, sizeof(rep), MSG_WAITALL) != (ssize_t)sizeof(rep))
			break;
		if (n < MAX_SAMPLES)
			samples[n++] = (now_seconds() - t0) * 1e6;
	}
	if (n > 0) {
		qsort(samples, n, sizeof(*samples), compare_double);
		p50 = samples[n / 2];
	}
	if (write(out, &p50, sizeof(p50)) != (ssize_t)sizeof(p50))
		_exit(1);
	_exit(0);
}

/*
 * The floors' plumbing: a loopback TCP pair (*cfd the client's end, *sfd
 * the server's, both TCP_NODELAY as USB/IP peers set it; *lfd the
 * listener), a pipe for the client's result, and an epoll set watching
 * *sfd for input and usbfs fd usb for completed URBs (usbfs signals those
 * as POLLOUT, as libusb watches it). 0, or -1 after saying why; the caller
 * closes what is not -1.
 */
static int floor_plumbing(int usb, const char *dev, int *lfd, int *cfd, int *sfd, int pfd[2],
                          int *ep)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t salen = sizeof(sa);
	struct epoll_event ev;
	int one = 1;

	*lfd = socket(AF_INET, SOCK_STREAM, 0);
	*cfd = socket(AF_INET, SOCK_STREAM, 0);
	if (*lfd < 0 || *cfd < 0 || bind(*lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(*lfd, 1) < 0 || getsockname(*lfd, (struct sockaddr *)&sa, &salen) < 0 ||
	    connect(*cfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    (*sfd = accept(*lfd, NULL, NULL)) < 0 || pipe(pfd) < 0) {
		fail_errno("loopback socket", "127.0.0.1");
		return -1;
	}
	setsockopt(*cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(*sfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = *sfd;
	if (*ep < 0 || epoll_ctl(*ep, EPOLL_CTL_ADD, *sfd, &ev) < 0) {
		fail_errno("epoll", "socket");
		return -1;
	}
	ev.events = EPOLLOUT;
	ev.data.fd = usb;
	if (epoll_ctl(*ep, EPOLL_CTL_ADD, usb, &ev) < 0) {
		fail_errno("epoll", dev);
		return -1;
	}
	return 0;
}

static int cmd_floor(const char *dev, double seconds)
{
	const unsigned char setup[8] = {0x80, 6, 0x00, 0x01, 0, 0, 18, 0};
	static unsigned char buf[8 + 18];
	struct usbdevfs_urb urb = {
	        .type = USBDEVFS_URB_TYPE_CONTROL, .buffer = buf, .buffer_length = sizeof(buf)};
	unsigned char cmd[48], rep[48 + 18] = {0};
	unsigned long long urbs = 0;
	double start, elapsed, p50 = -1;
	int usb, lfd = -1, cfd = -1, sfd = -1, ep = -1, pfd[2] = {-1, -1}, ret = 1;
	pid_t child = -1;

	usb = open(dev, O_RDWR);
	if (usb < 0) {
		fail_errno("open", dev);
		goto out;
	}
	if (floor_plumbing(usb, dev, &lfd, &cfd, &sfd, pfd, &ep) < 0)
		goto out;
	child = fork();
	if (child < 0) {
		fail_errno("fork", "client");
		goto out;
	}
	if (child == 0) {
		close(sfd);
		close(lfd);
		close(usb);
		close(pfd[0]);
		floor_client(cfd, pfd[1]);
	}
	close(cfd);
	cfd = -1;
	start = now_seconds();
	do {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, 1000);

		for (int i = 0; i < n; i++) {
			if (got[i].data.fd == sfd) {
				if (recv(sfd, cmd, sizeof(cmd), MSG_DONTWAIT) !=
				    (ssize_t)sizeof(cmd))
					continue;
				memcpy(buf, setup, sizeof(setup));
				if (ioctl(usb, USBDEVFS_SUBMITURB, &urb) < 0) {
					fail_errno("USBDEVFS_SUBMITURB", dev);
					goto out;
				}
			} else {
				struct usbdevfs_urb *done = NULL;

				if (ioctl(usb, USBDEVFS_REAPURBNDELAY, &done) < 0)
					continue;
				memcpy(rep + 48, buf + 8, 18);
				if (send(sfd, rep, sizeof(rep), MSG_NOSIGNAL) !=
				    (ssize_t)sizeof(rep)) {
					fail_errno("send", "socket");
					goto out;
				}
				urbs++;
			}
		}
		elapsed = now_seconds() - start;
	} while (elapsed < seconds);
	shutdown(sfd, SHUT_RDWR);
	if (read(pfd[0], &p50, sizeof(p50)) != (ssize_t)sizeof(p50) || p50 < 0 || urbs == 0) {
		fprintf(stderr, "labprobe: the floor's client completed no round trip\n");
		goto out;
	}
	printf("urbs=%llu seconds=%.3f urbps=%.0f p50_us=%.0f\n", urbs, elapsed,
	       (double)urbs / elapsed, p50);
	ret = 0;
out:
	if (sfd >= 0)
		shutdown(sfd, SHUT_RDWR);
	if (child > 0)
		waitpid(child, NULL, 0);
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0)
			close(pfd[i]);
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	if (usb >= 0)
		close(usb);
	return ret;
}

/* --- floorread: the sequential-read floor --------------------------------- */

#define BOT_CBW_LEN       31
#define BOT_CSW_LEN       13
#define BOT_CBW_SIG       0x43425355u /* "USBC" */
#define BOT_CSW_SIG       0x53425355u /* "USBS" */
#define USBIP_HDR_LEN     48
#define FLOORREAD_MAX_KIB 16384
#define USB_TIMEOUT_MS    5000

static void put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static uint32_t get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
}

static uint32_t get_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* The mass-storage (bulk-only) interface of a device and its endpoints. */
struct bot_dev {
	int fd;
	unsigned ifno;
	unsigned char ep_in, ep_out;
	bool claimed;
};

/* Finds the first bulk-only mass-storage interface (class 8, protocol 0x50,
 * alternate setting 0) in the descriptors usbfs returns on read() (device,
 * then each configuration in full) and its bulk IN and OUT endpoints. */
static int bot_find(struct bot_dev *d, const char *dev)
{
	unsigned char desc[4096];
	ssize_t len = read(d->fd, desc, sizeof(desc));
	bool in_msc = false;

	if (len < 18 + 9) {
		fprintf(stderr, "labprobe: %s: short descriptors (%zd bytes)\n", dev, len);
		return -1;
	}
	/* Walk the first configuration: the device has one, as qemu's usb-storage. */
	for (ssize_t i = 18; i + 2 <= len && desc[i] >= 2 && i + desc[i] <= len; i += desc[i]) {
		const unsigned char *p = desc + i;

		if (p[1] == 2 && i > 18)
			break; /* the next configuration */
		if (p[1] == 4 && p[0] >= 9) {
			if (d->ep_in && d->ep_out)
				break;
			in_msc = p[3] == 0 && p[5] == 8 && p[7] == 0x50;
			d->ifno = p[2];
			d->ep_in = d->ep_out = 0;
		} else if (p[1] == 5 && p[0] >= 7 && in_msc && (p[3] & 3) == 2) {
			if (p[2] & 0x80)
				d->ep_in = p[2];
			else
				d->ep_out = p[2];
		}
	}
	if (!in_msc || !d->ep_in || !d->ep_out) {
		fprintf(stderr, "labprobe: %s has no bulk-only mass-storage interface\n", dev);
		return -1;
	}
	return 0;
}

/* Takes the interface from its kernel driver (usb-storage). */
static int bot_claim(struct bot_dev *d, const char *dev)
{
	struct usbdevfs_disconnect_claim dc = {.interface = d->ifno, .flags = 0};

	if (ioctl(d->fd, USBDEVFS_DISCONNECT_CLAIM, &dc) < 0) {
		struct usbdevfs_ioctl cmd = {.ifno = (int)d->ifno,
		                             .ioctl_code = USBDEVFS_DISCONNECT};

		if (errno != ENOTTY && errno != EINVAL)
			return fail_errno("USBDEVFS_DISCONNECT_CLAIM", dev);
		/* An older kernel: disconnect, then claim (ENODATA: no driver). */
		if (ioctl(d->fd, USBDEVFS_IOCTL, &cmd) < 0 && errno != ENODATA)
			return fail_errno("USBDEVFS_DISCONNECT", dev);
		if (ioctl(d->fd, USBDEVFS_CLAIMINTERFACE, &d->ifno) < 0)
			return fail_errno("USBDEVFS_CLAIMINTERFACE", dev);
	}
	d->claimed = true;
	return 0;
}

/* Gives the interface back and has the kernel probe its driver again. */
static int bot_release(struct bot_dev *d, const char *dev)
{
	struct usbdevfs_ioctl cmd = {.ifno = (int)d->ifno, .ioctl_code = USBDEVFS_CONNECT};
	int ret = 0;

	if (!d->claimed)
		return 0;
	d->claimed = false;
	if (ioctl(d->fd, USBDEVFS_RELEASEINTERFACE, &d->ifno) < 0)
		ret = fail_errno("USBDEVFS_RELEASEINTERFACE", dev);
	if (ioctl(d->fd, USBDEVFS_IOCTL, &cmd) < 0)
		ret = fail_errno("USBDEVFS_CONNECT", dev);
	return ret;
}

static void bot_cbw(unsigned char *cbw, uint32_t tag, uint32_t len, bool in,
                    const unsigned char *cdb, unsigned cdb_len)
{
	memset(cbw, 0, BOT_CBW_LEN);
	put_le32(cbw, BOT_CBW_SIG);
	put_le32(cbw + 4, tag);
	put_le32(cbw + 8, len);
	cbw[12] = in ? 0x80 : 0x00;
	cbw[13] = 0; /* LUN */
	cbw[14] = (unsigned char)cdb_len;
	memcpy(cbw + 15, cdb, cdb_len);
}

/* One SCSI command with an IN data stage (or none), synchronously through
 * USBDEVFS_BULK: for the setup before the measured loop. Returns the CSW
 * status (0 = good), or -1 after printing why. */
static int bot_sync_in(struct bot_dev *d, const char *dev, const unsigned char *cdb,
                       unsigned cdb_len, unsigned char *data, unsigned len)
{
	static uint32_t tag = 0x51000000;
	unsigned char cbw[BOT_CBW_LEN], csw[BOT_CSW_LEN];
	struct usbdevfs_bulktransfer xfer = {
	        .ep = d->ep_out, .len = sizeof(cbw), .timeout = USB_TIMEOUT_MS, .data = cbw};

	bot_cbw(cbw, ++tag, len, true, cdb, cdb_len);
	if (ioctl(d->fd, USBDEVFS_BULK, &xfer) != (int)sizeof(cbw)) {
		fail_errno("CBW on", dev);
		return -1;
	}
	if (len > 0) {
		xfer = (struct usbdevfs_bulktransfer){
		        .ep = d->ep_in, .len = len, .timeout = USB_TIMEOUT_MS, .data = data};
		unsigned ep = d->ep_in;

		/* A failed command may stall its data stage: clear, read the CSW. */
		if (ioctl(d->fd, USBDEVFS_BULK, &xfer) < 0 &&
		    (errno != EPIPE || ioctl(d->fd, USBDEVFS_CLEAR_HALT, &ep) < 0)) {
			fail_errno("data stage on", dev);
			return -1;
		}
	}
	xfer = (struct usbdevfs_bulktransfer){
	        .ep = d->ep_in, .len = sizeof(csw), .timeout = USB_TIMEOUT_MS, .data = csw};
	if (ioctl(d->fd, USBDEVFS_BULK, &xfer) != (int)sizeof(csw)) {
		fail_errno("CSW on", dev);
		return -1;
	}
	if (get_le32(csw) != BOT_CSW_SIG || get_le32(csw + 4) != tag) {
		fprintf(stderr, "labprobe: %s: bad CSW (signature %08x, tag %08x)\n", dev,
		        get_le32(csw), get_le32(csw + 4));
		return -1;
	}
	return csw[12];
}

/* READ CAPACITY(10), with REQUEST SENSE between tries: a pending unit
 * attention fails the first command after a driver change. */
static int bot_capacity(struct bot_dev *d, const char *dev, uint32_t *blocks, uint32_t *blksz)
{
	const unsigned char cap10[10] = {0x25};
	const unsigned char sense[6] = {0x03, 0, 0, 0, 18, 0};
	unsigned char buf[18];

	for (int tries = 0; tries < 3; tries++) {
		int st = bot_sync_in(d, dev, cap10, sizeof(cap10), buf, 8);

		if (st < 0)
			return -1;
		if (st == 0) {
			*blocks = get_be32(buf) + 1;
			*blksz = get_be32(buf + 4);
			return *blksz >= 512 && *blocks > 0 ? 0 : -1;
		}
		if (bot_sync_in(d, dev, sense, sizeof(sense), buf, sizeof(buf)) < 0)
			return -1;
	}
	fprintf(stderr, "labprobe: %s: READ CAPACITY failed 3 times\n", dev);
	return -1;
}

/* The 48-byte USB/IP header, only the fields this loop uses (big-endian,
 * where usbip-protocol.md puts them): CMD_SUBMIT = 1 / RET_SUBMIT = 3,
 * seqnum, direction (1 = IN), ep, and at offset 24 the transfer length
 * (command) or status (reply) and at 28 the actual length (reply). */
static void urb_hdr(unsigned char *h, uint32_t cmd, uint32_t seq, bool in, unsigned ep,
                    uint32_t w24, uint32_t w28)
{
	memset(h, 0, USBIP_HDR_LEN);
	put_be32(h, cmd);
	put_be32(h + 4, seq);
	put_be32(h + 12, in ? 1 : 0);
	put_be32(h + 16, ep & 0x0f);
	put_be32(h + 24, w24);
	put_be32(h + 28, w28);
}

/* What the client tells the parent at its end. */
struct floorread_result {
	unsigned long long bytes, reads;
	double seconds;
	char error[120];
};

/* One URB from the client's side: the command (and the CBW for OUT), then
 * the reply's header and data. Returns the actual length or -1. */
static long floorread_urb(int fd, struct floorread_result *res, uint32_t seq, bool in,
                          const struct bot_dev *d, unsigned char *buf, uint32_t len)
{
	unsigned char cmd[USBIP_HDR_LEN + BOT_CBW_LEN], rep[USBIP_HDR_LEN];
	size_t cmd_len = USBIP_HDR_LEN + (in ? 0 : len);
	uint32_t actual;

	urb_hdr(cmd, 1, seq, in, in ? d->ep_in : d->ep_out, len, 0);
	if (!in)
		memcpy(cmd + USBIP_HDR_LEN, buf, len);
	if (send(fd, cmd, cmd_len, MSG_NOSIGNAL) != (ssize_t)cmd_len ||
	    recv(fd, rep, sizeof(rep), MSG_WAITALL) != (ssize_t)sizeof(rep)) {
		snprintf(res->error, sizeof(res->error), "server gone at URB %u", seq);
		return -1;
	}
	actual = get_be32(rep + 28);
	if (get_be32(rep) != 3 || get_be32(rep + 4) != seq || get_be32(rep + 24) != 0 ||
	    actual > len) {
		snprintf(res->error, sizeof(res->error),
		         "URB %u: reply command %u seqnum %u status %d length %u of %u", seq,
		         get_be32(rep), get_be32(rep + 4), (int)get_be32(rep + 24), actual, len);
		return -1;
	}
	if (in && actual > 0 && recv(fd, buf, actual, MSG_WAITALL) != (ssize_t)actual) {
		snprintf(res->error, sizeof(res->error), "server gone in URB %u's data", seq);
		return -1;
	}
	return (long)actual;
}

struct floorread_client_args {
	int fd, out;
	const struct bot_dev *d;
	uint32_t xfer, blocks, blksz;
	double seconds;
};

/* The client: usb-storage through vhci, one URB at a time. Each READ(10) of
 * xfer bytes is three URBs (CBW out, data in, CSW in); the data is counted
 * when its CSW says good. Wraps at the end of the disk. Until SECONDS, then
 * closes its sending side and writes the result to out. Runs as a process
 * of its own, or as a thread of the server's (no address-space switch). */
static void *floorread_client(void *arg)
{
	const struct floorread_client_args *a = arg;
	const struct bot_dev *d = a->d;
	uint32_t xfer = a->xfer, blocks = a->blocks, blksz = a->blksz;
	double seconds = a->seconds;
	int fd = a->fd;
	struct floorread_result res = {0};
	unsigned char cbw[BOT_CBW_LEN], csw[BOT_CSW_LEN], cdb[10] = {0x28};
	unsigned char *data = malloc(xfer);
	uint32_t lba = 0, per = xfer / blksz, seq = 0, tag = 0;
	double start = now_seconds();

	if (!data)
		snprintf(res.error, sizeof(res.error), "out of memory");
	while (data && !res.error[0]) {
		long n;

		if (lba + per > blocks)
			lba = 0;
		put_be32(cdb + 2, lba);
		cdb[7] = (unsigned char)(per >> 8);
		cdb[8] = (unsigned char)per;
		bot_cbw(cbw, ++tag, xfer, true, cdb, sizeof(cdb));
		if (floorread_urb(fd, &res, ++seq, false, d, cbw, BOT_CBW_LEN) != BOT_CBW_LEN ||
		    (n = floorread_urb(fd, &res, ++seq, true, d, data, xfer)) < 0 ||
		    floorread_urb(fd, &res, ++seq, true, d, csw, BOT_CSW_LEN) != BOT_CSW_LEN) {
			if (!res.error[0])
				snprintf(res.error, sizeof(res.error), "short CBW or CSW at LBA %u",
				         lba);
			break;
		}
		if (get_le32(csw) != BOT_CSW_SIG || get_le32(csw + 4) != tag || csw[12] != 0 ||
		    get_le32(csw + 8) != 0 || n != (long)xfer) {
			snprintf(res.error, sizeof(res.error),
			         "READ(10) at LBA %u: CSW status %u residue %u, %ld bytes", lba,
			         csw[12], get_le32(csw + 8), n);
			break;
		}
		res.bytes += (unsigned long long)n;
		res.reads++;
		lba += per;
		res.seconds = now_seconds() - start;
		if (res.seconds >= seconds)
			break;
	}
	free(data);
	shutdown(fd, SHUT_WR); /* the server's recv() sees the end */
	if (write(a->out, &res, sizeof(res)) != (ssize_t)sizeof(res))
		fprintf(stderr, "labprobe: the floor's client could not report\n");
	return NULL;
}

/* The server's half of one URB: SUBMITURB of the command in cmd (have bytes). */
static int floorread_submit(struct bot_dev *d, const char *dev, struct usbdevfs_urb *urb,
                            unsigned char *map, size_t data_cap, const unsigned char *cmd,
                            size_t have, uint32_t *seq)
{
	bool in = get_be32(cmd + 12) == 1;
	uint32_t len = get_be32(cmd + 24);

	if ((in && (len > data_cap || have != USBIP_HDR_LEN)) ||
	    (!in && (len != BOT_CBW_LEN || have != USBIP_HDR_LEN + BOT_CBW_LEN))) {
		fprintf(stderr, "labprobe: bad command from the client (%s, %u bytes)\n",
		        in ? "in" : "out", len);
		return -1;
	}
	*seq = get_be32(cmd + 4);
	memset(urb, 0, sizeof(*urb));
	urb->type = USBDEVFS_URB_TYPE_BULK;
	urb->endpoint = in ? d->ep_in : d->ep_out;
	/* IN data lands in the mapping at 0, the CBW goes out from after it:
	 * usbfs then neither allocates nor copies the URB's data. */
	urb->buffer = in ? map : map + data_cap;
	urb->buffer_length = (int)len;
	if (!in)
		memcpy(map + data_cap, cmd + USBIP_HDR_LEN, BOT_CBW_LEN);
	if (ioctl(d->fd, USBDEVFS_SUBMITURB, urb) < 0) {
		fail_errno("USBDEVFS_SUBMITURB", dev);
		return -1;
	}
	return 0;
}

static int cmd_floorread(const char *dev, double seconds, unsigned kib, bool thread)
{
	struct floorread_client_args args;
	pthread_t client;
	bool client_thread = false;
	struct bot_dev d = {.fd = -1};
	struct usbdevfs_urb urb;
	struct floorread_result res = {0};
	unsigned char cmd[USBIP_HDR_LEN + BOT_CBW_LEN], rep[USBIP_HDR_LEN];
	unsigned char *map = MAP_FAILED;
	size_t have = 0, data_cap, map_len;
	uint32_t xfer = kib * 1024u, blocks = 0, blksz = 0, seq = 0;
	unsigned long long urbs = 0;
	int lfd = -1, cfd = -1, sfd = -1, ep = -1, pfd[2] = {-1, -1}, idle = 0, ret = 1;
	bool busy = false, in = false;
	pid_t child = -1;

	d.fd = open(dev, O_RDWR);
	if (d.fd < 0)
		return fail_errno("open", dev);
	if (bot_find(&d, dev) < 0 || bot_claim(&d, dev) < 0 ||
	    bot_capacity(&d, dev, &blocks, &blksz) < 0)
		goto out;
	if (xfer % blksz != 0 || xfer / blksz > 0xffff || xfer / blksz > blocks) {
		fprintf(stderr, "labprobe: %u KiB is not a READ(10) of %u-byte blocks on %s\n", kib,
		        blksz, dev);
		goto out;
	}
	/* The data buffer and the CBW in usbfs-mapped memory, as
	 * libusb_dev_mem_alloc gets it: mmap on the usbfs fd. */
	data_cap = ((size_t)xfer + 4095) & ~(size_t)4095;
	map_len = data_cap + 4096;
	map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED, d.fd, 0);
	if (map == MAP_FAILED) {
		fail_errno("mmap (usbfs_memory_mb?) of", dev);
		goto out;
	}
	if (floor_plumbing(d.fd, dev, &lfd, &cfd, &sfd, pfd, &ep) < 0)
		goto out;
	args = (struct floorread_client_args){.fd = cfd,
	                                      .out = pfd[1],
	                                      .d = &d,
	                                      .xfer = xfer,
	                                      .blocks = blocks,
	                                      .blksz = blksz,
	                                      .seconds = seconds};
	if (thread) {
		errno = pthread_create(&client, NULL, floorread_client, &args);
		if (errno != 0) {
			fail_errno("pthread_create", "client");
			goto out;
		}
		client_thread = true;
	} else {
		child = fork();
		if (child < 0) {
			fail_errno("fork", "client");
			goto out;
		}
		if (child == 0) {
			close(sfd);
			close(lfd);
			close(d.fd);
			close(pfd[0]);
			floorread_client(&args);
			_exit(0);
		}
		close(cfd);
		cfd = -1;
		close(pfd[1]); /* a client that dies then leaves read() at end of file */
		pfd[1] = -1;
	}
	/* The loop of `floor`, with the reply's data sent from the mapping as
	 * the second iovec after the header; ends when the client closes. */
	for (bool open_ = true; open_;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, 1000);

		if (n == 0 && ++idle >= 5) {
			fprintf(stderr, "labprobe: nothing moved for 5 s (%s)\n",
			        busy ? "URB in flight" : "no command");
			goto out;
		}
		if (n > 0)
			idle = 0;
		for (int i = 0; i < n && open_; i++) {
			if (got[i].data.fd == sfd) {
				ssize_t r = recv(sfd, cmd + have, sizeof(cmd) - have, MSG_DONTWAIT);

				if (r == 0) {
					open_ = false;
					continue;
				}
				if (r < 0) {
					if (errno == EAGAIN || errno == EINTR)
						continue;
					fail_errno("recv", "socket");
					goto out;
				}
				have += (size_t)r;
				if (have < USBIP_HDR_LEN ||
				    (get_be32(cmd + 12) == 0 && have < USBIP_HDR_LEN + BOT_CBW_LEN))
					continue; /* the rest of the command is on its way */
				if (busy) {
					fprintf(stderr,
					        "labprobe: a command while a URB is in flight\n");
					goto out;
				}
				in = get_be32(cmd + 12) == 1;
				if (floorread_submit(&d, dev, &urb, map, data_cap, cmd, have,
				                     &seq) < 0)
					goto out;
				busy = true;
				have = 0;
			} else {
				struct usbdevfs_urb *done = NULL;
				struct iovec iov[2] = {{rep, sizeof(rep)}, {map, 0}};
				struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 1};
				size_t total;

				if (ioctl(d.fd, USBDEVFS_REAPURBNDELAY, &done) < 0) {
					if (errno == EAGAIN)
						continue;
					fail_errno("USBDEVFS_REAPURBNDELAY", dev);
					goto out;
				}
				busy = false;
				urb_hdr(rep, 3, seq, in, done->endpoint, (uint32_t)done->status,
				        (uint32_t)done->actual_length);
				if (in && done->status == 0 && done->actual_length > 0) {
					iov[1].iov_len = (size_t)done->actual_length;
					mh.msg_iovlen = 2;
				}
				total = sizeof(rep) + (mh.msg_iovlen == 2 ? iov[1].iov_len : 0);
				if (sendmsg(sfd, &mh, MSG_NOSIGNAL) != (ssize_t)total) {
					fail_errno("sendmsg", "socket");
					goto out;
				}
				urbs++;
			}
		}
	}
	if (read(pfd[0], &res, sizeof(res)) != (ssize_t)sizeof(res)) {
		fprintf(stderr, "labprobe: the floor's client died\n");
		goto out;
	}
	if (res.error[0] || res.reads == 0) {
		fprintf(stderr, "labprobe: %s: %s\n", dev,
		        res.error[0] ? res.error : "no read done");
		goto out;
	}
	printf("kib=%u client=%s reads=%llu urbs=%llu bytes=%llu seconds=%.3f MBps=%.1f\n", kib,
	       thread ? "thread" : "process", res.reads, urbs, res.bytes, res.seconds,
	       (double)res.bytes / res.seconds / 1e6);
	ret = 0;
out:
	if (sfd >= 0)
		shutdown(sfd, SHUT_RDWR);
	if (child > 0)
		waitpid(child, NULL, 0);
	if (client_thread)
		pthread_join(client, NULL);
	for (int i = 0; i < 2; i++)
		if (pfd[i] >= 0)
			close(pfd[i]);
	if (ep >= 0)
		close(ep);
	if (sfd >= 0)
		close(sfd);
	if (lfd >= 0)
		close(lfd);
	if (cfd >= 0)
		close(cfd);
	if (busy)
		ioctl(d.fd, USBDEVFS_DISCARDURB, &urb);
	if (map != MAP_FAILED)
		munmap(map, map_len);
	if (bot_release(&d, dev) != 0)
		ret = 1;
	close(d.fd);
	return ret;
}

/* Finds /dev/input/eventN of a device below vhci_hcd; returns 0 and fills path. */
static int find_vhci_event(char *path, size_t cap)
{
	struct dirent *de;
	DIR *dir;
	int found = -1;

	dir = opendir("/sys/class/input");
	if (!dir)
		return -1;
	while (found < 0 && (de = readdir(dir)) != NULL) {
		char link[512], target[1024];

		if (strncmp(de->d_name, "event", 5) != 0)
			continue;
		snprintf(link, sizeof(link), "/sys/class/input/%s", de->d_name);
		if (!realpath(link, target) || !strstr(target, "/vhci_hcd"))
			continue;
		snprintf(path, cap, "/dev/input/%s", de->d_name);
		found = 0;
	}
	closedir(dir);
	return found;
}

/* --- floorsrv: the least USB/IP server, behind vhci ------------------------ */

/*
 * A USB/IP server for one device that does per URB only what every
 * userspace server must (epoll_wait, recv of the command and any OUT data,
 * SUBMITURB; epoll_wait, REAPURBNDELAY, one sendmsg of reply + IN data from
 * usbfs-mapped memory), so that the bench can measure it exactly as it
 * measures the kernel and usblabd: attached through vhci, with the same
 * labprobe runs on the same disk. No admission, no memory accounting, no
 * event loop library, one client: a floor, not a server to use.
 *
 * Requests the device must not see from a second owner are answered here:
 * SET_CONFIGURATION and SET_INTERFACE (the device keeps its one
 * configuration, alternate setting 0) succeed at once, CLEAR_FEATURE
 * (ENDPOINT_HALT) becomes USBDEVFS_CLEAR_HALT. Every interface is taken
 * from its kernel driver and given back at the end.
 */
#define FS_SLOTS   64
#define FS_MAP_MAX (1u << 20)

struct fs_slot {
	struct usbdevfs_urb urb;
	unsigned char *buf; /* setup packet (control) + data */
	size_t cap;
	bool mapped, busy, unlinked;
	uint32_t seqnum, unlink_seqnum, devid, dir, ep, len;
};

struct fs_dev {
	int fd, sock;
	const char *path;
	unsigned char eptype[32]; /* usbdevfs URB type + 1 per (ep | in << 4); 0: none */
	unsigned nif;
	unsigned char ifno[32];
	struct fs_slot slot[FS_SLOTS];
	unsigned long long urbs;
	bool libusb;    /* add libusb's two calls per URB (fs_reap) */
	int evfd, tmfd; /* what libusb's poll() watches besides the device */
};

static unsigned fs_epindex(uint32_t ep, bool in)
{
	return (ep & 0x0f) | (in ? 0x10 : 0);
}

/* Endpoint types and interface numbers of the first configuration, from the
 * descriptors usbfs returns on read(). */
static int fs_layout(struct fs_dev *d, unsigned char *desc, size_t cap, ssize_t *len)
{
	*len = read(d->fd, desc, cap);
	if (*len < 18 + 9) {
		fprintf(stderr, "labprobe: %s: short descriptors (%zd bytes)\n", d->path, *len);
		return -1;
	}
	for (ssize_t i = 18; i + 2 <= *len && desc[i] >= 2 && i + desc[i] <= *len; i += desc[i]) {
		const unsigned char *p = desc + i;

		if (p[1] == 2 && i > 18)
			break;
		if (p[1] == 4 && p[0] >= 9 && p[3] == 0 && d->nif < sizeof(d->ifno))
			d->ifno[d->nif++] = p[2];
		if (p[1] == 5 && p[0] >= 7) {
			static const unsigned char type[4] = {
			        USBDEVFS_URB_TYPE_CONTROL, USBDEVFS_URB_TYPE_ISO,
			        USBDEVFS_URB_TYPE_BULK, USBDEVFS_URB_TYPE_INTERRUPT};

			d->eptype[fs_epindex(p[2], p[2] & 0x80)] = type[p[3] & 3] + 1;
		}
	}
	return 0;
}

static int fs_claim_all(struct fs_dev *d)
{
	for (unsigned i = 0; i < d->nif; i++) {
		struct bot_dev b = {.fd = d->fd, .ifno = d->ifno[i]};

		if (bot_claim(&b, d->path) < 0)
			return -1;
	}
	return 0;
}

static void fs_release_all(struct fs_dev *d)
{
	for (unsigned i = 0; i < d->nif; i++) {
		struct bot_dev b = {.fd = d->fd, .ifno = d->ifno[i], .claimed = true};

		bot_release(&b, d->path);
	}
}

static void put_be16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static unsigned sysfs_uint(const char *busid, const char *attr, int base)
{
	char path[256], text[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/bus/usb/devices/%s/%s", busid, attr);
	f = fopen(path, "r");
	if (f) {
		if (!fgets(text, sizeof(text), f))
			text[0] = '\0';
		fclose(f);
	}
	return (unsigned)strtoul(text, NULL, base);
}

/* OP_REQ_IMPORT of busid (anything else ends it), answered with the
 * device as usbip-host would describe it. */
static int fs_import(struct fs_dev *d, const char *busid, const unsigned char *desc)
{
	unsigned char req[8 + 32], rep[8 + 312] = {0};
	unsigned speed = sysfs_uint(busid, "speed", 10);

	if (recv(d->sock, req, sizeof(req), MSG_WAITALL) != (ssize_t)sizeof(req) ||
	    req[2] != 0x80 || req[3] != 0x03 || strncmp((char *)req + 8, busid, 32) != 0) {
		fprintf(stderr, "labprobe: floorsrv: expected OP_REQ_IMPORT of %s\n", busid);
		return -1;
	}
	put_be16(rep, 0x0111);
	put_be16(rep + 2, 0x0003);
	snprintf((char *)rep + 8, 256, "/sys/bus/usb/devices/%s", busid);
	snprintf((char *)rep + 8 + 256, 32, "%s", busid);
	put_be32(rep + 296, sysfs_uint(busid, "busnum", 10));
	put_be32(rep + 300, sysfs_uint(busid, "devnum", 10));
	/* enum usb_device_speed: 1 low, 2 full, 3 high, 5 super */
	put_be32(rep + 304, speed == 1 ? 1 : speed == 12 ? 2 : speed == 480 ? 3 : 5);
	put_be16(rep + 308, (unsigned)desc[8] | (unsigned)desc[9] << 8);   /* idVendor */
	put_be16(rep + 310, (unsigned)desc[10] | (unsigned)desc[11] << 8); /* idProduct */
	put_be16(rep + 312, (unsigned)desc[12] | (unsigned)desc[13] << 8); /* bcdDevice */
	rep[314] = desc[4];
	rep[315] = desc[5];
	rep[316] = desc[6];
	rep[317] = (unsigned char)sysfs_uint(busid, "bConfigurationValue", 10);
	rep[318] = desc[17];
	rep[319] = (unsigned char)d->nif;
	return send(d->sock, rep, sizeof(rep), MSG_NOSIGNAL) == (ssize_t)sizeof(rep) ? 0 : -1;
}

/* One reply: RET_SUBMIT (IN data: data, sent) or RET_UNLINK, in one
 * sendmsg. Non-ISO: number_of_packets is 0, as vhci sent it. */
static int fs_reply(struct fs_dev *d, uint32_t cmd, uint32_t seq, int32_t status, uint32_t actual,
                    const unsigned char *data, uint32_t sent)
{
	unsigned char h[USBIP_HDR_LEN] = {0};
	struct iovec iov[2] = {{h, sizeof(h)}, {(void *)data, sent}};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = sent ? 2 : 1};

	put_be32(h, cmd);
	put_be32(h + 4, seq);
	put_be32(h + 20, (uint32_t)status);
	put_be32(h + 24, actual);
	return sendmsg(d->sock, &msg, MSG_NOSIGNAL) == (ssize_t)(sizeof(h) + sent) ? 0 : -1;
}

/* The slot's buffer, at least need bytes: usbfs-mapped when it can be. */
static int fs_buffer(struct fs_dev *d, struct fs_slot *s, size_t need)
{
	size_t cap = 4096;

	if (s->cap >= need)
		return 0;
	while (cap < need)
		cap <<= 1;
	if (s->mapped)
		munmap(s->buf, s->cap);
	else
		free(s->buf);
	s->buf = cap <= FS_MAP_MAX ? mmap(NULL, cap, PROT_READ | PROT_WRITE, MAP_SHARED, d->fd, 0)
	                           : MAP_FAILED;
	s->mapped = s->buf != MAP_FAILED;
	if (!s->mapped)
		s->buf = malloc(cap);
	s->cap = s->buf ? cap : 0;
	return s->buf ? 0 : -1;
}

/* A request answered without the device (see above): 1 when it was. */
static int fs_local_control(struct fs_dev *d, struct fs_slot *s, const unsigned char *setup)
{
	unsigned ep;

	if ((setup[0] == 0x00 && setup[1] == 9) || (setup[0] == 0x01 && setup[1] == 11))
		return fs_reply(d, 3, s->seqnum, 0, 0, NULL, 0) < 0 ? -1 : 1;
	if (setup[0] == 0x02 && setup[1] == 1 && setup[2] == 0 && setup[3] == 0) {
		ep = setup[4];
		ioctl(d->fd, USBDEVFS_CLEAR_HALT, &ep);
		return fs_reply(d, 3, s->seqnum, 0, 0, NULL, 0) < 0 ? -1 : 1;
	}
	return 0;
}

/* CMD_SUBMIT: reads any OUT data, submits. -1 ends the connection. */
static int fs_submit(struct fs_dev *d, const unsigned char *h)
{
	struct fs_slot *s = NULL;
	uint32_t len = get_be32(h + 24);
	bool in = get_be32(h + 12) == 1, ctrl = (get_be32(h + 16) & 0x0f) == 0;
	size_t off = ctrl ? 8 : 0;
	unsigned type;
	int r;

	for (unsigned i = 0; i < FS_SLOTS && !s; i++)
		if (!d->slot[i].busy)
			s = &d->slot[i];
	if (!s || len > 16u << 20 || fs_buffer(d, s, off + len) < 0) {
		fprintf(stderr, "labprobe: floorsrv: no slot or memory for %u bytes\n", len);
		return -1;
	}
	s->seqnum = get_be32(h + 4);
	s->ep = get_be32(h + 16) & 0x0f;
	s->dir = in;
	s->len = len;
	s->unlinked = false;
	if (ctrl)
		memcpy(s->buf, h + 40, 8);
	if (!in && len > 0 && recv(d->sock, s->buf + off, len, MSG_WAITALL) != (ssize_t)len)
		return -1;
	if (ctrl && (r = fs_local_control(d, s, s->buf)) != 0)
		return r < 0 ? -1 : 0;
	type = d->eptype[fs_epindex(s->ep, in)];
	s->urb = (struct usbdevfs_urb){
	        .type = ctrl   ? USBDEVFS_URB_TYPE_CONTROL
	                : type ? (unsigned char)(type - 1)
	                       : USBDEVFS_URB_TYPE_BULK, /* an endpoint not described */
	        .endpoint = (unsigned char)(s->ep | (in ? 0x80 : 0)),
	        .buffer = s->buf,
	        .buffer_length = (int)(off + len),
	        .usercontext = s};
	if (ioctl(d->fd, USBDEVFS_SUBMITURB, &s->urb) < 0)
		return fs_reply(d, 3, s->seqnum, -errno, 0, NULL, 0);
	s->busy = true;
	return 0;
}

static int fs_unlink(struct fs_dev *d, const unsigned char *h)
{
	uint32_t victim = get_be32(h + 20);

	for (unsigned i = 0; i < FS_SLOTS; i++) {
		struct fs_slot *s = &d->slot[i];

		if (s->busy && !s->unlinked && s->seqnum == victim) {
			s->unlinked = true;
			s->unlink_seqnum = get_be32(h + 4);
			ioctl(d->fd, USBDEVFS_DISCARDURB, &s->urb);
			return 0; /* RET_UNLINK when it is reaped */
		}
	}
	return fs_reply(d, 4, get_be32(h + 4), 0, 0, NULL, 0);
}

static int fs_reap_one(struct fs_dev *d, struct usbdevfs_urb *u)
{
	struct fs_slot *s;
	uint32_t actual;

	s = u->usercontext;
	s->busy = false;
	d->urbs++;
	if (s->unlinked)
		return fs_reply(d, 4, s->unlink_seqnum, -ECONNRESET, 0, NULL, 0);
	actual = u->actual_length > 0 ? (uint32_t)u->actual_length : 0;
	return fs_reply(d, 3, s->seqnum, u->status, actual, s->buf + (s->ep == 0 ? 8 : 0),
	                s->dir ? actual : 0);
}

/* usbfs signalled completions. One REAPURBNDELAY per wake-up; with
 * "libusb", first the poll() libusb's event handling makes over its fds
 * (its event fd, its timerfd, the device), then reaping until EAGAIN, as
 * libusb does: the floor with libusb's two extra calls per URB. */
static int fs_reap(struct fs_dev *d)
{
	struct usbdevfs_urb *u = NULL;

	if (d->libusb) {
		struct pollfd pfd[3] = {{.fd = d->evfd, .events = POLLIN},
		                        {.fd = d->tmfd, .events = POLLIN},
		                        {.fd = d->fd, .events = POLLOUT}};

		if (poll(pfd, 3, 0) < 0)
			return -1;
	}
	for (;;) {
		if (ioctl(d->fd, USBDEVFS_REAPURBNDELAY, &u) < 0)
			return errno == EAGAIN ? 0 : -1;
		if (fs_reap_one(d, u) < 0)
			return -1;
		if (!d->libusb)
			return 0;
	}
}

static int cmd_floorsrv(const char *dev, const char *busid, int port, bool libusb)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
	                         .sin_port = htons((uint16_t)port),
	                         .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	static struct fs_dev d;
	unsigned char desc[4096];
	ssize_t dlen;
	int lfd = -1, ep = -1, one = 1, ret = 1;
	struct epoll_event ev;

	d.path = dev;
	d.sock = -1;
	d.libusb = libusb;
	d.evfd = eventfd(0, EFD_NONBLOCK);
	d.tmfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	d.fd = open(dev, O_RDWR);
	if (d.fd < 0)
		return fail_errno("open", dev);
	if (fs_layout(&d, desc, sizeof(desc), &dlen) < 0 || fs_claim_all(&d) < 0)
		goto out;
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 1) < 0) {
		fail_errno("listen", "127.0.0.1");
		goto out;
	}
	printf("listening port=%d interfaces=%u\n", port, d.nif);
	d.sock = accept(lfd, NULL, NULL);
	if (d.sock < 0 || fs_import(&d, busid, desc) < 0)
		goto out;
	setsockopt(d.sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	ep = epoll_create1(0);
	ev = (struct epoll_event){.events = EPOLLIN, .data.fd = d.sock};
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, d.sock, &ev) < 0)
		goto out;
	ev = (struct epoll_event){.events = EPOLLOUT, .data.fd = d.fd};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, d.fd, &ev) < 0)
		goto out;
	for (;;) {
		struct epoll_event got[2];
		int n = epoll_wait(ep, got, 2, -1);

		for (int i = 0; i < n; i++) {
			unsigned char h[USBIP_HDR_LEN];
			int r;

			if (got[i].data.fd == d.fd) {
				if (fs_reap(&d) < 0)
					goto done;
				continue;
			}
			if (recv(d.sock, h, sizeof(h), MSG_WAITALL) != (ssize_t)sizeof(h))
				goto done; /* detached */
			r = get_be32(h) == 1   ? fs_submit(&d, h)
			    : get_be32(h) == 2 ? fs_unlink(&d, h)
			                       : -1;
			if (r < 0)
				goto done;
		}
	}
done:
	printf("urbs=%llu\n", d.urbs);
	ret = 0;
out:
	if (d.sock >= 0)
		close(d.sock);
	if (ep >= 0)
		close(ep);
	if (lfd >= 0)
		close(lfd);
	for (unsigned i = 0; i < FS_SLOTS; i++)
		if (d.slot[i].busy)
			ioctl(d.fd, USBDEVFS_DISCARDURB, &d.slot[i].urb);
	fs_release_all(&d);
	close(d.fd); /* kills what is still in flight */
	if (d.evfd >= 0)
		close(d.evfd);
	if (d.tmfd >= 0)
		close(d.tmfd);
	return ret;
}

/* Unshifted US-layout character of an evdev key code, for the typed text. */
static const char *key_text(unsigned code)
{
	static const char *const row[] = {
	        [KEY_1] = "1",     [KEY_2] = "2",     [KEY_3] = "3",       [KEY_4] = "4",
	        [KEY_5] = "5",     [KEY_6] = "6",     [KEY_7] = "7",       [KEY_8] = "8",
	        [KEY_9] = "9",     [KEY_0] = "0",     [KEY_MINUS] = "-",   [KEY_EQUAL] = "=",
	        [KEY_Q] = "q",     [KEY_W] = "w",     [KEY_E] = "e",       [KEY_R] = "r",
	        [KEY_T] = "t",     [KEY_Y] = "y",     [KEY_U] = "u",       [KEY_I] = "i",
	        [KEY_O] = "o",     [KEY_P] = "p",     [KEY_ENTER] = "\\n", [KEY_A] = "a",
	        [KEY_S] = "s",     [KEY_D] = "d",     [KEY_F] = "f",       [KEY_G] = "g",
	        [KEY_H] = "h",     [KEY_J] = "j",     [KEY_K] = "k",       [KEY_L] = "l",
	        [KEY_Z] = "z",     [KEY_X] = "x",     [KEY_C] = "c",       [KEY_V] = "v",
	        [KEY_B] = "b",     [KEY_N] = "n",     [KEY_M] = "m",       [KEY_DOT] = ".",
	        [KEY_SLASH] = "/", [KEY_SPACE] = " ",
	};

	if (code < sizeof(row) / sizeof(row[0]) && row[code])
		return row[code];
	return code == KEY_LEFTSHIFT || code == KEY_RIGHTSHIFT ? "" : "?";
}

static int cmd_evkeys(const char *dev, double seconds)
{
	double deadline = now_seconds() + seconds;
	unsigned codes[1024];
	char path[300];
	int fd = -1, count = 0;

	if (strcmp(dev, "vhci") == 0) {
		/* Poll every millisecond: the keyboard may start typing as soon as
		 * the kernel's own keyboard handler opens it at registration. */
		while (find_vhci_event(path, sizeof(path)) != 0 ||
		       (fd = open(path, O_RDONLY)) < 0) {
			if (now_seconds() > deadline) {
				fprintf(stderr, "labprobe: no vhci event device appeared\n");
				return 1;
			}
			usleep(1000);
		}
	} else {
		snprintf(path, sizeof(path), "%s", dev);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			return fail_errno("open", path);
	}
	fprintf(stderr, "labprobe: reading %s\n", path);
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		struct input_event ev;
		double left = deadline - now_seconds();

		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			break;
		if (read(fd, &ev, sizeof(ev)) != (ssize_t)sizeof(ev))
			break;
		if (ev.type != EV_KEY || ev.value != 1)
			continue;
		if (count < (int)(sizeof(codes) / sizeof(codes[0])))
			codes[count++] = ev.code;
		if (ev.code == KEY_ENTER)
			break;
	}
	close(fd);
	printf("keys=");
	for (int i = 0; i < count; i++)
		printf("%s%u", i ? "," : "", codes[i]);
	printf("\ntext=");
	for (int i = 0; i < count; i++)
		printf("%s", key_text(codes[i]));
	printf("\n");
	return 0;
}

static int open_raw_tty(const char *dev)
{
	struct termios tio;
	int fd;

	fd = open(dev, O_RDWR | O_NOCTTY);
	if (fd < 0)
		return -1;
	if (tcgetattr(fd, &tio) == 0) {
		cfmakeraw(&tio);
		tcsetattr(fd, TCSANOW, &tio);
	}
	return fd;
}

static int cmd_ttyecho(const char *dev, const char *text, double seconds)
{
	double deadline = now_seconds() + seconds;
	size_t want = strlen(text), got = 0;
	char buf[4096];
	int fd;

	if (want == 0 || want >= sizeof(buf)) {
		fprintf(stderr, "labprobe: text must be 1..%zu bytes\n", sizeof(buf) - 1);
		return 2;
	}
	fd = open_raw_tty(dev);
	if (fd < 0)
		return fail_errno("open", dev);
	tcflush(fd, TCIOFLUSH);
	if (write(fd, text, want) != (ssize_t)want) {
		close(fd);
		return fail_errno("write", dev);
	}
	while (got < want) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		double left = deadline - now_seconds();
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
			break;
		n = read(fd, buf + got, want - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	printf("sent=%zu received=%zu text=%s\n", want, got, buf);
	return got == want && memcmp(buf, text, want) == 0 ? 0 : 1;
}

static int cmd_ttystorm(const char *dev, int rounds)
{
	char burst[2048];
	int i;

	/* 2 KiB a round: the echo is still streaming back when close() kills
	 * the read URBs, so completions race the unlinks. */
	for (i = 0; i < (int)sizeof(burst); i++)
		burst[i] = (char)('a' + i % 26);
	for (i = 0; i < rounds; i++) {
		int fd = open_raw_tty(dev);

		if (fd < 0)
			return fail_errno("open", dev);
		if (write(fd, burst, (size_t)(1 + rand() % (int)sizeof(burst))) < 0) {
			close(fd);
			return fail_errno("write", dev);
		}
		usleep((useconds_t)(rand() % 3000));
		close(fd); /* cdc-acm kills its read URBs here: vhci sends CMD_UNLINK */
	}
	printf("rounds=%d\n", rounds);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: labprobe seqread DEV SECONDS | randread DEV SECONDS |\n"
	                "       ctrllat USBDEV SECONDS | ctrlrate USBDEV DEPTH SECONDS |\n"
	                "       floor USBDEV SECONDS | floorread USBDEV SECONDS [KIB [thread]] |\n"
	                "       floorsrv USBDEV BUSID PORT [libusb] |\n"
	                "       evkeys DEV|vhci SECONDS |\n"
	                "       ttyecho DEV TEXT SECONDS | ttystorm DEV ROUNDS\n");
	return 2;
}

int main(int argc, char **argv)
{
	double seconds;

	if (argc < 2)
		return usage();
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "seqread") == 0)
		return parse_seconds(argv[3], &seconds) ? 2 : cmd_seqread(argv[2], seconds);
	if (argc == 4 && strcmp(argv[1], "randread") == 0)
		return parse_seconds(argv[3], &seconds) ? 2 : cmd_randread(argv[2], seconds);
	if (argc == 4 && strcmp(argv[1], "ctrllat") == 0)
		return parse_seconds(argv[3], &seconds) ? 2 : cmd_ctrllat(argv[2], seconds);
	if (argc == 5 && strcmp(argv[1], "ctrlrate") == 0)
		return parse_seconds(argv[4], &seconds)
		               ? 2
		               : cmd_ctrlrate(argv[2], atoi(argv[3]), seconds);
	if (argc == 4 && strcmp(argv[1], "floor") == 0)
		return parse_seconds(argv[3], &seconds) ? 2 : cmd_floor(argv[2], seconds);
	if (argc >= 4 && argc <= 6 && strcmp(argv[1], "floorread") == 0) {
		long kib = argc >= 5 ? strtol(argv[4], NULL, 10) : SEQ_BLOCK / 1024;
		bool thread = argc == 6 && strcmp(argv[5], "thread") == 0;

		if (kib < 1 || kib > FLOORREAD_MAX_KIB || (argc == 6 && !thread)) {
			fprintf(stderr, "labprobe: KIB must be 1..%d, then only \"thread\"\n",
			        FLOORREAD_MAX_KIB);
			return 2;
		}
		return parse_seconds(argv[3], &seconds)
		               ? 2
		               : cmd_floorread(argv[2], seconds, (unsigned)kib, thread);
	}
	if ((argc == 5 || (argc == 6 && strcmp(argv[5], "libusb") == 0)) &&
	    strcmp(argv[1], "floorsrv") == 0)
		return cmd_floorsrv(argv[2], argv[3], atoi(argv[4]), argc == 6);
	if (argc == 4 && strcmp(argv[1], "evkeys") == 0)
		return parse_seconds(argv[3], &seconds) ? 2 : cmd_evkeys(argv[2], seconds);
	if (argc == 5 && strcmp(argv[1], "ttyecho") == 0)
		return parse_seconds(argv[4], &seconds) ? 2
		                                        : cmd_ttyecho(argv[2], argv[3], seconds);
	if (argc == 4 && strcmp(argv[1], "ttystorm") == 0)
		return cmd_ttystorm(argv[2], atoi(argv[3]));
	return usage();
}
