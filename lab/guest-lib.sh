# SPDX-License-Identifier: MIT
#
# guest-lib.sh - helpers the scenarios share (busybox sh, sourced). A
# scenario runs with SCN set to its name; every check prints exactly one of
#   PASS: $SCN/<check>
#   FAIL: $SCN/<check>: <reason>
#   SKIP: $SCN/<check>: <reason>
# Other lines start with "LAB: " (notes) or "| " (logs) and only reach the
# console log on the host.

VHCI=/sys/devices/platform/vhci_hcd.0
USBLABD=/bin/usblabd
SERVER=127.0.0.1
# The qemu usb-storage of the "storage" boot: xhci port 1 on the SuperSpeed bus.
STICK_BUSID=2-1
STICK_SERIAL=LABSER1

pass() { echo "PASS: $SCN/$1"; }
fail() { echo "FAIL: $SCN/$1: $2"; }
skip() { echo "SKIP: $SCN/$1: $2"; }
note() { echo "LAB: $SCN: $*"; }

# check NAME REASON CMD...: PASS when CMD succeeds, else FAIL with REASON.
check() {
	_name=$1 _reason=$2
	shift 2
	if "$@"; then pass "$_name"; else fail "$_name" "$_reason"; fi
}

# Indents a file into the console log, for the post-mortem.
dump() {
	[ -s "$1" ] && sed "s/^/| $2/" "$1"
	return 0
}

# Milliseconds since boot (/proc/uptime has 10 ms resolution).
uptime_ms() {
	read -r _up _idle </proc/uptime
	# "12.34" -> 12 s, 34 cs; "1${cs}" - 100 avoids octal for "08".
	echo $((${_up%.*} * 1000 + (1${_up#*.} - 100) * 10))
}

# wait_until SECONDS CMD...: polls CMD every 0.1 s; 0 once it succeeds.
wait_until() {
	_deadline=$(($(uptime_ms) + $1 * 1000))
	shift
	while ! "$@" >/dev/null; do
		[ "$(uptime_ms)" -ge "$_deadline" ] && return 1
		usleep 100000
	done
	return 0
}

# --- block devices ------------------------------------------------------------

# disk_under PATTERN: the /dev/sdX whose sysfs path contains PATTERN.
disk_under() {
	for _b in /sys/block/sd*; do
		[ -e "$_b" ] || continue
		case $(readlink -f "$_b") in
		*"$1"*) echo "/dev/${_b##*/}"; return 0 ;;
		esac
	done
	return 1
}

# The qemu usb-storage seen directly (on the PCI xhci, not through vhci).
direct_disk() { disk_under "/usb2/$STICK_BUSID/"; }

# vhci_disk LBUSID: the block device of a device attached through vhci.
vhci_disk() {
	_v=$(disk_under "/usb${1%%-*}/$1/") || return 1
	case $(readlink -f "/sys/block/${_v#/dev/}") in
	*/vhci_hcd.*) echo "$_v" ;;
	*) return 1 ;;
	esac
}

# md5_range DEV [SKIP_MIB COUNT_MIB]: md5 of a device (or a part), read with
# O_DIRECT so that what comes back crossed the bus, not the page cache.
md5_range() {
	if [ $# -eq 3 ]; then
		dd if="$1" bs=1M skip="$2" count="$3" iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
	else
		dd if="$1" bs=1M iflag=direct 2>/dev/null | md5sum | cut -d' ' -f1
	fi
}

# class_node CLASS PREFIX BUSID: /dev/PREFIXn of the device BUSID, found by
# its sysfs path (/sys/class/tty/ttyACM0 -> .../3-1/3-1:1.0/tty/ttyACM0).
class_node() {
	for _c in /sys/class/"$1"/"$2"*; do
		[ -e "$_c" ] || continue
		case $(readlink -f "$_c") in
		*/"$3":*) echo "$4${_c##*/}"; return 0 ;;
		esac
	done
	return 1
}

acm_tty() { class_node tty ttyACM "$1" /dev/; }
event_node() { class_node input event "$1" /dev/input/; }

# --- vhci (client side) -------------------------------------------------------

# Lines "PORT STA LBUSID" for every vhci port. The status files pad numbers
# with zeros, and busybox awk reads "0015" as octal: strip them as text.
vhci_ports() {
	cat "$VHCI"/status* | awk '$1 == "hs" || $1 == "ss" {
		p = $2; s = $3; sub(/^0+/, "", p); sub(/^0+/, "", s)
		print (p == "" ? 0 : p), s, $7 }'
}

# vhci_sta PORT: the port's state (4 free, 5 attaching, 6 used).
vhci_sta() { vhci_ports | awk -v p="$1" '$1 == p {print $2}'; }

vhci_port_free() { [ "$(vhci_sta "$1")" = 4 ]; }

