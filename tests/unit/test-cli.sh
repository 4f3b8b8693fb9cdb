#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs the built baton binary: against the fixture trees ("fixtures"), or on this very
# machine ("live"), which must have no display-class GPU. Usage: test-cli.sh BATON FIXTURES MODE
set -u

baton=$1
fixtures=$2
mode=$3
failed=0
out=$(mktemp)
err=$(mktemp)
trap 'rm -f "$out" "$err"' EXIT

# expect CODE PATTERN-IN-STDOUT-OR-STDERR -- ARGS...
expect() {
        code=$1 pattern=$2
        shift 3
        # shellcheck disable=SC2086
        $runas "$baton" "$@" >"$out" 2>"$err"
        rc=$?
        if [ "$rc" -ne "$code" ]; then
                echo "FAIL: baton $*: exit $rc, expected $code"; cat "$out" "$err"
                failed=$((failed + 1))
        elif [ -n "$pattern" ] && ! grep -qF -- "$pattern" "$out" "$err"; then
                echo "FAIL: baton $*: no '$pattern' in output"; cat "$out" "$err"
                failed=$((failed + 1))
        else
                echo "ok: baton $* -> $rc"
        fi
}

# absent PATTERN -- ARGS...: baton exits 0 and prints nothing with PATTERN.
absent() {
        pattern=$1
        shift 2
        # shellcheck disable=SC2086
        $runas "$baton" "$@" >"$out" 2>"$err"
        rc=$?
        if [ "$rc" -ne 0 ] || grep -qF -- "$pattern" "$out" "$err"; then
                echo "FAIL: baton $*: exit $rc, or '$pattern' in its output"; cat "$out" "$err"
                failed=$((failed + 1))
        else
                echo "ok: baton $* -> no '$pattern'"
        fi
}

refusal="baton: refusing: no display-class GPU on this machine"
runas=""        # a command prefix: setpriv as nobody for the unprivileged checks

