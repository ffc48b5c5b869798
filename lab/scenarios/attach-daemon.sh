# SPDX-License-Identifier: MIT
#
# attach-daemon (the client side, issue 14): a second usblabd plays the
# client machine's daemon (its own control socket, nothing exported), and
# `usblab attach` hands the stick over to it (attach-lib.sh client_setup).
# Then two re-enumerations of the stick on the server (QMP device_del +
# device_add), each timed from the server's `exported` event of the
# returning stick to the client's `re-attached` event (with device files),
# with the client's breakdown (BENCH lines); then the client's usblabd
# restarts (the stick followed again, re-attached after a third
# re-enumeration); then detach (detached, no re-attach). attach-kill.sh
# kills the server.

. /lab/scenarios/attach-lib.sh
attach_setup || return 0
if ! client_setup; then
	kill $cpid 2>/dev/null
	return 0
fi
check handover-events "the client's events lack attached" \
	wait_until 5 count_at_least $CSOCK attached 1
got=$(link_md5 $RUN/stick/disk)
check handover-md5 "md5 through $RUN/stick/disk is $got, want $ref" [ "$got" = "$ref" ]

# Re-enumerations on the server: exported (server) -> re-attached (client).
figures=""
for i in 1 2; do
	port=$(recorded_port)
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
		figures="$figures $(($(ms_of "$re") - $(ms_of "$exp")))"
		pass reenum-$i
	else
		fail reenum-$i "the server made no exported event for the returning stick"
	fi
	note "re-attached: $(cl events --json --kind re-attached | tr '{' '\n' | grep -o 'vhci port [^"]*' | tail -n 1)"
done
[ -n "$figures" ] &&
	echo "BENCH: re-attach by the client's usblabd after device_del+device_add (TCG): server exported -> client re-attached with files, ms:$figures (breakdown: LAB notes)"
got=$(link_md5 $RUN/stick/disk)
check reenum-md5 "md5 through $RUN/stick/disk after the re-attaches is $got, want $ref" [ "$got" = "$ref" ]

# The client's usblabd restarts: it follows the stick again by itself, and
# re-attaches it after the next re-enumeration.
followed_again() { cl events --json --kind attached | grep -q 'followed again after usblabd restarted'; }
kill $cpid 2>/dev/null
wait $cpid 2>/dev/null
wait_until 5 sh -c "! test -S $CSOCK"
if client_daemon_start; then
	check restart-followed "no 'followed again' event after the restart: $(tail -n 2 /tmp/client-usblabd.log | tr '\n' ' ')" \
		wait_until 5 followed_again
	port=$(recorded_port)
	nre=$(ev_count $CSOCK re-attached)
	stick_unplug >/dev/null
	wait_until 15 vhci_port_free "$port"
	stick_replug >/dev/null
	check restart-reenum "the restarted usblabd did not re-attach within 30 s: $(tail -n 3 /tmp/client-usblabd.log | tr '\n' ' ')" \
		wait_until 30 count_at_least $CSOCK re-attached $((nre + 1))
	got=$(link_md5 $RUN/stick/disk)
	check restart-md5 "md5 through $RUN/stick/disk after the restart is $got, want $ref" [ "$got" = "$ref" ]
else
	fail restart-followed "the client's usblabd did not start again"
fi

# detach: the daemon stops following; the port stays free.
port=$(recorded_port)
check detach "usblab detach stick failed" cl detach stick
check detach-event "no detached event" wait_until 5 count_at_least $CSOCK detached 1
usleep 1500000
check detach-stays "vhci port $port in use again after detach" vhci_port_free "$port"
check detach-links "$RUN/stick still exists after detach" [ ! -e $RUN/stick ]
kill $cpid 2>/dev/null
