/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal.h"
#include "sysfs-util.h"
#include "strv.h"

#define JOURNAL_NAME "journal"

static void journal_stage_done(JournalStage *st) {
        free(st->name);
        strv_free(st->record);
}

Journal *journal_free(Journal *j) {
        if (!j)
                return NULL;
        for (size_t i = 0; i < j->n_stages; i++)
                journal_stage_done(&j->stages[i]);
        free(j->stages);
        free(j->gpu);
        free(j->path);
        if (j->fd >= 0)
                close(j->fd);
        free(j);
        return NULL;
}

int journal_escape(const char *s, char **ret) {
        char *out = malloc(strlen(s) * 2 + 1), *o = out;

        if (!out)
                return -ENOMEM;
        for (; *s; s++) {
                if (*s == '\\' || *s == '\n') {
                        *o++ = '\\';
                        *o++ = *s == '\n' ? 'n' : '\\';
                } else
                        *o++ = *s;
        }
        *o = '\0';
        *ret = out;
        return 0;
}

int journal_unescape(const char *s, char **ret) {
        char *out = malloc(strlen(s) + 1), *o = out;

        if (!out)
                return -ENOMEM;
        for (; *s; s++) {
                if (*s != '\\') {
                        *o++ = *s;
                        continue;
                }
                s++;
                if (*s == 'n')
                        *o++ = '\n';
                else if (*s == '\\')
                        *o++ = '\\';
                else {
                        free(out);
                        return -EBADMSG;
                }
        }
        *o = '\0';
        *ret = out;
        return 0;
}

