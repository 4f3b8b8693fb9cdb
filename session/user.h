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

/* Drops this process to the user for good: the user's groups by the group database
 * (setgroups), then setresgid and setresuid; fails when root could be regained. */
int user_drop_privileges(const UserIdentity *u);

/* Runs f(userdata) with the user's effective uid and gid and their groups, then restores
 * root's: for a connect() whose peer reads the caller's credentials (PipeWire's). Does not
 * switch when this process already runs as the user, or is not root. Reading or writing the
 * user's files goes through user_run_child() instead. */
int user_run_as(const UserIdentity *u, int (*f)(void *userdata), void *userdata);

/* Runs f(out_fd, userdata) in a forked child that dropped to the user for good
 * (user_drop_privileges()), and waits for it up to timeout_usec in all: a child still running
 * then is killed and -ETIMEDOUT returned. What f writes to out_fd (at most max_out bytes, else
 * -EFBIG) comes back NUL-terminated in *ret_out (may be NULL). Returns f's result: 0 or a
 * negative errno (f returns errnos below 256). Blocks the caller up to timeout_usec. */
int user_run_child(const UserIdentity *u, uint64_t timeout_usec, int (*f)(int out_fd, void *userdata),
                   void *userdata, size_t max_out, char **ret_out, size_t *ret_size);

/* How long a connect() to the user's bus may take: a listener that never accepts is the
 * user's own socket. */
#define USER_CONNECT_TIMEOUT_USEC (5 * 1000000ULL)

/* A connection to the user's session bus, $runtime_dir/bus, started (Hello in flight);
 * not attached to any loop. Connected by a child that dropped to the user (so the bus reads
 * their credentials only). -ENOENT when the user has no bus (nobody logged in). */
int user_bus_open(const UserIdentity *u, sd_bus **ret);
