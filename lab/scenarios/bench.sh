# SPDX-License-Identifier: MIT
#
# bench - the side-by-side benchmark: the same qemu usb-storage exported once
# by the kernel (usbipd + usbip-host) and once by usblabd (libusb), each
# attached through vhci in this guest, measured the same way:
#   seq_read_MBps      O_DIRECT sequential read, 1 MiB blocks, 2 s
#   rand_read_4k_iops  O_DIRECT 4 KiB reads at random offsets, depth 1, 3 s
#   ctrl_rtt_p50_us    GET_DESCRIPTOR(device) through usbfs on the vhci
#   ctrl_rtt_p99_us    device's /dev/bus/usb node, 2 s of round trips
# and printed as "BENCH:" lines: metric, kernel, usblabd, usblabd/kernel.
# Everything runs under TCG on one loopback: compare the ratio, not the
# absolute figures, with a real machine.

METRICS="seq_read_MBps rand_read_4k_iops ctrl_rtt_p50_us ctrl_rtt_p99_us"

# bench_measure FILE: measures the device attached as $ATT_LBUSID into FILE
# ("metric value" lines); 0 when every measurement worked.
bench_measure() {
	_disk=$(vhci_disk "$ATT_LBUSID")
	_node=$(usb_node "$ATT_LBUSID")
	: >"$1"
	labprobe seqread "$_disk" 2 >/tmp/m.out 2>&1 &&
		echo "seq_read_MBps $(sed -n 's/.*MBps=//p' /tmp/m.out)" >>"$1" || return 1
	labprobe randread "$_disk" 3 >/tmp/m.out 2>&1 &&
		echo "rand_read_4k_iops $(sed -n 's/.*iops=//p' /tmp/m.out)" >>"$1" || return 1
	labprobe ctrllat "$_node" 2 >/tmp/m.out 2>&1 || return 1
	sed -n 's/.*p50_us=\([0-9]*\).*/ctrl_rtt_p50_us \1/p' /tmp/m.out >>"$1"
	sed -n 's/.*p99_us=\([0-9]*\).*/ctrl_rtt_p99_us \1/p' /tmp/m.out >>"$1"
	note "$(tr '\n' ' ' <"$1")($_disk, $_node)"
}

rm -f /tmp/bench.kernel /tmp/bench.usblabd
if ! wait_until 15 direct_disk; then
	fail stick-present "no /dev/sdX for the qemu usb-storage ($STICK_BUSID)"
	return 0
fi
if labprobe seqread "$(direct_disk)" 2 >/tmp/m.out 2>&1; then
	note "direct (no USB/IP) sequential read: $(cat /tmp/m.out)"
fi

# The kernel's server.
if usbipd_start && usbip bind -b "$STICK_BUSID" >/tmp/bind.out 2>&1 &&
	vhci_attach "$STICK_BUSID" && wait_until 15 vhci_disk "$ATT_LBUSID"; then
	if bench_measure /tmp/bench.kernel; then
		pass kernel-measured
	else
		fail kernel-measured "$(cat /tmp/m.out)"
	fi
	vhci_detach "$ATT_PORT"
else
	fail kernel-measured "usbipd/usbip-host export or attach failed: $(cat /tmp/bind.out)"
fi
usbip unbind -b "$STICK_BUSID" >/dev/null 2>&1
usbipd_stop

# usblabd, on the same device.
if ! usblabd_has --export; then
	skip usblabd-measured "usblabd --export not available"
elif usblabd_start --export "serial=$STICK_SERIAL" && wait_until 10 remote_has "$STICK_BUSID" &&
	vhci_attach "$STICK_BUSID" && wait_until 15 vhci_disk "$ATT_LBUSID"; then
	if bench_measure /tmp/bench.usblabd; then
		pass usblabd-measured
	else
		fail usblabd-measured "$(cat /tmp/m.out)"
	fi
	vhci_detach "$ATT_PORT"
	usblabd_stop
else
	fail usblabd-measured "usblabd export or attach failed"
	dump /tmp/usblabd.log "usblabd: "
	usblabd_stop
fi

# The table; a missing figure is "n/a".
touch /tmp/bench.kernel /tmp/bench.usblabd
printf 'BENCH: %-20s %10s %10s %8s\n' metric kernel usblabd ratio
for m in $METRICS; do
	k=$(awk -v m=$m '$1 == m {print $2}' /tmp/bench.kernel)
	u=$(awk -v m=$m '$1 == m {print $2}' /tmp/bench.usblabd)
	r=$(awk -v k="$k" -v u="$u" 'BEGIN {
		if (k == "" || u == "" || k + 0 == 0) print "n/a"; else printf "%.2f", u / k }')
	printf 'BENCH: %-20s %10s %10s %8s\n' $m "${k:-n/a}" "${u:-n/a}" "$r"
done
