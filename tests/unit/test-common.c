/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "log.h"

#include "parse-util.h"
#include "strv.h"
#include "sysfs-util.h"
#include "escape.h"
#include "tests.h"

static void test_safe_atou(void) {
        unsigned u = 7;
        uint64_t v;

        ASSERT_OK(safe_atou("0x030000\n", 0, &u));
        ASSERT_EQ(u, 0x030000);
        ASSERT_OK(safe_atou("1234", 16, &u));
        ASSERT_EQ(u, 0x1234);
        ASSERT_OK(safe_atou64("18446744073709551615", 10, &v));
        ASSERT_TRUE(v == UINT64_MAX);

        u = 7;
        ASSERT_EQ(safe_atou("-1", 10, &u), -EINVAL);
        ASSERT_EQ(safe_atou(" 1", 10, &u), -EINVAL);
        ASSERT_EQ(safe_atou("12x", 10, &u), -EINVAL);
        ASSERT_EQ(safe_atou("", 10, &u), -EINVAL);
        ASSERT_EQ(safe_atou("4294967296", 10, &u), -ERANGE);
        ASSERT_EQ(u, 7);        /* untouched on failure */
}

static void test_parse_pid(void) {
        pid_t pid = 5;

        ASSERT_OK(parse_pid("412", &pid));
        ASSERT_EQ(pid, 412);
        ASSERT_EQ(parse_pid("0", &pid), -ERANGE);
        ASSERT_EQ(parse_pid("self", &pid), -EINVAL);
        ASSERT_EQ(pid, 412);
}

/* Every spelling the config and the command line refuse or take (both call this). */
static void test_parse_seconds(void) {
        static const struct {
                const char *text;
                uint64_t usec;
        } good[] = {
                { "5", 5 * USEC_PER_SEC },
                { "2.5", 2500000 },
                { "0.5", 500000 },
                { "007.250", 7250000 },
                { "0.000001", 1 },
                { "1.000001", 1000001 },
                { "86400", 86400 * USEC_PER_SEC },
                { "86400.000000", 86400 * USEC_PER_SEC },
                { "000000000000000000000000000001", USEC_PER_SEC },
        };
        static const struct {
                const char *text;
                int error;
        } bad[] = {
                /* Spellings strtod() takes and baton does not. */
                { "1e1", -EINVAL }, { "1E1", -EINVAL }, { "0x1p3", -EINVAL }, { "0x10", -EINVAL },
                { "inf", -EINVAL }, { "nan", -EINVAL }, { "-1", -EINVAL }, { "+5", -EINVAL }, { "-0", -EINVAL },
                { " 5", -EINVAL }, { "5 ", -EINVAL }, { "5\n", -EINVAL },
                /* Shapes of a number that are not written that way in baton.conf. */
                { "", -EINVAL }, { ".5", -EINVAL }, { "5.", -EINVAL }, { "1.2.3", -EINVAL }, { "1,5", -EINVAL },
                /* Units: none is documented, the value is seconds. */
                { "10s", -EINVAL }, { "500ms", -EINVAL }, { "1 s", -EINVAL }, { "1min", -EINVAL },
                /* Zero, or what would round to it, or below a microsecond. */
                { "0", -ERANGE }, { "0.0", -ERANGE }, { "0.000000", -ERANGE }, { "0.0000001", -ERANGE },
                { "1.0000001", -ERANGE }, { "1.1234567", -ERANGE },
                /* Beyond a day, and numbers that overflow 64 bits. */
                { "86400.000001", -ERANGE }, { "86401", -ERANGE }, { "99999999999999999999", -ERANGE },
                { "18446744073709551617", -ERANGE }, { "18446744073709.551616", -ERANGE },
                /* A valid prefix does not excuse a bad ending, even past an out-of-range one. */
                { "99999999999999999999x", -EINVAL }, { "1.12345678x", -EINVAL },
        };
        char buf[SECONDS_STRING_MAX];
        uint64_t u;

        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                u = 42;
                ASSERT_OK(parse_seconds(good[i].text, &u));
                if (u != good[i].usec)
                        TEST_FAIL("parse_seconds(\"%s\") gave %llu us", good[i].text, (unsigned long long) u);
                /* format_seconds() writes what reads back the same. */
                ASSERT_OK(parse_seconds(format_seconds(u, buf), &u));
                ASSERT_TRUE(u == good[i].usec);
        }
        ASSERT_STREQ(format_seconds(7250000, buf), "7.25");
        ASSERT_STREQ(format_seconds(1, buf), "0.000001");
        ASSERT_STREQ(format_seconds(86400 * USEC_PER_SEC, buf), "86400");
        ASSERT_STREQ(format_seconds(UINT64_MAX, buf), "18446744073709.551615");
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                int r;

                u = 42;
                r = parse_seconds(bad[i].text, &u);
                if (r != bad[i].error)
                        TEST_FAIL("parse_seconds(\"%s\") returned %d, not %d", bad[i].text, r, bad[i].error);
                ASSERT_TRUE(u == 42);   /* untouched on failure */
        }
}

