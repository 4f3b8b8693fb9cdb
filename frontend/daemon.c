/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The baton daemon: one sd-event loop carrying the system bus, the engine and
 * everything they wait on. Requests are serialized here: a second handover
 * joins the one in flight, a return during a handover cancels it at the next
 * step boundary (the engine rolls back), a return in host state is a no-op. */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "bus-api.h"
#include "config.h"
#include "config-file.h"
#include "daemon.h"
#include "engine.h"
#include "guest-marker.h"
#include "history.h"
#include "outcome.h"
#include "child.h"
#include "notice.h"
#include "vt-progress.h"
#include "input-thread.h"
#include "journal.h"
#include "libvirt-events.h"
#include "log-control.h"
#include "log.h"
#include "macro.h"
#include "parse-util.h"
#include "polkit.h"

typedef struct Waiter {
        sd_bus_message *call;
        EngineOp op;
} Waiter;

typedef struct Daemon {
        sd_event *event;
        sd_bus *bus;
        Engine *engine;
        LibvirtEvents *libvirt;         /* follows the domain that has the GPU; NULL: off */
        char *handover_vm;              /* the VM of the handover started last */
        const char *statedir;           /* where the guest-state marker lives */
        InputThread *input;             /* NULL: no input routing (no uinput) */
        const DaemonOptions *options;
        Config config;                  /* in force; config_set() points at it */
        gid_t admin_gid;
        VtProgress vt;                  /* stage lines on the console while the screen is dark */

        char *published;                /* the status systemd and the bus were last told */
        sd_event_source *publish;       /* a stage's progress, told once the loop is idle */

        Waiter *waiters;        /* callers waiting for the transition in flight */
        size_t n_waiters;
        bool cancelled_for_return;
        bool exit_requested;
} Daemon;

/* These strings are the D-Bus API: State and Status (man/org.baton.Baton1.5.scd). */
static const char *const daemon_state_table[_DAEMON_STATE_MAX] = {
        [DAEMON_HOST] = "host",
        [DAEMON_GUEST] = "guest",
        [DAEMON_HANDING_OVER] = "handing-over",
        [DAEMON_RETURNING] = "returning",
        [DAEMON_RECOVERING] = "recovering",
        [DAEMON_INTERRUPTED] = "interrupted",
};

DEFINE_STRING_TABLE_LOOKUP(daemon_state, DaemonState);

static DaemonState daemon_state(Daemon *d) {
        _cleanup_(journal_freep) Journal *j = NULL;
        int r;

        if (engine_running(d->engine)) {
                if (d->cancelled_for_return)
                        return DAEMON_RETURNING;
                switch (engine_op(d->engine)) {
                case ENGINE_HANDOVER: return DAEMON_HANDING_OVER;
                case ENGINE_RETURN:   return DAEMON_RETURNING;
                default:              return DAEMON_RECOVERING;
                }
        }
        r = journal_load(d->options->rundir, false, &j);
        if (r == -ENOENT)
                return DAEMON_HOST;
        if (r < 0)
                return DAEMON_INTERRUPTED;
        return journal_state(j) == JOURNAL_STATE_GUEST ? DAEMON_GUEST : DAEMON_INTERRUPTED;
}

static const char *daemon_state_string(Daemon *d) {
        return daemon_state_to_string(daemon_state(d));
}

/* Tells systemd (STATUS=) and the bus (State and Stage) what the daemon does now, when
 * that changed since it last told them. A later telling still pending (notify_state_later())
 * would tell the same: it is dropped. */
static void notify_state(Daemon *d) {
        const char *stage = engine_current_stage(d->engine);
        _cleanup_free_ char *status = NULL;

        (void) sd_event_source_set_enabled(d->publish, SD_EVENT_OFF);
        if (asprintf(&status, "%s%s%s", daemon_state_string(d), stage ? ": " : "", strempty(stage)) < 0)
                return (void) log_warning("Out of memory: the daemon's status is not updated, ignoring.");
        if (streq_ptr(status, d->published))
                return;
        (void) sd_notifyf(false, "STATUS=%s", status);
        (void) sd_bus_emit_properties_changed(d->bus, BATON_BUS_PATH, BATON_BUS_INTERFACE, "State", "Stage", NULL);
        free(d->published);
        d->published = TAKE_PTR(status);
}

