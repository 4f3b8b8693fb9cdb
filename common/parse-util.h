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

#define USEC_PER_SEC UINT64_C(1000000)
#define SECONDS_MAX UINT64_C(86400)

/* What parse_seconds() takes, for the error messages of the config and the command line. */
#define SECONDS_EXPECTED "seconds, 0 < s <= 86400, with up to six decimals (2.5)"

/* Seconds as baton.conf and the command line write them (man baton.conf(5)): decimal digits,
 * then optionally '.' and 1 to 6 more (microseconds): "10", "2.5", "0.000001". Nothing else:
 * no sign, blank, exponent, hex float, "inf" or unit suffix, so that a value means what it
 * reads as. Returns 0 with *ret in microseconds; -EINVAL for another spelling; -ERANGE for 0,
 * more than 86400 s, or a seventh decimal (below a microsecond: "0.0000001" would be 0).
 * *ret is untouched on failure. */
int parse_seconds(const char *s, uint64_t *ret);

/* usec as parse_seconds() reads it back exactly: "10", "2.5", "0.000001". Returns buf. */
#define SECONDS_STRING_MAX sizeof("18446744073709.551615")
char *format_seconds(uint64_t usec, char buf[static SECONDS_STRING_MAX]);

/* "10s", "2.5s", "200ms": a deadline for a message, as the user gave it. */
void format_usec(uint64_t usec, char *buf, size_t size);

/* Removes trailing whitespace in place; returns s. */
char *strstrip_end(char *s);

/* "" (no VM named) or a name baton takes for a VM: at most 256 bytes, no '/', valid UTF-8
 * without control characters (C0, DEL, C1: see common/escape.h), and not starting with '-'
 * (the libvirt hook hands it to the CLI, where it would read as an option). */
bool vm_name_is_valid(const char *s);
