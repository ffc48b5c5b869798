#!/bin/sh
# SPDX-License-Identifier: MIT
# Builds the lib/usbip libFuzzer targets with clang and fuzzes each one.
#
# usage: tests/fuzz/run-fuzz.sh [SECONDS] [TARGET...]
#   SECONDS  per target, default 30
#   TARGET   op urb iso roundtrip server (default: all)
#
# Binaries, working corpora and crash artifacts go to $FUZZ_OUT (default
# /tmp/usblab-fuzz); the committed corpus is read, never written. When a
# target crashes, copy the artifact to tests/fuzz/corpus/<target>/
# regression-<what>.bin so the normal test run replays it from then on.
set -eu

root=$(cd "$(dirname "$0")/../.." && pwd)
secs=${1:-30}
[ $# -gt 0 ] && shift
targets=${*:-op urb iso roundtrip server}
out=${FUZZ_OUT:-/tmp/usblab-fuzz}
cc=${CC_FUZZ:-clang}

mkdir -p "$out"
status=0
for t in $targets; do
	bin="$out/fuzz_$t"
	"$cc" -std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
		-I"$root/lib/usbip/include" -I"$root/tests/fuzz" \
		"$root/tests/fuzz/fuzz_$t.c" "$root/lib/usbip/usbip_codec.c" "$root/lib/usbip/usbip_server.c" -o "$bin"
	mkdir -p "$out/corpus-$t"
	echo "run-fuzz: $t for ${secs}s"
	if ! "$bin" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$out/$t-" "$out/corpus-$t" "$root/tests/fuzz/corpus/$t" \
		>"$out/$t.log" 2>&1; then
		echo "run-fuzz: $t FAILED, see $out/$t.log and $out/$t-*" >&2
		status=1
	fi
	grep -E '^stat::number_of_executed_units|^Done' "$out/$t.log" || true
done
exit $status