static int on_publish(sd_event_source *s, void *userdata) {
        notify_state(userdata);
        return 0;
}

/* Issue 17: each of those messages costs systemd, the message bus and the daemon a turn,
 * and a stage's end and the next one's start come moments apart, with the engine's
 * observations between them. So a stage's progress is told once the loop has nothing
 * else to do (an idle-priority source): while a step waits on systemd or a driver, and
 * as one status for the end of one stage and the start of the next. The start and the
 * end of a transition are told at once. */
static void notify_state_later(Daemon *d) {
        (void) sd_event_source_set_enabled(d->publish, SD_EVENT_ONESHOT);
}

static int add_waiter(Daemon *d, sd_bus_message *call, EngineOp op) {
        Waiter *w = reallocarray(d->waiters, d->n_waiters + 1, sizeof(Waiter));

        if (!w)
                return -ENOMEM;
        d->waiters = w;
        d->waiters[d->n_waiters++] = (Waiter) { .call = sd_bus_message_ref(call), .op = op };
        return 0;
}

int daemon_error_text(int r, const char *reason, const char *report, const char *what, char **ret) {
        /* The reason first: virsh and 'baton start' show only the first line. */
        return asprintf(ret, "%s failed: %s\n%s", what, !isempty(reason) ? reason : strerror(-r),
                        strempty(report)) < 0 ? -ENOMEM : 0;
}

static void reply(sd_bus_message *call, int r, const char *reason, const char *report, const char *what) {
        _cleanup_free_ char *text = NULL;

        if (!call)
                return;         /* asked for by libvirt-events, not over the bus */
        if (r >= 0)
                (void) sd_bus_reply_method_return(call, "s", strempty(report));
        else if (r == -ENODEV)
                (void) sd_bus_reply_method_errorf(call, BATON_BUS_ERROR_NO_GPU,
                                                  "refusing: no display-class GPU on this machine");
        else if (daemon_error_text(r, reason, report, what, &text) >= 0)
                (void) sd_bus_reply_method_error(call, &SD_BUS_ERROR_MAKE_CONST(BATON_BUS_ERROR_FAILED, text));
        else
                (void) sd_bus_reply_method_errno(call, r, NULL);
}

/* The first failed stage's reason, "stage: message". */
static char *first_reason(Engine *e) {
        const StageTiming *t;
        char *s = NULL;
        size_t n;

        t = engine_timeline(e, &n);
        for (size_t i = 0; i < n; i++)
                if (t[i].result < 0 && !isempty(t[i].reason))
                        return asprintf(&s, "%s: %s", t[i].stage, t[i].reason) < 0 ? NULL : s;
        /* Refused by a pre-flight after waiting for a holder: no stage ran. */
        return engine_refusal(e) ? strdup(engine_refusal(e)) : NULL;
}

/* Keeps the first error logged while the engine decides whether to start. */
static void keep_first_error(const char *message, void *userdata) {
        char **p = userdata;

        if (!*p)
                *p = strdup(message);
}

/* The input goes to the guest once it has the GPU, and back with it. */
static void input_follow_state(Daemon *d, const char *why) {
        if (d->input)
                (void) input_thread_set_target(d->input, daemon_state(d) == DAEMON_GUEST ? INPUT_GUEST : INPUT_HOST,
                                               why);
}

/* The persistent marker and libvirt's follow-up go with the recorded state
 * (guest-marker.h, libvirt-events.h). */
static void libvirt_follow_state(Daemon *d, EngineOp op, int r) {
        DaemonState state = daemon_state(d);
        int k;

        if (state == DAEMON_HOST) {
                k = guest_marker_remove(d->statedir);
                if (k < 0)
                        log_warning_errno(k, "Failed to remove %s/" GUEST_MARKER_NAME ", ignoring: %m", d->statedir);
                libvirt_events_unwatch(d->libvirt);
        } else if (state == DAEMON_GUEST && op == ENGINE_HANDOVER && r >= 0) {
                k = guest_marker_write(d->statedir, d->handover_vm);
                if (k < 0)
                        log_warning_errno(k, "Failed to write %s/" GUEST_MARKER_NAME ", ignoring: %m", d->statedir);
                if (d->libvirt && !isempty(d->handover_vm)) {
                        k = libvirt_events_watch(d->libvirt, d->handover_vm, false);
                        if (k < 0)
                                log_warning_errno(k, "Failed to follow domain %s, ignoring: %m", d->handover_vm);
                }
        }
}

