# SPDX-License-Identifier: MIT
#
# bench - the side-by-side benchmark: the same qemu usb-storage exported once
# by the kernel (usbipd + usbip-host) and once by usblabd (libusb), each
# attached through vhci in this guest, measured the same way:
#   seq_read_MBps      O_DIRECT sequential read, 1 MiB blocks, 2 s
#   rand_read_4k_iops  O_DIRECT 4 KiB reads at random offsets, depth 1, 2 s
#   ctrl_rtt_p50_us    GET_DESCRIPTOR(device) through usbfs on the vhci
#   ctrl_rtt_p99_us    device's /dev/bus/usb node, 1.5 s of round trips
#   ctrl_urbps_d1      the same GET_DESCRIPTOR as asynchronous usbfs URBs
#   ctrl_urbps_d32     (SUBMITURB/REAPURB), 1 and 32 in flight, 1 s each
# After the rounds, a reference on the same device without USB/IP, from
# its own usbfs node: the control figures above measured directly, and the
# "floor" of a userspace server (labprobe floor: a client process sends a
# command over loopback TCP, the server loop makes only the 6 system calls
# every userspace server makes per URB: epoll_wait, recv, SUBMITURB,
# epoll_wait, REAPURBNDELAY, send). They print as "BENCH: ref ..." lines.
# The same for sequential read: the direct O_DIRECT read of the disk, and
# the floor (labprobe floorread: the interface taken from usb-storage, a
# client process reading the disk through that loop in SCSI READ(10)s of
# the size usb-storage used through vhci in the kernel's round, its
# max_sectors_kb), best of two 2 s runs; then floor/kernel and
# usblabd/floor. floorread gives the interface back to usb-storage.
# Two rounds, alternating kernel and usblabd, so that a burst of load on the
# host (TCG shares its cores with whatever else runs) hits both; the table
# keeps each server's best figure (highest rate, lowest latency) and prints
# it as "BENCH:" lines: metric, kernel, usblabd, usblabd/kernel. Compare the
# ratio, not the absolute figures, with a real machine.

METRICS="seq_read_MBps rand_read_4k_iops ctrl_rtt_p50_us ctrl_rtt_p99_us ctrl_urbps_d1 ctrl_urbps_d32"
ROUNDS="1 2"

# bench_measure FILE: measures the device attached as $ATT_LBUSID into FILE
# ("metric value" lines); 0 when every measurement worked.
bench_measure() {
	_disk=$(vhci_disk "$ATT_LBUSID")
	_node=$(usb_node "$ATT_LBUSID")
	: >"$1"
	labprobe seqread "$_disk" 2 >/tmp/m.out 2>&1 &&
		echo "seq_read_MBps $(sed -n 's/.*MBps=//p' /tmp/m.out)" >>"$1" || return 1
	labprobe randread "$_disk" 2 >/tmp/m.out 2>&1 &&
		echo "rand_read_4k_iops $(sed -n 's/.*iops=//p' /tmp/m.out)" >>"$1" || return 1
	labprobe ctrllat "$_node" 1.5 >/tmp/m.out 2>&1 || return 1
	sed -n 's/.*p50_us=\([0-9]*\).*/ctrl_rtt_p50_us \1/p' /tmp/m.out >>"$1"
	sed -n 's/.*p99_us=\([0-9]*\).*/ctrl_rtt_p99_us \1/p' /tmp/m.out >>"$1"
	for _d in 1 32; do
		labprobe ctrlrate "$_node" $_d 1 >/tmp/m.out 2>&1 || return 1
		echo "ctrl_urbps_d$_d $(sed -n 's/.*urbps=//p' /tmp/m.out)" >>"$1"
	done
	note "$(tr '\n' ' ' <"$1")($_disk, $_node)"
}

