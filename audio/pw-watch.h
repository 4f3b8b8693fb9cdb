/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "macro.h"
#include "user.h"

/* PipeWire's devices, as a user's PipeWire daemon lists them, kept up to date on an sd-event
 * loop: libpipewire's own loop fd is a source of that loop (the daemon runs one loop for
 * everything, input routing included, so nothing here may block or run a loop of its own). Every
 * Device global is bound for its full properties (the registry's global properties leave
 * out api.alsa.card and the paths). Never blocks, never logs. */

typedef struct PwWatch PwWatch;

/* Called from the loop once the first listing is complete (every device's properties in),
 * and again after every change. r is 0, or a negative errno when the connection failed or
 * was lost (-EPIPE); then no more calls follow. The callback may free w. */
typedef void (*pw_watch_changed_t)(PwWatch *w, int r, void *userdata);

/* Connects to $runtime_dir/pipewire-0 of user u, as u. -ENOENT (or another connect error)
 * when the user runs no PipeWire. */
int pw_watch_new(sd_event *e, const UserIdentity *u, pw_watch_changed_t changed, void *userdata,
                 PwWatch **ret);
PwWatch *pw_watch_free(PwWatch *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(PwWatch *, pw_watch_free);

/* Whether PipeWire has a device for the sound card of function pci_address (index: its
 * ALSA card number, -1 for any), by audio_device_matches(). *ret_name (if given) is the
 * device's device.name, owned by w. */
bool pw_watch_has_card(PwWatch *w, const char *pci_address, int index, const char **ret_name);
