#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""daemon_modes.py USBLABD - one identity across modes, end to end, in a
real usblabd (issue 15).

usblabd serves --virtual esp32:reenum (an ESP32-S3 on USB-OTG: 303a:4001
running its app, 303a:0002 in its ROM) and a cdc, with a registry listing
both identities of the ESP32 ([esp-a] and [esp-a:rom]). Through the
control socket and raw USB/IP:
  - a lease is taken; a client imports esp-a#TOKEN and sends esptool's
    classic reset as CDC SET_CONTROL_LINE_STATE requests: the device leaves
    (the client's connection ends), the events say departed then
    re-enumerated (app → rom), and the board keeps its name, lease and
    export, now as 303a:0002;
  - an import by name after the change gets the ROM (OP_REP_IMPORT's
    idProduct), without the token it is refused;
  - `unplug`: a URB the client has in flight ends with ENODEV and the
    connection closes; departed; `replug` brings it back powered on (the
    app again); the errors: unknown board, not a virtual device, unplugged
    twice, replug of a plugged device;
  - `probe` of the virtual board answers no_port (its tty is on a client).
Prints TAP.
"""
import os
import socket
import struct
import sys
import tempfile
import time

from benchlib import Daemon, ctl, finish, tap

ENODEV = 19


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def op_import(d, busid):
    """(status, idProduct, devid, socket) of an OP_REQ_IMPORT."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    s.sendall(struct.pack(">HHI", 0x0111, 0x8003, 0) + busid.encode().ljust(32, b"\0"))
    _, _, st = struct.unpack(">HHI", recv_exact(s, 8))
    if st != 0:
        s.close()
        return st, None, None, None
    rec = recv_exact(s, 312)
    busnum, devnum = struct.unpack(">II", rec[288:296])
    pid = struct.unpack(">H", rec[302:304])[0]
    return st, pid, (busnum << 16) | devnum, s


def cmd_submit(s, seq, devid, ep, dir_in, length, setup=b"\0" * 8, data=b""):
    s.sendall(struct.pack(">IIIIIIIiii", 1, seq, devid, dir_in, ep, 0, length, 0, 0, 0) +
              setup + data)


def ret_submit(s, dir_in=False):
    """(seqnum, status, data) of the next RET_SUBMIT, or None at EOF. A
    reply's header says no direction (§4.2): the caller knows it."""
    hdr = recv_exact(s, 48)
    if len(hdr) < 48:
        return None
    cmd, seq, _, _, _, status, actual = struct.unpack(">IIIIIiI", hdr[:28])
    data = recv_exact(s, actual) if dir_in and actual > 0 else b""
    return seq, status, data


def set_lines(s, seq, devid, lines):
    # SET_CONTROL_LINE_STATE (PSTN 1.2 §6.3.12): bit 0 DTR, bit 1 RTS.
    cmd_submit(s, seq, devid, 0, 0, 0, struct.pack("<BBHHH", 0x21, 0x22, lines, 0, 0))
    return ret_submit(s)


def closed(s, seconds=5.0):
    """True when the server closes the connection within seconds."""
    s.settimeout(seconds)
    try:
        while True:
            if not s.recv(4096):
                return True
    except OSError:
        return False


def events(d, **q):
    return ctl(d, "events", **q).get("result", {}).get("events", [])


def wait_for(pred, seconds=5.0):
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    return pred()


def board(d, name):
    return {b["name"]: b for b in ctl(d, "list")["result"]["boards"]}.get(name, {})


def kinds_after(d, seq, name):
    return [(e["kind"], e.get("detail", "")) for e in events(d, board=name)
            if e["seq"] > seq]


def last_seq(d):
    evs = events(d, limit=1)
    return evs[0]["seq"] if evs else 0


def err_code(reply):
    return reply.get("error", {}).get("code")


def main():
    exe = sys.argv[1]
    print("TAP version 13", flush=True)
    with tempfile.TemporaryDirectory(prefix="usblab-modes-") as top:
        conf_dir = os.path.join(top, "cfg", "usblab")
        os.makedirs(conf_dir)
        with open(os.path.join(conf_dir, "devices.conf"), "w") as f:
            f.write("[esp-a]\nserial = USBLAB-ESP32-1\ntype = esp32\n"
                    "[esp-a:rom]\nvidpid = 303a:0002\nserial = USBLAB-ESP32ROM-1\n"
                    "[ser]\nserial = USBLAB-CDC-2\n"
                    "[ghost]\nserial = NOT-PLUGGED-IN\n")
        d = Daemon(exe, top)
        if not d.start("--virtual", "esp32:reenum,cdc"):
            tap(False, "usblabd starts")
            return finish()
        try:
            run(d)
        finally:
            d.stop()
            log = os.path.join(top, "usblabd.log")
            if not all(__import__("benchlib").TAP.results) and os.path.exists(log):
                with open(log, errors="replace") as f:
                    sys.stdout.write("".join("# " + l for l in f.readlines()[-40:]))
    return finish()


def run(d):
    b = board(d, "esp-a")
    tap(b.get("state") == "exported" and b.get("mode") == "app" and b.get("pid") == "4001",
        "esp-a is exported as its app (303a:4001)", b)

    r = ctl(d, "checkout", name="esp-a", reason="flash")
    token = r.get("result", {}).get("token", "")
    since = r.get("result", {}).get("since")
    tap(len(token) == 12 and since, "checkout esp-a", r)

    st, pid, devid, s = op_import(d, f"esp-a#{token}")
    tap(st == 0 and pid == 0x4001, "import esp-a#TOKEN gets the app", (st, pid))
    mark = last_seq(d)
    # esptool's ClassicReset: DTR=0 RTS=1 (EN low), DTR=1 RTS=1, DTR=1
    # RTS=0 (IO0 low as EN rises): the chip boots its ROM and USB-OTG
    # re-enumerates.
    replies = [set_lines(s, n + 1, devid, v) for n, v in enumerate((2, 3, 1))]
    tap(all(r is not None and r[1] == 0 for r in replies),
        "SET_CONTROL_LINE_STATE x3 answered", replies)
    tap(closed(s), "the connection ends as the device leaves the bus")
    s.close()

    def reenumerated():
        return [k for k in kinds_after(d, mark, "esp-a") if k[0] == "re-enumerated"]

    got = wait_for(reenumerated)
    kinds = [k for k, _ in kinds_after(d, mark, "esp-a")]
    tap(got and "app \u2192 rom" in got[0][1], "re-enumerated (app \u2192 rom)",
        kinds_after(d, mark, "esp-a"))
    tap("departed" in kinds and kinds.index("departed") < kinds.index("re-enumerated"),
        "departed before re-enumerated", kinds)
    b = wait_for(lambda: board(d, "esp-a") if board(d, "esp-a").get("state") == "exported"
                 else None)
    b = b or board(d, "esp-a")
    tap(b.get("mode") == "rom" and b.get("pid") == "0002" and b.get("state") == "exported",
        "esp-a is exported again, in its ROM (303a:0002)", b)
    lease = b.get("lease") or {}
    # (A listing shows no token; the same lease has the same start.)
    tap(lease.get("since") == since and lease.get("reason") == "flash",
        "the lease is kept across the change", lease)
    tap("0-1" not in {x["name"] for x in ctl(d, "list")["result"]["boards"]},
        "no second board under the busid")

    st, _, _, s = op_import(d, "esp-a")
    tap(st != 0, "import by name without the token is refused", st)
    st, pid, devid, s = op_import(d, f"esp-a#{token}")
    tap(st == 0 and pid == 0x0002, "import esp-a#TOKEN after the change gets the ROM", (st, pid))

    # unplug while a URB is held (bulk IN, nothing to read in the ROM).
    cmd_submit(s, 50, devid, 2, 1, 64)
    # A control request behind it: once it is answered, the core has
    # handed the IN URB to the device (it reads commands in order).
    cmd_submit(s, 51, devid, 0, 1, 18, struct.pack("<BBHHH", 0x80, 6, 0x0100, 0, 18))
    rep = ret_submit(s, True)
    tap(rep is not None and rep[0] == 51 and rep[1] == 0 and rep[2][10:12] == b"\x02\x00",
        "GET_DESCRIPTOR answered (idProduct 0002) while the IN URB is held", rep)
    mark = last_seq(d)
    r = ctl(d, "unplug", name="esp-a")
    tap(r.get("result", {}).get("state") == "unplugged", "unplug esp-a", r)
    rep = ret_submit(s)
    tap(rep is not None and rep[0] == 50 and rep[1] == -ENODEV,
        "the URB in flight ends with ENODEV", rep)
    tap(closed(s), "then the connection closes")
    s.close()
    tap(wait_for(lambda: "departed" in [k for k, _ in kinds_after(d, mark, "esp-a")]),
        "unplug: departed", kinds_after(d, mark, "esp-a"))
    tap(board(d, "esp-a").get("state") == "absent", "esp-a is absent while unplugged")
    r = ctl(d, "unplug", name="esp-a")
    tap(err_code(r) == "unplugged", "unplug twice: 'unplugged'", r)

    mark = last_seq(d)
    r = ctl(d, "replug", name="esp-a")
    tap(r.get("result", {}).get("state") == "plugged" and r["result"].get("pid") == "4001",
        "replug esp-a: powered on, running its app", r)
    got = wait_for(reenumerated)
    tap(got and "rom \u2192 app" in got[0][1], "re-enumerated (rom \u2192 app)",
        kinds_after(d, mark, "esp-a"))
    b = board(d, "esp-a")
    tap(b.get("state") == "exported" and b.get("mode") == "app" and
        (b.get("lease") or {}).get("since") == since, "exported, app, lease kept", b)
    r = ctl(d, "replug", name="esp-a")
    tap(err_code(r) == "plugged", "replug of a plugged device: 'plugged'", r)

    # The cdc, by busid: out and back.
    r = ctl(d, "unplug", busid="0-2")
    tap(r.get("result", {}).get("busid") == "0-2", "unplug by busid", r)
    tap(board(d, "ser").get("state") == "absent", "ser is absent")
    r = ctl(d, "replug", busid="0-2")
    tap(r.get("result", {}).get("state") == "plugged", "replug by busid", r)
    tap(wait_for(lambda: board(d, "ser").get("state") == "exported"), "ser is exported again")

    for params, code, what in (({"name": "nope"}, "unknown_board", "unknown board"),
                               ({"busid": "9-9"}, "unknown_board", "unknown busid"),
                               ({"name": "ghost"}, "not_virtual", "not a virtual device"),
                               ({}, "bad_request", "neither name nor busid")):
        r = ctl(d, "unplug", **params)
        tap(err_code(r) == code, f"unplug, {what}: '{code}'", r)

    # The daemon's ESP32 verbs need the tty on its machine: a virtual
    # board's is on whichever client attached it.
    r = ctl(d, "probe", name="esp-a")
    tap(err_code(r) == "no_port", "probe of a virtual board: 'no_port'", r)
    r = ctl(d, "bootloader", name="ser")
    tap(err_code(r) == "not_esp32", "bootloader of a board not of type esp32", r)


if __name__ == "__main__":
    sys.exit(main())
