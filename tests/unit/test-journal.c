/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The journal: what is written is what is read back; a torn last line is
 * ignored; anything that is not a journal of our version is refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "journal.h"
#include "strv.h"
#include "tests.h"

static char rundir[] = "/tmp/baton-test-journal-XXXXXX";

static void write_file(const char *text) {
        _cleanup_free_ char *p = NULL;
        int fd;

        ASSERT_TRUE(asprintf(&p, "%s/journal", rundir) > 0);
        fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        ASSERT_TRUE(fd >= 0);
        ASSERT_EQ(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
}

static void test_escape_roundtrip(void) {
        const char *cases[] = { "", "plain", "a\\b", "two\nlines", "\\n literally", "end\\" };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *e = NULL, *u = NULL;

                ASSERT_OK(journal_escape(cases[i], &e));
                ASSERT_NULL(strchr(e, '\n'));
                ASSERT_OK(journal_unescape(e, &u));
                ASSERT_STREQ(u, cases[i]);
        }
        {
                _cleanup_free_ char *u = NULL;
                ASSERT_EQ(journal_unescape("bad\\x", &u), -EBADMSG);
        }
}

static void test_write_read(void) {
        _cleanup_(journal_freep) Journal *j = NULL, *k = NULL;
        JournalStage *st;

        ASSERT_OK(journal_create(rundir, "0000:00:02.0", &j));
        ASSERT_EQ(journal_create(rundir, "0000:00:02.0", &k), -EEXIST);
        ASSERT_OK(journal_record(j, "vtconsoles", "vtcon1", "1"));
        ASSERT_OK(journal_record(j, "vfio", "dev.0000:00:02.0.override", ""));
        ASSERT_OK(journal_record(j, "vfio", "dev.0000:00:02.0.name", "line\nbreak"));
        ASSERT_OK(journal_commit(j, "vtconsoles"));
        ASSERT_OK(journal_done(j, "vtconsoles"));
        ASSERT_OK(journal_commit(j, "vfio"));
        ASSERT_EQ(journal_state(j), JOURNAL_STATE_INTERRUPTED);

        ASSERT_OK(journal_load(rundir, false, &k));
        ASSERT_STREQ(k->gpu, "0000:00:02.0");
        ASSERT_EQ(k->n_stages, 2);
        st = journal_find_stage(k, "vfio");
        ASSERT_TRUE(st && st->committed && !st->done);
        ASSERT_EQ(strv_length(st->record), 2);
        ASSERT_STREQ(st->record[0], "dev.0000:00:02.0.override=");
        ASSERT_STREQ(st->record[1], "dev.0000:00:02.0.name=line\nbreak");
        ASSERT_STREQ(journal_last_pending(k)->name, "vfio");
        ASSERT_EQ(journal_state(k), JOURNAL_STATE_INTERRUPTED);
        k = journal_free(k);

        ASSERT_OK(journal_done(j, "vfio"));
        ASSERT_OK(journal_complete(j));
        ASSERT_OK(journal_load(rundir, false, &k));
        ASSERT_EQ(journal_state(k), JOURNAL_STATE_GUEST);
        k = journal_free(k);

        ASSERT_OK(journal_undone(j, "vfio"));
        ASSERT_OK(journal_load(rundir, false, &k));
        ASSERT_EQ(journal_state(k), JOURNAL_STATE_INTERRUPTED);
        ASSERT_STREQ(journal_last_pending(k)->name, "vtconsoles");
        k = journal_free(k);

        ASSERT_OK(journal_remove(j));
        ASSERT_EQ(journal_load(rundir, false, &k), -ENOENT);
        ASSERT_EQ(journal_state(NULL), JOURNAL_STATE_HOST);
}

static void test_torn_last_line(void) {
        _cleanup_(journal_freep) Journal *j = NULL;

        /* A crash in the middle of "commit vfio": the stage never acted. */
        write_file("baton-journal 1\ngpu 0000:00:02.0\nrec vfio a b\ncommit vf");
        ASSERT_OK(journal_load(rundir, false, &j));
        ASSERT_TRUE(j->torn);
        ASSERT_FALSE(journal_find_stage(j, "vfio")->committed);
        ASSERT_NULL(journal_last_pending(j));
}

static void test_refused(void) {
        const char *bad[] = {
                "",
                "baton-journal 2\ngpu 0000:00:02.0\n",
                "something else\n",
                "baton-journal 1\n",                                    /* no gpu */
                "baton-journal 1\ngpu a\ngpu b\n",
                "baton-journal 1\ngpu a\nfrobnicate x\n",
                "baton-journal 1\ngpu a\nrec vfio\n",
                "baton-journal 1\ngpu a\ncommit vfio\nrec vfio k v\n",  /* record after commit */
                "baton-journal 1\ngpu a\nrec vfio k bad\\q\n",
                "baton-journal 1\ngpu a\ncomplete now\n",
        };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_(journal_freep) Journal *j = NULL;

                write_file(bad[i]);
                if (journal_load(rundir, false, &j) != -EBADMSG)
                        TEST_FAIL("journal %zu accepted: \"%s\"", i, bad[i]);
        }
        {
                /* NUL bytes in the middle */
                _cleanup_(journal_freep) Journal *j = NULL;
                _cleanup_free_ char *p = NULL;
                int fd;

                ASSERT_TRUE(asprintf(&p, "%s/journal", rundir) > 0);
                fd = open(p, O_WRONLY | O_TRUNC | O_CLOEXEC);
                ASSERT_EQ(write(fd, "baton-journal 1\n\0gpu a\n", 23), 23);
                close(fd);
                ASSERT_EQ(journal_load(rundir, false, &j), -EBADMSG);
        }
        ASSERT_OK(journal_set_aside(rundir));
        {
                _cleanup_(journal_freep) Journal *j = NULL;
                ASSERT_EQ(journal_load(rundir, false, &j), -ENOENT);
        }
}

int main(void) {
        ASSERT_TRUE(mkdtemp(rundir));
        RUN(test_escape_roundtrip);
        RUN(test_write_read);
        RUN(test_torn_last_line);
        RUN(test_refused);
        (void) unlink(strcat(strcpy((char[64]) {}, rundir), "/journal.corrupt"));
        ASSERT_OK(rmdir(rundir) < 0 ? -errno : 0);
        return 0;
}