static void test_root_path(void) {
        char *p;

        ASSERT_OK(root_path("/", "/sys/bus", &p));
        ASSERT_STREQ(p, "/sys/bus");
        free(p);
        ASSERT_OK(root_path(NULL, "/proc", &p));
        ASSERT_STREQ(p, "/proc");
        free(p);
        ASSERT_OK(root_path("/tmp/fix//", "/sys/bus", &p));
        ASSERT_STREQ(p, "/tmp/fix/sys/bus");
        free(p);
}

static void test_strv(void) {
        _cleanup_strv_free_ char **l = NULL, **m = NULL;

        ASSERT_EQ(strv_length(l), 0);
        ASSERT_OK(strv_extend(&l, "b"));
        ASSERT_OK(strv_extend(&l, "a"));
        strv_sort(l);
        ASSERT_STREQ(l[0], "a");
        ASSERT_STREQ(l[1], "b");
        ASSERT_NULL(l[2]);
        ASSERT_TRUE(strv_contains(l, "b"));
        ASSERT_FALSE(strv_contains(l, "c"));
        ASSERT_OK(strv_extend_strv(&m, l));
        ASSERT_EQ(strv_length(m), 2);
        ASSERT_OK(strv_extendf(&m, "%s %i", "vtcon", 1));
        ASSERT_EQ(strv_length(m), 3);
        ASSERT_STREQ(m[2], "vtcon 1");
}

static void test_strv_join(void) {
        _cleanup_free_ char *a = NULL, *b = NULL, *c = NULL;
        char *l[] = { (char *) "nvidia_drm", (char *) "", (char *) "nvidia", NULL };

        ASSERT_OK(strv_join(l, ", ", &a));
        ASSERT_STREQ(a, "nvidia_drm, , nvidia");
        ASSERT_OK(strv_join(l + 2, ",", &b));
        ASSERT_STREQ(b, "nvidia");
        ASSERT_OK(strv_join(NULL, ",", &c));
        ASSERT_STREQ(c, "");
}

static void test_sysfs_read(void) {
        const char *root = FIXTURE("lab");
        _cleanup_free_ char *s = NULL, *drv = NULL, *grp = NULL;
        unsigned class = 0;

        ASSERT_OK(sysfs_read_string(root, "/sys/bus/pci/devices/0000:00:02.0/vendor", &s));
        ASSERT_STREQ(s, "0x1234");
        ASSERT_OK(sysfs_read_unsigned(root, "/sys/bus/pci/devices/0000:00:02.1/class", 0, &class));
        ASSERT_EQ(class, 0x040300);
        ASSERT_OK(sysfs_read_link_basename(root, "/sys/bus/pci/devices/0000:00:02.0/driver", &drv));
        ASSERT_STREQ(drv, "bochs-drm");
        ASSERT_OK(sysfs_read_link_basename(root, "/sys/bus/pci/devices/0000:00:02.0/iommu_group", &grp));
        ASSERT_STREQ(grp, "2");
        ASSERT_EQ(sysfs_read_link_basename(root, "/sys/bus/pci/devices/0000:00:00.0/driver", &drv),
                  -ENOENT);
        ASSERT_EQ(sysfs_read_string(root, "/sys/nonexistent", &s), -ENOENT);
}

static void test_sysfs_exists(void) {
        const char *root = FIXTURE("lab");

        ASSERT_EQ(sysfs_exists(root, "/sys/class/vtconsole/vtcon1"), 1);       /* a symlink to a dir */
        ASSERT_EQ(sysfs_exists(root, "/sys/bus/pci/devices/0000:00:02.0/boot_vga"), 1);
        ASSERT_EQ(sysfs_exists(root, "/sys/class/vtconsole/vtcon7"), 0);
        ASSERT_EQ(sysfs_exists(root, "/sys/bus/pci/devices/0000:00:02.0/boot_vga/x"), 0);
        /* The fixture's driver links dangle: only an existing target counts. */
        ASSERT_EQ(sysfs_exists(root, "/sys/bus/pci/devices/0000:00:02.0/driver"), 0);
}

