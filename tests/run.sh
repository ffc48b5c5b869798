#!/usr/bin/env bash
# tests/run.sh - the whole suite, as `make test` runs it (CI: .ci/run).
#
# Every check ends as one line in $OUT/results: `PASS: name`,
# `FAIL: name: why` or `SKIP: name: why`. cmocka programs report each of
# their tests (TAP output); the kernel lab reports each scenario check.
# The last line printed is `N passed, N failed[, N skipped]`.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD
OUT=${USBLAB_TEST_OUT:-$top/build-test/results.d}
rm -rf "$OUT" && mkdir -p "$OUT"
results=$OUT/results
: >"$results"

pass() { echo "PASS: $1" | tee -a "$results"; }
fail() { echo "FAIL: $1: $2" | tee -a "$results"; }
skip() { echo "SKIP: $1: $2" | tee -a "$results"; }
section() { printf '\n== %s ==\n' "$1"; }

summary() {
	local p f s
	p=$(grep -c '^PASS: ' "$results")
	f=$(grep -c '^FAIL: ' "$results")
	s=$(grep -c '^SKIP: ' "$results")
	echo
	if [ "$f" -gt 0 ]; then
		echo "Failed:"
		grep '^FAIL: ' "$results" | sed 's/^/  /'
	fi
	if [ "$s" -gt 0 ]; then
		echo "Skipped:"
		grep '^SKIP: ' "$results" | sed 's/^/  /'
	fi
	if [ "$s" -gt 0 ]; then
		echo "$p passed, $f failed, $s skipped"
	else
		echo "$p passed, $f failed"
	fi
	[ "$f" -eq 0 ]
}

# ---- formatting ----------------------------------------------------------
section "clang-format"
mapfile -t csrc < <(git ls-files --cached --others --exclude-standard -- '*.c' '*.h')
bad=()
for f in "${csrc[@]}"; do
	[ -f "$f" ] || continue
	clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if [ ${#bad[@]} -eq 0 ]; then pass "clang-format (${#csrc[@]} files)"; else fail "clang-format" "not formatted: ${bad[*]}"; fi

# ---- lib/usbip portability --------------------------------------------------
section "lib/usbip: freestanding and Cortex-M0+"
lib_srcs=(lib/usbip/usbip_codec.c lib/usbip/usbip_server.c)
if gcc -std=c11 -pedantic -Wall -Wextra -Werror -ffreestanding -fno-builtin -Ilib/usbip/include \
	-c "${lib_srcs[0]}" -o "$OUT/codec.o" 2>"$OUT/freestanding.log" &&
	gcc -std=c11 -pedantic -Wall -Wextra -Werror -ffreestanding -fno-builtin -Ilib/usbip/include \
		-c "${lib_srcs[1]}" -o "$OUT/server.o" 2>>"$OUT/freestanding.log"; then
	# No libc beyond mem*/str* may be referenced: no malloc, no I/O.
	ld -r "$OUT/codec.o" "$OUT/server.o" -o "$OUT/usbip.o"
	extra=$(nm -u "$OUT/usbip.o" | awk '{print $2}' | grep -v -E '^(memcpy|memmove|memset|memchr|memcmp|strncmp)$' | sort -u | tr '\n' ' ')
	if [ -z "$extra" ]; then pass "lib/usbip builds -ffreestanding, references only mem*/strncmp"; else fail "lib/usbip freestanding" "references $extra"; fi
else
	fail "lib/usbip freestanding" "$(head -5 "$OUT/freestanding.log")"
fi
if command -v arm-none-eabi-gcc >/dev/null; then
	ok=1
	for f in "${lib_srcs[@]}"; do
		arm-none-eabi-gcc -std=c11 -mcpu=cortex-m0plus -mthumb -Os -ffreestanding -Wall -Wextra -Werror \
			-Ilib/usbip/include -c "$f" -o "$OUT/$(basename "$f" .c).arm.o" 2>>"$OUT/arm.log" || ok=0
	done
	if [ $ok = 1 ]; then
		pass "lib/usbip builds for cortex-m0plus -Os"
		arm-none-eabi-size "$OUT"/*.arm.o | sed 's/^/  /'
	else
		fail "lib/usbip cortex-m0plus" "$(head -5 "$OUT/arm.log")"
	fi
else
	skip "lib/usbip cortex-m0plus" "arm-none-eabi-gcc not installed (tools/deps.sh test installs it)"
fi

# ---- build (ASan + UBSan, -Werror) ----------------------------------------
section "build: ASan+UBSan, -Werror"
B=build-test
if [ ! -f $B/build.ninja ]; then
	meson setup $B -Db_sanitize=address,undefined -Dwerror=true -Dbuildtype=debug >"$OUT/setup.log" 2>&1 ||
		{ cat "$OUT/setup.log"; fail "meson setup" "see above"; summary; exit 1; }
fi
if ninja -C $B >"$OUT/build.log" 2>&1; then
	pass "build with -Wall -Wextra -Werror, ASan+UBSan"
else
	tail -40 "$OUT/build.log"
	fail "build" "see above"
	summary
	exit 1
fi

# ---- unit, integration and interop tests (meson) ---------------------------
section "meson tests"
export CMOCKA_MESSAGE_OUTPUT=TAP
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C $B --num-processes 2 --print-errorlogs >"$OUT/meson-test.log" 2>&1
tail -15 "$OUT/meson-test.log"
python3 tests/tap_results.py $B/meson-logs/testlog.json >>"$results"
grep -E '^(FAIL|SKIP): ' <(python3 tests/tap_results.py $B/meson-logs/testlog.json) || true

# ---- kernel lab -------------------------------------------------------------
section "kernel lab (qemu, Debian's kernel)"
if [ "${USBLAB_SKIP_LAB:-0}" = 1 ]; then
	skip "kernel lab" "USBLAB_SKIP_LAB=1"
elif [ -x lab/lab.sh ]; then
	R=build-rel
	[ -f $R/build.ninja ] || meson setup $R --buildtype=release >"$OUT/rel-setup.log" 2>&1
	if ninja -C $R >"$OUT/rel-build.log" 2>&1 && [ -x $R/src/cli/usblab ]; then
		lab/lab.sh --usblabd $R/src/daemon/usblabd --extra $R/src/cli/usblab 2>&1 | tee "$OUT/lab.log" |
			grep -E '^(PASS|FAIL|SKIP|BENCH)' | tee -a "$results" >/dev/null
		grep -E '^(PASS|FAIL|SKIP|BENCH)' "$OUT/lab.log"
		grep -qE '^(PASS|FAIL)' "$OUT/lab.log" || fail "kernel lab" "printed no result; see $OUT/lab.log"
	else
		tail -20 "$OUT/rel-build.log"
		fail "release build for the lab" "see above"
	fi
else
	skip "kernel lab" "lab/lab.sh missing"
fi

summary
