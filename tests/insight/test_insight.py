#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""tests/insight: usblabd --insight-hub against a simulated USB Insight Hub.

The hub is a pseudo-terminal behind a symlink (as /dev/serial/by-id would
be): it reads JSON lines, records each channel's frames, answers
{"status":"ok"}, and blanks a channel 4.5 s after its last frame, as the
firmware does. usblabd runs with the three virtual boards (busids 0-1, 0-2,
0-3: channels 1..3 of a hub at location 0). TAP output.
Usage: test_insight.py USBLABD
"""
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tty

BLANK_S = 4.5

DEVICES_CONF = """\
[cdc]
serial = USBLAB-CDC-1
type = virtual
hub_name = CDC echo board

[hid]
serial = USBLAB-HID-2
type = virtual

[msc]
serial = USBLAB-MSC-3
type = virtual
"""


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def check(self, ok, name, why=""):
        self.n += 1
        if not ok:
            self.failed += 1
        print(f"{'ok' if ok else 'not ok'} {self.n} - {name}{'' if ok or not why else ': ' + why}",
              flush=True)
        return ok

    def done(self):
        print(f"1..{self.n}", flush=True)
        return 1 if self.failed else 0


class Hub:
    """The simulated hub: one pty at a time behind self.link."""

    def __init__(self, link):
        self.link = link
        self.lock = threading.Lock()
        self.frames = []  # (time, channel, [txt, txt, txt], color)
        self.last = {}  # channel -> time of its last frame (since the pty opened)
        self.blanked = []  # (channel, seconds without a frame)
        self.bad = []  # lines that were not a valid frame
        self.stop = False
        self.master = self.slave = -1
        self.open_pty()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def open_pty(self):
        m, s = os.openpty()
        tty.setraw(s)
        os.set_blocking(m, False)
        tmp = self.link + ".new"
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(os.ttyname(s), tmp)
        os.replace(tmp, self.link)
        with self.lock:
            self.master, self.slave = m, s
            self.last = {}

    def close_pty(self):
        with self.lock:
            m, s = self.master, self.slave
            self.master = self.slave = -1
            self.last = {}
        os.unlink(self.link)
        for fd in (m, s):
            if fd >= 0:
                os.close(fd)

    def handle(self, line):
        try:
            f = json.loads(line)
            assert f["action"] == "set"
            (ch, v), = f["params"].items()
            texts = [v["Dev1_name"][t]["txt"] for t in ("T1", "T2", "T3")]
            color = v["Dev1_name"]["T1"]["color"]
            n = int(ch[2:])
        except (ValueError, KeyError, AssertionError, TypeError, IndexError):
            self.bad.append(line)
            return b'{"status":"error"}\n'
        now = time.monotonic()
        with self.lock:
            self.frames.append((now, n, texts, color))
            self.last[n] = now
        return b'{"status":"ok"}\n'

    def run(self):
        buf = b""
        while not self.stop:
            with self.lock:
                m = self.master
            now = time.monotonic()
            with self.lock:
                for ch, t in list(self.last.items()):
                    if now - t > BLANK_S:
                        self.blanked.append((ch, now - t))
                        del self.last[ch]
            if m < 0:
                time.sleep(0.05)
                buf = b""
                continue
            try:
                r, _, _ = select.select([m], [], [], 0.1)
                if not r:
                    continue
                data = os.read(m, 4096)
            except OSError:
                time.sleep(0.05)  # no slave open yet (EIO), or closed under us
                continue
            buf += data
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                reply = self.handle(line.decode(errors="replace"))
                try:
                    os.write(m, reply)
                except OSError:
                    pass

    def latest(self, since=0.0):
        """channel -> (texts, color) of its newest frame after since."""
        out = {}
        with self.lock:
            for t, ch, texts, color in self.frames:
                if t >= since:
                    out[ch] = (texts, color)
        return out


def wait_for(pred, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def control(path, method, params):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(path)
    f = s.makefile("rw")
    f.write(json.dumps({"id": 1, "method": method, "params": params}) + "\n")
    f.flush()
    reply = json.loads(f.readline())
    s.close()
    return reply


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def auto_scenario(tap, exe):
    """--insight-hub auto: the hub is found by its USB product string in a
    made-up sysfs ($USBLAB_SYSFS, its tty under $USBLAB_DEVDIR), waited for
    while absent, and found again on another tty after it re-enumerates."""
    tmp = tempfile.mkdtemp(prefix="usblab-insight-auto-")
    sysfs, devdir = os.path.join(tmp, "sys"), os.path.join(tmp, "dev")
    usbdir = os.path.join(sysfs, "bus", "usb", "devices")
    os.makedirs(usbdir)
    os.makedirs(devdir)
    reg, sock, log = (os.path.join(tmp, n) for n in ("devices.conf", "usblabd.sock", "log"))
    with open(reg, "w") as f:
        f.write(DEVICES_CONF)
    # The controller at 0-4, so the hub is at 0 and 0-1..0-3 are CH1..CH3.
    ctl = os.path.join(usbdir, "0-4")

    def plug(ttyname):
        os.makedirs(os.path.join(ctl, "0-4:1.0", "tty", ttyname))
        with open(os.path.join(ctl, "product"), "w") as f:
            f.write("InsightHUB Controller\n")
        return Hub(os.path.join(devdir, ttyname))

    def unplug(hub):
        hub.close_pty()
        hub.stop = True
        shutil.rmtree(ctl)

    # Another device with a tty: not the hub.
    os.makedirs(os.path.join(usbdir, "0-9", "0-9:1.0", "tty", "ttyACM9"))
    with open(os.path.join(usbdir, "0-9", "product"), "w") as f:
        f.write("USB JTAG/serial debug unit\n")
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(tmp, "cfg"),
               XDG_STATE_HOME=os.path.join(tmp, "state"), XDG_RUNTIME_DIR=tmp,
               USBLAB_SYSFS=sysfs, USBLAB_DEVDIR=devdir)
    proc = subprocess.Popen(
        [exe, "--listen", f"127.0.0.1:{free_port()}", "--virtual", "cdc,hid,msc", "--registry",
         reg, "--db", "none", "--control", sock, "--no-inventory", "--http", "none",
         "--insight-hub", "auto"], env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT)
    expect = {1: "CDC echo board", 2: "hid", 3: "msc", 4: "usblabd"}

    def named(hub, since):
        def pred():
            got = hub.latest(since)
            return all(ch in got and got[ch][0][0] == name for ch, name in expect.items())
        return pred

    def logged():
        with open(log, errors="replace") as f:
            return [ln for ln in f.read().splitlines() if "[insight]" in ln]

    hubs = []
    try:
        time.sleep(4.5)  # two rounds of looking
        tap.check(proc.poll() is None and
                  sum("no USB Insight Hub" in ln for ln in logged()) == 1,
                  "auto: no hub yet, usblabd waits and says so once", "\n".join(logged()))
        a = plug("ttyACM0")
        hubs.append(a)
        t0 = time.monotonic()
        tap.check(wait_for(named(a, t0), 10), "auto: the hub is found by its product string and "
                  "shows each board on its channel (location 0 from the controller's 0-4)",
                  repr(a.latest()))
        control(sock, "checkout", {"name": "msc", "reason": "auto test"})
        tap.check(wait_for(lambda: a.latest(t0).get(3, ([], ""))[1] == "ORANGE", 5),
                  "auto: a checkout shows on the found hub", repr(a.latest(t0).get(3)))

        # Re-enumeration: it leaves, and comes back on ttyACM1.
        unplug(a)
        time.sleep(3)
        tap.check(proc.poll() is None, "auto: usblabd survives the hub leaving")
        b = plug("ttyACM1")
        hubs.append(b)
        t1 = time.monotonic()
        tap.check(wait_for(named(b, t1), 10), "auto: found again on ttyACM1, every channel shown",
                  repr(b.latest(t1)))
        with b.lock:
            first = [ch for _, ch, _, _ in b.frames[:4]]
        tap.check(sorted(first) == [1, 2, 3, 4],
                  "auto: on reconnect every channel is sent afresh at once", repr(first))
        tap.check(b.latest(t1).get(3, ([], ""))[1] == "ORANGE",
                  "auto: the reconnected hub shows the lease", repr(b.latest(t1).get(3)))
        time.sleep(BLANK_S + 1)
        tap.check(not b.blanked and not b.bad, "auto: no channel blanked after the reconnect",
                  repr((b.blanked, b.bad[:2])))
        lines = logged()
        tap.check(sum("unavailable" in ln for ln in lines) == 1 and
                  any("ttyACM1, its ports at 0" in ln for ln in lines) and
                  not any("ttyACM9" in ln for ln in lines),
                  "auto: one line for the loss, one for the new tty; the other tty untouched",
                  "\n".join(lines))
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for h in hubs:
            h.stop = True
    with open(log, errors="replace") as f:
        text = f.read()
    tap.check(proc.returncode == 0 and "Sanitizer" not in text and "runtime error" not in text,
              "auto: usblabd exits cleanly", f"rc {proc.returncode}\n{text[-2000:]}")
    bad = subprocess.run([exe, "--insight-hub", "auto@20-3", "--no-inventory", "--db", "none",
                          "--control", "none", "--http", "none", "--registry", reg],
                         capture_output=True, text=True, timeout=30, env=env)
    tap.check(bad.returncode != 0 and "auto finds the hub's location itself" in bad.stderr,
              "auto with a location is refused with the reason", bad.stderr[-300:])
    shutil.rmtree(tmp, ignore_errors=True)


def main():
    exe = sys.argv[1]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="usblab-insight-")
    reg = os.path.join(tmp, "devices.conf")
    sock = os.path.join(tmp, "usblabd.sock")
    log = os.path.join(tmp, "usblabd.log")
    link = os.path.join(tmp, "insight-hub")
    with open(reg, "w") as f:
        f.write(DEVICES_CONF)
    hub = Hub(link)
    env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(tmp, "cfg"),
               XDG_STATE_HOME=os.path.join(tmp, "state"), XDG_RUNTIME_DIR=tmp)
    proc = subprocess.Popen(
        [exe, "--listen", f"127.0.0.1:{free_port()}", "--virtual", "cdc,hid,msc", "--registry",
         reg, "--db", "none", "--control", sock, "--no-inventory", "--http", "none",
         "--insight-hub", f"{link}@0"], env=env, stdout=open(log, "ab"),
        stderr=subprocess.STDOUT)
    expect = {1: "CDC echo board", 2: "hid", 3: "msc", 4: "usblabd"}
    try:
        t0 = time.monotonic()

        def named(since):
            def pred():
                got = hub.latest(since)
                return all(ch in got and got[ch][0][0] == name for ch, name in expect.items())
            return pred

        tap.check(wait_for(named(t0), 20), "frames name the right board on each channel",
                  repr(hub.latest()))
        got = hub.latest()
        tap.check(all(got.get(ch, ([], ""))[0][1:2] == ["exported"] and got[ch][1] == "GREEN"
                      for ch in (1, 2, 3)), "exported boards show 'exported' in GREEN", repr(got))
        tap.check(all(len(t) <= 14 for _, _, texts, _ in hub.frames for t in texts),
                  "lines are at most 14 characters")
        tap.check(got.get(1, ([""],))[0][0] == "CDC echo board",
                  "the registry's hub_name is shown")

        # A checkout shows at once (the event pushes), well before the
        # 2 s keepalive could have carried it.
        t1 = time.monotonic()
        r = control(sock, "checkout", {"name": "hid", "reason": "insight test"})
        tap.check("result" in r, "checkout hid", repr(r))

        def leased():
            texts, color = hub.latest(t1).get(2, ([], ""))
            return color == "ORANGE" and len(texts) == 3 and texts[2] != ""
        ok = wait_for(leased, 5)
        dt = time.monotonic() - t1
        tap.check(ok and dt < 1.5, "the checkout is displayed within ~1 s",
                  f"after {dt:.2f} s: {hub.latest(t1).get(2)}")

        # Keepalive: no channel blanks over a 10 s run.
        time.sleep(max(0.0, 10 - (time.monotonic() - t0)))
        tap.check(not hub.blanked, "no channel blanked in 10 s", repr(hub.blanked))
        tap.check(not hub.bad, "every line was a valid frame", repr(hub.bad[:3]))

        # The hub goes away and comes back on another pty: recovered.
        hub.close_pty()
        time.sleep(3)
        tap.check(proc.poll() is None, "usblabd survives the hub going away")
        hub.open_pty()
        t2 = time.monotonic()
        tap.check(wait_for(named(t2), 10), "frames resume after the hub comes back",
                  repr(hub.latest(t2)))
        texts, color = hub.latest(t2).get(2, ([], ""))
        tap.check(color == "ORANGE", "the reconnected hub shows the lease", repr(texts))
        time.sleep(BLANK_S + 1)
        tap.check(not hub.blanked, "no channel blanked after the reconnect", repr(hub.blanked))
        with open(log, errors="replace") as f:
            text = f.read()
        lines = [ln for ln in text.splitlines() if "insight" in ln]
        tap.check(sum("unavailable" in ln for ln in lines) == 1,
                  "one log line for the outage, no spam", "\n".join(lines))
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    # The simulated hub itself: without usblabd, its displays do blank.
    tap.check(wait_for(lambda: len(hub.blanked) >= 4, BLANK_S + 3),
              "the simulated hub blanks channels once the frames stop", repr(hub.blanked))
    hub.stop = True
    with open(log, errors="replace") as f:
        text = f.read()
    tap.check(proc.returncode == 0 and "Sanitizer" not in text and "runtime error" not in text,
              "usblabd exits cleanly", f"rc {proc.returncode}\n{text[-2000:]}")
    if tap.failed:
        sys.stdout.write("".join(f"# {ln}\n" for ln in text.splitlines()[-40:]))
    shutil.rmtree(tmp, ignore_errors=True)
    auto_scenario(tap, exe)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
