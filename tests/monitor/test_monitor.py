#!/usr/bin/env python3
"""`usblab monitor` against pseudo-terminals that play a board.

A Board is a pty pair with a stable link to its slave (as /run/usblab/NAME/tty
or a udev by-id link is): it prints lines on the master, vanishes (closes
both ends: the monitor's port hangs up) and comes back on a *new* pty (another
/dev/pts/N), the link swapped atomically, as a board that re-enumerates after
a reset gets another ttyACM. The checks: every line arrives exactly once and
in order, the markers sit between the lines before and after, nothing is lost
when the board vanishes right after printing or prints before the monitor
reopens it; --timeout, SIGINT, --send, --log, --timestamps, the keys, the
board found by name under $USBLAB_RUN_DIR, and the errors.

Prints TAP. Environment: USBLAB (the program), USBLABD (for the daemon case).
"""
import fcntl
import json
import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import tempfile
import termios
import time
import tty

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from usblabtest import Tap, Usblabd, free_port  # noqa: E402

USBLAB = os.environ["USBLAB"]
USBLABD = os.environ.get("USBLABD", "")
STAMP = re.compile(r"^\[\d\d:\d\d:\d\d\.\d\d\d\] ")
TAP = Tap()


def tap(ok, name, why=""):
    TAP.check(ok, name, why)


class Board:
    """One appearance of a board: a pty whose slave a link points at."""

    def __init__(self, link):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)  # no echo, no newline mapping: bytes as sent
        self.path = os.ttyname(self.slave)
        self.link = link

    def publish(self):
        """Points the link at this pty atomically (as devfiles.c does)."""
        tmp = self.link + ".new"
        os.symlink(self.path, tmp)
        os.rename(tmp, self.link)

    def write(self, data):
        os.write(self.master, data)

    def read_available(self, timeout):
        out = b""
        end = time.monotonic() + timeout
        while True:
            r, _, _ = select.select([self.master], [], [], max(0, end - time.monotonic()))
            if not r:
                return out
            try:
                out += os.read(self.master, 4096)
            except OSError:
                return out

    def vanish(self):
        os.close(self.master)
        os.close(self.slave)


class Proc:
    """A running monitor; its stdout and stderr read as they come."""

    def __init__(self, args, env=None, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE):
        self.p = subprocess.Popen([USBLAB] + args, stdin=stdin, stdout=stdout,
                                  stderr=subprocess.PIPE, env=env)
        self.out = b""
        self.err = b""
        self.pipes = {self.p.stderr: "err"}
        if self.p.stdout:
            self.pipes[self.p.stdout] = "out"
        for f in self.pipes:
            fcntl.fcntl(f, fcntl.F_SETFL, os.O_NONBLOCK)

    def pump(self, timeout):
        """Reads what is there within timeout; False once both pipes ended."""
        if not self.pipes:
            return False
        r, _, _ = select.select(list(self.pipes), [], [], timeout)
        for f in r:
            chunk = f.read()
            if chunk:
                setattr(self, self.pipes[f], getattr(self, self.pipes[f]) + chunk)
            elif chunk is not None:
                del self.pipes[f]
        return True

    def wait(self, which, text, count=1, timeout=10):
        """Waits until text appears count times on stdout or stderr."""
        end = time.monotonic() + timeout
        while getattr(self, which).count(text.encode()) < count:
            left = end - time.monotonic()
            if left <= 0 or not self.pump(left):
                return False
        return True

    def wait_err(self, text, count=1, timeout=10):
        return self.wait("err", text, count, timeout)

    def finish(self, sig=None, timeout=10):
        if sig is not None and self.p.poll() is None:
            self.p.send_signal(sig)
        end = time.monotonic() + timeout
        while self.pipes and time.monotonic() < end:
            self.pump(end - time.monotonic())
        try:
            rc = self.p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            self.err += b"\n(killed: did not exit)"
            rc = -9
        return rc, self.out, self.err.decode(errors="replace")


def lines(a, b):
    return b"".join(b"line-%04d\r\n" % i for i in range(a, b))


