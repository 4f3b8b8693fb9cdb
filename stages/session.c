/* SPDX-License-Identifier: GPL-2.0-or-later */
/* session: the desktop user's GNOME session (session/).
 *
 * Stopping the display manager ends the desktop session the hard way: every app dies with
 * the compositor, unsaved work and all. So before the display manager stops, to_guest asks
 * GNOME's session manager (org.gnome.SessionManager on the user's session bus) to log the
 * user out without confirmation, which lets apps save their work and exit, and waits within
 * [session] logout-timeout, on bus signals only, until the session manager has left the bus
 * and the scopes of the apps it recorded have ended (or the user's bus itself went away with
 * their systemd manager). Then it writes a one-shot autostart entry in the user's home that
 * relaunches those apps at the next login, each in its own app scope, and removes itself.
 *
 * A session that has only just started is logged out once gnome-session reaches its Running
 * phase (it refuses Logout before that, with NotInRunning), and once the user's systemd
 * manager has no job left of GNOME's units: its settings daemons start after Running, and a
 * logout that races them may not end (that wait is bounded by the "unit" deadline, then the
 * logout goes ahead). While GNOME tears the session
 * down the user's systemd manager may answer late: a question about the scopes that timed
 * out is asked again, within logout-timeout.
 *
 * Before anything changes it asks whether the logout is inhibited (IsInhibited, logout flag):
 * an app with unsaved work stops the handover, and the error names each inhibiting app and
 * its reason. Nothing is recorded or changed then. [session] force-logout = yes logs out
 * anyway, forcefully (Logout mode 2, which ignores inhibitors).
 *
 * The apps: the user's systemd manager runs each app GNOME Shell (or flatpak, or baton's
 * relaunch) started in an app scope named after its desktop id; apps that start by themselves
 * at login (autostart) and NoDisplay ones are left out (session/apps.h).
 *
 * to_host cannot undo a logout; it makes sure the recorded apps come back at the next login:
 * the autostart entry is written again if it is missing and the user's GNOME session is not
 * running (it ran on: the logout never happened, nothing to relaunch). It may run any number
 * of times. A logout that no stop of the display manager followed (a failure or a crash
 * between the two stages) leaves gdm's login screen, not the desktop: gdm logs a user in by
 * itself only once per start of its daemon. The next login, typed, brings the apps back.
 *
 * Journal: "user" = whose session; "save" = "1" when apps are relaunched; "autostart" and
 * "script" = the relaunch files' paths; "app.N" and "exec.N" = each app's desktop id and the
 * command the script runs.
 *
 * observe() asks the user's bus and reads their .desktop files in a child that dropped to the
 * user for good, within the configured "unit" deadline in all (the child is killed then); it
 * waits for that child, and runs off the daemon's loop (the engine observes in a worker).
 * to_guest reads again, awaiting the child on the loop, within what is left of the same
 * deadline; every other wait of the stage (the connection, the logout, the relaunch files) is
 * awaited on the loop too: the daemon's loop never waits. Nothing to
 * do, with the reason as the plan line, with [session] logout = no, when nobody is logged in
 * to a desktop on seat0 (and [session] user names nobody), when the user has no session bus,
 * or when no GNOME session manager is on it.
 */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "config-file.h"
#include "drm-idle.h"
#include "engine.h"
#include "escape.h"
#include "log.h"
#include "apps.h"
#include "desktop.h"
#include "parse-util.h"
#include "user.h"
#include "stage.h"
#include "strv.h"
#include "unit-job.h"

#define STRV_EMPTY(l) (strv_length(l) == 0)

typedef struct Session {
        Step *step;
        UserIdentity user;
        DesktopSession desktop;
        sd_bus *bus;
        sd_bus_slot *name_match, *systemd_match, *disconnected_match, *running_match, *running_call;
        sd_bus_slot *subscribe, *logout, *check, *jobs;
        DesktopRead *read;              /* the look at the session, in a child */
        UserBusOpen *open;              /* the connection of the logout, made by a child */
        ChildRun *relaunch;             /* the relaunch files, written by a child */
        sd_event_source *timer;
        sd_event_source *settle_timer;  /* the wait for the user's manager to have no job */
        uint64_t timeout_usec;
        unsigned logout_mode;
        bool save;
        bool settling;                  /* the logout waits for the manager's jobs */
        bool jobs_again;
        bool logout_deferred;           /* asked too early: again once the session runs */
        bool name_gone;
        bool check_again;
        bool ended;                     /* session_ended() ran: the watches may still fire */
} Session;

