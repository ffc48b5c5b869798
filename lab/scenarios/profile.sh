# SPDX-License-Identifier: MIT
#
# profile - where the guest's one CPU goes during usblabd's and the kernel's
# sequential read and control round trips: `perf record -a` (cpu-clock)
# around labprobe, `strace -c` and a short `strace -tt -T` of usblabd.
# Needs `--extra "$(command -v perf)" --extra "$(command -v strace)"`;
# not part of the default run (a tool, not a check).

# prof_run TAG CMD...: perf record -a around CMD, the report to the console.
prof_run() {
	_tag=$1
	shift
	if ! command -v perf >/dev/null; then
		skip "perf-$_tag" "no perf in the guest (lab.sh --extra \$(command -v perf))"
		return
	fi
	perf record -q -a -g -e cpu-clock -F 2000 -o /tmp/perf.$_tag -- "$@" >/tmp/prof.out 2>&1
	note "$_tag: $(tr '\n' ' ' </tmp/prof.out)"
	perf report -i /tmp/perf.$_tag --stdio --no-children --sort comm,dso,sym \
		--percent-limit 0.7 -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -70 >/tmp/prof.rep
	dump /tmp/prof.rep "PROF $_tag: "
	perf report -i /tmp/perf.$_tag --stdio --no-children --sort comm -g none \
		2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 >/tmp/prof.rep
	dump /tmp/prof.rep "PROF $_tag comm: "
	perf report -i /tmp/perf.$_tag --stdio --no-children --comms usblabd --sort dso,sym -g none \
		--percent-limit 0.3 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60 >/tmp/prof.rep
	dump /tmp/prof.rep "PROFU $_tag: "
	perf report -i /tmp/perf.$_tag --stdio --no-children --sort comm,dso -g none \
		--percent-limit 0.3 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30 >/tmp/prof.rep
	dump /tmp/prof.rep "PROFD $_tag: "
	perf report -i /tmp/perf.$_tag --stdio --no-children --sort comm,sym --percent-limit 2.5 \
		-g caller,1,callee,function,percent 2>/dev/null | grep -v '^#' | grep -v '^$' |
		head -400 >/tmp/prof.rep
	dump /tmp/prof.rep "PROFG $_tag: "
	perf report -i /tmp/perf.$_tag --stdio --children --comms usblabd,labprobe --sort comm,sym -g none \
		--percent-limit 1 2>/dev/null | grep -E '__x64_sys|do_syscall_64|irq|softirq|\[\.\]|schedule|asm_' |
		head -60 >/tmp/prof.rep
	dump /tmp/prof.rep "PROFS $_tag: "
	pass "perf-$_tag"
}

prof_strace() {
	_tag=$1
	shift
	command -v strace >/dev/null || { skip "strace-$_tag" "no strace in the guest"; return; }
	_pid=$(cat /run/lab/usblabd.pid)
	strace -f -c -p "$_pid" -o /tmp/st.$_tag &
	_s=$!
	sleep 0.5
	"$@" >/tmp/prof.out 2>&1
	note "$_tag under strace -c: $(tr '\n' ' ' </tmp/prof.out)"
	kill -INT $_s
	wait $_s
	dump /tmp/st.$_tag "STRACE $_tag: "
	strace -f -tt -T -p "$_pid" -o /tmp/stt.$_tag &
	_s=$!
	sleep 0.5
	"$@" >/tmp/prof.out 2>&1 &
	_l=$!
	sleep 1
	kill -INT $_s
	wait $_s
	wait $_l
	head -400 /tmp/stt.$_tag | tail -250 >/tmp/stt.cut
	dump /tmp/stt.cut "STT $_tag: "
	pass "strace-$_tag"
}

if ! wait_until 15 direct_disk; then
	fail stick-present "no /dev/sdX for the qemu usb-storage ($STICK_BUSID)"
	return 0
fi
if usblabd_start --export "serial=$STICK_SERIAL" && wait_until 10 remote_has "$STICK_BUSID" &&
	vhci_attach "$STICK_BUSID" && wait_until 15 vhci_disk "$ATT_LBUSID"; then
	_disk=$(vhci_disk "$ATT_LBUSID")
	_node=$(usb_node "$ATT_LBUSID")
	for _i in 1 2 3 4; do labprobe seqread "$_disk" 2 >/tmp/prof.out 2>&1; note "usblabd seq $_i: $(cat /tmp/prof.out)"; done
	prof_run usblabd-seq labprobe seqread "$_disk" 3
	prof_run usblabd-ctrl labprobe ctrllat "$_node" 2
	prof_run usblabd-rand labprobe randread "$_disk" 2
	prof_strace usblabd-seq labprobe seqread "$_disk" 2
	prof_strace usblabd-ctrl labprobe ctrllat "$_node" 1
	vhci_detach "$ATT_PORT"
else
	fail usblabd-attach "usblabd export or attach failed"
fi
usblabd_stop
if usbipd_start && usbip bind -b "$STICK_BUSID" >/tmp/bind.out 2>&1 &&
	vhci_attach "$STICK_BUSID" && wait_until 15 vhci_disk "$ATT_LBUSID"; then
	_disk=$(vhci_disk "$ATT_LBUSID")
	_node=$(usb_node "$ATT_LBUSID")
	for _i in 1 2 3 4; do labprobe seqread "$_disk" 2 >/tmp/prof.out 2>&1; note "kernel seq $_i: $(cat /tmp/prof.out)"; done
	prof_run kernel-seq labprobe seqread "$_disk" 3
	prof_run kernel-ctrl labprobe ctrllat "$_node" 2
	vhci_detach "$ATT_PORT"
fi
usbip unbind -b "$STICK_BUSID" >/dev/null 2>&1
usbipd_stop
# The floor's control loop, for the same comparison.
_direct=$(usb_node "$STICK_BUSID")
[ -n "$_direct" ] && prof_run floor-ctrl labprobe floor "$_direct" 2
# The least USB/IP server behind vhci (labprobe floorsrv), for the same
# comparison as usblabd's.
if floorsrv_attach; then
	_disk=$(vhci_disk "$ATT_LBUSID")
	_node=$(usb_node "$ATT_LBUSID")
	prof_run floorsrv-ctrl labprobe ctrllat "$_node" 2
	prof_run floorsrv-rand labprobe randread "$_disk" 2
	vhci_detach "$ATT_PORT"
fi
floorsrv_done
