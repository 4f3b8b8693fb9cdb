/* SPDX-License-Identifier: GPL-2.0-or-later */
/* session/apps: desktop ids from app scopes, .desktop filtering on fixture files, the
 * relaunch script and its autostart entry. */
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "apps.h"
#include "strv.h"
#include "tests.h"

static void test_scope_ids(void) {
        static const struct { const char *unit, *id; } good[] = {
                { "app-gnome-org.gnome.Nautilus-3417.scope", "org.gnome.Nautilus" },
                { "app-flatpak-org.gimp.GIMP-21203.scope", "org.gimp.GIMP" },
                { "app-gnome-firefox\\x2desr-2216.scope", "firefox-esr" },
                { "app-gnome-org.gnome.Evolution\\x2dalarm\\x2dnotify-1200.scope",
                  "org.gnome.Evolution-alarm-notify" },
                /* relaunched by baton, saved again at the next handover */
                { "app-baton-org.gnome.Nautilus-12_0.scope", "org.gnome.Nautilus" },
                { "app-baton-firefox\\x2desr-812_3.scope", "firefox-esr" },
        };
        static const char *const bad[] = {
                "app-gnome-org.gnome.Nautilus-3417.service",    /* a service, not a scope */
                "app-kde-org.kde.dolphin-12.scope",             /* another launcher */
                "app-gnome-3417.scope",                         /* no id */
                "app-gnome-org.gnome.Nautilus-.scope",          /* no random part */
                "app-gnome-bad\\x2-1.scope",                    /* a broken escape */
                "session-2.scope",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                _cleanup_free_ char *id = NULL;

                ASSERT_OK(session_desktop_id_from_scope(good[i].unit, &id));
                ASSERT_STREQ(id, good[i].id);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char *id = NULL;

                ASSERT_EQ(session_desktop_id_from_scope(bad[i], &id), -EINVAL);
                ASSERT_NULL(id);
        }
}

static void test_wanted(void) {
        char *data[] = { (char *) FIXTURES "/session/data", NULL };
        char *autostart[] = { (char *) FIXTURES "/session/autostart",
                              (char *) FIXTURES "/session/xdg-autostart", NULL };
        static const struct { const char *id; int wanted; } cases[] = {
                { "org.gnome.TextEditor", 1 },                  /* NoDisplay only in an action group */
                { "firefox-esr", 1 },
                { "org.gnome.Evolution-alarm-notify", 0 },      /* NoDisplay = true */
                { "org.gnome.Software", 0 },                    /* system autostart */
                { "com.example.Chat", 0 },                      /* the user's autostart */
                { "org.example.Hidden", 1 },                    /* autostart entry deleted */
                { "org.example.Missing", 0 },                   /* no .desktop file */
                { "../applications/firefox-esr", 0 },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(desktop_entry_done) DesktopEntry e = {};
                int r = session_app_wanted(data, autostart, cases[i].id, &e);

                if (r != cases[i].wanted)
                        TEST_FAIL("%s: wanted %d, got %d", cases[i].id, cases[i].wanted, r);
                if (r > 0)
                        ASSERT_TRUE(!isempty(e.exec));
        }
}

/* Row 2 and 3 of issue 19: a FIFO named like an app's .desktop file kept root in open() for
 * good, a link to /dev/zero made it allocate until the OOM killer came. Both, and an
 * oversized file, are refused at once (alarm: a hang fails the test instead of the suite). */