static void session_free(void *p) {
        Session *se = p;

        if (!se)
                return;
        sd_bus_slot_unref(se->name_match);
        sd_bus_slot_unref(se->systemd_match);
        sd_bus_slot_unref(se->disconnected_match);
        sd_bus_slot_unref(se->running_match);
        sd_bus_slot_unref(se->running_call);
        sd_bus_slot_unref(se->subscribe);
        sd_bus_slot_unref(se->logout);
        sd_bus_slot_unref(se->check);
        sd_bus_slot_unref(se->jobs);
        desktop_read_free(se->read);
        user_bus_open_free(se->open);
        child_run_free(se->relaunch);
        /* Possibly from inside one of this bus's callbacks: unref only, no close. */
        sd_bus_unref(se->bus);
        sd_event_source_disable_unref(se->timer);
        sd_event_source_disable_unref(se->settle_timer);
        desktop_session_done(&se->desktop);
        user_identity_done(&se->user);
        free(se);
}

static int session_new(Step *s, Session **ret) {
        Session *se = calloc(1, sizeof(Session));

        if (!se)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        *se = (Session) { .step = s };
        step_set_userdata(s, se, session_free);
        *ret = se;
        return 0;
}

/* --- Whose session, and what runs in it --- */

static int find_user(const Config *c, UserIdentity *ret, char **ret_why) {
        const char *name = c->session_user;
        uid_t uid;
        int r;

        if (!isempty(name)) {
                r = user_identity_from_name(name, ret);
                if (r == -ESRCH && asprintf(ret_why, "[session] user = %s: there is no such user", name) < 0)
                        return -ENOMEM;
                return r;
        }
        r = user_seat0_desktop_uid(&uid);
        if (r == -ENXIO) {
                *ret_why = strdup("nobody is logged in to a desktop on seat0 ([session] user names nobody): "
                                  "no session to save");
                return *ret_why ? 0 : -ENOMEM;
        }
        if (r < 0)
                return r;
        return user_identity_from_uid(uid, ret);
}

/* 1 when there is a user whose session to look at (u filled); 0 with *ret_why saying why
 * there is nothing to do; a negative errno with *ret_message saying what failed. */
static int look_who(const Config *c, UserIdentity *u, char **ret_why, char **ret_message) {
        int r;

        if (!c->session_logout) {
                *ret_why = strdup("[session] logout = no: the desktop session is left alone");
                return *ret_why ? 0 : -ENOMEM;
        }
        r = find_user(c, u, ret_why);
        if (r < 0 && *ret_why) {
                *ret_message = TAKE_PTR(*ret_why);
                return r;
        }
        if (r < 0)
                return asprintf(ret_message, "Failed to find the desktop session's user: %s", strerror(-r)) < 0 ?
                        -ENOMEM : r;
        return *ret_why ? 0 : 1;
}

/* What the read of u's session (r, d, message: desktop_session_read()) means: 1 when a GNOME
 * session runs, 0 with *ret_why, or a negative errno with *ret_message. Takes message. */
static int look_judge(const UserIdentity *u, int r, const DesktopSession *d, char *message, char **ret_why,
                      char **ret_message) {
        *ret_message = message;
        if ((r == -ENOENT || r == -ECONNREFUSED) && !message) {
                if (asprintf(ret_why, "%s has no session bus (%s/bus): no session to save", u->name,
                             u->runtime_dir) < 0)
                        return -ENOMEM;
                return 0;
        }
        if (r < 0 && !message)
                return asprintf(ret_message, "Failed to connect to %s's session bus: %s", u->name, strerror(-r)) < 0 ?
                        -ENOMEM : r;
        if (r < 0)
                return r;
        if (!d->present) {
                if (asprintf(ret_why, "no GNOME session manager (%s) on %s's session bus: nothing to log out",
                             GNOME_SESSION_NAME, u->name) < 0)
                        return -ENOMEM;
                return 0;
        }
        return 1;
}

/* The same, waited for: for observe(), which runs off the engine's loop (the CLI's plan, or
 * the engine's observation worker). The whole look at the user's session (their bus and
 * files) takes at most the "unit" deadline in force: it blocks whoever observes. */
static int look(const StageContext *ctx, UserIdentity *u, DesktopSession *d, char **ret_why, char **ret_message) {
        char *message = NULL;
        int r;

        r = look_who(ctx->config, u, ret_why, ret_message);
        if (r <= 0)
                return r;
        r = desktop_session_read(u, ctx->deadline_usec[DEADLINE_UNIT], d, &message);
        return look_judge(u, r, d, message, ret_why, ret_message);
}

/* --- observe --- */

/* Desktop ids and scope names come from the user's side: escaped (common/escape.h). */
static int join_escaped(char * const *l, char **ret) {
        _cleanup_free_ char *joined = NULL;
        int r;

        r = strv_join(l, ", ", &joined);
        if (r < 0)
                return r;
        return escape_text(joined, ret);
}

