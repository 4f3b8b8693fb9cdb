/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "child.h"
#include "journal.h"
#include "transition-lock.h"
#include "log.h"
#include "parse-util.h"
#include "stage.h"
#include "strv.h"
#include "time-util.h"
#include "sysfs-util.h"

struct Step {
        Engine *engine;
        const Stage *stage;
        StageInstance *instance;
        StageContext context;           /* the engine's, with this step's sink */
        LogSink sink;                   /* its first error (the reason) and first warning */
        bool to_guest;
        Machine *machine;
        char **record;                  /* KEY=VALUE; from the journal in to_host */
        bool has_record;
        bool committed;
        void *userdata;
        void (*userdata_free)(void *);
        uint64_t start_usec;
        /* step_reobserve_async(): the walk of /proc for walked's holders, awaited on the loop. */
        HoldersWalk *walk;
        Machine *walked;
        step_reobserved_t reobserved;
        void *reobserved_userdata;
        /* step_offer_holders(): its last look at the holders, for the engine. */
        HolderScan offered;
        bool has_offered;
};

typedef struct Straggler {
        Engine *engine;
        pid_t pid;
        int pidfd;
        sd_event_source *io;
        char *what;             /* "0000:00:02.1 to /sys/.../unbind" */
} Straggler;

struct Engine {
        sd_event *event;
        char *root;
        char *rundir;
        char *vm;
        uint64_t deadline_usec[_DEADLINE_MAX];
        /* A copy of the configuration in force (engine_set_config()), but for its input
         * devices, which no stage reads. */
        Config config;
        /* What every method of a stage gets (with a sink of its own in a step). */
        StageContext context;
        /* The stages in the handover order in force, and their instances, made once: an
         * instance keeps its state from a handover to its return (audio's reservations). */
        const Stage *stages[STAGE_TABLE_MAX];
        StageInstance *instances[STAGE_TABLE_MAX];
        bool own_order;                 /* stages came from EngineOptions: [stages] after is not applied */

        EngineState state;
        EngineOp op;
        engine_done_t done;
        void *done_userdata;

        Journal *journal;
        char *gpu;
        TransitionLock lock;            /* held while running (transition-lock.h) */

        /* The stages of the current direction, in the order they run. */
        const Stage **order;
        size_t n_order, pos;
        int error;                      /* the first failure of this transition */
        bool rollback_incomplete;       /* of the last transition: the journal stays */

        engine_progress_t progress;
        void *progress_userdata;

        Step *step;
        sd_event_source *next;
        /* The observation of the last stage, when that stage was skipped: it changed
         * nothing, so the observation serves the next stage (engine_observe()). */
        Machine *unchanged;
        MachineFlags unchanged_flags;

        /* A handover asks systemd about the first stage with an observed unit on the front
         * end's connection (engine_set_system_bus()) from the request on; while no stage has
         * acted, the answer is that stage's observation (issue 17). */
        sd_bus *system_bus;
        UnitQuery *unit_query;
        const Stage *unit_stage;        /* the stage asked for; NULL: none */
        bool unit_answered;
        int unit_error;                 /* the answer's, or 0 */
        char *unit_message;             /* what failed, with unit_error */
        UnitInfo unit_info;
        Machine *unit_waiting;          /* the stage waits for the answer, on this machine */
        uint64_t unit_waiting_start;

        /* The stage being observed, off the loop, before its step (on_next()). */
        ChildRun *observing;
        const Stage *observed_stage;
        Machine *observed;
        uint64_t stage_start_usec;
        /* Its answer, when it came while the pre-flights still waited for their walk of /proc:
         * taken up once the handover begins (observed_release()). */
        bool observed_held;
        int observed_r;
        char *observed_text;

        /* A handover's pre-flights read the holders with a walk of /proc awaited on the loop
         * (holders_scan_async(), issue 17: the daemon's loop answers its bus meanwhile). It
         * is for walked: the early observation's machine (e->observed, which owns it) or the
         * engine's own. The pre-flights then run in walk_mode; a held node closed meanwhile
         * (walk_again) means looking again. */
        HoldersWalk *walk;
        Machine *walked;
        PreflightMode walk_mode;
        bool walk_again;
        uint64_t walk_start_usec;
        /* The holders as the last step to act found them after its last action
         * (step_offer_holders()), until another step acts. */
        HolderScan offered;
        bool has_offered;
        /* Or the walk is for the observation before walk_stage's step (engine_observe()): on a
         * new read of the machine (walk_fresh), or on a skipped stage's. */
        const Stage *walk_stage;
        uint64_t walk_stage_start;
        bool walk_fresh;

        /* A pre-flight that waits (Stage.preflight answered -EAGAIN): the "holders" deadline,
         * a watch on each held node (any close means observing again), and the deferred
         * look after a close (closes come in bursts). */
        sd_event_source *preflight_deadline, *preflight_again;
        LogSink preflight_sink;         /* what refused the start, for engine_refusal() */

        /* A return or recover reads the machine in a worker first (engine_start_observable()). */
        ChildRun *observable;
        sd_event_source *observable_notice;
        sd_event_source **preflight_watches;
        size_t n_preflight_watches;

        StageTiming *timeline;
        size_t n_timeline;
        /* How long from engine_start() (start_usec) until the first action: observation
         * and planning, what baton adds before the work starts. 0 until a step has run. */
        uint64_t prepare_usec;

        /* The last transition's journal, kept after the file went (engine_record_get()):
         * "STAGE" for each committed stage, then "STAGE KEY=VALUE" for its records. */
        char **kept;
        uint64_t start_usec, end_usec;          /* CLOCK_MONOTONIC */
        uint64_t start_realtime_usec;
        uint64_t handover_realtime_usec;        /* when the handover undone now completed; 0 unknown */

        /* Workers whose write outlasted its deadline, still blocked in the kernel:
         * the device they write to cannot even be read (sysfs holds its lock). */
        Straggler **stragglers;
        size_t n_stragglers;
        sd_event_source *straggler_deadline;

        unsigned crash_count, crash_at;
        const char *crash_at_name;      /* "STAGE: LABEL", from the environment */
        bool crash_list;
};

static const char *const engine_state_table[_ENGINE_STATE_MAX] = {
        [ENGINE_IDLE] = "idle",
        [ENGINE_OBSERVING] = "observing",
        [ENGINE_PREFLIGHT] = "pre-flight",
        [ENGINE_TO_GUEST] = "to-guest",
        [ENGINE_CANCELLING] = "cancelling",
        [ENGINE_ROLLING_BACK] = "rolling-back",
        [ENGINE_TO_HOST] = "to-host",
};

DEFINE_STRING_TABLE_LOOKUP(engine_state, EngineState);

/* Whether the stages run towards the guest (to_guest()) now. */
static bool engine_to_guest(const Engine *e) {
        return e->state == ENGINE_TO_GUEST || e->state == ENGINE_CANCELLING;
}

/* How much longer than the "unit" deadline a stage's observation may take, and how much it
 * may say (its position and first plan line). */
#define OBSERVE_GRACE_USEC (5 * 1000000ULL)
#define OBSERVE_MAX 16384u
#define OBSERVE_LINE_MAX 1000

static const char *const deadline_kind_table[_DEADLINE_MAX] = {
        [DEADLINE_HOLDERS] = "holders",
        [DEADLINE_UNBIND] = "unbind",
        [DEADLINE_PROBE] = "probe",
        [DEADLINE_MODULE] = "module",
        [DEADLINE_UNIT] = "unit",
        [DEADLINE_TUNING] = "tuning",
        [DEADLINE_STAGE] = "stage",
};

DEFINE_STRING_TABLE_LOOKUP(deadline_kind, DeadlineKind);

static const uint64_t deadline_defaults_sec[_DEADLINE_MAX] = {
        [DEADLINE_HOLDERS] = 10,
        [DEADLINE_UNBIND] = 10,
        [DEADLINE_PROBE] = 20,
        [DEADLINE_MODULE] = 10,
        [DEADLINE_UNIT] = 30,
        [DEADLINE_TUNING] = 30,
        [DEADLINE_STAGE] = 30,
};

uint64_t deadline_default_usec(DeadlineKind k) {
        return deadline_defaults_sec[k] * 1000000ULL;
}

/* --- Crash points: where the lab kills baton (BATON_TEST_CRASH_AT=N, or the point's
 * "STAGE: LABEL" as BATON_TEST_CRASH_LIST prints it: a desktop whose handover takes
 * minutes is not listed first to learn the number) --- */

static bool crash_point_named(const Engine *e, const char *stage, const char *label) {
        const char *rest;

        return e->crash_at_name && (rest = startswith(e->crash_at_name, stage)) &&
               (rest = startswith(rest, ": ")) && streq(rest, label);
}

static void engine_crash_point(Engine *e, const char *stage, const char *label) {
        e->crash_count++;
        if (e->crash_list)
                fprintf(stderr, "crash-point %u: %s: %s\n", e->crash_count, stage, label);
        if (e->crash_at == e->crash_count || crash_point_named(e, stage, label)) {
                fprintf(stderr, "baton: killed at crash point %u (%s: %s)\n", e->crash_count, stage, label);
                fflush(stderr);
                (void) raise(SIGKILL);
        }
}

/* --- Steps --- */

static Step *step_free(Step *s) {
        if (!s)
                return NULL;
        holders_walk_free(s->walk);
        machine_free(s->walked);
        if (s->userdata_free)
                s->userdata_free(s->userdata);
        log_sink_done(&s->sink);
        machine_free(s->machine);
        strv_free(s->record);
        holder_scan_done(&s->offered);
        free(s);
        return NULL;
}

void step_offer_holders(Step *s, HolderScan *scan) {
        holder_scan_done(&s->offered);
        s->offered = TAKE_STRUCT(*scan);
        s->has_offered = true;
}

/* A step is about to act, or the handover ended or turned back: what the last one offered is
 * stale. */
static void engine_offer_clear(Engine *e) {
        holder_scan_done(&e->offered);
        e->has_offered = false;
}

