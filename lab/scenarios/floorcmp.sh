# SPDX-License-Identifier: MIT
#
# floorcmp - usblabd against the least USB/IP server (labprobe floorsrv),
# with and without the two calls libusb's event handling adds per URB,
# all three attached through vhci and measured alike: control round trip
# (ctrllat) and 4 KiB random reads (randread), alternating for three
# rounds so that load on the host hits all three. A tool, run only when
# named; prints "BENCH: floorcmp server round metric value" lines to the console.

# cmp_measure SERVER ROUND: the two measurements on the attached stick.
cmp_measure() {
	_disk=$(vhci_disk "$ATT_LBUSID")
	_node=$(usb_node "$ATT_LBUSID")
	labprobe ctrllat "$_node" 1.5 >/tmp/m.out 2>&1 &&
		echo "BENCH: floorcmp $1 $2 ctrl_p50_us $(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' /tmp/m.out)"
	labprobe randread "$_disk" 2 >/tmp/m.out 2>&1 &&
		echo "BENCH: floorcmp $1 $2 rand_iops $(sed -n 's/.*iops=//p' /tmp/m.out)"
	labprobe seqread "$_disk" 2 >/tmp/m.out 2>&1 &&
		echo "BENCH: floorcmp $1 $2 seq_MBps $(sed -n 's/.*MBps=//p' /tmp/m.out)"
}

# cmp_floor NAME ROUND [libusb]
cmp_floor() {
	if floorsrv_attach $3; then
		cmp_measure "$1" "$2"
		vhci_detach "$ATT_PORT"
	else
		fail "$1-$2" "floorsrv attach failed: $(tr '\n' ' ' </tmp/floorsrv.out 2>/dev/null)"
	fi
	floorsrv_done || fail "$1-rebound-$2" "usb-storage did not take the disk back"
}

cmp_usblabd() {
	if usblabd_start --export "serial=$STICK_SERIAL" && wait_until 10 remote_has "$STICK_BUSID" &&
		vhci_attach "$STICK_BUSID" && wait_until 15 vhci_disk "$ATT_LBUSID"; then
		cmp_measure usblabd "$1"
		vhci_detach "$ATT_PORT"
	else
		fail "usblabd-$1" "usblabd export or attach failed"
	fi
	usblabd_stop
	wait_until 15 direct_disk || fail "usblabd-rebound-$1" "usb-storage did not take the disk back"
}

if ! wait_until 15 direct_disk; then
	fail stick-present "no /dev/sdX for the qemu usb-storage ($STICK_BUSID)"
	return 0
fi
for _r in 1 2 3; do
	cmp_floor floor "$_r"
	cmp_floor floor+libusb "$_r" libusb
	cmp_usblabd "$_r"
done
pass compared
