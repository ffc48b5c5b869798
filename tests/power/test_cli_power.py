#!/usr/bin/env python3
"""usblab power against a real usblabd (virtual boards only: none hangs off
a hub, so this covers the command line and every refusal; the kernel lab's
`power` scenario switches a real qemu hub port).

Checks: --help; bad usage (exit 2); the daemon not running (exit 3); an
unknown name (exit 1, the candidates); a virtual board (exit 1, "no hub
port"), as text and as {"error":...} with --json; an absent board never seen
(exit 1); no power event for any of them. (Leases need two users: the lease
refusal is covered in process by test_api_power.) Prints TAP.
Environment: USBLAB, USBLABD.
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

USBLAB = os.environ.get("USBLAB", "build/src/cli/usblab")
USBLABD = os.environ.get("USBLABD", "build/src/daemon/usblabd")

CONF = """\
[cdc]
serial = USBLAB-CDC-1
type = virtual

[esp-a]
serial = 3C6105AABBCC
type = esp32
"""

n_tests = 0
n_failed = 0


def tap(ok, name, why=""):
    global n_tests, n_failed
    n_tests += 1
    if not ok:
        n_failed += 1
        print(f"not ok {n_tests} - {name}")
        for line in str(why).splitlines():
            print(f"# {line}")
    else:
        print(f"ok {n_tests} - {name}")
    sys.stdout.flush()


def usblab(*args, env=None):
    r = subprocess.run([USBLAB, *args], capture_output=True, text=True, env=env, timeout=60)
    return r.returncode, r.stdout, r.stderr


def main():
    tmp = tempfile.mkdtemp(prefix="usblab-power-")
    conf = os.path.join(tmp, "devices.conf")
    sock = os.path.join(tmp, "usblabd.sock")
    with open(conf, "w") as f:
        f.write(CONF)
    env = dict(os.environ, XDG_RUNTIME_DIR=tmp, XDG_STATE_HOME=tmp, XDG_CONFIG_HOME=tmp)

    rc, out, err = usblab("power", "--help", env=env)
    tap(rc == 0 and out.startswith("Usage: usblab power off|on|cycle NAME") and
        "does not cut VBUS" in out and "Container ID" in out and "Exit status" in out,
        "power --help", (rc, out, err))
    rc, out, err = usblab("--help", env=env)
    tap(rc == 0 and "power off|on|cycle NAME" in out, "usblab --help lists power", out)
    for args, what in [(["power"], "no action"), (["power", "off"], "no name"),
                       (["power", "zap", "cdc"], "unknown action"),
                       (["power", "off", "cdc", "--timeout", "0"], "--timeout 0"),
                       (["power", "off", "cdc", "--timeout", "601"], "--timeout over 600"),
                       (["power", "off", "cdc", "--for", "1h"], "an option power does not take"),
                       (["power", "off", "cdc", "extra"], "an extra argument")]:
        rc, out, err = usblab("--socket", sock, *args, env=env)
        tap(rc == 2 and err.startswith("usblab"), f"bad usage: {what}: exit 2", (rc, out, err))

    rc, out, err = usblab("--socket", sock, "power", "off", "cdc", env=env)
    tap(rc == 3 and "usblabd is not running" in err and sock in err,
        "daemon not running: exit 3, names the socket", (rc, out, err))

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    log = open(os.path.join(tmp, "usblabd.log"), "w")
    d = subprocess.Popen([USBLABD, "--listen", f"127.0.0.1:{port}", "--virtual", "cdc",
                          "--registry", conf, "--db", os.path.join(tmp, "usblab.db"), "--control", sock,
                          "--no-inventory", "--http", "none"], stdout=log, stderr=log, env=env)
    try:
        for _ in range(200):
            rc, out, _ = usblab("--socket", sock, "list", "--json", env=env)
            if rc == 0 and '"exported"' in out:
                break
            time.sleep(0.05)
        rc, out, err = usblab("--socket", sock, "power", "off", "nosuch", env=env)
        tap(rc == 1 and err.startswith("usblab: ") and "cdc" in err,
            "unknown board: exit 1, the candidates", (rc, out, err))
        rc, out, err = usblab("--socket", sock, "power", "cycle", "cdc", env=env)
        tap(rc == 1 and "cdc has no hub port (a virtual or imported device" in err,
            "a virtual board: exit 1, no hub port", (rc, out, err))
        rc, out, err = usblab("--socket", sock, "power", "off", "cdc", "--json", env=env)
        try:
            e = json.loads(out)["error"]
        except (ValueError, KeyError):
            e = {}
        tap(rc == 1 and e.get("code") == "no_hub_port" and e.get("board") == "cdc",
            "--json: {\"error\":{\"code\":\"no_hub_port\",...}}", (rc, out, err))
        rc, out, err = usblab("--socket", sock, "power", "on", "esp-a", env=env)
        tap(rc == 1 and "esp-a has no hub port (never seen)" in err,
            "a board never seen: exit 1, no hub port", (rc, out, err))
        rc, out, err = usblab("--socket", sock, "events", "--json", env=env)
        try:
            kinds = [e.get("kind") for e in json.loads(out)["events"]]
        except (ValueError, KeyError, TypeError, AttributeError):
            kinds = None
        tap(rc == 0 and kinds is not None and "exported" in kinds and "power" not in kinds,
            "no power event for refused requests (the history has the export)", (rc, out, err))
        tap(d.poll() is None, "usblabd still running after the refusals")
    finally:
        d.terminate()
        d.wait(10)
    print(f"1..{n_tests}")
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())
