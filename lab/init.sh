#!/bin/sh
# SPDX-License-Identifier: MIT
#
# init.sh - /init of the lab guest (busybox sh). Mounts the pseudo file
# systems, loads the USB modules, starts udevd, runs the scenarios named on
# the kernel command line (lab.scn=a,b,...) one after the other, dumps the
# kernel log and powers off. Every line a scenario prints goes to the serial
# console, where lab.sh picks up the PASS/FAIL/SKIP/BENCH lines.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/tmp

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mkdir -p /run/lab
ip link set lo up

LAB_SCENARIOS=""
LAB_MD5=""
LAB_MIB=0
for word in $(cat /proc/cmdline); do
	case $word in
	lab.scn=*) LAB_SCENARIOS=$(echo "${word#lab.scn=}" | tr , ' ') ;;
	lab.md5=*) LAB_MD5=${word#lab.md5=} ;;
	lab.mib=*) LAB_MIB=${word#lab.mib=} ;;
	esac
done
export LAB_MD5 LAB_MIB
# The last resort against a hang; scenarios bound their own waits well below.
LAB_SCENARIO_TIMEOUT=180
. /lab/config

echo "LAB: init at uptime $(cut -d' ' -f1 /proc/uptime) s, kernel $(uname -r)"
modprobe -a $LAB_MODULES || echo "LAB: modprobe failed"

# libusb's hotplug events come from udev (Debian builds libusb with its udev
# backend); without udevd they never fire. No rules are needed.
mkdir -p /run/udev
systemd-udevd --daemon
udevadm trigger --action=add
udevadm settle --timeout=10
echo "LAB: modules and udevd ready at uptime $(cut -d' ' -f1 /proc/uptime) s"

# A scenario runs in its own shell with a time limit, so that a hang in one
# does not take the others down; lab_reset then clears what it left behind.
for scn in $LAB_SCENARIOS; do
	echo "LAB: begin $scn"
	start=$(cut -d' ' -f1 /proc/uptime)
	SCN=$scn timeout -s KILL $LAB_SCENARIO_TIMEOUT sh -c ". /lab/guest-lib.sh; . /lab/scenarios/$scn.sh"
	rc=$?
	if [ $rc -eq 137 ]; then
		echo "FAIL: $scn/complete: killed after $LAB_SCENARIO_TIMEOUT s in the guest"
		SCN=$scn sh -c ". /lab/guest-lib.sh; lab_diag"
	fi
	SCN=$scn timeout -s KILL 30 sh -c ". /lab/guest-lib.sh; lab_reset"
	echo "LAB: $scn took $(awk -v a="$start" '{printf "%.1f", $1 - a}' /proc/uptime) s (status $rc)"
	echo "LAB: end $scn"
done

echo "LAB: kernel log follows"
dmesg | sed 's/^/dmesg: /'
echo "LAB: done at uptime $(cut -d' ' -f1 /proc/uptime) s"
sync
poweroff -f
