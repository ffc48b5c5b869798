# SPDX-License-Identifier: MIT
#
# attach (the client side, issue 14): `usblab attach` imports through the
# kernel's vhci-hcd by itself (no usbip binary): by name from usblabd over
# loopback (the qemu usb-storage "stick": md5 of the disk through the
# /run/usblab/stick/disk link), a virtual CDC by busid (echo through the
# /run/usblab/0-1/tty link), a virtual HID keyboard (its hidraw and input
# links), a leased board (refused with the holder named,
# --wait timing out, then the token; --wait across the checkin).
# `usblab attached`, `detach` and `remote list` along the way. The
# re-attach and the kernel's usbipd are in attach-follow.sh.

. /lab/scenarios/attach-lib.sh
attach_setup || return 0

# remote list: DEVLIST by busid, named by the local usblabd.
out=$(ul remote list $SERVER 2>&1)
dump_out() { echo "$out" | tr '\n' ';' | cut -c1-300; }
check remote-list "usblab remote list: $(dump_out)" \
	eval 'echo "$out" | grep -q " $STICK_BUSID  *stick " && echo "$out" | grep -q " 0-1 "'

# 1. By name: the stick, its disk through the stable link.
t0=$(uptime_ms)
if ul attach $SERVER stick --json >/tmp/att.json 2>/tmp/att.err; then
	t1=$(uptime_ms)
	pass attach-by-name
	note "attach: $(cat /tmp/att.json) ($((t1 - t0)) ms)"
	echo "BENCH: attach (usblab attach stick, usblabd, TCG): $((t1 - t0)) ms to /dev files listed"
	port=$(json_port /tmp/att.json)
	if grep -q '"devnodes":\["/dev/sd[a-z]*"\]' /tmp/att.json; then
		pass disk-listed
	else
		fail disk-listed "attach printed no /dev/sd*: $(cat /tmp/att.json)"
		usblabd_threads
	fi
	check disk-link "$RUN/stick/disk -> '$(readlink $RUN/stick/disk)' is not a vhci disk" \
		eval '[ "$(readlink $RUN/stick/disk)" = "$(vhci_disk "$(vhci_ports | awk -v p=$port "\$1 == p {print \$3}")")" ]'
	got=$(link_md5 $RUN/stick/disk)
	check disk-md5 "md5 through $RUN/stick/disk is $got, the disk has $ref" [ "$got" = "$ref" ]
	# The kernel now holds the socket: its keepalive timer (tr 02 in
	# /proc/net/tcp) runs with usblab's 5 s idle time, not Linux's 2 h.
	ka=$(awk '$3 ~ /:0CA8$/ {print $6}' /proc/net/tcp | tr '\n' ' ')
	note "client sockets to :3240, tr:when = $ka"
	check keepalive "no keepalive timer under 16 s on the imported socket: tr:when = [$ka]" \
		eval '(for t in $ka; do case $t in 02:00000[0-9A-F][0-9A-F][0-9A-F]) exit 0 ;; esac; done; exit 1)'
	ul attach $SERVER stick >/tmp/again.out 2>&1
	rc=$?
	check attach-twice "a second attach: exit $rc (want 1): $(tr '\n' ' ' </tmp/again.out)" \
		eval '[ $rc -eq 1 ] && grep -q "attached here already, on vhci port $port" /tmp/again.out'
	att=$(ul attached 2>&1)
	check attached-lists "usblab attached: $(echo "$att" | tr '\n' ';')" \
		eval 'echo "$att" | grep -q "^$port  *stick  *$SERVER:3240 .* attached  */dev/sd"'
	check detach "usblab detach stick failed, or vhci port $port not free" \
		eval 'ul detach stick >/tmp/det.out 2>&1 && wait_until 5 vhci_port_free $port'
	check detach-links "$RUN/stick still exists after detach" [ ! -e $RUN/stick ]
	check detach-record "usblab attached still lists stick" eval '! ul attached | grep -q stick'
else
	fail attach-by-name "usblab attach $SERVER stick: $(cat /tmp/att.err /tmp/att.json | tr '\n' ' ')"
	dump /tmp/usblabd.log "usblabd: "
