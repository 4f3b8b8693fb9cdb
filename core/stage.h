/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>

#include <systemd/sd-event.h>

#include "config-file.h"
#include "engine.h"
#include "log.h"
#include "machine.h"
#include "unit-job.h"

/* A stage moves one thing between its host position and its guest position
 * (the transition engine: core/engine.h). The engine runs the stages of
 * stage_table[] (in the order of stage_order()) towards the guest, and backwards
 * towards the host.
 *
 * A Stage is the class (a table of methods, like systemd's UnitVTable or a wlroots impl
 * struct); a StageInstance is one object of it, made by stage_instance_new() and owned by
 * whoever runs the stages (the engine; plan and doctor for a look). Every method gets its
 * instance and a StageContext: what was configured, the deadlines in force, the root, and
 * where its errors go. A stage reads no global configuration and keeps no state outside
 * its instance (a stage with state embeds StageInstance first and sets instance_size).
 *
 * The contract of every stage:
 *
 * - observe() is read-only. It tells where the thing is now and, for `baton
 *   plan`, what to_guest() would do on this machine and why (one line each).
 *   It may wait (on systemd, on the user's session bus), within the "unit"
 *   deadline: the engine runs it in a worker process, off its loop, and awaits
 *   the answer on the loop (core/engine.c, stage_observe()). That worker may
 *   observe the stages before it too, when they had nothing to do, and, for the
 *   first stage of a handover, while the pre-flights run: observe() must not
 *   count on running in a process of its own, nor after any pre-flight. A stage
 *   whose observe() cannot wait says so (observe_on_loop): the engine then
 *   observes it on its loop, unless a worker already took it on.
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
 *   unit, pid and comm of a holder; logged with step_error_errno(), it is kept
 *   with the step as its reason for the timeline), or STEP_PENDING when they have set up
 *   event sources on step_event() and will call step_finish() later. Every
 *   wait has a deadline. Nothing sleeps, and nothing waits on the loop: a D-Bus
 *   call is sd_bus_call_async(), a child (user_child_async(), child_run_async())
 *   is awaited through its pidfd and pipe.
 */

#define STEP_PENDING 1

typedef struct Step Step;
typedef struct Stage Stage;

/* What every method of a stage is given: the engine's for a transition (a step's has a
 * sink of its own), or one made with stage_context_init() for a look. */
typedef struct StageContext {
        const Config *config;           /* the configuration in force (core/config-file.h) */
        uint64_t deadline_usec[_DEADLINE_MAX]; /* the deadlines in force, never 0 */
        const char *root;               /* sysfs and /proc are below it: "/" outside tests */
        const char *vm;                 /* the guest a handover is for (BATON_VM), or NULL */
        LogSink *sink;                  /* keeps the first error and warning; NULL: log only */
        bool first_line_only;           /* observe()'s caller keeps the position and the plan's first
                                         * line only (the engine's skip decision): what only later
                                         * lines say need not be asked */
} StageContext;

/* A context for a look without a transition (plan, doctor, tests): c's deadlines, the
 * built-in default where c has 0, no VM, no sink. c must outlive ctx. */
void stage_context_init(StageContext *ctx, const Config *c, const char *root);

/* One object of a stage's class. A stage with state of its own embeds this first. */
typedef struct StageInstance {
        const Stage *stage;
} StageInstance;

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

struct Stage {
        const char *name;       /* kebab-case, also the journal key */
        const char *summary;    /* one line for plan and status */
        /* The size of the stage's instance type, which starts with a StageInstance; 0 for a
         * stage without state. done() releases what the instance holds (optional). */
        size_t instance_size;
        void (*done)(StageInstance *self);

        /* ret_plan: strv of human lines (may be empty), owned by the caller. */
        int (*observe)(StageInstance *self, const StageContext *ctx, const Machine *m, StagePosition *ret_pos,
                       char ***ret_plan);
        /* Optional, beside observe(), for a stage whose observation is what systemd says of
         * one unit: that unit's name (NULL: none this time), and the judgement from systemd's
         * answer, or from error, a negative errno, when there was none. The engine asks
         * for the unit on the front end's connection to the system bus (the daemon's, or
         * the one the CLI looked for the daemon on) when a handover is requested; while no
         * stage has acted, the answer is the stage's observation, judged on the loop with
         * first_line_only: no worker and no bus connection of its own
         * (engine_set_system_bus(); issue 17). judge_unit() must not block. */
        const char *(*observed_unit)(StageInstance *self, const StageContext *ctx);
        int (*judge_unit)(StageInstance *self, const StageContext *ctx, int error, const UnitInfo *info,
                          StagePosition *ret_pos, char ***ret_plan);
        /* step_instance() and step_context() give the instance and context. */
        int (*to_guest)(Step *s);
        int (*to_host)(Step *s);
        /* Optional: called once when a walk towards the host (return, recover, rollback)
         * begins, before any stage's to_host runs; must not block. The audio stage lets
         * go of its device reservations here, before vfio gives the card back. */
        void (*before_host)(StageInstance *self, const StageContext *ctx);
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
        int (*preflight)(StageInstance *self, const StageContext *ctx, const Machine *m, PreflightMode mode);
        /* The stage's observe(), preflight() and to_guest() read the processes that hold
         * the GPU's nodes and their sessions (Machine.holders, .sessions): the engine walks
         * /proc for them. Not for its to_host(), whose Machine has neither, nor for any
         * other stage, since that walk is the dearest part of an observation and the
         * engine observes before each stage. */
        bool observes_holders;
        /* The stage's observe() reads only the Machine it is given, the configuration and
         * files below the machine's root that only root writes (sysfs, /etc/baton): nothing
         * that can wait, no bus, no user's file. Towards the guest the engine then calls it on
         * its loop; any other observe() runs in a worker process the engine forks for it,
         * since it may wait on a bus (issue 17: that fork and the worker's start were most of
         * the time between two stages). */
        bool observe_on_loop;
};

