# SPDX-License-Identifier: MIT
#
# monitor (issue 15): `usblab monitor esp` on usblabd's virtual ESP32,
# imported by `usblab attach` through vhci (cdc_acm: /dev/ttyACM0, followed
# by name through /run/usblab/esp/tty). While it runs: lines written to the
# port come back as the app's echo; `usblab bootloader` and `usblab boot`
# reset the chip into its ROM (its banner, "waiting for download") and back
# (the app's banner); then a client-side `usblab detach` + `usblab attach`
# while the old tty is still held open (so the new one is another node,
# ttyACM1). Checked: the markers appear, in order, with the new node; every
# echoed line is in the monitor's output exactly once; SIGTERM ends it with
# status 0.

USBLAB=/bin/usblab
SOCK=/run/usblab/usblabd.sock
RUN=/run/usblab

ul() { timeout 60 $USBLAB --socket $SOCK "$@"; }

if ! usblabd_has esp32 || [ ! -x $USBLAB ] || ! $USBLAB monitor --help >/dev/null 2>&1; then
	skip all "usblabd --virtual esp32 or usblab monitor not in this build"
	return 0
fi
printf '[esp]\nserial = USBLAB-ESP32-1\ntype = esp32\n' >/tmp/devices-mon.conf
if ! usblabd_start --virtual esp32 --registry /tmp/devices-mon.conf --db none --control $SOCK \
	--no-inventory --http none; then
	fail usblabd-start "usblabd did not answer usbip list -r within 10 s"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass usblabd-start
if ! ul attach $SERVER esp >/tmp/mon-att.out 2>&1 || [ ! -c "$(readlink $RUN/esp/tty)" ]; then
	fail attach "usblab attach $SERVER esp: $(tr '\n' ' ' </tmp/mon-att.out)"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
tty0=$(readlink $RUN/esp/tty)
pass attach
note "virtual ESP32 on $tty0"

$USBLAB monitor esp --log /tmp/mon.log >/tmp/mon.out 2>/tmp/mon.err &
mon=$!
if ! wait_until 10 grep -q "connected to $tty0 (esp)" /tmp/mon.err; then
	fail monitor-connect "no 'connected to $tty0' marker: $(tr '\n' ' ' </tmp/mon.err)"
	kill $mon 2>/dev/null
	return 0
fi
pass monitor-connect

# echo_line N: writes echo-N to the port (another open of the tty, as a
# second program would) and waits for the app's echo in the monitor's output.
echo_line() {
	printf 'echo-%s\r\n' "$1" >"$(readlink $RUN/esp/tty)"
	wait_until 10 grep -q "echo-$1" /tmp/mon.out
}

check echo-before "echo-1 did not come back through the monitor" echo_line 1
check echo-before-2 "echo-2 did not come back through the monitor" echo_line 2

# Into the ROM and back, the monitor holding the port all along.
out=$(ul bootloader --tty $RUN/esp/tty 2>&1)
check bootloader "usblab bootloader: $out; monitor: $(tail -c 300 /tmp/mon.out | tr -c '[:print:]' .)" \
	eval 'echo "$out" | grep -q bootloader && wait_until 10 grep -q "waiting for download" /tmp/mon.out'
out=$(ul boot --tty $RUN/esp/tty 2>&1)
check boot "usblab boot: $out" \
	eval 'echo "$out" | grep -q running && wait_until 10 grep -q "Calling app_main" /tmp/mon.out'
check echo-after-reset "echo-3 did not come back after the resets" echo_line 3

# Detach and attach again on the client side while the old tty is held open
# (here by a reader besides the monitor): the new port is another ttyACM.
sleep 1000 <"$tty0" &
holder=$!
ul detach esp >/tmp/mon-det.out 2>&1
check monitor-disconnect "no 'disconnected from $tty0' marker: $(tr '\n' ' ' </tmp/mon.err)" \
	wait_until 10 grep -q "disconnected from $tty0 (esp)" /tmp/mon.err
if ul attach $SERVER esp >/tmp/mon-att2.out 2>&1; then
	tty1=$(readlink $RUN/esp/tty)
	note "re-attached on $tty1"
	check other-node "the re-attached board is on $tty1, the old one was $tty0" \
		[ -n "$tty1" -a "$tty1" != "$tty0" ]
	check monitor-reconnect "no 'connected to $tty1' marker: $(tr '\n' ' ' </tmp/mon.err)" \
		wait_until 15 grep -q "connected to $tty1 (esp)" /tmp/mon.err
	check echo-after-reattach "echo-4 did not come back after the re-attach" echo_line 4
else
	fail reattach "usblab attach $SERVER esp again: $(tr '\n' ' ' </tmp/mon-att2.out)"
fi
kill $holder 2>/dev/null

kill -TERM $mon
wait $mon
rc=$?
check monitor-exit "usblab monitor exited $rc on SIGTERM, not 0" [ $rc = 0 ]

# Every echoed line exactly once in the data (the app's banner may end
# without a newline before it); in the log the markers sit between them:
# echo-3, disconnected, connected, echo-4.
n_ok=0
for i in 1 2 3 4; do
	[ "$(grep -o "echo-$i" /tmp/mon.out | wc -l)" = 1 ] && n_ok=$((n_ok + 1))
done
check lines-once "echo-1..4 not each exactly once in the monitor's stdout: $(grep -o 'echo-[0-9]' /tmp/mon.out | tr '\n' ' ')" \
	[ $n_ok = 4 ]
order=$(grep -o -e 'echo-[0-9]' -e 'disconnected from' -e 'connected to' /tmp/mon.log |
	sed -e 's/disconnected from/D/' -e 's/connected to/C/' | tr '\n' ' ')
check markers-order "the log's order is [$order]" [ "$order" = "C echo-1 echo-2 echo-3 D C echo-4 " ]
check stdout-clean "markers on stdout, which is not a terminal" eval '! grep -q -- "--- usblab" /tmp/mon.out'
ul detach esp >/dev/null 2>&1
dump /tmp/mon.err "monitor: "
cat -v /tmp/mon.log >/tmp/mon.log.txt
dump /tmp/mon.log.txt "monitor log: "
