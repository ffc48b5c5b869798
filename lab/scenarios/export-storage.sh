# SPDX-License-Identifier: MIT
#
# export-storage (issue scenario 1): usblabd exports the qemu usb-storage
# (serial LABSER1) through libusb; Debian's "usbip attach" imports it; the
# vhci disk reads back byte-identical to the image, and a write made through
# USB/IP lands on the image (checked by lab.sh after qemu exits).

if ! usblabd_has --export; then
	skip all "usblabd --export not available"
	return 0
fi
if ! wait_until 15 direct_disk; then
	fail stick-present "no /dev/sdX for the qemu usb-storage ($STICK_BUSID)"
	return 0
fi
# The reference is the disk as it is now (usbip-host may have written to it).
ref=$(md5_range "$(direct_disk)")

if ! usblabd_start --export "serial=$STICK_SERIAL"; then
	fail usblabd-start "usblabd did not answer usbip list -r within 10 s"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass usblabd-start
if ! wait_until 10 remote_has "$STICK_BUSID"; then
	fail listed "usbip list -r shows [$(remote_busids | tr '\n' ' ')], not $STICK_BUSID"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass listed

if ! vhci_attach "$STICK_BUSID"; then
	fail attach "usbip attach -b $STICK_BUSID gave no used vhci port"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass attach
note "attached on vhci port $ATT_PORT as $ATT_LBUSID"
# The imported copy is a new USB device on vhci's root hub with the same
# serial, visible to libusb too: usblabd must not export it again.
check no-reexport "usbip list -r shows [$(remote_busids | tr '\n' ' ')] while attached" \
	eval '[ -z "$(remote_busids | grep -v -x "$STICK_BUSID")" ]' 
if wait_until 15 vhci_disk "$ATT_LBUSID"; then
	vdisk=$(vhci_disk "$ATT_LBUSID")
	pass vhci-disk
	note "vhci disk $vdisk -> $(readlink -f /sys/block/${vdisk#/dev/})"
	got=$(md5_range "$vdisk")
	check vhci-md5 "md5 through usblabd $got, the disk has $ref" [ "$got" = "$ref" ]
	# 4 MiB at 16 MiB through USB/IP; lab.sh compares the image afterwards.
	dd if=/dev/urandom of=/tmp/w bs=1M count=4 2>/dev/null
	wmd5=$(md5sum </tmp/w | cut -d' ' -f1)
	if dd if=/tmp/w of="$vdisk" bs=1M seek=16 oflag=direct conv=fsync 2>/tmp/dd.err; then
		pass vhci-write
		echo "LABHOST: md5 $SCN/write-on-image $((16 << 20)) $((4 << 20)) $wmd5"
		check vhci-readback "the 4 MiB written read back differently through vhci" \
			[ "$(md5_range "$vdisk" 16 4)" = "$wmd5" ]
	else
		fail vhci-write "dd to $vdisk: $(cat /tmp/dd.err)"
	fi
else
	fail vhci-disk "no block device below vhci port $ATT_PORT after 15 s ($(dmesg_about "$ATT_LBUSID"))"
fi

check detach "vhci port $ATT_PORT not free after usbip detach" vhci_detach "$ATT_PORT"
check still-listed "usbip list -r lost $STICK_BUSID after the detach" \
	wait_until 5 remote_has "$STICK_BUSID"
check usblabd-sigterm "usblabd did not exit within 3 s of SIGTERM" usblabd_stop
# usblabd gave the device back: a device is never left without its driver.
check driver-restored "usb-storage did not take $STICK_BUSID back after usblabd exited" \
	wait_until 5 direct_disk
dump /tmp/usblabd.log "usblabd: "

# The other stable identities select the same device: VID:PID and the
# physical port path. --list names it with the identities that select it.
check list-names-it "usblabd --list does not show serial=$STICK_SERIAL at $STICK_BUSID" \
	eval '"$USBLABD" --list 2>/dev/null | grep "^$STICK_BUSID " | grep -q "serial=$STICK_SERIAL"'
for ident in 46f4:0001 "$STICK_BUSID"; do
	if usblabd_start --export "$ident" && wait_until 10 remote_has "$STICK_BUSID"; then
		pass "export-by-$ident"
	else
		fail "export-by-$ident" "usbip list -r shows [$(remote_busids | tr '\n' ' ')]"
		dump /tmp/usblabd.log "usblabd: "
	fi
	usblabd_stop
	wait_until 5 direct_disk
done
