/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
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

#define NOTIFICATIONS_NAME "org.freedesktop.Notifications"
#define NOTIFICATIONS_PATH "/org/freedesktop/Notifications"

static int on_owner_changed(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        const char *name, *old_owner, *new_owner;

        if (sd_bus_message_read(m, "sss", &name, &old_owner, &new_owner) >= 0 && streq(name, NOTIFICATIONS_NAME) &&
            !isempty(new_owner))
                (void) sd_event_exit(userdata, 0);
        return 0;
}

static int on_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(userdata, -ETIMEDOUT);
}

/* Until the notification server has taken its name: the match is in place before the
 * question, so an owner that comes in between is not missed. */
static int wait_for_server(sd_bus *bus, sd_event *event, uint64_t timeout_usec) {
        _cleanup_(sd_bus_slot_unrefp) sd_bus_slot *match = NULL;
        _cleanup_(sd_event_source_unrefp) sd_event_source *timer = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        int has_owner = 0, r;

        r = sd_bus_match_signal(bus, &match, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                "NameOwnerChanged", on_owner_changed, event);
        if (r >= 0)
                r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                                       "NameHasOwner", NULL, &reply, "s", NOTIFICATIONS_NAME);
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &has_owner);
        if (r < 0 || has_owner)
                return r;
        log_debug("Waiting up to %.0f s for " NOTIFICATIONS_NAME " on the session bus.", timeout_usec / 1e6);
        r = sd_event_add_time_relative(event, &timer, CLOCK_MONOTONIC, timeout_usec, 0, on_deadline, event);
        if (r < 0)
                return r;
        return sd_event_loop(event);
}

/* The spec lets a server with "body-markup" read the body as markup: plain text stays plain. */
static int body_for(sd_bus *bus, const char *body, char **ret) {
        _cleanup_strv_free_ char **caps = NULL;
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        size_t size = 0;
        FILE *f;
        int r;

        r = sd_bus_call_method(bus, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, NOTIFICATIONS_NAME, "GetCapabilities",
                               NULL, &reply, "");
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

static int send_notice(sd_bus *bus, const char *summary, const char *body, uint32_t *ret_id) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_free_ char *text = NULL;
        int r;

        r = body_for(bus, body, &text);
        if (r >= 0)
                r = sd_bus_message_new_method_call(bus, &m, NOTIFICATIONS_NAME, NOTIFICATIONS_PATH, NOTIFICATIONS_NAME,
                                                   "Notify");
        /* The server that owns the name, never one started for the call. */
        if (r >= 0)
                r = sd_bus_message_set_auto_start(m, false);
        if (r >= 0)
                r = sd_bus_message_append(m, "susssasa{sv}i", "baton", (uint32_t) 0, "", summary, text, 0, 0,
                                          (int32_t) -1);
        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r < 0 && error.message)
                return log_error_errno(r, "The notification server refused the notice: %s", error.message);
        if (r >= 0)
                r = sd_bus_message_read(reply, "u", ret_id);
        if (r < 0)
                return log_error_errno(r, "Failed to send the notice: %m");
        return 0;
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

int notify_send(sd_bus *bus, sd_event *event, uint64_t timeout_usec, const char *summary, const char *body,
                uint32_t *ret_id) {
        int r;

        r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
        /* The wait ends with sd_event_exit(), and a bus attached to the loop is closed when the
         * loop exits unless told otherwise: Notify would then fail with ENOTCONN. */
        if (r >= 0)
                r = sd_bus_set_close_on_exit(bus, false);
        if (r < 0)
                return log_error_errno(r, "Failed to attach the session bus to the event loop: %m");
        r = wait_for_server(bus, event, timeout_usec);
        if (r == -ETIMEDOUT)
                return log_error_errno(r, "No notification server (" NOTIFICATIONS_NAME ") on the session bus "
                                       "within %.0f s: the notice stays for the next login.", timeout_usec / 1e6);
        if (r < 0)
                return log_error_errno(r, "Failed to wait for " NOTIFICATIONS_NAME ": %m");
        return send_notice(bus, summary, body, ret_id);
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
