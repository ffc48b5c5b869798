#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_units.py USBLABD SYSTEM_UNIT USER_UNIT - the systemd units are valid.

Each unit, with ExecStart pointed at the built usblabd, must pass
`systemd-analyze verify` (system unit) and `systemd-analyze --user verify`
(user unit) without one warning; a unit with a misspelt value must not (so
the check can fail). The system unit must map the XDG directories to
/etc/usblab and /var/lib/usblab, which usblabd then uses. Prints TAP.
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "web"))
from webtest import Tap  # noqa: E402


def verify(unit_text, user, tmp):
    path = os.path.join(tmp, "usblabd.service")
    with open(path, "w") as f:
        f.write(unit_text)
    rt = os.path.join(tmp, "rt")
    os.makedirs(rt, mode=0o700, exist_ok=True)
    env = dict(os.environ, XDG_RUNTIME_DIR=rt)
    r = subprocess.run(["systemd-analyze"] + (["--user"] if user else []) + ["verify", path],
                       env=env, capture_output=True, text=True, timeout=60)
    # Lines about other units (no systemd running here) are not ours.
    out = [l for l in (r.stdout + r.stderr).splitlines() if "usblabd.service" in l]
    return r.returncode, out


def main():
    exe, system_unit, user_unit = sys.argv[1:4]
    tap = Tap()
    tmp = tempfile.mkdtemp(prefix="usblab-units-")
    try:
        if not tap.check(shutil.which("systemd-analyze") is not None,
                         "systemd-analyze is installed (package systemd)"):
            return tap.done()
        for name, path, user in (("system", system_unit, False), ("user", user_unit, True)):
            with open(path) as f:
                text = f.read()
            m = re.search(r"^ExecStart=(\S+)", text, re.M)
            tap.check(m is not None and m.group(1).endswith("/usblabd"),
                      f"{name} unit: ExecStart runs usblabd from the install's bindir",
                      m and m.group(1))
            local = text.replace(m.group(1), os.path.abspath(exe)) if m else text
            rc, out = verify(local, user, tmp)
            tap.check(rc == 0 and not out, f"{name} unit: systemd-analyze verify is silent",
                      out)
            rc, out = verify(local.replace("Restart=on-failure", "Restart=on-failur"), user,
                             tmp)
            tap.check(out != [], f"{name} unit: a misspelt value is caught", out)
        with open(system_unit) as f:
            text = f.read()
        tap.check("Environment=XDG_CONFIG_HOME=/etc XDG_STATE_HOME=/var/lib" in text and
                  "ConfigurationDirectory=usblab" in text and "StateDirectory=usblab" in text
                  and "RuntimeDirectory=usblab" in text,
                  "system unit: devices.conf in /etc/usblab, the store in /var/lib/usblab, "
                  "the socket in /run/usblab")
        # usblabd started with the unit's environment (under a fake root)
        # reads its registry from $XDG_CONFIG_HOME/usblab.
        root = os.path.join(tmp, "root")
        os.makedirs(os.path.join(root, "etc", "usblab"))
        with open(os.path.join(root, "etc", "usblab", "devices.conf"), "w") as f:
            f.write("[unit-test-board]\nserial = UNIT-1\n")
        env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(root, "etc"),
                   XDG_STATE_HOME=os.path.join(root, "var", "lib"),
                   XDG_RUNTIME_DIR=os.path.join(root, "run"))
        p = subprocess.Popen([exe, "--listen", "127.0.0.1:0", "--http", "none",
                              "--no-inventory", "-q"], env=env)
        sock = os.path.join(root, "run", "usblab", "usblabd.sock")
        status = None
        try:
            for _ in range(300):
                try:
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.connect(sock)
                    s.sendall(b'{"id":1,"method":"status"}\n')
                    status = json.loads(s.makefile().readline())["result"]
                    s.close()
                    break
                except OSError:
                    time.sleep(0.05)
        finally:
            p.terminate()
            p.wait(10)
        tap.check(status is not None and status["registry"] ==
                  os.path.join(root, "etc", "usblab", "devices.conf") and status["store"] and
                  os.path.exists(os.path.join(root, "var", "lib", "usblab", "usblab.db")),
                  "with the unit's XDG mapping usblabd uses etc/usblab and var/lib/usblab",
                  status)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
