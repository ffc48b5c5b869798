# SPDX-License-Identifier: MIT
"""usblabtest.py - what the Python tests share: TAP lines and figures, free
ports, a usblabd process (its log, waiting for it, stopping it), temporary
XDG directories, the control socket, and a USB/IP client speaking
shared/docs/usbip-protocol.md. Standard library only.

A test adds this folder to its path first:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
"""
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

# ---- TAP ----------------------------------------------------------------------


class Tap:
    """TAP lines that tests/tap_results.py counts: `ok N - name` or
    `not ok N - name`, with the reason for a failure in `# ` lines under it."""

    def __init__(self):
        self.results = []

    @property
    def n(self):
        return len(self.results)

    @property
    def failed(self):
        return self.results.count(False)

    def check(self, ok, name, why=""):
        """Prints one line for the verdict ok; returns ok."""
        self.results.append(bool(ok))
        print(("ok %d - %s" if ok else "not ok %d - %s") % (self.n, name))
        if not ok and why not in ("", None):
            for line in str(why).splitlines()[:40]:
                print("#   " + line[:400])
        sys.stdout.flush()
        return ok

    def done(self):
        """Prints the plan; the exit status: 1 when a check failed or none ran."""
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed or self.n == 0 else 0


def skip_all(name, why):
    """Reports the whole program as skipped, with why, and exits 77 (meson's skip)."""
    print("ok 1 - %s # SKIP %s" % (name, why))
    print("1..1", flush=True)
    sys.exit(77)


def figure(text):
    """A measured figure, printed as a TAP comment (`# figure: ...`)."""
    print("# figure: " + text, flush=True)


def wait_for(pred, seconds=5.0, step=0.05):
    """pred()'s first true value within seconds, else its last value."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


# ---- ports and directories ------------------------------------------------------


def free_ports(n, host="127.0.0.1"):
    """n distinct free TCP ports (held together while chosen, so they differ)."""
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind((host, 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def free_port(host="127.0.0.1"):
    return free_ports(1, host)[0]


def xdg_env(top, config="cfg", state="state", runtime="run", base=None):
    """base (default os.environ) with XDG_CONFIG_HOME, XDG_STATE_HOME and
    XDG_RUNTIME_DIR below top: usblabd's registry, store and socket there."""
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("XDG_")}
    env.update(XDG_CONFIG_HOME=os.path.join(top, config), XDG_STATE_HOME=os.path.join(top, state),
               XDG_RUNTIME_DIR=os.path.join(top, runtime))
    return env


# The registry naming `usblabd --virtual cdc,hid,msc`'s boards by serial; a
# test adds its own absent boards after it.
VIRTUAL_BOARDS_CONF = """\
# the virtual boards of `usblabd --virtual cdc,hid,msc`, by serial
[cdc]
serial = USBLAB-CDC-1
type = virtual
chip = sim-cdc
notes = CDC-ACM echo

[hid]
serial = USBLAB-HID-2
type = virtual

[msc]
serial = USBLAB-MSC-3
type = virtual
"""

# ---- the daemon -----------------------------------------------------------------


class Usblabd:
    """One usblabd process, stdout and stderr appended to log_path."""

    def __init__(self, exe, args, log_path, env=None, preexec=None):
        self.exe, self.args, self.log_path = exe, list(args), log_path
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen([exe, *self.args], stdout=log, stderr=subprocess.STDOUT,
                                         env=env, preexec_fn=preexec)

    @property
    def pid(self):
        return self.proc.pid

    def poll(self):
        return self.proc.poll()

    def alive(self):
        return self.proc.poll() is None

    def wait_port(self, port, host="127.0.0.1", seconds=10.0):
        """Waits until port accepts a connection. Raises RuntimeError, with
        the log's name, when usblabd exits or never accepts."""
        end = time.monotonic() + seconds
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError("usblabd exited with %d; see %s" % (self.proc.returncode, self.log_path))
                if time.monotonic() > end:
                    raise RuntimeError("usblabd does not accept on %s:%d; see %s" % (host, port, self.log_path))
                time.sleep(0.01)

    def wait_until(self, pred, seconds):
        """pred()'s first true value within seconds; None once usblabd has
        exited or the time is up. pred may raise OSError (not ready yet)."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and self.proc.poll() is None:
            try:
                v = pred()
                if v:
                    return v
            except OSError:
                pass
            time.sleep(0.05)
        return None

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, seconds=10):
        """Sends sig (SIGKILL after seconds if it is still running); the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(seconds)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill9(self):
        return self.stop(signal.SIGKILL)


