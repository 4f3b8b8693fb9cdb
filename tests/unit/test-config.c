/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <libevdev/libevdev.h>

#include "config-file.h"
#include "log.h"
#include "strv.h"
#include "sysfs-util.h"
#include "tests.h"

#define SEC UINT64_C(1000000)
#define CONFIG(name) FIXTURE("config/" name)

/* What the errors say is expected, for the values of several keys. */
#define EXPECT_SECONDS "expected seconds, 0 < s <= 86400, with up to six decimals (2.5)"
#define EXPECT_NAME "expected nothing or a name matching [a-z_][a-z0-9_-]*, at most 32 characters"
#define EXPECT_DEVICES \
        "expected nothing, or by-id names, absolute paths and name:\"...\" separated by blanks, " \
        "no control characters"
#define EXPECT_HOTKEY \
        "expected 1 to 4 distinct keyboard key names joined by '+', e.g. KEY_LEFTCTRL+KEY_RIGHTCTRL"

static char *dump(const Config *c) {
        char *text = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&text, &n);

        ASSERT_TRUE(f);
        ASSERT_OK(config_dump(c, f));
        ASSERT_EQ(fclose(f), 0);
        return text;
}

/* Loads from dir, or from text when dir is NULL, with stderr going to a temporary file;
 * returns the load's result and in *ret_log what it logged. */
static int load_logged(const char *dir, const char *text, Config *c, char **ret_log) {
        FILE *log = tmpfile();
        size_t n = 0;
        int saved, r;

        ASSERT_TRUE(log);
        saved = dup(STDERR_FILENO);
        ASSERT_TRUE(saved >= 0);
        ASSERT_TRUE(dup2(fileno(log), STDERR_FILENO) >= 0);
        r = dir ? config_load(dir, c) : config_load_string(text, "test.conf", c);
        ASSERT_TRUE(dup2(saved, STDERR_FILENO) >= 0);
        ASSERT_EQ(close(saved), 0);

        rewind(log);
        *ret_log = NULL;
        if (getdelim(ret_log, &n, '\0', log) < 0) {
                free(*ret_log);
                *ret_log = strdup("");
        }
        ASSERT_EQ(fclose(log), 0);
        return r;
}

/* A successful load logs nothing. */
static void load_ok(const char *dir, const char *text, Config *c) {
        _cleanup_free_ char *log = NULL;

        ASSERT_OK(load_logged(dir, text, c, &log));
        ASSERT_STREQ(log, "");
}

/* A failed load returns error, logs exactly message once and leaves the Config it was given
 * as it was: the full fixture's, here. */
static void load_fails(const char *dir, const char *text, int error, const char *message) {
        _cleanup_(config_done) Config c = {};
        _cleanup_free_ char *before = NULL, *after = NULL, *log = NULL, *expected = NULL;
        char **devices;

        load_ok(CONFIG("full"), NULL, &c);
        before = dump(&c);
        devices = c.input_devices;

        ASSERT_EQ(load_logged(dir, text, &c, &log), error);
        ASSERT_TRUE(asprintf(&expected, "baton: %s\n", message) > 0);
        ASSERT_STREQ(log, expected);

        after = dump(&c);
        ASSERT_STREQ(after, before);
        ASSERT_TRUE(c.input_devices == devices);
}

