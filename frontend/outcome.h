/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include "engine.h"
#include "user.h"

/* At the end of a transition that took the desktop away from its user (the session or the
 * display-manager stage acted: a handover that failed and rolled back, or a return), leaves
 * word for the user's next login (session/notice.h): the failure's one-line reason, or the
 * VM's name, how long it ran and how long the return took. A completed handover and a
 * recover leave nothing.
 *
 * The user: the one the handover's session stage logged out (its journal record), else
 * [session] user; with neither nothing is written (said at debug level). Written as the user,
 * within NOTICE_WRITE_TIMEOUT_USEC: it blocks the caller that long at most (the CLI's way). Never fails the
 * transition: failures are logged and ignored. Returns 1 when word was left, 0 when none. */
int outcome_notice(const Engine *e, int result, const char *vm);

/* The same in parts, for the daemon, whose loop must not wait for the user's home: whether word
 * is due and what it says (1 and *ret; 0 when none is due; failures are logged and give 0 or a
 * negative errno), then, once the write (session/notice.h, notice_write_start()) ended, its log
 * line. */
typedef struct OutcomeNotice {
        UserIdentity user;
        char *summary, *body;
        char *binary;           /* the running baton, for the autostart entry */
} OutcomeNotice;

void outcome_notice_done(OutcomeNotice *n);
int outcome_notice_prepare(const Engine *e, int result, const char *vm, OutcomeNotice *ret);
void outcome_notice_log(const OutcomeNotice *n, int r);

/* The one-line reason of a failed transition: the first failed stage's, "STAGE: MESSAGE".
 * NULL when it did not fail, or on OOM. */
char *outcome_reason(const Engine *e, int result);
