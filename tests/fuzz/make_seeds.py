#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpora of the lib/usbip fuzz targets.

usage: tests/fuzz/make_seeds.py [OUTDIR]   (default: tests/fuzz/corpus)

Every seed is built here from shared/docs/usbip-protocol.md (section numbers
below), independently of the C codec: the messages of tests/codec's vectors
plus edge cases at each named limit. Output is deterministic; re-running it
rewrites seed-*.bin and leaves regression-*.bin files alone.
"""
import os
import struct
import sys

VERSION = 0x0111
MAX_TRANSFER = 16 * 1024 * 1024
MAX_ISO = 1024
MAX_DEVLIST = 256
MAX_IFS = 32


def op_common(code, status=0):
    # §2.1: version, code (u16 BE), status (u32 BE)
    return struct.pack(">HHI", VERSION, code, status)


def device(path, busid, busnum, devnum, speed, vid, pid, bcd, cls, cfg, ncfg, nif):
    # §2.3: the 312-byte usbip_usb_device record
    return (path.ljust(256, b"\0") + busid.ljust(32, b"\0") +
            struct.pack(">IIIHHH", busnum, devnum, speed, vid, pid, bcd) +
            bytes(cls) + bytes([cfg, ncfg, nif]))


def interfaces(recs):
    return b"".join(bytes([c, s, p, 0]) for c, s, p in recs)


DEV1 = device(b"/sys/devices/pci0000:00/0000:00:1d.0/usb2/2-1", b"2-1", 2, 3, 3,
              0x0781, 0x5567, 0x0100, (0, 0, 0), 1, 1, 1)
DEV1_IFS = interfaces([(0x08, 0x06, 0x50)])
DEV2 = device(b"/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1.4", b"1-1.4", 1, 5, 2,
              0x046d, 0xc52b, 0x1211, (0xef, 0x02, 0x01), 1, 2, 3)
DEV2_IFS = interfaces([(3, 1, 1), (3, 1, 2), (0xff, 0x5d, 0x01)])


def devlist(devs):
    return op_common(0x0005) + struct.pack(">I", len(devs)) + b"".join(devs)


def header(cmd, seq, devid, direction, ep, fields, tail=b"\0" * 8):
    # §3.1 basic header + §3.2 command part: five s32/u32 fields + 8 bytes
    return struct.pack(">IIIII", cmd, seq, devid, direction, ep) + \
        struct.pack(">iiiii", *fields) + tail


def cmd_submit(seq, direction, ep, flags, tbl, sf, np, interval, setup=b"\0" * 8):
    return header(1, seq, 0x00010002, direction, ep,
                  (flags, tbl, sf, np, interval), setup)


def ret_submit(seq, status, actual, sf, np, errors):
    return header(3, seq, 0, 0, 0, (status, actual, sf, np, errors))


def unlink(cmd, seq, devid, value):
    return struct.pack(">IIIIIi", cmd, seq, devid, 0, 0, value) + b"\0" * 24


def iso_desc(packets):
    # §3.4: offset, length, actual_length (u32 BE), status (s32 BE)
    return b"".join(struct.pack(">IIIi", *p) for p in packets)


GET_DESC_SETUP = bytes([0x80, 0x06, 0x00, 0x01, 0x00, 0x00, 0x12, 0x00])
DEVICE_DESC = bytes([0x12, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x40, 0x6b, 0x1d, 0x04,
                     0x01, 0x00, 0x01, 0x03, 0x02, 0x01, 0x01])

ISO_IN_REQ = [(0, 64, 0, 0), (64, 64, 0, 0), (128, 64, 0, 0)]
ISO_IN_REP = [(0, 64, 10, 0), (64, 64, 0, -18), (128, 64, 20, 0)]
ISO_IN_DATA = bytes(range(0xa0, 0xaa)) + bytes(range(0xc0, 0xd4))

# frame flags of usbip_frame_size: 1 = ISO endpoint, 2 = pending URB is IN
ISO, DIR_IN = 1, 2

OP_SEEDS = {
    "req-devlist": op_common(0x8005),
    "rep-devlist-2dev": devlist([DEV1 + DEV1_IFS, DEV2 + DEV2_IFS]),
    "rep-devlist-0dev": devlist([]),
    "rep-devlist-max-ifs": devlist([DEV1[:-1] + bytes([MAX_IFS]) +
                                    interfaces([(i, i, i) for i in range(MAX_IFS)])]),
    "rep-devlist-ifs-over": devlist([DEV1[:-1] + bytes([MAX_IFS + 1]) +
                                     interfaces([(i, i, i) for i in range(MAX_IFS + 1)])]),
    "rep-devlist-ndev-over": op_common(0x0005) + struct.pack(">I", MAX_DEVLIST + 1),
    "rep-devlist-truncated": devlist([DEV1 + DEV1_IFS, DEV2 + DEV2_IFS])[:400],
    "req-import": op_common(0x8003) + b"1-1.4".ljust(32, b"\0"),
    "req-import-unterminated": op_common(0x8003) + b"x" * 32,
    "rep-import-ok": op_common(0x0003) + DEV2,
    "rep-import-nodev": op_common(0x0003, 4),
    "rep-import-busy": op_common(0x0003, 2),
    "rep-import-path-unterminated": op_common(0x0003) + b"p" * 256 + DEV2[256:],
    "bad-version": struct.pack(">HHI", 0x0110, 0x8005, 0),
    "devinfo": op_common(0x8002),
}

URB_SEEDS = {
    "cmd-get-desc": (0, cmd_submit(1, 1, 0, 0x200, 18, 0, 0, 0, GET_DESC_SETUP)),
    "ret-get-desc": (DIR_IN, ret_submit(1, 0, 18, 0, 0, 0) + DEVICE_DESC),
    "cmd-bulk-out": (0, cmd_submit(2, 0, 2, 0x40, 8, 0, 0, 0) + b"usblab!\n"),
    "ret-bulk-out": (0, ret_submit(2, 0, 8, 0, 0, 0)),
    "cmd-bulk-in-np-m1": (0, cmd_submit(6, 1, 1, 0x200, 512, 0, -1, 0)),
    "cmd-intr-in": (0, cmd_submit(7, 1, 3, 0x200, 8, -1, 0, 8)),
    "cmd-iso-in": (ISO, cmd_submit(3, 1, 5, 0x202, 192, 0, 3, 1) + iso_desc(ISO_IN_REQ)),
    "ret-iso-in": (ISO | DIR_IN, ret_submit(3, 0, 30, 0x123, 3, 1) + ISO_IN_DATA +
                   iso_desc(ISO_IN_REP)),
    "cmd-iso-out": (ISO, cmd_submit(4, 0, 4, 0x2, 32, 16, 2, 1) + bytes(range(32)) +
                    iso_desc([(0, 16, 0, 0), (16, 16, 0, 0)])),
    "ret-iso-out": (ISO, ret_submit(4, 0, 32, 16, 2, 0) +
                    iso_desc([(0, 16, 16, 0), (16, 16, 16, 0)])),
    "cmd-iso-np0": (ISO, cmd_submit(9, 1, 5, 0x202, 0, 0, 0, 1)),
    "cmd-iso-np-over": (ISO, cmd_submit(9, 1, 5, 0x202, 0, 0, MAX_ISO + 1, 1)),
    "cmd-iso-np-m1": (ISO, cmd_submit(9, 1, 5, 0x202, 0, 0, -1, 1)),
    "cmd-tbl-max": (0, cmd_submit(10, 1, 1, 0x200, MAX_TRANSFER, 0, 0, 0)),
    "cmd-tbl-over": (0, cmd_submit(10, 0, 1, 0, MAX_TRANSFER + 1, 0, 0, 0)),
    "cmd-tbl-negative": (0, cmd_submit(10, 0, 1, 0, -1, 0, 0, 0)),
    "ret-actual-negative": (DIR_IN, ret_submit(11, -32, -1, 0, 0, 0)),
    "cmd-unlink": (0, unlink(2, 8, 0x00010002, 3)),
    "ret-unlink": (0, unlink(4, 8, 0, -104)),
    "unknown-command": (0, unlink(5, 8, 0, 0)),
}


def iso_input(np, buflen, raw, packets, data):
    return struct.pack("<H", np) + struct.pack(">I", buflen) + bytes([raw]) + \
        iso_desc(packets) + data


ISO_SEEDS = {
    "in-gaps": iso_input(3, 192, 0, ISO_IN_REP, bytes(range(192))),
    "contiguous-short": iso_input(3, 24, 0, [(0, 8, 8, 0), (8, 8, 3, 0), (16, 8, 8, 0)],
                                  bytes(range(24))),
    "full": iso_input(2, 32, 0, [(0, 16, 16, 0), (16, 16, 16, 0)], bytes(range(32))),
    "np0": iso_input(0, 16, 0, [], b""),
    "beyond-buflen": iso_input(2, 48, 1, [(0, 16, 4, 0), (33, 16, 16, 0)], b""),
    "overlapping": iso_input(3, 32, 1, [(0, 32, 32, 0)] * 3, b""),
    "wrap": iso_input(1, 100, 1, [(0xfffffff0, 0x20, 4, 0)], b""),
    "np-over": iso_input(MAX_ISO + 1, 0, 0, [], b""),
    "max-packets": iso_input(MAX_ISO, 12 * MAX_ISO, 0,
                             [(i * 12, 12, i % 13, 0) for i in range(MAX_ISO)], b""),
}

ROUNDTRIP_SEEDS = {
    "req-import": bytes([0]) + OP_SEEDS["req-import"],
    "rep-import-ok": bytes([1]) + OP_SEEDS["rep-import-ok"],
    "rep-import-nodev": bytes([1]) + OP_SEEDS["rep-import-nodev"],
    "rep-devlist-2dev": bytes([2]) + OP_SEEDS["rep-devlist-2dev"],
    "device-3ifs": bytes([3]) + DEV2 + DEV2_IFS,
    "cmd-get-desc": bytes([4]) + URB_SEEDS["cmd-get-desc"][1],
    "ret-iso-in": bytes([4]) + URB_SEEDS["ret-iso-in"][1][:48],
    "cmd-unlink": bytes([4]) + URB_SEEDS["cmd-unlink"][1],
    "ret-unlink": bytes([4]) + URB_SEEDS["ret-unlink"][1],
    "iso-3": bytes([5, 3]) + iso_desc(ISO_IN_REP),
}


# fuzz_server: byte 0 is the harness's flags (bit 0: import "1-1" first;
# bit 2: URBs complete at once; bit 3: cancels race a completion; bit 5: a
# limit of 3 URBs in flight; bit 6: a small memory budget; bit 7: 64-byte
# chunks); byte 1 the URB memory contract of usbip_server.h (0: the
# single-block path), then the client stream.
SERVER_STREAM = (
    cmd_submit(1, 1, 0, 0x200, 18, 0, 0, 0, GET_DESC_SETUP)
    + cmd_submit(2, 0, 0, 0, 0, 0, 0, 0, bytes([0, 9, 1, 0, 0, 0, 0, 0]))
    + cmd_submit(3, 1, 1, 0x200, 512, 0, 0, 0)
    + cmd_submit(4, 0, 1, 0x40, 8, 0, -1, 0) + b"ABCDEFGH"
    + cmd_submit(5, 1, 2, 0x200, 8, -1, 0, 8)
    + unlink(2, 6, 0x00010002, 3)
    + unlink(2, 7, 0x00010002, 99)
    + cmd_submit(8, 1, 3, 0x202, 300, 0, 3, 1)
    + iso_desc([(0, 100, 0, 0), (100, 100, 0, 0), (200, 100, 0, 0)])
    + cmd_submit(9, 0, 3, 0x2, 8, 0, 2, 1) + b"\x01" * 8
    + iso_desc([(0, 4, 0, 0), (4, 4, 0, 0)])
    + cmd_submit(10, 0, 5, 0, 4, 0, 0, 0) + b"zzzz"
    + unlink(2, 11, 0x00010002, 5)
)
SERVER_SEEDS = {
    "held-bytewise": bytes([0x01, 0]) + SERVER_STREAM,
    "held-chunks": bytes([0x81, 0]) + SERVER_STREAM,
    "inline": bytes([0x85, 0]) + SERVER_STREAM,
    "race-limit3": bytes([0xA9, 0]) + SERVER_STREAM,
    "op-devlist": bytes([0x80, 0]) + op_common(0x8005),
    "op-import-then-urbs": bytes([0x80, 0]) + op_common(0x8003) + b"1-1".ljust(32, b"\0")
    + SERVER_STREAM,
    # issue 13: imports by board name (NAME#TOKEN) and the lookup's refusals
    "op-import-by-name": bytes([0x80, 0]) + op_common(0x8003)
    + b"board#0123456789abcdefghijklmno".ljust(32, b"\0") + SERVER_STREAM,
    "op-import-locked": bytes([0x80, 0]) + op_common(0x8003) + b"busy#x".ljust(32, b"\0"),
    "op-import-errno": bytes([0x80, 0]) + op_common(0x8003) + b"gone".ljust(32, b"\0"),
}

# Byte 1: bit 0 the backend offers data_alloc (its own memory for URB
# data, as libusb's usbfs buffers), bit 1 the transport send_split, bit 2
# charge, bit 3 data_alloc declines every second request, bit 4 OUT payloads
# are received through usbip_conn_rx_window (as usblabd's on_read) in pieces
# of 1, 7, 64 bytes or whole (bits 5-6), bit 7 the transport keeps replies
# queued (sent when the last byte fed is odd, the rest after the device's
# close) and refuses output when 8 are queued.
MEM, SPLIT, CHARGE, DECLINE, WINDOW, QUEUE = 0x01, 0x02, 0x04, 0x08, 0x10, 0x80
ZEROCOPY = MEM | SPLIT | CHARGE
PIECE1, PIECE7, PIECE64, WHOLE = 0x00, 0x20, 0x40, 0x60
SET_REPORT = bytes([0x21, 0x09, 0x00, 0x02, 0x00, 0x00, 0x10, 0x00])
MEM_STREAM = (
    cmd_submit(1, 1, 0, 0x200, 18, 0, 0, 0, GET_DESC_SETUP)
    + cmd_submit(2, 0, 1, 0, 300, 0, 0, 0) + bytes((i * 7) & 0xff for i in range(300))
    + cmd_submit(3, 1, 1, 0x200, 512, 0, 0, 0)
    + cmd_submit(4, 1, 2, 0x200, 64, -1, 0, 8)
    + unlink(2, 5, 0x00010002, 3)
    + cmd_submit(6, 0, 0, 0, 16, 0, 0, 0, SET_REPORT) + b"0123456789abcdef"
    + cmd_submit(7, 0, 3, 0x2, 8, 0, 2, 1) + b"\x02" * 8
    + iso_desc([(0, 4, 0, 0), (4, 4, 0, 0)])
    + cmd_submit(8, 0, 1, 0, 0, 0, 0, 0)
    + cmd_submit(9, 0, 2, 0, 4, 0, 0, 0) + b"nope"
    + cmd_submit(10, 0, 1, 0, 100, 0, 0, 0) + bytes(range(100))
    + unlink(2, 11, 0x00010002, 10)
    + cmd_submit(12, 1, 1, 0x200, 1, 0, 0, 0)
)
# The small budget (200000 bytes, bit 6 of byte 0): the first URB's data,
# charged to its block, leaves no room for the second one's block, whose
# data the backend had handed out (the first reply is still queued: the
# last byte of the first chunk, the second header's direction, is even).
MEM_BUDGET_STREAM = (
    cmd_submit(1, 1, 1, 0x200, 199900, 0, 0, 0)
    + cmd_submit(2, 0, 1, 0, 64, 0, 0, 0)
    + cmd_submit(3, 1, 1, 0x200, 512, 0, 0, 0)
)
# Unlinks of URBs the backend still holds, which with bit 3 of byte 0
# finish before the cancel takes: RET_SUBMIT, then RET_UNLINK(0) (§4.3).
RACE_STREAM = b"".join(cmd_submit(s, 1, 1, 0x200, 512, 0, 0, 0) for s in range(1, 9)) + (
    unlink(2, 9, 0x00010002, 8)
    + unlink(2, 10, 0x00010002, 7)
    + cmd_submit(11, 0, 1, 0, 100, 0, 0, 0) + bytes(range(100))
    + unlink(2, 12, 0x00010002, 11)
)
# ISO descriptors outside the buffer end the connection when the window's
# commit completes the payload, while the backend holds IN URBs: they
# complete on a connection that is closing. Twenty headers end on a 64-byte
# chunk, so the payload goes through the window; one URB finishes a chunk.
ISO_BAD_HELD_STREAM = b"".join(cmd_submit(s, 1, 1, 0x200, 64, 0, 0, 0) for s in range(1, 20)) + (
    cmd_submit(7, 0, 3, 0x2, 8, 0, 1, 1) + b"\x03" * 8 + iso_desc([(100, 8, 0, 0)])
)
# More replies than the transport's queue holds before it sends any.
FLOOD_STREAM = b"".join(cmd_submit(s, 1, 1, 0x200, 64, 0, 0, 0) for s in range(1, 13))
SERVER_SEEDS.update({
    "mem-split-bytewise": bytes([0x01, ZEROCOPY]) + MEM_STREAM,
    "mem-split-chunks": bytes([0x81, ZEROCOPY]) + SERVER_STREAM,
    "mem-window-1": bytes([0x01, ZEROCOPY | WINDOW | PIECE1]) + MEM_STREAM,
    "mem-window-64": bytes([0x81, ZEROCOPY | WINDOW | PIECE64]) + MEM_STREAM,
    "mem-window-whole-queued": bytes([0x85, ZEROCOPY | WINDOW | WHOLE | QUEUE]) + MEM_STREAM,
    "mem-decline-window-7": bytes([0x81, ZEROCOPY | DECLINE | WINDOW | PIECE7]) + MEM_STREAM,
    "mem-race-limit3-queued": bytes([0xA9, ZEROCOPY | WINDOW | PIECE64 | QUEUE]) + MEM_STREAM,
    "mem-no-charge": bytes([0x81, MEM | SPLIT | WINDOW | PIECE7]) + MEM_STREAM,
    # data_alloc offered, send_split not: the core must never ask for it
    "mem-no-split": bytes([0x81, MEM | CHARGE | WINDOW | PIECE64]) + MEM_STREAM,
    "mem-window-only": bytes([0x81, WINDOW | PIECE7]) + MEM_STREAM,
    "mem-budget": bytes([0xC1, ZEROCOPY | QUEUE]) + MEM_BUDGET_STREAM,
    "mem-op-import": bytes([0x80, ZEROCOPY | WINDOW | PIECE64]) + op_common(0x8003)
    + b"1-1".ljust(32, b"\0") + MEM_STREAM,
    "race-unlink-held": bytes([0x89, 0]) + RACE_STREAM,
    "mem-race-unlink-held": bytes([0x89, ZEROCOPY | WINDOW | PIECE7 | QUEUE]) + RACE_STREAM,
    "mem-window-iso-bad-held": bytes([0x81, ZEROCOPY | WINDOW | WHOLE]) + ISO_BAD_HELD_STREAM,
    "queue-full": bytes([0x85, QUEUE]) + FLOOD_STREAM,
    "mem-queue-full": bytes([0x85, ZEROCOPY | QUEUE]) + FLOOD_STREAM,
    "mem-queue-full-held": bytes([0x81, ZEROCOPY | WINDOW | WHOLE | QUEUE]) + FLOOD_STREAM
    + MEM_STREAM,
})


def write(outdir, target, seeds):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    for name in os.listdir(d):
        if name.startswith("seed-"):
            os.unlink(os.path.join(d, name))
    for name, data in seeds.items():
        with open(os.path.join(d, "seed-" + name + ".bin"), "wb") as f:
            f.write(data)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    assert len(DEV1) == 312 and len(DEV2) == 312
    assert len(URB_SEEDS["cmd-get-desc"][1]) == 48
    write(outdir, "op", OP_SEEDS)
    write(outdir, "urb", {k: bytes([f]) + m for k, (f, m) in URB_SEEDS.items()})
    write(outdir, "iso", ISO_SEEDS)
    write(outdir, "roundtrip", ROUNDTRIP_SEEDS)
    write(outdir, "server", SERVER_SEEDS)


if __name__ == "__main__":
    main()
