/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "parse-util.h"
#include "strv.h"
#include "unit-job.h"

#define SYSTEMD_SERVICE "org.freedesktop.systemd1"
#define SYSTEMD_PATH "/org/freedesktop/systemd1"
#define SYSTEMD_MANAGER "org.freedesktop.systemd1.Manager"
#define SYSTEMD_UNIT "org.freedesktop.systemd1.Unit"

/* sd-event's default timer accuracy is 250 ms: more than a short deadline itself. */
#define DEADLINE_ACCURACY_USEC 10000ULL

void unit_info_done(UnitInfo *i) {
        i->id = mfree(i->id);
        i->load_state = mfree(i->load_state);
        i->active_state = mfree(i->active_state);
        i->unit_file_state = mfree(i->unit_file_state);
}

int unit_stop_timeout(sd_bus *bus, uint64_t timeout_usec, UnitInfo *i) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *path = NULL;
        uint64_t t;
        int r;

        if (!i->id)
                return -EINVAL;
        r = sd_bus_path_encode("/org/freedesktop/systemd1/unit", i->id, &path);
        if (r >= 0)
                r = sd_bus_set_method_call_timeout(bus, timeout_usec);
        if (r >= 0)
                r = sd_bus_get_property_trivial(bus, "org.freedesktop.systemd1", path,
                                                "org.freedesktop.systemd1.Service", "TimeoutStopUSec", &error,
                                                't', &t);
        if (r < 0)
                return r;
        i->timeout_stop_usec = t;
        return 0;
}

bool unit_active_state_is_up(const char *state) {
        return state && (streq(state, "active") || streq(state, "reloading") ||
                         streq(state, "activating") || streq(state, "refreshing"));
}

bool unit_active_state_is_down(const char *state) {
        return state && (streq(state, "inactive") || streq(state, "failed"));
}

bool unit_info_exists(const UnitInfo *i) {
        return !streq_ptr(i->load_state, "not-found") || !unit_active_state_is_down(i->active_state);
}

/* --- Calls and replies --- */

_printf_(1, 0)
static char *message_vformat(const char *format, va_list ap) {
        char *s;

        return vasprintf(&s, format, ap) < 0 ? NULL : s;
}

/* True when reply is an error: *ret_r is then its negative errno, *ret_text its message. */
static bool reply_failed(sd_bus_message *reply, int *ret_r, const char **ret_text) {
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int k;

        if (!e)
                return false;
        k = sd_bus_message_get_errno(reply);
        *ret_r = k > 0 ? -k : -EIO;
        *ret_text = e->message ?: e->name;
        return true;
}

/* A method call to systemd whose reply goes to callback, within timeout_usec. */
static int call_async(sd_bus *bus, sd_bus_slot **ret_slot, const char *path, const char *interface,
                      const char *member, uint64_t timeout_usec, sd_bus_message_handler_t callback,
                      void *userdata, const char *types, ...) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        va_list ap;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, SYSTEMD_SERVICE, path, interface, member);
        if (r < 0)
                return r;
        va_start(ap, types);
        r = sd_bus_message_appendv(m, types, ap);
        va_end(ap);
        if (r < 0)
                return r;
        return sd_bus_call_async(bus, ret_slot, m, callback, userdata, timeout_usec);
}

/* --- Looking a unit up --- */

struct UnitQuery {
        sd_bus *bus;
        sd_bus_slot *call;
        char *unit;
        uint64_t timeout_usec;
        unit_query_done_t done;
        void *userdata;
        UnitInfo info;          /* what the replies said so far */
};

UnitQuery *unit_query_free(UnitQuery *q) {
        if (!q)
                return NULL;
        unit_info_done(&q->info);
        sd_bus_slot_unref(q->call);
        sd_bus_unref(q->bus);
        free(q->unit);
        return mfree(q);
}

