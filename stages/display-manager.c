/* SPDX-License-Identifier: GPL-2.0-or-later */
/* display-manager: the display manager's systemd unit.
 *
 * The display manager (gdm, sddm, lightdm; weston as lab-compositor.service in the lab) is
 * the GPU's main user on the host: its compositor is DRM master and scans out. The unit is
 * $BATON_DISPLAY_MANAGER or display-manager.service, the alias every display manager
 * installs, resolved through systemd to the unit's own name.
 *
 * to_guest stops that unit (StopUnit, "replace") and waits for the job's JobRemoved within
 * the "unit" deadline, then asks systemd again: the unit must be inactive or failed. A
 * unit whose stop job outlives the deadline (one that ignores SIGTERM, while systemd waits
 * TimeoutStopSec) gets its processes killed (KillUnit, SIGKILL) and the stop job is waited
 * for once more: no stop job of baton's is left running for a rollback's start to queue
 * behind.
 *
 * to_host starts the recorded unit again (StartUnit, "replace", which also replaces a stop
 * job still running) when it was running, and once the job is done requires it to stay
 * active for a settle window (a Type=simple service is active as soon as it forked, and one
 * that finds no screen fails milliseconds later), waiting while it is activating, all within
 * the unit deadline. One that fails on a machine left with no screen at all (a GPU without
 * a native driver, whose firmware framebuffer the kernel removed) is a warning: nothing
 * starts it before the next boot, so the journal must not stay for it. Starting a running
 * unit is a job that is done at once, so to_host may run any number of times. Without a
 * record (recover from observation: no journal, or one too corrupt to read) the host state
 * is what the machine is set up to boot into: the display manager is started when it is
 * enabled (display-manager.service is the alias of it, or its unit file is enabled) and
 * stopped; a unit that is disabled or masked is left alone.
 *
 * Journal: "unit" = the unit's own name (gdm.service); "active" = "1" when it was running
 * or starting (to_guest stops it, to_host starts it), "0" when it was not (to_host leaves
 * it alone).
 *
 * observe() asks systemd on a short-lived connection of its own. Where systemd cannot be
 * reached (no system bus, as on a build machine or in a container) no display manager can
 * be stopped: the stage has nothing to do and its plan line says why, and drm-idle still
 * waits for any process that holds the GPU. A fixture root (--root) describes another
 * machine, whose units are not this system's: nothing is looked up then.
 */

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#include <systemd/sd-bus.h>

#include "config-file.h"
#include "display-manager.h"
#include "drm-idle.h"
#include "engine.h"
#include "log.h"
#include "parse-util.h"
#include "stage.h"
#include "strv.h"
#include "unit-job.h"

/* --- What the stage says: pure functions, unit-tested --- */

const char *display_manager_unit_name(const Config *c) {
        /* [display-manager] unit = in baton.conf (BATON_DISPLAY_MANAGER in tests: the front
         * ends put it there, config_apply_environment()). */
        return isempty(c->display_manager_unit) ? "display-manager.service" : c->display_manager_unit;
}

bool display_manager_systemd_unreachable(int error) {
        /* ServiceUnknown and NameHasNoOwner arrive as EHOSTUNREACH and ENXIO. */
        return error == -ENOENT || error == -ECONNREFUSED || error == -EHOSTUNREACH || error == -ENXIO;
}

int display_manager_label(const char *name, const char *id, char **ret) {
        int k;

        k = streq(name, id) ? asprintf(ret, "%s", id) : asprintf(ret, "%s (%s)", id, name);
        return k < 0 ? -ENOMEM : 0;
}

