# The users' desktop in the lab, for the scenarios that need it (gnome,
# bench-gnome): gdm3 as display-manager.service with autologin of a lab user
# into GNOME Shell on Wayland on card0. Sourced after lib.sh.
#
# The other scenarios keep weston (lab-compositor.service) as the display
# manager: GNOME under TCG takes about a minute to come up. gnome_begin
# switches display-manager.service to gdm3 in this boot; gnome_end switches it
# back and leaves the machine as the next scenario expects.

GNOME_USER=labdesk

gnome_uid() { id -u $GNOME_USER; }

# Runs a command as the desktop user, in their session's environment.
asdesk() {
        local uid
        uid=$(gnome_uid)
        setpriv --reuid="$uid" --regid="$(id -g $GNOME_USER)" --init-groups \
                env XDG_RUNTIME_DIR=/run/user/$uid DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/$uid/bus \
                WAYLAND_DISPLAY=wayland-0 XDG_SESSION_TYPE=wayland "$@"
}

dm_switch() { # UNIT: display-manager.service becomes UNIT (an alias, as gdm installs it)
        systemctl stop display-manager.service
        ln -sfn "$1" /etc/systemd/system/display-manager.service
        systemctl daemon-reload
        systemctl start display-manager.service
}

# The GPU's HDA function's nodes as baton status names them, into $hda_nodes:
# read before a handover (on vfio-pci the function has none).
read_hda_nodes() { hda_nodes=$(baton status | sed -n 's/^audio nodes *//p'); }
# Whether the desktop user's PipeWire or WirePlumber holds one of $hda_nodes open.
pw_holds_hda() {
        local p n
        for p in $(pgrep -u "$(gnome_uid)" -x 'pipewire|wireplumber'); do
                for n in $hda_nodes; do
                        ls -l /proc/"$p"/fd 2>/dev/null | grep -q " $n\$" && return 0
                done
        done
        return 1
}

# The desktop user's session as logind has it: the id of an active user-class
# Wayland session on seat0, or nothing.
gnome_session() {
        local s
        for s in $(loginctl list-sessions --no-legend | awk -v u=$GNOME_USER '$3 == u { print $1 }'); do
                [ "$(loginctl show-session -P Class "$s")" = user ] &&
                [ "$(loginctl show-session -P Type "$s")" = wayland ] &&
                [ "$(loginctl show-session -P Active "$s")" = yes ] &&
                [ "$(loginctl show-session -P State "$s")" = active ] && { echo "$s"; return 0; }
        done
        return 1
}

gsm_up() {
        asdesk busctl --user call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus \
                NameHasOwner s org.gnome.SessionManager 2>/dev/null | grep -q true
}

# gnome-session has reached its Running phase (it refuses Logout before).
gsm_running() {
        asdesk busctl --user call org.gnome.SessionManager /org/gnome/SessionManager org.gnome.SessionManager \
                IsSessionRunning 2>/dev/null | grep -q true
}

# GNOME is up: the user's session is active, its gnome-shell holds card0 and
# is the DRM master as baton sees it (through logind), and gnome-session is on
# the user's bus.
gnome_up() {
        local s
        s=$(gnome_session) || return 1
        pgrep -u "$(gnome_uid)" -x gnome-shell >/dev/null && gsm_up &&
        baton status 2>/dev/null | grep -qE "^DRM master +session $s \($GNOME_USER, user, wayland\) through systemd-logind \(pid $(pgrep -x systemd-logind)\); its compositor pid [0-9]+ \(gnome-shell\)"
}

# gdm's login screen is the card's DRM master.
greeter_up() {
        baton status 2>/dev/null | grep -qE "^DRM master +session [^ ]+ \(Debian-gdm, greeter, wayland\) through systemd-logind \(pid $(pgrep -x systemd-logind)\); its compositor pid [0-9]+ \(gnome-shell\)"
}

# GNOME Shell renders with Mesa's llvmpipe here (bochs has no 3D), whose JIT
# code uses AVX2 when the CPU reports it, as the lab's `-cpu max` does
# (tests/lab/run). Under QEMU's TCG that code crashed GNOME Shell and gdm's
# greeter (SIGSEGV at a vpgatherdd in llvmpipe's JIT code) at about every start
# after the first, so the lab's desktop tells Mesa to stop at SSE4.1, for the
# desktop only: pam_env (gdm-launch-environment and gdm-autologin read
# /etc/environment) gives it to gdm's sessions, and the user managers, where
# gnome-session starts GNOME Shell, get it as a default for their units.
# Mesa reads GALLIUM_OVERRIDE_CPU_CAPS once per process; "sse4.1" drops AVX and
# with it AVX2, FMA and F16C.
LAB_MESA_ENV=GALLIUM_OVERRIDE_CPU_CAPS=sse4.1
LAB_MESA_USER_CONF=/etc/systemd/user.conf.d/50-lab-mesa.conf

mesa_env_begin() {
        cp /etc/environment /run/lab-environment.orig
        echo "$LAB_MESA_ENV" >>/etc/environment
        mkdir -p "${LAB_MESA_USER_CONF%/*}"
        printf '[Manager]\nDefaultEnvironment=%s\n' "$LAB_MESA_ENV" >"$LAB_MESA_USER_CONF"
}

mesa_env_end() {
        cp /run/lab-environment.orig /etc/environment
        rm -f "$LAB_MESA_USER_CONF"
}

# What Mesa sees in the running GNOME Shell of the desktop user.
mesa_env_shown() {
        local p
        p=$(pgrep -u "$(gnome_uid)" -x gnome-shell | head -n 1)
        echo "gnome-shell pid ${p:-none}: $(tr '\0' '\n' </proc/"$p"/environ 2>/dev/null | grep '^GALLIUM_' || echo 'no GALLIUM_ variable')"
}

gnome_begin() {
        id $GNOME_USER >/dev/null 2>&1 || useradd -m $GNOME_USER
        mesa_env_begin
        mkdir -p /etc/gdm3
        printf '[daemon]\nAutomaticLoginEnable=true\nAutomaticLogin=%s\nWaylandEnable=true\n' $GNOME_USER \
                >/etc/gdm3/daemon.conf
        dm_switch /lib/systemd/system/gdm3.service
}

gnome_end() {
        dm_switch lab-compositor.service
        loginctl terminate-user $GNOME_USER 2>/dev/null
        wait_for 60 sh -c "! pgrep -u $(gnome_uid) >/dev/null"
        mesa_env_end
        dm_up
}

# What a failed wait for GNOME leaves to look at.
gnome_diag() {
        local uid
        uid=$(gnome_uid)
        echo "gnome_diag at $(cut -d' ' -f1 /proc/uptime) s:"
        loginctl list-sessions --no-legend | sed 's/^/    session: /'
        baton status 2>&1 | sed -n '/^DRM master/,$p' | sed 's/^/    /'
        systemctl --user -M $GNOME_USER@ list-units --failed --no-legend --no-pager 2>&1 | sed 's/^/    failed: /'
        journalctl -b _UID="$uid" --no-pager -o short-monotonic -p warning 2>&1 | tail -n 40 | sed 's/^/    /'
        journalctl -b -u gdm3.service --no-pager -o short-monotonic 2>&1 | tail -n 15 | sed 's/^/    /'
}
