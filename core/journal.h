/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* The journal: what a transition found and did, fsync'd under the run
 * directory (/run/baton/journal) before every change, so that a crash at any
 * point leaves enough behind for `baton recover` to converge the machine to
 * its host state. Append-only text, one record per line:
 *
 *     baton-journal 1              version; anything else is refused
 *     gpu 0000:00:02.0             the GPU the transition is about
 *     rec STAGE KEY VALUE          a fact to_guest() found (value: rest of line,
 *                                  "\\" and "\n" escaped)
 *     commit STAGE                 the record is complete and durable: from here
 *                                  on the stage may have acted
 *     done STAGE                   to_guest() finished and was confirmed
 *     complete                     the handover finished: the machine is in guest state
 *     undone STAGE                 to_host() finished (return, rollback, recover)
 *
 * A stage without "commit" never acted. A torn last line (a crash in the
 * middle of a write) is ignored: nothing acted on it. The file is removed once
 * every committed stage is undone. */

#define JOURNAL_VERSION 1

typedef struct JournalStage {
        char *name;
        char **record;          /* strv of KEY=VALUE, in recording order */
        bool committed;
        bool done;
        bool undone;
} JournalStage;

typedef struct Journal {
        char *path;
        int fd;                 /* open for appending; -EBADF when only read */
        char *gpu;
        JournalStage *stages;   /* in the order they were first named */
        size_t n_stages;
        bool complete;
        bool torn;              /* the last line was incomplete and was ignored */
} Journal;

typedef enum JournalState {
        JOURNAL_STATE_HOST,             /* no journal */
        JOURNAL_STATE_GUEST,            /* handover complete, nothing undone yet */
        JOURNAL_STATE_INTERRUPTED,      /* anything else: recover converges it */
} JournalState;

/* Create a new journal in rundir (created 0700 if missing) for gpu; fails with
 * -EEXIST when one is there already. The header is durable on return. */
int journal_create(const char *rundir, const char *gpu, Journal **ret);
/* Read the journal in rundir: -ENOENT when there is none, -EBADMSG when it is
 * not a journal of a version we know or a line cannot be parsed. With
 * for_append the file stays open so that records can be appended. */
int journal_load(const char *rundir, bool for_append, Journal **ret);
/* Whether rundir holds a journal at all (nothing is read). */
bool journal_exists(const char *rundir);
Journal *journal_free(Journal *j);
DEFINE_TRIVIAL_CLEANUP_FUNC(Journal *, journal_free);

/* Append records, each with one write(2). journal_record() does not sync: its
 * lines become durable with the stage's journal_commit(). The others fsync
 * before they return. */
int journal_record(Journal *j, const char *stage, const char *key, const char *value);
int journal_commit(Journal *j, const char *stage);
int journal_done(Journal *j, const char *stage);
int journal_complete(Journal *j);
int journal_undone(Journal *j, const char *stage);
/* Move an unreadable journal aside to journal.corrupt (kept for a human). */
int journal_set_aside(const char *rundir);
/* Remove the file (and make the removal durable). */
int journal_remove(Journal *j);

JournalStage *journal_find_stage(Journal *j, const char *stage);
JournalState journal_state(const Journal *j);
/* The newest committed stage that is not undone yet; NULL when none. */
const JournalStage *journal_last_pending(const Journal *j);

/* Escaping of values, exposed for tests: "\" -> "\\", newline -> "\n". */
int journal_escape(const char *s, char **ret);
int journal_unescape(const char *s, char **ret);
