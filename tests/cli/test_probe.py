#!/usr/bin/env python3
"""`usblab probe` against pseudo-terminals that play an ESP32.

The ROM side is written here from Espressif's serial protocol (SLIP, SYNC
0x08, READ_REG 0x0A, 4 status bytes), independently of src/bench/esp32.c:
  rom      answers SYNC 8 times and READ_REG of the MAC eFuse words
  rom-mac  ... with a MAC holding 0xC0 and 0xDB (escaped both ways)
  rom-noreg  answers SYNC, fails READ_REG (status 1, error 5)
  app      prints a banner and echoes everything (SYNC included)
Then the daemon path against a real `usblabd --virtual cdc,esp32`: `probe
NAME` for a board that is not type esp32, for an absent esp32 board, and for
the virtual ESP32 (exported as 303a:1001, but with no tty on this machine).

Prints TAP. Environment: USBLAB, USBLABD.
"""
import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from usblabtest import Tap, Usblabd, free_port  # noqa: E402

USBLAB = os.environ["USBLAB"]
USBLABD = os.environ["USBLABD"]
TAP = Tap()


def tap(ok, name, why=""):
    TAP.check(ok, name, why)


def slip(pkt):
    return b"\xc0" + pkt.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


def unslip(frame):
    return frame.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")


def mac_words(mac):
    """eFuse words 1 and 2 of an ESP32 (esptool read_mac, reversed)."""
    mac0 = struct.unpack(">I", mac[2:6])[0]
    mac1 = struct.unpack(">H", mac[0:2])[0] | 0x00a50000  # a CRC byte above, ignored
    return mac0, mac1


class FakeChip(threading.Thread):
    """Plays one chip on a pty master until stopped; records requests."""

    def __init__(self, mode, mac=bytes.fromhex("3c6105aabbcc")):
        super().__init__(daemon=True)
        self.mode, self.mac = mode, mac
        self.master, slave = os.openpty()
        self.path = os.ttyname(slave)
        os.close(slave)  # the probe opens it by path
        self.stop = False
        self.requests = []

    def reply(self, op, value, status=0, error=0):
        pkt = struct.pack("<BBHI", 1, op, 4, value) + bytes([status, error, 0, 0])
        os.write(self.master, slip(pkt))

    def handle(self, pkt):
        if len(pkt) < 8 or pkt[0] != 0:
            return
        op, length = pkt[1], struct.unpack("<H", pkt[2:4])[0]
        data = pkt[8:]
        self.requests.append(op)
        if length != len(data):
            return
        if op == 0x08 and data == b"\x07\x07\x12\x20" + b"\x55" * 32:
            for _ in range(8):
                self.reply(op, 0x20120707)
        elif op == 0x0A:
            if self.mode == "rom-noreg":
                self.reply(op, 0, 1, 5)
                return
            addr = struct.unpack("<I", data)[0]
            mac0, mac1 = mac_words(self.mac)
            self.reply(op, {0x3FF5A004: mac0, 0x3FF5A008: mac1}.get(addr, 0))

    def run(self):
        buf = b""
        if self.mode == "app":
            os.write(self.master, b"I (250) main_task: Calling app_main()\r\n")
        while not self.stop:
            r, _, _ = select.select([self.master], [], [], 0.02)
            if not r:
                continue
            try:
                data = os.read(self.master, 4096)
            except OSError:  # EIO while no one has the slave open
                time.sleep(0.01)
                continue
            if self.mode == "app":
                os.write(self.master, data)
                continue
            buf += data
            while buf.count(b"\xc0") >= 2:
                start = buf.index(b"\xc0")
                end = buf.index(b"\xc0", start + 1)
                frame, buf = buf[start + 1:end], buf[end:]
                if frame:  # an empty one is two frames' ends meeting
                    self.handle(unslip(frame))

    def close(self):
        self.stop = True
        self.join(2)
        os.close(self.master)


def usblab(*args, env=None):
    t0 = time.monotonic()
    p = subprocess.run([USBLAB, *args], capture_output=True, text=True, timeout=30,
                       env=env)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - t0


def with_chip(mode, fn, **kw):
    chip = FakeChip(mode, **kw)
    chip.start()
    try:
        fn(chip)
    finally:
        chip.close()


def test_rom(chip):
    rc, out, err, _ = usblab("probe", "--tty", chip.path)
    tap(rc == 0 and out == f"{chip.path}: bootloader, MAC 3c:61:05:aa:bb:cc\n",
        "ROM: bootloader and the MAC from the eFuse words", (rc, out, err))
    tap(chip.requests[:3] == [0x08, 0x0A, 0x0A], "ROM: SYNC, then READ_REG twice",
        chip.requests)
    rc, out, err, _ = usblab("probe", "--tty", chip.path, "--json", "esp-x")
    try:
        doc = json.loads(out)
    except ValueError:
        doc = None
    tap(rc == 0 and doc == {"board": "esp-x", "tty": chip.path, "state": "bootloader",
                            "mac": "3c:61:05:aa:bb:cc"},
        "ROM: --json", (rc, out, err))