static void request(Daemon *d, sd_bus_message *call, EngineOp op);

static void on_libvirt_return(const char *reason, void *userdata) {
        Daemon *d = userdata;

        log_notice("Return requested: %s.", reason);
        request(d, NULL, ENGINE_RETURN);
}

/* The word for the desktop user's next login (outcome.h), written by a child as the user while
 * the loop goes on. */
typedef struct NoticeJob {
        OutcomeNotice notice;
        ChildRun *run;
} NoticeJob;

static void notice_job_free(NoticeJob *j) {
        child_run_free(j->run);
        outcome_notice_done(&j->notice);
        free(j);
}

static void on_notice_written(ChildRun *c, int r, const char *out, size_t size, void *userdata) {
        NoticeJob *j = userdata;

        outcome_notice_log(&j->notice, r);
        notice_job_free(j);
}

static void leave_word(Daemon *d, Engine *e, int result) {
        _cleanup_free_ char *marker_vm = NULL;
        NoticeJob *j;
        int r;

        /* After a restart of the daemon the marker still names the VM that has the GPU. */
        if (isempty(d->handover_vm) && engine_op(e) != ENGINE_HANDOVER)
                (void) guest_marker_read(d->statedir, &marker_vm);
        j = calloc(1, sizeof(NoticeJob));
        if (!j)
                return (void) log_warning_errno(SYNTHETIC_ERRNO(ENOMEM), "Out of memory, no word for the desktop "
                                                "user, ignoring.");
        r = outcome_notice_prepare(e, result, isempty(d->handover_vm) ? marker_vm : d->handover_vm, &j->notice);
        if (r <= 0)
                return notice_job_free(j);
        r = notice_write_async(&j->notice.user, d->event, j->notice.binary, j->notice.summary, j->notice.body,
                               on_notice_written, j, &j->run);
        if (r < 0) {
                outcome_notice_log(&j->notice, r);
                notice_job_free(j);
        }
}

static void on_engine_done(Engine *e, int r, void *userdata) {
        Daemon *d = userdata;
        _cleanup_free_ char *report = NULL, *reason = first_reason(e);
        EngineOp op = engine_op(e);

        (void) engine_format_timeline(e, r, &report);
        (void) history_record(e, r, d->handover_vm, "daemon");
        if (streq(d->options->root, "/"))
                leave_word(d, e, r);
        vt_progress_end(&d->vt, engine_op_to_string(op), r, engine_rollback_incomplete(e));
        for (size_t i = 0; i < d->n_waiters; i++) {
                Waiter *w = &d->waiters[i];

                if (w->op == op)
                        reply(w->call, r, reason, report, engine_op_to_string(op));
                else if (w->op == ENGINE_RETURN && op == ENGINE_HANDOVER)
                        /* The return that cancelled this handover: done once the rollback was. */
                        reply(w->call, engine_rollback_incomplete(e) ? r : 0, reason, report, "return");
                else
                        reply(w->call, -EBUSY, reason, report, engine_op_to_string(w->op));
                sd_bus_message_unref(w->call);
        }
        d->n_waiters = 0;
        d->cancelled_for_return = false;
        input_follow_state(d, engine_op_to_string(op));
        libvirt_follow_state(d, op, r);
        notify_state(d);
        if (d->exit_requested)
                (void) sd_event_exit(d->event, 0);
}

static void on_engine_progress(Engine *e, const char *stage, bool to_guest, bool finished, int result,
                               uint64_t usec, void *userdata) {
        Daemon *d = userdata;

        d->vt.enabled = config_get()->console_progress;
        vt_progress_engine(&d->vt, e, stage, to_guest, finished, result, usec);
        (void) sd_bus_emit_signal(d->bus, BATON_BUS_PATH, BATON_BUS_INTERFACE, "StageProgress", "ssst",
                                  stage, to_guest ? "guest" : "host",
                                  !finished ? "started" : result < 0 ? "failed" : "done", usec);
        notify_state_later(d);
}

