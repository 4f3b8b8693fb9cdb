/* SPDX-License-Identifier: GPL-2.0-or-later */
/* gpu-daemons: the system services that keep a GPU driver's device nodes open for good.
 *
 * nvidia-persistenced holds /dev/nvidiactl and /dev/nvidia* open for as long as it runs
 * (that is its purpose: keep the driver initialised with no client). It never exits on its
 * own, so drm-idle would wait for it until its deadline, and nvidia could be neither
 * unbound nor unloaded. This stage stops such services after the display manager and
 * before anything waits for the GPU's holders; it comes back after gpu-modules has loaded
 * the driver again, which the service needs.
 *
 * Policy: the GPU's driver names the services (nvidia: nvidia-persistenced.service); any
 * other driver has none and the stage has nothing to do.
 *
 * to_guest looks each service up, records whether it was running, commits, then stops the
 * running ones one after the other (StopUnit, the "unit" deadline) and requires them
 * inactive or failed afterwards. to_host starts those recorded as running (StartUnit is
 * done at once for a running unit, so it converges from any point) and requires them up.
 * Without a record (recover without a journal) it changes nothing: whether the service ran
 * is not observable any more, and systemd starts an enabled one at boot.
 *
 * Journal: "unit.<name>" = "1" when it was running (to_host starts it), "0" when not.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include <systemd/sd-bus.h>

#include "engine.h"
#include "log.h"
#include "stage.h"
#include "strv.h"
#include "unit-job.h"

#define UNIT_KEY "unit."

static const char *const nvidia_daemons[] = { "nvidia-persistenced.service", NULL };

static const char *const *gpu_daemons_for_driver(const char *driver) {
        if (driver && streq(driver, "nvidia"))
                return nvidia_daemons;
        return NULL;
}

typedef struct Daemons {
        Step *step;
        sd_bus *bus;
        UnitQuery *query;
        UnitJob *job;
        uint64_t timeout_usec;
        bool to_guest;
        const char *const *policy;      /* to_guest: the driver's services, looked up in turn */
        char **units;           /* to act on, in order */
        size_t pos;
} Daemons;

static void daemons_free(void *p) {
        Daemons *d = p;

        if (!d)
                return;
        unit_query_free(d->query);
        unit_job_free(d->job);
        sd_bus_unref(d->bus);
        strv_free(d->units);
        free(d);
}

static int daemons_new(Step *s, bool to_guest, Daemons **ret) {
        Daemons *d;
        int r;

        d = calloc(1, sizeof(Daemons));
        if (!d)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        *d = (Daemons) { .step = s, .to_guest = to_guest, .timeout_usec = step_deadline_usec(s, DEADLINE_UNIT) };
        step_set_userdata(s, d, daemons_free);

        r = step_system_bus(s, &d->bus);
        if (r < 0)
                return r;
        *ret = d;
        return 0;
}

static int next(Daemons *d);

static void on_checked(UnitQuery *q, int r, UnitInfo *info, const char *message, void *userdata) {
        Daemons *d = userdata;
        const char *unit = d->units[d->pos];

        d->query = unit_query_free(q);
        if (r < 0)
                r = step_error_errno(d->step, r, "%s", message);
        else if (d->to_guest && !unit_active_state_is_down(info->active_state))
                r = step_error_errno(d->step, SYNTHETIC_ERRNO(EBUSY),
                                     "%s is still %s after its stop job finished.",
                                     unit, info->active_state);
        else if (!d->to_guest && !unit_active_state_is_up(info->active_state))
                r = step_error_errno(d->step, SYNTHETIC_ERRNO(EIO), "%s is %s after its start job finished.",
                                     unit, info->active_state);
        else {
                log_info("%s %s.", d->to_guest ? "Stopped" : "Started", unit);
                d->pos++;
                r = next(d);
        }
        if (r != STEP_PENDING)
                step_finish(d->step, r);
}

static void on_job_done(UnitJob *j, int r, const char *message, void *userdata) {
        Daemons *d = userdata;

        d->job = unit_job_free(j);
        if (r < 0)
                r = step_error_errno(d->step, r, "%s", message);
        else {
                step_crash_point(d->step, "job done, before the unit is checked");
                /* The job's result says what systemd did; the unit's state is what counts. */
                r = unit_query_new(d->bus, d->units[d->pos], d->timeout_usec, on_checked, d, &d->query);
                if (r < 0)
                        r = step_error_errno(d->step, r, "Failed to look up %s: %m", d->units[d->pos]);
                else
                        r = STEP_PENDING;
        }
        if (r != STEP_PENDING)
                step_finish(d->step, r);
}

/* Stops or starts the next unit; 0 when none is left. */
static int next(Daemons *d) {
        const char *unit = d->units[d->pos];
        const char *method = d->to_guest ? "StopUnit" : "StartUnit";
        int r;

        if (!unit)
                return 0;
        log_info("%s %s.", d->to_guest ? "Stopping" : "Starting", unit);
        r = unit_job_run(d->bus, step_event(d->step), method, unit, d->timeout_usec, on_job_done, d, &d->job);
        if (r < 0)
                return step_error_errno(d->step, r, "Failed to %s %s: %m", unit_job_verb(method), unit);
        return STEP_PENDING;
}