def ss_keepalive_s(ss_filter):
    """The keepalive timers (seconds left) of the established TCP sockets
    matching ss_filter (as `ss` takes it, e.g. "( sport = :3240 )"), and
    ss's output. libevent's listener sets SO_KEEPALIVE on every accepted
    socket with the system's 2 h idle: only a timer within usblabd's own
    10 s idle shows that an imported connection got its options."""
    out = subprocess.run(["ss", "-tno", "state", "established", ss_filter], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT).stdout.decode(errors="replace")
    timers = []
    # iproute2's print_ms_timer(): "119min", "1min30sec", "12sec", "9.991ms", "991ms".
    for m in re.finditer(r"timer:\(keepalive,(?:(\d+)min)?(?:(\d+)(?:sec|\.))?(?:(\d+)ms)?,", out):
        mins, secs, ms = (int(g) if g else 0 for g in m.groups())
        timers.append(mins * 60 + secs + ms / 1000.0)
    return timers, out


# ---- the control socket (docs/control-api.md) -------------------------------------


class Control:
    """One connection to the control socket: a JSON request per line, its reply."""

    def __init__(self, path, timeout=30):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        try:
            self.s.connect(path)
        except OSError:
            self.s.close()
            raise
        self.f = self.s.makefile("rw")
        self.n = 0

    def call(self, method, params=None, **kw):
        """The reply object to method with params (a dict, and/or keywords).
        Raises OSError when usblabd closes the connection."""
        self.n += 1
        p = dict(params or {}, **kw)
        self.f.write(json.dumps({"id": self.n, "method": method, "params": p}) + "\n")
        self.f.flush()
        line = self.f.readline()
        if not line:
            raise OSError("usblabd closed the control connection")
        return json.loads(line)

    def close(self):
        self.f.close()
        self.s.close()


def control(path, method, params=None, **kw):
    """One control request on a connection of its own; the reply object."""
    c = Control(path)
    try:
        return c.call(method, params, **kw)
    finally:
        c.close()


# ---- USB/IP, the client side (shared/docs/usbip-protocol.md) ----------------------

VERSION = 0x0111
OP_REQ_DEVLIST, OP_REQ_IMPORT = 0x8005, 0x8003
CMD_SUBMIT, CMD_UNLINK, RET_SUBMIT, RET_UNLINK = 1, 2, 3, 4
DEVICE_SIZE = 312
GET_DEVICE_DESCRIPTOR = struct.pack("<BBHHH", 0x80, 6, 0x0100, 0, 18)


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed by usblabd after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def connect(port, src="127.0.0.1", timeout=5.0, host="127.0.0.1", sock=None):
    """A TCP connection to host:port, from src; sock: a socket made by the
    caller (in another network namespace) to connect instead of a new one."""
    s = sock or socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    if sock is None and src != "127.0.0.1":
        s.bind((src, 0))
    s.connect((host, port))
    return s


def op_import(port, busid, host="127.0.0.1", timeout=10.0, sock=None):
    """An OP_REQ_IMPORT of busid: (status, the 312-byte device record or
    None, the open socket). The status is -1 when usblabd closed first."""
    s = connect(port, timeout=timeout, host=host, sock=sock)
    s.sendall(struct.pack(">HHI", VERSION, OP_REQ_IMPORT, 0) + busid.encode().ljust(32, b"\0"))
    try:
        st = struct.unpack(">HHI", recv_exact(s, 8))[2]
        dev = recv_exact(s, DEVICE_SIZE) if st == 0 else None
    except ConnectionError:
        return -1, None, s
    return st, dev, s


def device_busid(dev):
    """The busid field of a device record (§4.6)."""
    return dev[256:288].split(b"\0")[0].decode()