_printf_(3, 4)
static void query_fail(UnitQuery *q, int r, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;

        va_start(ap, format);
        message = message_vformat(format, ap);
        va_end(ap);
        q->call = sd_bus_slot_unref(q->call);
        q->done(q, r, NULL, message ?: "Out of memory", q->userdata);
}

/* The reply of ListUnitsByNames for one name: a(ssssssouso), the unit's id, description,
 * load, active and sub state, the unit it follows, its object path, and its job's id, type
 * and path. systemd leaves out a name that is not a unit name: -ENOENT then. */
static int parse_unit_list(sd_bus_message *m, UnitInfo *ret, char **ret_path) {
        _cleanup_(unit_info_done) UnitInfo info = {};
        const char *id, *load, *active, *path;
        uint32_t job_id;
        int r;

        r = sd_bus_message_enter_container(m, 'a', "(ssssssouso)");
        if (r < 0)
                return r;
        r = sd_bus_message_read(m, "(ssssssouso)", &id, NULL, &load, &active, NULL, NULL, &path, &job_id,
                                NULL, NULL);
        if (r < 0)
                return r;
        if (r == 0)
                return -ENOENT;
        r = free_and_strdup(&info.id, id);
        if (r >= 0)
                r = free_and_strdup(&info.load_state, load);
        if (r >= 0)
                r = free_and_strdup(&info.active_state, active);
        if (r >= 0)
                r = free_and_strdup(ret_path, path);
        if (r < 0)
                return r;
        info.job_id = job_id;
        *ret = TAKE_STRUCT(info);
        return 0;
}

/* The callback may free q: the answer moves out of it first, and lives until done() returned. */
static void query_succeed(UnitQuery *q) {
        _cleanup_(unit_info_done) UnitInfo info = TAKE_STRUCT(q->info);

        q->call = sd_bus_slot_unref(q->call);
        q->done(q, 0, &info, NULL, q->userdata);
}

static int on_unit_file_state(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        UnitQuery *q = userdata;
        const char *text, *state;
        int r;

        q->call = sd_bus_slot_unref(q->call);
        if (reply_failed(reply, &r, &text)) {
                query_fail(q, r, "Failed to read the unit file state of %s: %s", q->unit, text);
                return 0;
        }
        r = sd_bus_message_read(reply, "v", "s", &state);
        if (r >= 0)
                r = free_and_strdup(&q->info.unit_file_state, state);
        if (r < 0) {
                query_fail(q, r, "Failed to parse the unit file state of %s: %s", q->unit, strerror(-r));
                return 0;
        }
        query_succeed(q);
        return 0;
}

static int on_unit_listed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        _cleanup_free_ char *path = NULL;
        UnitQuery *q = userdata;
        const char *text;
        int r;

        q->call = sd_bus_slot_unref(q->call);
        if (reply_failed(reply, &r, &text)) {
                query_fail(q, r, "Failed to look up %s: %s", q->unit, text);
                return 0;
        }
        r = parse_unit_list(reply, &q->info, &path);
        if (r == -ENOENT) {
                query_fail(q, -EINVAL, "Failed to look up %s: systemd does not take it for a unit name", q->unit);
                return 0;
        }
        if (r < 0) {
                query_fail(q, r, "Failed to parse the state of %s: %s", q->unit, strerror(-r));
                return 0;
        }
        /* Only a unit that is down may have to be started, and only that decision reads the
         * unit file state (display_manager_should_start()). */
        if (!unit_active_state_is_down(q->info.active_state)) {
                query_succeed(q);
                return 0;
        }
        r = call_async(q->bus, &q->call, path, "org.freedesktop.DBus.Properties", "Get", q->timeout_usec,
                       on_unit_file_state, q, "ss", SYSTEMD_UNIT, "UnitFileState");
        if (r < 0)
                query_fail(q, r, "Failed to read the unit file state of %s: %s", q->unit, strerror(-r));
        return 0;
}

