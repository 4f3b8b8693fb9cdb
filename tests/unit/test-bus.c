/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test-bus.h"
#include "tests.h"

#define DBUS_DAEMON "/usr/bin/dbus-daemon"

static void write_config(const char *path, const char *address) {
        FILE *f = fopen(path, "we");

        ASSERT_TRUE(f);
        fprintf(f, "<busconfig><type>custom</type><listen>%s</listen><auth>EXTERNAL</auth>"
                   "<policy context=\"default\"><allow user=\"*\"/><allow own=\"*\"/>"
                   "<allow send_destination=\"*\"/><allow receive_sender=\"*\"/></policy></busconfig>\n", address);
        ASSERT_TRUE(fclose(f) == 0);
}

int test_bus_start(TestBus *b, const char *dir) {
        char conf[128], sock[128], printed[256] = "";
        struct pollfd p;
        int ready[2];
        ssize_t n;

        if (access(DBUS_DAEMON, X_OK) < 0)
                return -ENOENT;
        *b = (TestBus) {};
        ASSERT_TRUE(snprintf(b->dir, sizeof(b->dir), "%s", dir) < (int) sizeof(b->dir));
        snprintf(conf, sizeof(conf), "%s/bus.conf", b->dir);
        snprintf(sock, sizeof(sock), "%s/bus", b->dir);
        snprintf(b->address, sizeof(b->address), "unix:path=%s/bus", b->dir);
        write_config(conf, b->address);

        /* Ready once it prints its address: it does so after it listens. The socket's file
         * alone is not enough: it is there from bind(), and a connect() before listen() is
         * refused. */
        ASSERT_OK(pipe2(ready, O_CLOEXEC) < 0 ? -errno : 0);
        b->pid = fork();
        ASSERT_TRUE(b->pid >= 0);
        if (b->pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                if (dup2(ready[1], 3) < 0)
                        _exit(126);
                execl(DBUS_DAEMON, "dbus-daemon", "--nofork", "--nosyslog", "--print-address=3", "--config-file", conf,
                      (char *) NULL);
                _exit(127);
        }
        close(ready[1]);
        p = (struct pollfd) { .fd = ready[0], .events = POLLIN };
        ASSERT_EQ(poll(&p, 1, 10000), 1);
        n = read(ready[0], printed, sizeof(printed) - 1);
        close(ready[0]);
        if (n <= 0)
                TEST_FAIL("dbus-daemon printed no address: it did not start");
        ASSERT_OK(chmod(sock, 0777) < 0 ? -errno : 0);
        return 0;
}

void test_bus_stop(TestBus *b) {
        char path[128];

        if (b->pid <= 0)
                return;
        (void) kill(b->pid, SIGTERM);
        (void) waitpid(b->pid, NULL, 0);
        b->pid = 0;
        snprintf(path, sizeof(path), "%s/bus", b->dir);
        (void) unlink(path);
        snprintf(path, sizeof(path), "%s/bus.conf", b->dir);
        (void) unlink(path);
}

int test_bus_connect(const char *address, sd_bus **ret) {
        sd_bus *bus = NULL;
        int r;

        r = sd_bus_new(&bus);
        if (r < 0)
                return r;
        r = sd_bus_set_address(bus, address);
        if (r >= 0)
                r = sd_bus_set_bus_client(bus, true);
        if (r >= 0)
                r = sd_bus_start(bus);
        if (r < 0) {
                sd_bus_unref(bus);
                return r;
        }
        *ret = bus;
        return 0;
}
