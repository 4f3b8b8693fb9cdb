/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apps.h"
#include "escape.h"
#include "strv.h"
#include "sysfs-util.h"

static bool endswith_str(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);

        return a >= b && streq(s + a - b, suffix);
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* systemd's unit name unescaping: \xNN is a byte. */
static int unescape(const char *s, size_t n, char **ret) {
        char *out = malloc(n + 1), *o = out;

        if (!out)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++) {
                if (s[i] == '\\') {
                        int a, b;

                        if (i + 3 >= n + 0 || s[i + 1] != 'x' || (a = unhex(s[i + 2])) < 0 ||
                            (b = unhex(s[i + 3])) < 0 || (a == 0 && b == 0)) {
                                free(out);
                                return -EINVAL;
                        }
                        *o++ = (char) (a << 4 | b);
                        i += 3;
                } else
                        *o++ = s[i];
        }
        *o = '\0';
        *ret = out;
        return 0;
}

int session_desktop_id_from_scope(const char *unit, char **ret) {
        const char *p, *end, *dash;
        size_t l;

        p = startswith(unit, "app-gnome-");
        if (!p)
                p = startswith(unit, "app-flatpak-");
        if (!p)
                p = startswith(unit, "app-baton-");
        if (!p)
                return -EINVAL;
        l = strlen(p);
        if (l <= strlen(".scope") || !streq(p + l - strlen(".scope"), ".scope"))
                return -EINVAL;
        end = p + l - strlen(".scope");
        /* The random part after the last '-': the id's own dashes are escaped. */
        for (dash = end; dash > p && dash[-1] != '-'; dash--)
                ;
        if (dash <= p + 1 || dash == end)
                return -EINVAL;
        return unescape(p, (size_t) (dash - 1 - p), ret);
}

void desktop_entry_done(DesktopEntry *e) {
        if (e)
                e->exec = mfree(e->exec);
}

static bool is_true(const char *v) {
        return streq(v, "true") || streq(v, "1");
}

int desktop_entry_parse(const char *text, DesktopEntry *ret) {
        _cleanup_(desktop_entry_done) DesktopEntry e = {};
        bool in_group = false;
        const char *line = text;

        while (line && *line) {
                const char *nl = strchr(line, '\n');
                size_t n = nl ? (size_t) (nl - line) : strlen(line);
                _cleanup_free_ char *l = strndup(line, n);
                char *eq, *key, *value;

                if (!l)
                        return -ENOMEM;
                line = nl ? nl + 1 : NULL;
                if (l[0] == '[') {
                        in_group = streq(l, "[Desktop Entry]");
                        continue;
                }
                if (!in_group || l[0] == '#' || !(eq = strchr(l, '=')))
                        continue;
                *eq = '\0';
                key = l;
                value = eq + 1;
                /* Blanks around '=' are allowed. */
                for (char *k = eq - 1; k >= key && (*k == ' ' || *k == '\t'); k--)
                        *k = '\0';
                value += strspn(value, " \t");
                if (streq(key, "NoDisplay"))
                        e.no_display = is_true(value);
                else if (streq(key, "Hidden"))
                        e.hidden = is_true(value);
                else if (streq(key, "X-GNOME-Autostart-enabled"))
                        e.autostart_disabled = !is_true(value);
                else if (streq(key, "Exec")) {
                        free(e.exec);
                        e.exec = strdup(value);
                        if (!e.exec)
                                return -ENOMEM;
                }
        }
        *ret = TAKE_STRUCT(e);
        return 0;
}

int desktop_entry_load(const char *path, DesktopEntry *ret) {
        _cleanup_free_ char *text = NULL;
        int r;

        r = read_regular_file(path, DESKTOP_ENTRY_MAX, &text, NULL);
        if (r < 0)
                return r;
        return desktop_entry_parse(text, ret);
}

static int find_entry(char * const *dirs, const char *subdir, const char *id, DesktopEntry *ret) {
        STRV_FOREACH(d, dirs) {
                _cleanup_free_ char *path = NULL;
                int r;

                if (asprintf(&path, "%s%s/%s.desktop", *d, subdir, id) < 0)
                        return -ENOMEM;
                r = desktop_entry_load(path, ret);
                if (r == -ENOENT)
                        continue;
                return r < 0 ? r : 1;
        }
        return 0;
}