static void test_sysfs_list_dir(void) {
        _cleanup_strv_free_ char **all = NULL, **vt = NULL, **empty = NULL;

        ASSERT_OK(sysfs_list_dir(FIXTURE("lab"), "/sys/bus/pci/devices", NULL, &all));
        ASSERT_EQ(strv_length(all), 5);
        ASSERT_STREQ(all[0], "0000:00:00.0");
        ASSERT_STREQ(all[4], "0000:00:1f.0");
        ASSERT_OK(sysfs_list_dir(FIXTURE("lab"), "/sys/class/vtconsole", "vtcon", &vt));
        ASSERT_EQ(strv_length(vt), 2);
        ASSERT_OK(sysfs_list_dir(FIXTURE("lab"), "/sys/class/vtconsole", "nomatch", &empty));
        ASSERT_TRUE(empty != NULL);
        ASSERT_EQ(strv_length(empty), 0);
        ASSERT_EQ(sysfs_list_dir(FIXTURE("lab"), "/sys/missing", NULL, &all), -ENOENT);
}

/* Keeps names ending in ".0", fails with -EIO on fail_on. */
static const char *fail_on;

static int read_name(const char *root, const char *name, void *ret) {
        if (fail_on && streq(name, fail_on))
                return -EIO;
        if (!strstr(name, ".0"))
                return 0;
        *(char **) ret = strdup(name);
        return *(char **) ret ? 1 : -ENOMEM;
}

static void name_done(void *p) {
        free(*(char **) p);
}

static void test_sysfs_read_entries(void) {
        const char *dir = "/sys/bus/pci/devices";
        char **names = NULL;
        size_t n = 0;

        fail_on = NULL;
        ASSERT_OK(sysfs_read_entries(FIXTURE("lab"), dir, NULL, sizeof(char *), read_name, name_done,
                                     &names, &n));
        ASSERT_EQ(n, 4);                        /* 0000:00:02.1 was skipped */
        ASSERT_STREQ(names[1], "0000:00:02.0");
        ASSERT_STREQ(names[2], "0000:00:04.0");
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);

        names = NULL;
        n = 42;
        fail_on = "0000:00:04.0";
        ASSERT_EQ(sysfs_read_entries(FIXTURE("lab"), dir, NULL, sizeof(char *), read_name, name_done,
                                     &names, &n), -EIO);
        ASSERT_NULL(names);
        ASSERT_EQ(n, 42);

        ASSERT_OK(sysfs_read_entries(FIXTURE("lab"), "/sys/none", NULL, sizeof(char *), read_name,
                                     name_done, &names, &n));
        ASSERT_EQ(n, 0);
}

/* The daemon keeps the first error that refuses a transition through the sink. */
static void test_log_error_sink(void) {
        _cleanup_free_ char *kept = NULL;

        log_set_target(LOG_TARGET_STDERR);
        log_set_error_sink(keep_first, &kept);
        log_info("not an error");
        ASSERT_TRUE(kept == NULL);
        log_warning("a warning is no reason either");
        ASSERT_TRUE(kept == NULL);
        (void) log_error_errno(SYNTHETIC_ERRNO(ETIMEDOUT), "Timed out: pid %d (%s) holds %s", 621, "card-hog",
                               "/dev/dri/card0");
        (void) log_error("a second error");
        ASSERT_STREQ(kept, "Timed out: pid 621 (card-hog) holds /dev/dri/card0");
        log_set_error_sink(NULL, NULL);
        kept = mfree(kept);
        (void) log_error("no sink: not kept");
        ASSERT_TRUE(kept == NULL);
}

static void *log_an_error(void *userdata) {
        (void) log_error("Input routing stopped: an error of another thread");
        return NULL;
}

/* The sink is the setting thread's: an error the input thread (evdev/input-thread.h) logs
 * meanwhile is not taken for the reason of a transition. */