static int fsync_directory_of(const char *path) {
        _cleanup_free_ char *dir = strdup(path);
        _cleanup_close_ int fd = -EBADF;
        char *slash;

        if (!dir)
                return -ENOMEM;
        slash = strrchr(dir, '/');
        if (slash)
                *slash = '\0';
        fd = open(slash && *dir ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        return fsync(fd) < 0 ? -errno : 0;
}

static int write_line(Journal *j, const char *line) {
        size_t n = strlen(line);
        ssize_t k;

        if (j->fd < 0)
                return -EBADF;
        /* One write per line: O_APPEND makes it land whole or, on a crash, torn
         * at the end where the reader ignores it. */
        k = write(j->fd, line, n);
        if (k < 0)
                return -errno;
        return (size_t) k == n ? 0 : -EIO;
}

static int sync_journal(Journal *j) {
        return fdatasync(j->fd) < 0 ? -errno : 0;
}

static int write_linef_sync(Journal *j, const char *kind, const char *stage) {
        _cleanup_free_ char *line = NULL;
        int r;

        if (asprintf(&line, stage ? "%s %s\n" : "%s\n", kind, stage) < 0)
                return -ENOMEM;
        r = write_line(j, line);
        if (r < 0)
                return r;
        return sync_journal(j);
}

static JournalStage *add_stage(Journal *j, const char *name) {
        JournalStage *st = journal_find_stage(j, name), *n;

        if (st)
                return st;
        n = reallocarray(j->stages, j->n_stages + 1, sizeof(JournalStage));
        if (!n)
                return NULL;
        j->stages = n;
        st = &j->stages[j->n_stages];
        *st = (JournalStage) { .name = strdup(name) };
        if (!st->name)
                return NULL;
        j->n_stages++;
        return st;
}

JournalStage *journal_find_stage(Journal *j, const char *stage) {
        for (size_t i = 0; i < j->n_stages; i++)
                if (streq(j->stages[i].name, stage))
                        return &j->stages[i];
        return NULL;
}

static int journal_new(const char *rundir, Journal **ret) {
        _cleanup_(journal_freep) Journal *j = calloc(1, sizeof(Journal));

        if (!j)
                return -ENOMEM;
        j->fd = -EBADF;
        if (asprintf(&j->path, "%s/" JOURNAL_NAME, rundir) < 0) {
                j->path = NULL;
                return -ENOMEM;
        }
        *ret = TAKE_PTR(j);
        return 0;
}

int journal_create(const char *rundir, const char *gpu, Journal **ret) {
        _cleanup_(journal_freep) Journal *j = NULL;
        _cleanup_free_ char *header = NULL;
        int r;

        if (mkdir(rundir, 0700) < 0 && errno != EEXIST)
                return -errno;
        r = journal_new(rundir, &j);
        if (r < 0)
                return r;
        j->gpu = strdup(gpu);
        if (!j->gpu)
                return -ENOMEM;
        j->fd = open(j->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
        if (j->fd < 0)
                return -errno;
        if (asprintf(&header, "baton-journal %d\ngpu %s\n", JOURNAL_VERSION, gpu) < 0)
                r = -ENOMEM;
        else
                r = write_line(j, header);
        if (r >= 0)
                r = sync_journal(j);
        if (r >= 0)
                r = fsync_directory_of(j->path);
        if (r < 0) {
                /* Nothing acted on it: a header-less file (a full /run) would only
                 * read back as a corrupt journal and make the host state look interrupted. */
                (void) unlink(j->path);
                return r;
        }
        *ret = TAKE_PTR(j);
        return 0;
}

/* "rec STAGE KEY VALUE": value is the rest of the line and may be empty. */
static int parse_rec(Journal *j, char *args) {
        _cleanup_free_ char *value = NULL, *kv = NULL;
        char *stage = args, *key, *raw;
        JournalStage *st;
        int r;

        key = strchr(stage, ' ');
        if (!key)
                return -EBADMSG;
        *key++ = '\0';
        raw = strchr(key, ' ');
        if (!raw)
                return -EBADMSG;
        *raw++ = '\0';
        if (!*stage || !*key)
                return -EBADMSG;
        r = journal_unescape(raw, &value);
        if (r < 0)
                return r;
        st = add_stage(j, stage);
        if (!st)
                return -ENOMEM;
        if (st->committed)
                return -EBADMSG;        /* a record after its commit: not ours */
        if (asprintf(&kv, "%s=%s", key, value) < 0)
                return -ENOMEM;
        return strv_consume(&st->record, TAKE_PTR(kv));
}

static int parse_stage_event(Journal *j, const char *kind, const char *stage) {
        JournalStage *st;

        if (!*stage || strchr(stage, ' '))
                return -EBADMSG;
        st = add_stage(j, stage);
        if (!st)
                return -ENOMEM;
        if (streq(kind, "commit"))
                st->committed = true;
        else if (streq(kind, "done"))
                st->done = true;
        else
                st->undone = true;
        return 0;
}

static int parse_line(Journal *j, char *line, size_t lineno) {
        char *args = strchr(line, ' ');

        if (args)
                *args++ = '\0';
        if (lineno == 1) {
                if (!streq(line, "baton-journal") || !args || !streq(args, "1"))
                        return -EBADMSG;
                return 0;
        }
        if (streq(line, "gpu") && args && !j->gpu) {
                j->gpu = strdup(args);
                return j->gpu ? 0 : -ENOMEM;
        }
        if (streq(line, "rec") && args)
                return parse_rec(j, args);
        if ((streq(line, "commit") || streq(line, "done") || streq(line, "undone")) && args)
                return parse_stage_event(j, line, args);
        if (streq(line, "complete") && !args) {
                j->complete = true;
                return 0;
        }
        return -EBADMSG;
}

static int parse_journal(Journal *j, char *text, size_t size) {
        size_t lineno = 0;
        char *p = text;

        while (p < text + size) {
                char *nl = memchr(p, '\n', text + size - p);
                int r;

                if (!nl) {
                        j->torn = true; /* written up to a crash: never acted on */
                        break;
                }
                *nl = '\0';
                r = parse_line(j, p, ++lineno);
                if (r < 0)
                        return r;
                p = nl + 1;
        }
        if (lineno == 0 || !j->gpu)
                return -EBADMSG;
        return 0;
}

int journal_load(const char *rundir, bool for_append, Journal **ret) {
        _cleanup_(journal_freep) Journal *j = NULL;
        _cleanup_free_ char *text = NULL;
        size_t size;
        int r;

        r = journal_new(rundir, &j);
        if (r < 0)
                return r;
        r = read_full_file(NULL, j->path, &text, &size);
        if (r < 0)
                return r;
        if (strlen(text) != size)
                return -EBADMSG;        /* NUL bytes: not a journal */
        r = parse_journal(j, text, size);
        if (r < 0)
                return r;
        if (for_append) {
                j->fd = open(j->path, O_WRONLY | O_APPEND | O_CLOEXEC);
                if (j->fd < 0)
                        return -errno;
        }
        *ret = TAKE_PTR(j);
        return 0;
}

int journal_record(Journal *j, const char *stage, const char *key, const char *value) {
        _cleanup_free_ char *escaped = NULL, *line = NULL;
        JournalStage *st;
        int r;

        r = journal_escape(value, &escaped);
        if (r < 0)
                return r;
        if (asprintf(&line, "rec %s %s %s\n", stage, key, escaped) < 0)
                return -ENOMEM;
        r = write_line(j, line);
        if (r < 0)
                return r;
        st = add_stage(j, stage);
        if (!st)
                return -ENOMEM;
        line = mfree(line);
        if (asprintf(&line, "%s=%s", key, value) < 0)
                return -ENOMEM;
        return strv_consume(&st->record, TAKE_PTR(line));
}

static int stage_event(Journal *j, const char *kind, const char *stage) {
        JournalStage *st;
        int r;

        r = write_linef_sync(j, kind, stage);
        if (r < 0)
                return r;
        st = add_stage(j, stage);
        if (!st)
                return -ENOMEM;
        return parse_stage_event(j, kind, stage);
}

int journal_commit(Journal *j, const char *stage) {
        return stage_event(j, "commit", stage);
}

int journal_done(Journal *j, const char *stage) {
        return stage_event(j, "done", stage);
}

int journal_undone(Journal *j, const char *stage) {
        return stage_event(j, "undone", stage);
}

int journal_complete(Journal *j) {
        int r = write_linef_sync(j, "complete", NULL);

        if (r < 0)
                return r;
        j->complete = true;
        return 0;
}

int journal_set_aside(const char *rundir) {
        _cleanup_free_ char *from = NULL, *to = NULL;

        if (asprintf(&from, "%s/" JOURNAL_NAME, rundir) < 0)
                return -ENOMEM;
        if (asprintf(&to, "%s/" JOURNAL_NAME ".corrupt", rundir) < 0)
                return -ENOMEM;
        if (rename(from, to) < 0)
                return -errno;
        return fsync_directory_of(to);
}

int journal_remove(Journal *j) {
        if (unlink(j->path) < 0 && errno != ENOENT)
                return -errno;
        return fsync_directory_of(j->path);
}

JournalState journal_state(const Journal *j) {
        if (!j)
                return JOURNAL_STATE_HOST;
        for (size_t i = 0; i < j->n_stages; i++)
                if (j->stages[i].undone)
                        return JOURNAL_STATE_INTERRUPTED;
        return j->complete ? JOURNAL_STATE_GUEST : JOURNAL_STATE_INTERRUPTED;
}

const JournalStage *journal_last_pending(const Journal *j) {
        for (size_t i = j->n_stages; i > 0; i--) {
                const JournalStage *st = &j->stages[i - 1];

                if (st->committed && !st->undone)
                        return st;
        }
        return NULL;
}

bool journal_exists(const char *rundir) {
        _cleanup_free_ char *path = NULL;

        return asprintf(&path, "%s/" JOURNAL_NAME, rundir) >= 0 && access(path, F_OK) >= 0;
}