int session_app_wanted(char * const *data_dirs, char * const *autostart_dirs, const char *id,
                       DesktopEntry *ret_entry) {
        _cleanup_(desktop_entry_done) DesktopEntry app = {}, autostart = {};
        int r;

        if (strchr(id, '/'))
                return 0;
        r = find_entry(data_dirs, "/applications", id, &app);
        if (r <= 0)
                return r;
        if (app.no_display || isempty(app.exec))
                return 0;
        r = find_entry(autostart_dirs, "", id, &autostart);
        if (r < 0)
                return r;
        if (r > 0 && !autostart.hidden && !autostart.autostart_disabled)
                return 0;
        if (ret_entry)
                *ret_entry = TAKE_STRUCT(app);
        return 1;
}

int desktop_exec_strip_field_codes(const char *exec, char **ret) {
        char *out = malloc(strlen(exec) + 1), *o = out;

        if (!out)
                return -ENOMEM;
        for (const char *p = exec; *p; p++) {
                if (*p != '%') {
                        *o++ = *p;
                        continue;
                }
                if (p[1] == '%')
                        *o++ = '%';
                if (p[1] != '\0')
                        p++;
        }
        /* Blanks left where a code was at the end. */
        while (o > out && (o[-1] == ' ' || o[-1] == '\t'))
                o--;
        *o = '\0';
        *ret = out;
        return 0;
}

/* 'text' for sh, quotes inside closed and reopened. */
static void fput_shell_quoted(FILE *f, const char *s) {
        fputc('\'', f);
        for (; *s; s++)
                if (*s == '\'')
                        fputs("'\\''", f);
                else
                        fputc(*s, f);
        fputc('\'', f);
}

/* systemd-escape for a unit name's part: [a-zA-Z0-9:_.] stay, the rest becomes \xNN. */
static void fput_unit_escaped(FILE *f, const char *s) {
        for (; *s; s++)
                if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
                    *s == ':' || *s == '_' || *s == '.')
                        fputc(*s, f);
                else
                        fprintf(f, "\\\\x%02x", (unsigned char) *s);
}

int session_relaunch_script(char * const *ids, char * const *execs, const char *autostart_path,
                            char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0, n = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -errno;
        fputs("#!/bin/sh\n"
              "# Written by baton: relaunches, once, the applications that ran before the GPU\n"
              "# went to the guest, each in its own scope.\n", f);
        fputs("rm -f ", f);
        fput_shell_quoted(f, autostart_path);
        fputs(" \"$0\"\n", f);
        for (size_t i = 0; ids && ids[i] && execs && execs[i]; i++, n++) {
                fputs("systemd-run --user --scope --quiet --collect \"--unit=app-baton-", f);
                fput_unit_escaped(f, ids[i]);
                /* The random part holds no '-': it is what follows the id's last dash. */
                fprintf(f, "-$$_%zu.scope\" -- /bin/sh -c ", n);
                fput_shell_quoted(f, execs[i]);
                fputs(" >/dev/null 2>&1 &\n", f);
        }
        fputs("exit 0\n", f);
        if (fclose(f) != 0)
                return -errno;
        *ret = TAKE_PTR(text);
        return 0;
}

int session_autostart_entry(const char *script_path, char **ret) {
        /* The path is quoted for Exec (spec: \" \` \$ \\ inside quotes, and \\ again for the
         * string value): refuse the characters that would need that. */
        if (strpbrk(script_path, "\"`$\\\n%"))
                return -EINVAL;
        return asprintf(ret,
                        "[Desktop Entry]\n"
                        "Type=Application\n"
                        "Name=Relaunch the applications of the last session (baton)\n"
                        "NoDisplay=true\n"
                        "X-GNOME-Autostart-Phase=Applications\n"
                        "Exec=/bin/sh \"%s\"\n", script_path) < 0 ? -ENOMEM : 0;
}

static const char *env_get(char * const *env, const char *key) {
        STRV_FOREACH(e, env) {
                const char *v = startswith(*e, key);

                if (v && v[0] == '=')
                        return v + 1;
        }
        return NULL;
}

