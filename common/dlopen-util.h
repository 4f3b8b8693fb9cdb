/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

#include <stddef.h>

#include "macro.h"

/* A library baton opens at run time, only where it is needed (libvirt, libxml2, libkmod,
 * libpipewire): linked, each pulls its dependencies into every baton process, and the
 * dynamic loader's work was the largest share of a short command's time under the
 * lab's TCG (`make bench`). */
typedef struct DlSymbol {
        const char *name;
        void **ptr;             /* set to the symbol's address */
} DlSymbol;

#define DL_SYMBOL(f) { #f, (void **) &sym_##f }

/* A library and the symbols baton takes from it. */
typedef struct DlLibrary {
        const char *soname;
        const char *package;    /* the Debian package that ships it, for the error */
        const DlSymbol *syms;
        size_t n_syms;
        int result;             /* 1 until dlopen_library() tried, then its answer */
} DlLibrary;

#define DL_LIBRARY(so, pkg, table) \
        { .soname = (so), .package = (pkg), .syms = (table), .n_syms = ELEMENTSOF(table), .result = 1 }

/* The first time: dlopen()s the library (kept for the life of the process) and resolves
 * every symbol. Every time: 0, or -EOPNOTSUPP, logged the first time only with what is
 * missing and which package gives it. */
int dlopen_library(DlLibrary *l);
