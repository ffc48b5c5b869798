#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_http.py USBLABD - the HTTP API of a real usblabd.

Every /api path with good and bad requests, each response checked against
docs/openapi.yaml (python3-jsonschema); the SSE stream (filters, the event
JSON, a client that leaves); /metrics against the API's own numbers; the
embedded files; and the security model: Host and Origin checks, JSON-only
POSTs, tokens for changes on loopback, tokens for everything elsewhere, and
a remote address refused without a token file; a stream nobody reads is
dropped at its bound. Prints TAP.
"""
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import struct
import tempfile
import threading
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import Daemon, OpenAPI, Tap, UrbClient  # noqa: E402

TOKEN = "k3y-for-the-bench-0123456789"


def metrics(d):
    st, hd, text = d.http("GET", "/metrics")
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return st, hd, out


class Stream:
    """A raw GET /api/events/stream: headers, then SSE messages."""

    def __init__(self, d, query=""):
        self.s = socket.create_connection(("127.0.0.1", d.http_port), timeout=5)
        self.s.sendall(f"GET /api/events/stream{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                       .encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            c = self.s.recv(4096)
            if not c:
                break
            self.buf += c
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        self.head = head.decode()

    def message(self, timeout=5):
        """The next SSE message's data as JSON (chunk framing skipped)."""
        end = time.time() + timeout
        while time.time() < end:
            for line in self.buf.split(b"\n"):
                if line.startswith(b"data: "):
                    self.buf = self.buf[self.buf.index(line) + len(line):]
                    return json.loads(line[6:])
            try:
                c = self.s.recv(4096)
            except socket.timeout:
                continue
            if not c:
                return None
            self.buf += c
        return None

    def close(self):
        self.s.close()


def spec_tests(tap, spec):
    """openapi.yaml itself: every $ref resolves, every operation answers."""
    bad = []

    def walk(node, where):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                cur = spec.spec
                for part in ref.lstrip("#/").split("/"):
                    cur = cur.get(part) if isinstance(cur, dict) else None
                if cur is None:
                    bad.append(f"{where}: {ref}")
            for k, v in node.items():
                walk(v, f"{where}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}/{i}")

    walk(spec.spec, "")
    for path, ops in spec.spec["paths"].items():
        for m, op in ops.items():
            if not op.get("responses"):
                bad.append(f"{m} {path}: no responses")
    tap.check(spec.spec.get("openapi", "").startswith("3.") and not bad,
              "openapi.yaml: OpenAPI 3, every $ref resolves, every operation has responses", bad)


