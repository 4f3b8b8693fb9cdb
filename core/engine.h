/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "machine.h"
#include "macro.h"

/* The transition engine: runs the stages of stage_table[] on one sd-event loop,
 * towards the guest (handover) or back (return, recover, rollback), with the
 * journal written and fsync'd before every change. */

typedef struct Engine Engine;

typedef enum EngineOp {
        ENGINE_HANDOVER,
        ENGINE_RETURN,          /* undo a recorded handover; a no-op in host state */
        ENGINE_RECOVER,         /* converge to host state from the journal, or from
                                 * observation alone when there is none */
        _ENGINE_OP_MAX,
} EngineOp;

/* Where a transition is: one state instead of running/to_guest/rolling_back/cancel flags. */
typedef enum EngineState {
        ENGINE_IDLE,            /* nothing runs */
        ENGINE_OBSERVING,       /* a return or recover reading the machine in a worker first
                                 * (sysfs blocks while a driver unbind is in the kernel) */
        ENGINE_PREFLIGHT,       /* a handover before anything changes: its pre-flights waiting
                                 * for their walk of /proc, or for a holder one named (stage.h,
                                 * PreflightMode) */
        ENGINE_TO_GUEST,        /* a handover: to_guest() of each stage, in order */
        ENGINE_CANCELLING,      /* a handover asked to stop at the next stage boundary */
        ENGINE_ROLLING_BACK,    /* a failed or cancelled handover undone: to_host(), newest first */
        ENGINE_TO_HOST,         /* a return or recover: to_host() of the recorded (or every) stage */
        _ENGINE_STATE_MAX,
        _ENGINE_STATE_INVALID = -EINVAL,
} EngineState;

typedef enum DeadlineKind {
        DEADLINE_HOLDERS,       /* processes releasing the GPU's nodes */
        DEADLINE_UNBIND,        /* a driver unbind */
        DEADLINE_PROBE,         /* drivers_probe binding a driver */
        DEADLINE_MODULE,        /* module load/unload */
        DEADLINE_UNIT,          /* a systemd job (display manager stop/start) */
        DEADLINE_TUNING,        /* host tuning: a systemd property set, hugepages reserved */
        DEADLINE_STAGE,         /* one of the user's own stages (stages.d) */
        _DEADLINE_MAX,
        _DEADLINE_INVALID = -EINVAL,
} DeadlineKind;

typedef struct Config Config;
typedef struct Stage Stage;

typedef struct EngineOptions {
        const char *root;                       /* "/" outside tests */
        const char *rundir;                     /* where the journal lives */
        const Config *config;                   /* in force, copied; NULL: the defaults */
        const Stage *const *stages;             /* NULL: stage_table[] in [stages] after's order; tests */
} EngineOptions;

/* One stage's part of a transition, for the timeline. */
typedef struct StageTiming {
        const char *stage;
        bool to_guest;          /* false: to_host (return, rollback, recover) */
        bool skipped;           /* nothing to do on this machine */
        int result;
        uint64_t usec;
        char *reason;           /* the stage's first error message, when it failed */
        char *warning;          /* its first warning, when it succeeded with one: what it could
                                 * not bring back, e.g. a console the kernel removed */
} StageTiming;

typedef void (*engine_done_t)(Engine *e, int r, void *userdata);

/* Progress of a running transition: a stage starts (finished false) or ends
 * (finished true, with its result and duration). */
typedef void (*engine_progress_t)(Engine *e, const char *stage, bool to_guest, bool finished,
                                  int result, uint64_t usec, void *userdata);
void engine_set_progress(Engine *e, engine_progress_t progress, void *userdata);

int engine_new(sd_event *event, const EngineOptions *o, Engine **ret);
/* A new configuration in force (a reload; NULL: the defaults), copied but for its input
 * devices: the stages' context, the deadlines (0 entries keep the built-in default), the
 * place of the user's stages. A transition already recorded returns in the journal's order. */
