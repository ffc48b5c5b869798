# SPDX-License-Identifier: MIT
#
# usbip-host - the baseline (the prototype's scenario A): the kernel's own
# server (usbipd + usbip-host) exports the qemu usb-storage, Debian's usbip
# attaches it through vhci, data reads back and a write lands on the image.
# It proves the lab itself (kernel, modules, qemu devices, vhci) works, so a
# usblabd failure elsewhere is usblabd's.

if ! wait_until 15 direct_disk; then
	fail stick-present "no /dev/sdX for the qemu usb-storage ($STICK_BUSID) after 15 s"
	return 0
fi
direct=$(direct_disk)
pass stick-present
check direct-md5 "direct read of $direct differs from the image" \
	[ "$(md5_range "$direct")" = "$LAB_MD5" ]

if ! usbipd_start; then
	fail usbipd-start "usbipd -D did not answer usbip list -r"
	dump /tmp/usbipd.out
	return 0
fi
usbip bind -b "$STICK_BUSID" >/tmp/bind.out 2>&1
dump /tmp/bind.out "bind: "
check bind "usbip-host did not take $STICK_BUSID" \
	[ "$(usb_device_driver $STICK_BUSID)" = usbip-host ]
check listed "usbip list -r does not show $STICK_BUSID" remote_has "$STICK_BUSID"

if ! vhci_attach "$STICK_BUSID"; then
	fail attach "usbip attach -b $STICK_BUSID gave no used vhci port"
	return 0
fi
pass attach
note "attached on vhci port $ATT_PORT as $ATT_LBUSID"
check usbip-status-used "usbip_status is not 2 (used)" \
	[ "$(cat /sys/bus/usb/devices/$STICK_BUSID/usbip_status)" = 2 ]
if wait_until 10 vhci_disk "$ATT_LBUSID"; then
	vdisk=$(vhci_disk "$ATT_LBUSID")
	pass vhci-disk
	check vhci-md5 "$vdisk read through vhci differs from the image" \
		[ "$(md5_range "$vdisk")" = "$LAB_MD5" ]
	# 4 MiB at 8 MiB, written through USB/IP; the host checks the image.
	dd if=/dev/urandom of=/tmp/w bs=1M count=4 2>/dev/null
	if dd if=/tmp/w of="$vdisk" bs=1M seek=8 conv=fsync 2>/tmp/dd.err; then
		pass vhci-write
		echo "LABHOST: md5 $SCN/write-on-image $((8 << 20)) $((4 << 20)) $(md5sum </tmp/w | cut -d' ' -f1)"
	else
		fail vhci-write "dd to $vdisk: $(cat /tmp/dd.err)"
	fi
else
	fail vhci-disk "no block device below vhci port $ATT_PORT after 10 s"
fi

check detach "vhci port $ATT_PORT not free after usbip detach" vhci_detach "$ATT_PORT"
usbip unbind -b "$STICK_BUSID" >/tmp/unbind.out 2>&1
dump /tmp/unbind.out "unbind: "
if wait_until 10 direct_disk; then
	pass rebound-usb-storage
	check direct-readback "the 4 MiB written through vhci do not read back directly" \
		[ "$(md5_range "$(direct_disk)" 8 4)" = "$(md5sum </tmp/w | cut -d' ' -f1)" ]
else
	fail rebound-usb-storage "usb-storage did not take $STICK_BUSID back after unbind"
fi
usbipd_stop
