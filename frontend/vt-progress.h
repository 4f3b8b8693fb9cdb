/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

/* Progress on the screen. While the display manager is down the person at the machine
 * looks at a text console; baton writes its stage lines there, on the console in the
 * foreground (/dev/tty0), as plain text without escape codes: on the way to the guest
 * until fbcon leaves the card, on the way home from the moment fbcon is back, and the
 * reason when a handover fails and is rolled back. [display-manager] console-progress
 * turns it off.
 *
 * Writing never blocks and never fails a transition: the console is opened O_NONBLOCK
 * and a line the console does not take is lost. */

typedef struct VtProgress {
        char *root;             /* sysfs and /dev below root: "/" outside tests */
        char *tty;              /* the console written to: ROOT/dev/tty0 */
        bool enabled;
        bool active;            /* a transition runs: its first stage was seen */
        bool dm_down;           /* the display manager is down (stopped by a handover) */
        char *failure;          /* the first failure, until a visible console showed it */
} VtProgress;

void vt_progress_init(VtProgress *p, const char *root, bool enabled);
void vt_progress_done(VtProgress *p);

/* The engine's progress (engine_progress_t) and the end of a transition. reason: the
 * stage's error message when it failed, else NULL. */
void vt_progress_stage(VtProgress *p, const char *stage, bool to_guest, bool finished, int result,
                       uint64_t usec, const char *reason);
/* The same from an engine_progress_t callback: a failed stage's reason is the last
 * timeline row's. */
void vt_progress_engine(VtProgress *p, Engine *e, const char *stage, bool to_guest, bool finished, int result,
                        uint64_t usec);
void vt_progress_end(VtProgress *p, const char *op, int result, bool rollback_incomplete);

/* Whether a frame-buffer console is bound now, i.e. text on the foreground VT shows. */
bool vt_progress_console_visible(const char *root);
