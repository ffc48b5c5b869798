# SPDX-License-Identifier: MIT
"""webtest.py - what the HTTP and dashboard tests share: a real usblabd in
temporary XDG directories, HTTP calls, the control socket, a raw USB/IP
import, TAP lines, and checking every response against docs/openapi.yaml.
"""
import http.client
import json
import os
import re
import shutil
import sys
import tempfile
import time

import jsonschema
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "lib"))
import usblabtest  # noqa: E402
from usblabtest import VIRTUAL_BOARDS_CONF, Tap, Usblabd, free_ports, xdg_env  # noqa: E402,F401

DEVICES_CONF = VIRTUAL_BOARDS_CONF + """
# never plugged in: absent, on hub 1-4 port 2
[esp-a]
serial = 3C6105AABBCC
port = 1-4.2
type = esp32
chip = ESP32-S3
export = no
"""


class Daemon(Usblabd):
    """usblabd with the virtual boards, a registry, a store and a socket."""

    def __init__(self, exe, extra=(), http_host="127.0.0.1", spec=None, tls=None):
        self.exe = exe
        self.tls = tls  # an ssl.SSLContext: talk HTTPS
        self.spec = spec  # an OpenAPI: every response is checked against it
        self.off_spec = []  # (method, path, status, why) of responses that were not
        self.seen_responses = []
        self.tmp = tempfile.mkdtemp(prefix="usblab-web-")
        self.reg = os.path.join(self.tmp, "devices.conf")
        self.sock = os.path.join(self.tmp, "run", "usblabd.sock")
        self.log = os.path.join(self.tmp, "usblabd.log")
        with open(self.reg, "w") as f:
            f.write(DEVICES_CONF)
        self.port, self.http_port = free_ports(2, "0.0.0.0")
        self.http_host = http_host
        env = xdg_env(self.tmp)
        self.args = [exe, "--listen", f"127.0.0.1:{self.port}", "--registry", self.reg,
                     "--db", os.path.join(self.tmp, "usblab.db"), "--control", self.sock,
                     "--virtual", "cdc,hid,msc", "--no-inventory", *extra]
        if http_host:  # None: no --http, the default
            self.args[1:1] = ["--http", f"{http_host}:{self.http_port}"]
        super().__init__(exe, self.args[1:], self.log, env=env)

    def wait_ready(self, timeout=15, headers=None):
        """True once HTTP lists the three virtual boards exported."""
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                return False
            try:
                st, _, body = self.http("GET", "/api/boards", headers=headers)
                if st == 200 and sum(b["state"] == "exported" for b in body["boards"]) == 3:
                    return True
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        return False

    def wait_control(self, timeout=15):
        """The status reply once the control socket answers, or None."""
        return self.wait_until(lambda: self.control("status").get("result"), timeout)

    def http(self, method, path, body=None, headers=None, raw=False):
        """(status, headers dict with lower-case names, JSON body or text)."""
        if self.tls:
            c = http.client.HTTPSConnection("127.0.0.1", self.http_port, timeout=10,
                                            context=self.tls)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        h = dict(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, (bytes, str)) else json.dumps(body)
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        text = r.read().decode()
        hd = {k.lower(): v for k, v in r.getheaders()}
        c.close()
        ctype = hd.get("content-type", "").split(";")[0]
        got = json.loads(text) if ctype == "application/json" else text
        self.seen_responses.append((method, path, r.status))
        if self.spec:
            why = self.spec.check_any(method, path, r.status, got, ctype)
            if why:
                self.off_spec.append((method, path, r.status, why))
        return r.status, hd, (text if raw else got)

    def control(self, method, params=None):
        """One control-socket call; the reply object."""
        return usblabtest.control(self.sock, method, params)

    def op_import(self, name):
        """Imports a board with a raw OP_REQ_IMPORT; (status, the open socket)."""
        st, _, s = usblabtest.op_import(self.port, name)
        return st, s

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class UrbClient(usblabtest.UsbipClient):
    """A raw USB/IP client of one imported board (usbip-protocol.md §3),
    enough to move counted URBs; status is the import's (0: imported)."""

    def __init__(self, port, name):
        self.status = 0
        try:
            super().__init__(port, name, timeout=10)
        except ConnectionError as e:
            self.status = int(str(e).rsplit(" ", 1)[1])
            self.s = None

    def close(self, reset=False):
        if self.s:
            super().close(reset)


class OpenAPI:
    """Checks responses against docs/openapi.yaml."""

    def __init__(self, path=os.path.join(TOP, "docs", "openapi.yaml")):
        with open(path) as f:
            self.spec = yaml.safe_load(f)
        self.seen = set()

    def _deref(self, obj):
        while isinstance(obj, dict) and "$ref" in obj and len(obj) == 1:
            node = self.spec
            for part in obj["$ref"].lstrip("#/").split("/"):
                node = node[part]
            obj = node
        return obj

    def check_schema(self, name, obj):
        """None when obj is a components/schemas/NAME; else why not."""
        schema = {"$ref": "#/components/schemas/" + name, "components": self.spec["components"]}
        try:
            jsonschema.Draft202012Validator(schema).validate(obj)
        except jsonschema.ValidationError as e:
            return f"{name}: {e.message} at {list(e.absolute_path)}"
        return None

    def check_any(self, method, path, status, body, ctype):
        """check() for a concrete path (query ignored): None, or why not. A
        path or method the spec does not have must answer an ErrorReply."""
        p = path.split("?")[0]
        if status == 413:
            return None  # evhttp's own page for a body over the limit (openapi: Error)
        for tmpl, ops in self.spec["paths"].items():
            if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", tmpl), p) and method.lower() in ops:
                return self.check(tmpl, method, status, body, ctype)
        if status >= 400 and ctype == "application/json":
            return self.check_schema("ErrorReply", body)
        return f"{method} {p} {status}: not in openapi.yaml"

    def check(self, template, method, status, body, ctype="application/json"):
        """None when body is what the spec says path template answers to
        method with status; else why not."""
        op = self.spec["paths"].get(template, {}).get(method.lower())
        if not op:
            return f"{method} {template} is not in openapi.yaml"
        resp = op["responses"].get(str(status)) or op["responses"].get("default")
        if not resp:
            return f"{method} {template}: status {status} is not documented"
        resp = self._deref(resp)
        content = resp.get("content", {})
        if ctype not in content:
            return f"{method} {template} {status}: {ctype} is not documented ({list(content)})"
        self.seen.add((template, method.lower()))
        if not ctype.endswith("json"):
            return None if isinstance(body, str) else f"{method} {template}: not text"
        schema = dict(content[ctype]["schema"])
        schema["components"] = self.spec["components"]
        try:
            jsonschema.Draft202012Validator(schema).validate(body)
        except jsonschema.ValidationError as e:
            return f"{method} {template} {status}: {e.message} at {list(e.absolute_path)}"
        return None
