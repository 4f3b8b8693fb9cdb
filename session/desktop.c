/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "apps.h"
#include "desktop.h"
#include "macro.h"
#include "strv.h"

void desktop_session_done(DesktopSession *d) {
        if (!d)
                return;
        d->ids = strv_free(d->ids);
        d->execs = strv_free(d->execs);
        d->scopes = strv_free(d->scopes);
        d->left_out = strv_free(d->left_out);
        d->inhibitors = mfree(d->inhibitors);
        d->autostart_path = mfree(d->autostart_path);
        d->script_path = mfree(d->script_path);
}

/* "what: the bus's error message" for the caller's log line. */
static int fail(const char *what, const sd_bus_error *error, int r, char **ret_message) {
        if (ret_message && asprintf(ret_message, "Failed to %s: %s", what,
                                    error && error->message ? error->message : strerror(-r)) < 0)
                *ret_message = NULL;
        return r;
}

static int name_has_owner(sd_bus *bus, bool *ret, char **ret_message) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int b, r;

        r = sd_bus_call_method(bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                               "NameHasOwner", &error, &reply, "s", GNOME_SESSION_NAME);
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &b);
        if (r < 0)
                return fail("ask the session bus for " GNOME_SESSION_NAME, &error, r, ret_message);
        *ret = b;
        return 0;
}

int desktop_session_present(sd_bus *bus, bool *ret) {
        return name_has_owner(bus, ret, NULL);
}

/* The running app scopes, by ListUnitsByPatterns on the user's systemd manager. */
static int running_scopes(sd_bus *bus, char ***ret, char **ret_message) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *m = NULL, *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        static char *states[] = { (char *) "active", (char *) "activating", (char *) "deactivating", NULL };
        static char *patterns[] = { SESSION_SCOPE_PATTERNS, NULL };
        _cleanup_strv_free_ char **l = NULL;
        const char *name;
        unsigned n = 0;
        int r;

        r = sd_bus_message_new_method_call(bus, &m, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                           "org.freedesktop.systemd1.Manager", "ListUnitsByPatterns");
        if (r >= 0)
                r = sd_bus_message_append_strv(m, states);
        if (r >= 0)
                r = sd_bus_message_append_strv(m, patterns);
        if (r >= 0)
                r = sd_bus_call(bus, m, 0, &error, &reply);
        if (r >= 0)
                r = sd_bus_message_enter_container(reply, 'a', "(ssssssouso)");
        while (r >= 0 && (r = sd_bus_message_read(reply, "(ssssssouso)", &name, NULL, NULL, NULL, NULL, NULL,
                                                  NULL, NULL, NULL, NULL)) > 0) {
                /* strv_extend() is linear, filter_apps() quadratic: bounded by the cap. */
                if (++n > SESSION_SCOPES_MAX) {
                        if (ret_message)
                                (void) asprintf(ret_message, "The user's systemd manager runs more than %u app "
                                                "scopes: refusing to look at them all", SESSION_SCOPES_MAX);
                        return -E2BIG;
                }
                r = strv_extend(&l, name);
        }
        if (r < 0)
                return fail("list the user's app scopes", &error, r, ret_message);
        strv_sort(l);
        *ret = TAKE_PTR(l);
        return 0;
}

typedef struct Filter {
        char **data_dirs, **autostart_dirs;
        DesktopSession *d;
        char **scopes;
} Filter;

