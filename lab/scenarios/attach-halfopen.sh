# SPDX-License-Identifier: MIT
#
# attach-halfopen (the client side, issue 14): a half-open connection. The
# server usblabd runs in its own network namespace behind a veth pair
# (10.77.0.2); the client's usblabd follows the stick attached from it.
# Setting the server's end of the pair down makes the server stop answering
# without closing anything: vhci's keepalive (5 s idle, 3 probes 2 s apart,
# TCP_USER_TIMEOUT 10 s) frees the port, the client's usblabd reports
# server-gone, and nothing hangs. Setting it up again: the stick is
# re-attached by itself. BENCH lines give the times.

. /lab/scenarios/attach-lib.sh

NS_SERVER=10.77.0.2
in_ns() { nsenter -t "$nspid" -n "$@"; }

if ! usblabd_has --registry || [ ! -x $USBLAB ]; then
	skip all "usblabd --registry or usblab not in this build"
	return 0
fi
if ! modprobe veth 2>/tmp/veth.err; then
	skip all "no veth in this guest kernel (modprobe veth: $(cat /tmp/veth.err))"
	return 0
fi
unshare -n sleep 600 &
nspid=$!
usleep 200000
# busybox's ip does not name the peer: it is what `ip link show vc` says
# after the @ ("vc@veth0").
ip link add name vc type veth peer name vs 2>/tmp/ns.err
vs=$(ip link show dev vc 2>>/tmp/ns.err | sed -n 's/^[0-9]*: vc@\([^:]*\):.*/\1/p')
if [ -z "$vs" ] || ! ip link set dev "$vs" netns "$nspid" 2>>/tmp/ns.err ||
	! ip addr add 10.77.0.1/24 dev vc 2>>/tmp/ns.err || ! ip link set dev vc up 2>>/tmp/ns.err ||
	! in_ns ip link set dev lo up 2>>/tmp/ns.err ||
	! in_ns ip addr add $NS_SERVER/24 dev "$vs" 2>>/tmp/ns.err ||
	! in_ns ip link set dev "$vs" up 2>>/tmp/ns.err; then
	skip all "no veth pair into a network namespace here: $(tr '\n' ' ' </tmp/ns.err)"
	kill $nspid
	return 0
fi
pass netns

# The stick must be there (a scenario before may have left it
# without its kernel driver: usblabd claims it either way).
if [ ! -e /sys/bus/usb/devices/$STICK_BUSID ]; then
	fail stick-present "no qemu usb-storage at $STICK_BUSID"
	kill $nspid
	return 0
fi
printf '[stick]\nserial = %s\ntype = storage\n' "$STICK_SERIAL" >/tmp/devices.conf
rm -f /tmp/halfopen.db*
: >/tmp/usblabd.log
in_ns "$USBLABD" --listen $NS_SERVER:3240 --registry /tmp/devices.conf --db /tmp/halfopen.db \
	--control $SOCK --http none >>/tmp/usblabd.log 2>&1 &
echo $! >/run/lab/usblabd.pid
: >/tmp/client.conf
rm -f /tmp/client.db*
"$USBLABD" --listen 127.0.0.1:3250 --registry /tmp/client.conf --db /tmp/client.db \
	--control $CSOCK --http none --no-inventory >/tmp/client-usblabd.log 2>&1 &
cpid=$!
if ! wait_until 10 test -S $CSOCK || ! wait_until 15 eval "ul remote list $NS_SERVER | grep -q ' stick '"; then
	fail start "the two usblabd did not come up: $(tail -n 3 /tmp/usblabd.log | tr '\n' ' ')"
	kill $cpid $nspid
	return 0
fi
pass start

if ! cl attach $NS_SERVER stick --json >/tmp/ho.out 2>/tmp/ho.err ||
	! grep -q '"follower":"usblabd"' /tmp/ho.out; then
	fail attach "usblab attach $NS_SERVER stick: $(tr '\n' ' ' </tmp/ho.out /tmp/ho.err | cut -c1-300)"
	kill $cpid $nspid
	return 0
fi
pass attach
port=$(json_port /tmp/ho.out)
# What the disk holds now (earlier scenarios write to the stick): the same
# bytes must come back through the link after the connection heals.
ref=$(link_md5 $RUN/stick/disk)

# The server's end goes down: nothing is closed, nothing answers.
ngone=$(ev_count $CSOCK server-gone)
t0=$(uptime_ms)
in_ns ip link set dev "$vs" down
check halfopen-port-free "vhci port $port still in use 40 s after the link went down" \
	wait_until 40 vhci_port_free "$port"
t1=$(uptime_ms)
check halfopen-reported "no server-gone event within 20 s of the freed port" \
	wait_until 20 count_at_least $CSOCK server-gone $((ngone + 1))
t2=$(uptime_ms)
echo "BENCH: half-open connection (veth end down, TCG): vhci port freed $((t1 - t0)) ms, server-gone reported $((t2 - t0)) ms after the link went down"
check halfopen-state "usblab attached does not say reattaching" \
	eval 'cl attached | grep -q " reattaching "'

# The link back: the server lets the dead import go, the client re-attaches.
nre=$(ev_count $CSOCK re-attached)
t0=$(uptime_ms)
in_ns ip link set dev "$vs" up
if wait_until 60 count_at_least $CSOCK re-attached $((nre + 1)); then
	t1=$(uptime_ms)
	pass halfopen-back
	echo "BENCH: half-open connection healed (veth end up, TCG): re-attached $((t1 - t0)) ms after the link came back"
	got=$(link_md5 $RUN/stick/disk)
	if [ "$got" != "$ref" ]; then
		# What went wrong: a short read (an I/O error) or other bytes?
		note "md5 mismatch: link $(readlink $RUN/stick/disk), $(dd if="$(readlink $RUN/stick/disk)" bs=1M iflag=direct 2>&1 >/dev/null | tail -n 2 | tr '\n' ' '), again $(link_md5 $RUN/stick/disk)"
		dmesg | tail -n 15 | sed 's/^/LAB: dmesg: /'
		tail -n 15 /tmp/usblabd.log | sed 's/^/LAB: server: /'
	fi
	check halfopen-back-md5 "md5 through $RUN/stick/disk is $got, want $ref" [ "$got" = "$ref" ]
else
	fail halfopen-back "no re-attach within 60 s of the link's return"
	dump /tmp/client-usblabd.log "client usblabd: "
fi
cl detach stick >/dev/null 2>&1
kill $cpid 2>/dev/null
usblabd_stop
kill $nspid 2>/dev/null
ip link del vc 2>/dev/null