def devlist(port, host="127.0.0.1", src="127.0.0.1"):
    """The devices of an OP_REP_DEVLIST: a list of {busid, path} dicts."""
    s = connect(port, src, host=host)
    try:
        s.sendall(struct.pack(">HHI", VERSION, OP_REQ_DEVLIST, 0))
        ver, code, status, n = struct.unpack(">HHII", recv_exact(s, 12))
        out = []
        for _ in range(n):
            dev = recv_exact(s, DEVICE_SIZE)
            out.append({"busid": device_busid(dev), "path": dev[:256].split(b"\0")[0].decode()})
            recv_exact(s, 4 * dev[311])
        return out
    finally:
        s.close()


class UsbipClient:
    """One imported device: URBs over one socket. Raises ConnectionError
    when the import is refused."""

    def __init__(self, port, busid, src="127.0.0.1", timeout=5.0, host="127.0.0.1", sock=None):
        self.s = connect(port, src, timeout, host=host, sock=sock)
        self.s.sendall(struct.pack(">HHI", VERSION, OP_REQ_IMPORT, 0) + busid.encode().ljust(32, b"\0"))
        ver, code, status = struct.unpack(">HHI", recv_exact(self.s, 8))
        if status != 0:
            self.s.close()
            raise ConnectionError("import of %s refused with status %d" % (busid, status))
        dev = recv_exact(self.s, DEVICE_SIZE)
        busnum, devnum = struct.unpack(">II", dev[288:296])
        self.devid = busnum << 16 | devnum
        self.seq = 0
        self.dir_in = {}  # seqnum -> IN; RET_SUBMIT's direction field is 0 (§3.5)

    def submit(self, ep, dir_in, length, setup=b"\0" * 8, data=b""):
        self.seq += 1
        self.dir_in[self.seq] = dir_in
        h = struct.pack(">IIIII", CMD_SUBMIT, self.seq, self.devid, 1 if dir_in else 0, ep)
        h += struct.pack(">IIiIi", 0x200 if dir_in else 0, length, 0, 0, 0) + setup
        self.s.sendall(h + data)
        return self.seq

    def submit_header_only(self, ep, length):
        """A CMD_SUBMIT OUT header whose data never follows."""
        self.seq += 1
        h = struct.pack(">IIIII", CMD_SUBMIT, self.seq, self.devid, 0, ep)
        h += struct.pack(">IIiIi", 0, length, 0, 0, 0) + b"\0" * 8
        self.s.sendall(h)

    def unlink_bytes(self, count):
        out = bytearray()
        for _ in range(count):
            self.seq += 1
            out += struct.pack(">IIIIII", CMD_UNLINK, self.seq, self.devid, 0, 0, 999999999) + b"\0" * 24
        return bytes(out)

    def wait(self):
        """The next reply: (command, seqnum, status, IN data)."""
        h = recv_exact(self.s, 48)
        cmd, seq, _, direction, ep, status, actual = struct.unpack(">IIIIIiI", h[:28])
        self.last_actual = actual
        dir_in = self.dir_in.pop(seq, False) if cmd == RET_SUBMIT else False
        data = recv_exact(self.s, actual) if dir_in and actual > 0 else b""
        return cmd, seq, status, data

    def urb(self, ep, dir_in, length, setup=b"\0" * 8, data=b""):
        """One URB, waited for: (status, actual_length, IN data)."""
        seq = self.submit(ep, dir_in, length, setup, data)
        while True:
            cmd, rseq, status, data = self.wait()
            if cmd == RET_SUBMIT and rseq == seq:
                return status, self.last_actual, data

    def control_in(self, setup, length):
        seq = self.submit(0, True, length, setup)
        while True:
            cmd, rseq, status, data = self.wait()
            if cmd == RET_SUBMIT and rseq == seq:
                return status, data

    def set_configuration(self, value=1, wait=True):
        """SET_CONFIGURATION on ep0; its status, or None when wait is False."""
        self.submit(0, False, 0, struct.pack("<BBHHH", 0, 9, value, 0, 0))
        if not wait:
            return None
        cmd, rseq, status, _ = self.wait()
        return status

    def close(self, reset=False):
        if reset:
            # As a killed client with data unsent: its kernel resets the
            # connection. (A plain close queues the FIN behind the bytes
            # usblabd is not reading; the client's kernel gives up on it
            # after tcp_orphan_retries, about a minute, and resets then.)
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.s.close()