/* Runs as the user (in the child of desktop_session_read()): their files, their permissions. */
static int filter_apps(void *userdata) {
        Filter *f = userdata;
        DesktopSession *d = f->d;
        int r;

        STRV_FOREACH(unit, f->scopes) {
                _cleanup_(desktop_entry_done) DesktopEntry e = {};
                _cleanup_free_ char *id = NULL, *exec = NULL;

                if (session_desktop_id_from_scope(*unit, &id) < 0)
                        continue;
                if (strv_contains(d->ids, id)) {
                        r = strv_extend(&d->scopes, *unit);
                        if (r < 0)
                                return r;
                        continue;
                }
                r = session_app_wanted(f->data_dirs, f->autostart_dirs, id, &e);
                if (r < 0 && r != -EACCES && r != -ENOMEM)
                        r = 0;          /* an unreadable .desktop file: not relaunched */
                if (r < 0)
                        return r;
                if (r == 0) {
                        if (!strv_contains(d->left_out, id) && strv_extend(&d->left_out, id) < 0)
                                return -ENOMEM;
                        continue;
                }
                r = desktop_exec_strip_field_codes(e.exec, &exec);
                if (r >= 0)
                        r = strv_consume(&d->ids, TAKE_PTR(id));
                if (r >= 0)
                        r = strv_consume(&d->execs, TAKE_PTR(exec));
                if (r >= 0)
                        r = strv_extend(&d->scopes, *unit);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int inhibitor_strings(sd_bus *bus, const char *path, uint32_t *ret_flags, char **ret_app_id,
                             char **ret_reason, sd_bus_error *error) {
        static const char *const methods[] = { "GetAppId", "GetReason" };
        char **out[] = { ret_app_id, ret_reason };
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *flags = NULL;
        int r;

        r = sd_bus_call_method(bus, GNOME_SESSION_NAME, path, GNOME_INHIBITOR_INTERFACE, "GetFlags", error,
                               &flags, "");
        if (r >= 0)
                r = sd_bus_message_read(flags, "u", ret_flags);
        for (size_t i = 0; r >= 0 && i < ELEMENTSOF(methods); i++) {
                _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
                const char *s;

                r = sd_bus_call_method(bus, GNOME_SESSION_NAME, path, GNOME_INHIBITOR_INTERFACE, methods[i],
                                       error, &reply, "");
                if (r >= 0)
                        r = sd_bus_message_read(reply, "s", &s);
                if (r >= 0 && !(*out[i] = strdup(s)))
                        r = -ENOMEM;
        }
        return r;
}

/* Who inhibits the logout: NULL when nobody. */
static int logout_inhibitors(sd_bus *bus, char **ret, char **ret_message) {
        _cleanup_(sd_bus_message_unrefp) sd_bus_message *reply = NULL;
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        _cleanup_strv_free_ char **ids = NULL, **reasons = NULL, **paths = NULL;
        int inhibited, r;

        r = sd_bus_call_method(bus, GNOME_SESSION_NAME, GNOME_SESSION_PATH, GNOME_SESSION_INTERFACE, "IsInhibited",
                               &error, &reply, "u", GNOME_INHIBIT_LOGOUT);
        if (r >= 0)
                r = sd_bus_message_read(reply, "b", &inhibited);
        if (r < 0)
                return fail("ask GNOME's session manager whether the logout is inhibited", &error, r, ret_message);
        if (!inhibited) {
                *ret = NULL;
                return 0;
        }

        reply = sd_bus_message_unref(reply);
        r = sd_bus_call_method(bus, GNOME_SESSION_NAME, GNOME_SESSION_PATH, GNOME_SESSION_INTERFACE,
                               "GetInhibitors", &error, &reply, "");
        if (r >= 0)
                r = sd_bus_message_read_strv(reply, &paths);
        if (r < 0)
                return fail("ask GNOME's session manager for the inhibitors", &error, r, ret_message);
        /* Each is asked three questions: only the first ones, the refusal names them anyway. */
        for (size_t i = SESSION_INHIBITORS_MAX; i < strv_length(paths); i++)
                paths[i] = mfree(paths[i]);
        STRV_FOREACH(path, paths) {
                _cleanup_free_ char *id = NULL, *reason = NULL;
                uint32_t flags = 0;

                r = inhibitor_strings(bus, *path, &flags, &id, &reason, &error);
                if (r < 0)
                        return fail("ask an inhibitor of GNOME's session manager who it is", &error, r,
                                    ret_message);
                if (!(flags & GNOME_INHIBIT_LOGOUT))
                        continue;
                if (strv_consume(&ids, TAKE_PTR(id)) < 0 || strv_consume(&reasons, TAKE_PTR(reason)) < 0)
                        return -ENOMEM;
        }
        /* Inhibited, but no inhibitor says so (it went away meanwhile): still inhibited. */
        if (!ids && (strv_extend(&ids, "") < 0 || strv_extend(&reasons, "") < 0))
                return -ENOMEM;
        return session_inhibitors_describe(ids, reasons, ret);
}

static int user_environment(sd_bus *bus, char ***ret, char **ret_message) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_get_property_strv(bus, "org.freedesktop.systemd1", "/org/freedesktop/systemd1",
                                     "org.freedesktop.systemd1.Manager", "Environment", &error, ret);
        if (r < 0)
                return fail("read the environment of the user's systemd manager", &error, r, ret_message);
        return 0;
}

/* In the child, as the user: everything from their bus and files, or *ret_message. */
static int read_session(sd_bus *bus, const UserIdentity *u, uint64_t timeout_usec, DesktopSession *ret,
                        char **ret_message) {
        _cleanup_(desktop_session_done) DesktopSession d = {};
        _cleanup_strv_free_ char **env = NULL, **scopes = NULL;
        Filter f = { .d = &d };
        bool present;
        int r;

        r = sd_bus_set_method_call_timeout(bus, timeout_usec);
        if (r < 0)
                return r;
        r = name_has_owner(bus, &present, ret_message);
        if (r < 0)
                return r;
        if (!present) {
                *ret = (DesktopSession) {};
                return 0;
        }
        d.present = true;
        r = user_environment(bus, &env, ret_message);
        if (r >= 0)
                r = running_scopes(bus, &scopes, ret_message);
        if (r >= 0)
                r = logout_inhibitors(bus, &d.inhibitors, ret_message);
        if (r < 0)
                return r;

        r = session_xdg_dirs(u->home, env, &f.data_dirs, &f.autostart_dirs);
        if (r >= 0 && (asprintf(&d.autostart_path, "%s/" SESSION_AUTOSTART_NAME, f.autostart_dirs[0]) < 0 ||
                       asprintf(&d.script_path, "%s/baton/relaunch-session", f.data_dirs[0]) < 0))
                r = -ENOMEM;
        f.scopes = scopes;
        if (r >= 0)
                r = filter_apps(&f);
        strv_free(f.data_dirs);
        strv_free(f.autostart_dirs);
        if (r < 0)
                return fail("read the user's .desktop files", NULL, r, ret_message);
        *ret = TAKE_STRUCT(d);
        return 0;
}

/* The child's answer: records of a one-letter key and a value, each NUL-terminated. */
static void put(FILE *f, char key, const char *value) {
        if (value) {
                fputc(key, f);
                fputs(value, f);
                fputc('\0', f);
        }
}

static void put_strv(FILE *f, char key, char * const *l) {
        STRV_FOREACH(s, l)
                put(f, key, *s);
}

/* In a child running as the user: a client of their session bus, in runtime_dir. */
static int session_bus_connect(const char *runtime_dir, sd_bus **ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_free_ char *address = NULL;
        int r;

        if (asprintf(&address, "unix:path=%s/bus", runtime_dir) < 0)
                return -ENOMEM;
        r = sd_bus_new(&bus);
        if (r >= 0)
                r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(bus);
        return 0;
}

typedef struct ReadArgs {
        const UserIdentity *user;
        uint64_t timeout_usec;
} ReadArgs;

static int read_child(int out_fd, void *userdata) {
        const ReadArgs *a = userdata;
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(desktop_session_done) DesktopSession d = {};
        _cleanup_free_ char *message = NULL;
        char result[16];
        FILE *f;
        int r;

        r = session_bus_connect(a->user->runtime_dir, &bus);
        if (r >= 0)
                r = read_session(bus, a->user, a->timeout_usec, &d, &message);
        f = fdopen(out_fd, "w");
        if (!f)
                return -errno;
        snprintf(result, sizeof(result), "%d", r < 0 ? r : 0);
        put(f, 'R', result);
        put(f, 'M', message);
        put(f, 'P', d.present ? "1" : NULL);
        put(f, 'I', d.inhibitors);
        put(f, 'A', d.autostart_path);
        put(f, 'S', d.script_path);
        put_strv(f, 'i', d.ids);
        put_strv(f, 'e', d.execs);
        put_strv(f, 's', d.scopes);
        put_strv(f, 'l', d.left_out);
        return fclose(f) == 0 ? 0 : -EIO;
}

static int parse_answer(const char *text, size_t size, DesktopSession *d, int *ret_result, char **ret_message) {
        int r = 0, result = -EPROTO;

        for (const char *p = text; r >= 0 && p < text + size; p += strlen(p) + 1) {
                const char *v = p + 1;

                switch (p[0]) {
                case 'R': result = atoi(v); break;
                case 'M': r = (*ret_message = strdup(v)) ? 0 : -ENOMEM; break;
                case 'P': d->present = true; break;
                case 'I': r = free_and_strdup(&d->inhibitors, v); break;
                case 'A': r = free_and_strdup(&d->autostart_path, v); break;
                case 'S': r = free_and_strdup(&d->script_path, v); break;
                case 'i': r = strv_extend(&d->ids, v); break;
                case 'e': r = strv_extend(&d->execs, v); break;
                case 's': r = strv_extend(&d->scopes, v); break;
                case 'l': r = strv_extend(&d->left_out, v); break;
                default: r = -EPROTO;
                }
        }
        *ret_result = result > 0 ? -EPROTO : result;
        return r;
}

/* What the child of a read answered (r, text, size as the child runner gives them). */
static int read_result(const UserIdentity *u, uint64_t timeout_usec, int r, const char *text, size_t size,
                       DesktopSession *ret, char **ret_message) {
        _cleanup_(desktop_session_done) DesktopSession d = {};
        int result;

        if (r == -ETIMEDOUT) {
                if (ret_message)
                        (void) asprintf(ret_message, "%s's session bus and .desktop files did not answer within "
                                        "%.0f s (the \"unit\" deadline)", u->name, timeout_usec / 1e6);
                return r;
        }
        if (r == -EFBIG) {
                if (ret_message)
                        (void) asprintf(ret_message, "%s's session bus told more about the session than %u KiB",
                                        u->name, SESSION_ANSWER_MAX / 1024);
                return r;
        }
        if (r < 0)
                return fail("read the desktop session as its user", NULL, r, ret_message);
        r = parse_answer(text, size, &d, &result, ret_message);
        if (r < 0)
                return fail("read the desktop session as its user", NULL, r, ret_message);
        if (result < 0)
                return result;
        *ret = TAKE_STRUCT(d);
        return 0;
}

int desktop_session_read(const UserIdentity *u, uint64_t timeout_usec, DesktopSession *ret, char **ret_message) {
        _cleanup_free_ char *text = NULL;
        ReadArgs a = { .user = u, .timeout_usec = timeout_usec };
        size_t size = 0;
        int r;

        r = user_run_child(u, timeout_usec, read_child, &a, SESSION_ANSWER_MAX, &text, &size);
        return read_result(u, timeout_usec, r, text, size, ret, ret_message);
}

struct DesktopRead {
        UserIdentity user;
        uint64_t deadline_usec;
        ChildRun *child;
        desktop_read_done_t done;
        void *userdata;
};

DesktopRead *desktop_read_free(DesktopRead *dr) {
        if (!dr)
                return NULL;
        child_run_free(dr->child);
        user_identity_done(&dr->user);
        return mfree(dr);
}

static void on_read(ChildRun *c, int r, const char *text, size_t size, void *userdata) {
        _cleanup_(desktop_session_done) DesktopSession d = {};
        _cleanup_free_ char *message = NULL;
        DesktopRead *dr = userdata;

        dr->child = child_run_free(c);
        r = read_result(&dr->user, dr->deadline_usec, r, text, size, &d, &message);
        dr->done(dr, r, r >= 0 ? &d : NULL, message, dr->userdata);  /* may free dr */
}

int desktop_session_read_async(const UserIdentity *u, sd_event *e, uint64_t timeout_usec, uint64_t deadline_usec,
                               desktop_read_done_t done, void *userdata, DesktopRead **ret) {
        DesktopRead *dr = calloc(1, sizeof(DesktopRead));
        ReadArgs a = { .user = u, .timeout_usec = timeout_usec };
        int r;

        if (!dr)
                return -ENOMEM;
        *dr = (DesktopRead) { .user.uid = u->uid, .deadline_usec = deadline_usec, .done = done,
                              .userdata = userdata };
        dr->user.name = strdup(u->name);
        if (!dr->user.name) {
                desktop_read_free(dr);
                return -ENOMEM;
        }
        r = user_child_async(u, e, timeout_usec, read_child, &a, SESSION_ANSWER_MAX, on_read, dr, &dr->child);
        if (r < 0) {
                desktop_read_free(dr);
                return r;
        }
        *ret = dr;
        return 0;
}

/* --- The relaunch files, written as the user --- */

static int mkdir_parents(const char *path) {
        _cleanup_free_ char *p = strdup(path);

        if (!p)
                return -ENOMEM;
        for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = '\0';
                if (mkdir(p, 0755) < 0 && errno != EEXIST)
                        return -errno;
                *s = '/';
        }
        return 0;
}

