#!/usr/bin/env python3
"""Golden tests of the usblab CLI against a real usblabd.

Starts `usblabd --virtual cdc,hid,msc` in temporary XDG directories, with a
devices.conf naming the virtual boards by their serials (and one absent
board), then runs every command, human and --json, and every error path,
comparing with tests/cli/golden/*.txt (times, tokens and spans normalised)
and checking the JSON structurally (keys and types, tests/cli/golden/*.json).
Ends with 50 concurrent checkouts of one board from 50 processes: exactly
one must win.

Prints TAP (`ok N - name`); tests/tap_results.py counts each line.
Environment: USBLABD, USBLAB (the two programs). USBLAB_GOLDEN_UPDATE=1
rewrites the golden files from this run (then read the diff).
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
from usblabtest import VIRTUAL_BOARDS_CONF, Tap, Usblabd, free_port, skip_all  # noqa: E402

GOLDEN = os.path.join(HERE, "golden")
UPDATE = os.environ.get("USBLAB_GOLDEN_UPDATE") == "1"

DEVICES_CONF = VIRTUAL_BOARDS_CONF + """
# never plugged in: listed as absent
[esp-a]
serial = 3C6105AABBCC
type = esp32
chip = ESP32-S3
export = no
"""

BAD_CONF = DEVICES_CONF + "\nthis line is not KEY = VALUE\n"

TAP = Tap()


def tap(ok, name, why=""):
    TAP.check(ok, name, why)


# ---- normalising ----------------------------------------------------------

ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# A token where the CLI prints one (not any word that looks like one:
# "reenumerated"): 12 of [a-km-np-z2-9].
TOKEN = re.compile(r"(token: |#|\"token\": \")([a-km-np-z2-9]{12})\b")
SPAN = re.compile(r"\b\d+[dhms]( \d+[hm])?\b")
PID = re.compile(r"\(pid \d+\)")


def normalise(text, tmp):
    """Times, tokens, spans, pids, the temp dir, the user@host: stable."""
    text = text.replace(tmp, "$TMP")
    text = text.replace(HOLDER, "USER@HOST")
    text = ISO.sub("YYYY-MM-DDTHH:MM:SS.mmmZ", text)
    text = TOKEN.sub(r"\1<token>", text)
    text = SPAN.sub("<span>", text)
    text = PID.sub("(pid N)", text)
    # Columns are checked by check_columns(); here runs of spaces are one.
    return "\n".join(re.sub(r"  +", "  ", l.rstrip()) for l in text.splitlines()) + "\n"


def skeleton(v):
    """The shape of a JSON value: keys and types, values dropped."""
    if isinstance(v, dict):
        return {k: skeleton(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        # All elements of a list share one shape; keep the first's.
        return [skeleton(v[0])] if v else []
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if v is None:
        return "null"
    return "string"


def golden_compare(name, got):
    path = os.path.join(GOLDEN, name)
    if UPDATE:
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(got)
        return True, f"(golden {name} written)"
    if not os.path.exists(path):
        return False, f"golden/{name} is missing (USBLAB_GOLDEN_UPDATE=1 writes it)\n{got}"
    with open(path, encoding="utf-8") as f:
        want = f.read()
    if want == got:
        return True, ""
    import difflib

    diff = "".join(difflib.unified_diff(want.splitlines(True), got.splitlines(True),
                                        "golden/" + name, "got"))
    return False, diff


def check_columns(out):
    """Every row of a table starts its columns where the header does."""
    lines = [l for l in out.splitlines() if l.strip()]
    if not lines:
        return False
    starts = [m.start() for m in re.finditer(r"(?:^|  )(\S)", lines[0])]
    starts = [s if s == 0 else s + 2 for s in starts]
    for l in lines[1:]:
        for s in starts[1:]:
            if len(l) <= s or l[s] == " " or l[s - 1] != " ":
                return False
    return True


# ---- running things --------------------------------------------------------


class Run:
    def __init__(self, rc, out, err):
        self.rc, self.out, self.err = rc, out, err

    def __repr__(self):
        return f"rc={self.rc}\nstdout:\n{self.out}\nstderr:\n{self.err}"


def usblab(*args, env_extra=None, timeout=60):
    env = dict(ENV)
    if env_extra:
        env.update(env_extra)
    p = subprocess.run([USBLAB, *args], capture_output=True, text=True, env=env,
                       timeout=timeout)
    return Run(p.returncode, p.stdout, p.stderr)


def expect(name, r, rc, golden=None, err_has=None, out_has=None, columns=False):
    why = []
    if r.rc != rc:
        why.append(f"exit status {r.rc}, expected {rc}")
    if err_has and err_has not in r.err:
        why.append(f"stderr lacks {err_has!r}")
    if out_has and out_has not in r.out:
        why.append(f"stdout lacks {out_has!r}")
    if rc in (1, 2, 4) and not r.err.startswith(("usblab: ", "Usage: usblab")):
        why.append("stderr does not start with 'usblab: '")
    if columns and not check_columns(r.out):
        why.append("table columns are not aligned")
    if golden:
        text = normalise(r.out + ("--- stderr\n" + r.err if r.err else ""), TMP)
        ok, diff = golden_compare(golden, text)
        if not ok:
            why.append(diff)
    tap(not why, name, "\n".join(why) + ("\n" + repr(r) if why else ""))


def expect_json(name, r, rc, golden, check=None):
    """Exit status, one JSON document on stdout, its skeleton as golden, and
    check(doc) -> error text or None."""
    why = []
    if r.rc != rc:
        why.append(f"exit status {r.rc}, expected {rc}")
    try:
        doc = json.loads(r.out)
    except ValueError as e:
        doc = None
        why.append(f"stdout is not one JSON document: {e}")
    if doc is not None:
        ok, diff = golden_compare(golden, json.dumps(skeleton(doc), indent=1, sort_keys=True) + "\n")
        if not ok:
            why.append(diff)
        if check:
            try:
                w = check(doc)
            except (KeyError, IndexError, TypeError) as e:
                w = f"unexpected shape: {e!r}: {doc}"
            if w:
                why.append(w)
    tap(not why, name, "\n".join(why) + ("\n" + repr(r) if why else ""))
    return doc


def start_daemon():
    """Starts usblabd; returns (process, None) once it answers on its socket
    with its three virtual boards present, else (process, what went wrong)."""
    p = Usblabd(USBLABD, ["--listen", f"127.0.0.1:{free_port()}", "--virtual", "cdc,hid,msc"],
                os.path.join(TMP, "usblabd.log"), env=ENV)
    answered = None
    for _ in range(200):
        if p.poll() is not None:
            return p, f"usblabd exited (status {p.poll()})"
        r = usblab("status", "--json")
        if r.rc == 0:
            answered = json.loads(r.out)
            if answered.get("present") == 3:
                return p, None
        time.sleep(0.05)
    if answered is None:
        return p, "usblabd does not answer on its control socket"
    return p, (f"usblabd answers but lists {answered.get('present')} present boards, not the "
               "3 virtual ones: are the server core's exported/imported notifications "
               "reaching the bench (bench_exported from dconn.c)?")


def stop_daemon(p, sig=signal.SIGTERM):
    return p.stop(sig)


# ---- the tests -------------------------------------------------------------


def test_usage():
    r = usblab("--help")
    expect("usblab --help", r, 0, golden="help.txt", out_has="Exit status")
    for cmd in ["status", "list", "info", "events", "checkout", "renew", "checkin", "locks",
                "reload"]:
        r = usblab(cmd, "--help")
        expect(f"usblab {cmd} --help", r, 0, out_has=f"Usage: usblab {cmd}",
               golden=f"help-{cmd}.txt")
    expect("--version", usblab("--version"), 0, out_has="usblab ")
    expect("no command: usage on stderr, status 2", usblab(), 2, err_has="Usage: usblab")
    expect("unknown command", usblab("frob"), 2, golden="usage-unknown-command.txt")
    expect("unknown option", usblab("list", "--frob"), 2, golden="usage-unknown-option.txt")
    expect("option of another command", usblab("list", "--since", "-1h"), 2,
           golden="usage-wrong-option.txt")
    expect("checkout without a name", usblab("checkout"), 2, golden="usage-checkout-noname.txt")
    expect("checkout NAME and --any", usblab("checkout", "cdc", "--any", "c"), 2)
    expect("bad duration", usblab("checkout", "cdc", "--for", "5x"), 2,
           golden="usage-bad-duration.txt")
    expect("duration over 30 days", usblab("checkout", "cdc", "--for", "31d"), 2)
    expect("--timeout without --wait", usblab("checkout", "cdc", "--timeout", "5"), 2)
    expect("info without a name", usblab("info"), 2)
    expect("extra argument", usblab("list", "cdc"), 2)
    expect("bad --limit", usblab("events", "--limit", "0"), 2)


def test_not_running():
    sock = os.path.join(TMP, "nobody", "usblabd.sock")
    r = usblab("--socket", sock, "list")
    expect("daemon not running: status 3, says how to start it", r, 3,
           err_has="usblabd --virtual cdc,hid,msc")
    tap(sock in r.err, "daemon not running: names the socket tried", r.err)
    r = usblab("list", env_extra={"USBLAB_SOCKET": sock})
    expect("daemon not running ($USBLAB_SOCKET)", r, 3, err_has="make run")


def test_queries():
    expect("list", usblab("list"), 0, golden="list.txt", columns=True)

    def list_check(doc):
        names = [b["name"] for b in doc["boards"]]
        if names != ["cdc", "esp-a", "hid", "msc"]:
            return f"boards {names}"
        cdc = doc["boards"][0]
        if cdc["state"] != "exported" or cdc["serial"] != "USBLAB-CDC-1" or cdc["busid"] != "0-1":
            return f"cdc is {cdc}"
        if doc["boards"][1]["state"] != "absent" or doc["boards"][1]["lease"] is not None:
            return "esp-a is not absent and free"
        return None

    expect_json("list --json", usblab("list", "--json"), 0, "list.json", list_check)
    expect("status", usblab("status"), 0, golden="status.txt")
    expect_json("status --json", usblab("status", "--json"), 0, "status.json",
                lambda d: None if d["store"] is True and d["present"] == 3 else f"{d}")
    expect("info cdc", usblab("info", "cdc"), 0, golden="info-cdc.txt")
    expect_json("info cdc --json", usblab("info", "cd", "--json"), 0, "info.json",
                lambda d: None if d["board"]["name"] == "cdc" and d["history"] and
                any(e["kind"] == "exported" for e in d["events"]) else f"{d}")
    expect("info of an absent board", usblab("info", "esp"), 0, golden="info-esp-a.txt")
    expect("locks (none)", usblab("locks"), 0, golden="locks-none.txt")


def test_name_errors():
    expect("unknown name: status 1, candidates", usblab("info", "zzz"), 1,
           golden="err-unknown.txt")
    expect_json("unknown name --json", usblab("info", "zzz", "--json"), 1, "err-unknown.json",
                lambda d: None if d["error"]["code"] == "unknown_board" and
                "cdc" in d["error"]["candidates"] else f"{d}")
    expect("ambiguous name: status 1, candidates", usblab("checkout", "c"), 1,
           golden="err-ambiguous.txt")
    expect_json("ambiguous --json", usblab("info", "c", "--json"), 1, "err-ambiguous.json",
                lambda d: None if d["error"]["code"] == "ambiguous" and
                d["error"]["candidates"] == ["cdc", "msc"] else f"{d}")
    expect("bad regex: status 2", usblab("info", "(x"), 2, err_has="not a valid pattern")


def test_leases():
    a = {"USBLAB_TAG": "alice"}
    b = {"USBLAB_TAG": "bob"}
    r = usblab("checkout", "cdc", "--for", "2h", "--reason", "golden test", env_extra=a)
    expect("checkout", r, 0, golden="checkout.txt")
    r = usblab("checkout", "cdc", env_extra=b)
    expect("checkout of a board leased by another: status 1", r, 1, golden="err-leased.txt")
    expect_json("leased --json", usblab("checkout", "cdc", "--json", env_extra=b), 1,
                "err-leased.json",
                lambda d: None if d["error"]["code"] == "leased" and
                d["error"]["holder"] == HOLDER + "/alice" else f"{d}")
    r = usblab("renew", "cdc", env_extra=b)
    expect("renew by another: not holder", r, 1, err_has="not by you")
    r = usblab("checkin", "cdc", env_extra=b)
    expect("checkin by another: not holder", r, 1, golden="err-not-holder.txt")
    r = usblab("checkin", "hid", env_extra=a)
    expect("checkin of a free board: not leased", r, 1, golden="err-not-leased.txt")
    expect("list with a lease", usblab("list"), 0, golden="list-leased.txt", columns=True)
    expect("locks", usblab("locks"), 0, golden="locks.txt", columns=True)
    expect_json("locks --json", usblab("locks", "--json"), 0, "locks.json",
                lambda d: None if [l["name"] for l in d["locks"]] == ["cdc"] else f"{d}")
    r = usblab("renew", "cdc", "--for", "30m", env_extra=a)
    expect("renew", r, 0, golden="renew.txt")
    expect_json("renew --json", usblab("renew", "cdc", "--json", env_extra=a), 0, "renew.json",
                lambda d: None if d["seconds_left"] in (3599, 3600) else f"{d}")

    # --wait --timeout: status 4
    t0 = time.time()
    r = usblab("checkout", "cdc", "--wait", "--timeout", "1", env_extra=b)
    expect("checkout --wait --timeout: status 4", r, 4, golden="err-timeout.txt")
    tap(0.9 < time.time() - t0 < 10, "the timeout took about 1 s", f"{time.time() - t0:.2f} s")

    # --wait is served when the holder checks in.
    env = dict(ENV)
    env.update(b)
    waiter = subprocess.Popen([USBLAB, "checkout", "cdc", "--wait", "--timeout", "20", "--json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.5)
    tap(waiter.poll() is None, "checkout --wait waits while the board is leased")
    expect("checkin", usblab("checkin", "cdc", env_extra=a), 0, golden="checkin.txt")
    out, err = waiter.communicate(timeout=20)
    expect_json("the waiter gets the board", Run(waiter.returncode, out, err), 0, "checkout.json",
                lambda d: None if d["holder"] == HOLDER + "/bob" and len(d["token"]) == 12
                else f"{d}")
    r = usblab("checkin", "cdc", "--force", env_extra=a)
    expect("checkin --force", r, 0, golden="checkin-force.txt")

    # --any: the first present, free board matching.
    r = usblab("checkout", "--any", "^(hid|msc)$", "--json", env_extra=a)
    expect_json("checkout --any", r, 0, "checkout.json",
                lambda d: None if d["name"] == "hid" else f"{d}")
    r = usblab("checkout", "--any", "^(hid|msc)$", "--json", env_extra=b)
    expect_json("checkout --any skips a leased board", r, 0, "checkout.json",
                lambda d: None if d["name"] == "msc" else f"{d}")
    r = usblab("checkout", "--any", "^(hid|msc)$", env_extra={"USBLAB_TAG": "carol"})
    expect("checkout --any when all are leased: status 1", r, 1, err_has="leased")
    r = usblab("checkout", "--any", "^esp", env_extra={"USBLAB_TAG": "carol"})
    expect("checkout --any of absent boards only: status 1", r, 1, err_has="present")
    usblab("checkin", "hid", env_extra=a)
    usblab("checkin", "msc", env_extra=b)


def test_events():
    r = usblab("events", "--device", "cdc", "--kind", "lease-taken")
    expect("events --device --kind", r, 0, golden="events-cdc-taken.txt")
    expect_json("events --json", usblab("events", "--json", "--limit", "5"), 0, "events.json",
                lambda d: None if len(d["events"]) == 5 and all(
                    ISO.fullmatch(e["time"]) for e in d["events"]) else f"{d}")
    r = usblab("events", "--since", "-1h", "--kind", "lease-released", "--json")
    expect_json("events --since", r, 0, "events.json",
                lambda d: None if d["events"] and all(
                    e["kind"] == "lease-released" for e in d["events"]) else f"{d}")
    expect("events: bad kind is bad usage", usblab("events", "--kind", "nope"), 2,
           err_has="kinds: arrived")
    expect("events: bad time is bad usage", usblab("events", "--since", "yesterday"), 2)

    env = dict(ENV)
    f = subprocess.Popen([USBLAB, "events", "--follow", "--json", "--device", "msc"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.5)
    usblab("checkout", "msc", "--reason", "follow me")
    usblab("checkout", "hid")
    usblab("checkin", "msc")
    usblab("checkin", "hid")
    time.sleep(0.5)
    f.send_signal(signal.SIGINT)
    out, _ = f.communicate(timeout=10)
    lines = [json.loads(l) for l in out.splitlines() if l.strip()]
    kinds = [(e["kind"], e["board"]) for e in lines]
    tap(kinds == [("lease-taken", "msc"), ("lease-released", "msc")],
        "events --follow --json: one event per line, filtered by device", f"{kinds}")
    tap(bool(lines) and lines[0]["detail"] == "follow me" and "token" not in lines[0]["lease"],
        "a followed lease event has its reason and no token", out)

    # The same, as a person reads it.
    f = subprocess.Popen([USBLAB, "events", "-f", "--device", "msc"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(0.5)
    usblab("checkout", "msc", "--reason", "follow me")
    usblab("checkin", "msc")
    time.sleep(0.5)
    f.send_signal(signal.SIGINT)
    out, err = f.communicate(timeout=10)
    expect("events --follow", Run(0, out, err), 0, golden="events-follow.txt")


def test_reload():
    conf = os.path.join(TMP, "config", "usblab", "devices.conf")
    with open(conf, "w") as f:
        f.write(BAD_CONF)
    r = usblab("reload")
    expect("reload of a bad registry: status 1, file:line", r, 1, err_has="devices.conf:")
    expect_json("reload --json of a bad registry", usblab("reload", "--json"), 1, "err-config.json",
                lambda d: None if d["error"]["code"] == "config" and d["error"]["line"] > 0
                and d["error"]["file"].endswith("devices.conf") else f"{d}")
    tap(usblab("info", "cdc").rc == 0, "the last good registry stays in force")
    with open(conf, "w") as f:
        f.write(DEVICES_CONF)
    expect("reload", usblab("reload"), 0, golden="reload.txt")


def test_fifty():
    """50 processes check out one board at once: exactly one wins."""
    env = dict(ENV)
    procs = []
    for i in range(50):
        e = dict(env)
        e["USBLAB_TAG"] = f"p{i}"
        procs.append(subprocess.Popen([USBLAB, "checkout", "hid", "--json"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, env=e))
    results = [(p.wait(60), p.stdout.read(), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    codes = [rc for rc, _, _ in results]
    winners = [json.loads(o) for rc, o, _ in results if rc == 0]
    leased = sum(1 for rc, o, _ in results if rc == 1 and '"leased"' in o)
    tap(codes.count(0) == 1 and codes.count(1) == 49,
        f"50 concurrent checkouts: {codes.count(0)} won, {codes.count(1)} refused",
        f"exit codes {sorted(codes)}")
    tap(leased == 49, "the 49 losers were told 'leased'", f"{leased}")
    locks = json.loads(usblab("locks", "--json").out)["locks"]
    tap(len(winners) == 1 and len(locks) == 1 and locks[0]["holder"] == winners[0]["holder"],
        "the daemon's lock is the winner's", f"{winners} {locks}")
    if winners:
        tag = winners[0]["holder"].split("/")[-1]
        expect("the winner checks in", usblab("checkin", "hid", env_extra={"USBLAB_TAG": tag}), 0)
    print(f"# 50-way checkout: {codes.count(0)} winner, {codes.count(1)} refused")


def test_durable(daemon):
    """A lease the client was told about survives kill -9 of the daemon."""
    r = usblab("checkout", "msc", "--json", env_extra={"USBLAB_TAG": "dur"})
    token = json.loads(r.out)["token"] if r.rc == 0 else None
    stop_daemon(daemon, signal.SIGKILL)
    d2, why = start_daemon()
    tap(not why, "usblabd restarts on the same socket after kill -9", why or "")
    locks = json.loads(usblab("locks", "--json").out or "{}").get("locks", []) if not why else []
    tap(token is not None and [l["name"] for l in locks] == ["msc"],
        "the lease is still there after kill -9", f"{locks}")
    return d2


def main():
    global USBLAB, USBLABD, TMP, ENV, HOLDER
    USBLAB = os.environ.get("USBLAB")
    USBLABD = os.environ.get("USBLABD")
    if not USBLAB or not USBLABD:
        skip_all("cli golden tests", "USBLAB and USBLABD must name the programs")
    with open(USBLABD, "rb") as f:
        exe = f.read()
    if b"control_listen" not in exe and b"control socket" not in exe:
        # Until src/daemon/bench.c is linked into usblabd (the integrator's
        # wiring), there is no socket to test against.
        skip_all("cli golden tests", "this usblabd has no control socket yet (bench.c not wired into usblabd)")
    # A short path: a Unix socket path has at most 107 bytes.
    TMP = tempfile.mkdtemp(prefix="ulcli-", dir="/tmp")
    ENV = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    ENV.pop("USBLAB_SOCKET", None)
    ENV.pop("USBLAB_TAG", None)
    for sub in ["config", "state", "run"]:
        os.makedirs(os.path.join(TMP, sub), mode=0o700)
    os.makedirs(os.path.join(TMP, "config", "usblab"))
    with open(os.path.join(TMP, "config", "usblab", "devices.conf"), "w") as f:
        f.write(DEVICES_CONF)
    ENV.update({"XDG_CONFIG_HOME": os.path.join(TMP, "config"),
                "XDG_STATE_HOME": os.path.join(TMP, "state"),
                "XDG_RUNTIME_DIR": os.path.join(TMP, "run"),
                "HOME": TMP})
    import getpass
    HOLDER = f"{getpass.getuser()}@{socket.gethostname()}"
    daemon = None
    try:
        test_usage()
        test_not_running()
        daemon, why = start_daemon()
        if why:
            with open(os.path.join(TMP, "usblabd.log")) as f:
                log = f.read()
            tap(False, "usblabd answers on its control socket, its boards present",
                why + "\n" + log[-2000:])
            return
        tap(True, "usblabd answers on its control socket, its boards present")
        test_queries()
        test_name_errors()
        test_leases()
        test_events()
        test_reload()
        test_fifty()
        daemon = test_durable(daemon)
        rc = stop_daemon(daemon)
        tap(rc == 0, "usblabd exits 0 on SIGTERM", f"exit {rc}")
        sock = os.path.join(TMP, "run", "usblab", "usblabd.sock")
        tap(not os.path.exists(sock), "the socket file is removed at exit")
    finally:
        if daemon is not None and daemon.poll() is None:
            stop_daemon(daemon)
        rc = TAP.done()
        if rc:
            print(f"# daemon log: {TMP}/usblabd.log")
        else:
            shutil.rmtree(TMP, ignore_errors=True)
    sys.exit(rc)


if __name__ == "__main__":
    main()
