#!/usr/bin/env bash
# usbip_list.sh USBLABD - our first real peer: Debian's own `usbip list -r`
# against usblabd serving its virtual devices. Each device must be listed
# with its busid, VID:PID, device class and every interface's class triple.
# Prints PASS:/FAIL: lines; exits non-zero on any failure.
set -u
usblabd=$1
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
failed=0
check() { # name, command...
	local name=$1
	shift
	if "$@"; then echo "PASS: $name"; else echo "FAIL: $name"; failed=1; fi
}

if ! command -v usbip >/dev/null; then
	echo "SKIP: usbip list: Debian's usbip package is not installed (tools/deps.sh test)"
	exit 77
fi

truncate -s 4M "$tmp/disk.img"
"$usblabd" --listen 127.0.0.1:0 --control none --db none --no-inventory --registry /dev/null --virtual "cdc,hid,msc:$tmp/disk.img" 2>"$tmp/log" &
pid=$!
port=
for _ in $(seq 50); do
	port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/log")
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$port" ]; then
	echo "FAIL: usblabd start: no 'listening on' line"
	cat "$tmp/log"
	exit 1
fi

usbip --tcp-port "$port" list -r 127.0.0.1 >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
check "usbip list -r exits 0" [ $rc -eq 0 ]
has() { grep -qF -- "$1" "$tmp/out"; }
check "lists 0-1 CDC-ACM 1209:0001" has "0-1: "
check "0-1 is 1209:0001" grep -qE '0-1: .*\(1209:0001\)' "$tmp/out"
check "0-2 is 1209:0002" grep -qE '0-2: .*\(1209:0002\)' "$tmp/out"
check "0-3 is 1209:0003" grep -qE '0-3: .*\(1209:0003\)' "$tmp/out"
check "CDC comm interface 02/02/01" grep -qE ':  0 - .*\(02/02/01\)' "$tmp/out"
check "CDC data interface 0a/00/00" grep -qE ':  1 - .*\(0a/00/00\)' "$tmp/out"
check "HID boot keyboard interface 03/01/01" grep -qE ':  0 - .*\(03/01/01\)' "$tmp/out"
check "mass storage interface 08/06/50" grep -qE ':  0 - .*\(08/06/50\)' "$tmp/out"
check "exactly 3 devices" [ "$(grep -cE '^ +0-[0-9]+: ' "$tmp/out")" -eq 3 ]

# Many list requests in a row: usblabd answers each and stays up (usbipd
# forks per connection; we must not leak or wedge).
ok=1
for _ in $(seq 20); do
	usbip --tcp-port "$port" list -r 127.0.0.1 >/dev/null 2>&1 || ok=0
done
check "20 more list requests answered" [ $ok = 1 ]
check "usblabd still running" kill -0 "$pid"
exit $failed