static void test_log_error_sink_per_thread(void) {
        _cleanup_free_ char *kept = NULL;
        pthread_t t;

        log_set_target(LOG_TARGET_STDERR);
        log_set_error_sink(keep_first, &kept);
        ASSERT_EQ(pthread_create(&t, NULL, log_an_error, NULL), 0);
        ASSERT_EQ(pthread_join(t, NULL), 0);
        ASSERT_TRUE(kept == NULL);
        (void) log_error("this thread's error");
        ASSERT_STREQ(kept, "this thread's error");
        log_set_error_sink(NULL, NULL);
}

/* A step's sink keeps its first error (the reason) and its first warning, and returns the
 * error like log_error_errno(); a NULL sink only logs. */
static void test_log_sink(void) {
        LogSink sink = {};

        log_set_target(LOG_TARGET_STDERR);
        (void) log_sink_full_errno(&sink, LOG_INFO, 0, "not kept");
        ASSERT_NULL(sink.error);
        ASSERT_NULL(sink.warning);
        (void) log_sink_full_errno(&sink, LOG_WARNING, 0, "vtcon1 is gone: not restored");
        (void) log_sink_full_errno(&sink, LOG_WARNING, 0, "a second warning");
        ASSERT_EQ(log_sink_full_errno(&sink, LOG_ERR, EBUSY, "Failed to unbind %s: %m", "0000:00:02.0"), -EBUSY);
        (void) log_sink_full_errno(&sink, LOG_ERR, EIO, "a second error");
        ASSERT_STREQ(sink.error, "Failed to unbind 0000:00:02.0: Device or resource busy");
        ASSERT_STREQ(sink.warning, "vtcon1 is gone: not restored");
        log_sink_done(&sink);
        ASSERT_NULL(sink.error);
        ASSERT_EQ(log_sink_full_errno(NULL, LOG_ERR, -ENOENT, "no sink"), -ENOENT);
}

/* --- common/child.h: one worker module for the engine, gpu-modules and the input router --- */

typedef struct WorkerDone {
        sd_event *event;
        int r;
        pid_t pid;
        int pidfd;              /* taken after a deadline with CHILD_LEAVE_BEHIND */
        bool done;
} WorkerDone;

static int fail_with(void *userdata) {
        return -*(int *) userdata;
}

static int sleep_long(void *userdata) {
        (void) poll(NULL, 0, 60 * 1000);
        return 0;
}

static void on_worker(ChildRun *c, int r, const char *out, size_t size, void *userdata) {
        WorkerDone *w = userdata;

        w->r = r;
        w->pid = child_run_pid(c);
        w->pidfd = r == -ETIMEDOUT ? child_run_take_pidfd(c) : -EBADF;
        child_run_free(c);
        w->done = true;
}

static void run_worker(uint64_t timeout_usec, ChildFlags flags, int (*f)(void *), void *arg, WorkerDone *w) {
        ChildRun *c = NULL;

        *w = (WorkerDone) { .pidfd = -EBADF };
        ASSERT_OK(sd_event_new(&w->event));
        ASSERT_OK(child_worker_async(w->event, timeout_usec, flags, f, arg, on_worker, w, &c));
        ASSERT_TRUE(c != NULL);
        while (!w->done)
                ASSERT_OK(sd_event_run(w->event, UINT64_MAX));
        w->event = sd_event_unref(w->event);
}

/* A worker's result is its errno; one left behind at its deadline is still running, and the
 * caller watches it through the pidfd it took; without a deadline nothing ends the wait but
 * the worker. */
static void test_child_worker(void) {
        int e = ENOENT, ok = 0;
        siginfo_t si = {};
        WorkerDone w;

        run_worker(10 * 1000000ULL, 0, fail_with, &e, &w);
        ASSERT_EQ(w.r, -ENOENT);
        run_worker(UINT64_MAX, CHILD_OUTLIVE | CHILD_NULL_STDIO, fail_with, &ok, &w);
        ASSERT_EQ(w.r, 0);

        run_worker(50 * 1000ULL, CHILD_LEAVE_BEHIND | CHILD_OUTLIVE, sleep_long, NULL, &w);
        ASSERT_EQ(w.r, -ETIMEDOUT);
        ASSERT_TRUE(w.pidfd >= 0);
        ASSERT_EQ(kill(w.pid, 0), 0);                   /* left behind, not killed */
        ASSERT_EQ(poll(&(struct pollfd) { .fd = w.pidfd, .events = POLLIN }, 1, 0), 0);
        ASSERT_EQ(kill(w.pid, SIGKILL), 0);
        ASSERT_OK(waitid(P_PIDFD, (id_t) w.pidfd, &si, WEXITED));
        ASSERT_EQ(si.si_code, CLD_KILLED);
        close(w.pidfd);

        /* Without CHILD_LEAVE_BEHIND the deadline kills and reaps it. */
        run_worker(50 * 1000ULL, 0, sleep_long, NULL, &w);
        ASSERT_EQ(w.r, -ETIMEDOUT);
        ASSERT_TRUE(w.pidfd < 0);
        ASSERT_TRUE(kill(w.pid, 0) < 0);
}