void engine_set_config(Engine *e, const Config *c);
/* The guest the next handover is for, BATON_VM of the user's stages (NULL: none). */
int engine_set_vm(Engine *e, const char *vm);
/* A connection to the system bus, attached to the engine's loop, on which a handover asks
 * systemd about the first stage's unit that has one (Stage.observed_unit) from the request
 * on, and the steps make their calls (step_system_bus()). NULL: none, each such stage is
 * observed in its worker, and each step connects on its own. Referenced. */
void engine_set_system_bus(Engine *e, sd_bus *bus);
Engine *engine_free(Engine *e);
DEFINE_TRIVIAL_CLEANUP_FUNC(Engine *, engine_free);

/* Start a transition. Returns 1 when it started: done() is then called on the
 * loop with 0 or a negative errno once it ended (after any rollback). Returns 0
 * when there is nothing to do (handover in guest state, return in host state;
 * done() is not called). Errors, with nothing changed: -EBUSY while one runs;
 * -ENODEV without a display-class GPU; -ESTALE for a handover when an
 * interrupted transition is recorded (recover first). A handover's pre-flights run once
 * its walk of /proc is done, on the loop: their refusal, with nothing changed, reaches
 * done(), and engine_refusal() says it. */
int engine_start(Engine *e, EngineOp op, engine_done_t done, void *userdata);

/* Ask a running handover to stop at the next step boundary and roll back (a
 * return requested during the handover). Returns 1 when it will, 0 when there
 * is nothing to cancel (no handover running, or already rolling back). */
int engine_cancel(Engine *e);
bool engine_running(const Engine *e);         /* engine_state() is not ENGINE_IDLE */
EngineState engine_state(const Engine *e);
const char *engine_state_to_string(EngineState s);
EngineState engine_state_from_string(const char *s);
EngineOp engine_op(const Engine *e);
/* The stage running now, or NULL. */
const char *engine_current_stage(const Engine *e);

/* The last transition's timeline as text, one stage a line, for the CLI and
 * the D-Bus replies; result is the transition's. Empty when nothing ran. */
int engine_format_timeline(const Engine *e, int result, char **ret);
const char *engine_op_to_string(EngineOp op);

/* What the last transition did, stage by stage, in the order they ran. */
const StageTiming *engine_timeline(const Engine *e, size_t *ret_n);
/* The error a pre-flight refused the last handover with, before anything changed (after a
 * wait, this is the only place that says why); NULL when none refused. */
const char *engine_refusal(const Engine *e);
/* True when the last handover failed and its rollback did not restore
 * everything: the journal stays and `baton recover` is the way out. */
bool engine_rollback_incomplete(const Engine *e);
/* The GPU the last transition was about (PCI address), or NULL. */
const char *engine_gpu(const Engine *e);
/* From engine_start() to the first stage's action of the last transition (its
 * observation and planning); 0 when no stage acted. */
uint64_t engine_prepare_usec(const Engine *e);

/* The last transition's journal, kept after the file went away: whether stage committed a
 * record (it may have acted), and a value it recorded (NULL when none). Empty for a recover
 * from observation alone. */
bool engine_stage_acted(const Engine *e, const char *stage);
const char *engine_record_get(const Engine *e, const char *stage, const char *key);
/* How long the last transition took, from engine_start() to done() (0 while it runs). */
uint64_t engine_duration_usec(const Engine *e);
/* A return's or recover's: from the end of the handover it undid (the journal's last write)
 * to its own start; 0 when unknown (no journal of a completed handover). */
uint64_t engine_guest_usec(const Engine *e);

/* The names of [deadlines] and --deadline: NULL for no such kind; -EINVAL for no such name. */
const char *deadline_kind_to_string(DeadlineKind k);
DeadlineKind deadline_kind_from_string(const char *s);
uint64_t deadline_default_usec(DeadlineKind k);
