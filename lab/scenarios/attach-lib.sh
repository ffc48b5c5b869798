# SPDX-License-Identifier: MIT
#
# attach-lib.sh - what the attach scenarios share (sourced by attach.sh,
# attach-follow.sh, attach-daemon.sh, attach-kill.sh; not a scenario itself): paths, helpers, and
# attach_setup, which checks the build, names the stick in a registry and
# starts usblabd with it, a virtual CDC (busid 0-1) and a virtual HID
# keyboard (0-2).

USBLAB=/bin/usblab
SOCK=/run/usblab/usblabd.sock
RUN=/run/usblab

ul() { timeout 60 $USBLAB --socket $SOCK "$@"; }

# link_md5 LINK: md5 of the disk a link points to (O_DIRECT, through vhci).
link_md5() { md5_range "$(readlink "$1")"; }

# proc_gone PID: exited (a zombie counts as gone).
proc_gone() { [ ! -e /proc/$1 ] || grep -q '^[0-9]* ([^)]*) Z' /proc/$1/stat; }

# The port a JSON attach line names.
json_port() { sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$1" | head -n 1; }

# usblabd_threads: every usblabd thread's state and kernel stack, for the
# post-mortem of an import that stalls (lab_diag looks at processes only).
usblabd_threads() {
	_pid=$(cat /run/lab/usblabd.pid 2>/dev/null) || return 0
	for _t in /proc/$_pid/task/*; do
		echo "| usblabd thread ${_t##*/} $(cut -d' ' -f2,3 $_t/stat 2>/dev/null)"
		sed 's/^/|   /' $_t/stack 2>/dev/null
	done
	return 0
}

# attach_setup: 0 when usblabd runs with the stick exported; sets ref (the
# disk's md5 read directly). 1 when the scenario has nothing to run.
attach_setup() {
	if ! usblabd_has --registry || [ ! -x $USBLAB ] || ! $USBLAB attach --help >/dev/null 2>&1; then
		skip all "usblabd --registry or usblab attach not in this build"
		return 1
	fi
	if ! wait_until 15 direct_disk; then
		fail stick-present "no /dev/sdX for the qemu usb-storage ($STICK_BUSID)"
		return 1
	fi
	ref=$(md5_range "$(direct_disk)")
	printf '[stick]\nserial = %s\ntype = storage\n' "$STICK_SERIAL" >/tmp/devices.conf
	rm -f /tmp/attach.db*
	if ! usblabd_start --registry /tmp/devices.conf --db /tmp/attach.db --control $SOCK --virtual cdc,hid; then
		fail usblabd-start "usblabd did not answer usbip list -r within 10 s"
		dump /tmp/usblabd.log "usblabd: "
		return 1
	fi
	pass usblabd-start
	wait_until 10 remote_has "$STICK_BUSID"
}

# ---- a second usblabd as the client machine's daemon (attach-daemon, attach-kill) ----

CSOCK=/tmp/client.sock
cl() { timeout 60 $USBLAB --socket $CSOCK "$@"; }

# ev_times SOCK KIND: the times of the KIND events, oldest first.
ev_times() {
	timeout 20 $USBLAB --socket "$1" events --json --kind "$2" --limit 1000 2>/dev/null |
		tr '{' '\n' | grep "\"kind\": *\"$2\"" |
		sed -n 's/.*"time": *"\([^"]*\)".*/\1/p' | sort
}
ev_count() { ev_times "$1" "$2" | wc -l; }
# ms_of TIME: milliseconds of the day of "2026-12-03T16:20:04.123Z".
ms_of() { echo "$1" | awk -F'[T:.Z]' '{print (($2 * 60 + $3) * 60 + $4) * 1000 + $5}'; }
# count_at_least SOCK KIND N
count_at_least() { [ "$(ev_count "$1" "$2")" -ge "$3" ]; }
# The vhci port of the one attachment recorded.
recorded_port() { ls $RUN/attached/ | sed -n 's/\.json$//p' | head -n 1; }

# client_setup: starts the client's usblabd (nothing exported, control socket
# $CSOCK, pid in $cpid) and attaches the stick through it (handed over).
# 0 when the stick is attached and followed; 1 after a FAIL line.
# client_daemon_start: the client's usblabd (pid in cpid); 0 once its
# control socket is there. The log and the event store carry over restarts.
client_daemon_start() {
	"$USBLABD" --listen 127.0.0.1:3250 --registry /tmp/client.conf --db /tmp/client.db \
		--control $CSOCK --http none --no-inventory >>/tmp/client-usblabd.log 2>&1 &
	cpid=$!
	wait_until 10 test -S $CSOCK
}

client_setup() {
	: >/tmp/client.conf
	: >/tmp/client-usblabd.log
	rm -f /tmp/client.db*
	if ! client_daemon_start; then
		fail client-start "the client's usblabd did not open $CSOCK"
		dump /tmp/client-usblabd.log "client usblabd: "
		return 1
	fi
	pass client-start
	if ! cl attach $SERVER stick --json >/tmp/ca.out 2>/tmp/ca.err; then
		fail handover "usblab attach: $(tr '\n' ' ' </tmp/ca.out /tmp/ca.err | cut -c1-300)"
		return 1
	fi
	check handover "attach did not say usblabd follows it: $(cut -c1-300 /tmp/ca.out)" \
		grep -q '"follower":"usblabd"' /tmp/ca.out
}