def api_tests(tap, d, spec):
    def call(method, path, template, body=None, headers=None, want=200):
        st, hd, got = d.http(method, path, body, headers)
        why = spec.check(template, method, st, got)
        tap.check(st == want and why is None, f"{method} {path} -> {want}",
                  f"status {st}: {why or got}")
        return got

    call("GET", "/api/status", "/api/status")
    boards = call("GET", "/api/boards", "/api/boards")
    tap.check(len(boards.get("boards", [])) == 4, "4 boards listed", boards)
    info = call("GET", "/api/boards/cd", "/api/boards/{name}")
    tap.check(info.get("board", {}).get("name") == "cdc" and info.get("history") is True,
              "a name resolves as in the control API (cd -> cdc) with history", info)
    info = call("GET", "/api/boards/%5Eh", "/api/boards/{name}")
    tap.check(info.get("board", {}).get("name") == "hid", "a URL-encoded regex (^h) finds hid")
    err = call("GET", "/api/boards/nope", "/api/boards/{name}", want=404)
    tap.check(err["error"]["code"] == "unknown_board" and "cdc" in err["error"]["candidates"],
              "unknown_board lists candidates", err)

    grant = call("POST", "/api/boards/cdc/checkout", "/api/boards/{name}/checkout",
                 {"duration": 60, "reason": "http test"})
    tap.check(grant.get("holder") == "http@127.0.0.1" and grant.get("seconds_left") == 60,
              "the holder of an HTTP lease is http@ADDR", grant)
    r = d.control("checkout", {"name": "hid", "duration": 60})
    err = call("POST", "/api/boards/hid/checkout", "/api/boards/{name}/checkout", {}, want=409)
    tap.check(err["error"]["code"] == "leased" and err["error"]["holder"] ==
              r["result"]["holder"], "a board leased on the socket is leased over HTTP", err)
    err = call("POST", "/api/boards/hid/checkin", "/api/boards/{name}/checkin", {}, want=403)
    tap.check(err["error"]["code"] == "not_holder", "someone else's lease: not_holder", err)
    renew = call("POST", "/api/boards/cdc/renew", "/api/boards/{name}/renew", {"duration": 120})
    tap.check(renew.get("token") == grant.get("token") and renew.get("seconds_left") == 120,
              "renew keeps the token and extends", renew)
    locks = call("GET", "/api/locks", "/api/locks")
    tap.check(sorted(l["name"] for l in locks.get("locks", [])) == ["cdc", "hid"],
              "locks lists both leases", locks)
    evs = call("GET", "/api/events?device=cdc&kind=lease-taken&limit=5", "/api/events")
    tap.check(len(evs.get("events", [])) == 1 and
              all(e["board"] == "cdc" and e["kind"] == "lease-taken" for e in evs["events"]),
              "events filters by device and kind", evs)
    err = call("GET", "/api/events?kind=nope", "/api/events", want=400)
    tap.check(err["error"]["code"] == "bad_request" and "lease-taken" in err["error"]["message"],
              "an unknown kind is bad_request naming the kinds", err)
    call("GET", "/api/events?limit=0", "/api/events", want=400)
    call("GET", "/api/events?since=yesterday", "/api/events", want=400)
    rel = call("POST", "/api/boards/cdc/checkin", "/api/boards/{name}/checkin", {})
    tap.check(rel.get("released") is True and rel.get("forced") is False, "checkin releases", rel)
    err = call("POST", "/api/boards/cdc/checkin", "/api/boards/{name}/checkin", {}, want=409)
    tap.check(err["error"]["code"] == "not_leased", "a second checkin: not_leased", err)
    got = call("POST", "/api/checkout", "/api/checkout", {"any": "^(hid|msc)$", "duration": 30})
    tap.check(got.get("name") == "msc", "checkout by pattern takes the free one (msc)", got)
    call("POST", "/api/boards/msc/checkin", "/api/boards/{name}/checkin", {})
    call("POST", "/api/checkout", "/api/checkout", {"any": "(", "name": "x"}, want=400)
    call("POST", "/api/reload", "/api/reload", {})
    # power (issue 15): the route exists; a bad action is the method's bad_request.
    err = call("POST", "/api/boards/cdc/power", "/api/boards/{name}/power", {"action": "zap"},
               want=400)
    tap.check(err["error"]["code"] == "bad_request" and "action" in err["error"]["message"],
              "power with a bad action: bad_request", err)

    # The board verbs whose methods other modules own: each path reaches the
    # API (a build without the method answers unknown_method, never the
    # transport's not_found), and whatever comes back is as documented.
    for verb, body in [("power", {"action": "cycle"}), ("probe", {}), ("bootloader", {}),
                       ("boot", {}), ("unplug", {}), ("replug", {})]:
        st, _, got = d.http("POST", f"/api/boards/esp-a/{verb}", body)
        why = spec.check(f"/api/boards/{{name}}/{verb}", "post", st, got)
        code = got.get("error", {}).get("code") if isinstance(got, dict) else None
        print(f"# POST /api/boards/esp-a/{verb}: {st} {code or ''}")
        tap.check(why is None and code != "not_found" and (st == 200) == (code is None),
                  f"POST /api/boards/NAME/{verb} reaches the API's method {verb}",
                  f"status {st}: {why or got}")
    st, hd, got = d.http("GET", "/api/boards/esp-a/power")
    tap.check(st == 405 and hd.get("allow") == "POST", "GET on power is 405 (Allow: POST)", got)

    # The transport's own errors.
    st, _, got = d.http("GET", "/api/nope")
    tap.check(st == 404 and got["error"]["code"] == "not_found", "an unknown path is 404", got)
    st, hd, got = d.http("DELETE", "/api/boards")
    tap.check(st == 405 and hd.get("allow") == "GET" and
              got["error"]["code"] == "method_not_allowed", "DELETE /api/boards is 405", got)
    st, hd, got = d.http("GET", "/api/boards/cdc/checkout")
    tap.check(st == 405 and hd.get("allow") == "POST", "GET on a verb is 405 (Allow: POST)", got)
    st, _, got = d.http("POST", "/api/boards/cdc/checkout", "{nope",
                        {"Content-Type": "application/json"})
    tap.check(st == 400 and "not JSON" in got["error"]["message"], "a body that is not JSON: 400")
    st, _, got = d.http("POST", "/api/boards/cdc/checkout", "[1]")
    tap.check(st == 400 and got["error"]["code"] == "bad_request", "a body that is an array: 400")
    st, _, got = d.http("POST", "/api/boards/cdc/checkout", '{"duration": 0}')
    tap.check(st == 400 and "duration" in got["error"]["message"],
              "the API's own range check answers (duration 0)", got)
    st, _, got = d.http("POST", "/api/boards/cdc/checkout", b"x" * 70000,
                        {"Content-Type": "application/json"}, raw=True)
    tap.check(st == 413, "a body over 64 KiB is refused (413)", st)