static int plan_lines(const Config *c, const UserIdentity *u, const DesktopSession *d, char ***plan) {
        _cleanup_free_ char *ids = NULL, *left = NULL, *autostart = NULL;
        char wait[32];
        int r;

        format_usec(c->logout_timeout_usec, wait, sizeof(wait));
        if (d->inhibitors && !c->force_logout)
                return strv_extendf(plan, "the logout of %s is inhibited by %s: the handover will be refused "
                                    "(save and close them, or set [session] force-logout = yes)", u->name,
                                    d->inhibitors);
        if (d->inhibitors)
                r = strv_extendf(plan, "the logout of %s is inhibited by %s: logging out anyway, forcefully "
                                 "([session] force-logout = yes)", u->name, d->inhibitors);
        else
                r = strv_extendf(plan, "ask GNOME's session manager to log %s out without confirmation, so "
                                 "that apps can save their work", u->name);
        if (r >= 0)
                r = strv_extendf(plan, "wait up to %s for the session and %zu app scope(s) to end", wait,
                                 strv_length(d->scopes));
        if (r < 0 || !c->session_save)
                return r;
        if (join_escaped(d->ids, &ids) < 0 || join_escaped(d->left_out, &left) < 0 ||
            escape_text(d->autostart_path, &autostart) < 0)
                return -ENOMEM;
        if (strv_length(d->ids) == 0)
                r = strv_extend(plan, "no running app to relaunch at the next login");
        else
                r = strv_extendf(plan, "relaunch %s at the next login (one-shot autostart entry %s)", ids,
                                 autostart);
        if (r >= 0 && !isempty(left))
                r = strv_extendf(plan, "not relaunched (autostart, NoDisplay or no .desktop file): %s", left);
        return r;
}

static int session_observe(StageInstance *self, const StageContext *ctx, const Machine *m,
                           StagePosition *ret_pos, char ***ret_plan) {
        _cleanup_(user_identity_done) UserIdentity u = {};
        _cleanup_(desktop_session_done) DesktopSession d = {};
        _cleanup_free_ char *why = NULL, *message = NULL;
        _cleanup_strv_free_ char **plan = NULL;
        StagePosition pos = STAGE_NOTHING_TO_DO;
        int r;

        if (!streq(m->root, "/"))
                r = strv_extendf(&plan, "the desktop session not looked up: the machine is read from %s",
                                 m->root);
        else {
                r = look(ctx, &u, &d, &why, &message);
                if (r < 0 && !message)
                        return r;
                if (r < 0) {
                        /* to_guest fails the same way, and says so. */
                        pos = STAGE_AT_HOST;
                        r = strv_extendf(&plan, "%s: the handover will fail", message);
                } else if (r == 0)
                        r = strv_extend(&plan, why);
                else {
                        pos = STAGE_AT_HOST;
                        r = plan_lines(ctx->config, &u, &d, &plan);
                }
        }
        if (r < 0)
                return r;
        *ret_pos = pos;
        *ret_plan = TAKE_PTR(plan);
        return 0;
}

/* --- to_guest: the wait for the session's end --- */

static void session_done(Session *se, int r) {
        /* Once the session ended, only the relaunch files' write, under way, ends the step:
         * a watch or timer that still fires meanwhile must not free se under it. */
        if (se->relaunch)
                return;
        step_finish(se->step, r);       /* frees se */
}

static void on_relaunch_written(ChildRun *c, int r, const char *out, size_t size, void *userdata) {
        Session *se = userdata;
        const char *autostart = se->desktop.autostart_path;

        se->relaunch = child_run_free(c);
        if (r < 0)
                r = step_error_errno(se->step, r,
                                     "Failed to write %s's relaunch entry %s: %m", se->user.name, autostart);
        else if (out[0] == DESKTOP_RELAUNCH_IN_PLACE)
                log_info("%s is in place: %s's apps come back at their next login.", autostart, se->user.name);
        else if (out[0] == DESKTOP_RELAUNCH_SESSION_RUNS)
                log_info("The GNOME session of %s runs: nothing to relaunch.", se->user.name);
        else if (out[0] == DESKTOP_RELAUNCH_WRITTEN)
                log_info("Wrote %s: it relaunches %zu app(s) at %s's next login.", autostart,
                         strv_length(se->desktop.ids), se->user.name);
        else
                r = step_error_errno(se->step, SYNTHETIC_ERRNO(ENOENT),
                                     "The relaunch entry %s is not there after it was "
                                     "written: %m", autostart);
        session_done(se, r);
}

/* Writes the relaunch files as the user (with ensure, only when the entry is missing and the
 * session does not run), in a child awaited on the loop; the step ends when it is done. */
