# Planned counts of the lab's TAP checks; sourced by tests/lab/run.
#
# Every scenario declares in its first 20 lines "# plan: N", N being the exact
# number of checks it reports. A boot's TAP plan is known before it starts:
# each scenario's plan, plus the closing "lab: scenario NAME" line the guest
# (guest/run-scenarios) writes after each one, plus the boot's own line. After
# the boot, lab_close() reports what the guest could not: a scenario it never
# closed, and one failed check for each planned check that never ran, so that
# a missing check is a failure with a name, never a shorter list.

# lab_plan_of FILE: N from the scenario's "# plan: N" line; empty without one.
lab_plan_of() {
        sed -n '1,20s/^# plan: \([0-9][0-9]*\)$/\1/p' "$1" 2>/dev/null | head -n1
}

# lab_planned DIR SCENARIO...: the checks of one boot that runs these scenarios.
lab_planned() {
        local dir=$1 s n=1
        shift
        for s; do n=$((n + $(lab_plan_of "$dir/$s") + 1)); done
        echo "$n"
}

# lab_close DIR OUT SCENARIO...: the closing TAP lines for the scenarios of one
# boot whose guest output (carriage returns removed) is in OUT.
lab_close() {
        local dir=$1 out=$2 s plan seg ran k
        shift 2
        for s; do
                plan=$(lab_plan_of "$dir/$s")
                seg=$(awk -v b="# scenario $s: begin" -v e="# scenario $s: end" '
                        index($0, b) == 1 { on = 1; next }
                        on && (index($0, e) == 1 || /^# scenario .*: begin/ || /^# lab: done/) { exit }
                        on' "$out")
                ran=$(grep -E '^(ok|not ok)( |$)' <<<"$seg" | grep -vcE '^(ok|not ok) - lab: scenario ' || true)
                if ! grep -q "^# scenario $s: begin" "$out"; then
                        echo "not ok - lab: scenario $s never began: the guest stopped before it"
                elif ! grep -qE "^(ok|not ok) - lab: scenario $s[ :]" <<<"$seg"; then
                        echo "not ok - lab: scenario $s did not run to its end: the guest stopped after $ran of its $plan planned checks"
                fi
                for ((k = ran + 1; k <= plan; k++)); do
                        echo "not ok - lab: scenario $s: planned check $k of $plan never ran"
                done
        done
}
