/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "escape.h"

/* Length of the UTF-8 sequence at s that is printable: 0 when s[0] must be escaped. */
static size_t printable_length(const unsigned char *s) {
        uint32_t c;
        size_t n;

        if (s[0] < 0x20 || s[0] == 0x7f)
                return 0;
        if (s[0] < 0x80)
                return 1;
        if (s[0] >= 0xc2 && s[0] <= 0xdf)
                n = 2, c = s[0] & 0x1f;
        else if (s[0] >= 0xe0 && s[0] <= 0xef)
                n = 3, c = s[0] & 0x0f;
        else if (s[0] >= 0xf0 && s[0] <= 0xf4)
                n = 4, c = s[0] & 0x07;
        else
                return 0;
        for (size_t i = 1; i < n; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                c = c << 6 | (s[i] & 0x3f);
        }
        /* Overlong forms, surrogates, beyond U+10FFFF, and the C1 controls. */
        if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > 0x10ffff)) ||
            (c >= 0xd800 && c <= 0xdfff) || (c >= 0x80 && c <= 0x9f))
                return 0;
        return n;
}

int escape_text(const char *s, char **ret) {
        const unsigned char *p = (const unsigned char *) s;
        char *out, *o;

        out = malloc(strlen(s) * 4 + 1);
        if (!out)
                return -ENOMEM;
        o = out;
        while (*p) {
                size_t n = printable_length(p);

                if (n == 0) {
                        o += sprintf(o, "\\x%02x", *p);
                        p++;
                } else if (*p == '\\') {
                        *o++ = '\\';
                        *o++ = '\\';
                        p++;
                } else {
                        memcpy(o, p, n);
                        o += n;
                        p += n;
                }
        }
        *o = '\0';
        *ret = out;
        return 0;
}

bool text_has_control(const char *s) {
        const unsigned char *p = (const unsigned char *) s;

        while (*p) {
                size_t n = printable_length(p);

                if (n == 0)
                        return true;
                p += n;
        }
        return false;
}