def security_tests(tap, d, spec):
    st, _, got = d.http("POST", "/api/boards/cdc/checkout", "duration=5",
                        {"Content-Type": "application/x-www-form-urlencoded"})
    tap.check(st == 415 and spec.check("/api/boards/{name}/checkout", "post", st, got) is None,
              "a form POST (what another site can send) is refused: 415", got)
    st, _, got = d.http("POST", "/api/boards/cdc/checkout", {},
                        {"Origin": "http://evil.example"})
    tap.check(st == 403 and got["error"]["code"] == "forbidden", "a cross-origin POST: 403", got)
    st, _, got = d.http("GET", "/api/boards", headers={"Host": "evil.example:3241"})
    tap.check(st == 403 and got["error"]["code"] == "forbidden",
              "a foreign Host on loopback (DNS rebinding): 403", got)
    st, _, got = d.http("GET", "/api/boards", headers={"Host": f"localhost:{d.http_port}"})
    tap.check(st == 200, "Host localhost:PORT is accepted", got)
    st, _, got = d.http("POST", "/api/boards/cdc/checkout", {"duration": 5},
                        {"Origin": f"http://127.0.0.1:{d.http_port}",
                         "Host": f"127.0.0.1:{d.http_port}"})
    tap.check(st == 200, "a same-origin POST is accepted", got)
    d.http("POST", "/api/boards/cdc/checkin", {})


def stream_tests(tap, d, spec):
    s = Stream(d, "?device=msc")
    tap.check(" 200 " in s.head.split("\r\n")[0] and
              "content-type: text/event-stream" in s.head.lower(),
              "the stream answers 200 text/event-stream", s.head)
    _, _, m = metrics(d)
    tap.check(m.get("usblab_http_streams") == 1, "metrics count the open stream", m)
    d.control("checkout", {"name": "cdc", "duration": 30})
    d.control("checkout", {"name": "msc", "duration": 30})
    ev = s.message()
    tap.check(ev is not None and ev["board"] == "msc" and ev["kind"] == "lease-taken" and
              "lease" in ev, "the first event through ?device=msc is msc's lease-taken", ev)
    why = spec.check_schema("Event", ev) if ev else "no event"
    tap.check(why is None, "a streamed event validates against the Event schema", why)
    s.close()
    spec.check("/api/events/stream", "get", 200, "", "text/event-stream")
    ok = False
    for _ in range(40):
        _, _, m = metrics(d)
        if m.get("usblab_http_streams") == 0:
            ok = True
            break
        d.control("renew", {"name": "msc", "duration": 30})  # writes find the closed socket
        time.sleep(0.05)
    tap.check(ok, "a stream whose client left is freed", m)
    d.control("checkin", {"name": "cdc"})
    d.control("checkin", {"name": "msc"})


