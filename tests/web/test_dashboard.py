#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_dashboard.py USBLABD SHOTS_DIR - the dashboard in real headless Chromium.

Starts usblabd (virtual cdc, hid, msc and an absent esp-a) and Chromium,
which it drives over the DevTools protocol with a small WebSocket client
(standard library only). The page must render every board as a card, show a
lease taken through the control socket within a second without reloading,
take and end a lease with its buttons, show an import done with a raw
OP_REQ_IMPORT, filter its event timeline, and log no console error; every
API response it gets must match docs/openapi.yaml. Then, against a daemon
on 0.0.0.0 with a token file, the page must ask for the token and work with
it. The screenshots go to SHOTS_DIR. Prints TAP; fails (never skips) without
Chromium: tools/deps.sh test installs it.
"""
import base64
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from webtest import Daemon, OpenAPI, Tap, UrbClient  # noqa: E402


class WebSocket:
    """A client WebSocket (RFC 6455): text frames out, masked; frames in."""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.s = socket.create_connection((u.hostname, u.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET {u.path} HTTP/1.1\r\nHost: {u.hostname}:{u.port}\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            c = self.s.recv(1)
            if not c:
                raise OSError("websocket: closed during the handshake")
            head += c
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise OSError("websocket: " + head.split(b"\r\n")[0].decode())
        self.lock = threading.Lock()

    def _recvn(self, n):
        buf = b""
        while len(buf) < n:
            c = self.s.recv(n - len(buf))
            if not c:
                raise EOFError("websocket closed")
            buf += c
        return buf

    def _frame(self, opcode, data):
        n = len(data)
        hdr = bytes([0x80 | opcode])
        if n < 126:
            hdr += bytes([0x80 | n])
        elif n < 65536:
            hdr += bytes([0x80 | 126]) + struct.pack(">H", n)
        else:
            hdr += bytes([0x80 | 127]) + struct.pack(">Q", n)
        mask = os.urandom(4)
        with self.lock:
            self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def send(self, text):
        self._frame(1, text.encode())

    def recv(self):
        parts = []
        while True:
            b0, b1 = self._recvn(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack(">H", self._recvn(2))[0]
            elif n == 127:
                n = struct.unpack(">Q", self._recvn(8))[0]
            mask = self._recvn(4) if b1 & 0x80 else None
            data = self._recvn(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            op = b0 & 0x0F
            if op == 8:
                raise EOFError("websocket closed by the peer")
            if op == 9:
                self._frame(10, data)
                continue
            if op in (0, 1, 2):
                parts.append(data)
                if b0 & 0x80:
                    return b"".join(parts).decode()


class CDP:
    """Chrome DevTools Protocol over one page's WebSocket."""

    def __init__(self, url):
        self.ws = WebSocket(url)
        self.next_id = 0
        self.replies = {}
        self.events = []
        self.cv = threading.Condition()
        self.closed = False
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        while True:
            try:
                msg = json.loads(self.ws.recv())
            except (OSError, EOFError, ValueError):
                with self.cv:
                    self.closed = True
                    self.cv.notify_all()
                return
            with self.cv:
                if "id" in msg:
                    self.replies[msg["id"]] = msg
                else:
                    self.events.append(msg)
                self.cv.notify_all()

    def call(self, method, params=None, timeout=15):
        with self.cv:
            self.next_id += 1
            mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        end = time.time() + timeout
        with self.cv:
            while mid not in self.replies:
                if self.closed or time.time() > end:
                    raise TimeoutError(f"{method}: no reply")
                self.cv.wait(0.1)
            msg = self.replies.pop(mid)
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg["result"]

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expr}: {r['exceptionDetails'].get('text')}")
        return r["result"].get("value")

    def wait_for(self, expr, timeout):
        """Seconds until expr was truthy, or None after timeout."""
        t0 = time.time()
        while True:
            if self.eval(expr):
                return time.time() - t0
            if time.time() - t0 > timeout:
                return None
            time.sleep(0.02)

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def console_errors(self, provoked=()):
        """Every console error, but the network log lines of the error
        replies in provoked (URLs the test made fail on purpose)."""
        out = []
        with self.cv:
            evs = list(self.events)
        for e in evs:
            m, p = e.get("method"), e.get("params", {})
            if m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append("exception: " + str(d.get("exception", {}).get("description") or
                                               d.get("text")))
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console." + p["type"] + ": " +
                           " ".join(str(a.get("value", a.get("description"))) for a in p["args"]))
            elif m == "Log.entryAdded" and p["entry"]["level"] == "error" and not (
                    p["entry"].get("source") == "network" and p["entry"].get("url") in provoked):
                out.append("log: " + p["entry"]["text"] + " " + p["entry"].get("url", ""))
        return out