static void remember_vm(Daemon *d, sd_bus_message *call) {
        const char *vm = NULL;

        if (call && sd_bus_message_rewind(call, true) >= 0)
                (void) sd_bus_message_read(call, "s", &vm);
        free(d->handover_vm);
        d->handover_vm = vm ? strdup(vm) : NULL;
        if (engine_set_vm(d->engine, d->handover_vm) < 0)    /* BATON_VM of the user's stages */
                log_warning("Out of memory: the user's stages see no BATON_VM, ignoring.");
}

/* Start op for call, or join/cancel what runs (the rules at the top). call may be
 * NULL: a return libvirt-events asked for, nobody waits on its reply. */
static void request(Daemon *d, sd_bus_message *call, EngineOp op) {
        _cleanup_free_ char *refusal = NULL;
        int r;

        if (engine_running(d->engine)) {
                EngineOp running = engine_op(d->engine);

                if (running == op || (op == ENGINE_RETURN && d->cancelled_for_return)) {
                        log_info("%s requested while one runs: joining it.", engine_op_to_string(op));
                        r = call ? add_waiter(d, call, op) : 0;
                }
                else if (running == ENGINE_HANDOVER && op != ENGINE_HANDOVER && engine_cancel(d->engine) > 0) {
                        log_notice("%s requested during the handover: cancelling it at the next stage boundary.",
                                   engine_op_to_string(op));
                        d->cancelled_for_return = true;
                        r = call ? add_waiter(d, call, ENGINE_RETURN) : 0;
                } else {
                        (void) sd_bus_reply_method_errorf(call, BATON_BUS_ERROR_BUSY, "a %s is in progress",
                                                          engine_op_to_string(running));
                        return;
                }
                if (r < 0)
                        reply(call, r, NULL, NULL, engine_op_to_string(op));
                return;
        }

        if (op == ENGINE_HANDOVER)
                remember_vm(d, call);
        /* What refuses the transition before engine_start() returns is kept here; a pre-flight's
         * refusal, after the walk of /proc, reaches on_engine_done() (engine_refusal()), and
         * the steps' own reasons go to their steps (core/stage.h). */
        log_set_error_sink(keep_first_error, &refusal);
        r = engine_start(d->engine, op, on_engine_done, d);
        log_set_error_sink(NULL, NULL);
        if (r <= 0) {
                /* Nothing to do (0), or refused before anything changed. */
                reply(call, r, refusal, r == 0 ? "nothing to do\n" : NULL, engine_op_to_string(op));
                if (r == 0)
                        libvirt_follow_state(d, op, r);
                return;
        }
        r = call ? add_waiter(d, call, op) : 0;
        if (r < 0)
                reply(call, r, NULL, NULL, engine_op_to_string(op));
        notify_state(d);
}

typedef struct Authorized {
        Daemon *daemon;
        EngineOp op;
} Authorized;

static void on_authorized(sd_bus_message *call, int r, void *userdata) {
        Authorized *a = userdata;

        if (r > 0)
                request(a->daemon, call, a->op);
        else
                (void) sd_bus_reply_method_errorf(call, SD_BUS_ERROR_ACCESS_DENIED,
                                                  "not authorized to %s", engine_op_to_string(a->op));
        free(a);
}

static int authorize_then_request(Daemon *d, sd_bus_message *call, EngineOp op, const char *action) {
        Authorized *a = malloc(sizeof(Authorized));
        int r;

        if (!a)
                return -ENOMEM;
        *a = (Authorized) { .daemon = d, .op = op };
        r = authorize_async(call, action, d->admin_gid, on_authorized, a);
        if (r == 0)
                return 1;               /* answered later */
        if (r > 0)
                on_authorized(call, 1, a);
        else
                free(a);
        return r < 0 ? r : 1;
}

