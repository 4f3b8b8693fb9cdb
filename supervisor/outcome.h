/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "engine.h"

/* At the end of a transition that took the desktop away from its user (the session or the
 * display-manager stage acted: a handover that failed and rolled back, or a return), leaves
 * word for the user's next login (session/notice.h): the failure's one-line reason, or the
 * VM's name, how long it ran and how long the return took. A completed handover and a
 * recover leave nothing.
 *
 * The user: the one the handover's session stage logged out (its journal record), else
 * [session] user; with neither nothing is written (said at debug level). Written as the user,
 * within NOTICE_WRITE_TIMEOUT_USEC: it blocks the caller that long at most. Never fails the
 * transition: failures are logged and ignored. Returns 1 when word was left, 0 when none. */
int outcome_notice(const Engine *e, int result, const char *vm);

/* The one-line reason of a failed transition: the first failed stage's, "STAGE: MESSAGE".
 * NULL when it did not fail, or on OOM. */
char *outcome_reason(const Engine *e, int result);
