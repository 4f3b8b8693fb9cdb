/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "parse-util.h"
#include "sysfs-util.h"
#include "transition-lock.h"

#define INFO_NAME "transition"

/* "OP PID\n", written by the holder; what is missing reads as unknown. */
static void read_info(const char *rundir, char **ret_op, pid_t *ret_pid) {
        _cleanup_free_ char *path = NULL, *text = NULL;
        char *blank;

        *ret_op = NULL;
        *ret_pid = 0;
        if (asprintf(&path, "%s/" INFO_NAME, rundir) < 0 || read_regular_file(path, 256, &text, NULL) < 0)
                return;
        blank = strchr(text, ' ');
        if (!blank)
                return;
        *blank = '\0';
        (void) parse_pid(blank + 1, ret_pid);
        *ret_op = strdup(text);
}

int transition_lock_take(const char *rundir, const char *op, TransitionLock *ret, char **ret_op,
                         pid_t *ret_pid) {
        _cleanup_close_ int fd = -EBADF;
        _cleanup_free_ char *info = NULL;
        FILE *f;

        if (mkdir(rundir, 0700) < 0 && errno != EEXIST)
                return -errno;
        fd = open(rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
                if (errno != EWOULDBLOCK)
                        return -errno;
                read_info(rundir, ret_op, ret_pid);
                return -EBUSY;
        }
        if (asprintf(&info, "%s/" INFO_NAME, rundir) < 0)
                return -ENOMEM;
        /* Best effort: a full /run still gets its refusal from the journal's write. */
        f = fopen(info, "we");
        if (f) {
                fprintf(f, "%s %i\n", op, (int) getpid());
                if (fclose(f) != 0)
                        (void) unlink(info);
        }
        *ret = (TransitionLock) { .fd = TAKE_FD(fd), .info_path = TAKE_PTR(info) };
        return 0;
}

void transition_lock_release(TransitionLock *l) {
        if (!l || l->fd < 0)
                return;
        if (l->info_path)
                (void) unlink(l->info_path);
        l->info_path = mfree(l->info_path);
        close(l->fd);   /* drops the lock */
        l->fd = -EBADF;
}

int transition_lock_holder(const char *rundir, char **ret_op, pid_t *ret_pid) {
        _cleanup_close_ int fd = -EBADF;

        fd = open(rundir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return errno == ENOENT ? 0 : -errno;
        /* A shared lock is granted only when nobody holds the exclusive one. */
        if (flock(fd, LOCK_SH | LOCK_NB) >= 0)
                return 0;       /* released with fd */
        if (errno != EWOULDBLOCK)
                return -errno;
        read_info(rundir, ret_op, ret_pid);
        return 1;
}
