# SPDX-License-Identifier: MIT
"""benchlib.py - what the bench manager's Python tests share: TAP lines, a
usblabd in temporary XDG directories, and clients of its control socket
(on tests/lib/usblabtest.py)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from usblabtest import Control, Tap, Usblabd, control, free_port, xdg_env  # noqa: E402,F401

TAP = Tap()
# One connection to the control socket: Client(path).call(method, **params).
Client = Control


def tap(ok, name, why=""):
    """Prints one TAP line and remembers the verdict."""
    TAP.check(ok, name, why)


def finish():
    """Prints the plan; the exit status for the test program."""
    return TAP.done()


class Daemon:
    """usblabd with its registry, store and socket under top (XDG_*),
    started again on the same directories by each start()."""

    def __init__(self, exe, top):
        self.exe, self.top = exe, top
        self.sock = os.path.join(top, "run", "usblab", "usblabd.sock")
        self.port = free_port()
        self.usblabd = None
        self.proc = None

    def start(self, *args):
        """Starts usblabd; True once its control socket answers."""
        self.usblabd = Usblabd(self.exe, ["--listen", f"127.0.0.1:{self.port}", "--no-inventory",
                                          "--http", "none", *args],
                               os.path.join(self.top, "usblabd.log"), env=xdg_env(self.top))
        self.proc = self.usblabd.proc
        # 30 s: the suite runs on a loaded machine.
        return self.usblabd.wait_until(lambda: control(self.sock, "status"), 30) is not None

    def kill9(self):
        self.usblabd.kill9()

    def stop(self):
        if self.usblabd:
            self.usblabd.stop()


def ctl(d, method, **params):
    """One request on a connection of its own."""
    return control(d.sock, method, **params)
