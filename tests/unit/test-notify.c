/* SPDX-License-Identifier: GPL-2.0-or-later */
/* notify_send() (frontend/notify.h) on a private dbus-daemon: the notification server takes
 * its name only once the wait for it runs, the way GNOME Shell's comes up after the autostart
 * entry started `baton notify`; the notice reaches it once, on the connection the wait was
 * made on. Without a server the wait ends at its deadline. */
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include "notify.h"
#include "test-bus.h"
#include "tests.h"

static char dir[] = "/tmp/test-notify.XXXXXX";
static TestBus bus_daemon;

typedef struct Server {
        int out_fd;             /* "SUMMARY\nBODY\n" of each Notify goes here */
        int notified;
        unsigned not_ready;     /* this many calls first get GNOME Shell's "not yet" */
        const char *refuse;     /* a D-Bus error name Notify gets, or NULL */
        unsigned calls;
} Server;

static int on_call(sd_bus_message *m, void *userdata, sd_bus_error *ret_error) {
        Server *s = userdata;
        const char *app, *icon, *summary, *body;
        uint32_t replaces;
        char line[512];
        int n;

        s->calls++;
        /* What GNOME Shell's notification service answers between taking the name and
         * exporting its object (frontend/notify.c). */
        if (s->not_ready > 0) {
                s->not_ready--;
                return sd_bus_reply_method_errorf(m, SD_BUS_ERROR_UNKNOWN_METHOD,
                                                  "Object does not exist at path \"/org/freedesktop/Notifications\"");
        }
        if (s->refuse && sd_bus_message_is_method_call(m, "org.freedesktop.Notifications", "Notify")) {
                s->notified++;          /* ends the server: refused once */
                return sd_bus_reply_method_errorf(m, s->refuse, "Not from you.");
        }
        if (sd_bus_message_is_method_call(m, "org.freedesktop.Notifications", "GetCapabilities"))
                return sd_bus_reply_method_return(m, "as", 1, "body");
        if (!sd_bus_message_is_method_call(m, "org.freedesktop.Notifications", "Notify"))
                return 0;
        if (sd_bus_message_read(m, "susss", &app, &replaces, &icon, &summary, &body) < 0)
                return -EBADMSG;
        n = snprintf(line, sizeof(line), "%s\n%s\n%s\n", app, summary, body);
        if (n < 0 || (size_t) n >= sizeof(line) || write(s->out_fd, line, n) != n)
                return -EIO;
        s->notified++;
        return sd_bus_reply_method_return(m, "u", (uint32_t) 42);
}

/* The server, in a child: waits for the go byte, takes the name, answers until one Notify;
 * exits with the number of calls it had. */
static void server_main(int go_fd, int out_fd, unsigned not_ready, const char *refuse) {
        Server s = { .out_fd = out_fd, .not_ready = not_ready, .refuse = refuse };
        sd_bus *bus = NULL;
        char c;

        (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (read(go_fd, &c, 1) != 1)
                _exit(2);
        if (test_bus_connect(bus_daemon.address, &bus) < 0 ||
            sd_bus_add_object(bus, NULL, "/org/freedesktop/Notifications", on_call, &s) < 0 ||
            sd_bus_request_name(bus, "org.freedesktop.Notifications", 0) < 0)
                _exit(3);
        while (s.notified == 0) {
                int r = sd_bus_process(bus, NULL);

                if (r < 0)
                        _exit(4);
                if (r == 0 && sd_bus_wait(bus, UINT64_MAX) < 0)
                        _exit(5);
        }
        (void) sd_bus_flush(bus);
        _exit(s.notified == 1 ? (int) s.calls : 100);
}

/* Forks server_main(): go[1] is its go pipe's end to write, out[0] its output's to read. */
static pid_t server_spawn(unsigned not_ready, const char *refuse, int go[2], int out[2]) {
        pid_t pid;

        ASSERT_OK(pipe2(go, O_CLOEXEC) < 0 ? -errno : 0);
        ASSERT_OK(pipe2(out, O_CLOEXEC) < 0 ? -errno : 0);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                close(go[1]);
                close(out[0]);
                server_main(go[0], out[1], not_ready, refuse);
        }
        close(go[0]);
        close(out[1]);
        return pid;
}

static int on_loop_runs(sd_event_source *s, void *userdata) {
        int *go_fd = userdata;

        ASSERT_TRUE(write(*go_fd, "g", 1) == 1);
        *go_fd = -1;
        return 0;
}

