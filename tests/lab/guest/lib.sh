# Helpers for lab scenarios (sourced into each scenario's bash in the guest).
# A check prints one TAP line; its failure never stops the scenario, so every
# assertion of a scenario is reported. Waits poll a condition until a deadline.

tap() { # tap ok|"not ok" DESCRIPTION
        echo "@@TAP@@ $1 - $LAB_SCENARIO: $2"
}

# check DESCRIPTION COMMAND...: passes when COMMAND exits 0; on failure its
# output is shown.
check() {
        local desc=$1 out rc
        shift
        out=$("$@" 2>&1)
        rc=$?
        if [ $rc -eq 0 ]; then
                tap ok "$desc"
        else
                tap "not ok" "$desc"
                [ -n "$out" ] && printf '%s\n' "$out" | sed 's/^/    /'
                echo "    (command: $*, status $rc)"
        fi
        return $rc
}

# check_eq DESCRIPTION EXPECTED ACTUAL
check_eq() {
        if [ "$2" = "$3" ]; then
                tap ok "$1"
        else
                tap "not ok" "$1"
                echo "    expected: '$2'"
                echo "    actual:   '$3'"
                return 1
        fi
}

# wait_for SECONDS COMMAND...: true once COMMAND succeeds, false at the deadline.
wait_for() {
        local deadline=$(( $(date +%s%N) / 1000000 + $1 * 1000 ))
        shift
        until "$@" >/dev/null 2>&1; do
                [ $(( $(date +%s%N) / 1000000 )) -ge $deadline ] && return 1
                sleep 0.1
        done
}

# Small readers of the machine, for assertions.
pci_driver() { # ADDR -> driver name or "none"
        local l=/sys/bus/pci/devices/$1/driver
        if [ -e "$l" ]; then basename "$(readlink "$l")"; else echo none; fi
}
pci_group() { basename "$(readlink "/sys/bus/pci/devices/$1/iommu_group")"; }
fb_vtcon_bound() { # true when a frame-buffer vtconsole is bound
        local v
        for v in /sys/class/vtconsole/vtcon*; do
                grep -q "frame buffer" "$v/name" && [ "$(cat "$v/bind")" = 1 ] && return 0
        done
        return 1
}

LAB_GPU=0000:00:02.0
LAB_HDA=0000:00:02.1

# The host state as the lab asserts it, one fact a line: drivers and
# driver_override of the GPU's group, vtconsole binds, the native driver
# modules, card0, baton's journal.
host_state() {
        local d v m
        for d in $(ls /sys/kernel/iommu_groups/"$(pci_group $LAB_GPU)"/devices); do
                echo "$d driver=$(pci_driver "$d") override=$(cat /sys/bus/pci/devices/"$d"/driver_override)"
        done
        for v in /sys/class/vtconsole/vtcon*; do
                echo "${v##*/} bind=$(cat "$v"/bind)"
        done
        for m in bochs snd_hda_intel; do
                if [ -d /sys/module/$m ]; then echo "module $m loaded"; else echo "module $m absent"; fi
        done
        if [ -c /dev/dri/card0 ]; then echo "card0 present"; else echo "card0 absent"; fi
        echo "display-manager $(systemctl is-active display-manager.service)"
        if [ -e /run/baton/journal ]; then echo "journal present"; else echo "journal absent"; fi
}

# state_is SNAPSHOT: true when the host state equals SNAPSHOT (from host_state).
state_is() { [ "$(host_state)" = "$1" ]; }

# check_state DESCRIPTION SNAPSHOT: waits up to 10 s for the state, shows a diff on failure.
check_state() {
        if wait_for 10 state_is "$2"; then
                tap ok "$1"
        else
                tap "not ok" "$1"
                diff <(echo "$2") <(host_state) | sed 's/^/    /'
                systemctl status display-manager.service --no-pager -n 25 2>&1 | sed 's/^/    /'
                mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
                cat /sys/kernel/debug/dri/0/clients 2>&1 | sed 's/^/    clients: /'
                journalctl -u baton.service -n 30 --no-pager -o short-monotonic 2>&1 | sed 's/^/    /'
                return 1
        fi
}


# The display manager's main pid once it holds card0 as DRM master (debugfs).
dm_master() {
        local pid
        pid=$(systemctl show -P MainPID display-manager.service)
        mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
        [ "$pid" != 0 ] && awk -v p="$pid" 'NR > 1 && $2 == p && $4 == "y" { f = 1 } END { exit !f }' \
                /sys/kernel/debug/dri/0/clients
}

