/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include <systemd/sd-bus.h>

#include "macro.h"

/* The desktop's user, as the audio and session stages reach them: their session bus (where
 * their systemd manager, PipeWire's device reservations and GNOME's session manager live)
 * and their runtime directory. baton runs as root; the user's bus accepts only its owner,
 * so connections are made with the user's effective uid and gid (the bus reads the peer's
 * credentials once, at connect time) and root's identity is restored at once. */

typedef struct UserIdentity {
        uid_t uid;
        gid_t gid;
        char *name;
        char *home;
        char *runtime_dir;      /* /run/user/UID */
} UserIdentity;

void user_identity_done(UserIdentity *u);
/* From the password database: -ESRCH when there is no such user. */
int user_identity_from_name(const char *name, UserIdentity *ret);
int user_identity_from_uid(uid_t uid, UserIdentity *ret);

/* The user of the active session on seat0: -ENXIO when the seat has no active session, its
 * user is root, or logind does not run. */
int user_seat0_uid(uid_t *ret);

/* The user of the active desktop session on seat0: a session of class "user" (a display
 * manager's greeter runs a session of its own, class "greeter"). -ENXIO when there is none,
 * its user is root, or logind does not run. */
int user_seat0_desktop_uid(uid_t *ret);

/* Runs f(userdata) with the user's effective uid and gid, then restores root's. Does not
 * switch when this process already runs as the user, or is not root. */
int user_run_as(const UserIdentity *u, int (*f)(void *userdata), void *userdata);

/* A connection to the user's session bus, $runtime_dir/bus, started (Hello in flight);
 * not attached to any loop. -ENOENT when the user has no bus (nobody logged in). */
int user_bus_open(const UserIdentity *u, sd_bus **ret);
