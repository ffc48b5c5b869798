#!/usr/bin/env bash
# usbip_list_tap.sh FW_TAP_SERVER - Debian's `usbip list -r` against the
# firmware module: fw_tap_server runs it on real lwIP behind a tap device
# in a network namespace of its own (so the kernel's TCP talks to lwIP's
# TCP over an Ethernet link), with a fake TinyUSB host holding a Pico CDC
# board. Needs root (unshare -n, ip tuntap). Prints PASS:/FAIL: lines;
# exits non-zero on any failure.
set -u
server=$1

if [ "${FW_TAP_INNER:-0}" != 1 ]; then
	for tool in usbip unshare ip; do
		if ! command -v "$tool" >/dev/null; then
			echo "FAIL: usbip list over tap: $tool missing (tools/deps.sh test)"
			exit 1
		fi
	done
	if [ "$(id -u)" -ne 0 ] || ! [ -c /dev/net/tun ]; then
		echo "FAIL: usbip list over tap: needs root and /dev/net/tun"
		exit 1
	fi
	FW_TAP_INNER=1 exec unshare -n "$0" "$@"
fi

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

ip link set lo up
ip tuntap add dev tapfw mode tap
ip addr add 10.78.0.2/24 dev tapfw
ip link set tapfw up
PRECONFIGURED_TAPIF=tapfw "$server" >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	grep -q READY "$tmp/log" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if ! grep -q READY "$tmp/log"; then
	echo "FAIL: fw_tap_server start"
	cat "$tmp/log"
	exit 1
fi

timeout 20 usbip list -r 10.78.0.1 >"$tmp/out" 2>&1
rc=$?
cat "$tmp/out"
check "usbip list -r over lwIP exits 0" [ $rc -eq 0 ]
check "1-1 is 2e8a:0005" grep -qE '^ +1-1: .*\(2e8a:0005\)' "$tmp/out"
check "path /pico/usb/1-1" grep -qF ': /pico/usb/1-1' "$tmp/out"
check "device class ef/02/01" grep -qE ': .*\(ef/02/01\)' "$tmp/out"
check "CDC comm interface 02/02/00" grep -qE ':  0 - .*\(02/02/00\)' "$tmp/out"
check "CDC data interface 0a/00/00" grep -qE ':  1 - .*\(0a/00/00\)' "$tmp/out"
check "exactly 1 device" [ "$(grep -cE '^ +1-[0-9]+: ' "$tmp/out")" -eq 1 ]

# Twenty requests in a row: each connection is answered and closed, the
# slots come back (USBIP_FW_CFG_MAX_CONNS is 3).
ok=1
for _ in $(seq 20); do
	timeout 10 usbip list -r 10.78.0.1 2>&1 | grep -q '1-1: ' || ok=0
done
check "20 list requests in a row" [ $ok = 1 ]
check "fw_tap_server still running" kill -0 "$pid"
exit $failed