int unit_query_new(sd_bus *bus, const char *unit, uint64_t timeout_usec,
                   unit_query_done_t done, void *userdata, UnitQuery **ret) {
        _cleanup_(unit_query_freep) UnitQuery *q = NULL;
        int r;

        q = calloc(1, sizeof(UnitQuery));
        if (!q)
                return -ENOMEM;
        *q = (UnitQuery) {
                .bus = sd_bus_ref(bus),
                .unit = strdup(unit),
                .timeout_usec = timeout_usec,
                .done = done,
                .userdata = userdata,
        };
        if (!q->unit)
                return -ENOMEM;
        /* Issue 17: ListUnitsByNames, like LoadUnit, loads a unit nobody loaded yet and answers
         * for one that does not exist (LoadState "not-found"), with the unit's primary name.
         * In the lab it took 2.6 ms, against 7.6 ms for LoadUnit and a GetAll of the Unit
         * interface's hundred-odd properties. */
        r = call_async(bus, &q->call, SYSTEMD_PATH, SYSTEMD_MANAGER, "ListUnitsByNames", timeout_usec,
                       on_unit_listed, q, "as", 1, unit);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(q);
        return 0;
}

typedef struct SyncQuery {
        bool done;
        int r;
        UnitInfo info;
        char *message;
} SyncQuery;

static void on_sync_query_done(UnitQuery *q, int r, UnitInfo *info, const char *message, void *userdata) {
        SyncQuery *sq = userdata;

        sq->r = r;
        if (info)
                sq->info = TAKE_STRUCT(*info);
        if (message)
                sq->message = strdup(message);
        sq->done = true;
}

int unit_info_get(sd_bus *bus, const char *unit, uint64_t timeout_usec, UnitInfo *ret,
                  char **ret_message) {
        _cleanup_(sd_event_unrefp) sd_event *e = NULL;
        _cleanup_(unit_query_freep) UnitQuery *q = NULL;
        _cleanup_free_ char *message = NULL;
        SyncQuery sq = {};
        int r;

        /* The asynchronous lookup on a loop of its own: one way to ask, whoever asks. */
        r = sd_event_new(&e);
        if (r >= 0)
                r = sd_bus_attach_event(bus, e, SD_EVENT_PRIORITY_NORMAL);
        if (r >= 0) {
                r = unit_query_new(bus, unit, timeout_usec, on_sync_query_done, &sq, &q);
                /* Not sd_event_exit(): the bus's exit source would close it, and the caller
                 * asks more on it (unit_stop_timeout(): plan's and doctor's row 14 line). */
                while (r >= 0 && !sq.done)
                        r = sd_event_run(e, UINT64_MAX);
                (void) sd_bus_detach_event(bus);
                if (r >= 0)
                        r = sq.r;
        }
        message = TAKE_PTR(sq.message);
        if (r < 0) {
                if (!message && asprintf(&message, "Failed to look up %s: %s", unit, strerror(-r)) < 0)
                        message = NULL;
                if (ret_message)
                        *ret_message = TAKE_PTR(message);
                return r;
        }
        *ret = TAKE_STRUCT(sq.info);
        return 0;
}

/* --- Jobs --- */

static const struct {
        const char *method, *verb;
} job_methods[] = {
        { "StartUnit",      "start" },
        { "StopUnit",       "stop" },
        { "RestartUnit",    "restart" },
        { "ReloadUnit",     "reload" },
        { "TryRestartUnit", "try-restart" },
};

const char *unit_job_verb(const char *method) {
        for (size_t i = 0; i < ELEMENTSOF(job_methods); i++)
                if (streq(job_methods[i].method, method))
                        return job_methods[i].verb;
        return NULL;
}

struct UnitJob {
        sd_bus *bus;
        sd_bus_slot *job_removed, *disconnected, *call;
        sd_event_source *timer;
        char *method, *unit;
        const char *verb;
        uint64_t timeout_usec;
        char *job;              /* the job's object path, once the method's reply named it */
        char **early;           /* JobRemoved seen before that reply: path, result, path, result... */
        bool subscribed;        /* systemd took this job's Subscribe (not AlreadySubscribed) */
        unit_job_done_t done;
        void *userdata;
};