int display_manager_judge(const char *name, int error, const UnitInfo *info, uint64_t wait_usec,
                          StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_strv_free_ char **plan = NULL;
        _cleanup_free_ char *label = NULL;
        StagePosition pos;
        char wait[32];
        int r;

        if (error < 0 && !display_manager_systemd_unreachable(error))
                return error;
        if (error < 0) {
                pos = STAGE_NOTHING_TO_DO;
                r = strv_extendf(&plan, "systemd cannot be reached on the system bus (%s): no display "
                                 "manager to stop; drm-idle still waits for any process holding the GPU",
                                 strerror(-error));
        } else if (!unit_info_exists(info)) {
                pos = STAGE_NOTHING_TO_DO;
                r = strv_extendf(&plan, "no %s on this machine: no display manager to stop", name);
        } else {
                r = display_manager_label(name, info->id, &label);
                if (r < 0)
                        return r;
                format_usec(wait_usec, wait, sizeof(wait));
                pos = unit_active_state_is_down(info->active_state) ? STAGE_AT_GUEST : STAGE_AT_HOST;
                if (pos == STAGE_AT_GUEST)
                        r = strv_extendf(&plan, "%s is %s: nothing to stop", label, info->active_state);
                else
                        r = strv_extendf(&plan, "stop %s, wait for its job (up to %s)", label, wait);
                /* Row 14 of issue 19: a display manager that ignores SIGTERM outlives baton's
                 * wait, and systemd kills it only at TimeoutStopSec. */
                if (r >= 0 && pos == STAGE_AT_HOST && info->timeout_stop_usec > wait_usec) {
                        char stop[32];

                        format_usec(info->timeout_stop_usec, stop, sizeof(stop));
                        r = strv_extendf(&plan, "note: systemd gives %s up to %s to stop (TimeoutStopSec), longer "
                                         "than baton waits (%s, [deadlines] unit): one that ignores SIGTERM "
                                         "is then killed with SIGKILL; lower its TimeoutStopSec or raise the "
                                         "deadline",
                                         info->id, stop, wait);
                }
        }
        if (r < 0)
                return r;
        *ret_pos = pos;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

bool display_manager_should_start(const char *name, const UnitInfo *info) {
        const char *file = info->unit_file_state;

        if (!unit_info_exists(info) || streq_ptr(info->load_state, "masked") ||
            !unit_active_state_is_down(info->active_state))
                return false;
        if (info->id && !streq(name, info->id))
                return true;    /* reached through an alias: the one the machine boots into */
        return streq_ptr(file, "enabled") || streq_ptr(file, "enabled-runtime") || streq_ptr(file, "alias");
}

DisplayManagerStart display_manager_judge_start(const char *active_state, bool settled, bool drawing) {
        if (unit_active_state_is_down(active_state))
                return DM_START_DOWN;
        if (streq_ptr(active_state, "active") || streq_ptr(active_state, "reloading"))
                return settled || drawing ? DM_START_UP : DM_START_SETTLE;
        return DM_START_WAIT;
}

bool display_manager_machine_has_display(const Machine *m) {
        if (m->gpu && m->gpu->driver && !streq(m->gpu->driver, "vfio-pci") && machine_card_node(m))
                return true;
        for (size_t i = 0; i < m->n_fbs; i++)
                if (m->fbs[i].driver)
                        return true;
        for (size_t i = 0; i < m->n_vtcons; i++)
                if (m->vtcons[i].is_fb && m->vtcons[i].bound)
                        return true;
        return false;
}

/* --- The stage --- */

/* How long a started display manager must stay active to count as started (row 20 of
 * issue 19): a Type=simple service is active once it forked, and one that finds no
 * screen fails within milliseconds. Bounded by the unit deadline. It ends as soon as a
 * compositor is DRM master of the GPU's card: looked for at once when a process opens or
 * closes the card's node (the compositor, or logind for it, opens it to become master), and
 * every DM_DRAWING_USEC besides, since becoming master can follow the open. The window is
 * the fallback for a machine where nothing can take the card. While the unit is
 * activating (a Type=notify service not ready yet, a restart pending) it is looked at
 * again every DM_RECHECK_USEC until the deadline. */
#define DM_SETTLE_USEC (2ULL * 1000 * 1000)
#define DM_DRAWING_USEC (100ULL * 1000)
#define DM_RECHECK_USEC (250ULL * 1000)

typedef struct DisplayManager DisplayManager;
/* What comes after systemd told about the unit: 0, a logged negative errno, or STEP_PENDING. */
typedef int (*then_t)(DisplayManager *dm, UnitInfo *info);

struct DisplayManager {
        Step *step;
        sd_bus *bus;
        UnitQuery *query;
        UnitJob *job;
        uint64_t timeout_usec;
        char *unit;             /* the unit's own name */
        then_t then;
        sd_bus_slot *kill;              /* KillUnit, for a unit that outlived its stop's deadline */
        bool killed;
        sd_event_source *recheck;       /* the next look at a unit being started */
        sd_event_source *card_watch;    /* inotify on the card's node, from the start job on */
        char *card;                     /* that node */
        bool card_touched;              /* the node was opened or closed while no look was due */
        uint64_t settle_at, give_up_at; /* CLOCK_MONOTONIC, set at the first look after StartUnit */
};

static void display_manager_free(void *p) {
        DisplayManager *dm = p;

        if (!dm)
                return;
        unit_query_free(dm->query);
        unit_job_free(dm->job);
        sd_event_source_disable_unref(dm->recheck);
        sd_event_source_disable_unref(dm->card_watch);
        free(dm->card);
        sd_bus_slot_unref(dm->kill);
        sd_bus_unref(dm->bus);
        free(dm->unit);
        free(dm);
}

/* The step's connection (step_system_bus()); the step lets go of it when it ends. */
static int display_manager_new(Step *s, DisplayManager **ret) {
        DisplayManager *dm;
        int r;

        dm = calloc(1, sizeof(DisplayManager));
        if (!dm)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        *dm = (DisplayManager) { .step = s, .timeout_usec = step_deadline_usec(s, DEADLINE_UNIT) };
        step_set_userdata(s, dm, display_manager_free);

        r = step_system_bus(s, &dm->bus);
        if (r < 0)
                return r;
        *ret = dm;
        return 0;
}

static void on_unit_info(UnitQuery *q, int r, UnitInfo *info, const char *message, void *userdata) {
        DisplayManager *dm = userdata;

        dm->query = unit_query_free(q);
        r = r < 0 ? step_error_errno(dm->step, r, "%s", message) : dm->then(dm, info);
        if (r != STEP_PENDING)
                step_finish(dm->step, r);       /* frees dm */
}

/* Asks systemd about unit, then goes on with then(). */
static int look_up(DisplayManager *dm, const char *unit, then_t then) {
        int r;

        dm->then = then;
        r = unit_query_new(dm->bus, unit, dm->timeout_usec, on_unit_info, dm, &dm->query);
        if (r < 0)
                return step_error_errno(dm->step, r, "Failed to look up %s: %m", unit);
        return STEP_PENDING;
}

static int check_stopped(DisplayManager *dm, UnitInfo *info);
static int kill_unit(DisplayManager *dm);

static void on_job_done(UnitJob *j, int r, const char *message, void *userdata) {
        DisplayManager *dm = userdata;
        char t[32];

        dm->job = unit_job_free(j);
        if (r == -ETIMEDOUT && dm->then == check_stopped && !dm->killed) {
                /* Row 14 of issue 19: a display manager that ignores its stop signal keeps its
                 * stop job running until TimeoutStopSec (90 s by default). Failing now would
                 * queue the rollback's StartUnit behind that job, to time out in turn; so
                 * after the unit deadline baton does what systemd would do later. */
                format_usec(dm->timeout_usec, t, sizeof(t));
                step_warning(dm->step,
                             "%s did not stop within %s (does it ignore its stop signal?): killing its "
                             "processes with SIGKILL, as systemd would at its TimeoutStopSec.", dm->unit, t);
                dm->killed = true;
                r = kill_unit(dm);
        } else if (r < 0)
                r = step_error_errno(dm->step, r, "%s", message);
        else {
                step_crash_point(dm->step, "job done, before the unit is checked");
                /* The job's result says what systemd did; the unit's state is what counts. */
                r = look_up(dm, dm->unit, dm->then);
        }
        if (r != STEP_PENDING)
                step_finish(dm->step, r);       /* frees dm */
}

/* Runs method on dm->unit, then looks at the unit again and goes on with check(). */
static int run_job(DisplayManager *dm, const char *method, then_t check) {
        int r;

        dm->then = check;
        r = unit_job_run(dm->bus, step_event(dm->step), method, dm->unit, dm->timeout_usec,
                         on_job_done, dm, &dm->job);
        if (r < 0)
                return step_error_errno(dm->step, r, "Failed to %s %s: %m", unit_job_verb(method), dm->unit);
        return STEP_PENDING;
}

static int on_killed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        DisplayManager *dm = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        dm->kill = sd_bus_slot_unref(dm->kill);
        if (e)
                r = step_error_errno(dm->step, sd_bus_message_get_errno(reply) ?: EIO,
                                     "Failed to kill the processes of %s: %s",
                                     dm->unit, e->message ?: e->name);
        else
                /* The stop job still runs: a StopUnit now joins it and ends with it, within
                 * another unit deadline. */
                r = run_job(dm, "StopUnit", check_stopped);
        if (r != STEP_PENDING)
                step_finish(dm->step, r);       /* frees dm */
        return 0;
}

