# SPDX-License-Identifier: MIT
"""benchlib.py - what the bench manager's Python tests share: TAP lines, a
usblabd in temporary XDG directories, and clients of its control socket."""
import json
import os
import socket
import subprocess
import time

results = []


def tap(ok, name, why=""):
    """Prints one TAP line and remembers the verdict."""
    results.append(bool(ok))
    line = f"{'ok' if ok else 'not ok'} {len(results)} - {name}"
    if not ok and why:
        line += f" # {str(why)[:300]}"
    print(line, flush=True)


def finish():
    """Prints the plan; the exit status for the test program."""
    print(f"1..{len(results)}", flush=True)
    return 0 if all(results) else 1


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Daemon:
    """usblabd with its registry, store and socket under top (XDG_*)."""

    def __init__(self, exe, top):
        self.exe, self.top = exe, top
        self.sock = os.path.join(top, "run", "usblab", "usblabd.sock")
        self.port = free_port()
        self.proc = None

    def start(self, *args):
        env = dict(os.environ, XDG_CONFIG_HOME=os.path.join(self.top, "cfg"),
                   XDG_STATE_HOME=os.path.join(self.top, "state"),
                   XDG_RUNTIME_DIR=os.path.join(self.top, "run"))
        log = open(os.path.join(self.top, "usblabd.log"), "ab")
        self.proc = subprocess.Popen([self.exe, "--listen", f"127.0.0.1:{self.port}",
                                      "--no-inventory", "--http", "none", *args],
                                     env=env, stdout=log, stderr=log)
        for _ in range(600):  # 30 s: the suite runs on a loaded machine
            try:
                Client(self.sock).call("status")
                return True
            except OSError:
                if self.proc.poll() is not None:
                    return False
                time.sleep(0.05)
        return False

    def kill9(self):
        self.proc.kill()
        self.proc.wait()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


class Client:
    """One connection to the control socket: a request, its reply."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(30)
        self.s.connect(path)
        self.f = self.s.makefile("rw")
        self.n = 0

    def call(self, method, **params):
        self.n += 1
        self.f.write(json.dumps({"id": self.n, "method": method, "params": params}) + "\n")
        self.f.flush()
        line = self.f.readline()
        if not line:
            raise OSError("daemon closed the connection")
        return json.loads(line)

    def close(self):
        self.s.close()


def ctl(d, method, **params):
    """One request on a connection of its own."""
    c = Client(d.sock)
    try:
        return c.call(method, **params)
    finally:
        c.close()