static void job_release(UnitJob *j) {
        /* The subscription ends with the job: the connection may be one that lives on (the
         * daemon's), and systemd emits its signals to the bus for as long as anyone is
         * subscribed. Nobody waits for the reply. One still unanswered is left as it is: it may
         * be AlreadySubscribed, for someone else on this connection. */
        if (j->subscribed)
                (void) sd_bus_call_method_async(j->bus, NULL, SYSTEMD_SERVICE, SYSTEMD_PATH, SYSTEMD_MANAGER,
                                                "Unsubscribe", NULL, NULL, "");
        j->subscribed = false;
        j->call = sd_bus_slot_unref(j->call);
        j->job_removed = sd_bus_slot_unref(j->job_removed);
        j->disconnected = sd_bus_slot_unref(j->disconnected);
        j->timer = sd_event_source_disable_unref(j->timer);
        j->early = strv_free(j->early);
}

UnitJob *unit_job_free(UnitJob *j) {
        if (!j)
                return NULL;
        job_release(j);
        sd_bus_unref(j->bus);
        free(j->method);
        free(j->unit);
        free(j->job);
        return mfree(j);
}

/* Every source goes before done() runs: nothing fires twice, and done() may free j. */
static void job_succeed(UnitJob *j) {
        job_release(j);
        j->done(j, 0, NULL, j->userdata);
}

_printf_(3, 4)
static void job_fail(UnitJob *j, int r, const char *format, ...) {
        _cleanup_free_ char *message = NULL;
        va_list ap;

        va_start(ap, format);
        message = message_vformat(format, ap);
        va_end(ap);
        job_release(j);
        j->done(j, r, message ?: "Out of memory", j->userdata);
}

static void job_result(UnitJob *j, const char *result) {
        int r;

        if (streq(result, "done")) {
                job_succeed(j);
                return;
        }
        r = streq(result, "canceled") ? -ECANCELED : streq(result, "timeout") ? -ETIME : -EIO;
        job_fail(j, r, "Failed to %s %s: job result '%s'", j->verb, j->unit, result);
}

static int on_job_removed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        UnitJob *j = userdata;
        const char *path, *unit, *result;
        uint32_t id;
        int r;

        r = sd_bus_message_read(m, "uoss", &id, &path, &unit, &result);
        if (r < 0)
                return 0;       /* not a JobRemoved of systemd's shape: not ours */
        if (j->job) {
                if (streq(path, j->job))
                        job_result(j, result);
                return 0;
        }
        /* Which job is ours is known only from the method's reply, and systemd may finish
         * the job before that reply is dispatched: keep what ended until then. Only the
         * jobs that end within one round trip land here. */
        r = strv_extend(&j->early, path);
        if (r >= 0)
                r = strv_extend(&j->early, result);
        if (r < 0)
                job_fail(j, r, "Failed to %s %s: %s", j->verb, j->unit, strerror(-r));
        return 0;
}

static int on_job_queued(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        UnitJob *j = userdata;
        const char *path, *text;
        int r;

        j->call = sd_bus_slot_unref(j->call);
        if (reply_failed(reply, &r, &text)) {
                job_fail(j, r, "Failed to %s %s: %s", j->verb, j->unit, text);
                return 0;
        }
        r = sd_bus_message_read(reply, "o", &path);
        if (r >= 0) {
                j->job = strdup(path);
                if (!j->job)
                        r = -ENOMEM;
        }
        if (r < 0) {
                job_fail(j, r, "Failed to %s %s: no job in systemd's reply: %s",
                         j->verb, j->unit, strerror(-r));
                return 0;
        }
        for (char **p = j->early; p && p[0] && p[1]; p += 2)
                if (streq(p[0], j->job)) {
                        job_result(j, p[1]);
                        return 0;       /* j may be gone */
                }
        j->early = strv_free(j->early);
        return 0;
}