/* Manager.KillUnit(unit, "all", SIGKILL): every process of the unit's cgroup. */
static int kill_unit(DisplayManager *dm) {
        int r;

        r = sd_bus_call_method_async(dm->bus, &dm->kill, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", "KillUnit", on_killed, dm, "ssi",
                                     dm->unit, "all", (int32_t) SIGKILL);
        if (r < 0)
                return step_error_errno(dm->step, r, "Failed to kill the processes of %s: %m", dm->unit);
        return STEP_PENDING;
}

static int check_stopped(DisplayManager *dm, UnitInfo *info) {
        if (!unit_active_state_is_down(info->active_state))
                return step_error_errno(dm->step, SYNTHETIC_ERRNO(EBUSY),
                                        "%s is still %s after its stop job finished.",
                                        dm->unit, info->active_state);
        log_info("Stopped %s.", dm->unit);
        return 0;
}

static int check_started(DisplayManager *dm, UnitInfo *info);

static int on_recheck(sd_event_source *es, uint64_t usec, void *userdata) {
        DisplayManager *dm = userdata;
        int r;

        dm->recheck = sd_event_source_disable_unref(dm->recheck);
        r = look_up(dm, dm->unit, check_started);
        if (r != STEP_PENDING)
                step_finish(dm->step, r);       /* frees dm */
        return 0;
}