static void test_hostile_desktop_files(void) {
        char dir[] = "/tmp/test-session.XXXXXX", path[128];
        char *data[] = { dir, NULL }, *autostart[] = { dir, NULL };
        _cleanup_(desktop_entry_done) DesktopEntry e = {};
        FILE *f;

        ASSERT_TRUE(mkdtemp(dir));
        snprintf(path, sizeof(path), "%s/applications", dir);
        ASSERT_OK(mkdir(path, 0755) < 0 ? -errno : 0);
        snprintf(path, sizeof(path), "%s/applications/fifo.desktop", dir);
        ASSERT_OK(mkfifo(path, 0644) < 0 ? -errno : 0);
        snprintf(path, sizeof(path), "%s/applications/zero.desktop", dir);
        ASSERT_OK(symlink("/dev/zero", path) < 0 ? -errno : 0);
        snprintf(path, sizeof(path), "%s/applications/big.desktop", dir);
        f = fopen(path, "we");
        ASSERT_TRUE(f);
        fputs("[Desktop Entry]\nExec=big\n", f);
        for (size_t i = 0; i < DESKTOP_ENTRY_MAX / 16; i++)
                fputs("# padding ......\n", f);
        ASSERT_TRUE(fclose(f) == 0);

        alarm(10);
        snprintf(path, sizeof(path), "%s/applications/fifo.desktop", dir);
        ASSERT_EQ(desktop_entry_load(path, &e), -EBADFD);
        snprintf(path, sizeof(path), "%s/applications/zero.desktop", dir);
        ASSERT_EQ(desktop_entry_load(path, &e), -EBADFD);
        snprintf(path, sizeof(path), "%s/applications/big.desktop", dir);
        ASSERT_EQ(desktop_entry_load(path, &e), -EFBIG);
        ASSERT_EQ(session_app_wanted(data, autostart, "fifo", &e), -EBADFD);
        alarm(0);

        snprintf(path, sizeof(path), "rm -rf '%s'", dir);
        ASSERT_EQ(system(path), 0);
}

/* Row 9 of issue 19: what recover takes from a session record. */
static void test_record_valid(void) {
        const char *home = "/home/al", *a = "/home/al/.config/autostart/baton-relaunch.desktop",
                   *sc = "/home/al/.local/share/baton/relaunch-session";

        ASSERT_EQ(session_record_valid(1000, home, a, sc), 1);
        ASSERT_EQ(session_record_valid(1000, home, NULL, NULL), 1);
        ASSERT_EQ(session_record_valid(0, "/root", "/root/.config/autostart/baton-relaunch.desktop", NULL), 0);
        ASSERT_EQ(session_record_valid(1000, home, "/etc/xdg/autostart/baton-relaunch.desktop", sc), 0);
        ASSERT_EQ(session_record_valid(1000, home, "/home/al/.config/autostart/evil.desktop", sc), 0);
        ASSERT_EQ(session_record_valid(1000, home, a, "/etc/cron.d/baton/relaunch-session"), 0);
        ASSERT_EQ(session_record_valid(1000, home, a, "/home/al/../bob/baton/relaunch-session"), 0);
        ASSERT_EQ(session_record_valid(1000, home, a, "/home/alice/baton/relaunch-session"), 0);
        ASSERT_EQ(session_record_valid(1000, home, a, "/home/al/.local/share/baton/other"), 0);
        ASSERT_EQ(session_record_valid(1000, "/", "/.config/autostart/baton-relaunch.desktop", NULL), 0);
}

