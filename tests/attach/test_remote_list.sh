#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_remote_list.sh - `usblab remote list` against a real usblabd: names,
# types, states and lease holders from its HTTP API (GET /api/boards), a
# registered board that is absent listed too; with the HTTP API out of
# reach, the names and holders usblabd puts in DEVLIST's paths. TAP output.
set -u
USBLAB=${USBLAB:?set USBLAB to the usblab binary}
USBLABD=${USBLABD:?set USBLABD to the usblabd binary}
tmp=$(mktemp -d /tmp/test-remote-list-XXXXXX)
daemon=""
trap '[ -n "$daemon" ] && kill $daemon 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
n=0
failed=0

ok() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then echo "ok $n - $2"; else
		echo "not ok $n - $2"
		[ $# -gt 2 ] && echo "# $3"
		failed=1
	fi
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(free_port)
H=$(free_port)
printf '[cdc]\nserial = USBLAB-CDC-1\ntype = serial\n[gone]\nserial = NOT-HERE\ntype = esp32\n' >"$tmp/devices.conf"
"$USBLABD" --listen 127.0.0.1:$P --virtual cdc,hid --registry "$tmp/devices.conf" --db none \
	--control "$tmp/s.sock" --http 127.0.0.1:$H --no-inventory >"$tmp/d.log" 2>&1 &
daemon=$!
for _ in $(seq 100); do
	"$USBLAB" remote list 127.0.0.1:$P >/dev/null 2>&1 && break
	sleep 0.1
done
"$USBLAB" --socket "$tmp/s.sock" checkout cdc >/dev/null 2>"$tmp/err"
ok $? "checkout cdc" "$(cat "$tmp/err")"

# 1. The HTTP API answers: every board, with type, state and holder.
USBLAB_REMOTE_HTTP_PORT=$H "$USBLAB" --socket "$tmp/none.sock" remote list 127.0.0.1:$P --json \
	>"$tmp/out" 2>"$tmp/err"
ok $? "remote list --json exits 0" "$(cat "$tmp/err")"
python3 - "$tmp/out" <<'PY'
import json, sys
d = {r["name"] or r["busid"]: r for r in json.load(open(sys.argv[1]))["devices"]}
c = d["cdc"]
assert c["source"] == "api" and c["type"] == "serial" and c["state"] == "exported", c
assert c["holder"].endswith("@" + c["holder"].split("@")[1]) and "@" in c["holder"], c
assert c["busid"] == "0-1" and c["vid_pid"] == "1209:0001" and c["path"].startswith("/sys/"), c
g = d["gone"]
assert g["state"] == "absent" and g["type"] == "esp32" and g["busid"] == "", g
assert d["0-2"]["state"] == "exported" and d["0-2"]["vid_pid"] == "1209:0002", d["0-2"]
PY
ok $? "from the API: cdc serial exported with its holder, gone absent, 0-2 unnamed" "$(cat "$tmp/out")"
USBLAB_REMOTE_HTTP_PORT=$H "$USBLAB" --socket "$tmp/none.sock" remote list 127.0.0.1:$P >"$tmp/out"
grep -Eq '^127\.0\.0\.1:[0-9]+ +0-1 +cdc +serial +exported +[^ ]+@[^ ]+ +1209:0001 +480 Mbps' "$tmp/out"
ok $? "the table row of cdc" "$(cat "$tmp/out")"
grep -Eq '^127\.0\.0\.1:[0-9]+ +- +gone +esp32 +absent ' "$tmp/out"
ok $? "the table row of the absent board" "$(cat "$tmp/out")"

# 2. No HTTP API within reach: DEVLIST's paths carry name and holder.
USBLAB_REMOTE_HTTP_PORT=1 "$USBLAB" --socket "$tmp/none.sock" remote list 127.0.0.1:$P --json \
	>"$tmp/out" 2>"$tmp/err"
ok $? "remote list without the API exits 0" "$(cat "$tmp/err")"
python3 - "$tmp/out" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["devices"]
assert [x["busid"] for x in r] == ["0-1", "0-2"], r
assert r[0]["source"] == "devlist" and r[0]["name"] == "cdc" and "@" in r[0]["holder"], r[0]
assert r[0]["path"].startswith("/sys/"), r[0]
assert r[1]["name"] == "" and r[1]["holder"] == "", r[1]
PY
ok $? "from DEVLIST: cdc and its holder parsed from the path" "$(cat "$tmp/out")"

# 3. Something that is not HTTP on the API port: DEVLIST still.
USBLAB_REMOTE_HTTP_PORT=$P "$USBLAB" --socket "$tmp/none.sock" remote list 127.0.0.1:$P --json \
	>"$tmp/out" 2>"$tmp/err"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["devices"]; assert r and all(x["source"] == "devlist" for x in r), r' "$tmp/out"
ok $? "a USB/IP port asked for HTTP: falls back to DEVLIST" "$(cat "$tmp/out" "$tmp/err")"

echo "1..$n"
exit $failed
