# SPDX-License-Identifier: MIT
#
# esp32-reenum (one identity across modes, issue 15): usblabd's virtual
# ESP32-S3 on USB-OTG (--virtual esp32:reenum: 303a:4001 running its app,
# 303a:0002 in its ROM), named in a registry with both identities ([esp-a]
# and [esp-a:rom]), leased, and attached through vhci by `usblab attach
# --follow`. `usblab bootloader esp-a` resets it through its tty here
# (cdc_acm turns each TIOCMSET into a SET_CONTROL_LINE_STATE): the chip
# boots its ROM, the device leaves and comes back as 303a:0002, the server
# logs `re-enumerated (app → rom)` and keeps the name, the lease and the
# export, the follower re-attaches it (with the lease's token), and the
# verb waits for the new tty and finds the ROM with the MAC. `usblab probe`
# says bootloader; `usblab boot` brings the app back the same way.

USBLAB=/bin/usblab
SOCK=/run/usblab/usblabd.sock
RUN=/run/usblab

ul() { timeout 60 $USBLAB --socket $SOCK "$@"; }

if ! usblabd_has 'esp32:reenum' || [ ! -x $USBLAB ] || ! $USBLAB attach --help >/dev/null 2>&1; then
	skip all "usblabd --virtual esp32:reenum or usblab attach not in this build"
	return 0
fi
printf '[esp-a]\nserial = USBLAB-ESP32-1\ntype = esp32\n[esp-a:rom]\nvidpid = 303a:0002\nserial = USBLAB-ESP32ROM-1\n' \
	>/tmp/devices-esp.conf
rm -f /tmp/esp-reenum.db*
if ! usblabd_start --virtual esp32:reenum --registry /tmp/devices-esp.conf --db /tmp/esp-reenum.db \
	--control $SOCK --no-inventory --http none; then
	fail usblabd-start "usblabd did not answer usbip list -r within 10 s"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass usblabd-start

token=$(ul checkout esp-a --reason reenum --json | tr -d ' \n' | sed -n 's/.*"token":"\([a-z0-9]*\)".*/\1/p')
check checkout "no token from usblab checkout esp-a" [ -n "$token" ]

$USBLAB --socket $SOCK attach $SERVER esp-a --token "$token" --follow --json \
	>/tmp/esp-follow.out 2>/tmp/esp-follow.err &
follower=$!
if ! wait_until 20 grep -q '"event":"attached"' /tmp/esp-follow.out ||
	! wait_until 10 test -c "$(readlink $RUN/esp-a/tty)"; then
	fail attach "attach --follow: $(tr '\n' ' ' </tmp/esp-follow.out /tmp/esp-follow.err | cut -c1-400)"
	dump /tmp/usblabd.log "usblabd: "
	kill $follower 2>/dev/null
	return 0
fi
pass attach
note "esp-a (app) on $(readlink $RUN/esp-a/tty)"

out=$(ul probe esp-a --json 2>&1)
check probe-app "usblab probe esp-a of the app: $out" \
	eval 'echo "$out" | tr -d " " | grep -q "\"state\":\"running\""'

t0=$(uptime_ms)
out=$(ul bootloader esp-a --json 2>&1)
rc=$?
t1=$(uptime_ms)
check bootloader "usblab bootloader esp-a exited $rc: $out" \
	eval '[ $rc = 0 ] && echo "$out" | tr -d " " | grep -q "\"state\":\"bootloader\""'
check bootloader-mac "no MAC 3c:61:05:aa:bb:01 in: $out" \
	eval 'echo "$out" | grep -q "3c:61:05:aa:bb:01"'
echo "BENCH: usblab bootloader esp-a through vhci, re-enumeration and re-attach included (TCG): $((t1 - t0)) ms"

ev=$(ul events --device esp-a 2>&1)
check reenumerated "no 're-enumerated ... (app → rom ...)' in the server's events: $(echo "$ev" | tail -n 6 | tr '\n' ';')" \
	eval 'echo "$ev" | grep "re-enumerated" | grep -q "(app → rom"'
info=$(ul info esp-a --json 2>&1)
check lease-kept "esp-a's lease after the change: $(echo "$info" | tr -d ' \n' | cut -c1-300)" \
	eval 'echo "$info" | tr -d " \n" | grep -q "\"reason\":\"reenum\""'
check rom-identity "esp-a is not 303a:0002 after the change: $(echo "$info" | tr -d ' \n' | cut -c1-300)" \
	eval 'echo "$info" | tr -d " \n" | grep -q "\"pid\":\"0002\""'
# The follower prints what usblabd reports; bootloader may return first.
check reattached "the follower did not re-attach: $(tr '\n' ' ' </tmp/esp-follow.out | cut -c1-300)" \
	wait_until 10 grep -q '"event":"re-attached"' /tmp/esp-follow.out
check rom-tty "no tty for esp-a in its ROM" test -c "$(readlink $RUN/esp-a/tty)"
note "esp-a (ROM) on $(readlink $RUN/esp-a/tty)"

out=$(ul probe esp-a 2>&1)
check probe-bootloader "usblab probe esp-a after the change: $out" \
	eval 'echo "$out" | grep -q "bootloader, MAC 3c:61:05:aa:bb:01"'

out=$(ul boot esp-a 2>&1)
rc=$?
check boot "usblab boot esp-a exited $rc: $out" eval '[ $rc = 0 ] && echo "$out" | grep -q running'
ev=$(ul events --device esp-a 2>&1)
check reenumerated-back "no '(rom → app' in the server's events: $(echo "$ev" | tail -n 4 | tr '\n' ';')" \
	eval 'echo "$ev" | grep "re-enumerated" | grep -q "(rom → app"'

check detach "usblab detach esp-a failed" eval 'ul detach esp-a >/dev/null 2>&1'
kill $follower 2>/dev/null
usblabd_stop