# vhci_attach BUSID: "usbip attach" from $SERVER; waits for the new port to
# be in use and sets ATT_PORT and ATT_LBUSID (the local busid, e.g. 4-1).
vhci_attach() {
	ATT_PORT="" ATT_LBUSID=""
	_before=$(vhci_ports | awk '$2 != 4 {print $1}' | tr '\n' ' ')
	if ! timeout 20 usbip attach -r "$SERVER" -b "$1" >/tmp/attach.out 2>&1; then
		dump /tmp/attach.out "attach: "
		return 1
	fi
	wait_until 10 vhci_new_port "$_before" || return 1
	return 0
}

vhci_new_port() {
	_line=$(vhci_ports | awk -v old=" $1 " '$2 == 6 && index(old, " " $1 " ") == 0 {print; exit}')
	[ -n "$_line" ] || return 1
	ATT_PORT=${_line%% *}
	ATT_LBUSID=${_line##* }
}

# vhci_detach PORT: "usbip detach"; 0 once the port is free again.
vhci_detach() {
	timeout 10 usbip detach -p "$1" >/tmp/detach.out 2>&1 || dump /tmp/detach.out "detach: "
	wait_until 5 vhci_port_free "$1"
}

# usb_node BUSID: /dev/bus/usb/BBB/DDD of a USB device.
usb_node() {
	_d=/sys/bus/usb/devices/$1
	[ -r "$_d/busnum" ] || return 1
	printf '/dev/bus/usb/%03d/%03d\n' "$(cat "$_d/busnum")" "$(cat "$_d/devnum")"
}

# usb_device_driver BUSID: the driver bound to the device itself (usb, usbip-host).
usb_device_driver() {
	[ -L "/sys/bus/usb/devices/$1/driver" ] && basename "$(readlink "/sys/bus/usb/devices/$1/driver")"
}

# usb_drivers BUSID: the drivers bound to the device's interfaces, sorted.
usb_drivers() {
	for _i in /sys/bus/usb/devices/"$1":*; do
		[ -L "$_i/driver" ] && basename "$(readlink "$_i/driver")"
	done | sort -u | tr '\n' ' '
}

# --- servers ------------------------------------------------------------------

# The busids "usbip list -r" shows, one per line. Every usbip command is
# bounded: a server that stops answering must fail a check, not hang the lab.
remote_busids() {
	timeout 10 usbip list -r "$SERVER" 2>/tmp/list.err | awk '/^ +[0-9]+-[0-9.]+: / {sub(":", "", $1); print $1}'
}

remote_has() { remote_busids | grep -qx "$1"; }
remote_lists() { timeout 10 usbip list -r "$SERVER" >/dev/null 2>&1; }

# usblabd_has WORD: usblabd exists and its --help mentions WORD.
usblabd_has() {
	[ -x "$USBLABD" ] && "$USBLABD" --help 2>&1 | grep -q -e "$1"
}

# usblabd_start ARGS...: starts usblabd in the background, logging to
# /tmp/usblabd.log; 0 once it answers "usbip list -r".
usblabd_start() {
	: >/tmp/usblabd.log
	note "usblabd --listen $SERVER:3240 $*"
	"$USBLABD" --listen "$SERVER:3240" "$@" >>/tmp/usblabd.log 2>&1 &
	echo $! >/run/lab/usblabd.pid
	wait_until 10 usblabd_ready
}

# usblabd_start_virtual SPECS: starts usblabd --virtual SPECS (three devices)
# and checks usblabd-start and listed (usbip list -r shows 0-1 0-2 0-3).
# 1 when usblabd did not answer: the scenario has nothing to run then.
usblabd_start_virtual() {
	if ! usblabd_start --virtual "$1"; then
		fail usblabd-start "usblabd did not answer usbip list -r within 10 s"
		dump /tmp/usblabd.log "usblabd: "
		return 1
	fi
	pass usblabd-start
	check listed "usbip list -r shows [$(remote_busids | tr '\n' ' ')], not 0-1 0-2 0-3" \
		[ "$(remote_busids | tr '\n' ' ')" = "0-1 0-2 0-3 " ]
	return 0
}

usblabd_ready() {
	usblabd_alive || return 1
	remote_lists
}

usblabd_alive() { [ -s /run/lab/usblabd.pid ] && kill -0 "$(cat /run/lab/usblabd.pid)" 2>/dev/null; }

# usblabd_stop: SIGTERM, then SIGKILL after 3 s; 0 when it exited on SIGTERM.
usblabd_stop() {
	[ -s /run/lab/usblabd.pid ] || return 0
	_pid=$(cat /run/lab/usblabd.pid)
	kill "$_pid" 2>/dev/null
	if wait_until 3 usblabd_gone "$_pid"; then _rc=0; else
		kill -9 "$_pid" 2>/dev/null
		_rc=1
	fi
	rm -f /run/lab/usblabd.pid
	return $_rc
}

usblabd_gone() { ! kill -0 "$1" 2>/dev/null; }

# floorsrv_attach [libusb]: labprobe floorsrv (the least USB/IP server) on
# the stick's own usbfs node at $SERVER:3240, attached through vhci (sets
# ATT_PORT and ATT_LBUSID); its output in /tmp/floorsrv.out. 0 once the
# disk is there. floorsrv_done ends it either way.
floorsrv_attach() {
	FLOORSRV_PID=""
	_fnode=$(usb_node "$STICK_BUSID") || return 1
	labprobe floorsrv "$_fnode" "$STICK_BUSID" 3240 $1 >/tmp/floorsrv.out 2>&1 &
	FLOORSRV_PID=$!
	wait_until 10 grep -q listening /tmp/floorsrv.out && vhci_attach "$STICK_BUSID" &&
		wait_until 15 vhci_disk "$ATT_LBUSID"
}

# floorsrv_done: after the detach, floorsrv leaves (killed after 10 s) and
# gives the interfaces back; 0 once usb-storage has the disk again.
floorsrv_done() {
	if [ -n "$FLOORSRV_PID" ]; then
		wait_until 10 sh -c "! kill -0 $FLOORSRV_PID 2>/dev/null" || kill $FLOORSRV_PID 2>/dev/null
		wait $FLOORSRV_PID 2>/dev/null
	fi
	wait_until 15 direct_disk
}

# The kernel's own server: usbipd plus usbip-host bound to BUSID.
usbipd_start() {
	usbipd -D >/tmp/usbipd.out 2>&1 || return 1
	wait_until 5 remote_lists
}

usbipd_stop() {
	for _p in $(pidof usbipd); do kill "$_p"; done
	wait_until 3 usbipd_gone
}

usbipd_gone() { [ -z "$(pidof usbipd)" ]; }

# --- the host -----------------------------------------------------------------

# lab_host REQUEST: asks lab.sh (on the second serial port) to act on qemu,
# e.g. 'qmp {"execute":"device_del",...}'. Prints the reply; 0 on "ok".
lab_host() {
	exec 8<>/dev/ttyS1
	stty raw -echo <&8
	echo "$*" >&8
	_reply=""
	read -t 30 -r _reply <&8
	exec 8>&-
	echo "$_reply"
	case $_reply in ok*) return 0 ;; *) return 1 ;; esac
}

