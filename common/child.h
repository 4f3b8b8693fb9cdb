/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdint.h>
#include <sys/types.h>

/* A forked child for a read that may block in the kernel (sysfs attributes of a device
 * whose driver unbind has not returned take the device's lock: a reader sits in D state),
 * so that the caller can wait for it with a deadline and say so instead of hanging. */

typedef struct Child {
        pid_t pid;
        int pidfd;
} Child;

/* Runs f(userdata) in a child; its result (0 or a negative errno below 256) is what
 * child_wait() returns. stdout is flushed before the fork and by the child at its end. */
int child_start(int (*f)(void *userdata), void *userdata, Child *ret);

/* Waits up to timeout_usec: f's result once the child exited (it is reaped), -ETIMEDOUT
 * while it still runs (it is left running: call again, or child_abandon()). */
int child_wait(Child *c, uint64_t timeout_usec);

/* SIGKILLs the child and closes the pidfd without waiting: a child in D state cannot be
 * reaped before the kernel lets go, and init reaps it after this process exits. */
void child_abandon(Child *c);
