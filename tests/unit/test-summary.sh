#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# tools/test-summary against small fixture testlogs: its closing line and its exit
# status agree with meson's verdict (SKIP, TODO, a crash, a timeout, a TAP plan that
# does not match, a stale testlog), and a run without the lab says so.
# Usage: test-summary.sh TEST-SUMMARY
set -u
summary=$(readlink -f "$1")
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# testlog BUILD LINE...: BUILD/meson-logs/testlog.json with these JSON lines.
testlog() {
        b=$tmp/$1; shift
        mkdir -p "$b/meson-logs"
        printf '%s\n' "$@" >"$b/meson-logs/testlog.json"
}
unit() { # NAME RESULT [STARTTIME]
        printf '{"name": "baton:unit / %s", "stdout": "ok test_a\\n", "result": "%s", "starttime": %s, "returncode": 0}' \
                "$1" "$2" "${3:-2000}"
}
lab() { # RESULT STDOUT(with \n escapes)
        printf '{"name": "baton:lab / lab", "stdout": "%s", "result": "%s", "starttime": 2000, "returncode": 0}' "$2" "$1"
}

# expect DESCRIPTION STATUS LAST-LINE [ENV=VALUE] -- ARGS...: runs the summary on ARGS.
expect() {
        desc=$1 want_rc=$2 want=$3; shift 3
        env=
        [ "$1" != -- ] && { env=$1; shift; }
        shift
        out=$(cd "$tmp" && env -u CI $env python3 "$summary" "$@" 2>&1); rc=$?
        last=$(printf '%s\n' "$out" | tail -n1)
        if [ "$rc" = "$want_rc" ] && [ "$last" = "$want" ]; then
                echo "ok $desc"
        else
                echo "not ok $desc: status $rc (want $want_rc), output:"
                printf '%s\n' "$out" | sed 's/^/    /'
                echo "    want last line: $want"
                failed=$((failed + 1))
        fi
}

testlog ok "$(unit a OK)" "$(lab OK '1..4\nok - lab: x\nok - lab: y # SKIP no sink\nnot ok - lab: z # TODO later\nok - lab: w\n')"
expect "SKIP is a skip, TODO an expected failure" 0 "3 passed, 0 failed, 1 skipped, 1 expected failures" -- ok

testlog named "$(unit a OK)" "$(lab OK '1..3\nok 1 - lab: x\nnot ok 2 - holder: the card is named\nok 3 - lab: w\n')"
expect "a failed check is named just above the closing line" 1 "3 passed, 1 failed" -- named
named=$(cd "$tmp" && env -u CI python3 "$summary" named 2>&1 | tail -n2 | head -n1)
if [ "$named" = "# baton:lab / lab: not ok 2 - holder: the card is named" ]; then
        echo "ok the failed check's own line is printed"
else
        echo "not ok the failed check's own line is printed: got '$named'"
        failed=$((failed + 1))
fi

testlog upass "$(unit a OK)" "$(lab UNEXPECTEDPASS '1..1\nok - lab: x # TODO\n')"
expect "ok # TODO is a failure, as meson says" 1 "1 passed, 1 failed" -- upass

testlog short "$(unit a OK)" "$(lab ERROR '1..3\nok - lab: x\nok - lab: y\n')"
expect "a TAP plan not met fails even with every check ok" 1 "3 passed, 1 failed" -- short

testlog crash "$(unit a FAIL)" "$(unit b TIMEOUT)" "$(unit c SKIP)" "$(lab OK '1..1\nok - lab: x\n')"
expect "a crash and a timeout are failures, a skipped test a skip" 1 "1 passed, 2 failed, 1 skipped" -- crash

testlog labtimeout "$(lab TIMEOUT '1..3\nok - lab: x\n')"
expect "a lab that timed out fails" 1 "1 passed, 1 failed" -- labtimeout

testlog one "$(unit a OK)" "$(lab OK '1..1\nok - lab: x\n')"
testlog stale "$(unit a OK 1000)"
expect "a stale testlog (its suite failed before its tests ran) is a failure" 1 "2 passed, 1 failed" -- --since 1500 one stale
expect "...and without --since it counts" 0 "3 passed, 0 failed" -- one stale
expect "a missing testlog is a failure" 1 "2 passed, 1 failed" -- one nowhere

testlog nolab "$(unit a OK)"
expect "no lab: said, passes without CI" 0 "1 passed, 0 failed, lab not run" -- nolab
expect "no lab: fails under CI=true" 1 "1 passed, 0 failed, lab not run" CI=true -- nolab
expect "--without-lab: not mentioned" 0 "1 passed, 0 failed" CI=true -- --without-lab nolab
testlog labskip "$(unit a OK)" "$(lab SKIP '1..0 # SKIP not root\n')"
expect "a skipped lab fails under CI=true" 1 "1 passed, 0 failed, lab not run" CI=true -- labskip
expect "--also adds a result" 1 "2 passed, 1 failed, lab not run" -- nolab --also fuzz=0 --also other=1

[ $failed -eq 0 ]
