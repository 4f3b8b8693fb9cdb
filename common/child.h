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

typedef enum ChildFlags {
        /* At its deadline, and when freed, the child is neither killed nor waited for: one
         * stuck in the kernel (a driver's remove() or probe() under a sysfs write, a module's
         * exit or init) sits in D state, where SIGKILL does not reach it and a wait would
         * block the loop. It is left running; child_run_take_pidfd() lets the caller keep
         * watching it. */
        CHILD_LEAVE_BEHIND = 1 << 0,
        /* The child does not die with this process: a worker or `baton recover` that must
         * finish what it started. */
        CHILD_OUTLIVE = 1 << 1,
        /* stdin, stdout and stderr on /dev/null: a child that may outlive this process must
         * not keep its output open (a caller reading it to its end would hang too). */
        CHILD_NULL_STDIO = 1 << 2,
} ChildFlags;

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
/* The same with flags; timeout_usec UINT64_MAX: no deadline. */
int child_run_async_flags(sd_event *e, uint64_t timeout_usec, ChildFlags flags, int (*f)(int out_fd, void *userdata),
                          void *f_userdata, size_t max_out, child_run_done_t done, void *userdata, ChildRun **ret);
/* A worker: f(f_userdata)'s result (0 or a negative errno below 256, from its exit status)
 * is all it says; done() gets it (out is empty). Otherwise like child_run_async_flags(). */
int child_worker_async(sd_event *e, uint64_t timeout_usec, ChildFlags flags, int (*f)(void *userdata),
                       void *f_userdata, child_run_done_t done, void *userdata, ChildRun **ret);
/* Kills a child still running and reaps it (CHILD_LEAVE_BEHIND: leaves it running, reaped
 * if it is done); done() is not called. NULL is fine. */
ChildRun *child_run_free(ChildRun *c);
pid_t child_run_pid(const ChildRun *c);
/* The pidfd of a child still running (after its deadline, with CHILD_LEAVE_BEHIND), for the
 * caller to watch and reap (waitid(P_PIDFD)); -EBADF when it has exited. */
int child_run_take_pidfd(ChildRun *c);

/* The same, waited for on a private loop: for callers without a loop of their own (the
 * CLI's plan, a worker). Blocks up to timeout_usec. *ret_out (may be NULL) on success. */
int child_run(uint64_t timeout_usec, int (*f)(int out_fd, void *userdata), void *f_userdata, size_t max_out,
              char **ret_out, size_t *ret_size);