/* stderr into a file of its own while a test logs; the saved stderr comes back with
 * stderr_release(), which returns what was written (at most 4095 bytes). */
typedef struct Captured {
        int fd, saved;
} Captured;

static Captured stderr_capture(void) {
        char path[] = "/tmp/baton-test-log-XXXXXX";
        Captured c;

        c.fd = mkstemp(path);
        ASSERT_TRUE(c.fd >= 0);
        ASSERT_EQ(unlink(path), 0);
        c.saved = dup(STDERR_FILENO);
        ASSERT_TRUE(dup2(c.fd, STDERR_FILENO) >= 0);
        log_set_target(LOG_TARGET_STDERR);
        return c;
}

static char *stderr_release(Captured c) {
        char *text;

        ASSERT_TRUE(dup2(c.saved, STDERR_FILENO) >= 0);
        close(c.saved);
        ASSERT_EQ(lseek(c.fd, 0, SEEK_SET), 0);
        text = calloc(1, 4096);
        ASSERT_TRUE(text);
        ASSERT_TRUE(read(c.fd, text, 4095) >= 0);
        close(c.fd);
        return text;
}

static void test_log_errno(void) {
        _cleanup_free_ char *text = NULL;
        Captured c = stderr_capture();

        ASSERT_EQ(log_error_errno(ENOENT, "open %s: %m", "x"), -ENOENT);
        ASSERT_EQ(log_warning_errno(-EACCES, "read: %m, ignoring"), -EACCES);
        log_debug("below the level: not printed");
        ASSERT_EQ(log_full_fields(LOG_ERR, 0, &((LogFields) { .stage = "vfio" }), "plain"), 0);

        text = stderr_release(c);
        ASSERT_STREQ(text, "baton: open x: No such file or directory\n"
                           "baton: read: Permission denied, ignoring\n"
                           "baton: plain\n");
}

/* --log-level, $BATON_LOG_LEVEL and LogControl1's names: systemd's, or 0-7. */
static void test_log_level_names(void) {
        ASSERT_EQ(log_level_from_string("debug"), LOG_DEBUG);
        ASSERT_EQ(log_level_from_string("warning"), LOG_WARNING);
        ASSERT_EQ(log_level_from_string("emerg"), LOG_EMERG);
        ASSERT_EQ(log_level_from_string("7"), LOG_DEBUG);
        ASSERT_EQ(log_level_from_string("0"), LOG_EMERG);
        ASSERT_EQ(log_level_from_string("8"), -EINVAL);
        ASSERT_EQ(log_level_from_string("07"), -EINVAL);
        ASSERT_EQ(log_level_from_string("-1"), -EINVAL);
        ASSERT_EQ(log_level_from_string("DEBUG"), -EINVAL);
        ASSERT_EQ(log_level_from_string("warn"), -EINVAL);
        ASSERT_EQ(log_level_from_string(""), -EINVAL);
        ASSERT_EQ(log_level_from_string(NULL), -EINVAL);
        ASSERT_STREQ(log_level_to_string(LOG_ERR), "err");
        ASSERT_STREQ(log_level_to_string(LOG_INFO), "info");
        ASSERT_NULL(log_level_to_string(8));
        ASSERT_NULL(log_level_to_string(-1));

        ASSERT_EQ(log_target_from_string("console"), LOG_TARGET_STDERR);
        ASSERT_EQ(log_target_from_string("journal"), LOG_TARGET_JOURNAL);
        ASSERT_EQ(log_target_from_string("auto"), LOG_TARGET_AUTO);
        ASSERT_EQ(log_target_from_string("null"), LOG_TARGET_NULL);
        ASSERT_EQ(log_target_from_string("kmsg"), -EINVAL);
        ASSERT_STREQ(log_target_to_string(LOG_TARGET_STDERR), "console");
}

/* The level says what is shown, not what is kept: under "crit" a step's sink and the daemon's
 * error sink still get their error and warning, and nothing is printed; under "debug" a
 * debug message is. */