static int write_relaunch(Session *se, bool ensure) {
        const DesktopSession *d = &se->desktop;
        int r;

        r = desktop_session_relaunch_async(&se->user, step_event(se->step), ensure, d->script_path,
                                           d->autostart_path, d->ids, d->execs, on_relaunch_written, se,
                                           &se->relaunch);
        if (r < 0)
                return step_error_errno(se->step, r,
                                        "Failed to write %s's relaunch entry %s: %m", se->user.name,
                                        d->autostart_path);
        return STEP_PENDING;
}

static void session_ended(Session *se) {
        int r = 0;

        /* The bus going away, the name's owner leaving and the scope check can each say it
         * while the relaunch files are being written: only the first goes on. */
        if (se->ended)
                return;
        se->ended = true;
        /* Ended before the logout was asked for (the user logged out meanwhile). */
        se->settling = false;
        se->settle_timer = sd_event_source_disable_unref(se->settle_timer);
        se->jobs = sd_bus_slot_unref(se->jobs);
        log_info("The GNOME session of %s has ended.", se->user.name);
        step_crash_point(se->step, "session ended, before the relaunch entry is written");
        if (se->save && !STRV_EMPTY(se->desktop.ids))
                r = write_relaunch(se, false);
        if (r != STEP_PENDING)
                session_done(se, r);
}

static void check(Session *se);

/* The user's bus goes away with their systemd manager, which stops every scope of theirs as
 * it goes: the last session of a user who does not linger has ended. sd-bus fails the calls
 * still out (NoReply) before it dispatches Disconnected, so the answers about scopes can be
 * the first to tell. */
static void bus_gone(Session *se) {
        log_info("The session bus of %s went away with their systemd manager.", se->user.name);
        session_ended(se);
}

static int on_units(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Session *se = userdata;
        _cleanup_strv_free_ char **running = NULL;
        const char *name, *load, *active;
        int r;

        se->check = sd_bus_slot_unref(se->check);
        r = -sd_bus_message_get_errno(reply);
        if (r < 0 && !sd_bus_is_open(se->bus)) {
                bus_gone(se);
                return 0;
        }
        /* GNOME stops a dozen units of the user's manager at once when it logs out; a loaded
         * machine's manager then answers late. The logout's deadline bounds asking again. */
        if (r == -ETIMEDOUT) {
                log_debug("%s's systemd manager did not answer in time about the app scopes: asking again.",
                          se->user.name);
                check(se);
                return 0;
        }
        if (r == 0)
                r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, &load, &active, NULL, NULL,
                                                  NULL, NULL, NULL, NULL)) > 0)
                if (!streq(load, "not-found") && !unit_active_state_is_down(active))
                        r = strv_extend(&running, name);
        if (r < 0) {
                session_done(se, step_error_errno(se->step, r,
                                                  "Failed to ask %s's systemd manager about the app scopes: %m",
                                                  se->user.name));
                return 0;
        }
        strv_free(se->desktop.scopes);
        se->desktop.scopes = TAKE_PTR(running);
        if (se->check_again)
                check(se);
        else if (se->name_gone && STRV_EMPTY(se->desktop.scopes))
                session_ended(se);
        return 0;
}

/* Which of the recorded scopes still run: one question at a time, asked again when a signal
 * came while it was out. */
static void check(Session *se) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL;
        int r;

        se->check_again = false;
        if (se->check) {
                se->check_again = true;
                return;
        }
        if (se->name_gone && STRV_EMPTY(se->desktop.scopes))
                return session_ended(se);
        r = sd_bus_message_new_method_call(se->bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "ListUnitsByNames");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, se->desktop.scopes);
        if (r >= 0)
                r = sd_bus_call_async(se->bus, &se->check, m, on_units, se, step_deadline_usec(se->step, DEADLINE_UNIT));
        if (r < 0 && !sd_bus_is_open(se->bus))
                bus_gone(se);
        else if (r < 0)
                session_done(se, step_error_errno(se->step, r,
                                                  "Failed to ask %s's systemd manager about the app scopes: %m",
                                                  se->user.name));
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Session *se = userdata;
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) < 0 || !streq(name, GNOME_SESSION_NAME))
                return 0;
        se->name_gone = isempty(new_owner);
        if (se->name_gone)
                log_info("GNOME's session manager of %s left the session bus.", se->user.name);
        check(se);
        return 0;
}

static void jobs_ask(Session *se);
static void settled(Session *se);

/* Any of the manager's signals (JobRemoved, UnitRemoved, ...) may mean a scope ended, or,
 * before the logout, that a job is done. */
static int on_systemd_signal(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Session *se = userdata;

        if (se->settling)
                jobs_ask(se);
        else
                check(se);
        return 0;
}

static int on_disconnected(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        bus_gone(userdata);
        return 0;
}

static int send_logout(Session *se);

