/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest-marker.h"
#include "macro.h"

static int fsync_dir(const char *dir) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

        if (fd < 0 || fsync(fd) < 0)
                return -errno;
        return 0;
}

int guest_marker_write(const char *dir, const char *vm) {
        _cleanup_free_ char *path = NULL, *tmp = NULL;
        _cleanup_close_ int fd = -EBADF;
        size_t l = strlen(strempty(vm));
        int r;

        if (strchr(strempty(vm), '\n'))
                return -EINVAL;
        if (asprintf(&path, "%s/" GUEST_MARKER_NAME, dir) < 0 ||
            asprintf(&tmp, "%s/." GUEST_MARKER_NAME ".tmp", dir) < 0)
                return -ENOMEM;
        if (access(path, F_OK) == 0)
                return 0;
        if (mkdir(dir, 0755) < 0 && errno != EEXIST)
                return -errno;
        fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return -errno;
        if (write(fd, strempty(vm), l) != (ssize_t) l || write(fd, "\n", 1) != 1 || fsync(fd) < 0) {
                r = negative_errno();
                (void) unlink(tmp);
                return r;
        }
        /* link(), not rename(): a marker that appeared meanwhile stays the owner's. */
        if (link(tmp, path) < 0 && errno != EEXIST) {
                r = -errno;
                (void) unlink(tmp);
                return r;
        }
        (void) unlink(tmp);
        r = fsync_dir(dir);
        return r < 0 ? r : 1;
}

int guest_marker_read(const char *dir, char **ret_vm) {
        _cleanup_free_ char *path = NULL, *line = NULL;
        _cleanup_fclose_ FILE *f = NULL;
        size_t size = 0;
        ssize_t n;

        if (asprintf(&path, "%s/" GUEST_MARKER_NAME, dir) < 0)
                return -ENOMEM;
        f = fopen(path, "re");
        if (!f)
                return -errno;
        n = getline(&line, &size, f);
        if (n < 0) {
                if (ferror(f))
                        return -EIO;
                line = strdup("");      /* empty file: no domain */
                if (!line)
                        return -ENOMEM;
        } else if (n > 0 && line[n - 1] == '\n')
                line[n - 1] = '\0';
        *ret_vm = TAKE_PTR(line);
        return 0;
}

int guest_marker_remove(const char *dir) {
        _cleanup_free_ char *path = NULL;

        if (asprintf(&path, "%s/" GUEST_MARKER_NAME, dir) < 0)
                return -ENOMEM;
        if (unlink(path) < 0)
                return errno == ENOENT ? 0 : -errno;
        return fsync_dir(dir);
}
