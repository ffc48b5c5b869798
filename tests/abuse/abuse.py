#!/usr/bin/env python3
"""usblabd under abuse and load (issue 12): every scenario against a real
usblabd on 127.0.0.1, with a well-behaved client that must be served
throughout, and RSS and descriptor counts that must come back.

Prints TAP (`ok N - name`, `not ok N - name`) that tests/tap_results.py
counts, and `# figure:` lines with what was measured (bench/README.md
keeps a table of them). Standard library only. The daemon is $USBLABD or
argv[1]. No timing assertions beyond generous bounds on deadlines.
"""
import os
import resource
import socket
import struct
import subprocess
import sys
import shutil
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from usblabtest import (CMD_SUBMIT, GET_DEVICE_DESCRIPTOR, OP_REQ_DEVLIST, OP_REQ_IMPORT,  # noqa: E402
                        VERSION, Tap, Usblabd, connect, devlist, figure, free_port, ss_keepalive_s)
from usblabtest import UsbipClient as Client  # noqa: E402

USBLABD = os.environ.get("USBLABD") or (sys.argv[1] if len(sys.argv) > 1 else None)
DEADLINE_S = 2.0
BUDGET_MIB = 64
SHARE_MIB = 16
OP_CAP = 16
PER_SOURCE = 24
# busids: 0-1 the good client's CDC, 0-2..0-4 hogs' CDCs, 0-5 an MSC,
# 0-6 the CDC of the steady client that stays imported through every scenario.
VIRT = "cdc,cdc,cdc,cdc,msc,cdc"

TAP = Tap()


def check(name, cond, detail=""):
    return TAP.check(cond, name, detail)


# ---- USB/IP client side (usblabtest.UsbipClient) --------------------------------


def import_retry(port, busid, seconds=3.0):
    """Imports busid, retrying while the previous user's URBs drain."""
    end = time.monotonic() + seconds
    while True:
        try:
            return Client(port, busid)
        except ConnectionError:
            if time.monotonic() > end:
                raise
            time.sleep(0.05)


def good_round_trip(port, busid="0-1", rounds=5):
    """The well-behaved client: import, GET_DESCRIPTOR a few times, leave.
    Returns None on success or the reason it failed."""
    try:
        c = import_retry(port, busid)
        try:
            for _ in range(rounds):
                status, data = c.control_in(GET_DEVICE_DESCRIPTOR, 18)
                if status != 0 or len(data) != 18 or data[0] != 18 or data[1] != 1:
                    return "bad reply: status %d, %d bytes" % (status, len(data))
        finally:
            c.close()
        return None
    except (OSError, ConnectionError) as e:
        return "%s: %s" % (type(e).__name__, e)


def is_closed(s, wait=0.0):
    """Whether usblabd closed s (EOF or reset), waiting up to wait s."""
    s.settimeout(wait if wait > 0 else 0.001)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except socket.timeout:
        return False
    except BlockingIOError:
        return False
    except OSError:
        return True


