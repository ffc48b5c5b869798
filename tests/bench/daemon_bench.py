#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""daemon_bench.py USBLABD - the bench manager inside a real usblabd.

Runs usblabd with virtual devices, a registry naming them and a store, in
temporary XDG directories, and checks through the control socket and raw
USB/IP what a stock client would see:
  - boards named by the registry, an unnamed device listed by its busid,
    an absent registry board listed as absent;
  - OP_REQ_IMPORT by registry name works and the reply echoes the name
    (Linux's `usbip attach` refuses a different busid);
  - imported / released / client-gone / import-refused events;
  - a leased board refuses an import without its token (ST_DEV_BUSY) and
    takes NAME#TOKEN and BUSID#TOKEN;
  - an edit of devices.conf is picked up without a restart (inotify), a bad
    edit is refused with file:line and the last good registry stays,
    SIGHUP reloads too;
  - events survive a restart (the store).
Prints TAP.
"""
import os
import signal
import sys
import tempfile

from benchlib import Daemon, ctl, finish, tap
import usblabtest  # noqa: E402 (tests/lib, on the path benchlib made)
from usblabtest import wait_for  # noqa: E402


def op_import(d, busid):
    """Returns (status, busid echoed, the socket) of an OP_REQ_IMPORT."""
    st, dev, s = usblabtest.op_import(d.port, busid)
    return st, (usblabtest.device_busid(dev) if dev else None), s


def devlist_paths(d):
    """busid -> path of each device in an OP_REP_DEVLIST."""
    return {dev["busid"]: dev["path"] for dev in usblabtest.devlist(d.port)}


def events(d, **q):
    return ctl(d, "events", **q).get("result", {}).get("events", [])


def boards(d):
    return {b["name"]: b for b in ctl(d, "list")["result"]["boards"]}


def main():
    exe = sys.argv[1]
    print("TAP version 13", flush=True)
    with tempfile.TemporaryDirectory(prefix="usblab-bench-") as top:
        conf_dir = os.path.join(top, "cfg", "usblab")
        os.makedirs(conf_dir)
        conf = os.path.join(conf_dir, "devices.conf")
        with open(conf, "w") as f:
            f.write("# the virtual devices, named\n"
                    "[serial-a]\nserial = USBLAB-CDC-1\ntype = esp32\n"
                    "[keyboard]\nserial = USBLAB-HID-2\n"
                    "[shelf-board]\nserial = NOT-PLUGGED\n")
        d = Daemon(exe, top)
        tap(d.start("--virtual", "cdc,hid,msc"), "usblabd starts with a registry, a store and a control socket")
        b = boards(d)
        tap(b.get("serial-a", {}).get("state") == "exported" and b["serial-a"]["busid"] == "0-1",
            "a registry board is named and exported", b.get("serial-a"))
        tap(b.get("0-3", {}).get("state") == "exported", "an unnamed device is listed by busid",
            sorted(b))
        tap(b.get("shelf-board", {}).get("state") == "absent", "an absent registry board is listed")

        paths = devlist_paths(d)
        tap(paths.get("0-1", "").startswith("serial-a ") and paths.get("0-3") is not None
            and not paths["0-3"].startswith("0-3 "),
            "DEVLIST shows a named board's name at the start of its path", paths)

        st, echoed, s = op_import(d, "serial-a")
        tap(st == 0 and echoed == "serial-a",
            "import by name: accepted, the reply echoes the name", (st, echoed))
        tap(wait_for(lambda: boards(d)["serial-a"]["state"] == "imported"),
            "the board is imported, by the client's address")
        st2, _, s2 = op_import(d, "serial-a")
        s2.close()
        tap(st2 == 2, "a second import of an imported board is refused busy", st2)
        s.close()
        tap(wait_for(lambda: any(e["kind"] == "released" and e["board"] == "serial-a"
                                 for e in events(d, device="serial-a"))),
            "closing the connection makes a released event")
        st3, _, s3 = op_import(d, "no-such-board")
        s3.close()
        tap(st3 == 4 and wait_for(lambda: any(e["kind"] == "import-refused"
                                              for e in events(d, kind="import-refused"))),
            "an unknown name is refused (ST_NODEV) with an import-refused event", st3)

        # Leases on the wire.
        co = ctl(d, "checkout", name="keyboard", duration=600)
        token = co.get("result", {}).get("token", "")
        tap(len(token) == 12, "checkout gives a 12-character token", co)
        st, _, s = op_import(d, "keyboard")
        s.close()
        tap(st == 2, "a leased board refuses an import without the token", st)
        ev = wait_for(lambda: [e for e in events(d, device="keyboard", kind="import-refused")])
        tap(ev and "leased by" in ev[-1]["detail"], "... and says it is leased, in an event", ev)
        st, _, s = op_import(d, "keyboard#" + "a" * 12)
        s.close()
        tap(st == 2, "a wrong token is refused", st)
        st, echoed, s = op_import(d, "keyboard#" + token)
        tap(st == 0 and echoed == "keyboard#" + token, "NAME#TOKEN imports the leased board",
            (st, echoed))
        s.close()
        wait_for(lambda: boards(d)["keyboard"]["state"] == "exported")
        st, _, s = op_import(d, "0-2#" + token)
        tap(st == 0, "BUSID#TOKEN imports it too", st)
        s.close()
        wait_for(lambda: boards(d)["keyboard"]["state"] == "exported")
        ctl(d, "checkin", name="keyboard")

        # Registry edits without a restart.
        with open(conf + ".new", "w") as f:
            f.write("[serial-a]\nserial = USBLAB-CDC-1\n[keyboard]\nserial = USBLAB-HID-2\n"
                    "[disk]\nserial = USBLAB-MSC-3\n")
        os.rename(conf + ".new", conf)  # as editors save
        tap(wait_for(lambda: "disk" in boards(d) and "0-3" not in boards(d)),
            "an edit of devices.conf is picked up without a restart (inotify)", sorted(boards(d)))
        tap("shelf-board" not in boards(d), "a board the edit removed is gone")
        with open(conf, "w") as f:
            f.write("[disk]\nserial = USBLAB-MSC-3\nvidpid = nothex\n")
        rej = wait_for(lambda: [e for e in events(d, kind="config-rejected")])
        tap(rej and "devices.conf:3" in rej[-1]["detail"],
            "a bad edit is refused with file:line", rej[-1]["detail"] if rej else None)
        tap("serial-a" in boards(d) and "disk" in boards(d), "the last good registry stays")
        r = ctl(d, "reload")
        tap("error" in r and r["error"].get("code") == "config",
            "the reload verb reports the bad file", r)
        with open(conf, "w") as f:
            f.write("[disk]\nserial = USBLAB-MSC-3\n")
        os.kill(d.proc.pid, signal.SIGHUP)
        tap(wait_for(lambda: "serial-a" not in boards(d) and "disk" in boards(d)),
            "SIGHUP (or the file event) reloads the fixed file", sorted(boards(d)))

        # Events survive a restart.
        n_before = len(events(d, limit=1000))
        d.stop()
        tap(d.start("--virtual", "cdc,hid,msc"), "usblabd restarts on the same database")
        old = [e for e in events(d, limit=1000) if e["kind"] == "lease-taken"]
        tap(n_before > 10 and old and old[0]["board"] == "keyboard",
            "events from before the restart are in the store", (n_before, old[:1]))
        d.stop()

        # The location cache: a board that is not there now is still described.
        tap(d.start("--virtual", "cdc,hid"), "usblabd restarts without the disk")
        info = ctl(d, "info", name="disk").get("result", {})
        board = info.get("board", info)
        tap(board.get("state") == "absent" and board.get("busid") == "0-3" and
            board.get("serial") == "USBLAB-MSC-3" and board.get("last_seen"),
            "an offline board's info shows where it was last seen", board)
        d.stop()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