static void test_server_comes_later(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        _cleanup_(sd_event_source_unrefp) sd_event_source *defer = NULL;
        int go[2], out[2], go_fd, status;
        char got[512] = {};
        uint32_t id = 0;
        pid_t pid;

        pid = server_spawn(0, NULL, go, out);

        ASSERT_OK(test_bus_connect(bus_daemon.address, &bus));
        ASSERT_OK(sd_event_new(&event));
        /* The server may come only once the loop runs: NameHasOwner has said no by then. */
        go_fd = go[1];
        ASSERT_OK(sd_event_add_defer(event, &defer, on_loop_runs, &go_fd));
        ASSERT_OK(notify_send(bus, event, 30 * 1000000ULL, "The GPU is back from vm",
                              "vm ran for 1 min 2 s. The return took 3.4 s.", &id));
        ASSERT_EQ(go_fd, -1);
        ASSERT_EQ(id, 42);
        ASSERT_TRUE(read(out[0], got, sizeof(got) - 1) > 0);
        ASSERT_STREQ(got, "baton\nThe GPU is back from vm\nvm ran for 1 min 2 s. The return took 3.4 s.\n");
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 2);       /* GetCapabilities, Notify */
        close(go[1]);
        close(out[0]);
}

/* A server that owns the name before its object exists: "not yet" is asked again until it
 * takes the notice; a refusal of another kind ends the send at once. */
static int run_server(unsigned not_ready, const char *refuse, uint64_t timeout_usec, uint32_t *ret_id,
                      unsigned *ret_calls) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        int go[2], out[2], status, r;
        char got[512] = {};
        pid_t pid;

        pid = server_spawn(not_ready, refuse, go, out);
        ASSERT_TRUE(write(go[1], "g", 1) == 1);
        ASSERT_OK(test_bus_connect(bus_daemon.address, &bus));
        ASSERT_OK(sd_event_new(&event));
        r = notify_send(bus, event, timeout_usec, "summary", "body", ret_id);
        /* Only a server that never answered is killed: a refusing one exits by itself with
         * its count of calls, and a kill racing its exit would lose that count. */
        if (r == -ETIMEDOUT)
                (void) kill(pid, SIGKILL);
        ASSERT_TRUE(waitpid(pid, &status, 0) == pid);
        *ret_calls = WIFEXITED(status) ? (unsigned) WEXITSTATUS(status) : 0;
        if (r >= 0)
                ASSERT_TRUE(read(out[0], got, sizeof(got) - 1) > 0 && streq(got, "baton\nsummary\nbody\n"));
        close(go[1]);
        close(out[0]);
        return r;
}

static void test_server_not_ready_yet(void) {
        uint32_t id = 0;
        unsigned calls = 0;

        /* GetCapabilities, Notify, GetCapabilities not yet; then both answered. */
        ASSERT_OK(run_server(3, NULL, 30 * 1000000ULL, &id, &calls));
        ASSERT_EQ(id, 42);
        ASSERT_EQ(calls, 5);
}

static void test_server_refuses(void) {
        uint32_t id = 0;
        unsigned calls = 0;

        /* Refused for good: one try, no second, long before the deadline. */
        ASSERT_EQ(run_server(0, SD_BUS_ERROR_ACCESS_DENIED, 30 * 1000000ULL, &id, &calls), -EACCES);
        ASSERT_EQ(id, 0);
        ASSERT_EQ(calls, 2);
}

static void test_server_never_ready(void) {
        uint32_t id = 0;
        unsigned calls = 0;

        /* "Not yet" until the deadline: the send ends there, the server killed unanswered. */
        ASSERT_EQ(run_server(UINT_MAX, NULL, 1000 * 1000ULL, &id, &calls), -ETIMEDOUT);
        ASSERT_EQ(id, 0);
}

static void test_no_server(void) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        _cleanup_(sd_event_unrefp) sd_event *event = NULL;
        uint32_t id = 0;

        ASSERT_OK(test_bus_connect(bus_daemon.address, &bus));
        ASSERT_OK(sd_event_new(&event));
        ASSERT_EQ(notify_send(bus, event, 200 * 1000ULL, "summary", "body", &id), -ETIMEDOUT);
        ASSERT_EQ(id, 0);
}

int main(void) {
        int r;

        ASSERT_TRUE(mkdtemp(dir));
        r = test_bus_start(&bus_daemon, dir);
        if (r == -ENOENT) {
                fprintf(stderr, "no dbus-daemon: skipped\n");
                (void) rmdir(dir);
                return 77;
        }
        test_server_comes_later();
        test_server_not_ready_yet();
        test_server_refuses();
        test_server_never_ready();
        test_no_server();
        test_bus_stop(&bus_daemon);
        (void) rmdir(dir);
        return 0;
}
