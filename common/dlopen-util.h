/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

/* A library baton opens at run time, only where it is needed (libvirt, libxml2, libkmod,
 * libpipewire): linked, each pulls its dependencies into every baton process, and the
 * dynamic loader's work was the largest share of a short command's time under the
 * lab's TCG (`make bench`). */
typedef struct DlSymbol {
        const char *name;
        void **ptr;             /* set to the symbol's address */
} DlSymbol;

#define DL_SYMBOL(f) { #f, (void **) &sym_##f }

/* dlopen()s soname (kept for the life of the process) and resolves every symbol:
 * 0, or -EOPNOTSUPP after logging what is missing and that package gives it. */
int dlopen_symbols(const char *soname, const char *package, const DlSymbol *syms, size_t n);