def test_rom_escapes(chip):
    rc, out, err, _ = usblab("probe", "--tty", chip.path)
    tap(rc == 0 and out.endswith("bootloader, MAC 3c:61:c0:db:c0:db\n"),
        "ROM: MAC words with 0xC0 and 0xDB come through SLIP", (rc, out, err))


def test_rom_noreg(chip):
    rc, out, err, _ = usblab("probe", "--tty", chip.path)
    tap(rc == 0 and out.endswith("bootloader, MAC unread (no reply to READ_REG)\n"),
        "ROM failing READ_REG: bootloader, MAC unread", (rc, out, err))


def test_app(chip):
    time.sleep(0.05)  # the banner is in the pty before the probe opens it
    rc, out, err, took = usblab("probe", "--tty", chip.path)
    tap(rc == 0 and out == f"{chip.path}: running (no reply to SYNC in 150 ms)\n",
        "app echoing SYNC: running (an echoed request is no reply)", (rc, out, err))
    tap(0.14 < took < 3, "app: the probe waited about 150 ms", f"{took:.3f} s")
    rc, out, err, _ = usblab("probe", "--tty", chip.path, "--json")
    tap(rc == 0 and json.loads(out) == {"board": None, "tty": chip.path, "state": "running",
                                     "mac": None},
        "app: --json", (rc, out, err))


def test_errors():
    rc, out, err, _ = usblab("probe", "--tty", "/nonexistent/ttyX")
    tap(rc == 1 and err.startswith("usblab: cannot open /nonexistent/ttyX"),
        "a missing tty: exit 1, says so", (rc, out, err))
    rc, out, err, _ = usblab("probe", "--tty", "/dev/null")
    tap(rc == 1 and "not a serial port" in err, "/dev/null: not a serial port", (rc, err))
    rc, out, err, _ = usblab("probe")
    tap(rc == 2 and "needs a board NAME or --tty PATH" in err, "no NAME: usage, exit 2",
        (rc, err))
    rc, out, err, _ = usblab("list", "--tty", "/dev/null")
    tap(rc == 2 and "does not take --tty" in err, "--tty belongs to probe alone", (rc, err))


CONF = """\
[cdc]
serial = USBLAB-CDC-1
type = virtual

[esp-a]
serial = 3C6105AABBCC
type = esp32

# usblabd's own virtual ESP32: present, exported, but no tty here
[esp-virt]
serial = USBLAB-ESP32-2
type = esp32
"""


def test_daemon():
    tmp = tempfile.mkdtemp(prefix="usblab-probe-")
    conf = os.path.join(tmp, "devices.conf")
    sock = os.path.join(tmp, "usblabd.sock")
    with open(conf, "w") as f:
        f.write(CONF)
    env = dict(os.environ, XDG_RUNTIME_DIR=tmp, XDG_STATE_HOME=tmp, XDG_CONFIG_HOME=tmp)
    d = Usblabd(USBLABD, ["--listen", f"127.0.0.1:{free_port()}", "--virtual", "cdc,esp32",
                          "--registry", conf, "--db", "none", "--control", sock,
                          "--no-inventory", "--http", "none"],
                os.path.join(tmp, "usblabd.log"), env=env)
    try:
        for _ in range(200):
            if usblab("--socket", sock, "status", env=env)[0] == 0:
                break
            time.sleep(0.05)
        rc, out, err, _ = usblab("--socket", sock, "probe", "cdc", env=env)
        tap(rc == 1 and "cdc is of type 'virtual'" in err and "type = esp32" in err,
            "probe NAME of another type: exit 1, names the type", (rc, out, err))
        rc, out, err, _ = usblab("--socket", sock, "probe", "esp-a", env=env)
        tap(rc == 1 and "esp-a has no serial port (state absent)" in err,
            "probe of an absent esp32: exit 1, no serial port", (rc, out, err))
        rc, out, err, _ = usblab("--socket", sock, "info", "esp-virt", "--json", env=env)
        b = json.loads(out)["board"] if rc == 0 else {}
        tap(b.get("vid") == "303a" and b.get("pid") == "1001" and b.get("state") == "exported",
            "usblabd --virtual esp32: the registry's esp-virt, 303a:1001, exported",
            (rc, out, err))
        rc, out, err, _ = usblab("--socket", sock, "probe", "esp-virt", env=env)
        tap(rc == 1 and "esp-virt has no serial port (state exported)" in err,
            "probe of the virtual ESP32 not attached here: no serial port", (rc, out, err))
        rc, out, err, _ = usblab("--socket", sock, "probe", "nosuch", env=env)
        tap(rc == 1 and err.startswith("usblab: "), "probe of an unknown name: exit 1",
            (rc, out, err))
    finally:
        d.stop()


def main():
    with_chip("rom", test_rom)
    with_chip("rom", test_rom_escapes, mac=bytes.fromhex("3c61c0dbc0db"))
    with_chip("rom-noreg", test_rom_noreg)
    with_chip("app", test_app)
    test_errors()
    test_daemon()
    return TAP.done()


if __name__ == "__main__":
    sys.exit(main())