StageInstance *step_instance(Step *s) {
        return s->instance;
}

const StageContext *step_context(Step *s) {
        return &s->context;
}

const Config *step_config(Step *s) {
        return s->context.config;
}

const Machine *step_machine(Step *s) {
        return s->machine;
}

/* Whether the observation before st's step reads the holders: for the stages that use them,
 * unless the stages walk back to the host, since no to_host reads them (stage.h). Issue 17: a
 * return walked /proc for drm-idle and audio, whose to_host do not look. */
static bool stage_reads_holders(const Engine *e, const Stage *st) {
        return st->observes_holders && e->state != ENGINE_TO_HOST && e->state != ENGINE_ROLLING_BACK;
}

/* What the observation before a stage's step reads. Never MACHINE_DRM_LIBDRM: the GPU's DRM
 * nodes come from its sysfs directory, one directory read, not from libdrm's drmGetDevices2(),
 * which reads every DRM device's nodes and attributes: 6-12 ms of each machine read in the lab
 * (issue 17), and the engine reads the machine before every stage. Both name the same nodes
 * (machine/dev-nodes.h); status and doctor ask libdrm. */
static MachineFlags stage_machine_flags(const Engine *e, const Stage *st) {
        return stage_reads_holders(e, st) ? 0 : MACHINE_SKIP_HOLDERS;
}

static void on_stage_walked(HoldersWalk *hw, int r, HolderScan *scan, void *userdata);

/* The machine as the next step of st sees it: the observation a skipped stage left, when it
 * read what st reads, or with the holders added when st reads them too; or a new one. Returns
 * 0 with *ret, or 1 while the holders are read by a walk of /proc awaited on the loop: the
 * stage begins from on_stage_walked() (issue 17: the daemon's loop answers its bus meanwhile). */
static int engine_observe(Engine *e, const Stage *st, uint64_t start_usec, Machine **ret) {
        MachineFlags flags = stage_machine_flags(e, st);
        _cleanup_(machine_freep) Machine *m = TAKE_PTR(e->unchanged);
        uint64_t t = now_usec();
        int r;

        if (m && (!(e->unchanged_flags & MACHINE_SKIP_HOLDERS) || (flags & MACHINE_SKIP_HOLDERS))) {
                *ret = TAKE_PTR(m);
                return 0;
        }
        e->unchanged_flags = flags;
        if (flags & MACHINE_SKIP_HOLDERS)
                return machine_load(e->root, flags, ret);
        if (e->has_offered) {
                /* The last step to act looked at the holders after its last action: the walk
                 * would find what it found. */
                if (!m)
                        r = machine_load(e->root, MACHINE_SKIP_HOLDERS, &m);
                else
                        r = 0;
                if (r >= 0)
                        r = machine_add_holders(m, &e->offered);
                engine_offer_clear(e);
                if (r < 0)
                        return r;
                log_debug("Read the machine before stage %s in %.1f ms, the holders as the last stage to act found "
                          "them.", st->name, (now_usec() - t) / 1e3);
                *ret = TAKE_PTR(m);
                return 0;
        }
        /* Nothing acted since the skipped stage read the rest (issue 17): the walk of /proc
         * is all that st reads more. */
        e->walk_fresh = !m;
        if (!m) {
                r = machine_load(e->root, MACHINE_SKIP_HOLDERS, &m);
                if (r < 0)
                        return r;
        }
        r = machine_walk_holders(m, e->event, NULL, on_stage_walked, e, &e->walk);
        if (r < 0)
                return r;
        e->walked = TAKE_PTR(m);
        e->walk_stage = st;
        e->walk_stage_start = start_usec;
        e->walk_start_usec = t;
        return 1;
}

int step_reobserve(Step *s, const Machine **ret) {
        Machine *m;
        int r;

        r = machine_load(s->engine->root, stage_machine_flags(s->engine, s->stage), &m);
        if (r < 0)
                return r;
        machine_free(s->machine);
        s->machine = m;
        if (ret)
                *ret = m;
        return 0;
}

static void on_step_walked(HoldersWalk *hw, int r, HolderScan *scan, void *userdata) {
        Step *s = userdata;
        _cleanup_(machine_freep) Machine *m = TAKE_PTR(s->walked);

        s->walk = holders_walk_free(hw);
        if (r >= 0)
                r = machine_add_holders(m, scan);
        if (r >= 0) {
                machine_free(s->machine);
                s->machine = TAKE_PTR(m);
        }
        s->reobserved(s, r, r >= 0 ? s->machine : NULL, s->reobserved_userdata);
}

int step_reobserve_async(Step *s, step_reobserved_t reobserved, void *userdata) {
        _cleanup_(machine_freep) Machine *m = NULL;
        int r;

        if (s->walk)
                return -EBUSY;
        r = machine_load(s->engine->root, MACHINE_SKIP_HOLDERS, &m);
        if (r >= 0)
                r = machine_walk_holders(m, s->engine->event, NULL, on_step_walked, s, &s->walk);
        if (r < 0)
                return r;
        s->walked = TAKE_PTR(m);
        s->reobserved = reobserved;
        s->reobserved_userdata = userdata;
        return 0;
}

const char *step_root(Step *s) {
        return s->engine->root;
}

bool step_is_live(Step *s) {
        return streq(s->engine->root, "/");
}

sd_event *step_event(Step *s) {
        return s->engine->event;
}

int step_system_bus(Step *s, sd_bus **ret) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        int r;

        if (s->engine->system_bus) {
                log_debug("%s: on the front end's connection to the system bus.", s->stage->name);
                *ret = sd_bus_ref(s->engine->system_bus);
                return 0;
        }
        r = sd_bus_open_system(&bus);
        if (r < 0)
                return step_error_errno(s, r, "Failed to connect to the system bus: %m");
        r = sd_bus_attach_event(bus, step_event(s), SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return step_error_errno(s, r, "Failed to attach the system bus to the event loop: %m");
        *ret = TAKE_PTR(bus);
        return 0;
}

uint64_t step_deadline_usec(Step *s, DeadlineKind k) {
        return s->engine->deadline_usec[k];
}

uint64_t step_time_left_usec(Step *s, DeadlineKind k) {
        uint64_t deadline = step_deadline_usec(s, k), spent = now_usec() - s->start_usec;

        /* A timer of 0 would still fire from the loop: the wait ends at once, with its message. */
        return spent < deadline ? deadline - spent : 1;
}

static bool key_valid(const char *key) {
        if (!*key)
                return false;
        for (const char *p = key; *p; p++)
                if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.:-", *p))
                        return false;
        return true;
}

int step_record(Step *s, const char *key, const char *value) {
        _cleanup_free_ char *kv = NULL;
        int r;

        if (!s->to_guest || s->committed || !key_valid(key))
                return -EINVAL;
        r = journal_record(s->engine->journal, s->stage->name, key, value);
        if (r < 0)
                return r;
        if (asprintf(&kv, "%s=%s", key, value) < 0)
                return -ENOMEM;
        s->has_record = true;
        return strv_consume(&s->record, TAKE_PTR(kv));
}