/* Looks at the unit again at the monotonic time when, or at once when the card's node was
 * opened or closed while the last look ran. */
static int recheck_at(DisplayManager *dm, uint64_t when) {
        int r;

        if (dm->card_touched) {
                dm->card_touched = false;
                when = 0;
        }
        r = sd_event_add_time(step_event(dm->step), &dm->recheck, CLOCK_MONOTONIC, when, 10000, on_recheck, dm);
        if (r < 0)
                return step_error_errno(dm->step, r, "Failed to watch %s while it starts: %m", dm->unit);
        return STEP_PENDING;
}

/* The card's node was opened or closed: the next look is now, not at its time. */
static int on_card_event(sd_event_source *es, const struct inotify_event *event, void *userdata) {
        DisplayManager *dm = userdata;
        const char *what = event->mask & IN_OPEN ? "opened" : "closed";
        int r;

        if (!dm->recheck) {
                /* The start job or a look runs: recheck_at() brings the next look forward. */
                if (!dm->card_touched)
                        log_debug("%s was %s during %s of %s: looking again at once after it.", dm->card,
                                  what, dm->job ? "the start job" : "a look", dm->unit);
                dm->card_touched = true;
                return 0;
        }
        log_debug("%s was %s while %s starts: looking at it now, not at its time.", dm->card, what, dm->unit);
        r = sd_event_source_set_time(dm->recheck, 0);
        if (r < 0)
                log_debug_errno(r, "Failed to bring the next look at %s forward, it comes at its time: %m",
                                dm->unit);
        return 0;
}

