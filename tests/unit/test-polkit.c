/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The admin-group check of frontend/polkit.c against a caller that changes its ids after it
 * connected, as one that exec's a setgid program with the bus socket kept open does. A private
 * dbus-daemon, as on the system bus: it vouches for the uid it saw at connect time; anything
 * read from /proc/PID/status afterwards is what the caller made of itself since. Needs root
 * (to switch the peer's ids) and dbus-daemon: skipped without. */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <systemd/sd-bus.h>

#include "polkit.h"
#include "test-bus.h"
#include "tests.h"

#define NOBODY 65534
#define NOGROUP 65534
#define SHADOW 42       /* Debian's shadow group, what /usr/sbin/unix_chkpwd is setgid to */

static char dir[] = "/tmp/test-polkit.XXXXXX";
static TestBus test_bus;

static int start_bus(void) {
        int r;

        ASSERT_TRUE(mkdtemp(dir));
        ASSERT_OK(chmod(dir, 0755) < 0 ? -errno : 0);
        r = test_bus_start(&test_bus, dir);
        if (r < 0)
                (void) rmdir(dir);
        return r;
}

static void stop_bus(void) {
        test_bus_stop(&test_bus);
        (void) rmdir(dir);
}

static void peer(const char *destination, gid_t spoof_gid, int sync_fd) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        char c = 'x';

        if (setgroups(0, NULL) < 0 || setresgid(NOGROUP, NOGROUP, NOGROUP) < 0 ||
            setresuid(NOBODY, NOBODY, 0) < 0)
                _exit(2);
        if (test_bus_connect(test_bus.address, &bus) < 0)
                _exit(3);
        if (sd_bus_call_method_async(bus, NULL, destination, "/", "org.baton.Test", "Ping", NULL, NULL, "") < 0 ||
            sd_bus_flush(bus) < 0)
                _exit(4);
        /* What /proc/PID/status shows after the connect when the peer exec's a setgid program. */
        if (seteuid(0) < 0 || setgroups(1, &spoof_gid) < 0 || setegid(spoof_gid) < 0 || seteuid(NOBODY) < 0)
                _exit(5);
        if (write(sync_fd, &c, 1) != 1)
                _exit(6);
        pause();
        _exit(0);
}

static void on_authorized(sd_bus_message *call, int r, void *userdata) {
        *(int *) userdata = r;
}

static int authorize_spoofed(gid_t spoof_gid, gid_t admin_gid) {
        _cleanup_(sd_bus_flush_close_unrefp) sd_bus *bus = NULL;
        sd_bus_message *m = NULL;
        int answer = INT_MIN;
        const char *unique;
        int sync[2], r;
        pid_t pid;
        char c;

        ASSERT_OK(test_bus_connect(test_bus.address, &bus));
        ASSERT_OK(sd_bus_get_unique_name(bus, &unique));
        ASSERT_OK(pipe(sync) < 0 ? -errno : 0);
        pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0)
                peer(unique, spoof_gid, sync[1]);
        close(sync[1]);
        /* The peer has switched its ids once this byte comes. */
        if (read(sync[0], &c, 1) != 1) {
                int st = 0;

                (void) waitpid(pid, &st, 0);
                TEST_FAIL("the peer failed: exit status %d", WEXITSTATUS(st));
        }
        close(sync[0]);
        while (!m) {
                r = sd_bus_process(bus, &m);
                ASSERT_OK(r);
                if (m && !sd_bus_message_is_method_call(m, "org.baton.Test", "Ping"))
                        m = sd_bus_message_unref(m);
                if (r == 0)
                        ASSERT_OK(sd_bus_wait(bus, 5 * 1000000ULL));
        }
        r = authorize_async(m, "org.baton.test", admin_gid, on_authorized, &answer);
        /* Not authorized at once: the question went to polkit, which this bus does not
         * have; its error reply ends the pending call (and frees what it holds). */
        while (r == 0 && answer == INT_MIN) {
                ASSERT_OK(sd_bus_process(bus, NULL));
                ASSERT_OK(sd_bus_wait(bus, 100000));
        }
        if (r == 0)
                r = answer;
        /* The same answer where GetConfig decides what to show (row 12). */
        ASSERT_EQ(caller_is_admin(m, admin_gid), r == 1 ? 1 : 0);
        sd_bus_message_unref(m);
        (void) kill(pid, SIGKILL);
        (void) waitpid(pid, NULL, 0);
        return r;
}

static void test_admin_group_not_from_proc(void) {
        /* Its egid and groups say shadow now; the bus and the group database say nobody. */
        ASSERT_TRUE(authorize_spoofed(SHADOW, SHADOW) != 1);
}

static void test_admin_group_from_group_database(void) {
        /* nobody's primary group is nogroup: a member, whatever its egid now. */
        ASSERT_EQ(authorize_spoofed(SHADOW, NOGROUP), 1);
}

static void test_uid_in_admin_group(void) {
        ASSERT_EQ(uid_in_admin_group(NOBODY, NOGROUP), 1);
        ASSERT_EQ(uid_in_admin_group(NOBODY, SHADOW), 0);
        ASSERT_EQ(uid_in_admin_group(NOBODY, (gid_t) -1), 0);
        ASSERT_EQ(uid_in_admin_group(4000000000u, NOGROUP), 0);
}

int main(void) {
        RUN(test_uid_in_admin_group);
        if (geteuid() != 0 || start_bus() < 0) {
                printf("ok # SKIP the spoof tests need root and dbus-daemon\n");
                return 0;
        }
        RUN(test_admin_group_not_from_proc);
        RUN(test_admin_group_from_group_database);
        stop_bus();
        return 0;
}
