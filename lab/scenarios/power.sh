# SPDX-License-Identifier: MIT
#
# power (board control, issue 15): `usblab power` on qemu's usb-hub. The
# "hub" boot has two full-speed qemu hubs on the xhci's USB2 side:
#   1-2: -device usb-hub,port-power=on (per-port switching: qemu drops the
#        port's connection on ClearPortFeature(PORT_POWER) and reconnects
#        the device 5 ms after SetPortFeature), a usb-kbd (serial LABPWR1)
#        on its port 1 = 1-2.1, named kbd-pp in the registry;
#   1-3: -device usb-hub (qemu's default: wHubCharacteristics 0x000a, no
#        power switching), a usb-kbd (serial LABPWR2) on 1-3.1 = kbd-nopp.
# Checks: power off -> departed event (and the device gone from sysfs) ->
# on -> arrived under the same name; cycle; hub class requests
# (USBLAB_POWER_METHOD=hub-request), where qemu never tells the host that
# the port lost power, so usblab must report that the board did not depart;
# the power events with the hub port and the method; the hub without
# switching refused, saying so.
#
# What it proves and what not: qemu's port-power hub emulates VBUS being cut
# (a powered-off port reports no connection) and Linux 6.1's `disable` file
# switches it and brings the board back; our PORT_POWER requests reach it
# too, and the verification by departure catches a hub whose power-off the
# host never sees. It does not prove that a real hub cuts VBUS, nor USB3
# pairing (qemu's usb-hub is a USB 1.1 hub with no BOS; pairing is tested
# on recorded descriptors in tests/power).

USBLAB=/bin/usblab
SOCK=/run/usblab/usblabd.sock
PP_SERIAL=LABPWR1
NOPP_SERIAL=LABPWR2

if ! usblabd_has --registry || [ ! -x $USBLAB ] || ! $USBLAB power --help >/dev/null 2>&1; then
	skip all "usblabd --registry or usblab power not in this build"
	return 0
fi
# The kernel's name of the device with this serial, e.g. 1-2.1.
busid_of() {
	for _d in /sys/bus/usb/devices/*; do
		[ "$(cat "$_d/serial" 2>/dev/null)" = "$1" ] && echo "${_d##*/}" && return 0
	done
	return 1
}
if ! wait_until 15 busid_of $PP_SERIAL || ! wait_until 5 busid_of $NOPP_SERIAL; then
	fail kbd-present "no usb-kbd with serial $PP_SERIAL/$NOPP_SERIAL behind the qemu hubs"
	return 0
fi
PP_BUSID=$(busid_of $PP_SERIAL)
NOPP_BUSID=$(busid_of $NOPP_SERIAL)
note "kbd-pp at $PP_BUSID, kbd-nopp at $NOPP_BUSID; kernel $(uname -r)"
check kbd-present "kbd-pp at $PP_BUSID, not 1-2.1" [ "$PP_BUSID" = 1-2.1 ]
check disable-file "no /sys/bus/usb/devices/1-2:1.0/1-2-port1/disable on $(uname -r)" \
	[ -e /sys/bus/usb/devices/1-2:1.0/1-2-port1/disable ]

cat >/tmp/devices.conf <<EOF2
[kbd-pp]
serial = $PP_SERIAL
notes = usb-kbd behind qemu's usb-hub,port-power=on
[kbd-nopp]
serial = $NOPP_SERIAL
notes = usb-kbd behind qemu's usb-hub without power switching
export = no
EOF2
rm -f /tmp/usblab.db*
ul() { timeout 60 $USBLAB --socket $SOCK "$@"; }
present() { ul list --json | tr -d ' \n' | grep -q "\"name\":\"$1\",[^}]*\"state\":\"$2\""; }

# Under TCG on a loaded host usblabd's start (udev scan, libusb, SQLite) took 10-21 s.
if ! usblabd_start --registry /tmp/devices.conf --db /tmp/usblab.db --control $SOCK --http none &&
	! wait_until 40 usblabd_ready; then
	fail usblabd-start "usblabd did not answer usbip list -r within 50 s"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass usblabd-start
wait_until 10 eval 'ul list --json | grep -q "\"busid\": *\"$PP_BUSID\""' ||
	note "kbd-pp not listed at $PP_BUSID: $(ul list 2>&1 | tr '\n' ';')"

# off: the board departs; the device is gone from sysfs; the event says so.
out=$(ul power off kbd-pp --timeout 20 2>&1)
rc=$?
note "power off: rc $rc: $(echo "$out" | tr '\n' ';')"
check off "usblab power off kbd-pp: rc $rc: $out" [ $rc -eq 0 ]
check off-departed-event "no departed event for kbd-pp" \
	wait_until 5 eval 'ul events --device kbd-pp --kind departed --json | grep -q departed'