/* --- to_guest: look every unit up, record, commit, then stop the running ones --- */

static int look_up_next(Daemons *d, size_t i);

static void on_looked_up(UnitQuery *q, int r, UnitInfo *info, const char *message, void *userdata) {
        Daemons *d = userdata;
        const char *unit = d->policy[d->pos];
        _cleanup_free_ char *key = NULL;
        bool up;

        d->query = unit_query_free(q);
        if (r < 0) {
                step_finish(d->step, step_error_errno(d->step, r, "%s", message));
                return;
        }
        up = unit_info_exists(info) && unit_active_state_is_up(info->active_state);
        if (asprintf(&key, UNIT_KEY "%s", unit) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = step_record(d->step, key, up ? "1" : "0");
        if (r >= 0 && up)
                r = strv_extend(&d->units, unit);
        if (r < 0) {
                step_finish(d->step, step_error_errno(d->step, r,
                                                      "Failed to record the state of %s: %m", unit));
                return;
        }
        log_debug("%s is %s.", unit, unit_info_exists(info) ? info->active_state : "not installed");
        r = look_up_next(d, d->pos + 1);
        if (r != STEP_PENDING)
                step_finish(d->step, r);
}

static int look_up_next(Daemons *d, size_t i) {
        int r;

        d->pos = i;
        if (d->policy[i]) {
                r = unit_query_new(d->bus, d->policy[i], d->timeout_usec, on_looked_up, d, &d->query);
                if (r < 0)
                        return step_error_errno(d->step, r, "Failed to look up %s: %m", d->policy[i]);
                return STEP_PENDING;
        }
        r = step_commit(d->step);
        if (r < 0)
                return step_error_errno(d->step, r, "Failed to commit the services' record: %m");
        d->pos = 0;
        if (!d->units)
                return 0;       /* none running */
        return next(d);
}

static int gpu_daemons_to_guest(Step *s) {
        const Machine *m = step_machine(s);
        const char *const *policy = gpu_daemons_for_driver(m->gpu ? m->gpu->driver : NULL);
        Daemons *d;
        int r;

        if (!policy)
                return 0;
        if (!step_is_live(s)) {
                log_debug("Not stopping services: the machine is read from %s.", step_root(s));
                return 0;
        }
        r = daemons_new(s, true, &d);
        if (r < 0)
                return r;
        d->policy = policy;
        return look_up_next(d, 0);
}

/* The recorded services that were running, in recording order. Only services of a
 * policy: a journal cannot make baton start anything else (-EBADMSG). */
static int recorded_running(Step *s, char ***ret) {
        _cleanup_strv_free_ char **keys = step_keys(s, UNIT_KEY), **units = NULL;
        int r;

        STRV_FOREACH(k, keys) {
                const char *unit = *k + strlen(UNIT_KEY);

                if (!strv_contains((char **) nvidia_daemons, unit))
                        return step_error_errno(s, SYNTHETIC_ERRNO(EBADMSG),
                                                "The record names %s, not a service baton stops.", unit);
                if (!streq_ptr(step_get(s, *k), "1"))
                        continue;
                r = strv_extend(&units, unit);
                if (r < 0)
                        return step_error_errno(s, r, "Out of memory.");
        }
        *ret = TAKE_PTR(units);
        return 0;
}

static int gpu_daemons_to_host(Step *s) {
        _cleanup_strv_free_ char **units = NULL;
        Daemons *d;
        int r;

        if (!step_has_record(s)) {
                log_debug("No services were recorded as stopped: leaving them as they are.");
                return 0;
        }
        r = recorded_running(s, &units);
        if (r < 0)
                return r;
        if (!units)
                return 0;
        if (!step_is_live(s)) {
                log_debug("Not starting services: the machine is read from %s.", step_root(s));
                return 0;
        }
        r = daemons_new(s, false, &d);
        if (r < 0)
                return r;
        d->units = TAKE_PTR(units);
        return next(d);
}

static int gpu_daemons_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                               StagePosition *ret_pos, char ***ret_plan) {
        const char *const *policy = gpu_daemons_for_driver(m->gpu ? m->gpu->driver : NULL);
        _cleanup_strv_free_ char **plan = NULL;
        _cleanup_free_ char *names = NULL;
        int r;

        if (!policy) {
                if (m->gpu && m->gpu->driver) {
                        r = strv_extendf(&plan, "%s: no service of its holds the GPU's nodes", m->gpu->driver);
                        if (r < 0)
                                return r;
                }
                *ret_pos = STAGE_NOTHING_TO_DO;
                *ret_plan = TAKE_PTR(plan);
                return 0;
        }
        r = strv_join((char **) policy, ", ", &names);
        if (r < 0)
                return r;
        r = strv_extendf(&plan, "stop %s if running (it keeps %s's device nodes open), start it again on return",
                         names, m->gpu->driver);
        if (r < 0)
                return r;
        *ret_pos = STAGE_AT_HOST;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

const Stage stage_gpu_daemons = {
        .name = "gpu-daemons",
        .observe_on_loop = true,
        .summary = "services that hold the GPU driver's nodes (nvidia-persistenced)",
        .observe = gpu_daemons_observe,
        .to_guest = gpu_daemons_to_guest,
        .to_host = gpu_daemons_to_host,
};