static int on_subscribed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        UnitJob *j = userdata;
        const char *text;
        int r;

        j->call = sd_bus_slot_unref(j->call);
        /* systemd tells a connection that subscribed before that it did: the signals come,
         * which is all that counts. */
        if (!reply_failed(reply, &r, &text))
                j->subscribed = true;
        else if (!sd_bus_message_is_method_error(reply, "org.freedesktop.systemd1.AlreadySubscribed")) {
                job_fail(j, r, "Failed to %s %s: cannot subscribe to systemd's job signals: %s",
                         j->verb, j->unit, text);
                return 0;
        }
        r = call_async(j->bus, &j->call, SYSTEMD_PATH, SYSTEMD_MANAGER, j->method, j->timeout_usec,
                       on_job_queued, j, "ss", j->unit, "replace");
        if (r < 0)
                job_fail(j, r, "Failed to %s %s: %s", j->verb, j->unit, strerror(-r));
        return 0;
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        UnitJob *j = userdata;

        if (j->job)
                job_fail(j, -ECONNRESET, "Lost the bus connection while waiting for job %s (%s %s)",
                         j->job, j->verb, j->unit);
        else
                job_fail(j, -ECONNRESET, "Lost the bus connection before systemd queued the %s job of %s",
                         j->verb, j->unit);
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        UnitJob *j = userdata;
        char t[32];

        /* Durations read the same in every stage's messages ("30s", "200ms"). */
        format_usec(j->timeout_usec, t, sizeof(t));
        if (j->job)
                job_fail(j, -ETIMEDOUT, "Timed out after %s waiting for job %s (%s %s)",
                         t, j->job, j->verb, j->unit);
        else
                job_fail(j, -ETIMEDOUT, "Timed out after %s waiting for systemd to queue the %s job of %s",
                         t, j->verb, j->unit);
        return 0;
}

int unit_job_run(sd_bus *bus, sd_event *e, const char *method, const char *unit,
                 uint64_t timeout_usec, unit_job_done_t done, void *userdata, UnitJob **ret) {
        _cleanup_(unit_job_freep) UnitJob *j = NULL;
        const char *verb = unit_job_verb(method);
        int r;

        if (!verb)
                return -EINVAL;
        j = calloc(1, sizeof(UnitJob));
        if (!j)
                return -ENOMEM;
        *j = (UnitJob) {
                .bus = sd_bus_ref(bus),
                .method = strdup(method),
                .unit = strdup(unit),
                .verb = verb,
                .timeout_usec = timeout_usec,
                .done = done,
                .userdata = userdata,
        };
        if (!j->method || !j->unit)
                return -ENOMEM;

        /* The match is in place before the call goes out, so the job's end cannot slip by.
         * On a message bus only systemd's own signals count; a direct connection to the
         * manager has no senders. */
        r = sd_bus_match_signal_async(bus, &j->job_removed,
                                      sd_bus_is_bus_client(bus) > 0 ? SYSTEMD_SERVICE : NULL,
                                      SYSTEMD_PATH, SYSTEMD_MANAGER, "JobRemoved",
                                      on_job_removed, NULL, j);
        if (r < 0)
                return r;
        r = sd_bus_match_signal_async(bus, &j->disconnected, "org.freedesktop.DBus.Local", NULL,
                                      "org.freedesktop.DBus.Local", "Disconnected",
                                      on_disconnected, NULL, j);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(e, &j->timer, CLOCK_MONOTONIC, timeout_usec,
                                       DEADLINE_ACCURACY_USEC, on_deadline, j);
        if (r < 0)
                return r;
        /* Without a subscription systemd emits no job signals for us. The method follows
         * only once systemd confirmed it: a job nobody can watch is not started. */
        r = call_async(bus, &j->call, SYSTEMD_PATH, SYSTEMD_MANAGER, "Subscribe", timeout_usec,
                       on_subscribed, j, "");
        if (r < 0)
                return r;
        *ret = TAKE_PTR(j);
        return 0;
}