check off-sysfs-gone "/sys/bus/usb/devices/$PP_BUSID still there after power off" \
	[ ! -e /sys/bus/usb/devices/$PP_BUSID ]
check off-list-absent "usblab list does not show kbd-pp absent" present kbd-pp absent
ev=$(ul events --device kbd-pp --kind power 2>&1)
note "power events: $(echo "$ev" | tr '\n' ';')"
check off-power-event "no power event naming hub 1-2 port 1 and sysfs: $ev" \
	eval 'echo "$ev" | grep -q "off: hub 1-2 port 1 (per-port); sysfs"'
check disable-reads-1 "the port's disable file does not read 1 while off" \
	[ "$(cat /sys/bus/usb/devices/1-2:1.0/1-2-port1/disable 2>/dev/null)" = 1 ]

# on: the same board comes back, by name.
out=$(ul power on kbd-pp --timeout 30 2>&1)
rc=$?
note "power on: rc $rc: $(echo "$out" | tr '\n' ';')"
check on "usblab power on kbd-pp: rc $rc: $out" [ $rc -eq 0 ]
check on-arrived-event "no arrived/re-enumerated event for kbd-pp after on" \
	wait_until 5 eval 'ul events --device kbd-pp --json | grep -q -e "\"arrived\"" -e "re-enumerated"'
check on-same-name "kbd-pp is not present again under its name" \
	eval 'present kbd-pp exported || present kbd-pp present'
check on-sysfs-back "no $PP_BUSID in sysfs after power on" [ -e /sys/bus/usb/devices/$PP_BUSID ]

# cycle through sysfs (the default on 6.1).
n_dep=$(ul events --device kbd-pp --kind departed | grep -c departed)
out=$(ul power cycle kbd-pp --timeout 30 --json 2>&1)
rc=$?
note "power cycle: rc $rc: $out"
check cycle "usblab power cycle kbd-pp: rc $rc: $out" \
	eval '[ $rc -eq 0 ] && echo "$out" | grep -q "\"returned_ms\": *[0-9]"'
check cycle-departed "no new departed event after the cycle" \
	[ "$(ul events --device kbd-pp --kind departed | grep -c departed)" -gt "$n_dep" ]
check cycle-present "kbd-pp not present after the cycle" \
	eval 'present kbd-pp exported || present kbd-pp present'

# Hub class requests. qemu's hub clears a port's connection on
# ClearPortFeature(PORT_POWER) and wipes its change bits too (dev-hub.c), so
# the host is never told the board left: seen from the host, exactly a hub
# that claims switching and leaves VBUS on. usblab must say so (exit 7).
out=$(USBLAB_POWER_METHOD=hub-request ul power off kbd-pp --timeout 5 2>&1)
rc=$?
note "power off (hub-request): rc $rc: $(echo "$out" | tr '\n' ';')"
check hub-request-no-departure "usblab power off by hub requests: rc $rc, not 7: $out" \
	eval '[ $rc -eq 7 ] && echo "$out" | grep -q "does not cut VBUS"'
check hub-request-event "no power event with hub-request" \
	eval 'ul events --device kbd-pp --kind power | grep -q "off: hub 1-2 port 1 (per-port); hub-request"'
# SetPortFeature(PORT_POWER): qemu reconnects the keyboard 5 ms later with
# a connection change, which the kernel does see: the board re-enumerates.
n_dep=$(ul events --device kbd-pp --kind departed | grep -c departed)
out=$(USBLAB_POWER_METHOD=hub-request ul power on kbd-pp --timeout 30 2>&1)
rc=$?
note "power on (hub-request): rc $rc: $(echo "$out" | tr '\n' ';')"
check hub-request-on "usblab power on by hub requests: rc $rc: $out" [ $rc -eq 0 ]
if wait_until 15 eval '[ "$(ul events --device kbd-pp --kind departed | grep -c departed)" -gt "$n_dep" ]'; then
	note "after SetPortFeature(PORT_POWER) the kernel re-enumerated kbd-pp"
else
	note "after SetPortFeature(PORT_POWER) the kernel did not re-enumerate kbd-pp"
fi
check hub-request-present "kbd-pp not present after power on by hub requests" \
	wait_until 15 eval 'present kbd-pp exported || present kbd-pp present'

# A hub without power switching: refused, plainly; nothing switched.
out=$(ul power off kbd-nopp 2>&1)
rc=$?
note "power off kbd-nopp: rc $rc: $(echo "$out" | tr '\n' ';')"
check no-switching "usblab power off kbd-nopp: rc $rc: $out" \
	eval '[ $rc -eq 1 ] && echo "$out" | grep -q "hub 1-3 has no power switching (wHubCharacteristics 0x000a)"'
check no-switching-untouched "kbd-nopp left its port" [ -e /sys/bus/usb/devices/$NOPP_BUSID ]
dump /tmp/usblabd.log "usblabd: "
