#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kill9_leases.py USBLABD - no lease lost or doubled across kill -9.

Starts a real usblabd (temporary XDG directories, a registry of 12 boards)
and 24 client threads that check boards out and in through the control
socket, each with its own holder tag, until about 1,000 operations have been
answered; usblabd is killed with SIGKILL at a random moment in that run.
Then a new usblabd opens the same database and every board's lease must be
what the answered operations imply, allowing only the one operation each
thread had in flight: no lease a client was told about is lost, none is
doubled, and a surviving lease keeps the token its holder was given.

A second round checks 50 concurrent checkouts of one board: exactly one wins.
Prints TAP.
"""
import os
import random
import sys
import tempfile
import threading
import time

from benchlib import Client, Daemon, finish, tap

BOARDS = [f"b{i:02d}" for i in range(12)]
THREADS = 24
TARGET_OPS = 1000

class Worker(threading.Thread):
    """Checks a random board out, then in, again and again."""

    def __init__(self, daemon, idx, counter):
        super().__init__(daemon=True)
        self.tag = f"t{idx}"
        self.daemon_ = daemon
        self.counter = counter
        self.acked = []      # (board, op, token) in the order answered
        self.pending = None  # (board, op) sent, not answered
        self.held = None

    def run(self):
        try:
            c = Client(self.daemon_.sock)
        except OSError:
            return
        rnd = random.Random(self.tag)
        try:
            while True:
                if self.held:
                    board = self.held
                    self.pending = (board, "checkin")
                    r = c.call("checkin", name=board, tag=self.tag)
                    if "result" in r:
                        self.acked.append((board, "checkin", None))
                        self.held = None
                else:
                    board = rnd.choice(BOARDS)
                    self.pending = (board, "checkout")
                    r = c.call("checkout", name=board, tag=self.tag, duration=3600)
                    if "result" in r:
                        self.acked.append((board, "checkout", r["result"]["token"]))
                        self.held = board
                self.pending = None
                self.counter.append(1)
        except (OSError, ValueError):
            return  # the daemon was killed: self.pending stays as it was


def expected_states(workers):
    """Per board: the set of (holder tag or None) allowed, and the tokens."""
    state = {b: None for b in BOARDS}
    token = {}
    # Each board alternates checkout(H) / checkin(H); replay per worker is
    # enough because a worker's own operations on a board are ordered and
    # only the holder can check in.
    events = []
    for w in workers:
        for i, (board, op, tok) in enumerate(w.acked):
            events.append((board, op, w.tag, tok))
    holders = {b: [] for b in BOARDS}
    for board, op, tag, tok in events:
        holders[board].append((op, tag, tok))
    for b in BOARDS:
        outs = {}
        for op, tag, tok in holders[b]:
            outs.setdefault(tag, 0)
            outs[tag] += 1 if op == "checkout" else -1
            if op == "checkout":
                token[(b, tag)] = tok
        open_tags = [t for t, v in outs.items() if v == 1]
        bad = [t for t, v in outs.items() if v not in (0, 1)]
        if bad or len(open_tags) > 1:
            return None, None, f"{b}: answered operations inconsistent: {outs}"
        state[b] = open_tags[0] if open_tags else None
    # Operations sent but not answered may have been committed, in any
    # order that the lease rules allow (a checkin, then another thread's
    # checkout): every state reachable through them is allowed.
    allowed = {}
    for b in BOARDS:
        pend = [(w.tag, w.pending[1]) for w in workers if w.pending and w.pending[0] == b]
        seen, todo = set(), [(state[b], frozenset())]
        while todo:
            holder, used = todo.pop()
            if (holder, used) in seen:
                continue
            seen.add((holder, used))
            for i, (tag, op) in enumerate(pend):
                if i in used:
                    continue
                if op == "checkin" and holder == tag:
                    todo.append((None, used | {i}))
                elif op == "checkout" and holder is None:
                    todo.append((tag, used | {i}))
        allowed[b] = {h for h, _ in seen}
    return allowed, token, state


def main():
    exe = sys.argv[1]
    print("TAP version 13", flush=True)
    with tempfile.TemporaryDirectory(prefix="usblab-kill9-") as top:
        os.makedirs(os.path.join(top, "cfg", "usblab"))
        with open(os.path.join(top, "cfg", "usblab", "devices.conf"), "w") as f:
            for i, b in enumerate(BOARDS):
                f.write(f"[{b}]\nserial = USBLAB-TEST-{i}\n")
        d = Daemon(exe, top)
        tap(d.start("-q"), "usblabd starts with a store and a control socket")
        counter = []
        workers = [Worker(d, i, counter) for i in range(THREADS)]
        for w in workers:
            w.start()
        kill_at = random.Random().randint(TARGET_OPS // 3, TARGET_OPS)
        t0 = time.monotonic()
        while len(counter) < kill_at and time.monotonic() - t0 < 60:
            time.sleep(0.001)
        answered = len(counter)
        d.kill9()
        for w in workers:
            w.join(10)
        print(f"# killed after {answered} answered operations "
              f"({time.monotonic() - t0:.2f} s, {answered / (time.monotonic() - t0):.0f} ops/s)",
              flush=True)
        tap(answered >= TARGET_OPS // 3, f"{answered} operations answered before the kill")
        allowed, tokens, why = expected_states(workers)
        tap(allowed is not None, "answered operations are consistent",
            why if isinstance(why, str) else "")
        acked_state = why if isinstance(why, dict) else {}
        tap(d.start("-q"), "usblabd restarts on the same database")
        c = Client(d.sock)
        locks = c.call("locks").get("result", {}).get("locks", [])
        got = {}
        for lk in locks:
            tag = lk["holder"].split("/", 1)[1] if "/" in lk["holder"] else lk["holder"]
            got.setdefault(lk["name"], []).append(tag)
        held = sum(1 for b in BOARDS if acked_state.get(b))
        print(f"# after the restart: {len(locks)} leases; {held} boards held by answered "
              "checkouts", flush=True)
        tap(held + len(locks) > 0, "the kill left leases to check (the check is not vacuous)")
        doubled = {b: v for b, v in got.items() if len(v) > 1}
        tap(not doubled, "no board has two leases", str(doubled))
        wrong = []
        for b in BOARDS:
            have = got.get(b, [None])[0]
            if allowed and have not in allowed[b]:
                wrong.append(f"{b}: has {have}, allowed {sorted(map(str, allowed[b]))}")
        tap(not wrong, "every lease is what the answered operations imply (none lost)",
            "; ".join(wrong))
        # A surviving lease keeps its token: its holder can still use it.
        bad_tok = []
        for b in BOARDS:
            have = got.get(b, [None])[0]
            if have and (b, have) in (tokens or {}):
                r = c.call("info", name=b)
                lease = r.get("result", {}).get("lease") or {}
                # The token is not shown to others; renewing with the tag proves ownership.
                rr = c.call("renew", name=b, tag=have, duration=60)
                if "result" not in rr:
                    bad_tok.append(f"{b}: renew by {have} failed: {rr}")
        tap(not bad_tok, "surviving leases are still their holders'", "; ".join(bad_tok))

        # 50 concurrent checkouts of one board: exactly one wins.
        c.call("checkin", name="b00", force=True)
        wins, errors = [], []
        barrier = threading.Barrier(50)

        def race(i):
            try:
                cl = Client(d.sock)
                barrier.wait()
                r = cl.call("checkout", name="b00", tag=f"race{i}")
                (wins if "result" in r else errors).append(r)
                cl.close()
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append({"exception": str(e)})
        ts = [threading.Thread(target=race, args=(i,)) for i in range(50)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(30)
        codes = sorted({e.get("error", {}).get("code", "?") for e in errors})
        tap(len(wins) == 1 and len(errors) == 49 and codes == ["leased"],
            "50 concurrent checkouts of one board: exactly one wins, 49 get 'leased'",
            f"{len(wins)} won, errors {codes}")
        c.close()
        d.stop()
    return finish()


if __name__ == "__main__":
    sys.exit(main())
