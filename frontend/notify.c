/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdbool.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "log.h"
#include "macro.h"
#include "notify.h"
#include "notice.h"
#include "strv.h"
#include "time-util.h"

#define NOTIFICATIONS_NAME "org.freedesktop.Notifications"
#define NOTIFICATIONS_PATH "/org/freedesktop/Notifications"

/* GNOME Shell's notification service takes org.freedesktop.Notifications before it exports
 * its object, and its object forwards to the shell's own, which comes later still: a call in
 * between gets UnknownMethod, "Object does not exist at path". The lab saw it 11 s after the
 * name appeared. An answer of this kind means "not yet", so the call is made again. */
#define NOTIFY_RETRY_USEC (250 * 1000ULL)

typedef struct Wait {
        sd_event *event;
        uint64_t start, deadline;       /* CLOCK_MONOTONIC, of the whole notify_send() */
        bool woken;
} Wait;

static int on_wake(sd_event_source *s, uint64_t usec, void *userdata) {
        Wait *w = userdata;

        w->woken = true;
        return 0;
}

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *name, *old_owner, *new_owner;
        Wait *w = userdata;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) >= 0 && streq(name, NOTIFICATIONS_NAME) &&
            !isempty(new_owner))
                w->woken = true;
        return 0;
}

/* Runs the loop until a callback wakes it or until `until`, never past the deadline:
 * -ETIMEDOUT once the deadline has come. */
static int wait_until(Wait *w, uint64_t until) {
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL;
        int r;

        if (until > w->deadline)
                until = w->deadline;
        r = sd_event_add_time(w->event, &timer, CLOCK_MONOTONIC, until, 10 * 1000ULL, on_wake, w);
        if (r < 0)
                return r;
        for (w->woken = false; !w->woken;) {
                r = sd_event_run(w->event, UINT64_MAX);
                if (r < 0)
                        return r;
        }
        return now_usec() >= w->deadline ? -ETIMEDOUT : 0;
}

/* Until the notification server has taken its name: the match is in place before the
 * question, so an owner that comes in between is not missed. */
static int wait_for_server(sd_bus *bus, Wait *w) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has_owner = 0, r;

        r = sd_bus_match_signal(bus, &match, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                "NameOwnerChanged", on_owner_changed, w);
        if (r >= 0)
                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", NULL, &reply, "s", NOTIFICATIONS_NAME);
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &has_owner);
        if (r < 0 || has_owner)
                return r;
        log_debug("Waiting up to %.0f s for " NOTIFICATIONS_NAME " on the session bus.",
                  (w->deadline - now_usec()) / 1e6);
        return wait_until(w, w->deadline);
}

static bool server_not_ready(const sd_bus_error *error) {
        return sd_bus_error_has_names(error, SD_BUS_ERROR_UNKNOWN_METHOD, SD_BUS_ERROR_UNKNOWN_OBJECT,
                                      SD_BUS_ERROR_UNKNOWN_INTERFACE, SD_BUS_ERROR_SERVICE_UNKNOWN,
                                      SD_BUS_ERROR_NAME_HAS_NO_OWNER);
}

/* A method call on the server, bounded by what is left of the deadline rather than sd-bus's
 * default of 25 s: GNOME Shell under load can take longer than that to answer. */
static int call_server(sd_bus *bus, const Wait *w, sd_bus_message *m, sd_bus_error *error,
                       sd_bus_message **ret_reply) {
        uint64_t now = now_usec();
        int r;

        if (now >= w->deadline)
                return -ETIMEDOUT;
        /* The server that owns the name, never one started for the call. */
        r = sd_bus_message_set_auto_start(m, false);
        if (r < 0)
                return r;
        return sd_bus_call(bus, m, w->deadline - now, error, ret_reply);
}

/* The spec lets a server with "body-markup" read the body as markup: plain text stays plain.
 * A server that does not answer GetCapabilities gets the text as it is, unless its answer
 * says it is not ready: then that is the caller's to handle. */
static int body_for(sd_bus *bus, const Wait *w, const char *body, sd_bus_error *error, char **ret) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_strv_free_ char **caps = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, NOTIFICATIONS_NAME,
                                           "GetCapabilities");
        if (r >= 0)
                r = call_server(bus, w, m, error, &reply);
        if (r < 0 && server_not_ready(error))
                return r;
        sd_bus_error_free(error);
        if (r >= 0)
                r = sd_bus_message_read_strv(reply, &caps);
        if (r < 0 || !strv_contains(caps, "body-markup"))
                return (*ret = strdup(body)) ? 0 : -ENOMEM;
        f = open_memstream(ret, &size);
        if (!f)
                return -ENOMEM;
        for (const char *p = body; *p; p++)
                switch (*p) {
                case '&': fputs("&amp;", f); break;
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                default: fputc(*p, f);
                }
        return fclose(f) == 0 ? 0 : -ENOMEM;
}

/* One try: GetCapabilities, then Notify. A D-Bus error from the server is left in error. */
static int try_notice(sd_bus *bus, const Wait *w, const char *summary, const char *body, sd_bus_error *error,
                      uint32_t *ret_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        r = body_for(bus, w, body, error, &text);
        if (r >= 0)
                r = sd_bus_message_new_method_call(bus, &m, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, NOTIFICATIONS_NAME,
                                                   "Notify");
        if (r >= 0)
                r = sd_bus_message_append(m, "susssasa{sv}i", "baton", (uint32_t) 0, "", summary, text, 0, 0,
                                          (int32_t) -1);
        if (r >= 0)
                r = call_server(bus, w, m, error, &reply);
        if (r >= 0)
                r = sd_bus_message_read(reply, "u", ret_id);
        return r;
}