static int on_session_running(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Session *se = userdata;
        uint8_t type = 0;
        int running = 0, r;

        /* The SessionRunning signal, or the reply of IsSessionRunning. */
        (void) sd_bus_message_get_type(m, &type);
        if (type != SD_BUS_MESSAGE_SIGNAL) {
                se->running_call = sd_bus_slot_unref(se->running_call);
                if (type != SD_BUS_MESSAGE_METHOD_RETURN || sd_bus_message_read(m, "b", &running) < 0 || !running)
                        return 0;       /* not yet (or cannot tell): the signal will say */
        }
        if (!se->logout_deferred || se->logout)
                return 0;
        se->logout_deferred = false;
        log_info("GNOME's session manager of %s is running now.", se->user.name);
        r = send_logout(se);
        if (r < 0)
                session_done(se, step_error_errno(se->step, r,
                                                  "Failed to ask GNOME's session manager to log %s out: %m",
                                                  se->user.name));
        return 0;
}

/* A session that has only just started: gnome-session refuses Logout until it reaches its
 * Running phase (org.gnome.SessionManager.NotInRunning), and says so with SessionRunning. */
static int defer_logout(Session *se) {
        int r = 0;

        log_info("GNOME's session manager of %s is still starting up: logging out once it runs.", se->user.name);
        se->logout_deferred = true;
        if (!se->running_match)
                r = sd_bus_match_signal_async(se->bus, &se->running_match, GNOME_SESSION_NAME, GNOME_SESSION_PATH,
                                              GNOME_SESSION_INTERFACE, "SessionRunning", on_session_running,
                                              NULL, se);
        /* It may have reached Running between its refusal and the match. */
        if (r >= 0 && !se->running_call)
                r = sd_bus_call_method_async(se->bus, &se->running_call, GNOME_SESSION_NAME, GNOME_SESSION_PATH,
                                             GNOME_SESSION_INTERFACE, "IsSessionRunning", on_session_running,
                                             se, "");
        return r;
}

static int on_logout_reply(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Session *se = userdata;
        const sd_bus_error *e = sd_bus_message_get_error(reply);
        int r;

        se->logout = sd_bus_slot_unref(se->logout);
        if (e && sd_bus_error_has_name(e, "org.gnome.SessionManager.NotInRunning")) {
                r = defer_logout(se);
                if (r < 0)
                        session_done(se, step_error_errno(se->step, r,
                                                          "Failed to wait for GNOME's session manager of %s "
                                                          "to run: %m", se->user.name));
                return 0;
        }
        /* A session manager that quits before it replies, or is gone already, has logged out
         * all the same. */
        if (e && (sd_bus_error_has_names(e, SD_BUS_ERROR_NO_REPLY, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                         SD_BUS_ERROR_NAME_HAS_NO_OWNER)))
                se->name_gone = true;
        else if (e) {
                session_done(se, step_error_errno(se->step, sd_bus_message_get_errno(reply),
                                                  "GNOME's session manager "
                                                  "did not log %s out: %s", se->user.name, e->message));
                return 0;
        }
        log_info("GNOME's session manager is logging %s out.", se->user.name);
        step_crash_point(se->step, "logout accepted, before the session has ended");
        check(se);
        return 0;
}

static int on_subscribed(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Session *se = userdata;

        se->subscribe = sd_bus_slot_unref(se->subscribe);
        if (!sd_bus_message_is_method_error(reply, NULL))
                return 0;
        step_warning(se->step,
                     "Failed to subscribe to %s's systemd manager (%s): the scopes are checked when "
                     "the session manager leaves, ignoring.", se->user.name,
                     sd_bus_message_get_error(reply)->message);
        /* No JobRemoved would tell the wait for the manager's jobs that they are done. */
        if (se->settling)
                settled(se);
        return 0;
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Session *se = userdata;
        _cleanup_free_ char *scopes = NULL;
        char wait[32];

        format_usec(se->timeout_usec, wait, sizeof(wait));
        (void) join_escaped(se->desktop.scopes, &scopes);
        session_done(se, step_error_errno(se->step, SYNTHETIC_ERRNO(ETIMEDOUT),
                                          "The GNOME session of %s did not end "
                                          "within %s ([session] logout-timeout) after the logout was asked for: "
                                          "%s%s%s", se->user.name, wait,
                                          se->name_gone ? "" : GNOME_SESSION_NAME " is still on the bus",
                                          se->name_gone || isempty(scopes) ? "" : "; ",
                                          isempty(scopes) ? "" : scopes));
        return 0;
}

static int send_logout(Session *se) {
        return sd_bus_call_method_async(se->bus, &se->logout, GNOME_SESSION_NAME, GNOME_SESSION_PATH,
                                        GNOME_SESSION_INTERFACE, "Logout", on_logout_reply, se, "u",
                                        se->logout_mode);
}

