/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "strv.h"

char **strv_free(char **l) {
        STRV_FOREACH(s, l)
                free(*s);
        free(l);
        return NULL;
}

size_t strv_length(char * const *l) {
        size_t n = 0;

        STRV_FOREACH(s, l)
                n++;
        return n;
}

bool strv_contains(char * const *l, const char *s) {
        STRV_FOREACH(i, l)
                if (streq(*i, s))
                        return true;
        return false;
}

int strv_consume(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **c;

        if (!s)
                return -ENOMEM;

        c = reallocarray(*l, n + 2, sizeof(char *));
        if (!c) {
                free(s);
                return -ENOMEM;
        }

        c[n] = s;
        c[n + 1] = NULL;
        *l = c;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        return strv_consume(l, strdup(s));
}

int strv_extendf(char ***l, const char *format, ...) {
        va_list ap;
        char *s;
        int k;

        va_start(ap, format);
        k = vasprintf(&s, format, ap);
        va_end(ap);
        return strv_consume(l, k < 0 ? NULL : s);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char * const *) a, *(char * const *) b);
}

void strv_sort(char **l) {
        size_t n = strv_length(l);

        /* qsort() wants a valid pointer even for zero elements. */
        if (n > 1)
                qsort(l, n, sizeof(char *), cmp_str);
}

int strv_extend_strv(char ***a, char * const *b) {
        int r;

        STRV_FOREACH(s, b) {
                r = strv_extend(a, *s);
                if (r < 0)
                        return r;
        }
        return 0;
}

int strv_join(char * const *l, const char *separator, char **ret) {
        size_t n = 1, k = strlen(separator);
        char *s, *p;

        STRV_FOREACH(i, l)
                n += strlen(*i) + (i == l ? 0 : k);
        s = p = malloc(n);
        if (!s)
                return -ENOMEM;
        *p = '\0';
        STRV_FOREACH(i, l)
                p = stpcpy(i == l ? p : stpcpy(p, separator), *i);
        *ret = s;
        return 0;
}
