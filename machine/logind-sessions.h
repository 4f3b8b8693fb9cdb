/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* logind's sessions, read from the state files it keeps for sd-login
 * (/run/systemd/sessions/ID, one KEY=VALUE a line; sd_session_get_*() read the same
 * files). They matter to baton because of TakeDevice: under a display manager the
 * compositor does not open /dev/dri/cardN itself, systemd-logind opens it for the
 * session, makes the session's compositor DRM master while the session is active, passes
 * it a dup of the fd and parks one more in PID 1's fd store. /proc then shows PID 1 and
 * systemd-logind holding the card, and debugfs names systemd-logind as master (the DRM
 * file's owner is its opener). The devices logind holds for a session are listed in
 * its state file's DEVICES= ("226:0 13:64"), written while the session has a
 * controller (CONTROLLER=, the compositor's bus name); logind releases them when the
 * controller goes away or the session ends. */

typedef struct LogindSession {
        char *id;                       /* "2", "c1" */
        char *user;
        uid_t uid;
        char *class;                    /* "user", "greeter", ... ("?" when not said) */
        char *type;                     /* "wayland", "x11", "tty", ... ("?" when not said) */
        pid_t leader;                   /* 0 when not said */
        bool active;
        char *controller;               /* bus name of the compositor, NULL without one */
        char **devices;                 /* "MAJOR:MINOR" of each device logind holds for it */
} LogindSession;

/* Parses one state file's text; id is the file's name. -EBADMSG without UID=. */
int logind_session_parse(const char *id, const char *text, LogindSession *ret);
void logind_session_done(LogindSession *s);

/* Every session below root; none (not an error) when logind keeps no state there. */
int logind_sessions_read(const char *root, LogindSession **ret, size_t *ret_n);
void logind_sessions_free(LogindSession *s, size_t n);

/* The session logind holds device devnum ("226:0") for, NULL when none does. */
const LogindSession *logind_session_by_device(const LogindSession *s, size_t n, const char *devnum);

/* Whether the process is systemd-logind or PID 1 (whose fd store keeps logind's device
 * fds), from /proc/PID/cgroup below root: such a holder never exits, it lets go of a
 * device when the session does. */
bool logind_pid_keeps_session_devices(const char *root, pid_t pid);
