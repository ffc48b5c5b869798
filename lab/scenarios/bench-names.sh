# SPDX-License-Identifier: MIT
#
# bench-names (bench manager): a registry names the qemu usb-storage
# "stick" by its serial; usblabd exports it because the registry says so
# (no --export). `usblab list` shows it by name; Debian's stock `usbip
# attach -b stick` imports it by name; a lease taken with `usblab checkout`
# makes a stock attach without the token fail (ST_DEV_BUSY) and one with
# `stick#TOKEN` succeed; QMP device_del and device_add of the stick give a
# departed and an arrived (or re-enumerated) event for "stick", with times,
# in the store (`usblab events`).

USBLAB=/bin/usblab
SOCK=/run/usblab/usblabd.sock

if ! usblabd_has --registry || [ ! -x $USBLAB ]; then
	skip all "usblabd --registry or usblab not in this build"
	return 0
fi
if ! wait_until 15 direct_disk; then
	fail stick-present "no /dev/sdX for the qemu usb-storage ($STICK_BUSID)"
	return 0
fi
cat >/tmp/devices.conf <<EOF
[stick]
serial = $STICK_SERIAL
type = storage
notes = qemu usb-storage on xhci port 1
EOF
rm -f /tmp/usblab.db*
ul() { timeout 20 $USBLAB --socket $SOCK "$@"; }

if ! usblabd_start --registry /tmp/devices.conf --db /tmp/usblab.db --control $SOCK; then
	fail usblabd-start "usblabd did not answer usbip list -r within 10 s"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass usblabd-start
check exported-by-registry "usbip list -r shows [$(remote_busids | tr '\n' ' ')], not $STICK_BUSID" \
	wait_until 10 remote_has "$STICK_BUSID"
list=$(ul list --json 2>&1)
check list-named "usblab list --json: $list" \
	eval 'echo "$list" | tr -d " \n" | grep -q "\"name\":\"stick\".*\"state\":\"exported\""'

out=$(timeout 10 usbip list -r "$SERVER" 2>&1)
check devlist-named "usbip list -r does not show the name: $out" \
	eval 'echo "$out" | grep -q ": stick "'

# Stock client, by name.
if vhci_attach stick; then
	pass attach-by-name
	check attach-by-name-disk "no vhci disk for $ATT_LBUSID" wait_until 15 vhci_disk "$ATT_LBUSID"
	state=$(ul list --json | tr -d ' \n')
	check list-imported "usblab list --json after the attach: $state" \
		eval 'echo "$state" | grep -q "\"state\":\"imported\""'
	vhci_detach "$ATT_PORT"
	wait_until 10 remote_has "$STICK_BUSID"
else
	fail attach-by-name "usbip attach -b stick gave no used vhci port"
	dump /tmp/usblabd.log "usblabd: "
fi

# A lease: only its token opens it.
co=$(ul checkout stick --for 10m --reason lab --json 2>&1)
token=$(echo "$co" | tr -d ' \n' | sed -n 's/.*"token":"\([a-z0-9]*\)".*/\1/p')
if [ ${#token} -eq 12 ]; then
	pass checkout
	out=$(timeout 20 usbip attach -r "$SERVER" -b stick 2>&1)
	check leased-refused "usbip attach without the token: $out" \
		eval '! vhci_ports | awk "\$2 != 4" | grep -q .'
	check leased-refused-event "no import-refused event" \
		eval 'ul events --device stick --json | grep -q import-refused'
	if vhci_attach "stick#$token"; then
		pass leased-attach-with-token
		vhci_detach "$ATT_PORT"
		wait_until 10 remote_has "$STICK_BUSID"
	else
		fail leased-attach-with-token "usbip attach -b stick#TOKEN gave no used vhci port"
	fi
	check checkin "usblab checkin stick failed" ul checkin stick
else
	fail checkout "usblab checkout stick --json: $co"
fi

# Unplug and replug: events for the right name, with times.
t0=$(date -u +%s)
stick_unplug >/dev/null
check departed-event "no departed event for stick" \
	wait_until 10 eval 'ul events --device stick --kind departed --json | grep -q departed'
stick_replug >/dev/null
check arrived-event "no arrived/re-enumerated event for stick after the replug" \
	wait_until 15 eval 'ul events --device stick --json | grep -q -e "\"arrived\"" -e "re-enumerated"'
ev=$(ul events --device stick 2>&1 | tail -n 4)
note "events: $(echo "$ev" | tr '\n' ';')"
check event-times "event lines carry no ISO time: $ev" \
	eval 'echo "$ev" | grep -q "^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T"'
check reexported "the stick was not exported again after the replug" \
	wait_until 15 remote_has "$STICK_BUSID"
note "unplug/replug took $(($(date -u +%s) - t0)) s"
