#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# `meson install` into a temporary DESTDIR, then check the exact list of installed files
# (a missing or an unexpected file fails: add a new one here on purpose), what the unit
# runs, that nothing lands in sysconfdir, and that man pages and completion work.
# Usage: test-install.sh MESON BUILD SRC PREFIX BINDIR DATADIR MANDIR SYSCONFDIR UNITDIR UDEVRULESDIR COMPLETIONSDIR
set -u

meson=$1 build=$2 src=$3 prefix=$4 bindir=$5 datadir=$6 mandir=$7 sysconfdir=$8
unitdir=$9; shift 9
udevrulesdir=$1 completionsdir=$2
failed=0
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
under_prefix() { case $1 in /*) echo "$1" ;; *) echo "$prefix/$1" ;; esac; }

datadir=$(under_prefix "$datadir")
sysconfdir=$(under_prefix "$sysconfdir")
completionsdir=$(under_prefix "$completionsdir")

if ! "$meson" install -C "$build" --destdir "$dest" --no-rebuild --quiet >"$dest.log" 2>&1; then
        cat "$dest.log"; rm -f "$dest.log"
        echo "FAIL: meson install failed"; exit 1
fi
rm -f "$dest.log"

# What must be installed. data/ files that other work adds are expected once they exist.
expected=$(
        echo "$(under_prefix "$bindir")/baton"
        echo "$unitdir/baton.service"
        echo "$datadir/dbus-1/system.d/org.baton.Baton1.conf"
        echo "$datadir/dbus-1/system-services/org.baton.Baton1.service"
        # libvirt's QEMU hook, in libvirt's (not our) sysconfdir.
        echo "/etc/libvirt/hooks/qemu.d/baton"
        echo "$datadir/polkit-1/actions/org.baton.policy"
        echo "$datadir/doc/baton/baton.conf.example"
        echo "$(under_prefix "$mandir")/man1/baton.1"
        echo "$(under_prefix "$mandir")/man5/baton.conf.5"
        echo "$(under_prefix "$mandir")/man5/org.baton.Baton1.5"
        echo "$completionsdir/baton"
        for f in "$src"/data/*.rules; do [ -e "$f" ] && echo "$udevrulesdir/${f##*/}"; done
        for f in "$src"/data/*.desktop "$src"/data/*.desktop.in; do
                [ -e "$f" ] && echo "$datadir/applications/$(basename "$f" .in)"
        done
        for f in "$src"/data/baton*.service "$src"/data/baton*.service.in; do
                [ -e "$f" ] && [ "${f##*/}" != baton.service.in ] && echo "$unitdir/$(basename "$f" .in)"
        done
)
expected=$(echo "$expected" | sed 's|//*|/|g' | sort -u)
installed=$(cd "$dest" && find . ! -type d | sed 's|^\.||' | sort)

if [ "$expected" = "$installed" ]; then
        echo "ok: installed exactly:"; echo "$expected" | sed 's/^/    /'
else
        fail "installed files differ from the list (- expected, + installed):"
        diff -u "$(printf '%s\n' "$expected" >"$dest/.expected"; echo "$dest/.expected")" \
                "$(printf '%s\n' "$installed" >"$dest/.installed"; echo "$dest/.installed")" | tail -n +3
fi

# /etc/baton/baton.conf is the administrator's: an install or upgrade never writes it.
# With --sysconfdir=/etc (a distribution's build) libvirt's hook is the one file there.
if [ -e "$dest$sysconfdir" ]; then
        extra=$(cd "$dest$sysconfdir" && find . ! -type d | sed "s|^\.|$sysconfdir|" | grep -vx /etc/libvirt/hooks/qemu.d/baton)
        [ -n "$extra" ] && fail "something was installed into $sysconfdir: $extra"
fi
cmp -s "$src/data/baton.conf" "$dest$datadir/doc/baton/baton.conf.example" ||
        fail "baton.conf.example is not data/baton.conf"

unit=$dest$unitdir/baton.service
want="ExecStart=$(under_prefix "$bindir")/baton daemon"
grep -qxF "$want" "$unit" || fail "baton.service does not say '$want': $(grep ExecStart "$unit")"
grep -q '@' "$unit" && fail "baton.service has an unsubstituted @variable@"
# Row 19 of issue 19: a crashed daemon comes back.
grep -qx 'Restart=on-failure' "$unit" || fail "baton.service has no Restart=on-failure"

"$dest$(under_prefix "$bindir")/baton" --version | grep -q '^baton ' || fail "the installed baton does not run"

for page in man1/baton.1 man5/baton.conf.5 man5/org.baton.Baton1.5; do
        head -n 20 "$dest$(under_prefix "$mandir")/$page" | grep -q '^\.TH ' || fail "$page has no .TH header"
done
grep -q 'doctor' "$dest$(under_prefix "$mandir")/man1/baton.1" || fail "baton(1) does not document doctor"

# The completion loads and completes.
got=$(bash -c '. "$1"; complete -p baton >/dev/null || exit 1
        COMP_WORDS=(baton do); COMP_CWORD=1; _baton; echo "${COMPREPLY[*]}"
        COMP_WORDS=(baton --deadline ho); COMP_CWORD=2; _baton; echo "${COMPREPLY[*]}"
        COMP_WORDS=(baton --root / input t); COMP_CWORD=4; _baton; echo "${COMPREPLY[*]}"' _ "$dest$completionsdir/baton")
[ "$got" = "$(printf 'doctor\nholders=\ntoggle')" ] || fail "bash completion: got '$got'"

[ "$failed" -eq 0 ] || { echo "$failed check(s) failed"; exit 1; }
echo "ok: install checks passed"
