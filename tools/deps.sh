#!/usr/bin/env bash
# tools/deps.sh run|test - installs the Debian packages usblab needs.
#   run   what building and running usblabd needs
#   test  that plus what the whole test suite needs (cmocka, Debian's usbip
#         tools as the peer, clang-format, the Cortex-M0+ cross compiler,
#         clang for the fuzzers, qemu and busybox for the kernel lab, lwIP
#         for the firmware transport tests, Chromium and python3-jsonschema
#         for the dashboard and HTTP API tests, openssl for their HTTPS
#         certificates, systemd-analyze for the units, iproute2 (ip, ss) for
#         the abuse suite's network namespaces)
# Installs only what is missing, so a second run costs a dpkg query.
set -euo pipefail

run_pkgs=(meson ninja-build pkg-config gcc libc6-dev libevent-dev libusb-1.0-0-dev libudev-dev
	libinih-dev libsqlite3-dev libjansson-dev libssl-dev)
test_pkgs=(libcmocka-dev usbip hwdata clang-format clang libclang-rt-14-dev
	gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-x86 busybox-static
	cpio kmod python3 coreutils e2fsprogs dosfstools liblwip-dev
	chromium python3-jsonschema python3-yaml systemd openssl iproute2)

case "${1:-}" in
run) pkgs=("${run_pkgs[@]}") ;;
test) pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
*)
	echo "usage: tools/deps.sh run|test" >&2
	exit 2
	;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "usblab: missing Debian packages: ${missing[*]}" >&2
	echo "usblab: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi
echo "usblab: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
