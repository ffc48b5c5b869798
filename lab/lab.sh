#!/bin/bash
# SPDX-License-Identifier: MIT
#
# lab.sh - the kernel lab: boots Debian's own kernel under qemu (TCG) with
# emulated USB devices and runs scenarios in the guest against the real
# vhci-hcd and usbip-host drivers. See lab/README.md.
#
#   lab/lab.sh [--usblabd PATH] [--extra PATH]... [--out DIR] [--timeout S]
#              [--keep] [-v] [scenario...]
#
# Prints one line per check on stdout: "PASS: name", "FAIL: name: reason",
# "SKIP: name: reason", and the benchmark table as "BENCH: ..." lines. Exit
# status: 0 when no check failed, 1 when one did, 2 on a usage or setup error.
#
# Everything downloaded or derived from Debian's archive is cached in
# ${USBLAB_LAB_CACHE:-$HOME/.cache/usblab-lab}; run outputs (console logs,
# initramfs, disk image) go to --out (default lab/out/, gitignored).
set -euo pipefail

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$LAB_DIR/.." && pwd)
CACHE=${USBLAB_LAB_CACHE:-$HOME/.cache/usblab-lab}

# Scenarios in the order they run, each with the boot ("group") it needs.
# One qemu boot per group: a boot costs ~5 s under TCG, so checks share it.
#   storage: a qemu usb-storage (serial LABSER1) on xhci port 1 = busid 2-1
#   virtual: no emulated device; usblabd's virtual devices only
#   hub: two qemu usb-hubs (1-2 with port-power=on, 1-3 without), a usb-kbd
#        behind each (serials LABPWR1, LABPWR2): no disk image
SCENARIOS=(usbip-host:storage export-storage:storage bench-names:storage bench:storage hotplug:storage
	attach:storage attach-follow:storage attach-daemon:storage attach-kill:storage attach-halfopen:storage
	virtual-hid-cdc:virtual virtual-drivers-fs:virtual unlink-storm:virtual esp32:virtual monitor:virtual
	esp32-reenum:virtual power:hub)
# Tools run only when named: profile (perf and strace around usblabd's and
# the kernel's reads; needs --extra for perf and strace), floorcmp (usblabd
# against labprobe floorsrv with and without libusb's two calls per URB).
ON_DEMAND=(profile:storage floorcmp:storage)
# The issue's numbering of the scenarios, accepted on the command line.
declare -A ALIASES=([0]=usbip-host [A]=usbip-host [1]=export-storage [2]=virtual-hid-cdc
	[3]=virtual-drivers-fs [4]=hotplug [5]=unlink-storm [6]=bench [7]=bench-names [14]=attach)

# Kernel modules the guest loads (modprobe pulls in their dependencies).
MODULES="xhci_pci ehci_pci uhci_hcd ohci_pci usb_storage uas sd_mod usbhid hid_generic evdev
cdc_acm ftdi_sio usbip_host vhci_hcd vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859_1 veth"
# Host packages the lab needs, by the command that tells whether they are there.
HOST_PACKAGES=(qemu-system-x86_64:qemu-system-x86 busybox:busybox-static usbip:usbip
	usbipd:usbip gcc:gcc md5sum:coreutils timeout:coreutils)

DISK_MIB=64         # size of the emulated usb-storage image
GUEST_MEM=512       # MB; 96 panics while unpacking the initramfs, 128 works
ACCEL=${USBLAB_LAB_ACCEL:-tcg}

usblabd=""
extras=()
out_dir="$LAB_DIR/out"
boot_timeout=600
keep=0
verbose=0
wanted=()

log() { printf 'lab: %s\n' "$*" >&2; }
die() {
	printf 'lab: %s\n' "$*" >&2
	exit 2
}

usage() {
	sed -n '8,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	printf 'scenarios: %s (or 1-5, A=usbip-host, 6=bench)\n' "${SCENARIOS[*]%%:*}" >&2
	exit 2
}

parse_args() {
	while (($#)); do
		case $1 in
		--usblabd) usblabd=${2:?--usblabd needs a path}; shift ;;
		--extra) extras+=("${2:?--extra needs a path}"); shift ;;
		--out) out_dir=${2:?}; shift ;;
		--timeout) boot_timeout=${2:?}; shift ;;
		--keep) keep=1 ;;
		-v) verbose=1 ;;
		-h | --help) usage ;;
		-*) die "unknown option $1" ;;
		*) wanted+=("$1") ;;
		esac
		shift
	done
	if [[ -z $usblabd && -x $ROOT_DIR/build/src/daemon/usblabd ]]; then
		usblabd=$ROOT_DIR/build/src/daemon/usblabd
	fi
	if [[ -n $usblabd ]]; then
		[[ -x $usblabd ]] || die "usblabd '$usblabd' is not an executable"
		usblabd=$(realpath "$usblabd")
	fi
	local e
	for e in "${extras[@]}"; do
		[[ -x $e ]] || die "--extra '$e' is not an executable"
	done
}