/* Watches the GPU's card node of the live machine for the compositor's open, from before the
 * start job: a compositor that opens it while the job runs is then seen by the look after the
 * job, even one that found no DRM master yet. Ahead of the bus's messages, so that an open is
 * taken before the look it precedes ends the step. Without a node (no native driver, a fixture
 * root) or a watch, the looks at their times are enough. */
static void watch_card(DisplayManager *dm) {
        const char *card = machine_card_node(step_machine(dm->step));
        int r;

        if (!card || !step_is_live(dm->step))
                return;
        dm->card = strdup(card);
        if (!dm->card)
                return;                 /* the looks at their times */
        r = sd_event_add_inotify(step_event(dm->step), &dm->card_watch, card,
                                 IN_OPEN | IN_CLOSE_WRITE | IN_CLOSE_NOWRITE, on_card_event, dm);
        if (r >= 0)
                r = sd_event_source_set_priority(dm->card_watch, SD_EVENT_PRIORITY_IMPORTANT);
        if (r < 0) {
                log_debug_errno(r, "Failed to watch %s, looking for its DRM master at intervals only: %m", card);
                dm->card_watch = sd_event_source_disable_unref(dm->card_watch);
                return;
        }
        log_debug("Watching %s for the compositor's open while %s starts.", card, dm->unit);
}

/* StartUnit, the card watched from before it; then check_started(). */
static int start_unit(DisplayManager *dm) {
        watch_card(dm);
        return run_job(dm, "StartUnit", check_started);
}

/* The DRM master of the GPU's card, when a process is (debugfs), on a fresh look. */
static const DrmClient *drawing_now(DisplayManager *dm) {
        const Machine *m;

        if (step_reobserve(dm->step, &m) < 0)
                return NULL;            /* the settle window decides */
        return machine_drm_master(m);
}

static int check_started(DisplayManager *dm, UnitInfo *info) {
        const DrmClient *master = NULL;
        bool settled;
        uint64_t now;
        int r;

        r = sd_event_now(step_event(dm->step), CLOCK_MONOTONIC, &now);
        if (r < 0)
                return step_error_errno(dm->step, r, "Failed to read the clock: %m");
        if (dm->give_up_at == 0) {
                dm->give_up_at = now + dm->timeout_usec;
                dm->settle_at = now + (DM_SETTLE_USEC < dm->timeout_usec ? DM_SETTLE_USEC : dm->timeout_usec);
        }
        settled = now >= dm->settle_at;
        if (!settled && !unit_active_state_is_down(info->active_state))
                master = drawing_now(dm);
        switch (display_manager_judge_start(info->active_state, settled, master)) {
        case DM_START_UP:
                if (master)
                        log_info("Started %s (%s, and %s, pid %i, took the card as DRM master).", dm->unit,
                                 info->active_state, master->command, (int) master->pid);
                else
                        log_info("Started %s (%s, and it stayed up).", dm->unit, info->active_state);
                return 0;
        case DM_START_SETTLE:
                return recheck_at(dm, now + DM_DRAWING_USEC < dm->settle_at ? now + DM_DRAWING_USEC : dm->settle_at);
        case DM_START_WAIT:
                if (now < dm->give_up_at)
                        return recheck_at(dm, now + DM_RECHECK_USEC < dm->give_up_at ?
                                          now + DM_RECHECK_USEC : dm->give_up_at);
                break;
        case DM_START_DOWN:
                /* Row 20 of issue 19: with no screen left (no native driver, the firmware
                 * framebuffer removed) no display manager can run until the next boot; a
                 * failure here would only keep the journal, and every recover would fail. */
                if (!display_manager_machine_has_display(step_machine(dm->step))) {
                        step_warning(dm->step,
                                     "%s is %s right after it started: the GPU has no native driver and no "
                                     "framebuffer left to draw on, so no display manager can run until the "
                                     "next boot.", dm->unit, info->active_state);
                        return 0;
                }
                break;
        }
        return step_error_errno(dm->step, SYNTHETIC_ERRNO(EIO), "%s is %s after its start job finished%s.",
                                dm->unit, info->active_state,
                                unit_active_state_is_down(info->active_state) ? "" : " and did not settle");
}

