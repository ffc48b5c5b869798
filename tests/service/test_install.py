#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""test_install.py USBLAB USBLABD - `usblab service install|uninstall`.

Installs into a scratch root (--root, which runs no systemctl): the system
unit must run the given usblabd and pass `systemd-analyze verify`, the udev
rule must give the group the USB devices and USB serial ports; --user puts
the user unit under $XDG_CONFIG_HOME/systemd/user; uninstall removes what
install wrote; a usblabd that is not there, or bad words, are errors with
the documented exit status. Prints TAP.
"""
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bench"))
from benchlib import finish, tap  # noqa: E402

def main():
    usblab, usblabd = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    print("TAP version 13", flush=True)
    with tempfile.TemporaryDirectory(prefix="usblab-install-") as root:
        def run(*args, env=None):
            return subprocess.run([usblab, "service", *args], capture_output=True, text=True,
                                  env=env, timeout=30)

        r = run("install", "--root", root, "--group", "dialout", "--exec", usblabd)
        unit = os.path.join(root, "etc/systemd/system/usblabd.service")
        rules = os.path.join(root, "etc/udev/rules.d/70-usblab.rules")
        tap(r.returncode == 0 and os.path.exists(unit) and os.path.exists(rules),
            "install --root writes the system unit and the udev rule", r.stderr)
        text = open(unit).read() if os.path.exists(unit) else ""
        m = re.search(r"^ExecStart=(\S+)$", text, re.M)
        tap(m and m.group(1) == usblabd, "the unit runs the given usblabd", m and m.group(1))
        tap("XDG_CONFIG_HOME=/etc XDG_STATE_HOME=/var/lib" in text and
            "ProtectSystem=strict" in text and "Restart=on-failure" in text,
            "the unit maps the XDG paths, is sandboxed and restarts on failure")
        rt = os.path.join(root, "rt")
        os.makedirs(rt, mode=0o700)
        v = subprocess.run(["systemd-analyze", "verify", unit], capture_output=True, text=True,
                           env=dict(os.environ, XDG_RUNTIME_DIR=rt), timeout=60)
        ours = [l for l in (v.stdout + v.stderr).splitlines() if "usblabd.service" in l]
        tap(v.returncode == 0 and not ours, "systemd-analyze verify is silent on it", ours)
        rtext = open(rules).read() if os.path.exists(rules) else ""
        tap('SUBSYSTEM=="usb", ENV{DEVTYPE}=="usb_device", MODE="0660", GROUP="dialout"' in rtext
            and 'SUBSYSTEM=="tty", ENV{ID_BUS}=="usb", MODE="0660", GROUP="dialout"' in rtext,
            "the udev rule gives group dialout the USB devices and USB ttys", rtext)

        env = dict(os.environ, XDG_CONFIG_HOME="/home/ann/.config")
        r = run("install", "--user", "--root", root, "--exec", usblabd, env=env)
        uunit = os.path.join(root, "home/ann/.config/systemd/user/usblabd.service")
        tap(r.returncode == 0 and os.path.exists(uunit) and
            "WantedBy=default.target" in open(uunit).read(),
            "install --user writes the user unit under $XDG_CONFIG_HOME/systemd/user", r.stderr)
        r = run("install", "--user", "--group", "x", "--root", root, env=env)
        tap(r.returncode == 2, "--group with --user is bad usage (exit 2)", r.returncode)

        r = run("uninstall", "--root", root)
        tap(r.returncode == 0 and not os.path.exists(unit) and not os.path.exists(rules),
            "uninstall removes the unit and the rule", r.stderr)
        r = run("uninstall", "--user", "--root", root, env=env)
        tap(r.returncode == 0 and not os.path.exists(uunit), "uninstall --user removes the unit")
        r = run("uninstall", "--root", root)
        tap(r.returncode == 0, "uninstall of what is not there succeeds", r.stderr)

        r = run("install", "--root", root, "--exec", "/nonexistent/usblabd")
        tap(r.returncode == 1 and "--exec" in r.stderr and not os.path.exists(unit),
            "a usblabd that is not there: exit 1, the message says --exec", r.stderr)
        r = run("frob")
        tap(r.returncode == 2 and "install" in r.stderr, "an unknown word: exit 2", r.stderr)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
