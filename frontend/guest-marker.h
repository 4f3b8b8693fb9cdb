/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* The persistent guest-state marker: /var/lib/baton/guest-state.
 *
 * The journal lives in /run/baton (tmpfs): a power loss or a reboot from the guest
 * state wipes it. The marker is what survives: written (and fsync'd, with its
 * directory) when a handover completes, removed when a return or recover
 * completes. At boot, baton-recover.service runs `baton recover` only when it
 * exists (ConditionPathExists=), before the display manager starts; recover then
 * converges from observation (there is no journal after a reboot) and removes it.
 *
 * It also says who holds the GPU: its one line is the libvirt domain the handover
 * was for ("" when it was made without one, `baton handover`). The libvirt hook
 * reads it to refuse a second GPU domain while one holds the card, and to leave
 * the GPU alone when a domain that never got it is released; the daemon reads it
 * after a restart to follow that domain again. */

#define BATON_STATEDIR "/var/lib/baton"
#define GUEST_MARKER_NAME "guest-state"

/* Writes the marker for vm (NULL or "": none) atomically, unless one exists: the
 * first handover owns the GPU until it is returned. Returns 1 when written, 0 when
 * one was there, or a negative errno. */
int guest_marker_write(const char *dir, const char *vm);
/* Reads it: 0 and *ret_vm (a new string, "" for none), or -ENOENT when absent. */
int guest_marker_read(const char *dir, char **ret_vm);
/* Removes it; absent is fine. */
int guest_marker_remove(const char *dir);
