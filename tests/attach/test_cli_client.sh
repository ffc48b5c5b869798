#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_cli_client.sh - usblab's client verbs over a fake vhci directory
# ($USBLAB_VHCI_DIR) and a fake run directory ($USBLAB_RUN_DIR): the error
# without vhci-hcd, `attached` (state from vhci's port table), `detach` by
# name and by port (the line written, the record and links removed),
# usage errors, an unreachable server. TAP output. The kernel's side is the
# lab's (lab/scenarios/attach.sh).
set -u
USBLAB=${USBLAB:?set USBLAB to the usblab binary}
tmp=$(mktemp -d /tmp/test-cli-client-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
n=0
failed=0

# ok STATUS NAME [DETAIL]: one TAP line; DETAIL (what was seen) only on failure.
ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else
		echo "not ok $n - $2"
		[ $# -gt 2 ] && echo "# $3"
		failed=1
	fi
}

# A record as usblab attach writes it (attach_record.c).
record() { # PORT NAME LBUSID NODE
	mkdir -p "$tmp/run/attached"
	cat >"$tmp/run/attached/$1.json" <<EOF
{"port": $1, "host": "bench1", "tcp_port": "3240", "name": "$2", "lbusid": "$3",
 "path": "/sys/devices/x", "vid": "46f4", "pid": "0001", "speed": 5,
 "since": "2026-12-03T14:00:00.000Z", "reattaches": 0, "follow_pid": 0,
 "devnodes": ["$4"], "links": {}, "link_dir": ""}
EOF
}

export USBLAB_RUN_DIR=$tmp/run
export USBLAB_VHCI_DIR=$tmp/vhci

# 1. No vhci-hcd: exit 6, the module and how to load it.
"$USBLAB" attach 127.0.0.1:1 stick >"$tmp/out" 2>"$tmp/err"
rc=$?
ok $((rc != 6)) "no vhci: exit 6" "exit $rc"
grep -q 'sudo modprobe vhci-hcd' "$tmp/err"
ok $? "no vhci: the message says modprobe vhci-hcd" "$(cat "$tmp/err")"
"$USBLAB" attach 127.0.0.1:1 stick --json >"$tmp/out" 2>/dev/null
python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["error"]; assert e["exit"] == 6 and "vhci-hcd" in e["message"]' "$tmp/out"
ok $? "no vhci: --json prints the error object" "$(cat "$tmp/out")"

# 2. attached: port 15 holds 4-1 (attached), port 3 is free again (gone).
mkdir -p "$tmp/vhci"
cat >"$tmp/vhci/status" <<EOF
hub port sta spd dev      sockfd local_busid
hs  0003 004 000 00000000 000000 0-0
ss  0015 006 005 00020002 000003 4-1
EOF
: >"$tmp/vhci/attach"
: >"$tmp/vhci/detach"
record 15 stick 4-1 /dev/sdb
record 3 cdc 3-1 /dev/ttyACM0
mkdir -p "$tmp/run/stick"
ln -s /dev/sdb "$tmp/run/stick/disk"
"$USBLAB" attached --json >"$tmp/out" 2>"$tmp/err"
ok $? "attached --json exits 0" "$(cat "$tmp/err")"
python3 - "$tmp/out" <<'EOF'
import json, sys
a = json.load(open(sys.argv[1]))["attached"]
assert [r["port"] for r in a] == [3, 15], a
assert a[0]["name"] == "cdc" and a[0]["state"] == "gone", a[0]
assert a[1]["name"] == "stick" and a[1]["state"] == "attached", a[1]
assert a[1]["host"] == "bench1" and a[1]["lbusid"] == "4-1", a[1]
EOF
ok $? "attached --json: ports in order, states from vhci's table" "$(cat "$tmp/out")"
"$USBLAB" attached >"$tmp/out"
grep -q '^15  *stick  *bench1:3240  *2026-12-03T14:00:00.000Z  *attached' "$tmp/out"
ok $? "attached: the table row for stick" "$(tr '\n' ';' <"$tmp/out")"

# 3. A second attach of the attached board is refused before any import.
"$USBLAB" attach bench1 stick >/dev/null 2>"$tmp/err"
rc=$?
ok $((rc != 1)) "attach of an attached board: exit 1" "exit $rc"
grep -q 'attached here already, on vhci port 15' "$tmp/err"
ok $? "attach of an attached board says where" "$(cat "$tmp/err")"

# 4. detach by name: the port number written, the record and links gone.
"$USBLAB" detach stick >"$tmp/out" 2>"$tmp/err"
ok $? "detach stick exits 0" "$(cat "$tmp/err")"
[ "$(cat "$tmp/vhci/detach")" = 15 ]
ok $? "detach stick wrote 15 to vhci's detach" "$(cat "$tmp/vhci/detach")"
[ ! -e "$tmp/run/attached/15.json" ] && [ ! -e "$tmp/run/stick" ]
ok $? "detach stick removed the record and the links"
grep -q '^detached stick from vhci port 15$' "$tmp/out"
ok $? "detach prints what it did" "$(cat "$tmp/out")"

# 5. detach by port; then nothing is left.
"$USBLAB" detach 3 --json >"$tmp/out" 2>"$tmp/err"
ok $? "detach 3 exits 0" "$(cat "$tmp/err")"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["name"] == "cdc" and d["port"] == 3' "$tmp/out"
ok $? "detach 3 --json" "$(cat "$tmp/out")"
"$USBLAB" attached >"$tmp/out"
grep -q '^nothing attached' "$tmp/out"
ok $? "attached after both detaches" "$(cat "$tmp/out")"
"$USBLAB" detach nothing-here >/dev/null 2>"$tmp/err"
rc=$?
ok $((rc != 1)) "detach of an unknown name: exit 1" "exit $rc"

# 6. Usage errors and an unreachable server.
"$USBLAB" attach bench1 >/dev/null 2>&1
ok $(($? != 2)) "attach without NAME: exit 2"
"$USBLAB" attach 'bench1:x' stick >/dev/null 2>&1
ok $(($? != 2)) "attach to HOST:PORT with a bad port: exit 2"
"$USBLAB" attach bench1 'stick#abc' --token def >/dev/null 2>&1
ok $(($? != 2)) "NAME#TOKEN and --token together: exit 2"
"$USBLAB" attach bench1 abcdefghijklmnopqrs --token k7pq2xw9a3mf >/dev/null 2>"$tmp/err"
rc=$?
ok $((rc != 2)) "NAME#TOKEN over 31 bytes: exit 2" "exit $rc: $(cat "$tmp/err")"
"$USBLAB" remote list 127.0.0.1:1 >/dev/null 2>"$tmp/err"
rc=$?
ok $((rc != 1)) "remote list of a closed port: exit 1" "exit $rc"
grep -q '127.0.0.1:1: ' "$tmp/err"
ok $? "remote list names the server it could not reach" "$(cat "$tmp/err")"

echo "1..$n"
exit $failed
