/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
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
        char conf[128], sock[128];

        if (access(DBUS_DAEMON, X_OK) < 0)
                return -ENOENT;
        *b = (TestBus) {};
        ASSERT_TRUE(snprintf(b->dir, sizeof(b->dir), "%s", dir) < (int) sizeof(b->dir));
        snprintf(conf, sizeof(conf), "%s/bus.conf", b->dir);
        snprintf(sock, sizeof(sock), "%s/bus", b->dir);
        snprintf(b->address, sizeof(b->address), "unix:path=%s/bus", b->dir);
        write_config(conf, b->address);

        b->pid = fork();
        ASSERT_TRUE(b->pid >= 0);
        if (b->pid == 0) {
                (void) prctl(PR_SET_PDEATHSIG, SIGKILL);
                execl(DBUS_DAEMON, "dbus-daemon", "--nofork", "--nosyslog", "--config-file", conf, (char *) NULL);
                _exit(127);
        }
        /* Ready once the socket is there: dbus-daemon binds it before it serves. */
        for (int i = 0; i < 500 && access(sock, F_OK) < 0; i++)
                usleep(10000);
        ASSERT_OK(access(sock, F_OK) < 0 ? -errno : 0);
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
