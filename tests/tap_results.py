#!/usr/bin/env python3
"""Turns meson's testlog.json into PASS/FAIL/SKIP lines, one per test.

cmocka programs run with CMOCKA_MESSAGE_OUTPUT=TAP report every test case
as `ok N - name` / `not ok N - name`; those are counted one by one. Other
programs may print `PASS: name` / `FAIL: name: why` / `SKIP: name: why`
lines themselves. A program that printed neither counts once, by its exit
status; one that failed or crashed after printing results adds a FAIL.
"""
import json
import re
import sys

TAP = re.compile(r"^(not ok|ok)\s+\d+\s*-?\s*(.*?)(\s+#\s*(SKIP|skip)\s*(.*))?$")
OWN = re.compile(r"^(PASS|FAIL|SKIP): (.*)$")


def main(path):
    for line in open(path, encoding="utf-8"):
        t = json.loads(line)
        name, result = t["name"], t["result"]
        out = (t.get("stdout") or "") + "\n" + (t.get("stderr") or "")
        seen = 0
        for l in out.splitlines():
            m = TAP.match(l.strip())
            if m:
                seen += 1
                case = f"{name}: {m.group(2)}"
                if m.group(4):
                    print(f"SKIP: {case}: {m.group(5) or 'skipped'}")
                elif m.group(1) == "ok":
                    print(f"PASS: {case}")
                else:
                    print(f"FAIL: {case}: assertion failed (see meson-logs/testlog.txt)")
                continue
            m = OWN.match(l.strip())
            if m:
                seen += 1
                print(f"{m.group(1)}: {name}: {m.group(2)}")
        if result == "SKIP" and not seen:
            print(f"SKIP: {name}: skipped by the test program")
        elif result != "OK" and result != "SKIP":
            print(f"FAIL: {name}: exit {result} (see meson-logs/testlog.txt)")
        elif not seen:
            print(f"PASS: {name}")


if __name__ == "__main__":
    main(sys.argv[1])
