# SPDX-License-Identifier: MIT
#
# attach-follow (the client side, issue 14, second half): `usblab attach
# --follow` without a local usblabd, across a QMP device_del + device_add of
# the stick on the server (usblabd exports it again by itself; the follower
# sees the vhci port freed,
# imports it again by name with backoff, remakes /run/usblab/stick/disk and
# prints the time: a BENCH line), then `usblab attach` against the kernel's
# own usbipd + usbip-host by busid, a board name too long for NAME#TOKEN
# (BUSID#TOKEN), and the error without vhci-hcd. Split from attach.sh: each
# scenario has 100 s in the guest under TCG.

. /lab/scenarios/attach-lib.sh
attach_setup || return 0

# 1. --follow across a re-enumeration of the stick on the server. No local
# usblabd to hand the board to (--socket names none): this process is the
# follower (attach-daemon.sh covers the hand-over).
$USBLAB --socket /tmp/no-daemon.sock attach $SERVER stick --follow --json >/tmp/follow.out 2>/tmp/follow.err &
follower=$!
if wait_until 20 grep -q '"event":"attached"' /tmp/follow.out; then
	pass follow-attach
	port=$(json_port /tmp/follow.out)
	t0=$(uptime_ms)
	stick_unplug >/dev/null
	wait_until 15 vhci_port_free "$port"
	t1=$(uptime_ms)
	stick_replug >/dev/null
	if wait_until 40 grep -q '"event":"re-attached"' /tmp/follow.out; then
		t2=$(uptime_ms)
		pass follow-reattach
		line=$(grep '"event":"re-attached"' /tmp/follow.out | head -n 1)
		took=$(echo "$line" | sed -n 's/.*"took_ms":\([0-9]*\).*/\1/p')
		note "re-attached: $line"
		echo "BENCH: re-attach after device_del+device_add (TCG): port freed $((t1 - t0)) ms after device_del; vhci port lost -> files listed again ${took:-?} ms (replug -> re-attached $((t2 - t1)) ms)"
		got=$(link_md5 $RUN/stick/disk)
		check follow-md5 "md5 through $RUN/stick/disk after the re-attach is $got, want $ref" [ "$got" = "$ref" ]
	else
		fail follow-reattach "no re-attach within 40 s: $(tr '\n' ' ' </tmp/follow.out /tmp/follow.err | cut -c1-400)"
		usblabd_threads
		dump /tmp/usblabd.log "usblabd: "
	fi
	# An exited follower stays a zombie until this shell reaps it.
	check follow-detach "usblab detach stick did not stop the follower" \
		eval 'ul detach stick >/dev/null 2>&1 && wait_until 5 proc_gone $follower'
	check follow-detach-links "$RUN/stick still exists after detach" [ ! -e $RUN/stick ]
else
	fail follow-attach "attach --follow printed nothing: $(tr '\n' ' ' </tmp/follow.err)"
fi
kill $follower 2>/dev/null

# 2. The kernel's own server, by busid.
usblabd_stop
if wait_until 15 direct_disk && usbip bind -b "$STICK_BUSID" >/tmp/bind.out 2>&1 && usbipd_start; then
	out=$(ul remote list $SERVER 2>&1)
	check usbipd-remote-list "usblab remote list against usbipd: $(echo "$out" | tr '\n' ';')" \
		eval 'echo "$out" | grep -q " $STICK_BUSID  *-  *-  *exported  *-  *46f4:0001 "'
	if ul attach $SERVER "$STICK_BUSID" >/tmp/kattach.out 2>&1; then
		pass usbipd-attach
		got=$(link_md5 "$RUN/$STICK_BUSID/disk")
		check usbipd-md5 "md5 through $RUN/$STICK_BUSID/disk is $got, want $ref" [ "$got" = "$ref" ]
		check usbipd-detach "usblab detach $STICK_BUSID failed" ul detach "$STICK_BUSID"
	else
		fail usbipd-attach "usblab attach $SERVER $STICK_BUSID: $(tr '\n' ' ' </tmp/kattach.out)"
	fi
else
	fail usbipd-start "usbip bind / usbipd: $(tr '\n' ' ' </tmp/bind.out)"
fi

# 3. A name too long for NAME#TOKEN in the 31-byte busid field: BUSID#TOKEN.
usbipd_stop
usbip unbind -b "$STICK_BUSID" >/dev/null 2>&1
LONG=stick-with-a-rather-long-name
printf '[%s]\nserial = %s\n' $LONG "$STICK_SERIAL" >/tmp/devices-long.conf
if wait_until 15 direct_disk &&
	usblabd_start --registry /tmp/devices-long.conf --db none --control $SOCK; then
	wait_until 10 remote_has "$STICK_BUSID"
	token=$(ul checkout $LONG --json | tr -d ' \n' | sed -n 's/.*"token":"\([a-z0-9]*\)".*/\1/p')
	if ul attach $SERVER $LONG --token "$token" >/tmp/long.out 2>&1; then
		pass long-name-token
		check long-name-link "no disk link in $RUN/$LONG: $(tr '\n' ' ' </tmp/long.out)" \
			[ -b "$(readlink $RUN/$LONG/disk)" ]
		ul detach $LONG >/dev/null 2>&1
	else
		fail long-name-token "usblab attach $LONG --token: $(tr '\n' ' ' </tmp/long.out)"
	fi
	usblabd_stop
else
	fail long-name-token "usblabd with the long name did not start"
fi

# 4. No vhci-hcd on this machine: the error says which module and how.
if rmmod vhci_hcd 2>/tmp/rmmod.err; then
	ul attach $SERVER "$STICK_BUSID" >/tmp/novhci.out 2>&1
	rc=$?
	check no-vhci-exit "exit $rc (want 6): $(tr '\n' ' ' </tmp/novhci.out)" [ $rc -eq 6 ]
	check no-vhci-message "the error does not say modprobe vhci-hcd: $(tr '\n' ' ' </tmp/novhci.out)" \
		grep -q 'modprobe vhci-hcd' /tmp/novhci.out
	modprobe vhci_hcd
	check vhci-back "vhci_hcd did not come back" wait_until 5 test -e $VHCI/attach
else
	skip no-vhci "rmmod vhci_hcd: $(cat /tmp/rmmod.err)"
fi