class SteadyClient(threading.Thread):
    """Imported for the whole run, a GET_DESCRIPTOR every 50 ms: each must
    come back."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.c = Client(port, "0-6", timeout=15.0)
        self.stop = threading.Event()
        self.ok = 0
        self.failures = []
        self.worst = 0.0

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            try:
                status, data = self.c.control_in(GET_DEVICE_DESCRIPTOR, 18)
                if status != 0 or len(data) != 18:
                    self.failures.append("status %d, %d bytes" % (status, len(data)))
                else:
                    self.ok += 1
            except (OSError, ConnectionError) as e:
                self.failures.append("%s: %s" % (type(e).__name__, e))
                return
            self.worst = max(self.worst, time.monotonic() - t0)
            self.stop.wait(0.05)


# ---- the daemon ---------------------------------------------------------------


# No control socket, store or udev: the abuse runs start many daemons at once.
BENCH_OFF = ["--control", "none", "--db", "none", "--no-inventory", "--registry", "/dev/null"]


def child_env():
    env = dict(os.environ)
    # Under ASan, freed memory waits in a 256 MiB quarantine: RSS would
    # never come back. Without it, large blocks are unmapped on free.
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=0:allocator_release_to_os_interval_ms=100"
    return env


class Daemon(Usblabd):
    """usblabd on 127.0.0.1 with BENCH_OFF; RSS, descriptors and CPU time."""

    def __init__(self, args, log_path, preexec=None):
        self.port = free_port()
        super().__init__(USBLABD, ["--listen", "127.0.0.1:%d" % self.port] + BENCH_OFF + args, log_path,
                         env=child_env(), preexec=preexec)
        self.wait_port(self.port)

    def rss_kib(self, field="VmRSS:"):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1])
        return 0

    def nfds(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def cpu_s(self):
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(d, start_kib, seconds=4.0):
    """Waits up to seconds for RSS to come back within 10% of start."""
    end = time.monotonic() + seconds
    rss = d.rss_kib()
    while rss > start_kib * 1.10 and time.monotonic() < end:
        time.sleep(0.1)
        rss = d.rss_kib()
    return rss


# ---- scenarios ------------------------------------------------------------------


def scenario_idle(d):
    """Finding 1: 64 idle and half-sent connections must not lock anyone out."""
    idle = []
    for i in range(64):
        s = connect(d.port)
        if i % 2:
            s.sendall(struct.pack(">HH", VERSION, OP_REQ_IMPORT))  # half an OP header
        idle.append(s)
    t0 = time.monotonic()
    why = good_round_trip(d.port)
    check("idle: a client is served while 64 idle/half-sent connections are open", why is None, why or "")
    open_now = sum(1 for s in idle if not is_closed(s))
    check("idle: connections in the OP phase are capped (%d open of 64, cap %d)" % (open_now, OP_CAP),
          open_now <= OP_CAP)
    # The rest are closed by the deadline.
    while time.monotonic() - t0 < DEADLINE_S + 5 and any(not is_closed(s) for s in idle):
        time.sleep(0.05)
    elapsed = time.monotonic() - t0
    left = sum(1 for s in idle if not is_closed(s))
    check("idle: every idle connection is closed within deadline + 5 s", left == 0,
          "%d still open after %.1f s" % (left, elapsed))
    figure("idle: 64 idle/half-sent connections, OP cap %d: %d left open at once; the last closed "
           "%.2f s after the newcomer (deadline %.1f s)" % (OP_CAP, open_now, elapsed, DEADLINE_S))
    for s in idle:
        s.close()


def scenario_imported_kept(d):
    """An imported connection is never evicted by newcomers."""
    user = Client(d.port, "0-5")
    flood = [connect(d.port) for _ in range(60)]
    t0 = time.monotonic()
    evicted = sum(1 for s in flood if is_closed(s, 0.0))
    try:
        status, data = user.control_in(GET_DEVICE_DESCRIPTOR, 18)
        ok = status == 0 and len(data) == 18
    except (OSError, ConnectionError) as e:
        ok = False
    check("eviction: an imported connection survives 60 newcomers", ok)
    figure("eviction: 60 newcomers, %d of them closed at once to keep the OP cap (%d)" % (evicted, OP_CAP))
    for s in flood:
        s.close()
    user.close()


def scenario_per_source(d):
    """One address cannot take every slot; another address is still served."""
    socks = []
    for _ in range(40):
        try:
            socks.append(connect(d.port, src="127.0.0.3"))
        except OSError:
            pass
    time.sleep(0.2)
    open_now = sum(1 for s in socks if not is_closed(s))
    check("per-source: at most --max-per-source (%d) connections from 127.0.0.3 stay open (%d)" % (
        PER_SOURCE, open_now), open_now <= PER_SOURCE)
    why = good_round_trip(d.port)
    check("per-source: a client from 127.0.0.1 is served meanwhile", why is None, why or "")
    for s in socks:
        s.close()


def cdc_hog(d, busid, urb_kib=1024, seconds=2.0):
    """Imports a CDC and sends 1 MiB bulk OUT URBs that the device never
    completes (nobody reads its echo) and reads nothing back."""
    c = Client(d.port, busid)
    c.set_configuration(1)
    c.s.setblocking(False)
    payload = b"\xa5" * (urb_kib * 1024)
    sent_urbs = 0
    end = time.monotonic() + seconds
    pending = b""
    while time.monotonic() < end:
        if not pending:
            c.seq += 1
            h = struct.pack(">IIIII", CMD_SUBMIT, c.seq, c.devid, 0, 2)
            h += struct.pack(">IIiIi", 0, len(payload), 0, 0, 0) + b"\0" * 8
            pending = h + payload
            sent_urbs += 1
        try:
            n = c.s.send(pending)
            pending = pending[n:]
        except BlockingIOError:
            time.sleep(0.01)
    return c, sent_urbs


def scenario_memory(d, start_kib):
    """Findings 2 and 3: clients that never read, and one that floods
    unlinks then large IN URBs, must not take memory from the others."""
    hogs = []
    peak = d.rss_kib()
    for busid in ("0-2", "0-3", "0-4"):
        c, n = cdc_hog(d, busid, seconds=1.5)
        hogs.append(c)
        peak = max(peak, d.rss_kib())
    why = good_round_trip(d.port)
    check("memory: a client is served while 3 clients hold their share and never read", why is None, why or "")
    peak = max(peak, d.rss_kib())
    figure("memory: 3 non-reading clients (1 MiB OUT URBs): RSS %d KiB at start, peak %d KiB "
           "(+%.1f MiB, budget %d MiB, share %d MiB)" % (start_kib, peak, (peak - start_kib) / 1024,
                                                         BUDGET_MIB, SHARE_MIB))
    check("memory: peak RSS within start + budget + 10%% (%d KiB <= %d KiB)" % (
        peak, start_kib + BUDGET_MIB * 1024 * 1.1), peak <= start_kib + BUDGET_MIB * 1024 * 1.1)
    for c in hogs:
        c.close(reset=True)
    # The unlink flood, then large IN URBs on the bulk IN endpoint (empty
    # ring: they wait), never reading.
    c = import_retry(d.port, "0-2")
    c.set_configuration(1)
    c.s.setblocking(False)
    blob = c.unlink_bytes(100000)
    end = time.monotonic() + 2.0
    while blob and time.monotonic() < end:
        try:
            blob = blob[c.s.send(blob):]
        except BlockingIOError:
            time.sleep(0.01)
    for _ in range(40):
        c.seq += 1
        h = struct.pack(">IIIII", CMD_SUBMIT, c.seq, c.devid, 1, 2)
        h += struct.pack(">IIiIi", 0x200, 8 << 20, 0, 0, 0) + b"\0" * 8
        try:
            c.s.send(h)
        except BlockingIOError:
            break
    peak = max(peak, d.rss_kib())
    why = good_round_trip(d.port)
    check("memory: a client is served while another floods unlinks and 8 MiB IN URBs", why is None, why or "")
    log = d.log_text()
    check("memory: no client was closed for lack of memory", "out of memory" not in log)
    check("memory: the hog is named as paused in the log", "paused: a message of" in log)
    c.close(reset=True)
    rss = settle(d, start_kib)
    figure("memory: after the hogs left RSS is %d KiB (start %d KiB, %+.1f%%)" % (
        rss, start_kib, 100.0 * (rss - start_kib) / start_kib))
    check("memory: RSS back within 10%% of start after the hogs left (%d vs %d KiB)" % (rss, start_kib),
          rss <= start_kib * 1.10)
    return peak


def scenario_slow_out(d):
    """Finding 6: a 16 MiB OUT CMD_SUBMIT whose data never arrives."""
    c = import_retry(d.port, "0-2")
    c.set_configuration(1)
    c.submit_header_only(2, 16 << 20)
    c.s.sendall(b"\0" * 1000)
    t0 = time.monotonic()
    closed = is_closed(c.s, DEADLINE_S + 5)
    elapsed = time.monotonic() - t0
    check("deadline: a 16 MiB OUT URB whose data stops is closed within deadline + 5 s", closed,
          "after %.1f s" % elapsed)
    figure("deadline: 16 MiB OUT URB with 1000 bytes sent: closed after %.2f s (deadline %.1f s)" % (
        elapsed, DEADLINE_S))
    c.close()
    why = good_round_trip(d.port, "0-2")
    check("deadline: the device is free again for the next client", why is None, why or "")


def scenario_refusals(d):
    """Refused imports are logged with the reason; a bad length is logged
    with the value sent; an imported connection has keepalive armed."""
    try:
        Client(d.port, "9-9")
        refused_unknown = False
    except ConnectionError:
        refused_unknown = True
    holder = Client(d.port, "0-1")
    try:
        Client(d.port, "0-1")
        refused_busy = False
    except ConnectionError:
        refused_busy = True
    port = holder.s.getsockname()[1]
    timers, ss = ss_keepalive_s("( dport = :%d )" % port)
    check("refusals: an imported connection has TCP keepalive armed with a 10 s idle",
          len(timers) == 1 and timers[0] <= 10.5, ss.strip())
    holder.close()
    time.sleep(0.2)
    log = d.log_text()
    check("refusals: an unknown busid is refused and logged", refused_unknown and
          "import of '9-9' refused: no such device" in log)
    check("refusals: a busy device is refused and the log names its holder", refused_busy and
          "import of '0-1' refused: busy, imported by 127.0.0.1:" in log)
    c = import_retry(d.port, "0-1")
    c.submit_header_only(0, 0x7fffffff)
    closed = is_closed(c.s, 5.0)
    c.close()
    time.sleep(0.2)
    check("refusals: a CMD_SUBMIT above the limit closes only that client, logged with the length",
          closed and "length 2147483647" in d.log_text())


def scenario_log_flood(d):
    """Finding 5: a client repeating a bad request is logged a few times."""
    before = d.log_text().count("closing connection")
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < 1.5:
        s = connect(d.port)
        s.sendall(struct.pack(">HHI", 0x0106, OP_REQ_DEVLIST, 0))  # a wrong version
        is_closed(s, 1.0)
        s.close()
        n += 1
    time.sleep(0.2)
    log = d.log_text()
    lines = log.count("closing connection") - before
    # 5 lines per 10 s window; the flood may straddle two windows, with the
    # first one's summary between them: 11 at the most.
    check("log: %d bad requests gave at most 11 lines (%d)" % (n, lines), lines <= 11)
    check("log: the line names the version seen and the peer", "version 0x0106" in log and "client 127.0.0.1:" in log)
    figure("log: %d bad OP requests in 1.5 s: %d lines" % (n, lines))


def scenario_emfile(d, base_fds):
    """Finding 4: out of descriptors, accept pauses instead of spinning."""
    soft, hard = resource.prlimit(d.pid, resource.RLIMIT_NOFILE)
    resource.prlimit(d.pid, resource.RLIMIT_NOFILE, (d.nfds() + 2, hard))
    cpu0, t0 = d.cpu_s(), time.monotonic()
    socks = []
    for _ in range(10):
        try:
            socks.append(connect(d.port))
        except OSError:
            pass
    time.sleep(2.0)
    cpu = d.cpu_s() - cpu0
    wall = time.monotonic() - t0
    log = d.log_text()
    emfile_lines = log.count("accept failed")
    check("emfile: usblabd stays under 50%% of a CPU while out of descriptors (%.0f%%)" % (100 * cpu / wall),
          cpu / wall < 0.5)
    check("emfile: the failure is logged, a few times at most (%d lines)" % emfile_lines, 1 <= emfile_lines <= 10)
    figure("emfile: 10 connections beyond the fd limit for %.1f s: %.2f s CPU, %d log lines" % (wall, cpu, emfile_lines))
    for s in socks:
        s.close()
    resource.prlimit(d.pid, resource.RLIMIT_NOFILE, (soft, hard))
    time.sleep(DEADLINE_S + 1)
    why = good_round_trip(d.port)
    check("emfile: clients are served again once descriptors are back", why is None, why or "")


def cli_checks(tmp):
    def run(args, preexec=None):
        p = subprocess.run([USBLABD] + BENCH_OFF + args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=child_env(), preexec_fn=preexec, timeout=20)
        return p.returncode, p.stdout.decode(errors="replace")

    rc, out = run(["--listen", "127.0.0.1:notaport", "--virtual", "cdc"])
    check("cli: a malformed --listen exits 2 (%d)" % rc, rc == 2, out.strip())
    rc, out = run(["--listen", "127.0.0.1:0", "--virtual", "nosuchdevice"])
    check("cli: a bad --virtual exits 2 (%d)" % rc, rc == 2, out.strip())

    def low_fds():
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))

    rc, out = run(["--listen", "127.0.0.1:0", "--virtual", "cdc", "--max-clients", "1000"], low_fds)
    check("cli: --max-clients above the fd limit exits 2 with the limit named (%d)" % rc,
          rc == 2 and "256" in out, out.strip())
    rc, out = run(["--listen", "127.0.0.1:0", "--virtual", ",".join(["cdc"] * 65)])
    check("cli: a 65th virtual device exits 2 (%d)" % rc, rc == 2, out.strip()[-200:])

    image = os.path.join(tmp, "ro.img")
    with open(image, "wb") as f:
        f.truncate(1 << 20)
    os.chmod(image, 0o444)
    os.chmod(tmp, 0o755)

    def unprivileged():
        # root may write a 0444 file: run as nobody so that it is read-only.
        if os.geteuid() == 0:
            os.setgid(65534)
            os.setuid(65534)

    p1, p2 = free_port(), free_port()
    log = os.path.join(tmp, "cli.log")
    with open(log, "w") as lf:
        # IPv4 and IPv6 loopback together, the case a second --listen
        # used to replace the first in.
        p = subprocess.Popen([USBLABD] + BENCH_OFF + ["--listen", "127.0.0.1:%d" % p1, "--listen", "[::1]:%d" % p2,
                              "--virtual", ",".join(["cdc"] * 63), "--virtual", "msc:" + image],
                             stdout=lf, stderr=subprocess.STDOUT, env=child_env(), preexec_fn=unprivileged)
        try:
            lists = None
            for _ in range(500):
                try:
                    lists = (devlist(p1), devlist(p2, host="::1"))
                    break
                except OSError:
                    time.sleep(0.02)
        finally:
            p.terminate()
            p.wait(10)
    with open(log) as f:
        text = f.read()
    check("cli: --listen 127.0.0.1 and --listen [::1] are both served", lists is not None and len(lists[0]) == len(lists[1]) > 0)
    check("cli: two --virtual lists add up to 64 devices", lists is not None and len(lists[0]) == 64,
          "devlist: %d" % (len(lists[0]) if lists else -1))
    check("cli: a read-only image is logged as write-protected", "write-protected" in text)
    os.chmod(image, 0o644)


def main():
    if not USBLABD:
        print("Bail out! set USBLABD or pass the daemon's path")
        return 1
    tmp = tempfile.mkdtemp(prefix="usblab-abuse-")
    t_start = time.monotonic()
    d = Daemon(["--virtual", VIRT, "--deadline", str(DEADLINE_S), "--max-urb-mib", str(BUDGET_MIB),
                "--max-conn-mib", str(SHARE_MIB), "--max-op-clients", str(OP_CAP),
                "--max-per-source", str(PER_SOURCE)],
               os.path.join(tmp, "usblabd.log"))
    try:
        why = good_round_trip(d.port)
        check("start: the well-behaved client is served", why is None, why or "")
        # Warm-up: the steady state of a daemon that has served clients
        # (descriptor tables sized, allocator pools made) is the start.
        warm = [connect(d.port) for _ in range(OP_CAP)]
        for s in warm:
            s.close()
        hog, _ = cdc_hog(d, "0-4", seconds=0.3)
        hog.close(reset=True)
        time.sleep(1.5)
        steady = SteadyClient(d.port)
        steady.start()
        time.sleep(0.2)
        start_kib, start_fds = d.rss_kib(), d.nfds()
        figure("start: RSS %d KiB, %d fds (the steady client connected)" % (start_kib, start_fds))
        # First: import refusals are rate-limited like any repeatable event,
        # and the scenarios below retry imports while devices drain.
        scenario_refusals(d)
        scenario_idle(d)
        scenario_imported_kept(d)
        scenario_per_source(d)
        peak = scenario_memory(d, start_kib)
        scenario_slow_out(d)
        scenario_log_flood(d)
        scenario_emfile(d, start_fds)
        steady.stop.set()
        steady.join(20)
        check("steady: the client imported throughout had every round trip answered (%d)" % steady.ok,
              not steady.failures and steady.ok > 50, "; ".join(steady.failures[:3]))
        figure("steady: %d round trips over the run, slowest %.0f ms" % (steady.ok, steady.worst * 1000))
        time.sleep(0.5)
        fds = d.nfds()
        check("end: fd count back to start (%d vs %d)" % (fds, start_fds), fds == start_fds)
        rss = settle(d, start_kib)
        check("end: RSS within 10%% of start (%d vs %d KiB)" % (rss, start_kib), rss <= start_kib * 1.10)
        figure("end: RSS %d KiB (start %d, peak seen %d), fds %d (start %d)" % (rss, start_kib, peak, fds, start_fds))
        hwm = d.rss_kib("VmHWM:")
        figure("end: peak RSS over the whole run (VmHWM) %d KiB: start %+.1f MiB (budget %d MiB)" % (
            hwm, (hwm - start_kib) / 1024, BUDGET_MIB))
        check("end: peak RSS over the whole run within start + budget + 10%% (%d KiB)" % hwm,
              hwm <= start_kib + BUDGET_MIB * 1024 * 1.1)
        check("end: usblabd is still running", d.alive())
    finally:
        rc = d.stop()
    check("end: usblabd exits 0 on SIGTERM (%s)" % rc, rc == 0)
    cli_checks(tmp)
    figure("suite ran in %.1f s" % (time.monotonic() - t_start))
    rc = TAP.done()
    if rc:
        print("# daemon log: %s" % os.path.join(tmp, "usblabd.log"))
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