def test_follow(tmp):
    """Three appearances on ptys; every line once, markers between.

    The tty layer flushes what a port still holds when it hangs up (Linux's
    tty_ldisc_hangup), so the board vanishes once the monitor has printed
    its lines, as a board that resets after printing; what a new node holds
    before the monitor opens it must all come out."""
    link = os.path.join(tmp, "board-tty")
    logf = os.path.join(tmp, "follow.log")
    b = Board(link)
    b.publish()
    m = Proc(["monitor", "--tty", link, "--log", logf])
    ok = m.wait_err("connected to " + b.path)
    tap(ok, "connects to the pty the link names, says so on stderr", m.err)
    paths = [b.path]
    b.write(lines(0, 200))
    for k in range(2):
        m.wait("out", "line-%04d" % (200 + k * 400 - 1))
        # The next appearance exists before this one goes: another node.
        nb = Board(link)
        b.vanish()
        m.wait_err("disconnected from", k + 1)
        b = nb
        paths.append(b.path)
        # The board prints while nobody has the new node open yet.
        b.write(lines(200 + k * 400, 400 + k * 400))
        b.publish()
        m.wait_err("connected to " + b.path)
        b.write(lines(400 + k * 400, 600 + k * 400))
    m.wait("out", "line-0999")
    rc, out, err = m.finish(signal.SIGINT)
    b.vanish()
    want = lines(0, 1000)
    tap(out == want, "stdout: every line exactly once, in order, across two re-enumerations",
        f"got {len(out)} bytes, want {len(want)}\n{out[-300:]!r}\n{err}")
    tap(paths[0] != paths[1] and paths[1] != paths[2], "each appearance was another pty node",
        paths)
    tap(rc == 0 and "stopped (Interrupt)" in err, "SIGINT: exit 0, says it stopped", (rc, err))
    tap(out.count(b"---") == 0 and err.count("disconnected from") == 2 and
        err.count("connected to") == 3,
        "stdout is not a terminal: data only on stdout, markers on stderr", err)
    log = open(logf, "rb").read().decode()
    want_log = []
    want_log += [f"line-{i:04d}" for i in range(0, 200)]
    want_log += ["disconnected", "connected"]
    want_log += [f"line-{i:04d}" for i in range(200, 600)]
    want_log += ["disconnected", "connected"]
    want_log += [f"line-{i:04d}" for i in range(600, 1000)]
    got_log = []
    for line in log.splitlines():
        line = line.rstrip("\r")
        if line.startswith("--- usblab monitor: "):
            if "disconnected from" in line:
                got_log.append("disconnected")
            elif "connected to" in line:
                got_log.append("connected")
        else:
            got_log.append(line)
    # The first "connected" and the closing "stopped" frame the rest.
    tap(got_log[0] == "connected" and got_log[1:] == want_log,
        "--log: the lines and the markers in order, each marker between the lines "
        "before and after it", "\n".join(got_log[:5] + ["..."] + got_log[195:210]))


def test_link_by_name(tmp):
    """NAME found as $USBLAB_RUN_DIR/NAME/tty; detach removes the directory,
    re-attach makes it again (src/client/devfiles.c), on another node."""
    run = os.path.join(tmp, "run")
    os.makedirs(os.path.join(run, "esp"))
    link = os.path.join(run, "esp", "tty")
    env = dict(os.environ, USBLAB_RUN_DIR=run, USBLAB_SOCKET=os.path.join(tmp, "no.sock"))
    b = Board(link)
    b.publish()
    m = Proc(["monitor", "esp", "--timestamps"], env=env)
    tap(m.wait_err(f"connected to {b.path} (esp)"), "NAME: the run directory's link, named in "
        "the marker", m.err)
    b.write(b"first\npart")
    m.wait("out", "part")
    b.write(b"ial\n")
    m.wait("out", "partial")
    b.vanish()
    os.unlink(link)
    os.rmdir(os.path.join(run, "esp"))
    m.wait_err("disconnected from")
    b = Board(link.replace("/esp/tty", "/esp.tmp"))
    os.makedirs(os.path.join(run, "esp"))
    b.link = link
    b.publish()
    ok = m.wait_err(f"connected to {b.path} (esp)")
    tap(ok, "the directory removed and made again: found again", m.err)
    b.write(b"second\n")
    m.wait("out", "second")
    rc, out, err = m.finish(signal.SIGTERM)
    b.vanish()
    got = out.decode().splitlines()
    tap(rc == 0 and len(got) == 3 and all(STAMP.match(x) for x in got) and
        [STAMP.sub("", x) for x in got] == ["first", "partial", "second"],
        "--timestamps: one stamp per line, a line written in two pieces stamped once",
        (rc, out, err))


def test_timeout_send(tmp):
    link = os.path.join(tmp, "send-tty")
    b = Board(link)
    b.publish()
    b.write(b"before\n")
    m = Proc(["monitor", "--tty", link, "--timeout", "1.5", "--send", r"AT\r\n\x41\\"])
    got = b.read_available(1.0)
    rc, out, err = m.finish(timeout=15)
    b.vanish()
    tap(got == b"AT\r\nA\\", "--send: the text, its escapes decoded, written once", got)
    tap(rc == 0 and "--timeout ran out" in err and out == b"before\n",
        "--timeout: exit 0 once it runs out, what the board printed before kept", (rc, out, err))
    # The port is absent all along: the monitor waits, and the timeout ends it.
    m = Proc(["monitor", "--tty", os.path.join(tmp, "never"), "--timeout", "1"])
    rc, out, err = m.finish(timeout=15)
    tap(rc == 0 and "waiting for" in err and "--timeout ran out" in err,
        "a port that never comes: waits, says so, --timeout ends it", (rc, err))


