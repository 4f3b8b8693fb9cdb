/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "engine.h"

/* The record of transitions. Every handover, return or recover that ran leaves one
 * structured entry in the system journal (history_record()); `baton history` reads the
 * last ones back (history_print()). baton keeps no file of its own for this: the
 * journal stores, rotates and protects it.
 *
 * An entry's fields:
 *   MESSAGE_ID=HISTORY_MESSAGE_ID
 *   BATON_OP=handover|return|recover
 *   BATON_VM=the libvirt domain, when known
 *   BATON_GPU=the GPU's PCI address
 *   BATON_RESULT=ok|failed|incomplete (incomplete: the rollback did not finish)
 *   BATON_REASON=the first failing stage's reason, when it failed
 *   BATON_TOTAL_USEC=the sum of the stages' durations
 *   BATON_PREPARE_USEC=from the request to the first stage's step, 0 when none ran
 *   BATON_DURATION_USEC=from the request to the transition's end
 *   BATON_STAGES=one "NAME:DIRECTION:RESULT:USEC" word per stage that ran
 *                (DIRECTION guest|host, RESULT ok|skip|failed)
 *   BATON_ORIGIN=cli|daemon
 * Only entries written by root (_UID=0, a field journald sets and a client cannot) are
 * read back: any local user can send an entry with these fields. */

#define HISTORY_MESSAGE_ID "6c1f4be2a9d04f0e9b8a2d5e71c3f0a4"

/* Writes the entry for the transition e just ran; result as engine_done_t got it. Never
 * fails the transition: the caller ignores the return value. */
int history_record(const Engine *e, int result, const char *vm, const char *origin);

typedef struct HistoryEntry {
        uint64_t realtime_usec;         /* when it was recorded (CLOCK_REALTIME) */
        char *op, *vm, *gpu, *result, *reason, *stages;
        uint64_t total_usec;
        uint64_t guest_usec;            /* a return's or recover's: how long the guest had
                                         * the GPU, from the last completed handover; 0 unknown */
} HistoryEntry;

void history_entry_done(HistoryEntry *h);

/* One entry as `baton history` prints it (two lines: the outcome, then the stages). */
int history_format(FILE *f, const HistoryEntry *h);

/* Prints the last n transitions, oldest first. Returns the number printed, or a
 * negative errno when the journal cannot be opened. */
int history_print(FILE *f, unsigned n);