static void test_field_codes(void) {
        static const struct { const char *in, *out; } cases[] = {
                { "gnome-text-editor %U", "gnome-text-editor" },
                { "app --title=%c --icon %i %f", "app --title= --icon" },
                { "printf 100%%", "printf 100%" },
                { "plain", "plain" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *s = NULL;

                ASSERT_OK(desktop_exec_strip_field_codes(cases[i].in, &s));
                ASSERT_STREQ(s, cases[i].out);
        }
}

static void test_relaunch_texts(void) {
        char *ids[] = { (char *) "org.gnome.TextEditor", (char *) "firefox-esr", NULL };
        char *execs[] = { (char *) "gnome-text-editor", (char *) "sh -c 'echo it'\\''s'", NULL };
        _cleanup_free_ char *script = NULL, *entry = NULL;
        char *bad = NULL;

        ASSERT_OK(session_relaunch_script(ids, execs, "/home/u/.config/autostart/baton-relaunch.desktop",
                                          &script));
        ASSERT_STREQ(script,
                     "#!/bin/sh\n"
                     "# Written by baton: relaunches, once, the applications that ran before the GPU\n"
                     "# went to the guest, each in its own scope.\n"
                     "rm -f '/home/u/.config/autostart/baton-relaunch.desktop' \"$0\"\n"
                     "systemd-run --user --scope --quiet --collect \"--unit=app-baton-org.gnome.TextEditor-$$_0.scope\" "
                     "-- /bin/sh -c 'gnome-text-editor' >/dev/null 2>&1 &\n"
                     "systemd-run --user --scope --quiet --collect \"--unit=app-baton-firefox\\\\x2desr-$$_1.scope\" "
                     "-- /bin/sh -c 'sh -c '\\''echo it'\\''\\'\\'''\\''s'\\''' >/dev/null 2>&1 &\n"
                     "exit 0\n");

        ASSERT_OK(session_autostart_entry("/home/u/.local/share/baton/relaunch", &entry));
        ASSERT_STREQ(entry,
                     "[Desktop Entry]\n"
                     "Type=Application\n"
                     "Name=Relaunch the applications of the last session (baton)\n"
                     "NoDisplay=true\n"
                     "X-GNOME-Autostart-Phase=Applications\n"
                     "Exec=/bin/sh \"/home/u/.local/share/baton/relaunch\"\n");
        ASSERT_EQ(session_autostart_entry("/home/$USER/x", &bad), -EINVAL);
        ASSERT_NULL(bad);
}

static void test_xdg_dirs(void) {
        _cleanup_strv_free_ char **data = NULL, **autostart = NULL;
        char *env[] = { (char *) "PATH=/usr/bin", (char *) "XDG_DATA_DIRS=/opt/share:relative:/usr/share:/opt/share",
                        (char *) "XDG_CONFIG_HOME=/cfg", (char *) "XDG_CONFIG_DIRSX=/nope",
                        (char *) "XDG_DATA_HOME=not/absolute", NULL };

        /* No environment: the spec's defaults, and flatpak's exports. */
        ASSERT_OK(session_xdg_dirs("/home/u", NULL, &data, &autostart));
        ASSERT_EQ(strv_length(data), 5);
        ASSERT_STREQ(data[0], "/home/u/.local/share");
        ASSERT_STREQ(data[1], "/usr/local/share");
        ASSERT_STREQ(data[2], "/usr/share");
        ASSERT_STREQ(data[3], "/home/u/.local/share/flatpak/exports/share");
        ASSERT_STREQ(data[4], "/var/lib/flatpak/exports/share");
        ASSERT_EQ(strv_length(autostart), 2);
        ASSERT_STREQ(autostart[0], "/home/u/.config/autostart");
        ASSERT_STREQ(autostart[1], "/etc/xdg/autostart");
        data = strv_free(data);
        autostart = strv_free(autostart);

        /* The session's own lists; relative entries and duplicates dropped. */
        ASSERT_OK(session_xdg_dirs("/home/u", env, &data, &autostart));
        ASSERT_EQ(strv_length(data), 5);
        ASSERT_STREQ(data[0], "/home/u/.local/share");
        ASSERT_STREQ(data[1], "/opt/share");
        ASSERT_STREQ(data[2], "/usr/share");
        ASSERT_STREQ(data[3], "/home/u/.local/share/flatpak/exports/share");
        ASSERT_EQ(strv_length(autostart), 2);
        ASSERT_STREQ(autostart[0], "/cfg/autostart");
        ASSERT_STREQ(autostart[1], "/etc/xdg/autostart");
}

static void test_inhibitors_describe(void) {
        char *ids[] = { (char *) "org.gnome.TextEditor", (char *) "", (char *) "firefox-esr", NULL };
        char *reasons[] = { (char *) "Unsaved document", (char *) "x", (char *) "", NULL };
        _cleanup_free_ char *s = NULL, *none = NULL;

        ASSERT_OK(session_inhibitors_describe(ids, reasons, &s));
        ASSERT_STREQ(s, "org.gnome.TextEditor (Unsaved document), an unnamed app (x), firefox-esr (no reason given)");
        /* Row 5 of issue 19: the app's words stay on the line, escape sequences are shown. */
        char *bad_ids[] = { (char *) "evil\napp", NULL };
        char *bad_reasons[] = { (char *) "\x1b[2Jgone\r", NULL };
        _cleanup_free_ char *bad = NULL;
        ASSERT_OK(session_inhibitors_describe(bad_ids, bad_reasons, &bad));
        ASSERT_STREQ(bad, "evil\\x0aapp (\\x1b[2Jgone\\x0d)");
        ASSERT_OK(session_inhibitors_describe(NULL, NULL, &none));
        ASSERT_STREQ(none, "");
}

int main(void) {
        RUN(test_scope_ids);
        RUN(test_wanted);
        RUN(test_hostile_desktop_files);
        RUN(test_record_valid);
        RUN(test_field_codes);
        RUN(test_relaunch_texts);
        RUN(test_xdg_dirs);
        RUN(test_inhibitors_describe);
        return 0;
}