/* --- Before the logout: the user's systemd manager done with its jobs --- */

/* GNOME's settings daemons and the session's other services start as units of the user's
 * systemd manager, some of them after gnome-session reports Running. A logout asked for while
 * they still start races them: in the lab (bench-gnome) the daemons that registered with
 * gnome-session once the logout had begun were refused (NotInRunning), and the session did not
 * end within the 60 s logout-timeout. So the logout waits until the manager has no job left of
 * the session's units, on its JobRemoved signals, within the "unit" deadline; past it, it logs
 * out all the same. Other jobs (a user's oneshot backup runs as a start job for hours) are not
 * waited for. */

/* GNOME names the units of its session org.gnome.* (the settings daemons, GNOME Shell) and
 * gnome-session*. */
static bool session_unit(const char *unit) {
        return startswith(unit, "org.gnome.") || startswith(unit, "gnome-session");
}

static int logout_now(Session *se) {
        Step *s = se->step;
        int r;

        r = send_logout(se);
        if (r < 0)
                return step_error_errno(s, r, "Failed to ask GNOME's session manager to log %s out: %m",
                                        se->user.name);
        se->timeout_usec = step_config(s)->logout_timeout_usec;
        r = sd_event_add_time_relative(step_event(s), &se->timer, CLOCK_MONOTONIC, se->timeout_usec, 0,
                                       on_timeout, se);
        if (r < 0)
                return step_error_errno(s, r, "Failed to set up the logout deadline: %m");
        log_info("Asked GNOME's session manager to log %s out%s.", se->user.name,
                 se->logout_mode == GNOME_LOGOUT_FORCE ? ", forcefully" : " without confirmation");
        return STEP_PENDING;
}

static void settled(Session *se) {
        int r;

        se->settling = false;
        se->settle_timer = sd_event_source_disable_unref(se->settle_timer);
        se->jobs = sd_bus_slot_unref(se->jobs);
        r = logout_now(se);
        if (r != STEP_PENDING)
                session_done(se, r);
}

static int on_settle_timeout(sd_event_source *s, uint64_t usec, void *userdata);

static int on_jobs(sd_bus_message *reply, void *userdata, sd_bus_error *ret_error) {
        Session *se = userdata;
        _cleanup_strv_free_ char **units = NULL;
        _cleanup_free_ char *shown = NULL;
        const char *unit, *type;
        unsigned n = 0;
        int r;

        se->jobs = sd_bus_slot_unref(se->jobs);
        r = -sd_bus_message_get_errno(reply);
        if (r < 0 && !sd_bus_is_open(se->bus)) {
                bus_gone(se);
                return 0;
        }
        if (r == 0)
                r = sd_bus_message_enter_container(reply, 'a', "(usssoo)");
        /* The user's manager names the units: only the first few are kept, to be shown. */
        while (r >= 0 && (r = sd_bus_message_read(reply, "(usssoo)", NULL, &unit, &type, NULL, NULL, NULL)) > 0)
                if (session_unit(unit) && ++n <= 3)
                        r = strv_extendf(&units, "%s (%s)", unit, type);
        if (r == -ENOMEM) {
                session_done(se, step_error_errno(se->step, r, "Out of memory."));
                return 0;
        }
        if (r < 0) {
                /* Only a courtesy to GNOME: the logout goes ahead without it. */
                log_debug("Could not list the jobs of %s's systemd manager (%s): logging out now.", se->user.name,
                          strerror(-r));
                settled(se);
                return 0;
        }
        if (se->jobs_again) {
                jobs_ask(se);
                return 0;
        }
        if (n == 0) {
                settled(se);
                return 0;
        }
        if (!se->settle_timer) {
                char wait[32];

                (void) join_escaped(units, &shown);
                format_usec(step_deadline_usec(se->step, DEADLINE_UNIT), wait, sizeof(wait));
                log_info("%s's systemd manager still has %u job(s) of GNOME's session: %s%s. Logging out once "
                         "they are done, or in %s.", se->user.name, n, strna(shown), n > 3 ? ", ..." : "", wait);
                r = sd_event_add_time_relative(step_event(se->step), &se->settle_timer, CLOCK_MONOTONIC,
                                               step_deadline_usec(se->step, DEADLINE_UNIT), 0, on_settle_timeout,
                                               se);
                if (r < 0)
                        session_done(se, step_error_errno(se->step, r, "Failed to set up a deadline: %m"));
        }
        return 0;
}

