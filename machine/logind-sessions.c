/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "logind-sessions.h"
#include "macro.h"
#include "parse-util.h"
#include "strv.h"
#include "sysfs-util.h"

void logind_session_done(LogindSession *s) {
        free(s->id);
        free(s->user);
        free(s->class);
        free(s->type);
        free(s->controller);
        strv_free(s->devices);
        *s = (LogindSession) {};
}

void logind_sessions_free(LogindSession *s, size_t n) {
        for (size_t i = 0; i < n; i++)
                logind_session_done(&s[i]);
        free(s);
}

/* DEVICES= is a blank-separated list of "MAJOR:MINOR". */
static int parse_devices(const char *value, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *copy = strdup(value);
        char *word, *save = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        for (word = strtok_r(copy, " \t", &save); word; word = strtok_r(NULL, " \t", &save)) {
                r = strv_extend(&l, word);
                if (r < 0)
                        return r;
        }
        strv_free(*ret);
        *ret = TAKE_PTR(l);
        return 0;
}

static int parse_line(LogindSession *s, const char *key, const char *value, bool *has_uid) {
        unsigned u;

        if (streq(key, "UID")) {
                if (safe_atou(value, 10, &u) < 0)
                        return -EBADMSG;
                s->uid = (uid_t) u;
                *has_uid = true;
                return 0;
        }
        if (streq(key, "LEADER"))
                return parse_pid(value, &s->leader) < 0 ? -EBADMSG : 0;
        if (streq(key, "ACTIVE")) {
                s->active = streq(value, "1");
                return 0;
        }
        if (streq(key, "USER"))
                return free_and_strdup(&s->user, value);
        if (streq(key, "CLASS"))
                return free_and_strdup(&s->class, value);
        if (streq(key, "TYPE"))
                return free_and_strdup(&s->type, value);
        if (streq(key, "CONTROLLER"))
                return free_and_strdup(&s->controller, value);
        if (streq(key, "DEVICES"))
                return parse_devices(value, &s->devices);
        return 0;       /* the many others say nothing about devices */
}

int logind_session_parse(const char *id, const char *text, LogindSession *ret) {
        _cleanup_(logind_session_done) LogindSession s = {};
        _cleanup_free_ char *copy = strdup(text);
        char *line, *save = NULL;
        bool has_uid = false;
        int r;

        if (!copy)
                return -ENOMEM;
        r = free_and_strdup(&s.id, id);
        if (r < 0)
                return r;
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char *eq = strchr(line, '=');

                if (line[0] == '#' || !eq)
                        continue;
                *eq = '\0';
                r = parse_line(&s, line, eq + 1, &has_uid);
                if (r < 0)
                        return r;
        }
        if (!has_uid)
                return -EBADMSG;
        if ((!s.user && asprintf(&s.user, "uid %u", (unsigned) s.uid) < 0) ||
            (!s.class && !(s.class = strdup("?"))) || (!s.type && !(s.type = strdup("?"))))
                return -ENOMEM;
        *ret = TAKE_STRUCT(s);
        return 0;
}

static int read_session(const char *root, const char *name, void *ret) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        int r;

        /* Session ids are alphanumeric. Anything with a dot is logind's: the ID.ref FIFO
         * each session's leader holds open (reading it would block) or a temporary that
         * is renamed over ID. */
        if (strchr(name, '.'))
                return 0;
        if (asprintf(&path, "/run/systemd/sessions/%s", name) < 0)
                return -ENOMEM;
        r = read_full_file(root, path, &text, NULL);
        if (r == -ENOENT)
                return 0;       /* the session ended while we looked */
        if (r < 0)
                return r;
        r = logind_session_parse(name, text, ret);
        /* A file logind is rewriting, or not logind's: it holds nothing we can name. */
        return r == -EBADMSG ? 0 : r < 0 ? r : 1;
}

static void session_element_done(void *p) {
        logind_session_done(p);
}

int logind_sessions_read(const char *root, LogindSession **ret, size_t *ret_n) {
        return sysfs_read_entries(root, "/run/systemd/sessions", NULL, sizeof(LogindSession),
                                  read_session, session_element_done, ret, ret_n);
}

const LogindSession *logind_session_by_device(const LogindSession *s, size_t n, const char *devnum) {
        for (size_t i = 0; i < n; i++)
                if (strv_contains(s[i].devices, devnum))
                        return &s[i];
        return NULL;
}

bool logind_pid_keeps_session_devices(const char *root, pid_t pid) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        char *line, *save = NULL;

        if (pid == 1)
                return true;
        if (asprintf(&path, "/proc/%i/cgroup", (int) pid) < 0 ||
            read_full_file(root, path, &text, NULL) < 0)
                return false;
        /* "0::/system.slice/systemd-logind.service" (and the v1 controllers' lines alike). */
        for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                const char *unit = strrchr(line, '/');

                if (unit && streq(unit, "/systemd-logind.service"))
                        return true;
        }
        return false;
}