# Resolves the command-line scenario names into SELECTED, kept in run order.
select_scenarios() {
	local -A pick=()
	local w name entry
	if ((${#wanted[@]} == 0)); then
		for entry in "${SCENARIOS[@]}"; do pick[${entry%%:*}]=1; done
	fi
	for w in "${wanted[@]}"; do
		name=${ALIASES[$w]:-$w}
		for entry in "${SCENARIOS[@]}" "${ON_DEMAND[@]}"; do
			[[ ${entry%%:*} == "$name" ]] && pick[$name]=1
		done
		[[ -n ${pick[$name]:-} ]] || die "unknown scenario '$w'"
	done
	SELECTED=()
	for entry in "${SCENARIOS[@]}" "${ON_DEMAND[@]}"; do
		[[ -n ${pick[${entry%%:*}]:-} ]] && SELECTED+=("$entry")
	done
	return 0
}

# --- host preparation ---------------------------------------------------------

apt_updated=0
apt_update_once() {
	((apt_updated)) && return 0
	log "apt-get update"
	apt-get update -qq >&2 || die "apt-get update failed"
	apt_updated=1
}

# Installs the Debian packages whose commands are missing (CI starts clean).
ensure_host_tools() {
	local entry cmd pkg missing=()
	for entry in "${HOST_PACKAGES[@]}"; do
		cmd=${entry%%:*} pkg=${entry#*:}
		command -v "$cmd" >/dev/null 2>&1 || PATH=$PATH:/usr/sbin:/sbin command -v "$cmd" \
			>/dev/null 2>&1 || missing+=("$pkg")
	done
	# The guest needs a static busybox: Debian's plain "busybox" is dynamic.
	if command -v busybox >/dev/null && ldd "$(command -v busybox)" >/dev/null 2>&1; then
		missing+=(busybox-static)
	fi
	[[ -e /usr/lib/x86_64-linux-gnu/libc.a ]] || missing+=(libc6-dev)
	[[ -e /var/lib/usbutils/usb.ids ]] || missing+=(usb.ids)
	# udevadm (from the udev deb, not installed) links libkmod, libacl, libblkid, ...
	[[ -e /lib/x86_64-linux-gnu/libkmod.so.2 ]] || missing+=(libkmod2)
	if ((${#missing[@]})); then
		mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
		log "installing ${missing[*]}"
		apt_update_once
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >&2 || die "apt-get install ${missing[*]} failed"
	fi
	export PATH=$PATH:/usr/sbin:/sbin
}

# Downloads (once) a deb into the cache; prints its path.
fetch_deb() {
	local pkg=$1 deb
	mkdir -p "$CACHE/debs"
	deb=$(find "$CACHE/debs" -name "${pkg}_*.deb" | sort | tail -n 1)
	if [[ -z $deb ]]; then
		(cd "$CACHE/debs" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
			{ apt_update_once && (cd "$CACHE/debs" && apt-get download -q \
				-o APT::Sandbox::User=root "$pkg" >&2); } || die "apt-get download $pkg failed"
		deb=$(find "$CACHE/debs" -name "${pkg}_*.deb" | sort | tail -n 1)
	fi
	printf '%s\n' "$deb"
}

# Resolves Debian's current kernel; sets KVER, VMLINUZ and MODDIR, the cached
# closure of MODULES (with its modules.dep). The deb (70 MB) stays in the
# cache; its unpacked tree (430 MB) only lives while the closure is made.
prepare_kernel() {
	local image key tree
	image=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}')
	if [[ -z $image ]]; then
		apt_update_once
		image=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $2; exit}')
	fi
	[[ -n $image ]] || die "cannot resolve linux-image-amd64"
	KVER=${image#linux-image-}
	key=$(printf '%s' "$MODULES" | md5sum | cut -c1-8)
	VMLINUZ=$CACHE/vmlinuz-$KVER
	MODDIR=$CACHE/modules-$KVER-$key
	[[ -e $MODDIR/.done && -e $VMLINUZ ]] && return 0
	log "unpacking $image"
	tree=$CACHE/unpack-$KVER
	rm -rf "$tree"
	mkdir -p "$tree"
	dpkg-deb -x "$(fetch_deb "$image")" "$tree"
	# The deb ships no modules.dep and the host may have no kmod.
	busybox depmod -b "$tree" "$KVER"
	copy_module_closure "$tree/lib/modules/$KVER" "$MODDIR/lib/modules/$KVER"
	cp "$tree/boot/vmlinuz-$KVER" "$VMLINUZ"
	rm -rf "$tree"
}

# copy_module_closure SRC DST: copies MODULES and their dependencies.
copy_module_closure() {
	local src=$1 dst=$2 m path dep
	rm -rf "$MODDIR"
	mkdir -p "$dst"
	for m in $MODULES; do
		# modules.dep names files with '-' or '_' as the source tree does
		# (nls_iso8859-1.ko); module names always use '_'.
		path=$(awk -F: -v want="${m}.ko" \
			'{base = $1; sub(".*/", "", base); gsub("-", "_", base)}
			 base == want {print; exit}' "$src/modules.dep")
		[[ -n $path ]] || die "module $m not found in $KVER"
		for dep in ${path/:/ }; do
			mkdir -p "$dst/$(dirname "$dep")"
			cp "$src/$dep" "$dst/$dep"
		done
	done
	cp "$src/modules.builtin" "$src/modules.order" "$dst/"
	busybox depmod -b "$MODDIR" "$KVER"
	touch "$MODDIR/.done"
}

# Unpacks udevadm from the udev deb (libusb's hotplug needs udevd); sets UDEVADM.
prepare_udev() {
	local dir=$CACHE/udev
	if [[ ! -x $dir/bin/udevadm ]]; then
		rm -rf "$dir"
		mkdir -p "$dir"
		dpkg-deb -x "$(fetch_deb udev)" "$dir"
	fi
	UDEVADM=$dir/bin/udevadm
}

# Builds labprobe (the guest's measuring tool) statically; sets LABPROBE.
build_labprobe() {
	# Keyed by the source: worktrees with different labprobe.c share the cache.
	LABPROBE=$CACHE/labprobe-$(md5sum <"$LAB_DIR/labprobe.c" | cut -c1-12)
	if [[ ! -x $LABPROBE ]]; then
		gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -static \
			-o "$LABPROBE.tmp.$$" "$LAB_DIR/labprobe.c" || die "cannot build labprobe"
		mv "$LABPROBE.tmp.$$" "$LABPROBE"
	fi
}

# --- initramfs ----------------------------------------------------------------

# install_bin ROOT SRC DEST: copies an executable and every library ldd lists.
install_bin() {
	local root=$1 src=$2 dest=$3 lib
	mkdir -p "$root/$(dirname "$dest")"
	cp -L "$src" "$root/$dest"
	ldd "$src" 2>/dev/null | grep -q 'not found' && die "$src: missing libraries: $(ldd "$src" | grep 'not found')"
	for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*'); do
		[[ -e $root$lib ]] && continue
		mkdir -p "$root$(dirname "$lib")"
		cp -L "$lib" "$root$lib"
	done
}

build_initramfs() {
	local root=$out_dir/initramfs applet e
	rm -rf "$root"
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,run,tmp,var,etc,lab/scenarios}
	mkdir -p "$root/usr/share/misc" "$root/lib" "$root/lib64"
	ln -s /run "$root/var/run" # usbip attach records ports in /var/run/vhci_hcd
	cp "$(command -v busybox)" "$root/bin/busybox"
	for applet in $(busybox --list-full); do
		[[ -e $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
	done
	cp -a "$MODDIR/lib/modules" "$root/lib/"
	install_bin "$root" "$(command -v usbip)" /usr/sbin/usbip
	install_bin "$root" "$(command -v usbipd)" /usr/sbin/usbipd
	install_bin "$root" "$UDEVADM" /bin/udevadm
	ln -s udevadm "$root/bin/systemd-udevd" # udevadm acts as udevd by argv[0]
	cp -L /var/lib/usbutils/usb.ids "$root/usr/share/misc/usb.ids"
	cp "$LABPROBE" "$root/bin/labprobe"
	[[ -n $usblabd ]] && install_bin "$root" "$usblabd" /bin/usblabd
	for e in "${extras[@]}"; do
		install_bin "$root" "$e" "/bin/$(basename "$e")"
	done
	install -m 755 "$LAB_DIR/init.sh" "$root/init"
	cp "$LAB_DIR/guest-lib.sh" "$root/lab/"
	cp "$LAB_DIR"/scenarios/*.sh "$root/lab/scenarios/"
	printf 'LAB_MODULES="%s"\n' "${MODULES//$'\n'/ }" >"$root/lab/config"
	(cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) >"$out_dir/initrd.cpio"
	rm -rf "$root"
}

# --- one boot -----------------------------------------------------------------

# qmp_exec FD_IN FD_OUT JSON: sends one QMP command, prints its reply line.
qmp_exec() {
	local line
	printf '%s\n' "$3" >&"$1"
	while IFS= read -r -t 30 line <&"$2"; do
		case $line in
		*'"return"'* | *'"error"'*) printf '%s\n' "$line"; return 0 ;;
		esac # events ("DEVICE_DELETED", ...) are skipped
	done
	printf '{"error": "no QMP reply within 30 s"}\n'
}

# The guest asks the host for things qemu must do (unplug, replug) on its
# second serial port: "qmp <json>" per line; the answer is "ok <reply>" or
# "error <reply>". Runs in the background for the whole boot.
ctl_relay() {
	local dir=$1 log=$2 line reply negotiated=0
	local ctl_out ctl_in qmp_out qmp_in
	# qemu's pipe chardevs write NAME.out and read NAME.in; <> never blocks.
	exec {ctl_out}<>"$dir/ctl.out" {ctl_in}<>"$dir/ctl.in"
	exec {qmp_out}<>"$dir/qmp.out" {qmp_in}<>"$dir/qmp.in"
	while IFS= read -r line <&"$ctl_out"; do
		line=${line%$'\r'}
		case $line in
		"qmp "*)
			if ((!negotiated)); then
				IFS= read -r -t 30 reply <&"$qmp_out" || true # greeting
				qmp_exec "$qmp_in" "$qmp_out" '{"execute":"qmp_capabilities"}' >/dev/null
				negotiated=1
			fi
			reply=$(qmp_exec "$qmp_in" "$qmp_out" "${line#qmp }")
			[[ $reply == *'"return"'* ]] && reply="ok $reply" || reply="error $reply"
			;;
		*) reply="error unknown request" ;;
		esac
		printf '%s\n' "$reply" >&"$ctl_in"
		printf 'HOST: %s -> %s\n' "$line" "$reply" >>"$log"
	done
}

# Reads the guest console: strips \r, appends to the log, passes result lines.
console_filter() {
	local log=$1 line
	while IFS= read -r line; do
		line=${line%$'\r'}
		printf '%s\n' "$line" >>"$log"
		case $line in
		PASS:* | FAIL:* | SKIP:* | BENCH:*) printf '%s\n' "$line" ;;
		*) ((verbose)) && printf '  | %s\n' "$line" >&2 ;;
		esac
	done
	return 0
}

# Checks the guest asked the host to make after qemu exits:
# "LABHOST: md5 NAME OFFSET LENGTH MD5" - the image region must have that md5.
host_checks() {
	local log=$1 img=$2 kind name off len want got
	while read -r _ kind name off len want; do
		[[ $kind == md5 ]] || continue
		got=$(dd if="$img" bs=1M iflag=skip_bytes,count_bytes skip="$off" count="$len" \
			status=none | md5sum | cut -d' ' -f1)
		if [[ $got == "$want" ]]; then
			echo "PASS: $name"
		else
			echo "FAIL: $name: image bytes $off+$len have md5 $got, guest wrote $want"
		fi
	done < <(grep '^LABHOST: ' "$log" || true)
}

# run_boot GROUP SCENARIO...: one qemu boot running the scenarios in order.
run_boot() {
	local group=$1
	shift
	local dir=$out_dir/$group log img="" md5="" rc relay s
	local -a qemu_args
	dir=$out_dir/$group
	rm -rf "$dir"
	mkdir -p "$dir"
	log=$dir/console.log
	: >"$log"
	mkfifo "$dir/ctl.in" "$dir/ctl.out" "$dir/qmp.in" "$dir/qmp.out"
	# shellcheck disable=SC2054 # the commas are qemu's option syntax
	qemu_args=(-accel "$ACCEL" -cpu max -m "$GUEST_MEM" -nodefaults -no-user-config
		-display none -no-reboot
		-serial stdio -serial "pipe:$dir/ctl"
		-chardev "pipe,id=qmp,path=$dir/qmp" -mon chardev=qmp,mode=control
		-kernel "$VMLINUZ" -initrd "$out_dir/initrd.cpio"
		-device qemu-xhci,id=xhci)
	if [[ $group == storage ]]; then
		img=$dir/disk.img
		head -c $((DISK_MIB << 20)) /dev/urandom >"$img"
		md5=$(md5sum "$img" | cut -d' ' -f1)
		# -blockdev, not -drive: a -drive is deleted with its device on
		# device_del and device_add could not find it again. port= keeps
		# the busid (2-1) stable across a replug.
		# shellcheck disable=SC2054
		qemu_args+=(-blockdev "driver=file,node-name=d0,filename=$img"
			-device usb-storage,id=stick,bus=xhci.0,port=1,drive=d0,serial=LABSER1)
	fi
	if [[ $group == hub ]]; then
		# Full-speed hubs land on the xhci's USB2 root hub (bus 1).
		# shellcheck disable=SC2054
		qemu_args+=(-device usb-hub,id=hubpp,bus=xhci.0,port=2,port-power=on
			-device usb-kbd,id=kbdpp,bus=xhci.0,port=2.1,serial=LABPWR1
			-device usb-hub,id=hubnopp,bus=xhci.0,port=3
			-device usb-kbd,id=kbdnopp,bus=xhci.0,port=3.1,serial=LABPWR2)
	fi
	qemu_args+=(-append "console=ttyS0 panic=-1 quiet loglevel=1 lab.scn=$(
		IFS=,
		echo "$*"
	) lab.md5=$md5 lab.mib=$DISK_MIB")
	printf 'HOST: qemu-system-x86_64 %s\n' "${qemu_args[*]}" >>"$log"

	ctl_relay "$dir" "$log" &
	relay=$!
	local start=$SECONDS
	log "boot '$group': $*"
	set +e
	timeout -k 5 "$boot_timeout" qemu-system-x86_64 "${qemu_args[@]}" </dev/null 2>&1 |
		console_filter "$log"
	rc=${PIPESTATUS[0]}
	set -e
	kill "$relay" 2>/dev/null || true
	wait "$relay" 2>/dev/null || true
	log "boot '$group' ended (qemu status $rc) after $((SECONDS - start)) s; log: $log"
	if ((rc == 124 || rc == 137)); then
		echo "FAIL: $group/boot: qemu timed out after ${boot_timeout}s"
	elif ((rc != 0)); then
		echo "FAIL: $group/boot: qemu exited with status $rc (see $log)"
	fi
	# A scenario that began and never ended crashed or hung the guest.
	for s in "$@"; do
		if ! grep -q "^LAB: begin $s\$" "$log"; then
			echo "FAIL: $s/complete: the guest never started it"
		elif ! grep -q "^LAB: end $s\$" "$log"; then
			echo "FAIL: $s/complete: the guest did not finish it"
		fi
	done
	[[ -n $img ]] && host_checks "$log" "$img"
	if [[ -n $img ]] && ((!keep)); then rm -f "$img"; fi
	rm -f "$dir"/{ctl,qmp}.{in,out}
}

main() {
	parse_args "$@"
	select_scenarios
	local t0=$SECONDS entry group g cache_lock
	ensure_host_tools
	# Several labs may run at once (each with its own --out): the cache is
	# filled under a lock.
	mkdir -p "$CACHE"
	exec {cache_lock}>"$CACHE/.lock"
	flock "$cache_lock"
	prepare_kernel
	prepare_udev
	build_labprobe
	flock -u "$cache_lock"
	mkdir -p "$out_dir"
	build_initramfs
	log "kernel $KVER, usblabd ${usblabd:-(none)}, prepared in $((SECONDS - t0)) s"

	local results=$out_dir/results.txt
	: >"$results"
	local -a groups=()
	for entry in "${SELECTED[@]}"; do
		group=${entry#*:}
		[[ " ${groups[*]} " == *" $group "* ]] || groups+=("$group")
	done
	for g in "${groups[@]}"; do
		local -a scns=()
		for entry in "${SELECTED[@]}"; do
			[[ ${entry#*:} == "$g" ]] && scns+=("${entry%%:*}")
		done
		run_boot "$g" "${scns[@]}" | tee -a "$results"
	done
	local npass nfail nskip
	npass=$(grep -c '^PASS:' "$results" || true)
	nfail=$(grep -c '^FAIL:' "$results" || true)
	nskip=$(grep -c '^SKIP:' "$results" || true)
	log "$npass passed, $nfail failed, $nskip skipped in $((SECONDS - t0)) s"
	((nfail == 0))
}

main "$@"
