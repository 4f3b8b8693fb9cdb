/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"
#include "parse-util.h"
#include "strv.h"
#include "sysfs-util.h"

int root_path(const char *root, const char *path, char **ret) {
        size_t l;
        char *p;

        if (isempty(root))
                root = "/";
        /* Drop the root's trailing slashes: path is absolute and brings its own. */
        l = strlen(root);
        while (l > 0 && root[l - 1] == '/')
                l--;
        if (asprintf(&p, "%.*s%s%s", (int) l, root, path[0] == '/' ? "" : "/", path) < 0)
                return -ENOMEM;

        *ret = p;
        return 0;
}

int sysfs_exists(const char *root, const char *path) {
        _cleanup_free_ char *p = NULL;
        int r;

        r = root_path(root, path, &p);
        if (r < 0)
                return r;
        if (access(p, F_OK) >= 0)
                return 1;
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
}

int read_fd_into(int fd, size_t max, char **buf, size_t *allocated, size_t *ret_size) {
        size_t n = 0;

        /* Grow as we go: /proc and sysfs report st_size 0 or 4096 whatever the content. Doubling
         * keeps a large /proc/PID/maps to a few reads. */
        for (;;) {
                ssize_t k;

                if (*allocated - n < 4096) {
                        size_t a = *allocated > 0 ? *allocated * 2 : 8192;
                        char *b = realloc(*buf, a);
                        if (!b)
                                return -ENOMEM;
                        *buf = b;
                        *allocated = a;
                }
                k = read(fd, *buf + n, *allocated - n - 1);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k < 0)
                        return -errno;
                if (k == 0)
                        break;
                n += (size_t) k;
                if (n > max)
                        return -EFBIG;
        }
        (*buf)[n] = '\0';
        if (ret_size)
                *ret_size = n;
        return 0;
}

/* Up to max bytes from fd, NUL-terminated; -EFBIG when there is more. */
static int read_fd_bounded(int fd, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t allocated = 0;
        int r;

        r = read_fd_into(fd, max, &buf, &allocated, ret_size);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(buf);
        return 0;
}

int read_full_file(const char *root, const char *path, char **ret, size_t *ret_size) {
        _cleanup_free_ char *p = NULL;
        int r;

        r = root_path(root, path, &p);
        if (r < 0)
                return r;
        return read_full_file_at(AT_FDCWD, p, ret, ret_size);
}

int open_dir_path(const char *root, const char *path) {
        _cleanup_free_ char *p = NULL;
        int fd, r;

        r = root_path(root, path, &p);
        if (r < 0)
                return r;
        fd = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

int read_full_file_at(int dir_fd, const char *name, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;

        fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        return read_fd_bounded(fd, READ_FULL_FILE_MAX, ret, ret_size);
}

int read_regular_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -EBADF;
        struct stat st;

        /* O_NONBLOCK: opening a FIFO must not wait for a writer; it is refused right after. */
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (S_ISDIR(st.st_mode))
                return -EISDIR;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;
        if ((uint64_t) st.st_size > max)
                return -EFBIG;
        return read_fd_bounded(fd, max, ret, ret_size);
}

/* Keeps s's first line, without its trailing whitespace. */
static int first_line(char *s, char **ret) {
        s[strcspn(s, "\n")] = '\0';
        *ret = strstrip_end(s);
        return 0;
}

int sysfs_read_string(const char *root, const char *path, char **ret) {
        char *s;
        int r;

        r = read_full_file(root, path, &s, NULL);
        return r < 0 ? r : first_line(s, ret);
}

int sysfs_read_string_at(int dir_fd, const char *name, char **ret) {
        char *s;
        int r;

        r = read_full_file_at(dir_fd, name, &s, NULL);
        return r < 0 ? r : first_line(s, ret);
}

int sysfs_read_unsigned(const char *root, const char *path, unsigned base, unsigned *ret) {
        _cleanup_free_ char *s = NULL;
        int r;

        r = sysfs_read_string(root, path, &s);
        if (r < 0)
                return r;
        return safe_atou(s, base, ret);
}