stick_unplug() {
	lab_host 'qmp {"execute":"device_del","arguments":{"id":"stick"}}'
}

stick_replug() {
	lab_host 'qmp {"execute":"device_add","arguments":{"driver":"usb-storage","id":"stick",'\
'"bus":"xhci.0","port":"1","drive":"d0","serial":"'$STICK_SERIAL'"}}'
}

# --- diagnostics --------------------------------------------------------------

# lab_diag: what a post-mortem needs when something hangs: the processes, the
# kernel stacks of those in uninterruptible sleep, usblabd's last log lines.
lab_diag() {
	ps -o pid,stat,args | sed 's/^/| ps: /'
	for _s in /proc/[0-9]*/stat; do
		_p=${_s%/stat}
		_st=$(awk '{print $3}' "$_s" 2>/dev/null)
		[ "$_st" = D ] || continue
		echo "| stack of ${_p#/proc/} ($(tr '\0' ' ' <"$_p/cmdline")):"
		sed 's/^/|   /' "$_p/stack" 2>/dev/null
	done
	[ -s /tmp/usblabd.log ] && tail -n 40 /tmp/usblabd.log | sed 's/^/| usblabd: /'
	dmesg | tail -n 20 | sed 's/^/| dmesg: /'
	return 0
}

# dmesg_about BUSID: the kernel's last lines about a USB device, on one line.
dmesg_about() {
	[ -n "$1" ] || return 0
	dmesg | grep -F " $1: " | tail -n 3 | sed 's/^\[[ 0-9.]*\] //' | tr '\n' ';'
}

# --- cleanup ------------------------------------------------------------------

# Returns the guest to a clean state after a scenario, whatever it left:
# servers stopped, vhci ports detached, usbip-host unbound.
lab_reset() {
	usblabd_stop
	for _l in $(vhci_ports | awk '$2 != 4 {print $1}'); do
		echo "$_l" >"$VHCI/detach" 2>/dev/null
	done
	for _b in /sys/bus/usb/drivers/usbip-host/*-*; do
		[ -e "$_b" ] && usbip unbind -b "${_b##*/}" >/dev/null 2>&1
	done
	[ -n "$(pidof usbipd)" ] && usbipd_stop
	rm -rf /run/vhci_hcd
	return 0
}
