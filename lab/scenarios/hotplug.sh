# SPDX-License-Identifier: MIT
#
# hotplug (issue scenario 4): the qemu usb-storage is unplugged (QMP
# device_del) while a long O_DIRECT read runs through vhci from usblabd
# (and first, as the reference, from the kernel's usbipd + usbip-host).
# usblabd must log it, free the vhci port (the time from device_del to
# "sta 004" is recorded), the reader must end with an error instead of
# hanging, and usblabd must keep answering. After device_add of the same
# device (same serial, same port), usblabd exports it again by itself and a
# new attach reads the same data.

# unplug_while_reading PREFIX PORT DISK SERVER: starts a long read of DISK
# (vhci PORT), unplugs the stick, checks that the port frees and the reader
# ends with an error; records the time from device_del to the free port.
unplug_while_reading() {
	# labprobe seqread is "dd iflag=direct bs=1M" in a loop over the disk
	# for up to 60 s, ending at the first failed read.
	labprobe seqread "$3" 60 >/tmp/reader.out 2>&1 &
	_reader=$!
	sleep 1
	if ! kill -0 $_reader 2>/dev/null; then
		fail "${1}reader-running" "the reader ended before the unplug: $(cat /tmp/reader.out)"
	fi
	_t0=$(uptime_ms)
	_reply=$(stick_unplug)
	_t1=$(uptime_ms)
	if [ "${_reply%% *}" != ok ]; then
		fail "${1}unplug" "QMP device_del failed: $_reply"
		kill -9 $_reader
		return 1
	fi
	if wait_until 15 vhci_port_free "$2"; then
		_t2=$(uptime_ms)
		pass "${1}port-freed"
		# The kernel log times both ends to the microsecond: the guest's
		# hub reporting the disconnect, and vhci freeing the port. The gap
		# is the server's reaction (usbip-host: in the disconnect callback;
		# usblabd: udev event, libusb hotplug, closing the connection).
		# ("usb 2-1: USB disconnect", or "usbip-host 2-1: ..." while bound to it)
		_gap=$(dmesg | awk -v b=" $STICK_BUSID: USB disconnect" '
			{ ts = $0; sub(/^\[ */, "", ts); sub(/\].*/, "", ts) }
			index($0, b) { t0 = ts; t1 = "" }
			t0 != "" && t1 == "" && /vhci_hcd: disconnect device/ { t1 = ts }
			END { if (t0 != "" && t1 != "") printf "%.1f", (t1 - t0) * 1000 }')
		note "$4: device_del -> vhci port $2 free: $((_t2 - _t0)) ms by /proc/uptime" \
			"(QMP round trip $((_t1 - _t0)) ms); USB disconnect -> vhci free ${_gap:-?} ms"
		echo "BENCH: hotplug ($4): USB disconnect to vhci port free: ${_gap:-?} ms"
	else
		fail "${1}port-freed" "vhci port $2 still has sta $(vhci_sta "$2") 15 s after device_del"
	fi
	check "${1}vhci-disk-gone" "$3 (vhci) still exists after the unplug" \
		wait_until 5 eval '! vhci_disk "$ATT_LBUSID"'
	# The reader must end by itself, with an error, within a bounded time.
	if wait_until 15 eval '! kill -0 $_reader 2>/dev/null'; then
		wait $_reader
		if [ $? -ne 0 ]; then
			pass "${1}reader-error"
			note "$4: reader: $(tr '\n' ' ' </tmp/reader.out)"
		else
			fail "${1}reader-error" "the reader ended without an error: $(cat /tmp/reader.out)"
		fi
	else
		fail "${1}reader-error" "the reader still hangs 15 s after the unplug"
		kill -9 $_reader
	fi
	return 0
}

# The kernel's server first, as the reference for the timing (and a proof
# that the lab's unplug and replug work).
if wait_until 15 direct_disk && usbipd_start && usbip bind -b "$STICK_BUSID" >/dev/null 2>&1 &&
	vhci_attach "$STICK_BUSID" && wait_until 15 vhci_disk "$ATT_LBUSID"; then
	unplug_while_reading kernel- "$ATT_PORT" "$(vhci_disk "$ATT_LBUSID")" kernel
	# usbip-host keeps the busid in match_busid and would take the device
	# back on replug: drop it so usb-storage gets it.
	printf 'del %s' "$STICK_BUSID" >/sys/bus/usb/drivers/usbip-host/match_busid
	usbipd_stop
	check kernel-replug "QMP device_add failed" eval 'stick_replug >/dev/null'
else
	fail kernel-attach "the kernel's usbipd/usbip-host export or attach failed"
fi
usbipd_stop

if ! wait_until 15 direct_disk; then
	fail stick-present "no /dev/sdX for the qemu usb-storage ($STICK_BUSID)"
	return 0
fi
if ! usblabd_has --export; then
	skip all "usblabd --export not available"
	return 0
fi
ref=$(md5_range "$(direct_disk)")

if ! usblabd_start --export "serial=$STICK_SERIAL" || ! wait_until 10 remote_has "$STICK_BUSID"; then
	fail usblabd-start "usblabd did not list $STICK_BUSID within 10 s"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
if ! vhci_attach "$STICK_BUSID" || ! wait_until 15 vhci_disk "$ATT_LBUSID"; then
	fail attach "usbip attach -b $STICK_BUSID gave no vhci disk"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass attach
port=$ATT_PORT
vdisk=$(vhci_disk "$ATT_LBUSID")
pid=$(cat /run/lab/usblabd.pid)
log_lines=$(wc -l </tmp/usblabd.log)
unplug_while_reading "" "$port" "$vdisk" usblabd || return 0

new_log=$(tail -n +$((log_lines + 1)) /tmp/usblabd.log)
if echo "$new_log" | grep -q -i -E 'unplug|remov|left|gone|disconnect|detach|lost|vanish|depart'; then
	pass usblabd-logged-unplug
	note "usblabd: $(echo "$new_log" | grep -i -E 'unplug|remov|left|gone|disconnect|detach|lost|vanish|depart' | head -n 1)"
else
	fail usblabd-logged-unplug "no unplug line in usblabd's log after device_del"
fi
check usblabd-alive "usblabd (pid $pid) died after the unplug" kill -0 "$pid"
check list-after-unplug "usbip list -r fails after the unplug" remote_lists
check not-listed-after-unplug "usbip list -r still shows $STICK_BUSID after the unplug" \
	wait_until 5 eval '! remote_has "$STICK_BUSID"'

# Replug the same device: usblabd must export it again without being asked.
t0=$(uptime_ms)
reply=$(stick_replug)
if [ "${reply%% *}" != ok ]; then
	fail replug "QMP device_add failed: $reply"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
if wait_until 15 remote_has "$STICK_BUSID"; then
	pass reexported
	note "device_add -> listed again: $(($(uptime_ms) - t0)) ms"
else
	fail reexported "usbip list -r does not show $STICK_BUSID 15 s after device_add"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
if vhci_attach "$STICK_BUSID" && wait_until 15 vhci_disk "$ATT_LBUSID"; then
	pass reattach
	vdisk=$(vhci_disk "$ATT_LBUSID")
	got=$(md5_range "$vdisk")
	check reattach-md5 "md5 after the replug $got, before $ref" [ "$got" = "$ref" ]
	check detach "vhci port $ATT_PORT not free after usbip detach" vhci_detach "$ATT_PORT"
else
	fail reattach "usbip attach after the replug gave no vhci disk ($(dmesg_about "$ATT_LBUSID"))"
fi
check usblabd-sigterm "usblabd did not exit within 3 s of SIGTERM" usblabd_stop
dump /tmp/usblabd.log "usblabd: "
