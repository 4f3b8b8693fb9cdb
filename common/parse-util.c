/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "escape.h"
#include "parse-util.h"

int safe_atou64(const char *s, unsigned base, uint64_t *ret) {
        unsigned long long l;
        char *end;

        /* strtoull() happily negates "-1" into a huge number; refuse signs and leading blanks. */
        if (!s || !isxdigit((unsigned char) s[0]))
                return -EINVAL;

        errno = 0;
        l = strtoull(s, &end, (int) base);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || end == s)
                return -EINVAL;
        while (isspace((unsigned char) *end))
                end++;
        if (*end != '\0')
                return -EINVAL;

        *ret = (uint64_t) l;
        return 0;
}

int safe_atou(const char *s, unsigned base, unsigned *ret) {
        uint64_t v;
        int r;

        r = safe_atou64(s, base, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;

        *ret = (unsigned) v;
        return 0;
}

int parse_pid(const char *s, pid_t *ret) {
        unsigned u;
        int r;

        r = safe_atou(s, 10, &u);
        if (r < 0)
                return r;
        if (u == 0 || u > INT_MAX)
                return -ERANGE;

        *ret = (pid_t) u;
        return 0;
}

char *strstrip_end(char *s) {
        size_t l = strlen(s);

        while (l > 0 && isspace((unsigned char) s[l - 1]))
                s[--l] = '\0';
        return s;
}

bool vm_name_is_valid(const char *s) {
        return strlen(s) <= 256 && !strchr(s, '/') && s[0] != '-' && !text_has_control(s);
}
