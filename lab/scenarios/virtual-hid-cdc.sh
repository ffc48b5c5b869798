# SPDX-License-Identifier: MIT
#
# virtual-hid-cdc (issue scenario 2): usblabd's virtual keyboard and CDC-ACM
# serial port, imported through vhci.
#
# Keyboard: an evdev reader (labprobe evkeys) waits for the event node under
# vhci_hcd before the attach and must read exactly the keys of "usblab\n".
# The console keyboard handler also gets every keyboard's keys: tty1 must
# read the line, for the default text and for hid:TEXT (with Shift).
# Note: usbhid drops every input report that arrives in the first 50 ms
# after the device is first opened (usbhid_open sets HID_RESUME_RUNNING and
# sleeps 50 ms), and the kernel's keyboard handler opens a keyboard as soon
# as it registers: a keyboard that types at once loses its text.
#
# Serial: /dev/ttyACMn appears and echoes, through stty + the shell and
# through labprobe with a payload of many packets.

CUSTOM_TEXT='Hello usblab 42'

if ! usblabd_has --virtual; then
	skip all "usblabd --virtual not available"
	return 0
fi
# tty1 must be open while the keys arrive, or the line is dropped.
exec 9</dev/tty1
usblabd_start_virtual "cdc,hid,hid:$CUSTOM_TEXT\\n" || return 0

HID_HINT="(usbhid drops reports for 50 ms after the first open: does the keyboard type at once?)"

# The default keyboard (0-2) types "usblab\n" once per import.
labprobe evkeys vhci 10 >/tmp/keys.out 2>/tmp/keys.err &
reader=$!
if vhci_attach 0-2; then
	pass hid-attach
	hid_port=$ATT_PORT
	check hid-usbhid "usbhid did not bind to $ATT_LBUSID ($(usb_drivers $ATT_LBUSID))" \
		wait_until 10 eval 'usb_drivers $ATT_LBUSID | grep -q usbhid'
	wait_until 12 eval '! kill -0 $reader 2>/dev/null'
	keys=$(sed -n 's/^keys=//p' /tmp/keys.out)
	got=$(sed -n 's/^text=//p' /tmp/keys.out)
	note "evdev: $(cat /tmp/keys.err) read keys [$keys] = '$got'"
	# u s b l a b Enter, as evdev key codes.
	if [ "$keys" = 22,31,48,38,30,48,28 ]; then
		pass hid-evdev-keys
	else
		fail hid-evdev-keys "evdev delivered [$keys] '$got', not 'usblab\\n' $([ -z "$got" ] && echo "$HID_HINT")"
	fi
	line=""
	read -t 3 -r line <&9
	check hid-console-text "the console read '$line', not 'usblab' $([ -z "$line" ] && echo "$HID_HINT")" \
		[ "$line" = usblab ]
	check hid-detach "vhci port $hid_port not free after usbip detach" vhci_detach "$hid_port"
else
	fail hid-attach "usbip attach -b 0-2 gave no used vhci port"
fi
kill $reader 2>/dev/null

# The hid:TEXT keyboard (0-3): capitals need Shift.
if vhci_attach 0-3; then
	hid_port=$ATT_PORT
	line=""
	read -t 10 -r line <&9
	check hid-custom-text "the console read '$line', not '$CUSTOM_TEXT' $([ -z "$line" ] && echo "$HID_HINT")" \
		[ "$line" = "$CUSTOM_TEXT" ]
	check hid-detach-2 "vhci port $hid_port not free after usbip detach" vhci_detach "$hid_port"
else
	fail hid-custom-text "usbip attach -b 0-3 gave no used vhci port"
fi
exec 9<&-

# The serial port (0-1).
if vhci_attach 0-1; then
	pass cdc-attach
	acm_port=$ATT_PORT
	if wait_until 10 acm_tty "$ATT_LBUSID"; then
		tty=$(acm_tty "$ATT_LBUSID")
		pass cdc-tty
		note "$ATT_LBUSID is $tty, drivers: $(usb_drivers $ATT_LBUSID)"
		# The shell way: raw mode, write a line, read it back.
		exec 7<>"$tty"
		stty raw -echo <&7
		printf 'usblab-echo-1\n' >&7
		back=""
		read -t 5 -r back <&7
		exec 7<&-
		check cdc-echo-shell "read back '$back', not 'usblab-echo-1'" [ "$back" = usblab-echo-1 ]
		# 1280 bytes: many bulk packets each way.
		payload=$(for i in 1 2 3 4 5 6 7 8 9 10; do echo "$i" | md5sum | cut -c1-32; done | tr -d '\n')
		payload=$payload$payload$payload$payload
		if labprobe ttyecho "$tty" "$payload" 10 >/tmp/echo.out 2>&1; then
			pass cdc-echo-bulk
		else
			fail cdc-echo-bulk "$(cut -c1-200 /tmp/echo.out)"
		fi
	else
		fail cdc-tty "no /dev/ttyACM* below $ATT_LBUSID after 10 s"
	fi
	check cdc-detach "vhci port $acm_port not free after usbip detach" vhci_detach "$acm_port"
else
	fail cdc-attach "usbip attach -b 0-1 gave no used vhci port"
fi
check usblabd-sigterm "usblabd did not exit within 3 s of SIGTERM" usblabd_stop
dump /tmp/usblabd.log "usblabd: "
