# SPDX-License-Identifier: MIT
#
# attach-daemon (the client side, issue 14): a second usblabd plays the
# client machine's daemon (its own control socket, nothing exported), and
# `usblab attach` hands the stick over to it. Then, against the server
# usblabd of attach-lib.sh: three re-enumerations of the stick on the server
# (QMP device_del + device_add), each timed from the server's `exported`
# event of the returning stick to the client's `re-attached` event (with
# device files; BENCH lines); the server killed with SIGKILL (the client
# reports server-gone and the vhci port is free), the server started again
# (re-attached, md5 through the link), and detach (detached, no re-attach).

. /lab/scenarios/attach-lib.sh
attach_setup || return 0

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

: >/tmp/client.conf
rm -f /tmp/client.db*
"$USBLABD" --listen 127.0.0.1:3250 --registry /tmp/client.conf --db /tmp/client.db \
	--control $CSOCK --http none --no-inventory >/tmp/client-usblabd.log 2>&1 &
cpid=$!
if ! wait_until 10 test -S $CSOCK; then
	fail client-start "the client's usblabd did not open $CSOCK"
	dump /tmp/client-usblabd.log "client usblabd: "
	return 0
fi
pass client-start

# 1. attach hands the stick over to the client's usblabd.
if ! cl attach $SERVER stick --json >/tmp/ca.out 2>/tmp/ca.err; then
	fail handover "usblab attach: $(tr '\n' ' ' </tmp/ca.out /tmp/ca.err | cut -c1-300)"
	kill $cpid
	return 0
fi
check handover "attach did not say usblabd follows it: $(cut -c1-300 /tmp/ca.out)" \
	grep -q '"follower":"usblabd"' /tmp/ca.out
check handover-events "the client's events lack attached: $(ev_times $CSOCK attached)" \
	wait_until 5 count_at_least $CSOCK attached 1
got=$(link_md5 $RUN/stick/disk)
check handover-md5 "md5 through $RUN/stick/disk is $got, want $ref" [ "$got" = "$ref" ]

# 2. Re-enumerations on the server: exported (server) -> re-attached (client).
figures=""
for i in 1 2 3; do
	port=$(ls $RUN/attached/ | sed -n 's/\.json$//p' | head -n 1)
	nre=$(ev_count $CSOCK re-attached)
	nexp=$(ev_count $SOCK exported)
	stick_unplug >/dev/null
	wait_until 15 vhci_port_free "$port"
	stick_replug >/dev/null
	if ! wait_until 30 count_at_least $CSOCK re-attached $((nre + 1)); then
		fail reenum-$i "no re-attached within 30 s: $(tail -n 3 /tmp/client-usblabd.log | tr '\n' ' ')"
		dump /tmp/client-usblabd.log "client usblabd: "
		break
	fi
	exp=$(ev_times $SOCK exported | tail -n 1)
	re=$(ev_times $CSOCK re-attached | tail -n 1)
	if [ "$(ev_count $SOCK exported)" -gt "$nexp" ]; then
		d=$(($(ms_of "$re") - $(ms_of "$exp")))
		figures="$figures $d"
		pass reenum-$i
	else
		fail reenum-$i "the server made no exported event for the returning stick"
	fi
done
[ -n "$figures" ] &&
	echo "BENCH: re-attach by the client's usblabd after device_del+device_add (TCG): server exported -> client re-attached with files, ms:$figures"
note "client re-attached: $(cl events --json --kind re-attached | tr '{' '\n' | grep -o 'vhci port [^"]*' | tail -n 1)"
got=$(link_md5 $RUN/stick/disk)
check reenum-md5 "md5 through $RUN/stick/disk after the re-attaches is $got, want $ref" [ "$got" = "$ref" ]

# 3. The server killed: server-gone, the port freed.
port=$(ls $RUN/attached/ | sed -n 's/\.json$//p' | head -n 1)
ngone=$(ev_count $CSOCK server-gone)
t0=$(uptime_ms)
kill -9 "$(cat /run/lab/usblabd.pid)"
rm -f /run/lab/usblabd.pid
check kill9-port-free "vhci port $port still in use 15 s after kill -9" wait_until 15 vhci_port_free "$port"
t1=$(uptime_ms)
check kill9-reported "no server-gone event within 15 s" \
	wait_until 15 count_at_least $CSOCK server-gone $((ngone + 1))
t2=$(uptime_ms)
echo "BENCH: server usblabd killed (kill -9, TCG): vhci port freed $((t1 - t0)) ms, server-gone reported $((t2 - t0)) ms after the kill"
check kill9-state "usblab attached does not say reattaching: $(cl attached | tr '\n' ';')" \
	eval 'cl attached | grep -q " reattaching "'

# 4. The server back: re-attached by itself.
nre=$(ev_count $CSOCK re-attached)
if wait_until 15 direct_disk &&
	usblabd_start --registry /tmp/devices.conf --db /tmp/attach.db --control $SOCK; then
	t0=$(uptime_ms)
	if wait_until 40 count_at_least $CSOCK re-attached $((nre + 1)); then
		t1=$(uptime_ms)
		pass server-back
		echo "BENCH: server usblabd started again (TCG): client re-attached $((t1 - t0)) ms after it answered"
		got=$(link_md5 $RUN/stick/disk)
		check server-back-md5 "md5 through $RUN/stick/disk is $got, want $ref" [ "$got" = "$ref" ]
	else
		fail server-back "no re-attach within 40 s of the server's return"
		dump /tmp/client-usblabd.log "client usblabd: "
	fi
else
	fail server-back "the server usblabd did not start again"
fi

# 5. detach: the daemon stops following; the port stays free.
port=$(ls $RUN/attached/ | sed -n 's/\.json$//p' | head -n 1)
check detach "usblab detach stick failed" cl detach stick
check detach-event "no detached event" wait_until 5 count_at_least $CSOCK detached 1
usleep 1500000
check detach-stays "vhci port $port in use again after detach" vhci_port_free "$port"
check detach-links "$RUN/stick still exists after detach" [ ! -e $RUN/stick ]
kill $cpid 2>/dev/null