def metrics_tests(tap, d):
    st, hd, m = metrics(d)
    tap.check(st == 200 and hd.get("content-type", "").startswith("text/plain; version=0.0.4"),
              "/metrics is Prometheus text", hd)
    locks = d.control("locks")["result"]["locks"]
    status = d.control("status")["result"]
    tap.check(m.get('usblab_boards{state="exported"}') == 3 and
              m.get('usblab_boards{state="absent"}') == 1 and
              m.get('usblab_board_state{board="esp-a",state="absent"}') == 1,
              "boards by state and per board", m)
    tap.check(m.get("usblab_leases") == len(locks) and
              m.get("usblab_usbip_clients") == status["clients"] and
              m.get("usblab_exports") == 3 and m.get("usblab_imports") == 0,
              "leases, clients, exports, imports agree with the API", m)
    d.control("checkin", {"name": "hid"})  # leased since api_tests
    st, sock = d.op_import("hid")
    for _ in range(40):
        _, _, m2 = metrics(d)
        if m2.get("usblab_imports") == 1:
            break
        time.sleep(0.05)
    print(f"# imports {m2.get('usblab_imports')} clients {m2.get('usblab_usbip_clients')}")
    tap.check(st == 0 and m2.get("usblab_imports") == 1 and m2.get("usblab_usbip_clients") == 1,
              "an import shows in usblab_imports and usblab_usbip_clients", m2)
    sock.close()
    evs = d.http("GET", "/api/events?kind=lease-taken&limit=10000")[2]["events"]
    tap.check(m.get('usblab_events_total{kind="lease-taken"}') == len(evs) and
              m.get('usblab_events_total{kind="exported"}') == 3,
              "events_total by kind matches the store's history", m)
    d.control("checkout", {"name": "msc", "duration": 90, "tag": "metrics"})
    holder = d.control("locks")["result"]["locks"]
    holder = next(l["holder"] for l in holder if l["name"] == "msc")
    _, _, m3 = metrics(d)
    left = m3.get(f'usblab_lease_seconds_left{{board="msc",holder="{holder}"}}')
    tap.check(left is not None and 85 <= left <= 90, "usblab_lease_seconds_left per lease", m3)
    d.control("checkin", {"name": "msc", "tag": "metrics"})