def start_chromium(tmp):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        return None, None, "chromium is not installed (tools/deps.sh test installs it)"
    prof = os.path.join(tmp, "profile")
    log = open(os.path.join(tmp, "chromium.log"), "wb")
    proc = subprocess.Popen([exe, "--headless=new", "--no-sandbox", "--disable-gpu",
                             "--disable-dev-shm-usage", "--no-first-run",
                             "--no-default-browser-check", "--disable-extensions",
                             "--disable-background-networking", "--disable-sync",
                             "--disable-component-update", "--mute-audio",
                             "--remote-debugging-port=0", f"--user-data-dir={prof}",
                             "--window-size=1280,900", "about:blank"],
                            stdout=log, stderr=subprocess.STDOUT)
    port_file = os.path.join(prof, "DevToolsActivePort")
    end = time.time() + 20
    while time.time() < end and proc.poll() is None:
        try:
            with open(port_file) as f:
                port = int(f.readline())
            pages = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list",
                                                     timeout=5))
            for p in pages:
                if p.get("type") == "page":
                    return proc, p["webSocketDebuggerUrl"], None
        except (OSError, ValueError):
            pass
        time.sleep(0.1)
    return proc, None, "chromium did not open its DevTools port; see " + log.name


def browser_responses_on_spec(cdp, spec):
    """Checks the bodies of the /api responses the page got (Network domain);
    (list of why nots, how many checked). The stream never ends: skipped."""
    with cdp.cv:
        evs = list(cdp.events)
    done = {e["params"]["requestId"] for e in evs if e.get("method") == "Network.loadingFinished"}
    bad, n = [], 0
    for e in evs:
        if e.get("method") != "Network.responseReceived":
            continue
        resp, rid = e["params"]["response"], e["params"]["requestId"]
        path = urllib.parse.urlparse(resp["url"]).path
        if not path.startswith("/api/") or path == "/api/events/stream" or rid not in done:
            continue
        method = "POST" if path.endswith(("checkout", "checkin", "renew") + VERBS) else "GET"
        body = cdp.call("Network.getResponseBody", {"requestId": rid})["body"]
        why = spec.check_any(method, path, resp["status"], json.loads(body),
                             resp["mimeType"])
        n += 1
        if why:
            bad.append(why)
    return bad, n


BOARDS_JS = """JSON.stringify([...document.querySelectorAll('.board')].map(c => ({
  name: c.dataset.name, state: c.dataset.state, leased: c.dataset.leased,
  group: c.closest('.group').dataset.group,
  holder: (c.querySelector('.holder') || {}).textContent || null,
  imported: (c.querySelector('.imported') || {}).textContent || null})))"""


def card(name, what):
    return f"document.querySelector('.board[data-name=\"{name}\"]{what}')"


TOKEN = "dashboard-token-0123456789"
VERBS = ("power", "probe", "bootloader", "boot", "unplug", "replug")


def requests_to(cdp, suffix):
    """The page's requests whose URL ends with suffix: (id, method, postData)."""
    with cdp.cv:
        evs = list(cdp.events)
    return [(e["params"]["requestId"], e["params"]["request"]["method"],
             e["params"]["request"].get("postData"))
            for e in evs if e.get("method") == "Network.requestWillBeSent" and
            e["params"]["request"]["url"].endswith(suffix)]


