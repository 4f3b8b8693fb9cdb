/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "child.h"
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

/* Whether logind has the user logged out: no session of theirs left, not lingering (their
 * systemd manager, if still there, stops within logind's UserStopDelaySec). False when logind
 * cannot tell. */
bool user_logged_out(uid_t uid);

/* Drops this process to the user for good: the user's groups by the group database
 * (setgroups), then setresgid and setresuid; fails when root could be regained. */
int user_drop_privileges(const UserIdentity *u);

/* Runs f(userdata) with the user's effective uid and gid and their groups, then restores
 * root's: for a connect() whose peer reads the caller's credentials (PipeWire's). Does not
 * switch when this process already runs as the user, or is not root. Reading or writing the
 * user's files goes through user_run_child() instead. */
int user_run_as(const UserIdentity *u, int (*f)(void *userdata), void *userdata);

/* Runs f(out_fd, userdata) in a forked child that dropped to the user for good
 * (user_drop_privileges()), awaited on e (common/child.h: child_run_async()): the loop never
 * waits for it. A child still running after timeout_usec is killed and done() gets
 * -ETIMEDOUT; what f writes to out_fd (at most max_out bytes, else -EFBIG) reaches done().
 * f returns 0 or a negative errno below 256. */
int user_child_async(const UserIdentity *u, sd_event *e, uint64_t timeout_usec, int (*f)(int out_fd, void *userdata),
                     void *userdata, size_t max_out, child_run_done_t done, void *done_userdata, ChildRun **ret);

/* The same, waited for on a private loop (child_run()), for callers without a loop: blocks
 * up to timeout_usec. What f wrote comes back NUL-terminated in *ret_out (may be NULL). */
int user_run_child(const UserIdentity *u, uint64_t timeout_usec, int (*f)(int out_fd, void *userdata),
                   void *userdata, size_t max_out, char **ret_out, size_t *ret_size);

/* How long a connect() to the user's bus may take: a listener that never accepts is the
 * user's own socket. */
#define USER_CONNECT_TIMEOUT_USEC (5 * 1000000ULL)

/* A connection to the user's session bus, $runtime_dir/bus, started (Hello in flight);
 * not attached to any loop. Connected by a child that dropped to the user (so the bus reads
 * their credentials only). -ENOENT when the user has no bus (nobody logged in). */
int user_bus_open(const UserIdentity *u, sd_bus **ret);

/* The same, awaited on e: done() gets 0 and the connection (the caller's reference, not
 * attached to any loop), or a negative errno and NULL. The callback may free o. Returns 0, or
 * a negative errno when nothing could be started (done() is then not called). */
typedef struct UserBusOpen UserBusOpen;
typedef void (*user_bus_open_done_t)(UserBusOpen *o, int r, sd_bus *bus, void *userdata);
int user_bus_open_async(const UserIdentity *u, sd_event *e, user_bus_open_done_t done, void *userdata,
                        UserBusOpen **ret);
/* Stops waiting; done() is not called. NULL is fine. */
UserBusOpen *user_bus_open_free(UserBusOpen *o);
