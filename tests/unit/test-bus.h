/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* A private dbus-daemon for the unit tests that need a real bus (test-polkit plays the
 * system bus on it, test-session-bus a user's session bus): a custom bus that anyone may
 * connect to, own names on and send to, listening on DIR/bus, with its configuration in
 * DIR/bus.conf. */

#include <sys/types.h>

#include <systemd/sd-bus.h>

typedef struct TestBus {
        pid_t pid;              /* the dbus-daemon; 0 when not running */
        char dir[96];
        char address[128];      /* "unix:path=DIR/bus" */
} TestBus;

/* Starts dbus-daemon on DIR/bus (dir must exist) and returns once the socket is there, the
 * socket open to every user (tests connect from children that dropped to another one).
 * The daemon dies with the test. Returns 0, or -ENOENT when /usr/bin/dbus-daemon is not
 * installed (the caller skips); anything else fails the test. */
int test_bus_start(TestBus *b, const char *dir);

/* Stops the daemon and removes DIR/bus and DIR/bus.conf (not DIR). */
void test_bus_stop(TestBus *b);

/* A client connection to address, as a bus client (Hello sent). Asserts nothing, so that a
 * forked child can _exit() on failure: returns 0 or a negative errno. */
int test_bus_connect(const char *address, sd_bus **ret);