case "$mode" in
fixtures)
        expect 0 "Usage: baton" -- --help
        expect 0 "baton 0." -- --version
        expect 0 "GPU            0000:00:02.0  [1234:1111] class 030000  driver bochs-drm" -- --root "$fixtures/lab" status
        expect 0 "no display-class GPU found" -- --root "$fixtures/nogpu" status
        # Under gdm logind opened card0: the master is the session, not systemd-logind.
        expect 0 "DRM master     session 2 (labdesk, user, wayland) through systemd-logind (pid 218); its compositor pid 1402 (gnome-shell)" \
                -- --root "$fixtures/gdm" status
        expect 0 "--probe-scanout ignored with --root" -- --root "$fixtures/lab" --probe-scanout status
        # Refused, a verb leaves its run directory as it found it. A private one: recover takes
        # the lock before it reads the machine, and a lock in /run/baton while the live checks
        # (run beside this one) take their snapshot would be a change they did not make.
        run=$(mktemp -d)
        for verb in handover return recover "start win11"; do
                # shellcheck disable=SC2086
                expect 1 "$refusal" -- --root "$fixtures/nogpu" --rundir "$run" $verb
        done
        if [ -n "$(ls -A "$run")" ]; then
                echo "FAIL: a refused verb left $(ls -A "$run") in its run directory"
                failed=$((failed + 1))
        fi
        rm -rf "$run"
        # notify runs as the desktop user in their session; without a notice it sends nothing.
        if [ "$(id -u)" = 0 ]; then
                expect 1 "not as root" -- notify
                if command -v setpriv >/dev/null && [ ! -e "$(getent passwd 65534 | cut -d: -f6)/.local/state/baton/notice" ]; then
                        runas="setpriv --reuid=65534 --regid=65534 --clear-groups --"
                        expect 0 "" -- notify
                        runas=""
                fi
        fi
        # plan and status only read; the journal goes to a private run directory.
        run=$(mktemp -d)
        expect 0 "Handover plan for GPU 0000:00:02.0 (IOMMU group 2)" -- --root "$fixtures/lab" --rundir "$run" plan
        expect 0 " 1. session " -- --root "$fixtures/lab" --rundir "$run" plan
        expect 0 "the desktop session not looked up: the machine is read from" -- --root "$fixtures/lab" --rundir "$run" plan
        expect 0 " 2. display-manager " -- --root "$fixtures/lab" --rundir "$run" plan
        expect 0 "display-manager.service not looked up" -- --root "$fixtures/lab" --rundir "$run" plan
        expect 0 "10. vfio " -- --root "$fixtures/lab" --rundir "$run" plan
        expect 0 " 9. host-tuning " -- --root "$fixtures/lab" --rundir "$run" plan
        expect 0 "11. user-stages " -- --root "$fixtures/lab" --rundir "$run" plan
        # [tuning] and a stage of the user's own, from a configuration directory of the test's.
        conf=$(mktemp -d)
        mkdir "$conf/stages.d"
        printf '#!/bin/sh\n' >"$conf/stages.d/10-hub"
        chmod 755 "$conf" "$conf/stages.d" "$conf/stages.d/10-hub"
        printf '[tuning]\nhost-cpus = 0\nhugepages = 4\ngovernor = performance\n' >"$conf/baton.conf"
        expect 0 "keep the host on CPUs 0: AllowedCPUs of user.slice, system.slice and init.scope" -- \
                --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        expect 0 "reserve 4 hugepages of 2048 kB (0 now), compacting memory first" -- \
                --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        expect 0 "no cpufreq driver on this machine: setting the performance governor is skipped" -- \
                --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        expect 0 "run $conf/stages.d/10-hub to-guest (up to 30 s); to-host on the way back" -- \
                --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        # --log-level, and $BATON_LOG_LEVEL under it: debug shows which files were read; a
        # level that is none is a usage error before anything runs.
        reading="baton: Reading the configuration from $conf/baton.conf."
        expect 0 "$reading" -- --log-level debug --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        expect 0 "$reading" -- --log-level=7 --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        absent "$reading" -- --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        runas="env BATON_LOG_LEVEL=debug"
        expect 0 "$reading" -- --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        absent "$reading" -- --log-level info --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        runas="env BATON_LOG_LEVEL=loud"
        expect 2 "\$BATON_LOG_LEVEL: 'loud' is no log level; expected emerg, alert, crit, err, warning, notice, info, debug or 0-7" \
                -- --root "$fixtures/lab" --rundir "$run" plan
        runas=""
        expect 2 "--log-level: '8' is no log level" -- --log-level 8 --root "$fixtures/lab" --rundir "$run" plan
        expect 2 "--log-level: 'DEBUG' is no log level" -- --log-level DEBUG status
        # plan shows the deadlines in force: --deadline over baton.conf over the defaults,
        # in its own line and in the stages' (drm-idle, user-stages) waits.
        defaults="holders 10, unbind 10, probe 20, module 10, unit 30, tuning 30, stage 30"
        expect 0 "      $defaults" -- --root "$fixtures/lab" --rundir "$run" plan
        expect 0 "wait up to 10s for pid 412 (cage)" -- --root "$fixtures/lab" --rundir "$run" plan
        expect 0 "      holders 3 (--deadline), unbind 10," -- --root "$fixtures/lab" --rundir "$run" \
                --deadline holders=3 plan
        expect 0 "wait up to 3s for pid 412 (cage)" -- --root "$fixtures/lab" --rundir "$run" --deadline holders=3 plan
        printf '[deadlines]\nholders = 7\nunbind = 2.5\nstage = 4.5\n' >"$conf/baton.conf"
        expect 0 "      holders 7 (baton.conf), unbind 2.5 (baton.conf), probe 20, module 10, unit 30, tuning 30, stage 4.5 (baton.conf)" \
                -- --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        expect 0 "wait up to 7s for pid 412 (cage)" -- --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        expect 0 "run $conf/stages.d/10-hub to-guest (up to 4.5 s)" -- \
                --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" plan
        expect 0 "      holders 3 (--deadline), unbind 2.5 (baton.conf), probe 0.25 (--deadline), module 10," -- \
                --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" --deadline holders=3 --deadline probe=0.25 plan
        expect 0 "wait up to 3s for pid 412 (cage)" -- \
                --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" --deadline holders=3 plan
        expect 0 "run $conf/stages.d/10-hub to-guest (up to 1 s)" -- \
                --root "$fixtures/lab" --rundir "$run" --config-dir "$conf" --deadline stage=1 plan
        # config prints the same configuration in force.
        expect 0 "holders = 3" -- --config-dir "$conf" --deadline holders=3 config
        expect 0 "unbind = 2.5" -- --config-dir "$conf" --deadline holders=3 config
        rm -rf "$conf"
        expect 0 "take org.freedesktop.ReserveDevice1.Audio0 on the user's session bus (card 0, 0000:00:02.1)" -- --root "$fixtures/lab" --rundir "$run" plan
        expect 1 "nothing to plan" -- --root "$fixtures/nogpu" --rundir "$run" plan
        # The real NVIDIA machine without IOMMU and without module unloading: plan says so,
        # and a handover refuses before the journal exists or anything changes.
        expect 0 "Handover plan for GPU 0000:00:05.0 (no IOMMU group: the IOMMU is off or absent)" -- \
                --root "$fixtures/nvidia-noiommu" --rundir "$run" plan
        expect 0 "stop nvidia-persistenced.service if running" -- \
                --root "$fixtures/nvidia-noiommu" --rundir "$run" plan
        expect 0 "refuse: nvidia is loaded and this kernel cannot unload modules" -- \
                --root "$fixtures/nvidia-noiommu" --rundir "$run" plan
        expect 1 "Refusing to hand over: the GPU 0000:00:05.0 needs module nvidia_uvm unloaded" -- \
                --root "$fixtures/nvidia-noiommu" --rundir "$run" handover
        # Row 7 of issue 19: VM names that read as options or hold control characters (C1 too).
        vmrefusal="Refusing the VM name"
        expect 1 "$vmrefusal \"--config-dir=/tmp\"" -- --root "$fixtures/lab" --rundir "$run" plan -- --config-dir=/tmp
        expect 1 "$vmrefusal \"a\\xc2\\x85b\"" -- --root "$fixtures/lab" --rundir "$run" plan "$(printf 'a\302\205b')"
        expect 1 "$vmrefusal \"a\\x1b[2Jb\"" -- --root "$fixtures/nogpu" --rundir "$run" handover "$(printf 'a\033[2Jb')"
        expect 1 "$vmrefusal \"-x\"" -- --root "$fixtures/nogpu" --rundir "$run" start -- -x
        expect 0 "state          host (no transition recorded)" -- --root "$fixtures/lab" --rundir "$run" status
        if [ -n "$(ls -A "$run")" ]; then
                echo "FAIL: plan or status wrote into the run directory: $(ls -A "$run")"
                failed=$((failed + 1))
        fi
        printf 'baton-journal 1\ngpu 0000:00:02.0\ncommit vfio\n' >"$run/journal"
        expect 0 "interrupted transition of 0000:00:02.0 (last stage that acted: vfio)" -- \
                --root "$fixtures/lab" --rundir "$run" status
        printf 'garbage\n' >"$run/journal"
        expect 0 "journal is unreadable" -- --root "$fixtures/lab" --rundir "$run" status
        # Row 18 of issue 19: a journal this user cannot read is not "interrupted", and recover
        # does not act from observation then.
        if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
                printf 'baton-journal 1\ngpu 0000:00:02.0\ncommit vfio\n' >"$run/journal"
                chmod 600 "$run/journal"
                chmod 711 "$run"
                runas="setpriv --reuid=65534 --regid=65534 --clear-groups --"
                expect 0 "journal cannot be read by uid 65534 (Permission denied): run 'baton status' as root" -- \
                        --root "$fixtures/lab" --rundir "$run" status
                expect 1 ": Permission denied: recover needs root." -- \
                        --root "$fixtures/lab" --rundir "$run" recover
                runas=""
                [ -s "$run/journal" ] || { echo "FAIL: the journal was set aside"; failed=$((failed + 1)); }
        else
                echo "SKIP: the unreadable-journal checks need root and setpriv"
        fi
        rm -rf "$run"
        # A handover on a copy: the fixture's holders are no processes of this machine, so
        # each round of drm-idle's wait ends at once; its deadline still ends the wait, and
        # the rollback gives the copy its console back.
        tree=$(mktemp -d)
        run=$(mktemp -d)
        cp -a "$fixtures/lab/." "$tree"
        expect 1 "Timed out after 1s waiting for the GPU to be released: pid 412 (cage)" -- \
                --root "$tree" --rundir "$run" --deadline holders=1 handover
        if [ "$(cat "$tree/sys/class/vtconsole/vtcon1/bind")" != 1 ] || [ -n "$(ls -A "$run")" ]; then
                echo "FAIL: the rollback left vtcon1 unbound or a journal behind"
                failed=$((failed + 1))
        fi
        rm -rf "$tree" "$run"
        # Row 17 of issue 19: a device whose unbind is still in the kernel blocks readers of its
        # driver_override (played by a FIFO nobody writes): status gives up after 5 s, saying
        # why; recover waits for it up to the unbind deadline and says so.
        tree=$(mktemp -d)
        run=$(mktemp -d)
        cp -a "$fixtures/lab/." "$tree"
        rm -f "$tree/sys/bus/pci/devices/0000:00:02.0/driver_override"
        mkfifo "$tree/sys/bus/pci/devices/0000:00:02.0/driver_override"
        expect 1 "did not answer within 5 s: the kernel is still writing to a device" -- \
                --root "$tree" --rundir "$run" status
        expect 1 "still writing to a device after 1s" -- --root "$tree" --rundir "$run" --deadline unbind=1 recover
        [ -z "$(ls -A "$run")" ] || { echo "FAIL: recover left files: $(ls -A "$run")"; failed=$((failed + 1)); }
        rm -rf "$tree" "$run"
        # Row 15 of issue 19: a foreign device in the GPU's IOMMU group is refused before any
        # stage acts (vtcon1 stays bound, nothing recorded), naming the config key.
        tree=$(mktemp -d)
        run=$(mktemp -d)
        cp -a "$fixtures/shared-group/." "$tree"
        expect 1 "set allow-foreign-devices = yes in [gpu] of baton.conf" -- --root "$tree" --rundir "$run" handover
        # A pre-flight's refusal reaches the end of the handover: the CLI says nothing changed.
        if ! grep -qF "Handover refused; nothing was changed." "$err"; then
                echo "FAIL: the refused handover did not say that nothing was changed"; cat "$err"
                failed=$((failed + 1))
        else
                echo "ok: the refused handover says that nothing was changed"
        fi
        if [ "$(cat "$tree/sys/class/vtconsole/vtcon1/bind")" != 1 ] || [ -n "$(ls -A "$run")" ]; then
                echo "FAIL: the refused handover unbound vtcon1 or left files behind: $(ls -A "$run")"
                failed=$((failed + 1))
        fi
        rm -rf "$tree" "$run"
        # Row 16 of issue 19: while one process runs a handover (waiting for the fixture's
        # holders, up to 5 s), a second one is refused with the truth, status says "in
        # progress", and the first one's rollback still ends with an empty run directory.
        tree=$(mktemp -d)
        run=$(mktemp -d)
        cp -a "$fixtures/lab/." "$tree"
        "$baton" --root "$tree" --rundir "$run" --deadline holders=5 handover >/dev/null 2>&1 &
        first=$!
        i=0
        while [ ! -s "$run/transition" ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
        expect 1 "A handover is in progress, pid $first" -- --root "$tree" --rundir "$run" return
        expect 1 "A handover is in progress, pid $first" -- --root "$tree" --rundir "$run" handover
        expect 1 "A handover is in progress, pid $first" -- --root "$tree" --rundir "$run" recover
        expect 0 "in progress: a handover, pid $first" -- --root "$tree" --rundir "$run" status
        wait $first
        if [ "$(cat "$tree/sys/class/vtconsole/vtcon1/bind")" != 1 ] || [ -n "$(ls -A "$run")" ]; then
                echo "FAIL: the first handover's rollback left vtcon1 unbound or files behind: $(ls -A "$run")"
                failed=$((failed + 1))
        fi
        rm -rf "$tree" "$run"
        # A driver whose unbind does not return, played by a FIFO that nobody reads: the
        # worker blocks in open(). Past the unbind deadline the handover fails and the
        # rollback waits for the worker, on the loop, up to the deadline once more.
        tree=$(mktemp -d)
        run=$(mktemp -d)
        cp -a "$fixtures/lab/." "$tree"
        rm -rf "$tree"/proc/* "$tree"/sys/kernel/debug/dri/*    # no holders, no DRM master
        mkdir -p "$tree/sys/bus/pci/drivers/bochs-drm"
        fifo=$tree/sys/bus/pci/drivers/bochs-drm/unbind
        mkfifo "$fifo"
        # The kernel finishes while the rollback waits: the rollback then runs.
        "$baton" --root "$tree" --rundir "$run" --deadline unbind=2 handover >"$out" 2>"$err" &
        pid=$!
        i=0
        until grep -q "Waiting up to 2 s for the kernel to finish writing 0000:00:02.0" "$err" || [ $i -ge 100 ]; do
                sleep 0.1
                i=$((i + 1))
        done
        cat "$fifo" >/dev/null
        wait $pid
        rc=$?
        if [ $rc -ne 1 ] || ! grep -q "The kernel finished writing 0000:00:02.0" "$err" ||
           ! grep -q "the host state was restored" "$err" || [ -n "$(ls -A "$run")" ]; then
                echo "FAIL: a stuck unbind that ends during the rollback's wait: exit $rc"; cat "$out" "$err"
                failed=$((failed + 1))
        else
                echo "ok: a stuck unbind that ends during the rollback's wait -> $rc"
        fi
        # The kernel does not finish in time: the journal stays and the worker is named.
        expect 1 "is still writing 0000:00:02.0 to /sys/bus/pci/devices/0000:00:02.0/driver/unbind (worker pid" -- \
                --root "$tree" --rundir "$run" --deadline unbind=1 handover
        if [ ! -e "$run/journal" ]; then
                echo "FAIL: the journal is gone though the rollback did not finish"
                failed=$((failed + 1))
        fi
        cat "$fifo" >/dev/null          # the kernel is done at last
        expect 0 "vfio            to host" -- --root "$tree" --rundir "$run" recover
        if [ "$(cat "$tree/sys/class/vtconsole/vtcon1/bind")" != 1 ] || [ -n "$(ls -A "$run")" ]; then
                echo "FAIL: recover left vtcon1 unbound or a journal behind"
                failed=$((failed + 1))
        fi
        rm -rf "$tree" "$run"
        # Row 9 of issue 19: a journal whose vfio record names 00:04.0 (the xHCI of group 3,
        # outside the GPU's): recover does not touch it, says so, and clears the journal
        # (it failed before, and the journal stayed for every later recover).
        tree=$(mktemp -d)
        run=$(mktemp -d)
        cp -a "$fixtures/lab/." "$tree"
        rm -rf "$tree"/proc/* "$tree"/sys/kernel/debug/dri/*
        printf 'none\n' >"$tree/sys/bus/pci/devices/0000:00:04.0/driver_override"
        printf 'baton-journal 1\ngpu 0000:00:02.0\nrec vfio driver.0000:00:04.0 xhci_hcd\nrec vfio override.0000:00:04.0 vfio-pci\ncommit vfio\n' >"$run/journal"
        expect 0 "ok, with a warning: The journal names 0000:00:04.0, which is not an endpoint of the GPU's IOMMU group 2: not touching it." -- \
                --root "$tree" --rundir "$run" recover
        if [ "$(cat "$tree/sys/bus/pci/devices/0000:00:04.0/driver_override")" != none ] || [ -e "$run/journal" ]; then
                echo "FAIL: recover touched 00:04.0 or left the journal"
                failed=$((failed + 1))
        fi
        rm -rf "$tree" "$run"
        # A crash point named instead of counted (BATON_TEST_CRASH_AT="STAGE: LABEL").
        tree=$(mktemp -d)
        run=$(mktemp -d)
        cp -a "$fixtures/lab/." "$tree"
        rm -rf "$tree"/proc/* "$tree"/sys/kernel/debug/dri/*
        BATON_TEST_CRASH_AT="vtconsoles: unbound vtcon1" "$baton" --root "$tree" --rundir "$run" handover >"$out" 2>"$err"
        rc=$?
        if [ $rc -ne 137 ] || ! grep -q "killed at crash point [0-9]* (vtconsoles: unbound vtcon1)" "$err" ||
           [ "$(cat "$tree/sys/class/vtconsole/vtcon1/bind")" != 0 ] || [ ! -e "$run/journal" ]; then
                echo "FAIL: a crash point named by its label: exit $rc"; cat "$out" "$err"
                failed=$((failed + 1))
        else
                echo "ok: a crash point named by its label -> $rc"
        fi
        expect 0 "" -- --root "$tree" --rundir "$run" recover
        [ "$(cat "$tree/sys/class/vtconsole/vtcon1/bind")" = 1 ] || { echo "FAIL: recover left vtcon1 unbound"; failed=$((failed + 1)); }
        rm -rf "$tree" "$run"
        # The reset ladder on a copy: the journal says the GPU had bochs-drm, which is
        # registered, yet the GPU has no driver after drivers_probe (a fixture's links never
        # change, like a driver whose probe keeps failing). recover walks the ladder: the
        # sysfs reset, drivers_probe, remove, rescan; then names what is left.
        tree=$(mktemp -d)
        run=$(mktemp -d)
        cp -a "$fixtures/lab/." "$tree"
        dev=$tree/sys/devices/pci0000:00/0000:00:02.0
        rm -f "$dev/driver"
        mkdir -p "$tree/sys/bus/pci/drivers/bochs-drm"
        : >"$tree/sys/bus/pci/drivers_probe"
        : >"$tree/sys/bus/pci/rescan"
        : >"$dev/reset"
        : >"$dev/remove"
        printf 'baton-journal 1\ngpu 0000:00:02.0\nrec vfio driver.0000:00:02.0 bochs-drm\nrec vfio override.0000:00:02.0 \ncommit vfio\n' >"$run/journal"
        expect 1 "0000:00:02.0 has no driver after the reset ladder (function reset done, remove and rescan done), expected bochs-drm" -- \
                --root "$tree" --rundir "$run" recover
        for l in "did not bind to bochs-drm: its probe failed" "Reset ladder, 0000:00:02.0: function reset through" \
                 "still no driver after a function reset" "removing it from the PCI bus, then rescanning"; do
                grep -qF "$l" "$err" || { echo "FAIL: the ladder did not say '$l'"; cat "$err"; failed=$((failed + 1)); }
        done
        if [ "$(cat "$dev/reset")" != 1 ] || [ "$(cat "$dev/remove")" != 1 ] || [ "$(cat "$tree/sys/bus/pci/rescan")" != 1 ]; then
                echo "FAIL: the ladder did not write reset, remove and rescan"
                failed=$((failed + 1))
        fi
        # Without a reset method the ladder goes straight to remove and rescan.
        rm -f "$dev/reset"
        expect 1 "(function reset not available, remove and rescan done)" -- --root "$tree" --rundir "$run" recover
        grep -qF "no function reset (the device has no reset method)" "$err" \
                || { echo "FAIL: no word about the missing reset method"; cat "$err"; failed=$((failed + 1)); }
        rm -rf "$tree" "$run"
        # firmware-fb's way back when the kernel deleted efifb: nvidia (no fbdev, no card
        # node) drives the GPU again, the console stays dark: a warning, not a failure.
        tree=$(mktemp -d)
        run=$(mktemp -d)
        cp -a "$fixtures/nvidia-noiommu/." "$tree"
        rm -rf "$tree"/proc/[0-9]*
        printf 'baton-journal 1\ngpu 0000:00:05.0\nrec firmware-fb fb.efi-framebuffer.0 efi-framebuffer\ncommit firmware-fb\n' >"$run/journal"
        expect 0 "efi-framebuffer.0 is gone for good (the kernel removed it when vfio-pci took the GPU over), and nvidia" -- \
                --root "$tree" --rundir "$run" recover
        # gpu-daemons starts only services it stops itself, whatever a journal says.
        printf 'baton-journal 1\ngpu 0000:00:05.0\nrec gpu-daemons unit.sshd.service 1\ncommit gpu-daemons\n' >"$run/journal"
        expect 1 "The record names sshd.service, not a service baton stops." -- --root "$tree" --rundir "$run" recover
        rm -f "$run/journal"
        # Row 20 of issue 19: without a native driver nothing can draw a console until the
        # next boot. recover finishes, says so as a warning, does not count the vanished
        # vtcon1 as restored, and clears the journal (before: exit 1 each time, for ever).
        rm -f "$tree/sys/devices/pci0000:00/0000:00:05.0/driver"
        printf 'baton-journal 1\ngpu 0000:00:05.0\nrec vtconsoles vtcon1 1\ncommit vtconsoles\nrec firmware-fb fb.efi-framebuffer.0 efi-framebuffer\ncommit firmware-fb\n' >"$run/journal"
        expect 0 "firmware-fb     to host      " -- --root "$tree" --rundir "$run" recover
        for l in "ok, with a warning: efi-framebuffer.0 is gone for good (the kernel removed it when vfio-pci took the GPU over), and the GPU 0000:00:05.0 has no native driver" \
                 "ok, with a warning: vtcon1 was bound before the handover and is gone now (the kernel removed its framebuffer): not restored."; do
                grep -qF "$l" "$out" || { echo "FAIL: recover did not say '$l'"; cat "$out" "$err"; failed=$((failed + 1)); }
        done
        [ ! -e "$run/journal" ] || { echo "FAIL: recover left the journal behind"; failed=$((failed + 1)); }
        # Still on vfio-pci with efifb gone: nothing took the display over, that fails.
        ln -s ../../../bus/pci/drivers/vfio-pci "$tree/sys/devices/pci0000:00/0000:00:05.0/driver"
        printf 'baton-journal 1\ngpu 0000:00:05.0\nrec firmware-fb fb.efi-framebuffer.0 efi-framebuffer\ncommit firmware-fb\n' >"$run/journal"
        expect 1 "efi-framebuffer.0 is gone and nothing took the display over" -- --root "$tree" --rundir "$run" recover
        rm -rf "$tree" "$run"
        # The seconds of --deadline and --start-deadline are baton.conf's (parse_seconds(),
        # test-common.c): each spelling refused there is refused here, naming the option.
        seconds="expected seconds, 0 < s <= 86400, with up to six decimals (2.5)"
        for v in 0 0.0 0.000000 0.0000001 1.0000001 -1 -0 +5 1e1 1E1 0x1p3 0x10 inf nan .5 5. 1.2.3 1,5 \
                 10s 500ms "1 s" " 5" "5 " 86400.000001 86401 99999999999999999999 18446744073709551617 \
                 "" 1x; do
                expect 2 "--deadline holders=$v: $seconds" -- --deadline "holders=$v" status
                expect 2 "--start-deadline $v: $seconds" -- --start-deadline "$v" status
        done
        expect 2 "--deadline unbind=1e1: $seconds" -- --deadline unbind=1e1 status
        expect 2 "--deadline takes WHAT=SECONDS, not 'holders'" -- --deadline holders status
        expect 2 "--deadline nope=3: no deadline 'nope', WHAT is one of holders, unbind, probe, module, unit, tuning, stage" \
                -- --deadline nope=3 status
        expect 2 "--deadline =3: no deadline ''" -- --deadline =3 status
        # --help lists DeadlineKind's names from its table; the completion offers each of them.
        names=$("$baton" --help | sed -n '/How long a wait may take, WHAT one of/{n;s/[,;]//g;p}')
        [ -n "$names" ] || { echo "FAIL: --help lists no deadline names"; failed=$((failed + 1)); }
        for name in $names; do
                expect 0 "GPU            0000:00:02.0" -- --root "$fixtures/lab" --deadline "$name=1" status
                if ! grep -q "compgen -W \".*\\<$name=" "$fixtures/../../../completion/baton"; then
                        echo "FAIL: completion/baton does not offer --deadline $name="
                        failed=$((failed + 1))
                fi
        done
        # Each long option --help names is one the completion offers, and each level
        # --log-level takes.
        for opt in $("$baton" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
                if ! grep -q "local options=\".*$opt\>" "$fixtures/../../../completion/baton"; then
                        echo "FAIL: completion/baton does not offer $opt"
                        failed=$((failed + 1))
                fi
        done
        for level in emerg alert crit err warning notice info debug; do
                expect 0 "GPU            0000:00:02.0" -- --root "$fixtures/lab" --log-level "$level" status
                if ! grep -q "compgen -W \".*\<$level\>" "$fixtures/../../../completion/baton"; then
                        echo "FAIL: completion/baton does not offer --log-level $level"
                        failed=$((failed + 1))
                fi
        done
        for v in 5 2.5 0.5 007.250 0.000001 1.000001 86400 86400.000000; do
                expect 0 "GPU            0000:00:02.0" -- --root "$fixtures/lab" --deadline "holders=$v" status
                expect 0 "GPU            0000:00:02.0" -- --root "$fixtures/lab" --start-deadline "$v" status
        done
        expect 1 "fail  libvirt-hook" -- --root "$fixtures/lab" --config-dir "$fixtures/config/none" doctor
        expect 1 "fail  gpu                 no GPU" -- --root "$fixtures/nogpu" --config-dir "$fixtures/config/none" doctor
        expect 0 "address = auto" -- --config-dir "$fixtures/config/none" config
        expect 1 "unknown key" -- --config-dir "$fixtures/config/err-unknown-key" config
        expect 1 "input routing needs the daemon" -- input toggle
        expect 2 "unknown command 'frobnicate'" -- frobnicate
        expect 2 "missing command" --
        expect 2 "wrong number of arguments" -- status extra
        expect 2 "wrong number of arguments" -- start one two
        expect 2 "expected 'toggle'" -- input sideways
        expect 2 "" -- --no-such-option status
        expect 1 "Failed to read the machine" -- --root /nonexistent/tree/x status
        ;;
live)
        for c in /sys/bus/pci/devices/*/class; do
                case $(cat "$c" 2>/dev/null) in
                0x03*) echo "SKIP: this machine has a display-class GPU ($c)"; exit 77 ;;
                esac
        done
        # Nothing of this machine may change: drivers, overrides, consoles, baton's run directory.
        snapshot() {
                for d in /sys/bus/pci/devices/*; do
                        echo "$d $(readlink "$d/driver") $(cat "$d/driver_override" 2>/dev/null)"
                done
                cat /sys/class/vtconsole/vtcon*/bind 2>/dev/null
                ls -A /run/baton 2>/dev/null
        }
        before=$(snapshot)
        # changed WHAT: fails, printing the lines of the snapshot that differ.
        changed() {
                echo "FAIL: $1 changed this machine:"
                echo "$before" >"$out"
                snapshot | diff "$out" - | sed -n 's/^[<>]/  &/p'
                failed=$((failed + 1))
        }
        for verb in handover return recover "start some-vm"; do
                # shellcheck disable=SC2086
                expect 1 "$refusal" -- $verb
        done
        # Row 18 of issue 19: without the daemon an unprivileged user is refused up front.
        if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
                runas="setpriv --reuid=65534 --regid=65534 --clear-groups --"
                for verb in handover return recover; do
                        expect 1 "$verb: refusing: the daemon (baton.service) is not running" -- $verb
                done
                runas=""
        else
                echo "SKIP: the unprivileged checks need root and setpriv"
        fi
        [ "$before" = "$(snapshot)" ] || changed "a refused command"
        expect 0 "no display-class GPU found" -- status
        expect 0 "holders " -- status
        # doctor says it plainly, exits 1 for it, and changes nothing either.
        expect 1 "fail  gpu                 no GPU: this machine has no display-class PCI device" -- doctor
        [ "$before" = "$(snapshot)" ] || changed "doctor"
        ;;
*)
        echo "unknown mode $mode"; exit 2 ;;
esac

[ "$failed" -eq 0 ] || { echo "$failed check(s) failed"; exit 1; }