def export_metrics_tests(tap, d):
    """URBs and bytes per export: the core's counters, as /metrics shows them."""
    def val(m, name, direction):
        return m.get(f'{name}{{board="cdc",busid="0-1",direction="{direction}"}}')

    _, _, m0 = metrics(d)
    tap.check(val(m0, "usblab_export_urbs_total", "in") is not None and
              m0.get('usblab_export_urbs_total{board="msc",busid="0-3",direction="out"}')
              is not None, "/metrics has URB counters for every export", m0)
    d.control("checkin", {"name": "cdc", "force": True})
    c = UrbClient(d.port, "cdc")
    try:
        tap.check(c.status == 0, "a raw client imports cdc", c.status)
        st_cfg = c.urb(0, False, 0, struct.pack("<BBHHH", 0x00, 9, 1, 0, 0))[0]
        st_dd, n_dd, dd = c.urb(0, True, 18, struct.pack("<BBHHH", 0x80, 6, 0x0100, 0, 18))
        st_out, n_out, _ = c.urb(2, False, 5, data=b"hello")
        st_in, n_in, echo = c.urb(2, True, 64)
        # An unknown vendor request: the virtual device stalls it.
        st_bad = c.urb(0, True, 4, struct.pack("<BBHHH", 0xC0, 0x77, 0, 0, 4))[0]
        print(f"# statuses {st_cfg} {st_dd} {st_out} {st_in} {st_bad}; lengths {n_dd} {n_out} "
              f"{n_in}")
        tap.check(st_cfg == 0 and st_dd == 0 and n_dd == 18 and dd[1] == 1 and st_out == 0 and
                  n_out == 5 and st_in == 0 and echo == b"hello" and st_bad != 0,
                  "the URBs ran: SET_CONFIGURATION, GET_DESCRIPTOR, bulk OUT, its echo, a stall",
                  (st_cfg, st_dd, n_dd, st_out, n_out, st_in, echo, st_bad))
        _, _, m = metrics(d)
        urbs_in = val(m, "usblab_export_urbs_total", "in") - val(m0, "usblab_export_urbs_total", "in")
        urbs_out = (val(m, "usblab_export_urbs_total", "out") -
                    val(m0, "usblab_export_urbs_total", "out"))
        bytes_in = (val(m, "usblab_export_bytes_total", "in") -
                    val(m0, "usblab_export_bytes_total", "in"))
        bytes_out = (val(m, "usblab_export_bytes_total", "out") -
                     val(m0, "usblab_export_bytes_total", "out"))
        errs_in = (val(m, "usblab_export_urb_errors_total", "in") -
                   val(m0, "usblab_export_urb_errors_total", "in"))
        tap.check(urbs_in == 3 and urbs_out == 2 and bytes_in == 18 + 5 and bytes_out == 5,
                  "URBs and bytes per export and direction count exactly what moved",
                  (urbs_in, urbs_out, bytes_in, bytes_out))
        tap.check(errs_in == 1 and m.get('usblab_errors_total{kind="urb"}', 0) >= 1,
                  "the stalled URB counts as an error, per export and by kind", (errs_in, m))
    finally:
        c.close()
    # A counter never goes down: the board whose URB failed leaves (the
    # virtual unplug), and errors_total{kind="urb"} keeps its error.
    urb_errs = metrics(d)[2].get('usblab_errors_total{kind="urb"}', 0)
    st_un, _, got_un = d.http("POST", "/api/boards/cdc/unplug", {})
    gone = None
    for _ in range(100):
        gone = metrics(d)[2]
        if gone.get('usblab_export_urbs_total{board="cdc",busid="0-1",direction="in"}') is None:
            break
        time.sleep(0.05)
    tap.check(st_un == 200 and
              gone.get('usblab_export_urbs_total{board="cdc",busid="0-1",direction="in"}') is None
              and gone.get('usblab_errors_total{kind="urb"}', 0) >= urb_errs >= 1,
              "errors_total{kind=\"urb\"} keeps the errors of a board that left",
              (st_un, got_un, urb_errs, gone.get('usblab_errors_total{kind="urb"}')))
    st_re, _, got_re = d.http("POST", "/api/boards/cdc/replug", {})
    back = None
    for _ in range(100):
        back = metrics(d)[2]
        if back.get('usblab_export_urbs_total{board="cdc",busid="0-1",direction="in"}') is not None:
            break
        time.sleep(0.05)
    tap.check(st_re == 200 and
              back.get('usblab_export_urbs_total{board="cdc",busid="0-1",direction="in"}')
              is not None, "cdc is exported again after the virtual replug", (st_re, got_re))
    st, sock = d.op_import("no-such-board")
    sock.close()
    _, _, m = metrics(d)
    tap.check(st != 0 and m.get('usblab_errors_total{kind="import_refused"}', 0) >
              m0.get('usblab_errors_total{kind="import_refused"}', 0),
              "a refused import counts in errors_total by kind", (st, m))
    pending = None
    for _ in range(100):  # the store's worker commits in the background
        m = metrics(d)[2]
        pending = m.get("usblab_store_pending_events")
        if pending == 0:
            break
        time.sleep(0.05)
    tap.check(pending == 0 and m.get("usblab_store_oldest_pending_seconds") == 0,
              "the event-store lag comes back to 0 once the store has committed", m)


def store_lag_tests(tap, exe):
    """Without a store nothing waits: the lag gauges stay 0 through events."""
    d = Daemon(exe, extra=["--db", "none"])
    try:
        ok = d.wait_ready()
        d.control("checkout", {"name": "hid", "duration": 60})
        m = metrics(d)[2]
        tap.check(ok and m.get("usblab_store_enabled") == 0 and
                  m.get("usblab_store_pending_events") == 0 and
                  m.get('usblab_events_total{kind="lease-taken"}') == 1,
                  "--db none: events are counted, none waits for a store", m)
    finally:
        d.stop()
        d.cleanup()


def static_tests(tap, d, spec):
    st, hd, body = d.http("GET", "/")
    tap.check(st == 200 and hd.get("content-type", "").startswith("text/html") and
              "default-src 'self'" in hd.get("content-security-policy", "") and
              '<script src="/app.js"' in body, "/ is the dashboard, with a CSP", hd)
    for path, ctype in (("/app.js", "text/javascript"), ("/style.css", "text/css")):
        st, hd, body = d.http("GET", path)
        tap.check(st == 200 and hd.get("content-type", "").startswith(ctype) and len(body) > 100,
                  f"{path} is served as {ctype}", hd)
    st, _, body = d.http("GET", "/favicon.ico")
    tap.check(st == 404, "an unknown file is 404", st)
    d.http("GET", "/index.html")