def test_terminal(tmp):
    """stdout and stdin on a terminal: markers inline, keys to the board."""
    link = os.path.join(tmp, "term-tty")
    b = Board(link)
    b.publish()
    tmaster, tslave = pty.openpty()
    m = Proc(["monitor", "--tty", link], stdin=tslave, stdout=tslave)
    os.close(tslave)
    screen = b""

    def until(text, timeout=10):
        nonlocal screen
        end = time.monotonic() + timeout
        while text not in screen and time.monotonic() < end:
            r, _, _ = select.select([tmaster], [], [], 0.2)
            if r:
                try:
                    screen += os.read(tmaster, 4096)
                except OSError:
                    break
        return text in screen

    tap(until(b"Ctrl-T h: keys"), "interactive: the keys are announced on the terminal", screen)
    b.write(b"no newline yet")
    until(b"no newline yet")
    os.write(tmaster, b"hello\x14\x14\x14c")
    got = b.read_available(1.0)
    tap(got == b"hello\x14\x03", "keys go to the board; Ctrl-T Ctrl-T and Ctrl-T c send "
        "Ctrl-T and Ctrl-C", got)
    os.write(tmaster, b"\x14b")
    tap(until(b"reset into the ROM bootloader (DTR/RTS)") and until(b"reset failed"),
        "Ctrl-T b: the bootloader reset (a pty has no DTR/RTS: it says it failed)", screen)
    b.vanish()
    tap(until(b"disconnected from") and b"no newline yet\r\n--- usblab monitor: reset into"
        in screen, "on a terminal: markers on stdout, a partial line ended first", screen)
    os.write(tmaster, b"\x14q")
    try:
        rc = m.p.wait(10)
    except subprocess.TimeoutExpired:
        m.p.kill()
        rc = -9
    tap(rc == 0, "Ctrl-T q: exit 0", rc)
    os.close(tmaster)


def usblab(*args, env=None):
    p = subprocess.run([USBLAB] + list(args), capture_output=True, text=True, env=env,
                       timeout=30)
    return p.returncode, p.stdout, p.stderr


def test_errors(tmp):
    rc, _, err = usblab("monitor", "--tty", "/dev/null", "--timeout", "5")
    tap(rc == 1 and "/dev/null is not a serial port" in err, "not a tty: exit 1", (rc, err))
    rc, _, err = usblab("monitor")
    tap(rc == 2 and "needs a board NAME or --tty PATH" in err, "no NAME: exit 2", (rc, err))
    rc, _, err = usblab("monitor", "--tty", "/dev/null", "--baud", "12345")
    tap(rc == 2 and "--baud" in err, "a bad --baud: exit 2", (rc, err))
    rc, _, err = usblab("monitor", "--tty", "/dev/null", "--timeout", "soon")
    tap(rc == 2 and "--timeout" in err, "a bad --timeout: exit 2", (rc, err))
    rc, _, err = usblab("monitor", "--tty", "/dev/null", "--send", r"\q")
    tap(rc == 2 and "bad escape" in err, "a bad --send escape: exit 2", (rc, err))
    rc, _, err = usblab("monitor", "--tty", "/dev/null", "--log", "/nonexistent/dir/log")
    tap(rc == 1 and "cannot write the log" in err, "a log that cannot be written: exit 1",
        (rc, err))
    env = dict(os.environ, USBLAB_RUN_DIR=os.path.join(tmp, "empty-run"))
    rc, _, err = usblab("--socket", os.path.join(tmp, "none.sock"), "monitor", "ghost", env=env)
    tap(rc == 3 and "no board 'ghost' attached here" in err and "usblabd is not running" in err,
        "no link and no usblabd: exit 3, says where it looked", (rc, err))
    rc, out, _ = usblab("monitor", "--help")
    tap(rc == 0 and "Ctrl-T b" in out and "Exit status" in out, "--help: keys and exit status",
        out[:200])


