/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include <systemd/sd-bus.h>

/* Authorization of a D-Bus method call: root is allowed; so is a member of
 * admin_gid (when not (gid_t) -1) by the group database, for the uid the bus vouches
 * for (never the caller's current egid or groups, which /proc shows); anyone else is
 * asked about through polkit's CheckAuthorization, with user interaction when the call
 * allows interactive authorization (a polkit agent may then ask the person for a
 * password, for at most POLKIT_INTERACTIVE_TIMEOUT_USEC), without otherwise. done()
 * gets 1 (authorized), 0
 * (denied) or a negative errno (polkit unreachable: callers deny).
 *
 * Returns 1 when authorized at once (done() is not called), 0 when the answer
 * comes later through done(), a negative errno on failure. */
#define POLKIT_INTERACTIVE_TIMEOUT_USEC (5ULL * 60 * 1000000)

typedef void (*authorize_done_t)(sd_bus_message *call, int r, void *userdata);

int authorize_async(sd_bus_message *call, const char *action, gid_t admin_gid,
                    authorize_done_t done, void *userdata);

/* 1 when uid's primary group is admin_gid or the group database lists uid in it, 0 when
 * not (also when admin_gid is (gid_t) -1 or uid has no passwd entry), negative errno. */
int uid_in_admin_group(uid_t uid, gid_t admin_gid);

/* 1 when the caller is root or a member of admin_gid (as above, without polkit), 0 when not,
 * negative errno. */
int caller_is_admin(sd_bus_message *call, gid_t admin_gid);
