/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A set of CPUs as the kernel's lists write it ("0-3,8", cpuset.cpus, sysfs "online") and
 * as systemd's AllowedCPUs property carries it on D-Bus: an "ay" bitmask, bit i of byte j
 * standing for CPU 8 * j + i. The empty set is "" in a list and a 0-byte array on D-Bus;
 * for AllowedCPUs it means "no restriction". */

#define CPU_SET_MAX 4096

typedef struct CpuSet {
        uint8_t bits[CPU_SET_MAX / 8];
} CpuSet;

/* Numbers and ranges separated by commas or blanks; "" (or only blanks) is the empty set.
 * Returns 0, or -EINVAL (a reversed range, a CPU >= CPU_SET_MAX, anything else) with *ret
 * untouched. */
int cpu_set_parse(const char *s, CpuSet *ret);
/* The shortest list: "0-3,8"; "" for the empty set. */
int cpu_set_format(const CpuSet *c, char **ret);

/* The D-Bus bitmask: bytes past CPU_SET_MAX are refused (-EINVAL) unless zero. */
int cpu_set_from_bytes(const uint8_t *bytes, size_t n, CpuSet *ret);
/* How many bytes of c->bits carry a set bit: the length of the D-Bus array. */
size_t cpu_set_bytes(const CpuSet *c);

bool cpu_set_has(const CpuSet *c, unsigned cpu);
void cpu_set_add(CpuSet *c, unsigned cpu);
bool cpu_set_is_empty(const CpuSet *c);
bool cpu_set_equal(const CpuSet *a, const CpuSet *b);