static int read_link_at(int dir_fd, const char *path, char **ret) {
        char buf[PATH_MAX];
        ssize_t k;

        k = readlinkat(dir_fd, path, buf, sizeof(buf) - 1);
        if (k < 0)
                return -errno;
        buf[k] = '\0';

        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

int read_link(const char *root, const char *path, char **ret) {
        _cleanup_free_ char *p = NULL;
        int r;

        r = root_path(root, path, &p);
        if (r < 0)
                return r;
        return read_link_at(AT_FDCWD, p, ret);
}

/* The last component of a link's target, taken over. */
static int link_basename(char *target, char **ret) {
        _cleanup_free_ char *t = target;
        const char *b;

        b = strrchr(t, '/');
        b = b ? b + 1 : t;
        if (isempty(b))
                return -EINVAL;

        memmove(t, b, strlen(b) + 1);
        *ret = TAKE_PTR(t);
        return 0;
}

int sysfs_read_link_basename(const char *root, const char *path, char **ret) {
        char *target;
        int r;

        r = read_link(root, path, &target);
        return r < 0 ? r : link_basename(target, ret);
}

int sysfs_read_link_basename_at(int dir_fd, const char *name, char **ret) {
        char *target;
        int r;

        r = read_link_at(dir_fd, name, &target);
        return r < 0 ? r : link_basename(target, ret);
}

int sysfs_list_dir(const char *root, const char *path, const char *prefix, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *p = NULL;
        struct dirent *de;
        int r;

        r = root_path(root, path, &p);
        if (r < 0)
                return r;
        d = opendir(p);
        if (!d)
                return -errno;

        errno = 0;
        while ((de = readdir(d))) {
                if (streq(de->d_name, ".") || streq(de->d_name, ".."))
                        continue;
                if (prefix && !startswith(de->d_name, prefix))
                        continue;
                r = strv_extend(&l, de->d_name);
                if (r < 0)
                        return r;
                errno = 0;
        }
        if (errno > 0)
                return -errno;

        strv_sort(l);
        /* An empty directory yields an empty list, not NULL, so callers can tell it apart. */
        if (!l && !(l = calloc(1, sizeof(char *))))
                return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

/* An optional attribute's result r: 1 when read, 0 when absent. */
static int optional(int r) {
        if (r == -ENOENT)
                return 0;
        return r < 0 ? r : 1;
}

typedef int (*reader_t)(const char *root, const char *path, char **ret);

static int read_in_dir(const char *root, const char *dir, const char *name, reader_t reader,
                       char **ret) {
        _cleanup_free_ char *p = NULL;

        if (asprintf(&p, "%s/%s", dir, name) < 0)
                return -ENOMEM;
        return optional(reader(root, p, ret));
}

int sysfs_read_attr(const char *root, const char *dir, const char *attr, char **ret) {
        return read_in_dir(root, dir, attr, sysfs_read_string, ret);
}

int sysfs_read_attr_link(const char *root, const char *dir, const char *link, char **ret) {
        return read_in_dir(root, dir, link, sysfs_read_link_basename, ret);
}

int sysfs_read_attr_at(int dir_fd, const char *attr, char **ret) {
        return optional(sysfs_read_string_at(dir_fd, attr, ret));
}

int sysfs_read_attr_link_at(int dir_fd, const char *link, char **ret) {
        return optional(sysfs_read_link_basename_at(dir_fd, link, ret));
}

static void free_elements(char *list, size_t n, size_t size, void (*done)(void *element)) {
        for (size_t i = 0; i < n; i++)
                done(list + i * size);
        free(list);
}

int sysfs_read_entries(const char *root, const char *dir, const char *prefix, size_t size,
                       sysfs_entry_reader_t read_one, void (*done)(void *element),
                       void *ret, size_t *ret_n) {
        _cleanup_strv_free_ char **names = NULL;
        char *list = NULL, *slot;
        size_t n = 0;
        int r;

        r = sysfs_list_dir(root, dir, prefix, &names);
        if (r < 0 && r != -ENOENT)
                return r;

        STRV_FOREACH(name, names) {
                slot = array_append(&list, &n, size);
                if (!slot) {
                        r = -ENOMEM;
                        goto fail;
                }
                r = read_one(root, *name, slot);
                if (r <= 0)
                        n--;    /* skipped or failed: the slot holds nothing, the next reuses it */
                if (r < 0)
                        goto fail;
        }

        /* ret is a pointer to the caller's typed array pointer. */
        memcpy(ret, &list, sizeof(list));
        *ret_n = n;
        return 0;
fail:
        free_elements(list, n, size, done);
        return r;
}
