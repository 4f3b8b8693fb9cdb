/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>

#include "macro.h"
#include "user.h"

/* The user's desktop session as their session bus shows it: GNOME's session manager, the apps
 * their systemd manager runs in app scopes, and who inhibits a logout. And the one-shot
 * relaunch files in the user's home, written with the user's identity (never as root: the
 * directories are the user's, and root would follow their links).
 *
 * GNOME's session manager API (gnome-session's org.gnome.SessionManager.xml): Logout(u mode),
 * mode 0 asks, 1 logs out without confirmation, 2 forcefully, ignoring inhibitors;
 * IsInhibited(u flags) with flag 1 for logout; GetInhibitors() -> ao, each object with
 * org.gnome.SessionManager.Inhibitor.GetAppId/GetReason/GetFlags. */

#define GNOME_SESSION_NAME "org.gnome.SessionManager"
#define GNOME_SESSION_PATH "/org/gnome/SessionManager"
#define GNOME_SESSION_INTERFACE "org.gnome.SessionManager"
#define GNOME_INHIBITOR_INTERFACE "org.gnome.SessionManager.Inhibitor"
#define GNOME_INHIBIT_LOGOUT 1u

enum {
        GNOME_LOGOUT_NO_CONFIRMATION = 1,
        GNOME_LOGOUT_FORCE = 2,
};

/* The patterns of the app scopes whose apps are saved (session/apps.h). */
#define SESSION_SCOPE_PATTERNS \
        (char *) "app-gnome-*.scope", (char *) "app-flatpak-*.scope", (char *) "app-baton-*.scope"

typedef struct DesktopSession {
        bool present;           /* org.gnome.SessionManager has an owner on the bus */
        char **ids;             /* the apps to relaunch, each once, in the order found */
        char **execs;           /* their Exec lines without field codes, same order */
        char **scopes;          /* the running scopes of those apps */
        char **left_out;        /* running apps that are not relaunched (autostart, NoDisplay, ...) */
        char *inhibitors;       /* NULL, or who inhibits the logout and why */
        char *autostart_path;   /* where the one-shot autostart entry goes */
        char *script_path;      /* and the script it runs */
} DesktopSession;

void desktop_session_done(DesktopSession *d);

/* Bounds on what a user's session may make root handle: the app scopes looked at, the
 * inhibitors asked about, and the size of the whole answer. */
#define SESSION_SCOPES_MAX 4096u
#define SESSION_INHIBITORS_MAX 64u
#define SESSION_ANSWER_MAX (8u * 1024 * 1024)
/* How long writing or looking at the relaunch files as the user may take. */
#define SESSION_FILES_TIMEOUT_USEC (10 * 1000000ULL)

/* Reads it all from the user's session bus and the user's .desktop files, in a child that
 * dropped to the user for good (user_run_child()), within timeout_usec in all: the child is
 * killed then (-ETIMEDOUT). Blocks the caller up to timeout_usec. When GNOME's session manager
 * is not on the bus, only present (false) is filled. -ENOENT or -ECONNREFUSED (without a
 * message) when the user has no session bus. On failure *ret_message (if given) names what
 * failed. */
int desktop_session_read(const UserIdentity *u, uint64_t timeout_usec, DesktopSession *ret, char **ret_message);

/* The same, awaited on e (the loop never waits), within timeout_usec: what is left of a
 * deadline of deadline_usec, which the message of a timeout names. done() gets 0 and the
 * session (which it may take from, TAKE_STRUCT), or a negative errno, NULL and the message
 * naming what failed (NULL when the user has no session bus: -ENOENT or -ECONNREFUSED). The
 * callback may free dr. */
typedef struct DesktopRead DesktopRead;
typedef void (*desktop_read_done_t)(DesktopRead *dr, int r, DesktopSession *d, const char *message,
                                    void *userdata);
int desktop_session_read_async(const UserIdentity *u, sd_event *e, uint64_t timeout_usec, uint64_t deadline_usec,
                               desktop_read_done_t done, void *userdata, DesktopRead **ret);
/* Stops waiting (the child is killed); done() is not called. NULL is fine. */
DesktopRead *desktop_read_free(DesktopRead *dr);

/* Whether GNOME's session manager is on the bus (a blocking call). */
int desktop_session_present(sd_bus *bus, bool *ret);

/* What desktop_session_relaunch_async() did: the one byte of its child's output. */
typedef enum DesktopRelaunchOutcome {
        DESKTOP_RELAUNCH_WRITTEN = 'W',         /* written, and there when looked at again */
        DESKTOP_RELAUNCH_MISSING = 'M',         /* written, but not there when looked at again */
        DESKTOP_RELAUNCH_IN_PLACE = 'P',        /* ensure: the autostart entry was there already */
        DESKTOP_RELAUNCH_SESSION_RUNS = 'R',    /* ensure: the user's GNOME session runs */
} DesktopRelaunchOutcome;

/* Writes text to path aside (path.XXXXXX) and renames it into place, creating the parent
 * directories (0755); a symlink at path is replaced, never followed. Only in a process that runs
 * as the user (user_run_child()). */
int desktop_write_file(const char *path, const char *text, mode_t mode);

/* Writes the relaunch script for ids/execs and the autostart entry that runs it, as the user,
 * creating their directories (each file written aside and renamed into place), in a child
 * awaited on e within SESSION_FILES_TIMEOUT_USEC. With ensure, only when the entry is missing
 * and the user's GNOME session does not run. done() gets the outcome as its output. */
int desktop_session_relaunch_async(const UserIdentity *u, sd_event *e, bool ensure, const char *script_path,
                                   const char *autostart_path, char * const *ids, char * const *execs,
                                   child_run_done_t done, void *userdata, ChildRun **ret);
