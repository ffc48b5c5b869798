# SPDX-License-Identifier: MIT
#
# attach-kill (the client side, issue 14): the client's usblabd follows the
# stick (attach-lib.sh client_setup); the server usblabd is killed with
# SIGKILL: the vhci port is freed, the client reports server-gone and says
# reattaching; the server started again: the stick is re-attached by itself
# (md5 through the link). BENCH lines give the times.

. /lab/scenarios/attach-lib.sh
attach_setup || return 0
if ! client_setup; then
	kill $cpid 2>/dev/null
	return 0
fi

port=$(recorded_port)
ngone=$(ev_count $CSOCK server-gone)
t0=$(uptime_ms)
kill -9 "$(cat /run/lab/usblabd.pid)"
rm -f /run/lab/usblabd.pid
check port-free "vhci port $port still in use 15 s after kill -9" wait_until 15 vhci_port_free "$port"
t1=$(uptime_ms)
check reported "no server-gone event within 15 s" \
	wait_until 15 count_at_least $CSOCK server-gone $((ngone + 1))
t2=$(uptime_ms)
echo "BENCH: server usblabd killed (kill -9, TCG): vhci port freed $((t1 - t0)) ms, server-gone reported $((t2 - t0)) ms after the kill"
check state "usblab attached does not say reattaching: $(cl attached | tr '\n' ';')" \
	eval 'cl attached | grep -q " reattaching "'

nre=$(ev_count $CSOCK re-attached)
# No wait for the stick's disk here: the killed server did not give the
# interface back to usb-storage (only a clean release re-attaches the
# kernel's driver), and usblabd claims it either way.
if usblabd_start --registry /tmp/devices.conf --db /tmp/attach.db --control $SOCK; then
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
cl detach stick >/dev/null 2>&1
kill $cpid 2>/dev/null