static int method_handover(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        const char *vm;
        int r;

        r = sd_bus_message_read(m, "s", &vm);
        if (r < 0)
                return r;
        if (!vm_name_is_valid(vm))
                return sd_bus_error_set(error, SD_BUS_ERROR_INVALID_ARGS,
                                        "not a VM name: longer than 256 bytes, starts with '-', or holds '/' or a "
                                        "control character");
        return authorize_then_request(userdata, m, ENGINE_HANDOVER, BATON_ACTION_HANDOVER);
}

static int method_return(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return authorize_then_request(userdata, m, ENGINE_RETURN, BATON_ACTION_RETURN);
}

static int method_recover(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        return authorize_then_request(userdata, m, ENGINE_RECOVER, BATON_ACTION_RECOVER);
}

static void on_input_authorized(sd_bus_message *call, int r, void *userdata) {
        Daemon *d = userdata;
        InputSide side;

        if (r <= 0) {
                (void) sd_bus_reply_method_errorf(call, SD_BUS_ERROR_ACCESS_DENIED, "not authorized to toggle input");
                return;
        }
        if (!d->input) {
                (void) sd_bus_reply_method_errorf(call, BATON_BUS_ERROR_FAILED,
                                                  "input routing is off: it could not start (see the daemon's log)");
                return;
        }
        side = input_thread_get_target(d->input) == INPUT_HOST ? INPUT_GUEST : INPUT_HOST;
        r = input_thread_set_target(d->input, side, "ToggleInput");
        if (r < 0) {
                (void) sd_bus_reply_method_errorf(call, BATON_BUS_ERROR_FAILED, "input routing does not answer: %s",
                                                  strerror(-r));
                return;
        }
        (void) sd_bus_reply_method_return(call, "s", input_side_to_string(side));
}

static int method_toggle_input(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        int r;

        r = authorize_async(m, BATON_ACTION_INPUT, d->admin_gid, on_input_authorized, d);
        if (r > 0)
                on_input_authorized(m, 1, d);
        return r < 0 ? r : 1;
}

static int method_status(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        const char *stage = engine_current_stage(d->engine);
        _cleanup_free_ char *text = NULL;

        if (asprintf(&text, "%s%s%s", daemon_state_string(d), stage ? ", stage " : "", strempty(stage)) < 0)
                return -ENOMEM;
        return sd_bus_reply_method_return(m, "s", text);
}

static int method_get_config(sd_bus_message *m, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        /* Who may change the machine sees it all; others not the names of people and groups. */
        r = caller_is_admin(m, d->admin_gid);
        if (r < 0)
                return r;
        f = open_memstream(&text, &size);
        if (!f)
                return -errno;
        r = r > 0 ? config_dump(&d->config, f) : config_dump_public(&d->config, f);
        if (fclose(f) != 0 && r >= 0)
                r = -errno;
        if (r < 0)
                return r;
        return sd_bus_reply_method_return(m, "s", text);
}

static int property_state(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        return sd_bus_message_append(reply, "s", daemon_state_string(userdata));
}

static int property_stage(sd_bus *bus, const char *path, const char *interface, const char *property,
                          sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;

        return sd_bus_message_append(reply, "s", strempty(engine_current_stage(d->engine)));
}

static int property_input_target(sd_bus *bus, const char *path, const char *interface, const char *property,
                                 sd_bus_message *reply, void *userdata, sd_bus_error *error) {
        Daemon *d = userdata;

        return sd_bus_message_append(reply, "s", d->input ? input_side_to_string(input_thread_get_target(d->input))
                                                          : "off");
}

static void on_input_target(InputThread *t, InputSide side, void *userdata) {
        Daemon *d = userdata;

        (void) sd_bus_emit_properties_changed(d->bus, BATON_BUS_PATH, BATON_BUS_INTERFACE, "InputTarget", NULL);
}

/* [input] of the configuration at start; a reload does not restart the router. */
static void daemon_start_input(Daemon *d) {
        const Config *c = config_get();
        InputRouterOptions o = {
                .name_prefix = c->guest_name_prefix,
                .devices = c->input_devices,
                .hotkey.n_keys = c->hotkey.n_keys,
                .recover.n_keys = c->recover_hotkey.n_keys,
                .realtime_priority = c->input_realtime_priority,
        };
        int r;

        memcpy(o.hotkey.keys, c->hotkey.keys, sizeof(o.hotkey.keys));
        memcpy(o.recover.keys, c->recover_hotkey.keys, sizeof(o.recover.keys));
        r = input_thread_new(d->event, &o, on_input_target, d, &d->input);
        if (r < 0)
                log_warning_errno(r, "Failed to start input routing, going on without it: %m");
        else
                input_follow_state(d, "daemon start");
}