def click_with_dialog(cdp, button, accept):
    """Clicks button (a JS expression) and answers the confirm() it opens;
    the dialog's message, or None when none opened."""
    with cdp.cv:
        seen = len(cdp.events)
    # The click runs after evaluate returns: confirm() blocks the page.
    cdp.eval(f"setTimeout(() => {button}.click(), 0); true")
    end = time.time() + 5
    msg = None
    while time.time() < end and msg is None:
        with cdp.cv:
            for e in cdp.events[seen:]:
                if e.get("method") == "Page.javascriptDialogOpening":
                    msg = e["params"]["message"]
                    break
        time.sleep(0.02)
    if msg is not None:
        cdp.call("Page.handleJavaScriptDialog", {"accept": accept})
    return msg


def verb_buttons(tap, cdp, d, shots):
    """Power cycle and Bootloader: a confirmation first; cancelled, nothing
    is sent; accepted, the right POST; an error reply is shown as an error.
    Returns the URLs whose error replies the test provoked."""
    base = f"http://127.0.0.1:{d.http_port}/api/boards/esp-a/"
    provoked = []
    tap.check(cdp.eval(card("esp-a", " .bootloader") + " !== null") and
              cdp.eval(card("cdc", " .bootloader") + " === null") and
              cdp.eval(card("cdc", " .power-cycle") + " !== null"),
              "Power cycle on every card, Bootloader on the ESP32's only")
    msg = click_with_dialog(cdp, card("esp-a", " .power-cycle"), False)
    time.sleep(0.3)
    tap.check(msg is not None and "esp-a" in msg and not requests_to(cdp, "/esp-a/power"),
              "Power cycle asks first; cancelled, nothing is sent", msg)
    for verb, cls, body in [("power", "power-cycle", {"action": "cycle"}),
                            ("bootloader", "bootloader", {})]:
        msg = click_with_dialog(cdp, card("esp-a", f" .{cls}"), True)
        took = cdp.wait_for(f"document.querySelector('#toast:not([hidden])')?.textContent"
                            f".includes('{verb}')", 3)
        reqs = requests_to(cdp, f"/esp-a/{verb}")
        ok_req = (len(reqs) == 1 and reqs[0][1] == "POST" and
                  json.loads(reqs[0][2] or "null") == body)
        status, reply = None, None
        with cdp.cv:
            for e in cdp.events:
                if (e.get("method") == "Network.responseReceived" and reqs and
                        e["params"]["requestId"] == reqs[0][0]):
                    status = e["params"]["response"]["status"]
        if reqs and status is not None:
            reply = json.loads(cdp.call("Network.getResponseBody",
                                        {"requestId": reqs[0][0]})["body"])
        toast = cdp.eval("JSON.stringify({kind: document.getElementById('toast').dataset.kind, "
                         "text: document.getElementById('toast').textContent})")
        toast = json.loads(toast)
        print(f"# {verb}: confirm {msg!r}; POST {reqs and reqs[0][2]} -> {status}; "
              f"toast {toast}", flush=True)
        tap.check(msg is not None and ok_req, f"{cls} asks, then POSTs {json.dumps(body)} to "
                  f"/api/boards/esp-a/{verb}", (msg, reqs))
        if status is not None and status >= 400:
            provoked.append(base + verb)
            tap.check(took is not None and toast["kind"] == "error" and
                      reply["error"]["message"] in toast["text"],
                      f"the {verb} error reply ({reply['error']['code']}) is shown as an error",
                      (toast, reply))
        else:
            tap.check(took is not None and toast["kind"] != "error",
                      f"the {verb} success is shown", (status, toast))
    cdp.screenshot(os.path.join(shots, "5-verb-error.png"))
    tap.check(cdp.eval("document.querySelectorAll('.board').length") == 4,
              "the page still shows every board after the replies")
    return provoked


