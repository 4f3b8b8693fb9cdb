/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <sys/types.h>

/* One transition at a time on a machine, across processes (the daemon and any CLI run
 * without it): an exclusive flock(2) on the run directory itself, held from the start of a
 * handover, return or recover to its end. A file beside the journal, "transition", says which
 * one and which pid runs it while the lock is held; it is removed before the lock goes, so the
 * run directory is left as it was. The lock is on the directory, not on that file: the file
 * can come and go without a window where two holders each lock a different file. */

typedef struct TransitionLock {
        int fd;                 /* the run directory, locked; -EBADF when not held */
        char *info_path;
} TransitionLock;

#define TRANSITION_LOCK_NULL ((TransitionLock) { .fd = -EBADF })

/* Takes the lock for op ("handover", "return", "recover") without waiting, creating the run
 * directory (0700) when missing. -EBUSY when another process holds it: *ret_op (may be NULL
 * when unknown) and *ret_pid (0 when unknown) say who. */
int transition_lock_take(const char *rundir, const char *op, TransitionLock *ret, char **ret_op,
                         pid_t *ret_pid);
void transition_lock_release(TransitionLock *l);

/* 1 when a transition runs (the lock is held by anyone, this process included), with what
 * and by whom as above; 0 when none runs or the run directory does not exist; negative errno.
 * Creates nothing. */
int transition_lock_holder(const char *rundir, char **ret_op, pid_t *ret_pid);
