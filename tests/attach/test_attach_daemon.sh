#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
#
# test_attach_daemon.sh - the local usblabd follows an attachment that
# `usblab attach` hands over (attach.adopt): a real usblabd serves a virtual
# CDC board; a second usblabd plays the client machine's daemon over a fake
# vhci directory ($USBLAB_VHCI_DIR) and a fake sysfs ($USBLAB_SYSROOT), and
# a shell loop plays the kernel (the attach line takes the port, a detach
# line or the test frees it). Checked: the hand-over (record, events
# attached and devfiles), a re-attach after the port is freed while the
# server answers (board-reenumerated, re-attached, the record rewritten), a
# killed server (server-gone, state reattaching), its return (re-attached),
# detach (detached, no re-attach after), refusals, and a restart of the
# client's usblabd (what it followed is followed again; a port freed while
# it was away is imported again at its start). TAP output. The
# kernel's side is the lab's (lab/scenarios/attach-daemon.sh).
set -u
USBLAB=${USBLAB:?set USBLAB to the usblab binary}
USBLABD=${USBLABD:?set USBLABD to the usblabd binary}
tmp=$(mktemp -d /tmp/test-attach-daemon-XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
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

# wait_until SECONDS CMD...: polls CMD every 0.1 s.
wait_until() {
	local end=$((SECONDS + $1))
	shift
	while ! "$@"; do
		[ $SECONDS -ge $end ] && return 1
		sleep 0.1
	done
}

V=$tmp/vhci
S=$tmp/sys
export USBLAB_VHCI_DIR=$V USBLAB_SYSROOT=$S USBLAB_RUN_DIR=$tmp/run
SOCK=$tmp/client.sock
ul() { "$USBLAB" --socket "$SOCK" "$@"; }

# vhci: four high-speed ports, all free.
mkdir -p "$V"
: >"$V/attach"
: >"$V/detach"
set_status() { # PORT STATE (4 free, 6 used)
	{
		echo "hub port sta spd dev      sockfd local_busid"
		for p in 0 1 2 3; do
			if [ "$p" = "$1" ] && [ "$2" = 6 ]; then
				echo "hs  000$p 006 003 00010002 000003 3-1"
			else
				echo "hs  000$p 004 000 00000000 000000 0-0"
			fi
		done
	} >"$V/status.tmp"
	mv "$V/status.tmp" "$V/status"
}
set_status 0 4

# sysfs: 3-1, a CDC-ACM device whose interface is bound, with ttyACM0.
D=devices/platform/vhci_hcd.0/usb3/3-1
mkdir -p "$S/bus/usb/devices" "$S/bus/usb/drivers/cdc_acm" "$S/$D/3-1:1.0/tty/ttyACM0" \
	"$S/class/tty"
printf 'DEVNAME=bus/usb/003/002\nDEVTYPE=usb_device\n' >"$S/$D/uevent"
ln -s "../../../$D" "$S/bus/usb/devices/3-1"
ln -s ../../../../../../bus/usb/drivers/cdc_acm "$S/$D/3-1:1.0/driver"
printf 'MAJOR=166\nMINOR=0\nDEVNAME=ttyACM0\n' >"$S/$D/3-1:1.0/tty/ttyACM0/uevent"
ln -s ../../../../class/tty "$S/$D/3-1:1.0/tty/ttyACM0/subsystem"

# The kernel: an attach line takes its port (USED, 3-1); a detach line frees it.
(
	while :; do
		if [ -s "$V/attach" ]; then
			read -r port _ <"$V/attach"
			: >"$V/attach"
			echo "$port" >>"$tmp/attach.log"
			set_status "$port" 6
		fi
		if [ -s "$V/detach" ]; then
			cp "$V/detach" "$tmp/detach.last"
			: >"$V/detach"
			set_status 0 4
		fi
		sleep 0.02
	done
) &
pids+=($!)

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
: >"$tmp/empty.conf"
server_start() {
	"$USBLABD" --listen 127.0.0.1:$PORT --virtual cdc --registry "$tmp/empty.conf" --db none \
		--control none --http none --no-inventory >>"$tmp/server.log" 2>&1 &
	server=$!
	pids+=($server)
	wait_until 10 "$USBLAB" remote list 127.0.0.1:$PORT >/dev/null 2>&1
}
server_start
ok $? "the server usblabd serves the virtual CDC" "$(cat "$tmp/server.log")"

client_start() {
	"$USBLABD" --listen 127.0.0.1:0 --registry "$tmp/empty.conf" --db "$tmp/client.db" \
		--control "$SOCK" --http none --no-inventory >>"$tmp/client.log" 2>&1 &
	client=$!
	pids+=($client)
	wait_until 10 test -S "$SOCK"
}
client_stop() {
	kill $client 2>/dev/null
	wait $client 2>/dev/null
	wait_until 5 eval '! test -S "$SOCK"'
}
client_start
ok $? "the client's usblabd listens on its control socket" "$(cat "$tmp/client.log")"

# kinds_seen: the client-side event kinds in order, comma-separated.
kinds_seen() {
	ul events --json --limit 1000 2>/dev/null | python3 -c '
import json, sys
client = {"attached", "devfiles", "server-gone", "board-reenumerated", "re-attached", "detached"}
print(",".join(e["kind"] for e in json.load(sys.stdin)["events"] if e["kind"] in client))'
}
has_kinds() { [ "$(kinds_seen)" = "$1" ]; }
record_field() { # FIELD: of the one record in run/attached
	python3 -c 'import json,glob,sys; r=[json.load(open(f)) for f in glob.glob(sys.argv[1]+"/attached/*.json")]; print(r[0].get(sys.argv[2], "") if len(r) == 1 else "records: %d" % len(r))' "$tmp/run" "$1"
}

# 1. attach --follow hands the attachment over and prints the daemon's story.
ul attach 127.0.0.1:$PORT 0-1 --json --follow >"$tmp/follow" 2>"$tmp/err" &
follower=$!
pids+=($follower)
wait_until 15 grep -q '"event":"attached"' "$tmp/follow"
ok $? "attach 0-1 --follow prints attached" "$(cat "$tmp/err" "$tmp/follow")"
head -n 1 "$tmp/follow" >"$tmp/out"
python3 -c 'import json,sys; a=json.load(open(sys.argv[1])); assert a["event"] == "attached" and a["follower"] == "usblabd" and a["devnodes"] == ["/dev/ttyACM0"], a' "$tmp/out"
ok $? "attach --json says usblabd follows it, with /dev/ttyACM0" "$(cat "$tmp/out")"
wait_until 5 eval '[ "$(record_field follower)" = usblabd ]'
ok $? "the record says follower usblabd" "$(record_field follower)"
wait_until 5 has_kinds attached,devfiles
ok $? "events: attached, devfiles" "$(kinds_seen)"
ul events --json --kind attached | python3 -c 'import json,sys; e=json.load(sys.stdin)["events"][0]; assert e["board"] == "0-1" and e["peer"].startswith("127.0.0.1:") and "vhci port 0" in e["detail"], e'
ok $? "the attached event names the board, the server and the port"

# 2. The port is freed while the server answers: re-attached by the daemon.
set_status 0 4
wait_until 15 has_kinds attached,devfiles,board-reenumerated,re-attached,devfiles
ok $? "port freed: board-reenumerated, re-attached, devfiles" "$(kinds_seen); $(tail -5 "$tmp/client.log")"
[ "$(record_field reattaches)" = 1 ]
ok $? "the record counts one re-attach" "$(record_field reattaches)"
ul attached --json | python3 -c 'import json,sys; a=json.load(sys.stdin)["attached"]; assert len(a) == 1 and a[0]["state"] == "attached", a'
ok $? "attached: state attached after the re-attach"
ul events --json --kind re-attached | python3 -c 'import json,sys; e=json.load(sys.stdin)["events"][0]; assert " ms after port 0 was freed" in e["detail"] and e["dev"]["devnodes"] == ["/dev/ttyACM0"], e'
ok $? "the re-attached event says how long it took, with the files"

grep -q '"event":"re-attached".*"took_ms":' "$tmp/follow" || wait_until 5 grep -q '"event":"re-attached".*"took_ms":' "$tmp/follow"
ok $? "the follower prints re-attached with took_ms" "$(cat "$tmp/follow")"

# 3. The server is killed and the port freed: server-gone, reattaching.
{
	kill -9 $server
	wait $server
} 2>/dev/null
set_status 0 4
wait_until 15 has_kinds attached,devfiles,board-reenumerated,re-attached,devfiles,server-gone
ok $? "server killed: server-gone" "$(kinds_seen)"
ul attached --json | python3 -c 'import json,sys; a=json.load(sys.stdin)["attached"]; assert a[0]["state"] == "reattaching", a'
ok $? "attached: state reattaching while the server is away"
python3 - "$SOCK" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(b'{"id":1,"method":"attach.list"}\n')
r = json.loads(s.makefile().readline())["result"]["attachments"]
assert len(r) == 1 and r[0]["state"] == "reattaching" and r[0]["attempts"] >= 1, r
assert "127.0.0.1" in r[0]["last_error"], r
EOF
ok $? "attach.list: reattaching, attempts counted, the last error"
grep -q '"event":"lost","kind":"server-gone"' "$tmp/follow"
ok $? "the follower prints the loss (server-gone)" "$(cat "$tmp/follow")"

# 4. The server returns: re-attached without a command.
server_start
wait_until 20 eval 'kinds_seen | grep -q "server-gone,re-attached,devfiles$"'
ok $? "server back: re-attached" "$(kinds_seen)"

# 4b. A server that accepts and never answers (a stalled or half-open
# peer): reported gone before connect's own timeout, then back.
{
	kill -9 $server
	wait $server
} 2>/dev/null
python3 -c '
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
held = []
while True:
    c, _ = s.accept(); held.append(c)' $PORT &
mute=$!
pids+=($mute)
wait_until 10 python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' $PORT 2>/dev/null
before=$(ul events --json --kind server-gone | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"]))')
set_status 0 4
wait_until 15 eval '[ "$(ul events --json --kind server-gone | python3 -c "import json,sys; e=json.load(sys.stdin)[\"events\"]; print(len(e), \"has not answered\" in e[-1][\"detail\"])")" = "$((before + 1)) True" ]'
ok $? "a silent server: server-gone, 'has not answered'" "$(ul events --json --kind server-gone)"
kill $mute
wait $mute 2>/dev/null
server_start
wait_until 25 eval 'kinds_seen | grep -q "server-gone,re-attached,devfiles,server-gone,re-attached,devfiles$"'
ok $? "the silent server replaced by a real one: re-attached" "$(kinds_seen)"

# 5. Refusals: a record of a free port, a second adoption, a bad record.
call() {
	python3 - "$SOCK" "$1" <<'EOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
m = json.loads(s.makefile().readline())
print(m["error"]["code"] if "error" in m else "ok")
EOF
}
rec='{"port":2,"host":"127.0.0.1","tcp_port":"1","name":"ghost","lbusid":"3-1","since":"x","devnodes":[]}'
[ "$(call '{"id":1,"method":"attach.adopt","params":{"record":'"$rec"'}}')" = not_attached ]
ok $? "attach.adopt of a free port: not_attached"
rec=$(cat "$tmp/run"/attached/*.json | tr -d '\n')
[ "$(call '{"id":1,"method":"attach.adopt","params":{"record":'"$rec"'}}')" = exists ]
ok $? "attach.adopt of a followed board: exists"
[ "$(call '{"id":1,"method":"attach.adopt","params":{"record":{"port":"x"}}}')" = bad_request ]
ok $? "attach.adopt of a bad record: bad_request"
[ "$(call '{"id":1,"method":"attach.drop","params":{"name":"nothing"}}')" = unknown_attachment ]
ok $? "attach.drop of an unknown name: unknown_attachment"

# 6. detach: the daemon stops following, the port is detached, no re-attach.
port=$(record_field port)
ul detach 0-1 >"$tmp/out" 2>"$tmp/err"
ok $? "detach 0-1 exits 0" "$(cat "$tmp/err")"
wait_until 5 eval '[ "$(cat "$tmp/detach.last" 2>/dev/null)" = "$port" ]'
ok $? "detach wrote port $port to vhci's detach" "$(cat "$tmp/detach.last" 2>/dev/null)"
wait_until 5 eval 'kinds_seen | grep -q ",detached$"'
ok $? "events end with detached" "$(kinds_seen)"
wait_until 5 eval '! kill -0 $follower 2>/dev/null'
ok $? "the follower exits after detached" "$(tail -n 2 "$tmp/follow")"
attaches=$(wc -l <"$tmp/attach.log")
sleep 1
[ "$(wc -l <"$tmp/attach.log")" = "$attaches" ] && [ ! -e "$tmp/run/attached/$port.json" ]
ok $? "no re-attach after detach, the record gone" "$(cat "$tmp/attach.log" | tr '\n' ' ')"

# 7. usblabd restarts: it follows again what it followed.
list_state() { # the state of the one attachment attach.list shows, or "none"
	python3 - "$SOCK" <<'EOF'
import json, socket, sys
try:
    s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
    s.sendall(b'{"id":1,"method":"attach.list"}\n')
    r = json.loads(s.makefile().readline())["result"]["attachments"]
    print(r[0]["state"] if len(r) == 1 else "attachments: %d" % len(r))
except Exception as e:
    print("none (%s)" % e)
EOF
}
ul attach 127.0.0.1:$PORT 0-1 --json >"$tmp/out" 2>"$tmp/err"
ok $? "attach 0-1 without --follow exits 0" "$(cat "$tmp/err")"
wait_until 5 eval '[ "$(record_field follower)" = usblabd ]'
port=$(record_field port)
follow=$tmp/run/attached/$port.follow
wait_until 5 test -s "$follow"
[ "$(stat -c %a "$follow" 2>/dev/null)" = 600 ] &&
	python3 -c 'import json,sys; f=json.load(open(sys.argv[1])); assert f == {"what": "0-1", "token": ""}, f' "$follow"
ok $? "PORT.follow keeps the import's busid field and token, mode 0600" "$(stat -c %a "$follow" 2>&1; cat "$follow" 2>&1)"
again() { ul events --json --kind attached | python3 -c 'import json,sys; print(sum("followed again after usblabd restarted" in e["detail"] for e in json.load(sys.stdin)["events"]))'; }
client_stop
client_start
ok $? "the client's usblabd starts again" "$(tail -3 "$tmp/client.log")"
wait_until 10 eval '[ "$(list_state)" = attached ]'
ok $? "after the restart, attach.list follows 0-1 again" "$(list_state); $(tail -3 "$tmp/client.log")"
wait_until 5 eval '[ "$(again)" = 1 ]'
ok $? "an attached event says it is followed again after the restart" "$(ul events --json --kind attached)"
reattached() { ul events --json --kind re-attached | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["events"]))'; }
before=$(reattached)
set_status 0 4
wait_until 15 eval '[ "$(reattached)" = $((before + 1)) ]'
ok $? "the restarted usblabd re-attaches when the port is freed" "$(kinds_seen)"

# 7b. The port is freed while no usblabd runs: imported again at the start.
before=$(reattached) # the events come from the daemon: ask before it stops
client_stop
set_status 0 4
attaches=$(wc -l <"$tmp/attach.log")
client_start
wait_until 15 eval '[ "$(reattached)" = $((before + 1)) ]'
ok $? "a port freed while usblabd was away is imported again when it starts" "$(kinds_seen); $(tail -5 "$tmp/client.log")"
[ "$(wc -l <"$tmp/attach.log")" = $((attaches + 1)) ]
ok $? "exactly one attach written to vhci for it" "$(cat "$tmp/attach.log" | tr '\n' ' ')"

# 7c. A record without its PORT.follow: not followed, and said so.
client_stop
port=$(record_field port)
mv "$tmp/run/attached/$port.follow" "$tmp/follow.saved"
client_start
sleep 0.5
[ "$(list_state)" = "attachments: 0" ] && grep -q "$port.follow is missing: not following it" "$tmp/client.log"
ok $? "a record without PORT.follow is not followed, with a warning" "$(list_state); $(tail -3 "$tmp/client.log")"
mv "$tmp/follow.saved" "$tmp/run/attached/$port.follow"

ul detach 0-1 >"$tmp/out" 2>"$tmp/err"
[ ! -e "$tmp/run/attached/$port.json" ] && [ ! -e "$tmp/run/attached/$port.follow" ]
ok $? "detach removes the record and PORT.follow" "$(ls "$tmp/run/attached" 2>&1)"

echo "1..$n"
exit $failed