/* The absolute entries of a ':' list, each with suffix appended, onto *l (no duplicates). */
static int extend_path_list(char ***l, const char *list, const char *suffix) {
        _cleanup_free_ char *copy = strdup(list);
        char *state = NULL;
        int r;

        if (!copy)
                return -ENOMEM;
        for (char *p = strtok_r(copy, ":", &state); p; p = strtok_r(NULL, ":", &state)) {
                _cleanup_free_ char *d = NULL;

                if (p[0] != '/')
                        continue;
                if (asprintf(&d, "%s%s", p, suffix) < 0)
                        return -ENOMEM;
                if (strv_contains(*l, d))
                        continue;
                r = strv_consume(l, TAKE_PTR(d));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* $key when set to an absolute path, else home + fallback. */
static int xdg_home(char * const *env, const char *key, const char *home, const char *fallback, char **ret) {
        const char *v = env_get(env, key);

        if (!isempty(v) && v[0] == '/')
                return (*ret = strdup(v)) ? 0 : -ENOMEM;
        return asprintf(ret, "%s%s", home, fallback) < 0 ? -ENOMEM : 0;
}

int session_xdg_dirs(const char *home, char * const *env, char ***ret_data_dirs, char ***ret_autostart_dirs) {
        _cleanup_strv_free_ char **data = NULL, **autostart = NULL;
        _cleanup_free_ char *data_home = NULL, *config_home = NULL, *flatpak = NULL;
        const char *v;
        int r;

        r = xdg_home(env, "XDG_DATA_HOME", home, "/.local/share", &data_home);
        if (r >= 0)
                r = xdg_home(env, "XDG_CONFIG_HOME", home, "/.config", &config_home);
        if (r >= 0)
                r = extend_path_list(&data, data_home, "");
        v = env_get(env, "XDG_DATA_DIRS");
        if (r >= 0)
                r = extend_path_list(&data, isempty(v) ? "/usr/local/share:/usr/share" : v, "");
        /* flatpak's profile script adds these to XDG_DATA_DIRS; a session started without it
         * still has flatpak apps. */
        if (r >= 0 && asprintf(&flatpak, "%s/flatpak/exports/share:/var/lib/flatpak/exports/share",
                               data_home) < 0)
                r = -ENOMEM;
        if (r >= 0)
                r = extend_path_list(&data, flatpak, "");
        if (r >= 0)
                r = extend_path_list(&autostart, config_home, "/autostart");
        v = env_get(env, "XDG_CONFIG_DIRS");
        if (r >= 0)
                r = extend_path_list(&autostart, isempty(v) ? "/etc/xdg" : v, "/autostart");
        if (r < 0)
                return r;
        *ret_data_dirs = TAKE_PTR(data);
        *ret_autostart_dirs = TAKE_PTR(autostart);
        return 0;
}

int session_inhibitors_describe(char * const *app_ids, char * const *reasons, char **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (size_t i = 0; app_ids && app_ids[i]; i++) {
                const char *reason = reasons && i < strv_length(reasons) ? reasons[i] : NULL;
                _cleanup_free_ char *id = NULL, *why = NULL;

                /* Both come from the app: escaped, they stay in the line they are put in. */
                if (escape_text(app_ids[i], &id) < 0 || escape_text(strempty(reason), &why) < 0) {
                        fclose(f);
                        free(text);
                        return -ENOMEM;
                }
                fprintf(f, "%s%s (%s)", i > 0 ? ", " : "", isempty(id) ? "an unnamed app" : id,
                        isempty(why) ? "no reason given" : why);
        }
        if (fclose(f) != 0)
                return -ENOMEM;
        *ret = TAKE_PTR(text);
        return 0;
}

/* path is home + "/" + something, with no "." or ".." component and no doubled slash. */
static bool under_home(const char *home, const char *path) {
        const char *rest = startswith(path, home);

        if (isempty(home) || streq(home, "/") || !rest || rest[0] != '/')
                return false;
        return !strstr(rest, "/../") && !strstr(rest, "/./") && !strstr(rest, "//") &&
                !endswith_str(rest, "/..") && !endswith_str(rest, "/.");
}

int session_record_valid(uid_t uid, const char *home, const char *autostart, const char *script) {
        _cleanup_free_ char *expected = NULL;

        if (uid == 0)
                return 0;
        if (asprintf(&expected, "%s/.config/autostart/" SESSION_AUTOSTART_NAME, home) < 0)
                return -ENOMEM;
        if (autostart && (!streq(autostart, expected) || !under_home(home, autostart)))
                return 0;
        if (script && (!under_home(home, script) || !endswith_str(script, "/baton/relaunch-session")))
                return 0;
        return 1;
}