def test_daemon(tmp):
    """NAME through usblabd's info: unknown name; a board with no tty here."""
    if not USBLABD:
        tap(True, "daemon lookup # SKIP no USBLABD given")
        return
    conf = os.path.join(tmp, "devices.conf")
    sock = os.path.join(tmp, "usblabd.sock")
    with open(conf, "w") as f:
        f.write("[cdc]\nserial = USBLAB-CDC-1\ntype = virtual\n")
    port = free_port()
    env = dict(os.environ, XDG_RUNTIME_DIR=tmp, XDG_STATE_HOME=tmp, XDG_CONFIG_HOME=tmp,
               USBLAB_RUN_DIR=os.path.join(tmp, "empty-run"))
    d = Usblabd(USBLABD, ["--listen", f"127.0.0.1:{port}", "--virtual", "cdc", "--registry", conf,
                          "--db", "none", "--control", sock, "--no-inventory", "--http", "none"],
                os.path.join(tmp, "usblabd.log"), env=env)
    try:
        for _ in range(200):
            if usblab("--socket", sock, "status", env=env)[0] == 0:
                break
            time.sleep(0.05)
        rc, _, err = usblab("--socket", sock, "monitor", "nosuch", env=env)
        tap(rc == 1 and err.startswith("usblab: ") and "nosuch" in err,
            "an unknown board: usblabd's error, exit 1", (rc, err))
        m = Proc(["--socket", sock, "monitor", "cd", "--timeout", "1"], env=env)
        rc, out, err = m.finish(timeout=15)
        tap(rc == 0 and "waiting for cdc's tty" in err and "--timeout ran out" in err,
            "a board usblabd knows with no tty here: resolved by part of its name, waits",
            (rc, err))
    finally:
        d.stop()


class FakeDaemon:
    """usblabd's control API as far as the monitor uses it (docs/control-api.md):
    `info` answers the board with the devnodes set here, `events.follow`
    answers and then gets every event pushed. Counts the info calls."""

    def __init__(self, path, name):
        import threading
        self.name, self.devnodes, self.infos = name, [], 0
        self.followers = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(8)
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        import threading
        while True:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        f = c.makefile("rwb")
        for line in f:
            req = json.loads(line)
            if req["method"] == "info":
                with self.lock:
                    self.infos += 1
                    board = {"name": self.name, "type": "esp32", "state": "present",
                             "devnodes": list(self.devnodes)}
                f.write(json.dumps({"id": req["id"], "result": {"board": board, "events": [],
                                                               "history": False}}).encode() + b"\n")
                f.flush()
            elif req["method"] == "events.follow":
                ok = req.get("params", {}).get("device") == self.name
                f.write(json.dumps({"id": req["id"], "result": {"following": ok}}).encode() + b"\n")
                f.flush()
                with self.lock:
                    self.followers.append(f)

    def event(self, kind):
        with self.lock:
            for f in self.followers:
                try:
                    f.write(json.dumps({"event": {"kind": kind, "board": self.name}}).encode()
                            + b"\n")
                    f.flush()
                except OSError:
                    pass

    def close(self):
        self.srv.close()


def test_daemon_follow(tmp):
    """A board on this machine's usblabd: found by `info`, followed through
    the event stream to its next node. usblabd names ttys /dev/tty*, so the
    ptys get links there: root only."""
    if os.geteuid() != 0:
        tap(True, "daemon follow # SKIP needs root for its /dev/tty* links to ptys")
        return
    sock = os.path.join(tmp, "fake.sock")
    d = FakeDaemon(sock, "esp-x")
    env = dict(os.environ, USBLAB_RUN_DIR=os.path.join(tmp, "empty-run"))
    links = [f"/dev/ttyUSBLABTEST{os.getpid()}{c}" for c in "ab"]
    b = None
    try:
        b = Board(links[0])
        b.publish()
        d.devnodes = [links[0]]
        m = Proc(["--socket", sock, "monitor", "esp-x"], env=env)
        tap(m.wait_err(f"connected to {b.path} (esp-x)"),
            "NAME through usblabd's info: its /dev/tty* opened", m.err)
        b.write(lines(0, 100))
        m.wait("out", "line-0099")
        nb = Board(links[1])
        b.vanish()
        os.unlink(links[0])
        d.devnodes = []
        d.event("departed")
        m.wait_err("disconnected from")
        b = nb
        b.write(lines(100, 200))
        b.publish()
        d.devnodes = [links[1]]
        infos = d.infos
        # The node appears in usblabd's info only; the event says when to look.
        d.event("arrived")
        ok = m.wait_err(f"connected to {b.path} (esp-x)")
        tap(ok, "after an event of the board, info names another node: followed", m.err)
        b.write(lines(200, 300))
        m.wait("out", "line-0299")
        rc, out, err = m.finish(signal.SIGTERM)
        tap(out == lines(0, 300), "every line once across the move", (len(out), err))
        tap(d.infos - infos <= 3, "no polling: at most a few info calls per event",
            d.infos - infos)
    finally:
        if b:
            b.vanish()
        for link in links:
            if os.path.lexists(link):
                os.unlink(link)
        d.close()


def main():
    tmp = tempfile.mkdtemp(prefix="usblab-monitor-")
    for t in (test_follow, test_link_by_name, test_timeout_send, test_terminal, test_errors,
              test_daemon, test_daemon_follow):
        try:
            t(tmp)
        except Exception as e:  # a harness error is a failure, not a crash
            tap(False, f"{t.__name__} raised", repr(e))
    return TAP.done()


if __name__ == "__main__":
    sys.exit(main())
