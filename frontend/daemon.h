/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <sys/types.h>

#include "engine.h"

/* The daemon's state, its D-Bus property State (bus-api.h) by daemon_state_to_string(). */
typedef enum DaemonState {
        DAEMON_HOST,                    /* no transition recorded */
        DAEMON_GUEST,                   /* a handover is recorded as complete */
        DAEMON_HANDING_OVER,
        DAEMON_RETURNING,               /* a return, or a handover cancelled for one */
        DAEMON_RECOVERING,
        DAEMON_INTERRUPTED,             /* a transition is recorded half done: Recover */
        _DAEMON_STATE_MAX,
        _DAEMON_STATE_INVALID = -EINVAL,
} DaemonState;

const char *daemon_state_to_string(DaemonState s);
DaemonState daemon_state_from_string(const char *s);

typedef struct DaemonOptions {
        const char *root;
        const char *rundir;
        const char *config_dir;         /* baton.conf and baton.conf.d/, reloaded on SIGHUP */
        uint64_t deadline_usec[_DEADLINE_MAX];  /* command-line overrides of the config; 0: none */
        uint64_t domain_start_deadline_usec;    /* libvirt-events.h; 0: its default */
} DaemonOptions;

/* Runs the daemon until SIGTERM/SIGINT (after the transition in flight, if
 * any). Returns 0 or a negative errno (already logged). */
int daemon_run(const DaemonOptions *o);

/* The text of a failed Handover, Return or Recover reply: "WHAT failed: REASON" and the
 * timeline report below. reason is what the failed stage (or the engine's refusal) said; the
 * errno's string stands in only without one (row 19 of issue 19: "handover failed: No such
 * device or address" told virsh nothing). */
int daemon_error_text(int r, const char *reason, const char *report, const char *what, char **ret);