int step_recordf(Step *s, const char *key, const char *format, ...) {
        _cleanup_free_ char *value = NULL;
        va_list ap;
        int r;

        va_start(ap, format);
        r = vasprintf(&value, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        return step_record(s, key, value);
}

int step_commit(Step *s) {
        int r;

        if (!s->to_guest || s->committed)
                return -EINVAL;
        r = journal_commit(s->engine->journal, s->stage->name);
        if (r < 0)
                return r;
        s->committed = true;
        engine_crash_point(s->engine, s->stage->name, "journal committed, before acting");
        return 0;
}

const char *step_get(Step *s, const char *key) {
        size_t n = strlen(key);

        STRV_FOREACH(kv, s->record)
                if (strncmp(*kv, key, n) == 0 && (*kv)[n] == '=')
                        return *kv + n + 1;
        return NULL;
}

bool step_has_record(Step *s) {
        return s->has_record;
}

char **step_keys(Step *s, const char *prefix) {
        char **keys = NULL;

        STRV_FOREACH(kv, s->record) {
                const char *eq = strchr(*kv, '=');
                char *k;

                if (!startswith(*kv, prefix) || !eq)
                        continue;
                k = strndup(*kv, eq - *kv);
                if (!k || strv_consume(&keys, k) < 0)
                        return strv_free(keys);
        }
        return keys;
}

void step_crash_point(Step *s, const char *label) {
        engine_crash_point(s->engine, s->stage->name, label);
}

void step_set_userdata(Step *s, void *userdata, void (*free_func)(void *)) {
        if (s->userdata_free)
                s->userdata_free(s->userdata);
        s->userdata = userdata;
        s->userdata_free = free_func;
}

void *step_get_userdata(Step *s) {
        return s->userdata;
}

int step_write(Step *s, const char *path, const char *value) {
        _cleanup_free_ char *p = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(value);
        ssize_t k;
        int r;

        r = root_path(s->engine->root, path, &p);
        if (r < 0)
                return r;
        fd = open(p, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        k = write(fd, value, n);
        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

/* --- Blocking writes in a worker --- */

typedef struct AsyncWrite {
        Step *step;
        ChildRun *run;
        step_write_done_t done;
        void *userdata;
        char *path, *value;
        char *full_path;                /* path below the root */
} AsyncWrite;

static void async_write_free(AsyncWrite *w) {
        if (!w)
                return;
        child_run_free(w->run);         /* a worker still running is left behind, not killed */
        free(w->path);
        free(w->value);
        free(w->full_path);
        free(w);
}

static Straggler *straggler_free(Straggler *g) {
        if (!g)
                return NULL;
        sd_event_source_disable_unref(g->io);
        if (g->pidfd >= 0)
                close(g->pidfd);
        free(g->what);
        return mfree(g);
}

static void engine_schedule_next(Engine *e);
static void preflight_wait_stop(Engine *e);

static int on_straggler_exit(sd_event_source *src, int fd, uint32_t revents, void *userdata) {
        Straggler *g = userdata;
        Engine *e = g->engine;
        int status = 0;

        if (waitpid(g->pid, &status, WNOHANG) > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
                log_info("The kernel finished writing %s after all.", g->what);
        else
                log_info("The kernel finished writing %s after all, with an error.", g->what);
        for (size_t i = 0; i < e->n_stragglers; i++)
                if (e->stragglers[i] == g) {
                        e->stragglers[i] = e->stragglers[--e->n_stragglers];
                        break;
                }
        straggler_free(g);
        if (e->n_stragglers == 0 && e->straggler_deadline) {
                e->straggler_deadline = sd_event_source_disable_unref(e->straggler_deadline);
                engine_schedule_next(e);        /* the rollback goes on */
        }
        return 0;
}

/* Keeps watching a worker past its deadline: until it is out of the kernel, nothing
 * may touch (or read) the device it writes to. */
static int straggler_add(Engine *e, AsyncWrite *w) {
        Straggler **a, *g;
        pid_t pid = child_run_pid(w->run);
        int r;

        a = reallocarray(e->stragglers, e->n_stragglers + 1, sizeof(Straggler *));
        if (!a)
                return -ENOMEM;
        e->stragglers = a;
        g = calloc(1, sizeof(Straggler));
        if (!g)
                return -ENOMEM;
        *g = (Straggler) { .engine = e, .pid = pid, .pidfd = child_run_take_pidfd(w->run) };
        if (g->pidfd < 0)
                return straggler_free(g), 0;    /* it ended at its deadline after all */
        if (asprintf(&g->what, "%s to %s (worker pid %i)", w->value, w->path, (int) pid) < 0) {
                g->what = NULL;
                return straggler_free(g), -ENOMEM;
        }
        r = sd_event_add_io(e->event, &g->io, g->pidfd, EPOLLIN, on_straggler_exit, g);
        if (r < 0)
                return straggler_free(g), r;
        e->stragglers[e->n_stragglers++] = g;
        return 0;
}

static void on_write_done(ChildRun *c, int r, const char *out, size_t size, void *userdata) {
        AsyncWrite *w = userdata;
        step_write_done_t done = w->done;
        Step *s = w->step;
        void *done_userdata = w->userdata;
        int k;

        /* Past the deadline the worker is stuck in the kernel (a driver that does not finish
         * its remove()); it cannot be killed out of uninterruptible sleep. The caller rolls
         * back, and the engine makes the rollback wait for the worker (engine_wait_stragglers()). */
        if (r == -ETIMEDOUT) {
                k = straggler_add(s->engine, w);
                if (k < 0)
                        log_warning_errno(k, "Failed to keep watching the worker of %s, ignoring: %m", w->path);
        }
        async_write_free(w);
        done(s, r, done_userdata);
}

/* In the worker: its result is the write's errno. */
static int worker_write(void *userdata) {
        AsyncWrite *w = userdata;
        size_t n = strlen(w->value);
        ssize_t k;
        int fd;

        fd = open(w->full_path, O_WRONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        k = write(fd, w->value, n);
        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

int step_write_async(Step *s, const char *path, const char *value, uint64_t timeout_usec,
                     step_write_done_t done, void *userdata) {
        AsyncWrite *w;
        int r;

        w = calloc(1, sizeof(AsyncWrite));
        if (!w)
                return -ENOMEM;
        *w = (AsyncWrite) { .step = s, .done = done, .userdata = userdata,
                            .path = strdup(path), .value = strdup(value) };
        r = w->path && w->value ? root_path(s->engine->root, path, &w->full_path) : -ENOMEM;
        /* A worker may outlive baton, stuck in the kernel. */
        if (r >= 0)
                r = child_worker_async(s->engine->event, timeout_usec,
                                       CHILD_LEAVE_BEHIND | CHILD_OUTLIVE | CHILD_NULL_STDIO, worker_write, w,
                                       on_write_done, w, &w->run);
        if (r < 0)
                async_write_free(w);
        return r;
}

/* --- The transition --- */

/* Takes reason and warning. */
static void timeline_add(Engine *e, const Stage *st, bool to_guest, bool skipped, int result, uint64_t usec,
                         char *reason, char *warning) {
        StageTiming *t = reallocarray(e->timeline, e->n_timeline + 1, sizeof(StageTiming));

        if (!t) {
                free(reason);
                free(warning);
                return;         /* the timeline is informational */
        }
        e->timeline = t;
        e->timeline[e->n_timeline++] = (StageTiming) {
                .stage = st->name, .to_guest = to_guest, .skipped = skipped,
                .result = result, .usec = usec, .reason = result < 0 ? reason : (free(reason), NULL),
                .warning = result >= 0 ? warning : (free(warning), NULL),
        };
}

static void timeline_clear(Engine *e) {
        for (size_t i = 0; i < e->n_timeline; i++) {
                free(e->timeline[i].reason);
                free(e->timeline[i].warning);
        }
        e->timeline = mfree(e->timeline);
        e->n_timeline = 0;
}

/* What the journal says, for the caller of the finished transition (engine_record_get()). */
static void engine_keep_records(Engine *e) {
        e->kept = strv_free(e->kept);
        for (size_t i = 0; e->journal && i < e->journal->n_stages; i++) {
                const JournalStage *js = &e->journal->stages[i];

                if (!js->committed)
                        continue;
                if (strv_extend(&e->kept, js->name) < 0)
                        return;         /* informational, like the timeline */
                STRV_FOREACH(kv, js->record)
                        if (strv_extendf(&e->kept, "%s %s", js->name, *kv) < 0)
                                return;
        }
}

/* Whether systemd's answer about st's unit, asked for at the request, is its observation:
 * while no step has run (the first sets prepare_usec, stage_run()), nothing has changed since. */
static bool unit_answers(const Engine *e, const Stage *st) {
        return st == e->unit_stage && e->prepare_usec == 0;
}

static void unit_ask_clear(Engine *e) {
        e->unit_query = unit_query_free(e->unit_query);
        e->unit_stage = NULL;
        e->unit_answered = false;
        e->unit_error = 0;
        e->unit_message = mfree(e->unit_message);
        unit_info_done(&e->unit_info);
        e->unit_waiting = machine_free(e->unit_waiting);
}

static void engine_finish(Engine *e) {
        engine_done_t done = e->done;
        int r = e->error;

        e->end_usec = now_usec();
        engine_keep_records(e);

        if (engine_to_guest(e) && r == 0) {
                r = journal_complete(e->journal);
                if (r < 0)
                        log_error_errno(r, "Failed to record the completed handover: %m");
        } else if (!e->rollback_incomplete && e->journal) {
                r = journal_remove(e->journal);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove %s, ignoring: %m", e->journal->path);
                r = e->error;
        } else if (e->rollback_incomplete)
                log_error("The machine is not fully back in host state; the journal stays in %s: "
                          "run 'baton recover'.", e->rundir);

        e->journal = journal_free(e->journal);
        e->unchanged = machine_free(e->unchanged);
        engine_offer_clear(e);
        unit_ask_clear(e);
        transition_lock_release(&e->lock);
        e->state = ENGINE_IDLE;
        if (done)
                done(e, r, e->done_userdata);
}

/* The instance of st, made in engine_new(). */
static StageInstance *engine_instance(const Engine *e, const Stage *st) {
        for (size_t i = 0; e->stages[i]; i++)
                if (e->stages[i] == st)
                        return e->instances[i];
        return NULL;
}

/* The stage of the journal called name. */
static const Stage *engine_find_stage(const Engine *e, const char *name) {
        for (size_t i = 0; e->stages[i]; i++)
                if (streq(e->stages[i]->name, name))
                        return e->stages[i];
        return NULL;
}

static void stages_before_host(Engine *e) {
        for (size_t i = 0; e->stages[i]; i++)
                if (e->stages[i]->before_host)
                        e->stages[i]->before_host(e->instances[i], &e->context);
}

/* Rollback: to_host for exactly the stages the journal says acted, newest first. */
static int engine_begin_rollback(Engine *e) {
        engine_offer_clear(e);
        stages_before_host(e);
        e->state = ENGINE_ROLLING_BACK;
        e->n_order = e->pos = 0;
        for (size_t i = e->journal->n_stages; i > 0; i--) {
                const JournalStage *js = &e->journal->stages[i - 1];
                const Stage *st = engine_find_stage(e, js->name);

                if (js->committed && !js->undone && st)
                        e->order[e->n_order++] = st;
        }
        if (e->n_order > 0)
                log_info("Rolling back %zu stage(s).", e->n_order);
        return 0;
}

static void step_complete(Step *s, int r) {
        Engine *e = s->engine;
        const Stage *st = s->stage;
        uint64_t usec = now_usec() - s->start_usec;
        LogFields f = { .stage = st->name, .pci_address = e->gpu, .direction = engine_to_guest(e) ? "guest" : "host",
                        .duration_usec = usec };
        int k;

        e->step = NULL;
        timeline_add(e, st, engine_to_guest(e), false, r, usec, TAKE_PTR(s->sink.error), TAKE_PTR(s->sink.warning));
        if (r >= 0 && engine_to_guest(e) && s->has_offered) {
                e->offered = TAKE_STRUCT(s->offered);
                e->has_offered = true;
        }
        step_free(s);
        if (e->progress)
                e->progress(e, st->name, engine_to_guest(e), true, r, usec, e->progress_userdata);
        log_full_fields(r < 0 ? LOG_ERR : LOG_INFO, 0, &f, "%s %s: %s in %.1f ms",
                        st->name, engine_to_guest(e) ? "to guest" : "to host", r < 0 ? "failed" : "done",
                        usec / 1000.0);

        if (engine_to_guest(e)) {
                if (r < 0) {
                        e->error = r;
                        engine_begin_rollback(e);
                        engine_schedule_next(e);
                        return;
                }
                k = journal_done(e->journal, st->name);
                if (k < 0) {
                        log_error_errno(k, "Failed to record stage %s as done: %m", st->name);
                        e->error = k;
                        engine_begin_rollback(e);
                        engine_schedule_next(e);
                        return;
                }
                engine_crash_point(e, st->name, "done");
        } else if (r < 0) {
                /* Keep converging the other stages; the journal keeps what is left. */
                if (e->error == 0)
                        e->error = r;
                e->rollback_incomplete = true;
        } else if (e->journal) {
                k = journal_undone(e->journal, st->name);
                if (k < 0)
                        log_warning_errno(k, "Failed to record stage %s as undone, ignoring: %m", st->name);
        }
        e->pos++;
        engine_schedule_next(e);
}

void step_finish(Step *s, int r) {
        step_complete(s, r < 0 ? r : 0);
}

/* Takes ownership of m, the machine as observed right before the step. */
static int step_new(Engine *e, const Stage *st, Machine *m, uint64_t start_usec, Step **ret) {
        Step *s = calloc(1, sizeof(Step));
        JournalStage *js;
        int r;

        if (!s) {
                machine_free(m);
                return -ENOMEM;
        }
        *s = (Step) { .engine = e, .stage = st, .instance = engine_instance(e, st), .context = e->context,
                      .to_guest = engine_to_guest(e), .machine = m, .start_usec = start_usec };
        s->context.sink = &s->sink;
        js = e->journal ? journal_find_stage(e->journal, st->name) : NULL;
        if (!engine_to_guest(e) && js && js->record) {
                r = strv_extend_strv(&s->record, js->record);
                if (r < 0) {
                        step_free(s);
                        return r;
                }
                s->has_record = true;
        }
        *ret = s;
        return 0;
}

/* A stage that could not even start (the machine could not be observed):
 * towards the guest that fails the handover, towards the host it stays
 * pending in the journal for recover. */
static void stage_failed_early(Engine *e, const Stage *st, int r) {
        timeline_add(e, st, engine_to_guest(e), false, r, 0, NULL, NULL);
        if (e->error == 0)
                e->error = r;
        if (engine_to_guest(e))
                engine_begin_rollback(e);
        else {
                e->rollback_incomplete = true;
                e->pos++;
        }
        engine_schedule_next(e);
}

const char *step_observe_error(int r) {
        return r == -ETIMEDOUT ? "a process stuck in the kernel keeps /proc from being read (named above)" :
                strerror(-r);
}

static void stage_not_started(Engine *e, const Stage *st, int r) {
        log_error_errno(r, "Failed to observe the machine for stage %s: %s", st->name, step_observe_error(r));
        stage_failed_early(e, st, r);
}

static int on_straggler_deadline(sd_event_source *src, uint64_t usec, void *userdata) {
        Engine *e = userdata;

        e->straggler_deadline = sd_event_source_disable_unref(e->straggler_deadline);
        for (size_t i = 0; i < e->n_stragglers; i++)
                log_error("The kernel is still writing %s: the rollback cannot touch the device until it "
                          "finishes.", e->stragglers[i]->what);
        if (e->error == 0)
                e->error = -ETIMEDOUT;
        e->rollback_incomplete = true;
        engine_finish(e);
        return 0;
}

/* Towards the host, a device whose write is still in the kernel cannot even be
 * observed (sysfs takes its lock to show driver_override): wait for the worker,
 * on the loop, up to the "unbind" deadline once more. */
static int engine_wait_stragglers(Engine *e) {
        int r;

        if (e->straggler_deadline)
                return 0;
        for (size_t i = 0; i < e->n_stragglers; i++)
                log_notice("Waiting up to %.0f s for the kernel to finish writing %s before rolling back.",
                           e->deadline_usec[DEADLINE_UNBIND] / 1e6, e->stragglers[i]->what);
        r = sd_event_add_time_relative(e->event, &e->straggler_deadline, CLOCK_MONOTONIC,
                                       e->deadline_usec[DEADLINE_UNBIND], 0, on_straggler_deadline, e);
        if (r < 0)
                return on_straggler_deadline(NULL, 0, e);
        return 0;
}

/* Runs the stage's step on m (taken), observed at start_usec. */
static void stage_run(Engine *e, const Stage *st, Machine *m, uint64_t start_usec) {
        Step *s;
        int r;

        r = step_new(e, st, m, start_usec, &s);
        if (r < 0) {
                stage_not_started(e, st, r);
                return;
        }
        e->step = s;
        engine_offer_clear(e);
        if (e->prepare_usec == 0) {
                e->prepare_usec = now_usec() - e->start_usec;
                log_debug("First action after %.1f ms: stage %s.", e->prepare_usec / 1e3, st->name);
        }
        if (e->progress)
                e->progress(e, st->name, engine_to_guest(e), false, 0, 0, e->progress_userdata);
        r = engine_to_guest(e) ? st->to_guest(s) : st->to_host(s);
        if (r != STEP_PENDING)
                step_complete(s, r < 0 ? r : 0);
}

/* Whether the stage at pos can be observed on the machine being observed (e->unchanged_flags
 * say what it read): it reads nothing more. */
static bool observable_on(const Engine *e, size_t pos) {
        return pos < e->n_order &&
               (!(e->unchanged_flags & MACHINE_SKIP_HOLDERS) || !stage_reads_holders(e, e->order[pos]));
}

static void on_unit_answer(UnitQuery *q, int r, UnitInfo *info, const char *message, void *userdata);

/* Asks systemd about the unit of the first stage that observes one, on the front end's
 * connection. Without an answer the stage is observed in a worker as any other. */
static void unit_ask(Engine *e) {
        for (size_t i = 0; e->system_bus && e->stages[i]; i++) {
                const Stage *st = e->stages[i];
                const char *unit;

                if (!st->observed_unit || !st->judge_unit)
                        continue;
                unit = st->observed_unit(e->instances[i], &e->context);
                if (!unit)
                        continue;
                if (unit_query_new(e->system_bus, unit, e->deadline_usec[DEADLINE_UNIT], on_unit_answer, e,
                                   &e->unit_query) >= 0)
                        e->unit_stage = st;
                return;
        }
}

/* st, observed on m (taken), has nothing to do: it is skipped, and m serves the next stage. */
static void stage_skip(Engine *e, const Stage *st, Machine *m, const char *why) {
        /* Say why: "no gdm.service on this machine" is news when gdm.service was configured. */
        if (!isempty(why))
                log_info("%s: nothing to do: %s", st->name, why);
        timeline_add(e, st, true, true, 0, 0, NULL, NULL);
        e->pos++;
        e->unchanged = m;       /* nothing changed: it serves the next stage */
}

/* An observation made on the loop decides: the step of st runs on m (taken), or st, with
 * nothing to do, is skipped. One that failed (r < 0) does not skip the stage: its step says
 * what fails. */
static void stage_decide(Engine *e, const Stage *st, Machine *m, uint64_t start_usec, int r, StagePosition pos,
                         char **plan) {
        if (r < 0 || pos != STAGE_NOTHING_TO_DO) {
                stage_run(e, st, m, start_usec);
                return;
        }
        stage_skip(e, st, m, plan ? plan[0] : NULL);
        engine_schedule_next(e);
}

/* st's observation from systemd's answer: skipped when it has nothing to do, else its step
 * runs on m (taken). As on_observed() does with a worker's answer. */
static void stage_judge_unit(Engine *e, const Stage *st, Machine *m, uint64_t start_usec) {
        _cleanup_strv_free_ char **plan = NULL;
        StageContext ctx = e->context;
        StagePosition pos;
        int r;

        ctx.first_line_only = true;
        if (e->unit_error < 0 && e->unit_message)
                log_debug_errno(e->unit_error, "%s", e->unit_message);
        r = st->judge_unit(engine_instance(e, st), &ctx, e->unit_error, &e->unit_info, &pos, &plan);
        log_debug("Observed stage %s from systemd's answer on the front end's connection, %.1f ms after the "
                  "request%s.", st->name, (now_usec() - e->start_usec) / 1e3,
                  r >= 0 && pos == STAGE_NOTHING_TO_DO ? ": nothing to do" : "");
        stage_decide(e, st, m, start_usec, r, pos, plan);
}

static void on_unit_answer(UnitQuery *q, int r, UnitInfo *info, const char *message, void *userdata) {
        Engine *e = userdata;
        Machine *m;

        e->unit_query = unit_query_free(q);
        e->unit_answered = true;
        e->unit_error = r;
        if (r >= 0)
                e->unit_info = TAKE_STRUCT(*info);
        else
                e->unit_message = message ? strdup(message) : NULL;    /* none without memory */
        log_debug("systemd answered about the unit of stage %s %.1f ms after the request.", e->unit_stage->name,
                  (now_usec() - e->start_usec) / 1e3);
        m = TAKE_PTR(e->unit_waiting);
        if (m)
                stage_judge_unit(e, e->unit_stage, m, e->unit_waiting_start);
}

/* In the observation worker: for the stage at e->pos, then for each following stage while the
 * one before has nothing to do (so the machine is still the one m shows), a line: its position,
 * a tab and its first plan line. Issue 17: one worker and one read of the machine for a run of
 * stages to skip, instead of one each. A later stage that cannot be observed ends the run; the
 * engine observes it again on its own. */
static int observe_in_child(int out_fd, void *userdata) {
        Engine *e = userdata;
        StageContext ctx = e->context;
        FILE *f;
        int r;

        ctx.first_line_only = true;     /* only each position and first plan line go back */
        log_debug("Observation worker up %.1f ms after the request.", (now_usec() - e->start_usec) / 1e3);
        f = fdopen(out_fd, "w");
        if (!f)
                return -errno;
        for (size_t pos = e->pos; pos < e->n_order; pos++) {
                _cleanup_strv_free_ char **plan = NULL;
                const Stage *st = e->order[pos];
                const char *line;
                StagePosition sp;
                uint64_t t;

                if (pos > e->pos && (!observable_on(e, pos) || unit_answers(e, e->order[pos])))
                        break;
                t = now_usec();
                r = st->observe(engine_instance(e, st), &ctx, e->observed, &sp, &plan);
                log_debug("Observed stage %s in %.1f ms, %.1f ms after the request%s.", st->name,
                          (now_usec() - t) / 1e3, (now_usec() - e->start_usec) / 1e3,
                          r >= 0 && sp == STAGE_NOTHING_TO_DO ? ": nothing to do" : "");
                if (r < 0 && pos == e->pos) {
                        (void) fclose(f);
                        return r;
                }
                if (r < 0)
                        break;
                line = plan && plan[0] ? plan[0] : "";
                fprintf(f, "%d\t", (int) sp);
                /* One line each: a tab or newline of the plan's is a blank here. */
                for (size_t i = 0; line[i] && i < OBSERVE_LINE_MAX; i++)
                        fputc(line[i] == '\t' || line[i] == '\n' ? ' ' : line[i], f);
                fputc('\n', f);
                if (sp != STAGE_NOTHING_TO_DO)
                        break;
        }
        return fclose(f) == 0 ? 0 : -EIO;
}

/* One line of the worker's output: the position, and the plan line (NUL-terminated in place). */
static bool observed_line(char **cursor, StagePosition *ret_pos, const char **ret_plan) {
        char *line = *cursor, *tab, *nl;

        if (!line || !*line)
                return false;
        nl = strchr(line, '\n');
        tab = strchr(line, '\t');
        if (!nl || !tab || tab > nl)
                return false;
        *nl = *tab = '\0';
        *ret_pos = (StagePosition) atoi(line);
        *ret_plan = tab + 1;
        *cursor = nl + 1;
        return true;
}

/* The observation worker's answer r and text (taken; NULL when it said nothing, or without
 * memory): the stage is skipped or its step runs. */
static void observed_take(Engine *e, int r, char *text) {
        _cleanup_free_ char *owned = text;
        const Stage *st = e->observed_stage;
        Machine *m = TAKE_PTR(e->observed);
        uint64_t start = e->stage_start_usec;
        char *cursor = text;
        StagePosition pos;
        const char *plan;

        e->observing = child_run_free(e->observing);
        e->observed_stage = NULL;
        if (r == -ETIMEDOUT) {
                machine_free(m);
                log_error("Stage %s: observing the machine did not finish within %.0f s (the \"unit\" deadline, "
                          "and %.0f s of grace).", st->name, e->deadline_usec[DEADLINE_UNIT] / 1e6,
                          OBSERVE_GRACE_USEC / 1e6);
                stage_failed_early(e, st, r);
                return;
        }
        /* An observation that failed does not skip the stage: its step says what fails. */
        if (r < 0 || !observed_line(&cursor, &pos, &plan)) {
                stage_run(e, st, m, start);
                return;
        }
        for (;;) {
                if (pos != STAGE_NOTHING_TO_DO) {
                        stage_run(e, st, m, start);
                        return;
                }
                stage_skip(e, st, m, plan);
                /* The next stage, when the worker observed it too: as on_next() would take it up. */
                if (e->pos >= e->n_order || !observed_line(&cursor, &pos, &plan))
                        break;
                st = e->order[e->pos];
                engine_crash_point(e, st->name, "before stage");
                if (e->state == ENGINE_CANCELLING)
                        break;
                m = TAKE_PTR(e->unchanged);
                start = now_usec();
        }
        engine_schedule_next(e);
}

static void on_observed(ChildRun *c, int r, const char *out, size_t size, void *userdata) {
        Engine *e = userdata;

        if (e->walk && !e->walk_stage) {
                /* The handover has not begun: its pre-flights wait for their walk of /proc. */
                e->observed_held = true;
                e->observed_r = r;
                e->observed_text = out ? strndup(out, size) : NULL;
                return;
        }
        observed_take(e, r, out ? strndup(out, size) : NULL);
}

/* The early observation's answer, when it came during the pre-flights' walk. */
static void observed_release(Engine *e) {
        if (!e->observed_held)
                return;
        e->observed_held = false;
        observed_take(e, e->observed_r, TAKE_PTR(e->observed_text));
}

/* A stage whose observe() cannot wait (Stage.observe_on_loop), observed here on the loop: as
 * on_observed() takes a worker's answer, with no worker to fork (issue 17). */
static void stage_observe_here(Engine *e, const Stage *st, Machine *m, uint64_t start_usec) {
        _cleanup_strv_free_ char **plan = NULL;
        StageContext ctx = e->context;
        StagePosition pos;
        uint64_t t = now_usec();
        int r;

        ctx.first_line_only = true;
        r = st->observe(engine_instance(e, st), &ctx, m, &pos, &plan);
        log_debug("Observed stage %s on the loop in %.1f ms, %.1f ms after the request%s.", st->name,
                  (now_usec() - t) / 1e3, (now_usec() - e->start_usec) / 1e3,
                  r >= 0 && pos == STAGE_NOTHING_TO_DO ? ": nothing to do" : "");
        stage_decide(e, st, m, start_usec, r, pos, plan);
}

/* Towards the guest a stage whose observation says there is nothing to do is skipped. observe()
 * may wait on D-Bus (systemd, the user's session bus): it runs in a worker, awaited here within
 * the "unit" deadline (plus grace: the stage's own wait says first what did not answer), so the
 * loop never waits for it; unless the stage says it cannot wait (Stage.observe_on_loop). */
static int stage_observe(Engine *e, const Stage *st, Machine *m, uint64_t start_usec) {
        int r;

        if (st->observe_on_loop) {
                stage_observe_here(e, st, m, start_usec);
                return 0;
        }
        if (unit_answers(e, st)) {
                if (e->unit_answered)
                        stage_judge_unit(e, st, m, start_usec);
                else {
                        e->unit_waiting = m;
                        e->unit_waiting_start = start_usec;
                }
                return 0;
        }
        e->observed_stage = st;
        e->observed = m;
        e->stage_start_usec = start_usec;
        r = child_run_async(e->event, e->deadline_usec[DEADLINE_UNIT] + OBSERVE_GRACE_USEC, observe_in_child, e,
                            OBSERVE_MAX, on_observed, e, &e->observing);
        if (r < 0) {
                /* m is the caller's again. */
                e->observed_stage = NULL;
                e->observed = NULL;
        }
        return r;
}

/* st's observation towards the guest, or its step, on m (taken) as observed for it; or, when
 * that observation failed (r), the stage fails before it began. */
static void stage_begin(Engine *e, const Stage *st, Machine *m, uint64_t start_usec, int r) {
        if (r >= 0 && engine_to_guest(e)) {
                r = stage_observe(e, st, m, start_usec);
                if (r < 0)
                        machine_free(m);
        } else if (r >= 0)
                stage_run(e, st, m, start_usec);
        if (r < 0)
                stage_not_started(e, st, r);
}

static int on_next(sd_event_source *src, void *userdata) {
        Engine *e = userdata;
        uint64_t start = now_usec();
        const Stage *st;
        Machine *m;
        int r;

        if (e->pos >= e->n_order) {
                engine_finish(e);
                return 0;
        }
        if (!engine_to_guest(e) && e->n_stragglers > 0)
                return engine_wait_stragglers(e);
        st = e->order[e->pos];
        if (e->state == ENGINE_CANCELLING) {
                log_notice("Handover cancelled before stage %s: rolling back.", st->name);
                e->unchanged = machine_free(e->unchanged);
                e->error = -ECANCELED;
                engine_begin_rollback(e);
                engine_schedule_next(e);
                return 0;
        }
        if (engine_to_guest(e))
                engine_crash_point(e, st->name, "before stage");

        /* One observation serves the skip decision and the step itself. */
        r = engine_observe(e, st, start, &m);
        if (r <= 0)
                stage_begin(e, st, r < 0 ? NULL : m, start, r);
        return 0;
}

static void on_stage_walked(HoldersWalk *hw, int r, HolderScan *scan, void *userdata) {
        Engine *e = userdata;
        _cleanup_(machine_freep) Machine *m = TAKE_PTR(e->walked);
        const Stage *st = TAKE_PTR(e->walk_stage);

        e->walk = holders_walk_free(hw);
        if (r >= 0)
                r = machine_add_holders(m, scan);
        if (r < 0)
                return stage_begin(e, st, NULL, e->walk_stage_start, r);
        if (e->walk_fresh)
                log_debug("Read the machine and /proc for the holders before stage %s in %.1f ms.", st->name,
                          (now_usec() - e->walk_start_usec) / 1e3);
        else
                log_debug("Read /proc for the holders before stage %s in %.1f ms, on the machine as read before "
                          "the stage skipped last.", st->name, (now_usec() - e->walk_start_usec) / 1e3);
        if (e->state == ENGINE_CANCELLING)
                /* Cancelled during the walk: on_next() rolls back, before st. */
                return engine_schedule_next(e);
        stage_begin(e, st, TAKE_PTR(m), e->walk_stage_start, 0);
}

static void engine_schedule_next(Engine *e) {
        /* Each step starts from the loop, never from inside the previous one's
         * callback: deep recursion and re-entrancy are not possible. */
        (void) sd_event_source_set_enabled(e->next, SD_EVENT_ONESHOT);
}

/* --- Starting a transition --- */

int engine_new(sd_event *event, const EngineOptions *o, Engine **ret) {
        _cleanup_(engine_freep) Engine *e = calloc(1, sizeof(Engine));
        const char *crash;
        size_t n = 0;
        int r;

        if (!e)
                return -ENOMEM;
        e->lock = TRANSITION_LOCK_NULL;
        e->event = sd_event_ref(event);
        e->root = strdup(o->root ?: "/");
        e->rundir = strdup(o->rundir);
        if (!e->root || !e->rundir)
                return -ENOMEM;
        e->context = (StageContext) { .config = &e->config, .root = e->root };
        e->own_order = o->stages;
        for (const Stage *const *st = o->stages ?: stage_table; *st && n < STAGE_TABLE_MAX - 1; st++) {
                e->stages[n] = *st;
                e->instances[n] = stage_instance_new(*st);
                if (!e->instances[n++])
                        return -ENOMEM;
        }
        engine_set_config(e, o->config);
        e->order = calloc(n + 1, sizeof(Stage *));
        if (!e->order)
                return -ENOMEM;
        r = sd_event_add_defer(event, &e->next, on_next, e);
        if (r < 0)
                return r;
        (void) sd_event_source_set_enabled(e->next, SD_EVENT_OFF);

        crash = getenv("BATON_TEST_CRASH_AT");
        if (crash && crash[0] >= '0' && crash[0] <= '9')
                e->crash_at = (unsigned) strtoul(crash, NULL, 10);
        else
                e->crash_at_name = crash;
        e->crash_list = getenv("BATON_TEST_CRASH_LIST") != NULL;
        *ret = TAKE_PTR(e);
        return 0;
}

/* The stages' order follows [stages] after; their instances stay. */
static void engine_place_stages(Engine *e) {
        const Stage *order[STAGE_TABLE_MAX];
        StageInstance *instances[STAGE_TABLE_MAX] = {};
        size_t n = 0;

        if (e->own_order)
                return;
        (void) stage_order(e->config.stages_after, order);
        for (; order[n]; n++)
                instances[n] = engine_instance(e, order[n]);
        memcpy(e->stages, order, (n + 1) * sizeof(order[0]));
        memcpy(e->instances, instances, n * sizeof(instances[0]));
}

void engine_set_config(Engine *e, const Config *c) {
        if (c)
                e->config = *c;
        else
                config_init(&e->config);
        e->config.input_devices = NULL;         /* not the engine's: the caller's Config owns them */
        for (DeadlineKind k = 0; k < _DEADLINE_MAX; k++)
                e->deadline_usec[k] = e->config.deadline_usec[k] ?: deadline_default_usec(k);
        memcpy(e->context.deadline_usec, e->deadline_usec, sizeof(e->deadline_usec));
        engine_place_stages(e);
}

int engine_set_vm(Engine *e, const char *vm) {
        char *copy = NULL;

        if (vm) {
                copy = strdup(vm);
                if (!copy)
                        return -ENOMEM;
        }
        free(e->vm);
        e->context.vm = e->vm = copy;
        return 0;
}

Engine *engine_free(Engine *e) {
        if (!e)
                return NULL;
        step_free(e->step);
        engine_offer_clear(e);
        preflight_wait_stop(e);
        log_sink_done(&e->preflight_sink);
        child_run_free(e->observable);
        sd_event_source_disable_unref(e->observable_notice);
        holders_walk_free(e->walk);
        if (!e->observing)
                machine_free(e->walked);        /* else it is e->observed */
        child_run_free(e->observing);
        machine_free(e->observed);
        free(e->observed_text);
        for (size_t i = 0; i < e->n_stragglers; i++)
                straggler_free(e->stragglers[i]);
        free(e->stragglers);
        sd_event_source_disable_unref(e->straggler_deadline);
        sd_event_source_disable_unref(e->next);
        machine_free(e->unchanged);
        unit_ask_clear(e);
        sd_bus_unref(e->system_bus);
        journal_free(e->journal);
        transition_lock_release(&e->lock);
        sd_event_unref(e->event);
        free(e->order);
        for (size_t i = 0; e->stages[i]; i++)
                stage_instance_free(e->instances[i]);
        free(e->vm);
        timeline_clear(e);
        strv_free(e->kept);
        free(e->gpu);
        free(e->root);
        free(e->rundir);
        free(e);
        return NULL;
}

/* A full observation (holders included) taken when the transition began: the first stage's
 * step starts from it instead of observing again (engine_observe()). */
static void engine_keep_observation(Engine *e, Machine *m, MachineFlags flags) {
        machine_free(e->unchanged);
        e->unchanged = m;
        e->unchanged_flags = flags;
}

/* --- Pre-flight: every refusal observation can predict, before anything changes --- */

/* Every stage's pre-flight on m: the first refusal, else -EAGAIN when a stage asks to wait
 * (never with PREFLIGHT_LAST), else 0. */
static int engine_preflight(Engine *e, const Machine *m, PreflightMode mode) {
        StageContext ctx = e->context;
        int waiting = 0, r;

        ctx.sink = &e->preflight_sink;
        for (size_t i = 0; e->stages[i]; i++) {
                if (!e->stages[i]->preflight)
                        continue;
                r = e->stages[i]->preflight(e->instances[i], &ctx, m, mode);
                if (r == -EAGAIN && mode != PREFLIGHT_LAST)
                        waiting = r;
                else if (r < 0)
                        return r;
        }
        return waiting;
}

/* Towards the guest every stage runs, in the table's order. */
static void engine_order_all(Engine *e) {
        e->n_order = e->pos = 0;
        for (size_t i = 0; e->stages[i]; i++)
                e->order[e->n_order++] = e->stages[i];
}

static int engine_begin_handover(Engine *e) {
        int r;

        r = journal_create(e->rundir, e->gpu, &e->journal);
        if (r < 0)
                return log_error_errno(r, "Failed to create the journal in %s: %m", e->rundir);
        e->state = ENGINE_TO_GUEST;
        engine_order_all(e);
        return 1;
}

static void preflight_unwatch(Engine *e) {
        for (size_t i = 0; i < e->n_preflight_watches; i++)
                sd_event_source_disable_unref(e->preflight_watches[i]);
        e->preflight_watches = mfree(e->preflight_watches);
        e->n_preflight_watches = 0;
}

static void preflight_wait_stop(Engine *e) {
        preflight_unwatch(e);
        e->preflight_deadline = sd_event_source_disable_unref(e->preflight_deadline);
        e->preflight_again = sd_event_source_disable_unref(e->preflight_again);
}

static int on_preflight_close(sd_event_source *src, const struct inotify_event *event, void *userdata) {
        Engine *e = userdata;

        (void) sd_event_source_set_enabled(e->preflight_again, SD_EVENT_ONESHOT);
        return 0;
}

/* Watches every node a process holds on m for its close (inotify reports each close of a
 * device node, whoever opened it): the holder waited for may close any of them. */
static int preflight_watch(Engine *e, const Machine *m) {
        _cleanup_strv_free_ char **nodes = NULL;
        int r;

        preflight_unwatch(e);
        for (size_t i = 0; i < m->holders.n_holders; i++)
                if (!strv_contains(nodes, m->holders.holders[i].node) &&
                    strv_extend(&nodes, m->holders.holders[i].node) < 0)
                        return -ENOMEM;
        STRV_FOREACH(node, nodes) {
                sd_event_source **w = array_append(&e->preflight_watches, &e->n_preflight_watches,
                                                   sizeof(sd_event_source *));

                if (!w)
                        return -ENOMEM;
                r = sd_event_add_inotify(e->event, w, *node, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE | IN_DELETE_SELF,
                                         on_preflight_close, e);
                if (r == -ENOENT) {
                        e->n_preflight_watches--;       /* gone: nobody holds it any more */
                        continue;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Ends a handover that never began, with r (-ECANCELED: a cancel while it waited): nothing
 * was recorded or changed. */
static void preflight_fail(Engine *e, int r) {
        if (r == -ECANCELED)
                log_notice("Handover cancelled while waiting for its pre-flight: nothing was changed.");
        preflight_wait_stop(e);
        e->error = r;
        engine_finish(e);
}

/* Ends an early observation that will not be used; *mp is the machine again. */
static void engine_observe_cancel(Engine *e, Machine **mp) {
        if (!e->observing)
                return;
        e->observing = child_run_free(e->observing);
        e->observed_stage = NULL;
        e->observed_held = false;
        e->observed_text = mfree(e->observed_text);
        *mp = TAKE_PTR(e->observed);
}

static void on_preflight_walked(HoldersWalk *hw, int r, HolderScan *scan, void *userdata);
static int preflight_wait_start(Engine *e, const Machine *m);

/* Reads m's holders with a walk of /proc awaited on the loop; the pre-flights then run on m in
 * mode (on_preflight_walked()). On success m is the walk's, or stays the early observation's
 * (e->observed); on failure it is the caller's still. */
static int preflight_walk(Engine *e, Machine *m, PreflightMode mode) {
        int r;

        r = machine_walk_holders(m, e->event, &e->preflight_sink, on_preflight_walked, e, &e->walk);
        if (r < 0)
                return r;
        e->walked = m;
        e->walk_mode = mode;
        e->walk_again = false;
        e->walk_start_usec = now_usec();
        e->state = ENGINE_PREFLIGHT;
        return 0;
}

/* The pre-flights on m, its holders read, in mode: the handover begins, or waits for a holder,
 * or is refused. m is the engine's, or the early observation's (e->observed). */
static void preflight_decide(Engine *e, Machine *m, PreflightMode mode) {
        int r;

        e->unchanged_flags = 0;
        r = engine_preflight(e, m, mode);
        if (r < 0)
                engine_observe_cancel(e, &m);   /* m is the engine's */
        if (r == -EAGAIN) {
                if (!e->preflight_deadline)
                        r = preflight_wait_start(e, m);
                else {
                        r = preflight_watch(e, m);
                        if (r < 0)
                                log_error_errno(r, "Failed to watch the GPU's nodes: %m");
                }
                machine_free(m);
                if (r < 0)
                        return preflight_fail(e, r);
                /* A node closed while this look walked /proc: it may not have seen that. */
                if (e->walk_again)
                        (void) sd_event_source_set_enabled(e->preflight_again, SD_EVENT_ONESHOT);
                return;
        }
        preflight_wait_stop(e);
        if (r >= 0)
                r = engine_begin_handover(e);
        if (r < 0) {
                engine_observe_cancel(e, &m);
                machine_free(m);
                return preflight_fail(e, r);
        }
        if (e->observing) {
                /* The first stage is being observed already: its worker's answer goes on, with
                 * the machine, from the loop. Its step's time starts now. */
                e->stage_start_usec = now_usec();
                engine_crash_point(e, e->order[0]->name, "before stage");
                return observed_release(e);
        }
        /* Issue 17: nothing changed since this observation; it serves the first stage. */
        engine_keep_observation(e, m, 0);
        engine_schedule_next(e);
}

static void on_preflight_walked(HoldersWalk *hw, int r, HolderScan *scan, void *userdata) {
        Engine *e = userdata;
        Machine *m = TAKE_PTR(e->walked);

        e->walk = holders_walk_free(hw);
        if (r >= 0)
                r = machine_add_holders(m, scan);
        if (r >= 0)
                log_debug("Read /proc for the holders of the GPU's nodes in %.1f ms: %zu found, %u processes not "
                          "readable.", (now_usec() - e->walk_start_usec) / 1e3, m->holders.n_holders,
                          m->holders.n_unreadable);
        else
                log_sink_full_errno(&e->preflight_sink, LOG_ERR, r, "Failed to observe the machine: %s",
                                    step_observe_error(r));
        if (r >= 0 && e->state == ENGINE_CANCELLING)
                r = -ECANCELED;
        if (r < 0) {
                engine_observe_cancel(e, &m);
                machine_free(m);
                return preflight_fail(e, r);
        }
        preflight_decide(e, m, e->walk_mode);
}

static void preflight_check(Engine *e, PreflightMode mode) {
        _cleanup_(machine_freep) Machine *m = NULL;
        int r;

        if (e->walk) {
                /* A look is under way: it is the last one, or another follows it. */
                if (mode == PREFLIGHT_LAST)
                        e->walk_mode = PREFLIGHT_LAST;
                else
                        e->walk_again = true;
                return;
        }
        if (e->state == ENGINE_CANCELLING)
                return preflight_fail(e, -ECANCELED);
        /* The DRM nodes from sysfs, not libdrm: nothing here may open a node it watches, or its
         * own close would wake it again. */
        r = machine_load(e->root, MACHINE_SKIP_HOLDERS, &m);
        if (r >= 0)
                r = preflight_walk(e, m, mode);
        if (r < 0)
                return preflight_fail(e, log_error_errno(r, "Failed to observe the machine: %s",
                                                         step_observe_error(r)));
        TAKE_PTR(m);
}

static int on_preflight_again(sd_event_source *src, void *userdata) {
        preflight_check(userdata, PREFLIGHT_WAITING);
        return 0;
}

static int on_preflight_deadline(sd_event_source *src, uint64_t usec, void *userdata) {
        preflight_check(userdata, PREFLIGHT_LAST);
        return 0;
}

/* Row 13 of issue 19: a stage waits, on the loop and within the "holders" deadline, for a
 * holder nobody can ask to let go. Returns 2: the engine runs, with no stage yet. */
static int preflight_wait_start(Engine *e, const Machine *m) {
        uint64_t deadline = e->deadline_usec[DEADLINE_HOLDERS];
        int r;

        log_info("Waiting up to %.1f s (the \"holders\" deadline) before anything changes.", deadline / 1e6);
        e->state = ENGINE_PREFLIGHT;
        unit_ask_clear(e);      /* the answer would be older than the wait: observed anew */
        r = sd_event_add_time_relative(e->event, &e->preflight_deadline, CLOCK_MONOTONIC, deadline, 0,
                                       on_preflight_deadline, e);
        if (r >= 0)
                r = sd_event_add_defer(e->event, &e->preflight_again, on_preflight_again, e);
        if (r >= 0)
                r = sd_event_source_set_enabled(e->preflight_again, SD_EVENT_OFF);
        if (r >= 0)
                r = preflight_watch(e, m);
        if (r < 0) {
                preflight_wait_stop(e);
                return log_error_errno(r, "Failed to set up the wait for the GPU's holders: %m");
        }
        return 2;
}

/* Issue 17: the first stage's observation needs no holders (the session stage's does not): its
 * worker starts on the machine as read so far and runs while the holders are read here for the
 * pre-flights, which change nothing either. *mp then belongs to the observation; the engine's
 * Machine is the same object, which the worker, a process of its own, no longer sees change. */
static int engine_observe_early(Engine *e, Machine **mp) {
        int r;

        engine_order_all(e);
        /* A stage observed on the loop would run its step before the pre-flights. */
        if (e->n_order == 0 || stage_reads_holders(e, e->order[0]) || unit_answers(e, e->order[0]) ||
            e->order[0]->observe_on_loop)
                return 0;
        e->unchanged_flags = MACHINE_SKIP_HOLDERS;
        r = stage_observe(e, e->order[0], *mp, now_usec());
        return r < 0 ? 0 : r;   /* without it, on_next() observes as always */
}

static int engine_plan_handover(Engine *e, Machine **mp) {
        Journal *j = NULL;
        int r;

        r = journal_load(e->rundir, false, &j);
        if (r >= 0) {
                JournalState state = journal_state(j);

                journal_free(j);
                if (state == JOURNAL_STATE_GUEST) {
                        log_info("The GPU is already handed over; nothing to do.");
                        return 0;
                }
                return log_error_errno(SYNTHETIC_ERRNO(ESTALE),
                                       "An interrupted transition is recorded in %s/journal: run 'baton recover' first.",
                                       e->rundir);
        }
        if (r == -EBADMSG)
                return log_error_errno(SYNTHETIC_ERRNO(ESTALE),
                                       "%s/journal is unreadable: run 'baton recover' first.", e->rundir);
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "Failed to read %s/journal: %m: a handover needs root.", e->rundir);
        if (r != -ENOENT)
                return log_error_errno(r, "Failed to read %s/journal: %m", e->rundir);

        /* Nothing is recorded or changed when a stage can already tell it would refuse: the
         * pre-flights run once the walk of /proc for the holders is done. */
        r = engine_observe_early(e, mp);
        if (r >= 0)
                r = preflight_walk(e, *mp, PREFLIGHT_MAY_WAIT);
        if (r < 0) {
                engine_observe_cancel(e, mp);
                return log_sink_full_errno(&e->preflight_sink, LOG_ERR, r, "Failed to observe the machine: %s",
                                           step_observe_error(r));
        }
        *mp = NULL;     /* the walk's, or the early observation's */
        return 2;
}

static int engine_plan_to_host(Engine *e, EngineOp op) {
        int r;

        r = journal_load(e->rundir, true, &e->journal);
        if (r >= 0 && journal_state(e->journal) == JOURNAL_STATE_GUEST) {
                struct stat st;

                /* The last line of a completed handover is its "complete": the file's mtime is
                 * when the handover ended. */
                if (fstat(e->journal->fd, &st) >= 0)
                        e->handover_realtime_usec = (uint64_t) st.st_mtim.tv_sec * 1000000ULL +
                                                    (uint64_t) st.st_mtim.tv_nsec / 1000;
        }
        if (r == -ENOENT && op == ENGINE_RETURN) {
                log_info("No handover is recorded: the machine is in host state; nothing to do.");
                return 0;
        }
        /* A journal this process may not read is no corrupt journal: acting from observation
         * would be a guess made without permission. */
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "Failed to read %s/journal: %m: %s needs root.", e->rundir,
                                       engine_op_to_string(op));
        if (r == -EBADMSG || (r < 0 && r != -ENOENT)) {
                if (op == ENGINE_RETURN)
                        return log_error_errno(r, "Failed to read %s/journal: %m; run 'baton recover'.", e->rundir);
                log_warning_errno(r, "The journal in %s is unreadable (%m): recovering from observation alone.",
                                  e->rundir);
                (void) journal_set_aside(e->rundir);
        }
        stages_before_host(e);
        e->state = ENGINE_TO_HOST;
        if (e->journal) {
                if (e->journal->torn)
                        log_info("The journal's last line was torn by a crash; it was never acted on.");
                for (size_t i = e->journal->n_stages; i > 0; i--) {
                        const JournalStage *js = &e->journal->stages[i - 1];
                        const Stage *st = stage_find(js->name);

                        if (js->committed && !js->undone && st)
                                e->order[e->n_order++] = st;
                }
        } else {
                size_t n = 0;

                log_info("No journal: converging every stage to host state from observation.");
                while (e->stages[n])
                        n++;
                while (n > 0)
                        e->order[e->n_order++] = e->stages[--n];
        }
        return 1;
}

/* Row 16 of issue 19: two processes (two CLIs, or a CLI and the daemon) must not both move
 * the machine; the second is told the truth about the first. */
static int engine_lock(Engine *e, EngineOp op) {
        _cleanup_free_ char *other = NULL;
        pid_t pid = 0;
        int r;

        r = transition_lock_take(e->rundir, engine_op_to_string(op), &e->lock, &other, &pid);
        if (r == -EBUSY && pid > 0)
                return log_error_errno(r, "A %s is in progress, pid %i: wait for it to end ('baton status').",
                                       other ?: "transition", (int) pid);
        if (r == -EBUSY)
                return log_error_errno(r, "A transition is in progress in another process: wait for it to end "
                                       "('baton status').");
        if (r == -EACCES || r == -EPERM)
                return log_error_errno(r, "Failed to lock %s: %m: %s needs root.", e->rundir,
                                       engine_op_to_string(op));
        if (r < 0)
                return log_error_errno(r, "Failed to lock %s for the %s: %m", e->rundir, engine_op_to_string(op));
        return 0;
}

/* The rest of a start, on a machine that answers: observe it, plan, and run. Returns 1 when
 * the first stage is scheduled (or a pre-flight waits), 0 when there is nothing to do, or a
 * logged negative errno. */
static int engine_start_observed(Engine *e, EngineOp op, bool locked) {
        _cleanup_(machine_freep) Machine *m = NULL;
        MachineFlags flags;
        int r;

        /* A walk of /proc for the holders is most of an observation (issue 17): towards the host
         * nothing before the first stage looks at them, and a handover's pre-flights read them
         * while the first stage is observed (engine_observe_early()). */
        flags = MACHINE_SKIP_HOLDERS;
        if (op == ENGINE_HANDOVER)
                unit_ask(e);
        r = machine_load(e->root, flags, &m);
        if (r < 0)
                return log_sink_full_errno(&e->preflight_sink, LOG_ERR, r, "Failed to observe the machine: %m");
        log_debug("Read the machine in %.1f ms from the %s request.", (now_usec() - e->start_usec) / 1e3,
                  engine_op_to_string(op));
        if (!machine_has_gpu(m))
                return log_sink_full_errno(&e->preflight_sink, LOG_ERR, SYNTHETIC_ERRNO(ENODEV),
                                           "refusing: no display-class GPU on this machine");
        free(e->gpu);
        e->gpu = strdup(m->gpu->address);
        if (!e->gpu)
                return -ENOMEM;
        if (!locked) {
                r = engine_lock(e, op);
                if (r < 0)
                        return r;
        }
        r = op == ENGINE_HANDOVER ? engine_plan_handover(e, &m) : engine_plan_to_host(e, op);
        if (r == 1) {
                /* Issue 17: nothing changed since this observation; it serves the first stage.
                 * (A handover's goes on from its pre-flights' walk: preflight_decide().) */
                engine_keep_observation(e, TAKE_PTR(m), flags);
                engine_schedule_next(e);
        }
        return r < 0 ? r : r > 0;
}

static void engine_start_failed(Engine *e, int r) {
        e->error = r < 0 ? r : 0;
        e->journal = journal_free(e->journal);
        engine_finish(e);       /* releases the lock, calls done() */
}

static int load_in_child(void *userdata) {
        _cleanup_(machine_freep) Machine *m = NULL;
        Engine *e = userdata;

        return machine_load(e->root, MACHINE_SKIP_HOLDERS, &m);
}

static void on_observable(ChildRun *c, int r, const char *out, size_t size, void *userdata) {
        Engine *e = userdata;
        char t[32];

        e->observable = child_run_free(c);
        e->observable_notice = sd_event_source_disable_unref(e->observable_notice);
        format_usec(e->deadline_usec[DEADLINE_UNBIND], t, sizeof(t));
        if (r == -ETIMEDOUT)
                return engine_start_failed(e, log_sink_full_errno(&e->preflight_sink, LOG_ERR,
                                           SYNTHETIC_ERRNO(ETIMEDOUT), "The kernel is still writing to a "
                                           "device after %s (a driver unbind that does not return): nothing "
                                           "can be changed until it finishes. Try again later.", t));
        /* What failed in the child, machine_load() says again. */
        r = engine_start_observed(e, e->op, true);
        if (r <= 0)
                engine_start_failed(e, r);
}

static int on_observable_slow(sd_event_source *src, uint64_t usec, void *userdata) {
        Engine *e = userdata;
        char t[32];

        format_usec(e->deadline_usec[DEADLINE_UNBIND], t, sizeof(t));
        log_notice("The machine's sysfs does not answer: the kernel is still writing to a device (a driver unbind "
                   "in flight). Waiting up to %s for it.", t);
        return 0;
}

/* Row 17 of issue 19: a device whose driver unbind is still in the kernel (a process killed
 * during the unbind, a card held by an fd in flight) blocks every reader of its sysfs
 * attributes. Towards the host the machine is first read by a worker, up to the "unbind"
 * deadline, awaited on the loop (issue 14: the daemon's loop answers its bus
 * meanwhile); after a second without an answer baton says what it waits for. A worker stuck
 * in the kernel is left behind, its output on /dev/null (it must not hold a caller's pipe
 * open), and dies with this process once the kernel lets go of it. */
static int engine_start_observable(Engine *e) {
        uint64_t deadline = e->deadline_usec[DEADLINE_UNBIND];
        int r;

        r = child_worker_async(e->event, deadline, CHILD_LEAVE_BEHIND | CHILD_NULL_STDIO, load_in_child, e, on_observable, e,
                               &e->observable);
        if (r >= 0 && deadline > 1000000ULL)
                r = sd_event_add_time_relative(e->event, &e->observable_notice, CLOCK_MONOTONIC, 1000000ULL, 0,
                                               on_observable_slow, e);
        if (r < 0) {
                e->observable = child_run_free(e->observable);
                return log_error_errno(r, "Failed to start looking at the machine: %m");
        }
        e->state = ENGINE_OBSERVING;
        return 1;
}

int engine_start(Engine *e, EngineOp op, engine_done_t done, void *userdata) {
        uint64_t requested = now_usec();
        int r;

        if (e->state != ENGINE_IDLE)
                return -EBUSY;
        if (e->n_stragglers > 0)
                return log_error_errno(SYNTHETIC_ERRNO(EBUSY),
                                       "The kernel is still writing %s: the machine cannot be observed until "
                                       "it finishes.", e->stragglers[0]->what);

        timeline_clear(e);
        log_sink_done(&e->preflight_sink);
        e->prepare_usec = 0;
        e->kept = strv_free(e->kept);
        e->start_usec = requested;
        e->start_realtime_usec = now_realtime_usec();
        e->end_usec = e->handover_realtime_usec = 0;
        e->n_order = e->pos = 0;
        e->error = 0;
        e->rollback_incomplete = false;
        unit_ask_clear(e);
        e->op = op;
        e->journal = journal_free(e->journal);
        e->done = done;
        e->done_userdata = userdata;

        /* A return with no journal has nothing to do, and no driver unbind of a return can be in
         * the kernel: decided at once. */
        if (op == ENGINE_HANDOVER || (op == ENGINE_RETURN && !journal_exists(e->rundir)))
                r = engine_start_observed(e, op, false);
        else {
                /* A recover, or a return of a recorded handover: the machine is read by a worker
                 * first, under the lock. */
                r = engine_lock(e, op);
                if (r >= 0)
                        r = engine_start_observable(e);
        }
        if (r <= 0) {
                e->state = ENGINE_IDLE;
                e->journal = journal_free(e->journal);
                unit_ask_clear(e);
                transition_lock_release(&e->lock);
                e->done = NULL;
                return r;
        }
        return 1;
}

void engine_set_system_bus(Engine *e, sd_bus *bus) {
        sd_bus_unref(e->system_bus);
        e->system_bus = sd_bus_ref(bus);
}

void engine_set_progress(Engine *e, engine_progress_t progress, void *userdata) {
        e->progress = progress;
        e->progress_userdata = userdata;
}

int engine_cancel(Engine *e) {
        if (e->state == ENGINE_PREFLIGHT) {
                /* In the pre-flight: the wait ends from the loop, or the walk under way ends it. */
                e->state = ENGINE_CANCELLING;
                if (e->preflight_again)
                        (void) sd_event_source_set_enabled(e->preflight_again, SD_EVENT_ONESHOT);
                return 1;
        }
        if (e->state != ENGINE_TO_GUEST)
                return 0;
        e->state = ENGINE_CANCELLING;
        return 1;
}

bool engine_running(const Engine *e) {
        return e->state != ENGINE_IDLE;
}

EngineState engine_state(const Engine *e) {
        return e->state;
}

EngineOp engine_op(const Engine *e) {
        return e->op;
}

const char *engine_current_stage(const Engine *e) {
        if (e->walk_stage)
                return e->walk_stage->name;     /* its holders being read */
        if (e->observed_stage)
                return e->observed_stage->name;
        if (e->unit_waiting)
                return e->unit_stage->name;     /* observed once systemd answers */
        return e->step ? e->step->stage->name : NULL;
}

static const char *const engine_op_table[_ENGINE_OP_MAX] = {
        [ENGINE_HANDOVER] = "handover",
        [ENGINE_RETURN] = "return",
        [ENGINE_RECOVER] = "recover",
};

DEFINE_STRING_TABLE_LOOKUP_TO_STRING(engine_op, EngineOp);

int engine_format_timeline(const Engine *e, int result, char **ret) {
        _cleanup_free_ char *text = NULL;
        uint64_t total = 0;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -errno;
        if (e->n_timeline > 0)
                fprintf(f, "%s of %s:\n", engine_op_to_string(e->op), strna(e->gpu));
        for (size_t i = 0; i < e->n_timeline; i++) {
                const StageTiming *t = &e->timeline[i];

                total += t->usec;
                if (t->skipped)
                        fprintf(f, "  %-15s %-8s %10s  nothing to do\n", t->stage, "to guest", "-");
                else
                        fprintf(f, "  %-15s %-8s %7.1f ms  %s%s\n", t->stage, t->to_guest ? "to guest" : "to host",
                                t->usec / 1000.0,
                                t->result < 0 ? t->reason ?: strerror(-t->result) :
                                t->warning ? "ok, with a warning: " : "ok", t->result >= 0 ? strempty(t->warning) : "");
        }
        if (e->n_timeline > 0)
                fprintf(f, "  %-24s %7.1f ms  %s\n", "total", total / 1000.0, result < 0 ? "FAILED" : "ok");
        if (fclose(f) != 0)
                return -errno;
        *ret = TAKE_PTR(text);
        return 0;
}

const StageTiming *engine_timeline(const Engine *e, size_t *ret_n) {
        *ret_n = e->n_timeline;
        return e->timeline;
}

const char *engine_refusal(const Engine *e) {
        return e->preflight_sink.error;
}

bool engine_rollback_incomplete(const Engine *e) {
        return e->rollback_incomplete;
}

uint64_t engine_prepare_usec(const Engine *e) {
        return e->prepare_usec;
}

const char *engine_gpu(const Engine *e) {
        return e->gpu;
}

bool engine_stage_acted(const Engine *e, const char *stage) {
        return strv_contains(e->kept, stage);
}

const char *engine_record_get(const Engine *e, const char *stage, const char *key) {
        size_t ls = strlen(stage), lk = strlen(key);

        STRV_FOREACH(kv, e->kept)
                if (strncmp(*kv, stage, ls) == 0 && (*kv)[ls] == ' ' && strncmp(*kv + ls + 1, key, lk) == 0 &&
                    (*kv)[ls + 1 + lk] == '=')
                        return *kv + ls + 1 + lk + 1;
        return NULL;
}

uint64_t engine_duration_usec(const Engine *e) {
        return e->end_usec > e->start_usec ? e->end_usec - e->start_usec : 0;
}

uint64_t engine_guest_usec(const Engine *e) {
        if (e->handover_realtime_usec == 0 || e->start_realtime_usec <= e->handover_realtime_usec)
                return 0;
        return e->start_realtime_usec - e->handover_realtime_usec;
}