static void test_log_level_quiet(void) {
        _cleanup_free_ char *text = NULL, *kept = NULL;
        Captured c = stderr_capture();
        LogSink sink = {};

        log_set_max_level(LOG_CRIT);
        ASSERT_EQ(log_get_max_level(), LOG_CRIT);
        (void) log_sink_full_errno(&sink, LOG_WARNING, 0, "vtcon1 is gone: not restored");
        ASSERT_EQ(log_sink_full_errno(&sink, LOG_ERR, EBUSY, "Failed to unbind: %m"), -EBUSY);
        (void) log_sink_full_errno(&sink, LOG_INFO, 0, "not kept, not shown");
        ASSERT_STREQ(sink.warning, "vtcon1 is gone: not restored");
        ASSERT_STREQ(sink.error, "Failed to unbind: Device or resource busy");
        log_sink_done(&sink);
        log_set_error_sink(keep_first, &kept);
        ASSERT_EQ(log_error_errno(SYNTHETIC_ERRNO(ETIMEDOUT), "the refusal: %m"), -ETIMEDOUT);
        log_set_error_sink(NULL, NULL);
        ASSERT_STREQ(kept, "the refusal: Connection timed out");

        log_set_max_level(LOG_DEBUG);
        log_debug("shown at debug");
        log_set_target(LOG_TARGET_NULL);
        log_error("no target: not shown");
        log_set_target(LOG_TARGET_STDERR);
        log_set_max_level(LOG_INFO);
        log_debug("not shown at info");

        text = stderr_release(c);
        ASSERT_STREQ(text, "baton: shown at debug\n");
}

/* Row 5 of issue 19: text from the user's side, printed by root. */
static void test_escape_text(void) {
        static const struct { const char *in, *out; } cases[] = {
                { "plain text", "plain text" },
                { "two\nlines", "two\\x0alines" },
                { "\x1b]0;title\x07\x1b[2J", "\\x1b]0;title\\x07\\x1b[2J" },
                { "tab\there", "tab\\x09here" },
                { "del\x7f", "del\\x7f" },
                { "c1 \xc2\x9b" "31m", "c1 \\xc2\\x9b31m" },         /* U+009B, the 8-bit CSI */
                { "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x86\x92 \xf0\x9f\x98\x80" },
                { "bad \xff\xc3", "bad \\xff\\xc3" },
                { "overlong \xc0\xaf", "overlong \\xc0\\xaf" },
                { "back\\slash", "back\\\\slash" },
                { "", "" },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *s = NULL;

                ASSERT_OK(escape_text(cases[i].in, &s));
                ASSERT_STREQ(s, cases[i].out);
        }
        ASSERT_FALSE(text_has_control("ok-name_1.2"));
        ASSERT_FALSE(text_has_control("caf\xc3\xa9"));
        ASSERT_TRUE(text_has_control("a\x1b"));
        ASSERT_TRUE(text_has_control("\xc2\x85"));
        ASSERT_TRUE(text_has_control("\xff"));

        /* Row 7: names the hook hands to the CLI. */
        ASSERT_TRUE(vm_name_is_valid(""));
        ASSERT_TRUE(vm_name_is_valid("win11"));
        ASSERT_TRUE(vm_name_is_valid("caf\xc3\xa9-vm"));
        ASSERT_FALSE(vm_name_is_valid("--config-dir=tmp"));
        ASSERT_FALSE(vm_name_is_valid("-x"));
        ASSERT_FALSE(vm_name_is_valid("a/b"));
        ASSERT_FALSE(vm_name_is_valid("a\nb"));
        ASSERT_FALSE(vm_name_is_valid("a\xc2\x85" "b"));
}

int main(void) {
        RUN(test_escape_text);
        RUN(test_safe_atou);
        RUN(test_parse_pid);
        RUN(test_parse_seconds);
        RUN(test_root_path);
        RUN(test_strv);
        RUN(test_strv_join);
        RUN(test_sysfs_read);
        RUN(test_sysfs_exists);
        RUN(test_sysfs_list_dir);
        RUN(test_sysfs_read_entries);
        RUN(test_log_errno);
        RUN(test_log_level_names);
        RUN(test_log_level_quiet);
        RUN(test_log_error_sink);
        RUN(test_log_sink);
        RUN(test_log_error_sink_per_thread);
        RUN(test_child_worker);
        return 0;
}
