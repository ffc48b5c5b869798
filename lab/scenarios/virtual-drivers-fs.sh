# SPDX-License-Identifier: MIT
#
# virtual-drivers-fs (issue scenario 3): usblabd's three virtual devices
# (cdc, hid, msc on its 16 MiB RAM disk) imported through vhci get the
# kernel's own drivers: cdc_acm, usbhid, usb-storage. On the disk: mkfs
# (vfat), mount, write a file, umount, detach and attach again (so the read
# crosses USB/IP rather than the page cache), mount, read the file back.

if ! usblabd_has --virtual; then
	skip all "usblabd --virtual not available"
	return 0
fi
usblabd_start_virtual cdc,hid,msc || return 0

# attach_bound BUSID DRIVER: attaches and waits for DRIVER on an interface.
attach_bound() {
	if ! vhci_attach "$1"; then
		fail "$2" "usbip attach -b $1 gave no used vhci port"
		return 1
	fi
	_want=$2
	if wait_until 10 eval 'usb_drivers $ATT_LBUSID | grep -q -w -e "$_want"'; then
		pass "$2"
		note "$1 -> vhci port $ATT_PORT, $ATT_LBUSID: $(usb_drivers $ATT_LBUSID)"
		return 0
	fi
	fail "$2" "$1 on $ATT_LBUSID has drivers [$(usb_drivers $ATT_LBUSID)] after 10 s"
	return 1
}

attach_bound 0-1 cdc_acm
attach_bound 0-2 usbhid
if ! attach_bound 0-3 usb-storage; then
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
msc_port=$ATT_PORT
if ! wait_until 10 vhci_disk "$ATT_LBUSID"; then
	fail msc-disk "no block device below $ATT_LBUSID after 10 s"
	return 0
fi
vdisk=$(vhci_disk "$ATT_LBUSID")
size=$(blockdev --getsize64 "$vdisk")
check msc-size "$vdisk has $size bytes, not 16 MiB" [ "$size" = $((16 << 20)) ]

mkdir -p /mnt/v
if mkdosfs -n USBLAB "$vdisk" >/tmp/mkfs.out 2>&1; then
	pass mkfs
else
	fail mkfs "mkdosfs $vdisk: $(cat /tmp/mkfs.out)"
	return 0
fi
if ! mount -t vfat "$vdisk" /mnt/v 2>/tmp/mount.err; then
	fail mount "mount $vdisk: $(cat /tmp/mount.err)"
	return 0
fi
pass mount
dd if=/dev/urandom of=/tmp/f bs=64k count=16 2>/dev/null
fmd5=$(md5sum </tmp/f | cut -d' ' -f1)
cp /tmp/f /mnt/v/data.bin && sync
check write-file "the file copied onto the disk differs" \
	[ "$(md5sum </mnt/v/data.bin | cut -d' ' -f1)" = "$fmd5" ]
check umount "umount /mnt/v failed" umount /mnt/v

# Reattach: a new block device, so nothing comes from the old page cache.
vhci_detach "$msc_port"
if vhci_attach 0-3 && wait_until 10 vhci_disk "$ATT_LBUSID"; then
	vdisk=$(vhci_disk "$ATT_LBUSID")
	if mount -t vfat "$vdisk" /mnt/v 2>/tmp/mount.err; then
		pass remount
		got=$(md5sum </mnt/v/data.bin 2>/dev/null | cut -d' ' -f1)
		check read-back "data.bin reads back with md5 $got, wrote $fmd5" [ "$got" = "$fmd5" ]
		umount /mnt/v
	else
		fail remount "mount $vdisk after the reattach: $(cat /tmp/mount.err)"
	fi
else
	fail remount "usbip attach -b 0-3 again gave no disk"
fi
check usblabd-sigterm "usblabd did not exit within 3 s of SIGTERM" usblabd_stop
dump /tmp/usblabd.log "usblabd: "
