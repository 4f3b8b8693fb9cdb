/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

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

/* --- A child awaited on an sd-event loop: the loop never waits for it --- */

typedef struct ChildRun ChildRun;

/* Called once, from the loop: r is f's result (0 or a negative errno), -ETIMEDOUT when
 * the child still ran at the deadline (it is killed), -EFBIG when it wrote more than
 * max_out bytes. out holds what f wrote to out_fd, NUL-terminated, valid during the call
 * only (NULL on failure). The callback may free c. */
typedef void (*child_run_done_t)(ChildRun *c, int r, const char *out, size_t size, void *userdata);

/* Forks a child that runs f(out_fd, f_userdata) (it dies with this process), and watches
 * its output pipe and pidfd on e, with a timer timeout_usec from now. Returns at once:
 * 0, or a negative errno when the child could not be started (done() is then not called). */
int child_run_async(sd_event *e, uint64_t timeout_usec, int (*f)(int out_fd, void *userdata), void *f_userdata,
                    size_t max_out, child_run_done_t done, void *userdata, ChildRun **ret);
/* Kills a child still running and reaps it; done() is not called. NULL is fine. */
ChildRun *child_run_free(ChildRun *c);

/* The same, waited for on a private loop: for callers without a loop of their own (the
 * CLI's plan, a worker). Blocks up to timeout_usec. *ret_out (may be NULL) on success. */
int child_run(uint64_t timeout_usec, int (*f)(int out_fd, void *userdata), void *f_userdata, size_t max_out,
              char **ret_out, size_t *ret_size);