def throughput(tap, cdp, d, shots):
    """URBs moving on cdc show on its card as a rate; none on the others."""
    c = UrbClient(d.port, "cdc")
    stop = threading.Event()
    moved = [0]

    def pump():
        try:
            c.urb(0, False, 0, struct.pack("<BBHHH", 0x00, 9, 1, 0, 0))
            while not stop.is_set():
                c.urb(2, False, 64, data=b"u" * 64)
                c.urb(2, True, 64)
                moved[0] += 2
                time.sleep(0.01)
        except (OSError, AssertionError):
            pass

    t = threading.Thread(target=pump, daemon=True)
    try:
        tap.check(c.status == 0, "a raw USB/IP client imports cdc", c.status)
        t.start()
        took = cdp.wait_for(card("cdc", " .throughput") + "?.dataset.urbsPerS > 0 && " +
                            card("cdc", " .throughput") + "?.dataset.bytesPerS > 0", 6)
        shown = cdp.eval(card("cdc", " .throughput") + "?.textContent")
        other = cdp.eval(card("hid", " .throughput") + "?.dataset.urbsPerS")
        print(f"# cdc shows {shown!r} after {moved[0]} URBs; hid {other}", flush=True)
        tap.check(took is not None and "URB/s" in shown and moved[0] > 0,
                  "URBs moving on cdc show as its throughput, live", shown)
        tap.check(other == "0", "an idle export shows no throughput", other)
        cdp.screenshot(os.path.join(shots, "6-throughput.png"))
    finally:
        stop.set()
        t.join(5)
        c.close()


def token_scenario(tap, cdp, exe, tmp, shots):
    """A daemon reachable from the LAN: the page asks for the token, then
    works with it (the stream and the buttons send it)."""
    path = os.path.join(tmp, "tokens")
    with open(path, "w") as f:
        f.write(f"{TOKEN} ann\n")
    os.chmod(path, 0o600)
    d = Daemon(exe, ["--http-token-file", path], http_host="0.0.0.0")
    try:
        with cdp.cv:
            cdp.events.clear()
        up = d.wait_ready(headers={"Authorization": "Bearer " + TOKEN})
        cdp.call("Page.navigate", {"url": f"http://127.0.0.1:{d.http_port}/"})
        took = cdp.wait_for("document.getElementById('token-dialog')?.open === true", 5)
        tap.check(up and took is not None, "remote mode: the page asks for a token")
        cdp.eval(f"document.getElementById('token-input').value = {json.dumps(TOKEN)}; "
                 "document.querySelector('#token-dialog button[value=ok]').click()")
        took = cdp.wait_for("document.querySelectorAll('.board').length === 4 && "
                            "document.getElementById('conn').dataset.state === 'live'", 5)
        tap.check(took is not None, "with the token the boards render and the stream is live",
                  cdp.eval("document.body.innerText.slice(0, 200)"))
        cdp.eval(card("cdc", " .checkout") + ".click()")
        took = cdp.wait_for(card("cdc", " .holder") + "?.textContent === 'ann@127.0.0.1'", 3)
        tap.check(took is not None, "the button's checkout carries the token (holder ann@...)",
                  cdp.eval(card("cdc", "") + "?.innerText"))
        cdp.screenshot(os.path.join(shots, "4-token.png"))
        # The stream started once without a token (401), then once with it:
        # not twice (the reconnect loop must not fork).
        time.sleep(2.5)
        with cdp.cv:
            streams = [e for e in cdp.events if e.get("method") == "Network.requestWillBeSent"
                       and e["params"]["request"]["url"].endswith("/api/events/stream")]
        tap.check(len(streams) == 2, "one stream request without the token, one with it",
                  len(streams))
        errors = [e for e in cdp.console_errors() if "401" not in e]
        tap.check(not errors, "no console error but the first 401", errors)
    finally:
        cdp.call("Page.navigate", {"url": "about:blank"})  # before its daemon goes
        d.stop()
        d.cleanup()


