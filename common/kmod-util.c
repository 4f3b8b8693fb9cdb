/* SPDX-License-Identifier: GPL-2.0-or-later */
#include <errno.h>

#include "dlopen-util.h"
#include "kmod-util.h"

#define KMOD_DEFINE_SYMBOL(f) __typeof__(f) *sym_##f = NULL;
KMOD_SYMBOLS(KMOD_DEFINE_SYMBOL)

int kmod_dlopen(void) {
#define KMOD_ENTRY(f) DL_SYMBOL(f),
        static const DlSymbol syms[] = { KMOD_SYMBOLS(KMOD_ENTRY) };
#undef KMOD_ENTRY
        static DlLibrary lib = DL_LIBRARY("libkmod.so.2", "libkmod2", syms);

        return dlopen_library(&lib);
}

struct kmod_ctx *kmod_context_new(void) {
        struct kmod_ctx *ctx;
        int r;

        r = kmod_dlopen();
        if (r < 0) {
                errno = -r;
                return NULL;
        }
        ctx = sym_kmod_new(NULL, NULL);
        if (!ctx)
                errno = ENOMEM;
        return ctx;
}