static int send_notice(sd_bus *bus, Wait *w, const char *summary, const char *body, uint32_t *ret_id) {
        unsigned tries = 0;
        int r;

        for (;;) {
                _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;

                tries++;
                r = try_notice(bus, w, summary, body, &error, ret_id);
                if (r >= 0) {
                        if (tries > 1)
                                log_debug("The notification server took the notice at try %u.", tries);
                        return 0;
                }
                if (!server_not_ready(&error)) {
                        if (r == -ETIMEDOUT)
                                return log_error_errno(r, "The notification server did not answer within the "
                                                       "%.0f s given: the notice stays for the next login.",
                                                       (w->deadline - w->start) / 1e6);
                        if (error.message)
                                return log_error_errno(r, "The notification server refused the notice: %s",
                                                       error.message);
                        return log_error_errno(r, "Failed to send the notice: %m");
                }
                log_debug("The notification server is not ready (%s), asking again.", error.message);
                r = wait_until(w, now_usec() + NOTIFY_RETRY_USEC);
                if (r == -ETIMEDOUT)
                        return log_error_errno(r, "The notification server was still not ready after %.0f s and "
                                               "%u tries (%s): the notice stays for the next login.",
                                               (w->deadline - w->start) / 1e6, tries, error.message);
                if (r < 0)
                        return log_error_errno(r, "Failed to wait for the notification server: %m");
        }
}

int notify_send(sd_bus *bus, sd_event *event, uint64_t timeout_usec, const char *summary, const char *body,
                uint32_t *ret_id) {
        Wait w = { .event = event, .start = now_usec() };
        int r;

        w.deadline = w.start + timeout_usec;
        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the session bus to the event loop: %m");
        r = wait_for_server(bus, &w);
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "No notification server (" NOTIFICATIONS_NAME ") on the session bus "
                                       "within %.0f s: the notice stays for the next login.", timeout_usec / 1e6);
        if (r < 0)
                return log_error_errno(r, "Failed to wait for " NOTIFICATIONS_NAME ": %m");
        return send_notice(bus, &w, summary, body, ret_id);
}

static int read_notice(const char *file, char **ret_summary, char **ret_body) {
        int r;

        r = notice_read(file, ret_summary, ret_body);
        if (r == -EFBIG)
                return log_error_errno(r, "Refusing %s: larger than %u bytes. Nothing was sent.", file,
                                       NOTICE_FILE_MAX);
        if (r == -EBADMSG)
                return log_error_errno(r, "Refusing %s: not a baton notice (a '" NOTICE_HEADER "' line, then a "
                                       "'summary TEXT' and a 'body TEXT' line, without control characters). "
                                       "Nothing was sent.", file);
        if (r == -EISDIR || r == -EBADFD)
                return log_error_errno(r, "Refusing %s: not a regular file. Nothing was sent.", file);
        if (r < 0 && r != -ENOENT)
                return log_error_errno(r, "Failed to read %s: %m", file);
        return r;
}

static void remove_file(const char *path) {
        if (unlink(path) < 0 && errno != ENOENT)
                log_warning_errno(errno, "Failed to remove %s, ignoring: %m", path);
}

int notify_run(uint64_t timeout_usec) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_free_ char *file = NULL, *autostart = NULL, *claimed = NULL, *summary = NULL, *body = NULL;
        struct passwd *pw;
        uint32_t id = 0;
        int r;

        if (getuid() == 0)
                return log_error_errno(SYNTHETIC_ERRNO(EPERM), "notify runs in the desktop user's session as that "
                                       "user (its autostart entry starts it), not as root.");
        errno = 0;
        pw = getpwuid(getuid());
        if (!pw)
                return log_error_errno(errno > 0 ? -errno : SYNTHETIC_ERRNO(ESRCH), "Failed to look up uid %u: %m",
                                       (unsigned) getuid());
        r = notice_paths(pw->pw_dir, &file, &autostart);
        if (r < 0)
                return log_error_errno(r, "Out of memory.");
        r = notice_claim(file, &claimed);
        if (r == -ENOENT) {
                _cleanup_free_ char *sending = NULL;

                log_debug("No notice in %s (none, or another baton notify has it): nothing to tell.", file);
                /* A stale entry goes; one another baton notify is sending for stays, for it to remove. */
                if (asprintf(&sending, "%s.sending", file) >= 0 && access(sending, F_OK) < 0 && errno == ENOENT)
                        remove_file(autostart);
                return 0;
        }
        if (r < 0)
                return log_error_errno(r, "Failed to take %s for sending: %m", file);
        r = read_notice(claimed, &summary, &body);
        if (r == -ENOENT)
                return 0;
        if (r < 0) {
                remove_file(claimed);           /* refused: it would be refused at every login */
                remove_file(autostart);
                return r;
        }

        r = sd_event_default(&event);
        if (r >= 0)
                r = sd_bus_open_user(&bus);
        if (r < 0)
                return log_error_errno(r, "Failed to connect to the session bus: %m");
        r = notify_send(bus, event, timeout_usec, summary, body, &id);
        if (r < 0) {
                int k = notice_unclaim(claimed, file);

                if (k < 0)
                        log_warning_errno(k, "Failed to keep %s for the next login, ignoring: %m", file);
                return r;
        }
        /* Sent: once is enough. */
        remove_file(claimed);
        remove_file(autostart);
        log_info("Sent the notice (id %u): %s", id, summary);
        return 0;
}
