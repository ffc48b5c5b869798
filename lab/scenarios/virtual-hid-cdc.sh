# SPDX-License-Identifier: MIT
#
# virtual-hid-cdc (issue scenario 2): usblabd's virtual keyboard and CDC-ACM
# serial port, imported through vhci.
#
# Keyboard: the kernel's console keyboard handler opens every keyboard the
# moment it registers, so usbhid starts polling, and usblabd starts typing,
# before the new /dev/input/eventN can be opened by anyone. The full text is
# therefore checked on the console (tty1, where the keyboard handler puts
# it), and the evdev check reads the event node as early as it can and
# requires the keys it sees to be the end of the typed text, Enter last.
# A long text (hid:TEXT) leaves the reader time to open the node.
#
# Serial: /dev/ttyACMn appears and echoes, through stty + the shell and
# through labprobe with a payload of many packets.

LONG_TEXT='the quick brown fox jumps over the lazy dog 1234567890 usblab'

if ! usblabd_has --virtual; then
	skip all "usblabd --virtual not available"
	return 0
fi
# tty1 must be open while the keys arrive, or the line is dropped.
exec 9</dev/tty1
if ! usblabd_start --virtual "cdc,hid,hid:$LONG_TEXT\\n"; then
	fail usblabd-start "usblabd did not answer usbip list -r within 10 s"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass usblabd-start
check listed "usbip list -r shows [$(remote_busids | tr '\n' ' ')], not 0-1 0-2 0-3" \
	[ "$(remote_busids | tr '\n' ' ')" = "0-1 0-2 0-3 " ]

# The default keyboard (0-2) types "usblab\n" once per import.
if vhci_attach 0-2; then
	pass hid-attach
	hid_port=$ATT_PORT
	check hid-usbhid "usbhid did not bind to $ATT_LBUSID ($(usb_drivers $ATT_LBUSID))" \
		wait_until 10 eval 'usb_drivers $ATT_LBUSID | grep -q usbhid'
	line=""
	read -t 10 -r line <&9
	check hid-default-text "the console read '$line', not 'usblab'" [ "$line" = usblab ]
	check hid-detach "vhci port $hid_port not free after usbip detach" vhci_detach "$hid_port"
else
	fail hid-attach "usbip attach -b 0-2 gave no used vhci port"
fi

# The long-text keyboard (0-3), with an evdev reader waiting for its node.
labprobe evkeys vhci 20 >/tmp/keys.out 2>/tmp/keys.err &
reader=$!
if vhci_attach 0-3; then
	hid_port=$ATT_PORT
	line=""
	read -t 15 -r line <&9
	check hid-text "the console read '$line', not '$LONG_TEXT'" [ "$line" = "$LONG_TEXT" ]
	wait_until 20 eval '! kill -0 $reader 2>/dev/null'
	got=$(sed -n 's/^text=//p' /tmp/keys.out)
	note "evdev: $(cat /tmp/keys.err) saw '$got'"
	want="$LONG_TEXT\\n"
	case $want in
	*"$got") ok=1 ;;
	*) ok=0 ;;
	esac
	# At least "usblab" and Enter must have come through evdev.
	if [ $ok = 1 ] && [ ${#got} -ge 8 ]; then
		pass hid-evdev-keys
	else
		fail hid-evdev-keys "evdev delivered '$got', not the end of '$want'"
	fi
	check hid-detach-2 "vhci port $hid_port not free after usbip detach" vhci_detach "$hid_port"
else
	fail hid-text "usbip attach -b 0-3 gave no used vhci port"
fi
kill $reader 2>/dev/null
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