int desktop_write_file(const char *path, const char *text, mode_t mode) {
        _cleanup_free_ char *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t n = strlen(text);
        int r;

        r = mkdir_parents(path);
        if (r < 0)
                return r;
        if (asprintf(&tmp, "%s.XXXXXX", path) < 0)
                return -ENOMEM;
        fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (write(fd, text, n) != (ssize_t) n || fchmod(fd, mode) < 0 || fsync(fd) < 0 ||
            rename(tmp, path) < 0) {
                r = errno > 0 ? -errno : -EIO;
                (void) unlink(tmp);
                return r;
        }
        return 0;
}

typedef struct Relaunch {
        const char *script_path, *autostart_path;
        char * const *ids, * const *execs;
} Relaunch;

static int write_relaunch(void *userdata) {
        const Relaunch *rl = userdata;
        _cleanup_free_ char *script = NULL, *entry = NULL;
        int r;

        r = session_relaunch_script(rl->ids, rl->execs, rl->autostart_path, &script);
        if (r >= 0)
                r = session_autostart_entry(rl->script_path, &entry);
        if (r >= 0)
                r = desktop_write_file(rl->script_path, script, 0700);
        /* The entry last: it is what makes the next login run the script. */
        if (r >= 0)
                r = desktop_write_file(rl->autostart_path, entry, 0644);
        return r;
}