static void assert_defaults(const Config *c) {
        ASSERT_STREQ(c->gpu_address, "");
        ASSERT_FALSE(c->allow_foreign_devices);
        ASSERT_STREQ(c->display_manager_unit, "display-manager.service");
        ASSERT_TRUE(c->deadline_usec[DEADLINE_HOLDERS] == 10 * SEC);
        ASSERT_TRUE(c->deadline_usec[DEADLINE_UNBIND] == 10 * SEC);
        ASSERT_TRUE(c->deadline_usec[DEADLINE_PROBE] == 20 * SEC);
        ASSERT_TRUE(c->deadline_usec[DEADLINE_MODULE] == 10 * SEC);
        ASSERT_TRUE(c->deadline_usec[DEADLINE_UNIT] == 30 * SEC);
        ASSERT_EQ(c->audio_release, AUDIO_RELEASE_RESERVE);
        ASSERT_STREQ(c->audio_user, "");
        ASSERT_TRUE(c->session_logout);
        ASSERT_STREQ(c->session_user, "");
        ASSERT_TRUE(c->session_save);
        ASSERT_FALSE(c->force_logout);
        ASSERT_TRUE(c->logout_timeout_usec == 60 * SEC);
        ASSERT_NULL(c->input_devices);
        ASSERT_EQ(c->hotkey.n_keys, 2);
        ASSERT_EQ(c->hotkey.keys[0], KEY_LEFTCTRL);
        ASSERT_EQ(c->hotkey.keys[1], KEY_RIGHTCTRL);
        ASSERT_EQ(c->recover_hotkey.n_keys, 0);
        ASSERT_STREQ(c->guest_name_prefix, "baton");
        ASSERT_EQ(c->input_realtime_priority, 15u);
        ASSERT_STREQ(c->admin_group, "");
}

static void test_defaults(void) {
        _cleanup_(config_done) Config c = {};

        config_init(&c);
        assert_defaults(&c);
        config_done(&c);

        /* Neither baton.conf nor baton.conf.d, nor the directory itself. */
        load_ok(CONFIG("missing"), NULL, &c);
        assert_defaults(&c);
        config_done(&c);

        load_ok(NULL, "", &c);
        assert_defaults(&c);
}

static void test_full(void) {
        _cleanup_(config_done) Config c = {};

        load_ok(CONFIG("full"), NULL, &c);
        ASSERT_STREQ(c.gpu_address, "0000:0a:00.0");    /* as sysfs spells it */
        ASSERT_TRUE(c.allow_foreign_devices);
        ASSERT_STREQ(c.display_manager_unit, "gdm3.service");
        ASSERT_TRUE(c.deadline_usec[DEADLINE_HOLDERS] == 2500000);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_UNBIND] == 1);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_PROBE] == 86400 * SEC);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_MODULE] == 7 * SEC);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_UNIT] == 45250000);
        ASSERT_EQ(c.audio_release, AUDIO_RELEASE_STOP_UNITS);
        ASSERT_STREQ(c.audio_user, "alice");
        ASSERT_FALSE(c.session_logout);
        ASSERT_STREQ(c.session_user, "bob");
        ASSERT_FALSE(c.session_save);
        ASSERT_TRUE(c.force_logout);
        ASSERT_TRUE(c.logout_timeout_usec == 120 * SEC);
        ASSERT_EQ(strv_length(c.input_devices), 4);
        ASSERT_STREQ(c.input_devices[0], "usb-Logitech_USB_Receiver-event-kbd");
        ASSERT_STREQ(c.input_devices[1], "/dev/input/event7");
        ASSERT_STREQ(c.input_devices[2], "name:Razer DeathAdder V2");
        ASSERT_STREQ(c.input_devices[3], "name:Keychron");
        ASSERT_EQ(c.hotkey.n_keys, 2);
        ASSERT_EQ(c.hotkey.keys[0], KEY_LEFTALT);
        ASSERT_EQ(c.hotkey.keys[1], KEY_F12);
        ASSERT_EQ(c.recover_hotkey.n_keys, 3);
        ASSERT_EQ(c.recover_hotkey.keys[2], KEY_BACKSPACE);
        /* ';' starts a comment only after a blank. */
        ASSERT_STREQ(c.guest_name_prefix, "win11 vm;2");
        ASSERT_EQ(c.input_realtime_priority, 0u);
        ASSERT_STREQ(c.admin_group, "baton-admins");
}