# bench_kernel ROUND: usbipd + usbip-host export, attach, measure, undo.
bench_kernel() {
	if usbipd_start && usbip bind -b "$STICK_BUSID" >/tmp/bind.out 2>&1 &&
		vhci_attach "$STICK_BUSID" && wait_until 15 vhci_disk "$ATT_LBUSID"; then
		_q=/sys/block/$(basename "$(vhci_disk "$ATT_LBUSID")")/queue
		cat "$_q/max_sectors_kb" >/tmp/ref.maxkb 2>/dev/null
		note "kernel round $1: usb-storage through vhci, max_sectors_kb $(cat "$_q/max_sectors_kb") (hw $(cat "$_q/max_hw_sectors_kb"))"
		bench_measure "/tmp/bench.kernel.$1" || fail "kernel-round-$1" "$(cat /tmp/m.out)"
		vhci_detach "$ATT_PORT"
	else
		fail "kernel-round-$1" "usbipd/usbip-host export or attach failed: $(cat /tmp/bind.out)"
	fi
	usbip unbind -b "$STICK_BUSID" >/dev/null 2>&1
	usbipd_stop
}

# bench_usblabd ROUND: usblabd --export, attach, measure, undo.
bench_usblabd() {
	if usblabd_start --export "serial=$STICK_SERIAL" && wait_until 10 remote_has "$STICK_BUSID" &&
		vhci_attach "$STICK_BUSID" && wait_until 15 vhci_disk "$ATT_LBUSID"; then
		bench_measure "/tmp/bench.usblabd.$1" || fail "usblabd-round-$1" "$(cat /tmp/m.out)"
		vhci_detach "$ATT_PORT"
	else
		fail "usblabd-round-$1" "usblabd export or attach failed ($(dmesg_about "$ATT_LBUSID"))"
		dump /tmp/usblabd.log "usblabd: "
	fi
	usblabd_stop
}

# bench_floorsrv ROUND: the least USB/IP server (labprobe floorsrv) on the
# stick's own usbfs node, attached and measured like the other two; then
# usb-storage takes the disk back.
bench_floorsrv() {
	if floorsrv_attach; then
		bench_measure "/tmp/bench.floorsrv.$1" || fail "floorsrv-round-$1" "$(cat /tmp/m.out)"
		vhci_detach "$ATT_PORT"
	else
		fail "floorsrv-round-$1" "floorsrv export or attach failed: $(tr '\n' ' ' </tmp/floorsrv.out 2>/dev/null)"
	fi
	floorsrv_done || fail "floorsrv-rebound-$1" "usb-storage did not take the disk back"
	note "floorsrv round $1: $(tr '\n' ' ' </tmp/floorsrv.out 2>/dev/null)"
}

# best SERVER METRIC: the best value over the rounds ("" when none).
best() {
	cat /tmp/bench."$1".* 2>/dev/null | awk -v m="$2" '$1 == m && $2 != "" {
		v = $2 + 0
		if (n == 0 || (m ~ /_us$/ ? v < b : v > b)) b = v
		n++ }
		END { if (n) print b }'
}

rm -f /tmp/bench.* /tmp/ref.*
if ! wait_until 15 direct_disk; then
	fail stick-present "no /dev/sdX for the qemu usb-storage ($STICK_BUSID)"
	return 0
fi
if labprobe seqread "$(direct_disk)" 1 >/tmp/ref.dseq 2>&1; then
	note "direct (no USB/IP) sequential read: $(cat /tmp/ref.dseq)"
fi
export_ok=0
usblabd_has --export && export_ok=1
for r in $ROUNDS; do
	bench_kernel "$r"
	[ $export_ok = 1 ] && bench_usblabd "$r"
	bench_floorsrv "$r"
done
if [ -s /tmp/bench.kernel.1 ] || [ -s /tmp/bench.kernel.2 ]; then pass kernel-measured; fi
if [ $export_ok = 0 ]; then
	skip usblabd-measured "usblabd --export not available"
elif [ -s /tmp/bench.usblabd.1 ] || [ -s /tmp/bench.usblabd.2 ]; then
	pass usblabd-measured
fi

if [ -s /tmp/bench.floorsrv.1 ] || [ -s /tmp/bench.floorsrv.2 ]; then pass floorsrv-measured; fi

# ratio A B: A / B to two places, or n/a.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "" || b == "" || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }'
}