static const sd_bus_vtable baton_vtable[] = {
        SD_BUS_VTABLE_START(0),
        SD_BUS_PROPERTY("State", "s", property_state, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("Stage", "s", property_stage, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_PROPERTY("InputTarget", "s", property_input_target, 0, SD_BUS_VTABLE_PROPERTY_EMITS_CHANGE),
        SD_BUS_METHOD_WITH_ARGS("Handover", SD_BUS_ARGS("s", vm), SD_BUS_RESULT("s", report),
                                method_handover, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Return", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", report),
                                method_return, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Recover", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", report),
                                method_recover, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("Status", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", text),
                                method_status, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("GetConfig", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", text),
                                method_get_config, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_METHOD_WITH_ARGS("ToggleInput", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", target),
                                method_toggle_input, SD_BUS_VTABLE_UNPRIVILEGED),
        SD_BUS_SIGNAL_WITH_ARGS("StageProgress",
                                SD_BUS_ARGS("s", stage, "s", direction, "s", event, "t", usec), 0),
        SD_BUS_VTABLE_END
};

/* Put a loaded configuration in force: deadlines (command-line overrides win),
 * the admin group, and the engine's, which its stages read. */
static int daemon_apply_config(Daemon *d, Config *c) {
        gid_t gid = (gid_t) -1;

        if (!isempty(c->admin_group)) {
                struct group *g = getgrnam(c->admin_group);

                if (!g)
                        return log_error_errno(SYNTHETIC_ERRNO(ENOENT),
                                               "[daemon] admin-group: no group '%s' on this machine", c->admin_group);
                gid = g->gr_gid;
        }
        config_override_deadlines(c, d->options->deadline_usec);
        config_apply_environment(c);
        config_set(NULL);
        config_done(&d->config);
        d->config = *c;
        *c = (Config) {};
        config_set(&d->config);
        d->admin_gid = gid;
        if (d->engine)
                engine_set_config(d->engine, &d->config);
        return 0;
}

static int daemon_load_config(Daemon *d) {
        Config c;
        int r;

        /* On error config_load() logged file, line and key; c is untouched and
         * the configuration in force stays. */
        r = config_load(d->options->config_dir, &c);
        if (r < 0)
                return r;
        r = daemon_apply_config(d, &c);
        if (r < 0)
                config_done(&c);
        return r;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;
        int r;

        (void) sd_notify(false, "RELOADING=1");
        r = daemon_load_config(d);
        if (r < 0)
                log_error("Reloading %s failed: the previous configuration stays in force.",
                          d->options->config_dir);
        else
                log_info("Configuration reloaded from %s.", d->options->config_dir);
        (void) sd_notify(false, "READY=1");
        return 0;
}

static void daemon_done(Daemon *d) {
        for (size_t i = 0; i < d->n_waiters; i++) {
                (void) sd_bus_reply_method_errorf(d->waiters[i].call, BATON_BUS_ERROR_FAILED,
                                                  "the daemon is stopping");
                sd_bus_message_unref(d->waiters[i].call);
        }
        free(d->waiters);
        sd_event_source_disable_unref(d->publish);
        free(d->published);
        input_thread_free(d->input);
        libvirt_events_free(d->libvirt);
        free(d->handover_vm);
        vt_progress_done(&d->vt);
        engine_free(d->engine);
        config_set(NULL);
        config_done(&d->config);
        sd_bus_flush_close_unref(d->bus);
        sd_event_unref(d->event);
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Daemon *d = userdata;

        /* Never leave in the middle of a transition: the journal would say
         * "interrupted" for no reason. Stop once it ended. */
        if (engine_running(d->engine)) {
                log_notice("Signal %d: stopping once the running transition has ended.", (int) si->ssi_signo);
                d->exit_requested = true;
                return 0;
        }
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

int daemon_run(const DaemonOptions *o) {
        _cleanup_(daemon_done) Daemon d = { .options = o, .admin_gid = (gid_t) -1 };
        EngineOptions eo = { .root = o->root, .rundir = o->rundir };
        DaemonState state;
        sigset_t mask;
        int r;

        /* Not sd_event_default(): a default loop checks its thread with gettid()
         * on every iteration, one syscall more for each frame the router routes
         * (bench-input). Everything in the daemon is handed this loop. */
        r = sd_event_new(&d.event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate the event loop: %m");
        (void) sigemptyset(&mask);
        (void) sigaddset(&mask, SIGTERM);
        (void) sigaddset(&mask, SIGINT);
        (void) sigaddset(&mask, SIGHUP);
        (void) sigprocmask(SIG_BLOCK, &mask, NULL);
        r = sd_event_add_signal(d.event, NULL, SIGTERM, on_signal, &d);
        if (r >= 0)
                r = sd_event_add_signal(d.event, NULL, SIGINT, on_signal, &d);
        if (r >= 0)
                r = sd_event_add_signal(d.event, NULL, SIGHUP, on_sighup, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to watch SIGTERM/SIGINT/SIGHUP: %m");

        config_init(&d.config);
        r = daemon_load_config(&d);
        if (r < 0)
                return r;

        eo.config = &d.config;
        r = engine_new(d.event, &eo, &d.engine);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the engine: %m");
        engine_set_progress(d.engine, on_engine_progress, &d);
        r = sd_event_add_defer(d.event, &d.publish, on_publish, &d);
        if (r >= 0)
                r = sd_event_source_set_priority(d.publish, SD_EVENT_PRIORITY_IDLE);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the daemon's status: %m");
        (void) sd_event_source_set_enabled(d.publish, SD_EVENT_OFF);
        vt_progress_init(&d.vt, o->root, true);
        /* Tests with their own rundir keep the marker there, off this machine's /var/lib. */
        d.statedir = streq(o->rundir, BATON_RUNDIR) ? BATON_STATEDIR : o->rundir;
        r = libvirt_events_new(d.event, "qemu:///system", o->domain_start_deadline_usec, on_libvirt_return, &d,
                               &d.libvirt);
        if (r < 0)
                log_warning_errno(r, "Failed to set up libvirt's event loop, going on without it: %m");

        r = sd_bus_open_system(&d.bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the system bus: %m");
        r = sd_bus_add_object_vtable(d.bus, NULL, BATON_BUS_PATH, BATON_BUS_INTERFACE, baton_vtable, &d);
        if (r < 0)
                return log_error_errno(r, "Failed to register the D-Bus object: %m");
        r = log_control_add(d.bus);
        if (r < 0)
                return log_error_errno(r, "Failed to register the log control object: %m");
        r = sd_bus_request_name(d.bus, BATON_BUS_NAME, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to own %s on the system bus: %m", BATON_BUS_NAME);
        r = sd_bus_attach_event(d.bus, d.event, 0);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the bus to the loop: %m");
        /* A handover asks systemd about the display manager on this connection from the
         * request on, and the steps make their calls on it, instead of a worker and each step
         * connecting for them (issue 17). */
        engine_set_system_bus(d.engine, d.bus);

        daemon_start_input(&d);

        /* A restart in guest state picks the journal up: the state comes from it. */
        state = daemon_state(&d);
        if (state == DAEMON_INTERRUPTED)
                log_warning("An interrupted transition is recorded in %s: call Recover ('baton recover').",
                            o->rundir);
        if (state == DAEMON_GUEST && d.libvirt && guest_marker_read(d.statedir, &d.handover_vm) >= 0 &&
            !isempty(d.handover_vm))
                (void) libvirt_events_watch(d.libvirt, d.handover_vm, false);
        log_info("baton daemon ready; state: %s", daemon_state_to_string(state));
        d.published = strdup(daemon_state_to_string(state));
        (void) sd_notifyf(false, "READY=1\nSTATUS=%s", daemon_state_to_string(state));

        r = sd_event_loop(d.event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        (void) sd_notify(false, "STOPPING=1");
        return 0;
}