# The display manager is up once its compositor is DRM master. Scenarios wait
# for that before they open card0 themselves: the first opener of a card
# without a master becomes its master, and the compositor would then fail.
dm_up() { wait_for 60 dm_master; }

# Installs baton.service (this build's binary, a long holders deadline for the
# TCG guest), its D-Bus policy, polkit actions and udev rule, as the package does;
# the caller starts it. Without the rule the host's compositor took the router's
# guest devices as its own: weston held the guest keyboard and mouse open.
install_daemon() {
        sed "s|@bindir@/baton daemon|$LAB_BUILD/baton --deadline holders=60 daemon|" \
                "$LAB_SRC/data/baton.service.in" >/etc/systemd/system/baton.service
        cp "$LAB_SRC/data/org.baton.Baton1.conf" /etc/dbus-1/system.d/
        mkdir -p /usr/share/polkit-1/actions
        cp "$LAB_SRC/data/org.baton.policy" /usr/share/polkit-1/actions/
        cp "$LAB_SRC/data/71-baton-input.rules" /etc/udev/rules.d/
        udevadm control --reload
        systemctl reload dbus.service
        systemctl daemon-reload
}

# --- The kernel-module doubles (tests/lab/doubles; the nofb boot only) ---

# Installs the doubles built for this boot ($LAB_DOUBLES) as the running kernel's
# modules, so that modprobe and baton's libkmod find nvidia and friends by name.
install_doubles() {
        local dir=/lib/modules/$(uname -r)/updates/baton-doubles
        [ -n "${LAB_DOUBLES:-}" ] || { echo "no doubles: not the nofb boot"; return 1; }
        [ -f "$dir/nvidia.ko" ] && return 0
        mkdir -p "$dir"
        cp "$LAB_DOUBLES"/*.ko "$dir/"
        depmod -a "$(uname -r)"
}

# nvidia-persistenced's stand-in: a process named like it that holds /dev/nvidiactl
# open for as long as it runs, as the real daemon does.
install_persistenced() {
        cp /bin/sleep /usr/local/bin/nvidia-persistenced
        cat >/etc/systemd/system/nvidia-persistenced.service <<'UNIT'
[Unit]
Description=NVIDIA Persistence Daemon (lab stand-in holding /dev/nvidiactl)
[Service]
ExecStart=/bin/sh -c 'exec /usr/local/bin/nvidia-persistenced infinity </dev/nvidiactl'
UNIT
        systemctl daemon-reload
}

# The host state of the nofb boot: the GPU's driver, the nvidia modules and their
# refcounts, the persistence daemon, baton's journal ("core"), then the firmware
# framebuffer and the vtconsoles.
nv_core() {
        local m
        echo "gpu driver=$(pci_driver $LAB_GPU) override=$(cat /sys/bus/pci/devices/$LAB_GPU/driver_override)"
        for m in nvidia_drm nvidia_modeset nvidia_uvm nvidia; do
                if [ -d /sys/module/$m ]; then echo "module $m refcnt=$(cat /sys/module/$m/refcnt)"; else echo "module $m absent"; fi
        done
        echo "persistenced $(systemctl is-active nvidia-persistenced.service)"
        if [ -e /run/baton/journal ]; then echo "journal present"; else echo "journal absent"; fi
}
nv_state() {
        local v
        nv_core
        if [ -e /sys/bus/platform/devices/efi-framebuffer.0/driver ]; then echo "efifb bound"
        elif [ -e /sys/bus/platform/devices/efi-framebuffer.0 ]; then echo "efifb unbound"
        else echo "efifb gone"; fi
        for v in /sys/class/vtconsole/vtcon*; do echo "${v##*/} $(cat "$v"/name) bind=$(cat "$v"/bind)"; done
}
nv_state_is() { [ "$(nv_state)" = "$1" ]; }
nv_core_is() { [ "$(nv_core)" = "$1" ]; }
# check_nv_state DESCRIPTION SNAPSHOT [nv_core]: waits up to 10 s for the state.
check_nv_state() {
        local get=${3:-nv_state}
        if wait_for 10 "${get}_is" "$2"; then
                tap ok "$1"
        else
                tap "not ok" "$1"
                diff <(echo "$2") <($get) | sed 's/^/    /'
                return 1
        fi
}

# all_in TEXT STRING...: every STRING occurs in TEXT.
all_in() {
        local text=$1 p
        shift
        for p; do grep -qF -- "$p" <<<"$text" || { echo "missing: $p"; return 1; }; done
}
