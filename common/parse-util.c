/* SPDX-License-Identifier: GPL-2.0-or-later */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
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

int parse_seconds(const char *s, uint64_t *ret) {
        static const char digits[] = "0123456789";
        size_t n_int = strspn(s, digits), n_frac = 0;
        uint64_t usec = 0, scale = USEC_PER_SEC;

        /* The spelling first, by hand rather than strtod(): no exponent, sign, "inf" or
         * binary rounding to tell apart afterwards. */
        if (n_int == 0)
                return -EINVAL;
        if (s[n_int] == '.') {
                n_frac = strspn(s + n_int + 1, digits);
                if (n_frac == 0)
                        return -EINVAL;
        }
        if (s[n_int + (n_frac > 0) + n_frac] != '\0')
                return -EINVAL;
        if (n_frac > 6)
                return -ERANGE;

        for (size_t i = 0; i < n_int; i++) {
                usec = usec * 10 + (uint64_t) (s[i] - '0');
                if (usec > SECONDS_MAX)
                        return -ERANGE;         /* before it could overflow */
        }
        usec *= USEC_PER_SEC;
        for (size_t i = 0; i < n_frac; i++) {
                scale /= 10;
                usec += (uint64_t) (s[n_int + 1 + i] - '0') * scale;
        }
        if (usec == 0 || usec > SECONDS_MAX * USEC_PER_SEC)
                return -ERANGE;

        *ret = usec;
        return 0;
}

char *format_seconds(uint64_t usec, char buf[static SECONDS_STRING_MAX]) {
        uint64_t frac = usec % USEC_PER_SEC;
        int digits = 6;

        if (frac == 0) {
                (void) snprintf(buf, SECONDS_STRING_MAX, "%" PRIu64, usec / USEC_PER_SEC);
                return buf;
        }
        for (; frac % 10 == 0; digits--)
                frac /= 10;
        (void) snprintf(buf, SECONDS_STRING_MAX, "%" PRIu64 ".%0*" PRIu64, usec / USEC_PER_SEC, digits, frac);
        return buf;
}

void format_usec(uint64_t usec, char *buf, size_t size) {
        if (usec % 1000000 == 0)
                (void) snprintf(buf, size, "%" PRIu64 "s", usec / 1000000);
        else if (usec >= 1000000)
                (void) snprintf(buf, size, "%.1fs", usec / 1e6);
        else
                (void) snprintf(buf, size, "%" PRIu64 "ms", (usec + 999) / 1000);
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
