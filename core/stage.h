/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "engine.h"
#include "machine.h"

/* A stage moves one thing between its host position and its guest position
 * (the transition engine: core/engine.h). The engine runs the stages of
 * stage_table[] in order towards the guest and backwards towards the host.
 *
 * The contract of every stage:
 *
 * - observe() is read-only. It tells where the thing is now and, for `baton
 *   plan`, what to_guest() would do on this machine and why (one line each).
 *   It may wait (on systemd, on the user's session bus), within the "unit"
 *   deadline: the engine runs it in a worker process, off its loop, and awaits
 *   the answer on the loop (core/engine.c, stage_observe()).
 *
 * - to_guest() first records what it found (original drivers, bound consoles,
 *   loaded modules, ...) with step_record() and makes it durable with
 *   step_commit() BEFORE it changes anything. Then it acts, and then it
 *   re-observes: an action counts only when observation confirms it (the kernel
 *   reports success for writes it ignored). It calls step_crash_point() between
 *   actions that are separately observable, so the lab can kill baton there.
 *
 * - to_host() converges the thing back to the host position described by the
 *   stage's record, whether to_guest() finished, stopped halfway, or never ran
 *   its action at all: it must be idempotent. Without a record (`baton recover`
 *   with no journal, step_has_record() false) it infers the host position from
 *   observation alone, conservatively.
 *
 * - to_guest() and to_host() return 0 when done, a negative errno on failure
 *   (after logging, once, an error that names what failed: device, driver,
 *   unit, pid and comm of a holder), or STEP_PENDING when they have set up
 *   event sources on step_event() and will call step_finish() later. Every
 *   wait has a deadline. Nothing sleeps, and nothing waits on the loop: a D-Bus
 *   call is sd_bus_call_async(), a child (user_child_async(), child_run_async())
 *   is awaited through its pidfd and pipe.
 */

#define STEP_PENDING 1

typedef struct Step Step;

typedef enum StagePosition {
        STAGE_AT_HOST,
        STAGE_AT_GUEST,
        STAGE_MIXED,            /* partly moved: recover must run to_host */
        STAGE_NOTHING_TO_DO,    /* nothing of this kind on this machine (no efifb, no nvidia) */
} StagePosition;

/* How a pre-flight is asked (Stage.preflight). */
typedef enum PreflightMode {
        PREFLIGHT_MAY_WAIT,     /* first ask: may answer -EAGAIN, after saying what it waits for */
        PREFLIGHT_WAITING,      /* again, after a holder closed a node: -EAGAIN quietly */
        PREFLIGHT_LAST,         /* the "holders" deadline passed: go (0) or refuse, no more waiting */
} PreflightMode;

typedef struct Stage {
        const char *name;       /* kebab-case, also the journal key */
        const char *summary;    /* one line for plan and status */

        /* ret_plan: strv of human lines (may be empty), owned by the caller. */
        int (*observe)(const Machine *m, StagePosition *ret_pos, char ***ret_plan);
        int (*to_guest)(Step *s);
        int (*to_host)(Step *s);
        /* Optional: called once when a walk towards the host (return, recover, rollback)
         * begins, before any stage's to_host runs; must not block. The audio stage lets
         * go of its device reservations here, before vfio gives the card back. */
        void (*before_host)(void);
        /* Optional: called on the observed machine when a handover is asked for, before
         * the journal exists and before any stage acts. Returns a negative errno, after
         * logging why, when observation already predicts a refusal (no IOMMU group, a
         * foreign device in the GPU's IOMMU group, a module that cannot be unloaded, a
         * sound-card holder nobody can release): refusing then changes nothing, while
         * failing in to_guest() would undo what the stages before had done.
         * -EAGAIN (mode allowing) asks the engine to wait, before anything changes, for a
         * holder that may still let go by itself (a plain ALSA client): it observes again
         * after every close of a held node, and asks with PREFLIGHT_LAST once the "holders"
         * deadline has passed. */
        int (*preflight)(const Machine *m, PreflightMode mode);
        /* The stage reads the processes that hold the GPU's nodes and their sessions
         * (Machine.holders, .sessions): the engine walks /proc for it. For every other
         * stage it does not, since that walk is the dearest part of an observation
         * and the engine observes before each stage. */
        bool observes_holders;
} Stage;

/* NULL-terminated, in handover order (stages/stages.c). Only
 * stage_table_place_user_stages() changes it. */
extern const Stage *stage_table[];
const Stage *stage_find(const char *name);
/* Moves the user-stages stage right after the built-in stage called after, or first
 * for "begin" (config_set() does, from [stages] after). -EINVAL for an unknown name
 * (the stage is then last). */
int stage_table_place_user_stages(const char *after);

/* --- What the engine gives a running step (core/engine.c) --- */

/* The machine as observed right before this step ran. */
const Machine *step_machine(Step *s);
/* Observe again (after acting): replaces what step_machine() returns. */
int step_reobserve(Step *s, const Machine **ret);
/* The root sysfs and /proc are read from and written to: "/" outside tests. */
const char *step_root(Step *s);
sd_event *step_event(Step *s);
/* How long a wait of kind k may take, in microseconds: the deadline in force
 * (--deadline over [deadlines] over the default); never 0. */
uint64_t step_deadline_usec(Step *s, DeadlineKind k);

/* What is left of that deadline since the stage began (its observation included): for a
 * step whose waits share one deadline with the observation before it. At least 1. */
uint64_t step_time_left_usec(Step *s, DeadlineKind k);

/* Record a fact about the host position (key: [a-zA-Z0-9_.:-]+, value: any
 * string without a newline). Only before step_commit(). */
int step_record(Step *s, const char *key, const char *value);
int step_recordf(Step *s, const char *key, const char *format, ...) _printf_(3, 4);
/* Write the record to the journal and fsync it; from here on a crash means
 * recover runs this stage's to_host(). Calls a crash point after the write. */
int step_commit(Step *s);

/* The stage's record: what to_guest() found. In to_host() this comes from the
 * journal. NULL when the key was not recorded. */
const char *step_get(Step *s, const char *key);
bool step_has_record(Step *s);
/* The recorded keys that start with prefix, in recording order (strv, caller frees). */
char **step_keys(Step *s, const char *prefix);

/* A place where the lab may kill baton (BATON_TEST_CRASH_AT); label says where. */
void step_crash_point(Step *s, const char *label);

/* Finish a step that returned STEP_PENDING: r is 0 or a negative errno. */
void step_finish(Step *s, int r);
/* Per-step private data for asynchronous stages, freed with free_func when the
 * step ends. */
void step_set_userdata(Step *s, void *userdata, void (*free_func)(void *));
void *step_get_userdata(Step *s);

/* A write to a sysfs attribute that does not block (vtcon bind, driver_override,
 * new_id): path is absolute and taken below step_root(). */
int step_write(Step *s, const char *path, const char *value);

/* A sysfs write that may block in the kernel (driver unbind, drivers_probe):
 * done by a forked worker, so the loop stays responsive. done() is called on
 * the loop with 0, the write's negative errno, or -ETIMEDOUT once the deadline
 * passed (the worker is then left behind; the caller's error names what hung).
 * path is absolute and taken below step_root(). Returns 0 when the worker started. */
typedef void (*step_write_done_t)(Step *s, int r, void *userdata);
int step_write_async(Step *s, const char *path, const char *value, uint64_t timeout_usec,
                     step_write_done_t done, void *userdata);