static void test_dropins(void) {
        _cleanup_(config_done) Config c = {};

        /* baton.conf says 5 for all three; 100-a.conf comes before 20-b.conf (strcmp order),
         * so holders ends as 20-b.conf's 8, unbind as 100-a.conf's 7. The hidden file, the
         * other names and the directory would fail the load if they were read. */
        load_ok(CONFIG("dropins"), NULL, &c);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_HOLDERS] == 8 * SEC);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_UNBIND] == 7 * SEC);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_PROBE] == 5 * SEC);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_MODULE] == 10 * SEC);
        /* A list is replaced, not extended. */
        ASSERT_EQ(strv_length(c.input_devices), 2);
        ASSERT_STREQ(c.input_devices[0], "/dev/input/event2");
        config_done(&c);

        /* Drop-ins without a baton.conf. */
        load_ok(CONFIG("dropin-only"), NULL, &c);
        ASSERT_FALSE(c.session_save);
}

static void test_file_errors(void) {
        /* The message is before, the fixture's path, then after. */
        static const struct {
                const char *dir, *before, *after;
                int error;
        } cases[] = {
                { "err-unknown-key", "", "/baton.conf.d/10-x.conf:3: unknown key 'foo' in section [deadlines]",
                  -EINVAL },
                { "err-invalid", "", "/baton.conf:5: invalid value 'abc' for 'holders' in [deadlines]: "
                  EXPECT_SECONDS, -EINVAL },
                /* A key set twice in one file is an error even in another [deadlines] block;
                 * set again in a later file it is not (10-ok.conf then 20-bad.conf). */
                { "err-later-dropin", "", "/baton.conf.d/20-bad.conf:4: duplicate key 'unbind' in [deadlines], "
                  "first set on line 2", -EINVAL },
                /* The same chord in any order; named is the later of the two settings. */
                { "err-hotkey-clash", "", "/baton.conf.d/10-x.conf:3: 'hotkey' and 'recover-hotkey' in [input] "
                  "are the same keys, KEY_ESC+KEY_LEFTMETA", -EINVAL },
                { "err-nul", "", "/baton.conf:3: NUL byte in the text", -EINVAL },
                /* I/O errors keep their errno. */
                { "err-notdir", "Failed to list ", "/baton.conf.d: Not a directory", -ENOTDIR },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *dir = NULL, *message = NULL;

                ASSERT_TRUE(asprintf(&dir, "%s/%s", FIXTURE("config"), cases[i].dir) > 0);
                ASSERT_TRUE(asprintf(&message, "%s%s%s", cases[i].before, dir, cases[i].after) > 0);
                load_fails(dir, NULL, cases[i].error, message);
        }
}

#define EXPECT_SYNTAX "syntax error: expected '[section]', 'key = value' or a comment"