# The table; a missing figure is "n/a". "floor" is labprobe floorsrv.
printf 'BENCH: %-20s %10s %10s %8s %10s %8s %8s\n' metric kernel usblabd ratio floor \
	floor/k usbl/fl
for m in $METRICS; do
	k=$(best kernel $m)
	u=$(best usblabd $m)
	f=$(best floorsrv $m)
	printf 'BENCH: %-20s %10s %10s %8s %10s %8s %8s\n' $m "${k:-n/a}" "${u:-n/a}" \
		"$(ratio "$u" "$k")" "${f:-n/a}" "$(ratio "$f" "$k")" "$(ratio "$u" "$f")"
done

# The reference: the device itself, and the userspace floor.
_direct=$(usb_node "$STICK_BUSID")
if [ -n "$_direct" ] && labprobe ctrllat "$_direct" 1 >/tmp/r.lat 2>&1 &&
	labprobe ctrlrate "$_direct" 1 1 >/tmp/r.d1 2>&1 &&
	labprobe ctrlrate "$_direct" 32 1 >/tmp/r.d32 2>&1 &&
	labprobe floor "$_direct" 1 >/tmp/r.floor 2>&1; then
	printf 'BENCH: %-20s %10s %10s\n' "ref (no USB/IP)" direct floor
	printf 'BENCH: %-20s %10s %10s\n' ctrl_rtt_p50_us "$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' /tmp/r.lat)" \
		"$(sed -n 's/.*p50_us=\([0-9]*\).*/\1/p' /tmp/r.floor)"
	printf 'BENCH: %-20s %10s %10s\n' ctrl_urbps_d1 "$(sed -n 's/.*urbps=\([0-9]*\).*/\1/p' /tmp/r.d1)" \
		"$(sed -n 's/.*urbps=\([0-9]*\).*/\1/p' /tmp/r.floor)"
	printf 'BENCH: %-20s %10s %10s\n' ctrl_urbps_d32 "$(sed -n 's/.*urbps=\([0-9]*\).*/\1/p' /tmp/r.d32)" -
	pass reference-measured
else
	fail reference-measured "on ${_direct:-no usbfs node}: $(cat /tmp/r.lat /tmp/r.d1 /tmp/r.d32 /tmp/r.floor 2>/dev/null | tr '\n' ' ')"
fi

# The sequential-read floor, best of two runs (the client a process of its
# own; "labprobe floorread DEV S KIB thread" makes it a thread, which the
# bench leaves out for time: the scenario has 100 s); the disk must come
# back after each.
_kb=$(cat /tmp/ref.maxkb 2>/dev/null)
_fr=""
for _i in 1 2; do
	if [ -n "$_direct" ] && labprobe floorread "$_direct" 2 "${_kb:-1024}" >/tmp/r.fread 2>&1; then
		note "floorread $_i: $(cat /tmp/r.fread)"
		_v=$(sed -n 's/.*MBps=//p' /tmp/r.fread)
		_fr=$(awk -v b="$_fr" -v v="$_v" 'BEGIN { print (b == "" || v + 0 > b + 0) ? v : b }')
	else
		fail floorread-measured-$_i "on ${_direct:-no usbfs node}: $(tr '\n' ' ' </tmp/r.fread)"
	fi
	if wait_until 15 direct_disk; then
		pass stick-rebound-$_i
	else
		fail stick-rebound-$_i "usb-storage did not take the disk back after floorread"
	fi
done
if [ -n "$_fr" ]; then
	k=$(best kernel seq_read_MBps)
	u=$(best usblabd seq_read_MBps)
	printf 'BENCH: %-20s %10s %10s\n' seq_read_MBps "$(sed -n 's/.*MBps=//p' /tmp/ref.dseq)" "$_fr"
	awk -v k="$k" -v u="$u" -v f="$_fr" 'BEGIN {
		printf "BENCH: %-20s %10s\n", "seq floor/kernel", (k + 0 > 0 ? sprintf("%.2f", f / k) : "n/a")
		printf "BENCH: %-20s %10s\n", "seq usblabd/floor", (u != "" ? sprintf("%.2f", u / f) : "n/a") }'
	pass floorread-measured
fi