def token_file(tmpdir, text):
    path = os.path.join(tmpdir, "tokens")
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return path


def token_tests(tap, exe, spec):
    tmp = tempfile.mkdtemp(prefix="usblab-tokens-")
    path = token_file(tmp, f"# bench tokens\n{TOKEN} ann\n")
    d = Daemon(exe, ["--http-token-file", path], spec=spec)
    try:
        tap.check(d.wait_ready(), "usblabd starts with a token file on loopback")
        st, _, got = d.http("GET", "/api/boards")
        tap.check(st == 200, "loopback with a token: reads need none", got)
        st, hd, got = d.http("POST", "/api/boards/cdc/checkout", {})
        tap.check(st == 401 and hd.get("www-authenticate", "").startswith("Bearer") and
                  spec.check("/api/boards/{name}/checkout", "post", st, got) is None,
                  "loopback with a token: a change without it is 401", got)
        st, _, got = d.http("POST", "/api/boards/cdc/checkout", {},
                            {"Authorization": "Bearer wrong-token-0123456789"})
        tap.check(st == 401, "a wrong token is 401", got)
        st, _, got = d.http("POST", "/api/boards/cdc/checkout", {},
                            {"Authorization": "Bearer " + TOKEN})
        tap.check(st == 200 and got.get("holder") == "ann@127.0.0.1",
                  "with the token, the holder is LABEL@ADDR", got)
        tap.check(not d.off_spec, "token daemon: every response matched openapi.yaml",
                  d.off_spec)
    finally:
        d.stop()
        d.cleanup()

    d = Daemon(exe, http_host="0.0.0.0")
    rc = d.proc.wait(15)
    tap.check(rc != 0 and "--http-token-file" in d.log_text(),
              "a non-loopback --http without a token file refuses to start", d.log_text()[-300:])
    path = token_file(tmp, f"{TOKEN}\n")
    d.cleanup()
    d = Daemon(exe, ["--http-token-file", path], http_host="0.0.0.0", spec=spec)
    try:
        auth = {"Authorization": "Bearer " + TOKEN}
        ok = d.wait_ready(headers=auth)
        tap.check(ok, "remote mode answers a request with the token", d.log_text()[-400:])
        st, _, got = d.http("GET", "/api/boards")
        tap.check(st == 401, "remote mode: a read without the token is 401", got)
        st, _, got = d.http("GET", "/metrics")
        tap.check(st == 401, "remote mode: /metrics needs the token too", got)
        st, _, got = d.http("GET", "/")
        tap.check(st == 200, "remote mode: the page itself loads (it holds no data)")
        st, _, got = d.http("POST", "/api/boards/msc/checkout", {}, auth)
        tap.check(st == 200 and got.get("holder") == "http@127.0.0.1",
                  "remote mode: the default label is http", got)
        tap.check(not d.off_spec, "remote daemon: every response matched openapi.yaml",
                  d.off_spec)
    finally:
        d.stop()
        d.cleanup()

    d = Daemon(exe, ["--http", "none"])
    try:
        status = d.wait_control()
        tap.check(d.proc.poll() is None and status is not None, "--http none: the daemon runs")
        try:
            d.http("GET", "/api/status")
            refused = False
        except OSError:
            refused = True
        tap.check(refused, "--http none: nothing listens on the HTTP port")
    finally:
        d.stop()
        d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


def busy_port_tests(tap, exe):
    """The default port is a convenience: when it is busy the daemon runs
    without HTTP and says so; a busy port given with --http is an error."""
    hold = socket.socket()
    held = False
    for _ in range(20):
        try:
            hold.bind(("127.0.0.1", 3241))
            hold.listen(1)
            held = True
            break
        except OSError:
            time.sleep(0.1)  # another test's daemon has it: wait for it to go
    try:
        d = Daemon(exe, http_host=None)
        try:
            status = d.wait_control()
            tap.check(status is not None and (not held or "no HTTP API" in d.log_text()),
                      "the default port busy: the daemon runs without HTTP and says so",
                      d.log_text()[-300:])
        finally:
            d.stop()
            d.cleanup()
        if held:
            d = Daemon(exe, ["--http", "127.0.0.1:3241"])
            try:
                rc = d.proc.wait(15)
                tap.check(rc == 1 and "3241" in d.log_text(),
                          "--http on a busy port: the daemon refuses to start",
                          d.log_text()[-300:])
            finally:
                d.cleanup()
    finally:
        hold.close()


