/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Small helpers every component uses: cleanup attributes and string predicates.
 * Written for baton; the shape follows systemd's, the code is our own. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((__cleanup__(f)))
#define _printf_(a, b) __attribute__((__format__(printf, a, b)))
#define _unused_ __attribute__((__unused__))
#define _warn_unused_result_ __attribute__((__warn_unused_result__))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

#define streq(a, b) (strcmp((a), (b)) == 0)
#define streq_ptr(a, b) ((a) && (b) ? streq((a), (b)) : (a) == (b))
#define strna(s) ((s) ? (s) : "n/a")
#define strempty(s) ((s) ? (s) : "")

/* Returns a pointer into s just after prefix, or NULL when s does not start with it. */
static inline const char *startswith(const char *s, const char *prefix) {
        size_t l = strlen(prefix);

        if (strncmp(s, prefix, l) != 0)
                return NULL;
        return s + l;
}

static inline bool isempty(const char *s) {
        return !s || !s[0];
}

/* Replaces *p with a copy of s (s may be *p itself): 0, or -ENOMEM with *p unchanged. */
static inline int free_and_strdup(char **p, const char *s) {
        char *copy = strdup(s);

        if (!copy)
                return -ENOMEM;
        free(*p);
        *p = copy;
        return 0;
}

/* Yields the value of *p and leaves NULL (or -EBADF for fds) behind, so that a cleanup
 * attribute on the old variable does nothing once ownership has moved on. */
#define TAKE_GENERIC(var, type, nullvalue)              \
        ({                                              \
                type *_pvar_ = &(var);                  \
                type _var_ = *_pvar_;                   \
                *_pvar_ = (nullvalue);                  \
                _var_;                                  \
        })
#define TAKE_PTR(p) TAKE_GENERIC(p, __typeof__(p), NULL)
#define TAKE_FD(fd) TAKE_GENERIC(fd, int, -EBADF)

static inline void freep(void *p) {
        free(*(void **) p);
}

/* Closing preserves errno: cleanup runs on error paths where errno is still to be read. */
static inline void closep(int *fd) {
        if (*fd >= 0) {
                int saved = errno;
                (void) close(*fd);
                errno = saved;
        }
}

/* Sets or clears O_NONBLOCK on fd, keeping its other status flags; 0 or a negative errno. */
static inline int fd_set_nonblock(int fd, bool nonblock) {
        int flags = fcntl(fd, F_GETFL);

        if (flags < 0)
                return -errno;
        flags = nonblock ? flags | O_NONBLOCK : flags & ~O_NONBLOCK;
        return fcntl(fd, F_SETFL, flags) < 0 ? -errno : 0;
}

static inline void fclosep(FILE **f) {
        if (*f)
                (void) fclose(*f);
}

static inline void closedirp(DIR **d) {
        if (*d)
                (void) closedir(*d);
}

#define _cleanup_free_ _cleanup_(freep)
#define _cleanup_close_ _cleanup_(closep)
#define _cleanup_fclose_ _cleanup_(fclosep)
#define _cleanup_closedir_ _cleanup_(closedirp)

/* Declares name##p(), for _cleanup_(name##p) on pointers to objects freed by name(). */
#define DEFINE_TRIVIAL_CLEANUP_FUNC(type, func)         \
        static inline void func##p(type *p) {           \
                if (*p)                                 \
                        func(*p);                       \
        }

static inline int negative_errno(void) {
        /* For the rare libc call that fails without setting errno. */
        return errno > 0 ? -errno : -EIO;
}

/* Moves a struct out of a variable and leaves it zeroed, for _cleanup_(x_done) locals. */
#define TAKE_STRUCT(s) TAKE_GENERIC(s, __typeof__(s), (__typeof__(s)) {})

/* Appends one zeroed element to a heap array of *n elements; returns it, or NULL on ENOMEM
 * (then the array is unchanged). */
static inline void *array_append(void *array, size_t *n, size_t size) {
        void **p = array;
        char *a;

        a = reallocarray(*p, *n + 1, size);
        if (!a)
                return NULL;
        *p = a;
        memset(a + *n * size, 0, size);
        return a + (*n)++ * size;
}

/* Defines name(array, n): calls done() on each element, then frees the array. */
#define DEFINE_ARRAY_FREE_FUNC(name, type, done)                \
        void name(type *a, size_t n) {                          \
                for (size_t _i_ = 0; _i_ < n; _i_++)            \
                        done(&a[_i_]);                          \
                free(a);                                        \
        }

static inline void *mfree(void *p) {
        free(p);
        return NULL;
}

/* One enum, one table of its names (systemd's string tables). For a table name##_table of
 * const char *const indexed by the enum's values, DEFINE_STRING_TABLE_LOOKUP_TO_STRING
 * defines name##_to_string(), NULL for a value outside the table; DEFINE_STRING_TABLE_LOOKUP
 * adds name##_from_string(), -EINVAL for a name not in it (or NULL). For that one the enum
 * needs a member _X_INVALID = -EINVAL: without a negative member the enum may be unsigned,
 * and the caller's r < 0 would never be true. */
#define DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type)                                \
        const char *name##_to_string(type i) {                                          \
                if (i < 0 || (size_t) i >= ELEMENTSOF(name##_table))                    \
                        return NULL;                                                    \
                return name##_table[i];                                                 \
        }

#define DEFINE_STRING_TABLE_LOOKUP(name, type)                                          \
        DEFINE_STRING_TABLE_LOOKUP_TO_STRING(name, type)                                \
        type name##_from_string(const char *s) {                                        \
                for (size_t _i_ = 0; s && _i_ < ELEMENTSOF(name##_table); _i_++)        \
                        if (name##_table[_i_] && streq(name##_table[_i_], s))           \
                                return (type) _i_;                                      \
                return (type) -EINVAL;                                                  \
        }