def tls_scenario(tap, cdp, exe, tmp, shots):
    """The page over HTTPS (--http-cert/--http-key, a certificate made by
    openssl here): it renders and its event stream is live through TLS."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext",
                        "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True,
                       timeout=60)
    except FileNotFoundError:
        print("# skip HTTPS page: openssl is not installed (tools/deps.sh test)")
        tap.check(True, "# SKIP HTTPS page: no openssl command")
        return
    ctx = ssl.create_default_context(cafile=cert)
    d = Daemon(exe, ["--http-cert", cert, "--http-key", key], tls=ctx)
    try:
        with cdp.cv:
            cdp.events.clear()
        up = d.wait_ready()
        # Our own certificate, not a CA's: this browser accepts it.
        cdp.call("Security.setIgnoreCertificateErrors", {"ignore": True})
        cdp.call("Page.navigate", {"url": f"https://127.0.0.1:{d.http_port}/"})
        took = cdp.wait_for("document.querySelectorAll('.board').length === 4 && "
                            "document.getElementById('conn').dataset.state === 'live' && "
                            "location.protocol === 'https:'", 10)
        tap.check(up and took is not None, "over HTTPS the page renders and its stream is live",
                  d.log_text()[-300:])
        r = d.control("checkout", {"name": "msc", "duration": 60})
        holder = r.get("result", {}).get("holder", "?")
        took = cdp.wait_for(card("msc", " .holder") + f"?.textContent === {json.dumps(holder)}",
                            3)
        tap.check(took is not None, "an event reaches the page through the TLS stream", r)
        cdp.eval(card("hid", " .checkout") + ".click()")
        took = cdp.wait_for(card("hid", " .holder") + "?.textContent === 'http@127.0.0.1'", 3)
        tap.check(took is not None, "a button's POST over HTTPS passes the origin check",
                  cdp.eval("document.getElementById('toast').textContent"))
        cdp.screenshot(os.path.join(shots, "7-https.png"))
        errors = cdp.console_errors()
        tap.check(not errors, "HTTPS: no console error", errors)
    finally:
        cdp.call("Security.setIgnoreCertificateErrors", {"ignore": False})
        d.stop()
        d.cleanup()


def main():
    exe, shots = sys.argv[1], sys.argv[2]
    os.makedirs(shots, exist_ok=True)
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="usblab-chromium-")
    spec = OpenAPI()
    d = Daemon(exe, spec=spec)
    browser = None
    try:
        if not tap.check(d.wait_ready(), "usblabd serves the virtual boards over HTTP",
                         d.log_text()[-500:]):
            return tap.done()
        browser, ws_url, why = start_chromium(tmp)
        if not tap.check(ws_url is not None, "headless chromium answers on DevTools", why):
            return tap.done()
        cdp = CDP(ws_url)
        for dom in ("Page", "Runtime", "Log", "Network"):
            cdp.call(dom + ".enable")
        url = f"http://127.0.0.1:{d.http_port}/"
        cdp.call("Page.navigate", {"url": url})
        took = cdp.wait_for("document.querySelectorAll('.board').length === 4 && "
                            "document.getElementById('conn').dataset.state === 'live'", 10)
        tap.check(took is not None, "the page renders 4 board cards and its stream is live",
                  cdp.eval("document.body.innerText.slice(0, 300)"))
        cdp.eval("window.usblabMarker = 42")
        boards = {b["name"]: b for b in json.loads(cdp.eval(BOARDS_JS))}
        tap.check(boards.get("cdc", {}).get("state") == "exported" and
                  boards["cdc"]["group"] == "virtual devices" and
                  boards.get("esp-a", {}).get("state") == "absent" and
                  boards["esp-a"]["group"] != "virtual devices",
                  "cards show states and are grouped (virtual devices apart)", boards)
        tap.check(cdp.eval("getComputedStyle(" + card("cdc", " .state") +
                           ").backgroundColor") == "rgb(31, 157, 85)" and
                  cdp.eval("getComputedStyle(" + card("esp-a", " .state") +
                           ").backgroundColor") == "rgb(154, 161, 173)",
                  "exported is green, absent grey")
        cdp.screenshot(os.path.join(shots, "1-boards.png"))

        # A lease taken elsewhere (the control socket) shows within a second.
        r = d.control("checkout", {"name": "cdc", "duration": 600, "reason": "ci run"})
        holder = r.get("result", {}).get("holder", "?")
        took = cdp.wait_for(card("cdc", " .holder") + f"?.textContent === {json.dumps(holder)}",
                            1.0)
        print(f"# holder {holder} shown after {took and round(took * 1000)} ms", flush=True)
        tap.check(took is not None, "a control-socket checkout shows its holder within 1 s", r)
        tap.check(cdp.eval(card("cdc", " .left") + "?.textContent.match(/^(9m|10m)/) !== null"),
                  "the card shows the lease's time left",
                  cdp.eval(card("cdc", " .lease") + "?.textContent"))

        # The buttons: check out hid, then check it in.
        cdp.eval(card("hid", " .checkout") + ".click()")
        # The stream's event may draw the lease before the checkout's reply
        # (sent once the lease is on disk) marks it ours: wait for both.
        took = cdp.wait_for(card("hid", " .holder") + "?.textContent === 'http@127.0.0.1' && " +
                            card("hid", " .checkin") + "?.textContent === 'Check in'", 3)
        locks = d.control("locks")["result"]["locks"]
        tap.check(took is not None and any(l["name"] == "hid" and l["holder"] == "http@127.0.0.1"
                                           for l in locks),
                  "the Check out button takes a lease as http@127.0.0.1", locks)
        cdp.eval(card("hid", " .checkin") + ".click()")
        took = cdp.wait_for(card("hid", "") + ".dataset.leased === 'false'", 3)
        locks = d.control("locks")["result"]["locks"]
        tap.check(took is not None and not any(l["name"] == "hid" for l in locks),
                  "the Check in button ends it", locks)

        # An import over USB/IP turns the card amber and says by whom.
        st, usbip = d.op_import("msc")
        took = cdp.wait_for(card("msc", "") + ".dataset.state === 'imported' && " +
                            card("msc", " .imported") + "?.textContent.includes('127.0.0.1')", 2)
        tap.check(st == 0 and took is not None, "an OP_REQ_IMPORT shows msc imported, and by whom",
                  f"status {st}: " + str(cdp.eval(card("msc", "") + "?.innerText")))
        cdp.screenshot(os.path.join(shots, "2-leased-imported.png"))

        # The timeline and its filters.
        cdp.wait_for("document.querySelector('#events li[data-kind=\"imported\"]')", 2)
        cdp.eval("f = document.getElementById('filter'); f.value = 'msc'; "
                 "f.dispatchEvent(new Event('input'))")
        shown = json.loads(cdp.eval("JSON.stringify([...document.querySelectorAll('#events li')]"
                                    ".filter(li => !li.hidden).map(li => li.dataset.board))"))
        tap.check(len(shown) >= 2 and all(b == "msc" for b in shown),
                  f"the text filter keeps msc's events only ({len(shown)} shown)", shown)
        cdp.eval("f.value = ''; f.dispatchEvent(new Event('input')); k = "
                 "document.getElementById('kind'); k.value = 'lease-taken'; "
                 "k.dispatchEvent(new Event('change'))")
        shown = json.loads(cdp.eval("JSON.stringify([...document.querySelectorAll('#events li')]"
                                    ".filter(li => !li.hidden).map(li => li.dataset.kind))"))
        tap.check(len(shown) >= 2 and all(k == "lease-taken" for k in shown),
                  f"the kind filter keeps lease-taken only ({len(shown)} shown)", shown)
        cdp.eval("k.value = ''; k.dispatchEvent(new Event('change'))")

        usbip.close()
        took = cdp.wait_for(card("msc", "") + ".dataset.state === 'exported'", 2)
        tap.check(took is not None, "closing the USB/IP connection shows msc exported again")
        d.control("checkin", {"name": "cdc", "force": True})
        throughput(tap, cdp, d, shots)
        provoked = verb_buttons(tap, cdp, d, shots)
        tap.check(cdp.eval("window.usblabMarker") == 42, "the page was never reloaded")
        cdp.screenshot(os.path.join(shots, "3-final.png"))
        why, n = browser_responses_on_spec(cdp, spec)
        print(f"# {n} API responses the page got checked against openapi.yaml", flush=True)
        tap.check(n >= 5 and not why and not d.off_spec,
                  "every API response the page and the test got matched openapi.yaml",
                  why + d.off_spec)
        errors = cdp.console_errors(provoked)
        tap.check(not errors, "no console error (but the network lines of the error replies "
                  "provoked on purpose)", errors)
        token_scenario(tap, cdp, exe, tmp, shots)
        tls_scenario(tap, cdp, exe, tmp, shots)
    finally:
        if browser:
            browser.terminate()
            try:
                browser.wait(10)
            except subprocess.TimeoutExpired:
                browser.kill()
        rc = d.stop()
        tap.check(rc == 0, "usblabd stops cleanly (ASan/UBSan quiet)",
                  f"exit {rc}: " + d.log_text()[-800:])
        d.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
