/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The daemon's error replies (row 19 of issue 19): the stage's reason first; its states' names;
 * its org.freedesktop.LogControl1 on a private dbus-daemon (root only: skipped without root
 * and dbus-daemon). */
#include <errno.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon.h"
#include "log-control.h"
#include "log.h"
#include "test-bus.h"
#include "tests.h"

#define NOBODY 65534

static void test_error_text(void) {
        _cleanup_free_ char *a = NULL, *b = NULL;

        ASSERT_OK(daemon_error_text(-ENXIO, "audio: Failed to find whose PipeWire holds the GPU's sound card",
                                    "timeline\n", "handover", &a));
        ASSERT_STREQ(a, "handover failed: audio: Failed to find whose PipeWire holds the GPU's sound card\ntimeline\n");
        ASSERT_OK(daemon_error_text(-ETIMEDOUT, NULL, NULL, "return", &b));
        ASSERT_STREQ(b, "return failed: Connection timed out\n");
}

/* The State property's strings are API (bus-api.h): they stay exactly these. */
static void test_state_strings(void) {
        static const char *const api[_DAEMON_STATE_MAX] = {
                "host", "guest", "handing-over", "returning", "recovering", "interrupted",
        };

        for (DaemonState s = 0; s < _DAEMON_STATE_MAX; s++) {
                ASSERT_STREQ(daemon_state_to_string(s), api[s]);
                ASSERT_EQ(daemon_state_from_string(api[s]), s);
        }
        ASSERT_NULL(daemon_state_to_string(_DAEMON_STATE_MAX));
        ASSERT_NULL(daemon_state_to_string(_DAEMON_STATE_INVALID));
        ASSERT_EQ(daemon_state_from_string("handing_over"), -EINVAL);
        ASSERT_EQ(daemon_state_from_string(""), -EINVAL);

        /* The engine's operations, as the daemon's logs and replies name them. */
        ASSERT_STREQ(engine_op_to_string(ENGINE_HANDOVER), "handover");
        ASSERT_STREQ(engine_op_to_string(ENGINE_RETURN), "return");
        ASSERT_STREQ(engine_op_to_string(ENGINE_RECOVER), "recover");
        ASSERT_NULL(engine_op_to_string(_ENGINE_OP_MAX));
}

#define LC_PATH "/org/freedesktop/LogControl1"
#define LC_INTERFACE "org.freedesktop.LogControl1"

/* The daemon's side, in a child: the object on the bus as "org.baton.Test", served until
 * killed. Writes a byte to ready_fd once the name is owned. */
static void serve_log_control(const char *address, int ready_fd) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char c = 'x';

        log_set_max_level(LOG_INFO);
        log_set_target(LOG_TARGET_AUTO);
        if (test_bus_connect(address, &bus) < 0 || log_control_add(bus) < 0 ||
            sd_bus_request_name(bus, "org.baton.Test", 0) < 0 || write(ready_fd, &c, 1) != 1)
                _exit(2);
        for (;;)
                if (sd_bus_process(bus, NULL) < 0 || sd_bus_wait(bus, UINT64_MAX) < 0)
                        _exit(3);
}

static char *get_string(sd_bus *bus, const char *property) {
        char *v = NULL;

        ASSERT_OK(sd_bus_get_property_string(bus, "org.baton.Test", LC_PATH, LC_INTERFACE, property, NULL, &v));
        return v;
}

/* Sets property to value; the D-Bus error's name, NULL on success, in *ret_error. */
static int set_string(sd_bus *bus, const char *property, const char *value, char **ret_error) {
        _cleanup_(sd_bus_error_free) sd_bus_error error = SD_BUS_ERROR_NULL;
        int r;

        r = sd_bus_set_property(bus, "org.baton.Test", LC_PATH, LC_INTERFACE, property, &error, "s", value);
        *ret_error = error.name ? strdup(error.name) : NULL;
        return r;
}