static int stop_found(DisplayManager *dm, UnitInfo *info) {
        const char *name = display_manager_unit_name(step_config(dm->step));
        _cleanup_free_ char *label = NULL;
        Step *s = dm->step;
        int r;

        if (!unit_info_exists(info)) {
                log_info("There is no %s on this machine: no display manager to stop.", name);
                return 0;
        }
        r = display_manager_label(name, info->id, &label);
        if (r < 0)
                return step_error_errno(dm->step, r, "Failed to describe %s: %m", info->id);

        /* Starting, reloading: running as far as the way back is concerned. Stopping: not,
         * but it still holds the GPU until its stop job is done, so it is waited for. */
        r = step_record(s, "unit", info->id);
        if (r >= 0)
                r = step_record(s, "active", unit_active_state_is_up(info->active_state) ? "1" : "0");
        if (r >= 0)
                r = step_commit(s);
        if (r < 0)
                return step_error_errno(dm->step, r, "Failed to record the state of %s: %m", label);

        if (unit_active_state_is_down(info->active_state)) {
                log_info("%s is %s: nothing to stop.", label, info->active_state);
                return 0;
        }
        dm->unit = TAKE_PTR(info->id);
        log_info("Stopping %s.", label);
        return run_job(dm, "StopUnit", check_stopped);
}

/* No record: start the display manager when the machine is set up to run it. */
static int start_unrecorded(DisplayManager *dm, UnitInfo *info) {
        const char *name = display_manager_unit_name(step_config(dm->step));
        _cleanup_free_ char *label = NULL;
        int r;

        if (!unit_info_exists(info)) {
                log_info("No record of the display manager, and no %s on this machine: nothing to start.", name);
                return 0;
        }
        r = display_manager_label(name, info->id, &label);
        if (r < 0)
                return step_error_errno(dm->step, r, "Failed to describe %s: %m", info->id);
        if (info->job_id != 0 && display_manager_should_start(name, info)) {
                /* At boot, baton-recover.service runs before the display manager, whose start
                 * job waits for it: waiting for that job here would wait for ourselves. */
                log_info("No record of the display manager: %s has job %" PRIu32 " queued; systemd "
                         "starts it.", label, info->job_id);
                return 0;
        }
        if (!display_manager_should_start(name, info)) {
                log_notice("No record of the display manager: leaving %s as it is (%s, %s%s%s).",
                           label, info->load_state, info->active_state,
                           info->unit_file_state ? ", unit file " : "", strempty(info->unit_file_state));
                return 0;
        }
        dm->unit = TAKE_PTR(info->id);
        log_notice("No record of the display manager: starting %s, the enabled display manager.", label);
        return start_unit(dm);
}

static int display_manager_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                                   StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_(sd_bus_unrefp) sd_bus *bus = NULL;
        _cleanup_(unit_info_done) UnitInfo info = {};
        _cleanup_free_ char *message = NULL;
        const char *name = display_manager_unit_name(ctx->config);
        uint64_t wait_usec = ctx->deadline_usec[DEADLINE_UNIT];
        int r;

        if (!streq(m->root, "/")) {
                _cleanup_strv_free_ char **plan = NULL;

                r = strv_extendf(&plan, "%s not looked up: the machine is read from %s, and this "
                                 "system's units are not its", name, m->root);
                if (r < 0)
                        return r;
                *ret_pos = STAGE_NOTHING_TO_DO;
                *ret_plan = TAKE_PTR(plan);
                return 0;
        }

        r = sd_bus_open_system(&bus);
        if (r >= 0)
                r = unit_info_get(bus, name, wait_usec, &info, &message);
        /* The TimeoutStopSec note is a later line: not asked when only the first counts (issue
         * 17: a call of 4-12 ms before a handover's first action, in the lab). */
        if (r >= 0 && unit_info_exists(&info) && !ctx->first_line_only)
                (void) unit_stop_timeout(bus, wait_usec, &info);       /* not a service: no line */
        /* observe() only reports; to_guest, if it runs, logs what fails there. */
        if (r < 0 && message)
                log_debug_errno(r, "%s", message);
        else if (r < 0)
                log_debug_errno(r, "Failed to connect to the system bus: %m");
        return display_manager_judge(name, r, &info, wait_usec, ret_pos, ret_plan);
}

