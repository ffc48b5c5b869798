# SPDX-License-Identifier: MIT
#
# unlink-storm (issue scenario 5): interrupted I/O on usblabd's virtual
# devices, imported through vhci, makes the kernel cancel URBs in flight,
# and vhci sends CMD_UNLINK for those already sent:
#   - cdc-acm kills its pending bulk-IN URBs on every last close of the
#     tty: labprobe ttystorm closes it right after writing (echo in flight),
#     then readers ("cat /dev/ttyACMn") are killed mid-read;
#   - O_DIRECT dd reads of the msc disk (on a FILE this time, msc:FILE) and
#     readers of the keyboard's event node are killed mid-read.
# vhci's own log lines count the CMD_UNLINKs. Afterwards the guest's kernel
# log must hold no "cannot find a urb of seqnum" (a RET_SUBMIT for an URB
# vhci already gave back: the server answered after its RET_UNLINK), no
# "cannot find the pending unlink", no "unknown seqnum"; the ports must
# still be attached and every device must still work.

BAD_SEQNUM='cannot find a urb of seqnum|cannot find the pending unlink|unknown seqnum'

if ! usblabd_has --virtual; then
	skip all "usblabd --virtual not available"
	return 0
fi
dd if=/dev/urandom of=/tmp/msc.img bs=1M count=8 2>/dev/null
img_md5=$(md5sum </tmp/msc.img | cut -d' ' -f1)
if ! usblabd_start -v --virtual cdc,hid,msc:/tmp/msc.img; then
	fail usblabd-start "usblabd did not answer usbip list -r within 10 s"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass usblabd-start
ports="" tty="" ev="" disk=""
vhci_attach 0-1 && wait_until 10 acm_tty "$ATT_LBUSID" && tty=$(acm_tty "$ATT_LBUSID") &&
	ports="$ports $ATT_PORT"
vhci_attach 0-2 && wait_until 10 event_node "$ATT_LBUSID" && ev=$(event_node "$ATT_LBUSID") &&
	ports="$ports $ATT_PORT"
vhci_attach 0-3 && wait_until 10 vhci_disk "$ATT_LBUSID" && disk=$(vhci_disk "$ATT_LBUSID") &&
	ports="$ports $ATT_PORT"
if [ -z "$tty" ] || [ -z "$ev" ] || [ -z "$disk" ]; then
	fail attach "tty '$tty', input '$ev', disk '$disk': not all three came up"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass attach
note "storm on $tty, $ev, $disk (vhci ports$ports)"

# interrupt_reads N MS CMD...: N times, runs CMD in the background and
# kills it with SIGTERM after MS/5, 2*MS/5, ... MS milliseconds in turn.
# Not "timeout -s INT": busybox timeout counts whole seconds, and a
# background command of a non-interactive shell ignores SIGINT (POSIX).
interrupt_reads() {
	_n=$1 _ms=$2
	shift 2
	for _i in $(seq "$_n"); do
		"$@" >/dev/null 2>&1 &
		_r=$!
		usleep $((_ms * 1000 * (1 + _i % 5) / 5))
		kill -TERM $_r 2>/dev/null
		wait $_r
	done
}

storm_running() {
	for _p in $s1 $s2 $s3; do kill -0 "$_p" 2>/dev/null && return 0; done
	return 1
}

# vhci logs every CMD_UNLINK it sends ("unlink->seqnum N") and every
# RET_UNLINK that gives an URB back ("urb->status -104"): count them.
unlinks_before=$(dmesg | grep -c 'unlink->seqnum')
given_before=$(dmesg | grep -c 'urb->status -104')
late_before=$(dmesg | grep -c 'was already given back')
t0=$(uptime_ms)
# The tty storms run one after the other: while any reader holds the tty
# open, cdc-acm keeps its read URBs and a close cancels nothing.
(labprobe ttystorm "$tty" 150 >/tmp/storm1.out 2>&1; interrupt_reads 20 150 cat "$tty") &
s1=$!
interrupt_reads 15 200 dd if="$disk" of=/dev/null bs=1M iflag=direct &
s2=$!
interrupt_reads 15 150 cat "$ev" &
s3=$!
# Each storm takes about 5 s; a process stuck in close() means a cancelled
# URB never came back (no RET_UNLINK or RET_SUBMIT for it).
if ! wait_until 40 eval '! storm_running'; then
	fail storm-finished "storm processes still running after 40 s (see the log)"
	lab_diag
	bad=$(dmesg | grep -E "$BAD_SEQNUM" | head -n 3)
	check dmesg-clean "kernel log: $bad" [ -z "$bad" ]
	return 0
fi
pass storm-finished
sleep 1
unlinks=$(($(dmesg | grep -c 'unlink->seqnum') - unlinks_before))
note "storm took $(($(uptime_ms) - t0)) ms ($(cat /tmp/storm1.out)); vhci sent $unlinks CMD_UNLINK;" \
	"$(($(dmesg | grep -c 'urb->status -104') - given_before)) URBs given back by RET_UNLINK," \
	"$(($(dmesg | grep -c 'was already given back') - late_before)) RET_UNLINK after RET_SUBMIT"
check urbs-unlinked "vhci sent no CMD_UNLINK: the storm did not storm" [ "$unlinks" -gt 0 ]

bad=$(dmesg | grep -E "$BAD_SEQNUM" | head -n 3)
check dmesg-clean "kernel log: $bad" [ -z "$bad" ]
for p in $ports; do
	check "port-$p-attached" "vhci port $p has sta $(vhci_sta "$p") after the storm" \
		[ "$(vhci_sta "$p")" = 6 ]
done
if labprobe ttyecho "$tty" after-storm 5 >/tmp/echo.out 2>&1; then
	pass cdc-echo
else
	fail cdc-echo "the tty does not echo after the storm: $(cat /tmp/echo.out)"
fi
got=$(md5_range "$disk")
check msc-md5 "the disk reads $got after the storm, the file has $img_md5" [ "$got" = "$img_md5" ]
check usblabd-alive "usblabd died during the storm" usblabd_alive
check list-after "usbip list -r fails after the storm" remote_lists
for p in $ports; do vhci_detach "$p"; done
check usblabd-sigterm "usblabd did not exit within 3 s of SIGTERM" usblabd_stop
grep -i -E 'warn|error|unlink' /tmp/usblabd.log | tail -n 40 | sed 's/^/| usblabd: /'
