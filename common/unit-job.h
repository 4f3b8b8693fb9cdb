/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "macro.h"

/* systemd units over D-Bus, for the stages that stop and start them: the display manager
 * here, the audio and session stages with user units on the user's bus the same way.
 *
 * Both pieces take the bus they talk on (system or user bus; a test's private bus), which
 * must be attached to an sd-event loop. They never block and never log: a failure comes
 * back as a negative errno plus one message naming the unit (and the job), for the caller
 * to log once, where it decides what the failure means. */

/* What systemd says about a unit. */
typedef struct UnitInfo {
        char *id;               /* the unit's own name: display-manager.service -> gdm.service */
        char *load_state;       /* "loaded", "not-found", "masked", ... */
        char *active_state;     /* "active", "inactive", "failed", "activating", ... */
        char *unit_file_state;  /* "enabled", "disabled", "static", "alias", ...; "" for a
                                 * unit without a unit file; NULL when not asked: the query
                                 * asks only for a unit that is down (unit_query_new()) */
        uint32_t job_id;        /* the job queued for the unit (a start job at boot), 0: none */
        uint64_t timeout_stop_usec;     /* a service's TimeoutStopUSec; 0: not read (unit_stop_timeout()) */
} UnitInfo;

void unit_info_done(UnitInfo *i);

/* Reads a service's TimeoutStopUSec into i->timeout_stop_usec (a blocking call, up to
 * timeout_usec): how long systemd lets its stop job run before it kills. 0 on success,
 * negative errno (then i is unchanged). */
int unit_stop_timeout(sd_bus *bus, uint64_t timeout_usec, UnitInfo *i);
/* Running, or about to be: active, reloading, activating, refreshing. */
bool unit_active_state_is_up(const char *state);
/* Not running: inactive or failed. Anything else is on its way somewhere. */
bool unit_active_state_is_down(const char *state);
/* False only for a unit systemd knows nothing about: no unit file and nothing running
 * (a unit whose file was removed while it runs still exists). */
bool unit_info_exists(const UnitInfo *i);

/* --- Looking a unit up: ListUnitsByNames gives its Id, LoadState, ActiveState and Job; for
 * a unit that is down, a Get of its UnitFileState follows --- */

typedef struct UnitQuery UnitQuery;

/* Called once, from the loop. On success r is 0, info filled and message NULL; the
 * callback may move info's strings out (TAKE_PTR), the rest is freed after it returns.
 * On failure r is a negative errno, info NULL and message says what failed. The callback
 * may free q. */
typedef void (*unit_query_done_t)(UnitQuery *q, int r, UnitInfo *info, const char *message,
                                  void *userdata);

/* Starts the lookup of unit (any of its names). Each of the two calls may take up to
 * timeout_usec. Returns 0, or a negative errno when nothing could be sent. */
int unit_query_new(sd_bus *bus, const char *unit, uint64_t timeout_usec,
                   unit_query_done_t done, void *userdata, UnitQuery **ret);
/* Drops the pending call; done() is not called. NULL is fine. */
UnitQuery *unit_query_free(UnitQuery *q);
DEFINE_TRIVIAL_CLEANUP_FUNC(UnitQuery *, unit_query_free);

/* The same, waited for: blocks on a private loop for up to twice timeout_usec. For callers
 * without a loop (a stage's observe()). bus must not be attached to a loop. On failure,
 * *ret_message (if given) says what failed. */
int unit_info_get(sd_bus *bus, const char *unit, uint64_t timeout_usec, UnitInfo *ret,
                  char **ret_message);

/* --- A job: StopUnit/StartUnit/... in "replace" mode, waited for through JobRemoved --- */

typedef struct UnitJob UnitJob;

/* Called once, from the loop: r is 0 when the job's result was "done". Otherwise r is a
 * negative errno (-ETIMEDOUT when the deadline passed, -ECONNRESET when the bus went away)
 * and message names the unit, the job and what happened to it, e.g.
 * "Failed to stop gdm.service: job result 'failed'". The callback may free j. */
typedef void (*unit_job_done_t)(UnitJob *j, int r, const char *message, void *userdata);

/* Subscribes to the manager's signals, installs the JobRemoved match, then calls method
 * ("StopUnit", "StartUnit", "RestartUnit", "ReloadUnit", "TryRestartUnit") on unit, and
 * waits for the job's JobRemoved; all of it within timeout_usec, measured on e from now.
 * A job that outlives the deadline is left to systemd: a later StartUnit/StopUnit in
 * "replace" mode replaces it. The subscription ends with the job (Unsubscribe), unless the
 * connection was subscribed before it (AlreadySubscribed). Returns 0, or a negative errno
 * (-EINVAL for an unknown method) when the wait could not be set up; done() is then not
 * called. */
int unit_job_run(sd_bus *bus, sd_event *e, const char *method, const char *unit,
                 uint64_t timeout_usec, unit_job_done_t done, void *userdata, UnitJob **ret);
/* Stops waiting; done() is not called. The job itself carries on in systemd. NULL is fine. */
UnitJob *unit_job_free(UnitJob *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(UnitJob *, unit_job_free);

/* "stop" for "StopUnit", ...; NULL for a method unit_job_run() does not know. */
const char *unit_job_verb(const char *method);
