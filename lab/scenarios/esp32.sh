# SPDX-License-Identifier: MIT
#
# esp32 (board control): usblabd's virtual ESP32 through vhci and cdc_acm,
# reset by `usblab bootloader` / `usblab boot` with esptool's DTR/RTS
# sequence: the kernel turns each TIOCMSET into a CDC SET_CONTROL_LINE_STATE,
# which the virtual chip obeys. `usblab probe` must then find its ROM (and
# read its MAC, 3c:61:05:aa:bb:01 for device 1) or its running app.

USBLAB=/bin/usblab

if ! usblabd_has esp32 || [ ! -x $USBLAB ]; then
	skip all "usblabd --virtual esp32 or usblab not in this build"
	return 0
fi
if ! usblabd_start --virtual esp32 --control none --db none --no-inventory --http none; then
	fail usblabd-start "usblabd did not answer usbip list -r within 10 s"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass usblabd-start
if ! vhci_attach 0-1; then
	fail attach "usbip attach -b 0-1 gave no used vhci port"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass attach
if ! wait_until 10 acm_tty "$ATT_LBUSID"; then
	fail acm-tty "no /dev/ttyACM for $ATT_LBUSID ($(usb_drivers "$ATT_LBUSID"))"
	return 0
fi
tty=$(acm_tty "$ATT_LBUSID")
pass acm-tty
note "virtual ESP32 on $tty"

out=$(timeout 20 $USBLAB probe --tty "$tty" --json 2>&1)
check probe-running "usblab probe of the running app: $out" \
	eval 'echo "$out" | tr -d " " | grep -q "\"state\":\"running\""'
out=$(timeout 20 $USBLAB bootloader --tty "$tty" --json 2>&1)
rc=$?
check bootloader "usblab bootloader exited $rc: $out" \
	eval '[ $rc = 0 ] && echo "$out" | tr -d " " | grep -q "\"state\":\"bootloader\""'
check bootloader-mac "no MAC 3c:61:05:aa:bb:01 in: $out" \
	eval 'echo "$out" | grep -q "3c:61:05:aa:bb:01"'
out=$(timeout 20 $USBLAB probe --tty "$tty" 2>&1)
check probe-bootloader "usblab probe after the reset: $out" eval 'echo "$out" | grep -q bootloader'
out=$(timeout 20 $USBLAB boot --tty "$tty" 2>&1)
rc=$?
check boot "usblab boot exited $rc: $out" eval '[ $rc = 0 ] && echo "$out" | grep -q running'
check detach "vhci port $ATT_PORT not free after usbip detach" vhci_detach "$ATT_PORT"