/* One question at a time, asked again when a signal came while it was out. */
static void jobs_ask(Session *se) {
        int r;

        se->jobs_again = false;
        if (se->jobs) {
                se->jobs_again = true;
                return;
        }
        r = sd_bus_call_method_async(se->bus, &se->jobs, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", "ListJobs", on_jobs, se, "");
        if (r < 0 && !sd_bus_is_open(se->bus))
                bus_gone(se);
        else if (r < 0) {
                log_debug("Could not ask %s's systemd manager for its jobs (%s): logging out now.", se->user.name,
                          strerror(-r));
                settled(se);
        }
}

static int on_settle_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Session *se = userdata;
        char wait[32];

        format_usec(step_deadline_usec(se->step, DEADLINE_UNIT), wait, sizeof(wait));
        step_warning(se->step, "%s's systemd manager still had jobs after %s (the \"unit\" deadline): logging out "
                     "all the same.", se->user.name, wait);
        settled(se);
        return 0;
}

static int settle(Session *se) {
        se->settling = true;
        jobs_ask(se);
        return STEP_PENDING;
}

static int send_logout_watched(Session *se, unsigned mode) {
        Step *s = se->step;
        int r;

        r = sd_bus_attach_event(se->bus, step_event(s), SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return step_error_errno(se->step, r,
                                        "Failed to connect to %s's session bus: %m", se->user.name);
        /* The matches are in place before the logout goes out: the bus handles our messages in order. */
        r = sd_bus_match_signal_async(se->bus, &se->name_match, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                      "org.freedesktop.DBus", "NameOwnerChanged", on_name_owner_changed, NULL, se);
        if (r >= 0)
                r = sd_bus_match_signal_async(se->bus, &se->systemd_match, "org.freedesktop.systemd1", NULL,
                                              "org.freedesktop.systemd1.Manager", NULL, on_systemd_signal,
                                              NULL, se);
        if (r >= 0)
                r = sd_bus_match_signal_async(se->bus, &se->disconnected_match, "org.freedesktop.DBus.Local", NULL,
                                              "org.freedesktop.DBus.Local", "Disconnected", on_disconnected, NULL,
                                              se);
        /* Without a subscription the user's systemd manager sends no JobRemoved or UnitRemoved. */
        if (r >= 0)
                r = sd_bus_call_method_async(se->bus, &se->subscribe, "org.freedesktop.systemd1",
                                             "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager",
                                             "Subscribe", on_subscribed, se, "");
        if (r < 0)
                return step_error_errno(se->step, r,
                                        "Failed to ask GNOME's session manager to log %s out: %m", se->user.name);
        se->logout_mode = mode;
        return settle(se);
}

static void on_bus_open(UserBusOpen *o, int r, sd_bus *bus, void *userdata) {
        Session *se = userdata;

        se->open = user_bus_open_free(o);
        se->bus = bus;
        if (r < 0)
                r = step_error_errno(se->step, r,
                                     "Failed to connect to %s's session bus: %m", se->user.name);
        else
                r = send_logout_watched(se, se->logout_mode);
        if (r != STEP_PENDING)
                session_done(se, r);
}

/* The connection to the user's bus is made by a child as the user, awaited on the loop. */
static int logout(Session *se, unsigned mode) {
        int r;

        se->logout_mode = mode;
        r = user_bus_open_async(&se->user, step_event(se->step), on_bus_open, se, &se->open);
        if (r < 0)
                return step_error_errno(se->step, r,
                                        "Failed to connect to %s's session bus: %m", se->user.name);
        return STEP_PENDING;
}

/* --- to_guest --- */

static int record(Session *se) {
        const DesktopSession *d = &se->desktop;
        Step *s = se->step;
        int r;

        r = step_record(s, "user", se->user.name);
        if (r >= 0)
                r = step_record(s, "save", se->save ? "1" : "0");
        if (r >= 0 && se->save)
                r = step_record(s, "autostart", d->autostart_path);
        if (r >= 0 && se->save)
                r = step_record(s, "script", d->script_path);
        for (size_t i = 0; r >= 0 && se->save && d->ids && d->ids[i]; i++) {
                char key[32];

                snprintf(key, sizeof(key), "app.%zu", i);
                r = step_record(s, key, d->ids[i]);
                snprintf(key, sizeof(key), "exec.%zu", i);
                if (r >= 0)
                        r = step_record(s, key, d->execs[i]);
        }
        if (r >= 0)
                r = step_commit(s);
        return r;
}

static int go_on(Session *se, int r, char *why, char *message) {
        _cleanup_free_ char *w = why, *m = message;
        bool force = step_config(se->step)->force_logout;

        if (r < 0)
                return step_error_errno(se->step, r, "%s", m ?: "Failed to look at the desktop session: %m");
        if (r == 0) {
                log_info("Not logging anybody out: %s.", w);
                return 0;
        }
        if (se->desktop.inhibitors && !force)
                return step_error_errno(se->step, SYNTHETIC_ERRNO(EBUSY),
                                        "Not handing the GPU over: the logout of %s is "
                                        "inhibited by %s. Save and close them, or set [session] force-logout = yes "
                                        "to log out anyway.", se->user.name, se->desktop.inhibitors);
        if (se->desktop.inhibitors)
                step_warning(se->step,
                             "The logout of %s is inhibited by %s: logging out anyway ([session] force-logout = yes).",
                             se->user.name, se->desktop.inhibitors);

        se->save = step_config(se->step)->session_save;
        r = record(se);
        if (r < 0)
                return step_error_errno(se->step, r, "Failed to record the desktop session: %m");
        return logout(se, se->desktop.inhibitors ? GNOME_LOGOUT_FORCE : GNOME_LOGOUT_NO_CONFIRMATION);
}

static void on_session_read(DesktopRead *dr, int r, DesktopSession *d, const char *message, void *userdata) {
        Session *se = userdata;
        char *why = NULL, *m = NULL;

        se->read = desktop_read_free(dr);
        if (d)
                se->desktop = TAKE_STRUCT(*d);
        if (message && !(m = strdup(message)))
                r = -ENOMEM;
        r = look_judge(&se->user, r, &se->desktop, m, &why, &m);
        r = go_on(se, r, why, m);
        if (r != STEP_PENDING)
                session_done(se, r);
}

static int session_to_guest(Step *s) {
        char *why = NULL, *message = NULL;
        Session *se = NULL;
        int r;

        if (!step_is_live(s))
                return 0;
        r = session_new(s, &se);
        if (r < 0)
                return r;
        r = look_who(step_config(s), &se->user, &why, &message);
        if (r <= 0)
                return go_on(se, r, why, message);
        /* The look at the session shares the stage's one "unit" deadline with the engine's
         * observation of it: a session bus that never answers costs that deadline once. */
        r = desktop_session_read_async(&se->user, step_event(s), step_time_left_usec(s, DEADLINE_UNIT),
                                       step_deadline_usec(s, DEADLINE_UNIT), on_session_read, se, &se->read);
        if (r < 0)
                return step_error_errno(s, r,
                                        "Failed to look at the desktop session of %s: %m", se->user.name);
        return STEP_PENDING;
}

/* --- to_host --- */

static int session_to_host(Step *s) {
        const char *user = step_get(s, "user"), *autostart = step_get(s, "autostart"), *script = step_get(s, "script");
        Session *se = NULL;
        DesktopSession *d;
        int r;

        if (!step_is_live(s))
                return 0;
        if (!step_has_record(s)) {
                log_notice("No record of the desktop session: nothing to relaunch.");
                return 0;
        }
        if (!user)
                return step_error_errno(s, SYNTHETIC_ERRNO(EBADMSG), "The session record names no user.");
        r = session_new(s, &se);
        if (r < 0)
                return r;
        d = &se->desktop;
        for (size_t i = 0;; i++) {
                char key[32];
                const char *id, *exec;

                snprintf(key, sizeof(key), "app.%zu", i);
                id = step_get(s, key);
                snprintf(key, sizeof(key), "exec.%zu", i);
                exec = step_get(s, key);
                if (!id || !exec)
                        break;
                if (strv_extend(&d->ids, id) < 0 || strv_extend(&d->execs, exec) < 0)
                        return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        }
        if (!streq_ptr(step_get(s, "save"), "1") || STRV_EMPTY(d->ids) || !autostart || !script) {
                log_info("No app of %s to relaunch.", user);
                return 0;
        }

        r = user_identity_from_name(user, &se->user);
        if (r < 0)
                return step_error_errno(s, r, "Failed to look up user %s: %m", user);
        /* Row 9 of issue 19: only what the machine confirms; writes go as the user anyway. */
        r = session_record_valid(se->user.uid, se->user.home, autostart, script);
        if (r < 0)
                return step_error_errno(s, r, "Out of memory.");
        if (r == 0) {
                /* A warning: no later recover could use this record either. */
                step_warning(s,
                             "The session record names user %s with %s and %s: not baton's relaunch files in "
                             "that user's home, not writing them.", user, autostart, script);
                return 0;
        }
        d->autostart_path = strdup(autostart);
        d->script_path = strdup(script);
        if (!d->autostart_path || !d->script_path)
                return step_error_errno(s, SYNTHETIC_ERRNO(ENOMEM), "Out of memory.");
        /* The entry is written again when it is missing and the session does not run (it ran on:
         * the logout never happened, nothing to relaunch). */
        return write_relaunch(se, true);
}

const Stage stage_session = {
        .name = "session",
        .summary = "the desktop session: logout, relaunch at the next login",
        .observe = session_observe,
        .to_guest = session_to_guest,
        .to_host = session_to_host,
};
