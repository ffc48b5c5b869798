# SPDX-License-Identifier: MIT
#
# unlink-storm (issue scenario 5): interrupted I/O on usblabd's virtual
# devices, imported through vhci, makes the kernel cancel URBs in flight,
# and vhci sends CMD_UNLINK for those already sent:
#   - cdc-acm kills its pending bulk-IN URBs on every close of the tty:
#     labprobe ttystorm closes it right after writing (echo in flight), and
#     "timeout -s INT cat /dev/ttyACMn" interrupts blocked readers;
#   - "timeout -s INT dd" interrupts O_DIRECT reads of the msc disk (on a
#     FILE this time, msc:FILE).
# usbmon counts the cancelled URBs on vhci's buses. Afterwards the guest's
# kernel log must hold no "cannot find a urb of seqnum" / "unknown seqnum"
# (vhci's complaints about a reply for an URB it no longer knows), the
# ports must still be attached and every device must still work.

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
ports=""
vhci_attach 0-1 && wait_until 10 acm_tty "$ATT_LBUSID" && tty=$(acm_tty "$ATT_LBUSID") &&
	ports="$ports $ATT_PORT" && cdc_bus=${ATT_LBUSID%%-*}
vhci_attach 0-2 && wait_until 10 event_node "$ATT_LBUSID" && ev=$(event_node "$ATT_LBUSID") &&
	ports="$ports $ATT_PORT"
vhci_attach 0-3 && wait_until 10 vhci_disk "$ATT_LBUSID" && disk=$(vhci_disk "$ATT_LBUSID") &&
	ports="$ports $ATT_PORT" && msc_bus=${ATT_LBUSID%%-*}
if [ -z "$tty" ] || [ -z "$ev" ] || [ -z "$disk" ]; then
	fail attach "tty '$tty', input '$ev', disk '$disk': not all three came up"
	dump /tmp/usblabd.log "usblabd: "
	return 0
fi
pass attach
note "storm on $tty, $ev, $disk (vhci ports$ports)"

# usbmon's text interface for all buses: "C" lines with status -2 (ENOENT,
# killed) or -104 (ECONNRESET, unlinked) are cancelled URBs.
mon=/sys/kernel/debug/usb/usbmon/0u
: >/tmp/usbmon.txt
monpid=""
if [ -r $mon ]; then
	cat $mon >/tmp/usbmon.txt &
	monpid=$!
fi
t0=$(uptime_ms)
labprobe ttystorm "$tty" 150 >/tmp/storm1.out 2>&1 &
s1=$!
(for i in $(seq 20); do timeout -s INT 0.2 cat "$tty" >/dev/null 2>&1; done) &
s2=$!
(for i in $(seq 15); do timeout -s INT 0.3 dd if="$disk" of=/dev/null bs=1M iflag=direct 2>/dev/null; done) &
s3=$!
(for i in $(seq 15); do timeout -s INT 0.2 cat "$ev" >/dev/null 2>&1; done) &
s4=$!
wait $s1 $s2 $s3 $s4
note "storm took $(($(uptime_ms) - t0)) ms: $(cat /tmp/storm1.out)"
sleep 1
[ -n "$monpid" ] && kill $monpid
cancelled=$(awk -v a="$cdc_bus" -v b="$msc_bus" '$3 == "C" && ($5 == "-2" || $5 == "-104") {
	split($4, f, ":"); if (f[2] + 0 == a || f[2] + 0 == b) n++ } END {print n + 0}' /tmp/usbmon.txt)
logged=$(grep -c -i unlink /tmp/usblabd.log)
note "usbmon: $cancelled URBs cancelled on vhci buses $cdc_bus/$msc_bus; usblabd logged $logged lines about unlinks"
check urbs-cancelled "usbmon saw no URB cancelled on the vhci buses: the storm did not storm" \
	[ "$cancelled" -gt 0 ]

bad=$(dmesg | grep -E 'cannot find a urb of seqnum|unknown seqnum' | head -n 3)
check dmesg-clean "kernel log: $bad" [ -z "$bad" ]
for p in $ports; do
	check "port-$p-attached" "vhci port $p has sta $(vhci_sta $p) after the storm" \
		[ "$(vhci_sta $p)" = 6 ]
done
check cdc-echo "the tty does not echo after the storm: $(labprobe ttyecho "$tty" after-storm 5 2>&1)" \
	labprobe ttyecho "$tty" after-storm 5
got=$(md5_range "$disk")
check msc-md5 "the disk reads $got after the storm, the file has $img_md5" [ "$got" = "$img_md5" ]
check usblabd-alive "usblabd died during the storm" usblabd_alive
check list-after "usbip list -r fails after the storm" remote_lists
for p in $ports; do vhci_detach "$p"; done
check usblabd-sigterm "usblabd did not exit within 3 s of SIGTERM" usblabd_stop
grep -i -E 'warn|error|unlink' /tmp/usblabd.log | tail -n 40 | sed 's/^/| usblabd: /'
