/* SPDX-License-Identifier: MIT */
/*
 * esp32_probe.c - the ESP32 probe over a serial port (see esp32_probe.h).
 */
#include "esp32_probe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "esp32.h"

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			struct pollfd pfd = {.fd = fd, .events = POLLOUT};

			if (poll(&pfd, 1, 100) <= 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Waits until timeout_ms for a successful ROM response to op; other
 * frames (the 7 extra SYNC replies, our own request echoed by an app) are
 * skipped. Returns 1 with *value set, 0 on timeout or a failed status.
 */
static int await_reply(int fd, struct esp32_slip_rx *rx, uint8_t op, int timeout_ms,
                       uint32_t *value)
{
	long long end = now_ms() + timeout_ms;

	for (;;) {
		long long left = end - now_ms();
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		uint8_t buf[256];

		if (left <= 0)
			return 0;
		int pr = poll(&pfd, 1, (int)left);

		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return 0;
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			return 0; /* the port went away: nothing will answer */
		for (ssize_t i = 0; i < n; i++) {
			struct esp32_packet p;

			if (esp32_slip_rx_byte(rx, buf[i]) != 1)
				continue;
			if (esp32_parse(1, rx->buf, rx->len, &p) != ESP32_OK || p.op != op)
				continue;
			if (esp32_rom_status(&p) != 0)
				return 0;
			*value = p.word;
			return 1;
		}
	}
}

static int send_frame(int fd, const uint8_t *frame, long n)
{
	return n > 0 ? write_all(fd, frame, (size_t)n) : -1;
}

/* Sets DTR and RTS together (true: asserted, the line low at the chip). */
static int set_lines(int fd, bool dtr, bool rts)
{
	int bits;

	if (ioctl(fd, TIOCMGET, &bits) < 0)
		return -1;
	bits = (bits & ~(TIOCM_DTR | TIOCM_RTS)) | (dtr ? TIOCM_DTR : 0) | (rts ? TIOCM_RTS : 0);
	return ioctl(fd, TIOCMSET, &bits);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

int esp32_reset_tty(const char *path, bool bootloader, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	/* esptool's ClassicReset; a hard reset is its first and last step.
	 * Opening the port asserted both lines: release them first, so that
	 * the reset is not reached from DTR=1 RTS=1, which a USB-Serial/JTAG
	 * chip takes as a request for its download mode. */
	rc = set_lines(fd, false, false);
	if (rc == 0) {
		sleep_ms(10);
		rc = set_lines(fd, false, true); /* EN low: the chip is held in reset */
	}
	if (rc == 0) {
		sleep_ms(100);
		if (bootloader) {
			rc = set_lines(fd, true, false); /* IO0 low as EN rises */
			sleep_ms(50);
			if (rc == 0)
				rc = set_lines(fd, false, false); /* IO0 released */
		} else {
			rc = set_lines(fd, false, false); /* EN rises with IO0 high */
		}
	}
	if (rc < 0)
		snprintf(err, errlen, "cannot set DTR/RTS on %s: %s", path, strerror(errno));
	close(fd);
	return rc < 0 ? -1 : 0;
}

int esp32_probe_tty(const char *path, int timeout_ms, struct esp32_probe_result *r, char *err,
                    size_t errlen)
{
	struct esp32_slip_rx rx;
	struct termios tio;
	uint8_t frame[128];
	uint32_t v, mac0 = 0, mac1 = 0;
	int fd;

	memset(r, 0, sizeof(*r));
	fd = open(path, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (tcgetattr(fd, &tio) < 0) {
		snprintf(err, errlen, "%s is not a serial port: %s", path, strerror(errno));
		goto fail;
	}
	cfmakeraw(&tio);
	cfsetispeed(&tio, B115200);
	cfsetospeed(&tio, B115200);
	tio.c_cflag |= CLOCAL | CREAD;
	if (tcsetattr(fd, TCSANOW, &tio) < 0) {
		snprintf(err, errlen, "cannot set up %s: %s", path, strerror(errno));
		goto fail;
	}
	/* What the app printed before we came is no answer. */
	tcflush(fd, TCIFLUSH);
	esp32_slip_rx_init(&rx);
	if (send_frame(fd, frame, esp32_frame_sync(frame, sizeof(frame))) < 0) {
		snprintf(err, errlen, "cannot write to %s: %s", path, strerror(errno));
		goto fail;
	}
	if (await_reply(fd, &rx, ESP32_OP_SYNC, timeout_ms, &v) == 0)
		goto done;
	r->bootloader = true;
	if (send_frame(fd, frame, esp32_frame_read_reg(ESP32_REG_MAC0, frame, sizeof(frame))) < 0 ||
	    await_reply(fd, &rx, ESP32_OP_READ_REG, timeout_ms, &mac0) == 0)
		goto done;
	if (send_frame(fd, frame, esp32_frame_read_reg(ESP32_REG_MAC1, frame, sizeof(frame))) < 0 ||
	    await_reply(fd, &rx, ESP32_OP_READ_REG, timeout_ms, &mac1) == 0)
		goto done;
	esp32_mac_from_efuse(mac0, mac1, r->mac);
	r->have_mac = true;
done:
	close(fd);
	return 0;
fail:
	close(fd);
	return -1;
}
