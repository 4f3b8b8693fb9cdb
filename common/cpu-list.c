/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu-list.h"
#include "macro.h"

#define SEPARATORS ", \t"

static int parse_cpu(const char **p, unsigned *ret) {
        unsigned long v = 0;
        const char *s = *p;

        /* By hand: strtoul() takes signs, blanks and "0x". */
        if (!isdigit((unsigned char) *s))
                return -EINVAL;
        for (; isdigit((unsigned char) *s); s++) {
                v = v * 10 + (unsigned long) (*s - '0');
                if (v >= CPU_SET_MAX)
                        return -EINVAL;
        }
        *p = s;
        *ret = (unsigned) v;
        return 0;
}

int cpu_set_parse(const char *s, CpuSet *ret) {
        CpuSet c = {};
        int r;

        for (const char *p = s + strspn(s, SEPARATORS); *p; p += strspn(p, SEPARATORS)) {
                unsigned lo, hi;

                r = parse_cpu(&p, &lo);
                if (r < 0)
                        return r;
                hi = lo;
                if (*p == '-') {
                        p++;
                        r = parse_cpu(&p, &hi);
                        if (r < 0)
                                return r;
                        if (hi < lo)
                                return -EINVAL;
                }
                if (*p != '\0' && !strchr(SEPARATORS, *p))
                        return -EINVAL;
                for (unsigned cpu = lo; cpu <= hi; cpu++)
                        cpu_set_add(&c, cpu);
        }
        *ret = c;
        return 0;
}

int cpu_set_format(const CpuSet *c, char **ret) {
        char *text = NULL;
        size_t size = 0;
        bool first = true;
        FILE *f;

        f = open_memstream(&text, &size);
        if (!f)
                return -ENOMEM;
        for (unsigned cpu = 0; cpu < CPU_SET_MAX; cpu++) {
                unsigned end = cpu;

                if (!cpu_set_has(c, cpu))
                        continue;
                while (end + 1 < CPU_SET_MAX && cpu_set_has(c, end + 1))
                        end++;
                fprintf(f, "%s%u", first ? "" : ",", cpu);
                if (end > cpu)
                        fprintf(f, "-%u", end);
                first = false;
                cpu = end;
        }
        if (fclose(f) != 0) {
                free(text);
                return -ENOMEM;
        }
        *ret = text;
        return 0;
}

int cpu_set_from_bytes(const uint8_t *bytes, size_t n, CpuSet *ret) {
        CpuSet c = {};

        for (size_t i = sizeof(c.bits); i < n; i++)
                if (bytes[i] != 0)
                        return -EINVAL;
        /* sd-bus hands out NULL for an empty array: memcpy() must not see it. */
        if (n > 0)
                memcpy(c.bits, bytes, n < sizeof(c.bits) ? n : sizeof(c.bits));
        *ret = c;
        return 0;
}

size_t cpu_set_bytes(const CpuSet *c) {
        size_t n = sizeof(c->bits);

        while (n > 0 && c->bits[n - 1] == 0)
                n--;
        return n;
}

bool cpu_set_has(const CpuSet *c, unsigned cpu) {
        return cpu < CPU_SET_MAX && (c->bits[cpu / 8] & (1u << (cpu % 8)));
}

void cpu_set_add(CpuSet *c, unsigned cpu) {
        if (cpu < CPU_SET_MAX)
                c->bits[cpu / 8] |= (uint8_t) (1u << (cpu % 8));
}

bool cpu_set_is_empty(const CpuSet *c) {
        return cpu_set_bytes(c) == 0;
}

bool cpu_set_equal(const CpuSet *a, const CpuSet *b) {
        return memcmp(a->bits, b->bits, sizeof(a->bits)) == 0;
}