/* The look at the unit on the front end's connection (Stage.observed_unit): the same as
 * observe() above, on the live machine only. */
static const char *display_manager_observed_unit(StageInstance *self, const StageContext *ctx) {
        return streq(ctx->root, "/") ? display_manager_unit_name(ctx->config) : NULL;
}

static int display_manager_judge_unit(StageInstance *self, const StageContext *ctx, int error, const UnitInfo *info,
                                      StagePosition *ret_pos, char ***ret_plan) {
        return display_manager_judge(display_manager_unit_name(ctx->config), error, info,
                                     ctx->deadline_usec[DEADLINE_UNIT], ret_pos, ret_plan);
}

static int display_manager_to_guest(Step *s) {
        DisplayManager *dm;
        int r;

        if (!step_is_live(s)) {
                log_debug("Not stopping a display manager: the machine is read from %s.", step_root(s));
                return 0;
        }
        r = display_manager_new(s, &dm);
        if (r < 0)
                return r;
        return look_up(dm, display_manager_unit_name(step_config(s)), stop_found);
}

static int start_recorded(DisplayManager *dm, UnitInfo *info);

static int display_manager_to_host(Step *s) {
        const char *unit = step_get(s, "unit");
        DisplayManager *dm;
        int r;

        if (!step_is_live(s)) {
                log_debug("Not starting a display manager: the machine is read from %s.", step_root(s));
                return 0;
        }
        if (!step_has_record(s)) {
                r = display_manager_new(s, &dm);
                if (r < 0)
                        return r;
                return look_up(dm, display_manager_unit_name(step_config(s)), start_unrecorded);
        }
        if (!unit)
                return step_error_errno(s, SYNTHETIC_ERRNO(EBADMSG),
                                        "The display manager's record names no unit.");
        if (!streq_ptr(step_get(s, "active"), "1")) {
                log_info("%s was not running before the handover: leaving it stopped.", unit);
                return 0;
        }

        r = display_manager_new(s, &dm);
        if (r < 0)
                return r;
        /* Row 9 of issue 19: the journal is trusted only as far as the machine and the
         * configuration confirm it: the unit started is the configured one (what its name,
         * display-manager.service an alias, resolves to now), never just what is written. */
        return look_up(dm, display_manager_unit_name(step_config(s)), start_recorded);
}

static int start_recorded(DisplayManager *dm, UnitInfo *info) {
        const char *name = display_manager_unit_name(step_config(dm->step)), *unit = step_get(dm->step, "unit");

        if (!unit_info_exists(info) || !streq(info->id, unit)) {
                /* Not failed: no later recover could use the record either. The configured
                 * display manager is then handled as without a record. */
                step_warning(dm->step,
                             "The journal names %s as the display manager, but [display-manager] unit is "
                             "%s%s%s: not starting it.", unit, name,
                             unit_info_exists(info) ? ", which is " : " (not on this machine)",
                             unit_info_exists(info) ? info->id : "");
                return start_unrecorded(dm, info);
        }
        dm->unit = strdup(unit);
        if (!dm->unit)
                return step_error_errno(dm->step, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        log_info("Starting %s again.", unit);
        return start_unit(dm);
}

const Stage stage_display_manager = {
        .name = "display-manager",
        .summary = "the display manager (a systemd unit)",
        .observe = display_manager_observe,
        .observed_unit = display_manager_observed_unit,
        .judge_unit = display_manager_judge_unit,
        .to_guest = display_manager_to_guest,
        .to_host = display_manager_to_host,
};