/* The same as a caller of another uid (nobody): 0 set, 1 refused as AccessDenied, 2 failed else. */
static int set_as_nobody(const char *address, const char *property, const char *value) {
        int st = 0;
        pid_t pid;

        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
                _cleanup_free_ char *error = NULL;
                int r;

                if (setgroups(0, NULL) < 0 || setresgid(NOBODY, NOBODY, NOBODY) < 0 ||
                    setresuid(NOBODY, NOBODY, NOBODY) < 0 || test_bus_connect(address, &bus) < 0)
                        _exit(3);
                r = set_string(bus, property, value, &error);
                _exit(r >= 0 ? 0 : streq_ptr(error, SD_BUS_ERROR_ACCESS_DENIED) ? 1 : 2);
        }
        ASSERT_EQ(waitpid(pid, &st, 0), pid);
        ASSERT_TRUE(WIFEXITED(st));
        return WEXITSTATUS(st);
}

/* `systemctl service-log-level baton.service debug` and what it must not do: a level set by root
 * is in force, anything else changes nothing. */
static void test_log_control(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char dir[] = "/tmp/test-daemon.XXXXXX";
        TestBus b = {};
        int ready[2];
        pid_t pid;
        char c;

        if (geteuid() != 0) {
                printf("ok # SKIP test_log_control needs root (a caller of another uid) and dbus-daemon\n");
                return;
        }
        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_OK(chmod(dir, 0755) < 0 ? -errno : 0);
        if (test_bus_start(&b, dir) == -ENOENT) {
                printf("ok # SKIP test_log_control: no dbus-daemon\n");
                (void) rmdir(dir);
                return;
        }
        ASSERT_OK(pipe(ready) < 0 ? -errno : 0);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0)
                serve_log_control(b.address, ready[1]);
        close(ready[1]);
        ASSERT_EQ(read(ready[0], &c, 1), 1);
        close(ready[0]);
        ASSERT_OK(test_bus_connect(b.address, &bus));

        {
                _cleanup_free_ char *level = get_string(bus, "LogLevel"), *target = get_string(bus, "LogTarget"),
                                    *ident = get_string(bus, "SyslogIdentifier");

                ASSERT_STREQ(level, "info");
                ASSERT_STREQ(target, "console");        /* its stderr is no journal stream */
                ASSERT_STREQ(ident, "baton");
        }
        {
                _cleanup_free_ char *error = NULL, *level = NULL;

                ASSERT_OK(set_string(bus, "LogLevel", "debug", &error));
                level = get_string(bus, "LogLevel");
                ASSERT_STREQ(level, "debug");
        }
        {
                _cleanup_free_ char *error = NULL, *level = NULL;

                ASSERT_TRUE(set_string(bus, "LogLevel", "loud", &error) < 0);
                ASSERT_STREQ(error, SD_BUS_ERROR_INVALID_ARGS);
                level = get_string(bus, "LogLevel");
                ASSERT_STREQ(level, "debug");
        }
        {
                _cleanup_free_ char *level = NULL;

                ASSERT_EQ(set_as_nobody(b.address, "LogLevel", "err"), 1);
                level = get_string(bus, "LogLevel");
                ASSERT_STREQ(level, "debug");
        }
        {
                _cleanup_free_ char *error = NULL, *target = NULL;

                ASSERT_TRUE(set_string(bus, "LogTarget", "kmsg", &error) < 0);
                ASSERT_STREQ(error, SD_BUS_ERROR_INVALID_ARGS);
                ASSERT_EQ(set_as_nobody(b.address, "LogTarget", "null"), 1);
                target = get_string(bus, "LogTarget");
                ASSERT_STREQ(target, "console");
        }
        {
                _cleanup_free_ char *error = NULL, *target = NULL;

                ASSERT_OK(set_string(bus, "LogTarget", "null", &error));
                target = get_string(bus, "LogTarget");
                ASSERT_STREQ(target, "null");
        }

        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        test_bus_stop(&b);
        (void) rmdir(dir);
}

int main(void) {
        RUN(test_error_text);
        RUN(test_state_strings);
        RUN(test_log_control);
        return 0;
}
