/* SPDX-License-Identifier: GPL-2.0-or-later */
/* journal_load() on a run directory whose journal file is the input: the file a crash,
 * a full /run or a human may have left behind. Each input is written to the same
 * private directory, so that the reader runs exactly as `baton recover` runs it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include "fuzz.h"
#include "journal.h"
#include "macro.h"

static char rundir[] = "/tmp/baton-fuzz-journal.XXXXXX";
static char *path;

static void remove_rundir(void) {
        if (path)
                (void) unlink(path);
        (void) rmdir(rundir);
}

static int write_journal(const uint8_t *data, size_t size) {
        _cleanup_close_ int fd = -EBADF;

        if (!path) {
                if (!mkdtemp(rundir) || asprintf(&path, "%s/journal", rundir) < 0)
                        abort();
                (void) atexit(remove_rundir);
        }
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0)
                return -errno;
        while (size > 0) {
                ssize_t k = write(fd, data, size);

                if (k < 0)
                        return -errno;
                data += k;
                size -= (size_t) k;
        }
        return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_(journal_freep) Journal *j = NULL;
        const JournalStage *pending;

        if (size > FUZZ_INPUT_MAX)
                return 0;
        fuzz_setup_log();
        if (write_journal(data, size) < 0)
                abort();

        if (journal_load(rundir, false, &j) < 0)
                return 0;
        if (!j->gpu || strlen(j->gpu) > size)
                abort();
        for (size_t i = 0; i < j->n_stages; i++) {
                JournalStage *st = &j->stages[i];

                if (journal_find_stage(j, st->name) != st)
                        abort();        /* stages are named once */
                for (char **kv = st->record; kv && *kv; kv++)
                        if (!strchr(*kv, '='))
                                abort();
        }
        (void) journal_state(j);
        pending = journal_last_pending(j);
        if (pending && (!pending->committed || pending->undone))
                abort();
        return 0;
}
