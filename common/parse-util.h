/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* Strict number parsers: the whole string (trailing whitespace allowed, as sysfs and /proc
 * end their values with "\n") must be a number that fits. base 0 accepts "0x" prefixes.
 * Return 0, or -EINVAL / -ERANGE; *ret is untouched on failure. */
int safe_atou(const char *s, unsigned base, unsigned *ret);
int safe_atou64(const char *s, unsigned base, uint64_t *ret);
int parse_pid(const char *s, pid_t *ret);

/* Removes trailing whitespace in place; returns s. */
char *strstrip_end(char *s);

/* "" (no VM named) or a name baton takes for a VM: at most 256 bytes, no '/', valid UTF-8
 * without control characters (C0, DEL, C1: see common/escape.h), and not starting with '-'
 * (the libvirt hook hands it to the CLI, where it would read as an option). */
bool vm_name_is_valid(const char *s);
