/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include <systemd/sd-bus.h>

/* Authorization of a D-Bus method call: root is allowed; so is a member of
 * admin_gid (when not (gid_t) -1); anyone else is asked about through polkit's
 * CheckAuthorization, with user interaction when the call allows interactive
 * authorization (a polkit agent may then ask the person for a password, for at
 * most POLKIT_INTERACTIVE_TIMEOUT_USEC), without otherwise. done() gets 1 (authorized), 0
 * (denied) or a negative errno (polkit unreachable: callers deny).
 *
 * Returns 1 when authorized at once (done() is not called), 0 when the answer
 * comes later through done(), a negative errno on failure. */
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (5ULL * 60 * 1000000)

typedef void (*authorize_done_t)(sd_bus_message *call, int r, void *userdata);

int authorize_async(sd_bus_message *call, const char *action, gid_t admin_gid,
                    authorize_done_t done, void *userdata);