static void test_structure_errors(void) {
        static const struct {
                const char *text, *message;
        } cases[] = {
                { "# comment\nholders = 1\n[deadlines]\n", "test.conf:2: key 'holders' before any section" },
                { "[gpu]\n\n[Deadlines]\nholders = 1\n", "test.conf:3: unknown section [Deadlines]" },
                /* Named at its header, even without a key in it. */
                { "[gpu]\n[nothing]\n", "test.conf:2: unknown section [nothing]" },
                { "\xef\xbb\xbf[nothing]\n", "test.conf:1: unknown section [nothing]" },
                { "[gpu] # comment\n", "test.conf:1: unexpected text after [gpu]" },
                { "[session]\nsave = yes\nforce_logout = yes\n",
                  "test.conf:3: unknown key 'force_logout' in section [session]" },
                { "[session]\nholders = 1\n", "test.conf:2: unknown key 'holders' in section [session]" },
                { "[deadlines]\nholders = 1\n[gpu]\n[deadlines]\nholders = 2\n",
                  "test.conf:5: duplicate key 'holders' in [deadlines], first set on line 2" },
                { "[gpu]\naddress\n", "test.conf:2: " EXPECT_SYNTAX },
                { "[gpu\naddress = auto\n", "test.conf:1: " EXPECT_SYNTAX },
                /* No continuation lines: an indented line is a line of its own. */
                { "[input]\ndevices = a\n  b\n", "test.conf:3: " EXPECT_SYNTAX },
                /* Only the first error is reported, whichever of inih and baton found it. */
                { "[gpu\n[deadlines]\nholders = x\n", "test.conf:1: " EXPECT_SYNTAX },
                { "[deadlines]\nholders = x\n[gpu\nunbind = y\n",
                  "test.conf:2: invalid value 'x' for 'holders' in [deadlines]: " EXPECT_SECONDS },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                load_fails(NULL, cases[i].text, -EINVAL, cases[i].message);
}

static void test_line_length(void) {
        _cleanup_(config_done) Config c = {};
        _cleanup_free_ char *fits = NULL, *long_line = NULL;

        /* 199 characters fit; the blanks around them do not count. */
        ASSERT_TRUE(asprintf(&fits, "[input]\n  devices = %0*d  \n", 199 - (int) strlen("devices = "), 0) > 0);
        load_ok(NULL, fits, &c);
        ASSERT_EQ(strlen(c.input_devices[0]), 189);

        ASSERT_TRUE(asprintf(&long_line, "[input]\ndevices = %0*d\n", 200 - (int) strlen("devices = "), 0) > 0);
        load_fails(NULL, long_line, -EINVAL, "test.conf:2: line too long (more than 199 characters)");
}

/* Values each key refuses, with what the error says is expected. */
static void test_invalid_values(void) {
        static const struct {
                const char *section, *key, *expected;
                const char *values[24];
        } cases[] = {
                { "gpu", "address", "expected auto or a PCI address DDDD:BB:SS.F",
                  { "", "Auto", "0000:00:02", "00:02.0", "0:00:02.0", "0000:00:20.0", "0000:00:02.8",
                    "0x00:00:02.0", "0000:00:02.0.1", "0000-00-02.0" } },
                { "gpu", "allow-foreign-devices", "expected yes, no, true, false, on, off, 1 or 0",
                  { "", "2", "maybe", "y" } },
                { "display-manager", "unit", "expected a unit name ending in .service",
                  { "", "gdm", ".service", "gdm.socket", "gdm@.service", "@x.service", "my dm.service",
                    "a@b@c.service", "gdm/x.service" } },
                /* Each spelling parse_seconds() refuses (test-common.c), in one key or another:
                 * the refusal is the same, -ERANGE (zero, below a microsecond, beyond a day)
                 * included. */
                { "deadlines", "probe", EXPECT_SECONDS,
                  { "", "0", "0.0", "-1", "86400.5", "86401", "1e3", "1.1234567", "10s", ".5", "0x1p3",
                    "0.0000001", "0.000000", "-0", "1,5", "500ms", "1 s", "1E1", "0x10", "nan" } },
                { "deadlines", "unit", EXPECT_SECONDS,
                  { "5.", "+5", "inf", "99999999999999999999", "1.2.3", "86400.000001", "1min",
                    "18446744073709551617", "99999999999999999999x" } },
                { "deadlines", "holders", EXPECT_SECONDS, { "1e1", "0x1p3", "0.0000001" } },
                { "deadlines", "tuning", EXPECT_SECONDS, { "0", "1e1" } },
                { "deadlines", "stage", EXPECT_SECONDS, { "0", "1e1" } },
                { "deadlines", "module", EXPECT_SECONDS, { "0", "1e1" } },
                { "deadlines", "unbind", EXPECT_SECONDS, { "0", "1e1" } },
                { "session", "logout-timeout", EXPECT_SECONDS, { "0", "1e1", "0x1p3", "0.0000001" } },
                { "session", "logout", "expected yes, no, true, false, on, off, 1 or 0", { "", "never" } },
                { "session", "user", EXPECT_NAME, { "Bob", "bob smith" } },
                { "audio", "release", "expected reserve, stop-units or none", { "", "stop_units", "Reserve" } },
                { "audio", "user", EXPECT_NAME,
                  { "Alice", "1abc", "a b", "alice$", "abcdefghijklmnopqrstuvwxyz0123456" } },
                { "daemon", "admin-group", EXPECT_NAME,
                  { "wheel!", "-wheel" } },
                { "input", "devices", EXPECT_DEVICES,
                  { "name:\"unterminated", "foo/bar", "name:", "name:\"\"", "a\"b", "name:\"a\"b",
                    /* ';' after a blank starts a comment, even between quotes */
                    "name:\"x ;y\"", ";x",
                    /* A control character, which the reader strips at a line's end. */
                    "name:\"\r\"", "name:\"a\rb\"", "name:a\x01", "/dev/input/\x7f" } },
                { "input", "hotkey", EXPECT_HOTKEY,
                  { "", "KEY_FOO", "KEY_A+KEY_A", "KEY_A+KEY_B+KEY_C+KEY_D+KEY_E", "KEY_A+", "+KEY_A", "ABS_X",
                    "KEY_RESERVED", "key_a", "KEY_A # comment",
                    /* Row 10 of issue 19: keyboard keys only. */
                    "BTN_LEFT", "BTN_SIDE", "KEY_MAX", "KEY_LEFTCTRL+BTN_LEFT", "BTN_DPAD_UP", "BTN_TRIGGER_HAPPY1",
                    "BTN_A" } },
                { "input", "recover-hotkey",
                  "expected nothing (off) or 1 to 4 distinct keyboard key names joined by '+'",
                  { "KEY_NOPE", "KEY_A++KEY_B", "BTN_RIGHT" } },
                { "input", "guest-name-prefix", "expected 1 to 64 printable ASCII characters, the first not ';'",
                  { "", ";x", "b\xc3\xa4ton", /* 65 characters */
                    "abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz012" } },
                { "input", "realtime-priority", "expected 0 (off) or a real-time priority from 1 to 99",
                  { "", "100", "-1", "+5", "15.5", "0x10", "high", "1000000000" } },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                for (size_t j = 0; j < ELEMENTSOF(cases[i].values) && cases[i].values[j]; j++) {
                        _cleanup_free_ char *text = NULL, *message = NULL;
                        const char *v = cases[i].values[j];

                        const char *comment = strstr(v, " ;");

                        /* No blank before the value: ";x" is a value, " ;x" a comment. */
                        ASSERT_TRUE(asprintf(&text, "# line 1\n[%s]\n%s=%s\n",
                                             cases[i].section, cases[i].key, v) > 0);
                        /* inih cuts the value at " ;" before we see it. */
                        ASSERT_TRUE(asprintf(&message, "test.conf:3: invalid value '%.*s' for '%s' in [%s]: %s",
                                             (int) (comment ? (size_t) (comment - v) : strlen(v)), v,
                                             cases[i].key, cases[i].section, cases[i].expected) > 0);
                        load_fails(NULL, text, -EINVAL, message);
                }
}

/* Values each key takes, and how config_dump() writes them back. */
static void test_valid_values(void) {
        static const struct {
                const char *section, *key, *value, *dumped;
        } cases[] = {
                { "gpu", "address", "auto", "auto" },
                { "gpu", "address", "0000:00:02.0", "0000:00:02.0" },
                { "gpu", "address", "FFFF:FF:1F.7", "ffff:ff:1f.7" },
                { "gpu", "allow-foreign-devices", "YES", "yes" },
                { "gpu", "allow-foreign-devices", "off", "no" },
                { "display-manager", "unit", "sddm.service", "sddm.service" },
                { "display-manager", "unit", "getty@tty1.service", "getty@tty1.service" },
                { "display-manager", "unit", "a-b_c:d.e\\x2d.service", "a-b_c:d.e\\x2d.service" },
                { "deadlines", "holders", "5", "5" },
                { "deadlines", "holders", "2.5", "2.5" },
                { "deadlines", "holders", "0.5", "0.5" },
                { "deadlines", "holders", "0.000001", "0.000001" },
                { "deadlines", "unit", "86400", "86400" },
                { "deadlines", "stage", "0000000000000000000000000001", "1" },
                { "session", "logout-timeout", "0.25", "0.25" },
                { "deadlines", "holders", "1.000001", "1.000001" },
                { "deadlines", "holders", "007.250", "7.25" },
                { "deadlines", "holders", "86400.000000", "86400" },
                { "audio", "release", "none", "none" },
                { "audio", "user", "", "" },
                { "audio", "user", "_svc-1", "_svc-1" },
                { "input", "devices", "", "" },
                { "input", "devices", "name:\"A\"  /dev/input/by-path/x", "name:A /dev/input/by-path/x" },
                { "input", "devices", "name:\" lead\"", "name:\" lead\"" },
                { "input", "hotkey", "KEY_F12", "KEY_F12" },
                { "input", "hotkey", "KEY_FN+KEY_OK", "KEY_FN+KEY_OK" },
                { "input", "hotkey", " KEY_A +KEY_B+ KEY_C + KEY_D", "KEY_A+KEY_B+KEY_C+KEY_D" },
                { "input", "recover-hotkey", "", "" },
                { "input", "guest-name-prefix", "a ; b", "a" },
                { "input", "guest-name-prefix", "#1", "#1" },
                { "input", "realtime-priority", "0", "0" },
                { "input", "realtime-priority", "99", "99" },
                { "input", "realtime-priority", "007", "7" },
                { "daemon", "admin-group", "wheel", "wheel" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_(config_done) Config c = {};
                _cleanup_free_ char *text = NULL, *line = NULL, *out = NULL;

                ASSERT_TRUE(asprintf(&text, "[%s]\n%s = %s\n",
                                     cases[i].section, cases[i].key, cases[i].value) > 0);
                load_ok(NULL, text, &c);
                out = dump(&c);
                ASSERT_TRUE(asprintf(&line, "\n%s =%s%s\n", cases[i].key, isempty(cases[i].dumped) ? "" : " ",
                                     cases[i].dumped) > 0);
                if (!strstr(out, line))
                        TEST_FAIL("'%s' in [%s]: no line '%s = %s' in:\n%s", cases[i].value, cases[i].section,
                                  cases[i].key, cases[i].dumped, out);
        }
}

static void test_syntax(void) {
        _cleanup_(config_done) Config c = {};

        /* A byte order mark, CRLF line ends, blank lines, "key: value", both comments. */
        load_ok(NULL, "\xef\xbb\xbf; comment\r\n\r\n[session]\r\n\tsave: no ; why\r\n"
                "# more\r\nforce-logout=yes", &c);
        ASSERT_FALSE(c.session_save);
        ASSERT_TRUE(c.force_logout);
}

static void test_failure_keeps_previous(void) {
        _cleanup_(config_done) Config d = {};
        _cleanup_free_ char *log = NULL;

        /* load_fails() checks that a Config loaded before stays as it was. Here the failing
         * load read two good files before the bad one: none of it may reach ret. */
        config_init(&d);
        d.force_logout = true;
        ASSERT_EQ(load_logged(CONFIG("err-later-dropin"), NULL, &d, &log), -EINVAL);
        ASSERT_TRUE(d.force_logout);
        ASSERT_NULL(d.input_devices);
        /* Nothing of the failed load's first two files leaked into it. */
        ASSERT_EQ(d.audio_release, AUDIO_RELEASE_RESERVE);
        ASSERT_TRUE(d.deadline_usec[DEADLINE_HOLDERS] == 10 * SEC);
}

static void test_dump_roundtrip(void) {
        static const char *const dirs[] = { CONFIG("full"), CONFIG("dropins"), CONFIG("missing") };

        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                _cleanup_(config_done) Config c = {}, d = {};
                _cleanup_free_ char *first = NULL, *second = NULL;

                load_ok(dirs[i], NULL, &c);
                first = dump(&c);
                load_ok(NULL, first, &d);
                second = dump(&d);
                ASSERT_STREQ(second, first);
                ASSERT_TRUE(memcmp(d.deadline_usec, c.deadline_usec, sizeof(c.deadline_usec)) == 0);
                ASSERT_EQ(strv_length(d.input_devices), strv_length(c.input_devices));
                STRV_FOREACH(s, c.input_devices)
                        ASSERT_STREQ(d.input_devices[s - c.input_devices], *s);
        }
}

/* Row 12 of issue 19: what GetConfig shows to anyone. */
static void test_dump_public(void) {
        _cleanup_(config_done) Config c = {};
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f;

        config_init(&c);
        strcpy(c.session_user, "alice");
        strcpy(c.audio_user, "bob");
        strcpy(c.admin_group, "batonadm");
        strcpy(c.display_manager_unit, "gdm.service");
        f = open_memstream(&text, &size);
        ASSERT_TRUE(f);
        ASSERT_OK(config_dump_public(&c, f));
        ASSERT_TRUE(fclose(f) == 0);
        ASSERT_TRUE(strstr(text, "\nunit = gdm.service\n"));
        ASSERT_FALSE(strstr(text, "alice") || strstr(text, "bob") || strstr(text, "batonadm"));
        ASSERT_TRUE(strstr(text, "\n[daemon]\nadmin-group = (not shown)\n"));
        /* The private one is untouched. */
        ASSERT_STREQ(c.session_user, "alice");
}

static void test_dump_format(void) {
        _cleanup_(config_done) Config c = {};
        _cleanup_free_ char *text = NULL, *out = NULL, *again = NULL;
        _cleanup_free_ char *first = NULL, *second = NULL;

        config_init(&c);
        out = dump(&c);
        ASSERT_TRUE(startswith(out, "[gpu]\naddress = auto\nallow-foreign-devices = no\n\n"
                                    "[display-manager]\n"));
        ASSERT_TRUE(strstr(out, "\n[deadlines]\nholders = 10\nunbind = 10\nprobe = 20\n"
                                "module = 10\nunit = 30\n"));
        ASSERT_TRUE(strstr(out, "\nhotkey = KEY_LEFTCTRL+KEY_RIGHTCTRL\nrecover-hotkey =\n"));
        ASSERT_TRUE(strstr(out, "\n[daemon]\nadmin-group =\n"));

        /* A line that fits only without the blanks around '=' is written without them. */
        ASSERT_TRUE(asprintf(&text, "[input]\ndevices=%0*d\n", 199 - (int) strlen("devices="), 0) > 0);
        config_done(&c);
        load_ok(NULL, text, &c);
        first = dump(&c);
        ASSERT_TRUE(strstr(first, "\ndevices=0"));
        config_done(&c);
        load_ok(NULL, first, &c);
        second = dump(&c);
        ASSERT_STREQ(second, first);
}

/* data/baton.conf documents every key commented out with its default: as shipped, and with
 * every "#key = value" line uncommented, it must give the defaults. */
static void test_example(void) {
        _cleanup_(config_done) Config c = {}, d = {}, defaults = {};
        _cleanup_free_ char *text = NULL, *uncommented = NULL, *out = NULL, *expected = NULL;
        size_t n = 0, keys = 0;

        ASSERT_OK(read_full_file(NULL, FIXTURES "/../../../data/baton.conf", &text, NULL));
        config_init(&defaults);
        expected = dump(&defaults);

        load_ok(NULL, text, &c);
        out = dump(&c);
        ASSERT_STREQ(out, expected);

        uncommented = calloc(1, strlen(text) + 1);
        ASSERT_TRUE(uncommented);
        for (const char *s = text; *s; ) {
                size_t l = strcspn(s, "\n");

                if (s[0] == '#' && s[1] >= 'a' && s[1] <= 'z' && memchr(s, '=', l)) {
                        s++, l--;
                        keys++;
                }
                memcpy(uncommented + n, s, l);
                n += l;
                s += l;
                if (*s == '\n')
                        uncommented[n++] = *s++;
        }
        ASSERT_EQ(keys, 31);    /* every key */
        load_ok(NULL, uncommented, &d);
        free(out);
        out = dump(&d);
        ASSERT_STREQ(out, expected);
}

/* DeadlineKind's table names the keys of [deadlines] and --deadline's WHAT. */
static void test_deadline_kinds(void) {
        for (DeadlineKind k = 0; k < _DEADLINE_MAX; k++) {
                _cleanup_(config_done) Config c = {};
                _cleanup_free_ char *text = NULL;
                const char *name = deadline_kind_to_string(k);

                ASSERT_TRUE(name);
                ASSERT_EQ(deadline_kind_from_string(name), k);
                ASSERT_TRUE(asprintf(&text, "[deadlines]\n%s = 0.000042\n", name) > 0);
                load_ok(NULL, text, &c);
                ASSERT_TRUE(c.deadline_usec[k] == 42);
                ASSERT_TRUE(deadline_default_usec(k) > 0);
        }
        ASSERT_NULL(deadline_kind_to_string(_DEADLINE_MAX));
        ASSERT_NULL(deadline_kind_to_string(_DEADLINE_INVALID));
        ASSERT_EQ(deadline_kind_from_string("nonsense"), -EINVAL);
        ASSERT_EQ(deadline_kind_from_string("Holders"), -EINVAL);
        ASSERT_EQ(deadline_kind_from_string(""), -EINVAL);
        ASSERT_EQ(deadline_kind_from_string(NULL), -EINVAL);
        ASSERT_TRUE(deadline_kind_from_string("nonsense") < 0);
}

/* --deadline over baton.conf over the defaults, in the Config in force (plan, engine, daemon). */
static void test_override_deadlines(void) {
        _cleanup_(config_done) Config c = {};
        uint64_t cli[_DEADLINE_MAX] = { [DEADLINE_HOLDERS] = 3 * SEC, [DEADLINE_STAGE] = 1 };
        _cleanup_free_ char *out = NULL;

        load_ok(NULL, "[deadlines]\nholders = 7\nunbind = 2.5\n", &c);
        config_override_deadlines(&c, cli);
        ASSERT_TRUE(c.deadline_usec[DEADLINE_HOLDERS] == 3 * SEC);     /* command line */
        ASSERT_TRUE(c.deadline_usec[DEADLINE_UNBIND] == 2500000);      /* baton.conf */
        ASSERT_TRUE(c.deadline_usec[DEADLINE_PROBE] == 20 * SEC);      /* default */
        ASSERT_TRUE(c.deadline_usec[DEADLINE_STAGE] == 1);
        out = dump(&c);
        ASSERT_TRUE(strstr(out, "\n[deadlines]\nholders = 3\nunbind = 2.5\nprobe = 20\nmodule = 10\n"
                                "unit = 30\ntuning = 30\nstage = 0.000001\n"));
}

static void test_audio_release(void) {
        ASSERT_STREQ(audio_release_to_string(AUDIO_RELEASE_STOP_UNITS), "stop-units");
        ASSERT_NULL(audio_release_to_string(_AUDIO_RELEASE_MAX));
        ASSERT_NULL(audio_release_to_string(_AUDIO_RELEASE_INVALID));
        for (AudioRelease a = 0; a < _AUDIO_RELEASE_MAX; a++)
                ASSERT_EQ(audio_release_from_string(audio_release_to_string(a)), a);
        ASSERT_EQ(audio_release_from_string("stop_units"), -EINVAL);
        ASSERT_EQ(audio_release_from_string(NULL), -EINVAL);
}

int main(void) {
        log_set_target(LOG_TARGET_STDERR);

        RUN(test_defaults);
        RUN(test_full);
        RUN(test_dropins);
        RUN(test_file_errors);
        RUN(test_structure_errors);
        RUN(test_line_length);
        RUN(test_invalid_values);
        RUN(test_valid_values);
        RUN(test_syntax);
        RUN(test_failure_keeps_previous);
        RUN(test_dump_roundtrip);
        RUN(test_dump_format);
        RUN(test_dump_public);
        RUN(test_example);
        RUN(test_deadline_kinds);
        RUN(test_override_deadlines);
        RUN(test_audio_release);
        return 0;
}