/* NULL-terminated, in the built-in handover order (stages/stages.c). */
extern const Stage *const stage_table[];
#define STAGE_TABLE_MAX 16
const Stage *stage_find(const char *name);
/* The handover order in force, NULL-terminated, into ret[STAGE_TABLE_MAX]: stage_table[]
 * with the user-stages stage moved right after the built-in stage called after, or first
 * for "begin" ([stages] after of baton.conf; "" keeps it last). -EINVAL for an unknown
 * name (the stage is then last). */
int stage_order(const char *after, const Stage *ret[STAGE_TABLE_MAX]);

/* A new instance of st, zeroed but for its stage; NULL when out of memory. */
StageInstance *stage_instance_new(const Stage *st);
StageInstance *stage_instance_free(StageInstance *i);
DEFINE_TRIVIAL_CLEANUP_FUNC(StageInstance *, stage_instance_free);

/* observe() of st on an instance of its own, for a look without a transition (plan, doctor). */
int stage_observe_once(const Stage *st, const StageContext *ctx, const Machine *m, StagePosition *ret_pos,
                       char ***ret_plan);

/* Logging from a stage: like log_error_errno() and friends, and the first error (warning)
 * is kept in the context's sink, as the reason (warning) of the step in the timeline. */
#define stage_log_errno(ctx, level, error, ...) \
        log_sink_full_errno((ctx)->sink, (level), (error), __VA_ARGS__)
#define stage_error_errno(ctx, error, ...) stage_log_errno((ctx), LOG_ERR, (error), __VA_ARGS__)
#define stage_warning_errno(ctx, error, ...) stage_log_errno((ctx), LOG_WARNING, (error), __VA_ARGS__)
#define stage_error(ctx, ...) (void) stage_log_errno((ctx), LOG_ERR, 0, __VA_ARGS__)
#define stage_warning(ctx, ...) (void) stage_log_errno((ctx), LOG_WARNING, 0, __VA_ARGS__)
#define step_error_errno(s, error, ...) stage_error_errno(step_context(s), (error), __VA_ARGS__)
#define step_warning_errno(s, error, ...) stage_warning_errno(step_context(s), (error), __VA_ARGS__)
#define step_error(s, ...) stage_error(step_context(s), __VA_ARGS__)
#define step_warning(s, ...) stage_warning(step_context(s), __VA_ARGS__)

/* --- What the engine gives a running step (core/engine.c) --- */

/* The instance whose step this is, and the context it runs in. */
StageInstance *step_instance(Step *s);
const StageContext *step_context(Step *s);
const Config *step_config(Step *s);

/* The machine as observed right before this step ran. */
const Machine *step_machine(Step *s);
/* Observe again (after acting): replaces what step_machine() returns. */
int step_reobserve(Step *s, const Machine **ret);
/* The same with the holders (Machine.holders, .sessions), whose walk of /proc is awaited on
 * the loop (machine/holders.h, holders_scan_async()): reobserved() is called there, never from
 * within this call, with what step_machine() now returns, or with a negative errno and NULL
 * (step_machine() unchanged). Returns 0, or a negative errno when the read could not start.
 * One at a time; a step that ends first ends it (reobserved() is not called). */
typedef void (*step_reobserved_t)(Step *s, int r, const Machine *m, void *userdata);
int step_reobserve_async(Step *s, step_reobserved_t reobserved, void *userdata);
/* Hands the engine (taking it) a walk of /proc for the holders of step_machine()'s nodes
 * (machine_walk_holders()) made after this step's last action, right before it finishes
 * successfully: the next stage that reads the holders starts from it instead of walking
 * again, unless another step acts first (issue 17: audio's last look, then drm-idle). */
void step_offer_holders(Step *s, HolderScan *scan);
/* Why an observation failed with r, for a message: -ETIMEDOUT from a walk of /proc is a
 * process stuck in the kernel, which the walk has named already (machine/holders.h). */
const char *step_observe_error(int r);
/* The root sysfs and /proc are read from and written to: "/" outside tests. */
const char *step_root(Step *s);
/* Whether the step works on this machine (root "/"), not on a fixture tree. */
bool step_is_live(Step *s);
sd_event *step_event(Step *s);
/* A connection to the system bus on step_event(), a reference the step drops when it ends:
 * the front end's (engine_set_system_bus()) when there is one, so that a step costs no
 * connection of its own (issue 17), else a new one. Whatever the step starts on it (calls,
 * matches, a subscription) ends with the step. A negative errno, logged, when there is no bus. */
int step_system_bus(Step *s, sd_bus **ret);
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
