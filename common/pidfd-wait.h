/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <systemd/sd-event.h>

#include "macro.h"

/* Waits on an sd-event loop for a set of processes to exit, through one pidfd each, with
 * one deadline for all of them. Works for any process, not only our children: a pidfd
 * becomes readable once the whole thread group has exited (its fds are closed by then). */

typedef struct PidfdWait PidfdWait;

/* Called once, from the loop, never from inside pidfd_wait_new(). survivors are the pids
 * still running when the deadline passed, in the order they were given; n_survivors is 0
 * when every process exited in time. The callback may free w. */
typedef void (*pidfd_wait_done_t)(PidfdWait *w, const pid_t *survivors, size_t n_survivors,
                                  void *userdata);

/* Starts waiting for pids until CLOCK_MONOTONIC reaches deadline_usec (absolute, as
 * sd_event_now() reports it; a deadline already past fires at the next iteration). A pid
 * that is already gone counts as exited. Does not block. Returns 0, or a negative errno
 * when a pidfd or an event source cannot be set up (nothing is left behind then). */
int pidfd_wait_new(sd_event *e, const pid_t *pids, size_t n_pids, uint64_t deadline_usec,
                   pidfd_wait_done_t done, void *userdata, PidfdWait **ret);

/* Releases the event sources and closes the pidfds; done() is not called. NULL is fine. */
PidfdWait *pidfd_wait_free(PidfdWait *w);
DEFINE_TRIVIAL_CLEANUP_FUNC(PidfdWait *, pidfd_wait_free);