def make_cert(tmp):
    """A self-signed certificate for localhost and 127.0.0.1: (cert, key), or
    None when openssl is missing."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
    except FileNotFoundError:
        return None
    return cert, key


def tls_tests(tap, exe, spec):
    """HTTPS with --http-cert/--http-key: requests succeed against the
    certificate, plain HTTP to the port fails without harm, bad files are
    refused at start."""
    tmp = tempfile.mkdtemp(prefix="usblab-tls-")
    try:
        files = make_cert(tmp)
        if not files:
            print("# skip TLS tests: openssl is not installed (tools/deps.sh test)")
            tap.check(True, "# SKIP TLS: no openssl command")
            return
        cert, key = files
        ctx = ssl.create_default_context(cafile=cert)
        d = Daemon(exe, ["--http-cert", cert, "--http-key", key], spec=spec, tls=ctx)
        try:
            tap.check(d.wait_ready(), "usblabd serves HTTPS with the certificate",
                      d.log_text()[-400:])
            st, hd, got = d.http("GET", "/api/status")
            tap.check(st == 200 and got.get("store") is True and "https://" in d.log_text(),
                      "GET /api/status over HTTPS, verified against the certificate", got)
            st, _, got = d.http("POST", "/api/boards/hid/checkout", {"duration": 60},
                                {"Origin": f"https://127.0.0.1:{d.http_port}"})
            tap.check(st == 200 and got.get("name") == "hid",
                      "a same-origin https:// POST passes the origin check", got)
            st, _, got = d.http("POST", "/api/boards/hid/checkin", {},
                                {"Origin": f"http://127.0.0.1:{d.http_port}"})
            tap.check(st == 403, "an http:// Origin is another origin on the HTTPS port", got)
            plain_failed = None
            try:
                c = http.client.HTTPConnection("127.0.0.1", d.http_port, timeout=10)
                c.request("GET", "/api/status")
                r = c.getresponse()
                plain_failed = f"answered {r.status}"
            except (OSError, http.client.HTTPException) as e:
                plain_failed = type(e).__name__
            print(f"# plain HTTP to the TLS port: {plain_failed}")
            st, _, got = d.http("GET", "/api/boards")
            tap.check(not plain_failed.startswith("answered") and st == 200 and
                      d.proc.poll() is None,
                      "plain HTTP to the TLS port fails; HTTPS is still served", plain_failed)
            raw = socket.create_connection(("127.0.0.1", d.http_port), timeout=10)
            raw.sendall(b"\x16\x03\x01\x00\x05garbage" * 8)
            raw.close()
            st, _, _ = d.http("GET", "/metrics")
            tap.check(st == 200, "a broken handshake costs nothing: /metrics over HTTPS")
            tap.check(not d.off_spec, "TLS daemon: every response matched openapi.yaml",
                      d.off_spec)
        finally:
            rc = d.stop()
            tap.check(rc == 0, "the HTTPS daemon stops cleanly", d.log_text()[-400:])
            d.cleanup()

        path = token_file(tmp, f"{TOKEN} tls\n")
        d = Daemon(exe, ["--http-cert", cert, "--http-key", key, "--http-token-file", path],
                   http_host="0.0.0.0", tls=ssl._create_unverified_context())
        try:
            auth = {"Authorization": "Bearer " + TOKEN}
            tap.check(d.wait_ready(headers=auth), "remote HTTPS answers with the token",
                      d.log_text()[-400:])
            st, _, _ = d.http("GET", "/api/boards")
            tap.check(st == 401, "remote HTTPS: a read without the token is 401")
        finally:
            d.stop()
            d.cleanup()

        cases = [
            (["--http-cert", os.path.join(tmp, "missing.pem"), "--http-key", key], 2,
             "missing.pem", "a missing certificate: exit 2 naming it"),
            (["--http-cert", cert, "--http-key", os.path.join(tmp, "nokey.pem")], 2,
             "nokey.pem", "a missing key: exit 2 naming it"),
            (["--http-cert", cert], 2, "--http-key", "a certificate without a key: exit 2"),
            (["--http-cert", key, "--http-key", key], 1, "not a usable PEM certificate",
             "a file that is not a certificate: exit 1 with the reason"),
            (["--http-cert", cert, "--http-key", cert], 1, "not a usable PEM private key",
             "a file that is not a key: exit 1 with the reason"),
        ]
        # The same with the default --http: a certificate given is not
        # dropped with a warning, as a busy default port is.
        cases.append((["--http-cert", key, "--http-key", key], 1, "not a usable PEM certificate",
                      "with the default --http, a bad certificate still stops the start"))
        for i, (extra, want, text, name) in enumerate(cases):
            d = Daemon(exe, extra, http_host=None if i == len(cases) - 1 else "127.0.0.1")
            try:
                try:
                    rc = d.proc.wait(15)
                except subprocess.TimeoutExpired:
                    rc = f"none: still running ({d.stop()})"
                tap.check(rc == want and text in d.log_text(), name,
                          f"exit {rc}: {d.log_text()[-300:]}")
            finally:
                d.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def stream_drop_test(tap, exe):
    """A stream whose client reads nothing is dropped once 1 MiB waits in
    usblabd (HTTP_STREAM_MAX_OUT), and the daemon goes on serving."""
    d = Daemon(exe, ["--db", "none"])
    try:
        tap.check(d.wait_ready(), "usblabd without a store starts")
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(("127.0.0.1", d.http_port))
        s.sendall(b"GET /api/events/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        time.sleep(0.2)
        c = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        c.connect(d.sock)
        replies = []

        def reader():
            try:
                for line in c.makefile("rb"):
                    replies.append(line)
            except OSError:
                pass

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        dropped = False
        sent = 0
        for _ in range(60):
            batch = "".join(json.dumps({"id": i, "method": m, "params": {"name": "cdc"}}) + "\n"
                            for i in range(200) for m in ("checkout", "checkin"))
            c.sendall(batch.encode())
            sent += 400
            time.sleep(0.05)
            if "does not read its event stream" in d.log_text():
                dropped = True
                break
        m = metrics(d)[2]
        print(f"# dropped after about {sent} events", flush=True)
        tap.check(dropped and m.get("usblab_http_streams_dropped_total") == 1 and
                  m.get("usblab_http_streams") == 0,
                  "a stream that is not read is dropped past its bound", m)
        st = d.http("GET", "/api/status")[0]
        tap.check(st == 200, "and the daemon goes on serving")
        s.close()
        c.close()
    finally:
        d.stop()
        d.cleanup()


def main():
    exe = sys.argv[1]
    tap = Tap()
    spec = OpenAPI()
    spec_tests(tap, spec)
    d = Daemon(exe, spec=spec)
    try:
        if not tap.check(d.wait_ready(), "usblabd serves the virtual boards over HTTP",
                         d.log_text()[-500:]):
            return tap.done()
        api_tests(tap, d, spec)
        security_tests(tap, d, spec)
        stream_tests(tap, d, spec)
        metrics_tests(tap, d)
        export_metrics_tests(tap, d)
        static_tests(tap, d, spec)
        missing = [(p, m) for p, ops in spec.spec["paths"].items() for m in ops
                   if (p, m) not in spec.seen]
        tap.check(not missing, "every path of openapi.yaml was answered as documented",
                  missing)
        print(f"# {len(d.seen_responses)} responses checked against openapi.yaml", flush=True)
        tap.check(not d.off_spec and len(d.seen_responses) > 40,
                  "every response matched openapi.yaml", d.off_spec)
    finally:
        rc = d.stop()
        tap.check(rc == 0, "usblabd stops cleanly (ASan/UBSan quiet)",
                  f"exit {rc}: " + d.log_text()[-800:])
        d.cleanup()
    token_tests(tap, exe, spec)
    busy_port_tests(tap, exe)
    stream_drop_test(tap, exe)
    store_lag_tests(tap, exe)
    tls_tests(tap, exe, spec)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
