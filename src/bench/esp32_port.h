/* SPDX-License-Identifier: MIT */
/*
 * esp32_port.h - what the daemon needs around an ESP32's serial port
 * before it talks to it: who else has it open (so that usblabd never
 * fights another program for it), and which tty a USB device has now (so
 * that a port that re-enumerated is found again). Blocking file-system
 * reads: for a worker thread. Roots are parameters so that tests run over
 * their own trees.
 */
#ifndef UL_ESP32_PORT_H
#define UL_ESP32_PORT_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Counts the processes other than `except` (0: none excepted) that hold
 * the character device at tty open, by reading every PROC/PID/fd/N link
 * (stat() through it, so a symlink or another name of the same device
 * counts). The first holder's pid and command (PROC/PID/comm) go to *pid
 * and comm. Processes whose fd directory cannot be read (another user's,
 * for a daemon that is not root) are not seen. Returns the count, or -1
 * when tty is not a character device or PROC cannot be read.
 */
int esp32_port_holders(const char *proc, const char *tty, pid_t except, pid_t *pid, char *comm,
                       size_t commcap);

/*
 * The tty of the USB device at busid (a port path, "1-4.2"): the first of
 * SYSROOT/bus/usb/devices/BUSID:C.I/tty/NAME (cdc_acm) or
 * .../BUSID:C.I/NAME with NAME ttyUSB* (usb-serial), as "/dev/NAME".
 * Returns 0, or -1 when the device or its tty is not there (yet).
 */
int esp32_port_find_tty(const char *sysroot, const char *busid, char *out, size_t cap);

#endif /* UL_ESP32_PORT_H */