/* Whether GNOME's session manager of the user is on their bus: in the child, as the user. */
static int session_present(const char *runtime_dir, bool *ret) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        int r;

        r = session_bus_connect(runtime_dir, &bus);
        if (r == -ENOENT || r == -ECONNREFUSED) {
                *ret = false;
                return 0;
        }
        if (r < 0)
                return r;
        r = name_has_owner(bus, ret, NULL);
        return r == -ENOENT || r == -ECONNREFUSED ? (*ret = false, 0) : r;
}

typedef struct RelaunchArgs {
        Relaunch files;
        const char *runtime_dir;
        bool ensure;
} RelaunchArgs;

/* In the child, as the user: one letter of DesktopRelaunchOutcome to out_fd. */
static int relaunch_child(int out_fd, void *userdata) {
        const RelaunchArgs *a = userdata;
        struct stat st;
        bool present;
        char outcome;
        int r;

        if (a->ensure && lstat(a->files.autostart_path, &st) >= 0)
                outcome = DESKTOP_RELAUNCH_IN_PLACE;
        else if (a->ensure && errno != ENOENT)
                return -errno;
        else {
                r = a->ensure ? session_present(a->runtime_dir, &present) : (present = false, 0);
                if (r < 0)
                        return r;
                if (present)
                        outcome = DESKTOP_RELAUNCH_SESSION_RUNS;
                else {
                        r = write_relaunch((void *) &a->files);
                        if (r < 0)
                                return r;
                        /* Observe what was written, as the user would find it. */
                        outcome = lstat(a->files.autostart_path, &st) >= 0 ? DESKTOP_RELAUNCH_WRITTEN :
                                DESKTOP_RELAUNCH_MISSING;
                }
        }
        return write(out_fd, &outcome, 1) == 1 ? 0 : -EIO;
}

int desktop_session_relaunch_async(const UserIdentity *u, sd_event *e, bool ensure, const char *script_path,
                                   const char *autostart_path, char * const *ids, char * const *execs,
                                   child_run_done_t done, void *userdata, ChildRun **ret) {
        RelaunchArgs a = { { script_path, autostart_path, ids, execs }, u->runtime_dir, ensure };

        return user_child_async(u, e, SESSION_FILES_TIMEOUT_USEC, relaunch_child, &a, 1, done, userdata, ret);
}