fi
wait_until 10 remote_has "$STICK_BUSID"

# 2. The virtual CDC by busid: echo through /run/usblab/0-1/tty.
if ul attach $SERVER 0-1 >/tmp/cdc.out 2>&1; then
	pass cdc-attach
	note "$(tr '\n' ';' </tmp/cdc.out)"
	if [ -c "$(readlink $RUN/0-1/tty)" ]; then
		pass cdc-tty-link
		exec 7<>$RUN/0-1/tty
		stty raw -echo <&7
		printf 'usblab-attach-echo\n' >&7
		back=""
		read -t 5 -r back <&7
		exec 7<&-
		check cdc-echo "read back '$back' through $RUN/0-1/tty" [ "$back" = usblab-attach-echo ]
	else
		fail cdc-tty-link "$RUN/0-1/tty -> '$(readlink $RUN/0-1/tty)' is no tty: $(tr '\n' ' ' </tmp/cdc.out)"
	fi
	check cdc-detach "usblab detach 0-1 failed" ul detach 0-1
else
	fail cdc-attach "usblab attach $SERVER 0-1: $(tr '\n' ' ' </tmp/cdc.out)"
fi

# The virtual HID keyboard (0-2): its hidraw and input event node, linked.
if ul attach $SERVER 0-2 >/tmp/hid.out 2>&1; then
	pass hid-attach
	note "$(tr '\n' ';' </tmp/hid.out)"
	check hid-links "$RUN/0-2: hidraw -> '$(readlink $RUN/0-2/hidraw)', input -> '$(readlink $RUN/0-2/input)': $(tr '\n' ' ' </tmp/hid.out)" \
		eval '[ -c "$(readlink $RUN/0-2/hidraw)" ] && [ -c "$(readlink $RUN/0-2/input)" ] &&
			case $(readlink $RUN/0-2/input) in /dev/input/event*) true ;; *) false ;; esac'
	check hid-detach "usblab detach 0-2 failed" ul detach 0-2
else
	fail hid-attach "usblab attach $SERVER 0-2: $(tr '\n' ' ' </tmp/hid.out)"
fi

# 3. A lease: refused with its holder named, --wait times out, the token opens it.
co=$(ul checkout stick --for 10m --reason attach-lab --json 2>&1)
token=$(echo "$co" | tr -d ' \n' | sed -n 's/.*"token":"\([a-z0-9]*\)".*/\1/p')
if [ ${#token} -eq 12 ]; then
	ul attach $SERVER stick >/tmp/lease.out 2>&1
	rc=$?
	check leased-refused "exit $rc (want 5): $(tr '\n' ' ' </tmp/lease.out)" [ $rc -eq 5 ]
	check leased-holder "the refusal does not name the holder: $(tr '\n' ' ' </tmp/lease.out)" \
		grep -q "stick is leased by .*@.* until .*(attach-lab)" /tmp/lease.out
	ul attach $SERVER stick --wait --timeout 3 >/tmp/lease.out 2>&1
	rc=$?
	check leased-wait-timeout "exit $rc (want 4): $(tr '\n' ' ' </tmp/lease.out)" [ $rc -eq 4 ]
	if ul attach $SERVER stick --token "$token" >/tmp/lease.out 2>&1; then
		pass leased-token
		ul detach stick >/dev/null 2>&1
	else
		fail leased-token "$(tr '\n' ' ' </tmp/lease.out)"
	fi
	# --wait across the checkin: the attach goes through once it ends.
	$USBLAB --socket $SOCK attach $SERVER stick --wait --timeout 30 >/tmp/wait.out 2>&1 &
	waiter=$!
	sleep 2
	ul checkin stick >/dev/null 2>&1
	if wait_until 30 eval '! kill -0 $waiter 2>/dev/null' && wait $waiter; then
		pass leased-wait
		ul detach stick >/dev/null 2>&1
	else
		fail leased-wait "attach --wait did not attach after the checkin: $(tr '\n' ' ' </tmp/wait.out)"
		kill $waiter 2>/dev/null
	fi
else
	fail checkout "usblab checkout stick --json: $co"
fi
wait_until 10 remote_has "$STICK_BUSID"

