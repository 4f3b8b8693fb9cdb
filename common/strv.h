/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

/* NULL-terminated arrays of owned strings. A NULL strv is a valid empty one. */

char **strv_free(char **l);
DEFINE_TRIVIAL_CLEANUP_FUNC(char **, strv_free);
#define _cleanup_strv_free_ _cleanup_(strv_freep)

size_t strv_length(char * const *l);
bool strv_contains(char * const *l, const char *s);

/* Appends s and takes ownership of it, also on failure (then s is freed). */
int strv_consume(char ***l, char *s);
/* Appends a copy of s. */
int strv_extend(char ***l, const char *s);
/* Appends a formatted string. */
int strv_extendf(char ***l, const char *format, ...) _printf_(2, 3);
void strv_sort(char **l);

#define STRV_FOREACH(s, l) for (char * const *s = (l); s && *s; s++)

/* Appends copies of every string of b. */
int strv_extend_strv(char ***a, char * const *b);

/* The strings of l with separator between them; "" for an empty l. -ENOMEM on failure. */
int strv_join(char * const *l, const char *separator, char **ret);
